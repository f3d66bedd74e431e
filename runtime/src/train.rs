//! One training step over one batch, without allocation or `std`.
//!
//! A step runs the training forward and backward of every sample of the
//! batch, adding each sample's gradient into a model-shaped accumulator,
//! divides it by the batch size (the gradient of the batch's mean loss),
//! checks that the loss and every gradient are finite, and only then lets
//! the optimizer change the weights. A step that fails leaves the weights
//! and the optimizer's state as they were.
//!
//! The caller owns the gradient, the tape and the optimizer; [`Trainer`]
//! holds all three:
//!
//! ```ignore
//! let mut model = SeedCnn::<f32>::init(42);
//! let mut trainer = Trainer::boxed(Adam::new(AdamConfig::default()));
//! for (xs, ys) in batches {
//!     let loss = trainer.step(&mut model, &BinaryCrossEntropy, xs, ys)?;
//! }
//! ```
//!
//! [`accumulate`] and [`apply_mean`] are the two halves of a step, for
//! callers that split a batch (across threads, or to accumulate gradients
//! over several small batches).

use crate::loss::{Loss, Wrt};
use crate::metrics::{Metric, NoMetric};
use crate::optim::Optimizer;
use crate::{Float, OutputActivation, Tensor, Train};
use core::fmt;
use core::marker::PhantomData;

/// Why a training call did nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrainError {
    /// The inputs and the targets differ in number.
    LengthMismatch {
        /// Number of inputs.
        inputs: usize,
        /// Number of targets.
        targets: usize,
    },
    /// There are no samples (an empty batch or data set).
    Empty,
    /// A target (or gradient buffer) does not have as many values as the
    /// model's output.
    TargetLength {
        /// The output's number of values.
        expected: usize,
        /// The target's.
        found: usize,
    },
    /// A class label is not below the number of classes.
    LabelOutOfRange {
        /// The label given.
        label: usize,
        /// The model's number of outputs.
        classes: usize,
    },
    /// The loss cannot follow the model's final activation.
    Activation {
        /// The loss.
        loss: &'static str,
        /// The model's final activation.
        act: OutputActivation,
    },
    /// The loss or a gradient was NaN or infinite; the weights were left as
    /// they were after the last good step.
    NonFinite {
        /// `"loss"` or `"gradient"`.
        what: &'static str,
        /// The 1-based epoch and batch, when `fit` was running.
        at: Option<(usize, usize)>,
    },
    /// A configuration value is out of range; the message says which.
    Config(&'static str),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TrainError::LengthMismatch { inputs, targets } => write!(
                f,
                "{inputs} inputs but {targets} targets: give one target per input"
            ),
            TrainError::Empty => write!(f, "no samples to train or evaluate on"),
            TrainError::TargetLength { expected, found } => write!(
                f,
                "a target has {found} values but the model outputs {expected}"
            ),
            TrainError::LabelOutOfRange { label, classes } => write!(
                f,
                "label {label} is out of range for a model with {classes} outputs"
            ),
            TrainError::Activation { loss, act } => write!(
                f,
                "{loss} needs a model whose last activation is {} or linear (logits), \
                 but this one ends with {act:?}",
                match loss {
                    "binary cross-entropy" => "sigmoid",
                    _ => "softmax",
                }
            ),
            TrainError::NonFinite { what, at } => {
                write!(f, "non-finite {what}")?;
                if let Some((epoch, batch)) = at {
                    write!(f, " in epoch {epoch}, batch {batch}")?;
                }
                write!(f, "; the weights are those of the last good step")
            }
            TrainError::Config(msg) => f.write_str(msg),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TrainError {}

/// Sums over the samples of a (part of a) batch, from [`accumulate`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchSums<T> {
    /// Sum of the samples' losses.
    pub loss: T,
    /// Sum of the samples' metric scores.
    pub metric: f64,
    /// Number of samples.
    pub n: usize,
}

impl<T: Float> BatchSums<T> {
    /// Adds `other`'s sums into `self`.
    pub fn add(&mut self, other: &BatchSums<T>) {
        self.loss += other.loss;
        self.metric += other.metric;
        self.n += other.n;
    }
}

/// Runs forward and backward on every `(input, target)` of `samples`,
/// *adding* each sample's parameter gradients into `grads` (zero it first
/// with [`Train::zero_grads`]), and returns the sums of the losses and
/// metric scores. `model` is not changed.
///
/// Stops at the first sample whose loss is not finite
/// ([`TrainError::NonFinite`]) or whose target does not fit.
pub fn accumulate<'a, T, M, L, A, Y>(
    model: &M,
    grads: &mut M,
    tape: &mut M::Tape,
    loss: &L,
    metric: &A,
    samples: impl IntoIterator<Item = (&'a M::Input, &'a Y)>,
) -> Result<BatchSums<T>, TrainError>
where
    T: Float,
    M: Train<T>,
    M::Input: 'a,
    L: Loss<T, Y> + ?Sized,
    A: Metric<T, Y> + ?Sized,
    Y: ?Sized + 'a,
{
    let mut sums = BatchSums {
        loss: T::zero(),
        metric: 0.0,
        n: 0,
    };
    for (x, y) in samples {
        let out = model.forward_train(x, tape);
        let mut dy = M::Output::zeros();
        let from_logits = L::FROM_LOGITS
            && matches!(
                M::OUTPUT_ACTIVATION,
                OutputActivation::Sigmoid | OutputActivation::Softmax
            );
        let (l, wrt) = if from_logits {
            // The same loss on the logits themselves: its gradient is the
            // one with respect to the logits.
            let z = M::logits(tape);
            let (l, _) = loss.loss(
                z.as_flat(),
                OutputActivation::Linear,
                y,
                Some(dy.as_flat_mut()),
            )?;
            (l, Wrt::Logits)
        } else {
            loss.loss(
                out.as_flat(),
                M::OUTPUT_ACTIVATION,
                y,
                Some(dy.as_flat_mut()),
            )?
        };
        if !l.is_finite() {
            return Err(TrainError::NonFinite {
                what: "loss",
                at: None,
            });
        }
        if A::NAME.is_some() {
            sums.metric += metric.score(out.as_flat(), y)?;
        }
        match wrt {
            Wrt::Output => model.backward(tape, &dy, grads),
            Wrt::Logits => model.backward_logits(tape, &dy, grads),
        };
        sums.loss += l;
        sums.n += 1;
    }
    Ok(sums)
}

/// Finishes a step: divides the gradient sum `grads` of `sums.n` samples by
/// `sums.n`, checks that it is finite and lets `optimizer` update `model`.
/// Returns the mean loss. On an error `model` and `optimizer` are
/// unchanged.
pub fn apply_mean<T, M, O>(
    model: &mut M,
    grads: &mut M,
    optimizer: &mut O,
    sums: &BatchSums<T>,
) -> Result<T, TrainError>
where
    T: Float,
    M: Train<T>,
    O: Optimizer<T, M> + ?Sized,
{
    if sums.n == 0 {
        return Err(TrainError::Empty);
    }
    let inv = T::one() / T::of_f64(sums.n as f64);
    let mean = sums.loss * inv;
    if !mean.is_finite() {
        return Err(TrainError::NonFinite {
            what: "loss",
            at: None,
        });
    }
    let mut finite = true;
    for i in 0..M::TENSORS {
        for g in grads.tensor_mut(i) {
            *g *= inv;
            finite &= g.is_finite();
        }
    }
    if !finite {
        return Err(TrainError::NonFinite {
            what: "gradient",
            at: None,
        });
    }
    optimizer.step(model, grads);
    Ok(mean)
}

/// One optimisation step on the batch `xs`, `ys` with caller-owned
/// gradient accumulator `grads` and `tape`: returns the batch's mean loss.
///
/// Errors (nothing is changed): `xs` and `ys` differ in length, the batch
/// is empty, a target does not fit, or the loss or the gradient is not
/// finite.
pub fn train_step<T, M, O, L, Y>(
    model: &mut M,
    grads: &mut M,
    tape: &mut M::Tape,
    optimizer: &mut O,
    loss: &L,
    xs: &[M::Input],
    ys: &[Y],
) -> Result<T, TrainError>
where
    T: Float,
    M: Train<T>,
    O: Optimizer<T, M> + ?Sized,
    L: Loss<T, Y> + ?Sized,
{
    check_lengths(xs.len(), ys.len())?;
    M::zero_grads(grads);
    let sums = accumulate(model, grads, tape, loss, &NoMetric, xs.iter().zip(ys))?;
    apply_mean(model, grads, optimizer, &sums)
}

pub(crate) fn check_lengths(inputs: usize, targets: usize) -> Result<(), TrainError> {
    if inputs != targets {
        return Err(TrainError::LengthMismatch { inputs, targets });
    }
    if inputs == 0 {
        return Err(TrainError::Empty);
    }
    Ok(())
}

/// The loss and metric of one batch, from [`Trainer::step_with`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchStats<T> {
    /// Mean loss over the batch (before the update).
    pub loss: T,
    /// Mean metric score over the batch (before the update; 0 without a
    /// metric).
    pub metric: f64,
    /// Number of samples.
    pub n: usize,
}

/// Everything a training loop needs besides the model: the gradient
/// accumulator, the tape and the optimizer.
///
/// ```ignore
/// let mut trainer = Trainer::boxed(Adam::new(AdamConfig::default()));
/// let loss = trainer.step(&mut model, &BinaryCrossEntropy, &xs[..32], &ys[..32])?;
/// ```
pub struct Trainer<T: Float, M: Train<T>, O> {
    /// After a successful step: the batch's mean gradient.
    pub grads: M,
    /// The training forward's record.
    pub tape: M::Tape,
    /// The optimizer and its state.
    pub optimizer: O,
    _float: PhantomData<T>,
}

impl<T: Float, M: Train<T>, O: Optimizer<T, M>> Trainer<T, M, O> {
    /// A trainer with zero gradients and a fresh tape.
    pub fn new(optimizer: O) -> Self {
        Trainer {
            grads: M::zeros(),
            tape: M::new_tape(),
            optimizer,
            _float: PhantomData,
        }
    }

    /// [`Trainer::new`] on the heap (gradients and tapes can be large).
    #[cfg(feature = "std")]
    pub fn boxed(optimizer: O) -> Box<Self> {
        Box::new(Self::new(optimizer))
    }

    /// One step on the batch `xs`, `ys`; see [`train_step`].
    pub fn step<L, Y>(
        &mut self,
        model: &mut M,
        loss: &L,
        xs: &[M::Input],
        ys: &[Y],
    ) -> Result<T, TrainError>
    where
        L: Loss<T, Y> + ?Sized,
    {
        train_step(
            model,
            &mut self.grads,
            &mut self.tape,
            &mut self.optimizer,
            loss,
            xs,
            ys,
        )
    }

    /// One step on the `(input, target)` pairs of `samples`, also scoring
    /// `metric` on the outputs (before the update, as Keras reports it).
    pub fn step_with<'a, L, A, Y>(
        &mut self,
        model: &mut M,
        loss: &L,
        metric: &A,
        samples: impl IntoIterator<Item = (&'a M::Input, &'a Y)>,
    ) -> Result<BatchStats<T>, TrainError>
    where
        M::Input: 'a,
        L: Loss<T, Y> + ?Sized,
        A: Metric<T, Y> + ?Sized,
        Y: ?Sized + 'a,
    {
        M::zero_grads(&mut self.grads);
        let sums = accumulate(
            model,
            &mut self.grads,
            &mut self.tape,
            loss,
            metric,
            samples,
        )?;
        let loss = apply_mean(model, &mut self.grads, &mut self.optimizer, &sums)?;
        Ok(BatchStats {
            loss,
            metric: if sums.n > 0 {
                sums.metric / sums.n as f64
            } else {
                0.0
            },
            n: sums.n,
        })
    }
}
