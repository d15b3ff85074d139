#include "http1.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

void http1_init(struct http1_head *m, size_t limit)
{
	memset(m, 0, sizeof(*m));
	m->limit = limit;
}

void http1_clear(struct http1_head *m)
{
	free(m->raw);
	http1_init(m, m->limit);
}

/* Append until the blank line; returns the offset just past it, or 0. */
static size_t accumulate(struct http1_head *m, const char *data, size_t len, size_t *used)
{
	size_t start = m->len > 3 ? m->len - 3 : 0, take = len;

	if (m->len + len > m->limit)
		take = m->limit - m->len;
	if (m->len + take + 1 > m->cap) {
		m->cap = m->len + take + 1 > 2 * m->cap ? m->len + take + 1 : 2 * m->cap;
		m->raw = xrealloc(m->raw, m->cap);
	}
	memcpy(m->raw + m->len, data, take);
	m->len += take;
	m->raw[m->len] = '\0';
	for (size_t i = start; i + 3 < m->len; i++) {
		if (memcmp(m->raw + i, "\r\n\r\n", 4) == 0) {
			size_t end = i + 4;

			*used = end - (m->len - take);
			m->len = end;
			m->raw[end - 2] = '\0';
			return end;
		}
	}
	*used = take;
	return 0;
}

static char *next_line(char **cur)
{
	char *line = *cur, *eol = strstr(line, "\r\n");

	if (!eol) {
		*cur = line + strlen(line);
		return line;
	}
	*eol = '\0';
	*cur = eol + 2;
	return line;
}

static bool is_token_char(char c)
{
	return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static int parse_headers(struct http1_head *m, char *cur)
{
	while (*cur) {
		char *line = next_line(&cur), *colon = strchr(line, ':');

		if (!colon || colon == line)
			return -EBADMSG;
		*colon = '\0';
		for (char *p = line; *p; p++)
			if (!is_token_char(*p))
				return -EBADMSG;
		if (m->n_headers == HTTP1_MAX_HEADERS)
			return -E2BIG;
		m->h[m->n_headers].name = line;
		m->h[m->n_headers++].value = trim(colon + 1);
	}
	return 0;
}

static int parse_version(const char *v, int *minor)
{
	if (strncmp(v, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)v[7]) || v[8])
		return -EBADMSG;
	*minor = v[7] - '0';
	return 0;
}

static int parse_request_line(struct http1_head *m, char *line)
{
	char *sp1 = strchr(line, ' '), *sp2;

	if (!sp1)
		return -EBADMSG;
	*sp1 = '\0';
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || sp1 == line || sp2 == sp1 + 1)
		return -EBADMSG;
	*sp2 = '\0';
	for (char *p = line; *p; p++)
		if (!is_token_char(*p))
			return -EBADMSG;
	m->method = line;
	m->target = sp1 + 1;
	return parse_version(sp2 + 1, &m->minor_version);
}

static int parse_status_line(struct http1_head *m, char *line)
{
	char *sp1 = strchr(line, ' '), *end;
	long code;

	if (!sp1)
		return -EBADMSG;
	*sp1 = '\0';
	if (parse_version(line, &m->minor_version) < 0)
		return -EBADMSG;
	code = strtol(sp1 + 1, &end, 10);
	if (end != sp1 + 4 || code < 100 || code > 999 || (*end && *end != ' '))
		return -EBADMSG;
	m->status = (int)code;
	m->reason = *end ? end + 1 : "";
	return 0;
}

/* Lines end in CRLF and nothing else: a NUL, a bare CR or LF, or another
 * control character would let two parsers see different heads (request
 * smuggling) or cut a C string short. The final CRLF's CR is already NUL. */
static bool head_bytes_ok(const char *raw, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (c == '\r' ? raw[i + 1] != '\n' : c == '\n' ? i == 0 || raw[i - 1] != '\r' :
		    (c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static int feed(struct http1_head *m, const char *data, size_t len, size_t *used, bool request)
{
	char *cur, *line;
	int r;

	if (m->done)
		return -EINVAL;
	if (!accumulate(m, data, len, used))
		return m->len >= m->limit ? -E2BIG : 0;
	if (!head_bytes_ok(m->raw, m->len - 2))
		return -EBADMSG;
	cur = m->raw;
	line = next_line(&cur);
	r = request ? parse_request_line(m, line) : parse_status_line(m, line);
	if (r == 0)
		r = parse_headers(m, cur);
	if (r < 0)
		return r;
	m->done = true;
	return 1;
}

int http1_feed_request(struct http1_head *m, const char *data, size_t len, size_t *used)
{
	return feed(m, data, len, used, true);
}

int http1_feed_response(struct http1_head *m, const char *data, size_t len, size_t *used)
{
	return feed(m, data, len, used, false);
}

const char *http1_get(const struct http1_head *m, const char *name)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (strcasecmp(m->h[i].name, name) == 0)
			return m->h[i].value;
	return NULL;
}

bool http1_headers_have_token(const struct http1_header *h, size_t n, const char *name,
			      const char *token)
{
	size_t tl = strlen(token);

	for (size_t i = 0; i < n; i++) {
		const char *v = h[i].value;

		if (strcasecmp(h[i].name, name) != 0)
			continue;
		while (*v) {
			while (*v == ' ' || *v == '\t' || *v == ',')
				v++;
			if (strncasecmp(v, token, tl) == 0 &&
			    (v[tl] == '\0' || v[tl] == ',' || v[tl] == ' ' || v[tl] == '\t'))
				return true;
			while (*v && *v != ',')
				v++;
		}
	}
	return false;
}

bool http1_has_token(const struct http1_head *m, const char *name, const char *token)
{
	return http1_headers_have_token(m->h, m->n_headers, name, token);
}

bool http1_hop_by_hop(const char *name, const struct http1_header *h, size_t n)
{
	static const char *const hop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
		"Transfer-Encoding", "Upgrade",
	};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	return http1_headers_have_token(h, n, "Connection", name);
}

/* ---- chunked bodies ---------------------------------------------------- */

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER,
       CH_TRAILER_LINE, CH_TRAILER_LF, CH_DONE };

void http1_chunked_init(struct http1_chunked *c)
{
	memset(c, 0, sizeof(*c));
}

static int hexval(uint8_t b)
{
	if (b >= '0' && b <= '9')
		return b - '0';
	b |= 0x20;
	return b >= 'a' && b <= 'f' ? b - 'a' + 10 : -1;
}

/* One byte of framing (everything but chunk data). */
static int chunk_step(struct http1_chunked *c, uint8_t b)
{
	int h;

	switch (c->state) {
	case CH_SIZE:
		if ((h = hexval(b)) >= 0) {
			/* A size that overflows 60 bits is an attack, not a body. */
			if (c->left >> 56 || ++c->digits > 15)
				return -EBADMSG;
			c->left = c->left * 16 + (uint64_t)h;
			return 0;
		}
		if (!c->digits)
			return -EBADMSG;
		c->state = b == '\r' ? CH_SIZE_LF : b == '\n' ? CH_DATA : (b == ';' || b == ' ' || b == '\t') ? CH_EXT : -1;
		if ((int)c->state < 0)
			return -EBADMSG;
		break;
	case CH_EXT:
		if (b == '\r') {
			c->state = CH_SIZE_LF;
			return 0;
		}
		if (b == '\n') {
			c->state = CH_DATA;
			break;
		}
		return ++c->ext > 1024 ? -EBADMSG : 0;
	case CH_SIZE_LF:
		if (b != '\n')
			return -EBADMSG;
		c->state = CH_DATA;
		break;
	case CH_DATA_CR:
		c->state = b == '\r' ? CH_DATA_LF : b == '\n' ? CH_SIZE : -1;
		if ((int)c->state < 0)
			return -EBADMSG;
		return 0;
	case CH_DATA_LF:
		if (b != '\n')
			return -EBADMSG;
		c->state = CH_SIZE;
		return 0;
	case CH_TRAILER:      /* at the start of a trailer line */
		c->state = b == '\r' ? CH_TRAILER_LF : b == '\n' ? CH_DONE : CH_TRAILER_LINE;
		return 0;
	case CH_TRAILER_LINE:
		if (b == '\n')
			c->state = CH_TRAILER;
		else if (++c->ext > 8192)
			return -EBADMSG;
		return 0;
	case CH_TRAILER_LF:
		if (b != '\n')
			return -EBADMSG;
		c->state = CH_DONE;
		return 0;
	default:
		return -EBADMSG;
	}
	/* The size line ended. */
	if (c->state == CH_DATA) {
		c->digits = 0;
		c->ext = 0;
		if (c->left == 0)
			c->state = CH_TRAILER;
	}
	return 0;
}

long http1_chunked_feed(struct http1_chunked *c, const uint8_t *in, size_t n,
			void (*out)(void *arg, const uint8_t *p, size_t n), void *arg)
{
	size_t i = 0;

	while (i < n && c->state != CH_DONE) {
		if (c->state == CH_DATA) {
			size_t take = n - i < c->left ? n - i : (size_t)c->left;

			out(arg, in + i, take);
			i += take;
			c->left -= take;
			if (!c->left)
				c->state = CH_DATA_CR;
			continue;
		}
		if (chunk_step(c, in[i++]) < 0)
			return -EBADMSG;
	}
	return (long)i;
}

bool http1_chunked_done(const struct http1_chunked *c)
{
	return c->state == CH_DONE;
}
