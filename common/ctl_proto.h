/* The control socket's protocol (azbridgectl(8), PROTOCOL) as one table:
 * every verb with its wire name, whether it changes the daemon, the
 * request members it reads and the members of its reply. azbridged decodes
 * and checks requests with it, azbridgectl builds its command line, its
 * requests and its reading of replies from it, and the bash completion is
 * tested against it. Protocol 1: verbs and members are only ever added. */
#ifndef AZB_CTL_PROTO_H
#define AZB_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CTL_PROTOCOL 1

/* ---- member names, one spelling for both programs ---------------------------
 * Protocol 1 calls a forward a binding: CTL_M_FORWARD and CTL_M_FORWARDS
 * keep that spelling on the wire, where scripts and jq paths read it. */
#define CTL_M_CMD "cmd"
#define CTL_M_OK "ok"
#define CTL_M_ERROR "error"
#define CTL_M_MESSAGE "message"
#define CTL_M_ERRORS "errors"
/* version, status */
#define CTL_M_VERSION "version"
#define CTL_M_PROTOCOL "protocol"
#define CTL_M_PID "pid"
#define CTL_M_UPTIME "uptime"
#define CTL_M_CONFIG "config"
#define CTL_M_FORWARDS "bindings"
#define CTL_M_ONLINE "online"
#define CTL_M_TUNNELS "tunnels"
#define CTL_M_RELOADS "reloads"
#define CTL_M_LAST_RELOAD "last_reload"
#define CTL_M_TIME "time"
/* a forward */
#define CTL_M_FORWARD "binding"
#define CTL_M_NAME "name"
#define CTL_M_DIRECTION "direction"
#define CTL_M_RELAY "relay"
#define CTL_M_EXPRESSION "expression"
#define CTL_M_OPTION "option"
#define CTL_M_SOURCE "source"
#define CTL_M_STATE "state"
#define CTL_M_SINCE "since"
#define CTL_M_HOST_NAMES "host_names"
#define CTL_M_REASON "reason"
#define CTL_M_NEXT_ATTEMPT "next_attempt"
#define CTL_M_ENDPOINTS "endpoints"   /* the forward's bindings */
#define CTL_M_STATS "stats"
/* one binding of a forward */
#define CTL_M_KIND "kind"
#define CTL_M_PORT_NAME "port_name"
#define CTL_M_BIND_ADDRESS "bind_address"
#define CTL_M_BIND_PORT "bind_port"
#define CTL_M_HOST "host"
#define CTL_M_PORT "port"
#define CTL_M_SOCKET "socket"
#define CTL_M_PATH "path"
#define CTL_M_HOST_NAME "host_name"
#define CTL_M_NO_AUTHENTICATION "no_authentication"
/* counters */
#define CTL_M_BYTES_UP "bytes_up"
#define CTL_M_BYTES_DOWN "bytes_down"
#define CTL_M_TUNNELS_OPEN "tunnels_open"
#define CTL_M_TUNNELS_TOTAL "tunnels_total"
#define CTL_M_TUNNELS_FAILED "tunnels_failed"
#define CTL_M_RECONNECTS "reconnects"
#define CTL_M_DATAGRAMS_DROPPED "datagrams_dropped"
#define CTL_M_LAST_ERROR "last_error"
#define CTL_M_TOTAL "total"
/* reload, add, remove */
#define CTL_M_ADDED "added"
#define CTL_M_REMOVED "removed"
#define CTL_M_CHANGED "changed"
#define CTL_M_UNCHANGED "unchanged"
#define CTL_M_FAILED "failed"
#define CTL_M_FILE "file"
#define CTL_M_RUNTIME "runtime"
#define CTL_M_LEGACY "legacy"   /* an add request's forward: -R's order */
/* hosts */
#define CTL_M_ENTRIES "entries"
#define CTL_M_IP "ip"

/* The refusal azbridgectl tells apart (exit status 4). */
#define CTL_E_DENIED "permission-denied"

enum ctl_verb_id {
	CTL_STATUS, CTL_LIST, CTL_SHOW, CTL_STATS, CTL_RELOAD, CTL_VERSION, CTL_ADD,
	CTL_REMOVE, CTL_HOSTS_LIST, CTL_HOSTS_ADD, CTL_HOSTS_REMOVE,
	CTL_N_VERBS
};

/* A request member a verb reads; members it does not list are ignored, so
 * that newer clients can talk to older daemons. */
struct ctl_arg {
	const char *key;
	json_type type;         /* JSON_TRUE stands for either boolean */
	bool required;
	const char *meta;       /* the command-line argument that fills it, in
				 * order ("NAME"), or NULL when options do */
};

/* An object of a reply and the members it may carry. */
struct ctl_shape;
struct ctl_member {
	const char *key;
	json_type type;         /* JSON_TRUE: a boolean; JSON_REAL: any number */
	bool nullable;
	const struct ctl_shape *sub;   /* the object's, or each array element's;
					* NULL for an array of strings */
};

struct ctl_shape {
	const char *what;                 /* for messages */
	const struct ctl_shape *base;     /* members it has as well, or NULL */
	const struct ctl_member *members; /* ends with a NULL key */
};

struct ctl_verb {
	const char *name;       /* on the wire */
	enum ctl_verb_id id;
	bool mutating;          /* root, the daemon's user and control_users only */
	const char *words;      /* as typed after azbridgectl: "hosts add" */
	const char *options;    /* its options in the usage, or NULL */
	const char *help;       /* for the usage; lines end with '\n' */
	const struct ctl_arg *args;     /* ends with a NULL key */
	const struct ctl_shape *reply;  /* when "ok" is true */
};

/* Objects inside replies, for the code that reads them. */
extern const struct ctl_shape ctl_shape_failure, ctl_shape_last_reload, ctl_shape_forward,
	ctl_shape_forward_detail, ctl_shape_binding, ctl_shape_stats, ctl_shape_stats_row,
	ctl_shape_host_entry;

/* Every verb, in the order of azbridgectl's usage. */
const struct ctl_verb *ctl_verbs(size_t *n);
const struct ctl_verb *ctl_verb_find(const char *name);
/* The verb whose words begin args[0..n): *used is how many they are. */
const struct ctl_verb *ctl_verb_typed(char *const *args, size_t n, size_t *used);
/* "show NAME", "stats [NAME]", "add [--name NAME] [--runtime] FORWARD". */
void ctl_verb_synopsis(const struct ctl_verb *v, char *buf, size_t len);

/* The member key of shape s (or of its bases), or NULL. */
const struct ctl_member *ctl_member_find(const struct ctl_shape *s, const char *key);
/* Member key of reply object o, which has shape s; NULL when o lacks it.
 * Asking for a member that s does not declare is a bug in the caller, and
 * aborts: test_ctl_proto prints every reply, so it cannot ship. */
json_t *ctl_get(const json_t *o, const struct ctl_shape *s, const char *key);

#endif
