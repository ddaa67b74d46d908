/*
 * wallet.c - the wallet's state, its canonical serialization, the encrypted
 * wallet file, and the payer/payee bookkeeping of offline payments (see
 * ducat/wallet.h for the contracts and the byte layouts).
 *
 * Workload: a phone or a POS terminal holding tens to hundreds of coins.
 * Every mutation is staged first (allocations, signatures, checks) and
 * committed only when nothing can fail any more, so an error leaves the
 * wallet exactly as it was. The only I/O is in the "File I/O" section at
 * the end (open/read/write/fsync/rename); everything above it is pure
 * apart from libsodium's RNG when sealing.
 *
 * Secrets: the device secret key lives in sodium_malloc'd memory, kept
 * read-only; the plaintext serialization (which carries the seed) and the
 * derived file key live in sodium_malloc'd buffers that sodium_free wipes.
 * Coins, certificates and the seen-set are not secret (a peer sees them).
 */
#include "ducat/wallet.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ducat/amount.h"
#include "ducat/codec.h"
#include "ducat/coin.h"
#include "ducat/refusal.h"

#define SEEN_KEY_BYTES (DC_SERIAL_BYTES + DC_HASH_BYTES)
#define SEEN_ENTRY_BYTES (SEEN_KEY_BYTES + DC_HASH_BYTES + 8) /* encoded */
#define KDF_ARGON2ID13 1
/* Header offsets (ducat/wallet.h, "Wallet file"). */
#define H_OPS 10
#define H_MEM 18
#define H_SALT 26
#define H_NONCE (H_SALT + crypto_pwhash_SALTBYTES)
#define H_CTLEN (H_NONCE + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define H_CHECK (H_CTLEN + 8)
#define H_SUM (H_CHECK + CHECK_BYTES)
#define CHECK_BYTES 16
_Static_assert(H_SUM + CHECK_BYTES == DC_WALLET_HEADER_BYTES, "wallet header layout");
#define OPSLIMIT_CAP 32u
#define MEMLIMIT_CAP (1u << 30)
#define PLAIN_VERSION 1

enum { KIND_NONE = 0, KIND_PAYMENT = 1, KIND_DEPOSIT = 2 };

_Static_assert(DC_WALLET_HEADER_BYTES == 8 + 1 + 1 + 8 + 8 + crypto_pwhash_SALTBYTES +
                                             crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + 8 +
                                             2 * CHECK_BYTES,
               "wallet header layout");
_Static_assert(DC_WALLET_PLAN_MAX <= 255, "payment index is one byte");

/* ---- State ------------------------------------------------------------ */

struct coin_entry {
    uint8_t *bytes; /* malloc'd encoded coin */
    size_t len;
    struct dc_wallet_coin_info info; /* cached from the bytes; info.status is THE status */
    uint8_t owner[DC_PUBKEY_BYTES];  /* current owner */
    uint8_t ends_deposit;
    uint8_t kind;      /* KIND_*: why it left (PENDING_OUT / SPENT) */
    uint8_t pay_index; /* position within its payment */
    uint8_t payee[DC_PUBKEY_BYTES];
    uint8_t nonce[DC_NONCE_BYTES];
};

struct seen_entry {
    uint8_t key[SEEN_KEY_BYTES]; /* serial || state */
    uint8_t succ[DC_HASH_BYTES];
    uint64_t expires_at; /* of the coin: when the entry may be pruned */
};

struct request_entry {
    char kind[DC_WALLET_KIND_MAX + 1];
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    uint64_t created_at;
    uint8_t *body; /* malloc'd, NULL if len == 0 */
    size_t len;
};

struct trust_key {
    struct dc_keycert cert;
    uint64_t revoked_at;
};

struct dc_wallet {
    uint8_t *sk; /* sodium_malloc'd DC_SECKEY_BYTES (seed || pub), read-only */
    uint8_t pub[DC_PUBKEY_BYTES];
    char *url; /* malloc'd, NULL = none */
    uint64_t account;
    int has_devcert;
    uint8_t devcert[DC_DEVCERT_BYTES];

    int has_trust;
    struct dc_wallet_params params;
    struct trust_key keys[DC_TRUST_KEYS_MAX]; /* ascending key id */
    size_t n_keys;
    uint8_t (*revoked)[DC_PUBKEY_BYTES]; /* malloc'd, strictly ascending */
    size_t n_revoked;

    struct coin_entry *coins;
    size_t n_coins, cap_coins;
    struct seen_entry *seen; /* strictly ascending key */
    size_t n_seen, cap_seen;
    struct request_entry req[DC_WALLET_REQUESTS_MAX]; /* ascending kind */
    size_t n_req;
    struct dc_wallet_history hist[DC_WALLET_HISTORY_MAX]; /* oldest first */
    size_t n_hist;

    /* File key kept for dc_wallet_commit (DC_WALLET_KEEP_KEY). */
    uint8_t *fkey; /* sodium_malloc'd crypto_aead_xchacha20poly1305_ietf_KEYBYTES, or NULL */
    uint8_t fsalt[crypto_pwhash_SALTBYTES];
    uint64_t fops;
    size_t fmem;
};

/* ---- Small helpers ---------------------------------------------------- */

/* Returns array p (of elements of `elem` bytes, *cap of them) grown to hold
 * `need`, which may be p itself; NULL if memory ran out (p untouched). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (p && need <= *cap) return p;
    size_t n = *cap ? *cap : 8;
    while (n < need) {
        if (n > SIZE_MAX / 2) return NULL;
        n *= 2;
    }
    if (n > SIZE_MAX / elem) return NULL;
    void *q = realloc(p, n * elem);
    if (!q) return NULL;
    *cap = n;
    return q;
}

static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f) return 0;
    }
    return 1;
}

/* *sum += v, checked by the one money helper (dc_i64_add); 0 on overflow,
 * *sum untouched then. */
static int add_i64(int64_t *sum, int64_t v)
{
    int64_t r;
    if (dc_i64_add(&r, *sum, v) != DC_OK) return 0;
    *sum = r;
    return 1;
}

static size_t hops_of(const struct dc_coin *c)
{
    size_t h = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->rec[i].type != DC_TYPE_DEPOSIT) h++;
    }
    return h;
}

/* Decodes a coin and fills the cached description of an entry. */
static enum dc_err describe(struct coin_entry *e, const uint8_t *bytes, size_t len,
                            struct dc_coin *c)
{
    enum dc_err err = dc_coin_decode(c, bytes, len);
    if (err != DC_OK) return err;
    memset(&e->info, 0, sizeof e->info);
    e->info.value = dc_coin_value(c);
    e->info.currency = c->genesis.currency;
    e->info.hops_used = (uint8_t)hops_of(c);
    e->info.hop_limit = c->genesis.hop_limit;
    e->info.issued_at = c->genesis.issued_at;
    e->info.expires_at = c->genesis.expires_at;
    memcpy(e->info.serial, c->genesis.serial, DC_SERIAL_BYTES);
    dc_coin_state(e->info.state, c, c->n);
    memcpy(e->owner, dc_coin_owner(c)->pub, DC_PUBKEY_BYTES);
    e->info.owner_expires_at = dc_coin_owner(c)->expires_at;
    e->ends_deposit = (uint8_t)(c->n > 0 && c->rec[c->n - 1].type == DC_TYPE_DEPOSIT);
    return DC_OK;
}

static void entry_set_ours(struct coin_entry *e, const uint8_t pub[static DC_PUBKEY_BYTES])
{
    e->info.is_ours = (uint8_t)(!e->ends_deposit && memcmp(e->owner, pub, DC_PUBKEY_BYTES) == 0);
}

/* ---- Life cycle ------------------------------------------------------- */

static struct dc_wallet *wallet_alloc(void)
{
    struct dc_wallet *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->sk = sodium_malloc(DC_SECKEY_BYTES);
    if (!w->sk) {
        free(w);
        return NULL;
    }
    return w;
}

/* Derives the key pair into guarded memory, then makes it read-only. */
static void wallet_set_key(struct dc_wallet *w, const uint8_t seed[static DC_SEED_BYTES])
{
    dc_keypair_from_seed(w->pub, w->sk, seed);
    sodium_mprotect_readonly(w->sk);
}

enum dc_err dc_wallet_create(struct dc_wallet **out, const uint8_t seed[static DC_SEED_BYTES])
{
    *out = NULL;
    struct dc_wallet *w = wallet_alloc();
    if (!w) return DC_ERR_NO_MEMORY;
    wallet_set_key(w, seed);
    *out = w;
    return DC_OK;
}

void dc_wallet_forget_key(struct dc_wallet *w)
{
    if (!w || !w->fkey) return;
    sodium_free(w->fkey);
    w->fkey = NULL;
    sodium_memzero(w->fsalt, sizeof w->fsalt);
}

void dc_wallet_free(struct dc_wallet *w)
{
    if (!w) return;
    sodium_free(w->sk); /* wipes */
    dc_wallet_forget_key(w);
    free(w->url);
    free(w->revoked);
    for (size_t i = 0; i < w->n_coins; i++) free(w->coins[i].bytes);
    free(w->coins);
    free(w->seen);
    for (size_t i = 0; i < w->n_req; i++) free(w->req[i].body);
    free(w);
}

/* ---- Identity, server, certificate ------------------------------------ */

void dc_wallet_device_pub(const struct dc_wallet *w, uint8_t out[static DC_PUBKEY_BYTES])
{
    memcpy(out, w->pub, DC_PUBKEY_BYTES);
}

const uint8_t *dc_wallet_device_sk(const struct dc_wallet *w)
{
    return w->sk;
}

enum dc_err dc_wallet_set_server(struct dc_wallet *w, const char *url, uint64_t account)
{
    if (!url) return DC_ERR_INVALID_ARGUMENT;
    size_t n = strlen(url);
    if (n > DC_WALLET_URL_MAX || !printable(url, n)) return DC_ERR_INVALID_ARGUMENT;
    char *copy = NULL;
    if (n > 0) {
        copy = malloc(n + 1);
        if (!copy) return DC_ERR_NO_MEMORY;
        memcpy(copy, url, n + 1);
    }
    free(w->url);
    w->url = copy;
    w->account = account;
    return DC_OK;
}

const char *dc_wallet_server_url(const struct dc_wallet *w)
{
    return w->url ? w->url : "";
}

uint64_t dc_wallet_account(const struct dc_wallet *w)
{
    return w->account;
}

enum dc_err dc_wallet_set_devcert(struct dc_wallet *w, const uint8_t cert[static DC_DEVCERT_BYTES])
{
    struct dc_devcert c;
    if (dc_devcert_decode(&c, cert, DC_DEVCERT_BYTES) != DC_OK) return DC_ERR_CERT_INVALID;
    if (memcmp(c.pub, w->pub, DC_PUBKEY_BYTES) != 0) return DC_ERR_CERT_INVALID;
    memcpy(w->devcert, cert, DC_DEVCERT_BYTES);
    w->has_devcert = 1;
    return DC_OK;
}

enum dc_err dc_wallet_devcert(const struct dc_wallet *w, uint8_t out[static DC_DEVCERT_BYTES])
{
    if (!w->has_devcert) return DC_ERR_WALLET_NOT_REGISTERED;
    memcpy(out, w->devcert, DC_DEVCERT_BYTES);
    return DC_OK;
}

/* ---- Trust material --------------------------------------------------- */

static int params_ok(const struct dc_wallet_params *p)
{
    return p->base_unit > 0 && p->max_hops >= 1 && p->max_hops <= DC_HOP_LIMIT_MAX &&
           p->max_split_parts >= 2 && p->max_split_parts <= DC_SPLIT_PARTS_MAX;
}

static int cmp_key32(const void *a, const void *b)
{
    return memcmp(a, b, DC_PUBKEY_BYTES);
}

enum dc_err dc_wallet_set_trust(struct dc_wallet *w, const struct dc_wallet_params *p,
                                const uint8_t *keycerts, size_t n_keys, const uint64_t *revoked_at,
                                const uint8_t (*revoked)[DC_PUBKEY_BYTES], size_t n_revoked)
{
    struct trust_key keys[DC_TRUST_KEYS_MAX];
    if (!p || !params_ok(p)) return DC_ERR_INVALID_ARGUMENT;
    if (n_keys > DC_TRUST_KEYS_MAX || n_revoked > DC_WALLET_REVOKED_MAX) {
        return DC_ERR_LIMIT_EXCEEDED;
    }
    if ((n_keys && !keycerts) || (n_revoked && !revoked)) return DC_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n_keys; i++) {
        struct dc_keycert c;
        enum dc_err e = dc_keycert_decode(&c, keycerts + i * DC_KEYCERT_BYTES, DC_KEYCERT_BYTES);
        if (e != DC_OK) return e;
        e = dc_keycert_check(&c, p->master_pub);
        if (e != DC_OK) return e;
        /* insertion by key id keeps the canonical order */
        size_t j = i;
        while (j > 0 && keys[j - 1].cert.key_id > c.key_id) {
            keys[j] = keys[j - 1];
            j--;
        }
        if (j > 0 && keys[j - 1].cert.key_id == c.key_id) return DC_ERR_INVALID_ARGUMENT;
        keys[j].cert = c;
        keys[j].revoked_at = revoked_at ? revoked_at[i] : 0;
    }
    uint8_t(*list)[DC_PUBKEY_BYTES] = NULL;
    size_t n_list = 0;
    if (n_revoked) {
        list = malloc(n_revoked * DC_PUBKEY_BYTES);
        if (!list) return DC_ERR_NO_MEMORY;
        memcpy(list, revoked, n_revoked * DC_PUBKEY_BYTES);
        qsort(list, n_revoked, DC_PUBKEY_BYTES, cmp_key32);
        for (size_t i = 0; i < n_revoked; i++) {
            if (n_list == 0 || memcmp(list[n_list - 1], list[i], DC_PUBKEY_BYTES) != 0) {
                memmove(list[n_list++], list[i], DC_PUBKEY_BYTES);
            }
        }
    }
    free(w->revoked);
    w->revoked = list;
    w->n_revoked = n_list;
    memcpy(w->keys, keys, n_keys * sizeof keys[0]);
    w->n_keys = n_keys;
    w->params = *p;
    w->has_trust = 1;
    return DC_OK;
}

enum dc_err dc_wallet_params(const struct dc_wallet *w, struct dc_wallet_params *out)
{
    if (!w->has_trust) return DC_ERR_WALLET_NOT_SYNCED;
    *out = w->params;
    return DC_OK;
}

size_t dc_wallet_keycert_count(const struct dc_wallet *w)
{
    return w->n_keys;
}

enum dc_err dc_wallet_keycert_at(const struct dc_wallet *w, size_t i,
                                 uint8_t out[static DC_KEYCERT_BYTES], uint64_t *revoked_at)
{
    if (i >= w->n_keys) return DC_ERR_NOT_FOUND;
    dc_keycert_encode(out, &w->keys[i].cert);
    if (revoked_at) *revoked_at = w->keys[i].revoked_at;
    return DC_OK;
}

const uint8_t (*dc_wallet_revoked(const struct dc_wallet *w, size_t *n))[DC_PUBKEY_BYTES]
{
    *n = w->n_revoked;
    return (const uint8_t(*)[DC_PUBKEY_BYTES])w->revoked;
}

enum dc_err dc_wallet_trust(const struct dc_wallet *w, struct dc_trust *t, uint64_t now)
{
    if (!w->has_trust) return DC_ERR_WALLET_NOT_SYNCED;
    dc_trust_init(t, w->params.master_pub, w->params.currency, now);
    t->base_unit = w->params.base_unit;
    t->max_hops = w->params.max_hops;
    t->max_split_parts = w->params.max_split_parts;
    for (size_t i = 0; i < w->n_keys; i++) {
        enum dc_err e = dc_trust_add_key(t, &w->keys[i].cert, w->keys[i].revoked_at);
        if (e != DC_OK) return e;
    }
    t->revoked_devices = (const uint8_t(*)[DC_PUBKEY_BYTES])w->revoked;
    t->n_revoked_devices = w->n_revoked;
    return DC_OK;
}

/* ---- Coins ------------------------------------------------------------ */

size_t dc_wallet_coin_count(const struct dc_wallet *w)
{
    return w->n_coins;
}

enum dc_err dc_wallet_coin_info(const struct dc_wallet *w, size_t i,
                                struct dc_wallet_coin_info *out)
{
    if (i >= w->n_coins) return DC_ERR_NOT_FOUND;
    *out = w->coins[i].info;
    return DC_OK;
}

enum dc_err dc_wallet_coin_bytes(const struct dc_wallet *w, size_t i, const uint8_t **bytes,
                                 size_t *len)
{
    if (i >= w->n_coins) return DC_ERR_NOT_FOUND;
    *bytes = w->coins[i].bytes;
    *len = w->coins[i].len;
    return DC_OK;
}

/* Here, not in select.c: the balance and the selection both ask it, and
 * select.c builds on this file's accessors, so it may not be the other way
 * round (tests/layers.sh forbids files that depend on each other). */
int dc_wallet_needs_refresh(const struct dc_wallet_coin_info *c, uint64_t now, uint64_t margin_ms)
{
    uint64_t horizon = now > UINT64_MAX - margin_ms ? UINT64_MAX : now + margin_ms;
    if (c->expires_at <= horizon || c->owner_expires_at <= horizon) return 1;
    if (c->hops_used >= c->hop_limit) return 1;
    return c->hop_limit - c->hops_used < DC_WALLET_HOP_RESERVE;
}

/* Spendable in principle (selection applies the same rule). */
static int spendable(const struct dc_wallet *w, size_t i, uint64_t now, uint64_t margin)
{
    const struct dc_wallet_coin_info *c = &w->coins[i].info;
    if (c->status != DC_WALLET_HELD || !c->is_ours) return 0;
    if (w->has_trust &&
        (c->currency != w->params.currency || c->value % w->params.base_unit != 0)) {
        return 0;
    }
    if (dc_wallet_needs_refresh(c, now, margin)) return 0;
    return dc_wallet_coin_doubtful(w, i, now, margin) == DC_OK;
}

enum dc_err dc_wallet_balance(const struct dc_wallet *w, uint64_t now, uint64_t margin_ms,
                              struct dc_wallet_balance *out)
{
    struct dc_wallet_balance b;
    memset(&b, 0, sizeof b);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < w->n_coins; i++) {
        const struct dc_wallet_coin_info *c = &w->coins[i].info;
        int ok = 1;
        if (c->status == DC_WALLET_HELD) {
            ok &= add_i64(&b.held, c->value);
            b.n_held++;
            if (spendable(w, i, now, margin_ms)) {
                ok &= add_i64(&b.spendable, c->value);
                b.n_spendable++;
            } else if (c->is_ours && (dc_wallet_needs_refresh(c, now, margin_ms) ||
                                      dc_wallet_coin_doubtful(w, i, now, margin_ms) != DC_OK)) {
                /* to deposit: near expiry or its hop limit, or doubtful */
                ok &= add_i64(&b.refresh, c->value);
                b.n_refresh++;
            }
        } else if (c->status == DC_WALLET_PENDING_OUT) {
            ok &= add_i64(&b.pending_out, c->value);
            b.n_pending_out++;
        }
        if (!ok) return DC_ERR_AMOUNT_OVERFLOW;
    }
    *out = b;
    return DC_OK;
}

/* ---- Seen-set --------------------------------------------------------- */

/* Index of key in the sorted seen array, or where it would go (*found = 0). */
static size_t seen_find(const struct dc_wallet *w, const uint8_t key[static SEEN_KEY_BYTES],
                        int *found)
{
    size_t lo = 0, hi = w->n_seen;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(w->seen[mid].key, key, SEEN_KEY_BYTES);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = 0;
    return lo;
}

static void seen_key(uint8_t key[static SEEN_KEY_BYTES],
                     const uint8_t serial[static DC_SERIAL_BYTES],
                     const uint8_t state[static DC_HASH_BYTES])
{
    memcpy(key, serial, DC_SERIAL_BYTES);
    memcpy(key + DC_SERIAL_BYTES, state, DC_HASH_BYTES);
}

int dc_wallet_seen_conflict(const struct dc_wallet *w, const uint8_t serial[static DC_SERIAL_BYTES],
                            const uint8_t state[static DC_HASH_BYTES],
                            const uint8_t successor[static DC_HASH_BYTES])
{
    uint8_t key[SEEN_KEY_BYTES];
    int found;
    seen_key(key, serial, state);
    size_t i = seen_find(w, key, &found);
    return found && memcmp(w->seen[i].succ, successor, DC_HASH_BYTES) != 0;
}

enum dc_err dc_wallet_seen_check(void *wallet, const uint8_t serial[DC_SERIAL_BYTES],
                                 const uint8_t state[DC_HASH_BYTES],
                                 const uint8_t successor[DC_HASH_BYTES])
{
    const struct dc_wallet *w = wallet;
    if (!w) return DC_ERR_INVALID_ARGUMENT;
    return dc_wallet_seen_conflict(w, serial, state, successor) ? DC_ERR_FORK_DETECTED : DC_OK;
}

size_t dc_wallet_seen_count(const struct dc_wallet *w)
{
    return w->n_seen;
}

/* ---- Coins a payee would refuse ------------------------------------------------ */

static int revoked_device(const struct dc_wallet *w, const uint8_t pub[static DC_PUBKEY_BYTES])
{
    return w->n_revoked &&
           bsearch(pub, w->revoked, w->n_revoked, DC_PUBKEY_BYTES, cmp_key32) != NULL;
}

enum dc_err dc_wallet_coin_doubtful(const struct dc_wallet *w, size_t i, uint64_t now,
                                    uint64_t margin_ms)
{
    if (i >= w->n_coins) return DC_ERR_NOT_FOUND;
    const struct coin_entry *e = &w->coins[i];
    const struct dc_wallet_coin_info *ci = &e->info;
    struct dc_coin *c = malloc(sizeof *c);
    if (!c) return DC_ERR_NO_MEMORY;
    enum dc_err err = dc_coin_decode(c, e->bytes, e->len);
    if (err != DC_OK) goto out;
    /* Every owner that signed a record, and this device, which signs the
     * next one: the payee refuses a record by a revoked device. */
    if (revoked_device(w, c->genesis.owner.pub)) err = DC_ERR_CERT_REVOKED;
    for (size_t k = 0; err == DC_OK && k < c->n; k++) {
        if (c->rec[k].type == DC_TYPE_TRANSFER && revoked_device(w, c->rec[k].u.transfer.to.pub)) {
            err = DC_ERR_CERT_REVOKED;
        }
    }
    /* A state of its chain known here with another successor: a double
     * spend upstream that this wallet already saw, and so might a payee. */
    uint8_t state[DC_HASH_BYTES], succ[DC_HASH_BYTES];
    dc_state_genesis(state, c->genesis_bytes);
    for (size_t k = 0; err == DC_OK && k < c->n; k++) {
        dc_coin_successor(succ, c, k);
        if (dc_wallet_seen_conflict(w, c->genesis.serial, state, succ)) err = DC_ERR_FORK_DETECTED;
        dc_state_next(state, state, &c->rec[k]);
    }
    /* then what the payee judges by its clock and the hop count */
    uint64_t horizon = now > UINT64_MAX - margin_ms ? UINT64_MAX : now + margin_ms;
    if (err == DC_OK && ci->expires_at <= horizon) err = DC_ERR_COIN_EXPIRED;
    if (err == DC_OK && ci->owner_expires_at <= horizon) err = DC_ERR_CERT_EXPIRED;
    if (err == DC_OK &&
        (ci->hops_used >= ci->hop_limit || ci->hop_limit - ci->hops_used < DC_WALLET_HOP_RESERVE)) {
        err = DC_ERR_HOP_LIMIT;
    }
out:
    free(c);
    return err;
}

/* A batch of seen entries staged before a commit. */
struct seen_batch {
    struct seen_entry *e;
    size_t n, cap;
};

/* Stages every (serial, state_k, successor_k) a coin consumes. */
static enum dc_err seen_stage(struct seen_batch *b, const uint8_t *bytes, size_t len,
                              struct dc_coin *c)
{
    enum dc_err err = dc_coin_decode(c, bytes, len);
    if (err != DC_OK) return err;
    void *q = grow(b->e, &b->cap, b->n + c->n, sizeof b->e[0]);
    if (!q) return DC_ERR_NO_MEMORY;
    b->e = q;
    uint8_t state[DC_HASH_BYTES];
    dc_state_genesis(state, c->genesis_bytes);
    for (size_t k = 0; k < c->n; k++) {
        struct seen_entry *s = &b->e[b->n++];
        seen_key(s->key, c->genesis.serial, state);
        dc_coin_successor(s->succ, c, k);
        s->expires_at = c->genesis.expires_at;
        dc_state_next(state, state, &c->rec[k]);
    }
    return DC_OK;
}

/*
 * Checks a staged batch against the set and itself (DC_ERR_FORK_DETECTED
 * on a fork), and reserves room for it (DC_ERR_LIMIT_EXCEEDED, DC_ERR_NO_MEMORY).
 * Entries already known, or staged twice, get expires_at = 0 so the commit
 * skips them (no real coin expires at 0: expiry is after issue).
 */
static enum dc_err seen_prepare(struct dc_wallet *w, struct seen_batch *b)
{
    size_t fresh = 0;
    for (size_t i = 0; i < b->n; i++) {
        int found;
        size_t at = seen_find(w, b->e[i].key, &found);
        if (found) {
            if (memcmp(w->seen[at].succ, b->e[i].succ, DC_HASH_BYTES) != 0) {
                return DC_ERR_FORK_DETECTED;
            }
            b->e[i].expires_at = 0;
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++) {
            if (memcmp(b->e[j].key, b->e[i].key, SEEN_KEY_BYTES) != 0) continue;
            if (memcmp(b->e[j].succ, b->e[i].succ, DC_HASH_BYTES) != 0) {
                return DC_ERR_FORK_DETECTED;
            }
            dup = 1;
        }
        if (dup) {
            b->e[i].expires_at = 0;
            continue;
        }
        fresh++;
    }
    if (fresh > DC_WALLET_SEEN_MAX - w->n_seen) return DC_ERR_LIMIT_EXCEEDED;
    void *q = grow(w->seen, &w->cap_seen, w->n_seen + fresh, sizeof w->seen[0]);
    if (!q) return DC_ERR_NO_MEMORY;
    w->seen = q;
    return DC_OK;
}

/* Inserts the staged entries (room reserved by seen_prepare). */
static void seen_commit(struct dc_wallet *w, const struct seen_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->e[i].expires_at == 0) continue;
        int found;
        size_t at = seen_find(w, b->e[i].key, &found);
        if (found) continue;
        memmove(&w->seen[at + 1], &w->seen[at], (w->n_seen - at) * sizeof w->seen[0]);
        w->seen[at] = b->e[i];
        w->n_seen++;
    }
}

/* ---- Coins this wallet refused ------------------------------------------------- */

/*
 * A refused coin is remembered in the seen-set as its final state (the one
 * the payer's TRANSFER made this device's) consumed by the reclaim marker,
 * the successor the server records when the payer reclaims it: no record
 * hashes to it, so every coin that goes on from that state is a conflict
 * (FORK_DETECTED) and the state itself is refused by dc_wallet_refused.
 * No new slot, no file format change, pruned with the coin's seen entries.
 */
enum dc_err dc_wallet_refuse_coins(struct dc_wallet *w, const uint8_t *const *coins,
                                   const size_t *lens, size_t n)
{
    if (!w || (n && (!coins || !lens))) return DC_ERR_INVALID_ARGUMENT;
    struct dc_coin *c = malloc(sizeof *c);
    struct seen_batch b = {calloc(n ? n : 1, sizeof *b.e), 0, n};
    enum dc_err err = c && b.e ? DC_OK : DC_ERR_NO_MEMORY;
    for (size_t i = 0; err == DC_OK && i < n; i++) {
        struct coin_entry e;
        err = describe(&e, coins[i], lens[i], c);
        if (err != DC_OK) break;
        struct seen_entry *s = &b.e[b.n];
        seen_key(s->key, e.info.serial, e.info.state);
        dc_reclaim_marker(s->succ, e.info.state);
        s->expires_at = e.info.expires_at;
        int found;
        (void)seen_find(w, s->key, &found);
        /* the same coin twice in one payment stages one entry: the seen-set
         * is sorted and keeps one per state */
        for (size_t k = 0; !found && k < b.n; k++) {
            found = memcmp(b.e[k].key, s->key, SEEN_KEY_BYTES) == 0;
        }
        if (!found) b.n++; /* marked before, or consumed here already: keep what is known */
    }
    if (err == DC_OK) err = seen_prepare(w, &b);
    if (err == DC_OK) seen_commit(w, &b);
    free(b.e);
    free(c);
    return err;
}

int dc_wallet_refused(const struct dc_wallet *w, const uint8_t serial[static DC_SERIAL_BYTES],
                      const uint8_t state[static DC_HASH_BYTES])
{
    uint8_t key[SEEN_KEY_BYTES], marker[DC_HASH_BYTES];
    int found;
    seen_key(key, serial, state);
    size_t i = seen_find(w, key, &found);
    if (!found) return 0;
    dc_reclaim_marker(marker, state);
    return memcmp(w->seen[i].succ, marker, DC_HASH_BYTES) == 0;
}

/* 1 if the state a coin entry currently ends in was already consumed. */
static int state_consumed(const struct dc_wallet *w, const struct coin_entry *e)
{
    uint8_t key[SEEN_KEY_BYTES];
    int found;
    seen_key(key, e->info.serial, e->info.state);
    (void)seen_find(w, key, &found);
    return found;
}

size_t dc_wallet_prune(struct dc_wallet *w, uint64_t before)
{
    size_t dropped = 0, j = 0;
    for (size_t i = 0; i < w->n_coins; i++) {
        struct coin_entry *e = &w->coins[i];
        if (e->info.status == DC_WALLET_SPENT && e->info.expires_at < before) {
            free(e->bytes);
            dropped++;
            continue;
        }
        w->coins[j++] = *e;
    }
    w->n_coins = j;
    j = 0;
    for (size_t i = 0; i < w->n_seen; i++) {
        if (w->seen[i].expires_at < before) {
            dropped++;
            continue;
        }
        w->seen[j++] = w->seen[i];
    }
    w->n_seen = j;
    return dropped;
}

/* ---- History ---------------------------------------------------------- */

static int history_ok(const struct dc_wallet_history *h)
{
    return h->amount > 0 && (h->direction == DC_WALLET_IN || h->direction == DC_WALLET_OUT);
}

static void history_push(struct dc_wallet *w, const struct dc_wallet_history *h)
{
    if (w->n_hist == DC_WALLET_HISTORY_MAX) {
        memmove(&w->hist[0], &w->hist[1], (DC_WALLET_HISTORY_MAX - 1) * sizeof w->hist[0]);
        w->n_hist--;
    }
    w->hist[w->n_hist++] = *h;
}

enum dc_err dc_wallet_history_add(struct dc_wallet *w, const struct dc_wallet_history *h)
{
    if (!h || !history_ok(h)) return DC_ERR_INVALID_ARGUMENT;
    history_push(w, h);
    return DC_OK;
}

size_t dc_wallet_history_count(const struct dc_wallet *w)
{
    return w->n_hist;
}

enum dc_err dc_wallet_history_at(const struct dc_wallet *w, size_t i, struct dc_wallet_history *out)
{
    if (i >= w->n_hist) return DC_ERR_NOT_FOUND;
    *out = w->hist[i];
    return DC_OK;
}

/* ---- Receiving -------------------------------------------------------- */

/* The alias of whoever signed the coin's last TRANSFER, if it ends in one. */
static int payer_alias(uint8_t alias[static DC_ALIAS_BYTES], const struct dc_coin *c)
{
    if (c->n == 0 || c->rec[c->n - 1].type != DC_TYPE_TRANSFER) return 0;
    const struct dc_devcert *prev = &c->genesis.owner;
    for (size_t i = 0; i + 1 < c->n; i++) {
        if (c->rec[i].type == DC_TYPE_TRANSFER) prev = &c->rec[i].u.transfer.to;
    }
    memcpy(alias, prev->alias, DC_ALIAS_BYTES);
    return 1;
}

static int has_coin(const struct dc_wallet *w, const uint8_t serial[static DC_SERIAL_BYTES],
                    const uint8_t state[static DC_HASH_BYTES])
{
    for (size_t i = 0; i < w->n_coins; i++) {
        if (memcmp(w->coins[i].info.serial, serial, DC_SERIAL_BYTES) == 0 &&
            memcmp(w->coins[i].info.state, state, DC_HASH_BYTES) == 0) {
            return 1;
        }
    }
    return 0;
}

enum dc_err dc_wallet_accept_coins(struct dc_wallet *w, const uint8_t *const *coins,
                                   const size_t *lens, size_t n, uint64_t now, size_t *added)
{
    enum dc_err err = DC_OK;
    struct coin_entry *fresh = NULL;
    struct seen_batch batch = {NULL, 0, 0};
    struct dc_coin *c = malloc(sizeof *c);
    size_t n_fresh = 0;
    int64_t paid = 0;
    int paid_any = 0;
    uint8_t alias[DC_ALIAS_BYTES];
    if (added) *added = 0;
    if (n && (!coins || !lens)) {
        err = DC_ERR_INVALID_ARGUMENT;
        goto out;
    }
    if (!c || (n && !(fresh = calloc(n, sizeof *fresh)))) {
        err = DC_ERR_NO_MEMORY;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct coin_entry *e = &fresh[n_fresh];
        err = describe(e, coins[i], lens[i], c);
        if (err != DC_OK) goto out;
        if (e->ends_deposit) {
            err = DC_ERR_CHAIN_ORDER;
            goto out;
        }
        if (memcmp(e->owner, w->pub, DC_PUBKEY_BYTES) != 0) {
            err = DC_ERR_WRONG_RECEIVER;
            goto out;
        }
        if (dc_wallet_refused(w, e->info.serial, e->info.state)) {
            err = DC_ERR_PAY_REFUSED_BEFORE; /* our signed refusal let the payer take it back */
            goto out;
        }
        err = seen_stage(&batch, coins[i], lens[i], c);
        if (err != DC_OK) goto out;
        if (has_coin(w, e->info.serial, e->info.state)) continue; /* a retry: already held */
        int dup = 0;
        for (size_t j = 0; j < n_fresh; j++) {
            dup |= memcmp(fresh[j].info.serial, e->info.serial, DC_SERIAL_BYTES) == 0 &&
                   memcmp(fresh[j].info.state, e->info.state, DC_HASH_BYTES) == 0;
        }
        if (dup) continue;
        uint8_t a[DC_ALIAS_BYTES];
        if (payer_alias(a, c)) {
            if (!add_i64(&paid, e->info.value)) {
                err = DC_ERR_AMOUNT_OVERFLOW;
                goto out;
            }
            if (!paid_any) memcpy(alias, a, DC_ALIAS_BYTES);
            paid_any = 1;
        }
        e->info.status = DC_WALLET_HELD;
        e->info.is_ours = 1;
        e->len = lens[i];
        e->bytes = malloc(lens[i]);
        if (!e->bytes) {
            err = DC_ERR_NO_MEMORY;
            goto out;
        }
        memcpy(e->bytes, coins[i], lens[i]);
        n_fresh++;
    }
    err = seen_prepare(w, &batch);
    if (err != DC_OK) goto out;
    if (n_fresh > DC_WALLET_COINS_MAX - w->n_coins) {
        err = DC_ERR_LIMIT_EXCEEDED;
        goto out;
    }
    void *q = grow(w->coins, &w->cap_coins, w->n_coins + n_fresh, sizeof w->coins[0]);
    if (!q) {
        err = DC_ERR_NO_MEMORY;
        goto out;
    }
    w->coins = q;
    /* commit: nothing below can fail */
    seen_commit(w, &batch);
    memcpy(&w->coins[w->n_coins], fresh, n_fresh * sizeof fresh[0]);
    w->n_coins += n_fresh;
    if (paid_any) {
        struct dc_wallet_history h = {now, paid, DC_WALLET_IN, {0}};
        memcpy(h.alias, alias, DC_ALIAS_BYTES);
        history_push(w, &h);
    }
    if (added) *added = n_fresh;
    n_fresh = 0; /* ownership moved */
out:
    if (fresh) {
        for (size_t i = 0; i < n_fresh; i++) free(fresh[i].bytes);
        free(fresh);
    }
    free(batch.e);
    free(c);
    return err;
}

/* ---- Paying ----------------------------------------------------------- */

enum dc_err dc_wallet_find_payment(const struct dc_wallet *w, struct dc_wallet_outgoing *out,
                                   const uint8_t payee_pub[static DC_PUBKEY_BYTES],
                                   const uint8_t nonce[static DC_NONCE_BYTES])
{
    size_t idx[DC_WALLET_PLAN_MAX];
    size_t n = 0;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < w->n_coins; i++) {
        const struct coin_entry *e = &w->coins[i];
        if (e->kind != KIND_PAYMENT || memcmp(e->payee, payee_pub, DC_PUBKEY_BYTES) != 0 ||
            memcmp(e->nonce, nonce, DC_NONCE_BYTES) != 0) {
            continue;
        }
        if (n == DC_WALLET_PLAN_MAX) return DC_ERR_INTERNAL; /* cannot be built by prepare */
        /* insertion by payment index: the order it was signed in */
        size_t j = n++;
        while (j > 0 && w->coins[idx[j - 1]].pay_index > e->pay_index) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    if (n == 0) return DC_ERR_NOT_FOUND;
    int64_t sum = 0;
    for (size_t k = 0; k < n; k++) {
        const struct coin_entry *e = &w->coins[idx[k]];
        if (!add_i64(&sum, e->info.value)) return DC_ERR_AMOUNT_OVERFLOW;
        out->coin[k] = e->bytes;
        out->coin_len[k] = e->len;
    }
    out->n = n;
    out->amount = sum;
    return DC_OK;
}

enum dc_err dc_wallet_confirm_payment(struct dc_wallet *w,
                                      const uint8_t payee_pub[static DC_PUBKEY_BYTES],
                                      const uint8_t nonce[static DC_NONCE_BYTES])
{
    int found = 0;
    for (size_t i = 0; i < w->n_coins; i++) {
        struct coin_entry *e = &w->coins[i];
        if (e->kind == KIND_PAYMENT && memcmp(e->payee, payee_pub, DC_PUBKEY_BYTES) == 0 &&
            memcmp(e->nonce, nonce, DC_NONCE_BYTES) == 0) {
            e->info.status = DC_WALLET_SPENT;
            found = 1;
        }
    }
    return found ? DC_OK : DC_ERR_NOT_FOUND;
}

/* Checks a plan against the wallet: indices, statuses, ownership, states
 * not consumed yet, split values, and the sum equal to the amount. */
static enum dc_err plan_check(const struct dc_wallet *w, const struct dc_wallet_plan *plan)
{
    if (plan->amount <= 0 || plan->n < 1 || plan->n > DC_WALLET_PLAN_MAX) {
        return DC_ERR_INVALID_ARGUMENT;
    }
    int64_t sum = 0;
    for (size_t i = 0; i < plan->n; i++) {
        size_t k = plan->coin[i];
        if (k >= w->n_coins) return DC_ERR_INVALID_ARGUMENT;
        for (size_t j = 0; j < i; j++) {
            if (plan->coin[j] == k) return DC_ERR_INVALID_ARGUMENT;
        }
        const struct coin_entry *e = &w->coins[k];
        if (e->info.status != DC_WALLET_HELD) return DC_ERR_COIN_SPENT;
        if (!e->info.is_ours) return DC_ERR_INVALID_ARGUMENT;
        if (state_consumed(w, e)) return DC_ERR_COIN_SPENT;
        /* never sign over what the payee would refuse (time is the
         * payee's to judge; the rest is the same everywhere) */
        enum dc_err d = dc_wallet_coin_doubtful(w, k, 0, 0);
        if (d == DC_ERR_CERT_REVOKED || d == DC_ERR_FORK_DETECTED) return d;
        int64_t v = e->info.value;
        if (plan->has_split && i == plan->n - 1) {
            int64_t a = plan->split_values[0], b = plan->split_values[1];
            int64_t parts = 0;
            if (a <= 0 || b <= 0 || !add_i64(&parts, a) || !add_i64(&parts, b) || parts != v) {
                return DC_ERR_INVALID_ARGUMENT;
            }
            if (w->has_trust && (a % w->params.base_unit != 0 || b % w->params.base_unit != 0)) {
                return DC_ERR_SPLIT_PART;
            }
            v = a;
        }
        if (!add_i64(&sum, v)) return DC_ERR_AMOUNT_OVERFLOW;
    }
    return sum == plan->amount ? DC_OK : DC_ERR_INVALID_ARGUMENT;
}

enum dc_err dc_wallet_prepare_payment(struct dc_wallet *w, struct dc_wallet_outgoing *out,
                                      const struct dc_wallet_plan *plan,
                                      const uint8_t payee_cert[static DC_DEVCERT_BYTES],
                                      const uint8_t nonce[static DC_NONCE_BYTES], uint64_t now)
{
    struct dc_devcert payee;
    enum dc_err err = dc_devcert_decode(&payee, payee_cert, DC_DEVCERT_BYTES);
    if (err != DC_OK) return err;
    memset(out, 0, sizeof *out);
    if (!plan) return DC_ERR_INVALID_ARGUMENT;

    /* Idempotency first: a payment signed once is never signed again. */
    err = dc_wallet_find_payment(w, out, payee.pub, nonce);
    if (err == DC_OK) {
        if (out->amount == plan->amount) return DC_OK;
        memset(out, 0, sizeof *out);
        return DC_ERR_IDEMPOTENCY_CONFLICT;
    }
    if (err != DC_ERR_NOT_FOUND) return err;
    if (memcmp(payee.pub, w->pub, DC_PUBKEY_BYTES) == 0) return DC_ERR_SELF_TRANSFER;
    err = plan_check(w, plan);
    if (err != DC_OK) return err;

    uint8_t *nb[DC_WALLET_PLAN_MAX] = {NULL};
    size_t nlen[DC_WALLET_PLAN_MAX] = {0};
    struct coin_entry ne[DC_WALLET_PLAN_MAX];
    struct coin_entry change;
    struct seen_batch batch = {NULL, 0, 0};
    struct dc_coin *c = malloc(sizeof *c);
    memset(&change, 0, sizeof change);
    if (!c) {
        err = DC_ERR_NO_MEMORY;
        goto out;
    }

    /* Stage: sign everything into fresh buffers; the wallet is untouched. */
    for (size_t i = 0; i < plan->n; i++) {
        const struct coin_entry *e = &w->coins[plan->coin[i]];
        int split = plan->has_split && i == plan->n - 1;
        size_t extra = DC_TRANSFER_BYTES + (split ? DC_SPLIT_BYTES(2) + 1 : 0);
        size_t cap = e->len + extra, len = e->len;
        nb[i] = malloc(cap);
        if (!nb[i]) {
            err = DC_ERR_NO_MEMORY;
            goto out;
        }
        memcpy(nb[i], e->bytes, e->len);
        if (split) {
            err = dc_coin_split(nb[i], cap, &len, w->sk, plan->split_values, 2);
            if (err != DC_OK) goto out;
            change.bytes = malloc(len);
            if (!change.bytes) {
                err = DC_ERR_NO_MEMORY;
                goto out;
            }
            memcpy(change.bytes, nb[i], len);
            change.len = len;
            err = dc_coin_select_part(change.bytes, change.len, 1);
            if (err != DC_OK) goto out;
            err = describe(&change, change.bytes, change.len, c);
            if (err != DC_OK) goto out;
            change.info.status = DC_WALLET_HELD;
            entry_set_ours(&change, w->pub);
            err = seen_stage(&batch, change.bytes, change.len, c);
            if (err != DC_OK) goto out;
        }
        err = dc_coin_transfer(nb[i], cap, &len, w->sk, payee_cert, nonce);
        if (err != DC_OK) goto out;
        nlen[i] = len;
        ne[i] = *e;
        err = describe(&ne[i], nb[i], len, c);
        if (err != DC_OK) goto out;
        err = seen_stage(&batch, nb[i], len, c);
        if (err != DC_OK) goto out;
    }
    err = seen_prepare(w, &batch);
    if (err != DC_OK) goto out;
    if (plan->has_split) {
        if (w->n_coins >= DC_WALLET_COINS_MAX) {
            err = DC_ERR_LIMIT_EXCEEDED;
            goto out;
        }
        void *q = grow(w->coins, &w->cap_coins, w->n_coins + 1, sizeof w->coins[0]);
        if (!q) {
            err = DC_ERR_NO_MEMORY;
            goto out;
        }
        w->coins = q;
    }

    /* Commit: nothing below can fail. */
    seen_commit(w, &batch);
    for (size_t i = 0; i < plan->n; i++) {
        struct coin_entry *e = &w->coins[plan->coin[i]];
        free(e->bytes);
        *e = ne[i];
        e->bytes = nb[i];
        e->len = nlen[i];
        nb[i] = NULL;
        e->info.status = DC_WALLET_PENDING_OUT;
        e->info.is_ours = 0;
        e->kind = KIND_PAYMENT;
        e->pay_index = (uint8_t)i;
        memcpy(e->payee, payee.pub, DC_PUBKEY_BYTES);
        memcpy(e->nonce, nonce, DC_NONCE_BYTES);
    }
    if (plan->has_split) {
        w->coins[w->n_coins++] = change;
        change.bytes = NULL;
    }
    struct dc_wallet_history h = {now, plan->amount, DC_WALLET_OUT, {0}};
    memcpy(h.alias, payee.alias, DC_ALIAS_BYTES);
    history_push(w, &h);
    err = dc_wallet_find_payment(w, out, payee.pub, nonce);
out:
    for (size_t i = 0; i < DC_WALLET_PLAN_MAX; i++) free(nb[i]);
    free(change.bytes);
    free(batch.e);
    free(c);
    return err;
}

enum dc_err dc_wallet_prepare_deposit(struct dc_wallet *w, size_t i, uint64_t account,
                                      uint64_t time, const uint8_t **bytes, size_t *len)
{
    if (i >= w->n_coins) return DC_ERR_NOT_FOUND;
    struct coin_entry *e = &w->coins[i];
    if (e->kind == KIND_DEPOSIT) { /* a retry: the same bytes */
        *bytes = e->bytes;
        *len = e->len;
        return DC_OK;
    }
    if (e->info.status != DC_WALLET_HELD) return DC_ERR_COIN_SPENT;
    if (!e->info.is_ours) return DC_ERR_INVALID_ARGUMENT;
    if (state_consumed(w, e)) return DC_ERR_COIN_SPENT;

    struct coin_entry ne = *e;
    struct seen_batch batch = {NULL, 0, 0};
    size_t cap = e->len + DC_DEPOSIT_BYTES, n = e->len;
    struct dc_coin *c = malloc(sizeof *c);
    uint8_t *buf = malloc(cap);
    enum dc_err err = DC_ERR_NO_MEMORY;
    if (!c || !buf) goto out;
    memcpy(buf, e->bytes, e->len);
    err = dc_coin_deposit(buf, cap, &n, w->sk, account, time);
    if (err != DC_OK) goto out;
    err = describe(&ne, buf, n, c);
    if (err != DC_OK) goto out;
    err = seen_stage(&batch, buf, n, c);
    if (err != DC_OK) goto out;
    err = seen_prepare(w, &batch);
    if (err != DC_OK) goto out;
    seen_commit(w, &batch);
    free(e->bytes);
    *e = ne;
    e->bytes = buf;
    e->len = n;
    buf = NULL;
    e->info.status = DC_WALLET_PENDING_OUT;
    e->info.is_ours = 0;
    e->kind = KIND_DEPOSIT;
    *bytes = e->bytes;
    *len = e->len;
out:
    free(buf);
    free(batch.e);
    free(c);
    return err;
}

enum dc_err dc_wallet_confirm_deposit(struct dc_wallet *w, size_t i)
{
    if (i >= w->n_coins) return DC_ERR_NOT_FOUND;
    if (w->coins[i].kind != KIND_DEPOSIT) return DC_ERR_INVALID_ARGUMENT;
    w->coins[i].info.status = DC_WALLET_SPENT;
    return DC_OK;
}

/* ---- Pending server requests ------------------------------------------ */

static int kind_ok(const char *kind, size_t *n)
{
    if (!kind) return 0;
    *n = strlen(kind);
    return *n >= 1 && *n <= DC_WALLET_KIND_MAX && printable(kind, *n);
}

/* Index of kind, or where it would go (*found = 0). */
static size_t req_find(const struct dc_wallet *w, const char *kind, int *found)
{
    size_t i = 0;
    *found = 0;
    for (; i < w->n_req; i++) {
        int c = strcmp(w->req[i].kind, kind);
        if (c == 0) *found = 1;
        if (c >= 0) break;
    }
    return i;
}

enum dc_err dc_wallet_request_put(struct dc_wallet *w, const char *kind,
                                  const uint8_t id[static DC_WALLET_REQUEST_ID_BYTES],
                                  const uint8_t *body, size_t len, uint64_t now)
{
    size_t kn;
    int found;
    if (!kind_ok(kind, &kn) || (len && !body)) return DC_ERR_INVALID_ARGUMENT;
    if (len > DC_WALLET_REQUEST_BODY_MAX) return DC_ERR_LIMIT_EXCEEDED;
    size_t at = req_find(w, kind, &found);
    if (found) return DC_ERR_IDEMPOTENCY_CONFLICT;
    if (w->n_req == DC_WALLET_REQUESTS_MAX) return DC_ERR_LIMIT_EXCEEDED;
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy) return DC_ERR_NO_MEMORY;
        memcpy(copy, body, len);
    }
    memmove(&w->req[at + 1], &w->req[at], (w->n_req - at) * sizeof w->req[0]);
    struct request_entry *r = &w->req[at];
    memset(r, 0, sizeof *r);
    memcpy(r->kind, kind, kn + 1);
    memcpy(r->id, id, DC_WALLET_REQUEST_ID_BYTES);
    r->created_at = now;
    r->body = copy;
    r->len = len;
    w->n_req++;
    return DC_OK;
}

enum dc_err dc_wallet_request_at(const struct dc_wallet *w, size_t i, const char **kind,
                                 uint8_t id[static DC_WALLET_REQUEST_ID_BYTES],
                                 const uint8_t **body, size_t *len, uint64_t *created_at)
{
    if (i >= w->n_req) return DC_ERR_NOT_FOUND;
    const struct request_entry *r = &w->req[i];
    if (kind) *kind = r->kind;
    memcpy(id, r->id, DC_WALLET_REQUEST_ID_BYTES);
    if (body) *body = r->body;
    if (len) *len = r->len;
    if (created_at) *created_at = r->created_at;
    return DC_OK;
}

enum dc_err dc_wallet_request_get(const struct dc_wallet *w, const char *kind,
                                  uint8_t id[static DC_WALLET_REQUEST_ID_BYTES],
                                  const uint8_t **body, size_t *len, uint64_t *created_at)
{
    size_t kn;
    int found;
    if (!kind_ok(kind, &kn)) return DC_ERR_INVALID_ARGUMENT;
    size_t at = req_find(w, kind, &found);
    if (!found) return DC_ERR_NOT_FOUND;
    return dc_wallet_request_at(w, at, NULL, id, body, len, created_at);
}

enum dc_err dc_wallet_request_done(struct dc_wallet *w, const char *kind)
{
    size_t kn;
    int found;
    if (!kind_ok(kind, &kn)) return DC_ERR_INVALID_ARGUMENT;
    size_t at = req_find(w, kind, &found);
    if (!found) return DC_ERR_NOT_FOUND;
    free(w->req[at].body);
    memmove(&w->req[at], &w->req[at + 1], (w->n_req - at - 1) * sizeof w->req[0]);
    w->n_req--;
    return DC_OK;
}

size_t dc_wallet_request_count(const struct dc_wallet *w)
{
    return w->n_req;
}

/* ---- Canonical serialization ------------------------------------------ */

static void put_bytes(struct dc_writer *wr, const uint8_t *p, size_t n)
{
    if (n) dc_write_bytes(wr, p, n);
}

enum dc_err dc_wallet_encode_plain(const struct dc_wallet *w, uint8_t *out, size_t cap,
                                   size_t *out_len)
{
    uint8_t dummy[1];
    struct dc_writer wr;
    dc_writer_init(&wr, out ? out : dummy, out ? cap : 0);
    dc_write_u8(&wr, PLAIN_VERSION);
    put_bytes(&wr, w->sk, DC_SEED_BYTES); /* libsodium sk = seed || pub */
    put_bytes(&wr, w->pub, DC_PUBKEY_BYTES);
    dc_write_u64(&wr, w->account);
    size_t ulen = w->url ? strlen(w->url) : 0;
    dc_write_u8(&wr, (uint8_t)ulen);
    dc_write_u8(&wr, (uint8_t)(ulen >> 8));
    put_bytes(&wr, (const uint8_t *)w->url, ulen);
    dc_write_u8(&wr, (uint8_t)w->has_devcert);
    if (w->has_devcert) put_bytes(&wr, w->devcert, DC_DEVCERT_BYTES);
    dc_write_u8(&wr, (uint8_t)w->has_trust);
    if (w->has_trust) {
        const struct dc_wallet_params *p = &w->params;
        put_bytes(&wr, p->master_pub, DC_PUBKEY_BYTES);
        dc_write_u32(&wr, p->currency);
        dc_write_i64(&wr, p->base_unit);
        dc_write_u8(&wr, p->max_hops);
        dc_write_u8(&wr, p->max_split_parts);
        dc_write_u64(&wr, p->coin_lifetime_ms);
        dc_write_u64(&wr, p->synced_at);
        dc_write_u8(&wr, (uint8_t)w->n_keys);
        for (size_t i = 0; i < w->n_keys; i++) {
            uint8_t kc[DC_KEYCERT_BYTES];
            dc_keycert_encode(kc, &w->keys[i].cert);
            put_bytes(&wr, kc, sizeof kc);
            dc_write_u64(&wr, w->keys[i].revoked_at);
        }
        dc_write_u32(&wr, (uint32_t)w->n_revoked);
        for (size_t i = 0; i < w->n_revoked; i++) put_bytes(&wr, w->revoked[i], DC_PUBKEY_BYTES);
    }
    dc_write_u32(&wr, (uint32_t)w->n_coins);
    for (size_t i = 0; i < w->n_coins; i++) {
        const struct coin_entry *e = &w->coins[i];
        dc_write_u8(&wr, e->info.status);
        dc_write_u8(&wr, e->kind);
        if (e->kind == KIND_PAYMENT) {
            put_bytes(&wr, e->payee, DC_PUBKEY_BYTES);
            put_bytes(&wr, e->nonce, DC_NONCE_BYTES);
            dc_write_u8(&wr, e->pay_index);
        }
        dc_write_u32(&wr, (uint32_t)e->len);
        put_bytes(&wr, e->bytes, e->len);
    }
    dc_write_u32(&wr, (uint32_t)w->n_seen);
    for (size_t i = 0; i < w->n_seen; i++) {
        put_bytes(&wr, w->seen[i].key, SEEN_KEY_BYTES);
        put_bytes(&wr, w->seen[i].succ, DC_HASH_BYTES);
        dc_write_u64(&wr, w->seen[i].expires_at);
    }
    dc_write_u8(&wr, (uint8_t)w->n_req);
    for (size_t i = 0; i < w->n_req; i++) {
        const struct request_entry *r = &w->req[i];
        size_t kn = strlen(r->kind);
        dc_write_u8(&wr, (uint8_t)kn);
        put_bytes(&wr, (const uint8_t *)r->kind, kn);
        put_bytes(&wr, r->id, DC_WALLET_REQUEST_ID_BYTES);
        dc_write_u64(&wr, r->created_at);
        dc_write_u32(&wr, (uint32_t)r->len);
        put_bytes(&wr, r->body, r->len);
    }
    dc_write_u8(&wr, (uint8_t)w->n_hist);
    dc_write_u8(&wr, (uint8_t)(w->n_hist >> 8));
    for (size_t i = 0; i < w->n_hist; i++) {
        const struct dc_wallet_history *h = &w->hist[i];
        dc_write_u64(&wr, h->time);
        dc_write_i64(&wr, h->amount);
        dc_write_u8(&wr, h->direction);
        put_bytes(&wr, h->alias, DC_ALIAS_BYTES);
    }
    *out_len = wr.len;
    return wr.overflow ? DC_ERR_BUFFER_TOO_SMALL : DC_OK;
}

static uint16_t read_u16(struct dc_reader *r)
{
    uint16_t lo = dc_read_u8(r);
    return (uint16_t)(lo | (uint16_t)(dc_read_u8(r) << 8));
}

/* Reads a 0/1 flag. */
static int read_flag(struct dc_reader *r)
{
    uint8_t v = dc_read_u8(r);
    if (v > 1) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
    return v == 1;
}

/* 1 if `n` items of at least `min` bytes each can still be in the input:
 * refuses absurd counts before anything is allocated for them. */
static int count_fits(struct dc_reader *r, size_t n, size_t min)
{
    if (r->err != DC_OK) return 0;
    if (n > (r->len - r->pos) / min) {
        dc_reader_fail(r, DC_ERR_DECODE_TRUNCATED);
        return 0;
    }
    return 1;
}

static void read_trust(struct dc_reader *r, struct dc_wallet *w)
{
    struct dc_wallet_params *p = &w->params;
    dc_read_copy(r, p->master_pub, DC_PUBKEY_BYTES);
    p->currency = dc_read_u32(r);
    p->base_unit = dc_read_i64(r);
    p->max_hops = dc_read_u8(r);
    p->max_split_parts = dc_read_u8(r);
    p->coin_lifetime_ms = dc_read_u64(r);
    p->synced_at = dc_read_u64(r);
    if (r->err == DC_OK && !params_ok(p)) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
    size_t nk = dc_read_u8(r);
    if (nk > DC_TRUST_KEYS_MAX) dc_reader_fail(r, DC_ERR_LIMIT_EXCEEDED);
    for (size_t i = 0; i < nk && r->err == DC_OK; i++) {
        const uint8_t *kc = dc_read_bytes(r, DC_KEYCERT_BYTES);
        uint64_t at = dc_read_u64(r);
        if (!kc) break;
        enum dc_err e = dc_keycert_decode(&w->keys[i].cert, kc, DC_KEYCERT_BYTES);
        if (e != DC_OK) {
            dc_reader_fail(r, e);
            break;
        }
        if (i > 0 && w->keys[i - 1].cert.key_id >= w->keys[i].cert.key_id) {
            dc_reader_fail(r, DC_ERR_DECODE_VALUE);
        }
        w->keys[i].revoked_at = at;
        w->n_keys = i + 1;
    }
    size_t nr = dc_read_u32(r);
    if (nr > DC_WALLET_REVOKED_MAX) dc_reader_fail(r, DC_ERR_LIMIT_EXCEEDED);
    if (nr == 0 || !count_fits(r, nr, DC_PUBKEY_BYTES)) return;
    w->revoked = malloc(nr * DC_PUBKEY_BYTES);
    if (!w->revoked) {
        dc_reader_fail(r, DC_ERR_NO_MEMORY);
        return;
    }
    for (size_t i = 0; i < nr && r->err == DC_OK; i++) {
        dc_read_copy(r, w->revoked[i], DC_PUBKEY_BYTES);
        if (i > 0 && memcmp(w->revoked[i - 1], w->revoked[i], DC_PUBKEY_BYTES) >= 0) {
            dc_reader_fail(r, DC_ERR_DECODE_VALUE);
        }
        w->n_revoked = i + 1;
    }
}

static void read_coins(struct dc_reader *r, struct dc_wallet *w, struct dc_coin *c)
{
    size_t n = dc_read_u32(r);
    if (n > DC_WALLET_COINS_MAX) dc_reader_fail(r, DC_ERR_LIMIT_EXCEEDED);
    if (n == 0 || !count_fits(r, n, 6 + DC_COIN_HEADER_BYTES + DC_GENESIS_BYTES)) return;
    w->coins = calloc(n, sizeof w->coins[0]);
    if (!w->coins) {
        dc_reader_fail(r, DC_ERR_NO_MEMORY);
        return;
    }
    w->cap_coins = n;
    for (size_t i = 0; i < n && r->err == DC_OK; i++) {
        struct coin_entry *e = &w->coins[i];
        uint8_t status = dc_read_u8(r);
        uint8_t kind = dc_read_u8(r);
        if (status < DC_WALLET_HELD || status > DC_WALLET_SPENT || kind > KIND_DEPOSIT ||
            (status == DC_WALLET_HELD) != (kind == KIND_NONE)) {
            dc_reader_fail(r, DC_ERR_DECODE_VALUE);
            return;
        }
        if (kind == KIND_PAYMENT) {
            dc_read_copy(r, e->payee, DC_PUBKEY_BYTES);
            dc_read_copy(r, e->nonce, DC_NONCE_BYTES);
            e->pay_index = dc_read_u8(r);
            if (e->pay_index >= DC_WALLET_PLAN_MAX) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
        }
        size_t len = dc_read_u32(r);
        if (len > DC_COIN_MAX_BYTES) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
        if (r->err != DC_OK) return;
        const uint8_t *p = dc_read_bytes(r, len);
        if (!p) return;
        enum dc_err err = describe(e, p, len, c);
        if (err != DC_OK) {
            dc_reader_fail(r, err);
            return;
        }
        e->info.status = status;
        e->kind = kind;
        entry_set_ours(e, w->pub);
        if ((status == DC_WALLET_HELD && !e->info.is_ours) ||
            (kind == KIND_DEPOSIT && !e->ends_deposit)) {
            dc_reader_fail(r, DC_ERR_DECODE_VALUE);
            return;
        }
        e->bytes = malloc(len);
        if (!e->bytes) {
            dc_reader_fail(r, DC_ERR_NO_MEMORY);
            return;
        }
        memcpy(e->bytes, p, len);
        e->len = len;
        w->n_coins = i + 1;
    }
}

static void read_seen(struct dc_reader *r, struct dc_wallet *w)
{
    size_t n = dc_read_u32(r);
    if (n > DC_WALLET_SEEN_MAX) dc_reader_fail(r, DC_ERR_LIMIT_EXCEEDED);
    if (n == 0 || !count_fits(r, n, SEEN_ENTRY_BYTES)) return;
    w->seen = malloc(n * sizeof w->seen[0]);
    if (!w->seen) {
        dc_reader_fail(r, DC_ERR_NO_MEMORY);
        return;
    }
    w->cap_seen = n;
    for (size_t i = 0; i < n && r->err == DC_OK; i++) {
        struct seen_entry *s = &w->seen[i];
        dc_read_copy(r, s->key, SEEN_KEY_BYTES);
        dc_read_copy(r, s->succ, DC_HASH_BYTES);
        s->expires_at = dc_read_u64(r);
        if (s->expires_at == 0 ||
            (i > 0 && memcmp(w->seen[i - 1].key, s->key, SEEN_KEY_BYTES) >= 0)) {
            dc_reader_fail(r, DC_ERR_DECODE_VALUE);
        }
        w->n_seen = i + 1;
    }
}

static void read_requests(struct dc_reader *r, struct dc_wallet *w)
{
    size_t n = dc_read_u8(r);
    if (n > DC_WALLET_REQUESTS_MAX) dc_reader_fail(r, DC_ERR_LIMIT_EXCEEDED);
    for (size_t i = 0; i < n && r->err == DC_OK; i++) {
        struct request_entry *q = &w->req[i];
        size_t kn = dc_read_u8(r);
        const uint8_t *k = dc_read_bytes(r, kn);
        if (!k) return;
        if (kn < 1 || kn > DC_WALLET_KIND_MAX || !printable((const char *)k, kn)) {
            dc_reader_fail(r, DC_ERR_DECODE_VALUE);
            return;
        }
        memcpy(q->kind, k, kn);
        q->kind[kn] = '\0';
        if (i > 0 && strcmp(w->req[i - 1].kind, q->kind) >= 0) {
            dc_reader_fail(r, DC_ERR_DECODE_VALUE);
            return;
        }
        dc_read_copy(r, q->id, DC_WALLET_REQUEST_ID_BYTES);
        q->created_at = dc_read_u64(r);
        size_t len = dc_read_u32(r);
        if (len > DC_WALLET_REQUEST_BODY_MAX) dc_reader_fail(r, DC_ERR_LIMIT_EXCEEDED);
        const uint8_t *body = dc_read_bytes(r, len);
        if (!body) return;
        if (len) {
            q->body = malloc(len);
            if (!q->body) {
                dc_reader_fail(r, DC_ERR_NO_MEMORY);
                return;
            }
            memcpy(q->body, body, len);
        }
        q->len = len;
        w->n_req = i + 1;
    }
}

static void read_history(struct dc_reader *r, struct dc_wallet *w)
{
    size_t n = read_u16(r);
    if (n > DC_WALLET_HISTORY_MAX) dc_reader_fail(r, DC_ERR_LIMIT_EXCEEDED);
    for (size_t i = 0; i < n && r->err == DC_OK; i++) {
        struct dc_wallet_history *h = &w->hist[i];
        h->time = dc_read_u64(r);
        h->amount = dc_read_i64(r);
        h->direction = dc_read_u8(r);
        dc_read_copy(r, h->alias, DC_ALIAS_BYTES);
        if (r->err == DC_OK && !history_ok(h)) dc_reader_fail(r, DC_ERR_DECODE_VALUE);
        w->n_hist = i + 1;
    }
}

enum dc_err dc_wallet_decode_plain(struct dc_wallet **out, const uint8_t *in, size_t len)
{
    struct dc_reader r;
    *out = NULL;
    if (!in && len) return DC_ERR_INVALID_ARGUMENT;
    struct dc_wallet *w = wallet_alloc();
    struct dc_coin *c = malloc(sizeof *c);
    if (!w || !c) {
        dc_wallet_free(w);
        free(c);
        return DC_ERR_NO_MEMORY;
    }
    dc_reader_init(&r, in ? in : (const uint8_t *)"", len);
    if (dc_read_u8(&r) != PLAIN_VERSION) dc_reader_fail(&r, DC_ERR_DECODE_VERSION);
    const uint8_t *seed = dc_read_bytes(&r, DC_SEED_BYTES);
    const uint8_t *pub = dc_read_bytes(&r, DC_PUBKEY_BYTES);
    if (seed && pub && r.err == DC_OK) {
        wallet_set_key(w, seed);
        if (sodium_memcmp(w->pub, pub, DC_PUBKEY_BYTES) != 0) {
            dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
        }
    }
    w->account = dc_read_u64(&r);
    size_t ulen = read_u16(&r);
    if (ulen > DC_WALLET_URL_MAX) dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
    const uint8_t *url = dc_read_bytes(&r, ulen);
    if (url && ulen) {
        if (!printable((const char *)url, ulen)) dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
        w->url = malloc(ulen + 1);
        if (!w->url) {
            dc_reader_fail(&r, DC_ERR_NO_MEMORY);
        } else {
            memcpy(w->url, url, ulen);
            w->url[ulen] = '\0';
        }
    }
    w->has_devcert = read_flag(&r);
    if (w->has_devcert) {
        const uint8_t *cert = dc_read_bytes(&r, DC_DEVCERT_BYTES);
        if (cert && r.err == DC_OK) {
            struct dc_devcert dc;
            enum dc_err e = dc_devcert_decode(&dc, cert, DC_DEVCERT_BYTES);
            if (e != DC_OK) {
                dc_reader_fail(&r, e);
            } else if (memcmp(dc.pub, w->pub, DC_PUBKEY_BYTES) != 0) {
                dc_reader_fail(&r, DC_ERR_DECODE_VALUE);
            }
            memcpy(w->devcert, cert, DC_DEVCERT_BYTES);
        }
    }
    w->has_trust = read_flag(&r);
    if (w->has_trust && r.err == DC_OK) read_trust(&r, w);
    if (r.err == DC_OK) read_coins(&r, w, c);
    if (r.err == DC_OK) read_seen(&r, w);
    if (r.err == DC_OK) read_requests(&r, w);
    if (r.err == DC_OK) read_history(&r, w);
    free(c);
    enum dc_err err = dc_reader_finish(&r);
    if (err != DC_OK) {
        dc_wallet_free(w);
        return err;
    }
    *out = w;
    return DC_OK;
}

/* ---- Sealing ---------------------------------------------------------- */

static enum dc_err kdf_limits(uint64_t *ops, size_t *mem, const struct dc_wallet_kdf *kdf)
{
    *ops = kdf && kdf->opslimit ? kdf->opslimit : crypto_pwhash_OPSLIMIT_INTERACTIVE;
    *mem = kdf && kdf->memlimit ? kdf->memlimit : crypto_pwhash_MEMLIMIT_INTERACTIVE;
    if (*ops < crypto_pwhash_OPSLIMIT_MIN || *ops > OPSLIMIT_CAP) return DC_ERR_INVALID_ARGUMENT;
    if (*mem < crypto_pwhash_MEMLIMIT_MIN || *mem > MEMLIMIT_CAP) return DC_ERR_INVALID_ARGUMENT;
    return DC_OK;
}

/* Derives the file key into guarded memory (*key NULL on error). */
static enum dc_err derive(uint8_t **key, const char *pass, size_t pass_len,
                          const uint8_t salt[static crypto_pwhash_SALTBYTES], uint64_t ops,
                          size_t mem)
{
    *key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (!*key) return DC_ERR_NO_MEMORY;
    if (crypto_pwhash(*key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, pass ? pass : "", pass_len,
                      salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_free(*key);
        *key = NULL;
        return DC_ERR_NO_MEMORY; /* Argon2 could not get its memory */
    }
    sodium_mprotect_readonly(*key);
    return DC_OK;
}

static void keep_key(struct dc_wallet *w, uint8_t *key, const uint8_t *salt, uint64_t ops,
                     size_t mem)
{
    dc_wallet_forget_key(w);
    w->fkey = key;
    memcpy(w->fsalt, salt, crypto_pwhash_SALTBYTES);
    w->fops = ops;
    w->fmem = mem;
}

/* Bytes of the plaintext serialization (the writer counts past its end). */
static size_t plain_size(const struct dc_wallet *w)
{
    size_t n;
    enum dc_err e = dc_wallet_encode_plain(w, NULL, 0, &n);
    (void)e; /* DC_ERR_BUFFER_TOO_SMALL, with n = the size needed */
    return n;
}

size_t dc_wallet_sealed_size(const struct dc_wallet *w)
{
    return DC_WALLET_HEADER_BYTES + plain_size(w) + crypto_aead_xchacha20poly1305_ietf_ABYTES;
}

/* The passphrase check: a keyed hash of a constant under the file key. It
 * lets opening tell a wrong passphrase from a damaged file without a
 * second oracle: testing a guess still costs one Argon2id run, exactly as
 * trying the AEAD would. */
static void key_check(uint8_t out[static CHECK_BYTES], const uint8_t *key)
{
    static const char label[] = "ducat/wallet/key-check/v1";
    crypto_generichash(out, CHECK_BYTES, (const uint8_t *)label, sizeof label - 1, key,
                       crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
}

/* Unkeyed checksum of the header bytes before it: damage to the salt or the
 * costs would otherwise derive another key and look like a wrong passphrase. */
static void header_sum(uint8_t out[static CHECK_BYTES], const uint8_t *h)
{
    crypto_generichash(out, CHECK_BYTES, h, H_SUM, NULL, 0);
}

/* Seals with a given key, salt and cost (fresh nonce). */
static enum dc_err seal_with(const struct dc_wallet *w, uint8_t *out, size_t cap, size_t *out_len,
                             const uint8_t *key, const uint8_t *salt, uint64_t ops, size_t mem)
{
    size_t plen = plain_size(w);
    size_t ct_len = plen + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    size_t need = DC_WALLET_HEADER_BYTES + ct_len;
    *out_len = need;
    if (ct_len > DC_WALLET_FILE_MAX) return DC_ERR_LIMIT_EXCEEDED;
    if (!out || cap < need) return DC_ERR_BUFFER_TOO_SMALL;
    uint8_t *plain = sodium_malloc(plen);
    if (!plain) return DC_ERR_NO_MEMORY;
    size_t got;
    if (dc_wallet_encode_plain(w, plain, plen, &got) != DC_OK || got != plen) {
        sodium_free(plain);
        return DC_ERR_INTERNAL;
    }
    uint8_t *h = out;
    memcpy(h, DC_WALLET_MAGIC, 8);
    h[8] = DC_WALLET_FILE_VERSION;
    h[9] = KDF_ARGON2ID13;
    dc_store64_le(h + H_OPS, ops);
    dc_store64_le(h + H_MEM, (uint64_t)mem);
    memcpy(h + H_SALT, salt, crypto_pwhash_SALTBYTES);
    uint8_t *nonce = h + H_NONCE;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    dc_store64_le(h + H_CTLEN, (uint64_t)ct_len);
    key_check(h + H_CHECK, key);
    header_sum(h + H_SUM, h);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + DC_WALLET_HEADER_BYTES, &clen, plain, plen, h,
                                               DC_WALLET_HEADER_BYTES, NULL, nonce, key);
    sodium_free(plain); /* wipes the seed */
    return clen == ct_len ? DC_OK : DC_ERR_INTERNAL;
}

enum dc_err dc_wallet_seal(struct dc_wallet *w, uint8_t *out, size_t cap, size_t *out_len,
                           const char *pass, size_t pass_len, const struct dc_wallet_kdf *kdf,
                           unsigned flags)
{
    uint64_t ops;
    size_t mem;
    uint8_t salt[crypto_pwhash_SALTBYTES];
    uint8_t *key;
    *out_len = dc_wallet_sealed_size(w);
    enum dc_err err = kdf_limits(&ops, &mem, kdf);
    if (err != DC_OK) return err;
    if (!pass && pass_len) return DC_ERR_INVALID_ARGUMENT;
    if (!out || cap < *out_len) return DC_ERR_BUFFER_TOO_SMALL;
    randombytes_buf(salt, sizeof salt);
    err = derive(&key, pass, pass_len, salt, ops, mem);
    if (err != DC_OK) return err;
    err = seal_with(w, out, cap, out_len, key, salt, ops, mem);
    if (err == DC_OK && (flags & DC_WALLET_KEEP_KEY)) {
        keep_key(w, key, salt, ops, mem);
    } else {
        sodium_free(key);
    }
    return err;
}

enum dc_err dc_wallet_open(struct dc_wallet **out, const uint8_t *in, size_t len, const char *pass,
                           size_t pass_len, unsigned flags)
{
    static const uint8_t magic[8] = {'D', 'U', 'C', 'A', 'T', 'W', 'L', 'T'};
    *out = NULL;
    if ((!in && len) || (!pass && pass_len)) return DC_ERR_INVALID_ARGUMENT;
    size_t m = len < sizeof magic ? len : sizeof magic;
    if (m && memcmp(in, magic, m) != 0) return DC_ERR_WALLET_NOT_WALLET;
    /* the version byte decides the header's layout, so it comes first */
    if (len > 8 && in[8] != DC_WALLET_FILE_VERSION) return DC_ERR_WALLET_VERSION;
    if (len < DC_WALLET_HEADER_BYTES) return DC_ERR_WALLET_TRUNCATED;
    uint8_t sum[CHECK_BYTES];
    header_sum(sum, in);
    if (sodium_memcmp(sum, in + H_SUM, CHECK_BYTES) != 0) return DC_ERR_WALLET_CORRUPT;
    uint64_t ops = dc_load64_le(in + H_OPS), mem64 = dc_load64_le(in + H_MEM);
    const uint8_t *salt = in + H_SALT;
    const uint8_t *nonce = in + H_NONCE;
    uint64_t ct_len = dc_load64_le(in + H_CTLEN);
    /* a header with a good checksum but values we never write was forged */
    if (in[9] != KDF_ARGON2ID13 || ops < crypto_pwhash_OPSLIMIT_MIN || ops > OPSLIMIT_CAP ||
        mem64 < crypto_pwhash_MEMLIMIT_MIN || mem64 > MEMLIMIT_CAP ||
        ct_len < crypto_aead_xchacha20poly1305_ietf_ABYTES || ct_len > DC_WALLET_FILE_MAX) {
        return DC_ERR_WALLET_CORRUPT;
    }
    size_t body = len - DC_WALLET_HEADER_BYTES;
    if (body < ct_len) return DC_ERR_WALLET_TRUNCATED;
    if (body > ct_len) return DC_ERR_WALLET_CORRUPT; /* bytes appended */
    size_t mem = (size_t)mem64;
    size_t plen = (size_t)ct_len - crypto_aead_xchacha20poly1305_ietf_ABYTES;

    uint8_t *key;
    enum dc_err err = derive(&key, pass, pass_len, salt, ops, mem);
    if (err != DC_OK) return err;
    uint8_t check[CHECK_BYTES];
    key_check(check, key);
    if (sodium_memcmp(check, in + H_CHECK, CHECK_BYTES) != 0) {
        sodium_free(key);
        return DC_ERR_WALLET_PASSPHRASE;
    }
    uint8_t *plain = sodium_malloc(plen ? plen : 1);
    if (!plain) {
        sodium_free(key);
        return DC_ERR_NO_MEMORY;
    }
    unsigned long long got = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &got, NULL, in + DC_WALLET_HEADER_BYTES,
                                                   ct_len, in, DC_WALLET_HEADER_BYTES, nonce,
                                                   key) != 0) {
        err = DC_ERR_WALLET_CORRUPT; /* right key (checked above): the body changed */
    } else {
        err = dc_wallet_decode_plain(out, plain, (size_t)got);
        /* authenticated yet undecodable: a newer writer, or a bug; either
         * way the user needs to hear it is the file, not their input */
        if (err == DC_ERR_DECODE_VERSION) {
            err = DC_ERR_WALLET_VERSION;
        } else if (err != DC_OK && err != DC_ERR_NO_MEMORY) {
            err = DC_ERR_WALLET_CORRUPT;
        }
    }
    sodium_free(plain); /* wipes the seed */
    if (err == DC_OK && (flags & DC_WALLET_KEEP_KEY)) {
        keep_key(*out, key, salt, ops, mem);
    } else {
        sodium_free(key);
    }
    return err;
}

/* ---- File I/O --------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

/* fsync of the directory holding path, so the rename itself is durable. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = malloc(2);
        if (dir) memcpy(dir, ".", 2);
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir) return 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return 0;
    int ok = fsync(fd) == 0;
    return close(fd) == 0 && ok;
}

/* Writes bytes to "<path>.tmp", fsyncs, renames over path, fsyncs the directory. */
static enum dc_err write_atomic(const char *path, const uint8_t *p, size_t n)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) return DC_ERR_NO_MEMORY;
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    enum dc_err err = DC_ERR_IO;
    if (unlink(tmp) != 0 && errno != ENOENT) goto out; /* a leftover from a crash */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) goto out;
    int ok = write_all(fd, p, n) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        goto out;
    }
    err = sync_dir(path) ? DC_OK : DC_ERR_IO;
out:
    free(tmp);
    return err;
}

enum dc_err dc_wallet_save(struct dc_wallet *w, const char *path, const char *pass, size_t pass_len,
                           const struct dc_wallet_kdf *kdf, unsigned flags)
{
    if (!path || !*path) return DC_ERR_INVALID_ARGUMENT;
    size_t n = dc_wallet_sealed_size(w);
    uint8_t *buf = malloc(n);
    if (!buf) return DC_ERR_NO_MEMORY;
    enum dc_err err = dc_wallet_seal(w, buf, n, &n, pass, pass_len, kdf, flags);
    if (err == DC_OK) err = write_atomic(path, buf, n);
    free(buf);
    return err;
}

enum dc_err dc_wallet_commit(struct dc_wallet *w, const char *path)
{
    if (!path || !*path || !w->fkey) return DC_ERR_INVALID_ARGUMENT;
    size_t n = dc_wallet_sealed_size(w);
    uint8_t *buf = malloc(n);
    if (!buf) return DC_ERR_NO_MEMORY;
    enum dc_err err = seal_with(w, buf, n, &n, w->fkey, w->fsalt, w->fops, w->fmem);
    if (err == DC_OK) err = write_atomic(path, buf, n);
    free(buf);
    return err;
}

enum dc_err dc_wallet_load(struct dc_wallet **out, const char *path, const char *pass,
                           size_t pass_len, unsigned flags)
{
    *out = NULL;
    if (!path) return DC_ERR_INVALID_ARGUMENT;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return DC_ERR_IO;
    struct stat st;
    enum dc_err err = DC_ERR_IO;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) goto out;
    if (st.st_size < 0 ||
        (uint64_t)st.st_size > DC_WALLET_HEADER_BYTES + (uint64_t)DC_WALLET_FILE_MAX) {
        err = DC_ERR_LIMIT_EXCEEDED;
        goto out;
    }
    size_t n = (size_t)st.st_size, got = 0;
    buf = malloc(n ? n : 1);
    if (!buf) {
        err = DC_ERR_NO_MEMORY;
        goto out;
    }
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break; /* error, or the file shrank under us */
        got += (size_t)k;
    }
    if (got != n) goto out;
    err = dc_wallet_open(out, buf, n, pass, pass_len, flags);
out:
    free(buf);
    close(fd);
    return err;
}
