/* The merged configuration of the original written as an azbridge.conf(5)
 * drop-in: every key that has a meaning here under our name, one note for
 * each that has none (or a different one), one error for each value the
 * original itself would refuse. */
#include "import.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HIDDEN "<hidden: written only to a file or a pipe>"

struct em {
	struct sbuf b;
	bool redact, secret;
	struct imp_msgs *notes, *errs;
	char **names;              /* forward names given so far */
	size_t nnames;
};

void imp_quote(struct sbuf *b, const char *s)
{
	sbuf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			sbuf_printf(b, "\\x%02x", *p);
		else
			sbuf_addc(b, (char)*p);
	}
	sbuf_addc(b, '"');
}

static void note(struct em *e, const struct imp_val *v, const char *key, const char *fmt, ...)
	AZB_PRINTF(4, 5);
static void note(struct em *e, const struct imp_val *v, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	imp_msg_add(e->notes, v->file, v->n, "%s: %s", key, msg);
	free(msg);
}

static const char *text(const struct imp_val *v)
{
	return v->n ? v->n->text : NULL;
}

/* pre key = "v"; post */
static void put(struct em *e, const char *pre, const char *key, const char *v, bool secret,
		const char *post)
{
	sbuf_printf(&e->b, "%s%s = ", pre, key);
	imp_quote(&e->b, secret && e->redact ? HIDDEN : v);
	sbuf_printf(&e->b, ";%s", post);
	e->secret |= secret;
}

static void put_str(struct em *e, const char *key, const char *v, bool secret)
{
	put(e, "", key, v, secret, "\n");
}

static bool cs_secret(const char *cs)
{
	return strcasestr(cs, "SharedAccessKey=") || strcasestr(cs, "SharedAccessSignature=");
}

/* ---- globals ----------------------------------------------------------- */

static const char *const levels[][2] = {
	{ "none", "none" }, { "quiet", "none" }, { "fatal", "fatal" }, { "error", "error" },
	{ "info", "info" }, { "verbose", "debug" }, { "debug", "debug" }, { "debug1", "debug" },
	{ "debug2", "debug" }, { "debug3", "debug" },
};

static void log_level(struct em *e, const struct imp_val *v)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(levels); i++) {
		if (strcasecmp(text(v), levels[i][0]) == 0) {
			put_str(e, "log_level", levels[i][1], false);
			return;
		}
	}
	imp_msg_add(e->errs, v->file, v->n, "LogLevel \"%s\" is not one of none, quiet, fatal, "
		    "error, info, verbose, debug, debug1, debug2, debug3", text(v));
}

/* Seconds in our range, or a note. */
static void seconds(struct em *e, const struct imp_val *v, const char *orig, const char *ours,
		    long hi)
{
	long n;

	if (imp_parse_long(text(v), 1, hi, &n) < 0)
		note(e, v, orig, "not carried over: azbridged's %s takes 1 to %ld seconds, not %s",
		     ours, hi, text(v));
	else
		sbuf_printf(&e->b, "%s = %ld;\n", ours, n);
}

static void dead(struct em *e, const struct imp_val *v, const char *key, const char *what)
{
	if (v->n)
		note(e, v, key, "not carried over: the original checks it and does nothing with "
		     "it%s", what);
}

static void credentials(struct em *e, const struct imp_val *g)
{
	if (g[IMP_G_CS].n)
		put_str(e, "connection_string", text(&g[IMP_G_CS]), cs_secret(text(&g[IMP_G_CS])));
	if (g[IMP_G_ENDPOINT].n)
		put_str(e, "endpoint", text(&g[IMP_G_ENDPOINT]), false);
	if (g[IMP_G_KEYNAME].n)
		put_str(e, "shared_access_key_name", text(&g[IMP_G_KEYNAME]), false);
	if (g[IMP_G_KEY].n)
		put_str(e, "shared_access_key", text(&g[IMP_G_KEY]), true);
	if (g[IMP_G_SIG].n)
		put_str(e, "shared_access_signature", text(&g[IMP_G_SIG]), true);
}

static void globals(struct em *e, const struct imp_val *g)
{
	bool b;

	credentials(e, g);
	if (g[IMP_G_BIND].n)
		put_str(e, "bind_address", text(&g[IMP_G_BIND]), false);
	if (g[IMP_G_KEEPALIVE].n)
		seconds(e, &g[IMP_G_KEEPALIVE], "KeepAliveInterval", "keep_alive_interval", 3600);
	if (g[IMP_G_LOGLEVEL].n)
		log_level(e, &g[IMP_G_LOGLEVEL]);
	if (g[IMP_G_LOGFILE].n) {
		put_str(e, "log_file", text(&g[IMP_G_LOGFILE]), false);
		note(e, &g[IMP_G_LOGFILE], "LogFileName", "carried over as log_file: azbridged "
		     "appends to this one file and does not start a new one each day");
	}
	if (g[IMP_G_EXIT].n && imp_parse_bool(text(&g[IMP_G_EXIT]), &b) == 0)
		sbuf_printf(&e->b, "exit_on_forward_failure = %s;\n", b ? "true" : "false");
	dead(e, &g[IMP_G_GATEWAY], "GatewayPorts", "; a local forward listens on its "
	     "BindAddress (0.0.0.0 for every interface)");
	dead(e, &g[IMP_G_FAMILY], "AddressFamily", "");
	dead(e, &g[IMP_G_ATTEMPTS], "ConnectionAttempts", "");
	/* azbridged -o ConnectTimeout has no effect either: connect_timeout is
	 * ours, with our default. */
	dead(e, &g[IMP_G_CTIMEOUT], "ConnectTimeout", "; azbridged's connect_timeout (default "
	     "10 seconds) is its own");
}

/* ---- forwards ---------------------------------------------------------- */

/* The relay's name as a forward name, made unique in this file. */
static char *fwd_name(struct em *e, const char *relay)
{
	char *base = xstrdup(relay), *name;

	for (char *p = base; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			*p = '-';
	name = xstrdup(base);
	for (unsigned i = 2;; i++) {
		bool used = false;

		for (size_t j = 0; j < e->nnames && !used; j++)
			used = strcmp(e->names[j], name) == 0;
		if (!used)
			break;
		free(name);
		name = xasprintf("%.60s-%u", base, i);
	}
	free(base);
	e->names = xrealloc(e->names, (e->nnames + 1) * sizeof(*e->names));
	e->names[e->nnames++] = name;
	return name;
}

static int port_of(struct em *e, const struct imp_val *v, const char *key, long *port)
{
	if (imp_parse_long(text(v), -65535, 65535, port) == 0 && *port != 0)
		return 0;
	imp_msg_add(e->errs, v->file, v->n, "%s %s is out of range 1..65535 (negative for UDP)",
		    key, text(v));
	return -EINVAL;
}

static void put_port(struct em *e, const char *key, long port)
{
	sbuf_printf(&e->b, " %s = %ld;", key, port < 0 ? -port : port);
	if (port < 0)
		sbuf_add(&e->b, " udp = true;");
}

static void put_flag(struct em *e, const struct imp_val *v, const char *key)
{
	bool b = false;

	if (v->n && imp_parse_bool(text(v), &b) == 0 && b)
		sbuf_printf(&e->b, " %s = true;", key);
}

static void opt_str(struct em *e, const struct imp_val *v, const char *key)
{
	if (v->n)
		put(e, " ", key, text(v), false, "");
}

/* Port or socket, exactly one. */
static int port_or_socket(struct em *e, const struct imp_bind *b, int port_k, int sock_k,
			  long *port)
{
	const struct imp_val *p = &b->v[port_k], *s = &b->v[sock_k];

	if (p->n && s->n) {
		imp_msg_add(e->errs, b->file, b->at, "a binding with both %s and %s",
			    imp_bkey_name(port_k), imp_bkey_name(sock_k));
		return -EINVAL;
	}
	if (!p->n && !s->n) {
		imp_msg_add(e->errs, b->file, b->at, "a binding needs %s or %s",
			    imp_bkey_name(port_k), imp_bkey_name(sock_k));
		return -EINVAL;
	}
	return p->n ? port_of(e, p, imp_bkey_name(port_k), port) : 0;
}

static void socket_port_name(struct em *e, const struct imp_bind *b, int sock_k)
{
	struct imp_val at = { b->at, b->file };

	if (b->v[sock_k].n && !b->v[IMP_B_PORT_NAME].n)
		note(e, &at, imp_bkey_name(sock_k), "without PortName the original fails on the "
		     "first connection; azbridged uses the socket's file name");
}

static void local_binding(struct em *e, const struct imp_bind *b)
{
	const struct imp_val *v = b->v;
	struct imp_val at = { b->at, b->file };
	long port = 0;

	if (port_or_socket(e, b, IMP_B_BIND_PORT, IMP_B_BIND_SOCKET, &port) < 0)
		return;
	sbuf_add(&e->b, "      {");
	opt_str(e, &v[IMP_B_BIND_ADDRESS], "bind_address");
	if (port)
		put_port(e, "bind_port", port);
	opt_str(e, &v[IMP_B_BIND_SOCKET], "bind_local_socket");
	opt_str(e, &v[IMP_B_PORT_NAME], "port_name");
	opt_str(e, &v[IMP_B_HOST_NAME], "host_name");
	put_flag(e, &v[IMP_B_NO_AUTH], "no_authentication");
	sbuf_add(&e->b, " }");
	if (port && !v[IMP_B_BIND_ADDRESS].n)
		note(e, &at, "BindAddress", "missing: the original fails to start such a binding; "
		     "azbridged listens on localhost");
	socket_port_name(e, b, IMP_B_BIND_SOCKET);
}

/* The port name of an HTTP binding is its URL scheme, there as here. */
static bool http_scheme(struct em *e, const struct imp_bind *b)
{
	const char *pn = text(&b->v[IMP_B_PORT_NAME]);

	if (pn && (strcmp(pn, "http") == 0 || strcmp(pn, "https") == 0))
		return true;
	imp_msg_add(e->errs, b->file, b->v[IMP_B_PORT_NAME].n ? b->v[IMP_B_PORT_NAME].n : b->at,
		    "an Http binding needs PortName http or https (its URL scheme), not %s%s%s",
		    pn ? "\"" : "", pn ? pn : "none", pn ? "\"" : "");
	return false;
}

static void remote_binding(struct em *e, const struct imp_bind *b)
{
	const struct imp_val *v = b->v;
	struct imp_val at = { b->at, b->file };
	bool http = false;
	long port = 0;

	if (v[IMP_B_HTTP].n)
		imp_parse_bool(text(&v[IMP_B_HTTP]), &http);
	if (http && !http_scheme(e, b))
		return;
	if (!(http && !v[IMP_B_HOST_PORT].n && !v[IMP_B_LOCAL_SOCKET].n) &&
	    port_or_socket(e, b, IMP_B_HOST_PORT, IMP_B_LOCAL_SOCKET, &port) < 0)
		return;
	sbuf_add(&e->b, "      {");
	put_flag(e, &v[IMP_B_HTTP], "http");
	opt_str(e, &v[IMP_B_PORT_NAME], "port_name");
	opt_str(e, &v[IMP_B_HOST], "host");
	if (port)
		put_port(e, "host_port", port);
	opt_str(e, &v[IMP_B_LOCAL_SOCKET], "local_socket");
	put_flag(e, &v[IMP_B_INSECURE], "insecure");
	sbuf_add(&e->b, " }");
	if (!v[IMP_B_LOCAL_SOCKET].n && !v[IMP_B_HOST].n)
		note(e, &at, "Host", "missing: the original fails on the first connection; "
		     "azbridged dials localhost");
	socket_port_name(e, b, IMP_B_LOCAL_SOCKET);
}

static void bindings(struct em *e, const struct imp_fwd *f)
{
	sbuf_add(&e->b, "    bindings = (\n");
	for (size_t i = 0; i < f->nb; i++) {
		if (f->remote)
			remote_binding(e, &f->b[i]);
		else
			local_binding(e, &f->b[i]);
		sbuf_add(&e->b, i + 1 < f->nb ? ",\n" : "\n");
	}
	sbuf_add(&e->b, "    );\n");
}

static void forward(struct em *e, const struct imp_fwd *f, bool last)
{
	struct imp_val at = { f->at, f->file };
	char *name = fwd_name(e, text(&f->relay));

	sbuf_add(&e->b, "  {\n");
	put(e, "    ", "name", name, false, "\n");
	put(e, "    ", "relay", text(&f->relay), false, "\n");
	if (f->cs.n)
		put(e, "    ", "connection_string", text(&f->cs), cs_secret(text(&f->cs)), "\n");
	if (f->nb)
		bindings(e, f);
	else
		imp_msg_add(e->errs, at.file, at.n, "%s %s has no binding", f->remote ?
			    "RemoteForward" : "LocalForward", text(&f->relay));
	sbuf_add(&e->b, last ? "  }\n" : "  },\n");
}

static void forwards(struct em *e, const struct imp_conf *c, bool remote)
{
	size_t n = 0, done = 0;

	for (size_t i = 0; i < c->nfwd; i++)
		n += c->fwd[i].remote == remote;
	if (!n)
		return;
	sbuf_printf(&e->b, "\n%s = (\n", remote ? "remote_forward" : "local_forward");
	for (size_t i = 0; i < c->nfwd; i++)
		if (c->fwd[i].remote == remote && c->fwd[i].relay.n)
			forward(e, &c->fwd[i], ++done == n);
	sbuf_add(&e->b, ");\n");
}

static void header(struct em *e, const char *const *files, size_t nfiles)
{
	sbuf_add(&e->b, "# azbridge.conf(5) drop-in made by \"azbridgectl import\" from the original\n"
		 "# azbridge's configuration, later files over earlier ones:\n");
	for (size_t i = 0; i < nfiles; i++) {
		sbuf_add(&e->b, "#   ");
		for (const char *p = files[i]; *p; p++)
			sbuf_addc(&e->b, (unsigned char)*p < 0x20 ? '?' : *p);
		sbuf_addc(&e->b, '\n');
	}
}

int imp_emit(const struct imp_conf *c, const char *const *files, size_t nfiles, bool redact,
	     struct imp_out *out, struct imp_msgs *notes, struct imp_msgs *errs)
{
	struct em e = { .redact = redact, .notes = notes, .errs = errs };
	size_t before = errs->n;

	sbuf_init(&e.b);
	header(&e, files, nfiles);
	globals(&e, c->g);
	forwards(&e, c, false);
	forwards(&e, c, true);
	for (size_t i = 0; i < e.nnames; i++)
		free(e.names[i]);
	free(e.names);
	out->secret = e.secret;
	out->text = sbuf_take(&e.b);
	return errs->n == before ? 0 : -EINVAL;
}
