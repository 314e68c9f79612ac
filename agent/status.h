/* status: what the agent reports about itself: uptime, version, every device's
 * link, round trip and error counts, every uplink's backlog and losses, the
 * store queue. Published on /status and written to data_dir/status.json. */
#ifndef GANZHI_STATUS_H
#define GANZHI_STATUS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/device.h"
#include "agent/uplink.h"
#include "agent/writer.h"

cJSON *status_build(int64_t uptime_ms, struct device *const *devs, size_t ndevs,
                    struct uplink *const *ups, const char *const *up_names, size_t nups,
                    struct writer *w);

/* Write the JSON to dir/status.json atomically (temporary file, fsync, rename). */
int status_write_file(const char *dir, const cJSON *status);

#endif
