/*
 * cli.h - what the `ducat` command files share: the invocation context,
 * opening and saving the wallet under its lock, the passphrase, messages
 * and exit codes, amounts and times in the deployment's own terms.
 *
 * One process, one command: the context is created by main.c, filled by
 * cli_open, and released by cli_close. Secrets (passphrase, the wallet's
 * device key) live in sodium_malloc'd memory and are wiped on close.
 */
#ifndef DUCAT_CLI_H
#define DUCAT_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ducat/amount.h"
#include "ducat/client.h"
#include "ducat/err.h"
#include "ducat/service.h"
#include "ducat/wallet.h"

/* Exit codes (docs/CLI.md). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_REFUSED 1 /* a rule said no: the server, a verification, the wallet */
#define CLI_EXIT_USAGE 2   /* bad command line */
#define CLI_EXIT_WALLET 3  /* the wallet file: missing, locked, wrong passphrase, damaged */
#define CLI_EXIT_RETRY                                                                             \
    4 /* unreachable or interrupted: nothing lost, run the same command again                      \
       */

/* Needs of a command (flags of the command table). */
#define CLI_WALLET 0x1u /* opens the wallet (passphrase, lock) */
#define CLI_NET 0x2u    /* talks to the server (client + service) */
#define CLI_CONFIG 0x4u /* needs the synced currency (amounts) */

struct cli {
    /* global options */
    const char *wallet_path; /* --wallet, $DUCAT_WALLET, ~/.ducat/wallet */
    int pass_fd;             /* --passphrase-fd, -1 if none */
    int json;                /* --json */
    const char *server;      /* --server URL (init, or to override) */
    int qr;                  /* --qr: armor output also as QR codes on stderr */
    const char *qr_png;      /* --qr-png PREFIX: and as PNG files */
    /* state */
    char path_buf[1024];
    char *pass; /* sodium_malloc'd, NUL-terminated; NULL until read */
    size_t pass_len;
    int lock_fd;
    struct dc_wallet *w;
    struct dc_client *c;
    struct dc_service svc;
    struct dc_service_config cfg;
    int has_cfg;
};

/* ---- Messages and exit codes ---------------------------------------------- */

/* Prints `ducat: <message>` on stderr (one line) and returns the exit code
 * for e (CLI_EXIT_*). */
__attribute__((format(printf, 3, 4))) int cli_fail(const struct cli *x, enum dc_err e,
                                                   const char *fmt, ...);
/* The error of the last cli_fail (not reset by it): what a card host
 * tells the terminal when its wallet refuses (cmd_nfc.c). */
extern enum dc_err cli_last_err;
/* The same with an explicit exit code. */
__attribute__((format(printf, 2, 3))) int cli_fail_code(int code, const char *fmt, ...);
int cli_exit_for(enum dc_err e);
/* Prints `ducat: note: ...` on stderr (progress and warnings). */
__attribute__((format(printf, 1, 2))) void cli_note(const char *fmt, ...);
/* --json: failures print one JSON object on stderr instead of a text line. */
void cli_set_json_errors(int on);

/* ---- Wallet ---------------------------------------------------------------- */

/* Resolves the wallet path (options, env, default). */
void cli_resolve_path(struct cli *x);
/* Reads the passphrase (fd, env, or prompt on /dev/tty; `confirm` asks
 * twice). 0 or an exit code after printing why. */
int cli_read_pass(struct cli *x, int confirm);
/* Takes the wallet's lock file, waiting up to $DUCAT_LOCK_WAIT_MS (default
 * 10 s) for another ducat process: 0 or an exit code. */
int cli_lock(struct cli *x);
/* Opens the wallet for a command with `needs` (CLI_* flags): lock,
 * passphrase, load, client, service, stored config. 0 or an exit code. */
int cli_open(struct cli *x, unsigned needs);
/* Saves (dc_wallet_commit); the service's save callback. */
enum dc_err cli_save_cb(void *ctx, struct dc_wallet *w);
int cli_save(struct cli *x);
void cli_close(struct cli *x);

/* ---- Amounts and times -------------------------------------------------------- */

/* Parses an amount in the synced currency ("12.50"): 0 or an exit code
 * after printing `ducat: invalid amount '<text>': <why>`. */
int cli_amount(struct cli *x, const char *text, int64_t *out);
/* Formats minor units as "12.50 CNY" into a static-free caller buffer. */
const char *cli_fmt(const struct cli *x, char buf[static 48], int64_t minor);
/* "2026-12-18 00:00 UTC" (ms since the epoch, UTC). */
const char *cli_time(char buf[static 40], uint64_t ms);
/* The same in the deployment's local time: "2026-12-18 00:00 (UTC+08:00)". */
const char *cli_local_time(const struct cli *x, char buf[static 40], uint64_t ms);
uint64_t cli_now(void);

/* ---- Input / output ------------------------------------------------------------ */

/* After a refresh that replaced less than it deposited: one line saying
 * what bounded it (the available balance, the room under the offline
 * limit). Nothing otherwise. */
void cli_print_refresh_bound(const struct cli *x, const struct dc_service_refresh *r);
/* After a refresh: if the server refused coins for good, says so on stderr
 * (one line) and returns the exit code; else 0. */
/* A money-moving command refused because another operation is pending in
 * the wallet (DC_ERR_WALLET_OP_PENDING): says what is pending and the
 * command that finishes it; returns the exit code. `what` names the
 * command that was not started. */
int cli_op_pending_fail(struct cli *x, const char *what);
/* A server call failed: transient (the request is saved; run the same
 * command again), another operation pending, or a refusal with its reason. */
int cli_net_fail(struct cli *x, enum dc_err e, const char *what);
int cli_refresh_refused(const struct cli *x, const struct dc_service_refresh *r);

/* Reads a whole file ("-" = stdin), at most max bytes, NUL-terminated.
 * 0 or an exit code after printing why. *out malloc'd. */
int cli_read_file(const char *path, size_t max, char **out, size_t *len);
/* Writes text + "\n" to stdout (armor output). */
void cli_print_line(const char *s);
/* Prints j (--json output) as one line on stdout and releases it. */
void cli_emit(json_t *j);
/* Hex of n bytes into out (2n+1). */
void cli_hex(char *out, const uint8_t *in, size_t n);

/* ---- Test hooks ---------------------------------------------------------------- */

/* If $DUCAT_TEST_PAUSE_AT equals point: prints `PAUSED <point>` on stderr
 * and waits forever (the test kills the process there). */
void cli_pause_point(const char *point);

/* ---- Commands (one file per family) ------------------------------------------- */

int cmd_init(struct cli *x, int argc, char **argv);
int cmd_info(struct cli *x, int argc, char **argv);
int cmd_register(struct cli *x, int argc, char **argv);
int cmd_sync(struct cli *x, int argc, char **argv);
int cmd_balance(struct cli *x, int argc, char **argv);
int cmd_history(struct cli *x, int argc, char **argv);
int cmd_pay(struct cli *x, int argc, char **argv);
int cmd_withdraw(struct cli *x, int argc, char **argv);
int cmd_deposit(struct cli *x, int argc, char **argv);
int cmd_refresh(struct cli *x, int argc, char **argv);
int cmd_coins(struct cli *x, int argc, char **argv);
int cmd_request(struct cli *x, int argc, char **argv);
int cmd_pay_offline(struct cli *x, int argc, char **argv);
int cmd_accept(struct cli *x, int argc, char **argv);
int cmd_confirm(struct cli *x, int argc, char **argv);
int cmd_send(struct cli *x, int argc, char **argv);
int cmd_receive(struct cli *x, int argc, char **argv);
int cmd_tap(struct cli *x, int argc, char **argv);
int cmd_card(struct cli *x, int argc, char **argv);
int cmd_pending(struct cli *x, int argc, char **argv);
int cmd_reclaim(struct cli *x, int argc, char **argv);
/* `ducat sync`'s reclaim of what may be reclaimed now (cmd_reclaim.c): 0 or
 * an exit code. */
int cli_reclaim_at_sync(struct cli *x, uint64_t now);
int cmd_evidence(struct cli *x, int argc, char **argv);

/* Option parsing helper: if argv[*i] is `name` (and a value follows when
 * want_value), advances *i and returns 1 (*value set); returns -1 with a
 * message if the value is missing. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);

#endif
