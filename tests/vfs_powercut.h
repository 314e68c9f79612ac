/*
 * vfs_powercut: a test SQLite VFS over the default one that simulates power cuts.
 *
 * Every file opened through it is tracked by path (all handles of a path share
 * one "disk"): at the first write or truncate after a sync, the content the file
 * had at that sync is copied aside, and the writes since are logged. A cut (the
 * Nth write, truncate or sync after pc_arm, or pc_cut_now) kills the process as
 * far as SQLite can tell: that operation and every later one on any file fails
 * (SQLITE_IOERR), locks cannot be taken, nothing can be deleted. The test then
 * closes every connection and calls pc_reboot, which puts each file back as the
 * disk would hold it after the cut and deletes the -shm files (shared memory does
 * not survive a reboot).
 *
 * What the disk holds after a cut (pc_set_mode):
 *   PC_CLEAN   the content at each file's last sync: every unsynced write lost
 *   PC_TORN    that, plus a random subset of the unsynced writes' 512-byte
 *              sectors, applied in order: writes reordered and torn by the disk
 *   PC_NOSYNC  syncs are lies: the content each file had before its first write
 *              since the last reboot, every later write lost. What synchronous=OFF
 *              on a disk whose cache was never flushed amounts to; the invariants
 *              must catch it (tests/unit_powercut.c, test_nosync_caught).
 * Syncs are not passed to the real disk: durability is simulated.
 *
 * Small databases only: a file's whole content is copied at its first write after
 * each sync. Single-threaded use.
 */
#ifndef GANZHI_VFS_POWERCUT_H
#define GANZHI_VFS_POWERCUT_H

#include <stdint.h>

enum pc_mode { PC_CLEAN, PC_TORN, PC_NOSYNC };

/* Register the shim as the default VFS (over the current default). 0 or -1. */
int pc_register(void);
/* The cut comes at the nth write/truncate/sync from now (1 = the next one);
 * 0 disarms. seed drives the choice of surviving sectors (PC_TORN, PC_NOSYNC). */
void pc_arm(uint64_t nth, enum pc_mode mode, uint64_t seed);
/* Cut now (between operations). */
void pc_cut_now(void);
/* Whether the cut has come: the test's "process" is dead. */
int pc_dead(void);
/* Writes, truncates and syncs seen since pc_arm. */
uint64_t pc_ops(void);
/* Every file of the shim is closed: put the files as the disk holds them after
 * the cut (nothing changes when no cut came), delete the -shm files, and let I/O
 * through again. 0, or -1 if a file is still open or cannot be rewritten. */
int pc_reboot(void);
/* Every connection opened from now on runs at PRAGMA synchronous=level ("OFF",
 * "NORMAL"), whatever it asks for (NULL: as asked). To show what the store's
 * synchronous=FULL is for. */
void pc_force_synchronous(const char *level);
/* on: files opened meanwhile are plain ones (the test's checks on a copy): not
 * tracked, never cut, syncs skipped; off: tracked again. */
void pc_bypass(int on);
/* Files that had writes to lose at a cut, since the start. */
uint64_t pc_files_put_back(void);
/* Files tracked, open handles (for the test's own checks). */
int pc_open_handles(void);
/* Forget every tracked file (a new test directory). Only when none is open. */
void pc_forget(void);

#endif
