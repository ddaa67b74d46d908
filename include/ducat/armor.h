/*
 * ducat/armor.h - text armor for binary objects (files, QR codes, chat).
 *
 * Format (one line; whitespace - space, tab, CR, LF - anywhere is ignored on
 * input so the text survives line wrapping and indentation):
 *
 *     ducat:<kind>:1:<base64url, no padding>:<checksum>
 *
 * <kind> is a lower-case word from enum dc_armor_kind ("coin", "request",
 * ...); "1" is the armor version; <checksum> is 8 lower-case hex digits: the
 * first 4 bytes of BLAKE2b-256("ducat-armor" || "ducat:<kind>:1:" || payload
 * bytes), unkeyed, no separators. A typo fails the checksum
 * (DC_ERR_ARMOR_CHECKSUM) before any signature is looked at. Decoding is
 * strict: lower-case "ducat" prefix, canonical base64 only (zero padding
 * bits, no '='), exact kind, exact version. The payload is never empty (no
 * Ducat object is), so "ducat:coin:1::<checksum>" is a syntax error.
 *
 * Example (pinned in tests/unit/test_armor.c): bytes 00 01 .. 0f as a coin are
 *     ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916
 *
 * THREAD SAFETY: pure functions (no I/O, allocation or global state). The
 * caller must have called sodium_init().
 */
#ifndef DUCAT_ARMOR_H
#define DUCAT_ARMOR_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

enum dc_armor_kind {
    DC_ARMOR_COIN = 1, /* "coin": a coin chain */
    DC_ARMOR_REQUEST,  /* "request": offline payment request */
    DC_ARMOR_PAYMENT,  /* "payment": offline payment */
    DC_ARMOR_RECEIPT,  /* "receipt": offline payment receipt */
    DC_ARMOR_EVIDENCE, /* "evidence": fork evidence package */
    DC_ARMOR_KEYCERT,  /* "keycert": issuer signing-key certificate */
    DC_ARMOR_KEYREQ,   /* "keyreq": signing-key certification request */
    DC_ARMOR_DEVCERT,  /* "devcert": device certificate */
    DC_ARMOR_REFUSAL,  /* "refusal": the payee's signed refusal (ducat/refusal.h) */
};

/* The kind's word ("coin"), or NULL for an unknown kind. */
const char *dc_armor_kind_name(enum dc_armor_kind kind);

/*
 * Exact armored length for a payload of `len` bytes (no NUL). Returns 0 when
 * no armor exists: unknown kind, len == 0, or a length that overflows size_t.
 */
size_t dc_armor_encoded_len(enum dc_armor_kind kind, size_t len);

/*
 * Armors bin[0..len) into out (NUL-terminated). Returns DC_ERR_BUFFER_TOO_SMALL
 * with *out_len = bytes needed including the NUL if cap is too small (out may
 * be NULL with cap 0 to ask for the size); otherwise *out_len = text length
 * (without the NUL). DC_ERR_INVALID_ARGUMENT (a caller bug) for an unknown
 * kind, len == 0 or bin == NULL. On error *out_len is 0 (except as above)
 * and out, if not NULL and cap > 0, holds "".
 */
DC_MUST_CHECK enum dc_err dc_armor_encode(char *out, size_t cap, size_t *out_len,
                                          enum dc_armor_kind kind, const uint8_t *bin, size_t len);

/*
 * Decodes text[0..len) (not NUL-terminated; an embedded NUL is an error)
 * expecting `kind`. Checks run in this order, the first failure wins:
 *   DC_ERR_ARMOR_SYNTAX   shape and characters: anything but printable ASCII
 *                         and whitespace, not exactly four ':', prefix not
 *                         "ducat", kind not [a-z]+, version not [0-9]+, body
 *                         empty or not [A-Za-z0-9_-]+, checksum not [0-9a-f]{8}
 *   DC_ERR_ARMOR_KIND     a well-formed kind word other than `kind`, whether
 *                         or not this code knows it (a newer kind is still
 *                         "the wrong kind", not malformed text)
 *   DC_ERR_ARMOR_VERSION  a version other than exactly "1" ("2", "01")
 *   DC_ERR_ARMOR_SYNTAX   invalid base64: length = 1 mod 4, nonzero padding bits
 *   DC_ERR_ARMOR_CHECKSUM checksum mismatch
 *   DC_ERR_BUFFER_TOO_SMALL  valid armor but cap < payload size; *out_len =
 *                         payload size (out may be NULL with cap 0 to ask)
 * DC_ERR_INVALID_ARGUMENT (a caller bug) if `kind` itself is unknown. On
 * success *out_len = payload size; on any other error *out_len = 0 and
 * nothing meaningful is left in out (partially written bytes are wiped).
 */
DC_MUST_CHECK enum dc_err dc_armor_decode(uint8_t *out, size_t cap, size_t *out_len,
                                          enum dc_armor_kind kind, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
