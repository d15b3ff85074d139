/* Outbound connections of remote forwards to their targets over IP: resolve
 * off the loop, then a non-blocking connect whose completion the caller sees
 * as the socket becoming writeable. */
#ifndef AZB_DIAL_H
#define AZB_DIAL_H

#include <stddef.h>
#include <stdint.h>

struct dial;
/* fd >= 0: connect started (or done); err < 0: failed before that. */
typedef void (*dial_cb)(void *arg, int fd, int err);

/* A bind address for the dials (-b, bind_address) must be a local address;
 * a host name is looked up. Before the loop runs (start-up, -n) that blocks:
 * 0, or -EADDRNOTAVAIL with the reason in why. Once it runs, a cached answer
 * is judged the same way; otherwise 1: the worker looks it up and a failure
 * is logged. Every dial checks again and fails rather than leave from
 * another address. */
int dial_check_source(const char *name, char *why, size_t len);

/* A socket of type (SOCK_STREAM, SOCK_DGRAM) connected to host:port, from
 * bind_address if set. TCP without a bind address tries every address of
 * the name (reach.h); the others take one. Returns NULL when cb was already
 * called (numeric host or a failure). */
struct dial *dial_inet(const char *host, uint16_t port, int type, const char *bind_address,
		       dial_cb cb, void *arg);
void dial_cancel(struct dial *d);
/* After writeable: 0 when connected, else -errno of the failed connect. */
int dial_result(int fd);

#endif
