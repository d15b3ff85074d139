/* The loop's fd contract (common/loop.h) on real socket pairs: a handle
 * closed by another fd's callback in the same wakeup gets none of its
 * remaining events; loop_kill waits for a later turn; want-write is
 * one-shot and may be asked for again from inside the writeable callback;
 * paused input is neither read nor lost, even across a hang-up; a hang-up
 * with bytes still queued is read to EOF; thousands of fds come and go. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

#include "loop_turn.h"

/* One end of a socket pair in the loop; the test holds the other. */
struct end {
	struct loop_obj obj;
	struct loop_fd *fh;
	int fd, peer;
	struct end *other;        /* killed from this one's readable callback */
	size_t chunk;             /* read per callback; 0: no reading */
	size_t got;
	int reads, writes, rearms;
	bool eof;
};

static int closes, reads_total;

static int end_readable(struct loop_obj *o, struct loop_fd *fh)
{
	struct end *e = (struct end *)o;
	char buf[4096];
	ssize_t n;

	(void)fh;
	reads_total++;
	e->reads++;
	if (!e->chunk)
		return 0;
	if (e->other) {
		loop_kill_now(e->other->fh);
		e->other = NULL;
	}
	n = read(e->fd, buf, e->chunk < sizeof(buf) ? e->chunk : sizeof(buf));
	if (n > 0)
		e->got += (size_t)n;
	if (n == 0)
		e->eof = true;
	return n == 0 || (n < 0 && errno != EAGAIN) ? -1 : 0;
}

static int end_writeable(struct loop_obj *o, struct loop_fd *fh)
{
	struct end *e = (struct end *)o;

	e->writes++;
	if (e->writes < e->rearms)
		loop_want_write(fh);
	return 0;
}

/* Frees the object, so a stale event for it would touch freed memory. */
static void end_close(struct loop_obj *o, struct loop_fd *fh)
{
	struct end *e = (struct end *)o;

	(void)fh;
	closes++;
	if (e->peer >= 0)
		close(e->peer);
	free(e);
}

static const struct loop_fd_ops end_ops = { "test", end_readable, end_writeable, end_close };

static struct end *end_new(void)
{
	int sv[2];
	struct end *e = xmalloc(sizeof(*e));

	memset(e, 0, sizeof(*e));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	e->obj.fd_ops = &end_ops;
	e->fd = sv[0];
	e->peer = sv[1];
	e->fh = loop_adopt(e->fd, &e->obj);
	assert_non_null(e->fh);
	return e;
}

static int setup(void **state)
{
	(void)state;
	closes = reads_total = 0;
	return loop_init(NULL);
}

static int teardown(void **state)
{
	(void)state;
	loop_destroy();
	return 0;
}

/* Both readable in one wakeup; whichever runs first closes the other, whose
 * own event, still in the batch, must not reach it. */
static void test_kill_other_in_same_batch(void **state)
{
	struct end *a = end_new(), *b = end_new();

	(void)state;
	a->other = b;
	b->other = a;
	a->chunk = b->chunk = 1;
	assert_int_equal(write(a->peer, "x", 1), 1);
	assert_int_equal(write(b->peer, "y", 1), 1);
	UNTIL(closes == 1, 5);
	for (int i = 0; i < 10; i++)
		turn();
	assert_int_equal(reads_total, 1);
	assert_int_equal(closes, 1);
}

/* loop_kill from another fd's callback closes on a later turn. */
static void test_kill_waits_for_later_turn(void **state)
{
	struct end *a = end_new();

	(void)state;
	loop_kill(a->fh);
	assert_int_equal(closes, 0);
	loop_kill(a->fh);     /* twice is once */
	UNTIL(closes == 1, 5);
	for (int i = 0; i < 5; i++)
		turn();
	assert_int_equal(closes, 1);
}

/* One callback per request, including requests made inside it. */
static void test_want_write_one_shot_and_from_inside(void **state)
{
	struct end *a = end_new();

	(void)state;
	a->rearms = 3;
	for (int i = 0; i < 5; i++)
		turn();
	assert_int_equal(a->writes, 0);      /* never asked */
	loop_want_write(a->fh);
	loop_want_write(a->fh);              /* still one request */
	UNTIL(a->writes == 3, 5);
	for (int i = 0; i < 10; i++)
		turn();
	assert_int_equal(a->writes, 3);
	loop_want_write(a->fh);
	UNTIL(a->writes == 4, 5);
	for (int i = 0; i < 5; i++)
		turn();
	assert_int_equal(a->writes, 4);
}

static void fill_and_hang_up(struct end *e, size_t bytes)
{
	char buf[16000];

	memset(buf, 'z', sizeof(buf));
	for (size_t sent = 0; sent < bytes; sent += sizeof(buf))
		assert_int_equal(write(e->peer, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(e->peer);
	e->peer = -1;
}

/* Input arriving while paused is not read; after the resume all of it is. */
static void test_pause_then_resume_reads_all(void **state)
{
	struct end *a = end_new();
	char buf[1000];
	size_t sent = 0;

	(void)state;
	a->chunk = 4096;
	loop_pause_rx(a->fh, true);
	memset(buf, 'p', sizeof(buf));
	for (int i = 0; i < 20; i++) {
		assert_int_equal(write(a->peer, buf, sizeof(buf)), (ssize_t)sizeof(buf));
		sent += sizeof(buf);
		turn();
	}
	assert_int_equal(a->reads, 0);
	loop_pause_rx(a->fh, false);
	UNTIL(a->got == sent, 10);
	loop_pause_rx(a->fh, true);      /* and again, with nothing queued */
	loop_pause_rx(a->fh, false);
	assert_int_equal(write(a->peer, "!", 1), 1);
	UNTIL(a->got == sent + 1, 10);
}

/* A hang-up with bytes still queued: every byte and then EOF, over several
 * wakeups with the hang-up pending. */
static size_t seen_bytes;
static bool seen_eof;

static void end_close_counting(struct loop_obj *o, struct loop_fd *fh)
{
	struct end *e = (struct end *)o;

	seen_bytes = e->got;
	seen_eof = e->eof;
	end_close(o, fh);
}

static const struct loop_fd_ops count_ops = { "test", end_readable, end_writeable,
					      end_close_counting };

static void run_hang_up(bool paused_first)
{
	struct end *a = end_new();
	const size_t bytes = 5 * 16000;

	a->obj.fd_ops = &count_ops;
	a->chunk = 4096;
	seen_bytes = 0;
	seen_eof = false;
	if (paused_first)
		loop_pause_rx(a->fh, true);
	fill_and_hang_up(a, bytes);
	if (paused_first) {
		for (int i = 0; i < 20; i++)
			turn();
		assert_int_equal(a->reads, 0);
		loop_pause_rx(a->fh, false);
	}
	UNTIL(closes == 1, 10);
	assert_int_equal(seen_bytes, bytes);
	assert_true(seen_eof);
}

static void test_hang_up_with_data_read_to_eof(void **state)
{
	(void)state;
	run_hang_up(false);
}

static void test_paused_hang_up_read_to_eof(void **state)
{
	(void)state;
	run_hang_up(true);
}

/* loop_pause_rx_for: nothing read for the pause, then the input. */
static void test_pause_rx_for(void **state)
{
	struct end *a = end_new();

	(void)state;
	a->chunk = 1;
	assert_int_equal(write(a->peer, "a", 1), 1);
	loop_pause_rx_for(a->fh, 200 * 1000);
	for (int i = 0; i < 5; i++)
		turn();
	assert_int_equal(a->reads, 0);
	UNTIL(a->got == 1, 10);
}

#define MANY 1000    /* socket pairs: 2,000 descriptors, half in the loop */

static void test_thousands_adopted_and_closed(void **state)
{
	static struct end *e[MANY];
	struct rlimit rl;
	int n = 0;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2 * MANY + 64) {
		rl.rlim_cur = rl.rlim_max;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	assert_true(rl.rlim_cur >= 2 * MANY + 64);
	for (int i = 0; i < MANY; i++) {
		e[i] = end_new();
		assert_int_equal(write(e[i]->peer, "q", 1), 1);
	}
	UNTIL(reads_total >= MANY, 20);
	for (int i = 0; i < MANY; i++)
		n += e[i]->reads > 0;
	assert_int_equal(n, MANY);     /* every fd served, none starved */
	for (int i = 0; i < MANY; i += 2)
		loop_kill(e[i]->fh);
	UNTIL(closes == MANY / 2, 20);
	for (int i = 1; i < MANY; i += 2)
		loop_kill_now(e[i]->fh);
	assert_int_equal(closes, MANY);
}

/* loop_destroy closes what is left, each once. */
static void test_destroy_closes_the_rest(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++)
		end_new();
	loop_destroy();
	assert_int_equal(closes, 10);
	assert_int_equal(loop_init(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_other_in_same_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_waits_for_later_turn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_want_write_one_shot_and_from_inside, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pause_then_resume_reads_all, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hang_up_with_data_read_to_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused_hang_up_read_to_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_rx_for, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thousands_adopted_and_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_closes_the_rest, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
