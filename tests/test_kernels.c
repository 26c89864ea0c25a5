// test_kernels.c: every registered kernel that runs here against the float64
// reference, through the same set-up/poison/verify path the harness uses,
// on odd shapes, every transpose, alpha/beta != (1, 0) and leading
// dimensions wider than the rows; attention backward kernels take the
// attention shapes too (more of them in test_attn_bwd.c). Deliberately
// broken kernels prove that the checks fail when they should (dropped term,
// unwritten element, C read when beta == 0, padding overwritten, wrong lse).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cb_test.h"
#include "check_kernel.h"
#include "chipbench/cb_bench.h"
#include "chipbench/cb_cpu.h"
#include "chipbench/cb_shape.h"
#include "chipbench/cb_util.h"
#include "../kernels/kernel_tables.h"

static uint64_t seed;

// Run kernel k on one shape via the bench path (check_kernel.h); a fresh
// seed per call.
static enum cb_status check_one(const struct cb_kernel *k, const char *shape_text, int threads,
                                double *err, double *tol)
{
    return check_kernel(k, shape_text, threads, seed++, err, tol);
}

static const char *const gemm_shapes[] = {
    "1x1x1", "7x7x7", "1x65x63", "65x1x7", "63x65x1", "257x31x65", "100x1000x7",
    "1x1x1000", "64x48x300", "33x17x257:nt", "17x33x129:tn", "31x29x37:tt",
    "65x63x7,lda=80,ldb=70,ldc=99", "7x65x63:nt,lda=70,ldb=66,ldc=67",
    "63x7x65:tn,lda=64,ldb=9,ldc=8", "45x46x47,alpha=-0.75,beta=0.5",
    "45x46x47:nt,alpha=2,beta=-1.5,ldc=50", "300x200x100:tn,beta=1",
    // narrow last column panels with whole row panels: the AVX-512 edge
    // tile (one zmm per row at 16 columns, two at 20), odd k, beta != 0
    "24x16x9:nt,beta=0.25", "40x68x33,alpha=1.5,beta=-0.5,ldc=70",
    NULL,
};

static const char *const attn_shapes[] = {
    "b=1,h=1,s=1,d=1", "b=1,h=1,s=7,d=8,causal=1", "b=2,h=4,kvh=2,s=65,d=64,causal=1",
    "b=1,h=4,kvh=1,s=63,d=80", "b=1,h=3,sq=17,skv=65,d=24,causal=1",
    "b=1,h=2,sq=33,skv=9,d=16,causal=1", "b=1,h=2,s=128,d=128,causal=0,scale=0.3",
    // logits up to ~+-130: exp() of them overflows f32 unless the max is taken out
    "b=1,h=2,s=100,d=64,scale=50", "b=2,h=4,kvh=2,s=129,d=72,causal=1,scale=20",
    "b=1,h=3,sq=200,skv=130,d=40,causal=1",
    // several 96-key softmax blocks (attn_avx512.c), D not a multiple of 8
    "b=1,h=2,sq=97,skv=250,d=13,causal=1", "b=1,h=4,kvh=2,s=300,d=96,causal=1,scale=8",
    // last query block of exactly 16 rows (96 + 16) and of 32 (48 + 32):
    // the lane kernels' one- and two-group copies at their full width
    "b=1,h=2,kvh=1,s=112,d=48,causal=1", "b=1,h=2,sq=80,skv=150,d=24",
    NULL,
};

static void test_all_kernels(void)
{
    int ran = 0;
    for (int i = 0; i < cb_registry_count(); i++) {
        const struct cb_kernel *k = cb_registry_get(i);
        if (k->op == CB_OP_STREAM || cb_kernel_usable(k) != CB_OK)
            continue;  // stream kernels: tests/test_stream.c
        const char *const *shapes = k->op == CB_OP_GEMM ? gemm_shapes : attn_shapes;
        for (int t = 1; t <= (k->max_threads == 1 ? 1 : 2); t++)
            for (int j = 0; shapes[j]; j++) {
                double err = NAN, tol = NAN;
                enum cb_status s = check_one(k, shapes[j], t, &err, &tol);
                CB_CHECK_MSG(s == CB_OK, "%s %s threads=%d: %s", k->name, shapes[j], t,
                             cb_error_msg());
                CB_CHECK_MSG(err <= tol, "%s %s: err %g > tol %g", k->name, shapes[j], err,
                             tol);
                ran++;
            }
    }
    CB_CHECK(ran >= 2 * 18);
}

// Tiny cache blocks (the driver's CHIPBENCH_GEMM_* overrides) so small
// shapes cross every block boundary: several k blocks (beta applied once),
// several A panels and B blocks, partial tiles, both thread splits (m, n).
// Each shape runs three times: as the driver chooses (A read in place where the
// kernel can and a thread has few B blocks, gd_direct_a; n split among
// threads in 16-column units where the kernel has an edge tile), with A
// always packed and n split in whole tiles (CHIPBENCH_GEMM_PACK_A=1,
// CHIPBENCH_GEMM_SPLIT=48), and with all of n starting on the last thread
// (CHIPBENCH_GEMM_STEAL=2), so the other takes its share by stealing.
static void test_gemm_blocking_edges(void)
{
    static const char *const shapes[] = {
        "50x70x90", "37x101x45:nt,beta=0.5", "101x37x45:tn,alpha=-1,beta=2",
        "13x33x17:tt,ldc=40", "1x200x64", "200x1x64:nt", "25x65x33,lda=40,ldb=70,ldc=66",
        // 2 threads split n here (gemm_driver.h, gd_thread), one of them
        // unevenly (7 B micro-panels of 48: 3 + 4)
        "90x250x70:nt,beta=0.5", "17x333x50:tn,alpha=0.5,ldb=400",
        // 9 B blocks of 48 on 1 thread: A packed even as the driver chooses
        "30x430x40,lda=41",
        NULL,
    };
    setenv("CHIPBENCH_GEMM_KC", "16", 1);
    setenv("CHIPBENCH_GEMM_NC", "64", 1);
    setenv("CHIPBENCH_GEMM_MC", "24", 1);
    int ran = 0;
    enum cb_status s = CB_OK;
    char what[160] = "";
    for (int i = 0; i < cb_registry_count() && s == CB_OK; i++) {
        const struct cb_kernel *k = cb_registry_get(i);
        if (k->op != CB_OP_GEMM || k->mr == 0 || cb_kernel_usable(k) != CB_OK)
            continue;
        static const char *const how[] = {"", " A packed, n split in tiles",
                                          " n stolen from the last thread"};
        for (int mode = 0; mode < 3 && s == CB_OK; mode++) {
            if (mode == 1) {
                setenv("CHIPBENCH_GEMM_PACK_A", "1", 1);
                setenv("CHIPBENCH_GEMM_SPLIT", "48", 1);
            }
            if (mode == 2)
                setenv("CHIPBENCH_GEMM_STEAL", "2", 1);
            for (int t = 1; t <= 2 && s == CB_OK; t++)
                for (int j = 0; shapes[j] && s == CB_OK; j++) {
                    double err, tol;
                    s = check_one(k, shapes[j], t, &err, &tol);
                    snprintf(what, sizeof what, "%s %s threads=%d%s", k->name, shapes[j], t,
                             how[mode]);
                    ran++;
                }
            unsetenv("CHIPBENCH_GEMM_PACK_A");
            unsetenv("CHIPBENCH_GEMM_SPLIT");
            unsetenv("CHIPBENCH_GEMM_STEAL");
        }
    }
    unsetenv("CHIPBENCH_GEMM_KC");
    unsetenv("CHIPBENCH_GEMM_NC");
    unsetenv("CHIPBENCH_GEMM_MC");
    CB_CHECK_MSG(s == CB_OK, "%s: %s", what, cb_error_msg());
    if (!ran)
        CB_SKIP("no tiled GEMM kernel runs on this CPU");
}

// A GEMM large enough for the sampled rows + random projection path.
static void test_large_gemm_projection_path(void)
{
    const struct cb_kernel *k = cb_registry_find("gemm_f32_openblas");
    if (!k || k->not_built)
        k = cb_registry_find("gemm_f32_ref");
    double err, tol;
    enum cb_status s = check_one(k, "700x500x300:nt,beta=0.25", 2, &err, &tol);
    CB_CHECK_MSG(s == CB_OK, "%s", cb_error_msg());
}

// Where the CPU and OS offer AMX, the tile kernel must be built and usable
// (a wrong feature check would otherwise skip it silently), and it runs at
// its real block sizes: several k blocks (beta applied once, later blocks
// loaded into the accumulator tiles), all three layouts, 1 and 2 threads.
static void test_amx_gemm(void)
{
    const uint64_t amx = CB_ISA_AMX_TILE | CB_ISA_AMX_BF16;
    if ((cb_cpu_info()->os_features & amx) != amx)
        CB_SKIP("no AMX tile unit usable here (CPUID, XCR0 or the OS permission)");
    const struct cb_kernel *k = cb_registry_find("gemm_bf16_amx_32x32");
    CB_CHECK_MSG(k && !k->not_built, "AMX machine, but the AMX kernel was not built");
    if (!k || k->not_built)
        return;
    CB_CHECK_MSG(cb_kernel_usable(k) == CB_OK, "%s", cb_error_msg());
    static const char *const shapes[] = {
        "700x500x1300", "333x1000x801:nt,beta=1", "1000x97x900:tn,alpha=0.5,beta=-1",
        "64x64x4096:nt,ldc=70",
        NULL,
    };
    for (int t = 1; t <= 2; t++)
        for (int j = 0; shapes[j]; j++) {
            double err = NAN, tol = NAN;
            enum cb_status s = check_one(k, shapes[j], t, &err, &tol);
            CB_CHECK_MSG(s == CB_OK && err <= tol, "%s threads=%d: %s err %g tol %g",
                         shapes[j], t, cb_error_msg(), err, tol);
        }
}

// Broken kernels: each must be caught. -------------------------------------

static int broken_mode;
static enum cb_status gemm_broken(void *plan, const struct cb_call *call)
{
    const struct cb_kernel *ref = cb_registry_find("gemm_f32_ref");
    struct cb_call c = *call;
    struct cb_gemm_args *g = &c.u.gemm;
    if (broken_mode == 0 && g->k > 1)
        g->k -= 1;  // drops the last term of every dot product
    enum cb_status s = ref->run(NULL, &c);
    float *cc = call->u.gemm.c;
    if (broken_mode == 1)
        cc[(g->m - 1) * g->ldc + g->n - 1] = NAN;  // one element "not written"
    if (broken_mode == 2)
        cc[(g->m / 2) * g->ldc + g->n / 2] += 1e-3f;  // one element slightly off
    if (broken_mode == 3 && g->ldc > g->n)
        cc[g->n] = 0.0f;  // writes into the padding
    if (broken_mode == 4 && g->beta == 0.0f)
        for (int64_t j = 0; j < g->n; j++)
            cc[j] = cc[j] * 0.0f + cc[j];  // no-op unless C was NaN: fine
    return s;
}

static void test_broken_gemm_caught(void)
{
    struct cb_kernel k = {.name = "gemm_f32_broken", .op = CB_OP_GEMM, .dtype = CB_DTYPE_F32,
                          .run = gemm_broken};
    const char *shape = "65x63x257,ldc=70";
    double err, tol;
    for (broken_mode = 0; broken_mode <= 3; broken_mode++) {
        enum cb_status s = check_one(&k, shape, 1, &err, &tol);
        CB_CHECK_MSG(s == CB_ERR_VERIFY, "mode %d not caught (status %d)", broken_mode, s);
    }
    // The large path (sampled rows + projection) must catch a dropped term too.
    // A single slightly-wrong element needs the full float64 (dgemm) path;
    // the projection fallback without OpenBLAS catches gross errors only.
#if CB_HAVE_OPENBLAS
    const int last_mode = 2;
#else
    const int last_mode = 0;
#endif
    for (broken_mode = 0; broken_mode <= last_mode; broken_mode += 2) {
        enum cb_status s = check_one(&k, "600x500x400", 1, &err, &tol);
        CB_CHECK_MSG(s == CB_ERR_VERIFY, "large, mode %d not caught: status %d, err %g: %s",
                     broken_mode, s, err, cb_error_msg());
    }
}

// Reads C although beta == 0: the NaN poison must propagate and be caught.
static enum cb_status gemm_reads_c(void *plan, const struct cb_call *call)
{
    const struct cb_kernel *ref = cb_registry_find("gemm_f32_ref");
    struct cb_call c = *call;
    c.u.gemm.beta = 1e-30f;  // "almost zero" still reads C
    return ref->run(NULL, &c);
}

static void test_beta_zero_must_not_read_c(void)
{
    struct cb_kernel k = {.name = "gemm_f32_readsc", .op = CB_OP_GEMM, .dtype = CB_DTYPE_F32,
                          .run = gemm_reads_c};
    double err, tol;
    CB_CHECK(check_one(&k, "9x10x11", 1, &err, &tol) == CB_ERR_VERIFY);
}

static enum cb_status attn_broken(void *plan, const struct cb_call *call)
{
    const struct cb_kernel *ref = cb_registry_find("attn_f32_ref");
    enum cb_status s = ref->run(plan, call);
    if (broken_mode == 0)
        ((float *)call->u.attn.o)[3] *= 1.001f;
    if (broken_mode == 1)
        call->u.attn.lse[1] += 1e-3f;
    if (broken_mode == 2)
        call->u.attn.lse[0] = NAN;
    return s;
}

static void test_broken_attn_caught(void)
{
    const struct cb_kernel *ref = cb_registry_find("attn_f32_ref");
    struct cb_kernel k = *ref;
    k.name = "attn_f32_broken";
    k.run = attn_broken;
    double err, tol;
    for (broken_mode = 0; broken_mode <= 2; broken_mode++)
        CB_CHECK_MSG(check_one(&k, "b=1,h=2,s=33,d=16,causal=1", 1, &err, &tol) == CB_ERR_VERIFY,
                     "mode %d not caught", broken_mode);
}

// Non-causal attention on a query of all equal keys: output is the mean of V.
static void test_attention_known_answer(void)
{
    const struct cb_kernel *k = cb_registry_find("attn_f32_ref");
    float q[4] = {1, 2, 3, 4}, kk[3 * 4], v[3 * 4], o[4], lse[1];
    for (int i = 0; i < 12; i++) {
        kk[i] = 0.5f;
        v[i] = (float)(i / 4 + 1);  // rows 1, 2, 3
    }
    struct cb_call c = {.op = CB_OP_ATTN};
    c.u.attn = (struct cb_attn_args){.batch = 1, .heads = 1, .kv_heads = 1, .seq_q = 1,
                                     .seq_kv = 3, .head_dim = 4, .q = q, .k = kk, .v = v,
                                     .o = o, .lse = lse};
    void *plan = NULL;
    struct cb_plan_req req = {.shape = &c, .threads = 1};
    CB_CHECK(k->plan(k, &req, &plan) == CB_OK);
    CB_CHECK(k->run(plan, &c) == CB_OK);
    k->plan_free(plan);
    for (int d = 0; d < 4; d++)
        CB_CHECK_NEAR(o[d], 2.0, 1e-6);
    // every score is 0.5 * (1+2+3+4) / sqrt(4) = 2.5; lse = 2.5 + ln 3
    CB_CHECK_NEAR(lse[0], 2.5 + log(3.0), 1e-6);
}

// beta != 0 with alpha = 0: C = beta * C exactly.
static void test_gemm_known_answer(void)
{
    const struct cb_kernel *k = cb_registry_find("gemm_f32_ref");
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4] = {1, 1, 1, 1};
    struct cb_call call = {.op = CB_OP_GEMM};
    // A (2,3) * B (3,2): [[1+3, 2+3], [4+6, 5+6]] = [[4,5],[10,11]]; beta 0.5 adds 0.5
    call.u.gemm = (struct cb_gemm_args){.m = 2, .n = 2, .k = 3, .a = a, .lda = 3, .b = b,
                                        .ldb = 2, .c = c, .ldc = 2, .alpha = 1, .beta = 0.5f};
    CB_CHECK(k->run(NULL, &call) == CB_OK);
    CB_CHECK_NEAR(c[0], 4.5, 0);
    CB_CHECK_NEAR(c[1], 5.5, 0);
    CB_CHECK_NEAR(c[2], 10.5, 0);
    CB_CHECK_NEAR(c[3], 11.5, 0);
}

// Round to nearest even on exact ties, and the special values.
static void test_bf16_rounding(void)
{
    // TF32: 10 mantissa bits, nearest with ties away (cvt.rna), against the
    // float64 value of the neighbours 2^-10 apart.
    CB_CHECK(cb_f32_to_tf32(1.0f) == 1.0f);
    CB_CHECK(cb_f32_to_tf32(1.0f + 0x1p-11f) == 1.0f + 0x1p-10f);  // tie: away from zero
    CB_CHECK(cb_f32_to_tf32(-(1.0f + 0x1p-11f)) == -(1.0f + 0x1p-10f));
    CB_CHECK(cb_f32_to_tf32(1.0f + 0x1p-11f - 0x1p-23f) == 1.0f);  // just below the tie
    CB_CHECK(cb_f32_to_tf32(2.0f - 0x1p-23f) == 2.0f);              // carries into the exponent
    CB_CHECK(isinf(cb_f32_to_tf32(INFINITY)) && isnan(cb_f32_to_tf32(NAN)));
    for (int i = 0; i < 10000; i++) {
        float x = (float)((i * 2654435761u) % 2000003u) / 1000001.0f - 1.0f;
        double r = cb_f32_to_tf32(x);
        // A TF32 value, within half an ulp (2^-11 relative) of x.
        CB_CHECK(fabs(r - x) <= 0x1p-11 * fabs(x) + 1e-45);
        float rf = (float)r;
        uint32_t u;
        memcpy(&u, &rf, sizeof u);
        CB_CHECK((u & 0x1fffu) == 0);
    }
    CB_CHECK(cb_f32_to_bf16(1.0f) == 0x3f80);
    CB_CHECK(cb_f32_to_bf16(-2.0f) == 0xc000);
    // 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: ties to even (1.0).
    CB_CHECK(cb_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);
    // 1 + 3*2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even): up.
    CB_CHECK(cb_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);
    CB_CHECK(cb_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);  // above half: up
    CB_CHECK(cb_f32_to_bf16(INFINITY) == 0x7f80);
    CB_CHECK(isnan(cb_bf16_to_f32(cb_f32_to_bf16(NAN))));
    CB_CHECK(cb_bf16_to_f32(0x3f81) == 1.0f + 0x1p-7f);
    // The largest finite f32 rounds to bf16 infinity (overflow), as hardware does.
    CB_CHECK(cb_f32_to_bf16(3.4028235e38f) == 0x7f80);
}

// f16: ties to even, subnormals, overflow; every f16 survives the round
// trip; and, where the compiler has _Float16, random f32 values round as the
// compiler's IEEE conversion does.
static void test_f16_rounding(void)
{
    CB_CHECK(cb_f32_to_f16(1.0f) == 0x3c00 && cb_f32_to_f16(-2.0f) == 0xc000);
    CB_CHECK(cb_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);      // tie: to even (down)
    CB_CHECK(cb_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);  // tie: to even (up)
    CB_CHECK(cb_f32_to_f16(65504.0f) == 0x7bff);
    CB_CHECK(cb_f32_to_f16(65519.99f) == 0x7bff);
    CB_CHECK(cb_f32_to_f16(65520.0f) == 0x7c00);             // overflow to infinity
    CB_CHECK(cb_f32_to_f16(-INFINITY) == 0xfc00);
    CB_CHECK(cb_f32_to_f16(0x1p-14f) == 0x0400);             // smallest normal
    CB_CHECK(cb_f32_to_f16(0x1p-24f) == 0x0001);             // smallest subnormal
    CB_CHECK(cb_f32_to_f16(0x1p-25f) == 0x0000);             // tie: to even (zero)
    CB_CHECK(cb_f32_to_f16(0x1.8p-25f) == 0x0001);
    CB_CHECK(cb_f32_to_f16(3 * 0x1p-25f) == 0x0002);         // 1.5 ulp: tie to even (2)
    CB_CHECK(cb_f32_to_f16(-0.0f) == 0x8000);
    CB_CHECK(isnan(cb_f16_to_f32(cb_f32_to_f16(NAN))));
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = cb_f16_to_f32((uint16_t)h);
        if (((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff))
            bad += !isnan(f);  // NaN stays NaN
        else
            bad += cb_f32_to_f16(f) != h;
    }
    CB_CHECK_MSG(bad == 0, "%d f16 values do not survive f16 -> f32 -> f16", bad);
#ifdef __FLT16_MAX__
    struct cb_rng r;
    cb_rng_seed(&r, seed);
    bad = 0;
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)cb_rng_next(&r);
        float f;
        memcpy(&f, &u, sizeof f);
        if (isnan(f))
            continue;
        _Float16 h = (_Float16)f;
        uint16_t want;
        memcpy(&want, &h, sizeof want);
        bad += cb_f32_to_f16(f) != want;
    }
    CB_CHECK_MSG(bad == 0, "%d of 1e6 random floats round differently from _Float16", bad);
#endif
}

// The composed attention baselines' vector rows (the softmax of the
// forward, the exp/dS pass of the backward), on each ISA this CPU runs,
// against float64 on random rows of odd lengths: every element of [0, ld)
// written (the tail poisoned with NaN first), the lse, and the all-zero row
// of a query that saw no key. Under a CHIPBENCH_ISA cap the suite runs the
// AVX2 rows; this checks them on any AVX2 machine.
#if CB_HAVE_AVX2 || CB_HAVE_AVX512
typedef float (*softmax_row_fn)(float *, int64_t, int64_t);
typedef void (*bwd_row_fn)(float *, float *, int64_t, int64_t, float, float);

static void check_baseline_rows(const char *isa, softmax_row_fn sm, bwd_row_fn bw)
{
    static const int64_t lens[] = {0, 1, 7, 8, 9, 16, 17, 63, 65, 1000};
    struct cb_rng rng;
    cb_rng_seed(&rng, 20261129);
    float x[1009], s[1009], dp[1009], dp0[1009];
    double xd[1009];
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        const int64_t n = lens[t], ld = n + 9;
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < ld; j++) {
            x[j] = j < n ? (float)cb_rng_uniform(&rng, -20.0, 20.0) : NAN;
            xd[j] = x[j];
            s[j] = x[j];
            dp[j] = dp0[j] = j < n ? (float)cb_rng_uniform(&rng, -1.0, 1.0) : NAN;
            if (j < n && xd[j] > mx)
                mx = xd[j];
        }
        for (int64_t j = 0; j < n; j++)
            sum += exp(xd[j] - mx);
        const double lse = n ? mx + log(sum) : -INFINITY;
        const float di = (float)cb_rng_uniform(&rng, -0.5, 0.5);
        const float l = sm(x, n, ld);
        CB_CHECK_MSG(n ? fabs(l - lse) <= 1e-5 * (1.0 + fabs(lse)) : l == -INFINITY,
                     "%s softmax n=%lld: lse %g, float64 %g", isa, (long long)n, l, lse);
        bw(s, dp, n, ld, n ? (float)lse : -INFINITY, di);
        for (int64_t j = 0; j < ld; j++) {
            const double p = j < n ? exp(xd[j] - lse) : 0.0;
            const double d = j < n ? p * ((double)dp0[j] - di) : 0.0;
            CB_CHECK_MSG(fabs(x[j] - p) <= 2e-6 * (p + 1e-3), "%s softmax n=%lld: p[%lld] = %g, float64 %g",
                         isa, (long long)n, (long long)j, x[j], p);
            CB_CHECK_MSG(fabs(s[j] - p) <= 2e-6 * (p + 1e-3) && fabs(dp[j] - d) <= 4e-6 * (fabs(d) + 1e-3),
                         "%s bwd row n=%lld: [%lld] p %g dS %g, float64 %g %g", isa, (long long)n,
                         (long long)j, s[j], dp[j], p, d);
        }
    }
    // A row that saw no key (lse = -inf): all zero, nothing read as a score.
    for (int j = 0; j < 20; j++)
        s[j] = dp[j] = NAN;
    bw(s, dp, 11, 20, -INFINITY, 0.0f);
    for (int j = 0; j < 20; j++)
        CB_CHECK_MSG(s[j] == 0.0f && dp[j] == 0.0f, "%s bwd row lse=-inf: [%d] %g %g", isa, j, s[j], dp[j]);
}
#endif

static void test_baseline_vector_rows(void)
{
    int ran = 0;
    const uint64_t f = cb_cpu_features();
#if CB_HAVE_AVX512
    if ((f & CB_ISA_GROUP_AVX512) == CB_ISA_GROUP_AVX512)
    {
        check_baseline_rows("avx512", cb_softmax_row_avx512, cb_attn_bwd_row_avx512);
        ran++;
    }
#endif
#if CB_HAVE_AVX2
    if ((f & CB_ISA_GROUP_AVX2) == CB_ISA_GROUP_AVX2)
    {
        check_baseline_rows("avx2", cb_softmax_row_avx2, cb_attn_bwd_row_avx2);
        ran++;
    }
#endif
    (void)f;
    if (!ran)
        CB_SKIP("no vector baseline rows on this CPU");
}

int main(void)
{
    seed = cb_fresh_seed();
    printf("seed %llu\n", (unsigned long long)seed);
    CB_RUN(test_amx_gemm);
    CB_RUN(test_bf16_rounding);
    CB_RUN(test_f16_rounding);
    CB_RUN(test_gemm_known_answer);
    CB_RUN(test_attention_known_answer);
    CB_RUN(test_all_kernels);
    CB_RUN(test_gemm_blocking_edges);
    CB_RUN(test_large_gemm_projection_path);
    CB_RUN(test_broken_gemm_caught);
    CB_RUN(test_beta_zero_must_not_read_c);
    CB_RUN(test_broken_attn_caught);
    CB_RUN(test_baseline_vector_rows);
    return CB_TEST_END("test_kernels");
}
