/* Forwarding rules: the -L / -T / -R / -H expression grammar of the original
 * tool (plus bracketed IPv6 literals and absolute Unix socket paths), and the
 * struct every other module works with. */
#ifndef AZB_BINDING_H
#define AZB_BINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct azb_cred;

#define AZB_PORT_NAME_MAX 255   /* the preamble carries the length in one byte */

enum azb_dir {
	AZB_DIR_LOCAL,   /* -L: listen locally, open sender websockets */
	AZB_DIR_REMOTE,  /* -T/-R/-H: listener control channel, dial targets */
};

enum azb_kind {
	AZB_KIND_TCP,
	AZB_KIND_UDP,
	AZB_KIND_UNIX,
	AZB_KIND_HTTP,   /* remote only: reverse proxy to http(s)://host:port/path */
};

/* One endpoint of a forward. Which fields are meaningful depends on dir and
 * kind; the others are NULL / 0 / false. */
struct azb_ep {
	enum azb_kind kind;
	char *port_name;    /* logical port; never NULL once parsed */
	char *host;         /* local: bind address; remote: target host (TCP/UDP/HTTP) */
	uint16_t port;      /* TCP/UDP/HTTP port */
	char *socket_path;  /* UNIX: socket name or absolute path */
	char *http_path;    /* HTTP: base path, "/" or "/a/b/" */
	char *host_name;    /* local: name given a hosts-file entry while running */
	bool no_auth;       /* local: open senders without a token */
	bool insecure;      /* HTTP: do not verify the target's certificate */
	char *ca_file;      /* HTTP: CAs trusted for the target besides the system's */
	int http_timeout;   /* HTTP: seconds the target has to answer; 0: the default */
	int http_idle;      /* HTTP: idle connections kept to the target; 0: the default, -1: none */
	bool xff_for, xff_proto, xff_host;   /* HTTP: add X-Forwarded-For, -Proto, -Host */
};

/* An HTTP forward's http_timeout when none is set: under the relay
 * service's own 60 s, so a client hears our 504 rather than the service's. */
#define AZB_HTTP_TIMEOUT_DEFAULT 50
#define AZB_HTTP_TIMEOUT_MAX 3600
#define AZB_HTTP_IDLE_MAX 1024

/* A named forward on one relay (hybrid connection) with one or more endpoints.
 * Immutable once built; the supervisor compares them with bnd_fwd_equal(). */
struct azb_fwd {
	char *name;
	enum azb_dir dir;
	char *relay;
	size_t n_ep;
	struct azb_ep *ep;
	struct azb_cred *cred;   /* per-forward credentials, or NULL for the global ones */
	char *origin_file;       /* where it was defined, for messages; NULL for the CLI */
	int origin_line;
	int tunnel_keep_alive;   /* seconds; -1: the global setting */
};

/* Parsers. On error return -EINVAL and write a message naming the offending
 * part into err. *out is set only on success. */
int bnd_parse_local(const char *expr, struct azb_fwd **out, char *err, size_t errlen);
int bnd_parse_remote(const char *expr, struct azb_fwd **out, char *err, size_t errlen); /* -T */
int bnd_parse_legacy(const char *expr, struct azb_fwd **out, char *err, size_t errlen); /* -R */
int bnd_parse_http(const char *expr, struct azb_fwd **out, char *err, size_t errlen);   /* -H */
/* The parser of option opt ('L', 'T', 'R' or 'H'). */
int bnd_parse(char opt, const char *expr, struct azb_fwd **out, char *err, size_t errlen);

/* Canonical expression, without the option letter, that parses back to an
 * equal forward (-L form for local, -T form for remote, -H form for HTTP). */
char *bnd_format(const struct azb_fwd *f);
/* Which option letter bnd_format()'s output belongs to: 'L', 'T' or 'H'. */
char bnd_format_option(const struct azb_fwd *f);
/* A stable name derived from the canonical expression, safe as a file name
 * component: [A-Za-z0-9._-], at most 64 bytes. */
char *bnd_derive_name(const struct azb_fwd *f);

/* Validation shared with the config parser. */
int bnd_check_relay_name(const char *s, char *err, size_t errlen);
int bnd_check_port_name(const char *s, char *err, size_t errlen);
/* A bind address must be a loopback or local unicast literal, 0.0.0.0 / ::,
 * or a host name (resolved when the binding starts). */
int bnd_check_bind_address(const char *s, char *err, size_t errlen);
int bnd_check_forward_name(const char *s, char *err, size_t errlen);
/* A Unix socket path: names a file, holds no '[' or ']'. */
int bnd_check_socket_path(const char *s, char *err, size_t errlen);
/* An HTTP forward's base path: URL path characters but ':', no empty segment. */
int bnd_check_http_path(const char *s, char *err, size_t errlen);

struct azb_fwd *bnd_fwd_new(enum azb_dir dir);
struct azb_ep *bnd_fwd_add_ep(struct azb_fwd *f);   /* zeroed, owned by f */
struct azb_fwd *bnd_fwd_dup(const struct azb_fwd *f);
bool bnd_fwd_equal(const struct azb_fwd *a, const struct azb_fwd *b);  /* ignores origin */
/* The first port name two endpoints of f share, or NULL. A remote forward
 * picks its binding by port name, so there it is an error (config_check.c). */
const char *bnd_dup_port_name(const struct azb_fwd *f);
void bnd_fwd_free(struct azb_fwd *f);
void bnd_ep_clear(struct azb_ep *e);
const char *bnd_kind_name(enum azb_kind k);   /* "tcp", "udp", "unix", "http" */

#endif
