/* dtu_listen: the listening socket, connections waiting for their registration,
 * and the slots that hand registered connections to the links. */
#include "drivers/dtu_listen.h"
#include "drivers/tcp_listen.h"
#include "core/clock.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One id may be the start of another ("GZ1", "GZ10"): after the shorter has
 * come, this long without another byte decides it. */
#define REGISTER_SETTLE_MS 200

struct dtu_slot {
    struct dtu_listener *owner;
    uint8_t id[BYTES_MAX], hb[BYTES_MAX];
    size_t idlen, hblen;
    char name[2 * BYTES_MAX + 8];
    pthread_mutex_t lock;
    atomic_int fresh;           /* a connection waits in fd */
    int fd;                     /* the newest connection, not yet taken */
    char peer[64];
    int registered;             /* ever */
    void (*on_connect)(void *);
    void *on_connect_arg;
};

struct pending {
    int fd;
    int64_t since_ms;
    int64_t last_ms;            /* bytes last came */
    struct dtu_slot *best;      /* the longest id matched, while a longer may follow */
    char peer[64];
    uint8_t buf[BYTES_MAX];
    size_t len;
};

struct dtu_listener {
    struct dtu_listen_params p;
    char address[80];
    int port;                   /* as bound (the system's choice for 0) */
    int fd;
    int stop_pipe[2];
    pthread_t thread;
    int started;
    struct dtu_slot **slots;
    size_t nslots;
    struct pending *pend;       /* pending_max of them; fd -1 when free */
    pthread_mutex_t stats_lock;
    struct dtu_listen_stats st;
};

struct dtu_listener *dtu_listen_open(const struct dtu_listen_params *p, char *err, size_t errlen)
{
    struct dtu_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->pend = calloc(p->pending_max ? p->pending_max : 1, sizeof *l->pend))) {
        free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->p = *p;
    if (!l->p.pending_max)
        l->p.pending_max = 1;
    for (unsigned i = 0; i < l->p.pending_max; i++)
        l->pend[i].fd = -1;
    l->stop_pipe[0] = l->stop_pipe[1] = -1;
    pthread_mutex_init(&l->stats_lock, NULL);
    l->st.pending_max = l->p.pending_max;
    l->fd = tcp_listen_open(p->host, p->port, 64, err, errlen);
    if (l->fd < 0 || pipe2(l->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        if (l->fd >= 0)
            snprintf(err, errlen, "pipe: %s", strerror(e));
        dtu_listen_free(l);
        errno = e;      /* EADDRINUSE: the port is held */
        return NULL;
    }
    l->port = tcp_bound_port(l->fd);
    const char *h = p->host && p->host[0] ? p->host : "";
    snprintf(l->address, sizeof l->address, "%s%s%s:%d", strchr(h, ':') ? "[" : "", h,
             strchr(h, ':') ? "]" : "", l->port);
    return l;
}

struct dtu_slot *dtu_listen_expect(struct dtu_listener *l, const uint8_t *id, size_t idlen,
                                   const uint8_t *heartbeat, size_t hblen)
{
    for (size_t i = 0; i < l->nslots; i++)
        if (l->slots[i]->idlen == idlen && memcmp(l->slots[i]->id, id, idlen) == 0)
            return l->slots[i];
    if (idlen == 0 || idlen > BYTES_MAX || hblen > BYTES_MAX)
        return NULL;
    struct dtu_slot **grown = realloc(l->slots, (l->nslots + 1) * sizeof *grown);
    struct dtu_slot *s = calloc(1, sizeof *s);
    if (!grown || !s) {
        free(s);
        if (grown)
            l->slots = grown;
        return NULL;
    }
    l->slots = grown;
    s->owner = l;
    memcpy(s->id, id, idlen);
    s->idlen = idlen;
    if (heartbeat && hblen) {
        memcpy(s->hb, heartbeat, hblen);
        s->hblen = hblen;
    }
    bytes_format(id, idlen, s->name, sizeof s->name);
    pthread_mutex_init(&s->lock, NULL);
    s->fd = -1;
    l->slots[l->nslots++] = s;
    return s;
}

static void count(struct dtu_listener *l, uint64_t *field)
{
    pthread_mutex_lock(&l->stats_lock);
    (*field)++;
    pthread_mutex_unlock(&l->stats_lock);
}

static void tell(struct dtu_listener *l, enum dtu_event ev, const char *peer, const char *what)
{
    if (l->p.on_event)
        l->p.on_event(l->p.event_arg, ev, peer, what);
}

static void refuse(struct dtu_listener *l, struct pending *c, enum dtu_event ev)
{
    char what[2 * BYTES_MAX + 8] = "";
    if (c->len)
        bytes_format(c->buf, c->len, what, sizeof what);
    count(l, ev == DTU_UNKNOWN ? &l->st.refused_unknown : &l->st.refused_timeout);
    tell(l, ev, c->peer, what);
    close(c->fd);
    c->fd = -1;
}

static void hand_over(struct dtu_listener *l, struct dtu_slot *s, struct pending *c)
{
    pthread_mutex_lock(&s->lock);
    int replaced = s->registered;
    if (s->fd >= 0)
        close(s->fd);   /* a newer connection than one never taken */
    s->fd = c->fd;
    snprintf(s->peer, sizeof s->peer, "%s", c->peer);
    s->registered = 1;
    atomic_store(&s->fresh, 1);
    pthread_mutex_unlock(&s->lock);
    c->fd = -1;
    count(l, &l->st.registered);
    if (replaced)
        count(l, &l->st.replaced);
    tell(l, replaced ? DTU_REPLACED : DTU_REGISTERED, c->peer, s->name);
    if (s->on_connect)
        s->on_connect(s->on_connect_arg);
}

/* Bytes came on a connection waiting to register: is it somebody yet? */
static void registration(struct dtu_listener *l, struct pending *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        refuse(l, c, DTU_NO_REGISTRATION);
        return;
    }
    if (n < 0)
        return;
    c->len += (size_t)n;
    c->last_ms = mono_ms();
    struct dtu_slot *best = NULL;
    int longer = 0;     /* what came so far may still grow into a longer id */
    for (size_t i = 0; i < l->nslots; i++) {
        struct dtu_slot *s = l->slots[i];
        size_t m = c->len < s->idlen ? c->len : s->idlen;
        if (memcmp(c->buf, s->id, m) != 0)
            continue;
        if (c->len < s->idlen)
            longer = 1;
        else if (!best || s->idlen > best->idlen)
            best = s;
    }
    if (longer && c->len < sizeof c->buf) {
        c->best = best;     /* taken if nothing more comes for a moment */
        return;
    }
    if (best)
        hand_over(l, best, c);
    else
        refuse(l, c, DTU_UNKNOWN);
}

static void accept_one(struct dtu_listener *l, int64_t now)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    count(l, &l->st.accepted);
    char peer[64];
    tcp_peer_name(&ss, sl, peer, sizeof peer);
    struct pending *c = NULL;
    for (unsigned i = 0; i < l->p.pending_max && !c; i++)
        if (l->pend[i].fd < 0)
            c = &l->pend[i];
    if (!c) {
        count(l, &l->st.refused_full);
        tell(l, DTU_FULL, peer, "");
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    *c = (struct pending){ .fd = fd, .since_ms = now };
    snprintf(c->peer, sizeof c->peer, "%s", peer);
}

static void *listen_main(void *arg)
{
    struct dtu_listener *l = arg;
    struct pollfd *pf = calloc(l->p.pending_max + 2, sizeof *pf);
    unsigned *which = calloc(l->p.pending_max + 2, sizeof *which);
    if (!pf || !which) {
        free(pf);
        free(which);
        return NULL;
    }
    for (;;) {
        int64_t now = mono_ms(), next = now + 1000;
        nfds_t n = 0;
        pf[n++] = (struct pollfd){ l->stop_pipe[0], POLLIN, 0 };
        pf[n++] = (struct pollfd){ l->fd, POLLIN, 0 };
        unsigned waiting = 0;
        for (unsigned i = 0; i < l->p.pending_max; i++) {
            struct pending *c = &l->pend[i];
            if (c->fd < 0)
                continue;
            /* A whole id has come (a longer one may still follow): the settle
             * decides, not the registration timeout, which has been met; a
             * longer id still dripping in gets one settle past the timeout. */
            int64_t settled = c->last_ms + REGISTER_SETTLE_MS;
            if (settled > c->since_ms + l->p.register_timeout_ms + REGISTER_SETTLE_MS)
                settled = c->since_ms + l->p.register_timeout_ms + REGISTER_SETTLE_MS;
            if (c->best && now >= settled) {
                hand_over(l, c->best, c);
                continue;
            }
            if (c->best && settled < next)
                next = settled;
            if (!c->best && now - c->since_ms >= l->p.register_timeout_ms) {
                refuse(l, c, DTU_NO_REGISTRATION);
                continue;
            }
            if (!c->best && c->since_ms + l->p.register_timeout_ms < next)
                next = c->since_ms + l->p.register_timeout_ms;
            which[n] = i;
            pf[n++] = (struct pollfd){ c->fd, POLLIN, 0 };
            waiting++;
        }
        pthread_mutex_lock(&l->stats_lock);
        l->st.pending = waiting;
        pthread_mutex_unlock(&l->stats_lock);
        int rc = poll(pf, n, (int)(next - now) + 1);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0)
            continue;
        if (pf[0].revents)
            break;
        for (nfds_t k = 2; k < n; k++)
            if (pf[k].revents)
                registration(l, &l->pend[which[k]]);
        if (pf[1].revents & POLLIN)
            accept_one(l, mono_ms());
    }
    free(pf);
    free(which);
    return NULL;
}

int dtu_listen_start(struct dtu_listener *l, char *err, size_t errlen)
{
    if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
        return -1;
    }
    l->started = 1;
    return 0;
}

void dtu_listen_free(struct dtu_listener *l)
{
    if (!l)
        return;
    if (l->started) {
        ssize_t w = write(l->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(l->thread, NULL);
    }
    for (unsigned i = 0; i < l->p.pending_max; i++)
        if (l->pend[i].fd >= 0)
            close(l->pend[i].fd);
    for (size_t i = 0; i < l->nslots; i++) {
        if (l->slots[i]->fd >= 0)
            close(l->slots[i]->fd);
        pthread_mutex_destroy(&l->slots[i]->lock);
        free(l->slots[i]);
    }
    for (int k = 0; k < 2; k++)
        if (l->stop_pipe[k] >= 0)
            close(l->stop_pipe[k]);
    if (l->fd >= 0)
        close(l->fd);
    pthread_mutex_destroy(&l->stats_lock);
    free(l->slots);
    free(l->pend);
    free(l);
}

void dtu_listen_get_stats(struct dtu_listener *l, struct dtu_listen_stats *out)
{
    pthread_mutex_lock(&l->stats_lock);
    *out = l->st;
    pthread_mutex_unlock(&l->stats_lock);
}

const char *dtu_listen_address(const struct dtu_listener *l) { return l->address; }
int dtu_listen_port(const struct dtu_listener *l) { return l->port; }

int dtu_slot_take(struct dtu_slot *s, char *peer, size_t peerlen)
{
    if (!atomic_load(&s->fresh))
        return -1;
    pthread_mutex_lock(&s->lock);
    int fd = s->fd;
    s->fd = -1;
    atomic_store(&s->fresh, 0);
    snprintf(peer, peerlen, "%s", s->peer);
    pthread_mutex_unlock(&s->lock);
    return fd;
}

void dtu_slot_packets(const struct dtu_slot *s, const uint8_t **id, size_t *idlen,
                      const uint8_t **hb, size_t *hblen)
{
    *id = s->id;
    *idlen = s->idlen;
    *hb = s->hblen ? s->hb : NULL;
    *hblen = s->hblen;
}

const char *dtu_slot_name(const struct dtu_slot *s) { return s->name; }
const char *dtu_slot_address(const struct dtu_slot *s) { return s->owner->address; }

void dtu_slot_on_connect(struct dtu_slot *s, void (*fn)(void *arg), void *arg)
{
    s->on_connect = fn;
    s->on_connect_arg = arg;
}
