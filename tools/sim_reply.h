/* sim_reply: the simulator's answer to one whole request, TCP or RTU: the reply libmodbus builds, then the misbehaviour in force applied to it. */
#ifndef GANZHI_SIM_REPLY_H
#define GANZHI_SIM_REPLY_H

#include "tools/sim_farm.h"
#include "tools/sim_fault.h"
#include "tools/sim_stats.h"
#include <stddef.h>
#include <stdint.h>

#define SIM_ADU_MAX 260     /* MODBUS_TCP_MAX_ADU_LENGTH; an RTU ADU is at most 256 */

enum sim_mode { SIM_TCP, SIM_RTU };

struct sim_reply_options {
    enum sim_mode mode;
    const int *units;       /* unit ids served, 1..247, at least one */
    unsigned nunits;
    uint64_t seed;          /* which replies are spoiled, and the noise, repeat per seed */
};

/* An answer to send: len 0 for none. */
struct sim_answer {
    size_t len;
    double delay_s;         /* send this long after the request ended */
    uint8_t adu[SIM_ADU_MAX];
};

struct sim_reply;

/* Returns 0, or -1 with errno set. The farm must outlive the builder. */
int sim_reply_open(const struct sim_reply_options *opt, struct sim_farm *farm,
                   struct sim_reply **out);
/* Accepts NULL. */
void sim_reply_close(struct sim_reply *r);

/* The directives in force (to be replaced by the control file) and the counters. */
struct sim_faults *sim_reply_faults(struct sim_reply *r);
struct sim_stats *sim_reply_stats(struct sim_reply *r);
/* Print the counters of the units served (see sim_stats_print). */
void sim_reply_print_stats(const struct sim_reply *r, FILE *out);

/* Answer one whole request: TCP, an MBAP header and a PDU; RTU, unit, PDU and a CRC
 * already checked. Requests for units not served are counted and not answered (TCP
 * answers 0 and 255 as the first unit served; RTU executes unit 0, a broadcast, and
 * never answers it). Returns 0, or -1 with errno on an internal failure. */
int sim_reply_answer(struct sim_reply *r, const uint8_t *adu, size_t len, struct sim_answer *a);

/* 1 when requests for this unit id are answered (TCP: 0 and 255 too, as the first unit). */
int sim_reply_serves(const struct sim_reply *r, int unit);

/* An exception reply to the request adu (in the builder's framing) with any code, e.g.
 * a gateway's 0x0A or 0x0B. Returns its length (at most 9). Not counted. */
size_t sim_reply_exception(const struct sim_reply *r, const uint8_t *adu, int code,
                           uint8_t *out);

/* The builder's random stream, for decisions that repeat per seed: 1 with a chance of
 * pct in 100 (0 never draws), and a raw draw. */
int sim_reply_chance(struct sim_reply *r, unsigned pct);
uint64_t sim_reply_random(struct sim_reply *r);

/* Noise on the line after a request frame, as the `garbage` directive asks: 0 (none),
 * or the number of random bytes written to buf (at most cap). Counted. */
size_t sim_reply_noise(struct sim_reply *r, uint8_t *buf, size_t cap);

/* Modbus CRC-16 (poly 0xA001, init 0xFFFF); sent low byte first. */
uint16_t sim_crc16(const uint8_t *p, size_t n);

/* Length a request's PDU must have, judged from its first len bytes: the length, 0 when
 * the function code does not tell (unknown function), or SIZE_MAX when more bytes are
 * needed to tell (multiple writes before their byte count). */
size_t sim_pdu_length(const uint8_t *pdu, size_t len);

#endif
