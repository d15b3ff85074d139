#include "ctl_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The end of a member or argument list. */
#define END { NULL, JSON_NULL, false, NULL }

/* ---- replies ----------------------------------------------------------------- */

static const struct ctl_member ok_members[] = { { CTL_M_OK, JSON_TRUE, false, NULL }, END };
static const struct ctl_shape ok_reply = { "a reply", NULL, ok_members };

static const struct ctl_member failure_members[] = {
	{ CTL_M_ERROR, JSON_STRING, false, NULL },
	{ CTL_M_MESSAGE, JSON_STRING, false, NULL },
	{ CTL_M_ERRORS, JSON_ARRAY, false, NULL },
	END,
};
const struct ctl_shape ctl_shape_failure = { "a failure", &ok_reply, failure_members };

static const struct ctl_member version_members[] = {
	{ CTL_M_VERSION, JSON_STRING, false, NULL },
	{ CTL_M_PROTOCOL, JSON_INTEGER, false, NULL },
	END,
};
static const struct ctl_shape version_reply = { "the version reply", &ok_reply, version_members };

static const struct ctl_member last_reload_members[] = {
	{ CTL_M_OK, JSON_TRUE, false, NULL },
	{ CTL_M_TIME, JSON_INTEGER, false, NULL },
	{ CTL_M_ERRORS, JSON_ARRAY, false, NULL },
	END,
};
const struct ctl_shape ctl_shape_last_reload = { "last_reload", NULL, last_reload_members };

static const struct ctl_member status_members[] = {
	{ CTL_M_VERSION, JSON_STRING, false, NULL },
	{ CTL_M_PID, JSON_INTEGER, false, NULL },
	{ CTL_M_UPTIME, JSON_REAL, false, NULL },
	{ CTL_M_CONFIG, JSON_STRING, true, NULL },
	{ CTL_M_FORWARDS, JSON_INTEGER, false, NULL },
	{ CTL_M_ONLINE, JSON_INTEGER, false, NULL },
	{ CTL_M_TUNNELS, JSON_INTEGER, false, NULL },
	{ CTL_M_RELOADS, JSON_INTEGER, false, NULL },
	{ CTL_M_LAST_RELOAD, JSON_OBJECT, false, &ctl_shape_last_reload },
	END,
};
static const struct ctl_shape status_reply = { "the status reply", &ok_reply, status_members };

static const struct ctl_member forward_members[] = {
	{ CTL_M_NAME, JSON_STRING, false, NULL },
	{ CTL_M_DIRECTION, JSON_STRING, false, NULL },
	{ CTL_M_RELAY, JSON_STRING, false, NULL },
	{ CTL_M_EXPRESSION, JSON_STRING, false, NULL },
	{ CTL_M_OPTION, JSON_STRING, false, NULL },
	{ CTL_M_SOURCE, JSON_STRING, false, NULL },
	{ CTL_M_STATE, JSON_STRING, false, NULL },
	{ CTL_M_SINCE, JSON_REAL, false, NULL },
	{ CTL_M_TUNNELS, JSON_INTEGER, false, NULL },
	{ CTL_M_HOST_NAMES, JSON_ARRAY, false, NULL },
	{ CTL_M_REASON, JSON_STRING, false, NULL },
	{ CTL_M_NEXT_ATTEMPT, JSON_REAL, false, NULL },
	END,
};
const struct ctl_shape ctl_shape_forward = { "a forward", NULL, forward_members };

static const struct ctl_member list_members[] = {
	{ CTL_M_FORWARDS, JSON_ARRAY, false, &ctl_shape_forward }, END,
};
static const struct ctl_shape list_reply = { "the list reply", &ok_reply, list_members };

static const struct ctl_member binding_members[] = {
	{ CTL_M_KIND, JSON_STRING, false, NULL },
	{ CTL_M_PORT_NAME, JSON_STRING, false, NULL },
	{ CTL_M_BIND_ADDRESS, JSON_STRING, false, NULL },
	{ CTL_M_BIND_PORT, JSON_INTEGER, false, NULL },
	{ CTL_M_HOST, JSON_STRING, false, NULL },
	{ CTL_M_PORT, JSON_INTEGER, false, NULL },
	{ CTL_M_SOCKET, JSON_STRING, false, NULL },
	{ CTL_M_PATH, JSON_STRING, false, NULL },
	{ CTL_M_HOST_NAME, JSON_STRING, false, NULL },
	{ CTL_M_NO_AUTHENTICATION, JSON_TRUE, false, NULL },
	END,
};
const struct ctl_shape ctl_shape_binding = { "a binding", NULL, binding_members };

static const struct ctl_member stats_members[] = {
	{ CTL_M_BYTES_UP, JSON_INTEGER, false, NULL },
	{ CTL_M_BYTES_DOWN, JSON_INTEGER, false, NULL },
	{ CTL_M_TUNNELS_OPEN, JSON_INTEGER, false, NULL },
	{ CTL_M_TUNNELS_TOTAL, JSON_INTEGER, false, NULL },
	{ CTL_M_TUNNELS_FAILED, JSON_INTEGER, false, NULL },
	{ CTL_M_RECONNECTS, JSON_INTEGER, false, NULL },
	{ CTL_M_DATAGRAMS_DROPPED, JSON_INTEGER, false, NULL },
	{ CTL_M_LAST_ERROR, JSON_STRING, false, NULL },
	END,
};
const struct ctl_shape ctl_shape_stats = { "the counters", NULL, stats_members };

static const struct ctl_member detail_members[] = {
	{ CTL_M_ENDPOINTS, JSON_ARRAY, false, &ctl_shape_binding },
	{ CTL_M_STATS, JSON_OBJECT, false, &ctl_shape_stats },
	END,
};
const struct ctl_shape ctl_shape_forward_detail = { "a forward shown", &ctl_shape_forward,
						     detail_members };

static const struct ctl_member show_members[] = {
	{ CTL_M_FORWARD, JSON_OBJECT, false, &ctl_shape_forward_detail }, END,
};
static const struct ctl_shape show_reply = { "the show reply", &ok_reply, show_members };

static const struct ctl_member stats_row_members[] = {
	{ CTL_M_NAME, JSON_STRING, false, NULL }, END,
};
const struct ctl_shape ctl_shape_stats_row = { "a forward's counters", &ctl_shape_stats,
						stats_row_members };

static const struct ctl_member stats_reply_members[] = {
	{ CTL_M_FORWARDS, JSON_ARRAY, false, &ctl_shape_stats_row },
	{ CTL_M_TOTAL, JSON_OBJECT, false, &ctl_shape_stats },
	END,
};
static const struct ctl_shape stats_reply = { "the stats reply", &ok_reply, stats_reply_members };

static const struct ctl_member reload_members[] = {
	{ CTL_M_ADDED, JSON_ARRAY, false, NULL },
	{ CTL_M_REMOVED, JSON_ARRAY, false, NULL },
	{ CTL_M_CHANGED, JSON_ARRAY, false, NULL },
	{ CTL_M_UNCHANGED, JSON_INTEGER, false, NULL },
	{ CTL_M_FAILED, JSON_ARRAY, false, NULL },
	END,
};
static const struct ctl_shape reload_reply = { "the reload reply", &ok_reply, reload_members };

/* add and remove answer with the reload they end with. */
static const struct ctl_member add_members[] = {
	{ CTL_M_NAME, JSON_STRING, false, NULL },
	{ CTL_M_FILE, JSON_STRING, false, NULL },
	{ CTL_M_STATE, JSON_STRING, false, NULL },
	END,
};
static const struct ctl_shape add_reply = { "the add reply", &reload_reply, add_members };

static const struct ctl_member remove_members[] = {
	{ CTL_M_NAME, JSON_STRING, false, NULL },
	{ CTL_M_FILE, JSON_STRING, false, NULL },
	END,
};
static const struct ctl_shape remove_reply = { "the remove reply", &reload_reply,
					       remove_members };

static const struct ctl_member host_entry_members[] = {
	{ CTL_M_IP, JSON_STRING, false, NULL },
	{ CTL_M_NAME, JSON_STRING, false, NULL },
	{ CTL_M_FORWARD, JSON_STRING, false, NULL },   /* the forward that owns it */
	END,
};
const struct ctl_shape ctl_shape_host_entry = { "a hosts entry", NULL, host_entry_members };

static const struct ctl_member hosts_list_members[] = {
	{ CTL_M_FILE, JSON_STRING, false, NULL },
	{ CTL_M_ENTRIES, JSON_ARRAY, false, &ctl_shape_host_entry },
	END,
};
static const struct ctl_shape hosts_list_reply = { "the hosts-list reply", &ok_reply,
						   hosts_list_members };

/* ---- requests ------------------------------------------------------------------ */

static const struct ctl_arg no_args[] = { END };
static const struct ctl_arg name_arg[] = { { CTL_M_NAME, JSON_STRING, true, "NAME" }, END };
static const struct ctl_arg stats_args[] = {
	{ CTL_M_NAME, JSON_STRING, false, "NAME" }, END,
};
static const struct ctl_arg add_args[] = {
	{ CTL_M_FORWARD, JSON_OBJECT, true, NULL }, { CTL_M_RUNTIME, JSON_TRUE, false, NULL },
	END,
};
static const struct ctl_arg hosts_add_args[] = {
	{ CTL_M_IP, JSON_STRING, true, "IP" }, { CTL_M_NAME, JSON_STRING, true, "NAME" },
	END,
};

/* In the order of azbridgectl's usage; the wire names are protocol 1's. */
static const struct ctl_verb verbs[] = {
	{ "status", CTL_STATUS, false, "status", NULL,
	  "the daemon: version, uptime, counts, last reload\n", no_args, &status_reply },
	{ "list", CTL_LIST, false, "list", NULL, "every forward with its state\n", no_args,
	  &list_reply },
	{ "show", CTL_SHOW, false, "show", NULL, "one forward with its bindings and counters\n",
	  name_arg, &show_reply },
	{ "stats", CTL_STATS, false, "stats", NULL, "traffic and tunnel counters\n", stats_args,
	  &stats_reply },
	{ "reload", CTL_RELOAD, true, "reload", NULL, "read the configuration again\n", no_args,
	  &reload_reply },
	{ "version", CTL_VERSION, false, "version", NULL,
	  "the versions of azbridgectl and azbridged\n", no_args, &version_reply },
	{ "add", CTL_ADD, true, "add", "[--name NAME] [--runtime] FORWARD",
	  "add a forward; it is written to a drop-in file\n"
	  "unless --runtime keeps it in memory only\n", add_args, &add_reply },
	{ "remove", CTL_REMOVE, true, "remove", NULL, "remove a forward made by add\n", name_arg,
	  &remove_reply },
	{ "hosts-list", CTL_HOSTS_LIST, false, "hosts list", NULL,
	  "the hosts-file entries azbridged manages\n", no_args, &hosts_list_reply },
	{ "hosts-add", CTL_HOSTS_ADD, true, "hosts add", NULL, "add a hosts-file entry\n",
	  hosts_add_args, &ok_reply },
	{ "hosts-remove", CTL_HOSTS_REMOVE, true, "hosts remove", NULL,
	  "remove an entry made by hosts add\n", name_arg, &ok_reply },
};

const struct ctl_verb *ctl_verbs(size_t *n)
{
	*n = AZB_ARRAY_SIZE(verbs);
	return verbs;
}

const struct ctl_verb *ctl_verb_find(const char *name)
{
	for (size_t i = 0; name && i < AZB_ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

/* How many of args the words of v are, or 0 if they do not begin args. */
static size_t words_match(const struct ctl_verb *v, char *const *args, size_t n)
{
	const char *w = v->words;
	size_t i = 0;

	for (; *w; i++) {
		size_t len = strcspn(w, " ");

		if (i == n || strlen(args[i]) != len || strncmp(args[i], w, len) != 0)
			return 0;
		w += len + (w[len] == ' ');
	}
	return i;
}

const struct ctl_verb *ctl_verb_typed(char *const *args, size_t n, size_t *used)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(verbs); i++) {
		*used = words_match(&verbs[i], args, n);
		if (*used)
			return &verbs[i];
	}
	*used = 0;
	return NULL;
}

void ctl_verb_synopsis(const struct ctl_verb *v, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s%s", v->words, v->options ? " " : "",
			 v->options ? v->options : "");

	for (const struct ctl_arg *a = v->args; a->key && n >= 0 && (size_t)n < len; a++)
		if (a->meta)
			n += snprintf(buf + n, len - (size_t)n, a->required ? " %s" : " [%s]",
				      a->meta);
}

const struct ctl_member *ctl_member_find(const struct ctl_shape *s, const char *key)
{
	for (; s; s = s->base)
		for (const struct ctl_member *m = s->members; m->key; m++)
			if (strcmp(m->key, key) == 0)
				return m;
	return NULL;
}

json_t *ctl_get(const json_t *o, const struct ctl_shape *s, const char *key)
{
	if (!ctl_member_find(s, key)) {
		fprintf(stderr, "internal error: \"%s\" is not a member of %s in ctl_proto.c\n",
			key, s->what);
		abort();
	}
	return json_object_get(o, key);
}
