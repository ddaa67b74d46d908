/*
 * store.h - the one small store interface of ducatd.
 *
 * A store is a handle on one database connection plus a const table of
 * operations (struct dc_store_ops), like sqlite3_vfs or br_hash_class. The
 * SQLite backend (store_sqlite.c) and the PostgreSQL backend (store_pg.c)
 * implement the same table and pass one contract suite (tests/server/test_store.c).
 *
 * Rules: business logic lives in C (src/server/ledger/ledger.c), not in SQL; the
 * store does storage with constraints as a safety net (UNIQUE, CHECK
 * balance >= 0 for user accounts). Every write happens inside begin/commit;
 * the group-commit writer runs many requests in one transaction, each in a
 * savepoint. Listing operations call a callback per row; a non-zero return
 * from the callback stops the listing. A handle is used by one thread at a
 * time. Strings are NUL-terminated UTF-8; blobs are fixed-size arrays.
 *
 * Errors inside a transaction: after an op fails, the only portable next
 * step is rollback_to (the job's savepoint) or rollback; PostgreSQL refuses
 * any other statement in a failed transaction. DC_ERR_STORE_RETRY means the
 * transaction lost a race with another one (serialization failure, deadlock)
 * or its connection: it must be rolled back and run again from begin; once
 * returned, release, rollback_to and commit return it too.
 */
#ifndef DUCAT_STORE_H
#define DUCAT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/coin.h"
#include "ducat/err.h"

/* ---- Records ---------------------------------------------------------- */

#define DC_MEMO_MAX 128 /* bytes of UTF-8 in a transfer's memo */

enum dc_acct_kind { DC_ACCT_USER = 0, DC_ACCT_SETTLEMENT = 1, DC_ACCT_FLOAT = 2, DC_ACCT_LOSS = 3 };
/* Verification (status) and freezing (dc_account.frozen) are independent.
 * DC_ACCT_FROZEN is never a status: it selects frozen accounts in
 * account_list. */
enum dc_acct_status { DC_ACCT_UNVERIFIED = 0, DC_ACCT_VERIFIED = 1, DC_ACCT_FROZEN = 2 };

/* The three system accounts have fixed ids; user accounts start at 1001. */
#define DC_ACCT_ID_SETTLEMENT 1
#define DC_ACCT_ID_FLOAT 2
#define DC_ACCT_ID_LOSS 3
#define DC_ACCT_ID_FIRST_USER 1001

struct dc_account {
    int64_t id;
    int kind;            /* enum dc_acct_kind */
    int status;          /* DC_ACCT_UNVERIFIED or DC_ACCT_VERIFIED */
    int frozen;          /* an operator froze it: no money moves from or to it */
    int offline_blocked; /* set when the device double-spent */
    int debtor;          /* the culprit of an unsettled fork case: sends nothing */
    char name[128];
    char national_id[64];
    char phone[40];
    uint8_t device_pub[DC_PUBKEY_BYTES];
    uint8_t alias[DC_ALIAS_BYTES];
    int64_t offline_limit;
    int64_t available; /* minor units; >= 0 for users */
    int64_t held;      /* minor units in the frozen box; >= 0 */
    uint64_t created_at;
};

enum dc_bucket { DC_BUCKET_AVAILABLE = 0, DC_BUCKET_HELD = 1 };

/* One double-entry posting: amount moves from debit to credit. */
struct dc_posting {
    int64_t id; /* OUT of post */
    uint64_t time;
    int64_t debit;    /* account id */
    int debit_bucket; /* enum dc_bucket */
    int64_t credit;
    int credit_bucket;
    int64_t amount;             /* > 0 */
    char kind[16];              /* fund payout transfer withdraw deposit release forfeit recover
                                 * reverse repay */
    char ref[48];               /* what caused it: "t:17", "w:4", "d:5", "h:3", "c:2" */
    char memo[DC_MEMO_MAX + 1]; /* the payer's note on a transfer ("" if none) */
};

/* Stored outcome of a money-moving request, for idempotent replay. */
struct dc_request_rec {
    int64_t account;
    char request_id[65];
    uint8_t body_hash[DC_HASH_BYTES];
    int status;     /* HTTP status of the original answer */
    char *response; /* OUT of request_get: malloc'd JSON, caller frees */
    uint64_t created_at;
    /* IN of request_get, inside a write transaction: on a miss the caller
     * runs the request and stores its answer (request_put) in this same
     * transaction. A store may then answer DC_ERR_NOT_FOUND without
     * looking and let the answer's primary key decide at commit: an id
     * that did exist makes the commit fail with DC_ERR_STORE_RETRY, and
     * the re-run transaction looks it up for real (store_pg.c). A job that
     * fails after such a miss is checked at rollback_to, so an error is
     * never answered in place of a stored answer. 0 everywhere else. */
    int will_put;
};

/* One consumed state a deposit is about to claim (deposit_prefetch). */
struct dc_claim_key {
    uint8_t serial[DC_SERIAL_BYTES];
    uint8_t state[DC_HASH_BYTES];
};

struct dc_coin_rec {
    uint8_t serial[DC_SERIAL_BYTES];
    int64_t value;
    int64_t account;    /* withdrawn by */
    int64_t withdrawal; /* journal posting id of the withdrawal */
    uint64_t expires_at;
    int64_t deposited; /* value of its parts deposited against the float */
};

enum dc_hold_status {
    DC_HOLD_HELD = 0,
    DC_HOLD_FROZEN = 1,
    DC_HOLD_RELEASED = 2,
    DC_HOLD_REVERSED = 3
};

struct dc_hold {
    int64_t id;
    int64_t account;
    int64_t amount;
    uint64_t release_at;
    int status;      /* enum dc_hold_status */
    int64_t case_id; /* 0 = none */
    int64_t deposit; /* deposit id */
    uint64_t created_at;
    int provisional;      /* credited from the loss account: a double-spent branch */
    int64_t taken;        /* taken out by a case (forfeit or reversal); still held:
                           * amount - taken (dc_hold_left). RELEASED/REVERSED hold nothing. */
    int64_t repaid;       /* of a reversal, given back by later recoveries */
    char released_by[64]; /* who or what released it ("timer", "admin", "cli --now ...") */
    /* 1: release_at is a guess: the working-day window reaches a day the
     * calendar did not cover. Never released while 1; recomputed when a
     * calendar covering the window is loaded (dc_ledger_recheck_holds). */
    int release_provisional;
};

/* What a hold still holds. */
static inline int64_t dc_hold_left(const struct dc_hold *h)
{
    return h->amount - h->taken;
}

/* One coin of a deposit, with its whole chain (for evidence and freezing). */
struct dc_dcoin {
    int64_t id;
    int64_t deposit;
    int64_t account;
    uint8_t serial[DC_SERIAL_BYTES];
    const uint8_t *chain; /* borrowed on insert; malloc'd on read (caller frees) */
    size_t chain_len;
    int64_t amount;
    int64_t hold;
    int flagged; /* accepted within the expiry grace period */
};

enum dc_case_status { DC_CASE_OPEN = 0, DC_CASE_RESOLVED = 1 };

struct dc_case {
    int64_t id;
    uint8_t serial[DC_SERIAL_BYTES];
    uint8_t state[DC_HASH_BYTES];
    uint8_t culprit[DC_PUBKEY_BYTES];
    int64_t culprit_account; /* 0 if the alias is unknown */
    int64_t value;           /* value of the forked state */
    int64_t exposure;        /* liability: credits paid provisionally from the loss
                              * account for the branches beyond the backed one */
    int64_t recovered;       /* taken from the culprit so far (<= exposure) */
    int64_t carried;         /* shortfall left to others by an honour/reject decision */
    int64_t repaid;          /* of carried, paid back by recoveries after the decision */
    uint8_t *evidence;       /* borrowed on put; malloc'd on get (caller frees) */
    size_t evidence_len;
    int status;        /* enum dc_case_status */
    char decision[16]; /* auto, honour, reject */
    char actor[64];
    char reason[256];
    uint64_t created_at;
    uint64_t resolved_at;
};

struct dc_key_rec {
    uint32_t key_id;
    uint8_t keycert[DC_KEYCERT_BYTES];
    uint64_t revoked_at;
    /* 1: revoked for rotation (retired), not for compromise: the key signs
     * nothing more, but what it signed before stays valid until it expires
     * (the trust context gets it unrevoked; /v1/keys says retired_at). */
    int retired;
};

/* Selector for account_get. */
enum dc_acct_by { DC_BY_ID, DC_BY_DEVICE, DC_BY_ALIAS };

/* Selector for holds_list. */
/* DC_HOLDS_DUE: held, release_at <= arg and a firm date. DC_HOLDS_RECHECK:
 * held or frozen with a provisional date or release_at > arg (a calendar's
 * coverage ending at arg cannot vouch for them), by id; a scan, for a
 * calendar change. DC_HOLDS_PROVISIONAL: held or frozen with a provisional
 * date (arg unused), by id; an index lookup, for every metrics scrape. */
enum dc_holds_by {
    DC_HOLDS_OF_ACCOUNT,
    DC_HOLDS_DUE,
    DC_HOLDS_OF_CASE,
    DC_HOLDS_OF_DEPOSIT,
    DC_HOLDS_RECHECK,
    DC_HOLDS_PROVISIONAL
};

/* Per-account journal sums, for the audit. */
struct dc_audit_row {
    int64_t account;
    int64_t journal_available; /* credits - debits on the available bucket */
    int64_t journal_held;
    /* Not "": the account's row itself is corrupted (a balance that is not
     * an int64, written behind the store's back), described for the report;
     * the balances read from it mean nothing then. */
    char corrupt[128];
};

struct dc_store;

/* Who did what to an account or a case, when and why (append-only). */
enum dc_event_of { DC_EVENTS_ACCOUNT = 0, DC_EVENTS_CASE = 1 };
struct dc_event {
    int64_t id;
    int64_t subject; /* the account or case id */
    uint64_t time;
    char actor[64];
    char action[32];
    char reason[256];
};

/*
 * What the admin search looks for (account_search, case_search): rows whose
 * id is `id`, or whose lowercased name starts with lowercased `name`, or
 * whose alias, device key (accounts) or coin serial (cases) lies in
 * [lo, hi): a hex prefix as a byte range (dc_search_hex). Absent criteria:
 * id 0, name NULL, lo_len 0. Only rows with id > after, in id order, at most
 * limit (> 0). Every criterion is a range on an index (schema version 7):
 * a search never reads the whole table.
 */
struct dc_search {
    int64_t id;
    int64_t account; /* case_search: the cases whose culprit it is or that froze its holds */
    const char *name;
    uint8_t lo[33], hi[33];
    size_t lo_len, hi_len;
    int64_t after;
    int limit;
};

/* The frozen box's and the open cases' totals (totals): sums of amounts
 * per hold status and of the open cases' exposure, read from indexes. */
struct dc_totals {
    int64_t held, held_n;     /* holds in status held: amount sum, count */
    int64_t frozen, frozen_n; /* holds in status frozen */
    int64_t cases_open, exposure;
};

typedef int (*dc_account_cb)(void *ctx, const struct dc_account *a);
typedef int (*dc_event_cb)(void *ctx, const struct dc_event *e);
typedef int (*dc_posting_cb)(void *ctx, const struct dc_posting *p);
typedef int (*dc_hold_cb)(void *ctx, const struct dc_hold *h);
typedef int (*dc_dcoin_cb)(void *ctx, const struct dc_dcoin *c);
typedef int (*dc_case_cb)(void *ctx, const struct dc_case *c);
typedef int (*dc_key_cb)(void *ctx, const struct dc_key_rec *k);
typedef int (*dc_blob_cb)(void *ctx, const uint8_t *blob, size_t len);
typedef int (*dc_audit_cb)(void *ctx, const struct dc_audit_row *r);

struct dc_store_ops {
    const char *name; /* "sqlite", "postgresql" */

    /* -- connection and schema -- */
    enum dc_err (*close)(struct dc_store *s);
    enum dc_err (*migrate)(struct dc_store *s, int *version); /* OUT: schema version */
    const char *(*errmsg)(struct dc_store *s);                /* the last backend error, for logs */
    /* Optional (NULL: no such limit; callers use dc_store_set_timeout). The
     * longest wait for one answer of the database, in ms (0: none): past
     * it the op answers DC_ERR_STORE_RETRY instead of hanging. */
    void (*set_timeout)(struct dc_store *s, unsigned ms);
    /* Optional (NULL: none to count; callers use dc_store_round_trips).
     * How many times this store has waited for its database server's
     * answer since it was opened: the latency cost a client-server engine
     * adds to every op, which benchmarks print per transfer. */
    uint64_t (*round_trips)(struct dc_store *s);

    /* -- transactions: one level plus savepoints for group commit -- */
    enum dc_err (*begin)(struct dc_store *s, int write);
    enum dc_err (*commit)(struct dc_store *s);
    enum dc_err (*rollback)(struct dc_store *s);
    enum dc_err (*savepoint)(struct dc_store *s);
    enum dc_err (*release)(struct dc_store *s);     /* keep the savepoint's work */
    enum dc_err (*rollback_to)(struct dc_store *s); /* undo it (and release) */

    /* -- settings (key/value) -- */
    enum dc_err (*meta_get)(struct dc_store *s, const char *key, char *out, size_t cap);
    enum dc_err (*meta_put)(struct dc_store *s, const char *key, const char *value);

    /* -- accounts -- */
    enum dc_err (*account_insert)(struct dc_store *s, struct dc_account *a); /* a->id 0: assign */
    enum dc_err (*account_get)(struct dc_store *s, struct dc_account *out, enum dc_acct_by by,
                               int64_t id, const uint8_t *key);
    /* Writes status, frozen, offline_blocked and offline_limit (balances
     * move only by post). */
    enum dc_err (*account_update)(struct dc_store *s, const struct dc_account *a);
    /* status < 0: every account; DC_ACCT_FROZEN: frozen user accounts;
     * otherwise user accounts with that status that are not frozen (so each
     * listed account shows the status asked for). */
    enum dc_err (*account_list)(struct dc_store *s, int status, dc_account_cb cb, void *ctx);
    /* One page of account_list: id > after, in id order, at most limit (> 0)
     * rows, read from the primary key (a page costs its rows, not the
     * accounts before it). */
    enum dc_err (*account_page)(struct dc_store *s, int status, int64_t after, int limit,
                                dc_account_cb cb, void *ctx);
    /* Accounts matching q (struct dc_search), in id order. */
    enum dc_err (*account_search)(struct dc_store *s, const struct dc_search *q, dc_account_cb cb,
                                  void *ctx);
    enum dc_err (*account_event)(struct dc_store *s, int64_t account, uint64_t time,
                                 const char *actor, const char *action, const char *reason);
    /* The events of one account or case, oldest first. */
    enum dc_err (*events_list)(struct dc_store *s, enum dc_event_of of, int64_t subject,
                               dc_event_cb cb, void *ctx);

    /* -- journal -- */
    /* Inserts the posting and moves both balances, atomically. */
    enum dc_err (*post)(struct dc_store *s, struct dc_posting *p);
    /* Optional (NULL: callers loop over post). The same as n posts, but each
     * balance moves once by its net amount: a batch of transfers from one
     * account touches its row once. Balances are checked on the net result
     * (the caller has checked the batch's total beforehand). */
    enum dc_err (*post_many)(struct dc_store *s, struct dc_posting *p, size_t n);
    enum dc_err (*journal_list)(struct dc_store *s, int64_t account, int64_t before, int limit,
                                dc_posting_cb cb, void *ctx);
    enum dc_err (*audit_sums)(struct dc_store *s, dc_audit_cb cb, void *ctx);

    /* -- idempotency -- */
    enum dc_err (*request_get)(struct dc_store *s,
                               struct dc_request_rec *io); /* DC_ERR_NOT_FOUND */
    enum dc_err (*request_put)(struct dc_store *s, const struct dc_request_rec *r,
                               const char *response);

    /* -- issued coins and the consumed-state index -- */
    enum dc_err (*coin_insert)(struct dc_store *s, const struct dc_coin_rec *c);
    enum dc_err (*coin_get)(struct dc_store *s, struct dc_coin_rec *io); /* by io->serial */
    enum dc_err (*coin_add_deposited)(struct dc_store *s, const uint8_t *serial, int64_t amount);
    enum dc_err (*coin_outstanding)(struct dc_store *s, int64_t account, int64_t *total);
    /*
     * Atomic check-and-insert of a consumed state: if (serial, state) is new,
     * records successor and sets *inserted = 1; otherwise copies the stored
     * successor into existing and sets *inserted = 0.
     */
    enum dc_err (*state_claim)(struct dc_store *s, const uint8_t *serial, const uint8_t *state,
                               const uint8_t *successor, int64_t dcoin, int *inserted,
                               uint8_t existing[DC_HASH_BYTES]);
    enum dc_err (*state_unknown_serials)(struct dc_store *s, dc_blob_cb cb, void *ctx);
    /*
     * Optional (NULL: nothing to do; callers use dc_store_deposit_prefetch).
     * A hint inside a write transaction, before a deposit's state_claim,
     * case_get (by serial and state) and coin_add_deposited calls on these
     * n states and their coins' serials: a store where each statement is a
     * round trip may look them all up in one and answer those calls, and
     * the hold and deposited-chain inserts around them, from what it
     * learnt, writing the rows with the commit. Every op answers exactly
     * what it would have answered without the hint.
     */
    enum dc_err (*deposit_prefetch)(struct dc_store *s, const struct dc_claim_key *k, size_t n);
    /*
     * Optional (NULL: nothing to do; callers use dc_store_accounts_prefetch).
     * A hint inside a write transaction, before account_get by id on these
     * n accounts (a transfer's payer and payees): a store where each read
     * is a round trip may read all it does not know yet in one. Every op
     * answers exactly what it would have answered without the hint (an id
     * with no account included).
     */
    enum dc_err (*accounts_prefetch)(struct dc_store *s, const int64_t *ids, size_t n);

    /* -- deposits and the frozen box -- */
    enum dc_err (*dcoin_insert)(struct dc_store *s, struct dc_dcoin *c);
    enum dc_err (*dcoins_by_serial)(struct dc_store *s, const uint8_t *serial, dc_dcoin_cb cb,
                                    void *ctx);
    enum dc_err (*hold_put)(struct dc_store *s, struct dc_hold *h); /* h->id 0: insert */
    enum dc_err (*hold_get)(struct dc_store *s, struct dc_hold *out, int64_t id);
    enum dc_err (*holds_list)(struct dc_store *s, enum dc_holds_by by, int64_t arg, dc_hold_cb cb,
                              void *ctx);
    /* The frozen box page by page: holds with `status` (enum dc_hold_status;
     * -1: any) and id > after, in id order, at most limit (> 0) rows. The
     * caller passes the last id it saw as the next `after`. */
    enum dc_err (*holds_page)(struct dc_store *s, int status, int64_t after, int limit,
                              dc_hold_cb cb, void *ctx);

    /* -- fork cases, revocation, signing keys -- */
    enum dc_err (*case_put)(struct dc_store *s, struct dc_case *c); /* c->id 0: insert */
    enum dc_err (*case_get)(struct dc_store *s, struct dc_case *out, int64_t id,
                            const uint8_t *serial, const uint8_t *state);
    enum dc_err (*case_list)(struct dc_store *s, int status, dc_case_cb cb, void *ctx);
    /* Cases matching q by id or coin serial (lo, hi), without evidence. */
    enum dc_err (*case_search)(struct dc_store *s, const struct dc_search *q, dc_case_cb cb,
                               void *ctx);
    /* The totals of struct dc_totals; DC_ERR_STORE if a sum overflows. */
    enum dc_err (*totals)(struct dc_store *s, struct dc_totals *out);
    /* The unsettled (DC_CASE_OPEN) cases whose culprit is `account`, oldest
     * first, without evidence. */
    enum dc_err (*cases_of_culprit)(struct dc_store *s, int64_t account, dc_case_cb cb, void *ctx);
    enum dc_err (*case_event)(struct dc_store *s, int64_t case_id, uint64_t time, const char *actor,
                              const char *action, const char *reason);
    enum dc_err (*revoke_put)(struct dc_store *s, const uint8_t *device, int64_t case_id,
                              uint64_t time);
    enum dc_err (*revoked_list)(struct dc_store *s, dc_blob_cb cb, void *ctx);
    /* The payee's refusal (156 bytes) a reclaim showed, with the refused
     * payment's coins `n:u8 (len:u16 coin)[n]`, under the reclaim's number
     * (its first hold). Put once per reclaim: a second put of one deposit is
     * DC_ERR_STORE_CONSTRAINT. refusal_get: DC_ERR_NOT_FOUND if the reclaim
     * showed none; *coins is malloc'd, the caller frees it. */
    enum dc_err (*refusal_put)(struct dc_store *s, int64_t deposit, const uint8_t *refusal,
                               const uint8_t *coins, size_t coins_len);
    enum dc_err (*refusal_get)(struct dc_store *s, int64_t deposit, uint8_t *refusal,
                               uint8_t **coins, size_t *coins_len);
    enum dc_err (*key_put)(struct dc_store *s, const struct dc_key_rec *k);
    enum dc_err (*key_list)(struct dc_store *s, dc_key_cb cb, void *ctx);
};

struct dc_store {
    const struct dc_store_ops *ops;
};

/*
 * Opens a store by URL: "sqlite:PATH" (or a plain path) or
 * "postgresql://..." / "postgres://...". Runs no migration. On error *out is
 * NULL and errbuf holds one line naming the problem.
 */
enum dc_err dc_store_open(struct dc_store **out, const char *url, char *errbuf, size_t errcap);
enum dc_err dc_store_sqlite_open(struct dc_store **out, const char *path, char *errbuf,
                                 size_t errcap);
enum dc_err dc_store_pg_open(struct dc_store **out, const char *url, char *errbuf, size_t errcap);

/*
 * Copies url into out (cap bytes, always NUL-terminated) with any password
 * replaced by "***": postgresql://user:***@host/db, ...?password=***. For
 * every log line and error message that names a store.
 */
void dc_store_redact(char *out, size_t cap, const char *url);

/* n postings: ops->post_many when the backend has it, else n posts. */
enum dc_err dc_store_post_many(struct dc_store *s, struct dc_posting *p, size_t n);

/* ops->set_timeout when the backend has it. */
void dc_store_set_timeout(struct dc_store *s, unsigned ms);

/* ops->round_trips when the backend has it, else 0 (an embedded engine
 * waits for no server). */
uint64_t dc_store_round_trips(struct dc_store *s);

/* ops->accounts_prefetch when the backend has it, else DC_OK. */
enum dc_err dc_store_accounts_prefetch(struct dc_store *s, const int64_t *ids, size_t n);

/* ops->deposit_prefetch when the backend has it, else DC_OK. */
enum dc_err dc_store_deposit_prefetch(struct dc_store *s, const struct dc_claim_key *k, size_t n);

/* Frees what a read op malloc'd inside a record (NULL-safe). */
void dc_case_clear(struct dc_case *c);

#endif
