/* cli_status: `ganzhi status`, the running agent's last self-report (status.json),
 * summarised for a site engineer, or the document itself with --json. */
#include "core/clock.h"
#include "tools/cli.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A report older than this many status intervals means the agent has stopped
 * writing it (stopped, hung, or its disk is full): the same bound `ganzhi queue`
 * uses to say whether the agent runs. */
#define STALE_INTERVALS 3

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi status -c FILE [--json]\n"
               "The running agent's last report about itself (data_dir/status.json, written\n"
               "every status_interval): its version and uptime; per device the link, round\n"
               "trip and errors; per uplink whether connected, the server, the backlog, the\n"
               "age of the oldest pending reading and readings lost; the store's figures.\n"
               "Says how old the report is and warns when it is older than %d x\n"
               "status_interval (the agent is then not writing it).\n"
               "--json       the report as the agent wrote it, one JSON document\n"
               "Exit 1 if there is no report or it cannot be read.\n", STALE_INTERVALS);
}

static const cJSON *item(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* A counter as an integer, or "?" when an older agent did not report it. */
static const char *count(const cJSON *o, const char *k, char *buf, size_t len)
{
    const cJSON *v = item(o, k);
    if (!cJSON_IsNumber(v))
        return "?";
    snprintf(buf, len, "%.0f", v->valuedouble);
    return buf;
}

static const char *str(const cJSON *o, const char *k, const char *dflt)
{
    const cJSON *v = item(o, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : dflt;
}

static const char *bytes(const cJSON *o, const char *k, char *buf, size_t len)
{
    const cJSON *v = item(o, k);
    if (!cJSON_IsNumber(v))
        return "?";
    double b = v->valuedouble;
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.1f GB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
        snprintf(buf, len, "%.1f MB", b / (1024.0 * 1024));
    else if (b >= 1024.0)
        snprintf(buf, len, "%.1f KB", b / 1024.0);
    else
        snprintf(buf, len, "%.0f B", b);
    return buf;
}

static int name_width(const cJSON *arr)
{
    int w = 8;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        int n = (int)strlen(str(x, "name", "?"));
        if (n > w)
            w = n;
    }
    return w;
}

static void print_devices(const cJSON *arr)
{
    int w = name_width(arr), n = cJSON_GetArraySize(arr);
    printf("devices (%d):\n", n);
    const cJSON *d;
    cJSON_ArrayForEach(d, arr) {
        char b1[32], b2[32], b3[32], b4[32];
        const cJSON *rtt = item(d, "rtt_ms");
        const char *link = str(d, "link", "?");
        printf("  %-*s link %-7s", w, str(d, "name", "?"),
               !strcmp(link, "unknown") ? "not yet" : link);
        if (cJSON_IsNumber(rtt) && strcmp(link, "unknown"))
            printf(rtt->valuedouble < 1.0 ? " rtt %6.2f ms" : " rtt %6.1f ms", rtt->valuedouble);
        else
            printf(" rtt %6s   ", "-");
        printf("  errors: comm %s, exception %s, reply %s of %s requests",
               count(d, "errors_comm", b1, sizeof b1),
               count(d, "errors_exception", b2, sizeof b2),
               count(d, "errors_reply", b3, sizeof b3), count(d, "requests", b4, sizeof b4));
        if (cJSON_IsTrue(item(d, "quarantined")))
            printf("; QUARANTINED (not answering: only probed, with backoff)");
        printf("\n");
    }
}

/* A number field as an integer, 0 when absent. */
static double num(const cJSON *o, const char *k)
{
    const cJSON *x = item(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

/* The buses that are more than one device's own connection (serial ports,
 * device servers, gateways, DTUs), and any link with something wrong on it. */
static void print_links(const cJSON *arr, const cJSON *listeners)
{
    static const char *const faults[] = { "timeouts", "crc_errors", "bad_replies",
                                          "foreign_replies", "echoes", "heartbeats",
                                          "drained_bytes", "disconnects" };
    const cJSON *l;
    int shown = 0;
    cJSON_ArrayForEach(l, arr) {
        int bad = 0;
        for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++)
            bad |= num(l, faults[k]) > 0;
        if (num(l, "devices") < 2 && !bad)
            continue;
        if (!shown++)
            printf("links:\n");
        char b[32];
        printf("  %s: %.0f device%s, %s, %s connection%s", str(l, "link", "?"), num(l, "devices"),
               num(l, "devices") == 1 ? "" : "s", cJSON_IsTrue(item(l, "open")) ? "open" : "CLOSED",
               count(l, "connects", b, sizeof b), num(l, "connects") == 1 ? "" : "s");
        for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++)
            if (num(l, faults[k]) > 0)
                printf(", %s %s", faults[k], count(l, faults[k], b, sizeof b));
        printf("\n");
    }
    cJSON_ArrayForEach(l, listeners) {
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        printf("DTU listener %s: %s registered (%s replaced), refused: %s unknown, %s silent, "
               "%s over the limit\n", str(l, "listen", "?"), count(l, "registered", b1, sizeof b1),
               count(l, "replaced", b2, sizeof b2), count(l, "refused_unknown", b3, sizeof b3),
               count(l, "refused_timeout", b4, sizeof b4), count(l, "refused_full", b5, sizeof b5));
    }
}

static void print_uplinks(const cJSON *arr)
{
    int w = name_width(arr), n = cJSON_GetArraySize(arr);
    printf("uplinks (%d):\n", n);
    const cJSON *u;
    cJSON_ArrayForEach(u, arr) {
        char b1[32], b2[32], age[32];
        const cJSON *oldest = item(u, "oldest_pending_ms");
        int up = cJSON_IsTrue(item(u, "connected"));
        printf("  %-*s %-12s %s  backlog %s, oldest pending %s, lost %s%s\n", w,
               str(u, "name", "?"), up ? "connected" : "DISCONNECTED",
               str(u, "server", "-"), count(u, "backlog", b1, sizeof b1),
               !cJSON_IsNumber(oldest) || oldest->valuedouble <= 0 ? "-"
               : oldest->valuedouble < 1000 ? "<1s"
               : cli_age((int64_t)oldest->valuedouble, age, sizeof age),
               count(u, "dropped", b2, sizeof b2),
               cJSON_IsTrue(item(u, "backfilling")) ? ", re-sending a backlog" : "");
        if (!up && str(u, "last_error", NULL))
            printf("  %-*s last error: %s\n", w, "", str(u, "last_error", ""));
        if (num(u, "ack_timeouts") + num(u, "unasked_messages") > 0) {
            char c1[32], c2[32];
            printf("  %-*s broker trouble: %s connections dropped for want of acknowledgements "
                   "(ack_timeout), %s messages on topics never subscribed to\n", w, "",
                   count(u, "ack_timeouts", c1, sizeof c1),
                   count(u, "unasked_messages", c2, sizeof c2));
        }
        if (num(u, "commands_done") + num(u, "commands_refused") + num(u, "commands_dropped") > 0) {
            char c1[32], c2[32], c3[32], c4[32];
            printf("  %-*s commands: %s done, %s refused (%s over command_rate), %s dropped",
                   w, "", count(u, "commands_done", c1, sizeof c1),
                   count(u, "commands_refused", c2, sizeof c2),
                   count(u, "commands_limited", c3, sizeof c3),
                   count(u, "commands_dropped", c4, sizeof c4));
            if (cJSON_IsNumber(item(u, "resend_pos")))
                printf("; resending, at seq %.0f of %.0f", num(u, "resend_pos"), num(u, "resend_end"));
            printf("\n");
        }
    }
}

static void print_store(const cJSON *s)
{
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("store: %s readings committed, %s dropped (queue full), %s evicted; %s of %s\n",
           count(s, "committed", b1, sizeof b1), count(s, "dropped", b2, sizeof b2),
           count(s, "evicted", b3, sizeof b3), bytes(s, "bytes", b4, sizeof b4),
           bytes(s, "store_max", b5, sizeof b5));
    const cJSON *cf = item(s, "commit_failures"), *df = item(s, "disk_full");
    if ((cJSON_IsNumber(cf) && cf->valuedouble > 0) || (cJSON_IsNumber(df) && df->valuedouble > 0))
        printf("  commit failures %s, disk full %s times\n", count(s, "commit_failures", b1,
               sizeof b1), count(s, "disk_full", b2, sizeof b2));
}

static void print_summary(const cJSON *st, const char *file, int64_t age_ms, int64_t interval_ms,
                          int stale)
{
    char up[32], age[32], iv[32];
    const cJSON *u = item(st, "uptime_s");
    printf("ganzhi-agent %s, up %s; report written %s ago (%s, every %s)\n",
           str(st, "version", "?"),
           cJSON_IsNumber(u) ? cli_age((int64_t)(u->valuedouble * 1000.0), up, sizeof up) : "?",
           cli_age(age_ms, age, sizeof age), file, cli_age(interval_ms, iv, sizeof iv));
    if (stale)
        printf("WARNING: the report is %s old, more than %d x status_interval: the agent is not\n"
               "         writing it (stopped, hung, or its disk full); what follows is from then\n",
               age, STALE_INTERVALS);
    print_devices(item(st, "devices"));
    print_links(item(st, "links"), item(st, "dtu_listeners"));
    print_uplinks(item(st, "uplinks"));
    print_store(item(st, "store"));
}

int cli_status(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    struct conf *c = cli_load(path);
    if (!c)
        return 2;
    char file[4096];
    snprintf(file, sizeof file, "%s/status.json", c->agent.data_dir);
    int64_t interval_ms = c->agent.status_interval_ms;
    conf_free(c);
    struct stat sb;
    char *text = stat(file, &sb) == 0 ? cli_read_file(file, NULL) : NULL;
    if (!text) {
        if (errno == ENOENT)
            fprintf(stderr, "ganzhi status: %s: no report yet (is the agent running?)\n", file);
        else
            fprintf(stderr, "ganzhi status: %s: %s\n", file, strerror(errno));
        return 1;
    }
    cJSON *st = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(st)) {
        fprintf(stderr, "ganzhi status: %s is not a status report (not a JSON object)\n", file);
        cJSON_Delete(st);
        return 1;
    }
    int64_t mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    int64_t age_ms = wall_ms() - mtime_ms;
    if (age_ms < 0)
        age_ms = 0;     /* written by a clock a little ahead of ours */
    int stale = age_ms > STALE_INTERVALS * interval_ms, rc = 0;
    if (json) {
        char *out = cJSON_Print(st);
        if (out)
            printf("%s\n", out);
        else
            rc = 1;
        free(out);
        if (stale) {
            char age[32];
            /* On stderr, so that standard output stays one document. */
            fprintf(stderr, "ganzhi status: warning: the report is %s old, more than %d x "
                    "status_interval: the agent is not writing it\n",
                    cli_age(age_ms, age, sizeof age), STALE_INTERVALS);
        }
    } else {
        print_summary(st, file, age_ms, interval_ms, stale);
    }
    cJSON_Delete(st);
    return rc;
}
