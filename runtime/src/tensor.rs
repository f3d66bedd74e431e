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

/// A sequence from and to a plain array of steps, `[[T; F]; S]`: one row
/// of `F` features per step, the DSL's `[steps, features]` order (a
/// NumPy/PyTorch `[steps, features]` array). The sequence's storage *is*
/// that array (one column of the matrix per step), so [`Steps::as_steps`]
/// is zero-copy and [`Steps::from_steps`] a plain copy.
///
/// (Not nalgebra's inherent `Matrix::from_steps`, which takes the rows of
/// the matrix: a sequence's matrix rows are its features, not its steps.)
///
/// ```
/// use staticnet_runtime::{Steps, Sequence};
/// let data: [[f32; 3]; 50] = [[0.5, -1.0, 2.0]; 50]; // 50 steps of 3 features
/// let x = Sequence::<f32, 50, 3>::from_steps(&data);
/// assert_eq!(x[(2, 7)], 2.0); // (feature 2, step 7)
/// assert_eq!(x.as_steps(), &data);
/// ```
pub trait Steps<T, const S: usize, const F: usize> {
    /// The sequence whose step `t` is `steps[t]`.
    fn from_steps(steps: &[[T; F]; S]) -> Self;
    /// The steps, without a copy.
    fn as_steps(&self) -> &[[T; F]; S];
    /// The steps as writable rows, without a copy.
    fn as_steps_mut(&mut self) -> &mut [[T; F]; S];
}

impl<T: crate::Float, const S: usize, const F: usize> Steps<T, S, F> for Sequence<T, S, F> {
    #[inline]
    fn from_steps(steps: &[[T; F]; S]) -> Self {
        // `ArrayStorage` holds the columns, `[[T; rows]; columns]`: a
        // sequence's columns are its steps, so the arrays are the same.
        SMatrix::from_array_storage(nalgebra::ArrayStorage(*steps))
    }
    #[inline]
    fn as_steps(&self) -> &[[T; F]; S] {
        &self.data.0
    }
    #[inline]
    fn as_steps_mut(&mut self) -> &mut [[T; F]; S] {
        &mut self.data.0
    }
}

/// What a sequence model's `forward` takes: a [`Sequence`] of `S` steps of
/// `F` features (by reference, no copy) or the plain array of its steps,
/// `[[T; F]; S]` (copied once into a sequence).
///
/// It exists for the error message. A generated model whose input is
/// `[steps, features]` has an inherent `forward` bounded by this trait, so
/// a value of the wrong shape is reported in the DSL's order — "this model
/// takes a sequence of [steps, features] = [32, 8]" — instead of as
/// nalgebra's `Matrix<T, Const<F>, Const<S>, ..>`, which lists the
/// features first.
///
/// ```
/// use staticnet_runtime::{AsSequence, Sequence, Steps};
/// fn steps<X: AsSequence<f32, 4, 2>>(x: &X) -> usize {
///     x.with_sequence(|s| s.as_steps().len())
/// }
/// assert_eq!(steps(&[[0.0f32; 2]; 4]), 4);
/// assert_eq!(steps(&Sequence::<f32, 4, 2>::zeros()), 4);
/// ```
#[diagnostic::on_unimplemented(
    message = "this model takes a sequence of [steps, features] = [{S}, {F}]; `{Self}` is not one",
    label = "not a sequence of [steps, features] = [{S}, {F}] of `{T}`",
    note = "a `Sequence<T, S, F>` prints as nalgebra's `Matrix<T, Const<F>, Const<S>, ..>` \
            (features first); a plain array `[[T; F]; S]` is S steps of F features"
)]
pub trait AsSequence<T, const S: usize, const F: usize> {
    /// Calls `f` with the sequence.
    fn with_sequence<R>(&self, f: impl FnOnce(&Sequence<T, S, F>) -> R) -> R;
}

impl<T: crate::Float, const S: usize, const F: usize> AsSequence<T, S, F> for Sequence<T, S, F> {
    #[inline(always)]
    fn with_sequence<R>(&self, f: impl FnOnce(&Sequence<T, S, F>) -> R) -> R {
        f(self)
    }
}

impl<T: crate::Float, const S: usize, const F: usize> AsSequence<T, S, F> for [[T; F]; S] {
    #[inline(always)]
    fn with_sequence<R>(&self, f: impl FnOnce(&Sequence<T, S, F>) -> R) -> R {
        f(&Sequence::from_steps(self))
    }
}

/// A vector from and to a plain array `[T; N]` (zero-copy for the
/// reference).
///
/// ```
/// use staticnet_runtime::{VectorArray, Vector};
/// let v = Vector::<f32, 3>::from_array(&[1.0, 2.0, 3.0]);
/// assert_eq!(v.as_array(), &[1.0, 2.0, 3.0]);
/// ```
pub trait VectorArray<T, const N: usize> {
    /// The vector holding `values`.
    fn from_array(values: &[T; N]) -> Self;
    /// The values, without a copy.
    fn as_array(&self) -> &[T; N];
}

impl<T: crate::Float, const N: usize> VectorArray<T, N> for Vector<T, N> {
    #[inline]
    fn from_array(values: &[T; N]) -> Self {
        SMatrix::from_array_storage(nalgebra::ArrayStorage([*values]))
    }
    #[inline]
    fn as_array(&self) -> &[T; N] {
        &self.data.0[0]
    }
}

/// An image from a channels-last array `[height][width][channels]`
/// (Keras' and NumPy/PIL's `HWC` layout) to staticnet's `[channels,
/// height, width]`. An image already in `[C][H][W]` order *is* an
/// [`Image`]: `[[[T; W]; H]; C]`, nothing to convert.
///
/// ```
/// use staticnet_runtime::tensor::{image_from_hwc, image_to_hwc};
/// let mut hwc = [[[0.0f32; 3]; 4]; 2]; // 2 rows, 4 columns, RGB
/// hwc[1][2] = [0.1, 0.2, 0.3];
/// let img = image_from_hwc(&hwc);
/// assert_eq!((img[0][1][2], img[2][1][2]), (0.1, 0.3));
/// assert_eq!(image_to_hwc(&img), hwc);
/// ```
pub fn image_from_hwc<T: Copy + Default, const C: usize, const H: usize, const W: usize>(
    hwc: &[[[T; C]; W]; H],
) -> Image<T, C, H, W> {
    core::array::from_fn(|c| core::array::from_fn(|h| core::array::from_fn(|w| hwc[h][w][c])))
}

/// The inverse of [`image_from_hwc`]: an image in channels-last
/// `[height][width][channels]` order.
pub fn image_to_hwc<T: Copy + Default, const C: usize, const H: usize, const W: usize>(
    img: &Image<T, C, H, W>,
) -> [[[T; C]; W]; H] {
    core::array::from_fn(|h| core::array::from_fn(|w| core::array::from_fn(|c| img[c][h][w])))
}
