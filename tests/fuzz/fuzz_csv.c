/* fuzz_csv: a point table (CSV) from bytes, loaded through conf_load by a fixed
 * configuration with one device of each driver that takes a table. */
#include "tests/fuzz/fuzz_util.h"
#include "agent/conf.h"

static const char ini[] =
    "[agent]\n"
    "enterprise_code = 220102000001\n"
    "gateway_code = GW01\n"
    "district_code = 220102\n"
    "data_dir = /nonexistent/ganzhi-fuzz\n"
    "[device plc]\n"
    "driver = modbus-tcp\n"
    "host = 127.0.0.1\n"
    "port = 5020\n"
    "unit_id = 1\n"
    "interval = 1s\n"
    "points = points.csv\n"
    "[uplink local]\n"
    "url = mqtt://127.0.0.1:18830\n"
    "profile = generic\n"
    "topic_prefix = ganzhi/220102000001\n";

static char conf_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return fuzz_write("agent.conf", ini, sizeof ini - 1, conf_path, sizeof conf_path);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[512];
    if (fuzz_write("points.csv", data, size, path, sizeof path))
        return 0;
    struct conf *c = NULL;
    struct conf_diag d;
    conf_load(conf_path, &c, &d);
    conf_free(c);
    conf_diag_free(&d);
    return 0;
}
