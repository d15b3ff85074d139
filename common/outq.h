/* Bytes a socket did not take yet, waiting to be written: one queue type for
 * every writer. It has a limit, so a peer that stops reading costs at most
 * that much memory, and it is compacted as it drains, so a queue that never
 * quite empties does not grow with everything that ever passed through it.
 * An empty queue holds no buffer. */
#ifndef AZB_OUTQ_H
#define AZB_OUTQ_H

#include <stddef.h>
#include <stdint.h>

/* A budget several queues share (the UDP flows of one forward): what they
 * hold together stays within limit. */
struct outq_pool {
	size_t used, limit;
};

struct outq {
	uint8_t *buf;
	size_t off, len, cap;   /* queued bytes are buf[off, off + len) */
	size_t limit;           /* most bytes queued at once; 0: no limit */
	struct outq_pool *pool; /* NULL, or the budget it shares */
};

void outq_init(struct outq *q, size_t limit);
/* Count q's bytes against pool as well (q empty). */
void outq_share(struct outq *q, struct outq_pool *pool);
/* Queue n bytes: 0, or -ENOBUFS (nothing queued) when a limit would be passed. */
int outq_push(struct outq *q, const void *p, size_t n);
/* Room for up to n bytes at the end, to read into without a copy; NULL when
 * a limit would be passed. outq_commit() then queues what was written. */
uint8_t *outq_reserve(struct outq *q, size_t n);
void outq_commit(struct outq *q, size_t n);
/* The queued bytes in one piece; NULL and *n = 0 when empty. */
const uint8_t *outq_peek(const struct outq *q, size_t *n);
/* n bytes have been written. */
void outq_pop(struct outq *q, size_t n);
size_t outq_len(const struct outq *q);
void outq_free(struct outq *q);

#endif
