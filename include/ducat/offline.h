/*
 * ducat/offline.h - an offline payment over a wallet, both sides: what
 * every transport (TCP, armor files, QR codes, NFC) and every host (the
 * CLI, a phone app, a terminal, the benchmark) would otherwise write again.
 * The counterpart of service.h for offline payments; proto.h encodes and
 * frames the messages, apdu.h carries them in APDUs, wallet.h keeps the
 * coins.
 *
 * Two levels:
 *   - the host steps (struct dc_offline, "Hosting an exchange" below): the
 *     whole order of each side - check, sign, SAVE, then send; receive,
 *     verify, SAVE, then answer - with the bookkeeping slots, the limits
 *     and the resume of an open request. A transport only moves bytes
 *     between these calls and the session engine (or the card responder);
 *   - the pieces they are made of (payment assembly, receipt matching, the
 *     payee's verification, the slots), for hosts with other needs and for
 *     tests.
 * The CLI (src/cli/cmd_offline.c, cmd_nfc.c), bench/bench_offline.c and
 * tests/unit/test_wallet.c call it.
 *
 * Crash rule: every step that changes the wallet saves it (the host's save
 * callback) before it returns what may leave the device: the signed
 * payment (payer) and the receipt (payee). Paying the same request again
 * returns the same bytes; accepting the same payment again returns the
 * same receipt; a payee restarted for the same amount resumes its open
 * request. So a host killed at any point and run again completes the one
 * payment, never a second one.
 *
 * THREAD SAFETY: as the wallet (one thread at a time per wallet).
 */
#ifndef DUCAT_OFFLINE_H
#define DUCAT_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"
#include "ducat/proto.h"
#include "ducat/refusal.h"
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
 * (DC_ERR_INSUFFICIENT_FUNDS ...) leave the wallet unchanged, and so does
 * DC_ERR_PAYMENT_TOO_LARGE: the amount would take more than one payment
 * carries (DC_PAYMENT_COINS_MAX coins, DC_PAYMENT_MAX_BYTES bytes), found
 * before anything is signed.
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

/*
 * The payer, on the payee's signed REFUSAL of the payment it made for
 * `request` (the payer's own copy): the refusal decodes, names this
 * request (DC_ERR_REFUSAL_MISMATCH), is signed by the request's payee
 * (DC_ERR_BAD_SIGNATURE), carries its nonce and names exactly the payment
 * this wallet made (DC_ERR_REFUSAL_MISMATCH; no payment at all:
 * DC_ERR_NOT_FOUND). Then it is kept with the payer's copy of the request
 * (the "py:" slot) until the coins are reclaimed online
 * (dc_service_reclaim); the coins stay PENDING_OUT. Idempotent. The
 * wallet has changed on success: save it.
 */
DC_MUST_CHECK enum dc_err dc_offline_refused(struct dc_wallet *w, const uint8_t *request,
                                             size_t request_len, const uint8_t *refusal,
                                             size_t refusal_len, uint64_t now);

/* ---- Payee ------------------------------------------------------------- */

/* Clock skew a payee tolerates in certificate and key validity (ms). */
#define DC_OFFLINE_CLOCK_SKEW_MS (5u * 60u * 1000u)

/* The payee's trust context at `now` (dc_wallet_trust) with the offline
 * policy: DC_OFFLINE_CLOCK_SKEW_MS, no expiry grace (a payee takes no
 * expired coin: the server might not either). Errors of dc_wallet_trust
 * (e.g. DC_ERR_WALLET_NOT_SYNCED). */
DC_MUST_CHECK enum dc_err dc_offline_trust(const struct dc_wallet *w, struct dc_trust *t,
                                           uint64_t now);

/*
 * Receiving `amount` keeps the wallet within its certificate's offline
 * limit: every HELD coin plus amount <= the limit. DC_OK, or
 * DC_ERR_OFFLINE_LIMIT with *after (may be NULL) = the total it would
 * reach (INT64_MAX on overflow) and *limit (may be NULL) = the limit;
 * DC_ERR_WALLET_NOT_REGISTERED without a device certificate.
 */
DC_MUST_CHECK enum dc_err dc_offline_within_limit(const struct dc_wallet *w, int64_t amount,
                                                  uint64_t now, int64_t *after, int64_t *limit);

/*
 * The payee, on DC_SESSION_NEED_VERIFY: verifies the payment under t
 * (dc_offline_trust) and the wallet's seen-set, signs the receipt (time
 * now), checks the offline limit for what was paid, and keeps the coins in
 * the wallet. res (OUT) names the coin and record at fault on a refusal,
 * and what was verified on success. On success the session wants
 * NEED_PERSIST: the host saves the wallet WITH the session, then calls
 * dc_session_persisted. On DC_ERR_OFFLINE_LIMIT the payment verified but
 * nothing was kept: the host must not save this session (the payer's coins
 * are signed to this device; the same payment can be delivered again once
 * coins were deposited). Other refusals fail the session.
 */
DC_MUST_CHECK enum dc_err dc_offline_accept(struct dc_wallet *w, struct dc_session *s,
                                            struct dc_payment_result *res, const struct dc_trust *t,
                                            uint64_t now);

/* 1 if the payee's refusal for error e is final and is signed
 * (dc_offline_refuse): a coin or payment it will never take. Not for
 * DC_ERR_OFFLINE_LIMIT (the same payment may be taken once coins were
 * deposited) nor for the payee's own failures (memory, wallet, session). */
int dc_offline_refusable(enum dc_err e);

/*
 * The payee's signed REFUSAL of the payment held by session s (its request
 * and payment as received), for reason `why` (dc_offline_refusable), time
 * now: what the payer takes online to reclaim its coins at once, and what
 * makes this payee unable ever to deposit them. DC_ERR_SESSION_STATE if s
 * holds no payment; DC_ERR_INVALID_ARGUMENT if why is not refusable.
 */
DC_MUST_CHECK enum dc_err dc_offline_refuse(const struct dc_wallet *w, const struct dc_session *s,
                                            enum dc_err why, uint64_t now,
                                            uint8_t out[static DC_REFUSAL_BYTES]);

/* ---- Bookkeeping slots in the wallet (wallet.h pending requests) ------- */

/*
 * Payee sessions: kind "rx:<hex of the request hash's first 16 bytes>",
 * id = the request hash, body = transport:u8 done:u8 struct dc_session,
 * created = when the request was made. Saved before the request leaves,
 * and again in the same wallet save as the accepted coins, before the
 * receipt leaves. `transport` is the host's own tag (1..255).
 */
#define DC_OFFLINE_RX_KEEP 32 /* payee sessions a wallet keeps (oldest dropped) */

/* Stores (replaces) the session's slot; the wallet is then to be saved. */
DC_MUST_CHECK enum dc_err dc_offline_rx_save(struct dc_wallet *w, const struct dc_session *s,
                                             unsigned transport, int done, uint64_t created);
/* The session of this request: DC_OK, DC_ERR_NOT_FOUND, or
 * DC_ERR_SESSION_CORRUPT for a slot that is not a sane session. Any OUT
 * pointer but s may be NULL. */
DC_MUST_CHECK enum dc_err dc_offline_rx_load(const struct dc_wallet *w,
                                             const uint8_t request_hash[static DC_HASH_BYTES],
                                             struct dc_session *s, unsigned *transport, int *done,
                                             uint64_t *created);
/* The newest open (not done, not failed) session of `transport` for
 * `amount` made within window_ms before now: DC_OK or DC_ERR_NOT_FOUND. */
DC_MUST_CHECK enum dc_err dc_offline_rx_find_open(const struct dc_wallet *w, int64_t amount,
                                                  unsigned transport, uint64_t now,
                                                  uint64_t window_ms, struct dc_session *s,
                                                  uint64_t *created);
/* Drops the oldest payee sessions until fewer than `keep` remain. */
void dc_offline_rx_prune(struct dc_wallet *w, size_t keep);
/* Forgets the session of this request (DC_ERR_NOT_FOUND if none). */
DC_MUST_CHECK enum dc_err dc_offline_rx_forget(struct dc_wallet *w,
                                               const uint8_t request_hash[static DC_HASH_BYTES]);

/*
 * The payer's copies: kind "py:<hex…>", body = state:u8 request bytes
 * [refusal, when state = 2]; state 0 open, 1 confirmed by a receipt (or
 * reclaimed), 2 refused by the payee (its signed refusal follows).
 * Stored with the signed payment, before it leaves, so a receipt can be
 * matched later; confirmed ones older than a day are dropped on each save.
 */
DC_MUST_CHECK enum dc_err dc_offline_py_save(struct dc_wallet *w, const uint8_t *request,
                                             size_t len, int confirmed, uint64_t now);
/* The request this wallet paid with this hash: DC_OK (req holds it, *len
 * its length), DC_ERR_NOT_FOUND. confirmed (may be NULL): 1 if confirmed
 * (state 1). */
DC_MUST_CHECK enum dc_err dc_offline_py_load(const struct dc_wallet *w,
                                             const uint8_t request_hash[static DC_HASH_BYTES],
                                             uint8_t request[static DC_REQUEST_BYTES], size_t *len,
                                             int *confirmed);

/* ---- Hosting an exchange: the steps every transport calls ---------------- */

/* Transport tags a payee session slot records (a host may use its own,
 * 1..255): a request is resumed only by the transport that made it. */
#define DC_OFFLINE_TCP 1u
#define DC_OFFLINE_ARMOR 2u /* text armor: files, stdio, QR codes (no frames) */
#define DC_OFFLINE_NFC 3u
/* An open request is resumed (dc_offline_payee_resume) within an hour. */
#define DC_OFFLINE_RESUME_WINDOW_MS (60u * 60u * 1000u)

/* Makes the wallet durable (e.g. dc_wallet_commit); the same signature as
 * dc_service_save_fn. */
typedef enum dc_err (*dc_offline_save_fn)(void *ctx, struct dc_wallet *w);
/* Told right after each save, before anything leaves: "request-persisted"
 * (payee_begin), "coins-persisted" (payee_step), "refusal-persisted"
 * (payee_refuse), "request-closed" (payee_finish), "payment-persisted"
 * (payer_pay), "receipt-confirmed" (payer_confirm), "refusal-kept"
 * (payer_refusal). A log line, or a test's crash point. */
typedef void (*dc_offline_point_fn)(void *ctx, const char *point);

/* What the last call found, for the host's messages (OUT; every call
 * clears it first). */
struct dc_offline_note {
    struct dc_request request;    /* the request checked, paid or confirmed (payer) */
    struct dc_payment_result res; /* the payee's verification, or where it failed */
    size_t n_revoked;             /* revoked devices the trust context held */
    int again;                    /* paid / accepted / confirmed before: the same bytes */
    int has_split;                /* the payment split a coin (change kept) */
    int saving;                   /* the error came from the save callback */
    int64_t max;                  /* DC_ERR_LIMIT_EXCEEDED: the payer's maximum */
    int64_t after, limit;         /* DC_ERR_OFFLINE_LIMIT: total it would reach, the limit */
    size_t payment_bytes;         /* DC_ERR_PAYMENT_TOO_LARGE: bytes it would take (0: the
                                     coin count was over first) */
    uint64_t cert_expires_at;     /* DC_ERR_CERT_EXPIRED: this device's certificate */
    enum dc_err refused;          /* payee_step/_take: the verification refused the payment
                                     for good (dc_offline_refusable): what a signed refusal
                                     (dc_offline_refuse) states; DC_OK otherwise */
};

/* The host context. Plain data: fill the first six fields. */
struct dc_offline {
    struct dc_wallet *w;     /* borrowed */
    dc_offline_save_fn save; /* required */
    void *save_ctx;
    dc_offline_point_fn point; /* may be NULL */
    void *point_ctx;
    unsigned transport; /* DC_OFFLINE_* (payee slots), 1..255 */
    struct dc_offline_note note;
};

/* -- Payee -- */

/*
 * A new request for `amount` (minor units of `currency`): this device's
 * certificate must be usable for another minute (DC_ERR_WALLET_NOT_REGISTERED,
 * DC_ERR_CERT_EXPIRED with note.cert_expires_at), the amount must keep the
 * wallet within its offline limit (DC_ERR_OFFLINE_LIMIT, note.after and
 * .limit); then a fresh nonce, the request signed into s (frames of
 * frame_max, 0 = DC_FRAME_MAX), recorded in a payee slot and SAVED
 * ("request-persisted"). With DC_OFFLINE_ARMOR the request leaves as armor
 * (dc_session_request), not as the session's frames. *created (OUT) is the
 * request's time, for the later steps.
 */
DC_MUST_CHECK enum dc_err dc_offline_payee_begin(struct dc_offline *o, struct dc_session *s,
                                                 int64_t amount, uint32_t currency,
                                                 unsigned frame_max, uint64_t now,
                                                 uint64_t *created);
/* The newest open request of this transport for `amount` made within
 * DC_OFFLINE_RESUME_WINDOW_MS: DC_OK (s and *created restored, to be
 * reconnected by the host) or DC_ERR_NOT_FOUND. */
DC_MUST_CHECK enum dc_err dc_offline_payee_resume(struct dc_offline *o, struct dc_session *s,
                                                  int64_t amount, uint64_t now, uint64_t *created);
/*
 * The host's turn in a payee session; a no-op unless the session wants
 * NEED_VERIFY or NEED_PERSIST. On NEED_VERIFY: the payment verified under
 * the offline trust (dc_offline_trust) and the seen-set, the receipt
 * signed, the offline limit checked, the coins kept and the session in its
 * slot, all in ONE save ("coins-persisted"), then dc_session_persisted: the
 * receipt may leave. On NEED_PERSIST (a session restored in that state: its
 * coins were saved with it): dc_session_persisted.
 * Refusals: note.res names the coin and record at fault; the session
 * FAILED, and over a link (TCP, NFC) its slot forgotten (saved): the
 * request is over. With DC_OFFLINE_ARMOR nothing is written: a file may
 * come from anyone, and a bad one must not end the request that the real
 * payer's payment answers. Except
 * DC_ERR_OFFLINE_LIMIT (note.after, .limit): nothing kept and the request
 * stays open, since the payer's coins are signed to this device and the
 * same payment can be delivered again once coins were deposited.
 */
DC_MUST_CHECK enum dc_err dc_offline_payee_step(struct dc_offline *o, struct dc_session *s,
                                                uint64_t created, uint64_t now);
/*
 * The payee, given a whole PAYMENT message (armor, a QR code): finds the
 * open request it answers (DC_ERR_PAY_WRONG_REQUEST: none), feeds it to
 * that session and runs dc_offline_payee_step. A payment accepted before
 * gets its receipt again (note.again; another payment for the same request
 * is DC_ERR_FRAME_CONFLICT). On DC_OK the receipt is dc_session_receipt(s).
 * s is the host's scratch (sizeof struct dc_session).
 */
DC_MUST_CHECK enum dc_err dc_offline_payee_take(struct dc_offline *o, struct dc_session *s,
                                                const uint8_t *payment, size_t len, uint64_t now);
/* The payer acknowledged the receipt (or the host gives up waiting for
 * it): the request is closed (its slot marked done) and saved. */
DC_MUST_CHECK enum dc_err dc_offline_payee_finish(struct dc_offline *o, const struct dc_session *s,
                                                  uint64_t created);

/*
 * The payee's signed refusal of the payment session s holds, after
 * dc_offline_payee_step or _take refused it for good (why =
 * note.refused): signed (dc_offline_refuse), the payment's coins
 * remembered as refused (dc_wallet_refuse_coins: this wallet never takes
 * them later), the wallet SAVED ("refusal-persisted"), and only then the
 * refusal written to out, to be sent to the payer. Errors of
 * dc_offline_refuse; the save's (note.saving), with nothing written.
 */
DC_MUST_CHECK enum dc_err dc_offline_payee_refuse(struct dc_offline *o, const struct dc_session *s,
                                                  enum dc_err why, uint64_t now,
                                                  uint8_t out[static DC_REFUSAL_BYTES]);

/* -- Payer -- */

/* A request as received: decodes, verifies under this wallet's trust
 * (signature, payee certificate, issuer key, revocation list) and, if
 * max > 0, asks no more than max (DC_ERR_LIMIT_EXCEEDED, note.max). On DC_OK
 * note.request holds it. Changes nothing. */
DC_MUST_CHECK enum dc_err dc_offline_payer_check(struct dc_offline *o, const uint8_t *request,
                                                 size_t len, int64_t max, uint64_t now);
/*
 * The payment for a checked request: the one made before (note.again) or
 * a new one (dc_offline_pay, with a day of validity left on every coin),
 * the payer's copy of the request recorded, and the wallet SAVED
 * ("payment-persisted"): then, and only then, the payment is written to
 * out (cap >= DC_PAYMENT_MAX_BYTES is always enough). A payment over the
 * message's limits is refused before anything is signed:
 * DC_ERR_PAYMENT_TOO_LARGE (note.payment_bytes). Errors of coin selection
 * (DC_ERR_INSUFFICIENT_FUNDS ...) leave the wallet unchanged.
 */
DC_MUST_CHECK enum dc_err dc_offline_payer_pay(struct dc_offline *o, uint8_t *out, size_t cap,
                                               size_t *out_len, const uint8_t *request, size_t len,
                                               uint64_t now);
/* The payer's turn in a session on NEED_COINS: dc_offline_payer_check and
 * _pay on dc_session_request, the payment handed to the session, then
 * dc_session_persisted. A no-op in any other state. */
DC_MUST_CHECK enum dc_err dc_offline_payer_step(struct dc_offline *o, struct dc_session *s,
                                                int64_t max, uint64_t now);
/* A RECEIPT: it names a request this wallet paid (DC_ERR_RECEIPT_MISMATCH
 * otherwise), then dc_offline_confirm; the copy marked confirmed and the
 * wallet SAVED. note.request is the request; note.again if it was confirmed
 * before (idempotent). */
DC_MUST_CHECK enum dc_err dc_offline_payer_confirm(struct dc_offline *o, const uint8_t *receipt,
                                                   size_t len, uint64_t now);

/*
 * The payer, on a REFUSAL from the payee (over any transport): it names a
 * request this wallet paid (DC_ERR_REFUSAL_MISMATCH otherwise), then
 * dc_offline_refused checks it against that payment and keeps it, and the
 * wallet is SAVED ("refusal-kept"). note.request is the request,
 * note.refused the payee's reason. The coins stay PENDING_OUT until
 * dc_service_reclaim takes them back online. Idempotent.
 */
DC_MUST_CHECK enum dc_err dc_offline_payer_refusal(struct dc_offline *o, const uint8_t *refusal,
                                                   size_t len, uint64_t now);

/* The payee's refusal kept for this request (dc_offline_refused): DC_OK,
 * DC_ERR_NOT_FOUND. */
DC_MUST_CHECK enum dc_err dc_offline_py_refusal(const struct dc_wallet *w,
                                                const uint8_t request_hash[static DC_HASH_BYTES],
                                                uint8_t refusal[static DC_REFUSAL_BYTES]);

/* Pending-out payments (paid, neither confirmed nor reclaimed), oldest
 * first: slot i of the wallet's pending requests is one if this returns
 * DC_OK with its request (req, *len) and *refused (1: a refusal is kept). */
DC_MUST_CHECK enum dc_err dc_offline_py_at(const struct dc_wallet *w, size_t i,
                                           uint8_t request[static DC_REQUEST_BYTES], size_t *len,
                                           int *refused);

/* Marks the payment of this request settled (state 1): confirmed by a
 * receipt, reclaimed online, or found taken by the payee. */
DC_MUST_CHECK enum dc_err dc_offline_py_settle(struct dc_wallet *w, const uint8_t *request,
                                               size_t len, uint64_t now);

#ifdef __cplusplus
}
#endif
#endif
