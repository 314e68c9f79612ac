/* vfs_powercut: simulated power cuts under SQLite (see vfs_powercut.h). */
#include "tests/vfs_powercut.h"
#include <sqlite3.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SECTOR 512

/* A write since the last sync: data at off, or (data NULL) a truncate to off. */
struct pc_write {
    sqlite3_int64 off;
    int len;
    unsigned char *data;
};

/* One file on the simulated disk. */
struct pc_node {
    char *path;
    int main_db;                /* the -shm beside it goes at a reboot */
    int open;                   /* handles */
    int dirty;                  /* written since its last sync: snap and log hold */
    unsigned char *snap;        /* the content at the last sync */
    size_t snap_len;
    struct pc_write *w;
    size_t nw, capw;
    struct pc_node *next;
};

struct pc_file {
    sqlite3_file base;
    struct pc_node *node;
    sqlite3_file *real;         /* the default VFS's file, right after this struct */
    int plain;                  /* opened in pc_bypass: not tracked, never fails */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static struct pc_node *nodes;
static uint64_t ops, cut_at, files_put_back;
static int dead, bypass;
static const char *force_sync;  /* pc_force_synchronous */
static enum pc_mode mode;
static uint64_t rng = 1;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void node_clean(struct pc_node *n)
{
    for (size_t i = 0; i < n->nw; i++)
        free(n->w[i].data);
    free(n->w);
    free(n->snap);
    n->w = NULL;
    n->nw = n->capw = 0;
    n->snap = NULL;
    n->snap_len = 0;
    n->dirty = 0;
}

static struct pc_node *node_get(const char *path, int main_db)
{
    for (struct pc_node *n = nodes; n; n = n->next)
        if (!strcmp(n->path, path))
            return n;
    struct pc_node *n = calloc(1, sizeof *n);
    if (!n || !(n->path = strdup(path))) {
        free(n);
        return NULL;
    }
    n->main_db = main_db;
    n->next = nodes;
    nodes = n;
    return n;
}

static int trace = -1;

/* One more write, truncate or sync: is this the one the power goes at?
 * PC_TRACE=1 in the environment lists them on stderr. */
static int op_kills(const struct pc_node *n, const char *what, sqlite3_int64 off, int len)
{
    if (trace < 0)
        trace = getenv("PC_TRACE") != NULL;
    if (trace)
        fprintf(stderr, "pc %llu%s %s %s %lld+%d\n", (unsigned long long)ops + 1,
                dead ? " (dead)" : "", n->path, what, (long long)off, len);
    if (dead)
        return 1;
    ops++;
    if (cut_at && ops >= cut_at)
        dead = 1;
    return dead;
}

/* Copy the content aside before the first change since the last sync. */
static int snapshot(struct pc_file *f)
{
    struct pc_node *n = f->node;
    if (n->dirty)
        return SQLITE_OK;
    sqlite3_int64 size = 0;
    int rc = f->real->pMethods->xFileSize(f->real, &size);
    if (rc != SQLITE_OK)
        return rc;
    n->snap = malloc(size ? (size_t)size : 1);
    if (!n->snap)
        return SQLITE_NOMEM;
    if (size && (rc = f->real->pMethods->xRead(f->real, n->snap, (int)size, 0)) != SQLITE_OK) {
        free(n->snap);
        n->snap = NULL;
        return rc;
    }
    n->snap_len = (size_t)size;
    n->dirty = 1;
    return SQLITE_OK;
}

static int log_write(struct pc_node *n, sqlite3_int64 off, const void *data, int len)
{
    if (mode != PC_TORN)
        return SQLITE_OK;       /* the log is only for the sectors that may survive */
    if (n->nw == n->capw) {
        size_t cap = n->capw ? n->capw * 2 : 64;
        struct pc_write *w = realloc(n->w, cap * sizeof *w);
        if (!w)
            return SQLITE_NOMEM;
        n->w = w;
        n->capw = cap;
    }
    struct pc_write *w = &n->w[n->nw];
    w->off = off;
    w->len = len;
    w->data = NULL;
    if (data) {
        if (!(w->data = malloc((size_t)len)))
            return SQLITE_NOMEM;
        memcpy(w->data, data, (size_t)len);
    }
    n->nw++;
    return SQLITE_OK;
}

static int x_close(sqlite3_file *file)
{
    struct pc_file *f = (struct pc_file *)file;
    int rc = f->real->pMethods->xClose(f->real);
    if (!f->plain)
        f->node->open--;
    return rc;
}

static int x_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    struct pc_file *f = (struct pc_file *)file;
    if (dead && !f->plain)
        return SQLITE_IOERR_READ;
    return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int x_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
    struct pc_file *f = (struct pc_file *)file;
    if (f->plain)
        return f->real->pMethods->xWrite(f->real, buf, amt, off);
    if (op_kills(f->node, "write", off, amt))
        return SQLITE_IOERR_WRITE;
    int rc = snapshot(f);
    if (rc == SQLITE_OK)
        rc = log_write(f->node, off, buf, amt);
    return rc == SQLITE_OK ? f->real->pMethods->xWrite(f->real, buf, amt, off) : rc;
}

static int x_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct pc_file *f = (struct pc_file *)file;
    if (f->plain)
        return f->real->pMethods->xTruncate(f->real, size);
    if (op_kills(f->node, "truncate", size, 0))
        return SQLITE_IOERR_TRUNCATE;
    int rc = snapshot(f);
    if (rc == SQLITE_OK)
        rc = log_write(f->node, size, NULL, 0);
    return rc == SQLITE_OK ? f->real->pMethods->xTruncate(f->real, size) : rc;
}

static int x_sync(sqlite3_file *file, int flags)
{
    struct pc_file *f = (struct pc_file *)file;
    if (f->plain)
        return SQLITE_OK;
    if (op_kills(f->node, "sync", 0, 0))
        return SQLITE_IOERR_FSYNC;
    /* Durability is simulated: the real disk need not be waited for (a real
     * fsync per commit would make the test ten times slower). */
    if (mode != PC_NOSYNC)
        node_clean(f->node);    /* on the disk now */
    return SQLITE_OK;
}

static int x_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct pc_file *f = (struct pc_file *)file;
    if (dead && !f->plain)
        return SQLITE_IOERR_FSTAT;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int x_lock(sqlite3_file *file, int lock)
{
    struct pc_file *f = (struct pc_file *)file;
    if (dead && !f->plain)
        return SQLITE_IOERR_LOCK;
    return f->real->pMethods->xLock(f->real, lock);
}

static int x_unlock(sqlite3_file *file, int lock)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int x_check_reserved(sqlite3_file *file, int *out)
{
    struct pc_file *f = (struct pc_file *)file;
    if (dead && !f->plain)
        return SQLITE_IOERR_CHECKRESERVEDLOCK;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int x_file_control(sqlite3_file *file, int op, void *arg)
{
    struct pc_file *f = (struct pc_file *)file;
    if (op == SQLITE_FCNTL_SIZE_HINT && !f->plain) {
        /* The default VFS grows the file itself here: a change like a write. */
        if (dead)
            return SQLITE_IOERR_TRUNCATE;
        int rc = snapshot(f);
        if (rc != SQLITE_OK)
            return rc;
        sqlite3_int64 before = 0;
        f->real->pMethods->xFileSize(f->real, &before);
        rc = f->real->pMethods->xFileControl(f->real, op, arg);
        sqlite3_int64 after = before;
        f->real->pMethods->xFileSize(f->real, &after);
        if (after != before) {
            int lr = log_write(f->node, after, NULL, 0);
            if (lr != SQLITE_OK)
                return lr;
        }
        return rc;
    }
    if (op == SQLITE_FCNTL_PRAGMA && force_sync) {
        /* Another synchronous level than the forced one: swallowed. */
        char **a = arg;
        if (a[1] && !strcasecmp(a[1], "synchronous") && a[2] && strcasecmp(a[2], force_sync))
            return SQLITE_OK;
    }
    if (op == SQLITE_FCNTL_VFSNAME) {
        int rc = f->real->pMethods->xFileControl(f->real, op, arg);
        if (rc == SQLITE_OK && *(char **)arg) {
            char *both = sqlite3_mprintf("powercut/%z", *(char **)arg);
            *(char **)arg = both;
        }
        return rc;
    }
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int x_sector_size(sqlite3_file *file)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int x_device_characteristics(sqlite3_file *file)
{
    struct pc_file *f = (struct pc_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int x_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
    struct pc_file *f = (struct pc_file *)file;
    if (dead && !f->plain)
        return SQLITE_IOERR_SHMMAP;
    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int x_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    struct pc_file *f = (struct pc_file *)file;
    if (dead && !f->plain && (flags & SQLITE_SHM_LOCK))
        return SQLITE_IOERR_SHMLOCK;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void x_shm_barrier(sqlite3_file *file)
{
    struct pc_file *f = (struct pc_file *)file;
    f->real->pMethods->xShmBarrier(f->real);
}

static int x_shm_unmap(sqlite3_file *file, int delete_flag)
{
    struct pc_file *f = (struct pc_file *)file;
    /* A dead process deletes nothing. */
    return f->real->pMethods->xShmUnmap(f->real, dead && !f->plain ? 0 : delete_flag);
}

/* Version 2: shared memory, no memory-mapped reads (xFetch would bypass xRead). */
static const sqlite3_io_methods pc_methods = {
    2, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock,
    x_check_reserved, x_file_control, x_sector_size, x_device_characteristics,
    x_shm_map, x_shm_lock, x_shm_barrier, x_shm_unmap, NULL, NULL,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
    struct pc_file *f = (struct pc_file *)file;
    f->base.pMethods = NULL;
    f->real = (sqlite3_file *)(f + 1);
    f->plain = bypass;
    f->node = NULL;
    if (bypass) {
        int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out);
        if (rc == SQLITE_OK)
            f->base.pMethods = &pc_methods;
        else if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        return rc;
    }
    if (dead)
        return SQLITE_CANTOPEN;
    struct pc_node *n = NULL;
    if (name && !(n = node_get(name, (flags & SQLITE_OPEN_MAIN_DB) != 0)))
        return SQLITE_NOMEM;
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        return rc;
    }
    if (!n) {
        /* A temporary file without a name: nothing to keep across a cut, but it
         * must fail with the rest. Tracked under a name of its own. */
        char tmp[32];
        snprintf(tmp, sizeof tmp, "(temp %p)", (void *)f);
        if (!(n = node_get(tmp, 0))) {
            f->real->pMethods->xClose(f->real);
            return SQLITE_NOMEM;
        }
    }
    f->node = n;
    n->open++;
    f->base.pMethods = &pc_methods;
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int dir_sync)
{
    if (bypass)
        return real_vfs->xDelete(real_vfs, name, 0);
    if (dead)
        return SQLITE_IOERR_DELETE;
    int rc = real_vfs->xDelete(real_vfs, name, 0);
    for (struct pc_node *n = nodes; n; n = n->next)
        if (!strcmp(n->path, name))
            node_clean(n);      /* gone for good (the directory is synced) */
    return rc;
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
    real_vfs->xDlClose(real_vfs, h);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *t)
{
    return real_vfs->xCurrentTime(real_vfs, t);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
    return real_vfs->xGetLastError(real_vfs, n, msg);
}

static int v_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
    return real_vfs->xCurrentTimeInt64(real_vfs, t);
}

int pc_register(void)
{
    if (real_vfs)
        return 0;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs || real_vfs->iVersion < 2)
        return -1;
    shim_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct pc_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "powercut",
        .xOpen = v_open, .xDelete = v_delete, .xAccess = v_access,
        .xFullPathname = v_full_pathname, .xDlOpen = v_dlopen, .xDlError = v_dlerror,
        .xDlSym = v_dlsym, .xDlClose = v_dlclose, .xRandomness = v_randomness,
        .xSleep = v_sleep, .xCurrentTime = v_current_time, .xGetLastError = v_last_error,
        .xCurrentTimeInt64 = v_current_time64,
    };
    return sqlite3_vfs_register(&shim_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static int force_sync_hook(sqlite3 *db, const char **err, const void *api)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", force_sync);
    return force_sync ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_OK;
}

void pc_force_synchronous(const char *level)
{
    force_sync = level;
    if (level)
        sqlite3_auto_extension((void (*)(void))force_sync_hook);
    else
        sqlite3_cancel_auto_extension((void (*)(void))force_sync_hook);
}

void pc_bypass(int on)
{
    bypass = on;
}

void pc_arm(uint64_t nth, enum pc_mode m, uint64_t seed)
{
    ops = 0;
    cut_at = nth;
    mode = m;
    rng = seed * 0x9E3779B97F4A7C15ull + 1;
    if (!rng)
        rng = 1;
}

void pc_cut_now(void)
{
    dead = 1;
}

int pc_dead(void)
{
    return dead;
}

uint64_t pc_ops(void)
{
    return ops;
}

uint64_t pc_files_put_back(void)
{
    return files_put_back;
}

int pc_open_handles(void)
{
    int open = 0;
    for (struct pc_node *n = nodes; n; n = n->next)
        open += n->open;
    return open;
}

/* The file as the disk holds it after the cut. */
static int restore(struct pc_node *n)
{
    int fd = open(n->path, O_RDWR);
    if (fd < 0)
        return -1;      /* deleted meanwhile: a reboot finds it gone too */
    int rc = 0;
    if (ftruncate(fd, (off_t)n->snap_len) != 0 ||
        (n->snap_len && pwrite(fd, n->snap, n->snap_len, 0) != (ssize_t)n->snap_len))
        rc = -1;
    /* PC_TORN, PC_NOSYNC: some sectors of the later writes reached the platter,
     * in any order: each kept or not, independently. A truncate is a metadata
     * change: all or nothing. */
    for (size_t i = 0; rc == 0 && i < n->nw; i++) {
        struct pc_write *w = &n->w[i];
        if (!w->data) {
            if (rnd() % 2 && ftruncate(fd, (off_t)w->off) != 0)
                rc = -1;
            continue;
        }
        for (int at = 0; at < w->len; at += SECTOR) {
            int len = w->len - at < SECTOR ? w->len - at : SECTOR;
            if (rnd() % 2 == 0)
                continue;
            if (pwrite(fd, w->data + at, (size_t)len, (off_t)(w->off + at)) != len)
                rc = -1;
        }
    }
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

int pc_reboot(void)
{
    if (pc_open_handles())
        return -1;
    int rc = 0;
    struct pc_node **pp = &nodes;
    while (*pp) {
        struct pc_node *n = *pp;
        if (dead && n->dirty) {
            files_put_back++;
            if (restore(n) != 0 && access(n->path, F_OK) == 0)
                rc = -1;
        }
        node_clean(n);
        if (dead && n->main_db) {
            char shm[4200];
            snprintf(shm, sizeof shm, "%s-shm", n->path);
            unlink(shm);
        }
        if (!strncmp(n->path, "(temp", 5)) {
            *pp = n->next;
            free(n->path);
            free(n);
        } else {
            pp = &n->next;
        }
    }
    dead = 0;
    cut_at = 0;
    ops = 0;
    return rc;
}

void pc_forget(void)
{
    while (nodes && !pc_open_handles()) {
        struct pc_node *n = nodes;
        nodes = n->next;
        node_clean(n);
        free(n->path);
        free(n);
    }
}
