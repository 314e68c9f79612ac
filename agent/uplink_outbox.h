/* uplink_outbox: the outbox transport: an uplink that is a folder (url =
 * file:///DIR). Mines whose existing pipeline uploads files get each message as
 * a file of the profile's standard name, written so that a collector never sees
 * half a file under its name. A file written is a message delivered. */
#ifndef GANZHI_UPLINK_OUTBOX_H
#define GANZHI_UPLINK_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include "agent/uplink_transport.h"
#include "proto/profile.h"

/* Write body (len bytes) into dir as the file the profile names for a message of
 * this kind at now_ms (p NULL, as for generic: ENTERPRISE_KIND_MS.json); a name
 * taken by a file not yet collected gets a suffix. A temporary name, fsync,
 * rename, fsync of the folder. 0, or -1 with errno. */
int outbox_write(const char *dir, const struct profile *p, const struct wire_site *site,
                 enum message_kind kind, int64_t now_ms, const char *body, size_t len);

/* A transport writing into dir (which must outlive it); file names from p (NULL:
 * generic names) and site. */
struct transport *uplink_outbox_open(const char *name, const char *dir, const struct profile *p,
                                     const struct wire_site *site,
                                     const struct transport_events *ev, char *err, size_t errlen);

#endif
