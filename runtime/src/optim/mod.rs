//! Optimizers whose state is shaped like the model.
//!
//! Each optimizer keeps its moments in values of the model's own type (as
//! the gradients are), so it needs no heap and runs in `#![no_std]`, and it
//! updates parameter tensor by tensor through [`Model::tensor_mut`]: the
//! model, the gradient and every moment are zipped as storage-order slices.
//!
//! The formulas are PyTorch's (`torch.optim.SGD`, `Adam`, `AdamW`, `RMSprop`,
//! checked against PyTorch in `tests/training.rs`); the default
//! hyperparameters are Keras'.
//!
//! State can be large (Adam keeps two copies of the parameters). To avoid
//! building it on the stack, create it once with `boxed` (with `std`) and
//! reuse it: [`Optimizer::reset`] zeroes it in place.

mod adam;
mod adamw;
mod rmsprop;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use adamw::{AdamW, AdamWConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::error::TrainError;
use crate::{Float, Model};

/// One update rule: `step` changes `model` given the batch's (mean)
/// gradient `grads`, which has the model's type.
pub trait Optimizer<T: Float, M: Model<T>> {
    /// Applies one update.
    fn step(&mut self, model: &mut M, grads: &M);
    /// Zeroes the state (moments, step count) in place.
    fn reset(&mut self);
    /// The learning rate.
    fn learning_rate(&self) -> f64;
    /// Changes the learning rate (for a schedule). A bad value (NaN,
    /// negative) is reported by the next step's [`Optimizer::validate`],
    /// before it touches the weights.
    fn set_learning_rate(&mut self, lr: f64);
    /// Checks every hyperparameter (PyTorch's ranges: a finite learning
    /// rate `>= 0`, betas in `[0, 1)`, ...). Training calls it before the
    /// first step and before every update, so a bad value is an error that
    /// changes nothing. The provided version accepts everything.
    fn validate(&self) -> Result<(), TrainError> {
        Ok(())
    }
    /// [`Optimizer::step`] leaving every tensor `i` with `frozen(i)` as it
    /// is, with its state (moments) untouched: layer freezing, as PyTorch
    /// skips a parameter whose `requires_grad` is false (the step count,
    /// one per optimizer here, still advances). The provided version,
    /// for optimizers that do not implement it, steps as usual when
    /// nothing is frozen and otherwise refuses, changing nothing.
    fn step_frozen(
        &mut self,
        model: &mut M,
        grads: &M,
        frozen: &dyn Fn(usize) -> bool,
    ) -> Result<(), TrainError> {
        if (0..M::TENSORS).any(frozen) {
            return Err(TrainError::Config(
                "this optimizer does not implement step_frozen, so it cannot train a model with frozen layers",
            ));
        }
        self.step(model, grads);
        Ok(())
    }
    /// The update as one rule applied value by value ([`Elementwise`]),
    /// if it is one: `fit` on several threads then splits each update
    /// across its threads, each updating a contiguous range of the
    /// parameters (all tensors in order, as one flat vector) with the
    /// state of that range. `None` (the provided version): `fit` updates
    /// on one thread with [`Optimizer::step`].
    fn elementwise(&self) -> Option<Elementwise<T>> {
        None
    }
    /// Begins one step of the [`Elementwise`] form: advances the step
    /// count as [`Optimizer::step`] does and returns the step's constants
    /// for [`Elementwise::rule`]. Called only if
    /// [`Optimizer::elementwise`] is `Some`, once per update, after
    /// [`Optimizer::validate`]; the provided version returns zeros.
    fn begin_elementwise(&mut self) -> StepConstants<T> {
        [T::zero(); STEP_CONSTANTS]
    }
    /// Tensor `i` of each of the optimizer's model-shaped states, in the
    /// order [`Elementwise::rule`] takes them (for Adam its first and
    /// second moments; unused entries empty), as writable slices in the
    /// order of [`Model::tensor`]. The provided version: all empty.
    fn state_tensors_mut(&mut self, i: usize) -> [&mut [T]; MAX_STATES] {
        let _ = i;
        [&mut [], &mut [], &mut []]
    }
}

/// How many constants one step of an [`Elementwise`] rule takes.
pub const STEP_CONSTANTS: usize = 10;
/// The most state values per parameter an [`Elementwise`] rule keeps.
pub const MAX_STATES: usize = 3;
/// The constants of one step of an [`Elementwise`] rule (learning rate,
/// bias corrections, ...: what the rule needs besides the values),
/// from [`Optimizer::begin_elementwise`].
pub type StepConstants<T> = [T; STEP_CONSTANTS];

/// An optimizer's update as one rule applied value by value: each new
/// parameter and state value depends only on that parameter's value, its
/// gradient, its own state values and the step's constants, so a step can
/// be split into ranges of values updated on different threads, with the
/// same bits as the whole step.
#[derive(Clone, Copy, Debug)]
pub struct Elementwise<T> {
    /// State values per parameter (Adam: 2), at most [`MAX_STATES`].
    pub states: usize,
    /// The update of a run of parameters `p` with their gradients `g` and
    /// states (each as long as `p`; the first [`Elementwise::states`]
    /// are used), given the step's constants.
    pub rule: Rule<T>,
}

/// The function of an [`Elementwise`] update: `rule(constants, p, g,
/// states)`.
pub type Rule<T> = fn(&StepConstants<T>, &mut [T], &[T], [&mut [T]; MAX_STATES]);

/// An optimizer behind a mutable reference (e.g. one `fit` is also
/// given) works as the optimizer itself.
impl<T: Float, M: Model<T>, O: Optimizer<T, M> + ?Sized> Optimizer<T, M> for &mut O {
    fn step(&mut self, model: &mut M, grads: &M) {
        (**self).step(model, grads)
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn learning_rate(&self) -> f64 {
        (**self).learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f64) {
        (**self).set_learning_rate(lr)
    }
    fn validate(&self) -> Result<(), TrainError> {
        (**self).validate()
    }
    fn step_frozen(
        &mut self,
        model: &mut M,
        grads: &M,
        frozen: &dyn Fn(usize) -> bool,
    ) -> Result<(), TrainError> {
        (**self).step_frozen(model, grads, frozen)
    }
    fn elementwise(&self) -> Option<Elementwise<T>> {
        (**self).elementwise()
    }
    fn begin_elementwise(&mut self) -> StepConstants<T> {
        (**self).begin_elementwise()
    }
    fn state_tensors_mut(&mut self, i: usize) -> [&mut [T]; MAX_STATES] {
        (**self).state_tensors_mut(i)
    }
}

/// A boxed optimizer (`Adam::boxed_zeroed`) works as the optimizer itself,
/// so a [`Trainer`](crate::Trainer) can own one without its state passing
/// through the stack.
#[cfg(feature = "alloc")]
impl<T: Float, M: Model<T>, O: Optimizer<T, M> + ?Sized> Optimizer<T, M> for alloc::boxed::Box<O> {
    fn step(&mut self, model: &mut M, grads: &M) {
        (**self).step(model, grads)
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn learning_rate(&self) -> f64 {
        (**self).learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f64) {
        (**self).set_learning_rate(lr)
    }
    fn validate(&self) -> Result<(), TrainError> {
        (**self).validate()
    }
    fn step_frozen(
        &mut self,
        model: &mut M,
        grads: &M,
        frozen: &dyn Fn(usize) -> bool,
    ) -> Result<(), TrainError> {
        (**self).step_frozen(model, grads, frozen)
    }
    fn elementwise(&self) -> Option<Elementwise<T>> {
        (**self).elementwise()
    }
    fn begin_elementwise(&mut self) -> StepConstants<T> {
        (**self).begin_elementwise()
    }
    fn state_tensors_mut(&mut self, i: usize) -> [&mut [T]; MAX_STATES] {
        (**self).state_tensors_mut(i)
    }
}

/// `Ok` if `v` is finite and `>= 0`, else `Err(Config(msg))`.
pub(crate) fn non_negative(v: f64, msg: &'static str) -> Result<(), TrainError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(TrainError::Config(msg))
    }
}

/// `Ok` if `v` is in `[0, 1)`, else `Err(Config(msg))`.
pub(crate) fn unit(v: f64, msg: &'static str) -> Result<(), TrainError> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(TrainError::Config(msg))
    }
}

/// Sets every parameter of `m` to zero, in place.
pub(crate) fn zero<T: Float, M: Model<T>>(m: &mut M) {
    for i in 0..M::TENSORS {
        m.tensor_mut(i).fill(T::zero());
    }
}

/// Makes a model of zeros in place at `p` with [`Model::zeros_in`] (zero
/// bytes for a generated model): the optimizers' `boxed` constructors
/// build their model-shaped state with it.
///
/// # Safety
///
/// `p` must be valid for writes of one `M` and aligned for it (a field of
/// an allocation being initialised); whatever it held is overwritten, not
/// dropped.
#[cfg(feature = "alloc")]
unsafe fn zeros_at<T: Float, M: Model<T>>(p: *mut M) {
    // SAFETY: `MaybeUninit<M>` has `M`'s size and alignment, and the
    // caller guarantees `p` is valid for writes and aligned, so a unique
    // reference to it as uninitialised memory is sound for this call.
    M::zeros_in(unsafe { &mut *p.cast::<core::mem::MaybeUninit<M>>() });
}
