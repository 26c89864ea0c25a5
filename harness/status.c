// status.c: the status message table and the per-thread error detail.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chipbench/cb_status.h"

static const char *const status_names[-CB_STATUS_MIN] = {
    [-CB_OK] = "ok",
    [-CB_ERR_INVALID_ARG] = "invalid argument",
    [-CB_ERR_NO_MEMORY] = "out of memory",
    [-CB_ERR_UNSUPPORTED] = "unsupported",
    [-CB_ERR_BACKEND] = "back-end error",
    [-CB_ERR_IO] = "I/O error",
    [-CB_ERR_VERIFY] = "verification failed",
    [-CB_ERR_TIMEOUT] = "timeout",
    [-CB_ERR_INTERRUPTED] = "interrupted",
    [-CB_ERR_PARSE] = "parse error",
};

const char *cb_status_str(enum cb_status s)
{
    int i = -(int)s;
    if (i < 0 || i >= -CB_STATUS_MIN || !status_names[i])
        return "unknown status";
    return status_names[i];
}

static _Thread_local char err_buf[1024];
static _Thread_local size_t err_text_off;

enum cb_status cb_set_error_at(const char *file, int line, enum cb_status s,
                               const char *fmt, ...)
{
    // Format into scratch first: callers may wrap the previous message
    // (cb_set_error(s, "context: %s", cb_error_text())), which lives in err_buf.
    char tmp[sizeof err_buf];
    const char *base = strrchr(file, '/');
    int n = snprintf(tmp, sizeof tmp, "%s:%d: ", base ? base + 1 : file, line);
    if (n < 0 || (size_t)n >= sizeof tmp)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp + n, sizeof tmp - (size_t)n, fmt, ap);
    va_end(ap);
    memcpy(err_buf, tmp, sizeof err_buf);
    err_text_off = (size_t)n;
    return s;
}

const char *cb_error_msg(void) { return err_buf; }
const char *cb_error_text(void) { return err_buf + err_text_off; }

void cb_clear_error(void)
{
    err_buf[0] = 0;
    err_text_off = 0;
}
