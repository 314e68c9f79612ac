/* ganzhi-agent: polls the configured devices, stores every reading, publishes to
 * every uplink. Foreground; SIGTERM/SIGINT flush and exit 0; SIGHUP reloads. */
#include "core/clock.h"
#include "agent/conf.h"
#include "agent/log.h"
#include "agent/notify.h"
#include "agent/runtime.h"
#include <MQTTAsync.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ganzhi-agent -c FILE [--allow-root]\n"
               "  -c, --config FILE   the agent configuration (agent.conf)\n"
               "      --allow-root    run even as root (also: GANZHI_ALLOW_ROOT=1)\n"
               "  -h, --help          this text\n"
               "  -V, --version       the version\n"
               "Runs in the foreground and logs to stderr. SIGTERM or SIGINT flush and\n"
               "exit; SIGHUP reloads the configuration (a bad one is reported and the\n"
               "running one kept). Under systemd (Type=notify) it reports readiness\n"
               "and answers the watchdog.\n");
}

/* A daemon that parses network input and serial frames has no business holding
 * root: the packaged unit runs it as user 'ganzhi' (serial ports through group
 * 'dialout'). Root is refused unless asked for, and the refusal says how to run it. */
static int root_refused(int allow_root)
{
    if (geteuid() != 0 || allow_root)
        return 0;
    const char *env = getenv("GANZHI_ALLOW_ROOT");
    if (env && !strcmp(env, "1"))
        return 0;
    fprintf(stderr,
            "ganzhi-agent: refusing to run as root. Run it as its own user:\n"
            "  systemctl start ganzhi-agent      (the packaged unit runs it as user 'ganzhi')\n"
            "  runuser -u ganzhi -- ganzhi-agent -c /etc/ganzhi/agent.conf\n"
            "The user needs group 'dialout' for serial ports and write access to data_dir.\n"
            "To run as root anyway, pass --allow-root or set GANZHI_ALLOW_ROOT=1.\n");
    return 1;
}

static struct conf *load(const char *path)
{
    struct conf *c = NULL;
    struct conf_diag diag = { 0 };
    int rc = conf_load(path, &c, &diag);
    for (size_t i = 0; i < diag.nnotes; i++)
        log_info("conf", NULL, "%s", diag.notes[i]);
    if (rc != 0) {
        for (size_t i = 0; i < diag.n; i++)
            log_error("conf", NULL, "%s", diag.lines[i]);
        log_error("conf", NULL, "%zu error(s) in %s", diag.n, path);
    }
    conf_diag_free(&diag);
    return c;
}

static void apply_log_level(const struct conf *c)
{
    log_configure(c->agent.log_level);
}

int main(int argc, char **argv)
{
    /* glibc gives each thread that allocates its own arena (and its own
     * fragmentation): eleven threads share one. They allocate a batch per poll
     * and a body per message, too seldom to contend; a second arena cost
     * 0.3 MB at 5,000 points and 1-2 MB at 50,000. */
    mallopt(M_ARENA_MAX, 1);
    /* A fixed threshold for mapping large blocks: glibc's adaptive one rises to
     * the size of the largest block freed (a poll's batch, hundreds of KB at
     * 50,000 points) and its trim threshold with it, so the heap kept its peak
     * for good (1-2 MB). Lower thresholds map every message body and cost a
     * page fault per 4 KB: four times the CPU at 100,000 readings a second. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    const char *path = NULL;
    int allow_root = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
            printf("ganzhi-agent %s\n", GANZHI_VERSION);
            return 0;
        } else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--allow-root")) {
            allow_root = 1;
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
    if (root_refused(allow_root))
        return 2;
    /* Signals are taken synchronously by this thread only; every thread started
     * later inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR2);      /* a status command: report now */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct conf *c = load(path);
    if (!c)
        return 2;
    apply_log_level(c);
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    /* OpenSSL 3 initialises itself when paho first makes a TLS context; paho's
     * own initialisation loads every error string at start (1.3 MB of
     * libcrypto's pages resident, TLS or not). */
    init.do_openssl_init = 0;
    MQTTAsync_global_init(&init);

    char err[512];
    struct runtime *rt = runtime_start(c, err, sizeof err);
    if (!rt) {
        log_error("agent", NULL, "%s", err);
        notify_sendf("STATUS=%s", err);
        return 1;
    }
    log_info("agent", NULL, "ganzhi-agent %s running with %s (%zu devices, %zu uplinks)",
             GANZHI_VERSION, path, runtime_conf(rt)->ndevices, runtime_conf(rt)->nuplinks);
    notify_sendf("READY=1\nSTATUS=running (%zu devices, %zu uplinks)",
                 runtime_conf(rt)->ndevices, runtime_conf(rt)->nuplinks);
    int64_t start = mono_ms();
    int64_t next_report = start + runtime_conf(rt)->agent.status_interval_ms;
    /* The watchdog is answered from this loop, at half the period systemd asked
     * for, so it is this loop (reports, reloads, the stop path) that must stay alive. */
    int64_t watchdog = notify_watchdog_ms() / 2;
    int64_t next_ping = start;
    int rc = 0;
    for (;;) {
        int64_t now = mono_ms();
        if (watchdog > 0 && now >= next_ping) {
            notify_send("WATCHDOG=1");
            next_ping = now + watchdog;
        }
        if (now >= next_report) {
            runtime_report(rt, now - start);
            next_report = now + runtime_conf(rt)->agent.status_interval_ms;
        }
        int64_t wait = next_report - now;
        if (watchdog > 0 && next_ping - now < wait)
            wait = next_ping - now;
        if (wait < 0)
            wait = 0;
        struct timespec ts = { wait / 1000, (long)(wait % 1000) * 1000000 };
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("agent", NULL, "stopping on signal %d", sig);
            notify_send("STOPPING=1");
            break;
        }
        if (sig == SIGUSR2) {
            runtime_report(rt, mono_ms() - start);
            continue;
        }
        if (sig == SIGHUP) {
            log_info("agent", NULL, "reloading %s", path);
            struct timespec mono;
            clock_gettime(CLOCK_MONOTONIC, &mono);
            notify_sendf("RELOADING=1\nMONOTONIC_USEC=%lld",
                         (long long)mono.tv_sec * 1000000 + mono.tv_nsec / 1000);
            struct conf *nc = load(path);
            if (!nc) {
                log_warn("agent", NULL, "reload refused; the running configuration stays");
                notify_send("READY=1\nSTATUS=reload refused; running configuration kept");
                continue;
            }
            runtime_stop(rt);
            apply_log_level(nc);
            rt = runtime_start(nc, err, sizeof err);
            if (!rt) {
                log_error("agent", NULL, "%s", err);
                notify_sendf("STOPPING=1\nSTATUS=%s", err);
                rc = 1;
                break;
            }
            log_info("agent", NULL, "reloaded");
            notify_sendf("READY=1\nSTATUS=running (%zu devices, %zu uplinks)",
                         runtime_conf(rt)->ndevices, runtime_conf(rt)->nuplinks);
        }
    }
    runtime_stop(rt);
    log_info("agent", NULL, "stopped");
    return rc;
}
