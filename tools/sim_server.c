/* sim_server: the simulator's Modbus TCP server: one select() loop over the listening
 * socket and every client; sim_reply decides and builds the answers.
 *
 * libmodbus's own modbus_receive() is not used to read requests: once it has the first
 * byte of a frame it waits (up to the byte timeout) for the rest, so one client that
 * sends half a frame would stall every other. Instead each client has a buffer filled by
 * non-blocking reads, requests are cut from it by their MBAP header, and only a complete,
 * checked request reaches sim_reply. A client that breaks the framing is dropped alone;
 * nothing a client does can block the loop. A reply that a `slow` directive delays waits
 * in a queue, and the loop goes on serving the others meanwhile.
 */
#include "tools/sim_server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
 *   len counts uid + PDU (fc and data), 2..254: a request is 8..260 bytes.
 */
#define MBAP_LEN 7
#define ADU_MAX  MODBUS_TCP_MAX_ADU_LENGTH
#define MAX_LATE 256            /* delayed replies waiting at once; more are lost */

struct client {
    int fd;
    unsigned gen;               /* which connection: a late reply goes to its own only */
    size_t len;                 /* bytes buffered, not yet a whole request */
    uint8_t buf[ADU_MAX];
};

/* A reply held back by a `slow` directive. */
struct late {
    double due;
    unsigned slot, gen;
    size_t len;
    uint8_t adu[SIM_ADU_MAX];
};

struct sim_server {
    struct sim_server_options opt;
    modbus_t *ctx;              /* only to listen */
    int listen_fd;
    unsigned next_gen;
    struct late late[MAX_LATE];
    unsigned nlate;
    struct client *clients;     /* opt.max_clients slots, fd -1 when free */
    unsigned nclients;
    int accept_paused;          /* out of descriptors: retry at the next tick */
    struct sim_server_stats stats;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int sim_server_open(const struct sim_server_options *opt, struct sim_server **out)
{
    struct in_addr ia;
    *out = NULL;
    /* libmodbus would pass a bad address to inet_addr() and bind 255.255.255.255. */
    if (inet_pton(AF_INET, opt->address, &ia) != 1 || opt->max_clients == 0 || opt->tick_ms == 0) {
        errno = EINVAL;
        return -1;
    }
    struct sim_server *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->opt = *opt;
    s->listen_fd = -1;
    s->clients = calloc(opt->max_clients, sizeof *s->clients);
    if (!s->clients)
        goto out_free;
    for (unsigned i = 0; i < opt->max_clients; i++)
        s->clients[i].fd = -1;
    s->ctx = modbus_new_tcp(opt->address, opt->port);
    if (!s->ctx)
        goto out_free;
    s->listen_fd = modbus_tcp_listen(s->ctx, 64);
    if (s->listen_fd < 0)
        goto out_free;
    /* Non-blocking: a client that connects and resets before we accept must not leave
     * accept() waiting for the next one. */
    if (set_nonblock(s->listen_fd) < 0)
        goto out_free;
    *out = s;
    return 0;

out_free:
    sim_server_close(s);
    return -1;
}

static void client_drop(struct sim_server *s, struct client *c)
{
    close(c->fd);
    c->fd = -1;
    c->len = 0;
    s->nclients--;
}

void sim_server_close(struct sim_server *s)
{
    if (!s)
        return;
    int saved = errno;
    for (unsigned i = 0; s->clients && i < s->opt.max_clients; i++)
        if (s->clients[i].fd >= 0)
            client_drop(s, &s->clients[i]);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->ctx)
        modbus_free(s->ctx);
    free(s->clients);
    free(s);
    errno = saved;
}

void sim_server_stats(const struct sim_server *s, struct sim_server_stats *out)
{
    *out = s->stats;
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
        c->fd = fd;
        c->gen = ++s->next_gen;
        c->len = 0;
        s->nclients++;
        s->stats.accepted++;
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

/* One complete request: answer it now, later, or never (another unit id, or silent on
 * demand: a gateway in front of a dead serial slave is silent too, and the client's
 * timeout is what we test). Returns -1 when the client must be dropped. */
static int serve_request(struct sim_server *s, struct client *c, const uint8_t *adu,
                         size_t len, struct sim_reply *rep)
{
    struct sim_answer a;
    if (sim_reply_answer(rep, adu, len, &a) < 0 || a.len == 0)
        return 0;
    if (a.delay_s <= 0)
        return send_whole(c->fd, a.adu, a.len);
    if (s->nlate == MAX_LATE) {
        sim_reply_stats(rep)->bus.tx_lost++;
        return 0;
    }
    struct late *l = &s->late[s->nlate++];
    l->due = now_s() + a.delay_s;
    l->slot = (unsigned)(c - s->clients);
    l->gen = c->gen;
    l->len = a.len;
    memcpy(l->adu, a.adu, a.len);
    return 0;
}

/* Send the late replies that are due, to their connection if it is still there. Returns
 * the time the next one is due, or `until` if none is sooner. */
static double send_late(struct sim_server *s, double until)
{
    double t = now_s(), next = until;
    unsigned keep = 0;
    for (unsigned i = 0; i < s->nlate; i++) {
        struct late *l = &s->late[i];
        if (l->due > t) {
            if (l->due < next)
                next = l->due;
            s->late[keep++] = *l;
            continue;
        }
        struct client *c = &s->clients[l->slot];
        if (c->fd >= 0 && c->gen == l->gen && send_whole(c->fd, l->adu, l->len) < 0) {
            client_drop(s, c);
            s->stats.dropped++;
        }
    }
    s->nlate = keep;
    return next;
}

/* Read what the client has sent (one read, so a flood from one client cannot starve the
 * others) and answer every complete request in it. Returns 1 when the client has closed
 * the connection, -1 when it must be dropped, else 0. */
static int client_service(struct sim_server *s, struct client *c, struct sim_reply *rep)
{
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
        if (serve_request(s, c, h, total, rep) < 0)
            return -1;
        off += total;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    return 0;
}

int sim_server_run(struct sim_server *s, struct sim_reply *rep, sim_tick_fn *tick, void *arg,
                   volatile sig_atomic_t *stop)
{
    const double period = s->opt.tick_ms / 1000.0;
    double last = now_s(), next = last + period;

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

        fd_set rd;
        FD_ZERO(&rd);
        int maxfd = -1;
        if (!s->accept_paused) {
            FD_SET(s->listen_fd, &rd);
            maxfd = s->listen_fd;
        }
        for (unsigned i = 0; i < s->opt.max_clients; i++) {
            int fd = s->clients[i].fd;
            if (fd >= 0) {
                FD_SET(fd, &rd);
                if (fd > maxfd)
                    maxfd = fd;
            }
        }
        double wait = send_late(s, next) - now_s();
        if (wait < 0)
            wait = 0;
        struct timeval tv = { .tv_sec = (time_t)wait,
                              .tv_usec = (suseconds_t)((wait - (double)(time_t)wait) * 1e6) };
        int rc = select(maxfd + 1, &rd, NULL, NULL, &tv);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (rc == 0)
            continue;
        if (!s->accept_paused && FD_ISSET(s->listen_fd, &rd))
            accept_clients(s);
        for (unsigned i = 0; i < s->opt.max_clients; i++) {
            struct client *c = &s->clients[i];
            if (c->fd < 0 || !FD_ISSET(c->fd, &rd))
                continue;
            rc = client_service(s, c, rep);
            if (rc != 0) {
                client_drop(s, c);
                if (rc < 0)
                    s->stats.dropped++;
            }
        }
    }
    return 0;
}
