/* conf_pool: the text of a device's point table (tags, names, units, the other
 * columns) in a few large blocks rather than a malloc per string: 50,000 points
 * made 100,000 allocations of a dozen bytes in 32-byte chunks. Freed whole,
 * with the configuration. */
#ifndef GANZHI_CONF_POOL_H
#define GANZHI_CONF_POOL_H

#include <stddef.h>

struct conf_pool;

/* size bytes aligned to align (a power of two, at most 16) from *pool, which
 * starts NULL and grows a block at a time. NULL when out of memory. */
void *conf_pool_alloc(struct conf_pool **pool, size_t size, size_t align);
char *conf_pool_strdup(struct conf_pool **pool, const char *s);
void conf_pool_free(struct conf_pool *pool);

#endif
