/* ganzhi-sim: a Modbus TCP and RTU device simulator that behaves like a small tank farm and misbehaves on demand; options and main. */
#include "core/bytes.h"
#include "core/num.h"
#include "core/url.h"
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
    "valves, ESD) as a Modbus TCP server, as RTU slaves on a serial line, or as RTU slaves\n"
    "reached through TCP (a serial device server, a TCP to RTU gateway, a DTU that dials\n"
    "out), for the demo, the tests and benchmarks; misbehave on demand.\n"
    "\n"
    "  --address ADDR  IPv4 or IPv6 address to listen on (default 127.0.0.1; 0.0.0.0 or ::\n"
    "                  for all)\n"
    "  --port N        TCP port (default 5020)\n"
    "  --rtu PATH      RTU instead of TCP, on this serial device or pty end\n"
    "  --rtu-tcp       RTU frames, CRC and all, in TCP connections on --address and --port,\n"
    "                  as a serial device server in raw TCP mode; each connection is framed\n"
    "                  as a serial line is, and one serial line behind them all answers one\n"
    "                  request at a time\n"
    "  --gateway       a Modbus TCP to RTU gateway on --address and --port: every request\n"
    "                  from every connection waits for one serial line paced at --baud; a\n"
    "                  silent unit is answered exception 0x0B after --gateway-timeout, a unit\n"
    "                  not in --units exception 0x0A at once\n"
    "  --dial HOST:PORT  a DTU: connect to HOST:PORT (an IPv4 address, or [IPv6]:PORT), send\n"
    "                  --register, then serve RTU frames over the connection as --rtu-tcp\n"
    "                  does, sending --heartbeat at its interval; dial again when it goes\n"
    "  --max-clients N TCP, --rtu-tcp, --gateway: connections served at once, 1..256\n"
    "                  (default 256); more are accepted, closed at once and counted refused\n"
    "  --gateway-timeout MS  --gateway: how long it waits for a unit, 1..60000 (default 300)\n"
    "\n"
    "The serial line (--rtu; and behind --rtu-tcp, --gateway and --dial, for its timing):\n"
    "  --baud N        1200, 2400, 4800, 9600 (default), 19200, 38400, 57600, 115200 or\n"
    "                  230400\n"
    "  --parity P      N (default), E or O\n"
    "  --data-bits N   8 (default) or 7\n"
    "  --stop-bits N   1 (default) or 2\n"
    "  --paced         --rtu-tcp, --dial: a request is answered no sooner than (its bytes +\n"
    "                  the reply's) x the character time + 3.5 characters after it came, and\n"
    "                  holds the line that long, so requests queue behind each other (a\n"
    "                  gateway always paces); without it, at once (plus any `slow`)\n"
    "\n"
    "The DTU (--dial):\n"
    "  --register BYTES          registration packet, sent first on every connection: text,\n"
    "                            or hex: and hex digits (e.g. hex:FE01A0); none by default\n"
    "  --register-delay S        wait S seconds after connecting before sending it (0..3600,\n"
    "                            default 0)\n"
    "  --heartbeat BYTES         heartbeat packet, text or hex:..; none by default\n"
    "  --heartbeat-interval S    its period, fractions allowed (0.01..86400, default 30)\n"
    "  --redial-after S          drop the connection after S seconds connected and dial again\n"
    "                            (default never)\n"
    "  --redial-wait S           pause before dialling again after a failed dial or a closed\n"
    "                            connection (0..3600, default 1)\n"
    "\n"
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
    "              truncated= injected= refused= other=\n"
    "  ganzhi-sim: stats bus frames= bad_frames= other_units= broadcasts= garbage=\n"
    "              garbage_bytes= tx_lost=\n"
    "and over TCP one for the connections, for the line behind (--rtu-tcp, --gateway,\n"
    "--dial) and for dialling (--dial):\n"
    "  ganzhi-sim: stats link mode=M accepted= refused= dropped= closed= requests=\n"
    "              hangups= closed_after_reply=\n"
    "  ganzhi-sim: stats line paced= served= busy_ms= queue_max= queue_full= overlaps=\n"
    "              echoes= target_failed= path_unavailable=\n"
    "  ganzhi-sim: stats dial dials= failed= registrations= heartbeats=\n"
    "              heartbeats_inside= drops= expired=\n"
    "(each on one line, to stderr); they are printed on exit too. overlaps counts requests\n"
    "taken onto the line before the last one's reply was out: it stays 0. SIGTERM or SIGINT\n"
    "stops the simulator (exit 0). Exit status: 0 success, 1 runtime failure (e.g. the port\n"
    "is in use), 2 bad usage.\n";

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
    struct sim_server *srv;     /* TCP modes, once listening */
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
        if (rt->srv)
            sim_server_print_stats(rt->srv, stderr);
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

/* A duration in seconds, fractions allowed, within [lo, hi]; 0, or -1. */
static int parse_seconds(const char *s, double lo, double hi, double *out)
{
    char err[128];
    double v;
    if (num_parse_double(s, &v, err, sizeof err) < 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

struct config {
    struct sim_server_options so;
    struct sim_rtu_options ro;
    struct sim_farm_options fo;
    struct sim_reply_options rpo;
    struct sim_control control;
    int units[SIM_UNIT_MAX];
    char dial_host[URL_HOST_MAX];
    uint8_t reg[BYTES_MAX], hb[BYTES_MAX];
};

static const char *const mode_names[] = { "TCP", "gateway", "RTU over TCP", "dial" };

static int serve_tcp(const struct config *c, struct runtime *rt)
{
    struct sim_server *srv;
    const int dial = c->so.mode == SIM_SERVE_DIAL;
    if (sim_server_open(&c->so, &srv) < 0) {
        if (dial)
            fprintf(stderr, "ganzhi-sim: cannot dial %s port %d: %s\n", c->so.address,
                    c->so.port, strerror(errno));
        else
            fprintf(stderr, "ganzhi-sim: cannot listen on %s:%d: %s\n",
                    c->so.address, c->so.port, strerror(errno));
        return 1;
    }
    if (dial)
        fprintf(stderr, "ganzhi-sim: serving %u points as a DTU dialling %s, unit %d",
                sim_farm_point_count(), sim_server_where(srv), c->units[0]);
    else if (c->so.mode == SIM_SERVE_TCP)
        fprintf(stderr, "ganzhi-sim: serving %u points on %s unit %d", sim_farm_point_count(),
                sim_server_where(srv), c->units[0]);
    else
        fprintf(stderr, "ganzhi-sim: serving %u points on %s (%s), unit %d",
                sim_farm_point_count(), sim_server_where(srv), mode_names[c->so.mode],
                c->units[0]);
    for (unsigned i = 1; i < c->rpo.nunits; i++)
        fprintf(stderr, ",%d", c->units[i]);
    if (c->so.mode != SIM_SERVE_TCP)
        fprintf(stderr, ", line %ld %d%c%d%s", c->ro.baud, c->ro.data_bits, c->ro.parity,
                c->ro.stop_bits,
                c->so.paced || c->so.mode == SIM_SERVE_GATEWAY ? " paced" : "");
    if (c->fo.bench)
        fprintf(stderr, ", %u bench registers at %u", c->fo.bench, SIM_BENCH_BASE);
    fprintf(stderr, "%s\n", c->fo.frozen ? ", static" : "");

    int rc = 0;
    rt->srv = srv;
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
        sim_server_print_stats(srv, stderr);
    }
    rt->srv = NULL;
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
           OPT_SEED, OPT_LIST, OPT_VALUES, OPT_HELP, OPT_VERSION, OPT_RTU_TCP, OPT_GATEWAY,
           OPT_DIAL, OPT_PACED, OPT_MAX_CLIENTS, OPT_GATEWAY_TIMEOUT, OPT_REGISTER,
           OPT_REGISTER_DELAY, OPT_HEARTBEAT, OPT_HEARTBEAT_INTERVAL, OPT_REDIAL_AFTER,
           OPT_REDIAL_WAIT };
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
        { "rtu-tcp",   no_argument,       NULL, OPT_RTU_TCP },
        { "gateway",   no_argument,       NULL, OPT_GATEWAY },
        { "dial",      required_argument, NULL, OPT_DIAL },
        { "paced",     no_argument,       NULL, OPT_PACED },
        { "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
        { "gateway-timeout", required_argument, NULL, OPT_GATEWAY_TIMEOUT },
        { "register",  required_argument, NULL, OPT_REGISTER },
        { "register-delay", required_argument, NULL, OPT_REGISTER_DELAY },
        { "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
        { "heartbeat-interval", required_argument, NULL, OPT_HEARTBEAT_INTERVAL },
        { "redial-after", required_argument, NULL, OPT_REDIAL_AFTER },
        { "redial-wait", required_argument, NULL, OPT_REDIAL_WAIT },
        { NULL, 0, NULL, 0 }
    };
    /* Static: the directive tables are a few kilobytes each. */
    static struct config c = {
        .so = { .address = "127.0.0.1", .port = 5020,
                .max_clients = MAX_CLIENTS, .tick_ms = TICK_MS, .gateway_timeout_s = 0.3,
                .dial = { .heartbeat_s = 30, .redial_wait_s = 1 } },
        .ro = { .baud = 9600, .parity = 'N', .data_bits = 8, .stop_bits = 1,
                .tick_ms = TICK_MS },
        .fo = { .seed = 1 },
        .units = { 1 },
    };
    int list = 0, values = 0, have_unit = 0, have_units = 0, addr_given = 0, line_given = 0;
    int rtu_tcp = 0, gateway = 0, paced = 0, clients_given = 0, gw_timeout_given = 0;
    const char *dial = NULL, *dial_only = NULL;
    long v;
    double d;
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
            addr_given = 1;
            break;
        case OPT_PORT:
            if (parse_long(optarg, 1, 65535, &v) < 0)
                return usage_error("--port: expected 1..65535, got '%s'", optarg);
            c.so.port = (int)v;
            addr_given = 1;
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
        case OPT_RTU_TCP:
            rtu_tcp = 1;
            break;
        case OPT_GATEWAY:
            gateway = 1;
            break;
        case OPT_DIAL: {
            int port = 0;
            char e2[128];
            if (url_parse_hostport(optarg, c.dial_host, sizeof c.dial_host, &port, e2,
                                   sizeof e2) < 0 || port == 0)
                return usage_error("--dial: expected HOST:PORT (IPv4, or [IPv6]:PORT), got "
                                   "'%s'", optarg);
            struct in6_addr ia6;
            if (inet_pton(AF_INET, c.dial_host, &ia6) != 1 &&
                inet_pton(AF_INET6, c.dial_host, &ia6) != 1)
                return usage_error("--dial: expected an IPv4 or IPv6 address, got '%s'",
                                   c.dial_host);
            dial = optarg;
            c.so.address = c.dial_host;
            c.so.port = port;
            break;
        }
        case OPT_PACED:
            paced = 1;
            break;
        case OPT_MAX_CLIENTS:
            if (parse_long(optarg, 1, MAX_CLIENTS, &v) < 0)
                return usage_error("--max-clients: expected 1..%d, got '%s'", MAX_CLIENTS,
                                   optarg);
            c.so.max_clients = (unsigned)v;
            clients_given = 1;
            break;
        case OPT_GATEWAY_TIMEOUT:
            if (parse_long(optarg, 1, 60000, &v) < 0)
                return usage_error("--gateway-timeout: expected 1..60000 ms, got '%s'", optarg);
            c.so.gateway_timeout_s = v / 1000.0;
            gw_timeout_given = 1;
            break;
        case OPT_REGISTER: case OPT_HEARTBEAT: {
            int reg = ch == OPT_REGISTER;
            size_t n;
            if (bytes_parse(optarg, reg ? c.reg : c.hb, BYTES_MAX, &n, err, sizeof err) < 0)
                return usage_error("%s: %s", reg ? "--register" : "--heartbeat", err);
            if (reg) {
                c.so.dial.reg = c.reg;
                c.so.dial.reg_len = n;
            } else {
                c.so.dial.hb = c.hb;
                c.so.dial.hb_len = n;
            }
            dial_only = reg ? "--register" : "--heartbeat";
            break;
        }
        case OPT_REGISTER_DELAY:
            if (parse_seconds(optarg, 0, 3600, &d) < 0)
                return usage_error("--register-delay: expected 0..3600 seconds, got '%s'",
                                   optarg);
            c.so.dial.register_delay_s = d;
            dial_only = "--register-delay";
            break;
        case OPT_HEARTBEAT_INTERVAL:
            if (parse_seconds(optarg, 0.01, 86400, &d) < 0)
                return usage_error("--heartbeat-interval: expected 0.01..86400 seconds, got "
                                   "'%s'", optarg);
            c.so.dial.heartbeat_s = d;
            dial_only = "--heartbeat-interval";
            break;
        case OPT_REDIAL_AFTER:
            if (parse_seconds(optarg, 0.01, 86400 * 365.0, &d) < 0)
                return usage_error("--redial-after: expected a positive number of seconds, "
                                   "got '%s'", optarg);
            c.so.dial.redial_after_s = d;
            dial_only = "--redial-after";
            break;
        case OPT_REDIAL_WAIT:
            if (parse_seconds(optarg, 0, 3600, &d) < 0)
                return usage_error("--redial-wait: expected 0..3600 seconds, got '%s'", optarg);
            c.so.dial.redial_wait_s = d;
            dial_only = "--redial-wait";
            break;
        case OPT_BAUD:
            if (parse_long(optarg, 1, 4000000, &v) < 0 || !sim_rtu_baud_ok(v))
                return usage_error("--baud: expected 1200, 2400, 4800, 9600, 19200, 38400, "
                                   "57600, 115200 or 230400, got '%s'", optarg);
            c.ro.baud = v;
            line_given = 1;
            break;
        case OPT_PARITY:
            if (strcmp(optarg, "N") != 0 && strcmp(optarg, "E") != 0 && strcmp(optarg, "O") != 0)
                return usage_error("--parity: expected N, E or O, got '%s'", optarg);
            c.ro.parity = optarg[0];
            line_given = 1;
            break;
        case OPT_DATA_BITS:
            if (parse_long(optarg, 7, 8, &v) < 0)
                return usage_error("--data-bits: expected 7 or 8, got '%s'", optarg);
            c.ro.data_bits = (int)v;
            line_given = 1;
            break;
        case OPT_STOP_BITS:
            if (parse_long(optarg, 1, 2, &v) < 0)
                return usage_error("--stop-bits: expected 1 or 2, got '%s'", optarg);
            c.ro.stop_bits = (int)v;
            line_given = 1;
            break;
        case OPT_MISBEHAVE:
            if (sim_faults_apply(&c.control.base, optarg, err, sizeof err) < 0)
                return usage_error("--misbehave '%s': %s", optarg, err);
            if (c.control.base.drop)
                return usage_error("--misbehave '%s': drop is an event: write it in the "
                                   "--control file when it is to happen", optarg);
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
    if ((c.ro.path != NULL) + rtu_tcp + gateway + (dial != NULL) > 1)
        return usage_error("--rtu, --rtu-tcp, --gateway and --dial exclude each other");
    if (c.ro.path && addr_given)
        return usage_error("--address and --port are for TCP, not with --rtu");
    if (dial && addr_given)
        return usage_error("--address and --port are for listening, not with --dial (it "
                           "takes HOST:PORT)");
    if (!c.ro.path && !rtu_tcp && !gateway && !dial && line_given)
        return usage_error("--baud, --parity, --data-bits and --stop-bits need --rtu, "
                           "--rtu-tcp, --gateway or --dial");
    if (paced && !rtu_tcp && !gateway && !dial)
        return usage_error("--paced needs --rtu-tcp or --dial (a gateway always paces; a "
                           "serial line is paced by its own baud rate)");
    if (clients_given && (c.ro.path || dial))
        return usage_error("--max-clients is for TCP, --rtu-tcp and --gateway");
    if (gw_timeout_given && !gateway)
        return usage_error("--gateway-timeout needs --gateway");
    if (dial_only && !dial)
        return usage_error("%s needs --dial", dial_only);
    struct in6_addr ia;
    if (!dial && inet_pton(AF_INET, c.so.address, &ia) != 1 &&
        inet_pton(AF_INET6, c.so.address, &ia) != 1)
        return usage_error("--address: expected an IPv4 or IPv6 address, got '%s'",
                           c.so.address);

    if (list) {
        int rc = sim_farm_print_table(stdout);
        return fflush(stdout) == 0 && rc == 0 ? 0 : 1;
    }
    if (values) {
        int rc = print_values(&c.fo);
        return fflush(stdout) == 0 && rc == 0 ? 0 : 1;
    }
    c.so.mode = gateway ? SIM_SERVE_GATEWAY : rtu_tcp ? SIM_SERVE_RTU_TCP
              : dial ? SIM_SERVE_DIAL : SIM_SERVE_TCP;
    c.so.paced = paced;
    sim_rtu_timing(c.ro.baud, c.ro.parity, c.ro.data_bits, c.ro.stop_bits, &c.so.char_s,
                   &c.so.gap_s);
    c.rpo.mode = c.ro.path || rtu_tcp || dial ? SIM_RTU : SIM_TCP;
    c.rpo.units = c.units;
    c.rpo.seed = c.fo.seed;
    return serve(&c, c.ro.path != NULL);
}
