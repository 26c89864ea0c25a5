// gemm_bf16_amx.c: bf16 GEMM (bf16 A and B, f32 accumulate and C) on Intel's
// AMX tile unit (AMX-TILE + AMX-BF16: Sapphire Rapids, Emerald Rapids and
// later Xeons). Compiled with the AMX flags only; selected at run time when
// CPUID, XCR0 (tile state, bits 17 and 18) and Linux's per-process
// permission (arch_prctl, kernels/cpu_features.c) all allow it. Not an int8
// or fp16 kernel; the plain version is gemm_bf16_ref, the vector one
// gemm_bf16_avx512_8x48.
//
// gemm_bf16_amx_32x32: the driver of kernels/common/gemm_driver.h with a
// 32x32 tile of C in four tile registers (16 rows x 64 bytes each):
//   tmm0 tmm1   C rows 0-15:  columns 0-15 | 16-31, f32
//   tmm2 tmm3   C rows 16-31: columns 0-15 | 16-31
//   tmm4 tmm5   A rows 0-15 | 16-31, 32 k values per row
//   tmm6 tmm7   B columns 0-15 | 16-31, 16 rows of (k, k+1) pairs
// Per 32 k values: 4 tile loads (4 KiB) and 4 tdpbf16ps (16x16x32 each).
// B is packed by the driver exactly as for vdpbf16ps (GD_KP = 2: per k pair,
// NR columns of (k, k+1)), which is the tile unit's B layout: 128-byte rows,
// the two B tiles 64 bytes apart. A is packed here (GD_PACK_A) chunk by
// chunk of 32 k values: the panel's 32 rows of 64 bytes, which tileloadd
// reads with a 64-byte stride. Blocks are zero-padded to whole chunks
// (GD_KR = 32); zeros add nothing to the sums.
// Rounding: inputs are bf16 already (rounded to nearest even in set-up);
// tdpbf16ps treats bf16 denormal inputs as zero, accumulates in f32 with
// round to nearest even and flushes denormal results (Intel SDM, TDPBF16PS),
// the same contract as vdpbf16ps, so the same tolerance applies.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "amx_config.h"
#include "avx512_math.h"

#define GD_MR 32
#define GD_NR 32
#define GD_IN_T uint16_t
#define GD_KP 2
#define GD_KR 32
// Each 32-value k step of the tile unit does 64 k-steps' worth of a zmm
// kernel's work, so C's loads and stores per k block (f32, 8 bytes per
// element and block) cost it 16x more per flop: with KC = 384 (A in half of
// L1) they held 2048^3 to about 900 GFLOP/s on 1 thread here. A micro-panels
// of L2 / 16 (KC = 2048 with a 2 MiB L2, NC = 256) read A from L2 instead,
// which the tile loads absorb: 2048^3 997, 4096x768x3072 nt 893 (from 773),
// 1024x4096x4096 914 (from 778), medians of 5 interleaved runs.
#define GD_KC_MAX 2048
#define GD_A_PANEL_BYTES(l1, l2) ((l2) / 16)
#define GD_UKERNEL ukernel_amx_32x32
#define GD_PACK_A pack_a_amx
#define GD_THREAD_BEGIN amx_config_16x64
#define GD_THREAD_END _tile_release

struct cb_gemm_args;
static void pack_a_amx(const struct cb_gemm_args *g, uint16_t *dst, int64_t i0, int64_t mb,
                       int64_t p0, int64_t kb, int64_t q0, int64_t q1, int64_t kp);

// C(32,32) = alpha * Ap Bp + beta * C over kg k pairs (a multiple of 16);
// beta == 0: C not read.
// Tile registers are not renamed, so a load into tmm4 waits for the last
// tdpbf16ps reading tmm4: each step's loads are issued right after the last
// product that reads the register they refill (software pipelining). The
// accumulators start at zero; C's 64 lines are prefetched over the k loop
// and merged at the end from the local tile, so no product waits on C.
// Against the plain order (all loads, then the products; C loaded into the
// accumulators first) this measured level here, within the VM's noise
// (best of 7 runs: 870 vs 873 GFLOP/s at 1024^3, 905 vs 903 at 2048^3):
// what held the kernel back was C's traffic per k block (GD_A_PANEL_BYTES).
// It stays for its lack of a C-load stall at the start of each tile.
static void ukernel_amx_32x32(int64_t kg, const uint16_t *restrict ap,
                              const uint16_t *restrict bp, float *c, int64_t ldc, float alpha,
                              float beta)
{
    const int64_t steps = kg / 16;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ap, 64);
    _tile_loadd(6, bp, 128);
    _tile_loadd(7, bp + 32, 128);
    _tile_loadd(5, ap + 16 * 32, 64);
    // C prefetches: 64 lines (32 rows x 128 bytes), spread over the steps.
    const int64_t per = (64 + steps - 1) / steps;
    int64_t line = 0;
    for (int64_t s = 1; s < steps; s++) {
        ap += 32 * 32;  // 32 rows x 32 k
        bp += 32 * 32;  // 16 k pairs x 32 columns x 2
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(4, ap, 64);
        _tile_dpbf16ps(2, 5, 6);
        _tile_loadd(6, bp, 128);
        _tile_dpbf16ps(3, 5, 7);
        _tile_loadd(7, bp + 32, 128);
        _tile_loadd(5, ap + 16 * 32, 64);
        for (int64_t i = 0; i < per && line < 64; i++, line++)
            _mm_prefetch((const char *)(c + (line >> 1) * ldc + (line & 1) * 16), _MM_HINT_T0);
    }
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
    if (alpha == 1.0f && beta == 0.0f) {
        const size_t ldb = (size_t)ldc * sizeof(float);
        _tile_stored(0, c, ldb);
        _tile_stored(1, c + 16, ldb);
        _tile_stored(2, c + 16 * ldc, ldb);
        _tile_stored(3, c + 16 * ldc + 16, ldb);
        return;
    }
    _Alignas(64) float t[32 * 32];
    _tile_stored(0, t, 128);
    _tile_stored(1, t + 16, 128);
    _tile_stored(2, t + 16 * 32, 128);
    _tile_stored(3, t + 16 * 32 + 16, 128);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < 32; r++)
        for (int h = 0; h < 32; h += 16) {
            __m512 x = _mm512_load_ps(t + r * 32 + h);
            if (alpha != 1.0f)
                x = _mm512_mul_ps(va, x);
            if (beta == 1.0f)
                x = _mm512_add_ps(x, _mm512_loadu_ps(c + r * ldc + h));
            else if (beta != 0.0f)
                x = _mm512_fmadd_ps(vb, _mm512_loadu_ps(c + r * ldc + h), x);
            _mm512_storeu_ps(c + r * ldc + h, x);
        }
}

#include "../common/gemm_driver.h"

// k values [0, n) of 32 (n clamped to [0, 32]).
static inline __mmask32 first32(int64_t n)
{
    return n >= 32 ? ~(__mmask32)0 : n <= 0 ? 0 : (((__mmask32)1 << n) - 1);
}

// One 32-value chunk of 16 panel rows from A stored k x m (k down A's rows):
// rows [0, rn) and k [0, kn) of the chunk come from s (A(k, i) at
// s[k * lda + i]), the rest is zero. Each pair of source rows becomes 16
// (k, k+1) units (row k zero-extended, row k+1 in the high halves), one per
// panel row; a 16x16 transpose of the units gives each panel row its 32
// values (64 bytes), stored at d + r * 32.
static inline void pack_tn_16x32(const uint16_t *s, int64_t lda, int64_t kn, int64_t rn,
                                 uint16_t *d)
{
    const __mmask16 m = rn >= 16 ? 0xffff : rn <= 0 ? 0 : cols16((int)rn);
    __m512 u[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
        const __m512i lo = 2 * j < kn ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(
                                            m, s + 2 * j * lda))
                                      : _mm512_setzero_si512();
        const __m512i hi = 2 * j + 1 < kn ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(
                                                m, s + (2 * j + 1) * lda))
                                          : _mm512_setzero_si512();
        u[j] = _mm512_castsi512_ps(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
    transpose16_512(u);
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++)
        _mm512_store_ps((float *)(void *)(d + r * 32), u[r]);
}

// Panel q, chunk j (32 k values): 32 rows x 32 values at
// dst + q * 32 * kp + j * 32 * 32; row r of it holds A(i, p0 + 32 j ..) for
// i = i0 + 32 q + r, zeros past mb rows and kb values.
static void pack_a_amx(const struct cb_gemm_args *g, uint16_t *dst, int64_t i0, int64_t mb,
                       int64_t p0, int64_t kb, int64_t q0, int64_t q1, int64_t kp)
{
    const uint16_t *a = g->a;
    const int64_t lda = g->lda;
    for (int64_t q = q0; q < q1; q++) {
        uint16_t *d = dst + q * GD_MR * kp;
        const int64_t rows = gd_min(GD_MR, mb - q * GD_MR), r0 = i0 + q * GD_MR;
        if (!g->trans_a) {
            // k along A's rows: each row's 64-byte pieces copied whole.
            for (int64_t r = 0; r < GD_MR; r++) {
                const uint16_t *s = a + (r0 + r) * lda + p0;
                if (r + 4 < rows)
                    for (int64_t p = 0; p < kb; p += 32)
                        _mm_prefetch((const char *)(s + 4 * lda + p), _MM_HINT_T0);
                for (int64_t p = 0; p < kp; p += 32)
                    _mm512_store_si512(d + p * GD_MR + r * 32,
                                       r < rows ? _mm512_maskz_loadu_epi16(first32(kb - p), s + p)
                                                : _mm512_setzero_si512());
            }
        } else {
            for (int64_t p = 0; p < kp; p += 32)
                for (int64_t h = 0; h < GD_MR; h += 16)
                    pack_tn_16x32(a + (p0 + p) * lda + r0 + h, lda, kb - p, rows - h,
                                  d + p * GD_MR + h * 32);
        }
    }
}

const struct cb_kernel cb_gemm_bf16_amx_kernels[] = {
    {
        .name = "gemm_bf16_amx_32x32",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_AMX,
        .isa = CB_ISA_GROUP_AVX512 | CB_ISA_AMX_TILE | CB_ISA_AMX_BF16,
        .priority = 40,
        .mr = GD_MR,
        .nr = GD_NR,
        .plan = gd_plan_create,
        .run = gd_run,
        .plan_free = gd_plan_free,
        .desc = "AMX tiles: 32x32 of C in 4 tile registers, tdpbf16ps, f32 accumulate, pinned "
                "threads",
    },
    {.name = NULL},
};
