// cl_tuning.c: lookup and atomic merge of the OpenCL tuning file (format and
// lookup order in cl_tuning.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <sys/stat.h>

#include "chipbench/cb_csv.h"
#include "chipbench/cb_ocl.h"
#include "chipbench/cb_tune.h"
#include "cl_tuning.h"

enum cb_status cb_tune_default_path(char *buf, size_t len)
{
    const char *env = getenv("CHIPBENCH_TUNING"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    int n;
    if (env && *env)
        n = snprintf(buf, len, "%s", env);
    else if (xdg && *xdg)
        n = snprintf(buf, len, "%s/chipbench/opencl-tuning.csv", xdg);
    else if (home && *home)
        n = snprintf(buf, len, "%s/.cache/chipbench/opencl-tuning.csv", home);
    else
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "no tuning file location: set CHIPBENCH_TUNING or HOME");
    if (n < 0 || (size_t)n >= len)
        return cb_set_error(CB_ERR_INVALID_ARG, "tuning file path too long");
    return CB_OK;
}

// mkdir -p of the directory part of path.
static enum cb_status make_parent_dirs(const char *path)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return CB_OK;
    *slash = 0;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return cb_set_error(CB_ERR_IO, "mkdir %s: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cb_set_error(CB_ERR_IO, "mkdir %s: %s", dir, strerror(errno));
    return CB_OK;
}

static const char *const cols[] = {"vendor", "device", "driver", "kernel",
                                   "shape_class", "params", "gflops", "tuned_utc"};
#define NCOLS 8

// Column indices of a parsed table, CB_ERR_PARSE when one is missing.
static enum cb_status table_cols(const struct cb_csv_table *t, const char *what, int *ix)
{
    for (int i = 0; i < NCOLS; i++)
        if ((ix[i] = cb_csv_col(t, cols[i])) < 0)
            return cb_set_error(CB_ERR_PARSE, "tuning file %s: no '%s' column", what, cols[i]);
    return CB_OK;
}

static enum cb_status find_in(const struct cb_csv_table *t, const char *what,
                              const struct cb_ocl_device *d, const char *kernel,
                              const char *shape_class, char *params, size_t len)
{
    int ix[NCOLS];
    enum cb_status s = table_cols(t, what, ix);
    if (s != CB_OK)
        return s;
    for (int r = 0; r < t->nrows; r++)
        if (!strcmp(cb_csv_cell(t, r, ix[0]), d->vendor) &&
            !strcmp(cb_csv_cell(t, r, ix[1]), d->name) &&
            !strcmp(cb_csv_cell(t, r, ix[2]), d->driver_version) &&
            !strcmp(cb_csv_cell(t, r, ix[3]), kernel) &&
            !strcmp(cb_csv_cell(t, r, ix[4]), shape_class)) {
            snprintf(params, len, "%s", cb_csv_cell(t, r, ix[5]));
            return CB_OK;
        }
    return CB_ERR_UNSUPPORTED;
}

enum cb_status cb_cl_tuning_find(const char *text, size_t n, const char *what,
                                 const struct cb_ocl_device *d, const char *kernel,
                                 const char *shape_class, char *params, size_t len)
{
    struct cb_csv_table t;
    enum cb_status s = cb_csv_parse(text, n, &t);
    if (s != CB_OK)
        return cb_set_error(CB_ERR_PARSE, "tuning file %s: %s", what, cb_error_text());
    s = find_in(&t, what, d, kernel, shape_class, params, len);
    cb_csv_table_free(&t);
    return s;
}

enum cb_status cb_cl_tuning_lookup(const struct cb_ocl_device *d, const char *kernel,
                                   const char *shape_class, char *params, size_t len,
                                   const char **source)
{
    struct cb_csv_table t;
    enum cb_status s;
    static char path[1024];
    if (cb_tune_default_path(path, sizeof path) == CB_OK) {
        FILE *f = fopen(path, "r");
        if (f) {  // a missing file is fine: `tune` has not been run yet
            fclose(f);
            if ((s = cb_csv_read(path, &t)) != CB_OK)
                return cb_set_error(CB_ERR_PARSE, "tuning file %s: %s", path,
                                    cb_error_text());
            s = find_in(&t, path, d, kernel, shape_class, params, len);
            cb_csv_table_free(&t);
            if (s != CB_ERR_UNSUPPORTED) {
                *source = path;
                return s;
            }
        }
    }
    s = cb_cl_tuning_find(cb_cl_src_tuning_builtin, strlen(cb_cl_src_tuning_builtin),
                          "built-in", d, kernel, shape_class, params, len);
    *source = "built-in";
    if (s == CB_ERR_UNSUPPORTED)
        return cb_set_error(CB_ERR_UNSUPPORTED, "no tuning entry for %s on %s (%s)", kernel,
                            d->name, d->driver_version);
    return s;
}

static int same_key(const char *const *a, const struct cb_cl_tuning_entry *e)
{
    return !strcmp(a[0], e->vendor) && !strcmp(a[1], e->device) && !strcmp(a[2], e->driver) &&
           !strcmp(a[3], e->kernel) && !strcmp(a[4], e->shape_class);
}

enum cb_status cb_cl_tuning_save(const char *path, const struct cb_cl_tuning_entry *e, int n)
{
    enum cb_status s = CB_OK;
    struct cb_csv_table t = {0};
    struct cb_csv_writer *w = NULL;
    int have = 0, ix[NCOLS];
    CB_TRY(make_parent_dirs(path));
    FILE *f = fopen(path, "r");
    if (f) {
        fclose(f);
        CB_TRY(cb_csv_read(path, &t));
        CB_TRY(table_cols(&t, path, ix));
        have = 1;
    }
    CB_TRY(cb_csv_open(path, cols, NCOLS, &w));
    // Old rows first, minus those the new entries replace.
    for (int r = 0; have && r < t.nrows; r++) {
        const char *cells[NCOLS];
        for (int c = 0; c < NCOLS; c++)
            cells[c] = cb_csv_cell(&t, r, ix[c]);
        int replaced = 0;
        for (int i = 0; i < n && !replaced; i++)
            replaced = same_key(cells, &e[i]);
        if (!replaced)
            CB_TRY(cb_csv_write_row(w, cells, NCOLS));
    }
    for (int i = 0; i < n; i++) {
        char gf[32];
        snprintf(gf, sizeof gf, "%.1f", e[i].gflops);
        const char *cells[NCOLS] = {e[i].vendor, e[i].device, e[i].driver, e[i].kernel,
                                    e[i].shape_class, e[i].params, gf, e[i].tuned_utc};
        CB_TRY(cb_csv_write_row(w, cells, NCOLS));
    }
out:
    cb_csv_close(w);
    cb_csv_table_free(&t);
    return s;
}
