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
/// them (and, in a `std` build for baseline x86-64, the CPU too), or `O` is
/// not a multiple of 8, or the build targets AVX-512 at compile time and
/// `O` is not a multiple of 16. Where the CPU has AVX-512F (the build
/// targets it, or the run-time check found it) and `O` is a multiple of 16,
/// it runs [`zmm::outer8`] (blocks of 32 rows, the same bits).
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
    if O.is_multiple_of(16) && avx2_fma_kernels(true) && zmm::dense_available() {
        // SAFETY: `zmm::outer8` needs AVX-512F, and `dense_available`
        // returned `true`: the build targets it, so every CPU this binary
        // may run on has it, or the run-time check found it on this CPU.
        unsafe { zmm::outer8(gw, xs, dz) };
        return true;
    }
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

/// The batched `Dense` forward `ys[k][r] = b[r] + Σ_i w[i][r] · xs[k][i]`
/// (every row; `w` column-major) in 512-bit registers ([`zmm::dense_rows`]),
/// its multiply-adds fused: returns `false` (and does nothing) where the
/// CPU lacks AVX-512F or AVX2 and FMA (or the build, without `std`, has no
/// run-time check), or `O` is not a multiple of 16. The caller calls it only
/// where its own multiply-adds are fused (`Isa::FUSED`), so that the result
/// is the bits of its portable loop.
#[allow(unused_variables)]
#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]
#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]
pub(crate) fn dense_rows_f32<const I: usize, const O: usize, const K: usize>(
    w: &[[f32; O]; I],
    b: &[f32; O],
    xs: &[&[f32; I]; K],
    ys: &mut [[f32; O]; K],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if O.is_multiple_of(16) && avx2_fma_kernels(true) && zmm::dense_available() {
        // SAFETY: `zmm::dense_rows` needs AVX-512F, and `dense_available`
        // returned `true`: the build targets it, so every CPU this binary
        // may run on has it, or the run-time check found it on this CPU.
        unsafe { zmm::dense_rows(w, b, xs, ys) };
        return true;
    }
    false
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

/// The recurrent cells' phases in 512-bit registers, `f32`: the gate
/// pre-activations (`blas::affine2_in`'s product), the logistic sigmoid and
/// `tanh` ([`sigmoid_f32`](crate::float::sigmoid_f32),
/// [`tanh_f32`](crate::float::tanh_f32)), and what `lstm.rs` and `gru.rs`
/// build from them.
///
/// Two reasons LLVM's code of the portable loops falls short on an
/// AVX-512 CPU. In a `-C target-cpu=native` build for Intel's AVX-512
/// cores, LLVM's tuning prefers 256-bit vectors, so every loop runs half
/// as wide as the core can. And `affine2_in`'s blocking (32 rows, two sets
/// of partial sums: 4 zmm accumulators per block) is latency-bound in
/// 512-bit registers: each block's columns form 4 dependent chains of
/// fused multiply-adds. Here every row block of a product (up to 128 rows)
/// streams past each column together, 16 accumulators in flight.
///
/// Each function computes the bits of the portable code of the same build
/// and instantiation: the same per-row order of sums (bias, then columns
/// dealt round-robin to two sets, then their sum), multiply-adds fused
/// exactly where [`Isa::FUSED`](crate::kernels::dispatch::Isa::FUSED) (the products) and
/// [`FMA_FUSED`](crate::float::FMA_FUSED) (the activations) say, and the
/// activations' operations in the scalar functions' order. The tests below
/// and `tests/dispatch.rs` compare the bits.
#[cfg(target_arch = "x86_64")]
pub(crate) mod zmm {
    use crate::float::{sigmoid_f32, tanh_f32, FMA_FUSED};
    use crate::kernels::dispatch::Isa;
    use crate::Float;
    use core::any::Any;
    use core::arch::x86_64::*;

    /// Whether instantiation `I` may run these kernels here: it is one that
    /// does ([`Isa::ZMM`]) and the CPU has AVX-512F: the build targets it
    /// (a constant), or [`crate::dispatch::avx512`]'s cached CPUID check
    /// (one atomic load) found it.
    #[inline(always)]
    pub(crate) fn available<I: Isa>() -> bool {
        I::ZMM && (cfg!(target_feature = "avx512f") || crate::dispatch::avx512())
    }

    /// `a` as a `B` where `A` is `B` (for `T = f32`; a constant once
    /// inlined).
    #[inline(always)]
    pub(crate) fn cast<A: Any, B: Any>(a: &A) -> Option<&B> {
        (a as &dyn Any).downcast_ref()
    }

    /// [`cast`] for a mutable reference.
    #[inline(always)]
    pub(crate) fn cast_mut<A: Any, B: Any>(a: &mut A) -> Option<&mut B> {
        (a as &mut dyn Any).downcast_mut()
    }

    /// Sixteen `f32`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn load(p: &[f32; 16]) -> __m512 {
        // SAFETY: `p` is a `&[f32; 16]`, valid for the 64-byte unaligned
        // read.
        unsafe { _mm512_loadu_ps(p.as_ptr()) }
    }

    /// Stores sixteen `f32`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn store(p: &mut [f32; 16], v: __m512) {
        // SAFETY: `p` is a `&mut [f32; 16]`, valid for the 64-byte
        // unaligned write.
        unsafe { _mm512_storeu_ps(p.as_mut_ptr(), v) }
    }

    /// `a · b + c`, fused where `FUSED`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn madd<const FUSED: bool>(a: __m512, b: __m512, c: __m512) -> __m512 {
        if FUSED {
            _mm512_fmadd_ps(a, b, c)
        } else {
            _mm512_add_ps(_mm512_mul_ps(a, b), c)
        }
    }

    /// `c − a · b` (`fma(−a, b, c)`), fused where `FUSED`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn nmadd<const FUSED: bool>(a: __m512, b: __m512, c: __m512) -> __m512 {
        if FUSED {
            _mm512_fnmadd_ps(a, b, c)
        } else {
            _mm512_sub_ps(c, _mm512_mul_ps(a, b))
        }
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn splat(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn bits(v: __m512) -> __m512i {
        _mm512_castps_si512(v)
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn float(v: __m512i) -> __m512 {
        _mm512_castsi512_ps(v)
    }

    /// `2^n` lane by lane (`float.rs`' `pow2i`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn pow2i(n: __m512i) -> __m512 {
        float(_mm512_slli_epi32::<23>(_mm512_add_epi32(
            n,
            _mm512_set1_epi32(127),
        )))
    }

    /// `float.rs`' `exp_parts`: `(e_r, n)` with `e^x = e_r · 2^n`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn exp_parts(x: __m512) -> (__m512, __m512i) {
        const MAGIC: f32 = 12_582_912.0;
        let t = madd::<FMA_FUSED>(x, splat(core::f32::consts::LOG2_E), splat(MAGIC));
        let n_f = _mm512_sub_ps(t, splat(MAGIC));
        let n = _mm512_sub_epi32(bits(t), _mm512_set1_epi32(MAGIC.to_bits() as i32));
        let r = nmadd::<FMA_FUSED>(n_f, splat(0.693_359_4), x);
        let r = nmadd::<FMA_FUSED>(n_f, splat(-2.121_944_4e-4), r);
        let mut p = splat(1.987_569_2e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            0.5,
        ] {
            p = madd::<FMA_FUSED>(p, r, splat(c));
        }
        let e_r = _mm512_add_ps(madd::<FMA_FUSED>(p, _mm512_mul_ps(r, r), r), splat(1.0));
        (e_r, n)
    }

    /// [`sigmoid_f32`] lane by lane, the same bits.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn sigmoid(x: __m512) -> __m512 {
        // −|x|, clamped below at −104 (`floor_at`: `max` keeps NaN, its
        // second operand).
        let neg = float(_mm512_or_si512(bits(x), _mm512_set1_epi32(i32::MIN)));
        let (e_r, n) = exp_parts(_mm512_max_ps(splat(-104.0), neg));
        let n1 = _mm512_srai_epi32::<1>(n);
        let e = _mm512_mul_ps(
            _mm512_mul_ps(e_r, pow2i(n1)),
            pow2i(_mm512_sub_epi32(n, n1)),
        );
        let num = _mm512_mask_blend_ps(_mm512_cmplt_ps_mask(x, splat(0.0)), splat(1.0), e);
        _mm512_div_ps(num, _mm512_add_ps(splat(1.0), e))
    }

    /// [`tanh_f32`] lane by lane, the same bits.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn tanh(x: __m512) -> __m512 {
        let sign = _mm512_set1_epi32(i32::MIN);
        let a = float(_mm512_andnot_si512(sign, bits(x)));
        let z = _mm512_mul_ps(x, x);
        let mut p = splat(-5.704_988_7e-3);
        for c in [2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1] {
            p = madd::<FMA_FUSED>(p, z, splat(c));
        }
        let small = madd::<FMA_FUSED>(_mm512_mul_ps(p, z), x, x);
        // `ceil_at(a + a, 40)`: `min` keeps NaN, its second operand.
        let (e_r, n) = exp_parts(_mm512_min_ps(splat(40.0), _mm512_add_ps(a, a)));
        let large = _mm512_sub_ps(
            splat(1.0),
            _mm512_div_ps(splat(2.0), madd::<FMA_FUSED>(e_r, pow2i(n), splat(1.0))),
        );
        let t = _mm512_mask_blend_ps(_mm512_cmplt_ps_mask(a, splat(0.625)), large, small);
        float(_mm512_or_si512(bits(t), _mm512_and_si512(bits(x), sign)))
    }

    /// `v[k] = sigmoid(v[k])`: 16 at a time, the rest by [`sigmoid_f32`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn sigmoid_all(v: &mut [f32]) {
        let (vs, rest) = v.as_chunks_mut::<16>();
        for c in vs {
            store(c, sigmoid(load(c)));
        }
        for x in rest {
            *x = sigmoid_f32(*x);
        }
    }

    /// `v[k] = tanh(v[k])`: 16 at a time, the rest by [`tanh_f32`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) fn tanh_all(v: &mut [f32]) {
        let (vs, rest) = v.as_chunks_mut::<16>();
        for c in vs {
            store(c, tanh(load(c)));
        }
        for x in rest {
            *x = tanh_f32(*x);
        }
    }

    /// `blas::affine2_in`'s `y = Σ b + W1 x1 + W2 x2` for an instantiation
    /// `I` with the AVX blocking (every x86 one that [`available`] admits),
    /// the same bits, where `T` is `f32`, `R` a multiple of that blocking's
    /// 32 rows and `I` [`available`]: returns `false` (and does nothing)
    /// otherwise, and the caller runs the portable product.
    #[inline(always)]
    pub(crate) fn affine2<
        I: Isa,
        T: Float,
        const NB: usize,
        const R: usize,
        const C1: usize,
        const C2: usize,
    >(
        y: &mut [T; R],
        b: [&[T; R]; NB],
        w1: &[[T; R]; C1],
        x1: &[T; C1],
        w2: &[[T; R]; C2],
        x2: &[T; C2],
    ) -> bool {
        if !(R.is_multiple_of(32) && I::AVX && available::<I>()) {
            return false;
        }
        let (Some(y), Some(w1), Some(x1), Some(w2), Some(x2)) = (
            cast_mut::<_, [f32; R]>(y),
            cast::<_, [[f32; R]; C1]>(w1),
            cast::<_, [f32; C1]>(x1),
            cast::<_, [[f32; R]; C2]>(w2),
            cast::<_, [f32; C2]>(x2),
        ) else {
            return false;
        };
        let zero = [0.0; R];
        let mut bf = [&zero; NB];
        for (d, s) in bf.iter_mut().zip(b) {
            let Some(s) = cast::<_, [f32; R]>(s) else {
                return false;
            };
            *d = s;
        }
        // SAFETY: `affine2_avx512` needs AVX-512F, and `available` returned
        // `true`: the build targets it, so every CPU this binary may run on
        // has it, or the run-time check found it on this CPU.
        unsafe {
            if I::FUSED {
                affine2_avx512::<true, NB, R, C1, C2>(y, bf, w1, x1, w2, x2)
            } else {
                affine2_avx512::<false, NB, R, C1, C2>(y, bf, w1, x1, w2, x2)
            }
        };
        true
    }

    #[target_feature(enable = "avx512f")]
    fn affine2_avx512<
        const FUSED: bool,
        const NB: usize,
        const R: usize,
        const C1: usize,
        const C2: usize,
    >(
        y: &mut [f32; R],
        b: [&[f32; R]; NB],
        w1: &[[f32; R]; C1],
        x1: &[f32; C1],
        w2: &[[f32; R]; C2],
        x2: &[f32; C2],
    ) {
        // Row groups of 8 vectors (128 rows, 16 accumulators), then what
        // is left: R is a multiple of 32, so 2, 4 or 6 vectors.
        let mut v0 = 0;
        while v0 + 8 <= R / 16 {
            sweep::<FUSED, 8, NB, R, C1, C2>(y, b, v0, w1, x1, w2, x2);
            v0 += 8;
        }
        match R / 16 - v0 {
            6 => sweep::<FUSED, 6, NB, R, C1, C2>(y, b, v0, w1, x1, w2, x2),
            4 => sweep::<FUSED, 4, NB, R, C1, C2>(y, b, v0, w1, x1, w2, x2),
            2 => sweep::<FUSED, 2, NB, R, C1, C2>(y, b, v0, w1, x1, w2, x2),
            _ => {}
        }
    }

    /// The vectors `v0..` of 16 rows of a column.
    #[inline(always)]
    fn rows<const R: usize>(col: &[f32; R], v0: usize) -> impl Iterator<Item = &[f32; 16]> {
        col.as_chunks::<16>().0.iter().skip(v0)
    }

    /// Rows `16·v0 .. 16·(v0 + NV)` of the product, every column of both
    /// matrices streaming past the `2 · NV` accumulators once.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn sweep<
        const FUSED: bool,
        const NV: usize,
        const NB: usize,
        const R: usize,
        const C1: usize,
        const C2: usize,
    >(
        y: &mut [f32; R],
        b: [&[f32; R]; NB],
        v0: usize,
        w1: &[[f32; R]; C1],
        x1: &[f32; C1],
        w2: &[[f32; R]; C2],
        x2: &[f32; C2],
    ) {
        let mut acc = [[_mm512_setzero_ps(); NV]; 2];
        for bias in b {
            for (a, v) in acc[0].iter_mut().zip(rows(bias, v0)) {
                *a = _mm512_add_ps(*a, load(v));
            }
        }
        columns::<FUSED, NV, R, C1>(&mut acc, v0, w1, x1);
        columns::<FUSED, NV, R, C2>(&mut acc, v0, w2, x2);
        let [a0, a1] = acc;
        let ys = y.as_chunks_mut::<16>().0.iter_mut().skip(v0);
        for ((o, a), b) in ys.zip(a0).zip(a1) {
            store(o, _mm512_add_ps(a, b));
        }
    }

    /// `blas::columns` with two sets of sums: column `2j` into set 0,
    /// `2j + 1` into set 1, an odd last column into set 0.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn columns<const FUSED: bool, const NV: usize, const R: usize, const C: usize>(
        acc: &mut [[__m512; NV]; 2],
        v0: usize,
        w: &[[f32; R]; C],
        x: &[f32; C],
    ) {
        let (wp, wr) = w.as_chunks::<2>();
        let (xp, xr) = x.as_chunks::<2>();
        let [a0, a1] = acc;
        for ([wa, wb], [xa, xb]) in wp.iter().zip(xp) {
            let (xa, xb) = (splat(*xa), splat(*xb));
            for (((a, va), b), vb) in a0
                .iter_mut()
                .zip(rows(wa, v0))
                .zip(a1.iter_mut())
                .zip(rows(wb, v0))
            {
                *a = madd::<FUSED>(load(va), xa, *a);
                *b = madd::<FUSED>(load(vb), xb, *b);
            }
        }
        for (col, &xv) in wr.iter().zip(xr) {
            let xv = splat(xv);
            for (a, v) in a0.iter_mut().zip(rows(col, v0)) {
                *a = madd::<FUSED>(load(v), xv, *a);
            }
        }
    }

    /// Whether the batched `Dense` kernels below may run: the build
    /// targets AVX-512F (a constant), or a default build's run-time check
    /// ([`crate::dispatch::avx512`], one cached atomic load, which
    /// `set_avx512(false)` and `STATICNET_NO_AVX512` switch off) found it.
    /// Unlike [`available`] it takes no instruction-set marker: both
    /// kernels fuse their multiply-adds, as [`super::outer8_f32`]'s AVX2
    /// kernel does wherever it runs, and [`super::dense_rows_f32`]'s caller
    /// asks only from a fused instantiation (`Isa::FUSED`).
    #[inline(always)]
    pub(crate) fn dense_available() -> bool {
        cfg!(target_feature = "avx512f") || crate::dispatch::avx512()
    }

    /// [`super::outer8_f32`]'s `gw[i][r] += Σ_k dz[k][r] · x[k][i]` for
    /// `O` a multiple of 16, in 512-bit registers: rows in blocks of 32
    /// (each sample's two vectors of `dz`, 16 of the 32 registers, beside
    /// two accumulators and the broadcast), then one block of 16 where
    /// `O mod 32 = 16`. Per column of a block, eight broadcasts of `x[k][i]`
    /// feed sixteen fused multiply-adds (AVX2's 16 registers hold one
    /// block of 8 rows: one broadcast, a load, per multiply-add, which
    /// bounded W1's weight gradient by the load ports). Each value gets
    /// the multiply-adds of the portable loop in its order (sample by
    /// sample, fused): the same bits.
    #[target_feature(enable = "avx512f")]
    pub(crate) fn outer8<const O: usize, const I: usize>(
        gw: &mut [[f32; O]; I],
        xs: &[&[f32; I]; 8],
        dz: &[[f32; O]; 8],
    ) {
        let mut v0 = 0;
        while v0 + 2 <= O / 16 {
            outer8_block::<2, O, I>(gw, xs, dz, v0);
            v0 += 2;
        }
        if v0 < O / 16 {
            outer8_block::<1, O, I>(gw, xs, dz, v0);
        }
    }

    /// Vectors `v0 .. v0 + NV` (of 16 rows each) of [`outer8`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn outer8_block<const NV: usize, const O: usize, const I: usize>(
        gw: &mut [[f32; O]; I],
        xs: &[&[f32; I]; 8],
        dz: &[[f32; O]; 8],
        v0: usize,
    ) {
        let mut d = [[_mm512_setzero_ps(); NV]; 8];
        for (dk, z) in d.iter_mut().zip(dz) {
            for (dv, c) in dk.iter_mut().zip(z.as_chunks::<16>().0.iter().skip(v0)) {
                *dv = load(c);
            }
        }
        for (i, col) in gw.iter_mut().enumerate() {
            let mut acc = [_mm512_setzero_ps(); NV];
            for (a, g) in acc.iter_mut().zip(col.as_chunks::<16>().0.iter().skip(v0)) {
                *a = load(g);
            }
            for (dk, x) in d.iter().zip(xs) {
                let xv = splat(x.get(i).copied().unwrap_or(0.0));
                for (a, dv) in acc.iter_mut().zip(dk) {
                    *a = _mm512_fmadd_ps(*dv, xv, *a);
                }
            }
            for (g, a) in col.as_chunks_mut::<16>().0.iter_mut().skip(v0).zip(&acc) {
                store(g, *a);
            }
        }
    }

    /// [`super::dense_rows_f32`]'s batched `Dense` forward
    /// `ys[k][r] = b[r] + Σ_i w[i][r] · xs[k][i]` for `O` a multiple of
    /// 16, in 512-bit registers: eight samples at a time (what is left of
    /// `K` one by one), rows in blocks of 32 (two accumulators per sample,
    /// 16 of the 32 registers), then one of 16; per column of a block two
    /// loads of `W` and eight broadcasts feed sixteen fused multiply-adds.
    /// Each sum gets the portable loop's multiply-adds in its order (the
    /// bias, then the inputs in order, fused): the same bits.
    #[target_feature(enable = "avx512f")]
    pub(crate) fn dense_rows<const I: usize, const O: usize, const K: usize>(
        w: &[[f32; O]; I],
        b: &[f32; O],
        xs: &[&[f32; I]; K],
        ys: &mut [[f32; O]; K],
    ) {
        let (eights, rest) = xs.as_chunks::<8>();
        let (y_eights, y_rest) = ys.as_chunks_mut::<8>();
        for (x8, y8) in eights.iter().zip(y_eights) {
            dense_group::<8, I, O>(w, b, x8, y8);
        }
        for (x, y) in rest.iter().zip(y_rest) {
            dense_group::<1, I, O>(w, b, core::array::from_ref(x), core::array::from_mut(y));
        }
    }

    /// [`dense_rows`] for the `NS` samples `xs`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn dense_group<const NS: usize, const I: usize, const O: usize>(
        w: &[[f32; O]; I],
        b: &[f32; O],
        xs: &[&[f32; I]; NS],
        ys: &mut [[f32; O]; NS],
    ) {
        let mut v0 = 0;
        while v0 + 2 <= O / 16 {
            dense_block::<NS, 2, I, O>(w, b, xs, ys, v0);
            v0 += 2;
        }
        if v0 < O / 16 {
            dense_block::<NS, 1, I, O>(w, b, xs, ys, v0);
        }
    }

    /// Vectors `v0 .. v0 + NV` (of 16 rows each) of [`dense_group`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn dense_block<const NS: usize, const NV: usize, const I: usize, const O: usize>(
        w: &[[f32; O]; I],
        b: &[f32; O],
        xs: &[&[f32; I]; NS],
        ys: &mut [[f32; O]; NS],
        v0: usize,
    ) {
        let mut bias = [_mm512_setzero_ps(); NV];
        for (a, c) in bias.iter_mut().zip(b.as_chunks::<16>().0.iter().skip(v0)) {
            *a = load(c);
        }
        let mut acc = [bias; NS];
        for (i, col) in w.iter().enumerate() {
            let mut wv = [_mm512_setzero_ps(); NV];
            for (v, c) in wv.iter_mut().zip(col.as_chunks::<16>().0.iter().skip(v0)) {
                *v = load(c);
            }
            for (a, x) in acc.iter_mut().zip(xs) {
                let xv = splat(x.get(i).copied().unwrap_or(0.0));
                for (s, wc) in a.iter_mut().zip(&wv) {
                    *s = _mm512_fmadd_ps(*wc, xv, *s);
                }
            }
        }
        for (a, y) in acc.iter().zip(ys) {
            for (v, c) in a.iter().zip(y.as_chunks_mut::<16>().0.iter_mut().skip(v0)) {
                store(c, *v);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::kernels::blas::affine2_in;
        use crate::kernels::dispatch::{Avx2, Avx512, Base};

        /// Whether this CPU (or build) lets the tests run the kernels;
        /// where not they say so and pass: nothing here could be compared.
        fn here() -> bool {
            let ok = cfg!(target_feature = "avx512f") || std::is_x86_feature_detected!("avx512f");
            if !ok {
                eprintln!("no AVX-512F on this CPU: the 512-bit kernels were not run");
            }
            ok
        }

        /// Arguments that reach every branch of the scalar functions:
        /// both signs, zeros, both sides of tanh's 0.625 and of the
        /// clamps (±40, ±104), the subnormal range, ±inf, NaN, and a dense
        /// sweep of ordinary values.
        fn arguments() -> std::vec::Vec<f32> {
            let mut v = std::vec![
                0.0,
                -0.0,
                0.625,
                -0.625,
                0.624_999_94,
                20.0,
                -20.0,
                40.0,
                87.0,
                -87.5,
                88.8,
                -103.9,
                -104.0,
                -104.1,
                150.0,
                -150.0,
                1e-30,
                -1e-30,
                1e-40,
                f32::MIN_POSITIVE,
                f32::MAX,
                f32::MIN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                -f32::NAN,
            ];
            let mut x = -110.0f32;
            while x < 110.0 {
                v.push(x);
                x += 0.013_7;
            }
            while v.len() % 16 != 3 {
                v.push(0.5);
            }
            v
        }

        #[test]
        fn sigmoid_and_tanh_compute_the_scalar_bits() {
            if !here() {
                return;
            }
            let xs = arguments();
            let (mut s, mut t) = (xs.clone(), xs.clone());
            // SAFETY: `here` found AVX-512F on this CPU.
            unsafe {
                sigmoid_all(&mut s);
                tanh_all(&mut t);
            }
            for ((x, s), t) in xs.iter().zip(&s).zip(&t) {
                assert_eq!(s.to_bits(), sigmoid_f32(*x).to_bits(), "sigmoid({x:e})");
                assert_eq!(t.to_bits(), tanh_f32(*x).to_bits(), "tanh({x:e})");
            }
        }

        fn product<I: Isa, const R: usize>(zmm: bool) -> [f32; R] {
            let mut rng = crate::Rng::new(R as u64);
            let mut u = || rng.uniform() as f32 * 2.0 - 1.0;
            let b: [[f32; R]; 2] = core::array::from_fn(|_| core::array::from_fn(|_| u()));
            let w1: [[f32; R]; 7] = core::array::from_fn(|_| core::array::from_fn(|_| u()));
            let x1: [f32; 7] = core::array::from_fn(|_| u());
            let w2: [[f32; R]; 32] = core::array::from_fn(|_| core::array::from_fn(|_| u()));
            let x2: [f32; 32] = core::array::from_fn(|_| u());
            let mut y = [0.0; R];
            if zmm {
                assert!(affine2::<I, f32, 2, R, 7, 32>(
                    &mut y,
                    [&b[0], &b[1]],
                    &w1,
                    &x1,
                    &w2,
                    &x2
                ));
            } else {
                affine2_in::<I, f32, 2, R, 7, 32>(&mut y, [&b[0], &b[1]], &w1, &x1, &w2, &x2);
            }
            y
        }

        fn same_bits<I: Isa, const R: usize>() {
            let (got, want) = (product::<I, R>(true), product::<I, R>(false));
            assert!(want.iter().any(|v| *v != 0.0));
            for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "row {r} of {R}: {g} vs {w}");
            }
        }

        /// Row counts of one to three sweeps, each size of the last one
        /// (2, 4, 6 and 8 vectors), an odd number of input columns (the
        /// remainder column), for the default build's AVX-512
        /// instantiation and, in a build for AVX-512, the baseline one.
        #[test]
        fn the_product_computes_the_portable_bits() {
            if !here() {
                return;
            }
            // `available` for the `Avx512` marker asks the run-time check,
            // which a build that does not dispatch answers `false`.
            if available::<Avx512>() {
                same_bits::<Avx512, 32>();
                same_bits::<Avx512, 64>();
                same_bits::<Avx512, 96>();
                same_bits::<Avx512, 128>();
                same_bits::<Avx512, 224>();
                same_bits::<Avx512, 384>();
            }
            if available::<Base>() {
                same_bits::<Base, 96>();
                same_bits::<Base, 128>();
                same_bits::<Base, 224>();
            }
            assert!(
                !available::<Avx2>(),
                "the AVX2 instantiation keeps its own kernels"
            );
            // Rows that are not a multiple of the blocking: not taken.
            let (mut y, b) = ([0.0f32; 48], [0.0f32; 48]);
            let w = [[0.0f32; 48]; 2];
            assert!(!affine2::<Avx512, f32, 1, 48, 2, 2>(
                &mut y,
                [&b],
                &w,
                &[0.0; 2],
                &w,
                &[0.0; 2]
            ));
            // `f64`: not taken.
            let (mut y, b) = ([0.0f64; 32], [0.0f64; 32]);
            let w = [[0.0f64; 32]; 2];
            assert!(!affine2::<Avx512, f64, 1, 32, 2, 2>(
                &mut y,
                [&b],
                &w,
                &[0.0; 2],
                &w,
                &[0.0; 2]
            ));
        }
    }
}
