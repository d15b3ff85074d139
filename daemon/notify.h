/* systemd notifications: readiness, a status line with counts, and watchdog
 * keep-alives sent from the event loop itself, so a stuck loop stops them. */
#ifndef AZB_NOTIFY_H
#define AZB_NOTIFY_H

/* READY=1 with the first STATUS=, then WATCHDOG=1 every half WatchdogSec
 * (when systemd asked for it) and STATUS= whenever the counts change. */
void notify_ready(void);
/* STOPPING=1; no more keep-alives. */
void notify_stopping(void);

#endif
