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

/// The test, for one cell (`Lstm`, `Gru`), that its three training entry
/// points (`$train`, `$backward`, `$params`: what `Trainer::step`'s
/// sample-major path calls) run `kernels::avx2`'s instantiation exactly
/// where the build dispatches and the CPU has AVX2 and FMA
/// (`dispatch::fast` runs its closure: a `std` release build for
/// baseline x86-64), else the baseline's (`$train_in`, `$backward_in`,
/// `$params_in` with `Base`). The two differ in the last bits (fused
/// multiply-adds), so the test tells which ran: outputs, `dL/dx` and the
/// parameter gradients of both backwards, on the benchmark's layer size.
/// In `cargo test`'s debug profile only the baseline case can occur;
/// `cargo test --release` checks the other.
#[cfg(test)]
macro_rules! dispatched_training_test {
    ($tape:ident, $gh:literal, $train:ident, $backward:ident, $params:ident,
     $train_in:ident, $backward_in:ident, $params_in:ident) => {
        #[test]
        fn training_entry_points_run_the_dispatched_instantiation() {
            type P = RecurrentParams<f32, 8, 32, $gh>;
            type Out = (Vec<f32>, Vec<f32>, P, P);
            fn instantiation<I: Isa>(
                p: &P,
                x: &SMatrix<f32, 8, 6>,
                dy: &SMatrix<f32, 32, 6>,
            ) -> Out {
                let mut tape = $tape::zeros();
                let y = $train_in::<I, f32, 8, 32, $gh, 6>(p, x, &mut tape);
                let (mut g, mut gp) = (P::zeros(), P::zeros());
                let dx = $backward_in::<I, f32, 8, 32, $gh, 6>(p, x, &tape, dy, &mut g);
                $params_in::<I, f32, 8, 32, $gh, 6>(p, x, &tape, dy, &mut gp);
                (y.as_slice().to_vec(), dx.as_slice().to_vec(), g, gp)
            }
            let p = check::to_f32(&check::random_params::<8, 32, $gh>(80));
            let x = check::random_seq::<8, 6>(81).cast::<f32>();
            let dy = check::upstream::<32, 6>(Loss::AllStates, 82).cast::<f32>();
            let mut tape = $tape::zeros();
            let y = $train(&p, &x, &mut tape);
            let (mut g, mut gp) = (P::zeros(), P::zeros());
            let dx = $backward(&p, &x, &tape, &dy, &mut g);
            $params(&p, &x, &tape, &dy, &mut gp);
            let entry: Out = (y.as_slice().to_vec(), dx.as_slice().to_vec(), g, gp);
            let avx2 = instantiation::<crate::kernels::dispatch::Avx2>(&p, &x, &dy);
            let base = instantiation::<Base>(&p, &x, &dy);
            if dispatch::fast(|| ()).is_some() {
                assert!(entry == avx2, "the AVX2 instantiation's bits");
                assert!(avx2 != base, "the two instantiations differ here");
            } else {
                assert!(entry == base, "the baseline's bits");
            }
        }
    };
}

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
