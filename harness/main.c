// main.c: the chipbench command line. Dispatches to a subcommand; the only
// place that exits.
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "chipbench/cb_info.h"
#include "commands.h"

static void usage(FILE *f)
{
    fprintf(f,
        "chipbench %s: kernel-level benchmarks for AI accelerators\n\n"
        "usage: chipbench <command> [options]   (chipbench <command> --help)\n\n"
        "  info      chip-class fingerprint: CPU, ISA, topology, BLAS, OpenCL devices\n"
        "  list      registered kernels and whether they run here\n"
        "  run       verify and time kernels, print a table, write a CSV\n"
        "  compare   compare result CSVs: regression gate, cross-chip table\n"
        "  tune      autotune the OpenCL GEMM for a device, save the tuning file\n"
        "  cost      a model's training step as kernel calls; time, energy, money per chip\n"
        "  version   print the version\n",
        CB_VERSION);
}

// Results printed into a full disk or a closed descriptor are lost results:
// a command whose standard output could not be written must not exit 0
// (`chipbench compare a b --format json > /dev/full`). stdout is fully
// buffered when redirected, so the error often shows only at this flush.
static int flush_stdout(int rc)
{
    int e = fflush(stdout) != 0 ? errno : 0;
    if (e || ferror(stdout)) {
        fprintf(stderr, "chipbench: cannot write standard output: %s\n",
                e ? strerror(e) : "write error");
        return rc ? rc : 1;
    }
    return rc;
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
    return flush_stdout(dispatch(argc, argv));
}

static int dispatch(int argc, char **argv)
{
    // Numbers in CSVs and tables always use '.' whatever the user's locale.
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("chipbench %s (%s)\n", CB_VERSION, cb_git_commit);
        return 0;
    }
    if (!strcmp(cmd, "info"))
        return cb_cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "list"))
        return cb_cmd_list(argc - 1, argv + 1);
    if (!strcmp(cmd, "run"))
        return cb_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare"))
        return cb_cmd_compare(argc - 1, argv + 1);
    if (!strcmp(cmd, "cost"))
        return cb_cmd_cost(argc - 1, argv + 1);
    if (!strcmp(cmd, "tune"))
        return cb_cmd_tune(argc - 1, argv + 1);
    fprintf(stderr, "chipbench: unknown command '%s' (see chipbench --help)\n", cmd);
    return 2;
}
