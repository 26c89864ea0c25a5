// stream_opencl.c: the OpenCL STREAM triad (stream_f32_opencl), the
// bandwidth kernel for devices: plan = open the device, upload b and c once,
// poison a, build stream.cl; run = one launch; readback = a. Four floats
// per work-item (float4 loads and stores) on every device type.
#include <stdio.h>
#include <stdlib.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "clrt.h"

extern const char cb_cl_src_stream[];

#define STREAM_VW 4

struct stream_plan {
    struct cb_cl_plan base;  // first: the shared plan callbacks use it
    int64_t n;
    cl_mem a, b, c;
    cl_kernel kern;
    size_t gws;
};

static void stream_plan_free(void *plan)
{
    struct stream_plan *pl = plan;
    if (!pl)
        return;
    cb_cl_plan_release(&pl->base);
    cl_mem *bufs[] = {&pl->a, &pl->b, &pl->c};
    for (int i = 0; i < 3; i++)
        if (*bufs[i])
            clReleaseMemObject(*bufs[i]);
    if (pl->kern)
        clReleaseKernel(pl->kern);
    free(pl);
}

static enum cb_status stream_plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                       void **plan)
{
    (void)k;
    enum cb_status s = CB_OK;
    const struct cb_stream_args *sa = &req->shape->u.stream;
    struct stream_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "stream plan");
    pl->n = sa->n;
    if (sa->n < 1) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "stream n must be >= 1");
        goto out;
    }
    CB_TRY(cb_clrt_open(req->device, &pl->base.rt));
    struct cb_clrt *rt = pl->base.rt;
    snprintf(pl->base.params, sizeof pl->base.params, "vw=%d", STREAM_VW);
    CB_TRY(cb_clrt_upload(rt, sa->b, 1, sa->n, sa->n, &pl->b));
    CB_TRY(cb_clrt_upload(rt, sa->c, 1, sa->n, sa->n, &pl->c));
    CB_TRY(cb_clrt_buffer(rt, (size_t)sa->n * sizeof(float), CL_MEM_READ_WRITE, &pl->a));
    CB_TRY(cb_clrt_fill_nan(rt, pl->a, (size_t)sa->n));  // unwritten elements fail verify

    char opts[64];
    snprintf(opts, sizeof opts, "-D VW=%d", STREAM_VW);
    cl_program prog;
    CB_TRY(cb_clrt_program(rt, "stream.cl", cb_cl_src_stream, opts, &prog));
    CB_TRY(cb_clrt_kernel(prog, "triad", &pl->kern));
    const float scalar = sa->scalar;
    const cl_ulong n = (cl_ulong)sa->n;
    // Work-items rounded up to a multiple of 256 so any work-group size the
    // driver picks (NULL local size) divides it; the extra ones do nothing.
    pl->gws = cb_round_up(((size_t)sa->n + STREAM_VW - 1) / STREAM_VW, 256);
    CB_TRY(cb_clrt_arg(pl->kern, 0, sizeof(cl_mem), &pl->a));
    CB_TRY(cb_clrt_arg(pl->kern, 1, sizeof(cl_mem), &pl->b));
    CB_TRY(cb_clrt_arg(pl->kern, 2, sizeof(cl_mem), &pl->c));
    CB_TRY(cb_clrt_arg(pl->kern, 3, sizeof(float), &scalar));
    CB_TRY(cb_clrt_arg(pl->kern, 4, sizeof(cl_ulong), &n));
    cl_int e = clFinish(rt->queue);
    if (e != CL_SUCCESS)
        s = cb_cl_fail(e, "clFinish after upload");
out:
    if (s != CB_OK) {
        stream_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status stream_run(void *plan, const struct cb_call *call)
{
    (void)call;  // inputs live on the device since the plan
    struct stream_plan *pl = plan;
    cl_event ev;
    cb_cl_timing_begin(&pl->base.t);
    cl_int e = clEnqueueNDRangeKernel(pl->base.rt->queue, pl->kern, 1, NULL, &pl->gws, NULL, 0,
                                      NULL, &ev);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clEnqueueNDRangeKernel(triad)");
    cb_cl_timing_event(&pl->base.t, ev);
    return CB_OK;
}

static enum cb_status stream_readback(void *plan, const struct cb_call *call)
{
    struct stream_plan *pl = plan;
    const struct cb_stream_args *sa = &call->u.stream;
    return cb_clrt_download(pl->base.rt, pl->a, sa->a, 1, sa->n, sa->n);
}

const struct cb_kernel cb_stream_opencl_kernels[] = {
    {
        .name = "stream_f32_opencl",
        .op = CB_OP_STREAM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_OPENCL,
        .priority = 1,  // a device kernel is never the CPU's default
        .max_threads = 1,  // one host thread drives the device
        .available = cb_cl_available,
        .plan = stream_plan_make,
        .run = stream_run,
        .finish = cb_cl_plan_finish,
        .readback = stream_readback,
        .plan_free = stream_plan_free,
        .where = cb_cl_plan_where,
        .pci_bus = cb_cl_plan_pci_bus,
        .device_time_ns = cb_cl_plan_device_ns,
        .desc = "OpenCL STREAM triad a = b + s*c, float4 per work-item, device memory",
    },
    {.name = NULL},
};
