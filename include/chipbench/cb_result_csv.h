// cb_result_csv.h: the result CSV schema (documented in results/README.md)
// and the conversion of a result row plus the run context into cells.
#ifndef CHIPBENCH_CB_RESULT_CSV_H
#define CHIPBENCH_CB_RESULT_CSV_H

#include <stdint.h>
#include "cb_bench.h"
#include "cb_csv.h"

// Bump when a column's meaning changes; columns are only ever appended.
#define CB_CSV_SCHEMA_VERSION 1

extern const char *const cb_result_columns[];
extern const int cb_result_ncolumns;

// What every row repeats about the run (filled once by cb_context_init).
struct cb_context {
    char host[64];
    char chip_class[160];
    char cpu_vendor[32], cpu_model[80], cpu_codename[64];
    char isa_features[256];   // usable after the cap
    char isa_cap[32];         // CHIPBENCH_ISA or ""
    char cores[16];           // physical cores
    char blas[512];
    char seed[24];
};
void cb_context_init(struct cb_context *c, uint64_t seed);

// Format one row. cells[i] point into *arena (valid until it is freed or
// reused); ncolumns cells.
enum cb_status cb_result_cells(const struct cb_context *ctx, const struct cb_result *r,
                               struct cb_strbuf *arena, const char **cells);

#endif
