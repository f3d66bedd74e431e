/*
 * The floating-point throughput one core of this machine reaches, for the
 * "% of peak" figures in BENCHMARKS.md (not run in CI).
 *
 *   cc -O3 -mavx2 -mfma -mavx512f -mavx512vl tools/peak.c -o /tmp/peak.bin && /tmp/peak.bin
 *
 * (-mavx512vl only gives the compiler 32 vector registers, so that 24
 * independent chains fit; the instructions timed are SSE and AVX2 ones.
 * A CPU without AVX-512 cannot run this build.)
 *
 * Each loop runs 24 independent register chains, timed by thread CPU
 * time; one chain's next instruction waits for its previous one, and 24
 * chains are more than latency × issue width, so the loops measure issue
 * throughput:
 * - SSE multiplies only, adds only, and half and half: the only arithmetic
 *   a Rust build with default flags (x86-64 baseline: SSE2, no FMA) can
 *   use; 4 FLOP per instruction. A multiply-add is one of each, so the
 *   mixed loop is the ceiling for dense arithmetic in such a build;
 * - AVX2 FMAs: what `-C target-cpu=native` code uses (LLVM prefers 256-bit
 *   vectors on this CPU); 16 FLOP per instruction.
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define ITERS 100000000L
#define CHAINS 24

/* The 24 chains are 24 named variables, so that they live in registers. */
#define EACH(F) F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) \
    F(12) F(13) F(14) F(15) F(16) F(17) F(18) F(19) F(20) F(21) F(22) F(23)
/* Keeps every chain in a register and the loop from being folded. */
#define KEEP()                                                                  \
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4),     \
                     "+v"(a5), "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9),          \
                     "+v"(a10), "+v"(a11));                                     \
    __asm__ volatile("" : "+v"(a12), "+v"(a13), "+v"(a14), "+v"(a15),           \
                     "+v"(a16), "+v"(a17), "+v"(a18), "+v"(a19), "+v"(a20),     \
                     "+v"(a21), "+v"(a22), "+v"(a23))

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void report(const char *what, double dt, double flop_per_instr) {
    double instr = (double)ITERS * CHAINS / dt;
    printf("%-34s %6.1f GFLOP/s  (%.2f G instructions/s)\n", what,
           instr * flop_per_instr / 1e9, instr / 1e9);
}

/* One loop: every chain applies OP(i) to itself each iteration. */
#define LOOP(TYPE, SET, OPS, WHAT, FLOP)                                        \
    do {                                                                        \
        EACH(DECLARE_##TYPE)                                                    \
        double t0 = now();                                                      \
        for (long k = 0; k < ITERS; k++) {                                      \
            EACH(OPS)                                                           \
            KEEP();                                                             \
        }                                                                       \
        report(WHAT, now() - t0, FLOP);                                         \
        sink += SET(a0) + SET(a23);                                             \
    } while (0)

#define DECLARE_ps(i) __m128 a##i = _mm_set1_ps(1.0f + i);
#define DECLARE_ps256(i) __m256 a##i = _mm256_set1_ps(1.0f + i);
#define FIRST(v) _mm_cvtss_f32(v)
#define FIRST256(v) _mm256_cvtss_f32(v)
#define MUL(i) a##i = _mm_mul_ps(a##i, b);
#define ADD(i) a##i = _mm_add_ps(a##i, b);
/* Even chains multiply, odd chains add. */
#define MIXED(i) a##i = (i % 2 == 0) ? _mm_mul_ps(a##i, b) : _mm_add_ps(a##i, b);
#define FMA(i) a##i = _mm256_fmadd_ps(a##i, b8, c8);

int main(void) {
    volatile float sink = 0;
    const __m128 b = _mm_set1_ps(0.9999999f);
    const __m256 b8 = _mm256_set1_ps(0.9999999f), c8 = _mm256_set1_ps(1e-7f);
    LOOP(ps, FIRST, MUL, "SSE multiplies (4 lanes)", 4);
    LOOP(ps, FIRST, ADD, "SSE adds (4 lanes)", 4);
    LOOP(ps, FIRST, MIXED, "SSE multiplies and adds, 1:1", 4);
    LOOP(ps256, FIRST256, FMA, "AVX2 FMA (8 lanes)", 16);
    return 0;
}
