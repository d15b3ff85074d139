/* The relay's control messages as a listener reads them: accept and request,
 * validated before anything acts on them. The relay is a peer like any other
 * (a compromised or impostor relay must not steer a forward), so every field
 * used is checked here and nowhere else. Pure: text in, struct or error out. */
#ifndef AZB_HCMSG_H
#define AZB_HCMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest control message accepted; request metadata is capped at 32 kB by
 * the service, so this leaves room for JSON escaping. */
#define HCMSG_MAX (256 * 1024)
#define HCMSG_ID_MAX 256
#define HCMSG_ADDRESS_MAX 2048
#define HCMSG_HOST_MAX 253

enum hcmsg_kind {
	HCMSG_OTHER,      /* a kind we do not know: ignored */
	HCMSG_ACCEPT,
	HCMSG_REQUEST,
};

/* A rendezvous address: wss://host[:port]/$hc/... */
struct hcmsg_addr {
	char *host;       /* reg-name, IPv4, or IPv6 without brackets */
	uint16_t port;    /* 443 when absent */
	char *target;     /* path and query, from "/$hc/" on */
};

struct hcmsg {
	enum hcmsg_kind kind;
	char *id;                 /* printable, at most HCMSG_ID_MAX; NULL if absent */
	struct hcmsg_addr addr;   /* host NULL when absent (an inline request) */
	char peer[56];            /* remoteEndpoint as "1.2.3.4:5", "[::1]:5", or "-" */
	bool body;                /* request: a binary body message follows */
};

/* Parse one text message. 0 with *m filled (kind HCMSG_OTHER for a message
 * to ignore); -EINVAL with a one-line reason in err that quotes offending
 * text escaped (no control characters reach a log). */
int hcmsg_parse(const char *text, size_t len, struct hcmsg *m, char *err, size_t errlen);
void hcmsg_clear(struct hcmsg *m);

#endif
