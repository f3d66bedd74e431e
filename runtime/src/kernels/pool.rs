//! `MaxPool2d` and `AvgPool2d` (no padding, floor: a ragged edge is dropped,
//! as in Keras and PyTorch), and their backward passes.
//!
//! Windows are walked with iterators (`skip`/`take` over the rows and
//! columns of one channel), so there is no indexing to check; the const
//! asserts guarantee every window lies inside the input.

use super::geometry::{In, Kernel, Out, Stride};
use crate::{Float, Image};
use core::marker::PhantomData;

/// `true` if `v` is NaN (`T` has no `is_nan` through `RealField`); one
/// unordered compare, which vectorises (`partial_cmp` does not).
#[inline(always)]
#[allow(clippy::eq_op)]
fn is_nan<T: Float>(v: T) -> bool {
    v != v
}

/// `max(m, v)` that lets a NaN `v` through (PyTorch's rule), as a select.
#[inline(always)]
fn max_nan<T: Float>(m: T, v: T) -> T {
    if v > m || is_nan(v) {
        v
    } else {
        m
    }
}

/// Whether `v` is the window maximum `m` (equal, or both NaN), as
/// `max_pool2d_backward` finds the input an output came from.
#[inline(always)]
fn is_max<T: Float>(v: T, m: T) -> bool {
    (v == m) | (is_nan(v) & is_nan(m))
}

/// The window of output `(i, j)` in one channel, as `KH` rows of `KW`.
#[inline(always)]
fn window<T, const H: usize, const W: usize>(
    xc: &[[T; W]; H],
    (i, j): (usize, usize),
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
) -> impl Iterator<Item = impl Iterator<Item = &T>> {
    xc.iter()
        .skip(i * sh)
        .take(kh)
        .map(move |r| r.iter().skip(j * sw).take(kw))
}

/// Max pooling with window `KH×KW` and stride `SH×SW`; NaN propagates, as
/// in PyTorch.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
) -> Image<T, C, OH, OW> {
    let mut y = [[[T::zero(); OW]; OH]; C];
    max_pool2d_into::<T, C, H, W, KH, KW, SH, SW, OH, OW>(x, &mut y);
    y
}

/// [`max_pool2d`] writing its output into `y` (every value is overwritten),
/// for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d_into<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
    y: &mut Image<T, C, OH, OW>,
) {
    const {
        assert!(
            OH >= 1 && (OH - 1) * SH + KH <= H,
            "max_pool2d: window rows out of range"
        );
        assert!(
            OW >= 1 && (OW - 1) * SW + KW <= W,
            "max_pool2d: window columns out of range"
        );
    };
    // 2 × 2 windows tiling the input with the target's kernel (`f32` on
    // 32-bit Arm with hardware float): the same comparisons in the same
    // order; if the input held a NaN, the portable loop redoes the pool
    // with PyTorch's NaN rule (out of line: a NaN is the rare case, and
    // inlined twice the function grew past what LLVM inlines, which cost
    // an 8 KB copy of the convolution's output in the textbook CNN).
    if KH == 2 && KW == 2 && SH == 2 && SW == 2 {
        match T::max_pool2(x, y) {
            Some(true) => return,
            Some(false) => return max_pool2d_cold::<T, C, H, W, KH, KW, SH, SW, OH, OW>(x, y),
            None => {}
        }
    }
    max_pool2d_portable::<T, C, H, W, KH, KW, SH, SW, OH, OW>(x, y)
}

/// [`max_pool2d_portable`] out of line, for the rare input with a NaN
/// that the target's kernel declined.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn max_pool2d_cold<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
    y: &mut Image<T, C, OH, OW>,
) {
    max_pool2d_portable::<T, C, H, W, KH, KW, SH, SW, OH, OW>(x, y)
}

/// The loops of [`max_pool2d_into`] (every target).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn max_pool2d_portable<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
    y: &mut Image<T, C, OH, OW>,
) {
    let neg_inf = T::of_f64(f64::NEG_INFINITY);
    if KH == SH && KW == SW {
        // Windows that tile the input: a row of windows is `KH` input rows
        // reduced column by column, then `KW`-chunks reduced lane by lane
        // (the same order of comparisons as the loop below, which LLVM
        // vectorised with gathers).
        for (xc, yc) in x.iter().zip(y.iter_mut()) {
            for (rows, yr) in xc.chunks_exact(KH).zip(yc.iter_mut()) {
                let mut rm = [neg_inf; W];
                for r in rows {
                    for (m, &v) in rm.iter_mut().zip(r) {
                        *m = max_nan(*m, v);
                    }
                }
                let (rw, _) = rm.as_chunks::<KW>();
                let mut m = [neg_inf; OW];
                for kj in 0..KW {
                    for (mv, w) in m.iter_mut().zip(rw) {
                        *mv = max_nan(*mv, w[kj]);
                    }
                }
                *yr = m;
            }
        }
        return;
    }
    for (xc, yc) in x.iter().zip(y.iter_mut()) {
        for (i, yr) in yc.iter_mut().enumerate() {
            // First the maximum over the window's KH rows, column by column
            // (contiguous, vectorises), then over KW columns per output.
            let mut rm = [neg_inf; W];
            for r in xc.iter().skip(i * SH).take(KH) {
                for (m, &v) in rm.iter_mut().zip(r) {
                    *m = max_nan(*m, v);
                }
            }
            for (j, yv) in yr.iter_mut().enumerate() {
                let mut m = neg_inf;
                for &v in rm.iter().skip(j * SW).take(KW) {
                    m = max_nan(m, v);
                }
                *yv = m;
            }
        }
    }
}

/// Average pooling with window `KH×KW` and stride `SH×SW`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
) -> Image<T, C, OH, OW> {
    let mut y = [[[T::zero(); OW]; OH]; C];
    avg_pool2d_into::<T, C, H, W, KH, KW, SH, SW, OH, OW>(x, &mut y);
    y
}

/// [`avg_pool2d`] writing its output into `y` (every value is overwritten),
/// for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d_into<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
    y: &mut Image<T, C, OH, OW>,
) {
    const {
        assert!(
            OH >= 1 && (OH - 1) * SH + KH <= H,
            "avg_pool2d: window rows out of range"
        );
        assert!(
            OW >= 1 && (OW - 1) * SW + KW <= W,
            "avg_pool2d: window columns out of range"
        );
    };
    let scale = T::one() / T::of_f64((KH * KW) as f64);
    for (xc, yc) in x.iter().zip(y.iter_mut()) {
        for (i, yr) in yc.iter_mut().enumerate() {
            for (j, yv) in yr.iter_mut().enumerate() {
                let mut s = T::zero();
                for r in window(xc, (i, j), (KH, KW), (SH, SW)) {
                    for &v in r {
                        s += v;
                    }
                }
                *yv = s * scale;
            }
        }
    }
}

/// Backward of [`max_pool2d`]: each output's gradient goes to the input
/// that was its window's maximum (the first one in scan order on ties, as
/// PyTorch; overlapping windows add up), found by comparing the window with
/// the pooled output `y` the training forward kept. Comparing against a
/// known maximum has no dependency chain from one value to the next,
/// unlike recomputing the maximum (a fifth of a CNN training step, in
/// benches/train.rs, before this change).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
#[allow(clippy::needless_range_loop)] // window indices are the arithmetic itself
pub fn max_pool2d_backward<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
    y: &Image<T, C, OH, OW>,
    dy: &Image<T, C, OH, OW>,
) -> Image<T, C, H, W> {
    const {
        assert!(
            OH >= 1 && (OH - 1) * SH + KH <= H,
            "max_pool2d: window rows out of range"
        );
        assert!(
            OW >= 1 && (OW - 1) * SW + KW <= W,
            "max_pool2d: window columns out of range"
        );
    };
    let mut dx = [[[T::zero(); W]; H]; C];
    // 2 × 2 windows tiling the input with the target's kernel (`f32` with
    // AVX2): the same comparisons, every window in one pass without
    // shuffles across windows.
    if KH == 2 && KW == 2 && SH == 2 && SW == 2 && T::max_pool2_backward(x, y, dy, &mut dx) {
        return dx;
    }
    if KH == SH && KW == SW {
        // Windows that tile the input: a row of windows is a row of
        // `KW`-chunks, and each window position is one lane of every chunk
        // (a vector across the windows, read and written with shuffles),
        // taken in scan order with `found` per window. W1 CNN: 2.1× faster
        // than the general loop below (benches/train.rs, native).
        for ((xc, dxc), (yc, dyc)) in x.iter().zip(dx.iter_mut()).zip(y.iter().zip(dy)) {
            let rows = xc.chunks_exact(KH).zip(dxc.chunks_exact_mut(KH));
            for ((xr, dxr), (m, d)) in rows.zip(yc.iter().zip(dyc)) {
                let mut found = [false; OW];
                for (xrow, dxrow) in xr.iter().zip(dxr.iter_mut()) {
                    let (xw, _) = xrow.as_chunks::<KW>();
                    let (dxw, _) = dxrow.as_chunks_mut::<KW>();
                    for kj in 0..KW {
                        let windows = xw.iter().zip(dxw.iter_mut()).zip(m.iter().zip(d));
                        for ((xv, dxv), f) in windows.zip(found.iter_mut()) {
                            let ((xv, dxv), (&m, &d)) = (xv, dxv);
                            let v = xv[kj];
                            let hit = !*f & is_max(v, m);
                            *f |= hit;
                            dxv[kj] = if hit { d } else { T::zero() };
                        }
                    }
                }
            }
        }
        return dx;
    }
    for c in 0..C {
        for i in 0..OH {
            for j in 0..OW {
                let (m, d) = (y[c][i][j], dy[c][i][j]);
                let mut found = false;
                for r in i * SH..i * SH + KH {
                    for q in j * SW..j * SW + KW {
                        let v = x[c][r][q];
                        let hit = !found & is_max(v, m);
                        found |= hit;
                        dx[c][r][q] += if hit { d } else { T::zero() };
                    }
                }
            }
        }
    }
    dx
}

/// Backward of [`avg_pool2d`]: each output's gradient is spread evenly over
/// its window (`x` is not needed; it is taken for symmetry with
/// [`max_pool2d_backward`]).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d_backward<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    _x: &Image<T, C, H, W>,
    _y: &Image<T, C, OH, OW>,
    dy: &Image<T, C, OH, OW>,
) -> Image<T, C, H, W> {
    const {
        assert!(
            OH >= 1 && (OH - 1) * SH + KH <= H,
            "avg_pool2d: window rows out of range"
        );
        assert!(
            OW >= 1 && (OW - 1) * SW + KW <= W,
            "avg_pool2d: window columns out of range"
        );
    };
    let scale = T::one() / T::of_f64((KH * KW) as f64);
    let mut dx = [[[T::zero(); W]; H]; C];
    for (dyc, dxc) in dy.iter().zip(dx.iter_mut()) {
        for (i, dyr) in dyc.iter().enumerate() {
            for (j, &d) in dyr.iter().enumerate() {
                let share = d * scale;
                for r in dxc.iter_mut().skip(i * SH).take(KH) {
                    for v in r.iter_mut().skip(j * SW).take(KW) {
                        *v += share;
                    }
                }
            }
        }
    }
    dx
}

/// Defines a pooling layer's static description type over its geometry
/// (input, output, window, stride): `forward` and `backward` name each
/// size once.
macro_rules! pool_type {
    ($(#[$doc:meta])* $name:ident, $forward:ident, $into:ident, $backward:ident) => {
        $(#[$doc])*
        pub struct $name<I, O, K, S>(PhantomData<(I, O, K, S)>);

        impl<
                const C: usize,
                const H: usize,
                const W: usize,
                const OH: usize,
                const OW: usize,
                const KH: usize,
                const KW: usize,
                const SH: usize,
                const SW: usize,
            > $name<In<C, H, W>, Out<C, OH, OW>, Kernel<KH, KW>, Stride<SH, SW>>
        {
            #[doc = concat!("[`", stringify!($forward), "`].")]
            #[inline(always)]
            pub fn forward<T: Float>(x: &Image<T, C, H, W>) -> Image<T, C, OH, OW> {
                $forward::<T, C, H, W, KH, KW, SH, SW, OH, OW>(x)
            }

            #[doc = concat!("[`", stringify!($into), "`]: the output written into `y`.")]
            #[inline(always)]
            pub fn forward_into<T: Float>(x: &Image<T, C, H, W>, y: &mut Image<T, C, OH, OW>) {
                $into::<T, C, H, W, KH, KW, SH, SW, OH, OW>(x, y)
            }

            #[doc = concat!("[`", stringify!($backward), "`]: `dL/dx` from the input, the output and `dL/dy`.")]
            #[inline(always)]
            pub fn backward<T: Float>(
                x: &Image<T, C, H, W>,
                y: &Image<T, C, OH, OW>,
                dy: &Image<T, C, OH, OW>,
            ) -> Image<T, C, H, W> {
                $backward::<T, C, H, W, KH, KW, SH, SW, OH, OW>(x, y, dy)
            }
        }
    };
}

pool_type!(
    /// One `MaxPool2d` layer's geometry, e.g.
    /// `MaxPool2d<In<32, 8, 8>, Out<32, 4, 4>, Kernel<2, 2>, Stride<2, 2>>`.
    MaxPool2d,
    max_pool2d,
    max_pool2d_into,
    max_pool2d_backward
);
pool_type!(
    /// One `AvgPool2d` layer's geometry, e.g.
    /// `AvgPool2d<In<32, 8, 8>, Out<32, 4, 4>, Kernel<2, 2>, Stride<2, 2>>`.
    AvgPool2d,
    avg_pool2d,
    avg_pool2d_into,
    avg_pool2d_backward
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Rng;
    use crate::kernels::testutil::{check_grad, dot, fill};
    use crate::Tensor;

    /// The last row and column are 100, larger than everything else: they
    /// must be dropped by the floor rule for window 2, stride 2.
    const X: [[f64; 5]; 5] = [
        [1.0, 9.0, 2.0, 3.0, 100.0],
        [4.0, 0.0, 8.0, 5.0, 100.0],
        [7.0, 6.0, 1.0, 2.0, 100.0],
        [3.0, 3.0, 9.0, 4.0, 100.0],
        [100.0, 100.0, 100.0, 100.0, 100.0],
    ];

    fn two_channels() -> Image<f64, 2, 5, 5> {
        // channel 1 = channel 0 − 50, pooled independently.
        [X, X.map(|r| r.map(|v| v - 50.0))]
    }

    #[test]
    fn ragged_edge_is_dropped_by_hand() {
        let x = two_channels();
        // windows [1 9; 4 0], [2 3; 8 5], [7 6; 3 3], [1 2; 9 4]
        let m = max_pool2d::<f64, 2, 5, 5, 2, 2, 2, 2, 2, 2>(&x);
        assert_eq!(m[0], [[9.0, 8.0], [7.0, 9.0]]);
        assert_eq!(m[1], [[-41.0, -42.0], [-43.0, -41.0]]);
        let a = avg_pool2d::<f64, 2, 5, 5, 2, 2, 2, 2, 2, 2>(&x);
        assert_eq!(a[0], [[14.0 / 4.0, 18.0 / 4.0], [19.0 / 4.0, 16.0 / 4.0]]);
        assert_eq!(a[1], [[3.5 - 50.0, 4.5 - 50.0], [4.75 - 50.0, 4.0 - 50.0]]);
        let m32 = max_pool2d::<f32, 1, 5, 5, 2, 2, 2, 2, 2, 2>(&[X.map(|r| r.map(|v| v as f32))]);
        assert_eq!(m32[0], [[9.0, 8.0], [7.0, 9.0]]);
    }

    #[test]
    fn stride_different_from_window_by_hand() {
        let x = [X];
        // window 3, stride 2: rows/cols {0,1,2} and {2,3,4}; the windows overlap
        // in row and column 2.
        let m = max_pool2d::<f64, 1, 5, 5, 3, 3, 2, 2, 2, 2>(&x);
        assert_eq!(m[0], [[9.0, 100.0], [100.0, 100.0]]);
        let a = avg_pool2d::<f64, 1, 5, 5, 3, 3, 2, 2, 2, 2>(&x);
        // sums: 1+9+2+4+0+8+7+6+1 = 38; 2+3+100+8+5+100+1+2+100 = 321;
        //       7+6+1+3+3+9+300 = 329;   1+2+100+9+4+100+300 = 516
        let want = [38.0 / 9.0, 321.0 / 9.0, 329.0 / 9.0, 516.0 / 9.0];
        for (g, w) in a.as_flat().iter().zip(want) {
            assert!((g - w).abs() < 1e-13, "{g} != {w}");
        }
        // window 2 rows × 3 columns, stride 1 × 2 on the top-left 3×5
        let m = max_pool2d::<f64, 1, 5, 5, 2, 3, 1, 2, 4, 2>(&x);
        assert_eq!(
            m[0],
            [[9.0, 100.0], [8.0, 100.0], [9.0, 100.0], [100.0, 100.0]]
        );
    }

    #[test]
    fn max_pool_propagates_nan_like_pytorch() {
        let x: Image<f32, 1, 2, 2> = [[[1.0, f32::NAN], [3.0, 2.0]]];
        assert!(max_pool2d::<f32, 1, 2, 2, 2, 2, 2, 2, 1, 1>(&x)[0][0][0].is_nan());
    }

    #[test]
    fn max_pool_backward_by_hand() {
        let x = [X];
        let dy = [[[1.0, 2.0], [3.0, 4.0]]];
        // window 3, stride 2: maxima 9 at (0,1); first 100 in scan order at
        // (0,4), (4,0) and (2,4).
        let y = max_pool2d::<f64, 1, 5, 5, 3, 3, 2, 2, 2, 2>(&x);
        let dx = max_pool2d_backward::<f64, 1, 5, 5, 3, 3, 2, 2, 2, 2>(&x, &y, &dy);
        let mut want = [[0.0; 5]; 5];
        want[0][1] = 1.0;
        want[0][4] = 2.0;
        want[4][0] = 3.0;
        want[2][4] = 4.0;
        assert_eq!(dx[0], want);
        // Ties go to the first maximum, and overlapping windows add up:
        // windows 2×2 stride 1 on [[5, 5, 1], [5, 1, 1]]: both maxima are the
        // top-left 5 of their window, (0,0) and (0,1).
        let t = [[[5.0, 5.0, 1.0], [5.0, 1.0, 1.0]]];
        let yt = max_pool2d::<f64, 1, 2, 3, 2, 2, 1, 1, 1, 2>(&t);
        let dt = max_pool2d_backward::<f64, 1, 2, 3, 2, 2, 1, 1, 1, 2>(&t, &yt, &[[[1.0, 10.0]]]);
        assert_eq!(dt[0], [[1.0, 10.0, 0.0], [0.0, 0.0, 0.0]]);
        let yt = max_pool2d::<f64, 1, 2, 3, 2, 1, 1, 1, 1, 3>(&t);
        let dt =
            max_pool2d_backward::<f64, 1, 2, 3, 2, 1, 1, 1, 1, 3>(&t, &yt, &[[[1.0, 2.0, 3.0]]]);
        assert_eq!(dt[0], [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]);
    }

    /// Windows that tile the input (window = stride, their own loop), with
    /// a tie, a NaN and a ragged edge.
    #[test]
    fn tiled_max_pool_backward_by_hand() {
        let nan = f64::NAN;
        // 2×2 windows, stride 2, on 3×5: one row of two windows; the last
        // row and column belong to no window.
        let x = [[
            [7.0, 7.0, 7.0, 2.0, 9.0],
            [7.0, 3.0, nan, 0.0, 9.0],
            [9.0, 9.0, 9.0, 9.0, 9.0],
        ]];
        let y = max_pool2d::<f64, 1, 3, 5, 2, 2, 2, 2, 1, 2>(&x);
        assert_eq!(y[0][0][0], 7.0);
        assert!(y[0][0][1].is_nan());
        let dx = max_pool2d_backward::<f64, 1, 3, 5, 2, 2, 2, 2, 1, 2>(&x, &y, &[[[10.0, 20.0]]]);
        // The tie of three 7s goes to the first, (0, 0); the NaN window's
        // gradient to the NaN, (1, 2).
        let want = [
            [10.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 20.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
        ];
        assert_eq!(dx[0], want);
    }

    /// Whether the 2 × 2 AVX2 kernels (`kernels::simd`) should run for a
    /// shape that `qualifies`: the CPU has AVX2 and FMA (std builds ask it;
    /// no_std x86-64 builds only where compiled for them), AVX-512 builds
    /// included.
    fn avx2_kernel_expected(qualifies: bool) -> bool {
        let cpu = if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
            true
        } else {
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            let cpu = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
            let cpu = false;
            cpu
        };
        qualifies && cpu && cfg!(target_arch = "x86_64")
    }

    /// PyTorch's rule written out window by window: each output's
    /// gradient goes to the first input in scan order equal to its `y`
    /// (or NaN where `y` is NaN); windows tile, so nothing adds up.
    fn tiled_reference<
        const C: usize,
        const H: usize,
        const W: usize,
        const K: usize,
        const L: usize,
        const OH: usize,
        const OW: usize,
    >(
        x: &Image<f64, C, H, W>,
        y: &Image<f64, C, OH, OW>,
        dy: &Image<f64, C, OH, OW>,
    ) -> Image<f64, C, H, W> {
        let mut dx = [[[0.0; W]; H]; C];
        for c in 0..C {
            for i in 0..OH {
                for j in 0..OW {
                    let m = y[c][i][j];
                    'window: for r in i * K..i * K + K {
                        for q in j * L..j * L + L {
                            let v = x[c][r][q];
                            if v == m || (v.is_nan() && m.is_nan()) {
                                dx[c][r][q] = dy[c][i][j];
                                break 'window;
                            }
                        }
                    }
                }
            }
        }
        dx
    }

    /// The tiled backward (one pass per row of windows where no window
    /// has a tie, the scan-order loop where one has) against
    /// [`tiled_reference`], in `f64` and `f32`: distinct values, values
    /// from a set of five with NaN and both zeros (ties in most windows),
    /// and a `y` that is not the maximum (windows with no hit or two).
    #[test]
    fn tiled_max_pool_backward_matches_scan_order() {
        fn case<
            const C: usize,
            const H: usize,
            const W: usize,
            const K: usize,
            const L: usize,
            const OH: usize,
            const OW: usize,
        >(
            seed: u64,
        ) {
            let mut rng = Rng::new(seed);
            let few = [-1.0, 0.0, -0.0, 2.0, f64::NAN];
            for variant in 0..3 {
                let mut x = <Image<f64, C, H, W> as Tensor<f64>>::zeros();
                let mut dy = <Image<f64, C, OH, OW> as Tensor<f64>>::zeros();
                fill(&mut rng, x.as_flat_mut());
                fill(&mut rng, dy.as_flat_mut());
                if variant > 0 {
                    for v in x.as_flat_mut() {
                        *v = few[(rng.uniform() * 5.0) as usize % 5];
                    }
                }
                let mut y = max_pool2d::<f64, C, H, W, K, L, K, L, OH, OW>(&x);
                if variant == 2 {
                    for v in y.as_flat_mut() {
                        *v = few[(rng.uniform() * 5.0) as usize % 5];
                    }
                }
                let want = tiled_reference::<C, H, W, K, L, OH, OW>(&x, &y, &dy);
                let got = max_pool2d_backward::<f64, C, H, W, K, L, K, L, OH, OW>(&x, &y, &dy);
                assert_eq!(got.as_flat(), want.as_flat(), "f64, {variant}, {K}x{L}");
                // In f32: the same values rounded, and the reference on
                // the rounded values (rounding may make new ties).
                fn cast<A: Tensor<f64>, B: Tensor<f32>>(a: &A) -> B {
                    let mut b = B::zeros();
                    b.as_flat_mut()
                        .iter_mut()
                        .zip(a.as_flat())
                        .for_each(|(o, &v)| *o = v as f32);
                    b
                }
                fn widen<A: Tensor<f32>, B: Tensor<f64>>(a: &A) -> B {
                    let mut b = B::zeros();
                    b.as_flat_mut()
                        .iter_mut()
                        .zip(a.as_flat())
                        .for_each(|(o, &v)| *o = f64::from(v));
                    b
                }
                let (x32, y32, dy32): (
                    Image<f32, C, H, W>,
                    Image<f32, C, OH, OW>,
                    Image<f32, C, OH, OW>,
                ) = (cast(&x), cast(&y), cast(&dy));
                let want = tiled_reference::<C, H, W, K, L, OH, OW>(
                    &widen(&x32),
                    &widen(&y32),
                    &widen(&dy32),
                );
                let got =
                    max_pool2d_backward::<f32, C, H, W, K, L, K, L, OH, OW>(&x32, &y32, &dy32);
                let got: Image<f64, C, H, W> = widen(&got);
                assert_eq!(got.as_flat(), want.as_flat(), "f32, {variant}, {K}x{L}");
                // Whether the target's 2 × 2 kernel ran, where the CPU
                // has one (`Float::max_pool2_backward`).
                if K == 2 && L == 2 {
                    let mut dx = <Image<f32, C, H, W> as Tensor<f32>>::zeros();
                    let ran = <f32 as Float>::max_pool2_backward(&x32, &y32, &dy32, &mut dx);
                    assert_eq!(
                        ran,
                        avx2_kernel_expected(W == 2 * OW && OW.is_multiple_of(4))
                    );
                }
            }
        }
        for seed in 0..20 {
            // W1's pool; two registers a row and a ragged row; a ragged row
            // and column; 3×3; wide and flat windows.
            case::<3, 8, 8, 2, 2, 4, 4>(seed);
            case::<2, 9, 16, 2, 2, 4, 8>(seed);
            case::<2, 7, 9, 2, 2, 3, 4>(seed);
            case::<2, 9, 10, 3, 3, 3, 3>(seed);
            case::<1, 6, 8, 2, 4, 3, 2>(seed);
            case::<2, 5, 8, 1, 2, 5, 4>(seed);
        }
    }

    /// The 2 × 2 pool with the target's kernel (`Float::max_pool2`; `f32`
    /// with AVX2 here) gives the portable loop's bits: NaN, both zeros,
    /// infinities and ties, and distinct values; and where the kernel
    /// runs.
    #[test]
    fn max_pool2_kernel_is_the_portable_loop() {
        fn case<
            const C: usize,
            const H: usize,
            const W: usize,
            const OH: usize,
            const OW: usize,
        >(
            seed: u64,
        ) {
            let mut rng = Rng::new(seed);
            let few = [
                -1.0,
                0.0,
                -0.0,
                2.0,
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ];
            for variant in 0..2 {
                let mut x = <Image<f32, C, H, W> as Tensor<f32>>::zeros();
                for v in x.as_flat_mut() {
                    let u = rng.uniform();
                    *v = if variant == 0 {
                        (2.0 * u - 1.0) as f32
                    } else {
                        few[(u * 7.0) as usize % 7]
                    };
                }
                let mut want = <Image<f32, C, OH, OW> as Tensor<f32>>::zeros();
                max_pool2d_portable::<f32, C, H, W, 2, 2, 2, 2, OH, OW>(&x, &mut want);
                let got = max_pool2d::<f32, C, H, W, 2, 2, 2, 2, OH, OW>(&x);
                let bits = |y: &Image<f32, C, OH, OW>| -> Vec<u32> {
                    y.as_flat().iter().map(|v| v.to_bits()).collect()
                };
                assert_eq!(bits(&got), bits(&want), "variant {variant}");
                let mut y = <Image<f32, C, OH, OW> as Tensor<f32>>::zeros();
                let ran = <f32 as Float>::max_pool2(&x, &mut y);
                #[cfg(target_arch = "x86_64")]
                assert_eq!(
                    ran == Some(true),
                    avx2_kernel_expected(W == 2 * OW && OW.is_multiple_of(4))
                );
                let _ = ran;
            }
        }
        for seed in 0..20 {
            // W1's pool; two registers a row and a ragged row; no kernel.
            case::<3, 8, 8, 4, 4>(seed);
            case::<2, 9, 16, 4, 8>(seed);
            case::<2, 6, 6, 3, 3>(seed);
        }
    }

    #[test]
    fn avg_pool_backward_by_hand() {
        let x = [X];
        let dy = [[[1.0, 2.0], [3.0, 4.0]]];
        let dx = avg_pool2d_backward::<f64, 1, 5, 5, 2, 2, 2, 2, 2, 2>(&x, &[[[0.0; 2]; 2]], &dy);
        let q = |v: f64| v / 4.0;
        assert_eq!(
            dx[0],
            [
                [q(1.0), q(1.0), q(2.0), q(2.0), 0.0],
                [q(1.0), q(1.0), q(2.0), q(2.0), 0.0],
                [q(3.0), q(3.0), q(4.0), q(4.0), 0.0],
                [q(3.0), q(3.0), q(4.0), q(4.0), 0.0],
                [0.0; 5],
            ]
        );
        // Overlap (window 3, stride 2): the centre (2,2) is in all four.
        let dx = avg_pool2d_backward::<f64, 1, 5, 5, 3, 3, 2, 2, 2, 2>(&x, &[[[0.0; 2]; 2]], &dy);
        assert!((dx[0][2][2] - 10.0 / 9.0).abs() < 1e-15);
        assert_eq!(dx[0][0][0], 1.0 / 9.0);
        assert_eq!(dx[0][4][4], 4.0 / 9.0);
    }

    macro_rules! pool_grad {
        ($fwd:ident, $bwd:ident, $seed:expr, C=$c:literal, H=$h:literal, W=$w:literal,
         KH=$kh:literal, KW=$kw:literal, SH=$sh:literal, SW=$sw:literal, OH=$oh:literal, OW=$ow:literal) => {{
            let mut rng = Rng::new($seed);
            let mut x = <Image<f64, $c, $h, $w> as Tensor<f64>>::zeros();
            fill(&mut rng, x.as_flat_mut());
            let mut r = <Image<f64, $c, $oh, $ow> as Tensor<f64>>::zeros();
            fill(&mut rng, r.as_flat_mut());
            let y = $fwd::<f64, $c, $h, $w, $kh, $kw, $sh, $sw, $oh, $ow>(&x);
            let dx = $bwd::<f64, $c, $h, $w, $kh, $kw, $sh, $sw, $oh, $ow>(&x, &y, &r);
            let loss = |q: &Image<f64, $c, $h, $w>| {
                dot(
                    r.as_flat(),
                    $fwd::<f64, $c, $h, $w, $kh, $kw, $sh, $sw, $oh, $ow>(q).as_flat(),
                )
            };
            check_grad(
                stringify!($fwd),
                &x,
                |q| q.as_flat_mut(),
                loss,
                dx.as_flat(),
            );
        }};
    }

    #[test]
    fn pool_backward_matches_finite_differences() {
        pool_grad!(
            max_pool2d,
            max_pool2d_backward,
            1,
            C = 2,
            H = 5,
            W = 5,
            KH = 2,
            KW = 2,
            SH = 2,
            SW = 2,
            OH = 2,
            OW = 2
        );
        pool_grad!(
            max_pool2d,
            max_pool2d_backward,
            2,
            C = 2,
            H = 5,
            W = 6,
            KH = 3,
            KW = 2,
            SH = 2,
            SW = 1,
            OH = 2,
            OW = 5
        );
        pool_grad!(
            avg_pool2d,
            avg_pool2d_backward,
            3,
            C = 2,
            H = 5,
            W = 5,
            KH = 2,
            KW = 2,
            SH = 2,
            SW = 2,
            OH = 2,
            OW = 2
        );
        pool_grad!(
            avg_pool2d,
            avg_pool2d_backward,
            4,
            C = 2,
            H = 5,
            W = 6,
            KH = 3,
            KW = 2,
            SH = 2,
            SW = 1,
            OH = 2,
            OW = 5
        );
    }
}
