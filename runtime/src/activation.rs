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
    /// `true` if the derivative is not a function of the output alone
    /// (`gelu`, `silu`, `hard_swish`): code that trains through the
    /// activation must keep its input and call
    /// [`Activation::backward_from_input`]; such an activation's
    /// [`Activation::backward`] is a compile error where it is instantiated.
    const NEEDS_INPUT: bool = false;
    /// Turns `dy = dL/dy` into `dL/dx` in place, given the activation's
    /// input `x` for the same values (element-wise activations only). The
    /// default recomputes each output and calls [`Activation::backward`].
    #[inline(always)]
    fn backward_from_input<T: Float>(x: &[T], dy: &mut [T]) {
        for (d, &x) in dy.iter_mut().zip(x) {
            let y = [Self::scalar(x)];
            Self::backward(&y, core::slice::from_mut(d));
        }
    }
    /// `true` for the identity ([`Linear`]): a backward can then use `dy`
    /// as `dL/dz` without copying it.
    const IDENTITY: bool = false;
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
    const IDENTITY: bool = true;
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
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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

/// `min(max(x, 0), 6)` (PyTorch's `relu6`, Keras' `relu6`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu6;

/// `x` for `x > 0`, `α x` otherwise, with `α = f64::from_bits(ALPHA)`.
///
/// The slope is a const generic holding the `f64`'s bits (stable Rust has
/// no `f64` const generics, and `f64::from_bits` is `const`): the kernels
/// see it as a compile-time constant, the type stays zero-sized like every
/// other activation, and each slope is its own type. The DSL writes
/// `LeakyRelu<{ f64::to_bits(0.01) }>`; [`LEAKY_RELU_ALPHA`] is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakyRelu<const ALPHA: u64>;

/// The bits of `leaky_relu`'s default slope, 0.01 (PyTorch's).
pub const LEAKY_RELU_ALPHA: u64 = 0.01f64.to_bits();

/// `x` for `x > 0`, `α (e^x − 1)` otherwise, with `α = f64::from_bits(ALPHA)`
/// (the slope held as in [`LeakyRelu`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Elu<const ALPHA: u64>;

/// The bits of `elu`'s default `α`, 1.0.
pub const ELU_ALPHA: u64 = 1.0f64.to_bits();

/// `x Φ(x) = x (1 + erf(x / √2)) / 2`, the exact GELU (PyTorch's default,
/// `approximate = 'none'`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gelu;

/// `x σ(x)` (SiLU, Keras' `swish`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Silu;

/// `relu6(x + 3) / 6` (PyTorch's `hardsigmoid`; Keras 2's `hard_sigmoid`
/// was `0.2 x + 0.5`, a different function).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardSigmoid;

/// `x · relu6(x + 3) / 6` (PyTorch's `hardswish`, Keras' `hard_silu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardSwish;

/// The `f64` whose bits a slope parameter holds, in `T`.
#[inline(always)]
fn alpha<T: Float>(bits: u64) -> T {
    T::of_f64(f64::from_bits(bits))
}

/// `min(max(x, 0), 6)` keeping NaN (comparisons, not `max`/`min`).
#[inline(always)]
fn relu6<T: Float>(x: T) -> T {
    let six = T::of_f64(6.0);
    if x < T::zero() {
        T::zero()
    } else if x > six {
        six
    } else {
        x
    }
}

/// A compile-time error, raised where an activation whose derivative
/// needs its input has its output-only [`Activation::backward`]
/// instantiated (a kernel that fuses it without keeping the input).
struct OutputOnly<T>(core::marker::PhantomData<T>);

impl<T> OutputOnly<T> {
    const UNAVAILABLE: () = panic!(
        "this activation's derivative needs its input (gelu, silu, hard_swish): keep the input and call `Activation::backward_from_input`"
    );
}

impl Activation for Relu6 {
    const NAME: &'static str = "relu6";
    const ELEMENTWISE: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        relu6(x)
    }
    #[inline(always)]
    fn backward<T: Float>(y: &[T], dy: &mut [T]) {
        // PyTorch's `hardtanh_backward(min 0, max 6)`: the gradient passes
        // where 0 < x < 6 strictly, and 0 < y < 6 is the same set.
        let six = T::of_f64(6.0);
        for (d, &y) in dy.iter_mut().zip(y) {
            *d = if y <= T::zero() || y >= six {
                T::zero()
            } else {
                *d
            };
        }
    }
}

impl<const ALPHA: u64> Activation for LeakyRelu<ALPHA> {
    const NAME: &'static str = "leaky_relu";
    const ELEMENTWISE: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        if x > T::zero() {
            x
        } else {
            x * alpha::<T>(ALPHA)
        }
    }
    #[inline(always)]
    fn backward<T: Float>(y: &[T], dy: &mut [T]) {
        // PyTorch's `leaky_relu_backward`: `x > 0 ? dy : α dy`, so α at 0.
        // With α ≥ 0 (the macro rejects a negative slope), y > 0 exactly
        // where x > 0.
        let a = alpha::<T>(ALPHA);
        for (d, &y) in dy.iter_mut().zip(y) {
            *d = if y > T::zero() { *d } else { *d * a };
        }
    }
}

impl<const ALPHA: u64> Activation for Elu<ALPHA> {
    const NAME: &'static str = "elu";
    const ELEMENTWISE: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        // `expm1` in f64 (libm) for both float types: `e^x − 1` computed
        // as such would lose the relative accuracy near 0.
        if x > T::zero() {
            x
        } else {
            alpha::<T>(ALPHA) * T::of_f64(libm::expm1(x.to_f64()))
        }
    }
    #[inline(always)]
    fn backward<T: Float>(y: &[T], dy: &mut [T]) {
        // PyTorch's `elu_backward`: `x > 0 ? dy : dy α e^x`, α at 0; for
        // x ≤ 0, α e^x = y + α. With α ≥ 0, y > 0 exactly where x > 0.
        let a = alpha::<T>(ALPHA);
        for (d, &y) in dy.iter_mut().zip(y) {
            *d = if y > T::zero() { *d } else { *d * (y + a) };
        }
    }
}

impl Activation for Gelu {
    const NAME: &'static str = "gelu";
    const ELEMENTWISE: bool = true;
    const NEEDS_INPUT: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        // PyTorch's formula, `x · 0.5 · (1 + erf(x · √½))`, in f64 with
        // libm's `erf` for both float types.
        let x = x.to_f64();
        T::of_f64(x * 0.5 * (1.0 + libm::erf(x * core::f64::consts::FRAC_1_SQRT_2)))
    }
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn backward<T: Float>(_y: &[T], _dy: &mut [T]) {
        #[allow(clippy::let_unit_value)]
        let () = OutputOnly::<T>::UNAVAILABLE;
    }
    #[inline(always)]
    fn backward_from_input<T: Float>(x: &[T], dy: &mut [T]) {
        // Φ(x) + x φ(x), as PyTorch's `GeluBackward` writes it.
        const K_ALPHA: f64 =
            core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2 * 0.5;
        for (d, &x) in dy.iter_mut().zip(x) {
            let x = x.to_f64();
            let cdf = 0.5 * (1.0 + libm::erf(x * core::f64::consts::FRAC_1_SQRT_2));
            let pdf = K_ALPHA * libm::exp(-0.5 * x * x);
            *d *= T::of_f64(cdf + x * pdf);
        }
    }
}

impl Activation for Silu {
    const NAME: &'static str = "silu";
    const ELEMENTWISE: bool = true;
    const NEEDS_INPUT: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        x * x.sigmoid()
    }
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn backward<T: Float>(_y: &[T], _dy: &mut [T]) {
        #[allow(clippy::let_unit_value)]
        let () = OutputOnly::<T>::UNAVAILABLE;
    }
    #[inline(always)]
    fn backward_from_input<T: Float>(x: &[T], dy: &mut [T]) {
        // σ(x) (1 + x (1 − σ(x))), PyTorch's `silu_backward`.
        for (d, &x) in dy.iter_mut().zip(x) {
            let s = x.sigmoid();
            *d *= s * (T::one() + x * (T::one() - s));
        }
    }
}

impl Activation for HardSigmoid {
    const NAME: &'static str = "hard_sigmoid";
    const ELEMENTWISE: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        // A division by 6, as PyTorch's scalar kernel (exact in f64).
        relu6(x + T::of_f64(3.0)) / T::of_f64(6.0)
    }
    #[inline(always)]
    fn backward<T: Float>(y: &[T], dy: &mut [T]) {
        // `-3 < x < 3 ? dy / 6 : 0` (PyTorch's `hardsigmoid_backward`,
        // 0 at ±3); 0 < y < 1 is the same set. PyTorch's f64 kernel
        // multiplies by 1/6 rounded to f32; this divides exactly.
        let six = T::of_f64(6.0);
        for (d, &y) in dy.iter_mut().zip(y) {
            *d = if y <= T::zero() || y >= T::one() {
                T::zero()
            } else {
                *d / six
            };
        }
    }
}

impl Activation for HardSwish {
    const NAME: &'static str = "hard_swish";
    const ELEMENTWISE: bool = true;
    const NEEDS_INPUT: bool = true;
    #[inline(always)]
    fn scalar<T: Float>(x: T) -> T {
        // `(x · relu6(x + 3)) / 6`, PyTorch's order of operations.
        x * relu6(x + T::of_f64(3.0)) / T::of_f64(6.0)
    }
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn backward<T: Float>(_y: &[T], _dy: &mut [T]) {
        #[allow(clippy::let_unit_value)]
        let () = OutputOnly::<T>::UNAVAILABLE;
    }
    #[inline(always)]
    fn backward_from_input<T: Float>(x: &[T], dy: &mut [T]) {
        // PyTorch's `hardswish_backward` (as measured on torch 2.15):
        // 0 for x ≤ −3, x/3 + ½ for −3 < x < 3, 1 for x ≥ 3 — so 0 at −3
        // and 1 at 3, the one-sided derivatives from outside.
        let three = T::of_f64(3.0);
        for (d, &x) in dy.iter_mut().zip(x) {
            *d = if x <= -three {
                T::zero()
            } else if x < three {
                *d * (x / three + T::of_f64(0.5))
            } else {
                *d
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A02: u64 = 0.2f64.to_bits();

    /// `f(x)` and `f'(x)` (with `dy = 1`) for one value, through
    /// `backward_from_input` (whose default goes through the output:
    /// naming `backward` here, even in a branch not taken, would be the
    /// compile error [`OutputOnly`] raises for `gelu`, `silu` and
    /// `hard_swish`).
    fn value_and_slope<A: Activation, T: Float>(x: T) -> (T, T) {
        let mut d = [T::one()];
        A::backward_from_input(&[x], &mut d);
        (A::scalar(x), d[0])
    }

    /// The values and one-sided choices at the kinks, worked by hand, each
    /// the one PyTorch 2.15 makes (`tools/make_fixtures_activations.py`
    /// checks the same points against autograd).
    #[test]
    fn kinks_follow_pytorch() {
        type Lr = LeakyRelu<LEAKY_RELU_ALPHA>;
        type E02 = Elu<A02>;
        /// (name, f ↦ (f(x), f'(x)), [(x, f(x), f'(x))]).
        type Case = (
            &'static str,
            fn(f64) -> (f64, f64),
            &'static [(f64, f64, f64)],
        );
        let cases: &[Case] = &[
            // (x, f(x), f'(x))
            (
                "relu6",
                value_and_slope::<Relu6, f64>,
                &[
                    (0.0, 0.0, 0.0),
                    (6.0, 6.0, 0.0),
                    (3.0, 3.0, 1.0),
                    (-1.0, 0.0, 0.0),
                    (7.0, 6.0, 0.0),
                ],
            ),
            (
                "leaky_relu",
                value_and_slope::<Lr, f64>,
                &[(0.0, 0.0, 0.01), (-2.0, -0.02, 0.01), (2.0, 2.0, 1.0)],
            ),
            (
                "elu(0.2)",
                value_and_slope::<E02, f64>,
                &[(0.0, 0.0, 0.2), (1.0, 1.0, 1.0)],
            ),
            (
                "hard_sigmoid",
                value_and_slope::<HardSigmoid, f64>,
                &[
                    (-3.0, 0.0, 0.0),
                    (3.0, 1.0, 0.0),
                    (0.0, 0.5, 1.0 / 6.0),
                    (-4.0, 0.0, 0.0),
                ],
            ),
            (
                "hard_swish",
                value_and_slope::<HardSwish, f64>,
                &[
                    (-3.0, 0.0, 0.0),
                    (3.0, 3.0, 1.0),
                    (0.0, 0.0, 0.5),
                    (1.5, 1.125, 1.0),
                    (-4.0, 0.0, 0.0),
                ],
            ),
            ("gelu", value_and_slope::<Gelu, f64>, &[(0.0, 0.0, 0.5)]),
            ("silu", value_and_slope::<Silu, f64>, &[(0.0, 0.0, 0.5)]),
        ];
        for (name, f, points) in cases {
            for &(x, y, d) in *points {
                let (gy, gd) = f(x);
                assert!(
                    (gy - y).abs() <= 1e-15 && (gd - d).abs() <= 1e-15,
                    "{name}({x}) = {gy}, slope {gd}; want {y}, {d}"
                );
            }
        }
        // elu(-1) = α (e^-1 − 1), slope α e^-1.
        let (y, d) = value_and_slope::<E02, f64>(-1.0);
        let e = (-1.0f64).exp();
        assert!((y - 0.2 * (e - 1.0)).abs() < 1e-16 && (d - 0.2 * e).abs() < 1e-16);
        // gelu(1) = Φ(1), slope Φ(1) + φ(1); Φ(1) = 0.841344746068542948...
        let (y, d) = value_and_slope::<Gelu, f64>(1.0);
        let phi = (-0.5f64).exp() / (2.0 * core::f64::consts::PI).sqrt();
        assert!((y - 0.841_344_746_068_542_9).abs() < 1e-15, "gelu(1) = {y}");
        assert!((d - (0.841_344_746_068_542_9 + phi)).abs() < 1e-15);
        // NaN passes through relu6 as through relu.
        assert!(Relu6::scalar(f32::NAN).is_nan());
    }

    /// Every 1/1024 step over [-20, 20] plus a dense sweep of [-1, 1] and
    /// the kinks.
    fn sweep() -> impl Iterator<Item = f32> {
        let coarse = (-20_480..=20_480).map(|i| i as f32 / 1024.0);
        let fine = (-100_000..=100_000).map(|i| i as f32 * 1e-5);
        let edges = [0.0f32, -0.0, 3.0, -3.0, 6.0, 1e-30, -1e-30, -87.0, 90.0];
        coarse.chain(fine).chain(edges)
    }

    /// The worst error of `A` in f32 against the same function in f64 at
    /// the same (f32) inputs: relative where the f64 value is at least
    /// `1e-30` in magnitude, else absolute.
    fn worst<A: Activation>() -> f64 {
        let mut worst = 0.0f64;
        for x in sweep() {
            let want = A::scalar(x as f64);
            let got = A::scalar(x) as f64;
            let e = if want.abs() >= 1e-30 {
                (got - want).abs() / want.abs()
            } else {
                (got - want).abs()
            };
            worst = worst.max(e);
        }
        std::println!("{}: worst f32 error {worst:.3e}", A::NAME);
        worst
    }

    /// The f32 accuracy of each new activation: those built from
    /// comparisons and one or two roundings are within one or two ulps
    /// (2⁻²⁴ ≈ 6e-8 each), those computed in f64 (`elu`, `gelu`) within one
    /// rounding, and `silu` within its f32 sigmoid's 1.8e-7 and one more
    /// rounding.
    #[test]
    fn f32_forms_are_within_their_bounds_of_f64() {
        assert_eq!(worst::<Relu6>(), 0.0);
        // 0.01 itself rounds to f32 (relative 2.2e-8), then the product.
        assert!(worst::<LeakyRelu<LEAKY_RELU_ALPHA>>() <= 1.2e-7);
        assert!(worst::<Elu<ELU_ALPHA>>() <= 6e-8);
        assert!(worst::<Gelu>() <= 6e-8);
        assert!(worst::<Silu>() <= 2.5e-7);
        assert!(worst::<HardSigmoid>() <= 1.2e-7);
        assert!(worst::<HardSwish>() <= 1.8e-7);
    }

    /// The f32 derivatives against f64's at the same inputs (absolute,
    /// every slope here is at most 1.1 in magnitude except hard_swish's
    /// 1.5).
    #[test]
    fn f32_derivatives_follow_f64() {
        fn check<A: Activation>(tol: f64) {
            let mut worst = 0.0f64;
            for x in sweep() {
                let (_, d64) = value_and_slope::<A, f64>(x as f64);
                let (_, d32) = value_and_slope::<A, f32>(x);
                worst = worst.max((d32 as f64 - d64).abs());
            }
            std::println!("{}: worst f32 slope error {worst:.3e}", A::NAME);
            assert!(worst <= tol, "{}: {worst:e}", A::NAME);
        }
        check::<Relu6>(0.0);
        check::<LeakyRelu<LEAKY_RELU_ALPHA>>(1e-9);
        check::<Elu<ELU_ALPHA>>(1.2e-7);
        check::<Gelu>(1.2e-7);
        // The sigmoid's relative error, multiplied by up to |x| = 20 in
        // x (1 − σ(x)).
        check::<Silu>(1.5e-6);
        check::<HardSigmoid>(1e-8);
        check::<HardSwish>(2e-7);
    }
}
