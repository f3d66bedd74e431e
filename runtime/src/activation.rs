//! Activation functions, forward and derivative together.
//!
//! An activation is a zero-sized type passed to a kernel as a type
//! parameter, so the kernel applies it while it writes its output (fused, no
//! extra pass over memory and no extra buffer) and the choice costs nothing at
//! run time.

use crate::Float;

/// An activation applied to a layer's output.
///
/// Element-wise activations implement [`Activation::scalar`]; `Softmax` acts
/// on a whole group of values (a vector, one step of a sequence, or the
/// channels of one pixel) through [`Activation::apply`].
pub trait Activation: Copy + Default + 'static {
    /// The DSL spelling (`relu`, `sigmoid`, ...).
    const NAME: &'static str;
    /// `true` if the activation acts on each value alone.
    const ELEMENTWISE: bool;
    /// The activation of one value (element-wise activations only; `Softmax`
    /// returns its input unchanged here).
    fn scalar<T: Float>(x: T) -> T;
    /// Applies the activation in place to one group of values.
    #[inline(always)]
    fn apply<T: Float>(y: &mut [T]) {
        for v in y.iter_mut() {
            *v = Self::scalar(*v);
        }
    }
    /// Turns `dy = dL/dy` into `dL/dz` in place, given the activation's
    /// output `y = f(z)` for the same group (the derivative is taken from
    /// the output, as `sigmoid' = y (1 - y)`).
    fn backward<T: Float>(y: &[T], dy: &mut [T]);
}

/// The identity (`linear` in Keras).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Linear;

/// `max(0, x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu;

/// `1 / (1 + e^-x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sigmoid;

/// `tanh(x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tanh;

/// `e^x_i / Σ_j e^x_j` over one group, computed after subtracting the
/// group's maximum so it cannot overflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Softmax;

impl Activation for Linear {
    const NAME: &'static str = "linear";
    const ELEMENTWISE: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        x
    }
    #[inline(always)]
    fn apply<T: Float>(_y: &mut [T]) {}
    #[inline(always)]
    fn backward<T: Float>(_y: &[T], _dy: &mut [T]) {}
}

impl Activation for Relu {
    const NAME: &'static str = "relu";
    const ELEMENTWISE: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        // A select (one `maxps` on x86), so loops over it vectorise. The
        // comparison is `x < 0`, so NaN falls through unchanged:
        // `torch.relu(nan)` is NaN too (pytorch/pytorch#7999), whereas
        // `x > 0 ? x : 0` or `f32::max` would hide it as 0.
        if x < T::zero() {
            T::zero()
        } else {
            x
        }
    }
    #[inline(always)]
    fn backward<T: Float>(y: &[T], dy: &mut [T]) {
        // PyTorch's `threshold_backward`: the gradient passes where y > 0
        // (and where y is NaN), written as a select.
        for (d, &y) in dy.iter_mut().zip(y) {
            *d = if y <= T::zero() { T::zero() } else { *d };
        }
    }
}

impl Activation for Sigmoid {
    const NAME: &'static str = "sigmoid";
    const ELEMENTWISE: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        x.sigmoid()
    }
    #[inline(always)]
    fn backward<T: Float>(y: &[T], dy: &mut [T]) {
        for (d, &y) in dy.iter_mut().zip(y) {
            *d *= y * (T::one() - y);
        }
    }
}

impl Activation for Tanh {
    const NAME: &'static str = "tanh";
    const ELEMENTWISE: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        x.tanh_act()
    }
    #[inline(always)]
    fn backward<T: Float>(y: &[T], dy: &mut [T]) {
        for (d, &y) in dy.iter_mut().zip(y) {
            *d *= T::one() - y * y;
        }
    }
}

impl Activation for Softmax {
    const NAME: &'static str = "softmax";
    const ELEMENTWISE: bool = false;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        x
    }
    #[inline]
    fn apply<T: Float>(y: &mut [T]) {
        let Some(&first) = y.first() else { return };
        let mut max = first;
        for &v in y.iter() {
            if v > max {
                max = v;
            }
        }
        let mut sum = T::zero();
        for v in y.iter_mut() {
            *v = (*v - max).exp_act();
            sum += *v;
        }
        let inv = T::one() / sum;
        for v in y.iter_mut() {
            *v *= inv;
        }
    }
    #[inline]
    fn backward<T: Float>(y: &[T], dy: &mut [T]) {
        // dz_i = y_i (dy_i - Σ_j dy_j y_j)
        let mut dot = T::zero();
        for (d, &y) in dy.iter().zip(y) {
            dot += *d * y;
        }
        for (d, &y) in dy.iter_mut().zip(y) {
            *d = y * (*d - dot);
        }
    }
}
