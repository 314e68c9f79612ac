/* mb_decode: raw registers and bits to numbers and back; pure, no I/O. */
#ifndef GANZHI_MB_DECODE_H
#define GANZHI_MB_DECODE_H

#include <stdint.h>
#include "drivers/mb_point.h"

/*
 * Decode the raw value of a point from the registers starting at its address
 * (regs[0] is the register at a->address), as libmodbus returns them (host order
 * integers holding the wire's big-endian pair of bytes). 64-bit integers beyond
 * 2^53 lose precision in the double. Returns 0, or -1 when the value is not a
 * number (a NaN or infinite float: the caller marks it sensor_fault).
 */
int mb_decode_regs(const struct mb_addr *a, const uint16_t *regs, double *out);

/* Encode a raw value into the registers of a point: the exact inverse of
 * mb_decode_regs (integers are rounded and clamped to the type's range). For
 * MB_BIT only the point's bit of regs[0] is changed. */
void mb_encode_regs(const struct mb_addr *a, double raw, uint16_t *regs);

#endif
