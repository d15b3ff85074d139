#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
/* Our call site says nothing: every line would name log.c. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

static struct {
	const char *ident;
	enum log_target target;
	int level;
	FILE *file;
} L = { "azbridge", LOG_TARGET_STDERR, LOG_INFO, NULL };

static const struct {
	const char *word;
	int prio;
} level_words[] = {
	{ "none", -1 },        { "quiet", -1 },      { "fatal", LOG_CRIT },
	{ "critical", LOG_CRIT }, { "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "verbose", LOG_DEBUG },
	{ "debug", LOG_DEBUG },  { "debug1", LOG_DEBUG }, { "debug2", LOG_DEBUG },
	{ "debug3", LOG_DEBUG },
};

int log_level_parse(const char *word, int *prio)
{
	for (size_t i = 0; word && i < AZB_ARRAY_SIZE(level_words); i++) {
		if (strcasecmp(word, level_words[i].word) == 0) {
			*prio = level_words[i].prio;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(int prio)
{
	static const char *names[] = { "emergency", "alert", "fatal", "error",
				       "warning", "notice", "info", "debug" };

	if (prio < 0)
		return "none";
	return names[prio > LOG_DEBUG ? LOG_DEBUG : prio];
}

/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connected to
 * stderr; only then is stderr really the journal (not a redirect). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

int log_init(const char *ident, enum log_target target, const char *file)
{
	log_close();
	L.ident = ident;
	if (target == LOG_TARGET_AUTO)
		target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
	if (target == LOG_TARGET_FILE) {
		L.file = fopen(file, "ae");
		if (!L.file)
			return -errno;
		setvbuf(L.file, NULL, _IOLBF, 0);
	}
	L.target = target;
	return 0;
}

void log_close(void)
{
	if (L.file)
		fclose(L.file);
	L.file = NULL;
	L.target = LOG_TARGET_STDERR;
}

void log_set_level(int prio)
{
	L.level = prio;
}

int log_get_level(void)
{
	return L.level;
}

bool log_enabled(int prio)
{
	return prio <= L.level;
}

static void ctx_suffix(struct sbuf *b, const struct log_ctx *c)
{
	const char *k[] = { "binding", "relay", "tunnel", "peer" };
	const char *v[] = { c->binding, c->relay, c->tunnel, c->peer };
	bool first = true;

	for (size_t i = 0; i < AZB_ARRAY_SIZE(k); i++) {
		if (!v[i])
			continue;
		sbuf_printf(b, "%s%s=%s", first ? " (" : " ", k[i], v[i]);
		first = false;
	}
	if (!first)
		sbuf_addc(b, ')');
}

/* Unset fields are left out rather than sent empty: journald keeps empty
 * fields, and "AZB_TUNNEL=" on every line would only be noise for
 * journalctl AZB_TUNNEL=... matches. */
static void emit_journal(int prio, const struct log_ctx *c, const char *msg)
{
	static const struct log_ctx none;
	const char *key[] = { "AZB_BINDING", "AZB_RELAY", "AZB_TUNNEL", "AZB_PEER" };
	const char *val[AZB_ARRAY_SIZE(key)];
	char *f[3 + AZB_ARRAY_SIZE(key)];
	struct iovec iov[AZB_ARRAY_SIZE(f)];
	size_t n = 0;

	if (!c)
		c = &none;
	val[0] = c->binding;
	val[1] = c->relay;
	val[2] = c->tunnel;
	val[3] = c->peer;
	f[n++] = xasprintf("MESSAGE=%s", msg);
	f[n++] = xasprintf("PRIORITY=%d", prio);
	f[n++] = xasprintf("SYSLOG_IDENTIFIER=%s", L.ident);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(key); i++)
		if (val[i] && *val[i])
			f[n++] = xasprintf("%s=%s", key[i], val[i]);
	for (size_t i = 0; i < n; i++)
		iov[i] = (struct iovec){ .iov_base = f[i], .iov_len = strlen(f[i]) };
	sd_journal_sendv(iov, (int)n);
	for (size_t i = 0; i < n; i++)
		free(f[i]);
}

static void emit_text(FILE *f, bool stamp, int prio, const struct log_ctx *c, const char *msg)
{
	struct sbuf b;
	char ts[32];
	struct timespec now;
	struct tm tm;

	sbuf_init(&b);
	if (stamp) {
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		sbuf_printf(&b, "%s.%03ldZ ", ts, now.tv_nsec / 1000000);
	}
	sbuf_printf(&b, "%s: %s: %s", L.ident, log_level_name(prio), msg);
	if (c)
		ctx_suffix(&b, c);
	sbuf_addc(&b, '\n');
	fputs(b.s, f);
	sbuf_free(&b);
}

static void log_emit(int prio, const struct log_ctx *c, const char *fmt, va_list ap)
{
	struct sbuf b;
	int saved = errno;

	sbuf_init(&b);
	sbuf_vprintf(&b, fmt, ap);
	switch (L.target) {
	case LOG_TARGET_JOURNAL:
		emit_journal(prio, c, b.s);
		break;
	case LOG_TARGET_FILE:
		emit_text(L.file, true, prio, c, b.s);
		break;
	default:
		emit_text(stderr, false, prio, c, b.s);
		break;
	}
	sbuf_free(&b);
	errno = saved;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_emit(prio, NULL, fmt, ap);
	va_end(ap);
}

void log_ctx(int prio, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_emit(prio, ctx, fmt, ap);
	va_end(ap);
}

static void lws_emit(int level, const char *line)
{
	/* lws notices are chatty internals: keep them for debugging only. */
	int prio = level == LLL_ERR ? LOG_ERR : level == LLL_WARN ? LOG_WARNING : LOG_DEBUG;
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_msg(prio, "lws: %.*s", (int)n, line);
}

void log_route_lws(void)
{
	int mask = LLL_ERR | LLL_WARN;

	if (log_enabled(LOG_DEBUG))
		mask |= LLL_NOTICE;
	lws_set_log_level(mask, lws_emit);
}
