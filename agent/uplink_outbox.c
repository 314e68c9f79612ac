/* uplink_outbox: the outbox transport: messages as files in a folder, atomically. */
#include "agent/uplink_outbox.h"
#include "agent/log.h"
#include "core/clock.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

struct outbox {
    struct transport base;
    const char *name;           /* the uplink's, for the log */
    const char *dir;
    const struct profile *profile;
    const struct wire_site *site;
    struct transport_events ev;
};

/* "Connected" while the folder takes files. */
static int outbox_connect(struct transport *t, char *err, size_t errlen)
{
    struct outbox *o = (struct outbox *)t;
    if (access(o->dir, W_OK) != 0) {
        char why[300];
        snprintf(why, sizeof why, "outbox %s: %s", o->dir, strerror(errno));
        o->ev.connect_failed(o->ev.ctx, why);
        return 0;
    }
    char server[300];
    snprintf(server, sizeof server, "file://%s", o->dir);
    o->ev.connected(o->ev.ctx, server);
    return 0;
}

static int outbox_publish(struct transport *t, const struct transport_msg *m)
{
    struct outbox *o = (struct outbox *)t;
    if (outbox_write(o->dir, o->profile, o->site, m->kind, wall_ms(), m->body, m->len) != 0) {
        log_error("uplink", o->name, "cannot write into %s: %s", o->dir, strerror(errno));
        return -1;
    }
    if (m->id && m->qos > 0)
        o->ev.acked(o->ev.ctx, m->id);  /* on disk, synced: delivered */
    return 0;
}

static int outbox_subscribe(struct transport *t, const char *topic, int qos, char *err,
                            size_t errlen)
{
    snprintf(err, errlen, "an outbox folder receives nothing (no commands over files)");
    return -1;
}

static void outbox_close(struct transport *t)
{
    free(t);
}

static const struct transport_ops outbox_ops = {
    outbox_connect, outbox_publish, outbox_subscribe, NULL, outbox_close, NULL,
};

struct transport *uplink_outbox_open(const char *name, const char *dir, const struct profile *p,
                                     const struct wire_site *site,
                                     const struct transport_events *ev, char *err, size_t errlen)
{
    struct outbox *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *o = (struct outbox){ { &outbox_ops }, name, dir, p, site, *ev };
    log_info("uplink", name, "writing files into %s", dir);
    return &o->base;
}
