//! Hand-vectorised kernels for where LLVM's auto-vectorisation of the
//! portable code falls short, each gated on the target features it needs
//! at compile time and each with a portable fallback (the caller's own
//! loop) for every other target.

/// `dx[k][i] = W[:, i] · dz[k]` for eight samples `k`, `f32`, on AVX2 with
/// FMA: returns `false` (and does nothing) where the build lacks them (and,
/// in a `std` build for baseline x86-64, the CPU too) or `O` is not a
/// multiple of 8.
///
/// For each column of `W` the eight dot products run in eight registers of
/// partial sums, reduced together by a transposing `hadd` tree into one
/// register holding the eight results, which is stored whole. The portable
/// form leaves LLVM one horizontal sum per sample and column, which it
/// emits as 128-bit shuffles on this CPU.
#[allow(unused_variables)]
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn dots8_f32<const O: usize, const I: usize>(
    w: &[[f32; O]; I],
    dz: &[[f32; O]; 8],
    dx: &mut [[f32; I]; 8],
) -> bool {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    if O.is_multiple_of(8) {
        // SAFETY: `dots8_avx2` needs AVX2 and FMA, and this code is only
        // compiled when the whole build targets them
        // (`cfg(target_feature)` above), so every CPU this binary may run
        // on has them.
        unsafe { dots8_avx2(w, dz, dx) };
        return true;
    }
    // A build for baseline x86-64 with `std` (`kernels::dispatch`): the
    // same kernel where the CPU running it has AVX2 and FMA.
    #[cfg(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    ))]
    if O.is_multiple_of(8) && super::dispatch::has_avx2_fma() {
        // SAFETY: `dots8_avx2` needs AVX2 and FMA, and `has_avx2_fma` just
        // found both on this CPU.
        unsafe { dots8_avx2(w, dz, dx) };
        return true;
    }
    false
}

#[cfg(all(
    target_arch = "x86_64",
    any(all(target_feature = "avx2", target_feature = "fma"), feature = "std")
))]
#[target_feature(enable = "avx2,fma")]
fn dots8_avx2<const O: usize, const I: usize>(
    w: &[[f32; O]; I],
    dz: &[[f32; O]; 8],
    dx: &mut [[f32; I]; 8],
) {
    use core::arch::x86_64::*;
    // Eight f32 from an array: SAFETY for every use below: `p` comes from
    // `as_chunks::<8>()`, a `&[f32; 8]`, valid for the 32-byte unaligned
    // read `_mm256_loadu_ps` makes.
    let load = |p: &[f32; 8]| unsafe { _mm256_loadu_ps(p.as_ptr()) };
    for (i, col) in w.iter().enumerate() {
        let (wc, _) = col.as_chunks::<8>();
        let mut acc = [_mm256_setzero_ps(); 8];
        for (j, wv) in wc.iter().enumerate() {
            let wv = load(wv);
            for (a, d) in acc.iter_mut().zip(dz) {
                let (dc, _) = d.as_chunks::<8>();
                *a = _mm256_fmadd_ps(wv, load(&dc[j]), *a);
            }
        }
        // [s0 s1 s2 s3 | s0 s1 s2 s3] halves of the eight sums, then the
        // two 128-bit halves added: [s0 … s7].
        let t0 = _mm256_hadd_ps(acc[0], acc[1]);
        let t1 = _mm256_hadd_ps(acc[2], acc[3]);
        let t2 = _mm256_hadd_ps(acc[4], acc[5]);
        let t3 = _mm256_hadd_ps(acc[6], acc[7]);
        let u0 = _mm256_hadd_ps(t0, t1);
        let u1 = _mm256_hadd_ps(t2, t3);
        let lo = _mm256_permute2f128_ps::<0x20>(u0, u1);
        let hi = _mm256_permute2f128_ps::<0x31>(u0, u1);
        let mut out = [0.0f32; 8];
        // SAFETY: `out` is a `[f32; 8]`, valid for the 32-byte unaligned
        // write.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), _mm256_add_ps(lo, hi)) };
        for (x, &v) in dx.iter_mut().zip(&out) {
            x[i] = v;
        }
    }
}

/// [`Float::conv_taps8`](crate::Float::conv_taps8) for `f32` on AVX2 with
/// FMA: returns `false` (and does nothing) where the build lacks them
/// (and, in a `std` build for baseline x86-64, the CPU too) or targets
/// AVX-512 at compile time, `OW` is not a
/// multiple of 8, the windows do not fit the input (`OH + KH > H + 1` or
/// `OW + KW > W + 1`), or there are more than [`TAPS8_MAX`] taps.
///
/// Each tap's eight partial sums stay in one register across the sample's
/// output rows, and each tap's input window is one unaligned load. The
/// portable form of the same loop (each window an `[f32; 8]` slice of the
/// row) leaves LLVM to assemble the overlapping windows of one row from a
/// few loads with shuffles and blends, several per multiply-add, which
/// then outnumber the multiply-adds (W1's 3×3 convolution, see
/// BENCHMARKS.md).
#[allow(unused_variables)]
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn conv_taps8_f32<
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    x: &[[[f32; W]; H]; C],
    dz: &[[f32; OW]; OH],
    acc: &mut [[f32; 8]; K],
    db: &mut [f32; 8],
) -> bool {
    let fits = OW.is_multiple_of(8)
        && OH + KH <= H + 1
        && OW + KW <= W + 1
        && K == C * KH * KW
        && K <= TAPS8_MAX;
    // Not in a build for AVX-512 (`-C target-cpu=native` here): LLVM's
    // 512-bit code of the portable loop was as fast or faster there
    // (BENCHMARKS.md, session 12).
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma",
        not(target_feature = "avx512f")
    ))]
    if fits {
        // SAFETY: `conv_taps8_avx2` needs AVX2 and FMA, and this code is
        // only compiled when the whole build targets them
        // (`cfg(target_feature)` above), so every CPU this binary may run
        // on has them.
        unsafe { conv_taps8_avx2::<C, H, W, KH, KW, OH, OW, K>(x, dz, acc, db) };
        return true;
    }
    // A build for baseline x86-64 with `std` (`kernels::dispatch`): the
    // same kernel where the CPU running it has AVX2 and FMA.
    #[cfg(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    ))]
    if fits && super::dispatch::has_avx2_fma() {
        // SAFETY: `conv_taps8_avx2` needs AVX2 and FMA, and `has_avx2_fma`
        // just found both on this CPU.
        unsafe { conv_taps8_avx2::<C, H, W, KH, KW, OH, OW, K>(x, dz, acc, db) };
        return true;
    }
    false
}

/// The most taps [`conv_taps8_f32`] takes: one register of partial sums
/// each, beside the row of `dz`, the window and the bias sums, in AVX2's
/// 16 registers.
pub(crate) const TAPS8_MAX: usize = 12;

#[cfg(all(
    target_arch = "x86_64",
    any(all(target_feature = "avx2", target_feature = "fma"), feature = "std")
))]
#[target_feature(enable = "avx2,fma")]
fn conv_taps8_avx2<
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    x: &[[[f32; W]; H]; C],
    dz: &[[f32; OW]; OH],
    acc: &mut [[f32; 8]; K],
    db: &mut [f32; 8],
) {
    use core::arch::x86_64::*;
    // Eight f32 from an array: SAFETY for every use below: `p` is a
    // `&[f32; 8]`, valid for the 32-byte unaligned read `_mm256_loadu_ps`
    // makes.
    let load = |p: &[f32; 8]| unsafe { _mm256_loadu_ps(p.as_ptr()) };
    let mut a: [__m256; K] = core::array::from_fn(|k| load(&acc[k]));
    let mut b = load(db);
    for (i, dr) in dz.iter().enumerate() {
        let (dc, _) = dr.as_chunks::<8>();
        for (jc, d) in dc.iter().enumerate() {
            let d = load(d);
            b = _mm256_add_ps(b, d);
            let j0 = jc * 8;
            let mut k = 0;
            for xc in x {
                for xr in xc.iter().skip(i).take(KH) {
                    for kj in 0..KW {
                        // In range for every tap: `j0 + kj + 8 ≤ OW + KW − 1
                        // ≤ W` (checked by the caller), so the branch is
                        // never taken.
                        if let (Some(w), Some(av)) = (
                            xr.get(j0 + kj..).and_then(|r| r.first_chunk::<8>()),
                            a.get_mut(k),
                        ) {
                            *av = _mm256_fmadd_ps(d, load(w), *av);
                        }
                        k += 1;
                    }
                }
            }
        }
    }
    for (dst, v) in acc.iter_mut().zip(&a) {
        // SAFETY: `dst` is a `[f32; 8]`, valid for the 32-byte unaligned
        // write.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), *v) };
    }
    // SAFETY: as above.
    unsafe { _mm256_storeu_ps(db.as_mut_ptr(), b) };
}

/// `gw[i][r] += Σ_k dz[k][r] · x[k][i]` for eight samples `k`, `f32`, on
/// AVX2 with FMA: returns `false` (and does nothing) where the build lacks
/// them (and, in a `std` build for baseline x86-64, the CPU too) or targets
/// AVX-512 at compile time, or `O` is not a multiple of 8.
///
/// Each block of eight rows keeps its eight samples' `dz` in registers
/// while the columns stream past: per column one load and one store of
/// the block's gradient, eight broadcasts of `x[k][i]` and eight
/// multiply-adds, in the order of the portable loop (sample by sample,
/// fused), so the same bits. The portable loop, fully unrolled over the
/// samples and rows, left LLVM to vectorise it across the columns instead,
/// gathering and scattering the gradient one value at a time.
#[allow(unused_variables)]
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn outer8_f32<const O: usize, const I: usize>(
    gw: &mut [[f32; O]; I],
    xs: &[&[f32; I]; 8],
    dz: &[[f32; O]; 8],
) -> bool {
    // Not in a build for AVX-512, as in `conv_taps8_f32`.
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma",
        not(target_feature = "avx512f")
    ))]
    if O.is_multiple_of(8) {
        // SAFETY: `outer8_avx2` needs AVX2 and FMA, and this code is only
        // compiled when the whole build targets them
        // (`cfg(target_feature)` above), so every CPU this binary may run
        // on has them.
        unsafe { outer8_avx2(gw, xs, dz) };
        return true;
    }
    // A build for baseline x86-64 with `std` (`kernels::dispatch`): the
    // same kernel where the CPU running it has AVX2 and FMA.
    #[cfg(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    ))]
    if O.is_multiple_of(8) && super::dispatch::has_avx2_fma() {
        // SAFETY: `outer8_avx2` needs AVX2 and FMA, and `has_avx2_fma` just
        // found both on this CPU.
        unsafe { outer8_avx2(gw, xs, dz) };
        return true;
    }
    false
}

#[cfg(all(
    target_arch = "x86_64",
    any(all(target_feature = "avx2", target_feature = "fma"), feature = "std")
))]
#[target_feature(enable = "avx2,fma")]
fn outer8_avx2<const O: usize, const I: usize>(
    gw: &mut [[f32; O]; I],
    xs: &[&[f32; I]; 8],
    dz: &[[f32; O]; 8],
) {
    use core::arch::x86_64::*;
    // SAFETY for every use: `p` is a `&[f32; 8]`, valid for the 32-byte
    // unaligned read.
    let load = |p: &[f32; 8]| unsafe { _mm256_loadu_ps(p.as_ptr()) };
    for b in 0..O / 8 {
        let d: [__m256; 8] = core::array::from_fn(|k| {
            let (dc, _) = dz[k].as_chunks::<8>();
            dc.get(b).map_or(_mm256_setzero_ps(), load)
        });
        for (i, col) in gw.iter_mut().enumerate() {
            let (gc, _) = col.as_chunks_mut::<8>();
            if let Some(g) = gc.get_mut(b) {
                let mut acc = load(g);
                for (dk, x) in d.iter().zip(xs) {
                    acc = _mm256_fmadd_ps(*dk, _mm256_set1_ps(x[i]), acc);
                }
                // SAFETY: `g` is a `[f32; 8]`, valid for the 32-byte
                // unaligned write.
                unsafe { _mm256_storeu_ps(g.as_mut_ptr(), acc) };
            }
        }
    }
}
