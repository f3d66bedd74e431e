/*
 * The floating-point throughput one core of this machine reaches, for the
 * "% of peak" figures in BENCHMARKS.md (not run in CI).
 *
 *   cc -O3 -funroll-all-loops -mavx2 -mfma tools/peak.c -o /tmp/peak && /tmp/peak
 *
 * Two loops of twelve independent register chains, timed by thread CPU time:
 * - SSE: six chains of 4-lane multiplies and six of 4-lane adds, the only
 *   arithmetic a Rust build with default flags (x86-64 baseline: SSE2, no
 *   FMA) can use; 4 FLOP per instruction;
 * - AVX2 FMA: 8-lane fused multiply-adds, what `-C target-cpu=native` code
 *   uses (LLVM prefers 256-bit vectors on this CPU); 16 FLOP per instruction.
 * Each chain's next operation waits for its previous one, and twelve chains
 * are more than the latency times the issue width, so the loops measure
 * issue throughput, not latency.
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Keep the twelve chains in registers and the loop from being folded. */
#define KEEP(a)                                                               \
    __asm__ volatile("" : "+x"(a[0]), "+x"(a[1]), "+x"(a[2]), "+x"(a[3]),    \
                     "+x"(a[4]), "+x"(a[5]), "+x"(a[6]), "+x"(a[7]),          \
                     "+x"(a[8]), "+x"(a[9]), "+x"(a[10]), "+x"(a[11]))

int main(void) {
    const long n = 200000000;
    __m128 s[12], b4 = _mm_set1_ps(0.9999999f);
    for (int i = 0; i < 12; i++) s[i] = _mm_set1_ps(1.0f + i);
    double t0 = now();
    for (long k = 0; k < n; k++) {
        for (int i = 0; i < 6; i++) s[i] = _mm_mul_ps(s[i], b4);
        for (int i = 6; i < 12; i++) s[i] = _mm_add_ps(s[i], b4);
        KEEP(s);
    }
    double dt = now() - t0;
    printf("SSE (4-lane mul and add): %6.1f GFLOP/s, %.2f G instructions/s\n",
           n * 12.0 * 4 / dt / 1e9, n * 12.0 / dt / 1e9);

    __m256 f[12], b8 = _mm256_set1_ps(0.9999999f), c8 = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) f[i] = _mm256_set1_ps(1.0f + i);
    t0 = now();
    for (long k = 0; k < n; k++) {
        for (int i = 0; i < 12; i++) f[i] = _mm256_fmadd_ps(f[i], b8, c8);
        KEEP(f);
    }
    dt = now() - t0;
    printf("AVX2 FMA (8-lane):        %6.1f GFLOP/s, %.2f G instructions/s\n",
           n * 12.0 * 16 / dt / 1e9, n * 12.0 / dt / 1e9);

    float sum = 0, o[8];
    for (int i = 0; i < 12; i++) {
        _mm_storeu_ps(o, s[i]);
        sum += o[0];
        _mm256_storeu_ps(o, f[i]);
        sum += o[0];
    }
    return sum == 12345.0f; /* uses the results */
}
