/* keyfile: reading payload keys safely (see keyfile.h). */
#include "agent/keyfile.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int keyfile_read(const char *path, int want_hex, unsigned char *key, size_t max, size_t *len,
                 char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "%s: readable by other users (mode %03o): a key file must be "
                 "private (chmod 600 %s)", path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return -1;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0 || (size_t)n == sizeof buf) {
        snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) : "too long for a key");
        return -1;
    }
    size_t out = 0;
    if (want_hex) {
        int hi = -1;
        for (ssize_t i = 0; i < n; i++) {
            if (isspace((unsigned char)buf[i]))
                continue;
            int v = hexval((unsigned char)buf[i]);
            if (v < 0 || out == max) {
                snprintf(err, errlen, "%s: %s", path, v < 0 ? "not a hex key" : "key too long");
                memset(buf, 0, sizeof buf);
                return -1;
            }
            if (hi < 0)
                hi = v;
            else {
                key[out++] = (unsigned char)(hi << 4 | v);
                hi = -1;
            }
        }
        if (hi >= 0) {
            snprintf(err, errlen, "%s: odd number of hex digits", path);
            memset(buf, 0, sizeof buf);
            return -1;
        }
    } else {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        if ((size_t)n > max) {
            snprintf(err, errlen, "%s: key too long", path);
            memset(buf, 0, sizeof buf);
            return -1;
        }
        memcpy(key, buf, (size_t)n);
        out = (size_t)n;
    }
    memset(buf, 0, sizeof buf);     /* no copy of the key left on the stack */
    if (out == 0) {
        snprintf(err, errlen, "%s: empty", path);
        return -1;
    }
    *len = out;
    return 0;
}
