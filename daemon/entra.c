#include "entra.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "entra_kind.h"
#include "log.h"
#include "loop.h"
#include "util.h"

/* The original's order on Linux: DefaultAzureCredential's chain without the
 * kinds that need a desktop or other tools. */
static const struct entra_kind *const chain[] = { &entra_environment, &entra_workload_identity,
						  &entra_managed_identity, &entra_azure_cli };
#define N_KINDS AZB_ARRAY_SIZE(chain)

/* A token closer than this to its expiry is not handed out. */
#define ENTRA_MARGIN_S 10
/* Fetched again this long before expiry (at most a fifth of its life). */
#define ENTRA_EARLY_S 300

static const int backoff_s[] = { 1, 2, 5, 10, 30, 60 };

struct entra_wait {
	struct entra_cache *c;
	entra_cb cb;
	void *arg;
	struct entra_wait *next;
};

struct entra_job {
	struct loop_work work;        /* first: the loop hands it back */
	struct entra_cache *c;
	const struct entra_kind *kinds[N_KINDS];
	size_t n, used;
	struct entra_result res;
};

struct entra_cache {
	const char *kind;             /* a cred_kinds entry */
	const struct entra_kind *found;  /* "default": the kind that worked */
	char *token;                  /* secret */
	time_t expiry, refresh_at, retry_at;
	struct entra_job *job;        /* a fetch under way */
	struct entra_wait *waiters;
	lws_sorted_usec_list_t timer; /* refresh, or retry */
	bool wanted;                  /* asked for since the last fetch began */
	unsigned failures;
	char why[300];                /* the current failure */
	char logged[300];             /* the state last logged */
	struct entra_cache *next;
};

static struct entra_cache *caches;

void entra_stop(void)
{
	entra_set_stopping(true);
}

/* ---- the worker's side ------------------------------------------------- */

/* "default" takes the first kind that gives a token. When none does, the
 * message names those that failed (what went wrong) before those that are
 * not set up here (only their names). */
static void chain_failed(struct entra_job *j, const struct entra_result *tried)
{
	struct sbuf bad, unset;

	sbuf_init(&bad);
	sbuf_init(&unset);
	for (size_t i = 0; i < j->n; i++) {
		if (tried[i].unavailable)
			sbuf_printf(&unset, "%s%s", unset.len ? ", " : "", j->kinds[i]->name);
		else
			sbuf_printf(&bad, "%s%s: %s", bad.len ? "; " : "", j->kinds[i]->name,
				    tried[i].why);
	}
	memset(&j->res, 0, sizeof(j->res));
	for (size_t i = 0; i < j->n; i++)
		if (!tried[i].unavailable && !j->res.status)
			j->res = tried[i];
	snprintf(j->res.why, sizeof(j->res.why), "%s%s%s%s", bad.len ? bad.s : "",
		 bad.len && unset.len ? "; " : "", unset.len ? "not set up: " : "",
		 unset.len ? unset.s : "");
	sbuf_free(&bad);
	sbuf_free(&unset);
}

static void job_work(struct loop_work *w)
{
	struct entra_job *j = (struct entra_job *)w;
	struct entra_result tried[N_KINDS];

	for (j->used = 0; j->used < j->n; j->used++) {
		memset(&j->res, 0, sizeof(j->res));
		if (j->kinds[j->used]->fetch(&j->res) == 0)
			return;
		tried[j->used] = j->res;
	}
	if (j->n > 1)
		chain_failed(j, tried);
}

/* ---- the loop's side --------------------------------------------------- */

static void on_timer(lws_sorted_usec_list_t *sul);
static void job_done(struct loop_work *w);

static void schedule(struct entra_cache *c, time_t at)
{
	time_t now = time(NULL);

	lws_sul_schedule(loop_context(), 0, &c->timer, on_timer,
			 (at > now ? (int64_t)(at - now) : 0) * 1000000 + 1);
}

static size_t kinds_for(const struct entra_cache *c, const struct entra_kind **out)
{
	if (c->found) {
		out[0] = c->found;
		return 1;
	}
	if (strcmp(c->kind, cred_kinds[0]) == 0) {
		memcpy(out, chain, sizeof(chain));
		return N_KINDS;
	}
	for (size_t i = 0; i < N_KINDS; i++) {
		if (strcmp(chain[i]->name, c->kind) == 0) {
			out[0] = chain[i];
			return 1;
		}
	}
	return 0;
}

static void start_fetch(struct entra_cache *c)
{
	struct entra_job *j = xcalloc(1, sizeof(*j));

	/* Here, on the loop, before the worker first needs it. */
	entra_curl_open();
	j->c = c;
	j->n = kinds_for(c, j->kinds);
	j->work.work = job_work;
	j->work.done = job_done;
	c->job = j;
	c->wanted = false;
	lws_sul_cancel(&c->timer);
	loop_submit(&j->work);
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	struct entra_cache *c = lws_container_of(sul, struct entra_cache, timer);

	/* Nobody asked since the last fetch: let it lapse. */
	if (!c->job && (c->wanted || c->waiters))
		start_fetch(c);
}

/* Once per change of state, so a failing endpoint does not flood the log. */
static void log_state(struct entra_cache *c, int prio, const char *state, const char *fmt, ...)
	AZB_PRINTF(4, 5);
static void log_state(struct entra_cache *c, int prio, const char *state, const char *fmt, ...)
{
	va_list ap;
	char msg[600];

	if (strcmp(c->logged, state) == 0)
		return;
	snprintf(c->logged, sizeof(c->logged), "%s", state);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(prio, "%s", msg);
}

static void got_token(struct entra_cache *c, struct entra_job *j)
{
	time_t now = time(NULL), life = j->res.expiry - now;
	const struct entra_kind *k = j->kinds[j->used];
	char state[64];

	azb_free_secret(c->token);
	c->token = j->res.token;
	j->res.token = NULL;
	c->expiry = j->res.expiry;
	c->refresh_at = now + life - (life / 5 < ENTRA_EARLY_S ? life / 5 : ENTRA_EARLY_S);
	c->failures = 0;
	c->why[0] = '\0';
	if (strcmp(c->kind, k->name) && !c->found)
		log_msg(LOG_NOTICE, "Entra ID credential \"%s\": using the %s credential", c->kind,
			k->name);
	c->found = k;
	snprintf(state, sizeof(state), "ok %s", k->name);
	log_state(c, LOG_INFO, state, "Entra ID token from the %s credential, valid for %lld s",
		  k->name, (long long)life);
	schedule(c, c->refresh_at);
}

static void failed(struct entra_cache *c, struct entra_job *j)
{
	unsigned i = c->failures < AZB_ARRAY_SIZE(backoff_s) ? c->failures :
							      AZB_ARRAY_SIZE(backoff_s) - 1;

	c->failures++;
	c->retry_at = time(NULL) + backoff_s[i];
	snprintf(c->why, sizeof(c->why), "%s", j->res.why);
	log_state(c, LOG_ERR, c->why, "Entra ID token (credential \"%s\"): %s; retrying with "
		  "backoff", c->kind, c->why);
	if (c->wanted || c->token)
		schedule(c, c->retry_at);
}

/* A token that would expire before it is used is no answer. */
static void check_expiry(struct entra_job *j)
{
	time_t left = j->res.expiry - time(NULL);

	if (j->res.token && left <= ENTRA_MARGIN_S) {
		azb_free_secret(j->res.token);
		j->res.token = NULL;
		snprintf(j->res.why, sizeof(j->res.why), "the %s credential gave a token that "
			 "expires in %lld s", j->kinds[j->used]->name, (long long)left);
	}
}

static void job_done(struct loop_work *w)
{
	struct entra_job *j = (struct entra_job *)w;
	struct entra_cache *c = j->c;
	struct entra_wait *list = c->waiters;
	int err = 0;

	c->job = NULL;
	c->waiters = NULL;
	check_expiry(j);
	if (w->cancelled || entra_stopping()) {
		/* At exit, with the loop (and its timers) gone already: a fetch
		 * entra_stop() cut short lands here too, and must not schedule. */
		snprintf(c->why, sizeof(c->why), "the daemon is stopping");
		err = -ECANCELED;
	} else if (j->res.token) {
		got_token(c, j);
	} else {
		failed(c, j);
		err = -EIO;
	}
	/* A callback may ask again, and queue itself anew. */
	while (list) {
		struct entra_wait *n = list->next;

		list->cb(list->arg, err, err ? c->why : NULL);
		free(list);
		list = n;
	}
	azb_free_secret(j->res.token);
	free(j);
}

/* ---- asking ------------------------------------------------------------ */

static struct entra_cache *cache_of(const char *kind)
{
	struct entra_cache *c;

	for (c = caches; c; c = c->next)
		if (strcmp(c->kind, kind) == 0)
			return c;
	for (size_t i = 0; cred_kinds[i]; i++) {
		if (strcmp(cred_kinds[i], kind) == 0) {
			c = xcalloc(1, sizeof(*c));
			c->kind = cred_kinds[i];
			c->next = caches;
			caches = c;
			return c;
		}
	}
	return NULL;
}

static struct entra_wait *add_waiter(struct entra_cache *c, entra_cb cb, void *arg)
{
	struct entra_wait *w = xcalloc(1, sizeof(*w));

	w->c = c;
	w->cb = cb;
	w->arg = arg;
	w->next = c->waiters;
	c->waiters = w;
	return w;
}

/* When a listener should ask again: just after the next token is due,
 * or, while it is being fetched or retried, once that may have ended. */
static time_t renew_time(const struct entra_cache *c, time_t now)
{
	if (c->refresh_at > now)
		return c->refresh_at + 1;
	if (!c->job && c->retry_at > now)
		return c->retry_at + 1;
	return now + 2;
}

int entra_get(const char *kind, char **tok, time_t *expiry, time_t *renew_at, entra_cb cb,
	      void *arg, struct entra_wait **w, char *why, size_t len)
{
	struct entra_cache *c = cache_of(kind);
	time_t now = time(NULL);

	*w = NULL;
	if (!c)
		return azb_errn(why, len, -EINVAL, "unknown Entra ID credential \"%s\"", kind);
	c->wanted = true;
	if (c->token && now + ENTRA_MARGIN_S < c->expiry) {
		*tok = xstrdup(c->token);
		*expiry = c->expiry;
		if (now >= c->refresh_at && !c->job && now >= c->retry_at)
			start_fetch(c);
		*renew_at = renew_time(c, now);
		return 1;
	}
	/* Failing, and not yet due again: say so at once. */
	if (!c->job && c->why[0] && now < c->retry_at)
		return azb_errn(why, len, -EIO, "%s", c->why);
	if (!c->job)
		start_fetch(c);
	*w = add_waiter(c, cb, arg);
	return 0;
}

void entra_cancel(struct entra_wait *w)
{
	struct entra_wait **p;

	if (!w)
		return;
	for (p = &w->c->waiters; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			free(w);
			return;
		}
	}
}

void entra_flush(void)
{
	/* The loop is gone, and its timers with it: only memory is left. */
	while (caches) {
		struct entra_cache *c = caches;

		caches = c->next;
		azb_free_secret(c->token);
		for (struct entra_wait *w = c->waiters, *n; w; w = n) {
			n = w->next;
			free(w);
		}
		free(c);
	}
	entra_curl_close();
	entra_set_stopping(false);
}
