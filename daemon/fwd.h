/* A running forward: a config forward plus what it holds at run time. */
#ifndef AZB_FWD_H
#define AZB_FWD_H

#include <stdbool.h>
#include <stdint.h>

#include "binding.h"
#include "config.h"

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
	char last_error[160];
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

struct fwd_run {
	struct azb_fwd *fwd;          /* owned copy */
	struct fwd_relay relay;
	struct azb_cred cred;         /* effective credentials (own over global) */
	int keep_alive;               /* seconds */
	char *bind_address;           /* -b: source for outbound dials */
	struct fwd_listen **listens;  /* local: one per endpoint */
	struct hc_listener *hc;       /* remote: the control channel */
	struct tunnel *tunnels;       /* open tunnels (list) */
	struct fwd_stats stats;
	bool draining;
	bool stopping;                /* freed by fwd_release() after the last tunnel */
};

void fwd_release(struct fwd_run *fr);

/* Record an error for stats/ctl and log it once at warning. */
void fwd_error(struct fwd_run *fr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
