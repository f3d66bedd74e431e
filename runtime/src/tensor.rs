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

/// How a tensor's values group into class distributions: the axis that a
/// softmax runs over and that the categorical losses and metrics score
/// (Keras' last axis; PyTorch's `CrossEntropyLoss` class dimension).
///
/// The flat (PyTorch-order) index of class `k` of distribution `g` is
/// `((g / inner) · classes + k) · inner + g % inner`:
///
/// | tensor | distributions | `outer` | `classes` | `inner` |
/// |---|---|---|---|---|
/// | vector `[n]` | one | 1 | n | 1 |
/// | sequence `[steps, features]` | one per step | steps | features | 1 |
/// | image `[channels, h, w]` | one per pixel | 1 | channels | h · w |
///
/// ```
/// use staticnet_runtime::{Sequence, Tensor};
/// let c = <Sequence<f32, 10, 3> as Tensor<f32>>::CLASSES;
/// assert_eq!((c.groups(), c.classes), (10, 3));
/// assert_eq!(c.index(2, 1), 2 * 3 + 1); // step 2, class 1
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classes {
    /// Distributions along the leading axis (steps of a sequence).
    pub outer: usize,
    /// Values per distribution.
    pub classes: usize,
    /// Distributions along the trailing axes (pixels of an image), which
    /// are also the distance between two classes of one distribution.
    pub inner: usize,
}

impl Classes {
    /// One distribution over `n` contiguous values.
    pub const fn single(n: usize) -> Self {
        Classes {
            outer: 1,
            classes: n,
            inner: 1,
        }
    }
    /// Number of distributions.
    pub const fn groups(&self) -> usize {
        self.outer * self.inner
    }
    /// The flat index of class `k` of distribution `g`.
    #[inline]
    pub const fn index(&self, g: usize, k: usize) -> usize {
        ((g / self.inner) * self.classes + k) * self.inner + g % self.inner
    }
}

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
    /// How the values group into class distributions (see [`Classes`]).
    const CLASSES: Classes = Classes::single(Self::LEN);
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
    // A vector is one column; a sequence has one column (one step's
    // features, contiguous) per step.
    const CLASSES: Classes = Classes {
        outer: C,
        classes: R,
        inner: 1,
    };
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
    // Softmax runs over the channels of each pixel (Keras' axis).
    const CLASSES: Classes = Classes {
        outer: 1,
        classes: C,
        inner: H * W,
    };
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
