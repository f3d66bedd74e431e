//! int8 `Conv2d` and `Dense` with the Arm DSP extension's SIMD
//! multiply-accumulate (`SMLAD`: two 16 × 16-bit products added to a
//! 32-bit sum in one instruction) on the targets that have it
//! (`target_feature = "dsp"`: Cortex-M4, M7, M33, M55, …; thumbv7em and
//! thumbv8m.main), as CMSIS-NN computes them. Everywhere else (Cortex-M0/M0+
//! and M3, x86-64, …) none of this is compiled: the functions return
//! `false` (a constant) and the callers run their portable loops.
//!
//! **Bit-exact.** The int32 sums are exact (TFLite's too: `int8 · int8`
//! products of at most `2¹⁴` summed over fewer than `2¹⁷` taps cannot
//! overflow), so adding the products in pairs and in another order gives
//! the same sum; the requantization is the portable [`OutputStage::apply`].
//! `SMLAD` wraps around on overflow as the portable `i32` additions of a
//! release build do (and sets the sticky `Q` flag, which nothing reads).
//!
//! **How.** For each pair of output pixels the convolution's input patch
//! (the `K = C·KH·KW` taps of the window, `x − input_zero_point`, 0 where
//! the window hangs over the padding) is written once as 16-bit values,
//! packed two to a word in the order `SXTB16` unpacks the weights: the
//! taps `4g, 4g+2` in word `2g` and `4g+1, 4g+3` in word `2g+1`. Then for
//! each pair of output channels, four weights at a time are one 32-bit
//! load, split by `SXTB16` (bytes 0 and 2) and `SXTB16 …, ror #8` (bytes 1
//! and 3) into two words of 16-bit pairs, and multiplied into the 2 × 2
//! sums by four `SMLAD` per word pair: per 16 multiply-adds, 2 weight
//! loads, 4 `SXTB16`, 4 patch loads and 8 `SMLAD`. The patch is built once
//! per pixel for all output channels. A tail of `K mod 4` taps, an odd
//! last channel and an odd last pixel take the same sums one at a time.
//!
//! The instructions are `asm!` blocks of one instruction each with no
//! memory operands (`pure, nomem`): LLVM allocates their registers and
//! schedules them like its own arithmetic, and every load and store is
//! ordinary Rust indexing through iterators and `get`, so there is no
//! pointer arithmetic here to prove in bounds. (`core::arch::arm`'s
//! `__smlad` is still unstable.)

#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
use super::{QConv2dParams, QDenseParams};

/// One output channel's [`OutputStage`](super::OutputStage) with what
/// its requantization needs per value worked out once per layer: the same
/// result as [`OutputStage::apply`](super::OutputStage::apply) for every
/// sum (tested below against it), in about 18 instructions instead of
/// about 45.
///
/// - `SaturatingRoundingDoublingHighMul(a, m)` is `(a·m + 2³⁰) >> 31`
///   (arithmetic): gemmlowp's nudge `1 − 2³⁰` for a negative product and
///   its division truncating toward zero give exactly that floor, so no
///   branch on the sign; the one product it saturates, `i32::MIN²`, needs
///   `m = i32::MIN`, which takes the portable path.
/// - `RoundingDivideByPOT(x, e)` keeps its form, `(x >> e) + ((x & mask) >
///   (mask >> 1) + (x < 0))`, with `mask` and `mask >> 1` per channel.
/// - Shifts above 31 (left or right), which the portable code defines
///   specially, take the portable path (`fast` is false).
#[cfg(any(test, all(target_arch = "arm", target_feature = "dsp")))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Requant {
    m: i32,
    left: u32,
    right: u32,
    mask: i32,
    half: i32,
    zp: i32,
    min: i32,
    max: i32,
    fast: bool,
}

#[cfg(any(test, all(target_arch = "arm", target_feature = "dsp")))]
impl Requant {
    /// Channel `c` of `st`.
    #[inline(always)]
    pub(crate) fn new<const O: usize>(st: &super::OutputStage<O>, c: usize) -> Self {
        let m = st.multiplier.get(c).copied().unwrap_or(0);
        let s = st.shift.get(c).copied().unwrap_or(0);
        let (left, right) = if s > 0 {
            (s.unsigned_abs(), 0)
        } else {
            (0, s.unsigned_abs())
        };
        let fast = left <= 31 && right <= 31 && m != i32::MIN;
        let mask = if right <= 31 {
            ((1u32 << right) - 1) as i32
        } else {
            0
        };
        Requant {
            m,
            left: left & 31,
            right: right & 31,
            mask,
            half: mask >> 1,
            zp: st.output_zero_point,
            min: st.min as i32,
            max: st.max as i32,
            fast,
        }
    }

    /// The int8 value of the sum `acc` of channel `c` of `st` (this
    /// channel's stage, which the slow path uses).
    #[inline(always)]
    pub(crate) fn apply<const O: usize>(
        &self,
        acc: i32,
        st: &super::OutputStage<O>,
        c: usize,
    ) -> i8 {
        if !self.fast {
            return st.apply(acc, c);
        }
        let a = acc.wrapping_shl(self.left);
        let x = ((a as i64 * self.m as i64 + (1 << 30)) >> 31) as i32;
        let neg = (x as u32 >> 31) as i32;
        let y = (x >> self.right) + ((x & self.mask) > self.half + neg) as i32;
        let v = y.wrapping_add(self.zp);
        let v = if v < self.min { self.min } else { v };
        let v = if v > self.max { self.max } else { v };
        v as i8
    }
}

/// `acc + lo(a)·lo(b) + hi(a)·hi(b)`, the halves signed 16-bit (`SMLAD`).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: one register-only instruction; no memory, no stack. It may
    // set the sticky Q flag (flags are not declared preserved).
    unsafe {
        core::arch::asm!(
            "smlad {r}, {a}, {b}, {acc}",
            r = lateout(reg) r,
            a = in(reg) a,
            b = in(reg) b,
            acc = in(reg) acc,
            options(pure, nomem, nostack),
        );
    }
    r
}

/// Bytes 0 and 2 of `x`, sign-extended to the two 16-bit halves (`SXTB16`).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: one register-only instruction; no memory, no stack, no flags.
    unsafe {
        core::arch::asm!(
            "sxtb16 {r}, {x}",
            r = lateout(reg) r,
            x = in(reg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    r
}

/// Bytes 1 and 3 of `x`, sign-extended to the two 16-bit halves
/// (`SXTB16 …, ror #8`).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn sxtb16_odd(x: u32) -> u32 {
    let r: u32;
    // SAFETY: one register-only instruction; no memory, no stack, no flags.
    unsafe {
        core::arch::asm!(
            "sxtb16 {r}, {x}, ror #8",
            r = lateout(reg) r,
            x = in(reg) x,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    r
}

/// Four int8 weights as one word (one load; Cortex-M allows it unaligned).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn word(w: &[i8; 4]) -> u32 {
    u32::from_le_bytes(w.map(|b| b as u8))
}

/// Two int32 values (each in int16 range) as the halves of one word.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn pair(lo: i32, hi: i32) -> u32 {
    (lo as u32 & 0xffff) | ((hi as u32) << 16)
}

/// A patch `v` (`K` values `x − zp`) packed for [`smlad`] against
/// [`sxtb16`]/[`sxtb16_odd`] of four weights: taps `4g, 4g+2` in word
/// `2g`, `4g+1, 4g+3` in word `2g+1` (the first `K/4·2` words; the tail of
/// `K mod 4` taps stays in `v`).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn pack<const K: usize>(v: &[i32; K], out: &mut [u32; K]) {
    let (groups, _) = v.as_chunks::<4>();
    let (words, _) = out.as_chunks_mut::<2>();
    for (g, o) in groups.iter().zip(words.iter_mut()) {
        o[0] = pair(g[0], g[2]);
        o[1] = pair(g[1], g[3]);
    }
}

/// The sums of two output channels (weights `w0`, `w1`) over two packed
/// patches (`p0`, `p1`, with their unpacked tails `v0`, `v1`), starting at
/// `acc` = `[w0·p0, w0·p1, w1·p0, w1·p1]`.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dot2x2<const K: usize>(
    w0: &[i8; K],
    w1: &[i8; K],
    p0: &[u32; K],
    p1: &[u32; K],
    v0: &[i32; K],
    v1: &[i32; K],
    acc: [i32; 4],
) -> [i32; 4] {
    let [mut a00, mut a01, mut a10, mut a11] = acc;
    let (g0, t0) = w0.as_chunks::<4>();
    let (g1, t1) = w1.as_chunks::<4>();
    let (q0, _) = p0.as_chunks::<2>();
    let (q1, _) = p1.as_chunks::<2>();
    for (((w0, w1), x0), x1) in g0.iter().zip(g1).zip(q0).zip(q1) {
        let (w0, w1) = (word(w0), word(w1));
        let (e0, o0, e1, o1) = (sxtb16(w0), sxtb16_odd(w0), sxtb16(w1), sxtb16_odd(w1));
        a00 = smlad(o0, x0[1], smlad(e0, x0[0], a00));
        a01 = smlad(o0, x1[1], smlad(e0, x1[0], a01));
        a10 = smlad(o1, x0[1], smlad(e1, x0[0], a10));
        a11 = smlad(o1, x1[1], smlad(e1, x1[0], a11));
    }
    let (_, r0) = v0.as_chunks::<4>();
    let (_, r1) = v1.as_chunks::<4>();
    for (((&w0, &w1), &x0), &x1) in t0.iter().zip(t1).zip(r0).zip(r1) {
        let (w0, w1) = (w0 as i32, w1 as i32);
        a00 += w0 * x0;
        a01 += w0 * x1;
        a10 += w1 * x0;
        a11 += w1 * x1;
    }
    [a00, a01, a10, a11]
}

/// One output channel's sum over one packed patch, from `acc`.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn dot1<const K: usize>(w: &[i8; K], p: &[u32; K], v: &[i32; K], mut acc: i32) -> i32 {
    let (g, t) = w.as_chunks::<4>();
    let (q, _) = p.as_chunks::<2>();
    for (w, x) in g.iter().zip(q) {
        let w = word(w);
        acc = smlad(sxtb16_odd(w), x[1], smlad(sxtb16(w), x[0], acc));
    }
    let (_, r) = v.as_chunks::<4>();
    for (&w, &x) in t.iter().zip(r) {
        acc += w as i32 * x;
    }
    acc
}

/// Output pixel `q`'s patch (row-major pixel index) of a `Conv2d` with
/// kernel `KH × KW`, stride `SH × SW`, padding `PT`/`PL`: `x − zp` in
/// `(c, kh, kw)` order, 0 for taps in the padding.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn patch<
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const OW: usize,
    const K: usize,
>(
    x: &[[[i8; W]; H]; C],
    zp: i32,
    q: usize,
    v: &mut [i32; K],
) {
    let (oy, ox) = (q / OW, q % OW);
    for (xc, vc) in x.iter().zip(v.chunks_exact_mut(KH * KW)) {
        for (kh, vr) in vc.chunks_exact_mut(KW).enumerate() {
            match xc.get((oy * SH + kh).wrapping_sub(PT)) {
                None => vr.fill(0),
                Some(r) => {
                    for (kw, d) in vr.iter_mut().enumerate() {
                        *d = r
                            .get((ox * SW + kw).wrapping_sub(PL))
                            .map_or(0, |&b| b as i32 - zp);
                    }
                }
            }
        }
    }
}

/// int8 `Conv2d` (groups 1) with `SMLAD`, every value of `y` written, as
/// `conv2d_int8_into` computes it; returns `false` (and does nothing) on
/// targets without the DSP extension.
#[allow(unused_variables, clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn conv2d_int8_dsp<
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
    p: &super::QConv2dParams<O, K>,
    x: &[[[i8; W]; H]; C],
    y: &mut [[[i8; OW]; OH]; O],
) -> bool {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        conv_dsp::<C, H, W, O, KH, KW, SH, SW, PT, PL, OH, OW, K>(p, x, y);
        return true;
    }
    #[allow(unreachable_code)]
    false
}

/// The body of [`conv2d_int8_dsp`] (not inlined: one copy per layer
/// shape, called once per inference).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn conv_dsp<
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
    let zp = p.input_zero_point;
    let st = &p.out;
    let rq: [Requant; O] = core::array::from_fn(|c| Requant::new(st, c));
    let (rp, rt) = rq.as_chunks::<2>();
    let mut v = [[0i32; K]; 2];
    let mut packed = [[0u32; K]; 2];
    let pixels = OH * OW;
    let mut q = 0;
    while q < pixels {
        // Two pixels, `q` and `q1` (the same one again for an odd last).
        let q1 = if q + 1 < pixels { q + 1 } else { q };
        let [v0, v1] = &mut v;
        patch::<C, H, W, KH, KW, SH, SW, PT, PL, OW, K>(x, zp, q, v0);
        patch::<C, H, W, KH, KW, SH, SW, PT, PL, OW, K>(x, zp, q1, v1);
        let [p0, p1] = &mut packed;
        pack(v0, p0);
        pack(v1, p1);
        let (wp, wt) = p.weight.as_chunks::<2>();
        let (bp, bt) = p.bias.as_chunks::<2>();
        let (yp, yt) = y.as_chunks_mut::<2>();
        for (o2, (((w, b), yo), r)) in wp.iter().zip(bp).zip(yp).zip(rp).enumerate() {
            let [s00, s01, s10, s11] =
                dot2x2(&w[0], &w[1], p0, p1, v0, v1, [b[0], b[0], b[1], b[1]]);
            let (o, [y0, y1]) = (2 * o2, yo);
            let (y0, y1) = (y0.as_flattened_mut(), y1.as_flattened_mut());
            if let (Some(a), Some(b)) = (y0.get_mut(q), y1.get_mut(q)) {
                *a = r[0].apply(s00, st, o);
                *b = r[1].apply(s10, st, o + 1);
            }
            if let (Some(a), Some(b)) = (y0.get_mut(q1), y1.get_mut(q1)) {
                *a = r[0].apply(s01, st, o);
                *b = r[1].apply(s11, st, o + 1);
            }
        }
        // An odd last channel.
        for (((w, &b), yo), r) in wt.iter().zip(bt).zip(yt.iter_mut()).zip(rt) {
            let o = O - 1;
            let yo = yo.as_flattened_mut();
            if let Some(a) = yo.get_mut(q) {
                *a = r.apply(dot1(w, p0, v0, b), st, o);
            }
            if let Some(a) = yo.get_mut(q1) {
                *a = r.apply(dot1(w, p1, v1, b), st, o);
            }
        }
        q += 2;
    }
}

/// int8 `Dense` with `SMLAD` (TFLite Micro's requantization), every value
/// of `y` written, as `dense_int8_into` computes it; returns `false` (and
/// does nothing) on targets without the DSP extension.
#[allow(unused_variables)]
#[inline(always)]
pub(crate) fn dense_int8_dsp<const I: usize, const O: usize>(
    p: &super::QDenseParams<O, I>,
    x: &[i8; I],
    y: &mut [i8; O],
) -> bool {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        dense_dsp(p, x, y);
        return true;
    }
    #[allow(unreachable_code)]
    false
}

/// The body of [`dense_int8_dsp`]: the input is one patch, the output
/// channels go two at a time over it ([`dot2x2`] with the same patch
/// twice would do each product twice, so pairs of channels share the
/// patch's loads instead).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(never)]
fn dense_dsp<const I: usize, const O: usize>(p: &QDenseParams<O, I>, x: &[i8; I], y: &mut [i8; O]) {
    let zp = p.input_zero_point;
    let mut v = [0i32; I];
    for (d, &b) in v.iter_mut().zip(x) {
        *d = b as i32 - zp;
    }
    let mut packed = [0u32; I];
    pack(&v, &mut packed);
    let (q, _) = packed.as_chunks::<2>();
    let (_, r) = v.as_chunks::<4>();
    let (wp, wt) = p.weight.as_chunks::<2>();
    let (bp, bt) = p.bias.as_chunks::<2>();
    let (yp, yt) = y.as_chunks_mut::<2>();
    for (o2, ((w, b), yo)) in wp.iter().zip(bp).zip(yp).enumerate() {
        let (mut a0, mut a1) = (b[0], b[1]);
        let (g0, t0) = w[0].as_chunks::<4>();
        let (g1, t1) = w[1].as_chunks::<4>();
        for ((w0, w1), x) in g0.iter().zip(g1).zip(q) {
            let (w0, w1) = (word(w0), word(w1));
            a0 = smlad(sxtb16_odd(w0), x[1], smlad(sxtb16(w0), x[0], a0));
            a1 = smlad(sxtb16_odd(w1), x[1], smlad(sxtb16(w1), x[0], a1));
        }
        for ((&w0, &w1), &x) in t0.iter().zip(t1).zip(r) {
            a0 += w0 as i32 * x;
            a1 += w1 as i32 * x;
        }
        yo[0] = Requant::new(&p.out, 2 * o2).apply(a0, &p.out, 2 * o2);
        yo[1] = Requant::new(&p.out, 2 * o2 + 1).apply(a1, &p.out, 2 * o2 + 1);
    }
    for ((w, &b), yo) in wt.iter().zip(bt).zip(yt.iter_mut()) {
        *yo = Requant::new(&p.out, O - 1).apply(dot1(w, &packed, &v, b), &p.out, O - 1);
    }
}

/// `acc + lo(a)·hi(b)`, signed 16-bit halves (`SMLABT`).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn smlabt(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: one register-only instruction; no memory, no stack. It may
    // set the sticky Q flag (flags are not declared preserved).
    unsafe {
        core::arch::asm!(
            "smlabt {r}, {a}, {b}, {acc}",
            r = lateout(reg) r,
            a = in(reg) a,
            b = in(reg) b,
            acc = in(reg) acc,
            options(pure, nomem, nostack),
        );
    }
    r
}

/// int8 `DepthwiseConv2d` 3 × 3, stride 1, padding 1 on every side
/// (`same`), depth multiplier 1 — KWS's four — with `SMLAD`, every value
/// of `y` written, as `depthwise_conv2d_int8_into` computes it; returns
/// `false` (and does nothing) for other shapes or on targets without the
/// DSP extension.
///
/// Per channel, the input `x − zp` is written once as a plane of 16-bit
/// pairs `(x[i][j − 1], x[i][j])` (0 left of the image); an output pixel's
/// three taps of a kernel row are then one `SMLAD` (the first two, against
/// the row's first two weights packed likewise) and one `SMLABT` (the
/// third, the upper half of the next pair); rows above and below the image
/// read a row of zeros.
#[allow(unused_variables, clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn depthwise3x3_int8_dsp<
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
    p: &super::QDepthwiseParams<O, K>,
    x: &[[[i8; W]; H]; C],
    y: &mut [[[i8; OW]; OH]; O],
) -> bool {
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        if !(KH == 3 && KW == 3 && SH == 1 && SW == 1 && PT == 1 && PL == 1)
            || OH != H
            || OW != W
            || O != C
            || W < 2
            || K != 9
        {
            return false;
        }
        dw3_dsp::<C, H, W, O, OH, OW, K>(p, x, y);
        return true;
    }
    #[allow(unreachable_code)]
    false
}

/// The body of [`depthwise3x3_int8_dsp`] (`OH = H`, `OW = W ≥ 2`, `O = C`,
/// `K = 9`, checked by the caller).
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(never)]
fn dw3_dsp<
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &super::QDepthwiseParams<O, K>,
    x: &[[[i8; W]; H]; C],
    y: &mut [[[i8; OW]; OH]; O],
) {
    let zp = p.input_zero_point;
    let st = &p.out;
    let zero = [0u32; W];
    let mut q = [[0u32; W]; H];
    let channels = x.iter().zip(y.iter_mut()).zip(&p.weight).zip(&p.bias);
    for (o, (((xc, yo), w), &b)) in channels.enumerate() {
        for (qr, xr) in q.iter_mut().zip(xc) {
            let mut prev = 0i32;
            for (d, &v) in qr.iter_mut().zip(xr) {
                let v = v as i32 - zp;
                *d = pair(prev, v);
                prev = v;
            }
        }
        let r = Requant::new(st, o);
        let (wr, _) = w.as_chunks::<3>();
        let wp: [u32; 3] =
            core::array::from_fn(|k| wr.get(k).map_or(0, |t| pair(t[0] as i32, t[1] as i32)));
        let w2: [u32; 3] = core::array::from_fn(|k| wr.get(k).map_or(0, |t| pair(t[2] as i32, 0)));
        // The channel's sums first, one kernel row at a time over each
        // output row (few live values: LLVM keeps them in registers; the
        // nine taps of a pixel at once spilled), then their requantization
        // in a loop of its own.
        let mut acc = [[b; OW]; OH];
        for (oy, ar) in acc.iter_mut().enumerate() {
            let rows = [
                q.get(oy.wrapping_sub(1)).unwrap_or(&zero),
                q.get(oy).unwrap_or(&zero),
                q.get(oy + 1).unwrap_or(&zero),
            ];
            for ((r, &wa), &wb) in rows.iter().zip(&wp).zip(&w2) {
                let (body, last) = ar.split_at_mut(OW - 1);
                for (av, (a, n)) in body.iter_mut().zip(next(r)) {
                    *av = smlabt(wb, *n, smlad(wa, *a, *av));
                }
                if let (Some(av), Some(a)) = (last.first_mut(), r.last()) {
                    *av = smlad(wa, *a, *av);
                }
            }
        }
        for (yv, &a) in yo.as_flattened_mut().iter_mut().zip(acc.as_flattened()) {
            *yv = r.apply(a, st, o);
        }
    }
}

/// `(r[j], r[j + 1])` for `j` in `0..W − 1`.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
fn next<const W: usize>(r: &[u32; W]) -> impl Iterator<Item = (&u32, &u32)> {
    r.iter().zip(r.iter().skip(1))
}

#[cfg(test)]
mod tests {
    use super::Requant;
    use crate::quant::OutputStage;

    /// [`Requant::apply`] against the portable [`OutputStage::apply`] on
    /// the edge cases of both steps (sums at `i32::MIN`/`MAX`, ties of the
    /// rounding shift on both signs, shifts of 0, ±1, ±31 and beyond 31,
    /// multipliers of 0, `2³⁰`, `2³¹ − 1`, negative and `i32::MIN`, every
    /// clamp) and on a million seeded pseudo-random ones: equal everywhere.
    #[test]
    fn requant_equals_the_portable_output_stage() {
        let mults = [
            0,
            1,
            1 << 30,
            (1 << 30) + 12345,
            i32::MAX,
            -(1 << 30),
            -7,
            i32::MIN,
        ];
        let shifts = [0, 1, 2, 5, 30, 31, 32, 40, -1, -2, -7, -30, -31, -32, -33];
        let mut accs = vec![
            0,
            1,
            -1,
            2,
            -2,
            3,
            -3,
            i32::MIN,
            i32::MIN + 1,
            i32::MAX,
            i32::MAX - 1,
        ];
        for e in 0..32 {
            let h = 1i64 << e;
            for d in [-1, 0, 1] {
                for v in [
                    h + d,
                    -h + d,
                    h / 2 + d,
                    -(h / 2) + d,
                    3 * h / 2 + d,
                    -(3 * h / 2) + d,
                ] {
                    accs.push(v.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
                }
            }
        }
        let ranges = [
            (-128i8, 127i8),
            (-5, 127),
            (-128, 6),
            (10, 20),
            (0, 0),
            (7, -7),
        ];
        let mut n = 0u64;
        let mut check = |st: &OutputStage<1>, acc: i32| {
            let r = Requant::new(st, 0);
            assert_eq!(r.apply(acc, st, 0), st.apply(acc, 0), "{st:?} acc {acc}");
            n += 1;
        };
        for &m in &mults {
            for &s in &shifts {
                for &(min, max) in &ranges {
                    for zp in [0, -128, 127, 5] {
                        let st = OutputStage {
                            multiplier: [m],
                            shift: [s],
                            output_zero_point: zp,
                            min,
                            max,
                        };
                        for &a in &accs {
                            check(&st, a);
                        }
                    }
                }
            }
        }
        // Seeded xorshift: multipliers in TFLite's range and outside it,
        // shifts −40..=40, sums of every size.
        let mut z = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            z
        };
        for _ in 0..1_000_000 {
            let r = next();
            let m = if r & 1 == 0 {
                (1 << 30) + ((r >> 1) as i32 & 0x3fff_ffff)
            } else {
                (r >> 32) as i32
            };
            let s = ((r >> 8) % 81) as i32 - 40;
            let acc = (next() as i32) >> (next() % 32);
            let zp = (next() % 256) as i32 - 128;
            let st = OutputStage {
                multiplier: [m],
                shift: [s],
                output_zero_point: zp,
                min: -128,
                max: 127,
            };
            check(&st, acc);
        }
        assert!(n > 1_000_000);
    }

    /// A hand-worked tie: `srdhm(6, 2³⁰) = 3`, then `3 / 2 = 1.5`, which
    /// rounds away from zero to 2 (a truncating shift would give 1); and
    /// `−6` to `−2`.
    #[test]
    fn rounding_tie_hand_worked() {
        let st = OutputStage {
            multiplier: [1 << 30],
            shift: [-1],
            output_zero_point: 0,
            min: -128,
            max: 127,
        };
        let r = Requant::new(&st, 0);
        assert_eq!((r.apply(6, &st, 0), st.apply(6, 0)), (2, 2));
        assert_eq!((r.apply(-6, &st, 0), st.apply(-6, 0)), (-2, -2));
    }
}
