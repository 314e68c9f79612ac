/* tcp_listen: a listening TCP socket as a site engineer names one ("" for
 * every address, an IPv4 address, or an IPv6 one), and peers' addresses as
 * logs show them. Shared by the DTU listener and `ganzhi listen`. */
#ifndef GANZHI_TCP_LISTEN_H
#define GANZHI_TCP_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* Listen, non-blocking, on host:port; host "" or NULL: every address (IPv6
 * with IPv4 mapped in; IPv4 alone on a kernel without IPv6). The fd, or -1
 * with errno kept (EADDRINUSE: the port is held) and the reason in err. */
int tcp_listen_open(const char *host, int port, int backlog, char *err, size_t errlen);

/* "1.2.3.4:5555" or "[::1]:5555"; an IPv4 peer on a dual-stack socket as IPv4. */
void tcp_peer_name(const struct sockaddr_storage *ss, socklen_t sl, char *buf, size_t len);

/* The port fd is bound to (the one chosen, when 0 was asked), or -1. */
int tcp_bound_port(int fd);

#endif
