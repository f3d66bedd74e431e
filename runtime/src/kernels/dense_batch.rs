//! `Dense` on `K` samples at once: the forward and backward a training
//! step runs on a chunk of its batch.
//!
//! Per sample, a `Dense(O)` on `I` inputs reads all of `W` (`O·I` values)
//! in the forward, reads it again for `dL/dx = Wᵀ dz` and reads and writes
//! all of `dW` for `dW += dz xᵀ`. Once `W` outgrows the L1 cache (the
//! textbook CNN's `Dense(64)` on 512 inputs: 128 KiB in `f32`) those passes
//! run at the L2 cache's speed, not the FMA units'. Here every weight and
//! weight gradient is loaded once per `K` samples (in the forward, once per
//! eight: `fit`'s chunk) and used for each from a register:
//!
//! - forward: a block of `R` rows of `W x_k + b` for eight samples at a
//!   time is held in registers while the columns of `W` stream past;
//! - `dW[:, i] += Σ_k dz_k x_k[i]`: the block's `dz_k` stay in registers
//!   while the columns of `dW` stream past;
//! - `dx_k[i] = W[:, i] · dz_k`: each column of `W` is loaded once for the
//!   `K` dot products. For 8 `f32` samples on AVX2 with FMA the products
//!   and their horizontal sums are hand-vectorised (`kernels::simd`: the
//!   eight sums reduced together into one register); elsewhere each is a
//!   portable `blas::dot`. (Vectorising the portable loop across the
//!   samples instead, with `dz` transposed, made LLVM turn the broadcasts
//!   of `W[r, i..i+8]` into gathers or scalar code: 1.3–1.8× slower,
//!   measured in benches/train.rs.)
//!
//! The results equal the per-sample kernels' up to the order of the
//! additions (tests below; the generated code's batched backward is
//! checked against PyTorch in tests/gradient_fixtures.rs).

use super::dispatch::{self, Avx2, Base, Isa};
use crate::{Activation, DenseParams, Float};
use nalgebra::SVector;

/// Rows of `W` per register block: with `K = 8` samples the block's
/// accumulators take `K·R/8` 256-bit registers in `f32`: 16 of AVX-512's
/// 32, 8 of AVX2's 16; on SSE2 (16 registers of 4 `f32`) 8.
#[cfg_attr(not(test), allow(dead_code))]
const R: usize = if cfg!(target_feature = "avx512f") {
    16
} else if cfg!(target_feature = "avx") {
    8
} else {
    4
};

/// [`R`] for instruction set `M` (`R` itself is [`Base`]'s): a constant
/// branch per kernel, for the bodies' const parameter.
macro_rules! rows_for {
    ($m:ty, $body:ident :: < $t:ty, $a:ty, $rb:ident, $($rest:tt)* ) => {
        if <$m>::AVX512 {
            $body::<$t, $a, $m, 16, $($rest)*
        } else if <$m>::AVX {
            $body::<$t, $a, $m, 8, $($rest)*
        } else {
            $body::<$t, $a, $m, 4, $($rest)*
        }
    };
}

/// Below this many outputs the forward and `dL/dx` are computed sample by
/// sample along the inputs ([`few_outputs`], [`dense_backward_batch`]).
const FEW_OUTPUTS: usize = 8;

/// Partial sums of [`few_outputs`]: one 256-bit register of `f32` for
/// `O = 1`.
const LANES: usize = 8;

/// The `I` values of each sample's vector.
#[inline(always)]
fn slices<T: Float, const N: usize, const K: usize>(xs: [&SVector<T, N>; K]) -> [&[T; N]; K] {
    xs.map(|x| &x.data.0[0])
}

/// `Dense` forward on `K` samples: `act(W x_k + b)` for each `x_k`; equal to
/// [`dense`](super::dense) on each (up to rounding order).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn dense_batch<T: Float, A: Activation, const I: usize, const O: usize, const K: usize>(
    p: &DenseParams<T, I, O>,
    xs: [&SVector<T, I>; K],
) -> [SVector<T, O>; K] {
    if let Some(ys) = dispatch::fast(
        #[inline(always)]
        || dense_batch_in::<Avx2, T, A, I, O, K>(p, xs),
    ) {
        return ys;
    }
    dense_batch_in::<Base, T, A, I, O, K>(p, xs)
}

/// [`dense_batch`] instantiated for instruction set `M` (`kernels::avx2`
/// calls it with [`Avx2`] inside the model's AVX2 copy).
#[inline(always)]
pub(crate) fn dense_batch_in<
    M: Isa,
    T: Float,
    A: Activation,
    const I: usize,
    const O: usize,
    const K: usize,
>(
    p: &DenseParams<T, I, O>,
    xs: [&SVector<T, I>; K],
) -> [SVector<T, O>; K] {
    let xs = slices(xs);
    rows_for!(M, forward::<T, A, RB, I, O, K>(p, xs))
}

/// The body of [`dense_batch`], with rows in blocks of `RB`.
#[inline(always)]
fn forward<
    T: Float,
    A: Activation,
    M: Isa,
    const RB: usize,
    const I: usize,
    const O: usize,
    const K: usize,
>(
    p: &DenseParams<T, I, O>,
    xs: [&[T; I]; K],
) -> [SVector<T, O>; K] {
    let w = p.weight.as_slice();
    let b: &[T; O] = &p.bias.data.0[0];
    let mut ys = [[T::zero(); O]; K];
    if O < FEW_OUTPUTS {
        for (y, x) in ys.iter_mut().zip(&xs) {
            few_outputs::<T, M, I, O>(w, b, x, y);
        }
    } else if !(M::FUSED && T::dense_rows(&p.weight.data.0, b, &xs, &mut ys)) {
        // (With AVX-512, `f32`, fused multiply-adds and `O` a multiple of
        // 16, `kernels::simd::zmm::dense_rows` took every row: the same
        // blocks in 512-bit registers, two per sample, the same bits.)
        let r0 = forward_rows::<T, M, RB, I, O, K>(0, w, b, &xs, &mut ys);
        if !O.is_multiple_of(RB) {
            forward_tail::<T, M, I, O, K>(r0, w, b, &xs, &mut ys);
        }
    }
    ys.map(|mut y| {
        A::apply(&mut y);
        SVector::from(y)
    })
}

/// Runs `$body` once for each `$k` in `0..8`, with `$k` a literal: eight
/// samples' statements written out, so that no loop over the samples is
/// left for LLVM to vectorise (see [`forward_rows`]).
macro_rules! each_of_8 {
    ($k:ident => $body:block) => {{
        {
            let $k = 0;
            $body
        }
        {
            let $k = 1;
            $body
        }
        {
            let $k = 2;
            $body
        }
        {
            let $k = 3;
            $body
        }
        {
            let $k = 4;
            $body
        }
        {
            let $k = 5;
            $body
        }
        {
            let $k = 6;
            $body
        }
        {
            let $k = 7;
            $body
        }
    }};
}

/// Rows `r0..` of the batched forward in blocks of `B`; returns the first
/// row not done.
///
/// Eight samples at a time: their eight blocks of `B` sums (one vector
/// register each for `f32`) stay in registers while the columns of `W`
/// stream past, each column's block loaded once for the eight, each
/// `x_k[i]` broadcast. The eight are written out ([`each_of_8`]), not a
/// loop over the samples: as a loop, LLVM's cost model for Zen 4
/// (`-C target-cpu=native` there) vectorised it across the samples
/// instead, gathering `x_k[i]` from the eight tapes and scattering the
/// sums (`vgatherqps`/`vscatterqps`: 76% of W1's layer-major training
/// step, which ran 2.6× slower than sample by sample). What is left of `K`
/// runs sample by sample. Every sum gets the same multiply-adds in the
/// same order (bias first, then the inputs in order) however it is
/// blocked: bit-identical to [`forward_tail`].
#[inline(always)]
fn forward_rows<
    T: Float,
    M: Isa,
    const B: usize,
    const I: usize,
    const O: usize,
    const K: usize,
>(
    mut r0: usize,
    w: &[T],
    b: &[T; O],
    xs: &[&[T; I]; K],
    ys: &mut [[T; O]; K],
) -> usize {
    while r0 + B <= O {
        let mut bias = [T::zero(); B];
        bias.copy_from_slice(&b[r0..r0 + B]);
        let (eights, rest) = xs.as_chunks::<8>();
        let (y_eights, y_rest) = ys.as_chunks_mut::<8>();
        for (x8, y8) in eights.iter().zip(y_eights) {
            let mut acc = [bias; 8];
            for (i, col) in (0..I).zip(w.chunks_exact(O)) {
                let wb = &col[r0..r0 + B];
                each_of_8!(k => {
                    let v = x8[k][i];
                    for (a, &wv) in acc[k].iter_mut().zip(wb) {
                        *a = M::madd(wv, v, *a);
                    }
                });
            }
            for (y, a) in y8.iter_mut().zip(&acc) {
                y[r0..r0 + B].copy_from_slice(a);
            }
        }
        for (x, y) in rest.iter().zip(y_rest) {
            let mut a = bias;
            for (&v, col) in x.iter().zip(w.chunks_exact(O)) {
                for (p, &wv) in a.iter_mut().zip(&col[r0..r0 + B]) {
                    *p = M::madd(wv, v, *p);
                }
            }
            y[r0..r0 + B].copy_from_slice(&a);
        }
        r0 += B;
    }
    r0
}

/// `y = W x + b` for fewer than [`FEW_OUTPUTS`] outputs (a `Dense(1)`
/// head), one sample: as the per-sample `dense` computes it, [`LANES`]
/// inputs at a time with their own partial sums, so the loads of `W` and
/// `x` run along the inputs, contiguously. (As `K` chains of one sum
/// each, LLVM vectorised across the samples and gathered `x_k[i]` from the
/// `K` tapes: `vgatherdps` in native builds. Inlined into the `K`-sample
/// loop it did the same even with the partial sums, so it stays a call:
/// one per sample, for a handful of multiply-adds' worth of code.)
///
/// In a build that dispatches at run time, the fused instantiations
/// (`Avx2`, run only where the CPU has AVX2 and FMA) call a copy compiled
/// for them: a function of its own is not compiled for the features of the
/// AVX2 copy it is called from, and there each fused multiply-add was a
/// call of the library's `fmaf`.
#[inline(always)]
fn few_outputs<T: Float, M: Isa, const I: usize, const O: usize>(
    w: &[T],
    b: &[T; O],
    x: &[T; I],
    y: &mut [T; O],
) {
    #[cfg(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    ))]
    if M::FUSED && dispatch::has_avx2_fma() {
        // SAFETY: `few_outputs_fma` needs AVX2 and FMA, and
        // `has_avx2_fma` just found both on this CPU.
        unsafe { few_outputs_fma::<T, M, I, O>(w, b, x, y) };
        return;
    }
    few_outputs_call::<T, M, I, O>(w, b, x, y);
}

/// [`few_outputs_body`] compiled for AVX2 and FMA.
#[cfg(all(
    feature = "std",
    target_arch = "x86_64",
    not(all(target_feature = "avx2", target_feature = "fma"))
))]
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
fn few_outputs_fma<T: Float, M: Isa, const I: usize, const O: usize>(
    w: &[T],
    b: &[T; O],
    x: &[T; I],
    y: &mut [T; O],
) {
    few_outputs_body::<T, M, I, O>(w, b, x, y);
}

/// [`few_outputs_body`] in a function of its own (see [`few_outputs`]).
#[inline(never)]
fn few_outputs_call<T: Float, M: Isa, const I: usize, const O: usize>(
    w: &[T],
    b: &[T; O],
    x: &[T; I],
    y: &mut [T; O],
) {
    few_outputs_body::<T, M, I, O>(w, b, x, y);
}

/// The body of [`few_outputs`].
#[inline(always)]
fn few_outputs_body<T: Float, M: Isa, const I: usize, const O: usize>(
    w: &[T],
    b: &[T; O],
    x: &[T; I],
    y: &mut [T; O],
) {
    let mut acc = [[T::zero(); O]; LANES];
    let (xb, x_rest) = x.as_chunks::<LANES>();
    let blocks = w.chunks_exact(LANES * O);
    let w_rest = blocks.remainder();
    for (wb, xs) in blocks.zip(xb) {
        for ((a, col), &xi) in acc.iter_mut().zip(wb.chunks_exact(O)).zip(xs) {
            for (ao, &wo) in a.iter_mut().zip(col) {
                *ao = M::madd(wo, xi, *ao);
            }
        }
    }
    for (col, &xi) in w_rest.chunks_exact(O).zip(x_rest) {
        for (ao, &wo) in acc[0].iter_mut().zip(col) {
            *ao = M::madd(wo, xi, *ao);
        }
    }
    *y = *b;
    for a in &acc {
        for (yo, &ao) in y.iter_mut().zip(a) {
            *yo += ao;
        }
    }
}

/// Rows `r0..` (fewer than a register block: what is left of `O` after
/// the blocks) of the batched forward, one sample at a time: for each column of `W` its contiguous run of those rows. Taking
/// them for all `K` samples at once (a block of one row) let LLVM
/// vectorise across the samples, loading `x_k[i]` from the `K` tapes with
/// gathers (`vgatherqps` in `-C target-cpu=native` builds); this way every
/// load is contiguous. The same additions in the same order as a block of
/// one row: bit-identical.
#[inline(always)]
fn forward_tail<T: Float, M: Isa, const I: usize, const O: usize, const K: usize>(
    r0: usize,
    w: &[T],
    b: &[T; O],
    xs: &[&[T; I]; K],
    ys: &mut [[T; O]; K],
) {
    for (y, x) in ys.iter_mut().zip(xs) {
        let y = &mut y[r0..];
        y.copy_from_slice(&b[r0..]);
        for (col, &xv) in w.chunks_exact(O).zip(x.iter()) {
            for (yv, &wv) in y.iter_mut().zip(&col[r0..]) {
                *yv = M::madd(wv, xv, *yv);
            }
        }
    }
}

/// Backward of [`dense_batch`]: adds the `K` samples' `dL/dW` and `dL/db`
/// into `g` and returns each sample's `dL/dx`. `ys` are the activated
/// outputs the training forward kept, `dys` the upstream gradients.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
    if let Some(dx) = dispatch::fast(
        #[inline(always)]
        || dense_backward_batch_in::<Avx2, T, A, I, O, K>(p, xs, ys, dys, g),
    ) {
        return dx;
    }
    dense_backward_batch_in::<Base, T, A, I, O, K>(p, xs, ys, dys, g)
}

/// [`dense_backward_batch`] instantiated for instruction set `M`.
#[inline(always)]
pub(crate) fn dense_backward_batch_in<
    M: Isa,
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
    let xs = slices(xs);
    rows_for!(M, backward::<T, A, RB, I, O, K>(p, xs, ys, dys, g))
}

/// The body of [`dense_backward_batch`], with rows in blocks of `RB`.
#[inline(always)]
fn backward<
    T: Float,
    A: Activation,
    M: Isa,
    const RB: usize,
    const I: usize,
    const O: usize,
    const K: usize,
>(
    p: &DenseParams<T, I, O>,
    xs: [&[T; I]; K],
    ys: [&SVector<T, O>; K],
    dys: &[SVector<T, O>; K],
    g: &mut DenseParams<T, I, O>,
) -> [SVector<T, I>; K] {
    let dz = params::<T, A, M, RB, I, O, K>(xs, ys, dys, g);
    // dx_k[i] = W[:, i] · dz_k: each column of W is read once (from the
    // cache) for the K dot products.
    let mut dx = [[T::zero(); I]; K];
    let w: &[[T; O]; I] = &p.weight.data.0;
    // Eight samples on a target with a hand-vectorised kernel for them
    // (`f32` with AVX2 and FMA): see `kernels::simd`.
    if let (Ok(dz8), Ok(dx8)) = (
        <&[[T; O]; 8]>::try_from(&dz[..]),
        <&mut [[T; I]; 8]>::try_from(&mut dx[..]),
    ) {
        if T::dots8(w, dz8, dx8) {
            return dx.map(SVector::from);
        }
    }
    if O < FEW_OUTPUTS {
        // Short columns (a `Dense(1)` head): sample by sample, so that
        // `dx_k` is written contiguously (column by column across the `K`
        // samples, LLVM vectorised over the samples with gathers and
        // scattered stores). Each value is the same dot product.
        for (x, d) in dx.iter_mut().zip(&dz) {
            for (xv, col) in x.iter_mut().zip(w) {
                *xv = dot::<T, M>(col, d);
            }
        }
    } else {
        for (i, col) in w.iter().enumerate() {
            for (x, d) in dx.iter_mut().zip(&dz) {
                x[i] = dot::<T, M>(col, d);
            }
        }
    }
    dx.map(SVector::from)
}

/// [`dense_backward_batch`] without `dL/dx`, for a network's first layer.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
    if dispatch::fast(
        #[inline(always)]
        || dense_backward_batch_params_in::<Avx2, T, A, I, O, K>(xs, ys, dys, g),
    )
    .is_some()
    {
        return;
    }
    dense_backward_batch_params_in::<Base, T, A, I, O, K>(xs, ys, dys, g);
}

/// [`dense_backward_batch_params`] instantiated for instruction set `M`.
#[inline(always)]
pub(crate) fn dense_backward_batch_params_in<
    M: Isa,
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
    let xs = slices(xs);
    rows_for!(M, params::<T, A, RB, I, O, K>(xs, ys, dys, g));
}

/// `dz_k = act'(y_k) ⊙ dy_k`, `db += Σ dz_k`, `dW += Σ dz_k x_kᵀ`; returns
/// the `dz_k`.
#[inline(always)]
fn params<
    T: Float,
    A: Activation,
    M: Isa,
    const RB: usize,
    const I: usize,
    const O: usize,
    const K: usize,
>(
    xs: [&[T; I]; K],
    ys: [&SVector<T, O>; K],
    dys: &[SVector<T, O>; K],
    g: &mut DenseParams<T, I, O>,
) -> [[T; O]; K] {
    let mut dz = [[T::zero(); O]; K];
    for ((d, y), dy) in dz.iter_mut().zip(ys).zip(dys) {
        d.copy_from_slice(dy.as_slice());
        A::backward(y.as_slice(), d);
        for (b, &v) in g.bias.as_mut_slice().iter_mut().zip(d.iter()) {
            *b += v;
        }
    }
    // Eight samples on a target with a hand-vectorised kernel for them
    // (`f32` with AVX2 and FMA): see `kernels::simd`.
    if let (Ok(xs8), Ok(dz8)) = (
        <&[&[T; I]; 8]>::try_from(&xs[..]),
        <&[[T; O]; 8]>::try_from(&dz[..]),
    ) {
        if T::outer8(&mut g.weight.data.0, xs8, dz8) {
            return dz;
        }
    }
    let gw = g.weight.as_mut_slice();
    let r0 = weight_rows::<T, M, RB, I, O, K>(0, gw, &xs, &dz);
    if !O.is_multiple_of(RB) {
        weight_tail::<T, M, I, O, K>(r0, gw, &xs, &dz);
    }
    dz
}

/// `Σ w_k d_k` as [`blas::dot`](super::blas::dot) computes it (16 partial
/// sums), with `M`'s multiply-add.
#[inline(always)]
fn dot<T: Float, M: Isa>(w: &[T], d: &[T]) -> T {
    const LANES: usize = 16;
    let mut acc = [T::zero(); LANES];
    let (cw, cd) = (w.as_chunks::<LANES>(), d.as_chunks::<LANES>());
    for (ws, ds) in cw.0.iter().zip(cd.0) {
        for ((s, &wv), &dv) in acc.iter_mut().zip(ws).zip(ds) {
            *s = M::madd(wv, dv, *s);
        }
    }
    let mut tail = T::zero();
    for (&wv, &dv) in cw.1.iter().zip(cd.1) {
        tail = M::madd(wv, dv, tail);
    }
    super::blas::reduce(&acc) + tail
}

/// Rows `r0..` of `dW += Σ_k dz_k x_kᵀ` in blocks of `B`; returns the first
/// row not done.
#[inline(always)]
fn weight_rows<T: Float, M: Isa, const B: usize, const I: usize, const O: usize, const K: usize>(
    mut r0: usize,
    gw: &mut [T],
    xs: &[&[T; I]; K],
    dz: &[[T; O]; K],
) -> usize {
    while r0 + B <= O {
        let mut d = [[T::zero(); B]; K];
        for (db, dk) in d.iter_mut().zip(dz) {
            db.copy_from_slice(&dk[r0..r0 + B]);
        }
        for (i, col) in (0..I).zip(gw.chunks_exact_mut(O)) {
            let gb = &mut col[r0..r0 + B];
            let mut acc = [T::zero(); B];
            acc.copy_from_slice(gb);
            for (db, x) in d.iter().zip(xs) {
                let xv = x[i];
                for (a, &dv) in acc.iter_mut().zip(db) {
                    *a = M::madd(dv, xv, *a);
                }
            }
            gb.copy_from_slice(&acc);
        }
        r0 += B;
    }
    r0
}

/// Rows `r0..` (fewer than a register block) of `dW += Σ_k dz_k x_kᵀ`, one
/// sample at a time, each column's run of those rows contiguous (for one
/// row, as in a `Dense(1)` head, a contiguous `dW += dz_k x_k` over the
/// columns); see [`forward_tail`] for why not all samples at once. Every
/// weight gradient gets the same additions in the same order (sample by
/// sample) as in [`weight_rows`]: bit-identical.
#[inline(always)]
fn weight_tail<T: Float, M: Isa, const I: usize, const O: usize, const K: usize>(
    r0: usize,
    gw: &mut [T],
    xs: &[&[T; I]; K],
    dz: &[[T; O]; K],
) {
    for (d, x) in dz.iter().zip(xs) {
        let d = &d[r0..];
        for (col, &xv) in gw.chunks_exact_mut(O).zip(x.iter()) {
            for (gv, &dv) in col[r0..].iter_mut().zip(d) {
                *gv = M::madd(dv, xv, *gv);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Linear, Relu, Sigmoid, Softmax};
    use crate::init::Rng;
    use crate::kernels::{dense, dense_backward, dense_backward_params};

    fn random<const N: usize>(rng: &mut Rng) -> SVector<f64, N> {
        SVector::from_fn(|_, _| rng.normal())
    }

    /// The batched kernels against the per-sample ones on `K` random
    /// samples: outputs, summed parameter gradients and each `dL/dx`.
    fn agrees<A: Activation, const I: usize, const O: usize, const K: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut p = DenseParams::<f64, I, O>::zeros();
        p.weight = nalgebra::SMatrix::from_fn(|_, _| rng.normal());
        p.bias = random(&mut rng);
        let xs: [SVector<f64, I>; K] = core::array::from_fn(|_| random(&mut rng));
        let dys: [SVector<f64, O>; K] = core::array::from_fn(|_| random(&mut rng));
        let ys = dense_batch::<f64, A, I, O, K>(&p, xs.each_ref());
        let mut g = DenseParams::zeros();
        let dx =
            dense_backward_batch::<f64, A, I, O, K>(&p, xs.each_ref(), ys.each_ref(), &dys, &mut g);
        let mut g_params = DenseParams::zeros();
        dense_backward_batch_params::<f64, A, I, O, K>(
            xs.each_ref(),
            ys.each_ref(),
            &dys,
            &mut g_params,
        );
        let mut want = DenseParams::zeros();
        let mut want_params = DenseParams::zeros();
        for k in 0..K {
            let y = dense::<f64, A, I, O>(&p, &xs[k]);
            assert!((y - ys[k]).norm() < 1e-12, "y[{k}]");
            let d = dense_backward::<f64, A, I, O>(&p, &xs[k], &y, &dys[k], &mut want);
            assert!((d - dx[k]).norm() < 1e-12, "dx[{k}]");
            dense_backward_params::<f64, A, I, O>(&xs[k], &y, &dys[k], &mut want_params);
        }
        for (got, what) in [(&g, "backward"), (&g_params, "params")] {
            assert!((got.weight - want.weight).norm() < 1e-12, "{what} dW");
            assert!((got.bias - want.bias).norm() < 1e-12, "{what} db");
        }
        assert_eq!(want_params, want, "per-sample params-only equals backward");
        // Not vacuous: every sample contributes.
        assert!(want.weight.norm() > 1e-3);
    }

    /// `f32`, eight samples, rows a multiple of 8: the hand-vectorised
    /// `dL/dx` of `kernels::simd` where the build has AVX2 and FMA (the
    /// portable loop elsewhere), against the per-sample kernel.
    #[test]
    fn batched_dense_f32_eight_samples() {
        let mut rng = Rng::new(9);
        let mut p = DenseParams::<f32, 19, 24>::zeros();
        p.weight = nalgebra::SMatrix::from_fn(|_, _| rng.normal() as f32);
        let xs: [SVector<f32, 19>; 8] =
            core::array::from_fn(|_| SVector::from_fn(|_, _| rng.normal() as f32));
        let dys: [SVector<f32, 24>; 8] =
            core::array::from_fn(|_| SVector::from_fn(|_, _| rng.normal() as f32));
        let ys = dense_batch::<f32, Relu, 19, 24, 8>(&p, xs.each_ref());
        let mut g = DenseParams::zeros();
        let dx = dense_backward_batch::<f32, Relu, 19, 24, 8>(
            &p,
            xs.each_ref(),
            ys.each_ref(),
            &dys,
            &mut g,
        );
        let mut want = DenseParams::zeros();
        for k in 0..8 {
            let d = dense_backward::<f32, Relu, 19, 24>(&p, &xs[k], &ys[k], &dys[k], &mut want);
            for (a, b) in d.iter().zip(dx[k].iter()) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                    "dx[{k}]: {a} vs {b}"
                );
            }
            assert!(d.norm() > 1e-2, "dx[{k}] is not trivially zero");
        }
        assert!((g.weight - want.weight).norm() <= 1e-4 * (1.0 + want.weight.norm()));
    }

    /// `f32`, eight samples, rows a multiple of 8: the weight gradient of
    /// `kernels::simd`'s `outer8` (where the CPU has AVX2 and FMA) is the
    /// fused portable loop's bit for bit, on a gradient that already holds
    /// sums, and both are the `f64` triple loop's up to `f32` rounding.
    #[test]
    fn outer8_is_the_fused_portable_loop() {
        const I: usize = 21;
        const O: usize = 24;
        let mut rng = Rng::new(31);
        let xs: [[f32; I]; 8] =
            core::array::from_fn(|_| core::array::from_fn(|_| rng.normal() as f32));
        let dz: [[f32; O]; 8] =
            core::array::from_fn(|_| core::array::from_fn(|_| rng.normal() as f32));
        let start: [[f32; O]; I] =
            core::array::from_fn(|_| core::array::from_fn(|_| rng.normal() as f32));
        let xr = xs.each_ref();
        let mut got = start;
        let ran = <f32 as Float>::outer8::<O, I>(&mut got, &xr, &dz);
        let mut portable = start;
        let done = weight_rows::<f32, Avx2, 8, I, O, 8>(0, portable.as_flattened_mut(), &xr, &dz);
        assert_eq!(done, O);
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        assert_eq!(
            ran,
            !cfg!(target_feature = "avx512f")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
        );
        if !ran {
            assert_eq!(got, start, "no kernel: nothing changed");
            got = portable;
        }
        assert_eq!(got, portable, "bit-identical to the fused portable loop");
        for i in 0..I {
            for r in 0..O {
                let want = f64::from(start[i][r])
                    + (0..8)
                        .map(|k| f64::from(dz[k][r]) * f64::from(xs[k][i]))
                        .sum::<f64>();
                let g = f64::from(got[i][r]);
                assert!(
                    (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "dW[{i}][{r}]: {g} vs {want}"
                );
            }
        }
    }

    /// `f32`, rows a multiple of 16 (blocks of 32 and a block of 16): the
    /// 512-bit weight gradient and forward (`kernels::simd::zmm`, where
    /// the CPU has AVX-512F) are the fused portable loops' bit for bit,
    /// eight samples at a time and one by one (`K = 13`), on a gradient
    /// that already holds sums; and `Float::outer8` / the AVX2 instantiation
    /// of the forward take them exactly where the CPU has AVX-512F and
    /// dispatch to it is on.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[test]
    fn zmm_dense_kernels_are_the_fused_portable_bits() {
        fn case<const I: usize, const O: usize>(seed: u64) {
            const K: usize = 13;
            let mut rng = Rng::new(seed);
            let mut u = || rng.normal() as f32;
            let xs: [[f32; I]; K] = core::array::from_fn(|_| core::array::from_fn(|_| u()));
            let dz: [[f32; O]; 8] = core::array::from_fn(|_| core::array::from_fn(|_| u()));
            let w: [[f32; O]; I] = core::array::from_fn(|_| core::array::from_fn(|_| u()));
            let b: [f32; O] = core::array::from_fn(|_| u());
            let xr: [&[f32; I]; K] = xs.each_ref();
            let x8: [&[f32; I]; 8] = core::array::from_fn(|k| xr[k]);
            // Portable, fused (`Avx2::madd`), blocks of 8 rows.
            let mut want_gw = w;
            weight_rows::<f32, Avx2, 8, I, O, 8>(0, want_gw.as_flattened_mut(), &x8, &dz);
            let mut want_y = [[0.0f32; O]; K];
            forward_rows::<f32, Avx2, 8, I, O, K>(0, w.as_flattened(), &b, &xr, &mut want_y);
            let wide = std::is_x86_feature_detected!("avx512f");
            if wide {
                let mut gw = w;
                let mut y = [[0.0f32; O]; K];
                // SAFETY: the CPU has AVX-512F (checked above).
                unsafe {
                    crate::kernels::simd::zmm::outer8(&mut gw, &x8, &dz);
                    crate::kernels::simd::zmm::dense_rows(&w, &b, &xr, &mut y);
                }
                assert_eq!(gw, want_gw, "outer8, O = {O}");
                assert_eq!(y, want_y, "dense_rows, O = {O}");
            } else {
                eprintln!("no AVX-512F on this CPU: the 512-bit kernels were not run");
            }
            let mut gw = w;
            let took = <f32 as Float>::outer8::<O, I>(&mut gw, &x8, &dz);
            let mut y = [[0.0f32; O]; K];
            let took_rows = <f32 as Float>::dense_rows(&w, &b, &xr, &mut y);
            let expect = wide && (cfg!(target_feature = "avx512f") || crate::dispatch::avx512());
            assert_eq!(took_rows, expect, "dense_rows taken");
            if took_rows {
                assert_eq!(y, want_y);
            }
            if took {
                assert_eq!(gw, want_gw);
            }
            assert!(took || !expect, "outer8 taken");
            // Not vacuous: the gradient moved.
            assert_ne!(want_gw, w);
        }
        case::<21, 48>(41);
        case::<5, 64>(42);
        case::<1, 16>(43);
    }

    #[test]
    fn batched_dense_equals_per_sample() {
        // Row counts on and off the register block, column counts on and
        // off the dx block, one sample and several.
        agrees::<Relu, 130, 40, 8>(1);
        agrees::<Linear, 19, 37, 3>(2);
        agrees::<Sigmoid, 8, 1, 5>(3);
        agrees::<Softmax, 9, 10, 1>(4);
        agrees::<Relu, 1, 16, 2>(5);
        // A Dense(1) head on 8 samples (the gather-free few-outputs forms)
        // and a few outputs off every block size.
        agrees::<Sigmoid, 64, 1, 8>(6);
        agrees::<Linear, 33, 5, 8>(7);
    }

    /// Both bodies (the portable one with a multiply and an add, the
    /// run-time clone's with fused multiply-adds, here run without the
    /// clone) against the naive triple loop in `f64`, whatever this CPU
    /// and build select: forward, `dL/dW`, `dL/db` and `dL/dx`, for row
    /// counts that exercise the register blocks, their tails and the
    /// few-outputs forms.
    #[allow(clippy::needless_range_loop)] // the naive loops index on purpose
    fn bodies_match_naive<const I: usize, const O: usize, const K: usize>(seed: u64) {
        let mut rng = Rng::new(seed);
        let mut p = DenseParams::<f64, I, O>::zeros();
        p.weight = nalgebra::SMatrix::from_fn(|_, _| rng.normal());
        p.bias = random(&mut rng);
        let xs: [SVector<f64, I>; K] = core::array::from_fn(|_| random(&mut rng));
        let dys: [SVector<f64, O>; K] = core::array::from_fn(|_| random(&mut rng));
        // Naive: y = W x + b; dW = Σ dy xᵀ, db = Σ dy, dx = Wᵀ dy (Linear).
        let mut want_gw = [[0.0; O]; I];
        let mut want_gb = [0.0; O];
        for k in 0..K {
            for r in 0..O {
                let mut y = p.bias[r];
                for i in 0..I {
                    y += p.weight[(r, i)] * xs[k][i];
                    want_gw[i][r] += dys[k][r] * xs[k][i];
                }
                want_gb[r] += dys[k][r];
                let got_f = forward::<f64, Linear, Avx2, 8, I, O, K>(&p, slices(xs.each_ref()));
                let got_u = forward::<f64, Linear, Base, R, I, O, K>(&p, slices(xs.each_ref()));
                assert!((got_f[k][r] - y).abs() < 1e-12, "fused y[{k}][{r}]");
                assert!((got_u[k][r] - y).abs() < 1e-12, "unfused y[{k}][{r}]");
            }
        }
        let ys = dense_batch::<f64, Linear, I, O, K>(&p, xs.each_ref());
        let mut g_f = DenseParams::zeros();
        let mut g_u = DenseParams::zeros();
        let dx_f = backward::<f64, Linear, Avx2, 8, I, O, K>(
            &p,
            slices(xs.each_ref()),
            ys.each_ref(),
            &dys,
            &mut g_f,
        );
        let dx_u = backward::<f64, Linear, Base, R, I, O, K>(
            &p,
            slices(xs.each_ref()),
            ys.each_ref(),
            &dys,
            &mut g_u,
        );
        for (g, what) in [(&g_f, "fused"), (&g_u, "unfused")] {
            for i in 0..I {
                for r in 0..O {
                    assert!(
                        (g.weight[(r, i)] - want_gw[i][r]).abs() < 1e-12,
                        "{what} dW"
                    );
                }
            }
            for r in 0..O {
                assert!((g.bias[r] - want_gb[r]).abs() < 1e-12, "{what} db");
            }
        }
        for k in 0..K {
            for i in 0..I {
                let want: f64 = (0..O).map(|r| p.weight[(r, i)] * dys[k][r]).sum();
                assert!((dx_f[k][i] - want).abs() < 1e-12, "fused dx[{k}][{i}]");
                assert!((dx_u[k][i] - want).abs() < 1e-12, "unfused dx[{k}][{i}]");
            }
        }
        assert!(g_u.weight.norm() > 1e-3, "not vacuous");
    }

    #[test]
    fn both_bodies_match_the_naive_loops() {
        bodies_match_naive::<64, 1, 8>(11);
        bodies_match_naive::<13, 5, 8>(12);
        bodies_match_naive::<20, 19, 8>(13);
        bodies_match_naive::<17, 40, 3>(14);
        bodies_match_naive::<9, 70, 13>(15);
    }

    /// The forward's sums come out the same bits whatever the row block
    /// (`B`) and whether a sample runs among eight or alone (`K = 13`:
    /// eight and five), equal to the sample-by-sample tail's.
    #[test]
    fn blockings_are_bit_identical() {
        fn case<const I: usize, const O: usize, const K: usize>(seed: u64) {
            let mut rng = Rng::new(seed);
            let mut p = DenseParams::<f32, I, O>::zeros();
            p.weight = nalgebra::SMatrix::from_fn(|_, _| rng.normal() as f32);
            p.bias = SVector::from_fn(|_, _| rng.normal() as f32);
            let xs: [SVector<f32, I>; K] =
                core::array::from_fn(|_| SVector::from_fn(|_, _| rng.normal() as f32));
            let xs = slices(xs.each_ref());
            let (w, b) = (p.weight.as_slice(), &p.bias.data.0[0]);
            let mut tail = [[0.0f32; O]; K];
            forward_tail::<f32, Base, I, O, K>(0, w, b, &xs, &mut tail);
            let by_16 = forward::<f32, Linear, Base, 16, I, O, K>(&p, xs);
            let by_4 = forward::<f32, Linear, Base, 4, I, O, K>(&p, xs);
            for k in 0..K {
                assert_eq!(by_16[k].as_slice(), &tail[k][..], "B = 16, sample {k}");
                assert_eq!(by_4[k].as_slice(), &tail[k][..], "B = 4, sample {k}");
            }
        }
        case::<33, 21, 13>(31);
        case::<40, 64, 8>(32);
        case::<7, 9, 1>(33);
    }

    /// Where the build dispatches and the CPU has AVX2 and FMA, the batched
    /// kernels run the clone; either way their results are the portable
    /// body's up to rounding, and the portable body's few-outputs forward
    /// is bit-identical to the per-sample `dense`.
    #[test]
    fn dispatched_equals_portable() {
        let mut rng = Rng::new(21);
        let mut p = DenseParams::<f32, 64, 1>::zeros();
        p.weight = nalgebra::SMatrix::from_fn(|_, _| rng.normal() as f32);
        let xs: [SVector<f32, 64>; 8] =
            core::array::from_fn(|_| SVector::from_fn(|_, _| rng.normal() as f32));
        let got = dense_batch::<f32, Linear, 64, 1, 8>(&p, xs.each_ref());
        let portable = forward::<f32, Linear, Base, R, 64, 1, 8>(&p, slices(xs.each_ref()));
        for k in 0..8 {
            let one = dense::<f32, Linear, 64, 1>(&p, &xs[k]);
            assert_eq!(one, portable[k], "bit-identical to dense, sample {k}");
            assert!((got[k][0] - one[0]).abs() <= 1e-5 * (1.0 + one[0].abs()));
        }
        assert_eq!(
            dispatch::fast(|| ()).is_some(),
            dispatch::ENABLED && !cfg!(debug_assertions) && dispatch::has_avx2_fma()
        );
    }
}
