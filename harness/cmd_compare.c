// cmd_compare.c: `chipbench compare`: the statistical regression gate
// between two result CSVs, and the cross-chip table (--chips).
//
// Exit codes: 0 no SLOWER row; 1 at least one SLOWER; 2 bad input (usage,
// unreadable file, unknown schema version, no comparable rows in common).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_compare.h"
#include "chipbench/cb_util.h"
#include "commands.h"

enum fmt { FMT_TABLE, FMT_MARKDOWN, FMT_JSON };

struct pair {
    const struct cb_cmp_row *b, *n;
    struct cb_cmp_stats st;
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: chipbench compare [options] BASE.csv NEW.csv\n"
        "       chipbench compare --chips A.csv B.csv [C.csv ...] [--format F]\n\n"
        "Joins rows on (chip, device, kernel, dtype, shape, threads) and compares the raw\n"
        "samples: ratio of medians (new/base, >1 = slower) with a bootstrap 95%% CI, a\n"
        "Mann-Whitney U test, and a verdict SLOWER / FASTER / SAME / NOISY.\n\n"
        "  --threshold PCT      smallest change that matters (default 5)\n"
        "  --alpha A            significance level of the test (default 0.05)\n"
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

static double fmt_ms(double ns) { return ns * 1e-6; }

static int compare_two(const char *bp, const char *np, double t, double alpha,
                       const char *norm, enum fmt fmt)
{
    struct cb_cmp_file base, nw;
    struct pair *pairs = NULL;
    int rc = 2, npairs = 0, counts[4] = {0};
    if (cb_cmp_load(bp, &base) != CB_OK) {
        fprintf(stderr, "chipbench compare: %s\n", cb_error_text());
        return 2;
    }
    if (cb_cmp_load(np, &nw) != CB_OK) {
        fprintf(stderr, "chipbench compare: %s\n", cb_error_text());
        cb_cmp_free(&base);
        return 2;
    }
    if (norm) {
        cb_cmp_normalize(&base, norm);
        cb_cmp_normalize(&nw, norm);
    }
    pairs = calloc((size_t)(base.nrows + 1), sizeof *pairs);
    if (!pairs) {
        fprintf(stderr, "chipbench compare: out of memory\n");
        goto out;
    }
    int common = 0;
    for (int i = 0; i < base.nrows; i++) {
        const struct cb_cmp_row *b = &base.rows[i], *n = find(&nw, b->key);
        if (!n || find(&base, b->key) != b)
            continue;  // only in base, or a duplicate key (first row counts)
        common++;
        if (!b->ok || !n->ok)
            continue;
        struct pair *p = &pairs[npairs];
        p->b = b;
        p->n = n;
        if (cb_compare_samples(b->samples, b->n, n->samples, n->n, t, alpha, hash_str(b->key),
                               &p->st) != CB_OK)
            continue;
        counts[p->st.verdict]++;
        npairs++;
    }
    if (!npairs) {
        fprintf(stderr, "chipbench compare: %s and %s have no comparable rows in common "
                "(%d shared identities, none ok in both)\n", bp, np, common);
        goto out;
    }
    qsort(pairs, (size_t)npairs, sizeof *pairs, cmp_pairs);

    const char *unit = norm ? "x" : "ms";
    if (fmt == FMT_JSON) {
        printf("{\"base\":");
        json_str(bp);
        printf(",\"new\":");
        json_str(np);
        printf(",\"threshold\":%g,\"alpha\":%g,\"normalize_to\":", t, alpha);
        if (norm)
            json_str(norm);
        else
            printf("null");
        printf(",\"rows\":[");
        for (int i = 0; i < npairs; i++) {
            const struct pair *p = &pairs[i];
            printf("%s{\"verdict\":\"%s\",\"ratio\":%.6g,\"ci_lo\":%.6g,\"ci_hi\":%.6g,"
                   "\"p\":%.4g,\"base_median\":%.6g,\"new_median\":%.6g,\"base_samples\":%d,"
                   "\"new_samples\":%d,\"row\":", i ? "," : "", cb_verdict_name(p->st.verdict),
                   p->st.ratio, p->st.ci_lo, p->st.ci_hi, p->st.p, p->b->median_ns,
                   p->n->median_ns, p->b->n, p->n->n);
            json_str(p->b->label);
            printf(",\"chip\":");
            json_str(p->b->chip);
            printf("}");
        }
        printf("],\"only_in_base\":[");
    } else if (fmt == FMT_MARKDOWN) {
        printf("| verdict | new/base | 95%% CI | p | base %s | new %s | row | chip |\n", unit,
               unit);
        printf("|---|---:|---|---:|---:|---:|---|---|\n");
        for (int i = 0; i < npairs; i++) {
            const struct pair *p = &pairs[i];
            printf("| %s%s%s | %.3f | [%.3f, %.3f] | %.3g | %.4g | %.4g | `%s` | %s |\n",
                   p->st.verdict == CB_SLOWER ? "**" : "", cb_verdict_name(p->st.verdict),
                   p->st.verdict == CB_SLOWER ? "**" : "", p->st.ratio, p->st.ci_lo,
                   p->st.ci_hi, p->st.p, norm ? p->b->median_ns : fmt_ms(p->b->median_ns),
                   norm ? p->n->median_ns : fmt_ms(p->n->median_ns), p->b->label, p->b->chip);
        }
    } else {
        printf("%-7s %8s  %-17s %8s %11s %11s  %s\n", "verdict", "new/base", "95% CI", "p",
               norm ? "base x" : "base ms", norm ? "new x" : "new ms", "row");
        for (int i = 0; i < npairs; i++) {
            const struct pair *p = &pairs[i];
            printf("%-7s %8.3f  [%6.3f, %6.3f] %8.2g %11.4g %11.4g  %s\n",
                   cb_verdict_name(p->st.verdict), p->st.ratio, p->st.ci_lo, p->st.ci_hi, p->st.p,
                   norm ? p->b->median_ns : fmt_ms(p->b->median_ns),
                   norm ? p->n->median_ns : fmt_ms(p->n->median_ns), p->b->label);
        }
    }

    // Rows that could not be compared are listed, never dropped silently.
    int only_b = 0, only_n = 0, not_ok = 0;
    for (int pass = 0; pass < 3; pass++) {
        const struct cb_cmp_file *f = pass == 1 ? &nw : &base;
        const struct cb_cmp_file *o = pass == 1 ? &base : &nw;
        for (int i = 0; i < f->nrows; i++) {
            const struct cb_cmp_row *r = &f->rows[i], *m = find(o, r->key);
            const char *why = NULL;
            char buf[256];
            if (pass < 2 && !m) {
                why = pass == 0 ? "only in base" : "only in new";
                pass == 0 ? only_b++ : only_n++;
            } else if (pass == 2 && m && find(f, r->key) == r && (!r->ok || !m->ok)) {
                snprintf(buf, sizeof buf, "not compared: base %s, new %s", r->status, m->status);
                why = buf;
                not_ok++;
            }
            if (!why)
                continue;
            if (fmt == FMT_JSON) {
                if (pass == 2)
                    continue;
                static int first[2] = {1, 1};
                if (!first[pass])
                    printf(",");
                first[pass] = 0;
                json_str(r->label);
            } else if (fmt == FMT_MARKDOWN) {
                printf("| %s | | | | | | `%s` | %s |\n", why, r->label, r->chip);
            } else {
                printf("%-26s %s\n", why, r->label);
            }
        }
        if (fmt == FMT_JSON && pass == 0)
            printf("],\"only_in_new\":[");
    }
    if (fmt == FMT_JSON)
        printf("],\"summary\":{\"compared\":%d,\"slower\":%d,\"faster\":%d,\"same\":%d,"
               "\"noisy\":%d,\"only_in_base\":%d,\"only_in_new\":%d,\"not_compared\":%d}}\n",
               npairs, counts[CB_SLOWER], counts[CB_FASTER], counts[CB_SAME], counts[CB_NOISY],
               only_b, only_n, not_ok);
    else
        printf("%s%d compared: %d SLOWER, %d FASTER, %d SAME, %d NOISY; %d only in base, %d "
               "only in new, %d not compared (threshold %.3g%%, alpha %.3g%s%s)\n",
               fmt == FMT_MARKDOWN ? "\n" : "\n", npairs, counts[CB_SLOWER], counts[CB_FASTER],
               counts[CB_SAME], counts[CB_NOISY], only_b, only_n, not_ok, t * 100, alpha,
               norm ? ", normalized to " : "", norm ? norm : "");
    rc = counts[CB_SLOWER] ? 1 : 0;
out:
    free(pairs);
    cb_cmp_free(&base);
    cb_cmp_free(&nw);
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
                strcmp(a, "--normalize-to")) {
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
    rc = compare_two(files[0], files[1], threshold, alpha, norm, fmt);
out:
    free(files);
    return rc;
}
