// test_csv.c: tests for harness/csv.c: field escaping, writer round trips,
// atomic publishing (the file on disk is always complete), failure handling
// that leaves the previous file intact, and the strict parser's errors.
//
// It is not a test of the results schema (columns, number formats): that
// belongs to the code that builds rows. Files go to a mkdtemp directory under
// /tmp that each test removes again.
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_test.h"
#include "chipbench/cb_csv.h"
#include "chipbench/cb_status.h"

// ---------------------------------------------------------------------------
// Helpers

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/cb_test_csv.XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

// Remove a directory and the plain files in it (tests create no subdirs).
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

// Number of entries in `dir` other than "." and ".."; temp files left behind
// by a publish would show up here.
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

// Whole file as a NUL-terminated string (caller frees), NULL on error.
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static const char *escaped(const char *field, struct cb_strbuf *b)
{
    cb_strbuf_free(b);
    if (cb_csv_append_field(b, field) != CB_OK)
        return NULL;
    return b->data ? b->data : "";
}

// Parse `text` (explicit length, so it may hold NULs) and require a
// CB_ERR_PARSE whose message contains `want`.
static int parse_fails_with(const char *text, size_t len, const char *want)
{
    struct cb_csv_table t;
    cb_clear_error();
    enum cb_status s = cb_csv_parse(text, len, &t);
    if (s != CB_ERR_PARSE) {
        cb_csv_table_free(&t);
        fprintf(stderr, "  expected parse error, got %s\n", cb_status_str(s));
        return 0;
    }
    if (!strstr(cb_error_msg(), want)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", cb_error_msg(), want);
        return 0;
    }
    // A failed parse leaves an empty table that is safe to free.
    if (t.header || t.cells || t.storage || t.nrows || t.ncols)
        return 0;
    cb_csv_table_free(&t);
    return 1;
}

// ---------------------------------------------------------------------------
// Escaping

static void test_field_escaping(void)
{
    struct cb_strbuf b = {0};
    CB_CHECK_STR(escaped("plain", &b), "plain");
    CB_CHECK_STR(escaped("a,b", &b), "\"a,b\"");
    CB_CHECK_STR(escaped("say \"hi\"", &b), "\"say \"\"hi\"\"\"");
    CB_CHECK_STR(escaped("\"", &b), "\"\"\"\"");
    CB_CHECK_STR(escaped("two\nlines", &b), "\"two\nlines\"");
    CB_CHECK_STR(escaped("cr\rhere", &b), "\"cr\rhere\"");
    CB_CHECK_STR(escaped(" lead", &b), "\" lead\"");
    CB_CHECK_STR(escaped("trail ", &b), "\"trail \"");
    CB_CHECK_STR(escaped("in side", &b), "in side");
    CB_CHECK_STR(escaped("", &b), "");
    CB_CHECK_STR(escaped(NULL, &b), "");
    CB_CHECK_STR(escaped("1.5e-3", &b), "1.5e-3");
    CB_CHECK_STR(escaped("µs ✓", &b), "µs ✓");  // UTF-8 needs no quoting
    cb_strbuf_free(&b);
    CB_CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

static void test_strbuf(void)
{
    struct cb_strbuf b = {0};
    CB_CHECK(cb_strbuf_append(&b, "", 0) == CB_OK);
    CB_CHECK_STR(b.data, "");
    // Many small appends exercise growth; the content must stay exact.
    for (int i = 0; i < 10000; i++)
        CB_CHECK(cb_strbuf_printf(&b, "%d,", i % 10) == CB_OK);
    CB_CHECK(b.len == 20000);
    CB_CHECK(b.cap > b.len && b.data[b.len] == 0);
    CB_CHECK(memcmp(b.data, "0,1,2,", 6) == 0);
    CB_CHECK(cb_strbuf_append(&b, NULL, 1) == CB_ERR_INVALID_ARG);
    cb_strbuf_free(&b);
}

// ---------------------------------------------------------------------------
// Writer

static void test_round_trip(void)
{
    static const char *const hdr[] = {"device", "note", "time_ns", "empty"};
    static const char *const rows[][4] = {
        {"NVIDIA H100, \"SXM\"\nrev 2", "ok", "123", ""},
        {"Ryzen™ 9 7950X — Zen 4", " padded ", "4", NULL},
        {"crlf\r\ninside", "\"", "", ","},
        {"", "", "", ""},
    };
    char *dir = make_tmpdir();
    CB_CHECK(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/rt.csv", dir);
    struct cb_csv_writer *w = NULL;
    struct cb_csv_table t = {0};
    int ok = cb_csv_open(path, hdr, 4, &w) == CB_OK;
    for (int r = 0; ok && r < 4; r++)
        ok = cb_csv_write_row(w, rows[r], 4) == CB_OK;
    cb_csv_close(w);
    ok = ok && cb_csv_read(path, &t) == CB_OK;
    int entries = count_entries(dir);
    remove_tree(dir);
    free(dir);
    CB_CHECK_MSG(ok, "%s", cb_error_msg());
    CB_CHECK(entries == 1);  // no temp file left behind
    CB_CHECK(t.ncols == 4 && t.nrows == 4);
    for (int c = 0; c < 4; c++) {
        CB_CHECK_STR(t.header[c], hdr[c]);
        CB_CHECK(cb_csv_col(&t, hdr[c]) == c);
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            CB_CHECK_STR(cb_csv_cell(&t, r, c), rows[r][c] ? rows[r][c] : "");
    CB_CHECK(cb_csv_col(&t, "absent") == -1);
    CB_CHECK_STR(cb_csv_cell(&t, 4, 0), "");
    CB_CHECK_STR(cb_csv_cell(&t, 0, -1), "");
    cb_csv_table_free(&t);
    CB_CHECK(t.header == NULL && t.cells == NULL && t.storage == NULL &&
             t.nrows == 0 && t.ncols == 0);
}

// A one-column file whose cell is empty must not read back as zero rows.
static void test_single_column_empty_cell(void)
{
    static const char *const hdr[] = {"only"};
    static const char *const row[] = {""};
    char *dir = make_tmpdir();
    CB_CHECK(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/one.csv", dir);
    struct cb_csv_writer *w = NULL;
    struct cb_csv_table t = {0};
    int ok = cb_csv_open(path, hdr, 1, &w) == CB_OK &&
             cb_csv_write_row(w, row, 1) == CB_OK &&
             cb_csv_write_row(w, row, 1) == CB_OK;
    cb_csv_close(w);
    ok = ok && cb_csv_read(path, &t) == CB_OK;
    remove_tree(dir);
    free(dir);
    CB_CHECK_MSG(ok, "%s", cb_error_msg());
    CB_CHECK(t.ncols == 1 && t.nrows == 2);
    CB_CHECK_STR(cb_csv_cell(&t, 1, 0), "");
    cb_csv_table_free(&t);
}

static void test_header_published_on_open(void)
{
    static const char *const hdr[] = {"schema_version", "bench"};
    char *dir = make_tmpdir();
    CB_CHECK(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/h.csv", dir);
    struct cb_csv_writer *w = NULL;
    enum cb_status s = cb_csv_open(path, hdr, 2, &w);
    char *text = slurp(path, NULL);
    struct stat st;
    int mode = stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
    cb_csv_close(w);
    int entries = count_entries(dir);
    remove_tree(dir);
    free(dir);
    CB_CHECK_MSG(s == CB_OK, "%s", cb_error_msg());
    CB_CHECK(text);
    CB_CHECK_STR(text, "schema_version,bench\n");
    free(text);
    CB_CHECK(mode == 0644);
    CB_CHECK(entries == 1);
}

// After every row the file on disk is a complete CSV with exactly the rows
// written so far: a crash between rows loses at most the row in flight.
static void test_atomic_after_each_row(void)
{
    static const char *const hdr[] = {"i", "text"};
    char *dir = make_tmpdir();
    CB_CHECK(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/a.csv", dir);
    struct cb_csv_writer *w = NULL;
    int bad_row = -1;
    enum cb_status s = cb_csv_open(path, hdr, 2, &w);
    for (int r = 0; s == CB_OK && r < 20 && bad_row < 0; r++) {
        char num[16], txt[64];
        snprintf(num, sizeof num, "%d", r);
        snprintf(txt, sizeof txt, "row \"%d\",\nsecond line", r);
        const char *cells[] = {num, txt};
        s = cb_csv_write_row(w, cells, 2);
        struct cb_csv_table t;
        if (s != CB_OK || cb_csv_read(path, &t) != CB_OK)
            break;
        if (t.nrows != r + 1 || strcmp(cb_csv_cell(&t, r, 0), num) ||
            strcmp(cb_csv_cell(&t, r, 1), txt) || count_entries(dir) != 1)
            bad_row = r;
        cb_csv_table_free(&t);
    }
    cb_csv_close(w);
    remove_tree(dir);
    free(dir);
    CB_CHECK_MSG(s == CB_OK, "%s", cb_error_msg());
    CB_CHECK_MSG(bad_row < 0, "file wrong after row %d", bad_row);
}

// A publish that fails must keep the previous file, report the path, leave
// no temp file, and not keep the failed row for the next publish.
//
// Tests run as root, and root ignores directory permissions, so chmod 0555
// cannot make the publish fail. RLIMIT_FSIZE is enforced for root too: with
// the limit just above the current file size, writing the bigger temp file
// gets a short write and then EFBIG (SIGXFSZ is ignored so it is an errno,
// not a kill), like a disk filling up mid-write.
static void test_failed_publish_keeps_old_file(void)
{
    static const char *const hdr[] = {"k", "v"};
    static const char *const r0[] = {"a", "1"};
    static const char *const r1[] = {"b", "2"};
    static const char *const big[] = {"c", "a row long enough to pass the "
                                           "file size limit by a good margin"};
    char *dir = make_tmpdir();
    CB_CHECK(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/keep.csv", dir);
    struct cb_csv_writer *w = NULL;
    struct rlimit old_lim;
    char *before = NULL, *after = NULL, *final = NULL;
    char msg[1024] = "";
    int setup = 0, entries = -1;
    enum cb_status sfail = CB_OK, sretry = CB_ERR_IO;

    if (cb_csv_open(path, hdr, 2, &w) == CB_OK &&
        cb_csv_write_row(w, r0, 2) == CB_OK &&
        getrlimit(RLIMIT_FSIZE, &old_lim) == 0) {
        size_t blen = 0;
        before = slurp(path, &blen);
        void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = old_lim;
        lim.rlim_cur = (rlim_t)blen + 4;  // part of the new file fits
        setup = before && setrlimit(RLIMIT_FSIZE, &lim) == 0;
        if (setup) {
            sfail = cb_csv_write_row(w, big, 2);
            snprintf(msg, sizeof msg, "%s", cb_error_msg());
            setrlimit(RLIMIT_FSIZE, &old_lim);
        }
        signal(SIGXFSZ, old_handler);
        after = slurp(path, NULL);
        entries = count_entries(dir);
        // With the limit lifted the next row publishes; the failed row must
        // not reappear in front of it.
        sretry = cb_csv_write_row(w, r1, 2);
        final = slurp(path, NULL);
    }
    cb_csv_close(w);
    remove_tree(dir);
    int ok = setup && before && after && final;
    int same = ok && strcmp(before, after) == 0;
    int final_ok = ok && strcmp(final, "k,v\na,1\nb,2\n") == 0;
    int names_path = strstr(msg, path) != NULL;
    free(before);
    free(after);
    free(final);
    free(dir);
    CB_CHECK_MSG(ok, "setup failed: %s", cb_error_msg());
    CB_CHECK_MSG(sfail == CB_ERR_IO, "got %s", cb_status_str(sfail));
    CB_CHECK_MSG(names_path, "message \"%.300s\" lacks the path", msg);
    CB_CHECK_MSG(strstr(msg, strerror(EFBIG)) != NULL, "message \"%.300s\"", msg);
    CB_CHECK(same);
    CB_CHECK_MSG(entries == 1, "%d entries: temp file left behind", entries);
    CB_CHECK(sretry == CB_OK);
    CB_CHECK(final_ok);
}

// A second failure mode that also works as root: the directory disappears
// after open, so mkstemp itself fails (ENOENT). The published file (moved
// with its directory) is untouched and no temp file appears anywhere.
static void test_directory_gone(void)
{
    static const char *const hdr[] = {"k"};
    static const char *const r0[] = {"x"};
    char *dir = make_tmpdir();
    CB_CHECK(dir);
    char sub[512], path[600], moved[600], moved_file[700];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(path, sizeof path, "%s/g.csv", sub);
    snprintf(moved, sizeof moved, "%s/moved", dir);
    snprintf(moved_file, sizeof moved_file, "%s/g.csv", moved);
    struct cb_csv_writer *w = NULL;
    enum cb_status s = CB_ERR_INVALID_ARG;
    char msg[1024] = "";
    char *text = NULL;
    int entries = -1;
    if (mkdir(sub, 0755) == 0 && cb_csv_open(path, hdr, 1, &w) == CB_OK &&
        rename(sub, moved) == 0) {
        s = cb_csv_write_row(w, r0, 1);
        snprintf(msg, sizeof msg, "%s", cb_error_msg());
        text = slurp(moved_file, NULL);
        entries = count_entries(moved);
    }
    cb_csv_close(w);
    remove_tree(moved);
    remove_tree(dir);
    free(dir);
    int same = text && strcmp(text, "k\n") == 0;
    free(text);
    CB_CHECK_MSG(s == CB_ERR_IO, "got %s", cb_status_str(s));
    CB_CHECK_MSG(strstr(msg, path) != NULL, "message \"%.300s\" lacks the path", msg);
    CB_CHECK(same);
    CB_CHECK(entries == 1);
}

static void test_open_missing_directory(void)
{
    static const char *const hdr[] = {"a"};
    const char *path = "/nonexistent-cb-dir/sub/out.csv";
    struct cb_csv_writer *w = (struct cb_csv_writer *)1;  // must be reset
    cb_clear_error();
    enum cb_status s = cb_csv_open(path, hdr, 1, &w);
    CB_CHECK(s == CB_ERR_IO);
    CB_CHECK(w == NULL);
    CB_CHECK_MSG(strstr(cb_error_msg(), path) != NULL, "%s", cb_error_msg());
    CB_CHECK_MSG(strstr(cb_error_msg(), strerror(ENOENT)) != NULL, "%s",
                 cb_error_msg());
}

static void test_bad_arguments(void)
{
    static const char *const hdr[] = {"a", "b"};
    static const char *const row[] = {"1", "2", "3"};
    char *dir = make_tmpdir();
    CB_CHECK(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/n.csv", dir);
    struct cb_csv_writer *w = NULL;
    enum cb_status so = cb_csv_open(path, hdr, 2, &w);
    enum cb_status s3 = so == CB_OK ? cb_csv_write_row(w, row, 3) : CB_OK;
    enum cb_status s1 = so == CB_OK ? cb_csv_write_row(w, row, 1) : CB_OK;
    enum cb_status s2 = so == CB_OK ? cb_csv_write_row(w, row, 2) : CB_ERR_IO;
    char *text = slurp(path, NULL);
    cb_csv_close(w);
    struct cb_csv_writer *w2 = NULL;
    enum cb_status sz = cb_csv_open(path, hdr, 0, &w2);
    char dirpath[600];
    snprintf(dirpath, sizeof dirpath, "%s/", dir);
    enum cb_status sd = cb_csv_open(dirpath, hdr, 2, &w2);
    int entries = count_entries(dir);
    remove_tree(dir);
    free(dir);
    int good = text && strcmp(text, "a,b\n1,2\n") == 0;
    free(text);
    CB_CHECK(so == CB_OK);
    CB_CHECK(s3 == CB_ERR_INVALID_ARG);
    CB_CHECK(s1 == CB_ERR_INVALID_ARG);
    CB_CHECK(s2 == CB_OK);
    CB_CHECK(good);  // rejected rows left no trace
    CB_CHECK(sz == CB_ERR_INVALID_ARG && sd == CB_ERR_INVALID_ARG && !w2);
    CB_CHECK(entries == 1);
    cb_csv_close(NULL);
}

// ---------------------------------------------------------------------------
// Reader

static void test_parse_ok(void)
{
    struct cb_csv_table t;
    // CRLF row ends; CRLF inside a quoted field is kept verbatim.
    const char *crlf = "a,b\r\n1,\"x\r\ny\"\r\n3,4\r\n";
    CB_CHECK(cb_csv_parse(crlf, strlen(crlf), &t) == CB_OK);
    CB_CHECK(t.ncols == 2 && t.nrows == 2);
    CB_CHECK_STR(cb_csv_cell(&t, 0, 1), "x\r\ny");
    CB_CHECK_STR(cb_csv_cell(&t, 1, 1), "4");
    cb_csv_table_free(&t);

    const char *nonl = "a,b\n1,2\n3,\"4\"";  // last row without a newline
    CB_CHECK(cb_csv_parse(nonl, strlen(nonl), &t) == CB_OK);
    CB_CHECK(t.nrows == 2);
    CB_CHECK_STR(cb_csv_cell(&t, 1, 1), "4");
    cb_csv_table_free(&t);

    const char *blank = "a,b\n1,2\n\n";  // one empty trailing line is ignored
    CB_CHECK(cb_csv_parse(blank, strlen(blank), &t) == CB_OK);
    CB_CHECK(t.nrows == 1);
    cb_csv_table_free(&t);

    const char *hdr_only = "a,b";
    CB_CHECK(cb_csv_parse(hdr_only, strlen(hdr_only), &t) == CB_OK);
    CB_CHECK(t.ncols == 2 && t.nrows == 0);
    CB_CHECK_STR(t.header[1], "b");
    cb_csv_table_free(&t);

    const char *empties = "a,b,c\n,,\n\"\",\"\"\"\",\n";
    CB_CHECK(cb_csv_parse(empties, strlen(empties), &t) == CB_OK);
    CB_CHECK(t.nrows == 2);
    CB_CHECK_STR(cb_csv_cell(&t, 0, 2), "");
    CB_CHECK_STR(cb_csv_cell(&t, 1, 0), "");
    CB_CHECK_STR(cb_csv_cell(&t, 1, 1), "\"");
    CB_CHECK_STR(cb_csv_cell(&t, 1, 2), "");
    cb_csv_table_free(&t);
}

static void test_parse_errors(void)
{
    // Unterminated quote: reported where the quote opened.
    const char *unterm = "a,b\n1,2\n3,\"open\nstill open\n";
    CB_CHECK(parse_fails_with(unterm, strlen(unterm), "line 3: unterminated"));
    // Ragged rows, also after a quoted field spanning lines 2-3.
    const char *ragged = "a,b\n1,2\n3\n";
    CB_CHECK(parse_fails_with(ragged, strlen(ragged), "line 3: expected 2"));
    CB_CHECK(parse_fails_with(ragged, strlen(ragged), "got 1"));
    const char *ragged2 = "a,b\n\"x\ny\",2\n3,4,5\n";
    CB_CHECK(parse_fails_with(ragged2, strlen(ragged2), "line 4: expected 2"));
    CB_CHECK(parse_fails_with(ragged2, strlen(ragged2), "got 3"));
    const char *ragged_crlf = "a,b\r\n1,2\r\n3\r\n";
    CB_CHECK(parse_fails_with(ragged_crlf, strlen(ragged_crlf), "line 3:"));
    // Junk after a closing quote, on the line of the closing quote.
    const char *junk = "a,b\n\"multi\nline\"x,2\n";
    CB_CHECK(parse_fails_with(junk, strlen(junk), "line 3: unexpected 'x'"));
    const char *junk_space = "a,b\n\"q\" ,2\n";
    CB_CHECK(parse_fails_with(junk_space, strlen(junk_space), "line 2:"));
    // NUL byte: explicit length so the NUL is inside the input.
    static const char nul[] = "a,b\n1,2\n3\0,4\n";
    CB_CHECK(parse_fails_with(nul, sizeof nul - 1, "line 3: NUL"));
    // Empty input has no header.
    CB_CHECK(parse_fails_with("", 0, "line 1: empty input"));
    CB_CHECK(parse_fails_with("\n", 1, "line 1: empty input"));
    CB_CHECK(parse_fails_with("\r\n", 2, "line 1: empty input"));
    CB_CHECK(parse_fails_with("\na,b\n", 5, "line 1: empty header"));
    // Strictness beyond the brief's list: stray quote or bare CR.
    const char *stray = "a,b\n1,x\"y\n";
    CB_CHECK(parse_fails_with(stray, strlen(stray), "line 2: quote inside"));
    const char *bare_cr = "a,b\n1,x\ry\n";
    CB_CHECK(parse_fails_with(bare_cr, strlen(bare_cr), "line 2: bare CR"));
    // Two blank lines at the end are a ragged (empty) row, not ignored.
    const char *blank2 = "a,b\n1,2\n\n\n";
    CB_CHECK(parse_fails_with(blank2, strlen(blank2), "line 3: expected 2"));
}

static void test_read_errors(void)
{
    struct cb_csv_table t;
    const char *missing = "/nonexistent-cb-dir/in.csv";
    CB_CHECK(cb_csv_read(missing, &t) == CB_ERR_IO);
    CB_CHECK(strstr(cb_error_msg(), missing) != NULL);
    CB_CHECK(strstr(cb_error_msg(), strerror(ENOENT)) != NULL);
    CB_CHECK(t.header == NULL && t.storage == NULL);

    // A parse error from a file names the file and keeps the line number.
    char *dir = make_tmpdir();
    CB_CHECK(dir);
    char path[512];
    snprintf(path, sizeof path, "%s/bad.csv", dir);
    FILE *f = fopen(path, "wb");
    int wrote = f && fputs("a,b\n1,2\n3\n", f) >= 0;
    if (f)
        fclose(f);
    enum cb_status s = cb_csv_read(path, &t);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cb_error_msg());
    enum cb_status sdir = cb_csv_read(dir, &t);
    remove_tree(dir);
    free(dir);
    CB_CHECK(wrote);
    CB_CHECK(s == CB_ERR_PARSE);
    CB_CHECK_MSG(strstr(msg, path) && strstr(msg, "line 3:"), "%.300s", msg);
    CB_CHECK(sdir == CB_ERR_IO);
}

int main(void)
{
    CB_RUN(test_field_escaping);
    CB_RUN(test_strbuf);
    CB_RUN(test_round_trip);
    CB_RUN(test_single_column_empty_cell);
    CB_RUN(test_header_published_on_open);
    CB_RUN(test_atomic_after_each_row);
    CB_RUN(test_failed_publish_keeps_old_file);
    CB_RUN(test_directory_gone);
    CB_RUN(test_open_missing_directory);
    CB_RUN(test_bad_arguments);
    CB_RUN(test_parse_ok);
    CB_RUN(test_parse_errors);
    CB_RUN(test_read_errors);
    return CB_TEST_END("test_csv");
}
