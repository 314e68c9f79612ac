/*
 * uplink_command: an uplink's command channel (commands = on). Commands come on
 * {prefix}/command on paho's thread and wait in a small inbox (bounded: a flood
 * is dropped and counted, never queued); the uplink thread takes them one by
 * one: the rate limit, the signature, the skew, the replay window (in the store,
 * so it survives restarts), the arguments; then does what is asked and replies,
 * signed, on {prefix}/reply. Every command, done or refused, is recorded in the
 * store and the log. Nothing a command does writes to a device or changes the
 * configuration.
 *
 * resend: the readings of a window go out again on this uplink only, oldest
 * first, in the request lane: behind alarms, live readings and the backlog, at
 * backfill_rate, flagged resend with the command's id. One at a time.
 * measure: the devices are polled now (their buses keep their one request at a
 * time), every reading of that poll stored, and published at once flagged
 * on_demand with the command's id; the reply carries their seqs.
 * clock: the offset of the gateway's clock from the command's ts; beyond
 * clock_tolerance a "clock" alarm is raised (cleared by a later clock command
 * within it). status and points: published now.
 */
#include "agent/uplink_impl.h"
#include "agent/keyfile.h"
#include "agent/log.h"
#include "core/clock.h"
#include "proto/command.h"
#include "proto/profile_time.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INBOX_MAX 16                /* commands waiting for the uplink thread */
#define MEASURE_WAIT_MS 30000       /* longest wait for a measured poll's readings */
#define RECORD_KEEP_MS (400LL * 24 * 3600 * 1000)  /* the record of commands */
#define CLOCK_TAG "clock_offset"    /* the clock alarm's pseudo point */

struct inbox_msg {
    char *payload;
    size_t len;
    int64_t received_ms;
};

/* A resend command being served (uplink thread only, but acks: u->lock). */
struct resend_job {
    int active;
    char id[COMMAND_ID_MAX + 1];
    uint64_t start, pos, end;       /* seqs start..end; pos: the next to look at */
    int64_t from_ms, to_ms;         /* the time window (both 0: a seq window) */
    uint8_t *want;                  /* by store id: asked for; NULL: every point */
    size_t nwant;
    struct ranges acked;            /* seqs of its acknowledged messages' spans */
    uint64_t sent;                  /* readings sent */
    uint64_t messages, messages_acked;
};

/* A measure command waiting for its poll's readings. */
struct measure_job {
    int active;
    char id[COMMAND_ID_MAX + 1];
    uint64_t from_seq;              /* next seq when it was asked */
    int64_t t0_ms, deadline_ms;
    uint8_t *want;                  /* by store id: to report */
    size_t nwant, nwanted, found;
    uint64_t *seqs;
    struct wire_reading *r;
};

struct uplink_commands {
    struct command_key key;
    unsigned char keybuf[1024];
    char topic_cmd[300], topic_reply[300];
    const struct conf *c;
    struct uplink_hooks hooks;
    /* paho's thread puts, the uplink thread takes: u->lock */
    struct inbox_msg inbox[INBOX_MAX];
    size_t ninbox;
    uint64_t overflow;
    /* uplink thread only */
    double tokens;
    int64_t tokens_at;
    int64_t limited_reply_at;
    struct resend_job job;
    struct measure_job m;
    uint32_t clock_point;
    int clock_alarm;
    int64_t pruned_at;
    int reported;                   /* the status shows a running resend */
    struct readahead ahead;
};

int commands_start(struct uplink *u, const struct conf *c, char *err, size_t errlen)
{
    const struct conf_uplink *cu = u->cu;
    struct uplink_commands *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t len = 0;
    char kerr[300];
    if (keyfile_read(cu->command_key_file, 0, k->keybuf, sizeof k->keybuf, &len, kerr, sizeof kerr)) {
        snprintf(err, errlen, "command_key_file: %s", kerr);
        free(k);
        return -1;
    }
    k->key = (struct command_key){ strcmp(cu->command_sign, "sm3") == 0 ? MAC_HMAC_SM3 : MAC_HMAC_SHA256,
                                   k->keybuf, len };
    snprintf(k->topic_cmd, sizeof k->topic_cmd, "%s/command", cu->topic_prefix);
    snprintf(k->topic_reply, sizeof k->topic_reply, "%s/reply", cu->topic_prefix);
    k->c = c;
    k->tokens = cu->command_rate;
    k->tokens_at = mono_ms();
    k->ahead.cap = cu->message_readings;
    k->ahead.r = calloc(k->ahead.cap, sizeof *k->ahead.r);
    if (!k->ahead.r) {
        free(k);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    u->cmd = k;
    return 0;
}

/* (acks touch the job under u->lock: so does its end) */
static void job_end(struct uplink *u, struct resend_job *j)
{
    pthread_mutex_lock(&u->lock);
    free(j->want);
    ranges_free(&j->acked);
    memset(j, 0, sizeof *j);
    pthread_mutex_unlock(&u->lock);
}

static void measure_end(struct measure_job *m)
{
    free(m->want);
    free(m->seqs);
    free(m->r);
    memset(m, 0, sizeof *m);
}

void commands_free(struct uplink *u)
{
    struct uplink_commands *k = u->cmd;
    if (!k)
        return;
    for (size_t i = 0; i < k->ninbox; i++)
        free(k->inbox[i].payload);
    job_end(u, &k->job);
    measure_end(&k->m);
    free(k->ahead.r);
    memset(k->keybuf, 0, sizeof k->keybuf);
    free(k);
    u->cmd = NULL;
}

void uplink_set_hooks(struct uplink *u, const struct uplink_hooks *h)
{
    if (u->cmd)
        u->cmd->hooks = *h;
}

int commands_topic(const struct uplink *u, const char *topic)
{
    return strcmp(topic, u->cmd->topic_cmd) == 0;
}

void commands_received(struct uplink *u, const void *payload, size_t len)
{
    struct uplink_commands *k = u->cmd;
    /* Bounded before anything is copied: a huge payload is refused by its size. */
    size_t keep = len > COMMAND_MAX_BYTES ? COMMAND_MAX_BYTES + 1 : len;
    char *p = malloc(keep + 1);
    pthread_mutex_lock(&u->lock);
    if (!p || k->ninbox == INBOX_MAX) {
        k->overflow++;
        u->st.commands_dropped++;
        pthread_mutex_unlock(&u->lock);
        free(p);
        return;
    }
    memcpy(p, payload, keep);
    p[keep] = 0;
    k->inbox[k->ninbox++] = (struct inbox_msg){ p, len, wall_ms() };
    pthread_mutex_unlock(&u->lock);
    wake_ring(&u->wake);
}

void commands_connected(struct uplink *u)
{
    char err[300];
    if (u->t->ops->subscribe(u->t, u->cmd->topic_cmd, 1, err, sizeof err) != 0)
        log_warn("uplink", u->cu->name, "commands: %s", err);
}

/* ---- replies and records ---- */

/* A time as the replies give it: RFC 3339 in the wire zone. */
static const char *command_time_format(int64_t ms, int tz, char *buf, size_t len)
{
    if (profile_time_format(profile_time_pattern("rfc3339"), ms, tz, buf, len) < 0)
        snprintf(buf, len, "?");
    return buf;
}

static void reply(struct uplink *u, const struct command *cmd, const char *id, int ok,
                  const char *error, cJSON *result)
{
    struct uplink_commands *k = u->cmd;
    size_t len = 0;
    char *body = command_reply(&k->key, id, cmd ? command_kind_name(cmd->kind) : NULL, ok, error,
                               result, wall_ms(), u->site.tz_minutes, u->site.gateway, &len);
    cJSON_Delete(result);
    if (body)
        window_send_untracked(u, MK_STATUS, k->topic_reply, body, 1, 0);   /* a reply: untracked, QoS 1 */
}

static void record(struct uplink *u, const struct command *cmd, const char *id, int verified,
                   int64_t received_ms, const char *outcome)
{
    struct store_command rec = { u->cu->name, id ? id : "", verified, received_ms,
                                 cmd ? cmd->ts_ms : 0, cmd ? command_kind_name(cmd->kind) : NULL,
                                 outcome };
    if (store_command_record(u->store, &rec) != 0)
        log_error("uplink", u->cu->name, "commands: cannot record command '%s': %s",
                  id ? id : "", store_errmsg(u->store));
}

static void refuse(struct uplink *u, const struct command *cmd, const char *id, int verified,
                   int64_t received_ms, const char *why)
{
    char outcome[400];
    snprintf(outcome, sizeof outcome, "refused: %s", why);
    log_warn("uplink", u->cu->name, "command '%s' %s", id && id[0] ? id : "?", outcome);
    record(u, cmd, id, verified, received_ms, outcome);
    pthread_mutex_lock(&u->lock);
    u->st.commands_refused++;
    pthread_mutex_unlock(&u->lock);
    reply(u, cmd, id, 0, why, NULL);
}

static void done(struct uplink *u, const struct command *cmd, int64_t received_ms,
                 const char *what, cJSON *result)
{
    char outcome[400];
    snprintf(outcome, sizeof outcome, "done: %s", what);
    log_info("uplink", u->cu->name, "command '%s' (%s) %s", cmd->id, command_kind_name(cmd->kind),
             outcome);
    record(u, cmd, cmd->id, 1, received_ms, outcome);
    pthread_mutex_lock(&u->lock);
    u->st.commands_done++;
    pthread_mutex_unlock(&u->lock);
    reply(u, cmd, cmd->id, 1, NULL, result);
}

/* ---- points asked for: by store id ---- */

/* The configured points of the named devices, or with the named tags, as a
 * set by store id. 0, or -1 with the first unknown name in why. */
static int wanted(struct uplink *u, char *const *names, size_t n, int tags, uint8_t **set,
                  size_t *nset, size_t *count, char *why, size_t whylen)
{
    const struct uplink_format *f = &u->fmt;
    const struct conf *c = f->conf;
    for (size_t i = 0; i < n; i++) {
        int found = !tags && conf_device_find(c, names[i]);
        for (size_t d = 0; tags && d < c->ndevices && !found; d++)
            found = conf_point_find(&c->devices[d], names[i]) != NULL;
        if (!found) {
            snprintf(why, whylen, "no %s '%s' on this gateway", tags ? "tag" : "device", names[i]);
            return -1;
        }
    }
    *set = calloc(f->nloc ? f->nloc : 1, 1);
    if (!*set) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    *nset = f->nloc;
    *count = 0;
    for (uint32_t id = 0; id < f->nloc; id++) {
        const struct conf_device *d;
        const struct conf_point *p = uplink_format_point(f, id, &d);
        if (!p)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(tags ? p->tag : d->name, names[i]) == 0) {
                (*set)[id] = 1;
                (*count)++;
                break;
            }
    }
    return 0;
}

/* ---- resend ---- */

static cJSON *missing_part(int64_t from_ms, int64_t first_ts, int tz)
{
    cJSON *a = cJSON_CreateArray();
    char t1[40], t2[40];
    command_time_format(from_ms, tz, t1, sizeof t1);
    command_time_format(first_ts, tz, t2, sizeof t2);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "from", t1);
    cJSON_AddStringToObject(o, "to", t2);
    cJSON_AddStringToObject(o, "why", "evicted: older than the store holds");
    cJSON_AddItemToArray(a, o);
    return a;
}

static void start_resend(struct uplink *u, const struct command *cmd, int64_t received_ms)
{
    struct uplink_commands *k = u->cmd;
    struct resend_job *j = &k->job;
    if (j->active) {
        char why[160];
        snprintf(why, sizeof why, "a resend is running (command '%s'); ask again when it is done",
                 j->id);
        refuse(u, cmd, cmd->id, 1, received_ms, why);
        return;
    }
    char why[300];
    uint8_t *want = NULL;
    size_t nwant = 0, npoints = 0;
    if (cmd->select != COMMAND_SELECT_ALL) {
        if (wanted(u, cmd->names, cmd->nnames, cmd->select == COMMAND_SELECT_TAGS,
                   &want, &nwant, &npoints, why, sizeof why) != 0) {
            refuse(u, cmd, cmd->id, 1, received_ms, why);
            return;
        }
    }
    uint64_t first = 0, next = writer_next_seq(u->writer);
    int64_t first_ts = 0;
    store_first_seq(u->store, &first);
    store_first_ts(u->store, &first_ts);
    uint64_t start, end;
    if (cmd->window == COMMAND_WINDOW_SEQ) {
        start = cmd->seq_from;
        end = cmd->seq_to < next ? cmd->seq_to : next - 1;
    } else {
        /* The batches that may hold readings sampled in the window: a poll's
         * batch is stamped with its earliest reading, a slow poll's last
         * request comes up to a timeout later. */
        start = store_seq_since(u->store, first ? first : 1, cmd->from_ms - 60000);
        end = store_seq_since(u->store, first ? first : 1, cmd->to_ms + 1) - 1;
        if (end >= next)
            end = next - 1;
    }
    cJSON *res = cJSON_CreateObject();
    uint64_t held = 0;
    if (first && start < first)
        start = first;
    /* Counted from the first batch stamped in the window (the look-back above
     * may start earlier, for a slow poll's later readings). */
    uint64_t count_from = cmd->window == COMMAND_WINDOW_TIME
                        ? store_seq_since(u->store, start ? start : 1, cmd->from_ms) : start;
    if (first && start <= end)
        held = store_count_between(u->store, count_from > start ? count_from : start, end);
    cJSON_AddNumberToObject(res, "readings_held", (double)held);
    if (want)
        cJSON_AddNumberToObject(res, "points", (double)npoints);
    if (cmd->window == COMMAND_WINDOW_SEQ) {
        cJSON_AddNumberToObject(res, "seq_from", (double)cmd->seq_from);
        cJSON_AddNumberToObject(res, "seq_to", (double)cmd->seq_to);
        if (!first || cmd->seq_from < first) {
            cJSON *a = cJSON_AddArrayToObject(res, "missing");
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "seq_from", (double)cmd->seq_from);
            cJSON_AddNumberToObject(o, "seq_to", (double)(first && first - 1 < cmd->seq_to
                                                          ? first - 1 : cmd->seq_to));
            cJSON_AddStringToObject(o, "why", "evicted: older than the store holds");
            cJSON_AddItemToArray(a, o);
        }
    } else if (!first_ts || cmd->from_ms < first_ts) {
        cJSON_AddItemToObject(res, "missing", missing_part(cmd->from_ms, first_ts ? first_ts
                                                           : cmd->to_ms, u->site.tz_minutes));
    }
    if (held == 0 || start > end) {
        cJSON_AddNumberToObject(res, "readings", 0);
        done(u, cmd, received_ms, "nothing held in the window", res);
        free(want);
        return;
    }
    pthread_mutex_lock(&u->lock);
    memset(j, 0, sizeof *j);
    ranges_init(&j->acked);
    j->active = 1;
    pthread_mutex_unlock(&u->lock);
    snprintf(j->id, sizeof j->id, "%s", cmd->id);
    j->start = j->pos = start;
    j->end = end;
    if (cmd->window == COMMAND_WINDOW_TIME) {
        j->from_ms = cmd->from_ms;
        j->to_ms = cmd->to_ms;
    }
    j->want = want;
    j->nwant = nwant;
    char what[200];
    snprintf(what, sizeof what, "resending seqs %llu..%llu (%llu readings held)",
             (unsigned long long)start, (unsigned long long)end, (unsigned long long)held);
    cJSON_AddStringToObject(res, "state", "started");
    done(u, cmd, received_ms, what, res);
}

struct gather_req {
    struct uplink *u;
    struct resend_job *j;
    struct readahead *ra;
    uint64_t last;          /* the last seq looked at */
};

static int gather_req(void *arg, uint64_t seq, const struct reading *r)
{
    struct gather_req *g = arg;
    struct resend_job *j = g->j;
    if (seq > j->end || g->ra->n >= g->ra->cap)
        return 1;
    g->last = seq;
    if (j->want && (r->point >= j->nwant || !j->want[r->point]))
        return 0;
    if ((j->from_ms || j->to_ms) && (r->ts_ms < j->from_ms || r->ts_ms > j->to_ms))
        return 0;
    const struct conf_device *d;
    const struct conf_point *p = uplink_format_point(&g->u->fmt, r->point, &d);
    if (!p)
        return 0;   /* a point no longer configured: its names are not ours to make up */
    g->ra->r[g->ra->n++] = (struct wire_reading){ seq, p->tag, d->name, conf_point_unit(p), *r };
    return 0;
}

/* The end of a resend: every message acknowledged. */
static void resend_finished(struct uplink *u)
{
    struct uplink_commands *k = u->cmd;
    struct resend_job *j = &k->job;
    log_info("uplink", u->cu->name, "command '%s': resend done, %llu readings in %llu messages",
             j->id, (unsigned long long)j->sent, (unsigned long long)j->messages);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "state", "done");
    cJSON_AddNumberToObject(res, "readings", (double)j->sent);
    cJSON_AddNumberToObject(res, "messages", (double)j->messages);
    struct command done_cmd = { .kind = COMMAND_RESEND };
    snprintf(done_cmd.id, sizeof done_cmd.id, "%s", j->id);
    reply(u, &done_cmd, j->id, 1, NULL, res);
    job_end(u, j);
}

static size_t resend_work(struct uplink *u, size_t allowance, size_t window)
{
    struct uplink_commands *k = u->cmd;
    struct resend_job *j = &k->job;
    size_t sent = 0, spans = 0;
    uint64_t pos0 = j->pos;
    /* Bounded work per turn, found or not: live readings never wait on a
     * filtered window's long stretches without its points. */
    while (j->active && sent < allowance && spans++ < 16) {
        if (j->pos > j->end) {
            pthread_mutex_lock(&u->lock);
            int all = j->messages_acked == j->messages;
            pthread_mutex_unlock(&u->lock);
            if (all)
                resend_finished(u);
            break;
        }
        pthread_mutex_lock(&u->lock);
        int room = window_room(u, window) && window_backlog_room(u);
        pthread_mutex_unlock(&u->lock);
        if (!room)
            break;
        struct readahead *ra = &k->ahead;
        ra->n = 0;
        struct gather_req g = { u, j, ra, j->pos - 1 };
        /* A filtered window may hold few of its points per batch: look through
         * a bounded span per turn, so live data never waits long on it. */
        uint64_t look = j->pos;
        long got = store_scan(u->store, look, ra->cap * 8, gather_req, &g);
        if (got < 0) {
            log_error("uplink", u->cu->name, "command '%s': store read at seq %llu failed: %s",
                      j->id, (unsigned long long)look, store_errmsg(u->store));
            break;
        }
        if (got == 0 || g.last < look) {
            j->pos = j->end + 1;    /* nothing further is stored */
            continue;
        }
        uint64_t span_last = ra->n == ra->cap ? ra->r[ra->n - 1].seq : g.last;
        if (ra->n) {
            char topic[256];
            char *body = uplink_format_realtime(&u->fmt, ra->r, ra->n, 1, j->id, 0, wall_ms(),
                                                topic, sizeof topic);
            if (!body)
                break;
            if (!window_send_tracked(u, MK_REALTIME, topic, body, u->cu->qos ? u->cu->qos : 1, look,
                                     span_last, LANE_REQUEST, 0))
                break;
            j->sent += ra->n;
            j->messages++;
            sent++;
        }
        j->pos = span_last + 1;
    }
    /* Looked through spans without a reading to send: more to do at once. */
    if (!sent && j->active && j->pos != pos0)
        return 1;
    return sent;
}

void commands_acked(struct uplink *u, uint64_t first, uint64_t last)
{
    struct uplink_commands *k = u->cmd;
    if (!k)
        return;
    if (k->job.active) {
        k->job.messages_acked++;
        ranges_add(&k->job.acked, first, last);
    }
}

void commands_rewind(struct uplink *u)
{
    struct uplink_commands *k = u->cmd;
    if (!k || !k->job.active)
        return;
    struct resend_job *j = &k->job;
    /* What was in flight goes again: from the first span not acknowledged. */
    pthread_mutex_lock(&u->lock);
    uint64_t from = ranges_next_gap(&j->acked, j->start);
    j->messages = j->messages_acked;
    pthread_mutex_unlock(&u->lock);
    if (from < j->pos)
        j->pos = from;
}

/* ---- measure ---- */

static void start_measure(struct uplink *u, const struct command *cmd, int64_t received_ms)
{
    struct uplink_commands *k = u->cmd;
    struct measure_job *m = &k->m;
    char why[300];
    if (m->active) {
        snprintf(why, sizeof why, "a measure is running (command '%s')", m->id);
        refuse(u, cmd, cmd->id, 1, received_ms, why);
        return;
    }
    if (!k->hooks.measure) {
        refuse(u, cmd, cmd->id, 1, received_ms, "measuring is not available");
        return;
    }
    memset(m, 0, sizeof *m);
    if (wanted(u, cmd->names, cmd->nnames, cmd->select == COMMAND_SELECT_TAGS, &m->want, &m->nwant,
               &m->nwanted, why, sizeof why) != 0) {
        refuse(u, cmd, cmd->id, 1, received_ms, why);
        measure_end(m);
        return;
    }
    m->seqs = calloc(m->nwanted ? m->nwanted : 1, sizeof *m->seqs);
    m->r = calloc(m->nwanted ? m->nwanted : 1, sizeof *m->r);
    if (!m->seqs || !m->r) {
        refuse(u, cmd, cmd->id, 1, received_ms, "out of memory");
        measure_end(m);
        return;
    }
    /* The devices the points are on: each polled once, now. */
    const struct uplink_format *f = &u->fmt;
    const struct conf *c = f->conf;
    m->from_seq = writer_next_seq(u->writer);
    m->t0_ms = wall_ms();
    int64_t wait = 0;
    for (size_t d = 0; d < c->ndevices; d++) {
        const struct conf_device *cd = &c->devices[d];
        int asked = 0;
        for (uint32_t id = 0; id < f->nloc && !asked; id++) {
            const struct conf_device *pd;
            asked = m->want[id] && uplink_format_point(f, id, &pd) && pd == cd;
        }
        if (!asked)
            continue;
        wait += cd->timeout_ms * (int64_t)(cd->npoints < 8 ? cd->npoints : 8) + cd->interval_ms;
        if (k->hooks.measure(k->hooks.arg, cd->name) != 0) {
            snprintf(why, sizeof why, "device '%s' cannot be measured now", cd->name);
            refuse(u, cmd, cmd->id, 1, received_ms, why);
            measure_end(m);
            return;
        }
    }
    m->active = 1;
    snprintf(m->id, sizeof m->id, "%s", cmd->id);
    m->deadline_ms = mono_ms() + (wait + 2000 < MEASURE_WAIT_MS ? wait + 2000 : MEASURE_WAIT_MS);
    char what[120];
    snprintf(what, sizeof what, "measuring %zu points", m->nwanted);
    log_info("uplink", u->cu->name, "command '%s': %s", cmd->id, what);
    record(u, cmd, cmd->id, 1, received_ms, "done: measure asked");
}

static int gather_measured(void *arg, uint64_t seq, const struct reading *r)
{
    struct uplink *u = arg;
    struct measure_job *m = &u->cmd->m;
    if (r->point >= m->nwant || m->want[r->point] != 1 || r->ts_ms < m->t0_ms - 1000)
        return 0;
    const struct conf_device *d;
    const struct conf_point *p = uplink_format_point(&u->fmt, r->point, &d);
    if (!p)
        return 0;
    m->want[r->point] = 2;      /* found: the first reading after the command */
    m->seqs[m->found] = seq;
    m->r[m->found++] = (struct wire_reading){ seq, p->tag, d->name, conf_point_unit(p), *r };
    return m->found == m->nwanted;
}

static size_t measure_work(struct uplink *u)
{
    struct uplink_commands *k = u->cmd;
    struct measure_job *m = &k->m;
    if (!m->active)
        return 0;
    uint64_t next = writer_next_seq(u->writer);
    if (next > m->from_seq && m->found < m->nwanted) {
        store_scan(u->store, m->from_seq, (size_t)(next - m->from_seq), gather_measured, u);
        m->from_seq = next;
    }
    int complete = m->found == m->nwanted;
    if (!complete && mono_ms() < m->deadline_ms)
        return 0;
    size_t sent = 0;
    if (m->found) {
        char topic[256];
        char *body = uplink_format_realtime(&u->fmt, m->r, m->found, 0, m->id, 1, wall_ms(),
                                            topic, sizeof topic);
        if (body)
            window_send_untracked(u, MK_REALTIME, topic, body, 1, 0);
        sent = 1;
    }
    cJSON *res = cJSON_CreateObject();
    cJSON *seqs = cJSON_AddArrayToObject(res, "seqs");
    for (size_t i = 0; i < m->found; i++)
        cJSON_AddItemToArray(seqs, cJSON_CreateNumber((double)m->seqs[i]));
    cJSON_AddNumberToObject(res, "readings", (double)m->found);
    struct command cmd = { .kind = COMMAND_MEASURE };
    snprintf(cmd.id, sizeof cmd.id, "%s", m->id);
    if (!complete)
        cJSON_AddNumberToObject(res, "not_read", (double)(m->nwanted - m->found));
    log_info("uplink", u->cu->name, "command '%s': measured %zu of %zu points", m->id, m->found,
             m->nwanted);
    reply(u, &cmd, m->id, 1, NULL, res);
    measure_end(m);
    return sent;
}

/* ---- clock ---- */

static void clock_check(struct uplink *u, const struct command *cmd, int64_t received_ms)
{
    struct uplink_commands *k = u->cmd;
    int64_t now = wall_ms(), offset = now - cmd->ts_ms;
    int beyond = (offset < 0 ? -offset : offset) > u->cu->clock_tolerance_ms;
    if (!k->clock_point && store_point_id(u->store, CLOCK_TAG, "agent", "ms", &k->clock_point) != 0)
        log_error("uplink", u->cu->name, "commands: cannot register the clock alarm's point: %s",
                  store_errmsg(u->store));
    if (k->clock_point && beyond != k->clock_alarm) {
        struct alarm_event ev = { .point = k->clock_point, .level = ALARM_HI, .raised = (uint8_t)beyond,
                                  .ts_ms = now, .value = (double)offset,
                                  .threshold = (double)u->cu->clock_tolerance_ms };
        if (writer_submit_alarms(u->writer, &ev, 1) == 0)
            k->clock_alarm = beyond;
        log_warn("uplink", u->cu->name, "the gateway's clock is %lld ms %s the platform's: clock "
                 "alarm %s", (long long)(offset < 0 ? -offset : offset), offset < 0 ? "behind" : "ahead of",
                 beyond ? "raised" : "cleared");
    }
    char t[40];
    command_time_format(now, u->site.tz_minutes, t, sizeof t);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "gateway_time", t);
    cJSON_AddNumberToObject(res, "offset_ms", (double)offset);
    cJSON_AddBoolToObject(res, "clock_alarm", beyond);
    char what[80];
    snprintf(what, sizeof what, "clock offset %lld ms", (long long)offset);
    done(u, cmd, received_ms, what, res);
}

/* ---- one command ---- */

static int rate_allows(struct uplink *u, int64_t now)
{
    struct uplink_commands *k = u->cmd;
    double rate = u->cu->command_rate;     /* a minute */
    k->tokens += rate * (double)(now - k->tokens_at) / 60000.0;
    k->tokens_at = now;
    if (k->tokens > rate)
        k->tokens = rate;
    if (k->tokens < 1)
        return 0;
    k->tokens -= 1;
    return 1;
}

static void handle(struct uplink *u, struct inbox_msg *in)
{
    struct uplink_commands *k = u->cmd;
    int64_t now = mono_ms();
    if (!rate_allows(u, now)) {
        /* A flood: counted and recorded, one reply a second at most, so that
         * refusing costs the platform's broker no more than the flood did. */
        pthread_mutex_lock(&u->lock);
        u->st.commands_refused++;
        u->st.commands_limited++;
        pthread_mutex_unlock(&u->lock);
        struct store_command rec = { u->cu->name, "", 0, in->received_ms, 0, NULL,
                                     "refused: over command_rate" };
        store_command_record(u->store, &rec);
        if (now - k->limited_reply_at >= 1000) {
            k->limited_reply_at = now;
            log_warn("uplink", u->cu->name, "commands: more than %u a minute: refused",
                     u->cu->command_rate);
            reply(u, NULL, NULL, 0, "too many commands: more than command_rate a minute", NULL);
        }
        return;
    }
    struct command cmd;
    char why[300];
    enum command_verdict v = command_parse(in->payload, in->len, &k->key, in->received_ms,
                                           u->cu->command_skew_ms, u->cu->resend_max_ms, &cmd,
                                           why, sizeof why);
    if (v != COMMAND_OK) {
        /* Nothing of an unverified command is trusted: its id only names the refusal. */
        refuse(u, NULL, cmd.id[0] ? cmd.id : NULL, 0, in->received_ms, why);
        command_free(&cmd);
        return;
    }
    int seen = store_command_seen(u->store, u->cu->name, cmd.id);
    if (seen != 0) {
        refuse(u, &cmd, cmd.id, 0, in->received_ms,
               seen > 0 ? "replayed: this id was already received" : "the replay window cannot be read");
        command_free(&cmd);
        return;
    }
    switch (cmd.kind) {
    case COMMAND_RESEND:
        start_resend(u, &cmd, in->received_ms);
        break;
    case COMMAND_MEASURE:
        start_measure(u, &cmd, in->received_ms);
        break;
    case COMMAND_CLOCK:
        clock_check(u, &cmd, in->received_ms);
        break;
    case COMMAND_STATUS:
        if (k->hooks.status_now)
            k->hooks.status_now(k->hooks.arg);
        done(u, &cmd, in->received_ms, "status published", NULL);
        break;
    case COMMAND_NONE:      /* command_parse never says OK without a kind */
        break;
    case COMMAND_POINTS: {
        char topic[256];
        char *body = uplink_format_points(&u->fmt, wall_ms(), topic, sizeof topic);
        if (body)
            window_send_untracked(u, MK_POINTS, topic, body, 1, 1);
        cJSON *res = cJSON_CreateObject();
        cJSON_AddBoolToObject(res, "published", body != NULL);
        if (!body)
            cJSON_AddStringToObject(res, "why", "this uplink's profile has no point list");
        done(u, &cmd, in->received_ms, body ? "points published" : "no point list in this profile",
             res);
        break;
    }
    }
    command_free(&cmd);
}

size_t commands_work(struct uplink *u, size_t allowance, size_t window)
{
    struct uplink_commands *k = u->cmd;
    if (!k)
        return 0;
    pthread_mutex_lock(&u->lock);
    int connected = u->connected;
    pthread_mutex_unlock(&u->lock);
    size_t sent = 0;
    while (connected) {
        struct inbox_msg in;
        pthread_mutex_lock(&u->lock);
        int some = k->ninbox > 0;
        if (some) {
            in = k->inbox[0];
            memmove(k->inbox, k->inbox + 1, --k->ninbox * sizeof *k->inbox);
        }
        pthread_mutex_unlock(&u->lock);
        if (!some)
            break;
        handle(u, &in);
        free(in.payload);
        sent++;
    }
    sent += measure_work(u);
    if (connected)
        sent += resend_work(u, allowance, window);
    if (k->job.active || k->reported) {     /* for the status: no lock on an idle turn */
        pthread_mutex_lock(&u->lock);
        u->st.resending = k->job.active;
        u->st.resend_pos = k->job.pos;
        u->st.resend_end = k->job.end;
        pthread_mutex_unlock(&u->lock);
        k->reported = k->job.active;
    }
    int64_t now = mono_ms();
    if (now - k->pruned_at > 3600 * 1000) {
        k->pruned_at = now;
        store_command_prune(u->store, wall_ms() - RECORD_KEEP_MS);
    }
    return sent;
}

/* Send SIGUSR2 to ourselves: the main loop reports the status at once. */
void uplink_status_signal(void *arg)
{
    (void)arg;
    kill(getpid(), SIGUSR2);
}
