/* ganzhi-sim: a Modbus TCP and RTU device simulator that behaves like a small tank farm and misbehaves on demand; options and main. */
#include "core/num.h"
#include "tools/sim_farm.h"
#include "tools/sim_fault.h"
#include "tools/sim_reply.h"
#include "tools/sim_rtu.h"
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
    "valves, ESD) as a Modbus TCP server, or as RTU slaves on a serial line, for the demo,\n"
    "the tests and benchmarks; misbehave on demand.\n"
    "\n"
    "  --address ADDR  IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
    "  --port N        TCP port (default 5020)\n"
    "  --rtu PATH      RTU instead of TCP, on this serial device or pty end\n"
    "  --baud N        RTU: 1200, 2400, 4800, 9600 (default), 19200, 38400, 57600,\n"
    "                  115200 or 230400\n"
    "  --parity P      RTU: N (default), E or O\n"
    "  --data-bits N   RTU: 8 (default) or 7\n"
    "  --stop-bits N   RTU: 1 (default) or 2\n"
    "  --unit N        unit id answered, 1..247 (default 1)\n"
    "  --units LIST    several unit ids, comma-separated (e.g. 1,2,3), each a device of its\n"
    "                  own on the bus, all serving the same tank farm (one plant: the same\n"
    "                  values, and a write through one unit is seen through the others)\n"
    "                  Requests for other ids get no reply. TCP answers 0 and 255 as the\n"
    "                  first unit; RTU executes unit 0 (broadcast) and never answers it.\n"
    "  --misbehave D   a misbehaviour directive (below), repeatable\n"
    "  --control FILE  directives, one a line, re-read whenever the file changes (checked\n"
    "                  every 100 ms); in force: the --misbehave directives, then the file\n"
    "  --static        values never change: every point keeps its initial value\n"
    "  --bench N       also serve N uint16 holding registers at 10000.. (N up to 50000)\n"
    "                  that change every tick, for throughput benchmarks\n"
    "  --seed N        seed of the random events (gas puffs, valve demand, which replies\n"
    "                  are spoiled; default 1)\n"
    "  --list          print the point table served, as point table CSV, and exit\n"
    "  --values        print \"TAG VALUE\" for each point's initial engineering value, and exit\n"
    "  --help          print this help and exit\n"
    "  --version       print the version and exit\n"
    "\n"
    "Directives (a unit is 1..247; a later directive of a kind replaces an earlier one):\n"
    SIM_FAULT_HELP
    "\n"
    "The plant moves every 100 ms in real time. Coils are pump and valve commands a client\n"
    "may write. SIGUSR1 prints the counters, one line per unit and one for the bus:\n"
    "  ganzhi-sim: stats unit=U requests= replies= exceptions= silent= delayed= crc=\n"
    "              truncated= injected= refused=\n"
    "  ganzhi-sim: stats bus frames= bad_frames= other_units= broadcasts= garbage=\n"
    "              garbage_bytes= tx_lost=\n"
    "(each on one line, to stderr); they are printed on exit too. SIGTERM or SIGINT stops\n"
    "the simulator (exit 0). Exit status: 0 success, 1 runtime failure (e.g. the port is in\n"
    "use), 2 bad usage.\n";

static volatile sig_atomic_t stop_requested, stats_requested;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        stats_requested = 1;
    else
        stop_requested = 1;
}

/* What the tick needs besides the plant. */
struct runtime {
    struct sim_farm *farm;
    struct sim_reply *rep;
    struct sim_control *control;
};

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
    char err[128];
    return num_parse_long(s, lo, hi, out, err, sizeof err);
}

/* Between requests, never inside one: the plant moves, the control file is looked at,
 * the counters printed if asked. */
static void tick(void *arg, double dt)
{
    struct runtime *rt = arg;
    sim_farm_tick(rt->farm, dt);
    if (sim_control_poll(rt->control, sim_reply_faults(rt->rep)) > 0)
        fprintf(stderr, "ganzhi-sim: %s: directives in force now\n", rt->control->path);
    if (stats_requested) {
        stats_requested = 0;
        sim_reply_print_stats(rt->rep, stderr);
    }
}

/* "1,2,3": distinct unit ids 1..247. Returns the count, or -1. */
static int parse_units(const char *s, int *units, int max)
{
    char buf[1024];
    int n = 0;
    size_t len = strlen(s);
    /* strtok would pass over an empty item ("1,,2"): refuse it here. */
    if (len == 0 || len >= sizeof buf || s[0] == ',' || s[len - 1] == ',' || strstr(s, ",,"))
        return -1;
    strcpy(buf, s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (n == max || parse_long(t, 1, SIM_UNIT_MAX, &v) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            if (units[i] == v)
                return -1;
        units[n++] = (int)v;
    }
    return n > 0 ? n : -1;
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    /* No SA_RESTART: select() must return EINTR so the loop sees the stop at once. */
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
        sigaction(SIGUSR1, &sa, NULL) < 0)
        return -1;
    /* A client gone mid-reply must cost its connection, not the process. */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

struct config {
    struct sim_server_options so;
    struct sim_rtu_options ro;
    struct sim_farm_options fo;
    struct sim_reply_options rpo;
    struct sim_control control;
    int units[SIM_UNIT_MAX];
};

static int serve_tcp(const struct config *c, struct runtime *rt)
{
    struct sim_server *srv;
    if (sim_server_open(&c->so, &srv) < 0) {
        fprintf(stderr, "ganzhi-sim: cannot listen on %s:%d: %s\n",
                c->so.address, c->so.port, strerror(errno));
        return 1;
    }
    fprintf(stderr, "ganzhi-sim: serving %u points on %s:%d unit %d", sim_farm_point_count(),
            c->so.address, c->so.port, c->units[0]);
    for (unsigned i = 1; i < c->rpo.nunits; i++)
        fprintf(stderr, ",%d", c->units[i]);
    if (c->fo.bench)
        fprintf(stderr, ", %u bench registers at %u", c->fo.bench, SIM_BENCH_BASE);
    fprintf(stderr, "%s\n", c->fo.frozen ? ", static" : "");

    int rc = 0;
    if (sim_server_run(srv, rt->rep, tick, rt, &stop_requested) < 0) {
        fprintf(stderr, "ganzhi-sim: server failed: %s\n", strerror(errno));
        rc = 1;
    } else {
        struct sim_server_stats st;
        sim_server_stats(srv, &st);
        const struct sim_bus_stats *b = &sim_reply_stats(rt->rep)->bus;
        fprintf(stderr, "ganzhi-sim: stopped after %lu connections (%lu refused, %lu dropped), "
                "%lu requests (%lu for other units)\n",
                st.accepted, st.refused, st.dropped, st.requests, b->other_units);
        sim_reply_print_stats(rt->rep, stderr);
    }
    sim_server_close(srv);
    return rc;
}

static int serve_rtu(const struct config *c, struct runtime *rt)
{
    struct sim_rtu *srv;
    if (sim_rtu_open(&c->ro, &srv) < 0) {
        fprintf(stderr, "ganzhi-sim: cannot open %s: %s\n", c->ro.path, strerror(errno));
        return 1;
    }
    fprintf(stderr, "ganzhi-sim: serving %u points on %s at %ld %d%c%d, unit %d",
            sim_farm_point_count(), c->ro.path, c->ro.baud, c->ro.data_bits, c->ro.parity,
            c->ro.stop_bits, c->units[0]);
    for (unsigned i = 1; i < c->rpo.nunits; i++)
        fprintf(stderr, ",%d", c->units[i]);
    if (c->fo.bench)
        fprintf(stderr, ", %u bench registers at %u", c->fo.bench, SIM_BENCH_BASE);
    fprintf(stderr, "%s\n", c->fo.frozen ? ", static" : "");

    int rc = 0;
    if (sim_rtu_run(srv, rt->rep, tick, rt, &stop_requested) < 0) {
        fprintf(stderr, "ganzhi-sim: %s: %s\n", c->ro.path, strerror(errno));
        rc = 1;
    } else {
        fprintf(stderr, "ganzhi-sim: stopped\n");
        sim_reply_print_stats(rt->rep, stderr);
    }
    sim_rtu_close(srv);
    return rc;
}

static int serve(struct config *c, int rtu)
{
    struct runtime rt = { .control = &c->control };
    int rc = 1;

    if (install_signals() < 0) {
        fprintf(stderr, "ganzhi-sim: cannot install signal handlers: %s\n", strerror(errno));
        return 1;
    }
    if (sim_farm_create(&c->fo, &rt.farm) < 0) {
        fprintf(stderr, "ganzhi-sim: cannot build the tank farm: %s\n", strerror(errno));
        return 1;
    }
    if (sim_reply_open(&c->rpo, rt.farm, &rt.rep) < 0) {
        fprintf(stderr, "ganzhi-sim: cannot set up replies: %s\n", strerror(errno));
        goto out;
    }
    *sim_reply_faults(rt.rep) = c->control.base;
    /* A control file that is wrong from the start is a usage error, not a surprise. */
    if (sim_control_poll(&c->control, sim_reply_faults(rt.rep)) < 0) {
        rc = 2;
        goto out;
    }
    rc = rtu ? serve_rtu(c, &rt) : serve_tcp(c, &rt);

out:
    sim_reply_close(rt.rep);
    sim_farm_destroy(rt.farm);
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
    enum { OPT_ADDRESS = 256, OPT_PORT, OPT_UNIT, OPT_UNITS, OPT_RTU, OPT_BAUD, OPT_PARITY,
           OPT_DATA_BITS, OPT_STOP_BITS, OPT_MISBEHAVE, OPT_CONTROL, OPT_STATIC, OPT_BENCH,
           OPT_SEED, OPT_LIST, OPT_VALUES, OPT_HELP, OPT_VERSION };
    static const struct option longopts[] = {
        { "address",   required_argument, NULL, OPT_ADDRESS },
        { "port",      required_argument, NULL, OPT_PORT },
        { "unit",      required_argument, NULL, OPT_UNIT },
        { "units",     required_argument, NULL, OPT_UNITS },
        { "rtu",       required_argument, NULL, OPT_RTU },
        { "baud",      required_argument, NULL, OPT_BAUD },
        { "parity",    required_argument, NULL, OPT_PARITY },
        { "data-bits", required_argument, NULL, OPT_DATA_BITS },
        { "stop-bits", required_argument, NULL, OPT_STOP_BITS },
        { "misbehave", required_argument, NULL, OPT_MISBEHAVE },
        { "control",   required_argument, NULL, OPT_CONTROL },
        { "static",    no_argument,       NULL, OPT_STATIC },
        { "bench",     required_argument, NULL, OPT_BENCH },
        { "seed",      required_argument, NULL, OPT_SEED },
        { "list",      no_argument,       NULL, OPT_LIST },
        { "values",    no_argument,       NULL, OPT_VALUES },
        { "help",      no_argument,       NULL, OPT_HELP },
        { "version",   no_argument,       NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 }
    };
    /* Static: the directive tables are a few kilobytes each. */
    static struct config c = {
        .so = { .address = "127.0.0.1", .port = 5020,
                .max_clients = MAX_CLIENTS, .tick_ms = TICK_MS },
        .ro = { .baud = 9600, .parity = 'N', .data_bits = 8, .stop_bits = 1,
                .tick_ms = TICK_MS },
        .fo = { .seed = 1 },
        .units = { 1 },
    };
    int list = 0, values = 0, have_unit = 0, have_units = 0, tcp_only = 0, rtu_only = 0;
    long v;
    char err[200];

    c.rpo.nunits = 1;
    opterr = 0;     /* our own messages, in our own format; ":" reports a missing value */
    for (;;) {
        int ch = getopt_long(argc, argv, ":", longopts, NULL);
        if (ch == -1)
            break;
        switch (ch) {
        case OPT_ADDRESS:
            c.so.address = optarg;
            tcp_only = 1;
            break;
        case OPT_PORT:
            if (parse_long(optarg, 1, 65535, &v) < 0)
                return usage_error("--port: expected 1..65535, got '%s'", optarg);
            c.so.port = (int)v;
            tcp_only = 1;
            break;
        case OPT_UNIT:
            if (parse_long(optarg, 1, SIM_UNIT_MAX, &v) < 0)
                return usage_error("--unit: expected 1..247, got '%s'", optarg);
            c.units[0] = (int)v;
            c.rpo.nunits = 1;
            have_unit = 1;
            break;
        case OPT_UNITS: {
            int n = parse_units(optarg, c.units, SIM_UNIT_MAX);
            if (n < 0)
                return usage_error("--units: expected distinct unit ids 1..247 separated by "
                                   "commas, got '%s'", optarg);
            c.rpo.nunits = (unsigned)n;
            have_units = 1;
            break;
        }
        case OPT_RTU:
            c.ro.path = optarg;
            break;
        case OPT_BAUD:
            if (parse_long(optarg, 1, 4000000, &v) < 0 || !sim_rtu_baud_ok(v))
                return usage_error("--baud: expected 1200, 2400, 4800, 9600, 19200, 38400, "
                                   "57600, 115200 or 230400, got '%s'", optarg);
            c.ro.baud = v;
            rtu_only = 1;
            break;
        case OPT_PARITY:
            if (strcmp(optarg, "N") != 0 && strcmp(optarg, "E") != 0 && strcmp(optarg, "O") != 0)
                return usage_error("--parity: expected N, E or O, got '%s'", optarg);
            c.ro.parity = optarg[0];
            rtu_only = 1;
            break;
        case OPT_DATA_BITS:
            if (parse_long(optarg, 7, 8, &v) < 0)
                return usage_error("--data-bits: expected 7 or 8, got '%s'", optarg);
            c.ro.data_bits = (int)v;
            rtu_only = 1;
            break;
        case OPT_STOP_BITS:
            if (parse_long(optarg, 1, 2, &v) < 0)
                return usage_error("--stop-bits: expected 1 or 2, got '%s'", optarg);
            c.ro.stop_bits = (int)v;
            rtu_only = 1;
            break;
        case OPT_MISBEHAVE:
            if (sim_faults_apply(&c.control.base, optarg, err, sizeof err) < 0)
                return usage_error("--misbehave '%s': %s", optarg, err);
            break;
        case OPT_CONTROL:
            c.control.path = optarg;
            break;
        case OPT_STATIC:
            c.fo.frozen = 1;
            break;
        case OPT_BENCH:
            if (parse_long(optarg, 0, SIM_BENCH_MAX, &v) < 0)
                return usage_error("--bench: expected 0..50000, got '%s'", optarg);
            c.fo.bench = (unsigned)v;
            break;
        case OPT_SEED:
            if (parse_long(optarg, 0, LONG_MAX, &v) < 0)
                return usage_error("--seed: expected a non-negative integer, got '%s'", optarg);
            c.fo.seed = (uint64_t)v;
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
    if (have_unit && have_units)
        return usage_error("--unit and --units exclude each other");
    if (c.ro.path && tcp_only)
        return usage_error("--address and --port are for TCP, not with --rtu");
    if (!c.ro.path && rtu_only)
        return usage_error("--baud, --parity, --data-bits and --stop-bits need --rtu");
    struct in_addr ia;
    if (inet_pton(AF_INET, c.so.address, &ia) != 1)
        return usage_error("--address: expected an IPv4 address, got '%s'", c.so.address);

    if (list) {
        int rc = sim_farm_print_table(stdout);
        return fflush(stdout) == 0 && rc == 0 ? 0 : 1;
    }
    if (values) {
        int rc = print_values(&c.fo);
        return fflush(stdout) == 0 && rc == 0 ? 0 : 1;
    }
    c.rpo.mode = c.ro.path ? SIM_RTU : SIM_TCP;
    c.rpo.units = c.units;
    c.rpo.seed = c.fo.seed;
    return serve(&c, c.ro.path != NULL);
}
