// attn_bwd_avx512.c: PLACEHOLDER (empty table), being written.
#include <stddef.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

const struct cb_kernel cb_attn_bwd_avx512_kernels[] = {
    {.name = NULL},
};
