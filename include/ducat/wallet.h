/*
 * ducat/wallet.h - the wallet's state, its encrypted file, coin selection
 * and the payer/payee bookkeeping of offline payments.
 *
 * A struct dc_wallet holds everything one device needs offline:
 *   - the device key pair (secret key in sodium_malloc'd guarded memory,
 *     read-only while held, wiped on free), its latest device certificate,
 *     the server URL and account id;
 *   - the trust material last synced from the server (master key, signing
 *     key certificates, revoked devices, currency and coin rules), from
 *     which dc_wallet_trust builds the core's struct dc_trust;
 *   - the coins: HELD (ours to spend), PENDING_OUT (signed away, not yet
 *     confirmed: the exact signed bytes are kept so a retry re-sends them
 *     and the wallet never signs a second, different successor of a state),
 *     SPENT (confirmed; kept until pruned);
 *   - the seen-set: (serial, state) -> successor for every consumed state
 *     the wallet knows, so a fork is detected offline, on the spot;
 *   - pending server requests (a request id and body persisted BEFORE the
 *     call, so a retry after a crash reuses them);
 *   - a short history of offline payments.
 *
 * Persistence. One file, encrypted at rest (see "Wallet file" below).
 * Writes are atomic (temporary file, fsync, rename, fsync of the
 * directory): a crash leaves the old or the new wallet, never a mix. The
 * serialization is a pair of pure functions (dc_wallet_encode_plain /
 * dc_wallet_decode_plain) and the sealing a pair of in-memory functions
 * (dc_wallet_seal / dc_wallet_open); only dc_wallet_save/_load/_commit do
 * I/O. Crash rule for payments: call dc_wallet_save (or _commit) after
 * dc_wallet_prepare_payment and before sending anything, and after
 * dc_wallet_accept_coins and before sending the receipt.
 *
 * Mutators are all-or-nothing: on any error the wallet is unchanged.
 * Pointers returned by accessors borrow wallet memory and stay valid until
 * the next call that changes the wallet (or dc_wallet_free).
 *
 * THREAD SAFETY: a wallet is used by one thread at a time; distinct wallets
 * are independent. libsodium must have been initialised (sodium_init).
 * ONE WRITER: one process saves a given wallet path at a time (the host
 * serialises, e.g. with a lock file); "<path>.tmp" is the scratch file.
 */
#ifndef DUCAT_WALLET_H
#define DUCAT_WALLET_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/coin.h"
#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dc_wallet;

/* ---- Limits ----------------------------------------------------------- */

#define DC_WALLET_COINS_MAX 2048         /* coin entries of any status */
#define DC_WALLET_SEEN_MAX 65536         /* seen-set entries */
#define DC_WALLET_REVOKED_MAX 65536      /* revoked device keys */
#define DC_WALLET_REQUESTS_MAX 64        /* pending server requests */
#define DC_WALLET_REQUEST_BODY_MAX 65536 /* bytes of one request body */
#define DC_WALLET_KIND_MAX 64            /* bytes of a request kind (printable ASCII) */
#define DC_WALLET_HISTORY_MAX 256        /* history entries kept (oldest dropped) */
#define DC_WALLET_URL_MAX 1024           /* bytes of the server URL (printable ASCII) */
#define DC_WALLET_FILE_MAX (64u << 20)   /* largest wallet file accepted */
#define DC_WALLET_PLAN_MAX 16            /* coins in one payment (= DC_PAYMENT_COINS_MAX) */
#define DC_WALLET_HOP_RESERVE 2          /* hops a coin must have left to be offered */
#define DC_WALLET_REQUEST_ID_BYTES 16

/* ---- Life cycle ------------------------------------------------------- */

/*
 * Creates an empty wallet whose device key pair derives from a 32-byte seed
 * the caller drew (randombytes_buf); the caller wipes its copy of the seed.
 * DC_ERR_NO_MEMORY. *out is NULL on error.
 */
DC_MUST_CHECK enum dc_err dc_wallet_create(struct dc_wallet **out,
                                           const uint8_t seed[static DC_SEED_BYTES]);
/* Wipes and frees every part of the wallet, the secret key first. NULL is a no-op. */
void dc_wallet_free(struct dc_wallet *w);

/* ---- Identity, server, certificate ------------------------------------ */

void dc_wallet_device_pub(const struct dc_wallet *w, uint8_t out[static DC_PUBKEY_BYTES]);
/*
 * The device secret key (libsodium layout, DC_SECKEY_BYTES), borrowed from
 * guarded read-only memory, for the calls that sign (request, receipt,
 * client authentication). Never copy it elsewhere; never log it.
 */
const uint8_t *dc_wallet_device_sk(const struct dc_wallet *w);

/* Server URL (printable ASCII, at most DC_WALLET_URL_MAX bytes; "" clears)
 * and account id. DC_ERR_INVALID_ARGUMENT, DC_ERR_NO_MEMORY. */
DC_MUST_CHECK enum dc_err dc_wallet_set_server(struct dc_wallet *w, const char *url,
                                               uint64_t account);
const char *dc_wallet_server_url(const struct dc_wallet *w); /* "" if none */
uint64_t dc_wallet_account(const struct dc_wallet *w);       /* 0 if none */

/* Stores the latest device certificate: it must decode and certify this
 * device's key (DC_ERR_CERT_INVALID otherwise). */
DC_MUST_CHECK enum dc_err dc_wallet_set_devcert(struct dc_wallet *w,
                                                const uint8_t cert[static DC_DEVCERT_BYTES]);
/* Copies it out: DC_OK, or DC_ERR_WALLET_NOT_REGISTERED before the first one. */
DC_MUST_CHECK enum dc_err dc_wallet_devcert(const struct dc_wallet *w,
                                            uint8_t out[static DC_DEVCERT_BYTES]);

/* ---- Trust material --------------------------------------------------- */

/* Scalar part of what the wallet last synced from the server. */
struct dc_wallet_params {
    uint8_t master_pub[DC_PUBKEY_BYTES]; /* pinned issuer master key */
    uint32_t currency;                   /* ISO 4217 numeric */
    int64_t base_unit;                   /* > 0: every value a multiple of it */
    uint8_t max_hops;                    /* 1..DC_HOP_LIMIT_MAX */
    uint8_t max_split_parts;             /* 2..DC_SPLIT_PARTS_MAX */
    uint64_t coin_lifetime_ms;           /* informational: lifetime of new coins */
    uint64_t synced_at;                  /* ms since epoch of the sync */
};

/*
 * Replaces the whole trust material at once (a sync). keycerts: n_keys
 * encoded keycerts (DC_KEYCERT_BYTES each, concatenated), each checked
 * under p->master_pub (DC_ERR_BAD_SIGNATURE), distinct key ids, at most
 * DC_TRUST_KEYS_MAX (DC_ERR_LIMIT_EXCEEDED); revoked_at: n_keys times (ms,
 * 0 = not revoked) or NULL for none. revoked: n_revoked device public keys
 * in any order (sorted and de-duplicated here), at most DC_WALLET_REVOKED_MAX.
 * Field ranges as documented above (DC_ERR_INVALID_ARGUMENT).
 */
DC_MUST_CHECK enum dc_err dc_wallet_set_trust(struct dc_wallet *w, const struct dc_wallet_params *p,
                                              const uint8_t *keycerts, size_t n_keys,
                                              const uint64_t *revoked_at,
                                              const uint8_t (*revoked)[DC_PUBKEY_BYTES],
                                              size_t n_revoked);
/* DC_OK and *out filled, or DC_ERR_WALLET_NOT_SYNCED before the first sync. */
DC_MUST_CHECK enum dc_err dc_wallet_params(const struct dc_wallet *w, struct dc_wallet_params *out);
/* The i-th keycert (ascending key id) and its revocation time. */
size_t dc_wallet_keycert_count(const struct dc_wallet *w);
DC_MUST_CHECK enum dc_err dc_wallet_keycert_at(const struct dc_wallet *w, size_t i,
                                               uint8_t out[static DC_KEYCERT_BYTES],
                                               uint64_t *revoked_at);
/* Revoked device keys, sorted ascending (borrowed), and their number. */
const uint8_t (*dc_wallet_revoked(const struct dc_wallet *w, size_t *n))[DC_PUBKEY_BYTES];

/*
 * Builds the core's verification context from the synced material, for
 * clock `now`: master key, keys, revocation list (t->revoked_devices
 * BORROWS wallet memory: valid until the wallet changes), currency, base
 * unit, hops, split parts, default flags. DC_ERR_WALLET_NOT_SYNCED before
 * the first sync; DC_ERR_BAD_SIGNATURE if a stored keycert no longer checks.
 */
DC_MUST_CHECK enum dc_err dc_wallet_trust(const struct dc_wallet *w, struct dc_trust *t,
                                          uint64_t now);

/* ---- Coins ------------------------------------------------------------ */

enum dc_wallet_coin_status {
    DC_WALLET_HELD = 1,        /* ours, spendable */
    DC_WALLET_PENDING_OUT = 2, /* signed away (payment or deposit), awaiting confirmation */
    DC_WALLET_SPENT = 3,       /* confirmed gone */
};

/* What a coin entry looks like, for listings and for selection. */
struct dc_wallet_coin_info {
    int64_t value;       /* minor units of the coin's current node */
    uint32_t currency;   /* ISO 4217 numeric */
    uint8_t status;      /* enum dc_wallet_coin_status */
    uint8_t is_ours;     /* 1 if this device is the current owner */
    uint8_t hops_used;   /* TRANSFER + SPLIT records so far */
    uint8_t hop_limit;   /* from the genesis record */
    uint64_t issued_at;  /* ms since epoch */
    uint64_t expires_at; /* ms since epoch */
    /* Expiry of the current owner's certificate AS EMBEDDED in the chain
     * (genesis owner or last transfer): a payee refuses a record signed
     * under an expired one (DC_VERIFY_SIGNER_FRESH), whatever newer
     * certificate the owner has since synced. */
    uint64_t owner_expires_at;
    uint8_t serial[DC_SERIAL_BYTES];
    uint8_t state[DC_HASH_BYTES]; /* hash of the coin's final state */
};

/* Number of coin entries (any status); entries keep their order until a
 * coin is added or pruned. */
size_t dc_wallet_coin_count(const struct dc_wallet *w);
/* DC_OK or DC_ERR_NOT_FOUND (i out of range). */
DC_MUST_CHECK enum dc_err dc_wallet_coin_info(const struct dc_wallet *w, size_t i,
                                              struct dc_wallet_coin_info *out);
/* The entry's encoded coin (borrowed); for PENDING_OUT, the signed outgoing bytes. */
DC_MUST_CHECK enum dc_err dc_wallet_coin_bytes(const struct dc_wallet *w, size_t i,
                                               const uint8_t **bytes, size_t *len);

/*
 * 1 if the coin should be deposited (refreshed) instead of spent: it
 * expires within margin_ms of now, or the owner certificate embedded in
 * it does, or it has fewer than DC_WALLET_HOP_RESERVE hops left (room for
 * a split and a transfer).
 */
int dc_wallet_needs_refresh(const struct dc_wallet_coin_info *c, uint64_t now, uint64_t margin_ms);

struct dc_wallet_balance {
    int64_t held;        /* every HELD coin */
    int64_t spendable;   /* HELD, ours, of the synced currency, not needing refresh, not
                            doubtful (dc_wallet_coin_doubtful) */
    int64_t refresh;     /* HELD coins to deposit (dc_wallet_needs_refresh, or doubtful) */
    int64_t pending_out; /* PENDING_OUT coins (signed away, unconfirmed) */
    size_t n_held, n_spendable, n_refresh, n_pending_out;
};
/* Sums with overflow checks (DC_ERR_AMOUNT_OVERFLOW). */
DC_MUST_CHECK enum dc_err dc_wallet_balance(const struct dc_wallet *w, uint64_t now,
                                            uint64_t margin_ms, struct dc_wallet_balance *out);

/*
 * Adds coins this wallet now owns (a withdrawal, or an offline payment the
 * caller has VERIFIED, e.g. with dc_payment_verify): each must decode, be
 * owned by this device and not end in a deposit (DC_ERR_WRONG_RECEIVER,
 * DC_ERR_CHAIN_ORDER). Every state the coins consume enters the seen-set;
 * a state known with another successor refuses the whole call
 * (DC_ERR_FORK_DETECTED). Idempotent: a coin already held (same serial and
 * final state) is skipped, so a retried payment is not counted twice. If
 * new coins arrived by TRANSFER, one IN history entry (their total, the
 * payer's alias, `now`) is added. *added (OUT, may be NULL): new coins.
 */
DC_MUST_CHECK enum dc_err dc_wallet_accept_coins(struct dc_wallet *w, const uint8_t *const *coins,
                                                 const size_t *lens, size_t n, uint64_t now,
                                                 size_t *added);

/*
 * Why a payee would refuse coin i if this wallet paid with it, as far as
 * the wallet can tell before signing: DC_OK (it would take it), or
 *   DC_ERR_COIN_EXPIRED, DC_ERR_CERT_EXPIRED   the coin, or the certificate of
 *                                              its current owner, expires
 *                                              within margin_ms of now;
 *   DC_ERR_HOP_LIMIT      fewer than DC_WALLET_HOP_RESERVE hops left;
 *   DC_ERR_CERT_REVOKED   a device in its history (or this one) is on the
 *                         revocation list of the last sync;
 *   DC_ERR_FORK_DETECTED  a state of its chain is known in this wallet's
 *                         seen-set with another successor (a double spend
 *                         upstream that a payee may know too);
 *   DC_ERR_NOT_FOUND, DC_ERR_NO_MEMORY, a decode error.
 * Such coins are never selected for a payment (dc_wallet_select) and
 * dc_wallet_prepare_payment refuses revoked or forked ones; they are to
 * be deposited (dc_service_refresh does it), where the server credits an
 * honest holder and sorts out any fork.
 */
DC_MUST_CHECK enum dc_err dc_wallet_coin_doubtful(const struct dc_wallet *w, size_t i, uint64_t now,
                                                  uint64_t margin_ms);

/* ---- Seen-set --------------------------------------------------------- */

/* 1 if (serial, state) is known with a successor other than `successor`. */
int dc_wallet_seen_conflict(const struct dc_wallet *w, const uint8_t serial[static DC_SERIAL_BYTES],
                            const uint8_t state[static DC_HASH_BYTES],
                            const uint8_t successor[static DC_HASH_BYTES]);
/* The same as a dc_seen_fn (ducat/proto.h) with ctx = the wallet:
 * DC_OK, or DC_ERR_FORK_DETECTED on a conflict. */
enum dc_err dc_wallet_seen_check(void *wallet, const uint8_t serial[DC_SERIAL_BYTES],
                                 const uint8_t state[DC_HASH_BYTES],
                                 const uint8_t successor[DC_HASH_BYTES]);
size_t dc_wallet_seen_count(const struct dc_wallet *w);

/*
 * Remembers that this device signed a refusal of these coins (each ending
 * in a TRANSFER to it, as a refused PAYMENT carries them): their final
 * states enter the seen-set consumed by the reclaim marker
 * (dc_reclaim_marker), so dc_wallet_accept_coins refuses them for good
 * (DC_ERR_PAY_REFUSED_BEFORE) and any coin that goes on from them
 * (DC_ERR_FORK_DETECTED). The payer may reclaim them online at once with
 * the refusal; a wallet that took them later would hold coins the server
 * refuses. Idempotent. The wallet has changed: save it before the refusal
 * leaves. Errors: decode errors, DC_ERR_LIMIT_EXCEEDED, DC_ERR_NO_MEMORY.
 */
DC_MUST_CHECK enum dc_err dc_wallet_refuse_coins(struct dc_wallet *w, const uint8_t *const *coins,
                                                 const size_t *lens, size_t n);
/* 1 if this wallet refused the coin state (serial, state) (dc_wallet_refuse_coins). */
int dc_wallet_refused(const struct dc_wallet *w, const uint8_t serial[static DC_SERIAL_BYTES],
                      const uint8_t state[static DC_HASH_BYTES]);

/*
 * Forgets what can no longer matter: SPENT coins and seen-set entries of
 * coins that expired before `before` (pass now minus the deposit grace
 * period). Returns how many entries were dropped.
 */
size_t dc_wallet_prune(struct dc_wallet *w, uint64_t before);

/* ---- Coin selection (select.c, pure) ---------------------------------- */

enum dc_wallet_plan_kind {
    DC_PLAN_EXACT_ONE = 1,  /* one coin of exactly the amount */
    DC_PLAN_EXACT_MANY = 2, /* several coins summing exactly to the amount */
    DC_PLAN_SPLIT_ONE = 3,  /* one larger coin split into amount + change */
    DC_PLAN_MANY_SPLIT = 4, /* whole coins plus one coin split for the rest */
};

/*
 * A payment plan: coin[0..n) are paid; if has_split, coin[n-1] is first
 * split into split_values[0] (paid) and split_values[1] (change, kept).
 * Indices are wallet coin indices (or indices into the array given to
 * dc_wallet_select_coins); dc_wallet_prepare_payment re-checks them.
 */
struct dc_wallet_plan {
    int64_t amount;
    int kind; /* enum dc_wallet_plan_kind */
    size_t n; /* 1..DC_WALLET_PLAN_MAX */
    size_t coin[DC_WALLET_PLAN_MAX];
    int has_split;
    int64_t split_values[2]; /* [paid part, change], positive multiples of the base unit */
    size_t records;          /* records the payment adds (transfers + split) */
};

struct dc_wallet_select_opts {
    uint64_t now;       /* ms since epoch */
    uint64_t margin_ms; /* coins expiring within this are not offered (e.g. one day) */
    int64_t base_unit;  /* > 0 */
    uint32_t currency;  /* only coins of this currency; 0 = any */
};

/*
 * Chooses coins to pay `amount` adding the fewest records. Candidates are
 * HELD coins owned by this device, of the currency, not needing refresh,
 * ordered by value, then fewer hops used, then later expiry. In order:
 *   (a) one coin of exactly the amount (1 record);
 *   (b) an exact combination with the fewest coins (k records), searched
 *       depth-first with a node budget;
 *   (c) one coin larger than the amount, the smallest such, split into
 *       amount + change (2 records);
 *   (d) the fewest whole coins plus one coin split for the rest, the
 *       smallest coin that covers it (m + 1 records for m coins).
 * An exact combination (b) wins over (c)/(d) when it adds no more records
 * than they do; otherwise the split plan is taken, as it adds fewer.
 * DC_ERR_AMOUNT_ZERO (amount <= 0), DC_ERR_DENOM_UNREACHABLE (not a
 * multiple of the base unit), DC_ERR_INSUFFICIENT_FUNDS (spendable coins
 * do not cover it), DC_ERR_LIMIT_EXCEEDED (more than DC_WALLET_PLAN_MAX
 * coins needed), DC_ERR_INVALID_ARGUMENT, DC_ERR_NO_MEMORY.
 */
DC_MUST_CHECK enum dc_err dc_wallet_select_coins(struct dc_wallet_plan *plan,
                                                 const struct dc_wallet_coin_info *coins, size_t n,
                                                 int64_t amount,
                                                 const struct dc_wallet_select_opts *opts);
/* The same over the wallet's coins, with its synced base unit and currency
 * (DC_ERR_WALLET_NOT_SYNCED before the first sync). */
DC_MUST_CHECK enum dc_err dc_wallet_select(struct dc_wallet_plan *plan, const struct dc_wallet *w,
                                           int64_t amount, uint64_t now, uint64_t margin_ms);

/* ---- Paying (payer side) ---------------------------------------------- */

/* The coins of one outgoing payment, as views into the wallet (borrowed,
 * valid until the wallet changes), in the order they are to be sent. */
struct dc_wallet_outgoing {
    int64_t amount;
    size_t n;
    const uint8_t *coin[DC_WALLET_PLAN_MAX];
    size_t coin_len[DC_WALLET_PLAN_MAX];
};

/*
 * Applies a plan for the payee (its device certificate) and the nonce of
 * its request: splits (dc_coin_split, dc_coin_select_part) and transfers
 * (dc_coin_transfer) with the device key; the paid coins become
 * PENDING_OUT holding their signed bytes, the change part is added HELD,
 * the consumed states enter the seen-set, and an OUT history entry is
 * written. IDEMPOTENT: if a payment to this payee with this nonce exists
 * (pending or confirmed), it is returned as it was signed and nothing is
 * signed again (the plan may differ; its amount must match, else
 * DC_ERR_IDEMPOTENCY_CONFLICT). The caller persists the wallet before
 * sending *out. Errors: DC_ERR_INVALID_ARGUMENT (plan inconsistent with the
 * wallet: index, status, owner, values), DC_ERR_SELF_TRANSFER,
 * DC_ERR_COIN_SPENT (a state already consumed), the core's decode and
 * signing errors (DC_ERR_HOP_LIMIT, ...), DC_ERR_LIMIT_EXCEEDED,
 * DC_ERR_NO_MEMORY. Nothing changes on error.
 */
DC_MUST_CHECK enum dc_err
dc_wallet_prepare_payment(struct dc_wallet *w, struct dc_wallet_outgoing *out,
                          const struct dc_wallet_plan *plan,
                          const uint8_t payee_cert[static DC_DEVCERT_BYTES],
                          const uint8_t nonce[static DC_NONCE_BYTES], uint64_t now);
/* The payment to (payee key, nonce), as prepared: DC_OK or DC_ERR_NOT_FOUND. */
DC_MUST_CHECK enum dc_err dc_wallet_find_payment(const struct dc_wallet *w,
                                                 struct dc_wallet_outgoing *out,
                                                 const uint8_t payee_pub[static DC_PUBKEY_BYTES],
                                                 const uint8_t nonce[static DC_NONCE_BYTES]);
/* On the payee's (checked) receipt: that payment's coins become SPENT.
 * DC_ERR_NOT_FOUND if no such payment. Idempotent. */
DC_MUST_CHECK enum dc_err dc_wallet_confirm_payment(struct dc_wallet *w,
                                                    const uint8_t payee_pub[static DC_PUBKEY_BYTES],
                                                    const uint8_t nonce[static DC_NONCE_BYTES]);

/*
 * Deposit of coin i (HELD, ours) to the issuer for `account`: appends the
 * signed DEPOSIT record, marks the coin PENDING_OUT and returns its bytes
 * (borrowed). Idempotent: a coin already pending deposit returns the same
 * bytes. dc_wallet_confirm_deposit marks it SPENT once the server took it.
 */
DC_MUST_CHECK enum dc_err dc_wallet_prepare_deposit(struct dc_wallet *w, size_t i, uint64_t account,
                                                    uint64_t time, const uint8_t **bytes,
                                                    size_t *len);
DC_MUST_CHECK enum dc_err dc_wallet_confirm_deposit(struct dc_wallet *w, size_t i);

/* ---- Pending server requests ------------------------------------------ */

/*
 * A request is persisted before it is sent, under a caller-chosen `kind`
 * (printable ASCII, 1..DC_WALLET_KIND_MAX bytes, e.g. "withdraw"): after a
 * crash the host finds it and re-sends the same id and body, which the
 * server answers idempotently. put: DC_ERR_IDEMPOTENCY_CONFLICT if that
 * kind is pending already (re-send it or mark it done first),
 * DC_ERR_LIMIT_EXCEEDED, DC_ERR_INVALID_ARGUMENT, DC_ERR_NO_MEMORY.
 */
DC_MUST_CHECK enum dc_err dc_wallet_request_put(struct dc_wallet *w, const char *kind,
                                                const uint8_t id[static DC_WALLET_REQUEST_ID_BYTES],
                                                const uint8_t *body, size_t len, uint64_t now);
/* DC_OK with the id copied and the body borrowed, or DC_ERR_NOT_FOUND. */
DC_MUST_CHECK enum dc_err dc_wallet_request_get(const struct dc_wallet *w, const char *kind,
                                                uint8_t id[static DC_WALLET_REQUEST_ID_BYTES],
                                                const uint8_t **body, size_t *len,
                                                uint64_t *created_at);
/* Once the server answered for good: forgets it (DC_ERR_NOT_FOUND if none). */
DC_MUST_CHECK enum dc_err dc_wallet_request_done(struct dc_wallet *w, const char *kind);
size_t dc_wallet_request_count(const struct dc_wallet *w);
/* The i-th pending request (ascending kind); kind borrowed. */
DC_MUST_CHECK enum dc_err dc_wallet_request_at(const struct dc_wallet *w, size_t i,
                                               const char **kind,
                                               uint8_t id[static DC_WALLET_REQUEST_ID_BYTES],
                                               const uint8_t **body, size_t *len,
                                               uint64_t *created_at);

/* ---- History of offline payments -------------------------------------- */

enum dc_wallet_direction { DC_WALLET_IN = 1, DC_WALLET_OUT = 2 };

struct dc_wallet_history {
    uint64_t time;                 /* ms since epoch */
    int64_t amount;                /* > 0 */
    uint8_t direction;             /* enum dc_wallet_direction */
    uint8_t alias[DC_ALIAS_BYTES]; /* the counterparty's alias */
};

/* Appends an entry, dropping the oldest beyond DC_WALLET_HISTORY_MAX.
 * DC_ERR_INVALID_ARGUMENT (amount <= 0, direction). The wallet adds entries
 * itself on prepare_payment and accept_coins. */
DC_MUST_CHECK enum dc_err dc_wallet_history_add(struct dc_wallet *w,
                                                const struct dc_wallet_history *h);
size_t dc_wallet_history_count(const struct dc_wallet *w);
/* Oldest first. DC_ERR_NOT_FOUND if i is out of range. */
DC_MUST_CHECK enum dc_err dc_wallet_history_at(const struct dc_wallet *w, size_t i,
                                               struct dc_wallet_history *out);

/* ---- Canonical serialization (pure, fuzzed) --------------------------- */

/*
 * The plaintext state, little-endian, every count bounded (limits above),
 * one encoding per wallet (sorted sets, no duplicates, 0/1 flags):
 *
 *   version:u8=1 seed:32 device_pub:32 account:u64 url_len:u16 url
 *   has_devcert:u8 [devcert:126]
 *   has_trust:u8 [master_pub:32 currency:u32 base_unit:i64 max_hops:u8
 *                 max_split_parts:u8 coin_lifetime:u64 synced_at:u64
 *                 n_keys:u8 (keycert:126 revoked_at:u64)*  -- key ids ascending
 *                 n_revoked:u32 (pub:32)*]                  -- strictly ascending
 *   n_coins:u32 (status:u8 kind:u8 [payee:32 nonce:16 index:u8 if kind=1]
 *                len:u32 coin[len])*
 *       kind 0 none, 1 payment, 2 deposit; HELD <=> kind 0, and a HELD coin
 *       is owned by device_pub and does not end in a deposit
 *   n_seen:u32 (serial:16 state:32 successor:32 expires_at:u64)*
 *                                                -- (serial,state) ascending
 *   n_requests:u8 (kind_len:u8 kind id:16 created_at:u64 body_len:u32 body)*
 *                                                -- kinds ascending
 *   n_history:u16 (time:u64 amount:i64 direction:u8 alias:8)*
 *
 * device_pub must be the key derived from seed. The seed is secret: the
 * caller keeps the plaintext in guarded memory and wipes it.
 */
/* Writes the plaintext; DC_ERR_BUFFER_TOO_SMALL with *out_len = size needed. */
DC_MUST_CHECK enum dc_err dc_wallet_encode_plain(const struct dc_wallet *w, uint8_t *out,
                                                 size_t cap, size_t *out_len);
/* Strict decoder into a new wallet (*out NULL on error): DC_ERR_DECODE_*,
 * DC_ERR_LIMIT_EXCEEDED, DC_ERR_NO_MEMORY. Checks structure, ranges,
 * order and key consistency; checks no signature (the file's AEAD
 * authenticates it). */
DC_MUST_CHECK enum dc_err dc_wallet_decode_plain(struct dc_wallet **out, const uint8_t *in,
                                                 size_t len);

/* ---- Wallet file ------------------------------------------------------ */

/*
 *   header  "DUCATWLT" version:u8=2 kdf:u8=1 (Argon2id v1.3)
 *           opslimit:u64 memlimit:u64 salt:16 nonce:24 ct_len:u64
 *           key_check:16 header_sum:16                          106 bytes
 *   body    ct_len bytes: XChaCha20-Poly1305-IETF(key, nonce,
 *           plaintext, associated data = the 106 header bytes)
 *   key     crypto_pwhash(Argon2id13, passphrase, salt, opslimit, memlimit)
 *   key_check   BLAKE2b-128(key = key, "ducat/wallet/key-check/v1")
 *   header_sum  BLAKE2b-128(the 90 header bytes before it), unkeyed
 *
 * key_check tells a wrong passphrase from a damaged file; it gives an
 * attacker nothing the AEAD tag does not (each guess still costs one
 * Argon2id run). header_sum tells damage to the salt or costs (which would
 * derive another key) from a wrong passphrase.
 *
 * Opening, first failure wins: bytes that do not begin like the magic:
 * DC_ERR_WALLET_NOT_WALLET; a version byte other than 2:
 * DC_ERR_WALLET_VERSION; empty or shorter than the header:
 * DC_ERR_WALLET_TRUNCATED; header_sum mismatch, an unknown kdf, limits
 * outside the accepted range, ct_len below the tag size or above
 * DC_WALLET_FILE_MAX: DC_ERR_WALLET_CORRUPT; fewer bytes than
 * header + ct_len: DC_ERR_WALLET_TRUNCATED (a cut file); more:
 * DC_ERR_WALLET_CORRUPT; key_check mismatch: DC_ERR_WALLET_PASSPHRASE; any
 * other modified byte (ciphertext, tag; the whole header is the AEAD's
 * associated data): DC_ERR_WALLET_CORRUPT; a plaintext of an unknown
 * version: DC_ERR_WALLET_VERSION, one that does not decode:
 * DC_ERR_WALLET_CORRUPT. Nothing is created or changed on error. A KDF cost
 * is capped so a forged header cannot make opening allocate more than 1 GiB.
 */
#define DC_WALLET_MAGIC "DUCATWLT"
#define DC_WALLET_FILE_VERSION 2
#define DC_WALLET_HEADER_BYTES 106

/* Argon2id cost. {0, 0} or NULL means crypto_pwhash_OPSLIMIT_INTERACTIVE /
 * MEMLIMIT_INTERACTIVE; tests may pass crypto_pwhash_OPSLIMIT_MIN /
 * MEMLIMIT_MIN. Accepted: MIN <= opslimit <= 32, MIN <= memlimit <= 1 GiB. */
struct dc_wallet_kdf {
    uint64_t opslimit;
    size_t memlimit;
};

/* Flags of dc_wallet_load / dc_wallet_open / dc_wallet_save. */
#define DC_WALLET_KEEP_KEY 0x1u /* keep the derived key (guarded memory) for dc_wallet_commit */

/* Size of dc_wallet_seal's output for the wallet as it stands. */
size_t dc_wallet_sealed_size(const struct dc_wallet *w);
/* Encrypts the wallet into out (fresh random salt and nonce).
 * DC_ERR_BUFFER_TOO_SMALL with *out_len = size needed; DC_ERR_INVALID_ARGUMENT
 * (kdf out of range); DC_ERR_NO_MEMORY. */
DC_MUST_CHECK enum dc_err dc_wallet_seal(struct dc_wallet *w, uint8_t *out, size_t cap,
                                         size_t *out_len, const char *pass, size_t pass_len,
                                         const struct dc_wallet_kdf *kdf, unsigned flags);
/* Decrypts and decodes file bytes into a new wallet (errors above). */
DC_MUST_CHECK enum dc_err dc_wallet_open(struct dc_wallet **out, const uint8_t *in, size_t len,
                                         const char *pass, size_t pass_len, unsigned flags);

/*
 * Seals and writes atomically: "<path>.tmp" (created 0600, replacing any
 * leftover), write, fsync, rename over path, fsync of the directory.
 * DC_ERR_IO on any failure (the old file is untouched, the .tmp removed).
 */
DC_MUST_CHECK enum dc_err dc_wallet_save(struct dc_wallet *w, const char *path, const char *pass,
                                         size_t pass_len, const struct dc_wallet_kdf *kdf,
                                         unsigned flags);
/* Reads and opens path ("<path>.tmp" is ignored). DC_ERR_IO if it cannot be
 * read, DC_ERR_LIMIT_EXCEEDED above DC_WALLET_FILE_MAX, else as dc_wallet_open. */
DC_MUST_CHECK enum dc_err dc_wallet_load(struct dc_wallet **out, const char *path, const char *pass,
                                         size_t pass_len, unsigned flags);
/*
 * Saves again with the key kept by the last load/save with
 * DC_WALLET_KEEP_KEY (same salt and cost, fresh nonce): no Argon2 on the
 * payment path. DC_ERR_INVALID_ARGUMENT if no key is kept.
 */
DC_MUST_CHECK enum dc_err dc_wallet_commit(struct dc_wallet *w, const char *path);
/* Wipes the kept key, if any. */
void dc_wallet_forget_key(struct dc_wallet *w);

#ifdef __cplusplus
}
#endif
#endif
