//! The merge layers: `Add`, `Multiply` (element-wise over inputs of one
//! shape) and `Concatenate` (images along channels, vectors and sequences
//! along features), and their backward passes.
//!
//! A graph's node read by several layers gets the sum of their gradients
//! ([`accumulate`](super::accumulate)); these are the layers that read
//! several nodes.

use crate::{Float, Image, Tensor};
use nalgebra::SMatrix;

/// `Σ xs`, element-wise, in the order given (as PyTorch's `a + b + c`).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn add<T: Float, X: Tensor<T>, const N: usize>(xs: [&X; N]) -> X {
    let mut y = X::zeros();
    add_into::<T, X, N>(xs, &mut y);
    y
}

/// [`add`] written into `y`, for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn add_into<T: Float, X: Tensor<T>, const N: usize>(xs: [&X; N], y: &mut X) {
    const { assert!(N >= 2, "add: a merge has at least two inputs") };
    *y = *xs[0];
    for x in &xs[1..] {
        for (a, &b) in y.as_flat_mut().iter_mut().zip(x.as_flat()) {
            *a += b;
        }
    }
}

/// `Π xs`, element-wise, in the order given.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn multiply<T: Float, X: Tensor<T>, const N: usize>(xs: [&X; N]) -> X {
    let mut y = X::zeros();
    multiply_into::<T, X, N>(xs, &mut y);
    y
}

/// [`multiply`] written into `y`, for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn multiply_into<T: Float, X: Tensor<T>, const N: usize>(xs: [&X; N], y: &mut X) {
    const { assert!(N >= 2, "multiply: a merge has at least two inputs") };
    *y = *xs[0];
    for x in &xs[1..] {
        for (a, &b) in y.as_flat_mut().iter_mut().zip(x.as_flat()) {
            *a *= b;
        }
    }
}

/// dL/d(input `i`) of [`multiply`]: `dy ⊙ Π_{j≠i} x_j` (the product of the
/// other inputs, in order, so a zero input is handled exactly).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn multiply_backward<T: Float, X: Tensor<T>, const N: usize>(
    xs: [&X; N],
    dy: &X,
    i: usize,
) -> X {
    let mut d = *dy;
    for (j, x) in xs.iter().enumerate() {
        if j != i {
            for (a, &b) in d.as_flat_mut().iter_mut().zip(x.as_flat()) {
                *a *= b;
            }
        }
    }
    d
}

/// Vectors or sequences joined along their features: `[t, A]` and `[t, B]`
/// give `[t, A + B]` (each step's features of `a`, then of `b`).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn concat_features<T: Float, const A: usize, const B: usize, const F: usize, const S: usize>(
    a: &SMatrix<T, A, S>,
    b: &SMatrix<T, B, S>,
) -> SMatrix<T, F, S> {
    let mut y = SMatrix::<T, F, S>::zeros();
    concat_features_into::<T, A, B, F, S>(a, b, &mut y);
    y
}

/// [`concat_features`] written into `y`, for recording straight into a
/// tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn concat_features_into<
    T: Float,
    const A: usize,
    const B: usize,
    const F: usize,
    const S: usize,
>(
    a: &SMatrix<T, A, S>,
    b: &SMatrix<T, B, S>,
    y: &mut SMatrix<T, F, S>,
) {
    const { assert!(A + B == F, "concat_features: F must be A + B") };
    for t in 0..S {
        y.fixed_view_mut::<A, 1>(0, t).copy_from(&a.column(t));
        y.fixed_view_mut::<B, 1>(A, t).copy_from(&b.column(t));
    }
}

/// Backward of [`concat_features`]: the parts of `dy` that came from `a`
/// (`first`) or from `b`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn concat_features_backward<
    T: Float,
    const A: usize,
    const B: usize,
    const F: usize,
    const S: usize,
>(
    dy: &SMatrix<T, F, S>,
) -> (SMatrix<T, A, S>, SMatrix<T, B, S>) {
    const { assert!(A + B == F, "concat_features: F must be A + B") };
    (
        dy.fixed_view::<A, S>(0, 0).into_owned(),
        dy.fixed_view::<B, S>(A, 0).into_owned(),
    )
}

/// Images joined along their channels: `[A, h, w]` and `[B, h, w]` give
/// `[A + B, h, w]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn concat_channels<
    T: Float,
    const A: usize,
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
>(
    a: &Image<T, A, H, W>,
    b: &Image<T, B, H, W>,
) -> Image<T, C, H, W> {
    let mut y = [[[T::zero(); W]; H]; C];
    concat_channels_into::<T, A, B, C, H, W>(a, b, &mut y);
    y
}

/// [`concat_channels`] written into `y`, for recording straight into a
/// tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn concat_channels_into<
    T: Float,
    const A: usize,
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
>(
    a: &Image<T, A, H, W>,
    b: &Image<T, B, H, W>,
    y: &mut Image<T, C, H, W>,
) {
    const { assert!(A + B == C, "concat_channels: C must be A + B") };
    let (ya, yb) = y.split_at_mut(A);
    ya.copy_from_slice(a);
    yb.copy_from_slice(b);
}

/// Backward of [`concat_channels`].
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn concat_channels_backward<
    T: Float,
    const A: usize,
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
>(
    dy: &Image<T, C, H, W>,
) -> (Image<T, A, H, W>, Image<T, B, H, W>) {
    const { assert!(A + B == C, "concat_channels: C must be A + B") };
    let mut da = [[[T::zero(); W]; H]; A];
    let mut db = [[[T::zero(); W]; H]; B];
    da.copy_from_slice(&dy[..A]);
    db.copy_from_slice(&dy[A..]);
    (da, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{SMatrix, SVector};

    #[test]
    fn add_and_multiply_by_hand() {
        let a = SVector::<f64, 3>::new(1.0, -2.0, 0.5);
        let b = SVector::<f64, 3>::new(4.0, 0.0, -2.0);
        let c = SVector::<f64, 3>::new(0.5, 3.0, 1.0);
        assert_eq!(add([&a, &b, &c]), SVector::<f64, 3>::new(5.5, 1.0, -0.5));
        assert_eq!(
            multiply([&a, &b, &c]),
            SVector::<f64, 3>::new(2.0, 0.0, -1.0)
        );
        let dy = SVector::<f64, 3>::new(1.0, 2.0, -1.0);
        // d/db of a·b·c is a·c, even where b is zero.
        assert_eq!(
            multiply_backward([&a, &b, &c], &dy, 1),
            SVector::<f64, 3>::new(0.5, -12.0, -0.5)
        );
    }

    #[test]
    fn concatenation_and_its_backward_by_hand() {
        // Two steps: a has 1 feature, b has 2.
        let a = SMatrix::<f64, 1, 2>::new(1.0, 2.0);
        let b = SMatrix::<f64, 2, 2>::new(10.0, 20.0, 11.0, 21.0);
        let y = concat_features::<f64, 1, 2, 3, 2>(&a, &b);
        assert_eq!(
            y,
            SMatrix::<f64, 3, 2>::new(1.0, 2.0, 10.0, 20.0, 11.0, 21.0)
        );
        let (da, db) = concat_features_backward::<f64, 1, 2, 3, 2>(&y);
        assert_eq!((da, db), (a, b));

        let ia: Image<f64, 1, 1, 2> = [[[1.0, 2.0]]];
        let ib: Image<f64, 2, 1, 2> = [[[3.0, 4.0]], [[5.0, 6.0]]];
        let iy = concat_channels::<f64, 1, 2, 3, 1, 2>(&ia, &ib);
        assert_eq!(iy, [[[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]]]);
        assert_eq!(
            concat_channels_backward::<f64, 1, 2, 3, 1, 2>(&iy),
            (ia, ib)
        );
    }
}
