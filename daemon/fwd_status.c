#include "fwd_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "fwd.h"
#include "util.h"

static const char *const state_names[] = {
	[FWD_STARTING] = "starting",         [FWD_LISTENING] = "listening",
	[FWD_CONNECTING] = "connecting",     [FWD_ONLINE] = "online",
	[FWD_RECONNECTING] = "reconnecting", [FWD_FAILED] = "failed",
	[FWD_DRAINING] = "draining",
};

const char *fwd_state_name(enum fwd_state s)
{
	return state_names[s];
}

void fwd_set_state(struct fwd_run *fr, enum fwd_state s, const char *reason, int64_t next_in_us)
{
	if (fr->state == FWD_DRAINING && s != FWD_DRAINING)
		return;
	fr->since = fr->state == s && s != FWD_RECONNECTING ? fr->since : azb_clock_s(CLOCK_REALTIME);
	fr->state = s;
	snprintf(fr->reason, sizeof(fr->reason), "%s", reason ? reason : "");
	fr->next_attempt = s == FWD_RECONNECTING ? fr->since + (double)next_in_us / 1e6 : 0;
}

static void fwd_verror(struct fwd_run *fr, const struct log_ctx *c, const char *fmt,
		       va_list ap)
{
	vsnprintf(fr->stats.last_error, sizeof(fr->stats.last_error), fmt, ap);
	log_ctx(LOG_WARNING, c, "%s: %s", fr->fwd->name, fr->stats.last_error);
}

void fwd_error(struct fwd_run *fr, const char *fmt, ...)
{
	struct log_ctx c = fwd_ctx(fr);
	va_list ap;

	va_start(ap, fmt);
	fwd_verror(fr, &c, fmt, ap);
	va_end(ap);
}

void fwd_error_ctx(struct fwd_run *fr, const struct log_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fwd_verror(fr, c, fmt, ap);
	va_end(ap);
}
