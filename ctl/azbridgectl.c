/* azbridgectl: the client of azbridged's control socket. It sends one
 * request and prints the reply; all the knowledge is in the daemon. */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"
#include "import.h"

static int usage_error(const char *msg)
{
	fprintf(stderr, "azbridgectl: %s\nTry 'azbridgectl --help'.\n", msg);
	return CTL_EXIT_USAGE;
}

static int unreachable(const struct ctl_cmd *c, int r)
{
	const char *p = c->socket;

	switch (r) {
	case -ENAMETOOLONG:
		fprintf(stderr, "azbridgectl: %s: not a usable socket path (1 to 107 bytes)\n", p);
		return CTL_EXIT_USAGE;
	case -EACCES: case -EPERM:
		fprintf(stderr, "azbridgectl: cannot connect to %s: %s (only root and the "
			"socket's group, azbridge by default, may connect)\n", p, strerror(-r));
		return CTL_EXIT_DENIED;
	case -ENOENT: case -ECONNREFUSED: case -ENOTDIR:
		fprintf(stderr, "azbridgectl: cannot connect to %s: %s (is azbridged running?)\n",
			p, strerror(-r));
		break;
	case -ETIMEDOUT:
		fprintf(stderr, "azbridgectl: no reply from azbridged on %s within %g s\n", p,
			c->timeout);
		break;
	case -ECONNRESET: case -EPIPE:
		fprintf(stderr, "azbridgectl: azbridged on %s closed the connection without a "
			"reply\n", p);
		break;
	case -EPROTO:
		fprintf(stderr, "azbridgectl: azbridged on %s closed the connection in the middle "
			"of a reply\n", p);
		break;
	case -EMSGSIZE:
		fprintf(stderr, "azbridgectl: the reply from %s is larger than %u MiB; giving up\n",
			p, CTL_MAX_REPLY >> 20);
		break;
	default:
		fprintf(stderr, "azbridgectl: %s: %s\n", p, strerror(-r));
		break;
	}
	return CTL_EXIT_UNREACHABLE;
}

/* The reply must be an object with a boolean "ok": anything else is not
 * azbridged speaking. */
static json_t *parse_reply(const struct ctl_cmd *c, const struct sbuf *line)
{
	json_error_t je;
	json_t *reply = json_loadb(line->s, line->len, 0, &je);

	if (!reply) {
		fprintf(stderr, "azbridgectl: the reply from %s is not JSON (%s at byte %d)\n",
			c->socket, je.text, je.position);
		return NULL;
	}
	if (!json_is_object(reply) || !json_is_boolean(json_object_get(reply, CTL_M_OK))) {
		fprintf(stderr, "azbridgectl: the reply from %s is not an object with \"ok\"\n",
			c->socket);
		json_decref(reply);
		return NULL;
	}
	return reply;
}

static int show(const struct ctl_cmd *c, const struct sbuf *line, const json_t *reply)
{
	bool ok = json_is_true(json_object_get(reply, CTL_M_OK));

	if (c->json)
		printf("%.*s\n", (int)line->len, line->s);
	else if (ok)
		pr_reply(c->req, reply);
	else
		pr_failure(reply);
	if (ok)
		return CTL_EXIT_OK;
	if (azb_streq(json_string_value(json_object_get(reply, CTL_M_ERROR)), CTL_E_DENIED))
		return CTL_EXIT_DENIED;
	return CTL_EXIT_FAILED;
}

static int run(const struct ctl_cmd *c)
{
	char *text = json_dumps(c->req, JSON_COMPACT);
	struct sbuf req, line;
	json_t *reply;
	int r;

	sbuf_init(&req);
	sbuf_add(&req, text);
	sbuf_addc(&req, '\n');
	free(text);
	sbuf_init(&line);
	r = conn_request(c->socket, c->timeout, req.s, req.len, &line);
	sbuf_free(&req);
	if (r < 0) {
		sbuf_free(&line);
		return unreachable(c, r);
	}
	if (line.len && line.s[line.len - 1] == '\r')
		line.s[--line.len] = '\0';
	reply = parse_reply(c, &line);
	r = reply ? show(c, &line, reply) : CTL_EXIT_UNREACHABLE;
	json_decref(reply);
	sbuf_free(&line);
	return r;
}

/* A full disk or a closed pipe must not look like success to a script. */
static int flush_stdout(int r)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "azbridgectl: writing the output: %s\n", strerror(errno));
		return r == CTL_EXIT_OK ? CTL_EXIT_FAILED : r;
	}
	return r;
}

int main(int argc, char **argv)
{
	struct ctl_cmd c;
	char err[512];
	int r;

	/* One out-of-memory policy for us and jansson: abort with a message. */
	json_set_alloc_funcs(xmalloc, free);
	/* A local command: it reads files and needs no daemon. */
	if (argc > 1 && strcmp(argv[1], "import") == 0)
		return imp_main(argc - 1, argv + 1);
	if (cmd_parse(argc, argv, &c, err, sizeof(err)) < 0)
		return usage_error(err);
	if (c.help)
		cmd_usage(stdout);
	else if (c.version)
		printf("azbridgectl %s\n", AZB_VERSION);
	r = c.req ? run(&c) : CTL_EXIT_OK;
	cmd_free(&c);
	return flush_stdout(r);
}
