/* validate: does a captured message follow a profile? For `ganzhi validate
 * --profile NAME [--kind KIND] FILE|-` and for the tests. Pure: bytes in, report out.
 *
 * JSON profiles are parsed with cJSON and checked against the profile's table
 * (with its overrides): every field present that must be, of its type, no field
 * the profile does not know, times in the profile's format, ids of their shape
 * (dataId 32 lowercase hex, districtCode 6 or 4 digits), codes among the
 * profile's (status, alarm level, alarm state, link state). The coal text records
 * are checked against their grammar: header and records ended by ~, fields by ;,
 * the file end ||, field counts, times, numbers, the status bit set, abnormal kind
 * codes, MN/KG, point codes that start with the mine code. Every message must be
 * UTF-8 (the charset Ganzhi writes).
 */
#ifndef GANZHI_VALIDATE_H
#define GANZHI_VALIDATE_H

#include <stddef.h>
#include "proto/profile.h"

/* 0 if msg (len bytes) is a valid `kind` message of the profile, else the number
 * of problems found, each described on one line of report ("data[2].dataTime:
 * '2026-13-01 10:00:00' is not a valid date and time"); the report is cut with
 * "..." if it does not fit. -1 on bad arguments. */
int profile_validate(const struct profile *p, enum message_kind kind, const char *msg, size_t len,
                     char *report, size_t reportlen);

/* 0 if s (n bytes) is well-formed UTF-8 without NUL bytes, else -1 and the offset
 * of the first bad byte in *at. */
int validate_utf8(const char *s, size_t n, size_t *at);

#endif
