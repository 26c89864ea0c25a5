// cb_csv.h: RFC 4180 CSV writing and reading.
//
// Writing is atomic at row granularity: after every row the whole file is
// written to a temporary file in the same directory, flushed to disk and
// renamed over the target. At any moment `path` is either the previous file
// or a complete, valid CSV holding every row finished so far; an interrupted
// or killed run never leaves a truncated or half-written result file.
//
// A symlinked path replaces the file it points to; a device or pipe
// (/dev/stdout, /dev/full) is written in place, row by row.
//
// Cells are text: callers format numbers (main sets LC_NUMERIC=C). Text is
// UTF-8 (invalid bytes are written as U+FFFD, and rejected when read). A
// text cell starting with = + - @ TAB or CR is written with a leading
// apostrophe against spreadsheet formula injection; numbers are not; the
// reader removes exactly that apostrophe (results/README.md).
#ifndef CHIPBENCH_CB_CSV_H
#define CHIPBENCH_CB_CSV_H

#include <stddef.h>
#include "cb_status.h"

struct cb_csv_writer;  // opaque

// Open a writer for `path` with the given header. Nothing touches `path`
// until the first publish (the header alone is published immediately so an
// empty run still leaves a valid file). CB_ERR_IO with the reason when the
// directory is not writable.
enum cb_status cb_csv_open(const char *path, const char *const *header,
                           int ncols, struct cb_csv_writer **out);
// Append one row (exactly ncols cells; NULL cells are empty) and publish.
// On CB_ERR_IO the previous published file is intact.
enum cb_status cb_csv_write_row(struct cb_csv_writer *w,
                                const char *const *cells, int ncells);
// Free the writer (rows are already published). NULL is fine.
void cb_csv_close(struct cb_csv_writer *w);
// Async-signal-safe: remove the temp file of a publish in progress, if any.
// For a fatal signal's handler (a second Ctrl-C), so that dying in the
// middle of a publish leaves the previous results file and no temp file.
void cb_csv_signal_cleanup(void);

// Append `field` to a growing buffer, quoted only when needed (comma, quote,
// CR or LF inside, or leading/trailing space). Returns CB_ERR_NO_MEMORY.
struct cb_strbuf { char *data; size_t len, cap; };
enum cb_status cb_strbuf_append(struct cb_strbuf *b, const char *s, size_t n);
enum cb_status cb_strbuf_printf(struct cb_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum cb_status cb_csv_append_field(struct cb_strbuf *b, const char *field);
void cb_strbuf_free(struct cb_strbuf *b);

// Parsed table: header plus rows, all cells as NUL-terminated strings.
struct cb_csv_table {
    int ncols, nrows;
    char **header;   // ncols
    char **cells;    // nrows * ncols, row-major
    char *storage;   // owns the strings
};
// Parse text. Rows must all have ncols cells; errors (unterminated quote,
// ragged row, NUL byte) give CB_ERR_PARSE with "line N: ..." in the message.
enum cb_status cb_csv_parse(const char *text, size_t len,
                            struct cb_csv_table *t);
enum cb_status cb_csv_read(const char *path, struct cb_csv_table *t);
void cb_csv_table_free(struct cb_csv_table *t);
// Column index by header name, -1 if absent.
int cb_csv_col(const struct cb_csv_table *t, const char *name);
// Cell text, "" for a bad row/col.
const char *cb_csv_cell(const struct cb_csv_table *t, int row, int col);

#endif
