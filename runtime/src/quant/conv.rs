//! int8 `Conv2d` and `DepthwiseConv2d` with per-output-channel
//! requantization: TFLite's `reference_integer_ops::ConvPerChannel` and
//! `DepthwiseConvPerChannel`.
//!
//! For output channel `o` at `(oy, ox)`:
//! `acc = bias[o] + Σ w[o][c][kh][kw] · (x[c][iy][ix] − input_zero_point)`
//! over the taps inside the image (padding contributes nothing: real zero
//! is `input_zero_point`, so a padded tap's `x − zp` is 0), then the
//! [`OutputStage`]. The int32 sums are exact, so the order in which taps
//! are added does not matter (TFLite's loops run NHWC; ours run CHW).
//!
//! Each output channel's sums are a plane of int32 accumulated tap by tap
//! over whole output rows (the rows and columns a tap reaches inside the
//! image computed once per tap), then requantized. Rows and columns are
//! found with `get` (an index before the image wraps around to a huge
//! `usize` and finds nothing), so there is no indexing to check and no
//! panic path.

use super::OutputStage;
use crate::kernels::{Kernel, Pad, Stride};
use core::marker::PhantomData;

/// An int8 `Conv2d`'s parameters: `weight[o]` holds output channel `o`'s
/// `C·KH·KW` weights in PyTorch's `(c, kh, kw)` order (TFLite's OHWI filter
/// permuted by the converter), `bias` is int32 at scale `s_in · s_w[o]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QConv2dParams<const O: usize, const K: usize> {
    /// Weights, one row of `C·KH·KW` per output channel (zero point 0).
    pub weight: [[i8; K]; O],
    /// Biases, int32, one per output channel.
    pub bias: [i32; O],
    /// The zero point of the input tensor.
    pub input_zero_point: i32,
    /// Requantization to the output tensor, per output channel.
    pub out: OutputStage<O>,
}

/// An int8 `DepthwiseConv2d`'s parameters: output channel `o = c·M + m`
/// reads input channel `c`; `weight[o]` holds its `KH·KW` taps (PyTorch's
/// `[C·M, 1, KH, KW]`, TFLite's `[1, KH, KW, C·M]` permuted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QDepthwiseParams<const O: usize, const K: usize> {
    /// Weights, one row of `KH·KW` per output channel (zero point 0).
    pub weight: [[i8; K]; O],
    /// Biases, int32, one per output channel.
    pub bias: [i32; O],
    /// The zero point of the input tensor.
    pub input_zero_point: i32,
    /// Requantization to the output tensor, per output channel.
    pub out: OutputStage<O>,
}

/// The outputs `o` (of `out`) along one axis whose tap `k` lands inside an
/// input of `n`: `0 ≤ o·s + k − p < n`, as `lo..hi` (empty if none).
#[inline(always)]
const fn inside(k: usize, s: usize, p: usize, n: usize, out: usize) -> (usize, usize) {
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    let hi = if n + p > k {
        (n + p - k).div_ceil(s)
    } else {
        0
    };
    let hi = if hi < out { hi } else { out };
    (lo, if hi > lo { hi } else { lo })
}

/// Adds one input channel's contribution to one output channel's sums,
/// tap by tap over whole output rows: for each weight `w[kh][kw]`, every
/// output `(oy, ox)` whose tap lies inside the image gets
/// `w · (x[oy·SH + kh − PT][ox·SW + kw − PL] − zp)`. The row ranges are
/// computed once per tap, so the inner loop is a plain multiply-add over
/// contiguous (stride 1) or strided input and contiguous sums.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn accumulate<
    const H: usize,
    const W: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
>(
    acc: &mut [[i32; OW]; OH],
    xc: &[[i8; W]; H],
    w: &[i8],
    zp: i32,
) {
    for (t, &wv) in w.iter().enumerate() {
        let (kh, kw) = (t / KW, t % KW);
        let (i0, i1) = inside(kh, SH, PT, H, OH);
        let (j0, j1) = inside(kw, SW, PL, W, OW);
        let wv = wv as i32;
        for oy in i0..i1 {
            let Some(xr) = xc.get((oy * SH + kh).wrapping_sub(PT)) else {
                continue;
            };
            let Some(xs) = xr.get((j0 * SW + kw).wrapping_sub(PL)..) else {
                continue;
            };
            let Some(ar) = acc.get_mut(oy).and_then(|r| r.get_mut(j0..j1)) else {
                continue;
            };
            if SW == 1 {
                for (a, &xv) in ar.iter_mut().zip(xs) {
                    *a += wv * (xv as i32 - zp);
                }
            } else {
                for (a, &xv) in ar.iter_mut().zip(xs.iter().step_by(SW)) {
                    *a += wv * (xv as i32 - zp);
                }
            }
        }
    }
}

/// Writes output channel `o`'s sums through the output stage.
#[inline(always)]
fn requantize<const O: usize, const OH: usize, const OW: usize>(
    acc: &[[i32; OW]; OH],
    out: &OutputStage<O>,
    o: usize,
    yo: &mut [[i8; OW]; OH],
) {
    for (yr, ar) in yo.iter_mut().zip(acc) {
        for (yv, &a) in yr.iter_mut().zip(ar) {
            *yv = out.apply(a, o);
        }
    }
}

/// int8 `Conv2d` (groups 1) written into `y`, every value overwritten.
///
/// `PT`/`PL` are the padding rows on top and columns on the left (TFLite's
/// `same` puts the odd extra row and column at the bottom and right, which
/// `OH`/`OW` imply). `K` must be `C·KH·KW`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_int8_into<
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &QConv2dParams<O, K>,
    x: &[[[i8; W]; H]; C],
    y: &mut [[[i8; OW]; OH]; O],
) {
    const {
        assert!(K == C * KH * KW, "conv2d_int8: K must be C * KH * KW");
        assert!(
            KH > 0 && KW > 0 && SH > 0 && SW > 0,
            "conv2d_int8: empty kernel or stride"
        );
    };
    // With the DSP extension's SIMD multiply-accumulates where the target
    // has them (Cortex-M4/M7/M33…; the same sums, see quant/thumb.rs).
    if super::thumb::conv2d_int8_dsp::<C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, y) {
        return;
    }
    let zp = p.input_zero_point;
    for (o, ((yo, wo), &b)) in y.iter_mut().zip(&p.weight).zip(&p.bias).enumerate() {
        let mut acc = [[b; OW]; OH];
        for (xc, wc) in x.iter().zip(wo.chunks_exact(KH * KW)) {
            accumulate::<H, W, KW, SH, SW, PT, PL, OH, OW>(&mut acc, xc, wc, zp);
        }
        requantize(&acc, &p.out, o, yo);
    }
}

/// int8 `DepthwiseConv2d` (depth multiplier `M = O / C`) written into `y`,
/// every value overwritten. `K` must be `KH·KW`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_int8_into<
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &QDepthwiseParams<O, K>,
    x: &[[[i8; W]; H]; C],
    y: &mut [[[i8; OW]; OH]; O],
) {
    const {
        assert!(K == KH * KW, "depthwise_conv2d_int8: K must be KH * KW");
        assert!(
            C > 0 && O.is_multiple_of(C),
            "depthwise_conv2d_int8: O must be C * depth_multiplier"
        );
        assert!(
            KH > 0 && KW > 0 && SH > 0 && SW > 0,
            "depthwise_conv2d_int8: empty kernel or stride"
        );
    };
    // KWS's 3 × 3 `same` depthwise layers with the DSP extension's SIMD
    // multiply-accumulates where the target has them (quant/thumb.rs).
    if super::thumb::depthwise3x3_int8_dsp::<C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, y)
    {
        return;
    }
    let m = O / C;
    let zp = p.input_zero_point;
    for (o, ((yo, wo), &b)) in y.iter_mut().zip(&p.weight).zip(&p.bias).enumerate() {
        let Some(xc) = x.get(o / m) else { continue };
        let mut acc = [[b; OW]; OH];
        accumulate::<H, W, KW, SH, SW, PT, PL, OH, OW>(&mut acc, xc, wo, zp);
        requantize(&acc, &p.out, o, yo);
    }
}

/// One int8 `Conv2d`'s geometry (kernel, stride, top/left padding); the
/// channel and image sizes come from the arguments' types:
///
/// ```
/// use staticnet_runtime::kernels::{Kernel, Pad, Stride};
/// use staticnet_runtime::quant::{Conv2dInt8, OutputStage, QConv2dParams};
///
/// // One 1×1 filter of weight 2 on a 2×2 image, zero points 0, multiplier
/// // 0.5 (2³⁰, shift 0): y = 2 · x · 0.5 = x.
/// let out = OutputStage { multiplier: [1 << 30], shift: [0], output_zero_point: 0, min: -128, max: 127 };
/// let p = QConv2dParams { weight: [[2]], bias: [0], input_zero_point: 0, out };
/// let y: [[[i8; 2]; 2]; 1] =
///     Conv2dInt8::<Kernel<1, 1>, Stride<1, 1>, Pad<0, 0>>::forward(&p, &[[[1, -2], [3, 127]]]);
/// assert_eq!(y, [[[1, -2], [3, 127]]]);
/// ```
pub struct Conv2dInt8<K, S, P>(PhantomData<(K, S, P)>);

impl<
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
    > Conv2dInt8<Kernel<KH, KW>, Stride<SH, SW>, Pad<PT, PL>>
{
    /// [`conv2d_int8_into`].
    #[inline(always)]
    pub fn forward_into<
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
        const K: usize,
    >(
        p: &QConv2dParams<O, K>,
        x: &[[[i8; W]; H]; C],
        y: &mut [[[i8; OW]; OH]; O],
    ) {
        conv2d_int8_into::<C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, y)
    }

    /// [`conv2d_int8_into`] on a zeroed local, returned.
    #[inline(always)]
    pub fn forward<
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
        const K: usize,
    >(
        p: &QConv2dParams<O, K>,
        x: &[[[i8; W]; H]; C],
    ) -> [[[i8; OW]; OH]; O] {
        let mut y = [[[0; OW]; OH]; O];
        Self::forward_into(p, x, &mut y);
        y
    }
}

/// One int8 `DepthwiseConv2d`'s geometry, as [`Conv2dInt8`].
pub struct DepthwiseConv2dInt8<K, S, P>(PhantomData<(K, S, P)>);

impl<
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
    > DepthwiseConv2dInt8<Kernel<KH, KW>, Stride<SH, SW>, Pad<PT, PL>>
{
    /// [`depthwise_conv2d_int8_into`].
    #[inline(always)]
    pub fn forward_into<
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
        const K: usize,
    >(
        p: &QDepthwiseParams<O, K>,
        x: &[[[i8; W]; H]; C],
        y: &mut [[[i8; OW]; OH]; O],
    ) {
        depthwise_conv2d_int8_into::<C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, y)
    }

    /// [`depthwise_conv2d_int8_into`] on a zeroed local, returned.
    #[inline(always)]
    pub fn forward<
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
        const K: usize,
    >(
        p: &QDepthwiseParams<O, K>,
        x: &[[[i8; W]; H]; C],
    ) -> [[[i8; OW]; OH]; O] {
        let mut y = [[[0; OW]; OH]; O];
        Self::forward_into(p, x, &mut y);
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: i32 = 1 << 30;

    fn stage<const O: usize>(zp: i32, min: i8, max: i8) -> OutputStage<O> {
        OutputStage {
            multiplier: [HALF; O],
            shift: [0; O],
            output_zero_point: zp,
            min,
            max,
        }
    }

    #[test]
    fn inside_ranges() {
        // Pad 1, stride 1, 2 inputs, 2 outputs: tap 0 reaches outputs 1..2
        // (output 0 would read row −1), tap 1 both.
        assert_eq!(inside(0, 1, 1, 2, 2), (1, 2));
        assert_eq!(inside(1, 1, 1, 2, 2), (0, 2));
        // KWS's 10×4 stride 2, pad 4 on 49 rows → 25: tap 0 reaches
        // outputs 2..25 (2·2 − 4 = 0), tap 9 0..22 (21·2 + 5 = 47 < 49,
        // 22·2 + 5 = 49 is outside).
        assert_eq!(inside(0, 2, 4, 49, 25), (2, 25));
        assert_eq!(inside(9, 2, 4, 49, 25), (0, 22));
        // A tap that reaches nothing.
        assert_eq!(inside(0, 1, 5, 2, 3), (5, 5));
    }

    #[test]
    fn conv_hand_worked_with_padding_zero_points_and_clamp() {
        // 1 input channel 2×2, input zero point 1, a 2×2 kernel, padding
        // 1 on top/left, output 2×2 (bottom/right padding 0), multiplier
        // 0.5, output zero point −3, ReLU as the clamp [−3, 127].
        // x − zp = [[1, −2], [3, 0]]; w = [[1, 2], [3, 4]]; bias 5.
        // y(0,0): only tap (1,1)·(0,0): 4·1 = 4, +5 = 9 → 4.5 → 5 − 3 = 2.
        // y(0,1): taps (1,0)·(0,0) + (1,1)·(0,1) = 3·1 + 4·(−2) = −5, +5 = 0
        //         → 0 − 3 = −3.
        // y(1,0): (0,1)·(0,0) + (1,1)·(1,0) = 2·1 + 4·3 = 14, +5 = 19 → 9.5
        //         → 10 − 3 = 7.
        // y(1,1): 1·1 + 2·(−2) + 3·3 + 4·0 = 6, +5 = 11 → 5.5 → 6 − 3 = 3.
        let p = QConv2dParams {
            weight: [[1, 2, 3, 4]],
            bias: [5],
            input_zero_point: 1,
            out: stage::<1>(-3, -3, 127),
        };
        let x = [[[2, -1], [4, 1]]];
        let y: [[[i8; 2]; 2]; 1] =
            Conv2dInt8::<Kernel<2, 2>, Stride<1, 1>, Pad<1, 1>>::forward(&p, &x);
        assert_eq!(y, [[[2, -3], [7, 3]]]);
        // A negative sum is clamped at the ReLU's lower bound: bias −20
        // makes y(0,1) (−25 → −12.5 → −12 − 3 = −15) the zero point −3.
        let p2 = QConv2dParams {
            bias: [-20],
            ..p.clone()
        };
        let y: [[[i8; 2]; 2]; 1] =
            Conv2dInt8::<Kernel<2, 2>, Stride<1, 1>, Pad<1, 1>>::forward(&p2, &x);
        assert_eq!(y[0][0][1], -3);
    }

    #[test]
    fn conv_two_channels_stride_two_per_channel_multipliers() {
        // 2 input channels 3×3, kernel 1×1, stride 2 → 2×2; two output
        // channels: o0 = x0 + x1 with multiplier 0.5 and shift 1 (×1),
        // o1 = x0 − x1 with multiplier 0.75, shift −1 (×0.375).
        let out = OutputStage {
            multiplier: [HALF, 3 << 29],
            shift: [1, -1],
            output_zero_point: 0,
            min: -128,
            max: 127,
        };
        let p = QConv2dParams {
            weight: [[1, 1], [1, -1]],
            bias: [0, 0],
            input_zero_point: 0,
            out,
        };
        let x = [
            [[10, 0, 20], [0, 0, 0], [30, 0, 127]],
            [[6, 0, -20], [0, 0, 0], [2, 0, 127]],
        ];
        let y: [[[i8; 2]; 2]; 2] =
            Conv2dInt8::<Kernel<1, 1>, Stride<2, 2>, Pad<0, 0>>::forward(&p, &x);
        // o0: 16, 0, 32, 254 → 127 (clamped). o1: 4·0.375 = 1.5: srdhm gives
        // 4·0.75 = 3, then 3/2 = 1.5 → 2; 40·0.375 = 15; 28·0.375 = 10.5:
        // 21 / 2 → 11; 0.
        assert_eq!(y, [[[16, 0], [32, 127]], [[2, 15], [11, 0]]]);
    }

    #[test]
    fn depthwise_multiplier_two_reads_its_channel() {
        // C = 1, M = 2: both outputs read channel 0; 3×1 image, kernel 3×1
        // 'same' (pad 1 on top), input zero point −1 (x − zp = x + 1).
        let p = QDepthwiseParams {
            weight: [[1, 1, 1], [0, 1, 0]],
            bias: [0, 1],
            input_zero_point: -1,
            out: OutputStage {
                multiplier: [HALF; 2],
                shift: [1; 2],
                output_zero_point: 0,
                min: -128,
                max: 127,
            },
        };
        let x = [[[1], [2], [3]]]; // x − zp = 2, 3, 4
        let y: [[[i8; 1]; 3]; 2] =
            DepthwiseConv2dInt8::<Kernel<3, 1>, Stride<1, 1>, Pad<1, 0>>::forward(&p, &x);
        assert_eq!(y, [[[5], [9], [7]], [[3], [4], [5]]]);
    }

    #[test]
    fn depthwise_per_channel_stride_two_padding() {
        // C = 2, M = 1, 2×2 images, kernel 2×2 stride 2 pad (1, 1) → 2×2.
        let p = QDepthwiseParams {
            weight: [[1, 2, 3, 4], [-1, -1, -1, -1]],
            bias: [0, 0],
            input_zero_point: 0,
            out: OutputStage {
                multiplier: [HALF; 2],
                shift: [1; 2],
                output_zero_point: 10,
                min: -128,
                max: 127,
            },
        };
        let x = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]];
        let y: [[[i8; 2]; 2]; 2] =
            DepthwiseConv2dInt8::<Kernel<2, 2>, Stride<2, 2>, Pad<1, 1>>::forward(&p, &x);
        // Channel 0: (0,0) sees x[0][0]·w[1][1] = 4; (0,1): x[0][1]·w[1][0]
        // = 6; (1,0): x[1][0]·w[0][1] = 6; (1,1): x[1][1]·w[0][0] = 4; + 10.
        // Channel 1: −5, −6, −7, −8 (+10).
        assert_eq!(y, [[[14, 16], [16, 14]], [[5, 4], [3, 2]]]);
    }
}
