/*
 * verify.c - whole-chain verification of a coin under a trust context.
 *
 * Workload: a payee verifies one coin of 1-20 records per offline payment;
 * the server verifies every coin of every deposit. Both are bound by Ed25519
 * verification (~42 us each here), so this file's job is to check every
 * signature exactly once and to skip the ones a caller has already checked
 * (struct dc_verify_cache), while redoing every cheap rule every time.
 *
 * Order of checks per record: position (deposit last), hop count, the
 * signer's revocation, the owner's signature over the previous state, then
 * the record's own rules (certificate of the new owner, split conservation).
 * The first failure is returned with the index of its record.
 */
#include <string.h>

#include "core/internal.h"
#include "ducat/amount.h"
#include "ducat/codec.h"
#include "ducat/coin.h"
#include "ducat/crypto.h"

static const char prefix_label[] = "ducat/prefix/v1";
static const char cert_label[] = "ducat/devcert-ok/v1";

/* ---- Cache of verified prefixes --------------------------------------- */

static size_t slot_of(const struct dc_verify_cache *c, const uint8_t d[static DC_HASH_BYTES])
{
    return (size_t)(dc_load64_le(d) & (uint64_t)(c->cap - 1));
}

static int is_zero(const uint8_t d[static DC_HASH_BYTES])
{
    uint8_t acc = 0;
    for (size_t i = 0; i < DC_HASH_BYTES; i++) acc |= d[i];
    return acc == 0;
}

static int cache_usable(const struct dc_verify_cache *c)
{
    return c && c->cap != 0 && (c->cap & (c->cap - 1)) == 0;
}

static int cache_has(struct dc_verify_cache *c, const uint8_t d[static DC_HASH_BYTES])
{
    if (!cache_usable(c)) return 0;
    int found = 0;
    if (c->lock) c->lock(c->lock_arg);
    for (size_t i = slot_of(c, d), probes = 0; probes < c->cap; probes++) {
        if (is_zero(c->slots[i])) break;
        if (memcmp(c->slots[i], d, DC_HASH_BYTES) == 0) {
            found = 1;
            break;
        }
        i = (i + 1) & (c->cap - 1);
    }
    if (c->unlock) c->unlock(c->lock_arg);
    return found;
}

static void cache_add(struct dc_verify_cache *c, const uint8_t d[static DC_HASH_BYTES])
{
    if (!cache_usable(c)) return;
    if (c->lock) c->lock(c->lock_arg);
    if (c->n * 4 < c->cap * 3) { /* keep probes short; a full cache stops caching */
        for (size_t i = slot_of(c, d);; i = (i + 1) & (c->cap - 1)) {
            if (is_zero(c->slots[i])) {
                memcpy(c->slots[i], d, DC_HASH_BYTES);
                c->n++;
                break;
            }
            if (memcmp(c->slots[i], d, DC_HASH_BYTES) == 0) break;
        }
    }
    if (c->unlock) c->unlock(c->lock_arg);
}

/* ---- Checks ----------------------------------------------------------- */

struct ctx {
    const struct dc_trust *t;
    int use_time;
    struct dc_verify_result *res;
    struct dc_verify_cache *cache;
};

/* A signing key usable at the verifier's time. */
static enum dc_err usable_key(const struct ctx *x, const struct dc_trust_key **out, uint32_t id)
{
    const struct dc_trust_key *k = dc_trust_find_key(x->t, id);
    if (!k) return DC_ERR_UNKNOWN_KEY;
    if (x->use_time) {
        if (k->revoked_at != 0 && x->t->now >= k->revoked_at) return DC_ERR_KEY_REVOKED;
        if (x->t->now >= k->cert.verify_until) return DC_ERR_KEY_EXPIRED;
    }
    *out = k;
    return DC_OK;
}

static enum dc_err check_cert(struct ctx *x, const struct dc_devcert *cert, int sig_known)
{
    const struct dc_trust_key *k;
    enum dc_err e = usable_key(x, &k, cert->key_id);
    if (e != DC_OK) return e;
    if (sig_known) return DC_OK;
    if (!cache_usable(x->cache)) {
        x->res->sigs_checked++;
        return dc_devcert_sig_ok(cert, k->cert.pub) ? DC_OK : DC_ERR_CERT_INVALID;
    }
    /* One device certificate travels in every coin its device received or
     * withdrew: vouch for it by its bytes and its signer, not its position. */
    uint8_t enc[DC_DEVCERT_BYTES], d[DC_HASH_BYTES];
    struct dc_hash h;
    dc_devcert_encode(enc, cert);
    dc_hash_init(&h, cert_label);
    dc_hash_update(&h, k->cert.pub, DC_PUBKEY_BYTES);
    dc_hash_update(&h, enc, sizeof enc);
    dc_hash_final(&h, d);
    if (cache_has(x->cache, d)) return DC_OK;
    x->res->sigs_checked++;
    if (!dc_devcert_sig_ok(cert, k->cert.pub)) return DC_ERR_CERT_INVALID;
    cache_add(x->cache, d);
    return DC_OK;
}

static enum dc_err check_genesis(struct ctx *x, const struct dc_coin *c, int sig_known)
{
    const struct dc_trust *t = x->t;
    const struct dc_genesis *g = &c->genesis;
    const struct dc_trust_key *k;
    enum dc_err e = usable_key(x, &k, g->key_id);
    if (e != DC_OK) return e;
    if (x->use_time) {
        if (g->issued_at < k->cert.valid_from) return DC_ERR_KEY_NOT_YET_VALID;
        if (g->issued_at >= k->cert.sign_until) return DC_ERR_KEY_EXPIRED;
        if (t->now < UINT64_MAX - t->clock_skew_ms && g->issued_at > t->now + t->clock_skew_ms) {
            return DC_ERR_COIN_NOT_YET_VALID;
        }
        if (t->now >= g->expires_at) {
            if (t->now - g->expires_at >= t->expiry_grace_ms) return DC_ERR_COIN_EXPIRED;
            x->res->expired_in_grace = 1;
        }
    }
    if (g->currency != t->currency) return DC_ERR_COIN_CURRENCY;
    if (t->base_unit <= 0 || g->value % t->base_unit != 0) return DC_ERR_COIN_VALUE;
    if (g->hop_limit > t->max_hops) return DC_ERR_HOP_LIMIT;
    if (!sig_known) {
        x->res->sigs_checked++;
        if (!dc_sign_check(g->sig, c->genesis_bytes, DC_GENESIS_BODY, NULL, k->cert.pub)) {
            return DC_ERR_COIN_FORGED;
        }
    }
    return check_cert(x, &g->owner, sig_known);
}

static enum dc_err check_split(const struct dc_trust *t, const struct dc_record *rec,
                               int64_t *value)
{
    uint8_t n = rec->u.split.n;
    if (n < 2 || n > t->max_split_parts) return DC_ERR_SPLIT_COUNT;
    int64_t sum = 0;
    for (uint8_t i = 0; i < n; i++) {
        int64_t v = rec->u.split.values[i];
        if (v <= 0 || v % t->base_unit != 0) return DC_ERR_SPLIT_PART;
        if (dc_i64_add(&sum, sum, v) != DC_OK) return DC_ERR_SPLIT_SUM;
    }
    if (sum != *value) return DC_ERR_SPLIT_SUM;
    *value = rec->u.split.values[rec->u.split.part];
    return DC_OK;
}

/*
 * Advances the prefix digest over one record. The record's signature is
 * vouched for by the digest *before* the part byte of a split (siblings
 * share it: their split signature is checked once); the chain continues
 * from the digest *after* it, so nothing later can be vouched for across
 * siblings, whose states differ.
 */
static void digest_record(uint8_t d[static DC_HASH_BYTES], const struct dc_record *rec)
{
    struct dc_hash h;
    dc_hash_init(&h, prefix_label);
    dc_hash_update(&h, d, DC_HASH_BYTES);
    dc_hash_update(&h, rec->bytes, rec->len);
    dc_hash_final(&h, d);
}

static void digest_part(uint8_t d[static DC_HASH_BYTES], const struct dc_record *rec)
{
    if (rec->type != DC_TYPE_SPLIT) return;
    struct dc_hash h;
    dc_hash_init(&h, prefix_label);
    dc_hash_update(&h, d, DC_HASH_BYTES);
    dc_hash_update(&h, &rec->u.split.part, 1);
    dc_hash_final(&h, d);
}

enum dc_err dc_coin_verify(struct dc_verify_result *res, const struct dc_trust *t,
                           const struct dc_coin *c, const struct dc_verify_opts *opts,
                           struct dc_verify_cache *cache)
{
    static const struct dc_verify_opts no_opts = {NULL, NULL, 0};
    /* res is an out-parameter, filled below before any read */
    // cppcheck-suppress ctuuninitvar
    struct ctx x = {t, !(t->flags & DC_VERIFY_IGNORE_TIME), res, cache};
    uint8_t digest[DC_HASH_BYTES], state[DC_HASH_BYTES];
    enum dc_err e;
    if (!opts) opts = &no_opts;
    memset(res, 0, sizeof *res);

    /* The digest covers exact bytes, signatures included, and the master
     * key, so a cache entry can only ever vouch for what was checked. */
    struct dc_hash h;
    dc_hash_init(&h, prefix_label);
    dc_hash_update(&h, t->master_pub, DC_PUBKEY_BYTES);
    dc_hash_update(&h, c->genesis_bytes, DC_GENESIS_BYTES);
    dc_hash_final(&h, digest);
    int known = cache_has(cache, digest);
    e = check_genesis(&x, c, known);
    if (e != DC_OK) return e;
    if (!known) cache_add(cache, digest);

    dc_state_genesis(state, c->genesis_bytes);
    const struct dc_devcert *owner = &c->genesis.owner, *last_signer = NULL;
    int64_t value = c->genesis.value;
    size_t hops = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct dc_record *rec = &c->rec[i];
        res->index = i + 1;
        digest_record(digest, rec);
        known = cache_has(cache, digest);
        if (rec->type == DC_TYPE_DEPOSIT) {
            if (i + 1 != c->n || !opts->allow_deposit) return DC_ERR_CHAIN_ORDER;
        } else if (++hops > c->genesis.hop_limit) {
            return DC_ERR_HOP_LIMIT;
        }
        if ((t->flags & DC_VERIFY_DEVICE_REVOCATION) && dc_trust_device_revoked(t, owner->pub)) {
            return DC_ERR_CERT_REVOKED;
        }
        if (!known) {
            res->sigs_checked++;
            if (!dc_sign_check(rec->sig, rec->bytes, dc_record_body_len(rec), state, owner->pub)) {
                return DC_ERR_NOT_OWNER;
            }
        }
        last_signer = owner;
        if (rec->type == DC_TYPE_TRANSFER) {
            e = check_cert(&x, &rec->u.transfer.to, known);
            if (e != DC_OK) return e;
            owner = &rec->u.transfer.to;
        } else if (rec->type == DC_TYPE_SPLIT) {
            e = check_split(t, rec, &value);
            if (e != DC_OK) return e;
        }
        dc_state_next(state, state, rec);
        if (!known) cache_add(cache, digest);
        digest_part(digest, rec);
    }

    res->index = c->n;
    if (x.use_time && (t->flags & DC_VERIFY_SIGNER_FRESH) && last_signer &&
        t->now >= last_signer->expires_at) {
        return DC_ERR_CERT_EXPIRED;
    }
    if (opts->expect_owner && memcmp(owner->pub, opts->expect_owner, DC_PUBKEY_BYTES) != 0) {
        return DC_ERR_WRONG_RECEIVER;
    }
    if (opts->expect_nonce) {
        const struct dc_record *last = c->n ? &c->rec[c->n - 1] : NULL;
        if (!last || last->type != DC_TYPE_TRANSFER ||
            memcmp(last->u.transfer.nonce, opts->expect_nonce, DC_NONCE_BYTES) != 0) {
            return DC_ERR_NONCE_MISMATCH;
        }
    }
    res->value = value;
    memcpy(res->state, state, DC_HASH_BYTES);
    return DC_OK;
}
