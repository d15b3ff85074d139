#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "connstr.h"
#include "hostsfile.h"
#include "log.h"
#include "url.h"
#include "util.h"

/* ---- errors ------------------------------------------------------------ */

/* Every message is redacted here, where errors are made: from here they
 * reach stderr, the log, reload replies, status and systemd's STATUS=. */
void cfg_errors_add(struct cfg_errors *e, const char *file, int line, const char *fmt, ...)
{
	struct sbuf b;
	va_list ap;

	sbuf_init(&b);
	if (file && line > 0)
		sbuf_printf(&b, "%s:%d: ", file, line);
	else if (file)
		sbuf_printf(&b, "%s: ", file);
	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	e->msg = xrealloc(e->msg, (e->n + 1) * sizeof(*e->msg));
	e->msg[e->n++] = log_redact(b.s);
	explicit_bzero(b.s, b.len);
	sbuf_free(&b);
}

void cfg_errors_clear(struct cfg_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
}

/* ---- credentials ------------------------------------------------------- */

void cfg_cred_clear(struct azb_cred *c)
{
	free(c->endpoint);
	free(c->key_name);
	azb_free_secret(c->key);
	free(c->key_file);
	azb_free_secret(c->signature);
	memset(c, 0, sizeof(*c));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void cfg_cred_copy(struct azb_cred *dst, const struct azb_cred *src)
{
	dst->endpoint = dup_or_null(src->endpoint);
	dst->key_name = dup_or_null(src->key_name);
	dst->key = dup_or_null(src->key);
	dst->key_file = dup_or_null(src->key_file);
	dst->signature = dup_or_null(src->signature);
	dst->entra = src->entra;
}

bool cfg_cred_equal(const struct azb_cred *a, const struct azb_cred *b)
{
	return azb_streq(a->endpoint, b->endpoint) && azb_streq(a->key_name, b->key_name) &&
	       azb_streq(a->key, b->key) && azb_streq(a->key_file, b->key_file) &&
	       azb_streq(a->signature, b->signature) && a->entra == b->entra;
}

int cfg_cred_from_connstr(struct azb_cred *cred, const char *s, char *err, size_t errlen)
{
	struct azb_connstr cs;
	int r = cs_parse(s, &cs, err, errlen);

	if (r < 0)
		return r;
	if (cs.endpoint)
		azb_set_str(&cred->endpoint, cs.endpoint);
	if (cs.key_name)
		azb_set_str(&cred->key_name, cs.key_name);
	if (cs.key) {
		azb_free_secret(cred->key);
		cred->key = xstrdup(cs.key);
		free(cred->key_file);
		cred->key_file = NULL;
	}
	if (cs.signature) {
		azb_free_secret(cred->signature);
		cred->signature = xstrdup(cs.signature);
	}
	if (cs.authentication)
		cred->entra = true;
	cs_clear(&cs);
	return 0;
}

/* ---- config object ----------------------------------------------------- */

struct azb_config *cfg_new(void)
{
	struct azb_config *c = xcalloc(1, sizeof(*c));

	c->keep_alive_interval = AZB_KEEPALIVE_DEFAULT;
	c->token_lifetime = AZB_TOKEN_LIFETIME_DEFAULT;
	c->log_level = LOG_INFO;
	c->exit_on_forward_failure = true;
	c->drain_timeout = AZB_DRAIN_TIMEOUT_DEFAULT;
	c->stop_timeout = AZB_STOP_TIMEOUT_DEFAULT;
	c->connect_timeout = AZB_CONNECT_TIMEOUT_DEFAULT;
	return c;
}

static void strs_free(struct azb_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void cfg_free(struct azb_config *c)
{
	if (!c)
		return;
	cfg_cred_clear(&c->cred);
	free(c->bind_address);
	free(c->bind_address_at);
	free(c->log_file);
	free(c->ca_file);
	free(c->control_socket);
	free(c->control_group);
	free(c->control_uids);
	strs_free(&c->control_socket_dirs);
	strs_free(&c->control_host_names);
	free(c->hosts_file);
	for (size_t i = 0; i < c->n_fwd; i++)
		bnd_fwd_free(c->fwd[i]);
	free(c->fwd);
	free(c);
}

struct azb_fwd *cfg_find_fwd(const struct azb_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_fwd; i++)
		if (strcmp(c->fwd[i]->name, name) == 0)
			return c->fwd[i];
	return NULL;
}

void cfg_put_fwd(struct azb_config *c, struct azb_fwd *f)
{
	for (size_t i = 0; i < c->n_fwd; i++) {
		if (strcmp(c->fwd[i]->name, f->name) == 0) {
			bnd_fwd_free(c->fwd[i]);
			c->fwd[i] = f;
			return;
		}
	}
	c->fwd = xrealloc(c->fwd, (c->n_fwd + 1) * sizeof(*c->fwd));
	c->fwd[c->n_fwd++] = f;
}

bool cfg_remove_fwd(struct azb_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_fwd; i++) {
		if (strcmp(c->fwd[i]->name, name) == 0) {
			bnd_fwd_free(c->fwd[i]);
			memmove(&c->fwd[i], &c->fwd[i + 1], (c->n_fwd - i - 1) * sizeof(*c->fwd));
			c->n_fwd--;
			return true;
		}
	}
	return false;
}

/* ---- secret files ------------------------------------------------------ */

/* Open without blocking on a FIFO, then judge the file by fstat on that very
 * descriptor: nothing can be swapped in between. On a refusal why gets a
 * phrase to follow "path: "; when open itself failed it stays empty. */
static int open_regular(const char *path, int flags, struct stat *st, char *why, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags), e;

	why[0] = '\0';
	if (fd < 0) {
		e = errno;
		if (e == ELOOP && (flags & O_NOFOLLOW))
			return azb_errn(why, len, -ELOOP, "is a symbolic link; name the file itself");
		return -e;
	}
	if (fstat(fd, st) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return azb_errn(why, len, -EINVAL, "is not a regular file");
	}
	return fd;
}

/* Why a file may not hold a secret (into why), or 0: only root and the
 * daemon's own user may own it, and only the owner may read or write it. */
static int secret_unsafe(const struct stat *st, char *why, size_t len)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return azb_errn(why, len, -EPERM, "is owned by uid %u, not root or this daemon's "
				"user (uid %u); chown it", (unsigned)st->st_uid, (unsigned)geteuid());
	if (st->st_mode & 066)
		return azb_errn(why, len, -EPERM, "is %s by group or others (mode %04o); chmod 600 it",
				st->st_mode & 044 ? "readable" : "writable",
				(unsigned)(st->st_mode & 07777));
	return 0;
}

/* The daemon does what its configuration says, as root: whoever may change
 * a file of it (or add one to the drop-in directory) must be root already. */
static int config_unsafe(const struct stat *st, char *why, size_t len)
{
	const char *who = st->st_mode & 002 ? "anyone" : "its group";

	if (st->st_uid != 0 && st->st_uid != geteuid())
		return azb_errn(why, len, -EPERM, "is owned by uid %u, not root or this daemon's user "
				"(uid %u); refusing it", (unsigned)st->st_uid, (unsigned)geteuid());
	if (st->st_mode & 022)
		return azb_errn(why, len, -EPERM, "is writable by %s (mode %04o); refusing it", who,
				(unsigned)(st->st_mode & 07777));
	return 0;
}

int cfg_open_secret_file(const char *path, char *err, size_t errlen)
{
	char why[160];
	struct stat st;
	int fd = open_regular(path, O_NOFOLLOW, &st, why, sizeof(why)), r;

	if (fd < 0)
		return azb_errn(err, errlen, fd, "%s: %s", path, why[0] ? why : strerror(-fd));
	r = secret_unsafe(&st, why, sizeof(why));
	if (r < 0) {
		close(fd);
		return azb_errn(err, errlen, r, "%s holds a secret but %s", path, why);
	}
	return fd;
}

int cfg_read_key_file(const char *path, char **key, char *err, size_t errlen)
{
	char buf[1024];
	ssize_t n;
	int fd = cfg_open_secret_file(path, err, errlen);

	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return azb_err(err, errlen, "%s: %s", path, strerror(errno));
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0 || (size_t)n == sizeof(buf) - 1 || !cs_valid_base64(buf)) {
		explicit_bzero(buf, sizeof(buf));
		return azb_err(err, errlen, "%s does not hold one base64 key", path);
	}
	*key = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* ---- settings shared by files and -o ----------------------------------- */

struct loader {
	struct azb_config *c;
	const char *file;          /* for messages */
	char *dir;                 /* relative key files are found here */
	struct cfg_errors *errs;
	char exposed[160];         /* why the file may not hold a secret, or "" */
	int line;                  /* of the setting being applied, 0 on the command line */
};

typedef int (*setter_fn)(struct loader *ld, void *dst, const char *v, char *err, size_t len);

enum vtype { V_STR, V_INT, V_BOOL };

struct key {
	const char *name;          /* ours */
	const char *orig;          /* the original tool's, or NULL */
	enum vtype type;
	bool cred;                 /* also valid inside a forward */
	bool dead;                 /* accepted, checked, no effect */
	long min, max;
	setter_fn set;
};

static int parse_bool(const char *v, bool *out)
{
	static const char *yes[] = { "true", "yes", "on", "1" }, *no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < AZB_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int exposed_secret(struct loader *ld, const char *what, char *err, size_t len)
{
	if (!ld->exposed[0])
		return 0;
	return azb_err(err, len, "%s is set here but this file %s, or use shared_access_key_file",
		       what, ld->exposed);
}

static int set_endpoint(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	char *host = NULL;
	uint16_t port;

	(void)ld;
	/* ';' or a blank: a connection string or token in the wrong key. */
	if (strpbrk(v, "; \t"))
		return azb_err(err, len, "endpoint is not sb://HOST[:PORT]/ (a connection string "
			       "goes in connection_string): \"%s\"", v);
	if (url_endpoint(v, &host, &port) < 0)
		return azb_err(err, len, "endpoint \"%s\" is not sb://HOST[:PORT]/", v);
	free(host);
	azb_set_str(&((struct azb_cred *)dst)->endpoint, v);
	return 0;
}

static int set_connstr(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	if ((strcasestr(v, "SharedAccessKey=") || strcasestr(v, "SharedAccessSignature=")) &&
	    exposed_secret(ld, "a connection string with a secret", err, len) < 0)
		return -EINVAL;
	return cfg_cred_from_connstr(dst, v, err, len);
}

static int set_key_name(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)ld;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return azb_err(err, len, "shared_access_key_name \"%s\" may hold only letters, "
				       "digits, '-' and '_'", v);
	if (!*v)
		return azb_err(err, len, "shared_access_key_name is empty");
	azb_set_str(&((struct azb_cred *)dst)->key_name, v);
	return 0;
}

static int set_key(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	struct azb_cred *c = dst;

	if (exposed_secret(ld, "shared_access_key", err, len) < 0)
		return -EINVAL;
	if (!cs_valid_base64(v))
		return azb_err(err, len, "shared_access_key is not valid base64");
	azb_free_secret(c->key);
	c->key = xstrdup(v);
	free(c->key_file);
	c->key_file = NULL;
	return 0;
}

/* Relative: systemd's credentials directory first, then next to the file. */
static char *resolve_key_path(const struct loader *ld, const char *v)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char *p;

	if (v[0] == '/')
		return xstrdup(v);
	if (creds && *creds) {
		p = xasprintf("%s/%s", creds, v);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return xasprintf("%s/%s", ld->dir, v);
}

static int set_key_file(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	struct azb_cred *c = dst;
	char *path = resolve_key_path(ld, v), *key = NULL;
	int r = cfg_read_key_file(path, &key, err, len);

	if (r < 0) {
		free(path);
		return -EINVAL;
	}
	azb_free_secret(c->key);
	c->key = key;
	/* Absolute, so a printed config still finds it from anywhere. */
	free(c->key_file);
	c->key_file = realpath(path, NULL);
	if (!c->key_file)
		c->key_file = path;
	else
		free(path);
	return 0;
}

static int set_signature(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	struct azb_cred *c = dst;

	if (exposed_secret(ld, "shared_access_signature", err, len) < 0)
		return -EINVAL;
	if (!*v)
		return azb_err(err, len, "shared_access_signature is empty");
	azb_free_secret(c->signature);
	c->signature = xstrdup(v);
	return 0;
}

static int set_authentication(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)ld;
	if (strcasecmp(v, "Managed Identity") && strcasecmp(v, "ManagedIdentity"))
		return azb_err(err, len, "authentication \"%s\" is not \"Managed Identity\"", v);
	((struct azb_cred *)dst)->entra = true;
	return 0;
}

static int set_bind_address(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	if (bnd_check_bind_address(v, err, len) < 0)
		return -EINVAL;
	azb_set_str(&ld->c->bind_address, v);
	free(ld->c->bind_address_at);
	ld->c->bind_address_at = ld->line ? xasprintf("%s:%d", ld->file, ld->line) :
					    xstrdup(ld->file);
	return 0;
}

static int store_typed(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)ld;
	(void)v;
	(void)err;
	(void)len;
	(void)dst;
	return 0;   /* apply_key() stores the checked value */
}

static int set_log_level(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	if (log_level_parse(v, &ld->c->log_level) < 0)
		return azb_err(err, len, "log_level \"%s\" is not one of none, fatal, error, warning, "
			       "notice, info, verbose, debug", v);
	ld->c->log_level_set = true;
	return 0;
}

static int set_log_file(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	if (!*v)
		return azb_err(err, len, "log_file is empty");
	azb_set_str(&ld->c->log_file, v);
	return 0;
}

static int set_ca_file(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	if (access(v, R_OK) < 0)
		return azb_err(err, len, "ca_file %s: %s", v, strerror(errno));
	azb_set_str(&ld->c->ca_file, v);
	return 0;
}

static int set_abs_path(const char *key, char **dst, const char *v, char *err, size_t len)
{
	if (v[0] != '/')
		return azb_err(err, len, "%s must be an absolute path, not \"%s\"", key, v);
	azb_set_str(dst, v);
	return 0;
}

static int set_control_socket(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	ld->c->control_socket_set = true;
	if (!*v || strcmp(v, "none") == 0) {
		azb_set_str(&ld->c->control_socket, NULL);
		return 0;
	}
	if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return azb_err(err, len, "control_socket path is longer than %zu bytes",
			       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return set_abs_path("control_socket", &ld->c->control_socket, v, err, len);
}

static int set_control_group(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	if (!getgrnam(v) && !azb_is_uint(v))
		return azb_err(err, len, "control_group \"%s\" is not a group on this system", v);
	azb_set_str(&ld->c->control_group, v);
	return 0;
}

static int add_control_user(struct azb_config *c, const char *u, char *err, size_t len)
{
	const struct passwd *pw = getpwnam(u);
	long uid;

	if (pw)
		uid = pw->pw_uid;
	else if (azb_parse_int(u, 0, 0x7fffffff, &uid) < 0)
		return azb_err(err, len, "control_users: \"%s\" is not a user on this system", u);
	c->control_uids = xrealloc(c->control_uids, (c->n_control_uids + 1) * sizeof(unsigned));
	c->control_uids[c->n_control_uids++] = (unsigned)uid;
	return 0;
}

/* -o control_users:alice,1001 (the file takes a list). */
static int set_control_users(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	char *copy = xstrdup(v), *save = NULL;
	int r = 0;

	(void)dst;
	ld->c->n_control_uids = 0;
	for (char *u = strtok_r(copy, ", ", &save); u && r == 0; u = strtok_r(NULL, ", ", &save))
		r = add_control_user(ld->c, u, err, len);
	free(copy);
	return r;
}

/* ---- lists of strings: [ "a", "b" ] in a file, "a,b" after -o ---- */

typedef int (*item_check_fn)(const char *key, const char *item, char **out, char *err, size_t len);

struct str_list {
	const char *key;
	size_t off;                 /* of its struct azb_strs in azb_config */
	item_check_fn check;        /* the item as stored in *out */
};

static struct azb_strs *list_in(struct azb_config *c, const struct str_list *l)
{
	return (struct azb_strs *)((char *)c + l->off);
}

static int list_add(struct azb_config *c, const struct str_list *l, const char *item, char *err,
		    size_t len)
{
	struct azb_strs *v = list_in(c, l);
	char *norm;

	if (l->check(l->key, item, &norm, err, len) < 0)
		return -EINVAL;
	v->v = xrealloc(v->v, (v->n + 1) * sizeof(*v->v));
	v->v[v->n++] = norm;
	return 0;
}

static int list_set_text(struct azb_config *c, const struct str_list *l, const char *v, char *err,
			 size_t len)
{
	char *copy = xstrdup(v), *save = NULL;
	int r = 0;

	strs_free(list_in(c, l));
	for (char *t = strtok_r(copy, ", ", &save); t && r == 0; t = strtok_r(NULL, ", ", &save))
		r = list_add(c, l, t, err, len);
	free(copy);
	return r;
}

/* Directories are compared after resolving at the time of each request;
 * here only their form is checked. */
static int check_socket_dir(const char *key, const char *v, char **out, char *err, size_t len)
{
	size_t n = strlen(v);

	if (v[0] != '/')
		return azb_err(err, len, "%s: \"%s\" is not an absolute path", key, v);
	while (n > 1 && v[n - 1] == '/')
		n--;
	*out = xstrndup(v, n);
	return 0;
}

/* A domain: itself and the names below it. A leading dot says the same. */
static int check_host_domain(const char *key, const char *v, char **out, char *err, size_t len)
{
	const char *d = v[0] == '.' ? v + 1 : v;

	if (!hosts_valid_name(d))
		return azb_err(err, len, "%s: \"%s\" is not a domain name", key, v);
	*out = xstrdup(d);
	return 0;
}

static const struct str_list socket_dirs = {
	"control_socket_dirs", offsetof(struct azb_config, control_socket_dirs), check_socket_dir,
};
static const struct str_list host_domains = {
	"control_host_names", offsetof(struct azb_config, control_host_names), check_host_domain,
};

static int set_socket_dirs(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	return list_set_text(ld->c, &socket_dirs, v, err, len);
}

static int set_host_domains(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	return list_set_text(ld->c, &host_domains, v, err, len);
}

static const struct str_list *str_list_of(setter_fn set)
{
	return set == set_socket_dirs ? &socket_dirs : set == set_host_domains ? &host_domains : NULL;
}

static int set_hosts_file(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)dst;
	return set_abs_path("hosts_file", &ld->c->hosts_file, v, err, len);
}

static int set_dead_family(struct loader *ld, void *dst, const char *v, char *err, size_t len)
{
	(void)ld;
	(void)dst;
	if (strcasecmp(v, "any") && strcasecmp(v, "inet") && strcasecmp(v, "inet6"))
		return azb_err(err, len, "AddressFamily \"%s\" is not any, inet or inet6", v);
	return 0;
}

static const struct key keys[] = {
	{ "connection_string", "AzureRelayConnectionString", V_STR, true, false, 0, 0, set_connstr },
	{ "endpoint", "AzureRelayEndpoint", V_STR, true, false, 0, 0, set_endpoint },
	{ "shared_access_key_name", "AzureRelaySharedAccessKeyName", V_STR, true, false, 0, 0,
	  set_key_name },
	{ "shared_access_key", "AzureRelaySharedAccessKey", V_STR, true, false, 0, 0, set_key },
	{ "shared_access_key_file", NULL, V_STR, true, false, 0, 0, set_key_file },
	{ "shared_access_signature", "AzureRelaySharedAccessSignature", V_STR, true, false, 0, 0,
	  set_signature },
	{ "authentication", NULL, V_STR, true, false, 0, 0, set_authentication },
	{ "bind_address", "BindAddress", V_STR, false, false, 0, 0, set_bind_address },
	{ "keep_alive_interval", "KeepAliveInterval", V_INT, false, false, 1, 3600, store_typed },
	{ "token_lifetime", NULL, V_INT, false, false, 2, 86400, store_typed },
	{ "log_level", "LogLevel", V_STR, false, false, 0, 0, set_log_level },
	{ "log_file", "LogFileName", V_STR, false, false, 0, 0, set_log_file },
	{ "ca_file", NULL, V_STR, false, false, 0, 0, set_ca_file },
	{ "exit_on_forward_failure", "ExitOnForwardFailure", V_BOOL, false, false, 0, 0, store_typed },
	{ "control_socket", NULL, V_STR, false, false, 0, 0, set_control_socket },
	{ "control_group", NULL, V_STR, false, false, 0, 0, set_control_group },
	{ "control_users", NULL, V_STR, false, false, 0, 0, set_control_users },
	{ "control_socket_dirs", NULL, V_STR, false, false, 0, 0, set_socket_dirs },
	{ "control_privileged_ports", NULL, V_BOOL, false, false, 0, 0, store_typed },
	{ "control_host_names", NULL, V_STR, false, false, 0, 0, set_host_domains },
	{ "hosts_file", NULL, V_STR, false, false, 0, 0, set_hosts_file },
	{ "drain_timeout", NULL, V_INT, false, false, 0, 3600, store_typed },
	{ "stop_timeout", NULL, V_INT, false, false, 0, 300, store_typed },
	{ "connect_timeout", NULL, V_INT, false, false, 1, 120, store_typed },
	{ NULL, "GatewayPorts", V_BOOL, false, true, 0, 0, store_typed },
	{ NULL, "AddressFamily", V_STR, false, true, 0, 0, set_dead_family },
	{ NULL, "ConnectionAttempts", V_INT, false, true, 1, 10, store_typed },
	{ NULL, "ConnectTimeout", V_INT, false, true, 0, 120, store_typed },
	{ NULL, "ClearAllForwardings", V_BOOL, false, true, 0, 0, store_typed },
};

static const struct key *find_key(const char *name, bool allow_orig)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(keys); i++) {
		if (keys[i].name && strcmp(keys[i].name, name) == 0)
			return &keys[i];
		if (allow_orig && keys[i].orig && strcmp(keys[i].orig, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static const char *key_label(const struct key *k)
{
	return k->name ? k->name : k->orig;
}

/* Apply a text value; typed checks first, then the key's own. */
static int apply_key(struct loader *ld, const struct key *k, struct azb_cred *cred,
		     const char *v, char *err, size_t len)
{
	long n = 0;
	bool b = false;

	if (k->type == V_INT && azb_parse_int(v, k->min, k->max, &n) < 0)
		return azb_err(err, len, "%s must be a whole number from %ld to %ld, not \"%s\"",
			       key_label(k), k->min, k->max, v);
	if (k->type == V_BOOL && parse_bool(v, &b) < 0)
		return azb_err(err, len, "%s must be true or false, not \"%s\"", key_label(k), v);
	if (k->set(ld, cred, v, err, len) < 0)
		return -EINVAL;
	if (k->dead)
		return 1;
	if (k->name && strcmp(k->name, "keep_alive_interval") == 0)
		ld->c->keep_alive_interval = (int)n;
	else if (k->name && strcmp(k->name, "token_lifetime") == 0)
		ld->c->token_lifetime = (int)n;
	else if (k->name && strcmp(k->name, "exit_on_forward_failure") == 0)
		ld->c->exit_on_forward_failure = b;
	else if (k->name && strcmp(k->name, "drain_timeout") == 0)
		ld->c->drain_timeout = (int)n;
	else if (k->name && strcmp(k->name, "stop_timeout") == 0)
		ld->c->stop_timeout = (int)n;
	else if (k->name && strcmp(k->name, "control_privileged_ports") == 0)
		ld->c->control_privileged_ports = b;
	else if (k->name && strcmp(k->name, "connect_timeout") == 0)
		ld->c->connect_timeout = (int)n;
	return 0;
}

bool cfg_key_is_secret(const char *key)
{
	const struct key *k = find_key(key, true);

	return k && (k->set == set_key || k->set == set_signature || k->set == set_connstr);
}

int cfg_set_global(struct azb_config *c, const char *key, const char *value, char *err,
		   size_t errlen)
{
	struct loader ld = { .c = c, .file = "command line", .dir = (char *)"." };
	const struct key *k = find_key(key, true);

	if (!k)
		return azb_err(err, errlen, "unknown configuration key \"%s\"", key);
	return apply_key(&ld, k, &c->cred, value, err, errlen);
}

/* ---- reading libconfig ------------------------------------------------- */

static int line_of(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

static void error_at(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
	AZB_PRINTF(3, 4);

static void error_at(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_errors_add(ld->errs, ld->file, s ? line_of(s) : 0, "%s", msg);
}

static const char *type_name(enum vtype t)
{
	return t == V_INT ? "a number" : t == V_BOOL ? "true or false" : "a string in quotes";
}

/* A scalar setting as text, if its libconfig type matches. */
static int scalar_text(const config_setting_t *s, enum vtype want, char *buf, size_t len)
{
	int t = config_setting_type(s);

	if (want == V_STR && t == CONFIG_TYPE_STRING)
		snprintf(buf, len, "%s", config_setting_get_string(s));
	else if (want == V_INT && (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64))
		snprintf(buf, len, "%lld", config_setting_get_int64(s));
	else if (want == V_BOOL && t == CONFIG_TYPE_BOOL)
		snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
	else
		return -EINVAL;
	return 0;
}

static void apply_setting(struct loader *ld, const struct key *k, struct azb_cred *cred,
			  const config_setting_t *s)
{
	char text[4096], err[512];

	if (scalar_text(s, k->type, text, sizeof(text)) < 0) {
		error_at(ld, s, "%s must be %s", key_label(k), type_name(k->type));
		return;
	}
	ld->line = line_of(s);
	if (apply_key(ld, k, cred, text, err, sizeof(err)) < 0)
		error_at(ld, s, "%s", err);
	ld->line = 0;
	explicit_bzero(text, sizeof(text));
}

/* Connection strings go first so a file's single keys override them. */
static void apply_creds(struct loader *ld, const config_setting_t *group, struct azb_cred *cred)
{
	const config_setting_t *cs = config_setting_get_member(group, "connection_string");

	if (cs)
		apply_setting(ld, find_key("connection_string", false), cred, cs);
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const struct key *k = find_key(config_setting_name(s), false);

		if (k && k->cred && s != cs)
			apply_setting(ld, k, cred, s);
	}
}

/* ---- forwards ---------------------------------------------------------- */

static const char *const local_ep_keys[] = { "bind_address", "bind_port", "udp",
	"bind_local_socket", "port_name", "host_name", "no_authentication", NULL };
static const char *const remote_ep_keys[] = { "host", "host_port", "port", "udp",
	"local_socket", "port_name", "http", "insecure", "path", NULL };
static const char *const entry_keys[] = { "name", "relay", "expression", "bindings", NULL };

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

static const config_setting_t *member(const config_setting_t *g, const char *name)
{
	return config_setting_get_member(g, name);
}

/* String member, or NULL (with an error when present but not a string). */
static const char *str_member(struct loader *ld, const config_setting_t *g, const char *name)
{
	const config_setting_t *s = member(g, name);

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		error_at(ld, s, "%s must be a string in quotes", name);
		return NULL;
	}
	return config_setting_get_string(s);
}

static bool bool_member(struct loader *ld, const config_setting_t *g, const char *name)
{
	const config_setting_t *s = member(g, name);

	if (!s)
		return false;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		error_at(ld, s, "%s must be true or false", name);
		return false;
	}
	return config_setting_get_bool(s);
}

/* Port member: 1..65535, or -65535..-1 meaning UDP as in the original. */
static int port_member(struct loader *ld, const config_setting_t *g, const char *name,
		       uint16_t *port, bool *udp)
{
	const config_setting_t *s = member(g, name);
	long long v;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
		error_at(ld, s, "%s must be a number", name);
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v == 0 || v > 65535 || v < -65535) {
		error_at(ld, s, "%s %lld is out of range 1..65535 (negative for UDP)", name, v);
		return -EINVAL;
	}
	*port = (uint16_t)(v < 0 ? -v : v);
	if (v < 0)
		*udp = true;
	return 1;
}

static bool check_port_name(struct loader *ld, const config_setting_t *at, const char *n)
{
	char err[300];

	if (bnd_check_port_name(n, err, sizeof(err)) == 0)
		return true;
	error_at(ld, at, "%s", err);
	return false;
}

static const char *base_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b && b[1] ? b + 1 : p;
}

static void default_port_name(struct azb_ep *e)
{
	if (e->kind == AZB_KIND_UNIX)
		e->port_name = xstrdup(base_name(e->socket_path));
	else
		e->port_name = xasprintf("%u%s", e->port, e->kind == AZB_KIND_UDP ? "U" : "");
}

static int set_socket(struct loader *ld, const config_setting_t *g, const char *key,
		      const char *path, struct azb_ep *e)
{
	char err[300];

	if (bnd_check_socket_path(path, err, sizeof(err)) < 0) {
		error_at(ld, member(g, key), "%s", err);
		return -EINVAL;
	}
	e->kind = AZB_KIND_UNIX;
	e->socket_path = xstrdup(path);
	return 0;
}

static int local_ep(struct loader *ld, const config_setting_t *g, struct azb_ep *e)
{
	const char *addr = str_member(ld, g, "bind_address"), *sock = str_member(ld, g, "bind_local_socket");
	const char *pn = str_member(ld, g, "port_name"), *hn = str_member(ld, g, "host_name");
	bool udp = bool_member(ld, g, "udp");
	char err[300];
	int has_port = port_member(ld, g, "bind_port", &e->port, &udp);

	if (has_port < 0)
		return -EINVAL;
	if (!!has_port == !!sock) {
		error_at(ld, g, "give either bind_port or bind_local_socket");
		return -EINVAL;
	}
	e->no_auth = bool_member(ld, g, "no_authentication");
	if (sock) {
		if (set_socket(ld, g, "bind_local_socket", sock, e) < 0)
			return -EINVAL;
	} else {
		e->kind = udp ? AZB_KIND_UDP : AZB_KIND_TCP;
		e->host = xstrdup(addr ? addr : "localhost");
		if (bnd_check_bind_address(e->host, err, sizeof(err)) < 0) {
			error_at(ld, member(g, "bind_address"), "%s", err);
			return -EINVAL;
		}
	}
	/* It becomes a line in /etc/hosts: a host name and nothing else. */
	if (hn && !hosts_valid_name(hn)) {
		error_at(ld, member(g, "host_name"), "host_name \"%s\" is not a host name: labels of "
			 "letters, digits and '-' (not first or last), 63 characters each, 253 in "
			 "all, not an address", hn);
		return -EINVAL;
	}
	if (hn)
		e->host_name = xstrdup(hn);
	if (pn && !check_port_name(ld, member(g, "port_name"), pn))
		return -EINVAL;
	if (pn)
		e->port_name = xstrdup(pn);
	else
		default_port_name(e);
	return 0;
}

static int http_ep(struct loader *ld, const config_setting_t *g, struct azb_ep *e, bool has_port)
{
	const char *path = str_member(ld, g, "path");
	char err[300];

	if (!e->port_name || (strcmp(e->port_name, "http") && strcmp(e->port_name, "https"))) {
		error_at(ld, g, "an HTTP forward needs port_name \"http\" or \"https\" (the scheme)");
		return -EINVAL;
	}
	e->kind = AZB_KIND_HTTP;
	if (path && bnd_check_http_path(path, err, sizeof(err)) < 0) {
		error_at(ld, member(g, "path"), "%s", err);
		return -EINVAL;
	}
	if (!has_port)
		e->port = strcmp(e->port_name, "https") ? 80 : 443;
	if (!path || !*path || strcmp(path, "/") == 0)
		e->http_path = xstrdup("/");
	else
		e->http_path = xasprintf("%s%s%s", path[0] == '/' ? "" : "/", path,
					 path[strlen(path) - 1] == '/' ? "" : "/");
	return 0;
}

static int remote_ep(struct loader *ld, const config_setting_t *g, struct azb_ep *e, bool http)
{
	const char *host = str_member(ld, g, "host"), *sock = str_member(ld, g, "local_socket");
	const char *pn = str_member(ld, g, "port_name");
	bool udp = bool_member(ld, g, "udp");
	int has_port = port_member(ld, g, member(g, "host_port") ? "host_port" : "port", &e->port, &udp);

	if (has_port < 0 || (pn && !check_port_name(ld, member(g, "port_name"), pn)))
		return -EINVAL;
	e->port_name = pn ? xstrdup(pn) : NULL;
	e->insecure = bool_member(ld, g, "insecure");
	http = http || bool_member(ld, g, "http");
	if (http || e->insecure || member(g, "path")) {
		e->host = xstrdup(host ? host : "localhost");
		if (!http) {
			error_at(ld, g, "insecure and path belong to HTTP forwards (http = true)");
			return -EINVAL;
		}
		return http_ep(ld, g, e, has_port);
	}
	if (!!has_port == !!sock) {
		error_at(ld, g, "give either host_port or local_socket");
		return -EINVAL;
	}
	if (sock) {
		if (set_socket(ld, g, "local_socket", sock, e) < 0)
			return -EINVAL;
	} else {
		e->kind = udp ? AZB_KIND_UDP : AZB_KIND_TCP;
		e->host = xstrdup(host ? host : "localhost");
	}
	if (!e->port_name)
		default_port_name(e);
	return 0;
}

static int add_ep(struct loader *ld, struct azb_fwd *f, const config_setting_t *g, bool http)
{
	struct azb_ep *e = bnd_fwd_add_ep(f);

	return f->dir == AZB_DIR_LOCAL ? local_ep(ld, g, e) : remote_ep(ld, g, e, http);
}

static bool check_keys(struct loader *ld, const config_setting_t *g, const char *const *ep_keys,
		       bool entry)
{
	bool ok = true;

	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(s);
		const struct key *k = find_key(n, false);

		if (in_list(ep_keys, n) || (entry && (in_list(entry_keys, n) || (k && k->cred))))
			continue;
		error_at(ld, s, "unknown key '%s'%s", n, entry ? "" : " in a binding");
		ok = false;
	}
	return ok;
}

static bool has_ep_keys(const config_setting_t *g, const char *const *ep_keys)
{
	for (const char *const *k = ep_keys; *k; k++)
		if (member(g, *k) && strcmp(*k, "http") != 0)
			return true;
	return false;
}

static int endpoints_from_keys(struct loader *ld, struct azb_fwd *f, const config_setting_t *g,
			       const char *const *ep_keys)
{
	const config_setting_t *b = member(g, "bindings");
	bool http = f->dir == AZB_DIR_REMOTE && bool_member(ld, g, "http");
	int r = 0;

	if (!b)
		return add_ep(ld, f, g, false);
	if (has_ep_keys(g, ep_keys)) {
		error_at(ld, b, "use either bindings or the single-binding keys, not both");
		return -EINVAL;
	}
	if (!config_setting_is_list(b) || config_setting_length(b) == 0) {
		error_at(ld, b, "bindings must be a non-empty list ( { ... }, ... )");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(b) && r == 0; i++) {
		const config_setting_t *e = config_setting_get_elem(b, (unsigned)i);

		if (!config_setting_is_group(e)) {
			error_at(ld, e, "each binding must be a group { ... }");
			return -EINVAL;
		}
		if (!check_keys(ld, e, ep_keys, false))
			return -EINVAL;
		r = add_ep(ld, f, e, http);
	}
	return r;
}

static int from_expression(struct loader *ld, const config_setting_t *g, enum azb_dir dir,
			   const char *expr, const char *const *ep_keys, struct azb_fwd **f)
{
	bool http = dir == AZB_DIR_REMOTE && bool_member(ld, g, "http");
	char err[512];
	int r;

	if (member(g, "relay") || member(g, "bindings") || has_ep_keys(g, ep_keys)) {
		error_at(ld, member(g, "expression"),
			 "expression cannot be combined with relay, bindings or binding keys");
		return -EINVAL;
	}
	if (dir == AZB_DIR_LOCAL)
		r = bnd_parse_local(expr, f, err, sizeof(err));
	else if (http)
		r = bnd_parse_http(expr, f, err, sizeof(err));
	else
		r = bnd_parse_remote(expr, f, err, sizeof(err));
	if (r < 0)
		error_at(ld, member(g, "expression"), "%s", err);
	return r;
}

static int from_keys(struct loader *ld, const config_setting_t *g, enum azb_dir dir,
		     const char *const *ep_keys, struct azb_fwd **out)
{
	const char *relay = str_member(ld, g, "relay");
	struct azb_fwd *f;
	char err[300];

	if (!relay) {
		error_at(ld, g, "a forward needs relay (or an expression)");
		return -EINVAL;
	}
	if (bnd_check_relay_name(relay, err, sizeof(err)) < 0) {
		error_at(ld, member(g, "relay"), "%s", err);
		return -EINVAL;
	}
	f = bnd_fwd_new(dir);
	f->relay = xstrdup(relay);
	if (endpoints_from_keys(ld, f, g, ep_keys) < 0) {
		bnd_fwd_free(f);
		return -EINVAL;
	}
	*out = f;
	return 0;
}

static bool has_cred_keys(const config_setting_t *g)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const struct key *k = find_key(config_setting_name(config_setting_get_elem(g, (unsigned)i)),
					       false);

		if (k && k->cred)
			return true;
	}
	return false;
}

static struct azb_fwd *parse_forward(struct loader *ld, const config_setting_t *g, enum azb_dir dir)
{
	const char *const *ep_keys = dir == AZB_DIR_LOCAL ? local_ep_keys : remote_ep_keys;
	const char *expr = str_member(ld, g, "expression"), *name = str_member(ld, g, "name");
	size_t before = ld->errs->n;
	struct azb_fwd *f = NULL;
	char err[300];

	if (!check_keys(ld, g, ep_keys, true))
		return NULL;
	if ((expr ? from_expression(ld, g, dir, expr, ep_keys, &f) :
		    from_keys(ld, g, dir, ep_keys, &f)) < 0)
		return NULL;
	if (name && bnd_check_binding_name(name, err, sizeof(err)) < 0)
		error_at(ld, member(g, "name"), "%s", err);
	f->name = name ? xstrdup(name) : bnd_derive_name(f);
	if (has_cred_keys(g)) {
		f->cred = xcalloc(1, sizeof(*f->cred));
		apply_creds(ld, g, f->cred);
	}
	f->origin_file = xstrdup(ld->file);
	f->origin_line = line_of(g);
	if (ld->errs->n != before) {
		bnd_fwd_free(f);
		return NULL;
	}
	return f;
}

static void parse_forwards(struct loader *ld, const config_setting_t *list, enum azb_dir dir,
			   struct azb_fwd ***seen, size_t *n_seen)
{
	if (!config_setting_is_list(list)) {
		error_at(ld, list, "%s must be a list ( { ... }, ... )", config_setting_name(list));
		return;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct azb_fwd *f;

		if (!config_setting_is_group(g)) {
			error_at(ld, g, "each forward must be a group { ... }");
			continue;
		}
		f = parse_forward(ld, g, dir);
		if (!f)
			continue;
		for (size_t j = 0; j < *n_seen; j++) {
			if (strcmp((*seen)[j]->name, f->name) == 0) {
				error_at(ld, g, "a forward named \"%s\" is already defined at line %d",
					 f->name, (*seen)[j]->origin_line);
				bnd_fwd_free(f);
				f = NULL;
				break;
			}
		}
		if (!f)
			continue;
		*seen = xrealloc(*seen, (*n_seen + 1) * sizeof(**seen));
		(*seen)[(*n_seen)++] = f;
	}
}

struct azb_fwd *cfg_parse_fwd(struct azb_config *c, const config_setting_t *g, enum azb_dir dir,
			     const char *what, struct cfg_errors *errs)
{
	struct loader ld = { .c = c, .file = what, .dir = (char *)"/", .errs = errs };

	if (!config_setting_is_group(g)) {
		error_at(&ld, g, "a forward must be a group { ... }");
		return NULL;
	}
	return parse_forward(&ld, g, dir);
}

/* ---- files ------------------------------------------------------------- */

/* control_users = [ "alice", 1001 ]; */
static void apply_user_list(struct loader *ld, const config_setting_t *s)
{
	char err[256], num[24];

	ld->c->n_control_uids = 0;
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *u = config_setting_get_string(e);

		if (!u && config_setting_type(e) == CONFIG_TYPE_INT) {
			snprintf(num, sizeof(num), "%d", config_setting_get_int(e));
			u = num;
		}
		if (!u)
			error_at(ld, e, "control_users takes user names or numeric uids");
		else if (add_control_user(ld->c, u, err, sizeof(err)) < 0)
			error_at(ld, e, "%s", err);
	}
}

static void apply_str_list(struct loader *ld, const struct str_list *l, const config_setting_t *s)
{
	char err[512];

	strs_free(list_in(ld->c, l));
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (!v)
			error_at(ld, e, "%s takes a list of strings", l->key);
		else if (list_add(ld->c, l, v, err, sizeof(err)) < 0)
			error_at(ld, e, "%s", err);
	}
}

static void apply_globals(struct loader *ld, const config_setting_t *root)
{
	apply_creds(ld, root, &ld->c->cred);
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *n = config_setting_name(s);
		const struct key *k = find_key(n, false);

		if (k && k->set == set_control_users && config_setting_is_aggregate(s))
			apply_user_list(ld, s);
		else if (k && str_list_of(k->set) && config_setting_is_aggregate(s))
			apply_str_list(ld, str_list_of(k->set), s);
		else if (k && !k->cred)
			apply_setting(ld, k, NULL, s);
		else if (!k && strcmp(n, "local_forward") && strcmp(n, "remote_forward"))
			error_at(ld, s, "unknown key '%s'", n);
	}
}

static void load_forwards(struct loader *ld, const config_setting_t *root)
{
	struct azb_fwd **seen = NULL;
	size_t n = 0;
	const config_setting_t *l = config_setting_get_member(root, "local_forward");
	const config_setting_t *r = config_setting_get_member(root, "remote_forward");

	if (l)
		parse_forwards(ld, l, AZB_DIR_LOCAL, &seen, &n);
	if (r)
		parse_forwards(ld, r, AZB_DIR_REMOTE, &seen, &n);
	for (size_t i = 0; i < n; i++)
		cfg_put_fwd(ld->c, seen[i]);
	free(seen);
}

static int open_checked(struct loader *ld, const char *path, FILE **f)
{
	char why[160];
	struct stat st;
	int fd = open_regular(path, 0, &st, why, sizeof(why));

	if (fd < 0) {
		if (!why[0])
			snprintf(why, sizeof(why), "cannot read: %s", strerror(-fd));
		cfg_errors_add(ld->errs, path, 0, "%s", why);
		return fd;
	}
	if (config_unsafe(&st, why, sizeof(why)) < 0) {
		cfg_errors_add(ld->errs, path, 0, "%s", why);
		close(fd);
		return -EPERM;
	}
	secret_unsafe(&st, ld->exposed, sizeof(ld->exposed));
	*f = fdopen(fd, "r");
	return *f ? 0 : -errno;
}

static long msg_line(const char *msg, size_t skip)
{
	return strtol(msg + skip, NULL, 10);
}

/* Report a file's messages in line order, whatever order the checks ran. */
static void sort_by_line(struct cfg_errors *e, size_t from, const char *file)
{
	size_t skip = strlen(file) + 1;

	for (size_t i = from + 1; i < e->n; i++) {
		char *m = e->msg[i];
		size_t j = i;

		while (j > from && msg_line(e->msg[j - 1], skip) > msg_line(m, skip)) {
			e->msg[j] = e->msg[j - 1];
			j--;
		}
		e->msg[j] = m;
	}
}

int cfg_load_file(struct azb_config *c, const char *path, struct cfg_errors *errs)
{
	struct loader ld = { .c = c, .file = path, .errs = errs };
	size_t before = errs->n;
	const char *slash = strrchr(path, '/');
	config_t cf;
	FILE *f;

	if (open_checked(&ld, path, &f) < 0)
		return -EINVAL;
	ld.dir = slash ? xstrndup(path, (size_t)(slash - path) + (slash == path)) : xstrdup(".");
	config_init(&cf);
	if (!config_read(&cf, f)) {
		const char *t = config_error_text(&cf);

		cfg_errors_add(errs, path, config_error_line(&cf), "%s%s",
			       strncmp(t, "syntax error", 12) ? "syntax error: " : "", t);
	} else {
		apply_globals(&ld, config_root_setting(&cf));
		load_forwards(&ld, config_root_setting(&cf));
	}
	config_destroy(&cf);
	fclose(f);
	free(ld.dir);
	sort_by_line(errs, before, path);
	return errs->n == before ? 0 : -EINVAL;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int conf_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

static void load_dropins(struct azb_config *c, const char *dir, struct cfg_errors *errs)
{
	struct dirent **list = NULL;
	char why[160];
	struct stat st;
	int n;

	if (stat(dir, &st) == 0 && config_unsafe(&st, why, sizeof(why)) < 0) {
		cfg_errors_add(errs, dir, 0, "the drop-in directory %s", why);
		return;
	}
	n = scandir(dir, &list, conf_file, by_name);

	for (int i = 0; i < n; i++) {
		char *p = xasprintf("%s/%s", dir, list[i]->d_name);

		cfg_load_file(c, p, errs);
		free(p);
		free(list[i]);
	}
	free(list);
	if (n < 0 && errno != ENOENT && errno != ENOTDIR)
		cfg_errors_add(errs, dir, 0, "cannot read the drop-in directory: %s", strerror(errno));
}

int cfg_load(const char *path, const char *dropin_dir, struct azb_config **out,
	     struct cfg_errors *errs)
{
	struct azb_config *c = cfg_new();
	char *dir = dropin_dir ? xstrdup(dropin_dir) : xasprintf("%s.d", path);
	size_t before = errs->n;

	cfg_load_file(c, path, errs);
	load_dropins(c, dir, errs);
	free(dir);
	if (errs->n != before) {
		cfg_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

/* ---- whole-config checks ------------------------------------------------ */

static void merge_field(char **dst, const char *global)
{
	if (!*dst && global)
		*dst = xstrdup(global);
}

void cfg_effective_cred(const struct azb_config *c, const struct azb_fwd *f, struct azb_cred *out)
{
	memset(out, 0, sizeof(*out));
	if (f->cred)
		cfg_cred_copy(out, f->cred);
	merge_field(&out->endpoint, c->cred.endpoint);
	/* A forward's own key or signature is one unit: do not mix it with
	 * the global rule's parts. */
	if (!out->key_name && !out->key && !out->signature && !out->entra) {
		merge_field(&out->key_name, c->cred.key_name);
		merge_field(&out->key, c->cred.key);
		merge_field(&out->key_file, c->cred.key_file);
		merge_field(&out->signature, c->cred.signature);
		out->entra = c->cred.entra;
	}
}

static bool all_no_auth(const struct azb_fwd *f)
{
	for (size_t i = 0; i < f->n_ep; i++)
		if (!f->ep[i].no_auth)
			return false;
	return f->dir == AZB_DIR_LOCAL && f->n_ep;
}

static void where(const struct azb_fwd *f, const char **file, int *line)
{
	*file = f->origin_file ? f->origin_file : "command line";
	*line = f->origin_file ? f->origin_line : 0;
}

bool cfg_fwd_has_credentials(const struct azb_config *c, const struct azb_fwd *f)
{
	struct azb_cred cr;
	bool ok;

	cfg_effective_cred(c, f, &cr);
	ok = cr.endpoint && (all_no_auth(f) || cr.signature || (cr.key_name && cr.key));
	cfg_cred_clear(&cr);
	return ok;
}

static void check_creds(const struct azb_config *c, const struct azb_fwd *f, struct cfg_errors *e,
			struct cfg_errors *w)
{
	struct azb_cred cr;
	const char *file;
	int line;

	where(f, &file, &line);
	cfg_effective_cred(c, f, &cr);
	if (cr.entra && !cr.key && !cr.signature)
		cfg_errors_add(e, file, line, "forward \"%s\": Managed Identity (Entra ID) "
			       "authentication is not supported by this version", f->name);
	else if (!cr.endpoint)
		cfg_errors_add(w ? w : e, file, line, "forward \"%s\": no endpoint (set endpoint, "
			       "a connection string or -e)", f->name);
	else if (!cfg_fwd_has_credentials(c, f))
		cfg_errors_add(w ? w : e, file, line, "forward \"%s\": no credentials (set "
			       "shared_access_key_name with shared_access_key or "
			       "shared_access_key_file, shared_access_signature, or a connection "
			       "string)", f->name);
	cfg_cred_clear(&cr);
}

static char *listen_key(const struct azb_ep *e)
{
	if (e->kind == AZB_KIND_UNIX)
		return xasprintf("unix socket %s", e->socket_path);
	return xasprintf("%s %s:%u", e->kind == AZB_KIND_UDP ? "udp" : "tcp", e->host, e->port);
}

static void check_listens(const struct azb_config *c, struct cfg_errors *e)
{
	for (size_t i = 0; i < c->n_fwd; i++) {
		for (size_t a = 0; c->fwd[i]->dir == AZB_DIR_LOCAL && a < c->fwd[i]->n_ep; a++) {
			char *ka = listen_key(&c->fwd[i]->ep[a]);

			for (size_t j = i; j < c->n_fwd; j++) {
				if (c->fwd[j]->dir != AZB_DIR_LOCAL)
					continue;
				for (size_t b = j == i ? a + 1 : 0; b < c->fwd[j]->n_ep; b++) {
					char *kb = listen_key(&c->fwd[j]->ep[b]);
					const char *file;
					int line;

					where(c->fwd[j], &file, &line);
					if (strcmp(ka, kb) == 0)
						cfg_errors_add(e, file, line, "forward \"%s\": %s is "
							       "already used by forward \"%s\"",
							       c->fwd[j]->name, kb, c->fwd[i]->name);
					free(kb);
				}
			}
			free(ka);
		}
	}
}

int cfg_validate(const struct azb_config *c, struct cfg_errors *errs, struct cfg_errors *warns)
{
	size_t before = errs->n;

	for (size_t i = 0; i < c->n_fwd; i++)
		check_creds(c, c->fwd[i], errs, warns);
	check_listens(c, errs);
	return errs->n == before ? 0 : -EINVAL;
}

/* ---- printing ---------------------------------------------------------- */

static void put_quoted(struct sbuf *b, const char *v)
{
	sbuf_addc(b, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_addc(b, '\\');
		sbuf_addc(b, *p);
	}
	sbuf_addc(b, '"');
}

static void put_str(struct sbuf *b, const char *ind, const char *k, const char *v)
{
	if (!v)
		return;
	sbuf_printf(b, "%s%s = ", ind, k);
	put_quoted(b, v);
	sbuf_add(b, ";\n");
}

static void put_list(struct sbuf *b, const char *k, const struct azb_strs *l)
{
	if (!l->n)
		return;
	sbuf_printf(b, "%s = [ ", k);
	for (size_t i = 0; i < l->n; i++) {
		sbuf_add(b, i ? ", " : "");
		put_quoted(b, l->v[i]);
	}
	sbuf_add(b, " ];\n");
}

static void put_secret(struct sbuf *b, const char *ind, const char *k, const char *v, bool show)
{
	if (!v)
		return;
	if (!show)
		sbuf_printf(b, "%s# %s is set but not shown\n", ind, k);
	put_str(b, ind, k, show ? v : LOG_REDACTED);
}

static void print_cred(struct sbuf *b, const char *ind, const struct azb_cred *c, bool show)
{
	put_str(b, ind, "endpoint", c->endpoint);
	put_str(b, ind, "shared_access_key_name", c->key_name);
	if (c->key_file)
		put_str(b, ind, "shared_access_key_file", c->key_file);
	else
		put_secret(b, ind, "shared_access_key", c->key, show);
	put_secret(b, ind, "shared_access_signature", c->signature, show);
	if (c->entra)
		put_str(b, ind, "authentication", "Managed Identity");
}

static void print_local_ep(struct sbuf *b, const struct azb_ep *e)
{
	if (e->kind == AZB_KIND_UNIX) {
		put_str(b, "", "bind_local_socket", e->socket_path);
	} else {
		put_str(b, "", "bind_address", e->host);
		sbuf_printf(b, "bind_port = %u;\n", e->port);
		if (e->kind == AZB_KIND_UDP)
			sbuf_add(b, "udp = true;\n");
	}
	put_str(b, "", "port_name", e->port_name);
	put_str(b, "", "host_name", e->host_name);
	if (e->no_auth)
		sbuf_add(b, "no_authentication = true;\n");
}

static void print_remote_ep(struct sbuf *b, const struct azb_ep *e)
{
	if (e->kind == AZB_KIND_UNIX) {
		put_str(b, "", "local_socket", e->socket_path);
	} else {
		put_str(b, "", "host", e->host);
		sbuf_printf(b, "host_port = %u;\n", e->port);
		if (e->kind == AZB_KIND_UDP)
			sbuf_add(b, "udp = true;\n");
		if (e->kind == AZB_KIND_HTTP) {
			sbuf_add(b, "http = true;\n");
			put_str(b, "", "path", e->http_path);
			if (e->insecure)
				sbuf_add(b, "insecure = true;\n");
		}
	}
	put_str(b, "", "port_name", e->port_name);
}

/* One binding per line: "{ key = v; key = v; }". */
static void print_ep(struct sbuf *b, const struct azb_fwd *f, const struct azb_ep *e, bool last)
{
	struct sbuf one;

	sbuf_init(&one);
	if (f->dir == AZB_DIR_LOCAL)
		print_local_ep(&one, e);
	else
		print_remote_ep(&one, e);
	for (char *p = one.s; *p; p++)
		if (*p == '\n')
			*p = p[1] ? ' ' : '\0';
	sbuf_printf(b, "      { %s }%s\n", one.s, last ? "" : ",");
	sbuf_free(&one);
}

static void print_forwards(struct sbuf *b, const struct azb_config *c, enum azb_dir dir, bool show)
{
	size_t n = 0, done = 0;

	for (size_t i = 0; i < c->n_fwd; i++)
		n += c->fwd[i]->dir == dir;
	if (!n)
		return;
	sbuf_printf(b, "\n%s = (\n", dir == AZB_DIR_LOCAL ? "local_forward" : "remote_forward");
	for (size_t i = 0; i < c->n_fwd; i++) {
		const struct azb_fwd *f = c->fwd[i];

		if (f->dir != dir)
			continue;
		sbuf_add(b, "  {\n");
		put_str(b, "    ", "name", f->name);
		put_str(b, "    ", "relay", f->relay);
		if (f->cred)
			print_cred(b, "    ", f->cred, show);
		sbuf_add(b, "    bindings = (\n");
		for (size_t k = 0; k < f->n_ep; k++)
			print_ep(b, f, &f->ep[k], k + 1 == f->n_ep);
		sbuf_printf(b, "    );\n  }%s\n", ++done == n ? "" : ",");
	}
	sbuf_add(b, ");\n");
}

char *cfg_print_fwd(const struct azb_fwd *f)
{
	struct azb_fwd *one[1] = { (struct azb_fwd *)f };
	struct azb_config c = { .n_fwd = 1, .fwd = one };
	struct sbuf b;

	sbuf_init(&b);
	sbuf_printf(&b, "# Forward \"%s\", written by azbridgectl add; see azbridge.conf(5).\n",
		    f->name);
	print_forwards(&b, &c, f->dir, false);   /* add refuses credentials anyway */
	return sbuf_take(&b);
}

/* Daemon keys appear only when set, so older goldens keep their shape. */
static void print_daemon(struct sbuf *b, const struct azb_config *c)
{
	if (c->control_socket_set)
		put_str(b, "", "control_socket", c->control_socket ? c->control_socket : "none");
	put_str(b, "", "control_group", c->control_group);
	if (c->n_control_uids) {
		sbuf_add(b, "control_users = [ ");
		for (size_t i = 0; i < c->n_control_uids; i++)
			sbuf_printf(b, "%s%u", i ? ", " : "", c->control_uids[i]);
		sbuf_add(b, " ];\n");
	}
	put_list(b, "control_socket_dirs", &c->control_socket_dirs);
	if (c->control_privileged_ports)
		sbuf_add(b, "control_privileged_ports = true;\n");
	put_list(b, "control_host_names", &c->control_host_names);
	put_str(b, "", "hosts_file", c->hosts_file);
	if (c->drain_timeout != AZB_DRAIN_TIMEOUT_DEFAULT)
		sbuf_printf(b, "drain_timeout = %d;\n", c->drain_timeout);
	if (c->stop_timeout != AZB_STOP_TIMEOUT_DEFAULT)
		sbuf_printf(b, "stop_timeout = %d;\n", c->stop_timeout);
	if (c->connect_timeout != AZB_CONNECT_TIMEOUT_DEFAULT)
		sbuf_printf(b, "connect_timeout = %d;\n", c->connect_timeout);
}

char *cfg_print(const struct azb_config *c, bool show_secrets)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_add(&b, "# azbridged configuration, merged and normalised\n");
	print_cred(&b, "", &c->cred, show_secrets);
	put_str(&b, "", "bind_address", c->bind_address);
	sbuf_printf(&b, "keep_alive_interval = %d;\n", c->keep_alive_interval);
	sbuf_printf(&b, "token_lifetime = %d;\n", c->token_lifetime);
	put_str(&b, "", "log_level", log_level_name(c->log_level));
	put_str(&b, "", "log_file", c->log_file);
	put_str(&b, "", "ca_file", c->ca_file);
	sbuf_printf(&b, "exit_on_forward_failure = %s;\n", c->exit_on_forward_failure ? "true" : "false");
	print_daemon(&b, c);
	print_forwards(&b, c, AZB_DIR_LOCAL, show_secrets);
	print_forwards(&b, c, AZB_DIR_REMOTE, show_secrets);
	return sbuf_take(&b);
}
