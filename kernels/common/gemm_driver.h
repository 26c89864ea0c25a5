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
//
// Loops (row-major C; the broadcast operand A stays in L1, the vector
// operand B streams from L2, as in BLIS's skx configuration transposed):
//   for ic in m step MC            A panel  MC x KC  (shared, L3)
//     for pc in k step KC          pack A panel (threads split micro-panels)
//       for jc in n step NC        pack B block KC x NC (shared; L2 of each core)
//         for ir in MC step MR     threads split the A micro-panels
//           for jr in NC step NR   microkernel (edge tiles through a buffer)
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
// Largest KC a kernel wants (its file may lower it after measuring).
#ifndef GD_KC_MAX
#define GD_KC_MAX 1024
#endif

struct gd_plan {
    struct cb_pool *pool;
    int64_t mc, kc, nc;
    GD_IN_T *apack, *bpack;   // shared pack buffers (MC x KC, KC x NC)
    const struct cb_gemm_args *g;  // the call in flight
};

static inline int64_t gd_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t gd_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static inline int64_t gd_clamp(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

// KC: an A micro-panel (MR x KC) takes about half of L1d. NC: a B block
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
    int64_t kcv = gd_clamp(l1 / 2 / (GD_MR * es) / 16 * 16, 64, GD_KC_MAX);
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
    // loads and stores for little work.
    const int64_t nkb = (k + kcv - 1) / kcv;
    *kc = gd_min(gd_round_up((k + nkb - 1) / nkb, 8), k);
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
#if defined(__SSE2__)
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
static void gd_pack_panels(const GD_IN_T *src, int64_t lds, int k_along_rows, int64_t x0,
                           int64_t xn, int64_t p0, int64_t kb, int64_t q0, int64_t q1,
                           GD_IN_T *dst, int64_t w)
{
    const int64_t kp = gd_round_up(kb, GD_KP);
    if (!k_along_rows) {
        // Stream each source row across the thread's panels.
        const int64_t c0 = x0 + q0 * w, cols = gd_min((q1 - q0) * w, xn - q0 * w);
        for (int64_t p = 0; p < kb; p += GD_KP) {
            const GD_IN_T *row = src + (p0 + p) * lds + c0;
            const GD_IN_T *row1 = GD_KP == 2 && p + 1 < kb ? row + lds : NULL;
            // Row segments are short (a thread's share of the block) and
            // often 4 KiB apart: fetch a few rows ahead of the copy.
            if (p + 4 < kb)
                for (int64_t j = 0; j < cols; j += 64 / (int64_t)sizeof(GD_IN_T))
                    __builtin_prefetch(row + 4 * lds + j);
            for (int64_t q = q0; q < q1; q++) {
                const int64_t jq = (q - q0) * w;
                gd_gather_group(row + jq, row1 ? row1 + jq : NULL, gd_min(w, cols - jq),
                                dst + q * w * kp + (p / GD_KP) * w * GD_KP, w);
            }
        }
        return;
    }
    const int64_t full_units = GD_UNIT_OK ? kb / GD_KP : 0;
    for (int64_t q = q0; q < q1; q++) {
        GD_IN_T *d = dst + q * w * kp;
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
// packs the contiguous range of panels it will also compute (gd_compute
// splits the same way), so they land in its own L2.
__attribute__((noinline)) static void gd_pack_a(const struct cb_gemm_args *g, GD_IN_T *dst,
                                                int64_t i0, int64_t mb, int64_t p0, int64_t kb,
                                                int tid, int nt)
{
    const int64_t np = (mb + GD_MR - 1) / GD_MR;
    gd_pack_panels(g->a, g->lda, !g->trans_a, i0, mb, p0, kb, np * tid / nt,
                   np * (tid + 1) / nt, dst, GD_MR);
}

// B k [p0, p0+kb), columns [j0, j0+nb) -> micro-panels of NR columns; each
// thread packs a contiguous range of panels.
__attribute__((noinline)) static void gd_pack_b(const struct cb_gemm_args *g, GD_IN_T *dst,
                                                int64_t p0, int64_t kb, int64_t j0, int64_t nb,
                                                int tid, int nt)
{
    const int64_t np = (nb + GD_NR - 1) / GD_NR;
    gd_pack_panels(g->b, g->ldb, g->trans_b, j0, nb, p0, kb, np * tid / nt, np * (tid + 1) / nt,
                   dst, GD_NR);
}

// One thread's share of the tiles of an (A panel, B block) pair. The A
// micro-panels are split into contiguous ranges so each core keeps its own in
// L1; with fewer A micro-panels than threads the B micro-panels are split.
__attribute__((noinline)) static void gd_compute(const struct gd_plan *pl, int64_t i0, int64_t mb, int64_t j0,
                              int64_t nb, int64_t kb, float beta, int tid, int nt)
{
    const struct cb_gemm_args *g = pl->g;
    const int64_t npa = (mb + GD_MR - 1) / GD_MR, npb = (nb + GD_NR - 1) / GD_NR;
    int64_t qa0 = 0, qa1 = npa, qb0 = 0, qb1 = npb;
    if (npa >= 2 * nt || npa >= npb) {
        qa0 = npa * tid / nt;
        qa1 = npa * (tid + 1) / nt;
    } else {
        qb0 = npb * tid / nt;
        qb1 = npb * (tid + 1) / nt;
    }
    float *c = g->c;
    _Alignas(64) float tile[GD_MR * GD_NR];
    const int64_t kp = gd_round_up(kb, GD_KP), kg = kp / GD_KP;
    for (int64_t qa = qa0; qa < qa1; qa++) {
        const GD_IN_T *ap = pl->apack + qa * GD_MR * kp;
        const int64_t rows = gd_min(GD_MR, mb - qa * GD_MR);
        for (int64_t qb = qb0; qb < qb1; qb++) {
            const GD_IN_T *bp = pl->bpack + qb * GD_NR * kp;
            const int64_t cols = gd_min(GD_NR, nb - qb * GD_NR);
            float *cc = c + (i0 + qa * GD_MR) * g->ldc + j0 + qb * GD_NR;
            if (rows == GD_MR && cols == GD_NR) {
                GD_UKERNEL(kg, ap, bp, cc, g->ldc, g->alpha, beta);
                continue;
            }
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

static void gd_thread(void *arg, int tid, int nt)
{
    struct gd_plan *pl = arg;
    const struct cb_gemm_args *g = pl->g;
    for (int64_t ic = 0; ic < g->m; ic += pl->mc) {
        const int64_t mb = gd_min(pl->mc, g->m - ic);
        for (int64_t pc = 0; pc < g->k; pc += pl->kc) {
            const int64_t kb = gd_min(pl->kc, g->k - pc);
            // Later k blocks accumulate onto what the first one stored.
            const float beta = pc == 0 ? g->beta : 1.0f;
            gd_pack_a(g, pl->apack, ic, mb, pc, kb, tid, nt);
            for (int64_t jc = 0; jc < g->n; jc += pl->nc) {
                const int64_t nb = gd_min(pl->nc, g->n - jc);
                gd_pack_b(g, pl->bpack, pc, kb, jc, nb, tid, nt);
                cb_pool_barrier(pl->pool);  // packs complete
                gd_compute(pl, ic, mb, jc, nb, kb, beta, tid, nt);
                cb_pool_barrier(pl->pool);  // nobody still reads the B block
            }
        }
    }
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
    const int64_t kp = gd_round_up(pl->kc, GD_KP);
    pl->apack = gd_alloc_pack((size_t)(gd_round_up(pl->mc, GD_MR) * kp) * sizeof(GD_IN_T));
    pl->bpack = gd_alloc_pack((size_t)(gd_round_up(pl->nc, GD_NR) * kp) * sizeof(GD_IN_T));
    if (!pl->apack || !pl->bpack) {
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
    cb_pool_run(pl->pool, gd_thread, pl);
    return CB_OK;
}

#endif
