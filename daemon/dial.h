/* Outbound connections of remote forwards to their targets: resolve off the
 * loop, then a non-blocking connect whose completion the caller sees as the
 * socket becoming writeable. */
#ifndef AZB_DIAL_H
#define AZB_DIAL_H

#include "binding.h"

struct dial;
/* fd >= 0: connect started (or done); err < 0: failed before that. */
typedef void (*dial_cb)(void *arg, int fd, int err);

/* Returns NULL when cb was already called (numeric host or a failure). */
struct dial *dial_start(const struct azb_ep *ep, const char *bind_address, dial_cb cb, void *arg);
void dial_cancel(struct dial *d);
/* After writeable: 0 when connected, else -errno of the failed connect. */
int dial_result(int fd);

#endif
