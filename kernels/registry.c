// registry.c: the one place that lists the kernel tables, plus selection.
//
// Adding a kernel (the three-edit rule): (1) write it and add a row to its
// file's table; (2) a new file's table goes into cb_tables[] below; (3) a new
// ISA needs its flags in the Makefile. Nothing here is ISA-specific: this
// file is compiled for the baseline so selection itself never faults.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "kernel_tables.h"

static const struct cb_kernel *const cb_tables[] = {
    cb_gemm_ref_kernels,
    cb_attn_ref_kernels,
    cb_attn_bwd_ref_kernels,
    cb_stream_ref_kernels,
    // Listed with or without MPI: unavailable rows say why (allreduce_mpi.c).
    cb_allreduce_mpi_kernels,
#if CB_HAVE_AVX2
    cb_stream_avx2_kernels,
    cb_gemm_avx2_kernels,
    cb_attn_avx2_kernels, cb_attn_bwd_avx2_kernels,
#endif
#if CB_HAVE_AVX512
    cb_gemm_avx512_kernels,
    cb_gemm_bf16_avx512_kernels,
    cb_attn_avx512_kernels,
    cb_attn_bwd_avx512_kernels,
    cb_stream_avx512_kernels,
#endif
#if CB_HAVE_AMX
    cb_gemm_bf16_amx_kernels,
#endif
#if CB_HAVE_NEON
    cb_gemm_neon_kernels,
    cb_attn_neon_kernels,
    cb_attn_bwd_neon_kernels,
#endif
#if CB_HAVE_OPENBLAS
    cb_gemm_openblas_kernels,
    cb_attn_openblas_kernels,
    cb_attn_bwd_openblas_kernels,
#endif
#if CB_HAVE_ONEDNN
    cb_gemm_onednn_kernels,
#endif
#if CB_HAVE_OPENCL
    cb_gemm_opencl_kernels,
    cb_gemm_mma_opencl_kernels,
    cb_attn_opencl_kernels,
    cb_attn_mma_opencl_kernels,
    cb_attn_bwd_opencl_kernels,
    cb_stream_opencl_kernels,
#endif
#if CB_HAVE_CLBLAST
    cb_gemm_clblast_kernels,
#endif
    // Loaded at run time where the machine has CUDA (else unavailable).
    cb_gemm_cublas_kernels,
    // Last: the kernels of libraries this build lacks, each saying so.
    cb_absent_kernels,
};

#define NTABLES (int)(sizeof cb_tables / sizeof cb_tables[0])

int cb_registry_count(void)
{
    int n = 0;
    for (int t = 0; t < NTABLES; t++)
        for (const struct cb_kernel *k = cb_tables[t]; k->name; k++)
            n++;
    return n;
}

const struct cb_kernel *cb_registry_get(int i)
{
    if (i < 0)
        return NULL;
    for (int t = 0; t < NTABLES; t++)
        for (const struct cb_kernel *k = cb_tables[t]; k->name; k++)
            if (i-- == 0)
                return k;
    return NULL;
}

const struct cb_kernel *cb_registry_find(const char *name)
{
    for (int t = 0; name && t < NTABLES; t++)
        for (const struct cb_kernel *k = cb_tables[t]; k->name; k++)
            if (strcmp(k->name, name) == 0)
                return k;
    return NULL;
}

enum cb_status cb_kernel_usable(const struct cb_kernel *k)
{
    uint64_t have = cb_cpu_features();
    uint64_t missing = k->isa & ~have;
    if (missing) {
        char names[256];
        cb_cpu_features_str(missing, names, sizeof names);
        const char *cap = getenv("CHIPBENCH_ISA");
        uint64_t os = cb_cpu_info()->os_features;
        if ((k->isa & ~os) == 0 && cap)
            return cb_set_error(CB_ERR_UNSUPPORTED, "needs %s (capped by CHIPBENCH_ISA=%s)",
                                names, cap);
        if ((k->isa & ~cb_cpu_info()->cpuid_features) == 0)
            return cb_set_error(CB_ERR_UNSUPPORTED, "needs %s (CPU has it, OS does not enable it)",
                                names);
        return cb_set_error(CB_ERR_UNSUPPORTED, "needs %s (not on this CPU)", names);
    }
    if (k->available)
        return k->available();
    return CB_OK;
}

enum cb_status cb_registry_best(enum cb_op op, enum cb_dtype dtype,
                                const struct cb_kernel **out)
{
    *out = NULL;
    const char *forced = getenv("CHIPBENCH_KERNEL");
    if (forced && *forced) {
        const struct cb_kernel *k = cb_registry_find(forced);
        if (!k)
            return cb_set_error(CB_ERR_INVALID_ARG,
                                "CHIPBENCH_KERNEL=%s: no such kernel (see `chipbench list`)",
                                forced);
        if (k->op == op && k->dtype == dtype) {
            enum cb_status s = cb_kernel_usable(k);
            if (s != CB_OK) {
                char why[512];
                snprintf(why, sizeof why, "%s", cb_error_text());
                return cb_set_error(s, "CHIPBENCH_KERNEL=%s cannot run here: %s", forced, why);
            }
            *out = k;
            return CB_OK;
        }
        // Forced kernel is for another op/dtype: normal selection here.
    }
    const struct cb_kernel *best = NULL;
    for (int t = 0; t < NTABLES; t++)
        for (const struct cb_kernel *k = cb_tables[t]; k->name; k++)
            if (k->op == op && k->dtype == dtype && cb_kernel_usable(k) == CB_OK &&
                (!best || k->priority > best->priority))
                best = k;
    if (!best)
        return cb_set_error(CB_ERR_UNSUPPORTED, "no usable %s %s kernel", cb_op_name(op),
                            cb_dtype_name(dtype));
    *out = best;
    return CB_OK;
}

int cb_name_match(const char *p, const char *s)
{
    // Iterative glob with single-star backtracking: linear, no recursion.
    const char *star = NULL, *ss = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            ss = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++ss;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

static const char *const op_names[CB_OP_COUNT] = {
    [CB_OP_GEMM] = "gemm",
    [CB_OP_ATTN] = "attention",
    [CB_OP_ATTN_BWD] = "attention_bwd",
    [CB_OP_STREAM] = "stream",
    [CB_OP_ALLREDUCE] = "allreduce",
};
static const char *const dtype_names[CB_DTYPE_COUNT] = {
    [CB_DTYPE_F32] = "f32",
    [CB_DTYPE_F16] = "f16",
    [CB_DTYPE_BF16] = "bf16",
    [CB_DTYPE_TF32] = "tf32",
};
static const int dtype_sizes[CB_DTYPE_COUNT] = {
    [CB_DTYPE_F32] = 4,
    [CB_DTYPE_F16] = 2,
    [CB_DTYPE_BF16] = 2,
    [CB_DTYPE_TF32] = 4,
};
static const char *const backend_names[CB_BACKEND_COUNT] = {
    [CB_BACKEND_REF] = "ref",
    [CB_BACKEND_AVX2] = "avx2",
    [CB_BACKEND_AVX512] = "avx512",
    [CB_BACKEND_AMX] = "amx",
    [CB_BACKEND_NEON] = "neon",
    [CB_BACKEND_OPENBLAS] = "openblas",
    [CB_BACKEND_ONEDNN] = "onednn",
    [CB_BACKEND_OPENCL] = "opencl",
    [CB_BACKEND_CLBLAST] = "clblast",
    [CB_BACKEND_MPI] = "mpi",
    [CB_BACKEND_CUBLAS] = "cublas",
};

const char *cb_op_name(enum cb_op op)
{
    return (unsigned)op < CB_OP_COUNT ? op_names[op] : "?";
}
const char *cb_dtype_name(enum cb_dtype d)
{
    return (unsigned)d < CB_DTYPE_COUNT ? dtype_names[d] : "?";
}
const char *cb_backend_name(enum cb_backend b)
{
    return (unsigned)b < CB_BACKEND_COUNT ? backend_names[b] : "?";
}
int cb_dtype_size(enum cb_dtype d)
{
    return (unsigned)d < CB_DTYPE_COUNT ? dtype_sizes[d] : 0;
}

enum cb_status cb_op_parse(const char *s, enum cb_op *out)
{
    for (int i = 0; s && i < CB_OP_COUNT; i++)
        if (strcmp(s, op_names[i]) == 0) {
            *out = (enum cb_op)i;
            return CB_OK;
        }
    if (s && strcmp(s, "attn") == 0) {
        *out = CB_OP_ATTN;
        return CB_OK;
    }
    if (s && strcmp(s, "attn_bwd") == 0) {
        *out = CB_OP_ATTN_BWD;
        return CB_OK;
    }
    return cb_set_error(CB_ERR_INVALID_ARG, "unknown op '%s' (gemm, attention, attention_bwd, stream, allreduce)",
                        s ? s : "");
}

enum cb_status cb_dtype_parse(const char *s, enum cb_dtype *out)
{
    for (int i = 0; s && i < CB_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_names[i]) == 0) {
            *out = (enum cb_dtype)i;
            return CB_OK;
        }
    return cb_set_error(CB_ERR_INVALID_ARG, "unknown dtype '%s' (f32, f16, bf16)", s ? s : "");
}

double cb_call_flops(const struct cb_call *c)
{
    if (c->op == CB_OP_GEMM) {
        const struct cb_gemm_args *g = &c->u.gemm;
        return 2.0 * (double)g->m * (double)g->n * (double)g->k;
    }
    if (c->op == CB_OP_STREAM)
        return 2.0 * (double)c->u.stream.n;
    if (c->op == CB_OP_ALLREDUCE)
        return 0.0;
    const struct cb_attn_args *a = &c->u.attn;
    double f = 4.0 * (double)a->batch * (double)a->heads * (double)a->seq_q *
               (double)a->seq_kv * (double)a->head_dim;
    if (c->op == CB_OP_ATTN_BWD)
        f *= 2.5;
    return a->causal ? f / 2 : f;
}

int cb_shape_as_op(const struct cb_call *shape, enum cb_op op, struct cb_call *out)
{
    int fits = shape->op == op ||
               (shape->op == CB_OP_ATTN && op == CB_OP_ATTN_BWD) ||
               (shape->op == CB_OP_ATTN_BWD && op == CB_OP_ATTN);
    if (!fits)
        return 0;
    memset(out, 0, sizeof *out);
    out->op = op;
    if (op == CB_OP_ALLREDUCE) {
        out->u.allreduce.bytes = shape->u.allreduce.bytes;
    } else if (op == CB_OP_STREAM) {
        out->u.stream = shape->u.stream;
        out->u.stream.a = NULL;
        out->u.stream.b = out->u.stream.c = NULL;
    } else if (op == CB_OP_GEMM) {
        out->u.gemm = shape->u.gemm;
        out->u.gemm.a = out->u.gemm.b = NULL;
        out->u.gemm.c = NULL;
    } else {
        out->u.attn = shape->u.attn;
        out->u.attn.q = out->u.attn.k = out->u.attn.v = NULL;
        out->u.attn.o = NULL;
        out->u.attn.lse = NULL;
    }
    return 1;
}

double cb_call_bytes(const struct cb_call *c, enum cb_dtype d)
{
    double es = cb_dtype_size(d);
    if (c->op == CB_OP_GEMM) {
        const struct cb_gemm_args *g = &c->u.gemm;
        double mn = (double)g->m * (double)g->n;
        // C is f32 for every dtype here (f32 accumulate and output).
        return es * ((double)g->m * g->k + (double)g->k * g->n) +
               4.0 * mn * (g->beta != 0.0f ? 2 : 1);
    }
    if (c->op == CB_OP_ALLREDUCE)  // the payload of one rank, whatever the dtype
        return (double)c->u.allreduce.bytes;
    if (c->op == CB_OP_STREAM)  // b, c read, a written; no write-allocate
        return es * 3.0 * (double)c->u.stream.n;
    const struct cb_attn_args *a = &c->u.attn;
    double qo = (double)a->batch * a->heads * a->seq_q * a->head_dim;
    double kv = (double)a->batch * a->kv_heads * a->seq_kv * a->head_dim;
    if (c->op == CB_OP_ATTN_BWD)  // Q, O, dO, dQ; K, V, dK, dV; lse
        return es * (4 * qo + 4 * kv) + 4.0 * a->batch * a->heads * a->seq_q;
    return es * (2 * qo + 2 * kv);
}
