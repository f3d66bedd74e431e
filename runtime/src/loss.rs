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
//! | [`CategoricalCrossEntropy`] | one-hot (or soft) tensor | `−Σ y_k ln softmax(z)_k` | `p Σy − y` w.r.t. the logits |
//! | [`SparseCategoricalCrossEntropy`] | class index `usize` | `−ln softmax(z)_label` | `p − onehot` w.r.t. the logits |
//! | [`MeanSquaredError`] | tensor | mean over outputs of `(o − y)²` | `2 (o − y) / n` w.r.t. the output |
//!
//! A batch's loss is the mean of its samples' losses (see
//! [`crate::train`]).
//!
//! [`Train::backward`]: crate::Train::backward
//! [`Train::backward_logits`]: crate::Train::backward_logits

use crate::train::TrainError;
use crate::{Float, OutputActivation, Tensor};

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
    /// The loss of one sample whose model output is `out` (flat, PyTorch
    /// order) and whose model ends with activation `act`. If `grad` is
    /// given (it must have `out.len()` values) the gradient is written into
    /// it; the returned [`Wrt`] says which backward it is for.
    ///
    /// Errors: a target of the wrong length, a label out of range, or a
    /// loss that cannot follow `act` (e.g. [`BinaryCrossEntropy`] after a
    /// `relu`).
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        y: &Y,
        grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError>;
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
    let q = (T::one() - p).max(half_eps);
    let p = p.max(lo);
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
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        y: &Y,
        mut grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let y = target(y, out)?;
        check_grad(&grad, out.len())?;
        let inv_n = T::one() / T::of_f64(out.len().max(1) as f64);
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
                    loss: "binary cross-entropy",
                    act,
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
    fn loss(
        &self,
        out: &[T],
        _act: OutputActivation,
        y: &Y,
        mut grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let y = target(y, out)?;
        check_grad(&grad, out.len())?;
        let inv_n = T::one() / T::of_f64(out.len().max(1) as f64);
        let eps = T::of_f64(self.epsilon);
        let (lo, hi) = (eps, T::one() - eps);
        let mut sum = T::zero();
        for (k, (&p, &t)) in out.iter().zip(y).enumerate() {
            let pc = p.max(lo).min(hi);
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

/// `ln Σ e^z` without overflow.
fn log_sum_exp<T: Float>(z: &[T]) -> T {
    let Some(&first) = z.first() else {
        return T::zero();
    };
    let max = z.iter().fold(first, |m, &v| if v > m { v } else { m });
    let mut s = T::zero();
    for &v in z {
        s += (v - max).exp();
    }
    max + s.ln()
}

/// Categorical cross-entropy `−Σ y_k ln p_k` given the model's output `out`
/// (logits after `Linear`, probabilities after `Softmax`) and a target
/// distribution `y`; writes `p Σy − y` (the gradient w.r.t. the logits).
fn cce<T: Float>(
    name: &'static str,
    out: &[T],
    act: OutputActivation,
    y: impl Fn(usize) -> T,
    grad: Option<&mut [T]>,
) -> Result<(T, Wrt), TrainError> {
    let ysum = (0..out.len()).fold(T::zero(), |s, k| s + y(k));
    match act {
        OutputActivation::Softmax => {
            let lo = tiny::<T>();
            let mut l = T::zero();
            for (k, &p) in out.iter().enumerate() {
                let t = y(k);
                if t != T::zero() {
                    l -= t * p.max(lo).ln();
                }
            }
            if let Some(g) = grad {
                for (k, (g, &p)) in g.iter_mut().zip(out).enumerate() {
                    *g = p * ysum - y(k);
                }
            }
            Ok((l, Wrt::Logits))
        }
        OutputActivation::Linear => {
            let lse = log_sum_exp(out);
            let mut l = T::zero();
            for (k, &z) in out.iter().enumerate() {
                let t = y(k);
                if t != T::zero() {
                    l += t * (lse - z);
                }
            }
            if let Some(g) = grad {
                for (k, (g, &z)) in g.iter_mut().zip(out).enumerate() {
                    *g = (z - lse).exp() * ysum - y(k);
                }
            }
            Ok((l, Wrt::Output))
        }
        act => Err(TrainError::Activation { loss: name, act }),
    }
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
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        y: &Y,
        grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let y = target(y, out)?;
        check_grad(&grad, out.len())?;
        cce("categorical cross-entropy", out, act, |k| y[k], grad)
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
    fn loss(
        &self,
        out: &[T],
        act: OutputActivation,
        label: &usize,
        grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let label = *label;
        if label >= out.len() {
            return Err(TrainError::LabelOutOfRange {
                label,
                classes: out.len(),
            });
        }
        check_grad(&grad, out.len())?;
        let y = |k: usize| if k == label { T::one() } else { T::zero() };
        cce("sparse categorical cross-entropy", out, act, y, grad)
    }
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
    fn loss(
        &self,
        out: &[T],
        _act: OutputActivation,
        y: &Y,
        mut grad: Option<&mut [T]>,
    ) -> Result<(T, Wrt), TrainError> {
        let y = target(y, out)?;
        check_grad(&grad, out.len())?;
        let inv_n = T::one() / T::of_f64(out.len().max(1) as f64);
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
