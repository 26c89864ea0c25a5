// fake_cuda.c: a stand-in for the CUDA runtime and cuBLAS with the symbols
// kernels/cuda/gemm_cublas.c loads (CHIPBENCH_CUDART_LIB and
// CHIPBENCH_CUBLAS_LIB both point at this one library in the tests), so the
// loader, the row-major to column-major mapping, uploads, readback and
// timing are checked on a machine without a GPU. "Device" memory is host
// memory; the GEMMs are plain column-major loops in double, written from
// cuBLAS's documented semantics (beta == 0 never reads C).
// Knobs, read at each call: FAKE_CUDA_DEVICES (device count, default 1),
// FAKE_CUDA_OOM=1 (cudaMalloc fails with cudaErrorMemoryAllocation).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

int cudaGetDeviceCount(int *n)
{
    *n = env_int("FAKE_CUDA_DEVICES", 1);
    return 0;
}
int cudaSetDevice(int d)
{
    return d >= 0 && d < env_int("FAKE_CUDA_DEVICES", 1) ? 0 : 101;  // invalid device
}
static int props(void *p, int d)
{
    if (d < 0 || d >= env_int("FAKE_CUDA_DEVICES", 1))
        return 101;
    memset(p, 0, 1024);
    snprintf(p, 256, "Fake GPU %d", 9000 + d);
    return 0;
}
int cudaGetDeviceProperties(void *p, int d) { return props(p, d); }
int cudaGetDeviceProperties_v2(void *p, int d) { return props(p, d); }
int cudaDeviceGetPCIBusId(char *buf, int len, int d)
{
    snprintf(buf, (size_t)len, "00000000:0A:%02X.0", d);
    return 0;
}
int cudaRuntimeGetVersion(int *v)
{
    *v = 12040;
    return 0;
}
int cudaMalloc(void **p, size_t n)
{
    if (env_int("FAKE_CUDA_OOM", 0)) {
        *p = NULL;
        return 2;
    }
    *p = malloc(n ? n : 1);
    return *p ? 0 : 2;
}
int cudaFree(void *p)
{
    free(p);
    return 0;
}
int cudaMemcpy(void *dst, const void *src, size_t n, int kind)
{
    (void)kind;
    memcpy(dst, src, n);
    return 0;
}
int cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                 size_t height, int kind)
{
    (void)kind;
    if (width > dpitch || width > spitch)
        return 1;  // cudaErrorInvalidValue
    for (size_t r = 0; r < height; r++)
        memcpy((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return 0;
}
int cudaMemset(void *p, int v, size_t n)
{
    memset(p, v, n);
    return 0;
}
int cudaDeviceSynchronize(void) { return 0; }
int cudaEventCreate(void **e)
{
    *e = calloc(1, sizeof(double));
    return *e ? 0 : 2;
}
int cudaEventRecord(void *e, void *stream)
{
    (void)stream;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    *(double *)e = (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
    return 0;
}
int cudaEventSynchronize(void *e)
{
    (void)e;
    return 0;
}
int cudaEventElapsedTime(float *ms, void *a, void *b)
{
    *ms = (float)(*(double *)b - *(double *)a);
    return 0;
}
int cudaEventDestroy(void *e)
{
    free(e);
    return 0;
}
const char *cudaGetErrorString(int e)
{
    return e == 2 ? "out of memory (fake)" : e == 101 ? "invalid device ordinal (fake)"
                                                       : "fake CUDA error";
}

int cublasCreate_v2(void **h)
{
    *h = malloc(1);
    return *h ? 0 : 3;
}
int cublasDestroy_v2(void *h)
{
    free(h);
    return 0;
}
int cublasGetVersion_v2(void *h, int *v)
{
    (void)h;
    *v = 120403;
    return 0;
}
int cublasSetMathMode(void *h, int mode)
{
    (void)h;
    return mode == 0 ? 0 : 7;  // only the default math is expected
}

// TF32 as cuBLAS's FAST_TF32 math sees an f32 input: 10 stored mantissa
// bits, rounded to nearest (ties away, as PTX's cvt.rna.tf32.f32).
static float tf32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u)
        u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float bf16(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Column-major C(m,n) = alpha op(A) op(B) + beta C; el(X, i, j) reads
// element (i, j) of a column-major matrix with leading dimension ld.
static void gemm(int ta, int tb, int m, int n, int k, float alpha, const void *A, int lda,
                 const void *B, int ldb, float beta, float *C, int ldc, int is_bf16, int is_tf32)
{
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double acc = 0.0;
            for (int p = 0; p < k; p++) {
                size_t ia = ta ? (size_t)p + (size_t)i * lda : (size_t)i + (size_t)p * lda;
                size_t ib = tb ? (size_t)j + (size_t)p * ldb : (size_t)p + (size_t)j * ldb;
                double a = is_bf16   ? bf16(((const uint16_t *)A)[ia])
                           : is_tf32 ? tf32(((const float *)A)[ia])
                                     : ((const float *)A)[ia];
                double b = is_bf16   ? bf16(((const uint16_t *)B)[ib])
                           : is_tf32 ? tf32(((const float *)B)[ib])
                                     : ((const float *)B)[ib];
                acc += a * b;
            }
            float *c = C + i + (size_t)j * ldc;
            *c = beta == 0.0f ? (float)(alpha * acc) : (float)(alpha * acc + beta * *c);
        }
}

int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha,
                   const float *A, int lda, const float *B, int ldb, const float *beta, float *C,
                   int ldc)
{
    (void)h;
    if (lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m)
        return 7;  // CUBLAS_STATUS_INVALID_VALUE
    gemm(ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc, 0, 0);
    return 0;
}

int cublasGemmEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A,
                 int at, int lda, const void *B, int bt, int ldb, const void *beta, void *C, int ct,
                 int ldc, int compute, int algo)
{
    (void)h;
    (void)algo;
    // What the baseline asks for: bf16 x bf16 -> f32 with compute 32F, or
    // f32 x f32 -> f32 with compute 32F_FAST_TF32.
    const int is_bf16 = at == 14 && bt == 14 && compute == 68;
    const int is_tf32 = at == 0 && bt == 0 && compute == 77;
    if (ct != 0 || !(is_bf16 || is_tf32))
        return 15;  // CUBLAS_STATUS_NOT_SUPPORTED
    if (lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m)
        return 7;
    gemm(ta, tb, m, n, k, *(const float *)alpha, A, lda, B, ldb, *(const float *)beta, C, ldc,
         is_bf16, is_tf32);
    return 0;
}
