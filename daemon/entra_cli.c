/* The Azure CLI credential: `az account get-access-token` as the user who
 * ran `az login` (the daemon's user, so root's ~/.azure), its JSON read
 * like any token answer. For developers; servers use another kind. */
#include "entra_kind.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* az starts slowly (a Python interpreter), and may refresh its own token. */
#define CLI_TIMEOUT_S 30
#define CLI_OUT_MAX (64 * 1024)

extern char **environ;

/* What the daemon holds for other credentials; az needs none of it. */
static const char *const withheld[] = {
	"AZURE_CLIENT_SECRET=", "AZURE_CLIENT_SECRET_FILE=", "AZURE_CLIENT_CERTIFICATE_PASSWORD=",
	"AZURE_FEDERATED_TOKEN_FILE=", "IDENTITY_HEADER=", "AZURE_PASSWORD=",
};

/* The environment for az: the daemon's, less the secrets of others. */
static char **az_environ(void)
{
	size_t n = 0, k = 0;
	char **out;

	while (environ[n])
		n++;
	out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		bool keep = true;

		for (size_t w = 0; w < AZB_ARRAY_SIZE(withheld); w++)
			if (strncmp(environ[i], withheld[w], strlen(withheld[w])) == 0)
				keep = false;
		if (keep)
			out[k++] = environ[i];
	}
	return out;
}

struct child {
	pid_t pid;
	int out, err;            /* read ends */
	struct sbuf o, e;
};

static int spawn(struct child *c)
{
	char *argv[] = { "az", "account", "get-access-token", "--resource", ENTRA_RESOURCE,
			 "--output", "json", NULL };
	int po[2], pe[2], r;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char **envp;

	if (pipe2(po, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		r = -errno;
		close(po[0]);
		close(po[1]);
		return r;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	/* The worker blocks every signal; az must not inherit that. */
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	/* A group of its own: az is a shell wrapper around Python, and a
	 * timeout must end both. */
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETPGROUP);
	envp = az_environ();
	r = -posix_spawnp(&c->pid, "az", &fa, &at, argv, envp);
	free(envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);
	c->out = po[0];
	c->err = pe[0];
	return r;
}

/* 1 while the fd has more to give; output past the bound is dropped. */
static int drain(int fd, struct sbuf *b)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && errno == EINTR)
		return 1;
	if (n <= 0)
		return 0;
	if (b->len + (size_t)n <= CLI_OUT_MAX)
		sbuf_addn(b, buf, (size_t)n);
	explicit_bzero(buf, sizeof(buf));
	return 1;
}

/* Both pipes to their end or the deadline: 0, or -ETIMEDOUT. */
static int collect(struct child *c, double end)
{
	struct pollfd p[2] = { { c->out, POLLIN, 0 }, { c->err, POLLIN, 0 } };

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int left = (int)((end - azb_clock_s(CLOCK_MONOTONIC)) * 1000);

		/* In slices, so an exiting daemon does not wait for az. */
		if (left <= 0 || entra_stopping() ||
		    (poll(p, 2, left < 200 ? left : 200) < 0 && errno != EINTR))
			return -ETIMEDOUT;
		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0 && p[i].revents && !drain(p[i].fd, i ? &c->e : &c->o))
				p[i].fd = -1;
	}
	return 0;
}

/* The first line of what az said on stderr, for the log. */
static void first_line(const struct sbuf *e, char *out, size_t len)
{
	const char *s = e->s ? e->s : "";

	snprintf(out, len, "%.*s", (int)strcspn(s, "\r\n"), s);
}

static int judge(struct child *c, int status, struct entra_result *res)
{
	char line[160];

	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return entra_fail(res, true, "az (the Azure CLI) cannot run");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		first_line(&c->e, line, sizeof(line));
		return entra_fail(res, false, "az account get-access-token failed (exit %d)%s%s",
				  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
				  line[0] ? ": " : "", line);
	}
	if (entra_parse_answer(c->o.s, c->o.len, res) < 0)
		return entra_fail(res, false, "az account get-access-token: %s", res->why);
	return 0;
}

/* The child's exit by the deadline (it may close its pipes and linger):
 * 0 with *status, or -ETIMEDOUT. */
static int reap_by(pid_t pid, double end, int *status)
{
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -ECHILD;
		if (azb_clock_s(CLOCK_MONOTONIC) >= end || entra_stopping())
			return -ETIMEDOUT;
		usleep(20 * 1000);
	}
}

static int cli_fetch(struct entra_result *res)
{
	struct child c = { .pid = -1 };
	double end = azb_clock_s(CLOCK_MONOTONIC) + CLI_TIMEOUT_S;
	int status = 0, r;

	sbuf_init(&c.o);
	sbuf_init(&c.e);
	r = spawn(&c);
	if (r < 0) {
		close(c.out);
		close(c.err);
		sbuf_free(&c.o);
		sbuf_free(&c.e);
		return entra_fail(res, r == -ENOENT, "cannot run az (the Azure CLI): %s",
				  strerror(-r));
	}
	r = collect(&c, end);
	if (r == 0)
		r = reap_by(c.pid, end, &status);
	if (r < 0) {
		kill(-c.pid, SIGKILL);
		while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	close(c.out);
	close(c.err);
	r = r < 0 ? entra_fail(res, false, "az account get-access-token took over %d s",
			       CLI_TIMEOUT_S) : judge(&c, status, res);
	azb_free_secret(sbuf_take(&c.o));
	sbuf_free(&c.e);
	return r;
}

const struct entra_kind entra_azure_cli = { "azure-cli", cli_fetch };
