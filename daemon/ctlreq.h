/* Requests on the control socket as the daemon reads them (the protocol is
 * in azbridgectl(8), its table in ctl_proto.h): one line in; out, the verb
 * with the request whose members have been checked against the verb's
 * table, or the reply that refuses it. No I/O and no state, so that a fuzzer
 * can drive it alone. */
#ifndef AZB_CTLREQ_H
#define AZB_CTLREQ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ctl_proto.h"

struct ctl_request {
	const struct ctl_verb *verb;
	json_t *req;            /* the caller's reference */
};

/* 0 with *out filled, or -EINVAL with the refusal in *reply (bad-request,
 * unknown-command). */
int ctl_decode(const char *line, size_t len, struct ctl_request *out, json_t **reply);

json_t *ctl_ok(void);
json_t *ctl_fail(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
