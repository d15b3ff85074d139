/* azbridgectl: a thin client of azbridged's control socket. */
#include <getopt.h>
#include <stdio.h>

static void usage(FILE *f)
{
	fputs("Usage: azbridgectl [--json] [--socket PATH] VERB [ARGS]\n"
	      "See azbridgectl(8).\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'h': usage(stdout); return 0;
		case 'V': printf("azbridgectl %s\n", AZB_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	fputs("azbridgectl: azbridged has no control socket in this build yet\n", stderr);
	return 3;
}
