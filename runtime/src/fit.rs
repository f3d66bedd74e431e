//! Keras-style `fit`, `evaluate` and `predict` (needs `std`).
//!
//! ```ignore
//! let mut model = SeedCnn::<f32>::init(42);
//! let mut adam = Adam::boxed_zeroed(AdamConfig::default());
//! let history = fit(
//!     &mut model, &mut *adam, &BinaryCrossEntropy, &BinaryAccuracy::default(),
//!     &x, &y,
//!     &FitConfig { epochs: 10, validation: Validation::Split(0.2), ..Default::default() },
//! )?;
//! println!("{}", evaluate(&model, &BinaryCrossEntropy, &BinaryAccuracy::default(), &x_test, &y_test)?);
//! let probabilities = predict(&model, &x_test)?;
//! ```
//!
//! `fit` prints what Keras prints, one block per epoch:
//!
//! ```text
//! Epoch 3/10
//! 4/4 [==============================] - 0s 2ms/step - loss: 0.6931 - accuracy: 0.5000 - val_loss: 0.6925 - val_accuracy: 0.5000
//! ```
//!
//! with a live progress bar while the epoch runs if standard output is a
//! terminal, and only the finished line otherwise.

use crate::error::TrainError;
use crate::loss::Loss;
use crate::metrics::Metric;
use crate::metrics::{classes_of, predicted_class, ConfusionMatrix, Label};
use crate::optim::{Elementwise, Optimizer, StepConstants, MAX_STATES};
use crate::train::{
    accumulate_layers, apply_mean_parts, check_fit, check_input, check_lengths, frozen_mask,
    mean_loss, mean_range, BatchSums, Clip, LayerBatch, Workspace,
};
use crate::{Float, Mode, Model, Rng, Tensor, Train, Weights, Zeroable};
use core::ops::Range;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{
    Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::time::{Duration, Instant};

/// Where `fit` takes its validation data from.
#[derive(Debug)]
pub enum Validation<'a, X, Y> {
    /// No validation.
    None,
    /// The *last* fraction (in `(0, 1)`) of `x`/`y`, taken before any
    /// shuffling and never trained on (Keras' `validation_split`).
    Split(f64),
    /// Separate validation inputs and targets (Keras' `validation_data`).
    Data(&'a [X], &'a [Y]),
}

/// The quantity [`EarlyStopping`], [`ReduceLrOnPlateau`] and
/// [`Checkpoint`] watch: a loss is minimised, a metric maximised unless
/// lower is better for it ([`Metric::HIGHER_IS_BETTER`]: MAE, RMSE), as
/// Keras' `mode = "auto"` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    /// The epoch's training loss (Keras' `"loss"`).
    Loss,
    /// The validation loss (Keras' `"val_loss"`, its default).
    #[default]
    ValLoss,
    /// The epoch's training metric (`"accuracy"`).
    Metric,
    /// The validation metric (`"val_accuracy"`).
    ValMetric,
}

impl Monitor {
    fn is_metric(self) -> bool {
        matches!(self, Monitor::Metric | Monitor::ValMetric)
    }
    /// Whether a larger value is better: a metric whose
    /// [`Metric::HIGHER_IS_BETTER`] is true (accuracy, precision, F1), not a
    /// loss nor MAE or RMSE (Keras' `mode = "auto"`).
    fn maximise<T: Float, Y: ?Sized, A: Metric<T, Y> + ?Sized>(self) -> bool {
        self.is_metric() && A::HIGHER_IS_BETTER
    }
    fn validation(self) -> bool {
        matches!(self, Monitor::ValLoss | Monitor::ValMetric)
    }
    /// Checks that `fit` will have the value to watch; `who` names the
    /// callback in the error.
    fn check<X, Y>(
        self,
        validation: &Validation<'_, X, Y>,
        has_metric: bool,
        errors: [&'static str; 2],
    ) -> Result<(), TrainError> {
        if self.validation() && matches!(validation, Validation::None) {
            return Err(TrainError::Config(errors[0]));
        }
        if self.is_metric() && !has_metric {
            return Err(TrainError::Config(errors[1]));
        }
        Ok(())
    }
    /// The monitored value after an epoch.
    fn value(self, loss: f64, metric: Option<f64>, val: Option<Evaluation>) -> Option<f64> {
        match self {
            Monitor::Loss => Some(loss),
            Monitor::Metric => metric,
            Monitor::ValLoss => val.map(|v| v.loss),
            Monitor::ValMetric => val.and_then(|v| v.metric).map(|(_, v)| v),
        }
    }
}

/// How [`ReduceLrOnPlateau::threshold`] is measured (PyTorch's
/// `threshold_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThresholdMode {
    /// An improvement beats the best by the fraction `threshold` of it
    /// (`best · (1 − threshold)` when minimising): PyTorch's default `"rel"`.
    #[default]
    Rel,
    /// An improvement beats the best by `threshold` (`best − threshold`).
    Abs,
}

/// PyTorch's `torch.optim.lr_scheduler.ReduceLROnPlateau`, stepped once
/// per epoch with the monitored value (chosen over Keras' callback of the
/// same name, whose `min_delta` is absolute and whose counting differs by
/// one: `patience` here is the number of bad epochs *tolerated*, so the
/// rate drops after `patience + 1` of them in a row). After each epoch:
/// the value is an improvement if it beats the best so far by more than
/// the threshold ([`ThresholdMode`]); else one more bad epoch. During a
/// cooldown bad epochs are not counted. When more than `patience` bad
/// epochs have been counted, the learning rate becomes `max(lr · factor,
/// min_lr)` (unchanged if that changes it by `eps` or less), the cooldown
/// starts and the count restarts. The learning rate of each epoch is in
/// [`History::lr`]. The defaults are PyTorch's, watching the validation
/// loss.
///
/// ```
/// use staticnet_runtime::fit::{Plateau, ReduceLrOnPlateau};
/// let mut p = Plateau::new(ReduceLrOnPlateau { patience: 1, factor: 0.5, ..Default::default() }, false);
/// let lrs: Vec<f64> = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
///     .iter()
///     .scan(0.1, |lr, &loss| { *lr = p.step(loss, *lr); Some(*lr) })
///     .collect();
/// assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    /// What to watch (validation loss by default); a loss, MAE or RMSE is
    /// minimised (PyTorch's `mode = "min"`), another metric maximised.
    pub monitor: Monitor,
    /// The factor the learning rate is multiplied by (in `(0, 1)`; 0.1).
    pub factor: f64,
    /// Bad epochs tolerated before the rate drops (10).
    pub patience: usize,
    /// How much better than the best counts as an improvement (`>= 0`;
    /// 1e-4).
    pub threshold: f64,
    /// Whether `threshold` is relative (the default) or absolute.
    pub threshold_mode: ThresholdMode,
    /// Epochs after a drop during which bad epochs are not counted (0).
    pub cooldown: usize,
    /// The learning rate never drops below this (`>= 0`; 0).
    pub min_lr: f64,
    /// A drop smaller than this is not made (`>= 0`; 1e-8).
    pub eps: f64,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        ReduceLrOnPlateau {
            monitor: Monitor::ValLoss,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

impl ReduceLrOnPlateau {
    /// The ranges PyTorch checks (`factor < 1`), and finite, non-negative
    /// thresholds and bounds.
    pub fn validate(&self) -> Result<(), TrainError> {
        let ok = self.factor > 0.0
            && self.factor < 1.0
            && self.threshold.is_finite()
            && self.threshold >= 0.0
            && self.min_lr.is_finite()
            && self.min_lr >= 0.0
            && self.eps.is_finite()
            && self.eps >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(TrainError::Config(
                "reduce_lr_on_plateau: factor must be in (0, 1); threshold, min_lr and eps finite and >= 0",
            ))
        }
    }
}

/// The state of a [`ReduceLrOnPlateau`] (what `fit` keeps between
/// epochs), usable on its own to replay a sequence of values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plateau {
    config: ReduceLrOnPlateau,
    maximise: bool,
    best: f64,
    bad_epochs: usize,
    cooldown_counter: usize,
}

impl Plateau {
    /// A fresh state; `maximise` for a value where larger is better
    /// (PyTorch's `mode = "max"`).
    pub fn new(config: ReduceLrOnPlateau, maximise: bool) -> Self {
        Plateau {
            config,
            maximise,
            best: if maximise {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            bad_epochs: 0,
            cooldown_counter: 0,
        }
    }

    fn is_better(&self, a: f64) -> bool {
        let (t, best) = (self.config.threshold, self.best);
        match (self.maximise, self.config.threshold_mode) {
            (false, ThresholdMode::Rel) => a < best * (1.0 - t),
            (false, ThresholdMode::Abs) => a < best - t,
            (true, ThresholdMode::Rel) => a > best * (t + 1.0),
            (true, ThresholdMode::Abs) => a > best + t,
        }
    }

    /// One epoch's monitored value `current` with the learning rate `lr`
    /// it ran at: returns the learning rate of the next epoch
    /// (PyTorch's `scheduler.step(current)`).
    pub fn step(&mut self, current: f64, lr: f64) -> f64 {
        if self.is_better(current) {
            self.best = current;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > self.config.patience {
            self.cooldown_counter = self.config.cooldown;
            self.bad_epochs = 0;
            let new_lr = (lr * self.config.factor).max(self.config.min_lr);
            if lr - new_lr > self.config.eps {
                return new_lr;
            }
        }
        lr
    }
}

/// Keras' `ModelCheckpoint`: after every epoch (or, with
/// `save_best_only`, after each epoch whose monitored value beats the best
/// so far, strictly) the model's weights are written to `path` as a
/// safetensors file with PyTorch's names (what [`Weights::save`] writes:
/// `Net::load(path)` and PyTorch's `load_state_dict(strict=True)` read it
/// back). `{epoch}` in the path becomes the 1-based epoch, `{epoch:02}`
/// (or Keras' `{epoch:02d}`) the same zero-padded to two digits; without
/// it every save overwrites the last. The epochs saved are in
/// [`History::saved`].
///
/// ```
/// use staticnet_runtime::fit::{Checkpoint, Monitor};
/// let c = Checkpoint { path: "best.safetensors", save_best_only: true, ..Default::default() };
/// assert_eq!(c.monitor, Monitor::ValLoss);
/// assert_eq!(Checkpoint::file_name("w-{epoch:02d}.safetensors", 7), "w-07.safetensors");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint<'a> {
    /// The file to write; `{epoch}` and `{epoch:0N}` are replaced.
    pub path: &'a str,
    /// What `save_best_only` watches (validation loss by default).
    pub monitor: Monitor,
    /// Save only when the monitored value improves.
    pub save_best_only: bool,
}

impl Checkpoint<'_> {
    /// `path` with `{epoch}` / `{epoch:0N}` / `{epoch:0Nd}` replaced by
    /// the 1-based `epoch`.
    pub fn file_name(path: &str, epoch: usize) -> String {
        let mut out = String::new();
        let mut rest = path;
        while let Some(start) = rest.find("{epoch") {
            out.push_str(&rest[..start]);
            let tail = &rest[start + "{epoch".len()..];
            let Some(end) = tail.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let spec = tail[..end].trim_start_matches(':').trim_end_matches('d');
            let width = spec.parse::<usize>().unwrap_or(0);
            out.push_str(&format!("{epoch:0width$}"));
            rest = &tail[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Keras' `EarlyStopping` callback (Keras 3 semantics): after each epoch
/// from `start_from_epoch` on, the monitored value is an improvement if it
/// beats the best so far by more than `min_delta`; training stops once
/// `patience` epochs in a row have not improved (never after the first
/// epoch). With `restore_best_weights` the model is set, when `fit`
/// ends, to its weights at the end of the best epoch (a copy of the
/// parameters is kept on the heap, only then).
///
/// ```
/// use staticnet_runtime::fit::{EarlyStopping, Monitor};
/// let es = EarlyStopping { patience: 3, restore_best_weights: true, ..Default::default() };
/// assert_eq!(es.monitor, Monitor::ValLoss);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EarlyStopping {
    /// What to watch (validation loss by default).
    pub monitor: Monitor,
    /// The smallest change that counts as an improvement (`>= 0`).
    pub min_delta: f64,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Restore the best epoch's weights when `fit` ends.
    pub restore_best_weights: bool,
    /// Epochs (0-based count) to run before watching at all (warm-up).
    pub start_from_epoch: usize,
}

/// A learning-rate schedule applied at the start of every epoch, with
/// PyTorch's per-epoch schedulers' closed forms; `lr₀` is the optimizer's
/// learning rate when `fit` starts and `e` the 0-based epoch. The learning
/// rate of each epoch is in [`History::lr`]; after `fit` the optimizer
/// keeps the last epoch's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Schedule {
    /// The optimizer's learning rate, unchanged (no cost).
    #[default]
    Constant,
    /// `StepLR`: `lr₀ · gamma^⌊e / step_size⌋`.
    Step {
        /// Epochs per step (`>= 1`).
        step_size: usize,
        /// Factor per step (finite, `> 0`).
        gamma: f64,
    },
    /// `ExponentialLR`: `lr₀ · gamma^e`.
    Exponential {
        /// Factor per epoch (finite, `> 0`).
        gamma: f64,
    },
    /// `CosineAnnealingLR`: `eta_min + (lr₀ − eta_min) · (1 + cos(π e / t_max)) / 2`.
    Cosine {
        /// Epochs of the half period (`>= 1`).
        t_max: usize,
        /// The smallest learning rate (finite, `>= 0`).
        eta_min: f64,
    },
}

impl Schedule {
    /// The learning rate of 0-based epoch `e` from the initial `lr0`.
    pub fn lr(&self, lr0: f64, e: usize) -> f64 {
        match *self {
            Schedule::Constant => lr0,
            Schedule::Step { step_size, gamma } => lr0 * gamma.powi((e / step_size.max(1)) as i32),
            Schedule::Exponential { gamma } => lr0 * gamma.powi(e as i32),
            Schedule::Cosine { t_max, eta_min } => {
                let x = core::f64::consts::PI * e as f64 / t_max.max(1) as f64;
                eta_min + (lr0 - eta_min) * (1.0 + x.cos()) / 2.0
            }
        }
    }

    fn validate(&self) -> Result<(), TrainError> {
        let ok = match *self {
            Schedule::Constant => true,
            Schedule::Step { step_size, gamma } => {
                step_size >= 1 && gamma.is_finite() && gamma > 0.0
            }
            Schedule::Exponential { gamma } => gamma.is_finite() && gamma > 0.0,
            Schedule::Cosine { t_max, eta_min } => {
                t_max >= 1 && eta_min.is_finite() && eta_min >= 0.0
            }
        };
        if ok {
            Ok(())
        } else {
            Err(TrainError::Config(
                "schedule: step_size and t_max must be >= 1, gamma finite and > 0, eta_min finite and >= 0",
            ))
        }
    }
}

/// Options of [`fit`]; the defaults are Keras' (`batch_size` 32, shuffled,
/// `verbose` 1), with one epoch and one thread.
///
/// ```
/// use staticnet_runtime::fit::{FitConfig, Validation};
/// let config: FitConfig<'_, f32, f32> = FitConfig {
///     epochs: 10,
///     validation: Validation::Split(0.2),
///     ..Default::default()
/// };
/// assert_eq!(config.batch_size, 32);
/// ```
#[derive(Debug)]
pub struct FitConfig<'a, X, Y> {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per step; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Shuffle the training samples at the start of every epoch.
    pub shuffle: bool,
    /// Seed of the shuffle: the same seed gives the same batches.
    pub seed: u64,
    /// Validation data, evaluated after every epoch.
    pub validation: Validation<'a, X, Y>,
    /// 0: silent; 1: a progress bar (live on a terminal); 2: one line per
    /// epoch, never live.
    pub verbose: u8,
    /// Threads each batch is split across (1: the calling thread only).
    /// The calling thread and `threads - 1` helpers, started once for the
    /// whole `fit`, each take a contiguous part of every batch with its own
    /// gradient and tapes, and hand the parts over without sleeping between
    /// the batches of an epoch (a short spin, yielding the core if the
    /// other thread may need it). The gradients are added in worker order
    /// in the pass that takes the mean. On two threads, with an optimizer
    /// that is a rule per value ([`Optimizer::elementwise`]: Adam), no
    /// clipping and no frozen layers, each thread then takes the mean and
    /// updates its half of the parameters (the helper on its own copy of
    /// the model), bit for bit the whole update; otherwise the calling
    /// thread updates the weights alone. The same `threads` gives the same
    /// bits every run; another count equals the single-threaded run up to
    /// the regrouping of the sums (Dropout draws other masks: one
    /// generator per thread). A model with BatchNorm training on batch
    /// statistics ([`FitConfig::mode`]) runs on one thread: its batch is
    /// never split.
    pub threads: usize,
    /// Gradient clipping before every update (PyTorch's
    /// `clip_grad_norm_` / `clip_grad_value_`); [`Clip::None`] by default.
    pub clip: Clip,
    /// Stop when the monitored value stops improving (`None`: never).
    pub early_stopping: Option<EarlyStopping>,
    /// The learning rate of each epoch ([`Schedule::Constant`]: the
    /// optimizer's, untouched).
    pub schedule: Schedule,
    /// Lower the learning rate when the monitored value stops improving
    /// (`None`: never). Cannot be combined with a [`Schedule`].
    pub reduce_lr_on_plateau: Option<ReduceLrOnPlateau>,
    /// Save the weights after every epoch or after each best one (`None`:
    /// never).
    pub checkpoint: Option<Checkpoint<'a>>,
    /// One weight per sample of `x` (Keras' `sample_weight`, finite and
    /// `>= 0`): each sample's loss and gradient are multiplied by it and the
    /// batch's loss is their sum divided by the number of samples in the
    /// batch (Keras' `sum_over_batch_size`, not by the sum of the
    /// weights), so weights of 1 train as without. With
    /// [`Validation::Split`] the validation part's weights weight the
    /// validation loss, as in Keras; metrics are not weighted (Keras'
    /// `metrics`, not `weighted_metrics`). For Keras' `class_weight`, make
    /// them with [`class_sample_weights`].
    pub sample_weight: Option<&'a [f64]>,
    /// Layers (by their DSL name) not trained in this `fit`, besides those
    /// the DSL declares `trainable = false`: their parameters, and the
    /// optimizer's state for them, stay as they are (Keras'
    /// `layer.trainable = False`, PyTorch's `requires_grad_(False)`).
    pub frozen: &'a [&'a str],
    /// What BatchNorm and Dropout do in training ([`Mode::TRAIN`], as
    /// PyTorch's `train()`: batch statistics, running statistics updated
    /// after every step, random dropout). [`Mode::FINE_TUNE`] keeps
    /// BatchNorm's running statistics frozen; [`Mode::EVAL`] also turns
    /// Dropout off. Every batch runs layer-major (each layer over the
    /// whole batch); with batch statistics a model with BatchNorm trains on
    /// one thread whatever `threads` says (each thread's part of a batch
    /// would have other statistics than the whole batch). Evaluation,
    /// validation and `predict` always run in eval mode.
    pub mode: Mode,
}

// Written out rather than derived: a derive would require `X: Copy` and
// `Y: Copy`, but only references to them are held.
impl<X, Y> Clone for Validation<'_, X, Y> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<X, Y> Copy for Validation<'_, X, Y> {}
impl<X, Y> Clone for FitConfig<'_, X, Y> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<X, Y> Copy for FitConfig<'_, X, Y> {}

impl<X, Y> Default for FitConfig<'_, X, Y> {
    fn default() -> Self {
        FitConfig {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            validation: Validation::None,
            verbose: 1,
            threads: 1,
            clip: Clip::None,
            early_stopping: None,
            schedule: Schedule::Constant,
            reduce_lr_on_plateau: None,
            checkpoint: None,
            sample_weight: None,
            frozen: &[],
            mode: Mode::TRAIN,
        }
    }
}

/// Per-epoch results of [`fit`] (Keras' `History.history`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The metric's name (`accuracy`), `None` without a metric.
    pub metric_name: Option<&'static str>,
    /// Mean training loss of each epoch (over its batches, as the weights
    /// changed, as Keras reports it).
    pub loss: Vec<f64>,
    /// Mean training metric of each epoch (empty without a metric).
    pub metric: Vec<f64>,
    /// Validation loss after each epoch (empty without validation).
    pub val_loss: Vec<f64>,
    /// Validation metric after each epoch (empty without validation or
    /// metric).
    pub val_metric: Vec<f64>,
    /// The learning rate of each epoch (empty with [`Schedule::Constant`]
    /// and no [`ReduceLrOnPlateau`]).
    pub lr: Vec<f64>,
    /// The 1-based epochs after which a [`Checkpoint`] was written.
    pub saved: Vec<usize>,
    /// The 1-based epoch after which [`EarlyStopping`] stopped training.
    pub stopped_epoch: Option<usize>,
    /// The 1-based epoch whose monitored value was the best (with
    /// [`EarlyStopping`]); with `restore_best_weights` the model holds its
    /// weights.
    pub best_epoch: Option<usize>,
}

/// The result of [`evaluate`]; `Display` prints it as Keras does
/// (`loss: 0.6931 - accuracy: 0.5000`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss over the samples.
    pub loss: f64,
    /// Mean metric score, with the metric's name.
    pub metric: Option<(&'static str, f64)>,
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loss: {}", Num(self.loss))?;
        if let Some((name, v)) = self.metric {
            write!(f, " - {name}: {}", Num(v))?;
        }
        Ok(())
    }
}

/// A value as Keras' progress bar prints it: 4 decimals, or scientific
/// notation at or below 1e-3.
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.abs() > 1e-3 || !self.0.is_finite() {
            write!(f, "{:.4}", self.0)
        } else {
            write!(f, "{:.4e}", self.0)
        }
    }
}

/// Trains `model` on `x`, `y` as Keras' `Model.fit` does: each epoch
/// shuffles the training samples (a Fisher–Yates shuffle seeded by
/// `config.seed`), runs one step per batch of `batch_size` (the last,
/// partial batch kept), then evaluates the validation data. Returns the
/// [`History`]. Each step is layer-major
/// ([`accumulate_layers`]: every layer
/// over the whole batch before the next) in [`FitConfig::mode`], PyTorch's
/// `train()` by default: BatchNorm normalises with the batch's statistics
/// and its running statistics move after each successful step, Dropout
/// drops.
///
/// Errors, before any training (nothing is changed): `x` and `y` differ in
/// length, no samples, a loss that does not fit the model's last activation
/// ([`check_fit`]), an optimizer hyperparameter
/// out of range ([`Optimizer::validate`]), `epochs`, `batch_size` or
/// `threads` 0, `verbose` above 2, a validation split outside `(0, 1)` or
/// one that leaves either part empty, a NaN or infinite input
/// ([`TrainError::NonFiniteInput`] with its index in `x`, or in the
/// validation data), a `sample_weight` of another length or with a
/// negative or non-finite weight, a bad [`ReduceLrOnPlateau`] (or one
/// combined with a [`Schedule`]), a callback monitoring a value `fit` will
/// not have (a validation value without validation data, the metric with
/// `NoMetric`), an empty checkpoint path, or a `frozen` name that is no
/// layer with parameters. During training: a target that does not fit, a
/// learning rate changed to a bad value, a batch of one sample through a
/// BatchNorm on a vector with batch statistics (PyTorch refuses it too;
/// choose a `batch_size` that leaves no last batch of one), or a non-finite
/// loss or gradient
/// ([`TrainError::NonFinite`] with the epoch and batch), which stops `fit`
/// with the weights and optimizer state of the last good step; a
/// checkpoint that cannot be written ([`TrainError::Checkpoint`]), which
/// stops it after that epoch.
pub fn fit<T, M, O, L, A, Y>(
    model: &mut M,
    optimizer: &mut O,
    loss: &L,
    metric: &A,
    x: &[M::Input],
    y: &[Y],
    config: &FitConfig<'_, M::Input, Y>,
) -> Result<History, TrainError>
where
    T: Float,
    M: Train<T> + Zeroable + Send + Sync,
    M::Tape: Send,
    M::Input: Sync,
    O: Optimizer<T, M> + ?Sized,
    L: Loss<T, Y> + Sync + ?Sized,
    A: Metric<T, Y> + Sync + ?Sized,
    Y: Sync,
{
    let live = config.verbose == 1 && std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    fit_to(model, optimizer, loss, metric, x, y, config, &mut out, live)
}

/// [`fit`] writing its progress to `out` (`live`: redraw a progress bar
/// while each epoch runs, as on a terminal).
#[allow(clippy::too_many_arguments)]
pub fn fit_to<T, M, O, L, A, Y>(
    model: &mut M,
    optimizer: &mut O,
    loss: &L,
    metric: &A,
    x: &[M::Input],
    y: &[Y],
    config: &FitConfig<'_, M::Input, Y>,
    out: &mut dyn Write,
    live: bool,
) -> Result<History, TrainError>
where
    T: Float,
    M: Train<T> + Zeroable + Send + Sync,
    M::Tape: Send,
    M::Input: Sync,
    O: Optimizer<T, M> + ?Sized,
    L: Loss<T, Y> + Sync + ?Sized,
    A: Metric<T, Y> + Sync + ?Sized,
    Y: Sync,
{
    // Everything is checked before the first step: a bad value is an
    // error that changes nothing.
    check_lengths(x.len(), y.len())?;
    check_fit::<T, M, L, Y>(loss)?;
    optimizer.validate()?;
    if config.epochs == 0 {
        return Err(TrainError::Config("epochs must be at least 1"));
    }
    if config.batch_size == 0 {
        return Err(TrainError::Config("batch_size must be at least 1"));
    }
    if config.threads == 0 {
        return Err(TrainError::Config("threads must be at least 1"));
    }
    config.clip.validate()?;
    config.schedule.validate()?;
    let has_metric = A::NAME.is_some();
    if let Some(es) = config.early_stopping {
        if !(es.min_delta.is_finite() && es.min_delta >= 0.0) {
            return Err(TrainError::Config(
                "early_stopping.min_delta must be finite and >= 0",
            ));
        }
        es.monitor.check(
            &config.validation,
            has_metric,
            [
                "early_stopping monitors a validation value, but there is no validation data",
                "early_stopping monitors the metric, but fit was given NoMetric",
            ],
        )?;
    }
    if let Some(p) = config.reduce_lr_on_plateau {
        p.validate()?;
        if config.schedule != Schedule::Constant {
            return Err(TrainError::Config(
                "reduce_lr_on_plateau cannot be combined with a schedule: use one of them",
            ));
        }
        p.monitor.check(
            &config.validation,
            has_metric,
            [
                "reduce_lr_on_plateau monitors a validation value, but there is no validation data",
                "reduce_lr_on_plateau monitors the metric, but fit was given NoMetric",
            ],
        )?;
    }
    if let Some(c) = config.checkpoint {
        if c.path.is_empty() {
            return Err(TrainError::Config("checkpoint.path is empty"));
        }
        if c.save_best_only {
            c.monitor.check(
                &config.validation,
                has_metric,
                [
                    "checkpoint monitors a validation value, but there is no validation data",
                    "checkpoint monitors the metric, but fit was given NoMetric",
                ],
            )?;
        }
    }
    if let Some(w) = config.sample_weight {
        if w.len() != x.len() {
            return Err(TrainError::Config(
                "sample_weight must hold one weight per sample of x",
            ));
        }
        if !w.iter().all(|w| w.is_finite() && *w >= 0.0) {
            return Err(TrainError::Config(
                "sample_weight: every weight must be finite and >= 0",
            ));
        }
    }
    // Which parameter tensors are frozen (the DSL's `trainable = false`
    // and `config.frozen`); `None`, at no cost, when none is.
    let frozen: Option<Vec<bool>> = if M::FROZEN_LAYERS.is_empty() && config.frozen.is_empty() {
        None
    } else {
        let mut mask = vec![false; M::TENSORS];
        frozen_mask::<T, M>(&*model, config.frozen, &mut mask)?;
        Some(mask)
    };
    if config.verbose > 2 {
        return Err(TrainError::Config("verbose must be 0, 1 or 2"));
    }
    for (index, x) in x.iter().enumerate() {
        check_input(x, index)?;
    }
    if let Validation::Data(vx, _) = config.validation {
        for (index, x) in vx.iter().enumerate() {
            check_input(x, index).map_err(|_| TrainError::NonFiniteInput {
                index,
                validation: true,
            })?;
        }
    }
    let (train, val): Split<'_, M::Input, Y> = match config.validation {
        Validation::None => ((x, y, config.sample_weight), None),
        Validation::Split(f) => {
            if !(f > 0.0 && f < 1.0) {
                return Err(TrainError::Config(
                    "validation_split must be in (0, 1); use Validation::None for none",
                ));
            }
            // Keras: split_at = floor(n · (1 − split)), the last part validates.
            let split_at = (x.len() as f64 * (1.0 - f)).floor() as usize;
            if split_at == 0 || split_at >= x.len() {
                return Err(TrainError::Config(
                    "validation_split leaves no training or no validation samples",
                ));
            }
            let (tx, vx) = x.split_at(split_at);
            let (ty, vy) = y.split_at(split_at);
            let (tw, vw) = match config.sample_weight {
                Some(w) => {
                    let (a, b) = w.split_at(split_at);
                    (Some(a), Some(b))
                }
                None => (None, None),
            };
            ((tx, ty, tw), Some((vx, vy, vw)))
        }
        Validation::Data(vx, vy) => {
            check_lengths(vx.len(), vy.len())?;
            ((x, y, config.sample_weight), Some((vx, vy, None)))
        }
    };
    let (train_x, train_y, train_w) = train;

    let n = train_x.len();
    let bs = config.batch_size;
    let steps = n.div_ceil(bs);
    // A batch whose samples depend on each other (BatchNorm with batch
    // statistics) is never split: its statistics are the whole batch's,
    // as PyTorch computes them, so it runs on one thread.
    let workers = if M::BATCH_DEPENDENT && config.mode.batch_statistics() {
        1
    } else {
        config.threads.min(bs).max(1)
    };
    // The metric's sums (one, its score, for a mean metric; more for a
    // stateful one), per batch and per worker.
    let stats_len = if has_metric {
        metric.stats_len(<M::Output as Tensor<T>>::CLASSES).max(1)
    } else {
        0
    };
    // Every worker's gradient, the calling thread's first, each made on the
    // heap directly (a `Box::new(M::zeros())` is built on the stack first
    // in a debug build, and overflows it for a large model). A worker
    // writes its own while it runs its part of a batch; then they are
    // read together, to be summed (the locks are never contended: the
    // phases follow each other by the mailboxes).
    let grads: Vec<RwLock<Box<M>>> = (0..workers)
        .map(|_| RwLock::new(M::boxed_zeroed()))
        .collect();
    // On two threads, the update split between them, each updating its
    // range of the parameters, where the optimizer is a rule per value and
    // nothing needs the whole gradient at once (clipping by norm) or skips
    // tensors (frozen layers): see `split_update`. (With more helpers each
    // would need every other's range after each step; they share the
    // model and the calling thread updates it alone.)
    let rule = optimizer
        .elementwise()
        .filter(|e| e.states <= MAX_STATES)
        .filter(|_| {
            workers == 2 && frozen.is_none() && config.clip == Clip::None && M::PARAMS >= MIN_SPLIT
        });
    let lens: Vec<usize> = {
        let g = read(&grads[0]);
        (0..M::TENSORS).map(|i| g.tensor(i).len()).collect()
    };
    let total: usize = lens.iter().sum();
    let ranges: Vec<Range<usize>> = (0..workers)
        .map(|w| w * total / workers..(w + 1) * total / workers)
        .collect();
    // The helpers' ranges of the optimizer's state, moved to them for the
    // whole `fit` (and back into the optimizer after it, however it ends).
    let shards: Vec<Mutex<Shard<T>>> = match rule {
        Some(rule) => ranges[1..]
            .iter()
            .map(|r| Mutex::new(Shard::take(&mut *optimizer, &lens, r.clone(), rule.states)))
            .collect(),
        None => Vec::new(),
    };
    // The calling thread's range of the mean gradient, and the buffers its
    // range's and the helper's range's new weights cross in.
    let mut own_mean: Vec<T> = vec![T::zero(); ranges[0].len()];
    let mut new_weights: [Option<Vec<T>>; 2] = [
        Some(Vec::with_capacity(ranges[0].len())),
        Some(Vec::with_capacity(total - ranges[0].len())),
    ];
    // The helper's own copy of the model (its range stays on its core: it
    // updates it there, and only the other range crosses, once a step).
    let mut replica: Option<Box<M>> = rule.map(|_| copy_of(&*model));
    // Dropout's generators: one per thread, seeded from the shuffle's
    // seed (but not the shuffle's generator, so the batches are those of
    // a model without Dropout).
    let dropout_seed = |worker: u64| config.seed ^ 0xD50F_0A7E_5EED_0000 ^ worker;
    // The calling thread is worker 0: a whole batch on one thread, or the
    // first part of a split one (generator 1 then, as worker 0 always had).
    let mut memory = Memory::<T, M, Y>::new(bs, dropout_seed(u64::from(workers > 1)));
    // Helper `w`'s metric sums and sample indices, lent to it with each job
    // and given back with its result (moved, never copied); its tapes stay
    // on its thread for the whole `fit`.
    let mut lent: Vec<Option<Job>> = (1..workers)
        .map(|_| {
            Some(Job {
                idx: Vec::with_capacity(bs),
                stats: vec![0.0; stats_len],
            })
        })
        .collect();
    let mode = config.mode;
    // One worker's part of a batch: its samples' gradients added into
    // `grads` (zeroed first), their metric sums into `stats`. Nothing is
    // allocated: the batch's references, weights and outputs are in
    // `memory`'s vectors, made for a whole batch.
    let step = step_fn::<T, M, Y, _>(|model, grads, memory, stats, idx| {
        M::zero_grads(grads);
        stats.fill(0.0);
        memory.xs.clear();
        memory.xs.extend(idx.iter().map(|&i| &train_x[i]));
        memory.ys.clear();
        memory.ys.extend(idx.iter().map(|&i| &train_y[i]));
        memory.weights.clear();
        if let Some(w) = train_w {
            memory.weights.extend(idx.iter().map(|&i| w[i]));
        }
        memory.outs.resize(idx.len(), M::Output::zeros());
        let work = Workspace {
            tapes: &mut memory.tapes,
            scratch: &mut memory.scratch,
            outs: &mut memory.outs,
            mode,
            rng: &mut memory.rng,
        };
        let batch = LayerBatch {
            xs: &memory.xs,
            ys: &memory.ys,
            weights: train_w.map(|_| &memory.weights[..]),
        };
        accumulate_layers(model, grads, work, loss, metric, batch, stats)
    });
    let mut batch_stats = vec![0.0f64; stats_len];
    let mut epoch_stats = vec![0.0f64; stats_len];
    let mut rng = Rng::new(config.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut history = History {
        metric_name: A::NAME,
        ..History::default()
    };
    let verbose = config.verbose > 0;

    let lr0 = optimizer.learning_rate();
    // Early stopping's state: the best value, its epoch, the epochs
    // since, and the best weights (only with restore_best_weights).
    let mut best = f64::NAN;
    let mut wait = 0usize;
    let mut best_weights: Option<Box<M>> = None;
    let mut plateau = config
        .reduce_lr_on_plateau
        .map(|p| Plateau::new(p, p.monitor.maximise::<T, Y, A>()));
    let mut checkpoint_best = f64::NAN;

    // The helpers live for the whole `fit`: each waits for its part of a
    // batch, runs it against the model (read-shared with the calling
    // thread's part), and hands its gradient back; between batches the
    // calling thread alone holds the model to update it (the lock is never
    // contended: the phases follow each other by the mailboxes).
    let shared = RwLock::new(model);
    // One mailbox each way per helper; `busy` says the calling thread is
    // running batches (so a helper waiting for its next part spins rather
    // than sleeps: see `Mailbox::take`).
    let job_boxes: Vec<Mailbox<Order<T>>> = (1..workers).map(|_| Mailbox::new()).collect();
    let done_boxes: Vec<Mailbox<Reply<T>>> = (1..workers).map(|_| Mailbox::new()).collect();
    let busy = AtomicBool::new(false);
    // Helper `w` is running its part of the batch (between taking the job
    // and handing the result in).
    let working: Vec<AtomicBool> = (1..workers).map(|_| AtomicBool::new(false)).collect();
    let trained = std::thread::scope(|s| -> Result<(), TrainError> {
        // Closes the job mailboxes however this closure ends (an error
        // returns early), so every helper stops and the scope can join it.
        let _close = CloseOnDrop(&job_boxes);
        for (w, ((jobs, done), working)) in
            job_boxes.iter().zip(&done_boxes).zip(&working).enumerate()
        {
            let (shared, step, flags) = (&shared, &step, [&busy, working]);
            let (cap, seed) = (bs.div_ceil(workers), dropout_seed(w as u64 + 2));
            let range = HelperRange {
                me: w + 1,
                grads: &grads,
                lens: &lens,
                range: ranges[w + 1].clone(),
                rule,
                shard: shards.get(w),
                replica: replica.take(),
            };
            s.spawn(move || helper(shared, step, jobs, done, flags, range, cap, seed));
        }
        for epoch in 1..=config.epochs {
            if config.schedule != Schedule::Constant {
                let lr = config.schedule.lr(lr0, epoch - 1);
                optimizer.set_learning_rate(lr);
                history.lr.push(lr);
            } else if plateau.is_some() {
                history.lr.push(optimizer.learning_rate());
            }
            if verbose {
                let _ = writeln!(out, "Epoch {epoch}/{}", config.epochs);
            }
            for (i, o) in order.iter_mut().enumerate() {
                *o = i;
            }
            if config.shuffle {
                shuffle(&mut order, &mut rng);
            }
            let start = Instant::now();
            busy.store(true, Ordering::Relaxed);
            let mut last_draw: Option<Instant> = None;
            let (mut loss_sum, mut seen) = (0.0f64, 0usize);
            epoch_stats.fill(0.0);
            for (b, batch) in order.chunks(bs).enumerate() {
                // Worker 0 (this thread) takes the first part of the batch,
                // helper w the part w + 1 (the parts of `chunks`, so a batch
                // splits as it always did).
                let chunk = batch.len().div_ceil(workers);
                let mut parts = batch.chunks(chunk);
                let own = parts.next().unwrap_or(&[]);
                let mut asked = 0;
                let mut lost = false;
                let sent = Instant::now();
                if batch.len() >= 2 {
                    for ((jobs, slot), idx) in job_boxes.iter().zip(lent.iter_mut()).zip(parts) {
                        if let Some(mut job) = slot.take() {
                            job.idx.clear();
                            job.idx.extend_from_slice(idx);
                            // A closed mailbox: the helper has ended (a
                            // panic outside its step).
                            lost |= !jobs.put(Order::Part(job));
                            asked += 1;
                        }
                    }
                }
                let own = if asked == 0 { batch } else { own };
                let result = step(
                    &read(&shared),
                    &mut write(&grads[0]),
                    &mut memory,
                    &mut batch_stats,
                    own,
                );
                let own_done = Instant::now();
                // The helpers' results, added in worker order (a fixed order:
                // every run with these threads gives the same bits).
                let mut result = result;
                let mut helper_times = None;
                if !lost {
                    for ((slot, done), working) in
                        lent.iter_mut().zip(&done_boxes).zip(&working).take(asked)
                    {
                        // Spin while the helper says it is running its
                        // part, else let it have this core.
                        let Some(Reply::Part(d)) = done.take(&|| spin_while(working)) else {
                            break;
                        };
                        helper_times.get_or_insert((d.started, d.finished));
                        result = match (result, d.result) {
                            (Ok(mut sums), Ok(s)) => {
                                sums.add(&s);
                                for (a, v) in batch_stats.iter_mut().zip(&d.job.stats) {
                                    *a += v;
                                }
                                Ok(sums)
                            }
                            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                        };
                        *slot = Some(d.job);
                    }
                }
                let all_seen = Instant::now();
                if lent.iter().take(asked).any(Option::is_none) {
                    result = Err(TrainError::Config("a training thread panicked"));
                }
                let applied = result.and_then(|sums| match rule {
                    Some(rule) => {
                        let helpers = Helpers {
                            orders: &job_boxes,
                            replies: &done_boxes,
                            working: &working,
                        };
                        let own = OwnRange {
                            mean: &mut own_mean,
                            lens: &lens,
                            ranges: &ranges,
                            new_weights: &mut new_weights,
                        };
                        let gradients = &grads[..=asked];
                        split_update(
                            &shared,
                            gradients,
                            helpers,
                            own,
                            &mut *optimizer,
                            rule,
                            &sums,
                        )
                        .map(|mean| (mean, sums))
                    }
                    None => {
                        let mut guard = write(&shared);
                        let model: &mut M = &mut guard;
                        // The helpers' gradients are added into this
                        // thread's in the pass that takes the mean.
                        let (own, rest) = grads.split_at(1);
                        let parts: Vec<RwLockReadGuard<'_, Box<M>>> =
                            rest.iter().take(asked).map(read).collect();
                        let parts: Vec<&M> = parts.iter().map(|g| &***g).collect();
                        apply_mean_parts(
                            model,
                            &mut write(&own[0]),
                            &parts,
                            &mut *optimizer,
                            &sums,
                            config.clip,
                            frozen.as_deref(),
                        )
                        .map(|mean| (mean, sums))
                    }
                });
                let mut guard = write(&shared);
                let model: &mut M = &mut guard;
                // (On one thread the helper's stamps are the calling
                // thread's own.)
                let (started, finished) = helper_times.unwrap_or((sent, own_done));
                probe::record(probe::Batch {
                    sent,
                    started,
                    finished,
                    own_done,
                    seen: all_seen,
                    applied: Instant::now(),
                });
                let (mean, sums) = match applied {
                    Ok(v) => {
                        // The step succeeded: BatchNorm's running statistics
                        // move towards the batch's (one thread, see `workers`).
                        if let Some(tape) = memory.tapes.first() {
                            model.update_running_stats(tape);
                        }
                        v
                    }
                    Err(e) => {
                        if live {
                            let _ = writeln!(out);
                        }
                        return Err(match e {
                            TrainError::NonFinite { what, .. } => TrainError::NonFinite {
                                what,
                                at: Some((epoch, b + 1)),
                            },
                            e => e,
                        });
                    }
                };
                loss_sum += mean.to_f64() * sums.n as f64;
                for (a, v) in epoch_stats.iter_mut().zip(&batch_stats) {
                    *a += v;
                }
                seen += sums.n;
                let done = b + 1;
                if live
                    && done < steps
                    && last_draw.is_none_or(|t| t.elapsed() >= Duration::from_millis(50))
                {
                    last_draw = Some(Instant::now());
                    let elapsed = start.elapsed().as_secs_f64();
                    let eta = elapsed / done as f64 * (steps - done) as f64;
                    let _ = write!(out, "\r{} - ETA: {}", bar(done, steps), Eta(eta));
                    let _ = write_values(
                        out,
                        "",
                        loss_sum / seen as f64,
                        A::NAME.map(|m| (m, metric.finish(&epoch_stats, seen))),
                    );
                    let _ = out.flush();
                }
            }
            busy.store(false, Ordering::Relaxed);
            let mut guard = write(&shared);
            let model: &mut M = &mut guard;
            let elapsed = start.elapsed().as_secs_f64();
            let epoch_loss = loss_sum / seen as f64;
            let epoch_metric = A::NAME.map(|m| (m, metric.finish(&epoch_stats, seen)));
            history.loss.push(epoch_loss);
            if let Some((_, v)) = epoch_metric {
                history.metric.push(v);
            }
            let val_eval = match val {
                Some((vx, vy, vw)) => Some(evaluate_with(&*model, loss, metric, vx, vy, vw)?),
                None => None,
            };
            if let Some(e) = val_eval {
                history.val_loss.push(e.loss);
                if let Some((_, v)) = e.metric {
                    history.val_metric.push(v);
                }
            }
            if verbose {
                if live {
                    // Clear the live line (it may be longer than the final one).
                    let _ = write!(out, "\r\x1b[2K");
                }
                if config.verbose == 1 {
                    let _ = write!(out, "{} - ", bar(steps, steps));
                } else {
                    let _ = write!(out, "{steps}/{steps} - ");
                }
                let _ = write!(out, "{:.0}s {}", elapsed, PerStep(elapsed / steps as f64));
                let _ = write_values(out, "", epoch_loss, epoch_metric);
                if let Some(e) = val_eval {
                    let _ = write_values(out, "val_", e.loss, e.metric);
                }
                let _ = writeln!(out);
                let _ = out.flush();
            }
            let epoch_metric = epoch_metric.map(|(_, v)| v);
            if let (Some(p), Some(state)) = (config.reduce_lr_on_plateau, plateau.as_mut()) {
                if let Some(current) = p.monitor.value(epoch_loss, epoch_metric, val_eval) {
                    let lr = optimizer.learning_rate();
                    let next = state.step(current, lr);
                    if next != lr {
                        optimizer.set_learning_rate(next);
                        if verbose {
                            let _ = writeln!(
                            out,
                            "Epoch {epoch}: ReduceLROnPlateau reducing learning rate to {next}."
                        );
                        }
                    }
                }
            }
            if let Some(c) = config.checkpoint {
                let save = if c.save_best_only {
                    match c.monitor.value(epoch_loss, epoch_metric, val_eval) {
                        Some(current) => {
                            let better = checkpoint_best.is_nan()
                                || if c.monitor.maximise::<T, Y, A>() {
                                    current > checkpoint_best
                                } else {
                                    current < checkpoint_best
                                };
                            if better {
                                checkpoint_best = current;
                            }
                            better && current.is_finite()
                        }
                        None => false,
                    }
                } else {
                    true
                };
                if save {
                    let file = Checkpoint::file_name(c.path, epoch);
                    if let Err(e) = model.save(&file) {
                        if verbose {
                            let _ = writeln!(out, "Epoch {epoch}: checkpoint not written: {e}");
                        }
                        return Err(TrainError::Checkpoint { epoch });
                    }
                    history.saved.push(epoch);
                    if verbose {
                        let _ = writeln!(out, "Epoch {epoch}: saving model to {file}");
                    }
                }
            }
            if let Some(es) = config.early_stopping {
                let e = epoch - 1; // Keras counts epochs from 0 here
                let current = es.monitor.value(epoch_loss, epoch_metric, val_eval);
                if let (Some(current), true) = (current, e >= es.start_from_epoch) {
                    if es.restore_best_weights && best_weights.is_none() {
                        best_weights = Some(copy_of(model));
                    }
                    wait += 1;
                    let improved = if best.is_nan() {
                        true
                    } else if es.monitor.maximise::<T, Y, A>() {
                        current - es.min_delta > best
                    } else {
                        current + es.min_delta < best
                    };
                    if improved {
                        best = current;
                        history.best_epoch = Some(epoch);
                        if let Some(b) = best_weights.as_deref_mut() {
                            copy_into(b, model);
                        }
                        wait = 0;
                    } else if wait >= es.patience && e > 0 {
                        history.stopped_epoch = Some(epoch);
                        if verbose {
                            let _ = writeln!(out, "Epoch {epoch}: early stopping");
                        }
                        break;
                    }
                }
            }
        }
        Ok(())
    });
    let model = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Some(rule) = rule {
        for (shard, r) in shards.into_iter().zip(&ranges[1..]) {
            let shard = shard.into_inner().unwrap_or_else(PoisonError::into_inner);
            shard.give_back(&mut *optimizer, &lens, r.clone(), rule.states);
        }
    }
    trained?;
    if let Some(b) = best_weights {
        if verbose {
            if let Some(e) = history.best_epoch {
                let _ = writeln!(
                    out,
                    "Restoring model weights from the end of the best epoch: {e}."
                );
            }
        }
        copy_into(model, &b);
    }
    Ok(history)
}

/// A copy of `m`'s parameters on the heap (no `Clone` bound, nothing on
/// the stack).
fn copy_of<T: Float, M: Model<T> + Zeroable>(m: &M) -> Box<M> {
    let mut b = M::boxed_zeroed();
    copy_into(&mut *b, m);
    b
}

/// Copies every parameter tensor and every buffer of `from` into `to`
/// (BatchNorm's running statistics belong to the weights an early stop
/// restores: they were trained with them).
fn copy_into<T: Float, M: Model<T>>(to: &mut M, from: &M) {
    for i in 0..M::TENSORS {
        to.tensor_mut(i).copy_from_slice(from.tensor(i));
    }
    let (mut values, mut counts) = (Vec::new(), Vec::new());
    from.visit_buffers(&mut |b| match b {
        crate::Buffer::Values(p) => values.push(p.iter().collect::<Vec<T>>()),
        crate::Buffer::Count { value, .. } => counts.push(*value),
    });
    let (mut values, mut counts) = (values.into_iter(), counts.into_iter());
    to.visit_buffers_mut(&mut |b| match b {
        crate::BufferMut::Values(mut p) => {
            if let Some(v) = values.next() {
                // Same model type: the lengths agree.
                let _ = p.copy_from(&v);
            }
        }
        crate::BufferMut::Count { value, .. } => {
            if let Some(c) = counts.next() {
                *value = c;
            }
        }
    });
}

/// Inputs, targets and sample weights of one part of the data.
type Part<'x, X, Y> = (&'x [X], &'x [Y], Option<&'x [f64]>);
/// The training part and the validation part (if any).
type Split<'x, X, Y> = (Part<'x, X, Y>, Option<Part<'x, X, Y>>);
/// A helper's part of a batch: the indices of its samples, and the metric
/// sums to add them into (zeroed by the helper; its gradient is its own
/// entry of `fit`'s gradients); the calling thread keeps it between
/// batches.
struct Job {
    idx: Vec<usize>,
    stats: Vec<f64>,
}

/// A helper's finished part: its sums, and its job's buffers given back.
struct Done<T> {
    /// When the helper took the job and when it finished it ([`probe`]).
    started: Instant,
    finished: Instant,
    result: Result<BatchSums<T>, TrainError>,
    job: Job,
}

/// What the calling thread asks a helper to do.
enum Order<T> {
    /// Its part of a batch.
    Part(Job),
    /// The mean of the first `parts` gradients over its range of the
    /// parameters (times `inv`): [`Reply::Mean`].
    Mean { inv: T, parts: usize },
    /// One step of the optimizer's rule on its range of its copy of the
    /// model, with these constants; its new weights into `weights`:
    /// [`Reply::Updated`].
    Update {
        constants: StepConstants<T>,
        weights: Vec<T>,
    },
    /// The calling thread's range's new weights, for its copy of the
    /// model: [`Reply::Copied`].
    Weights(Vec<T>),
}

/// A helper's answer to an [`Order`].
enum Reply<T> {
    Part(Done<T>),
    /// The sum of its range's mean gradient times 0 (0: all finite).
    Mean(T),
    /// Its range's new weights.
    Updated(Vec<T>),
    /// The buffer of [`Order::Weights`], given back.
    Copied(Vec<T>),
}

/// Models with fewer parameters update on the calling thread alone: two
/// more hand-offs per batch (~1 µs) cost more than half their update.
const MIN_SPLIT: usize = 4096;

/// The `(tensor, start, end)` pieces of the tensors (of lengths `lens`, in
/// order, as one flat vector) that the flat range `r` covers.
fn segments(lens: &[usize], r: Range<usize>) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut start = 0;
    lens.iter().enumerate().filter_map(move |(i, &len)| {
        let (a, b) = (start, start + len);
        start = b;
        let (lo, hi) = (r.start.max(a), r.end.min(b));
        (lo < hi).then(|| (i, lo - a, hi - a))
    })
}

/// A helper's range of an [`Elementwise`] optimizer's state (each of
/// `states` arrays as long as the range), and of the mean gradient.
struct Shard<T> {
    states: [Vec<T>; MAX_STATES],
    mean: Vec<T>,
}

impl<T: Float> Shard<T> {
    /// The range `r` of `optimizer`'s state.
    fn take<M: Model<T>, O: Optimizer<T, M> + ?Sized>(
        optimizer: &mut O,
        lens: &[usize],
        r: Range<usize>,
        states: usize,
    ) -> Self {
        let mut shard = Shard {
            states: Default::default(),
            mean: vec![T::zero(); r.len()],
        };
        for (i, lo, hi) in segments(lens, r) {
            let from = optimizer.state_tensors_mut(i);
            for (to, from) in shard.states.iter_mut().zip(from).take(states) {
                to.extend_from_slice(from.get(lo..hi).unwrap_or(&[]));
            }
        }
        shard
    }

    /// Writes the shard back into the range `r` of `optimizer`'s state.
    fn give_back<M: Model<T>, O: Optimizer<T, M> + ?Sized>(
        &self,
        optimizer: &mut O,
        lens: &[usize],
        r: Range<usize>,
        states: usize,
    ) {
        let mut at = 0;
        for (i, lo, hi) in segments(lens, r) {
            let to = optimizer.state_tensors_mut(i);
            for (to, from) in to.into_iter().zip(&self.states).take(states) {
                if let (Some(to), Some(from)) = (to.get_mut(lo..hi), from.get(at..at + hi - lo)) {
                    to.copy_from_slice(from);
                }
            }
            at += hi - lo;
        }
    }
}

/// What a helper needs to update its range of the parameters.
struct HelperRange<'a, T, M> {
    /// Its index in `grads` (the calling thread is 0).
    me: usize,
    grads: &'a [RwLock<Box<M>>],
    lens: &'a [usize],
    range: Range<usize>,
    /// The optimizer's rule, if the update is split.
    rule: Option<Elementwise<T>>,
    shard: Option<&'a Mutex<Shard<T>>>,
    /// Its own copy of the model, kept equal to the calling thread's after
    /// every step, if the update is split; else it reads the shared one.
    replica: Option<Box<M>>,
}

/// The helpers' mailboxes, for [`split_update`].
struct Helpers<'a, T> {
    orders: &'a [Mailbox<Order<T>>],
    replies: &'a [Mailbox<Reply<T>>],
    working: &'a [AtomicBool],
}

/// The calling thread's side of [`split_update`]: its range's mean
/// gradient, both workers' ranges, and the buffers the new weights of its
/// range and of the helper's cross in.
struct OwnRange<'a, T> {
    mean: &'a mut [T],
    lens: &'a [usize],
    ranges: &'a [Range<usize>],
    new_weights: &'a mut [Option<Vec<T>>; 2],
}

/// `s[lo..hi]`, or an empty slice where `s` is shorter.
fn range_of<T>(s: &mut [T], lo: usize, hi: usize) -> &mut [T] {
    if hi <= s.len() {
        &mut s[lo..hi]
    } else {
        &mut []
    }
}

/// How the calling thread waits for a helper: spinning while the helper
/// says it is running, else yielding to it.
fn spin_while(working: &AtomicBool) -> Wait {
    if working.load(Ordering::Relaxed) {
        Wait::Spin
    } else {
        Wait::Yield
    }
}

/// [`apply_mean_parts`] with no clipping and nothing frozen, split across
/// the threads: each worker takes the mean of the `gradients` over its
/// range of the parameters (added in worker order: the same bits) and
/// checks it, and once every range is finite each updates its range with
/// the optimizer's [`Elementwise`] rule (its state for the range: the
/// optimizer's own on this thread, the helper's [`Shard`] on a helper).
/// The helpers compute their new weights into buffers this thread copies
/// into the model. The same errors as [`apply_mean_parts`], in the same
/// order, with the model and the optimizer unchanged; a helper lost on the
/// way (a panic outside its part, not expected) is an error too, after
/// which its range may be a step behind.
fn split_update<T: Float, M: Model<T>, O: Optimizer<T, M> + ?Sized>(
    shared: &RwLock<&mut M>,
    gradients: &[RwLock<Box<M>>],
    helpers: Helpers<'_, T>,
    own: OwnRange<'_, T>,
    optimizer: &mut O,
    rule: Elementwise<T>,
    sums: &BatchSums<T>,
) -> Result<T, TrainError> {
    let lost = TrainError::Config("a training thread panicked");
    let (inv, mean) = mean_loss(optimizer, sums)?;
    let (Some(orders), Some(replies), Some(working)) = (
        helpers.orders.first(),
        helpers.replies.first(),
        helpers.working.first(),
    ) else {
        return Err(lost);
    };
    let take = || replies.take(&|| spin_while(working));
    // The helper's range's mean, while this thread takes its own.
    let mut ok = orders.put(Order::Mean {
        inv,
        parts: gradients.len(),
    });
    let mut zero = T::zero();
    {
        let guards: Vec<RwLockReadGuard<'_, Box<M>>> = gradients.iter().map(read).collect();
        let gs: Vec<&M> = guards.iter().map(|g| &***g).collect();
        let mut at = 0;
        for (i, lo, hi) in segments(own.lens, own.ranges[0].clone()) {
            if let Some(out) = own.mean.get_mut(at..at + hi - lo) {
                zero += mean_range(out, &gs, i, lo, inv);
            }
            at += hi - lo;
        }
    }
    match take() {
        Some(Reply::Mean(z)) if ok => zero += z,
        _ => ok = false,
    }
    if !ok {
        return Err(lost);
    }
    if zero != T::zero() {
        return Err(TrainError::NonFinite {
            what: "gradient",
            at: None,
        });
    }
    // Every range is finite: both update theirs.
    let constants = optimizer.begin_elementwise();
    let [mine, theirs] = own.new_weights;
    ok &= orders.put(Order::Update {
        constants,
        weights: theirs.take().unwrap_or_default(),
    });
    let mut guard = write(shared);
    let model: &mut M = &mut guard;
    let mut new = mine.take().unwrap_or_default();
    new.clear();
    let mut at = 0;
    for (i, lo, hi) in segments(own.lens, own.ranges[0].clone()) {
        let n = hi - lo;
        let [a, b, c] = optimizer.state_tensors_mut(i);
        // The rule's unused states are empty.
        let (a, b, c) = (
            range_of(a, lo, hi),
            range_of(b, lo, hi),
            range_of(c, lo, hi),
        );
        if let (Some(p), Some(g)) = (
            model.tensor_mut(i).get_mut(lo..hi),
            own.mean.get(at..at + n),
        ) {
            (rule.rule)(&constants, p, g, [a, b, c]);
            new.extend_from_slice(p);
        }
        at += n;
    }
    // The ranges cross: this thread's new weights to the helper's copy,
    // the helper's into the model, both at once.
    match take() {
        Some(Reply::Updated(weights)) if ok => {
            ok &= orders.put(Order::Weights(new));
            copy_range(model, own.lens, own.ranges[1].clone(), &weights);
            *theirs = Some(weights);
        }
        _ => ok = false,
    }
    match take() {
        Some(Reply::Copied(weights)) if ok => *mine = Some(weights),
        _ => ok = false,
    }
    if ok {
        Ok(mean)
    } else {
        Err(lost)
    }
}

/// Copies `from` (the values of the flat range `r`, in order) into `to`'s
/// tensors.
fn copy_range<T: Float, M: Model<T>>(to: &mut M, lens: &[usize], r: Range<usize>, from: &[T]) {
    let mut at = 0;
    for (i, lo, hi) in segments(lens, r) {
        if let (Some(to), Some(from)) =
            (to.tensor_mut(i).get_mut(lo..hi), from.get(at..at + hi - lo))
        {
            to.copy_from_slice(from);
        }
        at += hi - lo;
    }
}

/// How long a thread waiting in [`Mailbox::take`] looks at the mailbox
/// before it sleeps. A wake-up from sleep costs from 6 µs (the other vCPU
/// busy) to hundreds (the host scheduling an idle vCPU again) on this KVM
/// guest, against a W1 batch of ~250 µs per thread; the looking covers the
/// calling thread's update between batches and the imbalance of the
/// parts, and stops long before a slow other side would cost a core.
const LOOK: Duration = Duration::from_micros(1000);

/// How [`Mailbox::take`] waits while it looks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Spin on the flag (`pause`): the other side is running on another
    /// core right now (it said so), so the value comes soon and nobody
    /// needs this core.
    Spin,
    /// Give the core away between looks (`sched_yield`): the other side
    /// may be waiting for this very core (two threads on one vCPU of a
    /// loaded machine: a spin would hold it off until the spin ends), and
    /// on an idle core a yield returns at once.
    Yield,
    /// Sleep until woken: the value will not come soon.
    Sleep,
}

/// A one-value hand-off between two threads that does not put the taker
/// to sleep when the value comes soon: [`Mailbox::take`] looks at an
/// atomic flag as [`Wait`] says for up to [`LOOK`], and only then waits on
/// a condition variable, which [`Mailbox::put`] signals only if someone
/// sleeps on it (no system call otherwise). Closing it
/// ([`Mailbox::close`]) wakes the taker with `None`.
struct Mailbox<V> {
    full: AtomicBool,
    slot: Mutex<Slot<V>>,
    wake: Condvar,
}

struct Slot<V> {
    value: Option<V>,
    asleep: bool,
    closed: bool,
}

impl<V> Mailbox<V> {
    fn new() -> Self {
        Mailbox {
            full: AtomicBool::new(false),
            slot: Mutex::new(Slot {
                value: None,
                asleep: false,
                closed: false,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot<V>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `v` over (the mailbox is empty: each side waits for the
    /// other's answer before it puts again); `false` if it is closed.
    fn put(&self, v: V) -> bool {
        let mut slot = self.lock();
        // (A value not yet taken is never overwritten: that would be a
        // message lost, and its sender waiting for an answer forever.)
        if slot.closed || slot.value.is_some() {
            return false;
        }
        slot.value = Some(v);
        self.full.store(true, Ordering::Release);
        if slot.asleep {
            self.wake.notify_one();
        }
        true
    }

    /// Closes the mailbox: the taker gets `None` once it is empty.
    fn close(&self) {
        let mut slot = self.lock();
        slot.closed = true;
        self.full.store(true, Ordering::Release);
        if slot.asleep {
            self.wake.notify_one();
        }
    }

    /// The value, once it is there (`None`: closed): looks at the flag,
    /// waiting between looks as `how()` says, for up to [`LOOK`], then
    /// sleeps until it is woken.
    fn take(&self, how: &dyn Fn() -> Wait) -> Option<V> {
        let start = Instant::now();
        while !self.full.load(Ordering::Acquire) {
            let how = if start.elapsed() > LOOK {
                Wait::Sleep
            } else {
                how()
            };
            match how {
                Wait::Spin => {
                    for _ in 0..8 {
                        std::hint::spin_loop();
                    }
                }
                Wait::Yield => std::thread::yield_now(),
                Wait::Sleep => break,
            }
        }
        let mut slot = self.lock();
        loop {
            if let Some(v) = slot.value.take() {
                self.full.store(slot.closed, Ordering::Relaxed);
                return Some(v);
            }
            if slot.closed {
                return None;
            }
            slot.asleep = true;
            slot = self.wake.wait(slot).unwrap_or_else(PoisonError::into_inner);
            slot.asleep = false;
        }
    }
}

/// Closes every mailbox of the slice when dropped (however the scope that
/// holds it ends, a panic included), so no thread waits on one forever.
struct CloseOnDrop<'a, V>(&'a [Mailbox<V>]);

impl<V> Drop for CloseOnDrop<'_, V> {
    fn drop(&mut self) {
        for m in self.0 {
            m.close();
        }
    }
}

/// Read access to the model (read-shared while a batch runs) or to a
/// worker's gradient (while they are summed).
fn read<V>(l: &RwLock<V>) -> RwLockReadGuard<'_, V> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write access to the model (the calling thread's alone between batches)
/// or to a worker's gradient (its worker's while it runs its part).
fn write<V>(l: &RwLock<V>) -> RwLockWriteGuard<'_, V> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// A worker's step of `fit`: its part of a batch (the samples `idx`)
/// through `model`, its gradient added into `grads`, its metric sums into
/// `stats`, with `memory` (whose gathered references live as long as the
/// data, `'x`).
trait Step<'x, T: Float, M: Train<T>, Y>:
    Fn(&M, &mut M, &mut Memory<'x, T, M, Y>, &mut [f64], &[usize]) -> Result<BatchSums<T>, TrainError>
{
}

impl<'x, T: Float, M: Train<T>, Y, F> Step<'x, T, M, Y> for F where
    F: Fn(
        &M,
        &mut M,
        &mut Memory<'x, T, M, Y>,
        &mut [f64],
        &[usize],
    ) -> Result<BatchSums<T>, TrainError>
{
}

/// `f`, typed as a worker's step of `fit` (so the closure's gathered
/// references live as long as the data, `'x`).
fn step_fn<'x, T, M, Y, F>(f: F) -> F
where
    T: Float,
    M: Train<T>,
    F: Step<'x, T, M, Y>,
{
    f
}

/// A helper of `fit`: runs `step` on each job's samples until the calling
/// thread closes `jobs`. A panic in a step is reported as an error, and
/// `done` is closed however the helper ends, so the calling thread never
/// waits for a result that will not come.
#[allow(clippy::too_many_arguments)]
fn helper<'x, T, M, Y: 'x, F>(
    shared: &RwLock<&mut M>,
    step: &F,
    jobs: &Mailbox<Order<T>>,
    done: &Mailbox<Reply<T>>,
    [busy, working]: [&AtomicBool; 2],
    part: HelperRange<'_, T, M>,
    cap: usize,
    seed: u64,
) where
    T: Float,
    M: Train<T>,
    M::Input: 'x,
    F: Step<'x, T, M, Y>,
{
    let _close = CloseOnDrop(core::slice::from_ref(done));
    let mut memory = Memory::<T, M, Y>::new(cap, seed);
    // Between the batches of an epoch the calling thread is updating the
    // weights and hands the next part out soon: look for it then (yielding:
    // on a loaded machine the calling thread may be waiting for this core),
    // else sleep.
    let how = || {
        if busy.load(Ordering::Relaxed) {
            Wait::Yield
        } else {
            Wait::Sleep
        }
    };
    // Its copy of the model (if the update is split), and the range of the
    // other worker (the calling thread), whose new weights it copies in.
    let mut replica = part.replica;
    let others = 0..part.range.start;
    // Its range of the optimizer's state, for the whole `fit`.
    let mut shard = part
        .shard
        .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner));
    while let Some(order) = jobs.take(&how) {
        working.store(true, Ordering::Relaxed);
        let back = match order {
            Order::Part(mut job) => {
                let started = Instant::now();
                let result = {
                    let guard;
                    let model: &M = match replica.as_deref() {
                        Some(m) => m,
                        None => {
                            guard = read(shared);
                            &guard
                        }
                    };
                    let mut grads = part.grads.get(part.me).map(write);
                    let run = || match grads.as_deref_mut() {
                        Some(grads) => step(model, grads, &mut memory, &mut job.stats, &job.idx),
                        None => Err(TrainError::Config("a training thread has no gradient")),
                    };
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                        .unwrap_or(Err(TrainError::Config("a training thread panicked")))
                };
                Reply::Part(Done {
                    started,
                    finished: Instant::now(),
                    result,
                    job,
                })
            }
            Order::Mean { inv, parts } => {
                let Some(shard) = shard.as_deref_mut() else {
                    break;
                };
                let guards: Vec<RwLockReadGuard<'_, Box<M>>> =
                    part.grads.iter().take(parts).map(read).collect();
                let gs: Vec<&M> = guards.iter().map(|g| &***g).collect();
                let (mut zero, mut at) = (T::zero(), 0);
                for (i, lo, hi) in segments(part.lens, part.range.clone()) {
                    if let Some(out) = shard.mean.get_mut(at..at + hi - lo) {
                        zero += mean_range(out, &gs, i, lo, inv);
                    }
                    at += hi - lo;
                }
                Reply::Mean(zero)
            }
            Order::Update {
                constants,
                weights: mut new,
            } => {
                let (Some(shard), Some(rule), Some(model)) =
                    (shard.as_deref_mut(), part.rule, replica.as_deref_mut())
                else {
                    break;
                };
                new.clear();
                let (mut at, mut k) = (0, 0);
                let Shard { states, mean } = shard;
                for (i, lo, hi) in segments(part.lens, part.range.clone()) {
                    let n = hi - lo;
                    let [a, b, c] = states.each_mut().map(|s| range_of(s, k, k + n));
                    if let (Some(p), Some(g)) =
                        (model.tensor_mut(i).get_mut(lo..hi), mean.get(at..at + n))
                    {
                        (rule.rule)(&constants, p, g, [a, b, c]);
                        new.extend_from_slice(p);
                    }
                    at += n;
                    k += n;
                }
                Reply::Updated(new)
            }
            Order::Weights(from) => {
                let Some(model) = replica.as_deref_mut() else {
                    break;
                };
                copy_range(model, part.lens, others.clone(), &from);
                Reply::Copied(from)
            }
        };
        working.store(false, Ordering::Relaxed);
        if !done.put(back) {
            break;
        }
    }
}

/// Timestamps of `fit`'s hand-off between the calling thread and its
/// first helper (on one thread: the calling thread's part twice), batch by
/// batch, for benchmarks (issue 15, item 5): off
/// unless [`probe::start`] is called (then one relaxed load and a lock per
/// batch). Not a stable API.
#[doc(hidden)]
pub mod probe {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::time::Instant;

    /// One batch split between the calling thread and helper 1.
    #[derive(Clone, Copy, Debug)]
    pub struct Batch {
        /// The calling thread hands the job out.
        pub sent: Instant,
        /// Helper 1 starts it.
        pub started: Instant,
        /// Helper 1 has finished its part.
        pub finished: Instant,
        /// The calling thread has finished its own part.
        pub own_done: Instant,
        /// The calling thread has every helper's result.
        pub seen: Instant,
        /// The calling thread has summed the parts and updated the weights.
        pub applied: Instant,
    }

    static ON: AtomicBool = AtomicBool::new(false);
    static LOG: Mutex<Vec<Batch>> = Mutex::new(Vec::new());

    /// Starts recording (clearing what was recorded).
    pub fn start() {
        LOG.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        ON.store(true, Ordering::Relaxed);
    }

    /// Stops recording and returns the batches recorded since [`start`].
    pub fn take() -> Vec<Batch> {
        ON.store(false, Ordering::Relaxed);
        std::mem::take(
            &mut *LOG
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub(super) fn record(b: Batch) {
        if ON.load(Ordering::Relaxed) {
            LOG.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(b);
        }
    }
}

/// The tapes and scratch tapes of a layer-major batch, Dropout's
/// generator (one per thread), and the vectors a part of a batch is
/// gathered into (its inputs, targets, weights and outputs: made once, so
/// a batch allocates nothing).
struct Memory<'x, T: Float, M: Train<T>, Y> {
    tapes: Vec<M::Tape>,
    scratch: Vec<M::Tape>,
    rng: Rng,
    xs: Vec<&'x M::Input>,
    ys: Vec<&'x Y>,
    weights: Vec<f64>,
    outs: Vec<M::Output>,
}

impl<T: Float, M: Train<T>, Y> Memory<'_, T, M, Y> {
    /// Tapes for batches of up to `n` samples, each made on the heap (a
    /// tape can be large; none is built on the stack first).
    fn new(n: usize, seed: u64) -> Self {
        let tapes = || -> Vec<M::Tape> { (0..n).map(|_| M::new_tape()).collect() };
        Memory {
            tapes: tapes(),
            scratch: tapes(),
            rng: Rng::new(seed),
            xs: Vec::with_capacity(n),
            ys: Vec::with_capacity(n),
            weights: Vec::with_capacity(n),
            outs: Vec::with_capacity(n),
        }
    }
}

/// The Fisher–Yates shuffle `fit` uses, driven by the runtime's [`Rng`].
///
/// ```
/// use staticnet_runtime::{fit::shuffle, Rng};
/// let mut v: Vec<usize> = (0..10).collect();
/// shuffle(&mut v, &mut Rng::new(7));
/// let mut sorted = v.clone();
/// sorted.sort();
/// assert_eq!(sorted, (0..10).collect::<Vec<_>>());
/// ```
pub fn shuffle<V>(v: &mut [V], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

fn write_values(
    out: &mut dyn Write,
    prefix: &str,
    loss: f64,
    metric: Option<(&str, f64)>,
) -> std::io::Result<()> {
    write!(out, " - {prefix}loss: {}", Num(loss))?;
    if let Some((name, v)) = metric {
        write!(out, " - {prefix}{name}: {}", Num(v))?;
    }
    Ok(())
}

/// Keras' 30-wide progress bar, `12/32 [==========>...................]`.
fn bar(done: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let digits = total.to_string().len();
    let mut s = format!("{done:>digits$}/{total} [");
    let filled = (WIDTH * done)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    if filled > 0 {
        s.extend(std::iter::repeat_n('=', filled - 1));
        s.push(if done < total { '>' } else { '=' });
    }
    s.extend(std::iter::repeat_n('.', WIDTH - filled));
    s.push(']');
    s
}

/// Keras' ETA: `5s`, `1:05`, `1:01:05`.
struct Eta(f64);

impl fmt::Display for Eta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.max(0.0) as u64;
        if s >= 3600 {
            write!(f, "{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        } else if s >= 60 {
            write!(f, "{}:{:02}", s / 60, s % 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

/// Keras' time per step: `2s/step`, `2ms/step`, `250us/step`.
struct PerStep(f64);

impl fmt::Display for PerStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        if t >= 1.0 {
            write!(f, "{t:.0}s/step")
        } else if t >= 1e-3 {
            write!(f, "{:.0}ms/step", t * 1e3)
        } else {
            write!(f, "{:.0}us/step", t * 1e6)
        }
    }
}

/// The mean loss and metric of `model` on `x`, `y` (Keras'
/// `Model.evaluate`), with the eval forward of [`predict`] (layer-major in
/// chunks where that pays).
///
/// Errors: `x` and `y` differ in length, no samples, a loss that does not
/// fit the model ([`check_fit`]), a target that
/// does not fit, a non-finite input ([`TrainError::NonFiniteInput`]) or
/// output ([`TrainError::NonFiniteOutput`], with the input's index), or a
/// non-finite loss (a NaN target): never a NaN reported as a result.
pub fn evaluate<T, M, L, A, Y>(
    model: &M,
    loss: &L,
    metric: &A,
    x: &[M::Input],
    y: &[Y],
) -> Result<Evaluation, TrainError>
where
    T: Float,
    M: Train<T>,
    L: Loss<T, Y> + ?Sized,
    A: Metric<T, Y> + ?Sized,
{
    evaluate_with(model, loss, metric, x, y, None)
}

/// [`evaluate`] with a weight per sample (Keras' `evaluate(…,
/// sample_weight=…)`): the loss is `Σ wᵢ lᵢ / n`, as [`FitConfig::sample_weight`]
/// weights it; the metric is not weighted.
pub fn evaluate_weighted<T, M, L, A, Y>(
    model: &M,
    loss: &L,
    metric: &A,
    x: &[M::Input],
    y: &[Y],
    sample_weight: &[f64],
) -> Result<Evaluation, TrainError>
where
    T: Float,
    M: Train<T>,
    L: Loss<T, Y> + ?Sized,
    A: Metric<T, Y> + ?Sized,
{
    if sample_weight.len() != x.len() {
        return Err(TrainError::Config(
            "sample_weight must hold one weight per sample of x",
        ));
    }
    if !sample_weight.iter().all(|w| w.is_finite() && *w >= 0.0) {
        return Err(TrainError::Config(
            "sample_weight: every weight must be finite and >= 0",
        ));
    }
    evaluate_with(model, loss, metric, x, y, Some(sample_weight))
}

fn evaluate_with<T, M, L, A, Y>(
    model: &M,
    loss: &L,
    metric: &A,
    x: &[M::Input],
    y: &[Y],
    weights: Option<&[f64]>,
) -> Result<Evaluation, TrainError>
where
    T: Float,
    M: Train<T>,
    L: Loss<T, Y> + ?Sized,
    A: Metric<T, Y> + ?Sized,
{
    check_lengths(x.len(), y.len())?;
    check_fit::<T, M, L, Y>(loss)?;
    let chunk = EvalForward::<T, M>::chunk(x.len());
    let (l, stats) = evaluate_part(model, loss, metric, x, y, weights, 0, chunk)?;
    Ok(evaluation(metric, l, &stats, x.len()))
}

/// The weighted loss sum and the metric's statistics over `x[..]`, `y[..]`,
/// the samples `first..` of the whole set (for error indices and weights),
/// the forward in chunks of `chunk` ([`EvalForward`]).
#[allow(clippy::too_many_arguments)]
fn evaluate_part<T, M, L, A, Y>(
    model: &M,
    loss: &L,
    metric: &A,
    x: &[M::Input],
    y: &[Y],
    weights: Option<&[f64]>,
    first: usize,
    chunk: usize,
) -> Result<(f64, Vec<f64>), TrainError>
where
    T: Float,
    M: Train<T>,
    L: Loss<T, Y> + ?Sized,
    A: Metric<T, Y> + ?Sized,
{
    let mut l = 0.0f64;
    let mut stats = if A::NAME.is_some() {
        vec![0.0; metric.stats_len(<M::Output as Tensor<T>>::CLASSES).max(1)]
    } else {
        Vec::new()
    };
    let mut eval = EvalForward::<T, M>::new(chunk);
    for (i, y) in y.iter().enumerate().take(x.len()) {
        let index = first + i;
        let out = eval.output(model, x, i, first)?;
        let (v, _) = loss.loss(out.as_flat(), M::OUTPUT_ACTIVATION, y, None)?;
        if !v.is_finite() {
            return Err(TrainError::NonFinite {
                what: "loss",
                at: None,
            });
        }
        match weights {
            Some(w) => l += w[index] * v.to_f64(),
            None => l += v.to_f64(),
        }
        if A::NAME.is_some() {
            metric.tally(out.as_flat(), y, &mut stats)?;
        }
    }
    Ok((l, stats))
}

fn evaluation<T: Float, Y, A: Metric<T, Y> + ?Sized>(
    metric: &A,
    loss_sum: f64,
    stats: &[f64],
    n: usize,
) -> Evaluation {
    Evaluation {
        loss: loss_sum / n as f64,
        metric: A::NAME.map(|name| (name, metric.finish(stats, n))),
    }
}

/// The contiguous parts of `0..n` that `threads` threads take, in order:
/// at most `threads` of them, each of whole chunks of `chunk` samples (the
/// last chunk may be short), none empty, their numbers of chunks differing
/// by at most one.
fn parts(n: usize, chunk: usize, threads: usize) -> impl Iterator<Item = core::ops::Range<usize>> {
    let chunk = chunk.max(1);
    let chunks = n.div_ceil(chunk);
    let k = threads.clamp(1, chunks.max(1));
    let at = move |t: usize| (t * chunks / k * chunk).min(n);
    (0..k).map(move |t| at(t)..at(t + 1))
}

/// [`evaluate`] on `threads` threads: the samples are split into
/// `threads` contiguous parts of whole chunks, each evaluated on its own
/// thread as [`evaluate`] does (the model is shared, read-only), and the parts' loss
/// sums and metric statistics are added in order. With one thread it is
/// [`evaluate`]; with more, the loss may differ from it in the last bits
/// (the sum is grouped differently), the metric not at all (its
/// statistics are counts). The first error in sample order is returned,
/// as [`evaluate`] would return it.
///
/// Errors: those of [`evaluate`], and `threads` 0.
pub fn evaluate_parallel<T, M, L, A, Y>(
    model: &M,
    loss: &L,
    metric: &A,
    x: &[M::Input],
    y: &[Y],
    threads: usize,
) -> Result<Evaluation, TrainError>
where
    T: Float,
    M: Train<T> + Sync,
    M::Input: Sync,
    L: Loss<T, Y> + Sync + ?Sized,
    A: Metric<T, Y> + Sync + ?Sized,
    Y: Sync,
{
    if threads == 0 {
        return Err(TrainError::Config("threads must be at least 1"));
    }
    check_lengths(x.len(), y.len())?;
    check_fit::<T, M, L, Y>(loss)?;
    let results: Vec<Result<(f64, Vec<f64>), TrainError>> = std::thread::scope(|s| {
        let chunk = EvalForward::<T, M>::chunk(x.len());
        let handles: Vec<_> = parts(x.len(), chunk, threads)
            .map(|r| {
                let (xs, ys) = (&x[r.clone()], &y[r.clone()]);
                s.spawn(move || evaluate_part(model, loss, metric, xs, ys, None, r.start, chunk))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(TrainError::Config("an evaluation thread panicked")))
            })
            .collect()
    });
    let (mut l, mut stats) = (0.0f64, Vec::new());
    for r in results {
        let (part_l, part_stats) = r?;
        l += part_l;
        if stats.is_empty() {
            stats = part_stats;
        } else {
            for (s, v) in stats.iter_mut().zip(part_stats) {
                *s += v;
            }
        }
    }
    Ok(evaluation(metric, l, &stats, x.len()))
}

/// Keras' `class_weight` as sample weights (what Keras does with it):
/// sample `i` gets `class_weight[c]` for its class `c` (its label, the
/// argmax of a one-hot target, or a single binary target rounded).
/// Pass the result as [`FitConfig::sample_weight`] (multiply it by other
/// sample weights to use both).
///
/// ```
/// use staticnet_runtime::fit::class_sample_weights;
/// assert_eq!(class_sample_weights::<f32, _>(&[0usize, 1, 1], &[1.0, 3.0]).unwrap(), [1.0, 3.0, 3.0]);
/// ```
///
/// Errors: a label not below `class_weight.len()`, or a one-hot target of
/// another length.
pub fn class_sample_weights<T: Float, Y: Label<T>>(
    y: &[Y],
    class_weight: &[f64],
) -> Result<Vec<f64>, TrainError> {
    if !class_weight.iter().all(|w| w.is_finite() && *w >= 0.0) {
        return Err(TrainError::Config(
            "class_weight: every weight must be finite and >= 0",
        ));
    }
    y.iter()
        .map(|y| Ok(class_weight[y.class(class_weight.len())?]))
        .collect()
}

/// The confusion matrix of `model` on `x`, `y` (scikit-learn's
/// `confusion_matrix(y_true, y_pred)`: row = true class, column =
/// predicted), the prediction being the output's argmax, or for a single
/// (sigmoid) output whether it is above 0.5 (two classes).
///
/// Errors: `x` and `y` differ in length, no samples, a label out of
/// range, a non-finite input or output.
pub fn confusion_matrix<T, M, Y>(
    model: &M,
    x: &[M::Input],
    y: &[Y],
) -> Result<ConfusionMatrix, TrainError>
where
    T: Float,
    M: Model<T>,
    Y: Label<T>,
{
    check_lengths(x.len(), y.len())?;
    let k = classes_of(<M::Output as Tensor<T>>::LEN);
    let mut cm = ConfusionMatrix::new(k);
    for (index, (x, y)) in x.iter().zip(y).enumerate() {
        check_input(x, index)?;
        let out = model.forward(x);
        if !out.as_flat().iter().all(|v| v.is_finite()) {
            return Err(TrainError::NonFiniteOutput { index });
        }
        cm.add(y.class(k)?, predicted_class(out.as_flat()));
    }
    Ok(cm)
}

/// The model's output for every input (Keras' `Model.predict`).
///
/// The inputs run in chunks of up to 32 through the layer-major eval
/// forward ([`Train::forward_train_layers`] in [`Mode::EVAL`]: each layer
/// over the whole chunk, `Dense` as a matrix–matrix product over it) when
/// the model's `Dense` layers hold at least half its parameters and it has
/// no BatchNorm; otherwise one [`Model::forward`] per sample. The outputs
/// are `forward`'s: bit for bit on the baseline copy, and within 1e-5 ·
/// max(1, the largest |output|) in `f32` (1e-12 in `f64`) on the AVX2
/// copy of the run-time dispatch, whose batched `Dense` fuses
/// multiply-adds (`tests/batched_predict.rs`).
///
/// Errors: a non-finite input ([`TrainError::NonFiniteInput`]) or output
/// ([`TrainError::NonFiniteOutput`]), with the input's index in `x`.
///
/// ```ignore
/// let probabilities: Vec<SVector<f32, 1>> = predict(&model, &x_test)?;
/// ```
pub fn predict<T: Float, M: Train<T>>(
    model: &M,
    x: &[M::Input],
) -> Result<Vec<M::Output>, TrainError> {
    predict_part(model, x, 0, EvalForward::<T, M>::chunk(x.len()))
}

/// [`predict`] of `x[..]`, the inputs `first..` of the whole set (for the
/// errors' indices).
fn predict_part<T: Float, M: Train<T>>(
    model: &M,
    x: &[M::Input],
    first: usize,
    chunk: usize,
) -> Result<Vec<M::Output>, TrainError> {
    let mut eval = EvalForward::<T, M>::new(chunk);
    (0..x.len())
        .map(|i| eval.output(model, x, i, first))
        .collect()
}

/// The most tape bytes a chunk of [`EvalForward`] keeps (a chunk of a
/// small model's tapes stays in a core's L2 cache; a model whose tapes
/// would leave fewer than [`MIN_CHUNK`] samples per chunk runs
/// sample by sample).
const CHUNK_TAPE_BYTES: usize = 1 << 20;
/// The most samples of one chunk (the layer-major forward batches `Dense`
/// over [`crate::train::CHUNK`] samples at a time; more only costs
/// memory).
const MAX_CHUNK: usize = 32;
/// The fewest samples per chunk worth a layer-major forward.
const MIN_CHUNK: usize = 4;

/// The eval forward of `predict` and `evaluate`: chunks of samples run
/// layer-major ([`Train::forward_train_layers`] in [`Mode::EVAL`], each
/// layer over the whole chunk, `Dense` as a matrix–matrix product over
/// it), or one [`Model::forward`] per sample for a model whose tapes are
/// too large to batch. Outputs are asked for in order; each chunk is run
/// when its first output is asked for, up to (not including) its first
/// non-finite input, so errors come in sample order as a forward per
/// sample gives them.
struct EvalForward<T: Float, M: Train<T>> {
    chunk: usize,
    tapes: Vec<M::Tape>,
    outs: Vec<M::Output>,
    /// The first sample of the chunk in `outs`, and how many are there.
    start: usize,
    ready: usize,
    rng: Rng,
}

impl<T: Float, M: Train<T>> EvalForward<T, M> {
    /// The samples per chunk for a set of `n` (1: a forward per sample).
    /// The parts of [`predict_parallel`] and [`evaluate_parallel`] are
    /// whole chunks of it, so every sample runs in the same chunk as in
    /// [`predict`] (the batched kernels' last bits can depend on the
    /// chunk).
    ///
    /// A model with BatchNorm (or anything else that depends on the batch
    /// in training, [`Train::BATCH_DEPENDENT`]) runs sample by sample: its
    /// eval forward folds each BatchNorm into one multiply-add per value,
    /// the layer-major forward normalises in steps, and `predict` stays
    /// `forward` bit for bit.
    ///
    /// Only a model `model!` marks [`Train::BATCHED_EVAL`] runs
    /// layer-major (its `Dense` layers hold at least half its parameters).
    fn chunk(n: usize) -> usize {
        let chunk = (CHUNK_TAPE_BYTES / M::TAPE_BYTES.max(1)).min(MAX_CHUNK);
        if M::BATCHED_EVAL && !M::BATCH_DEPENDENT && chunk >= MIN_CHUNK && n >= MIN_CHUNK {
            chunk.min(n)
        } else {
            1
        }
    }

    /// The forward in chunks of `chunk` samples.
    fn new(chunk: usize) -> Self {
        let (tapes, outs) = if chunk > 1 {
            (
                (0..chunk).map(|_| M::new_tape()).collect(),
                vec![M::Output::zeros(); chunk],
            )
        } else {
            (Vec::new(), Vec::new())
        };
        EvalForward {
            chunk,
            tapes,
            outs,
            start: 0,
            ready: 0,
            rng: Rng::new(0),
        }
    }

    /// The eval output of `x[i]` (asked for with `i` = 0, 1, 2, … in
    /// turn), `x` being the inputs `first..` of the whole set (for the
    /// errors' indices).
    fn output(
        &mut self,
        model: &M,
        x: &[M::Input],
        i: usize,
        first: usize,
    ) -> Result<M::Output, TrainError> {
        let index = first + i;
        let bad_output = TrainError::NonFiniteOutput { index };
        let finite = |out: &M::Output| out.as_flat().iter().all(|v| v.is_finite());
        if self.chunk == 1 {
            let Some(x) = x.get(i) else {
                return Err(TrainError::Empty);
            };
            check_input(x, index)?;
            let out = model.forward(x);
            return if finite(&out) {
                Ok(out)
            } else {
                Err(bad_output)
            };
        }
        if i >= self.start + self.ready {
            self.start = i;
            let end = x.len().min(i + self.chunk);
            // The chunk stops before its first non-finite input, whose
            // error comes when its output is asked for.
            let good = x[i..end]
                .iter()
                .position(|x| !x.as_flat().iter().all(|v| v.is_finite()))
                .unwrap_or(end - i);
            if good == 0 {
                let Some(x) = x.get(i) else {
                    return Err(TrainError::Empty);
                };
                check_input(x, index)?;
            }
            let refs: Vec<&M::Input> = x[i..i + good].iter().collect();
            model.forward_train_layers(
                &refs,
                &mut self.tapes[..good],
                &mut self.outs[..good],
                Mode::EVAL,
                &mut self.rng,
            )?;
            self.ready = good;
        }
        let out = self.outs[i - self.start];
        if finite(&out) {
            Ok(out)
        } else {
            Err(bad_output)
        }
    }
}

/// [`predict`] on `threads` threads: the inputs are split into `threads`
/// contiguous parts of whole chunks, each run on its own thread as
/// [`predict`] runs it (the model is shared, read-only), every sample in
/// the chunk it has in [`predict`]. The outputs are those of [`predict`],
/// in the same order and bit for bit; the first error in input order is
/// returned.
///
/// Errors: those of [`predict`], and `threads` 0.
pub fn predict_parallel<T, M>(
    model: &M,
    x: &[M::Input],
    threads: usize,
) -> Result<Vec<M::Output>, TrainError>
where
    T: Float,
    M: Train<T> + Sync,
    M::Input: Sync,
    M::Output: Send,
{
    if threads == 0 {
        return Err(TrainError::Config("threads must be at least 1"));
    }
    let results: Vec<Result<Vec<M::Output>, TrainError>> = std::thread::scope(|s| {
        let chunk = EvalForward::<T, M>::chunk(x.len());
        let handles: Vec<_> = parts(x.len(), chunk, threads)
            .map(|r| {
                let xs = &x[r.clone()];
                s.spawn(move || predict_part(model, xs, r.start, chunk))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(TrainError::Config("a prediction thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(x.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}
