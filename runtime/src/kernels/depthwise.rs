//! `DepthwiseConv2d`: PyTorch's `nn.Conv2d(C, C·M, (KH, KW), stride,
//! padding, dilation, groups = C, bias)`, Keras' `DepthwiseConv2D` with
//! `depth_multiplier = M`, and its backward pass.
//!
//! Output channel `o` is multiplier `o % M` of input channel `o / M`
//! (PyTorch's order: the `M` outputs of channel 0 first). The weight is
//! PyTorch's `[C·M, 1, KH, KW]`, stored as `SMatrix<T, C·M, KH·KW>`: the
//! block of a `Conv2d` with one input channel per group, so the layer uses
//! [`Conv2dParams`](crate::Conv2dParams) (or
//! [`Conv2dNoBiasParams`](crate::Conv2dNoBiasParams)) and the grouped
//! kernels of `conv.rs` with `groups = C`: with one channel per group their
//! loops are exactly the depthwise ones (one `KH·KW` window per output
//! value, no sum over channels).

use super::conv::{
    conv2d_grouped, conv2d_grouped_backward, conv2d_grouped_backward_params,
    conv2d_grouped_epilogue, conv2d_grouped_into,
};
use super::epilogue::{AffineThen, ChannelAffine};
use super::geometry::{Dilation, In, Kernel, Out, Pad, Stride};
use crate::{Activation, ConvBlock, Float, Image};
use core::marker::PhantomData;

/// The size relations of a depthwise convolution, checked at compile time.
#[inline(always)]
fn depthwise_asserts<
    const C: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const K: usize,
>() {
    const {
        assert!(
            C > 0 && O.is_multiple_of(C),
            "depthwise_conv2d: O must be C · depth_multiplier"
        );
        assert!(K == KH * KW, "depthwise_conv2d: K must be KH * KW");
    };
}

/// `DepthwiseConv2d` forward: `[C, H, W]` → `[O, OH, OW]` with `O = C·M`.
/// `PT`/`PL` are the zero rows/columns at the top/left (the bottom/right
/// padding is what `OH`/`OW` imply), `DH`/`DW` the dilation, `K = KH·KW`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d<
    T: Float,
    A: Activation,
    P: ConvBlock<T, O, K>,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &P,
    x: &Image<T, C, H, W>,
) -> Image<T, O, OH, OW> {
    depthwise_asserts::<C, O, KH, KW, K>();
    conv2d_grouped::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, C, OH, OW, K>(p, x)
}

/// [`depthwise_conv2d`] writing its output into `y` (every value is
/// overwritten), for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_into<
    T: Float,
    A: Activation,
    P: ConvBlock<T, O, K>,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &P,
    x: &Image<T, C, H, W>,
    y: &mut Image<T, O, OH, OW>,
) {
    depthwise_asserts::<C, O, KH, KW, K>();
    conv2d_grouped_into::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, C, OH, OW, K>(
        p, x, y,
    )
}

/// Backward of [`depthwise_conv2d`]: given the input `x`, the activated
/// output `y` and `dy = dL/dy`, adds `dL/dW` (and `dL/db`) into `g` and
/// returns `dL/dx`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_backward<
    T: Float,
    A: Activation,
    P: ConvBlock<T, O, K>,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &P,
    x: &Image<T, C, H, W>,
    y: &Image<T, O, OH, OW>,
    dy: &Image<T, O, OH, OW>,
    g: &mut P,
) -> Image<T, C, H, W> {
    depthwise_asserts::<C, O, KH, KW, K>();
    conv2d_grouped_backward::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, C, OH, OW, K>(
        p, x, y, dy, g,
    )
}

/// [`depthwise_conv2d_backward`] without `dL/dx`, for a network's first
/// layer.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_backward_params<
    T: Float,
    A: Activation,
    P: ConvBlock<T, O, K>,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    x: &Image<T, C, H, W>,
    y: &Image<T, O, OH, OW>,
    dy: &Image<T, O, OH, OW>,
    g: &mut P,
) {
    depthwise_asserts::<C, O, KH, KW, K>();
    conv2d_grouped_backward_params::<
        T,
        A,
        P,
        C,
        H,
        W,
        O,
        KH,
        KW,
        SH,
        SW,
        DH,
        DW,
        PT,
        PL,
        C,
        OH,
        OW,
        K,
    >(x, y, dy, g)
}

/// One `DepthwiseConv2d` layer's static description: its activation and
/// geometry, each size named once (the depth multiplier is `O / C`):
///
/// ```
/// use staticnet_runtime::kernels::{DepthwiseConv2d, Dilation, In, Kernel, Out, Pad, Stride};
/// use staticnet_runtime::{activation::Relu, Conv2dParams};
///
/// // DepthwiseConv2d(kernel = 3, padding = same, depth_multiplier = 2) on [8, 5, 5].
/// type Dw = DepthwiseConv2d<Relu, In<8, 5, 5>, Out<16, 5, 5>, Kernel<3, 3>, Stride<1, 1>,
///     Pad<1, 1>, Dilation<1, 1>>;
/// let p = Conv2dParams::<f32, 16, 9>::zeros();
/// let y = Dw::forward(&p, &[[[1.0; 5]; 5]; 8]);
/// assert_eq!(y[15][4][4], 0.0);
/// ```
pub struct DepthwiseConv2d<A, I, O, K, S, P, D>(PhantomData<(A, I, O, K, S, P, D)>);

impl<
        A: Activation,
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const OH: usize,
        const OW: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const PT: usize,
        const PL: usize,
        const DH: usize,
        const DW: usize,
    >
    DepthwiseConv2d<
        A,
        In<C, H, W>,
        Out<O, OH, OW>,
        Kernel<KH, KW>,
        Stride<SH, SW>,
        Pad<PT, PL>,
        Dilation<DH, DW>,
    >
{
    /// [`depthwise_conv2d`]. `K` (`KH·KW`) comes from the parameters' type.
    #[inline(always)]
    pub fn forward<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        p: &P,
        x: &Image<T, C, H, W>,
    ) -> Image<T, O, OH, OW> {
        depthwise_conv2d::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, K>(p, x)
    }

    /// [`depthwise_conv2d_into`]: the output written into `y`.
    #[inline(always)]
    pub fn forward_into<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        p: &P,
        x: &Image<T, C, H, W>,
        y: &mut Image<T, O, OH, OW>,
    ) {
        depthwise_conv2d_into::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, K>(
            p, x, y,
        )
    }

    /// [`depthwise_conv2d_backward`]: the parameter gradients into `g`,
    /// `dL/dx` returned.
    #[inline(always)]
    pub fn backward<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        p: &P,
        x: &Image<T, C, H, W>,
        y: &Image<T, O, OH, OW>,
        dy: &Image<T, O, OH, OW>,
        g: &mut P,
    ) -> Image<T, C, H, W> {
        depthwise_conv2d_backward::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, K>(
            p, x, y, dy, g,
        )
    }

    /// [`depthwise_conv2d_backward_params`]: the parameter gradients only.
    #[inline(always)]
    pub fn backward_params<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        x: &Image<T, C, H, W>,
        y: &Image<T, O, OH, OW>,
        dy: &Image<T, O, OH, OW>,
        g: &mut P,
    ) {
        depthwise_conv2d_backward_params::<
            T,
            A,
            P,
            C,
            H,
            W,
            O,
            KH,
            KW,
            SH,
            SW,
            DH,
            DW,
            PT,
            PL,
            OH,
            OW,
            K,
        >(x, y, dy, g)
    }

    /// The forward with `A` after a per-channel affine, in the kernel's
    /// output loop ([`conv2d_grouped_epilogue`] with `groups = C`): the
    /// inference forward of `DepthwiseConv2d → BatchNorm → A`.
    #[inline(always)]
    pub fn forward_affine<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        p: &P,
        x: &Image<T, C, H, W>,
        affine: &ChannelAffine<T, O>,
    ) -> Image<T, O, OH, OW> {
        depthwise_asserts::<C, O, KH, KW, K>();
        conv2d_grouped_epilogue::<
            T,
            AffineThen<A, T, O>,
            P,
            C,
            H,
            W,
            O,
            KH,
            KW,
            SH,
            SW,
            DH,
            DW,
            PT,
            PL,
            C,
            OH,
            OW,
            K,
        >(p, x, &AffineThen::new(affine))
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the formulas
pub(crate) mod tests {
    use super::*;
    use crate::activation::{Linear, Relu, Sigmoid, Softmax, Tanh};
    use crate::init::Rng;
    use crate::kernels::testutil::{check_grad, close, dot, fill};
    use crate::{Conv2dNoBiasParams, Conv2dParams, Tensor};

    /// 2 channels, multiplier 2, 3×3 input, 2×2 kernel, valid:
    ///
    /// x0 = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], x1 = [[1, 0, −1], [2, 0, −2], [3, 0, −3]].
    /// Output 0 (channel 0, m 0): kernel [[1, 0], [0, 0]], bias 0:   y = x0[i][j].
    /// Output 1 (channel 0, m 1): kernel [[0, 1], [1, 0]], bias 1:
    ///   y = x0[i][j+1] + x0[i+1][j] + 1.
    /// Output 2 (channel 1, m 0): kernel [[1, 1], [1, 1]], bias 0: the window sum of x1.
    /// Output 3 (channel 1, m 1): kernel [[2, 0], [0, −1]], bias −0.5:
    ///   y = 2·x1[i][j] − x1[i+1][j+1] − 0.5.
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn multiplier_two_by_hand() {
        let mut p = Conv2dParams::<f64, 4, 4>::zeros();
        // row o, column k = ki·2 + kj
        for (o, taps, b) in [
            (0, [1.0, 0.0, 0.0, 0.0], 0.0),
            (1, [0.0, 1.0, 1.0, 0.0], 1.0),
            (2, [1.0, 1.0, 1.0, 1.0], 0.0),
            (3, [2.0, 0.0, 0.0, -1.0], -0.5),
        ] {
            for (k, v) in taps.into_iter().enumerate() {
                p.weight[(o, k)] = v;
            }
            p.bias[o] = b;
        }
        let x: Image<f64, 2, 3, 3> = [
            [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
            [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [3.0, 0.0, -3.0]],
        ];
        // Worked out from the formulas above:
        //   y1 = [[2+4+1, 3+5+1], [5+7+1, 6+8+1]]
        //   y2 = [[1+0+2+0, 0−1+0−2], [2+0+3+0, 0−2+0−3]]
        //   y3 = [[2−0−.5, 0+2−.5], [4−0−.5, 0+3−.5]]
        let want = [
            [[1.0, 2.0], [4.0, 5.0]],
            [[7.0, 9.0], [13.0, 15.0]],
            [[3.0, -3.0], [5.0, -5.0]],
            [[1.5, 1.5], [3.5, 2.5]],
        ];
        type Dw = DepthwiseConv2d<
            Linear,
            In<2, 3, 3>,
            Out<4, 2, 2>,
            Kernel<2, 2>,
            Stride<1, 1>,
            Pad<0, 0>,
            Dilation<1, 1>,
        >;
        assert_eq!(Dw::forward(&p, &x), want);
        let x32 = x.map(|c| c.map(|r| r.map(|v| v as f32)));
        let p32 = Conv2dParams::<f32, 4, 4> {
            weight: p.weight.map(|v| v as f32),
            bias: p.bias.map(|v| v as f32),
        };
        let y32 = Dw::forward(&p32, &x32);
        close(y32.as_flat(), want.as_flat(), 0.0);
        // Without the bias: every output loses its bias.
        let nb = Conv2dNoBiasParams { weight: p.weight };
        let y = Dw::forward(&nb, &x);
        let unbiased = [0.0, 1.0, 0.0, -0.5];
        for o in 0..4 {
            for i in 0..2 {
                for j in 0..2 {
                    assert_eq!(y[o][i][j], want[o][i][j] - unbiased[o]);
                }
            }
        }
    }

    /// Dilation 2: a 2×2 kernel [[1, 0], [0, 1]] spans 3×3, on
    /// x[h][w] = 5h + w (5×5, valid): y[i][j] = x[i][j] + x[i+2][j+2] =
    /// 10i + 2j + 12. With stride 2 and one zero row/column on top/left:
    /// y[i][j] = x[2i−1][2j−1] + x[2i+1][2j+1] (zero outside).
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn dilation_by_hand() {
        let mut p = Conv2dNoBiasParams::<f64, 1, 4>::zeros();
        p.weight[(0, 0)] = 1.0;
        p.weight[(0, 3)] = 1.0;
        let x: Image<f64, 1, 5, 5> = [core::array::from_fn(|h| {
            core::array::from_fn(|w| (5 * h + w) as f64)
        })];
        let y =
            depthwise_conv2d::<f64, Linear, _, 1, 5, 5, 1, 2, 2, 1, 1, 2, 2, 0, 0, 3, 3, 4>(&p, &x);
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(y[0][i][j], (10 * i + 2 * j + 12) as f64);
            }
        }
        // Stride 2, PT = PL = 1: output 3×3 over the padded 7×7.
        let y =
            depthwise_conv2d::<f64, Linear, _, 1, 5, 5, 1, 2, 2, 2, 2, 2, 2, 1, 1, 3, 3, 4>(&p, &x);
        let xv = |h: isize, w: isize| {
            if (0..5).contains(&h) && (0..5).contains(&w) {
                (5 * h + w) as f64
            } else {
                0.0
            }
        };
        for i in 0..3isize {
            for j in 0..3isize {
                let want = xv(2 * i - 1, 2 * j - 1) + xv(2 * i + 1, 2 * j + 1);
                assert_eq!(y[0][i as usize][j as usize], want, "{i},{j}");
            }
        }
    }

    /// A grouped (or depthwise, `G = C`) case's point: parameters and input.
    type Point<P, const C: usize, const H: usize, const W: usize> = (P, Image<f64, C, H, W>);

    /// The forward, backward and backward-params kernels of
    /// [`conv2d_grouped`] with activation `A` against fourth-order central
    /// differences of `L = Σ r ⊙ y` in f64, for every weight, bias (if
    /// `P` has one) and input value.
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_grouped<
        A: Activation,
        P: ConvBlock<f64, O, K> + Clone,
        const C: usize,
        const H: usize,
        const W: usize,
        const O: usize,
        const KH: usize,
        const KW: usize,
        const SH: usize,
        const SW: usize,
        const DH: usize,
        const DW: usize,
        const PT: usize,
        const PL: usize,
        const G: usize,
        const OH: usize,
        const OW: usize,
        const K: usize,
    >(
        what: &str,
        seed: u64,
        zeros: fn() -> P,
    ) {
        let mut rng = Rng::new(seed);
        let mut p = zeros();
        fill(&mut rng, p.weight_mut().as_mut_slice());
        if let Some(b) = p.bias_mut() {
            fill(&mut rng, b.as_mut_slice());
        }
        let mut x = <Image<f64, C, H, W> as Tensor<f64>>::zeros();
        fill(&mut rng, x.as_flat_mut());
        let mut r = <Image<f64, O, OH, OW> as Tensor<f64>>::zeros();
        fill(&mut rng, r.as_flat_mut());
        let fwd = |p: &P, x: &Image<f64, C, H, W>| {
            conv2d_grouped::<f64, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, G, OH, OW, K>(
                p, x,
            )
        };
        let y = fwd(&p, &x);
        let mut g = zeros();
        let dx = conv2d_grouped_backward::<
            f64,
            A,
            P,
            C,
            H,
            W,
            O,
            KH,
            KW,
            SH,
            SW,
            DH,
            DW,
            PT,
            PL,
            G,
            OH,
            OW,
            K,
        >(&p, &x, &y, &r, &mut g);
        let mut g2 = zeros();
        conv2d_grouped_backward_params::<
            f64,
            A,
            P,
            C,
            H,
            W,
            O,
            KH,
            KW,
            SH,
            SW,
            DH,
            DW,
            PT,
            PL,
            G,
            OH,
            OW,
            K,
        >(&x, &y, &r, &mut g2);
        assert_eq!(g.weight(), g2.weight(), "{what}: backward_params weight");
        assert_eq!(g.bias(), g2.bias(), "{what}: backward_params bias");
        let loss = |q: &Point<P, C, H, W>| dot(r.as_flat(), fwd(&q.0, &q.1).as_flat());
        let pt = (p, x);
        check_grad(
            what,
            &pt,
            |q| q.0.weight_mut().as_mut_slice(),
            loss,
            g.weight().as_slice(),
        );
        if let Some(b) = g.bias() {
            check_grad(
                what,
                &pt,
                |q| match q.0.bias_mut() {
                    Some(b) => b.as_mut_slice(),
                    None => &mut [],
                },
                loss,
                b.as_slice(),
            );
        }
        check_grad(what, &pt, |q| q.1.as_flat_mut(), loss, dx.as_flat());
    }

    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn depthwise_backward_matches_finite_differences() {
        // m = 1, 3×3, same padding (1, 1), every activation.
        let b = Conv2dParams::<f64, 3, 9>::zeros;
        check_grouped::<Linear, _, 3, 4, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 4, 5, 9>("m1", 1, b);
        check_grouped::<Relu, _, 3, 4, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 4, 5, 9>("relu", 2, b);
        check_grouped::<Sigmoid, _, 3, 4, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 4, 5, 9>("sig", 3, b);
        check_grouped::<Softmax, _, 3, 4, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 4, 5, 9>("soft", 4, b);
        // m = 2, stride 2, same on 5×6 with a 3×3 kernel: TensorFlow pads
        // (1, 1) rows and (0, 1) columns; output 3×3.
        let b = Conv2dParams::<f64, 4, 9>::zeros;
        check_grouped::<Tanh, _, 2, 5, 6, 4, 3, 3, 2, 2, 1, 1, 1, 0, 2, 3, 3, 9>("m2 s2", 5, b);
        // dilation 2, no bias, 2×3 kernel spanning 3×5, valid on 5×6: 3×2.
        let b = Conv2dNoBiasParams::<f64, 4, 6>::zeros;
        check_grouped::<Linear, _, 2, 5, 6, 4, 2, 3, 1, 1, 2, 2, 0, 0, 2, 3, 2, 6>("d2", 6, b);
        // dilation (2, 1) with stride (1, 2) and explicit padding (2, 1).
        let b = Conv2dParams::<f64, 6, 4>::zeros;
        check_grouped::<Relu, _, 3, 4, 4, 6, 2, 2, 1, 2, 2, 1, 2, 1, 3, 6, 3, 4>("d21", 7, b);
        // The contiguous-run paths: `same` with dilation 2 (each tap one
        // masked run over the flattened plane), and 1×1 over the whole
        // plane, grouped and not, through the identity and through relu.
        let b = Conv2dNoBiasParams::<f64, 2, 9>::zeros;
        check_grouped::<Linear, _, 2, 5, 6, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 5, 6, 9>("flat d2", 8, b);
        let b = Conv2dParams::<f64, 3, 1>::zeros;
        check_grouped::<Relu, _, 3, 4, 5, 3, 1, 1, 1, 1, 1, 1, 0, 0, 3, 4, 5, 1>("1x1 dw", 9, b);
        let b = Conv2dNoBiasParams::<f64, 2, 3>::zeros;
        check_grouped::<Linear, _, 3, 4, 5, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, 4, 5, 3>("1x1", 10, b);
        let b = Conv2dParams::<f64, 4, 3>::zeros;
        check_grouped::<Tanh, _, 3, 3, 4, 4, 1, 1, 1, 1, 1, 1, 0, 0, 1, 3, 4, 3>("1x1 b", 11, b);
    }
}
