/* unit_powercut: the store through simulated power cuts (tests/vfs_powercut.h).
 *
 * A "life" is one store directory going through a series of cuts. Each session
 * opens the store as the agent does (a writer and an uplink's reader connection),
 * appends batches, delivers readings to a simulated broker that acknowledges most
 * of them and saves the uplink's cursor, evicts and checkpoints now and then,
 * until the power goes at a random write or sync (or at the end). The files are
 * then put back as the disk would hold them, and a copy is checked as after a
 * reboot:
 *   integrity    PRAGMA integrity_check is "ok"
 *   seq          the next seq is above every seq whose commit returned success,
 *                and a new batch gets it (no seq handed out twice)
 *   readings     every stored reading is the one written under its seq
 *   loss         every committed seq not given up to eviction is still stored:
 *                what the broker did not acknowledge will still be sent
 *   cursor       the cursor claims no seq above the highest committed, none the
 *                broker did not acknowledge (or eviction took), and keeps every
 *                seq of the last cursor whose save returned success
 * The next session then opens the store as the cut left it (WAL recovery and all).
 *
 * Usage: unit_powercut [-n CUTS] [-s SEED] [-m clean|torn|nosync|off|normal] [-v]
 * Without -n: the `make unit` set: clean and torn cuts, which must pass, and two
 * runs that must be caught: a disk whose syncs are lies (nosync) and the store's
 * synchronous=FULL overridden to OFF (off; normal: to NORMAL). With -n: that
 * many cuts (clean and torn lives alternating unless -m), for `make
 * soak-powercut`; with nosync, off or normal it passes when violations are seen.
 */
#include "tests/unit.h"
#include "tests/vfs_powercut.h"
#include "agent/batch_codec.h"
#include "agent/ranges.h"
#include "agent/store.h"
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UPLINK "up"
#define TS0 1700000000000LL
#define CUTS_PER_LIFE 25
#define STEPS 60

static uint64_t rng_state = 1;
static int verbose;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static uint64_t rnd_in(uint64_t lo, uint64_t hi) { return lo + rnd() % (hi - lo + 1); }

/* What a reading under seq must be: the store cannot have renumbered it. */
static double value_of(uint64_t seq) { return (double)seq * 0.25; }
static int64_t ts_of(uint64_t seq) { return TS0 + (int64_t)seq * 10; }

enum { V_INTEGRITY, V_SEQ, V_READINGS, V_LOSS, V_CURSOR, V_HARNESS, V_KINDS };
static const char *const v_name[V_KINDS] = { "integrity", "seq", "readings", "loss", "cursor",
                                             "harness" };
static uint64_t violations[V_KINDS];
static uint64_t reported;

static void violation(int kind, const char *what, uint64_t seed, int cut)
{
    violations[kind]++;
    if (reported++ < 8 || verbose || kind == V_INTEGRITY || kind == V_HARNESS)
        printf("  violated %s (life seed %llu, cut %d): %s\n", v_name[kind],
               (unsigned long long)seed, cut, what);
}

/* What the test knows of a life, across its cuts: the truth the store is held to. */
struct life {
    char dir[64], chk[80];
    uint64_t seed;
    uint64_t committed_hi;      /* highest seq of an append that returned success */
    uint64_t floor;             /* seqs below may have been evicted (attempts included) */
    struct ranges broker;       /* seqs the broker acknowledged */
    struct ranges saved;        /* the last cursor whose save returned success */
    uint64_t max_ops;           /* writes and syncs of the longest whole session */
};

struct stats {
    uint64_t cuts, sessions_cut, appended, acked, evictions, checkpoints, open_cut, survived;
};
static struct stats st;

static struct packed_batch *mk(uint64_t seq0, uint32_t n)
{
    struct batch *b = malloc(sizeof *b + n * sizeof b->r[0]);
    b->n = n;
    b->ts_ms = ts_of(seq0);
    b->seq0 = 0;
    for (uint32_t i = 0; i < n; i++)
        b->r[i] = (struct reading){ .point = (uint32_t)(1 + (seq0 + i) % 7), .quality = Q_GOOD,
                                    .has_value = 1, .ts_ms = ts_of(seq0 + i),
                                    .value = value_of(seq0 + i) };
    return batch_pack(b);
}

/* The simulated uplink: its delivered set as agent/lanes.c keeps it. */
struct uplink {
    struct store *r;
    struct ranges delivered;
    uint64_t lost;
};

struct grab {
    uint64_t seq[64];
    size_t n;
    int bad;
};

static int grab(void *arg, uint64_t seq, const struct reading *r)
{
    struct grab *g = arg;
    if (r->value != value_of(seq) || r->ts_ms != ts_of(seq))
        g->bad++;
    g->seq[g->n++] = seq;
    return g->n == sizeof g->seq / sizeof g->seq[0];
}

/* Evicted seqs are given up, as lanes_evicted does. */
static void give_up_below(struct uplink *u, uint64_t first)
{
    if (first > 1) {
        u->lost += ranges_missing(&u->delivered, 1, first - 1);
        ranges_add(&u->delivered, 1, first - 1);
    }
}

static void save_cursor(struct life *l, struct uplink *u)
{
    struct store_cursor c = { .lost = u->lost };
    c.acked = ranges_next_gap(&u->delivered, 1) - 1;
    if (ranges_format(&u->delivered, c.delivered, sizeof c.delivered) != 0)
        c.delivered[0] = 0;
    if (store_cursor_set(u->r, UPLINK, &c) == 0) {
        ranges_free(&l->saved);
        ranges_init(&l->saved);
        ranges_parse(&l->saved, c.delivered);
        if (c.acked)
            ranges_add(&l->saved, 1, c.acked);
    }
}

/* Send up to a few messages from the lowest undelivered seq (or from near the
 * newest, as the live lane does); the broker acknowledges most of them. */
static void deliver(struct life *l, struct uplink *u, int cut)
{
    uint64_t first = 0;
    if (store_first_seq(u->r, &first) != 0)
        return;
    give_up_below(u, first);
    uint64_t next = store_next_seq(u->r);
    uint64_t from = ranges_next_gap(&u->delivered, first ? first : 1);
    if (rnd() % 4 == 0 && next > from + 8)
        from = ranges_next_gap(&u->delivered, next - rnd_in(1, 8));
    struct grab g = { .n = 0 };
    long n = store_scan(u->r, from, (size_t)rnd_in(1, 64), grab, &g);
    if (n < 0 || pc_dead())
        return;
    if (g.bad)
        violation(V_READINGS, "a reading read back by the uplink is not the one written",
                  l->seed, cut);
    for (size_t i = 0; i < g.n; i += 8) {
        if (rnd() % 10 == 0)
            continue;           /* not acknowledged: sent again later */
        for (size_t j = i; j < g.n && j < i + 8; j++) {
            if (g.seq[j] > l->committed_hi)
                violation(V_SEQ, "the uplink read a seq above every committed one", l->seed, cut);
            if (!ranges_contains(&u->delivered, g.seq[j])) {
                ranges_add(&u->delivered, g.seq[j], g.seq[j]);
                ranges_add(&l->broker, g.seq[j], g.seq[j]);
                st.acked++;
            }
        }
    }
    save_cursor(l, u);
}

static void append(struct life *l, struct store *w, int cut)
{
    uint64_t seq = store_next_seq(w);
    if (pc_dead())
        return;
    size_t k = (size_t)rnd_in(1, 3);
    struct packed_batch *b[3];
    uint64_t s = seq;
    for (size_t i = 0; i < k; i++) {
        uint32_t n = (uint32_t)rnd_in(1, 20);
        b[i] = mk(s, n);
        s += n;
    }
    if (store_append(w, b, k, NULL, 0) == 0) {
        if (b[0]->seq0 != seq)
            violation(V_SEQ, "the store numbered a batch otherwise than its next seq said",
                      l->seed, cut);
        if (b[0]->seq0 <= l->committed_hi)
            violation(V_SEQ, "a committed seq handed out again", l->seed, cut);
        l->committed_hi = s - 1;
        st.appended += s - seq;
    } else if (!pc_dead()) {
        violation(V_HARNESS, store_errmsg(w), l->seed, cut);
    }
    for (size_t i = 0; i < k; i++)
        free(b[i]);
}

static void evict(struct life *l, struct store *w)
{
    uint64_t first = 0, next = store_next_seq(w);
    if (store_first_seq(w, &first) != 0 || !first || next <= first + 1)
        return;
    /* Batches sampled before seq x's time: every one starting below x (and the
     * batch holding x, which starts at most 19 below it). */
    uint64_t x = rnd_in(first, next - 1);
    uint64_t before = l->floor;
    if (l->floor < x + 20)
        l->floor = x + 20;      /* until it is known what it took */
    if (store_evict_before(w, ts_of(x)) >= 0 && store_first_seq(w, &first) == 0 && !pc_dead()) {
        st.evictions++;
        l->floor = first > before ? first : before;
    }
}

static int run_session(struct life *l, enum pc_mode mode, int cut)
{
    uint64_t nth = l->max_ops ? rnd_in(1, l->max_ops + l->max_ops / 8 + 1) : 0;
    if (rnd() % 8 == 0)
        nth = rnd_in(1, 12);    /* while opening, recovering, at the first commits */
    pc_arm(nth, mode, rnd());
    char err[256];
    struct store *w = store_open(l->dir, STORE_WRITE, err, sizeof err);
    struct uplink u = { .r = NULL };
    ranges_init(&u.delivered);
    if (w) {
        store_limit_wal(w, (int)rnd_in(4, 64), (int64_t)rnd_in(0, 4) * 32768);
        u.r = store_open(l->dir, STORE_READ, err, sizeof err);
    }
    struct store_cursor c;
    if (u.r && store_cursor_get(u.r, UPLINK, &c) == 0 && !pc_dead()) {
        u.lost = c.lost;
        if (ranges_parse(&u.delivered, c.delivered) != 0)
            violation(V_CURSOR, "the cursor does not parse", l->seed, cut);
        if (c.acked)
            ranges_add(&u.delivered, 1, c.acked);
    }
    if (!w || !u.r) {
        if (!pc_dead())
            violation(V_HARNESS, err, l->seed, cut);
        st.open_cut++;
    }
    for (int step = 0; w && u.r && step < STEPS && !pc_dead(); step++) {
        unsigned a = (unsigned)(rnd() % 20);
        if (a < 10)
            append(l, w, cut);
        else if (a < 17)
            deliver(l, &u, cut);
        else if (a < 19)
            evict(l, w);
        else {
            store_checkpoint(w);
            st.checkpoints++;
        }
    }
    /* The end of a session: now and then a clean stop (its checkpoint may be cut). */
    if (!pc_dead() && rnd() % 4 == 0) {
        store_close(u.r);
        store_close(w);
        u.r = w = NULL;
    }
    int was_cut = pc_dead();
    if (!was_cut && pc_ops() > l->max_ops)
        l->max_ops = pc_ops();
    pc_cut_now();
    store_close(u.r);
    store_close(w);
    ranges_free(&u.delivered);
    if (pc_reboot() != 0)
        violation(V_HARNESS, "the files could not be put back as after the cut", l->seed, cut);
    st.cuts++;
    st.sessions_cut += was_cut;
    return was_cut;
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return 0;   /* no WAL: fine */
    FILE *out = fopen(to, "wb");
    int rc = out ? 0 : -1;
    char buf[65536];
    size_t n;
    while (out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

static int integrity_cb(void *arg, int ncol, char **val, char **col)
{
    char *res = arg;
    if (!res[0])
        snprintf(res, 200, "%s", val[0] ? val[0] : "(null)");
    else
        snprintf(res, 200, "%s", "more than one line");
    return 0;
}

struct all {
    struct ranges stored;
    uint64_t last;
    int bad, order;
};

static int all_cb(void *arg, uint64_t seq, const struct reading *r)
{
    struct all *a = arg;
    if (r->value != value_of(seq) || r->ts_ms != ts_of(seq))
        a->bad++;
    if (seq <= a->last)
        a->order++;
    a->last = seq;
    ranges_add(&a->stored, seq, seq);
    return 0;
}

/* A copy of the store as the cut left it, opened as after a reboot (the shim
 * bypassed: the next session gets the files untouched, recovery and all). */
static int check(struct life *l, int cut)
{
    /* A rollback journal too: the store is created in that mode before WAL. */
    static const char *const suffix[] = { "", "-wal", "-journal", "-shm" };
    char from[128], to[128], what[300];
    pc_bypass(1);
    for (int i = 0; i < 4; i++) {
        snprintf(to, sizeof to, "%s/store.db%s", l->chk, suffix[i]);
        unlink(to);
        snprintf(from, sizeof from, "%s/store.db%s", l->dir, suffix[i]);
        if (i < 3 && copy_file(from, to) != 0)
            violation(V_HARNESS, "cannot copy the store", l->seed, cut);
    }
    snprintf(to, sizeof to, "%s/store.db", l->chk);
    sqlite3 *db = NULL;
    char res[200] = "";
    int rc = 0;
    if (sqlite3_open_v2(to, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA integrity_check", integrity_cb, res, NULL) != SQLITE_OK ||
        strcmp(res, "ok") != 0) {
        snprintf(what, sizeof what, "integrity_check: %s", res[0] ? res : sqlite3_errmsg(db));
        violation(V_INTEGRITY, what, l->seed, cut);
        rc = -1;
    }
    sqlite3_close(db);

    char err[256];
    struct store *s = store_open(l->chk, STORE_WRITE, err, sizeof err);
    if (!s) {
        snprintf(what, sizeof what, "cannot open the store after the cut: %s", err);
        violation(V_INTEGRITY, what, l->seed, cut);
        pc_bypass(0);
        return -1;
    }
    uint64_t next = store_next_seq(s);
    if (next <= l->committed_hi) {
        snprintf(what, sizeof what, "next seq %llu, but seqs up to %llu were committed",
                 (unsigned long long)next, (unsigned long long)l->committed_hi);
        violation(V_SEQ, what, l->seed, cut);
    }
    /* An append whose commit failed at the cut may still be whole on the disk
     * (PC_TORN kept every sector it needed): its seqs are the store's now, to be
     * delivered and never handed out again. */
    if (next > l->committed_hi + 1) {
        l->committed_hi = next - 1;
        st.survived++;
    }
    struct all a = { .last = 0 };
    ranges_init(&a.stored);
    if (store_scan(s, 1, SIZE_MAX, all_cb, &a) < 0)
        violation(V_INTEGRITY, "the batches cannot be read back", l->seed, cut);
    if (a.bad || a.order)
        violation(V_READINGS, "stored readings are not the ones written under their seqs",
                  l->seed, cut);
    uint64_t lo = l->floor > 1 ? l->floor : 1;
    uint64_t missing = lo <= l->committed_hi ? ranges_missing(&a.stored, lo, l->committed_hi) : 0;
    if (missing) {
        uint64_t unacked = 0;
        for (uint64_t q = lo; q <= l->committed_hi; q++)
            unacked += !ranges_contains(&a.stored, q) && !ranges_contains(&l->broker, q);
        snprintf(what, sizeof what, "%llu committed readings between %llu and %llu are gone, "
                 "%llu of them never acknowledged", (unsigned long long)missing,
                 (unsigned long long)lo, (unsigned long long)l->committed_hi,
                 (unsigned long long)unacked);
        violation(V_LOSS, what, l->seed, cut);
    }

    struct store_cursor c;
    struct ranges cur;
    ranges_init(&cur);
    if (store_cursor_get(s, UPLINK, &c) != 0 || ranges_parse(&cur, c.delivered) != 0) {
        violation(V_CURSOR, "the cursor cannot be read back", l->seed, cut);
    } else {
        if (c.acked)
            ranges_add(&cur, 1, c.acked);
        if (cur.n && cur.r[cur.n - 1].hi > l->committed_hi) {
            snprintf(what, sizeof what, "the cursor claims %llu, the highest committed seq is %llu",
                     (unsigned long long)cur.r[cur.n - 1].hi,
                     (unsigned long long)l->committed_hi);
            violation(V_CURSOR, what, l->seed, cut);
        }
        for (size_t i = 0; i < cur.n; i++) {
            uint64_t at = cur.r[i].lo > lo ? cur.r[i].lo : lo;
            if (at <= cur.r[i].hi && ranges_missing(&l->broker, at, cur.r[i].hi)) {
                violation(V_CURSOR, "the cursor claims seqs the broker never acknowledged",
                          l->seed, cut);
                break;
            }
        }
        for (size_t i = 0; i < l->saved.n; i++)
            if (ranges_missing(&cur, l->saved.r[i].lo, l->saved.r[i].hi)) {
                violation(V_CURSOR, "a saved cursor went back", l->seed, cut);
                break;
            }
    }
    ranges_free(&cur);
    /* The store goes on: the next batch gets the next seq. */
    struct packed_batch *b = mk(next, 1);
    if (store_append(s, &b, 1, NULL, 0) != 0 || b->seq0 != next || b->seq0 <= l->committed_hi)
        violation(V_SEQ, "the reopened store does not number on from its next seq", l->seed, cut);
    free(b);
    ranges_free(&a.stored);
    store_close(s);
    pc_bypass(0);
    return rc;
}

static int life(uint64_t seed, int cuts, enum pc_mode mode)
{
    int done = 0;
    struct life l = { .seed = seed };
    rng_state = seed * 0x2545F4914F6CDD1Dull + 7;
    snprintf(l.dir, sizeof l.dir, "/tmp/ganzhi-pcut-XXXXXX");
    if (!mkdtemp(l.dir)) {
        violation(V_HARNESS, "mkdtemp", seed, 0);
        return 1;
    }
    snprintf(l.chk, sizeof l.chk, "%s/chk", l.dir);
    ranges_init(&l.broker);
    ranges_init(&l.saved);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", l.chk);
    if (system(cmd) != 0)
        violation(V_HARNESS, "mkdir", seed, 0);
    /* The first session runs whole (how many writes and syncs one takes; the
     * power goes at its end), but for some lives when it creates the store. */
    for (int cut = 0; cut < cuts; cut++) {
        run_session(&l, mode, cut);
        done++;
        if (check(&l, cut) != 0)
            break;      /* the agent would move it aside: this life is over */
    }
    ranges_free(&l.broker);
    ranges_free(&l.saved);
    pc_forget();
    snprintf(cmd, sizeof cmd, "rm -rf %s", l.dir);
    if (system(cmd) != 0)
        violation(V_HARNESS, "rm", seed, 0);
    return done;
}

static uint64_t total_violations(void)
{
    uint64_t n = 0;
    for (int i = 0; i < V_KINDS; i++)
        n += violations[i];
    return n;
}

static void print_violations(const char *label)
{
    static uint64_t put_back_before;
    uint64_t put_back = pc_files_put_back() - put_back_before;
    put_back_before = pc_files_put_back();
    printf("  %s: %llu cuts (%llu inside a session, %llu while opening; %llu files lost "
           "writes), %llu readings committed, %llu acknowledged, %llu evictions, "
           "%llu checkpoints, %llu failed commits found whole after the cut; violations:",
           label, (unsigned long long)st.cuts, (unsigned long long)st.sessions_cut,
           (unsigned long long)st.open_cut, (unsigned long long)put_back,
           (unsigned long long)st.appended,
           (unsigned long long)st.acked, (unsigned long long)st.evictions,
           (unsigned long long)st.checkpoints, (unsigned long long)st.survived);
    for (int i = 0; i < V_KINDS; i++)
        printf(" %s %llu", v_name[i], (unsigned long long)violations[i]);
    printf("\n");
}

static uint64_t base_seed;
/* Modes beyond enum pc_mode: clean cuts of a store whose PRAGMA synchronous=FULL
 * is overridden. */
enum { MODE_SYNC_OFF = 10, MODE_SYNC_NORMAL };

/* cuts in lives of CUTS_PER_LIFE; returns the violations seen. */
static uint64_t run_cuts(int cuts, int mode, const char *label)
{
    memset(violations, 0, sizeof violations);
    memset(&st, 0, sizeof st);
    reported = 0;
    for (int done = 0, i = 0; done < cuts; i++) {
        int n = cuts - done < CUTS_PER_LIFE ? cuts - done : CUTS_PER_LIFE;
        enum pc_mode m = mode >= MODE_SYNC_OFF ? PC_CLEAN : mode >= 0 ? (enum pc_mode)mode
                       : (i % 2 ? PC_TORN : PC_CLEAN);
        pc_force_synchronous(mode == MODE_SYNC_OFF ? "OFF" : mode == MODE_SYNC_NORMAL ? "NORMAL"
                                                                                   : NULL);
        done += life(base_seed + (uint64_t)i, n, m);
    }
    pc_force_synchronous(NULL);
    print_violations(label);
    return total_violations();
}

static void test_clean_cuts(void)
{
    CHECK(run_cuts(200, PC_CLEAN, "clean") == 0);
}

static void test_torn_cuts(void)
{
    CHECK(run_cuts(200, PC_TORN, "torn") == 0);
}

/* The harness can fail: with syncs that are lies, committed readings and
 * cursors go, and the checks must say so. */
static void test_nosync_caught(void)
{
    run_cuts(100, PC_NOSYNC, "nosync");
    CHECK(violations[V_LOSS] + violations[V_SEQ] + violations[V_CURSOR] > 0);
    CHECK(violations[V_HARNESS] == 0);
}

/* And with the store's synchronous=FULL overridden to OFF: a commit returns
 * before its WAL frames are on the disk. */
static void test_sync_off_caught(void)
{
    run_cuts(100, MODE_SYNC_OFF, "synchronous=OFF");
    CHECK(violations[V_LOSS] + violations[V_SEQ] + violations[V_CURSOR] > 0);
    CHECK(violations[V_HARNESS] == 0);
}

int main(int argc, char **argv)
{
    int cuts = 0, mode = -1, opt;
    base_seed = (uint64_t)time(NULL);
    while ((opt = getopt(argc, argv, "n:s:m:v")) != -1) {
        if (opt == 'n')
            cuts = atoi(optarg);
        else if (opt == 's')
            base_seed = strtoull(optarg, NULL, 0);
        else if (opt == 'm')
            mode = !strcmp(optarg, "clean") ? PC_CLEAN : !strcmp(optarg, "torn") ? PC_TORN
                 : !strcmp(optarg, "nosync") ? PC_NOSYNC : !strcmp(optarg, "off") ? MODE_SYNC_OFF
                 : !strcmp(optarg, "normal") ? MODE_SYNC_NORMAL : -2;
        else if (opt == 'v')
            verbose = 1;
        else
            mode = -2;
    }
    if (mode == -2) {
        fprintf(stderr, "usage: unit_powercut [-n CUTS] [-s SEED] "
                "[-m clean|torn|nosync|off|normal] [-v]\n");
        return 2;
    }
    if (pc_register() != 0) {
        printf("FAIL cannot register the power-cut VFS\n");
        return 1;
    }
    printf("seed %llu (unit_powercut -s %llu repeats this run)\n", (unsigned long long)base_seed,
           (unsigned long long)base_seed);
    if (cuts > 0) {
        unit_case = "powercut";
        time_t t0 = time(NULL);
        uint64_t v = run_cuts(cuts, mode, mode < 0 ? "clean and torn" : "chosen mode");
        printf("  %lld s\n", (long long)(time(NULL) - t0));
        if (mode == PC_NOSYNC || mode >= MODE_SYNC_OFF ? v == 0 : v != 0)
            unit_failed++;
        else
            unit_passed++;
        return UNIT_END();
    }
    RUN(test_clean_cuts);
    RUN(test_torn_cuts);
    RUN(test_nosync_caught);
    RUN(test_sync_off_caught);
    return UNIT_END();
}
