/* tcp_listen: listening sockets and peer names. */
#include "drivers/tcp_listen.h"
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int tcp_listen_open(const char *host, int port, int backlog, char *err, size_t errlen)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int every = !host || !host[0];
    const char *tries[2] = { every ? "::" : host, every ? "0.0.0.0" : NULL };
    for (int t = 0; t < 2 && tries[t]; t++) {
        const char *h = tries[t];
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
        struct addrinfo *ai = NULL;
        int rc = getaddrinfo(h, portstr, &hints, &ai);
        if (rc != 0) {
            snprintf(err, errlen, "listen %s: %s", h, gai_strerror(rc));
            errno = EINVAL;
            continue;
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1, v6only = !every;
        if (fd >= 0) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (ai->ai_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
        if (fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
            freeaddrinfo(ai);
            return fd;
        }
        int e = errno;
        snprintf(err, errlen, strchr(h, ':') ? "listen [%s]:%d: %s" : "listen %s:%d: %s", h, port,
                 strerror(e));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        errno = e;
        if (fd >= 0 && e != EAFNOSUPPORT && e != EADDRNOTAVAIL)
            return -1;      /* a port in use is no reason to try IPv4 alone */
    }
    return -1;
}

void tcp_peer_name(const struct sockaddr_storage *ss, socklen_t sl, char *buf, size_t len)
{
    char h[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo((const struct sockaddr *)ss, sl, h, sizeof h, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, len, "?");
        return;
    }
    const char *host = strncmp(h, "::ffff:", 7) == 0 && strchr(h + 7, '.') ? h + 7 : h;
    snprintf(buf, len, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}

int tcp_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
