/*
 * main.c - ducatd: the command table and the global options. Signals are
 * `serve`'s business (cmd_serve.c); the helpers every command shares
 * (messages, exit codes) are in cmd.c, so no command depends on this file.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"

struct command {
    const char *name;
    int (*fn)(const struct dc_cmd_env *, int, char **);
    const char *args;
    const char *summary;
};

static const struct command commands[] = {
    {"init", dc_cmd_init, "DIR [--auto-verify] [--store URL] [--listen ADDR]",
     "create an instance: config, keys, database, calendar, admin token"},
    {"serve", dc_cmd_serve, "[--listen ADDR] [--port-file FILE] [--log-level LEVEL]",
     "run the HTTP server until SIGTERM/SIGINT"},
    {"keys", dc_cmd_keys,
     "list | rotate | revoke ID [--rotation] | request | sign --master FILE | import",
     "issuer signing keys (and offline master-key ceremonies)"},
    {"accounts", dc_cmd_accounts, "list [--status S] | show ID | verify|freeze|unfreeze ID [--reason TEXT] [--actor NAME]",
     "user accounts"},
    {"fund", dc_cmd_fund, "ACCOUNT AMOUNT", "cash-in: credit an account from settlement"},
    {"payout", dc_cmd_payout, "ACCOUNT AMOUNT", "cash-out: debit an account to settlement"},
    {"cases", dc_cmd_cases, "list [--status open|resolved] | show ID | resolve ID honour|reject "
                            "--reason TEXT [--actor NAME]",
     "double-spend cases and their evidence"},
    {"holds", dc_cmd_holds, "release [--now TIME]", "release held credits that are due"},
    {"audit", dc_cmd_audit, "", "prove conservation from the journal (exit 4 on discrepancy)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ducatd [-c CONFIG] COMMAND [ARGS]\n\n"
               "CONFIG defaults to $DUCATD_CONFIG, else ./ducat.conf.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(f, "  %-9s %s\n            %s\n", commands[i].name, commands[i].summary,
                commands[i].args);
    }
    fprintf(f, "\nexit codes: 0 ok, 1 refused, 2 usage, 3 config/storage, 4 audit discrepancy\n"
               "docs: docs/OPERATIONS.md\n");
}

int main(int argc, char **argv)
{
    struct dc_cmd_env env = {getenv("DUCATD_CONFIG")};
    if (!env.config) env.config = "ducat.conf";
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
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("ducatd 0.1.0\n");
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
    if (strcmp(argv[i], "help") == 0) {
        usage(stdout);
        return DC_EXIT_OK;
    }
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
        if (strcmp(argv[i], commands[k].name) == 0) {
            int rc = commands[k].fn(&env, argc - i - 1, argv + i + 1);
            if (fflush(stdout) != 0 || ferror(stdout)) {
                dc_cmd_fail("cannot write to standard output");
                return DC_EXIT_CONFIG;
            }
            return rc;
        }
    }
    dc_cmd_fail("unknown command '%s'", argv[i]);
    usage(stderr);
    return DC_EXIT_USAGE;
}
