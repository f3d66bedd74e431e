//! `SimpleRnn`, `Lstm` and `Gru` with PyTorch's equations and gate order.
//!
//! Each cell has a `*_step` function that advances its state by one input
//! (the streaming API is built on it) and two sequence drivers: one returns
//! the last hidden state, the `*_seq` one every hidden state.

use crate::{Activation, Float, RecurrentParams};
use nalgebra::{SMatrix, SVector};

/// `y += W x` for a column-major `W` (`R × C`): one contiguous column at a
/// time, so the inner loop vectorises over `R`.
#[inline(always)]
pub(crate) fn gemv_acc<T: Float, const R: usize, const C: usize>(
    y: &mut SVector<T, R>,
    w: &SMatrix<T, R, C>,
    x: &[T],
) {
    let w = w.as_slice();
    for (i, &xi) in x.iter().enumerate().take(C) {
        let col = &w[i * R..(i + 1) * R];
        for (yr, &wr) in y.as_mut_slice().iter_mut().zip(col) {
            *yr += wr * xi;
        }
    }
}

/// One `SimpleRnn` step: `h = act(W_ih x + b_ih + W_hh h + b_hh)`.
#[inline]
pub fn simple_rnn_step<T: Float, A: Activation, const F: usize, const H: usize>(
    p: &RecurrentParams<T, F, H, H>,
    x: &[T],
    h: &mut SVector<T, H>,
) {
    let mut a = p.bias_ih + p.bias_hh;
    gemv_acc(&mut a, &p.weight_ih, x);
    gemv_acc(&mut a, &p.weight_hh, h.as_slice());
    A::apply(a.as_mut_slice());
    *h = a;
}

/// `SimpleRnn` over a sequence `[S, F]`, returning the last state `[H]`.
#[inline]
pub fn simple_rnn<T: Float, A: Activation, const F: usize, const H: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    let mut h = SVector::zeros();
    for xt in x.as_slice().chunks_exact(F) {
        simple_rnn_step::<T, A, F, H>(p, xt, &mut h);
    }
    h
}

/// `SimpleRnn` over a sequence `[S, F]`, returning every state `[S, H]`.
#[inline]
pub fn simple_rnn_seq<T: Float, A: Activation, const F: usize, const H: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    let mut h = SVector::zeros();
    let mut y = SMatrix::<T, H, S>::zeros();
    for (xt, yt) in x
        .as_slice()
        .chunks_exact(F)
        .zip(y.as_mut_slice().chunks_exact_mut(H))
    {
        simple_rnn_step::<T, A, F, H>(p, xt, &mut h);
        yt.copy_from_slice(h.as_slice());
    }
    y
}

/// The state of an `Lstm` layer: hidden `h` and cell `c`, zero at the start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LstmState<T: Float, const H: usize> {
    /// Hidden state `h_t` (the layer's output).
    pub h: SVector<T, H>,
    /// Cell state `c_t`.
    pub c: SVector<T, H>,
}

impl<T: Float, const H: usize> LstmState<T, H> {
    /// The zero state a sequence starts from.
    pub fn zeros() -> Self {
        Self {
            h: SVector::zeros(),
            c: SVector::zeros(),
        }
    }
}

/// One `Lstm` step with PyTorch's gate order i, f, g, o (`GH = 4·H`).
#[inline]
pub fn lstm_step<T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &[T],
    s: &mut LstmState<T, H>,
) {
    const { assert!(GH == 4 * H, "lstm: GH must be 4 * H") };
    let mut z = p.bias_ih + p.bias_hh;
    gemv_acc(&mut z, &p.weight_ih, x);
    gemv_acc(&mut z, &p.weight_hh, s.h.as_slice());
    let z = z.as_slice();
    for k in 0..H {
        let i = z[k].sigmoid();
        let f = z[H + k].sigmoid();
        let g = z[2 * H + k].tanh_act();
        let o = z[3 * H + k].sigmoid();
        let c = f * s.c[k] + i * g;
        s.c[k] = c;
        s.h[k] = o * c.tanh_act();
    }
}

/// `Lstm` over a sequence `[S, F]`, returning the last hidden state `[H]`.
#[inline]
pub fn lstm<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    let mut s = LstmState::zeros();
    for xt in x.as_slice().chunks_exact(F) {
        lstm_step(p, xt, &mut s);
    }
    s.h
}

/// `Lstm` over a sequence `[S, F]`, returning every hidden state `[S, H]`.
#[inline]
pub fn lstm_seq<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    let mut s = LstmState::zeros();
    let mut y = SMatrix::<T, H, S>::zeros();
    for (xt, yt) in x
        .as_slice()
        .chunks_exact(F)
        .zip(y.as_mut_slice().chunks_exact_mut(H))
    {
        lstm_step(p, xt, &mut s);
        yt.copy_from_slice(s.h.as_slice());
    }
    y
}

/// One `Gru` step with PyTorch's equations and gate order r, z, n
/// (`GH = 3·H`): `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`,
/// `h' = (1 − z) ⊙ n + z ⊙ h`.
#[inline]
pub fn gru_step<T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &[T],
    h: &mut SVector<T, H>,
) {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    let mut gi = p.bias_ih;
    gemv_acc(&mut gi, &p.weight_ih, x);
    let mut gh = p.bias_hh;
    gemv_acc(&mut gh, &p.weight_hh, h.as_slice());
    for k in 0..H {
        let r = (gi[k] + gh[k]).sigmoid();
        let z = (gi[H + k] + gh[H + k]).sigmoid();
        let n = (gi[2 * H + k] + r * gh[2 * H + k]).tanh_act();
        h[k] = (T::one() - z) * n + z * h[k];
    }
}

/// `Gru` over a sequence `[S, F]`, returning the last hidden state `[H]`.
#[inline]
pub fn gru<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    let mut h = SVector::zeros();
    for xt in x.as_slice().chunks_exact(F) {
        gru_step(p, xt, &mut h);
    }
    h
}

/// `Gru` over a sequence `[S, F]`, returning every hidden state `[S, H]`.
#[inline]
pub fn gru_seq<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    let mut h = SVector::zeros();
    let mut y = SMatrix::<T, H, S>::zeros();
    for (xt, yt) in x
        .as_slice()
        .chunks_exact(F)
        .zip(y.as_mut_slice().chunks_exact_mut(H))
    {
        gru_step(p, xt, &mut h);
        yt.copy_from_slice(h.as_slice());
    }
    y
}
