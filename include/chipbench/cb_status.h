// cb_status.h: status codes shared by every chipbench module.
//
// Library code (kernels, harness modules) never exits or prints: it returns a
// status and, for errors, records a detail message with cb_set_error(). Only
// main() turns statuses into exit codes and text.
#ifndef CHIPBENCH_CB_STATUS_H
#define CHIPBENCH_CB_STATUS_H

enum cb_status {
    CB_OK = 0,
    CB_ERR_INVALID_ARG = -1,  // caller passed something malformed
    CB_ERR_NO_MEMORY = -2,
    CB_ERR_UNSUPPORTED = -3,  // CPU/OS/back-end lacks it: a skip, not a failure
    CB_ERR_BACKEND = -4,      // OpenCL / hwloc / libcpuid / BLAS call failed
    CB_ERR_IO = -5,
    CB_ERR_VERIFY = -6,       // kernel result differs from the float64 reference
    CB_ERR_TIMEOUT = -7,
    CB_ERR_INTERRUPTED = -8,  // SIGINT/SIGTERM arrived; finished work is kept
    CB_ERR_PARSE = -9,        // malformed text input (CSV, shape, number)
    CB_STATUS_MIN = -10       // one past the last code; keep last
};

// Short stable name of a status ("unsupported"); never NULL.
const char *cb_status_str(enum cb_status s);

// Record a detail message for the calling thread and return `s` unchanged, so
// callers can write `return cb_set_error(CB_ERR_IO, "open %s: %s", p, e)`.
enum cb_status cb_set_error_at(const char *file, int line, enum cb_status s,
                               const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define cb_set_error(s, ...) cb_set_error_at(__FILE__, __LINE__, (s), __VA_ARGS__)

// The detail of the last error recorded on this thread ("" if none). The
// pointer stays valid until the next cb_set_error on the same thread.
const char *cb_error_msg(void);
// The detail without the "file:line: " prefix, for user-facing output.
const char *cb_error_text(void);
void cb_clear_error(void);

#define CB_TRY(expr)                                                          \
    do {                                                                      \
        s = (expr);                                                           \
        if (s != CB_OK)                                                       \
            goto out;                                                         \
    } while (0)

#endif
