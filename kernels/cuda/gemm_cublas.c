// gemm_cublas.c: NVIDIA's cuBLAS as the vendor baseline of the GPU GEMM rows
// (gemm_f32_cublas: cublasSgemm, fp32 FMA, no TF32; gemm_tf32_cublas:
// cublasGemmEx on f32 data with TF32 products; gemm_bf16_cublas:
// cublasGemmEx with bf16 inputs, f32 accumulate and output), loaded at run
// time: dlopen of the CUDA runtime and cuBLAS (CHIPBENCH_CUDART_LIB and
// CHIPBENCH_CUBLAS_LIB override the names), so chipbench has no link-time
// dependency on CUDA and a machine without it lists the rows as unavailable
// with the reason.
//
// What it is: the same row layout, poison and float64 check as every GEMM
// kernel, with cuBLAS's own device buffers (uploaded by the plan, like
// gemm_f32_clblast), timed by the harness on the host and by CUDA events
// around each call on the device. Rows carry the GPU's chip class in the
// OpenCL form (opencl:gpu:NVIDIA_Corporation:<name>), so they group with
// the OpenCL rows of the same card in compare and cost, and its PCI address,
// so NVML's energy counter is matched to them.
// What it is not: a CUDA build. Only the C ABI of the few calls below is
// used (cuda_runtime_api.h, cublas_api.h); tests load a fake library
// (tests/fake_cuda.c) with the same symbols.
//
// Row-major to column-major: C (m,n) = op(A) op(B) row-major is, read
// column-major, C^T = op(B)^T op(A)^T, i.e. cuBLAS's gemm with the operands
// swapped: (op_b, op_a, n, m, k, B, ldb, A, lda, C, ldc).
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_ocl.h"
#include "chipbench/cb_power.h"
#include "chipbench/cb_stats.h"
#include "../kernel_tables.h"

// The C ABI (CUDA 11 to 13): error codes are ints, handles and events opaque.
enum {
    CU_MEMCPY_H2D = 1,
    CU_MEMCPY_D2H = 2,
    CU_ERR_NO_MEMORY = 2,
    CUBLAS_OK = 0,
    CUBLAS_ALLOC_FAILED = 3,
    CUBLAS_OP_N = 0,
    CUBLAS_OP_T = 1,
    CUBLAS_DEFAULT_MATH = 0,
    CUDA_R_32F = 0,
    CUDA_R_16BF = 14,
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
    CUBLAS_GEMM_DEFAULT = -1,
};
#define CU_PROP_BYTES 8192  // larger than any cudaDeviceProp; its name is first

static struct {
    void *rt, *blas;
    int tried;
    char why[400];
    int (*count)(int *);
    int (*set_device)(int);
    int (*props)(void *, int);
    int (*pci)(char *, int, int);
    int (*rt_version)(int *);
    int (*malloc_)(void **, size_t);
    int (*free_)(void *);
    int (*memcpy_)(void *, const void *, size_t, int);
    int (*memcpy2d)(void *, size_t, const void *, size_t, size_t, size_t, int);
    int (*memset_)(void *, int, size_t);
    int (*sync)(void);
    int (*ev_create)(void **);
    int (*ev_record)(void *, void *);
    int (*ev_sync)(void *);
    int (*ev_elapsed)(float *, void *, void *);
    int (*ev_destroy)(void *);
    const char *(*err_str)(int);
    int (*create)(void **);
    int (*destroy)(void *);
    int (*version)(void *, int *);
    int (*math_mode)(void *, int);
    int (*sgemm)(void *, int, int, int, int, int, const float *, const float *, int,
                 const float *, int, const float *, float *, int);
    int (*gemm_ex)(void *, int, int, int, int, int, const void *, const void *, int, int,
                   const void *, int, int, const void *, void *, int, int, int, int);
} L;

static const char *cu_err(int e)
{
    const char *s = L.err_str ? L.err_str(e) : NULL;
    return s ? s : "CUDA error";
}

static enum cb_status cu_fail(int e, const char *what)
{
    return cb_set_error(e == CU_ERR_NO_MEMORY ? CB_ERR_NO_MEMORY : CB_ERR_BACKEND,
                        "%s: %s (%d)", what, cu_err(e), e);
}

// dlopen the first name that loads; the error of the first kept for the reason.
static void *open_lib(const char *env, const char *const *names, char *err, size_t len)
{
    const char *over = getenv(env);
    if (over && *over) {
        void *h = dlopen(over, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            snprintf(err, len, "%s=%s: %s", env, over, dlerror());
        return h;
    }
    err[0] = 0;
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
        if (!err[0])
            snprintf(err, len, "%s", dlerror());
    }
    return NULL;
}

#define SYM(h, field, name) (*(void **)&L.field = dlsym(h, name))

// Load both libraries and every symbol once; the reason stays for later calls.
static enum cb_status load(void)
{
    if (L.tried)
        return L.rt && L.blas ? CB_OK : cb_set_error(CB_ERR_UNSUPPORTED, "%s", L.why);
    L.tried = 1;
    static const char *const rt_names[] = {"libcudart.so.13", "libcudart.so.12",
                                           "libcudart.so.11.0", "libcudart.so", NULL};
    static const char *const blas_names[] = {"libcublas.so.13", "libcublas.so.12",
                                             "libcublas.so.11", "libcublas.so", NULL};
    char err[300];
    if (!(L.rt = open_lib("CHIPBENCH_CUDART_LIB", rt_names, err, sizeof err))) {
        snprintf(L.why, sizeof L.why, "CUDA runtime not found (%s)", err);
        return cb_set_error(CB_ERR_UNSUPPORTED, "%s", L.why);
    }
    if (!(L.blas = open_lib("CHIPBENCH_CUBLAS_LIB", blas_names, err, sizeof err))) {
        snprintf(L.why, sizeof L.why, "cuBLAS not found (%s)", err);
        return cb_set_error(CB_ERR_UNSUPPORTED, "%s", L.why);
    }
    int ok = SYM(L.rt, count, "cudaGetDeviceCount") && SYM(L.rt, set_device, "cudaSetDevice") &&
             SYM(L.rt, pci, "cudaDeviceGetPCIBusId") &&
             SYM(L.rt, rt_version, "cudaRuntimeGetVersion") &&
             SYM(L.rt, malloc_, "cudaMalloc") && SYM(L.rt, free_, "cudaFree") &&
             SYM(L.rt, memcpy_, "cudaMemcpy") && SYM(L.rt, memcpy2d, "cudaMemcpy2D") &&
             SYM(L.rt, memset_, "cudaMemset") &&
             SYM(L.rt, sync, "cudaDeviceSynchronize") &&
             SYM(L.rt, ev_create, "cudaEventCreate") && SYM(L.rt, ev_record, "cudaEventRecord") &&
             SYM(L.rt, ev_sync, "cudaEventSynchronize") &&
             SYM(L.rt, ev_elapsed, "cudaEventElapsedTime") &&
             SYM(L.rt, ev_destroy, "cudaEventDestroy") &&
             SYM(L.rt, err_str, "cudaGetErrorString") &&
             SYM(L.blas, create, "cublasCreate_v2") && SYM(L.blas, destroy, "cublasDestroy_v2") &&
             SYM(L.blas, version, "cublasGetVersion_v2") &&
             SYM(L.blas, math_mode, "cublasSetMathMode") &&
             SYM(L.blas, sgemm, "cublasSgemm_v2") && SYM(L.blas, gemm_ex, "cublasGemmEx");
    // CUDA 12 headers call cudaGetDeviceProperties_v2; older runtimes have
    // only the plain name. Both fill a struct whose first member is the name.
    if (ok && !SYM(L.rt, props, "cudaGetDeviceProperties_v2"))
        ok = SYM(L.rt, props, "cudaGetDeviceProperties") != NULL;
    if (!ok) {
        snprintf(L.why, sizeof L.why, "CUDA runtime or cuBLAS lacks a symbol (%s)", dlerror());
        dlclose(L.blas);
        dlclose(L.rt);
        L.rt = L.blas = NULL;
        return cb_set_error(CB_ERR_UNSUPPORTED, "%s", L.why);
    }
    int n = 0, e = L.count(&n);
    if (e || n <= 0) {
        snprintf(L.why, sizeof L.why, "no CUDA device (cudaGetDeviceCount: %s, %d devices)",
                 e ? cu_err(e) : "ok", e ? 0 : n);
        L.rt = L.blas = NULL;  // kept loaded: unloading CUDA is not worth the risk
        return cb_set_error(CB_ERR_UNSUPPORTED, "%s", L.why);
    }
    return CB_OK;
}

static enum cb_status cublas_available(void)
{
    return load();
}

struct cublas_plan {
    void *handle;
    int dev, bf16, tf32;
    void *a, *b, *c;
    void *ev0, *ev1;
    char label[300], chip_class[160], pci[32], lib[64];
    struct cb_call_times times;  // device time of each call (finish)
};

static void plan_free(void *plan)
{
    struct cublas_plan *pl = plan;
    if (!pl)
        return;
    if (L.sync)
        L.sync();
    void *bufs[] = {pl->a, pl->b, pl->c};
    for (int i = 0; i < 3; i++)
        if (bufs[i])
            L.free_(bufs[i]);
    if (pl->ev0)
        L.ev_destroy(pl->ev0);
    if (pl->ev1)
        L.ev_destroy(pl->ev1);
    if (pl->handle)
        L.destroy(pl->handle);
    cb_call_times_free(&pl->times);
    free(pl);
}

// --device: "cuda:N", or a substring of the device name ("NVIDIA", "H200"),
// or nothing (device 0). An OpenCL spec ("opencl:P:D") names no CUDA device.
static enum cb_status pick_device(const char *spec, int *dev, char *name, size_t nlen)
{
    int n = 0, e = L.count(&n);
    if (e)
        return cu_fail(e, "cudaGetDeviceCount");
    char *prop = malloc(CU_PROP_BYTES);
    if (!prop)
        return cb_set_error(CB_ERR_NO_MEMORY, "cudaDeviceProp");
    enum cb_status s = CB_OK;
    int want = -1;
    if (spec && !strncmp(spec, "cuda:", 5)) {
        char *end;
        long v = strtol(spec + 5, &end, 10);
        if (end == spec + 5 || *end || v < 0 || v >= n) {
            s = cb_set_error(CB_ERR_INVALID_ARG, "--device %s: %d CUDA device(s) here", spec,
                             n);
            goto out;
        }
        want = (int)v;
    }
    for (int i = 0; i < n && s == CB_OK; i++) {
        memset(prop, 0, CU_PROP_BYTES);
        if ((e = L.props(prop, i)))
            s = cu_fail(e, "cudaGetDeviceProperties");
        prop[255] = 0;
        if (s != CB_OK || !(want == i || (want < 0 && (!spec || !*spec || strstr(prop, spec)))))
            continue;
        *dev = i;
        snprintf(name, nlen, "%s", prop);
        goto out;
    }
    if (s == CB_OK)
        s = cb_set_error(CB_ERR_UNSUPPORTED, "no CUDA device matches --device %s (%d here)",
                         spec ? spec : "", n);
out:
    free(prop);
    return s;
}

// Device copy of a host matrix of `rows` rows, stride ld, `elem`-byte
// elements (only the used span, as the OpenCL plans upload).
static enum cb_status upload(const void *host, int64_t rows, int64_t cols, int64_t ld,
                             size_t elem, void **out)
{
    size_t bytes = (size_t)((rows - 1) * ld + cols) * elem;
    int e = L.malloc_(out, bytes);
    if (e) {
        *out = NULL;
        char what[96];
        snprintf(what, sizeof what, "cudaMalloc(%zu bytes)", bytes);
        return cu_fail(e, what);
    }
    e = host ? L.memcpy_(*out, host, bytes, CU_MEMCPY_H2D) : L.memset_(*out, 0xff, bytes);
    return e ? cu_fail(e, host ? "cudaMemcpy to the device" : "cudaMemset") : CB_OK;
}

static enum cb_status plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                void **plan)
{
    enum cb_status s = CB_OK;
    const struct cb_gemm_args *g = &req->shape->u.gemm;
    struct cublas_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "cuBLAS plan");
    CB_TRY(load());
    char name[256];
    CB_TRY(pick_device(req->device, &pl->dev, name, sizeof name));
    int e = L.set_device(pl->dev);
    if (e) {
        s = cu_fail(e, "cudaSetDevice");
        goto out;
    }
    // The chip class of the same card under OpenCL (NVIDIA's platform names
    // it identically), so the rows compare with ours.
    struct cb_ocl_device od;
    memset(&od, 0, sizeof od);
    snprintf(od.type, sizeof od.type, "gpu");
    snprintf(od.vendor, sizeof od.vendor, "NVIDIA Corporation");
    snprintf(od.name, sizeof od.name, "%s", name);
    cb_ocl_chip_class(&od, pl->chip_class, sizeof pl->chip_class);
    // The form OpenCL and NVML sources use ("0000:0a:00.0"), or "".
    char bus[64];
    if (L.pci(bus, (int)sizeof bus, pl->dev) != 0 ||
        !cb_pci_bus_normalize(bus, pl->pci, sizeof pl->pci))
        pl->pci[0] = 0;
    if ((e = L.create(&pl->handle))) {
        pl->handle = NULL;
        s = cb_set_error(e == CUBLAS_ALLOC_FAILED ? CB_ERR_NO_MEMORY : CB_ERR_BACKEND,
                         "cublasCreate: status %d", e);
        goto out;
    }
    int bv = 0, rv = 0;
    L.version(pl->handle, &bv);
    L.rt_version(&rv);
    snprintf(pl->lib, sizeof pl->lib, "cuBLAS %d.%d.%d, CUDA runtime %d.%d", bv / 10000,
             bv / 100 % 100, bv % 100, rv / 1000, rv % 1000 / 10);
    snprintf(pl->label, sizeof pl->label, "cuda:%d %s", pl->dev, name);
    // Default math: cublasSgemm stays on fp32 FMA (TF32 only when asked).
    if ((e = L.math_mode(pl->handle, CUBLAS_DEFAULT_MATH))) {
        s = cb_set_error(CB_ERR_BACKEND, "cublasSetMathMode: status %d", e);
        goto out;
    }
    pl->bf16 = k->dtype == CB_DTYPE_BF16;
    pl->tf32 = k->dtype == CB_DTYPE_TF32;
    const size_t el = pl->bf16 ? 2 : 4;
    CB_TRY(upload(g->a, g->trans_a ? g->k : g->m, g->trans_a ? g->m : g->k, g->lda, el, &pl->a));
    CB_TRY(upload(g->b, g->trans_b ? g->n : g->k, g->trans_b ? g->k : g->n, g->ldb, el, &pl->b));
    // beta == 0 never reads C: NaN there shows up if the library did.
    CB_TRY(upload(g->beta == 0.0f ? NULL : g->c, g->m, g->n, g->ldc, sizeof(float), &pl->c));
    if ((e = L.ev_create(&pl->ev0)) || (e = L.ev_create(&pl->ev1))) {
        s = cu_fail(e, "cudaEventCreate");
        goto out;
    }
    if ((e = L.sync()))
        s = cu_fail(e, "cudaDeviceSynchronize after upload");
out:
    if (s != CB_OK) {
        plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status cublas_run(void *plan, const struct cb_call *call)
{
    struct cublas_plan *pl = plan;
    const struct cb_gemm_args *g = &call->u.gemm;
    const int op_a = g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int op_b = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const float alpha = g->alpha, beta = g->beta;
    int e = L.ev_record(pl->ev0, NULL);
    if (e)
        return cu_fail(e, "cudaEventRecord");
    // Operands swapped: C^T = op(B)^T op(A)^T in cuBLAS's column-major terms.
    // bf16: bf16 inputs; tf32: f32 inputs, TF32 products (the compute type
    // asks for the matrix unit); both f32 accumulate and C.
    const int in = pl->bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const int st =
        pl->bf16 || pl->tf32
            ? L.gemm_ex(pl->handle, op_b, op_a, (int)g->n, (int)g->m, (int)g->k, &alpha, pl->b,
                        in, (int)g->ldb, pl->a, in, (int)g->lda, &beta, pl->c, CUDA_R_32F,
                        (int)g->ldc, pl->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT)
            : L.sgemm(pl->handle, op_b, op_a, (int)g->n, (int)g->m, (int)g->k, &alpha, pl->b,
                      (int)g->ldb, pl->a, (int)g->lda, &beta, pl->c, (int)g->ldc);
    if (st != CUBLAS_OK)
        return cb_set_error(st == CUBLAS_ALLOC_FAILED ? CB_ERR_NO_MEMORY : CB_ERR_BACKEND,
                            "%s: status %d",
                            pl->bf16 || pl->tf32 ? "cublasGemmEx" : "cublasSgemm", st);
    if ((e = L.ev_record(pl->ev1, NULL)))
        return cu_fail(e, "cudaEventRecord");
    return CB_OK;
}

// Wait for the call, then keep its device time (the span of its events).
static enum cb_status cublas_finish(void *plan)
{
    struct cublas_plan *pl = plan;
    int e = L.ev_sync(pl->ev1);
    if (e)
        return cu_fail(e, "cudaEventSynchronize");
    float ms = 0.0f;
    if ((e = L.ev_elapsed(&ms, pl->ev0, pl->ev1)))
        return cu_fail(e, "cudaEventElapsedTime");
    return cb_call_times_add(&pl->times, (double)ms * 1e6);
}

static double cublas_device_ns(void *plan)
{
    return cb_call_times_median(&((struct cublas_plan *)plan)->times);
}

static enum cb_status cublas_readback(void *plan, const struct cb_call *call)
{
    struct cublas_plan *pl = plan;
    const struct cb_gemm_args *g = &call->u.gemm;
    // Row by row (a 2D copy): the host's padding between rows stays as it was.
    const size_t pitch = (size_t)g->ldc * sizeof(float);
    int e = L.memcpy2d(g->c, pitch, pl->c, pitch, (size_t)g->n * sizeof(float), (size_t)g->m,
                       CU_MEMCPY_D2H);
    return e ? cu_fail(e, "cudaMemcpy2D from the device") : CB_OK;
}

static void cublas_where(void *plan, char *device, int dlen, char *chip_class, int clen)
{
    struct cublas_plan *pl = plan;
    snprintf(device, (size_t)dlen, "%s [%s]", pl->label, pl->lib);
    snprintf(chip_class, (size_t)clen, "%s", pl->chip_class);
}

static void cublas_pci_bus(void *plan, char *buf, int len)
{
    snprintf(buf, (size_t)len, "%s", ((struct cublas_plan *)plan)->pci);
}

#define CUBLAS_KERNEL(kname, dt, what)                                                      \
    {                                                                                       \
        .name = kname, .op = CB_OP_GEMM, .dtype = dt, .backend = CB_BACKEND_CUBLAS,        \
        .priority = 0, .max_threads = 1, .available = cublas_available,                     \
        .plan = plan_make, .run = cublas_run, .finish = cublas_finish,                      \
        .readback = cublas_readback, .plan_free = plan_free, .where = cublas_where,         \
        .pci_bus = cublas_pci_bus, .device_time_ns = cublas_device_ns, .desc = what,        \
    }

const struct cb_kernel cb_gemm_cublas_kernels[] = {
    CUBLAS_KERNEL("gemm_f32_cublas", CB_DTYPE_F32,
                  "cuBLAS cublasSgemm, fp32 FMA without TF32 (vendor baseline, loaded at run "
                  "time)"),
    CUBLAS_KERNEL("gemm_tf32_cublas", CB_DTYPE_TF32,
                  "cuBLAS cublasGemmEx, f32 inputs with TF32 products (CUBLAS_COMPUTE_32F_FAST_"
                  "TF32), f32 accumulate and output (vendor baseline, loaded at run time)"),
    CUBLAS_KERNEL("gemm_bf16_cublas", CB_DTYPE_BF16,
                  "cuBLAS cublasGemmEx, bf16 inputs, f32 accumulate and output (vendor "
                  "baseline, loaded at run time)"),
    {.name = NULL},
};
