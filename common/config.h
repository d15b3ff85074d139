/* azbridged configuration: /etc/azbridge.conf plus <file>.d/ *.conf drop-ins
 * (libconfig syntax), parsed into a new immutable struct azb_config. */
#ifndef AZB_CONFIG_H
#define AZB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "binding.h"

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

/* How to authenticate to a relay. Global, or per forward. */
struct azb_cred {
	char *endpoint;         /* "sb://host[:port]/" as given */
	char *key_name;
	char *key;              /* secret: from the file or inline */
	char *key_file;         /* where key came from, if a file */
	char *signature;        /* secret: a pre-issued SAS token */
	bool entra;             /* Authentication=Managed Identity */
};

struct azb_strs {
	size_t n;
	char **v;
};

struct azb_config {
	struct azb_cred cred;
	char *bind_address;         /* source address for remote forwards' outbound dials */
	char *bind_address_at;      /* where it was set ("file:line", "command line") */
	int keep_alive_interval;    /* seconds, listener pings */
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
/* Does the forward have what it needs to authenticate? */
bool cfg_fwd_has_credentials(const struct azb_config *c, const struct azb_fwd *f);

/* Normalised libconfig text of the merged config; parses back to an equal
 * config. Inline secrets are printed as "(redacted)" unless show_secrets. */
char *cfg_print(const struct azb_config *c, bool show_secrets);

/* Open a file that holds a secret (O_NOFOLLOW, never blocking on a FIFO) and
 * check that very descriptor: a regular file owned by root or this process's
 * effective user, neither readable nor writable by group or others. The fd,
 * or -errno with a message naming the file. */
int cfg_open_secret_file(const char *path, char *err, size_t errlen);
/* Read a key file (trailing newline stripped). */
int cfg_read_key_file(const char *path, char **key, char *err, size_t errlen);

/* The credentials a forward uses: its own fields over the global ones (a
 * forward's own key or signature is taken whole). */
void cfg_effective_cred(const struct azb_config *c, const struct azb_fwd *f, struct azb_cred *out);
void cfg_cred_clear(struct azb_cred *c);
void cfg_cred_copy(struct azb_cred *dst, const struct azb_cred *src);
bool cfg_cred_equal(const struct azb_cred *a, const struct azb_cred *b);
/* Fill cred from a connection string (fields it names replace cred's). */
int cfg_cred_from_connstr(struct azb_cred *cred, const char *cs, char *err, size_t errlen);

#endif
