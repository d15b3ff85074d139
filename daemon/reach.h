/* A connected TCP socket to host:port, from every address of the name, in
 * the spirit of happy eyeballs (RFC 8305): the address that worked last
 * first, then the families interleaved in getaddrinfo's order; the next
 * attempt starts when one fails or REACH_DELAY_MS after the last one
 * started, without giving up on those still under way; the first to
 * connect wins and the others are closed. The owner's deadline bounds the
 * whole (reach_cancel()). The winner's address is remembered for the name
 * (resolve_prefer()). */
#ifndef AZB_REACH_H
#define AZB_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolve.h"

/* RFC 8305's recommended connection attempt delay: long enough that a
 * healthy first address almost always wins alone, short enough that a
 * silent one costs a quarter second rather than a whole connect_timeout
 * (attempts one at a time with a bound would cost that bound each). */
#define REACH_DELAY_MS 250

struct reach;
/* fd >= 0: a non-blocking socket, the caller's, connected or, for a name
 * with one address, with its connect under way (its outcome the caller's
 * to see, as for any socket: no extra syscall when there is no choice).
 * Otherwise err is -ENOENT or -EHOSTUNREACH when the name does not resolve
 * (why NULL), or the last attempt's -errno, why saying how many were
 * tried. */
typedef void (*reach_cb)(void *arg, int fd, int err, const char *why);

/* cb is called once, from the loop, unless cancelled; with -ECANCELED when
 * the loop goes away first (then at once, as a stream's on_close). */
struct reach *reach_open(const char *host, uint16_t port, reach_cb cb, void *arg);
void reach_cancel(struct reach *r);
/* Like a stream's abort: the attempts go now and cb follows from the loop
 * with -ECANCELED, even as the loop goes away. False when there is nothing
 * on the loop yet (resolving): then it is cancelled, no cb. */
bool reach_abort(struct reach *r);
/* Where it is, for a deadline's message: "resolving", "2 of 3 addresses
 * tried, last: ...". */
const char *reach_progress(const struct reach *r, char *buf, size_t len);

/* Pure: the order to try list's addresses in (indexes into list->a), the
 * preferred first, then alternating families starting with the first
 * address's. Returns list->n. */
int reach_order(const struct resolve_list *list, int order[RESOLVE_MAX]);

#endif
