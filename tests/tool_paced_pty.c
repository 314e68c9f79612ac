/* tool_paced_pty: a paced serial link for the tests: two ptys joined like an RS-485 bus, bytes delivered at the real baud rate, every frame logged.
 *
 * A pty pair made by socat delivers a whole write at once whatever the baud, so a master
 * that times out too early, or sends before the line is quiet, passes there and fails on
 * a real line. Here each side gets its own pty (PATH_A for the agent, PATH_B for the
 * simulator); we hold both masters and relay between them, and each byte goes "on the
 * wire" for one character time ((1 start + data + parity + stop bits) / baud) after the
 * previous one in its direction ended, and is delivered when its stop bit would arrive.
 * The two directions share one half-duplex medium: a byte that starts while the other
 * direction is still sending is a collision, counted and marked in the log (the bytes
 * themselves are relayed unchanged: the record is what the tests look at).
 *
 * Log (--log FILE), one line per frame, written when the frame has ended (bytes separated
 * by at most 1.5 character times of silence form one frame; times are the wire's, in µs
 * of CLOCK_MONOTONIC):
 *     DIR START_US END_US NBYTES HEX [collision]
 *     A>B 81234567890 81234576223 8 010300000006c5c8
 * On SIGTERM or SIGINT: one summary line on stdout, the links removed, exit 0.
 *     paced_pty: summary a_to_b_frames=N a_to_b_bytes=N b_to_a_frames=N b_to_a_bytes=N
 *                collisions=N busy_us=N elapsed_us=N        (on one line)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define QCAP      65536     /* bytes in flight per direction; beyond, we stop reading */
#define FRAME_MAX 4096      /* bytes kept for a frame's hex in the log; more are counted */

/* One direction of the bus: what its sender wrote, on its way to the other side. */
struct dir {
    const char *name;
    int from, to;               /* masters: read the sender's bytes, write the receiver's */
    uint8_t q[QCAP];            /* ring of bytes not yet delivered */
    int64_t due[QCAP];          /* when each is delivered: the end of its stop bit */
    size_t head, len;
    int64_t wire_end;           /* when the last byte scheduled leaves the wire */
    /* the frame being sent */
    int open;
    int64_t fstart, fend;
    size_t fbytes;
    uint8_t fbuf[FRAME_MAX];
    int collided;
    unsigned long seq;          /* frames begun */
    unsigned long frames, bytes, dropped;
};

static volatile sig_atomic_t stop_requested;
static FILE *log_fp;
static int64_t char_us, frame_gap_us;   /* one character; the silence that ends a frame */
static int64_t busy_us, busy_until;
static unsigned long collisions;
static unsigned long hit_ab, hit_ba;   /* the pair of frames last counted as a collision */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "tool_paced_pty: %s\n", msg);
    fprintf(stderr, "Usage: tool_paced_pty --a PATH --b PATH --baud N [--parity N|E|O] "
            "[--data-bits 7|8] [--stop-bits 1|2] --log FILE\n");
    return 2;
}

static void raw_mode(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        tcsetattr(fd, TCSANOW, &t);
    }
}

/* A pty in raw mode at both ends, its slave's name linked at `link`. We keep the slave
 * open ourselves so the master never reads EIO while no client has the port open.
 * Returns the master, or -1 after a message. */
static int make_pty(const char *link, int *slave_out)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
        perror("tool_paced_pty: posix_openpt");
        return -1;
    }
    const char *name = ptsname(m);
    int s = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
    if (s < 0) {
        perror("tool_paced_pty: open slave");
        close(m);
        return -1;
    }
    raw_mode(m);
    raw_mode(s);
    struct stat st;
    if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode))
        unlink(link);
    if (symlink(name, link) < 0) {
        fprintf(stderr, "tool_paced_pty: symlink %s -> %s: %s\n", link, name, strerror(errno));
        close(s);
        close(m);
        return -1;
    }
    int fl = fcntl(m, F_GETFL);
    fcntl(m, F_SETFL, fl | O_NONBLOCK);
    *slave_out = s;
    return m;
}

static void close_frame(struct dir *d)
{
    if (!d->open)
        return;
    d->open = 0;
    d->frames++;
    if (!log_fp)
        return;
    fprintf(log_fp, "%s %lld %lld %zu ", d->name, (long long)d->fstart, (long long)d->fend,
            d->fbytes);
    size_t shown = d->fbytes < FRAME_MAX ? d->fbytes : FRAME_MAX;
    for (size_t i = 0; i < shown; i++)
        fprintf(log_fp, "%02x", d->fbuf[i]);
    fprintf(log_fp, "%s\n", d->collided ? " collision" : "");
}

/* Put one byte on the wire after what is already there, at the earliest `t`. */
static void schedule(struct dir *d, struct dir *other, uint8_t b, int64_t t)
{
    int64_t start = t > d->wire_end ? t : d->wire_end;
    int64_t end = start + char_us;

    if (d->open && start - d->fend > frame_gap_us)
        close_frame(d);
    if (!d->open) {
        d->open = 1;
        d->seq++;
        d->fstart = start;
        d->fbytes = 0;
        d->collided = 0;
    }
    if (d->fbytes < FRAME_MAX)
        d->fbuf[d->fbytes] = b;
    d->fbytes++;
    d->fend = end;

    /* The other side's schedule is unbroken from now to its wire_end: overlap there is
     * two transmitters on one pair of wires. Counted once per pair of frames. */
    if (other->wire_end > start && other->open) {
        unsigned long fa = d->name[0] == 'A' ? d->seq : other->seq;
        unsigned long fb = d->name[0] == 'A' ? other->seq : d->seq;
        if (fa != hit_ab || fb != hit_ba) {
            collisions++;
            hit_ab = fa;
            hit_ba = fb;
        }
        d->collided = 1;
        other->collided = 1;
    }
    /* Busy time is the union of both directions' bytes: what overlaps counts once. */
    int64_t from = start > busy_until ? start : busy_until;
    if (end > from)
        busy_us += end - from;
    if (end > busy_until)
        busy_until = end;

    size_t at = (d->head + d->len) % QCAP;
    d->q[at] = b;
    d->due[at] = end;
    d->len++;
    d->bytes++;
    d->wire_end = end;
}

/* Read what the sender wrote and put it on the wire. */
static int take(struct dir *d, struct dir *other)
{
    uint8_t buf[4096];
    size_t room = QCAP - d->len;
    ssize_t n = read(d->from, buf, room < sizeof buf ? room : sizeof buf);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR || errno == EIO ? 0 : -1;
    int64_t t = now_us();
    for (ssize_t i = 0; i < n; i++)
        schedule(d, other, buf[i], t);
    return 0;
}

/* Deliver the bytes whose time has come, in one write. Returns when the next one is due
 * (INT64_MAX: none waiting). */
static int64_t deliver(struct dir *d, int64_t t)
{
    uint8_t out[4096];
    size_t n = 0;
    while (d->len && n < sizeof out && d->due[d->head] <= t) {
        out[n++] = d->q[d->head];
        d->head = (d->head + 1) % QCAP;
        d->len--;
    }
    if (n) {
        ssize_t w = write(d->to, out, n);
        /* A receiver that does not read loses bytes, as a UART overruns. */
        if (w < (ssize_t)n)
            d->dropped += n - (w > 0 ? (size_t)w : 0);
    }
    if (d->open && d->fend + frame_gap_us < t)
        close_frame(d);
    int64_t next = d->len ? d->due[d->head] : INT64_MAX;
    if (d->open && d->fend + frame_gap_us + 1 < next)
        next = d->fend + frame_gap_us + 1;
    return next;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "a", required_argument, NULL, 'a' },
        { "b", required_argument, NULL, 'b' },
        { "baud", required_argument, NULL, 'r' },
        { "parity", required_argument, NULL, 'p' },
        { "data-bits", required_argument, NULL, 'd' },
        { "stop-bits", required_argument, NULL, 's' },
        { "log", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *path_a = NULL, *path_b = NULL, *log_path = NULL;
    long baud = 0, data_bits = 8, stop_bits = 1;
    char parity = 'N';
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': path_a = optarg; break;
        case 'b': path_b = optarg; break;
        case 'l': log_path = optarg; break;
        case 'r':
            if (parse_long(optarg, 50, 4000000, &baud) < 0)
                return usage("--baud: expected 50..4000000");
            break;
        case 'p':
            if (strcmp(optarg, "N") && strcmp(optarg, "E") && strcmp(optarg, "O"))
                return usage("--parity: expected N, E or O");
            parity = optarg[0];
            break;
        case 'd':
            if (parse_long(optarg, 5, 8, &data_bits) < 0)
                return usage("--data-bits: expected 5..8");
            break;
        case 's':
            if (parse_long(optarg, 1, 2, &stop_bits) < 0)
                return usage("--stop-bits: expected 1 or 2");
            break;
        case 'h':
            usage(NULL);
            return 0;
        default:
            return usage(NULL);
        }
    }
    if (optind < argc || !path_a || !path_b || !log_path || baud == 0)
        return usage("--a, --b, --baud and --log are required");

    long bits = 1 + data_bits + (parity != 'N') + stop_bits;
    char_us = (bits * 1000000 + baud / 2) / baud;
    frame_gap_us = (3 * bits * 1000000 + baud) / (2 * baud);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    log_fp = fopen(log_path, "w");
    if (!log_fp) {
        fprintf(stderr, "tool_paced_pty: %s: %s\n", log_path, strerror(errno));
        return 1;
    }
    setvbuf(log_fp, NULL, _IOLBF, 0);

    static struct dir ab = { .name = "A>B" }, ba = { .name = "B>A" };
    int sa_fd, sb_fd;
    int ma = make_pty(path_a, &sa_fd);
    int mb = ma >= 0 ? make_pty(path_b, &sb_fd) : -1;
    if (ma < 0 || mb < 0) {
        if (ma >= 0)
            unlink(path_a);
        return 1;
    }
    if (ma >= FD_SETSIZE || mb >= FD_SETSIZE)
        return 1;
    ab.from = ma;
    ab.to = mb;
    ba.from = mb;
    ba.to = ma;
    printf("ready\n");
    fflush(stdout);

    int64_t started = now_us();
    int rc = 0;
    while (!stop_requested) {
        int64_t t = now_us();
        int64_t next = deliver(&ab, t);
        int64_t n2 = deliver(&ba, t);
        if (n2 < next)
            next = n2;
        fd_set rd;
        FD_ZERO(&rd);
        if (ab.len < QCAP)
            FD_SET(ma, &rd);
        if (ba.len < QCAP)
            FD_SET(mb, &rd);
        int64_t wait = next == INT64_MAX ? 100000 : next - now_us();
        if (wait < 0)
            wait = 0;
        if (wait > 100000)
            wait = 100000;
        struct timeval tv = { .tv_sec = 0, .tv_usec = (suseconds_t)wait };
        int n = select((ma > mb ? ma : mb) + 1, &rd, NULL, NULL, &tv);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("tool_paced_pty: select");
            rc = 1;
            break;
        }
        if (n > 0 && FD_ISSET(ma, &rd) && take(&ab, &ba) < 0) {
            perror("tool_paced_pty: read A");
            rc = 1;
            break;
        }
        if (n > 0 && FD_ISSET(mb, &rd) && take(&ba, &ab) < 0) {
            perror("tool_paced_pty: read B");
            rc = 1;
            break;
        }
    }
    close_frame(&ab);
    close_frame(&ba);
    fclose(log_fp);
    unlink(path_a);
    unlink(path_b);
    printf("paced_pty: summary a_to_b_frames=%lu a_to_b_bytes=%lu b_to_a_frames=%lu "
           "b_to_a_bytes=%lu collisions=%lu busy_us=%lld elapsed_us=%lld dropped=%lu\n",
           ab.frames, ab.bytes, ba.frames, ba.bytes, collisions, (long long)busy_us,
           (long long)(now_us() - started), ab.dropped + ba.dropped);
    fflush(stdout);
    close(sa_fd);
    close(sb_fd);
    close(ma);
    close(mb);
    return rc;
}
