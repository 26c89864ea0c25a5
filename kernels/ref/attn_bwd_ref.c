// attn_bwd_ref.c: PLACEHOLDER (empty table), being written.
#include <stddef.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

const struct cb_kernel cb_attn_bwd_ref_kernels[] = {
    {.name = NULL},
};
