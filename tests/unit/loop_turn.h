/* Driving the real loop from a unit test: one turn at a time, or turns
 * until a condition holds, with a deadline. */
#ifndef AZB_TEST_LOOP_TURN_H
#define AZB_TEST_LOOP_TURN_H

#include "loop.h"

static lws_sorted_usec_list_t wake_sul;

static void wake(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

/* One turn of the loop, 5 ms at most. */
static void turn(void)
{
	lws_sul_schedule(loop_context(), 0, &wake_sul, wake, 5000);
	lws_service(loop_context(), 0);
}

/* Turn the loop until cond holds, for secs at most. */
#define UNTIL(cond, secs)                                                                  \
	do {                                                                               \
		int64_t until_ = lws_now_usecs() + (int64_t)((secs) * 1e6);                \
		while (!(cond) && lws_now_usecs() < until_)                                \
			turn();                                                            \
		assert_true(cond);                                                         \
	} while (0)

#endif
