/* cli_listen: `ganzhi listen`, for commissioning a DTU that dials in: who
 * dials in, what it sends first (its registration packet) and after (its
 * heartbeat, and how often), ending with a line per DTU to copy into the
 * configuration. It never sends anything, so it disturbs no DTU. */
#include "tools/cli.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/num.h"
#include "drivers/tcp_listen.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNS_MAX 16            /* connections watched at once; more are refused */
#define SEEN_MAX 64             /* DTUs (distinct registrations) in the summary */
#define PACKET_MAX 256          /* a longer burst is shown in pieces */
#define PACKET_GAP_US 50000     /* this much silence ends a packet */

struct packet {
    uint8_t b[PACKET_MAX];
    size_t n;
};

/* One connection: the packet being gathered, the registration, the heartbeat. */
struct conn {
    int fd;
    unsigned num;
    char peer[64];
    int64_t t0, rx_first, rx_last;
    struct packet rx, reg, hb;
    unsigned packets, hbn, others;
    int64_t hb_first, hb_last;
};

/* What the summary says of one DTU, over all its connections. */
struct seen {
    struct packet reg, hb;
    char peer[64];
    unsigned conns, hbn, others;
    int64_t hb_span_us;         /* first to last heartbeat, summed over connections */
    unsigned intervals;         /* ... and the intervals in those spans */
};

struct listen_state {
    int hex;
    struct conn conns[CONNS_MAX];
    struct seen seen[SEEN_MAX];
    unsigned nseen, dropped, accepted, refused;
};

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ganzhi listen --port P [--address A] [--seconds N] [--hex]\n"
        "For commissioning a DTU that dials in: listens on port P (every address, or\n"
        "A) and for each connection prints who dialled in, its first packet (the\n"
        "registration: as text when printable, else hex:..), then every later packet\n"
        "with the time since it connected (the heartbeats, and their interval once two\n"
        "have come). Never sends anything. Watches up to %d connections at once (more\n"
        "are refused). Stops after N seconds, or at Ctrl-C or SIGTERM (exit 0), and\n"
        "ends with a line per DTU: its address, dtu = REGISTRATION and heartbeat =\n"
        "PACKET as the device's section of agent.conf takes them, and the interval.\n"
        "  --hex    every packet in hex as well\n"
        "Stop ganzhi-agent first if it listens on the same port.\n"
        "Exit 0, 1 if the port cannot be listened on, 2 on bad usage.\n", CONNS_MAX);
}

static int same(const struct packet *a, const struct packet *b)
{
    return a->n == b->n && memcmp(a->b, b->b, a->n) == 0;
}

/* pk as agent.conf takes it: text when printable (quoted when blanks at its
 * ends or a '#', ';' or '"' would be misread), else hex:... */
static const char *conf_value(const struct packet *pk, char *buf, size_t len)
{
    char text[2 * PACKET_MAX + 8];
    bytes_format(pk->b, pk->n, text, sizeof text);
    int plain = !strpbrk(text, "#;\"\\") && text[0] != ' ' && text[strlen(text) - 1] != ' ';
    if (strncmp(text, "hex:", 4) == 0 || plain) {
        snprintf(buf, len, "%s", text);
        return buf;
    }
    size_t at = 0;
    buf[at++] = '"';
    for (const char *s = text; *s && at + 3 < len; s++) {
        if (*s == '"' || *s == '\\')
            buf[at++] = '\\';
        buf[at++] = *s;
    }
    buf[at++] = '"';
    buf[at] = 0;
    return buf;
}

/* "N bytes: TEXT" (hex:.. when not printable; with --hex the bytes as well). */
static void print_packet(const struct listen_state *st, const struct packet *pk)
{
    char text[2 * PACKET_MAX + 8];
    bytes_format(pk->b, pk->n, text, sizeof text);
    printf("%zu byte%s: %s", pk->n, pk->n == 1 ? "" : "s", text);
    if (st->hex && strncmp(text, "hex:", 4) != 0) {
        printf("  (hex:");
        for (size_t i = 0; i < pk->n; i++)
            printf(" %02X", pk->b[i]);
        printf(")");
    }
}

/* A packet is complete: the registration, a heartbeat, or something else. */
static void packet_done(struct listen_state *st, struct conn *c)
{
    struct packet *pk = &c->rx;
    double at = (double)(c->rx_first - c->t0) / 1e6;
    c->packets++;
    printf("#%u +%.3f s ", c->num, at);
    if (c->packets == 1) {
        c->reg = *pk;
        printf("registration, ");
        print_packet(st, pk);
        if (pk->n > BYTES_MAX)
            printf("  (longer than the %d bytes a registration may be)", BYTES_MAX);
    } else if (c->hbn && same(pk, &c->hb)) {
        c->hbn++;
        print_packet(st, pk);
        printf("  heartbeat, %.3f s since the last", (double)(c->rx_first - c->hb_last) / 1e6);
        if (c->hbn > 2)
            printf(" (every %.3f s)", (double)(c->rx_first - c->hb_first) / 1e6 / (c->hbn - 1));
        c->hb_last = c->rx_first;
    } else {
        print_packet(st, pk);
        if (c->hbn <= 1) {      /* a heartbeat, if it comes again */
            c->hb = *pk;
            c->hbn = 1;
            c->hb_first = c->hb_last = c->rx_first;
        } else {
            c->others++;
            printf("  (not the heartbeat)");
        }
    }
    printf("\n");
    pk->n = 0;
}

/* Fold a finished connection into the summary of its DTU. */
static void remember(struct listen_state *st, const struct conn *c)
{
    struct seen *s = NULL;
    for (unsigned i = 0; i < st->nseen && !s; i++)
        if (same(&st->seen[i].reg, &c->reg))
            s = &st->seen[i];
    if (!s) {
        if (st->nseen == SEEN_MAX) {
            st->dropped++;
            return;
        }
        s = &st->seen[st->nseen++];
        memset(s, 0, sizeof *s);
        s->reg = c->reg;
    }
    snprintf(s->peer, sizeof s->peer, "%s", c->peer);
    s->conns++;
    s->others += c->others;
    if (c->hbn >= 2 || (c->hbn == 1 && !s->hbn)) {
        if (s->hbn && !same(&s->hb, &c->hb)) {
            s->others += s->hbn;    /* another heartbeat this time: the newer counts */
            s->hbn = 0;
            s->hb_span_us = 0;
            s->intervals = 0;
        }
        s->hb = c->hb;
        s->hbn += c->hbn;
        s->hb_span_us += c->hb_last - c->hb_first;
        s->intervals += c->hbn - 1;
    } else if (c->hbn) {
        s->others++;
    }
}

static void conn_close(struct listen_state *st, struct conn *c, const char *how)
{
    if (c->rx.n)
        packet_done(st, c);
    printf("#%u %s %s after %.3f s (%u packet%s)\n", c->num, c->peer, how,
           (double)(mono_us() - c->t0) / 1e6, c->packets, c->packets == 1 ? "" : "s");
    remember(st, c);
    close(c->fd);
    c->fd = -1;
}

static void summary(const struct listen_state *st)
{
    unsigned dtus = 0, silent = 0;
    for (unsigned i = 0; i < st->nseen; i++)
        if (st->seen[i].reg.n)
            dtus++;
        else
            silent = st->seen[i].conns;
    printf("summary: %u connection%s (%u refused, %u sent nothing); %u DTU%s",
           st->accepted, st->accepted == 1 ? "" : "s", st->refused, silent, dtus,
           dtus == 1 ? "" : "s");
    printf(dtus ? " (copy dtu = and heartbeat = into the device's section of agent.conf)\n"
                : ": none registered\n");
    char reg[4 * PACKET_MAX + 8], hb[4 * PACKET_MAX + 8];
    for (unsigned i = 0; i < st->nseen; i++) {
        const struct seen *s = &st->seen[i];
        if (!s->reg.n)
            continue;
        printf("%s  dtu = %s", s->peer, conf_value(&s->reg, reg, sizeof reg));
        if (s->intervals)
            printf("  heartbeat = %s  (every %.3f s, %u heartbeats", conf_value(&s->hb, hb, sizeof hb),
                   (double)s->hb_span_us / 1e6 / s->intervals, s->hbn);
        else if (s->hbn)
            printf("  heartbeat = %s  (seen %s, interval unknown", conf_value(&s->hb, hb, sizeof hb),
                   s->hbn == 1 ? "once" : "once a connection");
        else
            printf("  (no heartbeat seen");
        if (s->others)
            printf(", %u other packet%s", s->others, s->others == 1 ? "" : "s");
        printf(")  [%u connection%s]\n", s->conns, s->conns == 1 ? "" : "s");
    }
    if (st->dropped)
        printf("(%u more DTUs not listed)\n", st->dropped);
}

static void accept_one(struct listen_state *st, int lfd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    char peer[64];
    tcp_peer_name(&ss, sl, peer, sizeof peer);
    struct conn *c = NULL;
    for (int i = 0; i < CONNS_MAX && !c; i++)
        if (st->conns[i].fd < 0)
            c = &st->conns[i];
    if (!c) {
        st->refused++;
        printf("%s dialled in: refused (%d connections watched already)\n", peer, CONNS_MAX);
        close(fd);
        return;
    }
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->num = ++st->accepted;
    c->t0 = mono_us();
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    printf("#%u %s dialled in\n", c->num, peer);
}

/* Bytes came (or the peer went): gather them into packets. */
static void receive(struct listen_state *st, struct conn *c)
{
    uint8_t buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(st, c, n == 0 ? "hung up" : strerror(errno));
        return;
    }
    int64_t now = mono_us();
    for (ssize_t i = 0; i < n; i++) {
        if (c->rx.n == PACKET_MAX)
            packet_done(st, c);
        if (!c->rx.n)
            c->rx_first = now;
        c->rx.b[c->rx.n++] = buf[i];
    }
    c->rx_last = now;
}

int cli_listen(int argc, char **argv)
{
    const char *address = "";
    char host[80];
    long port = 0;
    double seconds = 0;
    struct listen_state *st = calloc(1, sizeof *st);
    if (!st)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        char err[128];
        if (!strcmp(a, "--help")) {
            usage(stdout);
            free(st);
            return 0;
        } else if (!strcmp(a, "--hex")) {
            st->hex = 1;
            continue;
        } else if (!val) {
            fprintf(stderr, "ganzhi listen: %s%s\n", a, a[0] == '-' ? " needs a value" : ": unexpected");
        } else if (!strcmp(a, "--port")) {
            if (num_parse_long(val, 1, 65535, &port, err, sizeof err) == 0) {
                i++;
                continue;
            }
            fprintf(stderr, "ganzhi listen: --port: %s\n", err);
        } else if (!strcmp(a, "--address")) {
            size_t n = strlen(val);
            /* [::1] as well as ::1 */
            if (val[0] == '[' && n > 2 && val[n - 1] == ']')
                snprintf(host, sizeof host, "%.*s", (int)(n - 2), val + 1);
            else
                snprintf(host, sizeof host, "%s", val);
            address = host;
            i++;
            continue;
        } else if (!strcmp(a, "--seconds")) {
            if (num_parse_double(val, &seconds, err, sizeof err) == 0 && seconds > 0) {
                i++;
                continue;
            }
            fprintf(stderr, "ganzhi listen: --seconds takes a number above 0\n");
        } else {
            fprintf(stderr, "ganzhi listen: unexpected argument '%s'\n", a);
        }
        usage(stderr);
        free(st);
        return 2;
    }
    if (!port) {
        usage(stderr);
        free(st);
        return 2;
    }
    char shown[128], err[300];
    int lfd = tcp_listen_open(address, (int)port, 16, err, sizeof err);
    if (lfd < 0) {
        fprintf(stderr, "ganzhi listen: %s%s\n", err, cli_held_hint(errno));
        free(st);
        return 1;
    }
    if (!address[0])
        snprintf(shown, sizeof shown, "[::]:%d", tcp_bound_port(lfd));
    else if (strchr(address, ':'))
        snprintf(shown, sizeof shown, "[%s]:%d", address, tcp_bound_port(lfd));
    else
        snprintf(shown, sizeof shown, "%s:%d", address, tcp_bound_port(lfd));
    for (int i = 0; i < CONNS_MAX; i++)
        st->conns[i].fd = -1;
    /* SIGINT and SIGTERM end the wait in ppoll only, never mid-print. */
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGTERM);
    struct sigaction sa = { .sa_handler = on_stop };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (seconds > 0)
        printf("listening on %s for %g s; sending nothing\n", shown, seconds);
    else
        printf("listening on %s until Ctrl-C; sending nothing\n", shown);
    int64_t end = seconds > 0 ? mono_us() + (int64_t)(seconds * 1e6) : INT64_MAX;
    struct pollfd pf[CONNS_MAX + 1];
    int which[CONNS_MAX + 1];
    while (!stop_signal) {
        int64_t now = mono_us(), next = end;
        if (now >= end)
            break;
        nfds_t n = 0;
        pf[n++] = (struct pollfd){ lfd, POLLIN, 0 };
        for (int i = 0; i < CONNS_MAX; i++) {
            struct conn *c = &st->conns[i];
            if (c->fd < 0)
                continue;
            if (c->rx.n && now - c->rx_last >= PACKET_GAP_US)
                packet_done(st, c);
            if (c->rx.n && c->rx_last + PACKET_GAP_US < next)
                next = c->rx_last + PACKET_GAP_US;
            which[n] = i;
            pf[n++] = (struct pollfd){ c->fd, POLLIN, 0 };
        }
        int64_t wait_us = next == INT64_MAX ? 3600000000LL : next - now;
        struct timespec ts = { wait_us / 1000000, (long)(wait_us % 1000000) * 1000 };
        int rc = ppoll(pf, n, &ts, &waitmask);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "ganzhi listen: poll: %s\n", strerror(errno));
            break;
        }
        for (nfds_t k = 1; rc > 0 && k < n; k++)
            if (pf[k].revents)
                receive(st, &st->conns[which[k]]);
        if (rc > 0 && (pf[0].revents & POLLIN))
            accept_one(st, lfd);
    }
    if (stop_signal)
        printf("stopped by %s\n", stop_signal == SIGINT ? "Ctrl-C" : "SIGTERM");
    for (int i = 0; i < CONNS_MAX; i++)
        if (st->conns[i].fd >= 0)
            conn_close(st, &st->conns[i], "still connected");
    close(lfd);
    summary(st);
    free(st);
    return 0;
}
