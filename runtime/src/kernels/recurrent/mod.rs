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

/// Gate rows accumulated together in [`matvec2_acc`]. 32 values are 4 AVX
/// registers or 8 SSE2 registers in `f32` (8 / 16 in `f64`): enough
/// independent accumulators to hide the add latency, few enough that the
/// block stays in registers on SSE2's 16 registers.
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

/// `y += W1 x1 + W2 x2` for column-major `W1` (`R × C1`) and `W2` (`R × C2`).
///
/// Rows are processed in blocks of [`BLOCK`] whose partial sums stay in
/// registers while every column of both matrices streams past, so each
/// weight is loaded once and `y` is read and written once per call.
#[inline(always)]
pub(crate) fn matvec2_acc<T: Float, const R: usize, const C1: usize, const C2: usize>(
    y: &mut [T; R],
    w1: &[[T; R]; C1],
    x1: &[T; C1],
    w2: &[[T; R]; C2],
    x2: &[T; C2],
) {
    let mut blocks = y.chunks_exact_mut(BLOCK);
    let mut r0 = 0;
    for yb in &mut blocks {
        let mut acc = [T::zero(); BLOCK];
        acc.copy_from_slice(yb);
        for (col, &xc) in w1.iter().zip(x1) {
            for (a, &w) in acc.iter_mut().zip(&col[r0..r0 + BLOCK]) {
                *a += w * xc;
            }
        }
        for (col, &xc) in w2.iter().zip(x2) {
            for (a, &w) in acc.iter_mut().zip(&col[r0..r0 + BLOCK]) {
                *a += w * xc;
            }
        }
        yb.copy_from_slice(&acc);
        r0 += BLOCK;
    }
    // Rows left over when R is not a multiple of BLOCK.
    let rest = blocks.into_remainder();
    for (col, &xc) in w1.iter().zip(x1) {
        for (a, &w) in rest.iter_mut().zip(&col[r0..]) {
            *a += w * xc;
        }
    }
    for (col, &xc) in w2.iter().zip(x2) {
        for (a, &w) in rest.iter_mut().zip(&col[r0..]) {
            *a += w * xc;
        }
    }
}

/// `y += W x` (one matrix); see [`matvec2_acc`].
#[inline(always)]
pub(crate) fn matvec_acc<T: Float, const R: usize, const C: usize>(
    y: &mut [T; R],
    w: &[[T; R]; C],
    x: &[T; C],
) {
    matvec2_acc::<T, R, C, 0>(y, w, x, &[], &[]);
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

/// Lanes of the partial sums in [`dot`]: a fixed order of additions that
/// the compiler may keep in vector registers (a single running sum would
/// force a scalar chain, as floating-point addition is not reassociated).
const LANES: usize = 8;

/// `Σ a_i b_i` with [`LANES`] interleaved partial sums.
#[inline(always)]
pub(crate) fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut lanes = [T::zero(); LANES];
    let ac = a.chunks_exact(LANES);
    let bc = b.chunks_exact(LANES);
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (ca, cb) in ac.zip(bc) {
        for ((l, &x), &y) in lanes.iter_mut().zip(ca).zip(cb) {
            *l += x * y;
        }
    }
    let mut s = T::zero();
    for (&x, &y) in ar.iter().zip(br) {
        s += x * y;
    }
    for l in lanes {
        s += l;
    }
    s
}

/// `out = Wᵀ v` for column-major `W` (`R × C`): one dot product per column.
#[inline(always)]
pub(crate) fn matvec_tr<T: Float, const R: usize, const C: usize>(
    w: &[[T; R]; C],
    v: &[T; R],
) -> [T; C] {
    let mut out = [T::zero(); C];
    for (o, col) in out.iter_mut().zip(w) {
        *o = dot(col, v);
    }
    out
}

/// `W += v xᵀ` (a rank-1 update; `W` is `R × C`, column-major).
#[inline(always)]
pub(crate) fn ger_acc<T: Float, const R: usize, const C: usize>(
    w: &mut [[T; R]; C],
    v: &[T; R],
    x: &[T; C],
) {
    for (col, &xc) in w.iter_mut().zip(x) {
        for (wr, &vr) in col.iter_mut().zip(v) {
            *wr += vr * xc;
        }
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
