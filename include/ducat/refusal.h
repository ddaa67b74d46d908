/*
 * ducat/refusal.h - the payee's signed REFUSAL of an offline payment, and
 * the reclaim rules both the payer's wallet and the server need.
 *
 * A payee that refuses a payment (a coin it would not take, a fork in its
 * seen-set, its offline limit) answers with a REFUSAL in place of the
 * RECEIPT. The payer has already signed its coins over; the refusal is the
 * payee's signed word that it will never take them, so the server lets the
 * payer reclaim them at once (POST /v1/reclaims) and refuses the payee's
 * deposit of them afterwards. The message binds the request (its hash, and
 * the nonce every TRANSFER of the payment carries) and the exact payment
 * (its hash), so it cannot be replayed against another payment.
 *
 *   refusal  43 01 request_hash:32 payment_hash:32 nonce:16 reason:u16 time:u64 sig:64
 *
 * signed by the payee's device key over "DUCATSIG" || body (the tag sets it
 * apart from a RECEIPT, 42, and from coin records). Pure: no I/O, no
 * allocation, no clock.
 */
#ifndef DUCAT_REFUSAL_H
#define DUCAT_REFUSAL_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/coin.h"
#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DC_REFUSAL_TAG 0x43
#define DC_REFUSAL_BODY_BYTES (2 + 2 * DC_HASH_BYTES + DC_NONCE_BYTES + 2 + 8) /* 92 */
#define DC_REFUSAL_BYTES (DC_REFUSAL_BODY_BYTES + DC_SIG_BYTES)                /* 156 */

struct dc_refusal {
    uint8_t request_hash[DC_HASH_BYTES]; /* dc_request_hash of the refused request */
    uint8_t payment_hash[DC_HASH_BYTES]; /* dc_payment_hash of the exact payment refused */
    uint8_t nonce[DC_NONCE_BYTES];       /* the request's nonce (in every TRANSFER) */
    uint16_t reason;                     /* the enum dc_err code of the refusal */
    uint64_t time;                       /* ms since epoch: when the payee refused */
    uint8_t sig[DC_SIG_BYTES];           /* by the payee's device key */
};

/* Signs r (filling r->sig) with the payee's device key and writes it. */
void dc_refusal_sign(uint8_t out[static DC_REFUSAL_BYTES], struct dc_refusal *r,
                     const uint8_t payee_sk[static DC_SECKEY_BYTES]);
void dc_refusal_encode(uint8_t out[static DC_REFUSAL_BYTES], const struct dc_refusal *r);
/* Strict decoder (tag, version, exact length); checks no signature. On
 * error *out is zeroed. */
DC_MUST_CHECK enum dc_err dc_refusal_decode(struct dc_refusal *out, const uint8_t *in, size_t len);
/* DC_OK if signed by payee_pub, else DC_ERR_BAD_SIGNATURE. */
DC_MUST_CHECK enum dc_err dc_refusal_check(const struct dc_refusal *r,
                                           const uint8_t payee_pub[static DC_PUBKEY_BYTES]);

/*
 * The hash of the PAYMENT message `41 01 request_hash n (len:u16 coin)[n]`
 * rebuilt from its parts, equal to dc_payment_hash over the message bytes:
 * what the server compares with a refusal's payment_hash without the
 * payment decoder of the wallet library. DC_ERR_INVALID_ARGUMENT for n = 0,
 * n > 255 or a coin longer than 65,535 bytes.
 */
DC_MUST_CHECK enum dc_err dc_refusal_payment_hash(uint8_t out[static DC_HASH_BYTES],
                                                  const uint8_t request_hash[static DC_HASH_BYTES],
                                                  const uint8_t *const *coin,
                                                  const size_t *coin_len, size_t n);

/* Refusal evidence carries one offline payment's coins: at most
 * DC_PAYMENT_COINS_MAX of them, their (len:u16 coin) at most
 * DC_PAYMENT_MAX_BYTES (ducat/proto.h; the wallet library asserts both
 * equal). Its largest encoding, above DC_EVIDENCE_MAX_BYTES, and the buffer
 * any reader of evidence of either kind needs: */
#define DC_REFUSAL_EVIDENCE_COINS_MAX 16
#define DC_REFUSAL_EVIDENCE_COINS_BYTES 16384
#define DC_REFUSAL_EVIDENCE_MAX_BYTES                                                              \
    (3 + DC_EVIDENCE_KEYS_MAX * DC_KEYCERT_BYTES + DC_REFUSAL_BYTES + 2 +                          \
     DC_REFUSAL_EVIDENCE_COINS_BYTES + DC_TRANSFER_BYTES)
#define DC_EVIDENCE_READ_MAX_BYTES                                                                 \
    (DC_REFUSAL_EVIDENCE_MAX_BYTES > DC_EVIDENCE_MAX_BYTES ? DC_REFUSAL_EVIDENCE_MAX_BYTES         \
                                                           : DC_EVIDENCE_MAX_BYTES)

/*
 * Refusal evidence: the proof that a payee refused a payment and then
 * handed one of its coins on anyway (docs/PROTOCOL.md, "Refusal evidence"):
 *
 *   31 01 k:u8 keycert[k] refusal:156 n:u8 idx:u8 (len:u16 coin)[n] succ:record
 *
 * coin[0..n) are the refused payment's coins in their order (their PAYMENT
 * hash under the refusal's request_hash is the refusal's payment_hash);
 * coin[idx] ends in the payer's TRANSFER that made state S the payee's;
 * succ is a record (no part byte) consuming S, signed by the payee. The
 * keycerts are those coin[idx] needs, as in fork evidence. dc_evidence_verify
 * checks it with the master key alone and fills a dc_evidence_info of kind
 * DC_TYPE_REFUSAL_EVIDENCE (culprit = the payee).
 *
 * Builds it from a refusal (not checked here), the payment's coins, the
 * decoded coins[idx] (`refused`) and the payee's record `succ`. On
 * DC_ERR_BUFFER_TOO_SMALL *out_len is the size needed.
 * DC_ERR_INVALID_ARGUMENT for n = 0, n > DC_REFUSAL_EVIDENCE_COINS_MAX,
 * idx >= n, coins over DC_REFUSAL_EVIDENCE_COINS_BYTES (with their lengths)
 * or a coin longer than 65,535 bytes; DC_ERR_UNKNOWN_KEY if t lacks a key the coin needs.
 */
DC_MUST_CHECK enum dc_err
dc_refusal_evidence_build(uint8_t *out, size_t cap, size_t *out_len, const struct dc_trust *t,
                          const uint8_t refusal[static DC_REFUSAL_BYTES],
                          const uint8_t *const *coin, const size_t *coin_len, size_t n, size_t idx,
                          const struct dc_coin *refused, const struct dc_record *succ);

/*
 * The successor the server's consumed-state index records for a state a
 * payer reclaimed (the state her TRANSFER created, owned by the payee who
 * never took it): BLAKE2b-256("ducat/reclaimed/v1" 00 || state). No record
 * body hashes to it, so a later deposit of that state by anybody meets a
 * successor that is not a record and is refused as reclaimed, never taken
 * for a double spend.
 */
void dc_reclaim_marker(uint8_t out[static DC_HASH_BYTES],
                       const uint8_t state[static DC_HASH_BYTES]);

#ifdef __cplusplus
}
#endif
#endif
