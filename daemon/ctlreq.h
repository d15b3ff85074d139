/* Requests on the control socket as the daemon reads them (the protocol is
 * in azbridgectl(8)): one line in; out, the verb with the request whose
 * members have been checked against the verb's table, or the reply that
 * refuses it. No I/O and no state but the verb table, so that a fuzzer can
 * drive it alone. */
#ifndef AZB_CTLREQ_H
#define AZB_CTLREQ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum ctl_verb_id {
	CTL_VERSION, CTL_STATUS, CTL_LIST, CTL_SHOW, CTL_STATS, CTL_HOSTS_LIST,
	CTL_ADD, CTL_REMOVE, CTL_RELOAD, CTL_HOSTS_ADD, CTL_HOSTS_REMOVE,
	CTL_N_VERBS
};

/* A member a verb reads; members it does not list are ignored, so that
 * newer clients can talk to older daemons. */
struct ctl_arg {
	const char *key;
	json_type type;         /* JSON_TRUE stands for either boolean */
	bool required;
};

struct ctl_verb {
	const char *name;
	enum ctl_verb_id id;
	bool mutating;          /* root, the daemon's user and control_users only */
	const struct ctl_arg *args;   /* ends with a NULL key */
};

struct ctl_request {
	const struct ctl_verb *verb;
	json_t *req;            /* the caller's reference */
};

/* 0 with *out filled, or -EINVAL with the refusal in *reply (bad-request,
 * unknown-command). */
int ctl_decode(const char *line, size_t len, struct ctl_request *out, json_t **reply);
const struct ctl_verb *ctl_verb_find(const char *name);

json_t *ctl_ok(void);
json_t *ctl_fail(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
