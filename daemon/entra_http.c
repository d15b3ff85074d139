/* HTTP to identity endpoints, on the worker thread: libcurl with timeouts,
 * a bounded answer, and the token read from its JSON. */
#include "entra_kind.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxy.h"
#include "url.h"
#include "util.h"

/* Token answers are a few KiB; anything far larger is not one. */
#define ENTRA_ANSWER_MAX (64 * 1024)

static atomic_bool stopping;

bool entra_stopping(void)
{
	return atomic_load(&stopping);
}

void entra_set_stopping(bool on)
{
	atomic_store(&stopping, on);
}

int entra_fail(struct entra_result *res, bool unavailable, const char *fmt, ...)
{
	char why[sizeof(res->why)];
	va_list ap;

	/* Through a copy: the arguments may quote res->why itself. */
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	memcpy(res->why, why, sizeof(why));
	res->unavailable = unavailable;
	return unavailable ? -ENOENT : -EIO;
}

const char *entra_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

char *entra_authority(void)
{
	const char *a = entra_env("AZURE_AUTHORITY_HOST");
	size_t n;

	if (!a)
		a = ENTRA_AUTHORITY;
	n = strlen(a);
	while (n && a[n - 1] == '/')
		n--;
	return xasprintf("%.*s/", (int)n, a);
}

/* ---- the answer -------------------------------------------------------- */

static long long json_int(const json_t *v)
{
	const char *s;

	if (json_is_integer(v))
		return json_integer_value(v);
	s = json_string_value(v);
	return s && azb_is_uint(s) && strlen(s) < 19 ? atoll(s) : -1;
}

/* A JWT (or any bearer token) is printable ASCII without blanks: anything
 * else would break the header it goes into. */
static bool token_ok(const char *t)
{
	if (!*t || strlen(t) > 16384)
		return false;
	for (; *t; t++)
		if (*t <= ' ' || *t > '~')
			return false;
	return true;
}

/* An identity endpoint's word on how long a token lasts, taken up to a
 * day: the cache's arithmetic in microseconds must not overflow on an
 * absurd answer, and no Entra ID token lives longer. */
#define ENTRA_LIFE_MAX_S (24 * 3600)

static time_t clamp_expiry(long long at)
{
	long long last = (long long)time(NULL) + ENTRA_LIFE_MAX_S;

	return (time_t)(at > last ? last : at);
}

static time_t answer_expiry(const json_t *o)
{
	long long on = json_int(json_object_get(o, "expires_on"));
	long long in = json_int(json_object_get(o, "expires_in"));

	const char *local = json_string_value(json_object_get(o, "expiresOn"));
	struct tm tm;

	if (on > 1000000000LL)
		return clamp_expiry(on);
	if (in > 0)
		return time(NULL) + (in < ENTRA_LIFE_MAX_S ? (time_t)in : ENTRA_LIFE_MAX_S);
	/* Older Azure CLIs give only local time, "2024-05-01 12:00:00.000000". */
	memset(&tm, 0, sizeof(tm));
	if (local && strptime(local, "%Y-%m-%d %H:%M:%S", &tm)) {
		tm.tm_isdst = -1;
		return clamp_expiry(mktime(&tm));
	}
	return 0;
}

int entra_parse_answer(const char *json, size_t len, struct entra_result *res)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	const char *tok;
	int r = 0;

	if (!json_is_object(o)) {
		json_decref(o);
		return entra_fail(res, false, "the answer is not a JSON object");
	}
	tok = json_string_value(json_object_get(o, "access_token"));
	if (!tok)
		tok = json_string_value(json_object_get(o, "accessToken"));
	res->expiry = answer_expiry(o);
	if (!tok || !token_ok(tok))
		r = entra_fail(res, false, "the answer has no usable access_token");
	else if (res->expiry <= time(NULL))
		r = entra_fail(res, false, "the answer has no expires_in or expires_on in the future");
	else
		res->token = xstrdup(tok);
	json_decref(o);
	return r;
}

/* The error code of an OAuth answer ("error": "invalid_client") or of an
 * Azure one ("error": {"code": ...}), kept to characters safe to log. */
static void error_code(const char *body, size_t len, struct entra_result *res)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	json_t *e = json_object_get(o, "error");
	const char *code = json_is_object(e) ? json_string_value(json_object_get(e, "code")) :
					       json_string_value(e);
	size_t n = 0;

	for (; code && *code && n + 1 < sizeof(res->code); code++)
		if (isalnum((unsigned char)*code) || strchr("_-.", *code))
			res->code[n++] = *code;
	res->code[n] = '\0';
	json_decref(o);
}

/* ---- libcurl, loaded when the first token is fetched ------------------- */

/* Not linked: with the libraries it brings (some thirty: GnuTLS, Kerberos,
 * LDAP, libssh2, ...) libcurl was about 4 MB of every bridge's RSS, idle or
 * not, for the credentials that fetch tokens over HTTP alone. */
#define CURL_SONAME "libcurl.so.4"

static struct curl_api {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode rc);
	void (*easy_cleanup)(CURL *h);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
	CURLUcode (*url_get)(const CURLU *u, CURLUPart what, char **part, unsigned int flags);
	void (*url_cleanup)(CURLU *u);
	void (*free)(void *p);
} cu;
static bool cu_tried, cu_loaded, cu_ready;

#define CURL_SYM(f) { "curl_" #f, offsetof(struct curl_api, f) }
static const struct {
	const char *name;
	size_t off;
} curl_syms[] = {
	CURL_SYM(global_init), CURL_SYM(global_cleanup), CURL_SYM(easy_init),
	CURL_SYM(easy_setopt), CURL_SYM(easy_perform), CURL_SYM(easy_getinfo),
	CURL_SYM(easy_strerror), CURL_SYM(easy_cleanup), CURL_SYM(slist_append),
	CURL_SYM(slist_free_all), CURL_SYM(url), CURL_SYM(url_set), CURL_SYM(url_get),
	CURL_SYM(url_cleanup), CURL_SYM(free),
};

/* Kept loaded once loaded: unloading a library with thread-local state and
 * exit handlers of its own is not safe. */
static int curl_load(void)
{
	void *lib;

	if (cu_tried)
		return -ENOENT;   /* said once */
	cu_tried = true;
	lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		log_error("Entra ID: cannot load %s: %s", CURL_SONAME, dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(curl_syms) / sizeof(curl_syms[0]); i++) {
		void *fn = dlsym(lib, curl_syms[i].name);

		if (!fn) {
			log_error("Entra ID: %s has no %s", CURL_SONAME, curl_syms[i].name);
			dlclose(lib);
			return -ENOENT;
		}
		memcpy((char *)&cu + curl_syms[i].off, &fn, sizeof(fn));
	}
	cu_loaded = true;
	return 0;
}

int entra_curl_open(void)
{
	if (cu_ready)
		return 0;
	if (!cu_loaded && curl_load() < 0)
		return -ENOENT;
	cu_ready = cu.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	return cu_ready ? 0 : -EIO;
}

void entra_curl_close(void)
{
	if (cu_ready)
		cu.global_cleanup();
	cu_ready = false;
}

/* ---- the request ------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sbuf *b = arg;

	if (b->len + size * n > ENTRA_ANSWER_MAX)
		return 0;   /* curl fails the transfer */
	sbuf_addn(b, p, size * n);
	return size * n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)arg;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return entra_stopping();   /* non-zero aborts the transfer */
}

/* The route wsc.c would take, handed to curl whole: it reads no proxy
 * variable of its own then, so both ways out agree. */
static int set_proxy(CURL *h, const char *url, char *via, size_t vlen, char *err, size_t len)
{
	CURLU *u = cu.url();
	char *scheme = NULL, *host = NULL, *proxy;
	struct proxy_route r;
	int e = -EINVAL;

	if (u && cu.url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    cu.url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    cu.url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		size_t n = strlen(host);
		bool v6 = n > 1 && host[0] == '[';

		host[v6 ? n - 1 : n] = '\0';
		e = proxy_route_global(scheme, host + v6, &r, err, len);
	} else {
		azb_err(err, len, "not a URL");
	}
	cu.free(scheme);
	cu.free(host);
	cu.url_cleanup(u);
	if (e < 0)
		return e;
	proxy = r.host ? xasprintf(strchr(r.host, ':') ? "http://[%s]:%u" : "http://%s:%u", r.host,
				   r.port) : xstrdup("");
	snprintf(via, vlen, "%s", r.where ? r.where : "");
	cu.easy_setopt(h, CURLOPT_PROXY, proxy);
	cu.easy_setopt(h, CURLOPT_NOPROXY, "");
	if (r.user) {
		cu.easy_setopt(h, CURLOPT_PROXYAUTH, (long)CURLAUTH_BASIC);
		cu.easy_setopt(h, CURLOPT_PROXYUSERNAME, r.user);
		cu.easy_setopt(h, CURLOPT_PROXYPASSWORD, r.password);
	}
	free(proxy);
	proxy_route_clear(&r);
	return 0;
}

static CURL *easy(const char *url, const char *body, struct curl_slist *hdrs, struct sbuf *b)
{
	CURL *h = cu.easy_init();

	if (!h)
		return NULL;
	cu.easy_setopt(h, CURLOPT_URL, url);
	cu.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)ENTRA_CONNECT_TIMEOUT);
	cu.easy_setopt(h, CURLOPT_TIMEOUT, (long)ENTRA_TIMEOUT);
	cu.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	cu.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	cu.easy_setopt(h, CURLOPT_WRITEDATA, b);
	cu.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	cu.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	if (body)
		cu.easy_setopt(h, CURLOPT_POSTFIELDS, body);
	return h;
}

/* The endpoint without its query, for messages. */
static void where(const char *url, char *out, size_t len)
{
	snprintf(out, len, "%.*s", (int)strcspn(url, "?"), url);
}

static int judge(const char *url, long status, const struct sbuf *b, struct entra_result *res)
{
	char at[160];

	where(url, at, sizeof(at));
	res->status = (int)status;
	if (status == 200)
		return entra_parse_answer(b->s, b->len, res) < 0 ?
			       entra_fail(res, false, "%s: %s", at, res->why) : 0;
	error_code(b->s, b->len, res);
	return entra_fail(res, false, "%s answered HTTP %ld%s%s", at, status,
			  res->code[0] ? " " : "", res->code);
}

/* curl's failure, with the proxy's refusal of the tunnel when that was it. */
static int failed(CURL *h, CURLcode rc, const char *at, const char *via, struct entra_result *res)
{
	long code = 0;

	cu.easy_getinfo(h, CURLINFO_HTTP_CONNECTCODE, &code);
	if (code >= 300)
		return entra_fail(res, false, "%s: %s refused the tunnel: %ld", at, via, code);
	return entra_fail(res, false, "%s: %s%s%s", at, cu.easy_strerror(rc), *via ? " through " : "",
			  via);
}

static int perform(CURL *h, const char *url, const struct sbuf *b, struct entra_result *res)
{
	char at[160], via[300], perr[200];
	long status = 0;
	CURLcode rc;

	where(url, at, sizeof(at));
	if (set_proxy(h, url, via, sizeof(via), perr, sizeof(perr)) < 0)
		return entra_fail(res, false, "%s: %s", at, perr);
	rc = cu.easy_perform(h);
	if (rc != CURLE_OK)
		return failed(h, rc, at, via, res);
	cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return judge(url, status, b, res);
}

int entra_http(const char *url, const char *body, const char *header, struct entra_result *res)
{
	struct curl_slist *hdrs;
	struct sbuf b;
	CURL *h;
	char at[160];
	int r;

	where(url, at, sizeof(at));
	if (!cu_ready)
		return entra_fail(res, false, "%s: %s could not be loaded", at, CURL_SONAME);
	hdrs = cu.slist_append(NULL, "Accept: application/json");
	sbuf_init(&b);
	if (header)
		hdrs = cu.slist_append(hdrs, header);
	h = easy(url, body, hdrs, &b);
	r = h ? perform(h, url, &b, res) :
		entra_fail(res, false, "%s: %s", at, cu.easy_strerror(CURLE_FAILED_INIT));
	if (h)
		cu.easy_cleanup(h);
	cu.slist_free_all(hdrs);
	azb_free_secret(sbuf_take(&b));
	return r;
}

int entra_token_endpoint(const char *tenant, const char *client, const char *auth,
			 struct entra_result *res)
{
	char *authority = entra_authority();
	char *t = url_encode(tenant), *c = url_encode(client);
	char *scope = url_encode(ENTRA_SCOPE);
	char *url = xasprintf("%s%s/oauth2/v2.0/token", authority, t);
	char *body = xasprintf("grant_type=client_credentials&client_id=%s&scope=%s%s", c, scope,
			       auth);
	int r = entra_http(url, body, "Content-Type: application/x-www-form-urlencoded", res);

	azb_free_secret(body);
	free(url);
	free(scope);
	free(c);
	free(t);
	free(authority);
	return r;
}
