/* cli: the `ganzhi` subcommands. Each returns the process exit status
 * (0 ok, 1 runtime failure, 2 bad usage or configuration). */
#ifndef GANZHI_CLI_H
#define GANZHI_CLI_H

#include "agent/conf.h"
#include "drivers/mb_link.h"
#include <stdio.h>

int cli_check(int argc, char **argv);
int cli_read(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_scan(int argc, char **argv);
int cli_probe(int argc, char **argv);
int cli_queue(int argc, char **argv);
int cli_uplink(int argc, char **argv);
int cli_command(int argc, char **argv);
int cli_tail(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_listen(int argc, char **argv);

/* Load a configuration for a subcommand, printing every error to stderr. */
struct conf *cli_load(const char *path);
/* Shortest text that reads back as the same double. buf >= 32. */
const char *cli_number(double v, char *buf);
/* An age or duration for people: "0s", "42s", "4m05s", "3h12m", "2d03h". */
const char *cli_age(int64_t ms, char *buf, size_t len);
/* The whole of a file, NUL-terminated (the length in *len if len), or NULL with
 * errno set. The caller frees it. */
char *cli_read_file(const char *path, size_t *len);

struct dtu_listener;

/* A link to a device, for read, probe and scan (cli_link.c). */
struct cli_link {
    const char *cmd;                /* "read": messages are "ganzhi read: ..." */
    struct mb_link_params p;        /* the device's (or, without one, the caller's) */
    struct mb_link *link;
    struct dtu_listener *listener;  /* a dial-in device's, ours; else NULL */
    struct dtu_slot *slot;
    FILE *trace;
};
/* The link of configured device cd, whatever its transport, tracing to trace
 * (NULL: off); cd NULL: a link with the params the caller set in cl->p. For a
 * DTU that dials in (listen =): listens on the device's address (a port held
 * is an error, with a hint) and waits up to wait_ms for the DTU to register,
 * saying on stderr who dials in meanwhile, refusals too. 0, or 1 with the
 * reason printed; cli_link_close either way. cl must stay where it is. */
int cli_link_open(struct cli_link *cl, const char *cmd, const struct conf *c,
                  const struct conf_device *cd, int64_t wait_ms, FILE *trace);
void cli_link_close(struct cli_link *cl);
#define CLI_WAIT_DEFAULT_MS 60000
/* --wait SECONDS into *ms; -1 after saying what is wrong. */
int cli_wait_parse(const char *cmd, const char *val, int64_t *ms);
/* For a listen error (its errno): a hint when the port is in use, else "". */
const char *cli_held_hint(int e);

#endif
