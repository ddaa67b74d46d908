/*
 * evidence.c - fork evidence: a self-contained proof of a double spend.
 *
 * Layout (docs/PROTOCOL.md):
 *   evidence 30 01 nkeys:u8 keycert*nkeys prefix:coin succ_a:record succ_b:record
 * The prefix is the common history up to the forked state; succ_a and
 * succ_b are two records consuming that state, each signed by its owner,
 * with different bodies, in ascending byte order (so one fork has one
 * encoding, whichever branch arrived first). Anyone holding the master
 * public key can check it: no clock, no revocation list, no database.
 */
#include <string.h>

#include "core/internal.h"
#include "ducat/codec.h"
#include "ducat/coin.h"
#include "ducat/crypto.h"
#include "ducat/refusal.h"

static int same_body(const struct dc_record *a, const struct dc_record *b)
{
    size_t la = dc_record_body_len(a);
    return la == dc_record_body_len(b) && memcmp(a->bytes, b->bytes, la) == 0;
}

/* Orders two records by their bytes (shorter first on a common prefix). */
static int record_cmp(const struct dc_record *a, const struct dc_record *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->bytes, b->bytes, n);
    if (c != 0) return c;
    return (a->len > b->len) - (a->len < b->len);
}

static enum dc_err add_key_id(uint32_t *ids, size_t *n, uint32_t id)
{
    for (size_t i = 0; i < *n; i++) {
        if (ids[i] == id) return DC_OK;
    }
    if (*n >= DC_EVIDENCE_KEYS_MAX) return DC_ERR_LIMIT_EXCEEDED;
    ids[(*n)++] = id;
    return DC_OK;
}

/* The signing-key certificates of ids, from t, in that order. */
static enum dc_err write_keycerts(struct dc_writer *w, const struct dc_trust *t,
                                  const uint32_t *ids, size_t n_ids)
{
    for (size_t i = 0; i < n_ids; i++) {
        const struct dc_trust_key *key = dc_trust_find_key(t, ids[i]);
        if (!key) return DC_ERR_UNKNOWN_KEY;
        uint8_t kc[DC_KEYCERT_BYTES];
        dc_keycert_encode(kc, &key->cert);
        dc_write_bytes(w, kc, sizeof kc);
    }
    return DC_OK;
}

enum dc_err dc_evidence_build(uint8_t *out, size_t cap, size_t *out_len, const struct dc_trust *t,
                              const struct dc_coin *a, const struct dc_coin *b)
{
    *out_len = 0;
    if (memcmp(a->genesis_bytes, b->genesis_bytes, DC_GENESIS_BODY) != 0) return DC_ERR_NO_FORK;
    size_t k = 0;
    for (;; k++) {
        if (k >= a->n || k >= b->n) return DC_ERR_NO_FORK; /* one extends the other */
        const struct dc_record *ra = &a->rec[k], *rb = &b->rec[k];
        if (!same_body(ra, rb)) break;
        /* Same split, different parts: siblings, both legitimate. */
        if (ra->type == DC_TYPE_SPLIT && ra->u.split.part != rb->u.split.part) {
            return DC_ERR_NO_FORK;
        }
    }

    uint32_t ids[DC_EVIDENCE_KEYS_MAX] = {0};
    size_t n_ids = 0;
    enum dc_err e = add_key_id(ids, &n_ids, a->genesis.key_id);
    if (e == DC_OK) e = add_key_id(ids, &n_ids, a->genesis.owner.key_id);
    for (size_t i = 0; i < k && e == DC_OK; i++) {
        if (a->rec[i].type == DC_TYPE_TRANSFER) {
            e = add_key_id(ids, &n_ids, a->rec[i].u.transfer.to.key_id);
        }
    }
    if (e != DC_OK) return e;

    const struct dc_record *first = &a->rec[k], *second = &b->rec[k];
    if (record_cmp(first, second) > 0) {
        first = &b->rec[k];
        second = &a->rec[k];
    }

    struct dc_writer w;
    dc_writer_init(&w, out, cap);
    dc_write_u8(&w, DC_TYPE_EVIDENCE);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_u8(&w, (uint8_t)n_ids);
    e = write_keycerts(&w, t, ids, n_ids);
    if (e != DC_OK) return e;
    dc_write_u8(&w, DC_TYPE_COIN);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_u8(&w, (uint8_t)k);
    dc_write_bytes(&w, a->genesis_bytes, DC_GENESIS_BYTES);
    for (size_t i = 0; i < k; i++) {
        dc_write_bytes(&w, a->rec[i].bytes, a->rec[i].len);
        if (a->rec[i].type == DC_TYPE_SPLIT) dc_write_u8(&w, a->rec[i].u.split.part);
    }
    dc_write_bytes(&w, first->bytes, first->len);
    dc_write_bytes(&w, second->bytes, second->len);
    *out_len = w.len;
    return w.overflow ? DC_ERR_BUFFER_TOO_SMALL : DC_OK;
}

/* Big views live in one struct so the verifier's stack use is explicit. */
struct evidence_view {
    struct dc_trust trust;
    struct dc_coin prefix;
    struct dc_record succ[2];
};

/* Sets *why to the check that failed (a static string) and returns e. */
static enum dc_err refuse(const char **why, const char *what, enum dc_err e)
{
    *why = what;
    return e;
}

/* Both evidence kinds start `tag 01 k:u8 keycert[k]`. */
static void read_head(struct dc_reader *r, uint8_t tag, struct dc_keycert *keys, size_t *n_keys)
{
    if (dc_read_u8(r) != tag) dc_reader_fail(r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(r) != DC_WIRE_VERSION) dc_reader_fail(r, DC_ERR_DECODE_VERSION);
    *n_keys = dc_read_u8(r);
    if (*n_keys == 0 || *n_keys > DC_EVIDENCE_KEYS_MAX) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
    for (size_t i = 0; i < *n_keys && r->err == DC_OK; i++) {
        const uint8_t *kc = dc_read_bytes(r, DC_KEYCERT_BYTES);
        if (kc) {
            enum dc_err e = dc_keycert_decode(&keys[i], kc, DC_KEYCERT_BYTES);
            if (e != DC_OK) dc_reader_fail(r, e);
        }
    }
}

/* The trust of a verifier holding only the master key and the evidence's
 * keycerts. A proof is timeless: the records were signed, whatever the
 * date. */
static enum dc_err trust_keys(struct dc_trust *t, const char **why,
                              const uint8_t master_pub[static DC_PUBKEY_BYTES], uint32_t currency,
                              const struct dc_keycert *keys, size_t n_keys)
{
    dc_trust_init(t, master_pub, currency, 0);
    t->flags = DC_VERIFY_IGNORE_TIME;
    t->max_hops = DC_HOP_LIMIT_MAX;
    for (size_t i = 0; i < n_keys; i++) {
        for (size_t j = 0; j < i; j++) {
            if (keys[j].key_id == keys[i].key_id) {
                return refuse(why, "a signing-key certificate is repeated",
                              DC_ERR_EVIDENCE_INVALID);
            }
        }
        if (dc_trust_add_key(t, &keys[i], 0) != DC_OK) {
            return refuse(why,
                          "a signing-key certificate is not signed by this master key "
                          "(another issuer's evidence, or altered)",
                          DC_ERR_EVIDENCE_INVALID);
        }
    }
    return DC_OK;
}

static enum dc_err verify_view(struct evidence_view *v, struct dc_evidence_info *out,
                               const char **why, const uint8_t master_pub[static DC_PUBKEY_BYTES],
                               const uint8_t *in, size_t len)
{
    struct dc_reader r;
    struct dc_keycert keys[DC_EVIDENCE_KEYS_MAX];
    size_t n_keys;
    dc_reader_init(&r, in, len);
    read_head(&r, DC_TYPE_EVIDENCE, keys, &n_keys);
    if (r.err == DC_OK) dc_coin_read(&r, &v->prefix);
    if (r.err == DC_OK) dc_record_read(&r, &v->succ[0], 0);
    if (r.err == DC_OK) dc_record_read(&r, &v->succ[1], 0);
    enum dc_err e = dc_reader_finish(&r);
    if (e != DC_OK) return refuse(why, "the evidence does not decode", e);
    e = trust_keys(&v->trust, why, master_pub, v->prefix.genesis.currency, keys, n_keys);
    if (e != DC_OK) return e;
    struct dc_verify_result res;
    if (dc_coin_verify(&res, &v->trust, &v->prefix, NULL, NULL) != DC_OK) {
        return refuse(why, "the coin's chain up to the forked state does not verify",
                      DC_ERR_EVIDENCE_INVALID);
    }
    const struct dc_devcert *owner = dc_coin_owner(&v->prefix);
    for (int i = 0; i < 2; i++) {
        const struct dc_record *s = &v->succ[i];
        if (!dc_sign_check(s->sig, s->bytes, dc_record_body_len(s), res.state, owner->pub)) {
            return refuse(why,
                          i == 0 ? "successor A is not signed by the owner of the forked state"
                                 : "successor B is not signed by the owner of the forked state",
                          DC_ERR_EVIDENCE_INVALID);
        }
    }
    if (same_body(&v->succ[0], &v->succ[1])) {
        return refuse(why, "the two successors are one event (same body): no double spend",
                      DC_ERR_EVIDENCE_INVALID);
    }
    if (record_cmp(&v->succ[0], &v->succ[1]) >= 0) {
        return refuse(why, "the successors are not in canonical (byte) order",
                      DC_ERR_EVIDENCE_INVALID);
    }
    out->kind = DC_TYPE_EVIDENCE;
    memcpy(out->culprit, owner->pub, DC_PUBKEY_BYTES);
    memcpy(out->alias, owner->alias, DC_ALIAS_BYTES);
    memcpy(out->serial, v->prefix.genesis.serial, DC_SERIAL_BYTES);
    memcpy(out->state, res.state, DC_HASH_BYTES);
    out->value = res.value;
    out->fork_index = v->prefix.n;
    out->type_a = v->succ[0].type;
    out->type_b = v->succ[1].type;
    for (int i = 0; i < 2; i++) {
        out->succ_off[i] = (size_t)(v->succ[i].bytes - in);
        out->succ_len[i] = v->succ[i].len;
    }
    return DC_OK;
}

/* ---- Refusal evidence (ducat/refusal.h) --------------------------------- */

/* The key ids coin c needs, in the order fork evidence lists them. */
static enum dc_err coin_key_ids(uint32_t ids[static DC_EVIDENCE_KEYS_MAX], size_t *n,
                                const struct dc_coin *c)
{
    *n = 0;
    enum dc_err e = add_key_id(ids, n, c->genesis.key_id);
    if (e == DC_OK) e = add_key_id(ids, n, c->genesis.owner.key_id);
    for (size_t i = 0; i < c->n && e == DC_OK; i++) {
        if (c->rec[i].type == DC_TYPE_TRANSFER)
            e = add_key_id(ids, n, c->rec[i].u.transfer.to.key_id);
    }
    return e;
}

enum dc_err dc_refusal_evidence_build(uint8_t *out, size_t cap, size_t *out_len,
                                      const struct dc_trust *t,
                                      const uint8_t refusal[static DC_REFUSAL_BYTES],
                                      const uint8_t *const *coin, const size_t *coin_len, size_t n,
                                      size_t idx, const struct dc_coin *refused,
                                      const struct dc_record *succ)
{
    *out_len = 0;
    if (n == 0 || n > DC_REFUSAL_EVIDENCE_COINS_MAX || idx >= n) return DC_ERR_INVALID_ARGUMENT;
    uint32_t ids[DC_EVIDENCE_KEYS_MAX] = {0};
    size_t n_ids = 0;
    enum dc_err e = coin_key_ids(ids, &n_ids, refused);
    if (e != DC_OK) return e;
    /* the size first: every term is bounded (n <= 255, len <= 65,535) */
    size_t coins = 0;
    for (size_t i = 0; i < n; i++) {
        if (coin_len[i] == 0 || coin_len[i] > 0xffff) return DC_ERR_INVALID_ARGUMENT;
        coins += 2 + coin_len[i];
    }
    /* what no payment carries, no reader would take */
    if (coins > DC_REFUSAL_EVIDENCE_COINS_BYTES) return DC_ERR_INVALID_ARGUMENT;
    size_t need = 3 + n_ids * DC_KEYCERT_BYTES + DC_REFUSAL_BYTES + 2 + coins + succ->len;
    if (need > cap) {
        *out_len = need;
        return DC_ERR_BUFFER_TOO_SMALL;
    }
    struct dc_writer w;
    dc_writer_init(&w, out, cap);
    dc_write_u8(&w, DC_TYPE_REFUSAL_EVIDENCE);
    dc_write_u8(&w, DC_WIRE_VERSION);
    dc_write_u8(&w, (uint8_t)n_ids);
    e = write_keycerts(&w, t, ids, n_ids);
    if (e != DC_OK) return e;
    dc_write_bytes(&w, refusal, DC_REFUSAL_BYTES);
    dc_write_u8(&w, (uint8_t)n);
    dc_write_u8(&w, (uint8_t)idx);
    for (size_t i = 0; i < n; i++) {
        uint8_t l[2] = {(uint8_t)(coin_len[i] & 0xff), (uint8_t)(coin_len[i] >> 8)};
        dc_write_bytes(&w, l, sizeof l);
        dc_write_bytes(&w, coin[i], coin_len[i]);
    }
    dc_write_bytes(&w, succ->bytes, succ->len);
    if (w.overflow) return DC_ERR_BUFFER_TOO_SMALL;
    *out_len = w.len;
    return DC_OK;
}

/*
 * Checks a refusal evidence: the keycerts under the master key, coin[idx]
 * (the refused coin, ending in the payer's TRANSFER that made state S the
 * payee's) verified timelessly, the REFUSAL signed by that payee with the
 * TRANSFER's nonce and naming exactly this payment (its hash rebuilt from
 * the refusal's request hash and the coins in their order), and the record
 * consuming S signed by the same payee over S. Successor A is the refusal,
 * B the record.
 */
static enum dc_err verify_refusal_view(struct evidence_view *v, struct dc_evidence_info *out,
                                       const char **why,
                                       const uint8_t master_pub[static DC_PUBKEY_BYTES],
                                       const uint8_t *in, size_t len)
{
    struct dc_reader r;
    struct dc_keycert keys[DC_EVIDENCE_KEYS_MAX];
    size_t n_keys;
    const uint8_t *coin[255];
    size_t coin_len[255];
    dc_reader_init(&r, in, len);
    read_head(&r, DC_TYPE_REFUSAL_EVIDENCE, keys, &n_keys);
    const uint8_t *ref = dc_read_bytes(&r, DC_REFUSAL_BYTES);
    size_t n = dc_read_u8(&r), idx = dc_read_u8(&r);
    /* one payment's coins, within one payment's limits */
    if (r.err == DC_OK && (n == 0 || idx >= n || n > DC_REFUSAL_EVIDENCE_COINS_MAX))
        dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
    size_t coins = 0;
    for (size_t i = 0; i < n && r.err == DC_OK; i++) {
        uint8_t lo = dc_read_u8(&r), hi = dc_read_u8(&r);
        coin_len[i] = (size_t)(lo | (unsigned)hi << 8);
        coins += 2 + coin_len[i];
        if (r.err == DC_OK && (coin_len[i] == 0 || coins > DC_REFUSAL_EVIDENCE_COINS_BYTES))
            dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
        coin[i] = dc_read_bytes(&r, coin_len[i]);
    }
    if (r.err == DC_OK) dc_record_read(&r, &v->succ[1], 0);
    enum dc_err e = dc_reader_finish(&r);
    struct dc_refusal rf;
    if (e == DC_OK) e = dc_refusal_decode(&rf, ref, DC_REFUSAL_BYTES);
    if (e == DC_OK) e = dc_coin_decode(&v->prefix, coin[idx], coin_len[idx]);
    if (e != DC_OK) return refuse(why, "the evidence does not decode", e);
    e = trust_keys(&v->trust, why, master_pub, v->prefix.genesis.currency, keys, n_keys);
    if (e != DC_OK) return e;

    struct dc_verify_result res;
    if (dc_coin_verify(&res, &v->trust, &v->prefix, NULL, NULL) != DC_OK) {
        return refuse(why, "the refused coin's chain does not verify", DC_ERR_EVIDENCE_INVALID);
    }
    const struct dc_coin *c = &v->prefix;
    if (c->n == 0 || c->rec[c->n - 1].type != DC_TYPE_TRANSFER) {
        return refuse(why, "the refused coin does not end in the payer's transfer",
                      DC_ERR_EVIDENCE_INVALID);
    }
    const struct dc_record *t = &c->rec[c->n - 1];
    const uint8_t *payee = t->u.transfer.to.pub;
    if (dc_refusal_check(&rf, payee) != DC_OK) {
        return refuse(why, "the refusal is not signed by the payee of the refused coin",
                      DC_ERR_EVIDENCE_INVALID);
    }
    if (memcmp(rf.nonce, t->u.transfer.nonce, DC_NONCE_BYTES) != 0) {
        return refuse(why, "the refused coin's transfer carries another request's nonce",
                      DC_ERR_EVIDENCE_INVALID);
    }
    uint8_t ph[DC_HASH_BYTES];
    if (dc_refusal_payment_hash(ph, rf.request_hash, coin, coin_len, n) != DC_OK ||
        memcmp(ph, rf.payment_hash, DC_HASH_BYTES) != 0) {
        return refuse(why, "the coins are not the payment the refusal names",
                      DC_ERR_EVIDENCE_INVALID);
    }
    const struct dc_record *s = &v->succ[1];
    if (!dc_sign_check(s->sig, s->bytes, dc_record_body_len(s), res.state, payee)) {
        return refuse(why, "the onward record is not signed by the payee over the refused state",
                      DC_ERR_EVIDENCE_INVALID);
    }
    out->kind = DC_TYPE_REFUSAL_EVIDENCE;
    memcpy(out->culprit, payee, DC_PUBKEY_BYTES);
    memcpy(out->alias, t->u.transfer.to.alias, DC_ALIAS_BYTES);
    memcpy(out->serial, c->genesis.serial, DC_SERIAL_BYTES);
    memcpy(out->state, res.state, DC_HASH_BYTES);
    out->value = res.value;
    out->fork_index = c->n;
    out->type_a = DC_REFUSAL_TAG;
    out->type_b = s->type;
    out->succ_off[0] = (size_t)(ref - in);
    out->succ_len[0] = DC_REFUSAL_BYTES;
    out->succ_off[1] = (size_t)(s->bytes - in);
    out->succ_len[1] = s->len;
    return DC_OK;
}

enum dc_err dc_evidence_verify_why(struct dc_evidence_info *out, const char **why,
                                   const uint8_t master_pub[static DC_PUBKEY_BYTES],
                                   const uint8_t *in, size_t len)
{
    struct evidence_view v;
    const char *w = "";
    memset(out, 0, sizeof *out);
    enum dc_err e = len > 0 && in[0] == DC_TYPE_REFUSAL_EVIDENCE
                        ? verify_refusal_view(&v, out, &w, master_pub, in, len)
                        : verify_view(&v, out, &w, master_pub, in, len);
    if (e != DC_OK) memset(out, 0, sizeof *out);
    if (why) *why = w;
    return e;
}

enum dc_err dc_evidence_verify(struct dc_evidence_info *out,
                               const uint8_t master_pub[static DC_PUBKEY_BYTES], const uint8_t *in,
                               size_t len)
{
    return dc_evidence_verify_why(out, NULL, master_pub, in, len);
}
