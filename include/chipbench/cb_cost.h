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
    int ranks;              // allreduce rows: MPI processes of the run; else 0
    double bus_gbs;         // allreduce rows: bus_gbytes_per_s; else NAN
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
#define CB_COST_MAX_PICKS 64
// The row a distinct shape of the step is timed at: the fastest ok row of
// the chip class, op, dtype and shape, whichever kernel made it.
struct cb_cost_pick {
    int item;           // step item index (its first occurrence)
    int64_t calls;      // calls of this shape in one step
    char kernel[64];
    double seconds;     // calls x the row's median time
};
struct cb_cost_result {
    char chip[160];
    int n_shapes, n_missing;
    int missing[CB_COST_MAX_MISSING];   // step item indices without a row
    int n_picks;                        // the measured shapes, in step order
    struct cb_cost_pick picks[CB_COST_MAX_PICKS];
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

// --- data-parallel training over N chips (harness/cost_dp.c) -------------
// README "Fleet runs and multi-chip cost". Every chip holds the whole model
// and runs the single-chip step on its own micro-batch; the gradients are
// then summed by an all-reduce:
//   S         = parameters x gradient dtype size (bytes all-reduced per step)
//   busbw(S)  = bus bandwidth of the chip class's allreduce rows of that
//               dtype: the best row at each measured size, linear in
//               log(size) between the two sizes around S, the end row's
//               value beyond the measured range (never extrapolated)
//   t_ar      = S x 2 (N - 1) / N / busbw          (the nccl-tests definition)
//   t_step_N  = t_step_1 + (1 - overlap) x t_ar     (overlap: the fraction
//               hidden behind the backward pass, an assumption)
//   tokens/s  = N B T / t_step_N; efficiency = tokens/s / (N x tokens/s at 1)
//   E_step_N  = N x E_step_1 (the all-reduce's own energy is not measured)
//   $ step_N  = N x single-chip $ per second x t_step_N (rent, own hardware),
//               + N x the single-chip energy cost
//   memory    = weights + gradients + AdamW m and v (divided by N with
//               ZeRO-1) + activations, per chip

// busbw at payload `bytes` for (chip, dtype) from its allreduce rows; NAN
// when there are none. *lo and *hi are the rows used (the same row at an
// exact size or beyond the range).
double cb_allreduce_busbw_at(const struct cb_measurements *m, const char *chip,
                             enum cb_dtype dt, double bytes, const struct cb_meas **lo,
                             const struct cb_meas **hi);
// t_ar above in seconds: 0 for one rank, NAN without a bandwidth.
double cb_allreduce_time_s(double bytes, int ranks, double busbw_gbs);

struct cb_dp_opts {
    int chips;                 // N >= 1
    double overlap;            // [0, 1]
    enum cb_dtype grad_dtype;  // f32 or bf16: the all-reduce payload
    int zero1;                 // shard AdamW state over the N chips
};
struct cb_dp_result {
    int chips;
    int lower_bound;            // the single-chip step was a lower bound
    double grad_bytes, busbw_gbs, t_allreduce, t_exposed;
    double t_step, tokens_per_step, tokens_per_s, efficiency;
    double energy_j;            // NAN when the single chip's is unavailable
    double rent_step, own_step, energy_step;   // $ per step for all N, NAN n/a
    double mem_per_chip_gb;
    int fits;                   // 1, 0, -1 unknown
};
// N chips from the single-chip result `one` of `st` at all-reduce bus
// bandwidth busbw_gbs (GB/s).
void cb_dp_compute(const struct cb_step *st, const struct cb_cost_result *one,
                   const struct cb_dp_opts *o, double busbw_gbs, struct cb_dp_result *r);

#endif
