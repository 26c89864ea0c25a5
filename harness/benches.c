// benches.c: the one table of per-op benchmarks.
#include "chipbench/cb_bench.h"

extern const struct cb_bench cb_bench_gemm;
extern const struct cb_bench cb_bench_attn;
extern const struct cb_bench cb_bench_attn_bwd;
extern const struct cb_bench cb_bench_stream;
extern const struct cb_bench cb_bench_allreduce;

static const struct cb_bench *const cb_benches[CB_OP_COUNT] = {
    [CB_OP_GEMM] = &cb_bench_gemm,
    [CB_OP_ATTN] = &cb_bench_attn,
    [CB_OP_ATTN_BWD] = &cb_bench_attn_bwd,
    [CB_OP_STREAM] = &cb_bench_stream,
    [CB_OP_ALLREDUCE] = &cb_bench_allreduce,
};

const struct cb_bench *cb_bench_for(enum cb_op op)
{
    return (unsigned)op < CB_OP_COUNT ? cb_benches[op] : 0;
}
