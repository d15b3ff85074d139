/* Credentials for a relay: its endpoint and a way to get a token (a SAS
 * rule's key name and key, inline or from a key file, a pre-issued
 * signature, or, when none of those is given, an Entra ID token from the
 * credential named by `credential`). Global in the configuration, or a
 * forward's own. Below both the configuration and the rule grammar: it calls
 * neither. */
#ifndef AZB_CRED_H
#define AZB_CRED_H

#include <stdbool.h>
#include <stddef.h>

struct stat;

/* How connections to the relay and to identity endpoints leave: the proxy
 * setting ("http://HOST[:PORT]"; "direct" or "": none; NULL: what the
 * environment says, see daemon/proxy.h), and Basic credentials for
 * whichever proxy is used. A forward's group is taken whole. */
struct azb_proxy {
	char *url;
	char *user;
	char *password;         /* secret: from password_file */
	char *password_file;
};

struct azb_cred {
	char *endpoint;         /* "sb://host[:port]/" as given */
	char *key_name;
	char *key;              /* secret: from the file or inline */
	char *key_file;         /* where key came from, if a file */
	char *signature;        /* secret: a pre-issued SAS token */
	char *connstr_file;     /* where key or signature came from, if a connection
				 * string's file: printed in their place */
	/* Entra ID: the credential kind asked for (one of cred_kinds; NULL:
	 * "default"), and whether Authentication=Managed Identity said so.
	 * cred_clear, cred_copy, cred_equal and cred_has_auth are all that
	 * handle the fields one by one. */
	char *credential;
	bool entra;
	struct azb_proxy proxy;
};

/* The Entra ID credential kinds `credential` may name, NULL-terminated;
 * "default" first. */
extern const char *const cred_kinds[];

void cred_clear(struct azb_cred *c);   /* wipes secrets, frees, zeroes */
void cred_proxy_clear(struct azb_proxy *p);
void cred_proxy_copy(struct azb_proxy *dst, const struct azb_proxy *src);
void cred_copy(struct azb_cred *dst, const struct azb_cred *src);
/* Every field, the secrets and where they came from included: a reload
 * rebuilds a forward whose credentials differ in any of them. */
bool cred_equal(const struct azb_cred *a, const struct azb_cred *b);

/* Does c name a way to authenticate (any part of one)? */
bool cred_has_auth(const struct azb_cred *c);
/* Does c ask for Entra ID: no key name, no key and no signature (the
 * original's rule)? */
bool cred_is_entra(const struct azb_cred *c);
/* The Entra ID credential kind c uses ("default" unless one is named). */
const char *cred_entra_kind(const struct azb_cred *c);
/* Can c give a token: a signature, a key name with its key, or Entra ID? */
bool cred_gives_token(const struct azb_cred *c);
/* The credentials a forward uses, into out (overwritten: it holds nothing
 * to free before, and needs cred_clear after): its own
 * endpoint over the global one; its own way to authenticate taken whole,
 * never mixed with the global rule's parts. own may be NULL. */
void cred_effective(const struct azb_cred *own, const struct azb_cred *global,
		    struct azb_cred *out);

/* Setters: check v, then replace the field(s). -EINVAL with a message in
 * err; one about a key or a signature never repeats it, others may quote v
 * (a secret pasted into the wrong key: cfg_errors_add redacts them). */
int cred_set_endpoint(struct azb_cred *c, const char *v, char *err, size_t errlen);
int cred_set_key_name(struct azb_cred *c, const char *v, char *err, size_t errlen);
int cred_set_key(struct azb_cred *c, const char *v, char *err, size_t errlen);
/* A relative path names a file in $CREDENTIALS_DIRECTORY (systemd's
 * LoadCredential=) when one is there, else in dir. The key is read now;
 * key_file keeps the absolute path. */
int cred_set_key_file(struct azb_cred *c, const char *v, const char *dir, char *err,
		      size_t errlen);
int cred_set_signature(struct azb_cred *c, const char *v, char *err, size_t errlen);
int cred_set_credential(struct azb_cred *c, const char *v, char *err, size_t errlen);
int cred_set_authentication(struct azb_cred *c, const char *v, char *err, size_t errlen);
/* Fill c from a connection string (fields it names replace c's). */
int cred_from_connstr(struct azb_cred *c, const char *cs, char *err, size_t errlen);
/* proxy: "http://HOST[:PORT]" (no user or password in it), "direct" or "". */
int cred_set_proxy(struct azb_cred *c, const char *v, char *err, size_t errlen);
int cred_set_proxy_user(struct azb_cred *c, const char *v, char *err, size_t errlen);
/* Located as cred_set_key_file's; read now, checked as a secret file. */
int cred_set_proxy_password_file(struct azb_cred *c, const char *v, const char *dir, char *err,
				 size_t errlen);
/* Does c set any proxy key? */
bool cred_has_proxy(const struct azb_cred *c);
/* The same from a secret file (found as cred_locate says, checked as key
 * files are); connstr_file keeps its absolute path. */
int cred_set_connstr_file(struct azb_cred *c, const char *v, const char *dir, char *err,
			  size_t errlen);

/* Files that may hold a secret: key files, and configuration files (which
 * may hold inline keys). Open path (flags may add O_NOFOLLOW) without
 * blocking on a FIFO and judge that very descriptor, so nothing can be
 * swapped in between: a regular file gives the fd and *st. On a refusal
 * why gets a phrase to follow "path: "; when open itself failed it stays
 * empty. -errno otherwise. */
int cred_open_file(const char *path, int flags, struct stat *st, char *why, size_t len);
/* Why a file may not hold a secret (into why), or 0: only root and this
 * process's effective user may own it, and only the owner may read or
 * write it. */
int cred_file_exposed(const struct stat *st, char *why, size_t len);
/* Open a file that holds a secret (no symbolic link) and check it as
 * above. The fd, or -errno with a message naming the file. */
int cred_open_secret_file(const char *path, char *err, size_t errlen);
/* Where a secret file named v is: v when absolute, else in
 * $CREDENTIALS_DIRECTORY when it is there, else in dir. Free it. */
char *cred_locate(const char *v, const char *dir);
/* Read a secret file (checked as above): one line, trailing newline
 * stripped. */
int cred_read_secret_file(const char *path, char **out, char *err, size_t errlen);
/* Read a key file (trailing newline stripped): one base64 key. */
int cred_read_key_file(const char *path, char **key, char *err, size_t errlen);

#endif
