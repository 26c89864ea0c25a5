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
    struct cb_clrt *rt;
    cl_mem a, b, c;
    struct cb_cl_timing t;
};

static void clblast_plan_free(void *plan)
{
    struct clblast_plan *pl = plan;
    if (!pl)
        return;
    if (pl->rt)
        clFinish(pl->rt->queue);
    cb_cl_timing_free(&pl->t);
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
    CB_TRY(cb_clrt_open(req->device, &pl->rt));
    CB_TRY(cb_clrt_upload(pl->rt, g->a, g->trans_a ? g->k : g->m, g->trans_a ? g->m : g->k,
                          g->lda, &pl->a));
    CB_TRY(cb_clrt_upload(pl->rt, g->b, g->trans_b ? g->n : g->k, g->trans_b ? g->k : g->n,
                          g->ldb, &pl->b));
    if (g->beta == 0.0f) {
        size_t nc = (size_t)((g->m - 1) * g->ldc + g->n);
        CB_TRY(cb_clrt_buffer(pl->rt, nc * sizeof(float), CL_MEM_READ_WRITE, &pl->c));
        CB_TRY(cb_clrt_fill_nan(pl->rt, pl->c, nc));
    } else {
        CB_TRY(cb_clrt_upload(pl->rt, g->c, g->m, g->n, g->ldc, &pl->c));
    }
    cl_int e = clFinish(pl->rt->queue);
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
    cb_cl_timing_begin(&pl->t);
    // CLBlast may run several kernels (pad, transpose, GEMM) and returns the
    // event of the last only: a marker before the call opens the span.
    cl_int e = clEnqueueMarkerWithWaitList(pl->rt->queue, 0, NULL, &mark);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clEnqueueMarkerWithWaitList");
    cb_cl_timing_event(&pl->t, mark);
    CLBlastStatusCode st = CLBlastSgemm(
        CLBlastLayoutRowMajor, g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, (size_t)g->m, (size_t)g->n,
        (size_t)g->k, g->alpha, pl->a, 0, (size_t)g->lda, pl->b, 0, (size_t)g->ldb, g->beta,
        pl->c, 0, (size_t)g->ldc, &pl->rt->queue, &ev);
    if (st != CLBlastSuccess)
        return cb_set_error(st == CLBlastOpenCLOutOfResources ? CB_ERR_NO_MEMORY : CB_ERR_BACKEND,
                            "CLBlastSgemm: status %d", (int)st);
    if (ev)
        cb_cl_timing_event(&pl->t, ev);
    return CB_OK;
}

static enum cb_status clblast_finish(void *plan)
{
    struct clblast_plan *pl = plan;
    cl_int e = clFinish(pl->rt->queue);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clFinish");
    return cb_cl_timing_record(&pl->t);
}

static enum cb_status clblast_readback(void *plan, const struct cb_call *call)
{
    struct clblast_plan *pl = plan;
    const struct cb_gemm_args *g = &call->u.gemm;
    return cb_clrt_download(pl->rt, pl->c, g->c, g->m, g->n, g->ldc);
}

static double clblast_device_ns(void *plan)
{
    return cb_cl_timing_median(&((struct clblast_plan *)plan)->t);
}

static void clblast_where(void *plan, char *device, int dlen, char *chip_class, int clen)
{
    struct clblast_plan *pl = plan;
    snprintf(device, (size_t)dlen, "%s [CLBlast]", pl->rt->label);
    snprintf(chip_class, (size_t)clen, "%s", pl->rt->chip_class);
}

static enum cb_status clblast_available(void)
{
    struct cb_ocl_device *d = NULL;
    int n = 0;
    enum cb_status s = cb_ocl_list(&d, &n);
    free(d);
    if (s == CB_OK && n == 0)
        s = cb_set_error(CB_ERR_UNSUPPORTED, "no OpenCL device found");
    return s;
}

const struct cb_kernel cb_gemm_clblast_kernels[] = {
    {
        .name = "gemm_f32_clblast",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_CLBLAST,
        .priority = 0,
        .max_threads = 1,  // one host thread drives the device
        .available = clblast_available,
        .plan = clblast_plan_make,
        .run = clblast_run,
        .finish = clblast_finish,
        .readback = clblast_readback,
        .plan_free = clblast_plan_free,
        .where = clblast_where,
        .device_time_ns = clblast_device_ns,
        .desc = "CLBlast CLBlastSgemm on the OpenCL device (baseline)",
    },
    {.name = NULL},
};
