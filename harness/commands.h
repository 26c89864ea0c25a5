// commands.h: the chipbench subcommands. Each takes the argv that starts at
// the subcommand name and returns a process exit code (0 ok, 1 a benchmark
// failed or an I/O error, 2 usage error); only main() exits.
#ifndef CHIPBENCH_COMMANDS_H
#define CHIPBENCH_COMMANDS_H

int cb_cmd_info(int argc, char **argv);
int cb_cmd_list(int argc, char **argv);
int cb_cmd_run(int argc, char **argv);
int cb_cmd_compare(int argc, char **argv);
int cb_cmd_tune(int argc, char **argv);
int cb_cmd_cost(int argc, char **argv);

#endif
