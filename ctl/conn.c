/* One request over the control socket: connect, write the line, read one
 * line back, all against a single deadline so --timeout bounds the whole. */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONN_CHUNK (64 * 1024)
#define CONN_RETRY_MS 20

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* 0 once fd has any of events (or an error the next call will report). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int ms = left_ms(deadline), n;

		if (ms == 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* A full listen backlog makes a non-blocking AF_UNIX connect fail with
 * EAGAIN rather than wait; a busy daemon deserves a retry until the
 * deadline, not an "unreachable". */
static int connect_retry(int fd, const struct sockaddr_un *sa, int64_t deadline)
{
	for (;;) {
		socklen_t el = sizeof(int);
		int err = 0, r;

		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		if (errno == EAGAIN) {
			int ms = left_ms(deadline);

			if (ms == 0)
				return -ETIMEDOUT;
			poll(NULL, 0, ms < CONN_RETRY_MS ? ms : CONN_RETRY_MS);
			continue;
		}
		if (errno != EINPROGRESS && errno != EINTR)
			return -errno;
		r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return -errno;
		return -err;
	}
}

static int open_socket(const char *path, int64_t deadline, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, r;

	if (len == 0 || len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect_retry(fd, &sa, deadline);
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

static int send_all(int fd, const char *p, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0) {
			r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the first newline; only the new bytes are searched, so a
 * reply of many MiB in small pieces stays linear. */
static int read_line(int fd, int64_t deadline, struct sbuf *b)
{
	char *chunk = xmalloc(CONN_CHUNK), *nl = NULL;
	int r = 0;

	while (!nl && r == 0) {
		ssize_t n = read(fd, chunk, CONN_CHUNK);

		if (n > 0) {
			nl = memchr(chunk, '\n', (size_t)n);
			sbuf_addn(b, chunk, nl ? (size_t)(nl - chunk) : (size_t)n);
			if (!nl && b->len > CTL_MAX_REPLY)
				r = -EMSGSIZE;
		} else if (n == 0) {
			r = b->len ? -EPROTO : -ECONNRESET;
		} else if (errno == EAGAIN) {
			r = wait_fd(fd, POLLIN, deadline);
		} else if (errno != EINTR) {
			r = errno == ECONNRESET && b->len ? -EPROTO : -errno;
		}
	}
	free(chunk);
	return r;
}

int conn_request(const char *path, double timeout, const char *line, size_t len,
		 struct sbuf *reply)
{
	int64_t deadline = now_ms() + (int64_t)(timeout * 1000.0);
	int fd = -1, r, rs;

	r = open_socket(path, deadline, &fd);
	if (r < 0)
		return r;
	rs = send_all(fd, line, len, deadline);
	/* A daemon that refuses a request (too large) answers and closes while
	 * we still write: its reply says more than our EPIPE would. */
	if (rs == 0 || rs == -EPIPE || rs == -ECONNRESET) {
		r = read_line(fd, deadline, reply);
		if (r < 0 && rs < 0)
			r = rs;
	} else {
		r = rs;
	}
	close(fd);
	return r;
}
