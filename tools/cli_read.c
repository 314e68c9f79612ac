/* cli_read: `ganzhi read`, one immediate read of a device's points, no agent needed. */
#include "tools/cli.h"
#include "agent/device.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi read -c FILE DEVICE [TAG...] [--json] [--trace] [--wait SECONDS]\n"
               "Prints TAG VALUE UNIT QUALITY per point (--json: a JSON array).\n"
               "Any transport: modbus-tcp, modbus-rtu, modbus-rtu-tcp dialled out to (host)\n"
               "or dialling in (listen): then read listens on the device's address itself\n"
               "(stop the agent first) and waits up to --wait seconds (default 60) for its\n"
               "DTU to register, saying on stderr who dials in meanwhile.\n"
               "--trace prints every frame sent (>) and received (<) in hex, with the time\n"
               "since the start and each round trip, on stderr (echoes and heartbeats noted).\n"
               "Exit 1 if the device did not answer (or its DTU did not dial in).\n");
}

int cli_read(int argc, char **argv)
{
    const char *path = NULL, *devname = NULL;
    int json = 0, trace = 0;
    int64_t wait_ms = CLI_WAIT_DEFAULT_MS;
    char **tags = calloc((size_t)argc, sizeof *tags);
    size_t ntags = 0;
    int rc = 2;
    if (!tags)
        return 1;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--trace"))
            trace = 1;
        else if (!strcmp(argv[i], "--wait")) {
            if (cli_wait_parse("read", i + 1 < argc ? argv[++i] : NULL, &wait_ms)) {
                free(tags);
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            free(tags);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ganzhi read: unknown option '%s'\n", argv[i]);
            free(tags);
            return 2;
        } else if (!devname)
            devname = argv[i];
        else
            tags[ntags++] = argv[i];
    }
    if (!path || !devname) {
        usage(stderr);
        free(tags);
        return 2;
    }
    struct conf *c = cli_load(path);
    if (!c) {
        free(tags);
        return 2;
    }
    const struct conf_device *cd = conf_device_find(c, devname);
    struct device dev;
    struct cli_link cl = { 0 };
    struct reading *out = NULL;
    char err[256];
    if (!cd) {
        fprintf(stderr, "ganzhi read: no device '%s' in %s\n", devname, path);
        goto done;
    }
    for (size_t t = 0; t < ntags; t++)
        if (!conf_point_find(cd, tags[t])) {
            fprintf(stderr, "ganzhi read: device '%s' has no point '%s'\n", devname, tags[t]);
            goto done;
        }
    rc = 1;
    if (cli_link_open(&cl, "read", c, cd, wait_ms, trace ? stderr : NULL) != 0)
        goto done;
    if (device_init(&dev, cd, cl.link, err, sizeof err) != 0) {
        fprintf(stderr, "ganzhi read: %s: %s\n", devname, err);
        goto done;
    }
    out = calloc(cd->npoints ? cd->npoints : 1, sizeof *out);
    if (!out) {
        device_fini(&dev);
        rc = 1;
        goto done;
    }
    int failed = device_poll(&dev, out);
    if (failed)
        fprintf(stderr, "ganzhi read: %s: %s\n", devname, dev.last_error);
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    char num[32];
    for (size_t i = 0; i < cd->npoints; i++) {
        const struct conf_point *p = &cd->points[i];
        int wanted = ntags == 0;
        for (size_t t = 0; t < ntags && !wanted; t++)
            wanted = !strcmp(tags[t], p->tag);
        if (!wanted)
            continue;
        const char *q = quality_name((enum quality)out[i].quality);
        const char *unit = conf_point_unit(p);
        if (arr) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "tag", p->tag);
            if (out[i].has_value)
                /* cJSON's printer rounds to 15 digits; print the exact value. */
                cJSON_AddRawToObject(x, "value", cli_number(out[i].value, num));
            else
                cJSON_AddNullToObject(x, "value");
            cJSON_AddStringToObject(x, "unit", unit);
            cJSON_AddStringToObject(x, "quality", q);
            cJSON_AddItemToArray(arr, x);
        } else {
            printf("%s %s %s %s\n", p->tag, out[i].has_value ? cli_number(out[i].value, num) : "-",
                   unit[0] ? unit : "-", q);
        }
    }
    if (arr) {
        char *s = cJSON_Print(arr);
        if (s)
            printf("%s\n", s);
        free(s);
        cJSON_Delete(arr);
    }
    device_fini(&dev);
    rc = failed ? 1 : 0;
done:
    cli_link_close(&cl);
    free(out);
    free(tags);
    conf_free(c);
    return rc;
}
