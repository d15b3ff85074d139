/* The -L/-T/-R/-H grammar: the original tool's parser test cases, our
 * extensions, canonical round trips, derived names, and exact errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"

struct ok_case {
	char opt;
	const char *expr;
	const char *canonical;     /* bnd_format() */
	const char *relay;
	size_t n_ep;
	/* first endpoint */
	enum azb_kind kind;
	const char *host;
	unsigned port;
	const char *socket;
	const char *port_name;
	const char *http_path;
};

static const struct ok_case ok[] = {
	/* -L, from the original's documentation and tests */
	{ 'L', "16161:db", "localhost:16161/16161:db", "db", 1, AZB_KIND_TCP, "localhost", 16161,
	  NULL, "16161", NULL },
	{ 'L', "127.0.0.8:16161/sql1;127.0.0.9:16161/sql2:db",
	  "127.0.0.8:16161/sql1;127.0.0.9:16161/sql2:db", "db", 2, AZB_KIND_TCP, "127.0.0.8", 16161,
	  NULL, "sql1", NULL },
	{ 'L', "3434U:relay", "localhost:3434U/3434U:relay", "relay", 1, AZB_KIND_UDP, "localhost",
	  3434, NULL, "3434U", NULL },
	{ 'L', "7777;7777U:relay", "localhost:7777/7777;localhost:7777U/7777U:relay", "relay", 2,
	  AZB_KIND_TCP, "localhost", 7777, NULL, "7777", NULL },
	{ 'L', "13389/rdp:relay", "localhost:13389/rdp:relay", "relay", 1, AZB_KIND_TCP,
	  "localhost", 13389, NULL, "rdp", NULL },
	{ 'L', "name:baz", "name/name:baz", "baz", 1, AZB_KIND_UNIX, NULL, 0, "name", "name", NULL },
	{ 'L', "sock/pn:baz", "sock/pn:baz", "baz", 1, AZB_KIND_UNIX, NULL, 0, "sock", "pn", NULL },
	/* issue #72: the UDP port with a host must not lose a digit */
	{ 'L', "localhost:123U:endpoint", "localhost:123U/123U:endpoint", "endpoint", 1,
	  AZB_KIND_UDP, "localhost", 123, NULL, "123U", NULL },
	{ 'L', "0.0.0.0:80:web", "0.0.0.0:80/80:web", "web", 1, AZB_KIND_TCP, "0.0.0.0", 80, NULL,
	  "80", NULL },
	{ 'L', "127.0.0.1:5432:a.b/c_d-e", "127.0.0.1:5432/5432:a.b/c_d-e", "a.b/c_d-e", 1,
	  AZB_KIND_TCP, "127.0.0.1", 5432, NULL, "5432", NULL },
	{ 'L', "db.internal:80:web", "db.internal:80/80:web", "web", 1, AZB_KIND_TCP, "db.internal",
	  80, NULL, "80", NULL },
	/* -L extensions */
	{ 'L', "[::1]:8080:relay", "[::1]:8080/8080:relay", "relay", 1, AZB_KIND_TCP, "::1", 8080,
	  NULL, "8080", NULL },
	{ 'L', "[::1]:8080/web:relay", "[::1]:8080/web:relay", "relay", 1, AZB_KIND_TCP, "::1",
	  8080, NULL, "web", NULL },
	{ 'L', "[::]:53U/dns:relay", "[::]:53U/dns:relay", "relay", 1, AZB_KIND_UDP, "::", 53, NULL,
	  "dns", NULL },
	{ 'L', "/run/app.sock:relay", "[/run/app.sock]/app.sock:relay", "relay", 1, AZB_KIND_UNIX,
	  NULL, 0, "/run/app.sock", "app.sock", NULL },
	{ 'L', "[/run/a:b.sock]/web:relay", "[/run/a:b.sock]/web:relay", "relay", 1, AZB_KIND_UNIX,
	  NULL, 0, "/run/a:b.sock", "web", NULL },
	/* -T, from the original's tests */
	{ 'T', "relay1:port/1000", "relay1:port/localhost:1000", "relay1", 1, AZB_KIND_TCP,
	  "localhost", 1000, NULL, "port", NULL },
	{ 'T', "relay2:port/name:1000", "relay2:port/name:1000", "relay2", 1, AZB_KIND_TCP, "name",
	  1000, NULL, "port", NULL },
	{ 'T', "relay3:1000", "relay3:1000/localhost:1000", "relay3", 1, AZB_KIND_TCP, "localhost",
	  1000, NULL, "1000", NULL },
	{ 'T', "relay4:sock", "relay4:sock/sock", "relay4", 1, AZB_KIND_UNIX, NULL, 0, "sock",
	  "sock", NULL },
	{ 'T', "db:5432", "db:5432/localhost:5432", "db", 1, AZB_KIND_TCP, "localhost", 5432, NULL,
	  "5432", NULL },
	{ 'T', "db:sql1/db.corp:1433;sql2/db2.corp:1433", "db:sql1/db.corp:1433;sql2/db2.corp:1433",
	  "db", 2, AZB_KIND_TCP, "db.corp", 1433, NULL, "sql1", NULL },
	{ 'T', "dns:53U", "dns:53U/localhost:53U", "dns", 1, AZB_KIND_UDP, "localhost", 53, NULL,
	  "53U", NULL },
	{ 'T', "dns:resolver/10.0.0.2:53U", "dns:resolver/10.0.0.2:53U", "dns", 1, AZB_KIND_UDP,
	  "10.0.0.2", 53, NULL, "resolver", NULL },
	{ 'T', "rdp:3389", "rdp:3389/localhost:3389", "rdp", 1, AZB_KIND_TCP, "localhost", 3389,
	  NULL, "3389", NULL },
	/* -T extensions */
	{ 'T', "relay:web/[::1]:8080", "relay:web/[::1]:8080", "relay", 1, AZB_KIND_TCP, "::1",
	  8080, NULL, "web", NULL },
	{ 'T', "relay:[::1]:8080", "relay:8080/[::1]:8080", "relay", 1, AZB_KIND_TCP, "::1", 8080,
	  NULL, "8080", NULL },
	{ 'T', "relay:/run/pg.sock", "relay:pg.sock//run/pg.sock", "relay", 1, AZB_KIND_UNIX, NULL,
	  0, "/run/pg.sock", "pg.sock", NULL },
	{ 'T', "relay:sql//run/pg.sock", "relay:sql//run/pg.sock", "relay", 1, AZB_KIND_UNIX, NULL,
	  0, "/run/pg.sock", "sql", NULL },
	{ 'T', "relay:sql/[/run/a:b]", "relay:sql/[/run/a:b]", "relay", 1, AZB_KIND_UNIX, NULL, 0,
	  "/run/a:b", "sql", NULL },
	/* -R, from the original's tests */
	{ 'R', "bar3:10.1.1.1:port/123", "bar3:port/10.1.1.1:123", "bar3", 1, AZB_KIND_TCP,
	  "10.1.1.1", 123, NULL, "port", NULL },
	{ 'R', "bar4:10.1.1.1:123", "bar4:123/10.1.1.1:123", "bar4", 1, AZB_KIND_TCP, "10.1.1.1",
	  123, NULL, "123", NULL },
	{ 'R', "bar5:port/123", "bar5:port/localhost:123", "bar5", 1, AZB_KIND_TCP, "localhost",
	  123, NULL, "port", NULL },
	{ 'R', "bar6:[::1]:n/7U", "bar6:n/[::1]:7U", "bar6", 1, AZB_KIND_UDP, "::1", 7, NULL, "n",
	  NULL },
	/* -H, from the original's tests */
	{ 'H', "foo5:https/service.example.com", "foo5:https/service.example.com:443", "foo5", 1,
	  AZB_KIND_HTTP, "service.example.com", 443, NULL, "https", "/" },
	{ 'H', "bar5:http/service.example.com:81", "bar5:http/service.example.com:81", "bar5", 1,
	  AZB_KIND_HTTP, "service.example.com", 81, NULL, "http", "/" },
	{ 'H', "abc/def:http/service.example.com/foo", "abc/def:http/service.example.com/foo:80",
	  "abc/def", 1, AZB_KIND_HTTP, "service.example.com", 80, NULL, "http", "/foo/" },
	{ 'H', "x:http/h/a/b/:8080", "x:http/h/a/b:8080", "x", 1, AZB_KIND_HTTP, "h", 8080, NULL,
	  "http", "/a/b/" },
	{ 'H', "x:http/h;https/h2/p", "x:http/h:80;https/h2/p:443", "x", 2, AZB_KIND_HTTP, "h", 80,
	  NULL, "http", "/" },
	/* -H: the documented meaning of "https/443" */
	{ 'H', "latavola:https/443", "latavola:https/localhost:443", "latavola", 1, AZB_KIND_HTTP,
	  "localhost", 443, NULL, "https", "/" },
	{ 'H', "v6:http/[::1]/api:8080", "v6:http/[::1]/api:8080", "v6", 1, AZB_KIND_HTTP, "::1",
	  8080, NULL, "http", "/api/" },
};

static void check_ok(const struct ok_case *c)
{
	struct azb_fwd *f = NULL, *g = NULL;
	char err[512], *fmt, *fmt2, *name;
	const struct azb_ep *e;

	if (bnd_parse(c->opt, c->expr, &f, err, sizeof(err)) != 0)
		fail_msg("-%c %s: %s", c->opt, c->expr, err);
	assert_string_equal(f->relay, c->relay);
	assert_int_equal(f->n_ep, c->n_ep);
	e = &f->ep[0];
	assert_int_equal(e->kind, c->kind);
	if (c->host)
		assert_string_equal(e->host, c->host);
	else
		assert_null(e->host);
	assert_int_equal(e->port, c->port);
	if (c->socket)
		assert_string_equal(e->socket_path, c->socket);
	assert_string_equal(e->port_name, c->port_name);
	if (c->http_path)
		assert_string_equal(e->http_path, c->http_path);
	fmt = bnd_format(f);
	assert_string_equal(fmt, c->canonical);
	/* the canonical form parses back to an equal forward */
	assert_int_equal(bnd_parse(bnd_format_option(f), fmt, &g, err, sizeof(err)), 0);
	assert_true(bnd_fwd_equal(f, g));
	fmt2 = bnd_format(g);
	assert_string_equal(fmt, fmt2);
	name = bnd_derive_name(f);
	assert_int_equal(bnd_check_forward_name(name, NULL, 0), 0);
	free(name);
	free(fmt);
	free(fmt2);
	bnd_fwd_free(f);
	bnd_fwd_free(g);
}

static void test_valid_expressions(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		check_ok(&ok[i]);
}

struct bad_case {
	char opt;
	const char *expr;
	const char *err;
};

static const struct bad_case bad[] = {
	{ 'L', "70000:db", "invalid -L expression \"70000:db\": port 70000 is out of range 1..65535" },
	{ 'L', "0:db", "invalid -L expression \"0:db\": port 0 is out of range 1..65535" },
	{ 'L', "80:foo^^^bar", "invalid -L expression \"80:foo^^^bar\": relay name \"foo^^^bar\" is "
	  "invalid: use letters, digits, '/', '_', '-' and '.'" },
	{ 'L', "1.1.1.1:80:foobar", "invalid -L expression \"1.1.1.1:80:foobar\": bind address "
	  "1.1.1.1 is not a local address" },
	{ 'L', "a:b:c:relay", "invalid -L expression \"a:b:c:relay\": binding \"a:b:c\" has too many "
	  "':' parts" },
	{ 'L', "127.0.0.1:http:relay", "invalid -L expression \"127.0.0.1:http:relay\": \"http\" is "
	  "not a port number" },
	{ 'L', "16161", "invalid -L expression \"16161\": no ':' between the relay name and the "
	  "bindings" },
	{ 'L', "16161:", "invalid -L expression \"16161:\": relay name is empty" },
	{ 'L', ":db", "invalid -L expression \":db\": no bindings" },
	{ 'L', "1;;2:db", "invalid -L expression \"1;;2:db\": a binding is empty" },
	{ 'L', "80/a/b:db", "invalid -L expression \"80/a/b:db\": binding \"80/a/b\" has more than "
	  "one '/'" },
	{ 'L', "80/:db", "invalid -L expression \"80/:db\": port name is empty" },
	{ 'L', "/:db", "invalid -L expression \"/:db\": socket path \"/\" names no file" },
	{ 'L', "[::1:80:db", "invalid -L expression \"[::1:80:db\": no ':' between the relay name and "
	  "the bindings" },
	{ 'L', "[fe80::zz]:80:db", "invalid -L expression \"[fe80::zz]:80:db\": \"[fe80::zz]\" is not "
	  "an IPv6 address" },
	{ 'L', "[2001:db8::1]:80:db", "invalid -L expression \"[2001:db8::1]:80:db\": bind address "
	  "2001:db8::1 is not a local address" },
	{ 'T', "relay", "invalid -T expression \"relay\": no ':' between the relay name and the "
	  "bindings" },
	{ 'T', "re lay:80", "invalid -T expression \"re lay:80\": relay name \"re lay\" is invalid: "
	  "use letters, digits, '/', '_', '-' and '.'" },
	{ 'T', "r:a/b/c", "invalid -T expression \"r:a/b/c\": binding \"a\" has more than one '/'" },
	{ 'T', "r:h:1:2", "invalid -T expression \"r:h:1:2\": binding \"h:1:2\" has too many ':' "
	  "parts" },
	{ 'T', "r:host:99999", "invalid -T expression \"r:host:99999\": port 99999 is out of range "
	  "1..65535" },
	{ 'T', "r:host:web", "invalid -T expression \"r:host:web\": \"web\" is not a port number" },
	{ 'R', "r:h:n/x", "invalid -R expression \"r:h:n/x\": \"x\" is not a port number" },
	{ 'H', "r:ftp/host", "invalid -H expression \"r:ftp/host\": \"ftp\" is not http or https: "
	  "write http/HOST or https/HOST" },
	{ 'H', "r:host", "invalid -H expression \"r:host\": binding \"host\" is not SCHEME/HOST" },
	{ 'H', "ghi/jkl:http/service1.example.com/foo;http/service2.example.com/foo",
	  "invalid -H expression \"ghi/jkl:http/service1.example.com/foo;http/service2.example.com/foo\": "
	  "two http bindings on one relay; one per scheme can work" },
	{ 'H', "r:http/h:53U", "invalid -H expression \"r:http/h:53U\": an HTTP forward cannot be "
	  "UDP" },
	{ 'H', "r:http/h//x", "invalid -H expression \"r:http/h//x\": path \"//x\" has an empty "
	  "segment" },
	/* found by fuzz_binding: each printed as a rule that read back differently */
	{ 'H', "p:http/h;https/h2/p[1:d", "invalid -H expression \"p:http/h;https/h2/p[1:d\": path "
	  "\"/p[1:d\" may hold only letters, digits and / - . _ ~ ! $ & ' ( ) * + , = @ %" },
	{ 'H', "r:http/h/a b", "invalid -H expression \"r:http/h/a b\": path \"/a b\" may hold only "
	  "letters, digits and / - . _ ~ ! $ & ' ( ) * + , = @ %" },
	{ 'L', "/Rbar6:[::1]:n/7run/app.sock:relay", "invalid -L expression \"/Rbar6:[::1]:n/7run/"
	  "app.sock:relay\": socket path \"/Rbar6:[::1]:n/7run/app.sock\" may not hold '[' or ']' "
	  "(brackets enclose a path in a rule)" },
	{ 'L', "[a;b:p]/pn:relay", "invalid -L expression \"[a;b:p]/pn:relay\": socket name "
	  "\"a;b:p\" may hold only letters, digits, '.', '_' and '-'; give another file as an "
	  "absolute path" },
	{ 'L', "[1]:hp", "invalid -L expression \"[1]:hp\": socket name \"1\" reads as a port; give "
	  "the file as an absolute path" },
};

static void test_invalid_expressions(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct azb_fwd *f = NULL;
		char err[512] = "";

		if (bnd_parse(bad[i].opt, bad[i].expr, &f, err, sizeof(err)) != -EINVAL)
			fail_msg("-%c %s was accepted", bad[i].opt, bad[i].expr);
		assert_null(f);
		assert_string_equal(err, bad[i].err);
	}
}

static void test_derived_names(void **state)
{
	struct azb_fwd *f, *g;
	char *a, *b, longexpr[400];

	(void)state;
	assert_int_equal(bnd_parse_local("127.0.0.9:16161/sql2:db", &f, NULL, 0), 0);
	a = bnd_derive_name(f);
	assert_string_equal(a, "l-127.0.0.9-16161-sql2-db");
	/* a different spelling of the same rule gets the same name */
	assert_int_equal(bnd_parse_local("localhost:16161:db", &g, NULL, 0), 0);
	b = bnd_derive_name(g);
	free(a);
	bnd_fwd_free(f);
	assert_int_equal(bnd_parse_local("16161:db", &f, NULL, 0), 0);
	a = bnd_derive_name(f);
	assert_string_equal(a, b);
	assert_string_equal(a, "l-localhost-16161-16161-db");
	free(a);
	free(b);
	bnd_fwd_free(f);
	bnd_fwd_free(g);
	/* long rules are cut and keep a hash of the whole */
	snprintf(longexpr, sizeof(longexpr), "%s", "r:");
	for (int i = 0; i < 20; i++)
		snprintf(longexpr + strlen(longexpr), sizeof(longexpr) - strlen(longexpr),
			 "%sn%d/host%d.example:%d", i ? ";" : "", i, i, 1000 + i);
	assert_int_equal(bnd_parse_remote(longexpr, &f, NULL, 0), 0);
	a = bnd_derive_name(f);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(bnd_check_forward_name(a, NULL, 0), 0);
	longexpr[strlen(longexpr) - 1] = '9';
	assert_int_equal(bnd_parse_remote(longexpr, &g, NULL, 0), 0);
	b = bnd_derive_name(g);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
	bnd_fwd_free(f);
	bnd_fwd_free(g);
}

static void test_checks(void **state)
{
	char err[300], name[300];

	(void)state;
	assert_int_equal(bnd_check_bind_address("127.0.0.2", err, sizeof(err)), 0);
	assert_int_equal(bnd_check_bind_address("::1", err, sizeof(err)), 0);
	assert_int_equal(bnd_check_bind_address("::", err, sizeof(err)), 0);
	assert_int_equal(bnd_check_bind_address("0.0.0.0", err, sizeof(err)), 0);
	assert_int_equal(bnd_check_bind_address("sql1.corp.example.com", err, sizeof(err)), 0);
	assert_int_equal(bnd_check_bind_address("8.8.8.8", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bind address 8.8.8.8 is not a local address");
	assert_int_equal(bnd_check_bind_address("bad host", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bind address \"bad host\" is not an address or host name");
	memset(name, 'p', 255);
	name[255] = '\0';
	assert_int_equal(bnd_check_port_name(name, err, sizeof(err)), 0);
	name[255] = 'p';
	name[256] = '\0';
	assert_int_equal(bnd_check_port_name(name, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "port name is 256 bytes long; at most 255 are allowed");
	assert_int_equal(bnd_check_port_name("a b", err, sizeof(err)), -EINVAL);
	assert_int_equal(bnd_check_forward_name("sql-1.db_x", err, sizeof(err)), 0);
	assert_int_equal(bnd_check_forward_name("no/slash", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "name \"no/slash\" may hold only letters, digits, '.', '_' and '-'");
	assert_int_equal(bnd_check_forward_name("", err, sizeof(err)), -EINVAL);
}

static void test_equal_and_dup(void **state)
{
	struct azb_fwd *f, *g, *h;

	(void)state;
	assert_int_equal(bnd_parse_local("127.0.0.8:1/a;127.0.0.9:2U/b:db", &f, NULL, 0), 0);
	g = bnd_fwd_dup(f);
	assert_true(bnd_fwd_equal(f, g));
	g->ep[1].no_auth = true;
	assert_false(bnd_fwd_equal(f, g));
	assert_int_equal(bnd_parse_local("127.0.0.8:1/a;127.0.0.9:2U/c:db", &h, NULL, 0), 0);
	assert_false(bnd_fwd_equal(f, h));
	assert_string_equal(bnd_kind_name(f->ep[1].kind), "udp");
	bnd_fwd_free(f);
	bnd_fwd_free(g);
	bnd_fwd_free(h);
	bnd_fwd_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_expressions),
		cmocka_unit_test(test_invalid_expressions),
		cmocka_unit_test(test_derived_names),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_equal_and_dup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
