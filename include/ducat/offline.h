/*
 * ducat/offline.h - the payer's side of an offline payment over a wallet:
 * what every transport (TCP, armor files, QR codes, NFC) and every host (the
 * CLI, a phone app, a terminal, the benchmark) would otherwise write again.
 * The counterpart of service.h for offline payments; proto.h moves the
 * messages, wallet.h keeps the coins.
 *
 * FIRST SLICE. This header holds payment assembly and receipt matching.
 * The payee's and payer's bookkeeping slots, save-before-send ordering,
 * limits, refusals and resume still live in the CLI (src/cli/cmd_offline.c)
 * and are to move here next (issue 13).
 *
 * Crash rule (the caller's duty): after dc_offline_pay the wallet holds the
 * signed coins as PENDING_OUT; the host saves the wallet BEFORE the payment
 * leaves. Paying the same request again returns the same bytes.
 *
 * THREAD SAFETY: as the wallet (one thread at a time per wallet).
 */
#ifndef DUCAT_OFFLINE_H
#define DUCAT_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"
#include "ducat/proto.h"
#include "ducat/wallet.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Writes the PAYMENT message that answers `request` with the coins of a
 * prepared outgoing payment (dc_wallet_prepare_payment or
 * dc_wallet_find_payment). DC_ERR_BUFFER_TOO_SMALL with *out_len = the size
 * needed (out may then be NULL); DC_ERR_INVALID_ARGUMENT for an empty
 * payment; DC_ERR_MSG_TOO_LARGE over DC_PAYMENT_MAX_BYTES.
 */
DC_MUST_CHECK enum dc_err dc_offline_payment_encode(uint8_t *out, size_t cap, size_t *out_len,
                                                    const struct dc_wallet_outgoing *o,
                                                    const uint8_t *request, size_t request_len);

/*
 * The payer's answer to a request it has checked (dc_request_verify): the
 * payment prepared for it before (same bytes again), or a new one (coin
 * selection with `margin_ms` of validity left, splits, transfers, the
 * coins PENDING_OUT in the wallet). *again (OUT, may be NULL) says which;
 * *has_split (OUT, may be NULL) whether a coin was split. The message is
 * written as by dc_offline_payment_encode. The wallet has changed on
 * success: save it before the payment leaves. Errors of dc_wallet_select
 * (DC_ERR_INSUFFICIENT_FUNDS ...) leave the wallet unchanged.
 */
DC_MUST_CHECK enum dc_err dc_offline_pay(struct dc_wallet *w, uint8_t *out, size_t cap,
                                         size_t *out_len, int *again, int *has_split,
                                         const uint8_t *request, size_t request_len, uint64_t now,
                                         uint64_t margin_ms);

/*
 * The payer, on the payee's receipt for `request` (the payer's own copy):
 * the receipt decodes, names this request (DC_ERR_RECEIPT_MISMATCH), is
 * signed by the request's payee (DC_ERR_BAD_SIGNATURE) and names exactly
 * the payment this wallet made for it (DC_ERR_RECEIPT_MISMATCH; no payment
 * at all: DC_ERR_NOT_FOUND); then that payment's coins become SPENT
 * (idempotent). The wallet has changed on success: save it.
 */
DC_MUST_CHECK enum dc_err dc_offline_confirm(struct dc_wallet *w, const uint8_t *request,
                                             size_t request_len, const uint8_t *receipt,
                                             size_t receipt_len);

#ifdef __cplusplus
}
#endif
#endif
