/* bench_modbus: the polling ceiling for `make bench`. A bare libmodbus client that
 * reads holding registers START..START+N-1 of a Modbus TCP server in requests of at
 * most 125 registers, back to back on one connection, for D seconds, and prints
 *   bare_modbus registers_per_s=R requests_per_s=Q requests=K errors=E seconds=S
 * on one line. Exit 0 on success, 1 on a runtime failure, 2 on bad usage. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime when built outside the Makefile */
#endif
#include <errno.h>
#include <limits.h>
#include <modbus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PER_REQUEST 125

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_modbus [--host ADDR] --port N [--points N] [--start ADDR]\n"
               "                    [--seconds D] [--unit N]\n"
               "  --host ADDR    server IPv4 address (default 127.0.0.1)\n"
               "  --port N       server TCP port, 1..65535 (required)\n"
               "  --points N     holding registers to cover, 1..65536 (default 5000)\n"
               "  --start ADDR   first register address (default 10000)\n"
               "  --seconds D    how long to read, 1..3600 (default 5)\n"
               "  --unit N       unit id, 0..255 (default 1)\n");
}

/* parse_long: the whole of S as a decimal integer within [lo, hi]. */
static int parse_long(const char *name, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bench_modbus: %s: '%s' is not an integer in %ld..%ld\n", name, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = 0, points = 5000, start = 10000, seconds = 5, unit = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_modbus: unexpected or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int rc;
        if (!strcmp(a, "--host")) {
            host = v;
            rc = 0;
        } else if (!strcmp(a, "--port")) {
            rc = parse_long(a, v, 1, 65535, &port);
        } else if (!strcmp(a, "--points")) {
            rc = parse_long(a, v, 1, 65536, &points);
        } else if (!strcmp(a, "--start")) {
            rc = parse_long(a, v, 0, 65535, &start);
        } else if (!strcmp(a, "--seconds")) {
            rc = parse_long(a, v, 1, 3600, &seconds);
        } else if (!strcmp(a, "--unit")) {
            rc = parse_long(a, v, 0, 255, &unit);
        } else {
            fprintf(stderr, "bench_modbus: unknown option '%s'\n", a);
            rc = -1;
        }
        if (rc != 0) {
            usage(stderr);
            return 2;
        }
    }
    if (port == 0) {
        fprintf(stderr, "bench_modbus: --port is required\n");
        usage(stderr);
        return 2;
    }
    if (start + points > 65536) {
        fprintf(stderr, "bench_modbus: --start + --points exceeds the register space\n");
        return 2;
    }

    modbus_t *ctx = modbus_new_tcp(host, (int)port);
    if (!ctx) {
        fprintf(stderr, "bench_modbus: modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_set_slave(ctx, (int)unit);
    modbus_set_response_timeout(ctx, 1, 0);
    if (modbus_connect(ctx) != 0) {
        fprintf(stderr, "bench_modbus: connect %s:%ld: %s\n", host, port, modbus_strerror(errno));
        modbus_free(ctx);
        return 1;
    }

    uint16_t regs[MAX_PER_REQUEST];
    unsigned long long registers = 0, requests = 0, errors = 0;
    double t0 = mono_s(), deadline = t0 + (double)seconds, now = t0;
    while (now < deadline) {
        for (long off = 0; off < points; off += MAX_PER_REQUEST) {
            long n = points - off < MAX_PER_REQUEST ? points - off : MAX_PER_REQUEST;
            int got = modbus_read_registers(ctx, (int)(start + off), (int)n, regs);
            if (got == (int)n) {
                registers += (unsigned long long)n;
                requests++;
            } else {
                errors++;
                if (errors > 100 && errors > requests) {
                    fprintf(stderr, "bench_modbus: too many errors, last: %s\n",
                            modbus_strerror(errno));
                    modbus_close(ctx);
                    modbus_free(ctx);
                    return 1;
                }
            }
        }
        now = mono_s();
    }
    double elapsed = now - t0;
    modbus_close(ctx);
    modbus_free(ctx);
    printf("bare_modbus registers_per_s=%.0f requests_per_s=%.0f requests=%llu errors=%llu "
           "seconds=%.2f\n",
           (double)registers / elapsed, (double)requests / elapsed, requests, errors, elapsed);
    return errors == 0 ? 0 : 1;
}
