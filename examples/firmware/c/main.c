/*
 * Test program for the staticnet firmware library: a C program that knows
 * nothing of Rust. Run by examples/firmware/ci.sh:
 *
 *   main CNN.safetensors LSTM.safetensors
 *
 * It reads each PyTorch fixture's `input` and `output` tensors (F64) with a
 * small safetensors reader, and checks
 *   1. sn_cnn_predict and sn_lstm_predict against PyTorch within 1e-5;
 *   2. sn_lstm_step over the 32 steps equals sn_lstm_predict bit for bit,
 *      a rejected (NaN) step leaves the state alone, reset restarts;
 *   3. every status code, and that failed calls change nothing;
 *   4. a few sn_cnn_train_step calls on one sample lower its loss, a step
 *      whose loss overflows is refused with the weights unchanged, and
 *      sn_cnn_train_reset restores the compiled-in weights;
 *   5. the stack each entry point needs, measured by painting: the call runs
 *      on a stack region filled with a pattern, and the bytes no longer
 *      holding the pattern afterwards are those it used (minus the same
 *      figure for an empty call). Each must stay within the bound
 *      documented in BENCHMARKS.md. Hosted, the call runs in a thread whose
 *      stack is a buffer of ours; on a bare-metal Arm board (newlib, no
 *      threads; .ci/thumb.sh under QEMU) the free stack below the caller's
 *      stack pointer is painted and the call made directly.
 * Exit status 0 only if every check passes.
 *
 * The calls whose executed instructions .ci/thumb.sh counts (under QEMU,
 * tools/qemu-insn) sit between sn_count_begin() and sn_count_end(), each
 * announced by a "count N name" line; region 0 is empty (the markers' own
 * overhead). Elsewhere the markers do nothing.
 */
#if defined(__arm__) && !defined(__linux__)
#define SN_BARE_METAL 1
#else
/* pthread_attr_setstack is POSIX.1-2008. */
#define _POSIX_C_SOURCE 200809L
#endif

#include "staticnet_firmware.h"

#include <math.h> /* NAN, INFINITY only: no libm needed */
#ifndef SN_BARE_METAL
#include <pthread.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stack bounds in bytes (BENCHMARKS.md, "Firmware"): the figures this
 * program measured for the release build on x86-64 (19,944, 6,536, 1,304
 * and 20,632 bytes), rounded up to whole KiB with
 * 15-50% headroom for other compilers and targets. */
#ifndef SN_STACK_BOUND_CNN_PREDICT
#define SN_STACK_BOUND_CNN_PREDICT 24576
#endif
#ifndef SN_STACK_BOUND_LSTM_PREDICT
#define SN_STACK_BOUND_LSTM_PREDICT 8192
#endif
#ifndef SN_STACK_BOUND_LSTM_STEP
#define SN_STACK_BOUND_LSTM_STEP 2048
#endif
#ifndef SN_STACK_BOUND_CNN_TRAIN_STEP
#define SN_STACK_BOUND_CNN_TRAIN_STEP 24576
#endif

static int failures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                       \
            printf(__VA_ARGS__);                                              \
            printf("\n");                                                     \
        }                                                                     \
    } while (0)

/* ---- a minimal safetensors reader --------------------------------------
 * Format: u64 little-endian header length N, N bytes of JSON mapping each
 * tensor name to {"dtype":"F64","shape":[...],"data_offsets":[begin,end]},
 * then the raw little-endian data (offsets are relative to its start). */

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n))) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

/* Reads F64 tensor `name` of exactly `n` values into `out` (as double).
 * Returns 0 on success. */
static int tensor_f64(const char *path, const char *name, double *out, size_t n) {
    size_t len = 0;
    unsigned char *buf = read_file(path, &len);
    int rc = -1;
    if (!buf || len < 8) goto done;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > len - 8) goto done;
    char *header = malloc(hlen + 1);
    if (!header) goto done;
    memcpy(header, buf + 8, hlen);
    header[hlen] = '\0';
    char key[128];
    snprintf(key, sizeof key, "\"%s\":{", name);
    const char *e = strstr(header, key);
    const char *dt = e ? strstr(e, "\"dtype\":\"F64\"") : NULL;
    const char *off = e ? strstr(e, "\"data_offsets\":[") : NULL;
    const char *end = e ? strchr(e, '}') : NULL;
    unsigned long long b = 0, f = 0;
    if (e && dt && off && dt < end && off < end &&
        sscanf(off, "\"data_offsets\":[%llu,%llu]", &b, &f) == 2 &&
        f - b == n * 8 && 8 + hlen + f <= len) {
        const unsigned char *p = buf + 8 + hlen + b;
        for (size_t k = 0; k < n; k++) {
            uint64_t bits = 0;
            for (int i = 7; i >= 0; i--) bits = (bits << 8) | p[8 * k + i];
            memcpy(&out[k], &bits, 8);
        }
        rc = 0;
    }
    free(header);
done:
    free(buf);
    if (rc) printf("cannot read F64 tensor `%s` [%lu] from %s\n", name, (unsigned long)n, path);
    return rc;
}

/* ---- instruction-count markers ------------------------------------------ */

volatile int sn_count_mark;
static int count_regions;
__attribute__((noinline)) void sn_count_begin(void) { sn_count_mark = 1; }
__attribute__((noinline)) void sn_count_end(void) { sn_count_mark = 2; }
static void count_announce(const char *name) { printf("count %d %s\n", count_regions++, name); }

/* ---- stack painting ----------------------------------------------------- */

static float g_image[SN_CNN_INPUT_LEN], g_seq[SN_LSTM_INPUT_LEN];

static void job_none(void) {}
static void job_cnn_predict(void) {
    float y;
    sn_cnn_predict(g_image, &y);
}
static void job_lstm_predict(void) {
    float y;
    sn_lstm_predict(g_seq, &y);
}
static void job_lstm_step(void) {
    float y;
    sn_lstm_step(g_seq, &y);
}
static void job_cnn_train_step(void) {
    float loss;
    sn_cnn_train_step(g_image, 1.0f, 1e-4f, &loss);
}

#ifdef SN_BARE_METAL

/* The free stack below our stack pointer: painted, then `job` runs on it.
 * Nothing else runs meanwhile (no interrupts are enabled). */
#define PAINT_BYTES (64u * 1024u)
#define PATTERN 0xA5C3E1F0u

/* Bytes below the caller's stack pointer that `job` wrote to. */
static __attribute__((noinline)) size_t stack_touched(void (*job)(void)) {
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    volatile uint32_t *top = (volatile uint32_t *)(sp & ~(uintptr_t)7);
    volatile uint32_t *bottom = top - PAINT_BYTES / 4;
    for (volatile uint32_t *p = bottom; p < top; p++) *p = PATTERN;
    job();
    volatile uint32_t *p = bottom;
    while (p < top && *p == PATTERN) p++;
    /* +1 so that an empty call (which may touch nothing) still "ran". */
    return (size_t)((uintptr_t)top - (uintptr_t)p) + 1;
}

#else

#define PAINT_BYTES (1u << 20)
#define PATTERN 0xA5C3E1F00F1E3C5AULL
static uint64_t paint[PAINT_BYTES / 8] __attribute__((aligned(4096)));

static void *thunk(void *job) {
    ((void (*)(void))job)();
    return NULL;
}

/* Bytes of `paint` that a thread running `job` wrote to (it grows down from
 * the top), or 0 if the thread could not be started. */
static size_t stack_touched(void (*job)(void)) {
    for (size_t i = 0; i < PAINT_BYTES / 8; i++) paint[i] = PATTERN;
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) || pthread_attr_setstack(&attr, paint, PAINT_BYTES) ||
        pthread_create(&t, &attr, thunk, (void *)job) || pthread_join(t, NULL))
        return 0;
    pthread_attr_destroy(&attr);
    size_t i = 0;
    while (i < PAINT_BYTES / 8 && paint[i] == PATTERN) i++;
    return PAINT_BYTES - 8 * i;
}

#endif

static void stack_check(const char *name, void (*job)(void), size_t base, size_t bound) {
    size_t used = stack_touched(job);
    CHECK(used > base, "%s: thread did not run", name);
    size_t net = used > base ? used - base : 0;
    printf("stack %-22s %6lu bytes (bound %lu)\n", name, (unsigned long)net, (unsigned long)bound);
    CHECK(net <= bound, "%s needs %lu bytes of stack, more than the bound %lu", name,
          (unsigned long)net, (unsigned long)bound);
}

/* ---- the checks --------------------------------------------------------- */

static double dabs(double x) { return x < 0 ? -x : x; }

static void near(const char *what, double got, double want, double tol) {
    printf("%-34s got % .9f  PyTorch % .9f  |diff| %.2e\n", what, got, want, dabs(got - want));
    CHECK(dabs(got - want) <= tol, "%s: |%.9g - %.9g| > %g", what, got, want, tol);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s seed_cnn.safetensors forecaster.safetensors\n", argv[0]);
        return 2;
    }
    double in[SN_LSTM_INPUT_LEN], want_cnn, want_lstm;
    if (tensor_f64(argv[1], "input", in, SN_CNN_INPUT_LEN) ||
        tensor_f64(argv[1], "output", &want_cnn, 1))
        return 2;
    for (int i = 0; i < SN_CNN_INPUT_LEN; i++) g_image[i] = (float)in[i];
    if (tensor_f64(argv[2], "input", in, SN_LSTM_INPUT_LEN) ||
        tensor_f64(argv[2], "output", &want_lstm, 1))
        return 2;
    for (int i = 0; i < SN_LSTM_INPUT_LEN; i++) g_seq[i] = (float)in[i];
    float y = 0, y2 = 0, loss = 0;

    /* 1. Whole-input inference against PyTorch. */
    int st;
    count_announce("empty");
    sn_count_begin();
    sn_count_end();
    count_announce("sn_cnn_predict");
    sn_count_begin();
    st = sn_cnn_predict(g_image, &y);
    sn_count_end();
    CHECK(st == SN_OK, "sn_cnn_predict failed");
    near("sn_cnn_predict", y, want_cnn, 1e-5);
    float cnn_rom = y;
    count_announce("sn_lstm_predict");
    sn_count_begin();
    st = sn_lstm_predict(g_seq, &y);
    sn_count_end();
    CHECK(st == SN_OK, "sn_lstm_predict failed");
    near("sn_lstm_predict", y, want_lstm, 1e-5);
    float lstm_full = y;

    /* 2. Streaming equals the whole sequence, bit for bit. */
    for (int pass = 0; pass < 2; pass++) {
        CHECK(sn_lstm_reset() == SN_OK, "sn_lstm_reset failed");
        for (int t = 0; t < SN_LSTM_STEPS; t++) {
            if (pass == 0 && t == 1) {
                count_announce("sn_lstm_step");
                sn_count_begin();
                st = sn_lstm_step(g_seq + t * SN_LSTM_FEATURES, &y);
                sn_count_end();
            } else {
                st = sn_lstm_step(g_seq + t * SN_LSTM_FEATURES, &y);
            }
            CHECK(st == SN_OK, "step %d failed", t);
            if (t == 30) { /* a rejected step must not reach the state */
                float bad[SN_LSTM_FEATURES] = {0, 0, NAN, 0, 0, 0, 0, 0};
                y2 = 123.0f;
                CHECK(sn_lstm_step(bad, &y2) == SN_ERR_NONFINITE_INPUT, "NaN step accepted");
                CHECK(y2 == 123.0f, "a rejected step wrote its output");
            }
        }
        CHECK(y == lstm_full, "pass %d: 32 steps gave %.9g, the sequence %.9g", pass, y, lstm_full);
    }
    near("sn_lstm_step x32", y, want_lstm, 1e-5);

    /* 3. Status codes; failed calls write nothing. */
    y = 7.0f;
    CHECK(sn_cnn_predict(NULL, &y) == SN_ERR_NULL, "null image");
    CHECK(sn_cnn_predict(g_image, NULL) == SN_ERR_NULL, "null out");
    CHECK(sn_lstm_predict(NULL, &y) == SN_ERR_NULL, "null seq");
    CHECK(sn_lstm_step(NULL, &y) == SN_ERR_NULL, "null step");
    CHECK(sn_cnn_train_step(NULL, 1.0f, 1e-3f, &y) == SN_ERR_NULL, "null train image");
    CHECK(sn_cnn_train_step(g_image, 1.0f, 1e-3f, NULL) == SN_ERR_NULL, "null loss_out");
    CHECK(sn_cnn_tuned_predict(NULL, &y) == SN_ERR_NULL, "null tuned image");
    float nan_image[SN_CNN_INPUT_LEN], nan_seq[SN_LSTM_INPUT_LEN];
    memcpy(nan_image, g_image, sizeof nan_image);
    memcpy(nan_seq, g_seq, sizeof nan_seq);
    nan_image[57] = INFINITY;
    nan_seq[200] = NAN;
    CHECK(sn_cnn_predict(nan_image, &y) == SN_ERR_NONFINITE_INPUT, "inf pixel");
    CHECK(sn_lstm_predict(nan_seq, &y) == SN_ERR_NONFINITE_INPUT, "NaN in sequence");
    CHECK(sn_cnn_train_step(nan_image, 1.0f, 1e-3f, &y) == SN_ERR_NONFINITE_INPUT, "inf pixel (train)");
    CHECK(sn_cnn_train_step(g_image, NAN, 1e-3f, &y) == SN_ERR_NONFINITE_INPUT, "NaN label");
    CHECK(sn_cnn_train_step(g_image, 1.0f, INFINITY, &y) == SN_ERR_NONFINITE_INPUT, "inf lr");
    CHECK(sn_cnn_train_step(g_image, 1.5f, 1e-3f, &y) == SN_ERR_RANGE, "label 1.5");
    CHECK(sn_cnn_train_step(g_image, 1.0f, 0.0f, &y) == SN_ERR_RANGE, "lr 0");
    CHECK(y == 7.0f, "a failed call wrote its output");
    CHECK(sn_cnn_tuned_predict(g_image, &y) == SN_OK && y == cnn_rom,
          "failed train steps changed the weights (%.9g vs %.9g)", y, cnn_rom);

    /* 4. Fine-tuning on one sample: train it towards the label the network
     * does not predict, so there is a loss to lower. */
    float label = cnn_rom < 0.5f ? 1.0f : 0.0f, prev = INFINITY;
    printf("train on the fixture image, label %.0f (prediction %.6f), lr 1e-3:\n", label, cnn_rom);
    for (int s = 0; s < 5; s++) {
        if (s == 0) {
            count_announce("sn_cnn_train_step");
            sn_count_begin();
            st = sn_cnn_train_step(g_image, label, 1e-3f, &loss);
            sn_count_end();
        } else {
            st = sn_cnn_train_step(g_image, label, 1e-3f, &loss);
        }
        CHECK(st == SN_OK, "train step %d", s);
        printf("  step %d  loss %.6f\n", s + 1, loss);
        CHECK(loss < prev, "step %d: loss %.6f did not fall below %.6f", s + 1, loss, prev);
        prev = loss;
    }
    CHECK(sn_cnn_tuned_predict(g_image, &y) == SN_OK, "tuned predict");
    printf("  tuned prediction %.6f (compiled-in %.6f)\n", y, cnn_rom);
    CHECK(dabs(y - label) < dabs(cnn_rom - label), "training did not move the output to the label");
    CHECK(sn_cnn_predict(g_image, &y2) == SN_OK && y2 == cnn_rom, "training changed the flash weights");
    /* Pixels near FLT_MAX overflow the convolution: the loss is not finite,
     * the step is refused and the weights stay as they were. */
    float tuned = y;
    float huge[SN_CNN_INPUT_LEN];
    for (int i = 0; i < SN_CNN_INPUT_LEN; i++) huge[i] = (i % 2 ? 3e38f : -3e38f);
    int rc = sn_cnn_train_step(huge, label, 1e-3f, &loss);
    CHECK(rc == SN_ERR_NONFINITE, "overflowing step returned %d", rc);
    CHECK(sn_cnn_tuned_predict(g_image, &y) == SN_OK && y == tuned,
          "a refused step changed the weights (%.9g vs %.9g)", y, tuned);
    CHECK(sn_cnn_train_reset() == SN_OK, "train reset");
    CHECK(sn_cnn_tuned_predict(g_image, &y) == SN_OK && y == cnn_rom, "reset did not restore the weights");
    CHECK(sn_cnn_train_step(g_image, label, 1e-3f, &loss) == SN_OK && loss == loss && loss > prev,
          "after reset the first loss should be the first step's again");

    /* 5. Stack, by painting. */
    size_t base = stack_touched(job_none);
    printf("stack of an empty call (subtracted): %lu bytes\n", (unsigned long)base);
    stack_check("sn_cnn_predict", job_cnn_predict, base, SN_STACK_BOUND_CNN_PREDICT);
    stack_check("sn_lstm_predict", job_lstm_predict, base, SN_STACK_BOUND_LSTM_PREDICT);
    stack_check("sn_lstm_step", job_lstm_step, base, SN_STACK_BOUND_LSTM_STEP);
    stack_check("sn_cnn_train_step", job_cnn_train_step, base, SN_STACK_BOUND_CNN_TRAIN_STEP);

    if (failures) {
        printf("%d check(s) FAILED\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
