// power_cmd.c: an external meter (`--power-cmd CMD`): `sh -c CMD` runs for
// the whole run and prints one reading per line, "TIME WATTS" (TIME in
// seconds since the epoch, e.g. `date +%s.%N`; a comma also separates). A
// reader thread keeps every reading; a row's energy is the trapezoid
// integral of the readings over its timed window, so the meter's own
// timestamps count, not when chipbench happened to read the pipe. Lines that
// do not parse are skipped (headers, units). Scope "wall": what the meter
// measures is the user's to say.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chipbench/cb_stats.h"
#include "chipbench/cb_util.h"
#include "power_src.h"

struct meter {
    pid_t pid;
    int fd;
    pthread_t th;
    pthread_mutex_t mu;
    double *t, *w;   // monotonic seconds, watts
    int n, cap;
    int eof;
};

// Parse "TIME WATTS" / "TIME,WATTS"; 1 on success.
int cb_power_cmd_parse(const char *line, double *t, double *w)
{
    char *end;
    *t = strtod(line, &end);
    if (end == line)
        return 0;
    while (*end == ' ' || *end == '\t' || *end == ',')
        end++;
    const char *p = end;
    *w = strtod(p, &end);
    return end != p && isfinite(*t) && isfinite(*w);
}

// Realtime seconds -> the monotonic clock the windows use.
static double to_mono(double real_s)
{
    struct timespec r;
    clock_gettime(CLOCK_REALTIME, &r);
    double off = (double)r.tv_sec + r.tv_nsec * 1e-9 - (double)cb_now_ns() * 1e-9;
    return real_s - off;
}

static void keep(struct meter *m, double t, double w)
{
    pthread_mutex_lock(&m->mu);
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 1024;
        double *nt = realloc(m->t, (size_t)cap * sizeof *nt);
        if (nt)
            m->t = nt;
        double *nw = nt ? realloc(m->w, (size_t)cap * sizeof *nw) : NULL;
        if (nw)
            m->w = nw;
        if (nt && nw)
            m->cap = cap;
    }
    if (m->n < m->cap) {
        m->t[m->n] = to_mono(t);
        m->w[m->n] = w;
        m->n++;
    }
    pthread_mutex_unlock(&m->mu);
}

static void *reader(void *arg)
{
    struct meter *m = arg;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(m->fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            double t, w;
            if (cb_power_cmd_parse(line, &t, &w))
                keep(m, t, w);
            line = nl + 1;
        }
        have = strlen(line);
        memmove(buf, line, have);
        if (have == sizeof buf - 1)
            have = 0;  // a line longer than the buffer is not a reading
    }
    pthread_mutex_lock(&m->mu);
    m->eof = 1;
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static enum cb_status meter_series(struct cb_power_src *s, double **t, double **w, int *n)
{
    struct meter *m = s->priv;
    enum cb_status st = CB_OK;
    pthread_mutex_lock(&m->mu);
    *n = m->n;
    *t = malloc((size_t)(m->n ? m->n : 1) * sizeof **t);
    *w = malloc((size_t)(m->n ? m->n : 1) * sizeof **w);
    if (!*t || !*w) {
        st = cb_set_error(CB_ERR_NO_MEMORY, "meter readings");
    } else {
        memcpy(*t, m->t, (size_t)m->n * sizeof **t);
        memcpy(*w, m->w, (size_t)m->n * sizeof **w);
    }
    if (m->eof && st == CB_OK && m->n == 0)
        st = cb_set_error(CB_ERR_IO, "the meter command exited without printing readings");
    pthread_mutex_unlock(&m->mu);
    return st;
}

// The meter's period: median interval of its first readings (waits up to
// 3 s for four of them).
static void meter_probe(struct cb_power_src *s)
{
    struct meter *m = s->priv;
    int64_t end = cb_now_ns() + 3000000000LL;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        int n = m->n, eof = m->eof;
        if (n >= 4 || eof || cb_now_ns() > end) {
            double iv[3];
            int k = 0;
            for (int i = n - 1; i > 0 && k < 3; i--)
                iv[k++] = m->t[i] - m->t[i - 1];
            if (k > 0)
                s->period_s = cb_median(iv, k);
            pthread_mutex_unlock(&m->mu);
            return;
        }
        pthread_mutex_unlock(&m->mu);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
}

static void meter_close(struct cb_power_src *s)
{
    struct meter *m = s->priv;
    if (!m)
        return;
    // The child leads its own process group: stop it and whatever it ran.
    kill(-m->pid, SIGTERM);
    close(m->fd);
    pthread_join(m->th, NULL);
    waitpid(m->pid, NULL, 0);
    pthread_mutex_destroy(&m->mu);
    free(m->t);
    free(m->w);
    free(m);
    s->priv = NULL;
}

void cb_power_cmd_discover(struct cb_power_reg *reg, const char *cmd)
{
    int p[2];
    struct meter *m = calloc(1, sizeof *m);
    struct cb_power_src *s = calloc(1, sizeof *s);
    if (!m || !s || pipe(p) != 0) {
        cb_power_reg_info(reg, "cmd", "wall", "any", cmd, 0, "cannot start: %s",
                          strerror(errno));
        free(m);
        free(s);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0) {
        cb_power_reg_info(reg, "cmd", "wall", "any", cmd, 0, "fork: %s", strerror(errno));
        close(p[0]);
        free(m);
        free(s);
        return;
    }
    setpgid(pid, pid);  // also from the parent: no race with kill(-pid)
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    m->pid = pid;
    m->fd = p[0];
    pthread_mutex_init(&m->mu, NULL);
    if (pthread_create(&m->th, NULL, reader, m) != 0) {
        kill(-pid, SIGTERM);
        close(p[0]);
        waitpid(pid, NULL, 0);
        cb_power_reg_info(reg, "cmd", "wall", "any", cmd, 0, "reader thread did not start");
        free(m);
        free(s);
        return;
    }
    snprintf(s->source, sizeof s->source, "cmd");
    snprintf(s->scope, sizeof s->scope, "wall");
    snprintf(s->where, sizeof s->where, "%s", cmd);
    s->target = CB_PF_ANY;
    s->kind = CB_PK_SERIES;
    s->rank = 0;  // asked for by name: it wins
    s->min_samples = 60;
    s->series = meter_series;
    s->probe = meter_probe;
    s->close = meter_close;
    s->priv = m;
    cb_power_reg_info(reg, "cmd", "wall", "any", cmd, 1,
                      "external meter, \"TIME WATTS\" lines, integrated");
    cb_power_reg_add(reg, s);
}
