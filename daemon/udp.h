/* Local UDP forwards: one relay connection per client source address,
 * datagrams framed with a 2-byte length, idle flows end after 4 minutes. */
#ifndef AZB_UDP_H
#define AZB_UDP_H

#include <stddef.h>

#include "fwd.h"

struct udp_fwd;

int udp_fwd_start(struct fwd_run *fr, size_t ep, struct udp_fwd **out);
void udp_fwd_stop(struct udp_fwd *uf);

#endif
