#include "loop.h"

#include <errno.h>
#include <fcntl.h>
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

/* Both protocols share one callback; lws sends WSI_DESTROY to protocols[0]. */
static const struct lws_protocols protocols[] = {
	{ "azb-fd", loop_cb, 0, 0, 0, NULL, LOOP_CHUNK + LOOP_HEADROOM },
	{ "azb-conn", loop_cb, 0, 0, 0, NULL, LOOP_CHUNK + LOOP_HEADROOM },
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

/* Deliver on_close once and detach the object from the wsi first. */
static void deliver_close(struct lws *wsi, const char *err)
{
	struct loop_obj *o = obj_of(wsi);

	if (!o)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	/* Failing inside lws_client_connect_via_info(): loop_connect() reports
	 * it to the caller, which still owns the object. */
	if (o->connecting) {
		o->connect_failed = true;
		return;
	}
	if (o->fd_ops)
		o->fd_ops->on_close(o, wsi);
	else
		o->conn_ops->on_close(o, wsi, err);
}

static int conn_established(struct lws *wsi)
{
	struct loop_obj *o = obj_of(wsi);

	if (!o || o->established)
		return 0;
	o->established = true;
	return o->conn_ops->on_established(o, wsi);
}

static void conn_error(struct lws *wsi, const char *err)
{
	deliver_close(wsi, err && *err ? err : "connection failed");
}

static void run_done_work(void);

static int loop_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		   void *in, size_t len)
{
	struct loop_obj *o = wsi ? obj_of(wsi) : NULL;
	char err[128];

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		return o ? o->fd_ops->on_readable(o, wsi) : -1;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		return o ? o->fd_ops->on_writeable(o, wsi) : 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		deliver_close(wsi, NULL);
		return 0;
	case LWS_CALLBACK_RAW_ADOPT:
	case LWS_CALLBACK_RAW_CONNECTED:
		return conn_established(wsi);
	case LWS_CALLBACK_RAW_RX:
		return o ? o->conn_ops->on_rx(o, wsi, in, len) : -1;
	case LWS_CALLBACK_RAW_WRITEABLE:
		return o ? o->conn_ops->on_writeable(o, wsi) : 0;
	case LWS_CALLBACK_RAW_CLOSE:
		deliver_close(wsi, "connection closed");
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(err, sizeof(err), "%.*s", in ? (int)len : 0, in ? (const char *)in : "");
		conn_error(wsi, err);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		deliver_close(wsi, "connection failed");
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		run_done_work();
		return 0;
	default:
		return 0;
	}
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

static int sig_writeable(struct loop_obj *o, struct lws *wsi)
{
	(void)o;
	(void)wsi;
	return 0;
}

static void sig_close(struct loop_obj *o, struct lws *wsi)
{
	(void)o;
	(void)wsi;
	L.sig_fd = -1;
}

static const struct loop_fd_ops sig_ops = { "signalfd", sig_readable, sig_writeable, sig_close };

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

static int create_vhost(const char *ca_file)
{
	struct lws_context_creation_info vi;

	memset(&vi, 0, sizeof(vi));
	vi.port = CONTEXT_PORT_NO_LISTEN;
	vi.protocols = protocols;
	vi.vhost_name = "azbridge";
	vi.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	vi.client_ssl_ca_filepath = ca_file;
	L.vh = lws_create_vhost(L.ctx, &vi);
	return L.vh ? 0 : -EIO;
}

int loop_init(const char *ca_file, loop_signal_fn on_signal)
{
	struct lws_context_creation_info ci;
	int r;

	memset(&ci, 0, sizeof(ci));
	ci.port = CONTEXT_PORT_NO_LISTEN;
	ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	/* One read per wakeup moves up to this much through a tunnel. */
	ci.pt_serv_buf_size = LOOP_CHUNK;
	L.ctx = lws_create_context(&ci);
	if (!L.ctx)
		return -EIO;
	r = create_vhost(ca_file);
	if (r < 0)
		return r;
	L.scratch = xmalloc(LOOP_HEADROOM + LOOP_CHUNK);
	L.on_signal = on_signal;
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
}

void loop_destroy(void)
{
	stop_worker();
	if (L.ctx)
		lws_context_destroy(L.ctx);
	L.ctx = NULL;
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
	return lws_adopt_descriptor_vhost_via_info(&ad);
}

int loop_connect(const struct loop_connect *c, struct loop_obj *o, struct lws **pwsi)
{
	struct lws_client_connect_info i;
	struct lws *wsi;

	memset(&i, 0, sizeof(i));
	i.context = L.ctx;
	i.vhost = L.vh;
	i.address = c->address;
	i.port = c->port;
	i.host = c->host;
	i.origin = c->host;
	i.path = "/";
	i.method = "RAW";
	i.local_protocol_name = "azb-conn";
	i.opaque_user_data = o;
	i.pwsi = pwsi;
	if (c->tls)
		i.ssl_connection = LCCSCF_USE_SSL;
	if (c->tls && c->insecure)
		i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
				    LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
	o->established = false;
	o->connect_failed = false;
	o->connecting = true;
	wsi = lws_client_connect_via_info(&i);
	o->connecting = false;
	if (!wsi || o->connect_failed) {
		if (wsi)
			lws_set_opaque_user_data(wsi, NULL);
		return -ECONNREFUSED;
	}
	return 0;
}

void loop_kill(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

void loop_kill_now(struct lws *wsi)
{
	lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_SYNC);
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
	w->next = NULL;
	/* FIFO is not needed: every job is independent. */
	w->next = L.todo;
	L.todo = w;
	pthread_cond_signal(&L.cond);
	pthread_mutex_unlock(&L.lock);
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
