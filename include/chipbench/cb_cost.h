// cb_cost.h: what one training step costs per chip class, from measured
// kernel rows (result CSVs), a bandwidth for the memory-bound ops and a
// price table. Formulas (README "Cost per training step"):
//   t_compute = sum over the step's GEMM/attention calls of count x the best
//               (smallest) time_ns_median among ok rows of that chip class,
//               op, dtype and exact shape (any kernel, any thread count)
//   t_mem     = memory-bound bytes / bandwidth; the bandwidth of a chip class
//               is its best ok `stream` row (STREAM triad: declared bytes,
//               12n for f32, over time_ns_median), else --bandwidth, else the
//               --roofs CSV's triad
//   t_step    = t_compute + t_mem; tokens/s = B T / t_step
//   TFLOP/s   = model FLOPs per step / t_step; MFU = that / datasheet peak
//   E_step    = sum of count x energy_j of the same rows, only when every one
//               of them has power_quality measured or integrated (the
//               memory-bound ops have no energy measurement: E_step covers
//               the timed kernels only)
//   rent      = price_hr t_step / 3600
//   own_hw    = (capex / (life_yr 8760 util) + opex_hr) t_step / 3600
//   energy    = E_step / 3.6e6 x pue x usd_per_kwh   (energy-only floor)
//   own       = own_hw + energy
//   per Mtok  = cost / (B T) x 1e6; train N tokens: N / (B T) steps
#ifndef CHIPBENCH_CB_COST_H
#define CHIPBENCH_CB_COST_H

#include "cb_step.h"

// One row of the price table (results/prices.csv). NAN = not given.
struct cb_price {
    char pattern[160];      // chip_class glob ('*', '?')
    double rent_hr, capex, life_yr, util, opex_hr, usd_per_kwh, pue;
    double peak_fp32, peak_bf16;   // datasheet TFLOP/s
    double memory_gb;
};
struct cb_prices { int n; struct cb_price *rows; };

// Parse a price table (CSV with a header naming the columns; source and
// date columns are kept in the file for people, not read). Unknown numeric
// text is CB_ERR_PARSE "origin: line N: column: ...".
enum cb_status cb_prices_parse(const char *text, size_t len, const char *origin,
                               struct cb_prices *out);
enum cb_status cb_prices_load(const char *path, struct cb_prices *out);
void cb_prices_free(struct cb_prices *p);
// First row whose pattern matches, or NULL.
const struct cb_price *cb_prices_match(const struct cb_prices *p, const char *chip_class);

// Measured rows (status ok) of result CSVs.
struct cb_meas {
    char chip[160];
    char shape[160];        // cb_shape_format text
    enum cb_op op;
    enum cb_dtype dtype;
    double median_ns, energy_j, gflops;   // energy_j NAN unless measured/integrated
    double bytes;           // declared per call (cb_call_bytes of the shape)
    char kernel[64];
    int threads;
};
struct cb_measurements { int n, cap; struct cb_meas *rows; };
// Append the ok rows of a result CSV. CB_ERR_IO / CB_ERR_PARSE with the path.
enum cb_status cb_meas_load(const char *path, struct cb_measurements *m);
enum cb_status cb_meas_parse(const char *text, size_t len, const char *origin,
                             struct cb_measurements *m);
void cb_meas_free(struct cb_measurements *m);
// The stream (bandwidth) row of chip class `chip` with the most bytes per
// second: its index into m->rows and *gbs = bytes / time_ns_median (GB/s),
// or -1 and *gbs NAN when the class has no ok stream row.
int cb_meas_stream_best(const struct cb_measurements *m, const char *chip, double *gbs);

struct cb_cost_opts {
    double usd_per_kwh, pue;   // NAN: the price row's, else 0.10 and 1.0
    double bandwidth_gbs;      // NAN: none; memory-bound time unknown
    const char *bandwidth_src; // where it came from, for the output
    double train_tokens;       // 0: 20 tokens per parameter
};
void cb_cost_opts_default(struct cb_cost_opts *o);

#define CB_COST_MAX_MISSING 64
struct cb_cost_result {
    char chip[160];
    int n_shapes, n_missing;
    int missing[CB_COST_MAX_MISSING];   // step item indices without a row
    double t_compute, t_mem, t_step;    // s; t_mem/t_step NAN without bandwidth
    double tokens_per_s, flops, tflops;
    double best_gemm_gflops;            // the suite's own measured peak here
    double mfu_peak, mfu_measured;      // NAN where no peak
    double energy_j;                    // NAN: unavailable
    double mem_need_gb, mem_have_gb;    // have NAN: unknown
    int fits;                           // 1, 0, -1 unknown
    int priced;                         // a price row matched
    double rent_step, own_hw_step, energy_step, own_step;   // $ per step, NAN n/a
    double tokens_per_step, train_tokens, train_steps, train_s;
};

// Cost of `step` on chip class `chip` (price may be NULL).
void cb_cost_compute(const struct cb_step *step, const struct cb_measurements *m,
                     const char *chip, const struct cb_price *price,
                     const struct cb_cost_opts *o, struct cb_cost_result *r);

#endif
