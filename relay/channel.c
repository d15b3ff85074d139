#include "channel.h"

#include "hc_proto.h"
#include "log.h"

void channel_init(struct channel *ch, struct conn *c,
		  void (*on_renew)(struct channel *ch, const char *token))
{
	ch->c = c;
	sbuf_init(&ch->msg);
	ch->on_renew = on_renew;
}

static void on_response(struct channel *ch, const struct hcp_msg *m)
{
	struct relay_exchange *x = relay_exchange_find(conn_relay(ch->c), m->id);
	int r;

	log_debug("HTTP response %s: %d", m->id, m->status);
	r = x ? x->ops->response(x, ch, m) : -1;
	if (r < 0)
		log_debug("response for unknown or finished request %s dropped", m->id);
	ch->body_to = r > 0 ? x : NULL;
}

static void message(struct channel *ch)
{
	struct hcp_msg m;
	struct relay_exchange *x;
	char why[300];

	/* What a listener garbles fails at most the request it names: its
	 * channel, and everything else it carries, goes on. */
	if (hcp_parse_from_listener(ch->msg.s, ch->msg.len, &m, why, sizeof(why)) < 0) {
		log_info("listener channel from %s: message dropped: %s", conn_peer(ch->c), why);
		if (m.id && (x = relay_exchange_find(conn_relay(ch->c), m.id)))
			x->ops->bad_response(x, ch, why);
	} else if (m.kind == HCP_RENEW && ch->on_renew) {
		ch->on_renew(ch, m.token);
	} else if (m.kind == HCP_RESPONSE) {
		on_response(ch, &m);
	}
	hcp_clear(&m);
	ch->msg.len = 0;
	ch->msg.s[0] = '\0';
}

void channel_data(struct channel *ch, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	if (op == WS_OP_BINARY) {
		if (ch->body_to)
			ch->body_to->ops->body(ch->body_to, ch, p, n, last);
		return;
	}
	if (ch->msg.len + n > conn_relay(ch->c)->max_control_msg) {
		conn_send_close(ch->c, WS_CLOSE_TOO_BIG, "control message too large");
		conn_close(ch->c);
		return;
	}
	sbuf_addn(&ch->msg, (const char *)p, n);
	if (last)
		message(ch);
}

void channel_gone(struct channel *ch)
{
	for (struct relay_exchange *x = conn_relay(ch->c)->exchanges; x; x = x->next)
		x->ops->channel_gone(x, ch);
	ch->body_to = ch->serving = NULL;
	sbuf_free(&ch->msg);
}
