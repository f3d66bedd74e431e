//! Metrics of one sample: a score in `[0, 1]` that `fit`
//! and `evaluate` (with `std`) average over the samples.
//!
//! A metric sees the model's output as it is (after its final activation),
//! as Keras' metrics do.

use crate::error::TrainError;
use crate::{Classes, Float, Tensor};

/// A per-sample score of the model's output `out` (flat, PyTorch order)
/// against a target of type `Y`.
///
/// A metric that is not a mean of per-sample scores (precision, recall,
/// F1, RMSE) is *stateful*, as Keras' metrics are: `fit` and `evaluate`
/// add each sample's sufficient statistics ([`Metric::tally`]) into
/// [`Metric::stats_len`] sums over the whole epoch or data set and compute
/// the value from them once ([`Metric::finish`]). The provided versions
/// of these three make the metric the mean of [`Metric::score`], at no
/// extra cost.
pub trait Metric<T: Float, Y: ?Sized> {
    /// The name Keras prints (`accuracy`), or `None` for no metric.
    const NAME: Option<&'static str>;
    /// Whether a larger value is better (accuracy, precision, F1; the
    /// provided `true`) or a smaller one (MAE, RMSE): what early stopping,
    /// checkpointing and reduce-on-plateau watch for, as Keras' `mode =
    /// "auto"` does.
    const HIGHER_IS_BETTER: bool = true;
    /// The score of one sample (for a stateful metric: its value on this
    /// sample alone; [`Trainer::step_with`](crate::Trainer::step_with)
    /// averages it over a batch).
    fn score(&self, out: &[T], y: &Y) -> Result<f64, TrainError>;
    /// How many sums [`Metric::tally`] adds into, for a model whose output
    /// has the class layout `out` (one: the sum of the scores).
    fn stats_len(&self, out: Classes) -> usize {
        let _ = out;
        1
    }
    /// Adds one sample's statistics into `stats` (of
    /// [`Metric::stats_len`] values); the provided version adds its score.
    fn tally(&self, out: &[T], y: &Y, stats: &mut [f64]) -> Result<(), TrainError> {
        let v = self.score(out, y)?;
        if let Some(s) = stats.first_mut() {
            *s += v;
        }
        Ok(())
    }
    /// The metric over `n` samples whose statistics summed to `stats`; the
    /// provided version is the mean score, `stats[0] / n`.
    fn finish(&self, stats: &[f64], n: usize) -> f64 {
        match (stats.first(), n) {
            (Some(&s), n) if n > 0 => s / n as f64,
            _ => 0.0,
        }
    }
}

/// No metric: `fit` and `evaluate` report the loss only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoMetric;

impl<T: Float, Y: ?Sized> Metric<T, Y> for NoMetric {
    const NAME: Option<&'static str> = None;
    fn score(&self, _out: &[T], _y: &Y) -> Result<f64, TrainError> {
        Ok(0.0)
    }
}

/// Keras' `binary_accuracy`: the fraction of output values whose
/// thresholded prediction (`out > threshold`, threshold 0.5) equals the
/// target (0 or 1).
///
/// ```
/// use staticnet_runtime::metrics::{BinaryAccuracy, Metric};
/// use staticnet_runtime::Vector;
/// let y = Vector::<f32, 2>::new(1.0, 0.0);
/// assert_eq!(BinaryAccuracy::default().score(&[0.9, 0.7], &y).unwrap(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BinaryAccuracy {
    /// A prediction above this counts as 1.
    pub threshold: f64,
}

impl Default for BinaryAccuracy {
    fn default() -> Self {
        BinaryAccuracy { threshold: 0.5 }
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

impl<T: Float, Y: Tensor<T>> Metric<T, Y> for BinaryAccuracy {
    const NAME: Option<&'static str> = Some("accuracy");
    fn score(&self, out: &[T], y: &Y) -> Result<f64, TrainError> {
        let y = target(y, out)?;
        if out.is_empty() {
            return Ok(0.0);
        }
        let thr = T::of_f64(self.threshold);
        let hits = out
            .iter()
            .zip(y)
            .filter(|&(&p, &t)| {
                let pred = if p > thr { T::one() } else { T::zero() };
                pred == t
            })
            .count();
        Ok(hits as f64 / out.len() as f64)
    }
}

/// The index of the largest value (the first on ties, as `argmax` in
/// NumPy); `None` for an empty slice.
pub fn argmax<T: Float>(v: &[T]) -> Option<usize> {
    let mut best: Option<(usize, T)> = None;
    for (i, &x) in v.iter().enumerate() {
        // NaN never wins a comparison, so it is skipped unless it comes first.
        let better = match best {
            None => true,
            Some((_, b)) => x > b,
        };
        if better {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

/// The argmax of distribution `g` of `v` laid out as `layout` says (the
/// class, not the flat index).
fn argmax_in<T: Float>(v: &[T], layout: Classes, g: usize) -> Option<usize> {
    let mut best: Option<(usize, T)> = None;
    for k in 0..layout.classes {
        let x = *v.get(layout.index(g, k))?;
        if best.is_none_or(|(_, b)| x > b) {
            best = Some((k, x));
        }
    }
    best.map(|(k, _)| k)
}

/// Keras' `categorical_accuracy` with a one-hot tensor target: 1 if the
/// output's argmax is the target's, else 0. On an output with several
/// class distributions (a sequence `[steps, classes]`: one per step) the
/// score is the fraction of steps whose argmax is right, so the mean over
/// samples is Keras' mean over batch and steps.
///
/// ```
/// use staticnet_runtime::metrics::{CategoricalAccuracy, Metric};
/// use staticnet_runtime::{Sequence, Vector};
/// let y = Vector::<f64, 3>::new(1.0, 0.0, 0.0);
/// assert_eq!(CategoricalAccuracy.score(&[0.1, 0.7, 0.2], &y).unwrap(), 0.0);
/// // Two steps of two classes: the first right, the second wrong.
/// let y = Sequence::<f64, 2, 2>::from_column_slice(&[1.0, 0.0, 1.0, 0.0]);
/// assert_eq!(CategoricalAccuracy.score(&[0.9, 0.1, 0.2, 0.8], &y).unwrap(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CategoricalAccuracy;

impl<T: Float, Y: Tensor<T>> Metric<T, Y> for CategoricalAccuracy {
    const NAME: Option<&'static str> = Some("accuracy");
    fn score(&self, out: &[T], y: &Y) -> Result<f64, TrainError> {
        let y = target(y, out)?;
        let layout = Y::CLASSES;
        let groups = layout.groups();
        if groups == 0 {
            return Ok(0.0);
        }
        let hits = (0..groups)
            .filter(|&g| argmax_in(out, layout, g) == argmax_in(y, layout, g))
            .count();
        Ok(hits as f64 / groups as f64)
    }
}

/// Keras' `sparse_categorical_accuracy`, with a class index `usize` as
/// the target: 1 if the output's argmax is that class, else 0. With one
/// label per step (`[usize; S]`) on a sequence output `[S, classes]` it
/// is the fraction of steps whose argmax is their label.
///
/// ```
/// use staticnet_runtime::metrics::{Metric, SparseCategoricalAccuracy};
/// assert_eq!(SparseCategoricalAccuracy.score(&[0.1f64, 0.7, 0.2], &1).unwrap(), 1.0);
/// // Two steps of two classes, labels [1, 1]: the first step is wrong.
/// assert_eq!(SparseCategoricalAccuracy.score(&[0.9f64, 0.1, 0.2, 0.8], &[1, 1]).unwrap(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SparseCategoricalAccuracy;

impl<T: Float> Metric<T, usize> for SparseCategoricalAccuracy {
    const NAME: Option<&'static str> = Some("accuracy");
    fn score(&self, out: &[T], label: &usize) -> Result<f64, TrainError> {
        sparse_accuracy(out, core::slice::from_ref(label))
    }
}

impl<T: Float, const S: usize> Metric<T, [usize; S]> for SparseCategoricalAccuracy {
    const NAME: Option<&'static str> = Some("accuracy");
    fn score(&self, out: &[T], labels: &[usize; S]) -> Result<f64, TrainError> {
        sparse_accuracy(out, labels)
    }
}

fn sparse_accuracy<T: Float>(out: &[T], labels: &[usize]) -> Result<f64, TrainError> {
    let steps = labels.len();
    if steps == 0 {
        return Ok(0.0);
    }
    let classes = out.len() / steps;
    if classes * steps != out.len() {
        return Err(TrainError::LabelCount {
            expected: steps,
            found: labels.len(),
        });
    }
    let layout = Classes {
        outer: steps,
        classes,
        inner: 1,
    };
    let mut hits = 0;
    for (g, &label) in labels.iter().enumerate() {
        if label >= classes {
            return Err(TrainError::LabelOutOfRange { label, classes });
        }
        if argmax_in(out, layout, g) == Some(label) {
            hits += 1;
        }
    }
    Ok(hits as f64 / steps as f64)
}

// ---------------------------------------------------------------------------
// Metrics over a whole set: precision, recall, F1, MAE, RMSE, and the
// confusion matrix.

/// The true-positive, false-positive and false-negative counts of binary
/// predictions `out > threshold` against targets (a target value counts
/// as positive when it is above 0.5), over every value of the output.
fn binary_counts<T: Float>(out: &[T], y: &[T], threshold: f64) -> [f64; 3] {
    let thr = T::of_f64(threshold);
    let half = T::of_f64(0.5);
    let mut c = [0.0; 3];
    for (&p, &t) in out.iter().zip(y) {
        match (p > thr, t > half) {
            (true, true) => c[0] += 1.0,
            (true, false) => c[1] += 1.0,
            (false, true) => c[2] += 1.0,
            (false, false) => {}
        }
    }
    c
}

/// `num / den`, 0 where `den` is 0 (Keras' `divide_no_nan`, scikit-learn's
/// `zero_division=0`).
fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

/// Which of the three scores a confusion count gives.
#[derive(Clone, Copy)]
enum Score {
    Precision,
    Recall,
    F1,
}

impl Score {
    /// The score of one class from its `[tp, fp, fn]`.
    fn of(self, c: &[f64]) -> f64 {
        let (tp, fp, fn_) = (c[0], c[1], c[2]);
        match self {
            Score::Precision => ratio(tp, tp + fp),
            Score::Recall => ratio(tp, tp + fn_),
            // 2PR / (P + R) written without the ratios, as scikit-learn
            // computes it: exact, and 0 when there is no positive at all.
            Score::F1 => ratio(2.0 * tp, 2.0 * tp + fp + fn_),
        }
    }
}

macro_rules! binary_metric {
    ($(#[$doc:meta])* $name:ident, $keras:literal, $score:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $name {
            /// A prediction above this counts as positive (Keras' default 0.5).
            pub threshold: f64,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { threshold: 0.5 }
            }
        }

        impl<T: Float, Y: Tensor<T>> Metric<T, Y> for $name {
            const NAME: Option<&'static str> = Some($keras);
            fn score(&self, out: &[T], y: &Y) -> Result<f64, TrainError> {
                let y = target(y, out)?;
                Ok($score.of(&binary_counts(out, y, self.threshold)))
            }
            fn stats_len(&self, _out: Classes) -> usize {
                3
            }
            fn tally(&self, out: &[T], y: &Y, stats: &mut [f64]) -> Result<(), TrainError> {
                let y = target(y, out)?;
                for (s, c) in stats.iter_mut().zip(binary_counts(out, y, self.threshold)) {
                    *s += c;
                }
                Ok(())
            }
            fn finish(&self, stats: &[f64], _n: usize) -> f64 {
                if stats.len() < 3 {
                    return 0.0;
                }
                $score.of(stats)
            }
        }
    };
}

binary_metric!(
    /// Keras' `Precision` (and scikit-learn's binary `precision_score`):
    /// `tp / (tp + fp)` over every output value of every sample, a value
    /// above `threshold` being a positive prediction and a target above
    /// 0.5 a positive; 0 when nothing is predicted positive. A stateful
    /// metric: `fit` and `evaluate` count over the whole epoch or set.
    ///
    /// ```
    /// use staticnet_runtime::metrics::{Metric, Precision};
    /// use staticnet_runtime::Vector;
    /// // One true positive, one false positive.
    /// let y = Vector::<f64, 3>::new(1.0, 0.0, 1.0);
    /// assert_eq!(Precision::default().score(&[0.9, 0.8, 0.1], &y).unwrap(), 0.5);
    /// ```
    Precision,
    "precision",
    Score::Precision
);

binary_metric!(
    /// Keras' `Recall` (scikit-learn's binary `recall_score`): `tp / (tp +
    /// fn)`, counted as [`Precision`] counts; 0 without any positive target.
    ///
    /// ```
    /// use staticnet_runtime::metrics::{Metric, Recall};
    /// use staticnet_runtime::Vector;
    /// let y = Vector::<f64, 3>::new(1.0, 0.0, 1.0);
    /// assert_eq!(Recall::default().score(&[0.9, 0.8, 0.1], &y).unwrap(), 0.5);
    /// ```
    Recall,
    "recall",
    Score::Recall
);

binary_metric!(
    /// The binary F1 score (scikit-learn's `f1_score`, Keras'
    /// `F1Score(threshold=0.5)` on one output without its `1e-7`):
    /// `2 tp / (2 tp + fp + fn)`, the harmonic mean of [`Precision`] and
    /// [`Recall`]; 0 when there is no positive at all.
    ///
    /// ```
    /// use staticnet_runtime::metrics::{F1Score, Metric};
    /// use staticnet_runtime::Vector;
    /// let y = Vector::<f64, 3>::new(1.0, 0.0, 1.0);
    /// assert_eq!(F1Score::default().score(&[0.9, 0.8, 0.1], &y).unwrap(), 0.5);
    /// ```
    F1Score,
    "f1_score",
    Score::F1
);

/// A target that names one class: a label `usize`, or a vector that is
/// one-hot (its argmax) or, with one value, a binary target (0 or 1,
/// rounded as Keras rounds it for `class_weight`).
pub trait Label<T: Float> {
    /// The class, for an output of `classes` classes (2 for a single
    /// sigmoid output); an error if it is not one of them.
    fn class(&self, classes: usize) -> Result<usize, TrainError>;
}

impl<T: Float> Label<T> for usize {
    fn class(&self, classes: usize) -> Result<usize, TrainError> {
        if *self < classes {
            Ok(*self)
        } else {
            Err(TrainError::LabelOutOfRange {
                label: *self,
                classes,
            })
        }
    }
}

impl<T: Float, const N: usize> Label<T> for crate::Vector<T, N> {
    fn class(&self, classes: usize) -> Result<usize, TrainError> {
        let v = self.as_slice();
        let k = if N == 1 {
            usize::from(v[0] > T::of_f64(0.5))
        } else {
            argmax(v).unwrap_or(0)
        };
        if N != classes && !(N == 1 && classes == 2) {
            return Err(TrainError::TargetLength {
                expected: classes,
                found: N,
            });
        }
        Ok(k)
    }
}

/// The number of classes an output of `len` values stands for: `len`, or
/// 2 for a single (sigmoid) output.
pub fn classes_of(len: usize) -> usize {
    if len == 1 {
        2
    } else {
        len
    }
}

/// The predicted class of an output: its argmax, or for a single output
/// whether it is above 0.5.
pub fn predicted_class<T: Float>(out: &[T]) -> usize {
    if out.len() == 1 {
        usize::from(out[0] > T::of_f64(0.5))
    } else {
        argmax(out).unwrap_or(0)
    }
}

/// One sample's `(true, predicted)` class.
fn classify<T: Float, Y: Label<T> + ?Sized>(
    out: &[T],
    y: &Y,
) -> Result<(usize, usize), TrainError> {
    let k = classes_of(out.len());
    Ok((y.class(k)?, predicted_class(out)))
}

macro_rules! macro_metric {
    ($(#[$doc:meta])* $name:ident, $keras:literal, $score:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;

        impl<T: Float, Y: Label<T> + ?Sized> Metric<T, Y> for $name {
            const NAME: Option<&'static str> = Some($keras);
            fn score(&self, out: &[T], y: &Y) -> Result<f64, TrainError> {
                // One sample: its true and predicted class, each counted
                // over all the classes.
                let (t, p) = classify(out, y)?;
                let k = classes_of(out.len());
                let sum: f64 = (0..k)
                    .map(|c| {
                        let counts = [
                            f64::from(u8::from(t == c && p == c)),
                            f64::from(u8::from(t != c && p == c)),
                            f64::from(u8::from(t == c && p != c)),
                        ];
                        $score.of(&counts)
                    })
                    .sum();
                Ok(sum / k as f64)
            }
            fn stats_len(&self, out: Classes) -> usize {
                3 * classes_of(out.classes * out.groups())
            }
            fn tally(&self, out: &[T], y: &Y, stats: &mut [f64]) -> Result<(), TrainError> {
                let (t, p) = classify(out, y)?;
                if stats.len() < 3 * classes_of(out.len()) {
                    return Err(TrainError::Config("macro metric: stats of the wrong size"));
                }
                if t == p {
                    stats[3 * t] += 1.0;
                } else {
                    stats[3 * p + 1] += 1.0;
                    stats[3 * t + 2] += 1.0;
                }
                Ok(())
            }
            fn finish(&self, stats: &[f64], _n: usize) -> f64 {
                let k = stats.len() / 3;
                if k == 0 {
                    return 0.0;
                }
                stats.chunks_exact(3).map(|c| $score.of(c)).sum::<f64>() / k as f64
            }
        }
    };
}

macro_metric!(
    /// Macro-averaged precision of a classifier (scikit-learn's
    /// `precision_score(average="macro", labels=range(K),
    /// zero_division=0)`): each class's `tp / (tp + fp)` with the argmax as
    /// the prediction (a single output: above 0.5, two classes), averaged
    /// with equal weight over all `K` classes of the output, a class never
    /// predicted counting 0. Targets are labels or one-hot vectors
    /// ([`Label`]). Stateful: counted over the whole epoch or set.
    ///
    /// ```
    /// use staticnet_runtime::metrics::{MacroPrecision, Metric};
    /// assert_eq!(MacroPrecision.score(&[0.1f64, 0.7, 0.2], &1).unwrap(), 1.0 / 3.0);
    /// ```
    MacroPrecision,
    "precision",
    Score::Precision
);

macro_metric!(
    /// Macro-averaged recall (scikit-learn's `recall_score(average="macro",
    /// labels=range(K), zero_division=0)`), counted as [`MacroPrecision`].
    ///
    /// ```
    /// use staticnet_runtime::metrics::{MacroRecall, Metric};
    /// assert_eq!(MacroRecall.score(&[0.1f64, 0.7, 0.2], &1).unwrap(), 1.0 / 3.0);
    /// ```
    MacroRecall,
    "recall",
    Score::Recall
);

macro_metric!(
    /// Macro-averaged F1 (scikit-learn's `f1_score(average="macro",
    /// labels=range(K), zero_division=0)`, Keras' `F1Score(average="macro")`
    /// on argmax predictions without its `1e-7`): the mean over the `K`
    /// classes of each class's `2 tp / (2 tp + fp + fn)` (not the F1 of the
    /// macro precision and recall).
    ///
    /// ```
    /// use staticnet_runtime::metrics::{MacroF1, Metric};
    /// assert_eq!(MacroF1.score(&[0.1f64, 0.7, 0.2], &1).unwrap(), 1.0 / 3.0);
    /// ```
    MacroF1,
    "f1_score",
    Score::F1
);

/// Keras' `mean_absolute_error` metric: the mean over the output's values
/// of `|y − out|`, averaged over the samples (all samples have as many
/// values, so this is the mean over every value). Lower is better.
///
/// ```
/// use staticnet_runtime::metrics::{MeanAbsoluteError, Metric};
/// use staticnet_runtime::Vector;
/// let y = Vector::<f64, 2>::new(1.0, 0.0);
/// assert_eq!(MeanAbsoluteError.score(&[0.5, 1.0], &y).unwrap(), 0.75);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeanAbsoluteError;

impl<T: Float, Y: Tensor<T>> Metric<T, Y> for MeanAbsoluteError {
    const NAME: Option<&'static str> = Some("mae");
    const HIGHER_IS_BETTER: bool = false;
    fn score(&self, out: &[T], y: &Y) -> Result<f64, TrainError> {
        let y = target(y, out)?;
        if out.is_empty() {
            return Ok(0.0);
        }
        let s: f64 = out
            .iter()
            .zip(y)
            .map(|(&p, &t)| (t.to_f64() - p.to_f64()).abs())
            .sum();
        Ok(s / out.len() as f64)
    }
}

/// Keras' `RootMeanSquaredError`: `√(Σ (y − out)² / count)` over every
/// value of every sample (the root of the mean over the set, not a mean
/// of per-sample roots). Lower is better; stateful.
///
/// ```
/// use staticnet_runtime::metrics::{Metric, RootMeanSquaredError};
/// use staticnet_runtime::Vector;
/// let y = Vector::<f64, 2>::new(3.0, 0.0);
/// assert_eq!(RootMeanSquaredError.score(&[0.0, 4.0], &y).unwrap(), 12.5f64.sqrt());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RootMeanSquaredError;

impl<T: Float, Y: Tensor<T>> Metric<T, Y> for RootMeanSquaredError {
    const NAME: Option<&'static str> = Some("rmse");
    const HIGHER_IS_BETTER: bool = false;
    fn score(&self, out: &[T], y: &Y) -> Result<f64, TrainError> {
        let mut s = [0.0; 2];
        self.tally(out, y, &mut s)?;
        Ok(Metric::<T, Y>::finish(self, &s, 1))
    }
    fn stats_len(&self, _out: Classes) -> usize {
        2
    }
    fn tally(&self, out: &[T], y: &Y, stats: &mut [f64]) -> Result<(), TrainError> {
        let y = target(y, out)?;
        let sq: f64 = out
            .iter()
            .zip(y)
            .map(|(&p, &t)| {
                let e = t.to_f64() - p.to_f64();
                e * e
            })
            .sum();
        if let [s, n, ..] = stats {
            *s += sq;
            *n += out.len() as f64;
        }
        Ok(())
    }
    fn finish(&self, stats: &[f64], _n: usize) -> f64 {
        match stats {
            [s, n, ..] if *n > 0.0 => libm::sqrt(s / n),
            _ => 0.0,
        }
    }
}

/// A confusion matrix: `count(t, p)` samples of true class `t` were
/// predicted as `p` (rows true, columns predicted, as scikit-learn's
/// `confusion_matrix`). Made by `fit::confusion_matrix` (with `std`) from
/// a model and its data, or filled with [`ConfusionMatrix::add`].
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// Number of classes.
    pub classes: usize,
    /// `classes × classes` counts, row-major (row = true class).
    pub counts: alloc::vec::Vec<u64>,
}

#[cfg(feature = "alloc")]
impl ConfusionMatrix {
    /// An all-zero matrix of `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            classes,
            counts: alloc::vec![0; classes * classes],
        }
    }

    /// Counts one sample of true class `t` predicted as `p` (ignored if
    /// either is out of range).
    pub fn add(&mut self, t: usize, p: usize) {
        if t < self.classes && p < self.classes {
            self.counts[t * self.classes + p] += 1;
        }
    }

    /// Samples of true class `t` predicted as `p`.
    pub fn count(&self, t: usize, p: usize) -> u64 {
        if t < self.classes && p < self.classes {
            self.counts[t * self.classes + p]
        } else {
            0
        }
    }

    /// `[tp, fp, fn]` of class `c`.
    fn class_counts(&self, c: usize) -> [f64; 3] {
        let k = self.classes;
        let tp = self.count(c, c) as f64;
        let col: u64 = (0..k).map(|t| self.count(t, c)).sum();
        let row: u64 = (0..k).map(|p| self.count(c, p)).sum();
        [tp, col as f64 - tp, row as f64 - tp]
    }

    fn macro_of(&self, s: Score) -> f64 {
        if self.classes == 0 {
            return 0.0;
        }
        (0..self.classes)
            .map(|c| s.of(&self.class_counts(c)))
            .sum::<f64>()
            / self.classes as f64
    }

    /// The fraction of samples on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let diag: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        ratio(diag as f64, total as f64)
    }

    /// Precision of class `c`, `tp / (tp + fp)` (0 if never predicted).
    pub fn precision(&self, c: usize) -> f64 {
        Score::Precision.of(&self.class_counts(c))
    }

    /// Recall of class `c`, `tp / (tp + fn)` (0 without samples).
    pub fn recall(&self, c: usize) -> f64 {
        Score::Recall.of(&self.class_counts(c))
    }

    /// F1 of class `c`, `2 tp / (2 tp + fp + fn)`.
    pub fn f1(&self, c: usize) -> f64 {
        Score::F1.of(&self.class_counts(c))
    }

    /// [`MacroPrecision`] of the counted samples.
    pub fn macro_precision(&self) -> f64 {
        self.macro_of(Score::Precision)
    }

    /// [`MacroRecall`] of the counted samples.
    pub fn macro_recall(&self) -> f64 {
        self.macro_of(Score::Recall)
    }

    /// [`MacroF1`] of the counted samples.
    pub fn macro_f1(&self) -> f64 {
        self.macro_of(Score::F1)
    }
}

/// The matrix as a table, one row per true class:
///
/// ```text
/// true\pred     0     1
///         0     5     1
///         1     0     4
/// ```
#[cfg(feature = "alloc")]
impl core::fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let w = self
            .counts
            .iter()
            .map(|c| alloc::format!("{c}").len())
            .chain([alloc::format!("{}", self.classes).len(), 4])
            .max()
            .unwrap_or(4)
            + 1;
        write!(f, "true\\pred")?;
        for p in 0..self.classes {
            write!(f, "{p:>w$}")?;
        }
        for t in 0..self.classes {
            writeln!(f)?;
            write!(f, "{t:>9}")?;
            for p in 0..self.classes {
                write!(f, "{:>w$}", self.count(t, p))?;
            }
        }
        Ok(())
    }
}
