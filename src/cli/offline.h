/*
 * offline.h - what the CLI's transports share (cmd_offline.c: armor files
 * and TCP; cmd_nfc.c: tap to pay over PC/SC): the host of the offline layer
 * (include/ducat/offline.h), which owns every step of a payment, and the
 * words for its outcomes; the transport commands' one option table
 * (xopts.c); TCP helpers. Each int function returns 0 or an exit code after
 * printing why (cli_fail).
 */
#ifndef DUCAT_CLI_OFFLINE_H
#define DUCAT_CLI_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "ducat/offline.h"
#include "ducat/proto.h"

/* Fills o for this wallet: saves with cli_save, crash points as pause
 * points "<prefix>:<point>" (DUCAT_TEST_PAUSE_AT). prefix is kept. */
void offline_host(struct cli *x, struct dc_offline *o, unsigned transport, const char *prefix);

/* Payee: a new request for amount, signed, recorded and saved. */
int payee_new(struct cli *x, struct dc_offline *o, int64_t amount, struct dc_session *s,
              uint64_t *created);
/* Payee, on NEED_VERIFY / NEED_PERSIST: dc_offline_payee_step, and what
 * was verified reported. */
int payee_serve(struct cli *x, struct dc_offline *o, struct dc_session *s, uint64_t created);
/* Payer: checks a request under the wallet's trust (and max) and reports it. */
int payer_check_request(struct cli *x, struct dc_offline *o, const uint8_t *req, size_t len,
                        int64_t max);
/* Payer: the payment for a checked request, saved before this returns;
 * *pay malloc'd. */
int payer_pay(struct cli *x, struct dc_offline *o, const uint8_t *req, size_t rlen, uint8_t **pay,
              size_t *plen);
/* Payer: checks a receipt against the payment it names, closes it, saves. */
int payer_confirm(struct cli *x, struct dc_offline *o, const uint8_t *rcpt, size_t len);
/* Payer: the payee's signed refusal, checked against the payment it names,
 * kept and saved (dc_offline_payer_refusal); says how to reclaim. */
int payer_refused(struct cli *x, struct dc_offline *o, const uint8_t *b, size_t len);

/* ---- The transport commands' options (xopts.c) ------------------------------- */

#define XO_LISTEN 0x001u    /* --listen HOST:PORT */
#define XO_TO 0x002u        /* --to HOST:PORT */
#define XO_VPCD 0x004u      /* --vpcd HOST:PORT */
#define XO_AMOUNT 0x008u    /* --amount AMOUNT */
#define XO_MAX 0x010u       /* --max AMOUNT */
#define XO_TIMEOUT 0x020u   /* --timeout SECONDS (1..86400) */
#define XO_PORT_FILE 0x040u /* --port-file PATH */
#define XO_READER 0x080u    /* --reader NAME */
#define XO_SEGMENT 0x100u   /* --segment BYTES (16..255) */
#define XO_NEW 0x200u       /* --new */
#define XO_EXTENDED 0x400u  /* --extended */
#define XO_YES 0x800u       /* --yes */

struct cli_xopts {
    const char *addr; /* --listen, --to or --vpcd */
    const char *amount_s, *max_s, *timeout_s, *port_file, *reader, *segment_s;
    int fresh, extended, yes;
    long timeout;     /* seconds: --timeout or the command's default */
    unsigned segment; /* --segment, 0 if absent */
    unsigned seen;    /* XO_* given */
};

/* Parses argv for command cmd: only the options in `takes`, each of
 * `needs` required. 0 or an exit code (usage) after saying why. */
int cli_xopts_parse(struct cli_xopts *o, const char *cmd, unsigned takes, unsigned needs,
                    long default_timeout, int argc, char **argv);
/* --amount and --max in the synced currency (after cli_open); either
 * pointer may be NULL; 0 when absent. */
int cli_xopts_amounts(struct cli *x, const struct cli_xopts *o, int64_t *amount, int64_t *max);

/* Milliseconds of CLOCK_MONOTONIC (deadlines). */
uint64_t mono_ms(void);
/* Connects to HOST:PORT, retrying until the deadline (mono_ms). */
int connect_to(const char *addr, uint64_t deadline, int *out);

#endif
