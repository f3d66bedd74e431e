//! `Lstm` and `Gru` over a batch of samples at once: the forward and
//! backward through time of the layer-major training step
//! (`Train::forward_train_layers`, `backward_layers`).
//!
//! One sample at a time, every step of every sample is a matrix–vector
//! product (`W_ih x_t + W_hh h_{t−1}`, `GH × (F + H)` weights), so every
//! weight is loaded once per multiply-add; and the weight gradients are a
//! product over the `S` steps of one sample. Here
//!
//! - [`lstm_train_batch`]: per step, the gates of `NB` samples are one
//!   matrix–matrix product ([`mm2_acc`]): a block of gate rows of all `NB`
//!   samples is held in registers while the columns of `W_ih` and `W_hh`
//!   stream past, so each weight loaded serves `NB` multiply-adds; the
//!   states of the `NB` samples are contiguous local arrays, and the gates
//!   are written into each sample's [`LstmTape`] in the layout the
//!   one-sample [`lstm_backward`](super::lstm_backward) reads;
//! - [`lstm_backward_batch`]: per step (going back), `dL/dz` of the `NB`
//!   samples from the tape, then `dL/dh_{t−1} = W_hhᵀ dz` for all of them
//!   as one matrix–matrix product; every step's `dz` is stored in the
//!   caller's buffer (the gates' place in the sample's scratch tape);
//! - [`lstm_backward_batch_params`]: the weight gradients of the whole
//!   batch as one product with the long inner dimension batch × steps:
//!   `dW_ih += Σ_{b,t} dz_{b,t} x_{b,t}ᵀ`, `dW_hh += Σ_{b,t} dz_{b,t}
//!   h_{b,t−1}ᵀ` (a block of `dW` in registers while every sample's every
//!   step streams past), `db += Σ_{b,t} dz_{b,t}`;
//! - [`lstm_backward_batch_dx`]: one sample's `dL/dx_t = W_ihᵀ dz_t`, every
//!   step at once (`dx` does not feed back into the recurrence).
//!
//! `Gru` is done the same way (`gru_*_batch*`, below).
//!
//! The results equal the one-sample kernels' up to the order of the
//! additions (tests below, and `layer_major` in tests/gradient_fixtures.rs
//! against the per-sample step and PyTorch).
//!
//! Measured on W2 (benches/train.rs, AVX2 copy, Sapphire Rapids): the
//! layer-major step executes 19% fewer instructions than with the
//! one-sample kernels (tools/insn_ab.sh, `lstm_train_step_layers`), but the
//! one-sample products were already close to the two FMAs per cycle of
//! AVX2 here (a weight column of 32 rows is 4 loads for 4 FMAs, and this
//! core loads 3 vectors per cycle): the products are now at about 90% of
//! that peak, and what remains is the `f32` sigmoid and tanh of every gate
//! (about a quarter of the step) and the element-wise gate arithmetic.

use super::gru::{gate_grads as gru_gate_grads, train_gates};
use super::lstm::{activate, gate_grads, update};
use super::{prev_col, GruTape, LstmTape};
use crate::kernels::blas::{cols, cols_mut, transpose};
use crate::kernels::dispatch::{Base, Isa};
use crate::{Float, RecurrentParams};
use nalgebra::SMatrix;

/// Samples per call of [`lstm_train_batch`] and [`lstm_backward_batch`]
/// in the generated layer-major step (the rest of a batch goes one by one,
/// `NB = 1`): with two vector registers of gate rows per sample, 12
/// registers of partial sums (of AVX2's 16; SSE2's 16 hold them too),
/// 12 FMAs per 2 weight loads and 6 broadcasts. (4 samples, 8 partial sums,
/// executed 3% more instructions per W2 step at the same speed.)
pub const LSTM_BATCH: usize = 6;

/// Rows of a register block: two vectors of `T` for instruction set `I`.
macro_rules! rows_for {
    ($i:ty, $t:ty, $f:ident :: < $($rest:tt)*) => {{
        let wide = core::mem::size_of::<$t>() <= 4;
        match (<$i>::AVX512, <$i>::AVX, wide) {
            (true, _, true) => $f::<$i, $t, 32, $($rest)*,
            (true, _, false) | (false, true, true) => $f::<$i, $t, 16, $($rest)*,
            (false, true, false) | (false, false, true) => $f::<$i, $t, 8, $($rest)*,
            (false, false, false) => $f::<$i, $t, 4, $($rest)*,
        }
    }};
}

/// `y_b += W1 v1_b + W2 v2_b` for each of `NB` samples `b`, for
/// column-major `W1` (`R × C1`) and `W2` (`R × C2`): rows in register
/// blocks (two vectors, then 8, then one by one), all `NB` samples' sums of
/// a block in registers while the columns stream past.
#[inline(always)]
pub(crate) fn mm2_acc<
    I: Isa,
    T: Float,
    const R: usize,
    const C1: usize,
    const C2: usize,
    const NB: usize,
>(
    ys: &mut [&mut [T; R]; NB],
    w1: &[[T; R]; C1],
    v1: &[&[T; C1]; NB],
    w2: &[[T; R]; C2],
    v2: &[&[T; C2]; NB],
) {
    let r0 = rows_for!(I, T, mm2_rows::<R, C1, C2, NB>(0, ys, w1, v1, w2, v2));
    let r0 = mm2_rows::<I, T, 8, R, C1, C2, NB>(r0, ys, w1, v1, w2, v2);
    mm2_rows::<I, T, 1, R, C1, C2, NB>(r0, ys, w1, v1, w2, v2);
}

/// The rows `r0..` of [`mm2_acc`] in blocks of `B`; returns the first row
/// not done.
#[inline(always)]
fn mm2_rows<
    I: Isa,
    T: Float,
    const B: usize,
    const R: usize,
    const C1: usize,
    const C2: usize,
    const NB: usize,
>(
    mut r0: usize,
    ys: &mut [&mut [T; R]; NB],
    w1: &[[T; R]; C1],
    v1: &[&[T; C1]; NB],
    w2: &[[T; R]; C2],
    v2: &[&[T; C2]; NB],
) -> usize {
    while r0 + B <= R {
        let mut acc = [[T::zero(); B]; NB];
        for (a, y) in acc.iter_mut().zip(ys.iter()) {
            a.copy_from_slice(&y[r0..r0 + B]);
        }
        columns::<I, T, B, R, C1, NB>(&mut acc, r0, w1, v1);
        columns::<I, T, B, R, C2, NB>(&mut acc, r0, w2, v2);
        for (a, y) in acc.iter().zip(ys.iter_mut()) {
            y[r0..r0 + B].copy_from_slice(a);
        }
        r0 += B;
    }
    r0
}

/// `acc_b += W[r0..r0 + B, :] v_b` for every sample `b`.
#[inline(always)]
fn columns<I: Isa, T: Float, const B: usize, const R: usize, const C: usize, const NB: usize>(
    acc: &mut [[T; B]; NB],
    r0: usize,
    w: &[[T; R]; C],
    v: &[&[T; C]; NB],
) {
    for (j, col) in w.iter().enumerate() {
        let wb = &col[r0..r0 + B];
        for (a, x) in acc.iter_mut().zip(v) {
            let xv = x[j];
            for (av, &wv) in a.iter_mut().zip(wb) {
                *av = I::madd(wv, xv, *av);
            }
        }
    }
}

/// `W += Σ_items Σ_t d_t u_{t−shift}ᵀ` (`u_t` zero before the first step)
/// over every item (sample) of a batch: one product with inner dimension
/// items × steps, a block of two vectors of rows by [`OUTER_COLS`] columns
/// of `W` in registers while every item's steps stream past.
#[inline(always)]
pub(crate) fn outer_acc_batch<
    'a,
    I: Isa,
    T: Float + 'a,
    const R: usize,
    const C: usize,
    const S: usize,
>(
    w: &mut SMatrix<T, R, C>,
    items: impl Iterator<Item = (&'a [[T; R]; S], &'a [[T; C]; S])> + Clone,
    shift: usize,
) {
    outer_acc_rows::<I, T, R, R, C, S>(cols_mut(w), Rows { w0: 0, d0: 0, n: R }, items, shift);
}

/// Which rows [`outer_acc_rows`] updates: `W[w0 + r]` from `d[d0 + r]` for
/// `r < n`.
#[derive(Clone, Copy)]
pub(crate) struct Rows {
    pub w0: usize,
    pub d0: usize,
    pub n: usize,
}

/// [`outer_acc_batch`] on some rows of `W` (`RW` rows) from some rows of
/// `d` (`RD` rows): `W[w0 + r] += Σ d_t[d0 + r] u_{t−shift}ᵀ` (a GRU's
/// `dW_hh` takes its `n` rows from another record than its `r`, `z` rows).
#[inline(always)]
pub(crate) fn outer_acc_rows<
    'a,
    I: Isa,
    T: Float + 'a,
    const RW: usize,
    const RD: usize,
    const C: usize,
    const S: usize,
>(
    w: &mut [[T; RW]; C],
    rows: Rows,
    items: impl Iterator<Item = (&'a [[T; RD]; S], &'a [[T; C]; S])> + Clone,
    shift: usize,
) {
    if rows.w0 + rows.n > RW || rows.d0 + rows.n > RD {
        return;
    }
    let j0 = outer_cols::<I, T, OUTER_COLS, RW, RD, C, S>(0, w, rows, items.clone(), shift);
    let j0 = outer_cols::<I, T, 2, RW, RD, C, S>(j0, w, rows, items.clone(), shift);
    outer_cols::<I, T, 1, RW, RD, C, S>(j0, w, rows, items, shift);
}

/// Columns of `dW` per register block of [`outer_acc_batch`] (12 partial
/// sums with two vectors of rows, as [`LSTM_BATCH`]).
const OUTER_COLS: usize = 6;

/// The columns `j0..` of [`outer_acc_rows`] in blocks of `JB`; returns
/// the first column not done.
#[inline(always)]
fn outer_cols<
    'a,
    I: Isa,
    T: Float + 'a,
    const JB: usize,
    const RW: usize,
    const RD: usize,
    const C: usize,
    const S: usize,
>(
    mut j0: usize,
    w: &mut [[T; RW]; C],
    rows: Rows,
    items: impl Iterator<Item = (&'a [[T; RD]; S], &'a [[T; C]; S])> + Clone,
    shift: usize,
) -> usize {
    while j0 + JB <= C {
        let r0 = rows_for!(
            I,
            T,
            outer_tiles::<JB, RW, RD, C, S>(0, j0, w, rows, items.clone(), shift)
        );
        let r0 = outer_tiles::<I, T, 8, JB, RW, RD, C, S>(r0, j0, w, rows, items.clone(), shift);
        outer_tiles::<I, T, 1, JB, RW, RD, C, S>(r0, j0, w, rows, items.clone(), shift);
        j0 += JB;
    }
    j0
}

/// The `B × JB` tiles of `W` at rows `r0..rows.n` (blocks of `B`, offset
/// as `rows` says) and columns `j0..j0 + JB`; returns the first row not
/// done.
#[inline(always)]
fn outer_tiles<
    'a,
    I: Isa,
    T: Float + 'a,
    const B: usize,
    const JB: usize,
    const RW: usize,
    const RD: usize,
    const C: usize,
    const S: usize,
>(
    mut r0: usize,
    j0: usize,
    w: &mut [[T; RW]; C],
    rows: Rows,
    items: impl Iterator<Item = (&'a [[T; RD]; S], &'a [[T; C]; S])> + Clone,
    shift: usize,
) -> usize {
    let (wr, dr) = (rows.w0, rows.d0);
    while r0 + B <= rows.n {
        let mut acc = [[T::zero(); B]; JB];
        for (a, col) in acc.iter_mut().zip(&w[j0..j0 + JB]) {
            a.copy_from_slice(&col[wr + r0..wr + r0 + B]);
        }
        for (d, u) in items.clone() {
            for (dt, ut) in d.iter().skip(shift).zip(u) {
                let db = &dt[dr + r0..dr + r0 + B];
                for (a, &uv) in acc.iter_mut().zip(&ut[j0..j0 + JB]) {
                    for (av, &dv) in a.iter_mut().zip(db) {
                        *av = I::madd(dv, uv, *av);
                    }
                }
            }
        }
        for (a, col) in acc.iter().zip(&mut w[j0..j0 + JB]) {
            col[wr + r0..wr + r0 + B].copy_from_slice(a);
        }
        r0 += B;
    }
    r0
}

/// The gradients arriving at a recurrent layer's outputs, as its backward
/// reads them: the columns are `dL/dh` of the last steps of the sequence
/// (all `S` with `return_sequences`; one, the last state's, without).
pub trait StepGrads<T: Float, const H: usize> {
    /// `dL/dh_t` of the last `len` steps, in order.
    fn steps(&self) -> &[[T; H]];
}

impl<T: Float, const H: usize, const C: usize> StepGrads<T, H> for SMatrix<T, H, C> {
    #[inline(always)]
    fn steps(&self) -> &[[T; H]] {
        cols(self)
    }
}

/// [`lstm_train_batch`] for instruction set `I` (`kernels::avx2` calls it
/// with [`Avx2`](crate::kernels::dispatch::Avx2)).
#[inline(always)]
pub(crate) fn lstm_train_batch_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const NB: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    items: [(&SMatrix<T, F, S>, &mut LstmTape<T, H, GH, S>); NB],
) {
    const { assert!(GH == 4 * H, "lstm: GH must be 4 * H") };
    let mut items = items;
    let mut bias = cols(&p.bias_ih)[0];
    for (b, &v) in bias.iter_mut().zip(&cols(&p.bias_hh)[0]) {
        *b += v;
    }
    let (w_ih, w_hh) = (cols(&p.weight_ih), cols(&p.weight_hh));
    let mut h = [[T::zero(); H]; NB];
    let mut c = [[T::zero(); H]; NB];
    // The trip count hidden from the optimiser, as in `each_step`.
    for t in 0..core::hint::black_box(S) {
        let mut z = [bias; NB];
        {
            let xt: [&[T; F]; NB] = core::array::from_fn(|b| &cols(items[b].0)[t % S]);
            let hp: [&[T; H]; NB] = h.each_ref();
            mm2_acc::<I, T, GH, F, H, NB>(&mut z.each_mut(), w_ih, &xt, w_hh, &hp);
        }
        for (((zb, (_, tape)), hb), cb) in
            z.iter_mut().zip(items.iter_mut()).zip(&mut h).zip(&mut c)
        {
            activate::<I, T, H, GH>(zb);
            update::<I, T, H, GH>(zb, hb, cb);
            if let (Some(g), Some(ct), Some(ht)) = (
                cols_mut(&mut tape.gates).get_mut(t),
                cols_mut(&mut tape.c).get_mut(t),
                cols_mut(&mut tape.h).get_mut(t),
            ) {
                *g = *zb;
                *ct = *cb;
                *ht = *hb;
            }
        }
    }
}

/// [`lstm_backward_batch`] for instruction set `I` (`kernels::avx2` calls
/// it with [`Avx2`](crate::kernels::dispatch::Avx2)).
#[inline(always)]
pub(crate) fn lstm_backward_batch_in<
    I: Isa,
    T: Float,
    D: StepGrads<T, H>,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const NB: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    tapes: [&LstmTape<T, H, GH, S>; NB],
    items: [(&D, &mut SMatrix<T, GH, S>); NB],
) {
    const { assert!(GH == 4 * H, "lstm: GH must be 4 * H") };
    let mut items = items;
    let zero = [T::zero(); H];
    let wt_hh = transpose(cols(&p.weight_hh));
    let mut dh_next = [[T::zero(); H]; NB];
    let mut dc = [[T::zero(); H]; NB];
    for t in (0..core::hint::black_box(S)).rev() {
        for (((tape, (dy, dz)), dhn), dcb) in tapes
            .iter()
            .zip(items.iter_mut())
            .zip(&mut dh_next)
            .zip(&mut dc)
        {
            let mut dh = *dhn;
            let steps = dy.steps();
            // Step `t`'s gradient from above, if the last `len` steps have one.
            if let Some(dyt) = (t + steps.len()).checked_sub(S).and_then(|u| steps.get(u)) {
                for (d, &y) in dh.iter_mut().zip(dyt) {
                    *d = y + *d;
                }
            }
            let (Some(gt), Some(ct), Some(dzt)) = (
                cols(&tape.gates).get(t),
                cols(&tape.c).get(t),
                cols_mut(*dz).get_mut(t),
            ) else {
                continue;
            };
            gate_grads::<T, H, GH>(gt, ct, prev_col(&tape.c, t, &zero), &dh, dcb, dzt);
        }
        if t > 0 {
            dh_next = [[T::zero(); H]; NB];
            let dzs: [&[T; GH]; NB] = core::array::from_fn(|b| &cols(&*items[b].1)[t % S]);
            mm2_acc::<I, T, H, GH, 0, NB>(&mut dh_next.each_mut(), &wt_hh, &dzs, &[], &[&[]; NB]);
        }
    }
}

/// [`lstm_backward_batch_params`] for instruction set `I` (`kernels::avx2`
/// calls it with [`Avx2`](crate::kernels::dispatch::Avx2)).
#[inline(always)]
pub(crate) fn lstm_backward_batch_params_in<
    'a,
    I: Isa,
    T: Float + 'a,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    items: impl Iterator<
            Item = (
                &'a SMatrix<T, F, S>,
                &'a LstmTape<T, H, GH, S>,
                &'a SMatrix<T, GH, S>,
            ),
        > + Clone,
    g: &mut RecurrentParams<T, F, H, GH>,
) {
    let mut db = [T::zero(); GH];
    for (_, _, dz) in items.clone() {
        for dzt in cols(dz) {
            for (d, &v) in db.iter_mut().zip(dzt) {
                *d += v;
            }
        }
    }
    for bias in [&mut g.bias_ih, &mut g.bias_hh] {
        for (b, &v) in cols_mut(bias)[0].iter_mut().zip(&db) {
            *b += v;
        }
    }
    let ih = items.clone().map(|(x, _, dz)| (cols(dz), cols(x)));
    outer_acc_batch::<I, T, GH, F, S>(&mut g.weight_ih, ih, 0);
    let hh = items.map(|(_, tape, dz)| (cols(dz), cols(&tape.h)));
    outer_acc_batch::<I, T, GH, H, S>(&mut g.weight_hh, hh, 1);
}

/// Steps of `dL/dx` per register block of [`lstm_backward_batch_dx`].
const DX_STEPS: usize = 4;

/// [`lstm_backward_batch_dx_into`] for instruction set `I` (`kernels::avx2`
/// calls it with [`Avx2`](crate::kernels::dispatch::Avx2)).
#[inline(always)]
pub(crate) fn lstm_backward_batch_dx_into_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    dz: &SMatrix<T, GH, S>,
    dx: &mut SMatrix<T, F, S>,
) {
    let wt_ih = transpose(cols(&p.weight_ih));
    let (dz, dx) = (cols(dz), cols_mut(dx));
    for col in dx.iter_mut() {
        *col = [T::zero(); F];
    }
    let (dzb, dz_rest) = dz.as_chunks::<DX_STEPS>();
    let (dxb, dx_rest) = dx.as_chunks_mut::<DX_STEPS>();
    for (d, x) in dzb.iter().zip(dxb) {
        mm2_acc::<I, T, F, GH, 0, DX_STEPS>(
            &mut x.each_mut(),
            &wt_ih,
            &d.each_ref(),
            &[],
            &[&[]; DX_STEPS],
        );
    }
    for (d, x) in dz_rest.iter().zip(dx_rest) {
        mm2_acc::<I, T, F, GH, 0, 1>(&mut [x], &wt_ih, &[d], &[], &[&[]]);
    }
}

/// [`lstm_backward_batch_dx_into_in`] by value.
#[inline(always)]
pub(crate) fn lstm_backward_batch_dx_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    dz: &SMatrix<T, GH, S>,
) -> SMatrix<T, F, S> {
    let mut dx = SMatrix::zeros();
    lstm_backward_batch_dx_into_in::<I, T, F, H, GH, S>(p, dz, &mut dx);
    dx
}

// The entry points for the build's own instruction set ([`Base`]).

/// The layer-major training forward of an `Lstm` on `NB` samples: for each
/// `(x, tape)`, runs the sequence `x` as [`lstm_train`](super::lstm_train)
/// does and overwrites every value of `tape` (gates, cell and hidden
/// states; the layer's outputs are `tape.h`), the `NB` samples' gates of a
/// step computed as one matrix–matrix product. Equal to `lstm_train` on
/// each sample up to the order of the additions.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm_train_batch<
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const NB: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    items: [(&SMatrix<T, F, S>, &mut LstmTape<T, H, GH, S>); NB],
) {
    lstm_train_batch_in::<Base, T, F, H, GH, S, NB>(p, items)
}

/// Backward through time of [`lstm_train_batch`] on `NB` samples, up to
/// `dL/dz`: for each sample, from its tape and `dy` (`dL/dh` of its last
/// steps, [`StepGrads`]), overwrites every column `t` of `dz` with
/// `dL/dz_t`, the `NB` samples' `dL/dh_{t−1} = W_hhᵀ dz_t` computed as one
/// matrix–matrix product per step. The parameter gradients and `dL/dx`
/// follow from `dz`: [`lstm_backward_batch_params`] (over the whole batch)
/// and [`lstm_backward_batch_dx`] (per sample).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm_backward_batch<
    T: Float,
    D: StepGrads<T, H>,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const NB: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    tapes: [&LstmTape<T, H, GH, S>; NB],
    items: [(&D, &mut SMatrix<T, GH, S>); NB],
) {
    lstm_backward_batch_in::<Base, T, D, F, H, GH, S, NB>(p, tapes, items)
}

/// The parameter gradients of an `Lstm` over a whole batch, *added* to `g`:
/// `items` are each sample's `(x, tape, dz)` (its input, its tape from
/// [`lstm_train_batch`] and its `dL/dz` from [`lstm_backward_batch`]);
/// `dW_ih += Σ dz xᵀ`, `dW_hh += Σ dz h_{t−1}ᵀ` over every sample and step
/// as one product each, and both biases `+= Σ dz`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm_backward_batch_params<
    'a,
    T: Float + 'a,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    items: impl Iterator<
            Item = (
                &'a SMatrix<T, F, S>,
                &'a LstmTape<T, H, GH, S>,
                &'a SMatrix<T, GH, S>,
            ),
        > + Clone,
    g: &mut RecurrentParams<T, F, H, GH>,
) {
    lstm_backward_batch_params_in::<Base, T, F, H, GH, S>(items, g)
}

/// One sample's `dL/dx` (`[S, F]`) from its `dL/dz` ([`lstm_backward_batch`]):
/// `dx_t = W_ihᵀ dz_t`, overwriting every value of `dx`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm_backward_batch_dx_into<
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    dz: &SMatrix<T, GH, S>,
    dx: &mut SMatrix<T, F, S>,
) {
    lstm_backward_batch_dx_into_in::<Base, T, F, H, GH, S>(p, dz, dx)
}

/// [`lstm_backward_batch_dx_into`] by value.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn lstm_backward_batch_dx<
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    dz: &SMatrix<T, GH, S>,
) -> SMatrix<T, F, S> {
    lstm_backward_batch_dx_in::<Base, T, F, H, GH, S>(p, dz)
}

// `Gru` the same way: per step, the input half `b_ih + W_ih x` and the
// hidden half `b_hh + W_hh h` of the `NB` samples' pre-activations as two
// matrix–matrix products (the reset gate multiplies the hidden half's `n`
// rows, so they are kept apart, as the one-sample kernel does); the
// backward keeps each step's input-side `dL/d(W_ih x)` in the gates' place
// of the scratch tape and the `n` rows of the hidden side (`⊙ r`) in its
// `hn` place.

/// [`gru_train_batch`] for instruction set `I` (`kernels::avx2` calls it
/// with [`Avx2`](crate::kernels::dispatch::Avx2)).
#[inline(always)]
pub(crate) fn gru_train_batch_in<
    I: Isa,
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const NB: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    items: [(&SMatrix<T, F, S>, &mut GruTape<T, H, GH, S>); NB],
) {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    let mut items = items;
    let (b_ih, b_hh) = (cols(&p.bias_ih)[0], cols(&p.bias_hh)[0]);
    let (w_ih, w_hh) = (cols(&p.weight_ih), cols(&p.weight_hh));
    let mut h = [[T::zero(); H]; NB];
    for t in 0..core::hint::black_box(S) {
        let mut gi = [b_ih; NB];
        let mut gh = [b_hh; NB];
        {
            let xt: [&[T; F]; NB] = core::array::from_fn(|b| &cols(items[b].0)[t % S]);
            mm2_acc::<I, T, GH, F, 0, NB>(&mut gi.each_mut(), w_ih, &xt, &[], &[&[]; NB]);
            let hp: [&[T; H]; NB] = h.each_ref();
            mm2_acc::<I, T, GH, H, 0, NB>(&mut gh.each_mut(), w_hh, &hp, &[], &[&[]; NB]);
        }
        for ((((_, tape), hb), gib), ghb) in items.iter_mut().zip(&mut h).zip(&gi).zip(&gh) {
            let GruTape { gates, hn, h: th } = &mut **tape;
            if let (Some(g), Some(hnt), Some(ht)) = (
                cols_mut(gates).get_mut(t),
                cols_mut(hn).get_mut(t),
                cols_mut(th).get_mut(t),
            ) {
                train_gates::<I, T, H, GH>(gib, ghb, hb, g, hnt);
                *ht = *hb;
            }
        }
    }
}

/// [`gru_backward_batch`] for instruction set `I` (`kernels::avx2` calls
/// it with [`Avx2`](crate::kernels::dispatch::Avx2)).
#[inline(always)]
pub(crate) fn gru_backward_batch_in<
    I: Isa,
    T: Float,
    D: StepGrads<T, H>,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const NB: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    tapes: [&GruTape<T, H, GH, S>; NB],
    items: [GruGrads<'_, T, D, H, GH, S>; NB],
) {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    let mut items = items;
    let zero = [T::zero(); H];
    let wt_hh = transpose(cols(&p.weight_hh));
    let mut dh_next = [[T::zero(); H]; NB];
    for t in (0..core::hint::black_box(S)).rev() {
        let mut dhid = [[T::zero(); GH]; NB];
        for (((tape, (dy, di, dn)), dhn), dhb) in tapes
            .iter()
            .zip(items.iter_mut())
            .zip(&mut dh_next)
            .zip(&mut dhid)
        {
            let mut dh = *dhn;
            let steps = dy.steps();
            if let Some(dyt) = (t + steps.len()).checked_sub(S).and_then(|u| steps.get(u)) {
                for (d, &y) in dh.iter_mut().zip(dyt) {
                    *d = y + *d;
                }
            }
            let (Some(gt), Some(hnt), Some(dit), Some(dnt)) = (
                cols(&tape.gates).get(t),
                cols(&tape.hn).get(t),
                cols_mut(*di).get_mut(t),
                cols_mut(*dn).get_mut(t),
            ) else {
                continue;
            };
            let h_prev = prev_col(&tape.h, t, &zero);
            // `dhn` becomes the bypass `dh ⊙ z`, to which `W_hhᵀ dhid` is added.
            gru_gate_grads::<T, H, GH>(gt, hnt, h_prev, &dh, dit, dhb, dhn);
            dnt.copy_from_slice(&dhb[2 * H..]);
        }
        if t > 0 {
            mm2_acc::<I, T, H, GH, 0, NB>(
                &mut dh_next.each_mut(),
                &wt_hh,
                &dhid.each_ref(),
                &[],
                &[&[]; NB],
            );
        }
    }
}

/// One sample's operands of [`gru_backward_batch`]: `dL/dh` of its last
/// steps, and where its input-side `dL/dz` (all `GH` rows) and the `n` rows
/// of its hidden-side `dL/dz` go.
pub type GruGrads<'a, T, D, const H: usize, const GH: usize, const S: usize> =
    (&'a D, &'a mut SMatrix<T, GH, S>, &'a mut SMatrix<T, H, S>);

/// [`gru_backward_batch_params`] for instruction set `I` (`kernels::avx2`
/// calls it with [`Avx2`](crate::kernels::dispatch::Avx2)).
#[inline(always)]
pub(crate) fn gru_backward_batch_params_in<
    'a,
    I: Isa,
    T: Float + 'a,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    items: impl Iterator<
            Item = (
                &'a SMatrix<T, F, S>,
                &'a GruTape<T, H, GH, S>,
                &'a SMatrix<T, GH, S>,
                &'a SMatrix<T, H, S>,
            ),
        > + Clone,
    g: &mut RecurrentParams<T, F, H, GH>,
) {
    const { assert!(GH == 3 * H, "gru: GH must be 3 * H") };
    let mut db = [T::zero(); GH];
    let mut dbn = [T::zero(); H];
    for (_, _, di, dn) in items.clone() {
        for dit in cols(di) {
            for (d, &v) in db.iter_mut().zip(dit) {
                *d += v;
            }
        }
        for dnt in cols(dn) {
            for (d, &v) in dbn.iter_mut().zip(dnt) {
                *d += v;
            }
        }
    }
    for (b, &v) in cols_mut(&mut g.bias_ih)[0].iter_mut().zip(&db) {
        *b += v;
    }
    let bhh = &mut cols_mut(&mut g.bias_hh)[0];
    for (b, &v) in bhh.iter_mut().zip(db.iter().take(2 * H).chain(&dbn)) {
        *b += v;
    }
    let ih = items.clone().map(|(x, _, di, _)| (cols(di), cols(x)));
    outer_acc_batch::<I, T, GH, F, S>(&mut g.weight_ih, ih, 0);
    let w_hh = cols_mut(&mut g.weight_hh);
    let rz = items
        .clone()
        .map(|(_, tape, di, _)| (cols(di), cols(&tape.h)));
    outer_acc_rows::<I, T, GH, GH, H, S>(
        w_hh,
        Rows {
            w0: 0,
            d0: 0,
            n: 2 * H,
        },
        rz,
        1,
    );
    let n = items.map(|(_, tape, _, dn)| (cols(dn), cols(&tape.h)));
    outer_acc_rows::<I, T, GH, H, H, S>(
        w_hh,
        Rows {
            w0: 2 * H,
            d0: 0,
            n: H,
        },
        n,
        1,
    );
}

/// The layer-major training forward of a `Gru` on `NB` samples: for each
/// `(x, tape)`, runs the sequence as [`gru_train`](super::gru_train) does
/// and overwrites every value of `tape`, the `NB` samples' pre-activations
/// of a step computed as matrix–matrix products.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn gru_train_batch<
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const NB: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    items: [(&SMatrix<T, F, S>, &mut GruTape<T, H, GH, S>); NB],
) {
    gru_train_batch_in::<Base, T, F, H, GH, S, NB>(p, items)
}

/// Backward through time of [`gru_train_batch`] on `NB` samples: for each
/// sample, from its tape and `dy` ([`StepGrads`]), overwrites every column
/// `t` of its input-side `dL/dz` and of the `n` rows of its hidden-side
/// `dL/dz` ([`GruGrads`]), the `NB` samples' `W_hhᵀ` products of a step
/// computed as one matrix–matrix product. [`gru_backward_batch_params`] and
/// [`gru_backward_batch_dx`] follow from them.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn gru_backward_batch<
    T: Float,
    D: StepGrads<T, H>,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
    const NB: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    tapes: [&GruTape<T, H, GH, S>; NB],
    items: [GruGrads<'_, T, D, H, GH, S>; NB],
) {
    gru_backward_batch_in::<Base, T, D, F, H, GH, S, NB>(p, tapes, items)
}

/// The parameter gradients of a `Gru` over a whole batch, *added* to `g`,
/// from each sample's `(x, tape, di, dn)` ([`gru_backward_batch`]): one
/// product over every sample and step for each weight.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn gru_backward_batch_params<
    'a,
    T: Float + 'a,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    items: impl Iterator<
            Item = (
                &'a SMatrix<T, F, S>,
                &'a GruTape<T, H, GH, S>,
                &'a SMatrix<T, GH, S>,
                &'a SMatrix<T, H, S>,
            ),
        > + Clone,
    g: &mut RecurrentParams<T, F, H, GH>,
) {
    gru_backward_batch_params_in::<Base, T, F, H, GH, S>(items, g)
}

/// One sample's `dL/dx` from its input-side `dL/dz` ([`gru_backward_batch`]):
/// `dx_t = W_ihᵀ di_t`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn gru_backward_batch_dx<
    T: Float,
    const F: usize,
    const H: usize,
    const GH: usize,
    const S: usize,
>(
    p: &RecurrentParams<T, F, H, GH>,
    di: &SMatrix<T, GH, S>,
) -> SMatrix<T, F, S> {
    lstm_backward_batch_dx_in::<Base, T, F, H, GH, S>(p, di)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::dispatch::Avx2;
    use crate::kernels::testutil::{self as check, Loss};
    use crate::kernels::{gru_backward, gru_seq, gru_train, lstm_backward, lstm_seq, lstm_train};
    use nalgebra::SVector;

    // Sizes with a tail everywhere: GH = 12 rows (blocks of 8 or 4, then
    // 8 / one by one), F = 5 (dL/dx rows), S = 5 steps (one step after the
    // blocks of `DX_STEPS`), NB = 3 samples.
    const F: usize = 5;
    const H: usize = 3;
    const GH: usize = 12;
    const S: usize = 5;

    fn close(what: &str, got: &[f64], want: &[f64]) {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-12, "{what}[{i}]: got {g}, want {w}");
        }
    }

    fn params_close(got: &RecurrentParams<f64, F, H, GH>, want: &RecurrentParams<f64, F, H, GH>) {
        close(
            "weight_ih",
            got.weight_ih.as_slice(),
            want.weight_ih.as_slice(),
        );
        close(
            "weight_hh",
            got.weight_hh.as_slice(),
            want.weight_hh.as_slice(),
        );
        close("bias_ih", got.bias_ih.as_slice(), want.bias_ih.as_slice());
        close("bias_hh", got.bias_hh.as_slice(), want.bias_hh.as_slice());
    }

    /// The batched forward records every sample's tape as the one-sample
    /// `lstm_train` does (the same values up to the order of the additions).
    #[test]
    fn forward_matches_one_sample() {
        let p = check::random_params::<F, H, GH>(1);
        let xs: [SMatrix<f64, F, S>; 3] =
            core::array::from_fn(|b| check::random_seq(10 + b as u64));
        let mut want: [LstmTape<f64, H, GH, S>; 3] = core::array::from_fn(|_| LstmTape::zeros());
        for (x, tape) in xs.iter().zip(&mut want) {
            lstm_train(&p, x, tape);
        }
        // A tape full of garbage: every value must be overwritten.
        let mut got: [LstmTape<f64, H, GH, S>; 3] = core::array::from_fn(|_| {
            let mut t = LstmTape::<f64, H, GH, S>::zeros();
            t.gates.fill(7.0);
            t.c.fill(7.0);
            t.h.fill(7.0);
            t
        });
        let [g0, g1, g2] = &mut got;
        lstm_train_batch(&p, [(&xs[0], g0), (&xs[1], g1), (&xs[2], g2)]);
        for (g, w) in got.iter().zip(&want) {
            close("gates", g.gates.as_slice(), w.gates.as_slice());
            close("c", g.c.as_slice(), w.c.as_slice());
            close("h", g.h.as_slice(), w.h.as_slice());
        }
        // The AVX2 blocking (one sample) agrees too.
        let mut one = LstmTape::zeros();
        lstm_train_batch_in::<Avx2, f64, F, H, GH, S, 1>(&p, [(&xs[1], &mut one)]);
        close("h (Avx2)", one.h.as_slice(), want[1].h.as_slice());
    }

    /// The batched backward's `dz`, its parameter gradients over the batch
    /// and each sample's `dL/dx` equal the one-sample `lstm_backward`'s
    /// (summed over the samples), for gradients at every step and at the
    /// last one only.
    fn backward_matches_one_sample<I: Isa>(loss: Loss, seed: u64) {
        let p = check::random_params::<F, H, GH>(seed);
        let xs: [SMatrix<f64, F, S>; 3] =
            core::array::from_fn(|b| check::random_seq(seed + 10 + b as u64));
        let dys: [SMatrix<f64, H, S>; 3] =
            core::array::from_fn(|b| check::upstream(loss, seed + 20 + b as u64));
        let mut tapes: [LstmTape<f64, H, GH, S>; 3] = core::array::from_fn(|_| LstmTape::zeros());
        let mut want = RecurrentParams::zeros();
        let mut want_dx = [SMatrix::<f64, F, S>::zeros(); 3];
        for b in 0..3 {
            lstm_train(&p, &xs[b], &mut tapes[b]);
            want_dx[b] = lstm_backward(&p, &xs[b], &tapes[b], &dys[b], &mut want);
        }
        let mut dz = [SMatrix::<f64, GH, S>::from_element(7.0); 3];
        let [d0, d1, d2] = &mut dz;
        let [t0, t1, t2] = &tapes;
        match loss {
            Loss::AllStates => lstm_backward_batch_in::<I, f64, _, F, H, GH, S, 3>(
                &p,
                [t0, t1, t2],
                [(&dys[0], d0), (&dys[1], d1), (&dys[2], d2)],
            ),
            Loss::LastState => {
                // Only the last state's gradient, as an `[H]` vector.
                let last: [SVector<f64, H>; 3] = dys.map(|d| d.column(S - 1).into_owned());
                lstm_backward_batch_in::<I, f64, _, F, H, GH, S, 3>(
                    &p,
                    [t0, t1, t2],
                    [(&last[0], d0), (&last[1], d1), (&last[2], d2)],
                )
            }
        }
        let mut got = RecurrentParams::zeros();
        lstm_backward_batch_params_in::<I, f64, F, H, GH, S>(
            xs.iter().zip(&tapes).zip(&dz).map(|((x, t), d)| (x, t, d)),
            &mut got,
        );
        params_close(&got, &want);
        for b in 0..3 {
            let mut dx = SMatrix::from_element(7.0);
            lstm_backward_batch_dx_into_in::<I, f64, F, H, GH, S>(&p, &dz[b], &mut dx);
            close("dx", dx.as_slice(), want_dx[b].as_slice());
        }
    }

    #[test]
    fn backward_matches_one_sample_all_states() {
        backward_matches_one_sample::<Base>(Loss::AllStates, 100);
        backward_matches_one_sample::<Avx2>(Loss::AllStates, 110);
    }

    #[test]
    fn backward_matches_one_sample_last_state() {
        backward_matches_one_sample::<Base>(Loss::LastState, 200);
        backward_matches_one_sample::<Avx2>(Loss::LastState, 210);
    }

    /// The batched kernels' gradients of one sample against central finite
    /// differences (independently of the one-sample backward).
    fn finite_differences<const S1: usize>(loss: Loss, seed: u64) {
        let p = check::random_params::<F, H, GH>(seed);
        let x = check::random_seq::<F, S1>(seed + 1);
        let dy = check::upstream::<H, S1>(loss, seed + 2);
        let mut tape = LstmTape::zeros();
        lstm_train_batch(&p, [(&x, &mut tape)]);
        let mut dz = SMatrix::zeros();
        lstm_backward_batch(&p, [&tape], [(&dy, &mut dz)]);
        let mut g = RecurrentParams::zeros();
        lstm_backward_batch_params([(&x, &tape, &dz)].into_iter(), &mut g);
        let dx = lstm_backward_batch_dx(&p, &dz);
        check::finite_differences(&p, &x, &dy, &g, &dx, lstm_seq);
    }

    #[test]
    fn gradients_by_finite_differences() {
        finite_differences::<1>(Loss::AllStates, 300);
        finite_differences::<S>(Loss::AllStates, 310);
        finite_differences::<S>(Loss::LastState, 320);
        finite_differences::<9>(Loss::AllStates, 330);
    }

    /// f32 at the benchmark's sizes (`F = 8`, `H = 32`, blocks without
    /// tails) against the f64 one-sample kernels.
    #[test]
    fn f32_matches_f64_at_benchmark_size() {
        let p = check::random_params::<8, 32, 128>(400);
        let xs: [SMatrix<f64, 8, 6>; 4] =
            core::array::from_fn(|b| check::random_seq(410 + b as u64));
        let dys: [SMatrix<f64, 32, 6>; 4] =
            core::array::from_fn(|b| check::upstream(Loss::AllStates, 420 + b as u64));
        let mut want = RecurrentParams::zeros();
        let mut tapes: [LstmTape<f64, 32, 128, 6>; 4] = core::array::from_fn(|_| LstmTape::zeros());
        for b in 0..4 {
            lstm_train(&p, &xs[b], &mut tapes[b]);
            lstm_backward(&p, &xs[b], &tapes[b], &dys[b], &mut want);
        }
        let p32 = check::to_f32(&p);
        let (xs32, dys32) = (xs.map(|x| x.cast::<f32>()), dys.map(|d| d.cast::<f32>()));
        let mut t32: [LstmTape<f32, 32, 128, 6>; 4] = core::array::from_fn(|_| LstmTape::zeros());
        let mut dz = [SMatrix::<f32, 128, 6>::zeros(); 4];
        {
            let [a, b, c, d] = &mut t32;
            lstm_train_batch(
                &p32,
                [(&xs32[0], a), (&xs32[1], b), (&xs32[2], c), (&xs32[3], d)],
            );
        }
        {
            let [a, b, c, d] = &mut dz;
            let [ta, tb, tc, td] = &t32;
            lstm_backward_batch(
                &p32,
                [ta, tb, tc, td],
                [
                    (&dys32[0], a),
                    (&dys32[1], b),
                    (&dys32[2], c),
                    (&dys32[3], d),
                ],
            );
        }
        let mut g32 = RecurrentParams::zeros();
        lstm_backward_batch_params(
            xs32.iter().zip(&t32).zip(&dz).map(|((x, t), d)| (x, t, d)),
            &mut g32,
        );
        for b in 0..4 {
            check::assert_close32("h", &t32[b].h, &tapes[b].h, 1e-5);
        }
        check::assert_params_close32(&g32, &want, 1e-4);
    }

    // --- Gru ---------------------------------------------------------------

    const GGH: usize = 9;

    fn gru_params_close(
        got: &RecurrentParams<f64, F, H, GGH>,
        want: &RecurrentParams<f64, F, H, GGH>,
    ) {
        close(
            "weight_ih",
            got.weight_ih.as_slice(),
            want.weight_ih.as_slice(),
        );
        close(
            "weight_hh",
            got.weight_hh.as_slice(),
            want.weight_hh.as_slice(),
        );
        close("bias_ih", got.bias_ih.as_slice(), want.bias_ih.as_slice());
        close("bias_hh", got.bias_hh.as_slice(), want.bias_hh.as_slice());
    }

    /// The batched GRU forward records the one-sample `gru_train`'s tapes.
    #[test]
    fn gru_forward_matches_one_sample() {
        let p = check::random_params::<F, H, GGH>(2);
        let xs: [SMatrix<f64, F, S>; 3] =
            core::array::from_fn(|b| check::random_seq(20 + b as u64));
        let mut want: [GruTape<f64, H, GGH, S>; 3] = core::array::from_fn(|_| GruTape::zeros());
        for (x, tape) in xs.iter().zip(&mut want) {
            gru_train(&p, x, tape);
        }
        let mut got: [GruTape<f64, H, GGH, S>; 3] = core::array::from_fn(|_| {
            let mut t = GruTape::<f64, H, GGH, S>::zeros();
            t.gates.fill(7.0);
            t.hn.fill(7.0);
            t.h.fill(7.0);
            t
        });
        let [g0, g1, g2] = &mut got;
        gru_train_batch(&p, [(&xs[0], g0), (&xs[1], g1), (&xs[2], g2)]);
        for (g, w) in got.iter().zip(&want) {
            close("gates", g.gates.as_slice(), w.gates.as_slice());
            close("hn", g.hn.as_slice(), w.hn.as_slice());
            close("h", g.h.as_slice(), w.h.as_slice());
        }
        let mut one = GruTape::zeros();
        gru_train_batch_in::<Avx2, f64, F, H, GGH, S, 1>(&p, [(&xs[1], &mut one)]);
        close("h (Avx2)", one.h.as_slice(), want[1].h.as_slice());
    }

    /// The batched GRU backward's parameter gradients (over the batch) and
    /// each sample's `dL/dx` equal the one-sample `gru_backward`'s.
    fn gru_backward_matches_one_sample<I: Isa>(loss: Loss, seed: u64) {
        let p = check::random_params::<F, H, GGH>(seed);
        let xs: [SMatrix<f64, F, S>; 3] =
            core::array::from_fn(|b| check::random_seq(seed + 10 + b as u64));
        let dys: [SMatrix<f64, H, S>; 3] =
            core::array::from_fn(|b| check::upstream(loss, seed + 20 + b as u64));
        let mut tapes: [GruTape<f64, H, GGH, S>; 3] = core::array::from_fn(|_| GruTape::zeros());
        let mut want = RecurrentParams::zeros();
        let mut want_dx = [SMatrix::<f64, F, S>::zeros(); 3];
        for b in 0..3 {
            gru_train(&p, &xs[b], &mut tapes[b]);
            want_dx[b] = gru_backward(&p, &xs[b], &tapes[b], &dys[b], &mut want);
        }
        let mut di = [SMatrix::<f64, GGH, S>::from_element(7.0); 3];
        let mut dn = [SMatrix::<f64, H, S>::from_element(7.0); 3];
        {
            let [d0, d1, d2] = &mut di;
            let [n0, n1, n2] = &mut dn;
            let [t0, t1, t2] = &tapes;
            let last: [SVector<f64, H>; 3] = dys.map(|d| d.column(S - 1).into_owned());
            match loss {
                Loss::AllStates => gru_backward_batch_in::<I, f64, _, F, H, GGH, S, 3>(
                    &p,
                    [t0, t1, t2],
                    [(&dys[0], d0, n0), (&dys[1], d1, n1), (&dys[2], d2, n2)],
                ),
                Loss::LastState => gru_backward_batch_in::<I, f64, _, F, H, GGH, S, 3>(
                    &p,
                    [t0, t1, t2],
                    [(&last[0], d0, n0), (&last[1], d1, n1), (&last[2], d2, n2)],
                ),
            }
        }
        let mut got = RecurrentParams::zeros();
        gru_backward_batch_params_in::<I, f64, F, H, GGH, S>(
            xs.iter()
                .zip(&tapes)
                .zip(di.iter().zip(&dn))
                .map(|((x, t), (d, n))| (x, t, d, n)),
            &mut got,
        );
        gru_params_close(&got, &want);
        for b in 0..3 {
            let dx = gru_backward_batch_dx(&p, &di[b]);
            close("dx", dx.as_slice(), want_dx[b].as_slice());
        }
    }

    #[test]
    fn gru_backward_matches_one_sample_both_losses() {
        gru_backward_matches_one_sample::<Base>(Loss::AllStates, 500);
        gru_backward_matches_one_sample::<Avx2>(Loss::AllStates, 510);
        gru_backward_matches_one_sample::<Base>(Loss::LastState, 520);
        gru_backward_matches_one_sample::<Avx2>(Loss::LastState, 530);
    }

    /// The batched GRU kernels' gradients of one sample against central
    /// finite differences.
    fn gru_finite_differences<const S1: usize>(loss: Loss, seed: u64) {
        let p = check::random_params::<F, H, GGH>(seed);
        let x = check::random_seq::<F, S1>(seed + 1);
        let dy = check::upstream::<H, S1>(loss, seed + 2);
        let mut tape = GruTape::zeros();
        gru_train_batch(&p, [(&x, &mut tape)]);
        let (mut di, mut dn) = (SMatrix::zeros(), SMatrix::zeros());
        gru_backward_batch(&p, [&tape], [(&dy, &mut di, &mut dn)]);
        let mut g = RecurrentParams::zeros();
        gru_backward_batch_params([(&x, &tape, &di, &dn)].into_iter(), &mut g);
        let dx = gru_backward_batch_dx(&p, &di);
        check::finite_differences(&p, &x, &dy, &g, &dx, gru_seq);
    }

    #[test]
    fn gru_gradients_by_finite_differences() {
        gru_finite_differences::<1>(Loss::AllStates, 600);
        gru_finite_differences::<S>(Loss::AllStates, 610);
        gru_finite_differences::<S>(Loss::LastState, 620);
    }
}
