//! The kernels as the AVX2 + FMA copy of a model's generated code calls
//! them (run-time CPU dispatch, `crate::dispatch`): every kernel of
//! [`crate::kernels`], except those whose register blocking or
//! multiply-adds depend on the instruction set, which are shadowed here by
//! their instantiation for AVX2 and FMA. Generated code names this module
//! `k` in the copy it compiles for AVX2 and FMA, and `crate::kernels` in
//! the baseline copy, so the two copies of one model differ only in these
//! instantiations.

//!
//! Only code inlined into a function compiled for AVX2 and FMA may call
//! these: elsewhere the fused multiply-adds of `Avx2` are slow library
//! calls (they are correct everywhere).

pub use super::*;

use super::dispatch::Avx2;
use crate::{Activation, DenseParams, Float, RecurrentParams};
use nalgebra::{SMatrix, SVector};

/// [`super::dense_batch`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn dense_batch<T: Float, A: Activation, const I: usize, const O: usize, const K: usize>(
    p: &DenseParams<T, I, O>,
    xs: [&SVector<T, I>; K],
) -> [SVector<T, O>; K] {
    super::dense_batch_in::<Avx2, T, A, I, O, K>(p, xs)
}

/// [`super::dense_backward_batch`] with `Avx2`'s
/// blocking and multiply-adds.
#[inline(always)]
pub fn dense_backward_batch<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const K: usize,
>(
    p: &DenseParams<T, I, O>,
    xs: [&SVector<T, I>; K],
    ys: [&SVector<T, O>; K],
    dys: &[SVector<T, O>; K],
    g: &mut DenseParams<T, I, O>,
) -> [SVector<T, I>; K] {
    super::dense_backward_batch_in::<Avx2, T, A, I, O, K>(p, xs, ys, dys, g)
}

/// [`super::dense_backward_batch_params`]
/// with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn dense_backward_batch_params<
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const K: usize,
>(
    xs: [&SVector<T, I>; K],
    ys: [&SVector<T, O>; K],
    dys: &[SVector<T, O>; K],
    g: &mut DenseParams<T, I, O>,
) {
    super::dense_backward_batch_params_in::<Avx2, T, A, I, O, K>(xs, ys, dys, g)
}

/// [`super::lstm_step`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn lstm_step<T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SVector<T, F>,
    s: &mut LstmState<T, H>,
) {
    super::lstm_step_in::<Avx2, T, F, H, GH>(p, x, s)
}

/// [`super::lstm`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn lstm<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    super::lstm_in::<Avx2, T, F, H, GH, S>(p, x)
}

/// [`super::lstm_seq`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn lstm_seq<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    super::lstm_seq_in::<Avx2, T, F, H, GH, S>(p, x)
}

/// [`super::lstm_train`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn lstm_train<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &mut LstmTape<T, H, GH, S>,
) -> SMatrix<T, H, S> {
    super::lstm_train_in::<Avx2, T, F, H, GH, S>(p, x, tape)
}

/// [`super::lstm_backward`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn lstm_backward<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &LstmTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) -> SMatrix<T, F, S> {
    super::lstm_backward_in::<Avx2, T, F, H, GH, S>(p, x, tape, dy, g)
}

/// [`super::lstm_backward_params`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
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
    super::lstm_backward_params_in::<Avx2, T, F, H, GH, S>(p, x, tape, dy, g)
}

/// [`super::gru_step`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn gru_step<T: Float, const F: usize, const H: usize, const GH: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SVector<T, F>,
    h: &mut GruState<T, H>,
) {
    super::gru_step_in::<Avx2, T, F, H, GH>(p, x, h)
}

/// [`super::gru`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn gru<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SVector<T, H> {
    super::gru_in::<Avx2, T, F, H, GH, S>(p, x)
}

/// [`super::gru_seq`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn gru_seq<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, H, S> {
    super::gru_seq_in::<Avx2, T, F, H, GH, S>(p, x)
}

/// [`super::gru_train`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn gru_train<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &mut GruTape<T, H, GH, S>,
) -> SMatrix<T, H, S> {
    super::gru_train_in::<Avx2, T, F, H, GH, S>(p, x, tape)
}

/// [`super::gru_backward`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
pub fn gru_backward<T: Float, const F: usize, const H: usize, const GH: usize, const S: usize>(
    p: &RecurrentParams<T, F, H, GH>,
    x: &SMatrix<T, F, S>,
    tape: &GruTape<T, H, GH, S>,
    dy: &SMatrix<T, H, S>,
    g: &mut RecurrentParams<T, F, H, GH>,
) -> SMatrix<T, F, S> {
    super::gru_backward_in::<Avx2, T, F, H, GH, S>(p, x, tape, dy, g)
}

/// [`super::gru_backward_params`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
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
    super::gru_backward_params_in::<Avx2, T, F, H, GH, S>(p, x, tape, dy, g)
}

/// [`super::lstm_train_batch`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
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
    super::lstm_train_batch_in::<Avx2, T, F, H, GH, S, NB>(p, items)
}

/// [`super::lstm_backward_batch`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
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
    super::lstm_backward_batch_in::<Avx2, T, D, F, H, GH, S, NB>(p, tapes, items)
}

/// [`super::lstm_backward_batch_params`] with `Avx2`'s blocking and
/// multiply-adds.
#[inline(always)]
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
    super::lstm_backward_batch_params_in::<Avx2, T, F, H, GH, S>(items, g)
}

/// [`super::lstm_backward_batch_dx`] with `Avx2`'s blocking and
/// multiply-adds.
#[inline(always)]
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
    let mut dx = SMatrix::zeros();
    super::lstm_backward_batch_dx_into_in::<Avx2, T, F, H, GH, S>(p, dz, &mut dx);
    dx
}

/// [`super::gru_train_batch`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
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
    super::gru_train_batch_in::<Avx2, T, F, H, GH, S, NB>(p, items)
}

/// [`super::gru_backward_batch`] with `Avx2`'s blocking and multiply-adds.
#[inline(always)]
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
    super::gru_backward_batch_in::<Avx2, T, D, F, H, GH, S, NB>(p, tapes, items)
}

/// [`super::gru_backward_batch_params`] with `Avx2`'s blocking and
/// multiply-adds.
#[inline(always)]
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
    super::gru_backward_batch_params_in::<Avx2, T, F, H, GH, S>(items, g)
}

/// [`super::gru_backward_batch_dx`] with `Avx2`'s blocking and
/// multiply-adds.
#[inline(always)]
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
    let mut dx = SMatrix::zeros();
    super::lstm_backward_batch_dx_into_in::<Avx2, T, F, H, GH, S>(p, di, &mut dx);
    dx
}
