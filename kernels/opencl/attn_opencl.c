// attn_opencl.c: the OpenCL f32 flash-attention forward (attn_f32_opencl),
// host side of attn_flash.cl, for any OpenCL device: plan = pick tile
// parameters (forced by the tuner > CHIPBENCH_CL_ATTN > the tuning file's
// entry for this device and head dim > defaults for the device type and
// head dim), build the program with them as defines, upload Q, K, V once
// and poison O; run = one kernel launch; readback = O and, when asked, the
// log-sum-exp.
//
// Not a backward pass (attn_bwd_opencl.c). `chipbench tune --op attention`
// fills the tuning file (cl_tune.c); the defaults are reasoned, see
// choose_params.
//
// Shapes: Q (B,H,Lq,D), K,V (B,Hkv,Lk,D), O (B,H,Lq,D), lse (B,H,Lq).
// One launch of B*H*ceil(Lq/BQ) work-groups of TX*(BQ/RQ) work-items.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "cl_attn.h"
#include "cl_params.h"
#include "cl_tuning.h"
#include "clrt.h"

extern const char cb_cl_src_attn_flash[];
extern const char cb_cl_src_attn_flash_tiles[];

#define ATTN_MAX_D 256  // o[RQ][DP/(4*TX)] lives in registers; larger D would spill

// Parameters ------------------------------------------------------------------

// Two variants. "rows" (attn_flash.cl): Q block and K/V tiles in local
// memory, TX threads share a query row. "tiles" (attn_flash_tiles.cl): both
// products as the tiled GEMM (chunks of Q, K and V streamed through local
// memory, RM x RS and RM x RO register tiles), for GPUs whose local memory
// cannot hold a large Q block. Text: "BQ=32,BK=32,TX=16,RQ=4,PAD=4" (rows;
// "rows:" may precede it) or
// "tiles:BQ=64,BK=128,TK=16,TV=8,RM=8,RS=8,PAD=4[,PS=2][,REG=168]" (TV not
// given: as TK; PS not given: 1; REG, NVIDIA only, not given: no cap).
enum attn_variant { ATTN_ROWS, ATTN_TILES };

struct attn_params {
    enum attn_variant variant;
    int bq;   // query rows per work-group
    int bk;   // keys per block
    int tx;   // rows: threads sharing one query row (split keys in S, D in P V)
    int rq;   // rows: query rows per thread
    int tk;   // tiles: depth of the S chunks (along D)
    int tv;   // tiles: depth of the V chunks (keys); not in a text: as TK
    int rm;   // tiles: query rows per thread
    int rs;   // tiles: keys per thread in S
    int pad;  // floats of padding per local row (bank conflicts)
    int ps;   // tiles: passes of P through local memory (Pt holds BK/PS keys)
    int reg;  // tiles: registers a thread may use (NVIDIA's -cl-nv-maxrregcount;
              // fewer registers, more resident groups), 0: the compiler's choice
};

// The rows variant on a GPU (the starting point of a rows text, and the
// fallback when no tiles set fits the device): BQ=32 x BK=32 tiles with 128
// threads, each an RQ=4 x RK=2 score tile and a 4 x 8 output tile, 39 KiB of
// local memory at D=128 (Q 16.5 + K/V 16.5 + P 4.5 + red 2); a larger BQ
// would need Q out of local memory. Measured on an H200 (NVIDIA OpenCL,
// driver 580) at B=8, H=16, L=4096, D=128: 28.0 TFLOP/s; TX=8 26.2, RQ=8
// 25.1, BK=16 23.0, BQ=48/BK=16 25.0, PAD=0 11.6.
static const struct attn_params gpu_default = {
    .variant = ATTN_ROWS, .bq = 32, .bk = 32, .tx = 16, .rq = 4, .pad = 4};
// GPUs without a tuning entry get the first of these tiles sets that fits
// (local memory, work-group size, accumulators at this D). The first two
// are the H200's tuned winners for d128 and d64 (results/tuning/opencl.csv:
// 36.5 and 32.9 TFLOP/s at B=4, H=16, L=2048, against 27.5 and 24.9 for the
// rows default); the last fits 32 KiB of local memory and D up to 256.
static const struct attn_params gpu_tiles[] = {
    {.variant = ATTN_TILES, .bq = 64, .bk = 128, .tk = 8, .tv = 8, .rm = 8, .rs = 8, .pad = 4,
     .ps = 1},
    {.variant = ATTN_TILES, .bq = 64, .bk = 64, .tk = 16, .tv = 8, .rm = 8, .rs = 8, .pad = 4,
     .ps = 1},
    {.variant = ATTN_TILES, .bq = 64, .bk = 64, .tk = 8, .tv = 8, .rm = 4, .rs = 4, .pad = 4,
     .ps = 1},
};
// CPU (PoCL and the like): work-items become loops over vector lanes, local
// memory is cache; bigger blocks amortize the barriers.
static const struct attn_params cpu_default = {
    .variant = ATTN_ROWS, .bq = 32, .bk = 64, .tx = 8, .rq = 4, .pad = 4};
// The tiles variant's starting point for a parameter text: 128 threads, an
// 8 x 8 score tile and an 8 x 8 output tile at D=128 (BK=128 keys a block),
// 43 KiB of local memory; TV is as TK unless the text gives it.
static const struct attn_params tiles_default = {
    .variant = ATTN_TILES, .bq = 64, .bk = 128, .tk = 8, .tv = 8, .rm = 8, .rs = 8, .pad = 4,
    .ps = 1};

#define TILES_MAX_ACC 128  // RM x (RO + RS) floats of accumulators a thread may hold

static int tiles_threads(const struct attn_params *p)
{
    return (p->bk / p->rs) * (p->bq / p->rm);
}

// D padded: rows, to a multiple of 4*TX (the float4 columns the TX threads
// share); tiles, to a multiple of 4*NTX (NTX = BK/RS threads along D) that
// TK divides.
static int padded_d(const struct attn_params *p, int d)
{
    if (p->variant == ATTN_ROWS)
        return (int)cb_round_up((size_t)d, (size_t)(4 * p->tx));
    const int step = 4 * (p->bk / p->rs);
    int dp = (int)cb_round_up((size_t)d, (size_t)step);
    while (dp % p->tk)
        dp += step;
    return dp;
}

static size_t local_bytes(const struct attn_params *p, int d)
{
    const size_t dp = (size_t)padded_d(p, d);
    if (p->variant == ATTN_ROWS) {
        size_t ldq = dp + (size_t)p->pad;
        return sizeof(float) * ((size_t)p->bq * ldq + (size_t)p->bk * ldq +
                                (size_t)p->bq * (size_t)(p->bk + p->pad) +
                                (size_t)p->bq * (size_t)p->tx);
    }
    // attn_flash_tiles.cl: the S chunks share a region with Pt + (V chunks
    // or the row maxima), then mref and al.
    const size_t ldq = (size_t)(p->bq + p->pad), ldk = (size_t)(p->bk + p->pad);
    const size_t scr_s = 2 * (size_t)p->tk * (ldq + ldk), scr_v = 2 * (size_t)p->tv * (dp + p->pad);
    const size_t red = (size_t)(p->bk / p->rs) * ldq;
    const size_t rest = (size_t)(p->bk / p->ps) * ldq + (scr_v > red ? scr_v : red);
    return sizeof(float) * ((scr_s > rest ? scr_s : rest) + 2 * (size_t)p->bq);
}

static enum cb_status params_check(const struct attn_params *p)
{
    if (p->variant == ATTN_TILES) {
        if (p->bq < 4 || p->bk < 4 || p->tk < 4 || p->tv < 1 || p->rm < 4 || p->rs < 4 ||
            p->pad < 0 || p->rm % 4 || p->rs % 4 || p->tk % 4 || p->pad % 4 ||
            p->bq % p->rm || p->bk % p->rs || p->bk % p->tv)
            return cb_set_error(CB_ERR_INVALID_ARG,
                                "tiles: need RM, RS, TK, PAD multiples of 4 with BQ %% RM, "
                                "BK %% RS, BK %% TV == 0 (BQ=%d BK=%d TK=%d TV=%d RM=%d RS=%d "
                                "PAD=%d)",
                                p->bq, p->bk, p->tk, p->tv, p->rm, p->rs, p->pad);
        const int nt = tiles_threads(p);
        if (p->bq > 512 || p->bk > 512 || p->tk > 64 || p->tv > 64 || p->pad > 64 || nt > 1024)
            return cb_set_error(CB_ERR_INVALID_ARG, "tiles: BQ, BK <= 512, TK, TV, PAD <= 64, "
                                                    "(BK/RS)*(BQ/RM) <= 1024");
        if (p->ps < 1 || (p->rs / 4) % p->ps || (p->bk / p->ps) % p->tv)
            return cb_set_error(CB_ERR_INVALID_ARG,
                                "tiles: PS must divide RS/4 and leave BK/PS a multiple of TV "
                                "(RS=%d BK=%d TV=%d PS=%d)",
                                p->rs, p->bk, p->tv, p->ps);
        if (p->reg && (p->reg < 32 || p->reg > 255))
            return cb_set_error(CB_ERR_INVALID_ARG, "tiles: REG is 0 (no cap) or 32..255, got %d",
                                p->reg);
        if (nt < p->bq)
            return cb_set_error(CB_ERR_INVALID_ARG,
                                "tiles: one thread a row folds the row maxima, so the "
                                "(BK/RS)*(BQ/RM) = %d threads must be at least BQ = %d",
                                nt, p->bq);
        return CB_OK;
    }
    if (p->bq < 1 || p->bk < 4 || p->tx < 1 || p->rq < 1 || p->pad < 0 || p->bq % p->rq ||
        p->bk % p->tx || p->bk % 4 || p->pad % 4)
        return cb_set_error(CB_ERR_INVALID_ARG,
                            "need BQ %% RQ == 0, BK %% TX == 0, BK %% 4 == 0, PAD %% 4 == 0 "
                            "(BQ=%d BK=%d TX=%d RQ=%d PAD=%d)",
                            p->bq, p->bk, p->tx, p->rq, p->pad);
    if (p->bq > 1024 || p->bk > 1024 || p->tx > 64 || p->rq > 16 || p->pad > 64)
        return cb_set_error(CB_ERR_INVALID_ARG,
                            "BQ, BK <= 1024, TX <= 64, RQ <= 16, PAD <= 64");
    return CB_OK;
}

static const char *const param_keys[] = {"BQ", "BK", "TX", "RQ", "PAD"};
static const char *const tiles_keys[] = {"BQ", "BK", "TK", "TV", "RM", "RS", "PAD", "REG", "PS"};

static void params_str(const struct attn_params *p, char *buf, size_t len)
{
    if (p->variant == ATTN_TILES) {
        const int *vals[] = {&p->bq, &p->bk, &p->tk, &p->tv, &p->rm, &p->rs, &p->pad};
        size_t n = (size_t)snprintf(buf, len, "tiles:");
        if (n < len)
            cb_cl_params_str(tiles_keys, vals, 7, buf + n, len - n);
        n = strlen(buf);
        // PS and REG only when set: untouched texts stay as they were.
        if (p->ps != 1 && n < len)
            n += (size_t)snprintf(buf + n, len - n, ",PS=%d", p->ps);
        if (p->reg && n < len)
            snprintf(buf + n, len - n, ",REG=%d", p->reg);
        return;
    }
    const int *vals[] = {&p->bq, &p->bk, &p->tx, &p->rq, &p->pad};
    cb_cl_params_str(param_keys, vals, 5, buf, len);
}

// "[rows:]BQ=64,BK=32,..." or "tiles:BQ=..." over a starting set: keys
// given replace those values; a variant other than the starting set's
// starts from that variant's defaults.
static enum cb_status params_parse(const char *text, struct attn_params *p)
{
    const char *list = text;
    enum attn_variant v = ATTN_ROWS;
    if (!strncmp(text, "tiles:", 6)) {
        v = ATTN_TILES;
        list = text + 6;
    } else if (!strncmp(text, "rows:", 5))
        list = text + 5;
    if (p->variant != v)
        *p = v == ATTN_TILES ? tiles_default : gpu_default;
    enum cb_status s;
    if (v == ATTN_TILES) {
        int *vals[] = {&p->bq, &p->bk, &p->tk, &p->tv, &p->rm, &p->rs, &p->pad, &p->reg, &p->ps};
        p->tv = -1;  // not given: as TK
        p->reg = 0;  // not given: no cap
        p->ps = 1;   // not given: one pass
        s = cb_cl_params_parse("", text, list, tiles_keys, vals, 9);
        if (p->tv < 0)
            p->tv = p->tk;
    } else {
        int *vals[] = {&p->bq, &p->bk, &p->tx, &p->rq, &p->pad};
        s = cb_cl_params_parse("", text, list, param_keys, vals, 5);
    }
    if (s == CB_OK && params_check(p) != CB_OK)
        s = cb_cl_error_wrap(CB_ERR_PARSE, "'%s'", text);
    return s;
}

static enum cb_status params_fit(const struct cb_clrt *rt, const struct attn_params *p, int d)
{
    size_t wg = p->variant == ATTN_TILES ? (size_t)tiles_threads(p)
                                         : (size_t)p->tx * (size_t)(p->bq / p->rq);
    size_t local = local_bytes(p, d);
    if (wg > rt->info.max_work_group)
        return cb_set_error(CB_ERR_UNSUPPORTED, "work-group of %zu exceeds the device's %zu", wg,
                            rt->info.max_work_group);
    if (local > rt->info.local_mem_bytes)
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "%zu bytes of local memory at D=%d exceed the device's %llu", local,
                            d, (unsigned long long)rt->info.local_mem_bytes);
    if (p->variant == ATTN_TILES && p->reg && !strstr(rt->info.vendor, "NVIDIA"))
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "tiles: REG=%d is built with NVIDIA's -cl-nv-maxrregcount; the "
                            "compiler of %s (%s) has no such option",
                            p->reg, rt->info.name, rt->info.vendor);
    if (p->variant == ATTN_TILES) {
        const int ro = padded_d(p, d) / (p->bk / p->rs);
        if (p->rm * (ro + p->rs) > TILES_MAX_ACC)
            return cb_set_error(CB_ERR_UNSUPPORTED,
                                "tiles: RM x (RO + RS) = %d x (%d + %d) accumulators at D=%d "
                                "exceed %d (they would spill)",
                                p->rm, ro, p->rs, d, TILES_MAX_ACC);
    }
    return CB_OK;
}

// The tuner's candidate, applied over the device-type default as given.
static char g_force[160];

enum cb_status cb_cl_attn_force(const char *params)
{
    if (!params) {
        g_force[0] = 0;
        return CB_OK;
    }
    struct attn_params p = gpu_default;
    enum cb_status s = params_parse(params, &p);
    if (s == CB_OK)
        snprintf(g_force, sizeof g_force, "%s", params);
    return s;
}

enum cb_status cb_cl_attn_params_fit(const struct cb_clrt *rt, const char *params, int d)
{
    struct attn_params p = !strcmp(rt->info.type, "cpu") ? cpu_default : gpu_default;
    enum cb_status s = params_parse(params, &p);
    return s == CB_OK ? params_fit(rt, &p, d) : s;
}

void cb_cl_attn_shape_class(int head_dim, char *buf, size_t len)
{
    snprintf(buf, len, "d%d", head_dim);
}

static enum cb_status default_params(const struct cb_clrt *rt, int d, struct attn_params *p);

// Choose: the tuner's candidate > CHIPBENCH_CL_ATTN (over the device-type
// default, exactly as given) > the tuning file's entry for this head dim >
// the device-type default for D (default_params).
static enum cb_status choose_params(const struct cb_clrt *rt, int d, struct attn_params *p,
                                    char *origin, size_t olen)
{
    const int cpu = !strcmp(rt->info.type, "cpu");
    *p = cpu ? cpu_default : gpu_default;
    if (g_force[0]) {
        enum cb_status s = params_parse(g_force, p);
        snprintf(origin, olen, "forced");
        return s == CB_OK ? params_fit(rt, p, d) : s;
    }
    const char *env = getenv("CHIPBENCH_CL_ATTN");
    if (env && *env) {
        if (params_parse(env, p) != CB_OK)
            return cb_cl_error_wrap(CB_ERR_INVALID_ARG, "CHIPBENCH_CL_ATTN");
        snprintf(origin, olen, "CHIPBENCH_CL_ATTN");
        return params_fit(rt, p, d);
    }
    char cls[16], text[160];
    const char *src = NULL;
    cb_cl_attn_shape_class(d, cls, sizeof cls);
    enum cb_status ts = cb_cl_tuning_lookup(&rt->info, "attn_f32_opencl", cls, text,
                                            sizeof text, &src);
    if (ts != CB_OK && ts != CB_ERR_UNSUPPORTED)
        return ts;
    cb_clear_error();
    if (ts == CB_OK) {
        if (params_parse(text, p) != CB_OK)
            return cb_cl_error_wrap(CB_ERR_PARSE, "tuning entry (%s)", src);
        snprintf(origin, olen, "tuned (%s)", src);
        return params_fit(rt, p, d);
    }
    snprintf(origin, olen, "default for %s devices", rt->info.type);
    return default_params(rt, d, p);
}

// The device-type default adapted to D: on GPUs the first tiles set that
// fits (the d64 one first when D <= 64), else the rows default adapted.
static enum cb_status default_params(const struct cb_clrt *rt, int d, struct attn_params *p)
{
    const int cpu = !strcmp(rt->info.type, "cpu");
    *p = cpu ? cpu_default : gpu_default;
    const int n = (int)(sizeof gpu_tiles / sizeof gpu_tiles[0]);
    for (int i = 0; !cpu && i < n; i++) {
        const struct attn_params *t = &gpu_tiles[d <= 64 && i < 2 ? 1 - i : i];
        if (params_fit(rt, t, d) == CB_OK) {
            *p = *t;
            return CB_OK;
        }
        cb_clear_error();
    }
    // Fewer threads per row while that removes zero padding of D (small D).
    struct attn_params half = *p;
    half.tx = p->tx / 2;
    while (p->tx > 1 && padded_d(&half, d) < padded_d(p, d) && p->bk % half.tx == 0) {
        p->tx = half.tx;
        half.tx = p->tx / 2;
    }
    // Large D: more threads per row keep the O tile (RQ x DP/TX) in registers.
    if (!cpu && padded_d(p, d) / p->tx > 16 && p->bk % (2 * p->tx) == 0)
        p->tx *= 2;
    // Shrink the blocks (keys first, they cost no parallelism) until the
    // local memory fits the device.
    while (local_bytes(p, d) > rt->info.local_mem_bytes) {
        if (p->bk / 2 >= 4 && (p->bk / 2) % p->tx == 0 && (p->bk / 2) % 4 == 0 &&
            p->bk >= p->bq)
            p->bk /= 2;
        else if (p->bq / 2 >= p->rq && (p->bq / 2) % p->rq == 0)
            p->bq /= 2;
        else
            break;
    }
    return params_fit(rt, p, d);
}

enum cb_status cb_cl_attn_default(const struct cb_clrt *rt, int d, char *buf, size_t len)
{
    struct attn_params p;
    enum cb_status s = default_params(rt, d, &p);
    params_str(&p, buf, len);
    return s;
}

// The forward plan head (cl_attn.h) ---------------------------------------------

enum cb_status cb_cl_attn_fwd_buffers(struct cb_cl_attn_fwd *f, const struct cb_attn_args *a,
                                      size_t elem)
{
    enum cb_status s = CB_OK;
    struct cb_clrt *rt = f->base.rt;
    const int64_t bh = a->batch * a->heads, bkv = a->batch * a->kv_heads;
    CB_TRY(cb_clrt_upload_elems(rt, a->q, bh * a->seq_q, a->head_dim, a->head_dim, elem, &f->q));
    CB_TRY(cb_clrt_upload_elems(rt, a->k, bkv * a->seq_kv, a->head_dim, a->head_dim, elem,
                                &f->k));
    CB_TRY(cb_clrt_upload_elems(rt, a->v, bkv * a->seq_kv, a->head_dim, a->head_dim, elem,
                                &f->v));
    size_t no = (size_t)(bh * a->seq_q * a->head_dim), nl = (size_t)(bh * a->seq_q);
    CB_TRY(cb_clrt_buffer(rt, no * sizeof(float), CL_MEM_READ_WRITE, &f->o));
    CB_TRY(cb_clrt_buffer(rt, nl * sizeof(float), CL_MEM_READ_WRITE, &f->lse));
    CB_TRY(cb_clrt_fill_nan(rt, f->o, no));  // unwritten elements show up in verify
    CB_TRY(cb_clrt_fill_nan(rt, f->lse, nl));
out:
    return s;
}

enum cb_status cb_cl_attn_fwd_args(struct cb_cl_attn_fwd *f, const struct cb_attn_args *a,
                                   int bq, size_t lws)
{
    enum cb_status s = CB_OK;
    const int BH = (int)(a->batch * a->heads), H = (int)a->heads;
    const int group = (int)(a->heads / a->kv_heads);
    const int lq = (int)a->seq_q, lk = (int)a->seq_kv, causal = a->causal != 0;
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)a->head_dim);
    const float scale2 = scale * 1.44269504088896341f;  // scores in log2 units (exp2)
    const size_t nqb = cb_round_up((size_t)lq, (size_t)bq) / (size_t)bq;
    // One dimension: group counts past 65535 are fine there on every device.
    f->lws = lws;
    f->gws = nqb * (size_t)BH * lws;
    cl_kernel k = f->kern;
    CB_TRY(cb_clrt_arg(k, 0, sizeof(cl_mem), &f->q));
    CB_TRY(cb_clrt_arg(k, 1, sizeof(cl_mem), &f->k));
    CB_TRY(cb_clrt_arg(k, 2, sizeof(cl_mem), &f->v));
    CB_TRY(cb_clrt_arg(k, 3, sizeof(cl_mem), &f->o));
    CB_TRY(cb_clrt_arg(k, 4, sizeof(cl_mem), &f->lse));
    CB_TRY(cb_clrt_arg(k, 5, sizeof(int), &BH));
    CB_TRY(cb_clrt_arg(k, 6, sizeof(int), &H));
    CB_TRY(cb_clrt_arg(k, 7, sizeof(int), &group));
    CB_TRY(cb_clrt_arg(k, 8, sizeof(int), &lq));
    CB_TRY(cb_clrt_arg(k, 9, sizeof(int), &lk));
    CB_TRY(cb_clrt_arg(k, 10, sizeof(float), &scale2));
    CB_TRY(cb_clrt_arg(k, 11, sizeof(int), &causal));
    cl_int e = clFinish(f->base.rt->queue);
    if (e != CL_SUCCESS)
        s = cb_cl_fail(e, "clFinish after upload");
out:
    return s;
}

enum cb_status cb_cl_attn_fwd_run(void *plan, const struct cb_call *call)
{
    (void)call;  // inputs live on the device since the plan
    struct cb_cl_attn_fwd *f = plan;
    cl_event ev;
    cb_cl_timing_begin(&f->base.t);
    cl_int e = clEnqueueNDRangeKernel(f->base.rt->queue, f->kern, 1, NULL, &f->gws, &f->lws, 0,
                                      NULL, &ev);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clEnqueueNDRangeKernel(attention forward)");
    cb_cl_timing_event(&f->base.t, ev);
    return CB_OK;
}

enum cb_status cb_cl_attn_fwd_readback(void *plan, const struct cb_call *call)
{
    struct cb_cl_attn_fwd *f = plan;
    const struct cb_attn_args *a = &call->u.attn;
    const int64_t rows = a->batch * a->heads * a->seq_q;
    enum cb_status s = cb_clrt_download(f->base.rt, f->o, a->o, rows, a->head_dim, a->head_dim);
    if (s == CB_OK && a->lse)
        s = cb_clrt_download(f->base.rt, f->lse, a->lse, 1, rows, rows);
    return s;
}

void cb_cl_attn_fwd_release(struct cb_cl_attn_fwd *f)
{
    cb_cl_plan_release(&f->base);
    cl_mem bufs[] = {f->q, f->k, f->v, f->o, f->lse};
    for (int i = 0; i < 5; i++)
        if (bufs[i])
            clReleaseMemObject(bufs[i]);
    if (f->kern)
        clReleaseKernel(f->kern);
}

// Plan ----------------------------------------------------------------------

struct attn_plan {
    struct cb_cl_attn_fwd f;  // first: the shared plan callbacks use it
    struct cb_attn_args a;    // shape only (pointers not kept)
    struct attn_params p;
};

static void attn_plan_free(void *plan)
{
    struct attn_plan *pl = plan;
    if (!pl)
        return;
    cb_cl_attn_fwd_release(&pl->f);
    free(pl);
}

static enum cb_status attn_plan_make(const struct cb_kernel *k, const struct cb_plan_req *req,
                                     void **plan)
{
    (void)k;
    enum cb_status s = CB_OK;
    const struct cb_attn_args *a = &req->shape->u.attn;
    struct attn_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
    pl->a = cb_cl_attn_shape(a);
    CB_TRY(cb_cl_attn_check(a, ATTN_MAX_D, 0, "OpenCL attention"));
    CB_TRY(cb_clrt_open(req->device, &pl->f.base.rt));
    struct cb_clrt *rt = pl->f.base.rt;
    const int d = (int)a->head_dim;
    CB_TRY(choose_params(rt, d, &pl->p, pl->f.base.origin, sizeof pl->f.base.origin));
    params_str(&pl->p, pl->f.base.params, sizeof pl->f.base.params);
    const struct attn_params *p = &pl->p;

    CB_TRY(cb_cl_attn_fwd_buffers(&pl->f, a, sizeof(float)));

    char opts[256];
    cl_program prog;
    size_t lws;
    if (p->variant == ATTN_TILES) {
        int n = snprintf(opts, sizeof opts,
                         "-cl-mad-enable -D D=%d -D DP=%d -D BQ=%d -D BK=%d -D TK=%d -D TV=%d "
                         "-D RM=%d -D RS=%d -D PAD=%d -D PS=%d",
                         d, padded_d(p, d), p->bq, p->bk, p->tk, p->tv, p->rm, p->rs, p->pad,
                         p->ps);
        if (p->reg)  // params_fit let it through only for NVIDIA's compiler
            snprintf(opts + n, sizeof opts - (size_t)n, " -cl-nv-maxrregcount=%d", p->reg);
        CB_TRY(cb_clrt_program(rt, "attn_flash_tiles.cl", cb_cl_src_attn_flash_tiles, opts,
                               &prog));
        CB_TRY(cb_clrt_kernel(prog, "attn_fwd_tiles", &pl->f.kern));
        lws = (size_t)tiles_threads(p);
    } else {
        snprintf(opts, sizeof opts,
                 "-cl-mad-enable -D D=%d -D DP=%d -D BQ=%d -D BK=%d -D TX=%d -D RQ=%d -D PAD=%d",
                 d, padded_d(p, d), p->bq, p->bk, p->tx, p->rq, p->pad);
        CB_TRY(cb_clrt_program(rt, "attn_flash.cl", cb_cl_src_attn_flash, opts, &prog));
        CB_TRY(cb_clrt_kernel(prog, "attn_fwd", &pl->f.kern));
        lws = (size_t)p->tx * (size_t)(p->bq / p->rq);
    }

    CB_TRY(cb_cl_attn_fwd_args(&pl->f, a, p->bq, lws));
out:
    if (s != CB_OK) {
        attn_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

const struct cb_kernel cb_attn_opencl_kernels[] = {
    {
        .name = "attn_f32_opencl",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_OPENCL,
        .priority = 1,  // a device kernel is never the CPU's default
        .max_threads = 1,  // one host thread drives the device
        .available = cb_cl_available,
        .plan = attn_plan_make,
        .run = cb_cl_attn_fwd_run,
        .finish = cb_cl_plan_finish,
        .readback = cb_cl_attn_fwd_readback,
        .plan_free = attn_plan_free,
        .where = cb_cl_plan_where,
        .pci_bus = cb_cl_plan_pci_bus,
        .device_time_ns = cb_cl_plan_device_ns,
        .desc = "OpenCL f32 flash-attention forward (online softmax, local-memory K/V tiles)",
    },
    {.name = NULL},
};
