// compare.c: statistics and CSV loading for `chipbench compare` (see
// cb_compare.h for the method and the verdict rules).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_compare.h"
#include "chipbench/cb_csv.h"
#include "chipbench/cb_result_csv.h"
#include "chipbench/cb_stats.h"
#include "chipbench/cb_util.h"

#define BOOTSTRAP 2000

const char *cb_verdict_name(enum cb_verdict v)
{
    static const char *const names[] = {
        [CB_SAME] = "SAME", [CB_FASTER] = "FASTER", [CB_SLOWER] = "SLOWER", [CB_NOISY] = "NOISY"};
    return (unsigned)v < 4 ? names[v] : "?";
}

struct ranked {
    double v;
    int from_x;
};

static int cmp_ranked(const void *a, const void *b)
{
    double x = ((const struct ranked *)a)->v, y = ((const struct ranked *)b)->v;
    return (x > y) - (x < y);
}

double cb_mann_whitney_p(const double *x, int nx, const double *y, int ny)
{
    const int n = nx + ny;
    struct ranked *all = malloc((size_t)n * sizeof *all);
    if (!all || nx < 1 || ny < 1) {
        free(all);
        return 1.0;
    }
    for (int i = 0; i < nx; i++)
        all[i] = (struct ranked){x[i], 1};
    for (int i = 0; i < ny; i++)
        all[nx + i] = (struct ranked){y[i], 0};
    qsort(all, (size_t)n, sizeof *all, cmp_ranked);
    // Average ranks over ties; the tie term corrects the variance.
    double rx = 0, ties = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && all[j + 1].v == all[i].v)
            j++;
        double rank = (i + j) / 2.0 + 1.0, t = j - i + 1;
        for (int q = i; q <= j; q++)
            if (all[q].from_x)
                rx += rank;
        ties += t * t * t - t;
        i = j + 1;
    }
    free(all);
    double u = rx - nx * (nx + 1) / 2.0, mu = nx * (double)ny / 2.0;
    double var = nx * (double)ny / 12.0 * ((n + 1) - ties / ((double)n * (n - 1)));
    if (var <= 0)
        return 1.0;  // every value equal: no evidence of a difference
    double d = fabs(u - mu) - 0.5;  // continuity correction
    if (d < 0)
        d = 0;
    return erfc(d / sqrt(var) / sqrt(2.0));
}

static double resampled_median(const double *x, int n, struct cb_rng *r, double *tmp)
{
    for (int i = 0; i < n; i++)
        tmp[i] = x[cb_rng_next(r) % (uint64_t)n];
    return cb_median(tmp, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum cb_status cb_compare_samples(const double *base, int nb, const double *nw, int nn,
                                  double t, double alpha, uint64_t seed,
                                  struct cb_cmp_stats *out)
{
    memset(out, 0, sizeof *out);
    if (nb < 1 || nn < 1)
        return cb_set_error(CB_ERR_INVALID_ARG, "no samples to compare");
    double mb = cb_median(base, nb), mn = cb_median(nw, nn);
    if (!(mb > 0) || !(mn > 0))
        return cb_set_error(CB_ERR_INVALID_ARG, "medians must be positive");
    out->ratio = mn / mb;
    double *ratios = malloc(BOOTSTRAP * sizeof *ratios);
    double *tmp = malloc((size_t)(nb > nn ? nb : nn) * sizeof *tmp);
    if (!ratios || !tmp) {
        free(ratios);
        free(tmp);
        return cb_set_error(CB_ERR_NO_MEMORY, "bootstrap");
    }
    struct cb_rng r;
    cb_rng_seed(&r, seed);
    for (int i = 0; i < BOOTSTRAP; i++)
        ratios[i] = resampled_median(nw, nn, &r, tmp) / resampled_median(base, nb, &r, tmp);
    qsort(ratios, BOOTSTRAP, sizeof *ratios, cmp_double);
    out->ci_lo = ratios[(int)(0.025 * BOOTSTRAP)];
    out->ci_hi = ratios[(int)(0.975 * BOOTSTRAP) - 1];
    free(ratios);
    free(tmp);
    out->p = cb_mann_whitney_p(base, nb, nw, nn);

    const double up = 1.0 + t, down = 1.0 / (1.0 + t);
    if (out->p < alpha && out->ratio > 1.0 && out->ci_hi > up)
        out->verdict = CB_SLOWER;
    else if (out->p < alpha && out->ratio < 1.0 && out->ci_lo < down)
        out->verdict = CB_FASTER;
    else if (out->ci_lo >= down && out->ci_hi <= up)
        out->verdict = CB_SAME;
    else
        out->verdict = CB_NOISY;
    return CB_OK;
}

// Identity columns, in key order. The kernel and dtype come first so the
// shape part (for --normalize-to) is the tail.
static const char *const id_cols[] = {
    "kernel", "dtype", "chip_class", "device", "op", "trans", "m", "n", "k", "lda", "ldb",
    "ldc", "alpha", "beta", "batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim",
    "causal", "threads",
};
#define N_ID (int)(sizeof id_cols / sizeof id_cols[0])
#define SHAPE_FROM 2  // id_cols index where the kernel-independent part starts

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void row_free(struct cb_cmp_row *r)
{
    free(r->key);
    free(r->label);
    free(r->chip);
    free(r->kernel);
    free(r->samples);
    free(r->status);
}

void cb_cmp_free(struct cb_cmp_file *f)
{
    for (int i = 0; f->rows && i < f->nrows; i++)
        row_free(&f->rows[i]);
    free(f->rows);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static enum cb_status parse_samples(const char *text, struct cb_cmp_row *r, const char *path,
                                    int line)
{
    int cap = 16;
    r->samples = malloc((size_t)cap * sizeof *r->samples);
    if (!r->samples)
        return cb_set_error(CB_ERR_NO_MEMORY, "samples");
    r->n = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v > 0) || !isfinite(v) || (*end && *end != ' '))
            return cb_set_error(CB_ERR_PARSE, "%s: line %d: samples_ns is not a list of "
                                "positive numbers", path, line);
        if (r->n == cap) {
            if (cap > (1 << 24))
                return cb_set_error(CB_ERR_PARSE, "%s: line %d: too many samples", path, line);
            cap *= 2;
            double *x = realloc(r->samples, (size_t)cap * sizeof *x);
            if (!x)
                return cb_set_error(CB_ERR_NO_MEMORY, "samples");
            r->samples = x;
        }
        r->samples[r->n++] = v;
        p = end;
    }
    return CB_OK;
}

static double opt_num(const struct cb_csv_table *t, int row, int col)
{
    if (col < 0)
        return NAN;
    const char *s = cb_csv_cell(t, row, col);
    double v;
    return *s && cb_parse_f64(s, -1e300, 1e300, &v) == CB_OK ? v : NAN;
}

enum cb_status cb_cmp_load(const char *path, struct cb_cmp_file *out)
{
    struct cb_csv_table t;
    enum cb_status s;
    int idc[N_ID];
    memset(out, 0, sizeof *out);
    s = cb_csv_read(path, &t);
    if (s != CB_OK)
        return s;
    int cv = cb_csv_col(&t, "schema_version"), cs = cb_csv_col(&t, "samples_ns");
    int cst = cb_csv_col(&t, "status"), cg = cb_csv_col(&t, "gflops");
    int cw = cb_csv_col(&t, "gflops_per_w");
    if (cv != 0) {
        s = cb_set_error(CB_ERR_PARSE, "%s: not a chipbench result CSV (first column is not "
                         "schema_version)", path);
        goto out;
    }
    for (int i = 0; i < N_ID; i++)
        if ((idc[i] = cb_csv_col(&t, id_cols[i])) < 0) {
            s = cb_set_error(CB_ERR_PARSE, "%s: column '%s' is missing", path, id_cols[i]);
            goto out;
        }
    if (cs < 0 || cst < 0) {
        s = cb_set_error(CB_ERR_PARSE, "%s: column '%s' is missing", path,
                         cs < 0 ? "samples_ns" : "status");
        goto out;
    }
    if (t.nrows == 0) {
        s = cb_set_error(CB_ERR_PARSE, "%s: no result rows", path);
        goto out;
    }
    out->path = dup_str(path);
    out->rows = calloc((size_t)t.nrows, sizeof *out->rows);
    if (!out->path || !out->rows) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "loading %s", path);
        goto out;
    }
    for (int i = 0; i < t.nrows; i++) {
        const int line = i + 2;  // header is line 1 (rows with newlines aside)
        struct cb_cmp_row *r = &out->rows[i];
        out->nrows++;
        const char *ver = cb_csv_cell(&t, i, cv);
        if (strcmp(ver, "1") != 0) {
            s = cb_set_error(CB_ERR_PARSE, "%s: line %d: unknown schema_version '%s' (this "
                             "chipbench reads version %d)", path, line, ver,
                             CB_CSV_SCHEMA_VERSION);
            goto out;
        }
        struct cb_strbuf key = {0}, label = {0};
        for (int c = 0; c < N_ID && s == CB_OK; c++) {
            s = cb_strbuf_append(&key, cb_csv_cell(&t, i, idc[c]),
                                 strlen(cb_csv_cell(&t, i, idc[c])));
            if (s == CB_OK)
                s = cb_strbuf_append(&key, "|", c + 1 < N_ID ? 1 : 0);
        }
        if (s == CB_OK)
            s = cb_strbuf_append(&key, "", 1);
        const char *op = cb_csv_cell(&t, i, idc[4]);
        if (s == CB_OK && !strcmp(op, "gemm"))
            s = cb_strbuf_printf(&label, "%s %sx%sx%s:%s t=%s", cb_csv_cell(&t, i, idc[0]),
                                 cb_csv_cell(&t, i, idc[6]), cb_csv_cell(&t, i, idc[7]),
                                 cb_csv_cell(&t, i, idc[8]), cb_csv_cell(&t, i, idc[5]),
                                 cb_csv_cell(&t, i, idc[21]));
        else if (s == CB_OK && !strcmp(op, "stream"))
            s = cb_strbuf_printf(&label, "%s stream:n=%s t=%s", cb_csv_cell(&t, i, idc[0]),
                                 cb_csv_cell(&t, i, idc[7]), cb_csv_cell(&t, i, idc[21]));
        else if (s == CB_OK)
            s = cb_strbuf_printf(&label, "%s b=%s,h=%s,kvh=%s,sq=%s,skv=%s,d=%s,causal=%s t=%s",
                                 cb_csv_cell(&t, i, idc[0]), cb_csv_cell(&t, i, idc[14]),
                                 cb_csv_cell(&t, i, idc[15]), cb_csv_cell(&t, i, idc[16]),
                                 cb_csv_cell(&t, i, idc[17]), cb_csv_cell(&t, i, idc[18]),
                                 cb_csv_cell(&t, i, idc[19]), cb_csv_cell(&t, i, idc[20]),
                                 cb_csv_cell(&t, i, idc[21]));
        r->key = key.data;
        r->label = label.data;
        if (s != CB_OK)
            goto out;
        char chip[512];
        const char *dev = cb_csv_cell(&t, i, idc[3]);
        snprintf(chip, sizeof chip, "%s%s%s", cb_csv_cell(&t, i, idc[2]), *dev ? " " : "", dev);
        r->chip = dup_str(chip);
        r->kernel = dup_str(cb_csv_cell(&t, i, idc[0]));
        r->status = dup_str(cb_csv_cell(&t, i, cst));
        if (!r->chip || !r->kernel || !r->status) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "loading %s", path);
            goto out;
        }
        CB_TRY(parse_samples(cb_csv_cell(&t, i, cs), r, path, line));
        r->ok = !strcmp(r->status, "ok") && r->n > 0;
        r->median_ns = r->n ? cb_median(r->samples, r->n) : NAN;
        r->gflops = opt_num(&t, i, cg);
        r->gflops_per_w = opt_num(&t, i, cw);
    }
out:
    cb_csv_table_free(&t);
    if (s != CB_OK)
        cb_cmp_free(out);
    return s;
}

// The identity without kernel and dtype: chip, device, shape and threads.
static const char *shape_part(const char *key)
{
    const char *p = key;
    for (int i = 0; i < SHAPE_FROM && p; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    return p ? p : "";
}

void cb_cmp_normalize(struct cb_cmp_file *f, const char *ref)
{
    double *scale = calloc((size_t)f->nrows, sizeof *scale);
    if (!scale)
        return;
    for (int i = 0; i < f->nrows; i++) {
        struct cb_cmp_row *r = &f->rows[i];
        for (int j = 0; j < f->nrows; j++) {
            const struct cb_cmp_row *b = &f->rows[j];
            if (b->ok && !strcmp(b->kernel, ref) && !strcmp(shape_part(b->key), shape_part(r->key)))
                scale[i] = b->median_ns;
        }
    }
    for (int i = 0; i < f->nrows; i++) {
        struct cb_cmp_row *r = &f->rows[i];
        if (!r->ok)
            continue;
        if (!(scale[i] > 0)) {
            r->ok = 0;
            char st[160];
            snprintf(st, sizeof st, "no %s row to normalize to", ref);
            free(r->status);
            r->status = dup_str(st);
            continue;
        }
        for (int k = 0; k < r->n; k++)
            r->samples[k] /= scale[i];
        r->median_ns /= scale[i];
    }
    free(scale);
}
