//! `Conv2d`: cross-correlation as PyTorch's `nn.Conv2d`, with zero padding,
//! and its backward pass.
//!
//! Loop order: one output pixel at a time, its `O` filter sums held in a
//! local array (registers) and updated with one weight column per kernel
//! tap. Column `k = (c·KH + ki)·KW + kj` of the column-major weight
//! `SMatrix<T, O, K>` holds that tap's weight for every filter as `O`
//! contiguous values, so the innermost loop is a contiguous `acc += w_k · x`
//! that vectorises over the filters whatever the stride. Padding never
//! reaches the inner loops: for each output row and column the range of
//! kernel taps that land inside the input is computed once, and rows and
//! taps are walked with iterators over exactly that range (no bounds checks,
//! no zero multiplications). The activation is applied to the `O` sums of
//! the pixel before they are stored, which for `Softmax` is exactly the
//! group it needs (across channels, per pixel).

use super::blas::madd;
use super::epilogue::{Activate, AffineThen, ChannelAffine, Epilogue, SIMPLE_NONE, SIMPLE_RELU};
use super::geometry::{Dilation, Groups, In, Kernel, Out, Pad, Stride};
use crate::{Activation, Conv2dParams, ConvBlock, Float, Image};
use core::marker::PhantomData;

/// The kernel taps `k` of output position `i` that land inside an input of
/// length `n`, for stride `s` and leading padding `p`: returns
/// `(first tap, first input index, number of taps)`.
#[inline(always)]
fn taps(i: usize, s: usize, p: usize, k: usize, n: usize) -> (usize, usize, usize) {
    // Input index of tap t is i·s + t − p; it must lie in 0..n.
    let start = i * s;
    let lo = p.saturating_sub(start);
    let hi = k.min((p + n).saturating_sub(start));
    (lo, (start + lo).saturating_sub(p), hi.saturating_sub(lo))
}

/// `Conv2d` forward: `[C, H, W]` → `[O, OH, OW]`.
///
/// `PT`/`PL` are the zero rows/columns added at the top/left; the bottom and
/// right padding is whatever `OH`/`OW` imply (TensorFlow's `same` puts the
/// odd extra row and column there). `K` must be `C·KH·KW`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d<
    T: Float,
    A: Activation,
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
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
) -> Image<T, O, OH, OW> {
    let mut y = [[[T::zero(); OW]; OH]; O];
    conv2d_into::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, &mut y);
    y
}

/// [`conv2d`] writing its output into `y` (every value is overwritten):
/// the form a training forward uses to record straight into its tape,
/// so a large output is never built on the stack and copied.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_into<
    T: Float,
    A: Activation,
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
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
    y: &mut Image<T, O, OH, OW>,
) {
    conv2d_epilogue_into::<T, Activate<A>, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(
        p,
        x,
        &Activate::new(),
        y,
    )
}

/// [`conv2d`] with the epilogue `e` in place of the activation: applied to
/// each output pixel's `O` sums (or each filter's output row) in registers
/// before they are stored. With [`AffineThen`] it is `Conv2d` followed by
/// BatchNorm (inference statistics) and an activation, in one loop.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_epilogue<
    T: Float,
    E: Epilogue<T, O>,
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
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
    e: &E,
) -> Image<T, O, OH, OW> {
    let mut y = [[[T::zero(); OW]; OH]; O];
    conv2d_epilogue_into::<T, E, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, e, &mut y);
    y
}

/// [`conv2d_epilogue`] writing its output into `y` (every value is
/// overwritten).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_epilogue_into<
    T: Float,
    E: Epilogue<T, O>,
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
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
    e: &E,
    y: &mut Image<T, O, OH, OW>,
) {
    const {
        assert!(K == C * KH * KW, "conv2d: K must be C * KH * KW");
        assert!(SH > 0 && SW > 0, "conv2d: strides must be positive");
    };
    // (All constants: the branch not taken is not compiled.)
    if E::ELEMENTWISE
        && SH == 1
        && SW == 1
        && PT == 0
        && PL == 0
        && OH + KH <= H + 1
        && OW + KW <= W + 1
    {
        return valid_unit_stride::<T, E, C, H, W, O, KH, KW, OH, OW, K>(p, x, e, y);
    }
    let w = p.weight.as_slice();
    for i in 0..OH {
        let (ki0, r0, nr) = taps(i, SH, PT, KH, H);
        for j in 0..OW {
            let (kj0, c0, nc) = taps(j, SW, PL, KW, W);
            let mut acc: [T; O] = p.bias.data.0[0];
            // Slices zipped with slices' chunks: counted loops. (Zips of
            // `skip`/`take` adapters are a `Zip::next` call per element
            // wherever LLVM does not inline it, as in the AVX2 copy of
            // ResNet-8's forward, which ran up to 5× slower than the
            // baseline copy.)
            for (xc, wc) in x.iter().zip(w.chunks_exact(KH * KW * O)) {
                let rows = xc.get(r0..(r0 + nr).min(H)).unwrap_or(&[]);
                let wrows = wc.get(ki0 * KW * O..).unwrap_or(&[]);
                for (xr, wr) in rows.iter().zip(wrows.chunks_exact(KW * O)) {
                    let cols = xr.get(c0..(c0 + nc).min(W)).unwrap_or(&[]);
                    let wcols = wr.get(kj0 * O..).unwrap_or(&[]);
                    for (&xv, wk) in cols.iter().zip(wcols.chunks_exact(O)) {
                        for (a, &wv) in acc.iter_mut().zip(wk) {
                            *a = madd(wv, xv, *a);
                        }
                    }
                }
            }
            if !E::ELEMENTWISE {
                e.all(&mut acc);
            }
            for (yo, &a) in y.iter_mut().zip(&acc) {
                yo[i][j] = a;
            }
        }
        if E::ELEMENTWISE {
            // Each channel's output row, contiguous and still in L1: the
            // epilogue runs over it as vectors. Applied to every pixel's `O`
            // sums instead, it made this loop ~1.8× slower (MobileNet-VWW's
            // first block, relu or BatchNorm + relu, 8 filters; see
            // BENCHMARKS.md), whatever it computed.
            for (o, yo) in y.iter_mut().enumerate() {
                e.channel(o, &mut yo[i]);
            }
        }
    }
}

/// Output channels computed together by [`valid_unit_stride`]: each input
/// row loaded is used for this many filters.
const FILTERS: usize = 4;

/// [`conv2d`] with stride 1 and no padding (`valid`), for an element-wise
/// activation; [`conv2d`] calls it only for those shapes (every window
/// inside the input): one output row of one filter at a time,
/// its `OW` sums in registers and updated, for every tap, with the input
/// row slice that tap reads (contiguous, so one vector FMA per tap and
/// filter), for [`FILTERS`] filters at once. The output is written a row at
/// a time in its own channel-major layout, where the per-pixel loop of
/// [`conv2d`] scatters one value per channel. W1's conv: ~2× faster.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn valid_unit_stride<
    T: Float,
    E: Epilogue<T, O>,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
    e: &E,
    y: &mut Image<T, O, OH, OW>,
) {
    let o0 = filter_rows::<T, E, FILTERS, C, H, W, O, KH, KW, OH, OW, K>(0, p, x, y, e);
    if !O.is_multiple_of(FILTERS) {
        filter_rows::<T, E, 1, C, H, W, O, KH, KW, OH, OW, K>(o0, p, x, y, e);
    }
}

/// The filters `o0..` of [`valid_unit_stride`] in blocks of `F`; returns the
/// first filter not done.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn filter_rows<
    T: Float,
    E: Epilogue<T, O>,
    const F: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    mut o0: usize,
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
    y: &mut Image<T, O, OH, OW>,
    e: &E,
) -> usize {
    // Column k of the weight holds tap k's weight for every filter.
    let w: &[[T; O]; K] = &p.weight.data.0;
    let b: &[T; O] = &p.bias.data.0[0];
    // The rows arm_blocks computes into, once for every filter block.
    let mut rows = [[T::zero(); OW]; 4];
    while o0 + F <= O {
        if F == 4 && arm_blocks::<T, E, C, H, W, O, KH, KW, OH, OW, K>(o0, p, x, y, e, &mut rows) {
            o0 += F;
            continue;
        }
        for i in 0..OH {
            let mut acc = [[T::zero(); OW]; F];
            for (a, &bv) in acc.iter_mut().zip(&b[o0..o0 + F]) {
                *a = [bv; OW];
            }
            // Tap k = (c·KH + ki)·KW + kj walked as channel, row and column
            // chunks of `w` beside the input rows `i..i + KH` and their
            // `OW`-wide windows (`W − OW + 1 = KW` of them): every slice
            // comes from an iterator, so no index can be out of bounds (an
            // explicit tap counter `w[k]` kept a bounds check on Thumb).
            for (xc, wc) in x.iter().zip(w.chunks_exact(KH * KW)) {
                for (xr, wr) in xc.iter().skip(i).take(KH).zip(wc.chunks_exact(KW)) {
                    for (xs, wk) in xr.windows(OW).zip(wr) {
                        let wk = &wk[o0..o0 + F];
                        for (a, &wv) in acc.iter_mut().zip(wk) {
                            for (av, &xv) in a.iter_mut().zip(xs) {
                                *av = madd(wv, xv, *av);
                            }
                        }
                    }
                }
            }
            for (f, (yo, a)) in y[o0..o0 + F].iter_mut().zip(&mut acc).enumerate() {
                e.channel(o0 + f, a);
                yo[i] = *a;
            }
        }
        o0 += F;
    }
    o0
}

/// The 4 filters `o0..o0 + 4` of [`filter_rows`] in blocks of 4 × 4
/// output pixels with the target's hand-written kernel ([`Float::conv3_4x4`]:
/// `f32` on 32-bit Arm with hardware float; the same sums in the same
/// order), for kernels 3 wide and rows a multiple of 4 wide; returns
/// `false` (and does nothing) where there is no such kernel or shape.
/// `relu` and the identity are applied by the kernel in registers, any
/// other element-wise epilogue to each filter's output row once the row is
/// complete, before it is stored.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn arm_blocks<
    T: Float,
    E: Epilogue<T, O>,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    o0: usize,
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
    y: &mut Image<T, O, OH, OW>,
    e: &E,
    rows: &mut [[T; OW]; 4],
) -> bool {
    if KW != 3 || OW == 0 || OH == 0 || !OW.is_multiple_of(4) {
        return false;
    }
    let w: &[[T; O]; K] = &p.weight.data.0;
    // The four filters' biases, each for four pixels: acc[4f + p] starts
    // at b[o0 + f].
    let mut init = [T::zero(); 16];
    for (v, &bv) in init
        .chunks_exact_mut(4)
        .zip(p.bias.as_slice().iter().skip(o0))
    {
        v.fill(bv);
    }
    let simple = E::simple();
    let block = |i: usize, j0: usize, rows: &mut [[T; OW]; 4]| {
        if simple == SIMPLE_RELU {
            T::conv3_4x4::<C, H, W, O, KH, K, OW, true>(&init, w, o0, x, i, j0, rows)
        } else {
            T::conv3_4x4::<C, H, W, O, KH, K, OW, false>(&init, w, o0, x, i, j0, rows)
        }
    };
    // The first block tells whether the kernel exists here; the others
    // are in bounds whenever it does (stride 1, no padding: `OH + KH <=
    // H + 1`, `OW + 2 <= W`), and fall back to the portable block if not.
    if !block(0, 0, rows) {
        return false;
    }
    for i in 0..OH {
        for j0 in (0..OW).step_by(4) {
            if (i, j0) != (0, 0) && !block(i, j0, rows) {
                block_portable::<T, C, H, W, O, KH, K, OW>(&init, w, o0, x, i, j0, rows);
                if simple == SIMPLE_RELU {
                    for r in rows.iter_mut() {
                        <crate::activation::Relu as Activation>::apply(r);
                    }
                }
            }
        }
        for (f, (yo, r)) in y.iter_mut().skip(o0).zip(rows.iter_mut()).enumerate() {
            if simple == SIMPLE_NONE {
                e.channel(o0 + f, r);
            }
            yo[i] = *r;
        }
    }
    true
}

/// The block of [`arm_blocks`] in portable code (before the epilogue), for
/// a block the target's kernel declined (it declines none when it accepted
/// the first).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn block_portable<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const K: usize,
    const OW: usize,
>(
    init: &[T; 16],
    w: &[[T; O]; K],
    o0: usize,
    x: &[[[T; W]; H]; C],
    i: usize,
    j0: usize,
    rows: &mut [[T; OW]; 4],
) {
    for (r, b) in rows.iter_mut().zip(init.chunks_exact(4)) {
        for (v, &bv) in r.iter_mut().skip(j0).zip(b) {
            *v = bv;
        }
    }
    for (xc, wc) in x.iter().zip(w.chunks_exact(KH * 3)) {
        for (xr, wr) in xc.iter().skip(i).take(KH).zip(wc.chunks_exact(3)) {
            for (kj, wk) in wr.iter().enumerate() {
                for (r, &wv) in rows.iter_mut().zip(wk.iter().skip(o0)) {
                    for (v, &xv) in r.iter_mut().skip(j0).take(4).zip(xr.iter().skip(j0 + kj)) {
                        *v = madd(wv, xv, *v);
                    }
                }
            }
        }
    }
}

/// The output positions `lo..hi` whose tap `t` lands inside an input of
/// length `n`, for stride `s`, leading padding `p` and `m` outputs: those
/// with `0 <= i·s + t − p < n`.
#[inline(always)]
fn outputs(t: usize, s: usize, p: usize, n: usize, m: usize) -> (usize, usize) {
    let lo = p.saturating_sub(t).div_ceil(s);
    let hi = (n + p).saturating_sub(t).div_ceil(s).min(m);
    (lo, hi.max(lo))
}

/// Backward of [`conv2d`]: given the input `x`, the activated output `y`
/// kept by the training forward and `dy = dL/dy`, adds `dL/dW` and `dL/db`
/// into `g` and returns `dL/dx` (zero padding receives no gradient).
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward<
    T: Float,
    A: Activation,
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
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
    y: &Image<T, O, OH, OW>,
    dy: &Image<T, O, OH, OW>,
    g: &mut Conv2dParams<T, O, K>,
) -> Image<T, C, H, W> {
    let dz = dz_and_params::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(x, y, dy, g);
    // dx[c][r][s] += W[:, k] · dz[i][j] for every pixel (i, j) and tap k
    // landing on (r, s).
    let mut dx = [[[T::zero(); W]; H]; C];
    let w = p.weight.as_slice();
    for (i, dzr) in dz.iter().enumerate() {
        let (ki0, r0, nr) = taps(i, SH, PT, KH, H);
        for (j, dzp) in dzr.iter().enumerate() {
            let (kj0, c0, nc) = taps(j, SW, PL, KW, W);
            for (dxc, wc) in dx.iter_mut().zip(w.chunks_exact(KH * KW * O)) {
                let rows = dxc.iter_mut().skip(r0).take(nr);
                for (dxr, wr) in rows.zip(wc.chunks_exact(KW * O).skip(ki0)) {
                    let cols = dxr.iter_mut().skip(c0).take(nc);
                    for (dxv, wk) in cols.zip(wr.chunks_exact(O).skip(kj0)) {
                        *dxv += super::blas::dot(wk, dzp);
                    }
                }
            }
        }
    }
    dx
}

/// [`conv2d_backward`] without `dL/dx`: adds `dL/dW` and `dL/db` into `g`.
/// What a network's first layer needs in training, where nothing consumes
/// the input's gradient.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_params<
    T: Float,
    A: Activation,
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
    x: &Image<T, C, H, W>,
    y: &Image<T, O, OH, OW>,
    dy: &Image<T, O, OH, OW>,
    g: &mut Conv2dParams<T, O, K>,
) {
    // (All constants, as in `conv2d`.)
    if params_in_planes::<A, H, W, KH, KW, SH, SW, PT, PL, OH, OW>() {
        valid_unit_stride_params::<T, A, C, H, W, O, KH, KW, OH, OW, K>(
            core::iter::once((x, y, dy)),
            g,
        );
        return;
    }
    dz_and_params::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(x, y, dy, g);
}

/// Whether the parameter gradients run in channel planes
/// ([`valid_unit_stride_params`]): an elementwise activation and the
/// shapes of [`valid_unit_stride`]. (All constants.)
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn params_in_planes<
    A: Activation,
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
>() -> bool {
    A::ELEMENTWISE
        && SH == 1
        && SW == 1
        && PT == 0
        && PL == 0
        && OH + KH <= H + 1
        && OW + KW <= W + 1
}

/// [`conv2d_backward_params`] over a batch: adds the `dL/dW` and `dL/db`
/// of every sample `samples` yields (its input, activated output and
/// output gradient) into `g`. What a network's first `Conv2d` runs in the
/// layer-major training step, where nothing needs the input's gradient.
///
/// For valid (unpadded), unit-stride shapes each filter's
/// partial sums run over all the samples before their one horizontal sum
/// (per sample, those sums were a third of the kernel's instructions in
/// W1's 3×3 convolution), so `samples` is walked once per block of
/// filters; other shapes run [`conv2d_backward_params`] sample by sample.
/// The sum's order differs from the one-sample kernel's (the samples are
/// added before the rows are reduced), so the result may differ from
/// calling it per sample in the last bits.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward_params_batch<
    'a,
    T: Float + 'a,
    A: Activation,
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
    samples: impl Iterator<Item = ConvSample<'a, T, C, H, W, O, OH, OW>> + Clone,
    g: &mut Conv2dParams<T, O, K>,
) {
    if params_in_planes::<A, H, W, KH, KW, SH, SW, PT, PL, OH, OW>() {
        valid_unit_stride_params::<T, A, C, H, W, O, KH, KW, OH, OW, K>(samples, g);
        return;
    }
    for (x, y, dy) in samples {
        dz_and_params::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(x, y, dy, g);
    }
}

/// [`conv2d_backward_params`] for the shapes of [`valid_unit_stride`],
/// over one or more samples (`samples` yields each one's input, output and
/// output gradient, and is walked once per block of filters):
/// [`FILTERS_BACK`] filters at a time, `dz` stays in its channel-major
/// planes, and each tap's weight gradient is a dot product of a filter's
/// plane with the input window the tap reads, kept as `OW` partial sums
/// (one register per tap and filter) over the output rows and the
/// samples. No pixel-major copy of `dz` (8 KiB of stack and a scatter for
/// W1's conv), no transposition, and one horizontal sum per tap and filter
/// for all the samples.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn valid_unit_stride_params<
    'a,
    T: Float + 'a,
    A: Activation,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    samples: impl Iterator<Item = ConvSample<'a, T, C, H, W, O, OH, OW>> + Clone,
    g: &mut Conv2dParams<T, O, K>,
) {
    if taps8_params::<T, A, C, H, W, O, KH, KW, OH, OW, K>(samples.clone(), g) {
        return;
    }
    let o0 =
        params_filters::<T, A, FILTERS_BACK, C, H, W, O, KH, KW, OH, OW, K>(0, samples.clone(), g);
    if !O.is_multiple_of(FILTERS_BACK) {
        params_filters::<T, A, 1, C, H, W, O, KH, KW, OH, OW, K>(o0, samples, g);
    }
}

/// [`valid_unit_stride_params`] filter by filter with the target's kernel
/// for the taps' partial sums ([`Float::conv_taps8`]: `f32` with AVX2 and
/// FMA, `OW` a multiple of 8, at most 12 taps); returns `false` (and does
/// nothing) where there is no such kernel or shape.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn taps8_params<
    'a,
    T: Float + 'a,
    A: Activation,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    samples: impl Iterator<Item = ConvSample<'a, T, C, H, W, O, OH, OW>> + Clone,
    g: &mut Conv2dParams<T, O, K>,
) -> bool {
    for o in 0..O {
        let mut acc = [[T::zero(); 8]; K];
        let mut db = [T::zero(); 8];
        for (x, y, dy) in samples.clone() {
            let mut dz = dy[o];
            A::backward(y[o].as_flattened(), dz.as_flattened_mut());
            // The answer depends only on the types, the shape and the CPU:
            // `false` comes at the first call, before anything was added.
            if !T::conv_taps8::<C, H, W, KH, KW, OH, OW, K>(x, &dz, &mut acc, &mut db) {
                return false;
            }
        }
        if let Some(bias) = g.bias.as_mut_slice().get_mut(o) {
            *bias += super::blas::reduce(&db);
        }
        for (gk, ak) in g.weight.data.0.iter_mut().zip(&acc) {
            gk[o] += super::blas::reduce(ak);
        }
    }
    true
}

/// One sample of a batched convolution backward: the layer's input, its
/// (activated) output and the gradient at the output.
pub type ConvSample<
    'a,
    T,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const OH: usize,
    const OW: usize,
> = (
    &'a Image<T, C, H, W>,
    &'a Image<T, O, OH, OW>,
    &'a Image<T, O, OH, OW>,
);

/// Filters per block in [`valid_unit_stride_params`]: each input row slice
/// (which LLVM assembles with permutes, the rows overlapping) serves this
/// many filters; `F·K` accumulators of `OW` values must fit the registers
/// (27 of AVX-512's 32 for W1's 3×3 taps).
const FILTERS_BACK: usize = if cfg!(target_feature = "avx512f") {
    3
} else {
    1
};

/// The filters `o0..` of [`valid_unit_stride_params`] in blocks of `F`;
/// returns the first filter not done.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn params_filters<
    'a,
    T: Float + 'a,
    A: Activation,
    const F: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    mut o0: usize,
    samples: impl Iterator<Item = ConvSample<'a, T, C, H, W, O, OH, OW>> + Clone,
    g: &mut Conv2dParams<T, O, K>,
) -> usize {
    while o0 + F <= O {
        let mut db = [[T::zero(); OW]; F];
        let mut acc = [[[T::zero(); OW]; K]; F];
        for (x, y, dy) in samples.clone() {
            let mut dz = [[[T::zero(); OW]; OH]; F];
            for (d, (yo, dyo)) in dz.iter_mut().zip(y[o0..].iter().zip(&dy[o0..])) {
                *d = *dyo;
                A::backward(yo.as_flattened(), d.as_flattened_mut());
            }
            for i in 0..OH {
                for (b, d) in db.iter_mut().zip(&dz) {
                    for (bv, &dv) in b.iter_mut().zip(&d[i]) {
                        *bv += dv;
                    }
                }
                for (c, xc) in x.iter().enumerate() {
                    for ki in 0..KH {
                        let xr = &xc[i + ki];
                        for kj in 0..KW {
                            let xs = &xr[kj..kj + OW];
                            let k = (c * KH + ki) * KW + kj;
                            for (a, d) in acc.iter_mut().zip(&dz) {
                                for ((av, &dv), &xv) in a[k].iter_mut().zip(&d[i]).zip(xs) {
                                    *av = madd(dv, xv, *av);
                                }
                            }
                        }
                    }
                }
            }
        }
        for (f, (b, a)) in db.iter().zip(&acc).enumerate() {
            let o = o0 + f;
            if let Some(bias) = g.bias.as_mut_slice().get_mut(o) {
                *bias += super::blas::reduce(b);
            }
            for (gk, ak) in g.weight.data.0.iter_mut().zip(a) {
                gk[o] += super::blas::reduce(ak);
            }
        }
        o0 += F;
    }
    o0
}

/// The parameter half of [`conv2d_backward`]: adds `dL/dW` and `dL/db`
/// into `g` and returns `dL/dz` (the gradient before the activation), one
/// row of `O` filter values per output pixel.
///
/// `dW` is computed one kernel tap at a time: the tap's `O` weight
/// gradients stay in registers while every output pixel that the tap
/// reaches adds `dz[pixel] · x[tap's input]`, so each weight gradient is
/// loaded and stored once per call instead of once per pixel. The price is
/// `dz` on the stack (`O·OH·OW` values).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dz_and_params<
    T: Float,
    A: Activation,
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
    x: &Image<T, C, H, W>,
    y: &Image<T, O, OH, OW>,
    dy: &Image<T, O, OH, OW>,
    g: &mut Conv2dParams<T, O, K>,
) -> [[[T; O]; OW]; OH] {
    const {
        assert!(K == C * KH * KW, "conv2d: K must be C * KH * KW");
        assert!(SH > 0 && SW > 0, "conv2d: strides must be positive");
    };
    // dz for every pixel's O filters, pixel-major.
    let mut dz = [[[T::zero(); O]; OW]; OH];
    let mut db = [T::zero(); O];
    if A::ELEMENTWISE {
        // One channel plane at a time: the derivative runs over contiguous
        // values (a vector select for relu; gathered per pixel, LLVM made it
        // a compare and branch per value, mispredicted half the time), then
        // the plane is scattered into the pixel-major layout.
        for (o, (yo, dyo)) in y.iter().zip(dy).enumerate() {
            let mut plane = *dyo;
            A::backward(yo.as_flattened(), plane.as_flattened_mut());
            for (dzr, pr) in dz.iter_mut().zip(&plane) {
                for (d, &v) in dzr.iter_mut().zip(pr) {
                    d[o] = v;
                }
            }
        }
    } else {
        // Softmax's group is the pixel's O channels.
        for (i, dzr) in dz.iter_mut().enumerate() {
            for (j, d) in dzr.iter_mut().enumerate() {
                let mut yv = [T::zero(); O];
                for ((v, dv), (yo, dyo)) in yv.iter_mut().zip(d.iter_mut()).zip(y.iter().zip(dy)) {
                    *v = yo[i][j];
                    *dv = dyo[i][j];
                }
                A::backward(&yv, d);
            }
        }
    }
    for d in dz.as_flattened() {
        for (b, &dv) in db.iter_mut().zip(d) {
            *b += dv;
        }
    }
    for (b, &d) in g.bias.as_mut_slice().iter_mut().zip(&db) {
        *b += d;
    }
    // dW[:, k] += Σ_pixels dz[pixel] · x[c][i·SH + ki − PT][j·SW + kj − PL].
    let taps = g.weight.as_mut_slice().chunks_exact_mut(O);
    for (k, gk) in taps.enumerate() {
        let (c, ki, kj) = (k / (KH * KW), k / KW % KH, k % KW);
        let (i0, i1) = outputs(ki, SH, PT, H, OH);
        let (j0, j1) = outputs(kj, SW, PL, W, OW);
        let mut acc = [T::zero(); O];
        for (i, dzr) in dz.iter().enumerate().take(i1).skip(i0) {
            let xr = &x[c][i * SH + ki - PT];
            for (j, d) in dzr.iter().enumerate().take(j1).skip(j0) {
                let xv = xr[j * SW + kj - PL];
                for (a, &dv) in acc.iter_mut().zip(d) {
                    *a = madd(dv, xv, *a);
                }
            }
        }
        for (gv, &a) in gk.iter_mut().zip(&acc) {
            *gv += a;
        }
    }
    dz
}

/// One `Conv2d` layer's static description: its activation `A` and its
/// geometry (input, output, kernel, stride, top/left padding), so that a
/// call names each size once, by what it is:
///
/// ```
/// use staticnet_runtime::kernels::{Conv2d, In, Kernel, Out, Pad, Stride};
/// use staticnet_runtime::{activation::Relu, Conv2dParams};
///
/// type Conv1 = Conv2d<Relu, In<1, 10, 10>, Out<32, 8, 8>, Kernel<3, 3>, Stride<1, 1>, Pad<0, 0>>;
/// let p = Conv2dParams::<f32, 32, 9>::zeros();
/// let y = Conv1::forward(&p, &[[[1.0; 10]; 10]; 1]);
/// assert_eq!(y[31][7][7], 0.0);
/// ```
pub struct Conv2d<A, I, O, K, S, P>(PhantomData<(A, I, O, K, S, P)>);

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
    > Conv2d<A, In<C, H, W>, Out<O, OH, OW>, Kernel<KH, KW>, Stride<SH, SW>, Pad<PT, PL>>
{
    /// [`conv2d`]. `K` (`C·KH·KW`) comes from the parameters' type.
    #[inline(always)]
    pub fn forward<T: Float, const K: usize>(
        p: &Conv2dParams<T, O, K>,
        x: &Image<T, C, H, W>,
    ) -> Image<T, O, OH, OW> {
        conv2d::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x)
    }

    /// [`conv2d_into`]: the output written into `y`.
    #[inline(always)]
    pub fn forward_into<T: Float, const K: usize>(
        p: &Conv2dParams<T, O, K>,
        x: &Image<T, C, H, W>,
        y: &mut Image<T, O, OH, OW>,
    ) {
        conv2d_into::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, y)
    }

    /// [`conv2d_backward`]: the parameter gradients into `g`, `dL/dx`
    /// returned.
    #[inline(always)]
    pub fn backward<T: Float, const K: usize>(
        p: &Conv2dParams<T, O, K>,
        x: &Image<T, C, H, W>,
        y: &Image<T, O, OH, OW>,
        dy: &Image<T, O, OH, OW>,
        g: &mut Conv2dParams<T, O, K>,
    ) -> Image<T, C, H, W> {
        conv2d_backward::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, y, dy, g)
    }

    /// [`conv2d_backward_params`]: the parameter gradients only.
    #[inline(always)]
    pub fn backward_params<T: Float, const K: usize>(
        x: &Image<T, C, H, W>,
        y: &Image<T, O, OH, OW>,
        dy: &Image<T, O, OH, OW>,
        g: &mut Conv2dParams<T, O, K>,
    ) {
        conv2d_backward_params::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(x, y, dy, g)
    }

    /// [`conv2d_backward_params_batch`]: the parameter gradients of every
    /// sample of a batch.
    #[inline(always)]
    pub fn backward_params_batch<'a, T: Float + 'a, const K: usize>(
        samples: impl Iterator<Item = ConvSample<'a, T, C, H, W, O, OH, OW>> + Clone,
        g: &mut Conv2dParams<T, O, K>,
    ) {
        conv2d_backward_params_batch::<T, A, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(
            samples, g,
        )
    }

    /// [`conv2d_epilogue`] with `A` after a per-channel affine: the
    /// inference forward of `Conv2d → BatchNorm → A` in one loop,
    /// `A(scale_c · (Σ w·x + b_c) + shift_c)`.
    #[inline(always)]
    pub fn forward_affine<T: Float, const K: usize>(
        p: &Conv2dParams<T, O, K>,
        x: &Image<T, C, H, W>,
        affine: &ChannelAffine<T, O>,
    ) -> Image<T, O, OH, OW> {
        conv2d_epilogue::<T, AffineThen<A, T, O>, C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(
            p,
            x,
            &AffineThen::new(affine),
        )
    }
}

// ---------------------------------------------------------------------------
// Grouped and dilated convolution, with or without a bias.
//
// `Conv2d` with `groups`, `dilation` or `bias = false`, and
// `DepthwiseConv2d` (`groups = C`, see `depthwise.rs`): PyTorch's
// `nn.Conv2d(C, O, (KH, KW), stride, padding, dilation, groups, bias)`.
// Filter `o` belongs to group `o / (O/G)` and reads the `C/G` input
// channels of that group; its weight column `k = (ci·KH + ki)·KW + kj`
// (`ci` counted within the group) is PyTorch's `[O, C/G, KH, KW]` read
// row-major. Tap `(ki, kj)` of output pixel `(i, j)` reads input row
// `i·SH + ki·DH − PT` and column `j·SW + kj·DW − PL`; a tap outside the
// input reads zero padding and is skipped. The default `Conv2d` (no
// groups, no dilation, a bias) keeps the kernels above.

/// Grouped, dilated `Conv2d` forward: `[C, H, W]` → `[O, OH, OW]`, with
/// the bias of `p` if it has one. `K` must be `C/G·KH·KW`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_grouped<
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
    const G: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &P,
    x: &Image<T, C, H, W>,
) -> Image<T, O, OH, OW> {
    let mut y = [[[T::zero(); OW]; OH]; O];
    conv2d_grouped_into::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, G, OH, OW, K>(
        p, x, &mut y,
    );
    y
}

/// [`conv2d_grouped`] writing its output into `y` (every value is
/// overwritten), for recording straight into a tape.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_grouped_into<
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
    const G: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &P,
    x: &Image<T, C, H, W>,
    y: &mut Image<T, O, OH, OW>,
) {
    conv2d_grouped_epilogue_into::<
        T,
        Activate<A>,
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
    >(p, x, &Activate::new(), y)
}

/// [`conv2d_grouped`] with the epilogue `e` in place of the activation:
/// for an element-wise epilogue, applied to each filter's output plane
/// right after its sums are computed (while it is in L1), otherwise (for
/// `Softmax`, across the channels) to each pixel at the end.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_grouped_epilogue<
    T: Float,
    E: Epilogue<T, O>,
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
    const G: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &P,
    x: &Image<T, C, H, W>,
    e: &E,
) -> Image<T, O, OH, OW> {
    let mut y = [[[T::zero(); OW]; OH]; O];
    conv2d_grouped_epilogue_into::<T, E, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, G, OH, OW, K>(
        p, x, e, &mut y,
    );
    y
}

/// [`conv2d_grouped_epilogue`] writing its output into `y` (every value is
/// overwritten).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_grouped_epilogue_into<
    T: Float,
    E: Epilogue<T, O>,
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
    const G: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &P,
    x: &Image<T, C, H, W>,
    e: &E,
    y: &mut Image<T, O, OH, OW>,
) {
    grouped_asserts::<C, O, KH, KW, SH, SW, DH, DW, G, K>();
    let (cg, og) = (C / G, O / G);
    let w = p.weight().as_slice();
    // Tap by tap over whole output rows: for filter `o`, each tap
    // `(ci, ki, kj)`'s weight is one scalar, and the output row segment it
    // reaches is updated from a contiguous input row segment (stride 1) —
    // plain vector loads, where the per-pixel loop over taps compiled to
    // scalar code or AVX-512 gathers (KWS and VWW ran ~2× slower with
    // `-C target-cpu=native` than with default flags; BENCHMARKS.md). Each
    // output still receives its terms in the order (ci, ki, kj) from its
    // bias, so the sums are bit for bit those of the per-pixel loop.
    let masks = column_masks::<W, KW, DW, PL, OH, OW>();
    if whole_plane::<H, W, KH, KW, SH, SW, PT, PL, OH, OW>() {
        // 1×1 over the whole plane: a matrix product, register-blocked
        // (the same sums in the same order as the tap loop below).
        for (gi, (yg, xg)) in y.chunks_mut(og).zip(x.chunks(cg)).enumerate() {
            pointwise(
                |f| p.bias().map_or(T::zero(), |b| b[gi * og + f]),
                |ci, f| w.get(ci * O + gi * og + f).copied().unwrap_or(T::zero()),
                xg,
                yg,
            );
        }
        if E::ELEMENTWISE {
            for (o, yo) in y.iter_mut().enumerate() {
                e.channel(o, yo.as_flattened_mut());
            }
        }
    }
    // With a column stride, the tap loop below reads each input row's
    // columns split by phase (`column_phases`), so that every run it
    // reads is contiguous.
    let phased;
    let xp = if SW > 1 {
        phased = column_phases::<T, C, H, W, SW>(x);
        &phased
    } else {
        x
    };
    for (o, yo) in y.iter_mut().enumerate() {
        if whole_plane::<H, W, KH, KW, SH, SW, PT, PL, OH, OW>() {
            break;
        }
        let xg = &x[o / og * cg..][..cg];
        let xpg = &xp[o / og * cg..][..cg];
        let b = p.bias().map_or(T::zero(), |b| b[o]);
        for v in yo.as_flattened_mut() {
            *v = b;
        }
        for (ci, xc) in xg.iter().enumerate() {
            if flat_rows::<W, SH, SW, OW>() {
                // Each tap as one contiguous run over the flattened planes
                // (rows of `OW` values, short for 14×14 or 7×7 planes),
                // the columns the tap misses masked out: the same sums in
                // the same order as row by row.
                for ki in 0..KH {
                    for (kj, mask) in masks.iter().enumerate() {
                        let Some((pa, pb, qa)) = flat_tap::<H, W, DH, DW, PT, PL, OH, OW>(ki, kj)
                        else {
                            continue;
                        };
                        let k = (ci * KH + ki) * KW + kj;
                        let wv = w.get(k * O + o).copied().unwrap_or(T::zero());
                        let ys = yo.as_flattened_mut().get_mut(pa..pb).unwrap_or(&mut []);
                        let xs = xc.as_flattened().get(qa..).unwrap_or(&[]);
                        let ms = mask.as_flattened().get(pa..pb).unwrap_or(&[]);
                        for ((yv, &xv), &m) in ys.iter_mut().zip(xs).zip(ms) {
                            let v = madd(wv, xv, *yv);
                            *yv = if m { v } else { *yv };
                        }
                    }
                }
                continue;
            }
            for ki in 0..KH {
                let (i0, i1) = outputs(ki * DH, SH, PT, H, OH);
                for kj in 0..KW {
                    let (j0, j1) = outputs(kj * DW, SW, PL, W, OW);
                    let k = (ci * KH + ki) * KW + kj;
                    let wv = w.get(k * O + o).copied().unwrap_or(T::zero());
                    // First input column read: j0·SW + kj·DW − PL (≥ 0 by
                    // `outputs`).
                    let s0 = (j0 * SW + kj * DW).saturating_sub(PL);
                    let rows = yo.iter_mut().enumerate().skip(i0).take(i1 - i0);
                    for (i, yr) in rows {
                        let r = (i * SH + ki * DH).saturating_sub(PT);
                        let Some(xr) = xpg.get(ci).and_then(|xc| xc.get(r)) else {
                            continue;
                        };
                        // Slices, zipped with slices or their chunks: the
                        // zip is then a counted loop. (A zip of `skip`/
                        // `step_by` adapters is a call of `Zip::next` per
                        // element wherever LLVM does not inline it, which
                        // it did not in the AVX2 copy of ResNet-8's
                        // forward: 5× slower than the baseline copy.)
                        // Columns s0, s0 + SW, …: one contiguous run of
                        // the phased row (the same values in the same
                        // order; strided, they were gathers natively).
                        let ys = yr.get_mut(j0..j1.min(OW)).unwrap_or(&mut []);
                        let xs = xr.get(phase_index::<W, SW>(s0)..).unwrap_or(&[]);
                        for (yv, &xv) in ys.iter_mut().zip(xs) {
                            *yv = madd(wv, xv, *yv);
                        }
                    }
                }
            }
        }
        if E::ELEMENTWISE {
            e.channel(o, yo.as_flattened_mut());
        }
    }
    if !E::ELEMENTWISE {
        for i in 0..OH {
            for j in 0..OW {
                let mut v = [T::zero(); O];
                for (vc, yc) in v.iter_mut().zip(y.iter()) {
                    *vc = yc[i][j];
                }
                e.all(&mut v);
                for (&vc, yc) in v.iter().zip(y.iter_mut()) {
                    yc[i][j] = vc;
                }
            }
        }
    }
}

/// The size relations [`conv2d_grouped`] relies on, checked at compile
/// time.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grouped_asserts<
    const C: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const DH: usize,
    const DW: usize,
    const G: usize,
    const K: usize,
>() {
    const {
        assert!(G > 0, "conv2d_grouped: groups must be positive");
        assert!(
            C.is_multiple_of(G),
            "conv2d_grouped: groups must divide the input channels"
        );
        assert!(
            O.is_multiple_of(G),
            "conv2d_grouped: groups must divide the filters"
        );
        assert!(
            K == C / G * KH * KW,
            "conv2d_grouped: K must be C/G * KH * KW"
        );
        assert!(SH > 0 && SW > 0, "conv2d_grouped: strides must be positive");
        assert!(
            DH > 0 && DW > 0,
            "conv2d_grouped: dilations must be positive"
        );
    };
}

/// The parameter half of the grouped backward: adds `dL/dW` (and `dL/db`
/// if `g` has a bias) for `dz = dL/dz` into `g`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grouped_params<
    T: Float,
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
    const G: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    x: &Image<T, C, H, W>,
    dz: &Image<T, O, OH, OW>,
    g: &mut P,
) {
    grouped_asserts::<C, O, KH, KW, SH, SW, DH, DW, G, K>();
    let (cg, og) = (C / G, O / G);
    if let Some(b) = g.bias_mut() {
        for (bv, d) in b.iter_mut().zip(dz) {
            *bv += super::blas::sum_by(d.as_flattened(), |v| v);
        }
    }
    let gw = g.weight_mut().as_mut_slice();
    let masks = column_masks::<W, KW, DW, PL, OH, OW>();
    let phased;
    let xp = if SW > 1 {
        phased = column_phases::<T, C, H, W, SW>(x);
        &phased
    } else {
        x
    };
    if whole_plane::<H, W, KH, KW, SH, SW, PT, PL, OH, OW>() {
        // A 1×1 tap over the whole plane: one contiguous dot product of
        // the filter's plane with the input channel's, for a block of
        // filters at a time (each input plane loaded once per block).
        for (gi, (dzg, xg)) in dz.chunks(og).zip(x.chunks(cg)).enumerate() {
            pointwise_params(dzg, xg, |ci, f, v| {
                if let Some(gv) = gw.get_mut(ci * O + gi * og + f) {
                    *gv += v;
                }
            });
        }
        return;
    }
    for (o, dzo) in dz.iter().enumerate() {
        let xg = &x[o / og * cg..][..cg];
        let xpg = &xp[o / og * cg..][..cg];
        for (ci, (xc, xpc)) in xg.iter().zip(xpg).enumerate() {
            if flat_rows::<W, SH, SW, OW>() {
                for ki in 0..KH {
                    for (kj, mask) in masks.iter().enumerate() {
                        let Some((pa, pb, qa)) = flat_tap::<H, W, DH, DW, PT, PL, OH, OW>(ki, kj)
                        else {
                            continue;
                        };
                        let ds = dzo.as_flattened().get(pa..pb).unwrap_or(&[]);
                        let xs = xc.as_flattened().get(qa..qa + (pb - pa)).unwrap_or(&[]);
                        let ms = mask.as_flattened().get(pa..pb).unwrap_or(&[]);
                        gw[((ci * KH + ki) * KW + kj) * O + o] += masked_dot(ds, xs, ms);
                    }
                }
                continue;
            }
            for ki in 0..KH {
                let (i0, i1) = outputs(ki * DH, SH, PT, H, OH);
                for kj in 0..KW {
                    let (j0, j1) = outputs(kj * DW, SW, PL, W, OW);
                    let s0 = (j0 * SW + kj * DW).saturating_sub(PL);
                    // One partial sum per output column, accumulated down
                    // the rows the tap reaches (contiguous loads of `dz`,
                    // no reduction inside the loop), summed at the end.
                    let mut acc = [T::zero(); OW];
                    let a = acc.get_mut(j0..j1).unwrap_or(&mut []);
                    for (i, dzr) in dzo.iter().enumerate().take(i1).skip(i0) {
                        let r = (i * SH + ki * DH).saturating_sub(PT);
                        let Some(xr) = xpc.get(r) else { continue };
                        let ds = dzr.get(j0..j1).unwrap_or(&[]);
                        // Columns s0, s0 + SW, …, contiguous in the
                        // phased row.
                        let xs = xr.get(phase_index::<W, SW>(s0)..).unwrap_or(&[]);
                        for ((av, &d), &xv) in a.iter_mut().zip(ds).zip(xs) {
                            *av = madd(d, xv, *av);
                        }
                    }
                    gw[((ci * KH + ki) * KW + kj) * O + o] += super::blas::reduce(&acc);
                }
            }
        }
    }
}

/// Where column `c` of a row is in the row split by column phase
/// ([`column_phases`]): phase `c % S` (the columns `q, q + S, q + 2S, …`)
/// after the phases before it, at `c / S` within its phase. Columns `c,
/// c + S, c + 2S, …` are then one contiguous run.
#[inline(always)]
const fn phase_index<const W: usize, const S: usize>(c: usize) -> usize {
    let q = c % S;
    let mut off = 0;
    let mut p = 0;
    while p < q {
        off += W.saturating_sub(p).div_ceil(S);
        p += 1;
    }
    off + c / S
}

/// Every row of `x` split by column phase for stride `S` ([`phase_index`]):
/// what the strided tap loops read, so that each run they read is
/// contiguous (a strided read compiled to gathers natively).
#[inline(always)]
fn column_phases<T: Float, const C: usize, const H: usize, const W: usize, const S: usize>(
    x: &Image<T, C, H, W>,
) -> Image<T, C, H, W> {
    let mut p = [[[T::zero(); W]; H]; C];
    for (pc, xc) in p.iter_mut().zip(x) {
        for (pr, xr) in pc.iter_mut().zip(xc) {
            for (c, &v) in xr.iter().enumerate() {
                if let Some(d) = pr.get_mut(phase_index::<W, S>(c)) {
                    *d = v;
                }
            }
        }
    }
    p
}

/// The inverse of [`column_phases`], in place.
#[inline(always)]
fn unphase<T: Float, const C: usize, const H: usize, const W: usize, const S: usize>(
    x: &mut Image<T, C, H, W>,
) {
    for xc in x.iter_mut() {
        for xr in xc.iter_mut() {
            let pr = *xr;
            for (c, v) in xr.iter_mut().enumerate() {
                *v = pr.get(phase_index::<W, S>(c)).copied().unwrap_or(T::zero());
            }
        }
    }
}

/// Pixels per register block of [`pointwise`]: 16 values, one AVX-512,
/// two AVX or four SSE registers of `f32`.
const PIXELS: usize = 16;

/// Output planes per register block of [`pointwise`]: each source block
/// loaded serves this many outputs (4 × 16 `f32` accumulators: 4 AVX-512,
/// 8 AVX or 16 SSE registers).
const PLANES: usize = 4;

/// `out[f] = init(f) + Σ_s coef(s, f) · src[s]` for whole planes, the sum
/// over `s` in order from `init`: a 1×1 convolution's forward (`src` the
/// input channels, `coef` the weight) and its `dL/dx` (`src` the output
/// gradients, `coef` the weight transposed), as a matrix product
/// register-blocked over [`PLANES`] outputs × [`PIXELS`] pixels, every
/// load contiguous. The plain loop (`out[f] += w · src[s]` over each whole
/// plane) was fully unrolled by LLVM for 7×7 and 14×14 planes under
/// `-C target-cpu=native` and compiled to scalar code or to gathers and
/// scatters across the planes (issue 15 item 2: the Fashion net's native
/// step ran 36% slower than the default build's).
#[inline(always)]
fn pointwise<T: Float, const H: usize, const W: usize, const OH: usize, const OW: usize>(
    init: impl Fn(usize) -> T,
    coef: impl Fn(usize, usize) -> T,
    src: &[[[T; W]; H]],
    out: &mut [[[T; OW]; OH]],
) {
    let mut f0 = 0;
    let mut blocks = out.chunks_exact_mut(PLANES);
    for planes in &mut blocks {
        pointwise_block::<T, PLANES, H, W, OH, OW>(f0, &init, &coef, src, planes);
        f0 += PLANES;
    }
    for plane in blocks.into_remainder().chunks_exact_mut(1) {
        pointwise_block::<T, 1, H, W, OH, OW>(f0, &init, &coef, src, plane);
        f0 += 1;
    }
}

/// [`pointwise`] for the `F` output planes `f0..f0 + F` (`out`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pointwise_block<
    T: Float,
    const F: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    f0: usize,
    init: &impl Fn(usize) -> T,
    coef: &impl Fn(usize, usize) -> T,
    src: &[[[T; W]; H]],
    out: &mut [[[T; OW]; OH]],
) {
    let mut b = [T::zero(); F];
    for (f, bv) in b.iter_mut().enumerate() {
        *bv = init(f0 + f);
    }
    // (`H·W = OH·OW`: the caller's planes are whole.)
    let n = OH * OW;
    let mut p0 = 0;
    while p0 < n {
        // A whole block of `PIXELS`, or the plane's last few.
        let m = (n - p0).min(PIXELS);
        let mut acc = [[T::zero(); PIXELS]; F];
        for (a, &bv) in acc.iter_mut().zip(&b) {
            *a = [bv; PIXELS];
        }
        for (s, plane) in src.iter().enumerate() {
            let xs = plane.as_flattened().get(p0..p0 + m).unwrap_or(&[]);
            for (f, a) in acc.iter_mut().enumerate() {
                let wv = coef(s, f0 + f);
                if m == PIXELS {
                    // (Constant length: the lanes are one vector loop.)
                    if let Some(xs) = xs.first_chunk::<PIXELS>() {
                        for (av, &xv) in a.iter_mut().zip(xs) {
                            *av = madd(wv, xv, *av);
                        }
                    }
                } else {
                    for (av, &xv) in a.iter_mut().zip(xs) {
                        *av = madd(wv, xv, *av);
                    }
                }
            }
        }
        for (o, a) in out.iter_mut().zip(&acc) {
            let ys = o.as_flattened_mut().get_mut(p0..p0 + m).unwrap_or(&mut []);
            for (yv, &av) in ys.iter_mut().zip(a) {
                *yv = av;
            }
        }
        p0 += m;
    }
}

/// The weight gradient of a 1×1 convolution over whole planes:
/// `add(ci, f, dz[f] · x[ci])` for every output plane `f` and input plane
/// `ci`, each dot product computed as [`blas::dot`](super::blas) does
/// (the same partial sums, bit for bit), for [`PLANES`] output planes at a
/// time so that each input plane is loaded once per block.
#[inline(always)]
fn pointwise_params<T: Float, const H: usize, const W: usize, const OH: usize, const OW: usize>(
    dz: &[[[T; OW]; OH]],
    x: &[[[T; W]; H]],
    mut add: impl FnMut(usize, usize, T),
) {
    let mut f0 = 0;
    let mut blocks = dz.chunks_exact(PLANES);
    for planes in &mut blocks {
        pointwise_params_block::<T, PLANES, H, W, OH, OW>(f0, planes, x, &mut add);
        f0 += PLANES;
    }
    for plane in blocks.remainder().chunks_exact(1) {
        pointwise_params_block::<T, 1, H, W, OH, OW>(f0, plane, x, &mut add);
        f0 += 1;
    }
}

/// [`pointwise_params`] for the `F` output planes `f0..f0 + F` (`dz`).
#[inline(always)]
fn pointwise_params_block<
    T: Float,
    const F: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    f0: usize,
    dz: &[[[T; OW]; OH]],
    x: &[[[T; W]; H]],
    add: &mut impl FnMut(usize, usize, T),
) {
    const L: usize = super::blas::DOT_LANES;
    for (ci, xc) in x.iter().enumerate() {
        let xs = xc.as_flattened();
        let mut acc = [[T::zero(); L]; F];
        let mut tail = [T::zero(); F];
        let cx = xs.chunks_exact(L);
        let rx = cx.remainder();
        for (j, xv) in cx.enumerate() {
            for (a, d) in acc.iter_mut().zip(dz) {
                let ds = d.as_flattened().get(j * L..(j + 1) * L).unwrap_or(&[]);
                for ((av, &dv), &xv) in a.iter_mut().zip(ds).zip(xv) {
                    *av = madd(dv, xv, *av);
                }
            }
        }
        let r0 = xs.len() - rx.len();
        for (t, d) in tail.iter_mut().zip(dz) {
            let ds = d.as_flattened().get(r0..).unwrap_or(&[]);
            for (&dv, &xv) in ds.iter().zip(rx) {
                *t = madd(dv, xv, *t);
            }
        }
        for (f, (a, &t)) in acc.iter().zip(&tail).enumerate() {
            add(ci, f0 + f, super::blas::reduce(a) + t);
        }
    }
}

/// Whether a grouped convolution is 1×1 over the whole plane (no stride,
/// padding or crop): each tap then reads the input plane as it is, and the
/// kernels can treat a plane as one contiguous row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
const fn whole_plane<
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
>() -> bool {
    KH == 1 && KW == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 && OH == H && OW == W
}

/// Whether input and output rows have the same length and stride 1 (a
/// `same`-padded stride-1 convolution): a tap then maps output pixel `p`
/// of the flattened plane to input pixel `p + shift`, one contiguous run
/// per tap instead of a short run per row ([`flat_tap`]).
#[inline(always)]
const fn flat_rows<const W: usize, const SH: usize, const SW: usize, const OW: usize>() -> bool {
    SH == 1 && SW == 1 && W == OW
}

/// For [`flat_rows`] geometry, tap `(ki, kj)`'s run: the flat output
/// pixels `pa..pb` from the first to the last it reaches, and the flat
/// input pixel `qa` that `pa` reads (the following ones read `qa + 1`, …).
/// In between, the columns the tap misses (in the padding) read the
/// neighbouring row's edge: [`column_masks`] marks them. `None` if the tap
/// reaches no output.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn flat_tap<
    const H: usize,
    const W: usize,
    const DH: usize,
    const DW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
>(
    ki: usize,
    kj: usize,
) -> Option<(usize, usize, usize)> {
    let (i0, i1) = outputs(ki * DH, 1, PT, H, OH);
    let (j0, j1) = outputs(kj * DW, 1, PL, W, OW);
    if i0 >= i1 || j0 >= j1 {
        return None;
    }
    let r = (i0 + ki * DH).saturating_sub(PT);
    let s = (j0 + kj * DW).saturating_sub(PL);
    Some((i0 * OW + j0, (i1 - 1) * OW + j1, r * W + s))
}

/// Per kernel column `kj`, which output columns its taps reach (stride
/// 1): the mask of a [`flat_tap`] run.
#[inline(always)]
fn column_masks<
    const W: usize,
    const KW: usize,
    const DW: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
>() -> [[[bool; OW]; OH]; KW] {
    let mut masks = [[[false; OW]; OH]; KW];
    for (kj, m) in masks.iter_mut().enumerate() {
        let (j0, j1) = outputs(kj * DW, 1, PL, W, OW);
        for row in m.iter_mut() {
            for v in row.iter_mut().take(j1).skip(j0) {
                *v = true;
            }
        }
    }
    masks
}

/// `Σ d_k x_k` over the `k` with `m_k`, in [`LANES`](super::blas)
/// partial sums: a masked [`flat_tap`] run's weight gradient.
#[inline(always)]
fn masked_dot<T: Float>(d: &[T], x: &[T], m: &[bool]) -> T {
    const L: usize = super::blas::LANES;
    let mut acc = [T::zero(); L];
    let (cd, cx, cm) = (d.chunks_exact(L), x.chunks_exact(L), m.chunks_exact(L));
    let (rd, rx, rm) = (cd.remainder(), cx.remainder(), cm.remainder());
    for ((ds, xs), ms) in cd.zip(cx).zip(cm) {
        for (((a, &dv), &xv), &mv) in acc.iter_mut().zip(ds).zip(xs).zip(ms) {
            let v = madd(dv, xv, *a);
            *a = if mv { v } else { *a };
        }
    }
    let mut tail = T::zero();
    for ((&dv, &xv), &mv) in rd.iter().zip(rx).zip(rm) {
        let v = madd(dv, xv, tail);
        tail = if mv { v } else { tail };
    }
    super::blas::reduce(&acc) + tail
}

/// Backward of [`conv2d_grouped`]: given the input `x`, the activated
/// output `y` kept by the training forward and `dy = dL/dy`, adds the
/// parameter gradients into `g` and returns `dL/dx`.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_grouped_backward<
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
    const G: usize,
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
    // Through the identity, `dy` is `dz` (no copy of the output plane).
    let own;
    let dz = if A::IDENTITY {
        dy
    } else {
        own = super::elementwise::activate_image_backward::<T, A, O, OH, OW>(y, dy);
        &own
    };
    grouped_params::<T, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, G, OH, OW, K>(x, dz, g);
    // dx[c][r][s] += W[o, k] · dz[o][i][j] for every tap k of pixel (i, j)
    // landing on (r, s): tap by tap, each output row segment the tap
    // reaches scaled by the tap's one weight into the input row it read
    // (as the forward, transposed: contiguous for stride 1).
    let (cg, og) = (C / G, O / G);
    let w = p.weight().as_slice();
    let mut dx = [[[T::zero(); W]; H]; C];
    let masks = column_masks::<W, KW, DW, PL, OH, OW>();
    if whole_plane::<H, W, KH, KW, SH, SW, PT, PL, OH, OW>() {
        // The forward's matrix product transposed: dx[ci] = Σ_o W[o, ci]
        // · dz[o], each sum from zero in the order of `o` (as the tap
        // loop below).
        for (gi, (dxg, dzg)) in dx.chunks_mut(cg).zip(dz.chunks(og)).enumerate() {
            pointwise(
                |_| T::zero(),
                |o, ci| w.get(ci * O + gi * og + o).copied().unwrap_or(T::zero()),
                dzg,
                dxg,
            );
        }
        return dx;
    }
    for (o, dzo) in dz.iter().enumerate() {
        let dxg = &mut dx[o / og * cg..][..cg];
        for (ci, dxc) in dxg.iter_mut().enumerate() {
            if flat_rows::<W, SH, SW, OW>() {
                for ki in 0..KH {
                    for (kj, mask) in masks.iter().enumerate() {
                        let Some((pa, pb, qa)) = flat_tap::<H, W, DH, DW, PT, PL, OH, OW>(ki, kj)
                        else {
                            continue;
                        };
                        let k = (ci * KH + ki) * KW + kj;
                        let wv = w.get(k * O + o).copied().unwrap_or(T::zero());
                        let ds = dzo.as_flattened().get(pa..pb).unwrap_or(&[]);
                        let dxs = dxc.as_flattened_mut().get_mut(qa..).unwrap_or(&mut []);
                        let ms = mask.as_flattened().get(pa..pb).unwrap_or(&[]);
                        for ((dv, &d), &m) in dxs.iter_mut().zip(ds).zip(ms) {
                            let v = madd(wv, d, *dv);
                            *dv = if m { v } else { *dv };
                        }
                    }
                }
                continue;
            }
            for ki in 0..KH {
                let (i0, i1) = outputs(ki * DH, SH, PT, H, OH);
                for kj in 0..KW {
                    let (j0, j1) = outputs(kj * DW, SW, PL, W, OW);
                    let s0 = (j0 * SW + kj * DW).saturating_sub(PL);
                    let k = (ci * KH + ki) * KW + kj;
                    let wv = w.get(k * O + o).copied().unwrap_or(T::zero());
                    for (i, dzr) in dzo.iter().enumerate().take(i1).skip(i0) {
                        let r = (i * SH + ki * DH).saturating_sub(PT);
                        let Some(dxr) = dxc.get_mut(r) else { continue };
                        let ds = dzr.get(j0..j1).unwrap_or(&[]);
                        // With a column stride `dx` is accumulated by
                        // phase (contiguous runs) and put back in column
                        // order at the end.
                        let dxs = dxr.get_mut(phase_index::<W, SW>(s0)..).unwrap_or(&mut []);
                        for (dv, &d) in dxs.iter_mut().zip(ds) {
                            *dv = madd(wv, d, *dv);
                        }
                    }
                }
            }
        }
    }
    if SW > 1 {
        unphase::<T, C, H, W, SW>(&mut dx);
    }
    dx
}

/// [`conv2d_grouped_backward`] without `dL/dx`, for a network's first
/// layer.
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_grouped_backward_params<
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
    const G: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    x: &Image<T, C, H, W>,
    y: &Image<T, O, OH, OW>,
    dy: &Image<T, O, OH, OW>,
    g: &mut P,
) {
    // Through the identity, `dy` is `dz` (no copy of the output plane).
    let own;
    let dz = if A::IDENTITY {
        dy
    } else {
        own = super::elementwise::activate_image_backward::<T, A, O, OH, OW>(y, dy);
        &own
    };
    grouped_params::<T, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, G, OH, OW, K>(x, dz, g);
}

/// One grouped or dilated (or bias-free) `Conv2d` layer's static
/// description, as [`Conv2d`] with its dilation and groups:
///
/// ```
/// use staticnet_runtime::kernels::{Conv2dGrouped, Dilation, Groups, In, Kernel, Out, Pad, Stride};
/// use staticnet_runtime::{activation::Linear, Conv2dNoBiasParams};
///
/// // Conv2d(4, kernel = 3, dilation = (2, 1), groups = 2, bias = false) on [2, 6, 5].
/// type C = Conv2dGrouped<Linear, In<2, 6, 5>, Out<4, 2, 3>, Kernel<3, 3>, Stride<1, 1>,
///     Pad<0, 0>, Dilation<2, 1>, Groups<2>>;
/// let p = Conv2dNoBiasParams::<f64, 4, 9>::zeros();
/// let y = C::forward(&p, &[[[1.0; 5]; 6]; 2]);
/// assert_eq!(y[3][1][2], 0.0);
/// ```
#[allow(clippy::type_complexity)]
pub struct Conv2dGrouped<A, I, O, K, S, P, D, G>(PhantomData<(A, I, O, K, S, P, D, G)>);

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
        const G: usize,
    >
    Conv2dGrouped<
        A,
        In<C, H, W>,
        Out<O, OH, OW>,
        Kernel<KH, KW>,
        Stride<SH, SW>,
        Pad<PT, PL>,
        Dilation<DH, DW>,
        Groups<G>,
    >
{
    /// [`conv2d_grouped`]. `K` (`C/G·KH·KW`) comes from the parameters'
    /// type.
    #[inline(always)]
    pub fn forward<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        p: &P,
        x: &Image<T, C, H, W>,
    ) -> Image<T, O, OH, OW> {
        conv2d_grouped::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, G, OH, OW, K>(p, x)
    }

    /// [`conv2d_grouped_into`]: the output written into `y`.
    #[inline(always)]
    pub fn forward_into<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        p: &P,
        x: &Image<T, C, H, W>,
        y: &mut Image<T, O, OH, OW>,
    ) {
        conv2d_grouped_into::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, G, OH, OW, K>(
            p, x, y,
        )
    }

    /// [`conv2d_grouped_backward`]: the parameter gradients into `g`,
    /// `dL/dx` returned.
    #[inline(always)]
    pub fn backward<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        p: &P,
        x: &Image<T, C, H, W>,
        y: &Image<T, O, OH, OW>,
        dy: &Image<T, O, OH, OW>,
        g: &mut P,
    ) -> Image<T, C, H, W> {
        conv2d_grouped_backward::<T, A, P, C, H, W, O, KH, KW, SH, SW, DH, DW, PT, PL, G, OH, OW, K>(
            p, x, y, dy, g,
        )
    }

    /// [`conv2d_grouped_backward_params`]: the parameter gradients only.
    #[inline(always)]
    pub fn backward_params<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        x: &Image<T, C, H, W>,
        y: &Image<T, O, OH, OW>,
        dy: &Image<T, O, OH, OW>,
        g: &mut P,
    ) {
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
            G,
            OH,
            OW,
            K,
        >(x, y, dy, g)
    }

    /// [`conv2d_grouped_epilogue`] with `A` after a per-channel affine:
    /// the inference forward of the layer, BatchNorm and `A` in one loop.
    #[inline(always)]
    pub fn forward_affine<T: Float, P: ConvBlock<T, O, K>, const K: usize>(
        p: &P,
        x: &Image<T, C, H, W>,
        affine: &ChannelAffine<T, O>,
    ) -> Image<T, O, OH, OW> {
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
            G,
            OH,
            OW,
            K,
        >(p, x, &AffineThen::new(affine))
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the formulas
mod tests {
    use super::*;
    use crate::activation::{Linear, Relu, Sigmoid, Softmax, Tanh};
    use crate::init::Rng;
    use crate::kernels::testutil::close;
    use crate::kernels::testutil::{check_grad, dot, fill};
    use crate::Conv2dNoBiasParams;
    use crate::Tensor;

    /// 2 channels, 5×4 input, 2 filters 3×3, stride 2, PT = 1, PL = 0,
    /// output 3×2: the windows cover padded rows -1..=5 and columns 0..=4, so
    /// one zero row at the bottom and one zero column at the right are
    /// implied.
    ///
    /// x0[h][w] = 4h + w + 1, x1[h][w] = h − w.
    /// Filter 0: 1 at (c0, 0, 0), 2 at (c0, 1, 1), 3 at (c1, 2, 2), bias 0.5:
    ///   y0[i][j] = x0[2i−1][2j] + 2·x0[2i][2j+1] + 3·x1[2i+1][2j+2] + 0.5.
    /// Filter 1: 1 at (c0, 0, 2), −1 at (c1, 1, 0), bias −1:
    ///   y1[i][j] = x0[2i−1][2j+2] − x1[2i][2j] − 1.
    /// (Terms outside the 5×4 input are zero.)
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn strided_case<T: Float>() -> (Conv2dParams<T, 2, 18>, Image<T, 2, 5, 4>) {
        let f = T::of_f64;
        let mut p = Conv2dParams::<T, 2, 18>::zeros();
        // column k = (c·3 + ki)·3 + kj
        p.weight[(0, 0)] = f(1.0);
        p.weight[(0, 4)] = f(2.0);
        p.weight[(0, 17)] = f(3.0);
        p.bias[0] = f(0.5);
        p.weight[(1, 2)] = f(1.0);
        p.weight[(1, 12)] = f(-1.0);
        p.bias[1] = f(-1.0);
        let mut x = [[[T::zero(); 4]; 5]; 2];
        for h in 0..5 {
            for w in 0..4 {
                x[0][h][w] = f((4 * h + w + 1) as f64);
                x[1][h][w] = f(h as f64 - w as f64);
            }
        }
        (p, x)
    }

    // Worked out by hand from the formulas above:
    // i = 0: y0 = [0 + 2·2 + 3·(−1) + .5, 0 + 2·4 + 0 + .5]   = [1.5, 8.5]
    //        y1 = [0 − 0 − 1, 0 − (−2) − 1]                    = [−1, 1]
    // i = 1: y0 = [5 + 2·10 + 3·1 + .5, 7 + 2·12 + 0 + .5]     = [28.5, 31.5]
    //        y1 = [7 − 2 − 1, 0 − 0 − 1]                       = [4, −1]
    // i = 2: y0 = [13 + 2·18 + 0 + .5, 15 + 2·20 + 0 + .5]     = [49.5, 55.5]
    //        y1 = [15 − 4 − 1, 0 − 2 − 1]                      = [10, −3]
    const STRIDED_Y0: [f64; 6] = [1.5, 8.5, 28.5, 31.5, 49.5, 55.5];
    const STRIDED_Y1: [f64; 6] = [-1.0, 1.0, 4.0, -1.0, 10.0, -3.0];

    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    fn strided<T: Float, A: Activation>() -> Image<T, 2, 3, 2> {
        let (p, x) = strided_case::<T>();
        conv2d::<T, A, 2, 5, 4, 2, 3, 3, 2, 2, 1, 0, 3, 2, 18>(&p, &x)
    }

    /// The strided case's outputs through the epilogue: scale (2, −1),
    /// shift (1, 0.5), relu: y0 → 2·y0 + 1, y1 → max(0.5 − y1, 0).
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn strided_affine_relu_by_hand() {
        let (p, x) = strided_case::<f64>();
        let a = ChannelAffine {
            scale: [2.0, -1.0],
            shift: [1.0, 0.5],
        };
        type C = Conv2d<Relu, In<2, 5, 4>, Out<2, 3, 2>, Kernel<3, 3>, Stride<2, 2>, Pad<1, 0>>;
        let y = C::forward_affine(&p, &x, &a);
        let want0 = STRIDED_Y0.map(|v| 2.0 * v + 1.0);
        let want1 = STRIDED_Y1.map(|v| (0.5 - v).max(0.0));
        assert_eq!(y[0].as_flattened(), &want0);
        assert_eq!(y[1].as_flattened(), &want1);
        assert_eq!(want1, [1.5, 0.0, 0.0, 1.5, 0.0, 3.5]);
    }

    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn strided_asymmetric_padding_by_hand() {
        let want: [f64; 12] = core::array::from_fn(|n| {
            if n < 6 {
                STRIDED_Y0[n]
            } else {
                STRIDED_Y1[n - 6]
            }
        });
        close(strided::<f64, Linear>().as_flat(), &want, 0.0);
        close(strided::<f32, Linear>().as_flat(), &want, 0.0);
        let relu = want.map(|v| v.max(0.0));
        close(strided::<f64, Relu>().as_flat(), &relu, 0.0);
        close(strided::<f32, Relu>().as_flat(), &relu, 0.0);
    }

    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn fused_activations_by_hand() {
        let y = strided::<f64, Sigmoid>();
        let t = strided::<f32, Tanh>();
        let s = strided::<f64, Softmax>();
        let s32 = strided::<f32, Softmax>();
        for n in 0..6 {
            let (i, j) = (n / 2, n % 2);
            let (a, b) = (STRIDED_Y0[n], STRIDED_Y1[n]);
            assert!((y[1][i][j] - 1.0 / (1.0 + (-b).exp())).abs() < 1e-15);
            assert!((t[1][i][j] as f64 - b.tanh()).abs() < 1e-6);
            // Softmax across the two channels of the pixel.
            let p0 = 1.0 / (1.0 + (b - a).exp());
            assert!((s[0][i][j] - p0).abs() < 1e-15, "softmax at {i},{j}");
            assert!((s[1][i][j] - (1.0 - p0)).abs() < 1e-15);
            assert!((s32[0][i][j] as f64 - p0).abs() < 1e-6);
        }
    }

    /// `padding = same` with an even 2×2 kernel on 3×3: TensorFlow pads one
    /// row/column at the bottom/right only (PT = PL = 0, OH = OW = 3).
    /// kernel [[1, 2], [3, 4]], x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]:
    /// y[i][j] = x[i][j] + 2x[i][j+1] + 3x[i+1][j] + 4x[i+1][j+1].
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn same_padding_even_kernel_by_hand() {
        let mut p = Conv2dParams::<f64, 1, 4>::zeros();
        for (k, v) in [1.0, 2.0, 3.0, 4.0].into_iter().enumerate() {
            p.weight[(0, k)] = v;
        }
        let x: Image<f64, 1, 3, 3> = [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]];
        let y = conv2d::<f64, Linear, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 3, 3, 4>(&p, &x);
        let want = [
            [1.0 + 4.0 + 12.0 + 20.0, 2.0 + 6.0 + 15.0 + 24.0, 3.0 + 18.0],
            [
                4.0 + 10.0 + 21.0 + 32.0,
                5.0 + 12.0 + 24.0 + 36.0,
                6.0 + 27.0,
            ],
            [7.0 + 16.0, 8.0 + 18.0, 9.0],
        ];
        assert_eq!(y[0], want);
    }

    type Point<const O: usize, const K: usize, const C: usize, const H: usize, const W: usize> =
        (Conv2dParams<f64, O, K>, Image<f64, C, H, W>);

    macro_rules! grad_case {
        ($a:ty, $seed:expr, C=$c:literal, H=$h:literal, W=$w:literal, O=$o:literal,
         KH=$kh:literal, KW=$kw:literal, SH=$sh:literal, SW=$sw:literal,
         PT=$pt:literal, PL=$pl:literal, OH=$oh:literal, OW=$ow:literal) => {{
            const K: usize = $c * $kh * $kw;
            let mut rng = Rng::new($seed);
            let mut p = Conv2dParams::<f64, $o, K>::zeros();
            fill(&mut rng, p.weight.as_mut_slice());
            fill(&mut rng, p.bias.as_mut_slice());
            let mut x = <Image<f64, $c, $h, $w> as Tensor<f64>>::zeros();
            fill(&mut rng, x.as_flat_mut());
            let mut r = <Image<f64, $o, $oh, $ow> as Tensor<f64>>::zeros();
            fill(&mut rng, r.as_flat_mut());
            let fwd = |p: &Conv2dParams<f64, $o, K>, x: &Image<f64, $c, $h, $w>| {
                conv2d::<f64, $a, $c, $h, $w, $o, $kh, $kw, $sh, $sw, $pt, $pl, $oh, $ow, K>(p, x)
            };
            let y = fwd(&p, &x);
            let mut g = Conv2dParams::zeros();
            let dx = conv2d_backward::<
                f64,
                $a,
                $c,
                $h,
                $w,
                $o,
                $kh,
                $kw,
                $sh,
                $sw,
                $pt,
                $pl,
                $oh,
                $ow,
                K,
            >(&p, &x, &y, &r, &mut g);
            let loss = |q: &Point<$o, K, $c, $h, $w>| dot(r.as_flat(), fwd(&q.0, &q.1).as_flat());
            let pt = (p, x);
            let what = concat!(stringify!($a), " seed ", stringify!($seed));
            check_grad(
                what,
                &pt,
                |q| q.0.weight.as_mut_slice(),
                loss,
                g.weight.as_slice(),
            );
            check_grad(
                what,
                &pt,
                |q| q.0.bias.as_mut_slice(),
                loss,
                g.bias.as_slice(),
            );
            check_grad(what, &pt, |q| q.1.as_flat_mut(), loss, dx.as_flat());
        }};
    }

    /// `conv2d_backward_params_batch` over `N` samples against central
    /// finite differences of `Σ_s r_s · conv(x_s)` in the parameters (the
    /// samples' partial sums are added before their horizontal sums).
    macro_rules! batch_grad_case {
        ($a:ty, $seed:expr, N = $n:literal, C = $c:literal, H = $h:literal, W = $w:literal,
         O = $o:literal, KH = $kh:literal, KW = $kw:literal, SH = $sh:literal, SW = $sw:literal,
         PT = $pt:literal, PL = $pl:literal, OH = $oh:literal, OW = $ow:literal) => {{
            const K: usize = $c * $kh * $kw;
            let mut rng = Rng::new($seed);
            let mut p = Conv2dParams::<f64, $o, K>::zeros();
            fill(&mut rng, p.weight.as_mut_slice());
            fill(&mut rng, p.bias.as_mut_slice());
            let mut xs = [<Image<f64, $c, $h, $w> as Tensor<f64>>::zeros(); $n];
            let mut rs = [<Image<f64, $o, $oh, $ow> as Tensor<f64>>::zeros(); $n];
            for (x, r) in xs.iter_mut().zip(rs.iter_mut()) {
                fill(&mut rng, x.as_flat_mut());
                fill(&mut rng, r.as_flat_mut());
            }
            let fwd = |p: &Conv2dParams<f64, $o, K>, x: &Image<f64, $c, $h, $w>| {
                conv2d::<f64, $a, $c, $h, $w, $o, $kh, $kw, $sh, $sw, $pt, $pl, $oh, $ow, K>(p, x)
            };
            let ys = xs.map(|x| fwd(&p, &x));
            // Non-zero gradients already there are added to, not replaced.
            let mut g = Conv2dParams::<f64, $o, K>::zeros();
            g.weight.as_mut_slice()[0] = 0.5;
            g.bias.as_mut_slice()[0] = -0.25;
            let samples = xs.iter().zip(&ys).zip(&rs).map(|((x, y), r)| (x, y, r));
            conv2d_backward_params_batch::<
                f64,
                $a,
                $c,
                $h,
                $w,
                $o,
                $kh,
                $kw,
                $sh,
                $sw,
                $pt,
                $pl,
                $oh,
                $ow,
                K,
            >(samples, &mut g);
            g.weight.as_mut_slice()[0] -= 0.5;
            g.bias.as_mut_slice()[0] += 0.25;
            let loss = |q: &Conv2dParams<f64, $o, K>| {
                xs.iter()
                    .zip(&rs)
                    .map(|(x, r)| dot(r.as_flat(), fwd(q, x).as_flat()))
                    .sum::<f64>()
            };
            let what = concat!("batch ", stringify!($a), " seed ", stringify!($seed));
            check_grad(
                what,
                &p,
                |q| q.weight.as_mut_slice(),
                loss,
                g.weight.as_slice(),
            );
            check_grad(what, &p, |q| q.bias.as_mut_slice(), loss, g.bias.as_slice());
        }};
    }

    /// The `f32` batch weight gradient against the `f64` one (checked by
    /// finite differences above) on the same values (rounded to `f32`
    /// first): `f32` takes the target's kernel for the taps' partial sums
    /// where there is one (`Float::conv_taps8`: AVX2 and FMA, `OW` a
    /// multiple of 8, at most 12 taps), and `$taps8` says whether this
    /// shape qualifies.
    macro_rules! f32_batch_case {
        ($seed:expr, taps8 = $taps8:expr, N = $n:expr, C = $c:expr, H = $h:expr, W = $w:expr,
         O = $o:expr, KH = $kh:expr, KW = $kw:expr, OH = $oh:expr, OW = $ow:expr) => {{
            const K: usize = $c * $kh * $kw;
            type X<T> = Image<T, $c, $h, $w>;
            type Y<T> = Image<T, $o, $oh, $ow>;
            /// The batch gradient in `T` of the `f64` samples (exact in
            /// `f32`: they were rounded to it).
            fn grads<T: Float>(
                xs: &[X<f64>; $n],
                ys: &[Y<f64>; $n],
                ds: &[Y<f64>; $n],
            ) -> Conv2dParams<T, $o, K> {
                fn cast<T: Float, A: Tensor<f64>, B: Tensor<T>>(a: &A) -> B {
                    let mut b = B::zeros();
                    b.as_flat_mut()
                        .iter_mut()
                        .zip(a.as_flat())
                        .for_each(|(o, &v)| *o = T::of_f64(v));
                    b
                }
                let xs: [X<T>; $n] = core::array::from_fn(|k| cast(&xs[k]));
                let ys: [Y<T>; $n] = core::array::from_fn(|k| cast(&ys[k]));
                let ds: [Y<T>; $n] = core::array::from_fn(|k| cast(&ds[k]));
                let mut g = Conv2dParams::<T, $o, K>::zeros();
                let samples = xs.iter().zip(&ys).zip(&ds).map(|((x, y), d)| (x, y, d));
                conv2d_backward_params_batch::<
                    T,
                    Relu,
                    $c,
                    $h,
                    $w,
                    $o,
                    $kh,
                    $kw,
                    1,
                    1,
                    0,
                    0,
                    $oh,
                    $ow,
                    K,
                >(samples, &mut g);
                g
            }
            let mut rng = Rng::new($seed);
            let round = |v: &mut [f64]| v.iter_mut().for_each(|x| *x = *x as f32 as f64);
            let mut xs = [<X<f64> as Tensor<f64>>::zeros(); $n];
            let mut ys = [<Y<f64> as Tensor<f64>>::zeros(); $n];
            let mut ds = [<Y<f64> as Tensor<f64>>::zeros(); $n];
            for ((x, y), d) in xs.iter_mut().zip(ys.iter_mut()).zip(ds.iter_mut()) {
                for v in [x.as_flat_mut(), y.as_flat_mut(), d.as_flat_mut()] {
                    fill(&mut rng, v);
                    round(v);
                }
            }
            let g64 = grads::<f64>(&xs, &ys, &ds);
            let g32 = grads::<f32>(&xs, &ys, &ds);
            // Sums of N·OH·OW products of values in [-1, 1): f32's rounding
            // error stays far below 1e-4 of the sum's scale.
            let scale = ($n * $oh * $ow) as f64;
            close(g32.weight.as_slice(), g64.weight.as_slice(), 1e-5 * scale);
            close(g32.bias.as_slice(), g64.bias.as_slice(), 1e-5 * scale);
            // Whether the kernel itself ran, where the CPU has it.
            let mut acc = [[0.0f32; 8]; K];
            let mut db = [0.0f32; 8];
            let x0: X<f32> = core::array::from_fn(|c| {
                core::array::from_fn(|i| core::array::from_fn(|j| xs[0][c][i][j] as f32))
            });
            let dz: [[f32; $ow]; $oh] =
                core::array::from_fn(|i| core::array::from_fn(|j| ds[0][0][i][j] as f32));
            let ran = <f32 as Float>::conv_taps8::<$c, $h, $w, $kh, $kw, $oh, $ow, K>(
                &x0, &dz, &mut acc, &mut db,
            );
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            assert_eq!(
                ran,
                $taps8
                    && !cfg!(target_feature = "avx512f")
                    && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
            );
            #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
            let _ = ran;
        }};
    }

    #[test]
    fn conv2d_backward_params_batch_in_f32_matches_f64() {
        // W1's 3×3 convolution on 10×10 (one register per output row).
        f32_batch_case!(
            21,
            taps8 = true,
            N = 5,
            C = 1,
            H = 10,
            W = 10,
            O = 5,
            KH = 3,
            KW = 3,
            OH = 8,
            OW = 8
        );
        // Two registers per row, a taller window than wide, two channels.
        f32_batch_case!(
            22,
            taps8 = true,
            N = 3,
            C = 2,
            H = 18,
            W = 17,
            O = 3,
            KH = 3,
            KW = 2,
            OH = 16,
            OW = 16
        );
        // Windows that do not reach the last input column (`OW + KW < W + 1`).
        f32_batch_case!(
            23,
            taps8 = true,
            N = 2,
            C = 1,
            H = 6,
            W = 12,
            O = 2,
            KH = 2,
            KW = 3,
            OH = 5,
            OW = 8
        );
        // Twelve taps, the most the kernel takes; thirteen-plus and a width
        // that is not a multiple of 8 run the portable loop.
        f32_batch_case!(
            24,
            taps8 = true,
            N = 2,
            C = 3,
            H = 9,
            W = 9,
            O = 2,
            KH = 2,
            KW = 2,
            OH = 8,
            OW = 8
        );
        f32_batch_case!(
            25,
            taps8 = false,
            N = 2,
            C = 2,
            H = 10,
            W = 10,
            O = 2,
            KH = 3,
            KW = 3,
            OH = 8,
            OW = 8
        );
        f32_batch_case!(
            26,
            taps8 = false,
            N = 2,
            C = 1,
            H = 8,
            W = 9,
            O = 3,
            KH = 3,
            KW = 3,
            OH = 6,
            OW = 7
        );
    }

    #[test]
    fn conv2d_backward_params_batch_matches_finite_differences() {
        // Valid, unit stride (the batched partial sums), with a filter
        // count no block size divides, over five samples; an activation
        // that is not elementwise and a padded, strided geometry (sample
        // by sample).
        batch_grad_case!(
            Relu,
            11,
            N = 5,
            C = 2,
            H = 6,
            W = 7,
            O = 4,
            KH = 3,
            KW = 2,
            SH = 1,
            SW = 1,
            PT = 0,
            PL = 0,
            OH = 4,
            OW = 6
        );
        batch_grad_case!(
            Tanh,
            12,
            N = 3,
            C = 1,
            H = 10,
            W = 10,
            O = 7,
            KH = 3,
            KW = 3,
            SH = 1,
            SW = 1,
            PT = 0,
            PL = 0,
            OH = 8,
            OW = 8
        );
        batch_grad_case!(
            Softmax,
            13,
            N = 2,
            C = 2,
            H = 5,
            W = 5,
            O = 3,
            KH = 3,
            KW = 3,
            SH = 1,
            SW = 1,
            PT = 0,
            PL = 0,
            OH = 3,
            OW = 3
        );
        batch_grad_case!(
            Sigmoid,
            14,
            N = 3,
            C = 2,
            H = 5,
            W = 4,
            O = 2,
            KH = 3,
            KW = 3,
            SH = 2,
            SW = 2,
            PT = 1,
            PL = 0,
            OH = 3,
            OW = 2
        );
    }

    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn conv2d_backward_matches_finite_differences() {
        // The strided, asymmetrically padded geometry, every activation.
        grad_case!(
            Linear,
            1,
            C = 2,
            H = 5,
            W = 4,
            O = 2,
            KH = 3,
            KW = 3,
            SH = 2,
            SW = 2,
            PT = 1,
            PL = 0,
            OH = 3,
            OW = 2
        );
        grad_case!(
            Relu,
            2,
            C = 2,
            H = 5,
            W = 4,
            O = 3,
            KH = 3,
            KW = 3,
            SH = 2,
            SW = 2,
            PT = 1,
            PL = 0,
            OH = 3,
            OW = 2
        );
        grad_case!(
            Sigmoid,
            3,
            C = 2,
            H = 5,
            W = 4,
            O = 2,
            KH = 3,
            KW = 3,
            SH = 2,
            SW = 2,
            PT = 1,
            PL = 0,
            OH = 3,
            OW = 2
        );
        grad_case!(
            Tanh,
            4,
            C = 2,
            H = 5,
            W = 4,
            O = 2,
            KH = 3,
            KW = 3,
            SH = 2,
            SW = 2,
            PT = 1,
            PL = 0,
            OH = 3,
            OW = 2
        );
        grad_case!(
            Softmax,
            5,
            C = 2,
            H = 5,
            W = 4,
            O = 3,
            KH = 3,
            KW = 3,
            SH = 2,
            SW = 2,
            PT = 1,
            PL = 0,
            OH = 3,
            OW = 2
        );
        // valid, stride 1
        grad_case!(
            Tanh,
            6,
            C = 1,
            H = 4,
            W = 5,
            O = 2,
            KH = 2,
            KW = 3,
            SH = 1,
            SW = 1,
            PT = 0,
            PL = 0,
            OH = 3,
            OW = 3
        );
        // same with an even kernel (extra row/column at the bottom/right)
        grad_case!(
            Sigmoid,
            7,
            C = 2,
            H = 4,
            W = 4,
            O = 2,
            KH = 2,
            KW = 2,
            SH = 1,
            SW = 1,
            PT = 0,
            PL = 0,
            OH = 4,
            OW = 4
        );
        // same with an odd kernel, and explicit (ph, pw) = (2, 1) padding with
        // stride (2, 1)
        grad_case!(
            Linear,
            8,
            C = 2,
            H = 3,
            W = 3,
            O = 2,
            KH = 3,
            KW = 3,
            SH = 1,
            SW = 1,
            PT = 1,
            PL = 1,
            OH = 3,
            OW = 3
        );
        grad_case!(
            Softmax,
            9,
            C = 2,
            H = 4,
            W = 3,
            O = 2,
            KH = 3,
            KW = 2,
            SH = 2,
            SW = 1,
            PT = 2,
            PL = 1,
            OH = 3,
            OW = 4
        );
    }

    /// The straightforward definition (padded cross-correlation), in f64.
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn conv2d_matches_the_definition_on_a_larger_case() {
        const C: usize = 3;
        const O: usize = 5;
        const K: usize = C * 9;
        let mut rng = Rng::new(11);
        let mut p = Conv2dParams::<f64, O, K>::zeros();
        fill(&mut rng, p.weight.as_mut_slice());
        fill(&mut rng, p.bias.as_mut_slice());
        let mut x = <Image<f64, C, 7, 6> as Tensor<f64>>::zeros();
        fill(&mut rng, x.as_flat_mut());
        // stride 2, padding 1 on every side: OH = (7 + 2 − 3) / 2 + 1 = 4,
        // OW = (6 + 2 − 3) / 2 + 1 = 3.
        let y = conv2d::<f64, Linear, C, 7, 6, O, 3, 3, 2, 2, 1, 1, 4, 3, K>(&p, &x);
        for o in 0..O {
            for i in 0..4 {
                for j in 0..3 {
                    let mut s = p.bias[o];
                    for c in 0..C {
                        for ki in 0..3 {
                            for kj in 0..3 {
                                let (h, w) = ((2 * i + ki) as isize - 1, (2 * j + kj) as isize - 1);
                                if (0..7).contains(&h) && (0..6).contains(&w) {
                                    s += p.weight[(o, (c * 3 + ki) * 3 + kj)]
                                        * x[c][h as usize][w as usize];
                                }
                            }
                        }
                    }
                    assert!((y[o][i][j] - s).abs() < 1e-12, "{o},{i},{j}");
                }
            }
        }
    }

    /// `Conv2d` with `groups`, `dilation` and `bias = false` (the grouped
    /// kernels) against finite differences.
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn grouped_backward_matches_finite_differences() {
        use crate::kernels::depthwise::tests::check_grouped;
        use crate::Conv2dNoBiasParams;
        // groups 2: 4 channels, 6 filters, 2×2 kernel, valid; K = 2·2·2.
        let b = Conv2dParams::<f64, 6, 8>::zeros;
        check_grouped::<Tanh, _, 4, 4, 3, 6, 2, 2, 1, 1, 1, 1, 0, 0, 2, 3, 2, 8>("g2", 31, b);
        // dilation (2, 1), no bias, stride (1, 2), padding (1, 1).
        let b = Conv2dNoBiasParams::<f64, 3, 18>::zeros;
        check_grouped::<Relu, _, 2, 5, 5, 3, 3, 3, 1, 2, 2, 1, 1, 1, 1, 3, 3, 18>("d21", 32, b);
        // Everything at once, with the per-pixel softmax.
        let b = Conv2dNoBiasParams::<f64, 4, 6>::zeros;
        check_grouped::<Softmax, _, 4, 5, 4, 4, 3, 1, 2, 1, 2, 1, 1, 0, 2, 3, 4, 6>("all", 33, b);
    }

    /// The grouped kernel with `groups = 1`, dilation 1 and a bias is the
    /// default `Conv2d` kernel (which the definition test above checks).
    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn column_phases_are_a_permutation_with_contiguous_strided_runs() {
        // Width 7, stride 3: phases [0 3 6] [1 4] [2 5].
        let order: [usize; 7] = core::array::from_fn(phase_index::<7, 3>);
        assert_eq!(order, [0, 3, 5, 1, 4, 6, 2]);
        let mut x = <Image<f64, 2, 2, 7> as Tensor<f64>>::zeros();
        fill(&mut Rng::new(38), x.as_flat_mut());
        let mut p = column_phases::<f64, 2, 2, 7, 3>(&x);
        assert_eq!(p[1][1][..3], [x[1][1][0], x[1][1][3], x[1][1][6]]);
        assert_eq!(p[1][1][5..], [x[1][1][2], x[1][1][5]]);
        unphase::<f64, 2, 2, 7, 3>(&mut p);
        assert_eq!(p, x);
    }

    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn pointwise_matches_the_definition() {
        // 1×1 over whole 5×7 planes (two blocks of 16 pixels and 3 more),
        // groups 2 with 5 filters each (a block of 4 and one more): the
        // register-blocked product against the sum written out.
        use crate::kernels::depthwise::tests::check_grouped;
        const C: usize = 6;
        const O: usize = 10;
        let mut rng = Rng::new(35);
        let mut p = Conv2dParams::<f64, O, 3>::zeros();
        fill(&mut rng, p.weight.as_mut_slice());
        fill(&mut rng, p.bias.as_mut_slice());
        let mut x = <Image<f64, C, 5, 7> as Tensor<f64>>::zeros();
        fill(&mut rng, x.as_flat_mut());
        let y = conv2d_grouped::<f64, Linear, _, C, 5, 7, O, 1, 1, 1, 1, 1, 1, 0, 0, 2, 5, 7, 3>(
            &p, &x,
        );
        for o in 0..O {
            for i in 0..5 {
                for j in 0..7 {
                    let mut v = p.bias[o];
                    for ci in 0..3 {
                        v += p.weight[(o, ci)] * x[o / 5 * 3 + ci][i][j];
                    }
                    assert!((y[o][i][j] - v).abs() < 1e-14, "y[{o}][{i}][{j}]");
                }
            }
        }
        // Its backward (dL/dx, dL/dW, dL/db) by finite differences, with a
        // bias and through relu, and without one through the per-pixel
        // softmax.
        let b = Conv2dParams::<f64, O, 3>::zeros;
        check_grouped::<Relu, _, C, 5, 7, O, 1, 1, 1, 1, 1, 1, 0, 0, 2, 5, 7, 3>("pw g2", 36, b);
        let b = Conv2dNoBiasParams::<f64, 5, 6>::zeros;
        check_grouped::<Softmax, _, C, 4, 5, 5, 1, 1, 1, 1, 1, 1, 0, 0, 1, 4, 5, 6>("pw sm", 37, b);
    }

    #[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
    #[test]
    fn grouped_with_defaults_is_conv2d() {
        let mut rng = Rng::new(34);
        let mut p = Conv2dParams::<f64, 3, 18>::zeros();
        fill(&mut rng, p.weight.as_mut_slice());
        fill(&mut rng, p.bias.as_mut_slice());
        let mut x = <Image<f64, 2, 5, 4> as Tensor<f64>>::zeros();
        fill(&mut rng, x.as_flat_mut());
        let a = conv2d::<f64, Sigmoid, 2, 5, 4, 3, 3, 3, 2, 2, 1, 0, 3, 2, 18>(&p, &x);
        let b = conv2d_grouped::<f64, Sigmoid, _, 2, 5, 4, 3, 3, 3, 2, 2, 1, 1, 1, 0, 1, 3, 2, 18>(
            &p, &x,
        );
        close(b.as_flat(), a.as_flat(), 1e-15);
    }
}
