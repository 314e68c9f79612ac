/* cli_common: configuration loading, file reading and number and age printing
 * shared by subcommands. */
#include "tools/cli.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conf *cli_load(const char *path)
{
    struct conf *c = NULL;
    struct conf_diag diag = { 0 };
    if (conf_load(path, &c, &diag) != 0) {
        for (size_t i = 0; i < diag.n; i++)
            fprintf(stderr, "%s\n", diag.lines[i]);
        fprintf(stderr, "%zu error(s)\n", diag.n);
    }
    conf_diag_free(&diag);
    return c;
}

const char *cli_number(double v, char *buf)
{
    snprintf(buf, 32, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, 32, "%.17g", v);
    return buf;
}

const char *cli_age(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms < 0 ? 0 : ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
    return buf;
}

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL, chunk[4096];
    size_t n, used = 0, cap = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (used + n + 1 > cap) {
            size_t ncap = (used + n + 1) * 2;
            char *nb = realloc(buf, ncap);
            if (!nb)
                goto fail;
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + used, chunk, n);
        used += n;
    }
    if (ferror(f)) {
        errno = EIO;
        goto fail;
    }
    if (!buf && !(buf = malloc(1)))
        goto fail;
    buf[used] = 0;
    fclose(f);
    if (len)
        *len = used;
    return buf;
fail:
    {
        int e = errno;
        free(buf);
        fclose(f);
        errno = e;
    }
    return NULL;
}
