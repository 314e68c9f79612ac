/* uplink_format: an uplink's messages in its profile: the profile (with the
 * point metadata it reads) chosen at start, then bodies and topics per message.
 * The generic profile is a profile like the others (its topics overridable);
 * only its encoders are its own, fast ones. */
#ifndef GANZHI_UPLINK_FORMAT_H
#define GANZHI_UPLINK_FORMAT_H

#include <stddef.h>
#include "agent/conf.h"
#include "agent/status.h"
#include "agent/store.h"
#include "proto/envelope.h"
#include "proto/profile.h"
#include "proto/wire.h"

struct tailings;

/* A configured point: its device and index in the configuration. */
struct point_loc {
    uint32_t dev, idx;      /* dev UINT32_MAX: not a configured point */
};

struct uplink_format {
    const struct conf *conf;            /* outlives the uplink: names point into it */
    const struct conf_uplink *cu;
    const struct wire_site *site;
    struct profile *profile;
    int generic;                        /* the generic profile: its own fast encoders */
    struct point_loc *loc;              /* by store point id: the configured points */
    size_t nloc;
    size_t *first;                      /* device d's points begin at defs[first[d]] */
    struct wire_kv *kv;
    const struct wire_point_meta **ptrs;    /* per reading of one message */
    size_t nptrs;
    struct wire_point_meta *defs;       /* the configured points, for MK_POINTS */
    size_t ndefs;
    struct tailings *tailings;          /* the items' pseudo points (their metadata) */
    int sealed;                         /* messages go out in an envelope */
    struct envelope_keys keys;
    unsigned char aes[32], hmac[1024];
};

int uplink_format_init(struct uplink_format *f, const struct conf *c,
                       const struct conf_uplink *cu, const struct wire_site *site,
                       struct store *s, char *err, size_t errlen);
void uplink_format_free(struct uplink_format *f);

/* The configured point a store id names, and its device (8 bytes a point: the
 * configuration's own strings); NULL for other ids (pseudo points, points of an
 * earlier configuration still in a backlog). */
const struct conf_point *uplink_format_point(const struct uplink_format *f, uint32_t id,
                                             const struct conf_device **dev);

/* malloc'd bodies (NULL on failure); the topic is written to topic. */
char *uplink_format_realtime(struct uplink_format *f, const struct wire_reading *r, size_t n,
                             int resend, const char *command_id, int on_demand, int64_t now_ms,
                             char *topic, size_t tlen);
char *uplink_format_alarm(struct uplink_format *f, const struct wire_alarm *a,
                          const uint32_t *points, size_t n, int64_t now_ms, char *topic,
                          size_t tlen);
char *uplink_format_status(struct uplink_format *f, const struct agent_status *s,
                           int64_t now_ms, char *topic, size_t tlen);
/* Point definitions (sent on connect); NULL when the profile has none (generic). */
char *uplink_format_points(struct uplink_format *f, int64_t now_ms, char *topic, size_t tlen);

#endif
