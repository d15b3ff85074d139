/* libFuzzer: a YAML file given to azbridgectl import. It parses or says
 * where it does not; a tree read into a layer and merged leaves messages
 * that each name a place; a drop-in written with no error is text that
 * libconfig reads back (every string quoted and escaped), and one written
 * with secrets hidden shows the key as hidden. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "../../ctl/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reads_back(const char *text)
{
	config_t cf;

	config_init(&cf);
	if (!config_read_string(&cf, text))
		__builtin_trap();
	config_destroy(&cf);
}

/* The key's line shows it hidden. */
static void hides(const char *text)
{
	const char *line = strstr(text, "\nshared_access_key = \"");

	if (line && strncmp(line + 22, "<hidden", 7) != 0)
		__builtin_trap();
}

static void convert(const struct imp_node *root)
{
	struct imp_msgs errs = { 0 }, notes = { 0 };
	struct imp_conf layer, merged = { 0 };
	struct imp_out out = { 0 };
	const char *files[] = { "f.yml" };

	if (imp_read_layer("f.yml", root, &layer, &errs) < 0 && !errs.n)
		__builtin_trap();
	imp_merge(&merged, &layer);
	imp_conf_free(&layer);
	for (int redact = 0; redact < 2; redact++) {
		size_t before = errs.n;
		int r = imp_emit(&merged, files, 1, redact, &out, &notes, &errs);

		if ((r < 0) != (errs.n > before))
			__builtin_trap();
		if (errs.n == 0)
			reads_back(out.text);
		if (redact && out.text)
			hides(out.text);
		free(out.text);
		out.text = NULL;
	}
	imp_msgs_free(&errs);
	imp_msgs_free(&notes);
	imp_conf_free(&merged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imp_node *root = NULL;
	char err[512] = "";

	if (size > IMP_MAX_FILE)
		return 0;
	if (imp_yaml_parse("f.yml", (const char *)data, size, &root, err, sizeof(err)) < 0) {
		if (!err[0] || root)
			__builtin_trap();
		return 0;
	}
	convert(root);
	imp_node_free(root);
	return 0;
}
