/* azbridgectl import [-o FILE] [--svc] [FILE.yml...]: read the original's
 * files in its order (machine file, then the user's or the service's, or
 * the files named), merge them, and write one drop-in. Every error of every
 * file is printed and then nothing is written; a drop-in is written whole
 * (a temporary file renamed: a reader sees the old one or the new one) with
 * mode 0600, as it may hold a key. */
#include "import.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define ORIG_MACHINE "/etc/azbridge/azbridge_config.machine.yml"
#define ORIG_SERVICE "/etc/azbridge/azbridge_config.svc.yml"
#define ORIG_USER ".azbridge/azbridge_config.yml"

struct imp_cmd {
	const char *output;
	bool svc;
	char **files;
	size_t nfiles;
	bool defaults;             /* files are the original's own: skip missing ones */
};

static void usage(FILE *f)
{
	fputs("Usage: azbridgectl import [-o FILE] [--svc] [FILE.yml...]\n"
	      "Write the original azbridge's YAML configuration as an azbridge.conf(5) drop-in.\n"
	      "Files are read in order, each over the ones before, as the original layers its\n"
	      "machine, user and service files. Without FILE: " ORIG_MACHINE "\n"
	      "and then ~/" ORIG_USER " (with --svc: " ORIG_SERVICE "),\n"
	      "those that exist. azbridged need not run.\n"
	      "\n"
	      "  -o, --output FILE   write the drop-in here (mode 0600) instead of standard output\n"
	      "      --svc           without FILE: the service file instead of the user's\n"
	      "  -h, --help          show this help\n", f);
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "azbridgectl import: %s\nTry 'azbridgectl import --help'.\n", msg);
	return CTL_EXIT_USAGE;
}

static void add_file(struct imp_cmd *c, char *path)
{
	c->files = xrealloc(c->files, (c->nfiles + 1) * sizeof(*c->files));
	c->files[c->nfiles++] = path;
}

static void default_files(struct imp_cmd *c)
{
	const char *home = getenv("HOME");

	c->defaults = true;
	add_file(c, xstrdup(ORIG_MACHINE));
	if (c->svc)
		add_file(c, xstrdup(ORIG_SERVICE));
	else if (home && *home)
		add_file(c, xasprintf("%s/%s", home, ORIG_USER));
}

static int parse_args(int argc, char **argv, struct imp_cmd *c, bool *help)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "svc", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		if (o == 'o')
			c->output = optarg;
		else if (o == 'S')
			c->svc = true;
		else if (o == 'h')
			*help = true;
		else
			return -EINVAL;
	}
	for (int i = optind; i < argc; i++)
		add_file(c, xstrdup(argv[i]));
	if (c->svc && c->nfiles)
		return -E2BIG;
	if (!c->nfiles)
		default_files(c);
	return 0;
}

static void print_msgs(struct imp_msgs *m, const struct imp_cmd *c, const char *prefix)
{
	imp_msgs_sort(m, (const char *const *)c->files, c->nfiles);
	for (size_t i = 0; i < m->n; i++)
		fprintf(stderr, "%s%s\n", prefix, m->v[i].text);
}

/* ---- reading ----------------------------------------------------------- */

struct loaded {
	struct imp_node **trees;
	const char **names;        /* the files read */
	size_t n;
};

static int load_one(struct imp_cmd *c, size_t i, struct loaded *l, struct imp_conf *merged,
		    struct imp_msgs *errs)
{
	struct imp_conf layer;
	struct imp_node *root = NULL;
	char err[512];
	int r = imp_yaml_load(c->files[i], &root, err, sizeof(err));

	if (r == -ENOENT && c->defaults)
		return 0;
	if (r < 0) {
		imp_msg_raw(errs, c->files[i], err);
		return r;
	}
	l->trees[l->n] = root;
	l->names[l->n++] = c->files[i];
	if (!root)
		fprintf(stderr, "note: %s: empty (the original refuses an empty file)\n",
			c->files[i]);
	r = imp_read_layer(c->files[i], root, &layer, errs);
	imp_merge(merged, &layer);
	imp_conf_free(&layer);
	return r;
}

static int load_all(struct imp_cmd *c, struct loaded *l, struct imp_conf *merged,
		    struct imp_msgs *errs)
{
	l->trees = xcalloc(c->nfiles, sizeof(*l->trees));
	l->names = xcalloc(c->nfiles, sizeof(*l->names));
	for (size_t i = 0; i < c->nfiles; i++)
		load_one(c, i, l, merged, errs);
	if (!l->n && !errs->n) {
		fprintf(stderr, "azbridgectl import: none of the original's files exist (%s%s%s); "
			"name the file to import\n", c->files[0], c->nfiles > 1 ? ", " : "",
			c->nfiles > 1 ? c->files[1] : "");
		return -ENOENT;
	}
	return errs->n ? -EINVAL : 0;
}

/* ---- writing ----------------------------------------------------------- */

static int output(const struct imp_cmd *c, const struct imp_out *out)
{
	int r;

	if (!c->output) {
		fputs(out->text, stdout);
		if (out->secret && !isatty(STDOUT_FILENO))
			fprintf(stderr, "azbridgectl import: the output holds a secret: keep it in a "
				"file only root can read (chmod 600), or use -o FILE\n");
		else if (out->secret)
			fprintf(stderr, "azbridgectl import: secrets are not shown on a terminal; "
				"-o FILE writes them\n");
		return fflush(stdout) == 0 && !ferror(stdout) ? CTL_EXIT_OK : CTL_EXIT_FAILED;
	}
	r = azb_write_atomic(c->output, out->text, 0600);
	if (r < 0) {
		fprintf(stderr, "azbridgectl import: cannot write %s: %s\n", c->output, strerror(-r));
		return CTL_EXIT_FAILED;
	}
	fprintf(stderr, "azbridgectl import: wrote %s (mode 0600); check it with azbridged -n\n",
		c->output);
	return CTL_EXIT_OK;
}

static int convert(struct imp_cmd *c)
{
	struct imp_msgs errs = { 0 }, notes = { 0 };
	struct imp_conf merged = { 0 };
	struct imp_out out = { 0 };
	struct loaded l = { 0 };
	int rc = CTL_EXIT_FAILED;
	bool redact = !c->output && isatty(STDOUT_FILENO);

	/* The values of a file with a wrong key are checked too: one run
	 * shows every error. */
	if (load_all(c, &l, &merged, &errs) != -ENOENT &&
	    imp_emit(&merged, l.names, l.n, redact, &out, &notes, &errs) == 0 && !errs.n) {
		print_msgs(&notes, c, "note: ");
		rc = output(c, &out);
	}
	print_msgs(&errs, c, "azbridgectl import: ");
	if (errs.n)
		fprintf(stderr, "azbridgectl import: %zu error%s; nothing written\n", errs.n,
			errs.n == 1 ? "" : "s");
	if (out.text)
		explicit_bzero(out.text, strlen(out.text));
	free(out.text);
	imp_msgs_free(&errs);
	imp_msgs_free(&notes);
	imp_conf_free(&merged);
	for (size_t i = 0; i < l.n; i++)
		imp_node_free(l.trees[i]);
	free(l.trees);
	free(l.names);
	return rc;
}

int imp_main(int argc, char **argv)
{
	struct imp_cmd c = { 0 };
	bool help = false;
	int r = parse_args(argc, argv, &c, &help), rc;

	if (r == -E2BIG)
		rc = usage_error("--svc picks the original's files; it takes no FILE");
	else if (r < 0)
		rc = usage_error(optopt == 'o' ? "-o needs a FILE" : "unknown option");
	else if (help)
		usage(stdout), rc = CTL_EXIT_OK;
	else
		rc = convert(&c);
	for (size_t i = 0; i < c.nfiles; i++)
		free(c.files[i]);
	free(c.files);
	return rc;
}
