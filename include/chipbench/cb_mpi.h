// cb_mpi.h: the MPI session of a chipbench process (harness/mpi_session.c).
//
// MPI is initialised only when the process was started by an MPI launcher
// (mpirun, srun with PMI): a plain `chipbench run` never touches MPI. Under a
// launcher every rank runs the same rows; collective benches (all-reduce)
// agree on every timing decision through cb_mpi_max so no rank leaves a
// collective the others are still in. Rank 0 alone prints and writes.
// Without MPI at build time (CB_HAVE_MPI unset) every call is a cheap no-op
// and the process is rank 0 of 1.
//
// Not here: the all-reduce kernels (kernels/mpi/allreduce_mpi.c) and the
// bench (harness/bench_allreduce.c).
#ifndef CHIPBENCH_CB_MPI_H
#define CHIPBENCH_CB_MPI_H

#include "cb_status.h"

// Was this process started by an MPI launcher? Environment: OMPI_COMM_WORLD_SIZE
// (Open MPI), PMIX_RANK, PMI_RANK/PMI_SIZE (MPICH, Slurm). CHIPBENCH_MPI=off
// says no whatever the launcher (fleet runs: one independent process per node),
// CHIPBENCH_MPI=on says yes (singleton MPI).
int cb_mpi_launched(void);

// MPI_Init once; CB_ERR_UNSUPPORTED "built without MPI" when not built in.
enum cb_status cb_mpi_init(void);
// MPI_Finalize if cb_mpi_init succeeded; safe to call more than once.
void cb_mpi_finalize(void);
int cb_mpi_active(void);  // initialised and not finalised
int cb_mpi_rank(void);    // 0 when not active
int cb_mpi_size(void);    // 1 when not active

// Replace v[0..n-1] (n <= 8) by their maximum over the ranks; a no-op when
// not active. The one way ranks take identical decisions.
enum cb_status cb_mpi_max(double *v, int n);
// Every rank's ok (1/0) -> 1 when all are ok; *bad_rank = the lowest rank
// that was not (-1 when all were). A no-op returning ok when not active.
enum cb_status cb_mpi_all_ok(int ok, int *all_ok, int *bad_rank);

// nccl-tests' bus bandwidth factor of an all-reduce over `ranks` ranks:
// 2 (N - 1) / N. busbw = algbw * factor; 0 for one rank (nothing moves).
double cb_allreduce_bus_factor(int ranks);

#endif
