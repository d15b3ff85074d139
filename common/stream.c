#include "stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "loop.h"
#include "outq.h"
#include "util.h"

#define LINGER_DEFAULT_S 10

enum sstate { S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSING, S_DEAD };

struct stream {
	struct loop_obj obj;        /* first: the loop hands it back */
	struct loop_fd *fh;
	int fd;
	SSL *ssl;
	enum sstate state;
	bool paused, want_write, read_wants_write, in_writeable;
	const struct stream_ops *ops;
	void *owner;
	struct outq out;            /* only while the socket is full */
	int linger_s;               /* a closing stream is aborted after this */
	lws_sorted_usec_list_t resume;
	lws_sorted_usec_list_t linger;
	char *session_key;          /* "host:port" for TLS session reuse */
	char peer[64];
	char *err;                  /* why it failed; NULL: it has not */
};

/* ---- TLS contexts and session reuse ------------------------------------ */

struct cached_session {
	char *key;
	SSL_SESSION *sess;       /* as the relay gave it: never handed to a connection */
	SSL_SESSION *live;       /* a copy, shared by the connections that resume it */
	struct cached_session *next;
};

static void cached_free(struct cached_session *c)
{
	SSL_SESSION_free(c->sess);
	SSL_SESSION_free(c->live);
	free(c->key);
	free(c);
}

/* Sessions kept, newest first: relays hand out rendezvous on many hosts,
 * and each new context (a reload, a web server's CAs) makes new keys. */
#define SESSIONS_MAX 64

static SSL_CTX *client_ctx;
static struct cached_session *sessions;

static void drop_sessions_after(struct cached_session *keep)
{
	struct cached_session *c = keep->next, *next;

	keep->next = NULL;
	for (; c; c = next) {
		next = c->next;
		cached_free(c);
	}
}

static void cache_session(const char *key, SSL_SESSION *sess)
{
	struct cached_session *c, **pp;
	size_t n = 0;

	for (pp = &sessions; (c = *pp); pp = &c->next)
		if (strcmp(c->key, key) == 0)
			break;
	if (c) {
		*pp = c->next;   /* to the front again */
	} else {
		c = xcalloc(1, sizeof(*c));
		c->key = xstrdup(key);
	}
	SSL_SESSION_free(c->sess);
	SSL_SESSION_free(c->live);
	c->sess = sess;
	c->live = NULL;
	c->next = sessions;
	sessions = c;
	for (c = sessions; c->next && ++n < SESSIONS_MAX; c = c->next)
		;
	drop_sessions_after(c);
}

/* Resuming a session skips the certificate exchange: a new tunnel's first
 * byte comes sooner. The cache keeps a copy of its own: OpenSSL marks a
 * connection's session unresumable when that connection ends in a fatal
 * error (an EOF without close_notify is one), and the next connection
 * would make a full handshake for it. Connections that resume share one
 * more copy (a session object is 1.1 KB, held as long as the connection
 * lasts), made again from the kept one once a failure has spoiled it. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct stream *s = SSL_get_app_data(ssl);
	SSL_SESSION *copy;

	if (!s || !s->session_key || !(copy = SSL_SESSION_dup(sess)))
		return 0;
	cache_session(s->session_key, copy);
	return 0;   /* the connection keeps its own */
}

static SSL_SESSION *find_session(const char *key)
{
	struct cached_session *c = sessions;

	while (c && strcmp(c->key, key) != 0)
		c = c->next;
	if (!c)
		return NULL;
	if (c->live && !SSL_SESSION_is_resumable(c->live)) {
		SSL_SESSION_free(c->live);
		c->live = NULL;
	}
	if (!c->live)
		c->live = SSL_SESSION_dup(c->sess);
	return c->live;
}

static void tune_ctx(SSL_CTX *ctx)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* One read() brings in several records; fewer syscalls per byte. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, LOOP_CHUNK);
	/* AES-128 first: as safe here and cheaper per byte than AES-256. */
	SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
				      "TLS_CHACHA20_POLY1305_SHA256");
	/* Idle streams give their 16 KiB record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			      SSL_MODE_RELEASE_BUFFERS);
}

static void ssl_error_text(char *buf, size_t len, const char *fallback);

/* Each client context gets a number of its own for the session cache's
 * key: a session verified under one context's CAs is never resumed under
 * another's (a reload's new default, or a new context at a freed one's
 * address). */
static int ctx_serial_index = -1;
static unsigned long ctx_serials;

static unsigned long ctx_serial(SSL_CTX *ctx)
{
	return (unsigned long)(uintptr_t)SSL_CTX_get_ex_data(ctx, ctx_serial_index);
}

static SSL_CTX *new_client_ctx(const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	if (ctx_serial_index < 0)
		ctx_serial_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ctx_serial_index < 0 ||
	    SSL_CTX_set_ex_data(ctx, ctx_serial_index, (void *)(uintptr_t)++ctx_serials) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	tune_ctx(ctx);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1 ||
	    (ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	return ctx;
}

/* The relay's TLS 1.2 suites: forward secret and AEAD only (TLS 1.3's are
 * set by tune_ctx). A shorter hello is also less that both ends keep for as
 * long as the connection lasts: the relay the list of suites offered, and we
 * the hello itself, which a resumed TLS 1.3 handshake holds for its
 * transcript. */
#define RELAY_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

int stream_client_tls_init(const char *ca_file)
{
	SSL_CTX *ctx = new_client_ctx(ca_file);

	if (ctx && SSL_CTX_set_cipher_list(ctx, RELAY_TLS12_CIPHERS) != 1) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	if (!ctx)
		return -EINVAL;
	if (client_ctx)
		SSL_CTX_free(client_ctx);
	client_ctx = ctx;
	return 0;
}

SSL_CTX *stream_client_ctx(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = new_client_ctx(ca_file);

	if (!ctx)
		ssl_error_text(err, errlen, "cannot load the certificates");
	return ctx;
}

static void ssl_error_text(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", fallback);
	ERR_clear_error();
}

/* A client that resumed keeps its ticket: no new one. Each new ticket costs
 * the server its encryption, the client a session object held for as long
 * as the connection lasts (1.1 KB), and both a record and a wakeup, on every
 * connection of a tunnel. OpenSSL asks to renew every TLS 1.3 ticket it
 * accepts; its ticket key lives as long as the process, so a kept ticket
 * is good until its lifetime ends, and a full handshake then brings new
 * ones. The client's address already links its connections, which is what
 * a reused ticket would give away. */
static SSL_TICKET_RETURN on_ticket(SSL *ssl, SSL_SESSION *sess, const unsigned char *key_name,
				   size_t key_len, SSL_TICKET_STATUS status, void *arg)
{
	(void)sess;
	(void)key_name;
	(void)key_len;
	(void)arg;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		SSL_set_num_tickets(ssl, 0);
		return SSL_TICKET_RETURN_USE;
	case SSL_TICKET_FATAL_ERR_MALLOC:
	case SSL_TICKET_FATAL_ERR_OTHER:
		return SSL_TICKET_RETURN_ABORT;
	default:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
}

SSL_CTX *stream_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		azb_err(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	tune_ctx(ctx);
	SSL_CTX_set_session_ticket_cb(ctx, NULL, on_ticket, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		ssl_error_text(err, errlen, "bad certificate");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error_text(err, errlen, "bad private key");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void stream_tls_cleanup(void)
{
	while (sessions) {
		struct cached_session *c = sessions;

		sessions = c->next;
		cached_free(c);
	}
	if (client_ctx)
		SSL_CTX_free(client_ctx);
	client_ctx = NULL;
}

/* ---- closing ----------------------------------------------------------- */

/* The reason is kept only once there is one: an open stream holds no text. */
static void set_err(struct stream *s, const char *why)
{
	char *old = s->err;

	s->err = xstrdup(why);
	free(old);
}

static void set_tls_err(struct stream *s, const char *fallback)
{
	char buf[160];

	ssl_error_text(buf, sizeof(buf), fallback);
	set_err(s, buf);
}

static void fail(struct stream *s, const char *why)
{
	if (s->state == S_DEAD)
		return;
	if (!s->err)
		set_err(s, why);
	s->state = S_DEAD;
	if (s->fh)
		loop_kill(s->fh);
}

static void finish_close(struct stream *s)
{
	/* close_notify: best effort, the socket may already be full or gone */
	if (s->ssl && s->state != S_DEAD)
		SSL_shutdown(s->ssl);
	s->state = S_DEAD;
	if (s->fh)
		loop_kill(s->fh);
}

static void st_close(struct loop_obj *o, struct loop_fd *fh)
{
	struct stream *s = (struct stream *)o;
	bool orderly = !s->err;

	(void)fh;
	s->fh = NULL;
	lws_sul_cancel(&s->resume);
	lws_sul_cancel(&s->linger);
	s->ops->on_close(s->owner, orderly ? NULL : s->err);
	if (s->ssl)
		SSL_free(s->ssl);
	outq_free(&s->out);
	free(s->session_key);
	free(s->err);
	free(s);
}

/* ---- writing ----------------------------------------------------------- */

/* Bytes the socket took (0 when full), or -EIO. */
static ssize_t raw_write(struct stream *s, const uint8_t *buf, size_t n)
{
	ssize_t w;
	int r, e;

	if (!s->ssl) {
		w = write(s->fd, buf, n);
		if (w < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -EIO;
		return w;
	}
	r = SSL_write(s->ssl, buf, (int)n);
	if (r > 0)
		return r;
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return 0;
	set_tls_err(s, "TLS write failed");
	return -EIO;
}

int stream_write(struct stream *s, const uint8_t *buf, size_t n)
{
	ssize_t w = 0;

	if (s->state == S_DEAD)
		return -EPIPE;
	if (!outq_len(&s->out) && s->state != S_CONNECTING && s->state != S_HANDSHAKE) {
		w = raw_write(s, buf, n);
		if (w < 0) {
			fail(s, "write failed");
			return -EIO;
		}
	}
	if ((size_t)w < n) {
		if (outq_push(&s->out, buf + w, n - (size_t)w) < 0) {
			fail(s, "the peer reads too slowly: output queue over its limit");
			return -ENOBUFS;
		}
		if (s->fh)
			loop_want_write(s->fh);
	}
	return 0;
}

/* Returns true when everything queued has gone. */
static bool flush(struct stream *s)
{
	const uint8_t *p;
	size_t n;

	while ((p = outq_peek(&s->out, &n))) {
		ssize_t w = raw_write(s, p, n);

		if (w < 0) {
			fail(s, "write failed");
			return false;
		}
		if (w == 0) {
			loop_want_write(s->fh);
			return false;
		}
		outq_pop(&s->out, (size_t)w);
	}
	return true;
}

bool stream_choked(const struct stream *s)
{
	return outq_len(&s->out) || s->state == S_CONNECTING || s->state == S_HANDSHAKE;
}

size_t stream_queued(const struct stream *s)
{
	return outq_len(&s->out);
}

void stream_set_limits(struct stream *s, size_t max_queued, int linger_s)
{
	s->out.limit = max_queued;
	s->linger_s = linger_s;
}

void stream_want_write(struct stream *s)
{
	s->want_write = true;
	/* Inside our writeable callback the loop there picks it up. */
	if (s->fh && s->state == S_OPEN && !s->in_writeable)
		loop_want_write(s->fh);
}

/* ---- reading ----------------------------------------------------------- */

/* 1: data, 0: nothing now, -1: the end or an error (s->err says which). */
static ssize_t raw_read(struct stream *s, uint8_t *buf, size_t n)
{
	ssize_t r;
	int e;

	if (!s->ssl) {
		r = read(s->fd, buf, n);
		if (r > 0)
			return r;
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		set_err(s, r == 0 ? "closed by the peer" : strerror(errno));
		return -1;
	}
	r = SSL_read(s->ssl, buf, (int)n);
	if (r > 0)
		return r;
	e = SSL_get_error(s->ssl, (int)r);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		s->read_wants_write = true;
		loop_want_write(s->fh);
		return 0;
	}
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
		set_err(s, "closed by the peer");
	else
		set_tls_err(s, "TLS read failed");
	return -1;
}

/* Gather up to a chunk per callback: SSL_read returns one record (16 KiB)
 * at a time, and every callback costs the owner a write downstream. */
/* Largest plaintext of one TLS record. */
#define TLS_RECORD_MAX 16384

/* Whole records only while another may not fit: a peer that sends a
 * websocket message as whole records (our bridges do) has its messages
 * arrive one per read, and they leave again as whole records, where a
 * read cut at the buffer's end would split the next message in two. */
static ssize_t fill(struct stream *s, uint8_t *buf, size_t cap)
{
	size_t have = 0;
	ssize_t n;

	do {
		n = raw_read(s, buf + have, cap - have);
		if (n <= 0)
			return have ? (ssize_t)have : n;
		have += (size_t)n;
	} while (s->ssl && cap - have >= TLS_RECORD_MAX && SSL_has_pending(s->ssl));
	return (ssize_t)have;
}

/* Chunks one wakeup may read from one stream: a peer that never stops
 * sending must not keep the loop from everyone else. */
#define READS_PER_WAKEUP 16

static void on_resume(lws_sorted_usec_list_t *sul);

static void read_some(struct stream *s)
{
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;

	s->read_wants_write = false;
	for (int i = 0; !s->paused && (s->state == S_OPEN || s->state == S_CLOSING); i++) {
		ssize_t n;

		if (i == READS_PER_WAKEUP) {
			/* The socket stays readable and poll comes back to it;
			 * bytes TLS holds already are not seen by poll. */
			if (s->ssl && SSL_has_pending(s->ssl))
				loop_defer(&s->resume, on_resume);
			return;
		}
		n = fill(s, buf, LOOP_CHUNK);
		if (n == 0)
			return;
		if (n < 0) {
			s->state = S_DEAD;
			loop_kill(s->fh);
			return;
		}
		if (s->ops->on_rx(s->owner, buf, (size_t)n)) {
			fail(s, "aborted");
			return;
		}
	}
	/* Paused with records already decrypted or read ahead: resume() reads them. */
}

static void on_resume(lws_sorted_usec_list_t *sul)
{
	read_some(lws_container_of(sul, struct stream, resume));
}

void stream_pause_rx(struct stream *s, bool pause)
{
	if (s->paused == pause || !s->fh)
		return;
	s->paused = pause;
	loop_pause_rx(s->fh, pause);
	/* TLS may hold decrypted bytes the kernel no longer signals. */
	if (!pause && s->ssl && SSL_has_pending(s->ssl))
		loop_defer(&s->resume, on_resume);
}

/* ---- connecting and the handshake -------------------------------------- */

static void opened(struct stream *s)
{
	s->state = S_OPEN;
	if (s->ops->on_open(s->owner)) {
		fail(s, "aborted");
		return;
	}
	if (s->ssl && SSL_has_pending(s->ssl))
		loop_defer(&s->resume, on_resume);
}

/* A plain accepted stream is open at once; tell the owner from the loop,
 * after stream_accept() has returned. */
static void on_deferred_open(lws_sorted_usec_list_t *sul)
{
	struct stream *s = lws_container_of(sul, struct stream, resume);

	if (s->state == S_OPEN)
		opened(s);
}

/* Set as the hello goes out, not when the connection starts: the shared
 * copy may be spoiled, and made again, while the TCP connect is on its way. */
static void offer_session(struct stream *s)
{
	SSL_SESSION *sess;

	if (!s->session_key || !SSL_in_before(s->ssl))
		return;
	sess = find_session(s->session_key);
	if (sess)
		SSL_set_session(s->ssl, sess);   /* a reference of its own */
}

static void handshake(struct stream *s)
{
	int r, e;

	offer_session(s);
	r = SSL_do_handshake(s->ssl);

	if (r == 1) {
		log_debug("TLS with %s: %s, %s", s->peer, SSL_get_version(s->ssl),
			  SSL_session_reused(s->ssl) ? "resumed" : "full handshake");
		opened(s);
		return;
	}
	e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return;
	if (e == SSL_ERROR_WANT_WRITE) {
		loop_want_write(s->fh);
		return;
	}
	set_tls_err(s, "TLS handshake failed");
	if (SSL_get_verify_result(s->ssl) != X509_V_OK) {
		char buf[160];

		snprintf(buf, sizeof(buf), "TLS: %s",
			 X509_verify_cert_error_string(SSL_get_verify_result(s->ssl)));
		set_err(s, buf);
	}
	s->state = S_DEAD;
	loop_kill(s->fh);
}

static void connected(struct stream *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		set_err(s, strerror(err));
		s->state = S_DEAD;
		loop_kill(s->fh);
		return;
	}
	if (!s->ssl) {
		opened(s);
		return;
	}
	s->state = S_HANDSHAKE;
	handshake(s);
}

static int st_readable(struct loop_obj *o, struct loop_fd *fh)
{
	struct stream *s = (struct stream *)o;

	(void)fh;
	if (s->state == S_HANDSHAKE)
		handshake(s);
	else if (s->state == S_OPEN || s->state == S_CLOSING)
		read_some(s);
	return 0;
}

static int st_writeable(struct loop_obj *o, struct loop_fd *fh)
{
	struct stream *s = (struct stream *)o;

	(void)fh;
	switch (s->state) {
	case S_CONNECTING:
		connected(s);
		return 0;
	case S_HANDSHAKE:
		handshake(s);
		return 0;
	case S_DEAD:
		return 0;
	default:
		break;
	}
	if (s->read_wants_write)
		read_some(s);
	if (!flush(s))
		return 0;
	if (s->state == S_CLOSING) {
		finish_close(s);
		return 0;
	}
	/* Keep feeding while the socket takes it: one wakeup moves several
	 * chunks. Bounded so other connections get their turn. */
	s->in_writeable = true;
	for (int i = 0; i < 8 && s->want_write && s->state == S_OPEN && !outq_len(&s->out); i++) {
		s->want_write = false;
		if (s->ops->on_writeable(s->owner)) {
			fail(s, "aborted");
			break;
		}
	}
	s->in_writeable = false;
	if (s->want_write && s->state == S_OPEN && !outq_len(&s->out))
		loop_want_write(s->fh);
	return 0;
}

static const struct loop_fd_ops stream_ops_tbl = { "stream", st_readable, st_writeable, st_close };

static void peer_text(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static struct stream *stream_new(int fd, const struct stream_ops *ops, void *owner)
{
	struct stream *s = xcalloc(1, sizeof(*s));

	s->obj.fd_ops = &stream_ops_tbl;
	s->linger_s = LINGER_DEFAULT_S;
	s->fd = fd;
	s->ops = ops;
	s->owner = owner;
	return s;
}

static int setup_client_tls(struct stream *s, SSL_CTX *ctx, const char *host, bool insecure,
			    uint16_t port)
{
	struct in6_addr ip;
	bool literal = inet_pton(AF_INET, host, &ip) == 1 || inet_pton(AF_INET6, host, &ip) == 1;

	if (!ctx && !client_ctx && stream_client_tls_init(NULL) < 0)
		return -EINVAL;
	s->ssl = SSL_new(ctx ? ctx : client_ctx);
	if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1)
		return -ENOMEM;
	SSL_set_app_data(s->ssl, s);
	SSL_set_connect_state(s->ssl);
	if (!literal)
		SSL_set_tlsext_host_name(s->ssl, host);
	if (insecure) {
		SSL_set_verify(s->ssl, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_set_verify(s->ssl, SSL_VERIFY_PEER, NULL);
		if (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), host) != 1 :
			      SSL_set1_host(s->ssl, host) != 1)
			return -EINVAL;
	}
	/* A session made under one set of trusted CAs is not resumed under another. */
	s->session_key = xasprintf("%s:%u:%d:%lu", host, port, insecure,
				   ctx_serial(ctx ? ctx : client_ctx));
	return 0;
}

struct stream *stream_connect(const struct sockaddr *sa, socklen_t len, const char *host,
			      bool tls, bool insecure, const struct stream_ops *ops, void *owner,
			      int *err)
{
	uint16_t port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port :
				     ((const struct sockaddr_in6 *)sa)->sin6_port);
	int one = 1, fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	*err = 0;
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
		*err = -errno;
		close(fd);
		return NULL;
	}
	return stream_connect_fd(fd, port, host, tls, NULL, insecure, ops, owner, err);
}

struct stream *stream_connect_fd(int fd, uint16_t port, const char *host, bool tls, SSL_CTX *ctx,
				 bool insecure, const struct stream_ops *ops, void *owner,
				 int *err)
{
	struct stream *s = stream_new(fd, ops, owner);

	*err = 0;
	s->state = S_CONNECTING;
	if (tls)
		*err = setup_client_tls(s, ctx, host, insecure, port);
	if (*err == 0) {
		s->fh = loop_adopt(fd, &s->obj);
		if (!s->fh)
			*err = -EIO;   /* lws closed the fd */
	} else {
		close(fd);
	}
	if (*err < 0) {
		if (s->ssl)
			SSL_free(s->ssl);
		free(s->session_key);
		free(s);
		return NULL;
	}
	snprintf(s->peer, sizeof(s->peer), "%s", host);
	loop_want_write(s->fh);
	return s;
}

/* Bytes TLS must read before the socket's: a buffer BIO in front of it,
 * only on this rare path (a TLS server speaks second; only a proxy that
 * misbehaves sends any). */
static int prepend_read(struct stream *s, const uint8_t *pre, size_t n)
{
	BIO *buf = BIO_new(BIO_f_buffer()), *sock = BIO_new_socket(s->fd, BIO_NOCLOSE);

	if (!buf || !sock || BIO_set_read_buffer_size(buf, n > 4096 ? (long)n : 4096) != 1) {
		BIO_free(buf);
		BIO_free(sock);
		return -ENOMEM;
	}
	BIO_push(buf, sock);
	if (BIO_set_buffer_read_data(buf, (void *)pre, (long)n) != 1) {
		BIO_free_all(buf);
		return -ENOMEM;
	}
	SSL_set0_rbio(s->ssl, buf);
	return 0;
}

int stream_start_tls(struct stream *s, const char *host, uint16_t port, bool insecure,
		     const uint8_t *pre, size_t n)
{
	int r = s->ssl || s->state != S_OPEN ? -EINVAL : 0;

	if (r == 0)
		r = setup_client_tls(s, NULL, host, insecure, port);
	if (r == 0 && n)
		r = prepend_read(s, pre, n);
	if (r < 0) {
		fail(s, "cannot start TLS");
		return r;
	}
	s->state = S_HANDSHAKE;
	loop_want_write(s->fh);
	return 0;
}

struct stream *stream_accept(int fd, SSL_CTX *ctx, const struct stream_ops *ops, void *owner)
{
	struct stream *s = stream_new(fd, ops, owner);
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	peer_text(fd, s->peer, sizeof(s->peer));
	if (ctx) {
		s->ssl = SSL_new(ctx);
		if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1) {
			if (s->ssl)
				SSL_free(s->ssl);
			close(fd);
			free(s);
			return NULL;
		}
		SSL_set_accept_state(s->ssl);
		s->state = S_HANDSHAKE;
	} else {
		s->state = S_OPEN;
	}
	s->fh = loop_adopt(fd, &s->obj);
	if (!s->fh) {
		if (s->ssl)
			SSL_free(s->ssl);
		free(s);
		return NULL;
	}
	if (!ctx)
		loop_defer(&s->resume, on_deferred_open);
	return s;
}

static void on_linger(lws_sorted_usec_list_t *sul)
{
	struct stream *s = lws_container_of(sul, struct stream, linger);

	fail(s, "closing: the peer did not take the last bytes in time");
}

/* A peer that never reads must not keep a closing stream forever. */
void stream_close(struct stream *s)
{
	if (s->state == S_DEAD || s->state == S_CLOSING)
		return;
	if (s->state != S_OPEN) {
		fail(s, "closed before it was open");
		return;
	}
	s->state = S_CLOSING;
	if (!outq_len(&s->out)) {
		finish_close(s);
		return;
	}
	loop_want_write(s->fh);
	lws_sul_schedule(loop_context(), 0, &s->linger, on_linger,
			 (lws_usec_t)s->linger_s * LWS_US_PER_SEC);
}

void stream_abort(struct stream *s)
{
	fail(s, "aborted");
}

void stream_set_owner(struct stream *s, const struct stream_ops *ops, void *owner)
{
	s->ops = ops;
	s->owner = owner;
}

bool stream_peer_gone(const struct stream *s)
{
	struct pollfd p = { .fd = s->fd, .events = POLLRDHUP };

	return s->state == S_DEAD ||
	       (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

const char *stream_peer(const struct stream *s)
{
	return s->peer;
}
