// test_dispatch.c: the kernel registry and run-time selection: table
// sanity, best-kernel choice, CHIPBENCH_KERNEL forcing, CHIPBENCH_ISA capping
// (set before the first feature probe, as a user would), unsupported kernels
// reported with a reason and never run, pattern matching, shape parsing and
// the declared work.
#include <stdlib.h>
#include <string.h>

#include "cb_test.h"
#include "chipbench/cb_bench.h"
#include "chipbench/cb_cpu.h"
#include "chipbench/cb_shape.h"

static enum cb_status must_not_run(void *plan, const struct cb_call *c)
{
    abort();
}

static void test_tables_sane(void)
{
    int n = cb_registry_count();
    CB_CHECK(n >= 2);
    int ref_gemm = 0, ref_attn = 0, ref_attn_bwd = 0;
    for (int i = 0; i < n; i++) {
        const struct cb_kernel *k = cb_registry_get(i);
        CB_CHECK(k && k->name && k->run && k->desc);
        CB_CHECK_MSG(cb_registry_find(k->name) == k, "duplicate name %s", k->name);
        // Names follow <op>_<dtype>_<backend>...
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s_%s_",
                 k->op == CB_OP_GEMM       ? "gemm"
                 : k->op == CB_OP_ATTN_BWD ? "attn_bwd"
                 : k->op == CB_OP_STREAM   ? "stream"
                 : k->op == CB_OP_ALLREDUCE ? "allreduce"
                                           : "attn",
                 cb_dtype_name(k->dtype));
        CB_CHECK_MSG(strncmp(k->name, prefix, strlen(prefix)) == 0, "%s", k->name);
        if (k->backend == CB_BACKEND_REF) {
            CB_CHECK(k->isa == 0 && k->priority == 0);
            ref_gemm += k->op == CB_OP_GEMM;
            ref_attn += k->op == CB_OP_ATTN;
            ref_attn_bwd += k->op == CB_OP_ATTN_BWD;
        }
    }
    CB_CHECK(ref_gemm >= 1 && ref_attn >= 1 && ref_attn_bwd >= 1);  // a reference for every op
    for (int i = 0; i < n; i++) {  // ... and for every (op, dtype) that has kernels
        const struct cb_kernel *k = cb_registry_get(i), *r = NULL;
        // A collective has no single-process reference: its bench checks
        // the exact sum over the ranks instead (bench_allreduce.c).
        if (k->backend == CB_BACKEND_MPI)
            continue;
        for (int j = 0; j < n; j++) {
            const struct cb_kernel *x = cb_registry_get(j);
            if (x->op == k->op && x->dtype == k->dtype && x->backend == CB_BACKEND_REF)
                r = x;
        }
        CB_CHECK_MSG(r != NULL, "%s has no reference kernel", k->name);
    }
    CB_CHECK(cb_registry_get(n) == NULL && cb_registry_get(-1) == NULL);
    CB_CHECK(cb_registry_find("no_such_kernel") == NULL);
    // Kernels of libraries missing at build time are listed, never usable,
    // and say which library (kernels/absent.c).
    for (int i = 0; i < n; i++) {
        const struct cb_kernel *k = cb_registry_get(i);
        if (!k->not_built)
            continue;
        CB_CHECK_MSG(cb_kernel_usable(k) == CB_ERR_UNSUPPORTED &&
                         strstr(cb_error_msg(), "was built without") != NULL,
                     "%s: %s", k->name, cb_error_msg());
        CB_CHECK(k->priority < 0);
    }
#if !CB_HAVE_OPENBLAS
    const struct cb_kernel *ob = cb_registry_find("gemm_f32_openblas");
    CB_CHECK(ob && ob->not_built);
#endif
}

static void test_best_and_forced(void)
{
    const struct cb_kernel *k;
    unsetenv("CHIPBENCH_KERNEL");
    CB_CHECK(cb_registry_best(CB_OP_GEMM, CB_DTYPE_F32, &k) == CB_OK);
    for (int i = 0; i < cb_registry_count(); i++) {
        const struct cb_kernel *o = cb_registry_get(i);
        if (o->op == CB_OP_GEMM && o->dtype == CB_DTYPE_F32 && cb_kernel_usable(o) == CB_OK)
            CB_CHECK(o->priority <= k->priority);
    }
    setenv("CHIPBENCH_KERNEL", "gemm_f32_ref", 1);
    CB_CHECK(cb_registry_best(CB_OP_GEMM, CB_DTYPE_F32, &k) == CB_OK);
    CB_CHECK_STR(k->name, "gemm_f32_ref");
    // Forcing a GEMM kernel leaves attention selection alone.
    CB_CHECK(cb_registry_best(CB_OP_ATTN, CB_DTYPE_F32, &k) == CB_OK);
    CB_CHECK(k->op == CB_OP_ATTN);
    setenv("CHIPBENCH_KERNEL", "gemm_f32_nonexistent", 1);
    CB_CHECK(cb_registry_best(CB_OP_GEMM, CB_DTYPE_F32, &k) == CB_ERR_INVALID_ARG);
    CB_CHECK(k == NULL);
    CB_CHECK(strstr(cb_error_msg(), "gemm_f32_nonexistent") != NULL);
    unsetenv("CHIPBENCH_KERNEL");
    // No f16 attention kernel: a clear "no usable kernel", not a crash.
    CB_CHECK(cb_registry_best(CB_OP_ATTN, CB_DTYPE_F16, &k) == CB_ERR_UNSUPPORTED);
    CB_CHECK(strstr(cb_error_msg(), "no usable attention f16 kernel") != NULL);
    // f16 GEMM: the portable reference at least.
    CB_CHECK(cb_registry_best(CB_OP_GEMM, CB_DTYPE_F16, &k) == CB_OK && k != NULL &&
             k->dtype == CB_DTYPE_F16);
}

// main() sets CHIPBENCH_ISA=sse2 before anything probes the CPU.
static void test_isa_cap(void)
{
    uint64_t f = cb_cpu_features();
    CB_CHECK((f & (CB_ISA_AVX2 | CB_ISA_AVX512F | CB_ISA_FMA)) == 0);
    struct cb_kernel fake = {.name = "gemm_f32_fake_avx2", .op = CB_OP_GEMM,
                             .isa = CB_ISA_AVX2 | CB_ISA_FMA, .run = must_not_run};
    enum cb_status s = cb_kernel_usable(&fake);
    CB_CHECK(s == CB_ERR_UNSUPPORTED);
    const struct cb_cpu_info *ci = cb_cpu_info();
    if ((ci->os_features & CB_ISA_AVX2) && (ci->os_features & CB_ISA_FMA))
        CB_CHECK_MSG(strstr(cb_error_msg(), "capped by CHIPBENCH_ISA=sse2") != NULL, "%s",
                     cb_error_msg());
    else
        CB_CHECK(strstr(cb_error_msg(), "needs") != NULL);
    // The unsupported kernel is reported through the harness, not run.
    struct cb_call shape;
    struct cb_bench_opts o;
    struct cb_result r;
    cb_bench_opts_default(&o);
    CB_CHECK(cb_shape_parse("8x8x8", &shape) == CB_OK);
    CB_CHECK(cb_bench_row(&fake, &shape, 1, &o, &r) == CB_ERR_UNSUPPORTED);
    CB_CHECK_STR(cb_result_status_word(r.status), "skipped");
    CB_CHECK(strstr(r.note, "avx2") != NULL);
    cb_result_free(&r);
}

static void test_foreign_isa(void)
{
#if defined(__x86_64__)
    struct cb_kernel fake = {.name = "gemm_f32_fake_neon", .isa = CB_ISA_NEON,
                             .run = must_not_run};
    CB_CHECK(cb_kernel_usable(&fake) == CB_ERR_UNSUPPORTED);
    CB_CHECK_MSG(strstr(cb_error_msg(), "not on this CPU") != NULL, "%s", cb_error_msg());
#else
    CB_SKIP("x86-only check");
#endif
}

static void test_name_match(void)
{
    CB_CHECK(cb_name_match("*", "gemm_f32_ref"));
    CB_CHECK(cb_name_match("*openblas*", "gemm_f32_openblas"));
    CB_CHECK(cb_name_match("gemm_*_ref", "gemm_f32_ref"));
    CB_CHECK(cb_name_match("gemm_f3?_ref", "gemm_f32_ref"));
    CB_CHECK(!cb_name_match("gemm", "gemm_f32_ref"));
    CB_CHECK(!cb_name_match("*blas", "gemm_f32_openblas_x"));
    CB_CHECK(cb_name_match("a*b*c", "aXXbYYc"));
    CB_CHECK(!cb_name_match("a*b*c", "aXXbYY"));
}

static void test_parse_names(void)
{
    enum cb_op op;
    enum cb_dtype d;
    CB_CHECK(cb_op_parse("gemm", &op) == CB_OK && op == CB_OP_GEMM);
    CB_CHECK(cb_op_parse("attention", &op) == CB_OK && op == CB_OP_ATTN);
    CB_CHECK(cb_op_parse("conv", &op) == CB_ERR_INVALID_ARG);
    CB_CHECK(cb_dtype_parse("bf16", &d) == CB_OK && d == CB_DTYPE_BF16);
    CB_CHECK(cb_dtype_parse("f64", &d) == CB_ERR_INVALID_ARG);
    CB_CHECK(cb_dtype_size(CB_DTYPE_F32) == 4 && cb_dtype_size(CB_DTYPE_BF16) == 2);
}

static void test_shapes(void)
{
    struct cb_call c;
    char buf[256];
    CB_CHECK(cb_shape_parse("65x7x63", &c) == CB_OK);
    CB_CHECK(c.op == CB_OP_GEMM && c.u.gemm.m == 65 && c.u.gemm.n == 7 && c.u.gemm.k == 63);
    CB_CHECK(c.u.gemm.lda == 63 && c.u.gemm.ldb == 7 && c.u.gemm.ldc == 7);
    CB_CHECK(c.u.gemm.alpha == 1.0f && c.u.gemm.beta == 0.0f);
    CB_CHECK_NEAR(cb_call_flops(&c), 2.0 * 65 * 7 * 63, 0);
    CB_CHECK(cb_shape_parse("10x20x30:tn,lda=12,ldc=25,beta=0.5", &c) == CB_OK);
    CB_CHECK(c.u.gemm.trans_a && !c.u.gemm.trans_b && c.u.gemm.lda == 12 && c.u.gemm.ldb == 20);
    cb_shape_format(&c, buf, sizeof buf);
    CB_CHECK_STR(buf, "10x20x30:tn,lda=12,ldc=25,beta=0.5");
    CB_CHECK(cb_shape_parse("b=2,h=8,kvh=2,s=128,d=64,causal=1", &c) == CB_OK);
    CB_CHECK(c.op == CB_OP_ATTN && c.u.attn.seq_q == 128 && c.u.attn.seq_kv == 128);
    CB_CHECK_NEAR(cb_call_flops(&c), 4.0 * 2 * 8 * 128 * 128 * 64 / 2, 0);
    cb_shape_format(&c, buf, sizeof buf);
    CB_CHECK_STR(buf, "b=2,h=8,kvh=2,s=128,d=64,causal=1");
    CB_CHECK(cb_shape_parse("h=4,sq=5,skv=9,d=8", &c) == CB_OK);
    CB_CHECK(c.u.attn.batch == 1 && c.u.attn.kv_heads == 4 && !c.u.attn.causal);
    static const char *const bad[] = {
        "", "1024", "1024x1024", "1x2x3x4", "0x5x5", "-1x5x5", "axbxc", "5x5x5:nx",
        "5x5x5,lda=2", "5x5x5,foo=1", "5x5x5,beta=x", "5x5x5:ntt", "99999999999x1x1",
        "h=3,kvh=2,s=8,d=8", "h=4,d=8", "b=1,h=4,s=8,d=8,causal=2", "b=1,h=4,s=8,d=8,x=1",
        "b=1,h=4,s=8,d", "1x1x1,", NULL};
    for (int i = 0; bad[i]; i++)
        CB_CHECK_MSG(cb_shape_parse(bad[i], &c) == CB_ERR_PARSE, "'%s' accepted", bad[i]);
}

int main(void)
{
    setenv("CHIPBENCH_ISA", "sse2", 1);
    CB_RUN(test_tables_sane);
    CB_RUN(test_best_and_forced);
    CB_RUN(test_isa_cap);
    CB_RUN(test_foreign_isa);
    CB_RUN(test_name_match);
    CB_RUN(test_parse_names);
    CB_RUN(test_shapes);
    return CB_TEST_END("test_dispatch");
}
