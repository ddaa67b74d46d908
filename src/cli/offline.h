/*
 * offline.h - the offline payment steps of cmd_offline.c that other
 * transports of the CLI (cmd_nfc.c: tap to pay over PC/SC) reuse, so that
 * every transport keeps the same slots, limits and save-before-send order.
 * Each returns 0 or an exit code after printing why (cli_fail).
 */
#ifndef DUCAT_CLI_OFFLINE_H
#define DUCAT_CLI_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "ducat/proto.h"

/* Transports, as recorded in a payee session slot ("rx:<hash>"). */
#define TRANSPORT_TCP 1
#define TRANSPORT_ARMOR 2
#define TRANSPORT_NFC 3
#define RESUME_WINDOW_MS (60u * 60u * 1000u) /* an open request resumed within an hour */

/* Payee: a new session for amount, its request signed, stored and saved. */
int payee_new(struct cli *x, int64_t amount, int transport, struct dc_session *s);
/* Payee, on NEED_VERIFY: verifies, keeps the coins and the session in one
 * save, then dc_session_persisted. */
int payee_verify_keep(struct cli *x, struct dc_session *s, int transport, uint64_t created);
/* Payer: checks a request under the wallet's trust (and --max). */
int payer_check_request(struct cli *x, const uint8_t *req, size_t len, int64_t max,
                        struct dc_request *r);
/* Payer: builds (or finds again) the payment, records and saves it; *pay
 * malloc'd. After this the payment may leave. */
int payer_pay(struct cli *x, const uint8_t *req, size_t rlen, const struct dc_request *r,
              uint8_t **pay, size_t *plen);
/* Payer: checks a receipt against the payment it names, closes it, saves. */
int payer_confirm(struct cli *x, const uint8_t *rcpt, size_t len);

/* --timeout SECONDS: 1..86400, else an exit code after saying why. */
int parse_timeout(const char *s, long *out);
/* Milliseconds of CLOCK_MONOTONIC (deadlines). */
uint64_t mono_ms(void);
/* Connects to HOST:PORT, retrying until the deadline (mono_ms). */
int connect_to(const char *addr, uint64_t deadline, int *out);

#endif
