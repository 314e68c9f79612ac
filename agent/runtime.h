/* runtime: every component of a running agent for one configuration (store,
 * writer, pollers, uplinks), started and stopped together so a reload can build
 * the new set only after the new configuration parsed cleanly. */
#ifndef GANZHI_RUNTIME_H
#define GANZHI_RUNTIME_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include "agent/conf.h"

struct runtime;

/* Start everything for c (which the runtime keeps and frees). NULL with a reason. */
struct runtime *runtime_start(struct conf *c, char *err, size_t errlen);
/* Stop pollers, flush the store, persist cursors, disconnect; frees the conf. */
void runtime_stop(struct runtime *rt);
/* Build the status report; publish it to every uplink and write status.json. */
void runtime_report(struct runtime *rt, int64_t uptime_ms);
const struct conf *runtime_conf(const struct runtime *rt);

#endif
