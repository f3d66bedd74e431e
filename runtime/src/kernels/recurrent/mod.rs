//! `SimpleRnn`, `Lstm` and `Gru` with PyTorch's equations, gate order and
//! parameter layout ([`RecurrentParams`](crate::RecurrentParams)).
//!
//! For each cell there are
//! - a state type and a `*_step` function that advances it by one input
//!   (the streaming API: an audio or control loop calls it sample by sample);
//! - two inference drivers over a sequence `[S, F]` (an `SMatrix<T, F, S>`
//!   whose column `t` is step `t`): `lstm` returns the last hidden state
//!   `[H]`, `lstm_seq` every hidden state `[S, H]` (column `t` = `h_t`);
//! - a training forward `*_train` that fills a statically sized tape and
//!   returns every hidden state, and a `*_backward` (BPTT) that reads the
//!   tape, accumulates parameter gradients and returns `dL/dx`.
//!
//! Everything is allocation-free and `no_std`. The three drivers of a cell
//! share one cell function, so streaming, inference and training compute
//! bit-identical states.
//!
//! Layout: nalgebra stores a PyTorch `[GH, F]` weight column-major, so each
//! column (one input's weights for every gate row) is contiguous. The
//! matrix-vector products therefore walk columns and accumulate a block of
//! gate rows held in registers ([`BLOCK`] values at a time), which is the
//! loop order that vectorises for these small sizes.

mod gru;
mod lstm;
mod simple_rnn;

pub use gru::*;
pub use lstm::*;
pub use simple_rnn::*;

use crate::Float;
use nalgebra::SMatrix;

/// Gate rows accumulated together in `affine2`. 32 values are 4 AVX
/// registers (two sets: 8) or 8 SSE2 registers in `f32`: enough independent
/// accumulators to hide the add latency, few enough that the block stays in
/// registers on SSE2's 16 registers.
pub const BLOCK: usize = 32;

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
    let r0 = if cfg!(target_arch = "arm") {
        // 32 single-precision registers: a block of 16 rows stays in them.
        row_blocks::<T, 16, 1, NB, R, C1, C2>(y, b, 0, w1, x1, w2, x2)
    } else if cfg!(target_feature = "avx") {
        row_blocks::<T, BLOCK, 2, NB, R, C1, C2>(y, b, 0, w1, x1, w2, x2)
    } else {
        row_blocks::<T, BLOCK, 1, NB, R, C1, C2>(y, b, 0, w1, x1, w2, x2)
    };
    // The conditions are constants: no code for the tails when R is a
    // multiple of the block (as with H = 32).
    if !R.is_multiple_of(BLOCK) {
        // Few rows (e.g. dL/dx with F = 8): four sets of partial sums keep
        // four independent chains.
        let r0 = row_blocks::<T, 8, 4, NB, R, C1, C2>(y, b, r0, w1, x1, w2, x2);
        if !R.is_multiple_of(8) {
            row_blocks::<T, 1, 1, NB, R, C1, C2>(y, b, r0, w1, x1, w2, x2);
        }
    }
}

/// The rows `r0..` of [`affine2`] in blocks of `B`, with `K` sets of
/// partial sums (columns dealt round-robin); returns the first row not done
/// (fewer than `B` remain).
#[inline(always)]
fn row_blocks<
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
        columns::<T, B, K, R, C1>(&mut acc, r0, w1, x1);
        columns::<T, B, K, R, C2>(&mut acc, r0, w2, x2);
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
fn columns<T: Float, const B: usize, const K: usize, const R: usize, const C: usize>(
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
                *a = madd(w, xv, *a);
            }
        }
    }
    for (col, &xv) in wr.iter().zip(xr) {
        for (a, &w) in acc[0].iter_mut().zip(&col[r0..r0 + B]) {
            *a = madd(w, xv, *a);
        }
    }
}

/// `y = b + W x` (one matrix); see [`affine2`].
#[inline(always)]
pub(crate) fn affine<T: Float, const R: usize, const C: usize>(
    b: &[T; R],
    w: &[[T; R]; C],
    x: &[T; C],
) -> [T; R] {
    let mut y = [T::zero(); R];
    affine2::<T, 1, R, C, 0>(&mut y, [b], w, x, &[], &[]);
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
    let mut y = [T::zero(); C];
    affine2::<T, 0, C, R, 0>(&mut y, [], wt, v, &[], &[]);
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
    for (c, wc) in cols_mut(w).iter_mut().enumerate() {
        let mut v = [T::zero(); S];
        for (vt, ut) in v.iter_mut().skip(shift).zip(u) {
            *vt = ut[c];
        }
        let old = *wc;
        affine2::<T, 1, R, S, 0>(wc, [&old], d, &v, &[], &[]);
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

/// Column `t - 1` of a tape matrix, or `zero` at `t = 0` (the initial
/// state).
#[inline(always)]
pub(crate) fn prev_col<'a, T, const R: usize, const C: usize>(
    m: &'a SMatrix<T, R, C>,
    t: usize,
    zero: &'a [T; R],
) -> &'a [T; R] {
    t.checked_sub(1)
        .and_then(|u| cols(m).get(u))
        .unwrap_or(zero)
}

#[cfg(test)]
pub(crate) mod check;

/// Calls `f` on each step (column) of `x` in order. The trip count is
/// hidden from the optimiser: with it known, LLVM unrolls all `S` copies of
/// a cell, and the many-times-larger code ran 2.7x slower (LSTM, `S = 32`,
/// measured in benches/train.rs); the loop overhead is one compare a step.
#[inline(always)]
pub(super) fn each_step<T: Float, const F: usize, const S: usize>(
    x: &SMatrix<T, F, S>,
    mut f: impl FnMut(&[T; F]),
) {
    let steps = cols(x);
    for t in 0..core::hint::black_box(S) {
        if let Some(xt) = steps.get(t) {
            f(xt);
        }
    }
}
