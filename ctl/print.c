/* Human output of replies. Members the daemon leaves out are skipped, so an
 * older or newer daemon still prints what it has. */
#include "ctl.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static double num(const json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));   /* 0 when absent */
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

static void pr_version(const json_t *r)
{
	printf("azbridgectl %s\n", AZB_VERSION);
	printf("azbridged %s (control protocol %lld)\n", str(r, "version") ? str(r, "version") : "?",
	       (long long)json_integer_value(json_object_get(r, "protocol")));
}

static void kv_last_reload(const json_t *l)
{
	char when[64];

	fmt_time(when, sizeof(when), num(l, "time"));
	kv("", "last reload", "%s at %s", json_is_true(json_object_get(l, "ok")) ? "ok" : "failed",
	   when);
}

static void pr_status(const json_t *r)
{
	const json_t *last = json_object_get(r, "last_reload");
	char up[32];

	fmt_duration(up, sizeof(up), num(r, "uptime"));
	kv("", "version", "%s", str(r, "version") ? str(r, "version") : "?");
	kv("", "pid", "%lld", (long long)json_integer_value(json_object_get(r, "pid")));
	kv("", "uptime", "%s", up);
	kv("", "config", "%s", str(r, "config") ? str(r, "config") : "none (bindings from the "
	   "command line)");
	kv("", "bindings", "%.0f  online: %.0f  tunnels: %.0f", num(r, "bindings"), num(r, "online"),
	   num(r, "tunnels"));
	kv("", "reloads", "%.0f", num(r, "reloads"));
	if (json_is_object(last)) {
		kv_last_reload(last);
		print_errors(stdout, "  ", json_object_get(last, "errors"), NULL);
	}
}

/* ---- bindings ------------------------------------------------------------------ */

static const char *dir_word(const json_t *b)
{
	const char *opt = str(b, "option");

	if (azb_streq(opt, "H"))
		return "http";
	return str(b, "direction") ? str(b, "direction") : "?";
}

static bool troubled(const json_t *b)
{
	return azb_streq(str(b, "state"), "failed") || azb_streq(str(b, "state"), "reconnecting");
}

/* "reason, next attempt in 3s" for a binding that is not working. */
static void trouble(struct sbuf *s, const json_t *b)
{
	char in[32];

	if (str(b, "reason"))
		sbuf_add(s, str(b, "reason"));
	if (json_is_number(json_object_get(b, "next_attempt"))) {
		fmt_duration(in, sizeof(in), num(b, "next_attempt") - azb_clock_s(CLOCK_REALTIME));
		sbuf_printf(s, "%snext attempt in %s", s->len ? ", " : "", in);
	}
}

static void list_row(struct tbl *t, const json_t *b)
{
	char since[32];
	struct sbuf e;

	fmt_short_time(since, sizeof(since), num(b, "since"));
	tbl_add(t, str(b, "name"));
	tbl_add(t, dir_word(b));
	tbl_add(t, str(b, "state"));
	tbl_addf(t, "%.0f", num(b, "tunnels"));
	tbl_add(t, since);
	sbuf_init(&e);
	if (troubled(b))
		trouble(&e, b);
	tbl_addf(t, "%s%s%s%s", str(b, "expression") ? str(b, "expression") : "",
		 e.len ? "  (" : "", e.s, e.len ? ")" : "");
	sbuf_free(&e);
}

static void pr_list(const json_t *r)
{
	static const char *const head[] = { "NAME", "DIR", "STATE", "TUNNELS", "SINCE",
					    "EXPRESSION" };
	struct tbl t;
	size_t i;
	json_t *b;

	tbl_init(&t, AZB_ARRAY_SIZE(head), 1u << 3);
	for (i = 0; i < AZB_ARRAY_SIZE(head); i++)
		tbl_add(&t, head[i]);
	json_array_foreach(json_object_get(r, "bindings"), i, b)
		list_row(&t, b);
	tbl_print(&t, stdout, NULL);
	tbl_free(&t);
}

/* host:port, [v6]:port, a socket path, or scheme://host:port/path. */
static void ep_address(struct sbuf *s, const json_t *ep)
{
	const char *host = str(ep, "bind_address") ? str(ep, "bind_address") : str(ep, "host");
	const json_t *port = json_object_get(ep, json_object_get(ep, "bind_port") ? "bind_port" :
						  "port");
	bool http = azb_streq(str(ep, "kind"), "http");

	if (str(ep, "socket")) {
		sbuf_add(s, str(ep, "socket"));
		return;
	}
	if (http)
		sbuf_printf(s, "%s://", str(ep, "port_name") ? str(ep, "port_name") : "http");
	if (host && strchr(host, ':'))
		sbuf_printf(s, "[%s]", host);
	else if (host)
		sbuf_add(s, host);
	if (json_is_integer(port))
		sbuf_printf(s, ":%lld", (long long)json_integer_value(port));
	if (http && str(ep, "path"))
		sbuf_add(s, str(ep, "path"));
}

static void ep_notes(struct sbuf *s, const json_t *ep)
{
	if (str(ep, "host_name"))
		sbuf_printf(s, "host name %s", str(ep, "host_name"));
	if (json_is_true(json_object_get(ep, "no_authentication")))
		sbuf_printf(s, "%sno authentication", s->len ? ", " : "");
	if (json_is_true(json_object_get(ep, "insecure")))
		sbuf_printf(s, "%sinsecure", s->len ? ", " : "");
}

static void print_endpoints(const json_t *eps)
{
	static const char *const head[] = { "KIND", "ADDRESS", "PORT-NAME", "NOTES" };
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
		tbl_add(&t, str(ep, "kind"));
		tbl_add(&t, a.s);
		tbl_add(&t, str(ep, "port_name"));
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
	char up[32], down[32];

	fmt_bytes(up, sizeof(up), num(st, "bytes_up"));
	fmt_bytes(down, sizeof(down), num(st, "bytes_down"));
	printf("stats:\n");
	kv("  ", "bytes up", "%s", up);
	kv("  ", "bytes down", "%s", down);
	kv("  ", "tunnels open", "%.0f", num(st, "tunnels_open"));
	kv("  ", "tunnels total", "%.0f", num(st, "tunnels_total"));
	kv("  ", "tunnels failed", "%.0f", num(st, "tunnels_failed"));
	kv("  ", "reconnects", "%.0f", num(st, "reconnects"));
	if (str(st, "last_error"))
		kv("  ", "last error", "%s", str(st, "last_error"));
}

static void kv_state(const json_t *b)
{
	char since[64];
	struct sbuf s;

	fmt_time(since, sizeof(since), num(b, "since"));
	kv("", "state", "%s since %s", str(b, "state") ? str(b, "state") : "?", since);
	sbuf_init(&s);
	trouble(&s, b);
	if (s.len)
		kv("", "reason", "%s", s.s);
	sbuf_free(&s);
}

static void pr_show(const json_t *r)
{
	const json_t *b = json_object_get(r, "binding");
	struct sbuf hn;

	kv("", "name", "%s", str(b, "name") ? str(b, "name") : "?");
	kv("", "direction", "%s%s%s%s", dir_word(b), str(b, "option") ? " (-" : "",
	   str(b, "option") ? str(b, "option") : "", str(b, "option") ? ")" : "");
	kv("", "relay", "%s", str(b, "relay") ? str(b, "relay") : "-");
	kv("", "expression", "%s", str(b, "expression") ? str(b, "expression") : "-");
	kv("", "source", "%s", str(b, "source") ? str(b, "source") : "-");
	kv_state(b);
	kv("", "tunnels", "%.0f", num(b, "tunnels"));
	sbuf_init(&hn);
	join(&hn, json_object_get(b, "host_names"));
	if (hn.len)
		kv("", "host names", "%s", hn.s);
	sbuf_free(&hn);
	if (json_is_array(json_object_get(b, "endpoints")))
		print_endpoints(json_object_get(b, "endpoints"));
	if (json_is_object(json_object_get(b, "stats")))
		print_stats(json_object_get(b, "stats"));
}

/* ---- stats -------------------------------------------------------------------- */

static void stats_row(struct tbl *t, const char *name, const json_t *st)
{
	char up[32], down[32];

	fmt_bytes(up, sizeof(up), num(st, "bytes_up"));
	fmt_bytes(down, sizeof(down), num(st, "bytes_down"));
	tbl_add(t, name);
	tbl_add(t, up);
	tbl_add(t, down);
	tbl_addf(t, "%.0f", num(st, "tunnels_open"));
	tbl_addf(t, "%.0f", num(st, "tunnels_total"));
	tbl_addf(t, "%.0f", num(st, "tunnels_failed"));
	tbl_addf(t, "%.0f", num(st, "reconnects"));
	tbl_add(t, str(st, "last_error"));
}

static void pr_stats(const json_t *req, const json_t *r)
{
	static const char *const head[] = { "NAME", "UP", "DOWN", "OPEN", "TOTAL", "FAILED",
					    "RECONNECTS", "LAST-ERROR" };
	struct tbl t;
	size_t i;
	json_t *b;

	tbl_init(&t, AZB_ARRAY_SIZE(head), 0x7eu);
	for (i = 0; i < AZB_ARRAY_SIZE(head); i++)
		tbl_add(&t, head[i]);
	json_array_foreach(json_object_get(r, "bindings"), i, b)
		stats_row(&t, str(b, "name"), b);
	/* With a name the total is that one row again. */
	if (!json_object_get(req, "name") && json_is_object(json_object_get(r, "total")))
		stats_row(&t, "TOTAL", json_object_get(r, "total"));
	tbl_print(&t, stdout, NULL);
	tbl_free(&t);
}

/* ---- changes ------------------------------------------------------------------- */

static void pr_reload(const json_t *r)
{
	const json_t *failed = json_object_get(r, "failed");
	struct sbuf f;

	printf("reloaded: %zu added, %zu removed, %zu changed, %.0f unchanged",
	       json_array_size(json_object_get(r, "added")),
	       json_array_size(json_object_get(r, "removed")),
	       json_array_size(json_object_get(r, "changed")), num(r, "unchanged"));
	sbuf_init(&f);
	join(&f, failed);
	if (f.len)
		printf("; failed to start: %s", f.s);
	sbuf_free(&f);
	printf("\n");
}

static void pr_add(const json_t *req, const json_t *r)
{
	const char *state = str(r, "state");

	printf("added %s", str(r, "name") ? str(r, "name") : "the binding");
	if (state)
		printf(" (%s)", state);
	if (str(r, "file"))
		printf(", %s\n", str(r, "file"));
	else if (json_is_true(json_object_get(req, "runtime")))
		printf(", in memory only\n");
	else
		printf("\n");
}

static void pr_remove(const json_t *req, const json_t *r)
{
	const char *name = str(r, "name") ? str(r, "name") : str(req, "name");

	if (str(r, "file"))
		printf("removed %s, deleted %s\n", name, str(r, "file"));
	else
		printf("removed %s\n", name);
}

static void pr_hosts_list(const json_t *r)
{
	struct tbl t;
	size_t i;
	json_t *e;

	tbl_init(&t, 3, 0);
	tbl_add(&t, "IP");
	tbl_add(&t, "NAME");
	tbl_add(&t, "OWNER");
	json_array_foreach(json_object_get(r, "entries"), i, e) {
		tbl_add(&t, str(e, "ip"));
		tbl_add(&t, str(e, "name"));
		tbl_add(&t, str(e, "binding") ? str(e, "binding") : "-");
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

static void print_reply(const json_t *req, const json_t *reply)
{
	const char *cmd = str(req, "cmd");

	if (azb_streq(cmd, "version"))
		pr_version(reply);
	else if (azb_streq(cmd, "status"))
		pr_status(reply);
	else if (azb_streq(cmd, "list"))
		pr_list(reply);
	else if (azb_streq(cmd, "show"))
		pr_show(reply);
	else if (azb_streq(cmd, "stats"))
		pr_stats(req, reply);
	else if (azb_streq(cmd, "reload"))
		pr_reload(reply);
	else if (azb_streq(cmd, "add"))
		pr_add(req, reply);
	else if (azb_streq(cmd, "remove"))
		pr_remove(req, reply);
	else if (azb_streq(cmd, "hosts-list"))
		pr_hosts_list(reply);
	else if (azb_streq(cmd, "hosts-add"))
		printf("added hosts entry %s %s\n", str(req, "ip"), str(req, "name"));
	else if (azb_streq(cmd, "hosts-remove"))
		printf("removed hosts entry %s\n", str(req, "name"));
}

void pr_reply(const json_t *req, const json_t *reply)
{
	json_t *r = printable(reply);

	print_reply(req, r);
	json_decref(r);
}

static void print_failure(const json_t *reply)
{
	const char *msg = str(reply, "message");

	if (!msg || !*msg)
		msg = str(reply, "error") ? str(reply, "error") : "the request failed";
	fprintf(stderr, "azbridgectl: %s\n", msg);
	print_errors(stderr, "", json_object_get(reply, "errors"), msg);
}

void pr_failure(const json_t *reply)
{
	json_t *r = printable(reply);

	print_failure(r);
	json_decref(r);
}
