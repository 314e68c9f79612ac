/* cli_status: `ganzhi status`, the running agent's last self-report (status.json). */
#include "tools/cli.h"
#include <stdio.h>
#include <string.h>

int cli_status(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            path = argv[++i];
        else {
            fprintf(stderr, "usage: ganzhi status -c FILE\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: ganzhi status -c FILE\n");
        return 2;
    }
    struct conf *c = cli_load(path);
    if (!c)
        return 2;
    char file[4096];
    snprintf(file, sizeof file, "%s/status.json", c->agent.data_dir);
    conf_free(c);
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "ganzhi status: %s: no report yet (is the agent running?)\n", file);
        return 1;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}
