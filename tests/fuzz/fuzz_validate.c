/* fuzz_validate: a captured message checked by profile_validate, against every
 * profile and message kind (what `ganzhi validate` does with a file). */
#include "tests/fuzz/fuzz_util.h"
#include "proto/validate.h"
#include "proto/profile.h"

static const char *names[] = { "generic", "hazchem", "coal", "fireworks", "tailings" };
#define NP (sizeof names / sizeof names[0])
static struct profile *prof[NP];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    for (size_t i = 0; i < NP; i++)
        if (!(prof[i] = profile_create(names[i], err, sizeof err))) {
            fprintf(stderr, "fuzz_validate: %s: %s\n", names[i], err);
            abort();
        }
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *msg = malloc(size ? size : 1);   /* not NUL-terminated, as received */
    if (!msg)
        return 0;
    memcpy(msg, data, size);
    char report[2048];
    for (size_t i = 0; i < NP; i++)
        for (int k = 0; k < MK_COUNT; k++)
            profile_validate(prof[i], (enum message_kind)k, msg, size, report, sizeof report);
    size_t at;
    validate_utf8(msg, size, &at);
    free(msg);
    return 0;
}
