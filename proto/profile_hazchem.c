/* profile_hazchem: 危险化学品重大危险源 (tank farms, chemical warehouses) as a
 * description table (PROFILES.md "hazchem"). The shape follows the provincial
 * channel {appId, serviceId, dataId, districtCode, data}, with the common
 * identifiers at the top and, per record, equipment, indicator and hazard-source
 * codes from the point table:
 *
 *   {"dataId":"9f0c...","districtCode":"220102","enterpriseCode":"220102000001",
 *    "gatewayCode":"GW01","sendTime":"20261129103005","resend":0,
 *    "data":[{"equipCode":"E01","targetCode":"T01","hazardCode":"H01","tagNo":"LT-101",
 *             "pointName":"1号储罐液位","value":3.215,"unit":"m","status":"0",
 *             "dataTime":"20261129103000"}]}
 *
 * appId and serviceId appear when configured. Codes that no public document
 * fixes (status, alarm type) are this table's defaults; a province overrides them
 * (quality.comm_fail = ..., level.hi = ...). Alarm types: hi 1 (高报), hihi 2
 * (高高报), lo 3 (低报), lolo 4 (低低报), fault 9; for gas detectors hi is the
 * first-level and hihi the second-level alarm of GB/T 50493. */
#include "proto/profile_impl.h"

#define HAZ_HEAD \
    FLDF("app_id", "appId", S_APP_ID, PF_OMIT_EMPTY), \
    FLDF("service_id", "serviceId", S_SERVICE, PF_OMIT_EMPTY), \
    FLD("data_id", "dataId", S_DATA_ID), \
    FLD("district", "districtCode", S_DISTRICT), \
    FLD("enterprise", "enterpriseCode", S_ENTERPRISE), \
    FLD("gateway", "gatewayCode", S_GATEWAY), \
    FLD("send_time", "sendTime", S_SEND_TIME), \
    FLD("resend", "resend", S_RESEND), \
    FLD("uptime", "uptime", S_UPTIME), \
    FLD("version", "version", S_VERSION), \
    FLD("data", "data", S_DATA)

#define HAZ_STATUS \
    FLD("link_code", "equipCode", S_LINK_CODE), \
    FLD("link", "equipName", S_LINK_NAME), \
    FLD("link_state", "status", S_LINK_STATE), \
    FLDF("rtt_ms", "rttMs", S_RTT, PF_OMIT_EMPTY), \
    FLD("errors", "errorCount", S_ERRORS), \
    FLD("time", "dataTime", S_TIME)

#define HAZ_CODES \
    .quality = { "0", "1", "2", "3", "4", "5", "6" }, \
    .level = { [PL_LOLO] = "4", [PL_LO] = "3", [PL_HI] = "1", [PL_HIHI] = "2", \
               [PL_COMM] = "9" }, \
    .state = { "0", "1" }, \
    .link = { [WIRE_LINK_UNKNOWN] = "9", [WIRE_LINK_UP] = "0", [WIRE_LINK_DOWN] = "1" }, \
    .topic = { "{prefix}/realtime", "{prefix}/alarm", "{prefix}/status", "{prefix}/points", "" }

const struct profile profile_table_hazchem = {
    .name = "hazchem",
    .syntax = SYN_JSON,
    .fields = {
        [PF_HEAD] = { HAZ_HEAD },
        [MK_REALTIME] = {
            META("equip_code", "equipCode"),
            META("target_code", "targetCode"),
            METAF("hazard_code", "hazardCode", PF_OMIT_EMPTY),
            FLD("tag", "tagNo", S_TAG),
            FLD("name", "pointName", S_NAME),
            FLD("value", "value", S_VALUE),
            FLD("unit", "unit", S_UNIT),
            FLD("quality", "status", S_QUALITY),
            FLD("time", "dataTime", S_TIME),
        },
        [MK_ALARM] = {
            META("equip_code", "equipCode"),
            META("target_code", "targetCode"),
            METAF("hazard_code", "hazardCode", PF_OMIT_EMPTY),
            FLD("tag", "tagNo", S_TAG),
            FLD("name", "pointName", S_NAME),
            FLD("level", "alarmType", S_LEVEL),
            FLD("state", "alarmStatus", S_STATE),
            FLD("value", "value", S_VALUE),
            FLD("threshold", "threshold", S_THRESHOLD),
            FLD("unit", "unit", S_UNIT),
            FLD("time", "alarmTime", S_TIME),
        },
        [MK_STATUS] = { HAZ_STATUS },
        [MK_POINTS] = {
            META("target_code", "targetCode"),
            FLD("name", "targetName", S_NAME),
            META("equip_code", "equipCode"),
            METAF("equip_name", "equipName", PF_OMIT_EMPTY),
            METAF("hazard_code", "hazardCode", PF_OMIT_EMPTY),
            FLD("tag", "tagNo", S_TAG),
            FLD("unit", "unit", S_UNIT),
            METAF("range_low", "rangeLow", PF_OMIT_EMPTY | PF_NUMBER),
            METAF("range_high", "rangeHigh", PF_OMIT_EMPTY | PF_NUMBER),
            FLDF("lolo", "lowLowLimit", S_LOLO, PF_OMIT_EMPTY),
            FLDF("lo", "lowLimit", S_LO, PF_OMIT_EMPTY),
            FLDF("hi", "highLimit", S_HI, PF_OMIT_EMPTY),
            FLDF("hihi", "highHighLimit", S_HIHI, PF_OMIT_EMPTY),
            METAF("longitude", "longitude", PF_OMIT_EMPTY | PF_NUMBER),
            METAF("latitude", "latitude", PF_OMIT_EMPTY | PF_NUMBER),
            { .key = "in_use", .name = "inUse", .src = S_CONST, .arg = "1", .flags = PF_NUMBER },
        },
    },
    .time = { "compact", "compact", "compact", "compact" },
    .time_send = "compact",
    HAZ_CODES,
};

/* fireworks (烟花爆竹): no public wire format; hazchem's shape with its own codes:
 * buildings (building column) instead of hazard sources, and the building's
 * capacity (head-count limit) among the point definitions. */
const struct profile profile_table_fireworks = {
    .name = "fireworks",
    .syntax = SYN_JSON,
    .fields = {
        [PF_HEAD] = { HAZ_HEAD },
        [MK_REALTIME] = {
            META("equip_code", "equipCode"),
            META("target_code", "targetCode"),
            METAF("building", "buildingCode", PF_OMIT_EMPTY),
            FLD("tag", "tagNo", S_TAG),
            FLD("name", "pointName", S_NAME),
            FLD("value", "value", S_VALUE),
            FLD("unit", "unit", S_UNIT),
            FLD("quality", "status", S_QUALITY),
            FLD("time", "dataTime", S_TIME),
        },
        [MK_ALARM] = {
            META("equip_code", "equipCode"),
            META("target_code", "targetCode"),
            METAF("building", "buildingCode", PF_OMIT_EMPTY),
            FLD("tag", "tagNo", S_TAG),
            FLD("name", "pointName", S_NAME),
            FLD("level", "alarmType", S_LEVEL),
            FLD("state", "alarmStatus", S_STATE),
            FLD("value", "value", S_VALUE),
            FLD("threshold", "threshold", S_THRESHOLD),
            FLD("unit", "unit", S_UNIT),
            FLD("time", "alarmTime", S_TIME),
        },
        [MK_STATUS] = { HAZ_STATUS },
        [MK_POINTS] = {
            META("target_code", "targetCode"),
            FLD("name", "targetName", S_NAME),
            META("equip_code", "equipCode"),
            METAF("equip_name", "equipName", PF_OMIT_EMPTY),
            METAF("building", "buildingCode", PF_OMIT_EMPTY),
            METAF("capacity", "capacity", PF_OMIT_EMPTY | PF_NUMBER),
            FLD("tag", "tagNo", S_TAG),
            FLD("unit", "unit", S_UNIT),
            FLDF("lo", "lowLimit", S_LO, PF_OMIT_EMPTY),
            FLDF("hi", "highLimit", S_HI, PF_OMIT_EMPTY),
            FLDF("hihi", "highHighLimit", S_HIHI, PF_OMIT_EMPTY),
            { .key = "in_use", .name = "inUse", .src = S_CONST, .arg = "1", .flags = PF_NUMBER },
        },
    },
    .time = { "compact", "compact", "compact", "compact" },
    .time_send = "compact",
    HAZ_CODES,
};
