/* cli_probe: `ganzhi probe`, which type, byte order and scale turn a device's
 * registers into the value the engineer reads on its display. */
#include "tools/cli.h"
#include "core/num.h"
#include "agent/device.h"
#include "drivers/mb_decode.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ganzhi probe -c FILE DEVICE --address N [--area holding|input] --value V\n"
        "                    [--trace] [--wait SECONDS]\n"
        "       ganzhi probe --regs R0,R1[,R2,R3] --value V\n"
        "Decodes the 4 registers from N (read from the device, or given in hex or\n"
        "decimal) as every type, byte/word order and decimal scale, and lists those\n"
        "that give V within the precision V is written with (23.5: +-0.05).\n"
        "The device is reached however it is configured; for a DTU that dials in,\n"
        "probe listens on its address and waits up to --wait seconds (default 60).\n"
        "--trace prints every frame in hex with timing (stderr).\n");
}

struct candidate {
    enum mb_type type;
    enum mb_order order;
    double scale, value, miss;
    int rank;   /* simpler layouts first when equally close */
};

static int by_miss(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    if (x->miss != y->miss)
        return x->miss < y->miss ? -1 : 1;
    return x->rank - y->rank;
}

static int parse_regs(const char *s, uint16_t *regs, int *n)
{
    *n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        long v = strtol(tok, &end, 0);
        if (*n == 4 || *end || end == tok || v < 0 || v > 65535)
            return -1;
        regs[(*n)++] = (uint16_t)v;
    }
    return *n ? 0 : -1;
}

static int read_regs(const char *path, const char *devname, enum mb_area area, long address,
                     int64_t wait_ms, int trace, uint16_t *regs, int *n)
{
    struct conf *c = cli_load(path);
    if (!c)
        return 2;
    const struct conf_device *cd = conf_device_find(c, devname);
    int rc = 2;
    if (!cd) {
        fprintf(stderr, "ganzhi probe: no device '%s' in %s\n", devname, path);
        goto out;
    }
    struct cli_link cl;
    char err[200];
    rc = 1;
    if (cli_link_open(&cl, "probe", c, cd, wait_ms, trace ? stderr : NULL) != 0) {
        cli_link_close(&cl);
        goto out;
    }
    struct mb_link *l = cl.link;
    /* Four registers when the device has them, else as many as it gives. */
    for (int count = address + 4 <= 65536 ? 4 : (int)(65536 - address); count >= 1; count /= 2) {
        struct mb_read r = { area, (uint16_t)address, (uint16_t)count, 0, 1 };
        int exc;
        enum mb_status st = mb_link_read(l, &r, regs, NULL, &exc, err, sizeof err);
        if (st == MB_OK) {
            *n = count;
            rc = 0;
            break;
        }
        if (st != MB_ERR_EXCEPTION) {
            fprintf(stderr, "ganzhi probe: %s: %s\n", devname, err);
            break;
        }
    }
    if (rc)
        fprintf(stderr, "ganzhi probe: %s refuses reads at %s %ld\n", devname, mb_area_name(area),
                address);
    cli_link_close(&cl);
out:
    conf_free(c);
    return rc;
}

int cli_probe(int argc, char **argv)
{
    const char *path = NULL, *devname = NULL, *regs_arg = NULL, *value_arg = NULL;
    enum mb_area area = MB_HOLDING;
    long address = -1;
    int64_t wait_ms = CLI_WAIT_DEFAULT_MS;
    int trace = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--trace")) {
            trace = 1;
            continue;
        }
        if (a[0] == '-' && !val) {
            fprintf(stderr, "ganzhi probe: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "-c") || !strcmp(a, "--config"))
            path = argv[++i];
        else if (!strcmp(a, "--regs"))
            regs_arg = argv[++i];
        else if (!strcmp(a, "--value"))
            value_arg = argv[++i];
        else if (!strcmp(a, "--wait")) {
            if (cli_wait_parse("probe", argv[++i], &wait_ms))
                return 2;
        }
        else if (!strcmp(a, "--area")) {
            if (mb_area_parse(argv[++i], &area) || mb_is_bit_area(area)) {
                fprintf(stderr, "ganzhi probe: --area is holding or input\n");
                return 2;
            }
        } else if (!strcmp(a, "--address")) {
            char err[128];
            if (num_parse_long(argv[++i], 0, 65535, &address, err, sizeof err)) {
                fprintf(stderr, "ganzhi probe: --address: %s\n", err);
                return 2;
            }
        } else if (a[0] != '-' && path && !devname)
            devname = a;
        else {
            fprintf(stderr, "ganzhi probe: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    double want;
    char err[128];
    if (!value_arg || num_parse_double(value_arg, &want, err, sizeof err)) {
        fprintf(stderr, "ganzhi probe: --value: %s\n", value_arg ? err : "missing");
        usage(stderr);
        return 2;
    }
    /* The precision the engineer wrote: 23.5 means 23.45..23.55. */
    const char *dot = strchr(value_arg, '.');
    int decimals = 0;
    if (dot)
        while (dot[1 + decimals] >= '0' && dot[1 + decimals] <= '9')
            decimals++;
    double tol = 0.5 * pow(10, -decimals) * (1 + 1e-9);

    uint16_t regs[4] = { 0 };
    int n = 0;
    if (regs_arg) {
        if (parse_regs(regs_arg, regs, &n)) {
            fprintf(stderr, "ganzhi probe: --regs takes 1 to 4 registers, e.g. 0x41BC,0x0000\n");
            return 2;
        }
    } else if (path && devname && address >= 0) {
        int rc = read_regs(path, devname, area, address, wait_ms, trace, regs, &n);
        if (rc)
            return rc;
    } else {
        usage(stderr);
        return 2;
    }
    printf("registers:");
    for (int i = 0; i < n; i++)
        printf(" %04X", regs[i]);
    printf("   looking for %s (+-%g)\n", value_arg, tol);

    static const double scales[] = { 1, 0.1, 0.01, 0.001, 10 };
    struct candidate found[400];
    size_t nf = 0;
    for (int t = MB_INT16; t <= MB_FLOAT64; t++)
        for (int o = MB_ABCD; o <= MB_DCBA; o++)
            for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
                struct mb_addr a = { area, (enum mb_type)t, (enum mb_order)o, 0, 0 };
                if ((int)mb_width(&a) > n)
                    continue;
                /* 16-bit values have only a byte order: skip the duplicates. */
                if (mb_width(&a) == 1 && (o == MB_CDAB || o == MB_DCBA))
                    continue;
                if ((t == MB_FLOAT32 || t == MB_FLOAT64) && scales[s] != 1)
                    continue;
                double raw;
                if (mb_decode_regs(&a, regs, &raw))
                    continue;
                double v = raw * scales[s];
                double miss = fabs(v - want);
                if (miss <= tol && nf < sizeof found / sizeof found[0])
                    found[nf++] = (struct candidate){ (enum mb_type)t, (enum mb_order)o, scales[s],
                                                      v, miss, (int)mb_width(&a) * 100 + o * 10 + (int)s };
            }
    qsort(found, nf, sizeof found[0], by_miss);
    if (!nf) {
        printf("no type, order and scale gives %s from these registers\n", value_arg);
        return 1;
    }
    printf("%-8s %-5s %-6s %s\n", "type", "order", "scale", "value");
    char num[32];
    for (size_t i = 0; i < nf && i < 12; i++) {
        if (found[i].type == MB_FLOAT32)
            snprintf(num, sizeof num, "%.7g", found[i].value);   /* as the device shows it */
        else
            cli_number(found[i].value, num);
        printf("%-8s %-5s %-6g %s\n", mb_type_name(found[i].type), mb_order_name(found[i].order),
               found[i].scale, num);
    }
    return 0;
}
