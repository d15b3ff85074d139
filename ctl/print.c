/* Human output of replies. Members the daemon leaves out are skipped, so an
 * older or newer daemon still prints what it has. Every member is read
 * through ctl_proto.c's table of reply objects (ctl_get), so nothing here
 * reads a member the daemon does not declare. */
#include "ctl.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "ctl_proto.h"
#include "log.h"

static const char *str(const json_t *o, const struct ctl_shape *s, const char *k)
{
	return json_string_value(ctl_get(o, s, k));
}

static double num(const json_t *o, const struct ctl_shape *s, const char *k)
{
	return json_number_value(ctl_get(o, s, k));   /* 0 when absent */
}

/* A string member, or what stands in for it when it is absent. */
static const char *str_or(const json_t *o, const struct ctl_shape *s, const char *k,
			  const char *absent)
{
	return str(o, s, k) ? str(o, s, k) : absent;
}

/* ---- formats ---------------------------------------------------------------- */

static void fmt_time(char *buf, size_t len, double t)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (t <= 0 || !localtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "-");
}

/* As ps(1) does: the time of day for today, the date before that. */
static void fmt_short_time(char *buf, size_t len, double t)
{
	time_t s = (time_t)t, now = time(NULL);
	struct tm tm, today;

	if (t <= 0 || !localtime_r(&s, &tm) || !localtime_r(&now, &today)) {
		snprintf(buf, len, "-");
		return;
	}
	if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
		strftime(buf, len, "%H:%M:%S", &tm);
	else
		strftime(buf, len, "%Y-%m-%d", &tm);
}

static void fmt_duration(char *buf, size_t len, double secs)
{
	unsigned long v = secs > 0 ? (unsigned long)(secs + 0.5) : 0;

	if (v < 60)
		snprintf(buf, len, "%lus", v);
	else if (v < 3600)
		snprintf(buf, len, "%lum%02lus", v / 60, v % 60);
	else if (v < 86400)
		snprintf(buf, len, "%luh%02lum", v / 3600, v / 60 % 60);
	else
		snprintf(buf, len, "%lud%02luh", v / 86400, v / 3600 % 24);
}

static void fmt_bytes(char *buf, size_t len, double n)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%.0f B", n < 0 ? 0 : n);
		return;
	}
	n /= 1024;
	while (n >= 1024 && u + 1 < AZB_ARRAY_SIZE(unit)) {
		n /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", n, unit[u]);
}

/* "a, b, c" from an array of strings. */
static void join(struct sbuf *b, const json_t *a)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			continue;
		if (b->len)
			sbuf_add(b, ", ");
		sbuf_add(b, json_string_value(v));
	}
}

/* "key: value", unaligned, so that grep '^key: ' finds it. */
static void kv(const char *indent, const char *key, const char *fmt, ...) AZB_PRINTF(3, 4);

static void kv(const char *indent, const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%s%s: ", indent, key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* skip: a message already printed (an "invalid" reply repeats its first
 * error as the message). */
static void print_errors(FILE *f, const char *indent, const json_t *errs, const char *skip)
{
	size_t i;
	json_t *e;

	json_array_foreach(errs, i, e)
		if (json_is_string(e) && !azb_streq(json_string_value(e), skip))
			fprintf(f, "%s%s\n", indent, json_string_value(e));
}

/* ---- status and version ----------------------------------------------------- */

static void pr_version(const struct ctl_shape *S, const json_t *r)
{
	printf("azbridgectl %s\n", AZB_VERSION);
	printf("azbridged %s (control protocol %lld)\n", str_or(r, S, CTL_M_VERSION, "?"),
	       (long long)json_integer_value(ctl_get(r, S, CTL_M_PROTOCOL)));
}

static void kv_last_reload(const json_t *l)
{
	const struct ctl_shape *S = &ctl_shape_last_reload;
	char when[64];

	fmt_time(when, sizeof(when), num(l, S, CTL_M_TIME));
	kv("", "last reload", "%s at %s", json_is_true(ctl_get(l, S, CTL_M_OK)) ? "ok" : "failed",
	   when);
	print_errors(stdout, "  ", ctl_get(l, S, CTL_M_ERRORS), NULL);
}

/* The keys are the reply's member names, "bindings" (the forwards) too:
 * scripts grep for them. */
static void pr_status(const struct ctl_shape *S, const json_t *r)
{
	const json_t *last = ctl_get(r, S, CTL_M_LAST_RELOAD);
	char up[32];

	fmt_duration(up, sizeof(up), num(r, S, CTL_M_UPTIME));
	kv("", "version", "%s", str_or(r, S, CTL_M_VERSION, "?"));
	kv("", "pid", "%lld", (long long)json_integer_value(ctl_get(r, S, CTL_M_PID)));
	kv("", "uptime", "%s", up);
	kv("", "config", "%s", str_or(r, S, CTL_M_CONFIG, "none (forwards from the command line)"));
	kv("", "bindings", "%.0f  online: %.0f  tunnels: %.0f", num(r, S, CTL_M_FORWARDS),
	   num(r, S, CTL_M_ONLINE), num(r, S, CTL_M_TUNNELS));
	kv("", "reloads", "%.0f", num(r, S, CTL_M_RELOADS));
	if (json_is_object(last))
		kv_last_reload(last);
}

/* ---- forwards ------------------------------------------------------------------ */

static const char *dir_word(const struct ctl_shape *S, const json_t *f)
{
	if (azb_streq(str(f, S, CTL_M_OPTION), "H"))
		return "http";
	return str_or(f, S, CTL_M_DIRECTION, "?");
}

static bool troubled(const struct ctl_shape *S, const json_t *f)
{
	const char *state = str(f, S, CTL_M_STATE);

	return azb_streq(state, "failed") || azb_streq(state, "reconnecting");
}

/* "reason, next attempt in 3s" for a forward that is not working. */
static void trouble(struct sbuf *s, const struct ctl_shape *S, const json_t *f)
{
	char in[32];

	if (str(f, S, CTL_M_REASON))
		sbuf_add(s, str(f, S, CTL_M_REASON));
	if (json_is_number(ctl_get(f, S, CTL_M_NEXT_ATTEMPT))) {
		fmt_duration(in, sizeof(in), num(f, S, CTL_M_NEXT_ATTEMPT) -
			     azb_clock_s(CLOCK_REALTIME));
		sbuf_printf(s, "%snext attempt in %s", s->len ? ", " : "", in);
	}
}

static void list_row(struct tbl *t, const json_t *f)
{
	const struct ctl_shape *S = &ctl_shape_forward;
	char since[32];
	struct sbuf e;

	fmt_short_time(since, sizeof(since), num(f, S, CTL_M_SINCE));
	tbl_add(t, str(f, S, CTL_M_NAME));
	tbl_add(t, dir_word(S, f));
	tbl_add(t, str(f, S, CTL_M_STATE));
	tbl_addf(t, "%.0f", num(f, S, CTL_M_TUNNELS));
	tbl_add(t, since);
	sbuf_init(&e);
	if (troubled(S, f))
		trouble(&e, S, f);
	tbl_addf(t, "%s%s%s%s", str_or(f, S, CTL_M_EXPRESSION, ""), e.len ? "  (" : "", e.s,
		 e.len ? ")" : "");
	sbuf_free(&e);
}

static void pr_list(const struct ctl_shape *S, const json_t *r)
{
	static const char *const head[] = { "NAME", "DIR", "STATE", "TUNNELS", "SINCE",
					    "EXPRESSION" };
	struct tbl t;
	size_t i;
	json_t *f;

	tbl_init(&t, AZB_ARRAY_SIZE(head), 1u << 3);
	for (i = 0; i < AZB_ARRAY_SIZE(head); i++)
		tbl_add(&t, head[i]);
	json_array_foreach(ctl_get(r, S, CTL_M_FORWARDS), i, f)
		list_row(&t, f);
	tbl_print(&t, stdout, NULL);
	tbl_free(&t);
}

/* host:port, [v6]:port, a socket path, or scheme://host:port/path. */
static void ep_address(struct sbuf *s, const json_t *ep)
{
	const struct ctl_shape *S = &ctl_shape_binding;
	const char *host = str(ep, S, CTL_M_BIND_ADDRESS) ? str(ep, S, CTL_M_BIND_ADDRESS) :
							     str(ep, S, CTL_M_HOST);
	const json_t *port = ctl_get(ep, S, ctl_get(ep, S, CTL_M_BIND_PORT) ? CTL_M_BIND_PORT :
						 CTL_M_PORT);
	bool http = azb_streq(str(ep, S, CTL_M_KIND), "http");

	if (str(ep, S, CTL_M_SOCKET)) {
		sbuf_add(s, str(ep, S, CTL_M_SOCKET));
		return;
	}
	if (http)
		sbuf_printf(s, "%s://", str_or(ep, S, CTL_M_PORT_NAME, "http"));
	if (host && strchr(host, ':'))
		sbuf_printf(s, "[%s]", host);
	else if (host)
		sbuf_add(s, host);
	if (json_is_integer(port))
		sbuf_printf(s, ":%lld", (long long)json_integer_value(port));
	if (http && str(ep, S, CTL_M_PATH))
		sbuf_add(s, str(ep, S, CTL_M_PATH));
}

static void ep_notes(struct sbuf *s, const json_t *ep)
{
	const struct ctl_shape *S = &ctl_shape_binding;

	if (str(ep, S, CTL_M_HOST_NAME))
		sbuf_printf(s, "host name %s", str(ep, S, CTL_M_HOST_NAME));
	if (json_is_true(ctl_get(ep, S, CTL_M_NO_AUTHENTICATION)))
		sbuf_printf(s, "%sno authentication", s->len ? ", " : "");
}

/* The forward's bindings, under the reply's member name. */
static void print_endpoints(const json_t *eps)
{
	static const char *const head[] = { "KIND", "ADDRESS", "PORT-NAME", "NOTES" };
	const struct ctl_shape *S = &ctl_shape_binding;
	struct tbl t;
	size_t i;
	json_t *ep;

	tbl_init(&t, AZB_ARRAY_SIZE(head), 0);
	for (i = 0; i < AZB_ARRAY_SIZE(head); i++)
		tbl_add(&t, head[i]);
	json_array_foreach(eps, i, ep) {
		struct sbuf a, n;

		sbuf_init(&a);
		sbuf_init(&n);
		ep_address(&a, ep);
		ep_notes(&n, ep);
		tbl_add(&t, str(ep, S, CTL_M_KIND));
		tbl_add(&t, a.s);
		tbl_add(&t, str(ep, S, CTL_M_PORT_NAME));
		tbl_add(&t, n.s);
		sbuf_free(&a);
		sbuf_free(&n);
	}
	printf("endpoints:\n");
	tbl_print(&t, stdout, "  ");
	tbl_free(&t);
}

static void print_stats(const json_t *st)
{
	const struct ctl_shape *S = &ctl_shape_stats;
	char up[32], down[32];

	fmt_bytes(up, sizeof(up), num(st, S, CTL_M_BYTES_UP));
	fmt_bytes(down, sizeof(down), num(st, S, CTL_M_BYTES_DOWN));
	printf("stats:\n");
	kv("  ", "bytes up", "%s", up);
	kv("  ", "bytes down", "%s", down);
	kv("  ", "tunnels open", "%.0f", num(st, S, CTL_M_TUNNELS_OPEN));
	kv("  ", "tunnels total", "%.0f", num(st, S, CTL_M_TUNNELS_TOTAL));
	kv("  ", "tunnels failed", "%.0f", num(st, S, CTL_M_TUNNELS_FAILED));
	kv("  ", "reconnects", "%.0f", num(st, S, CTL_M_RECONNECTS));
	if (str(st, S, CTL_M_LAST_ERROR))
		kv("  ", "last error", "%s", str(st, S, CTL_M_LAST_ERROR));
}

static void kv_state(const struct ctl_shape *S, const json_t *f)
{
	char since[64];
	struct sbuf s;

	fmt_time(since, sizeof(since), num(f, S, CTL_M_SINCE));
	kv("", "state", "%s since %s", str_or(f, S, CTL_M_STATE, "?"), since);
	sbuf_init(&s);
	trouble(&s, S, f);
	if (s.len)
		kv("", "reason", "%s", s.s);
	sbuf_free(&s);
}

static void pr_show(const struct ctl_shape *R, const json_t *r)
{
	const struct ctl_shape *S = &ctl_shape_forward_detail;
	const json_t *f = ctl_get(r, R, CTL_M_FORWARD);
	const char *opt = str(f, S, CTL_M_OPTION);
	struct sbuf hn;

	kv("", "name", "%s", str_or(f, S, CTL_M_NAME, "?"));
	kv("", "direction", "%s%s%s%s", dir_word(S, f), opt ? " (-" : "", opt ? opt : "",
	   opt ? ")" : "");
	kv("", "relay", "%s", str_or(f, S, CTL_M_RELAY, "-"));
	kv("", "expression", "%s", str_or(f, S, CTL_M_EXPRESSION, "-"));
	kv("", "source", "%s", str_or(f, S, CTL_M_SOURCE, "-"));
	kv_state(S, f);
	kv("", "tunnels", "%.0f", num(f, S, CTL_M_TUNNELS));
	sbuf_init(&hn);
	join(&hn, ctl_get(f, S, CTL_M_HOST_NAMES));
	if (hn.len)
		kv("", "host names", "%s", hn.s);
	sbuf_free(&hn);
	if (json_is_array(ctl_get(f, S, CTL_M_ENDPOINTS)))
		print_endpoints(ctl_get(f, S, CTL_M_ENDPOINTS));
	if (json_is_object(ctl_get(f, S, CTL_M_STATS)))
		print_stats(ctl_get(f, S, CTL_M_STATS));
}

/* ---- stats -------------------------------------------------------------------- */

static void stats_row(struct tbl *t, const char *name, const json_t *st)
{
	const struct ctl_shape *S = &ctl_shape_stats;
	char up[32], down[32];

	fmt_bytes(up, sizeof(up), num(st, S, CTL_M_BYTES_UP));
	fmt_bytes(down, sizeof(down), num(st, S, CTL_M_BYTES_DOWN));
	tbl_add(t, name);
	tbl_add(t, up);
	tbl_add(t, down);
	tbl_addf(t, "%.0f", num(st, S, CTL_M_TUNNELS_OPEN));
	tbl_addf(t, "%.0f", num(st, S, CTL_M_TUNNELS_TOTAL));
	tbl_addf(t, "%.0f", num(st, S, CTL_M_TUNNELS_FAILED));
	tbl_addf(t, "%.0f", num(st, S, CTL_M_RECONNECTS));
	tbl_add(t, str(st, S, CTL_M_LAST_ERROR));
}

static void pr_stats(const struct ctl_shape *S, const json_t *req, const json_t *r)
{
	static const char *const head[] = { "NAME", "UP", "DOWN", "OPEN", "TOTAL", "FAILED",
					    "RECONNECTS", "LAST-ERROR" };
	const json_t *total = ctl_get(r, S, CTL_M_TOTAL);
	struct tbl t;
	size_t i;
	json_t *f;

	tbl_init(&t, AZB_ARRAY_SIZE(head), 0x7eu);
	for (i = 0; i < AZB_ARRAY_SIZE(head); i++)
		tbl_add(&t, head[i]);
	json_array_foreach(ctl_get(r, S, CTL_M_FORWARDS), i, f)
		stats_row(&t, str(f, &ctl_shape_stats_row, CTL_M_NAME), f);
	/* With a name the total is that one row again. */
	if (!json_object_get(req, CTL_M_NAME) && json_is_object(total))
		stats_row(&t, "TOTAL", total);
	tbl_print(&t, stdout, NULL);
	tbl_free(&t);
}

/* ---- changes ------------------------------------------------------------------- */

static void pr_reload(const struct ctl_shape *S, const json_t *r)
{
	struct sbuf f;

	printf("reloaded: %zu added, %zu removed, %zu changed, %.0f unchanged",
	       json_array_size(ctl_get(r, S, CTL_M_ADDED)),
	       json_array_size(ctl_get(r, S, CTL_M_REMOVED)),
	       json_array_size(ctl_get(r, S, CTL_M_CHANGED)), num(r, S, CTL_M_UNCHANGED));
	sbuf_init(&f);
	join(&f, ctl_get(r, S, CTL_M_FAILED));
	if (f.len)
		printf("; failed to start: %s", f.s);
	sbuf_free(&f);
	printf("\n");
}

static void pr_add(const struct ctl_shape *S, const json_t *req, const json_t *r)
{
	const char *state = str(r, S, CTL_M_STATE);

	printf("added %s", str_or(r, S, CTL_M_NAME, "the forward"));
	if (state)
		printf(" (%s)", state);
	if (str(r, S, CTL_M_FILE))
		printf(", %s\n", str(r, S, CTL_M_FILE));
	else if (json_is_true(json_object_get(req, CTL_M_RUNTIME)))
		printf(", in memory only\n");
	else
		printf("\n");
}

static void pr_remove(const struct ctl_shape *S, const json_t *req, const json_t *r)
{
	const char *name = str_or(r, S, CTL_M_NAME, json_string_value(json_object_get(req,
									     CTL_M_NAME)));

	if (str(r, S, CTL_M_FILE))
		printf("removed %s, deleted %s\n", name, str(r, S, CTL_M_FILE));
	else
		printf("removed %s\n", name);
}

static void pr_hosts_list(const struct ctl_shape *S, const json_t *r)
{
	const struct ctl_shape *E = &ctl_shape_host_entry;
	struct tbl t;
	size_t i;
	json_t *e;

	tbl_init(&t, 3, 0);
	tbl_add(&t, "IP");
	tbl_add(&t, "NAME");
	tbl_add(&t, "OWNER");
	json_array_foreach(ctl_get(r, S, CTL_M_ENTRIES), i, e) {
		tbl_add(&t, str(e, E, CTL_M_IP));
		tbl_add(&t, str(e, E, CTL_M_NAME));
		tbl_add(&t, str_or(e, E, CTL_M_FORWARD, "-"));
	}
	tbl_print(&t, stdout, NULL);
	tbl_free(&t);
}

/* ---- dispatch ------------------------------------------------------------------ */

static json_t *escaped(const json_t *s)
{
	struct sbuf b;
	json_t *r;

	sbuf_init(&b);
	log_escape(&b, json_string_value(s));
	r = json_string(b.s);
	sbuf_free(&b);
	return r;
}

static void escape_strings(json_t *v)
{
	const char *k;
	void *tmp;
	size_t i;
	json_t *e;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, k, e) {
			if (json_is_string(e))
				json_object_set_new(v, k, escaped(e));
			else
				escape_strings(e);
		}
	}
	json_array_foreach(v, i, e) {
		if (json_is_string(e))
			json_array_set_new(v, i, escaped(e));
		else
			escape_strings(e);
	}
}

/* A reply's strings may carry what a peer chose (a port name in an error, a
 * relay's message): control characters are escaped once, here, as in the
 * daemon's text logs, before any of it reaches a terminal. */
static json_t *printable(const json_t *reply)
{
	json_t *r = json_deep_copy(reply);

	escape_strings(r);
	return r;
}

/* A switch, so that the compiler names a verb of ctl_proto.c without a printer. */
static void print_reply(const json_t *req, const json_t *reply)
{
	const char *cmd = json_string_value(json_object_get(req, CTL_M_CMD));
	const struct ctl_verb *v = ctl_verb_find(cmd);
	const char *ip = json_string_value(json_object_get(req, CTL_M_IP));
	const char *name = json_string_value(json_object_get(req, CTL_M_NAME));

	switch (v ? v->id : CTL_N_VERBS) {
	case CTL_VERSION: pr_version(v->reply, reply); break;
	case CTL_STATUS: pr_status(v->reply, reply); break;
	case CTL_LIST: pr_list(v->reply, reply); break;
	case CTL_SHOW: pr_show(v->reply, reply); break;
	case CTL_STATS: pr_stats(v->reply, req, reply); break;
	case CTL_RELOAD: pr_reload(v->reply, reply); break;
	case CTL_ADD: pr_add(v->reply, req, reply); break;
	case CTL_REMOVE: pr_remove(v->reply, req, reply); break;
	case CTL_HOSTS_LIST: pr_hosts_list(v->reply, reply); break;
	case CTL_HOSTS_ADD: printf("added hosts entry %s %s\n", ip, name); break;
	case CTL_HOSTS_REMOVE: printf("removed hosts entry %s\n", name); break;
	case CTL_N_VERBS: break;
	}
}

void pr_reply(const json_t *req, const json_t *reply)
{
	json_t *r = printable(reply);

	print_reply(req, r);
	json_decref(r);
}

static void print_failure(const json_t *reply)
{
	const struct ctl_shape *S = &ctl_shape_failure;
	const char *msg = str(reply, S, CTL_M_MESSAGE);

	if (!msg || !*msg)
		msg = str_or(reply, S, CTL_M_ERROR, "the request failed");
	fprintf(stderr, "azbridgectl: %s\n", msg);
	print_errors(stderr, "", ctl_get(reply, S, CTL_M_ERRORS), msg);
}

void pr_failure(const json_t *reply)
{
	json_t *r = printable(reply);

	print_failure(r);
	json_decref(r);
}
