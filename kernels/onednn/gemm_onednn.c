// gemm_onednn.c: oneDNN's matmul primitive (C API, v2.x) as a second CPU GEMM
// baseline next to OpenBLAS. Built only when the Makefile finds oneDNN
// (pkg-config dnnl, else a probe that includes <oneapi/dnnl/dnnl.h> and
// links -ldnnl).
//
// Variants: gemm_f32_onednn (f32 x f32 -> f32) and gemm_bf16_onednn
// (bf16 x bf16 -> f32, the cb_kernel.h convention). Same plan/run code;
// only the source data type differs.
//
// Mapping of the chipbench GEMM onto matmul (src = A, weights = B, dst = C):
//   A logical (m,k): strides {lda,1} when stored (m,k), {1,lda} when trans_a
//   B logical (k,n): strides {ldb,1} when stored (k,n), {1,ldb} when trans_b
//   C logical (m,n): strides {ldc,1}
//   alpha: common output scale (attribute, mask 0), only when alpha != 1
//   beta:  sum post-op with scale beta, only when beta != 0, so C is never
//          read when beta == 0 (NaN in C must not propagate)
// Everything that allocates or JIT-compiles (engine, stream, primitive,
// memory objects, scratchpad) happens in the plan. Memory objects are made
// with DNNL_MEMORY_NONE; run() binds the call's a/b/c pointers with
// dnnl_memory_set_data_handle each time, because the harness rotates
// buffers between launches. The scratchpad is in user mode and allocated in
// the plan, so no launch allocates.
//
// Threads: Debian's libdnnl 2.6 is built with the OpenMP runtime (libgomp;
// dnnl_version()->cpu_runtime == DNNL_RUNTIME_OMP). oneDNN sizes its work
// split by omp_get_max_threads() when the primitive is created and runs
// parallel regions on the calling thread's OpenMP team. The plan therefore
// calls omp_set_num_threads(req->threads) before creating the primitive, on
// the thread that later calls run() (the harness plans and runs on one
// thread). omp_set_num_threads is looked up with dlsym(RTLD_DEFAULT): libgomp
// is already loaded as libdnnl's dependency, so chipbench neither compiles
// with -fopenmp nor links libgomp itself. The ICV is per calling thread and
// only oneDNN uses OpenMP here, so setting it does not affect other kernels.
// A sequential build accepts only threads == 1; TBB and threadpool builds
// have no C-level thread-count knob and are reported as unsupported for
// threads > 1. The harness binds the process to the chosen cores before the
// plan, so the OpenMP team inherits the binding.
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_info.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

struct onednn_plan {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c, scratch;  // a/b/c have no buffer until run()
    int64_t m, n, k;                 // the planned shape, checked in run()
    float alpha, beta;
};

// Every dnnl_status_t goes through here: CB_ERR_BACKEND naming the call.
#define DNNL_TRY(call)                                                           \
    do {                                                                         \
        dnnl_status_t st_ = (call);                                              \
        if (st_ != dnnl_success) {                                               \
            s = cb_set_error(CB_ERR_BACKEND, "%s: %s (dnnl status %d)", #call,   \
                             dnnl_status2str(st_), (int)st_);                    \
            goto out;                                                            \
        }                                                                        \
    } while (0)

// OpenMP thread count for oneDNN's parallel regions (see the header).
static enum cb_status onednn_set_threads(int threads)
{
    unsigned rt = dnnl_version()->cpu_runtime;
    if (rt == DNNL_RUNTIME_OMP) {
        void (*set)(int);
        *(void **)&set = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
        if (!set)
            return cb_set_error(CB_ERR_BACKEND, "oneDNN uses OpenMP but omp_set_num_threads "
                                                "was not found in the process");
        set(threads);
        return CB_OK;
    }
    if (threads == 1 && rt == DNNL_RUNTIME_SEQ)
        return CB_OK;
    return cb_set_error(CB_ERR_UNSUPPORTED,
                        "oneDNN CPU runtime %s: chipbench cannot set its thread count to %d",
                        dnnl_runtime2str(rt), threads);
}

static void onednn_plan_free(void *plan)
{
    struct onednn_plan *p = plan;
    if (!p)
        return;
    // Destroy functions accept NULL handles.
    dnnl_primitive_destroy(p->prim);
    dnnl_memory_destroy(p->a);
    dnnl_memory_destroy(p->b);
    dnnl_memory_destroy(p->c);
    dnnl_memory_destroy(p->scratch);
    dnnl_stream_destroy(p->stream);
    dnnl_engine_destroy(p->engine);
    free(p);
}

static enum cb_status onednn_plan(const struct cb_kernel *kern, const struct cb_plan_req *req,
                                  void **plan)
{
    enum cb_status s = CB_OK;
    const struct cb_gemm_args *g = &req->shape->u.gemm;
    dnnl_data_type_t in_dt = kern->dtype == CB_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    struct onednn_plan *p = calloc(1, sizeof *p);

    *plan = NULL;
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "oneDNN plan");
    if (kern->dtype != CB_DTYPE_F32 && kern->dtype != CB_DTYPE_BF16) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "%s: dtype %s", kern->name,
                         cb_dtype_name(kern->dtype));
        goto out;
    }
    p->m = g->m;
    p->n = g->n;
    p->k = g->k;
    p->alpha = g->alpha;
    p->beta = g->beta;

    // Before the primitive: oneDNN reads the thread count when it is created.
    CB_TRY(onednn_set_threads(req->threads));
    DNNL_TRY(dnnl_engine_create(&p->engine, dnnl_cpu, 0));
    DNNL_TRY(dnnl_stream_create(&p->stream, p->engine, dnnl_stream_default_flags));

    // a is (m,k) row-major, lda >= k, or (k,m) with lda >= m when trans_a;
    // b is (k,n), ldb >= n, or (n,k) with ldb >= k when trans_b;
    // c is (m,n) f32, ldc >= n.
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t a_dims = {g->m, g->k}, b_dims = {g->k, g->n}, c_dims = {g->m, g->n};
    dnnl_dims_t a_str = {g->lda, 1}, b_str = {g->ldb, 1}, c_str = {g->ldc, 1};
    if (g->trans_a) {
        a_str[0] = 1;
        a_str[1] = g->lda;
    }
    if (g->trans_b) {
        b_str[0] = 1;
        b_str[1] = g->ldb;
    }
    DNNL_TRY(dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, in_dt, a_str));
    DNNL_TRY(dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, in_dt, b_str));
    DNNL_TRY(dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_str));

    dnnl_matmul_desc_t md;
    DNNL_TRY(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md));

    DNNL_TRY(dnnl_primitive_attr_create(&attr));
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (g->alpha != 1.0f)
        DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &g->alpha));
    if (g->beta != 0.0f) {
        DNNL_TRY(dnnl_post_ops_create(&ops));
        DNNL_TRY(dnnl_post_ops_append_sum(ops, g->beta));
        DNNL_TRY(dnnl_primitive_attr_set_post_ops(attr, ops));
    }

    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &md, attr, p->engine, NULL);
    if (st == dnnl_unimplemented) {
        // E.g. bf16 on a CPU without AVX-512 (oneDNN 2.6 needs avx512_core
        // for bf16 matmul): a skip, not a failure.
        s = cb_set_error(CB_ERR_UNSUPPORTED,
                         "oneDNN has no %s matmul for this layout on this CPU "
                         "(dispatch ISA %s)",
                         cb_dtype_name(kern->dtype),
                         dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
        goto out;
    }
    DNNL_TRY(st);
    DNNL_TRY(dnnl_primitive_create(&p->prim, pd));

    DNNL_TRY(dnnl_memory_create(&p->a, &a_md, p->engine, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&p->b, &b_md, p->engine, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&p->c, &c_md, p->engine, DNNL_MEMORY_NONE));
    const dnnl_memory_desc_t *sp_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (sp_md && dnnl_memory_desc_get_size(sp_md) > 0)
        DNNL_TRY(dnnl_memory_create(&p->scratch, sp_md, p->engine, DNNL_MEMORY_ALLOCATE));

out:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (ops)
        dnnl_post_ops_destroy(ops);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (s != CB_OK)
        onednn_plan_free(p);
    else
        *plan = p;
    return s;
}

// C(m,n) = alpha * op(A) * op(B) + beta * C, row-major; see the header for
// the layouts. Binds this call's buffers, executes, waits.
static enum cb_status onednn_run(void *plan, const struct cb_call *call)
{
    enum cb_status s = CB_OK;
    struct onednn_plan *p = plan;
    const struct cb_gemm_args *g = &call->u.gemm;

    if (!p || g->m != p->m || g->n != p->n || g->k != p->k || g->alpha != p->alpha ||
        g->beta != p->beta)
        return cb_set_error(CB_ERR_INVALID_ARG, "oneDNN: call does not match its plan");
    DNNL_TRY(dnnl_memory_set_data_handle(p->a, (void *)g->a));
    DNNL_TRY(dnnl_memory_set_data_handle(p->b, (void *)g->b));
    DNNL_TRY(dnnl_memory_set_data_handle(p->c, g->c));
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, p->a},
        {DNNL_ARG_WEIGHTS, p->b},
        {DNNL_ARG_DST, p->c},
        {DNNL_ARG_SCRATCHPAD, p->scratch},
    };
    DNNL_TRY(dnnl_primitive_execute(p->prim, p->stream, p->scratch ? 4 : 3, args));
    DNNL_TRY(dnnl_stream_wait(p->stream));
out:
    return s;
}

void cb_onednn_describe(char *buf, size_t len)
{
    const dnnl_version_t *v = dnnl_version();
    // Distribution builds report the git hash as "N/A".
    int hash = v->hash && *v->hash && strcmp(v->hash, "N/A") != 0;
    snprintf(buf, len, "oneDNN %d.%d.%d%s%s runtime=%s isa=%s", v->major, v->minor, v->patch,
             hash ? " git " : "", hash ? v->hash : "", dnnl_runtime2str(v->cpu_runtime),
             dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
}

const struct cb_kernel cb_gemm_onednn_kernels[] = {
    {
        .name = "gemm_f32_onednn",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_ONEDNN,
        .priority = 8,
        .plan = onednn_plan,
        .run = onednn_run,
        .plan_free = onednn_plan_free,
        .desc = "oneDNN matmul primitive, f32 (baseline)",
    },
    {
        .name = "gemm_bf16_onednn",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_ONEDNN,
        .priority = 8,
        .plan = onednn_plan,
        .run = onednn_run,
        .plan_free = onednn_plan_free,
        .desc = "oneDNN matmul primitive, bf16 x bf16 -> f32 (baseline)",
    },
    {.name = NULL},
};
