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

static void test_file_output_and_filter(void **state)
{
	char path[] = "/tmp/azb-logtest-XXXXXX", buf[1024];
	struct log_ctx c = { "sql1", "db", NULL, "127.0.0.1:5" };
	int fd = mkstemp(path);
	FILE *f;
	size_t n;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_init("azbtest", LOG_TARGET_FILE, path), 0);
	log_set_level(LOG_INFO);
	log_info("kept %d", 1);
	log_debug("dropped");
	log_ctx(LOG_WARNING, &c, "with fields");
	log_set_level(-1);
	log_error("dropped too");
	log_close();
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	assert_non_null(strstr(buf, "azbtest: info: kept 1\n"));
	assert_non_null(strstr(buf, "azbtest: warning: with fields (binding=sql1 relay=db "
				    "peer=127.0.0.1:5)\n"));
	assert_null(strstr(buf, "dropped"));
	/* file lines carry a UTC timestamp */
	assert_int_equal(buf[4], '-');
	assert_int_equal(buf[23], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_words),
		cmocka_unit_test(test_file_output_and_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
