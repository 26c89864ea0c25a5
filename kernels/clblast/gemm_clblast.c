// gemm_clblast.c: CLBlast's CLBlastSgemm as the OpenCL baseline
// (gemm_f32_clblast), on the same device, queue and data layout as
// gemm_f32_opencl so `ours / CLBlast` compares kernels, not set-ups.
// Built only when pkg-config finds clblast (and OpenCL). CLBlast uses its
// own tuning database for known devices and its defaults otherwise; its
// internal pad/transpose kernels are inside its event, hence inside the time.
#include <stdio.h>
#include <stdlib.h>

#include <clblast_c.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "../opencl/clrt.h"

struct clblast_plan {
    struct cb_cl_plan base;  // first: the shared plan callbacks use it
    cl_mem a, b, c;
};

static void clblast_plan_free(void *plan)
{
    struct clblast_plan *pl = plan;
    if (!pl)
        return;
    cb_cl_plan_release(&pl->base);
    cl_mem *m[3] = {&pl->a, &pl->b, &pl->c};
    for (int i = 0; i < 3; i++)
        if (*m[i])
            clReleaseMemObject(*m[i]);
    free(pl);
}

static enum cb_status clblast_plan_make(const struct cb_kernel *k,
                                        const struct cb_plan_req *req, void **plan)
{
    (void)k;
    enum cb_status s = CB_OK;
    const struct cb_gemm_args *g = &req->shape->u.gemm;
    struct clblast_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "CLBlast plan");
    CB_TRY(cb_clrt_open(req->device, &pl->base.rt));
    snprintf(pl->base.params, sizeof pl->base.params, "CLBlast");
    CB_TRY(cb_clrt_upload(pl->base.rt, g->a, g->trans_a ? g->k : g->m, g->trans_a ? g->m : g->k,
                          g->lda, &pl->a));
    CB_TRY(cb_clrt_upload(pl->base.rt, g->b, g->trans_b ? g->n : g->k, g->trans_b ? g->k : g->n,
                          g->ldb, &pl->b));
    if (g->beta == 0.0f) {
        size_t nc = (size_t)((g->m - 1) * g->ldc + g->n);
        CB_TRY(cb_clrt_buffer(pl->base.rt, nc * sizeof(float), CL_MEM_READ_WRITE, &pl->c));
        CB_TRY(cb_clrt_fill_nan(pl->base.rt, pl->c, nc));
    } else {
        CB_TRY(cb_clrt_upload(pl->base.rt, g->c, g->m, g->n, g->ldc, &pl->c));
    }
    cl_int e = clFinish(pl->base.rt->queue);
    if (e != CL_SUCCESS)
        s = cb_cl_fail(e, "clFinish after upload");
out:
    if (s != CB_OK) {
        clblast_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status clblast_run(void *plan, const struct cb_call *call)
{
    struct clblast_plan *pl = plan;
    const struct cb_gemm_args *g = &call->u.gemm;
    cl_event ev = NULL, mark = NULL;
    cb_cl_timing_begin(&pl->base.t);
    // CLBlast may run several kernels (pad, transpose, GEMM) and returns the
    // event of the last only: a marker before the call opens the span.
    cl_int e = clEnqueueMarkerWithWaitList(pl->base.rt->queue, 0, NULL, &mark);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clEnqueueMarkerWithWaitList");
    cb_cl_timing_event(&pl->base.t, mark);
    CLBlastStatusCode st = CLBlastSgemm(
        CLBlastLayoutRowMajor, g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, (size_t)g->m, (size_t)g->n,
        (size_t)g->k, g->alpha, pl->a, 0, (size_t)g->lda, pl->b, 0, (size_t)g->ldb, g->beta,
        pl->c, 0, (size_t)g->ldc, &pl->base.rt->queue, &ev);
    if (st != CLBlastSuccess)
        return cb_set_error(st == CLBlastOpenCLOutOfResources ? CB_ERR_NO_MEMORY : CB_ERR_BACKEND,
                            "CLBlastSgemm: status %d", (int)st);
    if (ev)
        cb_cl_timing_event(&pl->base.t, ev);
    return CB_OK;
}

static enum cb_status clblast_readback(void *plan, const struct cb_call *call)
{
    struct clblast_plan *pl = plan;
    const struct cb_gemm_args *g = &call->u.gemm;
    return cb_clrt_download(pl->base.rt, pl->c, g->c, g->m, g->n, g->ldc);
}

const struct cb_kernel cb_gemm_clblast_kernels[] = {
    {
        .name = "gemm_f32_clblast",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_CLBLAST,
        .priority = 0,
        .max_threads = 1,  // one host thread drives the device
        .available = cb_cl_available,
        .plan = clblast_plan_make,
        .run = clblast_run,
        .finish = cb_cl_plan_finish,
        .readback = clblast_readback,
        .plan_free = clblast_plan_free,
        .where = cb_cl_plan_where,
        .pci_bus = cb_cl_plan_pci_bus,
        .device_time_ns = cb_cl_plan_device_ns,
        .desc = "CLBlast CLBlastSgemm on the OpenCL device (baseline)",
    },
    {.name = NULL},
};
