//! The kernels as the AVX2 + FMA copy of a model's generated code calls
//! them (run-time CPU dispatch, `crate::dispatch`): every kernel of
//! [`crate::kernels`], except those whose register blocking or
//! multiply-adds depend on the instruction set, which are shadowed here.
//! Generated code names this module `k` in the copy it compiles for AVX2
//! and FMA, and `crate::kernels` in the baseline copy, so the two copies of
//! one model differ only in these kernels.
//!
//! Each recurrent kernel here runs its instantiation for
//! `kernels::dispatch::Avx512` (the same blocking, compiled for
//! AVX-512's 32 registers and instructions) in a function of its own
//! compiled for AVX-512F, VL, BW and DQ, when [`crate::dispatch::avx512`]
//! says the CPU has them; else its instantiation for `Avx2` inline. The
//! question is a cached atomic load and a branch per kernel call (per
//! layer, per step or batch). So a default build reaches AVX-512 for the
//! recurrent layers without a third copy of every generated body. The
//! batched `Dense` kernels keep their `Avx2` instantiation: in functions
//! of their own compiled for AVX-512 they were no faster in W1's training
//! step; instead their forward and weight gradient call hand-written
//! 512-bit kernels where the CPU has AVX-512 (`kernels::simd::zmm`, asked
//! per call the same way). A third copy of the whole training step
//! compiled for AVX-512 was slower than the AVX2 copy (BENCHMARKS.md,
//! "AVX-512 from a default build"); the rest of the AVX2 copy
//! (convolutions, pooling, BatchNorm) stays AVX2 too.
//!
//! Only code inlined into a function compiled for AVX2 and FMA may call
//! these: elsewhere the fused multiply-adds of `Avx2` are slow library
//! calls (they are correct everywhere).

pub use super::*;

use super::dispatch::Avx2;
#[cfg(target_arch = "x86_64")]
use super::dispatch::Avx512;
use crate::{Activation, DenseParams, Float, RecurrentParams};
use nalgebra::{SMatrix, SVector};

/// Defines each kernel `name`, with the generic parameters in brackets and
/// the arguments given, as `super::inner` instantiated for `Avx2`; those
/// marked `wide` first ask [`crate::dispatch::avx512`] and where it holds
/// run the `Avx512` instantiation in a nested function compiled for
/// AVX-512 instead (those marked `avx2` never do). `inner`'s generic
/// arguments after the marker are the bracketed list after it.
macro_rules! isa_kernels {
    (@wide avx2, $($rest:tt)*) => {};
    (@wide wide, $inner:ident, [$($g:tt)*], [$($arg:ident: $ty:ty),*], [$($ret:ty)?], [$($ga:tt),*]) => {
        #[cfg(target_arch = "x86_64")]
        if crate::dispatch::avx512() {
            /// The `Avx512` instantiation, compiled for it.
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
            #[inline]
            fn wide<$($g)*>($($arg: $ty),*) $(-> $ret)? {
                super::$inner::<Avx512, $($ga),*>($($arg),*)
            }
            // SAFETY: `avx512()` returned true only because the CPU
            // running this has AVX-512F, VL, BW and DQ (and AVX2 and
            // FMA: `avx2()` holds too), checked with
            // `is_x86_feature_detected!`: the features `wide` is
            // compiled for.
            return unsafe { wide::<$($ga),*>($($arg),*) };
        }
    };
    ($(
        $(#[$attr:meta])*
        $kind:ident fn $name:ident[$($g:tt)*]($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
            = $inner:ident[$($ga:tt),*];
    )*) => {$(
        $(#[$attr])*
        #[inline(always)]
        pub fn $name<$($g)*>($($arg: $ty),*) $(-> $ret)? {
            isa_kernels!(@wide $kind, $inner, [$($g)*], [$($arg: $ty),*], [$($ret)?], [$($ga),*]);
            super::$inner::<Avx2, $($ga),*>($($arg),*)
        }
    )*};
}

isa_kernels! {
    /// [`super::dense_batch`] with the AVX2 instantiation.
    avx2 fn dense_batch[T: Float, A: Activation, const I: usize, const O: usize, const K: usize](
        p: &DenseParams<T, I, O>,
        xs: [&SVector<T, I>; K],
    ) -> [SVector<T, O>; K] = dense_batch_in[T, A, I, O, K];

    /// [`super::dense_backward_batch`] with the AVX2 instantiation.
    avx2 fn dense_backward_batch[T: Float, A: Activation, const I: usize, const O: usize, const K: usize](
        p: &DenseParams<T, I, O>,
        xs: [&SVector<T, I>; K],
        ys: [&SVector<T, O>; K],
        dys: &[SVector<T, O>; K],
        g: &mut DenseParams<T, I, O>,
    ) -> [SVector<T, I>; K] = dense_backward_batch_in[T, A, I, O, K];

    /// [`super::dense_backward_batch_params`] with the AVX2 instantiation.
    avx2 fn dense_backward_batch_params[T: Float, A: Activation, const I: usize, const O: usize, const K: usize](
        xs: [&SVector<T, I>; K],
        ys: [&SVector<T, O>; K],
        dys: &[SVector<T, O>; K],
        g: &mut DenseParams<T, I, O>,
    ) = dense_backward_batch_params_in[T, A, I, O, K];

    /// [`super::lstm_step`] with the AVX-512 or AVX2 instantiation.
    wide fn lstm_step[T: Float, const F: usize, const H: usize, const GH: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SVector<T, F>,
        s: &mut LstmState<T, H>,
    ) = lstm_step_in[T, F, H, GH];

    /// [`super::lstm`] with the AVX-512 or AVX2 instantiation.
    wide fn lstm[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
    ) -> SVector<T, H> = lstm_in[T, F, H, GH, S];

    /// [`super::lstm_seq`] with the AVX-512 or AVX2 instantiation.
    wide fn lstm_seq[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
    ) -> SMatrix<T, H, S> = lstm_seq_in[T, F, H, GH, S];

    /// [`super::lstm_train`] with the AVX-512 or AVX2 instantiation.
    wide fn lstm_train[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
        tape: &mut LstmTape<T, H, GH, S>,
    ) -> SMatrix<T, H, S> = lstm_train_in[T, F, H, GH, S];

    /// [`super::lstm_backward`] with the AVX-512 or AVX2 instantiation.
    wide fn lstm_backward[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
        tape: &LstmTape<T, H, GH, S>,
        dy: &SMatrix<T, H, S>,
        g: &mut RecurrentParams<T, F, H, GH>,
    ) -> SMatrix<T, F, S> = lstm_backward_in[T, F, H, GH, S];

    /// [`super::lstm_backward_params`] with the AVX-512 or AVX2 instantiation.
    wide fn lstm_backward_params[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
        tape: &LstmTape<T, H, GH, S>,
        dy: &SMatrix<T, H, S>,
        g: &mut RecurrentParams<T, F, H, GH>,
    ) = lstm_backward_params_in[T, F, H, GH, S];

    /// [`super::gru_step`] with the AVX-512 or AVX2 instantiation.
    wide fn gru_step[T: Float, const F: usize, const H: usize, const GH: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SVector<T, F>,
        h: &mut GruState<T, H>,
    ) = gru_step_in[T, F, H, GH];

    /// [`super::gru`] with the AVX-512 or AVX2 instantiation.
    wide fn gru[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
    ) -> SVector<T, H> = gru_in[T, F, H, GH, S];

    /// [`super::gru_seq`] with the AVX-512 or AVX2 instantiation.
    wide fn gru_seq[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
    ) -> SMatrix<T, H, S> = gru_seq_in[T, F, H, GH, S];

    /// [`super::gru_train`] with the AVX-512 or AVX2 instantiation.
    wide fn gru_train[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
        tape: &mut GruTape<T, H, GH, S>,
    ) -> SMatrix<T, H, S> = gru_train_in[T, F, H, GH, S];

    /// [`super::gru_backward`] with the AVX-512 or AVX2 instantiation.
    wide fn gru_backward[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
        tape: &GruTape<T, H, GH, S>,
        dy: &SMatrix<T, H, S>,
        g: &mut RecurrentParams<T, F, H, GH>,
    ) -> SMatrix<T, F, S> = gru_backward_in[T, F, H, GH, S];

    /// [`super::gru_backward_params`] with the AVX-512 or AVX2 instantiation.
    wide fn gru_backward_params[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        x: &SMatrix<T, F, S>,
        tape: &GruTape<T, H, GH, S>,
        dy: &SMatrix<T, H, S>,
        g: &mut RecurrentParams<T, F, H, GH>,
    ) = gru_backward_params_in[T, F, H, GH, S];

    /// [`super::lstm_train_batch`] with the AVX-512 or AVX2 instantiation.
    wide fn lstm_train_batch[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize, const NB: usize](
        p: &RecurrentParams<T, F, H, GH>,
        items: [(&SMatrix<T, F, S>, &mut LstmTape<T, H, GH, S>); NB],
    ) = lstm_train_batch_in[T, F, H, GH, S, NB];

    /// [`super::lstm_backward_batch`] with the AVX-512 or AVX2 instantiation.
    wide fn lstm_backward_batch[T: Float, D: StepGrads<T, H>, const F: usize, const H: usize, const GH: usize, const S: usize, const NB: usize](
        p: &RecurrentParams<T, F, H, GH>,
        tapes: [&LstmTape<T, H, GH, S>; NB],
        items: [(&D, &mut SMatrix<T, GH, S>); NB],
    ) = lstm_backward_batch_in[T, D, F, H, GH, S, NB];

    /// [`super::lstm_backward_batch_params`] with the AVX-512 or AVX2
    /// instantiation.
    wide fn lstm_backward_batch_params['a, T: Float + 'a, const F: usize, const H: usize, const GH: usize, const S: usize](
        items: impl Iterator<Item = (&'a SMatrix<T, F, S>, &'a LstmTape<T, H, GH, S>, &'a SMatrix<T, GH, S>),> + Clone,
        g: &mut RecurrentParams<T, F, H, GH>,
    ) = lstm_backward_batch_params_in[T, F, H, GH, S];

    /// [`super::lstm_backward_batch_dx`] with the AVX-512 or AVX2
    /// instantiation.
    wide fn lstm_backward_batch_dx[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        dz: &SMatrix<T, GH, S>,
    ) -> SMatrix<T, F, S> = lstm_backward_batch_dx_in[T, F, H, GH, S];

    /// [`super::gru_train_batch`] with the AVX-512 or AVX2 instantiation.
    wide fn gru_train_batch[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize, const NB: usize](
        p: &RecurrentParams<T, F, H, GH>,
        items: [(&SMatrix<T, F, S>, &mut GruTape<T, H, GH, S>); NB],
    ) = gru_train_batch_in[T, F, H, GH, S, NB];

    /// [`super::gru_backward_batch`] with the AVX-512 or AVX2 instantiation.
    wide fn gru_backward_batch[T: Float, D: StepGrads<T, H>, const F: usize, const H: usize, const GH: usize, const S: usize, const NB: usize](
        p: &RecurrentParams<T, F, H, GH>,
        tapes: [&GruTape<T, H, GH, S>; NB],
        items: [GruGrads<'_, T, D, H, GH, S>; NB],
    ) = gru_backward_batch_in[T, D, F, H, GH, S, NB];

    /// [`super::gru_backward_batch_params`] with the AVX-512 or AVX2
    /// instantiation.
    wide fn gru_backward_batch_params['a, T: Float + 'a, const F: usize, const H: usize, const GH: usize, const S: usize](
        items: impl Iterator<Item = (&'a SMatrix<T, F, S>, &'a GruTape<T, H, GH, S>, &'a SMatrix<T, GH, S>, &'a SMatrix<T, H, S>),> + Clone,
        g: &mut RecurrentParams<T, F, H, GH>,
    ) = gru_backward_batch_params_in[T, F, H, GH, S];

    /// [`super::gru_backward_batch_dx`] with the AVX-512 or AVX2
    /// instantiation.
    wide fn gru_backward_batch_dx[T: Float, const F: usize, const H: usize, const GH: usize, const S: usize](
        p: &RecurrentParams<T, F, H, GH>,
        di: &SMatrix<T, GH, S>,
    ) -> SMatrix<T, F, S> = lstm_backward_batch_dx_in[T, F, H, GH, S];
}
