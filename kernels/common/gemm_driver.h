// gemm_driver.h: the BLIS-style blocked, packed, multi-threaded f32 GEMM
// driver shared by the ISA kernels. Included by each kernel file *after* it
// defines its register-tile microkernel, so the driver is compiled with that
// file's ISA flags (everything here is static: nothing is shared across ISA
// translation units, see style-lessons L1).
//
// Before including, define:
//   GD_MR, GD_NR         register tile (rows of C, columns of C)
//   GD_IN_T              element type of A and B (default float; uint16_t
//                        for bf16 bit patterns); C is always float
//   GD_KP                k values packed together (default 1; 2 for the
//                        pairwise dot products of vdpbf16ps / bfmmla)
//   GD_UKERNEL           static void f(int64_t kg, const GD_IN_T *ap,
//                          const GD_IN_T *bp, float *c, int64_t ldc,
//                          float alpha, float beta)
//                        C(MR,NR) = alpha * Ap Bp + beta * C over kg groups
//                        of GD_KP k values; beta == 0 must not read C.
//                        Ap holds, per group, MR rows x GD_KP values
//                        (row-major within the group); Bp per group NR
//                        columns x GD_KP values; both 64-byte aligned; a k
//                        block whose length is not a multiple of GD_KP is
//                        zero-padded.
//   GD_UKERNEL_A         optional, GD_KP == 1 only: the same tile with A read
//                        in place instead of packed, for A not transposed
//                        (k along its rows): static void f(int64_t kg,
//                          const GD_IN_T *a, int64_t lda, const GD_IN_T *bp,
//                          float *c, int64_t ldc, float alpha, float beta)
//                        row r of the tile's A at a + r * lda.
//   GD_UKERNEL_EDGE      optional, with GD_EDGE_COLS (< NR):
//                        a full-height tile of cols <= GD_EDGE_COLS columns,
//                        straight into C:
//                        static void f(int64_t kg, const GD_IN_T *ap,
//                          const GD_IN_T *ad, int64_t lda, const GD_IN_T *bp,
//                          int64_t cols, float *c, int64_t ldc, float alpha,
//                          float beta)
//                        A packed at ap, or in place at ad when ad is not
//                        NULL (as GD_UKERNEL_A); Bp the zero-padded panel.
//   GD_SPLIT_COLS        optional (with GD_UKERNEL_EDGE): the unit in which
//                        threads split n (default GD_NR). With a cheap edge
//                        tile, 1024 columns split 512 + 512 on 2 threads
//                        (10 tiles and a 32-column edge each) rather than
//                        528 + 496 (11 tiles against 10 and a 16-column one).
//   GD_KR                optional k rounding of a block (default GD_KP): the
//                        kernel steps k in chunks of GD_KR (a multiple of
//                        GD_KP); blocks are zero-padded to whole chunks and
//                        KC is a multiple of it.
//   GD_PACK_A            optional: the kernel's own A micro-panel layout,
//                        static void f(const struct cb_gemm_args *g,
//                          GD_IN_T *dst, int64_t i0, int64_t mb, int64_t p0,
//                          int64_t kb, int64_t q0, int64_t q1, int64_t kp)
//                        packs panels [q0, q1) of MR rows (panel q at
//                        dst + q * MR * kp) of A rows [i0, i0+mb), k
//                        [p0, p0+kb), zero-padded to MR rows and kp values.
//   GD_THREAD_BEGIN()    optional: run by each thread before a call's work
//   GD_THREAD_END()      and after it (per-thread unit state, e.g. AMX's
//                        tile configuration).
//
// Loops (row-major C; the broadcast operand A stays in L1, the vector
// operand B streams from L2, as in BLIS's skx configuration transposed):
//   for ic in m step MC            A panel  MC x KC  (shared, L3)
//     for pc in k step KC          pack A panel (threads split micro-panels)
//       for jc in n step NC        pack B block KC x NC (L2); threads own
//                                  ranges of n, or share each block (gd_thread)
//         for ir in MC step MR     A micro-panels (shared out when B is shared)
//           for jr in NC step NR   microkernel (edge tiles: GD_UKERNEL_EDGE, or a buffer)
// Block sizes come from the cache sizes hwloc reports (gd_block_sizes).
// Packing zero-pads to whole tiles, so the microkernel never sees a ragged
// edge; partial tiles are computed into a local tile and merged.
#ifndef CHIPBENCH_GEMM_DRIVER_H
#define CHIPBENCH_GEMM_DRIVER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_topo.h"
#include "chipbench/cb_util.h"

#ifndef GD_IN_T
#define GD_IN_T float
#endif
#ifndef GD_KP
#define GD_KP 1
#endif
#ifndef GD_KR
#define GD_KR GD_KP
#endif
#ifndef GD_SPLIT_COLS
#define GD_SPLIT_COLS GD_NR
#endif
#ifndef GD_THREAD_BEGIN
#define GD_THREAD_BEGIN() ((void)0)
#endif
#ifndef GD_THREAD_END
#define GD_THREAD_END() ((void)0)
#endif
// Largest KC a kernel wants (its file may lower it after measuring).
#ifndef GD_KC_MAX
#define GD_KC_MAX 1024
#endif
// Cache bytes an A micro-panel (MR x KC) may take: half of L1d for the
// vector kernels, which broadcast from it at every k step; a kernel whose
// A comes from L2 at less cost per flop may take more (larger KC means
// fewer passes over C).
#ifndef GD_A_PANEL_BYTES
#define GD_A_PANEL_BYTES(l1, l2) ((l1) / 2)
#endif
struct gd_plan {
    struct cb_pool *pool;
    int64_t mc, kc, nc;
    GD_IN_T *apack;           // shared A panel (MC x KC)
    GD_IN_T *bpack;           // B blocks (KC x NC): one per thread
    int64_t bpack_elems;      // elements of one B block buffer
    int pack_a;               // 1: pack A even where GD_UKERNEL_A could read it
    int64_t split_cols;       // unit of the n split (GD_SPLIT_COLS)
    int steal;                // 1: threads take work from each other; 0: static
                              // splits; 2: tests (CHIPBENCH_GEMM_STEAL)
    struct gd_range *ranges;  // one per thread
    const struct cb_gemm_args *g;  // the call in flight
};

// A thread's unclaimed work, head << 32 | tail, changed only by
// compare-and-swap: columns in units of split_cols in the n split, A
// micro-panels of the current B block in the m split. The owner claims from
// the head (gd_claim); a thread with nothing left takes the back half of the
// fullest range (gd_steal). A line each: no false sharing.
struct gd_range {
    _Alignas(64) uint64_t ht;
};

static inline int64_t gd_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t gd_max(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t gd_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static inline int64_t gd_clamp(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

// KC: an A micro-panel (MR x KC) takes GD_A_PANEL_BYTES (by default about
// half of L1d). NC: a B block
// (KC x NC) takes about half of L2. MC: an A panel (MC x KC) takes at most a
// quarter of the L3 (shared by all cores). Environment overrides
// CHIPBENCH_GEMM_KC/NC/MC exist for tuning experiments.
static inline void gd_block_sizes(int64_t m, int64_t n, int64_t k, int64_t *mc, int64_t *kc,
                                  int64_t *nc)
{
    const struct cb_topo *t = cb_topo_get();
    int64_t l1 = t->l1d_bytes > 0 ? t->l1d_bytes : 32768;
    int64_t l2 = t->l2_bytes > 0 ? t->l2_bytes : 262144;
    int64_t l3 = t->l3_bytes > 0 ? t->l3_bytes : 4 * l2;
    const int64_t es = (int64_t)sizeof(GD_IN_T);
    int64_t kcv = gd_clamp(GD_A_PANEL_BYTES(l1, l2) / (GD_MR * es) / 16 * 16, 64, GD_KC_MAX);
    int64_t ncv = gd_clamp(l2 / 2 / (kcv * es) / GD_NR * GD_NR, GD_NR, 4096);
    int64_t mcv = gd_clamp(l3 / 4 / (kcv * es) / GD_MR * GD_MR, GD_MR, 8192);
    const char *e;
    if ((e = getenv("CHIPBENCH_GEMM_KC")) && atoi(e) >= 8)
        kcv = atoi(e) / 8 * 8;
    if ((e = getenv("CHIPBENCH_GEMM_NC")) && atoi(e) >= GD_NR)
        ncv = atoi(e) / GD_NR * GD_NR;
    if ((e = getenv("CHIPBENCH_GEMM_MC")) && atoi(e) >= GD_MR)
        mcv = atoi(e) / GD_MR * GD_MR;
    // Equal k blocks: a short tail block would cost a whole extra pass of C
    // loads and stores for little work. Up to half past KC, one block
    // while an A micro-panel still fits L1 whole: two blocks would pass C
    // twice for a KC the L1 did not need (1024^3 f32 on a Zen 5, 3
    // interleaved rounds, medians: 239.9 -> 242.4 GFLOP/s on 1 thread, 442
    // -> 477 on 2). Half, not a third: on Zen 4 (32 KiB L1d, KC = 512)
    // k = 768 then runs as one block, and 4096x768x768 and 2048x768x768 nn
    // and nt went 104-106 -> 110-111 GFLOP/s on 1 thread (3 alternating
    // runs; oneDNN 110-111); the k = 768 shapes with n = 3072 moved within
    // the noise.
    int64_t nkb = (k + kcv - 1) / kcv;
    if (nkb == 2 && k <= kcv + kcv / 2 && k * GD_MR * es <= l1 && !getenv("CHIPBENCH_GEMM_KC"))
        nkb = 1;
    *kc = gd_min(gd_round_up((k + nkb - 1) / nkb, gd_max(8, GD_KR)), k);
    *nc = gd_min(ncv, gd_round_up(n, GD_NR));
    *mc = gd_min(mcv, gd_round_up(m, GD_MR));
}

// Packing works on 32-bit units: a float, or a (k, k+1) pair of bf16 values
// (GD_KP = 2), which are adjacent in a row-major source wherever k runs along
// the row. Two primitives cover the four (operand, transpose) cases:
//   transpose: k runs along source rows (A nn, B nt): a 4x4 SIMD transpose
//              of units per step, source rows streamed sequentially;
//   gather:    k runs down source rows (A tn, B nn): for each k, one
//              contiguous source row segment is copied into every panel of
//              the thread's range, so each source row is read sequentially
//              (reading 128 bytes per 4 KiB-strided row instead defeats the
//              prefetchers: it cost 14% of a 1024^3 GEMM).
#if defined(__AVX__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

typedef uint32_t gd_unit;
#define GD_UNIT_OK (sizeof(GD_IN_T) * GD_KP == sizeof(gd_unit))

static inline gd_unit gd_load_unit(const void *p)
{
    gd_unit u;
    memcpy(&u, p, sizeof u);
    return u;
}

// dst[u * w + r] = unit u of source row r, for r < rows (<= w), u < units;
// source row r starts at src + r * lds (lds in elements of GD_IN_T).
static inline void gd_transpose_units(const GD_IN_T *src, int64_t lds, int64_t rows,
                                      int64_t units, gd_unit *dst, int64_t w)
{
    int64_t r = 0;
#if defined(__AVX__)
    // 8x8 units per step, with 128-bit loads and shuffles only within
    // 128-bit lanes: packing B for 512x144x768 nt took 0.74 core cycles per
    // float with 4x4 SSE steps and 0.45 with this.
    for (; r + 8 <= rows; r += 8) {
        const GD_IN_T *s0 = src + r * lds;
        int64_t u = 0;
        for (; u + 8 <= units; u += 8) {
            const GD_IN_T *s = s0 + u * GD_KP;
            // A few lines ahead along the 8 rows: 8 short strided streams
            // are too little for the hardware prefetcher to train on.
            // (Fetching the next 8 rows instead was slower.)
            if ((u * (int64_t)sizeof(gd_unit)) % 64 == 0)
                for (int i = 0; i < 8; i++)
                    __builtin_prefetch(s + i * lds + 64);
            // Rows i and i+4 share a register (one 128-bit lane each), so
            // a 4x4 transpose within lanes finishes the job.
            __m256 x[8], y[4];
            for (int i = 0; i < 4; i++)
                for (int h = 0; h < 2; h++)
                    x[4 * h + i] = _mm256_insertf128_ps(
                        _mm256_castps128_ps256(
                            _mm_loadu_ps((const float *)(const void *)(s + i * lds + 4 * h * GD_KP))),
                        _mm_loadu_ps((const float *)(const void *)(s + (i + 4) * lds + 4 * h * GD_KP)),
                        1);
            for (int h = 0; h < 8; h += 4) {
                y[0] = _mm256_unpacklo_ps(x[h], x[h + 1]);
                y[1] = _mm256_unpackhi_ps(x[h], x[h + 1]);
                y[2] = _mm256_unpacklo_ps(x[h + 2], x[h + 3]);
                y[3] = _mm256_unpackhi_ps(x[h + 2], x[h + 3]);
                _mm256_storeu_ps((float *)(void *)(dst + (u + h + 0) * w + r), _mm256_shuffle_ps(y[0], y[2], 0x44));
                _mm256_storeu_ps((float *)(void *)(dst + (u + h + 1) * w + r), _mm256_shuffle_ps(y[0], y[2], 0xee));
                _mm256_storeu_ps((float *)(void *)(dst + (u + h + 2) * w + r), _mm256_shuffle_ps(y[1], y[3], 0x44));
                _mm256_storeu_ps((float *)(void *)(dst + (u + h + 3) * w + r), _mm256_shuffle_ps(y[1], y[3], 0xee));
            }
        }
        for (; u < units; u++)
            for (int64_t i = 0; i < 8; i++)
                dst[u * w + r + i] = gd_load_unit(src + (r + i) * lds + u * GD_KP);
    }
#endif
#if defined(__SSE2__) || defined(__ARM_NEON)
    for (; r + 4 <= rows; r += 4) {
        const GD_IN_T *s0 = src + r * lds, *s1 = s0 + lds, *s2 = s1 + lds, *s3 = s2 + lds;
        int64_t u = 0;
        for (; u + 4 <= units; u += 4) {
            const int64_t e = u * GD_KP;  // element offset of unit u
#if defined(__SSE2__)
            __m128 x0 = _mm_loadu_ps((const float *)(const void *)(s0 + e));
            __m128 x1 = _mm_loadu_ps((const float *)(const void *)(s1 + e));
            __m128 x2 = _mm_loadu_ps((const float *)(const void *)(s2 + e));
            __m128 x3 = _mm_loadu_ps((const float *)(const void *)(s3 + e));
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
            _mm_storeu_ps((float *)(void *)(dst + (u + 0) * w + r), x0);
            _mm_storeu_ps((float *)(void *)(dst + (u + 1) * w + r), x1);
            _mm_storeu_ps((float *)(void *)(dst + (u + 2) * w + r), x2);
            _mm_storeu_ps((float *)(void *)(dst + (u + 3) * w + r), x3);
#else
            uint32x4_t x0 = vld1q_u32((const uint32_t *)(const void *)(s0 + e));
            uint32x4_t x1 = vld1q_u32((const uint32_t *)(const void *)(s1 + e));
            uint32x4_t x2 = vld1q_u32((const uint32_t *)(const void *)(s2 + e));
            uint32x4_t x3 = vld1q_u32((const uint32_t *)(const void *)(s3 + e));
            uint32x4x2_t t01 = vtrnq_u32(x0, x1), t23 = vtrnq_u32(x2, x3);
            vst1q_u32(dst + (u + 0) * w + r, vcombine_u32(vget_low_u32(t01.val[0]), vget_low_u32(t23.val[0])));
            vst1q_u32(dst + (u + 1) * w + r, vcombine_u32(vget_low_u32(t01.val[1]), vget_low_u32(t23.val[1])));
            vst1q_u32(dst + (u + 2) * w + r, vcombine_u32(vget_high_u32(t01.val[0]), vget_high_u32(t23.val[0])));
            vst1q_u32(dst + (u + 3) * w + r, vcombine_u32(vget_high_u32(t01.val[1]), vget_high_u32(t23.val[1])));
#endif
        }
        for (; u < units; u++)
            for (int64_t i = 0; i < 4; i++)
                dst[u * w + r + i] = gd_load_unit(src + (r + i) * lds + u * GD_KP);
    }
#endif
    for (; r < rows; r++)
        for (int64_t u = 0; u < units; u++)
            dst[u * w + r] = gd_load_unit(src + r * lds + u * GD_KP);
}

// Panel layout element (k index p, row/column r) for panels of width w.
#define GD_AT(d, p, r, w) (d)[(((p) / GD_KP) * (w) + (r)) * GD_KP + (p) % GD_KP]

// One k group of a panel of width w from source rows that run along the
// panel (A tn, B nn): r0 is row k, r1 row k+1 (GD_KP = 2; NULL past the end of
// the block); n valid entries, zero-padded to w. For bf16 pairs the SSE2
// unpack of the two rows yields the (k, k+1) pairs already in panel order.
static inline void gd_gather_group(const GD_IN_T *r0, const GD_IN_T *r1, int64_t n,
                                   GD_IN_T *d, int64_t w)
{
    int64_t j = 0;
#if defined(__AVX__)
    if (GD_KP == 1 && sizeof(GD_IN_T) == 4)
        for (; j + 8 <= n; j += 8)
            _mm256_storeu_ps((float *)(void *)(d + j),
                             _mm256_loadu_ps((const float *)(const void *)(r0 + j)));
#elif defined(__SSE2__) || defined(__ARM_NEON)
    if (GD_KP == 1 && sizeof(GD_IN_T) == 4)
        for (; j + 4 <= n; j += 4)
            memcpy(d + j, r0 + j, 16);
#endif
#if defined(__SSE2__)
    if (GD_KP == 2 && sizeof(GD_IN_T) == 2 && r1) {
        for (; j + 8 <= n; j += 8) {
            __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)(r0 + j));
            __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(r1 + j));
            _mm_storeu_si128((__m128i *)(void *)(d + 2 * j), _mm_unpacklo_epi16(x0, x1));
            _mm_storeu_si128((__m128i *)(void *)(d + 2 * j + 8), _mm_unpackhi_epi16(x0, x1));
        }
    }
#endif
    for (; j < n; j++) {
        d[j * GD_KP] = r0[j];
        if (GD_KP == 2)
            d[j * GD_KP + GD_KP - 1] = r1 ? r1[j] : 0;
    }
    for (; j < w; j++)
        for (int t = 0; t < GD_KP; t++)
            d[j * GD_KP + t] = 0;
}

// Panels [q0, q1) of width w (MR rows of A or NR columns of B) for k in
// [p0, p0+kb) and panel entries x in [x0, x0+xn) of the operand. Element
// (k p, entry x) sits at src[x * lds + p] when k runs along the source rows
// (A nn, B nt) and at src[p * lds + x] when it runs down them (A tn, B nn).
// Panel q starts at dst + q * w * kstride: kstride is the k length of the
// whole block, so a thread can pack a k slice of every panel (dst then
// points at the slice's first k group and kb is the slice's length).
static void gd_pack_panels(const GD_IN_T *src, int64_t lds, int k_along_rows, int64_t x0,
                           int64_t xn, int64_t p0, int64_t kb, int64_t q0, int64_t q1,
                           GD_IN_T *dst, int64_t w, int64_t kstride)
{
    const int64_t kp = gd_round_up(kb, GD_KP);
    if (!k_along_rows) {
        // Each panel takes a chunk of source rows before the next panel, at
        // least 256 contiguous bytes of its writes. Going row by row wrote
        // 32 bytes to each of 32 A panels 24 KiB apart (one L1 set): lines
        // were evicted between their two halves, and packing A for
        // 512x768x3072 tn took 8.5% of the GEMM. Wide panels (B) keep one
        // row per chunk: a chunk of rows 16 KiB apart thrashes one L1 set.
        const int64_t es = (int64_t)sizeof(GD_IN_T);
        const int64_t c0 = x0 + q0 * w, cols = gd_min((q1 - q0) * w, xn - q0 * w);
        const int64_t ch = GD_KP * gd_clamp(256 / (w * es * GD_KP), 1, 16);
        // Row segments are short (a thread's share of the block) and often
        // 4 KiB apart, too few lines each for the hardware prefetcher: fetch
        // them a chunk (at least 4 rows) ahead of the copy, and 16 rows (or
        // twice the chunk) ahead into L2 only. The near prefetches alone keep too few misses
        // in flight (they hold L1 miss buffers): packing B for 512x4096x4096
        // nn (from DRAM) took 154 M TSC cycles without the far ones and 116
        // with them (GD_PROFILE), and the GEMM ran 2% faster on 1 thread,
        // 1-7% on 2 (512^3, 1024^3, 512x768x768). 32 rows ahead was no
        // better on 1 thread and worse on 2.
        const int64_t ahead = ch > 4 * GD_KP ? ch : 4 * GD_KP, far = gd_max(16, 2 * ahead);
        for (int64_t pb = 0; pb < kb; pb += ch) {
            const int64_t pe = gd_min(kb, pb + ch);
            for (int64_t q = q0; q < q1; q++) {
                const int64_t jq = (q - q0) * w, n = gd_min(w, cols - jq);
                GD_IN_T *d = dst + q * w * kstride;
                for (int64_t p = pb; p < pe; p += GD_KP) {
                    const GD_IN_T *row = src + (p0 + p) * lds + c0 + jq;
                    const GD_IN_T *row1 = GD_KP == 2 && p + 1 < kb ? row + lds : NULL;
                    for (int64_t t = 0; t < GD_KP && p + t + ahead < kb; t++)
                        for (int64_t j = 0; j < n; j += 64 / es)
                            __builtin_prefetch(row + (t + ahead) * lds + j);
                    for (int64_t t = 0; t < GD_KP && p + t + far < kb; t++)
                        for (int64_t j = 0; j < n; j += 64 / es)
                            __builtin_prefetch(row + (t + far) * lds + j, 0, 2);
                    gd_gather_group(row, row1, n, d + (p / GD_KP) * w * GD_KP, w);
                }
            }
        }
        return;
    }
    const int64_t full_units = GD_UNIT_OK ? kb / GD_KP : 0;
    for (int64_t q = q0; q < q1; q++) {
        GD_IN_T *d = dst + q * w * kstride;
        const int64_t c0 = x0 + q * w, n = gd_min(w, xn - q * w);
        const GD_IN_T *s0 = src + c0 * lds + p0;
        gd_transpose_units(s0, lds, n, full_units, (gd_unit *)(void *)d, w);
        for (int64_t x = 0; x < n; x++)
            for (int64_t p = full_units * GD_KP; p < kb; p++)
                GD_AT(d, p, x, w) = s0[x * lds + p];
        for (int64_t x = n; x < w; x++)
            for (int64_t p = 0; p < kp; p++)
                GD_AT(d, p, x, w) = 0;
        for (int64_t p = kb; p < kp; p++)
            for (int64_t x = 0; x < n; x++)
                GD_AT(d, p, x, w) = 0;
    }
}

// A rows [i0, i0+mb), k [p0, p0+kb) -> micro-panels of MR rows. Thread tid
// packs a contiguous range of panels: with m split, the range it starts
// computing (gd_thread), so they land in its own L2.
// With A read in place (direct), only a ragged last panel is packed, by the
// thread whose range holds it.
__attribute__((noinline)) static void gd_pack_a(const struct cb_gemm_args *g, GD_IN_T *dst,
                                                int64_t i0, int64_t mb, int64_t p0, int64_t kb,
                                                int tid, int nt, int direct)
{
    const int64_t np = (mb + GD_MR - 1) / GD_MR;
    int64_t q0 = np * tid / nt, q1 = np * (tid + 1) / nt;
    if (direct)
        q0 = mb % GD_MR ? gd_max(q0, np - 1) : q1;
    if (q0 >= q1)
        return;
#ifdef GD_PACK_A
    GD_PACK_A(g, dst, i0, mb, p0, kb, q0, q1, gd_round_up(kb, GD_KR));
#else
    gd_pack_panels(g->a, g->lda, !g->trans_a, i0, mb, p0, kb, q0, q1, dst, GD_MR,
                   gd_round_up(kb, GD_KR));
#endif
}

// Thread tid's share [*s0, *s1) of a k block of length kb when all threads
// pack a slice of every B panel. Slices are whole groups of 4 units, the
// step of the SIMD transpose. Splitting the panels instead left one thread
// twice the work of the other when a block has 3 panels (NC = 144, 2 threads):
// the other waited at the barrier for 5% of a 512x4096x4096 GEMM.
static inline void gd_k_slice(int64_t kb, int tid, int nt, int64_t *s0, int64_t *s1)
{
    const int64_t q = 4 * GD_KP, steps = (kb + q - 1) / q;
    *s0 = gd_min(kb, steps * tid / nt * q);
    *s1 = gd_min(kb, steps * (tid + 1) / nt * q);
}

// B k [p0, p0+kb), columns [j0, j0+nb) -> micro-panels of NR columns; each
// thread packs its k slice of every panel.
__attribute__((noinline)) static void gd_pack_b(const struct cb_gemm_args *g, GD_IN_T *dst,
                                                int64_t p0, int64_t kb, int64_t j0, int64_t nb,
                                                int tid, int nt)
{
    const int64_t np = (nb + GD_NR - 1) / GD_NR;
    int64_t s0, s1;
    gd_k_slice(kb, tid, nt, &s0, &s1);
    const int64_t kp = gd_round_up(kb, GD_KR);
    if (s1 > s0)
        gd_pack_panels(g->b, g->ldb, g->trans_b, j0, nb, p0 + s0, s1 - s0, 0, np,
                       dst + s0 * GD_NR, GD_NR, kp);
    // The last thread's slice ends the block: it zeroes the whole GD_KR
    // chunk past it (the panels padded only to GD_KP).
    if (GD_KR > GD_KP && tid == nt - 1)
        for (int64_t q = 0; q < np; q++) {
            const int64_t done = gd_round_up(kb, GD_KP);
            memset(dst + q * GD_NR * kp + done * GD_NR, 0,
                   (size_t)((kp - done) * GD_NR) * sizeof(GD_IN_T));
        }
}

// A not transposed has each micro-panel's rows contiguous along k, so a
// kernel with GD_UKERNEL_A can read them in place. Packing A costs a pass
// over A from DRAM that no compute overlaps: 5% of 4096x768x3072 nt on 1
// thread, 11% on 2 (both cores packing at once). Reading in place costs a
// little on every B block instead (8 strided row streams from L3 rather than
// one contiguous one), so it pays only when a thread has few B blocks per A
// panel. Measured (3 interleaved runs, medians), in place against packed:
// 3-6 blocks +1% to +8% (512x768x768 and 4096x768x3072 nt on 2 threads +6%),
// 8 blocks -1% to +0%, 15-29 blocks -3.5% (2048^3 on 1 thread) to +0.5%.
// CHIPBENCH_GEMM_PACK_A=1 always packs, to compare the two in one build.
#define GD_DIRECT_A_MAX_BLOCKS 6
static inline int gd_direct_a(const struct gd_plan *pl, int64_t n_per_thread)
{
#ifdef GD_UKERNEL_A
    return GD_KP == 1 && !pl->g->trans_a && !pl->pack_a &&
           (n_per_thread + pl->nc - 1) / pl->nc <= GD_DIRECT_A_MAX_BLOCKS;
#else
    (void)pl;
    (void)n_per_thread;
    return 0;
#endif
}

// The tiles of A micro-panels [qa0, qa1) x B micro-panels [qb0, qb1) of an
// (A panel, B block) pair.
__attribute__((noinline)) static void gd_compute(const struct gd_plan *pl, const GD_IN_T *bpack,
                                                 int64_t i0, int64_t mb, int64_t j0, int64_t nb,
                                                 int64_t p0, int64_t kb, float beta, int direct,
                                                 int64_t qa0, int64_t qa1, int64_t qb0,
                                                 int64_t qb1)
{
    const struct cb_gemm_args *g = pl->g;
    float *c = g->c;
    _Alignas(64) float tile[GD_MR * GD_NR];
    const int64_t kp = gd_round_up(kb, GD_KR), kg = kp / GD_KP;
    for (int64_t qa = qa0; qa < qa1; qa++) {
        const GD_IN_T *ap = pl->apack + qa * GD_MR * kp;
        const int64_t rows = gd_min(GD_MR, mb - qa * GD_MR);
        // Whole micro-panels of A in place (see gd_direct_a); a ragged last
        // one comes packed (zero rows), since the kernel reads all MR rows.
        const GD_IN_T *ad = direct && rows == GD_MR
                                 ? (const GD_IN_T *)g->a + (i0 + qa * GD_MR) * g->lda + p0
                                 : NULL;
        for (int64_t qb = qb0; qb < qb1; qb++) {
            const GD_IN_T *bp = bpack + qb * GD_NR * kp;
            const int64_t cols = gd_min(GD_NR, nb - qb * GD_NR);
            float *cc = c + (i0 + qa * GD_MR) * g->ldc + j0 + qb * GD_NR;
            // Keep the whole-tile and edge calls apart: merged into one call
            // with run-time arguments, GCC inlined the AVX2 6x16 kernel into
            // this loop with its accumulators spilled to the stack (it has
            // 16 ymm registers), 25% slower.
            if (rows == GD_MR && cols == GD_NR) {
#ifdef GD_UKERNEL_A
                if (ad)
                    GD_UKERNEL_A(kg, ad, g->lda, bp, cc, g->ldc, g->alpha, beta);
                else
#endif
                    GD_UKERNEL(kg, ap, bp, cc, g->ldc, g->alpha, beta);
                continue;
            }
#ifdef GD_UKERNEL_EDGE
            if (rows == GD_MR && cols <= GD_EDGE_COLS) {
                GD_UKERNEL_EDGE(kg, ap, ad, g->lda, bp, cols, cc, g->ldc, g->alpha, beta);
                continue;
            }
#endif
#ifdef GD_UKERNEL_A
            if (ad)
                GD_UKERNEL_A(kg, ad, g->lda, bp, tile, GD_NR, 1.0f, 0.0f);
            else
#else
            (void)ad;
#endif
                GD_UKERNEL(kg, ap, bp, tile, GD_NR, 1.0f, 0.0f);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < cols; j++) {
                    float *e = &cc[r * g->ldc + j];
                    float v = g->alpha * tile[r * GD_NR + j];
                    *e = beta == 0.0f ? v : v + beta * *e;
                }
        }
    }
}

#ifdef GD_PROFILE
// Build with -DGD_PROFILE to see where a call's cycles go (per thread, summed
// over every call of the process, printed at exit).
#include <stdio.h>
#include <x86intrin.h>
static _Alignas(64) uint64_t gd_prof[2][8];  // a cache line per thread
static uint64_t gd_prof_calls;
#define GD_PROF_CALL() (gd_prof_calls++)
#define GD_PROF_START uint64_t gd_t0 = __rdtsc()
#define GD_PROF(i)                                                                     \
    do {                                                                               \
        uint64_t t_ = __rdtsc();                                                       \
        if (tid < 2)                                                                   \
            gd_prof[tid][i] += t_ - gd_t0;                                             \
        gd_t0 = t_;                                                                    \
    } while (0)
__attribute__((destructor)) static void gd_prof_dump(void)
{
    for (int t = 0; t < 2; t++)
        fprintf(stderr, "gd_profile thread %d Mcycles over %llu calls: pack A %.1f, pack B %.1f, barriers %.1f, compute %.1f\n",
                t, (unsigned long long)gd_prof_calls, gd_prof[t][0] / 1e6, gd_prof[t][1] / 1e6,
                gd_prof[t][2] / 1e6, gd_prof[t][3] / 1e6);
}
#else
#define GD_PROF_CALL() ((void)0)
#define GD_PROF_START ((void)0)
#define GD_PROF(i) ((void)0)
#endif

static inline uint64_t gd_ht(int64_t h, int64_t t) { return (uint64_t)h << 32 | (uint64_t)t; }

// Claim up to w units from the head of range r: [*u0, *u1). 0 when empty.
// With wmin > 0, at most half of what is left and at least wmin: the last
// claims shrink, so a thread that runs out early finds work to take instead
// of waiting at the barrier for the other's last whole block (2048x4096x4096
// on 2 threads: 3% of a call, one core being 3% slower than the other).
static inline int gd_claim(struct gd_range *r, int64_t w, int64_t wmin, int64_t *u0,
                           int64_t *u1)
{
    uint64_t cur = __atomic_load_n(&r->ht, __ATOMIC_ACQUIRE);
    for (;;) {
        const int64_t h = (int64_t)(cur >> 32), t = (int64_t)(cur & 0xffffffffu);
        if (h >= t)
            return 0;
        const int64_t e = gd_min(h + (wmin ? gd_max(wmin, gd_min(w, (t - h + 1) / 2)) : w), t);
        if (__atomic_compare_exchange_n(&r->ht, &cur, gd_ht(e, t), 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            *u0 = h;
            *u1 = e;
            return 1;
        }
    }
}

// Thread tid's own range is empty: move the back half (rounded up) of the
// fullest other range into it. 0 when every range is empty. Only the owner
// stores into an empty range, and no thief touches an empty one, so the
// plain store cannot lose a claim.
static inline int gd_steal(struct gd_range *rs, int tid, int nt)
{
    for (;;) {
        int v = -1;
        int64_t most = 0;
        uint64_t cur = 0;
        for (int i = 0; i < nt; i++) {
            const uint64_t x = __atomic_load_n(&rs[i].ht, __ATOMIC_ACQUIRE);
            const int64_t left = (int64_t)(x & 0xffffffffu) - (int64_t)(x >> 32);
            if (i != tid && left > most) {
                v = i;
                most = left;
                cur = x;
            }
        }
        if (v < 0)
            return 0;
        const int64_t h = (int64_t)(cur >> 32), t = (int64_t)(cur & 0xffffffffu);
        const int64_t cut = t - (most + 1) / 2;
        if (__atomic_compare_exchange_n(&rs[v].ht, &cur, gd_ht(h, cut), 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&rs[tid].ht, gd_ht(cut, t), __ATOMIC_RELEASE);
            return 1;
        }
    }
}

// Two ways to share a call among threads:
//   n split (n has at least 2 B micro-panels per thread): each thread owns a
//     range of C's columns and packs its own B blocks into its own buffer,
//     so a block lands in the L2 that reads it and no thread waits for
//     another's packing; the A panel is shared. One barrier per A panel.
//   m split (narrow n): one B block shared by all, packed in k slices, the
//     A micro-panels split; two barriers per B block.
// Sharing B cost the 2-thread m = 512 GEMMs 7% (512x4096x4096 nt: 443
// GFLOP/s shared, 470 split by n): each core read half of every block from
// the other core's L2, and both stopped for every block's packing.
// The n split starts even, and a thread that runs out takes work from the
// others (gd_steal): a core that loses time to a neighbour or to the
// hypervisor no longer holds the other at every A panel's barrier.
static void gd_thread(void *arg, int tid, int nt)
{
    struct gd_plan *pl = arg;
    const struct cb_gemm_args *g = pl->g;
    // Split by n unless that leaves a thread more tiles than splitting m
    // (512^3 on 2 threads: 11 B micro-panels give 6 + 5, 64 A give 32 + 32).
    const int64_t npb = (g->n + GD_NR - 1) / GD_NR, npa = (g->m + GD_MR - 1) / GD_MR;
    const int nsplit = nt > 1 && npb >= 2 * nt &&
                       npa * ((npb + nt - 1) / nt) <= npb * ((npa + nt - 1) / nt);
    const int64_t su = pl->split_cols, nsu = (g->n + su - 1) / su;
    int64_t ua = nsu * tid / nt, ub = nsu * (tid + 1) / nt;
    if (pl->steal == 2) {  // tests: the last thread starts with all of the work
        ua = 0;
        ub = tid == nt - 1 ? nsu : 0;
    }
    const int64_t ncu = pl->nc / su;  // units a claim: one B block (nc is a multiple of su)
    // The smallest tail claim: a whole tile (shrinking claims only pay when
    // someone can take the rest).
    const int64_t tail = pl->steal ? gd_max(1, GD_NR / su) : 0;
    struct gd_range *own = &pl->ranges[tid];
    GD_IN_T *bpack = pl->bpack + (nsplit ? tid * pl->bpack_elems : 0);
    // The same for every thread: they share the A panel.
    const int direct = gd_direct_a(pl, nsplit ? (npb + nt - 1) / nt * GD_NR : g->n);
    GD_THREAD_BEGIN();
    GD_PROF_START;
    for (int64_t ic = 0; ic < g->m; ic += pl->mc) {
        const int64_t mb = gd_min(pl->mc, g->m - ic), pa = (mb + GD_MR - 1) / GD_MR;
        for (int64_t pc = 0; pc < g->k; pc += pl->kc) {
            const int64_t kb = gd_min(pl->kc, g->k - pc);
            // Later k blocks accumulate onto what the first one stored.
            const float beta = pc == 0 ? g->beta : 1.0f;
            if (nsplit) {
                // Everyone left the previous panel's claims at its last
                // barrier; the next one publishes this before anyone claims.
                __atomic_store_n(&own->ht, gd_ht(ua, ub), __ATOMIC_RELAXED);
            }
            gd_pack_a(g, pl->apack, ic, mb, pc, kb, tid, nt, direct);
            GD_PROF(0);
            if (nsplit) {
                cb_pool_barrier(pl->pool);  // the A panel is complete
                GD_PROF(2);
                int64_t u0, u1;
                while (gd_claim(own, ncu, tail, &u0, &u1) ||
                       (pl->steal && gd_steal(pl->ranges, tid, nt) &&
                        gd_claim(own, ncu, tail, &u0, &u1))) {
                    const int64_t jc = u0 * su, nb = gd_min(g->n, u1 * su) - jc;
                    gd_pack_b(g, bpack, pc, kb, jc, nb, 0, 1);
                    GD_PROF(1);
                    gd_compute(pl, bpack, ic, mb, jc, nb, pc, kb, beta, direct, 0, pa, 0,
                               (nb + GD_NR - 1) / GD_NR);
                    GD_PROF(3);
                }
                cb_pool_barrier(pl->pool);  // nobody still reads the A panel
                GD_PROF(2);
                continue;
            }
            for (int64_t jc = 0; jc < g->n; jc += pl->nc) {
                const int64_t nb = gd_min(pl->nc, g->n - jc), pb = (nb + GD_NR - 1) / GD_NR;
                // The A micro-panels are shared out (each thread starting on
                // the range it packed, and taking over others' when done),
                // or with fewer of them than threads, the B micro-panels.
                const int by_a = pa >= 2 * nt || pa >= pb;
                int64_t qa0 = pa * tid / nt, qa1 = pa * (tid + 1) / nt;
                if (by_a && pl->steal == 2) {
                    qa0 = 0;
                    qa1 = tid == nt - 1 ? pa : 0;
                }
                if (by_a)
                    __atomic_store_n(&own->ht, gd_ht(qa0, qa1), __ATOMIC_RELAXED);
                gd_pack_b(g, bpack, pc, kb, jc, nb, tid, nt);
                GD_PROF(1);
                cb_pool_barrier(pl->pool);  // packs complete
                GD_PROF(2);
                if (!by_a) {
                    gd_compute(pl, bpack, ic, mb, jc, nb, pc, kb, beta, direct, 0, pa,
                               pb * tid / nt, pb * (tid + 1) / nt);
                } else if (!pl->steal || nt == 1) {
                    gd_compute(pl, bpack, ic, mb, jc, nb, pc, kb, beta, direct, qa0, qa1, 0, pb);
                } else {
                    // Claims of an eighth of a thread's share: the last one
                    // keeps the other threads waiting at most that long.
                    const int64_t ca = gd_max(1, pa / (8 * nt));
                    int64_t q0, q1;
                    while (gd_claim(own, ca, 0, &q0, &q1) ||
                           (gd_steal(pl->ranges, tid, nt) && gd_claim(own, ca, 0, &q0, &q1)))
                        gd_compute(pl, bpack, ic, mb, jc, nb, pc, kb, beta, direct, q0, q1, 0,
                                   pb);
                }
                GD_PROF(3);
                cb_pool_barrier(pl->pool);  // nobody still reads the B block
                GD_PROF(2);
            }
        }
    }
    GD_THREAD_END();
}

// Pack buffers are read at every k step: back them with transparent huge
// pages where the kernel allows it, so streaming B through L2 does not also
// walk a new 4 KiB page every 32 k steps.
static inline void *gd_alloc_pack(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes >= huge / 4) {
        void *p = NULL;
        size_t sz = (bytes + huge - 1) / huge * huge;
        if (posix_memalign(&p, huge, sz) == 0) {
            madvise(p, sz, MADV_HUGEPAGE);
            return p;
        }
    }
    return cb_alloc(bytes);
}

static void gd_plan_free(void *plan)
{
    struct gd_plan *pl = plan;
    if (!pl)
        return;
    cb_pool_free(pl->pool);
    cb_free(pl->apack);
    cb_free(pl->bpack);
    cb_free(pl->ranges);
    free(pl);
}

static enum cb_status gd_plan_create(const struct cb_kernel *k, const struct cb_plan_req *req,
                                     void **plan)
{
    const struct cb_gemm_args *g = &req->shape->u.gemm;
    enum cb_status s = CB_OK;
    struct gd_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "gemm plan");
    gd_block_sizes(g->m, g->n, g->k, &pl->mc, &pl->kc, &pl->nc);
    const char *e = getenv("CHIPBENCH_GEMM_PACK_A");
    pl->pack_a = e && atoi(e) != 0;
    // CHIPBENCH_GEMM_SPLIT=NR: split n in whole tiles, to compare in one build.
    e = getenv("CHIPBENCH_GEMM_SPLIT");
    pl->split_cols = e && atoi(e) == GD_NR ? GD_NR : GD_SPLIT_COLS;
    // CHIPBENCH_GEMM_STEAL=0: no stealing, to compare in one build; =2: every
    // call starts with all of n on the last thread, so the tests run the
    // stealing path on every call whatever the timing.
    e = getenv("CHIPBENCH_GEMM_STEAL");
    pl->steal = e && (atoi(e) == 0 || atoi(e) == 2) ? atoi(e) : 1;
    pl->ranges = cb_alloc_array((size_t)req->threads, sizeof *pl->ranges);
    const int64_t kp = gd_round_up(pl->kc, GD_KR);
    // Whole 4 KiB pages per thread's B buffer: no two threads write one line.
    pl->bpack_elems = gd_round_up(gd_round_up(pl->nc, GD_NR) * kp, 4096 / sizeof(GD_IN_T));
    pl->apack = gd_alloc_pack((size_t)(gd_round_up(pl->mc, GD_MR) * kp) * sizeof(GD_IN_T));
    pl->bpack = gd_alloc_pack((size_t)(pl->bpack_elems * req->threads) * sizeof(GD_IN_T));
    if (!pl->apack || !pl->bpack || !pl->ranges) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "gemm pack buffers");
        goto out;
    }
    CB_TRY(cb_pool_create(req->threads, &pl->pool));
out:
    if (s != CB_OK) {
        gd_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status gd_run(void *plan, const struct cb_call *call)
{
    struct gd_plan *pl = plan;
    pl->g = &call->u.gemm;
    GD_PROF_CALL();
    cb_pool_run(pl->pool, gd_thread, pl);
    return CB_OK;
}

#endif
