/* cli_check: `ganzhi check -c FILE`, the configuration validator. */
#include "tools/cli.h"
#include "proto/profile.h"
#include <stdio.h>
#include <string.h>

int cli_check(int argc, char **argv)
{
    const char *path = NULL;
    int keys = 0, man = 0;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--keys"))
            keys = 1;
        else if (!strcmp(argv[i], "--man"))
            man = 1;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: ganzhi check -c FILE      validate; errors as FILE:LINE: message\n"
                   "       ganzhi check --keys       list every configuration key\n"
                   "       ganzhi check --keys --man the same as troff, for ganzhi.conf(5)\n");
            return 0;
        } else {
            fprintf(stderr, "ganzhi check: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (keys) {
        if (man)
            conf_schema_print_man(stdout);
        else
            conf_schema_print(stdout);
        return 0;
    }
    if (!path) {
        fprintf(stderr, "usage: ganzhi check -c FILE\n");
        return 2;
    }
    struct conf *c = NULL;
    struct conf_diag diag = { 0 };
    int rc = conf_load(path, &c, &diag);
    /* Notices first: a table read as GB 18030 explains the errors in it, if any. */
    for (size_t i = 0; i < diag.nnotes; i++)
        fprintf(stderr, "%s\n", diag.notes[i]);
    for (size_t i = 0; i < diag.n; i++)
        fprintf(stderr, "%s\n", diag.lines[i]);
    if (rc != 0)
        fprintf(stderr, "%zu error(s)\n", diag.n);
    conf_diag_free(&diag);
    if (rc != 0)
        return 2;
    for (size_t i = 0; i < c->nuplinks; i++) {
        const struct profile_info *pi = profile_find(c->uplinks[i].profile);
        if (pi && !pi->implemented)
            fprintf(stderr, "%s:%d: warning: profile '%s' of uplink '%s' is not available in "
                    "this version; the agent will refuse to start it\n", c->uplinks[i].file,
                    c->uplinks[i].line, c->uplinks[i].profile, c->uplinks[i].name);
    }
    size_t points = 0;
    for (size_t i = 0; i < c->ndevices; i++)
        points += c->devices[i].npoints;
    printf("%s: ok (%zu devices, %zu points, %zu uplinks)\n", path, c->ndevices, points,
           c->nuplinks);
    conf_free(c);
    return 0;
}
