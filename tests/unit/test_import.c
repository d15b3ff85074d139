/* azbridgectl import: the YAML tree (positions, caps, refusals), the
 * original's scalars, its layering rules, and the libconfig text written. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../ctl/import_emit.c"
#include "../../ctl/import_map.c"
#include "../../ctl/import_yaml.c"

static struct imp_node *parse_ok(const char *text)
{
	struct imp_node *n = NULL;
	char err[512] = "";

	assert_int_equal(imp_yaml_parse("t.yml", text, strlen(text), &n, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	return n;
}

static void parse_fails(const char *text, const char *want)
{
	struct imp_node *n = NULL;
	char err[512] = "";

	assert_int_equal(imp_yaml_parse("t.yml", text, strlen(text), &n, err, sizeof(err)),
			 -EINVAL);
	assert_null(n);
	assert_string_equal(err, want);
}

static void test_tree_positions(void **state)
{
	struct imp_node *n = parse_ok("A: 1\nL:\n  - { B: 'x', C: }\n");

	(void)state;
	assert_int_equal(n->kind, IMP_MAP);
	assert_int_equal(n->n, 2);
	assert_string_equal(n->kids[0]->key, "A");
	assert_string_equal(n->kids[0]->text, "1");
	assert_true(n->kids[0]->plain);
	assert_int_equal(n->kids[1]->kind, IMP_SEQ);
	assert_int_equal(n->kids[1]->key_line, 2);
	const struct imp_node *b = n->kids[1]->kids[0]->kids[0];
	assert_string_equal(b->key, "B");
	assert_false(b->plain);
	assert_int_equal(b->key_line, 3);
	assert_int_equal(b->key_col, 7);
	assert_true(imp_is_null(n->kids[1]->kids[0]->kids[1]));
	imp_node_free(n);
}

static void test_null_words(void **state)
{
	struct imp_node *n = parse_ok("A: ~\nB: null\nC: 'null'\nD: ''\nE: x\n");

	(void)state;
	assert_true(imp_is_null(n->kids[0]));
	assert_true(imp_is_null(n->kids[1]));
	assert_false(imp_is_null(n->kids[2]));   /* quoted: a word */
	assert_true(imp_is_null(n->kids[3]));    /* empty: "not set" in the original */
	assert_false(imp_is_null(n->kids[4]));
	imp_node_free(n);
}

static void test_empty_stream(void **state)
{
	struct imp_node *n = (struct imp_node *)1;
	char err[64];

	(void)state;
	assert_int_equal(imp_yaml_parse("t.yml", "# nothing\n", 10, &n, err, sizeof(err)), 0);
	assert_null(n);
}

static void test_refusals(void **state)
{
	(void)state;
	parse_fails("A: &x 1\nB: *x\n", "t.yml:2:4: aliases (*x) are not supported; write the "
		    "value out");
	parse_fails("A: 1\nA: 2\n", "t.yml:2:1: A is given twice (first at line 1)");
	parse_fails("A: 1\n---\nB: 2\n", "t.yml:2:1: a second document; the original reads "
		    "only one");
	parse_fails("A: [1\n", "t.yml:2:1: did not find expected ',' or ']' while parsing a flow "
		    "sequence");
	parse_fails("? [a]\n: 1\n", "t.yml:1:3: a key must be a plain word, not a list or alias");
	parse_fails("A: \"a\\0b\"\n", "t.yml:1:4: a value holds a NUL character");
}

static void test_depth_cap(void **state)
{
	char deep[128], ok[128];

	(void)state;
	snprintf(ok, sizeof(ok), "A: %.*s%.*s", IMP_MAX_DEPTH, "[[[[[[[[[[[[[[[[[[[[",
		 IMP_MAX_DEPTH, "]]]]]]]]]]]]]]]]]]]]");
	imp_node_free(parse_ok(ok));
	snprintf(deep, sizeof(deep), "A: %.*s%.*s", IMP_MAX_DEPTH + 1, "[[[[[[[[[[[[[[[[[[[[",
		 IMP_MAX_DEPTH + 1, "]]]]]]]]]]]]]]]]]]]]");
	parse_fails(deep, "t.yml:1:20: nested deeper than 16 levels");
}

static void test_node_cap(void **state)
{
	size_t items = IMP_MAX_NODES, len = 0;
	char *text = xmalloc(items * 3 + 16), err[256];
	struct imp_node *n = NULL;

	(void)state;
	len += (size_t)sprintf(text, "[");
	for (size_t i = 0; i < items; i++)
		len += (size_t)sprintf(text + len, "1,");
	text[len - 1] = ']';
	assert_int_equal(imp_yaml_parse("t.yml", text, len, &n, err, sizeof(err)), -EINVAL);
	assert_null(n);
	assert_non_null(strstr(err, "more than 100000 values"));
	free(text);
}

static void test_scalars(void **state)
{
	bool b;
	long l;

	(void)state;
	assert_int_equal(imp_parse_bool("Yes", &b), 0);
	assert_true(b);
	assert_int_equal(imp_parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(imp_parse_bool("maybe", &b), -EINVAL);
	assert_int_equal(imp_parse_long("-53", -65535, 65535, &l), 0);
	assert_int_equal(l, -53);
	assert_int_equal(imp_parse_long("14x3", 0, 99999, &l), -EINVAL);
	assert_int_equal(imp_parse_long(" 1", 0, 9, &l), -EINVAL);
	assert_int_equal(imp_parse_long("", 0, 9, &l), -EINVAL);
	assert_int_equal(imp_parse_long("99999999999999999999", 0, 9, &l), -EINVAL);
}

static void test_quote(void **state)
{
	struct sbuf b;

	(void)state;
	sbuf_init(&b);
	imp_quote(&b, "a\"b\\c\nd\x7f" "é");
	assert_string_equal(b.s, "\"a\\\"b\\\\c\\x0ad\\x7f" "é\"");
	sbuf_free(&b);
}

/* ---- layers ---------------------------------------------------------- */

struct layers {
	struct imp_node *tree[3];
	struct imp_conf merged;
	size_t n;
};

static void layer(struct layers *l, const char *text)
{
	struct imp_msgs errs = { 0 };
	struct imp_conf c;

	l->tree[l->n] = parse_ok(text);
	assert_int_equal(imp_read_layer("t.yml", l->tree[l->n], &c, &errs), 0);
	assert_int_equal(errs.n, 0);
	imp_merge(&l->merged, &c);
	imp_conf_free(&c);
	l->n++;
}

static void layers_free(struct layers *l)
{
	imp_conf_free(&l->merged);
	for (size_t i = 0; i < l->n; i++)
		imp_node_free(l->tree[i]);
}

static const char *g(const struct layers *l, enum imp_gkey k)
{
	return l->merged.g[k].n ? l->merged.g[k].n->text : NULL;
}

static void test_connection_string_replaces_builder(void **state)
{
	struct layers l = { 0 };

	(void)state;
	layer(&l, "AzureRelayEndpoint: sb://a/\nAzureRelaySharedAccessKey: k1\nLogLevel: info\n");
	layer(&l, "AzureRelaySharedAccessKeyName: n2\nAzureRelayConnectionString: Endpoint=sb://b/\n");
	assert_string_equal(g(&l, IMP_G_CS), "Endpoint=sb://b/");
	assert_null(g(&l, IMP_G_ENDPOINT));       /* replaced with the builder */
	assert_null(g(&l, IMP_G_KEY));
	assert_string_equal(g(&l, IMP_G_KEYNAME), "n2");   /* the same layer's key: on top */
	assert_string_equal(g(&l, IMP_G_LOGLEVEL), "info");
	layer(&l, "AzureRelayEndpoint: sb://c/\n");
	assert_string_equal(g(&l, IMP_G_ENDPOINT), "sb://c/");
	assert_string_equal(g(&l, IMP_G_CS), "Endpoint=sb://b/");
	layers_free(&l);
}

static void test_keep_alive_30_does_not_override(void **state)
{
	struct layers l = { 0 };

	(void)state;
	layer(&l, "KeepAliveInterval: 60\n");
	layer(&l, "KeepAliveInterval: 30\nLogLevel:\n");
	assert_string_equal(g(&l, IMP_G_KEEPALIVE), "60");
	layer(&l, "KeepAliveInterval: 31\n");
	assert_string_equal(g(&l, IMP_G_KEEPALIVE), "31");
	layers_free(&l);
}

static void test_forwards_concatenate_and_clear(void **state)
{
	struct layers l = { 0 };

	(void)state;
	layer(&l, "LocalForward: [ { RelayName: a, BindPort: 1 } ]\n"
		  "RemoteForward: [ { RelayName: b, HostPort: 2 } ]\n");
	layer(&l, "LocalForward: [ { RelayName: c, BindPort: 3 } ]\n");
	assert_int_equal(l.merged.nfwd, 3);
	layer(&l, "ClearAllForwardings: yes\nLocalForward: [ { RelayName: d, BindPort: 4 } ]\n");
	assert_int_equal(l.merged.nfwd, 1);
	assert_string_equal(l.merged.fwd[0].relay.n->text, "d");
	layers_free(&l);
}

static void test_shorthand_order(void **state)
{
	struct layers l = { 0 };
	const struct imp_fwd *f;

	(void)state;
	layer(&l, "LocalForward:\n"
		  "  - { RelayName: a, Bindings: [ { BindPort: 1 }, { BindPort: 2 } ], BindPort: 9 }\n"
		  "  - { RelayName: b, BindPort: 9, Bindings: [ { BindPort: 3 } ] }\n");
	f = &l.merged.fwd[0];
	assert_int_equal(f->nb, 2);
	assert_string_equal(f->b[0].v[IMP_B_BIND_PORT].n->text, "9");
	assert_string_equal(f->b[1].v[IMP_B_BIND_PORT].n->text, "2");
	f = &l.merged.fwd[1];
	assert_int_equal(f->nb, 1);
	assert_string_equal(f->b[0].v[IMP_B_BIND_PORT].n->text, "3");
	layers_free(&l);
}

static void test_layer_errors(void **state)
{
	struct imp_node *t = parse_ok("Addresses: 1\nLocalForward:\n  - { relayName: a, Host: h, "
				      "BindPort: x }\n");
	struct imp_msgs errs = { 0 };
	struct imp_conf c;

	(void)state;
	assert_int_equal(imp_read_layer("t.yml", t, &c, &errs), -EINVAL);
	assert_int_equal(errs.n, 5);
	assert_string_equal(errs.v[0].text, "t.yml:1:1: unknown key Addresses, which the original "
			    "refuses too");
	assert_string_equal(errs.v[1].text, "t.yml:3:7: unknown key relayName in a LocalForward, "
			    "which the original refuses too; keys are case-sensitive: RelayName");
	assert_string_equal(errs.v[2].text, "t.yml:3:21: unknown key Host in a LocalForward, which "
			    "the original refuses too; Host is a key of RemoteForward");
	assert_string_equal(errs.v[3].text, "t.yml:3:30: BindPort must be a whole number, not "
			    "\"x\"");
	assert_string_equal(errs.v[4].text, "t.yml:3:5: a LocalForward without RelayName");
	imp_msgs_sort(&errs, NULL, 0);
	assert_string_equal(errs.v[1].text, "t.yml:3:5: a LocalForward without RelayName");
	imp_msgs_free(&errs);
	imp_conf_free(&c);
	imp_node_free(t);
}

/* ---- the drop-in ------------------------------------------------------- */

static char *emit(const char *text, bool redact, bool *secret, struct imp_msgs *notes)
{
	struct layers l = { 0 };
	struct imp_msgs errs = { 0 };
	struct imp_out out;
	const char *files[] = { "t.yml" };

	layer(&l, text);
	assert_int_equal(imp_emit(&l.merged, files, 1, redact, &out, notes, &errs), 0);
	assert_int_equal(errs.n, 0);
	layers_free(&l);
	*secret = out.secret;
	return out.text;
}

static void test_emit_secret_redacted(void **state)
{
	struct imp_msgs notes = { 0 };
	bool secret;
	char *t = emit("AzureRelaySharedAccessKey: c2VjcmV0\nAzureRelayEndpoint: sb://a/\n", true,
		       &secret, &notes);

	(void)state;
	assert_true(secret);
	assert_null(strstr(t, "c2VjcmV0"));
	assert_non_null(strstr(t, "shared_access_key = \"<hidden"));
	assert_non_null(strstr(t, "endpoint = \"sb://a/\";\n"));
	free(t);
	t = emit("AzureRelayConnectionString: Endpoint=sb://a/\n", true, &secret, &notes);
	assert_false(secret);    /* no key in it: Entra ID */
	assert_non_null(strstr(t, "connection_string = \"Endpoint=sb://a/\";\n"));
	free(t);
	assert_int_equal(notes.n, 0);
}

static void test_emit_names_unique(void **state)
{
	struct imp_msgs notes = { 0 };
	bool secret;
	char *t = emit("LocalForward: [ { RelayName: a/b, BindAddress: 127.0.0.1, BindPort: 1 },\n"
		       "  { RelayName: a/b, BindAddress: 127.0.0.1, BindPort: 2 } ]\n"
		       "RemoteForward: [ { RelayName: a/b, Host: h, HostPort: -3 } ]\n", false,
		       &secret, &notes);

	(void)state;
	assert_non_null(strstr(t, "name = \"a-b\";\n    relay = \"a/b\";"));
	assert_non_null(strstr(t, "name = \"a-b-2\";"));
	assert_non_null(strstr(t, "name = \"a-b-3\";"));
	assert_non_null(strstr(t, "{ host = \"h\"; host_port = 3; udp = true; }"));
	assert_int_equal(notes.n, 0);
	free(t);
}

static void test_emit_notes(void **state)
{
	struct imp_msgs notes = { 0 };
	bool secret;
	char *t = emit("KeepAliveInterval: 7200\nGatewayPorts: yes\n"
		       "LocalForward: [ { RelayName: a, BindPort: 1 } ]\n", false, &secret, &notes);

	(void)state;
	assert_null(strstr(t, "keep_alive_interval"));
	assert_int_equal(notes.n, 3);
	assert_string_equal(notes.v[0].text, "t.yml:1:1: KeepAliveInterval: not carried over: "
			    "azbridged's keep_alive_interval takes 1 to 3600 seconds, not 7200");
	assert_non_null(strstr(notes.v[1].text, "t.yml:2:1: GatewayPorts: not carried over"));
	assert_non_null(strstr(notes.v[2].text, "t.yml:3:33: BindAddress: missing"));
	imp_msgs_free(&notes);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_positions),
		cmocka_unit_test(test_null_words),
		cmocka_unit_test(test_empty_stream),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_node_cap),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_connection_string_replaces_builder),
		cmocka_unit_test(test_keep_alive_30_does_not_override),
		cmocka_unit_test(test_forwards_concatenate_and_clear),
		cmocka_unit_test(test_shorthand_order),
		cmocka_unit_test(test_layer_errors),
		cmocka_unit_test(test_emit_secret_redacted),
		cmocka_unit_test(test_emit_names_unique),
		cmocka_unit_test(test_emit_notes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
