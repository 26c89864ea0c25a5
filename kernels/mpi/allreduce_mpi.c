// allreduce_mpi.c: MPI_Allreduce (sum) over MPI_COMM_WORLD, the all-reduce
// of data-parallel training's gradients. f32 uses MPI_FLOAT/MPI_SUM; bf16 is
// a 16-bit payload (MPI has no bf16 type) reduced by a user-defined
// operation over MPI_UINT16_T: each step widens both operands to f32, adds,
// and rounds back to nearest even, as a bf16 reduction on a device would.
//
// Always compiled: without MPI (CB_HAVE_MPI unset), or in a process not
// started by mpirun, the kernels are listed but unavailable with the reason,
// and their rows are skipped. Not here: MPI set-up (harness/mpi_session.c),
// data and checks (harness/bench_allreduce.c).
#include <stdlib.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_mpi.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"

#if CB_HAVE_MPI
#include <mpi.h>

static enum cb_status allreduce_available(void)
{
    if (!cb_mpi_active())
        return cb_set_error(CB_ERR_UNSUPPORTED, "1 rank: run under mpirun -np N (README, "
                            "Fleet runs and multi-chip cost)");
    return CB_OK;
}

static enum cb_status mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "unknown MPI error";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return cb_set_error(CB_ERR_BACKEND, "%s: %s", what, msg);
}

static enum cb_status allreduce_f32_mpi(void *plan, const struct cb_call *call)
{
    const struct cb_allreduce_args *a = &call->u.allreduce;
    (void)plan;
    int rc = MPI_Allreduce(a->send, a->recv, (int)a->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CB_OK : mpi_fail(rc, "MPI_Allreduce(f32)");
}

// inout[i] = bf16(f32(in[i]) + f32(inout[i])). Commutative: MPI may apply it
// in any order, so the result is exact only where every partial sum is a
// bf16 value (the bench's data make sure of that).
static void bf16_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    const uint16_t *x = in;
    uint16_t *y = inout;
    (void)type;
    for (int i = 0; i < *len; i++)
        y[i] = cb_f32_to_bf16(cb_bf16_to_f32(x[i]) + cb_bf16_to_f32(y[i]));
}

struct bf16_plan {
    MPI_Op op;
};

// The operation is created per row (MPI_Op_create is local, not collective).
static enum cb_status bf16_plan(const struct cb_kernel *k, const struct cb_plan_req *req,
                                void **out)
{
    struct bf16_plan *p = calloc(1, sizeof *p);
    (void)k;
    (void)req;
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "bf16 all-reduce plan");
    int rc = MPI_Op_create(bf16_sum, 1, &p->op);
    if (rc != MPI_SUCCESS) {
        free(p);
        return mpi_fail(rc, "MPI_Op_create(bf16 sum)");
    }
    *out = p;
    return CB_OK;
}

static void bf16_plan_free(void *plan)
{
    struct bf16_plan *p = plan;
    if (p && cb_mpi_active())
        MPI_Op_free(&p->op);
    free(p);
}

static enum cb_status allreduce_bf16_mpi(void *plan, const struct cb_call *call)
{
    const struct cb_allreduce_args *a = &call->u.allreduce;
    struct bf16_plan *p = plan;
    int rc = MPI_Allreduce(a->send, a->recv, (int)a->count, MPI_UINT16_T, p->op,
                           MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CB_OK : mpi_fail(rc, "MPI_Allreduce(bf16)");
}
#else
static enum cb_status allreduce_available(void)
{
    return cb_set_error(CB_ERR_UNSUPPORTED, "built without MPI: install libopenmpi-dev "
                        "(make deps) and rebuild");
}

static enum cb_status allreduce_unbuilt(void *plan, const struct cb_call *call)
{
    (void)plan;
    (void)call;
    return allreduce_available();
}
#define allreduce_f32_mpi allreduce_unbuilt
#define allreduce_bf16_mpi allreduce_unbuilt
#define bf16_plan NULL
#define bf16_plan_free NULL
#endif

const struct cb_kernel cb_allreduce_mpi_kernels[] = {
    {
        .name = "allreduce_f32_mpi",
        .op = CB_OP_ALLREDUCE,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_MPI,
        .max_threads = 1,
        .available = allreduce_available,
        .run = allreduce_f32_mpi,
        .desc = "MPI_Allreduce(MPI_FLOAT, MPI_SUM) over all ranks (mpirun -np N)",
    },
    {
        .name = "allreduce_bf16_mpi",
        .op = CB_OP_ALLREDUCE,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_MPI,
        .max_threads = 1,
        .available = allreduce_available,
        .plan = bf16_plan,
        .run = allreduce_bf16_mpi,
        .plan_free = bf16_plan_free,
        .desc = "MPI_Allreduce of bf16 over MPI_UINT16_T, user op: sum in f32, round to "
                "nearest even",
    },
    {.name = NULL},
};
