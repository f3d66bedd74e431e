//! Small vector primitives the kernels share, written so the compiler
//! vectorises them: every reduction keeps [`LANES`] independent partial
//! sums, because float addition is not associative and LLVM will not split
//! a single running sum on its own (a serial chain of adds costs one add
//! latency per element); and the register-blocked matrix-vector products
//! of the recurrent cells ([`affine2`]).

use super::dispatch::{Base, Isa};
use crate::Float;
use nalgebra::SMatrix;

/// Independent partial sums: one 256-bit register of `f32`, two of `f64`.
pub(crate) const LANES: usize = 8;

/// Partial sums of [`dot`]: two 256-bit registers of `f32`. With 8, LLVM
/// vectorised the sums in 128-bit halves with shuffles under
/// `-C target-cpu=sapphirerapids`, and the batched `Dense` backward ran
/// 1.3× slower than with 16 (its horizontal sums are still not ideal with
/// 16; with AVX2 it now uses `kernels::simd` instead). ([`axpy_dot`] is the
/// other way round: 16 made it 1.8× slower.)
pub(crate) const DOT_LANES: usize = 16;

/// `g += x · d` and, in the same pass over the data, `Σ w_k d_k`: the
/// weight-gradient update and the input-gradient dot product of one column
/// of a `Dense` or `Conv2d` backward.
#[inline(always)]
pub(crate) fn axpy_dot<T: Float>(g: &mut [T], w: &[T], d: &[T], x: T) -> T {
    let mut acc = [T::zero(); LANES];
    let mut cg = g.chunks_exact_mut(LANES);
    let (cw, cd) = (w.chunks_exact(LANES), d.chunks_exact(LANES));
    let (rw, rd) = (cw.remainder(), cd.remainder());
    for ((gs, ws), ds) in (&mut cg).zip(cw).zip(cd) {
        for (((s, gv), &wv), &dv) in acc.iter_mut().zip(gs.iter_mut()).zip(ws).zip(ds) {
            *gv = madd(dv, x, *gv);
            *s = madd(wv, dv, *s);
        }
    }
    let mut tail = T::zero();
    for ((gv, &wv), &dv) in cg.into_remainder().iter_mut().zip(rw).zip(rd) {
        *gv = madd(dv, x, *gv);
        tail = madd(wv, dv, tail);
    }
    reduce(&acc) + tail
}

/// `Σ w_k d_k` with [`DOT_LANES`] partial sums.
#[inline(always)]
pub(crate) fn dot<T: Float>(w: &[T], d: &[T]) -> T {
    let mut acc = [T::zero(); DOT_LANES];
    let (cw, cd) = (w.chunks_exact(DOT_LANES), d.chunks_exact(DOT_LANES));
    let (rw, rd) = (cw.remainder(), cd.remainder());
    for (ws, ds) in cw.zip(cd) {
        for ((s, &wv), &dv) in acc.iter_mut().zip(ws).zip(ds) {
            *s = madd(wv, dv, *s);
        }
    }
    let mut tail = T::zero();
    for (&wv, &dv) in rw.iter().zip(rd) {
        tail = madd(wv, dv, tail);
    }
    reduce(&acc) + tail
}

/// `Σ f(x_k)` with [`LANES`] partial sums (contiguous loads, one
/// reduction at the end): a plane's sum in the convolution and BatchNorm
/// training kernels.
#[inline(always)]
pub(crate) fn sum_by<T: Float>(x: &[T], f: impl Fn(T) -> T) -> T {
    let mut a = [T::zero(); LANES];
    let cx = x.chunks_exact(LANES);
    let rest = cx.remainder();
    for xs in cx {
        for (av, &xv) in a.iter_mut().zip(xs) {
            *av += f(xv);
        }
    }
    let mut tail = T::zero();
    for &xv in rest {
        tail += f(xv);
    }
    reduce(&a) + tail
}

/// Pairwise sum of the partial sums (any `N`; 0 for `N = 0`).
#[inline(always)]
pub(crate) fn reduce<T: Float, const N: usize>(acc: &[T; N]) -> T {
    // Fold the upper half onto the lower until one value is left: for a
    // power of two each step is one vector add of a register's halves.
    let mut v = *acc;
    let mut n = N;
    while n > 1 {
        let h = n / 2;
        let (lo, hi) = v.split_at_mut(n - h);
        for (a, &b) in lo.iter_mut().zip(hi.iter().take(h)) {
            *a += b;
        }
        n -= h;
    }
    v.first().copied().unwrap_or(T::zero())
}

/// Gate rows accumulated together in `affine2`. 32 values are 4 AVX
/// registers (two sets: 8) or 8 SSE2 registers in `f32`: enough independent
/// accumulators to hide the add latency, few enough that the block stays in
/// registers on SSE2's 16 registers.
pub(crate) const BLOCK: usize = 32;

/// The columns of a statically sized matrix as arrays (nalgebra's
/// `ArrayStorage` is `[[T; R]; C]`, column-major).
#[inline(always)]
pub(crate) fn cols<T, const R: usize, const C: usize>(m: &SMatrix<T, R, C>) -> &[[T; R]; C] {
    &m.data.0
}

/// Mutable columns of a statically sized matrix.
#[inline(always)]
pub(crate) fn cols_mut<T, const R: usize, const C: usize>(
    m: &mut SMatrix<T, R, C>,
) -> &mut [[T; R]; C] {
    &mut m.data.0
}

/// `a · b + c`, fused into one FMA instruction where the target has one and
/// the fused form inlines (with `std`, `mul_add` is LLVM's `fma` intrinsic;
/// without `std` it would be a call into `libm`, and without the `fma`
/// target feature a slow software routine), else a multiply and an add.
/// The choice is made at compile time, so loops stay branch-free.
#[inline(always)]
pub(crate) fn madd<T: Float>(a: T, b: T, c: T) -> T {
    if cfg!(all(feature = "std", target_feature = "fma")) {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `y = Σ b + W1 x1 + W2 x2` for biases `b` and column-major `W1` (`R × C1`)
/// and `W2` (`R × C2`).
///
/// Rows are processed in blocks of [`BLOCK`] whose partial sums stay in
/// registers while every column of both matrices streams past, so each
/// weight is loaded once and `y` is written once per call. The biases are
/// added in registers (so precomputing `b_ih + b_hh` would save only a few
/// vector adds per block). With AVX the block keeps two sets of partial
/// sums (even and odd columns) so that eight independent FMA chains hide
/// the FMA latency; SSE2 has only sixteen registers and keeps one set. Rows left over go in blocks of 8,
/// then one by one.
#[inline(always)]
pub(crate) fn affine2<
    T: Float,
    const NB: usize,
    const R: usize,
    const C1: usize,
    const C2: usize,
>(
    y: &mut [T; R],
    b: [&[T; R]; NB],
    w1: &[[T; R]; C1],
    x1: &[T; C1],
    w2: &[[T; R]; C2],
    x2: &[T; C2],
) {
    affine2_in::<Base, T, NB, R, C1, C2>(y, b, w1, x1, w2, x2)
}

/// [`affine2`] with the blocking and multiply-adds of instruction set `I`
/// (the AVX blocking in a model's AVX2 copy, whatever the build targets).
#[inline(always)]
pub(crate) fn affine2_in<
    I: Isa,
    T: Float,
    const NB: usize,
    const R: usize,
    const C1: usize,
    const C2: usize,
>(
    y: &mut [T; R],
    b: [&[T; R]; NB],
    w1: &[[T; R]; C1],
    x1: &[T; C1],
    w2: &[[T; R]; C2],
    x2: &[T; C2],
) {
    let r0 = if cfg!(target_arch = "arm") {
        // 32 single-precision registers: a block of 16 rows stays in them.
        // With hardware float the inputs are copied first: their addresses
        // go to the hand-written kernel (kernels/thumb.rs), and where an input is a
        // step of a layer's output sequence, that escape made LLVM build
        // the whole sequence in a local and copy it out (4 KB more stack
        // for the forecaster's first layer).
        if cfg!(target_abi = "eabihf") {
            let (x1, x2) = (*x1, *x2);
            row_blocks::<I, T, 16, 1, NB, R, C1, C2>(y, b, 0, w1, &x1, w2, &x2)
        } else {
            row_blocks::<I, T, 16, 1, NB, R, C1, C2>(y, b, 0, w1, x1, w2, x2)
        }
    } else if I::AVX {
        row_blocks::<I, T, BLOCK, 2, NB, R, C1, C2>(y, b, 0, w1, x1, w2, x2)
    } else {
        row_blocks::<I, T, BLOCK, 1, NB, R, C1, C2>(y, b, 0, w1, x1, w2, x2)
    };
    // The conditions are constants: no code for the tails when R is a
    // multiple of the block (as with H = 32).
    if !R.is_multiple_of(BLOCK) {
        // Few rows (e.g. dL/dx with F = 8): four sets of partial sums keep
        // four independent chains.
        let r0 = row_blocks::<I, T, 8, 4, NB, R, C1, C2>(y, b, r0, w1, x1, w2, x2);
        if !R.is_multiple_of(8) {
            row_blocks::<I, T, 1, 1, NB, R, C1, C2>(y, b, r0, w1, x1, w2, x2);
        }
    }
}

/// The rows `r0..` of [`affine2`] in blocks of `B`, with `K` sets of
/// partial sums (columns dealt round-robin); returns the first row not done
/// (fewer than `B` remain).
#[inline(always)]
fn row_blocks<
    I: Isa,
    T: Float,
    const B: usize,
    const K: usize,
    const NB: usize,
    const R: usize,
    const C1: usize,
    const C2: usize,
>(
    y: &mut [T; R],
    b: [&[T; R]; NB],
    mut r0: usize,
    w1: &[[T; R]; C1],
    x1: &[T; C1],
    w2: &[[T; R]; C2],
    x2: &[T; C2],
) -> usize {
    while r0 + B <= R {
        let mut acc = [[T::zero(); B]; K];
        for bias in b {
            for (a, &v) in acc[0].iter_mut().zip(&bias[r0..r0 + B]) {
                *a += v;
            }
        }
        // 16 rows with one set of sums (32-bit Arm): the hand-written
        // kernel where there is one (kernels/thumb.rs; the same sums in the
        // same order).
        let fast = B == 16 && K == 1 && {
            let a: Option<&mut [T; 16]> = acc[0].as_mut_slice().try_into().ok();
            a.is_some_and(|a| T::cols16(a, w1, r0, x1) && T::cols16(a, w2, r0, x2))
        };
        if !fast {
            columns::<I, T, B, K, R, C1>(&mut acc, r0, w1, x1);
            columns::<I, T, B, K, R, C2>(&mut acc, r0, w2, x2);
        }
        let (first, rest) = acc.split_at_mut(1);
        for other in rest {
            add_assign(&mut first[0], other);
        }
        y[r0..r0 + B].copy_from_slice(&first[0]);
        r0 += B;
    }
    r0
}

/// `acc += W[r0..r0 + B, :] x`, column `j` going to partial sums `j mod K`.
#[inline(always)]
fn columns<I: Isa, T: Float, const B: usize, const K: usize, const R: usize, const C: usize>(
    acc: &mut [[T; B]; K],
    r0: usize,
    w: &[[T; R]; C],
    x: &[T; C],
) {
    let wc = w.chunks_exact(K);
    let xc = x.chunks_exact(K);
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (ws, xs) in wc.zip(xc) {
        for ((a, col), &xv) in acc.iter_mut().zip(ws).zip(xs) {
            for (a, &w) in a.iter_mut().zip(&col[r0..r0 + B]) {
                *a = I::madd(w, xv, *a);
            }
        }
    }
    for (col, &xv) in wr.iter().zip(xr) {
        for (a, &w) in acc[0].iter_mut().zip(&col[r0..r0 + B]) {
            *a = I::madd(w, xv, *a);
        }
    }
}

/// `y = b + W x` (one matrix) for instruction set `I`; see [`affine2_in`].
#[inline(always)]
pub(crate) fn affine_in<I: Isa, T: Float, const R: usize, const C: usize>(
    b: &[T; R],
    w: &[[T; R]; C],
    x: &[T; C],
) -> [T; R] {
    let mut y = [T::zero(); R];
    affine2_in::<I, T, 1, R, C, 0>(&mut y, [b], w, x, &[], &[]);
    y
}

/// `a + b`, element-wise.
#[inline(always)]
pub(crate) fn add<T: Float, const N: usize>(a: &[T; N], b: &[T; N]) -> [T; N] {
    let mut y = *a;
    for (y, &b) in y.iter_mut().zip(b) {
        *y += b;
    }
    y
}

/// `a += b`, element-wise.
#[inline(always)]
pub(crate) fn add_assign<T: Float, const N: usize>(a: &mut [T; N], b: &[T; N]) {
    for (a, &b) in a.iter_mut().zip(b) {
        *a += b;
    }
}

/// `Wᵀ` as columns: `out[r][c] = w[c][r]`.
///
/// The backward passes multiply by `W_ihᵀ` and `W_hhᵀ` at every step. Done
/// as dot products over the columns of `W`, the compiler either leaves a
/// serial reduction per column or vectorises across columns with shuffles;
/// transposing once per sequence turns each product into the same
/// register-blocked column sweep as the forward ([`affine2`]), at the cost
/// of `GH·(F + H)` floats of stack.
#[inline(always)]
pub(crate) fn transpose<T: Float, const R: usize, const C: usize>(w: &[[T; R]; C]) -> [[T; C]; R] {
    let mut out = [[T::zero(); C]; R];
    for (c, col) in w.iter().enumerate() {
        for (row, &v) in out.iter_mut().zip(col) {
            row[c] = v;
        }
    }
    out
}

/// `Wᵀ v` given `wt = Wᵀ` from [`transpose`].
#[inline(always)]
pub(crate) fn matvec_t<T: Float, const R: usize, const C: usize>(
    wt: &[[T; C]; R],
    v: &[T; R],
) -> [T; C] {
    matvec_t_in::<Base, T, R, C>(wt, v)
}

/// [`matvec_t`] for instruction set `I` (see [`affine2_in`]).
#[inline(always)]
pub(crate) fn matvec_t_in<I: Isa, T: Float, const R: usize, const C: usize>(
    wt: &[[T; C]; R],
    v: &[T; R],
) -> [T; C] {
    let mut y = [T::zero(); C];
    affine2_in::<I, T, 0, C, R, 0>(&mut y, [], wt, v, &[], &[]);
    y
}

/// `W += Σ_t d_t u_{t−shift}ᵀ` over the steps `t` of a sequence (`u_t` is
/// zero before the first step): the weight gradient of a whole sequence at
/// once, `dW_ih` with `u = x`, `shift = 0` and `dW_hh` with `u = h`,
/// `shift = 1`.
///
/// Done per column of `W` as a register-blocked product with the saved
/// `d` (see [`affine2`]) instead of one rank-1 update per step, which
/// loads and stores all of `W` every step; measured about 3× faster on the
/// LSTM's `dW`.
#[inline(always)]
pub(crate) fn outer_acc<T: Float, const R: usize, const C: usize, const S: usize>(
    w: &mut SMatrix<T, R, C>,
    d: &[[T; R]; S],
    u: &[[T; C]; S],
    shift: usize,
) {
    outer_acc_in::<Base, T, R, C, S>(w, d, u, shift)
}

/// [`outer_acc`] for instruction set `I` (see [`affine2_in`]).
#[inline(always)]
pub(crate) fn outer_acc_in<I: Isa, T: Float, const R: usize, const C: usize, const S: usize>(
    w: &mut SMatrix<T, R, C>,
    d: &[[T; R]; S],
    u: &[[T; C]; S],
    shift: usize,
) {
    for (c, wc) in cols_mut(w).iter_mut().enumerate() {
        let mut v = [T::zero(); S];
        for (vt, ut) in v.iter_mut().skip(shift).zip(u) {
            *vt = ut[c];
        }
        let old = *wc;
        affine2_in::<I, T, 1, R, S, 0>(wc, [&old], d, &v, &[], &[]);
    }
}

/// `b += Σ_t d_t` (a bias gradient over a sequence).
#[inline(always)]
pub(crate) fn sum_acc<T: Float, const R: usize, const S: usize>(
    b: &mut nalgebra::SVector<T, R>,
    d: &[[T; R]; S],
) {
    for dt in d {
        add_assign(&mut cols_mut(b)[0], dt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_sums_any_length() {
        fn check<const N: usize>() {
            let v: [f64; N] = core::array::from_fn(|k| (k + 1) as f64);
            assert_eq!(reduce(&v), (N * (N + 1) / 2) as f64, "N = {N}");
        }
        check::<0>();
        check::<1>();
        check::<3>();
        check::<6>();
        check::<7>();
        check::<8>();
        check::<16>();
    }

    #[test]
    fn axpy_dot_matches_the_definition() {
        for n in [0usize, 1, 7, 8, 9, 23, 64] {
            let a: [f64; 64] = core::array::from_fn(|k| (k as f64 * 0.37).sin());
            let b: [f64; 64] = core::array::from_fn(|k| (k as f64 * 0.11).cos() - 0.5);
            let want: f64 = (0..n).map(|k| a[k] * b[k]).sum();
            let mut g = [1.0f64; 64];
            let got = axpy_dot(&mut g[..n], &a[..n], &b[..n], 3.0);
            assert!((got - want).abs() < 1e-12, "axpy_dot n={n}");
            for k in 0..n {
                assert!((g[k] - (1.0 + 3.0 * b[k])).abs() < 1e-15, "g[{k}] n={n}");
            }
            assert!(g[n..].iter().all(|&v| v == 1.0), "past n untouched");
        }
    }
}
