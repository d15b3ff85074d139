/* A running forward: a config forward plus what it holds at run time. */
#ifndef AZB_FWD_H
#define AZB_FWD_H

#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "binding.h"
#include "config.h"
#include "log.h"

struct tunnel;
struct hc_listener;
struct fwd_listen;

struct fwd_stats {
	uint64_t bytes_up;        /* local side -> relay */
	uint64_t bytes_down;      /* relay -> local side */
	uint64_t tunnels_total;
	uint64_t tunnels_failed;
	uint32_t tunnels_open;
	uint32_t reconnects;
	uint64_t datagrams_dropped;  /* UDP: over the queue budget or the route limit */
	char last_error[256];
};

/* Relay coordinates resolved from the config for one forward. */
struct fwd_relay {
	char *host;
	uint16_t port;
	bool tls;
	bool insecure;
	const struct azb_cred *cred;   /* points at fwd_run.cred */
	int token_lifetime;            /* seconds, for tokens made from a key */
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

struct fwd_run {
	struct azb_fwd *fwd;          /* owned copy */
	struct fwd_relay relay;
	struct azb_cred cred;         /* effective credentials (own over global) */
	int keep_alive;               /* seconds */
	int connect_timeout;          /* seconds for each websocket to the relay to open */
	char *bind_address;           /* -b: source for outbound dials */
	struct fwd_listen **listens;  /* local: one per endpoint */
	struct hc_listener *hc;       /* remote: the control channel */
	struct tunnel *tunnels;       /* open tunnels (list) */
	struct fwd_stats stats;
	bool stopping;                /* freed by fwd_release() after the last tunnel */
	enum fwd_state state;
	double since;                 /* wall clock of the last state change */
	double next_attempt;          /* reconnecting: wall clock of the next try */
	char reason[256];             /* failed / reconnecting */
	lws_sorted_usec_list_t drain_timer;
};

const char *fwd_state_name(enum fwd_state s);
/* reason may be NULL; next_in_us is for FWD_RECONNECTING. */
void fwd_set_state(struct fwd_run *fr, enum fwd_state s, const char *reason, int64_t next_in_us);

void fwd_release(struct fwd_run *fr);

/* Journald fields of a forward's events. */
static inline struct log_ctx fwd_ctx(const struct fwd_run *fr)
{
	return (struct log_ctx){ .binding = fr->fwd->name, .relay = fr->fwd->relay };
}

/* Record an error for stats/ctl and log it once at warning. */
void fwd_error(struct fwd_run *fr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a tunnel's context (journald fields AZB_TUNNEL, AZB_PEER). */
void fwd_error_ctx(struct fwd_run *fr, const struct log_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
