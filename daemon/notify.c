#include "notify.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "loop.h"
#include "supervisor.h"

#define STATUS_EVERY_US (5 * LWS_US_PER_SEC)

static lws_sorted_usec_list_t tick;
static uint64_t watchdog_us;       /* 0: systemd wants no keep-alives */
static char last_status[400];
static bool stopping;
static char note[200];             /* appended to STATUS=, e.g. a failed reload */

static void status_line(char *buf, size_t len)
{
	size_t online, tunnels, n = sup_count(&online, &tunnels);

	snprintf(buf, len, "%zu binding%s, %zu online, %zu tunnel%s%s%s", n, n == 1 ? "" : "s",
		 online, tunnels, tunnels == 1 ? "" : "s", note[0] ? "; " : "", note);
}

static lws_usec_t period(void)
{
	if (watchdog_us && watchdog_us / 2 < STATUS_EVERY_US)
		return (lws_usec_t)(watchdog_us / 2);
	return STATUS_EVERY_US;
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
	char st[sizeof(last_status)];

	(void)sul;
	if (stopping)
		return;
	status_line(st, sizeof(st));
	if (strcmp(st, last_status) != 0) {
		memcpy(last_status, st, sizeof(st));
		sd_notifyf(0, "%sSTATUS=%s", watchdog_us ? "WATCHDOG=1\n" : "", st);
	} else if (watchdog_us) {
		sd_notify(0, "WATCHDOG=1");
	}
	lws_sul_schedule(loop_context(), 0, &tick, on_tick, period());
}

void notify_ready(void)
{
	if (sd_watchdog_enabled(0, &watchdog_us) <= 0)
		watchdog_us = 0;
	status_line(last_status, sizeof(last_status));
	sd_notifyf(0, "READY=1\nSTATUS=%s", last_status);
	if (watchdog_us)
		log_debug("watchdog: keep-alive every %llu ms",
			  (unsigned long long)(watchdog_us / 2000));
	lws_sul_schedule(loop_context(), 0, &tick, on_tick, period());
}

void notify_stopping(void)
{
	stopping = true;
	lws_sul_cancel(&tick);
	sd_notify(0, "STOPPING=1");
}

void notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void notify_reloaded(const char *text)
{
	snprintf(note, sizeof(note), "%s", text ? text : "");
	status_line(last_status, sizeof(last_status));
	sd_notifyf(0, "READY=1\nSTATUS=%s", last_status);
}
