/*
 * internal.h - helpers shared by the core's coin modules (not installed).
 */
#ifndef DUCAT_CORE_INTERNAL_H
#define DUCAT_CORE_INTERNAL_H

#include "ducat/codec.h"
#include "ducat/coin.h"

/* Reads one device certificate (type, version, fields, signature). */
void dc_devcert_read(struct dc_reader *r, struct dc_devcert *c);
/* 1 if the device certificate is signed by signer_pub. */
int dc_devcert_sig_ok(const struct dc_devcert *c, const uint8_t signer_pub[static DC_PUBKEY_BYTES]);
/* Reads one record into rec; inside a coin (with_part) a split is followed
 * by the part byte. */
void dc_record_read(struct dc_reader *r, struct dc_record *rec, int with_part);
/* Reads one coin (self-delimiting) from r. */
void dc_coin_read(struct dc_reader *r, struct dc_coin *out);
/* Reads a genesis record. */
void dc_genesis_read(struct dc_reader *r, struct dc_genesis *g);
/* Length of a record's body (its encoding without the signature). */
size_t dc_record_body_len(const struct dc_record *rec);

#define DC_GENESIS_BODY (DC_GENESIS_BYTES - DC_SIG_BYTES)

#endif
