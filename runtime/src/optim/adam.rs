//! Adam.

use super::{non_negative, unit, zero, Elementwise, Optimizer, StepConstants, MAX_STATES};
use crate::error::TrainError;
use crate::{Float, Model, Zeroable};

/// Hyperparameters of [`Adam`]; the defaults are Keras' (lr 0.001,
/// β₁ 0.9, β₂ 0.999, ε 1e-7), not PyTorch's (whose ε is 1e-8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty added to the gradient, `g + weight_decay · p` (PyTorch's
    /// `Adam(weight_decay=…)`, not AdamW's decoupled decay).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            weight_decay: 0.0,
        }
    }
}

/// `torch.optim.Adam` (without amsgrad), with bias correction:
///
/// ```text
/// t = t + 1
/// g = grad + weight_decay · p
/// m = β₁ m + (1 − β₁) g
/// v = β₂ v + (1 − β₂) g²
/// p = p − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// The moments `m` and `v` have the model's type. For a large model build
/// the optimizer with `Adam::boxed` (with `std`) once and [`Optimizer::reset`] it to
/// start again.
#[derive(Clone, Debug)]
pub struct Adam<M> {
    /// Hyperparameters (may be changed between steps).
    pub config: AdamConfig,
    m: M,
    v: M,
    t: u32,
}

impl<M> Adam<M> {
    /// An optimizer with zero moments.
    ///
    /// ```ignore
    /// let mut adam = Adam::<SeedCnn>::new(AdamConfig { lr: 0.01, ..Default::default() });
    /// ```
    pub fn new<T: Float>(config: AdamConfig) -> Self
    where
        M: Model<T>,
    {
        Adam {
            config,
            m: M::zeros(),
            v: M::zeros(),
            t: 0,
        }
    }

    /// [`Adam::new`] on the heap, allocated there directly: the state
    /// (model-shaped) is never on the stack, in debug or release builds.
    /// Every model `model!` generates is [`Zeroable`]; this is the
    /// constructor to use for a large one.
    #[cfg(feature = "alloc")]
    pub fn boxed_zeroed<T: Float>(config: AdamConfig) -> alloc::boxed::Box<Self>
    where
        M: Model<T> + Zeroable,
    {
        let mut opt = <Self as Zeroable>::boxed_zeroed();
        opt.config = config;
        opt
    }

    /// [`Adam::new`] on the heap, for any model: the box is allocated
    /// first and each model-shaped buffer is made in it in place by
    /// [`Model::zeros_in`]. For a model `model!` generates that writes zero
    /// bytes, so nothing model-sized is ever on the stack (the same as
    /// [`Adam::boxed_zeroed`]); a hand-written model's default
    /// `zeros_in` moves one `M::zeros()` in at a time.
    #[cfg(feature = "alloc")]
    pub fn boxed<T: Float>(config: AdamConfig) -> alloc::boxed::Box<Self>
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

    /// Number of steps taken (PyTorch's `state['step']`).
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// The first and second moment estimates.
    pub fn moments(&self) -> (&M, &M) {
        (&self.m, &self.v)
    }
}

impl<M> Adam<M> {
    /// Advances the step count and returns the step's constants.
    fn begin<T: Float>(&mut self) -> AdamStep<T> {
        let c = self.config;
        self.t = self.t.saturating_add(1);
        let t = f64::from(self.t);
        // Bias corrections in f64, as PyTorch computes them in Python floats.
        let bc1 = 1.0 - libm::pow(c.beta1, t);
        let bc2 = 1.0 - libm::pow(c.beta2, t);
        let step_size = T::of_f64(c.lr / bc1);
        // PyTorch divides by sqrt(bc2); multiplying by its reciprocal
        // differs by at most an ulp and saves one of the two divisions per
        // weight that bound this loop (W1 CNN: 16.7 -> 12.2 us per update,
        // native).
        let inv_bc2_sqrt = T::of_f64(1.0 / libm::sqrt(bc2));
        let (b1, b2) = (T::of_f64(c.beta1), T::of_f64(c.beta2));
        let (a1, a2) = (T::one() - b1, T::one() - b2);
        let eps = T::of_f64(c.eps);
        let wd = T::of_f64(c.weight_decay);
        AdamStep {
            b1,
            b2,
            a1,
            a2,
            eps,
            wd: (c.weight_decay != 0.0).then_some(wd),
            step_size,
            inv_bc2_sqrt,
        }
    }

    /// One update of every tensor `i` for which `frozen(i)` is false; a
    /// frozen tensor, its gradient and its state are not touched.
    fn update<T: Float>(&mut self, model: &mut M, grads: &M, frozen: impl Fn(usize) -> bool)
    where
        M: Model<T>,
    {
        let k = self.begin::<T>();
        for i in 0..M::TENSORS {
            if frozen(i) {
                continue;
            }
            let p = model.tensor_mut(i);
            let g = grads.tensor(i);
            let m = self.m.tensor_mut(i);
            let v = self.v.tensor_mut(i);
            // One tensor per call of the AVX2 copy where the CPU has it
            // (8 lanes, not the baseline's 4; the same values bit for bit:
            // Rust never fuses `a · b + c` by itself).
            crate::kernels::dispatch::fast(
                #[inline(always)]
                || k.run(p, g, m, v),
            )
            .unwrap_or_else(|| k.run(p, g, m, v));
        }
    }
}

/// The constants of one Adam update.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AdamStep<T> {
    b1: T,
    b2: T,
    a1: T,
    a2: T,
    eps: T,
    /// The L2 penalty, if any.
    wd: Option<T>,
    step_size: T,
    inv_bc2_sqrt: T,
}

impl<T: Float> AdamStep<T> {
    /// The constants as [`StepConstants`] (the L2 penalty's presence as
    /// 1 or 0 in the last).
    fn pack(self) -> StepConstants<T> {
        let (wd, on) = match self.wd {
            Some(wd) => (wd, T::one()),
            None => (T::zero(), T::zero()),
        };
        [
            self.b1,
            self.b2,
            self.a1,
            self.a2,
            self.eps,
            self.step_size,
            self.inv_bc2_sqrt,
            wd,
            on,
            T::zero(),
        ]
    }

    /// [`AdamStep::pack`]'s inverse.
    fn unpack(c: &StepConstants<T>) -> Self {
        let [b1, b2, a1, a2, eps, step_size, inv_bc2_sqrt, wd, on, _] = *c;
        AdamStep {
            b1,
            b2,
            a1,
            a2,
            eps,
            wd: (on != T::zero()).then_some(wd),
            step_size,
            inv_bc2_sqrt,
        }
    }

    /// [`Elementwise::rule`] of Adam: [`AdamStep::run`] in the AVX2 copy
    /// where the CPU has it.
    fn rule(c: &StepConstants<T>, p: &mut [T], g: &[T], [m, v, _]: [&mut [T]; MAX_STATES]) {
        let k = AdamStep::unpack(c);
        crate::kernels::dispatch::fast(
            #[inline(always)]
            || k.run(p, g, m, v),
        )
        .unwrap_or_else(|| k.run(p, g, m, v));
    }

    /// The update of one tensor `p` with gradient `g` and moments `m`, `v`.
    #[inline(always)]
    fn run(&self, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
        let AdamStep {
            b1,
            b2,
            a1,
            a2,
            eps,
            wd,
            step_size,
            inv_bc2_sqrt,
        } = *self;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = match wd {
                Some(wd) => g + wd * *p,
                None => g,
            };
            *m = b1 * *m + a1 * g;
            *v = b2 * *v + a2 * g * g;
            let denom = v.sqrt() * inv_bc2_sqrt + eps;
            *p -= step_size * *m / denom;
        }
    }
}

impl<T: Float, M: Model<T>> Optimizer<T, M> for Adam<M> {
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

    fn elementwise(&self) -> Option<Elementwise<T>> {
        Some(Elementwise {
            states: 2,
            rule: AdamStep::<T>::rule,
        })
    }

    fn begin_elementwise(&mut self) -> StepConstants<T> {
        self.begin::<T>().pack()
    }

    fn state_tensors_mut(&mut self, i: usize) -> [&mut [T]; MAX_STATES] {
        [self.m.tensor_mut(i), self.v.tensor_mut(i), &mut []]
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

impl AdamConfig {
    /// Checks the ranges `torch.optim.Adam` checks: `lr`, `eps` and
    /// `weight_decay` finite and `>= 0`, `beta1` and `beta2` in `[0, 1)`.
    pub fn validate(&self) -> Result<(), TrainError> {
        non_negative(self.lr, "Adam: lr must be finite and >= 0")?;
        unit(self.beta1, "Adam: beta1 must be in [0, 1)")?;
        unit(self.beta2, "Adam: beta2 must be in [0, 1)")?;
        non_negative(self.eps, "Adam: eps must be finite and >= 0")?;
        non_negative(
            self.weight_decay,
            "Adam: weight_decay must be finite and >= 0",
        )
    }
}

// SAFETY: the fields are `config` (floats), `m` and `v` (`M: Zeroable`) and the step count `t`: all valid when all-zero (an all-zero
// config is a valid, if useless, config; `boxed` overwrites it).
unsafe impl<M: Zeroable> Zeroable for Adam<M> {}
