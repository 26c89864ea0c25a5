// kernel_tables.h: the per-file kernel tables registry.c lists. Private to
// kernels/; each table is NULL-name terminated.
#ifndef CHIPBENCH_KERNEL_TABLES_H
#define CHIPBENCH_KERNEL_TABLES_H

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"

extern const struct cb_kernel cb_gemm_ref_kernels[];
extern const struct cb_kernel cb_attn_ref_kernels[];
extern const struct cb_kernel cb_gemm_avx2_kernels[];
extern const struct cb_kernel cb_attn_avx2_kernels[];
extern const struct cb_kernel cb_attn_bwd_avx2_kernels[];
extern const struct cb_kernel cb_gemm_avx512_kernels[];
extern const struct cb_kernel cb_gemm_bf16_avx512_kernels[];
extern const struct cb_kernel cb_attn_avx512_kernels[];
#if CB_HAVE_AMX
extern const struct cb_kernel cb_gemm_bf16_amx_kernels[];
#endif
#if CB_HAVE_NEON
extern const struct cb_kernel cb_gemm_neon_kernels[];
extern const struct cb_kernel cb_attn_neon_kernels[];
extern const struct cb_kernel cb_attn_bwd_neon_kernels[];
#endif
extern const struct cb_kernel cb_gemm_openblas_kernels[];
extern const struct cb_kernel cb_attn_openblas_kernels[];
extern const struct cb_kernel cb_gemm_onednn_kernels[];
extern const struct cb_kernel cb_gemm_opencl_kernels[];
extern const struct cb_kernel cb_gemm_mma_opencl_kernels[];
extern const struct cb_kernel cb_gemm_clblast_kernels[];
extern const struct cb_kernel cb_gemm_cublas_kernels[];
extern const struct cb_kernel cb_attn_opencl_kernels[];
extern const struct cb_kernel cb_attn_mma_opencl_kernels[];
extern const struct cb_kernel cb_attn_bwd_ref_kernels[];
extern const struct cb_kernel cb_attn_bwd_opencl_kernels[];
extern const struct cb_kernel cb_attn_bwd_avx512_kernels[];
extern const struct cb_kernel cb_attn_bwd_openblas_kernels[];
extern const struct cb_kernel cb_stream_ref_kernels[];
extern const struct cb_kernel cb_stream_avx2_kernels[];
extern const struct cb_kernel cb_stream_avx512_kernels[];
extern const struct cb_kernel cb_stream_opencl_kernels[];
extern const struct cb_kernel cb_allreduce_mpi_kernels[];
extern const struct cb_kernel cb_absent_kernels[];

// Row softmax of the AVX-512 file, for the composed attention baseline; call
// only when cb_cpu_features() has CB_ISA_GROUP_AVX512.
float cb_softmax_row_avx512(float *x, int64_t n, int64_t ld);
// Row pass of the AVX-512 attention backward, for the composed backward
// baseline: s[0,n) = exp(s - lse), dp[0,n) = s (dp - di), both zero on
// [n, ld). Same condition as above.
void cb_attn_bwd_row_avx512(float *s, float *dp, int64_t n, int64_t ld, float lse, float di);
// The same two on AVX2 (attn_avx2.c, attn_bwd_avx2.c): call only when
// cb_cpu_features() has CB_ISA_GROUP_AVX2.
float cb_softmax_row_avx2(float *x, int64_t n, int64_t ld);
void cb_attn_bwd_row_avx2(float *s, float *dp, int64_t n, int64_t ld, float lse, float di);

// Which of those rows the composed attention baselines run on this CPU
// (after any CHIPBENCH_ISA cap): 2 the AVX-512 ones, 1 the AVX2 ones, 0 the
// portable scalar loops.
static inline int cb_attn_baseline_simd(void)
{
    const uint64_t f = cb_cpu_features();
#if CB_HAVE_AVX512
    if ((f & CB_ISA_GROUP_AVX512) == CB_ISA_GROUP_AVX512)
        return 2;
#endif
#if CB_HAVE_AVX2
    if ((f & CB_ISA_GROUP_AVX2) == CB_ISA_GROUP_AVX2)
        return 1;
#endif
    (void)f;
    return 0;
}

#endif
