/* fuzz_link.h: a Modbus link driven by bytes. The target listens on loopback;
 * per input a link connects, the peer's whole reply (the fuzz bytes) is written
 * and its side shut, and one read is made: the link's own receive path (MBAP
 * header checks, or RTU over TCP's reply search), with no device behind it. */
#ifndef GANZHI_FUZZ_LINK_H
#define GANZHI_FUZZ_LINK_H

#include "tests/fuzz/fuzz_util.h"
#include "drivers/mb_link.h"
#include "drivers/mb_plan.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int fuzz_listen_fd = -1, fuzz_port;

static inline void fuzz_link_init(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    fuzz_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fuzz_listen_fd < 0 || bind(fuzz_listen_fd, (struct sockaddr *)&a, sizeof a) ||
        listen(fuzz_listen_fd, 8) || getsockname(fuzz_listen_fd, (struct sockaddr *)&a, &al)) {
        perror("fuzz_link: listen");
        abort();
    }
    fuzz_port = ntohs(a.sin_port);
}

/* data[0]: the area (low 2 bits); data[1]: how many registers or bits; the rest
 * is all the peer ever sends. */
static inline void fuzz_link_run(enum mb_transport t, const unsigned char *data, size_t size)
{
    if (size < 2 || size > 4096)
        return;
    struct mb_link_params p = { .transport = t, .host = "127.0.0.1", .port = fuzz_port,
                                .baud = 115200, .parity = 'N', .data_bits = 8, .stop_bits = 1,
                                .frame_gap_us = 0, .echo = MB_ECHO_OFF, .unit_id = 1,
                                .timeout_ms = 5 };
    char err[256];
    struct mb_link *l = mb_link_new(&p, err, sizeof err);
    if (!l)
        abort();
    if (mb_link_connect(l, err, sizeof err) != MB_OK) {
        fprintf(stderr, "fuzz_link: connect: %s\n", err);
        abort();
    }
    int fd = accept(fuzz_listen_fd, NULL, NULL);
    if (fd < 0)
        abort();
    size_t n = size - 2, off = 0;
    while (off < n) {
        ssize_t w = send(fd, data + 2 + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    enum mb_area area = (enum mb_area)(data[0] & 3);
    unsigned max = mb_is_bit_area(area) ? 2000 : 125;
    struct mb_read r = { .area = area, .start = 0, .count = (uint16_t)(data[1] % max + 1) };
    uint16_t regs[125];
    uint8_t bits[2000];
    int exc = 0;
    mb_link_read(l, &r, regs, bits, &exc, err, sizeof err);
    close(fd);
    mb_link_free(l);
}

#endif
