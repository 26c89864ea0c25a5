// host.c: host name and the BLAS description when built without OpenBLAS
// (with OpenBLAS, kernels/blas/gemm_openblas.c describes it).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <strings.h>

#include "chipbench/cb_cpu.h"
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
const char *cb_blas_core(void) { return NULL; }
#endif

// OpenBLAS x86-64 core names by the widest vectors their kernels use.
static const struct {
    const char *name;
    int width;  // 128: SSE, 256: AVX/AVX2, 512: AVX-512
} blas_cores[] = {
    {"Katmai", 128},     {"Coppermine", 128}, {"Northwood", 128}, {"Prescott", 128},
    {"Banias", 128},     {"Core2", 128},      {"Penryn", 128},    {"Dunnington", 128},
    {"Nehalem", 128},    {"Atom", 128},       {"Opteron", 128},   {"Barcelona", 128},
    {"Bobcat", 128},     {"Nano", 128},       {"Sandybridge", 256}, {"Haswell", 256},
    {"Zen", 256},        {"Bulldozer", 256},  {"Piledriver", 256}, {"Steamroller", 256},
    {"Excavator", 256},  {"SkylakeX", 512},   {"Cooperlake", 512}, {"SapphireRapids", 512},
};

int cb_blas_core_note(const char *core, uint64_t features, char *buf, size_t len)
{
    if (len)
        buf[0] = 0;
    if (!core)
        return 0;
    int width = 0;
    for (size_t i = 0; i < sizeof blas_cores / sizeof blas_cores[0]; i++)
        if (!strcasecmp(core, blas_cores[i].name))
            width = blas_cores[i].width;
    const int avx512 = (features & CB_ISA_GROUP_AVX512) == CB_ISA_GROUP_AVX512;
    const int avx2 = (features & CB_ISA_GROUP_AVX2) == CB_ISA_GROUP_AVX2;
    const int cpu = avx512 ? 512 : avx2 ? 256 : 0;
    if (!width || width >= cpu)
        return 0;
    const char *fix = !avx512 ? "Haswell"
                      : (features & CB_ISA_AVX512_BF16) ? "Cooperlake" : "SkylakeX";
    snprintf(buf, len,
             "OpenBLAS runs its %s core (%s) on a CPU with %s: the baseline is not the best "
             "OpenBLAS can do here; OPENBLAS_CORETYPE=%s selects its %s kernels",
             core, width == 128 ? "SSE" : "AVX2", cpu == 512 ? "AVX-512" : "AVX2", fix,
             cpu == 512 ? "AVX-512" : "AVX2");
    return 1;
}

#if !CB_HAVE_ONEDNN
void cb_onednn_describe(char *buf, size_t len)
{
    if (len)
        buf[0] = 0;
}
#endif
