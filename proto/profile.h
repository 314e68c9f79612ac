/* profile: the regulators' message formats Ganzhi knows, and what each needs from
 * a point table. Encoders live in proto/profile_NAME.c; they are pure functions. */
#ifndef GANZHI_PROFILE_H
#define GANZHI_PROFILE_H

#include <stddef.h>

struct profile_info {
    const char *name;
    const char *const *required;    /* point-table columns every point must fill */
    const char *const *optional;
    int implemented;                /* an encoder exists in this build */
};

const struct profile_info *profile_find(const char *name);
/* Names of every known profile, for error messages ("hazchem, tailings, ..."). */
const char *profile_names(void);

#endif
