#include "acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define ACC_PAUSE_MIN_US (50LL * 1000)
#define ACC_PAUSE_MAX_US (1000LL * 1000)
/* Refused per pause at most, so a flood of connections cannot hold the loop. */
#define ACC_REFUSE_MAX 64

/* Descriptors belong to the process, so a shortage is one episode for all
 * of its listening sockets. */
static struct {
	int reserve;           /* given up for a moment to refuse a connection */
	bool short_of_fds;
	double since;          /* monotonic seconds */
	unsigned refused;
	int64_t pause_us;
} A = { .reserve = -1 };

static void keep_reserve(void)
{
	if (A.reserve < 0)
		A.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static bool out_of_fds(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

static void refuse_waiting(int lfd)
{
	for (int i = 0; i < ACC_REFUSE_MAX && A.reserve >= 0; i++) {
		int fd;

		close(A.reserve);
		A.reserve = -1;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		keep_reserve();
		if (fd < 0)
			return;
		A.refused++;
	}
}

static void shortage(struct loop_fd *fh, int lfd, const char *what, int e)
{
	if (!A.short_of_fds) {
		A.short_of_fds = true;
		A.since = azb_clock_s(CLOCK_MONOTONIC);
		A.refused = 0;
		A.pause_us = ACC_PAUSE_MIN_US;
		log_warning("%s: out of file descriptors (%s): accepting paused", what, strerror(e));
	} else {
		refuse_waiting(lfd);
	}
	loop_pause_rx_for(fh, A.pause_us);
	A.pause_us = A.pause_us * 2 < ACC_PAUSE_MAX_US ? A.pause_us * 2 : ACC_PAUSE_MAX_US;
}

int acc_accept(struct loop_fd *fh, int lfd, struct sockaddr *sa, socklen_t *salen,
	       const char *what)
{
	int fd, e;

	keep_reserve();
	fd = accept4(lfd, sa, salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0) {
		if (A.short_of_fds) {
			A.short_of_fds = false;
			log_notice("accepting again after %.1f s, %u refused",
				   azb_clock_s(CLOCK_MONOTONIC) - A.since, A.refused);
		}
		return fd;
	}
	e = errno;
	if (out_of_fds(e)) {
		shortage(fh, lfd, what, e);
		return -EAGAIN;
	}
	return e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED ? -EAGAIN : -e;
}
