/*
 * notify: sd_notify(3) without libsystemd. systemd passes the path of a datagram
 * socket in $NOTIFY_SOCKET (a leading '@' names a Linux abstract socket); each
 * message is one datagram of newline-separated VAR=value assignments. The agent
 * sends READY=1 once its runtime is up, RELOADING=1/READY=1 around a SIGHUP
 * reload, STOPPING=1 on the way out and WATCHDOG=1 from its main loop, so a main
 * loop that hangs (a stuck runtime_stop, a deadlocked reload) is killed and
 * restarted by the manager instead of sitting there looking alive.
 */
#include "agent/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 1;
    /* Only absolute paths and abstract names; anything else is not from systemd. */
    if (path[0] != '/' && path[0] != '@') {
        errno = EINVAL;
        return -1;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = 0;   /* abstract: no terminating NUL counted */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                  (path[0] == '/' ? 1 : 0));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    return 0;
}

int notify_sendf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    return notify_send(buf);
}

int64_t notify_watchdog_ms(void)
{
    const char *us = getenv("WATCHDOG_USEC");
    if (!us || !*us)
        return 0;
    const char *pid = getenv("WATCHDOG_PID");
    if (pid && *pid) {
        char *end;
        errno = 0;
        long p = strtol(pid, &end, 10);
        if (errno || *end || p != (long)getpid())
            return 0;   /* meant for another process (e.g. our parent's wrapper) */
    }
    char *end;
    errno = 0;
    long long v = strtoll(us, &end, 10);
    if (errno || *end || v <= 0)
        return 0;
    int64_t ms = (int64_t)(v / 1000);
    return ms > 0 ? ms : 1;
}
