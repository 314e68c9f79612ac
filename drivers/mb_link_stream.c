/*
 * mb_link_stream: Modbus over a TCP socket, in either framing.
 *
 * MBAP (Modbus TCP): each request carries a transaction id; a reply with
 * another id (a late answer to a request that timed out) or another unit is
 * discarded and counted, and the wait goes on. A silent unit behind a gateway
 * therefore costs its own timeout and nothing else; the connection is reopened
 * only when it fails, or after several requests in a row got no answer at all
 * (a peer that rebooted leaves a half-open connection behind).
 *
 * RTU over TCP (serial device servers, DTUs): the frames have no transaction
 * id, so a reply is found in the byte stream by what it must be: our unit, our
 * function (or its exception), the length the function gives, a good CRC.
 * Before a frame may sit an echo of our own request (a half-duplex adapter),
 * noise, a DTU's heartbeat or registration packet; a heartbeat may even fall
 * inside a reply (the DTU sends it between two TCP segments). Each is skipped
 * and counted. After an error the stream is drained until quiet, so a late
 * reply is never taken for the next request's. Before each request the link
 * keeps the pause the serial side needs (frame_gap). A connection on which
 * several requests in a row heard nothing at all is reopened (not a DTU's).
 *
 * Either way the wait for a reply is bounded as a whole by the device's
 * timeout, never renewed as bytes come, so a peer dripping bytes cannot hold
 * the bus.
 */
#include "drivers/mb_link_impl.h"
#include "drivers/dtu_listen.h"
#include "core/bytes.h"
#include "core/clock.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RX_MAX          1024    /* bytes held while looking for a reply */
#define SILENT_REOPEN   3       /* MBAP requests in a row without any answer */
#define QUIET_MIN_US    50000   /* TCP carries a frame in pieces; silence shorter than this means little */

struct stream_link {
    struct mb_link base;
    int fd;
    int rtu;                    /* RTU framing (else MBAP) */
    uint16_t tid;               /* MBAP: last transaction id sent */
    unsigned silent;            /* requests in a row without an answer (RTU: without a byte) */
    int reopened_silent;        /* this connection replaced one given up for silence */
    int64_t gap_pause_us;       /* RTU: pause before each request */
    int64_t quiet_at_us;        /* RTU: the line may be spoken on from this time */
    char peer[64];              /* a dialled-in DTU's address */
    unsigned answered;          /* requests answered on this connection */
    int heard;                  /* bytes came since the request went out */
    int closed_unheard;         /* the peer closed before a byte of the reply came */
    uint8_t rx[RX_MAX];
    size_t rxlen;
    /* mb_link_feed (the fuzz targets): the peer's bytes from a buffer, no socket */
    int feeding;                /* connected to the buffer, not to fd */
    int feed_sent;              /* a request went out: the bytes may come */
    const uint8_t *feed;
    size_t feed_left, feed_piece;
};

static struct stream_link *T(struct mb_link *l) { return (struct stream_link *)l; }
static const struct stream_link *Tc(const struct mb_link *l) { return (const struct stream_link *)l; }
static int connected(const struct stream_link *s) { return s->fd >= 0 || s->feeding; }

static void stream_close(struct mb_link *l)
{
    struct stream_link *s = T(l);
    if (s->fd >= 0 || s->feeding) {
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        s->feeding = 0;
        l->st.disconnects++;
    }
    /* What the connection held and no reply took (a frame that never ended,
     * a header past saving) goes with it: counted as drained. */
    l->st.drained_bytes += s->rxlen;
    s->rxlen = 0;
}

static int connect_within(const struct addrinfo *ai, int64_t timeout_ms, int *fd_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return errno;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd p = { fd, POLLOUT, 0 };
        int64_t until = mono_us() + timeout_ms * 1000;
        do
            rc = poll(&p, 1, (int)((until - mono_us()) / 1000 > 0 ? (until - mono_us()) / 1000 : 0));
        while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            close(fd);
            return ETIMEDOUT;
        }
        int e = 0;
        socklen_t len = sizeof e;
        if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
            e = errno;
        if (e) {
            close(fd);
            return e;
        }
    } else if (rc < 0) {
        int e = errno;
        close(fd);
        return e;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    *fd_out = fd;
    return 0;
}

static void take_dtu(struct stream_link *s)
{
    char peer[sizeof s->peer];
    int fd = dtu_slot_take(s->base.p.dtu, peer, sizeof peer);
    if (fd < 0)
        return;
    /* The DTU dialled again: its old connection is dead or about to be. */
    stream_close(&s->base);
    s->fd = fd;
    snprintf(s->peer, sizeof s->peer, "%s", peer);
    s->base.open = 1;
    s->base.st.connects++;
}

static enum mb_status stream_open(struct mb_link *l, char *err, size_t errlen)
{
    struct stream_link *s = T(l);
    s->rxlen = 0;
    s->silent = 0;
    s->answered = 0;
    if (l->p.dtu) {
        char peer[sizeof s->peer];
        int fd = dtu_slot_take(l->p.dtu, peer, sizeof peer);
        if (fd < 0) {
            snprintf(err, errlen, "DTU %s has not dialled in (listening on %s)",
                     dtu_slot_name(l->p.dtu), dtu_slot_address(l->p.dtu));
            return MB_ERR_COMM;
        }
        s->fd = fd;
        snprintf(s->peer, sizeof s->peer, "%s", peer);
        s->quiet_at_us = mono_us() + s->gap_pause_us;
        return MB_OK;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", l->p.port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(l->p.host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: %s", l->p.host, l->p.port, gai_strerror(rc));
        return MB_ERR_COMM;
    }
    int e = ENOENT;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if ((e = connect_within(ai, l->timeout_ms, &s->fd)) == 0)
            break;
    freeaddrinfo(res);
    if (e) {
        snprintf(err, errlen, "%s:%d: %s", l->p.host, l->p.port,
                 e == ETIMEDOUT ? "connection timed out" : strerror(e));
        s->fd = -1;
        return MB_ERR_COMM;
    }
    s->quiet_at_us = mono_us() + s->gap_pause_us;
    return MB_OK;
}

static int write_all(int fd, const uint8_t *b, size_t n, int64_t deadline_us)
{
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline_us - mono_us();
            struct pollfd p = { fd, POLLOUT, 0 };
            if (left <= 0 || poll(&p, 1, (int)(left / 1000) + 1) <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            continue;
        }
        return -1;
    }
    return 0;
}

/* The request's bytes to the peer; fed links send nowhere, and from now on
 * their bytes may come. */
static int send_request(struct stream_link *s, const uint8_t *b, size_t n, int64_t deadline_us)
{
    if (s->feeding) {
        s->feed_sent = 1;
        return 0;
    }
    return write_all(s->fd, b, n, deadline_us);
}

/* Read what has come, waiting until deadline_us at most: 1 bytes came, 0 the
 * deadline passed, -1 the connection is gone (errno, 0 for closed by the peer). */
static int fill(struct stream_link *s, int64_t deadline_us)
{
    if (s->rxlen == RX_MAX) {
        /* Full of what is no reply of ours: keep the newest half. */
        s->base.st.drained_bytes += RX_MAX / 2;
        memmove(s->rx, s->rx + RX_MAX / 2, RX_MAX / 2);
        s->rxlen = RX_MAX / 2;
    }
    if (s->feeding) {   /* a piece at once, never a wait: then the peer closes */
        if (!s->feed_sent)
            return 0;
        if (!s->feed_left) {
            errno = 0;
            return -1;
        }
        size_t n = RX_MAX - s->rxlen;
        if (n > s->feed_left)
            n = s->feed_left;
        if (s->feed_piece && n > s->feed_piece)
            n = s->feed_piece;
        memcpy(s->rx + s->rxlen, s->feed, n);
        s->feed += n;
        s->feed_left -= n;
        s->rxlen += n;
        s->heard = 1;
        return 1;
    }
    for (;;) {
        int64_t left = deadline_us - mono_us();
        if (left < 0)
            left = 0;
        struct pollfd p = { s->fd, POLLIN, 0 };
        int rc = poll(&p, 1, (int)((left + 999) / 1000));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
        ssize_t n = recv(s->fd, s->rx + s->rxlen, RX_MAX - s->rxlen, 0);
        if (n > 0) {
            s->rxlen += (size_t)n;
            s->heard = 1;
            return 1;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n == 0)
            errno = 0;
        return -1;
    }
}

static void cut(struct stream_link *s, size_t at, size_t n)
{
    memmove(s->rx + at, s->rx + at + n, s->rxlen - at - n);
    s->rxlen -= n;
}

/* The peer has closed the connection (read side at its end: recv sees 0)? */
static int peer_closed(int fd)
{
    uint8_t b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static enum mb_status lost(struct stream_link *s, char *err, size_t errlen)
{
    int e = errno;
    s->closed_unheard = !s->heard && (e == 0 || e == ECONNRESET || e == EPIPE);
    snprintf(err, errlen, "%s", e ? strerror(e) : "connection closed by the peer");
    mb_link_close(&s->base);
    return MB_ERR_COMM;
}

/* A request timed out without its reply (nothing_came: not a byte of anything).
 * After SILENT_REOPEN in a row the connection is given up: a peer that rebooted
 * behind a NAT, or one that accepted and never reads, leaves a socket that stays
 * open with nothing ever coming, for as long as TCP keeps retrying (many
 * minutes). A DTU's connection is not ours to redial: it is kept. The error
 * says so, and says when a new connection did no better. */
static void unanswered(struct stream_link *s, int nothing_came, char *err, size_t errlen)
{
    size_t n = strlen(err);
    if (nothing_came && s->reopened_silent && n + 1 < errlen)
        n += (size_t)snprintf(err + n, errlen - n, ", even on a new connection");
    if (++s->silent < SILENT_REOPEN || s->base.p.dtu)
        return;
    if (n + 1 < errlen)
        snprintf(err + n, errlen - n, "; %u requests in a row unanswered: reconnecting", s->silent);
    mb_link_close(&s->base);
    s->reopened_silent = 1;
}

/* ---- MBAP ---- */

static enum mb_status mbap_request(struct stream_link *s, const uint8_t *req, size_t reqlen,
                                   uint8_t *rsp, size_t *rsplen, char *err, size_t errlen)
{
    struct mb_link *l = &s->base;
    uint8_t adu[MB_MBAP_LEN + MB_PDU_MAX];
    uint16_t tid = ++s->tid;
    adu[0] = (uint8_t)(tid >> 8);
    adu[1] = (uint8_t)tid;
    adu[2] = adu[3] = 0;
    adu[4] = (uint8_t)((reqlen + 1) >> 8);
    adu[5] = (uint8_t)(reqlen + 1);
    adu[6] = (uint8_t)l->unit_id;
    memcpy(adu + MB_MBAP_LEN, req, reqlen);
    /* One deadline for the whole reply, never renewed as bytes come: a peer
     * dripping a byte at a time (or a frame that never ends) cannot hold the
     * bus longer than the device's timeout. */
    int64_t t0 = mono_us(), deadline = t0 + l->timeout_ms * 1000;
    unsigned foreign = 0;       /* valid replies not ours, discarded while waiting */
    mb_link_trace(l, ">", adu, MB_MBAP_LEN + reqlen, "");
    if (send_request(s, adu, MB_MBAP_LEN + reqlen, deadline) < 0)
        return lost(s, err, errlen);
    for (;;) {
        while (s->rxlen >= MB_MBAP_LEN) {
            const uint8_t *h = s->rx;
            size_t len = (size_t)(h[4] << 8 | h[5]);
            if (h[2] || h[3] || len < 2 || len > MB_PDU_MAX + 1) {
                /* The stream's framing is lost: only a new connection finds it again. */
                mb_link_trace(l, "<", s->rx, s->rxlen, "(not a Modbus TCP header)");
                l->st.bad_replies++;
                snprintf(err, errlen, "not a Modbus TCP reply (protocol %u, length %zu)",
                         (unsigned)(h[2] << 8 | h[3]), len);
                mb_link_close(l);   /* the bytes held are counted drained */
                return MB_ERR_REPLY;
            }
            size_t whole = 6 + len;
            if (s->rxlen < whole)
                break;
            char note[64];
            snprintf(note, sizeof note, "(%.1f ms)", (double)(mono_us() - t0) / 1000.0);
            uint16_t got = (uint16_t)(h[0] << 8 | h[1]);
            if (got != tid || h[6] != (uint8_t)l->unit_id) {
                mb_link_trace(l, "<", s->rx, whole, "(another transaction: discarded)");
                l->st.foreign++;
                foreign++;
                cut(s, 0, whole);
                s->silent = 0;  /* late, but the peer answers */
                s->reopened_silent = 0;
                continue;
            }
            mb_link_trace(l, "<", s->rx, whole, note);
            *rsplen = len - 1;
            memcpy(rsp, s->rx + MB_MBAP_LEN, *rsplen);
            cut(s, 0, whole);
            s->silent = 0;
            s->reopened_silent = 0;
            return MB_OK;
        }
        int rc = fill(s, deadline);
        if (rc < 0)
            return lost(s, err, errlen);
        if (rc == 0) {
            l->st.timeouts++;
            mb_link_trace(l, "<", s->rx, s->rxlen, "(no reply: timed out)");
            /* Say what did come: a site engineer tells a wrong unit id or a
             * gateway mixing up transactions (foreign replies), a stalled or
             * endless frame, and a dead connection apart from a silent device. */
            int n = snprintf(err, errlen, "no reply within %lld ms", (long long)l->timeout_ms);
            size_t at = n < 0 ? 0 : (size_t)n < errlen ? (size_t)n : errlen - 1;
            if (foreign)
                snprintf(err + at, errlen - at, " (%u repl%s for another transaction or unit discarded)",
                         foreign, foreign == 1 ? "y" : "ies");
            else if (s->rxlen >= MB_MBAP_LEN)
                snprintf(err + at, errlen - at, " (an incomplete frame: %zu of its %zu bytes came)",
                         s->rxlen, 6 + (size_t)(s->rx[4] << 8 | s->rx[5]));
            else if (s->rxlen)
                snprintf(err + at, errlen - at, " (%zu bytes of a header came)", s->rxlen);
            /* Replies with ids are safe to come late; a connection that answers
             * nothing at all any more is not worth keeping, nor one stuck in a
             * frame that never ends. */
            unanswered(s, !foreign && !s->rxlen, err, errlen);
            return MB_ERR_COMM;
        }
    }
}

/* ---- RTU over TCP ---- */

/* Skip, at the start of the buffer, the packets that are no reply: a DTU's
 * heartbeat or registration, an echo of our request. 1 if one was skipped, 0 if
 * none is there, -1 if the start may be one still arriving. */
static int skip_packet(struct stream_link *s, const uint8_t *sent, size_t sentlen)
{
    struct mb_link *l = &s->base;
    const uint8_t *pk[3] = { NULL, NULL, NULL };
    size_t pn[3] = { 0, 0, 0 };
    if (l->p.dtu)
        dtu_slot_packets(l->p.dtu, &pk[0], &pn[0], &pk[1], &pn[1]);
    if (sent && l->p.echo != MB_ECHO_OFF) {
        pk[2] = sent;
        pn[2] = sentlen;
    }
    int partial = 0;
    for (int k = 0; k < 3; k++) {
        if (!pk[k] || !pn[k])
            continue;
        size_t m = s->rxlen < pn[k] ? s->rxlen : pn[k];
        if (memcmp(s->rx, pk[k], m) != 0)
            continue;
        if (m < pn[k]) {
            partial = 1;
            continue;
        }
        mb_link_trace(l, "<", s->rx, pn[k], k == 2 ? "(our request echoed: skipped)"
                                                   : "(DTU packet: stripped)");
        cut(s, 0, pn[k]);
        if (k == 2)
            l->st.echoes++;
        else
            l->st.heartbeats++;
        return 1;
    }
    return partial ? -1 : 0;
}

/* A DTU's heartbeat inside what would be our reply (the DTU sent it between
 * two TCP segments of the reply, even between its first bytes): taken out when
 * the reply cannot be whole with it in: the frame's bytes have all come and do
 * not make a reply, or the heartbeat splits the header (unit, function, count)
 * so that no length can be told. Our reply is `want` bytes from our unit id.
 * 1 taken out, 0 none there, -1 one there but the reply's end is to come. */
static int strip_inner_heartbeat(struct stream_link *s, size_t want)
{
    const uint8_t *id, *hb;
    size_t idn, hbn;
    if (!s->base.p.dtu || want < 4)
        return 0;
    dtu_slot_packets(s->base.p.dtu, &id, &idn, &hb, &hbn);
    if (!hb || !hbn || s->rxlen < 2 || s->rx[0] != (uint8_t)s->base.unit_id)
        return 0;
    size_t span = want + hbn - 1 < s->rxlen - 1 ? want + hbn - 1 : s->rxlen - 1;
    long at = bytes_find(s->rx + 1, span, hb, hbn);
    if (at < 0)
        return 0;
    size_t k = 1 + (size_t)at;
    if (k >= want)
        return 0;
    if (s->rxlen < want + hbn && k > 2)
        return -1;      /* perhaps: the reply's last bytes are still to come */
    cut(s, k, hbn);
    s->base.st.heartbeats++;
    return 1;
}

/* The whole length of the normal reply to a read request (unit, function,
 * start, count, CRC): what a reply of the right unit and function must also
 * have to be this request's and not a late one to another read; 0 for other
 * requests. */
static size_t reply_length_for(const uint8_t *sent, size_t sentlen)
{
    if (sentlen != 8)
        return 0;
    size_t count = (size_t)(sent[4] << 8 | sent[5]);
    switch (sent[1]) {
    case 1: case 2: return 5 + (count + 7) / 8;
    case 3: case 4: return 5 + 2 * count;
    default: return 0;
    }
}

/* A whole valid reply of ours starting at b? want: its length, when known. */
static int is_ours(const struct stream_link *s, const uint8_t *b, size_t have, uint8_t fc,
                   size_t want, size_t *len)
{
    int need = mb_rtu_reply_length(b, have);
    if (need <= 0 || (size_t)need > have || !mb_rtu_crc_ok(b, (size_t)need))
        return 0;
    *len = (size_t)need;
    if (b[0] != (uint8_t)s->base.unit_id || (b[1] & 0x7F) != fc)
        return 0;
    return (b[1] & 0x80) || !want || (size_t)need == want;
}

static enum mb_status rtu_receive(struct stream_link *s, const uint8_t *sent, size_t sentlen,
                                  uint8_t *rsp, size_t *rsplen, int64_t t0, char *err,
                                  size_t errlen)
{
    struct mb_link *l = &s->base;
    int64_t deadline = t0 + l->timeout_ms * 1000;
    int64_t quiet = l->gap_us * 4 > QUIET_MIN_US ? l->gap_us * 4 : QUIET_MIN_US;
    uint8_t fc = sent[1];
    size_t want = reply_length_for(sent, sentlen);
    int garbled = 0;        /* a whole frame failed its CRC */
    for (;;) {
        size_t len;
        int waiting = 0;
        while (s->rxlen && !waiting) {
            int sk = skip_packet(s, sent, sentlen);
            if (sk == 1)
                continue;
            int told = mb_rtu_reply_length(s->rx, s->rxlen), inner = 0;
            if (!is_ours(s, s->rx, s->rxlen, fc, want, &len) &&
                (inner = strip_inner_heartbeat(s, want ? want : told > 0 ? (size_t)told : 0)) == 1)
                continue;
            if (is_ours(s, s->rx, s->rxlen, fc, want, &len)) {
                char note[64];
                snprintf(note, sizeof note, "(%.1f ms)", (double)(mono_us() - t0) / 1000.0);
                mb_link_trace(l, "<", s->rx, len, note);
                *rsplen = len - 3;
                memcpy(rsp, s->rx + 1, *rsplen);
                cut(s, 0, len);
                s->quiet_at_us = mono_us() + s->gap_pause_us;
                return MB_OK;
            }
            int need = mb_rtu_reply_length(s->rx, s->rxlen);
            if (sk == -1 || inner == -1 || need == 0 || (need > 0 && (size_t)need > s->rxlen)) {
                /* Perhaps a reply still arriving; but it may be noise that only
                 * looks like one: a whole reply of ours further on is taken. */
                for (size_t j = 1; j < s->rxlen; j++)
                    if (is_ours(s, s->rx + j, s->rxlen - j, fc, want, &len)) {
                        mb_link_trace(l, "<", s->rx, j, "(noise: skipped)");
                        l->st.drained_bytes += j;
                        cut(s, 0, j);
                        break;
                    }
                waiting = s->rxlen && !is_ours(s, s->rx, s->rxlen, fc, want, &len);
                continue;
            }
            if (need > 0 && mb_rtu_crc_ok(s->rx, (size_t)need)) {
                /* A whole valid frame, not ours: another unit's reply (late, or
                 * an address clash on the bus), or our unit's late reply to
                 * another read. Never ours to take; our own device may still
                 * answer, so the wait goes on. */
                mb_link_trace(l, "<", s->rx, (size_t)need, "(not a reply to this request: discarded)");
                l->st.foreign++;
                cut(s, 0, (size_t)need);
                continue;
            }
            if (need > 0)
                garbled = 1;
            /* Not the start of anything: noise, one byte at a time. */
            mb_link_trace(l, "<", s->rx, 1, need > 0 ? "(a frame failing its CRC: its first byte dropped)" : "(noise: dropped)");
            l->st.drained_bytes++;
            cut(s, 0, 1);
        }
        int64_t now = mono_us();
        if (now >= deadline)
            break;
        /* A frame went wrong and the line has gone quiet: no reply is coming. */
        int64_t until = garbled && now + quiet < deadline ? now + quiet : deadline;
        int rc = fill(s, until);
        if (rc < 0)
            return lost(s, err, errlen);
        if (rc == 0 && garbled)
            break;
    }
    if (s->rxlen || garbled) {
        mb_link_trace(l, "<", s->rx, s->rxlen, "(no valid reply)");
        if (garbled)
            l->st.crc_errors++;
        else
            l->st.bad_replies++;
        snprintf(err, errlen, garbled ? "no valid reply (bad CRC or another unit's frame)"
                                      : "incomplete reply");
        return MB_ERR_REPLY;
    }
    l->st.timeouts++;
    mb_link_trace(l, "<", NULL, 0, "(no reply: timed out)");
    snprintf(err, errlen, "no reply within %lld ms", (long long)l->timeout_ms);
    return MB_ERR_COMM;
}

/* Discard what the stream holds and what comes until it has been quiet for
 * wait_us (0: only what is there now), bounded by the timeout; the DTU's own
 * packets are counted as such. */
static void discard(struct stream_link *s, int64_t wait_us)
{
    struct mb_link *l = &s->base;
    int64_t now = mono_us(), limit = now + l->timeout_ms * 1000, quiet_since = now;
    for (;;) {
        int partial = 0;
        while (s->rxlen && !partial) {
            int sk = skip_packet(s, NULL, 0);
            if (sk == 1)
                continue;
            if (sk == -1) {     /* a heartbeat still arriving: wait for its end */
                partial = 1;
                continue;
            }
            mb_link_trace(l, "<", s->rx, s->rxlen, "(stray bytes: drained)");
            l->st.drained_bytes += s->rxlen;
            s->rxlen = 0;
            quiet_since = mono_us();    /* heartbeats do not break the quiet */
        }
        now = mono_us();
        int64_t until = partial ? now + QUIET_MIN_US : quiet_since + wait_us;
        if (until > limit)
            until = limit;
        int rc = fill(s, until > now ? until : now);   /* at least what has come */
        if (rc < 0) {
            mb_link_close(l);
            return;
        }
        if (rc == 0) {
            if (partial) {
                mb_link_trace(l, "<", s->rx, s->rxlen, "(stray bytes: drained)");
                l->st.drained_bytes += s->rxlen;
                s->rxlen = 0;
            }
            return;
        }
    }
}

static enum mb_status rtu_request(struct stream_link *s, const uint8_t *req, size_t reqlen,
                                  uint8_t *rsp, size_t *rsplen, char *err, size_t errlen)
{
    struct mb_link *l = &s->base;
    uint8_t adu[MB_RTU_MAX];
    adu[0] = (uint8_t)l->unit_id;
    memcpy(adu + 1, req, reqlen);
    size_t n = mb_rtu_seal(adu, reqlen + 1);
    sleep_us(s->quiet_at_us - mono_us());
    int64_t t0 = mono_us();
    mb_link_trace(l, ">", adu, n, "");
    if (send_request(s, adu, n, t0 + l->timeout_ms * 1000) < 0)
        return lost(s, err, errlen);
    enum mb_status st = rtu_receive(s, adu, n, rsp, rsplen, t0, err, errlen);
    s->quiet_at_us = mono_us() + s->gap_pause_us;
    /* Without transaction ids a silent unit looks like a dead connection; but
     * a byte of anything (another unit's reply, noise, an echo from the
     * adapter) shows the far end alive, so only requests that heard nothing
     * at all count towards giving the connection up. */
    if (s->heard) {
        s->silent = 0;
        s->reopened_silent = 0;
    } else if (st == MB_ERR_COMM && connected(s)) {
        unanswered(s, 1, err, errlen);
    }
    return st;
}

static enum mb_status stream_request(struct mb_link *l, const uint8_t *req, size_t reqlen,
                                     uint8_t *rsp, size_t *rsplen, char *err, size_t errlen)
{
    struct stream_link *s = T(l);
    if (l->p.dtu)
        take_dtu(s);
    for (int attempt = 0;; attempt++) {
        /* A peer that closes idle connections (some gateways after every
         * reply, NAT boxes after a minute) has usually done so by now. On
         * RTU framing, whatever came unasked since the last reply is no
         * answer to this request: drained, which finds a close too (one
         * look at the socket a request, not two). */
        if (connected(s) && s->rtu)
            discard(s, 0);
        else if (s->fd >= 0 && peer_closed(s->fd))
            mb_link_close(l);
        enum mb_status st = mb_link_connect(l, err, errlen);
        if (st != MB_OK)
            return st;
        int reused = s->answered > 0;
        s->heard = 0;
        s->closed_unheard = 0;
        st = s->rtu ? rtu_request(s, req, reqlen, rsp, rsplen, err, errlen)
                    : mbap_request(s, req, reqlen, rsp, rsplen, err, errlen);
        if (st == MB_OK)
            s->answered++;
        /* A connection that had served closed as the request went out, before
         * a byte of reply: the close raced the request. A read asks again,
         * once, on a new connection (a read changes nothing to repeat). */
        if (st == MB_ERR_COMM && s->closed_unheard && reused && attempt == 0 && !l->p.dtu)
            continue;
        return st;
    }
}

static void stream_drain(struct mb_link *l)
{
    struct stream_link *s = T(l);
    if (!s->rtu || !connected(s))
        return;     /* MBAP: transaction ids tell late replies apart */
    int64_t quiet = l->gap_us * 4 > QUIET_MIN_US ? l->gap_us * 4 : QUIET_MIN_US;
    discard(s, quiet);
    s->quiet_at_us = mono_us() + s->gap_pause_us;
}

static void stream_describe(const struct mb_link *l, char *buf, size_t len)
{
    const struct stream_link *s = Tc(l);
    if (l->p.dtu)
        snprintf(buf, len, "rtu-tcp dtu %s (listen %s%s%s)", dtu_slot_name(l->p.dtu),
                 dtu_slot_address(l->p.dtu), s->fd >= 0 ? ", from " : "", s->fd >= 0 ? s->peer : "");
    else if (strchr(l->p.host, ':'))
        snprintf(buf, len, "%s [%s]:%d", s->rtu ? "rtu-tcp" : "tcp", l->p.host, l->p.port);
    else
        snprintf(buf, len, "%s %s:%d", s->rtu ? "rtu-tcp" : "tcp", l->p.host, l->p.port);
}

int mb_link_feed(struct mb_link *l, const uint8_t *b, size_t n, size_t piece)
{
    if (l->p.transport == MB_RTU_SERIAL || l->p.dtu)
        return -1;
    struct stream_link *s = T(l);
    mb_link_close(l);
    s->rxlen = 0;
    s->silent = 0;
    s->answered = 0;
    s->feeding = 1;
    s->feed_sent = 0;
    s->feed = b;
    s->feed_left = n;
    s->feed_piece = piece;
    l->open = 1;
    l->st.connects++;
    return 0;
}

static void stream_destroy(struct mb_link *l)
{
    free(l);
}

static const struct mb_link_ops stream_ops = {
    .open = stream_open, .request = stream_request, .drain = stream_drain,
    .close = stream_close, .describe = stream_describe, .destroy = stream_destroy,
};

struct mb_link *mb_link_stream_new(const struct mb_link_params *p, char *err, size_t errlen)
{
    if (!p->dtu && (!p->host || !p->host[0])) {
        snprintf(err, errlen, "no host to connect to");
        return NULL;
    }
    struct stream_link *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &stream_ops;
    s->base.p = *p;
    s->fd = -1;
    s->rtu = p->transport == MB_RTU_TCP;
    if (s->rtu) {
        mb_link_serial_timing(&s->base);
        s->gap_pause_us = p->frame_gap_us >= 0 ? p->frame_gap_us : s->base.gap_us;
    }
    return &s->base;
}
