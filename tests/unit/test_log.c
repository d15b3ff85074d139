/* Logging: level words, filtering, and the text format with event fields. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static void test_level_words(void **state)
{
	const struct { const char *w; int prio; } ok[] = {
		{ "none", -1 }, { "QUIET", -1 }, { "fatal", LOG_CRIT }, { "Error", LOG_ERR },
		{ "warning", LOG_WARNING }, { "notice", LOG_NOTICE }, { "INFO", LOG_INFO },
		{ "verbose", LOG_DEBUG }, { "debug", LOG_DEBUG }, { "debug3", LOG_DEBUG },
	};
	int p;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(log_level_parse(ok[i].w, &p), 0);
		assert_int_equal(p, ok[i].prio);
	}
	assert_int_equal(log_level_parse("loud", &p), -EINVAL);
	assert_string_equal(log_level_name(LOG_WARNING), "warning");
	assert_string_equal(log_level_name(-1), "none");
}

/* Log to a fresh file at LOG_INFO and return what fn wrote there. */
static size_t file_log(void (*fn)(void), char *buf, size_t len)
{
	char path[] = "/tmp/azb-logtest-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	size_t n;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_init("azbtest", LOG_TARGET_FILE, path), 0);
	log_set_level(LOG_INFO);
	fn();
	log_close();
	f = fopen(path, "r");
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	return n;
}

static void log_filtered(void)
{
	struct log_ctx c = { "sql1", "db", NULL, "127.0.0.1:5" };

	log_info("kept %d", 1);
	log_debug("dropped");
	log_ctx(LOG_WARNING, &c, "with fields");
	log_set_level(-1);
	log_error("dropped too");
}

static void test_file_output_and_filter(void **state)
{
	char buf[1024];

	(void)state;
	file_log(log_filtered, buf, sizeof(buf));
	assert_non_null(strstr(buf, "azbtest: info: kept 1\n"));
	assert_non_null(strstr(buf, "azbtest: warning: with fields (binding=sql1 relay=db "
				    "peer=127.0.0.1:5)\n"));
	assert_null(strstr(buf, "dropped"));
	/* file lines carry a UTC timestamp */
	assert_int_equal(buf[4], '-');
	assert_int_equal(buf[23], 'Z');
}

static void expect_redacted(const char *in, const char *want)
{
	char *out = log_redact(in);

	assert_string_equal(out, want);
	free(out);
}

static void test_redact(void **state)
{
	(void)state;
	/* connection-string fields end at ';' or a quote, not at a blank */
	expect_redacted("connection string \"Endpoint=sb://a/;SharedAccessKeyName=r;"
			"SharedAccessKey=c2VjcmV0+/==;EntityPath=x\" is bad",
			"connection string \"Endpoint=sb://a/;SharedAccessKeyName=r;"
			"SharedAccessKey=REDACTED;EntityPath=x\" is bad");
	expect_redacted("sharedaccesskey=abc def;x", "sharedaccesskey=REDACTED;x");
	/* a quote ends a setting's quoted value only: a key's tail never shows */
	expect_redacted("SharedAccessKey='ab'cd;x", "SharedAccessKey=REDACTED;x");
	expect_redacted("endpoint \"sb://h/;SharedAccessKey=k\" is bad",
			"endpoint \"sb://h/;SharedAccessKey=REDACTED");
	expect_redacted("sig='a'b&se=1", "sig=REDACTED&se=1");
	expect_redacted("SharedAccessSignature=SharedAccessSignature sr=a&sig=b;Endpoint=e",
			"SharedAccessSignature=REDACTED;Endpoint=e");
	/* a token's signature, and a whole token */
	expect_redacted("token sr=http%3a%2f%2fh&sig=AbC%2B%3D&se=1&skn=r rejected",
			"token sr=http%3a%2f%2fh&sig=REDACTED&se=1&skn=r rejected");
	expect_redacted("header: SharedAccessSignature sr=a&sig=b&se=1 end",
			"header: SharedAccessSignature REDACTED end");
	/* settings and options that carry a secret, quoted or not */
	expect_redacted("-o shared_access_key:c2VjcmV0 given", "-o shared_access_key:REDACTED given");
	expect_redacted("shared_access_key = \"a b\\\"c\";", "shared_access_key = \"REDACTED\";");
	expect_redacted("--shared-access-key=abc", "--shared-access-key=REDACTED");
	expect_redacted("--signature=abc", "--signature=REDACTED");
	expect_redacted("AzureRelayConnectionString: x;y", "AzureRelayConnectionString: REDACTED");
	expect_redacted("{\"shared_access_signature\": \"t\"}",
			"{\"shared_access_signature\": \"REDACTED\"}");
	/* names that only start like one, and a name without a value, stay */
	expect_redacted("shared_access_key_name = \"rule\"; shared_access_key_file: /k",
			"shared_access_key_name = \"rule\"; shared_access_key_file: /k");
	expect_redacted("shared_access_key is not valid base64",
			"shared_access_key is not valid base64");
	expect_redacted("SharedAccessKeyName=rule", "SharedAccessKeyName=rule");
	/* redacting twice changes nothing */
	expect_redacted("SharedAccessKey=REDACTED; sig=REDACTED", "SharedAccessKey=REDACTED; sig=REDACTED");
	expect_redacted("", "");
}

static void expect_escaped(const char *in, const char *want)
{
	struct sbuf b;

	sbuf_init(&b);
	log_escape(&b, in);
	assert_string_equal(b.s, want);
	sbuf_free(&b);
}

static void test_escape(void **state)
{
	(void)state;
	expect_escaped("port \x1b[31mred\r\n\a", "port \\x1b[31mred\\x0d\\x0a\\x07");
	expect_escaped("tab\tdel\x7f back\\slash", "tab\\x09del\\x7f back\\\\slash");
	/* UTF-8 stays, C1 controls (CSI as U+009B) and broken sequences do not */
	expect_escaped("caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac");
	expect_escaped("\xc2\x9b" "2J", "\\xc2\\x9b2J");
	expect_escaped("\xff\xc3 \xe2\x82", "\\xff\\xc3 \\xe2\\x82");
	expect_escaped("\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80", "\\xc0\\xaf \\xed\\xa0\\x80 "
		       "\\xf4\\x90\\x80\\x80");
}

static void log_hostile(void)
{
	struct log_ctx c = { NULL, NULL, NULL, "peer\x1b]0;title\a" };

	log_ctx(LOG_ERR, &c, "relay said %s", "no\r\nazbtest: error: forged SharedAccessKey=S3cr3t");
}

/* The log itself redacts and escapes, whatever a caller hands it. */
static void test_file_is_redacted_and_escaped(void **state)
{
	char buf[1024];
	size_t n;

	(void)state;
	n = file_log(log_hostile, buf, sizeof(buf));
	assert_null(strstr(buf, "S3cr3t"));
	assert_non_null(strstr(buf, "relay said no\\x0d\\x0aazbtest: error: forged "
				    "SharedAccessKey=REDACTED (peer=peer\\x1b]0;title\\x07)\n"));
	assert_int_equal(strchr(buf, '\n') - buf, (long)n - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_words),
		cmocka_unit_test(test_file_output_and_filter),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_file_is_redacted_and_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
