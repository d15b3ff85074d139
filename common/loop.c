#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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
	int ep;                   /* the set every adopted fd sits in */
	struct lws *ep_wsi;       /* the set's own, in lws */
	struct loop_fd *live;     /* every open handle, for loop_destroy */
	struct loop_fd *dead;     /* closed in this wakeup, freed after it */
	bool dispatching;
	lws_sorted_usec_list_t trim;
	lws_usec_t trim_since;    /* the first adoption or close the trim waits for; 0: none */
	lws_usec_t last_churn;
} L = { .sig_fd = -1, .ep = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

struct lws_context *loop_context(void)
{
	return L.ctx;
}

uint8_t *loop_scratch(void)
{
	return L.scratch;
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

/* ---- the set ---------------------------------------------------------------- */

/* Events taken from the set per wakeup: the rest stay ready (level-triggered)
 * and come first in the next, so no fd starves the others. */
#define EV_BATCH 64

enum {
	F_WANT_OUT = 1,    /* one writeable callback asked for */
	F_PAUSED = 2,      /* input not wanted */
	F_KILLING = 4,     /* loop_kill(): closes from the timer */
	F_CLOSED = 8,      /* waits to be freed after the wakeup */
	F_INSET = 16,      /* the set has fd, with the events in reg */
};

/* EPOLLIN stays in the set while paused, and EPOLLOUT after the writeable
 * callback, until an event comes that nobody wants: a busy fd pauses,
 * resumes and asks to write without a syscall each time. */
struct loop_fd {
	struct loop_obj *o;
	struct loop_fd *prev, *next;      /* L.live, then L.dead */
	lws_sorted_usec_list_t timer;     /* pause_rx_for's end, or kill's turn */
	int fd;
	uint32_t reg;
	uint8_t flags;
	uint8_t unwanted;                 /* events in a row that nobody wanted */
};

#define EV_INPUT (EPOLLIN | EPOLLHUP | EPOLLERR)
#define EV_OUTPUT (EPOLLOUT | EPOLLHUP | EPOLLERR)

/* What the set should have for f after events ev came. */
static uint32_t mask_for(const struct loop_fd *f, uint32_t ev)
{
	uint32_t in = EPOLLIN, out = EPOLLOUT;

	if (f->flags & F_PAUSED)
		in = ev & EV_INPUT ? 0 : f->reg & EPOLLIN;
	if (!(f->flags & F_WANT_OUT))
		out = ev & EV_OUTPUT ? 0 : f->reg & EPOLLOUT;
	return in | out;
}

/* Nothing wanted takes f out of the set: a hang-up cannot be masked and
 * would wake the loop on every turn. */
static void sync_set(struct loop_fd *f, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = f };
	bool in = f->flags & F_INSET;
	int op = !want ? EPOLL_CTL_DEL : in ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (in ? want == f->reg : !want)
		return;
	if (epoll_ctl(L.ep, op, f->fd, &ev) < 0) {
		log_error("loop: epoll_ctl(%d): %s", f->fd, strerror(errno));
		loop_kill(f);
		return;
	}
	f->reg = want;
	f->flags = (uint8_t)(want ? f->flags | F_INSET : f->flags & ~F_INSET);
}

static void live_unlink(struct loop_fd *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		L.live = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

/* The one close: on_close, once, with the object detached first, then the
 * fd (which leaves the set with it: nothing else holds it). Inside a
 * wakeup the handle lives on until the batch is done, so events for it
 * still in the batch find it closed. */
static void fd_close(struct loop_fd *f)
{
	struct loop_obj *o = f->o;

	if (f->flags & F_CLOSED)
		return;
	f->flags |= F_CLOSED;
	f->o = NULL;
	lws_sul_cancel(&f->timer);
	live_unlink(f);
	if (o)
		o->fd_ops->on_close(o, f);
	close(f->fd);
	if (L.dispatching) {
		f->next = L.dead;
		L.dead = f;
	} else {
		free(f);
	}
	trim_soon();
}

static bool fd_gone(const struct loop_fd *f)
{
	return f->flags & (F_CLOSED | F_KILLING);
}

/* The events in ev that f does not want now. */
static uint32_t stray_of(const struct loop_fd *f, uint32_t ev)
{
	uint32_t stray = 0;

	if ((ev & EPOLLOUT) && !(f->flags & F_WANT_OUT))
		stray |= EV_OUTPUT;
	if ((ev & EV_INPUT) && (f->flags & F_PAUSED))
		stray |= EV_INPUT;
	return stray;
}

/* Writeable first, as lws did. A hang-up without input while reading is
 * wanted ends the fd, as lws did; while paused it waits for the resume, so
 * the reader still gets every byte. An error while paused (a reset: the
 * peer is gone) ends it at once, as lws did, since the owner may be waiting
 * on that very peer to resume. True when a callback ran; *stray gets
 * the events nobody wanted. */
static bool dispatch(struct loop_fd *f, uint32_t ev, uint32_t *stray)
{
	const struct loop_fd_ops *ops;
	bool ran = false;

	*stray = 0;
	if (fd_gone(f))
		return false;
	*stray = stray_of(f, ev);
	f->unwanted = *stray ? (uint8_t)(f->unwanted + 1) : 0;
	ops = f->o ? f->o->fd_ops : NULL;
	if ((ev & EV_OUTPUT) && (f->flags & F_WANT_OUT)) {
		f->flags &= (uint8_t)~F_WANT_OUT;
		ran = true;
		if (!ops || (ops->on_writeable && ops->on_writeable(f->o, f)))
			goto close;
		if (fd_gone(f))
			return true;
	}
	if ((ev & EPOLLERR) && (f->flags & F_PAUSED))
		goto close;
	if ((ev & EV_INPUT) && !(f->flags & F_PAUSED)) {
		ran = true;
		if ((ev & (EPOLLIN | EPOLLERR)) && (!ops || ops->on_readable(f->o, f)))
			goto close;
		if (fd_gone(f))
			return true;
		if ((ev & EPOLLHUP) && !(ev & EPOLLIN))
			goto close;
	}
	return ran;
close:
	fd_close(f);
	return true;
}

static void free_dead(void)
{
	while (L.dead) {
		struct loop_fd *f = L.dead;

		L.dead = f->next;
		free(f);
	}
}

/* Events nobody wanted (input while paused, output not asked for) ride
 * along for free while other fds have work, and a busy fd pauses and asks
 * to write again within a few turns: the set drops them once they wake
 * the loop on their own or keep coming (UNWANTED_MAX), not on the first. */
#define UNWANTED_MAX 4

static void settle(const struct epoll_event *ev, const uint32_t *stray, int n, bool busy)
{
	for (int i = 0; i < n; i++) {
		struct loop_fd *f = ev[i].data.ptr;

		if (stray[i] && !fd_gone(f) && (!busy || f->unwanted >= UNWANTED_MAX)) {
			sync_set(f, mask_for(f, stray[i]));
			f->unwanted = 0;
		}
	}
}

static void ep_service(void)
{
	struct epoll_event ev[EV_BATCH];
	uint32_t stray[EV_BATCH];
	int n = epoll_wait(L.ep, ev, EV_BATCH, 0);
	bool busy = false;

	L.dispatching = true;
	for (int i = 0; i < n; i++)
		busy |= dispatch(ev[i].data.ptr, ev[i].events, &stray[i]);
	settle(ev, stray, n, busy);
	L.dispatching = false;
	free_dead();
}

static int loop_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		   void *in, size_t len)
{
	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		ep_service();
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (wsi == L.ep_wsi) {   /* lws closes the set's fd */
			L.ep_wsi = NULL;
			L.ep = -1;
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		run_done_work();
		return 0;
	default:
		return 0;
	}
}

static int open_set(void)
{
	lws_adopt_desc_t ad;

	L.ep = epoll_create1(EPOLL_CLOEXEC);
	if (L.ep < 0)
		return -errno;
	memset(&ad, 0, sizeof(ad));
	ad.vh = L.vh;
	ad.type = LWS_ADOPT_RAW_FILE_DESC;
	ad.fd.filefd = L.ep;
	ad.vh_prot_name = "azb-fd";
	L.ep_wsi = lws_adopt_descriptor_vhost_via_info(&ad);
	if (!L.ep_wsi) {
		L.ep = -1;     /* lws closed it */
		return -EIO;
	}
	return 0;
}

struct loop_fd *loop_adopt(int fd, struct loop_obj *o)
{
	struct loop_fd *f = xmalloc(sizeof(*f));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = f };

	memset(f, 0, sizeof(*f));
	if (epoll_ctl(L.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_error("loop: adding fd %d: %s", fd, strerror(errno));
		close(fd);
		free(f);
		return NULL;
	}
	f->o = o;
	f->fd = fd;
	f->reg = EPOLLIN;
	f->flags = F_INSET;
	f->next = L.live;
	if (L.live)
		L.live->prev = f;
	L.live = f;
	trim_soon();
	return f;
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	struct loop_fd *f = lws_container_of(sul, struct loop_fd, timer);

	if (f->flags & F_KILLING)
		fd_close(f);
	else
		loop_pause_rx(f, false);
}

void loop_kill(struct loop_fd *f)
{
	if (!f || fd_gone(f))
		return;
	f->flags |= F_KILLING;
	lws_sul_schedule(L.ctx, 0, &f->timer, on_timer, 1);
}

void loop_kill_now(struct loop_fd *f)
{
	if (f)
		fd_close(f);
}

void loop_detach(struct loop_fd *f)
{
	if (f)
		f->o = NULL;
}

void loop_want_write(struct loop_fd *f)
{
	if (!f || fd_gone(f))
		return;
	f->flags |= F_WANT_OUT;
	sync_set(f, mask_for(f, 0));
}

void loop_pause_rx(struct loop_fd *f, bool pause)
{
	if (!f || fd_gone(f))
		return;
	if (pause) {
		f->flags |= F_PAUSED;
		return;
	}
	f->flags &= (uint8_t)~F_PAUSED;
	sync_set(f, mask_for(f, 0));
}

void loop_pause_rx_for(struct loop_fd *f, int64_t us)
{
	if (!f || fd_gone(f))
		return;
	loop_pause_rx(f, true);
	lws_sul_schedule(L.ctx, 0, &f->timer, on_timer, us);
}

static int sig_readable(struct loop_obj *o, struct loop_fd *f)
{
	struct signalfd_siginfo si;

	(void)o;
	(void)f;
	while (read(L.sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (L.on_signal)
			L.on_signal((int)si.ssi_signo);
	return 0;
}

static void sig_close(struct loop_obj *o, struct loop_fd *f)
{
	(void)o;
	(void)f;
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
	if (open_set() < 0)
		return -EIO;
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
		while (L.live)
			fd_close(L.live);
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
