// roofs.c: the measured roofs of this CPU for "% of peak" and the roofline
// plot: f32 FMA peak and memory bandwidth.
//
// FMA peak: independent FMA chains per thread (12 for AVX2's 16
// ymm registers, 24 for AVX-512's 32 zmm: more would spill), enough to cover
// the FMA latency x throughput product of current x86 cores, timed over
// ~0.5 s per ISA. Reports GFLOP/s for AVX2 (ymm) and AVX-512 (zmm) where the
// CPU has them, on 1 and N threads (threads pinned to one core each).
// Bandwidth: STREAM triad a = b + s c over three 128 MiB arrays split across
// the threads, best of 5, counting 3 x 128 MiB per pass (STREAM's rule: the
// write-allocate read is not counted).
//
// bf16: the same with vdpbf16ps where AVX512_BF16 exists (4 flops per lane),
// and with AMX's tdpbf16ps where the tile unit is usable (CPUID, XCR0 and
// the Linux permission cb_cpu_info asks for): 4 independent 16x16 f32
// accumulator tiles, each instruction 16x16x32 multiply-adds (16384 flops),
// operands held in tiles so no memory is read in the loop.
//
// usage: roofs [THREADS] [--csv FILE]   (the CSV feeds scripts/plot.py)
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_info.h"

#ifndef CB_HAVE_AMX
#define CB_HAVE_AMX 0
#endif
#if CB_HAVE_AMX  // the compiler knows the tile instructions
#include "../kernels/x86/amx_config.h"
#endif

#define ITERS 100000000L

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define CHAINS(T, SET1, FMA, ADD, W, Y)                                       \
    T x0 = SET1(1.0f), x1 = SET1(1.1f), x2 = SET1(1.2f), x3 = SET1(1.3f);     \
    T x4 = SET1(1.4f), x5 = SET1(1.5f), x6 = SET1(1.6f), x7 = SET1(1.7f);     \
    T x8 = SET1(1.8f), x9 = SET1(1.9f), xa = SET1(2.0f), xb = SET1(2.1f);     \
    /* distinct start values, or the compiler merges y_i into x_i */          \
    T y0 = SET1(3.0f), y1 = SET1(3.1f), y2 = SET1(3.2f), y3 = SET1(3.3f);     \
    T y4 = SET1(3.4f), y5 = SET1(3.5f), y6 = SET1(3.6f), y7 = SET1(3.7f);     \
    T y8 = SET1(3.8f), y9 = SET1(3.9f), ya = SET1(4.0f), yb = SET1(4.1f);     \
    const T m = SET1(0.999999f), a = SET1(1e-7f);                             \
    for (long i = 0; i < iters; i++) {                                        \
        x0 = FMA(x0, m, a); x1 = FMA(x1, m, a); x2 = FMA(x2, m, a);           \
        x3 = FMA(x3, m, a); x4 = FMA(x4, m, a); x5 = FMA(x5, m, a);           \
        x6 = FMA(x6, m, a); x7 = FMA(x7, m, a); x8 = FMA(x8, m, a);           \
        x9 = FMA(x9, m, a); xa = FMA(xa, m, a); xb = FMA(xb, m, a);           \
        if (Y) {                                                              \
            y0 = FMA(y0, m, a); y1 = FMA(y1, m, a); y2 = FMA(y2, m, a);       \
            y3 = FMA(y3, m, a); y4 = FMA(y4, m, a); y5 = FMA(y5, m, a);       \
            y6 = FMA(y6, m, a); y7 = FMA(y7, m, a); y8 = FMA(y8, m, a);       \
            y9 = FMA(y9, m, a); ya = FMA(ya, m, a); yb = FMA(yb, m, a);       \
        }                                                                     \
    }                                                                         \
    T s = ADD(ADD(ADD(x0, x1), ADD(x2, x3)), ADD(ADD(x4, x5), ADD(x6, x7)));  \
    s = ADD(s, ADD(ADD(x8, x9), ADD(xa, xb)));                                \
    s = ADD(s, ADD(ADD(ADD(y0, y1), ADD(y2, y3)), ADD(ADD(y4, y5), ADD(y6, y7)))); \
    s = ADD(s, ADD(ADD(y8, y9), ADD(ya, yb)));                                \
    float out[W];                                                             \
    memcpy(out, &s, sizeof out);                                              \
    return out[0];

#include <string.h>
__attribute__((target("avx2,fma"))) static float run_avx2(long iters)
{
    CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8, 0)
}
__attribute__((target("avx512f"))) static float run_avx512(long iters)
{
    CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16, 1)
}

// vdpbf16ps: 16 lanes x 2 bf16 products each, accumulated in f32.
__attribute__((target("avx512f,avx512bf16"))) static float run_bf16(long iters)
{
    __m512 acc[24];
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = a;  // bf16 pairs (1, 1)
    for (int i = 0; i < 24; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    __m512 s = acc[0];
    for (int i = 1; i < 24; i++)
        s = _mm512_add_ps(s, acc[i]);
    float out[16];
    memcpy(out, &s, sizeof out);
    return out[0];
}

#define AMX_ITERS (ITERS / 16)
#if CB_HAVE_AMX
__attribute__((target("amx-tile,amx-bf16"))) static float run_amx(long iters)
{
    _Alignas(64) unsigned short ones[16 * 32];
    for (int i = 0; i < 16 * 32; i++)
        ones[i] = 0x3f80;  // bf16 1.0
    _Alignas(64) float out[16 * 16];
    amx_config_16x64();
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ones, 64);
    _tile_loadd(5, ones, 64);
    _tile_loadd(6, ones, 64);
    _tile_loadd(7, ones, 64);
    for (long it = 0; it < iters; it++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, 64);
    _tile_release();
    return out[0];
}
#else
static float run_amx(long iters)
{
    (void)iters;
    return 0;  // never called: ga stays 0 without CB_HAVE_AMX
}
#endif

struct job {
    int cpu, isa;
    double secs;
    float sink;
};

static void *worker(void *v)
{
    struct job *j = v;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j->cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    double t0 = now();
    j->sink = j->isa == 1 ? run_amx(AMX_ITERS)
              : j->isa == 16 ? run_bf16(ITERS)
              : j->isa == 512 ? run_avx512(ITERS) : run_avx2(ITERS);
    j->secs = now() - t0;
    return NULL;
}

static double measure(int isa, int nt)
{
    pthread_t th[256];
    struct job jobs[256];
    for (int i = 0; i < nt; i++) {
        jobs[i] = (struct job){.cpu = i, .isa = isa};
        pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    double worst = 0, sink = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        worst = jobs[i].secs > worst ? jobs[i].secs : worst;
        sink += jobs[i].sink;
    }
    // flops per instruction: 2 per lane (FMA), 4 per lane for bf16 pairs,
    // 2 x 16 x 16 x 32 for a tile dot product (4 per loop step)
    double per_insn = isa == 1 ? 16384.0 : isa == 16 ? 64.0 : 2.0 * (isa / 32);
    double flops = isa == 1 ? per_insn * 4 * (double)AMX_ITERS * nt
                            : per_insn * (isa == 256 ? 12 : 24) * (double)ITERS * nt;
    printf("%s peak, %d thread%s: %.1f GFLOP/s (%.1f per core)%s\n",
           isa == 1 ? "bf16 AMX tile" : isa == 16 ? "bf16 dpbf16ps" : isa == 512 ? "AVX-512 FMA  " : "AVX2 FMA     ", nt, nt == 1 ? " " : "s", flops / worst * 1e-9,
           flops / worst * 1e-9 / nt, sink == 12345.0 ? "!" : "");
    return flops / worst * 1e-9;
}

#define TRIAD_N (32L << 20)  // floats per array: 128 MiB

struct triad_job {
    int cpu;
    float *a, *b, *c;
    long lo, hi;
};

static void *triad_worker(void *v)
{
    struct triad_job *j = v;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j->cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    for (long i = j->lo; i < j->hi; i++)
        j->a[i] = j->b[i] + 3.0f * j->c[i];
    return NULL;
}

static double triad(int nt)
{
    float *a = malloc(TRIAD_N * sizeof *a), *b = malloc(TRIAD_N * sizeof *b),
          *c = malloc(TRIAD_N * sizeof *c);
    double best = 0;
    if (!a || !b || !c) {
        fprintf(stderr, "roofs: cannot allocate the triad arrays\n");
        free(a);
        free(b);
        free(c);
        return 0;
    }
    pthread_t th[256];
    struct triad_job jobs[256];
    for (int rep = 0; rep < 6; rep++) {
        double t0 = now();
        for (int i = 0; i < nt; i++) {
            // First pass also touches the pages on the thread that uses them.
            jobs[i] = (struct triad_job){i, a, b, c, TRIAD_N * i / nt, TRIAD_N * (i + 1) / nt};
            if (rep == 0) {
                for (long k = jobs[i].lo; k < jobs[i].hi; k++)
                    b[k] = 1.0f, c[k] = 2.0f;
            }
            pthread_create(&th[i], NULL, triad_worker, &jobs[i]);
        }
        for (int i = 0; i < nt; i++)
            pthread_join(th[i], NULL);
        double gbs = 3.0 * TRIAD_N * sizeof(float) / (now() - t0) * 1e-9;
        if (rep > 0 && gbs > best)
            best = gbs;
    }
    printf("STREAM triad, %d thread%s: %.1f GB/s\n", nt, nt == 1 ? " " : "s", best);
    free(a);
    free(b);
    free(c);
    return best;
}

int main(int argc, char **argv)
{
    int nt = 1;
    const char *csv = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--csv") && i + 1 < argc)
            csv = argv[++i];
        else if ((nt = atoi(argv[i])) < 1 || nt > 256) {
            fprintf(stderr, "usage: roofs [THREADS 1..256] [--csv FILE]\n");
            return 2;
        }
    }
    FILE *out = NULL;
    if (csv && !(out = fopen(csv, "w"))) {
        fprintf(stderr, "roofs: cannot write %s\n", csv);
        return 1;
    }
    char chip[160], host[64];
    cb_cpu_chip_class(chip, sizeof chip);
    cb_host_name(host, sizeof host);
    if (out)
        fprintf(out, "host,chip_class,threads,fma_avx2_gflops,fma_avx512_gflops,"
                     "triad_gbytes_per_s,bf16_dot_gflops,bf16_amx_gflops\n");
    __builtin_cpu_init();
    for (int t = 1; t <= nt; t = t == nt ? nt + 1 : (t * 2 > nt ? nt : t * 2)) {
        double g2 = 0, g5 = 0, gb = 0, ga = 0;
        const uint64_t amx = CB_ISA_AMX_TILE | CB_ISA_AMX_BF16;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            g2 = measure(256, t);
        if (__builtin_cpu_supports("avx512f"))
            g5 = measure(512, t);
        if (__builtin_cpu_supports("avx512bf16"))
            gb = measure(16, t);
        if (CB_HAVE_AMX && (cb_cpu_info()->os_features & amx) == amx)
            ga = measure(1, t);
        double bw = triad(t);
        if (out)
            fprintf(out, "%s,%s,%d,%.1f,%.1f,%.1f,%.1f,%.1f\n", host, chip, t, g2, g5, bw, gb, ga);
    }
    if (out && fclose(out) != 0) {
        fprintf(stderr, "roofs: error writing %s\n", csv);
        return 1;
    }
    return 0;
}
