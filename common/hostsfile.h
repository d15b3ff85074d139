/* The azbridge block of a hosts file (/etc/hosts by default; the path is
 * always a parameter). Only the lines between the markers are ours:
 *
 *   # BEGIN azbridge (managed by azbridged; use azbridgectl hosts)
 *   127.0.0.8	sql1.corp.example.com	# binding=sql
 *   10.0.0.5	db.example	# manual
 *   # END azbridge
 *
 * Every byte outside the block is kept as it is; a block that empties is
 * removed with its markers, giving back the file's earlier bytes (appended
 * to a file without a final newline, the block brings the newline before
 * BEGIN and leaves END without one). Host names with a trailing dot or an
 * all-digit last label are refused. Names compare case-insensitively.
 *
 * Writers replace the file atomically and serialise on `lock`, a file of
 * their own that only they can open (created 0600; refused unless it is a
 * regular file of ours with that mode, never followed as a symlink), not on
 * the hosts file, which any user can read and so flock. Nothing waits: a
 * lock that another writer holds is -EAGAIN, for the caller to try again
 * later. A hosts file that is not a regular file (a FIFO, a device) is
 * refused with -EINVAL before anything is read from it. Readers take no
 * lock. Lines inside
 * the block that are not entries (hand edits) are kept, after the entries;
 * blank lines there are dropped. A missing file is created (0644) only when
 * there is something to write. Functions return 0 or a negative errno with a
 * message in err. */
#ifndef AZB_HOSTSFILE_H
#define AZB_HOSTSFILE_H

#include <stdbool.h>
#include <stddef.h>

struct hosts_entry {
	char *ip;      /* numeric IPv4 or IPv6 literal */
	char *name;    /* host name */
	char *owner;   /* binding name, or NULL for an entry added by hand */
};
struct hosts_list { size_t n; struct hosts_entry *e; };
void hosts_list_free(struct hosts_list *l);
/* The managed block's entries (a missing file or block: an empty list). */
int hosts_read(const char *path, struct hosts_list *out, char *err, size_t errlen);
/* Add or replace a manual entry by name. -EEXIST if a binding owns that name. */
int hosts_add_manual(const char *path, const char *lock, const char *ip, const char *name,
		     char *err, size_t errlen);
/* Remove a manual entry. -ENOENT none by that name; -EPERM it belongs to a binding. */
int hosts_remove_manual(const char *path, const char *lock, const char *name, char *err,
			size_t errlen);
/* Make the binding-owned entries exactly `owned` (each with a non-NULL owner);
 * manual entries stay, except one whose name is in `owned` (the binding wins).
 * Writes nothing when the file would not change. Returns 1 if the file was rewritten, 0 if not. */
int hosts_sync_owned(const char *path, const char *lock, const struct hosts_entry *owned, size_t n,
		     char *err, size_t errlen);
/* The same edit on text in memory, nothing read or written: *out (which the
 * caller frees) is what hosts_sync_owned() would write. For the fuzzer and
 * the tests of the parser. */
struct sbuf;
int hosts_sync_text(const char *in, size_t len, const struct hosts_entry *owned, size_t n,
		    struct sbuf *out, char *err, size_t errlen);
/* Validation used by callers too: */
bool hosts_valid_ip(const char *s);     /* inet_pton v4 or v6 */
bool hosts_valid_name(const char *s);   /* RFC 1123 host name: labels [A-Za-z0-9-], no leading/trailing '-', 1..63 per label, total <= 253, no trailing dot required */

#endif
