/* One forward at run time: a config forward, the relay it uses, and what it
 * holds while it runs (its listeners or its control channel, its tunnels).
 * fwd.c owns its lifetime: a reference count, one reference for running and
 * one per open tunnel, and a release callback from the forward's owner (the
 * supervisor) when the last one goes. Its parts hold a pointer to it for its
 * settings and counters; they never call into fwd.c. */
#ifndef AZB_FWD_H
#define AZB_FWD_H

#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "binding.h"
#include "config.h"
#include "fwd_status.h"
#include "log.h"

struct tunnel;
struct hc_listener;
struct fwd_listen;
struct fwd_kind;
struct http_exchange;
struct http_pool_conn;

/* Relay coordinates resolved from the config for one forward. */
struct fwd_relay {
	char *host;
	uint16_t port;
	bool tls;
	bool insecure;
	const struct azb_cred *cred;   /* points at fwd_run.cred */
	int token_lifetime;            /* seconds, for tokens made from a key */
};

struct fwd_run {
	struct azb_fwd *fwd;          /* owned copy */
	const struct fwd_kind **kinds;  /* the ops of each endpoint's kind */
	struct fwd_relay relay;
	struct azb_cred cred;         /* effective credentials (own over global) */
	int keep_alive;               /* seconds */
	int connect_timeout;          /* seconds for each websocket to the relay to open */
	int tunnel_ka;                /* seconds between pings on idle tunnels; 0: none */
	char *bind_address;           /* -b: source for outbound dials */
	struct fwd_listen **listens;  /* local: one per endpoint */
	struct hc_listener *hc;       /* remote: the control channel */
	struct tunnel *tunnels;       /* open tunnels (tunnel.c's list) */
	struct http_exchange *http;   /* HTTP requests under way (http_exchange.c's list) */
	struct http_pool_conn *http_pool;   /* idle connections to HTTP targets (http_pool.c's) */
	struct fwd_stats stats;
	enum fwd_state state;
	double since;                 /* wall clock of the last state change */
	double next_attempt;          /* reconnecting: wall clock of the next try */
	char reason[256];             /* failed / reconnecting */
	unsigned refs;
	void (*release)(struct fwd_run *fr);   /* the owner's: the last reference went */
	lws_sorted_usec_list_t drain_timer;
	lws_sorted_usec_list_t ka_sweep;   /* tunnel.c's keep-alive, while tunnels are open */
};

/* A forward of c, not started, holding its running reference. Touches
 * neither the loop nor the network. */
struct fwd_run *fwd_new(const struct azb_config *c, const struct azb_fwd *f,
			void (*release)(struct fwd_run *fr));
/* Listen (local) or open the control channel (remote). A forward that lacks
 * a relay endpoint or credentials stays down (FWD_FAILED) and returns 0;
 * -errno when a local endpoint cannot listen (FWD_FAILED too). */
int fwd_start(struct fwd_run *fr, const struct azb_config *c);
/* Stop accepting; open tunnels get grace seconds, then are closed. Drops
 * the running reference, so fr may be gone when this returns. */
void fwd_drain(struct fwd_run *fr, int grace);
/* Close every open tunnel now (fr may be gone afterwards). */
void fwd_close_tunnels(struct fwd_run *fr);
/* Free a released forward (from its release callback). */
void fwd_free(struct fwd_run *fr);

static inline void fwd_hold(struct fwd_run *fr)
{
	fr->refs++;
}

static inline void fwd_put(struct fwd_run *fr)
{
	if (--fr->refs == 0)
		fr->release(fr);
}

/* Journald fields of a forward's events. */
static inline struct log_ctx fwd_ctx(const struct fwd_run *fr)
{
	return (struct log_ctx){ .forward = fr->fwd->name, .relay = fr->fwd->relay };
}

#endif
