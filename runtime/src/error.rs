//! [`TrainError`], the error of every training, loss and metric call.
//!
//! It lives in its own module so that [`crate::loss`], [`crate::metrics`]
//! and [`crate::train`] all depend on it and not on one another (it is
//! re-exported as `train::TrainError` and at the crate root).

use crate::OutputActivation;
use core::fmt;

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
    /// The loss cannot follow the model's final activation (the rule is
    /// [`Loss::check`](crate::loss::Loss::check)).
    Activation {
        /// The loss.
        loss: &'static str,
        /// The model's final activation.
        act: OutputActivation,
        /// The activation the loss needs (or `linear`, for logits).
        needs: OutputActivation,
    },
    /// A class-index target holds another number of labels than the model
    /// outputs class distributions (one per step of a sequence output).
    LabelCount {
        /// Distributions in the model's output.
        expected: usize,
        /// Labels in the target.
        found: usize,
    },
    /// The loss or a gradient was NaN or infinite; the weights and the
    /// optimizer's state were left as they were after the last good step.
    NonFinite {
        /// `"loss"` or `"gradient"`.
        what: &'static str,
        /// The 1-based epoch and batch, when `fit` was running.
        at: Option<(usize, usize)>,
    },
    /// An input holds a NaN or an infinity; nothing was changed.
    NonFiniteInput {
        /// The input's index in the slice (or batch) given: for `fit`, in
        /// `x` (or in the validation data, if `validation`).
        index: usize,
        /// `true` if it is in `fit`'s validation data.
        validation: bool,
    },
    /// The model's output for an input is NaN or infinite (its weights are
    /// not finite, or a value overflowed): `evaluate` and `predict` refuse
    /// to report it.
    NonFiniteOutput {
        /// The input's index in the slice given.
        index: usize,
    },
    /// A configuration value is out of range; the message says which.
    Config(&'static str),
    /// `fit`'s checkpoint could not be written after this (1-based)
    /// epoch; training stopped there, with that epoch's weights.
    Checkpoint {
        /// The epoch whose weights were to be saved.
        epoch: usize,
    },
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
            TrainError::Activation { loss, act, needs } => write!(
                f,
                "{loss} needs a model whose last activation is {} or linear (logits), \
                 but this one ends with {}",
                needs.name(),
                act.name()
            ),
            TrainError::LabelCount { expected, found } => write!(
                f,
                "the model outputs {expected} class distributions (one per step) but a \
                 target holds {found} label(s): give one label per step, a [usize; {expected}]"
            ),
            TrainError::NonFinite { what, at } => {
                write!(f, "non-finite {what}")?;
                if let Some((epoch, batch)) = at {
                    write!(f, " in epoch {epoch}, batch {batch}")?;
                }
                write!(f, "; the weights are those of the last good step")
            }
            TrainError::NonFiniteInput { index, validation } => write!(
                f,
                "{} {index} holds a NaN or infinite value; nothing was changed",
                if validation {
                    "validation input"
                } else {
                    "input"
                }
            ),
            TrainError::NonFiniteOutput { index } => write!(
                f,
                "the model's output for input {index} is NaN or infinite \
                 (non-finite weights, or an overflow)"
            ),
            TrainError::Config(msg) => f.write_str(msg),
            TrainError::Checkpoint { epoch } => write!(
                f,
                "the checkpoint of epoch {epoch} could not be written (does its folder exist?); \
                 training stopped with that epoch's weights"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TrainError {}
