// attn_fwd_lanes.h: the flash-attention forward of the CPU kernels that put
// a block's query rows along the vector lanes (attn_avx512.c, attn_avx2.c;
// the layout and why are described at the top of attn_avx512.c): the block
// loop, the per-thread buffers, the rows' visible-key counts, the prefetches
// of the last key block and the lse. The kernel file supplies the vector
// steps, then includes this file (everything is static and compiled with that
// file's ISA flags). Before including, define AFL_QB (query rows per block)
// and AFL_NK (keys per online-softmax block), and:
//   struct afl_rows      the rows' per-lane state (visible keys, running max
//                        m in base 2, sum l, the last rescale factor)
//   afl_rows_init(s, vis), afl_rows_ml(s, m, l)   set up; m and l per row
//   afl_pack_q(ng, q, D, nr, qscale, qt)   qt (D x QB) = qscale Q^T, 0 past nr
//   afl_scores(ng, qt, k, D, Lk, j0, nk, vmin, s, pt)
//                        keys [j0, j0+nk): S^T into pt (nk x QB), masked,
//                        then P^T = 2^(S^T - m_new) there; m, l, rescale
//   afl_pv(ng, pt, v_j0, D, nk, first, s, ot)   ot = rescale ot + V^T P^T (ot
//                        not read when first)
//   afl_unpack_o(ot, D, nr, s, o)   o (nr x D) = O^T / l (0 where l = 0)
// The steps with ng work on the block's first ng groups of 16 lanes only
// (ng = 1 to AFL_QB / 16, a constant in each inlined copy): a block of at
// most 16 or 32 rows, the last of a head whose length is not a multiple of
// AFL_QB, costs a third or two thirds of a whole one. At Lq = 1024, 21
// blocks of 48 rows and one of 16, the lanes computed for nothing were 3%
// of the work.
#ifndef CHIPBENCH_ATTN_FWD_LANES_H
#define CHIPBENCH_ATTN_FWD_LANES_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

// The shared driver: plan, workspaces, the threads' split of heads and
// blocks. No af_pack_kt: K is read in place.
#define AF_BR AFL_QB
#define AF_KALIGN 1
#define AF_WS_EXTRA                                                  \
    float *qt; /* Q^T of the block, D x QB, times scale log2(e) */    \
    float *pt; /* S^T then P^T of a key block, NK x QB */            \
    float *ot; /* unnormalized O^T of the block, D x QB */
#define af_block flash_block
#include "attn_fwd_driver.h"

static int af_ws_extra_alloc(struct af_ws *w, int64_t D)
{
    w->qt = af_ws_alloc(D * AFL_QB);
    w->pt = af_ws_alloc(AFL_NK * AFL_QB);
    w->ot = af_ws_alloc(D * AFL_QB);
    return w->qt && w->pt && w->ot;
}

static void af_ws_extra_free(struct af_ws *w)
{
    cb_free(w->qt);
    cb_free(w->pt);
    cb_free(w->ot);
}

// vis[r] = keys row i0 + r sees (0 for r >= nr, the block's unused lanes);
// *vmin, *vmax their least and greatest.
static void afl_visible(const struct cb_attn_args *a, int64_t i0, int64_t nr, int32_t *vis,
                        int64_t *vmin, int64_t *vmax)
{
    *vmax = 0;
    *vmin = INT64_MAX;
    for (int r = 0; r < AFL_QB; r++) {
        const int64_t n = r < nr ? cb_attn_visible_keys(a, i0 + r) : 0;
        vis[r] = (int32_t)n;
        *vmax = n > *vmax ? n : *vmax;
        *vmin = n < *vmin ? n : *vmin;
    }
}

// Called in the last key block: fetch this block's O rows (written next) and
// the head's next AFL_QB query rows (the next block when a thread takes whole
// heads), which otherwise stall on L3 or DRAM (on the AVX-512 kernel the
// transposes took 4.0% of the time at L = 1024 without this, 2.5% with it).
static void afl_prefetch_last(const struct cb_attn_args *a, const float *q, const float *o,
                              int64_t i0, int64_t nr)
{
    const int64_t D = a->head_dim;
    const int64_t qend = i0 + nr + AFL_QB < a->seq_q ? nr + AFL_QB : a->seq_q - i0;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t x = 0; x < D; x += 16)
            _mm_prefetch((const char *)(o + (i0 + r) * D + x), _MM_HINT_ET0);
    for (int64_t e = nr * D; e < qend * D; e += 16)
        _mm_prefetch((const char *)(q + e), _MM_HINT_T1);
}

// lse of rows [i0, i0+nr) from the base-2 running max m and sum l (one per
// lane): ln 2 (m + log2 l), or -inf for a row that saw no key.
static void afl_write_lse(float *lse, int64_t i0, int64_t nr, const float *m, const float *l)
{
    for (int64_t r = 0; r < nr; r++)
        lse[i0 + r] = l[r] > 0.0f ? m[r] * 0.693147180559945309f + logf(l[r]) : -INFINITY;
}

// One block of up to 16 ng query rows [i0, i0+nr) of one head (q at row
// i0; k the kv head's K, Lk x D, read in place: ldk = D; o and lse at the
// head's row 0, lse may be NULL).
static inline __attribute__((always_inline)) void
flash_block_g(const int ng, const struct cb_attn_args *a, const float *q, const float *k,
              int64_t ldk, const float *v, float *o, float *lse, int64_t i0, int64_t nr,
              struct af_ws *w)
{
    const int64_t D = a->head_dim;
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    int32_t vis[AFL_QB];
    int64_t vmin, vmax;
    struct afl_rows s;
    (void)ldk;
    afl_visible(a, i0, nr, vis, &vmin, &vmax);
    afl_rows_init(&s, vis);
    afl_pack_q(ng, q, D, nr, scale * 1.44269504088896341f, w->qt);  // log2(e): base-2 softmax
    for (int64_t j0 = 0; j0 < vmax; j0 += AFL_NK) {
        const int64_t nk = vmax - j0 < AFL_NK ? vmax - j0 : AFL_NK;
        if (j0 + AFL_NK >= vmax)
            afl_prefetch_last(a, q, o, i0, nr);
        afl_scores(ng, w->qt, k, D, a->seq_kv, j0, nk, vmin, &s, w->pt);
        afl_pv(ng, w->pt, v + j0 * D, D, nk, j0 == 0, &s, w->ot);
    }
    if (vmax == 0)  // no row sees a key: ot was never written
        memset(w->ot, 0, (size_t)(D * AFL_QB) * sizeof *w->ot);
    afl_unpack_o(w->ot, D, nr, &s, o + i0 * D);
    if (lse) {
        float m[AFL_QB], l[AFL_QB];
        afl_rows_ml(&s, m, l);
        afl_write_lse(lse, i0, nr, m, l);
    }
}

static void flash_block(const struct cb_attn_args *a, const float *q, const float *k,
                        int64_t ldk, const float *v, float *o, float *lse, int64_t i0,
                        int64_t nr, struct af_ws *w)
{
    _Static_assert(AFL_QB == 48, "three groups of 16 lanes");
    if (nr <= 16)
        flash_block_g(1, a, q, k, ldk, v, o, lse, i0, nr, w);
    else if (nr <= 32)
        flash_block_g(2, a, q, k, ldk, v, o, lse, i0, nr, w);
    else
        flash_block_g(3, a, q, k, ldk, v, o, lse, i0, nr, w);
}

#endif
