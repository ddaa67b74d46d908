/*
 * nonces.c - the nonce cache: replay protection for signed requests, and
 * the device -> account cache that spares authentication a store read.
 * Every accepted (key, nonce) is kept until it could no longer pass the
 * clock-skew window, so a captured request cannot be sent again.
 * Thread-safe (each table behind its own mutex); nonces.h is its contract.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/nonces.h"

/* ---- Nonce cache (replay protection for signed requests) -------------- */

/* Every accepted (key, nonce) stays until its request time + 2 * clock
 * skew: at 6k requests/s and the default 300 s skew that is ~3.6M entries.
 * So the table is large and spread by a keyed hash (a device choosing its
 * nonces cannot pile them into one chain), and entries leave in arrival
 * order from a FIFO, a few per call: a whole-table sweep under the lock
 * stalled every request (0.7 s at 3.6M entries) and 4096 buckets made
 * chains of ~900 (190 us per lookup). Arrival order is expiry order give
 * or take the skew, so an entry may outlive its expiry by up to the skew:
 * harmless, its request time is outside the window by then anyway. */
#define NONCE_BUCKETS (1u << 18) /* 2 MB of chain heads; ~14 per chain at 3.6M */
#define NONCE_EXPIRE_MAX 8       /* expired entries freed per call (>1: keeps up after idling) */

struct nonce_entry {
    uint8_t key[DC_PUBKEY_BYTES + DC_NONCE_BYTES];
    uint64_t expires;
    uint32_t bucket;
    struct nonce_entry *next;  /* in its bucket's chain */
    struct nonce_entry *later; /* the FIFO: the next entry to arrive */
};

/* Device key -> account id of keys known to have an account, so a signed
 * request does not cost a database read before its nonce is taken (~10%
 * of ducatd's CPU per transfer in perf). Direct-mapped by the keyed hash, a
 * collision overwrites. Registration binds a device to its account for
 * good (no statement changes device_pub or deletes an account), so an
 * entry never goes stale; what may change about the account (frozen,
 * debtor, blocked, balances) is read inside each write by the ledger, and
 * by the handlers that show it. Keys without an account are never kept. */
#define DEVICE_SLOTS (1u << 16) /* 2.6 MB */

struct device_slot {
    uint8_t pub[DC_PUBKEY_BYTES];
    int64_t account; /* 0: empty */
};

struct dc_nonces {
    pthread_mutex_t lock;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct nonce_entry *oldest, *newest; /* the FIFO */
    size_t count;                        /* entries held: the ducat_nonce_table_entries gauge */
    struct nonce_entry *bucket[NONCE_BUCKETS];
    pthread_mutex_t devices_lock;
    struct device_slot devices[DEVICE_SLOTS];
};

static uint32_t device_slot_of(const struct dc_nonces *n, const uint8_t *pub)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, pub, DC_PUBKEY_BYTES, n->hash_key);
    return ((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16) % DEVICE_SLOTS;
}

/* The account of device pub if known here, else 0. */
int64_t dc_nonces_device_account(struct dc_nonces *n, const uint8_t *pub)
{
    struct device_slot *d = &n->devices[device_slot_of(n, pub)];
    int64_t id = 0;
    pthread_mutex_lock(&n->devices_lock);
    if (d->account && sodium_memcmp(d->pub, pub, DC_PUBKEY_BYTES) == 0) id = d->account;
    pthread_mutex_unlock(&n->devices_lock);
    return id;
}

void dc_nonces_device_remember(struct dc_nonces *n, const uint8_t *pub, int64_t account)
{
    struct device_slot *d = &n->devices[device_slot_of(n, pub)];
    pthread_mutex_lock(&n->devices_lock);
    memcpy(d->pub, pub, DC_PUBKEY_BYTES);
    d->account = account;
    pthread_mutex_unlock(&n->devices_lock);
}

size_t dc_nonces_count(struct dc_nonces *n)
{
    if (!n) return 0;
    pthread_mutex_lock(&n->lock);
    size_t c = n->count;
    pthread_mutex_unlock(&n->lock);
    return c;
}

struct dc_nonces *dc_nonces_new(void)
{
    struct dc_nonces *n = calloc(1, sizeof *n);
    if (n) {
        pthread_mutex_init(&n->lock, NULL);
        pthread_mutex_init(&n->devices_lock, NULL);
        randombytes_buf(n->hash_key, sizeof n->hash_key);
    }
    return n;
}

void dc_nonces_free(struct dc_nonces *n)
{
    if (!n) return;
    for (struct nonce_entry *e = n->oldest, *later; e; e = later) {
        later = e->later;
        free(e);
    }
    pthread_mutex_destroy(&n->lock);
    pthread_mutex_destroy(&n->devices_lock);
    free(n);
}

/* 1 if (pub, nonce) is new (and remembers it until `expires`), 0 if seen. */
int dc_nonce_fresh(struct dc_nonces *n, const uint8_t *pub, const uint8_t *nonce, uint64_t now,
                   uint64_t expires)
{
    uint8_t key[DC_PUBKEY_BYTES + DC_NONCE_BYTES], h[crypto_shorthash_BYTES];
    memcpy(key, pub, DC_PUBKEY_BYTES);
    memcpy(key + DC_PUBKEY_BYTES, nonce, DC_NONCE_BYTES);
    crypto_shorthash(h, key, sizeof key, n->hash_key);
    uint32_t b = ((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16) % NONCE_BUCKETS;
    int fresh = 1;
    pthread_mutex_lock(&n->lock);
    for (int k = 0; k < NONCE_EXPIRE_MAX && n->oldest && n->oldest->expires < now; k++) {
        struct nonce_entry *dead = n->oldest, **pp = &n->bucket[dead->bucket];
        while (*pp != dead) pp = &(*pp)->next;
        *pp = dead->next;
        n->oldest = dead->later;
        if (!n->oldest) n->newest = NULL;
        free(dead);
        n->count--;
    }
    for (struct nonce_entry *e = n->bucket[b]; e; e = e->next) {
        if (memcmp(e->key, key, sizeof key) == 0) {
            fresh = 0;
            break;
        }
    }
    if (fresh) {
        struct nonce_entry *e = malloc(sizeof *e);
        if (e) {
            memcpy(e->key, key, sizeof key);
            e->expires = expires;
            e->bucket = b;
            e->next = n->bucket[b];
            n->bucket[b] = e;
            e->later = NULL;
            if (n->newest) {
                n->newest->later = e;
            } else {
                n->oldest = e;
            }
            n->newest = e;
            n->count++;
        } else {
            fresh = 0; /* cannot remember it: refuse rather than risk a replay */
        }
    }
    pthread_mutex_unlock(&n->lock);
    return fresh;
}
