/* The command line: global options, a verb and its arguments, and for add
 * the forward, all turned into the request object sent to azbridged. The
 * verbs, their words and the members their arguments fill come from
 * ctl_proto.c's table. */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl_proto.h"

enum {
	OPT_NAME = 256,
	OPT_RUNTIME,
	OPT_LOCAL,
	OPT_REMOTE,
	OPT_RELAY,
	OPT_BIND,
	OPT_SOCKET_PATH,
	OPT_PORT_NAME,
	OPT_UDP,
	OPT_HOST_NAME,
	OPT_TARGET,
	OPT_TARGET_SOCKET,
	OPT_HTTP,
};

/* Global options may come before or after the verb; the rest belong to add.
 * Short options of the two sets do not collide, so one table serves. */
static const struct option long_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "socket", required_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "runtime", no_argument, NULL, OPT_RUNTIME },
	{ "local", no_argument, NULL, OPT_LOCAL },
	{ "remote", no_argument, NULL, OPT_REMOTE },
	{ "relay", required_argument, NULL, OPT_RELAY },
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "socket-path", required_argument, NULL, OPT_SOCKET_PATH },
	{ "port-name", required_argument, NULL, OPT_PORT_NAME },
	{ "udp", no_argument, NULL, OPT_UDP },
	{ "host-name", required_argument, NULL, OPT_HOST_NAME },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "target-socket", required_argument, NULL, OPT_TARGET_SOCKET },
	{ "http", no_argument, NULL, OPT_HTTP },
	{ NULL, 0, NULL, 0 },
};

/* An add option by its name, for messages. */
static const char *option_name(int opt, char *buf, size_t len)
{
	for (const struct option *o = long_opts; opt >= OPT_NAME && o->name; o++)
		if (o->val == opt)
			return o->name;
	snprintf(buf, len, "%c", opt);
	return buf;
}

/* Leading '-': non-options come back in order as 1, whatever POSIXLY_CORRECT
 * says; ':' lets us word the errors ourselves. */
static const char short_opts[] = "-:jhVs:t:L:T:R:H:";

enum ep_type { EP_STR, EP_BOOL, EP_HOSTPORT };

/* The flags form of add: each flag is one azbridge.conf(5) key of the
 * forward, or an address and a port key for the HOST:PORT ones. */
struct ep_flag {
	int opt;
	const char *flag;
	const char *key;
	const char *port_key;
	char side;                /* 'l' local only, 'r' remote only, 0 both */
	enum ep_type type;
};

static const struct ep_flag ep_flags[] = {
	{ OPT_RELAY, "--relay", "relay", NULL, 0, EP_STR },
	{ OPT_BIND, "--bind", "bind_address", "bind_port", 'l', EP_HOSTPORT },
	{ OPT_SOCKET_PATH, "--socket-path", "bind_local_socket", NULL, 'l', EP_STR },
	{ OPT_PORT_NAME, "--port-name", "port_name", NULL, 0, EP_STR },
	{ OPT_UDP, "--udp", "udp", NULL, 0, EP_BOOL },
	{ OPT_HOST_NAME, "--host-name", "host_name", NULL, 'l', EP_STR },
	{ OPT_TARGET, "--target", "host", "host_port", 'r', EP_HOSTPORT },
	{ OPT_TARGET_SOCKET, "--target-socket", "local_socket", NULL, 'r', EP_STR },
	{ OPT_HTTP, "--http", "http", NULL, 'r', EP_BOOL },
};

struct parse {
	struct ctl_cmd *c;
	char **pos;               /* the verb and its arguments */
	size_t n_pos;
	int add_only;             /* the first add option seen, for messages */
	/* add */
	char expr_opt;            /* 'L', 'T', 'R', 'H', or 0 */
	const char *expr;
	const char *name;
	bool runtime;
	char side;                /* 'l' or 'r' from --local/--remote, or 0 */
	json_t *keys;             /* the flags form's keys, in the order given */
	unsigned seen;            /* bit i: ep_flags[i] given */
	char *err;
	size_t errlen;
};

/* "  show NAME               one forward ...": the help in a column, or on
 * the next line after a long synopsis. */
static void usage_verb(FILE *f, const struct ctl_verb *v)
{
	char syn[128];
	const char *h = v->help;

	ctl_verb_synopsis(v, syn, sizeof(syn));
	if (strlen(syn) < 24)
		fprintf(f, "  %-24s", syn);
	else
		fprintf(f, "  %s\n%26s", syn, "");
	for (size_t n; *h; h += n) {
		n = strcspn(h, "\n") + 1;
		fprintf(f, "%*s%.*s", h == v->help ? 0 : 26, "", (int)n, h);
	}
}

void cmd_usage(FILE *f)
{
	size_t n;
	const struct ctl_verb *v = ctl_verbs(&n);

	fputs("Usage: azbridgectl [OPTIONS] COMMAND [ARGS]\n"
	      "Query and change a running azbridged through its control socket.\n"
	      "\n"
	      "Options (before or after the command):\n"
	      "  -j, --json              print the daemon's reply as JSON\n"
	      "  -s, --socket PATH       the control socket (default: $AZBRIDGE_CONTROL_SOCKET,\n"
	      "                          else " AZB_CONTROL_SOCKET ")\n"
	      "  -t, --timeout SECONDS   give up after this long (default 10)\n"
	      "  -h, --help              show this help\n"
	      "  -V, --version           show the version of azbridgectl\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < n; i++)
		usage_verb(f, &v[i]);
	fputs("  import [-o FILE] [--svc] [FILE.yml...]\n"
	      "                          the original azbridge's YAML files as a drop-in for\n"
	      "                          /etc/azbridge.conf.d/ (needs no daemon; import --help)\n", f);
	fputs("\n"
	      "FORWARD is one forwarding rule as azbridged(8) takes it:\n"
	      "  -L RULE | -T RULE | -R RULE | -H RULE\n"
	      "or a local or remote forward written with flags:\n"
	      "  --local --relay RELAY (--bind [ADDR:]PORT | --socket-path PATH)\n"
	      "          [--port-name NAME] [--udp] [--host-name NAME]\n"
	      "  --remote --relay RELAY (--target [HOST:]PORT | --target-socket PATH)\n"
	      "          [--port-name NAME] [--udp] [--http]\n"
	      "\n"
	      "See azbridgectl(8).\n", f);
}

/* ---- the flags form of add ---------------------------------------------- */

static int put_str(json_t *o, const char *key, const char *val, char *err, size_t errlen)
{
	json_t *s = json_string(val);

	if (!s)   /* jansson refuses what is not UTF-8; the daemon would too */
		return azb_err(err, errlen, "'%s' is not valid UTF-8", val);
	json_object_set_new(o, key, s);
	return 0;
}

/* [ADDR:]PORT, with an IPv6 address in brackets. */
static int put_hostport(struct parse *p, const struct ep_flag *f, const char *arg)
{
	const char *colon = strrchr(arg, ':'), *port = colon ? colon + 1 : arg;
	char *host = colon ? xstrndup(arg, (size_t)(colon - arg)) : NULL;
	size_t hl = host ? strlen(host) : 0;
	long v;
	int r = 0;

	if (host && hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	} else if (host && (hl == 0 || strchr(host, ':') || strchr(host, '[') || strchr(host, ']'))) {
		r = azb_err(p->err, p->errlen, "%s '%s': expected [ADDR:]PORT, an IPv6 address "
			    "in brackets ([::1]:PORT)", f->flag, arg);
	}
	if (r == 0 && azb_parse_int(port, 1, 65535, &v) < 0)
		r = azb_err(p->err, p->errlen, "%s '%s': %s%s%snot a port number (1-65535)", f->flag,
			    arg, host ? "'" : "", host ? port : "", host ? "' is " : "");
	if (r == 0 && host)
		r = put_str(p->keys, f->key, host, p->err, p->errlen);
	if (r == 0)
		json_object_set_new(p->keys, f->port_key, json_integer(v));
	free(host);
	return r;
}

static int ep_flag(struct parse *p, int opt, const char *arg)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(ep_flags); i++) {
		const struct ep_flag *f = &ep_flags[i];

		if (f->opt != opt)
			continue;
		if (p->seen & (1u << i))
			return azb_err(p->err, p->errlen, "%s given twice", f->flag);
		p->seen |= 1u << i;
		if (f->type == EP_BOOL) {
			json_object_set_new(p->keys, f->key, json_true());
			return 0;
		}
		return f->type == EP_STR ? put_str(p->keys, f->key, arg, p->err, p->errlen) :
					   put_hostport(p, f, arg);
	}
	return azb_err(p->err, p->errlen, "internal: unhandled option %d", opt);
}

static bool seen(const struct parse *p, int opt)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(ep_flags); i++)
		if (ep_flags[i].opt == opt)
			return p->seen & (1u << i);
	return false;
}

/* The daemon checks the forward fully; these checks only catch what the
 * command line itself got wrong, worded in its own terms. */
static int check_flags_form(const struct parse *p)
{
	bool local = p->side == 'l', http = seen(p, OPT_HTTP);
	int addr = local ? OPT_BIND : OPT_TARGET, sock = local ? OPT_SOCKET_PATH : OPT_TARGET_SOCKET;
	const char *an = local ? "--bind" : "--target", *sn = local ? "--socket-path" :
								       "--target-socket";

	for (size_t i = 0; i < AZB_ARRAY_SIZE(ep_flags); i++)
		if ((p->seen & (1u << i)) && ep_flags[i].side && ep_flags[i].side != p->side)
			return azb_err(p->err, p->errlen, "%s is for %s forwards", ep_flags[i].flag,
				       ep_flags[i].side == 'l' ? "--local" : "--remote");
	if (!seen(p, OPT_RELAY))
		return azb_err(p->err, p->errlen, "add %s needs --relay NAME",
			       local ? "--local" : "--remote");
	if (seen(p, addr) && seen(p, sock))
		return azb_err(p->err, p->errlen, "give %s or %s, not both", an, sn);
	if (http && seen(p, sock))
		return azb_err(p->err, p->errlen, "--http forwards to --target [HOST:]PORT, "
			       "not to a socket");
	if (!http && !seen(p, addr) && !seen(p, sock))
		return azb_err(p->err, p->errlen, "add %s needs %s or %s",
			       local ? "--local" : "--remote", an, sn);
	return 0;
}

/* The forward object of an add request: the protocol's direction, name,
 * expression and legacy, or azbridge.conf(5) keys from the flags. */
static json_t *forward_of(struct parse *p)
{
	json_t *b = json_object();
	bool local = p->expr_opt ? p->expr_opt == 'L' : p->side == 'l';

	json_object_set_new(b, CTL_M_DIRECTION, json_string(local ? "local" : "remote"));
	if (p->expr_opt == 'H')
		json_object_set_new(b, "http", json_true());
	if (p->name && put_str(b, CTL_M_NAME, p->name, p->err, p->errlen) < 0)
		goto fail;
	if (p->expr_opt) {
		if (put_str(b, CTL_M_EXPRESSION, p->expr, p->err, p->errlen) < 0)
			goto fail;
		if (p->expr_opt == 'R')   /* the daemon turns -R's order into -T's */
			json_object_set_new(b, CTL_M_LEGACY, json_true());
	} else {
		json_object_update(b, p->keys);
	}
	return b;
fail:
	json_decref(b);
	return NULL;
}

static int build_add(struct parse *p, const struct ctl_verb *v)
{
	json_t *b;

	if (p->n_pos > 1)
		return azb_err(p->err, p->errlen, "unexpected argument '%s' (add takes options only)",
			       p->pos[1]);
	if (p->expr_opt && (p->side || p->seen))
		return azb_err(p->err, p->errlen, "-%c cannot be combined with --local, --remote, "
			       "--relay or the endpoint options", p->expr_opt);
	if (!p->expr_opt && !p->side)
		return azb_err(p->err, p->errlen, "add needs -L, -T, -R or -H EXPR, or --local or "
			       "--remote with endpoint options");
	if (!p->expr_opt && check_flags_form(p) < 0)
		return -EINVAL;
	b = forward_of(p);
	if (!b)
		return -EINVAL;
	p->c->req = json_pack("{s:s, s:o}", CTL_M_CMD, v->name, CTL_M_FORWARD, b);
	if (p->runtime)
		json_object_set_new(p->c->req, CTL_M_RUNTIME, json_true());
	return 0;
}

/* ---- the other verbs ---------------------------------------------------------- */

/* The arguments fill the members with a meta, in order; the first ones are
 * required. */
static int build_plain(struct parse *p, const struct ctl_verb *v, char **args, size_t n)
{
	const struct ctl_arg *a = v->args;
	size_t min = 0, max = 0;
	char syn[128];
	json_t *req;

	for (const struct ctl_arg *m = v->args; m->key; m++)
		if (m->meta) {
			max++;
			min += m->required;
		}
	ctl_verb_synopsis(v, syn, sizeof(syn));
	if (n < min)
		return azb_err(p->err, p->errlen, "missing argument; usage: azbridgectl %s", syn);
	if (n > max)
		return azb_err(p->err, p->errlen, "unexpected argument '%s'; usage: azbridgectl %s",
			       args[max], syn);
	req = json_pack("{s:s}", CTL_M_CMD, v->name);
	for (size_t i = 0; i < n; i++, a++) {
		while (!a->meta)
			a++;
		if (put_str(req, a->key, args[i], p->err, p->errlen) < 0) {
			json_decref(req);
			return -EINVAL;
		}
	}
	p->c->req = req;
	return 0;
}

/* The word after group in v's words ("list" of "hosts list"), or NULL. */
static const char *word_after(const struct ctl_verb *v, const char *group)
{
	size_t len = strlen(group);

	return strncmp(v->words, group, len) == 0 && v->words[len] == ' ' ? v->words + len + 1 :
									   NULL;
}

/* "hosts" alone ("hosts needs list, add or remove"), "hosts drop", "bogus". */
static int unknown_verb(struct parse *p)
{
	size_t n, m = 0;
	const struct ctl_verb *v = ctl_verbs(&n);
	struct sbuf next;
	int r;

	/* import reads files and asks no daemon: main() takes it when it
	 * comes first, so the daemon's options cannot go with it. */
	if (strcmp(p->pos[0], "import") == 0)
		return azb_err(p->err, p->errlen, "import asks no daemon and takes none of its "
			       "options: azbridgectl import [-o FILE] [--svc] [FILE.yml...]");
	for (size_t i = 0; i < n; i++)
		m += word_after(&v[i], p->pos[0]) != NULL;
	if (m == 0 || p->n_pos > 1)
		return azb_err(p->err, p->errlen, "unknown command '%s%s%s'", p->pos[0],
			       m ? " " : "", m ? p->pos[1] : "");
	sbuf_init(&next);
	for (size_t i = 0, k = 0; i < n; i++)
		if (word_after(&v[i], p->pos[0]))
			sbuf_printf(&next, "%s%s", k++ == 0 ? "" : k == m ? " or " : ", ",
				    word_after(&v[i], p->pos[0]));
	r = azb_err(p->err, p->errlen, "%s needs %s", p->pos[0], next.s);
	sbuf_free(&next);
	return r;
}

static int build_request(struct parse *p)
{
	const struct ctl_verb *v;
	size_t used;

	if (p->n_pos == 0)
		return azb_err(p->err, p->errlen, "no command given");
	v = ctl_verb_typed(p->pos, p->n_pos, &used);
	if (!v)
		return unknown_verb(p);
	if (v->id == CTL_ADD)
		return build_add(p, v);
	if (p->add_only) {
		char b[2];

		return azb_err(p->err, p->errlen, "%s%s is an option of add, not of %s",
			       p->add_only >= OPT_NAME ? "--" : "-",
			       option_name(p->add_only, b, sizeof(b)), v->words);
	}
	return build_plain(p, v, p->pos + used, p->n_pos - used);
}

/* ---- options ------------------------------------------------------------------ */

static int parse_timeout(struct parse *p, const char *arg)
{
	char *end;
	double t;

	errno = 0;
	t = strtod(arg, &end);
	if (end == arg || *end || errno || !isfinite(t) || t <= 0 || t > 86400)
		return azb_err(p->err, p->errlen, "--timeout '%s': expected a number of seconds "
			       "above 0 (at most 86400)", arg);
	p->c->timeout = t;
	return 0;
}

static int set_expr(struct parse *p, int opt, const char *arg)
{
	if (p->expr_opt)
		return azb_err(p->err, p->errlen, "-%c and -%c given: add takes one forward",
			       p->expr_opt, opt);
	p->expr_opt = (char)opt;
	p->expr = arg;
	return 0;
}

static int set_side(struct parse *p, char side)
{
	if (p->side && p->side != side)
		return azb_err(p->err, p->errlen, "give --local or --remote, not both");
	p->side = side;
	return 0;
}

static int add_option(struct parse *p, int opt, const char *arg)
{
	if (!p->add_only)
		p->add_only = opt;
	switch (opt) {
	case 'L': case 'T': case 'R': case 'H':
		return set_expr(p, opt, arg);
	case OPT_NAME:
		if (p->name)
			return azb_err(p->err, p->errlen, "--name given twice");
		p->name = arg;
		return 0;
	case OPT_RUNTIME:
		p->runtime = true;
		return 0;
	case OPT_LOCAL:
		return set_side(p, 'l');
	case OPT_REMOTE:
		return set_side(p, 'r');
	default:
		return ep_flag(p, opt, arg);
	}
}

/* The value of the long option w names exactly ("--json=x" names json). */
static int long_val(const char *w, size_t n)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (strlen(o->name) == n && strncmp(o->name, w, n) == 0)
			return o->val;
	return -1;
}

/* getopt leaves optind past a long option but inside a cluster of short
 * ones, so the word at optind - 1 is only trusted when it names optopt. */
static int bad_option(struct parse *p, int argc, char **argv, int opt)
{
	const char *w = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	size_t n = strncmp(w, "--", 2) == 0 ? strcspn(w + 2, "=") : 0;
	bool is_long = n > 0 && (optopt == 0 || long_val(w + 2, n) == optopt);

	if (opt == ':' && is_long)
		return azb_err(p->err, p->errlen, "option '--%.*s' needs a value", (int)n, w + 2);
	if (opt == ':')
		return azb_err(p->err, p->errlen, "option '-%c' needs a value", optopt);
	if (is_long && optopt)
		return azb_err(p->err, p->errlen, "option '--%.*s' takes no value", (int)n, w + 2);
	if (is_long)
		return azb_err(p->err, p->errlen, "unknown option '%s'", w);
	return azb_err(p->err, p->errlen, "unknown option '-%c'", optopt);
}

static int one_option(struct parse *p, int argc, char **argv, int opt)
{
	switch (opt) {
	case 1:
		p->pos[p->n_pos++] = optarg;
		return 0;
	case 'j':
		p->c->json = true;
		return 0;
	case 's':
		p->c->socket = optarg;
		return 0;
	case 't':
		return parse_timeout(p, optarg);
	case 'h':
		p->c->help = true;
		return 1;
	case 'V':
		p->c->version = true;
		return 1;
	case ':': case '?':
		return bad_option(p, argc, argv, opt);
	default:
		return add_option(p, opt, optarg);
	}
}

static int parse_options(struct parse *p, int argc, char **argv)
{
	int opt, r;

	optind = 0;   /* glibc: start over, so this can run more than once */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		r = one_option(p, argc, argv, opt);
		if (r != 0)
			return r;
	}
	while (optind < argc)   /* after "--" */
		p->pos[p->n_pos++] = argv[optind++];
	return 0;
}

int cmd_parse(int argc, char **argv, struct ctl_cmd *c, char *err, size_t errlen)
{
	struct parse p = { .c = c, .err = err, .errlen = errlen };
	const char *env = getenv("AZBRIDGE_CONTROL_SOCKET");
	int r;

	*c = (struct ctl_cmd){ .timeout = CTL_TIMEOUT_DEFAULT };
	p.pos = xcalloc((size_t)argc + 1, sizeof(*p.pos));
	p.keys = json_object();
	r = parse_options(&p, argc, argv);
	if (r == 0)
		r = build_request(&p);
	if (r > 0)   /* --help or --version: nothing to send */
		r = 0;
	if (r == 0 && !c->socket)
		c->socket = env && *env ? env : AZB_CONTROL_SOCKET;
	json_decref(p.keys);
	free(p.pos);
	if (r < 0)
		cmd_free(c);
	return r;
}

void cmd_free(struct ctl_cmd *c)
{
	json_decref(c->req);
	c->req = NULL;
}
