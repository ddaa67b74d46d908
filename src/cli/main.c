/*
 * main.c - `ducat`, the wallet for a person at a terminal: the command
 * table, global options, `ducat help [COMMAND]`, and the final stdout check.
 * Commands live one family per file (cmd_account.c, cmd_coins.c,
 * cmd_offline.c); docs/CLI.md documents every one.
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#ifndef DC_VERSION
#define DC_VERSION "unknown"
#endif

struct command {
    const char *name;
    int (*fn)(struct cli *, int, char **);
    const char *args;
    const char *summary;
    const char *help; /* what `ducat help NAME` adds */
};

static const struct command commands[] = {
    {"init", cmd_init, "--server URL [--kdf interactive|moderate|min]",
     "create a new, empty wallet file (encrypted with your passphrase)",
     "Creates the wallet file (refuses to overwrite one) with a fresh device key.\n"
     "--kdf sets the Argon2id cost of the passphrase (default interactive;\n"
     "min is for tests only). Then: ducat register, ducat sync."},
    {"info", cmd_info, "", "this wallet: file, server, account, device, certificate",
     "Works offline. Shows pending server requests (resent by the next online command)."},
    {"register", cmd_register, "--name NAME --national-id ID --phone PHONE",
     "open a real-name account for this device, then sync",
     "The operator verifies the account before it may withdraw coins."},
    {"sync", cmd_sync, "",
     "fetch keys, revocation list and a fresh device certificate; refresh coins",
     "Also finishes pending requests and refreshes coins near expiry or their hop\n"
     "limit (deposits them, withdraws fresh ones within the offline limit)."},
    {"balance", cmd_balance, "[--offline]",
     "available, held (with release dates) and offline coins",
     "--offline shows only the coins in this wallet (no network)."},
    {"history", cmd_history, "[--limit N] [--before ID] [--offline]",
     "account entries (server) and offline payments (wallet)", ""},
    {"pay", cmd_pay, "ACCOUNT AMOUNT [--memo TEXT] | REQUEST_FILE [--max AMOUNT]",
     "pay online to an account, or answer an offline payment request",
     "With ACCOUNT AMOUNT: an online transfer (idempotent: a retry never pays twice).\n"
     "With one argument: reads an armored request (file or - for stdin), checks it,\n"
     "signs coins over to the payee and prints the armored payment on stdout.\n"
     "Paying the same request again prints the same payment."},
    {"withdraw", cmd_withdraw, "AMOUNT", "download AMOUNT of your balance as offline coins",
     "Your available balance drops by AMOUNT; the coins are in this wallet."},
    {"deposit", cmd_deposit, "[--coin N]...",
     "deposit coins (all by default) into your account, held in the frozen box",
     "Credited at once as held; available after the hold (15 working days)."},
    {"refresh", cmd_refresh, "", "deposit coins near expiry or their hop limit and replace them",
     ""},
    {"coins", cmd_coins, "[--all]", "each coin: value, hops, expiry, status",
     "--all includes coins already spent (kept until pruned)."},
    {"request", cmd_request, "AMOUNT", "offline: print an armored payment request",
     "Give it to the payer by any channel (QR code, file, chat); then ducat accept."},
    {"accept", cmd_accept, "PAYMENT_FILE",
     "offline: verify a payment, keep its coins, print the armored receipt",
     "Delivering the same payment twice is accepted once (the receipt is printed again)."},
    {"confirm", cmd_confirm, "RECEIPT_FILE",
     "offline: check the payee's receipt, close the payment", ""},
    {"send", cmd_send, "--to HOST:PORT [--max AMOUNT] [--timeout SECONDS]",
     "offline over TCP: pay the request of a `ducat receive`",
     "Interrupted? Run the same command again: the same payment is re-sent."},
    {"receive", cmd_receive,
     "--listen HOST:PORT --amount AMOUNT [--port-file FILE] [--timeout SECONDS] [--new]",
     "offline over TCP: request AMOUNT and wait for the payer",
     "Interrupted? Run the same command again: the open request is resumed\n"
     "(--new starts a fresh one instead)."},
    {"tap", cmd_tap,
     "--amount AMOUNT [--reader NAME] [--extended | --segment BYTES] [--timeout SECONDS] [--new]",
     "offline by NFC: a payee terminal on a PC/SC reader, waits for the payer's card",
     "--reader picks the reader whose name starts with NAME (default: the first).\n"
     "A tap that drops is repeated; run the same command again to resume the open\n"
     "request (--new starts a fresh one). --extended sends extended-length APDUs."},
    {"card", cmd_card, "--vpcd HOST:PORT [--max AMOUNT | --yes] [--timeout SECONDS]",
     "offline by NFC: this wallet as the payer's card on a vsmartcard virtual reader",
     "Answers the terminal's PAY with a payment saved before it leaves, and checks\n"
     "the receipt of CONFIRM. Exits once the payment is confirmed. Asks on the\n"
     "terminal before a new payment unless --max (up to AMOUNT) or --yes is given."},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ducat [--wallet PATH] [--passphrase-fd N] [--json] [--qr] [--qr-png PREFIX]\n"
            "             COMMAND [ARGS]\n\n"
            "ducat is the Ducat wallet: an account on the operator's server, online\n"
            "payments, and offline coins paid device to device with no network.\n\n"
            "options (before or after COMMAND):\n"
            "  --wallet PATH        the wallet file\n"
            "  --passphrase-fd N    read the wallet passphrase from file descriptor N\n"
            "  --server URL         the server (overrides the wallet's, for this command)\n"
            "  --json               machine-readable output on stdout, errors as JSON on stderr\n"
            "  --qr, --qr-png P     armor also as QR codes on stderr / PNG files P*.png\n"
            "  -h, --help           this text; COMMAND --help for one command\n"
            "  -V, --version        the version\n\n"
            "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "  %-9s %s\n", "help", "ducat help COMMAND: its arguments and details");
    fprintf(f, "\nwallet: --wallet, else $DUCAT_WALLET, else ~/.ducat/wallet\n"
               "passphrase: --passphrase-fd N, else $DUCAT_PASSPHRASE, else asked on the terminal\n"
               "armor (request, pay, accept): --qr also shows it as QR codes on stderr, --qr-png\n"
               "PREFIX writes PREFIX.png or PREFIX-I-of-N.png; files of QR parts are read back\n"
               "exit codes: 0 ok, 1 refused, 2 usage, 3 wallet file, 4 unreachable or "
               "interrupted (run again)\n"
               "See ducat(1); ducat COMMAND --help for one command.\n");
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
        return CLI_EXIT_OK;
    }
    const struct command *c = find(name);
    if (!c) return cli_fail_code(CLI_EXIT_USAGE, "no command '%s' (see: ducat help)", name);
    printf("usage: ducat %s %s\n\n%s.\n", c->name, c->args, c->summary);
    if (c->help[0]) printf("\n%s\n", c->help);
    return CLI_EXIT_OK;
}

/* Global options may come before or after the command name. Returns the
 * new argc (options removed) or -1 after a message. */
static int take_globals(struct cli *x, int argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[i], "--") == 0) { /* the rest is positional */
            while (i < argc) argv[out++] = argv[i++];
            break;
        }
        if ((r = cli_opt(argc, argv, &i, "--wallet", &v)) != 0) {
            if (r < 0) return -1;
            x->wallet_path = v;
        } else if ((r = cli_opt(argc, argv, &i, "--passphrase-fd", &v)) != 0) {
            if (r < 0) return -1;
            char *end;
            long fd = strtol(v, &end, 10);
            if (*end || end == v || fd < 0 || fd > 1000000) {
                fprintf(stderr, "ducat: invalid file descriptor '%s'\n", v);
                return -1;
            }
            x->pass_fd = (int)fd;
        } else if ((r = cli_opt(argc, argv, &i, "--server", &v)) != 0) {
            if (r < 0) return -1;
            x->server = v;
        } else if ((r = cli_opt(argc, argv, &i, "--qr-png", &v)) != 0) {
            if (r < 0) return -1;
            x->qr_png = v;
        } else if (strcmp(argv[i], "--qr") == 0) {
            x->qr = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            x->json = 1;
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    struct cli x;
    memset(&x, 0, sizeof x);
    x.pass_fd = -1;
    x.lock_fd = -1;
    signal(SIGPIPE, SIG_IGN); /* a closed peer or pipe is an error, not a death */
    if (sodium_init() < 0) return cli_fail_code(CLI_EXIT_WALLET, "libsodium failed to initialise");
    argc = take_globals(&x, argc, argv);
    if (argc < 0) return CLI_EXIT_USAGE;
    cli_set_json_errors(x.json);
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        return help(argc > 2 ? argv[2] : NULL);
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("ducat %s\n", DC_VERSION);
        return CLI_EXIT_OK;
    }
    const struct command *c = find(name);
    if (!c) {
        cli_fail_code(CLI_EXIT_USAGE, "unknown command '%s'", name);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return help(name);
    }
    int rc = c->fn(&x, argc - 2, argv + 2);
    cli_close(&x);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        return cli_fail_code(CLI_EXIT_WALLET, "cannot write to standard output");
    }
    return rc;
}
