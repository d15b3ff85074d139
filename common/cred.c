#include "cred.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connstr.h"
#include "url.h"
#include "util.h"

/* ---- the value --------------------------------------------------------- */

void cred_clear(struct azb_cred *c)
{
	free(c->endpoint);
	free(c->key_name);
	azb_free_secret(c->key);
	free(c->key_file);
	azb_free_secret(c->signature);
	free(c->connstr_file);
	free(c->credential);
	cred_proxy_clear(&c->proxy);
	memset(c, 0, sizeof(*c));
}

void cred_proxy_clear(struct azb_proxy *p)
{
	free(p->url);
	free(p->user);
	azb_free_secret(p->password);
	free(p->password_file);
	memset(p, 0, sizeof(*p));
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void cred_proxy_copy(struct azb_proxy *dst, const struct azb_proxy *src)
{
	dst->url = dup_or_null(src->url);
	dst->user = dup_or_null(src->user);
	dst->password = dup_or_null(src->password);
	dst->password_file = dup_or_null(src->password_file);
}

void cred_copy(struct azb_cred *dst, const struct azb_cred *src)
{
	dst->endpoint = dup_or_null(src->endpoint);
	dst->key_name = dup_or_null(src->key_name);
	dst->key = dup_or_null(src->key);
	dst->key_file = dup_or_null(src->key_file);
	dst->signature = dup_or_null(src->signature);
	dst->connstr_file = dup_or_null(src->connstr_file);
	dst->credential = dup_or_null(src->credential);
	dst->entra = src->entra;
	cred_proxy_copy(&dst->proxy, &src->proxy);
}

bool cred_equal(const struct azb_cred *a, const struct azb_cred *b)
{
	return azb_streq(a->endpoint, b->endpoint) && azb_streq(a->key_name, b->key_name) &&
	       azb_streq(a->key, b->key) && azb_streq(a->key_file, b->key_file) &&
	       azb_streq(a->signature, b->signature) &&
	       azb_streq(a->connstr_file, b->connstr_file) &&
	       azb_streq(a->credential, b->credential) && a->entra == b->entra &&
	       azb_streq(a->proxy.url, b->proxy.url) && azb_streq(a->proxy.user, b->proxy.user) &&
	       azb_streq(a->proxy.password, b->proxy.password) &&
	       azb_streq(a->proxy.password_file, b->proxy.password_file);
}

bool cred_has_proxy(const struct azb_cred *c)
{
	return c->proxy.url || c->proxy.user || c->proxy.password_file;
}

bool cred_has_auth(const struct azb_cred *c)
{
	return c->key_name || c->key || c->signature || c->credential || c->entra;
}

const char *const cred_kinds[] = { "default", "environment", "workload-identity",
				   "managed-identity", "azure-cli", NULL };

bool cred_is_entra(const struct azb_cred *c)
{
	return !c->key_name && !c->key && !c->signature;
}

const char *cred_entra_kind(const struct azb_cred *c)
{
	return c->credential ? c->credential : cred_kinds[0];
}

bool cred_gives_token(const struct azb_cred *c)
{
	return c->signature || (c->key_name && c->key) || cred_is_entra(c);
}

static void merge_field(char **dst, const char *global)
{
	if (!*dst && global)
		*dst = xstrdup(global);
}

void cred_effective(const struct azb_cred *own, const struct azb_cred *global,
		    struct azb_cred *out)
{
	memset(out, 0, sizeof(*out));
	if (own)
		cred_copy(out, own);
	/* The proxy group whole, as the way to authenticate: one proxy's user
	 * with another's password opens nothing. */
	if (!own || !cred_has_proxy(own))
		cred_proxy_copy(&out->proxy, &global->proxy);
	merge_field(&out->endpoint, global->endpoint);
	/* A key name of one rule with the key of another signs nothing the
	 * relay accepts, and would hide which one the user meant. */
	if (cred_has_auth(out))
		return;
	merge_field(&out->key_name, global->key_name);
	merge_field(&out->key, global->key);
	merge_field(&out->key_file, global->key_file);
	merge_field(&out->signature, global->signature);
	merge_field(&out->connstr_file, global->connstr_file);
	merge_field(&out->credential, global->credential);
	out->entra = global->entra;
}

/* ---- setters ----------------------------------------------------------- */

int cred_set_endpoint(struct azb_cred *c, const char *v, char *err, size_t errlen)
{
	char *host = NULL;
	uint16_t port;

	/* ';' or a blank: a connection string or token in the wrong key. */
	if (strpbrk(v, "; \t"))
		return azb_err(err, errlen, "endpoint is not sb://HOST[:PORT]/ (a connection string "
			       "goes in connection_string): \"%s\"", v);
	if (url_endpoint(v, &host, &port) < 0)
		return azb_err(err, errlen, "endpoint \"%s\" is not sb://HOST[:PORT]/", v);
	free(host);
	azb_set_str(&c->endpoint, v);
	return 0;
}

int cred_set_key_name(struct azb_cred *c, const char *v, char *err, size_t errlen)
{
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return azb_err(err, errlen, "shared_access_key_name \"%s\" may hold only "
				       "letters, digits, '-' and '_'", v);
	if (!*v)
		return azb_err(err, errlen, "shared_access_key_name is empty");
	azb_set_str(&c->key_name, v);
	return 0;
}

/* Takes key; an inline key replaces one read from a file. Whatever sets a
 * key or a signature after a connection string's file was read ends its
 * claim to them. */
static void put_key(struct azb_cred *c, char *key, char *key_file)
{
	azb_free_secret(c->key);
	c->key = key;
	free(c->key_file);
	c->key_file = key_file;
	azb_set_str(&c->connstr_file, NULL);
}

static void put_signature(struct azb_cred *c, const char *sig)
{
	azb_free_secret(c->signature);
	c->signature = xstrdup(sig);
	azb_set_str(&c->connstr_file, NULL);
}

int cred_set_key(struct azb_cred *c, const char *v, char *err, size_t errlen)
{
	if (!cs_valid_base64(v))
		return azb_err(err, errlen, "shared_access_key is not valid base64");
	put_key(c, xstrdup(v), NULL);
	return 0;
}

char *cred_locate(const char *v, const char *dir)
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
	return xasprintf("%s/%s", dir, v);
}

typedef int (*secret_reader)(const char *path, char **out, char *err, size_t errlen);

/* Locate v, read it with read; *where gets the absolute path, so a printed
 * config still finds the file from anywhere. */
static int read_located(const char *v, const char *dir, secret_reader read, char **out,
			char **where, char *err, size_t errlen)
{
	char *path = cred_locate(v, dir), *abs;

	if (read(path, out, err, errlen) < 0) {
		free(path);
		return -EINVAL;
	}
	abs = realpath(path, NULL);
	if (abs)
		free(path);
	*where = abs ? abs : path;
	return 0;
}

int cred_set_key_file(struct azb_cred *c, const char *v, const char *dir, char *err,
		      size_t errlen)
{
	char *key = NULL, *where;

	if (read_located(v, dir, cred_read_key_file, &key, &where, err, errlen) < 0)
		return -EINVAL;
	put_key(c, key, where);
	return 0;
}

int cred_set_signature(struct azb_cred *c, const char *v, char *err, size_t errlen)
{
	if (!*v)
		return azb_err(err, errlen, "shared_access_signature is empty");
	put_signature(c, v);
	return 0;
}

int cred_set_credential(struct azb_cred *c, const char *v, char *err, size_t errlen)
{
	for (size_t i = 0; cred_kinds[i]; i++) {
		if (strcmp(v, cred_kinds[i]) == 0) {
			azb_set_str(&c->credential, v);
			return 0;
		}
	}
	return azb_err(err, errlen, "credential \"%s\" is not one of default, environment, "
		       "workload-identity, managed-identity, azure-cli", v);
}

int cred_set_authentication(struct azb_cred *c, const char *v, char *err, size_t errlen)
{
	if (strcasecmp(v, "Managed Identity") && strcasecmp(v, "ManagedIdentity"))
		return azb_err(err, errlen, "authentication \"%s\" is not \"Managed Identity\"", v);
	c->entra = true;
	return 0;
}

int cred_from_connstr(struct azb_cred *c, const char *s, char *err, size_t errlen)
{
	struct azb_connstr cs;
	int r = cs_parse(s, &cs, err, errlen);

	if (r < 0)
		return r;
	if (cs.endpoint)
		azb_set_str(&c->endpoint, cs.endpoint);
	if (cs.key_name)
		azb_set_str(&c->key_name, cs.key_name);
	if (cs.key)
		put_key(c, xstrdup(cs.key), NULL);
	if (cs.signature)
		put_signature(c, cs.signature);
	if (cs.authentication)
		c->entra = true;
	cs_clear(&cs);
	return 0;
}

/* Only a plain http:// proxy: TLS to the relay runs inside its tunnel.
 * Credentials have keys of their own, out of a file others may read. */
int cred_set_proxy(struct azb_cred *c, const char *v, char *err, size_t errlen)
{
	struct url_parts p;
	const char *auth = strstr(v, "://");

	if (!*v || strcmp(v, "direct") == 0) {
		azb_set_str(&c->proxy.url, v);
		return 0;
	}
	if (auth && memchr(auth, '@', strcspn(auth + 3, "/?#") + 3))
		return azb_err(err, errlen, "proxy must not hold a user or password: set proxy_user "
			       "and proxy_password_file");
	if (url_split(v, &p) < 0 || strcmp(p.scheme, "http") != 0 || strcmp(p.path, "/") != 0) {
		url_parts_clear(&p);
		return azb_err(err, errlen, "proxy \"%s\" is not http://HOST[:PORT], \"direct\" or "
			       "\"\"", v);
	}
	url_parts_clear(&p);
	azb_set_str(&c->proxy.url, v);
	return 0;
}

int cred_set_proxy_user(struct azb_cred *c, const char *v, char *err, size_t errlen)
{
	/* ':' ends the user in Basic credentials; controls would break the header. */
	for (const char *p = v; *p; p++)
		if (*p == ':' || (unsigned char)*p < ' ' || *p == 0x7f)
			return azb_err(err, errlen, "proxy_user may not hold ':' or control characters");
	if (!*v)
		return azb_err(err, errlen, "proxy_user is empty");
	azb_set_str(&c->proxy.user, v);
	return 0;
}

int cred_set_proxy_password_file(struct azb_cred *c, const char *v, const char *dir, char *err,
				 size_t errlen)
{
	char *pw = NULL, *where;

	if (read_located(v, dir, cred_read_secret_file, &pw, &where, err, errlen) < 0)
		return -EINVAL;
	azb_free_secret(c->proxy.password);
	c->proxy.password = pw;
	free(c->proxy.password_file);
	c->proxy.password_file = where;
	return 0;
}

int cred_set_connstr_file(struct azb_cred *c, const char *v, const char *dir, char *err,
			  size_t errlen)
{
	char *text = NULL, *where, why[400];
	int r;

	if (read_located(v, dir, cred_read_secret_file, &text, &where, err, errlen) < 0)
		return -EINVAL;
	r = cred_from_connstr(c, text, why, sizeof(why));
	azb_free_secret(text);
	if (r < 0) {
		azb_err(err, errlen, "%s: %s", where, why);
		free(where);
		return -EINVAL;
	}
	free(c->connstr_file);
	c->connstr_file = where;
	return 0;
}

/* ---- files that hold secrets ------------------------------------------- */

int cred_open_file(const char *path, int flags, struct stat *st, char *why, size_t len)
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

int cred_file_exposed(const struct stat *st, char *why, size_t len)
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

int cred_open_secret_file(const char *path, char *err, size_t errlen)
{
	char why[160];
	struct stat st;
	int fd = cred_open_file(path, O_NOFOLLOW, &st, why, sizeof(why)), r;

	if (fd < 0)
		return azb_errn(err, errlen, fd, "%s: %s", path, why[0] ? why : strerror(-fd));
	r = cred_file_exposed(&st, why, sizeof(why));
	if (r < 0) {
		close(fd);
		return azb_errn(err, errlen, r, "%s holds a secret but %s", path, why);
	}
	return fd;
}

/* One line of a secret file into *out; 1 when the file holds something
 * else. */
static int read_line(const char *path, char **out, char *err, size_t errlen)
{
	char buf[1024];
	ssize_t n;
	int fd = cred_open_secret_file(path, err, errlen);

	if (fd < 0)
		return fd;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return azb_err(err, errlen, "%s: %s", path, strerror(errno));
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0 || (size_t)n == sizeof(buf) - 1 || memchr(buf, '\n', (size_t)n)) {
		explicit_bzero(buf, sizeof(buf));
		return 1;
	}
	*out = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

int cred_read_secret_file(const char *path, char **out, char *err, size_t errlen)
{
	int r = read_line(path, out, err, errlen);

	if (r > 0)
		return azb_err(err, errlen, "%s does not hold one line of up to 1022 bytes", path);
	return r;
}

int cred_read_key_file(const char *path, char **key, char *err, size_t errlen)
{
	int r = read_line(path, key, err, errlen);

	if (r == 0 && !cs_valid_base64(*key)) {
		azb_free_secret(*key);
		*key = NULL;
		r = 1;
	}
	if (r > 0)
		return azb_err(err, errlen, "%s does not hold one base64 key", path);
	return r;
}
