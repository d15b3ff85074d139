/* systemd notifications: readiness, a status line with counts, and watchdog
 * keep-alives sent from the event loop itself, so a stuck loop stops them. */
#ifndef AZB_NOTIFY_H
#define AZB_NOTIFY_H

/* READY=1 with the first STATUS=, then WATCHDOG=1 every half WatchdogSec
 * (when systemd asked for it) and STATUS= whenever the counts change. */
void notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC=, as systemd's notify-reload expects. */
void notify_reloading(void);
/* READY=1 again; text (NULL: none) stays in STATUS= until the next reload,
 * e.g. why the last one failed. */
void notify_reloaded(const char *text);
/* STOPPING=1; no more keep-alives. */
void notify_stopping(void);

#endif
