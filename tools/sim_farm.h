/* sim_farm: the simulated tank farm: its point table, its physics, and the register image it serves. */
#ifndef GANZHI_SIM_FARM_H
#define GANZHI_SIM_FARM_H

#include <stdint.h>
#include <stdio.h>
#include <modbus.h>
#include "drivers/mb_point.h"

/* The extra benchmark registers (--bench N): uint16 holding registers from here. */
#define SIM_BENCH_BASE 10000u
#define SIM_BENCH_MAX  50000u

struct sim_farm_options {
    uint64_t seed;          /* random events (gas puffs, valve demand) repeat per seed */
    int frozen;             /* --static: every point keeps its initial value */
    unsigned bench;         /* extra holding registers at SIM_BENCH_BASE, 0..SIM_BENCH_MAX */
};

struct sim_farm;

/* Build the farm in its initial state with its register image filled in.
 * Returns 0, or -1 with errno set (EINVAL: bad options or a bad point table row). */
int sim_farm_create(const struct sim_farm_options *opt, struct sim_farm **out);
/* Accepts NULL. */
void sim_farm_destroy(struct sim_farm *f);

/* The register image clients read and write. Owned by the farm. */
modbus_mapping_t *sim_farm_mapping(struct sim_farm *f);

/* Advance the plant by dt seconds of real time and refresh the register image.
 * Coils written by clients since the last tick are taken as operator commands. */
void sim_farm_tick(struct sim_farm *f, double dt);

/* 1 when every address of [address, address + count) in the area is occupied by a point
 * of the table (or a --bench register), else 0: a read a fussy device accepts. */
int sim_farm_occupied(const struct sim_farm *f, enum mb_area area, unsigned address,
                      unsigned count);

/* Points in the table (the --bench registers are not points). */
unsigned sim_farm_point_count(void);

/* The point table as CSV in the contract's format, byte for byte the same as
 * conf/demo/points/tank_farm.csv. Returns 0, or -1 on a write error. */
int sim_farm_print_table(FILE *out);

/* "TAG VALUE" per point: the engineering value an agent decodes from the image
 * now (raw × scale + offset). Returns 0, or -1 on a write error. */
int sim_farm_print_values(const struct sim_farm *f, FILE *out);

#endif
