#include "ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "util.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

size_t ws_header(uint8_t *out, enum ws_op op, bool fin, uint64_t len, const uint8_t *mask)
{
	size_t n = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/* 16 bytes per step, one SSE2 register on x86-64 (a wider vector spills to
 * the stack there): this runs over every byte a bridge sends and the relay
 * gets. */
typedef uint8_t ws_block __attribute__((vector_size(16)));

void ws_mask(uint8_t *data, size_t len, const uint8_t key[4], size_t off)
{
	uint8_t k[sizeof(ws_block)];
	ws_block kv;
	size_t i = 0;

	for (size_t j = 0; j < sizeof(k); j++)
		k[j] = key[(off + j) & 3];
	memcpy(&kv, k, sizeof(kv));
	for (; i + sizeof(kv) <= len; i += sizeof(kv)) {
		ws_block w;

		memcpy(&w, data + i, sizeof(w));
		w ^= kv;
		memcpy(data + i, &w, sizeof(w));
	}
	for (; i < len; i++)
		data[i] ^= k[i % sizeof(k)];
}

void ws_parser_init(struct ws_parser *p, bool server)
{
	memset(p, 0, sizeof(*p));
	p->server = server;
}

void ws_parser_clear(struct ws_parser *p)
{
	free(p->ctrl);
	p->ctrl = NULL;
}

static size_t header_size(const uint8_t *h)
{
	size_t n = 2;

	if ((h[1] & 0x7f) == 126)
		n += 2;
	else if ((h[1] & 0x7f) == 127)
		n += 8;
	return n + ((h[1] & 0x80) ? 4 : 0);
}

static bool is_control(enum ws_op op)
{
	return op & 0x8;
}

/* Validate a complete header and set up the frame. */
static int start_frame(struct ws_parser *p)
{
	const uint8_t *h = p->hdr;
	size_t ln = h[1] & 0x7f, ko = 2;

	if (h[0] & 0x70)
		return -EPROTO;   /* no extensions were negotiated */
	p->fin = h[0] & 0x80;
	p->op = (enum ws_op)(h[0] & 0x0f);
	p->masked = h[1] & 0x80;
	if (p->masked != p->server)
		return -EPROTO;
	if (ln == 126) {
		p->left = (uint64_t)h[2] << 8 | h[3];
		ko = 4;
	} else if (ln == 127) {
		p->left = 0;
		for (int i = 0; i < 8; i++)
			p->left = p->left << 8 | h[2 + i];
		if (p->left >> 63)
			return -EPROTO;
		ko = 10;
	} else {
		p->left = ln;
	}
	if (p->masked)
		memcpy(p->key, h + ko, 4);
	p->off = 0;
	if (is_control(p->op))
		return p->fin && p->left <= WS_CTRL_MAX &&
		       (p->op == WS_OP_CLOSE || p->op == WS_OP_PING || p->op == WS_OP_PONG) ? 0 : -EPROTO;
	if (p->op == WS_OP_CONT ? !p->in_msg : p->in_msg)
		return -EPROTO;
	if (p->op != WS_OP_CONT && p->op != WS_OP_TEXT && p->op != WS_OP_BINARY)
		return -EPROTO;
	if (p->op != WS_OP_CONT)
		p->msg_op = p->op;
	p->in_msg = !p->fin;
	return 0;
}

/* Returns bytes used, or a negative error. */
static long take_header(struct ws_parser *p, const uint8_t *buf, size_t len)
{
	size_t used = 0, need;
	int r;

	while (p->hdr_have < 2 && used < len)
		p->hdr[p->hdr_have++] = buf[used++];
	if (p->hdr_have < 2)
		return (long)used;
	need = header_size(p->hdr);
	while (p->hdr_have < need && used < len)
		p->hdr[p->hdr_have++] = buf[used++];
	if (p->hdr_have < need)
		return (long)used;
	r = start_frame(p);
	return r < 0 ? r : (long)used;
}

/* Most control frames arrive whole and go to the owner in place; only a
 * piece of one is kept, so an idle parser holds no buffer. */
static int take_control(struct ws_parser *p, uint8_t *buf, size_t n,
			const struct ws_events *ev, void *arg)
{
	uint8_t *whole;
	int r;

	if (p->off == 0 && n == p->left) {
		p->left = 0;
		p->off = n;
		return ev->control(arg, p->op, buf, n);
	}
	if (!p->ctrl)
		p->ctrl = xmalloc(WS_CTRL_MAX);
	memcpy(p->ctrl + p->off, buf, n);
	p->off += n;
	p->left -= n;
	if (p->left)
		return 0;
	whole = p->ctrl;
	p->ctrl = NULL;
	r = ev->control(arg, p->op, whole, (size_t)p->off);
	free(whole);
	return r;
}

static int take_payload(struct ws_parser *p, uint8_t *buf, size_t n,
			const struct ws_events *ev, void *arg)
{
	bool done;

	if (p->masked)
		ws_mask(buf, n, p->key, (size_t)(p->off & 3));
	if (is_control(p->op))
		return take_control(p, buf, n, ev, arg);
	p->off += n;
	p->left -= n;
	done = p->left == 0;
	/* Empty non-final pieces carry nothing; skip them. */
	if (n == 0 && !(done && p->fin))
		return 0;
	return ev->data(arg, p->msg_op, buf, n, done && p->fin);
}

static bool header_complete(const struct ws_parser *p)
{
	return p->hdr_have >= 2 && p->hdr_have == header_size(p->hdr);
}

int ws_parse(struct ws_parser *p, uint8_t *buf, size_t len, const struct ws_events *ev, void *arg)
{
	for (;;) {
		size_t n;
		int r;

		if (!header_complete(p)) {
			long u;

			if (!len)
				return 0;
			u = take_header(p, buf, len);
			if (u < 0)
				return (int)u;
			buf += u;
			len -= (size_t)u;
			if (!header_complete(p))
				return 0;
		}
		n = p->left < len ? (size_t)p->left : len;
		if (n == 0 && p->left)
			return 0;
		r = take_payload(p, buf, n, ev, arg);
		if (r)
			return r;
		buf += n;
		len -= n;
		if (p->left == 0)
			p->hdr_have = 0;
	}
}

size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;

	if (n > WS_CTRL_MAX - 2)
		n = WS_CTRL_MAX - 2;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	memcpy(out + 2, reason ? reason : "", n);
	return 2 + n;
}

uint16_t ws_close_code(const uint8_t *p, size_t n)
{
	return n >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : WS_CLOSE_NO_STATUS;
}

int ws_client_key(char key[WS_KEY_LEN + 1])
{
	unsigned char raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	return 0;
}

void ws_accept_for(const char *key, char accept[WS_ACCEPT_LEN + 1])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char *cat = xasprintf("%s%s", key, ws_guid);

	SHA1((const unsigned char *)cat, strlen(cat), md);
	free(cat);
	EVP_EncodeBlock((unsigned char *)accept, md, sizeof(md));
}

int ws_check_upgrade_response(const struct http1_head *h, const char *key)
{
	char want[WS_ACCEPT_LEN + 1];
	const char *got = http1_get(h, "Sec-WebSocket-Accept");

	if (h->status != 101 || !http1_has_token(h, "Upgrade", "websocket") ||
	    !http1_has_token(h, "Connection", "upgrade") || !got)
		return -EPROTO;
	ws_accept_for(key, want);
	return strcmp(got, want) == 0 ? 0 : -EPROTO;
}

const char *ws_upgrade_request_key(const struct http1_head *h)
{
	const char *key = http1_get(h, "Sec-WebSocket-Key");
	const char *ver = http1_get(h, "Sec-WebSocket-Version");

	if (strcmp(h->method, "GET") != 0 || !http1_has_token(h, "Upgrade", "websocket") ||
	    !http1_has_token(h, "Connection", "upgrade") || !key || !ver || strcmp(ver, "13") != 0)
		return NULL;
	return key;
}
