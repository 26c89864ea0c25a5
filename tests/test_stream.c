// test_stream.c: every registered STREAM triad kernel that runs here,
// through the harness's set-up/poison/verify path, on lengths that cross
// every vector width, alignment head and thread split; the shape text round
// trip and the work declared per call; broken kernels (a dropped term, an
// unwritten element, a result off by more than rounding) caught.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cb_test.h"
#include "check_kernel.h"
#include "chipbench/cb_bench.h"
#include "chipbench/cb_shape.h"

static uint64_t seed;

// Run kernel k on stream:n=N via the bench path (check_kernel.h).
static enum cb_status check_one(const struct cb_kernel *k, int64_t n, int threads, double *err,
                                double *tol)
{
    char text[64];
    snprintf(text, sizeof text, "stream:n=%lld", (long long)n);
    return check_kernel(k, text, threads, seed++, err, tol);
}

static const int64_t lengths[] = {1, 7, 63, 65, 1000, 1 << 20};

static void test_all_stream_kernels(void)
{
    int ran = 0, kernels = 0;
    for (int i = 0; i < cb_registry_count(); i++) {
        const struct cb_kernel *k = cb_registry_get(i);
        if (k->op != CB_OP_STREAM || cb_kernel_usable(k) != CB_OK)
            continue;
        kernels++;
        for (int t = 1; t <= (k->max_threads == 1 ? 1 : 3); t++)
            for (size_t j = 0; j < sizeof lengths / sizeof lengths[0]; j++) {
                double err = NAN, tol = NAN;
                enum cb_status s = check_one(k, lengths[j], t, &err, &tol);
                CB_CHECK_MSG(s == CB_OK, "%s n=%lld threads=%d: %s", k->name,
                             (long long)lengths[j], t, cb_error_msg());
                CB_CHECK_MSG(err <= tol, "%s n=%lld: err %g > tol %g", k->name,
                             (long long)lengths[j], err, tol);
                ran++;
            }
    }
    CB_CHECK(kernels >= 1 && ran >= 6);
    CB_CHECK(cb_registry_find("stream_f32_ref") != NULL);
}

static void test_shape_and_work(void)
{
    struct cb_call c, as;
    char buf[64];
    CB_CHECK(cb_shape_parse("stream:n=67108864", &c) == CB_OK);
    CB_CHECK(c.op == CB_OP_STREAM && c.u.stream.n == 67108864 && c.u.stream.scalar == 3.0f);
    cb_shape_format(&c, buf, sizeof buf);
    CB_CHECK_STR(buf, "stream:n=67108864");
    CB_CHECK_NEAR(cb_call_flops(&c), 2.0 * 67108864, 0);
    CB_CHECK_NEAR(cb_call_bytes(&c, CB_DTYPE_F32), 12.0 * 67108864, 0);
    CB_CHECK(cb_shape_as_op(&c, CB_OP_STREAM, &as) && as.u.stream.n == 67108864);
    CB_CHECK(!cb_shape_as_op(&c, CB_OP_GEMM, &as));
    CB_CHECK(cb_shape_parse("stream:n=0", &c) == CB_ERR_PARSE);
    CB_CHECK(cb_shape_parse("stream:", &c) == CB_ERR_PARSE);
    CB_CHECK(cb_shape_parse("stream:m=5", &c) == CB_ERR_PARSE);
    enum cb_op op;
    CB_CHECK(cb_op_parse("stream", &op) == CB_OK && op == CB_OP_STREAM);
    CB_CHECK_STR(cb_op_name(CB_OP_STREAM), "stream");
}

// Broken kernels: each must be caught. -------------------------------------

static int broken_mode;
static enum cb_status stream_broken(void *plan, const struct cb_call *call)
{
    (void)plan;
    const struct cb_stream_args *s = &call->u.stream;
    float *a = s->a;
    const float *b = s->b, *c = s->c;
    for (int64_t i = 0; i < s->n; i++) {
        if (broken_mode == 0 && i == s->n / 2)
            a[i] = b[i];  // dropped term
        else if (broken_mode == 1 && i == s->n - 1)
            continue;  // last element never written
        else if (broken_mode == 2 && i == s->n / 3)
            a[i] = b[i] + s->scalar * c[i] +  // 4 ulp of the operands: more than rounding
                   0x1p-21f * (fabsf(b[i]) + fabsf(s->scalar * c[i]));
        else
            a[i] = b[i] + s->scalar * c[i];
    }
    return CB_OK;
}

static void test_broken_stream_caught(void)
{
    struct cb_kernel k = {.name = "stream_f32_broken", .op = CB_OP_STREAM,
                          .dtype = CB_DTYPE_F32, .backend = CB_BACKEND_REF,
                          .max_threads = 1, .run = stream_broken, .desc = "broken"};
    for (broken_mode = 0; broken_mode < 3; broken_mode++) {
        double err, tol;
        enum cb_status s = check_one(&k, 1000, 1, &err, &tol);
        CB_CHECK_MSG(s == CB_ERR_VERIFY, "mode %d not caught (%s)", broken_mode, cb_error_msg());
    }
    broken_mode = -1;  // correct: passes
    double err, tol;
    CB_CHECK(check_one(&k, 1000, 1, &err, &tol) == CB_OK);
}

int main(void)
{
    seed = cb_fresh_seed();
    printf("seed %llu\n", (unsigned long long)seed);
    CB_RUN(test_shape_and_work);
    CB_RUN(test_all_stream_kernels);
    CB_RUN(test_broken_stream_caught);
    return CB_TEST_END("test_stream");
}
