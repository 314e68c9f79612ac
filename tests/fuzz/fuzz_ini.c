/* fuzz_ini: the configuration file (INI) from bytes, through conf_load: the
 * parser, the schema and every check. The points files it names are the demo's
 * (written next to it), so a conf that parses goes on into its devices. */
#include "tests/fuzz/fuzz_util.h"
#include "agent/conf.h"

static const char csv[] =
    "tag,name,area,address,type,order,scale,offset,unit,deadband,hi,hihi\n"
    "LT-101,level,holding,0,uint16,,0.001,,m,0.005,8.5,9.2\n"
    "PT-101,pressure,holding,10,float32,ABCD,,,kPa,0.05,4,5\n"
    "XA-101,alarm,holding,30,bit:0,,,,,0,,\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[512];
    snprintf(path, sizeof path, "%s/points", fuzz_dir());
    mkdir(path, 0700);
    const char *names[] = { "points/tank_farm.csv", "points/tank.csv", "points/gas.csv",
                            "points/plc.csv" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        fuzz_write(names[i], csv, sizeof csv - 1, path, sizeof path);
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[512];
    if (fuzz_write("agent.conf", data, size, path, sizeof path))
        return 0;
    struct conf *c = NULL;
    struct conf_diag d;
    conf_load(path, &c, &d);
    conf_free(c);
    conf_diag_free(&d);
    return 0;
}
