/* mb_point: names and widths of Modbus areas, data types and orders. */
#include "drivers/mb_point.h"
#include <stdlib.h>
#include <string.h>

static const char *const area_names[] = { "coil", "discrete", "input", "holding" };
static const char *const type_names[] = { "bool", "bit", "int16", "uint16", "int32", "uint32",
                                          "int64", "uint64", "float32", "float64" };
static const char *const order_names[] = { "ABCD", "CDAB", "BADC", "DCBA" };

int mb_is_bit_area(enum mb_area area)
{
    return area == MB_COIL || area == MB_DISCRETE;
}

unsigned mb_width(const struct mb_addr *a)
{
    switch (a->type) {
    case MB_INT32: case MB_UINT32: case MB_FLOAT32: return 2;
    case MB_INT64: case MB_UINT64: case MB_FLOAT64: return 4;
    default: return 1;
    }
}

const char *mb_area_name(enum mb_area area) { return area_names[area]; }
const char *mb_type_name(enum mb_type type) { return type_names[type]; }
const char *mb_order_name(enum mb_order order) { return order_names[order]; }

static int lookup(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int mb_area_parse(const char *s, enum mb_area *out)
{
    int i = lookup(s, area_names, 4);
    if (i < 0)
        return -1;
    *out = (enum mb_area)i;
    return 0;
}

/* "bit:N" names bit N (0..15) of one register; "bit" alone is not a type. */
int mb_type_parse(const char *s, enum mb_type *type, uint8_t *bit)
{
    *bit = 0;
    if (strncmp(s, "bit:", 4) == 0) {
        const char *d = s + 4;
        char *end;
        if (*d < '0' || *d > '9')
            return -1;
        long n = strtol(d, &end, 10);
        if (*end || n < 0 || n > 15)
            return -1;
        *type = MB_BIT;
        *bit = (uint8_t)n;
        return 0;
    }
    int i = lookup(s, type_names, 10);
    if (i < 0 || i == MB_BIT)
        return -1;
    *type = (enum mb_type)i;
    return 0;
}

int mb_order_parse(const char *s, enum mb_order *out)
{
    int i = lookup(s, order_names, 4);
    if (i < 0)
        return -1;
    *out = (enum mb_order)i;
    return 0;
}
