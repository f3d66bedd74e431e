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
//!
//! A *layer-major* step ([`accumulate_layers`], [`Trainer::step_layers`],
//! what `fit` runs) takes the whole batch through each layer before the
//! next ([`Train::forward_train_layers`]): BatchNorm then normalises with
//! the batch's statistics and Dropout drops, as PyTorch's `train()` mode,
//! and after a successful update [`Train::update_running_stats`] moves
//! BatchNorm's running statistics. Its tapes live in a [`BatchMemory`] the
//! caller owns (a `static` on a device):
//!
//! ```ignore
//! static MEMORY: Exclusive<BatchMemory<f32, Net, 16>> = /* zeroed */;
//! let loss = trainer.step_layers(&mut model, &CategoricalCrossEntropy, &xs, &ys, memory)?;
//! ```

pub use crate::error::TrainError;
use crate::loss::{Loss, Wrt};
use crate::metrics::{Metric, NoMetric};
use crate::optim::Optimizer;
#[cfg(feature = "alloc")]
use crate::Zeroable;
use crate::{Float, Mode, Model, OutputActivation, Rng, Tensor, Train};
use core::marker::PhantomData;

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
/// Checks first that `loss` fits the model ([`check_fit`]); stops at the
/// first sample whose loss is not finite ([`TrainError::NonFinite`]) or
/// whose target does not fit.
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
    check_fit::<T, M, L, Y>(loss)?;
    let mut sums = BatchSums::default();
    for (index, (x, y)) in samples.into_iter().enumerate() {
        check_input(x, index)?;
        let out = model.forward_train(x, tape);
        let (dy, wrt_logits) =
            sample_loss::<T, M, L, A, Y>(tape, &out, y, 1.0, loss, metric, &mut sums, &mut [])?;
        model.backward_params(tape, &dy, wrt_logits, grads);
    }
    Ok(sums)
}

/// [`accumulate`] `K` samples at a time: each full chunk of `K` runs
/// [`Train::forward_train_batch`] and [`Train::backward_params_batch`]
/// (which read each `Dense` layer's weights once per chunk), a last partial
/// chunk runs sample by sample in `tapes[0]`. The result equals
/// `accumulate`'s up to the order of the additions.
pub fn accumulate_chunked<'a, T, M, L, A, Y, const K: usize>(
    model: &M,
    grads: &mut M,
    tapes: &mut [M::Tape; K],
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
    accumulate_weighted(
        model,
        grads,
        tapes,
        loss,
        metric,
        samples.into_iter().map(|(x, y)| (x, y, 1.0)),
        &mut [],
    )
}

/// [`accumulate_chunked`] with a weight per sample and a stateful metric:
/// each `(input, target, weight)` adds `weight ×` its loss into
/// [`BatchSums::loss`] and `weight ×` its gradient into `grads` (Keras'
/// `sample_weight`; a weight of 1 multiplies nothing), and
/// [`BatchSums::n`] counts every sample whatever its weight, so
/// [`apply_mean`] divides the weighted sum by the number of samples, as
/// Keras' `sum_over_batch_size` reduction does. If `stats` is not empty the
/// metric adds its statistics into it ([`Metric::tally`]) instead of its
/// score into [`BatchSums::metric`]. The metric is not weighted (Keras
/// weights only its `weighted_metrics`).
pub fn accumulate_weighted<'a, T, M, L, A, Y, const K: usize>(
    model: &M,
    grads: &mut M,
    tapes: &mut [M::Tape; K],
    loss: &L,
    metric: &A,
    samples: impl IntoIterator<Item = (&'a M::Input, &'a Y, f64)>,
    stats: &mut [f64],
) -> Result<BatchSums<T>, TrainError>
where
    T: Float,
    M: Train<T>,
    M::Input: 'a,
    L: Loss<T, Y> + ?Sized,
    A: Metric<T, Y> + ?Sized,
    Y: ?Sized + 'a,
{
    check_fit::<T, M, L, Y>(loss)?;
    let mut sums = BatchSums::default();
    let mut samples = samples.into_iter();
    let mut index = 0;
    loop {
        let mut chunk: [Option<(&M::Input, &Y, f64)>; K] = [None; K];
        for slot in chunk.iter_mut() {
            *slot = samples.next();
            match slot {
                Some((x, _, w)) => {
                    check_input(*x, index)?;
                    check_weight(*w)?;
                }
                None => break,
            }
            index += 1;
        }
        let full = chunk.iter().all(Option::is_some);
        if K > 1 && full {
            // (`full`: every slot holds a sample, `first` is never used.)
            let Some((first, _, _)) = chunk[0] else {
                break;
            };
            let xs = chunk.map(|c| c.map_or(first, |(x, _, _)| x));
            let outs = model.forward_train_batch(xs, tapes);
            let mut dys = [M::Output::zeros(); K];
            // Which gradient the loss gives depends on the loss and the
            // model's last activation only, so it is the same for all.
            let mut wrt = [false; K];
            let samples = dys.iter_mut().zip(&mut wrt).zip(&outs);
            for (((dy, w), out), (tape, c)) in samples.zip(tapes.iter().zip(&chunk)) {
                if let Some((_, y, sw)) = c {
                    (*dy, *w) = sample_loss::<T, M, L, A, Y>(
                        tape, out, *y, *sw, loss, metric, &mut sums, stats,
                    )?;
                }
            }
            if wrt.iter().any(|&w| w != wrt[0]) {
                return Err(TrainError::Config(
                    "the loss gave gradients of different kinds within one batch",
                ));
            }
            model.backward_params_batch(tapes, &dys, wrt[0], grads);
        } else {
            let Some(tape) = tapes.first_mut() else {
                return Err(TrainError::Config("accumulate_chunked needs K >= 1"));
            };
            for (x, y, w) in chunk.iter().flatten() {
                let out = model.forward_train(x, tape);
                let (dy, wrt_logits) = sample_loss::<T, M, L, A, Y>(
                    tape, &out, *y, *w, loss, metric, &mut sums, stats,
                )?;
                model.backward_params(tape, &dy, wrt_logits, grads);
            }
        }
        if !full {
            return Ok(sums);
        }
    }
    Ok(sums)
}

/// Where a layer-major batch lives while it is in flight: one tape, one
/// scratch tape (the per-sample gradients of every layer's output) and one
/// output per sample, the mode and Dropout's generator. Borrowed from a
/// [`BatchMemory`] (no heap) or from vectors (`fit`); the slices hold at
/// least as many entries as the batch has samples.
pub struct Workspace<'m, T: Float, M: Train<T>> {
    /// The training forward's records, one per sample.
    pub tapes: &'m mut [M::Tape],
    /// The backward's per-sample gradients, one tape per sample.
    pub scratch: &'m mut [M::Tape],
    /// The outputs, then the loss's gradients of them.
    pub outs: &'m mut [M::Output],
    /// What BatchNorm and Dropout do ([`Mode::TRAIN`] to train as PyTorch's
    /// `train()`).
    pub mode: Mode,
    /// Dropout's generator.
    pub rng: &'m mut Rng,
}

/// The samples of one layer-major batch: inputs, targets and (if any) a
/// weight per sample, all of the same length.
pub struct LayerBatch<'b, 'a, X, Y: ?Sized> {
    /// The inputs.
    pub xs: &'b [&'a X],
    /// The targets.
    pub ys: &'b [&'a Y],
    /// One weight per sample (Keras' `sample_weight`), or `None` for 1.
    pub weights: Option<&'b [f64]>,
}

/// [`accumulate_weighted`] layer-major: the whole batch runs through each
/// layer before the next ([`Train::forward_train_layers`] in `work.mode`,
/// then [`Train::backward_layers`]), so BatchNorm normalises with the
/// batch's statistics and back-propagates through them. Adds the sum of
/// the samples' (weighted) gradients into `grads` and returns the sums of
/// their losses and metric scores (or, if `stats` is not empty, the
/// metric's statistics into it). The running statistics are *not* updated
/// here: call [`Train::update_running_stats`] with `work.tapes[0]` once the
/// step has succeeded.
///
/// Errors (`grads` unchanged): lengths that do not fit, a non-finite input
/// or a bad weight, a loss that does not fit the model, BatchNorm with
/// batch statistics on one value per channel, a target that does not fit,
/// a non-finite loss.
pub fn accumulate_layers<T, M, L, A, Y>(
    model: &M,
    grads: &mut M,
    work: Workspace<'_, T, M>,
    loss: &L,
    metric: &A,
    batch: LayerBatch<'_, '_, M::Input, Y>,
    stats: &mut [f64],
) -> Result<BatchSums<T>, TrainError>
where
    T: Float,
    M: Train<T>,
    L: Loss<T, Y> + ?Sized,
    A: Metric<T, Y> + ?Sized,
    Y: ?Sized,
{
    check_fit::<T, M, L, Y>(loss)?;
    let n = batch.xs.len();
    check_lengths(n, batch.ys.len())?;
    if batch.weights.is_some_and(|w| w.len() != n) {
        return Err(TrainError::Config(
            "sample weights: one per sample of the batch",
        ));
    }
    let too_small = TrainError::Config(
        "the batch has more samples than the workspace has tapes, scratch tapes or outputs",
    );
    let (Some(tapes), Some(scratch), Some(outs)) = (
        work.tapes.get_mut(..n),
        work.scratch.get_mut(..n),
        work.outs.get_mut(..n),
    ) else {
        return Err(too_small);
    };
    let weight = |k: usize| batch.weights.and_then(|w| w.get(k).copied()).unwrap_or(1.0);
    for (k, x) in batch.xs.iter().enumerate() {
        check_input(*x, k)?;
        check_weight(weight(k))?;
    }
    model.forward_train_layers(batch.xs, tapes, outs, work.mode, work.rng)?;
    let mut sums = BatchSums::default();
    let mut wrt_logits = None;
    for (k, ((tape, out), y)) in tapes.iter().zip(outs.iter_mut()).zip(batch.ys).enumerate() {
        let (dy, wrt) =
            sample_loss::<T, M, L, A, Y>(tape, out, *y, weight(k), loss, metric, &mut sums, stats)?;
        // The loss's gradient replaces the output it came from.
        *out = dy;
        if *wrt_logits.get_or_insert(wrt) != wrt {
            return Err(TrainError::Config(
                "the loss gave gradients of different kinds within one batch",
            ));
        }
    }
    model.backward_layers(
        tapes,
        outs,
        wrt_logits.unwrap_or(false),
        grads,
        scratch,
        &mut [],
    )?;
    Ok(sums)
}

/// Caller-owned memory for layer-major steps of up to `N` samples
/// ([`Trainer::step_layers`]): `N` tapes, `N` scratch tapes, `N` outputs,
/// the mode and Dropout's generator. It is large (twice `N` tapes): keep
/// it in a `static` on a device (all-zero bytes are a valid value, with
/// [`Mode::TRAIN`] and a generator seeded with 0), on the heap elsewhere
/// ([`BatchMemory::boxed`]).
pub struct BatchMemory<T: Float, M: Train<T>, const N: usize> {
    /// The training forward's records.
    pub tapes: [M::Tape; N],
    /// The backward's per-sample gradients.
    pub scratch: [M::Tape; N],
    /// The outputs, then their gradients.
    pub outs: [M::Output; N],
    /// The mode of the training forward ([`Mode::TRAIN`] unless set).
    pub mode: Mode,
    /// Dropout's generator; its state carries over from step to step.
    pub rng: Rng,
}

impl<T: Float, M: Train<T>, const N: usize> BatchMemory<T, M, N> {
    /// Fresh memory in `mode`, Dropout's generator seeded with `seed` (on
    /// the stack: see [`BatchMemory::boxed`] for a large one).
    pub fn new(mode: Mode, seed: u64) -> Self {
        BatchMemory {
            tapes: core::array::from_fn(|_| M::new_tape()),
            scratch: core::array::from_fn(|_| M::new_tape()),
            outs: [M::Output::zeros(); N],
            mode,
            rng: Rng::new(seed),
        }
    }

    /// Zeroed memory allocated on the heap, never built on the stack
    /// ([`Mode::TRAIN`], seed 0).
    #[cfg(feature = "alloc")]
    pub fn boxed() -> alloc::boxed::Box<Self>
    where
        M::Tape: Zeroable,
        M::Output: Zeroable,
    {
        <Self as Zeroable>::boxed_zeroed()
    }

    /// The memory as a [`Workspace`].
    pub fn workspace(&mut self) -> Workspace<'_, T, M> {
        Workspace {
            tapes: &mut self.tapes,
            scratch: &mut self.scratch,
            outs: &mut self.outs,
            mode: self.mode,
            rng: &mut self.rng,
        }
    }
}

// SAFETY: all-zero bytes are a valid value of every field: the tapes and
// outputs are `Zeroable` (the where clause), `Rng` is one `u64`, and `Mode`
// is two field-less enums whose variants `Batch` and `Draw` have the
// discriminant 0 (written out in `mode.rs`).
unsafe impl<T: Float, M: Train<T>, const N: usize> crate::Zeroable for BatchMemory<T, M, N>
where
    M::Tape: crate::Zeroable,
    M::Output: crate::Zeroable,
{
}

/// `Err(Config)` unless the sample weight `w` is finite and `>= 0`.
fn check_weight(w: f64) -> Result<(), TrainError> {
    if w.is_finite() && w >= 0.0 {
        Ok(())
    } else {
        Err(TrainError::Config("sample weights must be finite and >= 0"))
    }
}

/// `Err(NonFiniteInput)` if `x` holds a NaN or an infinity.
pub(crate) fn check_input<T: Float, X: Tensor<T>>(x: &X, index: usize) -> Result<(), TrainError> {
    if x.as_flat().iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(TrainError::NonFiniteInput {
            index,
            validation: false,
        })
    }
}

/// Whether `L` is computed from `M`'s logits (and its gradient is with
/// respect to them): the model ends in the very activation the loss is
/// computed past. Which pairs are allowed at all is [`Loss::check`]'s
/// rule, applied by [`check_fit`] before this is asked.
fn from_logits<T: Float, M: Train<T>, L: Loss<T, Y> + ?Sized, Y: ?Sized>() -> bool {
    match L::LOGITS_OF {
        Some(act) => act == M::OUTPUT_ACTIVATION && act != OutputActivation::Linear,
        None => false,
    }
}

/// Applies [`Loss::check`], the one rule for which losses fit which model,
/// to `loss` and the model `M`: every training and evaluation entry point
/// calls it before running a sample.
pub fn check_fit<T, M, L, Y>(loss: &L) -> Result<(), TrainError>
where
    T: Float,
    M: Train<T>,
    L: Loss<T, Y> + ?Sized,
    Y: ?Sized,
{
    loss.check(M::OUTPUT_ACTIVATION, <M::Output as Tensor<T>>::CLASSES)
}

/// One sample's loss (times its weight `w`) and metric, added into `sums`
/// (or, for the metric, into `stats` if it is not empty), from the output
/// `out` of the forward recorded in `tape`; returns the gradient backward
/// takes (times `w`) and whether it is with respect to the logits.
#[allow(clippy::too_many_arguments)]
fn sample_loss<T, M, L, A, Y>(
    tape: &M::Tape,
    out: &M::Output,
    y: &Y,
    w: f64,
    loss: &L,
    metric: &A,
    sums: &mut BatchSums<T>,
    stats: &mut [f64],
) -> Result<(M::Output, bool), TrainError>
where
    T: Float,
    M: Train<T>,
    L: Loss<T, Y> + ?Sized,
    A: Metric<T, Y> + ?Sized,
    Y: ?Sized,
{
    let mut dy = M::Output::zeros();
    let (l, wrt) = if from_logits::<T, M, L, Y>() {
        // The same loss on the logits themselves: its gradient is the one
        // with respect to the logits.
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
        if stats.is_empty() {
            sums.metric += metric.score(out.as_flat(), y)?;
        } else {
            metric.tally(out.as_flat(), y, stats)?;
        }
    }
    // A weight of 1 (every sample without sample weights) multiplies
    // nothing, so unweighted training is bit for bit what it was.
    let l = if w == 1.0 {
        l
    } else {
        let w = T::of_f64(w);
        for d in dy.as_flat_mut() {
            *d *= w;
        }
        l * w
    };
    sums.loss += l;
    sums.n += 1;
    Ok((dy, wrt == Wrt::Logits))
}

/// Gradient clipping, applied to a batch's mean gradient after it is found
/// finite and before the optimizer's update: PyTorch's
/// `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_` (Keras'
/// `global_clipnorm` and `clipvalue`). `None` (the default) costs nothing.
///
/// ```
/// use staticnet_runtime::train::Clip;
/// assert_eq!(Clip::default(), Clip::None);
/// assert!(Clip::Norm(0.0).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Clip {
    /// No clipping.
    #[default]
    None,
    /// Scale the whole gradient (every tensor together) by
    /// `max_norm / (‖g‖₂ + 1e-6)` where that is below 1, as
    /// `clip_grad_norm_(params, max_norm)` does.
    Norm(f64),
    /// Clamp every gradient value to `[−v, v]`, as
    /// `clip_grad_value_(params, v)` does.
    Value(f64),
}

impl Clip {
    /// `Err` unless the bound is finite and positive.
    pub fn validate(&self) -> Result<(), TrainError> {
        match *self {
            Clip::None => Ok(()),
            Clip::Norm(v) | Clip::Value(v) if v.is_finite() && v > 0.0 => Ok(()),
            Clip::Norm(_) => Err(TrainError::Config("Clip::Norm needs a finite max_norm > 0")),
            Clip::Value(_) => Err(TrainError::Config("Clip::Value needs a finite bound > 0")),
        }
    }

    /// Clips `grads` in place (see the variants).
    pub fn apply<T: Float, M: Model<T>>(&self, grads: &mut M) {
        match *self {
            Clip::None => {}
            Clip::Norm(max_norm) => {
                // The total norm in f64, whatever `T` (PyTorch sums in the
                // tensors' dtype; f64 is at least as exact).
                let mut sq = 0.0f64;
                for i in 0..M::TENSORS {
                    for &g in grads.tensor(i) {
                        let g = g.to_f64();
                        sq += g * g;
                    }
                }
                let coef = max_norm / (libm::sqrt(sq) + 1e-6);
                if coef < 1.0 {
                    let c = T::of_f64(coef);
                    for i in 0..M::TENSORS {
                        for g in grads.tensor_mut(i) {
                            *g *= c;
                        }
                    }
                }
            }
            Clip::Value(v) => {
                let (lo, hi) = (T::of_f64(-v), T::of_f64(v));
                for i in 0..M::TENSORS {
                    for g in grads.tensor_mut(i) {
                        if *g > hi {
                            *g = hi;
                        } else if *g < lo {
                            *g = lo;
                        }
                    }
                }
            }
        }
    }
}

/// Finishes a step: divides the gradient sum `grads` of `sums.n` samples by
/// `sums.n`, checks that it and the mean loss are finite and that the
/// optimizer's hyperparameters are valid ([`Optimizer::validate`]), and
/// lets `optimizer` update `model`.
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
    apply_mean_clipped(model, grads, optimizer, sums, Clip::None)
}

/// [`apply_mean`] with the mean gradient clipped by `clip` (after the
/// finiteness check, before the update). The layers the DSL declares
/// `trainable = false` ([`Model::FROZEN_LAYERS`]) are left as they are.
pub fn apply_mean_clipped<T, M, O>(
    model: &mut M,
    grads: &mut M,
    optimizer: &mut O,
    sums: &BatchSums<T>,
    clip: Clip,
) -> Result<T, TrainError>
where
    T: Float,
    M: Train<T>,
    O: Optimizer<T, M> + ?Sized,
{
    if M::FROZEN_LAYERS.is_empty() {
        apply_mean_frozen(model, grads, optimizer, sums, clip, None)
    } else {
        let mut mask = [false; MAX_FROZEN_MASK];
        let n = frozen_mask::<T, M>(&*grads, &[], &mut mask)?;
        apply_mean_frozen(model, grads, optimizer, sums, clip, Some(&mask[..n]))
    }
}

/// The most parameter tensors [`apply_mean_clipped`] can freeze by the
/// DSL's `trainable = false` without a heap (its mask is on the stack);
/// `fit` has no such limit.
pub const MAX_FROZEN_MASK: usize = 256;

/// Fills `mask[i]` with whether parameter tensor `i` belongs to a layer
/// of [`Model::FROZEN_LAYERS`] or of `extra` (names as in the DSL), and
/// returns [`Model::TENSORS`]. Errors: a name in `extra` that is no layer
/// with parameters, or a `mask` shorter than `TENSORS`.
pub fn frozen_mask<T: Float, M: Model<T>>(
    m: &M,
    extra: &[&str],
    mask: &mut [bool],
) -> Result<usize, TrainError> {
    if mask.len() < M::TENSORS {
        return Err(TrainError::Config(
            "frozen layers: the mask has fewer entries than the model has tensors",
        ));
    }
    let mut found = [false; MAX_FROZEN_MASK];
    if extra.len() > found.len() {
        return Err(TrainError::Config("frozen layers: at most 256 names"));
    }
    let mut i = 0;
    m.visit_params(&mut |p| {
        let layer = p.name.split('.').next().unwrap_or(p.name);
        let mut frozen = M::FROZEN_LAYERS.contains(&layer);
        for (f, name) in found.iter_mut().zip(extra) {
            if *name == layer {
                *f = true;
                frozen = true;
            }
        }
        if let Some(slot) = mask.get_mut(i) {
            *slot = frozen;
        }
        i += 1;
    });
    if found.iter().zip(extra).any(|(f, _)| !f) {
        return Err(TrainError::Config(
            "frozen layers: a name that is no layer with parameters (see Model::LAYERS)",
        ));
    }
    Ok(M::TENSORS)
}

/// [`apply_mean_clipped`] with the parameter tensors `i` for which
/// `frozen[i]` is true left unchanged: their gradient is set to zero
/// before the finiteness check and the clipping (so it counts for neither,
/// as a PyTorch parameter with `requires_grad = False` has no gradient)
/// and the optimizer skips them ([`Optimizer::step_frozen`]). `None`
/// freezes nothing (not even [`Model::FROZEN_LAYERS`]: the caller's mask is
/// the whole rule).
pub fn apply_mean_frozen<T, M, O>(
    model: &mut M,
    grads: &mut M,
    optimizer: &mut O,
    sums: &BatchSums<T>,
    clip: Clip,
    frozen: Option<&[bool]>,
) -> Result<T, TrainError>
where
    T: Float,
    M: Train<T>,
    O: Optimizer<T, M> + ?Sized,
{
    apply_mean_parts(model, grads, &[], optimizer, sums, clip, frozen)
}

/// [`apply_mean_frozen`] of the sum of `grads` and `parts` (the gradient
/// sums of the other parts of the batch, `sums` counting all): each value
/// becomes `(grads + parts[0] + parts[1] + …) / n` in one pass, added in
/// that order (the bits of adding the parts in first and then calling
/// [`apply_mean_frozen`]): what `fit` runs after the threads that split a
/// batch have each summed their part. On an error `model` and `optimizer`
/// are unchanged (`grads` may hold partial sums).
pub fn apply_mean_parts<T, M, O>(
    model: &mut M,
    grads: &mut M,
    parts: &[&M],
    optimizer: &mut O,
    sums: &BatchSums<T>,
    clip: Clip,
    frozen: Option<&[bool]>,
) -> Result<T, TrainError>
where
    T: Float,
    M: Train<T>,
    O: Optimizer<T, M> + ?Sized,
{
    clip.validate()?;
    if let Some(mask) = frozen {
        for (i, _) in mask.iter().enumerate().filter(|(_, &f)| f) {
            grads.tensor_mut(i).fill(T::zero());
        }
    }
    let (inv, mean) = mean_loss(optimizer, sums)?;
    // `g · 0` is 0 for a finite `g` and NaN for ±∞ or NaN, so the sum of
    // them is 0 exactly when every value is finite: a branch-free check
    // that vectorises (the AVX2 copy where the CPU has it; the values are
    // those of the portable loop, bit for bit: no multiply-add to fuse).
    let mut zero = T::zero();
    for i in 0..M::TENSORS {
        let g = grads.tensor_mut(i);
        if frozen.is_some_and(|mask| mask.get(i).copied().unwrap_or(false)) {
            // Zeroed above, and the other parts' values do not count.
            continue;
        }
        zero += crate::kernels::dispatch::fast(
            #[inline(always)]
            || sum_scale_and_check(g, parts, i, inv),
        )
        .unwrap_or_else(|| sum_scale_and_check(g, parts, i, inv));
    }
    if zero != T::zero() {
        return Err(TrainError::NonFinite {
            what: "gradient",
            at: None,
        });
    }
    clip.apply(grads);
    match frozen {
        None => optimizer.step(model, grads),
        Some(mask) => {
            optimizer.step_frozen(model, grads, &|i| mask.get(i).copied().unwrap_or(false))?
        }
    }
    Ok(mean)
}

/// `1 / n` and the mean loss of a batch of `sums.n` samples, once the
/// batch is not empty, the optimizer's hyperparameters are valid (a
/// learning rate made NaN or negative between steps would turn every
/// weight NaN in the update: refused first) and the mean loss is finite:
/// the checks of an update before the gradient's.
pub(crate) fn mean_loss<T: Float, M: Model<T>, O: Optimizer<T, M> + ?Sized>(
    optimizer: &O,
    sums: &BatchSums<T>,
) -> Result<(T, T), TrainError> {
    if sums.n == 0 {
        return Err(TrainError::Empty);
    }
    optimizer.validate()?;
    let inv = T::one() / T::of_f64(sums.n as f64);
    let mean = sums.loss * inv;
    if !mean.is_finite() {
        return Err(TrainError::NonFinite {
            what: "loss",
            at: None,
        });
    }
    Ok((inv, mean))
}

/// Tensor `i` of `grads`, `g`, plus tensor `i` of every part (in order),
/// times `inv`, block by block (each block still in the L1 cache when it is
/// scaled); returns the sum of the values times 0, as [`scale_and_check`].
#[inline(always)]
fn sum_scale_and_check<T: Float, M: Model<T>>(g: &mut [T], parts: &[&M], i: usize, inv: T) -> T {
    const BLOCK: usize = 1024;
    let mut zero = T::zero();
    for (b, block) in g.chunks_mut(BLOCK).enumerate() {
        for part in parts {
            let values = part.tensor(i).get(b * BLOCK..).unwrap_or(&[]);
            for (a, &v) in block.iter_mut().zip(values) {
                *a += v;
            }
        }
        zero += scale_and_check(block, inv);
    }
    zero
}

/// Values `lo..lo + out.len()` of tensor `i` of the sum of `grads`
/// (added in their order, as [`apply_mean_parts`] adds the parts: the same
/// bits) times `inv`, into `out`; returns the sum of the values times 0
/// (0 exactly when every one is finite). A range of a mean gradient, for
/// `fit`'s threads that each update a range of the parameters.
#[cfg(feature = "std")]
pub(crate) fn mean_range<T: Float, M: Model<T>>(
    out: &mut [T],
    grads: &[&M],
    i: usize,
    lo: usize,
    inv: T,
) -> T {
    crate::kernels::dispatch::fast(
        #[inline(always)]
        || mean_range_body(out, grads, i, lo, inv),
    )
    .unwrap_or_else(|| mean_range_body(out, grads, i, lo, inv))
}

#[cfg(feature = "std")]
#[inline(always)]
fn mean_range_body<T: Float, M: Model<T>>(
    out: &mut [T],
    grads: &[&M],
    i: usize,
    lo: usize,
    inv: T,
) -> T {
    const BLOCK: usize = 1024;
    let mut zero = T::zero();
    for (b, block) in out.chunks_mut(BLOCK).enumerate() {
        let at = lo + b * BLOCK;
        block.fill(T::zero());
        for (k, g) in grads.iter().enumerate() {
            let values = g.tensor(i).get(at..).unwrap_or(&[]);
            if k == 0 {
                for (a, &v) in block.iter_mut().zip(values) {
                    *a = v;
                }
            } else {
                for (a, &v) in block.iter_mut().zip(values) {
                    *a += v;
                }
            }
        }
        zero += scale_and_check(block, inv);
    }
    zero
}

/// `g *= inv` for every value, returning the sum of `g · 0` (0 exactly
/// when every scaled value is finite).
#[inline(always)]
fn scale_and_check<T: Float>(g: &mut [T], inv: T) -> T {
    // Eight independent sums (one add chain would bound the loop by the
    // add's latency; their order does not matter: each is 0 or NaN).
    let mut zero = [T::zero(); 8];
    let mut chunks = g.chunks_exact_mut(8);
    for c in &mut chunks {
        for (g, z) in c.iter_mut().zip(&mut zero) {
            *g *= inv;
            *z += *g * T::zero();
        }
    }
    for (g, z) in chunks.into_remainder().iter_mut().zip(&mut zero) {
        *g *= inv;
        *z += *g * T::zero();
    }
    zero.iter().fold(T::zero(), |a, &z| a + z)
}

/// One optimisation step on the batch `xs`, `ys` with caller-owned
/// gradient accumulator `grads` and `tape`: returns the batch's mean loss.
///
/// Errors (nothing is changed): `xs` and `ys` differ in length, the batch
/// is empty, the loss does not fit the model ([`check_fit`]), an
/// optimizer hyperparameter is out of range, an input is not finite
/// ([`TrainError::NonFiniteInput`] with its index in `xs`), a target does
/// not fit, or the loss or the gradient is not finite.
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
    optimizer.validate()?;
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
/// accumulator, `K` tapes and the optimizer.
///
/// With `K = 1` (the default, what [`Trainer::new`] makes) a step runs the
/// samples one by one through one tape: the least memory, for firmware.
/// With `K > 1` ([`Trainer::chunked`]) it runs them `K` at a time
/// ([`accumulate_chunked`]), which reads each `Dense` layer's weights and
/// weight gradients once per `K` samples instead of once per sample: faster
/// where those outgrow the L1 cache, for `K` tapes of memory. `fit` uses
/// [`CHUNK`].
///
/// ```ignore
/// let mut trainer = Trainer::boxed(Adam::new(AdamConfig::default()));
/// let loss = trainer.step(&mut model, &BinaryCrossEntropy, &xs[..32], &ys[..32])?;
/// ```
pub struct Trainer<T: Float, M: Train<T>, O, const K: usize = 1> {
    /// After a successful step: the batch's mean gradient.
    pub grads: M,
    /// The training forwards' records.
    pub tapes: [M::Tape; K],
    /// The optimizer and its state.
    pub optimizer: O,
    /// Gradient clipping before every update ([`Clip::None`] unless set).
    pub clip: Clip,
    _float: PhantomData<T>,
}

/// The chunk of samples `fit` runs together (see [`Trainer`]): 8 where the
/// target has AVX (one 256-bit register of `f32` per 8 samples in the
/// batched kernels) or where a `std` build for baseline x86-64 selects the
/// training kernels' AVX2+FMA clones at run time (`kernels::dispatch`),
/// else 1. Built for SSE2 only and run on a CPU without AVX2, the W1 CNN's
/// per-sample step already runs its `Dense` backward near the core's SSE2
/// peak and the batched kernels' extra broadcasts made it ~10% slower
/// (benches/train.rs).
pub const CHUNK: usize = if cfg!(target_feature = "avx") || crate::kernels::dispatch::ENABLED {
    8
} else {
    1
};

/// `items` (a layer-major batch's tapes) split into the chunks of `K` that
/// a batched layer runs together and the rest, which it runs sample by
/// sample. With `K = 1` there is no chunk: one sample through the batched
/// kernels is slower than through the one-sample kernels (the batched
/// forward walks the weights once per block of rows; 2.4× slower on the
/// W1 CNN's `Dense(64)` on 512 inputs), as [`CHUNK`] says.
pub fn chunks_mut<X, const K: usize>(items: &mut [X]) -> (&mut [[X; K]], &mut [X]) {
    let whole = if K > 1 { items.len() / K * K } else { 0 };
    let (head, rest) = items.split_at_mut(whole);
    (head.as_chunks_mut::<K>().0, rest)
}

/// [`chunks_mut`] for reading.
pub fn chunks<X, const K: usize>(items: &[X]) -> (&[[X; K]], &[X]) {
    let whole = if K > 1 { items.len() / K * K } else { 0 };
    let (head, rest) = items.split_at(whole);
    (head.as_chunks::<K>().0, rest)
}

impl<T: Float, M: Train<T>, O: Optimizer<T, M>> Trainer<T, M, O> {
    /// A trainer with zero gradients and one fresh tape.
    pub fn new(optimizer: O) -> Self {
        Self::chunked(optimizer)
    }

    /// [`Trainer::new`] on the heap (gradients and tapes can be large);
    /// see [`Trainer::boxed_chunked`].
    #[cfg(feature = "alloc")]
    pub fn boxed(optimizer: O) -> alloc::boxed::Box<Self> {
        Self::boxed_chunked(optimizer)
    }

    /// [`Trainer::new`] on the heap with nothing model-sized on the stack;
    /// see [`Trainer::boxed_chunked_zeroed`].
    #[cfg(feature = "alloc")]
    pub fn boxed_zeroed(optimizer: O) -> alloc::boxed::Box<Self>
    where
        M: Zeroable,
    {
        Self::boxed_chunked_zeroed(optimizer)
    }
}

impl<T: Float, M: Train<T>, O: Optimizer<T, M>, const K: usize> Trainer<T, M, O, K> {
    /// A trainer running `K` samples at a time (`K` is usually given by
    /// the type: `Trainer<f32, Net, Adam<Net>, 8>`).
    pub fn chunked(optimizer: O) -> Self {
        Trainer {
            grads: M::zeros(),
            tapes: core::array::from_fn(|_| M::new_tape()),
            optimizer,
            clip: Clip::None,
            _float: PhantomData,
        }
    }

    /// [`Trainer::chunked`] on the heap, built in place: each field is
    /// written into the box (the gradient accumulator by
    /// [`Model::zeros_in`]: zero bytes for a generated model, one
    /// `M::zeros()` for a hand-written one), so at most one tape is on the
    /// stack at a time, and `optimizer`, passed by value.
    #[cfg(feature = "alloc")]
    pub fn boxed_chunked(optimizer: O) -> alloc::boxed::Box<Self> {
        Self::boxed_in_place(optimizer, |grads| {
            // SAFETY: `grads` is the box's field (the caller's contract):
            // valid for writes and aligned, so it may be viewed as an
            // uninitialised `M` for `zeros_in` to fill.
            M::zeros_in(unsafe { &mut *grads.cast::<core::mem::MaybeUninit<M>>() });
        })
    }

    /// [`Trainer::chunked`] on the heap, with the gradient accumulator
    /// zeroed in place (`M: Zeroable`, as every generated model is): only
    /// one tape at a time and `optimizer` (by value: a small one, e.g. a
    /// `Box`ed optimizer behind `&mut`, or see [`train_step`]) are ever on
    /// the stack.
    #[cfg(feature = "alloc")]
    pub fn boxed_chunked_zeroed(optimizer: O) -> alloc::boxed::Box<Self>
    where
        M: Zeroable,
    {
        Self::boxed_in_place(optimizer, |grads| {
            // SAFETY: all-zero bytes are a valid `M` (`M: Zeroable`), and
            // `grads` is the box's field, valid for one write.
            unsafe { grads.write_bytes(0, 1) }
        })
    }

    /// Allocates a `Self` and initialises it field by field in place:
    /// `grads` by `init_grads` (which must initialise the `M` it is given
    /// a pointer to), the tapes one by one, then `optimizer`.
    #[cfg(feature = "alloc")]
    fn boxed_in_place(optimizer: O, init_grads: impl FnOnce(*mut M)) -> alloc::boxed::Box<Self> {
        let mut b = alloc::boxed::Box::<Self>::new_uninit();
        let p = b.as_mut_ptr();
        // SAFETY: `p` points to an allocation for one `Self`, and every
        // field is initialised exactly once below before `assume_init`:
        // `grads` by `init_grads` (both callers write a valid `M`);
        // `tapes` one element at a time (an array's elements are
        // contiguous, so `cast` + `add(k)` is element `k`); `optimizer`
        // `clip` and `_float` by value. The pointers come from `addr_of_mut!`, so
        // no reference to uninitialised memory is made. If `new_tape`
        // panics the box is dropped as `MaybeUninit` (a leak, not UB).
        unsafe {
            init_grads(core::ptr::addr_of_mut!((*p).grads));
            let tapes = core::ptr::addr_of_mut!((*p).tapes).cast::<M::Tape>();
            for k in 0..K {
                tapes.add(k).write(M::new_tape());
            }
            core::ptr::addr_of_mut!((*p).optimizer).write(optimizer);
            core::ptr::addr_of_mut!((*p).clip).write(Clip::None);
            core::ptr::addr_of_mut!((*p)._float).write(PhantomData);
            b.assume_init()
        }
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
        check_lengths(xs.len(), ys.len())?;
        Ok(self
            .step_with(model, loss, &NoMetric, xs.iter().zip(ys))?
            .loss)
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
        self.optimizer.validate()?;
        self.clip.validate()?;
        M::zero_grads(&mut self.grads);
        let sums = if K == 1 {
            let Some(tape) = self.tapes.first_mut() else {
                return Err(TrainError::Config("a Trainer needs K >= 1 tapes"));
            };
            accumulate(model, &mut self.grads, tape, loss, metric, samples)?
        } else {
            accumulate_chunked(
                model,
                &mut self.grads,
                &mut self.tapes,
                loss,
                metric,
                samples,
            )?
        };
        let loss = apply_mean_clipped(
            model,
            &mut self.grads,
            &mut self.optimizer,
            &sums,
            self.clip,
        )?;
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

    /// One layer-major step on the batch `xs`, `ys` (at most `N` samples,
    /// the whole batch at once, in `memory.mode`): as PyTorch trains in
    /// `train()`, BatchNorm normalises with the batch's statistics, and
    /// after the update its running statistics move
    /// ([`Train::update_running_stats`]). Every tape is in the
    /// caller-owned `memory`; nothing is allocated. Returns the batch's
    /// mean loss.
    ///
    /// Errors (nothing is changed: weights, optimizer state and running
    /// statistics are as they were): those of [`train_step`], more samples
    /// than `N`, and BatchNorm with batch statistics on one value per
    /// channel (a batch of one sample before a BatchNorm on a vector).
    pub fn step_layers<L, Y, const N: usize>(
        &mut self,
        model: &mut M,
        loss: &L,
        xs: &[M::Input],
        ys: &[Y],
        memory: &mut BatchMemory<T, M, N>,
    ) -> Result<T, TrainError>
    where
        L: Loss<T, Y> + ?Sized,
    {
        check_lengths(xs.len(), ys.len())?;
        let (Some(x0), Some(y0)) = (xs.first(), ys.first()) else {
            return Err(TrainError::Empty);
        };
        if xs.len() > N {
            return Err(TrainError::Config(
                "step_layers: more samples than the BatchMemory holds",
            ));
        }
        self.optimizer.validate()?;
        self.clip.validate()?;
        let n = xs.len();
        let refs: [&M::Input; N] = core::array::from_fn(|k| xs.get(k).unwrap_or(x0));
        let targets: [&Y; N] = core::array::from_fn(|k| ys.get(k).unwrap_or(y0));
        let (Some(refs), Some(targets)) = (refs.get(..n), targets.get(..n)) else {
            return Err(TrainError::Empty);
        };
        M::zero_grads(&mut self.grads);
        let batch = LayerBatch {
            xs: refs,
            ys: targets,
            weights: None,
        };
        let sums = accumulate_layers(
            model,
            &mut self.grads,
            memory.workspace(),
            loss,
            &NoMetric,
            batch,
            &mut [],
        )?;
        let loss = apply_mean_clipped(
            model,
            &mut self.grads,
            &mut self.optimizer,
            &sums,
            self.clip,
        )?;
        if let Some(tape) = memory.tapes.first() {
            model.update_running_stats(tape);
        }
        Ok(loss)
    }
}
