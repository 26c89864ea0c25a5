// test_schema.c: the result CSV schema: documented column by column in
// results/README.md, rows have exactly the schema's cells, and a row with
// hostile text (commas, quotes, newlines in device names) survives a write
// and read-back unchanged.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cb_test.h"
#include "chipbench/cb_result_csv.h"
#include "chipbench/cb_shape.h"

static void test_readme_documents_every_column(void)
{
    FILE *f = fopen("results/README.md", "r");
    if (!f)
        CB_SKIP("results/README.md not found (run from the repository root)");
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    for (int i = 0; i < cb_result_ncolumns; i++) {
        char key[80];
        snprintf(key, sizeof key, "`%s`", cb_result_columns[i]);
        CB_CHECK_MSG(strstr(text, key) != NULL, "column %s is not documented",
                     cb_result_columns[i]);
    }
    CB_CHECK(strcmp(cb_result_columns[0], "schema_version") == 0);
}

static void test_columns_unique(void)
{
    for (int i = 0; i < cb_result_ncolumns; i++)
        for (int j = i + 1; j < cb_result_ncolumns; j++)
            CB_CHECK_MSG(strcmp(cb_result_columns[i], cb_result_columns[j]) != 0, "%s twice",
                         cb_result_columns[i]);
}

static void test_row_round_trip(void)
{
    const struct cb_kernel *k = cb_registry_find("gemm_f32_ref");
    struct cb_call shape;
    struct cb_bench_opts o;
    struct cb_result r;
    struct cb_context ctx;
    struct cb_strbuf arena = {0};
    const char *cells[256];
    char dir[] = "/tmp/cb_schema.XXXXXX", path[64];
    CB_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/r.csv", dir);
    cb_bench_opts_default(&o);
    o.min_time_s = 0.01;
    o.max_time_s = 0.05;
    CB_CHECK(cb_shape_parse("33x17x9:nt,ldc=20", &shape) == CB_OK);
    CB_CHECK(cb_bench_row(k, &shape, 1, &o, &r) == CB_OK);
    snprintf(r.device, sizeof r.device, "NVIDIA H100, \"SXM5\"\nrev 2 =cmd");
    cb_context_init(&ctx, 1234);
    CB_CHECK(cb_result_cells(&ctx, &r, &arena, cells) == CB_OK);
    struct cb_csv_writer *w = NULL;
    CB_CHECK(cb_csv_open(path, cb_result_columns, cb_result_ncolumns, &w) == CB_OK);
    CB_CHECK(cb_csv_write_row(w, cells, cb_result_ncolumns) == CB_OK);
    cb_csv_close(w);

    struct cb_csv_table t;
    CB_CHECK_MSG(cb_csv_read(path, &t) == CB_OK, "%s", cb_error_msg());
    CB_CHECK(t.nrows == 1 && t.ncols == cb_result_ncolumns);
    for (int i = 0; i < t.ncols; i++)
        CB_CHECK_STR(t.header[i], cb_result_columns[i]);
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "device")), r.device);
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "kernel")), "gemm_f32_ref");
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "trans")), "nt");
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "ldc")), "20");
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "status")), "ok");
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "seed")), "1234");
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "energy_j")), "");
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "heads")), "");
    // samples_ns holds every sample, and their median is time_ns_median.
    const char *sm = cb_csv_cell(&t, 0, cb_csv_col(&t, "samples_ns"));
    double xs[1000];
    int ns = 0;
    for (char *p = (char *)sm, *e; *p && ns < 1000; p = e) {
        xs[ns++] = strtod(p, &e);
        if (e == p)
            break;
    }
    CB_CHECK(ns == r.m.nsamples);
    CB_CHECK_STR(cb_csv_cell(&t, 0, cb_csv_col(&t, "samples")),
                 (snprintf(path, sizeof path, "%d", ns), path));
    double med = atof(cb_csv_cell(&t, 0, cb_csv_col(&t, "time_ns_median")));
    CB_CHECK_NEAR(cb_median(xs, ns), med, 0.1);
    double gf = atof(cb_csv_cell(&t, 0, cb_csv_col(&t, "gflops")));
    // median is printed to 0.1 ns and gflops to 6 digits: 1e-4 covers both
    CB_CHECK_NEAR(gf, 2.0 * 33 * 17 * 9 / med, gf * 1e-4);
    cb_csv_table_free(&t);
    cb_result_free(&r);
    cb_strbuf_free(&arena);
    snprintf(path, sizeof path, "%s/r.csv", dir);
    unlink(path);
    rmdir(dir);
}

static void test_skipped_row_cells(void)
{
    const struct cb_kernel *k = cb_registry_find("attn_f32_ref");
    struct cb_call shape;
    struct cb_bench_opts o;
    struct cb_result r;
    struct cb_context ctx;
    struct cb_strbuf arena = {0};
    const char *cells[256];
    cb_bench_opts_default(&o);
    CB_CHECK(cb_shape_parse("b=1,h=2,s=8,d=8", &shape) == CB_OK);
    CB_CHECK(cb_bench_row(k, &shape, 2, &o, &r) == CB_ERR_UNSUPPORTED);
    cb_context_init(&ctx, 1);
    CB_CHECK(cb_result_cells(&ctx, &r, &arena, cells) == CB_OK);
    int st = -1, med = -1, note = -1;
    for (int i = 0; i < cb_result_ncolumns; i++) {
        if (!strcmp(cb_result_columns[i], "status"))
            st = i;
        if (!strcmp(cb_result_columns[i], "time_ns_median"))
            med = i;
        if (!strcmp(cb_result_columns[i], "note"))
            note = i;
    }
    CB_CHECK_STR(cells[st], "skipped");
    CB_CHECK_STR(cells[med], "");  // no number for a row that did not run
    CB_CHECK(strstr(cells[note], "at most 1 thread") != NULL);
    cb_result_free(&r);
    cb_strbuf_free(&arena);
}

int main(void)
{
    CB_RUN(test_readme_documents_every_column);
    CB_RUN(test_columns_unique);
    CB_RUN(test_row_round_trip);
    CB_RUN(test_skipped_row_cells);
    return CB_TEST_END("test_schema");
}
