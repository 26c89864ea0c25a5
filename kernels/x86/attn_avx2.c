// attn_avx2.c: flash-attention forward, f32, AVX2+FMA; compiled with
// -mavx2 -mfma only and selected at run time when CPUID and XCR0 allow it
// (and on AVX-512 machines when CHIPBENCH_ISA=avx2 caps the dispatcher).
//
// attn_f32_avx2_flash: the port of attn_avx512.c to 8-wide ymm and 16
// registers. Tiles over keys with an online softmax, so the (Lq, Lk) score
// matrix is never materialized: per thread it holds K^T of one head (packed
// once per head as panels of 16 keys x D, so a subtile streams contiguous
// memory) and a 6-row output block.
//   S = Q_blk K_blk^T    6 query rows x 128 keys as up to eight 6x16 register
//                        tiles (the 6x16 tile of gemm_avx2.c: 12 ymm
//                        accumulators, 2 K^T vectors, 1 broadcast of the
//                        block's Q, packed transposed and pre-multiplied by
//                        scale * log2 e), masked and stored to a 6 x 128
//                        strip in L1; each tile's epilogue also keeps the
//                        rows' running maxima
//   online softmax       per row over the strip, in log2 units: P = 2^(S - m)
//                        with running max m and sum l; when m grows, l and O
//                        are rescaled by 2^(m_old - m) (one vector for all
//                        rows)
//   O += P V_blk         6 rows x 16 columns of D per pass (12 ymm), V rows
//                        as vectors, P broadcast; masked passes for D % 16
// Causal (bottom-right aligned, cb_attn_visible_keys) masks keys to -inf and
// skips the 16-key subtiles no row of the query block can see. A row that
// sees no key gets O = 0 and lse = -inf; lse = ln 2 (m + log2 l).
// exp: 2^x = 2^n 2^r, 2^n built by shifting n + 127 into the exponent field
// (AVX2 has no vscalefps), 2^r by Cephes exp2f's degree-6 polynomial on
// [-1/2, 1/2], about 2 ulp; the log2 domain saves exp's range reduction.
// Inputs are <= 0 and clamped at -127, which gives exactly 0 (-inf included).
// Threads: as attn_avx512.c, whole heads per thread when there are enough
// heads, else the query blocks of each head round-robin.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"

#define BR 6   // query rows per block
#define BC 128 // keys per block (8 subtiles of 16)

// 2^x for x <= 0: 2^n (n = round(x), built by shifting n + 127 into the
// exponent field: AVX2 has no vscalefps) times 2^r, r in [-1/2, 1/2], by
// Cephes exp2f's polynomial (about 2 ulp). x is clamped at -127, where the
// exponent field becomes 0 and the result exactly 0 (so -inf from the mask,
// and anything below about -126.5, gives 0; the true value is a denormal).
// 7 multiplies/FMAs per vector: the scores come pre-multiplied by log2(e),
// so there is no range reduction by ln 2.
static inline __m256 exp2_256(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
    const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r = _mm256_sub_ps(x, n);
    __m256 p = _mm256_set1_ps(1.535336188319500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.339887440266574e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.618437357674640e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.550332471162809e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(2.402264791363012e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(6.931472028550421e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline float hmax256(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Lane mask for maskload/maskstore: the first `left` lanes (0..8) set.
static inline __m256i lane_mask(int64_t left)
{
    static const int32_t tbl[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    left = left < 0 ? 0 : left > 8 ? 8 : left;
    return _mm256_loadu_si256((const __m256i *)(tbl + 8 - left));
}

struct flash_plan {
    struct cb_pool *pool;
    float **kt;      // per thread: K^T of one head, ldk / 16 panels of D x 16
    float **work;    // per thread: O block (BR x ldo), P strip (BR x BC), Q^T (D x BR)
    int64_t ldk;     // Lk rounded up to 16
    int64_t ldo;     // D rounded up to 8
    const struct cb_attn_args *a;
};

// K (Lk, D) of one kv head -> kt: per 16 keys a panel (D, 16), zero beyond
// Lk; a 16-key subtile then streams 64 contiguous bytes per step of D (a
// (D, Lk) layout put the rows 4 KiB apart when Lk = 1024: every row in one
// L1 set).
static void pack_kt(const float *k, int64_t lk, int64_t d, float *kt, int64_t ldk)
{
    for (int64_t j0 = 0; j0 < ldk; j0 += 16) {
        float *panel = kt + j0 * d;
        const int64_t nk = lk - j0 < 16 ? (lk - j0 > 0 ? lk - j0 : 0) : 16;
        for (int64_t x = 0; x < d; x++) {
            int64_t j = 0;
            for (; j < nk; j++)
                panel[x * 16 + j] = k[(j0 + j) * d + x];
            for (; j < 16; j++)
                panel[x * 16 + j] = 0.0f;
        }
    }
}

// S for BR rows x 16 keys: qt (D x BR, scaled) times kp (a D x 16 panel),
// masked (keys >= lim[r] -> -inf when `mask`) and stored to sp (rows of BC);
// rmax (BR x 8) takes the running lane-wise maximum of each row.
static inline __attribute__((always_inline)) void
qk_sub(const float *qt, const float *kp, int64_t D, float *sp, const int64_t *lim, int mask,
       float *rmax)
{
    __m256 s[BR][2];
#pragma GCC unroll 6
    for (int r = 0; r < BR; r++)
        s[r][0] = s[r][1] = _mm256_setzero_ps();
    for (int64_t x = 0; x < D; x++, kp += 16, qt += BR) {
        const __m256 k0 = _mm256_loadu_ps(kp), k1 = _mm256_loadu_ps(kp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < BR; r++) {
            const __m256 qv = _mm256_broadcast_ss(qt + r);
            s[r][0] = _mm256_fmadd_ps(qv, k0, s[r][0]);
            s[r][1] = _mm256_fmadd_ps(qv, k1, s[r][1]);
        }
    }
    if (mask) {
        const __m256i i0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i i1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
        const __m256 ninf = _mm256_set1_ps(-INFINITY);
#pragma GCC unroll 6
        for (int r = 0; r < BR; r++) {
            const __m256i vl = _mm256_set1_epi32((int)(lim[r] < 0 ? 0 : lim[r] > 16 ? 16 : lim[r]));
            s[r][0] = _mm256_blendv_ps(ninf, s[r][0], _mm256_castsi256_ps(_mm256_cmpgt_epi32(vl, i0)));
            s[r][1] = _mm256_blendv_ps(ninf, s[r][1], _mm256_castsi256_ps(_mm256_cmpgt_epi32(vl, i1)));
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < BR; r++) {
        _mm256_storeu_ps(sp + r * BC, s[r][0]);
        _mm256_storeu_ps(sp + r * BC + 8, s[r][1]);
        _mm256_store_ps(rmax + 8 * r, _mm256_max_ps(_mm256_load_ps(rmax + 8 * r),
                                                     _mm256_max_ps(s[r][0], s[r][1])));
    }
}

// ob(BR rows, ldo) += P(BR x nk, rows of BC) V(nk rows, ldv) for nv vectors
// (8 columns each) of D; `left` columns remain from vp on (masked when
// `tail`). Inlined with constant nv and tail, so each case gets its own loop.
static inline __attribute__((always_inline)) void
pv_chunk(const int nv, const int tail, const float *pb, const float *vp, int64_t ldv, int64_t nk,
         float *ob, int64_t ldo, int64_t left)
{
    __m256i mk[2];
#pragma GCC unroll 2
    for (int c = 0; c < nv; c++)
        mk[c] = lane_mask(left - 8 * c);
    // Every loop over the register arrays is unrolled in full: a loop left
    // rolled makes GCC keep acc[][] on the stack.
    __m256 acc[BR][2];
#pragma GCC unroll 6
    for (int r = 0; r < BR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < nv; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (int64_t j = 0; j < nk; j++, vp += ldv, pb++) {
        __m256 vv[2];
#pragma GCC unroll 2
        for (int c = 0; c < nv; c++)
            vv[c] = tail ? _mm256_maskload_ps(vp + 8 * c, mk[c]) : _mm256_loadu_ps(vp + 8 * c);
#pragma GCC unroll 6
        for (int r = 0; r < BR; r++) {
            const __m256 pv = _mm256_broadcast_ss(pb + r * BC);
#pragma GCC unroll 2
            for (int c = 0; c < nv; c++)
                acc[r][c] = _mm256_fmadd_ps(pv, vv[c], acc[r][c]);
        }
    }
    // ob has ldo >= D rounded up to 8 columns: the padding takes zeros.
#pragma GCC unroll 6
    for (int r = 0; r < BR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < nv; c++) {
            float *op = ob + r * ldo + 8 * c;
            _mm256_storeu_ps(op, _mm256_add_ps(_mm256_loadu_ps(op), acc[r][c]));
        }
}

// One block of up to BR query rows [i0, i0+nr) of one head.
static void flash_block(const struct cb_attn_args *a, const float *q, const float *kt,
                        const float *v, float *o, float *lse, int64_t i0,
                        int64_t nr, float *ob, int64_t ldo, float *pb, float *qt)
{
    const int64_t D = a->head_dim;
    // Scores in log2 units: Q pre-multiplied by scale * log2(e), so P = 2^(s - m).
    const float scale = (a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D)) * 1.44269504088896341f;
    float m[BR], l[BR];
    int64_t vis[BR], vmax = 0, vmin = INT64_MAX;
    for (int r = 0; r < BR; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
        vis[r] = r < nr ? cb_attn_visible_keys(a, i0 + r) : 0;
        vmax = vis[r] > vmax ? vis[r] : vmax;
        vmin = vis[r] < vmin ? vis[r] : vmin;
    }
    // Q^T of the block, scaled (rows past nr are zero: their keys are masked).
    for (int64_t x = 0; x < D; x++)
        for (int r = 0; r < BR; r++)
            qt[x * BR + r] = r < nr ? scale * q[r * D + x] : 0.0f;
    memset(ob, 0, (size_t)(BR * ldo) * sizeof *ob);

    for (int64_t j0 = 0; j0 < vmax; j0 += BC) {
        const int64_t nk = vmax - j0 < BC ? vmax - j0 : BC;  // keys any row sees
        const int nsub = (int)((nk + 15) / 16);
        const int mask = j0 + BC > vmin;
        int64_t lim[BR];
        _Alignas(32) float rmax[BR * 8];
        for (int r = 0; r < BR; r++) {
            lim[r] = vis[r] - j0;
            _mm256_store_ps(rmax + 8 * r, _mm256_set1_ps(-INFINITY));
        }
        // S = Q K^T, 16 keys at a time
        for (int c = 0; c < nsub; c++) {
            qk_sub(qt, kt + (j0 + 16 * c) * D, D, pb + 16 * c, lim, mask, rmax);
            for (int r = 0; r < BR; r++)
                lim[r] -= 16;
        }
        // Online softmax over the strip, P in place (log2 domain): the new
        // running maxima first, then the corrections 2^(m_old - m_new) of all
        // rows in one vector (0 where m_old = -inf: -inf and NaN give 0).
        const int nvec = 2 * nsub;
        float mnew[8] = {0}, mold[8] = {0}, corr[8];
        for (int r = 0; r < BR; r++) {
            const float bm = hmax256(_mm256_load_ps(rmax + 8 * r));
            mold[r] = m[r];
            mnew[r] = bm > m[r] ? bm : m[r];
        }
        _mm256_storeu_ps(corr, exp2_256(_mm256_sub_ps(_mm256_loadu_ps(mold), _mm256_loadu_ps(mnew))));
        for (int r = 0; r < BR; r++) {
            float *pr = pb + r * BC;
            if (mnew[r] == -INFINITY) {  // nothing visible yet in this row
                for (int c = 0; c < nvec; c++)
                    _mm256_storeu_ps(pr + 8 * c, _mm256_setzero_ps());
                continue;
            }
            const __m256 vm = _mm256_set1_ps(mnew[r]);
            __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
            for (int c = 0; c < nvec; c += 2) {
                const __m256 p0 = exp2_256(_mm256_sub_ps(_mm256_loadu_ps(pr + 8 * c), vm));
                const __m256 p1 = exp2_256(_mm256_sub_ps(_mm256_loadu_ps(pr + 8 * c + 8), vm));
                _mm256_storeu_ps(pr + 8 * c, p0);
                _mm256_storeu_ps(pr + 8 * c + 8, p1);
                sum0 = _mm256_add_ps(sum0, p0);
                sum1 = _mm256_add_ps(sum1, p1);
            }
            l[r] = l[r] * corr[r] + hsum256(_mm256_add_ps(sum0, sum1));
            m[r] = mnew[r];
            if (corr[r] != 1.0f) {
                const __m256 vc = _mm256_set1_ps(corr[r]);
                float *orow = ob + r * ldo;
                for (int64_t x = 0; x < ldo; x += 8)
                    _mm256_storeu_ps(orow + x, _mm256_mul_ps(vc, _mm256_loadu_ps(orow + x)));
            }
        }
        // O += P V for the keys of this block, 16 columns of D at a time.
        const float *vb = v + j0 * D;
        int64_t x0 = 0;
        for (; x0 + 16 <= D; x0 += 16)
            pv_chunk(2, 0, pb, vb + x0, D, nk, ob + x0, ldo, 16);
        if (D - x0 > 8)
            pv_chunk(2, 1, pb, vb + x0, D, nk, ob + x0, ldo, D - x0);
        else if (D - x0 == 8)
            pv_chunk(1, 0, pb, vb + x0, D, nk, ob + x0, ldo, 8);
        else if (D > x0)
            pv_chunk(1, 1, pb, vb + x0, D, nk, ob + x0, ldo, D - x0);
    }
    for (int64_t r = 0; r < nr; r++) {
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        for (int64_t x = 0; x < D; x++)
            o[(i0 + r) * D + x] = ob[r * ldo + x] * inv;
        if (lse)
            lse[i0 + r] = l[r] > 0.0f ? (m[r] + log2f(l[r])) * 0.693147180559945309f : -INFINITY;
    }
}

static void flash_thread(void *arg, int tid, int nt)
{
    struct flash_plan *pl = arg;
    const struct cb_attn_args *a = pl->a;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads, nblk = (Lq + BR - 1) / BR;
    const int64_t nheads = a->batch * a->heads;
    float *kt = pl->kt[tid], *ob = pl->work[tid], *pb = ob + BR * pl->ldo, *qt = pb + BR * BC;
    // With at least as many heads as threads each thread takes whole heads
    // (K^T packed once per head); otherwise the query blocks of every head
    // are dealt round-robin (which also balances a causal triangle).
    const int by_head = nheads >= nt;
    int64_t packed = -1;  // (b * kv_heads + kvh) whose K^T is in kt
    for (int64_t x = by_head ? tid : 0; x < nheads; x += by_head ? nt : 1) {
        const int64_t b = x / a->heads, h = x % a->heads;
        const int64_t kvid = b * a->kv_heads + h / group;
        const float *q = (const float *)a->q + x * Lq * D;
        const float *v = (const float *)a->v + kvid * Lk * D;
        float *o = (float *)a->o + x * Lq * D;
        float *lse = a->lse ? a->lse + x * Lq : NULL;
        for (int64_t blk = by_head ? 0 : tid; blk < nblk; blk += by_head ? 1 : nt) {
            if (packed != kvid) {
                pack_kt((const float *)a->k + kvid * Lk * D, Lk, D, kt, pl->ldk);
                packed = kvid;
            }
            const int64_t i0 = blk * BR, nr = Lq - i0 < BR ? Lq - i0 : BR;
            flash_block(a, q + i0 * D, kt, v, o, lse, i0, nr, ob, pl->ldo, pb, qt);
        }
    }
}

static void flash_plan_free(void *plan)
{
    struct flash_plan *pl = plan;
    if (!pl)
        return;
    int n = cb_pool_threads(pl->pool);
    for (int i = 0; pl->kt && i < n; i++)
        cb_free(pl->kt[i]);
    for (int i = 0; pl->work && i < n; i++)
        cb_free(pl->work[i]);
    free(pl->kt);
    free(pl->work);
    cb_pool_free(pl->pool);
    free(pl);
}

static enum cb_status flash_plan_create(const struct cb_kernel *k, const struct cb_plan_req *req,
                                        void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn;
    enum cb_status s = CB_OK;
    (void)k;
    struct flash_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
    CB_TRY(cb_pool_create(req->threads, &pl->pool));
    pl->ldk = (a->seq_kv + 15) / 16 * 16;
    pl->ldo = (a->head_dim + 7) / 8 * 8;
    pl->kt = calloc((size_t)req->threads, sizeof *pl->kt);
    pl->work = calloc((size_t)req->threads, sizeof *pl->work);
    if (!pl->kt || !pl->work) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
        goto out;
    }
    for (int i = 0; i < req->threads; i++) {
        const int64_t nk = a->head_dim * pl->ldk;
        pl->kt[i] = cb_alloc_array((size_t)(nk > 0 ? nk : 1), sizeof(float));
        pl->work[i] = cb_alloc_array((size_t)(BR * pl->ldo + BR * BC + BR * a->head_dim),
                                     sizeof(float));
        if (!pl->kt[i] || !pl->work[i]) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "attention K^T buffer (%lld x %lld floats)",
                             (long long)a->head_dim, (long long)pl->ldk);
            goto out;
        }
    }
out:
    if (s != CB_OK) {
        flash_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status flash_run(void *plan, const struct cb_call *call)
{
    struct flash_plan *pl = plan;
    pl->a = &call->u.attn;
    cb_pool_run(pl->pool, flash_thread, pl);
    return CB_OK;
}

const struct cb_kernel cb_attn_avx2_kernels[] = {
    {
        .name = "attn_f32_avx2_flash",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX2,
        .isa = CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA,
        .priority = 15,
        .plan = flash_plan_create,
        .run = flash_run,
        .plan_free = flash_plan_free,
        .desc = "flash attention forward: 6x16 ymm tiles over 64-key blocks, online softmax, "
                "O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
