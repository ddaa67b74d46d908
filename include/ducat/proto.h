/*
 * ducat/proto.h - the offline payment protocol: three messages, their
 * framing for small transports, payee-side verification, and a sans-I/O
 * session engine (BearSSL style) that moves them between two devices.
 *
 * ======================================================================
 * OFFLINE PAYMENT PROTOCOL, VERSION 1 (for docs/PROTOCOL.md)
 * ======================================================================
 *
 * Three messages over any byte stream (NFC, BLE, TCP, a file, a QR code):
 *
 *     payee                                   payer
 *       | REQUEST  (amount, payee cert, nonce) |
 *       | -----------------------------------> |  payer builds the PAYMENT
 *       |                                      |  (selection, splits, transfers),
 *       |                             PAYMENT  |  persists it, then sends it
 *       | <----------------------------------- |
 *  verify, persist coins,                      |
 *       | RECEIPT (signed by the payee)        |
 *       | -----------------------------------> |  payer checks the signature
 *
 * Conventions are the core's (little-endian, tag + version first, strict
 * decoders that refuse short input, trailing bytes, unknown tags/versions
 * and out-of-range fields). Signatures are Ed25519 by the PAYEE's device
 * key over "DUCATSIG" || body (body = the encoding without the signature,
 * tag and version included, so no signature crosses message types).
 *
 *   request  40 01 amount:i64 currency:u32 payee:devcert(126) nonce:16
 *                  time:u64 sig:64                               228 bytes
 *            amount > 0. nonce: the payee's fresh randomness (a parameter);
 *            every coin's last TRANSFER must carry it, so an old transfer
 *            to the same payee cannot be replayed. time: ms since epoch,
 *            informational (the payer may show or bound it).
 *   payment  41 01 request_hash:32 n:u8 (len:u16 coin[len])[n]
 *                                                   <= DC_PAYMENT_MAX_BYTES
 *            request_hash = BLAKE2b-256("ducat/request/v1" 00 || request).
 *            1 <= n <= 16; each coin is a complete core coin encoding of
 *            exactly len bytes (1 <= len); no trailing bytes.
 *   receipt  42 01 request_hash:32 payment_hash:32 time:u64 sig:64
 *                                                                138 bytes
 *            payment_hash = BLAKE2b-256("ducat/payment/v1" 00 || payment).
 *            time: when the payee accepted (ms since epoch).
 *
 * Payee-side rules (dc_payment_verify), in order, first failure wins:
 *   decode request and payment; request_hash matches (PAY_WRONG_REQUEST);
 *   request currency is the trust context's (CURRENCY_MISMATCH); every coin
 *   passes dc_coin_verify with expect_owner = payee key and expect_nonce =
 *   request nonce, no deposit record (all of the core's errors, with the
 *   coin and record index); no two coins share a state: the same coin
 *   twice, or one a prefix of the other (PAY_DUPLICATE_COIN), or two coins
 *   of one serial whose chains consume one state with different successors
 *   (FORK_DETECTED); the payee's seen-set callback reports no consumed
 *   state (serial, state_k, successor_k), k = 0..n-1, that it knows with a
 *   different successor (FORK_DETECTED: a double spend detected on the
 *   spot); the values sum (overflow-checked, AMOUNT_OVERFLOW) exactly to
 *   the amount (PAY_AMOUNT; res->total says what was paid).
 *
 * Framing. A message is cut into frames of at most DC_FRAME_MAX = 255 bytes
 * (one NFC short APDU); a stream transport sends frames back to back.
 *
 *   frame    tag:u8 index:u16 count:u16 len:u8 payload[len]
 *            tag = the message's tag (0x40..0x42) and payload[0] of frame 0;
 *            0 <= index < count; 1 <= len <= 249; every frame but the last
 *            carries the same len as frame 0, the last at most that.
 *
 * The receiver keeps one reassembly per message type and processes frames
 * deterministically: the next in-order frame is stored; a frame already
 * held (a re-sent frame) is accepted if byte-identical and ignored, else
 * refused (FRAME_CONFLICT); a gap is refused (FRAME_ORDER); a message
 * larger than its type allows is refused at its first frame
 * (MSG_TOO_LARGE); bad header fields are DECODE_TYPE / DECODE_VALUE. Once
 * a message is complete, later frames of its type are compared with it
 * (any order, any frame size); a whole in-order pass over it is a REPEAT
 * (the peer re-sent the message), which drives idempotent re-sends.
 *
 * Session (struct dc_session): the engine does no I/O, no allocation, no
 * clock and no RNG. The host moves bytes with *_buf / *_ack and answers
 * dc_session_want() bits; a typical loop:
 *
 *     while (!((w = dc_session_want(s)) & (DC_SESSION_DONE | DC_SESSION_FAILED))) {
 *         if (w & DC_SESSION_NEED_COINS)   build the payment, dc_session_payer_pay
 *         if (w & DC_SESSION_NEED_VERIFY)  dc_session_payee_verify
 *         if (w & DC_SESSION_NEED_PERSIST) write coins/payment + session, dc_session_persisted
 *         if (w & DC_SESSION_SEND)         send dc_session_send_buf, dc_session_send_ack
 *         if (w & DC_SESSION_RECV)         read into dc_session_recv_buf, dc_session_recv_ack
 *     }
 *
 * Payer: on receiving a REQUEST the engine checks only its self-signature;
 * before paying, the host checks it under its trust context
 * (dc_request_verify: payee certificate, expiry, revocation, currency).
 * The payer takes no input while it wants NEED_PERSIST.
 *
 * Crash safety and idempotency:
 *   - the payer persists the signed PAYMENT (NEED_PERSIST) before it is
 *     sent; the payee persists the accepted coins (NEED_PERSIST) before the
 *     RECEIPT is sent. The host persists the session bytes with them.
 *   - a payer that receives the same REQUEST again after paying re-sends
 *     the same PAYMENT; a payee that receives the same PAYMENT again after
 *     accepting re-sends the same RECEIPT.
 *   - after an interruption (new link, or a session restored from disk)
 *     the host calls dc_session_reconnect on both sides: partial frames are
 *     dropped, the payee re-sends its REQUEST (no payment yet) or RECEIPT
 *     (accepted), and the re-send chain above completes the exchange.
 *   - the host's persistence of accepted coins must be idempotent keyed by
 *     (serial, final state), and its seen-set must answer "no conflict"
 *     for a state known with the SAME successor: then a payee restored from
 *     an old snapshot re-accepts the same coins without counting them twice.
 *
 * Session errors (dc_session_error once FAILED). Input from the peer fails
 * the session, except once the outcome is committed (the payee has verified
 * the payment): later bad input is dropped and cannot undo it.
 *   framing errors as above; MSG_UNEXPECTED: a message type this side does
 *   not take now (a REQUEST at a payee, a RECEIPT before paying);
 *   BAD_SIGNATURE: a forged REQUEST or RECEIPT; RECEIPT_MISMATCH: a
 *   RECEIPT naming another request or payment; FRAME_CONFLICT: a re-sent
 *   message that differs from the copy held (e.g. a new REQUEST after
 *   paying); any dc_payment_verify error at the payee.
 * A host call returns an error and changes nothing when: the session is in
 * another state (SESSION_STATE), the context fails its invariants
 * (SESSION_CORRUPT), an argument is bad (INVALID_ARGUMENT), or the
 * payment handed over is at fault (dc_session_payer_pay).
 *
 * Sizes: 228 + 489 + 138 bytes of messages for a 1-hop coin, in 4 frames of
 * at most 255 bytes (879 bytes on the wire); 2,799 bytes in 12 frames for a
 * 10-hop coin.
 * ======================================================================
 *
 * THREAD SAFETY: reentrant; a session is used by one thread at a time.
 * libsodium must have been initialised by the host (sodium_init).
 * Stack: payment decoding and verification use one struct dc_coin (~15 KB).
 */
#ifndef DUCAT_PROTO_H
#define DUCAT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/coin.h"
#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message tags (first byte of every message and of every frame). */
enum dc_msg_type {
    DC_MSG_REQUEST = 0x40,
    DC_MSG_PAYMENT = 0x41,
    DC_MSG_RECEIPT = 0x42,
};

#define DC_REQUEST_BODY_BYTES (2 + 8 + 4 + DC_DEVCERT_BYTES + DC_NONCE_BYTES + 8) /* 164 */
#define DC_REQUEST_BYTES (DC_REQUEST_BODY_BYTES + DC_SIG_BYTES)                   /* 228 */
#define DC_RECEIPT_BODY_BYTES (2 + 2 * DC_HASH_BYTES + 8)                         /* 74 */
#define DC_RECEIPT_BYTES (DC_RECEIPT_BODY_BYTES + DC_SIG_BYTES)                   /* 138 */
#define DC_PAYMENT_HEADER_BYTES (2 + DC_HASH_BYTES + 1)                           /* 35 */
#define DC_PAYMENT_COINS_MAX 16
#define DC_PAYMENT_MAX_BYTES 16384 /* a 10-hop coin is 2,324 bytes; a 64-hop one 13,638 */

#define DC_FRAME_HEADER_BYTES 6
#define DC_FRAME_MAX 255 /* one NFC short APDU */
#define DC_FRAME_MIN 16  /* smallest frame a sender may be configured with */
#define DC_FRAME_PAYLOAD_MAX (DC_FRAME_MAX - DC_FRAME_HEADER_BYTES) /* 249 */

/* Largest encoding of a message of this type (0 for an unknown tag). */
size_t dc_msg_max_bytes(uint8_t tag);

/* ---- REQUEST ---------------------------------------------------------- */

struct dc_request {
    int64_t amount;                /* minor units, > 0 */
    uint32_t currency;             /* ISO 4217 numeric */
    struct dc_devcert payee;       /* the payee's device certificate */
    uint8_t nonce[DC_NONCE_BYTES]; /* the payee's fresh randomness */
    uint64_t time;                 /* ms since epoch */
    uint8_t sig[DC_SIG_BYTES];     /* by payee.pub */
};

/* Signs r (filling r->sig) with the payee's device key and writes the
 * request. DC_ERR_AMOUNT_ZERO if amount <= 0; DC_ERR_INVALID_ARGUMENT if sk
 * is not the key of r->payee or the certificate would not decode. */
DC_MUST_CHECK enum dc_err dc_request_sign(uint8_t out[static DC_REQUEST_BYTES],
                                          struct dc_request *r,
                                          const uint8_t payee_sk[static DC_SECKEY_BYTES]);
/* Writes a request as it stands (r->sig already set), e.g. a decoded one. */
void dc_request_encode(uint8_t out[static DC_REQUEST_BYTES], const struct dc_request *r);
/* Strict decoder; checks no signature. */
DC_MUST_CHECK enum dc_err dc_request_decode(struct dc_request *out, const uint8_t *in, size_t len);
/* The request is signed by its own payee certificate's key: DC_OK or
 * DC_ERR_BAD_SIGNATURE. (What the session checks on receipt of a request.) */
DC_MUST_CHECK enum dc_err dc_request_check(const struct dc_request *r);
/* What a payer checks before paying: dc_request_check, and under t: the
 * payee certificate is signed by a usable issuer key (UNKNOWN_KEY,
 * KEY_REVOKED, KEY_EXPIRED, CERT_INVALID), unexpired at t->now
 * (CERT_EXPIRED), not on the revocation list when t asks for it
 * (CERT_REVOKED); currency is t's (CURRENCY_MISMATCH); amount a multiple of
 * the base unit (DENOM_UNREACHABLE). The request's time is not judged. */
DC_MUST_CHECK enum dc_err dc_request_verify(const struct dc_request *r, const struct dc_trust *t);
/* BLAKE2b-256("ducat/request/v1" 00 || request bytes). */
void dc_request_hash(uint8_t out[static DC_HASH_BYTES], const uint8_t *req, size_t len);

/* ---- PAYMENT ---------------------------------------------------------- */

/* A payment as a view: coin pointers point into the caller's buffer. */
struct dc_payment {
    uint8_t request_hash[DC_HASH_BYTES];
    size_t n; /* 1..DC_PAYMENT_COINS_MAX */
    const uint8_t *coin[DC_PAYMENT_COINS_MAX];
    size_t coin_len[DC_PAYMENT_COINS_MAX];
};

/* Writes the payment. Checks the counts and lengths (not the coins):
 * DC_ERR_INVALID_ARGUMENT, DC_ERR_MSG_TOO_LARGE (over
 * DC_PAYMENT_MAX_BYTES), DC_ERR_BUFFER_TOO_SMALL with *out_len = needed. */
DC_MUST_CHECK enum dc_err dc_payment_encode(uint8_t *out, size_t cap, size_t *out_len,
                                            const struct dc_payment *p);
/* Strict decoder: structure, and every coin decodes exactly (no signature
 * checked). DC_ERR_MSG_TOO_LARGE above DC_PAYMENT_MAX_BYTES. On error,
 * *bad_coin (may be NULL) is the coin at fault or DC_PAYMENT_WHOLE. */
DC_MUST_CHECK enum dc_err dc_payment_decode(struct dc_payment *out, size_t *bad_coin,
                                            const uint8_t *in, size_t len);
/* BLAKE2b-256("ducat/payment/v1" 00 || payment bytes). */
void dc_payment_hash(uint8_t out[static DC_HASH_BYTES], const uint8_t *pay, size_t len);

/*
 * Seen-set query, answered by the payee's wallet from what it knows (coins
 * it holds or held, states it saw consumed). For one state a coin of the
 * payment consumes: DC_OK if the state is unknown or known with this same
 * successor; DC_ERR_FORK_DETECTED (or DC_ERR_COIN_SPENT, treated alike) if
 * known with a DIFFERENT successor (a double spend detected on the spot);
 * any other error (e.g. DC_ERR_STORE) stops verification and is returned
 * as is.
 */
typedef enum dc_err (*dc_seen_fn)(void *ctx, const uint8_t serial[DC_SERIAL_BYTES],
                                  const uint8_t state[DC_HASH_BYTES],
                                  const uint8_t successor[DC_HASH_BYTES]);

/* What the payee's host supplies to verify a payment (borrowed, not kept). */
struct dc_payment_check {
    const struct dc_trust *trust; /* keys, revocation list, rules, flags; trust->now */
    dc_seen_fn seen;              /* may be NULL: no seen-set */
    void *seen_ctx;
    struct dc_verify_cache *cache; /* may be NULL; speeds up split siblings */
};

#define DC_PAYMENT_WHOLE ((size_t)-1) /* error index: the payment as a whole */

struct dc_payment_coin_result {
    int64_t value; /* value of the coin as received */
    uint8_t serial[DC_SERIAL_BYTES];
    uint8_t state[DC_HASH_BYTES]; /* its final state: what the payee now owns */
    size_t records;               /* records after genesis */
    int expired_in_grace;
};

struct dc_payment_result {
    size_t n_coins;
    size_t coin;         /* on error: the coin at fault, or DC_PAYMENT_WHOLE */
    size_t record;       /* on error: its record (0 = genesis, i = i-th record after it) */
    int from_seen;       /* on error: 1 if the seen-set callback returned it */
    int64_t total;       /* sum of the values (on success) */
    size_t sigs_checked; /* signatures actually verified */
    struct dc_payment_coin_result coins[DC_PAYMENT_COINS_MAX];
};

/*
 * Payee-side verification of a payment against the payee's own request
 * (decoded, its signature not re-checked): every rule listed at the top of
 * this file. Returns DC_OK or the first failure, with res->coin and
 * res->record naming where it is.
 */
DC_MUST_CHECK enum dc_err dc_payment_verify(struct dc_payment_result *res,
                                            const struct dc_payment_check *chk,
                                            const uint8_t *request, size_t request_len,
                                            const uint8_t *payment, size_t payment_len);

/* ---- RECEIPT ---------------------------------------------------------- */

struct dc_receipt {
    uint8_t request_hash[DC_HASH_BYTES];
    uint8_t payment_hash[DC_HASH_BYTES];
    uint64_t time; /* ms since epoch: when the payee accepted */
    uint8_t sig[DC_SIG_BYTES];
};

/* Signs r (filling r->sig) with the payee's device key and writes it. */
void dc_receipt_sign(uint8_t out[static DC_RECEIPT_BYTES], struct dc_receipt *r,
                     const uint8_t payee_sk[static DC_SECKEY_BYTES]);
void dc_receipt_encode(uint8_t out[static DC_RECEIPT_BYTES], const struct dc_receipt *r);
DC_MUST_CHECK enum dc_err dc_receipt_decode(struct dc_receipt *out, const uint8_t *in, size_t len);
/* DC_OK or DC_ERR_BAD_SIGNATURE. */
DC_MUST_CHECK enum dc_err dc_receipt_check(const struct dc_receipt *r,
                                           const uint8_t payee_pub[static DC_PUBKEY_BYTES]);

/* ---- Framing ---------------------------------------------------------- */

/* Frames a message of msg_len bytes takes with frames of frame_max bytes
 * (0 if msg_len is 0 or frame_max outside DC_FRAME_MIN..DC_FRAME_MAX). */
size_t dc_frame_count(size_t msg_len, size_t frame_max);
/* Writes frame `index` of msg (whose first byte is its tag).
 * DC_ERR_INVALID_ARGUMENT (unknown tag, bad frame_max, index out of range,
 * message longer than its type allows), DC_ERR_BUFFER_TOO_SMALL. */
DC_MUST_CHECK enum dc_err dc_frame_encode(uint8_t *out, size_t cap, size_t *out_len,
                                          const uint8_t *msg, size_t msg_len, size_t frame_max,
                                          size_t index);

/* Reassembly progress of one message type (plain data, part of contexts). */
struct dc_rx {
    uint16_t count; /* frames of the message (of the current pass once complete) */
    uint16_t next;  /* next in-order frame index */
    uint16_t plen;  /* payload bytes of every frame but the last */
    uint16_t reserved;
    uint32_t len; /* bytes stored so far, before completion */
};

/* Events of a frame push. */
#define DC_RX_NONE 0     /* accepted (stored, or a harmless duplicate) */
#define DC_RX_COMPLETE 1 /* the message is now complete */
#define DC_RX_REPEAT 2   /* a complete message was received again, in full */

/* A standalone reassembler for one message (copyable, no pointers). */
struct dc_reasm {
    struct dc_rx rx;
    uint8_t tag;  /* the message's type, fixed by its first frame (0 before) */
    uint32_t len; /* message length once complete, else 0 */
    uint8_t msg[DC_PAYMENT_MAX_BYTES];
};

void dc_reasm_init(struct dc_reasm *r);
/* Takes one whole frame. *event (OUT) is a DC_RX_* value. Errors as in the
 * framing rules above; a frame of another tag than the first is
 * DC_ERR_MSG_UNEXPECTED. The reassembler is unchanged by a refused frame. */
DC_MUST_CHECK enum dc_err dc_reasm_push(struct dc_reasm *r, int *event, const uint8_t *frame,
                                        size_t len);

/* ---- Session engine --------------------------------------------------- */

enum dc_role { DC_ROLE_PAYEE = 1, DC_ROLE_PAYER = 2 };

/* dc_session_want bits. */
#define DC_SESSION_SEND 0x01u        /* bytes to send: dc_session_send_buf */
#define DC_SESSION_RECV 0x02u        /* input welcome: dc_session_recv_buf */
#define DC_SESSION_NEED_COINS 0x04u  /* payer: read the request, call dc_session_payer_pay */
#define DC_SESSION_NEED_VERIFY 0x08u /* payee: call dc_session_payee_verify */
#define DC_SESSION_NEED_PERSIST                                                                    \
    0x10u                       /* persist (payment / accepted coins + session), then              \
                                   dc_session_persisted */
#define DC_SESSION_DONE 0x20u   /* outcome final and good (may still SEND/RECV re-sends) */
#define DC_SESSION_FAILED 0x40u /* dc_session_error says why; nothing more happens */

/*
 * The session context. Plain data with fixed buffers and no pointers
 * (BearSSL's rules for contexts): it may be copied with memcpy, written to
 * disk and read back by the same build (checked by dc_session_check), or
 * dropped without a release call. It holds no secret: the payee's key is a
 * parameter of the calls that sign. Fields are private. The layout has no
 * padding, so equal contexts are equal bytes.
 */
struct dc_session {
    uint32_t magic;    /* DC_SESSION_MAGIC */
    uint32_t size;     /* sizeof(struct dc_session): same build, same layout */
    uint64_t time;     /* receipt time chosen at verification (payee) */
    uint8_t role;      /* enum dc_role */
    uint8_t state;     /* private state machine */
    uint8_t frame_max; /* outgoing frame size */
    uint8_t tx_tag;    /* message being sent, 0 = none */
    uint8_t tx_next;   /* message to send after the current frame, 0 = none */
    uint8_t reserved[3];
    int32_t err; /* enum dc_err once FAILED */
    uint16_t tx_index, tx_count, tx_off, tx_frame_len;
    uint16_t rx_have; /* bytes of the incoming frame so far */
    uint16_t reserved2;
    uint32_t req_len, pay_len, rcpt_len; /* 0 until the message is complete */
    struct dc_rx rx[3];                  /* per message type: request, payment, receipt */
    uint8_t req_hash[DC_HASH_BYTES];
    uint8_t pay_hash[DC_HASH_BYTES];
    uint8_t req[DC_REQUEST_BYTES];
    uint8_t rcpt[DC_RECEIPT_BYTES];
    uint8_t tx_frame[DC_FRAME_MAX];
    uint8_t rx_frame[DC_FRAME_MAX];
    uint8_t pay[DC_PAYMENT_MAX_BYTES];
    uint8_t tail[4]; /* explicit, so the layout has no padding bytes */
};

#define DC_SESSION_MAGIC 0x44435331u /* "DCS1" */

/* Payee: starts an exchange for r (amount, currency, payee certificate,
 * nonce, time; r->sig ignored), signing the request with payee_sk.
 * frame_max: outgoing frame size (0 = DC_FRAME_MAX). On error the session
 * is FAILED with that error. */
DC_MUST_CHECK enum dc_err dc_session_payee_start(struct dc_session *s, const struct dc_request *r,
                                                 const uint8_t payee_sk[static DC_SECKEY_BYTES],
                                                 unsigned frame_max);
/* Payer: starts waiting for a request. */
DC_MUST_CHECK enum dc_err dc_session_payer_start(struct dc_session *s, unsigned frame_max);

/* DC_SESSION_* bits. A session that fails dc_session_check wants FAILED. */
unsigned dc_session_want(const struct dc_session *s);
/* DC_OK unless FAILED (DC_ERR_SESSION_CORRUPT for a corrupt context). */
enum dc_err dc_session_error(const struct dc_session *s);
/* DC_OK if the bytes form a consistent session of this build;
 * DC_ERR_SESSION_CORRUPT if they are not a session of this build (magic,
 * size) or its fields are inconsistent; DC_ERR_INVALID_ARGUMENT for NULL. */
DC_MUST_CHECK enum dc_err dc_session_check(const struct dc_session *s);

/* Outgoing bytes: a window of the current frame (never more than one
 * frame, so one window per NFC APDU works), NULL/0 if nothing to send.
 * send_ack(n) consumes n bytes of it (n beyond the window is ignored). */
const uint8_t *dc_session_send_buf(const struct dc_session *s, size_t *len);
void dc_session_send_ack(struct dc_session *s, size_t n);
/* Incoming bytes: where to write and how many are wanted right now (the
 * rest of the current frame header or payload), NULL/0 if no input is
 * wanted. recv_ack(n) takes n bytes written there. */
uint8_t *dc_session_recv_buf(struct dc_session *s, size_t *len);
void dc_session_recv_ack(struct dc_session *s, size_t n);
/* Conveniences over the four calls above: push copies input in and returns
 * how much was taken; pull copies up to cap outgoing bytes out. */
size_t dc_session_push(struct dc_session *s, const uint8_t *in, size_t len);
size_t dc_session_pull(struct dc_session *s, uint8_t *out, size_t cap);

/* A new link (or a context restored from disk): drops partial frames in both
 * directions and queues what the peer may lack (see the top of this file).
 * frame_max as in the start calls. */
void dc_session_reconnect(struct dc_session *s, unsigned frame_max);

/* The messages held so far (NULL/0 if not yet). */
const uint8_t *dc_session_request(const struct dc_session *s, size_t *len);
const uint8_t *dc_session_payment(const struct dc_session *s, size_t *len);
const uint8_t *dc_session_receipt(const struct dc_session *s, size_t *len);

/* Payer, on NEED_COINS: hands over the payment the wallet built for
 * dc_session_request(). Checked without signatures: decodes, names this
 * request (PAY_WRONG_REQUEST), every coin ends with a transfer to the payee
 * (WRONG_RECEIVER) carrying its nonce (NONCE_MISMATCH), currency
 * (CURRENCY_MISMATCH), values sum to the amount (PAY_AMOUNT). On error the
 * session is unchanged (still NEED_COINS); on success it wants PERSIST. */
DC_MUST_CHECK enum dc_err dc_session_payer_pay(struct dc_session *s, const uint8_t *payment,
                                               size_t len);
/* Payee, on NEED_VERIFY: dc_payment_verify under chk; on success signs the
 * receipt (time `now`) with payee_sk and wants PERSIST. A payment refused
 * fails the session; an error from the seen-set callback other than a
 * fork, or a bad argument, is returned and leaves the session as it was so
 * the host can retry. res (OUT) may be NULL. */
DC_MUST_CHECK enum dc_err dc_session_payee_verify(struct dc_session *s,
                                                  struct dc_payment_result *res,
                                                  const struct dc_payment_check *chk,
                                                  const uint8_t payee_sk[static DC_SECKEY_BYTES],
                                                  uint64_t now);
/* On NEED_PERSIST, once the host has made the payment (payer) or the
 * accepted coins (payee) durable: the engine proceeds to send.
 * DC_ERR_SESSION_STATE in any other state. */
DC_MUST_CHECK enum dc_err dc_session_persisted(struct dc_session *s);

#ifdef __cplusplus
}
#endif
#endif
