// fuzz_results.c: libFuzzer target for the two readers of result CSVs:
// cb_cmp_parse (chipbench compare: cb_cmp_load's validation on text in
// memory, then cb_cmp_normalize) and cb_meas_parse (chipbench cost's measured
// rows, then cb_meas_stream_best).
//
// Properties of every input that loads (abort() reports a violation, as
// libFuzzer expects): every sample of a row is a finite number > 0 and an ok
// row's median is one too; a measured row's time is finite, > 0 and its
// declared bytes finite and >= 0; a stream bandwidth is finite and > 0.
// What it is not: a check of the statistics (tests/test_compare.c).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "chipbench/cb_compare.h"
#include "chipbench/cb_cost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cmp(const char *text, size_t size)
{
    struct cb_cmp_file f;
    if (cb_cmp_parse(text, size, "fuzz.csv", &f) != CB_OK)
        return;
    for (int i = 0; i < f.nrows; i++) {
        const struct cb_cmp_row *r = &f.rows[i];
        if (!r->key || !r->label || !r->chip || !r->kernel || !r->status || r->n < 0)
            abort();
        for (int k = 0; k < r->n; k++)
            if (!(r->samples[k] > 0) || !isfinite(r->samples[k]))
                abort();
        if (r->ok && (!(r->median_ns > 0) || !isfinite(r->median_ns)))
            abort();
    }
    if (f.nrows > 0)
        cb_cmp_normalize(&f, f.rows[0].kernel);
    cb_cmp_free(&f);
}

static void check_meas(const char *text, size_t size)
{
    struct cb_measurements m = {0};
    if (cb_meas_parse(text, size, "fuzz.csv", &m) == CB_OK) {
        for (int i = 0; i < m.n; i++) {
            const struct cb_meas *x = &m.rows[i];
            if (!(x->median_ns > 0) || !isfinite(x->median_ns) || !(x->bytes >= 0) ||
                !isfinite(x->bytes))
                abort();
            double gbs;
            if (cb_meas_stream_best(&m, x->chip, &gbs) >= 0 && (!(gbs > 0) || !isfinite(gbs)))
                abort();
        }
    }
    cb_meas_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_cmp((const char *)data, size);
    check_meas((const char *)data, size);
    return 0;
}
