//! The float types a model can be instantiated with.

use nalgebra::RealField;

/// A float a model computes in: `f32` (fast activation functions) or `f64`
/// (exact `libm` math, used for gradient checks).
///
/// The activation-specific functions are here so each float type can pick
/// its own implementation: `f32` uses branch-free approximations that the
/// compiler can vectorise, `f64` uses `libm`.
pub trait Float: RealField + Copy + Default + core::fmt::Debug + 'static {
    /// Converts from `f64` (rounding for `f32`).
    fn of_f64(x: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// `e^x` as the activation functions use it.
    fn exp_act(self) -> Self;
    /// The logistic sigmoid `1 / (1 + e^-x)`.
    fn sigmoid(self) -> Self;
    /// The hyperbolic tangent.
    fn tanh_act(self) -> Self;
}

impl Float for f64 {
    #[inline(always)]
    fn of_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp_act(self) -> Self {
        libm::exp(self)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + libm::exp(-self))
    }
    #[inline(always)]
    fn tanh_act(self) -> Self {
        libm::tanh(self)
    }
}

impl Float for f32 {
    #[inline(always)]
    fn of_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp_act(self) -> Self {
        libm::expf(self)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + libm::expf(-self))
    }
    #[inline(always)]
    fn tanh_act(self) -> Self {
        libm::tanhf(self)
    }
}
