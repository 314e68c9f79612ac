/* mb_frame: the bytes of Modbus frames, without any I/O: the CRC-16 of RTU, the
 * length of a reply from its first bytes, and the MBAP header of Modbus TCP. */
#ifndef GANZHI_MB_FRAME_H
#define GANZHI_MB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define MB_PDU_MAX  253     /* function code and data */
#define MB_RTU_MAX  256     /* unit, PDU, CRC */
#define MB_MBAP_LEN 7       /* transaction, protocol, length, unit */

uint16_t mb_crc16(const uint8_t *b, size_t n);

/* 1 when b[0..n) ends with the CRC of what precedes it. */
int mb_rtu_crc_ok(const uint8_t *b, size_t n);

/* Append the CRC to an RTU frame of n bytes (room for n + 2); returns n + 2. */
size_t mb_rtu_seal(uint8_t *b, size_t n);

/* The whole length of the RTU reply starting at b (unit id first) from the
 * bytes seen so far: 0 while more are needed to tell, -1 when no reply of a
 * function we send can start like this. */
int mb_rtu_reply_length(const uint8_t *b, size_t have);

#endif
