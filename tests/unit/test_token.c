/* Tokens made from a key: reused by the connections that follow, made anew
 * when the key, its name, the relay or the lifetime differ, and always
 * valid for the key they were asked with. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sas.h"
#include "../../daemon/token.h"

static char *get(const char *host, const char *relay, const char *kn, const char *key,
		 int lifetime, int64_t *renew_in_us)
{
	struct azb_cred c = { .key_name = (char *)kn, .key = (char *)key };
	struct fwd_relay r = { .host = (char *)host, .cred = &c, .token_lifetime = lifetime };
	struct token t;
	struct token_wait *w;
	char why[128];

	assert_int_equal(token_get(&r, relay, &t, NULL, NULL, &w, why, sizeof(why)), 1);
	assert_null(w);
	if (renew_in_us)
		*renew_in_us = t.renew_in_us;
	return t.text;
}

/* Valid for key over the relay's resource, expiring within a lifetime. */
static void check_signed(const char *tok, const char *host, const char *relay, const char *key,
			 int lifetime)
{
	char *res = sas_resource(host, relay);
	struct sas_token t;
	time_t now = time(NULL);

	assert_int_equal(sas_parse(tok, &t, NULL, 0), 0);
	assert_int_equal(sas_verify(&t, key, now), 0);
	assert_string_equal(t.resource, res);
	assert_true(t.expiry > now + lifetime / 2 && t.expiry <= now + lifetime);
	sas_token_clear(&t);
	free(res);
}

static void test_senders_in_a_row_share_one(void **state)
{
	int64_t renew;
	char *first = get("ns.test", "db", "send", "k1", 3600, &renew), *again;

	(void)state;
	check_signed(first, "ns.test", "db", "k1", 3600);
	assert_true(renew > 2700LL * 1000000 && renew <= 2880LL * 1000000);
	for (int i = 0; i < 100; i++) {
		again = get("ns.test", "db", "send", "k1", 3600, NULL);
		assert_string_equal(again, first);
		free(again);
	}
	/* A second later a token signed anew would name a later expiry. */
	nanosleep(&(struct timespec){ 1, 100 * 1000 * 1000 }, NULL);
	again = get("ns.test", "db", "send", "k1", 3600, NULL);
	assert_string_equal(again, first);
	free(again);
	free(first);
}

static void test_anything_the_token_depends_on_signs_anew(void **state)
{
	char *base = get("ns.test", "web", "send", "k1", 3600, NULL);
	char *other[] = {
		get("ns.test", "web", "send", "k2", 3600, NULL),   /* a reload's new key */
		get("ns.test", "web", "other", "k1", 3600, NULL),  /* another rule */
		get("ns.test", "web2", "send", "k1", 3600, NULL),  /* another relay */
		get("ns2.test", "web", "send", "k1", 3600, NULL),  /* another namespace */
	};

	(void)state;
	for (size_t i = 0; i < 4; i++)
		assert_string_not_equal(other[i], base);
	check_signed(other[0], "ns.test", "web", "k2", 3600);
	check_signed(other[1], "ns.test", "web", "k1", 3600);
	check_signed(other[2], "ns.test", "web2", "k1", 3600);
	check_signed(other[3], "ns2.test", "web", "k1", 3600);
	/* Back to the old key: the entry made with it went with the change. */
	for (size_t i = 0; i < 4; i++)
		free(other[i]);
	other[0] = get("ns.test", "web", "send", "k1", 3600, NULL);
	check_signed(other[0], "ns.test", "web", "k1", 3600);
	free(other[0]);
	free(base);
}

/* More relays than the cache holds: every token is still right. */
static void test_many_relays(void **state)
{
	(void)state;
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 80; i++) {
			char relay[16], *tok;

			snprintf(relay, sizeof(relay), "hc%d", i);
			tok = get("ns.test", relay, "send", "k1", 600, NULL);
			check_signed(tok, "ns.test", relay, "k1", 600);
			free(tok);
		}
}

/* A short lifetime: a token with half its life gone is not handed out;
 * tokens are still shared within the second they were made in. */
static void test_short_lifetime(void **state)
{
	const struct timespec pause = { 0, 50 * 1000 * 1000 };
	time_t start = time(NULL), before;
	int made = 0;
	char last[512] = "";

	(void)state;
	while ((before = time(NULL)) < start + 4) {
		char *tok = get("ns.test", "short", "send", "k1", 2, NULL);
		struct sas_token t;

		assert_int_equal(sas_parse(tok, &t, NULL, 0), 0);
		assert_true(t.expiry >= before + 2);
		made += strcmp(tok, last) != 0;
		snprintf(last, sizeof(last), "%s", tok);
		sas_token_clear(&t);
		free(tok);
		nanosleep(&pause, NULL);
	}
	assert_true(made >= 3 && made <= 6);
}

static int cleanup(void **state)
{
	(void)state;
	token_flush();
	sas_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_senders_in_a_row_share_one),
		cmocka_unit_test(test_anything_the_token_depends_on_signs_anew),
		cmocka_unit_test(test_many_relays),
		cmocka_unit_test(test_short_lifetime),
	};

	return cmocka_run_group_tests(tests, NULL, cleanup);
}
