/* fuzz_util.h: what the fuzz targets share: a private scratch directory and
 * writing a file into it. Fuzz targets only (tests/fuzz/fuzz_*.c). */
#ifndef GANZHI_FUZZ_UTIL_H
#define GANZHI_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A directory of this process's own, made once: <tmp>/ganzhi-fuzz-<pid>/. */
static inline const char *fuzz_dir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ganzhi-fuzz-%ld", t && *t ? t : "/tmp", (long)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}

/* Write n bytes to fuzz_dir()/name; the path in out. 0, or -1. */
static inline int fuzz_write(const char *name, const void *b, size_t n, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(out, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(b, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

#endif
