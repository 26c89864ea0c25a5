// stream_avx512.c: the STREAM triad a = b + scalar * c with AVX-512 FMA,
// threads (cb_pool) over contiguous chunks of 16-float (64-byte) multiples.
// When the three arrays together exceed the last-level cache, a is written
// with non-temporal stores, below that with ordinary ones (the plan and the
// threading are in kernels/common/stream_driver.h).
#include <immintrin.h>
#include <stdint.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

#define VW 16

static void triad_range(float *a, const float *b, const float *c, float q, int64_t n, int nt)
{
    const __m512 vq = _mm512_set1_ps(q);
    int64_t i = 0;
    if (nt) {
        // Scalar head up to a 64-byte boundary of a (streaming stores need it).
        while (i < n && ((uintptr_t)(a + i) & 63))
            a[i] = b[i] + q * c[i], i++;
        for (; i + 2 * VW <= n; i += 2 * VW) {
            __m512 x0 = _mm512_fmadd_ps(vq, _mm512_loadu_ps(c + i), _mm512_loadu_ps(b + i));
            __m512 x1 = _mm512_fmadd_ps(vq, _mm512_loadu_ps(c + i + VW),
                                        _mm512_loadu_ps(b + i + VW));
            _mm512_stream_ps(a + i, x0);
            _mm512_stream_ps(a + i + VW, x1);
        }
    } else {
        for (; i + 2 * VW <= n; i += 2 * VW) {
            __m512 x0 = _mm512_fmadd_ps(vq, _mm512_loadu_ps(c + i), _mm512_loadu_ps(b + i));
            __m512 x1 = _mm512_fmadd_ps(vq, _mm512_loadu_ps(c + i + VW),
                                        _mm512_loadu_ps(b + i + VW));
            _mm512_storeu_ps(a + i, x0);
            _mm512_storeu_ps(a + i + VW, x1);
        }
    }
    for (; i < n; i += VW) {  // masked tail
        int64_t r = n - i < VW ? n - i : VW;
        __mmask16 m = (__mmask16)((1u << r) - 1u);
        __m512 x = _mm512_fmadd_ps(vq, _mm512_maskz_loadu_ps(m, c + i),
                                   _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(a + i, m, x);
    }
    if (nt)
        _mm_sfence();  // streaming stores visible before the pool's barrier
}

// The plan, the chunking over threads and the table-facing functions.
#define SD_VW VW
#define SD_TRIAD triad_range
#include "../common/stream_driver.h"

const struct cb_kernel cb_stream_avx512_kernels[] = {
    {
        .name = "stream_f32_avx512",
        .op = CB_OP_STREAM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX512,
        .isa = CB_ISA_GROUP_AVX512,  // the file is built with -mavx512bw/vl/dq
        .priority = 30,
        .plan = sd_plan_create,
        .run = sd_run,
        .plan_free = sd_plan_free,
        .desc = "STREAM triad, AVX-512 FMA, non-temporal stores above the LLC, pinned threads",
    },
    {.name = NULL},
};
