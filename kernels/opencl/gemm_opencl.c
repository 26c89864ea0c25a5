// gemm_opencl.c: the OpenCL GEMM kernels for any OpenCL device: f32
// (gemm_f32_opencl), and f16 storage of A and B with f32 arithmetic and C
// (gemm_f16_opencl, through vload_half: no cl_khr_fp16 needed): plan = pick parameters (forced > tuning file > defaults for
// the device type), build the program with them as defines, upload inputs;
// run = pad/pack operands when the shape needs it, then the GEMM kernel.
//
// Two variants (cl_gemm.h): "tiled" (gemm_tiled.cl, local-memory tiles, for
// GPUs) and "reg" (gemm_reg.cl, one work-item per register tile, for CPU
// devices). Padding and packing run inside the timed call and on the device,
// so awkward shapes pay for themselves; padded FLOPs are never reported.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "cl_gemm.h"
#include "cl_operand.h"
#include "cl_params.h"
#include "cl_tuning.h"
#include "clrt.h"

// Parameters ------------------------------------------------------------------

static const struct cb_cl_gemm_params tiled_default = {
    .variant = CB_CL_GEMM_TILED, .tm = 128, .tn = 128, .tk = 8, .rm = 8, .rn = 8, .lpad = 4};
static const struct cb_cl_gemm_params reg_default = {
    .variant = CB_CL_GEMM_REG, .mr = 8, .vw = 16, .nv = 3, .lx = 1, .ly = 16};

static enum cb_status params_check(const struct cb_cl_gemm_params *p)
{
    if (p->variant == CB_CL_GEMM_TILED) {
        int ntx = p->rn ? p->tn / p->rn : 0, nty = p->rm ? p->tm / p->rm : 0;
        int nt = ntx * nty;
        if (p->rm < 4 || p->rn < 4 || p->rm % 4 || p->rn % 4 || p->tk < 4 || p->tk % 4 ||
            p->lpad < 0 || p->lpad % 4 || p->tm % p->rm || p->tn % p->rn || nt < 1)
            return cb_set_error(CB_ERR_INVALID_ARG,
                                "tiled GEMM: RM, RN, TK, LPAD must be multiples of 4 with "
                                "TM %% RM == 0 and TN %% RN == 0");
        if (p->wx && (!(p->wx == 4 || p->wx == 8 || p->wx == 16) || nt % 32 || ntx % p->wx ||
                      nty % (32 / p->wx)))
            return cb_set_error(CB_ERR_INVALID_ARG,
                                "tiled GEMM: WX is 0, 4, 8 or 16 and needs whole warps "
                                "(threads %% 32 == 0, TN/RN %% WX == 0, TM/RM %% (32/WX) == 0)");
        if ((p->tm * p->tk) % (4 * nt) || (p->tn * p->tk) % (4 * nt))
            return cb_set_error(CB_ERR_INVALID_ARG,
                                "tiled GEMM: TM*TK and TN*TK must be multiples of 4 x %d "
                                "threads",
                                nt);
        return CB_OK;
    }
    if (p->mr < 1 || p->mr > 16 || !(p->vw == 4 || p->vw == 8 || p->vw == 16) || p->nv < 1 ||
        p->nv > 4 || p->lx < 1 || p->ly < 1 || p->lx * p->ly > 4096)
        return cb_set_error(CB_ERR_INVALID_ARG,
                            "reg GEMM: MR 1..16, VW 4/8/16, NV 1..4, LX*LY <= 4096");
    return CB_OK;
}

enum cb_status cb_cl_gemm_params_parse(const char *text, struct cb_cl_gemm_params *p)
{
    const char *colon = strchr(text, ':');
    size_t vlen = colon ? (size_t)(colon - text) : strlen(text);
    if (vlen == 5 && !strncmp(text, "tiled", 5))
        *p = tiled_default;
    else if (vlen == 3 && !strncmp(text, "reg", 3))
        *p = reg_default;
    else
        return cb_set_error(CB_ERR_PARSE, "GEMM parameters '%s': variant must be tiled or reg",
                            text);
    static const char *const tiled_keys[] = {"TM", "TN", "TK", "RM", "RN", "LPAD", "WX"};
    static const char *const reg_keys[] = {"MR", "VW", "NV", "LX", "LY"};
    int *tiled_vals[] = {&p->tm, &p->tn, &p->tk, &p->rm, &p->rn, &p->lpad, &p->wx};
    int *reg_vals[] = {&p->mr, &p->vw, &p->nv, &p->lx, &p->ly};
    const int tiled = p->variant == CB_CL_GEMM_TILED;
    const char *list = colon ? colon + 1 : text + vlen;
    enum cb_status s = cb_cl_params_parse("GEMM parameters ", text, list,
                                          tiled ? tiled_keys : reg_keys,
                                          tiled ? tiled_vals : reg_vals, tiled ? 7 : 5);
    if (s == CB_OK && params_check(p) != CB_OK)
        s = cb_cl_error_wrap(CB_ERR_PARSE, "GEMM parameters '%s'", text);
    return s;
}

void cb_cl_gemm_params_str(const struct cb_cl_gemm_params *p, char *buf, size_t len)
{
    if (p->variant == CB_CL_GEMM_TILED)
        snprintf(buf, len, "tiled:TM=%d,TN=%d,TK=%d,RM=%d,RN=%d,LPAD=%d,WX=%d", p->tm, p->tn,
                 p->tk, p->rm, p->rn, p->lpad, p->wx);
    else
        snprintf(buf, len, "reg:MR=%d,VW=%d,NV=%d,LX=%d,LY=%d", p->mr, p->vw, p->nv, p->lx,
                 p->ly);
}

const char *cb_cl_gemm_shape_class(const struct cb_gemm_args *g)
{
    double gm = cbrt((double)g->m * (double)g->n * (double)g->k);
    return gm <= 256 ? "s" : gm <= 1536 ? "m" : "l";
}

static int g_forced;
static struct cb_cl_gemm_params g_force;

void cb_cl_gemm_force(const struct cb_cl_gemm_params *p)
{
    g_forced = p != NULL;
    if (p)
        g_force = *p;
}

enum cb_status cb_cl_gemm_fits(const struct cb_clrt *rt, const struct cb_cl_gemm_params *p)
{
    size_t wg, local;
    if (p->variant == CB_CL_GEMM_TILED) {
        wg = (size_t)(p->tn / p->rn) * (size_t)(p->tm / p->rm);
        local = 2u * 4u * (size_t)p->tk * (size_t)(p->tm + p->tn + 2 * p->lpad);
    } else {
        wg = (size_t)p->lx * (size_t)p->ly;
        local = 0;
    }
    if (wg > rt->info.max_work_group)
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "work-group of %zu exceeds the device's %zu", wg,
                            rt->info.max_work_group);
    if (local > rt->info.local_mem_bytes)
        return cb_set_error(CB_ERR_UNSUPPORTED, "%zu bytes of local memory exceed the device's %llu",
                            local, (unsigned long long)rt->info.local_mem_bytes);
    return CB_OK;
}

// Choose: forced (tuner, CHIPBENCH_CL_GEMM) > tuning file > device-type default.
static enum cb_status choose_params(struct cb_clrt *rt, const struct cb_gemm_args *g,
                                    struct cb_cl_gemm_params *p, char *origin, size_t olen)
{
    enum cb_status s;
    const char *env = getenv("CHIPBENCH_CL_GEMM");
    if (g_forced) {
        *p = g_force;
        snprintf(origin, olen, "forced");
        return CB_OK;
    }
    if (env && *env) {
        if ((s = cb_cl_gemm_params_parse(env, p)) != CB_OK)
            return cb_cl_error_wrap(CB_ERR_INVALID_ARG, "CHIPBENCH_CL_GEMM");
        snprintf(origin, olen, "CHIPBENCH_CL_GEMM");
        return CB_OK;
    }
    char text[160];
    const char *src = NULL;
    s = cb_cl_tuning_lookup(&rt->info, "gemm_f32_opencl", cb_cl_gemm_shape_class(g), text,
                            sizeof text, &src);
    if (s == CB_OK) {
        if ((s = cb_cl_gemm_params_parse(text, p)) != CB_OK)
            return cb_cl_error_wrap(CB_ERR_PARSE, "tuning entry (%s)", src);
        snprintf(origin, olen, "tuned (%s)", src);
        return CB_OK;
    }
    if (s != CB_ERR_UNSUPPORTED)
        return s;
    cb_clear_error();
    *p = !strcmp(rt->info.type, "cpu") ? reg_default : tiled_default;
    snprintf(origin, olen, "default for %s devices", rt->info.type);
    return CB_OK;
}

// Plan ----------------------------------------------------------------------

struct gemm_plan {
    struct cb_cl_gemm_plan gp;     // first: the shared GEMM and plan callbacks use it
    struct cb_gemm_args g;         // shape only (pointers not kept)
    struct cb_cl_gemm_params p;
    size_t elem;                   // bytes of one A or B element: 4 (f32), 2 (f16)
};

// Prepare operand X: stored (rows, cols) with stride ld in the user buffer;
// the kernel wants (prow, pcol) with transposition `trans` and a leading
// dimension that is a multiple of 4. Pad when anything differs, or when
// `widen` asks for f16 storage to be converted to an f32 copy.
static enum cb_status operand_setup(struct gemm_plan *pl, struct cb_cl_operand *o,
                                    cl_program padp, int rows, int cols, int ld, int trans,
                                    int prow, int pcol, int widen)
{
    if (!widen && !trans && prow == rows && pcol == cols && ld % 4 == 0) {
        o->ld = ld;
        return CB_OK;
    }
    const char *kname = widen ? "pad_copy_hf" : pl->elem == 2 ? "pad_copy_h" : "pad_copy";
    return cb_cl_operand_pad(pl->gp.base.rt, o, padp, kname, widen ? sizeof(float) : pl->elem,
                             rows, cols, ld, trans, prow, pcol);
}

static enum cb_status gemm_plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                     void **plan)
{
    enum cb_status s = CB_OK;
    const struct cb_gemm_args *g = &req->shape->u.gemm;
    struct gemm_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "GEMM plan");
    pl->elem = k->dtype == CB_DTYPE_F16 ? 2 : 4;
    CB_TRY(cb_clrt_open(req->device, &pl->gp.base.rt));
    struct cb_clrt *rt = pl->gp.base.rt;
    pl->g = *g;
    pl->g.a = pl->g.b = NULL;
    pl->g.c = NULL;
    if (g->m > INT32_MAX / 2 || g->n > INT32_MAX / 2 || g->k > INT32_MAX / 2 ||
        g->lda > INT32_MAX || g->ldb > INT32_MAX || g->ldc > INT32_MAX) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "OpenCL GEMM takes dimensions below 2^30");
        goto out;
    }
    CB_TRY(choose_params(rt, g, &pl->p, pl->gp.base.origin, sizeof pl->gp.base.origin));
    CB_TRY(params_check(&pl->p));
    CB_TRY(cb_cl_gemm_fits(rt, &pl->p));
    cb_cl_gemm_params_str(&pl->p, pl->gp.base.params, sizeof pl->gp.base.params);

    const int m = (int)g->m, n = (int)g->n, kk = (int)g->k;
    const int lda = (int)g->lda, ldb = (int)g->ldb, ldc = (int)g->ldc;
    CB_TRY(cb_clrt_upload_elems(rt, g->a, g->trans_a ? kk : m, g->trans_a ? m : kk, lda,
                                pl->elem, &pl->gp.a.user));
    CB_TRY(cb_clrt_upload_elems(rt, g->b, g->trans_b ? n : kk, g->trans_b ? kk : n, ldb,
                                pl->elem, &pl->gp.b.user));
    if (g->beta == 0.0f) {
        size_t nc = (size_t)(m - 1) * (size_t)ldc + (size_t)n;
        CB_TRY(cb_clrt_buffer(rt, nc * sizeof(float), CL_MEM_READ_WRITE, &pl->gp.c));
        CB_TRY(cb_clrt_fill_nan(rt, pl->gp.c, nc));  // unwritten elements show up in verify
    } else {
        CB_TRY(cb_clrt_upload(rt, g->c, m, n, ldc, &pl->gp.c));
    }

    cl_program padp, gp;
    CB_TRY(cb_clrt_program(rt, "pad.cl", cb_cl_src_pad, "", &padp));
    char opts[256];
    const struct cb_cl_gemm_params *p = &pl->p;
    int kdim = kk;
    if (p->variant == CB_CL_GEMM_TILED) {
        int mp = (int)cb_round_up((size_t)m, (size_t)p->tm);
        int np = (int)cb_round_up((size_t)n, (size_t)p->tn);
        int kp = (int)cb_round_up((size_t)kk, (size_t)p->tk);
        kdim = kp;
        // A_T/B_T follow the user's layout: the kernel transposes on load.
        if (g->trans_a)
            CB_TRY(operand_setup(pl, &pl->gp.a, padp, kk, m, lda, 0, kp, mp, 0));
        else
            CB_TRY(operand_setup(pl, &pl->gp.a, padp, m, kk, lda, 0, mp, kp, 0));
        if (g->trans_b)
            CB_TRY(operand_setup(pl, &pl->gp.b, padp, n, kk, ldb, 0, np, kp, 0));
        else
            CB_TRY(operand_setup(pl, &pl->gp.b, padp, kk, n, ldb, 0, kp, np, 0));
        snprintf(opts, sizeof opts,
                 "-cl-mad-enable -D TM=%d -D TN=%d -D TK=%d -D RM=%d -D RN=%d -D LPAD=%d "
                 "-D WX=%d -D A_T=%d -D B_T=%d -D IN_F16=%d",
                 p->tm, p->tn, p->tk, p->rm, p->rn, p->lpad, p->wx, g->trans_a, g->trans_b,
                 pl->elem == 2);
        CB_TRY(cb_clrt_program(rt, "gemm_tiled.cl", cb_cl_src_gemm_tiled, opts, &gp));
        CB_TRY(cb_clrt_kernel(gp, "gemm_tiled", &pl->gp.gemm));
        pl->gp.lws[0] = (size_t)(p->tn / p->rn);
        pl->gp.lws[1] = (size_t)(p->tm / p->rm);
        pl->gp.gws[0] = (size_t)(np / p->tn) * pl->gp.lws[0];
        pl->gp.gws[1] = (size_t)(mp / p->tm) * pl->gp.lws[1];
    } else {
        // Packed: AT (K, Mp) and B (K, Np); a user buffer already in that
        // form (trans_a, trans_b = 0, tile-multiple width) is used directly.
        // f16 operands are always packed, widened to f32 (pad_copy_hf).
        int nr = p->vw * p->nv, w = pl->elem == 2;
        int mp = (int)cb_round_up((size_t)m, (size_t)p->mr);
        int np = (int)cb_round_up((size_t)n, (size_t)nr);
        if (g->trans_a)
            CB_TRY(operand_setup(pl, &pl->gp.a, padp, kk, m, lda, 0, kk, mp, w));
        else
            CB_TRY(operand_setup(pl, &pl->gp.a, padp, m, kk, lda, 1, kk, mp, w));
        if (g->trans_b)
            CB_TRY(operand_setup(pl, &pl->gp.b, padp, n, kk, ldb, 1, kk, np, w));
        else
            CB_TRY(operand_setup(pl, &pl->gp.b, padp, kk, n, ldb, 0, kk, np, w));
        snprintf(opts, sizeof opts, "-cl-mad-enable -D MR=%d -D VW=%d -D NV=%d", p->mr, p->vw,
                 p->nv);
        CB_TRY(cb_clrt_program(rt, "gemm_reg.cl", cb_cl_src_gemm_reg, opts, &gp));
        CB_TRY(cb_clrt_kernel(gp, "gemm_reg", &pl->gp.gemm));
        size_t tx = (size_t)(np / nr), ty = (size_t)(mp / p->mr);
        pl->gp.lws[0] = (size_t)p->lx < tx ? (size_t)p->lx : tx;
        pl->gp.lws[1] = (size_t)p->ly < ty ? (size_t)p->ly : ty;
        pl->gp.gws[0] = cb_round_up(tx, pl->gp.lws[0]);
        pl->gp.gws[1] = cb_round_up(ty, pl->gp.lws[1]);
    }
    CB_TRY(cb_cl_gemm_args(pl->gp.gemm, m, n, kdim, g->alpha, g->beta, &pl->gp.a, &pl->gp.b, pl->gp.c, ldc));
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

// What the f32 and f16 entries share: one plan, run and device hooks.
#define CL_GEMM_ENTRY                                                                   \
    .op = CB_OP_GEMM, .backend = CB_BACKEND_OPENCL,                                     \
    .priority = 1,     /* a device kernel is never the CPU's default */                \
    .max_threads = 1,  /* one host thread drives the device */                         \
    .available = cb_cl_available, .plan = gemm_plan_make, .run = cb_cl_gemm_run,        \
    .finish = cb_cl_plan_finish, .readback = cb_cl_gemm_readback,                       \
    .plan_free = cb_cl_gemm_plan_free, .where = cb_cl_plan_where,                       \
    .pci_bus = cb_cl_plan_pci_bus, .device_time_ns = cb_cl_plan_device_ns

const struct cb_kernel cb_gemm_opencl_kernels[] = {
    {
        CL_GEMM_ENTRY,
        .name = "gemm_f32_opencl",
        .dtype = CB_DTYPE_F32,
        .desc = "OpenCL f32 GEMM, tiled (GPU) or register-tile (CPU) variant, autotuned",
    },
    {
        // The f32 kernel's code and tuning entries with half loads: f16
        // storage is what halves memory traffic; f32 arithmetic keeps the
        // result comparable across devices with and without cl_khr_fp16.
        CL_GEMM_ENTRY,
        .name = "gemm_f16_opencl",
        .dtype = CB_DTYPE_F16,
        .desc = "OpenCL GEMM, A and B stored as f16 (vload_half), f32 arithmetic and C; "
                "the f32 kernel's variants and tuning",
    },
    {.name = NULL},
};
