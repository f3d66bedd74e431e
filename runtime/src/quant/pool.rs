//! int8 `AvgPool2d`, `MaxPool2d` and `GlobalAvgPool`: TFLite's
//! `reference_integer_ops::AveragePool` and `MaxPool`. Input and output
//! share their scale and zero point, so the pools work on the raw int8
//! values and only clamp to the activation range.
//!
//! The average is over the taps inside the image (TFLite's `same` padding
//! does not count padded taps) and rounds half away from zero
//! ([`rounded_average`]). `GlobalAvgPool` is TFLite's `AVERAGE_POOL_2D`
//! with a window of the whole image, which is how the TFLite converter
//! writes Keras' `GlobalAveragePooling2D` and the MLPerf models'
//! full-size `AveragePooling2D` (TFLite's `MEAN` op, which requantizes, is
//! a different kernel).

use super::clamp_i8;
use super::fixed::rounded_average;
use crate::kernels::{Kernel, Pad, Stride};
use core::marker::PhantomData;

/// The taps of window `(oy, ox)` inside one channel, visited in order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn window<
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
>(
    xc: &[[i8; W]; H],
    oy: usize,
    ox: usize,
    mut f: impl FnMut(i8),
) {
    for kh in 0..KH {
        let Some(xr) = xc.get((oy * SH + kh).wrapping_sub(PT)) else {
            continue;
        };
        for kw in 0..KW {
            if let Some(&v) = xr.get((ox * SW + kw).wrapping_sub(PL)) {
                f(v);
            }
        }
    }
}

/// int8 `AvgPool2d` written into `y`, every value overwritten; `min`/`max`
/// are the activation range (`−128, 127` without one). A window with no
/// tap inside the image (impossible for TFLite's padding) gives 0 before
/// the clamp.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d_int8_into<
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[[i8; W]; H]; C],
    min: i8,
    max: i8,
    y: &mut [[[i8; OW]; OH]; C],
) {
    const {
        assert!(
            KH > 0 && KW > 0 && SH > 0 && SW > 0,
            "avg_pool2d_int8: empty window or stride"
        )
    };
    for (xc, yc) in x.iter().zip(y.iter_mut()) {
        for (oy, yr) in yc.iter_mut().enumerate() {
            for (ox, yv) in yr.iter_mut().enumerate() {
                let (mut acc, mut n) = (0i32, 0i32);
                window::<H, W, KH, KW, SH, SW, PT, PL>(xc, oy, ox, |v| {
                    acc += v as i32;
                    n += 1;
                });
                *yv = clamp_i8(rounded_average(acc, n), min, max);
            }
        }
    }
}

/// int8 `MaxPool2d` written into `y`, every value overwritten: the largest
/// tap inside the image (−128 for a window with none), clamped.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d_int8_into<
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[[i8; W]; H]; C],
    min: i8,
    max: i8,
    y: &mut [[[i8; OW]; OH]; C],
) {
    const {
        assert!(
            KH > 0 && KW > 0 && SH > 0 && SW > 0,
            "max_pool2d_int8: empty window or stride"
        )
    };
    for (xc, yc) in x.iter().zip(y.iter_mut()) {
        for (oy, yr) in yc.iter_mut().enumerate() {
            for (ox, yv) in yr.iter_mut().enumerate() {
                let mut m = i8::MIN;
                window::<H, W, KH, KW, SH, SW, PT, PL>(xc, oy, ox, |v| m = m.max(v));
                *yv = clamp_i8(m as i32, min, max);
            }
        }
    }
}

/// int8 `GlobalAvgPool`: each channel's rounded average, clamped.
#[inline]
pub fn global_avg_pool_int8<const C: usize, const H: usize, const W: usize>(
    x: &[[[i8; W]; H]; C],
    min: i8,
    max: i8,
) -> [i8; C] {
    let mut y = [0; C];
    for (xc, yv) in x.iter().zip(y.iter_mut()) {
        let acc: i32 = xc.as_flattened().iter().map(|&v| v as i32).sum();
        *yv = clamp_i8(rounded_average(acc, (H * W) as i32), min, max);
    }
    y
}

/// One int8 pooling layer's geometry (window, stride, top/left padding);
/// the sizes come from the arguments' types.
pub struct Pool2dInt8<K, S, P>(PhantomData<(K, S, P)>);

impl<
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
    > Pool2dInt8<Kernel<KH, KW>, Stride<SH, SW>, Pad<PT, PL>>
{
    /// [`avg_pool2d_int8_into`].
    #[inline(always)]
    pub fn avg_into<
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        x: &[[[i8; W]; H]; C],
        min: i8,
        max: i8,
        y: &mut [[[i8; OW]; OH]; C],
    ) {
        avg_pool2d_int8_into::<C, H, W, KH, KW, SH, SW, PT, PL, OH, OW>(x, min, max, y)
    }

    /// [`max_pool2d_int8_into`].
    #[inline(always)]
    pub fn max_into<
        const C: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        x: &[[[i8; W]; H]; C],
        min: i8,
        max: i8,
        y: &mut [[[i8; OW]; OH]; C],
    ) {
        max_pool2d_int8_into::<C, H, W, KH, KW, SH, SW, PT, PL, OH, OW>(x, min, max, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type P2 = Pool2dInt8<Kernel<2, 2>, Stride<2, 2>, Pad<0, 0>>;

    #[test]
    fn average_rounds_half_away_from_zero() {
        // Windows of 4: 1+2+3+4 = 10 → 2.5 → 3; −10 → −3; 1+1+1+2 = 5 →
        // 1.25 → 1; −6 → −1.5 → −2.
        let x = [
            [[1, 2, -1, -2], [3, 4, -3, -4]],
            [[1, 1, -1, -2], [1, 2, -1, -2]],
        ];
        let mut y = [[[0i8; 2]; 1]; 2];
        P2::avg_into(&x, -128, 127, &mut y);
        assert_eq!(y, [[[3, -3]], [[1, -2]]]);
        // The clamp of a fused ReLU at zero point 0.
        P2::avg_into(&x, 0, 127, &mut y);
        assert_eq!(y, [[[3, 0]], [[1, 0]]]);
    }

    #[test]
    fn average_with_padding_counts_only_inside_taps() {
        // 'same' 3×3 stride 1 on a 2×2 (pad 1 top/left): every window holds
        // the 4 pixels → 1+2+3+5 = 11 / 4 = 2.75 → 3.
        let x = [[[1, 2], [3, 5]]];
        let mut y = [[[0i8; 2]; 2]; 1];
        Pool2dInt8::<Kernel<3, 3>, Stride<1, 1>, Pad<1, 1>>::avg_into(&x, -128, 127, &mut y);
        assert_eq!(y, [[[3, 3], [3, 3]]]);
        // 2×2 stride 1 pad 1: (0,0) sees only 1 → 1; (0,1) sees 1, 2 → 1.5 → 2;
        // (1,0): 1, 3 → 2; (1,1): all → 3.
        Pool2dInt8::<Kernel<2, 2>, Stride<1, 1>, Pad<1, 1>>::avg_into(&x, -128, 127, &mut y);
        assert_eq!(y, [[[1, 2], [2, 3]]]);
    }

    #[test]
    fn max_pool_and_clamp() {
        let x = [[[1, 2, -1, -2], [3, 4, -3, -128]]];
        let mut y = [[[0i8; 2]; 1]; 1];
        P2::max_into(&x, -128, 127, &mut y);
        assert_eq!(y, [[[4, -1]]]);
        P2::max_into(&x, -5, 3, &mut y);
        assert_eq!(y, [[[3, -1]]]);
    }

    #[test]
    fn global_average() {
        // KWS's shape of window, 5 × 5 = 25 taps: 25·3 + 12 = 87 → 3.48 → 3;
        // −(25·3 + 13) = −88 → −3.52 → −4.
        let mut x = [[[3i8; 5]; 5]; 2];
        x[0][0][0] = 15;
        x[1] = [[-3; 5]; 5];
        x[1][4][4] = -16;
        assert_eq!(global_avg_pool_int8(&x, -128, 127), [3, -4]);
    }
}
