/* The azbridge block of a hosts file: exact bytes outside the block, modes,
 * ownership rules, symlinks, hand-edited lines, concurrent writers, the
 * writers' lock file, and what no other user can make us wait for. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostsfile.h"

#define BEGIN "# BEGIN azbridge (managed by azbridged; use azbridgectl hosts)\n"
#define END "# END azbridge"
#define OTHER "# static table\r\n127.0.0.1\tlocalhost\n\n  ::1 ip6-localhost   # v6\t\n" \
	      "10.1.1.1 mail\r\nno final newline"

struct tdir {
	char dir[256];
	char path[300];     /* dir/hosts */
	char lock[300];     /* dir/hosts.lock */
};

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");
	struct tdir *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%s/azb-hosts-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/hosts", t->dir);
	snprintf(t->lock, sizeof(t->lock), "%s/hosts.lock", t->dir);
	*state = t;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int teardown(void **state)
{
	struct tdir *t = *state;
	int r = nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	free(t);
	return r;
}

static void put(const char *path, const char *s, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void puts_file(const char *path, const char *s)
{
	put(path, s, strlen(s), 0644);
}

/* The whole file; NUL-terminated for the string asserts. */
static char *get(const char *path, size_t *len)
{
	struct stat st;
	char *s;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	s = malloc((size_t)st.st_size + 1);
	assert_non_null(s);
	assert_int_equal(read(fd, s, (size_t)st.st_size), st.st_size);
	s[st.st_size] = '\0';
	close(fd);
	if (len)
		*len = (size_t)st.st_size;
	return s;
}

static void assert_file(const char *path, const char *want)
{
	size_t len;
	char *s = get(path, &len);

	assert_string_equal(s, want);
	assert_int_equal(len, strlen(want));
	free(s);
}

/* The directory holds nothing but these names (no temp files left over). */
static void assert_only(const char *dir, size_t n, const char *const *names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t seen = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		bool known = false;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		for (size_t i = 0; i < n; i++)
			known |= strcmp(de->d_name, names[i]) == 0;
		if (!known)
			fail_msg("unexpected file %s in %s", de->d_name, dir);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, n);
}

static void test_add_keeps_other_bytes(void **state)
{
	struct tdir *t = *state;
	const char *only[] = { "hosts", "hosts.lock" };
	char err[256];

	puts_file(t->path, OTHER);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db.example", err, sizeof(err)), 0);
	assert_file(t->path, OTHER "\n" BEGIN "10.0.0.5\tdb.example\t# manual\n" END);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "fd00::7", "a.example", err, sizeof(err)), 0);
	assert_file(t->path, OTHER "\n" BEGIN "fd00::7\ta.example\t# manual\n"
		    "10.0.0.5\tdb.example\t# manual\n" END);
	assert_only(t->dir, 2, only);
}

static void test_remove_last_restores(void **state)
{
	struct tdir *t = *state;
	const char *texts[] = { OTHER, "127.0.0.1 localhost\r\n", "127.0.0.1 localhost\n", "" };
	char err[256];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		puts_file(t->path, texts[i]);
		assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
		assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.6", "db2", err, sizeof(err)), 0);
		assert_int_equal(hosts_remove_manual(t->path, t->lock, "db", err, sizeof(err)), 0);
		assert_int_equal(hosts_remove_manual(t->path, t->lock, "DB2", err, sizeof(err)), 0);
		assert_file(t->path, texts[i]);
	}
}

static void test_block_in_the_middle(void **state)
{
	struct tdir *t = *state;
	char err[256];

	puts_file(t->path, "a\n" BEGIN "1.2.3.4\tx\t# manual\n" END "\nb\r\nc");
	assert_int_equal(hosts_add_manual(t->path, t->lock, "1.2.3.5", "w", err, sizeof(err)), 0);
	assert_file(t->path, "a\n" BEGIN "1.2.3.5\tw\t# manual\n1.2.3.4\tx\t# manual\n" END
		    "\nb\r\nc");
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "x", err, sizeof(err)), 0);
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "w", err, sizeof(err)), 0);
	assert_file(t->path, "a\nb\r\nc");
}

static void test_mode_preserved(void **state)
{
	struct tdir *t = *state;
	struct stat before, after;
	char err[256];

	put(t->path, "127.0.0.1 localhost\n", 20, 0640);
	assert_int_equal(stat(t->path, &before), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
	assert_int_equal(stat(t->path, &after), 0);
	assert_int_equal(after.st_mode & 07777, 0640);
	assert_int_equal(after.st_uid, before.st_uid);
	assert_int_equal(after.st_gid, before.st_gid);
	/* replaced by a rename, not rewritten in place */
	assert_true(after.st_ino != before.st_ino);
}

static void test_missing_file(void **state)
{
	struct tdir *t = *state;
	struct stat st;
	mode_t old = umask(077);
	char err[256];

	assert_int_equal(hosts_remove_manual(t->path, t->lock, "db", err, sizeof(err)), -ENOENT);
	assert_int_equal(hosts_sync_owned(t->path, t->lock, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(stat(t->path, &st), -1);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_file(t->path, BEGIN "10.0.0.5\tdb\t# manual\n" END "\n");
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "db", err, sizeof(err)), 0);
	assert_file(t->path, "");
}

static void test_replace_manual(void **state)
{
	struct tdir *t = *state;
	char err[256];

	puts_file(t->path, "x\n");
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.6", "DB", err, sizeof(err)), 0);
	assert_file(t->path, "x\n" BEGIN "10.0.0.6\tDB\t# manual\n" END "\n");
	assert_int_equal(hosts_add_manual(t->path, t->lock, "::1", "db", err, sizeof(err)), 0);
	assert_file(t->path, "x\n" BEGIN "::1\tdb\t# manual\n" END "\n");
}

static void test_binding_owns_name(void **state)
{
	struct tdir *t = *state;
	const struct hosts_entry own[] = { { "127.0.0.8", "sql1.corp.example.com", "sql" } };
	const char *want = "x\n" BEGIN "127.0.0.8\tsql1.corp.example.com\t# binding=sql\n" END "\n";
	char err[256];

	puts_file(t->path, "x\n");
	assert_int_equal(hosts_sync_owned(t->path, t->lock, own, 1, err, sizeof(err)), 1);
	assert_file(t->path, want);
	err[0] = '\0';
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.1", "SQL1.corp.example.com", err,
					  sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "binding sql"));
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "sql1.corp.example.com", err, sizeof(err)),
			 -EPERM);
	assert_non_null(strstr(err, "binding sql"));
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "nothere", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "nothere: no such entry");
	assert_file(t->path, want);
}

static void test_sync(void **state)
{
	struct tdir *t = *state;
	const struct hosts_entry a[] = {
		{ "127.0.0.8", "sql1", "sql" },
		{ "127.0.0.9", "web", "web-1" },
		{ "127.0.0.9", "web", "web-1" },    /* duplicates collapse */
	};
	const struct hosts_entry b[] = { { "127.0.0.10", "sql2", "sql" } };
	char err[256];

	puts_file(t->path, "x\n");
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.1", "man", err, sizeof(err)), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.2", "web", err, sizeof(err)), 0);
	assert_int_equal(hosts_sync_owned(t->path, t->lock, a, 3, err, sizeof(err)), 1);
	assert_file(t->path, "x\n" BEGIN "10.0.0.1\tman\t# manual\n"
		    "127.0.0.8\tsql1\t# binding=sql\n127.0.0.9\tweb\t# binding=web-1\n" END "\n");
	assert_int_equal(hosts_sync_owned(t->path, t->lock, b, 1, err, sizeof(err)), 1);
	assert_file(t->path, "x\n" BEGIN "10.0.0.1\tman\t# manual\n"
		    "127.0.0.10\tsql2\t# binding=sql\n" END "\n");
	assert_int_equal(hosts_sync_owned(t->path, t->lock, NULL, 0, err, sizeof(err)), 1);
	assert_file(t->path, "x\n" BEGIN "10.0.0.1\tman\t# manual\n" END "\n");
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "man", err, sizeof(err)), 0);
	assert_file(t->path, "x\n");
}

static void test_sync_no_change(void **state)
{
	struct tdir *t = *state;
	const struct hosts_entry own[] = {
		{ "127.0.0.9", "web", "web" }, { "127.0.0.8", "sql1", "sql" },
	};
	const struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	struct stat before, after;
	char err[256];

	puts_file(t->path, OTHER);
	assert_int_equal(hosts_sync_owned(t->path, t->lock, own, 2, err, sizeof(err)), 1);
	assert_int_equal(utimensat(AT_FDCWD, t->path, old, 0), 0);
	assert_int_equal(stat(t->path, &before), 0);
	assert_int_equal(hosts_sync_owned(t->path, t->lock, own, 2, err, sizeof(err)), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.1", "sql1", err, sizeof(err)), -EEXIST);
	assert_int_equal(stat(t->path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_mtim.tv_sec, 1000000000);
	assert_int_equal(after.st_mtim.tv_nsec, 0);
	/* no block and nothing to add: nothing written either */
	puts_file(t->path, OTHER);
	assert_int_equal(utimensat(AT_FDCWD, t->path, old, 0), 0);
	assert_int_equal(stat(t->path, &before), 0);
	assert_int_equal(hosts_sync_owned(t->path, t->lock, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(stat(t->path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_mtim.tv_sec, 1000000000);
	assert_file(t->path, OTHER);
}

static void test_symlink(void **state)
{
	struct tdir *t = *state;
	const char *only[] = { "hosts", "hosts.lock", "real" };
	char real[320], buf[64], err[256];
	struct stat st;
	ssize_t n;

	snprintf(real, sizeof(real), "%s/real", t->dir);
	puts_file(real, "127.0.0.1 localhost\n");
	assert_int_equal(symlink("real", t->path), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
	assert_int_equal(lstat(t->path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	n = readlink(t->path, buf, sizeof(buf) - 1);
	assert_int_equal(n, 4);
	buf[n] = '\0';
	assert_string_equal(buf, "real");
	assert_file(real, "127.0.0.1 localhost\n" BEGIN "10.0.0.5\tdb\t# manual\n" END "\n");
	assert_only(t->dir, 3, only);
	/* a link to nothing is not followed into a new file */
	assert_int_equal(unlink(real), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), -ENOENT);
	assert_int_equal(stat(real, &st), -1);
}

static void test_invalid(void **state)
{
	struct tdir *t = *state;
	const char *bad_ip[] = { "", "1.2.3", "1.2.3.256", "010.0.0.1", "::g", "1.2.3.4/8",
				 "fe80::1%eth0", " 1.2.3.4" };
	const char *bad_name[] = { "", "-a", "a-", "a..b", ".a", "a.", "a_b", "a b", "a.123",
				   "1.2.3.4", "xn--\xc3\xa9" };
	char long_owner[66];
	const char *bad_owner[] = { "", "a b", "a/b", "a#b", "a\nb", long_owner };
	char err[256], label[70], name[300];
	struct stat st;

	memset(long_owner, 'o', 65);
	long_owner[65] = '\0';

	for (size_t i = 0; i < sizeof(bad_ip) / sizeof(bad_ip[0]); i++) {
		assert_false(hosts_valid_ip(bad_ip[i]));
		assert_int_equal(hosts_add_manual(t->path, t->lock, bad_ip[i], "db", err, sizeof(err)), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(bad_name) / sizeof(bad_name[0]); i++) {
		assert_false(hosts_valid_name(bad_name[i]));
		assert_int_equal(hosts_add_manual(t->path, t->lock, "1.2.3.4", bad_name[i], err, sizeof(err)),
				 -EINVAL);
		assert_int_equal(hosts_remove_manual(t->path, t->lock, bad_name[i], err, sizeof(err)), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(bad_owner) / sizeof(bad_owner[0]); i++) {
		const struct hosts_entry e = { "1.2.3.4", "db", (char *)bad_owner[i] };

		assert_int_equal(hosts_sync_owned(t->path, t->lock, &e, 1, err, sizeof(err)), -EINVAL);
	}
	{
		const struct hosts_entry e = { "1.2.3.4", "db", NULL };

		assert_int_equal(hosts_sync_owned(t->path, t->lock, &e, 1, err, sizeof(err)), -EINVAL);
	}
	assert_false(hosts_valid_ip(NULL));
	assert_false(hosts_valid_name(NULL));
	assert_int_equal(stat(t->path, &st), -1);
	assert_true(hosts_valid_ip("10.0.0.5"));
	assert_true(hosts_valid_ip("::ffff:1.2.3.4"));
	assert_true(hosts_valid_name("sql1.corp.example.com"));
	assert_true(hosts_valid_name("1a.x-y.Z9"));
	memset(label, 'a', 63);
	label[63] = '\0';
	assert_true(hosts_valid_name(label));
	label[63] = 'a';
	label[64] = '\0';
	assert_false(hosts_valid_name(label));
	/* 4 x 63 + 3 dots = 255 > 253 */
	snprintf(name, sizeof(name), "%.63s.%.63s.%.63s.%.63s", label, label, label, label);
	assert_false(hosts_valid_name(name));
	name[251] = '\0';                 /* 251 characters */
	assert_true(hosts_valid_name(name));
}

static void test_junk_kept(void **state)
{
	struct tdir *t = *state;
	struct hosts_list l = { 0 };
	char err[256];

	puts_file(t->path, "x\n" BEGIN "some junk\there\n\n1.2.3.4 old\n"
		  "1.2.3.5 a b  # two names\n# a note\r\n" END "\n");
	assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.e[0].ip, "1.2.3.4");
	assert_string_equal(l.e[0].name, "old");
	assert_null(l.e[0].owner);
	hosts_list_free(&l);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
	assert_file(t->path, "x\n" BEGIN "10.0.0.5\tdb\t# manual\n1.2.3.4\told\t# manual\n"
		    "some junk\there\n1.2.3.5 a b  # two names\n# a note\r\n" END "\n");
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "db", err, sizeof(err)), 0);
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "old", err, sizeof(err)), 0);
	/* the block stays while it holds lines nobody understood */
	assert_file(t->path, "x\n" BEGIN "some junk\there\n1.2.3.5 a b  # two names\n# a note\r\n"
		    END "\n");
}

static void test_read(void **state)
{
	struct tdir *t = *state;
	const struct hosts_entry own[] = { { "127.0.0.8", "b", "sql" } };
	struct hosts_list l = { 0 };
	char err[256];

	assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	puts_file(t->path, "1.1.1.1 c # manual\n");
	assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.1", "c", err, sizeof(err)), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.2", "a", err, sizeof(err)), 0);
	assert_int_equal(hosts_sync_owned(t->path, t->lock, own, 1, err, sizeof(err)), 1);
	assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.e[0].name, "a");
	assert_null(l.e[0].owner);
	assert_string_equal(l.e[1].name, "b");
	assert_string_equal(l.e[1].ip, "127.0.0.8");
	assert_string_equal(l.e[1].owner, "sql");
	assert_string_equal(l.e[2].name, "c");
	assert_string_equal(l.e[2].ip, "10.0.0.1");
	hosts_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.e);
}

static void test_bad_markers(void **state)
{
	struct tdir *t = *state;
	const char *texts[] = {
		"x\n" BEGIN "1.2.3.4 a\n",
		"x\n" END "\n",
		"x\n" BEGIN BEGIN END "\n",
		"x\n" BEGIN END "\n" BEGIN END "\n",
	};
	struct hosts_list l = { 0 };
	char err[256];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		puts_file(t->path, texts[i]);
		err[0] = '\0';
		assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "fix the azbridge block by hand"));
		assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), -EINVAL);
		assert_int_equal(l.n, 0);
		assert_file(t->path, texts[i]);
	}
}

static void test_oversize(void **state)
{
	struct tdir *t = *state;
	size_t n = (4u << 20) + 1;
	char *big = malloc(n), err[256];
	struct hosts_list l = { 0 };
	struct stat st;

	assert_non_null(big);
	memset(big, '#', n);
	big[n - 1] = '\n';
	put(t->path, big, n, 0644);
	err[0] = '\0';
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "larger than 4 MiB"));
	assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), -EFBIG);
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_size, (off_t)n);
	/* exactly 4 MiB is still a hosts file */
	put(t->path, big + 1, n - 1, 0644);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
	free(big);
}

/* A write that fails half way (here: over the file size limit) leaves the
 * old file as it was and no temp file behind. */
static void test_write_failure(void **state)
{
	struct tdir *t = *state;
	const char *only[] = { "hosts", "hosts.lock" };
	const char *text = "127.0.0.1 localhost\n";
	int status;
	pid_t pid;

	puts_file(t->path, text);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 40, 40 };
		char err[256];
		int r;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(100);
		r = hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err));
		_exit(r == -EFBIG && strstr(err, "File too large") ? 0 : 101);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_file(t->path, text);
	assert_only(t->dir, 2, only);
}

#define WRITERS 4
#define PER_WRITER 50

/* Writers never wait for the lock: each tries again after -EAGAIN, as the
 * daemon does from a timer. */
static int writer(const char *path, const char *lock, int w)
{
	char ip[32], name[64], err[256];
	int r;

	alarm(60);      /* a lock that never comes kills the child, not the suite */
	for (int i = 0; i < PER_WRITER; i++) {
		snprintf(ip, sizeof(ip), "10.%d.0.%d", w, i + 1);
		snprintf(name, sizeof(name), "w%d-h%d.example", w, i);
		while ((r = hosts_add_manual(path, lock, ip, name, err, sizeof(err))) == -EAGAIN)
			usleep(1000);
		if (r < 0) {
			fprintf(stderr, "writer %d: %s\n", w, err);
			return 1;
		}
	}
	return 0;
}

static void test_concurrent_writers(void **state)
{
	struct tdir *t = *state;
	const char *only[] = { "hosts", "hosts.lock" };
	struct hosts_list l = { 0 };
	pid_t pid[WRITERS];
	char err[256], *s;
	int status;

	puts_file(t->path, OTHER);
	for (int w = 0; w < WRITERS; w++) {
		pid[w] = fork();
		assert_true(pid[w] >= 0);
		if (pid[w] == 0)
			_exit(writer(t->path, t->lock, w));
	}
	for (int w = 0; w < WRITERS; w++) {
		assert_int_equal(waitpid(pid[w], &status, 0), pid[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, WRITERS * PER_WRITER);
	for (int w = 0; w < WRITERS; w++) {
		for (int i = 0; i < PER_WRITER; i++) {
			char ip[32], name[64];
			bool found = false;

			snprintf(ip, sizeof(ip), "10.%d.0.%d", w, i + 1);
			snprintf(name, sizeof(name), "w%d-h%d.example", w, i);
			for (size_t k = 0; k < l.n; k++)
				found |= !strcmp(l.e[k].name, name) && !strcmp(l.e[k].ip, ip);
			assert_true(found);
		}
	}
	hosts_list_free(&l);
	s = get(t->path, NULL);
	assert_memory_equal(s, OTHER "\n" BEGIN, strlen(OTHER "\n" BEGIN));
	assert_string_equal(s + strlen(s) - strlen("\n" END), "\n" END);
	free(s);
	assert_only(t->dir, 2, only);
}

/* A child holding flock(op) on path until the parent closes *release. */
static pid_t hold_lock(const char *path, int op, int *release)
{
	int ready[2], hold[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_RDONLY);

		close(ready[0]);
		close(hold[1]);
		if (fd < 0 || flock(fd, op) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		_exit(read(hold[0], &c, 1) < 0);
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release = hold[1];
	return pid;
}

static void release_lock(pid_t pid, int release)
{
	int status;

	close(release);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Any user can read the hosts file and so flock it: writers must not care. */
static void test_lock_on_hosts_file_ignored(void **state)
{
	struct tdir *t = *state;
	const struct hosts_entry own[] = { { "127.0.0.8", "sql1", "sql" } };
	struct hosts_list l = { 0 };
	char err[256];
	int release;
	pid_t pid;

	puts_file(t->path, "x\n");
	pid = hold_lock(t->path, LOCK_EX, &release);
	alarm(20);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
	assert_int_equal(hosts_sync_owned(t->path, t->lock, own, 1, err, sizeof(err)), 1);
	assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 2);
	hosts_list_free(&l);
	assert_int_equal(hosts_remove_manual(t->path, t->lock, "db", err, sizeof(err)), 0);
	alarm(0);
	release_lock(pid, release);
	assert_file(t->path, "x\n" BEGIN "127.0.0.8\tsql1\t# binding=sql\n" END "\n");
}

/* Another writer holding the lock file: -EAGAIN at once, nothing written. */
static void test_lock_busy(void **state)
{
	struct tdir *t = *state;
	char err[256];
	int release;
	pid_t pid;

	puts_file(t->path, "x\n");
	put(t->lock, "", 0, 0600);
	pid = hold_lock(t->lock, LOCK_EX, &release);
	alarm(20);
	err[0] = '\0';
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)),
			 -EAGAIN);
	assert_non_null(strstr(err, "hosts.lock: another writer holds the lock"));
	assert_int_equal(hosts_sync_owned(t->path, t->lock, NULL, 0, err, sizeof(err)), -EAGAIN);
	alarm(0);
	assert_file(t->path, "x\n");
	release_lock(pid, release);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
}

/* Only a regular file of ours, 0600, is a lock: anything else at the path
 * could be held or named by someone else. A symlink is never followed. */
static void test_lock_file_refused(void **state)
{
	struct tdir *t = *state;
	char target[320], err[256];
	struct stat st;

	puts_file(t->path, "x\n");
	snprintf(target, sizeof(target), "%s/elsewhere", t->dir);
	assert_int_equal(symlink(target, t->lock), 0);
	err[0] = '\0';
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)),
			 -ELOOP);
	assert_non_null(strstr(err, "a symbolic link"));
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(unlink(t->lock), 0);
	assert_int_equal(mkfifo(t->lock, 0600), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)),
			 -EPERM);
	assert_non_null(strstr(err, "refusing it as the hosts-file lock"));
	assert_int_equal(unlink(t->lock), 0);
	put(t->lock, "", 0, 0644);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)),
			 -EPERM);
	if (geteuid() == 0) {
		assert_int_equal(chmod(t->lock, 0600), 0);
		assert_int_equal(chown(t->lock, 65534, 65534), 0);
		assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err,
						  sizeof(err)), -EPERM);
	}
	assert_file(t->path, "x\n");
	assert_int_equal(unlink(t->lock), 0);
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)), 0);
	assert_int_equal(lstat(t->lock, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* A FIFO (or a device) at the path is refused before a read could hang. */
static void test_not_a_regular_file(void **state)
{
	struct tdir *t = *state;
	struct hosts_list l = { 0 };
	char err[256];

	assert_int_equal(mkfifo(t->path, 0644), 0);
	alarm(20);
	err[0] = '\0';
	assert_int_equal(hosts_read(t->path, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(hosts_add_manual(t->path, t->lock, "10.0.0.5", "db", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(hosts_sync_owned(t->path, t->lock, NULL, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(hosts_read("/dev/null", &l, err, sizeof(err)), -EINVAL);
	alarm(0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_add_keeps_other_bytes),
		T(test_remove_last_restores),
		T(test_block_in_the_middle),
		T(test_mode_preserved),
		T(test_missing_file),
		T(test_replace_manual),
		T(test_binding_owns_name),
		T(test_sync),
		T(test_sync_no_change),
		T(test_symlink),
		T(test_invalid),
		T(test_junk_kept),
		T(test_read),
		T(test_bad_markers),
		T(test_oversize),
		T(test_write_failure),
		T(test_concurrent_writers),
		T(test_lock_on_hosts_file_ignored),
		T(test_lock_busy),
		T(test_lock_file_refused),
		T(test_not_a_regular_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
