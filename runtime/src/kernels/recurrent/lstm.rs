//! `Lstm` (PyTorch's `nn.LSTM`, gate order i, f, g, o; `GH = 4·H`).
//!
//! `z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`, `i = σ(z_i)`, `f = σ(z_f)`,
//! `g = tanh(z_g)`, `o = σ(z_o)`, `c_t = f ⊙ c_{t-1} + i ⊙ g`,
//! `h_t = o ⊙ tanh(c_t)`, `h_0 = c_0 = 0`.

use super::{each_step, prev_col};
use crate::kernels::blas::{
    affine2_in, cols, cols_mut, matvec_t_in, outer_acc_in, sum_acc, transpose,
};
use crate::kernels::dispatch::{self, Base, Isa};
#[cfg(target_arch = "x86_64")]
use crate::kernels::simd::zmm;
use crate::{Float, RecurrentParams};
use nalgebra::{SMatrix, SVector};

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
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    pub fn zeros() -> Self {
        Self {
            h: SVector::zeros(),
            c: SVector::zeros(),
        }
    }
}

impl<T: Float, const H: usize> Default for LstmState<T, H> {
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn default() -> Self {
        Self::zeros()
    }
}

/// What [`lstm_backward`] needs from [`lstm_train`]: per step `t` (column
/// `t`) the gate activations, the cell state and the hidden state. The
/// inputs are not stored; they are passed to the backward pass again.
///
/// Size: `6·H·S` floats (`GH·S` gates + `H·S` cells + `H·S` states), e.g.
/// 24,576 bytes for `f32`, `H = 32`, `S = 32` (see [`LstmTape::BYTES`]).
/// `tanh(c_t)` is recomputed in the backward pass rather than stored.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmTape<T: Float, const H: usize, const GH: usize, const S: usize> {
    /// `[i, f, g, o]` after their nonlinearities, `GH = 4·H` rows per step.
    pub gates: SMatrix<T, GH, S>,
    /// Cell states `c_t`.
    pub c: SMatrix<T, H, S>,
    /// Hidden states `h_t` (the layer's outputs).
    pub h: SMatrix<T, H, S>,
}

impl<T: Float, const H: usize, const GH: usize, const S: usize> LstmTape<T, H, GH, S> {
    /// Bytes the tape occupies.
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// An all-zero tape (its contents are overwritten by [`lstm_train`]).
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    pub fn zeros() -> Self {
        Self {
            gates: SMatrix::zeros(),
            c: SMatrix::zeros(),
            h: SMatrix::zeros(),
        }
    }
}

impl<T: Float, const H: usize, const GH: usize, const S: usize> Default for LstmTape<T, H, GH, S> {
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn default() -> Self {
        Self::zeros()
    }
}

/// Gate pre-activations `z = b_ih + b_hh + W_ih x + W_hh h` (`GH` values),
/// written into `z` (returning the array by value cost a 512-byte
/// `memcpy` per step in the streaming call).
#[inline(always)]
fn preact<I: Isa, T: Float, const F: usize, const H: usize, const GH: usize>(
    z: &mut [T; GH],
    p: &RecurrentParams<T, F, H, GH>,
    x: &[T; F],
    h: &[T; H],
) {
    let b = [&cols(&p.bias_ih)[0], &cols(&p.bias_hh)[0]];
    let (w_ih, w_hh) = (cols(&p.weight_ih), cols(&p.weight_hh));
    #[cfg(target_arch = "x86_64")]
    if zmm::affine2::<I, T, 2, GH, F, H>(z, b, w_ih, x, w_hh, h) {
        return;
    }
    affine2_in::<I, _, 2, GH, F, H>(z, b, w_ih, x, w_hh, h);
}

/// The gate activations `[σ(z_i), σ(z_f), tanh(z_g), σ(z_o)]` in place.
///
/// One pass over all `GH` values before the state update, not one loop
/// doing both: every value here is independent, so the out-of-order core
/// overlaps the long `exp`/divide latency chains of all gates instead of
/// waiting on each group's `tanh(c)` chain in turn (the fused loop was
/// latency-bound).
///
/// Where instantiation `I` runs the 512-bit kernels
/// (`kernels::simd::zmm`), they compute the same bits.
#[inline(always)]
pub(super) fn activate<I: Isa, T: Float, const H: usize, const GH: usize>(z: &mut [T; GH]) {
    const { assert!(GH == 4 * H, "lstm: GH must be 4 * H") };
    #[cfg(target_arch = "x86_64")]
    if zmm::available::<I>() {
        if let Some(z) = zmm::cast_mut::<_, [f32; GH]>(z) {
            // SAFETY: `activate_zmm` needs AVX-512F, and `available`
            // returned `true`: the build targets it, or the run-time check
            // found it on this CPU.
            unsafe { activate_zmm::<H, GH>(z) };
            return;
        }
    }
    for k in 0..H {
        z[k] = z[k].sigmoid();
        z[H + k] = z[H + k].sigmoid();
        z[2 * H + k] = z[2 * H + k].tanh_act();
        z[3 * H + k] = z[3 * H + k].sigmoid();
    }
}

/// `c = f ⊙ c + i ⊙ g`, `h = o ⊙ tanh(c)` from activated gates `a`.
#[inline(always)]
pub(super) fn update<I: Isa, T: Float, const H: usize, const GH: usize>(
    a: &[T; GH],
    h: &mut [T; H],
    c: &mut [T; H],
) {
    #[cfg(target_arch = "x86_64")]
    if zmm::available::<I>() {
        if let (Some(a), Some(h), Some(c)) = (
            zmm::cast::<_, [f32; GH]>(a),
            zmm::cast_mut::<_, [f32; H]>(h),
            zmm::cast_mut::<_, [f32; H]>(c),
        ) {
            // SAFETY: as in `activate`.
            unsafe { update_zmm::<H, GH>(a, h, c) };
            return;
        }
    }
    for k in 0..H {
        let ck = a[H + k] * c[k] + a[k] * a[2 * H + k];
        c[k] = ck;
        h[k] = a[3 * H + k] * ck.tanh_act();
    }
}

/// [`activate`] in 512-bit registers (`kernels::simd::zmm`): the same
/// bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn activate_zmm<const H: usize, const GH: usize>(z: &mut [f32; GH]) {
    let (ifg, o) = z.split_at_mut(3 * H);
    let (if_, g) = ifg.split_at_mut(2 * H);
    zmm::sigmoid_all(if_);
    zmm::tanh_all(g);
    zmm::sigmoid_all(o);
}

/// [`update`] in 512-bit registers: the same bits (`(f · c) + (i · g)`,
/// unfused, as the portable loop writes it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn update_zmm<const H: usize, const GH: usize>(a: &[f32; GH], h: &mut [f32; H], c: &mut [f32; H]) {
    use core::arch::x86_64::*;
    let gate = |g: usize| a[g * H..(g + 1) * H].as_chunks::<16>().0.iter();
    let (hs, hr) = h.as_chunks_mut::<16>();
    let (cs, cr) = c.as_chunks_mut::<16>();
    let quads = gate(0).zip(gate(1)).zip(gate(2)).zip(gate(3));
    for ((((i, f), g), o), (hv, cv)) in quads.zip(hs.iter_mut().zip(cs.iter_mut())) {
        let ck = _mm512_add_ps(
            _mm512_mul_ps(zmm::load(f), zmm::load(cv)),
            _mm512_mul_ps(zmm::load(i), zmm::load(g)),
        );
        zmm::store(cv, ck);
        zmm::store(hv, _mm512_mul_ps(zmm::load(o), zmm::tanh(ck)));
    }
    // H not a multiple of 16: the last values as the portable loop does.
    let k0 = H - hr.len();
    for (j, (hk, ck)) in hr.iter_mut().zip(cr.iter_mut()).enumerate() {
        let k = k0 + j;
        let cn = a[H + k] * *ck + a[k] * a[2 * H + k];
        *ck = cn;
        *hk = a[3 * H + k] * crate::float::tanh_f32(cn);
    }
}

/// One cell update in place: pre-activations, gates ([`activate`]), state
/// ([`update`]); every loop is branch-free over contiguous values (the four
/// gates are the blocks `z[k]`, `z[H + k]`, `z[2H + k]`, `z[3H + k]`), so
/// they vectorise when `sigmoid`/`tanh_act` do.
#[inline(always)]
fn cell<I: Isa, T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &[T; F],
    h: &mut [T; H],
    c: &mut [T; H],
) {
    let mut z = [T::zero(); GH];
    preact::<I, T, F, H, GH>(&mut z, p, x, h);
    activate::<I, T, H, GH>(&mut z);
    update::<I, T, H, GH>(&z, h, c);
}

/// [`lstm_step`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn lstm_step_in<I: Isa, T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SVector<T, F>,
    s: &mut LstmState<T, H>,
) {
    let LstmState { h, c } = s;
    cell::<I, T, F, H, GH>(p, &cols(x)[0], &mut cols_mut(h)[0], &mut cols_mut(c)[0]);
}

/// [`lstm`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn lstm_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    let mut h = [T::zero(); H];
    let mut c = [T::zero(); H];
    each_step(x, |xt| cell::<I, T, F, H, GH>(p, xt, &mut h, &mut c));
    SVector::from_data(nalgebra::ArrayStorage([h]))
}

/// [`lstm_seq`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn lstm_seq_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    let mut h = [T::zero(); H];
    let mut c = [T::zero(); H];
    let mut y = SMatrix::<T, H, S>::zeros();
    for (xt, yt) in cols(x).iter().zip(cols_mut(&mut y)) {
        cell::<I, T, F, H, GH>(p, xt, &mut h, &mut c);
        *yt = h;
    }
    y
}

/// [`lstm_train`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn lstm_train_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &mut LstmTape<T, H, GH, S>,
) -> SMatrix<T, H, S> {
    const { assert!(GH == 4 * H, "lstm: GH must be 4 * H") };
    let mut h = [T::zero(); H];
    let mut c = [T::zero(); H];
    let LstmTape {
        gates,
        c: tc,
        h: th,
    } = tape;
    for (((xt, gt), ct), ht) in cols(x)
        .iter()
        .zip(cols_mut(gates))
        .zip(cols_mut(tc))
        .zip(cols_mut(th))
    {
        // The same arithmetic as `cell`, keeping the gates.
        preact::<I, T, F, H, GH>(gt, p, xt, &h);
        activate::<I, T, H, GH>(gt);
        update::<I, T, H, GH>(gt, &mut h, &mut c);
        *ct = c;
        *ht = h;
    }
    tape.h
}

/// [`lstm_backward`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn lstm_backward_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &LstmTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) -> SMatrix<T, F, S> {
    let mut dx = SMatrix::<T, F, S>::zeros();
    lstm_backward_into::<I, T, F, H, GH, S, true>(p, x, tape, dy, g, &mut dx);
    dx
}

/// [`lstm_backward_params`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn lstm_backward_params_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &LstmTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) {
    let mut unused = SMatrix::<T, F, S>::zeros();
    lstm_backward_into::<I, T, F, H, GH, S, false>(p, x, tape, dy, g, &mut unused);
}

/// The body of [`lstm_backward`]: writes `dL/dx` into `dx` only with `DX`.
#[inline(always)]
fn lstm_backward_into<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const DX: bool,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &LstmTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
    dx: &mut SMatrix<T, F, S>,
) {
    const { assert!(GH == 4 * H, "lstm: GH must be 4 * H") };
    let zero = [T::zero(); H];
    let wt_ih = if DX {
        transpose(cols(&p.weight_ih))
    } else {
        [[T::zero(); F]; _]
    };
    let wt_hh = transpose(cols(&p.weight_hh));
    let mut dh_next = [T::zero(); H];
    let mut dc_next = [T::zero(); H];
    // dL/dz for every step, for the weight gradients after the loop.
    let mut dzs = [[T::zero(); GH]; S];
    for t in (0..S).rev() {
        let gt = &cols(&tape.gates)[t];
        let ct = &cols(&tape.c)[t];
        let c_prev = prev_col(&tape.c, t, &zero);
        let dyt = &cols(dy)[t];
        let mut dh = dh_next;
        for (d, &y) in dh.iter_mut().zip(dyt) {
            *d = y + *d;
        }
        let mut dz = [T::zero(); GH];
        gate_grads::<T, H, GH>(gt, ct, c_prev, &dh, &mut dc_next, &mut dz);
        if DX {
            cols_mut(dx)[t] = matvec_t_in::<I, T, GH, F>(&wt_ih, &dz);
        }
        dh_next = matvec_t_in::<I, T, GH, H>(&wt_hh, &dz);
        dzs[t] = dz;
    }
    sum_acc(&mut g.bias_ih, &dzs);
    sum_acc(&mut g.bias_hh, &dzs);
    outer_acc_in::<I, T, GH, F, S>(&mut g.weight_ih, &dzs, cols(x), 0);
    outer_acc_in::<I, T, GH, H, S>(&mut g.weight_hh, &dzs, cols(&tape.h), 1);
}

/// One step of the backward through the cell: from the step's activated
/// gates `gt`, cell state `ct` and previous cell state `c_prev`, and
/// `dh = dL/dh_t` (from above and from step `t + 1`), writes
/// `dz = dL/dz_t` and replaces `dc` (`dL/dc_t` from step `t + 1`) by
/// `dL/dc_{t−1}`; see [`lstm_backward`] for the equations.
#[inline(always)]
pub(super) fn gate_grads<T: Float, const H: usize, const GH: usize>(
    gt: &[T; GH],
    ct: &[T; H],
    c_prev: &[T; H],
    dh: &[T; H],
    dc: &mut [T; H],
    dz: &mut [T; GH],
) {
    const { assert!(GH == 4 * H, "lstm: GH must be 4 * H") };
    let one = T::one();
    for k in 0..H {
        let (i, f, gg, o) = (gt[k], gt[H + k], gt[2 * H + k], gt[3 * H + k]);
        let tc = ct[k].tanh_act();
        let dhk = dh[k];
        let dck = dc[k] + dhk * o * (one - tc * tc);
        dz[k] = dck * gg * i * (one - i);
        dz[H + k] = dck * c_prev[k] * f * (one - f);
        dz[2 * H + k] = dck * i * (one - gg * gg);
        dz[3 * H + k] = dhk * tc * o * (one - o);
        dc[k] = dck * f;
    }
}

// The entry points for the build's own instruction set ([`Base`]). The
// three training kernels ([`lstm_train`], [`lstm_backward`],
// [`lstm_backward_params`]) also serve the sample-major training paths
// (`Trainer::step`, `train_step`), which are not copied per model: where
// the build dispatches at run time and the CPU has AVX2 and FMA they run
// `kernels::avx2`'s instantiation (and AVX-512 where that says so) in the
// clone compiled for them, asked once per call (`dispatch::fast`), as the
// batched `Dense` kernels do, and otherwise their portable body in a frame
// of its own (`dispatch::portable`, so that the two paths' stack does not
// add up). The states are then those of the model's dispatched forward
// (`kernels::avx2::lstm_seq`), bit for bit. (The two halves stay written
// out per entry point: one helper taking both closures would hold the
// `&mut` arguments twice.)

/// One `Lstm` step (streaming): advances `s` by the input `x_t`; the new
/// output is `s.h`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm_step<T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SVector<T, F>,
    s: &mut LstmState<T, H>,
) {
    lstm_step_in::<Base, T, F, H, GH>(p, x, s)
}

/// `Lstm` over a sequence `[S, F]`, returning the last hidden state `[H]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    lstm_in::<Base, T, F, H, GH, S>(p, x)
}

/// `Lstm` over a sequence `[S, F]`, returning every hidden state `[S, H]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm_seq<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    lstm_seq_in::<Base, T, F, H, GH, S>(p, x)
}

/// Training forward: runs the sequence like [`lstm_seq`] (bit-identical
/// states for the same instruction set), records what [`lstm_backward`]
/// needs in `tape`, and returns every hidden state `[S, H]`. For
/// `return_sequences = false` the layer's output is the last column.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm_train<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &mut LstmTape<T, H, GH, S>,
) -> SMatrix<T, H, S> {
    if let Some(y) = dispatch::fast(
        #[inline(always)]
        || crate::kernels::avx2::lstm_train(p, x, tape),
    ) {
        return y;
    }
    dispatch::portable(
        #[inline(always)]
        || lstm_train_in::<Base, T, F, H, GH, S>(p, x, tape),
    )
}

/// Backward through time for [`lstm_train`].
///
/// `dy` holds `dL/dh_t` from above for every step (column `t`; zero columns
/// where a step's output is unused, e.g. all but the last for
/// `return_sequences = false`). Parameter gradients are *added* to `g`
/// (both `bias_ih` and `bias_hh` receive `dL/dz`); the return value is
/// `dL/dx`, `[S, F]`.
///
/// Per step, going back: `dh = dy_t + W_hhᵀ dz_{t+1}`,
/// `dz_o = dh ⊙ tanh c_t ⊙ o(1−o)`, `dc = dc_{t+1} ⊙ f_{t+1} + dh ⊙ o ⊙ (1 − tanh² c_t)`,
/// `dz_i = dc ⊙ g ⊙ i(1−i)`, `dz_g = dc ⊙ i ⊙ (1 − g²)`,
/// `dz_f = dc ⊙ c_{t−1} ⊙ f(1−f)`; after the loop
/// `dW_ih += Σ dz_t x_tᵀ`, `dW_hh += Σ dz_t h_{t−1}ᵀ`, `db += Σ dz_t`.
///
/// Stack: `dz` for every step is kept (`GH·S` floats, 16 KiB for `f32`,
/// `H = S = 32`) so the weight gradients are one blocked pass at the end.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub fn lstm_backward<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &LstmTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) -> SMatrix<T, F, S> {
    if let Some(dx) = dispatch::fast(
        #[inline(always)]
        || crate::kernels::avx2::lstm_backward(p, x, tape, dy, g),
    ) {
        return dx;
    }
    dispatch::portable(
        #[inline(always)]
        || lstm_backward_in::<Base, T, F, H, GH, S>(p, x, tape, dy, g),
    )
}

/// [`lstm_backward`] without `dL/dx`, for a network's first layer: adds the
/// parameter gradients into `g` and skips the `W_ihᵀ` product of every
/// step.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub fn lstm_backward_params<
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &LstmTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) {
    if dispatch::fast(
        #[inline(always)]
        || crate::kernels::avx2::lstm_backward_params(p, x, tape, dy, g),
    )
    .is_some()
    {
        return;
    }
    dispatch::portable(
        #[inline(always)]
        || lstm_backward_params_in::<Base, T, F, H, GH, S>(p, x, tape, dy, g),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testutil::{self as check, Loss};

    /// One step by hand, `F = 1`, `H = 2`, from a non-zero state so that
    /// `W_hh` and the forget gate matter.
    #[test]
    fn one_step_by_hand() {
        // Rows are PyTorch's gate rows i0 i1 f0 f1 g0 g1 o0 o1.
        let p = RecurrentParams::<f64, 1, 2, 8> {
            weight_ih: SMatrix::from_row_slice(&[0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8]),
            weight_hh: SMatrix::from_row_slice(&[
                0.1, 0.0, //
                0.0, 0.1, //
                0.2, -0.1, //
                -0.1, 0.2, //
                0.3, 0.1, //
                0.1, 0.3, //
                -0.2, 0.2, //
                0.2, -0.2,
            ]),
            bias_ih: SVector::from_row_slice(&[0.0, 0.1, 0.0, 0.1, 0.0, 0.1, 0.0, 0.1]),
            bias_hh: SVector::from_element(0.05),
        };
        let mut s = LstmState {
            h: SVector::from([0.5, -1.0]),
            c: SVector::from([0.3, -0.2]),
        };
        // x = 2, h = (0.5, -1), c = (0.3, -0.2):
        // z_i = (0.2 + 0.05 + 0.05, -0.4 + 0.15 - 0.1) = (0.3, -0.35)
        // z_f = (0.6 + 0.05 + 0.2, 0.8 + 0.15 - 0.25) = (0.85, 0.7)
        // z_g = (1.0 + 0.05 + 0.05, -1.2 + 0.15 - 0.25) = (1.1, -1.3)
        // z_o = (1.4 + 0.05 - 0.3, 1.6 + 0.15 + 0.3) = (1.15, 2.05)
        // i = σ(z_i) = (0.5744425168, 0.4133824211)
        // f = σ(z_f) = (0.7005671425, 0.6681877722)
        // g = tanh(z_g) = (0.8004990218, -0.8617231593)
        // o = σ(z_o) = (0.7595109169, 0.8859476187)
        // c' = f c + i g = (0.2101701427 + 0.4598411728, -0.1336375544 - 0.3562212059)
        //    = (0.6700108155, -0.4898587603)
        // tanh c' = (0.5849869973, -0.4541043253)
        // h' = o tanh c' = (0.4443040107, -0.4023126457)
        lstm_step(&p, &SVector::from([2.0]), &mut s);
        check::close(
            s.c.as_slice(),
            &[0.670010815507639, -0.4898587603335751],
            1e-12,
        );
        check::close(
            s.h.as_slice(),
            &[0.44430401069286846, -0.40231264568796443],
            1e-12,
        );
        // The same in f32 (whatever sigmoid/tanh approximation f32 uses).
        let p32 = check::to_f32(&p);
        let mut s32 = LstmState::<f32, 2> {
            h: SVector::from([0.5, -1.0]),
            c: SVector::from([0.3, -0.2]),
        };
        lstm_step(&p32, &SVector::from([2.0f32]), &mut s32);
        check::close(
            s32.h.as_slice(),
            &[0.44430401069286846, -0.40231264568796443],
            1e-5,
        );
    }

    #[test]
    fn drivers_agree() {
        let p = check::random_params::<3, 4, 16>(1);
        let x = check::random_seq::<3, 5>(2);
        let all = lstm_seq(&p, &x);
        let last = lstm(&p, &x);
        assert_eq!(all.column(4), last.column(0));
        // Streaming gives every state, exactly.
        let mut s = LstmState::zeros();
        for t in 0..5 {
            lstm_step(&p, &x.column(t).into_owned(), &mut s);
            assert_eq!(s.h.column(0), all.column(t));
        }
        // So does the training forward, for the same instruction set
        // (where the build dispatches, it runs the AVX2 instantiation, as
        // the model's AVX2 copy of `lstm_seq` does).
        let same_isa = if dispatch::fast(|| ()).is_some() {
            crate::kernels::avx2::lstm_seq(&p, &x)
        } else {
            all
        };
        let mut tape = LstmTape::zeros();
        assert_eq!(lstm_train(&p, &x, &mut tape), same_isa);
        // States are distinct (the test would not notice a copy of one state).
        assert!((all.column(0) - all.column(4)).norm() > 1e-3);
    }

    fn grad_check<const S: usize>(loss: Loss, seed: u64) {
        let p = check::random_params::<3, 4, 16>(seed);
        let x = check::random_seq::<3, S>(seed + 1);
        let dy = check::upstream::<4, S>(loss, seed + 2);
        let mut tape = LstmTape::zeros();
        lstm_train(&p, &x, &mut tape);
        let mut g = RecurrentParams::zeros();
        let dx = lstm_backward(&p, &x, &tape, &dy, &mut g);
        check::finite_differences(&p, &x, &dy, &g, &dx, lstm_seq);
    }

    #[test]
    fn gradients_all_states() {
        grad_check::<1>(Loss::AllStates, 10);
        grad_check::<4>(Loss::AllStates, 20);
    }

    #[test]
    fn gradients_last_state() {
        grad_check::<1>(Loss::LastState, 30);
        grad_check::<4>(Loss::LastState, 40);
    }

    #[test]
    fn gradients_accumulate() {
        let p = check::random_params::<3, 4, 16>(50);
        let x = check::random_seq::<3, 3>(51);
        let dy = check::upstream::<4, 3>(Loss::AllStates, 52);
        let mut tape = LstmTape::zeros();
        lstm_train(&p, &x, &mut tape);
        let mut once = RecurrentParams::zeros();
        lstm_backward(&p, &x, &tape, &dy, &mut once);
        let mut twice = RecurrentParams::zeros();
        lstm_backward(&p, &x, &tape, &dy, &mut twice);
        lstm_backward(&p, &x, &tape, &dy, &mut twice);
        assert!((twice.weight_hh - once.weight_hh * 2.0).norm() < 1e-12);
        assert!((twice.bias_ih - once.bias_ih * 2.0).norm() < 1e-12);
    }

    #[test]
    fn tape_size() {
        assert_eq!(LstmTape::<f32, 32, 128, 32>::BYTES, 6 * 32 * 32 * 4);
    }

    /// The f32 path (approximate activations, FMA where built for it) gives
    /// the f64 gradients to f32 accuracy, on a layer of the benchmark's size.
    #[test]
    fn f32_gradients_match_f64() {
        let p = check::random_params::<8, 32, 128>(70);
        let x = check::random_seq::<8, 6>(71);
        let dy = check::upstream::<32, 6>(Loss::AllStates, 72);
        let mut tape = LstmTape::zeros();
        let y = lstm_train(&p, &x, &mut tape);
        let mut g = RecurrentParams::zeros();
        let dx = lstm_backward(&p, &x, &tape, &dy, &mut g);
        let (p32, x32, dy32) = (check::to_f32(&p), x.cast::<f32>(), dy.cast::<f32>());
        let mut tape32 = LstmTape::zeros();
        let y32 = lstm_train(&p32, &x32, &mut tape32);
        let mut g32 = RecurrentParams::zeros();
        let dx32 = lstm_backward(&p32, &x32, &tape32, &dy32, &mut g32);
        check::assert_close32("h", &y32, &y, 1e-5);
        check::assert_close32("dx", &dx32, &dx, 1e-4);
        check::assert_params_close32(&g32, &g, 1e-4);
    }

    dispatched_training_test!(
        LstmTape,
        128,
        lstm_train,
        lstm_backward,
        lstm_backward_params,
        lstm_train_in,
        lstm_backward_in,
        lstm_backward_params_in
    );
}
