/* libFuzzer: a control-channel message, read as a listener reads what the
 * relay sends and as the relay reads what a listener sends. Whatever passes
 * must be safe to act on, to log and to put into a response head; whatever
 * fails must say why in printable text; and what a listener may send, built
 * again from what was parsed, parses to the same. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hc_proto.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool printable(const char *s, bool space)
{
	for (; *s; s++)
		if ((unsigned char)*s < (space ? 0x20 : 0x21) || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void check_offer(const struct hcp_msg *m)
{
	if (m->kind == HCP_ACCEPT && !m->addr.host)
		__builtin_trap();
	if (m->addr.host && (!*m->addr.host || !printable(m->addr.host, false) ||
			     strlen(m->addr.host) > HCP_HOST_MAX || m->addr.port == 0 ||
			     strncmp(m->addr.target, "/$hc/", 5) != 0 ||
			     !printable(m->addr.target, false)))
		__builtin_trap();
	if (m->kind == HCP_REQUEST && !m->id)
		__builtin_trap();
	if (m->id && (!printable(m->id, false) || strlen(m->id) > HCP_ID_MAX))
		__builtin_trap();
	if (!printable(m->peer, false))
		__builtin_trap();
}

static void from_relay(const uint8_t *data, size_t size)
{
	struct hcp_msg m;
	char err[300];

	if (hcp_parse_from_relay((const char *)data, size, &m, err, sizeof(err)) == 0)
		check_offer(&m);
	else if (!err[0] || !printable(err, true) || m.id || m.addr.host)
		__builtin_trap();
	hcp_clear(&m);
}

static void same_response(const struct hcp_msg *a, const struct hcp_msg *b)
{
	if (b->kind != HCP_RESPONSE || strcmp(a->id, b->id) != 0 || a->status != b->status ||
	    a->body != b->body || !azb_streq(a->description, b->description) ||
	    a->n_headers != b->n_headers)
		__builtin_trap();
	for (size_t i = 0; i < a->n_headers; i++)
		if (strcmp(a->headers[i].name, b->headers[i].name) != 0 ||
		    strcmp(a->headers[i].value, b->headers[i].value) != 0)
			__builtin_trap();
}

/* Built again from what was parsed, a message parses to the same. */
static void again(const struct hcp_msg *m)
{
	struct http1_header h[HCP_HEADERS_MAX];
	struct hcp_response r = { m->id, m->status, m->description, h, m->n_headers, m->body };
	struct hcp_msg m2;
	char err[300], *text;

	for (size_t i = 0; i < m->n_headers; i++)
		h[i] = (struct http1_header){ m->headers[i].name, m->headers[i].value };
	text = m->kind == HCP_RENEW ? hcp_renew_text(m->token) : hcp_response_text(&r);
	if (!text || hcp_parse_from_listener(text, strlen(text), &m2, err, sizeof(err)) < 0)
		__builtin_trap();
	if (m->kind == HCP_RENEW && (m2.kind != HCP_RENEW || strcmp(m->token, m2.token) != 0))
		__builtin_trap();
	if (m->kind == HCP_RESPONSE)
		same_response(m, &m2);
	hcp_clear(&m2);
	free(text);
}

static void check_response(const struct hcp_msg *m)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (!hcp_header_name_ok(m->headers[i].name) ||
		    !hcp_header_value_ok(m->headers[i].value))
			__builtin_trap();
	if (m->description && !hcp_header_value_ok(m->description))
		__builtin_trap();
	if (m->kind == HCP_RESPONSE && (m->status < 200 || m->status > 599 || !m->id ||
					strlen(m->id) > HCP_REQUEST_ID_MAX))
		__builtin_trap();
}

static void from_listener(const uint8_t *data, size_t size)
{
	struct hcp_msg m;
	char err[300];

	if (hcp_parse_from_listener((const char *)data, size, &m, err, sizeof(err)) == 0) {
		check_response(&m);
		if (m.kind != HCP_OTHER)
			again(&m);
	} else if (!err[0] || !printable(err, true) || m.kind != HCP_OTHER || m.n_headers) {
		__builtin_trap();
	}
	hcp_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	from_relay(data, size);
	from_listener(data, size);
	return 0;
}
