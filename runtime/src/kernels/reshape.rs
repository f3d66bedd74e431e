//! `Flatten`: image or sequence to a vector in PyTorch order, and back for
//! the backward pass.
//!
//! An [`Image`] `[[[T; W]; H]; C]` is stored row-major `[C, H, W]` and a
//! sequence `SMatrix<T, F, S>` column-major with one step per column, which
//! is row-major `[S, F]`: both storage orders already are PyTorch's flat
//! order, so flattening is a copy.

use crate::{Float, Image, Tensor};
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn flatten_image<T: Float, const C: usize, const H: usize, const W: usize, const N: usize>(
    x: &Image<T, C, H, W>,
) -> SVector<T, N> {
    const { assert!(N == C * H * W, "flatten: N must be C * H * W") };
    let mut y = SVector::<T, N>::zeros();
    copy(y.as_mut_slice(), x.as_flattened().as_flattened());
    y
}

/// The vector `[C·H·W]` seen as the image `[C, H, W]` whose flat order
/// (PyTorch's) it is: the same memory, no copy (`N` must equal `C·H·W`).
/// What the generated inference forward gives a layer read only by a
/// `Flatten` to write its output into, so that the flattened vector is
/// never copied. `None` only if the sizes disagreed, which the const
/// assert rules out.
#[inline(always)]
pub fn image_of_mut<T: Float, const C: usize, const H: usize, const W: usize, const N: usize>(
    v: &mut SVector<T, N>,
) -> Option<&mut Image<T, C, H, W>> {
    const { assert!(N == C * H * W, "flatten: N must be C * H * W") };
    let (rows, _) = v.as_mut_slice().as_chunks_mut::<W>();
    let (channels, _) = rows.as_chunks_mut::<H>();
    channels.try_into().ok()
}

/// Flattens a sequence `[S, F]` to `[S·F]` (`N` must equal `S·F`); the
/// storage order already is PyTorch's.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn flatten_seq<T: Float, const F: usize, const S: usize, const N: usize>(
    x: &SMatrix<T, F, S>,
) -> SVector<T, N> {
    const { assert!(N == F * S, "flatten: N must be S * F") };
    let mut y = SVector::<T, N>::zeros();
    copy(y.as_mut_slice(), x.as_slice());
    y
}

/// [`flatten_image`] written into `y`, for recording straight into a
/// tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn flatten_image_into<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const N: usize,
>(
    x: &Image<T, C, H, W>,
    y: &mut SVector<T, N>,
) {
    const { assert!(N == C * H * W, "flatten: N must be C * H * W") };
    copy(y.as_mut_slice(), x.as_flattened().as_flattened());
}

/// [`flatten_seq`] written into `y`, for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn flatten_seq_into<T: Float, const F: usize, const S: usize, const N: usize>(
    x: &SMatrix<T, F, S>,
    y: &mut SVector<T, N>,
) {
    const { assert!(N == F * S, "flatten: N must be S * F") };
    copy(y.as_mut_slice(), x.as_slice());
}

/// Backward of [`flatten_image`]: reshapes `dL/dy` back to `[C, H, W]`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
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
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn flatten_seq_backward<T: Float, const F: usize, const S: usize, const N: usize>(
    dy: &SVector<T, N>,
) -> SMatrix<T, F, S> {
    const { assert!(N == F * S, "flatten: N must be S * F") };
    let mut dx = SMatrix::<T, F, S>::zeros();
    copy(dx.as_mut_slice(), dy.as_slice());
    dx
}

/// `Reshape`: any tensor to any other with the same number of values, in
/// PyTorch's flat order (which is every tensor's storage order, so this is
/// a copy); also its own backward, `reshape::<T, Y, X>(dy)`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn reshape<T: Float, X: Tensor<T>, Y: Tensor<T>>(x: &X) -> Y {
    const { assert!(X::LEN == Y::LEN, "reshape: the element counts differ") };
    let mut y = Y::zeros();
    copy(y.as_flat_mut(), x.as_flat());
    y
}

/// [`reshape`] (and so [`flatten_image`] and [`flatten_seq`], which are
/// reshapes) written into `y`, for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn reshape_into<T: Float, X: Tensor<T>, Y: Tensor<T>>(x: &X, y: &mut Y) {
    const { assert!(X::LEN == Y::LEN, "reshape: the element counts differ") };
    copy(y.as_flat_mut(), x.as_flat());
}

/// The size relations of an image permutation: `(A0, A1, A2)` is a
/// permutation of `(0, 1, 2)` and output axis `k` has input axis `Ak`'s size.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
const fn permutes(dims: [usize; 3], axes: [usize; 3], out: [usize; 3]) -> bool {
    let mut seen = [false; 3];
    let mut k = 0;
    while k < 3 {
        if axes[k] >= 3 || seen[axes[k]] || dims[axes[k]] != out[k] {
            return false;
        }
        seen[axes[k]] = true;
        k += 1;
    }
    true
}

/// `Permute([A0, A1, A2])` of an image `[C, H, W]`: output axis `k` is
/// input axis `Ak`, so `y[i0][i1][i2] = x[j0][j1][j2]` with `j_{Ak} = ik`
/// (PyTorch's `x.permute(A0, A1, A2)` without the batch axis). The output
/// sizes `[O0, O1, O2]` are `[C, H, W]` permuted.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn permute_image<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const A0: usize,
    const A1: usize,
    const A2: usize,
    const O0: usize,
    const O1: usize,
    const O2: usize,
>(
    x: &Image<T, C, H, W>,
) -> Image<T, O0, O1, O2> {
    let mut y = [[[T::zero(); O2]; O1]; O0];
    permute_image_into::<T, C, H, W, A0, A1, A2, O0, O1, O2>(x, &mut y);
    y
}

/// [`permute_image`] written into `y` (every value is overwritten), for
/// recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn permute_image_into<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const A0: usize,
    const A1: usize,
    const A2: usize,
    const O0: usize,
    const O1: usize,
    const O2: usize,
>(
    x: &Image<T, C, H, W>,
    y: &mut Image<T, O0, O1, O2>,
) {
    const {
        assert!(
            permutes([C, H, W], [A0, A1, A2], [O0, O1, O2]),
            "permute: the axes must be a permutation and the output sizes the permuted input sizes"
        )
    };
    for (i0, y0) in y.iter_mut().enumerate() {
        for (i1, y1) in y0.iter_mut().enumerate() {
            for (i2, v) in y1.iter_mut().enumerate() {
                let mut j = [0usize; 3];
                j[A0] = i0;
                j[A1] = i1;
                j[A2] = i2;
                *v = x[j[0]][j[1]][j[2]];
            }
        }
    }
}

/// Backward of [`permute_image`]: `dx[j0][j1][j2] = dy[i0][i1][i2]`, the
/// inverse permutation.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn permute_image_backward<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const A0: usize,
    const A1: usize,
    const A2: usize,
    const O0: usize,
    const O1: usize,
    const O2: usize,
>(
    dy: &Image<T, O0, O1, O2>,
) -> Image<T, C, H, W> {
    const {
        assert!(
            permutes([C, H, W], [A0, A1, A2], [O0, O1, O2]),
            "permute: the axes must be a permutation and the output sizes the permuted input sizes"
        )
    };
    let mut dx = [[[T::zero(); W]; H]; C];
    for (i0, d0) in dy.iter().enumerate() {
        for (i1, d1) in d0.iter().enumerate() {
            for (i2, &d) in d1.iter().enumerate() {
                let mut j = [0usize; 3];
                j[A0] = i0;
                j[A1] = i1;
                j[A2] = i2;
                dx[j[0]][j[1]][j[2]] = d;
            }
        }
    }
    dx
}

/// `Permute([1, 0])` of a sequence `[S, F]`: the sequence `[F, S]` (a
/// transpose; its backward is the same transpose, [`permute_seq`] with the
/// sizes swapped).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn permute_seq<T: Float, const F: usize, const S: usize>(
    x: &SMatrix<T, F, S>,
) -> SMatrix<T, S, F> {
    x.transpose()
}

/// [`permute_seq`] written into `y`, for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub fn permute_seq_into<T: Float, const F: usize, const S: usize>(
    x: &SMatrix<T, F, S>,
    y: &mut SMatrix<T, S, F>,
) {
    x.transpose_to(y);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_of_mut_is_the_flat_order() {
        // Writing x[c][h][w] = 100c + 10h + w through the view puts it at
        // PyTorch's flat index (c·H + h)·W + w of the vector.
        let mut v = SVector::<f64, 24>::zeros();
        let img = image_of_mut::<f64, 2, 3, 4, 24>(&mut v).expect("2·3·4 = 24");
        for (c, xc) in img.iter_mut().enumerate() {
            for (h, xr) in xc.iter_mut().enumerate() {
                for (w, x) in xr.iter_mut().enumerate() {
                    *x = (100 * c + 10 * h + w) as f64;
                }
            }
        }
        for (i, &x) in v.iter().enumerate() {
            let (c, h, w) = (i / 12, i / 4 % 3, i % 4);
            assert_eq!(x, (100 * c + 10 * h + w) as f64, "index {i}");
        }
    }

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

    #[test]
    fn permute_image_by_hand() {
        // x[c][h][w] = 100c + 10h + w, [C, H, W] = [2, 3, 4]; Permute([2, 0, 1])
        // gives [W, C, H] with y[w][c][h] = x[c][h][w].
        let mut x = [[[0.0f64; 4]; 3]; 2];
        for (c, xc) in x.iter_mut().enumerate() {
            for (h, xr) in xc.iter_mut().enumerate() {
                for (w, v) in xr.iter_mut().enumerate() {
                    *v = (100 * c + 10 * h + w) as f64;
                }
            }
        }
        let y = permute_image::<f64, 2, 3, 4, 2, 0, 1, 4, 2, 3>(&x);
        assert_eq!(y[3][1][2], 123.0);
        assert_eq!(y[0][1][0], 100.0);
        assert_eq!(y[1][0][2], 21.0);
        // The first values in flat order: w = 0, c = 0, h = 0..3, then c = 1.
        assert_eq!(
            &y.as_flattened().as_flattened()[..6],
            &[0., 10., 20., 100., 110., 120.]
        );
        assert_eq!(
            permute_image_backward::<f64, 2, 3, 4, 2, 0, 1, 4, 2, 3>(&y),
            x
        );
        // Permute([1, 0, 2]) on [c, h, w] → [h, c, w].
        let z = permute_image::<f64, 2, 3, 4, 1, 0, 2, 3, 2, 4>(&x);
        assert_eq!(z[2][1][3], 123.0);
    }

    #[test]
    fn permute_backward_is_the_adjoint() {
        // Σ r ⊙ P(x) = Σ Pᵀ(r) ⊙ x for every x and r: with one-hot x this is
        // the finite-difference check of a linear map (exact, no step).
        let mut r = [[[0.0f64; 3]; 2]; 4];
        for (k, v) in r
            .as_flattened_mut()
            .as_flattened_mut()
            .iter_mut()
            .enumerate()
        {
            *v = (k * k % 7) as f64 - 3.0;
        }
        let dx = permute_image_backward::<f64, 3, 4, 2, 1, 2, 0, 4, 2, 3>(&r);
        for k in 0..24 {
            let mut x = [[[0.0f64; 2]; 4]; 3];
            x.as_flattened_mut().as_flattened_mut()[k] = 1.0;
            let y = permute_image::<f64, 3, 4, 2, 1, 2, 0, 4, 2, 3>(&x);
            let l: f64 = y
                .as_flattened()
                .as_flattened()
                .iter()
                .zip(r.as_flattened().as_flattened())
                .map(|(a, b)| a * b)
                .sum();
            assert_eq!(l, dx.as_flattened().as_flattened()[k], "[{k}]");
        }
    }

    #[test]
    fn reshape_keeps_flat_order() {
        // [2, 3, 4] image → [6, 4] sequence → [24] vector → back.
        let flat: Vec<f64> = (0..24).map(f64::from).collect();
        let x: Image<f64, 2, 3, 4> = Tensor::from_flat(&flat).unwrap();
        let s: SMatrix<f64, 4, 6> = reshape::<f64, _, _>(&x);
        // Step t = 1 holds x[0][1][..] = 4, 5, 6, 7.
        assert_eq!(s.column(1).as_slice(), &[4., 5., 6., 7.]);
        let v: SVector<f64, 24> = reshape::<f64, _, _>(&s);
        assert_eq!(v.as_slice(), &flat[..]);
        let back: Image<f64, 2, 3, 4> = reshape::<f64, _, _>(&v);
        assert_eq!(back, x);
        let t = permute_seq::<f64, 4, 6>(&s);
        assert_eq!(t[(1, 2)], s[(2, 1)]);
        assert_eq!(permute_seq::<f64, 6, 4>(&t), s);
    }
}
