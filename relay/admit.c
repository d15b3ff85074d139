#include "admit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define BUCKETS 4096
#define REPORT_EVERY_S 60

struct source {
	struct admit_key key;
	size_t n;
	struct source *next;
};

static struct {
	size_t max_total, max_per_source, total;
	struct source *b[BUCKETS];
	/* refusals since the last report, and when it was */
	size_t refused;
	time_t reported;
} A;

void admit_configure(size_t max_total, size_t max_per_source)
{
	A.max_total = max_total;
	A.max_per_source = max_per_source;
}

static void key_of(const struct sockaddr *sa, struct admit_key *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		memcpy(k->b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		k->len = 4;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		/* A v4-mapped address is the IPv4 host it names. */
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(k->b, a->s6_addr + 12, 4);
			k->len = 4;
		} else {
			memcpy(k->b, a->s6_addr, 8);
			k->len = 8;
		}
	}
}

static unsigned bucket(const struct admit_key *k)
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < k->len; i++)
		h = (h ^ k->b[i]) * 16777619u;
	return h % BUCKETS;
}

static struct source **find(const struct admit_key *k)
{
	struct source **pp = &A.b[bucket(k)];

	while (*pp && ((*pp)->key.len != k->len || memcmp((*pp)->key.b, k->b, k->len) != 0))
		pp = &(*pp)->next;
	return pp;
}

static void source_text(const struct admit_key *k, char *out, size_t len)
{
	uint8_t a[16] = { 0 };

	memcpy(a, k->b, k->len);
	if (k->len == 4)
		inet_ntop(AF_INET, a, out, (socklen_t)len);
	else if (inet_ntop(AF_INET6, a, out, (socklen_t)len))
		strncat(out, "/64", len - strlen(out) - 1);
}

/* Once when refusing starts, then a count at most every minute. */
static void refused(const struct admit_key *k, bool total)
{
	time_t now = time(NULL);
	char src[INET6_ADDRSTRLEN + 4] = "?";

	A.refused++;
	if (A.refused > 1 && now - A.reported < REPORT_EVERY_S)
		return;
	source_text(k, src, sizeof(src));
	log_warning("refusing connections: %s (%zu) reached; latest from %s, %zu refused since "
		    "the last report", total ? "max_connections" : "max_connections_per_source",
		    total ? A.max_total : A.max_per_source, src, A.refused);
	A.reported = now;
	A.refused = 0;
}

bool admit_take(const struct sockaddr *sa, struct admit_key *k)
{
	struct source **pp, *s;

	key_of(sa, k);
	if (A.max_total && A.total >= A.max_total) {
		refused(k, true);
		k->len = 0;
		return false;
	}
	A.total++;
	if (!k->len)
		return true;
	pp = find(k);
	if (*pp && A.max_per_source && (*pp)->n >= A.max_per_source) {
		A.total--;
		refused(k, false);
		k->len = 0;
		return false;
	}
	if (!*pp) {
		s = xcalloc(1, sizeof(*s));
		s->key = *k;
		*pp = s;
	}
	(*pp)->n++;
	return true;
}

void admit_release(struct admit_key *k)
{
	struct source **pp, *s;

	if (A.total)
		A.total--;
	if (!k->len)
		return;
	pp = find(k);
	s = *pp;
	if (s && --s->n == 0) {
		*pp = s->next;
		free(s);
	}
	k->len = 0;
}

size_t admit_total(void)
{
	return A.total;
}

void admit_reset(void)
{
	for (size_t i = 0; i < BUCKETS; i++)
		while (A.b[i]) {
			struct source *s = A.b[i];

			A.b[i] = s->next;
			free(s);
		}
	memset(&A, 0, sizeof(A));
}
