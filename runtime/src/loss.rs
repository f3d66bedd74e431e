//! Losses of one sample, each returning the loss and writing its gradient.
//!
//! A loss sees the model's output for one sample as a flat slice (PyTorch
//! order), the model's [`OutputActivation`] and the sample's target, and
//! writes the gradient the model's backward needs. Which backward that is,
//! the loss says with [`Wrt`]:
//!
//! - [`Wrt::Output`]: `dL/d(output)`, for [`Train::backward`];
//! - [`Wrt::Logits`]: `dL/dz`, the gradient with respect to the last
//!   layer's pre-activation, for [`Train::backward_logits`], which skips the
//!   final activation's derivative.
//!
//! The cross-entropies after a sigmoid or a softmax use the second path: the
//! gradient with respect to the logit is `p − y`, exact and bounded, whereas
//! `dL/dp = (p − y) / (p (1 − p))` followed by the sigmoid's derivative
//! divides by zero once `p` rounds to 0 or 1.
//!
//! | loss | target | per sample | gradient |
//! |---|---|---|---|
//! | [`BinaryCrossEntropy`] | tensor of 0/1 (or soft) labels | mean over outputs of `max(z,0) − z y + ln(1 + e^−|z|)` | `(p − y) / n` w.r.t. the logit |
//! | [`ClippedBinaryCrossEntropy`] | same | Keras' `binary_crossentropy` on probabilities clipped to `[ε, 1 − ε]` | w.r.t. the output |
//! | [`CategoricalCrossEntropy`] | one-hot (or soft) tensor | `−Σ y_k ln softmax(z)_k` (mean over steps) | `p Σy − y` (over steps) w.r.t. the logits |
//! | [`SparseCategoricalCrossEntropy`] | class index `usize` (or `[usize; steps]`) | `−ln softmax(z)_label` (mean over steps) | `p − onehot` (over steps) w.r.t. the logits |
//! | [`MeanSquaredError`] | tensor | mean over outputs of `(o − y)²` | `2 (o − y) / n` w.r.t. the output |
//!
//! Which loss fits which model is one rule, [`Loss::check`], that `fit`,
//! `evaluate`, [`Trainer`](crate::Trainer) and
//! [`train_step`](crate::train_step) all apply before the first sample:
//!
//! | loss | the model's last activation |
//! |---|---|
//! | [`BinaryCrossEntropy`] | `sigmoid`, or `linear` (the output is the logit) |
//! | [`CategoricalCrossEntropy`], [`SparseCategoricalCrossEntropy`] | `softmax`, or `linear` (logits) |
//! | [`ClippedBinaryCrossEntropy`], [`MeanSquaredError`] | any |
//!
//! On a sequence output `[steps, classes]` the categorical losses take a
//! softmax per step (as the model's softmax does) and average the per-step
//! losses over the steps; with the batch's mean on top that is Keras'
//! `sum_over_batch_size` and PyTorch's `CrossEntropyLoss` (mean) on the
//! flattened steps. The target is then a one-hot sequence of the output's
//! type, or one class index per step (`[usize; steps]`); on an image output
//! the classes are the channels of each pixel. [`Classes`] describes the
//! layout.
//!
//! A batch's loss is the mean of its samples' losses (see
//! [`crate::train`]).
//!
//! [`Train::backward`]: crate::Train::backward
//! [`Train::backward_logits`]: crate::Train::backward_logits

use crate::error::TrainError;
use crate::{Classes, Float, OutputActivation, Tensor};

/// Which gradient a [`Loss`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrt {
    /// `dL/d(output)`: pass it to [`Train::backward`](crate::Train::backward).
    Output,
    /// `dL/dz` for the last layer's pre-activation: pass it to
    /// [`Train::backward_logits`](crate::Train::backward_logits).
    Logits,
}

/// A loss on one sample whose target has type `Y` (a tensor of the output's
/// shape, or a class index `usize`).
///
/// ```
/// use staticnet_runtime::loss::{BinaryCrossEntropy, Loss, Wrt};
/// use staticnet_runtime::{OutputActivation, Vector};
///
/// // A sigmoid output of 0.8 for a positive sample.
/// let y = Vector::<f64, 1>::new(1.0);
/// let mut grad = [0.0];
/// let (loss, wrt) = BinaryCrossEntropy
///     .loss(&[0.8], OutputActivation::Sigmoid, &y, Some(&mut grad))
///     .unwrap();
/// assert!((loss - -(0.8f64.ln())).abs() < 1e-15);
/// assert_eq!(wrt, Wrt::Logits); // for backward_logits
/// assert!((grad[0] - (0.8 - 1.0)).abs() < 1e-15);
/// ```
pub trait Loss<T: Float, Y: ?Sized> {
    /// The name errors give the loss (`binary cross-entropy`).
    const NAME: &'static str = "this loss";

    /// The final activation this loss is computed past, from the logits
    /// (`Sigmoid` for binary cross-entropy, `Softmax` for the categorical
    /// ones; `None` for losses on the output as it is). Training then
    /// passes the loss [`Train::logits`](crate::Train::logits) with
    /// `OutputActivation::Linear`, so the value stays exact where a
    /// probability rounds to 0 or 1, and uses the gradient for
    /// [`Train::backward_logits`](crate::Train::backward_logits).
    const LOGITS_OF: Option<OutputActivation> = None;

    /// The one rule for which losses fit which model, applied by `fit`,
    /// `evaluate`, [`Trainer`](crate::Trainer) and
    /// [`train_step`](crate::train_step) before any sample is run: `act` is
    /// the model's last activation, `out` the class layout of its output.
    ///
    /// The provided rule: a loss with [`Loss::LOGITS_OF`] `= Some(a)` fits
    /// a model ending in `a` or in `linear` (the output is then the logits,
    /// Keras' `from_logits = True`) and nothing else; other losses fit any
    /// model. The categorical losses also check the target's layout
    /// against `out` (one label or one-hot per step of a sequence output).
    fn check(&self, act: OutputActivation, out: Classes) -> Result<(), TrainError> {
        let _ = out;
        check_activation(Self::NAME, Self::LOGITS_OF, act)
    }

    /// The loss of one sample whose model output is `out` (flat, PyTorch
    /// order) and whose model ends with activation `act`. If `grad` is
    /// given (it must have `out.len()` values) the gradient is written into
    /// it; the returned [`Wrt`] says which backward it is for.
    ///
    /// Errors: a target of the wrong length, a label out of range, or a
    /// loss that cannot follow `act` (e.g. [`BinaryCrossEntropy`] after a
    /// `relu` or a `softmax`).
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        y: &Y,
        grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError>;
}

/// [`Loss::check`]'s activation rule.
fn check_activation(
    loss: &'static str,
    logits_of: Option<OutputActivation>,
    act: OutputActivation,
) -> Result<(), TrainError> {
    match logits_of {
        Some(needs) if act != needs && act != OutputActivation::Linear => {
            Err(TrainError::Activation { loss, act, needs })
        }
        _ => Ok(()),
    }
}

fn target<'a, T: Float, Y: Tensor<T>>(y: &'a Y, out: &[T]) -> Result<&'a [T], TrainError> {
    let y = y.as_flat();
    if y.len() != out.len() {
        return Err(TrainError::TargetLength {
            expected: out.len(),
            found: y.len(),
        });
    }
    Ok(y)
}

/// The checks every element-wise loss starts with (target and gradient of
/// the output's length) and `1 / n`, the mean's scale.
fn prepare<'a, T: Float, Y: Tensor<T>>(
    y: &'a Y,
    out: &[T],
    grad: &Option<&mut [T]>,
) -> Result<(&'a [T], T), TrainError> {
    let y = target(y, out)?;
    check_grad(grad, out.len())?;
    Ok((y, T::one() / T::of_f64(out.len().max(1) as f64)))
}

fn check_grad<T>(grad: &Option<&mut [T]>, n: usize) -> Result<(), TrainError> {
    match grad {
        Some(g) if g.len() != n => Err(TrainError::TargetLength {
            expected: n,
            found: g.len(),
        }),
        _ => Ok(()),
    }
}

/// The smallest positive normal value of `T` (f32's or f64's).
fn tiny<T: Float>() -> T {
    if core::mem::size_of::<T>() >= 8 {
        T::of_f64(f64::MIN_POSITIVE)
    } else {
        T::of_f64(f32::MIN_POSITIVE as f64)
    }
}

/// `max(v, lo)` that keeps NaN (`f64::max` would replace it by `lo`, and
/// a NaN loss must stay NaN so that training stops).
#[inline]
fn at_least<T: Float>(v: T, lo: T) -> T {
    if v < lo {
        lo
    } else {
        v
    }
}

/// `σ(z)` without overflow for either sign of `z`.
#[inline]
pub fn sigmoid<T: Float>(z: T) -> T {
    if z >= T::zero() {
        T::one() / (T::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (T::one() + e)
    }
}

/// Binary cross-entropy from a logit, `max(z, 0) − z y + ln(1 + e^−|z|)`:
/// finite for every finite `z` (as `torch.nn.BCEWithLogitsLoss` and
/// `tf.nn.sigmoid_cross_entropy_with_logits`).
///
/// ```
/// use staticnet_runtime::loss::bce_logit;
/// assert!((bce_logit(0.0f64, 1.0) - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(bce_logit(1000.0f64, 0.0), 1000.0); // no overflow
/// ```
#[inline]
pub fn bce_logit<T: Float>(z: T, y: T) -> T {
    z.max(T::zero()) - z * y + (-z.abs()).exp().ln_1p()
}

/// Binary cross-entropy from a probability `p` that a sigmoid produced:
/// `−y ln p − (1 − y) ln(1 − p)`. The value is as exact as `p` is; where
/// `p` has rounded to exactly 0 or 1 it is taken at the nearest
/// representable probability (so it stays finite: at most `−ln(ε/2)`,
/// 36.7 in f64 and 16.6 in f32, for a saturated wrong answer).
#[inline]
pub fn bce_sigmoid_output<T: Float>(p: T, y: T) -> T {
    let half_eps = T::default_epsilon() / (T::one() + T::one());
    let lo = tiny::<T>();
    let q = at_least(T::one() - p, half_eps);
    let p = at_least(p, lo);
    let mut l = T::zero();
    if y != T::zero() {
        l -= y * p.ln();
    }
    if y != T::one() {
        l -= (T::one() - y) * q.ln();
    }
    l
}

/// Binary cross-entropy computed stably from the logit: the loss for a
/// sigmoid output (use it with `Dense(n, activation = sigmoid)` or a final
/// `Sigmoid` layer) or for a linear output that is itself the logit (Keras'
/// `from_logits = True`). The per-sample loss is the mean over the output's
/// values, as Keras and PyTorch compute it.
///
/// After a sigmoid the gradient is `(p − y)/n` with respect to the logit
/// ([`Wrt::Logits`]); after a linear output it is the same value with
/// respect to the output. Any other final activation is an error: use
/// [`ClippedBinaryCrossEntropy`] there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BinaryCrossEntropy;

impl<T: Float, Y: Tensor<T>> Loss<T, Y> for BinaryCrossEntropy {
    const NAME: &'static str = "binary cross-entropy";
    const LOGITS_OF: Option<OutputActivation> = Some(OutputActivation::Sigmoid);
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        y: &Y,
        mut grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let (y, inv_n) = prepare(y, out, &grad)?;
        let mut sum = T::zero();
        let wrt = match act {
            OutputActivation::Sigmoid => {
                for (k, (&p, &t)) in out.iter().zip(y).enumerate() {
                    sum += bce_sigmoid_output(p, t);
                    if let Some(g) = grad.as_deref_mut() {
                        g[k] = (p - t) * inv_n;
                    }
                }
                Wrt::Logits
            }
            OutputActivation::Linear => {
                for (k, (&z, &t)) in out.iter().zip(y).enumerate() {
                    sum += bce_logit(z, t);
                    if let Some(g) = grad.as_deref_mut() {
                        g[k] = (sigmoid(z) - t) * inv_n;
                    }
                }
                Wrt::Output
            }
            act => {
                return Err(TrainError::Activation {
                    loss: <Self as Loss<T, Y>>::NAME,
                    act,
                    needs: OutputActivation::Sigmoid,
                })
            }
        };
        Ok((sum * inv_n, wrt))
    }
}

/// Keras' `binary_crossentropy` on probabilities (`from_logits = False`):
/// `p` is clipped to `[ε, 1 − ε]` and the loss is
/// `−(y ln p + (1 − y) ln(1 − p))`, averaged over the output's values.
/// The gradient is with respect to the output and is zero where the clip
/// is active (as TensorFlow's `clip_by_value`). It works after any final
/// activation whose output lies in `[0, 1]`.
///
/// ```
/// use staticnet_runtime::loss::{ClippedBinaryCrossEntropy, Loss};
/// use staticnet_runtime::{OutputActivation, Vector};
/// let y = Vector::<f64, 1>::new(0.0);
/// let (l, _) = ClippedBinaryCrossEntropy::default()
///     .loss(&[1.0], OutputActivation::Sigmoid, &y, None)
///     .unwrap();
/// assert!((l - -(1e-7f64).ln()).abs() < 1e-9); // clipped at 1 - 1e-7
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClippedBinaryCrossEntropy {
    /// The clip `ε` (Keras' `backend.epsilon()`, 1e-7).
    pub epsilon: f64,
}

impl Default for ClippedBinaryCrossEntropy {
    fn default() -> Self {
        ClippedBinaryCrossEntropy { epsilon: 1e-7 }
    }
}

impl<T: Float, Y: Tensor<T>> Loss<T, Y> for ClippedBinaryCrossEntropy {
    const NAME: &'static str = "clipped binary cross-entropy";
    fn loss(
        &self,
        out: &[T],
        _act: OutputActivation,
        y: &Y,
        mut grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let (y, inv_n) = prepare(y, out, &grad)?;
        let eps = T::of_f64(self.epsilon);
        let (lo, hi) = (eps, T::one() - eps);
        let mut sum = T::zero();
        for (k, (&p, &t)) in out.iter().zip(y).enumerate() {
            let pc = if p > hi { hi } else { at_least(p, lo) };
            sum -= t * pc.ln() + (T::one() - t) * (T::one() - pc).ln();
            if let Some(g) = grad.as_deref_mut() {
                g[k] = if p < lo || p > hi {
                    T::zero()
                } else {
                    (-t / pc + (T::one() - t) / (T::one() - pc)) * inv_n
                };
            }
        }
        Ok((sum * inv_n, Wrt::Output))
    }
}

/// Categorical cross-entropy of each class distribution `g` of `out`
/// (laid out as `layout` says: one per step of a sequence), `−Σ_k y_k ln
/// p_k`, averaged over the distributions, given the model's output `out`
/// (logits after `Linear`, probabilities after `Softmax`) and the target
/// value `y(i)` at flat index `i`; writes `(p Σy − y) / G` (the gradient
/// w.r.t. the logits) for `G` distributions. With one distribution this is
/// the plain `−Σ y_k ln p_k`; with several it is Keras'
/// `sum_over_batch_size` and PyTorch's `CrossEntropyLoss` (mean) over the
/// steps of one sample.
fn cce<T: Float>(
    name: &'static str,
    out: &[T],
    act: OutputActivation,
    layout: Classes,
    y: impl Fn(usize) -> T,
    mut grad: Option<&mut [T]>,
) -> Result<(T, Wrt), TrainError> {
    let groups = layout.groups();
    if groups * layout.classes != out.len() {
        return Err(TrainError::TargetLength {
            expected: out.len(),
            found: groups * layout.classes,
        });
    }
    let inv_g = T::one() / T::of_f64(groups.max(1) as f64);
    let mut l = T::zero();
    let wrt = match act {
        OutputActivation::Softmax => Wrt::Logits,
        OutputActivation::Linear => Wrt::Output,
        act => {
            return Err(TrainError::Activation {
                loss: name,
                act,
                needs: OutputActivation::Softmax,
            })
        }
    };
    if layout.classes == 0 {
        return Ok((T::zero(), wrt));
    }
    for g in 0..groups {
        let at = |k: usize| layout.index(g, k);
        let ysum = (0..layout.classes).fold(T::zero(), |s, k| s + y(at(k)));
        if wrt == Wrt::Logits {
            let lo = tiny::<T>();
            for k in 0..layout.classes {
                let t = y(at(k));
                if t != T::zero() {
                    l -= t * at_least(out[at(k)], lo).ln();
                }
            }
            if let Some(gr) = grad.as_deref_mut() {
                for k in 0..layout.classes {
                    gr[at(k)] = (out[at(k)] * ysum - y(at(k))) * inv_g;
                }
            }
        } else {
            // `ln Σ e^z` without overflow.
            let max = (1..layout.classes).fold(out[at(0)], |m, k| {
                let v = out[at(k)];
                if v > m {
                    v
                } else {
                    m
                }
            });
            let mut s = T::zero();
            for k in 0..layout.classes {
                s += (out[at(k)] - max).exp();
            }
            let lse = max + s.ln();
            for k in 0..layout.classes {
                let t = y(at(k));
                if t != T::zero() {
                    l += t * (lse - out[at(k)]);
                }
            }
            if let Some(gr) = grad.as_deref_mut() {
                for k in 0..layout.classes {
                    gr[at(k)] = ((out[at(k)] - lse).exp() * ysum - y(at(k))) * inv_g;
                }
            }
        }
    }
    Ok((l * inv_g, wrt))
}

/// Categorical cross-entropy with softmax, computed from the logits: the
/// loss for a softmax output (the whole output is one distribution) or for
/// a linear output holding the logits. The target is a one-hot (or any
/// probability) tensor of the output's shape.
///
/// The gradient is `p − y` with respect to the logits ([`Wrt::Logits`]
/// after a softmax). After a softmax the value is `−Σ y_k ln p_k` from the
/// probabilities, exact as long as no `p_k` with `y_k > 0` has underflowed
/// to zero (it is then taken at the smallest positive float); after a
/// linear output it is `logsumexp(z) − Σ y_k z_k`, exact everywhere.
///
/// ```
/// use staticnet_runtime::loss::{CategoricalCrossEntropy, Loss};
/// use staticnet_runtime::{OutputActivation, Vector};
/// let y = Vector::<f64, 3>::new(0.0, 1.0, 0.0);
/// let mut g = [0.0; 3];
/// let (l, _) = CategoricalCrossEntropy
///     .loss(&[0.2, 0.5, 0.3], OutputActivation::Softmax, &y, Some(&mut g))
///     .unwrap();
/// assert!((l - 2f64.ln()).abs() < 1e-15);
/// assert_eq!(g, [0.2, 0.5 - 1.0, 0.3]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CategoricalCrossEntropy;

impl<T: Float, Y: Tensor<T>> Loss<T, Y> for CategoricalCrossEntropy {
    const NAME: &'static str = "categorical cross-entropy";
    const LOGITS_OF: Option<OutputActivation> = Some(OutputActivation::Softmax);
    fn check(&self, act: OutputActivation, out: Classes) -> Result<(), TrainError> {
        check_activation(
            <Self as Loss<T, Y>>::NAME,
            Some(OutputActivation::Softmax),
            act,
        )?;
        if Y::CLASSES != out {
            return Err(TrainError::Config(
                "categorical cross-entropy needs a target of the model output's own type \
                 (one one-hot row per step of a sequence output)",
            ));
        }
        Ok(())
    }
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        y: &Y,
        grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let y = target(y, out)?;
        check_grad(&grad, out.len())?;
        let name = <Self as Loss<T, Y>>::NAME;
        cce(name, out, act, Y::CLASSES, |i| y[i], grad)
    }
}

/// [`CategoricalCrossEntropy`] with the target given as a class index
/// (Keras' `sparse_categorical_crossentropy`).
///
/// ```
/// use staticnet_runtime::loss::{Loss, SparseCategoricalCrossEntropy};
/// use staticnet_runtime::OutputActivation;
/// let (l, _) = SparseCategoricalCrossEntropy
///     .loss(&[0.0f64, 0.0], OutputActivation::Linear, &1usize, None)
///     .unwrap();
/// assert!((l - 2f64.ln()).abs() < 1e-15);
/// assert!(SparseCategoricalCrossEntropy
///     .loss(&[0.0f64, 0.0], OutputActivation::Linear, &2usize, None)
///     .is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SparseCategoricalCrossEntropy;

impl<T: Float> Loss<T, usize> for SparseCategoricalCrossEntropy {
    const NAME: &'static str = SPARSE;
    const LOGITS_OF: Option<OutputActivation> = Some(OutputActivation::Softmax);
    fn check(&self, act: OutputActivation, out: Classes) -> Result<(), TrainError> {
        check_activation(SPARSE, Some(OutputActivation::Softmax), act)?;
        // One label for one distribution: a sequence output needs a label
        // per step.
        if out.groups() != 1 {
            return Err(TrainError::LabelCount {
                expected: out.groups(),
                found: 1,
            });
        }
        Ok(())
    }
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        label: &usize,
        grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        sparse(out, act, core::slice::from_ref(label), grad)
    }
}

/// One class index per step of a sequence output `[steps, classes]`: the
/// loss is the mean over the steps of `−ln softmax(z_t)_label_t` (Keras'
/// `sum_over_batch_size` on `[batch, steps]` labels, PyTorch's
/// `CrossEntropyLoss` on the flattened steps).
///
/// ```
/// use staticnet_runtime::loss::{Loss, SparseCategoricalCrossEntropy};
/// use staticnet_runtime::OutputActivation;
/// // Two steps of three classes, uniform logits: ln 3 per step, and the mean.
/// let (l, _) = SparseCategoricalCrossEntropy
///     .loss(&[0.0f64; 6], OutputActivation::Linear, &[0usize, 2], None)
///     .unwrap();
/// assert!((l - 3f64.ln()).abs() < 1e-15);
/// ```
impl<T: Float, const S: usize> Loss<T, [usize; S]> for SparseCategoricalCrossEntropy {
    const NAME: &'static str = SPARSE;
    const LOGITS_OF: Option<OutputActivation> = Some(OutputActivation::Softmax);
    fn check(&self, act: OutputActivation, out: Classes) -> Result<(), TrainError> {
        check_activation(SPARSE, Some(OutputActivation::Softmax), act)?;
        if out.groups() != S {
            return Err(TrainError::LabelCount {
                expected: out.groups(),
                found: S,
            });
        }
        if out.inner != 1 {
            return Err(TrainError::Config(
                "per-pixel class labels are not supported: give a one-hot target of the \
                 output's type to CategoricalCrossEntropy",
            ));
        }
        Ok(())
    }
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        labels: &[usize; S],
        grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        sparse(out, act, labels, grad)
    }
}

const SPARSE: &str = "sparse categorical cross-entropy";

/// Sparse categorical cross-entropy over `labels.len()` contiguous
/// distributions of `out`.
fn sparse<T: Float>(
    out: &[T],
    act: OutputActivation,
    labels: &[usize],
    grad: Option<&mut [T]>,
) -> Result<(T, Wrt), TrainError> {
    let steps = labels.len().max(1);
    let classes = out.len() / steps;
    if classes * steps != out.len() {
        return Err(TrainError::LabelCount {
            expected: steps,
            found: labels.len(),
        });
    }
    for &label in labels {
        if label >= classes {
            return Err(TrainError::LabelOutOfRange { label, classes });
        }
    }
    check_grad(&grad, out.len())?;
    let layout = Classes {
        outer: labels.len(),
        classes,
        inner: 1,
    };
    let y = |i: usize| {
        if labels[i / classes] == i % classes {
            T::one()
        } else {
            T::zero()
        }
    };
    cce(SPARSE, out, act, layout, y, grad)
}

/// Mean squared error, the mean over the output's values of `(o − y)²` (as
/// `torch.nn.MSELoss` and Keras' `mean_squared_error`); the gradient
/// `2 (o − y) / n` is with respect to the output, whatever its activation.
///
/// ```
/// use staticnet_runtime::loss::{Loss, MeanSquaredError};
/// use staticnet_runtime::{OutputActivation, Vector};
/// let y = Vector::<f64, 2>::new(1.0, 2.0);
/// let mut g = [0.0; 2];
/// let (l, _) = MeanSquaredError
///     .loss(&[2.0, 0.0], OutputActivation::Linear, &y, Some(&mut g))
///     .unwrap();
/// assert_eq!(l, (1.0 + 4.0) / 2.0);
/// assert_eq!(g, [1.0, -2.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeanSquaredError;

impl<T: Float, Y: Tensor<T>> Loss<T, Y> for MeanSquaredError {
    const NAME: &'static str = "mean squared error";
    fn loss(
        &self,
        out: &[T],
        _act: OutputActivation,
        y: &Y,
        mut grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let (y, inv_n) = prepare(y, out, &grad)?;
        let two = T::one() + T::one();
        let mut sum = T::zero();
        for (k, (&o, &t)) in out.iter().zip(y).enumerate() {
            let d = o - t;
            sum += d * d;
            if let Some(g) = grad.as_deref_mut() {
                g[k] = two * d * inv_n;
            }
        }
        Ok((sum * inv_n, Wrt::Output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Vector;
    use OutputActivation::{Linear, Relu, Sigmoid, Softmax};

    fn softmax(z: &[f64]) -> Vec<f64> {
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    fn sig(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    /// Checks the gradient `loss` writes for logits `z` against central
    /// differences of `value(z)`; `value` applies the model's activation
    /// itself when `act` is not linear.
    fn fd_check<Y>(
        loss: &impl Loss<f64, Y>,
        act: OutputActivation,
        z: &[f64],
        y: &Y,
        value: impl Fn(&[f64]) -> f64,
        out: impl Fn(&[f64]) -> Vec<f64>,
    ) {
        let o = out(z);
        let mut g = vec![0.0; z.len()];
        let (l, wrt) = loss.loss(&o, act, y, Some(&mut g)).unwrap();
        assert!((l - value(z)).abs() < 1e-12, "value {l} vs {}", value(z));
        let h = 1e-6;
        for k in 0..z.len() {
            // Perturb the logit if the gradient is w.r.t. it, the output
            // otherwise.
            let f = |d: f64| match wrt {
                Wrt::Logits => {
                    let mut zz = z.to_vec();
                    zz[k] += d;
                    value(&zz)
                }
                Wrt::Output => {
                    let mut oo = o.clone();
                    oo[k] += d;
                    loss.loss(&oo, act, y, None).unwrap().0
                }
            };
            let fd = (f(h) - f(-h)) / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 1e-7 * fd.abs().max(1.0),
                "index {k}: analytic {} vs fd {fd}",
                g[k]
            );
        }
    }

    #[test]
    fn hand_computed_values() {
        let y1 = Vector::<f64, 1>::new(1.0);
        let y0 = Vector::<f64, 1>::new(0.0);
        // z = 2: ln(1 + e^-2) for y = 1, 2 + ln(1 + e^-2) for y = 0.
        let l =
            |z: f64, y: &Vector<f64, 1>| BinaryCrossEntropy.loss(&[z], Linear, y, None).unwrap().0;
        assert!((l(2.0, &y1) - 0.126_928_011_042_972_5).abs() < 1e-15);
        assert!((l(2.0, &y0) - 2.126_928_011_042_972_5).abs() < 1e-15);
        assert!((l(-3.0, &y1) - 3.048_587_351_573_742).abs() < 1e-15);
        // Far past saturation the logit form stays exact.
        assert_eq!(l(800.0, &y0), 800.0);
        assert_eq!(l(-800.0, &y1), 800.0);
        assert_eq!(l(800.0, &y1), 0.0);
        // From a sigmoid output: the same values.
        let ls =
            |p: f64, y: &Vector<f64, 1>| BinaryCrossEntropy.loss(&[p], Sigmoid, y, None).unwrap().0;
        assert!((ls(sig(2.0), &y0) - 2.126_928_011_042_972_5).abs() < 1e-14);
        assert!((ls(sig(-3.0), &y1) - 3.048_587_351_573_742).abs() < 1e-14);
        // A saturated sigmoid gives a finite loss (the nearest probability).
        assert!((ls(1.0, &y0) - 53.0 * 2f64.ln()).abs() < 1e-12);
        assert!(ls(0.0, &y1).is_finite());
        assert!(ls(f64::NAN, &y1).is_nan());
        // Categorical: −ln(0.25) for uniform logits over 4 classes.
        let (l, _) = SparseCategoricalCrossEntropy
            .loss(&[1.0f64, 1.0, 1.0, 1.0], Linear, &2, None)
            .unwrap();
        assert!((l - 4f64.ln()).abs() < 1e-15);
        // logsumexp([0, 1000]) − 0 = 1000 without overflow.
        let (l, _) = SparseCategoricalCrossEntropy
            .loss(&[0.0f64, 1000.0], Linear, &0, None)
            .unwrap();
        assert_eq!(l, 1000.0);
        // MSE: mean of squares.
        let y = Vector::<f64, 3>::new(1.0, 2.0, 3.0);
        let (l, _) = MeanSquaredError
            .loss(&[1.0, 0.0, 6.0], Linear, &y, None)
            .unwrap();
        assert_eq!(l, (0.0 + 4.0 + 9.0) / 3.0);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let z = [0.7, -1.3, 2.2];
        let y = Vector::<f64, 3>::new(1.0, 0.0, 0.4);
        let bce = |z: &[f64]| -> f64 {
            z.iter()
                .zip(y.iter())
                .map(|(&z, &t)| bce_logit(z, t))
                .sum::<f64>()
                / 3.0
        };
        let sigm = |z: &[f64]| z.iter().map(|&v| sig(v)).collect::<Vec<_>>();
        fd_check(&BinaryCrossEntropy, Linear, &z, &y, bce, |z| z.to_vec());
        fd_check(&BinaryCrossEntropy, Sigmoid, &z, &y, bce, sigm);
        let clipped = |z: &[f64]| -> f64 {
            z.iter()
                .zip(y.iter())
                .map(|(&z, &t)| {
                    let p = sig(z);
                    -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
                })
                .sum::<f64>()
                / 3.0
        };
        fd_check(
            &ClippedBinaryCrossEntropy::default(),
            Sigmoid,
            &z,
            &y,
            clipped,
            sigm,
        );
        let mse = |o: &[f64]| -> f64 {
            o.iter()
                .zip(y.iter())
                .map(|(o, t)| (o - t) * (o - t))
                .sum::<f64>()
                / 3.0
        };
        fd_check(&MeanSquaredError, Linear, &z, &y, mse, |z| z.to_vec());

        let onehot = Vector::<f64, 3>::new(0.0, 0.0, 1.0);
        let soft = Vector::<f64, 3>::new(0.2, 0.5, 0.3);
        for target in [onehot, soft] {
            let cce = |z: &[f64]| -> f64 {
                softmax(z)
                    .iter()
                    .zip(target.iter())
                    .map(|(p, t)| -t * p.ln())
                    .sum()
            };
            fd_check(&CategoricalCrossEntropy, Linear, &z, &target, cce, |z| {
                z.to_vec()
            });
            fd_check(&CategoricalCrossEntropy, Softmax, &z, &target, cce, softmax);
        }
        let sparse = |z: &[f64]| -softmax(z)[1].ln();
        fd_check(
            &SparseCategoricalCrossEntropy,
            Linear,
            &z,
            &1,
            sparse,
            |z| z.to_vec(),
        );
        fd_check(
            &SparseCategoricalCrossEntropy,
            Softmax,
            &z,
            &1,
            sparse,
            softmax,
        );
    }

    #[test]
    fn clipped_bce_is_keras_formula() {
        // keras.losses.binary_crossentropy(y, p) with from_logits=False:
        // p = clip(p, ε, 1 − ε); mean(−(y ln p + (1 − y) ln(1 − p))).
        let eps = 1e-7;
        let keras = |p: &[f64], y: &[f64]| -> f64 {
            p.iter()
                .zip(y)
                .map(|(&p, &y)| {
                    let p = p.clamp(eps, 1.0 - eps);
                    -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
                })
                .sum::<f64>()
                / p.len() as f64
        };
        let p = [0.0, 1.0, 0.3, 0.999_999_99, 1e-9, 0.5];
        let y = Vector::<f64, 6>::from([1.0, 0.0, 1.0, 0.0, 0.0, 0.25]);
        let mut g = [0.0; 6];
        let (l, wrt) = ClippedBinaryCrossEntropy::default()
            .loss(&p, Sigmoid, &y, Some(&mut g))
            .unwrap();
        assert_eq!(wrt, Wrt::Output);
        assert!((l - keras(&p, y.as_slice())).abs() < 1e-13, "{l}");
        // Where the clip is active the gradient is zero.
        assert_eq!(g[0], 0.0);
        assert_eq!(g[1], 0.0);
        assert_eq!(g[3], 0.0);
        assert_eq!(g[4], 0.0);
        assert!((g[2] - (-1.0 / 0.3) / 6.0).abs() < 1e-13);
        // f32 too.
        let y32 = Vector::<f32, 1>::new(0.0);
        let (l, _) = ClippedBinaryCrossEntropy::default()
            .loss(&[1.0f32], Sigmoid, &y32, None)
            .unwrap();
        assert!(l.is_finite() && l > 15.0, "{l}");
    }

    #[test]
    fn errors() {
        let y = Vector::<f64, 2>::zeros();
        let e = MeanSquaredError.loss(&[1.0], Linear, &y, None).unwrap_err();
        assert_eq!(
            e,
            TrainError::TargetLength {
                expected: 1,
                found: 2
            }
        );
        let e = BinaryCrossEntropy
            .loss(&[1.0, 0.0], Relu, &y, None)
            .unwrap_err();
        assert!(matches!(e, TrainError::Activation { .. }));
        let e = CategoricalCrossEntropy
            .loss(&[1.0, 0.0], Sigmoid, &y, None)
            .unwrap_err();
        assert!(matches!(e, TrainError::Activation { .. }));
        let mut short = [0.0; 1];
        let e = MeanSquaredError
            .loss(&[1.0, 0.0], Linear, &y, Some(&mut short))
            .unwrap_err();
        assert!(matches!(e, TrainError::TargetLength { .. }));
        let e = SparseCategoricalCrossEntropy
            .loss(&[1.0f64, 0.0], Softmax, &5, None)
            .unwrap_err();
        assert_eq!(
            e,
            TrainError::LabelOutOfRange {
                label: 5,
                classes: 2
            }
        );
    }
}
