/* profile: the table of known profiles and the point-table columns each reads
 * (CONTRACT.md, "Metadata columns each profile reads"). */
#include "proto/profile.h"
#include <string.h>

static const char *const none[] = { NULL };
static const char *const hazchem_req[] = { "equip_code", "target_code", NULL };
static const char *const hazchem_opt[] = { "hazard_code", "equip_name", "longitude", "latitude", NULL };
static const char *const coal_req[] = { "point_code", "sensor_type", "location", NULL };
static const char *const coal_opt[] = { "system_code", "outstation_code", "on_text", "off_text",
                                        "x", "y", "z", NULL };
static const char *const tailings_req[] = { "item", NULL };
static const char *const tailings_opt[] = { "blue", "yellow", "orange", "red", "direction", NULL };
static const char *const fireworks_req[] = { "equip_code", "target_code", NULL };
static const char *const fireworks_opt[] = { "building", "capacity", NULL };

static const struct profile_info profiles[] = {
    { "generic",   none,          none,          1 },
    { "hazchem",   hazchem_req,   hazchem_opt,   0 },
    { "tailings",  tailings_req,  tailings_opt,  0 },
    { "coal",      coal_req,      coal_opt,      0 },
    { "fireworks", fireworks_req, fireworks_opt, 0 },
};

const struct profile_info *profile_find(const char *name)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const char *profile_names(void)
{
    return "generic, hazchem, tailings, coal, fireworks";
}
