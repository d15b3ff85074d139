/* accept(2) for a listening socket in the loop that survives running out of
 * descriptors. Left alone, EMFILE leaves the connection waiting, the socket
 * stays readable and the loop spins at full CPU, logging on every turn.
 * Here the socket is not polled for a pause that grows from 50 ms to 1 s;
 * when the shortage outlasts a pause, the connections still waiting are
 * accepted with a reserve descriptor and closed at once, so their clients
 * learn of it instead of hanging. One warning when a shortage starts, one
 * notice when accepting works again. */
#ifndef AZB_ACCEPTOR_H
#define AZB_ACCEPTOR_H

#include <sys/socket.h>

#include "loop.h"

/* Accept one connection on lfd (adopted as fh); what names the socket in
 * the log. Returns the new descriptor (non-blocking, close-on-exec), or
 * -errno: -EAGAIN when nothing more can be accepted now, whatever the
 * reason. Callers stop their accept loop on any negative value. */
int acc_accept(struct loop_fd *fh, int lfd, struct sockaddr *sa, socklen_t *salen,
	       const char *what);

#endif
