/* The original's keys (PascalCase, case-sensitive, unknown ones fatal as
 * they are there), one file read into a layer, and the layers merged as the
 * original merges machine, user and service files. */
#include "import.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum imp_type { T_STR, T_INT, T_BOOL };

struct ikey {
	const char *name;
	enum imp_type type;
	int idx;
};

static const struct ikey gkeys[] = {
	{ "AzureRelayConnectionString", T_STR, IMP_G_CS },
	{ "AzureRelayEndpoint", T_STR, IMP_G_ENDPOINT },
	{ "AzureRelaySharedAccessKeyName", T_STR, IMP_G_KEYNAME },
	{ "AzureRelaySharedAccessKey", T_STR, IMP_G_KEY },
	{ "AzureRelaySharedAccessSignature", T_STR, IMP_G_SIG },
	{ "BindAddress", T_STR, IMP_G_BIND },
	{ "KeepAliveInterval", T_INT, IMP_G_KEEPALIVE },
	{ "LogLevel", T_STR, IMP_G_LOGLEVEL },
	{ "LogFileName", T_STR, IMP_G_LOGFILE },
	{ "ExitOnForwardFailure", T_BOOL, IMP_G_EXIT },
	{ "ClearAllForwardings", T_BOOL, IMP_G_CLEAR },
	{ "GatewayPorts", T_BOOL, IMP_G_GATEWAY },
	{ "AddressFamily", T_STR, IMP_G_FAMILY },
	{ "ConnectionAttempts", T_INT, IMP_G_ATTEMPTS },
	{ "ConnectTimeout", T_INT, IMP_G_CTIMEOUT },
};

/* Binding keys; the local ones first. */
static const struct ikey bkeys[] = {
	{ "BindAddress", T_STR, IMP_B_BIND_ADDRESS },
	{ "BindPort", T_INT, IMP_B_BIND_PORT },
	{ "BindLocalSocket", T_STR, IMP_B_BIND_SOCKET },
	{ "PortName", T_STR, IMP_B_PORT_NAME },
	{ "HostName", T_STR, IMP_B_HOST_NAME },
	{ "NoAuthentication", T_BOOL, IMP_B_NO_AUTH },
	{ "Host", T_STR, IMP_B_HOST },
	{ "HostPort", T_INT, IMP_B_HOST_PORT },
	{ "LocalSocket", T_STR, IMP_B_LOCAL_SOCKET },
	{ "Http", T_BOOL, IMP_B_HTTP },
	{ "Insecure", T_BOOL, IMP_B_INSECURE },
};

static bool local_bkey(int idx)
{
	return idx <= IMP_B_NO_AUTH || idx == IMP_B_PORT_NAME;
}

static bool remote_bkey(int idx)
{
	return idx >= IMP_B_HOST || idx == IMP_B_PORT_NAME;
}

const char *imp_gkey_name(enum imp_gkey k)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(gkeys); i++)
		if (gkeys[i].idx == (int)k)
			return gkeys[i].name;
	return "?";
}

const char *imp_bkey_name(enum imp_bkey k)
{
	return bkeys[k].name;
}

/* ---- messages ---------------------------------------------------------- */

static struct imp_msg *msg_new(struct imp_msgs *m, const char *file)
{
	struct imp_msg *g;

	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	g = &m->v[m->n++];
	memset(g, 0, sizeof(*g));
	g->file = file;
	return g;
}

void imp_msg_add(struct imp_msgs *m, const char *file, const struct imp_node *at,
		 const char *fmt, ...)
{
	struct imp_msg *g = msg_new(m, file);
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (at) {
		g->line = at->key ? at->key_line : at->line;
		g->col = at->key ? at->key_col : at->col;
		g->text = xasprintf("%s:%d:%d: %s", file, g->line, g->col, msg);
	} else {
		g->text = xasprintf("%s: %s", file, msg);
	}
	free(msg);
}

void imp_msg_raw(struct imp_msgs *m, const char *file, const char *text)
{
	msg_new(m, file)->text = xstrdup(text);
}

static size_t file_rank(const char *file, const char *const *files, size_t nfiles)
{
	for (size_t i = 0; i < nfiles; i++)
		if (files[i] == file)
			return i;
	return nfiles;
}

static bool msg_before(const struct imp_msg *a, const struct imp_msg *b,
		       const char *const *files, size_t nfiles)
{
	size_t fa = file_rank(a->file, files, nfiles), fb = file_rank(b->file, files, nfiles);

	if (fa != fb)
		return fa < fb;
	return a->line != b->line ? a->line < b->line : a->col < b->col;
}

/* Insertion sort: stable, and there are few messages. */
void imp_msgs_sort(struct imp_msgs *m, const char *const *files, size_t nfiles)
{
	for (size_t i = 1; i < m->n; i++) {
		struct imp_msg x = m->v[i];
		size_t j = i;

		for (; j > 0 && msg_before(&x, &m->v[j - 1], files, nfiles); j--)
			m->v[j] = m->v[j - 1];
		m->v[j] = x;
	}
}

void imp_msgs_free(struct imp_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].text);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* ---- scalars ----------------------------------------------------------- */

int imp_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "y" }, *const no[] = { "false",
		"no", "off", "n" };

	for (size_t i = 0; i < AZB_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return -EINVAL;
}

int imp_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (!*s || strchr(" \t", *s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static const char *type_word(enum imp_type t)
{
	return t == T_INT ? "a whole number" : t == T_BOOL ? "true or false (yes or no)" :
	       "a single value";
}

/* A key's value if it is of its type; NULL and an error if not, NULL and no
 * error when the original reads it as "not set". */
static const struct imp_node *typed(const char *file, const struct imp_node *n, enum imp_type t,
				    struct imp_msgs *errs)
{
	bool b;
	long l;

	if (n->kind != IMP_SCALAR) {
		imp_msg_add(errs, file, n, "%s must be %s, not a %s", n->key, type_word(t),
			    n->kind == IMP_MAP ? "mapping" : "list");
		return NULL;
	}
	if (imp_is_null(n))
		return NULL;
	if ((t == T_INT && imp_parse_long(n->text, -0x7fffffffL, 0x7fffffffL, &l) < 0) ||
	    (t == T_BOOL && imp_parse_bool(n->text, &b) < 0)) {
		imp_msg_add(errs, file, n, "%s must be %s, not \"%s\"", n->key, type_word(t),
			    n->text);
		return NULL;
	}
	return n;
}

static const struct ikey *find(const struct ikey *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

static const char *const entry_keys[] = { "LocalForward", "RemoteForward", "RelayName",
	"ConnectionString", "Bindings" };

/* The name any table has in another case, or NULL. */
static const char *other_case(const char *key)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(gkeys); i++)
		if (strcasecmp(gkeys[i].name, key) == 0)
			return gkeys[i].name;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(bkeys); i++)
		if (strcasecmp(bkeys[i].name, key) == 0)
			return bkeys[i].name;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(entry_keys); i++)
		if (strcasecmp(entry_keys[i], key) == 0)
			return entry_keys[i];
	return NULL;
}

/* Why an unknown key is unknown, when a likely reason is known. */
static const char *unknown_hint(const char *key, bool entry, char *buf, size_t len)
{
	const struct ikey *b = find(bkeys, AZB_ARRAY_SIZE(bkeys), key);
	const char *c = other_case(key);

	if (strcmp(key, "RemoteHostName") == 0)
		return "; the original reads HostName";
	if (strcmp(key, "Insecure") == 0 && entry)
		return "; Insecure belongs inside Bindings";
	if (strcmp(key, "Path") == 0)
		return "; only -H sets Path in the original";
	if (b)
		snprintf(buf, len, "; %s is a key of %s", key, remote_bkey(b->idx) ? "RemoteForward" :
			 "LocalForward");
	else if (c && strcmp(c, key) != 0)
		snprintf(buf, len, "; keys are case-sensitive: %s", c);
	else if (c && (find(gkeys, AZB_ARRAY_SIZE(gkeys), key) || strstr(key, "Forward")))
		snprintf(buf, len, "; %s is a key of the file's top level", key);
	else if (c)
		snprintf(buf, len, "; %s is a key of a LocalForward or RemoteForward entry", key);
	else
		return "";
	return buf;
}

static void unknown(const char *file, const struct imp_node *n, const char *where, bool entry,
		    struct imp_msgs *errs)
{
	char buf[80];

	imp_msg_add(errs, file, n, "unknown key %s%s, which the original refuses too%s", n->key,
		    where, unknown_hint(n->key, entry, buf, sizeof(buf)));
}

/* ---- forwards ---------------------------------------------------------- */

static struct imp_bind *bind_add(struct imp_fwd *f, const char *file, const struct imp_node *at)
{
	struct imp_bind *b;

	f->b = xrealloc(f->b, (f->nb + 1) * sizeof(*f->b));
	b = &f->b[f->nb++];
	memset(b, 0, sizeof(*b));
	b->file = file;
	b->at = at;
	return b;
}

/* A binding key; false when it is none of this side's. */
static bool bind_key(const char *file, const struct imp_node *n, bool remote, struct imp_bind *b,
		     struct imp_msgs *errs)
{
	const struct ikey *k = find(bkeys, AZB_ARRAY_SIZE(bkeys), n->key);

	if (!k || !(remote ? remote_bkey(k->idx) : local_bkey(k->idx)))
		return false;
	b->v[k->idx].n = typed(file, n, k->type, errs);
	b->v[k->idx].file = file;
	return true;
}

static void read_binding(const char *file, const struct imp_node *m, struct imp_fwd *f,
			 struct imp_msgs *errs)
{
	struct imp_bind *b = bind_add(f, file, m);

	if (m->kind != IMP_MAP) {
		imp_msg_add(errs, file, m, "each of Bindings must be a mapping of binding keys");
		return;
	}
	for (size_t i = 0; i < m->n; i++)
		if (!bind_key(file, m->kids[i], f->remote, b, errs))
			unknown(file, m->kids[i], " in a binding", false, errs);
}

/* The original's Bindings setter replaces the list, shorthand keys write
 * into the first binding: so their order in the entry matters. */
static void read_bindings(const char *file, const struct imp_node *n, struct imp_fwd *f,
			  struct imp_msgs *errs)
{
	f->nb = 0;
	if (imp_is_null(n))
		return;
	if (n->kind != IMP_SEQ) {
		imp_msg_add(errs, file, n, "Bindings must be a list");
		return;
	}
	for (size_t i = 0; i < n->n; i++)
		read_binding(file, n->kids[i], f, errs);
}

static void shorthand(const char *file, const struct imp_node *n, struct imp_fwd *f,
		      struct imp_msgs *errs)
{
	struct imp_bind tmp;

	memset(&tmp, 0, sizeof(tmp));
	if (!bind_key(file, n, f->remote, f->nb ? &f->b[0] : &tmp, errs)) {
		unknown(file, n, f->remote ? " in a RemoteForward" : " in a LocalForward", true,
			errs);
		return;
	}
	for (int i = 0; !f->nb && i < IMP_B_N; i++)
		if (tmp.v[i].n)
			memcpy(bind_add(f, file, n)->v, tmp.v, sizeof(tmp.v));
}

static void entry_member(const char *file, const struct imp_node *n, struct imp_fwd *f,
			 struct imp_msgs *errs)
{
	if (strcmp(n->key, "RelayName") == 0) {
		f->relay.n = typed(file, n, T_STR, errs);
		f->relay.file = file;
	} else if (strcmp(n->key, "ConnectionString") == 0) {
		f->cs.n = typed(file, n, T_STR, errs);
		f->cs.file = file;
	} else if (strcmp(n->key, "Bindings") == 0) {
		read_bindings(file, n, f, errs);
	} else if (strcmp(n->key, "Insecure") == 0 && f->remote) {
		unknown(file, n, " in a RemoteForward", true, errs);
	} else {
		shorthand(file, n, f, errs);
	}
}

static void read_entry(const char *file, const struct imp_node *m, bool remote,
		       struct imp_conf *layer, struct imp_msgs *errs)
{
	struct imp_fwd *f;

	if (m->kind != IMP_MAP) {
		imp_msg_add(errs, file, m, "each %s entry must be a mapping of keys",
			    remote ? "RemoteForward" : "LocalForward");
		return;
	}
	layer->fwd = xrealloc(layer->fwd, (layer->nfwd + 1) * sizeof(*layer->fwd));
	f = &layer->fwd[layer->nfwd++];
	memset(f, 0, sizeof(*f));
	f->remote = remote;
	f->file = file;
	f->at = m;
	for (size_t i = 0; i < m->n; i++)
		entry_member(file, m->kids[i], f, errs);
	if (!f->relay.n)
		imp_msg_add(errs, file, m, "a %s without RelayName", remote ? "RemoteForward" :
			    "LocalForward");
}

static void read_list(const char *file, const struct imp_node *n, bool remote,
		      struct imp_conf *layer, struct imp_msgs *errs)
{
	if (imp_is_null(n))
		return;
	if (n->kind != IMP_SEQ) {
		imp_msg_add(errs, file, n, "%s must be a list of entries", n->key);
		return;
	}
	for (size_t i = 0; i < n->n; i++)
		read_entry(file, n->kids[i], remote, layer, errs);
}

static void read_global(const char *file, const struct imp_node *n, struct imp_conf *layer,
			struct imp_msgs *errs)
{
	const struct ikey *k = find(gkeys, AZB_ARRAY_SIZE(gkeys), n->key);

	if (strcmp(n->key, "LocalForward") == 0 || strcmp(n->key, "RemoteForward") == 0) {
		read_list(file, n, n->key[0] == 'R', layer, errs);
		return;
	}
	if (!k) {
		unknown(file, n, "", false, errs);
		return;
	}
	layer->g[k->idx].n = typed(file, n, k->type, errs);
	layer->g[k->idx].file = file;
}

int imp_read_layer(const char *file, const struct imp_node *root, struct imp_conf *layer,
		   struct imp_msgs *errs)
{
	size_t before = errs->n;

	memset(layer, 0, sizeof(*layer));
	if (root && root->kind != IMP_MAP)
		imp_msg_add(errs, file, root, "the file must be a mapping of keys (Key: value)");
	for (size_t i = 0; root && root->kind == IMP_MAP && i < root->n; i++)
		read_global(file, root->kids[i], layer, errs);
	return errs->n == before ? 0 : -EINVAL;
}

/* ---- layers ------------------------------------------------------------ */

static void fwd_free(struct imp_fwd *f)
{
	free(f->b);
}

static void clear_forwards(struct imp_conf *c)
{
	for (size_t i = 0; i < c->nfwd; i++)
		fwd_free(&c->fwd[i]);
	free(c->fwd);
	c->fwd = NULL;
	c->nfwd = 0;
}

void imp_conf_free(struct imp_conf *c)
{
	clear_forwards(c);
}

static bool is_cs_part(int i)
{
	return i == IMP_G_ENDPOINT || i == IMP_G_KEYNAME || i == IMP_G_KEY || i == IMP_G_SIG;
}

/* A later connection string replaces the whole builder, and that layer's
 * single keys then go on top of it; KeepAliveInterval overrides only when
 * it is not the default 30; ClearAllForwardings, once true, empties what
 * came before the layer's own forwards. */
void imp_merge(struct imp_conf *dst, struct imp_conf *layer)
{
	long ka;

	if (layer->g[IMP_G_CS].n)
		for (int i = 0; i < IMP_G_N; i++)
			if (is_cs_part(i))
				dst->g[i].n = NULL;
	for (int i = 0; i < IMP_G_N; i++) {
		if (!layer->g[i].n)
			continue;
		if (i == IMP_G_KEEPALIVE && imp_parse_long(layer->g[i].n->text, 0, 0x7fffffffL, &ka) == 0
		    && ka == 30)
			continue;
		dst->g[i] = layer->g[i];
	}
	if (dst->g[IMP_G_CLEAR].n) {
		bool clear = false;

		imp_parse_bool(dst->g[IMP_G_CLEAR].n->text, &clear);
		if (clear)
			clear_forwards(dst);
	}
	dst->fwd = xrealloc(dst->fwd, (dst->nfwd + layer->nfwd + 1) * sizeof(*dst->fwd));
	if (layer->nfwd)
		memcpy(dst->fwd + dst->nfwd, layer->fwd, layer->nfwd * sizeof(*layer->fwd));
	dst->nfwd += layer->nfwd;
	free(layer->fwd);
	layer->fwd = NULL;
	layer->nfwd = 0;
}
