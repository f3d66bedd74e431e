//! `Flatten`: image or sequence to a vector in PyTorch order.

use crate::{Float, Image};
use nalgebra::{SMatrix, SVector};

/// Flattens an image `[C, H, W]` to `[C·H·W]` (`N` must equal `C·H·W`).
#[inline]
pub fn flatten_image<T: Float, const C: usize, const H: usize, const W: usize, const N: usize>(
    x: &Image<T, C, H, W>,
) -> SVector<T, N> {
    const { assert!(N == C * H * W, "flatten: N must be C * H * W") };
    SVector::from_column_slice(x.as_flattened().as_flattened())
}

/// Flattens a sequence `[S, F]` to `[S·F]` (`N` must equal `S·F`); the
/// storage order already is PyTorch's.
#[inline]
pub fn flatten_seq<T: Float, const F: usize, const S: usize, const N: usize>(
    x: &SMatrix<T, F, S>,
) -> SVector<T, N> {
    const { assert!(N == F * S, "flatten: N must be S * F") };
    SVector::from_column_slice(x.as_slice())
}
