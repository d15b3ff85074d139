#include "outq.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define OUTQ_MIN (4 * 1024)

void outq_init(struct outq *q, size_t limit)
{
	memset(q, 0, sizeof(*q));
	q->limit = limit;
}

void outq_share(struct outq *q, struct outq_pool *pool)
{
	q->pool = pool;
}

static bool fits(const struct outq *q, size_t n)
{
	const struct outq_pool *p = q->pool;

	if (q->limit && (n > q->limit || q->len > q->limit - n))
		return false;
	return !p || !p->limit || (n <= p->limit && p->used <= p->limit - n);
}

/* Move what is left to the front: written bytes never hold memory. */
static void compact(struct outq *q)
{
	if (q->off && q->len)
		memmove(q->buf, q->buf + q->off, q->len);
	q->off = 0;
}

/* An idle connection keeps no buffer. */
static void release(struct outq *q)
{
	free(q->buf);
	q->buf = NULL;
	q->off = q->cap = 0;
}

uint8_t *outq_reserve(struct outq *q, size_t n)
{
	size_t want;

	if (n == 0 || !fits(q, n))
		return NULL;
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
	return q->buf + q->off + q->len;
}

void outq_commit(struct outq *q, size_t n)
{
	q->len += n;
	if (q->pool)
		q->pool->used += n;
	if (q->len == 0)
		release(q);
}

int outq_push(struct outq *q, const void *p, size_t n)
{
	uint8_t *at;

	if (n == 0)
		return 0;
	at = outq_reserve(q, n);
	if (!at)
		return -ENOBUFS;
	memcpy(at, p, n);
	outq_commit(q, n);
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
	if (q->pool)
		q->pool->used -= n;
	if (q->len == 0)
		release(q);
	else if (q->off >= q->cap / 2)
		compact(q);
}

size_t outq_len(const struct outq *q)
{
	return q->len;
}

void outq_free(struct outq *q)
{
	struct outq_pool *pool = q->pool;

	if (pool)
		pool->used -= q->len;
	free(q->buf);
	outq_init(q, q->limit);
	q->pool = pool;
}
