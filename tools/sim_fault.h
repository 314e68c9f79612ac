/* sim_fault: the simulator's misbehaviour on demand: directives, per unit, from the command line and a control file. */
#ifndef GANZHI_SIM_FAULT_H
#define GANZHI_SIM_FAULT_H

#include "tools/sim_stats.h"
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* How one unit id misbehaves; all zero: it behaves. */
struct sim_unit_fault {
    int silent;                 /* never answers */
    unsigned slow_ms;           /* answers this late */
    int exc_code;               /* 1..255: answers with this exception; 0: no */
    int exc_ranged;             /* only requests touching [exc_lo, exc_hi]; else all */
    unsigned exc_lo, exc_hi;
    unsigned crc_pct;           /* share of replies sent with a corrupted CRC */
    unsigned trunc_pct;         /* share of replies cut short */
    int fussy;                  /* refuses reads over gaps or longer than 16 registers */
};

struct sim_faults {
    struct sim_unit_fault unit[SIM_UNIT_MAX + 1];
    unsigned garbage_pct;       /* share of request frames followed by noise on the line */
};

/* Directives, one a line, words separated by blanks, `#` starts a comment:
 *   silent UNIT | slow UNIT MS | exception UNIT CODE [ADDR-ADDR] | crc UNIT PERCENT |
 *   truncate UNIT PERCENT | garbage PERCENT | fussy UNIT | behave UNIT | clear
 * A later directive of a kind replaces an earlier one for the same unit; `behave UNIT`
 * forgets what a unit was told, `clear` forgets everything. */
#define SIM_FAULT_HELP \
    "  silent UNIT              never answer\n" \
    "  slow UNIT MS             answer MS milliseconds late (0..600000)\n" \
    "  exception UNIT CODE [A-B]  answer with exception CODE (1..255), every request or\n" \
    "                           only those touching addresses A..B\n" \
    "  crc UNIT PERCENT         corrupt the CRC of that share of replies (TCP: garble them)\n" \
    "  truncate UNIT PERCENT    cut that share of replies short\n" \
    "  garbage PERCENT          after that share of request frames, random bytes on the line\n" \
    "                           (RTU only)\n" \
    "  fussy UNIT               exception 02 for a read that touches an address no point\n" \
    "                           occupies, or reads more than 16 registers\n" \
    "  behave UNIT              forget what UNIT was told\n" \
    "  clear                    forget everything, the --misbehave directives too\n"

void sim_faults_clear(struct sim_faults *f);

/* Apply one line to f. Blank and comment lines do nothing. Returns 0, or -1 with a
 * message (without the file and line) in err, f unchanged. */
int sim_faults_apply(struct sim_faults *f, const char *line, char *err, size_t errlen);

/* A control file re-read whenever it changes. What is in force is the --misbehave
 * directives (the base) followed by the file's lines; no file or an empty one leaves
 * the base alone. */
struct sim_control {
    const char *path;           /* NULL: no control file */
    struct sim_faults base;
    int known;                  /* the fields below describe the version last read */
    struct timespec mtime;
    off_t size;
    ino_t ino;
};

/* If the file changed since the last call (or this is the first), read it and set *cur to
 * base + file. Returns 1 when *cur was set, 0 when nothing changed, -1 when the file
 * could not be read or holds a bad line: each problem printed to stderr as
 * "ganzhi-sim: FILE:LINE: message" and *cur left as it was. */
int sim_control_poll(struct sim_control *c, struct sim_faults *cur);

#endif
