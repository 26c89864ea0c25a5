// cost.c: price table, measured rows and the cost of a training step per
// chip class (formulas in cb_cost.h and the README).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cost.h"
#include "chipbench/cb_csv.h"
#include "chipbench/cb_shape.h"
#include "chipbench/cb_util.h"

// Owner defaults when the price row leaves them empty
// (shared/design/power-and-cost.md 3.6): 3-year straight-line life, 70%
// utilisation, no colo/maintenance cost, $0.10/kWh, PUE 1.0 (device only).
#define DEFAULT_LIFE_YR 3.0
#define DEFAULT_UTIL 0.7
#define DEFAULT_USD_PER_KWH 0.10
#define DEFAULT_PUE 1.0

// Number cell: empty -> NAN; else must parse in [lo, hi].
static enum cb_status num(const struct cb_csv_table *t, int row, int col, const char *origin,
                          double lo, double hi, double *out)
{
    const char *v = col < 0 ? "" : cb_csv_cell(t, row, col);
    *out = NAN;
    if (!*v)
        return CB_OK;
    if (cb_parse_f64(v, lo, hi, out) != CB_OK)
        return cb_set_error(CB_ERR_PARSE, "%s: line %d: %s: '%s' is not a number in [%g, %g]",
                            origin, row + 2, t->header[col], v, lo, hi);
    return CB_OK;
}

enum cb_status cb_prices_parse(const char *text, size_t len, const char *origin,
                               struct cb_prices *out)
{
    static const char *const cols[] = {"usd_per_chip_hour", "capex_usd", "life_years",
                                       "utilization", "opex_usd_per_hour", "usd_per_kwh",
                                       "pue", "peak_tflops_fp32", "peak_tflops_bf16",
                                       "memory_gb"};
    static const double hi[] = {1e6, 1e9, 100, 1, 1e6, 100, 10, 1e7, 1e7, 1e7};
    struct cb_csv_table t = {0};
    enum cb_status s = cb_csv_parse(text, len, &t);
    memset(out, 0, sizeof *out);
    if (s != CB_OK)
        return cb_set_error(s, "%s: %s", origin, cb_error_text());
    int pc = cb_csv_col(&t, "chip_class_match");
    if (pc < 0) {
        s = cb_set_error(CB_ERR_PARSE, "%s: no chip_class_match column: not a price table",
                         origin);
        goto out;
    }
    // Single columns may be absent ("not given"), but a table with no price
    // column at all is a mistake (a misspelt header, the wrong file): it
    // would price nothing and say only "no price".
    if (cb_csv_col(&t, "usd_per_chip_hour") < 0 && cb_csv_col(&t, "capex_usd") < 0) {
        s = cb_set_error(CB_ERR_PARSE, "%s: neither usd_per_chip_hour nor capex_usd is a "
                         "column: not a price table (see results/prices.csv)", origin);
        goto out;
    }
    out->rows = calloc((size_t)t.nrows + 1, sizeof *out->rows);
    if (!out->rows) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "price table");
        goto out;
    }
    for (int r = 0; r < t.nrows; r++) {
        struct cb_price *p = &out->rows[out->n];
        double *f[] = {&p->rent_hr, &p->capex, &p->life_yr, &p->util, &p->opex_hr,
                       &p->usd_per_kwh, &p->pue, &p->peak_fp32, &p->peak_bf16, &p->memory_gb};
        cb_strlcpy(p->pattern, cb_csv_cell(&t, r, pc), sizeof p->pattern);
        for (int c = 0; c < 10; c++)
            CB_TRY(num(&t, r, cb_csv_col(&t, cols[c]), origin, 0, hi[c], f[c]));
        if (!isnan(p->util) && p->util <= 0) {
            s = cb_set_error(CB_ERR_PARSE, "%s: line %d: utilization must be > 0", origin, r + 2);
            goto out;
        }
        if (!isnan(p->life_yr) && p->life_yr <= 0) {
            s = cb_set_error(CB_ERR_PARSE, "%s: line %d: life_years must be > 0", origin, r + 2);
            goto out;
        }
        out->n++;
    }
out:
    cb_csv_table_free(&t);
    if (s != CB_OK)
        cb_prices_free(out);
    return s;
}

enum cb_status cb_prices_load(const char *path, struct cb_prices *out)
{
    char *text;
    size_t len;
    enum cb_status s = cb_read_file(path, (size_t)1 << 30, &text, &len);
    if (s == CB_OK)
        s = cb_prices_parse(text, len, path, out);
    free(text);
    return s;
}

void cb_prices_free(struct cb_prices *p)
{
    free(p->rows);
    p->rows = NULL;
    p->n = 0;
}

const struct cb_price *cb_prices_match(const struct cb_prices *p, const char *chip_class)
{
    for (int i = 0; p && i < p->n; i++)
        if (cb_name_match(p->rows[i].pattern, chip_class))
            return &p->rows[i];
    return NULL;
}

// --- measured rows -------------------------------------------------------

static const char *cell(const struct cb_csv_table *t, int r, const char *name)
{
    return cb_csv_cell(t, r, cb_csv_col(t, name));
}

static enum cb_status i64(const struct cb_csv_table *t, int r, const char *name,
                          const char *origin, int64_t *out)
{
    if (cb_parse_i64(cell(t, r, name), 0, INT64_MAX / 4, out) != CB_OK)
        return cb_set_error(CB_ERR_PARSE, "%s: line %d: %s: '%s' is not a whole number",
                            origin, r + 2, name, cell(t, r, name));
    return CB_OK;
}

// The row's shape as cb_shape_format text, the join key with the step.
// Also the bytes the call declares (cb_call_bytes), for the stream rows.
static enum cb_status row_shape(const struct cb_csv_table *t, int r, const char *origin,
                                enum cb_op op, enum cb_dtype dt, char *buf, size_t len,
                                double *bytes)
{
    struct cb_call c = {.op = op};
    enum cb_status s = CB_OK;
    if (op == CB_OP_ALLREDUCE) {  // n = elements per rank
        int64_t n;
        CB_TRY(i64(t, r, "n", origin, &n));
        c.u.allreduce.bytes = n * cb_dtype_size(dt);
    } else if (op == CB_OP_STREAM) {
        CB_TRY(i64(t, r, "n", origin, &c.u.stream.n));
        c.u.stream.scalar = 3.0f;
    } else if (op == CB_OP_GEMM) {
        struct cb_gemm_args *g = &c.u.gemm;
        const char *tr = cell(t, r, "trans");
        double a, b;
        if (strlen(tr) != 2)
            return cb_set_error(CB_ERR_PARSE, "%s: line %d: trans '%s'", origin, r + 2, tr);
        g->trans_a = tr[0] == 't', g->trans_b = tr[1] == 't';
        CB_TRY(i64(t, r, "m", origin, &g->m));
        CB_TRY(i64(t, r, "n", origin, &g->n));
        CB_TRY(i64(t, r, "k", origin, &g->k));
        CB_TRY(i64(t, r, "lda", origin, &g->lda));
        CB_TRY(i64(t, r, "ldb", origin, &g->ldb));
        CB_TRY(i64(t, r, "ldc", origin, &g->ldc));
        if (cb_parse_f64(cell(t, r, "alpha"), -1e30, 1e30, &a) != CB_OK ||
            cb_parse_f64(cell(t, r, "beta"), -1e30, 1e30, &b) != CB_OK)
            return cb_set_error(CB_ERR_PARSE, "%s: line %d: alpha/beta", origin, r + 2);
        g->alpha = (float)a, g->beta = (float)b;
    } else {
        struct cb_attn_args *a = &c.u.attn;
        int64_t causal;
        CB_TRY(i64(t, r, "batch", origin, &a->batch));
        CB_TRY(i64(t, r, "heads", origin, &a->heads));
        CB_TRY(i64(t, r, "kv_heads", origin, &a->kv_heads));
        CB_TRY(i64(t, r, "seq_q", origin, &a->seq_q));
        CB_TRY(i64(t, r, "seq_kv", origin, &a->seq_kv));
        CB_TRY(i64(t, r, "head_dim", origin, &a->head_dim));
        CB_TRY(i64(t, r, "causal", origin, &causal));
        a->causal = causal != 0;
    }
    cb_shape_format(&c, buf, len);
    *bytes = cb_call_bytes(&c, dt);
out:
    return s;
}

enum cb_status cb_meas_parse(const char *text, size_t len, const char *origin,
                             struct cb_measurements *m)
{
    static const char *const need[] = {"chip_class", "kernel", "op", "dtype", "status",
                                       "threads", "time_ns_median", "trans", "m", "n", "k",
                                       "lda", "ldb", "ldc", "alpha", "beta", "batch", "heads",
                                       "kv_heads", "seq_q", "seq_kv", "head_dim", "causal",
                                       "gflops", NULL};
    struct cb_csv_table t = {0};
    enum cb_status s = cb_csv_parse(text, len, &t);
    if (s != CB_OK)
        return cb_set_error(s, "%s: %s", origin, cb_error_text());
    for (int i = 0; need[i]; i++)
        if (cb_csv_col(&t, need[i]) < 0) {
            s = cb_set_error(CB_ERR_PARSE, "%s: no %s column: not a chipbench result CSV",
                             origin, need[i]);
            goto out;
        }
    for (int r = 0; r < t.nrows; r++) {
        enum cb_op op;
        enum cb_dtype dt;
        if (strcmp(cell(&t, r, "status"), "ok"))
            continue;
        if (cb_op_parse(cell(&t, r, "op"), &op) != CB_OK ||
            cb_dtype_parse(cell(&t, r, "dtype"), &dt) != CB_OK) {
            s = cb_set_error(CB_ERR_PARSE, "%s: line %d: unknown op or dtype", origin, r + 2);
            goto out;
        }
        if (m->n == m->cap) {
            int cap = m->cap ? 2 * m->cap : 256;
            struct cb_meas *nr = realloc(m->rows, (size_t)cap * sizeof *nr);
            if (!nr) {
                s = cb_set_error(CB_ERR_NO_MEMORY, "measured rows");
                goto out;
            }
            m->rows = nr, m->cap = cap;
        }
        struct cb_meas *x = &m->rows[m->n];
        int64_t thr;
        memset(x, 0, sizeof *x);
        x->op = op, x->dtype = dt;
        cb_strlcpy(x->chip, cell(&t, r, "chip_class"), sizeof x->chip);
        cb_strlcpy(x->kernel, cell(&t, r, "kernel"), sizeof x->kernel);
        CB_TRY(row_shape(&t, r, origin, op, dt, x->shape, sizeof x->shape, &x->bytes));
        CB_TRY(i64(&t, r, "threads", origin, &thr));
        x->threads = (int)(thr > 1 << 20 ? 1 << 20 : thr);
        CB_TRY(num(&t, r, cb_csv_col(&t, "time_ns_median"), origin, 1e-3, 1e18, &x->median_ns));
        CB_TRY(num(&t, r, cb_csv_col(&t, "gflops"), origin, 0, 1e12, &x->gflops));
        // Energy only from a counter or integrated readings, never estimated.
        const char *q = cell(&t, r, "power_quality");
        x->energy_j = NAN;
        if (!strcmp(q, "measured") || !strcmp(q, "integrated"))
            CB_TRY(num(&t, r, cb_csv_col(&t, "energy_j"), origin, 0, 1e12, &x->energy_j));
        if (isnan(x->median_ns)) {
            s = cb_set_error(CB_ERR_PARSE, "%s: line %d: ok row without time_ns_median",
                             origin, r + 2);
            goto out;
        }
        // All-reduce rows (columns appended later: absent in older files).
        x->bus_gbs = NAN;
        if (op == CB_OP_ALLREDUCE) {
            double nr;
            CB_TRY(num(&t, r, cb_csv_col(&t, "ranks"), origin, 1, 1e9, &nr));
            CB_TRY(num(&t, r, cb_csv_col(&t, "bus_gbytes_per_s"), origin, 0, 1e12,
                       &x->bus_gbs));
            x->ranks = isnan(nr) ? 0 : (int)nr;
        }
        m->n++;
    }
out:
    cb_csv_table_free(&t);
    return s;
}

enum cb_status cb_meas_load(const char *path, struct cb_measurements *m)
{
    char *text;
    size_t len;
    enum cb_status s = cb_read_file(path, (size_t)1 << 30, &text, &len);
    if (s == CB_OK)
        s = cb_meas_parse(text, len, path, m);
    free(text);
    return s;
}

void cb_meas_free(struct cb_measurements *m)
{
    free(m->rows);
    memset(m, 0, sizeof *m);
}

// --- the cost ------------------------------------------------------------

void cb_cost_opts_default(struct cb_cost_opts *o)
{
    memset(o, 0, sizeof *o);
    o->usd_per_kwh = o->pue = o->bandwidth_gbs = NAN;
}

static const struct cb_meas *best_row(const struct cb_measurements *m, const char *chip,
                                      enum cb_op op, enum cb_dtype dt, const char *shape)
{
    const struct cb_meas *b = NULL;
    for (int i = 0; i < m->n; i++) {
        const struct cb_meas *x = &m->rows[i];
        if (x->op == op && x->dtype == dt && !strcmp(x->chip, chip) && !strcmp(x->shape, shape) &&
            (!b || x->median_ns < b->median_ns))
            b = x;
    }
    return b;
}

static double or_default(double v, double d) { return isnan(v) ? d : v; }

void cb_cost_compute(const struct cb_step *st, const struct cb_measurements *m,
                     const char *chip, const struct cb_price *p, const struct cb_cost_opts *o,
                     struct cb_cost_result *r)
{
    memset(r, 0, sizeof *r);
    cb_strlcpy(r->chip, chip, sizeof r->chip);
    double energy = 0;
    int energy_ok = 1;
    for (int i = 0; i < st->n; i++) {
        const struct cb_step_item *it = &st->items[i];
        if (!cb_step_first_of_shape(st, i))
            continue;
        char shape[160];
        int64_t calls = 0;
        cb_shape_format(&it->call, shape, sizeof shape);
        // Every item of this op and shape (e.g. two layers' ops sharing an
        // nt GEMM shape) runs at the time measured for it.
        for (int j = i; j < st->n; j++) {
            char other[160];
            if (!st->items[j].compute || st->items[j].call.op != it->call.op)
                continue;
            cb_shape_format(&st->items[j].call, other, sizeof other);
            calls += strcmp(shape, other) ? 0 : st->items[j].count;
        }
        r->n_shapes++;
        const struct cb_meas *b = best_row(m, chip, it->call.op, st->dtype, shape);
        if (!b) {
            if (r->n_missing < CB_COST_MAX_MISSING)
                r->missing[r->n_missing] = i;
            r->n_missing++;
            energy_ok = 0;
            continue;
        }
        r->t_compute += (double)calls * b->median_ns * 1e-9;
        if (r->n_picks < CB_COST_MAX_PICKS) {
            struct cb_cost_pick *pk = &r->picks[r->n_picks++];
            pk->item = i;
            pk->calls = calls;
            cb_strlcpy(pk->kernel, b->kernel, sizeof pk->kernel);
            pk->seconds = (double)calls * b->median_ns * 1e-9;
        }
        if (isnan(b->energy_j))
            energy_ok = 0;
        else
            energy += (double)calls * b->energy_j;
    }
    for (int i = 0; i < m->n; i++)
        if (m->rows[i].op == CB_OP_GEMM && m->rows[i].dtype == st->dtype &&
            !strcmp(m->rows[i].chip, chip) && m->rows[i].gflops > r->best_gemm_gflops)
            r->best_gemm_gflops = m->rows[i].gflops;

    r->t_mem = cb_step_mem_bytes(st) / (o->bandwidth_gbs * 1e9);  // NAN without bandwidth
    r->t_step = r->t_compute + r->t_mem;
    r->tokens_per_step = (double)st->batch * (double)st->seq;
    r->tokens_per_s = r->tokens_per_step / r->t_step;
    r->flops = cb_step_flops(st);
    r->tflops = r->flops / r->t_step * 1e-12;
    double peak = !p ? NAN : st->dtype == CB_DTYPE_BF16 ? p->peak_bf16 : p->peak_fp32;
    r->mfu_peak = r->tflops / peak;
    r->mfu_measured = r->best_gemm_gflops > 0 ? r->tflops * 1e3 / r->best_gemm_gflops : NAN;
    r->energy_j = energy_ok ? energy : NAN;

    struct cb_step_memory need;
    cb_step_memory(st, &need);
    r->mem_need_gb = need.total * 1e-9;
    r->mem_have_gb = p ? p->memory_gb : NAN;
    r->fits = isnan(r->mem_have_gb) ? -1 : r->mem_need_gb <= r->mem_have_gb;

    r->priced = p != NULL;
    double kwh_price = or_default(o->usd_per_kwh, p ? or_default(p->usd_per_kwh,
                                  DEFAULT_USD_PER_KWH) : DEFAULT_USD_PER_KWH);
    double pue = or_default(o->pue, p ? or_default(p->pue, DEFAULT_PUE) : DEFAULT_PUE);
    r->energy_step = r->energy_j / 3.6e6 * pue * kwh_price;
    r->rent_step = p ? p->rent_hr * r->t_step / 3600 : NAN;
    if (p && !isnan(p->capex)) {
        double life = or_default(p->life_yr, DEFAULT_LIFE_YR), util = or_default(p->util,
                                                                                 DEFAULT_UTIL);
        double hw_hr = p->capex / (life * 8760 * util) + or_default(p->opex_hr, 0);
        r->own_hw_step = hw_hr * r->t_step / 3600;
    } else {
        r->own_hw_step = NAN;
    }
    r->own_step = r->own_hw_step + r->energy_step;

    struct cb_param_count pc;
    cb_model_params(&st->model, &pc);
    r->train_tokens = o->train_tokens > 0 ? o->train_tokens : 20.0 * (double)pc.total;
    r->train_steps = r->train_tokens / r->tokens_per_step;
    r->train_s = r->train_steps * r->t_step;
}

int cb_meas_stream_best(const struct cb_measurements *m, const char *chip, double *gbs)
{
    int best = -1;
    double bw = NAN;
    for (int i = 0; i < m->n; i++) {
        const struct cb_meas *x = &m->rows[i];
        if (x->op != CB_OP_STREAM || strcmp(x->chip, chip) || !(x->median_ns > 0) ||
            !(x->bytes > 0))
            continue;
        double v = x->bytes / x->median_ns;  // bytes per ns = GB/s
        if (best < 0 || v > bw)
            best = i, bw = v;
    }
    *gbs = bw;
    return best;
}
