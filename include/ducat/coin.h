/*
 * ducat/coin.h - keys, certificates, coins and their records, chain
 * verification and fork evidence: the "unique encrypted data" of the seed.
 *
 * Trust hierarchy. The issuer MASTER key (Ed25519, kept offline) certifies
 * issuer SIGNING keys (struct dc_keycert: key id, validity windows). A signing
 * key certifies DEVICE keys (struct dc_devcert: alias, offline limit, expiry)
 * and signs coin GENESIS records.
 *
 * Coins. A coin is a chain: one GENESIS record (signed by a signing key;
 * serial, value, currency, issue time, expiry, hop limit, first owner's
 * certificate) followed by records each signed by the then current owner over
 * the hash of the state before it: TRANSFER (to the next owner's certificate
 * and the nonce that owner chose), SPLIT (part values summing to the parent;
 * the chain continues on one chosen part), DEPOSIT (to the issuer, naming
 * the depositing account; always last). A STATE is a node of the coin tree,
 * identified by a hash over the record *bodies* (signatures excluded, so the
 * same signed event always names the same state). A state consumed by two
 * records with different bodies, both signed by its owner, is a double spend
 * and the two records are the proof (struct dc_evidence).
 *
 * Byte layouts are in docs/PROTOCOL.md. All integers are little-endian
 * except the serial, whose first six bytes are the issue time in big-endian
 * milliseconds so that serials sort by time (cheap B-tree inserts).
 *
 * Everything here is pure: no I/O, no allocation, no clock or RNG; time and
 * random bytes are parameters. Parsed structs are *views*: pointers in them
 * point into the caller's buffer, which must outlive the view.
 * THREAD SAFETY: reentrant; libsodium must have been initialised
 * (sodium_init) by the host before the first call.
 */
#ifndef DUCAT_COIN_H
#define DUCAT_COIN_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DC_WIRE_VERSION 1
#define DC_PUBKEY_BYTES 32
#define DC_SECKEY_BYTES 64 /* libsodium layout: seed || public key */
#define DC_SEED_BYTES 32
#define DC_SIG_BYTES 64
#define DC_HASH_BYTES 32
#define DC_SERIAL_BYTES 16
#define DC_SERIAL_RANDOM_BYTES 10
#define DC_ALIAS_BYTES 8
#define DC_NONCE_BYTES 16

#define DC_HOP_LIMIT_MAX 64    /* hard cap on records after genesis */
#define DC_SPLIT_PARTS_MAX 8   /* hard cap on parts of one split */
#define DC_TRUST_KEYS_MAX 32   /* signing keys one trust context holds */
#define DC_EVIDENCE_KEYS_MAX 8 /* signing-key certificates one evidence carries */

/* Record type tags: the first byte of every signed structure. */
enum dc_type {
    DC_TYPE_KEYCERT = 0x01,
    DC_TYPE_DEVCERT = 0x02,
    DC_TYPE_KEYREQ = 0x03,
    DC_TYPE_GENESIS = 0x10,
    DC_TYPE_TRANSFER = 0x11,
    DC_TYPE_SPLIT = 0x12,
    DC_TYPE_DEPOSIT = 0x13,
    DC_TYPE_COIN = 0x20,
    DC_TYPE_EVIDENCE = 0x30,
    DC_TYPE_REFUSAL_EVIDENCE = 0x31, /* a refused payment passed on (ducat/refusal.h) */
};

/* Encoded sizes (type and version bytes included). */
#define DC_KEYCERT_BYTES 126
#define DC_KEYREQ_BYTES 126
#define DC_DEVCERT_BYTES 126
#define DC_GENESIS_BYTES 241
#define DC_TRANSFER_BYTES 208
#define DC_SPLIT_BYTES(n) (3u + 8u * (unsigned)(n) + 64u) /* + 1 part byte inside a coin */
#define DC_DEPOSIT_BYTES 82
#define DC_COIN_HEADER_BYTES 3
/* Upper bound of an encoded coin: header, genesis, hop-limit records of the
 * largest kind, and a deposit. */
#define DC_COIN_MAX_BYTES                                                                          \
    (DC_COIN_HEADER_BYTES + DC_GENESIS_BYTES + DC_HOP_LIMIT_MAX * DC_TRANSFER_BYTES +              \
     DC_DEPOSIT_BYTES)

/* ---- Keys ------------------------------------------------------------- */

/* Derives an Ed25519 key pair from a 32-byte seed (the caller draws the seed). */
void dc_keypair_from_seed(uint8_t pk[static DC_PUBKEY_BYTES], uint8_t sk[static DC_SECKEY_BYTES],
                          const uint8_t seed[static DC_SEED_BYTES]);

/* ---- Certificates ----------------------------------------------------- */

/* Issuer signing-key certificate, signed by the master key. A key may sign
 * coins and device certificates in [valid_from, sign_until) and what it
 * signed is accepted until verify_until (>= sign_until + coin lifetime). */
struct dc_keycert {
    uint32_t key_id;
    uint8_t pub[DC_PUBKEY_BYTES];
    uint64_t valid_from;   /* ms since epoch */
    uint64_t sign_until;   /* ms since epoch, > valid_from */
    uint64_t verify_until; /* ms since epoch, >= sign_until */
    uint8_t sig[DC_SIG_BYTES];
};

/* Device certificate, signed by an issuer signing key. */
struct dc_devcert {
    uint32_t key_id;               /* which signing key signed it */
    uint8_t pub[DC_PUBKEY_BYTES];  /* the device key */
    uint8_t alias[DC_ALIAS_BYTES]; /* opaque, per device; the issuer maps it to a name */
    uint64_t expires_at;           /* ms since epoch: the device must sync before */
    int64_t offline_limit;         /* minor units the device may hold offline */
    uint8_t sig[DC_SIG_BYTES];
};

/* Sign: fills c->sig and writes the encoding. The signer's secret key is
 * the master key (keycert) or a signing key (devcert). */
void dc_keycert_sign(uint8_t out[static DC_KEYCERT_BYTES], struct dc_keycert *c,
                     const uint8_t master_sk[static DC_SECKEY_BYTES]);
void dc_devcert_sign(uint8_t out[static DC_DEVCERT_BYTES], struct dc_devcert *c,
                     const uint8_t signing_sk[static DC_SECKEY_BYTES]);
/* Encode without signing (c->sig must already be set). */
void dc_keycert_encode(uint8_t out[static DC_KEYCERT_BYTES], const struct dc_keycert *c);
void dc_devcert_encode(uint8_t out[static DC_DEVCERT_BYTES], const struct dc_devcert *c);

/* Strict decoders (exact length; windows ordered). They do not check signatures. */
DC_MUST_CHECK enum dc_err dc_keycert_decode(struct dc_keycert *out, const uint8_t *in, size_t len);
DC_MUST_CHECK enum dc_err dc_devcert_decode(struct dc_devcert *out, const uint8_t *in, size_t len);
/* Checks a keycert's master signature: DC_OK or DC_ERR_BAD_SIGNATURE. */
DC_MUST_CHECK enum dc_err dc_keycert_check(const struct dc_keycert *c,
                                           const uint8_t master_pub[static DC_PUBKEY_BYTES]);

/*
 * Certification request for a new signing key, for a master key kept offline:
 * the keycert fields, signed by the NEW key itself (proof of possession).
 * The holder of the master key checks it and turns it into a keycert.
 */
void dc_keyreq_sign(uint8_t out[static DC_KEYREQ_BYTES], struct dc_keycert *req,
                    const uint8_t new_sk[static DC_SECKEY_BYTES]);
DC_MUST_CHECK enum dc_err dc_keyreq_decode_check(struct dc_keycert *out, const uint8_t *in,
                                                 size_t len);

/* ---- Trust context ---------------------------------------------------- */

/* Verification flags. */
#define DC_VERIFY_DEVICE_REVOCATION 0x1u /* refuse any record signed by a revoked device */
#define DC_VERIFY_SIGNER_FRESH 0x2u      /* the signer of the last record holds an unexpired cert */
#define DC_VERIFY_IGNORE_TIME 0x4u       /* skip every time check (fork evidence) */

struct dc_trust_key {
    struct dc_keycert cert; /* checked against the master key when added */
    uint64_t revoked_at;    /* 0 = not revoked; else nothing it signed counts from then on */
};

/*
 * What a verifier trusts and the rules it applies. Plain data: fill the
 * scalar fields, then add keys with dc_trust_add_key. `revoked_devices`
 * is borrowed: a sorted (memcmp ascending) array of device public keys.
 */
struct dc_trust {
    uint8_t master_pub[DC_PUBKEY_BYTES];
    struct dc_trust_key keys[DC_TRUST_KEYS_MAX];
    size_t n_keys;
    const uint8_t (*revoked_devices)[DC_PUBKEY_BYTES];
    size_t n_revoked_devices;
    uint64_t now;             /* ms since epoch: the verifier's clock */
    uint64_t clock_skew_ms;   /* tolerated issue time in the future */
    uint64_t expiry_grace_ms; /* accept coins expired at most this long ago (flagged) */
    uint32_t currency;        /* ISO 4217 numeric */
    int64_t base_unit;        /* every value a positive multiple of this */
    uint8_t max_hops;         /* <= DC_HOP_LIMIT_MAX; genesis hop limits above are refused */
    uint8_t max_split_parts;  /* 2..DC_SPLIT_PARTS_MAX */
    unsigned flags;           /* DC_VERIFY_* */
};

/* Zeroes *t and sets the master key and sane defaults: max_hops 32, 8 split
 * parts, base unit 1, DEVICE_REVOCATION | SIGNER_FRESH. */
void dc_trust_init(struct dc_trust *t, const uint8_t master_pub[static DC_PUBKEY_BYTES],
                   uint32_t currency, uint64_t now);
/* Checks the certificate's master signature and adds (or replaces, same key
 * id) the key. DC_ERR_BAD_SIGNATURE, DC_ERR_TRUST_FULL. */
DC_MUST_CHECK enum dc_err dc_trust_add_key(struct dc_trust *t, const struct dc_keycert *c,
                                           uint64_t revoked_at);
const struct dc_trust_key *dc_trust_find_key(const struct dc_trust *t, uint32_t key_id);
/* 1 if pub is on t's revocation list (t->revoked_devices, sorted), else 0. */
int dc_trust_device_revoked(const struct dc_trust *t, const uint8_t pub[static DC_PUBKEY_BYTES]);

/* ---- Coins ------------------------------------------------------------ */

struct dc_genesis {
    uint32_t key_id;                 /* issuer signing key */
    uint8_t serial[DC_SERIAL_BYTES]; /* unique; 6 bytes BE issue ms + 10 random */
    uint32_t currency;               /* ISO 4217 numeric */
    int64_t value;                   /* minor units, > 0 */
    uint64_t issued_at;              /* ms since epoch */
    uint64_t expires_at;             /* ms since epoch, > issued_at */
    uint8_t hop_limit;               /* max transfer + split records, <= DC_HOP_LIMIT_MAX */
    struct dc_devcert owner;         /* the first owner */
    uint8_t sig[DC_SIG_BYTES];
};

/* One record after genesis, as parsed from a coin. */
struct dc_record {
    uint8_t type;         /* DC_TYPE_TRANSFER, _SPLIT or _DEPOSIT */
    const uint8_t *bytes; /* view of the encoded record (body and signature, no part byte) */
    size_t len;
    union {
        struct {
            struct dc_devcert to;
            uint8_t nonce[DC_NONCE_BYTES];
        } transfer;
        struct {
            uint8_t n;
            int64_t values[DC_SPLIT_PARTS_MAX];
            uint8_t part; /* which part this chain continues with */
        } split;
        struct {
            uint64_t account;
            uint64_t time;
        } deposit;
    } u;
    uint8_t sig[DC_SIG_BYTES];
};

/* A parsed coin (a view into its encoding). */
struct dc_coin {
    struct dc_genesis genesis;
    const uint8_t *genesis_bytes;
    size_t n; /* records after genesis */
    struct dc_record rec[DC_HOP_LIMIT_MAX + 1];
};

/* Builds a serial: six bytes of big-endian issue time, then random bytes. */
void dc_serial_make(uint8_t out[static DC_SERIAL_BYTES], uint64_t issued_at,
                    const uint8_t rnd[static DC_SERIAL_RANDOM_BYTES]);

/*
 * Issues a coin: signs g (filling g->sig) with the signing key and writes a
 * coin with no records yet (DC_COIN_HEADER_BYTES + DC_GENESIS_BYTES bytes).
 * Validates the fields (value > 0, expiry after issue, hop limit cap).
 */
DC_MUST_CHECK enum dc_err dc_coin_issue(uint8_t *out, size_t cap, size_t *out_len,
                                        struct dc_genesis *g,
                                        const uint8_t signing_sk[static DC_SECKEY_BYTES]);

/* Strict decoder: exactly one coin, no trailing bytes, every field in range
 * (but no signature checked). */
DC_MUST_CHECK enum dc_err dc_coin_decode(struct dc_coin *out, const uint8_t *in, size_t len);

/* Value, current owner (after the last record), record count. */
int64_t dc_coin_value(const struct dc_coin *c);
const struct dc_devcert *dc_coin_owner(const struct dc_coin *c);

/* State hash after the first k records (k = 0: the genesis state). */
void dc_coin_state(uint8_t out[static DC_HASH_BYTES], const struct dc_coin *c, size_t k);
/* Incremental form: the genesis state, and the state after one record
 * (what a server walking a chain uses; out may alias prev). */
void dc_state_genesis(uint8_t out[static DC_HASH_BYTES], const uint8_t *genesis_bytes);
void dc_state_next(uint8_t out[static DC_HASH_BYTES], const uint8_t prev[static DC_HASH_BYTES],
                   const struct dc_record *rec);
/* Hash identifying the record that consumed state k (the successor body). */
void dc_coin_successor(uint8_t out[static DC_HASH_BYTES], const struct dc_coin *c, size_t k);

/*
 * Appends a record to the coin encoded in buf[0..*len) (capacity cap),
 * signed by owner_sk, which must be the current owner's key
 * (DC_ERR_NOT_OWNER otherwise). A coin ending in a DEPOSIT takes nothing more
 * (DC_ERR_CHAIN_ORDER); hop limit and split rules are enforced as the
 * verifier enforces them. On error buf and *len are unchanged.
 */
DC_MUST_CHECK enum dc_err dc_coin_transfer(uint8_t *buf, size_t cap, size_t *len,
                                           const uint8_t owner_sk[static DC_SECKEY_BYTES],
                                           const uint8_t to_cert[static DC_DEVCERT_BYTES],
                                           const uint8_t nonce[static DC_NONCE_BYTES]);
/* Splits into n parts (values sum to the coin's value); the chain continues
 * with part 0. Use dc_coin_select_part for the siblings. */
DC_MUST_CHECK enum dc_err dc_coin_split(uint8_t *buf, size_t cap, size_t *len,
                                        const uint8_t owner_sk[static DC_SECKEY_BYTES],
                                        const int64_t *values, size_t n);
/* Rewrites which part a coin ending in a SPLIT continues with. */
DC_MUST_CHECK enum dc_err dc_coin_select_part(uint8_t *buf, size_t len, uint8_t part);
DC_MUST_CHECK enum dc_err dc_coin_deposit(uint8_t *buf, size_t cap, size_t *len,
                                          const uint8_t owner_sk[static DC_SECKEY_BYTES],
                                          uint64_t account, uint64_t time);

/* ---- Verification ----------------------------------------------------- */

/*
 * Cache of verified signatures, so split siblings (and repeated deposits of
 * one coin) do not re-verify shared history and a device certificate seen
 * in many coins is verified once. Keys are digests over the exact encoded
 * bytes (signatures included) of a chain prefix, or of a device certificate
 * together with the public key that signed it; a hit means those signatures
 * were checked. Key windows, revocation, time and structure checks are
 * always redone, so one cache may outlive trust changes.
 * Caller-owned open-addressing table: slots[cap], cap a power of two,
 * zero-initialised. A full table (3/4) simply stops caching; the owner may
 * empty it. A cache shared between threads sets lock/unlock: they are held
 * only around table probes, never around signature checks.
 */
struct dc_verify_cache {
    uint8_t (*slots)[DC_HASH_BYTES];
    size_t cap;
    size_t n;
    void (*lock)(void *arg); /* NULL: single-threaded use */
    void (*unlock)(void *arg);
    void *lock_arg;
};

struct dc_verify_opts {
    const uint8_t *expect_owner; /* 32 bytes or NULL: the final owner must be this device */
    const uint8_t *expect_nonce; /* 16 bytes or NULL: the last record is a transfer with it */
    int allow_deposit;           /* a trailing DEPOSIT record is allowed */
};

struct dc_verify_result {
    size_t index;                 /* offending record: 0 = genesis, i = i-th record after it */
    size_t sigs_checked;          /* signatures actually verified (cache hits excluded) */
    int64_t value;                /* value of the final state */
    int expired_in_grace;         /* coin past expiry but within the grace period */
    uint8_t state[DC_HASH_BYTES]; /* hash of the final state */
};

/*
 * Verifies a whole coin under a trust context: issuer key and windows,
 * genesis signature, currency, value, expiry, every certificate, every
 * record signature by the then owner over the previous state, split
 * conservation (checked sums), hop limit, revocation, the expected receiver
 * and nonce. Returns DC_OK or the precise error; res->index names the record.
 * Each signature is checked at most once; `cache` may be NULL.
 */
DC_MUST_CHECK enum dc_err dc_coin_verify(struct dc_verify_result *res, const struct dc_trust *t,
                                         const struct dc_coin *c, const struct dc_verify_opts *opts,
                                         struct dc_verify_cache *cache);

/* ---- Fork evidence ---------------------------------------------------- */

/* What a verified evidence package proves. */
struct dc_evidence_info {
    /* DC_TYPE_EVIDENCE: a double spend, two records of one state.
     * DC_TYPE_REFUSAL_EVIDENCE: a refused payment passed on: the payee's
     * REFUSAL of the payment that made the state hers (successor A, type
     * DC_REFUSAL_TAG) and her record consuming that state (successor B). */
    uint8_t kind;
    uint8_t culprit[DC_PUBKEY_BYTES]; /* device key that signed both successors */
    uint8_t alias[DC_ALIAS_BYTES];    /* its alias (the issuer maps it to an account) */
    uint8_t serial[DC_SERIAL_BYTES];
    uint8_t state[DC_HASH_BYTES];    /* the forked state */
    int64_t value;                   /* value of the forked state */
    size_t fork_index;               /* records before the forked state */
    uint8_t type_a, type_b;          /* record types of the two successors */
    size_t succ_off[2], succ_len[2]; /* where the two successors lie in the input */
};

/* Largest evidence encoding. */
#define DC_EVIDENCE_MAX_BYTES                                                                      \
    (3 + DC_EVIDENCE_KEYS_MAX * DC_KEYCERT_BYTES + DC_COIN_MAX_BYTES + 2 * DC_TRANSFER_BYTES)

/*
 * From two coins that share a state with two different successors, builds
 * the canonical evidence: the signing-key certificates it needs (taken from
 * t), the common prefix up to the forked state, and the two successor
 * records in byte order. DC_ERR_NO_FORK if the coins do not fork (one
 * extends the other, they are siblings of a split, or they are unrelated).
 * Both coins should have been verified first.
 */
DC_MUST_CHECK enum dc_err dc_evidence_build(uint8_t *out, size_t cap, size_t *out_len,
                                            const struct dc_trust *t, const struct dc_coin *a,
                                            const struct dc_coin *b);

/*
 * Verifies an evidence package with nothing but the master public key:
 * keycerts under the master, the prefix chain's signatures, and both
 * successors signed by the owner of the forked state over it, with
 * different bodies. Time and revocation are irrelevant to a proof.
 * DC_ERR_EVIDENCE_INVALID (or a decode error) if it proves nothing.
 */
DC_MUST_CHECK enum dc_err dc_evidence_verify(struct dc_evidence_info *out,
                                             const uint8_t master_pub[static DC_PUBKEY_BYTES],
                                             const uint8_t *in, size_t len);
/* The same; *why (why may be NULL) names the check that failed, in words
 * for an auditor ("successor B is not signed by the owner of the forked
 * state"), or is "" on success. A static string. */
DC_MUST_CHECK enum dc_err dc_evidence_verify_why(struct dc_evidence_info *out, const char **why,
                                                 const uint8_t master_pub[static DC_PUBKEY_BYTES],
                                                 const uint8_t *in, size_t len);

#ifdef __cplusplus
}
#endif
#endif
