//! Metrics of one sample: a score in `[0, 1]` that `fit`
//! and `evaluate` (with `std`) average over the samples.
//!
//! A metric sees the model's output as it is (after its final activation),
//! as Keras' metrics do.

use crate::error::TrainError;
use crate::{Classes, Float, Tensor};

/// A per-sample score of the model's output `out` (flat, PyTorch order)
/// against a target of type `Y`.
pub trait Metric<T: Float, Y: ?Sized> {
    /// The name Keras prints (`accuracy`), or `None` for no metric.
    const NAME: Option<&'static str>;
    /// The score of one sample.
    fn score(&self, out: &[T], y: &Y) -> Result<f64, TrainError>;
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
