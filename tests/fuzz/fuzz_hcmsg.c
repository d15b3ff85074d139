/* libFuzzer: a control message from the relay as the listener reads it.
 * Whatever passes must be safe to act on and to log: a wss rendezvous under
 * /$hc/ with a printable host and target and a port, a printable bounded id,
 * a printable peer; whatever fails must say why in printable text. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../daemon/hcmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool printable(const char *s, bool space)
{
	for (; *s; s++)
		if ((unsigned char)*s < (space ? 0x20 : 0x21) || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void check(const struct hcmsg *m)
{
	if (m->kind == HCMSG_ACCEPT && !m->addr.host)
		__builtin_trap();
	if (m->addr.host && (!*m->addr.host || !printable(m->addr.host, false) ||
			     strlen(m->addr.host) > HCMSG_HOST_MAX || m->addr.port == 0 ||
			     strncmp(m->addr.target, "/$hc/", 5) != 0 ||
			     !printable(m->addr.target, false)))
		__builtin_trap();
	if (m->kind == HCMSG_REQUEST && !m->id)
		__builtin_trap();
	if (m->id && (!printable(m->id, false) || strlen(m->id) > HCMSG_ID_MAX))
		__builtin_trap();
	if (!printable(m->peer, false))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hcmsg m;
	char err[300];

	if (hcmsg_parse((const char *)data, size, &m, err, sizeof(err)) == 0) {
		check(&m);
		hcmsg_clear(&m);
	} else if (!err[0] || !printable(err, true) || m.id || m.addr.host) {
		__builtin_trap();
	}
	return 0;
}
