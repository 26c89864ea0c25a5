// fuzz_csv.c: libFuzzer target for the CSV reader (cb_csv_parse, the core of
// cb_csv_read and of every CSV input chipbench takes).
//
// Besides "no crash, no leak, no undefined behaviour" (ASan + UBSan) it
// checks two properties of every input that parses:
// - the table is well formed: ncols >= 1, every cell a string, column
//   lookup by header name finds a column with that name;
// - round trip: the table serialized the way the writer does it
//   (cb_csv_append_field per cell, ',' between, "\n" after each row, `""`
//   for the one-column empty row: csv.c append_row) parses back to the same
//   cells. That includes the formula guard (csv.c formula_guarded: the
//   writer's leading apostrophe, which the reader removes) and UTF-8 (the
//   reader rejects invalid bytes, so every cell here is valid).
// What it is not: a test of the file side of cb_csv_read (open, size limit),
// which tests/test_csv.c covers.
// A property violation calls abort(): that is how a libFuzzer target reports
// a finding (the input is saved as crash-<sha1>).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cb_csv_table t, u;
    if (cb_csv_parse((const char *)data, size, &t) != CB_OK)
        return 0;
    if (t.ncols < 1 || t.nrows < 0 || !t.header || !t.storage)
        abort();
    for (int c = 0; c < t.ncols; c++) {
        int k = cb_csv_col(&t, t.header[c]);
        if (k < 0 || k > c || strcmp(t.header[k], t.header[c]))
            abort();
    }
    struct cb_strbuf b = {0};
    for (int r = -1; r < t.nrows; r++) {
        const char *const *row = r < 0 ? (const char *const *)t.header
                                        : (const char *const *)t.cells + (size_t)r * t.ncols;
        if (t.ncols == 1 && !row[0][0]) {
            if (cb_strbuf_append(&b, "\"\"", 2) != CB_OK)
                abort();
        } else {
            for (int c = 0; c < t.ncols; c++)
                if ((c && cb_strbuf_append(&b, ",", 1) != CB_OK) ||
                    cb_csv_append_field(&b, row[c]) != CB_OK)
                    abort();
        }
        if (cb_strbuf_append(&b, "\n", 1) != CB_OK)
            abort();
    }
    if (cb_csv_parse(b.data, b.len, &u) != CB_OK) {
        fprintf(stderr, "round trip: written table does not parse: %s\n", cb_error_msg());
        abort();
    }
    if (u.ncols != t.ncols || u.nrows != t.nrows)
        abort();
    for (int r = -1; r < t.nrows; r++)
        for (int c = 0; c < t.ncols; c++) {
            const char *x = r < 0 ? t.header[c] : cb_csv_cell(&t, r, c);
            const char *y = r < 0 ? u.header[c] : cb_csv_cell(&u, r, c);
            if (strcmp(x, y)) {
                fprintf(stderr, "round trip: row %d col %d: '%s' came back as '%s'\n", r, c,
                        x, y);
                abort();
            }
        }
    cb_csv_table_free(&u);
    cb_strbuf_free(&b);
    cb_csv_table_free(&t);
    return 0;
}
