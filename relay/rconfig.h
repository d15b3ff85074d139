/* The relay's configuration file. */
#ifndef AZB_RCONFIG_H
#define AZB_RCONFIG_H

#include "config.h"
#include "relay.h"

/* What the file says beyond the struct relay it fills in. */
struct relay_config {
	struct relay_listen_addr *listen;
	size_t n_listen;
	char **hosts;
	size_t n_hosts;
	char *cert_file, *key_file;
	bool plain;
	char *log_level;
};

/* Rules and hybrid connections go into r, with limits and timeouts; the rest
 * into rc. -EINVAL with every problem in errs ("file:line: ..."). */
int relay_config_load(const char *path, struct relay *r, struct relay_config *rc,
		      struct cfg_errors *errs);
void relay_config_clear(struct relay_config *rc);
/* "127.0.0.1:9443", "[::1]:9443", ":9443" (any address). */
int relay_parse_listen(const char *s, struct relay_listen_addr *a);

#endif
