/* cli_validate: `ganzhi validate`, a captured message checked against a profile,
 * for integrators debugging a platform's rejection. */
#include "tools/cli.h"
#include "agent/keyfile.h"
#include "proto/charset.h"
#include "proto/command.h"
#include "proto/profile.h"
#include "proto/validate.h"
#include "proto/wire.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi validate --profile NAME [--kind realtime|alarm|status|points]\n"
               "                      [--charset utf-8|gbk|gb18030] FILE|-\n"
               "       ganzhi validate --kind command|reply [--key-file F [--sign sha256|sm3]]\n"
               "                      FILE|-\n"
               "Checks one message (the payload as captured, e.g. with mosquitto_sub) against\n"
               "the profile and lists what is wrong. --charset: the capture's charset (an uplink\n"
               "with override.charset = gbk sends GBK). --kind command or reply: a command to\n"
               "the gateway or its reply: the envelope, the fields and, with --key-file (the\n"
               "command key, mode 600), the signature (--sign: sha256 unless told). Exit 0\n"
               "valid, 1 problems found, 2 bad usage.\n");
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A captured command (reply 0) or reply (1): the exit status. */
static int validate_command(int reply, const char *file, const char *key_file, const char *sign)
{
    struct command_key key = { MAC_HMAC_SHA256, NULL, 0 };
    unsigned char keybuf[1024];
    char err[300], reason[300];
    if (sign && mac_parse(sign, &key.alg)) {
        fprintf(stderr, "ganzhi validate: --sign is sha256 or sm3\n");
        return 2;
    }
    if (key_file) {
        if (keyfile_read(key_file, 0, keybuf, sizeof keybuf, &key.len, err, sizeof err)) {
            fprintf(stderr, "ganzhi validate: --key-file: %s\n", err);
            return 2;
        }
        key.key = keybuf;
    }
    size_t len = 0;
    char *buf = strcmp(file, "-") ? cli_read_file(file, &len) : cli_read_file("/dev/stdin", &len);
    if (!buf) {
        fprintf(stderr, "ganzhi validate: cannot read %s\n", file);
        memset(keybuf, 0, sizeof keybuf);
        return 2;
    }
    /* mosquitto_sub ends each message with a newline: the capture's, not the message's */
    if (len && buf[len - 1] == '\n') {
        len--;
        printf("(the newline at the end is taken as the capture's and left out)\n");
    }
    int rc = 1;
    const char *what = reply ? "reply" : "command";
    const char *sig = key_file ? "signature good:" : "signature not checked (no --key-file)";
    if (reply) {
        cJSON *o = NULL;
        enum command_verdict v = command_verify_reply(buf, len, key_file ? &key : NULL, &o,
                                                      reason, sizeof reason);
        if (v == COMMAND_OK) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
            const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(o, "cmd");
            const cJSON *err_f = cJSON_GetObjectItemCaseSensitive(o, "error");
            printf("valid reply to %s%s%s: %s%s\n", cJSON_IsString(cmd) ? cmd->valuestring : "a command",
                   cJSON_IsString(id) ? " " : " without an id", cJSON_IsString(id) ? id->valuestring : "",
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) ? "ok" : "refused: ",
                   cJSON_IsString(err_f) ? err_f->valuestring : "");
            printf("%s%s%s\n", sig, key_file ? " " : "", key_file ? mac_name(key.alg) : "");
            rc = 0;
        } else
            printf("not a valid reply (%s): %s\n", command_verdict_name(v), reason);
        cJSON_Delete(o);
    } else {
        struct command c;
        int64_t now = wall_ms();
        /* A capture is checked later than it was sent: ts against this clock is told,
         * not held against it; resend_max as its default, 7 days. */
        enum command_verdict v = key_file
            ? command_parse(buf, len, &key, now, INT64_MAX / 4, 7 * 86400000LL, &c, reason,
                            sizeof reason)
            : command_inspect(buf, len, now, INT64_MAX / 4, 7 * 86400000LL, &c, reason,
                              sizeof reason);
        if (v == COMMAND_OK) {
            printf("valid command: %s, id %s\n", c.cmd, c.id);
            if (c.window == COMMAND_WINDOW_SEQ)
                printf("  seqs %llu to %llu\n", (unsigned long long)c.seq_from,
                       (unsigned long long)c.seq_to);
            else if (c.window == COMMAND_WINDOW_TIME) {
                char f[40], t[40];
                wire_time_rfc3339(c.from_ms, 0, f);
                wire_time_rfc3339(c.to_ms, 0, t);
                printf("  from %s to %s (%.1f min)\n", f, t, (double)(c.to_ms - c.from_ms) / 60000);
            }
            if (c.nnames)
                printf("  %zu %s: %s%s\n", c.nnames,
                       c.select == COMMAND_SELECT_TAGS ? "tags" : "devices", c.names[0],
                       c.nnames > 1 ? ", ..." : "");
            double off = (double)(c.ts_ms - now) / 1000, a = off < 0 ? -off : off;
            printf("  ts is %.1f %s %s this machine's clock%s\n",
                   a < 120 ? a : a < 7200 ? a / 60 : a < 172800 ? a / 3600 : a / 86400,
                   a < 120 ? "s" : a < 7200 ? "min" : a < 172800 ? "h" : "days",
                   off < 0 ? "behind" : "ahead of",
                   off < -300 || off > 300 ? " (more than command_skew's default, 5 min: the "
                                             "agent refuses it unless the clocks differ so)" : "");
            printf("%s%s%s\n", sig, key_file ? " " : "", key_file ? mac_name(key.alg) : "");
            rc = 0;
        } else {
            printf("not a valid %s (%s): %s\n", what, command_verdict_name(v), reason);
            if (c.id[0])
                printf("  its id: %s\n", c.id);
        }
        command_free(&c);
    }
    free(buf);
    memset(keybuf, 0, sizeof keybuf);
    return rc;
}

int cli_validate(int argc, char **argv)
{
    const char *name = NULL, *file = NULL, *charset = NULL, *key_file = NULL, *sign = NULL;
    enum message_kind kind = MK_REALTIME;
    int command_kind = -1;      /* 0 command, 1 reply */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--key-file") && i + 1 < argc) {
            key_file = argv[++i];
        } else if (!strcmp(argv[i], "--sign") && i + 1 < argc) {
            sign = argv[++i];
        } else if (!strcmp(argv[i], "--kind") && i + 1 < argc &&
                   (!strcmp(argv[i + 1], "command") || !strcmp(argv[i + 1], "reply"))) {
            command_kind = !strcmp(argv[++i], "reply");
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
                fprintf(stderr, "ganzhi validate: --kind is realtime, alarm, status, points, "
                                "command or reply\n");
                return 2;
            }
        } else if (!file && (argv[i][0] != '-' || !strcmp(argv[i], "-"))) {
            file = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (command_kind >= 0) {
        if (!file || name || charset) {
            fprintf(stderr, "ganzhi validate: --kind %s takes a FILE (or -), no --profile or "
                            "--charset\n", command_kind ? "reply" : "command");
            return 2;
        }
        return validate_command(command_kind, file, key_file, sign);
    }
    if (key_file || sign) {
        fprintf(stderr, "ganzhi validate: --key-file and --sign go with --kind command or reply\n");
        return 2;
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
