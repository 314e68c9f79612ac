/* profile_generic: realtime and status messages of the generic JSON profile. */
#include "proto/profile_generic.h"
#include "proto/json_out.h"
#include <stdlib.h>
#include <string.h>

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
                       int resend, const char *command_id, int on_demand)
{
    struct json_out j;
    json_init_hint(&j, 256 + n * 160);
    json_lit(&j, "{\"enterprise\":");
    json_str(&j, site->enterprise);
    json_lit(&j, ",\"gateway\":");
    json_str(&j, site->gateway);
    if (resend)
        json_lit(&j, ",\"resend\":true,");
    else
        json_lit(&j, ",\"resend\":false,");
    if (on_demand)
        json_lit(&j, "\"on_demand\":true,");
    if (command_id) {
        json_lit(&j, "\"command_id\":");
        json_str(&j, command_id);
        json_lit(&j, ",");
    }
    json_lit(&j, "\"readings\":[");
    /* The readings of one poll share a sample time: format it once. */
    char ts[32];
    size_t ts_len = 0;
    int64_t ts_of = 0;
    int have_ts = 0;
    for (size_t i = 0; i < n; i++) {
        const struct wire_reading *x = &r[i];
        if (i)
            json_lit(&j, ",");
        json_lit(&j, "{\"seq\":");
        json_u64(&j, x->seq);
        json_lit(&j, ",\"tag\":");
        json_str(&j, x->tag);
        json_lit(&j, ",\"device\":");
        json_str(&j, x->device);
        json_lit(&j, ",\"value\":");
        if (x->r.has_value)
            json_num(&j, x->r.value);
        else
            json_lit(&j, "null");
        json_lit(&j, ",\"unit\":");
        json_str(&j, x->unit);
        json_lit(&j, ",\"quality\":\"");
        const char *q = quality_name((enum quality)x->r.quality);
        json_raw(&j, q, strlen(q));
        if (x->r.code) {
            json_lit(&j, "\",\"exception\":");
            json_u64(&j, x->r.code);
            json_lit(&j, ",\"ts\":\"");
        } else {
            json_lit(&j, "\",\"ts\":\"");
        }
        if (!have_ts || x->r.ts_ms != ts_of) {
            wire_time_rfc3339(x->r.ts_ms, site->tz_minutes, ts);
            ts_len = strlen(ts);
            ts_of = x->r.ts_ms;
            have_ts = 1;
        }
        json_raw(&j, ts, ts_len);
        json_lit(&j, "\"}");
    }
    json_lit(&j, "]}");
    return json_take(&j);
}

char *generic_alarm(const struct wire_site *site, const struct wire_alarm *a, size_t n)
{
    struct json_out j;
    json_init(&j);
    json_lit(&j, "{\"enterprise\":");
    json_str(&j, site->enterprise);
    json_lit(&j, ",\"gateway\":");
    json_str(&j, site->gateway);
    json_lit(&j, ",\"alarms\":[");
    char ts[32];
    for (size_t i = 0; i < n; i++) {
        int comm = !strcmp(a[i].level, "comm");
        if (i)
            json_lit(&j, ",");
        json_lit(&j, "{\"id\":");
        json_u64(&j, a[i].id);
        json_lit(&j, ",\"tag\":");
        json_str(&j, a[i].tag);
        json_lit(&j, ",\"device\":");
        json_str(&j, a[i].device);
        json_lit(&j, ",\"level\":");
        json_str(&j, a[i].level);
        if (a[i].raised)
            json_lit(&j, ",\"state\":\"raised\",\"value\":");
        else
            json_lit(&j, ",\"state\":\"cleared\",\"value\":");
        if (comm)
            json_lit(&j, "null,\"threshold\":null");
        else {
            json_num(&j, a[i].value);
            json_lit(&j, ",\"threshold\":");
            json_num(&j, a[i].threshold);
        }
        json_lit(&j, ",\"unit\":");
        json_str(&j, a[i].unit);
        json_lit(&j, ",\"ts\":\"");
        wire_time_rfc3339(a[i].ts_ms, site->tz_minutes, ts);
        json_raw(&j, ts, strlen(ts));
        json_lit(&j, "\"}");
    }
    json_lit(&j, "]}");
    return json_take(&j);
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
