/* Connection strings: "Endpoint=sb://host/;SharedAccessKeyName=..;SharedAccessKey=..;
 * EntityPath=..;SharedAccessSignature=..;Authentication=..". Names are
 * case-insensitive, values may contain '='. */
#ifndef AZB_CONNSTR_H
#define AZB_CONNSTR_H

#include <stdbool.h>
#include <stddef.h>

struct azb_connstr {
	char *endpoint;
	char *key_name;
	char *key;              /* secret */
	char *entity_path;
	char *signature;        /* secret */
	char *authentication;   /* e.g. "Managed Identity" */
	char *operation_timeout;
};

int cs_parse(const char *s, struct azb_connstr *out, char *err, size_t errlen);
/* Canonical text: keys in the order above, only those set. */
char *cs_format(const struct azb_connstr *cs);
void cs_clear(struct azb_connstr *cs);   /* wipes secrets, frees, zeroes */
/* Strict base64 (a SAS key must be one); the text is never echoed. */
bool cs_valid_base64(const char *s);
/* Can s be shown in an error? Only when it cannot be a key or token pasted
 * in the wrong place: letters and '_', at most 40 (a key has 44 characters,
 * digits, '+' or '/'; a token has '&' and '='). */
bool cs_may_echo(const char *s);

#endif
