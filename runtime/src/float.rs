//! The float types a model can be instantiated with.

use nalgebra::RealField;

/// A float a model computes in: `f32` (fast activation functions) or `f64`
/// (exact `libm` math, used for gradient checks).
///
/// The activation-specific functions are here so each float type can pick
/// its own implementation: `f32` uses branch-free approximations that the
/// compiler can vectorise, `f64` uses `libm`. Every float is
/// [`Zeroable`](crate::Zeroable): all-zero bytes are `0.0`.
pub trait Float: RealField + Copy + Default + core::fmt::Debug + crate::Zeroable + 'static {
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
    /// `dx[k][i] = W[:, i] · dz[k]` for eight samples with a kernel written
    /// for the target, if this float type has one there: returns `false`
    /// (and does nothing) otherwise, and the caller runs its portable loop.
    #[doc(hidden)]
    #[inline(always)]
    fn dots8<const O: usize, const I: usize>(
        _w: &[[Self; O]; I],
        _dz: &[[Self; O]; 8],
        _dx: &mut [[Self; I]; 8],
    ) -> bool {
        false
    }
    /// `gw[i][r] += Σ_k dz[k][r] · x[k][i]` for eight samples `k` (the
    /// weight gradient of a batched `Dense`, `gw` column-major) with a
    /// kernel written for the target, if this float type has one there:
    /// returns `false` (and does nothing) otherwise, and the caller runs
    /// its portable loop.
    #[doc(hidden)]
    #[inline(always)]
    fn outer8<const O: usize, const I: usize>(
        _gw: &mut [[Self; O]; I],
        _xs: &[&[Self; I]; 8],
        _dz: &[[Self; O]; 8],
    ) -> bool {
        false
    }
    /// The batched `Dense` forward `ys[k] = W xs[k] + b` (`w` column-major,
    /// every row, multiply-adds fused) with a kernel written for the
    /// target, if this float type has one there: returns `false` (and does
    /// nothing) otherwise, and the caller runs its portable loop.
    #[doc(hidden)]
    #[inline(always)]
    fn dense_rows<const I: usize, const O: usize, const K: usize>(
        _w: &[[Self; O]; I],
        _b: &[Self; O],
        _xs: &[&[Self; I]; K],
        _ys: &mut [[Self; O]; K],
    ) -> bool {
        false
    }
    /// `acc[r] += Σ_j w[j][r0 + r] · x[j]` for 16 rows of a column-major
    /// matrix, column by column, with a kernel written for the target if
    /// this float type has one there (`f32` on 32-bit Arm with hardware
    /// float): returns `false` (and does nothing) otherwise, and the caller
    /// runs its portable loop.
    #[doc(hidden)]
    #[inline(always)]
    fn cols16<const R: usize, const C: usize>(
        _acc: &mut [Self; 16],
        _w: &[[Self; R]; C],
        _r0: usize,
        _x: &[Self; C],
    ) -> bool {
        false
    }
    /// 4 filters × 4 output pixels of a stride-1, unpadded convolution
    /// with kernels 3 wide, from the sums `init` (`init[4f + p]`), with
    /// `relu` if `RELU`, into `rows[f][j0 + p]`, with a kernel written for
    /// the target if this float type has one there (`f32` on 32-bit Arm
    /// with hardware float): returns `false` (and does nothing) otherwise,
    /// and the caller runs its portable loop.
    #[doc(hidden)]
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn conv3_4x4<
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const KH: usize,
        const K: usize,
        const OW: usize,
        const RELU: bool,
    >(
        _init: &[Self; 16],
        _w: &[[Self; O]; K],
        _o0: usize,
        _x: &[[[Self; W]; H]; C],
        _i: usize,
        _j0: usize,
        _rows: &mut [[Self; OW]; 4],
    ) -> bool {
        false
    }
    /// Adds one sample's weight- and bias-gradient partial sums of one
    /// filter of a stride-1, unpadded convolution: `acc[k][l] += Σ
    /// dz[i][j] · x[c][i + ki][j + kj]` over the output pixels `(i, j)`
    /// with `j ≡ l (mod 8)` for each tap `k = (c·KH + ki)·KW + kj`, and
    /// `db[l] += Σ dz[i][j]` likewise, with a kernel written for the
    /// target if this float type has one there (`f32` with AVX2 and FMA,
    /// `OW` a multiple of 8): returns `false` (and does nothing)
    /// otherwise, and the caller runs its portable loop.
    #[doc(hidden)]
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn conv_taps8<
        const C: usize,
        const H: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
        const K: usize,
    >(
        _x: &[[[Self; W]; H]; C],
        _dz: &[[Self; OW]; OH],
        _acc: &mut [[Self; 8]; K],
        _db: &mut [Self; 8],
    ) -> bool {
        false
    }
    /// Max pooling with 2 × 2 windows and stride 2 tiling the input
    /// (`H = 2·OH`, `W = 2·OW`), with a kernel written for the target if
    /// this float type has one there (`f32` on 32-bit Arm with hardware
    /// float, `OW` a multiple of 4; `f32` with AVX2 and FMA, `OW` a
    /// multiple of 4, `H ≥ 2·OH`): `Some(true)` if it pooled,
    /// `Some(false)` if it saw a NaN (then the caller must run its
    /// portable loop, which overwrites every output), `None` (a constant)
    /// where there is no such kernel.
    #[doc(hidden)]
    #[inline(always)]
    fn max_pool2<
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        _x: &[[[Self; W]; H]; C],
        _y: &mut [[[Self; OW]; OH]; C],
    ) -> Option<bool> {
        None
    }
    /// Backward of max pooling with 2 × 2 windows and stride 2 tiling the
    /// input (`H ≥ 2·OH`, `W = 2·OW`), as `max_pool2d_backward`: each
    /// window's gradient `dy` to its first input in scan order equal to its
    /// maximum `y` (or NaN where `y` is NaN), `+0` to the window's other
    /// inputs (rows past `2·OH` are left as they are), with a kernel
    /// written for the target if this float type has one there (`f32` with
    /// AVX2 and FMA, `OW` a multiple of 4):
    /// returns `false` (and does nothing) otherwise, and the caller runs
    /// its portable loop.
    #[doc(hidden)]
    #[inline(always)]
    fn max_pool2_backward<
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        _x: &[[[Self; W]; H]; C],
        _y: &[[[Self; OW]; OH]; C],
        _dy: &[[[Self; OW]; OH]; C],
        _dx: &mut [[[Self; W]; H]; C],
    ) -> bool {
        false
    }
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
    /// Branch-free [`exp_f32`] (max relative error 1e-7 for normal results).
    #[inline(always)]
    fn exp_act(self) -> Self {
        exp_f32(self)
    }
    /// Branch-free [`sigmoid_f32`] (max relative error 1.8e-7).
    #[inline(always)]
    fn sigmoid(self) -> Self {
        sigmoid_f32(self)
    }
    /// Branch-free [`tanh_f32`] (max absolute error 1e-7).
    #[inline(always)]
    fn tanh_act(self) -> Self {
        tanh_f32(self)
    }
    #[inline(always)]
    fn dots8<const O: usize, const I: usize>(
        w: &[[Self; O]; I],
        dz: &[[Self; O]; 8],
        dx: &mut [[Self; I]; 8],
    ) -> bool {
        crate::kernels::simd::dots8_f32(w, dz, dx)
    }
    #[inline(always)]
    fn outer8<const O: usize, const I: usize>(
        gw: &mut [[Self; O]; I],
        xs: &[&[Self; I]; 8],
        dz: &[[Self; O]; 8],
    ) -> bool {
        crate::kernels::simd::outer8_f32(gw, xs, dz)
    }
    #[inline(always)]
    fn dense_rows<const I: usize, const O: usize, const K: usize>(
        w: &[[Self; O]; I],
        b: &[Self; O],
        xs: &[&[Self; I]; K],
        ys: &mut [[Self; O]; K],
    ) -> bool {
        crate::kernels::simd::dense_rows_f32(w, b, xs, ys)
    }
    #[inline(always)]
    fn cols16<const R: usize, const C: usize>(
        acc: &mut [Self; 16],
        w: &[[Self; R]; C],
        r0: usize,
        x: &[Self; C],
    ) -> bool {
        crate::kernels::thumb::cols16_f32(acc, w, r0, x)
    }
    #[inline(always)]
    fn conv3_4x4<
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const KH: usize,
        const K: usize,
        const OW: usize,
        const RELU: bool,
    >(
        init: &[Self; 16],
        w: &[[Self; O]; K],
        o0: usize,
        x: &[[[Self; W]; H]; C],
        i: usize,
        j0: usize,
        rows: &mut [[Self; OW]; 4],
    ) -> bool {
        crate::kernels::thumb::conv3_4x4_f32::<C, H, W, O, KH, K, OW, RELU>(
            init, w, o0, x, i, j0, rows,
        )
    }
    #[inline(always)]
    fn conv_taps8<
        const C: usize,
        const H: usize,
        const W: usize,
        const KH: usize,
        const KW: usize,
        const OH: usize,
        const OW: usize,
        const K: usize,
    >(
        x: &[[[Self; W]; H]; C],
        dz: &[[Self; OW]; OH],
        acc: &mut [[Self; 8]; K],
        db: &mut [Self; 8],
    ) -> bool {
        crate::kernels::simd::conv_taps8_f32::<C, H, W, KH, KW, OH, OW, K>(x, dz, acc, db)
    }
    #[inline(always)]
    fn max_pool2<
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        x: &[[[Self; W]; H]; C],
        y: &mut [[[Self; OW]; OH]; C],
    ) -> Option<bool> {
        if crate::kernels::simd::max_pool2_f32(x, y) {
            return Some(true);
        }
        crate::kernels::thumb::max_pool2_f32(x, y)
    }
    #[inline(always)]
    fn max_pool2_backward<
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        x: &[[[Self; W]; H]; C],
        y: &[[[Self; OW]; OH]; C],
        dy: &[[[Self; OW]; OH]; C],
        dx: &mut [[[Self; W]; H]; C],
    ) -> bool {
        crate::kernels::simd::max_pool2_backward_f32(x, y, dy, dx)
    }
}

/// `if x < lo { lo } else { x }`: a select (one `maxps` on x86) that keeps
/// NaN, unlike `f32::max`, which would turn NaN into `lo`.
#[inline(always)]
fn floor_at(x: f32, lo: f32) -> f32 {
    if x < lo {
        lo
    } else {
        x
    }
}

/// `if x > hi { hi } else { x }`, keeping NaN (see [`floor_at`]).
#[inline(always)]
fn ceil_at(x: f32, hi: f32) -> f32 {
    if x > hi {
        hi
    } else {
        x
    }
}

/// `2^n` for an integer `n` in `-126..=127`, built from its exponent bits.
#[inline(always)]
fn pow2i(n: i32) -> f32 {
    // Wrapping: only a NaN input can bring `n` out of range, and then the
    // value it multiplies is NaN anyway.
    f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

/// `e^x` for `f32` without branches, calls or tables, so a loop over it
/// vectorises (SSE2 suffices: no rounding or FMA instruction is needed).
///
/// Method (Cephes' `expf`): clamp `x` to `[-104, 100]` with selects,
/// `n = round(x / ln 2)` by the 1.5·2²³ magic-number trick (which also
/// yields `n` as integer bits), `r = x − n·ln 2` in two parts (Cody–Waite, so
/// `r` is exact to within `|r| ≤ ln2/2`), a degree-7 polynomial for `e^r`,
/// and `2^n` assembled in the exponent field. `2^n` is applied as two halves
/// so results that are subnormal (`x < −87.3`) or overflow (`x > 88.72`)
/// come out right without a branch.
///
/// Accuracy, checked against `f64` `libm::exp` by the tests over
/// `[-100, 100]`: relative error ≤ 1e-7 (measured 7.9e-8, under 1 ulp) wherever the result
/// is a normal `f32`; subnormal results are within 2⁻¹⁴⁹ (absolute).
/// `exp(-inf) = 0`, `exp(+inf) = +inf`, `exp(NaN)` is NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let (e_r, n) = exp_parts(ceil_at(floor_at(x, -104.0), 100.0));
    // n is in -150..=145: split it into two halves that are each a
    // normal power of two.
    let n1 = n >> 1;
    let n2 = n.wrapping_sub(n1);
    e_r * pow2i(n1) * pow2i(n2)
}

/// `a · b + c`, one FMA instruction where the target has one (and `std`
/// makes `mul_add` LLVM's `fma` intrinsic rather than a `libm` call), else
/// a multiply and an add. Fixed at compile time, so loops over it still
/// vectorise; the fused form rounds once, so results differ in the last
/// bit between the two kinds of build (the tests bound both).
/// `kernels::simd::zmm`'s 512-bit forms of these functions fuse exactly
/// where this does ([`FMA_FUSED`]), so they compute the same bits.
#[inline(always)]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(all(feature = "std", target_feature = "fma"))]
    {
        a.mul_add(b, c)
    }
    #[cfg(not(all(feature = "std", target_feature = "fma")))]
    {
        a * b + c
    }
}

/// Whether the `f32` activation functions' `fma` is one fused
/// multiply-add (else a multiply and an add).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) const FMA_FUSED: bool = cfg!(all(feature = "std", target_feature = "fma"));

/// `e^x = e_r · 2^n` for `x` already clamped to `[-104, 100]` (or NaN):
/// the reduction and polynomial of [`exp_f32`] without the final scaling,
/// so callers that know their range can scale more cheaply.
#[inline(always)]
fn exp_parts(x: f32) -> (f32, i32) {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    // ln 2 split so that n · LN2_HI is exact for |n| < 2^8.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to an integer (round-half-even) and
    // leaves that integer in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let t = fma(x, LOG2E, MAGIC);
    let n_f = t - MAGIC;
    let n = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = fma(-n_f, LN2_LO, fma(-n_f, LN2_HI, x));
    // e^r on |r| <= 0.3466 (Cephes' minimax coefficients).
    let mut p = 1.987_569_2e-4_f32;
    p = fma(p, r, 1.398_199_9e-3);
    p = fma(p, r, 8.333_452e-3);
    p = fma(p, r, 4.166_579_6e-2);
    p = fma(p, r, 1.666_666_5e-1);
    p = fma(p, r, 0.5);
    (fma(p, r * r, r) + 1.0, n)
}

/// The logistic sigmoid `1 / (1 + e^-x)` for `f32`, branch-free and
/// vectorisable: `1 / (1 + e)` for `x ≥ 0` and `e / (1 + e)` for `x < 0`
/// with `e = e^{-|x|}` ([`exp_f32`]), the numerator chosen by a select.
///
/// Accuracy (tests, against `f64` libm over `[-100, 100]`): relative error
/// ≤ 1.8e-7 (measured 1.67e-7) where the result is a normal `f32`. `sigmoid(-inf) = 0`,
/// `sigmoid(+inf) = 1`, `sigmoid(NaN)` is NaN.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    // e = e^-|x| <= 1 never overflows; for x < 0, sigmoid = e / (1 + e)
    // keeps full relative accuracy down to the subnormal range.
    // -|x| <= 0 needs only the lower clamp.
    let (e_r, n) = exp_parts(floor_at(-f32::from_bits(x.to_bits() & 0x7fff_ffff), -104.0));
    let n1 = n >> 1;
    let e = e_r * pow2i(n1) * pow2i(n.wrapping_sub(n1));
    let num = if x < 0.0 { e } else { 1.0 };
    num / (1.0 + e)
}

/// The hyperbolic tangent for `f32`, branch-free and vectorisable.
///
/// For `|x| < 0.625` an odd polynomial `x + x³ P(x²)` (Cephes' `tanhf`
/// coefficients), otherwise `1 − 2 / (e^{2|x|} + 1)` with [`exp_f32`]; both
/// are computed and one is selected, and the sign is copied from `x` by bit
/// operations.
///
/// Accuracy (tests, against `f64` libm over `[-100, 100]`): absolute error
/// ≤ 1e-7 (measured 7.5e-8), relative error ≤ 1.5e-7 (measured 1.33e-7). `tanh(±inf) = ±1`, `tanh(NaN)` is NaN.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    const SIGN: u32 = 0x8000_0000;
    let a = f32::from_bits(x.to_bits() & !SIGN);
    let z = x * x;
    let mut p = -5.704_988_7e-3_f32;
    p = fma(p, z, 2.063_909e-2);
    p = fma(p, z, -5.373_971_6e-2);
    p = fma(p, z, 1.333_144_2e-1);
    p = fma(p, z, -3.333_328e-1);
    let small = fma(p * z, x, x);
    // e^{2|x|} with 2|x| clamped to 40, where 2 / (e^40 + 1) < 2^-56 leaves
    // 1 exactly: the scale 2^n (n <= 58) is then one normal power of two.
    let (e_r, n) = exp_parts(ceil_at(a + a, 40.0));
    let large = 1.0 - 2.0 / fma(e_r, pow2i(n), 1.0);
    let t = if cfg!(all(target_arch = "arm", target_abi = "eabihf")) {
        // On Thumb with hardware float LLVM turned the select below into a
        // branch around the polynomial; an integer mask keeps it
        // branch-free there. (Not with soft float, the M0's: there every
        // float operation is a call, and skipping the polynomial saves
        // ~9% of an LSTM step.) `a` is
        // non-negative or NaN, so its bits compare as the value does
        // (NaN's are above 0.625's, as `a < 0.625` is false for it), and
        // `a − 0.625` in bits is negative exactly when `a < 0.625`.
        let lim = 0.625f32.to_bits() as i32;
        let m = ((a.to_bits() as i32).wrapping_sub(lim) >> 31) as u32;
        f32::from_bits((small.to_bits() & m) | (large.to_bits() & !m))
    } else if a < 0.625 {
        small
    } else {
        large
    };
    // `large` was computed from |x|; this also keeps tanh(-0) = -0.
    f32::from_bits(t.to_bits() | (x.to_bits() & SIGN))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 1/4096 step over [-100, 100] plus a dense sweep of [-1, 1]
    /// and the points where the approximations switch method.
    fn sweep() -> impl Iterator<Item = f32> {
        let coarse = (-409_600..=409_600).map(|i| i as f32 / 4096.0);
        let fine = (-100_000..=100_000).map(|i| i as f32 * 1e-5);
        let edges = [
            0.625f32,
            -0.625,
            0.624_999_9,
            -0.624_999_9,
            88.72,
            88.722_83,
            88.8,
            -87.33,
            -87.34,
            -103.9,
            1e-30,
            -1e-30,
            1e-8,
            0.0,
            -0.0,
            0.346_57,
            -0.346_57,
        ];
        coarse.chain(fine).chain(edges)
    }

    fn rel(got: f32, want: f64) -> f64 {
        ((got as f64) - want).abs() / want.abs()
    }

    #[test]
    fn exp_is_within_1e7_relative_of_libm() {
        let mut worst = (0.0f64, 0.0f32);
        for x in sweep() {
            let want = libm::exp(x as f64);
            let got = exp_f32(x);
            if want >= f32::MIN_POSITIVE as f64 && want <= f32::MAX as f64 {
                let e = rel(got, want);
                if e > worst.0 {
                    worst = (e, x);
                }
            } else if want < f32::MIN_POSITIVE as f64 {
                // Subnormal or zero: absolute error within the smallest step.
                assert!(
                    ((got as f64) - want).abs() <= 1.5e-45,
                    "exp({x}) = {got}, want {want}"
                );
            } else {
                assert_eq!(got, f32::INFINITY, "exp({x}) must overflow");
            }
        }
        std::println!("exp: worst relative error {:.3e} at {}", worst.0, worst.1);
        assert!(worst.0 <= 1e-7, "exp: {:e} at {}", worst.0, worst.1);
    }

    #[test]
    fn sigmoid_is_within_1p8e7_relative_of_libm() {
        let mut worst = (0.0f64, 0.0f32);
        for x in sweep() {
            let want = 1.0 / (1.0 + libm::exp(-(x as f64)));
            let got = sigmoid_f32(x);
            if want >= f32::MIN_POSITIVE as f64 {
                let e = rel(got, want);
                if e > worst.0 {
                    worst = (e, x);
                }
            } else {
                assert!(
                    ((got as f64) - want).abs() <= 1.5e-45,
                    "sigmoid({x}) = {got}"
                );
            }
        }
        std::println!(
            "sigmoid: worst relative error {:.3e} at {}",
            worst.0,
            worst.1
        );
        assert!(worst.0 <= 1.8e-7, "sigmoid: {:e} at {}", worst.0, worst.1);
    }

    #[test]
    fn tanh_is_within_1e7_absolute_of_libm() {
        let mut worst_abs = (0.0f64, 0.0f32);
        let mut worst_rel = (0.0f64, 0.0f32);
        for x in sweep() {
            let want = libm::tanh(x as f64);
            let got = tanh_f32(x);
            let a = ((got as f64) - want).abs();
            if a > worst_abs.0 {
                worst_abs = (a, x);
            }
            if want != 0.0 && want.abs() >= f32::MIN_POSITIVE as f64 {
                let r = a / want.abs();
                if r > worst_rel.0 {
                    worst_rel = (r, x);
                }
            }
            assert!(got.abs() <= 1.0, "tanh({x}) = {got} outside [-1, 1]");
        }
        std::println!(
            "tanh: worst absolute error {:.3e} at {}, relative {:.3e} at {}",
            worst_abs.0,
            worst_abs.1,
            worst_rel.0,
            worst_rel.1
        );
        assert!(
            worst_abs.0 <= 1e-7,
            "tanh: {:e} at {}",
            worst_abs.0,
            worst_abs.1
        );
        assert!(
            worst_rel.0 <= 1.5e-7,
            "tanh: relative {:e} at {}",
            worst_rel.0,
            worst_rel.1
        );
    }

    #[test]
    fn special_inputs_give_sane_values() {
        for big in [f32::INFINITY, f32::MAX, 1e30, 1000.0, 105.0] {
            assert_eq!(exp_f32(-big), 0.0, "exp(-{big})");
            assert_eq!(sigmoid_f32(-big), 0.0, "sigmoid(-{big})");
        }
        for big in [f32::INFINITY, f32::MAX, 1e30, 1000.0, 100.0, 89.0] {
            assert_eq!(exp_f32(big), f32::INFINITY, "exp({big})");
            assert_eq!(sigmoid_f32(big), 1.0, "sigmoid({big})");
            assert_eq!(tanh_f32(big), 1.0, "tanh({big})");
            assert_eq!(tanh_f32(-big), -1.0, "tanh(-{big})");
        }
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(sigmoid_f32(f32::NAN).is_nan());
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(sigmoid_f32(0.0), 0.5);
        assert_eq!(tanh_f32(0.0), 0.0);
        assert!(tanh_f32(-0.0).is_sign_negative());
        // Through the trait, as the kernels call it.
        assert_eq!(1000.0f32.exp_act(), f32::INFINITY);
        assert_eq!((-1000.0f32).sigmoid(), 0.0);
        assert_eq!((-1000.0f32).tanh_act(), -1.0);
    }

    #[test]
    fn f64_stays_exact() {
        for x in [-30.0f64, -1.5, 0.0, 0.3, 2.0, 40.0] {
            assert_eq!(x.exp_act(), libm::exp(x));
            assert_eq!(x.tanh_act(), libm::tanh(x));
            assert_eq!(x.sigmoid(), 1.0 / (1.0 + libm::exp(-x)));
        }
    }
}
