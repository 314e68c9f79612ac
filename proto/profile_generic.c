/* profile_generic: realtime and status messages of the generic JSON profile. */
#include "proto/profile_generic.h"
#include <stdlib.h>

static cJSON *envelope(const struct wire_site *site)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "enterprise", site->enterprise);
    cJSON_AddStringToObject(o, "gateway", site->gateway);
    return o;
}

char *generic_realtime(const struct wire_site *site, const struct wire_reading *r, size_t n,
                       int resend)
{
    cJSON *o = envelope(site);
    if (!o)
        return NULL;
    cJSON_AddBoolToObject(o, "resend", resend);
    cJSON *arr = cJSON_AddArrayToObject(o, "readings");
    char ts[32];
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddItemToArray(arr, x);
        cJSON_AddNumberToObject(x, "seq", (double)r[i].seq);
        cJSON_AddStringToObject(x, "tag", r[i].tag);
        cJSON_AddStringToObject(x, "device", r[i].device);
        if (r[i].r.has_value)
            cJSON_AddNumberToObject(x, "value", r[i].r.value);
        else
            cJSON_AddNullToObject(x, "value");
        cJSON_AddStringToObject(x, "unit", r[i].unit);
        cJSON_AddStringToObject(x, "quality", quality_name((enum quality)r[i].r.quality));
        wire_time_rfc3339(r[i].r.ts_ms, site->tz_minutes, ts);
        cJSON_AddStringToObject(x, "ts", ts);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *generic_status(const struct wire_site *site, int64_t now_ms, const cJSON *body)
{
    cJSON *o = envelope(site);
    if (!o)
        return NULL;
    char ts[32];
    wire_time_rfc3339(now_ms, site->tz_minutes, ts);
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON *copy = cJSON_Duplicate(body, 1);
    if (copy)
        cJSON_AddItemToObject(o, "status", copy);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
