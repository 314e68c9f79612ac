/* cli: the `ganzhi` subcommands. Each returns the process exit status
 * (0 ok, 1 runtime failure, 2 bad usage or configuration). */
#ifndef GANZHI_CLI_H
#define GANZHI_CLI_H

#include "agent/conf.h"

int cli_check(int argc, char **argv);
int cli_read(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_scan(int argc, char **argv);
int cli_probe(int argc, char **argv);
int cli_queue(int argc, char **argv);
int cli_uplink(int argc, char **argv);
int cli_tail(int argc, char **argv);
int cli_validate(int argc, char **argv);

/* Load a configuration for a subcommand, printing every error to stderr. */
struct conf *cli_load(const char *path);
/* Shortest text that reads back as the same double. buf >= 32. */
const char *cli_number(double v, char *buf);
/* An age or duration for people: "0s", "42s", "4m05s", "3h12m", "2d03h". */
const char *cli_age(int64_t ms, char *buf, size_t len);
/* The whole of a file, NUL-terminated (the length in *len if len), or NULL with
 * errno set. The caller frees it. */
char *cli_read_file(const char *path, size_t *len);

#endif
