/* ganzhi-sim: a Modbus TCP device simulator that behaves like a small tank farm; options and main. */
#include "tools/sim_farm.h"
#include "tools/sim_server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS     100     /* the plant moves ten times a second */
#define MAX_CLIENTS 256     /* select() and a bounded slot table */

static const char usage_text[] =
    "Usage: ganzhi-sim [OPTION]...\n"
    "Serve a simulated tank farm (levels, temperatures, pressures, gas detectors, pumps,\n"
    "valves, ESD) as a Modbus TCP server, for the demo, the tests and benchmarks.\n"
    "\n"
    "  --address ADDR  IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
    "  --port N        TCP port (default 5020)\n"
    "  --unit N        unit id answered, 1..247 (default 1); requests for other ids get no\n"
    "                  reply, except 0 and 255 which are answered as this unit\n"
    "  --static        values never change: every point keeps its initial value\n"
    "  --bench N       also serve N uint16 holding registers at 10000.. (N up to 50000)\n"
    "                  that change every tick, for throughput benchmarks\n"
    "  --seed N        seed of the random events (gas puffs, valve demand; default 1)\n"
    "  --list          print the point table served, as point table CSV, and exit\n"
    "  --values        print \"TAG VALUE\" for each point's initial engineering value, and exit\n"
    "  --help          print this help and exit\n"
    "  --version       print the version and exit\n"
    "\n"
    "The plant moves every 100 ms in real time. Coils are pump and valve commands a client\n"
    "may write. SIGTERM or SIGINT stops the server (exit 0). Exit status: 0 success,\n"
    "1 runtime failure (e.g. the port is in use), 2 bad usage.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ganzhi-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'ganzhi-sim --help'.\n", stderr);
    va_end(ap);
    return 2;
}

/* A whole decimal number within [lo, hi]; 0, or -1 for anything else. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void tick(void *arg, double dt)
{
    sim_farm_tick(arg, dt);
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    /* No SA_RESTART: select() must return EINTR so the loop sees the stop at once. */
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    /* A client gone mid-reply must cost its connection, not the process. */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static int serve(const struct sim_server_options *so, const struct sim_farm_options *fo)
{
    struct sim_farm *farm = NULL;
    struct sim_server *srv = NULL;
    int rc = 1;

    if (install_signals() < 0) {
        fprintf(stderr, "ganzhi-sim: cannot install signal handlers: %s\n", strerror(errno));
        return 1;
    }
    if (sim_farm_create(fo, &farm) < 0) {
        fprintf(stderr, "ganzhi-sim: cannot build the tank farm: %s\n", strerror(errno));
        return 1;
    }
    if (sim_server_open(so, &srv) < 0) {
        fprintf(stderr, "ganzhi-sim: cannot listen on %s:%d: %s\n",
                so->address, so->port, strerror(errno));
        goto out_farm;
    }
    fprintf(stderr, "ganzhi-sim: serving %u points on %s:%d unit %d", sim_farm_point_count(),
            so->address, so->port, so->unit);
    if (fo->bench)
        fprintf(stderr, ", %u bench registers at %u", fo->bench, SIM_BENCH_BASE);
    fprintf(stderr, "%s\n", fo->frozen ? ", static" : "");

    if (sim_server_run(srv, sim_farm_mapping(farm), tick, farm, &stop_requested) < 0) {
        fprintf(stderr, "ganzhi-sim: server failed: %s\n", strerror(errno));
        goto out_server;
    }
    struct sim_server_stats st;
    sim_server_stats(srv, &st);
    fprintf(stderr, "ganzhi-sim: stopped after %lu connections (%lu refused, %lu dropped), "
            "%lu requests (%lu for other units)\n",
            st.accepted, st.refused, st.dropped, st.requests, st.ignored);
    rc = 0;

out_server:
    sim_server_close(srv);
out_farm:
    sim_farm_destroy(farm);
    return rc;
}

static int print_values(const struct sim_farm_options *fo)
{
    struct sim_farm *farm;
    if (sim_farm_create(fo, &farm) < 0) {
        fprintf(stderr, "ganzhi-sim: cannot build the tank farm: %s\n", strerror(errno));
        return 1;
    }
    int rc = sim_farm_print_values(farm, stdout);
    sim_farm_destroy(farm);
    return rc;
}

int main(int argc, char **argv)
{
    enum { OPT_ADDRESS = 256, OPT_PORT, OPT_UNIT, OPT_STATIC, OPT_BENCH, OPT_SEED,
           OPT_LIST, OPT_VALUES, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        { "address", required_argument, NULL, OPT_ADDRESS },
        { "port",    required_argument, NULL, OPT_PORT },
        { "unit",    required_argument, NULL, OPT_UNIT },
        { "static",  no_argument,       NULL, OPT_STATIC },
        { "bench",   required_argument, NULL, OPT_BENCH },
        { "seed",    required_argument, NULL, OPT_SEED },
        { "list",    no_argument,       NULL, OPT_LIST },
        { "values",  no_argument,       NULL, OPT_VALUES },
        { "help",    no_argument,       NULL, OPT_HELP },
        { "version", no_argument,       NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 }
    };
    struct sim_server_options so = {
        .address = "127.0.0.1", .port = 5020, .unit = 1,
        .max_clients = MAX_CLIENTS, .tick_ms = TICK_MS,
    };
    struct sim_farm_options fo = { .seed = 1 };
    int list = 0, values = 0;
    long v;

    opterr = 0;     /* our own messages, in our own format; ":" reports a missing value */
    for (;;) {
        int c = getopt_long(argc, argv, ":", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case OPT_ADDRESS:
            so.address = optarg;
            break;
        case OPT_PORT:
            if (parse_long(optarg, 1, 65535, &v) < 0)
                return usage_error("--port: expected 1..65535, got '%s'", optarg);
            so.port = (int)v;
            break;
        case OPT_UNIT:
            if (parse_long(optarg, 1, 247, &v) < 0)
                return usage_error("--unit: expected 1..247, got '%s'", optarg);
            so.unit = (int)v;
            break;
        case OPT_STATIC:
            fo.frozen = 1;
            break;
        case OPT_BENCH:
            if (parse_long(optarg, 0, SIM_BENCH_MAX, &v) < 0)
                return usage_error("--bench: expected 0..50000, got '%s'", optarg);
            fo.bench = (unsigned)v;
            break;
        case OPT_SEED:
            if (parse_long(optarg, 0, LONG_MAX, &v) < 0)
                return usage_error("--seed: expected a non-negative integer, got '%s'", optarg);
            fo.seed = (uint64_t)v;
            break;
        case OPT_LIST:
            list = 1;
            break;
        case OPT_VALUES:
            values = 1;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        case OPT_VERSION:
            puts("ganzhi-sim " GANZHI_VERSION);
            return fflush(stdout) == 0 ? 0 : 1;
        case ':':
            return usage_error("%s: missing its value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (list && values)
        return usage_error("--list and --values exclude each other");
    struct in_addr ia;
    if (inet_pton(AF_INET, so.address, &ia) != 1)
        return usage_error("--address: expected an IPv4 address, got '%s'", so.address);

    if (list) {
        int rc = sim_farm_print_table(stdout);
        return fflush(stdout) == 0 && rc == 0 ? 0 : 1;
    }
    if (values) {
        int rc = print_values(&fo);
        return fflush(stdout) == 0 && rc == 0 ? 0 : 1;
    }
    return serve(&so, &fo);
}
