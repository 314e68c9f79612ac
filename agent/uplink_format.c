/* uplink_format: message bodies and topics in an uplink's profile. */
#include "agent/uplink_format.h"
#include "agent/keyfile.h"
#include "agent/tailings.h"
#include "proto/profile_generic.h"
#include <sys/random.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill_meta(struct wire_point_meta *m, const struct conf_device *d,
                      const struct conf_point *p, struct wire_kv *kv)
{
    for (size_t k = 0; k < p->nmeta; k++)
        kv[k] = (struct wire_kv){ p->meta[k].key, p->meta[k].value };
    const struct conf_limits *l = conf_point_limits(p);
    *m = (struct wire_point_meta){ p->tag, conf_point_name(p), conf_point_unit(p), d->name, kv, p->nmeta,
                                   l->lolo, l->lo, l->hi, l->hihi, l->hysteresis };
}

/* Where each configured point is, by its store id (the poller registered every
 * configured tag before the uplinks start). */
static int locate_points(struct uplink_format *f, struct store *s, char *err, size_t errlen)
{
    const struct conf *c = f->conf;
    size_t top = 0;
    for (size_t d = 0; d < c->ndevices; d++)
        for (size_t i = 0; i < c->devices[d].npoints; i++) {
            const struct conf_point *p = &c->devices[d].points[i];
            uint32_t id;
            if (store_point_id(s, p->tag, c->devices[d].name, conf_point_unit(p), &id) != 0) {
                snprintf(err, errlen, "store: %s", store_errmsg(s));
                return -1;
            }
            if (id >= f->nloc) {
                size_t n = id + 1 > f->nloc * 2 ? id + 1 : f->nloc * 2;
                struct point_loc *nl = realloc(f->loc, n * sizeof *nl);
                if (!nl) {
                    snprintf(err, errlen, "out of memory");
                    return -1;
                }
                for (size_t k = f->nloc; k < n; k++)
                    nl[k].dev = UINT32_MAX;
                f->loc = nl;
                f->nloc = n;
            }
            f->loc[id] = (struct point_loc){ (uint32_t)d, (uint32_t)i };
            top = id + 1 > top ? id + 1 : top;
        }
    if (top < f->nloc) {    /* grown by doubling: give back the rest */
        struct point_loc *nl = realloc(f->loc, top * sizeof *nl);
        if (nl) {
            f->loc = nl;
            f->nloc = top;
        }
    }
    return 0;
}

const struct conf_point *uplink_format_point(const struct uplink_format *f, uint32_t id,
                                             const struct conf_device **dev)
{
    if (id >= f->nloc || f->loc[id].dev == UINT32_MAX)
        return NULL;
    *dev = &f->conf->devices[f->loc[id].dev];
    return &(*dev)->points[f->loc[id].idx];
}

int uplink_format_init(struct uplink_format *f, const struct conf *c,
                       const struct conf_uplink *cu, const struct wire_site *site,
                       struct store *s, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->conf = c;
    f->cu = cu;
    f->site = site;
    /* Keys are read once, from private files (checked again here: they may have
     * changed since the configuration was checked). */
    enum envelope_alg alg = ENVELOPE_NONE;
    if (cu->envelope && envelope_alg_parse(cu->envelope, &alg) != 0)
        alg = ENVELOPE_NONE;
    f->keys.alg = alg;
    f->keys.sign_over = cu->sign_over && !strcmp(cu->sign_over, "body") ? ENVELOPE_SIGN_BODY
                                                                        : ENVELOPE_SIGN_WIRE;
    if (cu->sign_alg && mac_parse(cu->sign_alg, &f->keys.sign_alg) != 0)
        f->keys.sign_alg = MAC_HMAC_SHA256;
    if (alg != ENVELOPE_NONE) {
        if (!cu->envelope_key_file ||
            keyfile_read(cu->envelope_key_file, 1, f->aes, sizeof f->aes, &f->keys.keylen, err,
                         errlen) != 0)
            goto keyfail;
        if (f->keys.keylen != envelope_key_len(alg)) {
            snprintf(err, errlen, "%s: wrong key length for %s", cu->envelope_key_file,
                     cu->envelope);
            goto keyfail;
        }
        f->keys.key = f->aes;
    }
    if (cu->sign_key_file) {
        if (keyfile_read(cu->sign_key_file, 0, f->hmac, sizeof f->hmac, &f->keys.hmac_keylen, err,
                         errlen) != 0)
            goto keyfail;
        f->keys.hmac_key = f->hmac;
    }
    f->sealed = alg != ENVELOPE_NONE || f->keys.hmac_key;
    f->profile = profile_create(cu->profile, err, errlen);
    if (!f->profile)
        goto keyfail;
    /* override.envelope.* is the envelope's (its encoding); the rest the profile's */
    for (size_t i = 0; i < cu->noverrides; i++) {
        const struct conf_kv *o = &cu->overrides[i];
        if ((strncmp(o->key, "envelope.", 9) == 0
                 ? envelope_override(&f->keys, o->key, o->value, err, errlen)
                 : profile_override(f->profile, o->key, o->value, err, errlen)) != 0)
            goto fail;
    }
    /* generic reads no point metadata: its fast encoders take the readings as
     * they are; its topics are the profile's like any other's. */
    if (locate_points(f, s, err, errlen) != 0)
        goto fail;
    f->generic = !strcmp(profile_name(f->profile), "generic");
    if (f->generic)
        return 0;
    size_t npoints = 0, nkv = 0;
    for (size_t d = 0; d < c->ndevices; d++)
        for (size_t i = 0; i < c->devices[d].npoints; i++) {
            npoints++;
            nkv += c->devices[d].points[i].nmeta;
        }
    f->defs = calloc(npoints ? npoints : 1, sizeof *f->defs);
    f->first = calloc(c->ndevices ? c->ndevices : 1, sizeof *f->first);
    f->kv = calloc(nkv ? nkv : 1, sizeof *f->kv);
    f->ptrs = calloc(cu->message_readings, sizeof *f->ptrs);
    f->nptrs = cu->message_readings;
    if (!f->defs || !f->first || !f->kv || !f->ptrs)
        goto oom;
    /* Point metadata in configuration order: a store id finds its point by loc. */
    struct wire_kv *kv = f->kv;
    for (size_t d = 0; d < c->ndevices; d++) {
        f->first[d] = f->ndefs;
        for (size_t i = 0; i < c->devices[d].npoints; i++) {
            const struct conf_point *p = &c->devices[d].points[i];
            fill_meta(&f->defs[f->ndefs++], &c->devices[d], p, kv);
            kv += p->nmeta;
        }
    }
    /* A tailings item's alarms come from its pseudo point "item:NAME" (see
     * agent/tailings): its metadata gives it the item column the profile reads. */
    f->tailings = tailings_create(c, s, err, errlen);
    if (!f->tailings)
        goto fail;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    uplink_format_free(f);
    return -1;
keyfail:
    memset(f->aes, 0, sizeof f->aes);
    memset(f->hmac, 0, sizeof f->hmac);
    return -1;
}

/* Put a body into the envelope, when the uplink asks for one: a fresh random IV,
 * the message id as dataId. Frees body; returns the envelope (NULL on failure). */
static char *seal(struct uplink_format *f, char *body, const char *id)
{
    if (!body || !f->sealed)
        return body;
    unsigned char iv[16];
    size_t ivlen = envelope_iv_len(f->keys.alg);
    if (ivlen && getrandom(iv, ivlen, 0) != (ssize_t)ivlen) {
        free(body);
        return NULL;
    }
    char err[200];
    char *env = envelope_seal(&f->keys, f->cu->app_id ? f->cu->app_id : "", id, iv, ivlen, body,
                              strlen(body), NULL, err, sizeof err);
    free(body);
    return env;
}

void uplink_format_free(struct uplink_format *f)
{
    memset(f->aes, 0, sizeof f->aes);
    memset(f->hmac, 0, sizeof f->hmac);
    profile_free(f->profile);
    free(f->loc);
    free(f->first);
    free(f->kv);
    free(f->ptrs);
    free(f->defs);
    tailings_free(f->tailings);
    memset(f, 0, sizeof *f);
}

static const struct wire_point_meta *meta_of(struct uplink_format *f, uint32_t id)
{
    if (id < f->nloc && f->loc[id].dev != UINT32_MAX)
        return &f->defs[f->first[f->loc[id].dev] + f->loc[id].idx];
    for (size_t k = 0; k < tailings_count(f->tailings); k++) {  /* an item's pseudo point */
        uint32_t item_id;
        const struct wire_point_meta *m = tailings_meta(f->tailings, k, &item_id);
        if (item_id == id)
            return m;
    }
    return NULL;
}

char *uplink_format_realtime(struct uplink_format *f, const struct wire_reading *r, size_t n,
                             int resend, const char *command_id, int on_demand, int64_t now_ms,
                             char *topic, size_t tlen)
{
    char id[33] = "";
    if (profile_topic(f->profile, MK_REALTIME, resend, f->cu->topic_prefix, f->site, topic, tlen))
        return NULL;
    /* generic carries no message id: a hash per message only for an envelope */
    if (!f->generic || f->sealed)
        profile_message_id(f->cu->name, r[0].seq, r[n - 1].seq, id);
    if (f->generic)
        return seal(f, generic_realtime(f->site, r, n, resend, command_id, on_demand), id);
    if (n > f->nptrs)
        n = f->nptrs;
    for (size_t i = 0; i < n; i++)
        f->ptrs[i] = meta_of(f, r[i].r.point);
    struct profile_msg m = { .kind = MK_REALTIME, .site = f->site, .message_id = id,
                             .app_id = f->cu->app_id, .resend = resend, .command_id = command_id,
                             .on_demand = on_demand, .now_ms = now_ms,
                             .readings = r, .meta = f->ptrs, .n = n };
    size_t len;
    return seal(f, profile_encode(f->profile, &m, &len), id);
}

char *uplink_format_alarm(struct uplink_format *f, const struct wire_alarm *a,
                          const uint32_t *points, size_t n, int64_t now_ms, char *topic,
                          size_t tlen)
{
    char name[200], id[33];
    snprintf(name, sizeof name, "%s/alarm", f->cu->name);
    profile_message_id(name, a[0].id, a[n - 1].id, id);
    if (profile_topic(f->profile, MK_ALARM, 0, f->cu->topic_prefix, f->site, topic, tlen))
        return NULL;
    if (f->generic)
        return seal(f, generic_alarm(f->site, a, n), id);
    const struct wire_point_meta *metas[64];
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++)
        metas[i] = meta_of(f, points[i]);
    struct profile_msg m = { .kind = MK_ALARM, .site = f->site, .message_id = id,
                             .app_id = f->cu->app_id, .now_ms = now_ms, .alarms = a,
                             .alarm_meta = metas, .nalarms = n };
    size_t len;
    return seal(f, profile_encode(f->profile, &m, &len), id);
}

char *uplink_format_status(struct uplink_format *f, const struct agent_status *s,
                           int64_t now_ms, char *topic, size_t tlen)
{
    char name[200], id[33];
    snprintf(name, sizeof name, "%s/status", f->cu->name);
    profile_message_id(name, (uint64_t)now_ms, (uint64_t)now_ms, id);
    if (profile_topic(f->profile, MK_STATUS, 0, f->cu->topic_prefix, f->site, topic, tlen))
        return NULL;
    if (f->generic) {   /* the whole document, as status.json has it */
        cJSON *body = status_json(s);
        char *msg = body ? generic_status(f->site, now_ms, body) : NULL;
        cJSON_Delete(body);
        return seal(f, msg, id);
    }
    /* The profile's status: uptime, version and each device's link. */
    struct wire_link links[256];
    size_t nl = s->ndevices < 256 ? s->ndevices : 256;
    for (size_t i = 0; i < nl; i++) {
        const struct device_status *d = &s->devices[i];
        links[i] = (struct wire_link){ d->name, NULL, d->link, d->rtt_ms, d->errors_comm };
    }
    struct wire_status st = { s->uptime_s, s->version, links, nl, NULL };
    struct profile_msg m = { .kind = MK_STATUS, .site = f->site, .message_id = id,
                             .app_id = f->cu->app_id, .now_ms = now_ms, .status = &st };
    size_t len;
    return seal(f, profile_encode(f->profile, &m, &len), id);
}

char *uplink_format_points(struct uplink_format *f, int64_t now_ms, char *topic, size_t tlen)
{
    if (f->generic)
        return NULL;
    char name[200], id[33];
    snprintf(name, sizeof name, "%s/points", f->cu->name);
    profile_message_id(name, (uint64_t)now_ms, f->ndefs, id);
    struct profile_msg m = { .kind = MK_POINTS, .site = f->site, .message_id = id,
                             .app_id = f->cu->app_id, .now_ms = now_ms, .points = f->defs,
                             .npoints = f->ndefs };
    if (profile_topic(f->profile, MK_POINTS, 0, f->cu->topic_prefix, f->site, topic, tlen))
        return NULL;
    size_t len;
    return seal(f, profile_encode(f->profile, &m, &len), id);
}
