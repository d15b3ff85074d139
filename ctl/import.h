/* azbridgectl import: the original azbridge's YAML configuration (machine,
 * user and service files, layered by its rules) turned into an
 * azbridge.conf(5) drop-in, with one line for each thing that does not carry
 * over. Nothing here talks to the daemon. */
#ifndef AZB_CTL_IMPORT_H
#define AZB_CTL_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

/* Far above any real file of the original (a few KiB), low enough that a
 * wrong file named by mistake is refused before it is parsed. */
#define IMP_MAX_FILE (1u << 20)
#define IMP_MAX_DEPTH 16
#define IMP_MAX_NODES 100000

/* ---- import_yaml.c: a YAML document as a tree ---- */

enum imp_kind { IMP_SCALAR, IMP_MAP, IMP_SEQ };

struct imp_node {
	enum imp_kind kind;
	int line, col;             /* 1-based, where the node starts */
	bool plain;                /* scalar written without quotes */
	char *text;                /* scalar's value; a map member's key otherwise NULL */
	char *key;                 /* the key this node is the value of, in a map */
	int key_line, key_col;
	struct imp_node **kids;    /* map members (each with its key) or sequence items */
	size_t n;
};

/* The one document of buf (NULL for an empty stream). 0, or -EINVAL with
 * "FILE:LINE:COL: what" in err. */
int imp_yaml_parse(const char *file, const char *buf, size_t len, struct imp_node **out,
		   char *err, size_t errlen);
/* The same from a file, read up to IMP_MAX_FILE bytes. */
int imp_yaml_load(const char *path, struct imp_node **out, char *err, size_t errlen);
void imp_node_free(struct imp_node *n);
/* An empty scalar, or a plain ~ or null: the original's "not set". */
bool imp_is_null(const struct imp_node *n);

/* ---- import_map.c: the original's keys, one file into a layer, layers merged ---- */

enum imp_gkey { IMP_G_CS, IMP_G_ENDPOINT, IMP_G_KEYNAME, IMP_G_KEY, IMP_G_SIG, IMP_G_BIND,
	IMP_G_KEEPALIVE, IMP_G_LOGLEVEL, IMP_G_LOGFILE, IMP_G_EXIT, IMP_G_CLEAR, IMP_G_GATEWAY,
	IMP_G_FAMILY, IMP_G_ATTEMPTS, IMP_G_CTIMEOUT, IMP_G_N };
enum imp_bkey { IMP_B_BIND_ADDRESS, IMP_B_BIND_PORT, IMP_B_BIND_SOCKET, IMP_B_PORT_NAME,
	IMP_B_HOST_NAME, IMP_B_NO_AUTH, IMP_B_HOST, IMP_B_HOST_PORT, IMP_B_LOCAL_SOCKET,
	IMP_B_HTTP, IMP_B_INSECURE, IMP_B_N };

struct imp_val {
	const struct imp_node *n;  /* NULL: not set */
	const char *file;
};

struct imp_bind {
	struct imp_val v[IMP_B_N];
	const char *file;
	const struct imp_node *at;
};

struct imp_fwd {
	bool remote;
	struct imp_val relay, cs;
	struct imp_bind *b;
	size_t nb;
	const char *file;
	const struct imp_node *at;
};

struct imp_conf {
	struct imp_val g[IMP_G_N];
	struct imp_fwd *fwd;
	size_t nfwd;
};

struct imp_msg {
	char *text;
	const char *file;          /* for sorting: the pointer given */
	int line, col;
};

struct imp_msgs {
	struct imp_msg *v;
	size_t n;
};

/* "FILE:LINE:COL: what" (at the key of a map member), or "FILE: what"
 * without a node. */
void imp_msg_add(struct imp_msgs *m, const char *file, const struct imp_node *at,
		 const char *fmt, ...) AZB_PRINTF(4, 5);
/* text as it is, sorted as of file. */
void imp_msg_raw(struct imp_msgs *m, const char *file, const char *text);
/* In the order of files (pointers, as given), then by line and column. */
void imp_msgs_sort(struct imp_msgs *m, const char *const *files, size_t nfiles);
void imp_msgs_free(struct imp_msgs *m);

/* One file's tree into a layer; every wrong key or type is one message in
 * errs. The layer points into the tree, which must outlive it. */
int imp_read_layer(const char *file, const struct imp_node *root, struct imp_conf *layer,
		   struct imp_msgs *errs);
/* A later layer over the merged ones, by the original's rules. The
 * layer's forwards move into dst; the layer is left empty. */
void imp_merge(struct imp_conf *dst, struct imp_conf *layer);
void imp_conf_free(struct imp_conf *c);
/* The original's YAML-1.1 booleans; 0 or -EINVAL. */
int imp_parse_bool(const char *s, bool *out);
/* A whole decimal number in lo..hi; 0 or -EINVAL. */
int imp_parse_long(const char *s, long lo, long hi, long *out);
/* The name of a key by its index, for messages. */
const char *imp_gkey_name(enum imp_gkey k);
const char *imp_bkey_name(enum imp_bkey k);

/* ---- import_emit.c: the merged configuration as libconfig text ---- */

struct imp_out {
	char *text;                /* the drop-in */
	bool secret;               /* it holds a key, a signature or a connection string with one */
};

/* Errors (values the original would refuse) go to errs, what does not carry
 * over to notes. redact: write "<hidden>" instead of each secret. */
int imp_emit(const struct imp_conf *c, const char *const *files, size_t nfiles, bool redact,
	     struct imp_out *out, struct imp_msgs *notes, struct imp_msgs *errs);
/* s as a libconfig string literal with its quotes. */
void imp_quote(struct sbuf *b, const char *s);

/* ---- import.c: the command ---- */

/* argv[0] is "import". Returns the exit status. */
int imp_main(int argc, char **argv);

#endif
