// test_multichip.c: the multi-chip maths of `chipbench cost --chips N` on
// synthetic numbers with hand-computed answers: nccl-tests' bus bandwidth
// factor, the all-reduce time, the log-size interpolation of allreduce rows
// (read from CSV text like a result file), the data-parallel step (overlap,
// efficiency, energy and dollars for N chips), ZeRO-1 memory, and the
// no-rows answer (NAN, which the command turns into exit 2).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cb_test.h"
#include "chipbench/cb_cost.h"
#include "chipbench/cb_mpi.h"

static void test_bus_factor(void)
{
    CB_CHECK_NEAR(cb_allreduce_bus_factor(1), 0.0, 0);
    CB_CHECK_NEAR(cb_allreduce_bus_factor(2), 1.0, 1e-15);
    CB_CHECK_NEAR(cb_allreduce_bus_factor(4), 1.5, 1e-15);
    CB_CHECK_NEAR(cb_allreduce_bus_factor(8), 1.75, 1e-15);
    // 1 GB over 8 ranks at 1.75 GB/s bus bandwidth: 1e9 x 1.75 / 1.75e9 = 1 s.
    CB_CHECK_NEAR(cb_allreduce_time_s(1e9, 8, 1.75), 1.0, 1e-12);
    CB_CHECK_NEAR(cb_allreduce_time_s(1e9, 2, 2.0), 0.5, 1e-12);
    CB_CHECK_NEAR(cb_allreduce_time_s(1e9, 1, 2.0), 0.0, 0);
}

// Result-CSV text with the columns cb_meas_parse reads; n is elements.
#define HDR "chip_class,kernel,op,dtype,status,threads,time_ns_median,trans,m,n,k,lda,ldb," \
            "ldc,alpha,beta,batch,heads,kv_heads,seq_q,seq_kv,head_dim,causal,gflops,"     \
            "ranks,bus_gbytes_per_s\n"
#define AR(chip, dt, n, bus) chip ",allreduce_" dt "_mpi,allreduce," dt ",ok,1,1000,,,"    \
            #n ",,,,,,,,,,,,,,," "2," #bus "\n"

static const char csv[] = HDR
    AR("cpu:a", "f32", 1024, 1.0)        // 4 KiB
    AR("cpu:a", "f32", 1048576, 4.0)     // 4 MiB
    AR("cpu:a", "f32", 1048576, 3.0)     // same size, slower: not the one used
    AR("cpu:a", "f32", 268435456, 10.0)  // 1 GiB
    AR("cpu:a", "bf16", 2048, 0.5)       // 4 KiB of bf16
    "cpu:a,allreduce_f32_mpi,allreduce,f32,skipped,1,,,,1024,,,,,,,,,,,,,,,2,\n";

static void test_interpolation(void)
{
    struct cb_measurements m = {0};
    const struct cb_meas *lo, *hi;
    CB_CHECK(cb_meas_parse(csv, sizeof csv - 1, "synthetic", &m) == CB_OK);
    CB_CHECK_MSG(m.n == 5, "%d ok rows", m.n);
    CB_CHECK_NEAR(m.rows[0].bytes, 4096, 0);
    CB_CHECK(m.rows[0].ranks == 2);
    CB_CHECK_NEAR(m.rows[4].bytes, 4096, 0);  // bf16: n x 2
    // Exact size: the best row there.
    CB_CHECK_NEAR(cb_allreduce_busbw_at(&m, "cpu:a", CB_DTYPE_F32, 4194304, &lo, &hi), 4.0, 0);
    CB_CHECK(lo == hi && lo->bus_gbs == 4.0);
    // 64 MiB = 2^26 lies halfway in log size between 2^22 and 2^30: (4 + 10) / 2.
    CB_CHECK_NEAR(cb_allreduce_busbw_at(&m, "cpu:a", CB_DTYPE_F32, 67108864, &lo, &hi), 7.0,
                  1e-12);
    CB_CHECK(lo->bytes == 4194304 && hi->bytes == 1073741824);
    // A quarter of the way: 2^24 -> 4 + 0.25 x 6.
    CB_CHECK_NEAR(cb_allreduce_busbw_at(&m, "cpu:a", CB_DTYPE_F32, 16777216, &lo, &hi), 5.5,
                  1e-12);
    // Outside the measured sizes: the end rows, never extrapolated.
    CB_CHECK_NEAR(cb_allreduce_busbw_at(&m, "cpu:a", CB_DTYPE_F32, 4e9, &lo, &hi), 10.0, 0);
    CB_CHECK(lo == hi);
    CB_CHECK_NEAR(cb_allreduce_busbw_at(&m, "cpu:a", CB_DTYPE_F32, 100, &lo, &hi), 1.0, 0);
    CB_CHECK_NEAR(cb_allreduce_busbw_at(&m, "cpu:a", CB_DTYPE_BF16, 5e8, &lo, &hi), 0.5, 0);
    // No rows for the chip class (or the dtype): NAN, the caller's exit 2.
    CB_CHECK(isnan(cb_allreduce_busbw_at(&m, "cpu:b", CB_DTYPE_F32, 5e8, &lo, &hi)));
    CB_CHECK(lo == NULL && hi == NULL);
    CB_CHECK(isnan(cb_allreduce_busbw_at(&m, "cpu:a", CB_DTYPE_F16, 5e8, &lo, &hi)));
    cb_meas_free(&m);
}

static const struct cb_model *preset(const char *name)
{
    for (const struct cb_model *m = cb_model_presets(); m->name[0]; m++)
        if (!strcmp(m->name, name))
            return m;
    return NULL;
}

static void one_chip(struct cb_cost_result *one)
{
    memset(one, 0, sizeof *one);
    one->n_shapes = 17;
    one->t_compute = 1.5;
    one->t_step = 2.0;
    one->tokens_per_step = 4096;
    one->energy_j = 100;
    one->rent_step = 0.01;      // $18/h
    one->own_hw_step = 0.004;
    one->energy_step = 0.001;
    one->own_step = 0.005;
    one->mem_have_gb = 8;
}

static void test_data_parallel(void)
{
    static struct cb_step st;
    struct cb_cost_result one;
    struct cb_dp_result r;
    const double P = 124439808;  // gpt2-124m parameters
    CB_CHECK(cb_step_build(preset("gpt2-124m"), 4, 1024, CB_DTYPE_F32, &st) == CB_OK);
    one_chip(&one);
    // Bus bandwidth chosen so the 8-chip all-reduce of 4P bytes takes 1 s.
    double S = 4 * P, busbw = S * 1.75 / 1e9;
    struct cb_dp_opts o = {.chips = 8, .overlap = 0.25, .grad_dtype = CB_DTYPE_F32};
    cb_dp_compute(&st, &one, &o, busbw, &r);
    CB_CHECK_NEAR(r.grad_bytes, S, 0);
    CB_CHECK_NEAR(r.t_allreduce, 1.0, 1e-12);
    CB_CHECK_NEAR(r.t_exposed, 0.75, 1e-12);          // a quarter hidden behind backward
    CB_CHECK_NEAR(r.t_step, 2.75, 1e-12);
    CB_CHECK_NEAR(r.tokens_per_step, 8 * 4096, 0);
    CB_CHECK_NEAR(r.tokens_per_s, 8 * 4096 / 2.75, 1e-9);
    CB_CHECK_NEAR(r.efficiency, 2.0 / 2.75, 1e-12);
    CB_CHECK_NEAR(r.energy_j, 800, 1e-9);
    CB_CHECK_NEAR(r.rent_step, 8 * 0.01 / 2.0 * 2.75, 1e-15);  // 8 chips for 2.75 s
    CB_CHECK_NEAR(r.own_step, 8 * 0.004 / 2.0 * 2.75 + 8 * 0.001, 1e-15);
    CB_CHECK(!r.lower_bound);

    // One chip: nothing to reduce, the single-chip step itself.
    o.chips = 1;
    cb_dp_compute(&st, &one, &o, busbw, &r);
    CB_CHECK_NEAR(r.t_allreduce, 0, 0);
    CB_CHECK_NEAR(r.t_step, 2.0, 0);
    CB_CHECK_NEAR(r.efficiency, 1.0, 1e-15);
    double mem1 = r.mem_per_chip_gb;

    // ZeRO-1: AdamW's 8 bytes per parameter split over 8 chips saves 7 P bytes.
    o.chips = 8;
    o.zero1 = 1;
    cb_dp_compute(&st, &one, &o, busbw, &r);
    CB_CHECK_NEAR(mem1 - r.mem_per_chip_gb, 7 * P * 1e-9, 1e-9);
    o.zero1 = 0;
    cb_dp_compute(&st, &one, &o, busbw, &r);
    CB_CHECK_NEAR(r.mem_per_chip_gb, mem1, 1e-12);  // replicated: as one chip
    CB_CHECK(r.fits == 1);

    // bf16 gradients: half the payload, half the all-reduce time.
    o.grad_dtype = CB_DTYPE_BF16;
    o.overlap = 0;
    cb_dp_compute(&st, &one, &o, busbw, &r);
    CB_CHECK_NEAR(r.grad_bytes, 2 * P, 0);
    CB_CHECK_NEAR(r.t_allreduce, 0.5, 1e-12);
    CB_CHECK_NEAR(r.t_step, 2.5, 1e-12);

    // Full overlap hides it all; without a bandwidth for the memory-bound
    // ops the single-chip time is the compute part, a lower bound.
    o.overlap = 1;
    one.t_step = NAN;
    cb_dp_compute(&st, &one, &o, busbw, &r);
    CB_CHECK_NEAR(r.t_step, 1.5, 1e-12);
    CB_CHECK(r.lower_bound);
    // No price: dollars stay NAN, never 0.
    one_chip(&one);
    one.rent_step = one.own_hw_step = one.own_step = NAN;
    cb_dp_compute(&st, &one, &o, busbw, &r);
    CB_CHECK(isnan(r.rent_step) && isnan(r.own_step));
}

int main(void)
{
    CB_RUN(test_bus_factor);
    CB_RUN(test_interpolation);
    CB_RUN(test_data_parallel);
    return CB_TEST_END("test_multichip");
}
