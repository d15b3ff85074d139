/* Plain-text tables: two spaces between columns, each as wide as its widest
 * cell, no trailing blanks. */
#include "ctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void tbl_init(struct tbl *t, size_t ncol, unsigned right)
{
	*t = (struct tbl){ .ncol = ncol, .right = right };
}

void tbl_add(struct tbl *t, const char *s)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->cell = xrealloc(t->cell, t->cap * sizeof(*t->cell));
	}
	t->cell[t->n++] = xstrdup(s ? s : "");
}

void tbl_addf(struct tbl *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	tbl_add(t, s);
	free(s);
}

/* Characters, not bytes: names and messages may be UTF-8, and counting
 * lead bytes is right for everything but wide and combining characters. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void pad(struct sbuf *b, size_t n)
{
	while (n--)
		sbuf_addc(b, ' ');
}

static void print_row(const struct tbl *t, char **row, const size_t *w, FILE *f,
		      const char *indent)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_add(&b, indent);
	for (size_t c = 0; c < t->ncol; c++) {
		size_t gap = w[c] - width(row[c]);

		if (c > 0)
			sbuf_add(&b, "  ");
		if (t->right & (1u << c))
			pad(&b, gap);
		sbuf_add(&b, row[c]);
		if (!(t->right & (1u << c)) && c + 1 < t->ncol)
			pad(&b, gap);
	}
	while (b.len > 0 && b.s[b.len - 1] == ' ')
		b.s[--b.len] = '\0';
	fprintf(f, "%s\n", b.s);
	sbuf_free(&b);
}

void tbl_print(const struct tbl *t, FILE *f, const char *indent)
{
	size_t rows = t->ncol ? t->n / t->ncol : 0, *w = xcalloc(t->ncol, sizeof(*w));

	for (size_t i = 0; i < rows * t->ncol; i++) {
		size_t cw = width(t->cell[i]);

		if (cw > w[i % t->ncol])
			w[i % t->ncol] = cw;
	}
	for (size_t r = 0; r < rows; r++)
		print_row(t, t->cell + r * t->ncol, w, f, indent ? indent : "");
	free(w);
}

void tbl_free(struct tbl *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cell[i]);
	free(t->cell);
	*t = (struct tbl){ 0 };
}
