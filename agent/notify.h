/* notify: the systemd service-manager protocol (sd_notify(3)) spoken by hand over
 * $NOTIFY_SOCKET, so that Type=notify and WatchdogSec= work without libsystemd.
 * Every call is a no-op when the agent was not started by systemd. */
#ifndef GANZHI_NOTIFY_H
#define GANZHI_NOTIFY_H

#include <stdint.h>

/* Sends one state message ("READY=1", "STOPPING=1", "STATUS=...", newline-separated
 * assignments). Returns 0 when sent, 1 when there is no manager to tell, -1 with
 * errno on a failure (which the caller may ignore: the manager is optional). */
int notify_send(const char *state);

/* printf-style notify_send. */
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog period the manager asked for ($WATCHDOG_USEC, only when
 * $WATCHDOG_PID is unset or names this process), in milliseconds; 0 when none.
 * Pings ("WATCHDOG=1") are due at half this period. */
int64_t notify_watchdog_ms(void);

#endif
