/* Small helpers shared by every binary: allocation that aborts on OOM,
 * secret wiping, a growable string buffer. */
#ifndef AZB_UTIL_H
#define AZB_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define AZB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define AZB_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* A daemon cannot do anything useful after malloc fails; one policy, no
 * NULL checks scattered over the tree. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) AZB_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) AZB_PRINTF(1, 0);

struct sockaddr_un;
/* Remove a socket file nothing answers on; -EADDRINUSE when one does. */
int unix_clear_stale(const struct sockaddr_un *sa);

/* Free a string that held a key or token: wipe it first. */
void azb_free_secret(char *s);
/* Replace *dst with a copy of src (NULL allowed), freeing the old value. */
void azb_set_str(char **dst, const char *src);

bool azb_streq(const char *a, const char *b);     /* NULL-safe */
bool azb_strcaseeq(const char *a, const char *b); /* NULL-safe, ASCII */
bool azb_is_uint(const char *s);                  /* non-empty, digits only */
/* Parse a decimal integer in [min, max]; 0 or -EINVAL/-ERANGE. */
int azb_parse_int(const char *s, long min, long max, long *out);

/* Growable NUL-terminated string. */
struct sbuf {
	char *s;
	size_t len, cap;
};
void sbuf_init(struct sbuf *b);
void sbuf_add(struct sbuf *b, const char *s);
void sbuf_addn(struct sbuf *b, const char *s, size_t n);
void sbuf_addc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) AZB_PRINTF(2, 3);
void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap);
char *sbuf_take(struct sbuf *b); /* caller frees; buffer reset */
void sbuf_free(struct sbuf *b);

/* Copy an error message into a caller buffer (err may be NULL). Returns -EINVAL
 * so parsers can `return azb_err(err, len, "...")`. */
int azb_err(char *err, size_t errlen, const char *fmt, ...) AZB_PRINTF(3, 4);
/* The same with the negative errno to return. */
int azb_errn(char *err, size_t errlen, int r, const char *fmt, ...) AZB_PRINTF(4, 5);
/* Write all n bytes at offset off (EINTR and short writes handled): 0 or -errno. */
int azb_pwrite_all(int fd, const void *p, size_t n, long long off);
/* Replace path with a file holding text, mode `mode`: written beside it
 * under a dot name, then renamed, so a reader never sees half of it. 0 or
 * -errno. */
int azb_write_atomic(const char *path, const char *text, unsigned mode);
/* Seconds on a clock (CLOCK_REALTIME, CLOCK_MONOTONIC), as a double. */
double azb_clock_s(int clock);

/* Well-formed UTF-8 as JSON needs it: no overlong forms, no surrogates,
 * nothing above U+10FFFF. NUL counts as invalid (n bytes are checked). */
bool azb_utf8_valid(const char *s, size_t n);

/* Keys and tokens live in this memory: no core file, no /proc/PID/mem or
 * environ for anyone without CAP_SYS_PTRACE. Called first in main(). */
void azb_undumpable(void);

/* n bytes from the kernel's random source (it blocks only before boot has
 * seeded it). */
void azb_random(void *buf, size_t n);
/* A random (version 4) UUID as 36 characters plus NUL. */
void azb_uuid(char out[37]);

#endif
