/*
 * ducat/service.h - the wallet's online operations: register, sync,
 * balance, history, online payment, withdrawal, deposit and refresh, over
 * a struct dc_wallet (ducat/wallet.h) and a struct dc_client
 * (ducat/client.h). What a phone app or a point-of-sale terminal calls
 * when it has a network; the offline payment itself needs none of this.
 *
 * Crash safety. Every money-moving call (transfer, withdrawal, deposit)
 * follows one rule: build the request body with a fresh request id, put it
 * in the wallet as a pending request (dc_wallet_request_put) and SAVE the
 * wallet (the host's save callback) BEFORE anything is sent. If the process
 * dies or the answer is lost, the next call finds the pending request and
 * re-sends the very same id and body, which the server answers from its
 * idempotency store: a withdrawal returns the same coins, a deposit credits
 * once, a transfer moves money once. dc_service_resume does this, and every
 * money-moving call runs it first. A pending request is forgotten only
 * once the server has answered it for good (2xx, or a 4xx refusal), and
 * then the wallet is saved again.
 *
 * Coins given to the server in a deposit are signed (DEPOSIT record) and
 * made PENDING_OUT before the request is saved, so they can never be spent
 * offline afterwards; they become SPENT when the server took them.
 *
 * Pending-request kinds used in the wallet (dc_wallet_request_*): the
 * server requests "withdraw", "deposit", "transfer"; "cfg:currency" (the
 * deployment's currency and rules, written by dc_service_sync); and the
 * offline bookkeeping of the CLI ("rx:..." payee sessions, "py:..."
 * payments awaiting a receipt), and "op" (the pending operation, see
 * dc_service_op). Hosts must not use these names.
 *
 * Errors: every function returns an enum dc_err; svc->detail then holds a
 * one-line explanation (the server's detail when it gave one). Transient
 * failures - no answer (DC_ERR_IO), a 5xx, a stale request time - leave the
 * pending request in place and are reported by dc_service_is_transient.
 *
 * THREAD SAFETY: one service (and its wallet and client) per thread.
 */
#ifndef DUCAT_SERVICE_H
#define DUCAT_SERVICE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ducat/amount.h"
#include "ducat/client.h"
#include "ducat/err.h"
#include "ducat/wallet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Persists the wallet (e.g. dc_wallet_commit to its file). Called before
 * every request is sent and after every answer is applied. */
typedef enum dc_err (*dc_service_save_fn)(void *ctx, struct dc_wallet *w);

/* Plain data: fill the four pointers; detail is written by the calls. */
struct dc_service {
    struct dc_wallet *w;     /* borrowed */
    struct dc_client *c;     /* borrowed; dc_service_init sets its key */
    dc_service_save_fn save; /* borrowed */
    void *save_ctx;
    char detail[512]; /* OUT: why the last call failed, or what it noticed */
};

/* Sets the fields and the client's signing key (the wallet's device key). */
void dc_service_init(struct dc_service *s, struct dc_wallet *w, struct dc_client *c,
                     dc_service_save_fn save, void *save_ctx);

/* 1 if e means "try again later; nothing was decided" (no answer, server
 * busy or failing, request time rejected). */
int dc_service_is_transient(enum dc_err e);

/* The deployment's currency and rules as last synced (from "cfg:currency"). */
struct dc_service_config {
    struct dc_currency currency;
    int64_t offline_limit; /* from the device certificate */
    uint32_t hold_working_days;
    int32_t utc_offset_min; /* the deployment's local time (release dates) */
    uint64_t coin_lifetime_ms;
    uint64_t deposit_grace_ms;
    size_t max_body_bytes;    /* largest request body the server takes (0: not published) */
    size_t max_deposit_coins; /* most coins in one deposit request (0: not published) */
};
/* DC_OK, or DC_ERR_NOT_FOUND before the first sync. */
DC_MUST_CHECK enum dc_err dc_service_config(const struct dc_wallet *w,
                                            struct dc_service_config *out);

/* ---- Registration and sync ---------------------------------------------- */

struct dc_service_identity {
    const char *name;        /* real name */
    const char *national_id; /* national identity number */
    const char *phone;
};

struct dc_service_account {
    uint64_t account;
    char status[16]; /* "unverified", "verified" or "frozen" */
    uint8_t alias[DC_ALIAS_BYTES];
};

/* POST /v1/register with this device's key; stores the account in the
 * wallet and saves it. The wallet must have a server URL. Registering again
 * with the same data answers the same account. */
DC_MUST_CHECK enum dc_err dc_service_register(struct dc_service *s,
                                              const struct dc_service_identity *id,
                                              struct dc_service_account *out);

struct dc_service_sync_result {
    uint64_t account;
    char status[16];
    uint64_t cert_expires_at;
    int64_t offline_limit;
    size_t n_keys, n_revoked;
    int revoked_self;    /* this device is on the revocation list */
    int offline_blocked; /* the server refused a certificate (DC_ERR_OFFLINE_BLOCKED) */
    int has_cert;        /* a fresh device certificate was stored */
};

/*
 * GET /v1/keys (master key checked against the one pinned at the first
 * sync: DC_ERR_BAD_KEY if it changed), then POST /v1/sync for a fresh
 * device certificate; stores both and the currency, saves. A device
 * blocked after a fork still gets the keys and the revocation list
 * (offline_blocked = 1, DC_OK). `pin` (may be NULL): 32 bytes the master
 * key must equal on the first sync.
 */
DC_MUST_CHECK enum dc_err dc_service_sync(struct dc_service *s, uint64_t now, const uint8_t *pin,
                                          struct dc_service_sync_result *out);

/* ---- Reading the account ------------------------------------------------ */

#define DC_SERVICE_HOLDS_MAX 64

struct dc_service_hold {
    int64_t id, amount;
    uint64_t release_at;
    char status[12]; /* "held", "frozen", "released", "reversed" */
    int64_t case_id; /* 0: none */
    /* 1: release_at is a guess: the server's calendar does not cover the
     * whole hold yet; the date moves when it does (docs/OPERATIONS.md) */
    int release_provisional;
};

struct dc_service_balance {
    int64_t available, held, offline_outstanding;
    char status[16];
    size_t n_holds; /* holds listed (at most DC_SERVICE_HOLDS_MAX, newest kept) */
    struct dc_service_hold holds[DC_SERVICE_HOLDS_MAX];
};

DC_MUST_CHECK enum dc_err dc_service_balance(struct dc_service *s, struct dc_service_balance *out);
/* GET /v1/history?limit=..&before=..: *out gets the server's JSON object
 * (caller json_decref()s). before 0 = newest. */
DC_MUST_CHECK enum dc_err dc_service_history(struct dc_service *s, int limit, int64_t before,
                                             json_t **out);

/* ---- Money-moving calls --------------------------------------------------- */

/*
 * Exactly once per command. Each money-moving call (pay, withdraw,
 * deposit, refresh) stores its arguments in the wallet as the pending
 * OPERATION, in the same save as its first request, and forgets it in the
 * same save as its last answer. While one is stored:
 *   - the same call with the same arguments finishes it and starts nothing
 *     new (result's `resumed` = 1): re-running a command after a crash or
 *     a lost answer never pays, withdraws or deposits twice;
 *   - any other money-moving call returns DC_ERR_WALLET_OP_PENDING, with
 *     s->detail naming what is pending (dc_service_op_pending describes it
 *     for a host's own message);
 *   - dc_service_resume (sync, balance) finishes it.
 * A deposit signs all its coins first (one save with the operation), then
 * sends them in requests that fit the server's published limits.
 */
#define DC_SERVICE_OP_COINS_MAX 64

struct dc_service_op {
    char cmd[16];   /* "pay", "withdraw", "deposit", "refresh"; "" = nothing pending */
    uint64_t to;    /* pay: the account paid */
    int64_t amount; /* pay, withdraw */
    char memo[256]; /* pay: the memo ("" none) */
    size_t n_coins; /* deposit: the coin numbers given (0: every coin) */
    size_t coins[DC_SERVICE_OP_COINS_MAX]; /* the first DC_SERVICE_OP_COINS_MAX of them */
    int64_t credited;                      /* refresh: what its deposits credited so far */
};
/* The pending operation of this wallet (out->cmd "" when none). DC_OK. */
DC_MUST_CHECK enum dc_err dc_service_op_pending(const struct dc_wallet *w,
                                                struct dc_service_op *out);

/* What dc_service_resume finished (counts of each kind). */
struct dc_service_resumed {
    size_t transfers, withdrawals, deposits;
    int64_t withdrawn, credited;
    size_t n_refused;        /* coins of a finished deposit refused for good */
    int64_t refused;         /* their value */
    enum dc_err refused_why; /* the first refusal's reason */
};

/* Finishes the pending operation (or, in a wallet written before operations
 * were stored, re-sends every pending server request) and applies the
 * answers. Returns the first error (a transient one keeps the request
 * pending); out may be NULL. */
DC_MUST_CHECK enum dc_err dc_service_resume(struct dc_service *s, uint64_t now,
                                            struct dc_service_resumed *out);

struct dc_service_transfer {
    int64_t transfer_id, amount, available;
    uint64_t to;
    int resumed; /* 1: this call finished the same payment started earlier */
};
/* Online payment to an account (POST /v1/transfers). memo may be NULL. */
DC_MUST_CHECK enum dc_err dc_service_pay(struct dc_service *s, uint64_t to, int64_t amount,
                                         const char *memo, uint64_t now,
                                         struct dc_service_transfer *out);

struct dc_service_withdrawal {
    int64_t withdrawal_id, amount;
    size_t n_coins; /* coins added to the wallet */
    int resumed;    /* 1: this call finished the same withdrawal started earlier */
};
/* POST /v1/withdrawals: the coins join the wallet (HELD). */
DC_MUST_CHECK enum dc_err dc_service_withdraw(struct dc_service *s, int64_t amount, uint64_t now,
                                              struct dc_service_withdrawal *out);

#define DC_SERVICE_DEPOSIT_REPORT_MAX                                                              \
    1024 /* coins reported per call (more are still deposited)                                     \
          */
/* Coins per deposit request when the server did not publish its limit. */
#define DC_SERVICE_DEPOSIT_COINS_DEFAULT 100

struct dc_service_deposit_coin {
    uint8_t serial[DC_SERIAL_BYTES];
    int64_t amount;
    uint64_t release_at;
    /* "held", "frozen"; "refused": the server refused it for good, it left
     * the wallet; "kept": the wallet could not sign or send it, it is still
     * in the wallet (err says why for both) */
    char status[12];
    int64_t case_id;
    int flagged;             /* expired within the grace period */
    int release_provisional; /* release_at is a guess (struct dc_service_hold) */
    enum dc_err err;         /* DC_OK unless refused */
};

struct dc_service_deposit {
    int64_t credited;
    size_t n; /* coins reported in coin[] */
    struct dc_service_deposit_coin coin[DC_SERVICE_DEPOSIT_REPORT_MAX];
    size_t n_refused; /* coins the server refused for good (dropped from the wallet) */
    size_t n_frozen;  /* coins credited into a fork case */
    size_t n_kept;    /* coins the wallet could not sign or send (still in the wallet) */
    int resumed;      /* 1: this call finished the same deposit started earlier */
};

/*
 * Deposits coins: idx[0..n) wallet coin indices (HELD, ours), or idx NULL
 * for every HELD coin plus every coin already signed for deposit but not
 * confirmed. Every coin is signed first; a coin that cannot be signed is
 * reported "kept" with its reason and the others go on. The signed coins
 * go in as few requests as the server's limits allow (max_body_bytes and
 * max_deposit_coins from the last sync, within one wallet slot); a request
 * the server refuses for good is retried coin by coin so one bad coin
 * cannot strand the others. A coin the server refuses for good (already
 * deposited, expired past the grace period, revoked key) leaves the wallet
 * (SPENT) and is reported refused. DC_ERR_NOT_FOUND if there is nothing
 * to deposit. Exactly once: see dc_service_op above.
 */
DC_MUST_CHECK enum dc_err dc_service_deposit(struct dc_service *s, const size_t *idx, size_t n,
                                             uint64_t now, struct dc_service_deposit *out);

struct dc_service_refresh {
    size_t n_deposited;
    int64_t deposited;       /* value of the coins refreshed (credited, held) */
    int64_t replaced;        /* value withdrawn as fresh coins */
    int64_t available;       /* the available balance after the deposit (0 if none) */
    int64_t limit_room;      /* offline limit minus the account's coins outstanding,
                                after the deposit (INT64_MAX: no limit known) */
    size_t n_refused;        /* coins the server refused for good (dropped from the wallet) */
    int64_t refused;         /* their value */
    enum dc_err refused_why; /* the first refusal's reason (DC_OK if none) */
    size_t n_kept;           /* coins that could not be signed for deposit (kept) */
    int resumed;             /* 1: this call finished a refresh started earlier */
};
/*
 * Deposits every HELD coin that dc_wallet_needs_refresh (expiring within
 * margin_ms, its owner certificate too, or short of hops), and every coin
 * already signed for deposit whose request never completed (a crash
 * between a refused batch and its coin-by-coin retry), and withdraws
 * fresh coins worth min(deposited, available, limit_room), rounded down to
 * the smallest coin: the deposit is credited as held, so the replacement
 * comes out of the available balance, and the server counts only coins
 * this account withdrew against its offline limit (depositing coins
 * received from others frees no room). A replacement the server still
 * refuses for the limit or the balance leaves replaced = 0 and DC_OK.
 * DC_OK with zeros when there is nothing to refresh.
 */
DC_MUST_CHECK enum dc_err dc_service_refresh(struct dc_service *s, uint64_t now, uint64_t margin_ms,
                                             struct dc_service_refresh *out);

/* Default refresh margin: coins expiring within this are refreshed. */
#define DC_SERVICE_REFRESH_MARGIN_MS (24u * 3600u * 1000u)

/* ---- Reclaim of refused or unacknowledged offline payments ------------- */

struct dc_service_reclaim {
    size_t n_reclaimed; /* payments credited back (held) by this call */
    int64_t reclaimed;  /* their value */
    /* of those, payments the payee had passed on or deposited after her
     * refusal: credited under a case against her, frozen until she has
     * paid (the server's "case" on a reclaimed coin) */
    size_t n_under_case;
    int64_t under_case; /* the value of those coins */
    int64_t case_id;    /* the last such case */
    size_t n_taken;     /* payments the payee turned out to have deposited first */
    int64_t taken;      /* their value (no longer the payer's) */
    size_t n_waiting;   /* payments with neither a refusal nor their deadline passed */
    int64_t waiting;    /* their value */
    uint64_t next_at;   /* the earliest deadline among those waiting (0: none) */
    size_t n_failed;    /* payments the server refused for another reason (kept) */
    enum dc_err failed_why;
};

/*
 * Takes back the payer's pending-out offline payments that may be taken
 * back now (POST /v1/reclaims): at once those the payee refused (its signed
 * refusal kept by dc_offline_refused), the others once every coin's deposit
 * deadline (expiry + the server's deposit grace) has passed. Each reclaim
 * is one request, stored with its id and body and saved before it is sent:
 * a crash or a lost answer repeats the same request, first thing on the
 * next call (also from dc_service_resume's callers: sync runs this).
 * Credited: the coins become SPENT (their value is on the account, held).
 * Taken by the payee first (DC_ERR_COIN_SPENT): SPENT too, reported, no
 * value lost to a bug of ours: the payee has it. Independent of the
 * operations of the other calls (it touches only pending-out coins), so it
 * never returns DC_ERR_WALLET_OP_PENDING. Transient errors leave the request
 * pending and are returned.
 */
DC_MUST_CHECK enum dc_err dc_service_reclaim(struct dc_service *s, uint64_t now,
                                             struct dc_service_reclaim *out);

#ifdef __cplusplus
}
#endif
#endif
