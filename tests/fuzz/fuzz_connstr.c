/* libFuzzer: a connection string from -x, a file or -o. What parses prints
 * (cs_format) as a string that parses to the same text again; what does not
 * leaves nothing behind and says why. The redactor every error and log line
 * goes through is run on the input and on the error: redacting twice
 * changes nothing, and it leaves no key or signature of a parsed string
 * after its field name. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connstr.h"
#include "log.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void redacts_once(const char *s)
{
	char *once = log_redact(s), *twice = log_redact(once);

	if (strcmp(once, twice) != 0)
		__builtin_trap();
	free(once);
	free(twice);
}

static bool shows(const char *text, const char *field, const char *value)
{
	char *needle;
	bool found;

	if (!value)
		return false;
	needle = xasprintf("%s%s", field, value);
	found = strstr(text, needle) != NULL;
	free(needle);
	return found;
}

static void round_trip(const struct azb_connstr *cs)
{
	char *text = cs_format(cs), *again, err[512];
	struct azb_connstr cs2;

	if (cs_parse(text, &cs2, err, sizeof(err)) < 0)
		__builtin_trap();
	again = cs_format(&cs2);
	if (strcmp(text, again) != 0)
		__builtin_trap();
	/* Printed and redacted, a parsed string shows neither key nor signature
	 * where they stand (the same text may stand in a field that is not secret). */
	free(again);
	again = log_redact(text);
	if (shows(again, "SharedAccessKey=", cs2.key) ||
	    shows(again, "SharedAccessSignature=", cs2.signature))
		__builtin_trap();
	free(again);
	free(text);
	cs_clear(&cs2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct azb_connstr cs;
	char err[512] = "", *s = xstrndup((const char *)data, size);

	redacts_once(s);
	if (cs_parse(s, &cs, err, sizeof(err)) < 0) {
		if (!err[0] || cs.endpoint || cs.key || cs.signature)
			__builtin_trap();
		redacts_once(err);
	} else {
		round_trip(&cs);
		cs_clear(&cs);
	}
	free(s);
	return 0;
}
