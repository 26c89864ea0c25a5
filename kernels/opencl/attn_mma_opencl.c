// attn_mma_opencl.c: attn_bf16_opencl, the bf16 flash-attention forward on
// NVIDIA's matrix units through OpenCL (attn_mma.cl), host side: plan =
// check the device (cl_mma.h), build for the head dim, upload Q, K, V (bf16)
// once and poison O and lse; run = one launch; readback = O and lse.
//
// Not a backward pass, and only for D a multiple of 16 up to 128 (the
// fragments hold Q and O in registers); other shapes and other devices are
// skipped with the reason. CHIPBENCH_CL_MMA=emulate runs it anywhere (tests).
//
// Shapes: Q (B,H,Lq,D), K,V (B,Hkv,Lk,D) bf16; O (B,H,Lq,D), lse (B,H,Lq) f32.
// One launch of B*H*ceil(Lq/64) work-groups of 128 work-items.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "cl_mma.h"
#include "cl_params.h"

extern const char cb_cl_src_attn_mma[];

#define MMA_BQ 64  // query rows a work-group (attn_mma.cl)

struct mma_attn_plan {
    struct cb_cl_plan base;  // first: the shared plan callbacks use it
    cl_mem q, k, v, o, lse;
    cl_kernel kern;
    size_t gws, lws;
};

static void plan_free(void *plan)
{
    struct mma_attn_plan *pl = plan;
    if (!pl)
        return;
    cb_cl_plan_release(&pl->base);
    cl_mem bufs[] = {pl->q, pl->k, pl->v, pl->o, pl->lse};
    for (int i = 0; i < 5; i++)
        if (bufs[i])
            clReleaseMemObject(bufs[i]);
    if (pl->kern)
        clReleaseKernel(pl->kern);
    free(pl);
}

static enum cb_status plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                void **plan)
{
    (void)k;
    enum cb_status s = CB_OK;
    const struct cb_attn_args *a = &req->shape->u.attn;
    struct mma_attn_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "bf16 attention plan");
    CB_TRY(cb_cl_attn_check(a, 128, 0, "bf16 matrix-unit attention"));
    if (a->head_dim % 16) {
        s = cb_set_error(CB_ERR_UNSUPPORTED,
                         "bf16 matrix-unit attention: head dim %lld is not a multiple of 16",
                         (long long)a->head_dim);
        goto out;
    }
    CB_TRY(cb_clrt_open(req->device, &pl->base.rt));
    struct cb_clrt *rt = pl->base.rt;
    CB_TRY(cb_cl_mma_device_ok(rt, 0));
    snprintf(pl->base.params, sizeof pl->base.params, "mma.sync bf16:BQ=%d,BK=64%s", MMA_BQ,
             cb_cl_mma_emulate() ? ",emulated" : "");

    const int64_t bh = a->batch * a->heads, bkv = a->batch * a->kv_heads;
    CB_TRY(cb_clrt_upload_elems(rt, a->q, bh * a->seq_q, a->head_dim, a->head_dim, 2, &pl->q));
    CB_TRY(cb_clrt_upload_elems(rt, a->k, bkv * a->seq_kv, a->head_dim, a->head_dim, 2, &pl->k));
    CB_TRY(cb_clrt_upload_elems(rt, a->v, bkv * a->seq_kv, a->head_dim, a->head_dim, 2, &pl->v));
    size_t no = (size_t)(bh * a->seq_q * a->head_dim), nl = (size_t)(bh * a->seq_q);
    CB_TRY(cb_clrt_buffer(rt, no * sizeof(float), CL_MEM_READ_WRITE, &pl->o));
    CB_TRY(cb_clrt_buffer(rt, nl * sizeof(float), CL_MEM_READ_WRITE, &pl->lse));
    CB_TRY(cb_clrt_fill_nan(rt, pl->o, no));
    CB_TRY(cb_clrt_fill_nan(rt, pl->lse, nl));

    char opts[96];
    cl_program prog;
    snprintf(opts, sizeof opts, "-D D=%d -D MMA_EMULATE=%d", (int)a->head_dim,
             cb_cl_mma_emulate());
    CB_TRY(cb_cl_mma_program(rt, "attn_mma.cl", cb_cl_src_attn_mma, opts, &prog));
    CB_TRY(cb_clrt_kernel(prog, "attn_fwd_mma", &pl->kern));

    const int BH = (int)bh, H = (int)a->heads, group = (int)(a->heads / a->kv_heads);
    const int lq = (int)a->seq_q, lk = (int)a->seq_kv, causal = a->causal != 0;
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)a->head_dim);
    const float scale2 = scale * 1.44269504088896341f;  // scores in log2 units (exp2)
    pl->lws = 128;
    pl->gws = cb_round_up((size_t)lq, MMA_BQ) / MMA_BQ * (size_t)BH * pl->lws;
    CB_TRY(cb_clrt_arg(pl->kern, 0, sizeof(cl_mem), &pl->q));
    CB_TRY(cb_clrt_arg(pl->kern, 1, sizeof(cl_mem), &pl->k));
    CB_TRY(cb_clrt_arg(pl->kern, 2, sizeof(cl_mem), &pl->v));
    CB_TRY(cb_clrt_arg(pl->kern, 3, sizeof(cl_mem), &pl->o));
    CB_TRY(cb_clrt_arg(pl->kern, 4, sizeof(cl_mem), &pl->lse));
    CB_TRY(cb_clrt_arg(pl->kern, 5, sizeof(int), &BH));
    CB_TRY(cb_clrt_arg(pl->kern, 6, sizeof(int), &H));
    CB_TRY(cb_clrt_arg(pl->kern, 7, sizeof(int), &group));
    CB_TRY(cb_clrt_arg(pl->kern, 8, sizeof(int), &lq));
    CB_TRY(cb_clrt_arg(pl->kern, 9, sizeof(int), &lk));
    CB_TRY(cb_clrt_arg(pl->kern, 10, sizeof(float), &scale2));
    CB_TRY(cb_clrt_arg(pl->kern, 11, sizeof(int), &causal));
    cl_int e = clFinish(rt->queue);
    if (e != CL_SUCCESS)
        s = cb_cl_fail(e, "clFinish after upload");
out:
    if (s != CB_OK) {
        plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status run(void *plan, const struct cb_call *call)
{
    (void)call;  // inputs live on the device since the plan
    struct mma_attn_plan *pl = plan;
    cl_event ev;
    cb_cl_timing_begin(&pl->base.t);
    cl_int e = clEnqueueNDRangeKernel(pl->base.rt->queue, pl->kern, 1, NULL, &pl->gws, &pl->lws,
                                      0, NULL, &ev);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clEnqueueNDRangeKernel(attn_fwd_mma)");
    cb_cl_timing_event(&pl->base.t, ev);
    return CB_OK;
}

static enum cb_status readback(void *plan, const struct cb_call *call)
{
    struct mma_attn_plan *pl = plan;
    const struct cb_attn_args *a = &call->u.attn;
    const int64_t rows = a->batch * a->heads * a->seq_q;
    enum cb_status s = cb_clrt_download(pl->base.rt, pl->o, a->o, rows, a->head_dim, a->head_dim);
    if (s == CB_OK && a->lse)
        s = cb_clrt_download(pl->base.rt, pl->lse, a->lse, 1, rows, rows);
    return s;
}

const struct cb_kernel cb_attn_mma_opencl_kernels[] = {
    {
        .name = "attn_bf16_opencl",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_OPENCL,
        .priority = 1,
        .max_threads = 1,
        .available = cb_cl_mma_available,
        .plan = plan_make,
        .run = run,
        .finish = cb_cl_plan_finish,
        .readback = readback,
        .plan_free = plan_free,
        .where = cb_cl_plan_where,
        .pci_bus = cb_cl_plan_pci_bus,
        .device_time_ns = cb_cl_plan_device_ns,
        .desc = "OpenCL bf16 flash-attention forward on NVIDIA matrix units (inline PTX "
                "mma.sync m16n8k16, sm_80+, D % 16 == 0 up to 128); elsewhere skipped with the "
                "reason",
    },
    {.name = NULL},
};
