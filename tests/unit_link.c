/* unit_link: mb_frame's CRC and reply lengths; mb_link over TCP (Modbus TCP and
 * RTU over TCP) against a scripted fake peer on loopback; the DTU listener and a
 * link reading through a DTU that dialled in.
 *
 * The fake peer is a thread with a listening socket (or, for a DTU, a client
 * socket): for each exchange of its script it reads the request, checks it is
 * byte for byte the one expected, and writes back crafted bytes, in several
 * writes with pauses if asked. The test thread and the peer share nothing but
 * sockets and a join: what the peer saw is read after the join. Under
 * GANZHI_EMULATED (qemu-user) only the frame test runs: see main(). */
#include "tests/unit.h"
#include "core/clock.h"
#include "drivers/dtu_listen.h"
#include "drivers/mb_frame.h"
#include "drivers/mb_link.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- frames ---- */

static size_t rtu_req(uint8_t *b, int unit, int fc, int start, int count)
{
    uint8_t f[6] = { (uint8_t)unit, (uint8_t)fc, (uint8_t)(start >> 8), (uint8_t)start,
                     (uint8_t)(count >> 8), (uint8_t)count };
    memcpy(b, f, 6);
    return mb_rtu_seal(b, 6);
}

static size_t rtu_regs(uint8_t *b, int unit, int fc, const uint16_t *v, int n)
{
    b[0] = (uint8_t)unit;
    b[1] = (uint8_t)fc;
    b[2] = (uint8_t)(2 * n);
    for (int i = 0; i < n; i++) {
        b[3 + 2 * i] = (uint8_t)(v[i] >> 8);
        b[4 + 2 * i] = (uint8_t)v[i];
    }
    return mb_rtu_seal(b, 3 + 2 * (size_t)n);
}

static size_t rtu_exc(uint8_t *b, int unit, int fc, int code)
{
    b[0] = (uint8_t)unit;
    b[1] = (uint8_t)(fc | 0x80);
    b[2] = (uint8_t)code;
    return mb_rtu_seal(b, 3);
}

static void mbap_head(uint8_t *b, int tid, int len, int unit)
{
    b[0] = (uint8_t)(tid >> 8);
    b[1] = (uint8_t)tid;
    b[2] = b[3] = 0;
    b[4] = (uint8_t)(len >> 8);
    b[5] = (uint8_t)len;
    b[6] = (uint8_t)unit;
}

static size_t mbap_req(uint8_t *b, int tid, int unit, int fc, int start, int count)
{
    mbap_head(b, tid, 6, unit);
    uint8_t pdu[5] = { (uint8_t)fc, (uint8_t)(start >> 8), (uint8_t)start,
                       (uint8_t)(count >> 8), (uint8_t)count };
    memcpy(b + 7, pdu, 5);
    return 12;
}

static size_t mbap_regs(uint8_t *b, int tid, int unit, int fc, const uint16_t *v, int n)
{
    mbap_head(b, tid, 3 + 2 * n, unit);
    b[7] = (uint8_t)fc;
    b[8] = (uint8_t)(2 * n);
    for (int i = 0; i < n; i++) {
        b[9 + 2 * i] = (uint8_t)(v[i] >> 8);
        b[10 + 2 * i] = (uint8_t)v[i];
    }
    return 9 + 2 * (size_t)n;
}

static size_t mbap_exc(uint8_t *b, int tid, int unit, int fc, int code)
{
    mbap_head(b, tid, 3, unit);
    b[7] = (uint8_t)(fc | 0x80);
    b[8] = (uint8_t)code;
    return 9;
}

/* ---- the fake peer ---- */

#define CHUNKS    6
#define EXCHANGES 8
#define FRAME     300

struct chunk {
    uint8_t b[FRAME];
    size_t n;
    int delay_ms;       /* pause before this write */
};

struct exchange {
    uint8_t req[FRAME];
    size_t reqlen;
    struct chunk out[CHUNKS];
    int nout;
    int close_after;    /* close the connection once the chunks are written */
};

struct fake {
    int lfd, port;      /* listening (the link dials us); -1 for a DTU, which dials */
    int fd;             /* the connection */
    int accepts;
    int bad;            /* a request was not the one expected, or did not come */
    char why[512];
    struct exchange ex[EXCHANGES];
    int nex;
    int64_t t_req[EXCHANGES];   /* when each request had come whole */
    int served;
    pthread_t th;
    /* DTU mode */
    int dtu_port;
    int redial_at;      /* dial again before this exchange (0: never) */
    int old_closed;     /* the first connection was closed by the link after the redial */
};

static void hex(char *buf, size_t len, const uint8_t *b, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && at + 4 < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%02X ", b[i]);
}

static void fake_fail(struct fake *f, const char *what, const uint8_t *got, size_t n)
{
    if (f->bad++)
        return;
    char h[400];
    hex(h, sizeof h, got, n);
    snprintf(f->why, sizeof f->why, "exchange %d: %s%s%s", f->served + 1, what, n ? ": " : "", h);
}

static struct fake *fake_new(void)
{
    struct fake *f = calloc(1, sizeof *f);
    f->fd = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(f->lfd, 8) < 0 ||
        getsockname(f->lfd, (struct sockaddr *)&a, &al) < 0) {
        perror("fake listen");
        exit(2);
    }
    f->port = ntohs(a.sin_port);
    return f;
}

static struct exchange *ex_add(struct fake *f, const uint8_t *req, size_t n)
{
    struct exchange *e = &f->ex[f->nex++];
    memcpy(e->req, req, n);
    e->reqlen = n;
    return e;
}

static void ex_out(struct exchange *e, int delay_ms, const uint8_t *b, size_t n)
{
    struct chunk *c = &e->out[e->nout++];
    memcpy(c->b, b, n);
    c->n = n;
    c->delay_ms = delay_ms;
}

/* Read exactly n bytes of the next request, taking the new connections the link
 * makes on the way (the old one is closed). 0, or -1 if it did not come. */
static int fake_read(struct fake *f, uint8_t *buf, size_t n, int64_t deadline)
{
    size_t have = 0;
    while (have < n) {
        struct pollfd p[2];
        int np = 0, ci = -1, li = -1;
        if (f->fd >= 0) {
            ci = np;
            p[np++] = (struct pollfd){ f->fd, POLLIN, 0 };
        }
        if (f->lfd >= 0) {
            li = np;
            p[np++] = (struct pollfd){ f->lfd, POLLIN, 0 };
        }
        int64_t left = (deadline - mono_us()) / 1000;
        if (left <= 0)
            break;
        int rc = poll(p, (nfds_t)np, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        if (ci >= 0 && p[ci].revents) {
            ssize_t r = recv(f->fd, buf + have, n - have, 0);
            if (r > 0) {
                have += (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            close(f->fd);   /* the link closed it; it will dial again */
            f->fd = -1;
            if (have)
                fake_fail(f, "connection closed within a request", buf, have);
            have = 0;
            continue;
        }
        if (li >= 0 && p[li].revents) {
            int c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                if (f->fd >= 0)
                    close(f->fd);
                f->fd = c;
                f->accepts++;
                have = 0;
            }
        }
    }
    if (have < n) {
        fake_fail(f, "request not received", buf, have);
        return -1;
    }
    return 0;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A DTU dials in: connect and say who it is. */
static int dtu_dial(int port, const char *id)
{
    int fd = dial(port);
    if (fd >= 0 && send(fd, id, strlen(id), MSG_NOSIGNAL) != (ssize_t)strlen(id)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* 1 when fd reads end of file (or an error) within ms, else 0. */
static int sees_eof(int fd, int ms)
{
    int64_t deadline = mono_us() + (int64_t)ms * 1000;
    uint8_t b[64];
    for (;;) {
        int64_t left = (deadline - mono_us()) / 1000;
        struct pollfd p = { fd, POLLIN, 0 };
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return 0;
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r <= 0)
            return 1;
    }
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    int old = -1;
    if (f->dtu_port) {
        f->fd = dtu_dial(f->dtu_port, "GZ10");
        if (f->fd < 0)
            fake_fail(f, "cannot dial the listener", NULL, 0);
        else
            f->accepts++;
    }
    for (f->served = 0; f->served < f->nex; f->served++) {
        struct exchange *e = &f->ex[f->served];
        if (f->dtu_port && f->redial_at == f->served + 1) {
            old = f->fd;
            f->fd = dtu_dial(f->dtu_port, "GZ10");
            f->accepts++;
        }
        uint8_t got[FRAME];
        if (fake_read(f, got, e->reqlen, mono_us() + 3000000) < 0)
            break;
        f->t_req[f->served] = mono_us();
        if (memcmp(got, e->req, e->reqlen) != 0) {
            fake_fail(f, "unexpected request", got, e->reqlen);
            break;
        }
        for (int k = 0; k < e->nout; k++) {
            sleep_us((int64_t)e->out[k].delay_ms * 1000);
            if (f->fd >= 0 && send(f->fd, e->out[k].b, e->out[k].n, MSG_NOSIGNAL) < 0)
                break;
        }
        if (e->close_after && f->fd >= 0) {
            close(f->fd);
            f->fd = -1;
        }
    }
    if (old >= 0) {
        f->old_closed = sees_eof(old, 1000);
        close(old);
    }
    /* The script is done: the link closes its connection at the end; anything
     * it still sends is a request too many. */
    if (f->fd >= 0) {
        int64_t deadline = mono_us() + 3000000;
        uint8_t b[FRAME];
        for (;;) {
            int64_t left = (deadline - mono_us()) / 1000;
            struct pollfd p = { f->fd, POLLIN, 0 };
            if (left <= 0 || poll(&p, 1, (int)left) <= 0)
                break;
            ssize_t r = recv(f->fd, b, sizeof b, 0);
            if (r <= 0)
                break;
            fake_fail(f, "bytes after the script", b, (size_t)r);
        }
        close(f->fd);
        f->fd = -1;
    }
    /* A connection made and never used still counts. */
    struct pollfd p = { f->lfd, POLLIN, 0 };
    if (f->lfd >= 0 && poll(&p, 1, 0) == 1) {
        int c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) {
            f->accepts++;
            close(c);
        }
    }
    return NULL;
}

static void fake_start(struct fake *f)
{
    if (pthread_create(&f->th, NULL, fake_main, f) != 0) {
        perror("pthread_create");
        exit(2);
    }
}

/* Join the peer: the script must have gone as written. */
static void fake_end(struct fake *f)
{
    pthread_join(f->th, NULL);
    if (f->bad)
        printf("  fake peer: %s\n", f->why);
    CHECK(f->bad == 0);
    CHECK(f->served == f->nex);
}

static void fake_free(struct fake *f)
{
    if (f->lfd >= 0)
        close(f->lfd);
    free(f);
}

/* ---- the link ---- */

static struct mb_link *link_new(enum mb_transport t, int port, int64_t timeout_ms, int64_t gap_us,
                                struct dtu_slot *dtu)
{
    struct mb_link_params p = {
        .transport = t, .host = dtu ? NULL : "127.0.0.1", .port = port, .dtu = dtu,
        .baud = 9600, .parity = 'N', .data_bits = 8, .stop_bits = 1, .frame_gap_us = gap_us,
        .echo = MB_ECHO_AUTO, .unit_id = 1, .timeout_ms = timeout_ms,
    };
    char err[200] = "";
    struct mb_link *l = mb_link_new(&p, err, sizeof err);
    if (!l) {
        printf("  mb_link_new: %s\n", err);
        exit(2);
    }
    return l;
}

struct result {
    enum mb_status st;
    uint16_t regs[125];
    int exc;
    char err[256];
    int64_t ms;
};

static struct result rd(struct mb_link *l, enum mb_area area, int start, int count)
{
    struct result r;
    memset(&r, 0, sizeof r);
    struct mb_read q = { .area = area, .start = (uint16_t)start, .count = (uint16_t)count };
    uint8_t bits[2000];
    int64_t t0 = mono_us();
    r.st = mb_link_read(l, &q, r.regs, bits, &r.exc, r.err, sizeof r.err);
    r.ms = (mono_us() - t0) / 1000;
    return r;
}

static struct mb_link_stats stats(struct mb_link *l)
{
    struct mb_link_stats s;
    mb_link_get_stats(l, &s);
    return s;
}

static const uint16_t VA[10] = { 11, 22, 33, 44, 55, 66, 77, 88, 99, 1010 };
static const uint16_t VB[10] = { 0xBEEF, 0x1234, 7, 8, 9, 10, 11, 12, 13, 14 };

static int regs_are(const struct result *r, const uint16_t *v, int n)
{
    if (r->st != MB_OK) {
        printf("  read: status %d: %s\n", r->st, r->err);
        return 0;
    }
    return memcmp(r->regs, v, (size_t)n * sizeof *v) == 0;
}

/* ---- mb_link_feed: the fuzz targets' seam ---- */

/* A link fed from a buffer reads what a socket would have brought after the
 * request, in pieces, then finds the peer closed; an RTU link's bytes are not
 * drained before the request (they come after it), only the noise before the
 * reply. */
static void test_feed(void)
{
    uint8_t a[FRAME + 4];
    struct mb_link *l = link_new(MB_TCP, 1, 1000, 0, NULL);
    size_t n = mbap_regs(a, 1, 1, 3, VA, 10);
    CHECK(mb_link_feed(l, a, n, 0) == 0);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    /* then closed: asked again on a new connection, to port 1, refused */
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM && !mb_link_is_open(l));
    CHECK(stats(l).disconnects == 1);
    mb_link_free(l);

    l = link_new(MB_RTU_TCP, 1, 1000, 0, NULL);
    a[0] = 0x00;
    a[1] = 0x55;
    n = 2 + rtu_regs(a + 2, 1, 3, VA, 10);
    CHECK(mb_link_feed(l, a, n, 3) == 0);
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).drained_bytes == 2 && stats(l).connects == 1);
    CHECK(r.ms < 500);      /* no wait is real */
    mb_link_free(l);
}

/* ---- mb_frame ---- */

static void test_frame(void)
{
    uint8_t f[8] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A };
    uint16_t crc = mb_crc16(f, 6);
    CHECK((crc & 0xFF) == 0xC5 && crc >> 8 == 0xCD);
    CHECK(mb_rtu_seal(f, 6) == 8);
    CHECK(f[6] == 0xC5 && f[7] == 0xCD);
    CHECK(mb_rtu_crc_ok(f, 8));
    f[3] ^= 1;
    CHECK(!mb_rtu_crc_ok(f, 8));
    CHECK(!mb_rtu_crc_ok(f, 3));
    uint8_t r[7] = { 0x01, 0x03, 0x02, 0x00, 0x2A };
    mb_rtu_seal(r, 5);
    CHECK(r[5] == 0x39 && r[6] == 0x9B);
    /* The table against the bitwise definition, over every byte value. */
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)(255 - i);
    for (size_t n = 0; n <= sizeof all; n += 37) {
        uint16_t c = 0xFFFF;
        for (size_t i = 0; i < n; i++) {
            c ^= all[i];
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (uint16_t)((c >> 1) ^ 0xA001) : (uint16_t)(c >> 1);
        }
        CHECK(mb_crc16(all, n) == c);
    }

    const uint8_t fc3[] = { 0x01, 0x03, 0x14 };
    CHECK(mb_rtu_reply_length(fc3, 1) == 0);
    CHECK(mb_rtu_reply_length(fc3, 2) == 0);
    CHECK(mb_rtu_reply_length(fc3, 3) == 25);
    const uint8_t fc1[] = { 0x01, 0x01, 0x02 }, fc4[] = { 0x01, 0x04, 0xFA };
    CHECK(mb_rtu_reply_length(fc1, 3) == 7);
    CHECK(mb_rtu_reply_length(fc4, 3) == 255);
    const uint8_t zero[] = { 0x01, 0x03, 0x00 };
    CHECK(mb_rtu_reply_length(zero, 3) == -1);
    /* more data than a read can ask for: no reply of ours (found by fuzz_rtu_reply:
     * 255 made a 260-byte frame, past an RTU frame's 256) */
    const uint8_t big[] = { 0x01, 0x03, 0xFB }, most[] = { 0x01, 0x03, 0xFA };
    CHECK(mb_rtu_reply_length(big, 3) == -1);
    CHECK(mb_rtu_reply_length(most, 3) == 255);
    const uint8_t exc[] = { 0x01, 0x83 }, exc_gw[] = { 0x01, 0x84 }, exc_bad[] = { 0x01, 0x80 },
                  exc_far[] = { 0x01, 0xC0 };
    CHECK(mb_rtu_reply_length(exc, 2) == 5);
    CHECK(mb_rtu_reply_length(exc_gw, 2) == 5);
    CHECK(mb_rtu_reply_length(exc_bad, 2) == -1);
    CHECK(mb_rtu_reply_length(exc_far, 2) == -1);
    const uint8_t w6[] = { 0x01, 0x06 }, w16[] = { 0x01, 0x10 }, w5[] = { 0x01, 0x05 },
                  w15[] = { 0x01, 0x0F };
    CHECK(mb_rtu_reply_length(w6, 2) == 8);
    CHECK(mb_rtu_reply_length(w16, 2) == 8);
    CHECK(mb_rtu_reply_length(w5, 2) == 8);
    CHECK(mb_rtu_reply_length(w15, 2) == 8);
    const uint8_t u7[] = { 0x01, 0x07, 0x00 }, u0[] = { 0x01, 0x00, 0x00 }, u43[] = { 0x01, 0x2B };
    CHECK(mb_rtu_reply_length(u7, 3) == -1);
    CHECK(mb_rtu_reply_length(u0, 3) == -1);
    CHECK(mb_rtu_reply_length(u43, 2) == -1);
}

/* ---- RTU over TCP ---- */

#define TMO 300     /* ms: the response timeout where a reply is expected */

static void test_rtu_plain(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 10);
    ex_out(ex_add(f, q, qn), 0, a, rtu_regs(a, 1, 3, VA, 10));
    /* input registers, fc 4, another start */
    qn = rtu_req(q, 1, 4, 0x0102, 2);
    ex_out(ex_add(f, q, qn), 0, a, rtu_regs(a, 1, 4, VB, 2));
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    r = rd(l, MB_INPUT, 0x0102, 2);
    CHECK(regs_are(&r, VB, 2));
    struct mb_link_stats s = stats(l);
    CHECK(s.drained_bytes == 0 && s.crc_errors == 0 && s.foreign == 0 && s.echoes == 0);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

static void test_rtu_split(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 10), an = rtu_regs(a, 1, 3, VA, 10);
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, a, 2);
    ex_out(e, 5, a + 2, 9);
    ex_out(e, 5, a + 11, an - 11);
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).drained_bytes == 0);
    mb_link_free(l);
    fake_end(f);
    fake_free(f);
}

static void test_rtu_echo(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0x0102, 2);
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, q, qn);
    ex_out(e, 5, a, rtu_regs(a, 1, 3, VB, 2));
    /* the echo and the reply in one write */
    qn = rtu_req(q, 1, 3, 0, 10);
    e = ex_add(f, q, qn);
    uint8_t both[FRAME];
    memcpy(both, q, qn);
    ex_out(e, 0, both, qn + rtu_regs(both + qn, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0x0102, 2);
    CHECK(regs_are(&r, VB, 2));
    CHECK(stats(l).echoes == 1);
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).echoes == 2);
    CHECK(stats(l).drained_bytes == 0);
    mb_link_free(l);
    fake_end(f);
    fake_free(f);
}

static void test_rtu_noise(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME], g[32];
    size_t qn = rtu_req(q, 1, 3, 0, 10), an = rtu_regs(a, 1, 3, VA, 10);
    uint32_t seed = 12345;
    for (int k = 0; k < 5; k++) {
        size_t gn = 1 + k * 3;
        for (size_t i = 0; i < gn; i++) {
            seed = seed * 1103515245u + 12345u;
            g[i] = (uint8_t)(seed >> 16);
        }
        struct exchange *e = ex_add(f, q, qn);
        ex_out(e, 0, g, gn);
        ex_out(e, 5, a, an);
    }
    /* Noise that starts like a long reply of ours (count 255), then the reply. */
    const uint8_t looks[] = { 0x01, 0x03, 0xFF };
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, looks, sizeof looks);
    ex_out(e, 5, a, an);
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, TMO, 0, NULL);
    uint64_t drained = 0;
    for (int k = 0; k < 6; k++) {
        struct result r = rd(l, MB_HOLDING, 0, 10);
        CHECK(regs_are(&r, VA, 10));
        uint64_t now = stats(l).drained_bytes;
        CHECK(now > drained);
        drained = now;
    }
    CHECK(stats(l).foreign == 0);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

static void test_rtu_foreign_then_ours(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 10);
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, a, rtu_regs(a, 2, 3, VB, 10));     /* unit 2's late reply */
    ex_out(e, 80, a, rtu_regs(a, 1, 3, VA, 10));    /* ours, a moment later */
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).foreign == 1);
    CHECK(stats(l).crc_errors == 0);
    mb_link_free(l);
    fake_end(f);
    fake_free(f);
}

static void test_rtu_foreign_only(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 10);
    ex_out(ex_add(f, q, qn), 0, a, rtu_regs(a, 2, 3, VB, 10));
    /* Also a whole valid frame of our unit but another function. */
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, a, rtu_regs(a, 1, 4, VB, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, 200, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(r.regs[0] != VB[0]);
    CHECK(r.ms >= 190);
    struct mb_link_stats s = stats(l);
    CHECK(s.foreign == 1 && s.timeouts == 1 && s.crc_errors == 0);
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(r.regs[0] != VB[0]);
    CHECK(stats(l).foreign == 2);
    CHECK(mb_link_is_open(l));
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

static void test_rtu_bad_crc_then_late(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME], late[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 10), an = rtu_regs(a, 1, 3, VA, 10);
    a[an - 1] ^= 0x55;
    ex_out(ex_add(f, q, qn), 0, a, an);
    /* The next request (2 registers): first the late, good reply of the failed
     * one (10 registers), then the reply to this one. */
    qn = rtu_req(q, 1, 3, 0, 2);
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, late, rtu_regs(late, 1, 3, VA, 10));
    ex_out(e, 5, a, rtu_regs(a, 1, 3, VB, 2));
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_REPLY);
    CHECK(stats(l).crc_errors == 1);
    CHECK(mb_link_is_open(l));
    r = rd(l, MB_HOLDING, 0, 2);
    CHECK(regs_are(&r, VB, 2));
    CHECK(stats(l).foreign == 1);
    CHECK(stats(l).crc_errors == 1);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

static void test_rtu_exception(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 10);
    ex_out(ex_add(f, q, qn), 0, a, rtu_exc(a, 1, 3, 2));
    qn = rtu_req(q, 1, 3, 0, 2);
    ex_out(ex_add(f, q, qn), 0, a, rtu_regs(a, 1, 3, VB, 2));
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_EXCEPTION);
    CHECK(r.exc == 2);
    CHECK(strstr(r.err, "illegal data address") != NULL);
    r = rd(l, MB_HOLDING, 0, 2);
    CHECK(regs_are(&r, VB, 2));
    mb_link_free(l);
    fake_end(f);
    fake_free(f);
}

static void test_rtu_silence(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 10);
    ex_add(f, q, qn);
    ex_out(ex_add(f, q, qn), 0, a, rtu_regs(a, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, 150, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(r.ms >= 145 && r.ms < 600);
    CHECK(strstr(r.err, "150 ms") != NULL);
    CHECK(stats(l).timeouts == 1);
    CHECK(mb_link_is_open(l));
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).connects == 1 && stats(l).disconnects == 0);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

/* A device server that accepted and then hears nothing (rebooted behind a NAT):
 * three requests in a row without a byte back give the connection up, and the
 * next request is made on a new one. A request that heard anything at all (here
 * noise) starts the count again: the far end is alive, only the unit is silent. */
static void test_rtu_silent_three_reopen(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    const uint8_t noise[] = { 0xFF };
    size_t qn = rtu_req(q, 1, 3, 0, 10);
    ex_add(f, q, qn);
    ex_add(f, q, qn);
    ex_out(ex_add(f, q, qn), 0, noise, sizeof noise);     /* silence broken */
    for (int k = 0; k < 3; k++)
        ex_add(f, q, qn);
    ex_out(ex_add(f, q, qn), 0, a, rtu_regs(a, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, 100, 0, NULL);
    for (int k = 0; k < 6; k++) {
        struct result r = rd(l, MB_HOLDING, 0, 10);
        CHECK(r.st != MB_OK);
        CHECK(mb_link_is_open(l) == (k < 5));
        CHECK((strstr(r.err, "3 requests in a row unanswered: reconnecting") != NULL) == (k == 5));
    }
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).connects == 2 && stats(l).disconnects == 1);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 2);
    fake_free(f);
}

static void test_rtu_peer_closes(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 10);
    ex_add(f, q, qn)->close_after = 1;
    ex_out(ex_add(f, q, qn), 0, a, rtu_regs(a, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, 1000, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(r.ms < 500);
    CHECK(!mb_link_is_open(l));
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).connects == 2 && stats(l).disconnects == 1);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 2);
    fake_free(f);
}

static void test_rtu_frame_gap(void)
{
    struct fake *f = fake_new();
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 2), an = rtu_regs(a, 1, 3, VB, 2);
    for (int k = 0; k < 3; k++)
        ex_out(ex_add(f, q, qn), 0, a, an);
    fake_start(f);
    struct mb_link *l = link_new(MB_RTU_TCP, f->port, TMO, 80000, NULL);
    for (int k = 0; k < 3; k++) {
        struct result r = rd(l, MB_HOLDING, 0, 2);
        CHECK(regs_are(&r, VB, 2));
    }
    mb_link_free(l);
    fake_end(f);
    for (int k = 1; k < 3; k++) {
        int64_t gap_ms = (f->t_req[k] - f->t_req[k - 1]) / 1000;
        if (gap_ms < 75)
            printf("  requests %d and %d came %lld ms apart\n", k, k + 1, (long long)gap_ms);
        CHECK(gap_ms >= 75);
    }
    fake_free(f);
}

/* ---- Modbus TCP ---- */

static void test_mbap_late_tid(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], a[FRAME], late[FRAME];
    size_t qn = mbap_req(q, 1, 1, 3, 0, 10);
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, late, mbap_regs(late, 0xFFFF, 1, 3, VB, 10));   /* an old transaction */
    ex_out(e, 5, a, mbap_regs(a, 1, 1, 3, VA, 10));
    /* both in one write, the late one first */
    qn = mbap_req(q, 2, 1, 3, 0, 10);
    size_t n = mbap_regs(a, 1, 1, 3, VB, 10);
    n += mbap_regs(a + n, 2, 1, 3, VA, 10);
    ex_out(ex_add(f, q, qn), 0, a, n);
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).foreign == 1);
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).foreign == 2);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

static void test_mbap_other_unit(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], a[FRAME];
    size_t qn = mbap_req(q, 1, 1, 3, 0, 10);
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, a, mbap_regs(a, 1, 7, 3, VB, 10));     /* our transaction, unit 7 */
    ex_out(e, 5, a, mbap_regs(a, 1, 1, 3, VA, 10));
    qn = mbap_req(q, 2, 1, 3, 0, 10);
    ex_out(ex_add(f, q, qn), 0, a, mbap_regs(a, 2, 7, 3, VB, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, 150, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).foreign == 1);
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(r.regs[0] != VB[0]);
    CHECK(stats(l).foreign == 2);
    mb_link_free(l);
    fake_end(f);
    fake_free(f);
}

static void test_mbap_silence_keeps(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], a[FRAME];
    ex_add(f, q, mbap_req(q, 1, 1, 3, 0, 10));
    ex_out(ex_add(f, q, mbap_req(q, 2, 1, 3, 0, 10)), 0, a, mbap_regs(a, 2, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, 150, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(r.ms >= 145 && r.ms < 600);
    CHECK(mb_link_is_open(l));
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).timeouts == 1 && stats(l).connects == 1);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

static void test_mbap_silent_three_reopen(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], a[FRAME];
    for (int tid = 1; tid <= 3; tid++)
        ex_add(f, q, mbap_req(q, tid, 1, 3, 0, 10));
    ex_out(ex_add(f, q, mbap_req(q, 4, 1, 3, 0, 10)), 0, a, mbap_regs(a, 4, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, 100, 0, NULL);
    for (int k = 0; k < 3; k++) {
        struct result r = rd(l, MB_HOLDING, 0, 10);
        CHECK(r.st == MB_ERR_COMM);
        CHECK(mb_link_is_open(l) == (k < 2));
        /* the log says why the connection goes */
        CHECK((strstr(r.err, "3 requests in a row unanswered: reconnecting") != NULL) == (k == 2));
    }
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).connects == 2);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 2);
    fake_free(f);
}

/* A unit that always answers after the timeout: each request gets the late
 * reply of the one before. The connection is alive; it is not reopened. */
static void test_mbap_late_replies_keep(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], a[FRAME];
    ex_add(f, q, mbap_req(q, 1, 1, 3, 0, 10));
    for (int tid = 2; tid <= 4; tid++)
        ex_out(ex_add(f, q, mbap_req(q, tid, 1, 3, 0, 10)), 0, a,
               mbap_regs(a, tid - 1, 1, 3, VB, 10));
    struct exchange *e = ex_add(f, q, mbap_req(q, 5, 1, 3, 0, 10));
    ex_out(e, 0, a, mbap_regs(a, 5, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, 100, 0, NULL);
    for (int k = 0; k < 4; k++) {
        struct result r = rd(l, MB_HOLDING, 0, 10);
        CHECK(r.st == MB_ERR_COMM);
        CHECK(r.regs[0] != VB[0]);
        CHECK(mb_link_is_open(l));
        /* a timeout that discarded a late reply says so: the device answers */
        CHECK((strstr(r.err, "(1 reply for another transaction or unit discarded)") != NULL) == (k > 0));
    }
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).foreign == 3 && stats(l).timeouts == 4);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

/* A plausible header, then a byte at a time, slower than the timeout allows for
 * the frame: the wait for the reply is bounded as a whole, not renewed by each
 * byte (a peer dripping noise would hold the bus for ever), the error says what
 * came, and what the connection held is counted drained when it goes. */
static void test_mbap_drip_bounded(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], head[7];
    const uint8_t one[1] = { 0x5A };
    struct exchange *e = ex_add(f, q, mbap_req(q, 1, 1, 3, 0, 10));
    mbap_head(head, 1, 254, 1);
    ex_out(e, 0, head, sizeof head);
    for (int k = 0; k < 5; k++)
        ex_out(e, 80, one, 1);
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, 100, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(r.ms < 300);      /* 100 ms; renewed by each byte it would be 500 at least */
    CHECK(strstr(r.err, "(an incomplete frame: ") && strstr(r.err, " of its 260 bytes came)"));
    CHECK(stats(l).timeouts == 1 && stats(l).drained_bytes == 0);
    mb_link_close(l);
    CHECK(stats(l).drained_bytes >= 7);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

static void test_mbap_bad_header(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], a[FRAME];
    const uint8_t junk[] = { 0x00, 0x01, 0x12, 0x34, 0x00, 0x05, 0x01, 0x03, 0x02, 0x00, 0x01 };
    ex_out(ex_add(f, q, mbap_req(q, 1, 1, 3, 0, 10)), 0, junk, sizeof junk);
    ex_out(ex_add(f, q, mbap_req(q, 2, 1, 3, 0, 10)), 0, a, mbap_regs(a, 2, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_REPLY);
    CHECK(!mb_link_is_open(l));
    CHECK(stats(l).bad_replies == 1);
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 2);
    fake_free(f);
}

static void test_mbap_peer_closes(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], a[FRAME];
    ex_add(f, q, mbap_req(q, 1, 1, 3, 0, 10))->close_after = 1;
    ex_out(ex_add(f, q, mbap_req(q, 2, 1, 3, 0, 10)), 0, a, mbap_regs(a, 2, 1, 3, VA, 10));
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, 1000, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(r.ms < 500);
    CHECK(strstr(r.err, "closed by the peer") != NULL);
    CHECK(!mb_link_is_open(l));
    r = rd(l, MB_HOLDING, 0, 10);
    CHECK(regs_are(&r, VA, 10));
    CHECK(stats(l).connects == 2 && stats(l).disconnects == 1);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 2);
    fake_free(f);
}

static void test_mbap_gateway_exceptions(void)
{
    struct fake *f = fake_new();
    uint8_t q[12], a[FRAME];
    ex_out(ex_add(f, q, mbap_req(q, 1, 1, 3, 0, 10)), 0, a, mbap_exc(a, 1, 1, 3, 0x0A));
    ex_out(ex_add(f, q, mbap_req(q, 2, 1, 4, 5, 1)), 0, a, mbap_exc(a, 2, 1, 4, 0x0B));
    ex_out(ex_add(f, q, mbap_req(q, 3, 1, 3, 0, 2)), 0, a, mbap_regs(a, 3, 1, 3, VB, 2));
    fake_start(f);
    struct mb_link *l = link_new(MB_TCP, f->port, TMO, 0, NULL);
    struct result r = rd(l, MB_HOLDING, 0, 10);
    CHECK(r.st == MB_ERR_EXCEPTION && r.exc == 10);
    CHECK(strstr(r.err, "gateway path unavailable") != NULL);
    r = rd(l, MB_INPUT, 5, 1);
    CHECK(r.st == MB_ERR_EXCEPTION && r.exc == 11);
    r = rd(l, MB_HOLDING, 0, 2);
    CHECK(regs_are(&r, VB, 2));
    CHECK(mb_link_is_open(l));
    mb_link_free(l);
    fake_end(f);
    CHECK(f->accepts == 1);
    fake_free(f);
}

/* ---- DTUs dialling in ---- */

struct evrec {
    int ev;
    char peer[64], what[64];
};

static void on_event(void *arg, enum dtu_event ev, const char *peer, const char *what)
{
    struct evrec r = { .ev = (int)ev };
    snprintf(r.peer, sizeof r.peer, "%s", peer);
    snprintf(r.what, sizeof r.what, "%s", what);
    ssize_t w = write(*(int *)arg, &r, sizeof r);
    (void)w;
}

/* The next event told, or ev -1 if none within ms. */
static struct evrec next_event(int fd, int ms)
{
    struct evrec r = { .ev = -1 };
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, ms) == 1 && read(fd, &r, sizeof r) != (ssize_t)sizeof r)
        r.ev = -1;
    return r;
}

/* Wait until the listener's stats satisfy what (up to ms). */
#define WAIT_STATS(dl, st, cond, ms) do { \
        int64_t until_ = mono_us() + (int64_t)(ms) * 1000; \
        for (;;) { \
            dtu_listen_get_stats((dl), &(st)); \
            if ((cond) || mono_us() > until_) \
                break; \
            sleep_us(2000); \
        } \
    } while (0)

static void local_name(int fd, char *buf, size_t len)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    snprintf(buf, len, "127.0.0.1:%d", ntohs(a.sin_port));
}

static void test_dtu_registration(void)
{
    int ev[2];
    CHECK(pipe(ev) == 0);
    struct dtu_listen_params p = { .host = "127.0.0.1", .port = 0, .register_timeout_ms = 200,
                                   .pending_max = 4, .on_event = on_event, .event_arg = &ev[1] };
    char err[200] = "";
    struct dtu_listener *dl = dtu_listen_open(&p, err, sizeof err);
    CHECK(dl != NULL);
    if (!dl) {
        printf("  %s\n", err);
        return;
    }
    struct dtu_slot *s1 = dtu_listen_expect(dl, (const uint8_t *)"GZ1", 3, NULL, 0);
    struct dtu_slot *s10 = dtu_listen_expect(dl, (const uint8_t *)"GZ10", 4, NULL, 0);
    CHECK(s1 && s10 && s1 != s10);
    CHECK(dtu_listen_expect(dl, (const uint8_t *)"GZ1", 3, NULL, 0) == s1);
    int port = dtu_listen_port(dl);
    CHECK(port > 0);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    CHECK_STR(dtu_listen_address(dl), want);
    CHECK(dtu_listen_start(dl, err, sizeof err) == 0);
    struct dtu_listen_stats st;
    char peer[64], name[64];

    /* GZ10 whole: its slot, not GZ1's (a prefix of it). */
    int a = dtu_dial(port, "GZ10");
    WAIT_STATS(dl, st, st.registered >= 1, 2000);
    CHECK(st.registered == 1);
    CHECK(dtu_slot_take(s1, peer, sizeof peer) == -1);
    int fa = dtu_slot_take(s10, peer, sizeof peer);
    CHECK(fa >= 0);
    local_name(a, name, sizeof name);
    CHECK_STR(peer, name);
    CHECK(dtu_slot_take(s10, peer, sizeof peer) == -1);
    struct evrec e = next_event(ev[0], 1000);
    CHECK(e.ev == DTU_REGISTERED);
    CHECK_STR(e.what, "GZ10");
    if (fa >= 0) {      /* the very connection */
        char b[8] = "";
        CHECK(send(a, "ping", 4, MSG_NOSIGNAL) == 4);
        struct pollfd pf = { fa, POLLIN, 0 };
        CHECK(poll(&pf, 1, 1000) == 1 && recv(fa, b, sizeof b, 0) == 4 && memcmp(b, "ping", 4) == 0);
        close(fa);
    }
    close(a);

    /* GZ1 alone, a little after connecting: GZ1's once nothing more came. */
    int b = dial(port);
    sleep_us(60000);
    int64_t t0 = mono_us();
    CHECK(send(b, "GZ1", 3, MSG_NOSIGNAL) == 3);
    WAIT_STATS(dl, st, st.registered >= 2 || st.refused_timeout > 0, 2000);
    int64_t waited_ms = (mono_us() - t0) / 1000;
    CHECK(st.registered == 2);
    CHECK(st.refused_timeout == 0);
    CHECK(waited_ms >= 150);
    CHECK(dtu_slot_take(s10, peer, sizeof peer) == -1);
    int fb = dtu_slot_take(s1, peer, sizeof peer);
    CHECK(fb >= 0);
    e = next_event(ev[0], 1000);
    CHECK(e.ev == DTU_REGISTERED);
    CHECK_STR(e.what, "GZ1");
    if (fb >= 0)
        close(fb);
    close(b);

    /* An id nobody expects: refused, told with the peer. */
    int c = dtu_dial(port, "XX");
    local_name(c, name, sizeof name);
    WAIT_STATS(dl, st, st.refused_unknown >= 1, 2000);
    CHECK(st.refused_unknown == 1);
    e = next_event(ev[0], 1000);
    CHECK(e.ev == DTU_UNKNOWN);
    CHECK_STR(e.peer, name);
    CHECK_STR(e.what, "XX");
    CHECK(sees_eof(c, 1000));
    close(c);

    /* Nothing said: refused after register_timeout_ms. */
    int d = dial(port);
    local_name(d, name, sizeof name);
    t0 = mono_us();
    WAIT_STATS(dl, st, st.refused_timeout >= 1, 2000);
    waited_ms = (mono_us() - t0) / 1000;
    CHECK(st.refused_timeout == 1);
    CHECK(waited_ms >= 150 && waited_ms < 1000);
    e = next_event(ev[0], 1000);
    CHECK(e.ev == DTU_NO_REGISTRATION);
    CHECK_STR(e.peer, name);
    CHECK(sees_eof(d, 1000));
    close(d);

    dtu_listen_get_stats(dl, &st);
    CHECK(st.accepted == 4 && st.registered == 2 && st.replaced == 0 && st.refused_full == 0);
    CHECK(next_event(ev[0], 0).ev == -1);
    dtu_listen_free(dl);
    close(ev[0]);
    close(ev[1]);
}

static void test_dtu_full(void)
{
    int ev[2];
    CHECK(pipe(ev) == 0);
    struct dtu_listen_params p = { .host = "127.0.0.1", .port = 0, .register_timeout_ms = 3000,
                                   .pending_max = 2, .on_event = on_event, .event_arg = &ev[1] };
    char err[200] = "";
    struct dtu_listener *dl = dtu_listen_open(&p, err, sizeof err);
    CHECK(dl != NULL);
    if (!dl)
        return;
    dtu_listen_expect(dl, (const uint8_t *)"GZ1", 3, NULL, 0);
    CHECK(dtu_listen_start(dl, err, sizeof err) == 0);
    int port = dtu_listen_port(dl);
    int c[3];
    struct dtu_listen_stats st;
    for (int k = 0; k < 3; k++) {
        c[k] = dial(port);
        WAIT_STATS(dl, st, st.accepted >= (uint64_t)k + 1, 2000);
    }
    WAIT_STATS(dl, st, st.refused_full >= 1, 2000);
    CHECK(st.accepted == 3 && st.refused_full == 1 && st.refused_timeout == 0);
    struct evrec e = next_event(ev[0], 1000);
    CHECK(e.ev == DTU_FULL);
    CHECK(sees_eof(c[2], 1000));
    CHECK(!sees_eof(c[0], 50));
    WAIT_STATS(dl, st, st.pending == 2, 1000);
    CHECK(st.pending == 2 && st.pending_max == 2);
    for (int k = 0; k < 3; k++)
        close(c[k]);
    dtu_listen_free(dl);
    close(ev[0]);
    close(ev[1]);
}

static void test_dtu_link(void)
{
    struct dtu_listen_params p = { .host = "127.0.0.1", .port = 0, .register_timeout_ms = 1000,
                                   .pending_max = 4 };
    char err[200] = "";
    struct dtu_listener *dl = dtu_listen_open(&p, err, sizeof err);
    CHECK(dl != NULL);
    if (!dl)
        return;
    struct dtu_slot *slot = dtu_listen_expect(dl, (const uint8_t *)"GZ10", 4,
                                              (const uint8_t *)"HB!", 3);
    CHECK(dtu_listen_start(dl, err, sizeof err) == 0);
    struct mb_link *l = link_new(MB_RTU_TCP, 0, 500, 0, slot);

    /* No DTU yet. */
    struct result r = rd(l, MB_HOLDING, 0, 2);
    CHECK(r.st == MB_ERR_COMM);
    CHECK(strstr(r.err, "GZ10") != NULL);
    CHECK(!mb_link_is_open(l));

    /* The test plays the DTU: heartbeats before and inside a reply; after a
     * re-dial, its registration again before the reply. */
    struct fake *f = calloc(1, sizeof *f);
    f->lfd = -1;
    f->fd = -1;
    f->dtu_port = dtu_listen_port(dl);
    f->redial_at = 2;
    uint8_t q[8], a[FRAME];
    size_t qn = rtu_req(q, 1, 3, 0, 2), an = rtu_regs(a, 1, 3, VA, 2);
    struct exchange *e = ex_add(f, q, qn);
    ex_out(e, 0, (const uint8_t *)"HB!", 3);
    ex_out(e, 5, a, 4);
    ex_out(e, 5, (const uint8_t *)"HB!", 3);
    ex_out(e, 5, a + 4, an - 4);
    e = ex_add(f, q, qn);
    uint8_t b[FRAME];
    memcpy(b, "GZ10", 4);
    ex_out(e, 0, b, 4 + rtu_regs(b + 4, 1, 3, VB, 2));
    fake_start(f);

    struct dtu_listen_stats st;
    WAIT_STATS(dl, st, st.registered >= 1, 2000);
    r = rd(l, MB_HOLDING, 0, 2);
    CHECK(regs_are(&r, VA, 2));
    CHECK(stats(l).heartbeats == 2);
    char desc[160];
    mb_link_describe(l, desc, sizeof desc);
    CHECK(strstr(desc, "rtu-tcp dtu GZ10 (listen 127.0.0.1:") != NULL && strstr(desc, ", from 127.0.0.1:") != NULL);

    /* The DTU dials again: the next request goes to the new connection. */
    WAIT_STATS(dl, st, st.registered >= 2, 2000);
    CHECK(st.replaced == 1);
    r = rd(l, MB_HOLDING, 0, 2);
    CHECK(regs_are(&r, VB, 2));
    CHECK(stats(l).heartbeats == 3);
    CHECK(stats(l).connects == 2);
    mb_link_free(l);
    fake_end(f);
    CHECK(f->old_closed);
    free(f);
    dtu_listen_free(dl);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* a hung case shows where, even piped */
    RUN(test_frame);
    /* Every other case needs a second thread: the fake peer, and the DTU
     * listener's own (with its mutexes, which qemu-user spins on for ever when
     * contended). Under this machine's qemu-user (7.2, dynamically linked
     * binaries) even pthread_create and fork hang, so under emulation only the
     * frame test runs; the native runs (make unit, the sanitizer build) are
     * the link tests. */
    const char *emulated = getenv("GANZHI_EMULATED");
    if (emulated && *emulated) {
        printf("note: the link and DTU tests (a peer thread) are not run under emulation\n");
        return UNIT_END();
    }
    RUN(test_rtu_plain);
    RUN(test_rtu_split);
    RUN(test_rtu_echo);
    RUN(test_rtu_noise);
    RUN(test_rtu_foreign_then_ours);
    RUN(test_rtu_foreign_only);
    RUN(test_rtu_bad_crc_then_late);
    RUN(test_rtu_exception);
    RUN(test_rtu_silence);
    RUN(test_rtu_silent_three_reopen);
    RUN(test_rtu_peer_closes);
    RUN(test_rtu_frame_gap);
    RUN(test_mbap_late_tid);
    RUN(test_mbap_other_unit);
    RUN(test_mbap_silence_keeps);
    RUN(test_mbap_silent_three_reopen);
    RUN(test_mbap_late_replies_keep);
    RUN(test_mbap_drip_bounded);
    RUN(test_mbap_bad_header);
    RUN(test_mbap_peer_closes);
    RUN(test_mbap_gateway_exceptions);
    RUN(test_feed);
    RUN(test_dtu_registration);
    RUN(test_dtu_full);
    RUN(test_dtu_link);
    return UNIT_END();
}
