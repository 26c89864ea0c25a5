// attn_mma_opencl.c: the bf16 flash-attention forward and backward on
// NVIDIA's matrix units through OpenCL, host side.
//   attn_bf16_opencl      (attn_mma.cl): plan = check the device (cl_mma.h),
//                         build for the head dim, upload Q, K, V (bf16) once
//                         and poison O and lse; run = one launch of
//                         B*H*ceil(Lq/64) work-groups; readback = O and lse.
//   attn_bwd_bf16_opencl  (attn_bwd_mma.cl): the same checks, upload Q, K,
//                         V, dO (bf16), O and lse (f32) and poison Di, dQ,
//                         dK, dV; run = the dQ launch (B*H*ceil(Lq/64)
//                         groups), then dK/dV (B*Hkv*ceil(Lk/64)).
// The plans are the shared forward and backward heads (cl_attn.h): run and
// readback too. 128 work-items (4 warps) a group.
//
// Only for D a multiple of 16 up to 128 (the fragments hold rows of Q, dO,
// K, V and the accumulators in registers); other shapes and other devices
// are skipped with the reason. CHIPBENCH_CL_MMA=emulate runs them anywhere
// (tests).
//
// Shapes: Q, dO (B,H,Lq,D), K,V (B,Hkv,Lk,D) bf16; O, dQ (B,H,Lq,D), dK, dV
// (B,Hkv,Lk,D), lse (B,H,Lq) f32.
#include <stdio.h>
#include <stdlib.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "cl_attn.h"
#include "cl_mma.h"
#include "cl_params.h"

extern const char cb_cl_src_attn_mma[];
extern const char cb_cl_src_attn_bwd_mma[];

#define MMA_BQ 64  // query rows a work-group (attn_mma.cl, attn_bwd_mma.cl's dQ)
#define MMA_BKV 64 // keys a dK/dV work-group (attn_bwd_mma.cl)

// CHIPBENCH_CL_MMA_ATTN="LDM=0|1,CPA=0|1". LDM: fragments by ldmatrix in
// both passes (attn_mma.cl, attn_bwd_mma.cl), else 32-bit loads; unset, the
// forward uses ldmatrix (an H200 measured it 2.4x the 32-bit loads at B=8
// H=16 L=4096 D=128: 178 against 75 TFLOP/s, results/h200-20261129-attn.csv)
// and the backward keeps the 32-bit loads until both are measured there.
// CPA (forward only, with LDM=1): K and V blocks by cp.async, loads
// overlapped with the math; off unless asked for: 1.035-1.05x on an H200 at
// D=128 but with 6-7% sample noise (results/h200-20261129-attn-bf16-cpa.csv),
// and D=64 (the training shapes) not timed yet.
struct mma_attn_opts {
    int ldm, cpa;
};

static enum cb_status attn_opts(struct mma_attn_opts *o, int fwd)
{
    o->ldm = fwd;
    o->cpa = 0;
    const char *env = getenv("CHIPBENCH_CL_MMA_ATTN");
    if (!env || !*env)
        return CB_OK;
    static const char *const keys[2] = {"LDM", "CPA"};
    int *vals[2] = {&o->ldm, &o->cpa};
    if (cb_cl_params_parse("", env, env, keys, vals, 2) != CB_OK)
        return cb_cl_error_wrap(CB_ERR_INVALID_ARG, "CHIPBENCH_CL_MMA_ATTN");
    if ((o->ldm != 0 && o->ldm != 1) || (o->cpa != 0 && o->cpa != 1))
        return cb_set_error(CB_ERR_INVALID_ARG, "CHIPBENCH_CL_MMA_ATTN: LDM and CPA are 0 or "
                            "1, got LDM=%d,CPA=%d", o->ldm, o->cpa);
    if (o->cpa && !fwd)
        return cb_set_error(CB_ERR_UNSUPPORTED, "CHIPBENCH_CL_MMA_ATTN: CPA=1 is the "
                            "forward's only; the backward has no cp.async path");
    if (o->cpa && !o->ldm)
        return cb_set_error(CB_ERR_INVALID_ARG, "CHIPBENCH_CL_MMA_ATTN: CPA=1 needs LDM=1 "
                            "(cp.async copies V as rows, which only ldmatrix .trans reads)");
    return CB_OK;
}

// What both passes' plans share: the shape and device rules (D % 16 == 0
// and up to 128, NVIDIA's matrix units or the emulation; opens the device
// in b->rt), the LDM and CPA choice, the row's origin text and the build
// options (opts, olen bytes).
static enum cb_status mma_attn_setup(const struct cb_plan_req *req,
                                     const struct cb_attn_args *a, int need_lse,
                                     const char *what, struct cb_cl_plan *b,
                                     struct mma_attn_opts *mo, char *opts, size_t olen)
{
    enum cb_status s = CB_OK;
    CB_TRY(cb_cl_attn_check(a, 128, need_lse, what));
    if (a->head_dim % 16)
        return cb_set_error(CB_ERR_UNSUPPORTED, "%s: head dim %lld is not a multiple of 16",
                            what, (long long)a->head_dim);
    CB_TRY(cb_clrt_open(req->device, &b->rt));
    CB_TRY(cb_cl_mma_device_ok(b->rt, 0));
    CB_TRY(attn_opts(mo, !need_lse));  // the backward is the pass that reads lse
    snprintf(b->origin, sizeof b->origin, "%s, mma.sync bf16%s",
             getenv("CHIPBENCH_CL_MMA_ATTN") ? "CHIPBENCH_CL_MMA_ATTN" : "default",
             cb_cl_mma_emulate() ? " emulated" : "");
    snprintf(opts, olen, "-D D=%d -D LDM=%d -D CPA=%d -D MMA_EMULATE=%d", (int)a->head_dim,
             mo->ldm, mo->cpa, cb_cl_mma_emulate());
out:
    return s;
}

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
    struct mma_attn_opts mo;
    char opts[96];
    CB_TRY(mma_attn_setup(req, a, 0, "bf16 matrix-unit attention", &pl->base, &mo, opts,
                          sizeof opts));
    snprintf(pl->base.params, sizeof pl->base.params, "BQ=%d,BK=64,LDM=%d%s", MMA_BQ, mo.ldm,
             mo.cpa ? ",CPA=1" : "");
    CB_TRY(cb_cl_attn_fwd_buffers(pl, a, 2));
    cl_program prog;
    CB_TRY(cb_cl_mma_program(pl->base.rt, "attn_mma.cl", cb_cl_src_attn_mma, opts, &prog));
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

static void bwd_plan_free(void *plan)
{
    if (!plan)
        return;
    cb_cl_attn_bwd_release(plan);
    free(plan);
}

static enum cb_status bwd_plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                    void **plan)
{
    (void)k;
    enum cb_status s = CB_OK;
    const struct cb_attn_bwd_args *ba = &req->shape->u.attn_bwd;
    const struct cb_attn_args *a = &ba->fwd;
    struct cb_cl_attn_bwd *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "bf16 attention backward plan");
    struct mma_attn_opts mo;
    char opts[96];
    CB_TRY(mma_attn_setup(req, a, 1, "bf16 matrix-unit attention backward", &pl->base, &mo,
                          opts, sizeof opts));
    const int bs = a->head_dim > 64 ? 32 : 64;  // attn_bwd_mma.cl's BS
    snprintf(pl->base.params, sizeof pl->base.params, "BQ=%d,BKV=%d,BS=%d,LDM=%d", MMA_BQ,
             MMA_BKV, bs, mo.ldm);
    CB_TRY(cb_cl_attn_bwd_buffers(pl, ba, 2));
    cl_program prog;
    CB_TRY(cb_cl_mma_program(pl->base.rt, "attn_bwd_mma.cl", cb_cl_src_attn_bwd_mma, opts,
                             &prog));
    CB_TRY(cb_clrt_kernel(prog, "attn_bwd_mma_dq", &pl->kdq));
    CB_TRY(cb_clrt_kernel(prog, "attn_bwd_mma_dkdv", &pl->kdkdv));
    CB_TRY(cb_cl_attn_bwd_args(pl, a, MMA_BQ, 128, MMA_BKV, 128));
out:
    if (s != CB_OK) {
        bwd_plan_free(pl);
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
    {
        .name = "attn_bwd_bf16_opencl",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_OPENCL,
        .priority = 1,
        .max_threads = 1,
        .available = cb_cl_mma_available,
        .plan = bwd_plan_make,
        .run = cb_cl_attn_bwd_run,
        .finish = cb_cl_plan_finish,
        .readback = cb_cl_attn_bwd_readback,
        .plan_free = bwd_plan_free,
        .where = cb_cl_plan_where,
        .pci_bus = cb_cl_plan_pci_bus,
        .device_time_ns = cb_cl_plan_device_ns,
        .desc = "OpenCL bf16 flash-attention backward on NVIDIA matrix units (inline PTX "
                "mma.sync m16n8k16, dQ then dK/dV, f32 softmax and gradients, P and dS rounded "
                "to bf16 for the products; sm_80+, D % 16 == 0 up to 128)",
    },
    {.name = NULL},
};
