/* The Hybrid Connections control channel's messages, built and parsed here
 * and nowhere else, with their limits. accept and request go from the relay
 * to a listener; response and renewToken from a listener to the relay. Each
 * side treats the other as hostile: every field a parser hands on has been
 * checked, so nothing a peer writes can steer a forward, split an HTTP head
 * or put a control character into a log. Pure: text in, struct or error out. */
#ifndef AZB_HC_PROTO_H
#define AZB_HC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"

/* Largest message a listener takes from the relay; request metadata is
 * capped at 32 kB by the service, so this leaves room for JSON escaping.
 * The relay's own cap on what listeners send is its max_control_message. */
#define HCP_MSG_MAX (256 * 1024)
#define HCP_ID_MAX 256              /* accept and request ids */
#define HCP_ADDRESS_MAX 2048
#define HCP_HOST_MAX 253
#define HCP_REQUEST_ID_MAX 64       /* a response's requestId */
#define HCP_DESCRIPTION_MAX 512
#define HCP_HEADERS_MAX 128
#define HCP_METHOD_MAX 64
#define HCP_TARGET_MAX (16 * 1024)
#define HCP_HEADER_BYTES_MAX (32 * 1024)

enum hcp_kind {
	HCP_OTHER,        /* a kind this reader does not act on: ignored */
	HCP_ACCEPT,
	HCP_REQUEST,
	HCP_RESPONSE,
	HCP_RENEW,
};

/* A rendezvous address: wss://host[:port]/$hc/... */
struct hcp_addr {
	char *host;       /* reg-name, IPv4, or IPv6 without brackets */
	uint16_t port;    /* 443 when absent */
	char *target;     /* path and query, from "/$hc/" on */
};

struct hcp_header {
	char *name, *value;
};

struct hcp_msg {
	enum hcp_kind kind;
	/* accept, request: printable, at most HCP_ID_MAX (an accept may have
	 * none); response: its requestId, at most HCP_REQUEST_ID_MAX */
	char *id;
	struct hcp_addr addr;     /* accept, request: host NULL when absent (inline) */
	char peer[56];            /* remoteEndpoint as "1.2.3.4:5", "[::1]:5", or "-" */
	char peer_ip[48];         /* ...its address alone, "" when absent */
	/* request: method NULL when only a rendezvous is asked for; else an
	 * HTTP token, and target (NULL when absent) an origin-form "/..." in
	 * visible ASCII as the client sent it */
	char *method, *target;
	bool body;                /* request, response: a binary body message follows */
	int status;               /* response: 200 to 599 */
	char *description;        /* response: one line; NULL for the status's text */
	/* request, response: safe in a head; a name given as a list is one
	 * entry per value */
	struct hcp_header headers[HCP_HEADERS_MAX];
	size_t n_headers;
	char *token;              /* renewToken (secret) */
};

/* What a listener reads from the relay: accept and request. 0 with *m
 * filled, or -EBADMSG with a one-line reason in err that quotes offending
 * text escaped, and nothing left in m. hcp_clear m either way. */
int hcp_parse_from_relay(const char *text, size_t n, struct hcp_msg *m, char *err,
			 size_t errlen);
/* What the relay reads from a listener: response and renewToken. The same,
 * except that a bad response that named its request keeps m->id: what a
 * listener garbles fails that request and nothing else. */
int hcp_parse_from_listener(const char *text, size_t n, struct hcp_msg *m, char *err,
			    size_t errlen);
void hcp_clear(struct hcp_msg *m);
/* Take what from holds into to (uninitialised); from is left empty. */
void hcp_move(struct hcp_msg *to, struct hcp_msg *from);

/* An HTTP token, and a value with no CR, LF or NUL to split a head. */
bool hcp_header_name_ok(const char *s);
bool hcp_header_value_ok(const char *s);

/* Builders: the message as compact JSON (free it; azb_free_secret a
 * renewToken), or NULL when a string cannot be written as JSON (it is not
 * UTF-8). The caller passes fields it has checked already. */
struct hcp_endpoint {
	const char *address;      /* numeric */
	int port;
};

struct hcp_accept {
	const char *address, *id;
	/* connectHeaders: a name given twice keeps its last value */
	const struct http1_header *headers;
	size_t n_headers;
	struct hcp_endpoint peer;
};

struct hcp_request {
	const char *address, *id;
	/* NULL: only ask for a rendezvous; the whole request follows there */
	const char *method;
	const char *target;
	/* requestHeaders: the values of a name given twice are one list */
	const struct http1_header *headers;
	size_t n_headers;
	struct hcp_endpoint peer;
	bool body;
};

struct hcp_response {
	const char *id;
	int status;
	const char *description;  /* NULL: none */
	/* responseHeaders: a repeated name's values joined with ", ", except
	 * Set-Cookie, which cannot be joined: a list, one cookie each */
	const struct http1_header *headers;
	size_t n_headers;
	bool body;
};

char *hcp_accept_text(const struct hcp_accept *a);
char *hcp_request_text(const struct hcp_request *r);
char *hcp_response_text(const struct hcp_response *r);
char *hcp_renew_text(const char *token);

#endif
