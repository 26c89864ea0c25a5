// attn_avx512.c: flash-attention forward, f32, AVX-512F; compiled with the
// AVX-512 flags only and selected at run time when CPUID and XCR0 allow it.
//
// attn_f32_avx512_flash: tiles over keys with an online softmax, so the
// (Lq, Lk) score matrix is never materialized: per thread it holds K^T of
// one head (D x Lk, packed once per head) and an 8-row output block.
//   S = scale * Q_blk K_blk^T   8 query rows x 48 keys: the 8x48 register tile
//                               of the GEMM kernels (24 zmm accumulators,
//                               K^T rows as vectors, Q broadcast)
//   online softmax              running max m and sum l per row; when m
//                               grows, l and O are rescaled by exp(m_old - m)
//   O += P V_blk                8 rows x 48 columns of D per pass (24 zmm),
//                               V rows as vectors, P broadcast
// Causal (bottom-right aligned, cb_attn_visible_keys) masks keys to -inf and
// skips key blocks no row of the query block can see. A row that sees no key
// gets O = 0 and lse = -inf. Any D: the D loop runs in chunks of 48 with
// masked tails. exp: 2^(x log2 e) split into 2^n (vscalefps) and a degree-6
// polynomial on [-ln2/2, ln2/2], about 2 ulp; inputs are <= 0 after the max
// is subtracted and are clamped at -104 (exp underflows there).
// Threads: whole heads per thread when there are enough heads, else the
// query blocks of each head round-robin (balancing a causal triangle).
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
#include "avx512_math.h"

#define BR 8   // query rows per block
#define BC 48  // keys per block (3 zmm)

// Row softmax for the OpenBLAS-composed baseline (attn_openblas.c calls it
// after checking the CPU): x[0, n) = exp(x - max) / sum, x[n, ld) = 0, returns
// the log-sum-exp (-inf when n == 0). The same exp as the flash kernel, so the
// baseline's softmax is as fast as a careful user's would be.
float cb_softmax_row_avx512(float *x, int64_t n, int64_t ld)
{
    if (n <= 0) {
        for (int64_t j = 0; j < ld; j++)
            x[j] = 0.0f;
        return -INFINITY;
    }
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + j));
    __mmask16 tail = (__mmask16)((1u << (n - j)) - 1);
    vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, x + j));
    const float mx = _mm512_reduce_max_ps(vmax);
    const __m512 vm = _mm512_set1_ps(mx);
    __m512 vsum = _mm512_setzero_ps();
    for (j = 0; j + 16 <= n; j += 16) {
        __m512 p = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
        _mm512_storeu_ps(x + j, p);
        vsum = _mm512_add_ps(vsum, p);
    }
    if (j < n) {
        __m512 p = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + j), vm));
        p = _mm512_maskz_mov_ps(tail, p);
        _mm512_mask_storeu_ps(x + j, tail, p);
        vsum = _mm512_add_ps(vsum, p);
    }
    const float sum = _mm512_reduce_add_ps(vsum);
    const __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (j = 0; j + 16 <= n; j += 16)
        _mm512_storeu_ps(x + j, _mm512_mul_ps(inv, _mm512_loadu_ps(x + j)));
    if (j < n)
        _mm512_mask_storeu_ps(x + j, tail, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(tail, x + j)));
    for (j = n; j < ld; j++)
        x[j] = 0.0f;
    return mx + logf(sum);
}

// K (Lk, D) of one kv head -> kt (D, ldk), zero beyond Lk.
static void pack_kt(const float *k, int64_t lk, int64_t d, float *kt, int64_t ldk)
{
    for (int64_t j = 0; j < lk; j++)
        for (int64_t x = 0; x < d; x++)
            kt[x * ldk + j] = k[j * d + x];
    for (int64_t x = 0; x < d; x++)
        for (int64_t j = lk; j < ldk; j++)
            kt[x * ldk + j] = 0.0f;
}

// ob(BR rows, ldo) += P(BR x nk, row stride BC) V(nk rows, ldv) over nv
// vectors (16 columns each) of D; `left` columns remain from here (masks the
// last vector). Inlined with constant nv, so each width gets its own loop.
static inline __attribute__((always_inline)) void
pv_chunk(const int nv, const float *pb, const float *vp, int64_t ldv, int64_t nk, float *ob,
         int64_t ldo, int64_t nr, int64_t left)
{
    __mmask16 mk[3];
#pragma GCC unroll 3
    for (int c = 0; c < 3; c++) {
        int64_t l = left - 16 * c;
        mk[c] = l >= 16 ? 0xffff : l <= 0 ? 0 : (__mmask16)((1u << l) - 1);
    }
    // Every loop over the register arrays is unrolled in full: a loop left
    // rolled makes GCC keep acc[][] on the stack (it did: 2x slower).
    __m512 acc[BR][3];
#pragma GCC unroll 8
    for (int r = 0; r < BR; r++)
#pragma GCC unroll 3
        for (int c = 0; c < nv; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < nk; j++, vp += ldv) {
        __m512 vv[3];
#pragma GCC unroll 3
        for (int c = 0; c < nv; c++)
            vv[c] = _mm512_maskz_loadu_ps(mk[c], vp + 16 * c);
#pragma GCC unroll 8
        for (int r = 0; r < BR; r++) {
            const __m512 pv = _mm512_set1_ps(pb[r * BC + j]);
#pragma GCC unroll 3
            for (int c = 0; c < nv; c++)
                acc[r][c] = _mm512_fmadd_ps(pv, vv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < BR; r++)
        if (r < nr)
#pragma GCC unroll 3
        for (int c = 0; c < nv; c++) {
            float *op = ob + r * ldo + 16 * c;
            _mm512_mask_storeu_ps(op, mk[c], _mm512_add_ps(_mm512_maskz_loadu_ps(mk[c], op), acc[r][c]));
        }
}

// One block of up to BR query rows [i0, i0+nr) of one head.
static void flash_block(const struct cb_attn_args *a, const float *q, const float *kt,
                        int64_t ldk, const float *v, float *o, float *lse, int64_t i0,
                        int64_t nr, float *work)
{
    const int64_t D = a->head_dim;
    float *ob = work, *pb = work + BR * D;  // O block (BR x D), P block (BR x BC)
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    float m[BR], l[BR];
    int64_t vis[BR], vmax = 0;
    for (int r = 0; r < BR; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
        vis[r] = r < nr ? cb_attn_visible_keys(a, i0 + r) : 0;
        vmax = vis[r] > vmax ? vis[r] : vmax;
    }
    memset(ob, 0, (size_t)(BR * D) * sizeof *ob);
    const __m512 vscale = _mm512_set1_ps(scale);

    for (int64_t j0 = 0; j0 < vmax; j0 += BC) {
        // S = Q K^T for 8 rows x 48 keys (rows past nr read row 0: discarded)
        __m512 s[BR][3];
#pragma GCC unroll 8
        for (int r = 0; r < BR; r++)
            s[r][0] = s[r][1] = s[r][2] = _mm512_setzero_ps();
        const float *kp = kt + j0;
        for (int64_t x = 0; x < D; x++, kp += ldk) {
            const __m512 k0 = _mm512_loadu_ps(kp), k1 = _mm512_loadu_ps(kp + 16),
                         k2 = _mm512_loadu_ps(kp + 32);
#pragma GCC unroll 8
            for (int r = 0; r < BR; r++) {
                const __m512 qv = _mm512_set1_ps(q[(r < nr ? r : 0) * D + x]);
                s[r][0] = _mm512_fmadd_ps(qv, k0, s[r][0]);
                s[r][1] = _mm512_fmadd_ps(qv, k1, s[r][1]);
                s[r][2] = _mm512_fmadd_ps(qv, k2, s[r][2]);
            }
        }
        // Mask, online softmax, P into pb.
#pragma GCC unroll 8
        for (int r = 0; r < BR; r++) {
            const int64_t lim = vis[r] - j0;  // keys [j0, j0+lim) visible
            __m512 rowmax = _mm512_set1_ps(-INFINITY);
#pragma GCC unroll 3
            for (int c = 0; c < 3; c++) {
                int64_t left = lim - 16 * c;
                __mmask16 keep = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
                s[r][c] = _mm512_mask_mul_ps(_mm512_set1_ps(-INFINITY), keep, s[r][c], vscale);
                rowmax = _mm512_max_ps(rowmax, s[r][c]);
            }
            const float bm = _mm512_reduce_max_ps(rowmax);
            const float mnew = bm > m[r] ? bm : m[r];
            if (mnew == -INFINITY) {  // nothing visible yet in this row
#pragma GCC unroll 3
                for (int c = 0; c < 3; c++)
                    _mm512_storeu_ps(pb + r * BC + 16 * c, _mm512_setzero_ps());
                continue;
            }
            const float corr = m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew);
            const __m512 vm = _mm512_set1_ps(mnew);
            __m512 sum = _mm512_setzero_ps();
#pragma GCC unroll 3
            for (int c = 0; c < 3; c++) {
                __m512 p = exp512(_mm512_sub_ps(s[r][c], vm));  // exp(-inf) -> 0
                _mm512_storeu_ps(pb + r * BC + 16 * c, p);
                sum = _mm512_add_ps(sum, p);
            }
            l[r] = l[r] * corr + _mm512_reduce_add_ps(sum);
            m[r] = mnew;
            if (corr != 1.0f) {
                const __m512 vc = _mm512_set1_ps(corr);
                for (int64_t x = 0; x < D; x += 16) {
                    __mmask16 mk = D - x >= 16 ? 0xffff : (__mmask16)((1u << (D - x)) - 1);
                    _mm512_mask_storeu_ps(ob + r * D + x, mk,
                                          _mm512_mul_ps(vc, _mm512_maskz_loadu_ps(mk, ob + r * D + x)));
                }
            }
        }
        // O += P V for the keys of this block, up to 48 columns of D at a time
        // (the last chunk only as wide as D needs: D = 64 is 48 + 16).
        const int64_t nk = vmax - j0 < BC ? vmax - j0 : BC;
        for (int64_t x0 = 0; x0 < D; x0 += 48) {
            const int64_t left = D - x0;
            if (left > 32)
                pv_chunk(3, pb, v + j0 * D + x0, D, nk, ob + x0, D, nr, left);
            else if (left > 16)
                pv_chunk(2, pb, v + j0 * D + x0, D, nk, ob + x0, D, nr, left);
            else
                pv_chunk(1, pb, v + j0 * D + x0, D, nk, ob + x0, D, nr, left);
        }
    }
    for (int64_t r = 0; r < nr; r++) {
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        for (int64_t x = 0; x < D; x++)
            o[(i0 + r) * D + x] = ob[r * D + x] * inv;
        if (lse)
            lse[i0 + r] = l[r] > 0.0f ? m[r] + logf(l[r]) : -INFINITY;
    }
}

// Per thread: the O block (BR x D), then the P block (BR x BC).
static int64_t work_floats(int64_t D)
{
    return BR * D + BR * BC;
}

// The shared driver: plan, workspaces, the threads' split of heads and blocks.
#define AF_BR BR
#define AF_KALIGN BC
#define af_pack_kt pack_kt
#define af_work_floats work_floats
#define af_block flash_block
#include "../common/attn_fwd_driver.h"

const struct cb_kernel cb_attn_avx512_kernels[] = {
    {
        .name = "attn_f32_avx512_flash",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX512,
        .isa = CB_ISA_GROUP_AVX512,
        .priority = 30,
        .plan = af_plan_create,
        .run = af_run,
        .plan_free = af_plan_free,
        .desc = "flash attention forward: 8x48 tiles, online softmax, O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
