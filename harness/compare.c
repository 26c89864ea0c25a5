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

// Student's t distribution, for the run-level test. -------------------------

// Continued fraction of the regularized incomplete beta function (modified
// Lentz); converges fast for x < (a + 1) / (a + b + 2).
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    d = 1.0 / (fabs(d) < tiny ? tiny : d);
    double h = d;
    for (int m = 1; m <= 400; m++) {
        const double m2 = 2.0 * m;
        for (int half = 0; half < 2; half++) {
            double num = half == 0 ? m * (b - m) * x / ((a + m2 - 1.0) * (a + m2))
                                   : -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
            d = 1.0 + num * d;
            c = 1.0 + num / c;
            d = 1.0 / (fabs(d) < tiny ? tiny : d);
            c = fabs(c) < tiny ? tiny : c;
            h *= d * c;
            if (half == 1 && fabs(d * c - 1.0) < 1e-15)
                return h;
        }
    }
    return h;
}

// I_x(a, b), the regularized incomplete beta function.
static double inc_beta(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0))
        return front * beta_cf(a, b, x) / a;
    return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

double cb_student_t_p(double t, double df)
{
    if (!(df > 0) || isnan(t))
        return 1.0;
    return inc_beta(df / 2.0, 0.5, df / (df + t * t));
}

double cb_student_t_crit(double p2, double df)
{
    double lo = 0, hi = 16;
    while (cb_student_t_p(hi, df) > p2 && hi < 1e12)  // widen: small df or tiny p2
        hi *= 4;
    for (int i = 0; i < 100 && hi - lo > 1e-9 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (cb_student_t_p(mid, df) > p2)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void mean_var(const double *x, int n, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *var = n > 1 ? ss / (n - 1) : 0;
}

static enum cb_verdict verdict_of(const struct cb_cmp_stats *s, double t, double alpha)
{
    const double up = 1.0 + t, down = 1.0 / (1.0 + t);
    if (s->q < alpha && s->ratio > 1.0 && s->ci_hi > up)
        return CB_SLOWER;
    if (s->q < alpha && s->ratio < 1.0 && s->ci_lo < down)
        return CB_FASTER;
    if (s->ci_lo >= down && s->ci_hi <= up)
        return CB_SAME;
    return CB_NOISY;
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
    out->p = out->q = cb_mann_whitney_p(base, nb, nw, nn);

    out->verdict = verdict_of(out, t, alpha);
    return CB_OK;
}

enum cb_status cb_compare_runs(const double *base, int nb, const double *nw, int nn, double t,
                               double alpha, struct cb_cmp_stats *out)
{
    memset(out, 0, sizeof *out);
    if (nb < 1 || nn < 1 || nb + nn < 3)
        return cb_set_error(CB_ERR_INVALID_ARG, "the run-level test needs two runs on one "
                            "side at least (got %d and %d)", nb, nn);
    double lb[CB_CMP_MAX_RUNS], ln[CB_CMP_MAX_RUNS];
    if (nb > CB_CMP_MAX_RUNS || nn > CB_CMP_MAX_RUNS)
        return cb_set_error(CB_ERR_INVALID_ARG, "at most %d runs per side", CB_CMP_MAX_RUNS);
    for (int i = 0; i < nb; i++)
        if (!(base[i] > 0) || !isfinite(base[i]))
            return cb_set_error(CB_ERR_INVALID_ARG, "run medians must be positive");
        else
            lb[i] = log(base[i]);
    for (int i = 0; i < nn; i++)
        if (!(nw[i] > 0) || !isfinite(nw[i]))
            return cb_set_error(CB_ERR_INVALID_ARG, "run medians must be positive");
        else
            ln[i] = log(nw[i]);
    double mb, vb, mn, vn, se2, df;
    mean_var(lb, nb, &mb, &vb);
    mean_var(ln, nn, &mn, &vn);
    if (nb >= 2 && nn >= 2) {  // Welch: each side its own run-to-run variance
        const double eb = vb / nb, en = vn / nn;
        se2 = eb + en;
        df = se2 > 0 ? se2 * se2 / (eb * eb / (nb - 1) + en * en / (nn - 1)) : nb + nn - 2;
    } else {  // one run on one side: it is assumed to vary as the other side's runs do
        const double v = nb >= 2 ? vb : vn;
        se2 = v * (1.0 / nb + 1.0 / nn);
        df = (nb >= 2 ? nb : nn) - 1;
    }
    const double diff = mn - mb, se = sqrt(se2);
    out->ratio = exp(diff);
    if (se > 0) {
        const double q = cb_student_t_crit(0.05, df);
        out->ci_lo = exp(diff - q * se);
        out->ci_hi = exp(diff + q * se);
        out->p = cb_student_t_p(diff / se, df);
    } else {  // identical runs on each side: no spread to test against
        out->ci_lo = out->ci_hi = out->ratio;
        out->p = diff == 0 ? 1.0 : 0.0;
    }
    out->q = out->p;
    out->verdict = verdict_of(out, t, alpha);
    return CB_OK;
}

static int cmp_by_p(const void *a, const void *b)
{
    double x = (*(struct cb_cmp_stats *const *)a)->p, y = (*(struct cb_cmp_stats *const *)b)->p;
    return (x > y) - (x < y);
}

void cb_cmp_adjust(struct cb_cmp_stats *const *rows, int n, enum cb_correction c, double t,
                   double alpha)
{
    struct cb_cmp_stats **s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s || c == CB_CORR_NONE) {  // no memory: q = p, which errs towards flagging
        for (int i = 0; i < n; i++) {
            rows[i]->q = rows[i]->p;
            rows[i]->verdict = verdict_of(rows[i], t, alpha);
        }
        free(s);
        return;
    }
    memcpy(s, rows, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_by_p);
    if (c == CB_CORR_BH) {  // q_(i) = min over j >= i of p_(j) n / j
        double run = 1.0;
        for (int i = n - 1; i >= 0; i--) {
            double q = s[i]->p * n / (i + 1);
            run = q < run ? q : run;
            s[i]->q = run;
        }
    } else {  // Holm: q_(i) = max over j <= i of p_(j) (n - j + 1)
        double run = 0.0;
        for (int i = 0; i < n; i++) {
            double q = s[i]->p * (n - i);
            run = q > run ? q : run;
            s[i]->q = run < 1.0 ? run : 1.0;
        }
    }
    for (int i = 0; i < n; i++)
        s[i]->verdict = verdict_of(s[i], t, alpha);
    free(s);
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
    free(r->round_ns);
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

// A space-separated list of positive numbers (samples_ns, round_medians_ns).
static enum cb_status parse_list(const char *text, double **out, int *n, const char *col,
                                 const char *path, int line)
{
    int cap = 16;
    double *v = malloc((size_t)cap * sizeof *v);
    *out = v;
    *n = 0;
    if (!v)
        return cb_set_error(CB_ERR_NO_MEMORY, "%s", col);
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char *end;
        double x = strtod(p, &end);
        if (end == p || !(x > 0) || !isfinite(x) || (*end && *end != ' '))
            return cb_set_error(CB_ERR_PARSE, "%s: line %d: %s is not a list of positive "
                                "numbers", path, line, col);
        if (*n == cap) {
            if (cap > (1 << 24))
                return cb_set_error(CB_ERR_PARSE, "%s: line %d: too many values in %s", path,
                                    line, col);
            cap *= 2;
            double *y = realloc(v, (size_t)cap * sizeof *y);
            if (!y)
                return cb_set_error(CB_ERR_NO_MEMORY, "%s", col);
            *out = v = y;
        }
        v[(*n)++] = x;
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

// The validation shared by cb_cmp_load and cb_cmp_parse; frees t.
static enum cb_status cmp_from_table(struct cb_csv_table t, const char *path,
                                     struct cb_cmp_file *out)
{
    enum cb_status s = CB_OK;
    int idc[N_ID];
    int cv = cb_csv_col(&t, "schema_version"), cs = cb_csv_col(&t, "samples_ns");
    int cst = cb_csv_col(&t, "status"), cg = cb_csv_col(&t, "gflops");
    int cw = cb_csv_col(&t, "gflops_per_w"), crm = cb_csv_col(&t, "round_medians_ns");
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
        else if (s == CB_OK && !strcmp(op, "allreduce"))  // n: elements per rank
            s = cb_strbuf_printf(&label, "%s allreduce:n=%s t=%s", cb_csv_cell(&t, i, idc[0]),
                                 cb_csv_cell(&t, i, idc[7]), cb_csv_cell(&t, i, idc[21]));
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
        CB_TRY(parse_list(cb_csv_cell(&t, i, cs), &r->samples, &r->n, "samples_ns", path,
                          line));
        if (crm >= 0)  // absent before run --rounds existed
            CB_TRY(parse_list(cb_csv_cell(&t, i, crm), &r->round_ns, &r->nrounds,
                              "round_medians_ns", path, line));
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

enum cb_status cb_cmp_load(const char *path, struct cb_cmp_file *out)
{
    struct cb_csv_table t;
    memset(out, 0, sizeof *out);
    enum cb_status s = cb_csv_read(path, &t);
    return s != CB_OK ? s : cmp_from_table(t, path, out);
}

enum cb_status cb_cmp_parse(const char *text, size_t len, const char *origin,
                            struct cb_cmp_file *out)
{
    struct cb_csv_table t;
    memset(out, 0, sizeof *out);
    enum cb_status s = cb_csv_parse(text, len, &t);
    if (s != CB_OK)
        return cb_set_error(s, "%s: %s", origin, cb_error_text());
    return cmp_from_table(t, origin, out);
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
    int *to = malloc((size_t)(f->nrows > 0 ? f->nrows : 1) * sizeof *to);
    if (!to)
        return;
    for (int i = 0; i < f->nrows; i++) {
        to[i] = -1;
        for (int j = 0; j < f->nrows; j++) {
            const struct cb_cmp_row *b = &f->rows[j];
            if (b->ok && !strcmp(b->kernel, ref) &&
                !strcmp(shape_part(b->key), shape_part(f->rows[i].key)))
                to[i] = j;
        }
    }
    // The reference's own values are needed until every row is divided.
    double *scale = malloc((size_t)(f->nrows > 0 ? f->nrows : 1) * sizeof *scale);
    double **pair = calloc((size_t)(f->nrows > 0 ? f->nrows : 1), sizeof *pair);
    int *npair = calloc((size_t)(f->nrows > 0 ? f->nrows : 1), sizeof *npair);
    if (!scale || !pair || !npair)
        goto out;
    for (int i = 0; i < f->nrows; i++) {
        const struct cb_cmp_row *r = &f->rows[i];
        scale[i] = to[i] >= 0 ? f->rows[to[i]].median_ns : NAN;
        if (!r->ok || to[i] < 0)
            continue;
        // Both measured in rounds: each round against the reference's same
        // round, which ran seconds from it; these ratios replace the samples.
        const struct cb_cmp_row *b = &f->rows[to[i]];
        int n = r->nrounds < b->nrounds ? r->nrounds : b->nrounds;
        if (n < 2 || !(pair[i] = malloc((size_t)n * sizeof **pair)))
            continue;
        for (int k = 0; k < n; k++)
            pair[i][k] = r->round_ns[k] / b->round_ns[k];
        npair[i] = n;
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
        if (npair[i]) {
            free(r->samples);
            r->samples = pair[i];
            r->n = npair[i];
            pair[i] = NULL;
            r->median_ns = cb_median(r->samples, r->n);
            continue;
        }
        for (int k = 0; k < r->n; k++)
            r->samples[k] /= scale[i];
        r->median_ns /= scale[i];
    }
out:
    for (int i = 0; pair && i < f->nrows; i++)
        free(pair[i]);
    free(pair);
    free(npair);
    free(scale);
    free(to);
}
