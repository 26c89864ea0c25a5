// cb_test.h: a minimal test harness (no framework dependency).
//
// Each test binary defines test functions and lists them in main() with
// CB_RUN(fn). A test fails on the first failed CB_CHECK*; CB_SKIP ends it as
// skipped with a reason. The binary prints PASS/FAIL/SKIP per test and a last
// line "<name>: N passed, N failed, N skipped"; exit status 1 on any failure.
#ifndef CHIPBENCH_CB_TEST_H
#define CHIPBENCH_CB_TEST_H

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int cb_t_pass, cb_t_fail, cb_t_skip;

// The path of `name` in the folder of this test binary (fake libraries are
// built there); 0 when it cannot be read.
static inline int cb_t_beside_exe(const char *name, char *out, size_t len)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = 0;
    snprintf(out, len, "%s/%s", dirname(exe), name);
    return access(out, R_OK) == 0;
}
static int cb_t_state;  // 0 running, 1 failed, 2 skipped
static char cb_t_why[512];

#define CB_CHECK(cond)                                                        \
    do {                                                                      \
        if (!(cond)) {                                                        \
            snprintf(cb_t_why, sizeof cb_t_why, "%s:%d: CHECK(%s)", __FILE__, \
                     __LINE__, #cond);                                        \
            cb_t_state = 1;                                                   \
            return;                                                           \
        }                                                                     \
    } while (0)

#define CB_CHECK_MSG(cond, ...)                                               \
    do {                                                                      \
        if (!(cond)) {                                                        \
            int o_ = snprintf(cb_t_why, sizeof cb_t_why, "%s:%d: ", __FILE__, \
                              __LINE__);                                      \
            snprintf(cb_t_why + o_, sizeof cb_t_why - (size_t)o_,             \
                     __VA_ARGS__);                                            \
            cb_t_state = 1;                                                   \
            return;                                                           \
        }                                                                     \
    } while (0)

// NaN never passes: !(x <= tol) is true for NaN.
#define CB_CHECK_NEAR(a, b, tol)                                              \
    do {                                                                      \
        double a_ = (a), b_ = (b);                                            \
        if (!(fabs(a_ - b_) <= (tol))) {                                      \
            snprintf(cb_t_why, sizeof cb_t_why,                               \
                     "%s:%d: %s = %.9g, %s = %.9g, |diff| > %g", __FILE__,    \
                     __LINE__, #a, a_, #b, b_, (double)(tol));                \
            cb_t_state = 1;                                                   \
            return;                                                           \
        }                                                                     \
    } while (0)

#define CB_CHECK_STR(a, b)                                                    \
    do {                                                                      \
        const char *a_ = (a), *b_ = (b);                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                              \
            snprintf(cb_t_why, sizeof cb_t_why, "%s:%d: \"%s\" != \"%s\"",    \
                     __FILE__, __LINE__, a_ ? a_ : "(null)",                  \
                     b_ ? b_ : "(null)");                                     \
            cb_t_state = 1;                                                   \
            return;                                                           \
        }                                                                     \
    } while (0)

#define CB_SKIP(...)                                                          \
    do {                                                                      \
        snprintf(cb_t_why, sizeof cb_t_why, __VA_ARGS__);                     \
        cb_t_state = 2;                                                       \
        return;                                                               \
    } while (0)

#define CB_RUN(fn)                                                            \
    do {                                                                      \
        cb_t_state = 0;                                                       \
        cb_t_why[0] = 0;                                                      \
        fn();                                                                 \
        if (cb_t_state == 0) {                                                \
            cb_t_pass++;                                                      \
            printf("PASS %s\n", #fn);                                         \
        } else if (cb_t_state == 2) {                                         \
            cb_t_skip++;                                                      \
            printf("SKIP %s: %s\n", #fn, cb_t_why);                           \
        } else {                                                              \
            cb_t_fail++;                                                      \
            printf("FAIL %s: %s\n", #fn, cb_t_why);                           \
        }                                                                     \
        fflush(stdout);                                                       \
    } while (0)

#define CB_TEST_END(name)                                                     \
    (printf("%s: %d passed, %d failed, %d skipped\n", (name), cb_t_pass,      \
            cb_t_fail, cb_t_skip),                                            \
     cb_t_fail ? 1 : 0)

#endif
