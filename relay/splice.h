/* Two websockets joined frame by frame: a sender and the rendezvous its
 * listener accepted it on. Frames go through without a copy from the read
 * buffer; a side whose partner reads slowly is paused until it drains.
 * Close frames are forwarded like data, so each direction ends on its own
 * (half-close); the pair is done when both have. */
#ifndef AZB_SPLICE_H
#define AZB_SPLICE_H

#include "conn.h"

/* a and b, both upgraded, take the splice role; a was paused waiting. */
void splice_join(struct conn *a, struct conn *b);

#endif
