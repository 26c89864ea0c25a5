// attn_bwd_opencl.c: the OpenCL f32 flash-attention backward
// (attn_bwd_f32_opencl), host side of attn_bwd.cl, for any OpenCL device:
// plan = pick tile parameters (CHIPBENCH_CL_ATTN_BWD > defaults for the
// device type and head dim), build the program with them as defines, upload
// Q, K, V, O, lse and dO once and poison dQ, dK, dV; run = two launches
// (attn_bwd_dq, which also writes Di = rowsum(dO * O) to a scratch buffer,
// then attn_bwd_dkdv); readback = dQ, dK, dV. The upload, launch and
// readback are the shared backward head (cl_attn.h), also used by the bf16
// matrix-unit backward (attn_bwd_mma_opencl.c).
//
// Not a forward (lse must come from one) and not tuned through
// results/tuning; the GPU defaults are reasoned from the 48 KiB of local
// memory NVIDIA's OpenCL gives a work-group, see choose_params.
//
// Shapes: Q, O, dO, dQ (B,H,Lq,D); K, V, dK, dV (B,Hkv,Lk,D); lse (B,H,Lq).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "cl_attn.h"
#include "cl_params.h"
#include "clrt.h"

extern const char cb_cl_src_attn_bwd[];

#define BWD_MAX_D 256  // dK, dV (and dQ) tiles live in registers

// Parameters ------------------------------------------------------------------

// dK/dV kernel: BKV keys per work-group, BQ query rows per step, NT threads;
// S/dP tile mapped SX (keys) x SY (rows), dK/dV tile CX (float4 columns of
// D) x CY (keys). dQ kernel: QBQ rows per work-group, QBK keys per step, QNT
// threads, S/dP mapped QSX x QSY, dQ mapped QCX x QCY (rows). PAD floats of
// padding per local row.
struct bwd_params {
    int bkv, bq, nt, sx, sy, cx, cy;
    int qbq, qbk, qnt, qsx, qsy, qcx, qcy;
    int pad;
};

#define NPARAM 15
static const char *const param_keys[NPARAM] = {"BKV", "BQ",  "NT",  "SX",  "SY",
                                               "CX",  "CY",  "QBQ", "QBK", "QNT",
                                               "QSX", "QSY", "QCX", "QCY", "PAD"};

static int *param_ptr(struct bwd_params *p, int i)
{
    int *v[NPARAM] = {&p->bkv, &p->bq,  &p->nt,  &p->sx,  &p->sy,  &p->cx,  &p->cy, &p->qbq,
                      &p->qbk, &p->qnt, &p->qsx, &p->qsy, &p->qcx, &p->qcy, &p->pad};
    return v[i];
}

// GPU (NVIDIA: 48 KiB of local memory per work-group, 128 threads): the K
// and V tiles of the dK/dV kernel and the Q and dO tiles of the dQ kernel
// stay in local memory for the whole work-group, so the other pair is
// streamed in small blocks; per head dim the largest blocks that fit.
// Register tiles: dK+dV 2 x 4 x (4*RD4) floats, dQ 4 x (4*RD4) floats.
// Not measured on a GPU yet.
static const struct bwd_params gpu_d64 = {32, 32, 128, 16, 8, 16, 8,   // 44.0 KiB
                                          32, 32, 128, 16, 8, 16, 8, 4};  // 39.4 KiB
static const struct bwd_params gpu_d128 = {32, 8, 128, 16, 8, 16, 8,   // 44.3 KiB
                                           32, 8, 128, 8, 16, 16, 8, 4};  // 43.0 KiB
static const struct bwd_params gpu_d256 = {16, 4, 128, 16, 4, 16, 8,   // 41.7 KiB
                                           16, 4, 128, 4, 16, 16, 8, 4};  // 41.3 KiB
// CPU (PoCL and the like): work-items become loops over vector lanes, local
// memory is cache; bigger blocks amortize the barriers.
static const struct bwd_params cpu_default = {64, 32, 64, 8, 8, 8, 8,
                                              64, 32, 64, 8, 8, 8, 8, 4};

static int gcd_int(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

// D padded to a multiple of the float4 columns both kernels share out.
static int padded_d(const struct bwd_params *p, int d)
{
    int a = 4 * p->cx, b = 4 * p->qcx;
    return (int)cb_round_up((size_t)d, (size_t)(a / gcd_int(a, b) * b));
}

static size_t local_dkdv(const struct bwd_params *p, int dp)
{
    size_t ldq = (size_t)(dp + p->pad);
    return sizeof(float) * (2 * (size_t)p->bkv * ldq + 2 * (size_t)p->bq * ldq +
                            2 * (size_t)p->bkv * (size_t)(p->bq + p->pad) + 2 * (size_t)p->bq);
}

static size_t local_dq(const struct bwd_params *p, int dp)
{
    size_t ldq = (size_t)(dp + p->pad);
    return sizeof(float) * (2 * (size_t)p->qbq * ldq + 2 * (size_t)p->qbk * ldq +
                            (size_t)p->qbq * (size_t)(p->qbk + p->pad) + 2 * (size_t)p->qbq);
}

static enum cb_status params_check(const struct bwd_params *p)
{
    struct bwd_params c = *p;
    for (int i = 0; i < NPARAM; i++) {
        int v = *param_ptr(&c, i);
        if (v < (i == NPARAM - 1 ? 0 : 1) || v > 1024)
            return cb_set_error(CB_ERR_INVALID_ARG, "%s=%d out of range (1..1024, PAD 0..)",
                                param_keys[i], v);
    }
    if (p->bq % p->sy || p->bkv % p->sx || p->bkv % p->cy || p->sx * p->sy > p->nt ||
        p->cx * p->cy > p->nt || p->bq % 4)
        return cb_set_error(CB_ERR_INVALID_ARG,
                            "dK/dV kernel: need BQ %% SY == 0, BKV %% SX == 0, BKV %% CY == 0, "
                            "SX*SY <= NT, CX*CY <= NT, BQ %% 4 == 0");
    if (p->qbq % p->qsy || p->qbk % p->qsx || p->qbq % p->qcy || p->qsx * p->qsy > p->qnt ||
        p->qcx * p->qcy > p->qnt || p->qbk % 4)
        return cb_set_error(CB_ERR_INVALID_ARG,
                            "dQ kernel: need QBQ %% QSY == 0, QBK %% QSX == 0, QBQ %% QCY == 0, "
                            "QSX*QSY <= QNT, QCX*QCY <= QNT, QBK %% 4 == 0");
    if (p->pad % 4)
        return cb_set_error(CB_ERR_INVALID_ARG, "PAD %% 4 == 0");
    // Register tiles: keep them bounded (the compiler would spill anyway).
    if ((p->bq / p->sy) * (p->bkv / p->sx) > 64 || (p->qbq / p->qsy) * (p->qbk / p->qsx) > 64)
        return cb_set_error(CB_ERR_INVALID_ARG, "S tile per thread above 64 scores");
    return CB_OK;
}

static void params_str(const struct bwd_params *p, char *buf, size_t len)
{
    struct bwd_params c = *p;
    const int *vals[NPARAM];
    for (int i = 0; i < NPARAM; i++)
        vals[i] = param_ptr(&c, i);
    cb_cl_params_str(param_keys, vals, NPARAM, buf, len);
}

// "BKV=64,BQ=16,..." over a starting set: keys given replace those values.
static enum cb_status params_parse(const char *text, struct bwd_params *p)
{
    int *vals[NPARAM];
    for (int i = 0; i < NPARAM; i++)
        vals[i] = param_ptr(p, i);
    enum cb_status s = cb_cl_params_parse("", text, text, param_keys, vals, NPARAM);
    if (s == CB_OK && params_check(p) != CB_OK)
        s = cb_cl_error_wrap(CB_ERR_PARSE, "'%s'", text);
    return s;
}

static enum cb_status params_fit(const struct cb_clrt *rt, const struct bwd_params *p, int d)
{
    const int dp = padded_d(p, d);
    const size_t l1 = local_dkdv(p, dp), l2 = local_dq(p, dp);
    const size_t wg = (size_t)(p->nt > p->qnt ? p->nt : p->qnt);
    if (wg > rt->info.max_work_group)
        return cb_set_error(CB_ERR_UNSUPPORTED, "work-group of %zu exceeds the device's %zu", wg,
                            rt->info.max_work_group);
    if (l1 > rt->info.local_mem_bytes || l2 > rt->info.local_mem_bytes)
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "%zu / %zu bytes of local memory (dK/dV, dQ) at D=%d exceed the "
                            "device's %llu",
                            l1, l2, d, (unsigned long long)rt->info.local_mem_bytes);
    return CB_OK;
}

// Choose: CHIPBENCH_CL_ATTN_BWD (over the default for the device type and
// D, exactly as given) > that default adapted to D and the local memory.
static enum cb_status choose_params(const struct cb_clrt *rt, int d, struct bwd_params *p,
                                    char *origin, size_t olen)
{
    const int cpu = !strcmp(rt->info.type, "cpu");
    *p = cpu ? cpu_default : d <= 64 ? gpu_d64 : d <= 128 ? gpu_d128 : gpu_d256;
    const char *env = getenv("CHIPBENCH_CL_ATTN_BWD");
    if (env && *env) {
        if (params_parse(env, p) != CB_OK)
            return cb_cl_error_wrap(CB_ERR_INVALID_ARG, "CHIPBENCH_CL_ATTN_BWD");
        snprintf(origin, olen, "CHIPBENCH_CL_ATTN_BWD");
        return params_fit(rt, p, d);
    }
    // Small D: fewer threads across D (less zero padding), more across rows.
    while (p->cx > 1 && 2 * p->cy <= p->bkv &&
           cb_round_up((size_t)d, (size_t)(2 * p->cx)) <
               cb_round_up((size_t)d, (size_t)(4 * p->cx))) {
        p->cx /= 2;
        p->cy *= 2;
    }
    while (p->qcx > 1 && 2 * p->qcy <= p->qbq &&
           cb_round_up((size_t)d, (size_t)(2 * p->qcx)) <
               cb_round_up((size_t)d, (size_t)(4 * p->qcx))) {
        p->qcx /= 2;
        p->qcy *= 2;
    }
    // Shrink the streamed blocks, then the resident ones, until the local
    // memory fits (all defaults are powers of two, so halving keeps the
    // divisibility rules).
    while (local_dkdv(p, padded_d(p, d)) > rt->info.local_mem_bytes) {
        if (p->bq > 4) {
            p->bq /= 2;
            if (p->sy > p->bq)
                p->sy = p->bq;
        } else if (p->bkv > 4) {
            p->bkv /= 2;
            if (p->sx > p->bkv)
                p->sx = p->bkv;
            if (p->cy > p->bkv)
                p->cy = p->bkv;
        } else
            break;
    }
    while (local_dq(p, padded_d(p, d)) > rt->info.local_mem_bytes) {
        if (p->qbk > 4) {
            p->qbk /= 2;
            if (p->qsx > p->qbk)
                p->qsx = p->qbk;
        } else if (p->qbq > 4) {
            p->qbq /= 2;
            if (p->qsy > p->qbq)
                p->qsy = p->qbq;
            if (p->qcy > p->qbq)
                p->qcy = p->qbq;
        } else
            break;
    }
    snprintf(origin, olen, "default for %s devices", rt->info.type);
    return params_fit(rt, p, d);
}

// The shared backward head (cl_attn.h) ------------------------------------

enum cb_status cb_cl_attn_bwd_buffers(struct cb_cl_attn_bwd *f, const struct cb_attn_bwd_args *ba,
                                      size_t elem)
{
    enum cb_status s = CB_OK;
    struct cb_clrt *rt = f->base.rt;
    const struct cb_attn_args *a = &ba->fwd;
    const int64_t bh = a->batch * a->heads, bkv = a->batch * a->kv_heads;
    const int64_t D = a->head_dim;
    CB_TRY(cb_clrt_upload_elems(rt, a->q, bh * a->seq_q, D, D, elem, &f->q));
    CB_TRY(cb_clrt_upload_elems(rt, a->k, bkv * a->seq_kv, D, D, elem, &f->k));
    CB_TRY(cb_clrt_upload_elems(rt, a->v, bkv * a->seq_kv, D, D, elem, &f->v));
    CB_TRY(cb_clrt_upload_elems(rt, ba->dout, bh * a->seq_q, D, D, elem, &f->dout));
    CB_TRY(cb_clrt_upload(rt, a->o, bh * a->seq_q, D, D, &f->o));
    CB_TRY(cb_clrt_upload(rt, a->lse, 1, bh * a->seq_q, bh * a->seq_q, &f->lse));
    const size_t nq = (size_t)(bh * a->seq_q * D), nk = (size_t)(bkv * a->seq_kv * D);
    const size_t nl = (size_t)(bh * a->seq_q);
    CB_TRY(cb_clrt_buffer(rt, nl * sizeof(float), CL_MEM_READ_WRITE, &f->di));
    CB_TRY(cb_clrt_buffer(rt, nq * sizeof(float), CL_MEM_READ_WRITE, &f->dq));
    CB_TRY(cb_clrt_buffer(rt, nk * sizeof(float), CL_MEM_READ_WRITE, &f->dk));
    CB_TRY(cb_clrt_buffer(rt, nk * sizeof(float), CL_MEM_READ_WRITE, &f->dv));
    CB_TRY(cb_clrt_fill_nan(rt, f->di, nl));  // unwritten elements show up in verify
    CB_TRY(cb_clrt_fill_nan(rt, f->dq, nq));
    CB_TRY(cb_clrt_fill_nan(rt, f->dk, nk));
    CB_TRY(cb_clrt_fill_nan(rt, f->dv, nk));
out:
    return s;
}

enum cb_status cb_cl_attn_bwd_args(struct cb_cl_attn_bwd *f, const struct cb_attn_args *a,
                                   int qbq, size_t qnt, int bkv, size_t nt)
{
    enum cb_status s = CB_OK;
    const int64_t bh = a->batch * a->heads, bhkv = a->batch * a->kv_heads;
    const int BH = (int)bh, BHKV = (int)bhkv, H = (int)a->heads;
    const int group = (int)(a->heads / a->kv_heads);
    const int lq = (int)a->seq_q, lk = (int)a->seq_kv, causal = a->causal != 0;
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)a->head_dim);
    // One dimension: group counts past 65535 are fine there on every device.
    const size_t nqb = cb_round_up((size_t)lq, (size_t)qbq) / (size_t)qbq;
    const size_t nkb = cb_round_up((size_t)lk, (size_t)bkv) / (size_t)bkv;
    f->lws_dq = qnt;
    f->gws_dq = nqb * (size_t)BH * qnt;
    f->lws_dkdv = nt;
    f->gws_dkdv = nkb * (size_t)BHKV * nt;
    // Both kernels: 8 buffers, then (BH or BHKV, H, GROUP, Lq, Lk, scale, causal).
    const cl_mem dq_bufs[8] = {f->q, f->k, f->v, f->o, f->dout, f->lse, f->di, f->dq};
    const cl_mem kv_bufs[8] = {f->q, f->k, f->v, f->dout, f->lse, f->di, f->dk, f->dv};
    const cl_kernel ks[2] = {f->kdq, f->kdkdv};
    for (int x = 0; x < 2; x++) {
        for (int i = 0; i < 8; i++)
            CB_TRY(cb_clrt_arg(ks[x], (cl_uint)i, sizeof(cl_mem), x ? &kv_bufs[i] : &dq_bufs[i]));
        CB_TRY(cb_clrt_arg(ks[x], 8, sizeof(int), x ? &BHKV : &BH));
        CB_TRY(cb_clrt_arg(ks[x], 9, sizeof(int), &H));
        CB_TRY(cb_clrt_arg(ks[x], 10, sizeof(int), &group));
        CB_TRY(cb_clrt_arg(ks[x], 11, sizeof(int), &lq));
        CB_TRY(cb_clrt_arg(ks[x], 12, sizeof(int), &lk));
        CB_TRY(cb_clrt_arg(ks[x], 13, sizeof(float), &scale));
        CB_TRY(cb_clrt_arg(ks[x], 14, sizeof(int), &causal));
    }
    cl_int e = clFinish(f->base.rt->queue);
    if (e != CL_SUCCESS)
        s = cb_cl_fail(e, "clFinish after upload");
out:
    return s;
}

void cb_cl_attn_bwd_release(struct cb_cl_attn_bwd *f)
{
    cb_cl_plan_release(&f->base);
    cl_mem *bufs[] = {&f->q, &f->k, &f->v, &f->o, &f->lse, &f->dout, &f->di, &f->dq, &f->dk, &f->dv};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (*bufs[i])
            clReleaseMemObject(*bufs[i]);
    if (f->kdq)
        clReleaseKernel(f->kdq);
    if (f->kdkdv)
        clReleaseKernel(f->kdkdv);
}

enum cb_status cb_cl_attn_bwd_run(void *plan, const struct cb_call *call)
{
    (void)call;  // inputs live on the device since the plan
    struct cb_cl_attn_bwd *f = plan;
    cl_event ev;
    cb_cl_timing_begin(&f->base.t);
    // dQ first: it writes Di, which the dK/dV launch reads (in-order queue).
    cl_int e = clEnqueueNDRangeKernel(f->base.rt->queue, f->kdq, 1, NULL, &f->gws_dq, &f->lws_dq,
                                      0, NULL, &ev);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clEnqueueNDRangeKernel(attention backward dQ)");
    cb_cl_timing_event(&f->base.t, ev);
    e = clEnqueueNDRangeKernel(f->base.rt->queue, f->kdkdv, 1, NULL, &f->gws_dkdv, &f->lws_dkdv,
                               0, NULL, &ev);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clEnqueueNDRangeKernel(attention backward dK/dV)");
    cb_cl_timing_event(&f->base.t, ev);
    return CB_OK;
}

enum cb_status cb_cl_attn_bwd_readback(void *plan, const struct cb_call *call)
{
    struct cb_cl_attn_bwd *f = plan;
    const struct cb_attn_bwd_args *ba = &call->u.attn_bwd;
    const struct cb_attn_args *a = &ba->fwd;
    const int64_t qrows = a->batch * a->heads * a->seq_q;
    const int64_t krows = a->batch * a->kv_heads * a->seq_kv;
    enum cb_status s = cb_clrt_download(f->base.rt, f->dq, ba->dq, qrows, a->head_dim, a->head_dim);
    if (s == CB_OK)
        s = cb_clrt_download(f->base.rt, f->dk, ba->dk, krows, a->head_dim, a->head_dim);
    if (s == CB_OK)
        s = cb_clrt_download(f->base.rt, f->dv, ba->dv, krows, a->head_dim, a->head_dim);
    return s;
}

// Plan ----------------------------------------------------------------------

struct bwd_plan {
    struct cb_cl_attn_bwd f;  // first: the shared head and plan callbacks use it
    struct bwd_params p;
};

static void bwd_plan_free(void *plan)
{
    struct bwd_plan *pl = plan;
    if (!pl)
        return;
    cb_cl_attn_bwd_release(&pl->f);
    free(pl);
}

static enum cb_status bwd_plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                    void **plan)
{
    (void)k;
    enum cb_status s = CB_OK;
    const struct cb_attn_bwd_args *ba = &req->shape->u.attn_bwd;
    const struct cb_attn_args *a = &ba->fwd;
    struct bwd_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention backward plan");
    CB_TRY(cb_cl_attn_check(a, BWD_MAX_D, 1, "OpenCL attention backward"));
    CB_TRY(cb_clrt_open(req->device, &pl->f.base.rt));
    struct cb_clrt *rt = pl->f.base.rt;
    const int d = (int)a->head_dim;
    CB_TRY(choose_params(rt, d, &pl->p, pl->f.base.origin, sizeof pl->f.base.origin));
    params_str(&pl->p, pl->f.base.params, sizeof pl->f.base.params);
    const struct bwd_params *p = &pl->p;
    CB_TRY(cb_cl_attn_bwd_buffers(&pl->f, ba, sizeof(float)));

    char opts[512];
    snprintf(opts, sizeof opts,
             "-cl-mad-enable -D D=%d -D DP=%d -D PAD=%d -D BKV=%d -D BQ=%d -D NT=%d -D SX=%d "
             "-D SY=%d -D CX=%d -D CY=%d -D QBQ=%d -D QBK=%d -D QNT=%d -D QSX=%d -D QSY=%d "
             "-D QCX=%d -D QCY=%d",
             d, padded_d(p, d), p->pad, p->bkv, p->bq, p->nt, p->sx, p->sy, p->cx, p->cy, p->qbq,
             p->qbk, p->qnt, p->qsx, p->qsy, p->qcx, p->qcy);
    cl_program prog;
    CB_TRY(cb_clrt_program(rt, "attn_bwd.cl", cb_cl_src_attn_bwd, opts, &prog));
    CB_TRY(cb_clrt_kernel(prog, "attn_bwd_dq", &pl->f.kdq));
    CB_TRY(cb_clrt_kernel(prog, "attn_bwd_dkdv", &pl->f.kdkdv));
    CB_TRY(cb_cl_attn_bwd_args(&pl->f, a, p->qbq, (size_t)p->qnt, p->bkv, (size_t)p->nt));
out:
    if (s != CB_OK) {
        bwd_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

const struct cb_kernel cb_attn_bwd_opencl_kernels[] = {
    {
        .name = "attn_bwd_f32_opencl",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_OPENCL,
        .priority = 1,  // a device kernel is never the CPU's default
        .max_threads = 1,
        .available = cb_cl_available,
        .plan = bwd_plan_make,
        .run = cb_cl_attn_bwd_run,
        .finish = cb_cl_plan_finish,
        .readback = cb_cl_attn_bwd_readback,
        .plan_free = bwd_plan_free,
        .where = cb_cl_plan_where,
        .device_time_ns = cb_cl_plan_device_ns,
        .pci_bus = cb_cl_plan_pci_bus,
        .desc = "OpenCL f32 flash-attention backward (dQ, then dK/dV per key block; no atomics)",
    },
    {.name = NULL},
};
