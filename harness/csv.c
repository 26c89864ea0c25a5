// csv.c: RFC 4180 CSV writing (atomic, row-granular publishing) and strict
// reading, plus the growable string buffer both sides use.
//
// What it is:
// - cb_strbuf_*: a NUL-terminated growable byte buffer with overflow-checked
//   growth.
// - Writer: the whole serialized file (header + rows, "\n" line ends) lives in
//   memory. Every publish writes it to ".<basename>.XXXXXX" in the target's
//   directory, fsyncs it, renames it over the target and fsyncs the directory,
//   so `path` is always either the previous version or a complete new one.
//   A symlink is followed (the rename replaces what it points to, not the
//   link); a target that exists and is not a regular file (/dev/stdout, a
//   pipe, /dev/full) is written in place, row by row: there is no file to
//   replace, and a rename would replace the device node itself.
// - UTF-8: the reader rejects invalid UTF-8 and skips a byte-order mark;
//   the writer replaces invalid bytes with U+FFFD (see utf8_len).
// - Formula guard: a text cell that starts with = + - @ TAB or CR gets a
//   leading apostrophe (see formula_guarded); the reader removes it again.
// - Reader: a strict parser. Quoted fields may hold commas, doubled quotes, CR
//   and LF; rows end in "\n" or "\r\n"; the last row may lack a newline and one
//   empty line at the very end is ignored. Everything else that RFC 4180 does
//   not allow (bare quote or bare CR in an unquoted field, junk after a closing
//   quote, ragged rows, NUL bytes) is CB_ERR_PARSE with "line N: ...".
//
// What it is not: a streaming writer (results files are small: rewriting the
// whole file per row costs microseconds next to a benchmark), a dialect
// sniffer, or a number formatter (callers format numbers in the C locale).
// Nothing here prints or exits; errors are statuses plus cb_set_error detail.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chipbench/cb_csv.h"
#include "chipbench/cb_util.h"
#include "chipbench/cb_status.h"

// Reading a results file bigger than this is almost surely a wrong path (a
// disk image, a log), and it keeps every cell count well inside an int.
#define CB_CSV_MAX_READ ((size_t)1 << 30)

// ---------------------------------------------------------------------------
// Spreadsheet formula injection (OWASP "CSV Injection"): spreadsheets run a
// cell that starts with = + - @ TAB or CR as a formula, and our cells carry
// text from outside (host, device and model names, notes, chip classes read
// from other files). Such a text cell is written with a leading apostrophe,
// which spreadsheets take as "this is text" and do not display. Numbers
// ("-1.5", "+3e-05") are not prefixed: they must stay numbers. Leading
// apostrophes are skipped when deciding, so the rule is reversible: text
// "'=x" is written "''=x", and the reader strips one apostrophe from exactly
// the cells the writer would have prefixed (parse(write(x)) == x for all x).

static int is_decimal(const char *t)
{
    if (t[strspn(t, "0123456789+-.eE")])
        return 0;
    char *end = NULL;
    strtod(t, &end);
    return end != t && !*end;
}

// 1 when `f` needs the apostrophe (writer) or, starting with one, had it
// added (reader).
static int formula_guarded(const char *f)
{
    const char *t = f + strspn(f, "'");
    return *t && strchr("=+-@\t\r", *t) && !is_decimal(t);
}

// ---------------------------------------------------------------------------
// UTF-8: files are UTF-8 text. The reader rejects anything else (a binary or
// Latin-1 file is almost surely the wrong file) and the writer replaces each
// invalid byte of a cell (a driver's device name, a model file's name) with
// U+FFFD, so every file chipbench writes reads back.

// Length of the UTF-8 sequence at p (n bytes left); 0 when invalid: a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate or
// a code point above U+10FFFF.
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

// Offset of the first byte that is not valid UTF-8, or n.
static size_t utf8_bad(const char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n && (k = utf8_len((const unsigned char *)s + i, n - i)) != 0)
        i += k;
    return i;
}

// ---------------------------------------------------------------------------
// Growable buffer

// Make room for `extra` more bytes plus the terminating NUL.
static enum cb_status strbuf_reserve(struct cb_strbuf *b, size_t extra)
{
    if (extra > SIZE_MAX - 1 - b->len)
        return cb_set_error(CB_ERR_NO_MEMORY, "string buffer size overflows");
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return CB_OK;
    // Doubling keeps appends amortised O(1); fall back to the exact need when
    // doubling would overflow.
    size_t cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "string buffer: cannot grow to %zu bytes",
                            cap);
    b->data = p;
    b->cap = cap;
    return CB_OK;
}

enum cb_status cb_strbuf_append(struct cb_strbuf *b, const char *s, size_t n)
{
    if (!b || (!s && n))
        return cb_set_error(CB_ERR_INVALID_ARG, "cb_strbuf_append: NULL argument");
    enum cb_status st = strbuf_reserve(b, n);
    if (st != CB_OK)
        return st;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return CB_OK;
}

enum cb_status cb_strbuf_printf(struct cb_strbuf *b, const char *fmt, ...)
{
    enum cb_status s = CB_OK;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    if (!b || !fmt) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "cb_strbuf_printf: NULL argument");
        goto out;
    }
    // Measure first, then format straight into the buffer.
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "cb_strbuf_printf: bad format \"%s\"", fmt);
        goto out;
    }
    CB_TRY(strbuf_reserve(b, (size_t)n));
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    b->len += (size_t)n;
out:
    va_end(ap2);
    va_end(ap);
    return s;
}

enum cb_status cb_csv_append_field(struct cb_strbuf *b, const char *field)
{
    enum cb_status s = CB_OK;
    if (!b)
        return cb_set_error(CB_ERR_INVALID_ARG, "cb_csv_append_field: NULL buffer");
    const char *f = field ? field : "";
    size_t n = strlen(f);
    if (utf8_bad(f, n) < n) {
        struct cb_strbuf t = {0};
        for (size_t i = 0, k; i < n && s == CB_OK; i += k ? k : 1) {
            k = utf8_len((const unsigned char *)f + i, n - i);
            s = k ? cb_strbuf_append(&t, f + i, k) : cb_strbuf_append(&t, "\xef\xbf\xbd", 3);
        }
        if (s == CB_OK)
            s = cb_csv_append_field(b, t.data);
        cb_strbuf_free(&t);
        return s;
    }
    int guard = formula_guarded(f);
    // Leading/trailing blanks are quoted because many readers trim them.
    // A leading U+FEFF is quoted too: in a file's first cell the reader
    // would take it for the byte-order mark and drop it (tests/fuzz/fuzz_csv).
    int quote = strpbrk(f, ",\"\r\n") != NULL ||
                (n && (f[0] == ' ' || f[0] == '\t' || f[n - 1] == ' ' ||
                       f[n - 1] == '\t')) ||
                !strncmp(f, "\xef\xbb\xbf", 3);
    if (!quote) {
        if (guard)
            CB_TRY(cb_strbuf_append(b, "'", 1));
        return cb_strbuf_append(b, f, n);
    }
    CB_TRY(cb_strbuf_append(b, guard ? "\"'" : "\"", guard ? 2 : 1));
    for (const char *q; (q = strchr(f, '"')) != NULL; f = q + 1) {
        // Copy through the quote, then add its escape twin.
        CB_TRY(cb_strbuf_append(b, f, (size_t)(q - f) + 1));
        CB_TRY(cb_strbuf_append(b, "\"", 1));
    }
    CB_TRY(cb_strbuf_append(b, f, strlen(f)));
    CB_TRY(cb_strbuf_append(b, "\"", 1));
out:
    return s;
}

void cb_strbuf_free(struct cb_strbuf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

// ---------------------------------------------------------------------------
// Writer

struct cb_csv_writer {
    char *path;     // target (a symlink resolved)
    int fd;         // >= 0: a device or pipe, written in place (see top)
    char *dir;      // its directory, for the directory fsync
    char *tmpl;     // "<dir>/.<base>.XXXXXX", copied fresh for each mkstemp
    int ncols;
    struct cb_strbuf buf;  // the whole file as last successfully built
};

// Append one serialized row (cells joined by ',', then "\n").
static enum cb_status append_row(struct cb_strbuf *b, const char *const *cells,
                                 int ncols)
{
    enum cb_status s = CB_OK;
    // A one-column row whose cell is empty would serialize as an empty line,
    // which a reader may drop as a trailing blank line; `""` keeps it a row.
    if (ncols == 1 && (!cells[0] || !cells[0][0]))
        return cb_strbuf_append(b, "\"\"\n", 3);
    for (int i = 0; i < ncols; i++) {
        if (i)
            CB_TRY(cb_strbuf_append(b, ",", 1));
        CB_TRY(cb_csv_append_field(b, cells[i]));
    }
    CB_TRY(cb_strbuf_append(b, "\n", 1));
out:
    return s;
}

// write() until done: regular files may still return short counts (signals,
// RLIMIT_FSIZE, a nearly full disk), so loop and let the next call give errno.
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0) {  // no progress and no errno: treat as a full device
            errno = ENOSPC;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

// The temp file of the publish in progress, for cb_csv_signal_cleanup: the
// name is written by mkstemp into this buffer before the file exists, and
// g_tmp_live is cleared once it is renamed or removed.
static char g_tmp_path[4096];
static volatile sig_atomic_t g_tmp_live;

void cb_csv_signal_cleanup(void)
{
    if (g_tmp_live)
        unlink(g_tmp_path);
}

// Write w->buf to a temp file and rename it over w->path. On failure the temp
// file is gone and w->path is untouched (unless only the final directory fsync
// failed, see below).
static enum cb_status publish(struct cb_csv_writer *w)
{
    enum cb_status s = CB_OK;
    int fd = -1, dfd = -1;
    int tmp_exists = 0;  // a temp file is on disk and must go on failure
    if (w->fd >= 0) {
        // In place: only what was not sent yet (the buffer holds nothing else).
        if (write_all(w->fd, w->buf.data, w->buf.len) != 0)
            return cb_set_error(CB_ERR_IO, "write %s: %s", w->path, strerror(errno));
        w->buf.len = 0;
        w->buf.data[0] = 0;
        return CB_OK;
    }
    char *tmp = strdup(w->tmpl);
    if (!tmp) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "publish %s: out of memory", w->path);
        goto out;
    }
    if (strlen(tmp) < sizeof g_tmp_path) {
        memcpy(g_tmp_path, tmp, strlen(tmp) + 1);
        g_tmp_live = 1;
        fd = mkstemp(g_tmp_path);
        memcpy(tmp, g_tmp_path, strlen(tmp) + 1);
    } else {
        fd = mkstemp(tmp);
    }
    if (fd < 0) {
        s = cb_set_error(CB_ERR_IO, "create temp file for %s: %s", w->path,
                         strerror(errno));
        goto out;
    }
    tmp_exists = 1;
    if (write_all(fd, w->buf.data, w->buf.len) != 0) {
        s = cb_set_error(CB_ERR_IO, "write %s: %s", w->path, strerror(errno));
        goto out;
    }
    // mkstemp creates 0600; results are meant to be shared and read by others.
    if (fchmod(fd, 0644) != 0) {
        s = cb_set_error(CB_ERR_IO, "chmod %s: %s", w->path, strerror(errno));
        goto out;
    }
    // The data must be on disk before the rename makes it visible, or a crash
    // could leave a renamed but empty file.
    if (fsync(fd) != 0) {
        s = cb_set_error(CB_ERR_IO, "fsync %s: %s", w->path, strerror(errno));
        goto out;
    }
    // close() can report deferred write errors (NFS); do not retry on EINTR,
    // Linux has already released the descriptor.
    int rc = close(fd);
    fd = -1;
    if (rc != 0) {
        s = cb_set_error(CB_ERR_IO, "close %s: %s", w->path, strerror(errno));
        goto out;
    }
    if (rename(tmp, w->path) != 0) {
        s = cb_set_error(CB_ERR_IO, "rename %s: %s", w->path, strerror(errno));
        goto out;
    }
    tmp_exists = 0;  // renamed: it is the published file now
    g_tmp_live = 0;
    // Make the rename itself durable. If this fails, `path` already holds the
    // new complete file; we still report it because durability is the
    // contract, and the caller's retry rewrites the same content.
    dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        s = cb_set_error(CB_ERR_IO, "open directory %s: %s", w->dir, strerror(errno));
        goto out;
    }
    // EINVAL: this file system cannot sync directories; nothing more to do.
    if (fsync(dfd) != 0 && errno != EINVAL) {
        s = cb_set_error(CB_ERR_IO, "fsync directory %s: %s", w->dir, strerror(errno));
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    if (tmp_exists)
        unlink(tmp);
    g_tmp_live = 0;
    free(tmp);
    return s;
}

enum cb_status cb_csv_open(const char *path, const char *const *header,
                           int ncols, struct cb_csv_writer **out)
{
    enum cb_status s = CB_OK;
    struct cb_csv_writer *w = NULL;
    char *real = NULL;
    if (out)
        *out = NULL;
    if (!path || !*path || !header || ncols < 1 || !out) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "cb_csv_open: need a path, a header "
                                             "and ncols >= 1 (got %d)", ncols);
        goto out;
    }
    for (int i = 0; i < ncols; i++) {
        if (!header[i]) {
            s = cb_set_error(CB_ERR_INVALID_ARG, "cb_csv_open %s: header[%d] is NULL",
                             path, i);
            goto out;
        }
    }
    w = calloc(1, sizeof *w);
    if (!w) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "cb_csv_open %s: out of memory", path);
        goto out;
    }
    w->fd = -1;
    // rename() over a symlink replaces the link, not the file it points to
    // (and as root, over /dev/stdout, a system-wide link): resolve it first.
    struct stat st;
    int exists = stat(path, &st) == 0;  // follows links
    int in_place = exists && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
    // /dev/stderr -> /proc/self/fd/2 -> "pipe:[..]" has no path to resolve;
    // a device or pipe is opened through the link as it is.
    if (!in_place && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        real = realpath(path, NULL);
        if (!real) {
            s = cb_set_error(CB_ERR_IO, "resolve %s: %s", path, strerror(errno));
            goto out;
        }
        path = real;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "cb_csv_open %s: path names a directory",
                         path);
        goto out;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        s = cb_set_error(CB_ERR_IO, "cb_csv_open %s: %s", path, strerror(EISDIR));
        goto out;
    }
    w->ncols = ncols;
    w->path = strdup(path);
    size_t dlen = slash ? (size_t)(slash - path) : 0;  // without the slash
    // "a.csv" lives in "."; "/a.csv" lives in "/".
    w->dir = slash ? strndup(path, dlen ? dlen : 1) : strdup(".");
    size_t tlen = strlen(path) + sizeof "/..XXXXXX";
    w->tmpl = malloc(tlen);
    if (!w->path || !w->dir || !w->tmpl) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "cb_csv_open %s: out of memory", path);
        goto out;
    }
    snprintf(w->tmpl, tlen, "%.*s.%s.XXXXXX", (int)(slash ? dlen + 1 : 0), path,
             base);
    if (in_place) {
        w->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (w->fd < 0) {
            s = cb_set_error(CB_ERR_IO, "open %s: %s", path, strerror(errno));
            goto out;
        }
    }
    CB_TRY(append_row(&w->buf, header, ncols));
    // Publish the header now so an unwritable directory fails before any
    // benchmark has spent minutes producing rows.
    CB_TRY(publish(w));
    *out = w;
    w = NULL;
out:
    cb_csv_close(w);
    free(real);
    return s;
}

enum cb_status cb_csv_write_row(struct cb_csv_writer *w,
                                const char *const *cells, int ncells)
{
    enum cb_status s = CB_OK;
    size_t old_len = w ? w->buf.len : 0;
    if (!w || !cells) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "cb_csv_write_row: NULL argument");
        goto out;
    }
    if (ncells != w->ncols) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "%s: row has %d cells, header has %d",
                         w->path, ncells, w->ncols);
        goto out;
    }
    CB_TRY(append_row(&w->buf, cells, ncells));
    CB_TRY(publish(w));
out:
    // Drop a row that was not published, so a retry does not write it twice.
    if (s != CB_OK && w && w->buf.data) {
        w->buf.len = old_len;
        w->buf.data[old_len] = 0;
    }
    return s;
}

void cb_csv_close(struct cb_csv_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    cb_strbuf_free(&w->buf);
    free(w->path);
    free(w->dir);
    free(w->tmpl);
    free(w);
}

// ---------------------------------------------------------------------------
// Reader

// Physical line (1-based) of byte offset `off`: used only on error paths.
static int line_of(const char *text, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++)
        line += text[i] == '\n';
    return line;
}

static enum cb_status push_cell(char ***v, size_t *n, size_t *cap, char *cell)
{
    if (*n == *cap) {
        // Counts stay below INT_MAX (cb_csv_table uses int), so this cannot
        // overflow size_t arithmetic on any supported platform.
        size_t c = *cap ? *cap * 2 : 64;
        char **p = realloc(*v, c * sizeof *p);
        if (!p)
            return cb_set_error(CB_ERR_NO_MEMORY, "csv: cannot grow cell table");
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = cell;
    return CB_OK;
}

enum cb_status cb_csv_parse(const char *text, size_t len,
                            struct cb_csv_table *t)
{
    enum cb_status s = CB_OK;
    char *storage = NULL;
    char **cells = NULL;
    size_t ncells = 0, cap = 0;
    int ncols = -1, nrows = 0;
    if (t)
        memset(t, 0, sizeof *t);
    if (!t || (!text && len)) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "cb_csv_parse: NULL argument");
        goto out;
    }
    const char *nul = len ? memchr(text, 0, len) : NULL;
    if (nul) {
        s = cb_set_error(CB_ERR_PARSE, "line %d: NUL byte in input",
                         line_of(text, (size_t)(nul - text)));
        goto out;
    }
    size_t bad = utf8_bad(text, len);
    if (bad < len) {
        s = cb_set_error(CB_ERR_PARSE, "line %d: invalid UTF-8 (byte 0x%02x)",
                         line_of(text, bad), (unsigned char)text[bad]);
        goto out;
    }
    // A byte-order mark (spreadsheets save "CSV UTF-8" with one) is not part
    // of the first column's name.
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
        text += 3;
        len -= 3;
    }
    // Each field's unescaped text plus its NUL fits in its raw bytes plus the
    // delimiter after it; only the very last field lacks a delimiter: +1.
    storage = malloc(len + 1);
    if (!storage) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "csv: cannot allocate %zu bytes", len + 1);
        goto out;
    }
    char *dst = storage;
    size_t p = 0;
    int line = 1;
    for (;;) {  // one record per iteration
        size_t rest = len - p;
        if (rest == 0)
            break;
        int blank = text[p] == '\n' || (rest >= 2 && text[p] == '\r' &&
                                          text[p + 1] == '\n');
        // One blank line at the very end is an editor artefact, not a row.
        if (blank && rest == (text[p] == '\n' ? 1u : 2u))
            break;
        // A blank first line would read as one nameless column; it is far
        // more likely a broken file than a real schema.
        if (blank && ncols < 0) {
            s = cb_set_error(CB_ERR_PARSE, "line 1: empty header line");
            goto out;
        }
        int row_line = line, row_cells = 0;
        for (;;) {  // one field per iteration
            char *field = dst;
            if (p < len && text[p] == '"') {
                int quote_line = line;
                p++;
                for (;;) {
                    if (p >= len) {
                        s = cb_set_error(CB_ERR_PARSE, "line %d: unterminated quoted "
                                                       "field", quote_line);
                        goto out;
                    }
                    char c = text[p];
                    if (c == '"') {
                        if (p + 1 < len && text[p + 1] == '"') {
                            *dst++ = '"';
                            p += 2;
                            continue;
                        }
                        p++;
                        break;
                    }
                    line += c == '\n';
                    *dst++ = c;
                    p++;
                }
                if (p < len && text[p] != ',' && text[p] != '\n' &&
                    !(text[p] == '\r' && p + 1 < len && text[p + 1] == '\n')) {
                    unsigned char c = (unsigned char)text[p];
                    if (c >= 0x20 && c < 0x7f)
                        s = cb_set_error(CB_ERR_PARSE, "line %d: unexpected '%c' "
                                         "after closing quote", line, c);
                    else
                        s = cb_set_error(CB_ERR_PARSE, "line %d: unexpected byte "
                                         "0x%02x after closing quote", line, c);
                    goto out;
                }
            } else {
                while (p < len && text[p] != ',' && text[p] != '\n') {
                    char c = text[p];
                    if (c == '\r') {
                        if (p + 1 < len && text[p + 1] == '\n')
                            break;
                        s = cb_set_error(CB_ERR_PARSE, "line %d: bare CR in unquoted "
                                                       "field", line);
                        goto out;
                    }
                    if (c == '"') {
                        s = cb_set_error(CB_ERR_PARSE, "line %d: quote inside unquoted "
                                                       "field (quote the whole field)",
                                         line);
                        goto out;
                    }
                    *dst++ = c;
                    p++;
                }
            }
            *dst++ = 0;
            if (*field == '\'' && formula_guarded(field))
                field++;  // the writer's formula guard (see formula_guarded)
            if (ncells >= INT_MAX) {
                s = cb_set_error(CB_ERR_PARSE, "line %d: too many cells", line);
                goto out;
            }
            CB_TRY(push_cell(&cells, &ncells, &cap, field));
            row_cells++;
            // Here p is at ',', "\n", "\r\n" or the end of input.
            if (p == len)
                break;
            if (text[p] == ',') {
                p++;
                continue;
            }
            p += text[p] == '\r' ? 2 : 1;
            line++;
            break;
        }
        if (ncols < 0) {
            ncols = row_cells;
        } else if (row_cells != ncols) {
            s = cb_set_error(CB_ERR_PARSE, "line %d: expected %d cells (as in the "
                                           "header), got %d", row_line, ncols,
                             row_cells);
            goto out;
        } else {
            nrows++;
        }
    }
    if (ncols < 0) {
        s = cb_set_error(CB_ERR_PARSE, "line 1: empty input (no header)");
        goto out;
    }
    t->ncols = ncols;
    t->nrows = nrows;
    t->header = cells;  // one array: ncols header cells, then the rows
    t->cells = cells + ncols;
    t->storage = storage;
    cells = NULL;
    storage = NULL;
out:
    free(cells);
    free(storage);
    return s;
}

enum cb_status cb_csv_read(const char *path, struct cb_csv_table *t)
{
    if (t)
        memset(t, 0, sizeof *t);
    if (!path || !t)
        return cb_set_error(CB_ERR_INVALID_ARG, "cb_csv_read: NULL argument");
    char *text;
    size_t len;
    enum cb_status s = cb_read_file(path, CB_CSV_MAX_READ, &text, &len);
    if (s != CB_OK)
        return s;
    s = cb_csv_parse(text, len, t);
    free(text);
    if (s == CB_ERR_PARSE) {
        // Prefix the path: "line 3: ..." alone does not say which file.
        char msg[768];
        snprintf(msg, sizeof msg, "%s", cb_error_text());
        s = cb_set_error(CB_ERR_PARSE, "%s: %s", path, msg);
    }
    return s;
}

void cb_csv_table_free(struct cb_csv_table *t)
{
    if (!t)
        return;
    free(t->header);  // also holds t->cells (see cb_csv_parse)
    free(t->storage);
    memset(t, 0, sizeof *t);
}

int cb_csv_col(const struct cb_csv_table *t, const char *name)
{
    if (!t || !t->header || !name)
        return -1;
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->header[i], name) == 0)
            return i;
    return -1;
}

const char *cb_csv_cell(const struct cb_csv_table *t, int row, int col)
{
    if (!t || !t->cells || row < 0 || row >= t->nrows || col < 0 || col >= t->ncols)
        return "";
    return t->cells[(size_t)row * (size_t)t->ncols + (size_t)col];
}
