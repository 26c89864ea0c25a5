// test_faults.c: the in-process half of the fault and untrusted-text tests
// (tests/test_faults.sh drives the binary): the CSV writer's formula guard
// and its exact undoing by the reader, UTF-8 on both sides, writing in place
// to a device instead of renaming over it, symlinked targets, and the strict
// number parser the command line uses.
//
// What it is not: the CSV grammar (test_csv.c) or the fuzzers (tests/fuzz).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_test.h"
#include "chipbench/cb_csv.h"
#include "chipbench/cb_status.h"
#include "chipbench/cb_util.h"

static const char *written(const char *field, struct cb_strbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
    return cb_csv_append_field(b, field) == CB_OK ? b->data : NULL;
}

// One cell written and read back: parse("h\n" + cell) must give the cell.
static int round_trips(const char *cell, char *got, size_t cap)
{
    struct cb_strbuf b = {0};
    struct cb_csv_table t;
    int ok = cb_strbuf_append(&b, "h\n", 2) == CB_OK && cb_csv_append_field(&b, cell) == CB_OK &&
             cb_strbuf_append(&b, "\n", 1) == CB_OK && cb_csv_parse(b.data, b.len, &t) == CB_OK;
    if (ok) {
        snprintf(got, cap, "%s", t.nrows == 1 ? cb_csv_cell(&t, 0, 0) : "(no row)");
        ok = t.nrows == 1 && !strcmp(cb_csv_cell(&t, 0, 0), cell);
        cb_csv_table_free(&t);
    } else {
        snprintf(got, cap, "(error: %s)", cb_error_msg());
    }
    cb_strbuf_free(&b);
    return ok;
}

// Text cells that a spreadsheet would run get a leading apostrophe; numbers
// stay numbers.
static void test_formula_guard_written(void)
{
    struct cb_strbuf b = {0};
    CB_CHECK_STR(written("=cmd|' /C calc'!A0", &b), "'=cmd|' /C calc'!A0");
    CB_CHECK_STR(written("+1+cmd", &b), "'+1+cmd");
    CB_CHECK_STR(written("-O2 -g", &b), "'-O2 -g");
    CB_CHECK_STR(written("@SUM(A1)", &b), "'@SUM(A1)");
    CB_CHECK_STR(written("\t=1", &b), "\"'\t=1\"");   // tab: guarded and quoted
    CB_CHECK_STR(written("\r=1", &b), "\"'\r=1\"");   // CR: guarded and quoted
    CB_CHECK_STR(written("=HYPERLINK(\"x\",\"y\")", &b), "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"");
    CB_CHECK_STR(written("=a,b", &b), "\"'=a,b\"");
    CB_CHECK_STR(written("'=x", &b), "''=x");   // so the reader can undo exactly one
    CB_CHECK_STR(written("-", &b), "'-");
    // Numbers are not text: no apostrophe.
    CB_CHECK_STR(written("-1.5", &b), "-1.5");
    CB_CHECK_STR(written("+3e-05", &b), "+3e-05");
    CB_CHECK_STR(written("-0", &b), "-0");
    CB_CHECK_STR(written("1.5e-3", &b), "1.5e-3");
    // Neither is text that does not start with a formula character.
    CB_CHECK_STR(written("a=b", &b), "a=b");
    CB_CHECK_STR(written("cpu:x86_64:GenuineIntel:f6m143s8", &b), "cpu:x86_64:GenuineIntel:f6m143s8");
    cb_strbuf_free(&b);
}

// parse(write(x)) == x, the guard included.
static void test_formula_guard_round_trip(void)
{
    static const char *const cells[] = {
        "=cmd|' /C calc'!A0", "+x", "-x", "@x", "\tx", "\rx", "'=x", "''=x", "'-1.5", "'x",
        "'", "-", "-1.5", "+2", "-1e-05", "a,b", "say \"hi\"", "two\nlines", " lead", "µs ✓",
        "=", "'''+", "-inf", "-nan", "-0x10", "x'",
    };
    char got[256];
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
        CB_CHECK_MSG(round_trips(cells[i], got, sizeof got), "'%s' came back as '%s'",
                     cells[i], got);
}

// A cell someone else wrote with the guard reads as the text; foreign cells
// that start with = are read as they are (the reader never executes or
// evaluates anything).
static void test_formula_guard_read(void)
{
    struct cb_csv_table t;
    const char *text = "a,b,c,d\n'=1+1,=1+1,'-2,'hi\n";
    CB_CHECK(cb_csv_parse(text, strlen(text), &t) == CB_OK);
    CB_CHECK_STR(cb_csv_cell(&t, 0, 0), "=1+1");
    CB_CHECK_STR(cb_csv_cell(&t, 0, 1), "=1+1");
    CB_CHECK_STR(cb_csv_cell(&t, 0, 2), "'-2");  // "-2" is a number: never guarded
    CB_CHECK_STR(cb_csv_cell(&t, 0, 3), "'hi");
    cb_csv_table_free(&t);
}

// The reader rejects invalid UTF-8 with the line; the writer never writes it.
static void test_utf8(void)
{
    struct cb_csv_table t;
    struct cb_strbuf b = {0};
    static const char *const bad[] = {
        "a\n\xff\n", "a\nx\xc3\n", "a\n\xc0\xaf\n", "a\n\xed\xa0\x80\n", "a\n\xf4\x90\x80\x80\n",
        "a\n\x80\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CB_CHECK_MSG(cb_csv_parse(bad[i], strlen(bad[i]), &t) == CB_ERR_PARSE, "input %zu", i);
        CB_CHECK_MSG(strstr(cb_error_msg(), "line 2: invalid UTF-8"), "%s", cb_error_msg());
    }
    const char *good = "\xef\xbb\xbfname,v\nµs ✓ \xf0\x9f\x98\x80,1\n";  // BOM, 2-, 3-, 4-byte
    CB_CHECK(cb_csv_parse(good, strlen(good), &t) == CB_OK);
    CB_CHECK_STR(t.header[0], "name");  // the byte-order mark is not part of the name
    CB_CHECK_STR(cb_csv_cell(&t, 0, 0), "µs ✓ \xf0\x9f\x98\x80");
    cb_csv_table_free(&t);
    CB_CHECK_STR(written("Ger\xe4t", &b), "Ger\xef\xbf\xbdt");  // Latin-1 -> U+FFFD
    CB_CHECK_STR(written("\xff=x", &b), "\xef\xbf\xbd=x");
    CB_CHECK_STR(written("=\xff", &b), "'=\xef\xbf\xbd");
    cb_strbuf_free(&b);
}

// A device as the target: written in place (never renamed over: as root that
// would replace the device node), and a full device is an error.
static void test_device_target(void)
{
    static const char *const hdr[] = {"k", "v"};
    static const char *const row[] = {"a", "1"};
    struct cb_csv_writer *w = NULL;
    struct stat st;
    if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode))
        CB_SKIP("no /dev/full");
    enum cb_status s = cb_csv_open("/dev/full", hdr, 2, &w);
    CB_CHECK(s == CB_ERR_IO && !w);
    CB_CHECK_MSG(strstr(cb_error_msg(), "/dev/full") && strstr(cb_error_msg(), strerror(ENOSPC)),
                 "%s", cb_error_msg());
    CB_CHECK(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode));
    CB_CHECK(cb_csv_open("/dev/null", hdr, 2, &w) == CB_OK && w);
    CB_CHECK(cb_csv_write_row(w, row, 2) == CB_OK);
    cb_csv_close(w);
    CB_CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
}

// A symlinked target: the file it points to is replaced, the link stays.
static void test_symlink_target(void)
{
    static const char *const hdr[] = {"k"};
    char dir[] = "/tmp/cb_faults_c.XXXXXX", link[64], file[64];
    struct cb_csv_writer *w = NULL;
    struct stat st;
    CB_CHECK(mkdtemp(dir) != NULL);
    snprintf(link, sizeof link, "%s/l.csv", dir);
    snprintf(file, sizeof file, "%s/f.csv", dir);
    FILE *f = fopen(file, "w");
    int made = f && fputs("old\n", f) >= 0;
    if (f)
        fclose(f);
    made = made && symlink("f.csv", link) == 0;
    enum cb_status s = made ? cb_csv_open(link, hdr, 1, &w) : CB_ERR_IO;
    cb_csv_close(w);
    int is_link = lstat(link, &st) == 0 && S_ISLNK(st.st_mode);
    char buf[16] = "";
    f = fopen(file, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    unlink(link);
    unlink(file);
    rmdir(dir);
    CB_CHECK(made);
    CB_CHECK_MSG(s == CB_OK, "%s", cb_error_msg());
    CB_CHECK(is_link);
    CB_CHECK_STR(buf, "k\n");
}

// Command-line numbers: decimal text only, the whole string, in range.
static void test_strict_numbers(void)
{
    int64_t i;
    double d;
    static const char *const bad_i[] = {"", " 5", "5 ", "5x", "0x10", "1e3", "abc", "+",
                                        "99999999999999999999", "-99999999999999999999"};
    for (size_t k = 0; k < sizeof bad_i / sizeof bad_i[0]; k++)
        CB_CHECK_MSG(cb_parse_i64(bad_i[k], -1000000, 1000000, &i) == CB_ERR_PARSE, "'%s'",
                     bad_i[k]);
    static const char *const bad_d[] = {"", " 5", "5 ", "5x", "0x10", "inf", "-inf", "nan",
                                        "1e30", "1e-400", "1e400", "abc", "."};
    for (size_t k = 0; k < sizeof bad_d / sizeof bad_d[0]; k++)
        CB_CHECK_MSG(cb_parse_f64(bad_d[k], -1e6, 1e6, &d) == CB_ERR_PARSE, "'%s'", bad_d[k]);
    CB_CHECK(cb_parse_i64("-42", -100, 100, &i) == CB_OK && i == -42);
    CB_CHECK(cb_parse_f64("2.5e-1", 0, 1, &d) == CB_OK && d == 0.25);
    CB_CHECK(cb_parse_f64("+1", 0, 1, &d) == CB_OK && d == 1);
}

int main(void)
{
    CB_RUN(test_formula_guard_written);
    CB_RUN(test_formula_guard_round_trip);
    CB_RUN(test_formula_guard_read);
    CB_RUN(test_utf8);
    CB_RUN(test_device_target);
    CB_RUN(test_symlink_target);
    CB_RUN(test_strict_numbers);
    return CB_TEST_END("test_faults");
}
