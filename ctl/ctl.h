/* azbridgectl internals: the command line becomes one request object, the
 * request goes over the control socket, the reply is printed. The protocol
 * is described in azbridgectl(8). */
#ifndef AZB_CTL_H
#define AZB_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "util.h"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,      /* the daemon answered with an error */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3,
	CTL_EXIT_DENIED = 4,
};

#define CTL_TIMEOUT_DEFAULT 10.0
/* Far above any real reply (a list of thousands of forwards is a few MiB),
 * low enough that a runaway peer cannot eat the machine. */
#define CTL_MAX_REPLY (64u << 20)

/* cmdline.c */
struct ctl_cmd {
	bool json;
	bool help;                /* --help: print usage, ask nothing */
	bool version;             /* --version: likewise */
	const char *socket;       /* from argv or the environment, or NULL */
	double timeout;           /* seconds, for connect and reply together */
	json_t *req;              /* the request; NULL with help or version */
};

/* 0, or -EINVAL with a message for "azbridgectl: MESSAGE" in err. */
int cmd_parse(int argc, char **argv, struct ctl_cmd *c, char *err, size_t errlen);
void cmd_free(struct ctl_cmd *c);
void cmd_usage(FILE *f);

/* conn.c: one request line out, one reply line back (without its newline)
 * within timeout seconds. 0 or -errno: -ENAMETOOLONG for a path that does
 * not fit, -ETIMEDOUT, -ECONNRESET when the daemon closed without a reply,
 * -EPROTO when it closed mid-reply, -EMSGSIZE past CTL_MAX_REPLY, or what
 * connect, send or read said. */
int conn_request(const char *path, double timeout, const char *line, size_t len,
		 struct sbuf *reply);

/* table.c: columns sized to their widest cell. */
struct tbl {
	size_t ncol;
	unsigned right;           /* bit i set: column i is right-aligned */
	char **cell;              /* row-major, ncol cells a row */
	size_t n, cap;
};
void tbl_init(struct tbl *t, size_t ncol, unsigned right);
void tbl_add(struct tbl *t, const char *s);   /* the next cell; NULL is empty */
void tbl_addf(struct tbl *t, const char *fmt, ...) AZB_PRINTF(2, 3);
void tbl_print(const struct tbl *t, FILE *f, const char *indent);
void tbl_free(struct tbl *t);

/* print.c: human output of a successful reply to req, and of a failure; the
 * reply's control characters are escaped as in the daemon's text logs. */
void pr_reply(const json_t *req, const json_t *reply);
void pr_failure(const json_t *reply);

#endif
