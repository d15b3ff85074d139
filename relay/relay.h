/* azbridge-relayd: its settings, and the registry of hybrid connections
 * that every connection role finds the others through. */
#ifndef AZB_RELAY_H
#define AZB_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "http1.h"
#include "jwt.h"
#include "stream.h"
#include "util.h"
#include "ws.h"

enum {
	RIGHT_LISTEN = 1,
	RIGHT_SEND = 2,
	RIGHT_MANAGE = 4,
};

struct relay_rule {
	char *name;
	char *key;                 /* secret */
	unsigned rights;
	struct sas_key *mac;       /* key made ready once for the checks, or NULL */
};

/* An Entra ID role assignment: who (by the token's oid, its appid or azp,
 * or an app role in its roles) gets Owner (Manage, Listen, Send), Listener
 * or Sender, at namespace scope or on one hybrid connection. */
enum relay_principal {
	PRINCIPAL_OBJECT,          /* "oid" */
	PRINCIPAL_APP,             /* "appid" or "azp" */
	PRINCIPAL_APP_ROLE,        /* an entry of "roles" */
};

struct relay_role {
	enum relay_principal kind;
	char *id;
	unsigned rights;
};

/* Which Entra ID tokens the relay takes; no keys: none at all. */
struct relay_entra {
	struct jwt_keyset keys;
	char **issuers;
	size_t n_issuers;
	char **audiences;          /* none: https://relay.azure.net and the relay's own names */
	size_t n_audiences;
	long skew_s;
};

struct listener;
struct relay_exchange;

struct relay_hc {
	char *path;
	bool requires_client_auth;
	struct relay_rule *rules;  /* entity-level rules */
	size_t n_rules;
	struct relay_role *roles;  /* entity-scope role assignments */
	size_t n_roles;
	struct listener *listeners;  /* open control channels (listener.c) */
	size_t n_listeners;
	size_t n_pending;          /* senders waiting for one of its listeners */
	struct relay_hc *next;
};

struct relay_listen_addr {
	char *host;                /* numeric, "" for any */
	uint16_t port;
};

struct relay {
	struct relay_rule *rules;  /* namespace-level rules */
	size_t n_rules;
	struct relay_role *roles;  /* namespace-scope role assignments */
	size_t n_roles;
	struct relay_entra entra;
	struct relay_hc *hcs;
	bool create_on_listen;     /* --dev: hybrid connections appear on first use */
	SSL_CTX *tls;              /* NULL: plain ws:// (only when asked) */
	struct relay_listen_addr *listen;
	size_t n_listen;
	char **hosts;              /* names it answers as; none: any */
	size_t n_hosts;
	int accept_timeout_s;      /* how long a sender waits for the listener */
	int request_timeout_s;     /* HTTP: response deadline and body idle limit */
	int header_timeout_s;      /* a request head (or the next on keep-alive) */
	int close_timeout_s;       /* a closing connection that takes no bytes is aborted */
	size_t max_pending;        /* senders waiting at once */
	size_t max_pending_per_hc; /* ... for one hybrid connection */
	size_t max_control_msg;    /* bytes of one control-channel message */
	size_t max_listeners;      /* per hybrid connection */
	size_t max_output_queue;   /* bytes queued to one connection that does not read */
	size_t max_connections;    /* in total (0: from the descriptor limit) */
	size_t max_per_source;     /* from one IPv4 address or IPv6 /64 */
	struct relay_exchange *exchanges;  /* HTTP requests under way */
};

/* server.c */
int relay_serve(struct relay *r);     /* bind, adopt; 0 or -errno (logged) */
void relay_close_all(void);
uint16_t relay_bound_port(size_t i);

/* registry.c */
struct relay_hc *relay_hc_find(struct relay *r, const char *path, size_t *matched);
struct relay_hc *relay_hc_add(struct relay *r, const char *path, bool client_auth);
size_t relay_hc_count(const struct relay *r);
void relay_free(struct relay *r);

/* An HTTP client's request, found by its id by the channels a listener
 * answers on (its control channel, or a rendezvous it opened for the
 * request), which tell it what arrives through its ops. */
struct channel;
struct hcp_msg;
struct relay_exchange_ops {
	/* Its listener opened x->rdv for it. */
	void (*rendezvous)(struct relay_exchange *x);
	/* A response naming it arrived on ch: 1 when its body follows there, 0
	 * when it is complete, -1 when x expects none from ch (it is dropped). */
	int (*response)(struct relay_exchange *x, struct channel *ch, const struct hcp_msg *m);
	/* A response naming it arrived on ch and could not be read. */
	void (*bad_response)(struct relay_exchange *x, struct channel *ch, const char *why);
	/* A piece of the response body; last: its end. */
	void (*body)(struct relay_exchange *x, struct channel *ch, uint8_t *p, size_t n, bool last);
	/* Its rendezvous ch took everything queued. */
	void (*writeable)(struct relay_exchange *x, struct channel *ch);
	/* ch is gone. Every exchange hears of every channel that goes. */
	void (*channel_gone)(struct relay_exchange *x, struct channel *ch);
};

struct relay_exchange {
	char id[37];
	bool open;                 /* a request is under way: it is found by its id */
	struct relay_hc *hc;       /* where the request goes */
	struct channel *rdv;       /* the rendezvous its listener opened, once there is one */
	const struct relay_exchange_ops *ops;
	struct relay_exchange *next;
};

void relay_exchange_add(struct relay *r, struct relay_exchange *x);
void relay_exchange_remove(struct relay *r, struct relay_exchange *x);
struct relay_exchange *relay_exchange_find(struct relay *r, const char *id);

/* auth.c: 0, or an HTTP status (401/403) with a reason in why. A token is a
 * shared access signature or (with or without "Bearer ") an Entra ID JWT. */
int relay_authorize(const struct relay *r, const struct relay_hc *hc, const char *token,
		    unsigned need, const char *entity_resource, time_t *expiry, char *why,
		    size_t whylen);

/* devcert.c */
struct devcert {
	char *ca_file, *cert_file, *key_file;
};
int devcert_make(const char *dir, struct devcert *out);
void devcert_clear(struct devcert *d);

#endif
