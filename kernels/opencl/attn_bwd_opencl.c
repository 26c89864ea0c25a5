// attn_bwd_opencl.c: PLACEHOLDER (empty table), being written.
#include <stddef.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

const struct cb_kernel cb_attn_bwd_opencl_kernels[] = {
    {.name = NULL},
};
