//! Training and evaluation modes of the layer-major training forward
//! ([`Train::forward_train_layers`](crate::Train::forward_train_layers)).
//!
//! Two layers behave differently in training, as PyTorch's `train()` and
//! `eval()` make them:
//!
//! - `BatchNorm` normalises with the batch's mean and biased variance and
//!   back-propagates through them (training), or with its running
//!   statistics, frozen (evaluation);
//! - `Dropout` zeroes each value with probability `rate` and scales the
//!   others by `1/(1 − rate)` (training), or is the identity (evaluation).
//!
//! A [`Mode`] says what each does. Inference (`forward`, `predict`,
//! `evaluate`, `step`) is always [`Mode::EVAL`], and so are the one-sample
//! `forward_train`/`backward` (gradient checks and fixtures rely on that).
//!
//! ```
//! use staticnet_runtime::{BatchNormMode, DropoutMode, Mode};
//! assert_eq!(Mode::TRAIN, Mode { batchnorm: BatchNormMode::Batch, dropout: DropoutMode::Draw });
//! // On-device fine-tuning: BatchNorm keeps its running statistics (γ and β
//! // still train unless the layer is frozen), Dropout still drops.
//! assert!(!Mode::FINE_TUNE.batch_statistics());
//! assert_eq!(Mode::EVAL.dropout, DropoutMode::Identity);
//! ```

/// How `BatchNorm` normalises in the training forward. (`Batch` is 0, so
/// an all-zero [`Mode`] is [`Mode::TRAIN`]: a zeroed
/// [`BatchMemory`](crate::train::BatchMemory) in a `static` is valid.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchNormMode {
    /// With the batch's statistics (PyTorch's `train()`): the mean and
    /// biased variance of each channel over the batch's N·S values; the
    /// backward goes through them and the running statistics are updated
    /// after the step ([`Train::update_running_stats`](crate::Train::update_running_stats)).
    /// A batch with one value per channel is an error.
    Batch = 0,
    /// With the running statistics, frozen (PyTorch's `eval()`): the
    /// running statistics are not changed.
    Frozen,
}

/// What `Dropout` does in the training forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropoutMode {
    /// Draws a new mask from the generator for every value: dropped with
    /// probability `rate`, kept values scaled by `1/(1 − rate)` (PyTorch's
    /// inverted dropout in `train()`). The mask is recorded in the tape.
    Draw = 0,
    /// Multiplies by the mask already in the tape (0 or `1/(1 − rate)` per
    /// value), drawing nothing: to replay a forward, or to inject a mask
    /// (tests against PyTorch).
    Replay,
    /// The identity (PyTorch's `eval()`): the tape's mask is set to ones.
    Identity,
}

/// The mode of a layer-major training forward: what `BatchNorm` and
/// `Dropout` do (other layers have one behaviour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// `BatchNorm`'s statistics.
    pub batchnorm: BatchNormMode,
    /// `Dropout`'s mask.
    pub dropout: DropoutMode,
}

impl Mode {
    /// PyTorch's `train()`: batch statistics, random dropout. What `fit`
    /// uses.
    pub const TRAIN: Mode = Mode {
        batchnorm: BatchNormMode::Batch,
        dropout: DropoutMode::Draw,
    };
    /// PyTorch's `eval()`: running statistics, no dropout (what the
    /// one-sample `forward_train` does).
    pub const EVAL: Mode = Mode {
        batchnorm: BatchNormMode::Frozen,
        dropout: DropoutMode::Identity,
    };
    /// Fine-tuning with BatchNorm frozen (its running statistics, not
    /// updated) and dropout on: PyTorch's `train()` with every BatchNorm
    /// module put in `eval()`. Whether γ and β train is the freezing of
    /// the layer (`trainable = false`, `FitConfig::frozen`).
    pub const FINE_TUNE: Mode = Mode {
        batchnorm: BatchNormMode::Frozen,
        dropout: DropoutMode::Draw,
    };

    /// Whether `BatchNorm` uses the batch's statistics.
    pub const fn batch_statistics(self) -> bool {
        matches!(self.batchnorm, BatchNormMode::Batch)
    }
}

impl Default for Mode {
    /// [`Mode::TRAIN`].
    fn default() -> Self {
        Mode::TRAIN
    }
}
