/* cli_scan: `ganzhi scan`, which unit ids answer on a serial port or a TCP host. */
#include "core/clock.h"
#include "core/num.h"
#include "core/url.h"
#include "tools/cli.h"
#include "agent/device.h"
#include "drivers/mb_link.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ganzhi scan --serial PORT [--baud 9600] [--parity N|E|O] [--data-bits 8]\n"
        "                   [--stop-bits 1] [OPTIONS]\n"
        "       ganzhi scan --host HOST[:PORT] [--port 502] [--rtu-tcp] [OPTIONS]\n"
        "       ganzhi scan -c FILE DEVICE [--wait SECONDS] [OPTIONS]\n"
        "Asks every unit id for one register and lists those that answer, with the\n"
        "round trip; an exception reply counts as an answer (the unit is there).\n"
        "  --host             HOST, HOST:PORT, [IPv6] or [IPv6]:PORT; the port is 502\n"
        "                     unless written here or given by --port (not both)\n"
        "  --rtu-tcp          with --host: RTU frames (CRC and all) over that TCP\n"
        "                     connection, not Modbus TCP: the units behind a serial\n"
        "                     device server or DTU (--baud etc.: its serial side)\n"
        "  -c FILE DEVICE     the bus of a configured device, however it is reached\n"
        "                     (modbus-tcp, modbus-rtu, modbus-rtu-tcp); for a DTU that\n"
        "                     dials in (listen =), listens on its address and waits up\n"
        "                     to --wait seconds (default 60) for it to register\n"
        "  --units A-B        unit ids to try (default 1-247)\n"
        "  --timeout T        how long to wait for each (default 200ms; with -c the\n"
        "                     device's timeout)\n"
        "  --area holding|input|coil|discrete, --address N   what to ask for (holding 0)\n"
        "  --trace            print every frame in hex with timing (stderr)\n"
        "Exit 0 if some unit answered, 1 if none did (or the DTU did not dial in),\n"
        "2 on bad usage.\n");
}

static int num(const char *opt, const char *s, long lo, long hi, long *out)
{
    char err[128];
    if (num_parse_long(s, lo, hi, out, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "ganzhi scan: %s: %s\n", opt, err);
    return -1;
}

int cli_scan(int argc, char **argv)
{
    struct mb_link_params p = { .transport = MB_TCP, .port = 502, .baud = 9600, .parity = 'N', .data_bits = 8,
                                .stop_bits = 1, .frame_gap_us = -1, .unit_id = 1,
                                .timeout_ms = 200 };
    const char *conf_path = NULL, *devname = NULL, *host_arg = NULL;
    long lo = 1, hi = 247, v;
    struct mb_read rd = { MB_HOLDING, 0, 1, 0, 1 };
    int trace = 0, host_port = 0, port_opt = 0, rtu_tcp = 0, timeout_set = 0;
    int64_t wait_ms = CLI_WAIT_DEFAULT_MS;
    char host[URL_HOST_MAX];
    struct conf *c = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--trace")) {
            trace = 1;
            takes = 0;
        } else if (!strcmp(a, "--rtu-tcp")) {
            rtu_tcp = 1;
            takes = 0;
        } else if (!val && a[0] == '-') {
            fprintf(stderr, "ganzhi scan: %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            conf_path = val;
        } else if (!strcmp(a, "--serial")) {
            p.transport = MB_RTU_SERIAL;
            p.serial = val;
        } else if (!strcmp(a, "--host")) {
            char err[300];
            host_port = 0;
            if (url_parse_hostport(val, host, sizeof host, &host_port, err, sizeof err)) {
                fprintf(stderr, "ganzhi scan: --host: %s\n", err);
                return 2;
            }
            p.host = host;
            host_arg = val;
        } else if (!strcmp(a, "--port")) {
            if (num(a, val, 1, 65535, &v)) return 2;
            port_opt = (int)v;
        } else if (!strcmp(a, "--baud")) {
            if (num(a, val, 300, 4000000, &v)) return 2;
            p.baud = (int)v;
        } else if (!strcmp(a, "--parity")) {
            if (strcmp(val, "N") && strcmp(val, "E") && strcmp(val, "O")) {
                fprintf(stderr, "ganzhi scan: --parity is N, E or O\n");
                return 2;
            }
            p.parity = val[0];
        } else if (!strcmp(a, "--data-bits")) {
            if (num(a, val, 7, 8, &v)) return 2;
            p.data_bits = (int)v;
        } else if (!strcmp(a, "--stop-bits")) {
            if (num(a, val, 1, 2, &v)) return 2;
            p.stop_bits = (int)v;
        } else if (!strcmp(a, "--units")) {
            char first[16];
            const char *dash = strchr(val, '-');
            snprintf(first, sizeof first, "%.*s", dash ? (int)(dash - val) : (int)strlen(val), val);
            if (num(a, first, 0, 255, &lo) || num(a, dash ? dash + 1 : val, lo, 255, &hi))
                return 2;
        } else if (!strcmp(a, "--timeout")) {
            char err[128];
            if (conf_parse_duration(val, &p.timeout_ms, err, sizeof err) || p.timeout_ms < 1) {
                fprintf(stderr, "ganzhi scan: --timeout: %s\n", err);
                return 2;
            }
            timeout_set = 1;
        } else if (!strcmp(a, "--wait")) {
            if (cli_wait_parse("scan", val, &wait_ms))
                return 2;
        } else if (!strcmp(a, "--area")) {
            if (mb_area_parse(val, &rd.area)) {
                fprintf(stderr, "ganzhi scan: --area is holding, input, coil or discrete\n");
                return 2;
            }
        } else if (!strcmp(a, "--address")) {
            if (num(a, val, 0, 65535, &v)) return 2;
            rd.start = (uint16_t)v;
        } else if (a[0] != '-' && conf_path && !devname) {
            devname = a;
            takes = 0;
        } else {
            fprintf(stderr, "ganzhi scan: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i += takes;
    }
    /* "--host 127.0.0.1:5020" once became 127.0.0.1:5020:502: the port is
     * taken from the host when written there, and two ports are refused rather
     * than one silently preferred. */
    if (host_port && port_opt) {
        fprintf(stderr, "ganzhi scan: the port is given twice (--host %s and --port %d); "
                "give one\n", host_arg, port_opt);
        return 2;
    }
    if (host_port || port_opt)
        p.port = host_port ? host_port : port_opt;
    if (rtu_tcp && (!p.host || conf_path || p.transport == MB_RTU_SERIAL)) {
        fprintf(stderr, "ganzhi scan: --rtu-tcp goes with --host (with -c the device's driver "
                "says how it is reached)\n");
        return 2;
    }
    if (rtu_tcp)
        p.transport = MB_RTU_TCP;
    const struct conf_device *d = NULL;
    if (conf_path) {
        if (!devname) {
            usage(stderr);
            return 2;
        }
        if (!(c = cli_load(conf_path)))
            return 2;
        if (!(d = conf_device_find(c, devname))) {
            fprintf(stderr, "ganzhi scan: no device '%s' in %s\n", devname, conf_path);
            conf_free(c);
            return 2;
        }
    } else if (p.transport != MB_RTU_SERIAL && !p.host) {
        usage(stderr);
        return 2;
    }
    int64_t timeout_ms = d && !timeout_set ? d->timeout_ms : p.timeout_ms;
    struct cli_link cl = { .p = p };
    if (cli_link_open(&cl, "scan", c, d, wait_ms, trace ? stderr : NULL) != 0) {
        cli_link_close(&cl);
        conf_free(c);
        return 1;
    }
    p = cl.p;
    struct mb_link *l = cl.link;
    char where[300];
    if (p.transport == MB_RTU_SERIAL)
        snprintf(where, sizeof where, "%s at %d %d%c%d", p.serial, p.baud, p.data_bits,
                 p.parity, p.stop_bits);
    else if (p.dtu)
        mb_link_describe(l, where, sizeof where);
    else
        snprintf(where, sizeof where, strchr(p.host, ':') ? "[%s]:%d%s" : "%s:%d%s", p.host,
                 p.port, p.transport == MB_RTU_TCP ? " (RTU over TCP)" : "");
    printf("scanning unit ids %ld-%ld on %s, asking %s %u, timeout %lld ms\n", lo, hi, where,
           mb_area_name(rd.area), rd.start, (long long)timeout_ms);
    uint16_t regs[1];
    uint8_t bits[1];
    int found = 0, rc = 1;
    for (long unit = lo; unit <= hi; unit++) {
        mb_link_target(l, (int)unit, timeout_ms);
        int exc;
        char why[160];
        int64_t t0 = mono_us();
        enum mb_status st = mb_link_read(l, &rd, regs, bits, &exc, why, sizeof why);
        double ms = (double)(mono_us() - t0) / 1000.0;
        if (st == MB_OK) {
            printf("unit %3ld: answers, %.1f ms (%s %u = %u)\n", unit, ms, mb_area_name(rd.area),
                   rd.start, mb_is_bit_area(rd.area) ? bits[0] : regs[0]);
            found++;
        } else if (st == MB_ERR_EXCEPTION) {
            printf("unit %3ld: answers with exception %d (%s), %.1f ms\n", unit, exc, why, ms);
            found++;
        } else if (st == MB_ERR_REPLY) {
            printf("unit %3ld: garbled reply (%s): a unit may be there\n", unit, why);
        } else if (p.transport != MB_RTU_SERIAL && !p.dtu && strstr(why, "refused")) {
            printf("%s refuses connections: %s\n", where, why);
            goto out;
        }
        fflush(stdout);
    }
    printf("%d of %ld unit ids answer\n", found, hi - lo + 1);
    rc = found ? 0 : 1;
out:
    cli_link_close(&cl);
    conf_free(c);
    return rc;
}
