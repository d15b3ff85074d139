/* libFuzzer: an HTTP forward's target path for any request target a client
 * may send (the relay passes it visible ASCII from '/'). Whatever it holds,
 * the result starts with the base path, has no "." or ".." segment a server
 * could climb with (nor their %2e spellings), and keeps the query as sent. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../daemon/http_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "." or ".." as a segment, in any spelling a server might decode. */
static int dot_segment(const char *s, size_t n)
{
	size_t i = 0, dots = 0;

	while (i < n) {
		if (s[i] == '.')
			i++;
		else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] | 0x20) == 'e')
			i += 3;
		else
			return 0;
		dots++;
	}
	return dots == 1 || dots == 2;
}

static void check_path(const char *out, size_t n)
{
	for (const char *p = out, *end = out + n; p < end;) {
		const char *e = memchr(p, '/', (size_t)(end - p));
		size_t len = (size_t)((e ? e : end) - p);

		if (dot_segment(p, len))
			abort();
		if (!e)
			break;
		p = e + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const bases[] = { "/", "/base/", "/a/b/" };
	char *raw = malloc(size + 2), *out;
	const char *q, *base = bases[size % 3];
	size_t n = 1;

	raw[0] = '/';
	for (size_t i = 0; i < size; i++)   /* the relay's rule: visible ASCII */
		if (data[i] > 0x20 && data[i] < 0x7f && data[i] != '#')
			raw[n++] = (char)data[i];
	raw[n] = '\0';
	out = http_map_target("r", base, raw);
	if (strncmp(out, base, strlen(base)) != 0)
		abort();
	q = strchr(raw, '?');
	if (q && (!strchr(out, '?') || strcmp(strchr(out, '?'), q) != 0))
		abort();
	check_path(out, strchr(out, '?') ? (size_t)(strchr(out, '?') - out) : strlen(out));
	free(out);
	free(raw);
	return 0;
}
