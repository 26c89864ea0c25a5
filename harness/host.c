// host.c: host name and the BLAS description when built without OpenBLAS
// (with OpenBLAS, kernels/blas/gemm_openblas.c describes it).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chipbench/cb_info.h"

void cb_host_name(char *buf, size_t len)
{
    char h[256] = {0};
    if (gethostname(h, sizeof h - 1) != 0 || !h[0])
        snprintf(h, sizeof h, "unknown");
    char *dot = strchr(h, '.');
    if (dot)
        *dot = 0;
    snprintf(buf, len, "%s", h);
}

#if !CB_HAVE_OPENBLAS
void cb_blas_describe(char *buf, size_t len)
{
    if (len)
        buf[0] = 0;
}
#endif

#if !CB_HAVE_ONEDNN
void cb_onednn_describe(char *buf, size_t len)
{
    if (len)
        buf[0] = 0;
}
#endif
