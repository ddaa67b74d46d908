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
    for (size_t i = 0; i < n_ids; i++) {
        const struct dc_trust_key *key = dc_trust_find_key(t, ids[i]);
        if (!key) return DC_ERR_UNKNOWN_KEY;
        uint8_t kc[DC_KEYCERT_BYTES];
        dc_keycert_encode(kc, &key->cert);
        dc_write_bytes(&w, kc, sizeof kc);
    }
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

static enum dc_err verify_view(struct evidence_view *v, struct dc_evidence_info *out,
                               const char **why, const uint8_t master_pub[static DC_PUBKEY_BYTES],
                               const uint8_t *in, size_t len)
{
    struct dc_reader r;
    struct dc_keycert keys[DC_EVIDENCE_KEYS_MAX];
    dc_reader_init(&r, in, len);
    if (dc_read_u8(&r) != DC_TYPE_EVIDENCE) dc_reader_fail(&r, DC_ERR_DECODE_TYPE);
    if (dc_read_u8(&r) != DC_WIRE_VERSION) dc_reader_fail(&r, DC_ERR_DECODE_VERSION);
    size_t n_keys = dc_read_u8(&r);
    if (n_keys == 0 || n_keys > DC_EVIDENCE_KEYS_MAX) dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
    for (size_t i = 0; i < n_keys && r.err == DC_OK; i++) {
        const uint8_t *kc = dc_read_bytes(&r, DC_KEYCERT_BYTES);
        if (kc) {
            enum dc_err e = dc_keycert_decode(&keys[i], kc, DC_KEYCERT_BYTES);
            if (e != DC_OK) dc_reader_fail(&r, e);
        }
    }
    if (r.err == DC_OK) dc_coin_read(&r, &v->prefix);
    if (r.err == DC_OK) dc_record_read(&r, &v->succ[0], 0);
    if (r.err == DC_OK) dc_record_read(&r, &v->succ[1], 0);
    enum dc_err e = dc_reader_finish(&r);
    if (e != DC_OK) return refuse(why, "the evidence does not decode", e);

    /* A proof is timeless: the records were signed, whatever the date. */
    dc_trust_init(&v->trust, master_pub, v->prefix.genesis.currency, 0);
    v->trust.flags = DC_VERIFY_IGNORE_TIME;
    v->trust.max_hops = DC_HOP_LIMIT_MAX;
    for (size_t i = 0; i < n_keys; i++) {
        for (size_t j = 0; j < i; j++) {
            if (keys[j].key_id == keys[i].key_id) {
                return refuse(why, "a signing-key certificate is repeated",
                              DC_ERR_EVIDENCE_INVALID);
            }
        }
        if (dc_trust_add_key(&v->trust, &keys[i], 0) != DC_OK) {
            return refuse(why,
                          "a signing-key certificate is not signed by this master key "
                          "(another issuer's evidence, or altered)",
                          DC_ERR_EVIDENCE_INVALID);
        }
    }
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

enum dc_err dc_evidence_verify_why(struct dc_evidence_info *out, const char **why,
                                   const uint8_t master_pub[static DC_PUBKEY_BYTES],
                                   const uint8_t *in, size_t len)
{
    struct evidence_view v;
    const char *w = "";
    memset(out, 0, sizeof *out);
    enum dc_err e = verify_view(&v, out, &w, master_pub, in, len);
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
