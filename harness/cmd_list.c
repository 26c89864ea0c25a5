// cmd_list.c: `chipbench list`: every registered kernel and whether it can
// run here (and why not).
#include <stdio.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "commands.h"

int cb_cmd_list(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: chipbench list\nEvery registered kernel: op, dtype, back-end, "
                   "required ISA, and whether it runs here (and why not).\n");
            return 0;
        }
        fprintf(stderr, "chipbench list: unexpected argument '%s' (see chipbench list --help)\n",
                argv[i]);
        return 2;
    }
    printf("%-24s %-9s %-5s %-9s %-28s %s\n", "kernel", "op", "dtype", "backend", "requires",
           "runs here");
    for (int i = 0; i < cb_registry_count(); i++) {
        const struct cb_kernel *k = cb_registry_get(i);
        char isa[256];
        cb_cpu_features_str(k->isa, isa, sizeof isa);
        enum cb_status s = cb_kernel_usable(k);
        printf("%-24s %-9s %-5s %-9s %-28s %s%s%s\n", k->name, cb_op_name(k->op),
               cb_dtype_name(k->dtype), cb_backend_name(k->backend), isa[0] ? isa : "-",
               s == CB_OK ? "yes" : "no: ", s == CB_OK ? "" : cb_error_text(),
               k->max_threads == 1 ? " (single-threaded)" : "");
        printf("  %s\n", k->desc ? k->desc : "");
    }
    return 0;
}
