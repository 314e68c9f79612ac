/*
 * conf: the agent's configuration, agent.conf (INI) plus the CSV point tables it
 * names, parsed into one fresh structure. A load either succeeds whole or reports
 * every error it found as "FILE:LINE: message" and yields nothing: a running agent
 * never half-applies a configuration.
 */
#ifndef GANZHI_CONF_H
#define GANZHI_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include "core/bytes.h"
#include "drivers/mb_point.h"

struct conf_pool;

struct conf_kv {
    char *key;
    char *value;
};

/* The longest tag (bytes): they go on the wire, and into the store's index. */
#define CONF_TAG_MAX 255

/* A point's alarm settings: few points have any, so they live apart. */
struct conf_limits {
    double lolo, lo, hi, hihi, hysteresis;  /* NAN when absent */
    int64_t delay_ms;       /* alarm on-delay, 0 when absent */
};

/* One per configured point, so laid out without holes (64 bytes): a site may
 * have 50,000. Its text and limits live in the device's pool; its table is the
 * device's (conf_device.table). */
struct conf_point {
    char *tag;              /* unique on the site; then its name and unit: "tag\0name\0unit" */
    struct conf_limits *limits; /* NULL: no alarm setting (conf_point_limits reads NANs) */
    struct conf_kv *meta;   /* the table's other columns, non-empty values only */
    double scale, offset;   /* engineering value = raw * scale + offset */
    double deadband;        /* 0: store every poll */
    struct mb_addr addr;
    int32_t line;           /* in the device's table */
    uint16_t nmeta;
    uint16_t name_at;       /* the name's offset from tag (the unit follows the name) */
};

/* How a device is reached: Modbus TCP (MBAP framing on a socket), Modbus RTU on
 * a serial port, or Modbus RTU framing carried over a TCP socket (a serial
 * device server dialled out to, or a DTU that dials in to the agent). */
enum conf_driver { CONF_MODBUS_TCP, CONF_MODBUS_RTU, CONF_MODBUS_RTU_TCP };
/* modbus-tcp: whether devices on one host:port share one connection and one
 * schedule (shared), or this one has its own connection (own). */
enum conf_link { CONF_LINK_SHARED, CONF_LINK_OWN };
/* modbus-rtu-tcp: whether the link echoes our own requests back (a half-duplex
 * adapter); auto recognises an echo and skips it. */
enum conf_echo { CONF_ECHO_AUTO, CONF_ECHO_ON, CONF_ECHO_OFF };

struct conf_device {
    char *name;
    enum conf_driver driver;
    char *host;             /* modbus-tcp; modbus-rtu-tcp dialling out to a device server */
    int port;               /* with host (502 by default on modbus-tcp); 0 with listen */
    char *listen;           /* modbus-rtu-tcp dialled in: "[ADDR]:PORT" as written */
    char *listen_host;      /* parsed, without brackets: "" when no address was written
                             * (every address) */
    int listen_port;
    char *dtu;              /* modbus-rtu-tcp dialled in: the DTU's registration packet as written */
    uint8_t dtu_id[BYTES_MAX];  /* ... as bytes (core/bytes.h) */
    size_t dtu_id_len;
    char *heartbeat;        /* as written; NULL: the DTU sends none */
    uint8_t heartbeat_bytes[BYTES_MAX];
    size_t heartbeat_len;
    int64_t frame_gap_ms;   /* modbus-rtu-tcp: pause before each request; -1: 3.5 characters
                             * at baud (the driver computes it) */
    enum conf_echo echo;    /* modbus-rtu-tcp */
    enum conf_link link;    /* modbus-tcp */
    char *serial;           /* modbus-rtu: devices naming one port share one bus */
    int baud;               /* modbus-rtu; modbus-rtu-tcp: the serial side behind the bridge */
    char parity;            /* 'N', 'E' or 'O' */
    int data_bits, stop_bits;
    int unit_id;
    int64_t interval_ms, timeout_ms, backoff_max_ms;
    unsigned max_registers, max_bits, max_gap;
    char *points_file;      /* as resolved (relative to the conf file) */
    const char *table;      /* the same, as messages name it: where every point is from */
    struct conf_point *points;
    size_t npoints;
    struct conf_pool *pool;     /* the points' text and alarm settings */
    const char *file;
    int line;
};

struct conf_uplink {
    char *name;
    char **urls;            /* failover order */
    size_t nurls;
    char *profile;
    char *client_id;
    char *ca_file, *cert_file, *key_file;   /* resolved paths, NULL when absent */
    char *username, *password;
    int qos;
    char *topic_prefix;
    double backfill_rate;   /* messages/s while re-uploading, 0 = unlimited */
    unsigned message_readings;  /* readings per realtime message */
    unsigned max_inflight;  /* messages awaiting PUBACK at once */
    unsigned send_queue;    /* messages made ahead, waiting for the window */
    int64_t send_queue_bytes;   /* and their bytes, at most (one message always fits) */
    int64_t max_inflight_bytes; /* bytes awaiting PUBACK, at most (one message always fits) */
    int64_t keepalive_ms, reconnect_max_ms, live_window_ms;
    int64_t connect_timeout_ms, ack_timeout_ms;
    int64_t backfill_delay_ms;  /* the queueing delay a backlog may add (pace.h); 0: unpaced */
    char *app_id;           /* the platform's app id, NULL when absent */
    char *envelope;         /* payload encryption: none, A256GCM, A128CBC, SM4-CBC, SM4-GCM */
    char *envelope_key_file, *sign_key_file;   /* resolved, NULL when absent */
    char *sign_over;        /* what the HMAC covers: wire (the envelope's fields) or body */
    char *sign_alg;         /* HMAC-SHA256 or HMAC-SM3 */
    char *commands;         /* "on": signed commands read from {prefix}/command */
    char *command_key_file; /* resolved, NULL when absent */
    char *command_sign;     /* sha256 or sm3 */
    int64_t command_skew_ms, resend_max_ms, clock_tolerance_ms;
    unsigned command_rate;  /* commands a minute */
    struct conf_kv *overrides;  /* override.KEY = VALUE: the province's variant of the profile */
    int *override_lines;
    size_t noverrides;
    const char *file;
    int line;
};

struct conf_agent {
    char *enterprise_code, *enterprise_name, *gateway_code, *district_code;
    char *data_dir;         /* resolved */
    int wire_tz_minutes;    /* wire_timezone "+08:00" -> 480 */
    char *wire_timezone;    /* as written, normalised "+08:00" */
    int64_t store_max_bytes;
    int64_t retention_ms;
    int64_t status_interval_ms;
    int64_t commit_interval_ms;  /* how long the store gathers readings per transaction */
    unsigned queue_max;     /* readings held in memory between pollers and the store */
    char *log_level;        /* error, warn, info, debug */
    char *points_charset;   /* auto, utf-8, gbk or gb18030: how point tables are read */
    int64_t dtu_register_timeout_ms;    /* how long a dialled-in connection may take to
                                         * send its registration packet */
    unsigned dtu_pending_max;   /* dialled-in connections awaiting registration at once;
                                 * beyond it new ones are refused */
};

struct conf {
    char *path;
    struct conf_agent agent;
    struct conf_device *devices;
    size_t ndevices;
    struct conf_uplink *uplinks;
    size_t nuplinks;
    char **files;           /* every path read, owning the strings `file` points at */
    size_t nfiles;
};

/* Errors found by a load, each "FILE:LINE: message" (or "FILE: message"); and
 * notices, each "FILE: notice: message", about a load that is right but worth
 * knowing (a point table read as GB 18030), in either outcome. */
struct conf_diag {
    char **lines;
    size_t n;
    char **notes;
    size_t nnotes;
};

/* Parse `path` and every point table it names. Returns 0 and *out, or -1 with
 * *out NULL and every error in diag (which the caller frees). */
int conf_load(const char *path, struct conf **out, struct conf_diag *diag);
void conf_free(struct conf *c);
void conf_diag_free(struct conf_diag *d);

const struct conf_device *conf_device_find(const struct conf *c, const char *name);
/* Whether two devices are on one wire, polled as one bus: the same serial port;
 * the same device server (host, any case, and port) or DTU; the same Modbus TCP
 * host:port with link = shared on both. What the checks across devices hold
 * agreeing is exactly what the poller puts on one bus. */
bool conf_same_bus(const struct conf_device *a, const struct conf_device *b);
const struct conf_point *conf_point_find(const struct conf_device *d, const char *tag);
const char *conf_point_meta(const struct conf_point *p, const char *key);
/* The point's name and unit, "" when absent. */
static inline const char *conf_point_name(const struct conf_point *p) { return p->tag + p->name_at; }
const char *conf_point_unit(const struct conf_point *p);
/* The point's alarm settings; all absent (NAN, no delay) when it has none. */
const struct conf_limits *conf_point_limits(const struct conf_point *p);

/* Value parsers shared with the CLI: 0 on success, -1 with a reason in err. */
int conf_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen);
int conf_parse_size(const char *s, int64_t *bytes, char *err, size_t errlen);

/* Print the schema (every key, type, default, range, meaning) as text, for
 * `ganzhi check --keys` and the documentation. */
void conf_schema_print(FILE *f);

/* The same keys as troff (man(7)) for the KEYS part of ganzhi.conf(5):
 * `ganzhi check --keys --man`. */
void conf_schema_print_man(FILE *f);

#endif
