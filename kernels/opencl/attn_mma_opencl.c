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
// The plan is the shared forward head (cl_attn.h): run and readback too.
// One launch of B*H*ceil(Lq/64) work-groups of 128 work-items.
#include <stdio.h>
#include <stdlib.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "cl_attn.h"
#include "cl_mma.h"
#include "cl_params.h"

extern const char cb_cl_src_attn_mma[];

#define MMA_BQ 64  // query rows a work-group (attn_mma.cl)

static void plan_free(void *plan)
{
    if (!plan)
        return;
    cb_cl_attn_fwd_release(plan);
    free(plan);
}

static enum cb_status plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                void **plan)
{
    (void)k;
    enum cb_status s = CB_OK;
    const struct cb_attn_args *a = &req->shape->u.attn;
    struct cb_cl_attn_fwd *pl = calloc(1, sizeof *pl);
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

    CB_TRY(cb_cl_attn_fwd_buffers(pl, a, 2));
    char opts[96];
    cl_program prog;
    snprintf(opts, sizeof opts, "-D D=%d -D MMA_EMULATE=%d", (int)a->head_dim,
             cb_cl_mma_emulate());
    CB_TRY(cb_cl_mma_program(rt, "attn_mma.cl", cb_cl_src_attn_mma, opts, &prog));
    CB_TRY(cb_clrt_kernel(prog, "attn_fwd_mma", &pl->kern));

    CB_TRY(cb_cl_attn_fwd_args(pl, a, MMA_BQ, 128));
out:
    if (s != CB_OK) {
        plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
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
        .run = cb_cl_attn_fwd_run,
        .finish = cb_cl_plan_finish,
        .readback = cb_cl_attn_fwd_readback,
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
