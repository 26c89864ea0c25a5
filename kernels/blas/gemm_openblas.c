// gemm_openblas.c: OpenBLAS cblas_sgemm as the CPU baseline ("how far from
// OpenBLAS are we"). Built only when pkg-config finds openblas.
//
// OpenBLAS owns its thread pool; the plan sets its thread count (a process-
// wide setting, fine because the harness runs one row at a time), and the
// harness binds the process to the chosen cores so the pool inherits them.
#include <cblas.h>
#include <stdio.h>

#include "chipbench/cb_info.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

// OpenBLAS extensions (declared in its cblas.h; repeated here would clash).

static enum cb_status openblas_plan(const struct cb_kernel *k, const struct cb_plan_req *req,
                                    void **plan)
{
    openblas_set_num_threads(req->threads);
    *plan = NULL;
    return CB_OK;
}

// C(m,n) = alpha * op(A) * op(B) + beta * C, row-major.
static enum cb_status gemm_f32_openblas(void *plan, const struct cb_call *call)
{
    const struct cb_gemm_args *g = &call->u.gemm;
    cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
                g->trans_b ? CblasTrans : CblasNoTrans, (blasint)g->m, (blasint)g->n,
                (blasint)g->k, g->alpha, g->a, (blasint)g->lda, g->b, (blasint)g->ldb,
                g->beta, g->c, (blasint)g->ldc);
    return CB_OK;
}

const char *cb_blas_core(void) { return openblas_get_corename(); }

void cb_blas_describe(char *buf, size_t len)
{
    snprintf(buf, len, "OpenBLAS core=%s threads=%d parallel=%d config=%s",
             openblas_get_corename(), openblas_get_num_threads(), openblas_get_parallel(),
             openblas_get_config());
}

const struct cb_kernel cb_gemm_openblas_kernels[] = {
    {
        .name = "gemm_f32_openblas",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_OPENBLAS,
        .priority = 10,
        .plan = openblas_plan,
        .run = gemm_f32_openblas,
        .desc = "OpenBLAS cblas_sgemm (baseline)",
    },
    {.name = NULL},
};
