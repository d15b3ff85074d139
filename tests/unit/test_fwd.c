/* One forward's lifetime (daemon/fwd.c): a reference for running and one
 * per tunnel, the release callback once when the last goes, the kinds'
 * tables picked per endpoint, listeners that go with a drain. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "loop.h"
#include "util.h"
#include "../../daemon/fwd.h"
#include "../../daemon/fwd_kind.h"

static int n_released;

static void released(struct fwd_run *fr)
{
	n_released++;
	fwd_free(fr);
}

static struct azb_config *config(bool with_key)
{
	struct azb_config *c = cfg_new();
	char err[256];

	n_released = 0;
	assert_int_equal(cfg_set_global(c, "endpoint", "sb://relay.example/", err, sizeof(err)), 0);
	if (with_key) {
		assert_int_equal(cfg_set_global(c, "shared_access_key_name", "k", err, sizeof(err)), 0);
		assert_int_equal(cfg_set_global(c, "shared_access_key", "a2V5", err, sizeof(err)), 0);
	}
	return c;
}

static struct fwd_run *forward(const struct azb_config *c, char opt, const char *expr)
{
	struct azb_fwd *f;
	struct fwd_run *fr;
	char err[256];

	assert_int_equal(bnd_parse(opt, expr, &f, err, sizeof(err)), 0);
	azb_set_str(&f->name, "f");
	fr = fwd_new(c, f, released);
	bnd_fwd_free(f);
	return fr;
}

static void test_references(void **state)
{
	struct azb_config *c = config(true);
	struct fwd_run *fr = forward(c, 'L', "127.0.0.1:1000:r1");

	(void)state;
	assert_int_equal(fr->refs, 1);   /* running */
	fwd_hold(fr);                    /* two tunnels */
	fwd_hold(fr);
	fwd_put(fr);
	fwd_put(fr);
	assert_int_equal(n_released, 0);
	assert_int_equal(fr->refs, 1);
	fwd_put(fr);
	assert_int_equal(n_released, 1);
	cfg_free(c);
}

/* Nothing open: the drain releases at once; with a tunnel, after it. */
static void test_drain_releases(void **state)
{
	struct azb_config *c = config(true);
	struct fwd_run *fr = forward(c, 'L', "127.0.0.1:1000:r1");

	(void)state;
	fwd_drain(fr, 30);
	assert_int_equal(n_released, 1);
	fr = forward(c, 'L', "127.0.0.1:1000:r1");
	fwd_hold(fr);
	fwd_drain(fr, 0);
	assert_int_equal(n_released, 1);
	assert_int_equal(fr->state, FWD_DRAINING);
	fwd_drain(fr, 0);                /* once */
	assert_int_equal(fr->refs, 1);
	fwd_put(fr);
	assert_int_equal(n_released, 2);
	cfg_free(c);
}

static void test_incomplete_forward_stays_down(void **state)
{
	struct azb_config *c = config(false);
	struct fwd_run *fr = forward(c, 'T', "r1:127.0.0.1:1000");
	char err[256];

	(void)state;
	/* A key name without its key (no credentials at all would be Entra ID). */
	assert_int_equal(cfg_set_global(c, "shared_access_key_name", "k", err, sizeof(err)), 0);
	assert_int_equal(fwd_start(fr, c), 0);
	assert_int_equal(fr->state, FWD_FAILED);
	assert_string_equal(fr->reason, "not started: no credentials");
	assert_null(fr->hc);
	fwd_drain(fr, 0);
	assert_int_equal(n_released, 1);
	cfg_free(c);
}

static void test_kinds_by_endpoint(void **state)
{
	struct azb_config *c = config(true);
	struct fwd_run *fr = forward(c, 'T', "r1:a/127.0.0.1:1;b/127.0.0.1:2U;c//run/x.sock");
	struct fwd_run *h = forward(c, 'H', "r2:http/127.0.0.1:8080");

	(void)state;
	assert_int_equal(fr->fwd->n_ep, 3);
	assert_ptr_equal(fr->kinds[0], &fwd_tcp);
	assert_ptr_equal(fr->kinds[1], &fwd_udp);
	assert_ptr_equal(fr->kinds[2], &fwd_unix);
	assert_ptr_equal(h->kinds[0], &fwd_http);
	assert_int_equal(fwd_udp.mode, PRE_DGRAM);
	assert_non_null(fwd_http.on_request);
	assert_null(fwd_tcp.on_request);
	assert_null(fwd_http.listen);   /* remote only */
	fwd_put(fr);
	fwd_put(h);
	cfg_free(c);
}

static bool can_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	close(fd);
	return ok;
}

static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	return ntohs(sa.sin_port);
}

static void on_signal(int signo)
{
	(void)signo;
}

/* A local forward listens on every endpoint from the start; the drain
 * closes them (and removes its socket file). */
static void test_listeners_go_with_the_drain(void **state)
{
	struct azb_config *c = config(true);
	uint16_t port = free_port();
	char expr[160], path[] = "/tmp/azb-fwd-test.sock";
	struct fwd_run *fr;
	struct stat st;

	(void)state;
	assert_int_equal(loop_init(on_signal), 0);
	snprintf(expr, sizeof(expr), "127.0.0.1:%u;%s:r1", port, path);
	fr = forward(c, 'L', expr);
	assert_int_equal(fwd_start(fr, c), 0);
	assert_int_equal(fr->state, FWD_LISTENING);
	assert_true(can_connect(port));
	assert_int_equal(stat(path, &st), 0);
	fwd_drain(fr, 0);
	assert_int_equal(n_released, 1);
	assert_false(can_connect(port));
	assert_int_equal(stat(path, &st), -1);
	cfg_free(c);
	loop_destroy();
}

/* One endpoint that cannot listen fails the forward and frees the others. */
static void test_one_endpoint_fails_them_all(void **state)
{
	struct azb_config *c = config(true);
	uint16_t port = free_port();
	char expr[160];
	struct fwd_run *fr;

	(void)state;
	assert_int_equal(loop_init(on_signal), 0);
	snprintf(expr, sizeof(expr), "127.0.0.1:%u;/nonexistent-dir/x.sock/u:r1", port);
	fr = forward(c, 'L', expr);
	assert_true(fwd_start(fr, c) < 0);
	assert_int_equal(fr->state, FWD_FAILED);
	assert_non_null(strstr(fr->reason, "cannot listen on /nonexistent-dir/x.sock"));
	assert_false(can_connect(port));
	assert_null(fr->listens);
	fwd_drain(fr, 0);
	assert_int_equal(n_released, 1);
	cfg_free(c);
	loop_destroy();
}

static int ka_of(const struct azb_config *c, char opt, const char *expr, int own)
{
	struct fwd_run *fr = forward(c, opt, expr);
	int ka;

	if (own >= 0) {   /* a forward's own, as its file's entry sets it */
		fr->fwd->tunnel_keep_alive = own;
		fr->tunnel_ka = cfg_tunnel_keep_alive(c, fr->fwd);
	}
	ka = fr->tunnel_ka;
	fwd_put(fr);
	return ka;
}

/* Unset, the SDK's: 3.5 minutes for a sender, -a for a listener; the global
 * setting over both, a forward's own over that; 0 is off, not unset. */
static void test_tunnel_keep_alive(void **state)
{
	struct azb_config *c = config(true);
	char err[256];

	(void)state;
	assert_int_equal(ka_of(c, 'L', "127.0.0.1:1000:r1", -1), 210);
	assert_int_equal(ka_of(c, 'T', "r1:127.0.0.1:22", -1), 30);
	assert_int_equal(cfg_set_global(c, "keep_alive_interval", "7", err, sizeof(err)), 0);
	assert_int_equal(ka_of(c, 'L', "127.0.0.1:1000:r1", -1), 210);
	assert_int_equal(ka_of(c, 'T', "r1:127.0.0.1:22", -1), 7);
	assert_int_equal(cfg_set_global(c, "tunnel_keep_alive", "0", err, sizeof(err)), 0);
	assert_int_equal(ka_of(c, 'L', "127.0.0.1:1000:r1", -1), 0);
	assert_int_equal(ka_of(c, 'T', "r1:127.0.0.1:22", -1), 0);
	assert_int_equal(ka_of(c, 'T', "r1:127.0.0.1:22", 5), 5);
	assert_int_equal(cfg_set_global(c, "tunnel_keep_alive", "3601", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tunnel_keep_alive"));
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_drain_releases),
		cmocka_unit_test(test_incomplete_forward_stays_down),
		cmocka_unit_test(test_kinds_by_endpoint),
		cmocka_unit_test(test_listeners_go_with_the_drain),
		cmocka_unit_test(test_one_endpoint_fails_them_all),
		cmocka_unit_test(test_tunnel_keep_alive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
