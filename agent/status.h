/* status: what the agent reports about itself, as typed figures: uptime,
 * version, every device's link, round trip and error counts, every uplink's
 * backlog and losses, the store queue. Collected once per report; rendered to
 * JSON only at the edges (data_dir/status.json, the generic /status message),
 * and read field by field by the profiles' status messages. */
#ifndef GANZHI_STATUS_H
#define GANZHI_STATUS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/device.h"
#include "agent/poller.h"
#include "agent/uplink.h"
#include "agent/writer.h"
#include "proto/profile.h"

struct device_status {
    const char *name;
    enum wire_link_state link;  /* unknown until the first request */
    double rtt_ms;
    uint64_t requests, errors_comm, errors_exception, errors_reply, reads_split;
    int last_exception;
    int quarantined;
    size_t reads_per_poll;
    const char *bus;            /* the link's description: "rtu-tcp 10.0.0.7:4001" */
};

/* A bus's link: who shares it and what went wrong on it. */
struct link_report {
    const char *describe;
    size_t devices;
    int open;
    uint64_t connects, disconnects, timeouts, crc_errors, bad_replies, foreign, echoes,
        heartbeats, drained_bytes;
};

struct uplink_status {
    const char *name;
    struct uplink_stats st;
};

struct agent_status {
    int64_t uptime_s;
    const char *version;
    struct device_status *devices;
    size_t ndevices;
    struct link_report *links;
    size_t nlinks;
    struct listener_status *listeners;  /* DTU listeners */
    size_t nlisteners;
    struct uplink_status *uplinks;
    size_t nuplinks;
    struct writer_stats store;
    uint64_t next_seq;
};

/* Take the figures now. 0, or -1 out of memory (s then holds nothing to free). */
int status_collect(struct agent_status *s, int64_t uptime_ms, struct poller *pl,
                   struct uplink *const *ups, const char *const *up_names, size_t nups,
                   struct writer *w);
void status_release(struct agent_status *s);

/* The JSON document (CONTRACT.md: status.json and the generic /status body). */
cJSON *status_json(const struct agent_status *s);

/* Write the JSON to dir/status.json atomically (temporary file, fsync, rename). */
int status_write_file(const char *dir, const struct agent_status *s);

#endif
