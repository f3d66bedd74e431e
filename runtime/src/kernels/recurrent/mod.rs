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
//! For the layer-major training step (`Train::forward_train_layers`,
//! `backward_layers`) `Lstm` and `Gru` also have batched forms
//! (`batch.rs`: `lstm_train_batch`, `lstm_backward_batch`,
//! `lstm_backward_batch_params`, `lstm_backward_batch_dx` and the `gru_`
//! ones): a step of several samples as one matrix–matrix product, and the
//! weight gradients of the whole batch as one product over its samples and
//! steps.
//!
//! Everything is allocation-free and `no_std`. The three drivers of a cell
//! share one cell function, so streaming, inference and training compute
//! bit-identical states.
//!
//! Layout: nalgebra stores a PyTorch `[GH, F]` weight column-major, so each
//! column (one input's weights for every gate row) is contiguous. The
//! matrix-vector products therefore walk columns and accumulate a block of
//! gate rows held in registers (`BLOCK` values at a time), which is the
//! loop order that vectorises for these small sizes (the products are in
//! `kernels/blas.rs`, shared with Dense and Conv2d).

mod batch;
mod gru;
mod lstm;
mod simple_rnn;

pub use batch::*;
pub use gru::*;
pub use lstm::*;
pub use simple_rnn::*;

use crate::kernels::blas::cols;
use crate::Float;
use nalgebra::SMatrix;

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
