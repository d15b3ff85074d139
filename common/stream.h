/* A byte stream over an adopted socket, plain or TLS (OpenSSL, non-blocking),
 * client or server side. Owners get open/rx/writeable/close callbacks; data
 * arrives in the loop's scratch buffer and is written from the caller's
 * buffer, so nothing is copied unless the kernel refuses part of a write. */
#ifndef AZB_STREAM_H
#define AZB_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct stream;

struct stream_ops {
	/* Connected (and TLS handshake done). Non-zero aborts. */
	int (*on_open)(void *owner);
	/* Data; valid during the call only. Non-zero aborts. */
	int (*on_rx)(void *owner, uint8_t *data, size_t len);
	/* The stream can take more (only when nothing is queued). */
	int (*on_writeable)(void *owner);
	/* Final: the stream is gone; err is NULL after an orderly end. The
	 * stream is freed after this returns. */
	void (*on_close)(void *owner, const char *err);
};

/* The context of client streams given none (ctx NULL: the relay's, whose
 * TLS 1.2 suites are ECDHE with AEAD only). ca_file NULL: the system store. */
int stream_client_tls_init(const char *ca_file);
/* A client context that trusts the system store and ca_file (NULL: the
 * store alone), for stream_connect_ctx(); NULL with *err on failure. */
SSL_CTX *stream_client_ctx(const char *ca_file, char *err, size_t errlen);
/* A server context from PEM files; NULL with *err set on failure. */
SSL_CTX *stream_server_ctx(const char *cert_file, const char *key_file, char *err, size_t errlen);
void stream_tls_cleanup(void);

/* Client: non-blocking connect to sa; with tls, handshake with SNI and
 * certificate checks for host (none when insecure). NULL and *err when it
 * fails at once (no on_close then). */
struct stream *stream_connect(const struct sockaddr *sa, socklen_t len, const char *host,
			      bool tls, bool insecure, const struct stream_ops *ops, void *owner,
			      int *err);
/* The same over fd, a socket whose non-blocking connect to port has
 * started (taken, closed on failure), with ctx from stream_client_ctx()
 * (NULL: the default one). */
struct stream *stream_connect_fd(int fd, uint16_t port, const char *host, bool tls, SSL_CTX *ctx,
				 bool insecure, const struct stream_ops *ops, void *owner,
				 int *err);
/* Client: a plain open stream (a proxy's tunnel) becomes TLS to host, as
 * stream_connect's would; on_open comes again once the handshake is done.
 * pre, n: bytes already read that belong to TLS (taken before the
 * socket's). From the owner's callbacks too. <0: the stream fails
 * (on_close follows). */
int stream_start_tls(struct stream *s, const char *host, uint16_t port, bool insecure,
		     const uint8_t *pre, size_t n);
/* Server: an accepted fd; ctx NULL for plain. NULL when it cannot be
 * adopted (the fd is closed). */
struct stream *stream_accept(int fd, SSL_CTX *ctx, const struct stream_ops *ops, void *owner);

/* Write all of buf: what the socket does not take now is queued (copied) and
 * sent before anything else; on_writeable comes again once it has gone.
 * -ENOBUFS (the stream fails, on_close follows) past the queue's limit. */
int stream_write(struct stream *s, const uint8_t *buf, size_t n);
bool stream_choked(const struct stream *s);
size_t stream_queued(const struct stream *s);
/* At most max_queued bytes wait for a slow peer (0: no limit); a write past
 * it fails the stream. A closing stream whose peer takes nothing is
 * aborted after linger_s seconds (default 10). */
void stream_set_limits(struct stream *s, size_t max_queued, int linger_s);
void stream_want_write(struct stream *s);
void stream_pause_rx(struct stream *s, bool pause);
/* Finish sending what is queued, then close; on_close follows. */
void stream_close(struct stream *s);
/* Close now, dropping what is queued; on_close follows from the loop. */
void stream_abort(struct stream *s);
void stream_set_owner(struct stream *s, const struct stream_ops *ops, void *owner);
/* The peer has closed or reset the connection, as far as the kernel knows
 * now (what the loop has not read yet included). */
bool stream_peer_gone(const struct stream *s);
/* The peer's address as text ("1.2.3.4:5" or "[::1]:5"). */
const char *stream_peer(const struct stream *s);

#endif
