/*
 * main.c - ducatd: the command table and the global options. Signals are
 * `serve`'s business (cmd_serve.c); the helpers every command shares
 * (messages, exit codes) are in cmd.c, so no command depends on this file.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ops/cmd.h"

#include "server/config.h"

#ifndef DC_VERSION
#define DC_VERSION "unknown"
#endif
/* The packaged daemon reads /etc/ducat/ducat.conf (the Makefile's SYSCONFDIR). */
#ifndef DC_DEFAULT_CONFIG
#define DC_DEFAULT_CONFIG "/etc/ducat/ducat.conf"
#endif

struct command {
    const char *name;
    int (*fn)(const struct dc_cmd_env *, int, char **);
    const char *args;
    const char *summary;
    const char *help; /* what `ducatd help NAME` and `ducatd NAME --help` add */
};

/* This table is the one source of `ducatd --help`, `ducatd help COMMAND` and,
 * through help2man (scripts/man.sh), of the ducatd(8) man page. */
static const struct command commands[] = {
    {"init", dc_cmd_init, "DIR [--config FILE] [--auto-verify] [--store URL] [--listen ADDR]",
     "create an instance: config, keys, database, calendar, admin token",
     "Creates DIR (mode 0700) with master.key, keys/signing-1.key, ducat.db (SQLite,\n"
     "migrated), calendar.txt and admin.token (mode 0600, never printed). The config\n"
     "goes to DIR/ducat.conf, or to FILE with --config (then with absolute paths into\n"
     "DIR; the Debian package uses /etc/ducat/ducat.conf and /var/lib/ducat).\n"
     "Refuses to overwrite an existing config."},
    {"serve", dc_cmd_serve,
     "[--listen ADDR] [--port-file FILE] [--log-level LEVEL] [--log-format text|json]",
     "run the HTTP server until SIGTERM/SIGINT",
     "Logs go to stderr (the journal under systemd), one line per event;\n"
     "--log-format json writes JSON lines. LEVEL is error, warn, info or debug.\n"
     "--port-file writes the bound port (useful with --listen 127.0.0.1:0)."},
    {"keys", dc_cmd_keys,
     "list | rotate | revoke ID [--rotation] | request | sign --master FILE | import",
     "issuer signing keys (and offline master-key ceremonies)",
     "list shows every signing key with its validity as dates; * marks the current one.\n"
     "rotate needs the master key on the server; otherwise: request (on the server),\n"
     "sign --master FILE (offline machine), import (on the server). revoke --rotation\n"
     "retires a key (signs no more, its coins stay depositable); plain revoke: compromised."},
    {"accounts", dc_cmd_accounts,
     "list [--status S] | show ID | verify|freeze|unfreeze ID [--reason TEXT] [--actor LABEL]",
     "user accounts",
     "S is unverified, verified or frozen. Balances print in major units with the\n"
     "currency; show prints the account and its events as JSON."},
    {"fund", dc_cmd_fund, "ACCOUNT AMOUNT", "cash-in: credit an account from settlement",
     "AMOUNT in major units (e.g. 100.00)."},
    {"payout", dc_cmd_payout, "ACCOUNT AMOUNT", "cash-out: debit an account to settlement",
     "AMOUNT in major units (e.g. 100.00); never more than the available balance."},
    {"cases", dc_cmd_cases,
     "list [--status open|resolved] | show ID | resolve ID honour|reject --reason TEXT "
     "[--actor LABEL]",
     "double-spend cases and their evidence",
     "resolve decides a shortfall: honour (the operator carries it) or reject (later\n"
     "branches' credits are reversed up to the shortfall)."},
    {"holds", dc_cmd_holds, "release [--now TIME] | list [--status S | --provisional]",
     "the frozen box: release held credits that are due, list them",
     "The server runs release every release_interval_s; TIME is YYYY-MM-DD (local\n"
     "midnight) or ms since the epoch, in the future only with [dev] clock_file.\n"
     "A provisional release date (the calendar does not cover the hold's window) is\n"
     "never released. list prints holds (amount still held, release date, whether it\n"
     "is provisional); S is held, frozen, released or reversed."},
    {"calendar", dc_cmd_calendar, "show | load FILE [--force] [--actor NAME]",
     "the working-day calendar: its coverage, and loading a new one",
     "show prints the calendar in force (from the store once one was loaded, else the\n"
     "[hold] calendar file), the dates it covers, the days left and how many holds wait\n"
     "with a provisional release date. load checks FILE (a malformed line is named),\n"
     "refuses one that covers less than the calendar in force unless --force, or that\n"
     "changes the utc-offset, then stores it and re-dates every credit not yet\n"
     "released (firm dates too, never before now; frozen credits stay frozen), each\n"
     "change an event of its account by NAME (default operator); running ducatd\n"
     "instances pick it up on SIGHUP or within trust_reload_s."},
    {"audit", dc_cmd_audit, "", "prove conservation from the journal (exit 4 on discrepancy)", ""},
    {"operators", dc_cmd_operators, "list | add NAME --role ROLE [--expires DATE] | remove NAME",
     "named operators of the admin API and console",
     "add prints the new operator's credential once on stdout (only its hash is stored);\n"
     "every action they take is journaled under NAME. ROLE: viewer (reads only),\n"
     "operator (also verifies, freezes, funds, pays out, resolves, releases) or admin\n"
     "(also lists the operators). DATE: YYYY-MM-DD (local midnight) or Nd (N days);\n"
     "an expired credential is refused. The bootstrap token of init signs in as\n"
     "\"admin\" with the admin role. remove refuses the credential at once, even to a\n"
     "running server. NAME: 1 to 32 of a-z 0-9 . _ -, starting with a letter.\n"
     "Actions run from the command line (accounts, cases resolve) are journaled as\n"
     "unix:USER, the Unix user running ducatd; --actor LABEL adds a label to it."},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ducatd [-c CONFIG] COMMAND [ARGS]\n"
            "       ducatd help [COMMAND|config]\n\n"
            "ducatd is the Ducat server (HTTP/JSON API, ledger, frozen box, cases) and the\n"
            "operator's commands on its database.\n\n"
            "options:\n"
            "  -c CONFIG      configuration file (default $DUCATD_CONFIG, else %s)\n"
            "  -h, --help     this text; COMMAND --help for one command\n"
            "  -V, --version  the version\n\n"
            "commands:\n",
            DC_DEFAULT_CONFIG);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(f, "  %-9s %s\n            %s\n", commands[i].name, commands[i].summary,
                commands[i].args);
    }
    fprintf(f, "  %-9s %s\n", "help", "help COMMAND: its arguments; help config: every config key");
    fprintf(f, "\nexit codes: 0 ok, 1 refused, 2 usage, 3 config/storage, 4 audit discrepancy\n"
               "See ducatd(8), ducat.conf(5) and ducat(1).\n");
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    }
    return NULL;
}

static int help(const char *name)
{
    if (!name) {
        usage(stdout);
        return DC_EXIT_OK;
    }
    if (strcmp(name, "config") == 0) {
        dc_config_help(stdout);
        return DC_EXIT_OK;
    }
    const struct command *c = find(name);
    if (!c) {
        dc_cmd_fail("no command '%s' (see: ducatd help)", name);
        return DC_EXIT_USAGE;
    }
    printf("usage: ducatd [-c CONFIG] %s %s\n\n%s.\n", c->name, c->args, c->summary);
    if (c->help[0]) printf("\n%s\n", c->help);
    return DC_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct dc_cmd_env env = {getenv("DUCATD_CONFIG")};
    if (!env.config || !env.config[0]) env.config = DC_DEFAULT_CONFIG;
    if (sodium_init() < 0) {
        dc_cmd_fail("libsodium failed to initialise");
        return DC_EXIT_CONFIG;
    }
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            env.config = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return DC_EXIT_OK;
        } else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("ducatd %s\n", DC_VERSION);
            return DC_EXIT_OK;
        } else {
            dc_cmd_fail("unknown option '%s'", argv[i]);
            usage(stderr);
            return DC_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return DC_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) return help(i + 1 < argc ? argv[i + 1] : NULL);
    const struct command *c = find(argv[i]);
    if (!c) {
        dc_cmd_fail("unknown command '%s'", argv[i]);
        usage(stderr);
        return DC_EXIT_USAGE;
    }
    /* --help anywhere after the command asks for its help, never runs it */
    for (int k = i + 1; k < argc; k++) {
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) return help(c->name);
    }
    int rc = c->fn(&env, argc - i - 1, argv + i + 1);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        dc_cmd_fail("cannot write to standard output");
        return DC_EXIT_CONFIG;
    }
    return rc;
}
