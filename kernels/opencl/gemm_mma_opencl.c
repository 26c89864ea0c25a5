// gemm_mma_opencl.c: gemm_bf16_opencl and gemm_tf32_opencl, GEMM on
// NVIDIA's matrix units through OpenCL (gemm_mma.cl: inline PTX mma.sync,
// bf16 m16n8k16 or tf32 m16n8k8, sm_80 and later),
// host side: plan = check the device can (NVIDIA platform, compute
// capability 8.0+, a self-test once per device), build, upload; run = zero-
// padded copies where the shape or alignment needs them (on the device,
// inside the timed call, padded FLOPs never reported), then the GEMM.
//
// What it is not: a kernel for other devices. Elsewhere the row is skipped
// with the reason; CHIPBENCH_CL_MMA=emulate (a test hook) builds the same
// kernel with the PTX instruction written out (MMA_EMULATE), so tiling,
// fragments, layouts and bounds run on PoCL in the tests.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_ocl.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"
#include "cl_gemm.h"
#include "cl_mma.h"
#include "cl_operand.h"
#include "cl_params.h"
#include "cl_tuning.h"

extern const char cb_cl_src_gemm_mma[];
extern const char cb_cl_src_mma_common[];

// k depth of a local tile (gemm_mma.cl's BK): tf32 tiles are twice the
// bytes, and three stages of bf16 must fit 48 KiB too.
#define MMA_BK(tf32, st) ((tf32) || (st) > 2 ? 16 : 32)

// Parameters (gemm_mma.cl's defines): warp tile WM x WN (4 warps, a 2WM x
// 2WN block), LDM (ldmatrix), CPA (cp.async), ST (local stages, NSTG: 3
// only with cp.async for both tiles). Text "WM=64,WN=64,LDM=1,CPA=0,ST=2"
// (keys not given keep the default's values), in CHIPBENCH_CL_MMA_GEMM, the
// tuning file (kernel gemm_bf16_opencl or gemm_tf32_opencl, GEMM shape
// classes) and the tuner. Untuned: 64 x 64 with ldmatrix, no cp.async, the
// set the self-test checks. Measured on an H200 at 4096^3
// (results/h200-20261129-tune-log.txt): ldmatrix is 3.4x the 32-bit
// fragment loads in bf16 (286 against 84 TFLOP/s) and 1.08x in tf32;
// cp.async and three stages were slower there (260, 266).
struct mma_params {
    int wm, wn, ldm, cpa, st;
};
static const struct mma_params mma_default = {64, 64, 1, 0, 2};
#define NPARAM 5
static const char *const mma_keys[NPARAM] = {"WM", "WN", "LDM", "CPA", "ST"};
static char g_force[96];

static enum cb_status mma_params_parse(const char *text, struct mma_params *p)
{
    int *vals[NPARAM] = {&p->wm, &p->wn, &p->ldm, &p->cpa, &p->st};
    enum cb_status s = cb_cl_params_parse("matrix-unit GEMM parameters ", text, text, mma_keys,
                                          vals, NPARAM);
    if (s != CB_OK)
        return s;
    if ((p->wm != 16 && p->wm != 32 && p->wm != 64) || (p->wn != 16 && p->wn != 32 && p->wn != 64))
        return cb_set_error(CB_ERR_PARSE, "matrix-unit GEMM parameters '%s': WM and WN are 16, "
                            "32 or 64", text);
    if ((p->ldm != 0 && p->ldm != 1) || (p->cpa != 0 && p->cpa != 1))
        return cb_set_error(CB_ERR_PARSE, "matrix-unit GEMM parameters '%s': LDM and CPA are "
                            "0 or 1", text);
    // (ST=3's 16-deep tiles are whole 16-byte copies a thread from 64 rows)
    if ((p->st != 2 && p->st != 3) || (p->st == 3 && (!p->cpa || p->wm < 32 || p->wn < 32)))
        return cb_set_error(CB_ERR_PARSE, "matrix-unit GEMM parameters '%s': ST is 2, or 3 "
                            "with CPA=1 and WM, WN of at least 32", text);
    return CB_OK;
}

static void mma_params_str(const struct mma_params *p, char *buf, size_t len)
{
    struct mma_params c = *p;
    const int *vals[NPARAM] = {&c.wm, &c.wn, &c.ldm, &c.cpa, &c.st};
    cb_cl_params_str(mma_keys, vals, NPARAM, buf, len);
}

enum cb_status cb_cl_mma_gemm_force(const char *text)
{
    if (!text) {
        g_force[0] = 0;
        return CB_OK;
    }
    struct mma_params p = mma_default;
    enum cb_status s = mma_params_parse(text, &p);
    if (s == CB_OK)
        snprintf(g_force, sizeof g_force, "%s", text);
    return s;
}

// Forced (the tuner) > CHIPBENCH_CL_MMA_GEMM > the tuning file > default.
static enum cb_status choose_params(const struct cb_clrt *rt, const char *kernel,
                                    const struct cb_gemm_args *g, struct mma_params *p,
                                    char *origin, size_t olen)
{
    *p = mma_default;
    const char *env = getenv("CHIPBENCH_CL_MMA_GEMM");
    if (g_force[0]) {
        snprintf(origin, olen, "forced");
        return mma_params_parse(g_force, p);
    }
    if (env && *env) {
        snprintf(origin, olen, "CHIPBENCH_CL_MMA_GEMM");
        return mma_params_parse(env, p) == CB_OK
                   ? CB_OK : cb_cl_error_wrap(CB_ERR_INVALID_ARG, "CHIPBENCH_CL_MMA_GEMM");
    }
    char text[160];
    const char *src = NULL;
    enum cb_status ts = cb_cl_tuning_lookup(&rt->info, kernel, cb_cl_gemm_shape_class(g), text,
                                            sizeof text, &src);
    if (ts != CB_OK && ts != CB_ERR_UNSUPPORTED)
        return ts;
    cb_clear_error();
    if (ts == CB_OK) {
        snprintf(origin, olen, "tuned (%s)", src);
        return mma_params_parse(text, p) == CB_OK
                   ? CB_OK : cb_cl_error_wrap(CB_ERR_PARSE, "tuning entry (%s)", src);
    }
    snprintf(origin, olen, "default");
    return CB_OK;
}

int cb_cl_mma_emulate(void)
{
    const char *e = getenv("CHIPBENCH_CL_MMA");
    return e && !strcmp(e, "emulate");
}

struct mma_plan {
    struct cb_cl_gemm_plan gp;  // first: the shared GEMM and plan callbacks use it
    int tf32;                   // f32 operands with TF32 products, else bf16 ones
    size_t elem;                // bytes of one A or B element
};

// Operand stored (rows, cols), stride ld: used in place when both are tile
// multiples (prow, pcol) and rows are 16-byte aligned, else copied into a
// zero-padded (prow, pcol) buffer of the same orientation.
static enum cb_status operand_setup(struct cb_clrt *rt, struct cb_cl_operand *o,
                                    cl_program padp, size_t elem, int rows, int cols, int ld,
                                    int prow, int pcol)
{
    if (rows == prow && cols == pcol && (ld * (int)elem) % 16 == 0) {
        o->ld = ld;
        return CB_OK;
    }
    return cb_cl_operand_pad(rt, o, padp, elem == 2 ? "pad_copy_u16" : "pad_copy", elem, rows,
                             cols, ld, 0, prow, pcol);
}

enum cb_status cb_cl_mma_program(struct cb_clrt *rt, const char *name, const char *src,
                                 const char *opts, cl_program *prog)
{
    const size_t a = strlen(cb_cl_src_mma_common), b = strlen(src);
    char *all = malloc(a + b + 2);
    if (!all)
        return cb_set_error(CB_ERR_NO_MEMORY, "OpenCL source of %s", name);
    memcpy(all, cb_cl_src_mma_common, a);
    all[a] = '\n';
    memcpy(all + a + 1, src, b + 1);
    enum cb_status s = cb_clrt_program(rt, name, all, opts, prog);
    free(all);
    return s;
}

// The GEMM program for one element type, pair of layouts and parameter set.
static enum cb_status build(struct cb_clrt *rt, int tf32, int ta, int tb,
                            const struct mma_params *mp, cl_kernel *k)
{
    char opts[200];
    cl_program p;
    snprintf(opts, sizeof opts,
             "-D WM=%d -D WN=%d -D LDM=%d -D CPA=%d -D NSTG=%d -D A_T=%d -D B_T=%d -D TF32=%d "
             "-D MMA_EMULATE=%d",
             mp->wm, mp->wn, mp->ldm, mp->cpa, mp->st, ta, tb, tf32, cb_cl_mma_emulate());
    enum cb_status s = cb_cl_mma_program(rt, "gemm_mma.cl", cb_cl_src_gemm_mma, opts, &p);
    return s == CB_OK ? cb_clrt_kernel(p, "gemm_mma", k) : s;
}

// Small exact problem (integers -2..2, exact in bf16 and tf32, sums far
// below 2^24): one 128 x 128 x 64 GEMM, A (M,K), B (N,K), against the exact
// host product.
static enum cb_status self_test(struct cb_clrt *rt, int tf32)
{
    enum { M = 128, N = 128, K = 64 };  // one default block, several k tiles either way
    enum cb_status s = CB_OK;
    const size_t el = tf32 ? 4 : 2;
    uint16_t *a = malloc(M * K * 2), *b = malloc(N * K * 2);
    float *af = malloc(M * K * sizeof(float)), *bf = malloc(N * K * sizeof(float));
    float *c = malloc(M * N * sizeof(float));
    cl_mem da = NULL, db = NULL, dc = NULL;
    cl_kernel k = NULL;
    if (!a || !b || !af || !bf || !c) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "matrix-unit self-test");
        goto out;
    }
    for (int i = 0; i < M * K; i++) {
        af[i] = (float)((i * 7 + i / K) % 5 - 2);
        a[i] = cb_f32_to_bf16(af[i]);
    }
    for (int i = 0; i < N * K; i++) {
        bf[i] = (float)((i * 3 + i / K) % 5 - 2);
        b[i] = cb_f32_to_bf16(bf[i]);
    }
    CB_TRY(build(rt, tf32, 0, 1, &mma_default, &k));
    CB_TRY(cb_clrt_upload_elems(rt, tf32 ? (void *)af : (void *)a, M, K, K, el, &da));
    CB_TRY(cb_clrt_upload_elems(rt, tf32 ? (void *)bf : (void *)b, N, K, K, el, &db));
    CB_TRY(cb_clrt_buffer(rt, M * N * sizeof(float), CL_MEM_READ_WRITE, &dc));
    CB_TRY(cb_clrt_fill_nan(rt, dc, M * N));
    const struct cb_cl_operand oa = {.user = da, .ld = K}, ob = {.user = db, .ld = K};
    CB_TRY(cb_cl_gemm_args(k, M, N, K, 1.0f, 0.0f, &oa, &ob, dc, N));
    size_t gws[2] = {128, 1}, lws[2] = {128, 1};
    cl_int e = clEnqueueNDRangeKernel(rt->queue, k, 2, NULL, gws, lws, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
        s = cb_cl_fail(e, "clEnqueueNDRangeKernel(matrix-unit self-test)");
        goto out;
    }
    CB_TRY(cb_clrt_download(rt, dc, c, M, N, N));
    for (int i = 0; i < M && s == CB_OK; i++)
        for (int j = 0; j < N; j++) {
            float want = 0.0f;
            for (int p = 0; p < K; p++)
                want += af[i * K + p] * bf[j * K + p];
            if (c[i * N + j] != want) {
                s = cb_set_error(CB_ERR_UNSUPPORTED,
                                 "matrix-unit self-test (%s) failed: C[%d][%d] = %g, exact %g",
                                 tf32 ? "tf32" : "bf16", i, j, c[i * N + j], want);
                break;
            }
        }
out:
    if (k)
        clReleaseKernel(k);
    cl_mem bufs[3] = {da, db, dc};
    for (int i = 0; i < 3; i++)
        if (bufs[i])
            clReleaseMemObject(bufs[i]);
    free(a);
    free(b);
    free(af);
    free(bf);
    free(c);
    return s;
}

// Can this device run it? NVIDIA's platform, compute capability 8.0 or
// later (mma.sync with bf16), and the self-test passing, remembered per
// device (a test failure is the reason in every later row).
enum cb_status cb_cl_mma_device_ok(struct cb_clrt *rt, int tf32)
{
    static char done[8][300], why[8][400];
    static int n, type[8];
    if (cb_cl_mma_emulate())
        return CB_OK;
    const struct cb_ocl_device *d = &rt->info;
    if (!strstr(d->platform_vendor, "NVIDIA") && !strstr(d->vendor, "NVIDIA"))
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "%s on matrix units needs NVIDIA's OpenCL (inline PTX mma.sync); "
                            "%s is %s%s%s%s",
                            tf32 ? "tf32" : "bf16", d->name, d->vendor,
                            d->matrix_ext[0] ? " (it lists " : "", d->matrix_ext,
                            d->matrix_ext[0] ? ", which chipbench detects but has no kernel for "
                                               "yet: none could be tested)" : "");
    if (d->nv_cc_major < 8)
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "mma.sync with %s needs compute capability 8.0 or later; %s "
                            "reports %d.%d",
                            tf32 ? "tf32" : "bf16", d->name, d->nv_cc_major, d->nv_cc_minor);
    for (int i = 0; i < n; i++)
        if (type[i] == tf32 && !strcmp(done[i], rt->label))
            return why[i][0] ? cb_set_error(CB_ERR_UNSUPPORTED, "%s", why[i]) : CB_OK;
    enum cb_status s = self_test(rt, tf32);
    if (n < 8) {
        type[n] = tf32;
        snprintf(done[n], sizeof done[n], "%s", rt->label);
        snprintf(why[n], sizeof why[n], "%s", s == CB_OK ? "" : cb_error_text());
        n++;
    }
    return s;
}

// Listed as usable only where some device could run it (or under the
// emulation hook): an NVIDIA OpenCL device of compute capability 8.0+.
enum cb_status cb_cl_mma_available(void)
{
    if (cb_cl_mma_emulate())
        return cb_cl_available();
    struct cb_ocl_device *d = NULL;
    int n = 0, found = 0;
    enum cb_status s = cb_ocl_list(&d, &n);
    for (int i = 0; s == CB_OK && i < n; i++)
        found |= strstr(d[i].vendor, "NVIDIA") && d[i].nv_cc_major >= 8;
    free(d);
    if (s != CB_OK)
        return s;
    return found ? CB_OK
                 : cb_set_error(CB_ERR_UNSUPPORTED,
                                "no OpenCL device with NVIDIA matrix units (sm_80+ for "
                                "mma.sync bf16) among %d device(s)",
                                n);
}

static enum cb_status mma_plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                    void **plan)
{
    enum cb_status s = CB_OK;
    const struct cb_gemm_args *g = &req->shape->u.gemm;
    struct mma_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "matrix-unit GEMM plan");
    pl->tf32 = k->dtype == CB_DTYPE_TF32;
    pl->elem = pl->tf32 ? 4 : 2;
    CB_TRY(cb_clrt_open(req->device, &pl->gp.base.rt));
    struct cb_clrt *rt = pl->gp.base.rt;
    if (g->m > INT32_MAX / 2 || g->n > INT32_MAX / 2 || g->k > INT32_MAX / 2 ||
        g->lda > INT32_MAX || g->ldb > INT32_MAX || g->ldc > INT32_MAX) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "OpenCL GEMM takes dimensions below 2^30");
        goto out;
    }
    CB_TRY(cb_cl_mma_device_ok(rt, pl->tf32));
    struct mma_params mp;
    char origin[64];
    CB_TRY(choose_params(rt, k->name, g, &mp, origin, sizeof origin));
    mma_params_str(&mp, pl->gp.base.params, sizeof pl->gp.base.params);
    // Three stages need cp.async for both tiles (gemm_mma.cl): bf16, and
    // ldmatrix unless both operands are k-contiguous.
    if (mp.st == 3 && (pl->tf32 || (!mp.ldm && (g->trans_a || !g->trans_b)))) {
        s = cb_set_error(CB_ERR_UNSUPPORTED,
                         "matrix-unit GEMM %s: ST=3 needs cp.async for both tiles: bf16, with "
                         "LDM=1 unless A is (M,K) and B is (N,K)",
                         pl->gp.base.params);
        goto out;
    }
    // The origin says what ran the products (the row's device column reads
    // "<device> [<params>, <origin>]").
    snprintf(pl->gp.base.origin, sizeof pl->gp.base.origin, "%.63s, mma.sync %s BK=%d%s", origin,
             pl->tf32 ? "tf32" : "bf16", MMA_BK(pl->tf32, mp.st), cb_cl_mma_emulate() ? " emulated" : "");

    const int m = (int)g->m, n = (int)g->n, kk = (int)g->k;
    const int lda = (int)g->lda, ldb = (int)g->ldb, ldc = (int)g->ldc;
    const int mpad = (int)cb_round_up((size_t)m, (size_t)(2 * mp.wm));
    const int np = (int)cb_round_up((size_t)n, (size_t)(2 * mp.wn));
    const int kp = (int)cb_round_up((size_t)kk, (size_t)MMA_BK(pl->tf32, mp.st));
    CB_TRY(cb_clrt_upload_elems(rt, g->a, g->trans_a ? kk : m, g->trans_a ? m : kk, lda,
                                pl->elem, &pl->gp.a.user));
    CB_TRY(cb_clrt_upload_elems(rt, g->b, g->trans_b ? n : kk, g->trans_b ? kk : n, ldb,
                                pl->elem, &pl->gp.b.user));
    if (g->beta == 0.0f) {
        size_t nc = (size_t)(m - 1) * (size_t)ldc + (size_t)n;
        CB_TRY(cb_clrt_buffer(rt, nc * sizeof(float), CL_MEM_READ_WRITE, &pl->gp.c));
        CB_TRY(cb_clrt_fill_nan(rt, pl->gp.c, nc));
    } else {
        CB_TRY(cb_clrt_upload(rt, g->c, m, n, ldc, &pl->gp.c));
    }
    cl_program padp;
    CB_TRY(cb_clrt_program(rt, "pad.cl", cb_cl_src_pad, "", &padp));
    // The kernel reads either layout (A_T, B_T): copies only pad.
    if (g->trans_a)
        CB_TRY(operand_setup(rt, &pl->gp.a, padp, pl->elem, kk, m, lda, kp, mpad));
    else
        CB_TRY(operand_setup(rt, &pl->gp.a, padp, pl->elem, m, kk, lda, mpad, kp));
    if (g->trans_b)
        CB_TRY(operand_setup(rt, &pl->gp.b, padp, pl->elem, n, kk, ldb, np, kp));
    else
        CB_TRY(operand_setup(rt, &pl->gp.b, padp, pl->elem, kk, n, ldb, kp, np));
    CB_TRY(build(rt, pl->tf32, g->trans_a, g->trans_b, &mp, &pl->gp.gemm));
    CB_TRY(cb_cl_gemm_args(pl->gp.gemm, m, n, kp, g->alpha, g->beta, &pl->gp.a, &pl->gp.b, pl->gp.c, ldc));
    pl->gp.lws[0] = 128;
    pl->gp.lws[1] = 1;
    pl->gp.gws[0] = (size_t)(np / (2 * mp.wn)) * 128;
    pl->gp.gws[1] = (size_t)(mpad / (2 * mp.wm));
    cl_int e = clFinish(rt->queue);
    if (e != CL_SUCCESS)
        s = cb_cl_fail(e, "clFinish after upload");
out:
    if (s != CB_OK) {
        cb_cl_gemm_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

#define MMA_ENTRY                                                                       \
    .op = CB_OP_GEMM, .backend = CB_BACKEND_OPENCL, .priority = 1, .max_threads = 1,    \
    .available = cb_cl_mma_available, .plan = mma_plan_make, .run = cb_cl_gemm_run,     \
    .finish = cb_cl_plan_finish, .readback = cb_cl_gemm_readback,                       \
    .plan_free = cb_cl_gemm_plan_free, .where = cb_cl_plan_where,                       \
    .pci_bus = cb_cl_plan_pci_bus, .device_time_ns = cb_cl_plan_device_ns

const struct cb_kernel cb_gemm_mma_opencl_kernels[] = {
    {
        .name = "gemm_bf16_opencl",
        .dtype = CB_DTYPE_BF16,
        MMA_ENTRY,
        .desc = "OpenCL bf16 GEMM on NVIDIA matrix units (inline PTX mma.sync m16n8k16, "
                "sm_80+), f32 accumulate; elsewhere skipped with the reason",
    },
    {
        .name = "gemm_tf32_opencl",
        .dtype = CB_DTYPE_TF32,
        MMA_ENTRY,
        .desc = "OpenCL GEMM of f32 data with TF32 products on NVIDIA matrix units (inline "
                "PTX cvt.rna.tf32 + mma.sync m16n8k8, sm_80+), f32 accumulate; elsewhere "
                "skipped with the reason",
    },
    {.name = NULL},
};
