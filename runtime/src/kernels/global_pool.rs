//! `GlobalAvgPool` and `GlobalMaxPool`: the mean or maximum of every
//! channel of an image (`[C, H, W]` → `[C]`, PyTorch's
//! `adaptive_avg_pool2d(x, 1)` / `adaptive_max_pool2d(x, 1)` flattened) or
//! of every feature of a sequence over its steps (`[S, F]` → `[F]`,
//! Keras' `GlobalAveragePooling1D` / `GlobalMaxPooling1D`), and their
//! backward passes.
//!
//! The maximum's gradient goes to the first maximum in PyTorch's flat
//! order (row-major over a channel's plane; the earliest step of a
//! sequence), which is the index PyTorch's max-pooling argmax keeps: it
//! replaces its running maximum only by a strictly larger value (or a NaN,
//! which propagates).

use crate::{Float, Image};
use nalgebra::{SMatrix, SVector};

/// The index and value of the first maximum of `v` (a NaN counts as the
/// maximum, as in PyTorch); `(0, v[0])` for ties at the start.
#[inline(always)]
#[allow(clippy::eq_op)]
fn first_max<T: Float>(v: impl Iterator<Item = T>) -> (usize, T) {
    let mut best: Option<(usize, T)> = None;
    for (i, x) in v.enumerate() {
        match best {
            Some((_, m)) if !(x > m || (x != x && m == m)) => {}
            _ => best = Some((i, x)),
        }
    }
    best.unwrap_or((0, T::zero()))
}

/// Global average pooling of an image: the mean of each channel.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn global_avg_pool2d<T: Float, const C: usize, const H: usize, const W: usize>(
    x: &Image<T, C, H, W>,
) -> SVector<T, C> {
    let n = T::of_f64((H * W) as f64);
    SVector::from(x.map(|c| c.as_flattened().iter().fold(T::zero(), |a, &v| a + v) / n))
}

/// Backward of [`global_avg_pool2d`]: every pixel of channel `c` receives
/// `dy[c] / (H·W)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn global_avg_pool2d_backward<T: Float, const C: usize, const H: usize, const W: usize>(
    dy: &SVector<T, C>,
) -> Image<T, C, H, W> {
    let n = T::of_f64((H * W) as f64);
    core::array::from_fn(|c| [[dy[c] / n; W]; H])
}

/// Global max pooling of an image: the maximum of each channel (NaN
/// propagates).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn global_max_pool2d<T: Float, const C: usize, const H: usize, const W: usize>(
    x: &Image<T, C, H, W>,
) -> SVector<T, C> {
    SVector::from(x.map(|c| first_max(c.as_flattened().iter().copied()).1))
}

/// Backward of [`global_max_pool2d`]: `dy[c]` goes to the first maximum of
/// channel `c` (row-major), every other pixel receives zero.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn global_max_pool2d_backward<T: Float, const C: usize, const H: usize, const W: usize>(
    x: &Image<T, C, H, W>,
    dy: &SVector<T, C>,
) -> Image<T, C, H, W> {
    let mut dx = [[[T::zero(); W]; H]; C];
    for (c, (dxc, xc)) in dx.iter_mut().zip(x).enumerate() {
        let (k, _) = first_max(xc.as_flattened().iter().copied());
        if let Some(d) = dxc.as_flattened_mut().get_mut(k) {
            *d = dy[c];
        }
    }
    dx
}

/// Global average pooling of a sequence `[S, F]` (one column per step):
/// the mean of each feature over the steps.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn global_avg_pool1d<T: Float, const F: usize, const S: usize>(
    x: &SMatrix<T, F, S>,
) -> SVector<T, F> {
    let n = T::of_f64(S as f64);
    let mut y = [T::zero(); F];
    for step in x.as_slice().chunks_exact(F) {
        for (a, &v) in y.iter_mut().zip(step) {
            *a += v;
        }
    }
    SVector::from(y.map(|v| v / n))
}

/// Backward of [`global_avg_pool1d`]: every step receives `dy / S`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn global_avg_pool1d_backward<T: Float, const F: usize, const S: usize>(
    dy: &SVector<T, F>,
) -> SMatrix<T, F, S> {
    let n = T::of_f64(S as f64);
    let col = dy.map(|v| v / n);
    SMatrix::from_fn(|f, _| col[f])
}

/// Global max pooling of a sequence: the maximum of each feature over the
/// steps (NaN propagates).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn global_max_pool1d<T: Float, const F: usize, const S: usize>(
    x: &SMatrix<T, F, S>,
) -> SVector<T, F> {
    SVector::from_fn(|f, _| first_max(x.row(f).iter().copied()).1)
}

/// Backward of [`global_max_pool1d`]: `dy[f]` goes to the first step at
/// which feature `f` is largest, every other step receives zero.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn global_max_pool1d_backward<T: Float, const F: usize, const S: usize>(
    x: &SMatrix<T, F, S>,
    dy: &SVector<T, F>,
) -> SMatrix<T, F, S> {
    let mut dx = SMatrix::<T, F, S>::zeros();
    for f in 0..F {
        let (t, _) = first_max(x.row(f).iter().copied());
        dx[(f, t)] = dy[f];
    }
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;
    use crate::kernels::testutil::{check_grad, dot, fill};
    use crate::Tensor;

    #[test]
    fn images_by_hand() {
        // Channel 0: mean (1+2+3+4+5+6)/6 = 3.5, max 6 at (1, 2).
        // Channel 1: ties: the maximum 2 first at (0, 1), again at (1, 0).
        let x: Image<f64, 2, 2, 3> = [
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
            [[-1.0, 2.0, 0.0], [2.0, -3.0, 1.0]],
        ];
        assert_eq!(global_avg_pool2d(&x).as_slice(), &[3.5, 1.0 / 6.0]);
        assert_eq!(global_max_pool2d(&x).as_slice(), &[6.0, 2.0]);
        let dy = SVector::<f64, 2>::new(6.0, -1.0);
        let dx = global_avg_pool2d_backward::<f64, 2, 2, 3>(&dy);
        assert_eq!(dx, [[[1.0; 3]; 2], [[-1.0 / 6.0; 3]; 2]]);
        let dx = global_max_pool2d_backward(&x, &dy);
        assert_eq!(
            dx,
            [
                [[0.0, 0.0, 0.0], [0.0, 0.0, 6.0]],
                [[0.0, -1.0, 0.0], [0.0, 0.0, 0.0]]
            ]
        );
        // NaN propagates, and takes the gradient.
        let n: Image<f64, 1, 1, 3> = [[[1.0, f64::NAN, 3.0]]];
        assert!(global_max_pool2d(&n)[0].is_nan());
        let d = global_max_pool2d_backward(&n, &SVector::<f64, 1>::new(1.0));
        assert_eq!(d, [[[0.0, 1.0, 0.0]]]);
    }

    #[test]
    fn sequences_by_hand() {
        // [S = 3, F = 2]: steps (1, 5), (4, 5), (4, −2): feature 0 max 4
        // first at step 1, feature 1 max 5 first at step 0.
        let x = SMatrix::<f64, 2, 3>::from_column_slice(&[1.0, 5.0, 4.0, 5.0, 4.0, -2.0]);
        assert_eq!(global_avg_pool1d(&x).as_slice(), &[3.0, 8.0 / 3.0]);
        assert_eq!(global_max_pool1d(&x).as_slice(), &[4.0, 5.0]);
        let dy = SVector::<f64, 2>::new(3.0, 1.5);
        assert_eq!(
            global_avg_pool1d_backward::<f64, 2, 3>(&dy).as_slice(),
            &[1.0, 0.5, 1.0, 0.5, 1.0, 0.5]
        );
        assert_eq!(
            global_max_pool1d_backward(&x, &dy).as_slice(),
            &[0.0, 1.5, 3.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(21);
        let mut x = <Image<f64, 3, 4, 5> as Tensor<f64>>::zeros();
        fill(&mut rng, x.as_flat_mut());
        let mut r = SVector::<f64, 3>::zeros();
        fill(&mut rng, r.as_mut_slice());
        let avg = global_avg_pool2d_backward::<f64, 3, 4, 5>(&r);
        let loss = |q: &Image<f64, 3, 4, 5>| dot(r.as_slice(), global_avg_pool2d(q).as_slice());
        check_grad("avg2d", &x, |q| q.as_flat_mut(), loss, avg.as_flat());
        let max = global_max_pool2d_backward(&x, &r);
        let loss = |q: &Image<f64, 3, 4, 5>| dot(r.as_slice(), global_max_pool2d(q).as_slice());
        check_grad("max2d", &x, |q| q.as_flat_mut(), loss, max.as_flat());

        let mut s = SMatrix::<f64, 3, 7>::zeros();
        fill(&mut rng, s.as_mut_slice());
        let avg = global_avg_pool1d_backward::<f64, 3, 7>(&r);
        let loss = |q: &SMatrix<f64, 3, 7>| dot(r.as_slice(), global_avg_pool1d(q).as_slice());
        check_grad("avg1d", &s, |q| q.as_mut_slice(), loss, avg.as_slice());
        let max = global_max_pool1d_backward(&s, &r);
        let loss = |q: &SMatrix<f64, 3, 7>| dot(r.as_slice(), global_max_pool1d(q).as_slice());
        check_grad("max1d", &s, |q| q.as_mut_slice(), loss, max.as_slice());
    }
}
