/* The supervisor's keyed diff (sup_plan) as pure logic: forwards matched by
 * name; unchanged ones kept, changed or failed ones replaced, removed ones
 * first. No loop, no sockets: the runs are made and never started. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"
#include "../../daemon/fwd.h"
#include "../../daemon/supervisor.h"

#define NONE SIZE_MAX

struct named {
	const char *name, *expr;
};

static struct azb_config *config(const struct named *fwds, size_t n, const char *key)
{
	struct azb_config *c = cfg_new();
	char err[256];

	assert_int_equal(cfg_set_global(c, "endpoint", "sb://relay.example/", err, sizeof(err)), 0);
	assert_int_equal(cfg_set_global(c, "shared_access_key_name", "k", err, sizeof(err)), 0);
	assert_int_equal(cfg_set_global(c, "shared_access_key", key, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		struct azb_fwd *f;

		assert_int_equal(bnd_parse('L', fwds[i].expr, &f, err, sizeof(err)), 0);
		azb_set_str(&f->name, fwds[i].name);
		cfg_put_fwd(c, f);
	}
	return c;
}

static void released(struct fwd_run *fr)
{
	fwd_free(fr);
}

/* The runs a config would have, none of them started. */
static struct fwd_run **runs_of(const struct azb_config *c)
{
	struct fwd_run **r = xcalloc(c->n_fwd + 1, sizeof(*r));

	for (size_t i = 0; i < c->n_fwd; i++)
		r[i] = fwd_new(c, c->fwd[i], released);
	return r;
}

static void runs_free(struct fwd_run **r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fwd_put(r[i]);
	free(r);
}

static void assert_step(const struct sup_step *s, enum sup_action a, size_t run, size_t fwd)
{
	assert_int_equal(s->action, a);
	assert_int_equal(s->run, run);
	assert_int_equal(s->fwd, fwd);
}

static const struct named abc[] = {
	{ "a", "127.0.0.1:1000:r1" }, { "b", "127.0.0.1:1001:r2" }, { "c", "127.0.0.1:1002:r3" },
};

static void test_matched_by_name(void **state)
{
	static const struct named next[] = {
		{ "d", "127.0.0.1:1003:r4" }, { "b", "127.0.0.1:1001:r9" }, { "a", "127.0.0.1:1000:r1" },
	};
	struct azb_config *c0 = config(abc, 3, "a2V5"), *c1 = config(next, 3, "a2V5");
	struct fwd_run **old = runs_of(c0);
	struct sup_step s[6];

	(void)state;
	assert_int_equal(sup_plan(old, 3, c1, s), 4);
	assert_step(&s[0], SUP_REMOVE, 2, NONE);    /* c, before anything starts */
	assert_step(&s[1], SUP_ADD, NONE, 0);       /* d */
	assert_step(&s[2], SUP_REPLACE, 1, 1);      /* b, now on relay r9 */
	assert_step(&s[3], SUP_KEEP, 0, 2);         /* a, where it was */
	runs_free(old, 3);
	cfg_free(c0);
	cfg_free(c1);
}

static void test_failed_run_is_retried(void **state)
{
	struct azb_config *c = config(abc, 3, "a2V5");
	struct fwd_run **old = runs_of(c);
	struct sup_step s[6];

	(void)state;
	old[1]->state = FWD_FAILED;
	assert_int_equal(sup_plan(old, 3, c, s), 3);
	assert_step(&s[0], SUP_KEEP, 0, 0);
	assert_step(&s[1], SUP_REPLACE, 1, 1);
	assert_step(&s[2], SUP_KEEP, 2, 2);
	runs_free(old, 3);
	cfg_free(c);
}

/* What a running forward was built with restarts it; what applies to new
 * connections only (connect_timeout, drain_timeout) does not. */
static void test_settings_that_restart(void **state)
{
	struct azb_config *c0 = config(abc, 1, "a2V5"), *c1;
	struct fwd_run **old = runs_of(c0);
	static const struct { const char *key, *value; enum sup_action a; } cases[] = {
		{ "keep_alive_interval", "7", SUP_REPLACE }, { "token_lifetime", "600", SUP_REPLACE },
		{ "bind_address", "127.0.0.1", SUP_REPLACE }, { "connect_timeout", "3", SUP_KEEP },
		{ "drain_timeout", "1", SUP_KEEP },
	};
	struct sup_step s[2];
	char err[256];

	(void)state;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(cases); i++) {
		c1 = config(abc, 1, "a2V5");
		assert_int_equal(cfg_set_global(c1, cases[i].key, cases[i].value, err, sizeof(err)), 0);
		assert_int_equal(sup_plan(old, 1, c1, s), 1);
		assert_step(&s[0], cases[i].a, 0, 0);
		cfg_free(c1);
	}
	c1 = config(abc, 1, "b3RoZXI=");   /* another key */
	assert_int_equal(sup_plan(old, 1, c1, s), 1);
	assert_step(&s[0], SUP_REPLACE, 0, 0);
	cfg_free(c1);
	runs_free(old, 1);
	cfg_free(c0);
}

/* Where a forward is written does not make it another one. */
static void test_origin_does_not_matter(void **state)
{
	struct azb_config *c0 = config(abc, 2, "a2V5"), *c1 = config(abc, 2, "a2V5");
	struct fwd_run **old = runs_of(c0);
	struct sup_step s[4];

	(void)state;
	azb_set_str(&c1->fwd[0]->origin_file, "/etc/azbridge.conf.d/10-a.conf");
	c1->fwd[0]->origin_line = 7;
	assert_int_equal(sup_plan(old, 2, c1, s), 2);
	assert_step(&s[0], SUP_KEEP, 0, 0);
	assert_step(&s[1], SUP_KEEP, 1, 1);
	runs_free(old, 2);
	cfg_free(c0);
	cfg_free(c1);
}

static void test_from_nothing_and_to_nothing(void **state)
{
	struct azb_config *c = config(abc, 3, "a2V5"), *none = config(abc, 0, "a2V5");
	struct fwd_run **old = runs_of(c);
	struct sup_step s[6];

	(void)state;
	assert_int_equal(sup_plan(NULL, 0, c, s), 3);
	for (size_t i = 0; i < 3; i++)
		assert_step(&s[i], SUP_ADD, NONE, i);
	assert_int_equal(sup_plan(old, 3, none, s), 3);
	for (size_t i = 0; i < 3; i++)
		assert_step(&s[i], SUP_REMOVE, i, NONE);
	assert_int_equal(sup_plan(NULL, 0, none, s), 0);
	runs_free(old, 3);
	cfg_free(c);
	cfg_free(none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matched_by_name),
		cmocka_unit_test(test_failed_run_is_retried),
		cmocka_unit_test(test_settings_that_restart),
		cmocka_unit_test(test_origin_does_not_matter),
		cmocka_unit_test(test_from_nothing_and_to_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
