#include "hostsfile.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define BEGIN_MARK "# BEGIN azbridge"
#define BEGIN_LINE BEGIN_MARK " (managed by azbridged; use azbridgectl hosts)"
#define END_LINE "# END azbridge"
#define MAX_SIZE (4u << 20)
#define WS " \t\r"
#define CREATE_TRIES 3

/* A line of the block that is not an entry: kept verbatim, never dropped. */
struct span {
	const char *s;
	size_t n;
};

/* A hosts file split around the block: buf[0, beg) and buf[end, len) are
 * not ours. Without a block, beg = end = len. */
struct hosts_doc {
	const char *buf;
	size_t len, beg, end;
	bool has_block;
	bool end_nl;            /* the END line had a newline */
	struct hosts_list l;
	struct span *junk;
	size_t n_junk;
};

/* The file being changed (fd -1: it does not exist yet; st is then what a
 * new one gets). */
struct hosts_file {
	char *path;             /* symlinks resolved */
	int fd;
	struct stat st;
	struct sbuf data;
	bool raced;             /* created by someone else while we wrote ours */
};

typedef int (*hosts_edit_fn)(struct hosts_doc *d, const void *ctx, char *err, size_t errlen);

/* ---- errors and validation --------------------------------------------- */

static int sys_err(char *err, size_t errlen, int e, const char *path, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s%s%s", path, what ? what : "", what ? ": " : "",
			 strerror(e));
	return -e;
}

bool hosts_valid_ip(const char *s)
{
	unsigned char buf[16];

	if (!s)
		return false;
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool valid_label(const char *s, size_t n, bool *digits)
{
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	*digits = true;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (!isdigit((unsigned char)s[i]))
			*digits = false;
	}
	return true;
}

/* A trailing dot is refused: the resolver's files backend compares names as
 * written, so "db.example." would not answer lookups of "db.example". An
 * all-digit last label would read as an address and never reach the file. */
bool hosts_valid_name(const char *s)
{
	bool digits = false;
	size_t len;

	if (!s)
		return false;
	len = strlen(s);
	if (len < 1 || len > 253)
		return false;
	for (const char *p = s;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!valid_label(p, n, &digits))
			return false;
		if (!dot)
			break;
		p = dot + 1;
	}
	return !digits;
}

static bool valid_owner(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static int check_entry(const char *ip, const char *name, char *err, size_t errlen)
{
	if (!hosts_valid_ip(ip))
		return azb_err(err, errlen, "%s: not an IPv4 or IPv6 address", ip ? ip : "(null)");
	if (!hosts_valid_name(name))
		return azb_err(err, errlen, "%s: not a valid host name", name ? name : "(null)");
	return 0;
}

/* ---- entry lists ------------------------------------------------------- */

void hosts_list_free(struct hosts_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->e[i].ip);
		free(l->e[i].name);
		free(l->e[i].owner);
	}
	free(l->e);
	l->e = NULL;
	l->n = 0;
}

static void list_add(struct hosts_list *l, const char *ip, const char *name, const char *owner)
{
	l->e = xrealloc(l->e, (l->n + 1) * sizeof(*l->e));
	l->e[l->n++] = (struct hosts_entry){
		xstrdup(ip), xstrdup(name), owner ? xstrdup(owner) : NULL,
	};
}

/* Drop the entries named `name` that are manual (owned false) or owned by a
 * binding (owned true); how many went. */
static size_t list_drop(struct hosts_list *l, const char *name, bool owned)
{
	size_t k = 0, dropped;

	for (size_t i = 0; i < l->n; i++) {
		struct hosts_entry *e = &l->e[i];

		if ((!name || strcasecmp(e->name, name) == 0) && (e->owner != NULL) == owned) {
			free(e->ip);
			free(e->name);
			free(e->owner);
			continue;
		}
		l->e[k++] = *e;
	}
	dropped = l->n - k;
	l->n = k;
	return dropped;
}

static const struct hosts_entry *list_find_owned(const struct hosts_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->e[i].owner && strcasecmp(l->e[i].name, name) == 0)
			return &l->e[i];
	return NULL;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct hosts_entry *a = pa, *b = pb;
	int r = strcasecmp(a->name, b->name);

	if (!r)
		r = strcmp(a->name, b->name);
	if (!r)
		r = strcmp(a->ip, b->ip);
	if (!r && (!a->owner || !b->owner))
		r = (a->owner != NULL) - (b->owner != NULL);
	if (!r && a->owner)
		r = strcmp(a->owner, b->owner);
	return r;
}

/* ---- parsing ----------------------------------------------------------- */

/* The line without trailing blanks and carriage returns. */
static size_t trimmed_len(const char *s, size_t n)
{
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	return n;
}

static bool is_begin(const char *s, size_t n)
{
	size_t m = strlen(BEGIN_MARK);

	n = trimmed_len(s, n);
	return n >= m && memcmp(s, BEGIN_MARK, m) == 0 && (n == m || s[m] == ' ' || s[m] == '\t');
}

static bool is_end(const char *s, size_t n)
{
	n = trimmed_len(s, n);
	return n == strlen(END_LINE) && memcmp(s, END_LINE, n) == 0;
}

/* "# manual" or "# binding=NAME" (or no comment: a hand-added line is manual). */
static bool parse_owner(char *c, char **owner)
{
	char *end;

	*owner = NULL;
	if (!c)
		return true;
	c += strspn(c, WS);
	end = c + strlen(c);
	while (end > c && strchr(WS, end[-1]))
		*--end = '\0';
	if (strcmp(c, "manual") == 0)
		return true;
	if (strncmp(c, "binding=", 8) != 0 || !valid_owner(c + 8))
		return false;
	*owner = c + 8;
	return true;
}

static bool parse_entry(const char *s, size_t n, struct hosts_list *l)
{
	char *line, *hash, *sp, *ip, *name, *owner;
	bool ok = false;

	if (memchr(s, '\0', n))
		return false;
	line = xstrndup(s, n);
	hash = strchr(line, '#');
	if (hash)
		*hash++ = '\0';
	ip = strtok_r(line, WS, &sp);
	name = ip ? strtok_r(NULL, WS, &sp) : NULL;
	if (name && !strtok_r(NULL, WS, &sp) && hosts_valid_ip(ip) && hosts_valid_name(name) &&
	    parse_owner(hash, &owner)) {
		list_add(l, ip, name, owner);
		ok = true;
	}
	free(line);
	return ok;
}

static void block_line(struct hosts_doc *d, const char *s, size_t n)
{
	if (trimmed_len(s, n) == 0 || parse_entry(s, n, &d->l))
		return;
	d->junk = xrealloc(d->junk, (d->n_junk + 1) * sizeof(*d->junk));
	d->junk[d->n_junk++] = (struct span){ s, n };
}

static int marker_err(const char *path, size_t line, const char *what, char *err, size_t errlen)
{
	return azb_err(err, errlen, "%s:%zu: %s; fix the azbridge block by hand", path, line, what);
}

/* One line; state 0 before the block, 1 inside, 2 after. */
static int doc_line(struct hosts_doc *d, int *state, size_t off, size_t n, bool nl,
		    size_t lineno, const char *path, char *err, size_t errlen)
{
	const char *s = d->buf + off;

	if (is_begin(s, n)) {
		if (*state != 0)
			return marker_err(path, lineno, "a second BEGIN azbridge line", err, errlen);
		d->has_block = true;
		d->beg = off;
		*state = 1;
	} else if (is_end(s, n)) {
		if (*state != 1)
			return marker_err(path, lineno, "END azbridge without BEGIN", err, errlen);
		d->end = off + n + nl;
		d->end_nl = nl;
		*state = 2;
	} else if (*state == 1) {
		block_line(d, s, n);
	}
	return 0;
}

static int doc_parse(struct hosts_doc *d, const char *buf, size_t len, const char *path,
		     char *err, size_t errlen)
{
	size_t off = 0, lineno = 0;
	int state = 0, r;

	memset(d, 0, sizeof(*d));
	d->buf = buf;
	d->len = d->beg = d->end = len;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;

		r = doc_line(d, &state, off, n, nl != NULL, ++lineno, path, err, errlen);
		if (r < 0)
			return r;
		off += n + (nl != NULL);
	}
	if (state == 1)
		return marker_err(path, lineno, "BEGIN azbridge without END", err, errlen);
	return 0;
}

static void doc_clear(struct hosts_doc *d)
{
	hosts_list_free(&d->l);
	free(d->junk);
	d->junk = NULL;
	d->n_junk = 0;
}

/* ---- rendering --------------------------------------------------------- */

static void render_block(struct hosts_doc *d, struct sbuf *out, bool end_nl)
{
	if (d->l.n)   /* the array is NULL when empty: not for qsort (UBSan) */
		qsort(d->l.e, d->l.n, sizeof(*d->l.e), entry_cmp);
	sbuf_add(out, BEGIN_LINE "\n");
	for (size_t i = 0; i < d->l.n; i++) {
		const struct hosts_entry *e = &d->l.e[i];

		if (e->owner)
			sbuf_printf(out, "%s\t%s\t# binding=%s\n", e->ip, e->name, e->owner);
		else
			sbuf_printf(out, "%s\t%s\t# manual\n", e->ip, e->name);
	}
	for (size_t i = 0; i < d->n_junk; i++) {
		sbuf_addn(out, d->junk[i].s, d->junk[i].n);
		sbuf_addc(out, '\n');
	}
	sbuf_add(out, end_nl ? END_LINE "\n" : END_LINE);
}

/* The block takes over the file's final-newline state: appended to a file
 * that lacked a final newline, the newline goes before BEGIN and END gets
 * none, so that removing the block later gives back the exact bytes. */
static void doc_render(struct hosts_doc *d, struct sbuf *out)
{
	size_t pre = d->beg;
	bool keep = d->l.n || d->n_junk;
	bool end_nl = d->end_nl;

	if (!d->has_block)
		end_nl = d->len == 0 || d->buf[d->len - 1] == '\n';
	else if (!keep && !d->end_nl && pre && d->buf[pre - 1] == '\n')
		pre--;
	sbuf_init(out);
	sbuf_addn(out, d->buf, pre);
	if (keep) {
		if (!d->has_block && !end_nl)
			sbuf_addc(out, '\n');
		render_block(d, out, end_nl);
	}
	sbuf_addn(out, d->buf + d->end, d->len - d->end);
}

/* ---- reading ----------------------------------------------------------- */

static int read_all(int fd, const char *path, struct sbuf *out, char *err, size_t errlen)
{
	char chunk[16384];
	ssize_t n;

	sbuf_init(out);
	for (;;) {
		n = pread(fd, chunk, sizeof(chunk), (off_t)out->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sys_err(err, errlen, errno, path, "read");
		if (n == 0)
			return 0;
		if (out->len + (size_t)n > MAX_SIZE)
			break;
		sbuf_addn(out, chunk, (size_t)n);
	}
	if (err && errlen)
		snprintf(err, errlen, "%s: larger than %u MiB; refusing to parse it", path,
			 MAX_SIZE >> 20);
	return -EFBIG;
}

/* Nothing another user can do may block us here: a FIFO or a device at the
 * path is refused before any read (O_NONBLOCK keeps the open itself from
 * waiting for a FIFO's writer or a lease's holder), and we take no lock on
 * a file that every user can open and so flock. -ENOENT without a message:
 * a missing file is no error to the callers. */
static int open_regular(const char *path, int flags, struct stat *st, char *err, size_t errlen)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0)
		return errno == EWOULDBLOCK ?
		       azb_errn(err, errlen, -EAGAIN, "%s: held by a lease; try again", path) :
		       sys_err(err, errlen, errno, path, NULL);
	if (fstat(fd, st) < 0) {
		int r = sys_err(err, errlen, errno, path, "stat");

		close(fd);
		return r;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return azb_errn(err, errlen, -EINVAL, "%s: not a regular file; refusing to use it as "
				"a hosts file", path);
	}
	return fd;
}

/* Without a lock: writers replace the file by a rename, so a reader sees the
 * old or the new one (see write_in_place for the exception). */
int hosts_read(const char *path, struct hosts_list *out, char *err, size_t errlen)
{
	struct sbuf data = { 0 };
	struct hosts_doc d;
	struct stat st;
	int fd, r;

	memset(out, 0, sizeof(*out));
	if (!path)
		return azb_err(err, errlen, "no hosts file given");
	fd = open_regular(path, O_RDONLY, &st, err, errlen);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	r = read_all(fd, path, &data, err, errlen);
	close(fd);
	if (r < 0)
		goto out;
	r = doc_parse(&d, data.s, data.len, path, err, errlen);
	if (r == 0) {
		*out = d.l;
		d.l = (struct hosts_list){ 0 };
	}
	doc_clear(&d);
out:
	sbuf_free(&data);
	return r;
}

/* ---- the writers' lock --------------------------------------------------- */

/* Writers serialise on a file of their own, which only we can open (it is
 * ours, 0600, in a directory only root writes), never on the hosts file.
 * Taken without waiting: a busy lock is -EAGAIN, for the caller to retry
 * later rather than block its event loop. */
static int lock_take(const char *lock, char *err, size_t errlen)
{
	int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		      0600);
	struct stat st;
	int r = 0;

	if (fd < 0)
		return sys_err(err, errlen, errno, lock, errno == ELOOP ? "a symbolic link" : NULL);
	if (fstat(fd, &st) < 0)
		r = sys_err(err, errlen, errno, lock, "stat");
	else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		r = azb_errn(err, errlen, -EPERM, "%s: not a regular file of uid %u with mode 0600; "
			     "refusing it as the hosts-file lock", lock, (unsigned)geteuid());
	while (r == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			r = azb_errn(err, errlen, -EAGAIN, "%s: another writer holds the lock", lock);
		else if (errno != EINTR)
			r = sys_err(err, errlen, errno, lock, "lock");
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* ---- the file being changed -------------------------------------------- */

/* Work on a symlink's target so that the rename below replaces the target
 * and the link stays a link. A file that does not exist yet resolves by its
 * directory. */
static int resolve(const char *path, char **out, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char *dir, *rdir;
	struct stat st;

	*out = realpath(path, NULL);
	if (*out)
		return 0;
	if (errno != ENOENT)
		return sys_err(err, errlen, errno, path, NULL);
	if (lstat(path, &st) == 0)
		return sys_err(err, errlen, ENOENT, path, "symlink to a missing file");
	dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	rdir = realpath(dir, NULL);
	free(dir);
	if (!rdir)
		return sys_err(err, errlen, errno, path, "directory");
	*out = xasprintf("%s/%s", strcmp(rdir, "/") ? rdir : "", slash ? slash + 1 : path);
	free(rdir);
	return 0;
}

/* A missing file (fd -1) gets the mode every program that resolves names
 * needs, whatever the umask, and our owner. */
static int file_open(struct hosts_file *hf, const char *path, char *err, size_t errlen)
{
	int r = resolve(path, &hf->path, err, errlen);

	if (r < 0)
		return r;
	hf->fd = open_regular(hf->path, O_RDWR, &hf->st, err, errlen);
	if (hf->fd == -ENOENT) {
		hf->fd = -1;
		hf->st = (struct stat){ .st_mode = S_IFREG | 0644, .st_uid = geteuid(),
					.st_gid = getegid() };
		return 0;
	}
	return hf->fd < 0 ? hf->fd : 0;
}

static void file_close(struct hosts_file *hf)
{
	if (hf->fd >= 0)
		close(hf->fd);
	hf->fd = -1;
	free(hf->path);
	hf->path = NULL;
	sbuf_free(&hf->data);
}

/* ---- writing ----------------------------------------------------------- */

/* Owner first: chown may clear set-id bits that the chmod then restores. Not
 * being root is fine only when the file is ours already. */
static int copy_attrs(int fd, const struct stat *st)
{
	struct stat tmp;

	if (fstat(fd, &tmp) < 0)
		return -errno;
	if ((tmp.st_uid != st->st_uid || tmp.st_gid != st->st_gid) &&
	    fchown(fd, st->st_uid, st->st_gid) < 0 &&
	    !(errno == EPERM && geteuid() != 0 && st->st_uid == geteuid()))
		return -errno;
	if (fchmod(fd, st->st_mode & 07777) < 0)
		return -errno;
	return 0;
}

static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = xstrndup(path, slash && slash != path ? (size_t)(slash - path) : 1);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* The rename already happened; a filesystem that cannot sync a
	 * directory is no reason to report the change as failed. */
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Only when the path cannot be replaced: /etc/hosts bind-mounted into a
 * container (EBUSY) or another filesystem's file mounted over it (EXDEV),
 * or a writable file in a read-only directory (EROFS: a service unit's
 * ReadWritePaths=/etc/hosts under ProtectSystem=strict).
 * Not atomic: other writers are kept out by the lock, but a reader may see
 * the file half written. */
static int write_in_place(struct hosts_file *hf, const struct sbuf *out, char *err, size_t errlen)
{
	int r = azb_pwrite_all(hf->fd, out->s, out->len, 0);

	if (r == 0 && ftruncate(hf->fd, (off_t)out->len) < 0)
		r = -errno;
	if (r == 0 && fsync(hf->fd) < 0)
		r = -errno;
	return r < 0 ? sys_err(err, errlen, -r, hf->path, "rewrite in place") : 0;
}

/* Write the new bytes to a file beside the old one, named *tmp. */
static int write_temp(struct hosts_file *hf, const struct sbuf *out, char **tmp)
{
	const char *slash = strrchr(hf->path, '/');
	int fd, r;

	*tmp = xasprintf("%.*s/.%s.azbridge-XXXXXX", (int)(slash - hf->path), hf->path,
			 slash + 1);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = copy_attrs(fd, &hf->st);
	if (r == 0)
		r = azb_pwrite_all(fd, out->s, out->len, 0);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		unlink(*tmp);
	return r;
}

/* A filesystem without RENAME_NOREPLACE gets the plain rename: the file
 * was missing a moment ago, and the lock keeps the other writers out. */
static int rename_into(const char *tmp, const char *path, bool noreplace)
{
	if (noreplace && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (noreplace && errno != EINVAL)
		return -errno;
	return rename(tmp, path) < 0 ? -errno : 0;
}

/* Renamed over the old file: readers see the old file or the new one, never
 * half of one, and a failure leaves the old one as it was. A file that was
 * missing must still be missing, else hf->raced. */
static int write_file(struct hosts_file *hf, const struct sbuf *out, char *err, size_t errlen)
{
	char *tmp;
	int r = write_temp(hf, out, &tmp);

	if (r == -EROFS && hf->fd >= 0) {
		free(tmp);
		return write_in_place(hf, out, err, errlen);
	}
	if (r < 0) {
		r = sys_err(err, errlen, -r, hf->path, "writing the new copy beside it");
		free(tmp);
		return r;
	}
	r = rename_into(tmp, hf->path, hf->fd < 0);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	if ((r == -EBUSY || r == -EXDEV) && hf->fd >= 0)
		return write_in_place(hf, out, err, errlen);
	if (r == -EEXIST && hf->fd < 0) {
		hf->raced = true;
		return azb_errn(err, errlen, -EAGAIN, "%s: kept appearing while being created",
				hf->path);
	}
	if (r < 0)
		return sys_err(err, errlen, -r, hf->path, "rename");
	sync_dir(hf->path);
	return 0;
}

/* ---- read-modify-write ------------------------------------------------- */

static bool changed(const struct sbuf *a, const struct sbuf *b)
{
	return a->len != b->len || memcmp(a->s, b->s, a->len) != 0;
}

/* The edit under the lock: 1 when the file changed (and was written), 0
 * when it would not change. */
static int apply_edit(struct hosts_file *hf, hosts_edit_fn edit, const void *ctx,
		      char *err, size_t errlen)
{
	struct sbuf out = { 0 };
	struct hosts_doc d;
	int r = 0;

	if (hf->fd >= 0)
		r = read_all(hf->fd, hf->path, &hf->data, err, errlen);
	else
		sbuf_init(&hf->data);
	memset(&d, 0, sizeof(d));
	if (r == 0)
		r = doc_parse(&d, hf->data.s, hf->data.len, hf->path, err, errlen);
	if (r == 0)
		r = edit(&d, ctx, err, errlen);
	if (r == 0) {
		doc_render(&d, &out);
		r = changed(&out, &hf->data);
	}
	if (r > 0) {
		int w = write_file(hf, &out, err, errlen);

		if (w < 0)
			r = w;
	}
	doc_clear(&d);
	sbuf_free(&out);
	return r;
}

/* A file created by someone else while we wrote ours is read again: our
 * edit goes into it rather than over it. */
static int update(const char *path, const char *lock, hosts_edit_fn edit, const void *ctx,
		  char *err, size_t errlen)
{
	bool raced = true;
	int lfd, r = 0;

	if (!path || !lock)
		return azb_err(err, errlen, "no hosts file or lock file given");
	lfd = lock_take(lock, err, errlen);
	if (lfd < 0)
		return lfd;
	for (int i = 0; i < CREATE_TRIES && raced; i++) {
		struct hosts_file hf = { .fd = -1 };

		r = file_open(&hf, path, err, errlen);
		if (r == 0)
			r = apply_edit(&hf, edit, ctx, err, errlen);
		raced = hf.raced;
		file_close(&hf);
	}
	close(lfd);
	return r;
}

/* ---- the edits --------------------------------------------------------- */

struct manual_args {
	const char *ip, *name;
};

static int edit_add(struct hosts_doc *d, const void *ctx, char *err, size_t errlen)
{
	const struct manual_args *a = ctx;
	const struct hosts_entry *o = list_find_owned(&d->l, a->name);

	if (o)
		return azb_errn(err, errlen, -EEXIST, "%s belongs to binding %s; change the binding",
				o->name, o->owner);
	list_drop(&d->l, a->name, false);
	list_add(&d->l, a->ip, a->name, NULL);
	return 0;
}

int hosts_add_manual(const char *path, const char *lock, const char *ip, const char *name,
		     char *err, size_t errlen)
{
	struct manual_args a = { ip, name };
	int r = check_entry(ip, name, err, errlen);

	if (r == 0)
		r = update(path, lock, edit_add, &a, err, errlen);
	return r < 0 ? r : 0;
}

static int edit_remove(struct hosts_doc *d, const void *ctx, char *err, size_t errlen)
{
	const struct manual_args *a = ctx;
	const struct hosts_entry *o;

	if (list_drop(&d->l, a->name, false))
		return 0;
	o = list_find_owned(&d->l, a->name);
	if (o)
		return azb_errn(err, errlen, -EPERM, "%s belongs to binding %s; change the binding",
				o->name, o->owner);
	return azb_errn(err, errlen, -ENOENT, "%s: no such entry", a->name);
}

int hosts_remove_manual(const char *path, const char *lock, const char *name, char *err,
			size_t errlen)
{
	struct manual_args a = { NULL, name };
	int r;

	if (!hosts_valid_name(name))
		return azb_err(err, errlen, "%s: not a valid host name", name ? name : "(null)");
	r = update(path, lock, edit_remove, &a, err, errlen);
	return r < 0 ? r : 0;
}

struct owned_args {
	const struct hosts_entry *e;
	size_t n;
};

static bool has_entry(const struct hosts_list *l, const struct hosts_entry *e)
{
	for (size_t i = 0; i < l->n; i++)
		if (azb_streq(l->e[i].owner, e->owner) && strcmp(l->e[i].ip, e->ip) == 0 &&
		    strcasecmp(l->e[i].name, e->name) == 0)
			return true;
	return false;
}

static int edit_sync(struct hosts_doc *d, const void *ctx, char *err, size_t errlen)
{
	const struct owned_args *a = ctx;

	(void)err;
	(void)errlen;
	list_drop(&d->l, NULL, true);
	for (size_t i = 0; i < a->n; i++)
		list_drop(&d->l, a->e[i].name, false);
	for (size_t i = 0; i < a->n; i++)
		if (!has_entry(&d->l, &a->e[i]))
			list_add(&d->l, a->e[i].ip, a->e[i].name, a->e[i].owner);
	return 0;
}

static int check_owned(const struct hosts_entry *owned, size_t n, char *err, size_t errlen)
{
	int r;

	if (n && !owned)
		return azb_err(err, errlen, "no entries given");
	for (size_t i = 0; i < n; i++) {
		r = check_entry(owned[i].ip, owned[i].name, err, errlen);
		if (r < 0)
			return r;
		if (!valid_owner(owned[i].owner))
			return azb_err(err, errlen, "%s: not a valid binding name for a hosts entry",
				       owned[i].owner ? owned[i].owner : "(null)");
	}
	return 0;
}

int hosts_sync_owned(const char *path, const char *lock, const struct hosts_entry *owned, size_t n,
		     char *err, size_t errlen)
{
	struct owned_args a = { owned, n };
	int r = check_owned(owned, n, err, errlen);

	return r < 0 ? r : update(path, lock, edit_sync, &a, err, errlen);
}

int hosts_sync_text(const char *in, size_t len, const struct hosts_entry *owned, size_t n,
		    struct sbuf *out, char *err, size_t errlen)
{
	struct owned_args a = { owned, n };
	struct hosts_doc d;
	int r = check_owned(owned, n, err, errlen);

	memset(out, 0, sizeof(*out));
	memset(&d, 0, sizeof(d));
	if (r == 0)
		r = doc_parse(&d, in, len, "(text)", err, errlen);
	if (r == 0)
		r = edit_sync(&d, &a, err, errlen);
	if (r == 0)
		doc_render(&d, out);
	doc_clear(&d);
	return r;
}
