//! AdamW: Adam with decoupled weight decay.

use super::{non_negative, unit, zero, Optimizer};
use crate::error::TrainError;
use crate::{Float, Model, Zeroable};

/// Hyperparameters of [`AdamW`]; the defaults are Keras' `AdamW` (lr
/// 0.001, β₁ 0.9, β₂ 0.999, ε 1e-7, weight decay 0.004), not PyTorch's
/// (ε 1e-8, weight decay 0.01).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay: every step first multiplies each weight by
    /// `1 − lr · weight_decay`.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            weight_decay: 0.004,
        }
    }
}

impl AdamWConfig {
    /// Checks the ranges `torch.optim.AdamW` checks: `lr`, `eps` and
    /// `weight_decay` finite and `>= 0`, `beta1` and `beta2` in `[0, 1)`.
    pub fn validate(&self) -> Result<(), TrainError> {
        non_negative(self.lr, "AdamW: lr must be finite and >= 0")?;
        unit(self.beta1, "AdamW: beta1 must be in [0, 1)")?;
        unit(self.beta2, "AdamW: beta2 must be in [0, 1)")?;
        non_negative(self.eps, "AdamW: eps must be finite and >= 0")?;
        non_negative(
            self.weight_decay,
            "AdamW: weight_decay must be finite and >= 0",
        )
    }
}

/// `torch.optim.AdamW` (without amsgrad): PyTorch's decoupled weight
/// decay (Loshchilov & Hutter), applied to the weights rather than added
/// to the gradient as [`Adam`](super::Adam)'s L2 `weight_decay` is:
///
/// ```text
/// t = t + 1
/// p = p · (1 − lr · weight_decay)
/// m = β₁ m + (1 − β₁) g
/// v = β₂ v + (1 − β₂) g²
/// p = p − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
#[derive(Clone, Debug)]
pub struct AdamW<M> {
    /// Hyperparameters (may be changed between steps).
    pub config: AdamWConfig,
    m: M,
    v: M,
    t: u32,
}

impl<M> AdamW<M> {
    /// An optimizer with zero moments.
    pub fn new<T: Float>(config: AdamWConfig) -> Self
    where
        M: Model<T>,
    {
        AdamW {
            config,
            m: M::zeros(),
            v: M::zeros(),
            t: 0,
        }
    }

    /// [`AdamW::new`] on the heap, allocated there directly (nothing
    /// model-sized on the stack).
    #[cfg(feature = "alloc")]
    pub fn boxed_zeroed<T: Float>(config: AdamWConfig) -> alloc::boxed::Box<Self>
    where
        M: Model<T> + Zeroable,
    {
        let mut opt = <Self as Zeroable>::boxed_zeroed();
        opt.config = config;
        opt
    }

    /// [`AdamW::new`] on the heap, for any model: the box is allocated
    /// first and each model-shaped buffer is made in it in place by
    /// [`Model::zeros_in`]. For a model `model!` generates that writes zero
    /// bytes, so nothing model-sized is ever on the stack (the same as
    /// [`AdamW::boxed_zeroed`]); a hand-written model's default
    /// `zeros_in` moves one `M::zeros()` in at a time.
    #[cfg(feature = "alloc")]
    pub fn boxed<T: Float>(config: AdamWConfig) -> alloc::boxed::Box<Self>
    where
        M: Model<T>,
    {
        let mut b = alloc::boxed::Box::<Self>::new_uninit();
        let p = b.as_mut_ptr();
        // SAFETY: `p` points to an allocation for one `Self`; every field
        // is written exactly once through `addr_of_mut!` (no reference to
        // uninitialised memory; `zeros_at` gets a valid, aligned field)
        // before `assume_init`.
        unsafe {
            core::ptr::addr_of_mut!((*p).config).write(config);
            super::zeros_at(core::ptr::addr_of_mut!((*p).m));
            super::zeros_at(core::ptr::addr_of_mut!((*p).v));
            core::ptr::addr_of_mut!((*p).t).write(0);
            b.assume_init()
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// The first and second moment estimates.
    pub fn moments(&self) -> (&M, &M) {
        (&self.m, &self.v)
    }
}

impl<M> AdamW<M> {
    /// One update of every tensor `i` for which `frozen(i)` is false; a
    /// frozen tensor, its gradient and its state are not touched.
    fn update<T: Float>(&mut self, model: &mut M, grads: &M, frozen: impl Fn(usize) -> bool)
    where
        M: Model<T>,
    {
        let c = self.config;
        self.t = self.t.saturating_add(1);
        let t = f64::from(self.t);
        let bc1 = 1.0 - libm::pow(c.beta1, t);
        let bc2 = 1.0 - libm::pow(c.beta2, t);
        let step_size = T::of_f64(c.lr / bc1);
        let bc2_sqrt = T::of_f64(libm::sqrt(bc2));
        let (b1, b2) = (T::of_f64(c.beta1), T::of_f64(c.beta2));
        let (a1, a2) = (T::one() - b1, T::one() - b2);
        let eps = T::of_f64(c.eps);
        let decay = T::of_f64(1.0 - c.lr * c.weight_decay);
        for i in 0..M::TENSORS {
            if frozen(i) {
                continue;
            }
            let p = model.tensor_mut(i);
            let g = grads.tensor(i);
            let m = self.m.tensor_mut(i);
            let v = self.v.tensor_mut(i);
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                if c.weight_decay != 0.0 {
                    *p *= decay;
                }
                *m = b1 * *m + a1 * g;
                *v = b2 * *v + a2 * g * g;
                let denom = v.sqrt() / bc2_sqrt + eps;
                *p -= step_size * *m / denom;
            }
        }
    }
}

impl<T: Float, M: Model<T>> Optimizer<T, M> for AdamW<M> {
    fn step(&mut self, model: &mut M, grads: &M) {
        self.update(model, grads, |_| false)
    }

    fn step_frozen(
        &mut self,
        model: &mut M,
        grads: &M,
        frozen: &dyn Fn(usize) -> bool,
    ) -> Result<(), TrainError> {
        self.update(model, grads, frozen);
        Ok(())
    }

    fn reset(&mut self) {
        zero(&mut self.m);
        zero(&mut self.v);
        self.t = 0;
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn validate(&self) -> Result<(), TrainError> {
        self.config.validate()
    }
}

// SAFETY: the fields are `config` (floats), `m` and `v` (`M: Zeroable`) and
// the step count `t`: all valid when all-zero (`boxed_zeroed` then
// overwrites the config).
unsafe impl<M: Zeroable> Zeroable for AdamW<M> {}
