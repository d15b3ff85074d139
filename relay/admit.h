/* Admission of new connections: at most so many in total and from one
 * source (an IPv4 address, or an IPv6 /64, which one host usually holds
 * whole), so that no client can take every descriptor from the others. */
#ifndef AZB_ADMIT_H
#define AZB_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct admit_key {
	uint8_t b[8];
	uint8_t len;             /* 4 (IPv4) or 8 (IPv6 /64); 0: not counted */
};

/* Limits: total (0: none) and per source (0: none). */
void admit_configure(size_t max_total, size_t max_per_source);
/* Count a connection from sa in; false when a limit is reached (nothing
 * is counted then, and the first refusal of an episode is logged). */
bool admit_take(const struct sockaddr *sa, struct admit_key *k);
void admit_release(struct admit_key *k);
size_t admit_total(void);
void admit_reset(void);

#endif
