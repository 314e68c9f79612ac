/* mb_point: where a point lives in a Modbus device and how its registers are laid out. */
#ifndef GANZHI_MB_POINT_H
#define GANZHI_MB_POINT_H

#include <stdint.h>

/* The enums are one byte each (packed: gcc and clang), so that struct mb_addr,
 * held once per configured point, takes 8 bytes rather than 16. */
enum __attribute__((packed)) mb_area { MB_COIL, MB_DISCRETE, MB_INPUT, MB_HOLDING };

enum __attribute__((packed)) mb_type {
    MB_BOOL, MB_BIT, MB_INT16, MB_UINT16, MB_INT32, MB_UINT32,
    MB_INT64, MB_UINT64, MB_FLOAT32, MB_FLOAT64
};

/*
 * Byte and word order of multi-register values. The value's bytes, most significant
 * first, are A B C D (32-bit) or A..H (64-bit). Two independent choices describe every
 * layout seen in the field:
 *   word order  big (first register holds the most significant word) or little;
 *   byte order  within each 16-bit register, big (Modbus standard) or swapped.
 *   ABCD  big words,    big bytes      64-bit: AB CD EF GH
 *   CDAB  little words, big bytes      64-bit: GH EF CD AB
 *   BADC  big words,    swapped bytes  64-bit: BA DC FE HG
 *   DCBA  little words, swapped bytes  64-bit: HG FE DC BA
 * For 16-bit types only the byte choice applies (BADC and DCBA swap the two bytes).
 */
enum __attribute__((packed)) mb_order { MB_ABCD, MB_CDAB, MB_BADC, MB_DCBA };

struct mb_addr {
    enum mb_area area;
    enum mb_type type;
    enum mb_order order;
    uint16_t address;   /* 0-based protocol address */
    uint8_t bit;        /* for MB_BIT: bit 0..15 of the register */
};

/* Registers (or bits, for coil/discrete areas) the point occupies. */
unsigned mb_width(const struct mb_addr *a);
int mb_is_bit_area(enum mb_area area);

const char *mb_area_name(enum mb_area area);
const char *mb_type_name(enum mb_type type);
const char *mb_order_name(enum mb_order order);
/* Parse names as written in point tables; 0 on success, -1 if unknown. */
int mb_area_parse(const char *s, enum mb_area *out);
int mb_type_parse(const char *s, enum mb_type *type, uint8_t *bit);
int mb_order_parse(const char *s, enum mb_order *out);

#endif
