// amx_config.h: the one AMX tile configuration chipbench uses (palette 1,
// all eight tiles 16 rows x 64 bytes), shared by the AMX GEMM kernel and
// the peak measurement in scripts/roofs.c. Call only where the tile unit is
// usable (cb_cpu_features has CB_ISA_AMX_TILE: CPUID, XCR0 and the Linux
// permission); the target attribute lets a file without -mamx-tile use it.
#ifndef CHIPBENCH_AMX_CONFIG_H
#define CHIPBENCH_AMX_CONFIG_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

// ldtilecfg also zeroes every tile: load it once per thread and call, never
// per microkernel call; _tile_release() after the last tile instruction.
static inline __attribute__((target("amx-tile"))) void amx_config_16x64(void)
{
    _Alignas(64) struct {
        uint8_t palette, start_row, reserved[14];
        uint16_t colsb[16];
        uint8_t rows[16];
    } cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
}

#endif
