#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int loop_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		   void *in, size_t len);

static const struct lws_protocols protocols[] = {
	{ "azb-fd", loop_cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static struct {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	bool stop;
	uint8_t *scratch;
	loop_signal_fn on_signal;
	struct loop_obj sig_obj;
	int sig_fd;
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct loop_work *todo, *done;
	bool worker_quit;
	struct lws *writing;      /* whose writeable callback is running */
	lws_sorted_usec_list_t trim;
	lws_usec_t trim_since;    /* the first adoption or close the trim waits for; 0: none */
	lws_usec_t last_churn;
} L = { .sig_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

struct lws_context *loop_context(void)
{
	return L.ctx;
}

uint8_t *loop_scratch(void)
{
	return L.scratch;
}

static struct loop_obj *obj_of(struct lws *wsi)
{
	return lws_get_opaque_user_data(wsi);
}

/* glibc keeps what a burst of connections freed: their TLS handshakes'
 * buffers and, once they close, everything else, mostly in holes below live
 * chunks where trimming the heap's top never reaches. malloc_trim(0) gives
 * back every free page of every arena, but it walks all free chunks, so it
 * runs once fds have stopped coming and going for a moment (at most
 * TRIM_MAX_WAIT_US after the first), not per connection. */
#define TRIM_QUIET_US (1 * LWS_US_PER_SEC)
#define TRIM_MAX_WAIT_US (10 * LWS_US_PER_SEC)

static void on_trim(lws_sorted_usec_list_t *sul)
{
	lws_usec_t now = lws_now_usecs(), quiet = now - L.last_churn;

	if (quiet < TRIM_QUIET_US && now - L.trim_since < TRIM_MAX_WAIT_US) {
		lws_sul_schedule(L.ctx, 0, sul, on_trim, TRIM_QUIET_US - quiet);
		return;
	}
	L.trim_since = 0;
	malloc_trim(0);
}

static void trim_soon(void)
{
	if (L.stop)
		return;
	L.last_churn = lws_now_usecs();
	if (L.trim_since)
		return;
	L.trim_since = L.last_churn;
	lws_sul_schedule(L.ctx, 0, &L.trim, on_trim, TRIM_QUIET_US);
}

/* Deliver on_close once and detach the object from the wsi first. */
static void deliver_close(struct lws *wsi)
{
	struct loop_obj *o = obj_of(wsi);

	if (!o)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	o->fd_ops->on_close(o, wsi);
	trim_soon();
}

static void run_done_work(void)
{
	struct loop_work *list;

	pthread_mutex_lock(&L.lock);
	list = L.done;
	L.done = NULL;
	pthread_mutex_unlock(&L.lock);
	while (list) {
		struct loop_work *w = list;

		list = w->next;
		w->done(w);
	}
}

static int loop_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		   void *in, size_t len)
{
	struct loop_obj *o = wsi ? obj_of(wsi) : NULL;

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		return o ? o->fd_ops->on_readable(o, wsi) : -1;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE: {
		int r;

		if (!o || !o->fd_ops->on_writeable)
			return 0;
		L.writing = wsi;
		r = o->fd_ops->on_writeable(o, wsi);
		L.writing = NULL;
		return r;
	}
	case LWS_CALLBACK_RAW_CLOSE_FILE:
	case LWS_CALLBACK_WSI_DESTROY:
		deliver_close(wsi);
		return 0;
	case LWS_CALLBACK_TIMER:
		/* loop_pause_rx_for() is over */
		lws_rx_flow_control(wsi, 1);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		run_done_work();
		return 0;
	default:
		return 0;
	}
}

void loop_pause_rx_for(struct lws *wsi, int64_t us)
{
	lws_rx_flow_control(wsi, 0);
	lws_set_timer_usecs(wsi, us);
}

static int sig_readable(struct loop_obj *o, struct lws *wsi)
{
	struct signalfd_siginfo si;

	(void)o;
	(void)wsi;
	while (read(L.sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (L.on_signal)
			L.on_signal((int)si.ssi_signo);
	return 0;
}

static void sig_close(struct loop_obj *o, struct lws *wsi)
{
	(void)o;
	(void)wsi;
	L.sig_fd = -1;
}

static const struct loop_fd_ops sig_ops = { "signalfd", sig_readable, NULL, sig_close };

static int setup_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	L.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (L.sig_fd < 0)
		return -errno;
	L.sig_obj.fd_ops = &sig_ops;
	return loop_adopt(L.sig_fd, &L.sig_obj) ? 0 : -EIO;
}

/* TLS read buffers of up to a chunk come and go at the top of the heap with
 * every record read: glibc's default threshold (128 KiB) returned them with
 * brk() each time and took them back with the next, a syscall pair per read
 * on a busy stream. What lies free is still given back, by trim_soon() once
 * connections stop coming and going. Fixing the trim threshold also fixes
 * the mmap threshold, so that one is set too: buffers up to it stay in the
 * heap rather than costing an mmap and munmap each. */
#define MALLOC_KEEP (1024 * 1024)

static void tune_malloc(void)
{
	mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP);
	mallopt(M_MMAP_THRESHOLD, MALLOC_KEEP);
}

int loop_init(loop_signal_fn on_signal)
{
	struct lws_context_creation_info ci, vi;

	tune_malloc();
	memset(&ci, 0, sizeof(ci));
	ci.port = CONTEXT_PORT_NO_LISTEN;
	/* TLS and sockets are ours (stream.c); lws polls and keeps timers. */
	ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	L.ctx = lws_create_context(&ci);
	if (!L.ctx)
		return -EIO;
	memset(&vi, 0, sizeof(vi));
	vi.port = CONTEXT_PORT_NO_LISTEN;
	vi.protocols = protocols;
	vi.vhost_name = "azbridge";
	L.vh = lws_create_vhost(L.ctx, &vi);
	if (!L.vh)
		return -EIO;
	L.scratch = xmalloc(LOOP_HEADROOM + LOOP_CHUNK);
	L.on_signal = on_signal;
	L.stop = false;
	return setup_signals();
}

int loop_run(void)
{
	while (!L.stop)
		if (lws_service(L.ctx, 0) < 0)
			return -EIO;
	return 0;
}

void loop_stop(void)
{
	L.stop = true;
	lws_cancel_service(L.ctx);
}

static void stop_worker(void)
{
	if (!L.worker_started)
		return;
	pthread_mutex_lock(&L.lock);
	L.worker_quit = true;
	pthread_cond_signal(&L.cond);
	pthread_mutex_unlock(&L.lock);
	pthread_join(L.worker, NULL);
	L.worker_started = false;
	while (L.todo) {
		struct loop_work *w = L.todo;

		L.todo = w->next;
		w->cancelled = true;
		w->next = L.done;
		L.done = w;
	}
}

void loop_destroy(void)
{
	stop_worker();
	L.stop = true;   /* closes from here on schedule no trim */
	if (L.ctx) {
		lws_sul_cancel(&L.trim);
		lws_context_destroy(L.ctx);
	}
	L.trim_since = 0;
	L.ctx = NULL;
	/* Jobs that finished after the loop stopped still own their memory. */
	run_done_work();
	free(L.scratch);
	L.scratch = NULL;
}

struct lws *loop_adopt(int fd, struct loop_obj *o)
{
	lws_adopt_desc_t ad;

	memset(&ad, 0, sizeof(ad));
	ad.vh = L.vh;
	ad.type = LWS_ADOPT_RAW_FILE_DESC;
	ad.fd.filefd = fd;
	ad.vh_prot_name = "azb-fd";
	ad.opaque = o;
	trim_soon();
	return lws_adopt_descriptor_vhost_via_info(&ad);
}

void loop_kill(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

void loop_kill_now(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_SYNC);
}

static void rearm_cb(lws_sorted_usec_list_t *sul)
{
	struct loop_rearm *r = lws_container_of(sul, struct loop_rearm, sul);

	if (r->wsi)
		lws_callback_on_writable(r->wsi);
}

void loop_want_write(struct lws *wsi, struct loop_rearm *r)
{
	if (!wsi)
		return;
	if (wsi != L.writing) {
		lws_callback_on_writable(wsi);
		return;
	}
	r->wsi = wsi;
	lws_sul_schedule(L.ctx, 0, &r->sul, rearm_cb, 1);
}

void loop_rearm_cancel(struct loop_rearm *r)
{
	lws_sul_cancel(&r->sul);
	r->wsi = NULL;
}

void loop_defer(lws_sorted_usec_list_t *sul, sul_cb_t fn)
{
	lws_sul_schedule(L.ctx, 0, sul, fn, 1);
}

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&L.lock);
	for (;;) {
		struct loop_work *w;

		while (!L.todo && !L.worker_quit)
			pthread_cond_wait(&L.cond, &L.lock);
		if (L.worker_quit)
			break;
		w = L.todo;
		L.todo = w->next;
		pthread_mutex_unlock(&L.lock);
		w->work(w);
		pthread_mutex_lock(&L.lock);
		w->next = L.done;
		L.done = w;
		lws_cancel_service(L.ctx);
	}
	pthread_mutex_unlock(&L.lock);
	return NULL;
}

void loop_submit(struct loop_work *w)
{
	sigset_t all, old;

	pthread_mutex_lock(&L.lock);
	if (!L.worker_started) {
		/* The worker must never take our signals: they belong to signalfd. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		L.worker_started = pthread_create(&L.worker, NULL, worker_main, NULL) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	/* Order does not matter: every job is independent. */
	w->cancelled = false;
	w->next = L.todo;
	L.todo = w;
	pthread_cond_signal(&L.cond);
	pthread_mutex_unlock(&L.lock);
}
