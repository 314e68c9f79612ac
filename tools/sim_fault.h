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
    unsigned other_pct;         /* share of replies sent as another unit id's */
};

struct sim_faults {
    struct sim_unit_fault unit[SIM_UNIT_MAX + 1];
    unsigned garbage_pct;       /* share of request frames followed by noise on the line */
    /* On TCP connections (RTU over TCP, gateway, dial; some also plain TCP): */
    int echo;                   /* every request frame sent back before its reply */
    unsigned hangup_pct;        /* share of requests answered by closing the connection */
    int close_after_reply;      /* every connection closed after its reply */
    unsigned hb_inside_pct;     /* dial: share of replies split by a heartbeat packet */
    int drop;                   /* dial: close the connection now and redial (one-shot) */
};

/* Directives, one a line, words separated by blanks, `#` starts a comment:
 *   silent UNIT | slow UNIT MS | exception UNIT CODE [ADDR-ADDR] | crc UNIT PERCENT |
 *   truncate UNIT PERCENT | garbage PERCENT | fussy UNIT | other UNIT PERCENT |
 *   echo on|off | hangup PERCENT | close-after-reply on|off | heartbeat-inside PERCENT |
 *   drop | behave UNIT | clear
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
    "                           (RTU; RTU over TCP and dial: before the reply, in its write\n" \
    "                           or one of their own)\n" \
    "  fussy UNIT               exception 02 for a read that touches an address no point\n" \
    "                           occupies, or reads more than 16 registers\n" \
    "  other UNIT PERCENT       send that share of UNIT's replies as another unit id's (the\n" \
    "                           next unit served, else UNIT+1), CRC correct\n" \
    "  echo on|off              RTU over TCP, dial: send every request frame back before\n" \
    "                           its reply, as a half-duplex RS-485 adapter does\n" \
    "  hangup PERCENT           TCP, gateway, RTU over TCP, dial: close the connection\n" \
    "                           instead of answering that share of requests\n" \
    "  close-after-reply on|off TCP, gateway, RTU over TCP, dial: close the connection after\n" \
    "                           every reply, as some cheap gateways do\n" \
    "  heartbeat-inside PERCENT dial: write that share of replies in two parts with the\n" \
    "                           heartbeat packet between them\n" \
    "  drop                     dial, control file only: close the connection now and redial\n" \
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
