//! RMSprop.

use super::{non_negative, zero, Optimizer};
use crate::error::TrainError;
use crate::{Float, Model, Zeroable};

/// Hyperparameters of [`RmsProp`]; the defaults are Keras' (lr 0.001,
/// ρ 0.9, ε 1e-7), not PyTorch's (lr 0.01, α 0.99, ε 1e-8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the mean square (Keras' `rho`, PyTorch's `alpha`).
    pub rho: f64,
    /// Added to the denominator (outside the square root, as PyTorch).
    pub eps: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Divide by the centred second moment (an estimate of the variance).
    pub centered: bool,
    /// L2 penalty added to the gradient: `g + weight_decay · p`.
    pub weight_decay: f64,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 0.001,
            rho: 0.9,
            eps: 1e-7,
            momentum: 0.0,
            centered: false,
            weight_decay: 0.0,
        }
    }
}

/// `torch.optim.RMSprop`:
///
/// ```text
/// g = grad + weight_decay · p
/// s = ρ s + (1 − ρ) g²
/// d = √s + ε                          (or √(s − a²) + ε with a = ρ a + (1 − ρ) g, centred)
/// b = momentum · b + g / d;  p = p − lr · b     (with momentum)
/// p = p − lr · g / d                            (without)
/// ```
///
/// The state (mean square, mean gradient, momentum buffer) has the model's
/// type; the last two stay zero unless used.
#[derive(Clone, Debug)]
pub struct RmsProp<M> {
    /// Hyperparameters (may be changed between steps).
    pub config: RmsPropConfig,
    square_avg: M,
    grad_avg: M,
    buf: M,
    t: u64,
}

impl<M> RmsProp<M> {
    /// An optimizer with zero state.
    pub fn new<T: Float>(config: RmsPropConfig) -> Self
    where
        M: Model<T>,
    {
        RmsProp {
            config,
            square_avg: M::zeros(),
            grad_avg: M::zeros(),
            buf: M::zeros(),
            t: 0,
        }
    }

    /// [`RmsProp::new`] on the heap, allocated there directly: the state
    /// (model-shaped) is never on the stack, in debug or release builds.
    /// Every model `model!` generates is [`Zeroable`]; this is the
    /// constructor to use for a large one.
    #[cfg(feature = "alloc")]
    pub fn boxed_zeroed<T: Float>(config: RmsPropConfig) -> alloc::boxed::Box<Self>
    where
        M: Model<T> + Zeroable,
    {
        let mut opt = <Self as Zeroable>::boxed_zeroed();
        opt.config = config;
        opt
    }

    /// [`RmsProp::new`] on the heap, for any model: the box is allocated
    /// first and each model-shaped buffer is made in it in place by
    /// [`Model::zeros_in`]. For a model `model!` generates that writes zero
    /// bytes, so nothing model-sized is ever on the stack (the same as
    /// [`RmsProp::boxed_zeroed`]); a hand-written model's default
    /// `zeros_in` moves one `M::zeros()` in at a time.
    #[cfg(feature = "alloc")]
    pub fn boxed<T: Float>(config: RmsPropConfig) -> alloc::boxed::Box<Self>
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
            super::zeros_at(core::ptr::addr_of_mut!((*p).square_avg));
            super::zeros_at(core::ptr::addr_of_mut!((*p).grad_avg));
            super::zeros_at(core::ptr::addr_of_mut!((*p).buf));
            core::ptr::addr_of_mut!((*p).t).write(0);
            b.assume_init()
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }
}

impl<M> RmsProp<M> {
    /// One update of every tensor `i` for which `frozen(i)` is false; a
    /// frozen tensor, its gradient and its state are not touched.
    fn update<T: Float>(&mut self, model: &mut M, grads: &M, frozen: impl Fn(usize) -> bool)
    where
        M: Model<T>,
    {
        let c = self.config;
        let lr = T::of_f64(c.lr);
        let rho = T::of_f64(c.rho);
        let a = T::one() - rho;
        let eps = T::of_f64(c.eps);
        let mom = T::of_f64(c.momentum);
        let wd = T::of_f64(c.weight_decay);
        for i in 0..M::TENSORS {
            if frozen(i) {
                continue;
            }
            let p = model.tensor_mut(i);
            let g = grads.tensor(i);
            let s = self.square_avg.tensor_mut(i);
            let ga = self.grad_avg.tensor_mut(i);
            let b = self.buf.tensor_mut(i);
            let state = s.iter_mut().zip(ga.iter_mut()).zip(b.iter_mut());
            for ((p, &g), ((s, ga), b)) in p.iter_mut().zip(g).zip(state) {
                let g = if c.weight_decay != 0.0 {
                    g + wd * *p
                } else {
                    g
                };
                *s = rho * *s + a * g * g;
                let d = if c.centered {
                    *ga = rho * *ga + a * g;
                    (*s - *ga * *ga).sqrt() + eps
                } else {
                    s.sqrt() + eps
                };
                if c.momentum > 0.0 {
                    *b = mom * *b + g / d;
                    *p -= lr * *b;
                } else {
                    *p -= lr * g / d;
                }
            }
        }
        self.t += 1;
    }
}

impl<T: Float, M: Model<T>> Optimizer<T, M> for RmsProp<M> {
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
        zero(&mut self.square_avg);
        zero(&mut self.grad_avg);
        zero(&mut self.buf);
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

impl RmsPropConfig {
    /// Checks the ranges `torch.optim.RMSprop` checks: `lr`, `eps`,
    /// `momentum` and `weight_decay` finite and `>= 0`, and `rho` (its
    /// `alpha`) in `[0, 1]`.
    pub fn validate(&self) -> Result<(), TrainError> {
        non_negative(self.lr, "RMSprop: lr must be finite and >= 0")?;
        if !(0.0..=1.0).contains(&self.rho) {
            return Err(TrainError::Config("RMSprop: rho must be in [0, 1]"));
        }
        non_negative(self.eps, "RMSprop: eps must be finite and >= 0")?;
        non_negative(self.momentum, "RMSprop: momentum must be finite and >= 0")?;
        non_negative(
            self.weight_decay,
            "RMSprop: weight_decay must be finite and >= 0",
        )
    }
}

// SAFETY: the fields are `config` (floats and a `bool`), three model-shaped buffers (`M: Zeroable`) and the step count `t`: all valid when all-zero (an all-zero
// config is a valid, if useless, config; `boxed` overwrites it).
unsafe impl<M: Zeroable> Zeroable for RmsProp<M> {}
