/*
 * ducat/apdu.h - the offline payment over ISO/IEC 7816-4 APDUs: tap to pay.
 *
 * In a shop the payee's terminal has a contactless reader (PC/SC) and the
 * payer's phone acts as a card (Android host card emulation). The card only
 * answers: every exchange is one command APDU from the reader and one
 * response APDU from the card. Both sides here are sans-I/O, like the
 * session engine of proto.h: APDU bytes in, APDU bytes out; the host moves
 * them (SCardTransmit, HCE processCommandApdu, a vpcd socket) and does what
 * the engine asks (build and persist the payment, persist accepted coins).
 *
 * ======================================================================
 * APDU SET, VERSION 1 (for docs/PROTOCOL.md)
 * ======================================================================
 *
 *   SELECT       00 A4 04 00 07 F0 44 55 43 41 54 01 [00]
 *                AID F0 "DUCAT" 01 (proprietary, unregistered RID F0).
 *                P2 = 00 returns the FCI 6F 0C 84 07 <AID> A5 01 <ver 01>,
 *                P2 = 0C returns nothing. Any other AID: 6A 82.
 *   PAY          80 50 00 00 Lc REQUEST [Le]     (chained: CLA 90)
 *                data = the payee's REQUEST message (228 bytes: one short
 *                APDU, a chain of shorter ones for a reader with a small
 *                buffer, or one extended APDU). Response: the
 *                PAYMENT message, Le bytes at a time (61 XX, then GET
 *                RESPONSE), or all of it in one extended response.
 *   CONFIRM      80 52 00 00 Lc RECEIPT          (chained: CLA 90)
 *                data = the payee's RECEIPT (138 bytes). Response: 90 00
 *                once the payer's wallet checked and saved it.
 *   REFUSE       80 54 00 00 Lc REFUSAL          (chained: CLA 90)
 *                data = the payee's signed REFUSAL (156 bytes, refusal.h) in
 *                place of CONFIRM, when the terminal refuses the payment for
 *                good. Response: 90 00 once the payer's wallet checked it
 *                against the saved payment and saved it (the payer then
 *                reclaims the coins online at once); 62 00 + code if the
 *                wallet did not take it.
 *   GET RESPONSE 00 C0 00 00 Le
 *                the next Le bytes of the pending response.
 *
 * Command chaining (ISO 7816-4 5.3.3): CLA bit 0x10 on every command of a
 * chain but the last; each such command is answered 90 00; the data are
 * concatenated and the command is processed when the last one arrives.
 *
 * Status words:
 *   90 00  done              61 XX  XX more bytes (00: 256 or more) - GET RESPONSE
 *   62 00  the payer's wallet refused: data = dc_err code (u16 big-endian),
 *          nothing was signed or changed (e.g. 1110 insufficient funds,
 *          1306 the payee's certificate expired, 4024 receipt mismatch)
 *   67 00  wrong length (bad Lc/Le encoding, data of the wrong size)
 *   68 83  last command of the chain expected (another command came mid-chain)
 *   68 84  chaining not supported for this instruction
 *   69 85  conditions not satisfied (not selected; GET RESPONSE with nothing pending)
 *   6A 80  incorrect data (the message does not decode)
 *   6A 82  application not found (SELECT of another AID)
 *   6A 86  incorrect P1-P2
 *   6D 00  instruction not supported      6E 00  class not supported
 *
 * Resuming after the field drops. The card keeps nothing across taps but
 * its wallet: the payer's wallet saves the signed payment before the first
 * byte of it leaves, so on the next tap the reader SELECTs and sends the
 * same PAY (the payee's session keeps the same request) and gets the same
 * payment again. A payee that already accepted (coins saved) sends CONFIRM
 * with its receipt straight after SELECT. Paid once, whatever tap drops.
 * ======================================================================
 *
 * THREAD SAFETY: reentrant; a context is used by one thread at a time.
 * Contexts are plain data (no pointers): copy, save or drop them freely.
 */
#ifndef DUCAT_APDU_H
#define DUCAT_APDU_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"
#include "ducat/proto.h"
#include "ducat/refusal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DC_APDU_AID_BYTES 7
extern const uint8_t dc_apdu_aid[DC_APDU_AID_BYTES]; /* F0 44 55 43 41 54 01 */

#define DC_APDU_CLA 0x80u       /* proprietary class of PAY and CONFIRM */
#define DC_APDU_CLA_CHAIN 0x10u /* command chaining bit */
#define DC_APDU_INS_SELECT 0xA4u
#define DC_APDU_INS_PAY 0x50u
#define DC_APDU_INS_CONFIRM 0x52u
#define DC_APDU_INS_REFUSE 0x54u
#define DC_APDU_INS_GET_RESPONSE 0xC0u

#define DC_SW_OK 0x9000u
#define DC_SW_MORE 0x6100u /* | bytes still available (0 = 256 or more) */
#define DC_SW_REFUSED 0x6200u
#define DC_SW_WRONG_LENGTH 0x6700u
#define DC_SW_CHAIN_LAST_EXPECTED 0x6883u
#define DC_SW_CHAIN_UNSUPPORTED 0x6884u
#define DC_SW_CONDITIONS 0x6985u
#define DC_SW_BAD_DATA 0x6A80u
#define DC_SW_NOT_FOUND 0x6A82u
#define DC_SW_BAD_P1P2 0x6A86u
#define DC_SW_INS 0x6D00u
#define DC_SW_CLA 0x6E00u

#define DC_APDU_SHORT_MAX 255u          /* data bytes of a short command */
#define DC_APDU_EXT_MAX 65535u          /* data bytes of an extended command */
#define DC_APDU_CMD_MAX (7 + 65535 + 2) /* largest command APDU */
/* Largest response the card writes: a whole payment and the status word. */
#define DC_APDU_RSP_MAX (DC_PAYMENT_MAX_BYTES + 2)
#define DC_CARD_IN_MAX 512 /* chained command data the card takes (a REQUEST is 228) */

/* ---- Card side (the payer's phone) ----------------------------------- */

/* dc_card_apdu events: what the host must do before the response. */
#define DC_CARD_NONE 0 /* the response is written: send it */
#define DC_CARD_PAY                                                                                \
    1 /* dc_card_message is a REQUEST: check it, build and                                         \
         SAVE the payment, then dc_card_answer (or refuse) */
#define DC_CARD_CONFIRM                                                                            \
    2 /* dc_card_message is a RECEIPT: check it against the                                        \
         saved payment, save, then dc_card_answer(NULL, 0) */
#define DC_CARD_REFUSAL                                                                            \
    3 /* dc_card_message is a REFUSAL: check it against the                                        \
         saved payment, keep it, save, then dc_card_answer(NULL, 0) */

struct dc_card {
    uint32_t magic;   /* DC_CARD_MAGIC */
    uint8_t selected; /* our AID was selected in this field */
    uint8_t state;    /* private */
    uint8_t ins;      /* instruction of the chain in progress or of the host's turn */
    uint8_t p1, p2;   /* and its parameters */
    uint8_t reserved[3];
    uint32_t le;      /* bytes the pending command accepts in its response */
    uint32_t in_len;  /* command data gathered (chaining) */
    uint32_t out_len; /* pending response data */
    uint32_t out_off; /* bytes of it already sent */
    uint8_t in[DC_CARD_IN_MAX];
    uint8_t out[DC_PAYMENT_MAX_BYTES];
};
#define DC_CARD_MAGIC 0x44434331u /* "DCC1" */

/* A new field (power on, or reset): nothing selected, nothing pending. */
void dc_card_init(struct dc_card *c);

/*
 * Processes one command APDU of len bytes. Writes the response (data and
 * status word) to rsp (cap >= DC_APDU_RSP_MAX is always enough) and sets
 * *event = DC_CARD_NONE; or, when a PAY or CONFIRM command is complete,
 * writes nothing (*rsp_len = 0) and sets *event to what the host must do
 * first. Anything the reader sends is answered with a status word, never
 * an error return: DC_ERR_INVALID_ARGUMENT / DC_ERR_BUFFER_TOO_SMALL /
 * DC_ERR_SESSION_CORRUPT are for the host's own mistakes only.
 */
DC_MUST_CHECK enum dc_err dc_card_apdu(struct dc_card *c, const uint8_t *cmd, size_t len,
                                       uint8_t *rsp, size_t cap, size_t *rsp_len, unsigned *event);
/* The message of the pending DC_CARD_PAY / DC_CARD_CONFIRM (NULL/0 if none). */
const uint8_t *dc_card_message(const struct dc_card *c, size_t *len);
/*
 * Answers the pending command: for PAY, the payment bytes (saved by the
 * wallet BEFORE this call); for CONFIRM, NULL/0. Writes the response
 * (first chunk, 61 XX or 90 00). DC_ERR_SESSION_STATE when nothing is
 * pending, DC_ERR_MSG_TOO_LARGE for a payment over DC_PAYMENT_MAX_BYTES.
 */
DC_MUST_CHECK enum dc_err dc_card_answer(struct dc_card *c, const uint8_t *data, size_t len,
                                         uint8_t *rsp, size_t cap, size_t *rsp_len);
/* Refuses the pending command: 62 00 with the code of why (u16 big-endian). */
DC_MUST_CHECK enum dc_err dc_card_refuse(struct dc_card *c, enum dc_err why, uint8_t *rsp,
                                         size_t cap, size_t *rsp_len);

/* ---- Reader side (the payee's terminal) ------------------------------ */

/*
 * The reader drives a payee session (struct dc_session, proto.h) over the
 * APDUs: SELECT, PAY (chained), GET RESPONSE until the payment is whole,
 * the payment pushed into the session (which then wants NEED_VERIFY and
 * NEED_PERSIST: the host does those on the session as for any transport),
 * then CONFIRM with the session's receipt. A session that accepted before
 * (restored after a dropped tap) goes from SELECT straight to CONFIRM.
 * A payment the host refuses for good (the session FAILED on NEED_VERIFY)
 * may be answered with the payee's signed refusal (dc_tap_refuse): REFUSE
 * in place of CONFIRM, and the tap ends FAILED with the refusal's reason,
 * dc_tap_refused() = 1 once the card took it.
 * The session is passed to every call (no pointer is kept).
 */
#define DC_TAP_SEND 0x01u   /* transmit dc_tap_command, then dc_tap_response */
#define DC_TAP_HOST 0x02u   /* the session wants NEED_VERIFY / NEED_PERSIST */
#define DC_TAP_DONE 0x04u   /* the card confirmed the receipt */
#define DC_TAP_FAILED 0x08u /* dc_tap_error says why */

/* SELECT, GET RESPONSE, a short segment, or a whole REQUEST in one
 * extended command (7 + 228 + 2 bytes). */
#define DC_TAP_CMD_MAX 272
struct dc_tap {
    uint32_t magic;
    uint8_t state, pre_select;
    uint8_t refused; /* the card took our REFUSAL (90 00) */
    uint8_t reserved;
    uint32_t segsize; /* dc_apdu_chain's seg */
    int32_t err;      /* once FAILED */
    uint16_t sw;      /* last status word */
    uint16_t reserved2;
    uint32_t seg;                        /* next chain segment */
    uint32_t le_next;                    /* Le of the next GET RESPONSE */
    uint32_t pay_len;                    /* payment bytes gathered */
    uint32_t cmd_len;                    /* the command to transmit */
    uint32_t apdus, bytes_out, bytes_in; /* counters of this tap */
    uint8_t cmd[DC_TAP_CMD_MAX];
    uint8_t refusal[DC_REFUSAL_BYTES]; /* what REFUSE carries (dc_tap_refuse) */
    uint8_t pay[DC_PAYMENT_MAX_BYTES];
};
#define DC_TAP_MAGIC 0x44435231u /* "DCR1" */

/* A new tap. seg = DC_APDU_EXTENDED sends each message in one extended
 * APDU and asks for the whole payment in one response (readers and phones
 * that support it); otherwise short APDUs of at most seg data bytes (0 =
 * 255), chained, and GET RESPONSE. */
void dc_tap_start(struct dc_tap *r, const struct dc_session *s, unsigned seg);
/* DC_TAP_* bits for the session s (as at start). */
unsigned dc_tap_want(const struct dc_tap *r, const struct dc_session *s);
/* The command APDU to transmit (NULL/0 unless SEND). */
const uint8_t *dc_tap_command(const struct dc_tap *r, size_t *len);
/* The card's response to that command. Status words other than the
 * expected fail the tap: DC_ERR_MSG_UNEXPECTED (an ISO error status),
 * or the card's own refusal code (62 00), see dc_tap_sw. */
void dc_tap_response(struct dc_tap *r, struct dc_session *s, const uint8_t *rsp, size_t len);
/*
 * Instead of dc_tap_resume, after the host's verification refused the
 * payment for good (the session FAILED; dc_offline_payee_refuse signed and
 * saved `refusal`): send it to the card (REFUSE). The tap then ends FAILED
 * with the refusal's reason as dc_tap_error; dc_tap_refused says whether
 * the card took it. DC_ERR_SESSION_STATE unless the tap waits on the host
 * and s has failed; DC_ERR_DECODE_* for a malformed refusal.
 */
DC_MUST_CHECK enum dc_err dc_tap_refuse(struct dc_tap *r, const struct dc_session *s,
                                        const uint8_t *refusal, size_t len);
/* 1 once the card answered 90 00 to our REFUSE: the payer holds the refusal. */
int dc_tap_refused(const struct dc_tap *r);
/* After the host served DC_TAP_HOST on the session: go on. */
void dc_tap_resume(struct dc_tap *r, const struct dc_session *s);
enum dc_err dc_tap_error(const struct dc_tap *r);
/* The last status word received (0 before any). */
unsigned dc_tap_sw(const struct dc_tap *r);

/* Builds command APDU `index` of the chain that carries msg (of msg_len
 * bytes) with instruction ins: short segments of seg bytes (1..255, 0 =
 * 255), the last with Le 00; or, with seg = DC_APDU_EXTENDED, one extended
 * command with Le 0000. DC_ERR_INVALID_ARGUMENT past the last segment. */
#define DC_APDU_EXTENDED 0xFFFFu
DC_MUST_CHECK enum dc_err dc_apdu_chain(uint8_t *out, size_t cap, size_t *out_len, uint8_t ins,
                                        const uint8_t *msg, size_t msg_len, size_t index,
                                        unsigned seg);
/* Commands of that chain (0 for an empty message or a bad seg). */
size_t dc_apdu_chain_count(size_t msg_len, unsigned seg);

#ifdef __cplusplus
}
#endif
#endif
