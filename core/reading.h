/* reading: one sampled value of one point, as pollers produce and the store keeps. */
#ifndef GANZHI_READING_H
#define GANZHI_READING_H

#include <stdint.h>

/* Quality of a reading (CONTRACT.md "On the wire"). Stored in 4 bits. */
enum quality {
    Q_GOOD, Q_COMM_FAIL, Q_EXCEPTION, Q_OVER_RANGE, Q_SENSOR_FAULT, Q_STALE, Q_CLOCK_UNTRUSTED,
    Q_COUNT
};

/* 24 bytes: the small fields share the point id's word (pollers, the writer's
 * queue and the uplinks' read-ahead hold many). */
struct reading {
    uint32_t point;     /* store point id */
    uint8_t quality;
    uint8_t has_value;  /* comm_fail and exception readings carry none */
    uint8_t code;       /* for Q_EXCEPTION: the Modbus exception code, else 0 */
    int64_t ts_ms;      /* sample time, Unix ms */
    double value;       /* engineering value */
};

/* The readings of one device poll, in the order they were read. */
struct batch {
    uint64_t seq0;      /* assigned by the store: readings are seq0 .. seq0+n-1 */
    int64_t ts_ms;      /* earliest sample time of the batch */
    uint32_t n;
    struct reading r[];
};

const char *quality_name(enum quality q);

#endif
