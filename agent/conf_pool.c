/* conf_pool: a bump allocator in blocks, freed whole. */
#include "agent/conf_pool.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Under glibc's mmap threshold (64 KB in the agent): blocks come from the heap. */
#define POOL_BLOCK (16 * 1024 - 64)

struct conf_pool {
    struct conf_pool *next;     /* the blocks filled before this one */
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *conf_pool_alloc(struct conf_pool **pool, size_t size, size_t align)
{
    struct conf_pool *b = *pool;
    size_t at = b ? (b->used + align - 1) & ~(align - 1) : 0;
    if (!b || at + size > b->cap) {
        size_t cap = size > POOL_BLOCK - sizeof *b ? size : POOL_BLOCK - sizeof *b;
        struct conf_pool *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        if (b && size > POOL_BLOCK / 4) {
            /* A large string gets a block of its own, behind the current one,
             * so the current one's room is not wasted. */
            nb->next = b->next;
            b->next = nb;
            nb->used = size;
            return nb->data;
        }
        nb->next = b;
        *pool = b = nb;
        at = 0;
    }
    b->used = at + size;
    return b->data + at;
}

char *conf_pool_strdup(struct conf_pool **pool, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = conf_pool_alloc(pool, n, 1);
    return d ? memcpy(d, s, n) : NULL;
}

void conf_pool_free(struct conf_pool *pool)
{
    while (pool) {
        struct conf_pool *next = pool->next;
        free(pool);
        pool = next;
    }
}
