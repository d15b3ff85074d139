/* The order reach tries a name's addresses in: the one that worked last
 * first, then the families alternating from getaddrinfo's first; and the
 * resolver's cache remembering that one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "../../daemon/reach.h"

/* A list from "6" and "4" letters: the families in getaddrinfo's order. */
static void make(struct resolve_list *l, const char *families, int preferred)
{
	memset(l, 0, sizeof(*l));
	l->n = (int)strlen(families);
	l->preferred = preferred;
	for (int i = 0; i < l->n; i++)
		l->a[i].addr.ss_family = families[i] == '6' ? AF_INET6 : AF_INET;
}

static void expect(const char *families, int preferred, const int *want, int n)
{
	struct resolve_list l;
	int order[RESOLVE_MAX];

	make(&l, families, preferred);
	assert_int_equal(reach_order(&l, order), n);
	for (int i = 0; i < n; i++)
		assert_int_equal(order[i], want[i]);
}

static void test_one(void **state)
{
	(void)state;
	expect("4", -1, (int[]){ 0 }, 1);
	expect("6", 0, (int[]){ 0 }, 1);
}

static void test_interleaved_from_the_first_family(void **state)
{
	(void)state;
	expect("6644", -1, (int[]){ 0, 2, 1, 3 }, 4);
	expect("4466", -1, (int[]){ 0, 2, 1, 3 }, 4);
	expect("66664", -1, (int[]){ 0, 4, 1, 2, 3 }, 5);
	expect("4646", -1, (int[]){ 0, 1, 2, 3 }, 4);
}

static void test_one_family_keeps_its_order(void **state)
{
	(void)state;
	expect("444", -1, (int[]){ 0, 1, 2 }, 3);
}

static void test_the_last_good_first(void **state)
{
	(void)state;
	expect("6644", 3, (int[]){ 3, 0, 2, 1 }, 4);
	expect("6644", 1, (int[]){ 1, 0, 2, 3 }, 4);
	expect("464", 0, (int[]){ 0, 1, 2 }, 3);
	/* With the first one the last good, the next family leads the rest. */
	expect("644", 0, (int[]){ 0, 1, 2 }, 3);
}

static void test_preferred_out_of_range_is_ignored(void **state)
{
	(void)state;
	expect("64", 7, (int[]){ 0, 1 }, 2);
}

static void test_full_list(void **state)
{
	struct resolve_list l;
	int order[RESOLVE_MAX], seen[RESOLVE_MAX] = { 0 };

	(void)state;
	make(&l, "6666666644444444", 5);
	assert_int_equal(reach_order(&l, order), RESOLVE_MAX);
	assert_int_equal(order[0], 5);
	for (int i = 0; i < RESOLVE_MAX; i++)
		seen[order[i]]++;
	for (int i = 0; i < RESOLVE_MAX; i++)
		assert_int_equal(seen[i], 1);
}

/* "localhost" from the machine's hosts file, cached by resolve_now(). */
static void test_cache_remembers_the_last_good(void **state)
{
	struct resolve_list l;
	struct resolve_req *req;
	struct sockaddr_in other = { .sin_family = AF_INET };

	(void)state;
	resolve_flush();
	assert_int_equal(resolve_now("localhost", &l.a[0]), 0);
	assert_int_equal(resolve_host_all("localhost", &l, NULL, NULL, &req), 1);
	assert_null(req);
	assert_true(l.n >= 1);
	assert_int_equal(l.preferred, -1);
	resolve_prefer("localhost", (struct sockaddr *)&l.a[l.n - 1].addr);
	assert_int_equal(resolve_host_all("LOCALHOST", &l, NULL, NULL, &req), 1);
	assert_int_equal(l.preferred, l.n - 1);
	/* An address the name no longer has is no preference. */
	inet_pton(AF_INET, "192.0.2.1", &other.sin_addr);
	resolve_prefer("localhost", (struct sockaddr *)&other);
	assert_int_equal(resolve_host_all("localhost", &l, NULL, NULL, &req), 1);
	assert_int_equal(l.preferred, -1);
	resolve_flush();
}

static void test_numeric_is_one_address(void **state)
{
	struct resolve_list l;
	struct resolve_req *req;

	(void)state;
	assert_int_equal(resolve_host_all("::1", &l, NULL, NULL, &req), 1);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.a[0].addr.ss_family, AF_INET6);
	assert_string_equal(l.a[0].text, "::1");
	assert_int_equal(l.preferred, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one),
		cmocka_unit_test(test_interleaved_from_the_first_family),
		cmocka_unit_test(test_one_family_keeps_its_order),
		cmocka_unit_test(test_the_last_good_first),
		cmocka_unit_test(test_preferred_out_of_range_is_ignored),
		cmocka_unit_test(test_full_list),
		cmocka_unit_test(test_cache_remembers_the_last_good),
		cmocka_unit_test(test_numeric_is_one_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
