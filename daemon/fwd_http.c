/* HTTP forwards (-H): the relay's HTTP requests go to a web server
 * (http_exchange.c), and a websocket sender that names this forward's port
 * gets a plain TCP tunnel to the web server, as for -T (as the original
 * does for port names http and https). */
#include "fwd_kind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_exchange.h"
#include "http_pool.h"
#include "log.h"
#include "stream.h"
#include "util.h"

/* One TLS context per CA file (NULL: the system's store alone): loading a
 * store costs more than a request. Each start of a forward loads its file
 * again, so a forward that restarts picks up a changed CA; requests under
 * way keep a reference to the context they started with. */
struct trust {
	char *ca_file;
	SSL_CTX *ctx;
	struct trust *next;
};

static struct trust *trusts;

static struct trust *trust_find(const char *ca_file)
{
	for (struct trust *t = trusts; t; t = t->next)
		if (azb_streq(t->ca_file, ca_file))
			return t;
	return NULL;
}

static int trust_load(const char *ca_file, char *err, size_t errlen)
{
	struct trust *t = trust_find(ca_file);
	SSL_CTX *ctx;

	if (ca_file && access(ca_file, R_OK) < 0)
		return azb_errn(err, errlen, -errno, "%s", strerror(errno));
	ctx = stream_client_ctx(ca_file, err, errlen);
	if (!ctx)
		return -EINVAL;
	if (!t) {
		t = xcalloc(1, sizeof(*t));
		t->ca_file = ca_file ? xstrdup(ca_file) : NULL;
		t->next = trusts;
		trusts = t;
	}
	if (t->ctx)
		SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	return 0;
}

static bool is_tls(const struct azb_ep *e)
{
	return strcmp(e->port_name, "https") == 0;
}

static int http_start(struct fwd_run *fr, size_t ep)
{
	const struct azb_ep *e = &fr->fwd->ep[ep];
	struct log_ctx c = fwd_ctx(fr);
	char err[200];

	if (!is_tls(e))
		return 0;
	if (trust_load(e->ca_file, err, sizeof(err)) < 0) {
		fwd_error(fr, "not started: ca_file %s: %s", e->ca_file ? e->ca_file : "(system)",
			  err);
		return -EINVAL;
	}
	if (e->insecure)
		log_ctx(LOG_WARNING, &c, "%s: insecure = true: the certificate of https://%s:%u is "
			"not verified", fr->fwd->name, e->host, e->port);
	return 0;
}

static struct hc_body_sink *http_request(struct fwd_run *fr, size_t ep, struct hc_listener *h,
					 struct hcp_msg *m)
{
	const struct azb_ep *e = &fr->fwd->ep[ep];
	/* Loaded when the forward started. */
	struct trust *t = is_tls(e) ? trust_find(e->ca_file) : NULL;

	if (t)
		SSL_CTX_up_ref(t->ctx);
	return http_exchange_start(fr, ep, h, m, t ? t->ctx : NULL);
}

/* Requests first: one ending now may still give its connection back. */
static void http_stop(struct fwd_run *fr)
{
	http_exchange_stop_all(fr);
	http_pool_close(fr);
}

const struct fwd_kind fwd_http = {
	.noun = "tunnel",
	.mode = PRE_STREAM,
	.dial = fwd_sock_dial_tcp,
	.on_request = http_request,
	.start = http_start,
	.stop = http_stop,
	.end = &fwd_sock_stream,
};
