/* sim_rtu: a Modbus RTU slave (or several unit ids behind one transceiver) on a serial line.
 *
 * Framing is the line's, as a real slave does it: a request ends after 3.5 character
 * times of silence (1.75 ms above 19200 baud, as the specification fixes), or earlier
 * when the bytes so far form a frame whose length the function code gives and whose CRC
 * is good, so a client on a pty (where bytes arrive in bursts, whatever the baud) is not
 * slowed by our timer. A frame with a bad CRC, too short or too long, or for a unit id
 * not served, is ignored: no reply, as on a real bus where an answer to a frame nobody
 * can trust would collide with the right slave's.
 *
 * Replies (and noise) wait in a queue with the time they are due and each goes out in one
 * write(): a `slow` unit answers late, even after the master gave up and moved on, which
 * is exactly the stale reply a master must not take for its next request's.
 */
#include "tools/sim_rtu.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define RTU_MAX  SIM_RTU_MAX    /* the largest RTU ADU */
#define MAX_TX   64             /* transmissions waiting at once; more are lost */

struct tx {
    double due;
    size_t len;
    uint8_t buf[SIM_ADU_MAX];
};

struct sim_rtu {
    struct sim_rtu_options opt;
    int fd;
    double char_s;              /* one character on the wire */
    double gap_s;               /* t3.5: the silence that ends a frame */
    struct sim_rtu_rx rx;
    struct tx tx[MAX_TX];
    unsigned ntx;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const struct { long baud; speed_t speed; } speeds[] = {
    { 1200, B1200 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 },
    { 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
    { 230400, B230400 },
};

static int speed_of(long baud, speed_t *out)
{
    for (size_t i = 0; i < sizeof speeds / sizeof speeds[0]; i++)
        if (speeds[i].baud == baud) {
            *out = speeds[i].speed;
            return 0;
        }
    return -1;
}

int sim_rtu_baud_ok(long baud)
{
    speed_t sp;
    return speed_of(baud, &sp) == 0;
}

static int set_raw(int fd, const struct sim_rtu_options *o)
{
    struct termios tio;
    speed_t sp;
    if (speed_of(o->baud, &sp) < 0 || (o->data_bits != 7 && o->data_bits != 8) ||
        (o->stop_bits != 1 && o->stop_bits != 2) ||
        (o->parity != 'N' && o->parity != 'E' && o->parity != 'O')) {
        errno = EINVAL;
        return -1;
    }
    if (tcgetattr(fd, &tio) < 0)
        return -1;
    cfmakeraw(&tio);
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    tio.c_cflag |= CLOCAL | CREAD | (o->data_bits == 7 ? CS7 : CS8);
    if (o->stop_bits == 2)
        tio.c_cflag |= CSTOPB;
    if (o->parity != 'N') {
        tio.c_cflag |= PARENB;
        if (o->parity == 'O')
            tio.c_cflag |= PARODD;
        /* A byte with a parity error spoils its frame's CRC; checking it is enough. */
        tio.c_iflag |= INPCK;
    }
    tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (cfsetispeed(&tio, sp) < 0 || cfsetospeed(&tio, sp) < 0)
        return -1;
    if (tcsetattr(fd, TCSANOW, &tio) < 0)
        return -1;
    /* Whatever was on the line before we listened belongs to no frame of ours. */
    tcflush(fd, TCIOFLUSH);
    return 0;
}

int sim_rtu_open(const struct sim_rtu_options *opt, struct sim_rtu **out)
{
    *out = NULL;
    if (opt->tick_ms == 0) {
        errno = EINVAL;
        return -1;
    }
    struct sim_rtu *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->opt = *opt;
    s->fd = open(opt->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (s->fd < 0 || s->fd >= FD_SETSIZE || set_raw(s->fd, opt) < 0) {
        if (s->fd >= FD_SETSIZE)
            errno = EMFILE;
        sim_rtu_close(s);
        return -1;
    }
    sim_rtu_timing(opt->baud, opt->parity, opt->data_bits, opt->stop_bits, &s->char_s,
                   &s->gap_s);
    *out = s;
    return 0;
}

void sim_rtu_timing(long baud, char parity, int data_bits, int stop_bits, double *char_s,
                    double *gap_s)
{
    int bits = 1 + data_bits + (parity != 'N') + stop_bits;
    *char_s = bits / (double)baud;
    *gap_s = baud > 19200 ? 0.00175 : 3.5 * *char_s;
}

void sim_rtu_close(struct sim_rtu *s)
{
    if (!s)
        return;
    int saved = errno;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
    errno = saved;
}

/* Queue bytes to go out at `due` (or as soon as the line is free after it). */
static void queue_tx(struct sim_rtu *s, struct sim_reply *rep, double due,
                     const uint8_t *buf, size_t len)
{
    if (s->ntx == MAX_TX) {
        sim_reply_stats(rep)->bus.tx_lost++;
        return;
    }
    struct tx *t = &s->tx[s->ntx++];
    t->due = due;
    t->len = len;
    memcpy(t->buf, buf, len);
}

/* Cut every whole frame whose length the function code gives and whose CRC is good;
 * what remains waits for the silence. */
static int cut_known(struct sim_rtu_rx *rx, double t, sim_rtu_frame_fn *fn, void *arg)
{
    size_t off = 0;
    while (!rx->overrun && rx->len - off >= 2) {
        const uint8_t *f = rx->buf + off;
        size_t pdu = sim_pdu_length(f + 1, rx->len - off - 1);
        if (pdu == 0 || pdu == SIZE_MAX || 3 + pdu > RTU_MAX)
            break;
        size_t total = 3 + pdu;
        if (rx->len - off < total ||
            sim_crc16(f, total - 2) != (uint16_t)(f[total - 2] | f[total - 1] << 8))
            break;
        if (fn(arg, f, total, SIM_FRAME_GOOD, t) < 0)
            return -1;
        off += total;
    }
    memmove(rx->buf, rx->buf + off, rx->len - off);
    rx->len -= off;
    return 0;
}

int sim_rtu_rx_feed(struct sim_rtu_rx *rx, const uint8_t *p, size_t n, double t,
                    sim_rtu_frame_fn *fn, void *arg)
{
    if (n == 0)
        return 0;
    rx->last = t;
    for (size_t i = 0; i < n; i++) {
        if (rx->len == RTU_MAX) {
            rx->overrun = 1;    /* longer than any frame: noise; ends with the silence */
            continue;
        }
        rx->buf[rx->len++] = p[i];
    }
    return cut_known(rx, t, fn, arg);
}

double sim_rtu_rx_due(const struct sim_rtu_rx *rx, double gap_s, double until)
{
    if ((rx->len || rx->overrun) && rx->last + gap_s < until)
        return rx->last + gap_s;
    return until;
}

int sim_rtu_rx_silence(struct sim_rtu_rx *rx, double now, double gap_s,
                       sim_rtu_frame_fn *fn, void *arg)
{
    if (!(rx->len || rx->overrun) || now - rx->last < gap_s)
        return 0;
    /* The silence ends the frame: whatever is buffered is one frame, good or not. */
    enum sim_rtu_cut cut = SIM_FRAME_BAD;
    if (rx->overrun)
        cut = SIM_FRAME_OVERRUN;
    else if (rx->len >= 4 && sim_crc16(rx->buf, rx->len - 2) ==
             (uint16_t)(rx->buf[rx->len - 2] | rx->buf[rx->len - 1] << 8))
        cut = SIM_FRAME_GOOD;
    size_t len = rx->len;
    rx->len = 0;
    rx->overrun = 0;
    return fn(arg, rx->buf, len, cut, rx->last);
}

/* What a frame callback on the serial line needs. */
struct line_ctx {
    struct sim_rtu *s;
    struct sim_reply *rep;
};

/* One received frame, whole and checked or not. */
static int frame(void *arg, const uint8_t *buf, size_t len, enum sim_rtu_cut cut, double end)
{
    struct line_ctx *lc = arg;
    struct sim_rtu *s = lc->s;
    struct sim_reply *rep = lc->rep;
    struct sim_stats *st = sim_reply_stats(rep);
    st->bus.frames++;
    if (cut == SIM_FRAME_OVERRUN) {
        st->bus.bad_frames++;
        return 0;
    }
    struct sim_answer a;
    a.len = 0;
    a.delay_s = 0;
    if (cut != SIM_FRAME_GOOD)
        st->bus.bad_frames++;
    else if (sim_reply_answer(rep, buf, len, &a) < 0)
        return -1;

    /* Noise comes after a silence that ends the request, and the answer waits for the
     * noise to leave the wire and for another silence, so each is a frame of its own. */
    double at = end;
    uint8_t noise[16];
    size_t n = sim_reply_noise(rep, noise, sizeof noise);
    if (n) {
        queue_tx(s, rep, end + s->gap_s, noise, n);
        at = end + s->gap_s + n * s->char_s + s->gap_s;
    }
    if (a.len)
        queue_tx(s, rep, at + a.delay_s, a.adu, a.len);
    return 0;
}

/* Read what the line has. Returns 0, 1 when the other end of a pty is gone (EIO: wait
 * for the next tick before looking again, else select() would spin), -1 on error. */
static int receive(struct sim_rtu *s, struct line_ctx *lc)
{
    uint8_t buf[512];
    ssize_t n = read(s->fd, buf, sizeof buf);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return errno == EIO ? 1 : -1;
    }
    if (n == 0)
        return 1;
    return sim_rtu_rx_feed(&s->rx, buf, (size_t)n, now_s(), frame, lc);
}

/* Send what is due, earliest first, each in one write. Returns the time the next
 * transmission is due, or `until` if none is sooner. */
static double transmit(struct sim_rtu *s, struct sim_reply *rep, double until)
{
    for (;;) {
        double t = now_s();
        unsigned first = s->ntx;
        for (unsigned i = 0; i < s->ntx; i++)
            if (first == s->ntx || s->tx[i].due < s->tx[first].due)
                first = i;
        if (first == s->ntx)
            return until;
        if (s->tx[first].due > t)
            return s->tx[first].due < until ? s->tx[first].due : until;
        struct tx *x = &s->tx[first];
        ssize_t n = write(s->fd, x->buf, x->len);
        if (n != (ssize_t)x->len)
            sim_reply_stats(rep)->bus.tx_lost++;
        s->tx[first] = s->tx[--s->ntx];
    }
}

int sim_rtu_run(struct sim_rtu *s, struct sim_reply *rep, sim_tick_fn *tick, void *arg,
                volatile sig_atomic_t *stop)
{
    const double period = s->opt.tick_ms / 1000.0;
    double last = now_s(), next = last + period;
    int hung = 0;
    struct line_ctx lc = { s, rep };

    while (!*stop) {
        double t = now_s();
        if (t >= next) {
            tick(arg, t - last);
            last = t;
            next += period;
            if (next <= t)
                next = t + period;
            hung = 0;
        }
        if (sim_rtu_rx_silence(&s->rx, t, s->gap_s, frame, &lc) < 0)
            return -1;
        double until = sim_rtu_rx_due(&s->rx, s->gap_s, transmit(s, rep, next));

        fd_set rd;
        FD_ZERO(&rd);
        if (!hung)
            FD_SET(s->fd, &rd);
        double wait = until - now_s();
        if (wait < 0)
            wait = 0;
        struct timeval tv = { .tv_sec = (time_t)wait,
                              .tv_usec = (suseconds_t)((wait - (double)(time_t)wait) * 1e6) };
        int rc = select(hung ? 0 : s->fd + 1, &rd, NULL, NULL, &tv);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (rc > 0 && FD_ISSET(s->fd, &rd)) {
            rc = receive(s, &lc);
            if (rc < 0)
                return -1;
            hung = rc;
        }
    }
    return 0;
}
