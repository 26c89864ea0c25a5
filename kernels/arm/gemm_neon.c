// gemm_neon.c: f32 GEMM for AArch64 Advanced SIMD (NEON). NEON is baseline
// on AArch64, so this file needs no -m flags; the Makefile compiles it (and
// defines CB_HAVE_NEON) only when $(CC) targets aarch64.
//
// gemm_f32_neon_8x12: the BLIS-style driver of kernels/common/gemm_driver.h
// around an 8x12 register tile (the MR x NR of BLIS's armv8a sgemm; here
// the vectors run along the rows of row-major C).
//   v0-23   accumulate C: row r in v(3r), v(3r+1), v(3r+2) (12 columns)
//   v24-26  the 12 floats of packed B for one k step
//   v27-28  the 8 floats of packed A for one k step; row r is lane r%4 of
//           v(27 + r/4), used directly by fmla (by element), so no
//           broadcast is needed
// Per k step: 5 vector loads, 24 FMAs. 24 independent accumulators cover
// the 4-cycle FMA latency at 2-4 FMA pipes; 29 of the 32 v registers (the
// compiler picks the actual numbers; the map above is the intended use).
#include <arm_neon.h>
#include <stdint.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

#define GD_MR 8
#define GD_NR 12
#define GD_UKERNEL ukernel_8x12

// C(8,12) = alpha * Ap(8,kg) Bp(kg,12) + beta * C; beta == 0: C not read.
static void ukernel_8x12(int64_t kg, const float *restrict ap, const float *restrict bp,
                         float *c, int64_t ldc, float alpha, float beta)
{
    float32x4_t c00 = vdupq_n_f32(0), c01 = vdupq_n_f32(0), c02 = vdupq_n_f32(0);
    float32x4_t c10 = vdupq_n_f32(0), c11 = vdupq_n_f32(0), c12 = vdupq_n_f32(0);
    float32x4_t c20 = vdupq_n_f32(0), c21 = vdupq_n_f32(0), c22 = vdupq_n_f32(0);
    float32x4_t c30 = vdupq_n_f32(0), c31 = vdupq_n_f32(0), c32 = vdupq_n_f32(0);
    float32x4_t c40 = vdupq_n_f32(0), c41 = vdupq_n_f32(0), c42 = vdupq_n_f32(0);
    float32x4_t c50 = vdupq_n_f32(0), c51 = vdupq_n_f32(0), c52 = vdupq_n_f32(0);
    float32x4_t c60 = vdupq_n_f32(0), c61 = vdupq_n_f32(0), c62 = vdupq_n_f32(0);
    float32x4_t c70 = vdupq_n_f32(0), c71 = vdupq_n_f32(0), c72 = vdupq_n_f32(0);

// Lane l of an A vector times the three B vectors (fmla vD.4s, vB.4s, vA.s[l]).
#define ROW(av, l, x0, x1, x2)                                                \
    do {                                                                      \
        x0 = vfmaq_laneq_f32(x0, b0, av, l);                                  \
        x1 = vfmaq_laneq_f32(x1, b1, av, l);                                  \
        x2 = vfmaq_laneq_f32(x2, b2, av, l);                                  \
    } while (0)
#define STEP()                                                                \
    do {                                                                      \
        float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4);               \
        float32x4_t b2 = vld1q_f32(bp + 8);                                   \
        float32x4_t a0 = vld1q_f32(ap), a1 = vld1q_f32(ap + 4);               \
        __builtin_prefetch(bp + 8 * 12);                                      \
        ROW(a0, 0, c00, c01, c02); ROW(a0, 1, c10, c11, c12);                 \
        ROW(a0, 2, c20, c21, c22); ROW(a0, 3, c30, c31, c32);                 \
        ROW(a1, 0, c40, c41, c42); ROW(a1, 1, c50, c51, c52);                 \
        ROW(a1, 2, c60, c61, c62); ROW(a1, 3, c70, c71, c72);                 \
        ap += 8;                                                              \
        bp += 12;                                                             \
    } while (0)

    // Not unrolled by hand (unlike the x86 kernels): with 29 live q
    // registers, GCC 12 hoists the loads of later steps of an unrolled body
    // and spills accumulators to the stack (14 q spills per 4 steps at -O2);
    // one step per iteration compiles to 5 loads + 24 fmla, no spills.
    for (int64_t p = 0; p < kg; p++)
        STEP();
#undef STEP
#undef ROW

    const float32x4_t va = vdupq_n_f32(alpha), vb = vdupq_n_f32(beta);
#define STORE(r, x0, x1, x2)                                                  \
    do {                                                                      \
        float *cr = c + (r) * ldc;                                            \
        if (beta == 0.0f) {                                                   \
            vst1q_f32(cr, vmulq_f32(va, x0));                                 \
            vst1q_f32(cr + 4, vmulq_f32(va, x1));                             \
            vst1q_f32(cr + 8, vmulq_f32(va, x2));                             \
        } else {                                                              \
            vst1q_f32(cr, vfmaq_f32(vmulq_f32(va, x0), vb, vld1q_f32(cr)));   \
            vst1q_f32(cr + 4, vfmaq_f32(vmulq_f32(va, x1), vb, vld1q_f32(cr + 4))); \
            vst1q_f32(cr + 8, vfmaq_f32(vmulq_f32(va, x2), vb, vld1q_f32(cr + 8))); \
        }                                                                     \
    } while (0)
    STORE(0, c00, c01, c02); STORE(1, c10, c11, c12);
    STORE(2, c20, c21, c22); STORE(3, c30, c31, c32);
    STORE(4, c40, c41, c42); STORE(5, c50, c51, c52);
    STORE(6, c60, c61, c62); STORE(7, c70, c71, c72);
#undef STORE
}

#include "../common/gemm_driver.h"

const struct cb_kernel cb_gemm_neon_kernels[] = {
    {
        .name = "gemm_f32_neon_8x12",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_NEON,
        .isa = CB_ISA_NEON,
        .priority = 20,
        .mr = 8,
        .nr = 12,
        .plan = gd_plan_create,
        .run = gd_run,
        .plan_free = gd_plan_free,
        .desc = "8x12 q-register tile, packed A/B, cache blocking from hwloc, pinned threads",
    },
    {.name = NULL},
};
