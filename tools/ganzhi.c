/* ganzhi: the field engineer's CLI; dispatches to tools/cli_*.c. */
#include "tools/cli.h"
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    { "check",  cli_check,  "check -c FILE            validate the configuration and point tables" },
    { "read",   cli_read,   "read -c FILE DEVICE [TAG...] [--json] [--trace] [--wait S]  read points now, once" },
    { "status", cli_status, "status -c FILE [--json]  what the running agent reports about itself" },
    { "scan",   cli_scan,   "scan --serial PORT | --host HOST[:PORT] [--rtu-tcp] | -c FILE DEVICE   which unit ids answer" },
    { "listen", cli_listen, "listen --port P [--address A] [--seconds N] [--hex]   who dials in: a DTU's registration and heartbeat" },
    { "queue",  cli_queue,  "queue -c FILE [--watch [S]] [--json]  per uplink: waiting, oldest, rate, drain time, lost" },
    { "uplink", cli_uplink, "uplink -c FILE NAME      connect to one uplink, show TLS and certificates, test message" },
    { "tail",   cli_tail,   "tail -c FILE [TAG...] [--once]  the latest readings from the store, refreshed" },
    { "command", cli_command, "command -c FILE UPLINK CMD [ARGS] [--print]  sign and send a platform command, show the reply" },
    { "validate", cli_validate, "validate --profile NAME [--kind K] FILE|-  check a captured message (--kind command|reply too)" },
    { "probe",  cli_probe,  "probe -c FILE DEVICE --address N --value V   which type and order give V" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].help);
    fprintf(f, "\n  --help, --version\nExit status: 0 success, 1 runtime failure, 2 bad usage or configuration.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("ganzhi %s\n", GANZHI_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ganzhi: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
