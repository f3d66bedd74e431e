//! `Flatten`: image or sequence to a vector in PyTorch order, and back for
//! the backward pass.
//!
//! An [`Image`] `[[[T; W]; H]; C]` is stored row-major `[C, H, W]` and a
//! sequence `SMatrix<T, F, S>` column-major with one step per column, which
//! is row-major `[S, F]`: both storage orders already are PyTorch's flat
//! order, so flattening is a copy.

use crate::{Float, Image};
use nalgebra::{SMatrix, SVector};

/// Copies `src` into `dst` value by value (equal lengths by the callers'
/// const asserts; `zip` keeps it panic-free regardless).
#[inline(always)]
fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s;
    }
}

/// Flattens an image `[C, H, W]` to `[C·H·W]` (`N` must equal `C·H·W`).
#[inline]
pub fn flatten_image<T: Float, const C: usize, const H: usize, const W: usize, const N: usize>(
    x: &Image<T, C, H, W>,
) -> SVector<T, N> {
    const { assert!(N == C * H * W, "flatten: N must be C * H * W") };
    let mut y = SVector::<T, N>::zeros();
    copy(y.as_mut_slice(), x.as_flattened().as_flattened());
    y
}

/// Flattens a sequence `[S, F]` to `[S·F]` (`N` must equal `S·F`); the
/// storage order already is PyTorch's.
#[inline]
pub fn flatten_seq<T: Float, const F: usize, const S: usize, const N: usize>(
    x: &SMatrix<T, F, S>,
) -> SVector<T, N> {
    const { assert!(N == F * S, "flatten: N must be S * F") };
    let mut y = SVector::<T, N>::zeros();
    copy(y.as_mut_slice(), x.as_slice());
    y
}

/// Backward of [`flatten_image`]: reshapes `dL/dy` back to `[C, H, W]`.
#[inline]
pub fn flatten_image_backward<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const N: usize,
>(
    dy: &SVector<T, N>,
) -> Image<T, C, H, W> {
    const { assert!(N == C * H * W, "flatten: N must be C * H * W") };
    let mut dx = [[[T::zero(); W]; H]; C];
    copy(dx.as_flattened_mut().as_flattened_mut(), dy.as_slice());
    dx
}

/// Backward of [`flatten_seq`]: reshapes `dL/dy` back to `[S, F]`.
#[inline]
pub fn flatten_seq_backward<T: Float, const F: usize, const S: usize, const N: usize>(
    dy: &SVector<T, N>,
) -> SMatrix<T, F, S> {
    const { assert!(N == F * S, "flatten: N must be S * F") };
    let mut dx = SMatrix::<T, F, S>::zeros();
    copy(dx.as_mut_slice(), dy.as_slice());
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_flattens_in_pytorch_order() {
        // x[c][h][w] = 100c + 10h + w; PyTorch's flat index is (c·H + h)·W + w.
        let mut x = [[[0.0f32; 3]; 2]; 2];
        for (c, xc) in x.iter_mut().enumerate() {
            for (h, xr) in xc.iter_mut().enumerate() {
                for (w, v) in xr.iter_mut().enumerate() {
                    *v = (100 * c + 10 * h + w) as f32;
                }
            }
        }
        let y = flatten_image::<f32, 2, 2, 3, 12>(&x);
        let want = [
            0., 1., 2., 10., 11., 12., 100., 101., 102., 110., 111., 112.,
        ];
        assert_eq!(y.as_slice(), &want);
        assert_eq!(flatten_image_backward::<f32, 2, 2, 3, 12>(&y), x);
    }

    #[test]
    fn sequence_flattens_in_pytorch_order() {
        // [S, F] = [3, 2], x[t][f] = 10t + f; PyTorch's flat index is t·F + f.
        let x = SMatrix::<f64, 2, 3>::from_fn(|f, t| (10 * t + f) as f64);
        let y = flatten_seq::<f64, 2, 3, 6>(&x);
        assert_eq!(y.as_slice(), &[0.0, 1.0, 10.0, 11.0, 20.0, 21.0]);
        assert_eq!(flatten_seq_backward::<f64, 2, 3, 6>(&y), x);
    }
}
