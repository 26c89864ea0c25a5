// mpi_session.c: MPI set-up and the agreement helpers (cb_mpi.h). The only
// harness file that calls MPI; kernels/mpi/ holds the timed collectives.
// Built with or without MPI: without it the session is one rank of one.
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_mpi.h"

#if CB_HAVE_MPI
#include <mpi.h>
#endif

static int g_active, g_rank, g_size = 1;

double cb_allreduce_bus_factor(int ranks)
{
    return ranks > 1 ? 2.0 * (ranks - 1) / ranks : 0.0;
}

int cb_mpi_launched(void)
{
    const char *force = getenv("CHIPBENCH_MPI");
    if (force && !strcmp(force, "off"))
        return 0;
    if (force && !strcmp(force, "on"))
        return 1;
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int cb_mpi_active(void) { return g_active; }
int cb_mpi_rank(void) { return g_active ? g_rank : 0; }
int cb_mpi_size(void) { return g_active ? g_size : 1; }

#if CB_HAVE_MPI
static enum cb_status mpi_err(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        strcpy(msg, "unknown MPI error");
    return cb_set_error(CB_ERR_BACKEND, "%s: %s", what, msg);
}

enum cb_status cb_mpi_init(void)
{
    int done = 0;
    if (g_active)
        return CB_OK;
    MPI_Finalized(&done);
    if (done)
        return cb_set_error(CB_ERR_BACKEND, "MPI was already finalised in this process");
    // Only the main thread calls MPI (kernel thread pools never do).
    int provided = 0, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return mpi_err(rc, "MPI_Init_thread");
    // Errors come back as codes (then cb_set_error), not as an abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_active = 1;
    return CB_OK;
}

void cb_mpi_finalize(void)
{
    if (!g_active)
        return;
    g_active = 0;
    MPI_Finalize();
}

enum cb_status cb_mpi_max(double *v, int n)
{
    double in[8];
    if (!g_active)
        return CB_OK;
    if (n < 1 || n > 8)
        return cb_set_error(CB_ERR_INVALID_ARG, "cb_mpi_max: n = %d not in [1, 8]", n);
    memcpy(in, v, (size_t)n * sizeof *v);
    int rc = MPI_Allreduce(in, v, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CB_OK : mpi_err(rc, "MPI_Allreduce(MAX) of the timings");
}

enum cb_status cb_mpi_all_ok(int ok, int *all_ok, int *bad_rank)
{
    *all_ok = ok;
    *bad_rank = ok ? -1 : 0;
    if (!g_active)
        return CB_OK;
    // MINLOC over (ok, rank): the minimum verdict and the lowest rank with it.
    struct { int ok, rank; } in = {ok ? 1 : 0, g_rank}, out;
    int rc = MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_err(rc, "MPI_Allreduce(MINLOC) of the verdicts");
    *all_ok = out.ok;
    *bad_rank = out.ok ? -1 : out.rank;
    return CB_OK;
}
#else
enum cb_status cb_mpi_init(void)
{
    return cb_set_error(CB_ERR_UNSUPPORTED, "built without MPI: install libopenmpi-dev "
                        "(make deps) and rebuild");
}

void cb_mpi_finalize(void) {}

enum cb_status cb_mpi_max(double *v, int n)
{
    (void)v;
    (void)n;
    return CB_OK;
}

enum cb_status cb_mpi_all_ok(int ok, int *all_ok, int *bad_rank)
{
    *all_ok = ok;
    *bad_rank = ok ? -1 : 0;
    return CB_OK;
}
#endif
