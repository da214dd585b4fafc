/* The sinktrap command line. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "dns/dns.h"
#include "parent.h"
#include "store/status.h"
#include "trap/trap.h"
#include "web/web.h"

#ifndef SINKTRAP_VERSION
#define SINKTRAP_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sinktrap COMMAND [-c FILE] [options]\n"
	    "\n"
	    "commands:\n"
	    "  run            start the parent and every worker the config enables\n"
	    "  dns            run the DNS worker alone in the foreground (events to stdout)\n"
	    "  trap           run the trap worker alone in the foreground (events to stdout)\n"
	    "  web            run the web worker (HTTP API and page) alone in the foreground\n"
	    "  report --host IP  what the store knows of one host, in order (--json)\n"
	    "  passwd USER    set a web user's password (read from stdin) in [web] users\n"
	    "                 (-f FILE: that users file; -D: remove the user)\n"
	    "  firewall       print the nftables catch-all and containment ruleset;\n"
	    "                 --apply applies it (and its routes), --remove takes it away\n"
	    "  check-config   validate the configuration: 'configuration OK' or FILE:LINE "
	    "errors\n"
	    "  check NAME     which list entry decides NAME, and the answer it gets\n"
	    "                 (exit 0 if sinkholed, 1 if not)\n"
	    "  status         per-sink delivered, queued and dropped events (--json: raw)\n"
	    "  capture        run the capture worker alone in the foreground (events to "
	    "stdout)\n"
	    "  ingest FILE... load pcap/pcapng captures into the spool and their sessions\n"
	    "                 into the store\n"
	    "  sessions       list captured sessions (--host --net --port --proto --since\n"
	    "                 --until --community-id --domain --limit --json)\n"
	    "  pcap -w OUT    write the packets of --session ID, --community-id ID, or a\n"
	    "                 filter (--host --net --port --proto --since --until\n"
	    "                 --domain; --bpf EXPR on top) as pcap\n"
	    "  default-config print the embedded default configuration\n"
	    "  version        print the version\n"
	    "\n"
	    "  -c FILE        configuration file (default: the embedded one)\n"
	    "  -d             debug logging\n");
}

static struct config *load(const char *path)
{
	struct cfg_errors errs;
	struct config *c = config_load(path, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_free(&errs);
	}
	return c;
}

static int cmd_dns(const char *path)
{
	struct config *c = load(path);
	if (c == NULL)
		return 1;
	log_procname("dns");
	if (log_level_get() < LOG_LVL_DEBUG)
		log_level_set(c->log_level);
	struct dns_setup s;
	char err[512];
	memset(&s, 0, sizeof(s));
	s.parent_fd = -1;
	s.store_fd = -1;
	if (dns_listeners_open(c, &s.ls, &s.nls, err, sizeof(err)) < 0 ||
	    dns_lists_open(c, &s.lists, &s.nlists, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return dns_worker_main(c, &s);
}

static int cmd_trap(const char *path)
{
	struct config *c = load(path);
	if (c == NULL)
		return 1;
	log_procname("trap");
	if (log_level_get() < LOG_LVL_DEBUG)
		log_level_set(c->log_level);
	struct trap_setup s;
	char err[512];
	memset(&s, 0, sizeof(s));
	s.parent_fd = -1;
	s.store_fd = -1;
	if (trap_listeners_open(c, &s.ls, &s.nls, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	trap_prepare(c, (uid_t)-1, (gid_t)-1);
	return trap_worker_main(c, &s);
}

static int cmd_firewall(const char *path, enum trap_fw_mode mode, int argc)
{
	if (optind != argc) {
		fprintf(stderr, "usage: sinktrap firewall [-c FILE] [--apply | --remove]\n");
		return 2;
	}
	struct config *c;
	if (mode == TRAP_FW_REMOVE) {
		/*
		 * Removing needs no configuration (what was applied is read back from
		 * the kernel): a service stopping with a configuration that has become
		 * invalid (a list file gone) must still take its ruleset away.
		 */
		struct cfg_errors errs;
		c = config_load(path, &errs);
		if (c == NULL) {
			fprintf(stderr,
			        "sinktrap firewall: the configuration has errors (%s); "
			        "removing the ruleset and routes anyway\n",
			        errs.n ? errs.msg[0] : "unreadable");
			cfg_errors_free(&errs);
		}
	} else if ((c = load(path)) == NULL) {
		return 1;
	}
	int r = trap_firewall(c, mode, stdout);
	if (c)
		config_free(c);
	return r;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	int debug = 0, ch;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	/* Long flags of `firewall`, taken out before getopt sees them. */
	enum trap_fw_mode fw = TRAP_FW_PRINT;
	for (int i = 2; i < argc && !strcmp(cmd, "firewall"); i++) {
		if (strcmp(argv[i], "--apply") && strcmp(argv[i], "--remove"))
			continue;
		fw = argv[i][2] == 'a' ? TRAP_FW_APPLY : TRAP_FW_REMOVE;
		memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof(*argv));
		argc--;
		i--;
	}
	if (!strcmp(cmd, "status"))
		return status_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "passwd"))
		return web_passwd_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "report"))
		return web_report_main(argc - 1, argv + 1);
	/* The capture commands parse their own (long) options. */
	if (!strcmp(cmd, "ingest"))
		return capture_ingest_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "sessions"))
		return capture_sessions_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "pcap"))
		return capture_pcap_main(argc - 1, argv + 1);
	optind = 2;
	while ((ch = getopt(argc, argv, "c:dh")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (debug)
		log_level_set(LOG_LVL_DEBUG);
	/* A file named without -c is not taken for the configuration in silence. */
	if (optind < argc && strcmp(cmd, "check") != 0 && strcmp(cmd, "firewall") != 0) {
		fprintf(
		    stderr,
		    "sinktrap %s: unexpected argument '%s' (the configuration is -c FILE)\n",
		    cmd, argv[optind]);
		return 2;
	}

	if (!strcmp(cmd, "run"))
		return parent_run(conf);
	if (!strcmp(cmd, "dns") || !strcmp(cmd, "trap"))
		raise_nofile();
	if (!strcmp(cmd, "dns"))
		return cmd_dns(conf);
	if (!strcmp(cmd, "trap"))
		return cmd_trap(conf);
	if (!strcmp(cmd, "capture"))
		return capture_run_alone(conf);
	if (!strcmp(cmd, "web"))
		return web_run_alone(conf);
	if (!strcmp(cmd, "firewall"))
		return cmd_firewall(conf, fw, argc);
	if (!strcmp(cmd, "check-config") || !strcmp(cmd, "configtest")) {
		struct config *c = load(conf);
		if (c == NULL)
			return 1;
		printf("configuration OK\n");
		config_free(c);
		return 0;
	}
	if (!strcmp(cmd, "check")) {
		if (optind != argc - 1) {
			fprintf(stderr, "usage: sinktrap check [-c FILE] NAME\n");
			return 2;
		}
		struct config *c = load(conf);
		if (c == NULL)
			return 2;
		int r = dns_check_name(c, argv[optind], stdout);
		config_free(c);
		return r;
	}
	if (!strcmp(cmd, "default-config")) {
		fputs(sinktrap_default_conf, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("sinktrap %s\n", SINKTRAP_VERSION);
		return 0;
	}
	fprintf(stderr, "sinktrap: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
