// cmd_compare.c: `chipbench compare`: the statistical regression gate
// between two result CSVs, and the cross-chip table (--chips).
//
// Exit codes: 0 no SLOWER row; 1 at least one SLOWER; 2 bad input (usage,
// unreadable file, unknown schema version, no comparable rows in common).
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chipbench/cb_compare.h"
#include "chipbench/cb_stats.h"
#include "chipbench/cb_util.h"
#include "commands.h"

enum fmt { FMT_TABLE, FMT_MARKDOWN, FMT_JSON };

struct pair {
    const struct cb_cmp_row *b, *n;  // a row of each side (label, chip, samples)
    double bmed, nmed;                // median of the run medians
    int nb, nn;                       // ok runs per side
    int by_runs;                      // statistics over run medians, not samples
    struct cb_cmp_stats st;
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: chipbench compare [options] BASE NEW\n"
        "       chipbench compare --chips A.csv B.csv [C.csv ...] [--format F]\n\n"
        "BASE and NEW are each a result CSV, a comma-separated list of CSVs, or a\n"
        "directory of CSVs: one file per `chipbench run` (a run).\n\n"
        "Joins rows on (chip, device, kernel, dtype, shape, threads) and gives new/base\n"
        "(>1 = slower) with a 95%% CI, a p-value and a verdict SLOWER / FASTER / SAME /\n"
        "NOISY. One run a side: ratio of medians, bootstrap CI over the raw samples and\n"
        "a Mann-Whitney U test (within-run noise only). Three runs or more in all: the\n"
        "run is the unit, Welch's t on the log of each run's median (run-to-run drift\n"
        "counted; use this on shared machines: e.g. 3 runs a side).\n\n"
        "  --threshold PCT      smallest change that matters (default 5)\n"
        "  --alpha A            significance level of the gate (default 0.05)\n"
        "  --correction C       bh (default), holm or none: the rows' p-values are\n"
        "                       adjusted as one family (q), so an A/A comparison of\n"
        "                       many rows fails in at most alpha of cases\n"
        "  --normalize-to K     compare times relative to kernel K of the same run\n"
        "                       (drift-robust: a slower CI machine is not a regression)\n"
        "  --format F           table (default), markdown or json\n"
        "  --chips              cross-chip table: best GFLOP/s per chip class for each\n"
        "                       op, dtype, shape and threads (best marked *)\n"
        "Exit: 0 no SLOWER, 1 at least one SLOWER, 2 bad input.\n");
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int verdict_order(enum cb_verdict v)
{
    return v == CB_SLOWER ? 0 : v == CB_FASTER ? 1 : v == CB_NOISY ? 2 : 3;
}

static int cmp_pairs(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int ox = verdict_order(x->st.verdict), oy = verdict_order(y->st.verdict);
    if (ox != oy)
        return ox - oy;
    // worst first within a verdict
    return (x->st.ratio < y->st.ratio) - (x->st.ratio > y->st.ratio);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static const struct cb_cmp_row *find(const struct cb_cmp_file *f, const char *key)
{
    for (int i = 0; i < f->nrows; i++)
        if (!strcmp(f->rows[i].key, key))
            return &f->rows[i];
    return NULL;
}

// One side of a comparison: its runs, one loaded file each.
struct side {
    const char *arg;  // as given on the command line
    struct cb_cmp_file *files;
    int nfiles;
};

static void side_free(struct side *s)
{
    for (int i = 0; s->files && i < s->nfiles; i++)
        cb_cmp_free(&s->files[i]);
    free(s->files);
    memset(s, 0, sizeof *s);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_file(struct side *s, const char *path, const char *norm)
{
    if (s->nfiles >= CB_CMP_MAX_RUNS) {
        fprintf(stderr, "chipbench compare: %s: more than %d runs on one side\n", s->arg,
                CB_CMP_MAX_RUNS);
        return -1;
    }
    struct cb_cmp_file *f = realloc(s->files, (size_t)(s->nfiles + 1) * sizeof *f);
    if (!f) {
        fprintf(stderr, "chipbench compare: out of memory\n");
        return -1;
    }
    s->files = f;
    if (cb_cmp_load(path, &s->files[s->nfiles]) != CB_OK) {
        fprintf(stderr, "chipbench compare: %s\n", cb_error_text());
        return -1;
    }
    if (norm)
        cb_cmp_normalize(&s->files[s->nfiles], norm);
    s->nfiles++;
    return 0;
}

// A side is one CSV, a comma-separated list of CSVs, or a directory whose
// *.csv files (in name order) are its runs.
static int load_side(const char *arg, const char *norm, struct side *s)
{
    memset(s, 0, sizeof *s);
    s->arg = arg;
    struct stat st;
    if (!strchr(arg, ',') && stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *d = opendir(arg);
        char **names = NULL;
        int n = 0, rc = 0;
        if (!d) {
            fprintf(stderr, "chipbench compare: %s: %s\n", arg, strerror(errno));
            return -1;
        }
        for (struct dirent *e; (e = readdir(d));) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".csv") || e->d_name[0] == '.')
                continue;
            char **x = realloc(names, (size_t)(n + 1) * sizeof *x);
            char *p = malloc(strlen(arg) + len + 2);
            if (!x || !p) {
                free(x ? NULL : p);
                names = x ? x : names;
                rc = -1;
                break;
            }
            names = x;
            sprintf(p, "%s/%s", arg, e->d_name);
            names[n++] = p;
        }
        closedir(d);
        if (rc == 0 && n == 0) {
            fprintf(stderr, "chipbench compare: %s: no .csv files in this directory\n", arg);
            rc = -1;
        }
        if (n)
            qsort(names, (size_t)n, sizeof *names, cmp_names);
        for (int i = 0; i < n; i++) {
            if (rc == 0)
                rc = add_file(s, names[i], norm);
            free(names[i]);
        }
        free(names);
        return rc;
    }
    char *copy = malloc(strlen(arg) + 1);
    if (!copy) {
        fprintf(stderr, "chipbench compare: out of memory\n");
        return -1;
    }
    strcpy(copy, arg);
    int rc = 0;
    for (char *p = copy, *next; p && rc == 0; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = 0;
        if (!*p) {
            fprintf(stderr, "chipbench compare: '%s': an empty file name in the list\n", arg);
            rc = -1;
        } else {
            rc = add_file(s, p, norm);
        }
    }
    free(copy);
    return rc;
}

// One identity as seen across a side's runs.
struct seen {
    const struct cb_cmp_row *first;  // first row with the key (label, chip, status)
    const struct cb_cmp_row *ok1;    // first ok row (its samples, for one run a side)
    double med[CB_CMP_MAX_RUNS];     // medians of the ok runs
    int runs, ok;                    // files that have the key; of them, ok
};

static void gather(const struct side *s, const char *key, struct seen *out)
{
    memset(out, 0, sizeof *out);
    for (int f = 0; f < s->nfiles; f++) {
        const struct cb_cmp_row *r = find(&s->files[f], key);
        if (!r)
            continue;
        out->runs++;
        if (!out->first)
            out->first = r;
        if (!r->ok)
            continue;
        if (!out->ok1)
            out->ok1 = r;
        out->med[out->ok++] = r->median_ns;
    }
}

// Is `key` the first occurrence among the side's files before file f, row i?
static int first_in_side(const struct side *s, int f, int i)
{
    const char *key = s->files[f].rows[i].key;
    for (int g = 0; g < f; g++)
        if (find(&s->files[g], key))
            return 0;
    return find(&s->files[f], key) == &s->files[f].rows[i];
}

static int compare_sets(const char *barg, const char *narg, double t, double alpha,
                        enum cb_correction corr, const char *norm, enum fmt fmt)
{
    struct side base, nw;
    struct pair *pairs = NULL;
    struct seen *sb = malloc(sizeof *sb), *sn = malloc(sizeof *sn);
    int rc = 2, npairs = 0, counts[4] = {0}, total = 0, common = 0;
    memset(&nw, 0, sizeof nw);
    if (!sb || !sn) {
        fprintf(stderr, "chipbench compare: out of memory\n");
        free(sb);
        free(sn);
        return 2;
    }
    if (load_side(barg, norm, &base) != 0)
        goto out;
    if (load_side(narg, norm, &nw) != 0)
        goto out;
    for (int f = 0; f < base.nfiles; f++)
        total += base.files[f].nrows;
    pairs = calloc((size_t)total + 1, sizeof *pairs);
    if (!pairs) {
        fprintf(stderr, "chipbench compare: out of memory\n");
        goto out;
    }
    const int by_runs = base.nfiles + nw.nfiles >= 3;
    for (int f = 0; f < base.nfiles; f++)
        for (int i = 0; i < base.files[f].nrows; i++) {
            if (!first_in_side(&base, f, i))
                continue;
            const char *key = base.files[f].rows[i].key;
            gather(&base, key, sb);
            gather(&nw, key, sn);
            if (!sn->runs)
                continue;
            common++;
            if (!sb->ok || !sn->ok)
                continue;
            struct pair *p = &pairs[npairs];
            p->b = sb->ok1;
            p->n = sn->ok1;
            p->nb = sb->ok;
            p->nn = sn->ok;
            p->bmed = cb_median(sb->med, sb->ok);
            p->nmed = cb_median(sn->med, sn->ok);
            p->by_runs = by_runs && sb->ok + sn->ok >= 3;
            enum cb_status s =
                p->by_runs ? cb_compare_runs(sb->med, sb->ok, sn->med, sn->ok, t, alpha, &p->st)
                           : cb_compare_samples(p->b->samples, p->b->n, p->n->samples, p->n->n,
                                                t, alpha, hash_str(key), &p->st);
            if (s != CB_OK)
                continue;
            npairs++;
        }
    if (!npairs) {
        fprintf(stderr, "chipbench compare: %s and %s have no comparable rows in common "
                "(%d shared identities, none ok on both sides)\n", barg, narg, common);
        goto out;
    }
    // One gate over many rows: adjust the p-values as a family (cb_compare.h).
    struct cb_cmp_stats **fam = malloc((size_t)npairs * sizeof *fam);
    if (!fam) {
        fprintf(stderr, "chipbench compare: out of memory\n");
        goto out;
    }
    for (int i = 0; i < npairs; i++)
        fam[i] = &pairs[i].st;
    cb_cmp_adjust(fam, npairs, corr, t, alpha);
    free(fam);
    for (int i = 0; i < npairs; i++)
        counts[pairs[i].st.verdict]++;
    qsort(pairs, (size_t)npairs, sizeof *pairs, cmp_pairs);
    static const char *const corr_name[] = {
        [CB_CORR_BH] = "Benjamini-Hochberg", [CB_CORR_HOLM] = "Holm", [CB_CORR_NONE] = "none"};

    const char *unit = norm ? "x" : "ms";
    const double scale = norm ? 1.0 : 1e-6;
    if (fmt == FMT_JSON) {
        printf("{\"base\":");
        json_str(barg);
        printf(",\"new\":");
        json_str(narg);
        printf(",\"base_runs\":%d,\"new_runs\":%d,\"method\":\"%s\",\"correction\":\"%s\","
               "\"threshold\":%g,\"alpha\":%g,\"normalize_to\":", base.nfiles, nw.nfiles,
               by_runs ? "runs" : "samples", corr_name[corr], t, alpha);
        if (norm)
            json_str(norm);
        else
            printf("null");
        printf(",\"rows\":[");
        for (int i = 0; i < npairs; i++) {
            const struct pair *p = &pairs[i];
            printf("%s{\"verdict\":\"%s\",\"ratio\":%.6g,\"ci_lo\":%.6g,\"ci_hi\":%.6g,"
                   "\"p\":%.4g,\"q\":%.4g,\"method\":\"%s\",\"base_median\":%.6g,\"new_median\":%.6g,"
                   "\"base_runs\":%d,\"new_runs\":%d,\"base_samples\":%d,\"new_samples\":%d,"
                   "\"row\":", i ? "," : "", cb_verdict_name(p->st.verdict), p->st.ratio,
                   p->st.ci_lo, p->st.ci_hi, p->st.p, p->st.q, p->by_runs ? "runs" : "samples",
                   p->bmed,
                   p->nmed, p->nb, p->nn, p->b->n, p->n->n);
            json_str(p->b->label);
            printf(",\"chip\":");
            json_str(p->b->chip);
            printf("}");
        }
        printf("]");
    } else if (fmt == FMT_MARKDOWN) {
        printf("| verdict | new/base | 95%% CI | p | q | runs | base %s | new %s | row | chip |\n",
               unit, unit);
        printf("|---|---:|---|---:|---:|---:|---:|---:|---|---|\n");
        for (int i = 0; i < npairs; i++) {
            const struct pair *p = &pairs[i];
            printf("| %s%s%s | %.3f | [%.3f, %.3f] | %.3g | %.3g | %d/%d | %.4g | %.4g | `%s` | %s "
                   "|\n", p->st.verdict == CB_SLOWER ? "**" : "", cb_verdict_name(p->st.verdict),
                   p->st.verdict == CB_SLOWER ? "**" : "", p->st.ratio, p->st.ci_lo,
                   p->st.ci_hi, p->st.p, p->st.q, p->nb, p->nn, p->bmed * scale, p->nmed * scale,
                   p->b->label, p->b->chip);
        }
    } else {
        printf("%-7s %8s  %-17s %8s %8s %5s %11s %11s  %s\n", "verdict", "new/base", "95% CI",
               "p", "q", "runs", norm ? "base x" : "base ms", norm ? "new x" : "new ms", "row");
        for (int i = 0; i < npairs; i++) {
            const struct pair *p = &pairs[i];
            char runs[16];
            snprintf(runs, sizeof runs, "%d/%d", p->nb, p->nn);
            printf("%-7s %8.3f  [%6.3f, %6.3f] %8.2g %8.2g %5s %11.4g %11.4g  %s\n",
                   cb_verdict_name(p->st.verdict), p->st.ratio, p->st.ci_lo, p->st.ci_hi, p->st.p,
                   p->st.q, runs, p->bmed * scale, p->nmed * scale, p->b->label);
        }
    }

    // Rows that could not be compared are listed, never dropped silently.
    int only[2] = {0, 0}, not_ok = 0;
    for (int pass = 0; pass < 3; pass++) {
        const struct side *s = pass == 1 ? &nw : &base, *o = pass == 1 ? &base : &nw;
        if (fmt == FMT_JSON && pass < 2)
            printf(",\"only_in_%s\":[", pass == 0 ? "base" : "new");
        if (fmt == FMT_JSON && pass == 2)
            printf(",\"not_compared\":[");
        int listed = 0;
        for (int f = 0; f < s->nfiles; f++)
            for (int i = 0; i < s->files[f].nrows; i++) {
                if (!first_in_side(s, f, i))
                    continue;
                const struct cb_cmp_row *r = &s->files[f].rows[i];
                gather(s, r->key, sb);
                gather(o, r->key, sn);
                char why[320];
                if (pass < 2 && !sn->runs) {
                    snprintf(why, sizeof why, "only in %s", pass == 0 ? "base" : "new");
                    only[pass]++;
                } else if (pass == 2 && sn->runs && (!sb->ok || !sn->ok)) {
                    const struct cb_cmp_row *bad_b = sb->ok ? NULL : sb->first;
                    const struct cb_cmp_row *bad_n = sn->ok ? NULL : sn->first;
                    snprintf(why, sizeof why, "not compared: base %s, new %s",
                             bad_b ? bad_b->status : "ok", bad_n ? bad_n->status : "ok");
                    not_ok++;
                } else {
                    continue;
                }
                if (fmt == FMT_JSON) {
                    printf("%s", listed++ ? "," : "");
                    json_str(r->label);
                } else if (fmt == FMT_MARKDOWN) {
                    printf("| %s | | | | | | | | `%s` | %s |\n", why, r->label, r->chip);
                } else {
                    printf("%-26s %s\n", why, r->label);
                }
            }
        if (fmt == FMT_JSON)
            printf("]");
    }
    const char *method = by_runs ? "Welch t on log run medians" : "one run a side: samples";
    if (fmt == FMT_JSON)
        printf(",\"summary\":{\"compared\":%d,\"slower\":%d,\"faster\":%d,\"same\":%d,"
               "\"noisy\":%d,\"only_in_base\":%d,\"only_in_new\":%d,\"not_compared\":%d}}\n",
               npairs, counts[CB_SLOWER], counts[CB_FASTER], counts[CB_SAME], counts[CB_NOISY],
               only[0], only[1], not_ok);
    else
        printf("\n%d compared: %d SLOWER, %d FASTER, %d SAME, %d NOISY; %d only in base, %d "
               "only in new, %d not compared (%d base run%s, %d new run%s, %s; threshold "
               "%.3g%%, alpha %.3g over the %d rows, %s%s%s)\n",
               npairs, counts[CB_SLOWER], counts[CB_FASTER], counts[CB_SAME], counts[CB_NOISY],
               only[0], only[1], not_ok, base.nfiles, base.nfiles == 1 ? "" : "s", nw.nfiles,
               nw.nfiles == 1 ? "" : "s", method, t * 100, alpha, npairs, corr_name[corr],
               norm ? ", normalized to " : "",
               norm ? norm : "");
    if (!by_runs && fmt != FMT_JSON)
        printf("%sNote: with one run a side only the noise within a run is tested; on a shared "
               "machine two runs differ by more. Pass several runs a side (a directory or a "
               "comma-separated list of CSVs) to test run medians.\n",
               fmt == FMT_MARKDOWN ? "\n" : "");
    rc = counts[CB_SLOWER] ? 1 : 0;
out:
    free(pairs);
    free(sb);
    free(sn);
    side_free(&base);
    side_free(&nw);
    return rc;
}

// Cross-chip table: for each (op, dtype, shape, threads), the best GFLOP/s of
// each chip class (and its kernel), GFLOP/J where measured; best marked *.
struct chip_cell {
    double gflops, gpw;
    const char *kernel;
};

// The cross-chip row key: dtype and shape (op, transposes, sizes, threads);
// the key layout is kernel|dtype|chip|device|<shape...>|threads.
static char *table_key(const struct cb_cmp_row *r)
{
    const char *dt = strchr(r->key, '|'), *p = r->key;
    for (int i = 0; i < 4 && p; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!dt || !p)
        return NULL;
    dt++;
    size_t ld = strcspn(dt, "|"), lp = strlen(p);
    char *k = malloc(ld + lp + 2);
    if (k) {
        memcpy(k, dt, ld);
        k[ld] = '|';
        memcpy(k + ld + 1, p, lp + 1);
    }
    return k;
}

// Index of `key` in list[0, *n), appended first when absent.
static int find_or_add(const char **list, int *n, const char *key)
{
    int i = 0;
    while (i < *n && strcmp(list[i], key))
        i++;
    if (i == *n)
        list[(*n)++] = key;
    return i;
}

static int compare_chips(int nfiles, char **paths, enum fmt fmt)
{
    struct cb_cmp_file *files = calloc((size_t)nfiles, sizeof *files);
    const char **chips = NULL, **shapes = NULL, **labels = NULL;
    char **dtypes = NULL, **tkeys = NULL;  // tkeys: one table key per loaded row
    struct chip_cell *cells = NULL;
    int nchips = 0, nshapes = 0, rc = 2, total = 0;
    if (!files)
        return 2;
    for (int i = 0; i < nfiles; i++) {
        if (cb_cmp_load(paths[i], &files[i]) != CB_OK) {
            fprintf(stderr, "chipbench compare: %s\n", cb_error_text());
            goto out;
        }
        total += files[i].nrows;
    }
    chips = calloc((size_t)total, sizeof *chips);
    shapes = calloc((size_t)total, sizeof *shapes);
    labels = calloc((size_t)total, sizeof *labels);
    dtypes = calloc((size_t)total, sizeof *dtypes);
    tkeys = calloc((size_t)total, sizeof *tkeys);
    if (!chips || !shapes || !labels || !dtypes || !tkeys)
        goto out;
    for (int f = 0, xi = 0; f < nfiles; f++)
        for (int i = 0; i < files[f].nrows; i++, xi++) {
            const struct cb_cmp_row *r = &files[f].rows[i];
            if (!r->ok || !(r->gflops > 0))
                continue;
            if (!(tkeys[xi] = table_key(r)))
                goto out;
            find_or_add(chips, &nchips, r->chip);
            int before = nshapes, s = find_or_add(shapes, &nshapes, tkeys[xi]);
            if (s == before)  // new shape: its label drops the kernel name
                labels[s] = strchr(r->label, ' ') ? strchr(r->label, ' ') + 1 : r->label;
        }
    if (nchips < 1 || !nshapes) {
        fprintf(stderr, "chipbench compare: no ok rows with GFLOP/s in the given files\n");
        goto out;
    }
    cells = calloc((size_t)(nchips * nshapes), sizeof *cells);
    if (!cells)
        goto out;
    for (int f = 0, xi = 0; f < nfiles; f++)
        for (int i = 0; i < files[f].nrows; i++, xi++) {
            const struct cb_cmp_row *r = &files[f].rows[i];
            if (!tkeys[xi])
                continue;
            const int c = find_or_add(chips, &nchips, r->chip);
            const int s = find_or_add(shapes, &nshapes, tkeys[xi]);
            struct chip_cell *x = &cells[s * nchips + c];
            if (r->gflops > x->gflops) {
                x->gflops = r->gflops;
                x->gpw = r->gflops_per_w;
                x->kernel = r->kernel;
                char dt[16] = "";
                const char *p = strchr(r->key, '|');
                if (p)
                    snprintf(dt, sizeof dt, "%.*s", (int)strcspn(p + 1, "|"), p + 1);
                free(dtypes[s]);
                dtypes[s] = malloc(strlen(dt) + 1);
                if (dtypes[s])
                    strcpy(dtypes[s], dt);
            }
        }
    if (fmt == FMT_JSON) {
        printf("{\"chips\":[");
        for (int c = 0; c < nchips; c++) {
            printf("%s", c ? "," : "");
            json_str(chips[c]);
        }
        printf("],\"rows\":[");
    } else if (fmt == FMT_MARKDOWN) {
        printf("| shape | dtype |");
        for (int c = 0; c < nchips; c++)
            printf(" %s |", chips[c]);
        printf("\n|---|---|");
        for (int c = 0; c < nchips; c++)
            printf("---:|");
        printf("\n");
    } else {
        printf("best GFLOP/s per chip class (kernel; GFLOP/J where measured; * = best):\n");
        for (int c = 0; c < nchips; c++)
            printf("  [%d] %s\n", c + 1, chips[c]);
    }
    for (int s = 0; s < nshapes; s++) {
        int best = -1;
        for (int c = 0; c < nchips; c++)
            if (cells[s * nchips + c].gflops > 0 &&
                (best < 0 || cells[s * nchips + c].gflops > cells[s * nchips + best].gflops))
                best = c;
        const char *dt = dtypes[s] ? dtypes[s] : "";
        if (fmt == FMT_JSON) {
            printf("%s{\"shape\":", s ? "," : "");
            json_str(labels[s]);
            printf(",\"dtype\":");
            json_str(dt);
            printf(",\"best\":%d,\"cells\":[", best);
        } else if (fmt == FMT_MARKDOWN) {
            printf("| `%s` | %s |", labels[s], dt);
        } else {
            printf("%-40s %-5s", labels[s], dt);
        }
        for (int c = 0; c < nchips; c++) {
            const struct chip_cell *x = &cells[s * nchips + c];
            char gpw[32] = "";
            if (x->gflops > 0 && x->gpw > 0)
                snprintf(gpw, sizeof gpw, ", %.3g GFLOP/J", x->gpw);
            if (fmt == FMT_JSON) {
                printf("%s", c ? "," : "");
                if (x->gflops > 0) {
                    printf("{\"gflops\":%.6g,\"kernel\":", x->gflops);
                    json_str(x->kernel);
                    if (x->gpw > 0)
                        printf(",\"gflops_per_j\":%.6g", x->gpw);
                    printf("}");
                } else {
                    printf("null");
                }
            } else if (x->gflops > 0 && fmt == FMT_MARKDOWN) {
                const char *em = c == best ? "**" : "";
                printf(" %s%.1f (%s%s)%s |", em, x->gflops, x->kernel, gpw, em);
            } else if (x->gflops > 0) {
                printf("  [%d]%s%.1f (%s%s)", c + 1, c == best ? "*" : " ", x->gflops, x->kernel,
                       gpw);
            } else {
                printf(fmt == FMT_MARKDOWN ? " - |" : "  [%d] -", c + 1);
            }
        }
        printf(fmt == FMT_JSON ? "]}" : "\n");
    }
    if (fmt == FMT_JSON)
        printf("]}\n");
    rc = 0;
out:
    for (int f = 0; f < nfiles; f++)
        cb_cmp_free(&files[f]);
    for (int s = 0; dtypes && s < nshapes; s++)
        free(dtypes[s]);
    for (int x = 0; tkeys && x < total; x++)
        free(tkeys[x]);
    free(tkeys);
    free(files);
    free(chips);
    free(shapes);
    free(labels);
    free(dtypes);
    free(cells);
    return rc;
}

int cb_cmd_compare(int argc, char **argv)
{
    double threshold = 0.05, alpha = 0.05;
    const char *norm = NULL;
    enum fmt fmt = FMT_TABLE;
    enum cb_correction corr = CB_CORR_BH;
    int chips = 0, nfiles = 0;
    char **files = calloc((size_t)argc, sizeof *files);
    int rc = 2;
    if (!files)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(a, "--chips")) {
            chips = 1;
            continue;
        }
        if (!strncmp(a, "--", 2)) {
            const char *v = i + 1 < argc ? argv[i + 1] : NULL;
            if (strcmp(a, "--threshold") && strcmp(a, "--alpha") && strcmp(a, "--format") &&
                strcmp(a, "--normalize-to") && strcmp(a, "--correction")) {
                fprintf(stderr, "chipbench compare: unknown option '%s' (see chipbench compare "
                        "--help)\n", a);
                goto out;
            }
            if (!v) {
                fprintf(stderr, "chipbench compare: %s needs a value\n", a);
                goto out;
            }
            i++;
            if (!strcmp(a, "--threshold")) {
                if (cb_parse_f64(v, 0, 1000, &threshold) != CB_OK) {
                    fprintf(stderr, "chipbench compare: --threshold: %s\n", cb_error_text());
                    goto out;
                }
                threshold /= 100.0;
            } else if (!strcmp(a, "--alpha")) {
                if (cb_parse_f64(v, 1e-9, 0.5, &alpha) != CB_OK) {
                    fprintf(stderr, "chipbench compare: --alpha: %s\n", cb_error_text());
                    goto out;
                }
            } else if (!strcmp(a, "--format")) {
                if (!strcmp(v, "table"))
                    fmt = FMT_TABLE;
                else if (!strcmp(v, "markdown") || !strcmp(v, "md"))
                    fmt = FMT_MARKDOWN;
                else if (!strcmp(v, "json"))
                    fmt = FMT_JSON;
                else {
                    fprintf(stderr, "chipbench compare: --format is table, markdown or json, "
                            "got '%s'\n", v);
                    goto out;
                }
            } else if (!strcmp(a, "--correction")) {
                if (!strcmp(v, "bh"))
                    corr = CB_CORR_BH;
                else if (!strcmp(v, "holm"))
                    corr = CB_CORR_HOLM;
                else if (!strcmp(v, "none"))
                    corr = CB_CORR_NONE;
                else {
                    fprintf(stderr, "chipbench compare: --correction is bh, holm or none, got "
                            "'%s'\n", v);
                    goto out;
                }
            } else {
                if (!*v) {
                    fprintf(stderr, "chipbench compare: --normalize-to needs a kernel name\n");
                    goto out;
                }
                norm = v;
            }
            continue;
        }
        files[nfiles++] = argv[i];
    }
    if (chips) {
        if (nfiles < 1 || norm) {
            fprintf(stderr, "chipbench compare: --chips takes one or more CSV files (and no "
                    "--normalize-to)\n");
            goto out;
        }
        rc = compare_chips(nfiles, files, fmt);
        goto out;
    }
    if (nfiles != 2) {
        fprintf(stderr, "chipbench compare: expected BASE.csv NEW.csv, got %d file%s (see "
                "chipbench compare --help)\n", nfiles, nfiles == 1 ? "" : "s");
        goto out;
    }
    rc = compare_sets(files[0], files[1], threshold, alpha, corr, norm, fmt);
out:
    free(files);
    return rc;
}
