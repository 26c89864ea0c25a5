// absent.c: the kernels of optional libraries this build was made without
// (OpenBLAS, oneDNN, OpenCL, CLBlast), listed by name so that `list` shows
// them, `run --kernel gemm_f32_openblas` gives a skipped row with the reason
// instead of "matches no kernel", and a suite written for a full build runs
// on a partial one. Never runnable: available() always says why.
//
// Not the kernels themselves (kernels/blas, onednn, opencl, clblast), and not
// a run-time loader: the libraries are linked at build time.
#include <stddef.h>

#include "chipbench/cb_kernel.h"
#include "kernel_tables.h"

#if !CB_HAVE_OPENBLAS || !CB_HAVE_ONEDNN || !CB_HAVE_OPENCL || !CB_HAVE_CLBLAST
static enum cb_status run_absent(void *plan, const struct cb_call *call)
{
    (void)plan;
    (void)call;
    return cb_set_error(CB_ERR_UNSUPPORTED, "this kernel is not built in");
}
#endif

#define ABSENT(why)                                                                          \
    static enum cb_status why##_absent(void)                                                 \
    {                                                                                        \
        return cb_set_error(CB_ERR_UNSUPPORTED, "chipbench was built without " #why          \
                            " (install it, e.g. make deps, and rebuild: see chipbench info)"); \
    }
#define ENTRY(kname, kop, kdtype, kbackend, why)                                             \
    {.name = kname, .op = kop, .dtype = kdtype, .backend = kbackend, .priority = -1,        \
     .max_threads = 1, .available = why##_absent, .run = run_absent, .not_built = 1,         \
     .desc = "not built: " #why " was missing at build time"}

#if !CB_HAVE_OPENBLAS
ABSENT(OpenBLAS)
#endif
#if !CB_HAVE_ONEDNN
ABSENT(oneDNN)
#endif
#if !CB_HAVE_OPENCL
ABSENT(OpenCL)
#endif
#if !CB_HAVE_CLBLAST
ABSENT(CLBlast)
#endif

const struct cb_kernel cb_absent_kernels[] = {
#if !CB_HAVE_OPENBLAS
    ENTRY("gemm_f32_openblas", CB_OP_GEMM, CB_DTYPE_F32, CB_BACKEND_OPENBLAS, OpenBLAS),
    ENTRY("attn_f32_openblas", CB_OP_ATTN, CB_DTYPE_F32, CB_BACKEND_OPENBLAS, OpenBLAS),
    ENTRY("attn_bwd_f32_openblas", CB_OP_ATTN_BWD, CB_DTYPE_F32, CB_BACKEND_OPENBLAS, OpenBLAS),
#endif
#if !CB_HAVE_ONEDNN
    ENTRY("gemm_f32_onednn", CB_OP_GEMM, CB_DTYPE_F32, CB_BACKEND_ONEDNN, oneDNN),
    ENTRY("gemm_bf16_onednn", CB_OP_GEMM, CB_DTYPE_BF16, CB_BACKEND_ONEDNN, oneDNN),
#endif
#if !CB_HAVE_OPENCL
    ENTRY("gemm_f32_opencl", CB_OP_GEMM, CB_DTYPE_F32, CB_BACKEND_OPENCL, OpenCL),
    ENTRY("gemm_f16_opencl", CB_OP_GEMM, CB_DTYPE_F16, CB_BACKEND_OPENCL, OpenCL),
    ENTRY("gemm_bf16_opencl", CB_OP_GEMM, CB_DTYPE_BF16, CB_BACKEND_OPENCL, OpenCL),
    ENTRY("gemm_tf32_opencl", CB_OP_GEMM, CB_DTYPE_TF32, CB_BACKEND_OPENCL, OpenCL),
    ENTRY("attn_bf16_opencl", CB_OP_ATTN, CB_DTYPE_BF16, CB_BACKEND_OPENCL, OpenCL),
    ENTRY("attn_f32_opencl", CB_OP_ATTN, CB_DTYPE_F32, CB_BACKEND_OPENCL, OpenCL),
    ENTRY("attn_bwd_f32_opencl", CB_OP_ATTN_BWD, CB_DTYPE_F32, CB_BACKEND_OPENCL, OpenCL),
    ENTRY("attn_bwd_bf16_opencl", CB_OP_ATTN_BWD, CB_DTYPE_BF16, CB_BACKEND_OPENCL, OpenCL),
    ENTRY("stream_f32_opencl", CB_OP_STREAM, CB_DTYPE_F32, CB_BACKEND_OPENCL, OpenCL),
#endif
#if !CB_HAVE_CLBLAST
    ENTRY("gemm_f32_clblast", CB_OP_GEMM, CB_DTYPE_F32, CB_BACKEND_CLBLAST, CLBlast),
#endif
    {.name = NULL},
};
