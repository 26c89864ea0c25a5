// test_cost.c: model presets and files, the step decomposition and the cost
// maths of `chipbench cost`.
//
// FLOP convention checked here: model FLOPs per step = the sum over the
// step's GEMMs (2mnk) and attention calls (FlashAttention: forward
// 4 B H T^2 hd / 2 causal, backward 2.5x). It must agree within 1% with
//   6 N tokens + 3.5 * 2 B H T^2 hd * n_layer
// where N = non-embedding parameters (layers incl. norms and biases, final
// norm) + the LM head matrix (vocab x d, a GEMM even when tied). Memory-bound
// ops count no FLOPs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_test.h"
#include "chipbench/cb_cost.h"
#include "chipbench/cb_csv.h"
#include "chipbench/cb_shape.h"

static const struct cb_model *preset(const char *name)
{
    for (const struct cb_model *m = cb_model_presets(); m->name[0]; m++)
        if (!strcmp(m->name, name))
            return m;
    return NULL;
}

static void test_preset_params(void)
{
    static const struct { const char *name; int64_t total; } want[] = {
        {"gpt2-124m", 124439808}, {"gpt2-1.5b", 1557611200},
        {"llama3.2-1b", 1235814400}, {"llama3-8b", 8030261248}};
    for (int i = 0; i < 4; i++) {
        struct cb_param_count pc;
        const struct cb_model *m = preset(want[i].name);
        CB_CHECK_MSG(m != NULL, "no preset %s", want[i].name);
        CB_CHECK(cb_model_validate(m) == CB_OK);
        cb_model_params(m, &pc);
        CB_CHECK_MSG(pc.total == want[i].total, "%s: %lld params, want %lld", m->name,
                     (long long)pc.total, (long long)want[i].total);
    }
}

static void test_gpt2_flops_6n(void)
{
    static struct cb_step st;
    struct cb_param_count pc;
    const struct cb_model *m = preset("gpt2-124m");
    CB_CHECK(cb_step_build(m, 4, 1024, CB_DTYPE_F32, &st) == CB_OK);
    cb_model_params(m, &pc);
    double tokens = 4.0 * 1024, N = (double)(pc.non_embedding + pc.lm_head);
    double attn = 3.5 * 2.0 * 4 * 12 * 1024.0 * 1024.0 * 64 * 12;
    double want = 6 * N * tokens + attn, got = cb_step_flops(&st);
    CB_CHECK_NEAR(cb_step_attn_flops(&st), attn, attn * 1e-12);
    CB_CHECK_MSG(fabs(got / want - 1) < 0.01, "decomposition %.6g vs 6N+attn %.6g", got, want);
    // The decomposition is the GEMMs exactly: 6 x (matmul params) x tokens.
    CB_CHECK_NEAR(got - attn, 6.0 * (double)pc.matmul * tokens, 1.0);
    // 17 distinct shapes (15 GEMM, attention fwd and bwd); LM head in all 3 forms.
    int distinct = 0, lm = 0;
    for (int i = 0; i < st.n; i++) {
        char s[160];
        distinct += cb_step_first_of_shape(&st, i);
        if (!st.items[i].compute)
            continue;
        cb_shape_format(&st.items[i].call, s, sizeof s);
        lm += !strcmp(s, "4096x50257x768:nn") + !strcmp(s, "4096x768x50257:nt") +
              !strcmp(s, "768x50257x4096:tn");
    }
    CB_CHECK(distinct == 17);
    CB_CHECK(lm == 3);
    // AdamW: 28 bytes per parameter; memory: 16 bytes per parameter + activations.
    struct cb_step_memory mem;
    cb_step_memory(&st, &mem);
    CB_CHECK_NEAR(mem.weights + mem.grads + mem.optimizer, 16.0 * (double)pc.total, 0);
    CB_CHECK(mem.activations > 0);
    CB_CHECK_NEAR(st.items[st.n - 1].bytes, 28.0 * (double)pc.total, 0);
}

static void test_llama_gqa_shapes(void)
{
    static struct cb_step st;
    CB_CHECK(cb_step_build(preset("llama3-8b"), 1, 2048, CB_DTYPE_BF16, &st) == CB_OK);
    int qkv = 0, gate_up = 0, gqa = 0;
    for (int i = 0; i < st.n; i++) {
        char s[160];
        if (!st.items[i].compute)
            continue;
        cb_shape_format(&st.items[i].call, s, sizeof s);
        qkv += !strcmp(s, "2048x6144x4096:nn");       // (32 + 2 x 8) x 128
        gate_up += !strcmp(s, "2048x28672x4096:nn");  // 2 x 14336
        gqa += !strcmp(s, "b=1,h=32,kvh=8,s=2048,d=128,causal=1");
    }
    CB_CHECK(qkv == 1 && gate_up == 1 && gqa == 2);
    CB_CHECK(cb_step_build(preset("gpt2-124m"), 1, 2048, CB_DTYPE_F32, &st) ==
             CB_ERR_INVALID_ARG);  // beyond ctx 1024
}

static void test_model_file(void)
{
    struct cb_model m;
    const char *ok = "# GPT-2 small\nname = mine\nn_layer = 12\nd_model=768\n n_head = 12 \n"
                     "d_ff = 3072\nvocab = 50257\nctx = 1024\nmlp = gelu\ntied = true\n";
    CB_CHECK(cb_model_parse(ok, "m.txt", &m) == CB_OK);
    struct cb_param_count a, b;
    cb_model_params(&m, &a);
    cb_model_params(preset("gpt2-124m"), &b);
    CB_CHECK(a.total == b.total && m.head_dim == 64 && m.bias && m.pos == CB_POS_LEARNED);
    static const struct { const char *text, *msg; } bad[] = {
        {"n_layers = 2\n", "m.txt:1: unknown key 'n_layers'"},
        {"n_layer = 2\n", "m.txt: missing d_model"},
        {"n_layer = two\n", "m.txt:1: n_layer: 'two' is not a whole number"},
        {"n_layer = 0\n", "is not a whole number in [1, 16777216]"},
        {"n_layer = 1\nn_layer = 2\n", "m.txt:2: n_layer given twice"},
        {"n_layer\n", "m.txt:1: expected 'key = value'"},
        {"mlp = relu\n", "m.txt:1: mlp is gelu or swiglu, got 'relu'"},
        {"n_layer=1\nd_model=100\nn_head=3\nd_ff=4\nvocab=4\nctx=4\nmlp=gelu\ntied=1\n",
         "n_head 3 does not divide d_model 100"},
        {"n_layer=1\nd_model=96\nn_head=4\nn_kv_head=3\nd_ff=4\nvocab=4\nctx=4\nmlp=gelu\n"
         "tied=1\n", "n_kv_head 3 does not divide n_head 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CB_CHECK_MSG(cb_model_parse(bad[i].text, "m.txt", &m) == CB_ERR_PARSE, "case %zu", i);
        CB_CHECK_MSG(strstr(cb_error_text(), bad[i].msg), "case %zu: '%s' lacks '%s'", i,
                     cb_error_text(), bad[i].msg);
    }
    CB_CHECK(cb_model_load("no-such-model", &m) == CB_ERR_INVALID_ARG);
    CB_CHECK(strstr(cb_error_text(), "unknown model 'no-such-model'"));
}

// A result CSV with one row per distinct shape of `st` on chip "chip:a"
// (1 ms and 0.5 J each, measured) plus, per shape, a slower row (must lose),
// a failed row (ignored), and one row on "chip:b" whose energy is
// unavailable.
static char *synthetic_csv(const struct cb_step *st)
{
    struct cb_strbuf b = {0};
    cb_strbuf_printf(&b, "chip_class,kernel,op,dtype,status,threads,time_ns_median,trans,m,n,"
                     "k,lda,ldb,ldc,alpha,beta,batch,heads,kv_heads,seq_q,seq_kv,head_dim,"
                     "causal,gflops,energy_j,power_quality\n");
    for (int i = 0; i < st->n; i++) {
        if (!cb_step_first_of_shape(st, i))
            continue;
        const struct cb_call *c = &st->items[i].call;
        char shape[200];
        if (c->op == CB_OP_GEMM) {
            const struct cb_gemm_args *g = &c->u.gemm;
            snprintf(shape, sizeof shape, "%c%c,%lld,%lld,%lld,%lld,%lld,%lld,1,0,,,,,,,",
                     g->trans_a ? 't' : 'n', g->trans_b ? 't' : 'n', (long long)g->m,
                     (long long)g->n, (long long)g->k, (long long)g->lda, (long long)g->ldb,
                     (long long)g->ldc);
        } else {
            const struct cb_attn_args *a = &c->u.attn;
            snprintf(shape, sizeof shape, ",,,,,,,,,%lld,%lld,%lld,%lld,%lld,%lld,1",
                     (long long)a->batch, (long long)a->heads, (long long)a->kv_heads,
                     (long long)a->seq_q, (long long)a->seq_kv, (long long)a->head_dim);
        }
        const char *op = cb_op_name(c->op);
        cb_strbuf_printf(&b, "chip:a,k1,%s,f32,ok,1,1000000,%s,50,0.5,measured\n", op, shape);
        cb_strbuf_printf(&b, "chip:a,k2,%s,f32,ok,2,3000000,%s,500,0.1,measured\n", op, shape);
        cb_strbuf_printf(&b, "chip:a,k3,%s,f32,verify_failed,1,,%s,,,\n", op, shape);
        cb_strbuf_printf(&b, "chip:b,k1,%s,f32,ok,1,2000000,%s,40,,unavailable\n", op, shape);
    }
    return b.data;
}

static void test_cost_maths(void)
{
    static struct cb_step st;
    struct cb_model m;
    struct cb_measurements meas = {0};
    struct cb_prices prices = {0};
    const char *model = "n_layer=2\nd_model=16\nn_head=2\nd_ff=32\nvocab=40\nctx=8\nmlp=gelu\n"
                        "tied=1\n";
    CB_CHECK(cb_model_parse(model, "tiny", &m) == CB_OK);
    CB_CHECK(cb_step_build(&m, 2, 4, CB_DTYPE_F32, &st) == CB_OK);
    char *csv = synthetic_csv(&st);
    CB_CHECK(csv != NULL);
    enum cb_status s = cb_meas_parse(csv, strlen(csv), "syn.csv", &meas);
    free(csv);
    CB_CHECK(s == CB_OK);
    // 1 GB of memory is plenty; rent $3.6/h -> $0.001/s; capex chosen so the
    // hardware costs $1/h (18396 / (3 y x 8760 h x 0.7)); $0.36/kWh, PUE 2.
    const char *ptab = "chip_class_match,usd_per_chip_hour,capex_usd,life_years,utilization,"
                       "usd_per_kwh,pue,peak_tflops_fp32,memory_gb,price_source\n"
                       "chip:a,3.6,18396,3,0.7,0.36,2,0.000001,1,synthetic\n"
                       "chip:*,,,,,,,,1e-9,synthetic\n";
    CB_CHECK(cb_prices_parse(ptab, strlen(ptab), "p.csv", &prices) == CB_OK);
    struct cb_cost_opts o;
    cb_cost_opts_default(&o);
    o.bandwidth_gbs = 1;
    o.train_tokens = 8000;
    struct cb_cost_result r;
    cb_cost_compute(&st, &meas, "chip:a", cb_prices_match(&prices, "chip:a"), &o, &r);
    // Calls per step: n_layer x (4 fwd + 8 bwd GEMMs + attention fwd + bwd) +
    // LM head 3 = 2 x 14 + 3 = 31, each at the best row's 1 ms and 0.5 J.
    double t_mem = cb_step_mem_bytes(&st) / 1e9, t = 0.031 + t_mem;
    CB_CHECK(r.n_missing == 0 && r.n_shapes == 17);
    CB_CHECK_NEAR(r.t_compute, 0.031, 1e-12);
    // Each shape is timed at the fastest ok row (k1: 1 ms; k2 is slower, k3
    // failed its check), and the picks add up to the compute time.
    CB_CHECK(r.n_picks == 17);
    double picked = 0;
    for (int i = 0; i < r.n_picks; i++) {
        CB_CHECK_STR(r.picks[i].kernel, "k1");
        picked += r.picks[i].seconds;
    }
    CB_CHECK_NEAR(picked, r.t_compute, 1e-12);
    CB_CHECK_NEAR(r.t_step, t, 1e-12);
    CB_CHECK_NEAR(r.tokens_per_s, 8 / t, 1e-9);
    CB_CHECK_NEAR(r.energy_j, 31 * 0.5, 1e-12);
    CB_CHECK_NEAR(r.rent_step, 0.001 * t, 1e-15);
    CB_CHECK_NEAR(r.own_hw_step, t / 3600, 1e-15);
    CB_CHECK_NEAR(r.energy_step, 15.5 / 3.6e6 * 2 * 0.36, 1e-15);
    CB_CHECK_NEAR(r.own_step, t / 3600 + 15.5 / 3.6e6 * 0.72, 1e-15);
    CB_CHECK_NEAR(r.tflops, cb_step_flops(&st) / t * 1e-12, 1e-18);
    CB_CHECK_NEAR(r.mfu_peak, r.tflops / 1e-6, 1e-12);
    CB_CHECK_NEAR(r.mfu_measured, r.tflops * 1e3 / 500, 1e-12);  // best GEMM row: 500 GFLOP/s
    CB_CHECK_NEAR(r.train_steps, 1000, 1e-9);
    CB_CHECK_NEAR(r.train_s, 1000 * t, 1e-9);
    CB_CHECK(r.fits == 1);
    // --pue / --usd-per-kwh override the table.
    o.pue = 1, o.usd_per_kwh = 0.1;
    cb_cost_compute(&st, &meas, "chip:a", cb_prices_match(&prices, "chip:a"), &o, &r);
    CB_CHECK_NEAR(r.energy_step, 15.5 / 3.6e6 * 0.1, 1e-15);
    // chip:b: energy unavailable (never guessed), no prices, does not fit.
    cb_cost_compute(&st, &meas, "chip:b", cb_prices_match(&prices, "chip:b"), &o, &r);
    CB_CHECK_NEAR(r.t_compute, 0.062, 1e-12);
    CB_CHECK(isnan(r.energy_j) && isnan(r.energy_step) && isnan(r.rent_step) &&
             isnan(r.own_step));
    CB_CHECK(r.fits == 0);
    // Unknown chip: everything missing, reported rather than extrapolated.
    o.bandwidth_gbs = NAN;
    cb_cost_compute(&st, &meas, "chip:c", NULL, &o, &r);
    CB_CHECK(r.n_missing == 17 && isnan(r.t_step) && r.fits == -1);
    cb_meas_free(&meas);
    cb_prices_free(&prices);
    // Bad tables are errors with the line.
    const char *bad = "chip_class_match,capex_usd,pue\nx,1,abc\n";
    CB_CHECK(cb_prices_parse(bad, strlen(bad), "p.csv", &prices) == CB_ERR_PARSE);
    CB_CHECK(strstr(cb_error_text(), "p.csv: line 2: pue: 'abc'"));
    // No price column at all: the wrong file or a misspelt header.
    const char *nocol = "chip_class_match,usd_per_chip_hr\nx,3\n";
    CB_CHECK(cb_prices_parse(nocol, strlen(nocol), "p.csv", &prices) == CB_ERR_PARSE);
    CB_CHECK(strstr(cb_error_text(), "not a price table"));
    CB_CHECK(cb_meas_parse("a,b\n1,2\n", 8, "r.csv", &meas) == CB_ERR_PARSE);
    CB_CHECK(strstr(cb_error_text(), "not a chipbench result CSV"));
    cb_meas_free(&meas);
}

// A stream row sets a chip class's bandwidth: declared bytes (12n for f32)
// over the median time, the best of its ok rows; failed rows and other
// classes do not count.
static void test_stream_bandwidth(void)
{
    struct cb_measurements meas = {0};
    const char *csv =
        "chip_class,kernel,op,dtype,status,threads,time_ns_median,trans,m,n,k,lda,ldb,ldc,"
        "alpha,beta,batch,heads,kv_heads,seq_q,seq_kv,head_dim,causal,gflops,energy_j,"
        "power_quality\n"
        // 12 x 1e6 bytes in 1e6 ns: 12 GB/s; in 4e5 ns: 30 GB/s
        "chip:a,stream_f32_ref,stream,f32,ok,1,1000000,,,1000000,,,,,,,,,,,,,,2,,\n"
        "chip:a,stream_f32_avx2,stream,f32,ok,2,400000,,,1000000,,,,,,,,,,,,,,5,,\n"
        "chip:a,stream_f32_bad,stream,f32,verify_failed,2,1,,,1000000,,,,,,,,,,,,,,,,\n"
        "chip:b,stream_f32_opencl,stream,f32,ok,1,10000,,,1000000,,,,,,,,,,,,,,200,,\n"
        "chip:c,gemm_f32_ref,gemm,f32,ok,1,1000,nn,2,2,2,2,2,2,1,0,,,,,,,,1,,\n";
    CB_CHECK_MSG(cb_meas_parse(csv, strlen(csv), "s.csv", &meas) == CB_OK, "%s",
                 cb_error_text());
    CB_CHECK(meas.n == 4);
    double gbs;
    int i = cb_meas_stream_best(&meas, "chip:a", &gbs);
    CB_CHECK(i == 1);
    CB_CHECK_STR(meas.rows[i].shape, "stream:n=1000000");
    CB_CHECK_NEAR(meas.rows[i].bytes, 12e6, 0);
    CB_CHECK_NEAR(gbs, 30.0, 1e-12);
    CB_CHECK(cb_meas_stream_best(&meas, "chip:b", &gbs) == 2);
    CB_CHECK_NEAR(gbs, 1200.0, 1e-9);
    CB_CHECK(cb_meas_stream_best(&meas, "chip:c", &gbs) == -1 && isnan(gbs));
    // That bandwidth prices the memory-bound bytes of a step.
    static struct cb_step st;
    struct cb_model m;
    CB_CHECK(cb_model_parse("n_layer=1\nd_model=16\nn_head=2\nd_ff=32\nvocab=40\nctx=8\n"
                            "mlp=gelu\ntied=1\n", "tiny", &m) == CB_OK);
    CB_CHECK(cb_step_build(&m, 1, 4, CB_DTYPE_F32, &st) == CB_OK);
    struct cb_cost_opts o;
    struct cb_cost_result r;
    cb_cost_opts_default(&o);
    cb_meas_stream_best(&meas, "chip:a", &o.bandwidth_gbs);
    cb_cost_compute(&st, &meas, "chip:a", NULL, &o, &r);
    CB_CHECK_NEAR(r.t_mem, cb_step_mem_bytes(&st) / 30e9, 1e-15);
    cb_meas_free(&meas);
}

int main(void)
{
    CB_RUN(test_preset_params);
    CB_RUN(test_gpt2_flops_6n);
    CB_RUN(test_llama_gqa_shapes);
    CB_RUN(test_model_file);
    CB_RUN(test_cost_maths);
    CB_RUN(test_stream_bandwidth);
    return CB_TEST_END("test_cost");
}
