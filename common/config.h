/* azbridged configuration: /etc/azbridge.conf plus <file>.d/ *.conf drop-ins
 * (libconfig syntax), parsed into a new immutable struct azb_config.
 *
 * The files behind this interface, in the order they call each other:
 * config_load.c reads files and drop-ins (their owner and mode checks, a
 * file's messages in line order) and hands each forward's group to
 * config_fwd.c, which makes a struct azb_fwd of it; both apply settings
 * through config_keys.c, the table that files, -o and the control socket
 * share; config.c is the value's life (new, free, forwards by name,
 * effective credentials, messages). Beside them config_check.c checks the
 * merged whole and config_print.c prints it. All of them use cred.h for
 * credentials; it calls none of them. */
#ifndef AZB_CONFIG_H
#define AZB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "binding.h"
#include "cred.h"

#define AZB_CONFIG_FILE "/etc/azbridge.conf"
#define AZB_KEEPALIVE_DEFAULT 30
#define AZB_TOKEN_LIFETIME_DEFAULT 3600
#define AZB_RUNTIME_DIR "/run/azbridged"
#define AZB_CONTROL_SOCKET AZB_RUNTIME_DIR "/control.sock"
#define AZB_CONTROL_GROUP "azbridge"
#define AZB_HOSTS_FILE "/etc/hosts"
#define AZB_DRAIN_TIMEOUT_DEFAULT 30
#define AZB_STOP_TIMEOUT_DEFAULT 5
#define AZB_CONNECT_TIMEOUT_DEFAULT 10
/* The SDK's keep-alive on a sender's tunnels (a listener's use
 * keep_alive_interval); tunnel_keep_alive overrides both. */
#define AZB_SENDER_KEEPALIVE_DEFAULT 210
#define AZB_TUNNEL_KEEPALIVE_MAX 3600

struct azb_strs {
	size_t n;
	char **v;
};

struct azb_config {
	struct azb_cred cred;       /* the global credentials */
	bool connstr_set;           /* a file set a global connection string (or its file) */
	char *bind_address;         /* source address for remote forwards' outbound dials */
	char *bind_address_at;      /* where it was set ("file:line", "command line") */
	int keep_alive_interval;    /* seconds, listener pings */
	int tunnel_keep_alive;      /* seconds between pings on idle tunnels; 0 off; -1 the SDK's */
	int token_lifetime;         /* seconds a SAS token we make is valid */
	int connect_timeout;        /* seconds to open a websocket to the relay */
	int log_level;              /* syslog priority, -1 = none; default LOG_INFO */
	bool log_level_set;
	char *log_file;
	char *ca_file;              /* CA bundle to verify the relay with */
	bool exit_on_forward_failure;
	/* Daemon: the control socket is on by default only when a file is read
	 * (control_socket_set false, path NULL: use AZB_CONTROL_SOCKET then). */
	char *control_socket;       /* NULL with control_socket_set: none */
	bool control_socket_set;
	char *control_group;        /* NULL: AZB_CONTROL_GROUP if it exists */
	size_t n_control_uids;
	unsigned *control_uids;     /* may run mutating verbs besides root */
	/* What control_users may ask for besides root (azbridgectl(8)). */
	struct azb_strs control_socket_dirs;   /* Unix sockets they may bind or dial */
	bool control_privileged_ports;         /* listening ports below 1024 */
	struct azb_strs control_host_names;    /* domains for their hosts entries */
	char *hosts_file;           /* NULL: AZB_HOSTS_FILE */
	int drain_timeout;          /* seconds a removed forward's tunnels may finish */
	int stop_timeout;           /* the same on SIGTERM */
	size_t n_fwd;
	struct azb_fwd **fwd;       /* unique names, in definition order */
};

/* Every message, in order; each "file:line: text" (or "file: text", or the
 * text alone when file is NULL). */
struct cfg_errors {
	size_t n;
	char **msg;
};
void cfg_errors_add(struct cfg_errors *e, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void cfg_errors_clear(struct cfg_errors *e);

struct azb_config *cfg_new(void);   /* defaults, no forwards */
void cfg_free(struct azb_config *c);

/* Load path, then every *.conf in dropin_dir in lexical order (dropin_dir
 * NULL: path + ".d"; a missing directory is not an error). On any error,
 * returns -EINVAL with every message in errs and *out untouched. */
int cfg_load(const char *path, const char *dropin_dir, struct azb_config **out,
	     struct cfg_errors *errs);
/* Parse one file into c (used by cfg_load; exposed for tests). */
int cfg_load_file(struct azb_config *c, const char *path, struct cfg_errors *errs);
/* Parse one forward entry (a group with the keys of a local_forward or
 * remote_forward element) from a setting built elsewhere; messages name
 * `what` as their file. NULL with the reasons in errs. */
struct config_setting_t;
struct azb_fwd *cfg_parse_fwd(struct azb_config *c, const struct config_setting_t *g,
			      enum azb_dir dir, const char *what, struct cfg_errors *errs);
/* A whole drop-in file holding just f. */
char *cfg_print_fwd(const struct azb_fwd *f);
/* Add or replace (by name) a forward; takes ownership. */
void cfg_put_fwd(struct azb_config *c, struct azb_fwd *f);
struct azb_fwd *cfg_find_fwd(const struct azb_config *c, const char *name);
bool cfg_remove_fwd(struct azb_config *c, const char *name);
/* Set a global key from text (-o KEY:VALUE): our snake_case names or the
 * original tool's names. 0 when set, 1 for a key the original accepted but
 * never used (checked, no effect), -EINVAL with a message otherwise. */
int cfg_set_global(struct azb_config *c, const char *key, const char *value, char *err,
		   size_t errlen);
/* Does this key (our name or the original's, as -o takes them) hold a
 * secret: a key, a signature or a connection string? */
bool cfg_key_is_secret(const char *key);
/* Checks that need the whole merged config (endpoints, duplicate listeners,
 * credentials). A forward without credentials is an error in errs, or, when
 * warns is given, a warning there: such a forward stays down until they are
 * set, the others run. */
int cfg_validate(const struct azb_config *c, struct cfg_errors *errs, struct cfg_errors *warns);
/* Seconds between pings on the idle tunnels of f (0: none): its own
 * tunnel_keep_alive, else the global one, else the SDK's default for
 * its side. */
int cfg_tunnel_keep_alive(const struct azb_config *c, const struct azb_fwd *f);
/* Does the forward have what it needs to authenticate? */
bool cfg_fwd_has_credentials(const struct azb_config *c, const struct azb_fwd *f);

/* Normalised libconfig text of the merged config; parses back to an equal
 * config. Inline secrets are printed as "(redacted)" unless show_secrets. */
char *cfg_print(const struct azb_config *c, bool show_secrets);

/* The credentials a forward uses: cred_effective() of its own over the
 * global ones. */
void cfg_effective_cred(const struct azb_config *c, const struct azb_fwd *f, struct azb_cred *out);

/* The older names of cred.h's functions, for the callers that use them. */
static inline int cfg_open_secret_file(const char *path, char *err, size_t errlen)
{
	return cred_open_secret_file(path, err, errlen);
}
static inline int cfg_read_key_file(const char *path, char **key, char *err, size_t errlen)
{
	return cred_read_key_file(path, key, err, errlen);
}
static inline void cfg_cred_clear(struct azb_cred *c)
{
	cred_clear(c);
}
static inline void cfg_cred_copy(struct azb_cred *dst, const struct azb_cred *src)
{
	cred_copy(dst, src);
}
static inline bool cfg_cred_equal(const struct azb_cred *a, const struct azb_cred *b)
{
	return cred_equal(a, b);
}
static inline int cfg_cred_from_connstr(struct azb_cred *cred, const char *cs, char *err,
					size_t errlen)
{
	return cred_from_connstr(cred, cs, err, errlen);
}

#endif
