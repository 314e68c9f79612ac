/* outbox: messages as files in a folder, atomically. */
#include "agent/outbox.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int outbox_write(const char *dir, const struct profile *p, const struct wire_site *site,
                 enum message_kind kind, int64_t now_ms, const char *body, size_t len)
{
    char name[256], path[4096], tmp[4200];
    if (!p || profile_file_name(p, kind, site, now_ms, name, sizeof name) != 0)
        snprintf(name, sizeof name, "%s_%s_%lld.json", site->enterprise,
                 message_kind_name(kind), (long long)now_ms);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* Standard names have one-second resolution: never overwrite a file not yet
     * collected; a second file of the same second gets a suffix. */
    for (int i = 1; access(path, F_OK) == 0 && i < 1000; i++) {
        const char *dot = strrchr(name, '.');
        int stem = dot ? (int)(dot - name) : (int)strlen(name);
        snprintf(path, sizeof path, "%s/%.*s_%d%s", dir, stem, name, i, dot ? dot : "");
    }
    const char *base = strrchr(path, '/') + 1;
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, base);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int ok = write(fd, body, len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    ok &= close(fd) == 0;
    if (!ok || rename(tmp, path) != 0) {
        saved = ok ? errno : saved;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
