/* What the configuration's own files share; nothing outside them includes
 * this. config.h says which file does what. */
#ifndef AZB_CONFIG_IMPL_H
#define AZB_CONFIG_IMPL_H

#include <libconfig.h>

#include "config.h"
#include "util.h"

/* One file (or the command line) being applied to a config. */
struct cfg_loader {
	struct azb_config *c;
	const char *file;          /* for messages */
	char *dir;                 /* relative key files are found here */
	struct cfg_errors *errs;
	char exposed[160];         /* why the file may not hold a secret, or "" */
	int line;                  /* of the setting being applied, 0 on the command line */
};

static inline int cfg_line_of(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

/* config.c */
void cfg_strs_free(struct azb_strs *l);

/* config_keys.c: the settings table. */
/* A message at s's line of the file being loaded (s NULL: the file's). */
void cfg_error_at(struct cfg_loader *ld, const config_setting_t *s, const char *fmt, ...)
	AZB_PRINTF(3, 4);
/* Is name a credential key, valid inside a forward as well as globally? */
bool cfg_key_is_cred(const char *name);
/* Every credential key among group's members into cred. */
void cfg_apply_creds(struct cfg_loader *ld, const config_setting_t *group, struct azb_cred *cred);
/* Every global setting of a file's root; forwards are left to config_fwd.c. */
void cfg_apply_globals(struct cfg_loader *ld, const config_setting_t *root);

/* config_fwd.c: local_forward and remote_forward of a file's root, each
 * put into ld->c by name. */
void cfg_load_forwards(struct cfg_loader *ld, const config_setting_t *root);

#endif
