/* cli_validate: `ganzhi validate`, a captured message checked against a profile,
 * for integrators debugging a platform's rejection. */
#include "tools/cli.h"
#include "proto/charset.h"
#include "proto/profile.h"
#include "proto/validate.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi validate --profile NAME [--kind realtime|alarm|status|points]\n"
               "                      [--charset utf-8|gbk|gb18030] FILE|-\n"
               "Checks one message (the payload as captured, e.g. with mosquitto_sub) against\n"
               "the profile and lists what is wrong. --charset: the capture's charset (an uplink\n"
               "with override.charset = gbk sends GBK). Exit 0 valid, 1 problems found, 2 bad\n"
               "usage.\n");
}

int cli_validate(int argc, char **argv)
{
    const char *name = NULL, *file = NULL, *charset = NULL;
    enum message_kind kind = MK_REALTIME;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strcmp(argv[i], "--charset") && i + 1 < argc) {
            charset = charset_iconv_name(argv[++i]);
            if (!charset) {
                fprintf(stderr, "ganzhi validate: --charset is utf-8, gbk or gb18030\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--kind") && i + 1 < argc) {
            if (message_kind_parse(argv[++i], &kind)) {
                fprintf(stderr, "ganzhi validate: --kind is realtime, alarm, status or points\n");
                return 2;
            }
        } else if (!file && (argv[i][0] != '-' || !strcmp(argv[i], "-"))) {
            file = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!name || !file) {
        usage(stderr);
        return 2;
    }
    char err[256];
    struct profile *p = profile_create(name, err, sizeof err);
    if (!p) {
        fprintf(stderr, "ganzhi validate: %s\n", err);
        return 2;
    }
    FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "ganzhi validate: cannot open %s\n", file);
        profile_free(p);
        return 2;
    }
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    if (f != stdin)
        fclose(f);
    /* mosquitto_sub and editors end the capture with a newline: not the message's. */
    while (buf && len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (buf && charset && strcmp(charset, "UTF-8")) {
        size_t replaced = 0, n8;
        char *utf8 = charset_to_utf8(charset, buf, len, &n8, &replaced);
        free(buf);
        buf = utf8;
        len = n8;
        if (buf && replaced)
            printf("%zu bytes are not %s (shown as '?')\n", replaced, charset);
    }
    char report[8192];
    int rc = buf ? profile_validate(p, kind, buf, len, report, sizeof report) : -1;
    if (rc == 0)
        printf("valid %s %s message\n", name, message_kind_name(kind));
    else if (rc > 0)
        printf("%s", report);
    else
        fprintf(stderr, "ganzhi validate: cannot check (out of memory)\n");
    free(buf);
    profile_free(p);
    return rc == 0 ? 0 : rc > 0 ? 1 : 2;
}
