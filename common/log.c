#include "log.h"

#include <ctype.h>
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

/* ---- what people may read ------------------------------------------------- */

/* Where a secret's value ends (besides a line end): a connection-string
 * field at ';', a whole token at ';' or a blank, a token's parameter also at
 * '&', a setting's value at a blank or, when quoted, at its closing quote.
 * Quotes end nothing else: a value that holds one must not leak its tail. */
enum stop { STOP_FIELD, STOP_TOKEN, STOP_PARAM, STOP_WORD };

/* A connection string's secret fields and a SAS token's parts; then the
 * names of settings and options that carry a secret, matched as words ('-'
 * and '_' alike) followed by '=' or ':'. */
static const struct {
	const char *word;
	bool setting;
	enum stop stop;
} secret_marks[] = {
	{ "SharedAccessKey=", false, STOP_FIELD },
	{ "SharedAccessSignature=", false, STOP_FIELD },
	{ "SharedAccessSignature ", false, STOP_TOKEN },
	{ "sig=", false, STOP_PARAM },
	{ "shared_access_key", true, STOP_WORD },
	{ "shared_access_signature", true, STOP_WORD },
	{ "connection_string", true, STOP_WORD },
	{ "signature", true, STOP_WORD },
	{ "AzureRelaySharedAccessKey", true, STOP_WORD },
	{ "AzureRelaySharedAccessSignature", true, STOP_WORD },
	{ "AzureRelayConnectionString", true, STOP_WORD },
};

static size_t match_word(const char *p, const char *w)
{
	size_t n;

	for (n = 0; w[n]; n++) {
		char c = p[n] == '-' ? '_' : p[n];

		if (!c || tolower((unsigned char)c) != tolower((unsigned char)w[n]))
			return 0;
	}
	return n;
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* A setting's name as a whole word, then an optional closing quote, blanks,
 * '=' or ':' and blanks: the length up to its value, or 0. */
static size_t setting_join(const char *s, const char *p, size_t n)
{
	if ((p > s && word_char(p[-1])) || word_char(p[n]) || p[n] == '-')
		return 0;
	if (p[n] == '"' || p[n] == '\'')
		n++;
	n += strspn(p + n, " \t");
	if (p[n] != '=' && p[n] != ':')
		return 0;
	n++;
	return n + strspn(p + n, " \t");
}

static size_t mark_at(const char *s, const char *p, enum stop *stop)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(secret_marks); i++) {
		size_t n = match_word(p, secret_marks[i].word);

		if (n && secret_marks[i].setting)
			n = setting_join(s, p, n);
		if (n) {
			*stop = secret_marks[i].stop;
			return n;
		}
	}
	return 0;
}

static bool ends_value(char c, enum stop stop)
{
	if (!c || c == '\n')
		return true;
	switch (stop) {
	case STOP_FIELD:
		return c == ';';
	case STOP_PARAM:
		return c == '&' || c == ';' || isspace((unsigned char)c);
	case STOP_TOKEN:
		return c == ';' || isspace((unsigned char)c);
	default:
		return isspace((unsigned char)c);
	}
}

/* Replace the value at v (a quoted setting's: what is inside the quotes);
 * returns where the text goes on. */
static const char *redact_value(struct sbuf *b, const char *v, enum stop stop)
{
	size_t n = 0;
	char q = 0;

	if (stop == STOP_WORD && (*v == '"' || *v == '\'')) {
		q = *v++;
		sbuf_addc(b, q);
		while (v[n] && v[n] != q)
			n += v[n] == '\\' && v[n + 1] ? 2 : 1;
	} else {
		while (!ends_value(v[n], stop))
			n++;
	}
	if (n)
		sbuf_add(b, LOG_REDACTED);
	return v + n;
}

char *log_redact(const char *s)
{
	const char *p = s;
	struct sbuf b;
	enum stop stop;

	sbuf_init(&b);
	while (*p) {
		size_t n = mark_at(s, p, &stop);

		if (!n) {
			sbuf_addc(&b, *p++);
			continue;
		}
		sbuf_addn(&b, p, n);
		p = redact_value(&b, p + n, stop);
	}
	return sbuf_take(&b);
}

/* Bytes in one well-formed UTF-8 sequence at p that is not a C1 control
 * (U+0080..U+009F, which terminals act on), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xc2 && p[1] < 0xa0) || (p[0] == 0xe0 && p[1] < 0xa0) ||
	    (p[0] == 0xed && p[1] >= 0xa0) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

void log_escape(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80 ? 1 : utf8_len(p);

		if (*p == '\\')
			sbuf_add(b, "\\\\");
		else if (n == 0 || *p < 0x20 || *p == 0x7f)
			sbuf_printf(b, "\\x%02x", *p);
		else
			sbuf_addn(b, (const char *)p, n);
		p += n ? n : 1;
	}
}

/* ---- targets ---------------------------------------------------------------- */

static void ctx_suffix(struct sbuf *b, const struct log_ctx *c)
{
	const char *k[] = { "binding", "relay", "tunnel", "peer" };
	const char *v[] = { c->forward, c->relay, c->tunnel, c->peer };
	bool first = true;

	for (size_t i = 0; i < AZB_ARRAY_SIZE(k); i++) {
		if (!v[i])
			continue;
		sbuf_printf(b, "%s%s=", first ? " (" : " ", k[i]);
		log_escape(b, v[i]);
		first = false;
	}
	if (!first)
		sbuf_addc(b, ')');
}

/* Unset fields are left out rather than sent empty: journald keeps empty
 * fields, and "AZB_TUNNEL=" on every line would only be noise for
 * journalctl AZB_TUNNEL=... matches. Values are escaped as in text logs
 * rather than sent as binary fields: journalctl -a and -o cat print raw
 * bytes to the terminal, and one spelling everywhere keeps a grep for a
 * port name the same in every target. */
static char *journal_field(const char *key, const char *v)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_printf(&b, "%s=", key);
	log_escape(&b, v);
	return sbuf_take(&b);
}

static void emit_journal(int prio, const struct log_ctx *c, const struct log_field *more,
			 size_t n_more, const char *msg)
{
	static const struct log_ctx none;
	const char *key[] = { "AZB_BINDING", "AZB_RELAY", "AZB_TUNNEL", "AZB_PEER" };
	const char *val[AZB_ARRAY_SIZE(key)];
	char *f[3 + AZB_ARRAY_SIZE(key) + LOG_FIELDS_MAX];
	struct iovec iov[AZB_ARRAY_SIZE(f)];
	size_t n = 0;

	if (!c)
		c = &none;
	val[0] = c->forward;
	val[1] = c->relay;
	val[2] = c->tunnel;
	val[3] = c->peer;
	f[n++] = journal_field("MESSAGE", msg);
	f[n++] = xasprintf("PRIORITY=%d", prio);
	f[n++] = xasprintf("SYSLOG_IDENTIFIER=%s", L.ident);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(key); i++)
		if (val[i] && *val[i])
			f[n++] = journal_field(key[i], val[i]);
	for (size_t i = 0; i < n_more && i < LOG_FIELDS_MAX; i++) {
		char *v;

		if (!more[i].value || !*more[i].value)
			continue;
		v = log_redact(more[i].value);   /* a path may carry a signature */
		f[n++] = journal_field(more[i].name, v);
		free(v);
	}
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
	sbuf_printf(&b, "%s: %s: ", L.ident, log_level_name(prio));
	log_escape(&b, msg);
	if (c)
		ctx_suffix(&b, c);
	sbuf_addc(&b, '\n');
	fputs(b.s, f);
	sbuf_free(&b);
}

/* Every event is redacted here too: the last line of defence for a
 * message built from text that slipped past cfg_errors_add. */
static void log_emit(int prio, const struct log_ctx *c, const struct log_field *more,
		     size_t n_more, const char *fmt, va_list ap)
{
	struct sbuf b;
	int saved = errno;
	char *msg;

	sbuf_init(&b);
	sbuf_vprintf(&b, fmt, ap);
	msg = log_redact(b.s);
	explicit_bzero(b.s, b.len);
	sbuf_free(&b);
	switch (L.target) {
	case LOG_TARGET_JOURNAL:
		emit_journal(prio, c, more, n_more, msg);
		break;
	case LOG_TARGET_FILE:
		emit_text(L.file, true, prio, c, msg);
		break;
	default:
		emit_text(stderr, false, prio, c, msg);
		break;
	}
	free(msg);
	errno = saved;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_emit(prio, NULL, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_ctx(int prio, const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_emit(prio, ctx, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_ctx_fields(int prio, const struct log_ctx *ctx, const struct log_field *f, size_t n,
		    const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	log_emit(prio, ctx, f, n, fmt, ap);
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
