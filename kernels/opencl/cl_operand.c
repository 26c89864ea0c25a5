// cl_operand.c: GEMM operands on the device and the shared GEMM argument
// list (cl_operand.h).
#include <stdlib.h>

#include "cl_operand.h"

enum cb_status cb_cl_operand_pad(struct cb_clrt *rt, struct cb_cl_operand *o, cl_program padp,
                                 const char *kname, size_t elem, int rows, int cols, int ld,
                                 int trans, int prow, int pcol)
{
    enum cb_status s = CB_OK;
    CB_TRY(cb_clrt_buffer(rt, (size_t)prow * (size_t)pcol * elem, CL_MEM_READ_WRITE,
                          &o->padded));
    CB_TRY(cb_clrt_kernel(padp, kname, &o->pad));
    // pad.cl's rows/cols are of the destination's orientation.
    int drows = trans ? cols : rows, dcols = trans ? rows : cols;
    CB_TRY(cb_clrt_arg(o->pad, 0, sizeof(cl_mem), &o->user));
    CB_TRY(cb_clrt_arg(o->pad, 1, sizeof(int), &ld));
    CB_TRY(cb_clrt_arg(o->pad, 2, sizeof(int), &drows));
    CB_TRY(cb_clrt_arg(o->pad, 3, sizeof(int), &dcols));
    CB_TRY(cb_clrt_arg(o->pad, 4, sizeof(int), &trans));
    CB_TRY(cb_clrt_arg(o->pad, 5, sizeof(cl_mem), &o->padded));
    CB_TRY(cb_clrt_arg(o->pad, 6, sizeof(int), &pcol));
    o->pad_gws[0] = (size_t)pcol;
    o->pad_gws[1] = (size_t)prow;
    o->ld = pcol;
out:
    return s;
}

void cb_cl_operand_free(struct cb_cl_operand *o)
{
    if (o->pad)
        clReleaseKernel(o->pad);
    if (o->padded)
        clReleaseMemObject(o->padded);
    if (o->user)
        clReleaseMemObject(o->user);
}

enum cb_status cb_cl_operands_pad(struct cb_clrt *rt, struct cb_cl_timing *t,
                                  struct cb_cl_operand *const *ops, int n)
{
    for (int i = 0; i < n; i++) {
        if (!ops[i]->pad)
            continue;
        cl_event ev;
        cl_int e = clEnqueueNDRangeKernel(rt->queue, ops[i]->pad, 2, NULL, ops[i]->pad_gws, NULL,
                                          0, NULL, &ev);
        if (e != CL_SUCCESS)
            return cb_cl_fail(e, "clEnqueueNDRangeKernel(pad copy)");
        cb_cl_timing_event(t, ev);
    }
    return CB_OK;
}

enum cb_status cb_cl_gemm_run(void *plan, const struct cb_call *call)
{
    (void)call;  // inputs live on the device since the plan
    struct cb_cl_gemm_plan *pl = plan;
    cl_event ev;
    cb_cl_timing_begin(&pl->base.t);
    struct cb_cl_operand *const ops[2] = {&pl->a, &pl->b};
    enum cb_status s = cb_cl_operands_pad(pl->base.rt, &pl->base.t, ops, 2);
    if (s != CB_OK)
        return s;
    cl_int e = clEnqueueNDRangeKernel(pl->base.rt->queue, pl->gemm, 2, NULL, pl->gws, pl->lws, 0,
                                      NULL, &ev);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clEnqueueNDRangeKernel(gemm)");
    cb_cl_timing_event(&pl->base.t, ev);
    return CB_OK;
}

enum cb_status cb_cl_gemm_readback(void *plan, const struct cb_call *call)
{
    struct cb_cl_gemm_plan *pl = plan;
    const struct cb_gemm_args *g = &call->u.gemm;
    return cb_clrt_download(pl->base.rt, pl->c, g->c, g->m, g->n, g->ldc);
}

void cb_cl_gemm_plan_free(void *plan)
{
    struct cb_cl_gemm_plan *p = plan;
    if (!p)
        return;
    cb_cl_plan_release(&p->base);
    cb_cl_operand_free(&p->a);
    cb_cl_operand_free(&p->b);
    if (p->c)
        clReleaseMemObject(p->c);
    if (p->gemm)
        clReleaseKernel(p->gemm);
    free(p);
}

enum cb_status cb_cl_gemm_args(cl_kernel k, int m, int n, int kdim, float alpha, float beta,
                               const struct cb_cl_operand *a, const struct cb_cl_operand *b,
                               cl_mem c, int ldc)
{
    enum cb_status s = CB_OK;
    cl_mem am = a->padded ? a->padded : a->user, bm = b->padded ? b->padded : b->user;
    CB_TRY(cb_clrt_arg(k, 0, sizeof(int), &m));
    CB_TRY(cb_clrt_arg(k, 1, sizeof(int), &n));
    CB_TRY(cb_clrt_arg(k, 2, sizeof(int), &kdim));
    CB_TRY(cb_clrt_arg(k, 3, sizeof(float), &alpha));
    CB_TRY(cb_clrt_arg(k, 4, sizeof(float), &beta));
    CB_TRY(cb_clrt_arg(k, 5, sizeof(cl_mem), &am));
    CB_TRY(cb_clrt_arg(k, 6, sizeof(int), &a->ld));
    CB_TRY(cb_clrt_arg(k, 7, sizeof(cl_mem), &bm));
    CB_TRY(cb_clrt_arg(k, 8, sizeof(int), &b->ld));
    CB_TRY(cb_clrt_arg(k, 9, sizeof(cl_mem), &c));
    CB_TRY(cb_clrt_arg(k, 10, sizeof(int), &ldc));
out:
    return s;
}
