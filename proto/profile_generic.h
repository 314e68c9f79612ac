/* profile_generic: the plain JSON profile fixed by CONTRACT.md ("On the wire"):
 *
 *   {"enterprise":"220102000001","gateway":"GW01","resend":false,
 *    "readings":[{"seq":1207,"tag":"LT-101","device":"tank_plc","value":3.215,"unit":"m",
 *                 "quality":"good","ts":"2026-11-29T10:30:00.000+08:00"}]}
 *
 * A reading without a value (comm_fail, exception) has "value":null; an exception
 * reading also carries the device's Modbus exception code, "exception":2, before "ts".
 * Readings a platform asked for by a command carry its id after "resend":
 * "command_id":"c-1" (a resend command: "resend":true), and those of a measure
 * command "on_demand":true before it.
 */
#ifndef GANZHI_PROFILE_GENERIC_H
#define GANZHI_PROFILE_GENERIC_H

#include <cjson/cJSON.h>
#include "proto/wire.h"

/* Realtime message; malloc'd, NUL-terminated; NULL on allocation failure. */
char *generic_realtime(const struct wire_site *site, const struct wire_reading *r, size_t n,
                       int resend, const char *command_id, int on_demand);
/* Alarm message (CONTRACT.md: tag, level, state, value, threshold and time):
 *   {"enterprise":"..","gateway":"..","alarms":[{"id":3,"tag":"LT-101","device":"tank_plc",
 *    "level":"hihi","state":"raised","value":9.31,"threshold":9.2,"unit":"m","ts":".."}]}
 * A communication alarm ("comm") has "value":null and "threshold":null. */
char *generic_alarm(const struct wire_site *site, const struct wire_alarm *a, size_t n);

/* Status message wrapping the agent's figures (`body` is not consumed). */
char *generic_status(const struct wire_site *site, int64_t now_ms, const cJSON *body);

#endif
