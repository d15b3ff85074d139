/* What a forward reports: its state, its counters and its last error. Its
 * parts (listeners, the control channel, tunnels) write here; the control
 * socket and STATUS= read it. Data and small helpers only, so that every
 * part may use them without calling up into the forward. */
#ifndef AZB_FWD_STATUS_H
#define AZB_FWD_STATUS_H

#include <stdint.h>

#include "log.h"

struct fwd_run;

struct fwd_stats {
	uint64_t bytes_up;        /* from the local side (for UDP: payloads) */
	uint64_t bytes_down;      /* to the local side */
	uint64_t tunnels_total;
	uint64_t tunnels_failed;
	uint32_t tunnels_open;
	uint32_t reconnects;
	uint64_t datagrams_dropped;  /* UDP: over the queue budget or the flow limit */
	char last_error[256];
};

/* What list/show report; changed only through fwd_set_state(). */
enum fwd_state {
	FWD_STARTING,
	FWD_LISTENING,     /* local: every endpoint bound */
	FWD_CONNECTING,    /* remote: opening the control channel */
	FWD_ONLINE,        /* remote: control channel up */
	FWD_RECONNECTING,  /* remote: waiting for the next attempt */
	FWD_FAILED,        /* not running; reason says why */
	FWD_DRAINING,      /* removed or replaced; open tunnels may finish */
};

const char *fwd_state_name(enum fwd_state s);
/* reason may be NULL; next_in_us is for FWD_RECONNECTING. A draining
 * forward stays draining. */
void fwd_set_state(struct fwd_run *fr, enum fwd_state s, const char *reason, int64_t next_in_us);

/* Record an error for stats/ctl and log it once at warning. */
void fwd_error(struct fwd_run *fr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a tunnel's context (journald fields AZB_TUNNEL, AZB_PEER). */
void fwd_error_ctx(struct fwd_run *fr, const struct log_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
