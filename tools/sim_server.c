/* sim_server: the simulator's TCP side: one select() loop over the listening socket (or
 * the connection a DTU dials) and every client; sim_reply decides and builds the answers.
 *
 * libmodbus's own modbus_receive() is not used to read requests: once it has the first
 * byte of a frame it waits (up to the byte timeout) for the rest, so one client that
 * sends half a frame would stall every other. Instead each client has a buffer filled by
 * non-blocking reads, requests are cut from it (by their MBAP header, or by sim_rtu's
 * framer for RTU over TCP), and only a complete request reaches sim_reply. A client that
 * breaks the MBAP framing is dropped alone; nothing a client does can block the loop.
 *
 * Four modes share the loop:
 *  - Modbus TCP: every request answered at once; a reply that a `slow` directive delays
 *    waits in the output queue, and the loop goes on serving the others meanwhile.
 *  - a TCP to RTU gateway: Modbus TCP in front, and behind it one RS-485 line (sim_line),
 *    always paced: requests from every connection queue for it, one in service at a
 *    time; a silent unit is answered 0x0B after the gateway's timeout, a unit not on the
 *    line 0x0A at once.
 *  - RTU over TCP (a serial device server): each connection is its own byte stream cut
 *    into RTU frames; every frame goes onto the one line, paced if asked.
 *  - dial: the same RTU service over one connection we open ourselves, as a DTU does:
 *    registration packet first, heartbeats at an interval, redial when it goes.
 * Everything sent leaves through one output queue ordered by due time, so a reply, the
 * echo before it and the heartbeat inside it go out in the order the line would have.
 */
#include "core/bytes.h"
#include "tools/sim_rtu.h"
#include "tools/sim_server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * A Modbus TCP request (ADU), as cut from the stream:
 *
 *   0      2      4      6     7        8
 *   +------+------+------+-----+--------+-----------------+
 *   | tid  | 0    | len  | uid | fc     | data ...        |
 *   +------+------+------+-----+--------+-----------------+
 *   len counts uid + PDU (fc and data), 2..254: a request is 8..260 bytes. The same
 *   request on the RTU line is 4 bytes shorter: uid, PDU and a CRC.
 */
#define MBAP_LEN 7
#define ADU_MAX  MODBUS_TCP_MAX_ADU_LENGTH
#define MAX_OUT  256            /* transmissions waiting at once; more are lost */
#define OUT_MAX  (SIM_ADU_MAX + 16)     /* a reply with noise before it, in one write */
#define CONNECT_TIMEOUT_S 5.0
#define GW_TIMEOUT 0x0B         /* gateway target device failed to respond */
#define GW_NO_PATH 0x0A         /* gateway path unavailable */

struct client {
    int fd;
    unsigned gen;               /* which connection: a late reply goes to its own only */
    size_t len;                 /* MBAP: bytes buffered, not yet a whole request */
    uint8_t buf[ADU_MAX];
    struct sim_rtu_rx rx;       /* RTU: the framer */
};

/* Something to send at a time: bytes, a close, the end of a line request, or several. */
enum { OUT_CLOSE = 1, OUT_FINAL = 2 };
struct out {
    double due;
    unsigned long seq;          /* same due: in the order queued */
    unsigned slot, gen;
    unsigned flags;
    size_t len;
    uint8_t buf[OUT_MAX];
};

enum dial_state { DIAL_WAIT, DIAL_CONNECTING, DIAL_REGISTER, DIAL_UP };

struct sim_server {
    struct sim_server_options opt;
    struct sockaddr_storage sa; /* the address, to listen on or to dial */
    socklen_t salen;
    char where[INET6_ADDRSTRLEN + 16];  /* "ADDR:PORT" or "[ADDR]:PORT" */
    int listen_fd;
    unsigned next_gen;
    struct out out[MAX_OUT];
    unsigned nout;
    unsigned long next_seq;
    struct client *clients;     /* opt.max_clients slots, fd -1 when free */
    unsigned nclients;
    int accept_paused;          /* out of descriptors: retry at the next tick */
    struct sim_line line;
    /* dial */
    enum dial_state dstate;
    int dfd;                    /* while connecting; then the client's */
    double dnext;               /* WAIT: next dial; CONNECTING: give up; REGISTER: send */
    double up_at, next_hb;
    int last_err;               /* the last dial failure reported */
    struct sim_server_stats stats;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int rtu_framed(const struct sim_server *s)
{
    return s->opt.mode == SIM_SERVE_RTU_TCP || s->opt.mode == SIM_SERVE_DIAL;
}

/* An IPv4 or IPv6 literal and a port. 0, or -1. */
static int sockaddr_of(const char *address, int port, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    return -1;
}

static int listen_on(const struct sim_server *s)
{
    int fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    /* Non-blocking: a client that connects and resets before we accept must not leave
     * accept() waiting for the next one. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (const struct sockaddr *)&s->sa, s->salen) < 0 || listen(fd, 64) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int sim_server_open(const struct sim_server_options *opt, struct sim_server **out)
{
    *out = NULL;
    if (opt->max_clients == 0 || opt->tick_ms == 0 ||
        (opt->mode != SIM_SERVE_TCP && opt->char_s <= 0) ||
        (opt->mode == SIM_SERVE_DIAL && opt->dial.hb_len && opt->dial.heartbeat_s <= 0)) {
        errno = EINVAL;
        return -1;
    }
    struct sim_server *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->opt = *opt;
    s->listen_fd = -1;
    s->dfd = -1;
    if (opt->mode == SIM_SERVE_DIAL)
        s->opt.max_clients = 1;
    if (sockaddr_of(opt->address, opt->port, &s->sa, &s->salen) < 0) {
        free(s);
        errno = EINVAL;
        return -1;
    }
    snprintf(s->where, sizeof s->where, s->sa.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
             opt->address, opt->port);
    s->clients = calloc(s->opt.max_clients, sizeof *s->clients);
    if (!s->clients)
        goto out_free;
    for (unsigned i = 0; i < s->opt.max_clients; i++)
        s->clients[i].fd = -1;
    /* A gateway's line is paced whatever it is told: that is what it is for. */
    sim_line_init(&s->line, opt->paced || opt->mode == SIM_SERVE_GATEWAY, opt->char_s,
                  opt->gap_s);
    if (opt->mode == SIM_SERVE_DIAL) {
        s->dstate = DIAL_WAIT;
        s->dnext = now_s();
    } else if ((s->listen_fd = listen_on(s)) < 0) {
        goto out_free;
    }
    *out = s;
    return 0;

out_free:
    sim_server_close(s);
    return -1;
}

/* Close a connection. A DTU dials again after its pause. */
static void client_close(struct sim_server *s, struct client *c)
{
    close(c->fd);
    c->fd = -1;
    c->len = 0;
    s->nclients--;
    if (s->opt.mode == SIM_SERVE_DIAL) {
        s->dfd = -1;
        s->dstate = DIAL_WAIT;
        s->dnext = now_s() + s->opt.dial.redial_wait_s;
    }
}

void sim_server_close(struct sim_server *s)
{
    if (!s)
        return;
    int saved = errno;
    for (unsigned i = 0; s->clients && i < s->opt.max_clients; i++)
        if (s->clients[i].fd >= 0)
            client_close(s, &s->clients[i]);
    if (s->dstate == DIAL_CONNECTING && s->dfd >= 0)
        close(s->dfd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s->clients);
    free(s);
    errno = saved;
}

const char *sim_server_where(const struct sim_server *s)
{
    return s->where;
}

void sim_server_stats(const struct sim_server *s, struct sim_server_stats *out)
{
    *out = s->stats;
    out->line = s->line.st;
}

void sim_server_print_stats(const struct sim_server *s, FILE *out)
{
    static const char *const modes[] = { "tcp", "gateway", "rtu-tcp", "dial" };
    const struct sim_server_stats *st = &s->stats;
    fprintf(out, "ganzhi-sim: stats link mode=%s accepted=%lu refused=%lu dropped=%lu "
            "closed=%lu requests=%lu hangups=%lu closed_after_reply=%lu\n",
            modes[s->opt.mode], st->accepted, st->refused, st->dropped, st->closed,
            st->requests, st->hangups, st->closed_after_reply);
    if (s->opt.mode != SIM_SERVE_TCP) {
        const struct sim_line_stats *l = &s->line.st;
        fprintf(out, "ganzhi-sim: stats line paced=%d served=%lu busy_ms=%.0f queue_max=%lu "
                "queue_full=%lu overlaps=%lu echoes=%lu target_failed=%lu "
                "path_unavailable=%lu\n", s->line.paced, l->served, l->busy_s * 1000,
                l->queue_max, l->queue_full, l->overlaps, st->echoes, st->target_failed,
                st->path_unavailable);
    }
    if (s->opt.mode == SIM_SERVE_DIAL) {
        const struct sim_dial_stats *d = &st->dial;
        fprintf(out, "ganzhi-sim: stats dial dials=%lu failed=%lu registrations=%lu "
                "heartbeats=%lu heartbeats_inside=%lu drops=%lu expired=%lu\n",
                d->dials, d->failed, d->registrations, d->heartbeats, d->heartbeats_inside,
                d->drops, d->expired);
    }
    fflush(out);
}

/* A new connection in a free slot. */
static void client_open(struct sim_server *s, struct client *c, int fd)
{
    /* Each write goes out when it is due: an echo or noise written just before a reply
     * must not hold the reply back until the peer's delayed ACK (Nagle). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->gen = ++s->next_gen;
    c->len = 0;
    memset(&c->rx, 0, sizeof c->rx);
    s->nclients++;
    s->stats.accepted++;
}

static void accept_clients(struct sim_server *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                s->accept_paused = 1;   /* else the listening socket stays readable: a spin */
            return;                     /* EAGAIN, or the peer already gave up */
        }
        struct client *c = NULL;
        for (unsigned i = 0; fd < FD_SETSIZE && i < s->opt.max_clients; i++)
            if (s->clients[i].fd < 0) {
                c = &s->clients[i];
                break;
            }
        if (!c) {
            /* Full: an immediate close tells the client, where a backlog would hang it. */
            close(fd);
            s->stats.refused++;
            continue;
        }
        client_open(s, c, fd);
    }
}

/* Send a whole reply at once, or give up the client: a reply that cannot be sent whole
 * (the client stopped reading and its socket buffer is full, or it is gone) leaves the
 * stream unusable. Returns -1 when the client must be dropped. */
static int send_whole(int fd, const uint8_t *buf, size_t len)
{
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    return n == (ssize_t)len ? 0 : -1;
}

/* Queue bytes (len may be 0) for connection c at `due`. A line request's last output
 * that finds no room ends the request at once. */
static void queue_out(struct sim_server *s, struct sim_reply *rep, const struct client *c,
                      double due, const uint8_t *buf, size_t len, unsigned flags)
{
    if (s->nout == MAX_OUT || len > OUT_MAX) {
        sim_reply_stats(rep)->bus.tx_lost++;
        if (flags & OUT_FINAL)
            sim_line_closed(&s->line);
        return;
    }
    struct out *o = &s->out[s->nout++];
    o->due = due;
    o->seq = s->next_seq++;
    o->slot = (unsigned)(c - s->clients);
    o->gen = c->gen;
    o->flags = flags;
    o->len = len;
    if (len)
        memcpy(o->buf, buf, len);
}

/* Send what is due by `now`, earliest first. Returns the time the next is due, or `until`
 * if none is sooner. */
static double send_out(struct sim_server *s, double now, double until)
{
    for (;;) {
        unsigned first = s->nout;
        for (unsigned i = 0; i < s->nout; i++)
            if (first == s->nout || s->out[i].due < s->out[first].due ||
                (s->out[i].due == s->out[first].due && s->out[i].seq < s->out[first].seq))
                first = i;
        if (first == s->nout)
            return until;
        if (s->out[first].due > now)
            return s->out[first].due < until ? s->out[first].due : until;
        struct out o = s->out[first];
        s->out[first] = s->out[--s->nout];
        struct client *c = &s->clients[o.slot];
        if (c->fd >= 0 && c->gen == o.gen) {
            if (o.len && send_whole(c->fd, o.buf, o.len) < 0) {
                client_close(s, c);
                s->stats.dropped++;
            } else if (o.flags & OUT_CLOSE) {
                client_close(s, c);
            }
        }
        if (o.flags & OUT_FINAL)
            sim_line_closed(&s->line);
    }
}

/* Modbus TCP: one complete request answered now, later, or never (another unit id, or
 * silent on demand: a gateway in front of a dead serial slave is silent too, and the
 * client's timeout is what we test). Returns -1 when the client must be dropped, 1 when
 * it was closed on purpose. */
static int serve_request(struct sim_server *s, struct client *c, const uint8_t *adu,
                         size_t len, struct sim_reply *rep)
{
    const struct sim_faults *f = sim_reply_faults(rep);
    if (sim_reply_chance(rep, f->hangup_pct)) {
        s->stats.hangups++;
        client_close(s, c);
        return 1;
    }
    struct sim_answer a;
    if (sim_reply_answer(rep, adu, len, &a) < 0 || a.len == 0)
        return 0;
    unsigned flags = 0;
    if (f->close_after_reply) {
        s->stats.closed_after_reply++;
        flags = OUT_CLOSE;
    }
    if (a.delay_s <= 0) {
        if (send_whole(c->fd, a.adu, a.len) < 0)
            return -1;
        if (flags) {
            client_close(s, c);
            return 1;
        }
        return 0;
    }
    queue_out(s, rep, c, now_s() + a.delay_s, a.adu, a.len, flags);
    return 0;
}

/* Gateway: a request for a unit on the line queues for it; any other unit id is answered
 * 0x0A at once, as a gateway with no route to it does. Returns as serve_request. */
static int gateway_request(struct sim_server *s, struct client *c, const uint8_t *adu,
                           size_t len, struct sim_reply *rep)
{
    if (!sim_reply_serves(rep, adu[6])) {
        uint8_t exc[16];
        size_t n = sim_reply_exception(rep, adu, GW_NO_PATH, exc);
        s->stats.path_unavailable++;
        if (send_whole(c->fd, exc, n) < 0)
            return -1;
        if (sim_reply_faults(rep)->close_after_reply) {
            s->stats.closed_after_reply++;
            client_close(s, c);
            return 1;
        }
        return 0;
    }
    struct sim_line_job *j = sim_line_push(&s->line);
    if (j) {
        j->slot = (unsigned)(c - s->clients);
        j->gen = c->gen;
        j->arrived = now_s();
        j->good = 1;
        j->len = len;
        memcpy(j->buf, adu, len);
    }
    return 0;
}

/* RTU over TCP: every frame cut from a connection goes onto the line, good or not, as a
 * serial device server forwards whatever it is sent. */
struct frame_ctx {
    struct sim_server *s;
    struct client *c;
    struct sim_reply *rep;
};

static int on_frame(void *arg, const uint8_t *frame, size_t len, enum sim_rtu_cut cut,
                    double end)
{
    struct frame_ctx *fc = arg;
    struct sim_bus_stats *bus = &sim_reply_stats(fc->rep)->bus;
    bus->frames++;
    fc->s->stats.requests++;
    if (cut != SIM_FRAME_GOOD)
        bus->bad_frames++;
    struct sim_line_job *j = sim_line_push(&fc->s->line);
    if (j) {
        j->slot = (unsigned)(fc->c - fc->s->clients);
        j->gen = fc->c->gen;
        j->arrived = end;
        j->good = cut == SIM_FRAME_GOOD;
        j->len = len < sizeof j->buf ? len : sizeof j->buf;
        memcpy(j->buf, frame, j->len);
    }
    return 0;
}

/* Read what the client has sent (one read, so a flood from one client cannot starve the
 * others) and deal with every complete request in it. Returns 1 when the connection is
 * closed (by the peer, or by us on purpose), -1 when it must be dropped, else 0. */
static int client_service(struct sim_server *s, struct client *c, struct sim_reply *rep)
{
    if (rtu_framed(s)) {
        uint8_t buf[512];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0)
            return 1;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        struct frame_ctx fc = { s, c, rep };
        return sim_rtu_rx_feed(&c->rx, buf, (size_t)n, now_s(), on_frame, &fc);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n == 0)
        return 1;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    c->len += (size_t)n;

    size_t off = 0;
    while (c->len - off >= MBAP_LEN) {
        const uint8_t *h = c->buf + off;
        unsigned proto = (unsigned)h[2] << 8 | h[3];
        unsigned len = (unsigned)h[4] << 8 | h[5];
        /* Not Modbus: there is no way to find the next frame in a TCP stream. */
        if (proto != 0 || len < 2 || len > ADU_MAX - 6)
            return -1;
        size_t total = 6 + (size_t)len;
        if (c->len - off < total)
            break;
        s->stats.requests++;
        int rc = s->opt.mode == SIM_SERVE_GATEWAY ? gateway_request(s, c, h, total, rep)
                                                  : serve_request(s, c, h, total, rep);
        if (rc != 0)
            return rc;      /* a closed client's buffer is no more */
        off += total;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return 0;
}

/* A line request from an RTU connection, taken at t: the request goes out on the line (an
 * adapter echoes it), its slave turns round and answers, perhaps after noise. */
static void serve_rtu_job(struct sim_server *s, struct client *c,
                          const struct sim_line_job *j, struct sim_reply *rep, double t)
{
    const struct sim_faults *f = sim_reply_faults(rep);
    struct sim_line *l = &s->line;
    double sent = t + sim_line_wire(l, j->len), end = sent + sim_line_turn(l);

    if (f->echo) {
        queue_out(s, rep, c, sent, j->buf, j->len, 0);
        s->stats.echoes++;
    }
    if (j->good && sim_reply_chance(rep, f->hangup_pct)) {
        s->stats.hangups++;
        queue_out(s, rep, c, sent, NULL, 0, OUT_CLOSE | OUT_FINAL);
        sim_line_hold(l, sent);
        return;
    }
    struct sim_answer a;
    a.len = 0;
    if (j->good && sim_reply_answer(rep, j->buf, j->len, &a) < 0)
        a.len = 0;
    if (a.len == 0) {
        queue_out(s, rep, c, end, NULL, 0, OUT_FINAL);
        sim_line_hold(l, end);
        return;
    }
    /* Noise before the reply: in a write of its own, after which the line is quiet again
     * before the reply; or in the reply's write, as a device server's buffer joins them. */
    uint8_t msg[OUT_MAX];
    size_t mlen = 0;
    uint8_t noise[16];
    size_t n = sim_reply_noise(rep, noise, sizeof noise);
    if (n && (noise[0] & 1)) {
        queue_out(s, rep, c, end, noise, n, 0);
        end += sim_line_wire(l, n) + sim_line_turn(l);
    } else if (n) {
        memcpy(msg, noise, n);
        mlen = n;
    }
    memcpy(msg + mlen, a.adu, a.len);
    mlen += a.len;
    double due = end + a.delay_s + sim_line_wire(l, mlen);
    unsigned last = OUT_FINAL;
    if (f->close_after_reply) {
        s->stats.closed_after_reply++;
        last |= OUT_CLOSE;
    }
    const struct sim_dial_options *d = &s->opt.dial;
    if (s->opt.mode == SIM_SERVE_DIAL && d->hb_len && a.len >= 2 &&
        sim_reply_chance(rep, f->hb_inside_pct)) {
        /* A DTU's heartbeat timer fires while it forwards the reply. */
        size_t k = mlen - a.len + 1 + (size_t)(sim_reply_random(rep) % (a.len - 1));
        queue_out(s, rep, c, due, msg, k, 0);
        queue_out(s, rep, c, due, d->hb, d->hb_len, 0);
        queue_out(s, rep, c, due, msg + k, mlen - k, last);
        s->stats.dial.heartbeats_inside++;
    } else {
        queue_out(s, rep, c, due, msg, mlen, last);
    }
    sim_line_hold(l, due);
}

/* A gateway's request, taken at t: the request goes out as RTU, 4 bytes shorter than its
 * MBAP form, and the reply comes back the same; a slave that does not answer within the
 * gateway's timeout gets its client exception 0x0B instead. */
static void serve_gateway_job(struct sim_server *s, struct client *c,
                              const struct sim_line_job *j, struct sim_reply *rep, double t)
{
    const struct sim_faults *f = sim_reply_faults(rep);
    struct sim_line *l = &s->line;
    double sent = t + sim_line_wire(l, j->len - 4);
    if (sim_reply_chance(rep, f->hangup_pct)) {
        s->stats.hangups++;
        queue_out(s, rep, c, t, NULL, 0, OUT_CLOSE | OUT_FINAL);
        return;
    }
    struct sim_answer a;
    if (sim_reply_answer(rep, j->buf, j->len, &a) < 0)
        a.len = 0;
    double due;
    if (a.len == 0 || a.delay_s > s->opt.gateway_timeout_s) {
        a.len = sim_reply_exception(rep, j->buf, GW_TIMEOUT, a.adu);
        due = sent + s->opt.gateway_timeout_s;
        s->stats.target_failed++;
    } else {
        size_t rtu = a.len > MBAP_LEN ? a.len - 4 : 3;
        due = sent + sim_line_turn(l) + a.delay_s + sim_line_wire(l, rtu);
    }
    unsigned last = OUT_FINAL;
    if (f->close_after_reply) {
        s->stats.closed_after_reply++;
        last |= OUT_CLOSE;
    }
    queue_out(s, rep, c, due, a.adu, a.len, last);
    sim_line_hold(l, due);
}

/* Take the requests the line is free for. */
static void serve_line(struct sim_server *s, struct sim_reply *rep, double now)
{
    struct sim_line_job j;
    while (sim_line_next(&s->line, now, &j)) {
        struct client *c = &s->clients[j.slot];
        if (c->fd < 0 || c->gen != j.gen) {
            sim_line_closed(&s->line);      /* its connection is gone: nothing to serve */
            continue;
        }
        if (s->opt.mode == SIM_SERVE_GATEWAY)
            serve_gateway_job(s, c, &j, rep, now);
        else
            serve_rtu_job(s, c, &j, rep, now);
        /* Unpaced, its output is due now: out before the next is taken. */
        send_out(s, now, now);
    }
}

/* RTU: a silence on a connection ends what it has sent so far. Returns the time the next
 * silence is due, or `until`. */
static double silences(struct sim_server *s, struct sim_reply *rep, double now, double until)
{
    if (!rtu_framed(s))
        return until;
    for (unsigned i = 0; i < s->opt.max_clients; i++) {
        struct client *c = &s->clients[i];
        if (c->fd < 0)
            continue;
        struct frame_ctx fc = { s, c, rep };
        sim_rtu_rx_silence(&c->rx, now, s->opt.gap_s, on_frame, &fc);
        until = sim_rtu_rx_due(&c->rx, s->opt.gap_s, until);
    }
    return until;
}

static void dial_report(struct sim_server *s, int err)
{
    if (err == s->last_err)
        return;     /* once per kind of failure, not once a redial */
    s->last_err = err;
    if (err)
        fprintf(stderr, "ganzhi-sim: dial %s: %s; again every %g s\n", s->where, strerror(err),
                s->opt.dial.redial_wait_s);
    else
        fprintf(stderr, "ganzhi-sim: dial %s: connected\n", s->where);
}

static void dial_failed(struct sim_server *s, double now, int err)
{
    if (s->dfd >= 0)
        close(s->dfd);
    s->dfd = -1;
    s->stats.dial.failed++;
    s->dstate = DIAL_WAIT;
    s->dnext = now + s->opt.dial.redial_wait_s;
    dial_report(s, err);
}

static void dial_connected(struct sim_server *s, double now)
{
    client_open(s, &s->clients[0], s->dfd);
    s->dstate = DIAL_REGISTER;
    s->up_at = now;
    s->dnext = now + s->opt.dial.register_delay_s;
    dial_report(s, 0);
}

/* The DTU's life: dial, register, heartbeats, the drop and the redial. `writable`: the
 * connection in progress is writable (done, or failed). */
static void dial_step(struct sim_server *s, struct sim_reply *rep, double now, int writable)
{
    const struct sim_dial_options *d = &s->opt.dial;
    struct sim_faults *f = sim_reply_faults(rep);
    struct client *c = &s->clients[0];
    if (f->drop) {
        f->drop = 0;                /* an event: once for each time the file says it */
        if (s->dstate == DIAL_CONNECTING) {
            close(s->dfd);
            s->dfd = -1;
            s->dstate = DIAL_WAIT;
            s->dnext = now + d->redial_wait_s;
            s->stats.dial.drops++;
        } else if (c->fd >= 0) {
            client_close(s, c);
            s->stats.dial.drops++;
        }
    }
    if (s->dstate == DIAL_WAIT && now >= s->dnext) {
        s->stats.dial.dials++;
        s->dfd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->dfd < 0 || s->dfd >= FD_SETSIZE) {
            dial_failed(s, now, s->dfd < 0 ? errno : EMFILE);
            return;
        }
        if (connect(s->dfd, (const struct sockaddr *)&s->sa, s->salen) == 0) {
            dial_connected(s, now);
        } else if (errno == EINPROGRESS) {
            s->dstate = DIAL_CONNECTING;
            s->dnext = now + CONNECT_TIMEOUT_S;
            return;
        } else {
            dial_failed(s, now, errno);
            return;
        }
    }
    if (s->dstate == DIAL_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (writable) {
            if (getsockopt(s->dfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (err)
                dial_failed(s, now, err);
            else
                dial_connected(s, now);
        } else if (now >= s->dnext) {
            dial_failed(s, now, ETIMEDOUT);
        }
    }
    if (s->dstate == DIAL_REGISTER && now >= s->dnext) {
        if (d->reg_len && send_whole(c->fd, d->reg, d->reg_len) < 0) {
            client_close(s, c);
            s->stats.dropped++;
            return;
        }
        s->stats.dial.registrations += d->reg_len > 0;
        s->dstate = DIAL_UP;
        s->next_hb = now + d->heartbeat_s;
    }
    if (s->dstate != DIAL_UP)
        return;
    if (d->redial_after_s > 0 && now >= s->up_at + d->redial_after_s) {
        client_close(s, c);
        s->stats.dial.expired++;
        return;
    }
    if (d->hb_len && now >= s->next_hb) {
        if (send_whole(c->fd, d->hb, d->hb_len) < 0) {
            client_close(s, c);
            s->stats.dropped++;
            return;
        }
        s->stats.dial.heartbeats++;
        s->next_hb += d->heartbeat_s;
        if (s->next_hb <= now)      /* fell behind: no burst of heartbeats */
            s->next_hb = now + d->heartbeat_s;
    }
}

/* When the dialer next has something to do, or `until`. */
static double dial_due(const struct sim_server *s, double until)
{
    double t = until;
    switch (s->dstate) {
    case DIAL_WAIT: case DIAL_CONNECTING: case DIAL_REGISTER:
        t = s->dnext;
        break;
    case DIAL_UP:
        if (s->opt.dial.hb_len)
            t = s->next_hb;
        if (s->opt.dial.redial_after_s > 0 && s->up_at + s->opt.dial.redial_after_s < t)
            t = s->up_at + s->opt.dial.redial_after_s;
        break;
    }
    return t < until ? t : until;
}

int sim_server_run(struct sim_server *s, struct sim_reply *rep, sim_tick_fn *tick, void *arg,
                   volatile sig_atomic_t *stop)
{
    const double period = s->opt.tick_ms / 1000.0;
    const int dial = s->opt.mode == SIM_SERVE_DIAL;
    double last = now_s(), next = last + period;
    int writable = 0;

    while (!*stop) {
        double t = now_s();
        if (t >= next) {
            tick(arg, t - last);
            last = t;
            next += period;
            if (next <= t)          /* fell behind (a stopped process): do not catch up */
                next = t + period;
            s->accept_paused = 0;
        }
        /* One time for all that follows: output due by then goes first, since a
         * request's last output must be gone before the line takes the next. */
        t = now_s();
        send_out(s, t, t);
        double until = silences(s, rep, t, next);
        serve_line(s, rep, t);
        if (dial) {
            dial_step(s, rep, t, writable);
            until = dial_due(s, until);
        }
        until = sim_line_due(&s->line, until);
        until = send_out(s, t, until);

        fd_set rd, wr;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        int maxfd = -1;
        if (s->listen_fd >= 0 && !s->accept_paused) {
            FD_SET(s->listen_fd, &rd);
            maxfd = s->listen_fd;
        }
        if (dial && s->dstate == DIAL_CONNECTING) {
            FD_SET(s->dfd, &wr);
            if (s->dfd > maxfd)
                maxfd = s->dfd;
        }
        for (unsigned i = 0; i < s->opt.max_clients; i++) {
            int fd = s->clients[i].fd;
            /* A DTU forwards nothing before it has registered. */
            if (fd >= 0 && (!dial || s->dstate == DIAL_UP)) {
                FD_SET(fd, &rd);
                if (fd > maxfd)
                    maxfd = fd;
            }
        }
        double wait = until - now_s();
        if (wait < 0)
            wait = 0;
        struct timeval tv = { .tv_sec = (time_t)wait,
                              .tv_usec = (suseconds_t)((wait - (double)(time_t)wait) * 1e6) };
        int rc = select(maxfd + 1, &rd, dial ? &wr : NULL, NULL, &tv);
        writable = 0;
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (rc == 0)
            continue;
        if (dial && s->dstate == DIAL_CONNECTING && FD_ISSET(s->dfd, &wr))
            writable = 1;
        if (s->listen_fd >= 0 && !s->accept_paused && FD_ISSET(s->listen_fd, &rd))
            accept_clients(s);
        for (unsigned i = 0; i < s->opt.max_clients; i++) {
            struct client *c = &s->clients[i];
            if (c->fd < 0 || !FD_ISSET(c->fd, &rd))
                continue;
            rc = client_service(s, c, rep);
            if (rc != 0 && c->fd >= 0) {
                client_close(s, c);
                if (rc < 0)
                    s->stats.dropped++;
                else
                    s->stats.closed++;
            }
        }
    }
    return 0;
}
