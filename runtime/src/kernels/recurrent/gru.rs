//! `Gru` (PyTorch's `nn.GRU`, gate order r, z, n; `GH = 3·H`):
//! `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(W_iz x + b_iz + W_hz h + b_hz)`,
//! `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`,
//! `h_0 = 0`. The reset gate multiplies `W_hn h + b_hn` (after the matrix
//! product, PyTorch's and cuDNN's form, Keras' `reset_after = True`), so
//! the input and hidden products are kept apart for the `n` rows.

use super::{each_step, prev_col};
use crate::kernels::blas::{
    add_assign, affine_in, cols, cols_mut, matvec_t_in, outer_acc_in, sum_acc, transpose,
};
use crate::kernels::dispatch::{self, Base, Isa};
#[cfg(target_arch = "x86_64")]
use crate::kernels::simd::zmm;
use crate::{Float, RecurrentParams};
use nalgebra::{SMatrix, SVector};

/// The state of a `Gru` layer: its hidden state `h_t`, zero at the start.
pub type GruState<T, const H: usize> = SVector<T, H>;

/// What [`gru_backward`] needs from [`gru_train`], per step `t` (column
/// `t`): the gates `r, z, n` after their nonlinearities, `W_hn h_{t−1} +
/// b_hn` and the hidden state. `5·H·S` floats.
#[derive(Clone, Debug, PartialEq)]
pub struct GruTape<T: Float, const H: usize, const GH: usize, const S: usize> {
    /// `[r, z, n]`, `GH = 3·H` rows per step.
    pub gates: SMatrix<T, GH, S>,
    /// `W_hn h_{t−1} + b_hn`, the value the reset gate multiplies.
    pub hn: SMatrix<T, H, S>,
    /// Hidden states `h_t` (the layer's outputs).
    pub h: SMatrix<T, H, S>,
}

impl<T: Float, const H: usize, const GH: usize, const S: usize> GruTape<T, H, GH, S> {
    /// Bytes the tape occupies.
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// An all-zero tape (overwritten by [`gru_train`]).
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    pub fn zeros() -> Self {
        Self {
            gates: SMatrix::zeros(),
            hn: SMatrix::zeros(),
            h: SMatrix::zeros(),
        }
    }
}

impl<T: Float, const H: usize, const GH: usize, const S: usize> Default for GruTape<T, H, GH, S> {
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn default() -> Self {
        Self::zeros()
    }
}

/// The input half `b_ih + W_ih x` and the hidden half `b_hh + W_hh h` of
/// the gate pre-activations.
#[inline(always)]
fn preact<I: Isa, T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &[T; F],
    h: &[T; H],
) -> ([T; GH], [T; GH]) {
    let (b_ih, b_hh) = (&cols(&p.bias_ih)[0], &cols(&p.bias_hh)[0]);
    let (w_ih, w_hh) = (cols(&p.weight_ih), cols(&p.weight_hh));
    #[cfg(target_arch = "x86_64")]
    {
        // Both calls take the 512-bit path or neither (the condition
        // depends on `I`, `T` and `GH` only).
        let (mut gi, mut gh) = ([T::zero(); GH], [T::zero(); GH]);
        if zmm::affine2::<I, T, 1, GH, F, 0>(&mut gi, [b_ih], w_ih, x, &[], &[])
            && zmm::affine2::<I, T, 1, GH, H, 0>(&mut gh, [b_hh], w_hh, h, &[], &[])
        {
            return (gi, gh);
        }
    }
    let gi = affine_in::<I, T, GH, F>(b_ih, w_ih, x);
    let gh = affine_in::<I, T, GH, H>(b_hh, w_hh, h);
    (gi, gh)
}

/// [`cell`]'s gate loop, or with `keep` [`train_gates`]', in 512-bit
/// registers (`kernels::simd::zmm`): the same bits, the same unfused
/// `gi_n + r · gh_n` and `n + z · (h − n)`; `H` not a multiple of 16 ends
/// in the scalar functions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn gates_zmm<const H: usize, const GH: usize>(
    gi: &[f32; GH],
    gh: &[f32; GH],
    h: &mut [f32; H],
    mut keep: Option<(&mut [f32; GH], &mut [f32; H])>,
) {
    use crate::float::{sigmoid_f32, tanh_f32};
    use core::arch::x86_64::*;
    let (hs, hr) = h.as_chunks_mut::<16>();
    for (j, hv) in hs.iter_mut().enumerate() {
        let at = |v: &[f32; GH], g: usize| {
            zmm::load(v[g * H + 16 * j..].first_chunk().unwrap_or(&[0.0; 16]))
        };
        let r = zmm::sigmoid(_mm512_add_ps(at(gi, 0), at(gh, 0)));
        let z = zmm::sigmoid(_mm512_add_ps(at(gi, 1), at(gh, 1)));
        let hn = at(gh, 2);
        let n = zmm::tanh(_mm512_add_ps(at(gi, 2), _mm512_mul_ps(r, hn)));
        zmm::store(
            hv,
            _mm512_add_ps(n, _mm512_mul_ps(z, _mm512_sub_ps(zmm::load(hv), n))),
        );
        if let Some((gt, hnt)) = keep.as_mut() {
            let put = |v: &mut [f32], x| {
                if let Some(c) = v[16 * j..].first_chunk_mut() {
                    zmm::store(c, x);
                }
            };
            put(&mut gt[..H], r);
            put(&mut gt[H..2 * H], z);
            put(&mut gt[2 * H..], n);
            put(&mut hnt[..], hn);
        }
    }
    let k0 = H - hr.len();
    for (j, hk) in hr.iter_mut().enumerate() {
        let k = k0 + j;
        let r = sigmoid_f32(gi[k] + gh[k]);
        let z = sigmoid_f32(gi[H + k] + gh[H + k]);
        let n = tanh_f32(gi[2 * H + k] + r * gh[2 * H + k]);
        *hk = n + z * (*hk - n);
        if let Some((gt, hnt)) = keep.as_mut() {
            gt[k] = r;
            gt[H + k] = z;
            gt[2 * H + k] = n;
            hnt[k] = gh[2 * H + k];
        }
    }
}

/// One cell update in place; gates fused in one branch-free loop over `H`.
#[inline(always)]
fn cell<I: Isa, T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &[T; F],
    h: &mut [T; H],
) {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    let (gi, gh) = preact::<I, T, F, H, GH>(p, x, h);
    #[cfg(target_arch = "x86_64")]
    if zmm::available::<I>() {
        if let (Some(gi), Some(gh), Some(h)) = (
            zmm::cast::<_, [f32; GH]>(&gi),
            zmm::cast::<_, [f32; GH]>(&gh),
            zmm::cast_mut::<_, [f32; H]>(h),
        ) {
            // SAFETY: `gates_zmm` needs AVX-512F, and `available` returned
            // `true`: the build targets it, or the run-time check found it
            // on this CPU.
            unsafe { gates_zmm::<H, GH>(gi, gh, h, None) };
            return;
        }
    }
    for k in 0..H {
        let r = (gi[k] + gh[k]).sigmoid();
        let z = (gi[H + k] + gh[H + k]).sigmoid();
        let n = (gi[2 * H + k] + r * gh[2 * H + k]).tanh_act();
        h[k] = n + z * (h[k] - n);
    }
}

/// [`gru_step`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn gru_step_in<I: Isa, T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SVector<T, F>,
    h: &mut GruState<T, H>,
) {
    cell::<I, T, F, H, GH>(p, &cols(x)[0], &mut cols_mut(h)[0]);
}

/// [`gru`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn gru_in<
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
    let mut h = SVector::zeros();
    each_step(x, |xt| {
        cell::<I, T, F, H, GH>(p, xt, &mut cols_mut(&mut h)[0])
    });
    h
}

/// [`gru_seq`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn gru_seq_in<
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
    let mut y = SMatrix::<T, H, S>::zeros();
    for (xt, yt) in cols(x).iter().zip(cols_mut(&mut y)) {
        cell::<I, T, F, H, GH>(p, xt, &mut h);
        *yt = h;
    }
    y
}

/// [`gru_train`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn gru_train_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &mut GruTape<T, H, GH, S>,
) -> SMatrix<T, H, S> {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    let mut h = [T::zero(); H];
    let GruTape {
        gates,
        hn: thn,
        h: th,
    } = tape;
    for (((xt, gt), hnt), ht) in cols(x)
        .iter()
        .zip(cols_mut(gates))
        .zip(cols_mut(thn))
        .zip(cols_mut(th))
    {
        // The same arithmetic as `cell`, keeping the gates.
        let (gi, gh) = preact::<I, T, F, H, GH>(p, xt, &h);
        train_gates::<I, T, H, GH>(&gi, &gh, &mut h, gt, hnt);
        *ht = h;
    }
    tape.h
}

/// [`gru_backward`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn gru_backward_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &GruTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) -> SMatrix<T, F, S> {
    let mut dx = SMatrix::<T, F, S>::zeros();
    gru_backward_into::<I, T, F, H, GH, S, true>(p, x, tape, dy, g, &mut dx);
    dx
}

/// [`gru_backward_params`] for instruction set `I` (`kernels::avx2` calls it with
/// [`Avx2`](crate::kernels::dispatch::Avx2)).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub(crate) fn gru_backward_params_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &GruTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) {
    let mut unused = SMatrix::<T, F, S>::zeros();
    gru_backward_into::<I, T, F, H, GH, S, false>(p, x, tape, dy, g, &mut unused);
}

/// The body of [`gru_backward`]: writes `dL/dx` into `dx` only with `DX`.
#[inline(always)]
fn gru_backward_into<
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
    tape: &GruTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
    dx: &mut SMatrix<T, F, S>,
) {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    let zero = [T::zero(); H];
    let wt_ih = if DX {
        transpose(cols(&p.weight_ih))
    } else {
        [[T::zero(); F]; _]
    };
    let wt_hh = transpose(cols(&p.weight_hh));
    let mut dh_next = [T::zero(); H];
    // The input-side and hidden-side gradients of every step, for the
    // weight gradients after the loop.
    let mut dis = [[T::zero(); GH]; S];
    let mut dhids = [[T::zero(); GH]; S];
    for t in (0..S).rev() {
        let gt = &cols(&tape.gates)[t];
        let hnt = &cols(&tape.hn)[t];
        let h_prev = prev_col(&tape.h, t, &zero);
        let dyt = &cols(dy)[t];
        let mut dh = dh_next;
        for (d, &y) in dh.iter_mut().zip(dyt) {
            *d = y + *d;
        }
        let mut di = [T::zero(); GH];
        let mut dhid = [T::zero(); GH];
        let mut dh_direct = [T::zero(); H];
        gate_grads::<T, H, GH>(gt, hnt, h_prev, &dh, &mut di, &mut dhid, &mut dh_direct);
        if DX {
            cols_mut(dx)[t] = matvec_t_in::<I, T, GH, F>(&wt_ih, &di);
        }
        dh_next = matvec_t_in::<I, T, GH, H>(&wt_hh, &dhid);
        add_assign(&mut dh_next, &dh_direct);
        dis[t] = di;
        dhids[t] = dhid;
    }
    sum_acc(&mut g.bias_ih, &dis);
    sum_acc(&mut g.bias_hh, &dhids);
    outer_acc_in::<I, T, GH, F, S>(&mut g.weight_ih, &dis, cols(x), 0);
    outer_acc_in::<I, T, GH, H, S>(&mut g.weight_hh, &dhids, cols(&tape.h), 1);
}

/// The gates of one training step from the input half `gi` and hidden
/// half `gh` of the pre-activations: advances `h`, writes `[r, z, n]` into
/// `gt` and `W_hn h + b_hn` into `hnt` (the tape's record of the step).
#[inline(always)]
pub(super) fn train_gates<I: Isa, T: Float, const H: usize, const GH: usize>(
    gi: &[T; GH],
    gh: &[T; GH],
    h: &mut [T; H],
    gt: &mut [T; GH],
    hnt: &mut [T; H],
) {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    #[cfg(target_arch = "x86_64")]
    if zmm::available::<I>() {
        if let (Some(gi), Some(gh), Some(h), Some(gt), Some(hnt)) = (
            zmm::cast::<_, [f32; GH]>(gi),
            zmm::cast::<_, [f32; GH]>(gh),
            zmm::cast_mut::<_, [f32; H]>(h),
            zmm::cast_mut::<_, [f32; GH]>(gt),
            zmm::cast_mut::<_, [f32; H]>(hnt),
        ) {
            // SAFETY: as in `cell`.
            unsafe { gates_zmm::<H, GH>(gi, gh, h, Some((gt, hnt))) };
            return;
        }
    }
    for k in 0..H {
        let r = (gi[k] + gh[k]).sigmoid();
        let z = (gi[H + k] + gh[H + k]).sigmoid();
        let n = (gi[2 * H + k] + r * gh[2 * H + k]).tanh_act();
        h[k] = n + z * (h[k] - n);
        gt[k] = r;
        gt[H + k] = z;
        gt[2 * H + k] = n;
        hnt[k] = gh[2 * H + k];
    }
}

/// One step of the backward through the cell: from the step's gates `gt`,
/// `hnt = W_hn h_{t−1} + b_hn`, `h_{t−1}` and `dh = dL/dh_t`, writes the
/// input-side gradient `di` (of `W_ih x + b_ih`), the hidden-side `dhid`
/// (of `W_hh h + b_hh`: `di` but for the `n` rows, times `r`) and the part
/// of `dL/dh_{t−1}` that bypasses `W_hh` (`dh ⊙ z`).
#[inline(always)]
pub(super) fn gate_grads<T: Float, const H: usize, const GH: usize>(
    gt: &[T; GH],
    hnt: &[T; H],
    h_prev: &[T; H],
    dh: &[T; H],
    di: &mut [T; GH],
    dhid: &mut [T; GH],
    dh_direct: &mut [T; H],
) {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    let one = T::one();
    for k in 0..H {
        let (r, z, n) = (gt[k], gt[H + k], gt[2 * H + k]);
        let dhk = dh[k];
        let dan = dhk * (one - z) * (one - n * n);
        let dar = dan * hnt[k] * r * (one - r);
        let daz = dhk * (h_prev[k] - n) * z * (one - z);
        di[k] = dar;
        di[H + k] = daz;
        di[2 * H + k] = dan;
        dhid[k] = dar;
        dhid[H + k] = daz;
        dhid[2 * H + k] = dan * r;
        dh_direct[k] = dhk * z;
    }
}

// The entry points for the build's own instruction set ([`Base`]). The
// three training kernels ([`gru_train`], [`gru_backward`],
// [`gru_backward_params`]) also serve the sample-major training paths
// (`Trainer::step`, `train_step`), which are not copied per model: where
// the build dispatches at run time and the CPU has AVX2 and FMA they run
// `kernels::avx2`'s instantiation (and AVX-512 where that says so) in the
// clone compiled for them, asked once per call (`dispatch::fast`), as the
// batched `Dense` kernels do, and otherwise their portable body in a frame
// of its own (`dispatch::portable`, so that the two paths' stack does not
// add up). The states are then those of the model's dispatched forward
// (`kernels::avx2::gru_seq`), bit for bit. (The two halves stay written
// out per entry point: one helper taking both closures would hold the
// `&mut` arguments twice.)

/// One `Gru` step (streaming): advances `h` by the input `x_t`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn gru_step<T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SVector<T, F>,
    h: &mut GruState<T, H>,
) {
    gru_step_in::<Base, T, F, H, GH>(p, x, h)
}

/// `Gru` over a sequence `[S, F]`, returning the last hidden state `[H]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn gru<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    gru_in::<Base, T, F, H, GH, S>(p, x)
}

/// `Gru` over a sequence `[S, F]`, returning every hidden state `[S, H]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn gru_seq<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    gru_seq_in::<Base, T, F, H, GH, S>(p, x)
}

/// Training forward: runs the sequence like [`gru_seq`] (bit-identical
/// states for the same instruction set), records what [`gru_backward`]
/// needs in `tape`, and returns every hidden state `[S, H]` (the last
/// column is the output when `return_sequences` is false).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn gru_train<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &mut GruTape<T, H, GH, S>,
) -> SMatrix<T, H, S> {
    if let Some(y) = dispatch::fast(
        #[inline(always)]
        || crate::kernels::avx2::gru_train(p, x, tape),
    ) {
        return y;
    }
    dispatch::portable(
        #[inline(always)]
        || gru_train_in::<Base, T, F, H, GH, S>(p, x, tape),
    )
}

/// Backward through time for [`gru_train`].
///
/// `dy` holds `dL/dh_t` from above (zero columns where a step's output is
/// unused). Gradients are added to `g`; returns `dL/dx`, `[S, F]`.
///
/// Per step, going back, with `dh = dy_t + dh_{t+1→t}` and `hn = W_hn h_{t−1} + b_hn`:
/// `dn = dh ⊙ (1 − z)`, `dz = dh ⊙ (h_{t−1} − n)`, `da_n = dn ⊙ (1 − n²)`,
/// `da_r = da_n ⊙ hn ⊙ r(1−r)`, `da_z = dz ⊙ z(1−z)`, `dhn = da_n ⊙ r`.
/// The input side sees `[da_r, da_z, da_n]` (into `b_ih`, `W_ih`, `dx`),
/// the hidden side `[da_r, da_z, dhn]` (into `b_hh`, `W_hh`), and
/// `dh_{t→t−1} = dh ⊙ z + W_hhᵀ [da_r, da_z, dhn]`. Both sides are kept for
/// every step (`2·GH·S` floats on the stack) and the weight gradients
/// summed over the steps after the loop.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub fn gru_backward<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &GruTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) -> SMatrix<T, F, S> {
    if let Some(dx) = dispatch::fast(
        #[inline(always)]
        || crate::kernels::avx2::gru_backward(p, x, tape, dy, g),
    ) {
        return dx;
    }
    dispatch::portable(
        #[inline(always)]
        || gru_backward_in::<Base, T, F, H, GH, S>(p, x, tape, dy, g),
    )
}

/// [`gru_backward`] without `dL/dx`, for a network's first layer: adds the
/// parameter gradients into `g` and skips the `W_ihᵀ` product of every
/// step.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
pub fn gru_backward_params<
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &GruTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) {
    if dispatch::fast(
        #[inline(always)]
        || crate::kernels::avx2::gru_backward_params(p, x, tape, dy, g),
    )
    .is_some()
    {
        return;
    }
    dispatch::portable(
        #[inline(always)]
        || gru_backward_params_in::<Base, T, F, H, GH, S>(p, x, tape, dy, g),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testutil::{self as check, Loss};

    /// One step by hand, `F = 1`, `H = 2`, from a non-zero state.
    #[test]
    fn one_step_by_hand() {
        // Rows are PyTorch's gate rows r0 r1 z0 z1 n0 n1.
        let p = RecurrentParams::<f64, 1, 2, 6> {
            weight_ih: SMatrix::from_row_slice(&[0.2, -0.4, 0.6, 0.1, -0.3, 0.5]),
            weight_hh: SMatrix::from_row_slice(&[
                0.1, 0.2, //
                -0.2, 0.1, //
                0.3, 0.0, //
                0.0, 0.3, //
                0.4, -0.1, //
                0.2, 0.5,
            ]),
            bias_ih: SVector::from_row_slice(&[0.1, 0.0, -0.1, 0.05, 0.2, -0.2]),
            bias_hh: SVector::from_row_slice(&[0.0, 0.1, 0.05, -0.05, 0.3, 0.1]),
        };
        let mut h = SVector::from([0.4, -0.6]);
        // x = 1.5, h = (0.4, −0.6):
        // input side  W_ih x + b_ih = (0.4, −0.6 | 0.8, 0.2 | −0.25, 0.55)
        // hidden side W_hh h + b_hh = (−0.08, −0.04 | 0.17, −0.23 | 0.52, −0.12)
        // r = σ(0.32, −0.64) = (0.5793242521, 0.3452465394)
        // z = σ(0.97, −0.03) = (0.7251194978, 0.4925005624)
        // a_n = −0.25 + r0·0.52, 0.55 + r1·(−0.12) = (0.0512486111, 0.5085704153)
        // n = tanh(a_n) = (0.0512037914, 0.4688305878)
        // h' = (1 − z) n + z h = (0.0140753985 + 0.2900477991,
        //                         0.2379317007 − 0.2955003375)
        //    = (0.3041227230, −0.0575690779)
        gru_step(&p, &SVector::from([1.5]), &mut h);
        check::close(
            h.as_slice(),
            &[0.3041227230132518, -0.05756907787076235],
            1e-12,
        );
        let mut h32 = SVector::from([0.4f32, -0.6]);
        gru_step(&check::to_f32(&p), &SVector::from([1.5f32]), &mut h32);
        check::close(
            h32.as_slice(),
            &[0.3041227230132518, -0.05756907787076235],
            1e-5,
        );
    }

    #[test]
    fn drivers_agree() {
        let p = check::random_params::<3, 4, 12>(5);
        let x = check::random_seq::<3, 5>(6);
        let all = gru_seq(&p, &x);
        let last = gru(&p, &x);
        assert_eq!(all.column(4), last.column(0));
        let mut h = GruState::zeros();
        for t in 0..5 {
            gru_step(&p, &x.column(t).into_owned(), &mut h);
            assert_eq!(h.column(0), all.column(t));
        }
        // So does the training forward, for the same instruction set
        // (where the build dispatches, it runs the AVX2 instantiation, as
        // the model's AVX2 copy of `gru_seq` does).
        let same_isa = if dispatch::fast(|| ()).is_some() {
            crate::kernels::avx2::gru_seq(&p, &x)
        } else {
            all
        };
        let mut tape = GruTape::zeros();
        assert_eq!(gru_train(&p, &x, &mut tape), same_isa);
        assert!((all.column(0) - all.column(4)).norm() > 1e-3);
    }

    fn grad_check<const S: usize>(loss: Loss, seed: u64) {
        let p = check::random_params::<3, 4, 12>(seed);
        let x = check::random_seq::<3, S>(seed + 1);
        let dy = check::upstream::<4, S>(loss, seed + 2);
        let mut tape = GruTape::zeros();
        gru_train(&p, &x, &mut tape);
        let mut g = RecurrentParams::zeros();
        let dx = gru_backward(&p, &x, &tape, &dy, &mut g);
        check::finite_differences(&p, &x, &dy, &g, &dx, gru_seq);
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

    /// `b_ih` and `b_hh` differ only in the `n` rows, where the hidden bias
    /// is scaled by the reset gate.
    #[test]
    fn bias_gradients_split_at_n() {
        let p = check::random_params::<3, 4, 12>(60);
        let x = check::random_seq::<3, 3>(61);
        let dy = check::upstream::<4, 3>(Loss::AllStates, 62);
        let mut tape = GruTape::zeros();
        gru_train(&p, &x, &mut tape);
        let mut g = RecurrentParams::zeros();
        gru_backward(&p, &x, &tape, &dy, &mut g);
        let d = g.bias_ih - g.bias_hh;
        assert!(d.rows(0, 8).norm() < 1e-15);
        assert!(d.rows(8, 4).norm() > 1e-6);
    }

    /// The f32 path gives the f64 gradients to f32 accuracy.
    #[test]
    fn f32_gradients_match_f64() {
        let p = check::random_params::<8, 32, 96>(70);
        let x = check::random_seq::<8, 6>(71);
        let dy = check::upstream::<32, 6>(Loss::AllStates, 72);
        let mut tape = GruTape::zeros();
        let y = gru_train(&p, &x, &mut tape);
        let mut g = RecurrentParams::zeros();
        let dx = gru_backward(&p, &x, &tape, &dy, &mut g);
        let (p32, x32, dy32) = (check::to_f32(&p), x.cast::<f32>(), dy.cast::<f32>());
        let mut tape32 = GruTape::zeros();
        let y32 = gru_train(&p32, &x32, &mut tape32);
        let mut g32 = RecurrentParams::zeros();
        let dx32 = gru_backward(&p32, &x32, &tape32, &dy32, &mut g32);
        check::assert_close32("h", &y32, &y, 1e-5);
        check::assert_close32("dx", &dx32, &dx, 1e-4);
        check::assert_params_close32(&g32, &g, 1e-4);
    }

    dispatched_training_test!(
        GruTape,
        96,
        gru_train,
        gru_backward,
        gru_backward_params,
        gru_train_in,
        gru_backward_in,
        gru_backward_params_in
    );
}
