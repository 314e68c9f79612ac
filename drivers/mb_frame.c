/* mb_frame: CRC-16/MODBUS and reply lengths by function code. */
#include "drivers/mb_frame.h"
#include <pthread.h>

/* The table of the reflected polynomial 0xA001, built once: a CRC per byte is a
 * lookup, not eight shifts (a 250-byte reply at 115200 baud is checked often). */
static uint16_t crc_table[256];

static void crc_table_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (uint16_t)((c >> 1) ^ 0xA001) : (uint16_t)(c >> 1);
        crc_table[i] = c;
    }
}

uint16_t mb_crc16(const uint8_t *b, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_table_init);
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++)
        crc = (uint16_t)((crc >> 8) ^ crc_table[(crc ^ b[i]) & 0xFF]);
    return crc;
}

int mb_rtu_crc_ok(const uint8_t *b, size_t n)
{
    if (n < 4)
        return 0;
    uint16_t crc = mb_crc16(b, n - 2);
    return b[n - 2] == (uint8_t)crc && b[n - 1] == (uint8_t)(crc >> 8);
}

size_t mb_rtu_seal(uint8_t *b, size_t n)
{
    uint16_t crc = mb_crc16(b, n);
    b[n] = (uint8_t)crc;
    b[n + 1] = (uint8_t)(crc >> 8);
    return n + 2;
}

int mb_rtu_reply_length(const uint8_t *b, size_t have)
{
    if (have < 2)
        return 0;
    uint8_t fc = b[1];
    if (fc & 0x80)
        return (fc & 0x7F) >= 1 && (fc & 0x7F) <= 0x2B ? 5 : -1;   /* unit, fc, code, CRC */
    switch (fc) {
    case 1: case 2: case 3: case 4: case 0x17:
        if (have < 3)
            return 0;
        /* a read's reply holds at most 250 bytes of data (125 registers, 2000 bits) */
        return b[2] == 0 || b[2] > 250 ? -1 : 5 + b[2];         /* unit, fc, count, data, CRC */
    case 5: case 6: case 15: case 16:
        return 8;                                               /* unit, fc, address, value, CRC */
    default:
        return -1;
    }
}
