// bench_allreduce.c: all-reduce benchmark data and its check.
//
// Rank r fills element i of its send buffer with the small integer
// v(i, r) = ((i + 7 r) mod (2A + 1)) - A, the receive buffer is poisoned
// (NaN) before the verification launch, and every element of the result must
// equal sum_r v(i, r) exactly. A keeps every partial sum, in whatever order
// MPI adds, an integer the dtype holds exactly: |sum| <= A N <= 2^24 for f32
// and <= 256 for bf16 (A = 0, all zeros, beyond 256 bf16 ranks). NaN never
// passes. The verdict is reduced over the ranks (MINLOC): the row fails on
// every rank when one rank saw a wrong value, and says which rank.
//
// Collective rules: check_shape and setup agree across ranks (a size that
// does not fit in memory is a skipped row on all of them), and the agree hook
// makes the sampling loop lock-step (bench.c). Work per call (cb_kernel.h):
// 0 flops, bytes = the payload of one rank.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chipbench/cb_bench.h"
#include "chipbench/cb_mpi.h"

struct allreduce_data {
    struct cb_allreduce_args s;  // shape, count filled in
    enum cb_dtype dtype;
    int nbuf, ranks, rank;
    int64_t amp;                 // A above
    void **send, **recv;
    struct cb_call *calls;
    double *expect;              // sum over ranks per residue i mod (2A + 1)
};

static int64_t amplitude(enum cb_dtype d, int ranks)
{
    int64_t lim = d == CB_DTYPE_BF16 ? 256 : INT64_C(1) << 24;
    int64_t a = lim / ranks;
    return a > 1024 ? 1024 : a;
}

static double value(int64_t i, int r, int64_t amp)
{
    return (double)((i + 7 * (int64_t)r) % (2 * amp + 1) - amp);
}

// Processes of this job on this host share its memory; Open MPI says how
// many, other launchers are assumed to put them all here.
static int ranks_on_host(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int n = v ? atoi(v) : 0;
    return n > 0 ? n : cb_mpi_size();
}

static enum cb_status allreduce_check_shape(const struct cb_call *shape)
{
    int64_t b = shape->u.allreduce.bytes;
    if (b < 4 || b > (INT64_C(1) << 30) || b % 4)
        return cb_set_error(CB_ERR_INVALID_ARG, "allreduce bytes must be a multiple of 4 in "
                            "[4, 2^30], got %lld", (long long)b);
    // Send, receive and about one message of MPI's own temporary buffer per
    // rank, times the ranks on this host; agreed so all ranks skip together.
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double avail = pages > 0 && psz > 0 ? (double)pages * psz : 0;
    double need = 3.0 * (double)b * ranks_on_host();
    double v[2] = {avail > 0 && need > 0.8 * avail ? 1 : 0, -avail};
    enum cb_status s = cb_mpi_max(v, 2);
    if (s != CB_OK)
        return s;
    if (v[0])
        return cb_set_error(CB_ERR_UNSUPPORTED, "does not fit: %d rank%s on this host need "
                            "%.2f GiB, %.2f GiB available", ranks_on_host(),
                            ranks_on_host() == 1 ? "" : "s", need / (1 << 30),
                            -v[1] / (1 << 30));
    return CB_OK;
}

static double allreduce_set_bytes(const struct cb_call *shape, enum cb_dtype d)
{
    (void)d;
    return 2.0 * (double)shape->u.allreduce.bytes;  // send and receive
}

static void allreduce_teardown(void *data)
{
    struct allreduce_data *b = data;
    if (!b)
        return;
    for (int i = 0; i < b->nbuf; i++) {
        if (b->send)
            cb_free(b->send[i]);
        if (b->recv)
            cb_free(b->recv[i]);
    }
    free(b->send);
    free(b->recv);
    free(b->calls);
    free(b->expect);
    free(b);
}

static void fill(const struct allreduce_data *b, void *buf)
{
    for (int64_t i = 0; i < b->s.count; i++) {
        float x = (float)value(i, b->rank, b->amp);
        if (b->dtype == CB_DTYPE_BF16)
            ((uint16_t *)buf)[i] = cb_f32_to_bf16(x);
        else
            ((float *)buf)[i] = x;
    }
}

static enum cb_status setup_local(const struct cb_call *shape, enum cb_dtype d, int nbuf,
                                  struct allreduce_data *b)
{
    if (d != CB_DTYPE_F32 && d != CB_DTYPE_BF16)
        return cb_set_error(CB_ERR_UNSUPPORTED, "allreduce bench: dtype %s not supported",
                            cb_dtype_name(d));
    b->s = shape->u.allreduce;
    b->dtype = d;
    b->s.count = b->s.bytes / cb_dtype_size(d);
    b->ranks = cb_mpi_size();
    b->rank = cb_mpi_rank();
    b->amp = amplitude(d, b->ranks);
    const size_t n = (size_t)b->s.count, es = (size_t)cb_dtype_size(d);
    b->send = calloc((size_t)nbuf, sizeof *b->send);
    b->recv = calloc((size_t)nbuf, sizeof *b->recv);
    b->calls = calloc((size_t)nbuf, sizeof *b->calls);
    b->expect = calloc((size_t)(2 * b->amp + 1), sizeof *b->expect);
    if (!b->send || !b->recv || !b->calls || !b->expect)
        return cb_set_error(CB_ERR_NO_MEMORY, "allreduce bench buffers");
    for (int64_t j = 0; j <= 2 * b->amp; j++)
        for (int r = 0; r < b->ranks; r++)
            b->expect[j] += value(j, r, b->amp);
    b->nbuf = nbuf;
    for (int i = 0; i < nbuf; i++) {
        b->send[i] = cb_alloc_array(n, es);
        b->recv[i] = cb_alloc_array(n, es);
        if (!b->send[i] || !b->recv[i])
            return cb_set_error(CB_ERR_NO_MEMORY, "allreduce buffers: %.1f MiB per set",
                                2.0 * (double)b->s.bytes / (1 << 20));
        fill(b, b->send[i]);
        memset(b->recv[i], 0, n * es);  // touched: page faults stay out of timing
        struct cb_call *c = &b->calls[i];
        c->op = CB_OP_ALLREDUCE;
        c->u.allreduce = b->s;
        c->u.allreduce.send = b->send[i];
        c->u.allreduce.recv = b->recv[i];
    }
    return CB_OK;
}

static enum cb_status allreduce_setup(const struct cb_call *shape, enum cb_dtype d, int nbuf,
                                      struct cb_rng *rng, void **out)
{
    enum cb_status s = CB_OK;
    struct allreduce_data *b = calloc(1, sizeof *b);
    (void)rng;  // the values must sum to a known total, not be random
    enum cb_status mine = b ? setup_local(shape, d, nbuf, b)
                            : cb_set_error(CB_ERR_NO_MEMORY, "allreduce bench");
    // One rank without its buffers would leave the others in the collective.
    int all = 0, bad = -1;
    CB_TRY(cb_mpi_all_ok(mine == CB_OK, &all, &bad));
    if (mine != CB_OK)
        s = mine;
    else if (!all)
        s = cb_set_error(CB_ERR_NO_MEMORY, "allreduce set-up failed on rank %d", bad);
out:
    if (s != CB_OK) {
        allreduce_teardown(b);
        b = NULL;
    }
    *out = b;
    return s;
}

static const struct cb_call *allreduce_call(void *data, int i)
{
    return &((struct allreduce_data *)data)->calls[i];
}

static void allreduce_poison(void *data, int i)
{
    struct allreduce_data *b = data;
    for (int64_t j = 0; j < b->s.count; j++) {
        if (b->dtype == CB_DTYPE_BF16)
            ((uint16_t *)b->recv[i])[j] = 0x7fc0;  // quiet NaN
        else
            ((float *)b->recv[i])[j] = NAN;
    }
}

static enum cb_status check_local(const struct allreduce_data *b, int bi)
{
    for (int64_t i = 0; i < b->s.count; i++) {
        float got = b->dtype == CB_DTYPE_BF16 ? cb_bf16_to_f32(((uint16_t *)b->recv[bi])[i])
                                              : ((float *)b->recv[bi])[i];
        double want = b->expect[i % (2 * b->amp + 1)];
        if (!((double)got == want))  // NaN fails here too
            return cb_set_error(CB_ERR_VERIFY, "rank %d: recv[%lld] = %.9g, sum over %d ranks "
                                "is %.9g", b->rank, (long long)i, got, b->ranks, want);
    }
    return CB_OK;
}

static enum cb_status allreduce_verify(void *data, int bi, double *max_err, double *tol)
{
    enum cb_status s = CB_OK;
    const struct allreduce_data *b = data;
    *tol = 0.0;  // integers, exact in the dtype: equal or wrong
    enum cb_status mine = check_local(b, bi);
    int all = 0, bad = -1;
    CB_TRY(cb_mpi_all_ok(mine == CB_OK, &all, &bad));
    *max_err = all ? 0.0 : INFINITY;
    if (mine != CB_OK)
        s = mine;  // its own message, which names the element
    else if (!all)
        s = cb_set_error(CB_ERR_VERIFY, "rank %d received wrong sums (this rank %d did not)",
                         bad, b->rank);
out:
    return s;
}

static enum cb_status allreduce_agree(double *v, int n)
{
    return cb_mpi_max(v, n);
}

const struct cb_bench cb_bench_allreduce = {
    .op = CB_OP_ALLREDUCE,
    .check_shape = allreduce_check_shape,
    .set_bytes = allreduce_set_bytes,
    .setup = allreduce_setup,
    .call = allreduce_call,
    .poison = allreduce_poison,
    .verify = allreduce_verify,
    .teardown = allreduce_teardown,
    .agree = allreduce_agree,
};
