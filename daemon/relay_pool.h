/* Connections to the relay opened ahead of need: TCP connected and the TLS
 * handshake done (certificate and host name checked as for any other), but
 * no websocket upgrade yet, since the upgrade names the hybrid connection
 * and carries the token. A new tunnel that finds one skips a TCP and a TLS
 * round trip and the handshake's CPU on its way to the first byte.
 *
 * Spares are learned from use: each time a tunnel connects to host:port,
 * up to RELAY_POOL_PER_KEY more are opened for the next ones; at most
 * RELAY_POOL_MAX wait in all, each for RELAY_POOL_IDLE_S (Azure Relay and
 * our relay close a connection that sends no request for 30 s), then it is
 * closed and not replaced until a tunnel needs that relay again, so an idle
 * bridge holds none. One that the relay closes, or sends anything on, is
 * dropped at once. */
#ifndef AZB_RELAY_POOL_H
#define AZB_RELAY_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stream;
struct stream_ops;

#define RELAY_POOL_PER_KEY 2
#define RELAY_POOL_MAX 8
#define RELAY_POOL_IDLE_S 15

/* A connection to host:port with these TLS settings, open and idle, now
 * owned by ops/owner; NULL when none waits. */
struct stream *relay_pool_take(const char *host, uint16_t port, bool tls, bool insecure,
			       const struct stream_ops *ops, void *owner);
/* Open spares to host:port until want of them wait or are being opened
 * (at most RELAY_POOL_PER_KEY), each for at most idle_s seconds (and
 * RELAY_POOL_IDLE_S). */
void relay_pool_fill(const char *host, uint16_t port, bool tls, bool insecure, size_t want,
		     int idle_s);
/* Spares waiting now and being opened (for the log and the tests). */
size_t relay_pool_count(void);
/* Close every spare and open no more (at exit). */
void relay_pool_close(void);

#endif
