/*
 * batch_codec: the compact on-disk form of a batch of readings (one blob per batch
 * row; see store.h). Per reading:
 *
 *   byte   kind (low 4 bits) | quality << 4
 *   varint point id
 *   varint sample time - batch time, ms
 *   value  by kind: 0 none; 1 float32 (4 bytes LE); 2 float64 (8 bytes LE);
 *          3..9 decimal: zigzag varint m, value = m / 10^(kind-3);
 *          10 none, with a Modbus exception code (one byte)
 *
 * Engineering values from scaled integer registers (3.215 m) are short decimals,
 * so most readings take 4-6 bytes instead of a 8-byte double.
 */
#ifndef GANZHI_BATCH_CODEC_H
#define GANZHI_BATCH_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "core/reading.h"

/* Largest encoded size of one reading. */
#define BATCH_CODEC_MAX_READING 24

/* A batch as the store keeps it: a poll's readings encoded (above), about a
 * third of their size in memory, which is what the writer's queue holds. */
struct packed_batch {
    uint64_t seq0;      /* assigned by the store: readings are seq0 .. seq0+n-1 */
    int64_t ts_ms;      /* earliest sample time of the batch: the blob's base */
    uint32_t n;
    uint32_t len;       /* bytes of data */
    uint8_t data[];
};

/* b (malloc'd) encoded in its own memory, shrunk to fit: b is consumed, the
 * packed batch returned in its place. No allocation: a poll of 10,000 points
 * needs no second 240 KB while it is packed. */
struct packed_batch *batch_pack(struct batch *b);

/* Encode n readings relative to base_ts into out (room for n * MAX_READING);
 * returns the bytes written. */
size_t batch_encode(const struct reading *r, uint32_t n, int64_t base_ts, uint8_t *out);

/* Decode one reading at *pos; returns 0, or -1 if the blob is malformed. */
int batch_decode_next(const uint8_t *blob, size_t len, size_t *pos, int64_t base_ts,
                      struct reading *out);

#endif
