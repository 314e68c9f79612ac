/* sim_farm: a small tank farm behind one PLC: the point table it serves, the physics that
 * moves its values, and the Modbus register image both meet in.
 *
 * Three methanol storage tanks, each filled by an inlet pump and drained through an outlet
 * valve; combustible gas detectors and an H2S detector around them; an ESD that stops the
 * pumps and closes the valves. The plant moves in real time (the server calls
 * sim_farm_tick every 100 ms with the time elapsed), never per request, so two clients
 * polling at different rates see the same plant.
 *
 * The table is the single source of truth: `ganzhi-sim --list` prints it as the point table
 * CSV an agent is configured with (conf/demo/points/tank_farm.csv, kept identical by
 * tests/sim_table.sh), and the image is laid out from it with mb_encode_regs, the exact
 * inverse of the agent's decoder. A point's engineering value goes in as
 * raw = (value - offset) / scale, so an agent that decodes raw × scale + offset publishes
 * what the plant computed, quantised by the type.
 */
#include "tools/sim_farm.h"
#include "drivers/mb_decode.h"
#include "drivers/mb_point.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What a point shows. The physics computes every signal; the table says where it lives. */
enum sim_signal {
    S_LEVEL1, S_LEVEL2, S_LEVEL3,
    S_TEMP1, S_TEMP2, S_TEMP3,
    S_PRES1, S_PRES2, S_PRES3,
    S_OUTFLOW1, S_OUTTOTAL1, S_OUTTOTAL2, S_NETFLOW1, S_NETMASS1,
    S_HOURS_P1, S_ENERGY,
    S_GAS1, S_GAS2, S_GAS3, S_H2S,
    S_ALARM_LEVEL1, S_ALARM_LEVEL2, S_ALARM_LEVEL3, S_ALARM_GAS, S_ALARM_ESD,
    S_PUMP1, S_PUMP2, S_PUMP3,          /* coils: run commands, writable by a client */
    S_VALVE1, S_VALVE2, S_VALVE3,       /* coils: open commands, writable by a client */
    S_OPEN1, S_OPEN2, S_OPEN3,          /* valve open limit switches */
    S_LSHH1, S_ESD,
    S_COUNT
};

struct sim_point {
    const char *tag, *name, *area;
    unsigned address;
    const char *type, *order;   /* as written in the CSV; "" order: the default */
    double scale, offset;       /* 1 and 0 are the defaults and print empty */
    const char *unit;
    double deadband, hi, hihi;  /* NONE prints empty */
    const char *equip_code, *target_code;
    enum sim_signal sig;
};

#define NONE NAN
#define ENT "220102000001"
#define G1 ENT "G001"   /* equipment codes: G tank, B pump, F valve, Q detector, X ESD, D power */
#define G2 ENT "G002"
#define G3 ENT "G003"

/* The table. Register blocks leave gaps (holding 6-9, 18-19, 24-29; input 3, 6-9,
 * 14-19, 28-29) so an agent's read merging meets both merged gaps and split blocks.
 * Every area, type and order appears; 16-bit points carry scale and offset as field
 * transmitters do (level in mm, temperature in 0.1 ℃, one with a -50 ℃ offset). */
static const struct sim_point table[] = {
/*    tag        name                   area       addr type      order  scale  offset unit    deadb  hi     hihi   equip_code     target_code          signal */
    { "LT-101",  "1号储罐液位",         "holding",  0, "uint16",  "",     0.001, 0,   "m",     0.005, 8.5,  9.2,  G1,            G1 "YW01",           S_LEVEL1 },
    { "LT-102",  "2号储罐液位",         "holding",  1, "uint16",  "",     0.001, 0,   "m",     0.005, 8.5,  9.2,  G2,            G2 "YW01",           S_LEVEL2 },
    { "LT-103",  "3号储罐液位",         "holding",  2, "uint16",  "",     0.001, 0,   "m",     0.005, 8.5,  9.2,  G3,            G3 "YW01",           S_LEVEL3 },
    { "TT-101",  "1号储罐温度",         "holding",  3, "int16",   "",     0.1,   0,   "℃",     0.2,   38,   45,   G1,            G1 "WD01",           S_TEMP1 },
    { "TT-102",  "2号储罐温度",         "holding",  4, "int16",   "",     0.1,   0,   "℃",     0.2,   38,   45,   G2,            G2 "WD01",           S_TEMP2 },
    { "TT-103",  "3号储罐温度",         "holding",  5, "uint16",  "",     0.1,   -50, "℃",     0.2,   38,   45,   G3,            G3 "WD01",           S_TEMP3 },
    { "PT-101",  "1号储罐压力",         "holding", 10, "float32", "ABCD", 1,     0,   "kPa",   0.05,  4,    5,    G1,            G1 "YL01",           S_PRES1 },
    { "PT-102",  "2号储罐压力",         "holding", 12, "float32", "CDAB", 1,     0,   "kPa",   0.05,  4,    5,    G2,            G2 "YL01",           S_PRES2 },
    { "PT-103",  "3号储罐压力",         "holding", 14, "float32", "BADC", 1,     0,   "kPa",   0.05,  4,    5,    G3,            G3 "YL01",           S_PRES3 },
    { "FT-101",  "1号储罐出料流量",     "holding", 16, "float32", "DCBA", 1,     0,   "m³/h",  0.5,   NONE, NONE, G1,            G1 "LL01",           S_OUTFLOW1 },
    { "FQ-101",  "1号储罐出料累计",     "holding", 20, "float64", "ABCD", 1,     0,   "m³",    0,     NONE, NONE, G1,            G1 "LJ01",           S_OUTTOTAL1 },
    { "XA-101",  "1号储罐液位高报警",   "holding", 30, "bit:0",   "",     1,     0,   "",      0,     NONE, NONE, G1,            G1 "BJ01",           S_ALARM_LEVEL1 },
    { "XA-102",  "2号储罐液位高报警",   "holding", 30, "bit:1",   "",     1,     0,   "",      0,     NONE, NONE, G2,            G2 "BJ01",           S_ALARM_LEVEL2 },
    { "XA-103",  "3号储罐液位高报警",   "holding", 30, "bit:2",   "",     1,     0,   "",      0,     NONE, NONE, G3,            G3 "BJ01",           S_ALARM_LEVEL3 },
    { "XA-110",  "罐区可燃气体报警",    "holding", 30, "bit:8",   "",     1,     0,   "",      0,     NONE, NONE, ENT "X001",    ENT "X001BJ01",      S_ALARM_GAS },
    { "XA-199",  "紧急停车已动作",      "holding", 30, "bit:15",  "",     1,     0,   "",      0,     NONE, NONE, ENT "X001",    ENT "X001BJ02",      S_ALARM_ESD },
    { "GT-101",  "1号可燃气体探测器",   "input",    0, "uint16",  "",     0.1,   0,   "%LEL",  0.5,   25,   50,   ENT "Q001",    ENT "Q001ND01",      S_GAS1 },
    { "GT-102",  "2号可燃气体探测器",   "input",    1, "uint16",  "",     0.1,   0,   "%LEL",  0.5,   25,   50,   ENT "Q002",    ENT "Q002ND01",      S_GAS2 },
    { "GT-103",  "3号可燃气体探测器",   "input",    2, "int16",   "",     0.1,   0,   "%LEL",  0.5,   25,   50,   ENT "Q003",    ENT "Q003ND01",      S_GAS3 },
    { "AT-101",  "硫化氢气体探测器",    "input",    4, "float32", "CDAB", 1,     0,   "ppm",   0.2,   10,   20,   ENT "Q004",    ENT "Q004ND01",      S_H2S },
    { "KQ-101",  "1号进料泵累计运行时间", "input", 10, "uint32",  "CDAB", 0.001, 0,   "h",     0,     NONE, NONE, ENT "B001",    ENT "B001SJ01",      S_HOURS_P1 },
    { "FI-101",  "1号储罐净流量",       "input",   12, "int32",   "BADC", 0.001, 0,   "m³/h",  0.5,   NONE, NONE, G1,            G1 "LL02",           S_NETFLOW1 },
    { "FQ-102",  "2号储罐出料累计",     "input",   20, "float64", "CDAB", 1,     0,   "m³",    0,     NONE, NONE, G2,            G2 "LJ01",           S_OUTTOTAL2 },
    { "WQ-101",  "1号储罐净收发量",     "input",   24, "int64",   "BADC", 1,     0,   "kg",    0,     NONE, NONE, G1,            G1 "JL01",           S_NETMASS1 },
    { "JQ-101",  "罐区累计用电量",      "input",   30, "uint64",  "DCBA", 0.001, 0,   "kWh",   0,     NONE, NONE, ENT "D001",    ENT "D001DN01",      S_ENERGY },
    { "P-101",   "1号进料泵运行",       "coil",     0, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "B001",    ENT "B001YX01",      S_PUMP1 },
    { "P-102",   "2号进料泵运行",       "coil",     1, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "B002",    ENT "B002YX01",      S_PUMP2 },
    { "P-103",   "3号进料泵运行",       "coil",     2, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "B003",    ENT "B003YX01",      S_PUMP3 },
    { "XV-101",  "1号储罐出料阀开指令", "coil",     8, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "F001",    ENT "F001KG01",      S_VALVE1 },
    { "XV-102",  "2号储罐出料阀开指令", "coil",     9, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "F002",    ENT "F002KG01",      S_VALVE2 },
    { "XV-103",  "3号储罐出料阀开指令", "coil",    10, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "F003",    ENT "F003KG01",      S_VALVE3 },
    { "ZSO-101", "1号储罐出料阀全开",   "discrete", 0, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "F001",    ENT "F001KG02",      S_OPEN1 },
    { "ZSO-102", "2号储罐出料阀全开",   "discrete", 1, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "F002",    ENT "F002KG02",      S_OPEN2 },
    { "ZSO-103", "3号储罐出料阀全开",   "discrete", 2, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "F003",    ENT "F003KG02",      S_OPEN3 },
    { "LSHH-101", "1号储罐高高液位开关", "discrete", 4, "bool",   "",     1,     0,   "",      0,     NONE, NONE, G1,            G1 "BJ02",           S_LSHH1 },
    { "ESD-001", "罐区紧急停车",        "discrete", 7, "bool",    "",     1,     0,   "",      0,     NONE, NONE, ENT "X001",    ENT "X001YX01",      S_ESD },
};

#define NPOINTS (sizeof table / sizeof table[0])
#define NTANKS 3
#define NGAS 4              /* three combustible detectors and the H2S detector */

static const char csv_header[] =
    "# Tank farm served by ganzhi-sim; the same as `ganzhi-sim --list` (tests/sim_table.sh)\n"
    "tag,name,area,address,type,order,scale,offset,unit,deadband,hi,hihi,equip_code,target_code\n";

/* Plant constants. Tanks are small and pumps large so a demo sees levels move by
 * millimetres each second and a fill within half an hour. */
#define TANK_AREA      6.0      /* m² */
#define TANK_HEIGHT    10.0     /* m */
#define PUMP_FLOW      120.0    /* m³/h */
#define VALVE_K        35.0     /* m³/h per √m of head, fully open */
#define VALVE_STROKE   4.0      /* s from shut to open */
#define PUMP_KW        15.0
#define BASE_KW        5.0      /* lighting, instruments, heat tracing */
#define DENSITY        791.0    /* kg/m³, methanol */
#define LEVEL_START    2.0      /* m: the level controller starts the inlet pump below this */
#define LEVEL_LOW_LOW  0.5      /* m: the outlet valve closes below this */
#define ESD_HOLD       60.0     /* s an ESD stays active after its cause clears */
#define ESD_SPURIOUS   7200.0   /* s, mean time between spurious trips */

/* Tank 3's controller stops its pump above the hi alarm (8.5 m), so a demo sees a
 * level alarm raised and cleared on every fill; the others stop below it. */
static const double level_stop[NTANKS] = { 8.0, 8.0, 8.7 };

struct tank {
    double level, temp, temp_target, pressure;
    double valve_pos;           /* 0 shut .. 1 open: the valve strokes, the switch lags */
    double valve_timer;         /* s until downstream demand toggles the valve */
    double in_flow, out_flow;   /* m³/h */
    int pump, valve;            /* commands, as in the coils */
};

/* A detector reads a small wandering zero plus, now and then, a puff of gas that rises
 * over seconds and decays over a minute. */
struct detector {
    double zero, zero_mean, zero_max;
    double puff, peak, rise;    /* peak > 0 while the puff is still rising */
    double next_puff;           /* s */
    double puff_every, peak_min, peak_max;
};

struct sim_farm {
    struct sim_farm_options opt;
    struct mb_addr addr[NPOINTS];
    modbus_mapping_t *map;
    uint64_t rng;
    struct tank tank[NTANKS];
    struct detector det[NGAS];
    double out_total[2], net_mass1, hours_p1, energy;
    int esd;
    double esd_hold, next_spurious;
    uint16_t bench_count;       /* advances every tick: the bench registers move */
    double sig[S_COUNT];
    /* Per area, 1 for each address a point (or a bench register) occupies: what a fussy
     * device will serve, where a merged read across gaps is refused. */
    uint8_t *used[4];
    unsigned nused[4];
};

/* xorshift64*: our own generator, so a seed replays the same events and nothing else in
 * the process (libmodbus, libc users) can disturb the sequence. */
static double uniform(struct sim_farm *f)
{
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return (double)((f->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static double gauss(struct sim_farm *f)
{
    double u = uniform(f), v = uniform(f);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static double exp_rand(struct sim_farm *f, double mean)
{
    return -mean * log(1.0 - uniform(f));
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Engineering value the physics gives each signal. */
static void observe(struct sim_farm *f)
{
    double *s = f->sig;
    int gas_alarm = 0;
    for (int i = 0; i < NTANKS; i++) {
        const struct tank *t = &f->tank[i];
        s[S_LEVEL1 + i] = t->level;
        s[S_TEMP1 + i] = t->temp;
        s[S_PRES1 + i] = t->pressure;
        s[S_ALARM_LEVEL1 + i] = t->level >= 8.5;
        s[S_PUMP1 + i] = t->pump;
        s[S_VALVE1 + i] = t->valve;
        s[S_OPEN1 + i] = t->valve_pos >= 0.98;
    }
    for (int i = 0; i < NGAS; i++) {
        double v = f->det[i].zero + f->det[i].puff;
        s[S_GAS1 + i] = v;
        if (i < 3 && v >= 25)
            gas_alarm = 1;
    }
    s[S_OUTFLOW1] = f->tank[0].out_flow;
    s[S_NETFLOW1] = f->tank[0].in_flow - f->tank[0].out_flow;
    s[S_OUTTOTAL1] = f->out_total[0];
    s[S_OUTTOTAL2] = f->out_total[1];
    s[S_NETMASS1] = f->net_mass1;
    s[S_HOURS_P1] = f->hours_p1;
    s[S_ENERGY] = f->energy;
    s[S_ALARM_GAS] = gas_alarm;
    s[S_ALARM_ESD] = f->esd;
    s[S_LSHH1] = f->tank[0].level >= 9.2;
    s[S_ESD] = f->esd;
}

static void encode(struct sim_farm *f)
{
    modbus_mapping_t *m = f->map;
    for (size_t i = 0; i < NPOINTS; i++) {
        const struct sim_point *p = &table[i];
        const struct mb_addr *a = &f->addr[i];
        double v = f->sig[p->sig];
        switch (a->area) {
        case MB_COIL:     m->tab_bits[a->address] = v != 0; break;
        case MB_DISCRETE: m->tab_input_bits[a->address] = v != 0; break;
        case MB_INPUT:
            mb_encode_regs(a, (v - p->offset) / p->scale, &m->tab_input_registers[a->address]);
            break;
        case MB_HOLDING:
            mb_encode_regs(a, (v - p->offset) / p->scale, &m->tab_registers[a->address]);
            break;
        }
    }
    for (unsigned i = 0; i < f->opt.bench; i++)
        m->tab_registers[SIM_BENCH_BASE + i] = (uint16_t)(f->bench_count + i);
}

/* Coils are commands: a client that wrote one since the last tick has operated the
 * pump or valve, and the level controller takes it from there. */
static void read_commands(struct sim_farm *f)
{
    for (size_t i = 0; i < NPOINTS; i++) {
        enum sim_signal sg = table[i].sig;
        if (f->addr[i].area != MB_COIL)
            continue;
        int on = f->map->tab_bits[f->addr[i].address] != 0;
        if (sg >= S_PUMP1 && sg <= S_PUMP3)
            f->tank[sg - S_PUMP1].pump = on;
        else if (sg >= S_VALVE1 && sg <= S_VALVE3)
            f->tank[sg - S_VALVE1].valve = on;
    }
}

static void step_detector(struct sim_farm *f, struct detector *d, double dt)
{
    /* The zero wanders but is pulled back to its mean, as a calibrated cell's does. */
    d->zero += (d->zero_mean - d->zero) * dt / 120.0 + 0.02 * gauss(f) * sqrt(dt);
    d->zero = clamp(d->zero, 0, d->zero_max);
    if (d->peak > 0) {
        d->puff += d->rise * dt;
        if (d->puff >= d->peak)
            d->peak = 0;
    } else {
        d->puff *= exp(-dt / 40.0);
    }
    d->next_puff -= dt;
    if (d->next_puff <= 0) {
        d->peak = d->peak_min + (d->peak_max - d->peak_min) * uniform(f);
        d->rise = d->peak / (5.0 + 10.0 * uniform(f));
        d->next_puff = exp_rand(f, d->puff_every);
    }
}

static void step_tank(struct sim_farm *f, struct tank *t, int i, double dt)
{
    /* Level control and downstream demand, unless the ESD holds everything shut. */
    t->valve_timer -= dt;
    if (t->valve_timer <= 0) {
        t->valve = !t->valve;
        t->valve_timer = exp_rand(f, t->valve ? 120.0 : 90.0);
    }
    if (t->level < LEVEL_START)
        t->pump = 1;
    if (t->level > level_stop[i])
        t->pump = 0;
    if (t->level < LEVEL_LOW_LOW)
        t->valve = 0;
    if (f->esd)
        t->pump = t->valve = 0;

    double target = t->valve ? 1.0 : 0.0;
    double stroke = dt / VALVE_STROKE;
    t->valve_pos = t->valve_pos < target ? fmin(target, t->valve_pos + stroke)
                                         : fmax(target, t->valve_pos - stroke);

    t->in_flow = t->pump ? PUMP_FLOW * (1.0 + 0.01 * gauss(f)) : 0;
    t->out_flow = VALVE_K * t->valve_pos * sqrt(fmax(t->level, 0));
    t->level = clamp(t->level + (t->in_flow - t->out_flow) / 3600.0 / TANK_AREA * dt,
                     0, TANK_HEIGHT);

    /* Temperature follows the weather slowly; the blanket pressure rises while the tank
     * fills (breathing against the vent) and falls while it drains (nitrogen make-up). */
    t->temp_target = clamp(t->temp_target + 0.01 * gauss(f) * sqrt(dt), 12, 32);
    t->temp += (t->temp_target - t->temp) * dt / 600.0;
    double p = 1.5 + 0.06 * (t->temp - 20) + (t->pump ? 1.2 : 0) - 0.8 * t->valve_pos;
    t->pressure += (p - t->pressure) * dt / 20.0 + 0.01 * gauss(f) * sqrt(dt);
}

static void step(struct sim_farm *f, double dt)
{
    int cause = 0;
    for (int i = 0; i < NTANKS; i++)
        if (f->tank[i].level >= 9.2)
            cause = 1;
    for (int i = 0; i < 3; i++)
        if (f->det[i].zero + f->det[i].puff >= 50)
            cause = 1;
    f->next_spurious -= dt;
    if (f->next_spurious <= 0) {
        cause = 1;      /* a spurious trip: the field sees them, so should the agent */
        f->next_spurious = exp_rand(f, ESD_SPURIOUS);
    }
    if (cause) {
        f->esd = 1;
        f->esd_hold = ESD_HOLD;
    } else if (f->esd && (f->esd_hold -= dt) <= 0) {
        f->esd = 0;
    }

    int pumps = 0;
    for (int i = 0; i < NTANKS; i++) {
        step_tank(f, &f->tank[i], i, dt);
        pumps += f->tank[i].pump;
    }
    for (int i = 0; i < NGAS; i++)
        step_detector(f, &f->det[i], dt);

    f->out_total[0] += f->tank[0].out_flow * dt / 3600.0;
    f->out_total[1] += f->tank[1].out_flow * dt / 3600.0;
    f->net_mass1 += (f->tank[0].in_flow - f->tank[0].out_flow) * dt / 3600.0 * DENSITY;
    if (f->tank[0].pump)
        f->hours_p1 += dt / 3600.0;
    f->energy += (BASE_KW + PUMP_KW * pumps) * dt / 3600.0;
}

void sim_farm_tick(struct sim_farm *f, double dt)
{
    if (f->opt.frozen)
        return;
    read_commands(f);
    step(f, clamp(dt, 0, 1.0));
    f->bench_count++;
    observe(f);
    encode(f);
}

/* The initial state is fixed, not seeded: --static and --values show the same plant on
 * every run, whatever the seed. */
static void initial_state(struct sim_farm *f)
{
    static const struct { double level, temp; int pump, valve; } init[NTANKS] = {
        { 3.215, 18.5, 0, 1 }, { 6.5, 21.3, 1, 0 }, { 8.6, 24.8, 0, 1 },
    };
    for (int i = 0; i < NTANKS; i++) {
        struct tank *t = &f->tank[i];
        t->level = init[i].level;
        t->temp = t->temp_target = init[i].temp;
        t->pump = init[i].pump;
        t->valve = init[i].valve;
        t->valve_pos = t->valve;
        t->in_flow = t->pump ? PUMP_FLOW : 0;
        t->out_flow = VALVE_K * t->valve_pos * sqrt(t->level);
        t->pressure = 1.5 + 0.06 * (t->temp - 20) + (t->pump ? 1.2 : 0) - 0.8 * t->valve_pos;
        t->valve_timer = exp_rand(f, 60.0);
    }
    static const struct detector det[NGAS] = {
        { .zero = 0.3, .zero_mean = 0.3, .zero_max = 1.0, .puff_every = 300, .peak_min = 3, .peak_max = 30 },
        { .zero = 0.0, .zero_mean = 0.2, .zero_max = 1.0, .puff_every = 420, .peak_min = 3, .peak_max = 30 },
        { .zero = 0.5, .zero_mean = 0.4, .zero_max = 1.0, .puff_every = 600, .peak_min = 3, .peak_max = 30 },
        { .zero = 0.25, .zero_mean = 0.2, .zero_max = 0.6, .puff_every = 500, .peak_min = 2, .peak_max = 12 },
    };
    for (int i = 0; i < NGAS; i++) {
        f->det[i] = det[i];
        f->det[i].next_puff = exp_rand(f, det[i].puff_every);
    }
    f->out_total[0] = 123456.789;
    f->out_total[1] = 98765.4321;
    f->net_mass1 = -1234567;
    f->hours_p1 = 12345.678;
    f->energy = 8765432.1;
    f->next_spurious = exp_rand(f, ESD_SPURIOUS);
}

/* Parse the table's names with the agent's own parsers, and refuse a table whose points
 * overlap: a later edit that did so would serve one value under two tags. */
static int parse_table(struct mb_addr *addr)
{
    for (size_t i = 0; i < NPOINTS; i++) {
        const struct sim_point *p = &table[i];
        struct mb_addr *a = &addr[i];
        if (mb_area_parse(p->area, &a->area) < 0 || mb_type_parse(p->type, &a->type, &a->bit) < 0)
            return -1;
        a->order = MB_ABCD;
        if (p->order[0] && mb_order_parse(p->order, &a->order) < 0)
            return -1;
        if (p->address + mb_width(a) > 65536 || p->scale == 0)
            return -1;
        if (mb_is_bit_area(a->area) != (a->type == MB_BOOL))
            return -1;
        a->address = (uint16_t)p->address;
        for (size_t j = 0; j < i; j++) {
            const struct mb_addr *b = &addr[j];
            if (strcmp(table[j].tag, p->tag) == 0)
                return -1;
            if (b->area != a->area || (a->type == MB_BIT && b->type == MB_BIT && a->bit != b->bit))
                continue;
            if (a->address < b->address + mb_width(b) && b->address < a->address + mb_width(a))
                return -1;
        }
    }
    return 0;
}

int sim_farm_create(const struct sim_farm_options *opt, struct sim_farm **out)
{
    *out = NULL;
    if (opt->bench > SIM_BENCH_MAX) {
        errno = EINVAL;
        return -1;
    }
    struct sim_farm *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->opt = *opt;
    /* xorshift must not start at zero; mix the seed so nearby seeds diverge at once. */
    f->rng = (opt->seed + 1) * 0x9E3779B97F4A7C15ull;
    if (f->rng == 0)
        f->rng = 1;
    if (parse_table(f->addr) < 0) {
        errno = EINVAL;
        goto out_free;
    }

    /* Each area is mapped from 0 to its last point, gaps included: a real PLC answers
     * reads across its unused registers, which is what lets an agent merge blocks. */
    unsigned n[4] = { 0, 0, 0, 0 };
    for (size_t i = 0; i < NPOINTS; i++) {
        unsigned end = f->addr[i].address + mb_width(&f->addr[i]);
        if (end > n[f->addr[i].area])
            n[f->addr[i].area] = end;
    }
    if (opt->bench)
        n[MB_HOLDING] = SIM_BENCH_BASE + opt->bench;
    f->map = modbus_mapping_new((int)n[MB_COIL], (int)n[MB_DISCRETE],
                                (int)n[MB_HOLDING], (int)n[MB_INPUT]);
    if (!f->map)
        goto out_free;
    for (int a = 0; a < 4; a++) {
        f->used[a] = calloc(n[a] ? n[a] : 1, 1);
        if (!f->used[a])
            goto out_free;
        f->nused[a] = n[a];
    }
    for (size_t i = 0; i < NPOINTS; i++)
        memset(f->used[f->addr[i].area] + f->addr[i].address, 1, mb_width(&f->addr[i]));
    if (opt->bench)
        memset(f->used[MB_HOLDING] + SIM_BENCH_BASE, 1, opt->bench);

    initial_state(f);
    observe(f);
    encode(f);
    *out = f;
    return 0;

out_free:
    sim_farm_destroy(f);
    return -1;
}

void sim_farm_destroy(struct sim_farm *f)
{
    if (!f)
        return;
    int saved = errno;
    if (f->map)
        modbus_mapping_free(f->map);
    for (int a = 0; a < 4; a++)
        free(f->used[a]);
    free(f);
    errno = saved;
}

int sim_farm_occupied(const struct sim_farm *f, enum mb_area area, unsigned address,
                      unsigned count)
{
    if ((unsigned)area >= 4 || count == 0 || address + count > f->nused[area])
        return 0;
    for (unsigned i = 0; i < count; i++)
        if (!f->used[area][address + i])
            return 0;
    return 1;
}

modbus_mapping_t *sim_farm_mapping(struct sim_farm *f)
{
    return f->map;
}

unsigned sim_farm_point_count(void)
{
    return (unsigned)NPOINTS;
}

/* Numbers in the CSV: empty for an absent or default value, else the shortest plain
 * decimal that a reader's strtod turns back into the same double ("0.001", "50"; not
 * "0.0010000" or "5e+01"). */
static const char *fmt_num(char *buf, size_t len, double v, double dflt)
{
    if (isnan(v) || v == dflt) {
        buf[0] = '\0';
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v && (!strchr(buf, 'e') || prec == 17))
            break;
    }
    return buf;
}

int sim_farm_print_table(FILE *out)
{
    char sc[32], of[32], db[32], hi[32], hh[32];
    fputs(csv_header, out);
    for (size_t i = 0; i < NPOINTS; i++) {
        const struct sim_point *p = &table[i];
        fprintf(out, "%s,%s,%s,%u,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n",
                p->tag, p->name, p->area, p->address, p->type, p->order,
                fmt_num(sc, sizeof sc, p->scale, 1), fmt_num(of, sizeof of, p->offset, 0),
                p->unit, fmt_num(db, sizeof db, p->deadband, NAN),
                fmt_num(hi, sizeof hi, p->hi, NAN), fmt_num(hh, sizeof hh, p->hihi, NAN),
                p->equip_code, p->target_code);
    }
    return ferror(out) ? -1 : 0;
}

/* Values print as cJSON prints numbers (15 significant digits, 17 when 15 do not
 * round-trip), so a test can compare them with what the agent published as text. */
int sim_farm_print_values(const struct sim_farm *f, FILE *out)
{
    const modbus_mapping_t *m = f->map;
    for (size_t i = 0; i < NPOINTS; i++) {
        const struct sim_point *p = &table[i];
        const struct mb_addr *a = &f->addr[i];
        double raw = 0, v;
        switch (a->area) {
        case MB_COIL:     raw = m->tab_bits[a->address]; break;
        case MB_DISCRETE: raw = m->tab_input_bits[a->address]; break;
        case MB_INPUT:    mb_decode_regs(a, &m->tab_input_registers[a->address], &raw); break;
        case MB_HOLDING:  mb_decode_regs(a, &m->tab_registers[a->address], &raw); break;
        }
        v = raw * p->scale + p->offset;
        char buf[40];
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof buf, "%.17g", v);
        fprintf(out, "%s %s\n", p->tag, buf);
    }
    return ferror(out) ? -1 : 0;
}
