//! Stochastic gradient descent with momentum and Nesterov momentum.

use super::{non_negative, zero, Optimizer};
use crate::error::TrainError;
use crate::{Float, Model, Zeroable};

/// Hyperparameters of [`Sgd`] (Keras' defaults: lr 0.01, no momentum).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: plain SGD).
    pub momentum: f64,
    /// Dampening of the momentum's gradient term (PyTorch's `dampening`).
    pub dampening: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`, as in
    /// PyTorch; otherwise [`Optimizer::validate`] is an error).
    pub nesterov: bool,
    /// L2 penalty added to the gradient: `g + weight_decay · p`.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// `torch.optim.SGD`:
///
/// ```text
/// g = grad + weight_decay · p
/// b = g                                    (first step)
/// b = momentum · b + (1 − dampening) · g   (later steps)
/// g = g + momentum · b   (Nesterov)   or   g = b   (momentum)
/// p = p − lr · g
/// ```
///
/// ```
/// use staticnet_runtime::optim::{Optimizer, Sgd, SgdConfig};
/// # use staticnet_runtime::{Model, Param, ParamMut, LayerInfo, SVector};
/// # #[derive(Clone)] struct W(SVector<f64, 1>);
/// # impl Model<f64> for W {
/// #     type Input = SVector<f64, 1>; type Output = SVector<f64, 1>;
/// #     const NAME: &'static str = "W"; const INPUT_SHAPE: &'static [usize] = &[1];
/// #     const LAYERS: &'static [LayerInfo] = &[]; const PARAMS: usize = 1; const TENSORS: usize = 1;
/// #     const ACTIVATION_VALUES: usize = 2;
/// #     fn zeros() -> Self { W(SVector::zeros()) }
/// #     fn forward(&self, x: &Self::Input) -> Self::Output { x.component_mul(&self.0) }
/// #     fn visit_params<'a>(&'a self, _f: &mut dyn FnMut(Param<'a, f64>)) {}
/// #     fn visit_params_mut<'a>(&'a mut self, _f: &mut dyn FnMut(ParamMut<'a, f64>)) {}
/// #     fn tensor(&self, i: usize) -> &[f64] { if i == 0 { self.0.as_slice() } else { &[] } }
/// #     fn tensor_mut(&mut self, i: usize) -> &mut [f64] { if i == 0 { self.0.as_mut_slice() } else { &mut [] } }
/// #     fn init_in(&mut self, _seed: u64) {}
/// # }
/// let mut w = W(SVector::from([1.0]));
/// let g = W(SVector::from([0.5]));
/// let mut sgd = Sgd::<W>::new(SgdConfig { lr: 0.1, ..Default::default() });
/// sgd.step(&mut w, &g);
/// assert_eq!(w.0[0], 1.0 - 0.1 * 0.5);
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<M> {
    /// Hyperparameters (may be changed between steps).
    pub config: SgdConfig,
    /// The momentum buffer (unused without momentum).
    buf: M,
    t: u64,
}

impl<M> Sgd<M> {
    /// An optimizer with zero state.
    pub fn new<T: Float>(config: SgdConfig) -> Self
    where
        M: Model<T>,
    {
        Sgd {
            config,
            buf: M::zeros(),
            t: 0,
        }
    }

    /// [`Sgd::new`] on the heap, allocated there directly: the state
    /// (model-shaped) is never on the stack, in debug or release builds.
    /// Every model `model!` generates is [`Zeroable`]; this is the
    /// constructor to use for a large one.
    #[cfg(feature = "alloc")]
    pub fn boxed_zeroed<T: Float>(config: SgdConfig) -> alloc::boxed::Box<Self>
    where
        M: Model<T> + Zeroable,
    {
        let mut opt = <Self as Zeroable>::boxed_zeroed();
        opt.config = config;
        opt
    }

    /// [`Sgd::new`] on the heap, for any model: the box is allocated
    /// first and each model-shaped buffer is made in it in place by
    /// [`Model::zeros_in`]. For a model `model!` generates that writes zero
    /// bytes, so nothing model-sized is ever on the stack (the same as
    /// [`Sgd::boxed_zeroed`]); a hand-written model's default
    /// `zeros_in` moves one `M::zeros()` in at a time.
    #[cfg(feature = "alloc")]
    pub fn boxed<T: Float>(config: SgdConfig) -> alloc::boxed::Box<Self>
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

impl<M> Sgd<M> {
    /// One update of every tensor `i` for which `frozen(i)` is false; a
    /// frozen tensor, its gradient and its state are not touched.
    fn update<T: Float>(&mut self, model: &mut M, grads: &M, frozen: impl Fn(usize) -> bool)
    where
        M: Model<T>,
    {
        let c = self.config;
        let lr = T::of_f64(c.lr);
        let wd = T::of_f64(c.weight_decay);
        let mom = T::of_f64(c.momentum);
        let damp = T::one() - T::of_f64(c.dampening);
        let first = self.t == 0;
        // (`validate` rejects Nesterov without momentum or with dampening.)
        let nesterov = c.nesterov && c.momentum != 0.0 && c.dampening == 0.0;
        for i in 0..M::TENSORS {
            if frozen(i) {
                continue;
            }
            let p = model.tensor_mut(i);
            let g = grads.tensor(i);
            let b = self.buf.tensor_mut(i);
            for ((p, &g), b) in p.iter_mut().zip(g).zip(b.iter_mut()) {
                let mut d = g;
                if c.weight_decay != 0.0 {
                    d += wd * *p;
                }
                if c.momentum != 0.0 {
                    *b = if first { d } else { mom * *b + damp * d };
                    d = if nesterov { d + mom * *b } else { *b };
                }
                *p -= lr * d;
            }
        }
        self.t += 1;
    }
}

impl<T: Float, M: Model<T>> Optimizer<T, M> for Sgd<M> {
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

impl SgdConfig {
    /// Checks the ranges `torch.optim.SGD` checks: `lr`, `momentum`,
    /// `dampening` and `weight_decay` finite and `>= 0`, and Nesterov only
    /// with a momentum and zero dampening.
    pub fn validate(&self) -> Result<(), TrainError> {
        non_negative(self.lr, "SGD: lr must be finite and >= 0")?;
        non_negative(self.momentum, "SGD: momentum must be finite and >= 0")?;
        non_negative(self.dampening, "SGD: dampening must be finite and >= 0")?;
        non_negative(
            self.weight_decay,
            "SGD: weight_decay must be finite and >= 0",
        )?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(TrainError::Config(
                "SGD: Nesterov momentum needs momentum > 0 and dampening 0",
            ));
        }
        Ok(())
    }
}

// SAFETY: the fields are `config` (floats and a `bool`), `buf` (`M: Zeroable`) and the step count `t`: all valid when all-zero (an all-zero
// config is a valid, if useless, config; `boxed` overwrites it).
unsafe impl<M: Zeroable> Zeroable for Sgd<M> {}
