#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define OUTQ_MIN (4 * 1024)

void outq_init(struct outq *q, size_t limit)
{
	memset(q, 0, sizeof(*q));
	q->limit = limit;
}

/* Move what is left to the front: written bytes never hold memory. */
static void compact(struct outq *q)
{
	if (q->off && q->len)
		memmove(q->buf, q->buf + q->off, q->len);
	q->off = 0;
}

int outq_push(struct outq *q, const void *p, size_t n)
{
	size_t want;

	if (n == 0)
		return 0;
	if (q->limit && (n > q->limit || q->len > q->limit - n))
		return -ENOBUFS;
	if (q->off + q->len + n > q->cap)
		compact(q);
	want = q->len + n;
	if (want > q->cap) {
		size_t cap = q->cap ? q->cap : OUTQ_MIN;

		while (cap < want)
			cap *= 2;
		q->buf = xrealloc(q->buf, cap);
		q->cap = cap;
	}
	memcpy(q->buf + q->off + q->len, p, n);
	q->len += n;
	return 0;
}

const uint8_t *outq_peek(const struct outq *q, size_t *n)
{
	*n = q->len;
	return q->len ? q->buf + q->off : NULL;
}

void outq_pop(struct outq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->off += n;
	q->len -= n;
	if (q->len == 0) {
		/* An idle connection keeps no buffer. */
		free(q->buf);
		q->buf = NULL;
		q->off = q->cap = 0;
	} else if (q->off >= q->cap / 2) {
		compact(q);
	}
}

size_t outq_len(const struct outq *q)
{
	return q->len;
}

void outq_free(struct outq *q)
{
	free(q->buf);
	outq_init(q, q->limit);
}
