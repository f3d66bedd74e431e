//! Statically shaped tensors and their conversion from and to flat slices in
//! PyTorch order.

use nalgebra::{SMatrix, SVector};

/// A vector `[n]`.
pub type Vector<T, const N: usize> = SVector<T, N>;

/// A sequence `[steps, features]`: column `t` holds step `t`, so the storage
/// order (column-major) is PyTorch's row-major `[steps, features]` order.
pub type Sequence<T, const S: usize, const F: usize> = SMatrix<T, F, S>;

/// An image `[channels, height, width]`, indexed `x[c][h][w]` as in PyTorch.
pub type Image<T, const C: usize, const H: usize, const W: usize> = [[[T; W]; H]; C];

/// A flat slice did not have the length a tensor needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// Number of values the tensor holds.
    pub expected: usize,
    /// Number of values given.
    pub found: usize,
}

impl core::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "expected {} values, found {}", self.expected, self.found)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ShapeError {}

/// A statically shaped tensor whose values can be read and written as one
/// flat slice in PyTorch (row-major) order.
///
/// ```
/// use staticnet_runtime::{Image, Tensor};
/// let flat: Vec<f32> = (0..12).map(|i| i as f32).collect();
/// let img: Image<f32, 1, 3, 4> = Tensor::from_flat(&flat).unwrap();
/// assert_eq!(img[0][1][2], 6.0); // [c, h, w] = [0, 1, 2] -> 1 * 4 + 2
/// assert_eq!(img.as_flat(), &flat[..]);
/// ```
pub trait Tensor<T: Copy>: Sized + Copy + core::fmt::Debug {
    /// Number of values.
    const LEN: usize;
    /// A tensor of zeros.
    fn zeros() -> Self;
    /// The values in PyTorch order.
    fn as_flat(&self) -> &[T];
    /// The values in PyTorch order, writable.
    fn as_flat_mut(&mut self) -> &mut [T];
    /// Builds a tensor from values in PyTorch order; the slice must have
    /// exactly [`Tensor::LEN`] values.
    fn from_flat(values: &[T]) -> Result<Self, ShapeError> {
        if values.len() != Self::LEN {
            return Err(ShapeError {
                expected: Self::LEN,
                found: values.len(),
            });
        }
        let mut t = Self::zeros();
        t.as_flat_mut().copy_from_slice(values);
        Ok(t)
    }
}

impl<T: crate::Float, const R: usize, const C: usize> Tensor<T> for SMatrix<T, R, C> {
    const LEN: usize = R * C;
    #[inline]
    fn zeros() -> Self {
        SMatrix::zeros()
    }
    #[inline]
    fn as_flat(&self) -> &[T] {
        self.as_slice()
    }
    #[inline]
    fn as_flat_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: crate::Float, const C: usize, const H: usize, const W: usize> Tensor<T>
    for [[[T; W]; H]; C]
{
    const LEN: usize = C * H * W;
    #[inline]
    fn zeros() -> Self {
        [[[T::zero(); W]; H]; C]
    }
    #[inline]
    fn as_flat(&self) -> &[T] {
        self.as_flattened().as_flattened()
    }
    #[inline]
    fn as_flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut().as_flattened_mut()
    }
}
