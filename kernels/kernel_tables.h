// kernel_tables.h: the per-file kernel tables registry.c lists. Private to
// kernels/; each table is NULL-name terminated.
#ifndef CHIPBENCH_KERNEL_TABLES_H
#define CHIPBENCH_KERNEL_TABLES_H

#include "chipbench/cb_kernel.h"

extern const struct cb_kernel cb_gemm_ref_kernels[];
extern const struct cb_kernel cb_attn_ref_kernels[];
extern const struct cb_kernel cb_gemm_avx2_kernels[];
extern const struct cb_kernel cb_gemm_avx512_kernels[];
extern const struct cb_kernel cb_gemm_bf16_avx512_kernels[];
extern const struct cb_kernel cb_attn_avx512_kernels[];
#if CB_HAVE_NEON
extern const struct cb_kernel cb_gemm_neon_kernels[];
#endif
extern const struct cb_kernel cb_gemm_openblas_kernels[];
extern const struct cb_kernel cb_attn_openblas_kernels[];
extern const struct cb_kernel cb_gemm_onednn_kernels[];

#endif
