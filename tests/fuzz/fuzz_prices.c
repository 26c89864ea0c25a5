// fuzz_prices.c: libFuzzer target for the price-table parser
// (cb_prices_parse, what `chipbench cost --prices FILE` reads; the shipped
// table is results/prices.csv), then cb_prices_match on a few chip classes.
//
// Properties of a table that parses (abort() reports a violation, as
// libFuzzer expects): every number is NAN (not given) or finite and >= 0;
// utilization and life_years, when given, are > 0.
// What it is not: a check of the cost formulas (tests/test_cost.c).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "chipbench/cb_cost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int bad(double x) { return !isnan(x) && (!isfinite(x) || x < 0); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const chips[] = {"opencl:gpu:NVIDIA_Corporation:NVIDIA_H100_80GB_HBM3",
                                        "x86_64:AMD_EPYC_9654", "", "*"};
    struct cb_prices p;
    if (cb_prices_parse((const char *)data, size, "fuzz.csv", &p) != CB_OK)
        return 0;
    for (int i = 0; i < p.n; i++) {
        const struct cb_price *r = &p.rows[i];
        const double v[] = {r->rent_hr,     r->capex, r->life_yr,   r->util,
                            r->opex_hr,     r->usd_per_kwh, r->pue, r->peak_fp32,
                            r->peak_bf16,   r->memory_gb};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            if (bad(v[k]))
                abort();
        if ((!isnan(r->util) && !(r->util > 0)) || (!isnan(r->life_yr) && !(r->life_yr > 0)))
            abort();
    }
    for (size_t i = 0; i < sizeof chips / sizeof chips[0]; i++)
        cb_prices_match(&p, chips[i]);
    cb_prices_free(&p);
    return 0;
}
