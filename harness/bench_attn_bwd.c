// bench_attn_bwd.c: attention-backward benchmark data and its float64
// check. PLACEHOLDER: replaced by the real benchmark; until then every
// backward row is skipped with this reason.
#include "chipbench/cb_bench.h"

static enum cb_status bwd_check_shape(const struct cb_call *shape)
{
    (void)shape;
    return cb_set_error(CB_ERR_UNSUPPORTED, "attention backward benchmark not built yet");
}

const struct cb_bench cb_bench_attn_bwd = {
    .op = CB_OP_ATTN_BWD,
    .check_shape = bwd_check_shape,
};
