/* Parsing what listeners send: renewToken and HTTP response messages. */
#ifndef AZB_CTLMSG_H
#define AZB_CTLMSG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum ctl_kind {
	CTL_NONE,        /* a kind the relay does not act on */
	CTL_RENEW,
	CTL_RESPONSE,
};

struct ctl_header {
	char *name, *value;
};

struct ctl_msg {
	enum ctl_kind kind;
	char *token;              /* renewToken (secret) */
	char *request_id;         /* response */
	int status;
	char *description;        /* NULL: the status's usual text */
	bool body;
	struct ctl_header headers[64];
	size_t n_headers;
};

/* 0 (m filled), or -EBADMSG with the reason in why and, when the message
 * named a request, only request_id set. ctl_clear m either way. */
int ctl_parse(const char *text, size_t n, struct ctl_msg *m, char *why, size_t len);
void ctl_clear(struct ctl_msg *m);
bool ctl_header_name_ok(const char *s);
bool ctl_header_value_ok(const char *s);

#endif
