/* device: one configured Modbus device: its link, its read plan, and one poll
 * turning registers into readings with quality. Shared by the agent and the CLI. */
#ifndef GANZHI_DEVICE_H
#define GANZHI_DEVICE_H

#include <stdatomic.h>
#include <stdint.h>
#include "agent/conf.h"
#include "core/reading.h"
#include "drivers/mb_link.h"
#include "drivers/mb_plan.h"

/* Figures for status; written by the polling thread, read by anyone. */
struct device_stats {
    atomic_uint_fast64_t requests, ok, err_comm, err_exception, err_reply;
    atomic_int_fast64_t last_rtt_us;
    atomic_int link_up;         /* the last poll got answers */
    atomic_int last_exception;  /* code of the last exception reply */
    atomic_uint_fast64_t splits; /* merged reads the device refused and we split */
    atomic_int quarantined;     /* not answering: polled only on backoff probes */
};

struct device {
    const struct conf_device *conf;
    struct mb_link *link;       /* a serial bus's link is shared by its devices */
    int owns_link;
    const char *bus;            /* its bus's description, set by the poller */
    struct mb_plan plan;
    uint32_t *point_ids;        /* store ids, one per conf point (0 without a store) */
    int8_t *scale_pow10;        /* k when scale == 10^-k exactly (k in 1..6), else 0 */
    uint16_t regs[125];
    uint8_t bits[2000];
    char last_error[200];
    struct device_stats stats;
};

/* The link parameters of c's bus (transport, address, line, timing); the
 * target unit and timeout are c's. */
void device_link_params(const struct conf_device *c, struct mb_link_params *p);

/* link: the bus's shared link, or NULL for a device with its own. */
int device_init(struct device *d, const struct conf_device *c, struct mb_link *link,
                char *err, size_t errlen);
void device_fini(struct device *d);

/* Read every point once. out[i] is conf->points[i]'s reading (point id from
 * point_ids); sample times are taken as each request is answered. Returns 1 if
 * the device answered nothing (it is failing: back off), else 0. */
int device_poll(struct device *d, struct reading *out);

/* Engineering value of a raw value for point i: raw * scale + offset, computed so
 * that decimal scales (0.1, 0.001) give the shortest decimal double. */
double device_engineering(const struct device *d, size_t i, double raw);

#endif
