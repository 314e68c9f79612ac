/* ganzhi-agent: polls the configured devices, stores every reading, publishes to
 * every uplink. Foreground; SIGTERM/SIGINT flush and exit 0; SIGHUP reloads. */
#include "agent/conf.h"
#include "agent/log.h"
#include "agent/runtime.h"
#include <MQTTAsync.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi-agent -c FILE\n"
               "  -c, --config FILE   the agent configuration (agent.conf)\n"
               "  -h, --help          this text\n"
               "  -V, --version       the version\n"
               "Runs in the foreground and logs to stderr. SIGTERM or SIGINT flush and\n"
               "exit; SIGHUP reloads the configuration (a bad one is reported and the\n"
               "running one kept).\n");
}

static struct conf *load(const char *path)
{
    struct conf *c = NULL;
    struct conf_diag diag = { 0 };
    if (conf_load(path, &c, &diag) != 0) {
        for (size_t i = 0; i < diag.n; i++)
            log_error("conf", NULL, "%s", diag.lines[i]);
        log_error("conf", NULL, "%zu error(s) in %s", diag.n, path);
    }
    conf_diag_free(&diag);
    return c;
}

static void apply_log_level(const struct conf *c)
{
    enum log_level lv;
    if (log_level_parse(c->agent.log_level, &lv) == 0)
        log_set_level(lv);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
            printf("ganzhi-agent %s\n", GANZHI_VERSION);
            return 0;
        } else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            path = argv[++i];
        } else {
            fprintf(stderr, "ganzhi-agent: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    /* Signals are taken synchronously by this thread only; every thread started
     * later inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct conf *c = load(path);
    if (!c)
        return 2;
    apply_log_level(c);
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    init.do_openssl_init = 1;
    MQTTAsync_global_init(&init);

    char err[512];
    struct runtime *rt = runtime_start(c, err, sizeof err);
    if (!rt) {
        log_error("agent", NULL, "%s", err);
        return 1;
    }
    log_info("agent", NULL, "ganzhi-agent %s running with %s (%zu devices, %zu uplinks)",
             GANZHI_VERSION, path, runtime_conf(rt)->ndevices, runtime_conf(rt)->nuplinks);
    int64_t start = mono_ms();
    int64_t next_report = start + runtime_conf(rt)->agent.status_interval_ms;
    int rc = 0;
    for (;;) {
        int64_t now = mono_ms();
        if (now >= next_report) {
            runtime_report(rt, now - start);
            next_report = now + runtime_conf(rt)->agent.status_interval_ms;
        }
        int64_t wait = next_report - now;
        struct timespec ts = { wait / 1000, (long)(wait % 1000) * 1000000 };
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("agent", NULL, "stopping on signal %d", sig);
            break;
        }
        if (sig == SIGHUP) {
            log_info("agent", NULL, "reloading %s", path);
            struct conf *nc = load(path);
            if (!nc) {
                log_warn("agent", NULL, "reload refused; the running configuration stays");
                continue;
            }
            runtime_stop(rt);
            apply_log_level(nc);
            rt = runtime_start(nc, err, sizeof err);
            if (!rt) {
                log_error("agent", NULL, "%s", err);
                rc = 1;
                break;
            }
            log_info("agent", NULL, "reloaded");
        }
    }
    runtime_stop(rt);
    log_info("agent", NULL, "stopped");
    return rc;
}
