//! Hand-vectorised kernels for where LLVM's auto-vectorisation of the
//! portable code falls short, each gated on the target features it needs
//! at compile time and each with a portable fallback (the caller's own
//! loop) for every other target.

/// Whether the AVX2+FMA kernels below may run here: the build targets
/// AVX2 and FMA (and, unless `in_avx512_builds`, not AVX-512F), or a `std`
/// build for baseline x86-64 runs on a CPU that has them and run-time
/// dispatch is on ([`super::dispatch::has_avx2_fma`], which
/// `dispatch::set_enabled(false)` and `STATICNET_NO_DISPATCH` switch off).
/// A constant wherever the build decides (every target but the dispatching
/// `std` x86-64 build), so the other branch is not compiled in.
///
/// `in_avx512_builds` is `false` for the kernels that did not pay in a
/// build for AVX-512 (`-C target-cpu=native` on an AVX-512 CPU), where
/// LLVM's 512-bit code of the portable loop was as fast or faster
/// (`conv_taps8`, `outer8`: BENCHMARKS.md, session 12, Intel).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx2_fma_kernels(in_avx512_builds: bool) -> bool {
    if cfg!(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )) {
        in_avx512_builds || !cfg!(target_feature = "avx512f")
    } else {
        super::dispatch::has_avx2_fma()
    }
}

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
    #[cfg(target_arch = "x86_64")]
    if O.is_multiple_of(8) && avx2_fma_kernels(true) {
        // SAFETY: `dots8_avx2` needs AVX2 and FMA, and
        // `avx2_fma_kernels` returned `true`: the build targets both, so
        // every CPU this binary may run on has them, or the run-time check
        // found both on this CPU.
        unsafe { dots8_avx2(w, dz, dx) };
        return true;
    }
    false
}

#[cfg(target_arch = "x86_64")]
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
    #[cfg(target_arch = "x86_64")]
    if fits && avx2_fma_kernels(false) {
        // SAFETY: `conv_taps8_avx2` needs AVX2 and FMA, and
        // `avx2_fma_kernels` returned `true`: the build targets both, so
        // every CPU this binary may run on has them, or the run-time check
        // found both on this CPU.
        unsafe { conv_taps8_avx2::<C, H, W, KH, KW, OH, OW, K>(x, dz, acc, db) };
        return true;
    }
    false
}

/// The most taps [`conv_taps8_f32`] takes: one register of partial sums
/// each, beside the row of `dz`, the window and the bias sums, in AVX2's
/// 16 registers.
pub(crate) const TAPS8_MAX: usize = 12;

#[cfg(target_arch = "x86_64")]
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
    #[cfg(target_arch = "x86_64")]
    if O.is_multiple_of(8) && avx2_fma_kernels(false) {
        // SAFETY: `outer8_avx2` needs AVX2 and FMA, and
        // `avx2_fma_kernels` returned `true`: the build targets both, so
        // every CPU this binary may run on has them, or the run-time check
        // found both on this CPU.
        unsafe { outer8_avx2(gw, xs, dz) };
        return true;
    }
    false
}

#[cfg(target_arch = "x86_64")]
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

/// [`Float::max_pool2_backward`](crate::Float::max_pool2_backward) for
/// `f32` on AVX2: returns `false` (and does nothing) where the build lacks
/// AVX2 and FMA (and, in a `std` build for baseline x86-64, the CPU too)
/// or the shape does not qualify (`W ≠ 2·OW`, `OW` not a multiple of 4,
/// `H < 2·OH`). Builds for AVX-512 run it too: there LLVM's code for the
/// portable loop was worse than on AVX2, on Zen 4 vectorised across the
/// channels with gathers (BENCHMARKS.md, session 14).
///
/// Eight input columns (four windows) per register: each window's maximum
/// and gradient repeated over its two columns, the two rows compared with
/// them, and the first hit in scan order found with one in-lane swap of
/// neighbouring columns per row. The portable loop walks each window
/// column with a stride of two, which LLVM reads and writes with shuffles
/// (12% of W1's layer-major step in the AVX2 copy, BENCHMARKS.md).
#[allow(unused_variables)]
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn max_pool2_backward_f32<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[[f32; W]; H]; C],
    y: &[[[f32; OW]; OH]; C],
    dy: &[[[f32; OW]; OH]; C],
    dx: &mut [[[f32; W]; H]; C],
) -> bool {
    let fits = W == 2 * OW && OW.is_multiple_of(4) && 2 * OH <= H;
    #[cfg(target_arch = "x86_64")]
    if fits && avx2_fma_kernels(true) {
        // SAFETY: `max_pool2_backward_avx2` needs AVX2 and FMA, and
        // `avx2_fma_kernels` returned `true`: the build targets both, so
        // every CPU this binary may run on has them, or the run-time check
        // found both on this CPU.
        unsafe { max_pool2_backward_avx2(x, y, dy, dx) };
        return true;
    }
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn max_pool2_backward_avx2<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[[f32; W]; H]; C],
    y: &[[[f32; OW]; OH]; C],
    dy: &[[[f32; OW]; OH]; C],
    dx: &mut [[[f32; W]; H]; C],
) {
    use core::arch::x86_64::*;
    // SAFETY for every use: `p` is a `&[f32; 8]` (or `&[f32; 4]`), valid
    // for the 32-byte (16-byte) unaligned read.
    let load8 = |p: &[f32; 8]| unsafe { _mm256_loadu_ps(p.as_ptr()) };
    let load4 = |p: &[f32; 4]| unsafe { _mm_loadu_ps(p.as_ptr()) };
    // Each of four values twice: [a a b b c c d d].
    let twice = |v: __m128| _mm256_set_m128(_mm_unpackhi_ps(v, v), _mm_unpacklo_ps(v, v));
    // `v == m` (ordered, as Rust's `==`) or both NaN, as a lane mask.
    let is_max = |v: __m256, m: __m256| {
        let eq = _mm256_cmp_ps::<_CMP_EQ_OQ>(v, m);
        let nan = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
            _mm256_cmp_ps::<_CMP_UNORD_Q>(m, m),
        );
        _mm256_or_ps(eq, nan)
    };
    // Each lane's neighbour in its window: lanes [1 0 3 2 5 4 7 6].
    let swap = |v: __m256| _mm256_permute_ps::<0b1011_0001>(v);
    // All ones in the right-hand (odd) column of every window.
    let right = _mm256_castsi256_ps(_mm256_setr_epi32(0, -1, 0, -1, 0, -1, 0, -1));
    for ((xc, dxc), (yc, dyc)) in x.iter().zip(dx.iter_mut()).zip(y.iter().zip(dy)) {
        let rows = xc.chunks_exact(2).zip(dxc.chunks_exact_mut(2));
        for ((xr, dxr), (m, d)) in rows.zip(yc.iter().zip(dyc)) {
            let (Some(([x0, x1], _)), Some(([dx0, dx1], _))) = (
                xr.split_first_chunk::<2>(),
                dxr.split_first_chunk_mut::<2>(),
            ) else {
                continue;
            };
            let (m4, _) = m.as_chunks::<4>();
            let (d4, _) = d.as_chunks::<4>();
            let (x0, _) = x0.as_chunks::<8>();
            let (x1, _) = x1.as_chunks::<8>();
            let (dx0, _) = dx0.as_chunks_mut::<8>();
            let (dx1, _) = dx1.as_chunks_mut::<8>();
            let cols = x0.iter().zip(x1).zip(dx0.iter_mut().zip(dx1.iter_mut()));
            for (((a, b), (da, db)), (m, d)) in cols.zip(m4.iter().zip(d4)) {
                let (mu, du) = (twice(load4(m)), twice(load4(d)));
                let e0 = is_max(load8(a), mu);
                let e1 = is_max(load8(b), mu);
                let s0 = swap(e0);
                // Top row: a hit unless the window's left column hit.
                let h0 = _mm256_andnot_ps(_mm256_and_ps(right, s0), e0);
                // Bottom row: a hit unless the top row or the left column
                // of this row hit.
                let before = _mm256_or_ps(_mm256_or_ps(e0, s0), _mm256_and_ps(right, swap(e1)));
                let h1 = _mm256_andnot_ps(before, e1);
                // SAFETY: `da` and `db` are `[f32; 8]`, valid for the
                // 32-byte unaligned writes.
                unsafe {
                    _mm256_storeu_ps(da.as_mut_ptr(), _mm256_and_ps(h0, du));
                    _mm256_storeu_ps(db.as_mut_ptr(), _mm256_and_ps(h1, du));
                }
            }
        }
    }
}

/// Max pooling with 2 × 2 windows and stride 2 (`W = 2·OW`, `OW` a
/// multiple of 4, `H ≥ 2·OH`) for `f32` on AVX2, as `max_pool2d_into`'s
/// portable loop computes it (PyTorch's NaN rule, the same comparisons in
/// the same order, so the same bits): returns `false` (and does nothing)
/// where the build lacks AVX2 and FMA (and, in a `std` build for baseline
/// x86-64, the CPU too) or the shape does not qualify. Builds for AVX-512
/// run it too: there the portable loop's channels were vectorised with
/// gathers on Zen 4 (70% of W1's native forward, BENCHMARKS.md, session
/// 14).
///
/// Per eight input columns: the two rows' maxima lane by lane, then one
/// permutation that puts each window's left column in the low half and its
/// right column in the high half, and their maxima: four outputs. The
/// portable loop's reduction over each window's two columns left LLVM a
/// shuffle per value (6% of W1's layer-major step in the AVX2 copy).
#[allow(unused_variables)]
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn max_pool2_f32<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[[f32; W]; H]; C],
    y: &mut [[[f32; OW]; OH]; C],
) -> bool {
    let fits = W == 2 * OW && OW.is_multiple_of(4) && 2 * OH <= H;
    #[cfg(target_arch = "x86_64")]
    if fits && avx2_fma_kernels(true) {
        // SAFETY: `max_pool2_avx2` needs AVX2 and FMA, and
        // `avx2_fma_kernels` returned `true`: the build targets both, so
        // every CPU this binary may run on has them, or the run-time check
        // found both on this CPU.
        unsafe { max_pool2_avx2(x, y) };
        return true;
    }
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn max_pool2_avx2<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[[f32; W]; H]; C],
    y: &mut [[[f32; OW]; OH]; C],
) {
    use core::arch::x86_64::*;
    // SAFETY for every use: `p` is a `&[f32; 8]`, valid for the 32-byte
    // unaligned read.
    let load8 = |p: &[f32; 8]| unsafe { _mm256_loadu_ps(p.as_ptr()) };
    // `if v > m || v is NaN { v } else { m }` lane by lane (pool.rs'
    // `max_nan`), in 8 and in 4 lanes.
    let max8 = |m: __m256, v: __m256| {
        let take = _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(v, m),
            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
        );
        _mm256_blendv_ps(m, v, take)
    };
    let max4 = |m: __m128, v: __m128| {
        let take = _mm_or_ps(
            _mm_cmp_ps::<_CMP_GT_OQ>(v, m),
            _mm_cmp_ps::<_CMP_UNORD_Q>(v, v),
        );
        _mm_blendv_ps(m, v, take)
    };
    // Even lanes to the low half, odd lanes to the high half.
    let split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (xc, yc) in x.iter().zip(y.iter_mut()) {
        for (rows, yr) in xc.chunks_exact(2).zip(yc.iter_mut()) {
            let Some(([x0, x1], _)) = rows.split_first_chunk::<2>() else {
                continue;
            };
            let (x0, _) = x0.as_chunks::<8>();
            let (x1, _) = x1.as_chunks::<8>();
            let (y4, _) = yr.as_chunks_mut::<4>();
            for ((a, b), o) in x0.iter().zip(x1).zip(y4.iter_mut()) {
                // The portable loop's order: row 0 then row 1 per column
                // (from −∞, which `max_nan` always replaces by the first
                // value), then the left column then the right per window.
                let rm = _mm256_permutevar8x32_ps(max8(load8(a), load8(b)), split);
                let m = max4(_mm256_castps256_ps128(rm), _mm256_extractf128_ps::<1>(rm));
                // SAFETY: `o` is a `[f32; 4]`, valid for the 16-byte
                // unaligned write.
                unsafe { _mm_storeu_ps(o.as_mut_ptr(), m) };
            }
        }
    }
}
