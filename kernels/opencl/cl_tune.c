// cl_tune.c: the OpenCL autotuner (cb_tune.h), for the GEMM and the
// attention forward. GEMM candidates come from the variant the device type
// calls for ("reg" on CPU devices, "tiled" elsewhere), attention candidates
// from the block sizes that fit the device at the shape's head dim; both are
// ordered so the likeliest winners go first, and each is run
// through the ordinary harness row (verify against float64, then time) with
// a short sampling budget. The search of a class stops when its share of the
// budget is spent; the winner and the default's speed are both reported so
// the gain from tuning is visible.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chipbench/cb_bench.h"
#include "chipbench/cb_shape.h"
#include "chipbench/cb_tune.h"
#include "chipbench/cb_util.h"
#include "cl_attn.h"
#include "cl_gemm.h"
#include "cl_mma.h"
#include "cl_tuning.h"
#include "clrt.h"

struct cand {
    struct cb_cl_gemm_params p;
    double rank;  // lower is tried first
};

// Valid per the kernel's constraints (the parser's check).
static enum cb_status params_ok(const struct cb_cl_gemm_params *p)
{
    char text[160];
    struct cb_cl_gemm_params q;
    cb_cl_gemm_params_str(p, text, sizeof text);
    return cb_cl_gemm_params_parse(text, &q);
}

static int cand_cmp(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

// Tiled space: TM, TN in {32, 64, 128, 256}, RM, RN in {4, 8}, TK in {8, 16, 32},
// LPAD in {0, 4}, WX in {0, 8}; ranked by how far the work-group is from 256 threads and
// the register tile from 8x8 (what GPUs of the last decade like).
static int tiled_space(const struct cb_clrt *rt, struct cand *out, int cap)
{
    static const int tms[] = {32, 64, 128, 256}, rs[] = {4, 8}, tks[] = {8, 16, 32}, pads[] = {4, 0},
                     wxs[] = {0, 8};
    int n = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 2; c++)
                for (int d = 0; d < 2; d++)
                    for (int e = 0; e < 3; e++)
                        for (int f = 0; f < 2; f++)
                            for (int w = 0; w < 2; w++) {
                                struct cb_cl_gemm_params p = {
                                    .variant = CB_CL_GEMM_TILED, .tm = tms[a], .tn = tms[b],
                                    .rm = rs[c], .rn = rs[d], .tk = tks[e], .lpad = pads[f],
                                    .wx = wxs[w]};
                                int nt = (p.tm / p.rm) * (p.tn / p.rn);
                                if (nt < 32 || params_ok(&p) != CB_OK ||
                                    cb_cl_gemm_fits(rt, &p) != CB_OK) {
                                    cb_clear_error();
                                    continue;
                                }
                                if (n == cap)
                                    return n;
                                out[n].p = p;
                                out[n].rank = fabs(log2((double)nt) - 8.0) +
                                              fabs(log2((double)(p.rm * p.rn)) - 6.0) +
                                              0.5 * fabs(log2((double)p.tk) - 3.5) +
                                              (p.lpad ? 0.0 : 0.25) + (p.wx ? 0.1 : 0.0) +
                                              0.25 * fabs(log2((double)(p.tm * p.tn)) - 14.0);
                                n++;
                            }
    return n;
}

// Reg space: MR rows x NV vectors of VW floats, accumulators within a
// 32-register file, group LX x LY; ranked towards ~24 accumulators.
static int reg_space(const struct cb_clrt *rt, struct cand *out, int cap)
{
    static const int mrs[] = {4, 6, 8, 12, 14}, vws[] = {16, 8}, lxs[] = {1, 2, 4},
                     lys[] = {16, 8, 32};
    int n = 0;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 2; b++)
            for (int nv = 1; nv <= 4; nv++)
                for (int c = 0; c < 3; c++)
                    for (int d = 0; d < 3; d++) {
                        struct cb_cl_gemm_params p = {.variant = CB_CL_GEMM_REG,
                                                      .mr = mrs[a], .vw = vws[b], .nv = nv,
                                                      .lx = lxs[c], .ly = lys[d]};
                        int acc = p.mr * p.nv;
                        if (acc + p.nv + 1 > 32 || acc < 8)
                            continue;
                        if (cb_cl_gemm_fits(rt, &p) != CB_OK) {
                            cb_clear_error();
                            continue;
                        }
                        if (n == cap)
                            return n;
                        out[n].p = p;
                        out[n].rank = fabs(acc - 24.0) / 4.0 + (p.vw == 16 ? 0.0 : 1.0) +
                                      0.5 * c + 0.3 * d;
                        n++;
                    }
    return n;
}

static double now_s(void)
{
    return cb_now_ns() * 1e-9;
}

static void say(const struct cb_tune_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct cb_tune_opts *o, const char *fmt, ...)
{
    if (!o->progress)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(o->progress_ctx, line);
}

// What is tuned: a kernel, its candidates for one shape (as parameter text,
// likeliest winners first), how a candidate is forced on the next plans, and
// the class the tuning file keys the winner by.
#define TEXT 160
struct space {
    const char *kernel;
    enum cb_op op;
    int (*candidates)(const struct cb_clrt *rt, const struct cb_call *shape, char (*out)[TEXT],
                      int cap);
    enum cb_status (*force)(const char *text);  // NULL: back to file and defaults
    void (*shape_class)(const struct cb_call *shape, char *buf, size_t len);
    const char *cpu_shapes[3], *dev_shapes[3];  // defaults, one per class
};

static int gemm_candidates(const struct cb_clrt *rt, const struct cb_call *shape,
                           char (*out)[TEXT], int cap)
{
    (void)shape;  // the space is the device's; the class only picks the winner
    struct cand *c = calloc((size_t)cap, sizeof *c);
    if (!c)
        return 0;
    int n = !strcmp(rt->info.type, "cpu") ? reg_space(rt, c, cap) : tiled_space(rt, c, cap);
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
    for (int i = 0; i < n; i++)
        cb_cl_gemm_params_str(&c[i].p, out[i], TEXT);
    free(c);
    return n;
}

static enum cb_status gemm_force(const char *text)
{
    struct cb_cl_gemm_params p;
    if (!text) {
        cb_cl_gemm_force(NULL);
        return CB_OK;
    }
    enum cb_status s = cb_cl_gemm_params_parse(text, &p);
    if (s == CB_OK)
        cb_cl_gemm_force(&p);
    return s;
}

static void gemm_class(const struct cb_call *shape, char *buf, size_t len)
{
    snprintf(buf, len, "%s", cb_cl_gemm_shape_class(&shape->u.gemm));
}

// Attention space, both variants (attn_opencl.c), only sets that fit the
// device at this head dim. rows: query rows per group BQ, keys per block
// BK, threads per row TX, rows per thread RQ, local padding PAD. tiles: BQ,
// BK, chunk depths TK (S) and TV (P V), register tile RM x RS. Ranked
// towards what an H200 measured (results/h200-20261128-attn-tune-log.txt):
// on GPUs the tiles variant first, 8 x 8 register tiles, 64 rows and 128
// keys a block, deep S chunks (TK 4 was always slowest, so it is left out),
// P in two passes (PS=2: half the local memory, so the untried 128 x 128
// blocks fit at D=128; they come early);
// then rows with 128-thread groups of 32 rows; on CPUs rows with bigger key
// blocks first. On NVIDIA each 8-row tiles set comes again with a register
// cap (REG=168, 128), ranked just after it.
static int attn_candidates(const struct cb_clrt *rt, const struct cb_call *shape,
                           char (*out)[TEXT], int cap)
{
    static const int bqs[] = {16, 32, 64}, bks[] = {16, 32, 64, 128}, txs[] = {4, 8, 16, 32},
                     rqs[] = {2, 4, 8}, pads[] = {4, 0};
    static const int tbqs[] = {32, 64, 128}, tbks[] = {32, 64, 128}, tks[] = {8, 16, 32},
                     tvs[] = {4, 8, 16}, trs[] = {4, 8}, regs[] = {168, 128};
    const int cpu = !strcmp(rt->info.type, "cpu"), d = (int)shape->u.attn.head_dim;
    const int nvidia = strstr(rt->info.vendor, "NVIDIA") != NULL;
    struct cand *c = calloc((size_t)cap, sizeof *c);
    char (*txt)[TEXT] = calloc((size_t)cap, sizeof *txt);
    int n = 0;
    if (!c || !txt) {
        free(c);
        free(txt);
        return 0;
    }
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++)
            for (int t = 0; t < 4; t++)
                for (int r = 0; r < 3; r++)
                    for (int q = 0; q < 2 && n < cap; q++) {
                        const int bq = bqs[a], bk = bks[b], tx = txs[t], rq = rqs[r];
                        if (bq % rq || bk % tx)
                            continue;
                        snprintf(txt[n], TEXT, "BQ=%d,BK=%d,TX=%d,RQ=%d,PAD=%d", bq, bk, tx,
                                 rq, pads[q]);
                        if (cb_cl_attn_params_fit(rt, txt[n], d) != CB_OK) {
                            cb_clear_error();
                            continue;
                        }
                        const double wg = (double)tx * (bq / rq);
                        c[n].rank = fabs(log2(wg / 128.0)) + fabs(log2(bq / 32.0)) +
                                    fabs(log2(bk / (cpu ? 64.0 : 32.0))) +
                                    0.5 * fabs(log2(rq / 4.0)) + (pads[q] ? 0.0 : 0.5) +
                                    (cpu ? 0.0 : 8.0);
                        c[n].p.tm = n;  // index of its text
                        n++;
                    }
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < 3; t++)
                for (int v = 0; v < 3; v++)
                    for (int r = 0; r < 8 && n < cap; r++) {
                        const int bq = tbqs[a], bk = tbks[b], tk = tks[t], tv = tvs[v],
                                  rm = trs[r / 2 % 2], rs = trs[r % 2], ps = r < 4 ? 1 : 2;
                        if (ps == 2 && rs != 8)
                            continue;
                        snprintf(txt[n], TEXT,
                                 "tiles:BQ=%d,BK=%d,TK=%d,TV=%d,RM=%d,RS=%d,PAD=4%s", bq, bk,
                                 tk, tv, rm, rs, ps == 2 ? ",PS=2" : "");
                        if (cb_cl_attn_params_fit(rt, txt[n], d) != CB_OK) {
                            cb_clear_error();
                            continue;
                        }
                        const double wg = (double)(bk / rs) * (bq / rm);
                        c[n].rank = fabs(log2(bq / 64.0)) + 0.5 * fabs(log2(bk / 128.0)) +
                                    0.5 * fabs(log2(tk / 16.0)) + 0.5 * fabs(log2(tv / 8.0)) +
                                    (rm == 8 ? 0.0 : 1.0) + (rs == 8 ? 0.0 : 0.5) +
                                    0.5 * fabs(log2(wg / 128.0)) + (cpu ? 8.0 : 0.0) +
                                    (ps == 2 ? (bq == 128 ? -0.8 : 0.3) : 0.0);
                        c[n].p.tm = n;
                        n++;
                        // NVIDIA: the 8-row tiles again under a register cap
                        // (more groups resident at the risk of spills),
                        // ranked after the same set uncapped.
                        const int base = n - 1;
                        char set[TEXT];
                        memcpy(set, txt[base], TEXT);
                        for (int g = 0; nvidia && rm == 8 && g < 2 && n < cap; g++) {
                            snprintf(txt[n], TEXT, "%.*s,REG=%d", TEXT - 20, set, regs[g]);
                            if (cb_cl_attn_params_fit(rt, txt[n], d) != CB_OK) {
                                cb_clear_error();
                                break;
                            }
                            c[n].rank = c[base].rank + 0.75 * (g + 1);
                            c[n].p.tm = n;
                            n++;
                        }
                    }
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
    for (int i = 0; i < n; i++)
        memcpy(out[i], txt[c[i].p.tm], TEXT);
    free(c);
    free(txt);
    return n;
}

static void attn_class(const struct cb_call *shape, char *buf, size_t len)
{
    cb_cl_attn_shape_class((int)shape->u.attn.head_dim, buf, len);
}

static const struct space gemm_space = {
    .kernel = "gemm_f32_opencl", .op = CB_OP_GEMM, .candidates = gemm_candidates,
    .force = gemm_force, .shape_class = gemm_class,
    // GPUs are tuned for "l" at 4096 (the float64 check of every candidate
    // at 8192 would eat the budget).
    .cpu_shapes = {"256x256x256", "1024x1024x1024", "2048x2048x2048"},
    .dev_shapes = {"256x256x256", "1024x1024x1024", "4096x4096x4096"},
};

// Matrix-unit GEMM space (gemm_mma.cl): warp tiles WM, WN in {64, 32, 16},
// ldmatrix (LDM) and cp.async (CPA) on or off, and for bf16 three stages
// (ST=3, with both on, warp tiles of 32 and up); 64 x 64 and both options first (what mma.sync GEMMs
// are usually built with), smaller tiles later (more work-groups for small
// shapes). Every set fits: at most 40 KiB of local memory and 128
// accumulators a thread.
static int mma_space(int bf16, char (*out)[TEXT], int cap)
{
    static const int ws[] = {64, 32, 16};
    struct cand *c = calloc((size_t)cap, sizeof *c);
    char (*txt)[TEXT] = calloc((size_t)cap, sizeof *txt);
    int n = 0;
    for (int a = 0; c && txt && a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int o = 0; o < 4 + (bf16 && a < 2 && b < 2) && n < cap; o++) {
                const int ldm = o == 4 || !(o & 1), cpa = o == 4 || !(o & 2), st = o == 4 ? 3 : 2;
                snprintf(txt[n], TEXT, "WM=%d,WN=%d,LDM=%d,CPA=%d,ST=%d", ws[a], ws[b], ldm, cpa,
                         st);
                c[n].rank = a + b + 0.5 * (1 - ldm) + 0.5 * (1 - cpa) - (st == 3 ? 0.25 : 0.0);
                c[n].p.tm = n;
                n++;
            }
    if (c && txt) {
        qsort(c, (size_t)n, sizeof *c, cand_cmp);
        for (int i = 0; i < n; i++)
            memcpy(out[i], txt[c[i].p.tm], TEXT);
    }
    free(c);
    free(txt);
    return c && txt ? n : 0;
}

static int mma_bf16_candidates(const struct cb_clrt *rt, const struct cb_call *shape,
                               char (*out)[TEXT], int cap)
{
    (void)rt;
    (void)shape;
    return mma_space(1, out, cap);
}

static int mma_tf32_candidates(const struct cb_clrt *rt, const struct cb_call *shape,
                               char (*out)[TEXT], int cap)
{
    (void)rt;
    (void)shape;
    return mma_space(0, out, cap);
}

// The matrix-unit GEMMs: on a CPU device only under the test emulation,
// where a small shape is all that can be afforded.
#define MMA_SPACE(name, cands)                                                              \
    {                                                                                       \
        .kernel = name, .op = CB_OP_GEMM, .candidates = cands,                              \
        .force = cb_cl_mma_gemm_force, .shape_class = gemm_class,                           \
        .cpu_shapes = {"128x128x128", NULL, NULL},                                          \
        .dev_shapes = {"256x256x256", "1024x1024x1024", "4096x4096x4096"},                  \
    }
static const struct space mma_spaces[2] = {MMA_SPACE("gemm_bf16_opencl", mma_bf16_candidates),
                                           MMA_SPACE("gemm_tf32_opencl", mma_tf32_candidates)};

static const struct space attn_space = {
    .kernel = "attn_f32_opencl", .op = CB_OP_ATTN, .candidates = attn_candidates,
    .force = cb_cl_attn_force, .shape_class = attn_class,
    .cpu_shapes = {"b=1,h=4,s=512,d=64", "b=1,h=4,s=512,d=128", NULL},
    .dev_shapes = {"b=4,h=16,s=2048,d=64", "b=4,h=16,s=2048,d=128", NULL},
};

// The parameter text a row ran with: the device column reads
// "<device> [<params>, <origin>]" (cb_cl_plan_where); params hold no spaces.
static void used_params(const char *device, char *buf, size_t len)
{
    const char *a = strrchr(device, '[');
    buf[0] = 0;
    if (a) {
        a++;
        size_t n = strcspn(a, " ]");
        if (n && a[n - 1] == ',')
            n--;
        snprintf(buf, len, "%.*s", (int)n, a);
    }
}

// Time one candidate (or the default when text is NULL, whose parameter
// text then goes to used, when not NULL) through the harness.
static enum cb_status try_params(const struct cb_tune_opts *o, const struct space *sp,
                                 const struct cb_kernel *k, const struct cb_call *shape,
                                 const char *text, double *gflops, char *used)
{
    struct cb_bench_opts bo;
    struct cb_result r;
    cb_bench_opts_default(&bo);
    bo.warmup_s = 0.03;
    bo.min_time_s = 0.1;
    bo.max_time_s = 0.4;
    bo.max_noise = 0.02;
    bo.min_samples = 3;
    bo.max_samples = 30;
    bo.device = o->device;
    *gflops = 0.0;
    if (text) {
        enum cb_status fs = sp->force(text);
        if (fs != CB_OK)
            return fs;
    }
    enum cb_status s = cb_bench_row(k, shape, 1, &bo, &r);
    sp->force(NULL);
    if (s == CB_OK) {
        *gflops = r.gflops;
        if (used)
            used_params(r.device, used, TEXT);
    } else
        cb_set_error(s, "%s", r.note);
    cb_result_free(&r);
    return s;
}

static enum cb_status tune_space(const struct space *sp, const struct cb_tune_opts *o,
                                 struct cb_tune_result **results, int *nresults,
                                 char *written_path, size_t path_len)
{
    enum cb_status s = CB_OK;
    struct cb_clrt *rt = NULL;
    char (*cands)[TEXT] = NULL;
    struct cb_tune_result *res = NULL;
    struct cb_call defaults[3];
    const struct cb_kernel *k = cb_registry_find(sp->kernel);
    *results = NULL;
    *nresults = 0;
    if (!k)
        return cb_set_error(CB_ERR_UNSUPPORTED, "%s is not built in", sp->kernel);
    if (!(o->budget_s > 0))
        return cb_set_error(CB_ERR_INVALID_ARG, "tune budget must be > 0 seconds");
    CB_TRY(cb_clrt_open(o->device, &rt));
    const int cpu = !strcmp(rt->info.type, "cpu");

    const struct cb_call *shapes = o->shapes;
    int nshapes = o->nshapes;
    if (!shapes || nshapes <= 0) {
        nshapes = 0;
        for (int i = 0; i < 3 && (cpu ? sp->cpu_shapes : sp->dev_shapes)[i]; i++)
            CB_TRY(cb_shape_parse((cpu ? sp->cpu_shapes : sp->dev_shapes)[i],
                                  &defaults[nshapes++]));
        shapes = defaults;
    }
    for (int i = 0; i < nshapes; i++)
        if (shapes[i].op != sp->op) {
            s = cb_set_error(CB_ERR_INVALID_ARG, "tune %s: shape %d is not a %s shape",
                             sp->kernel, i + 1, cb_op_name(sp->op));
            goto out;
        }
    cands = calloc(1024, sizeof *cands);
    res = calloc((size_t)nshapes, sizeof *res);
    if (!cands || !res) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "tuner state");
        goto out;
    }

    time_t now = time(NULL);
    struct tm tmv;
    char stamp[32];
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);

    if (o->out && *o->out)
        snprintf(written_path, path_len, "%s", o->out);
    else
        CB_TRY(cb_tune_default_path(written_path, path_len));

    double t_start = now_s();
    for (int si = 0; si < nshapes; si++) {
        struct cb_tune_result *tr = &res[si];
        const struct cb_call *shape = &shapes[si];
        sp->shape_class(shape, tr->shape_class, sizeof tr->shape_class);
        cb_shape_format(shape, tr->shape, sizeof tr->shape);
        const int ncand = sp->candidates(rt, shape, cands, 1024);
        say(o, "tuning %s on %s (%s, driver %s), class %s: %d candidates", sp->kernel,
            rt->label, rt->info.type, rt->info.driver_version, tr->shape_class, ncand);
        // Each class gets an equal share of what is left.
        double deadline = now_s() + (o->budget_s - (now_s() - t_start)) / (nshapes - si);
        double g;
        char dflt[TEXT] = "";
        if (try_params(o, sp, k, shape, NULL, &g, dflt) == CB_OK)
            tr->default_gflops = g;
        else
            cb_clear_error();
        say(o, "class %s %s: default %.1f GFLOP/s", tr->shape_class, tr->shape,
            tr->default_gflops);
        for (int c = 0; c < ncand && now_s() < deadline; c++) {
            if (try_params(o, sp, k, shape, cands[c], &g, NULL) != CB_OK) {
                tr->failed++;
                say(o, "  %3d/%d %-48s rejected: %.160s", c + 1, ncand, cands[c],
                    cb_error_text());
                cb_clear_error();
                continue;
            }
            tr->tried++;
            if (g > tr->gflops) {
                tr->gflops = g;
                snprintf(tr->params, sizeof tr->params, "%s", cands[c]);
            }
            say(o, "  %3d/%d %-48s %9.1f GFLOP/s  (best %.1f)", c + 1, ncand, cands[c], g,
                tr->gflops);
        }
        // The default is a candidate too: a search that found nothing
        // faster saves it, so `run` never gets slower from tuning.
        if (tr->default_gflops > tr->gflops && dflt[0]) {
            say(o, "class %s: the default (%s) stays fastest", tr->shape_class, dflt);
            tr->gflops = tr->default_gflops;
            snprintf(tr->params, sizeof tr->params, "%s", dflt);
        }
        if (!tr->params[0]) {
            say(o, "class %s: no candidate passed; nothing saved for it", tr->shape_class);
            continue;
        }
        struct cb_cl_tuning_entry e;
        memset(&e, 0, sizeof e);
        snprintf(e.vendor, sizeof e.vendor, "%s", rt->info.vendor);
        snprintf(e.device, sizeof e.device, "%s", rt->info.name);
        snprintf(e.driver, sizeof e.driver, "%s", rt->info.driver_version);
        snprintf(e.kernel, sizeof e.kernel, "%s", sp->kernel);
        snprintf(e.shape_class, sizeof e.shape_class, "%s", tr->shape_class);
        snprintf(e.params, sizeof e.params, "%s", tr->params);
        e.gflops = tr->gflops;
        snprintf(e.tuned_utc, sizeof e.tuned_utc, "%s", stamp);
        res[*nresults] = *tr;
        ++*nresults;
        // Saved class by class: an interrupted search keeps what it found.
        CB_TRY(cb_cl_tuning_save(written_path, &e, 1));
    }
    if (*nresults == 0) {
        s = cb_set_error(CB_ERR_VERIFY, "tune %s: no candidate passed verification",
                         sp->kernel);
        goto out;
    }
    *results = res;
    res = NULL;
out:
    free(cands);
    free(res);
    if (s != CB_OK)
        *nresults = 0;
    return s;
}

enum cb_status cb_tune_gemm(const struct cb_tune_opts *o, struct cb_tune_result **results,
                            int *nresults, char *written_path, size_t path_len)
{
    const char *k = o->gemm_kernel;
    if (!k || !strcmp(k, gemm_space.kernel))
        return tune_space(&gemm_space, o, results, nresults, written_path, path_len);
    for (int i = 0; i < 2; i++)
        if (!strcmp(k, mma_spaces[i].kernel))
            return tune_space(&mma_spaces[i], o, results, nresults, written_path, path_len);
    *results = NULL;
    *nresults = 0;
    return cb_set_error(CB_ERR_INVALID_ARG, "tune: GEMM kernel '%s' is not tunable (%s, %s or "
                        "%s)", k, gemm_space.kernel, mma_spaces[0].kernel, mma_spaces[1].kernel);
}

enum cb_status cb_tune_attn(const struct cb_tune_opts *o, struct cb_tune_result **results,
                            int *nresults, char *written_path, size_t path_len)
{
    return tune_space(&attn_space, o, results, nresults, written_path, path_len);
}
