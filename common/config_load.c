/* Reading files: the main file, then the drop-ins in lexical order. Each is
 * judged on its open descriptor before a byte is parsed; every message of a
 * file comes out in line order, and any error leaves nothing behind. */
#include "config_impl.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The daemon does what its configuration says, as root: whoever may change
 * a file of it (or add one to the drop-in directory) must be root already. */
static int config_unsafe(const struct stat *st, char *why, size_t len)
{
	const char *who = st->st_mode & 002 ? "anyone" : "its group";

	if (st->st_uid != 0 && st->st_uid != geteuid())
		return azb_errn(why, len, -EPERM, "is owned by uid %u, not root or this daemon's user "
				"(uid %u); refusing it", (unsigned)st->st_uid, (unsigned)geteuid());
	if (st->st_mode & 022)
		return azb_errn(why, len, -EPERM, "is writable by %s (mode %04o); refusing it", who,
				(unsigned)(st->st_mode & 07777));
	return 0;
}

static int open_checked(struct cfg_loader *ld, const char *path, FILE **f)
{
	char why[160];
	struct stat st;
	int fd = cred_open_file(path, 0, &st, why, sizeof(why));

	if (fd < 0) {
		if (!why[0])
			snprintf(why, sizeof(why), "cannot read: %s", strerror(-fd));
		cfg_errors_add(ld->errs, path, 0, "%s", why);
		return fd;
	}
	if (config_unsafe(&st, why, sizeof(why)) < 0) {
		cfg_errors_add(ld->errs, path, 0, "%s", why);
		close(fd);
		return -EPERM;
	}
	cred_file_exposed(&st, ld->exposed, sizeof(ld->exposed));
	*f = fdopen(fd, "r");
	return *f ? 0 : -errno;
}

static long msg_line(const char *msg, size_t skip)
{
	return strtol(msg + skip, NULL, 10);
}

/* Report a file's messages in line order, whatever order the checks ran. */
static void sort_by_line(struct cfg_errors *e, size_t from, const char *file)
{
	size_t skip = strlen(file) + 1;

	for (size_t i = from + 1; i < e->n; i++) {
		char *m = e->msg[i];
		size_t j = i;

		while (j > from && msg_line(e->msg[j - 1], skip) > msg_line(m, skip)) {
			e->msg[j] = e->msg[j - 1];
			j--;
		}
		e->msg[j] = m;
	}
}

int cfg_load_file(struct azb_config *c, const char *path, struct cfg_errors *errs)
{
	struct cfg_loader ld = { .c = c, .file = path, .errs = errs };
	size_t before = errs->n;
	const char *slash = strrchr(path, '/');
	config_t cf;
	FILE *f;

	if (open_checked(&ld, path, &f) < 0)
		return -EINVAL;
	ld.dir = slash ? xstrndup(path, (size_t)(slash - path) + (slash == path)) : xstrdup(".");
	config_init(&cf);
	if (!config_read(&cf, f)) {
		const char *t = config_error_text(&cf);

		cfg_errors_add(errs, path, config_error_line(&cf), "%s%s",
			       strncmp(t, "syntax error", 12) ? "syntax error: " : "", t);
	} else {
		cfg_apply_globals(&ld, config_root_setting(&cf));
		cfg_load_forwards(&ld, config_root_setting(&cf));
	}
	config_destroy(&cf);
	fclose(f);
	free(ld.dir);
	sort_by_line(errs, before, path);
	return errs->n == before ? 0 : -EINVAL;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int conf_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

static void load_dropins(struct azb_config *c, const char *dir, struct cfg_errors *errs)
{
	struct dirent **list = NULL;
	char why[160];
	struct stat st;
	int n;

	if (stat(dir, &st) == 0 && config_unsafe(&st, why, sizeof(why)) < 0) {
		cfg_errors_add(errs, dir, 0, "the drop-in directory %s", why);
		return;
	}
	n = scandir(dir, &list, conf_file, by_name);

	for (int i = 0; i < n; i++) {
		char *p = xasprintf("%s/%s", dir, list[i]->d_name);

		cfg_load_file(c, p, errs);
		free(p);
		free(list[i]);
	}
	free(list);
	if (n < 0 && errno != ENOENT && errno != ENOTDIR)
		cfg_errors_add(errs, dir, 0, "cannot read the drop-in directory: %s", strerror(errno));
}

int cfg_load(const char *path, const char *dropin_dir, struct azb_config **out,
	     struct cfg_errors *errs)
{
	struct azb_config *c = cfg_new();
	char *dir = dropin_dir ? xstrdup(dropin_dir) : xasprintf("%s.d", path);
	size_t before = errs->n;

	cfg_load_file(c, path, errs);
	load_dropins(c, dir, errs);
	free(dir);
	if (errs->n != before) {
		cfg_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}
