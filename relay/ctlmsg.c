/* Messages a listener sends the relay, on its control channel or on an HTTP
 * rendezvous: checked in full here, so nothing a listener writes can reach
 * an HTTP client's response head unvalidated. */
#include "ctlmsg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HEADERS_MAX 64
#define HEADER_BYTES_MAX (32 * 1024)

static bool is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool ctl_header_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_tchar(*s))
			return false;
	return true;
}

/* Visible characters, spaces and tabs: no CR, LF or NUL to split a head. */
bool ctl_header_value_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
		else if (*s == 0x7f)
			return false;
	return true;
}

static int fail(char *why, size_t len, const char *what)
{
	snprintf(why, len, "%s", what);
	return -EBADMSG;
}

static int parse_status(json_t *v, int *out)
{
	long code;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 200 || i > 599)
			return -ERANGE;
		*out = (int)i;
		return 0;
	}
	if (json_is_string(v) && azb_parse_int(json_string_value(v), 200, 599, &code) == 0) {
		*out = (int)code;
		return 0;
	}
	return -ERANGE;
}

/* Header values are strings; numbers and booleans become text as a
 * JavaScript listener would print them. */
static int parse_headers(json_t *hdrs, struct ctl_msg *m, char *why, size_t len)
{
	const char *name;
	json_t *v;
	size_t bytes = 0;

	if (!hdrs || json_is_null(hdrs))
		return 0;
	if (!json_is_object(hdrs))
		return fail(why, len, "responseHeaders is not an object");
	json_object_foreach(hdrs, name, v) {
		char num[32];
		const char *s = num;

		if (m->n_headers == HEADERS_MAX)
			return fail(why, len, "too many response headers");
		if (json_is_string(v))
			s = json_string_value(v);
		else if (json_is_integer(v))
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else if (json_is_boolean(v))
			snprintf(num, sizeof(num), "%s", json_is_true(v) ? "true" : "false");
		else
			return fail(why, len, "a response header value is not a string");
		if (!ctl_header_name_ok(name) || !ctl_header_value_ok(s))
			return fail(why, len, "a response header has a character HTTP does not allow");
		bytes += strlen(name) + strlen(s) + 4;
		if (bytes > HEADER_BYTES_MAX)
			return fail(why, len, "response headers exceed 32 kB");
		m->headers[m->n_headers].name = xstrdup(name);
		m->headers[m->n_headers].value = xstrdup(s);
		m->n_headers++;
	}
	return 0;
}

static int parse_response(json_t *r, struct ctl_msg *m, char *why, size_t len)
{
	json_t *id = json_object_get(r, "requestId"), *desc = json_object_get(r, "statusDescription");
	json_t *body = json_object_get(r, "body");

	if (!json_is_object(r))
		return fail(why, len, "response is not an object");
	if (!json_is_string(id) || !*json_string_value(id) || strlen(json_string_value(id)) > 64)
		return fail(why, len, "response has no valid requestId");
	m->request_id = xstrdup(json_string_value(id));
	/* 1xx would make the client wait for another head; past 599 there is
	 * no status. 502 and 504 stay the relay's own in meaning only. */
	if (parse_status(json_object_get(r, "statusCode"), &m->status) < 0)
		return fail(why, len, "response statusCode is not a number from 200 to 599");
	if (desc && !json_is_null(desc) &&
	    (!json_is_string(desc) || strlen(json_string_value(desc)) > 512 ||
	     !ctl_header_value_ok(json_string_value(desc))))
		return fail(why, len, "response statusDescription is not a one-line string");
	if (body && !json_is_boolean(body) && !json_is_null(body))
		return fail(why, len, "response body is not a boolean");
	m->kind = CTL_RESPONSE;
	m->description = json_is_string(desc) ? xstrdup(json_string_value(desc)) : NULL;
	m->body = json_is_true(body);
	return parse_headers(json_object_get(r, "responseHeaders"), m, why, len);
}

static int parse_renew(json_t *r, struct ctl_msg *m, char *why, size_t len)
{
	json_t *tok = json_is_object(r) ? json_object_get(r, "token") : NULL;

	if (!json_is_string(tok))
		return fail(why, len, "renewToken has no token string");
	m->kind = CTL_RENEW;
	m->token = xstrdup(json_string_value(tok));
	return 0;
}

int ctl_parse(const char *text, size_t n, struct ctl_msg *m, char *why, size_t len)
{
	json_error_t err;
	json_t *j, *v;
	int rc;

	memset(m, 0, sizeof(*m));
	j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		snprintf(why, len, "bad JSON at character %d: %s", err.position, err.text);
		return -EBADMSG;
	}
	if (!json_is_object(j))
		rc = fail(why, len, "a control message is a JSON object");
	else if ((v = json_object_get(j, "response")))
		rc = parse_response(v, m, why, len);
	else if ((v = json_object_get(j, "renewToken")))
		rc = parse_renew(v, m, why, len);
	else
		rc = 0;     /* kinds this relay does not know are ignored */
	json_decref(j);
	if (rc < 0) {
		char *id = m->request_id;

		m->request_id = NULL;
		ctl_clear(m);
		m->request_id = id;
	}
	return rc;
}

void ctl_clear(struct ctl_msg *m)
{
	for (size_t i = 0; i < m->n_headers; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	azb_free_secret(m->token);
	free(m->request_id);
	free(m->description);
	memset(m, 0, sizeof(*m));
}
