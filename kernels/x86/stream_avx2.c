// stream_avx2.c: the STREAM triad a = b + scalar * c with AVX2 FMA,
// threads (cb_pool) over contiguous chunks of 8-float (32-byte) multiples.
// When the three arrays together exceed the last-level cache, a is written
// with non-temporal stores, below that with ordinary ones (the plan and the
// threading are in kernels/common/stream_driver.h).
#include <immintrin.h>
#include <stdint.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

#define VW 8

static void triad_range(float *a, const float *b, const float *c, float q, int64_t n, int nt)
{
    const __m256 vq = _mm256_set1_ps(q);
    int64_t i = 0;
    if (nt) {
        // Scalar head up to a 32-byte boundary of a (streaming stores need it).
        while (i < n && ((uintptr_t)(a + i) & 31))
            a[i] = b[i] + q * c[i], i++;
        for (; i + 2 * VW <= n; i += 2 * VW) {
            __m256 x0 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i));
            __m256 x1 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(c + i + VW),
                                        _mm256_loadu_ps(b + i + VW));
            _mm256_stream_ps(a + i, x0);
            _mm256_stream_ps(a + i + VW, x1);
        }
    } else {
        for (; i + 2 * VW <= n; i += 2 * VW) {
            __m256 x0 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i));
            __m256 x1 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(c + i + VW),
                                        _mm256_loadu_ps(b + i + VW));
            _mm256_storeu_ps(a + i, x0);
            _mm256_storeu_ps(a + i + VW, x1);
        }
    }
    for (; i < n; i++)  // scalar tail
        a[i] = b[i] + q * c[i];
    if (nt)
        _mm_sfence();  // streaming stores visible before the pool's barrier
}

// The plan, the chunking over threads and the table-facing functions.
#define SD_VW VW
#define SD_TRIAD triad_range
#include "../common/stream_driver.h"

const struct cb_kernel cb_stream_avx2_kernels[] = {
    {
        .name = "stream_f32_avx2",
        .op = CB_OP_STREAM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX2,
        .isa = CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA,
        .priority = 20,
        .plan = sd_plan_create,
        .run = sd_run,
        .plan_free = sd_plan_free,
        .desc = "STREAM triad, AVX2 FMA, non-temporal stores above the LLC, pinned threads",
    },
    {.name = NULL},
};
