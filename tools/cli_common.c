/* cli_common: configuration loading and number printing shared by subcommands. */
#include "tools/cli.h"
#include <stdio.h>
#include <stdlib.h>

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
