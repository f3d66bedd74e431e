//! `SimpleRnn` (PyTorch's `nn.RNN` with any activation; `GH = H`):
//! `h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`, `h_0 = 0`.

use super::each_step;
use crate::kernels::blas::{add, affine2, cols, cols_mut, matvec_t, outer_acc, sum_acc, transpose};
use crate::{Activation, Float, RecurrentParams};
use nalgebra::{SMatrix, SVector};

/// The state of a `SimpleRnn` layer: its hidden state `h_t`, zero at the
/// start.
pub type SimpleRnnState<T, const H: usize> = SVector<T, H>;

/// What [`simple_rnn_backward`] needs from [`simple_rnn_train`]: the hidden
/// states `h_t` (column `t`), from which the activation's derivative is
/// taken. `H·S` floats.
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleRnnTape<T: Float, const H: usize, const S: usize> {
    /// Hidden states `h_t` (the layer's outputs).
    pub h: SMatrix<T, H, S>,
}

impl<T: Float, const H: usize, const S: usize> SimpleRnnTape<T, H, S> {
    /// Bytes the tape occupies.
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// An all-zero tape (overwritten by [`simple_rnn_train`]).
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    pub fn zeros() -> Self {
        Self {
            h: SMatrix::zeros(),
        }
    }
}

impl<T: Float, const H: usize, const S: usize> Default for SimpleRnnTape<T, H, S> {
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn default() -> Self {
        Self::zeros()
    }
}

/// One cell update in place.
#[inline(always)]
fn cell<T: Float, A: Activation, const F: usize, const H: usize>(
    p: &RecurrentParams<T, F, H, H>,
    x: &[T; F],
    h: &mut [T; H],
) {
    let mut a = [T::zero(); H];
    let b = [&cols(&p.bias_ih)[0], &cols(&p.bias_hh)[0]];
    affine2(&mut a, b, cols(&p.weight_ih), x, cols(&p.weight_hh), h);
    A::apply(&mut a);
    *h = a;
}

/// One `SimpleRnn` step (streaming): `h = act(W_ih x + b_ih + W_hh h + b_hh)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn simple_rnn_step<T: Float, A: Activation, const F: usize, const H: usize>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SVector<T, F>,
    h: &mut SimpleRnnState<T, H>,
) {
    cell::<T, A, F, H>(p, &cols(x)[0], &mut cols_mut(h)[0]);
}

/// `SimpleRnn` over a sequence `[S, F]`, returning the last state `[H]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn simple_rnn<T: Float, A: Activation, const F: usize, const H: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    let mut h = SVector::zeros();
    each_step(x, |xt| cell::<T, A, F, H>(p, xt, &mut cols_mut(&mut h)[0]));
    h
}

/// `SimpleRnn` over a sequence `[S, F]`, returning every state `[S, H]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn simple_rnn_seq<T: Float, A: Activation, const F: usize, const H: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    let mut h = [T::zero(); H];
    let mut y = SMatrix::<T, H, S>::zeros();
    for (xt, yt) in cols(x).iter().zip(cols_mut(&mut y)) {
        cell::<T, A, F, H>(p, xt, &mut h);
        *yt = h;
    }
    y
}

/// Training forward: runs the sequence like [`simple_rnn_seq`]
/// (bit-identical states), records the states in `tape`, and returns every
/// state `[S, H]` (the last column is the output when `return_sequences`
/// is false).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn simple_rnn_train<T: Float, A: Activation, const F: usize, const H: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SMatrix<T, F, S>,
    tape: &mut SimpleRnnTape<T, H, S>,
) -> SMatrix<T, H, S> {
    tape.h = simple_rnn_seq::<T, A, F, H, S>(p, x);
    tape.h
}

/// Backward through time for [`simple_rnn_train`].
///
/// `dy` holds `dL/dh_t` from above (zero columns where a step's output is
/// unused). Going back: `dh = dy_t + W_hhᵀ da_{t+1}`, `da_t = dh ⊙ act'`
/// (taken from the output `h_t`), `dW_ih += da_t x_tᵀ`,
/// `dW_hh += da_t h_{t−1}ᵀ`, `db_ih += da_t`, `db_hh += da_t`,
/// `dx_t = W_ihᵀ da_t`. Gradients are added to `g`; returns `dL/dx`.
/// The weight gradients are summed over the steps after the loop, from
/// `da_t` kept on the stack (`H·S` floats).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub fn simple_rnn_backward<
    T: Float,
    A: Activation,
    const F: usize,
    const H: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SMatrix<T, F, S>,
    tape: &SimpleRnnTape<T, H, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, H>,
) -> SMatrix<T, F, S> {
    let mut dx = SMatrix::<T, F, S>::zeros();
    simple_rnn_backward_into::<T, A, F, H, S, true>(p, x, tape, dy, g, &mut dx);
    dx
}

/// [`simple_rnn_backward`] without `dL/dx`, for a network's first layer: adds the
/// parameter gradients into `g` and skips the `W_ihᵀ` product of every
/// step.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub fn simple_rnn_backward_params<
    T: Float,
    A: Activation,
    const F: usize,
    const H: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SMatrix<T, F, S>,
    tape: &SimpleRnnTape<T, H, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, H>,
) {
    let mut unused = SMatrix::<T, F, S>::zeros();
    simple_rnn_backward_into::<T, A, F, H, S, false>(p, x, tape, dy, g, &mut unused);
}

/// The body of [`simple_rnn_backward`]: writes `dL/dx` into `dx` only with `DX`.
#[inline(always)]
fn simple_rnn_backward_into<
    T: Float,
    A: Activation,
    const F: usize,
    const H: usize,
    const S: usize,
    const DX: bool,
>(
    p: &RecurrentParams<T, F, H, H>,
    x: &SMatrix<T, F, S>,
    tape: &SimpleRnnTape<T, H, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, H>,
    dx: &mut SMatrix<T, F, S>,
) {
    let wt_ih = if DX {
        transpose(cols(&p.weight_ih))
    } else {
        [[T::zero(); F]; _]
    };
    let wt_hh = transpose(cols(&p.weight_hh));
    let mut dh_next = [T::zero(); H];
    // dL/da for every step, for the weight gradients after the loop.
    let mut das = [[T::zero(); H]; S];
    for t in (0..S).rev() {
        let mut da = add(&cols(dy)[t], &dh_next);
        A::backward(&cols(&tape.h)[t], &mut da);
        if DX {
            cols_mut(dx)[t] = matvec_t(&wt_ih, &da);
        }
        dh_next = matvec_t(&wt_hh, &da);
        das[t] = da;
    }
    sum_acc(&mut g.bias_ih, &das);
    sum_acc(&mut g.bias_hh, &das);
    outer_acc(&mut g.weight_ih, &das, cols(x), 0);
    outer_acc(&mut g.weight_hh, &das, cols(&tape.h), 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Linear, Relu, Sigmoid, Tanh};
    use crate::kernels::testutil::{self as check, Loss};

    fn hand_params() -> RecurrentParams<f64, 2, 2, 2> {
        RecurrentParams {
            weight_ih: SMatrix::from_row_slice(&[0.5, -1.0, 0.25, 0.75]),
            weight_hh: SMatrix::from_row_slice(&[0.1, 0.2, -0.3, 0.4]),
            bias_ih: SVector::from([0.1, -0.2]),
            bias_hh: SVector::from([0.05, 0.0]),
        }
    }

    /// x = (1, 2), h = (0.5, −0.5):
    /// a_0 = 0.5·1 − 1·2 + 0.1 + 0.05 + 0.1·0.5 + 0.2·(−0.5) = −1.4
    /// a_1 = 0.25·1 + 0.75·2 − 0.2 + 0 − 0.3·0.5 + 0.4·(−0.5) = 1.2
    #[test]
    fn one_step_by_hand() {
        let p = hand_params();
        let x = SVector::from([1.0, 2.0]);
        let mut h = SVector::from([0.5, -0.5]);
        simple_rnn_step::<_, Tanh, 2, 2>(&p, &x, &mut h);
        // tanh(−1.4) = −0.8853516482, tanh(1.2) = 0.8336546070
        check::close(
            h.as_slice(),
            &[-0.8853516482022625, 0.8336546070121553],
            1e-12,
        );
        let mut h = SVector::from([0.5, -0.5]);
        simple_rnn_step::<_, Relu, 2, 2>(&p, &x, &mut h);
        check::close(h.as_slice(), &[0.0, 1.2], 1e-12);
        let mut h = SVector::from([0.5f32, -0.5]);
        simple_rnn_step::<_, Tanh, 2, 2>(&check::to_f32(&p), &SVector::from([1.0f32, 2.0]), &mut h);
        check::close(
            h.as_slice(),
            &[-0.8853516482022625, 0.8336546070121553],
            1e-5,
        );
    }

    #[test]
    fn drivers_agree() {
        let p = check::random_params::<3, 4, 4>(3);
        let x = check::random_seq::<3, 5>(4);
        let all = simple_rnn_seq::<_, Tanh, 3, 4, 5>(&p, &x);
        let last = simple_rnn::<_, Tanh, 3, 4, 5>(&p, &x);
        assert_eq!(all.column(4), last.column(0));
        let mut h = SimpleRnnState::zeros();
        for t in 0..5 {
            simple_rnn_step::<_, Tanh, 3, 4>(&p, &x.column(t).into_owned(), &mut h);
            assert_eq!(h.column(0), all.column(t));
        }
        let mut tape = SimpleRnnTape::zeros();
        assert_eq!(simple_rnn_train::<_, Tanh, 3, 4, 5>(&p, &x, &mut tape), all);
        assert!((all.column(0) - all.column(4)).norm() > 1e-3);
    }

    fn grad_check<A: Activation, const S: usize>(loss: Loss, seed: u64) {
        let p = check::random_params::<3, 4, 4>(seed);
        let x = check::random_seq::<3, S>(seed + 1);
        let dy = check::upstream::<4, S>(loss, seed + 2);
        let mut tape = SimpleRnnTape::zeros();
        simple_rnn_train::<_, A, 3, 4, S>(&p, &x, &mut tape);
        let mut g = RecurrentParams::zeros();
        let dx = simple_rnn_backward::<_, A, 3, 4, S>(&p, &x, &tape, &dy, &mut g);
        check::finite_differences(&p, &x, &dy, &g, &dx, |p, x| {
            simple_rnn_seq::<_, A, 3, 4, S>(p, x)
        });
    }

    #[test]
    fn gradients_all_states() {
        grad_check::<Tanh, 1>(Loss::AllStates, 10);
        grad_check::<Tanh, 4>(Loss::AllStates, 20);
        grad_check::<Relu, 4>(Loss::AllStates, 30);
        grad_check::<Sigmoid, 4>(Loss::AllStates, 40);
        grad_check::<Linear, 3>(Loss::AllStates, 50);
    }

    #[test]
    fn gradients_last_state() {
        grad_check::<Tanh, 1>(Loss::LastState, 60);
        grad_check::<Tanh, 4>(Loss::LastState, 70);
        grad_check::<Relu, 4>(Loss::LastState, 80);
    }

    /// The f32 path gives the f64 gradients to f32 accuracy.
    #[test]
    fn f32_gradients_match_f64() {
        let p = check::random_params::<8, 32, 32>(70);
        let x = check::random_seq::<8, 6>(71);
        let dy = check::upstream::<32, 6>(Loss::AllStates, 72);
        let mut tape = SimpleRnnTape::zeros();
        let y = simple_rnn_train::<_, Tanh, 8, 32, 6>(&p, &x, &mut tape);
        let mut g = RecurrentParams::zeros();
        let dx = simple_rnn_backward::<_, Tanh, 8, 32, 6>(&p, &x, &tape, &dy, &mut g);
        let (p32, x32, dy32) = (check::to_f32(&p), x.cast::<f32>(), dy.cast::<f32>());
        let mut tape32 = SimpleRnnTape::zeros();
        let y32 = simple_rnn_train::<_, Tanh, 8, 32, 6>(&p32, &x32, &mut tape32);
        let mut g32 = RecurrentParams::zeros();
        let dx32 = simple_rnn_backward::<_, Tanh, 8, 32, 6>(&p32, &x32, &tape32, &dy32, &mut g32);
        check::assert_close32("h", &y32, &y, 1e-5);
        check::assert_close32("dx", &dx32, &dx, 1e-4);
        check::assert_params_close32(&g32, &g, 1e-4);
    }
}
