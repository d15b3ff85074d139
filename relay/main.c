/* azbridge-relayd: the service side of the Hybrid Connections protocol. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static void usage(FILE *f)
{
	fputs("Usage: azbridge-relayd [-c FILE] [--dev] [--help] [--version]\n"
	      "See azbridge-relayd(8).\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dev", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	log_init("azbridge-relayd", LOG_TARGET_AUTO, NULL);
	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'h': usage(stdout); return 0;
		case 'V': printf("azbridge-relayd %s\n", AZB_VERSION); return 0;
		case 'c': case 'd': break;
		default: usage(stderr); return 2;
		}
	}
	log_error("serving is not part of this build yet: the relay's listener, sender "
		  "and HTTP paths are still to come");
	return 3;
}
