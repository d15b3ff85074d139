/* azbridgectl: command lines to request objects (each one also through the
 * daemon's request decoder), usage errors, tables, formats, and the socket
 * exchange against a forked fake daemon; the decoder's refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../ctl/cmdline.c"
#include "../../ctl/conn.c"
#include "../../ctl/print.c"
#include "../../ctl/table.c"
#include "../../daemon/ctlreq.h"

#define ARGV(...) char *argv[] = { "azbridgectl", __VA_ARGS__, NULL }; \
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1

/* What azbridgectl sends, the daemon takes, as the verb its cmd names. */
static void expect_decoded(const json_t *req)
{
	char *line = json_dumps(req, JSON_COMPACT);
	struct ctl_request rq;
	json_t *reply = NULL;

	assert_non_null(line);
	if (ctl_decode(line, strlen(line), &rq, &reply) != 0)
		fail_msg("the daemon refuses %s: %s", line,
			 json_string_value(json_object_get(reply, "message")));
	assert_string_equal(rq.verb->name, json_string_value(json_object_get(req, "cmd")));
	assert_true(json_equal(rq.req, req));
	json_decref(rq.req);
	free(line);
}

/* cmd_parse must give exactly the request in want (JSON text). */
static void expect_req(int argc, char **argv, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	struct ctl_cmd c;
	char err[256] = "";
	int r = cmd_parse(argc, argv, &c, err, sizeof(err));

	assert_non_null(w);
	if (r != 0)
		fail_msg("%s: %s", argv[1], err);
	if (!json_equal(c.req, w)) {
		char *got = json_dumps(c.req, JSON_COMPACT);

		fail_msg("got %s, wanted %s", got, want);
	}
	expect_decoded(c.req);
	json_decref(w);
	cmd_free(&c);
}

/* cmd_parse must refuse with a message containing want. */
static void expect_usage(int argc, char **argv, const char *want)
{
	struct ctl_cmd c;
	char err[256] = "";

	assert_int_equal(cmd_parse(argc, argv, &c, err, sizeof(err)), -EINVAL);
	assert_null(c.req);
	if (!strstr(err, want))
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
}

static void test_plain_verbs(void **state)
{
	(void)state;
	{ ARGV("status"); expect_req(argc, argv, "{\"cmd\":\"status\"}"); }
	{ ARGV("list"); expect_req(argc, argv, "{\"cmd\":\"list\"}"); }
	{ ARGV("show", "sql"); expect_req(argc, argv, "{\"cmd\":\"show\",\"name\":\"sql\"}"); }
	{ ARGV("stats"); expect_req(argc, argv, "{\"cmd\":\"stats\"}"); }
	{ ARGV("stats", "a"); expect_req(argc, argv, "{\"cmd\":\"stats\",\"name\":\"a\"}"); }
	{ ARGV("reload"); expect_req(argc, argv, "{\"cmd\":\"reload\"}"); }
	{ ARGV("version"); expect_req(argc, argv, "{\"cmd\":\"version\"}"); }
	{ ARGV("remove", "x"); expect_req(argc, argv, "{\"cmd\":\"remove\",\"name\":\"x\"}"); }
	{ ARGV("hosts", "list"); expect_req(argc, argv, "{\"cmd\":\"hosts-list\"}"); }
	{ ARGV("hosts", "add", "10.0.0.5", "db.example");
	  expect_req(argc, argv, "{\"cmd\":\"hosts-add\",\"ip\":\"10.0.0.5\",\"name\":\"db.example\"}"); }
	{ ARGV("hosts", "remove", "db.example");
	  expect_req(argc, argv, "{\"cmd\":\"hosts-remove\",\"name\":\"db.example\"}"); }
}

static void test_add_expressions(void **state)
{
	(void)state;
	{ ARGV("add", "-L", "16161:db");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"local\","
		     "\"expression\":\"16161:db\"}}"); }
	{ ARGV("add", "--name", "pg", "--runtime", "-T", "db:5432");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"runtime\":true,\"binding\":{\"direction\":"
		     "\"remote\",\"name\":\"pg\",\"expression\":\"db:5432\"}}"); }
	{ ARGV("add", "-R", "db:h:pg/5432");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"remote\","
		     "\"expression\":\"db:h:pg/5432\",\"legacy\":true}}"); }
	{ ARGV("add", "-H", "web:https/443");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"remote\","
		     "\"http\":true,\"expression\":\"web:https/443\"}}"); }
}

static void test_add_flags(void **state)
{
	(void)state;
	{ ARGV("add", "--local", "--relay", "db", "--bind", "127.0.0.8:16161", "--port-name",
	       "sql1", "--host-name", "sql1.corp", "--udp");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"local\",\"relay\":"
		     "\"db\",\"bind_address\":\"127.0.0.8\",\"bind_port\":16161,\"port_name\":"
		     "\"sql1\",\"host_name\":\"sql1.corp\",\"udp\":true}}"); }
	{ ARGV("add", "--local", "--relay", "db", "--bind", "[::1]:80");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"local\",\"relay\":"
		     "\"db\",\"bind_address\":\"::1\",\"bind_port\":80}}"); }
	{ ARGV("add", "--local", "--relay", "db", "--socket-path", "/run/a.sock");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"local\",\"relay\":"
		     "\"db\",\"bind_local_socket\":\"/run/a.sock\"}}"); }
	{ ARGV("add", "--remote", "--relay", "db", "--target", "5432");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"remote\",\"relay\":"
		     "\"db\",\"host_port\":5432}}"); }
	{ ARGV("add", "--remote", "--relay", "db", "--target-socket", "/run/pg.sock");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"remote\",\"relay\":"
		     "\"db\",\"local_socket\":\"/run/pg.sock\"}}"); }
	{ ARGV("add", "--remote", "--relay", "w", "--http", "--port-name", "https");
	  expect_req(argc, argv, "{\"cmd\":\"add\",\"binding\":{\"direction\":\"remote\",\"relay\":"
		     "\"w\",\"http\":true,\"port_name\":\"https\"}}"); }
}

static void test_global_options(void **state)
{
	struct ctl_cmd c;
	char err[256];

	(void)state;
	setenv("AZBRIDGE_CONTROL_SOCKET", "/tmp/env.sock", 1);
	{
		ARGV("list", "--json", "-t", "2.5");
		assert_int_equal(cmd_parse(argc, argv, &c, err, sizeof(err)), 0);
		assert_true(c.json);
		assert_string_equal(c.socket, "/tmp/env.sock");
		assert_true(c.timeout == 2.5);
		cmd_free(&c);
	}
	{
		ARGV("-s", "/tmp/x.sock", "status");
		assert_int_equal(cmd_parse(argc, argv, &c, err, sizeof(err)), 0);
		assert_string_equal(c.socket, "/tmp/x.sock");
		assert_true(c.timeout == CTL_TIMEOUT_DEFAULT);
		cmd_free(&c);
	}
	unsetenv("AZBRIDGE_CONTROL_SOCKET");
	{
		ARGV("status");
		assert_int_equal(cmd_parse(argc, argv, &c, err, sizeof(err)), 0);
		assert_string_equal(c.socket, AZB_CONTROL_SOCKET);
		cmd_free(&c);
	}
	{
		ARGV("add", "--help");
		assert_int_equal(cmd_parse(argc, argv, &c, err, sizeof(err)), 0);
		assert_true(c.help);
		assert_null(c.req);
	}
	{
		ARGV("-V");
		assert_int_equal(cmd_parse(argc, argv, &c, err, sizeof(err)), 0);
		assert_true(c.version);
		assert_null(c.req);
	}
}

static void test_usage_errors(void **state)
{
	(void)state;
	{ char *argv[] = { "azbridgectl", NULL }; expect_usage(1, argv, "no command"); }
	{ ARGV("bogus"); expect_usage(argc, argv, "unknown command 'bogus'"); }
	{ ARGV("hosts"); expect_usage(argc, argv, "hosts needs"); }
	{ ARGV("hosts", "drop"); expect_usage(argc, argv, "unknown command 'hosts drop'"); }
	{ ARGV("show"); expect_usage(argc, argv, "missing argument"); }
	{ ARGV("show", "a", "b"); expect_usage(argc, argv, "unexpected argument 'b'"); }
	{ ARGV("hosts", "add", "1.2.3.4"); expect_usage(argc, argv, "hosts add IP NAME"); }
	{ ARGV("--bogus", "list"); expect_usage(argc, argv, "unknown option '--bogus'"); }
	{ ARGV("list", "-s"); expect_usage(argc, argv, "'-s' needs a value"); }
	{ ARGV("list", "--socket"); expect_usage(argc, argv, "'--socket' needs a value"); }
	{ ARGV("--json", "-xj", "list"); expect_usage(argc, argv, "unknown option '-x'"); }
	{ ARGV("--json=1", "list"); expect_usage(argc, argv, "'--json' takes no value"); }
	{ ARGV("-t", "0", "list"); expect_usage(argc, argv, "--timeout"); }
	{ ARGV("-t", "1x", "list"); expect_usage(argc, argv, "--timeout"); }
	{ ARGV("list", "--udp"); expect_usage(argc, argv, "--udp is an option of add"); }
	{ ARGV("add"); expect_usage(argc, argv, "add needs"); }
	{ ARGV("add", "x", "-L", "1:db"); expect_usage(argc, argv, "unexpected argument 'x'"); }
	{ ARGV("add", "-L", "1:db", "-T", "db:1"); expect_usage(argc, argv, "one forward"); }
	{ ARGV("add", "-L", "1:db", "--relay", "r"); expect_usage(argc, argv, "cannot be combined"); }
	{ ARGV("add", "--local", "--remote"); expect_usage(argc, argv, "not both"); }
	{ ARGV("add", "--local", "--bind", "1"); expect_usage(argc, argv, "--relay"); }
	{ ARGV("add", "--local", "--relay", "r"); expect_usage(argc, argv, "--bind or --socket-path"); }
	{ ARGV("add", "--local", "--relay", "r", "--bind", "http");
	  expect_usage(argc, argv, "not a port number"); }
	{ ARGV("add", "--local", "--relay", "r", "--bind", "a:70000");
	  expect_usage(argc, argv, "not a port number"); }
	{ ARGV("add", "--local", "--relay", "r", "--bind", "::1:80");
	  expect_usage(argc, argv, "brackets"); }
	{ ARGV("add", "--local", "--relay", "r", "--bind", "1", "--bind", "2");
	  expect_usage(argc, argv, "--bind given twice"); }
	{ ARGV("add", "--local", "--relay", "r", "--bind", "1", "--socket-path", "/a");
	  expect_usage(argc, argv, "not both"); }
	{ ARGV("add", "--remote", "--relay", "r", "--bind", "1");
	  expect_usage(argc, argv, "--bind is for --local"); }
	{ ARGV("add", "--local", "--relay", "r", "--target", "1");
	  expect_usage(argc, argv, "--target is for --remote"); }
	{ ARGV("add", "--remote", "--relay", "r", "--http", "--target-socket", "/a");
	  expect_usage(argc, argv, "not to a socket"); }
	{ ARGV("add", "--name", "\xff", "-L", "1:db"); expect_usage(argc, argv, "UTF-8"); }
}

/* ---- output helpers ------------------------------------------------------------- */

static void test_table(void **state)
{
	struct tbl t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	tbl_init(&t, 3, 1u << 1);
	tbl_add(&t, "NAME");
	tbl_add(&t, "N");
	tbl_add(&t, "NOTE");
	tbl_add(&t, "a");
	tbl_addf(&t, "%d", 1234);
	tbl_add(&t, NULL);
	tbl_add(&t, "h\xc3\xa9llo");
	tbl_add(&t, "7");
	tbl_add(&t, "x");
	tbl_print(&t, f, "  ");
	tbl_free(&t);
	fclose(f);
	assert_string_equal(buf, "  NAME      N  NOTE\n"
				 "  a      1234\n"
				 "  h\xc3\xa9llo     7  x\n");
	free(buf);
}

static void test_formats(void **state)
{
	char b[32];

	(void)state;
	fmt_bytes(b, sizeof(b), 0);
	assert_string_equal(b, "0 B");
	fmt_bytes(b, sizeof(b), 1023);
	assert_string_equal(b, "1023 B");
	fmt_bytes(b, sizeof(b), 1258291);
	assert_string_equal(b, "1.2 MiB");
	fmt_bytes(b, sizeof(b), 3.5 * 1024 * 1024 * 1024);
	assert_string_equal(b, "3.5 GiB");
	fmt_duration(b, sizeof(b), 59.4);
	assert_string_equal(b, "59s");
	fmt_duration(b, sizeof(b), 61);
	assert_string_equal(b, "1m01s");
	fmt_duration(b, sizeof(b), 7384.5);
	assert_string_equal(b, "2h03m");
	fmt_duration(b, sizeof(b), 90000);
	assert_string_equal(b, "1d01h");
	fmt_duration(b, sizeof(b), -3);
	assert_string_equal(b, "0s");
}

/* ---- the exchange, against a forked fake daemon -------------------------------- */

enum fake_mode { FAKE_DRIP, FAKE_BIG, FAKE_SILENT_CLOSE, FAKE_HALF, FAKE_HANG, FAKE_TWO };

struct fake {
	char path[108];
	pid_t pid;
};

static void fake_serve(int ls, enum fake_mode mode)
{
	static const char reply[] = "{\"ok\":true,\"version\":\"9\"}\n";
	char buf[4096];
	int c = accept(ls, NULL, NULL);
	size_t got = 0;

	while (c >= 0 && !memchr(buf, '\n', got) && got < sizeof(buf)) {
		ssize_t n = read(c, buf + got, sizeof(buf) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (mode == FAKE_DRIP) {   /* one byte a write */
		for (size_t i = 0; i < sizeof(reply) - 1; i++)
			if (write(c, reply + i, 1) != 1)
				break;
	} else if (mode == FAKE_BIG) {   /* 3 MiB in one JSON string */
		size_t n = 3u << 20;
		char *big = malloc(n + 32);

		memcpy(big, "{\"ok\":true,\"s\":\"", 16);
		memset(big + 16, 'x', n);
		memcpy(big + 16 + n, "\"}\n", 3);
		for (size_t off = 0; off < n + 19;) {
			ssize_t w = write(c, big + off, n + 19 - off);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
		free(big);
	} else if (mode == FAKE_HALF) {
		if (write(c, reply, 10) != 10)
			_exit(1);
	} else if (mode == FAKE_HANG) {
		pause();
	} else if (mode == FAKE_TWO) {   /* only the first line is the reply */
		if (write(c, "{\"ok\":true}\n{\"ok\":false}\n", 24) != 24)
			_exit(1);
	}
	_exit(0);
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(f->path, sizeof(f->path), "/tmp/azb-test-ctl-%d.sock", (int)getpid());
	unlink(f->path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 4), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0)
		fake_serve(ls, mode);
	close(ls);
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	unlink(f->path);
}

static int exchange(enum fake_mode mode, double timeout, struct sbuf *reply)
{
	static const char req[] = "{\"cmd\":\"version\"}\n";
	struct fake f;
	int r;

	fake_start(&f, mode);
	sbuf_init(reply);
	r = conn_request(f.path, timeout, req, sizeof(req) - 1, reply);
	fake_stop(&f);
	return r;
}

static void test_exchange(void **state)
{
	struct sbuf b;

	(void)state;
	assert_int_equal(exchange(FAKE_DRIP, 5, &b), 0);
	assert_string_equal(b.s, "{\"ok\":true,\"version\":\"9\"}");
	sbuf_free(&b);
	assert_int_equal(exchange(FAKE_BIG, 10, &b), 0);
	assert_int_equal(b.len, (3u << 20) + 18);
	sbuf_free(&b);
	assert_int_equal(exchange(FAKE_TWO, 5, &b), 0);
	assert_string_equal(b.s, "{\"ok\":true}");
	sbuf_free(&b);
	assert_int_equal(exchange(FAKE_SILENT_CLOSE, 5, &b), -ECONNRESET);
	sbuf_free(&b);
	assert_int_equal(exchange(FAKE_HALF, 5, &b), -EPROTO);
	sbuf_free(&b);
	assert_int_equal(exchange(FAKE_HANG, 0.2, &b), -ETIMEDOUT);
	sbuf_free(&b);
}

static void test_exchange_unreachable(void **state)
{
	char path[300];
	struct sbuf b;

	(void)state;
	sbuf_init(&b);
	assert_int_equal(conn_request("/nonexistent/ctl.sock", 1, "x\n", 2, &b), -ENOENT);
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(conn_request(path, 1, "x\n", 2, &b), -ENAMETOOLONG);
	sbuf_free(&b);
}

/* The daemon's decoder refuses with a code and a message naming the fault. */
static void expect_refused(const char *line, size_t len, const char *code, const char *want)
{
	struct ctl_request rq;
	json_t *reply = NULL;
	char *text;

	assert_int_equal(ctl_decode(line, len, &rq, &reply), -EINVAL);
	assert_null(rq.verb);
	assert_null(rq.req);
	assert_string_equal(json_string_value(json_object_get(reply, "error")), code);
	if (!strstr(json_string_value(json_object_get(reply, "message")), want))
		fail_msg("%s: message \"%s\" lacks \"%s\"", line,
			 json_string_value(json_object_get(reply, "message")), want);
	text = json_dumps(reply, JSON_COMPACT);
	assert_non_null(text);
	free(text);
	json_decref(reply);
}

#define REFUSED(s, code, want) expect_refused(s, sizeof(s) - 1, code, want)

static void test_decode_refusals(void **state)
{
	char odd[200] = "{\"cmd\":\"a";
	struct ctl_request rq;
	json_t *reply;

	(void)state;
	REFUSED("hello", "bad-request", "not JSON");
	REFUSED("[1,2]", "bad-request", "an object with a string \"cmd\"");
	REFUSED("{\"cmd\":5}", "bad-request", "string \"cmd\"");
	REFUSED("{\"cmd\":\"list\",\"cmd\":\"list\"}", "bad-request", "duplicate");
	REFUSED("{\"cmd\":\"nope\"}", "unknown-command", "\"nope\"");
	REFUSED("{\"cmd\":\"show\"}", "bad-request", "show needs \"name\", a string");
	REFUSED("{\"cmd\":\"show\",\"name\":7}", "bad-request", "\"name\" of show must be a string");
	REFUSED("{\"cmd\":\"add\",\"binding\":[]}", "bad-request", "must be an object");
	REFUSED("{\"cmd\":\"add\",\"binding\":{},\"runtime\":1}", "bad-request",
		"\"runtime\" of add must be true or false");
	REFUSED("{\"cmd\":\"hosts-add\",\"name\":\"x\"}", "bad-request", "needs \"ip\"");
	REFUSED("{\"cmd\":\"st\\u0000atus\"}", "bad-request", "not JSON");
	REFUSED("\xff{}", "bad-request", "not JSON");
	/* A quoted command cut inside a character still makes a valid reply. */
	for (int i = 0; i < 40; i++)
		strcat(odd, "\xc3\xa9");
	strcat(odd, "\"}");
	expect_refused(odd, strlen(odd), "unknown-command", "unknown command \"a");
	/* Members a verb does not read are no reason to refuse. */
	strcpy(odd, "{\"cmd\":\"version\",\"pad\":[1]}");
	assert_int_equal(ctl_decode(odd, strlen(odd), &rq, &reply), 0);
	assert_string_equal(rq.verb->name, "version");
	assert_false(rq.verb->mutating);
	json_decref(rq.req);
	assert_true(ctl_verb_find("hosts-remove")->mutating);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_verbs),
		cmocka_unit_test(test_add_expressions),
		cmocka_unit_test(test_add_flags),
		cmocka_unit_test(test_global_options),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_exchange_unreachable),
		cmocka_unit_test(test_decode_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
