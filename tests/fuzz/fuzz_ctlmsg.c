/* libFuzzer: what a listener may send the relay as a control message. */
#include <stddef.h>
#include <stdint.h>

#include "ctlmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_msg m;
	char why[160];

	if (ctl_parse((const char *)data, size, &m, why, sizeof(why)) == 0) {
		/* Whatever passes must be safe to put into a response head. */
		for (size_t i = 0; i < m.n_headers; i++)
			if (!ctl_header_name_ok(m.headers[i].name) ||
			    !ctl_header_value_ok(m.headers[i].value))
				__builtin_trap();
		if (m.description && !ctl_header_value_ok(m.description))
			__builtin_trap();
		if (m.kind == CTL_RESPONSE && (m.status < 200 || m.status > 599))
			__builtin_trap();
	}
	ctl_clear(&m);
	return 0;
}
