/* command: the platform's commands to the gateway and the gateway's replies, as
 * bytes: parsed, checked and signed here, acted on by the agent (agent/). Pure:
 * no I/O and no clock (the caller passes `now`).
 *
 * A command is the whole MQTT payload on {topic_prefix}/command, UTF-8, at most
 * COMMAND_MAX_BYTES (checked before anything is parsed):
 *
 *     {"command":OBJECT,"sign":"HEX"}
 *     `-- 11 bytes -'      `-- ,"sign":" + 64 hex digits (any case) + "} --'
 *
 * with no other byte, no whitespace, outside OBJECT. HEX is the HMAC
 * (command_sign: HMAC-SHA256 or HMAC-SM3) of exactly the bytes of OBJECT with the
 * uplink's command key: the platform signs what it sends, the gateway checks what
 * it got, and neither re-serialises JSON. OBJECT:
 *
 *     {"id":"...",            1..64 printable ASCII characters, unique per command
 *      "cmd":"resend",        resend | measure | clock | status | points
 *      "ts":"...",            the platform's time: 2026-11-30T08:00:00+08:00, ...Z,
 *                             fractions allowed; or 20261130080000+0800 / +08:00 / Z
 *      "args":{...}}          optional for clock, status and points (and then empty)
 *
 *     resend   {"from":T,"to":T[,"tags":[..] | ,"devices":[..]]}  or
 *              {"seq_from":N,"seq_to":N}
 *     measure  {"tags":[..]} or {"devices":[..]}
 *
 * Fields appear once each; any other field is refused. A reply is the whole
 * payload on {topic_prefix}/reply, signed the same way with the same key (the
 * signature in lower case):
 *
 *     {"reply":{"id":"..." or null,"cmd":"..." or null,"ok":true|false,
 *               "ts":"2026-11-30T08:00:01.250+08:00","gateway":"GW01"
 *               [,"error":"why, in words"] [,the result's fields]},"sign":"HEX"}
 *
 * What is not checked here, because it needs the agent's state: an id seen
 * before, the rate limit, whether the tags and devices exist. */
#ifndef GANZHI_COMMAND_H
#define GANZHI_COMMAND_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "proto/mac.h"

#define COMMAND_MAX_BYTES       4096        /* a command payload, whole */
#define COMMAND_REPLY_MAX_BYTES (1 << 20)   /* a reply payload, whole (measure's seqs) */
#define COMMAND_ID_MAX          64          /* characters of an id */
#define COMMAND_NAMES_MAX       1000        /* entries of tags or devices */
#define COMMAND_NAME_BYTES      255         /* bytes of one tag or device */
#define COMMAND_SEQ_SPAN_MAX    10000000    /* seq_to - seq_from, at most */

/* The key commands and replies are signed with. */
struct command_key {
    enum mac_alg alg;
    const unsigned char *key;
    size_t len;
};

enum command_kind { COMMAND_NONE, COMMAND_RESEND, COMMAND_MEASURE, COMMAND_CLOCK,
                    COMMAND_STATUS, COMMAND_POINTS };

enum command_verdict {
    COMMAND_OK,
    COMMAND_TOO_BIG,        /* over COMMAND_MAX_BYTES: not looked at */
    COMMAND_MALFORMED,      /* not the envelope, not JSON, id/cmd/ts missing or wrong */
    COMMAND_BAD_SIGNATURE,  /* nothing in it is to be trusted but the id, to echo */
    COMMAND_EXPIRED,        /* ts further than the skew from now */
    COMMAND_BAD_ARGS,       /* args malformed, out of bounds, unknown */
    COMMAND_UNKNOWN_CMD,
    COMMAND_NO_MEMORY,      /* the gateway could not check it: out of memory */
};

/* A window of readings (resend). */
enum command_window { COMMAND_WINDOW_NONE, COMMAND_WINDOW_TIME, COMMAND_WINDOW_SEQ };
/* What names[] holds (resend with a time window, measure). */
enum command_select { COMMAND_SELECT_ALL, COMMAND_SELECT_TAGS, COMMAND_SELECT_DEVICES };

struct command {
    char id[COMMAND_ID_MAX + 1];    /* "" when it could not be read */
    char cmd[16];                   /* cmd as sent when printable and short, else "" */
    enum command_kind kind;
    int64_t ts_ms;                  /* the platform's clock, Unix ms */
    enum command_window window;
    int64_t from_ms, to_ms;         /* COMMAND_WINDOW_TIME */
    uint64_t seq_from, seq_to;      /* COMMAND_WINDOW_SEQ, both included */
    enum command_select select;
    char **names;                   /* nnames tags or devices, NUL-terminated, owned */
    size_t nnames;
};

/* Parse and check one command payload (len bytes, no NUL needed) against key,
 * now_ms (the gateway's clock), skew_ms (command_skew) and resend_max_ms. OUT:
 * *out, to command_free whatever the verdict. OUT: reason, the refusal in words
 * for the reply ("" when COMMAND_OK).
 * Whatever the verdict, out->id is set whenever an id could be read (so that the
 * refusal can name it) and out->cmd likewise; with COMMAND_BAD_SIGNATURE,
 * COMMAND_TOO_BIG, COMMAND_MALFORMED and COMMAND_UNKNOWN_CMD nothing else is
 * set; with COMMAND_EXPIRED (signed, but perhaps a replay) and COMMAND_BAD_ARGS,
 * kind and ts_ms too. Nothing of a command with a bad signature may be trusted:
 * its id is there to be echoed in the refusal, and for nothing else. */
enum command_verdict command_parse(const char *payload, size_t len, const struct command_key *key,
                                   int64_t now_ms, int64_t skew_ms, int64_t resend_max_ms,
                                   struct command *out, char *reason, size_t reasonlen);
/* The same checks but the signature's, which is neither needed nor looked at
 * (for `ganzhi validate` without the key; never for acting on a command). */
enum command_verdict command_inspect(const char *payload, size_t len, int64_t now_ms,
                                     int64_t skew_ms, int64_t resend_max_ms,
                                     struct command *out, char *reason, size_t reasonlen);
/* Free what command_parse allocated in c (not c). NULL is fine. */
void command_free(struct command *c);

/* A signed reply payload, malloc'd, not NUL-terminated beyond *len (it is, in
 * fact, NUL-terminated). id NULL or "": "id":null; cmd_name likewise; error when
 * refused (ignored when ok); result NULL, or an object whose fields are copied in
 * after the others (any named id, cmd, ok, ts, gateway or error is left out); it
 * is not consumed. ts is now_ms in the zone tz_minutes east of UTC. NULL when out
 * of memory or the MAC is not available. */
char *command_reply(const struct command_key *key, const char *id, const char *cmd_name, int ok,
                    const char *error, const cJSON *result, int64_t now_ms, int tz_minutes,
                    const char *gateway_code, size_t *len);

/* {"command":OBJECT,"sign":"HEX"} for object_json as it is (not checked: tests
 * make bad ones with it). malloc'd and NUL-terminated, length in *len; NULL when
 * out of memory or the MAC is not available. */
char *command_build(const struct command_key *key, const char *object_json, size_t *len);

/* Check a reply payload: the envelope, the object's fields, and with key (NULL:
 * not checked) the signature. OUT: *object (when object is not NULL), the reply
 * object parsed whenever it parses, whatever the verdict (cJSON_Delete it; with a
 * bad signature it is for showing only). COMMAND_OK, COMMAND_TOO_BIG,
 * COMMAND_MALFORMED or COMMAND_BAD_SIGNATURE, with the reason. */
enum command_verdict command_verify_reply(const char *payload, size_t len,
                                          const struct command_key *key, cJSON **object,
                                          char *reason, size_t reasonlen);

/* A command's time (ts, from, to) as Unix ms: yyyy-MM-ddTHH:mm:ss[.fraction]
 * then Z or +HH:MM (RFC 3339; t and z may be lower case), or yyyyMMddHHmmss then
 * Z, +HHMM or +HH:MM. 0, or -1. */
int command_time_parse(const char *s, size_t n, int64_t *ms);

/* "resend", ..., NULL for COMMAND_NONE; and back (COMMAND_NONE when unknown). */
const char *command_kind_name(enum command_kind k);
enum command_kind command_kind_parse(const char *s);
/* "ok", "too_big", "malformed", "bad_signature", "expired", "bad_args", "unknown_cmd",
 * "no_memory". */
const char *command_verdict_name(enum command_verdict v);

#endif
