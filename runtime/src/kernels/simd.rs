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
