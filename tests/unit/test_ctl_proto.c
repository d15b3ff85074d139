/* The control protocol's one table (common/ctl_proto.c) against both of
 * its users: every verb's request as azbridgectl builds it decodes in the
 * daemon to the same members; azbridgectl's printers read only members the
 * table declares; the real azbridged, driven over its socket, sends only
 * declared members, of their declared types, and every one of them in some
 * reply; the bash completion offers what the table and the options list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../ctl/cmdline.c"
#include "../../ctl/conn.c"
#include "../../ctl/print.c"
#include "../../ctl/table.c"
#include "../../daemon/ctlreq.h"

#define MAX_ARGV 16

/* ---- command lines from the table -------------------------------------------------- */

/* add's forms: the verb takes options, not arguments. */
static const char *const add_forms[][6] = {
	{ "-L", "16161:db" },
	{ "--runtime", "--name", "pg", "-T", "db:5432" },
	{ "--local", "--relay", "db", "--bind", "127.0.0.1:1" },
};

static const char *meta_value(const char *meta)
{
	return strcmp(meta, "IP") == 0 ? "10.0.0.5" : "sql";
}

/* argv for v: its words, then a value for each meta argument (the optional
 * ones only when all is true), then extra. */
static int verb_argv(const struct ctl_verb *v, bool all, const char *const *extra, size_t n_extra,
		     char **argv, char *words)
{
	int argc = 0;

	argv[argc++] = "azbridgectl";
	strcpy(words, v->words);
	for (char *save = NULL, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	for (const struct ctl_arg *a = v->args; a->key; a++)
		if (a->meta && (all || a->required))
			argv[argc++] = (char *)meta_value(a->meta);
	for (size_t i = 0; i < n_extra && extra[i]; i++)
		argv[argc++] = (char *)extra[i];
	argv[argc] = NULL;
	return argc;
}

static const struct ctl_arg *arg_find(const struct ctl_verb *v, const char *key)
{
	for (const struct ctl_arg *a = v->args; a->key; a++)
		if (strcmp(a->key, key) == 0)
			return a;
	return NULL;
}

struct seen {
	const void *p[256];
	size_t n;
};

static void seen_add(struct seen *s, const void *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->p[i] == p)
			return;
	assert_true(s->n < AZB_ARRAY_SIZE(s->p));
	s->p[s->n++] = p;
}

static bool seen_has(const struct seen *s, const void *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->p[i] == p)
			return true;
	return false;
}

/* What cmd_parse builds for argv is a request of v whose every member v
 * declares, and the daemon decodes it to v with the same members. */
static json_t *round_trip(const struct ctl_verb *v, int argc, char **argv, struct seen *args)
{
	struct ctl_cmd c;
	struct ctl_request rq;
	char err[256] = "", *line;
	json_t *reply = NULL, *m, *req;
	const char *key;

	if (cmd_parse(argc, argv, &c, err, sizeof(err)) != 0)
		fail_msg("azbridgectl %s: %s", v->words, err);
	assert_string_equal(json_string_value(json_object_get(c.req, CTL_M_CMD)), v->name);
	json_object_foreach(c.req, key, m) {
		const struct ctl_arg *a = arg_find(v, key);

		if (strcmp(key, CTL_M_CMD) == 0)
			continue;
		if (!a)
			fail_msg("azbridgectl %s sends \"%s\", which %s does not read", v->words, key,
				 v->name);
		seen_add(args, a);
	}
	line = json_dumps(c.req, JSON_COMPACT);
	if (ctl_decode(line, strlen(line), &rq, &reply) != 0)
		fail_msg("the daemon refuses %s: %s", line,
			 json_string_value(json_object_get(reply, CTL_M_MESSAGE)));
	assert_ptr_equal(rq.verb, v);
	assert_true(json_equal(rq.req, c.req));
	json_decref(rq.req);
	free(line);
	req = json_incref(c.req);
	cmd_free(&c);
	return req;
}

static bool has_optional(const struct ctl_verb *v)
{
	for (const struct ctl_arg *a = v->args; a->key; a++)
		if (a->meta && !a->required)
			return true;
	return false;
}

/* Every command line of v: all arguments, the required ones only, and
 * add's forms. Each request is handed to each(), if given. */
static void each_request(const struct ctl_verb *v, struct seen *args,
			 void (*each)(const struct ctl_verb *, json_t *))
{
	char *argv[MAX_ARGV], words[64];
	size_t n_forms = v->options ? AZB_ARRAY_SIZE(add_forms) : 1;

	for (size_t f = 0; f < n_forms; f++) {
		const char *const *extra = v->options ? add_forms[f] : NULL;

		for (int all = 0; all < 1 + has_optional(v); all++) {
			int argc = verb_argv(v, all, extra, extra ? 6 : 0, argv, words);
			json_t *req = round_trip(v, argc, argv, args);

			if (each)
				each(v, req);
			json_decref(req);
		}
	}
}

static void test_requests_round_trip(void **state)
{
	size_t n;
	const struct ctl_verb *v = ctl_verbs(&n);
	struct seen args = { .n = 0 };

	(void)state;
	for (size_t i = 0; i < n; i++)
		each_request(&v[i], &args, NULL);
	/* ... and together they send every member a verb reads. */
	for (size_t i = 0; i < n; i++)
		for (const struct ctl_arg *a = v[i].args; a->key; a++)
			if (!seen_has(&args, a))
				fail_msg("no command line sends \"%s\" of %s", a->key, v[i].name);
}

/* The wire names and the permission boundary are protocol 1's. */
static void test_verbs_of_protocol_1(void **state)
{
	static const char *const reading[] = { "version", "status", "list", "show", "stats",
					       "hosts-list" };
	static const char *const changing[] = { "add", "remove", "reload", "hosts-add",
						"hosts-remove" };
	size_t n;
	const struct ctl_verb *v = ctl_verbs(&n);

	(void)state;
	assert_int_equal(n, AZB_ARRAY_SIZE(reading) + AZB_ARRAY_SIZE(changing));
	assert_int_equal(n, CTL_N_VERBS);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(reading); i++)
		assert_false(ctl_verb_find(reading[i])->mutating);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(changing); i++)
		assert_true(ctl_verb_find(changing[i])->mutating);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].id, (enum ctl_verb_id)i);   /* one entry per id */
}

/* ---- every printer over every member ------------------------------------------------ */

static json_t *sample(const struct ctl_shape *s, const struct ctl_member *skip);

static json_t *sample_value(const struct ctl_member *m, const struct ctl_member *skip)
{
	switch (m->type) {
	case JSON_STRING: return json_string("failed");   /* a state that prints its reason */
	case JSON_INTEGER: return json_integer(7);
	case JSON_REAL: return json_real(1.5);
	case JSON_TRUE: return json_true();
	case JSON_OBJECT: return sample(m->sub, skip);
	case JSON_ARRAY: return json_pack("[o]", m->sub ? sample(m->sub, skip) : json_string("x"));
	default: fail_msg("%s has no type", m->key);
	}
	return NULL;
}

/* An object of shape s with every member but skip. */
static json_t *sample(const struct ctl_shape *s, const struct ctl_member *skip)
{
	json_t *o = json_object();

	for (; s; s = s->base)
		for (const struct ctl_member *m = s->members; m->key; m++)
			if (m != skip)
				json_object_set_new(o, m->key, sample_value(m, skip));
	return o;
}

/* Every member of the shapes reachable from s. */
static void members_of(const struct ctl_shape *s, struct seen *out)
{
	for (; s; s = s->base)
		for (const struct ctl_member *m = s->members; m->key; m++)
			if (!seen_has(out, m)) {
				seen_add(out, m);
				if (m->sub)
					members_of(m->sub, out);
			}
}

static void all_members(struct seen *out)
{
	size_t n;
	const struct ctl_verb *v = ctl_verbs(&n);

	members_of(&ctl_shape_failure, out);
	for (size_t i = 0; i < n; i++)
		members_of(v[i].reply, out);
}

/* Standard output goes to /dev/null while fn runs; standard error stays,
 * for ctl_get's message when a printer asks for a member the table does
 * not declare (it aborts, which fails the test). */
static void quietly(void (*fn)(const json_t *, const json_t *), const json_t *req,
		    const json_t *reply)
{
	int out = dup(1), null = open("/dev/null", O_WRONLY);

	assert_true(out >= 0 && null >= 0);
	fflush(stdout);
	dup2(null, 1);
	fn(req, reply);
	fflush(stdout);
	dup2(out, 1);
	close(out);
	close(null);
}

static void print_failure_of(const json_t *req, const json_t *reply)
{
	(void)req;
	pr_failure(reply);
}

static void print_samples(const struct ctl_verb *v, json_t *req)
{
	struct seen every = { .n = 0 };
	json_t *r = sample(v->reply, NULL);

	quietly(pr_reply, req, r);
	json_decref(r);
	members_of(v->reply, &every);
	for (size_t i = 0; i < every.n; i++) {
		r = sample(v->reply, every.p[i]);
		quietly(pr_reply, req, r);
		json_decref(r);
	}
}

static void test_printers_read_declared_members(void **state)
{
	size_t n;
	const struct ctl_verb *v = ctl_verbs(&n);
	struct seen args = { .n = 0 }, every = { .n = 0 };
	json_t *r;

	(void)state;
	for (size_t i = 0; i < n; i++)
		each_request(&v[i], &args, print_samples);
	members_of(&ctl_shape_failure, &every);
	for (size_t i = 0; i < every.n; i++) {
		r = sample(&ctl_shape_failure, every.p[i]);
		quietly(print_failure_of, NULL, r);
		json_decref(r);
	}
}

/* ---- the bash completion -------------------------------------------------------- */

/* The words of `local NAME="..."` in the completion script. */
static char *completion_list(const char *text, const char *name)
{
	char *pat = xasprintf("local %s=\"", name), *at = strstr(text, pat), *end, *words;

	if (!at)
		fail_msg("etc/completion/azbridgectl has no %s list", name);
	at += strlen(pat);
	end = strchr(at, '"');
	assert_non_null(end);
	words = xstrndup(at, (size_t)(end - at));
	for (char *c = words; *c; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	free(pat);
	return words;
}

/* Is w one of the space-separated words of list? */
static bool has_word(const char *list, const char *w)
{
	char *padded = xasprintf(" %s ", list ? list : ""), *me = xasprintf(" %s ", w);
	bool r = strstr(padded, me) != NULL;

	free(padded);
	free(me);
	return r;
}

/* Both lists hold the same words, each once (order aside). */
static void same_words(const char *what, const char *got, const char *want)
{
	char *a = xstrdup(got), *b = xstrdup(want), *save = NULL;
	size_t na = 0, nb = 0;

	for (char *w = strtok_r(a, " ", &save); w; w = strtok_r(NULL, " ", &save), na++)
		if (!has_word(want, w))
			fail_msg("the completion's %s offers \"%s\", which azbridgectl lacks", what, w);
	save = NULL;
	for (char *w = strtok_r(b, " ", &save); w; w = strtok_r(NULL, " ", &save), nb++)
		if (!has_word(got, w))
			fail_msg("the completion's %s lacks \"%s\" (it has: %s)", what, w, got);
	assert_int_equal(na, nb);
	free(a);
	free(b);
}

static void add_word(struct sbuf *b, const char *w)
{
	if (!has_word(b->s, w))
		sbuf_printf(b, "%s%s", b->len ? " " : "", w);
}

/* The verbs: first words, the words after "hosts", the verbs whose one
 * argument names a forward. */
static void table_words(struct sbuf *first, struct sbuf *hosts, struct sbuf *fwd)
{
	size_t n;
	const struct ctl_verb *v = ctl_verbs(&n);

	for (size_t i = 0; i < n; i++) {
		const char *sp = strchr(v[i].words, ' ');
		char *w = sp ? xstrndup(v[i].words, (size_t)(sp - v[i].words)) : xstrdup(v[i].words);

		add_word(first, w);
		if (sp && strcmp(w, "hosts") == 0)
			add_word(hosts, sp + 1);
		if (!sp && v[i].args[0].key && v[i].args[0].meta &&
		    strcmp(v[i].args[0].key, CTL_M_NAME) == 0)
			add_word(fwd, w);
		free(w);
	}
}

/* The options of cmdline.c: global ones, add's, and those taking a value. */
static void option_words(struct sbuf *globals, struct sbuf *add, struct sbuf *valued)
{
	for (const struct option *o = long_opts; o->name; o++) {
		char *w = xasprintf("--%s", o->name), s[3] = { '-', (char)o->val, 0 };

		add_word(o->val < OPT_NAME ? globals : add, w);
		if (o->has_arg == required_argument) {
			if (o->val < OPT_NAME)
				add_word(valued, s);
			add_word(valued, w);
		}
		free(w);
	}
	for (const char *c = short_opts; *c; c++) {
		char s[3] = { '-', *c, 0 };

		if (strchr("LTRH", *c)) {
			add_word(add, s);
			add_word(valued, s);
		}
	}
}

static void test_completion_lists_the_table(void **state)
{
	FILE *f = fopen("etc/completion/azbridgectl", "r");
	struct sbuf text, first, hosts, fwd, globals, add, valued;
	char buf[4096];
	size_t n;
	struct { const char *name; struct sbuf *want; } lists[] = {
		{ "verbs", &first }, { "hosts_verbs", &hosts }, { "forward_verbs", &fwd },
		{ "globals", &globals }, { "addflags", &add }, { "takes_value", &valued },
	};

	(void)state;
	assert_non_null(f);
	sbuf_init(&text);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_addn(&text, buf, n);
	fclose(f);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(lists); i++)
		sbuf_init(lists[i].want);
	table_words(&first, &hosts, &fwd);
	option_words(&globals, &add, &valued);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(lists); i++) {
		char *got = completion_list(text.s, lists[i].name);

		same_words(lists[i].name, got, lists[i].want->s);
		free(got);
		sbuf_free(lists[i].want);
	}
	sbuf_free(&text);
}

/* ---- the real daemon ------------------------------------------------------------ */

struct live {
	char dir[64], conf[128], sock[128], log[128];
	char *conf_text;
	int taken_fd;             /* holds the port of forward "taken" */
	pid_t pid;
	struct seen members;      /* reply members the daemon sent */
};

static double now_s(void)
{
	return azb_clock_s(CLOCK_MONOTONIC);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* A free loopback port; with fd, kept bound and listening in *fd. */
static int loopback_port(int *fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	if (fd)
		*fd = s;
	else
		close(s);
	return ntohs(sa.sin_port);
}

/* Every kind of binding and every state with something to say: a TCP
 * listener with a host name, one whose port is taken (failed), a socket,
 * and remote forwards that cannot reach their relay (reconnecting), one of
 * them HTTP with a path. Nothing answers on the relay's port. */
static void live_config(struct live *L)
{
	int p1 = loopback_port(NULL), p2 = loopback_port(&L->taken_fd);

	L->conf_text = xasprintf(
		"endpoint = \"sb://127.0.0.1:1/\";\n"
		"shared_access_key_name = \"k\";\nshared_access_key = \"c2VjcmV0\";\n"
		"control_socket = \"%s\";\nhosts_file = \"%s/hosts\";\n"
		"drain_timeout = 1;\nstop_timeout = 1;\nexit_on_forward_failure = false;\n"
		"local_forward = (\n"
		"  { name = \"tcp\"; relay = \"a\"; bind_address = \"127.0.0.1\"; bind_port = %d;\n"
		"    host_name = \"tcp.example\"; no_authentication = true; },\n"
		"  { name = \"taken\"; relay = \"a\"; bind_address = \"127.0.0.1\"; bind_port = %d; },\n"
		"  { name = \"sock\"; relay = \"a\"; bind_local_socket = \"%s/l.sock\"; }\n);\n"
		"remote_forward = (\n"
		"  { name = \"rem\"; relay = \"r\"; host = \"127.0.0.1\"; host_port = 9; },\n"
		"  { name = \"web\"; relay = \"w\"; http = true; port_name = \"http\";\n"
		"    host = \"localhost\"; path = \"p\"; }\n);\n",
		L->sock, L->dir, p1, p2, L->dir);
	write_file(L->conf, L->conf_text, 0600);
}

static void live_start(struct live *L)
{
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	char *bin = xasprintf("%s/azbridged", build), *dropins, *hosts;

	strcpy(L->dir, "/tmp/azb-test-ctlproto-XXXXXX");
	assert_non_null(mkdtemp(L->dir));
	snprintf(L->conf, sizeof(L->conf), "%s/azbridge.conf", L->dir);
	snprintf(L->sock, sizeof(L->sock), "%s/ctl.sock", L->dir);
	snprintf(L->log, sizeof(L->log), "%s/log", L->dir);
	dropins = xasprintf("%s.d", L->conf);
	assert_int_equal(mkdir(dropins, 0755), 0);
	free(dropins);
	write_file(L->log, "", 0600);
	hosts = xasprintf("%s/hosts", L->dir);
	write_file(hosts, "127.0.0.1\tlocalhost\n", 0644);
	free(hosts);
	live_config(L);
	L->pid = fork();
	assert_true(L->pid >= 0);
	if (L->pid == 0) {
		int log = open(L->log, O_WRONLY | O_APPEND);

		dup2(log, 1);
		dup2(log, 2);
		execl(bin, bin, "--foreground", "-v", "-c", L->conf, (char *)NULL);
		_exit(127);
	}
	free(bin);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The daemon stopped (killed after a deadline), its directory gone. */
static void live_stop(struct live *L)
{
	double deadline = now_s() + 20;
	int status;

	if (L->pid > 0) {
		kill(L->pid, SIGTERM);
		while (waitpid(L->pid, &status, WNOHANG) == 0 && now_s() < deadline)
			usleep(20000);
		if (now_s() >= deadline) {
			kill(L->pid, SIGKILL);
			waitpid(L->pid, &status, 0);
		}
	}
	if (L->taken_fd >= 0)
		close(L->taken_fd);
	free(L->conf_text);
	if (L->dir[0])
		nftw(L->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Every member of reply object o (shape s), with its type, is declared. */
static void walk(struct live *L, const char *verb, const json_t *o, const struct ctl_shape *s)
{
	const char *key;
	json_t *v;

	assert_true(json_is_object(o));
	json_object_foreach((json_t *)o, key, v) {
		const struct ctl_member *m = ctl_member_find(s, key);
		size_t i;
		json_t *e;

		if (!m)
			fail_msg("%s: azbridged sends \"%s\" in %s, which ctl_proto.c does not "
				 "declare", verb, key, s->what);
		if (!(m->type == JSON_TRUE ? json_is_boolean(v) : m->type == JSON_REAL ?
		      json_is_number(v) : json_typeof(v) == m->type || (m->nullable &&
									json_is_null(v))))
			fail_msg("%s: \"%s\" of %s has another type than ctl_proto.c says", verb,
				 key, s->what);
		seen_add(&L->members, m);
		if (json_is_object(v))
			walk(L, verb, v, m->sub);
		json_array_foreach(v, i, e) {
			if (m->sub)
				walk(L, verb, e, m->sub);
			else
				assert_true(json_is_string(e));
		}
	}
}

/* One request, as azbridgectl builds and sends it; the reply checked
 * against the table and printed. NULL-terminated words. */
static json_t *ask(struct live *L, const char *first, ...)
{
	char *argv[MAX_ARGV] = { "azbridgectl", (char *)first }, err[256], *text, *line;
	const struct ctl_verb *v;
	struct ctl_cmd c;
	struct sbuf out;
	json_t *reply;
	int argc = 2;
	va_list ap;

	va_start(ap, first);
	while ((argv[argc] = va_arg(ap, char *)))
		assert_true(++argc < MAX_ARGV);
	va_end(ap);
	if (cmd_parse(argc, argv, &c, err, sizeof(err)) != 0)
		fail_msg("%s: %s", first, err);
	text = json_dumps(c.req, JSON_COMPACT);
	line = xasprintf("%s\n", text);
	free(text);
	sbuf_init(&out);
	if (conn_request(L->sock, 10, line, strlen(line), &out) != 0)
		fail_msg("no reply to %s", line);
	free(line);
	reply = json_loads(out.s, 0, NULL);
	sbuf_free(&out);
	assert_non_null(reply);
	v = ctl_verb_find(json_string_value(json_object_get(c.req, CTL_M_CMD)));
	walk(L, v->name, reply, json_is_true(json_object_get(reply, CTL_M_OK)) ? v->reply :
			     &ctl_shape_failure);
	quietly(json_is_true(json_object_get(reply, CTL_M_OK)) ? pr_reply : print_failure_of,
		c.req, reply);
	cmd_free(&c);
	return reply;
}

static bool ok(json_t *reply)
{
	bool r = json_is_true(json_object_get(reply, CTL_M_OK));

	json_decref(reply);
	return r;
}

/* Does `list` show forward name in state, with member mem if one is given? */
static bool listed_with(struct live *L, const char *name, const char *state, const char *mem)
{
	json_t *r = ask(L, "list", NULL), *f;
	bool found = false;
	size_t i;

	json_array_foreach(json_object_get(r, CTL_M_FORWARDS), i, f)
		if (azb_streq(json_string_value(json_object_get(f, CTL_M_NAME)), name))
			found = azb_streq(json_string_value(json_object_get(f, CTL_M_STATE)), state) &&
				(!mem || json_object_get(f, mem));
	json_decref(r);
	return found;
}

static bool has_last_error(struct live *L, const char *name)
{
	json_t *r = ask(L, "stats", name, NULL);
	bool has = json_object_get(json_object_get(r, CTL_M_TOTAL), CTL_M_LAST_ERROR) != NULL;

	json_decref(r);
	return has;
}

/* The daemon's log, on standard error, when a test fails. */
static void print_log(const struct live *L)
{
	FILE *f = fopen(L->log, "r");
	char line[1024];

	fprintf(stderr, "---- %s\n", L->log);
	while (f && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	if (f)
		fclose(f);
}

static bool running(struct live *L)
{
	if (L->pid > 0 && waitpid(L->pid, NULL, WNOHANG) == L->pid)
		L->pid = 0;
	return L->pid > 0;
}

#define WAIT_FOR(what, cond) do { \
	double deadline_ = now_s() + 30; \
	while (!(cond)) { \
		if (now_s() > deadline_ || !running(L)) { \
			print_log(L); \
			fail_msg("%s waiting for %s", running(L) ? "timed out" : "azbridged exited", \
				 what); \
		} \
		usleep(100000); \
	} \
} while (0)

static bool answers(const char *sock)
{
	struct sbuf b;
	int r;

	sbuf_init(&b);
	r = conn_request(sock, 2, "{\"cmd\":\"version\"}\n", 18, &b);
	sbuf_free(&b);
	return r == 0;
}

static void live_reads(struct live *L)
{
	assert_true(ok(ask(L, "version", NULL)));
	assert_true(ok(ask(L, "status", NULL)));
	WAIT_FOR("taken failed", listed_with(L, "taken", "failed", CTL_M_REASON));
	WAIT_FOR("rem reconnecting", listed_with(L, "rem", "reconnecting", CTL_M_NEXT_ATTEMPT));
	WAIT_FOR("tcp listening", listed_with(L, "tcp", "listening", NULL));
	WAIT_FOR("rem's last error", has_last_error(L, "rem"));
	static const char *const names[] = { "tcp", "taken", "sock", "rem", "web" };

	for (size_t i = 0; i < AZB_ARRAY_SIZE(names); i++)
		assert_true(ok(ask(L, "show", names[i], NULL)));
	assert_true(ok(ask(L, "stats", NULL)));
	assert_false(ok(ask(L, "show", "nosuch", NULL)));
}

static void live_hosts(struct live *L)
{
	assert_true(ok(ask(L, "hosts", "add", "127.0.0.5", "manual.example", NULL)));
	assert_true(ok(ask(L, "hosts", "list", NULL)));
	assert_true(ok(ask(L, "hosts", "remove", "manual.example", NULL)));
}

static void live_changes(struct live *L)
{
	char bind[32], *broken;

	snprintf(bind, sizeof(bind), "127.0.0.1:%d", loopback_port(NULL));
	assert_true(ok(ask(L, "add", "--name", "added", "-L", bind, NULL)));
	assert_true(ok(ask(L, "remove", "added", NULL)));
	snprintf(bind, sizeof(bind), "127.0.0.1:%d", loopback_port(NULL));
	assert_true(ok(ask(L, "add", "--runtime", "--name", "rt", "--local", "--relay", "a",
			   "--bind", bind, NULL)));
	assert_true(ok(ask(L, "remove", "rt", NULL)));
	assert_true(ok(ask(L, "reload", NULL)));
	broken = xasprintf("%sbogus_key = 1;\n", L->conf_text);
	write_file(L->conf, broken, 0600);
	free(broken);
	assert_false(ok(ask(L, "reload", NULL)));
	assert_true(ok(ask(L, "status", NULL)));
	write_file(L->conf, L->conf_text, 0600);
}

static int live_setup(void **state)
{
	struct live *L = xcalloc(1, sizeof(*L));

	L->taken_fd = -1;
	*state = L;
	live_start(L);
	return 0;
}

static int live_teardown(void **state)
{
	live_stop(*state);
	free(*state);
	return 0;
}

static void test_daemon_sends_what_the_table_says(void **state)
{
	struct live *L = *state;
	struct seen every = { .n = 0 };

	WAIT_FOR("the control socket", answers(L->sock));
	live_reads(L);
	live_hosts(L);
	live_changes(L);
	/* Every member the table declares is one the daemon sends. */
	all_members(&every);
	for (size_t i = 0; i < every.n; i++)
		if (!seen_has(&L->members, every.p[i]))
			fail_msg("azbridged sent no \"%s\" in any reply",
				 ((const struct ctl_member *)every.p[i])->key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests_round_trip),
		cmocka_unit_test(test_verbs_of_protocol_1),
		cmocka_unit_test(test_printers_read_declared_members),
		cmocka_unit_test(test_completion_lists_the_table),
		cmocka_unit_test_setup_teardown(test_daemon_sends_what_the_table_says, live_setup,
						live_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
