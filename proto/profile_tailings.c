/* profile_tailings: 尾矿库 (tailings dams) as a description table (PROFILES.md
 * "tailings"): records per monitoring point carrying the monitoring item of the
 * point table (displacement, phreatic, water_level, dry_beach, rainfall, ...),
 * times as yyyy-MM-dd HH:mm:ss, and alarms in the four colours of GB 51108:
 * blue 1, yellow 2, orange 3, red 4. The agent raises the colours (a point's
 * against its blue, yellow, orange and red columns, an item's escalated from its
 * points'); the encoder only names them, and sends the columns in point
 * definitions.
 *
 *   {"dataId":"...","districtCode":"220102","enterpriseCode":"...","gatewayCode":"GW01",
 *    "sendTime":"2026-11-29 10:30:05","resend":0,
 *    "data":[{"monitorItem":"phreatic","pointCode":"JR-01","pointName":"1号浸润线",
 *             "value":12.5,"unit":"m","status":"0","collectTime":"2026-11-29 10:30:00"}]}
 */
#include "proto/profile_impl.h"

const struct profile profile_table_tailings = {
    .name = "tailings",
    .syntax = SYN_JSON,
    .fields = {
        [PF_HEAD] = {
            FLDF("app_id", "appId", S_APP_ID, PF_OMIT_EMPTY),
            FLDF("service_id", "serviceId", S_SERVICE, PF_OMIT_EMPTY),
            FLD("data_id", "dataId", S_DATA_ID),
            FLD("district", "districtCode", S_DISTRICT),
            FLD("enterprise", "enterpriseCode", S_ENTERPRISE),
            FLD("gateway", "gatewayCode", S_GATEWAY),
            FLD("send_time", "sendTime", S_SEND_TIME),
            FLD("resend", "resend", S_RESEND),
            FLD("uptime", "uptime", S_UPTIME),
            FLD("version", "version", S_VERSION),
            FLD("data", "data", S_DATA),
        },
        [MK_REALTIME] = {
            META("item", "monitorItem"),
            FLD("tag", "pointCode", S_TAG),
            FLD("name", "pointName", S_NAME),
            FLD("value", "value", S_VALUE),
            FLD("unit", "unit", S_UNIT),
            FLD("quality", "status", S_QUALITY),
            FLD("time", "collectTime", S_TIME),
        },
        [MK_ALARM] = {
            META("item", "monitorItem"),
            FLD("tag", "pointCode", S_TAG),
            FLD("name", "pointName", S_NAME),
            FLD("level", "warnLevel", S_LEVEL),
            FLD("state", "warnStatus", S_STATE),
            FLD("value", "value", S_VALUE),
            FLD("threshold", "threshold", S_THRESHOLD),
            FLD("unit", "unit", S_UNIT),
            FLD("time", "warnTime", S_TIME),
        },
        [MK_STATUS] = {
            FLD("link_code", "deviceCode", S_LINK_CODE),
            FLD("link", "deviceName", S_LINK_NAME),
            FLD("link_state", "status", S_LINK_STATE),
            FLDF("rtt_ms", "rttMs", S_RTT, PF_OMIT_EMPTY),
            FLD("errors", "errorCount", S_ERRORS),
            FLD("time", "collectTime", S_TIME),
        },
        [MK_POINTS] = {
            META("item", "monitorItem"),
            FLD("tag", "pointCode", S_TAG),
            FLD("name", "pointName", S_NAME),
            FLD("unit", "unit", S_UNIT),
            METAF("blue", "blueThreshold", PF_OMIT_EMPTY | PF_NUMBER),
            METAF("yellow", "yellowThreshold", PF_OMIT_EMPTY | PF_NUMBER),
            METAF("orange", "orangeThreshold", PF_OMIT_EMPTY | PF_NUMBER),
            METAF("red", "redThreshold", PF_OMIT_EMPTY | PF_NUMBER),
            METAF("direction", "direction", PF_OMIT_EMPTY),
        },
    },
    .time = { "spaced", "spaced", "spaced", "spaced" },
    .time_send = "spaced",
    .quality = { "0", "1", "2", "3", "4", "5", "6" },
    .level = { [PL_BLUE] = "1", [PL_YELLOW] = "2", [PL_ORANGE] = "3", [PL_RED] = "4",
               [PL_COMM] = "9" },
    .state = { "0", "1" },
    .link = { [WIRE_LINK_UNKNOWN] = "9", [WIRE_LINK_UP] = "0", [WIRE_LINK_DOWN] = "1" },
    .topic = { "{prefix}/realtime", "{prefix}/alarm", "{prefix}/status", "{prefix}/points", "" },
};
