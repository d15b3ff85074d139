/* The original's YAML files through libyaml's event parser into a small
 * tree: scalars, maps and sequences with where each starts. Depth, size and
 * node count are capped, aliases are refused (they could multiply a small
 * file into a huge tree), and so are duplicate keys. */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

struct yp {
	yaml_parser_t p;
	const char *file;
	size_t nodes;
	char *err;
	size_t errlen;
};

static int yp_fail(struct yp *y, const yaml_mark_t *m, const char *fmt, ...) AZB_PRINTF(3, 4);
static int yp_fail(struct yp *y, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return azb_err(y->err, y->errlen, "%s:%zu:%zu: %s", y->file, m->line + 1, m->column + 1, msg);
}

/* libyaml's own wording, at its mark: "did not find expected key while
 * parsing a block mapping" says what a reader needs. */
static int yp_syntax(struct yp *y)
{
	const yaml_parser_t *p = &y->p;

	if (p->error == YAML_MEMORY_ERROR)
		return azb_errn(y->err, y->errlen, -ENOMEM, "%s: out of memory", y->file);
	if (p->context)
		return yp_fail(y, &p->problem_mark, "%s %s", p->problem, p->context);
	return yp_fail(y, &p->problem_mark, "%s", p->problem ? p->problem : "not YAML");
}

static int yp_next(struct yp *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->p, ev))
		return yp_syntax(y);
	return 0;
}

static struct imp_node *node_new(struct yp *y, enum imp_kind kind, const yaml_mark_t *m)
{
	struct imp_node *n;

	if (++y->nodes > IMP_MAX_NODES)
		return NULL;
	n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static void node_add(struct imp_node *parent, struct imp_node *kid)
{
	parent->kids = xrealloc(parent->kids, (parent->n + 1) * sizeof(*parent->kids));
	parent->kids[parent->n++] = kid;
}

static int parse_node(struct yp *y, yaml_event_t *ev, int depth, struct imp_node **out);

static int parse_seq(struct yp *y, struct imp_node *seq, int depth)
{
	for (;;) {
		yaml_event_t ev;
		struct imp_node *kid;
		int r;

		if (yp_next(y, &ev) < 0)
			return -EINVAL;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		r = parse_node(y, &ev, depth + 1, &kid);
		yaml_event_delete(&ev);
		if (r < 0)
			return r;
		node_add(seq, kid);
	}
}

static const struct imp_node *member_named(const struct imp_node *map, const char *key)
{
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->kids[i]->key, key) == 0)
			return map->kids[i];
	return NULL;
}

/* A key: a scalar, once per map. */
static int map_key(struct yp *y, const struct imp_node *map, const yaml_event_t *ev)
{
	const struct imp_node *dup;
	const char *k;

	if (ev->type != YAML_SCALAR_EVENT)
		return yp_fail(y, &ev->start_mark, "a key must be a plain word, not a %s",
			       ev->type == YAML_MAPPING_START_EVENT ? "mapping" : "list or alias");
	k = (const char *)ev->data.scalar.value;
	dup = member_named(map, k);
	if (dup)
		return yp_fail(y, &ev->start_mark, "%s is given twice (first at line %d)", k,
			       dup->key_line);
	return 0;
}

static int parse_member(struct yp *y, struct imp_node *map, yaml_event_t *key_ev, int depth)
{
	yaml_event_t ev;
	struct imp_node *val;
	int r;

	if (map_key(y, map, key_ev) < 0 || yp_next(y, &ev) < 0)
		return -EINVAL;
	r = parse_node(y, &ev, depth + 1, &val);
	yaml_event_delete(&ev);
	if (r < 0)
		return r;
	val->key = xstrdup((const char *)key_ev->data.scalar.value);
	val->key_line = (int)key_ev->start_mark.line + 1;
	val->key_col = (int)key_ev->start_mark.column + 1;
	node_add(map, val);
	return 0;
}

static int parse_map(struct yp *y, struct imp_node *map, int depth)
{
	for (;;) {
		yaml_event_t ev;
		int r;

		if (yp_next(y, &ev) < 0)
			return -EINVAL;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		r = parse_member(y, map, &ev, depth);
		yaml_event_delete(&ev);
		if (r < 0)
			return r;
	}
}

static int parse_scalar(struct yp *y, const yaml_event_t *ev, struct imp_node *n)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (strlen(v) != ev->data.scalar.length)
		return yp_fail(y, &ev->start_mark, "a value holds a NUL character");
	n->text = xstrdup(v);
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return 0;
}

static int parse_node(struct yp *y, yaml_event_t *ev, int depth, struct imp_node **out)
{
	enum imp_kind kind = ev->type == YAML_SEQUENCE_START_EVENT ? IMP_SEQ :
			     ev->type == YAML_MAPPING_START_EVENT ? IMP_MAP : IMP_SCALAR;
	struct imp_node *n;
	int r;

	if (ev->type == YAML_ALIAS_EVENT)
		return yp_fail(y, &ev->start_mark, "aliases (*%s) are not supported; write the "
			       "value out", (const char *)ev->data.alias.anchor);
	if (depth > IMP_MAX_DEPTH)
		return yp_fail(y, &ev->start_mark, "nested deeper than %d levels", IMP_MAX_DEPTH);
	n = node_new(y, kind, &ev->start_mark);
	if (!n)
		return yp_fail(y, &ev->start_mark, "more than %d values", IMP_MAX_NODES);
	r = kind == IMP_SEQ ? parse_seq(y, n, depth) : kind == IMP_MAP ? parse_map(y, n, depth) :
	    parse_scalar(y, ev, n);
	if (r < 0) {
		imp_node_free(n);
		return r;
	}
	*out = n;
	return 0;
}

/* Stream start, then nothing (an empty or all-comment file) or one
 * document, and nothing after it. */
static int parse_stream(struct yp *y, struct imp_node **out)
{
	yaml_event_t ev;
	int r;

	*out = NULL;
	if (yp_next(y, &ev) < 0)
		return -EINVAL;
	while (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_START_EVENT) {
		yaml_event_delete(&ev);
		if (yp_next(y, &ev) < 0)
			return -EINVAL;
	}
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0;
	}
	r = parse_node(y, &ev, 0, out);
	yaml_event_delete(&ev);
	if (r < 0)
		return r;
	if (yp_next(y, &ev) < 0)   /* document end */
		return -EINVAL;
	yaml_event_delete(&ev);
	if (yp_next(y, &ev) < 0)
		return -EINVAL;
	r = ev.type == YAML_STREAM_END_EVENT ? 0 :
	    yp_fail(y, &ev.start_mark, "a second document; the original reads only one");
	yaml_event_delete(&ev);
	return r;
}

int imp_yaml_parse(const char *file, const char *buf, size_t len, struct imp_node **out,
		   char *err, size_t errlen)
{
	struct yp y = { .file = file, .err = err, .errlen = errlen };
	int r;

	if (!yaml_parser_initialize(&y.p))
		return azb_errn(err, errlen, -ENOMEM, "%s: out of memory", file);
	yaml_parser_set_input_string(&y.p, (const unsigned char *)buf, len);
	r = parse_stream(&y, out);
	yaml_parser_delete(&y.p);
	if (r < 0 && *out) {
		imp_node_free(*out);
		*out = NULL;
	}
	return r;
}

void imp_node_free(struct imp_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		imp_node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n->key);
	free(n);
}

bool imp_is_null(const struct imp_node *n)
{
	return n->kind == IMP_SCALAR && (!n->text[0] || (n->plain &&
		(strcmp(n->text, "~") == 0 || strcasecmp(n->text, "null") == 0)));
}

static int read_capped(int fd, const char *path, char **buf, size_t *len, char *err,
		       size_t errlen)
{
	size_t cap = 4096, n = 0;
	char *b = xmalloc(cap);

	for (;;) {
		ssize_t r;

		if (n == cap)
			b = xrealloc(b, cap *= 2);
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(b);
			return azb_errn(err, errlen, -errno, "%s: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > IMP_MAX_FILE) {
			free(b);
			return azb_errn(err, errlen, -EFBIG, "%s: larger than %u KiB; not a "
					"configuration file of azbridge", path, IMP_MAX_FILE >> 10);
		}
	}
	*buf = b;
	*len = n;
	return 0;
}

int imp_yaml_load(const char *path, struct imp_node **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	size_t len = 0;
	char *buf = NULL;
	int r;

	if (fd < 0)
		return azb_errn(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return azb_errn(err, errlen, -EINVAL, "%s: not a regular file", path);
	}
	r = read_capped(fd, path, &buf, &len, err, errlen);
	close(fd);
	if (r < 0)
		return r;
	r = imp_yaml_parse(path, buf, len, out, err, errlen);
	explicit_bzero(buf, len);   /* it may hold a key */
	free(buf);
	return r;
}
