//! `Dense` on `K` samples at once: the forward and backward a training
//! step runs on a chunk of its batch.
//!
//! Per sample, a `Dense(O)` on `I` inputs reads all of `W` (`O·I` values)
//! in the forward, reads it again for `dL/dx = Wᵀ dz` and reads and writes
//! all of `dW` for `dW += dz xᵀ`. Once `W` outgrows the L1 cache (the
//! textbook CNN's `Dense(64)` on 512 inputs: 128 KiB in `f32`) those passes
//! run at the L2 cache's speed, not the FMA units'. Here every weight and
//! weight gradient is loaded once per `K` samples and used `K` times from a
//! register:
//!
//! - forward: a block of `R` rows of `W x_k + b` for all `K` samples is held
//!   in registers while the columns of `W` stream past;
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

use super::blas::madd;
use crate::{Activation, DenseParams, Float};
use nalgebra::SVector;

/// Rows of `W` per register block: with `K = 8` samples the block's
/// accumulators take `K·R/8` 256-bit registers in `f32`: 16 of AVX-512's
/// 32, 8 of AVX2's 16; on SSE2 (16 registers of 4 `f32`) 8.
const R: usize = if cfg!(target_feature = "avx512f") {
    16
} else if cfg!(target_feature = "avx") {
    8
} else {
    4
};

/// The `I` values of each sample's vector.
#[inline(always)]
fn slices<T: Float, const N: usize, const K: usize>(xs: [&SVector<T, N>; K]) -> [&[T; N]; K] {
    xs.map(|x| &x.data.0[0])
}

/// `Dense` forward on `K` samples: `act(W x_k + b)` for each `x_k`; equal to
/// [`dense`](super::dense) on each (up to rounding order).
#[inline]
pub fn dense_batch<T: Float, A: Activation, const I: usize, const O: usize, const K: usize>(
    p: &DenseParams<T, I, O>,
    xs: [&SVector<T, I>; K],
) -> [SVector<T, O>; K] {
    let xs = slices(xs);
    let w = p.weight.as_slice();
    let b: &[T; O] = &p.bias.data.0[0];
    let mut ys = [[T::zero(); O]; K];
    let r0 = forward_rows::<T, R, I, O, K>(0, w, b, &xs, &mut ys);
    if !O.is_multiple_of(R) {
        forward_rows::<T, 1, I, O, K>(r0, w, b, &xs, &mut ys);
    }
    ys.map(|mut y| {
        A::apply(&mut y);
        SVector::from(y)
    })
}

/// Rows `r0..` of the batched forward in blocks of `B`; returns the first
/// row not done.
#[inline(always)]
fn forward_rows<T: Float, const B: usize, const I: usize, const O: usize, const K: usize>(
    mut r0: usize,
    w: &[T],
    b: &[T; O],
    xs: &[&[T; I]; K],
    ys: &mut [[T; O]; K],
) -> usize {
    while r0 + B <= O {
        let mut acc = [[T::zero(); B]; K];
        for a in acc.iter_mut() {
            a.copy_from_slice(&b[r0..r0 + B]);
        }
        for (i, col) in (0..I).zip(w.chunks_exact(O)) {
            let wb = &col[r0..r0 + B];
            for (a, x) in acc.iter_mut().zip(xs) {
                let xv = x[i];
                for (av, &wv) in a.iter_mut().zip(wb) {
                    *av = madd(wv, xv, *av);
                }
            }
        }
        for (y, a) in ys.iter_mut().zip(&acc) {
            y[r0..r0 + B].copy_from_slice(a);
        }
        r0 += B;
    }
    r0
}

/// Backward of [`dense_batch`]: adds the `K` samples' `dL/dW` and `dL/db`
/// into `g` and returns each sample's `dL/dx`. `ys` are the activated
/// outputs the training forward kept, `dys` the upstream gradients.
#[inline]
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
    let dz = params::<T, A, I, O, K>(slices(xs), ys, dys, g);
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
    for (i, col) in w.iter().enumerate() {
        for (x, d) in dx.iter_mut().zip(&dz) {
            x[i] = super::blas::dot(col, d);
        }
    }
    dx.map(SVector::from)
}

/// [`dense_backward_batch`] without `dL/dx`, for a network's first layer.
#[inline]
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
    params::<T, A, I, O, K>(slices(xs), ys, dys, g);
}

/// `dz_k = act'(y_k) ⊙ dy_k`, `db += Σ dz_k`, `dW += Σ dz_k x_kᵀ`; returns
/// the `dz_k`.
#[inline(always)]
fn params<T: Float, A: Activation, const I: usize, const O: usize, const K: usize>(
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
    let gw = g.weight.as_mut_slice();
    let r0 = weight_rows::<T, R, I, O, K>(0, gw, &xs, &dz);
    if !O.is_multiple_of(R) {
        weight_rows::<T, 1, I, O, K>(r0, gw, &xs, &dz);
    }
    dz
}

/// Rows `r0..` of `dW += Σ_k dz_k x_kᵀ` in blocks of `B`; returns the first
/// row not done.
#[inline(always)]
fn weight_rows<T: Float, const B: usize, const I: usize, const O: usize, const K: usize>(
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
                    *a = madd(dv, xv, *a);
                }
            }
            gb.copy_from_slice(&acc);
        }
        r0 += B;
    }
    r0
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

    #[test]
    fn batched_dense_equals_per_sample() {
        // Row counts on and off the register block, column counts on and
        // off the dx block, one sample and several.
        agrees::<Relu, 130, 40, 8>(1);
        agrees::<Linear, 19, 37, 3>(2);
        agrees::<Sigmoid, 8, 1, 5>(3);
        agrees::<Softmax, 9, 10, 1>(4);
        agrees::<Relu, 1, 16, 2>(5);
    }
}
