/*
 * coin.c - coin encoding, decoding, state hashes and the owner's operations
 * (transfer, split, deposit) that append signed records.
 *
 * Layouts (docs/PROTOCOL.md):
 *   coin     20 01 n:u8 genesis element*n
 *   genesis  10 01 key_id:u32 serial:16 currency:u32 value:i64 issued_at:u64
 *            expires_at:u64 hop_limit:u8 owner:devcert sig:64
 *   element  transfer | split part:u8 | deposit
 *   transfer 11 01 to:devcert nonce:16 sig:64
 *   split    12 01 n:u8 value:i64*n sig:64
 *   deposit  13 01 account:u64 time:u64 sig:64
 * Record signatures cover "DUCATSIG" || body || previous state hash.
 *
 * States are hashed over record bodies without signatures: an owner can make
 * many valid signatures of one body (Ed25519 nonces are the signer's
 * choice), and these must all name the same successor state, or one event
 * could be presented as two states and a later double spend would hide.
 */
#include <string.h>

#include "core/internal.h"
#include "ducat/amount.h"
#include "ducat/codec.h"
#include "ducat/coin.h"
#include "ducat/crypto.h"

static const char state_label[] = "ducat/state/v1";
static const char successor_label[] = "ducat/successor/v1";

void dc_serial_make(uint8_t out[static DC_SERIAL_BYTES], uint64_t issued_at,
                    const uint8_t rnd[static DC_SERIAL_RANDOM_BYTES])
{
    for (int i = 0; i < 6; i++) out[i] = (uint8_t)(issued_at >> (8 * (5 - i)));
    memcpy(out + 6, rnd, DC_SERIAL_RANDOM_BYTES);
}

/* ---- Genesis ---------------------------------------------------------- */

static void genesis_write(struct dc_writer *w, const struct dc_genesis *g, int with_sig)
{
    uint8_t cert[DC_DEVCERT_BYTES];
    dc_write_u8(w, DC_TYPE_GENESIS);
    dc_write_u8(w, DC_WIRE_VERSION);
    dc_write_u32(w, g->key_id);
    dc_write_bytes(w, g->serial, DC_SERIAL_BYTES);
    dc_write_u32(w, g->currency);
    dc_write_i64(w, g->value);
    dc_write_u64(w, g->issued_at);
    dc_write_u64(w, g->expires_at);
    dc_write_u8(w, g->hop_limit);
    dc_devcert_encode(cert, &g->owner);
    dc_write_bytes(w, cert, sizeof cert);
    if (with_sig) dc_write_bytes(w, g->sig, DC_SIG_BYTES);
}

void dc_genesis_read(struct dc_reader *r, struct dc_genesis *g)
{
    if (dc_read_u8(r) != DC_TYPE_GENESIS) dc_reader_fail(r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(r) != DC_WIRE_VERSION) dc_reader_fail(r, DC_ERR_DECODE_VERSION);
    g->key_id = dc_read_u32(r);
    dc_read_copy(r, g->serial, DC_SERIAL_BYTES);
    g->currency = dc_read_u32(r);
    g->value = dc_read_i64(r);
    g->issued_at = dc_read_u64(r);
    g->expires_at = dc_read_u64(r);
    g->hop_limit = dc_read_u8(r);
    dc_devcert_read(r, &g->owner);
    dc_read_copy(r, g->sig, DC_SIG_BYTES);
    if (g->value <= 0) dc_reader_fail(r, DC_ERR_COIN_VALUE);
    if (g->expires_at <= g->issued_at) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
    if (g->hop_limit > DC_HOP_LIMIT_MAX) dc_reader_fail(r, DC_ERR_HOP_LIMIT);
}

enum dc_err dc_coin_issue(uint8_t *out, size_t cap, size_t *out_len, struct dc_genesis *g,
                          const uint8_t signing_sk[static DC_SECKEY_BYTES])
{
    size_t need = DC_COIN_HEADER_BYTES + DC_GENESIS_BYTES;
    *out_len = need;
    if (g->value <= 0) return DC_ERR_COIN_VALUE;
    if (g->expires_at <= g->issued_at) return DC_ERR_INVALID_ARGUMENT;
    if (g->hop_limit > DC_HOP_LIMIT_MAX) return DC_ERR_HOP_LIMIT;
    if (g->owner.offline_limit < 0) return DC_ERR_INVALID_ARGUMENT;
    if (cap < need) return DC_ERR_BUFFER_TOO_SMALL;

    struct dc_writer w;
    dc_writer_init(&w, out, cap);
    dc_write_u8(&w, DC_TYPE_COIN);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_u8(&w, 0);
    genesis_write(&w, g, 0);
    dc_sign(g->sig, out + DC_COIN_HEADER_BYTES, DC_GENESIS_BODY, NULL, signing_sk);
    dc_write_bytes(&w, g->sig, DC_SIG_BYTES);
    return w.overflow ? DC_ERR_BUFFER_TOO_SMALL : DC_OK;
}

/* ---- Records ---------------------------------------------------------- */

size_t dc_record_body_len(const struct dc_record *rec)
{
    return rec->len - DC_SIG_BYTES;
}

void dc_record_read(struct dc_reader *r, struct dc_record *rec, int with_part)
{
    size_t start = r->pos;
    memset(rec, 0, sizeof *rec);
    rec->type = dc_read_u8(r);
    if (dc_read_u8(r) != DC_WIRE_VERSION) dc_reader_fail(r, DC_ERR_DECODE_VERSION);
    switch (rec->type) {
    case DC_TYPE_TRANSFER:
        dc_devcert_read(r, &rec->u.transfer.to);
        dc_read_copy(r, rec->u.transfer.nonce, DC_NONCE_BYTES);
        break;
    case DC_TYPE_SPLIT: {
        uint8_t n = dc_read_u8(r);
        if (n < 1 || n > DC_SPLIT_PARTS_MAX) {
            dc_reader_fail(r, DC_ERR_SPLIT_COUNT);
            return;
        }
        rec->u.split.n = n;
        for (uint8_t i = 0; i < n; i++) rec->u.split.values[i] = dc_read_i64(r);
        break;
    }
    case DC_TYPE_DEPOSIT:
        rec->u.deposit.account = dc_read_u64(r);
        rec->u.deposit.time = dc_read_u64(r);
        break;
    default:
        dc_reader_fail(r, DC_ERR_DECODE_TYPE);
        return;
    }
    dc_read_copy(r, rec->sig, DC_SIG_BYTES);
    if (r->err != DC_OK) return;
    rec->bytes = r->p + start;
    rec->len = r->pos - start;
    if (rec->type == DC_TYPE_SPLIT && with_part) {
        rec->u.split.part = dc_read_u8(r);
        if (rec->u.split.part >= rec->u.split.n) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
    }
}

void dc_coin_read(struct dc_reader *r, struct dc_coin *out)
{
    if (dc_read_u8(r) != DC_TYPE_COIN) dc_reader_fail(r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(r) != DC_WIRE_VERSION) dc_reader_fail(r, DC_ERR_DECODE_VERSION);
    size_t n = dc_read_u8(r);
    if (n > DC_HOP_LIMIT_MAX + 1) dc_reader_fail(r, DC_ERR_HOP_LIMIT);
    out->genesis_bytes = r->p + r->pos;
    if (r->err == DC_OK) dc_genesis_read(r, &out->genesis);
    out->n = 0;
    for (size_t i = 0; i < n && r->err == DC_OK; i++) {
        dc_record_read(r, &out->rec[i], 1);
        out->n = i + 1;
    }
}

enum dc_err dc_coin_decode(struct dc_coin *out, const uint8_t *in, size_t len)
{
    struct dc_reader r;
    dc_reader_init(&r, in, len);
    dc_coin_read(&r, out);
    enum dc_err e = dc_reader_finish(&r);
    if (e != DC_OK) {
        memset(out, 0, sizeof *out);
        return e;
    }
    return DC_OK;
}

int64_t dc_coin_value(const struct dc_coin *c)
{
    int64_t v = c->genesis.value;
    for (size_t i = 0; i < c->n; i++) {
        if (c->rec[i].type == DC_TYPE_SPLIT) v = c->rec[i].u.split.values[c->rec[i].u.split.part];
    }
    return v;
}

const struct dc_devcert *dc_coin_owner(const struct dc_coin *c)
{
    const struct dc_devcert *o = &c->genesis.owner;
    for (size_t i = 0; i < c->n; i++) {
        if (c->rec[i].type == DC_TYPE_TRANSFER) o = &c->rec[i].u.transfer.to;
    }
    return o;
}

/* ---- State hashes ----------------------------------------------------- */

void dc_state_genesis(uint8_t out[static DC_HASH_BYTES], const uint8_t *genesis_bytes)
{
    struct dc_hash h;
    dc_hash_init(&h, state_label);
    dc_hash_update(&h, genesis_bytes, DC_GENESIS_BODY);
    dc_hash_final(&h, out);
}

void dc_state_next(uint8_t out[static DC_HASH_BYTES], const uint8_t prev[static DC_HASH_BYTES],
                   const struct dc_record *rec)
{
    struct dc_hash h;
    dc_hash_init(&h, state_label);
    dc_hash_update(&h, prev, DC_HASH_BYTES);
    dc_hash_update(&h, rec->bytes, dc_record_body_len(rec));
    if (rec->type == DC_TYPE_SPLIT) dc_hash_update(&h, &rec->u.split.part, 1);
    dc_hash_final(&h, out);
}

void dc_coin_state(uint8_t out[static DC_HASH_BYTES], const struct dc_coin *c, size_t k)
{
    uint8_t s[DC_HASH_BYTES];
    dc_state_genesis(s, c->genesis_bytes);
    for (size_t i = 0; i < k && i < c->n; i++) dc_state_next(s, s, &c->rec[i]);
    memcpy(out, s, DC_HASH_BYTES);
}

void dc_coin_successor(uint8_t out[static DC_HASH_BYTES], const struct dc_coin *c, size_t k)
{
    struct dc_hash h;
    dc_hash_init(&h, successor_label);
    if (k < c->n) dc_hash_update(&h, c->rec[k].bytes, dc_record_body_len(&c->rec[k]));
    dc_hash_final(&h, out);
}

/* ---- Owner operations ------------------------------------------------- */

static size_t hops_used(const struct dc_coin *c)
{
    size_t h = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->rec[i].type != DC_TYPE_DEPOSIT) h++;
    }
    return h;
}

/*
 * Common front half of every append: decode, refuse a finished coin, check
 * the key is the owner's, compute the current state.
 */
static enum dc_err begin_append(struct dc_coin *c, uint8_t state[static DC_HASH_BYTES],
                                const uint8_t *buf, size_t len,
                                const uint8_t owner_sk[static DC_SECKEY_BYTES], int is_hop)
{
    enum dc_err e = dc_coin_decode(c, buf, len);
    if (e != DC_OK) return e;
    if (c->n > 0 && c->rec[c->n - 1].type == DC_TYPE_DEPOSIT) return DC_ERR_CHAIN_ORDER;
    if (c->n >= DC_HOP_LIMIT_MAX + 1) return DC_ERR_HOP_LIMIT;
    if (is_hop && hops_used(c) >= c->genesis.hop_limit) return DC_ERR_HOP_LIMIT;
    /* libsodium secret keys end with the public key. */
    if (memcmp(owner_sk + DC_SEED_BYTES, dc_coin_owner(c)->pub, DC_PUBKEY_BYTES) != 0) {
        return DC_ERR_NOT_OWNER;
    }
    dc_coin_state(state, c, c->n);
    return DC_OK;
}

/* Signs body (already at buf+*len), appends the signature and the optional
 * part byte, and bumps the record count in the header. */
static void finish_append(uint8_t *buf, size_t *len, size_t body_len,
                          const uint8_t state[static DC_HASH_BYTES],
                          const uint8_t owner_sk[static DC_SECKEY_BYTES], int part)
{
    uint8_t *rec = buf + *len;
    dc_sign(rec + body_len, rec, body_len, state, owner_sk);
    size_t n = body_len + DC_SIG_BYTES;
    if (part >= 0) rec[n++] = (uint8_t)part;
    *len += n;
    buf[2] = (uint8_t)(buf[2] + 1);
}

enum dc_err dc_coin_transfer(uint8_t *buf, size_t cap, size_t *len,
                             const uint8_t owner_sk[static DC_SECKEY_BYTES],
                             const uint8_t to_cert[static DC_DEVCERT_BYTES],
                             const uint8_t nonce[static DC_NONCE_BYTES])
{
    struct dc_coin c;
    uint8_t state[DC_HASH_BYTES];
    struct dc_devcert to;
    if (*len > cap) return DC_ERR_INVALID_ARGUMENT;
    enum dc_err e = dc_devcert_decode(&to, to_cert, DC_DEVCERT_BYTES);
    if (e != DC_OK) return e;
    e = begin_append(&c, state, buf, *len, owner_sk, 1);
    if (e != DC_OK) return e;
    if (cap - *len < DC_TRANSFER_BYTES) return DC_ERR_BUFFER_TOO_SMALL;
    uint8_t *rec = buf + *len;
    rec[0] = DC_TYPE_TRANSFER;
    rec[1] = DC_WIRE_VERSION;
    memcpy(rec + 2, to_cert, DC_DEVCERT_BYTES);
    memcpy(rec + 2 + DC_DEVCERT_BYTES, nonce, DC_NONCE_BYTES);
    finish_append(buf, len, DC_TRANSFER_BYTES - DC_SIG_BYTES, state, owner_sk, -1);
    return DC_OK;
}

enum dc_err dc_coin_split(uint8_t *buf, size_t cap, size_t *len,
                          const uint8_t owner_sk[static DC_SECKEY_BYTES], const int64_t *values,
                          size_t n)
{
    struct dc_coin c;
    uint8_t state[DC_HASH_BYTES];
    if (n < 2 || n > DC_SPLIT_PARTS_MAX) return DC_ERR_SPLIT_COUNT;
    if (*len > cap) return DC_ERR_INVALID_ARGUMENT;
    enum dc_err e = begin_append(&c, state, buf, *len, owner_sk, 1);
    if (e != DC_OK) return e;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (values[i] <= 0) return DC_ERR_SPLIT_PART;
        if (dc_i64_add(&sum, sum, values[i]) != DC_OK) return DC_ERR_SPLIT_SUM;
    }
    if (sum != dc_coin_value(&c)) return DC_ERR_SPLIT_SUM;
    size_t rec_len = DC_SPLIT_BYTES(n);
    if (cap - *len < rec_len + 1) return DC_ERR_BUFFER_TOO_SMALL;
    struct dc_writer w;
    dc_writer_init(&w, buf + *len, cap - *len);
    dc_write_u8(&w, DC_TYPE_SPLIT);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_u8(&w, (uint8_t)n);
    for (size_t i = 0; i < n; i++) dc_write_i64(&w, values[i]);
    finish_append(buf, len, rec_len - DC_SIG_BYTES, state, owner_sk, 0);
    return DC_OK;
}

enum dc_err dc_coin_select_part(uint8_t *buf, size_t len, uint8_t part)
{
    struct dc_coin c;
    enum dc_err e = dc_coin_decode(&c, buf, len);
    if (e != DC_OK) return e;
    if (c.n == 0 || c.rec[c.n - 1].type != DC_TYPE_SPLIT) return DC_ERR_CHAIN_ORDER;
    if (part >= c.rec[c.n - 1].u.split.n) return DC_ERR_INVALID_ARGUMENT;
    buf[len - 1] = part;
    return DC_OK;
}

enum dc_err dc_coin_deposit(uint8_t *buf, size_t cap, size_t *len,
                            const uint8_t owner_sk[static DC_SECKEY_BYTES], uint64_t account,
                            uint64_t time)
{
    struct dc_coin c;
    uint8_t state[DC_HASH_BYTES];
    if (*len > cap) return DC_ERR_INVALID_ARGUMENT;
    enum dc_err e = begin_append(&c, state, buf, *len, owner_sk, 0);
    if (e != DC_OK) return e;
    if (cap - *len < DC_DEPOSIT_BYTES) return DC_ERR_BUFFER_TOO_SMALL;
    struct dc_writer w;
    dc_writer_init(&w, buf + *len, cap - *len);
    dc_write_u8(&w, DC_TYPE_DEPOSIT);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_u64(&w, account);
    dc_write_u64(&w, time);
    finish_append(buf, len, DC_DEPOSIT_BYTES - DC_SIG_BYTES, state, owner_sk, -1);
    return DC_OK;
}
