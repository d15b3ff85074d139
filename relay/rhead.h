/* What a client's request head means to the relay, decided in one place.
 * Every string a sender, listener or HTTP client chose (Host, target, path,
 * ids, header values, a listener's rejection) is checked here, where the
 * head is parsed, so nothing later can put a string JSON cannot hold, a
 * CR/LF or another entity's name into a message, a header or a resource. */
#ifndef AZB_RHEAD_H
#define AZB_RHEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "http1.h"
#include "relay.h"

/* A Host header: reg-name, IPv4 or [IPv6], an optional port, nothing else. */
struct rhost {
	char name[256];          /* lower-cased; an IPv6 literal keeps its brackets */
	uint16_t port;           /* 0: none given */
};
int rhead_parse_host(const char *s, struct rhost *out);   /* 0 or -EINVAL */

enum rroute_kind {
	RR_HTTP,                 /* a plain HTTP request for a listener */
	RR_LISTEN,               /* websocket: a listener's control channel */
	RR_CONNECT,              /* websocket: a sender */
	RR_ACCEPT,               /* websocket: a listener's rendezvous (or rejection) */
	RR_REQUEST,              /* websocket: a listener's HTTP rendezvous */
};

struct rroute {
	enum rroute_kind kind;
	struct rhost host;
	char *path;              /* the entity path as decoded (no leading or trailing '/') */
	struct relay_hc *hc;     /* the longest registered name that prefixes path, or NULL */
	char *id;                /* sb-hc-id, when given */
	const char *ws_key;      /* Sec-WebSocket-Key (websocket routes) */
	int reject_status;       /* RR_ACCEPT: a listener's rejection (0: it accepts,
				  * -1: its status or reason was unusable) */
	char *reject_reason;
};

/* 0 with rt filled (rroute_clear it either way), or the HTTP status to
 * refuse the request with and a short reason in *why. carried_http: this
 * connection has already carried plain HTTP requests. */
int rroute_decide(const struct relay *r, const struct http1_head *h, bool carried_http,
		  struct rroute *rt, const char **why);
void rroute_clear(struct rroute *rt);

/* A query parameter of a request target, decoded; NULL when absent. A
 * value with a bad escape comes back as "\x01", which no check accepts. */
char *rhead_query(const char *target, const char *name);

/* Is s (n bytes) text a JSON string, a log line and a header value can all
 * take: UTF-8 with no control characters? */
bool rhead_text_ok(const char *s, size_t n);

#endif
