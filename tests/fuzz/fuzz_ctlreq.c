/* libFuzzer: one request line as a local user may write it to the control
 * socket, through the daemon's decoder. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const codes[] = { "bad-request", "unknown-command" };

/* A refusal is one well-formed reply: ok false, a known code, a message
 * that serialises (valid UTF-8 whatever the client quoted). */
static void check_reply(json_t *reply)
{
	const char *code = json_string_value(json_object_get(reply, "error"));
	char *text;
	int known = 0;

	if (!json_is_object(reply) || !json_is_false(json_object_get(reply, "ok")) || !code ||
	    !json_is_string(json_object_get(reply, "message")))
		__builtin_trap();
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		known |= strcmp(code, codes[i]) == 0;
	text = json_dumps(reply, JSON_COMPACT);
	if (!known || !text)
		__builtin_trap();
	free(text);
}

/* What passes holds every member its verb requires, of the right type. */
static void check_request(const struct ctl_request *rq)
{
	if (!rq->verb || !json_is_object(rq->req) ||
	    ctl_verb_find(json_string_value(json_object_get(rq->req, "cmd"))) != rq->verb)
		__builtin_trap();
	for (const struct ctl_arg *a = rq->verb->args; a->key; a++) {
		json_t *m = json_object_get(rq->req, a->key);

		if (a->required && !m)
			__builtin_trap();
		if (m && (a->type == JSON_TRUE ? !json_is_boolean(m) : json_typeof(m) != a->type))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request rq;
	json_t *reply;

	if (ctl_decode((const char *)data, size, &rq, &reply) == 0) {
		if (reply)
			__builtin_trap();
		check_request(&rq);
		json_decref(rq.req);
	} else {
		if (rq.verb || rq.req)
			__builtin_trap();
		check_reply(reply);
		json_decref(reply);
	}
	return 0;
}
