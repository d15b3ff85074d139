/* Logging: stderr with levels, or journald with structured AZB_* fields.
 * Priorities are syslog's (LOG_ERR .. LOG_DEBUG from <syslog.h>). */
#ifndef AZB_LOG_H
#define AZB_LOG_H

#include <stdbool.h>
#include <syslog.h>

#include "util.h"

enum log_target {
	LOG_TARGET_AUTO,    /* journald if $JOURNAL_STREAM matches stderr, else stderr */
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
	LOG_TARGET_FILE,    /* append to a file (-l) */
};

/* Fields attached to one event; any member may be NULL. */
struct log_ctx {
	const char *forward;    /* journald's AZB_BINDING, stderr's binding= (published names) */
	const char *relay;
	const char *tunnel;
	const char *peer;
};

/* ident names the program in journald (SYSLOG_IDENTIFIER) and on stderr. */
int log_init(const char *ident, enum log_target target, const char *file);
void log_close(void);
void log_set_level(int prio);   /* messages above prio are dropped */
int log_get_level(void);
bool log_enabled(int prio);
/* Parse a level word (none, quiet, fatal, error, warning, notice, info,
 * verbose, debug, debug1..3; case-insensitive). -1 for "none"/"quiet". */
int log_level_parse(const char *word, int *prio);
const char *log_level_name(int prio);
/* Route libwebsockets' own log lines through us at a matching level. */
void log_route_lws(void);

/* What may be a secret in a message, replaced by LOG_REDACTED: the values
 * after SharedAccessKey=, SharedAccessSignature= (and "SharedAccessSignature
 * "), sig=, and of the settings and options that carry one (connection_string,
 * shared_access_key, shared_access_signature, the original tool's names,
 * --signature ...) before '=' or ':'. Every event and every configuration
 * error goes through it. Returns a new string. */
#define LOG_REDACTED "REDACTED"
char *log_redact(const char *s);
/* Append s with control characters, C1 controls and bytes that are not
 * UTF-8 as \xHH and '\' as "\\": one line per event, nothing a terminal
 * acts on, and the bytes still recoverable. */
void log_escape(struct sbuf *b, const char *s);

void log_msg(int prio, const char *fmt, ...) AZB_PRINTF(2, 3);
void log_ctx(int prio, const struct log_ctx *ctx, const char *fmt, ...) AZB_PRINTF(3, 4);

/* A field of its own an event gives journald ("AZB_HTTP_STATUS", "200");
 * text targets leave it out, the message says it already. */
struct log_field {
	const char *name, *value;
};
#define LOG_FIELDS_MAX 8
/* log_ctx with at most LOG_FIELDS_MAX more fields. */
void log_ctx_fields(int prio, const struct log_ctx *ctx, const struct log_field *f, size_t n,
		    const char *fmt, ...) AZB_PRINTF(5, 6);

#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
