/*
 * ledger.h - the business rules of ducatd, in C, over the store interface.
 *
 * Every function here runs inside an open write transaction that its caller
 * owns (a group-commit job of the server, or an operator command), so each
 * either does all its writes or, when it returns an error, the caller rolls
 * back and nothing is written. Money moves only by double-entry postings
 * (store->post); every amount is checked for overflow before arithmetic and
 * user balances are checked before they could go negative.
 *
 * Account requests are authenticated before they get here; these functions
 * enforce the account rules (verified, frozen, offline blocked, limits).
 */
#ifndef DUCAT_SERVER_LEDGER_H
#define DUCAT_SERVER_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

#define DC_DAY_MS 86400000ull

/* Issues a device certificate for an account's device, valid from now. */
void dc_ledger_devcert(uint8_t out[DC_DEVCERT_BYTES], struct dc_devcert *cert,
                       const struct dc_ctx *x, const struct dc_account *a, uint64_t now);

/* Creates (or, for the same device and data, finds) a user account.
 * *created says which. alias_rnd: 8 random bytes for a new alias. */
enum dc_err dc_ledger_register(struct dc_store *st, const struct dc_ctx *x, uint64_t now,
                               struct dc_account *io, const uint8_t alias_rnd[DC_ALIAS_BYTES],
                               int *created);

/* One or many transfers from one account, all or nothing. ids[i] receives
 * each posting id; *available the sender's balance afterwards. memo is NULL
 * or n memos (each NULL or checked by dc_memo_valid). */
/* cur names money in the messages put in detail (NULL: minor units). */
enum dc_err dc_ledger_transfer(struct dc_store *st, const struct dc_currency *cur, uint64_t now,
                               int64_t from, const int64_t *to, const int64_t *amount,
                               const char *const *memo, size_t n, int64_t *ids, int64_t *available,
                               char *detail, size_t dcap);

/* A transfer's memo: at most DC_MEMO_MAX bytes of UTF-8 (as jansson
 * checked it), no control characters, C0, DEL or C1 (it is shown on one
 * line in both parties' history, the payee's terminal included). NULL is
 * no memo. */
int dc_memo_valid(const char *memo);

/* Operator cash-in (payout = 0) or cash-out (payout = 1) against the settlement account. */
enum dc_err dc_ledger_fund(struct dc_store *st, const struct dc_currency *cur, uint64_t now,
                           int64_t account, int64_t amount, int payout, int64_t *posting,
                           char *detail, size_t dcap);

/* What an operator does to a user account. Verification (who the holder
 * is) and freezing (whether money may move) are independent. */
enum dc_acct_action { DC_ACCT_DO_VERIFY, DC_ACCT_DO_FREEZE, DC_ACCT_DO_UNFREEZE };

/* 1 if s is valid UTF-8 shorter than cap bytes: an operator's actor or
 * reason as an event (struct dc_event) keeps it and JSON can show it. */
int dc_event_text_valid(const char *s, size_t cap);

/* Applies the action and records an account event (actor, time, reason).
 * Freezing and unfreezing need a reason. An action already in effect
 * changes nothing and records nothing (*changed = 0), so a retried request
 * is harmless. */
enum dc_err dc_ledger_account_action(struct dc_store *st, uint64_t now, int64_t account,
                                     enum dc_acct_action act, const char *actor, const char *reason,
                                     int *changed, char *detail, size_t dcap);

/* "frozen", "verified" or "unverified": the one word for an account's state
 * that the API and the CLI show. */
const char *dc_account_status_name(const struct dc_account *a);

struct dc_withdrawal {
    int64_t id;                                                /* posting id */
    size_t n;                                                  /* coins */
    uint8_t (*coins)[DC_COIN_HEADER_BYTES + DC_GENESIS_BYTES]; /* malloc'd, caller frees */
    uint8_t devcert[DC_DEVCERT_BYTES];
};

/* Withdraws amount into fresh coins for the account's device. rnd holds
 * DC_SERIAL_RANDOM_BYTES per possible coin (cfg.max_coins_per_withdrawal). */
enum dc_err dc_ledger_withdraw(struct dc_store *st, const struct dc_ctx *x, uint64_t now,
                               int64_t account, int64_t amount, const uint8_t *rnd, size_t rnd_len,
                               struct dc_withdrawal *out, char *detail, size_t dcap);

/* One coin of a deposit, already decoded and verified by the caller. */
struct dc_deposit_in {
    const uint8_t *bytes;
    size_t len;
    int64_t amount; /* value of the final state (verify result) */
    int flagged;    /* expired within grace */
};

struct dc_deposit_coin_out {
    uint8_t serial[DC_SERIAL_BYTES];
    int64_t amount;
    int64_t hold;
    uint64_t release_at;
    int release_provisional; /* release_at is a guess (see struct dc_hold) */
    int status;              /* enum dc_hold_status */
    int64_t case_id;
    int case_new; /* this deposit opened case_id (for the case_opened log line) */
    int flagged;
};

struct dc_deposit_out {
    int64_t deposit_id;
    int64_t credited;
    size_t n;
    struct dc_deposit_coin_out *coins; /* caller-provided, n entries */
    size_t forks_new;                  /* cases opened by this deposit */
};

/* Records a deposit of n verified coins for account (see the file comment in
 * ledger.c for the fork rules). */
enum dc_err dc_ledger_deposit(struct dc_store *st, struct dc_ctx *x, uint64_t now, int64_t account,
                              const struct dc_deposit_in *in, size_t n, struct dc_deposit_out *out,
                              char *detail, size_t dcap);

#define DC_RECLAIM_COINS_MAX 16 /* one offline payment: DC_PAYMENT_COINS_MAX */

/* The payer's own double spend a reclaim met: coins[coin]'s record `index`
 * consumes a state she owned that another record of hers consumed first. */
struct dc_reclaim_fork {
    int set;
    size_t coin, index;
};

/*
 * Credits the payer (account) for n (1..DC_RECLAIM_COINS_MAX) verified
 * coins that end in her own TRANSFER to a payee who refused them or can no
 * longer deposit them (the handler checked the refusal or the deadline):
 * held like a deposit, the payee's state marked reclaimed. `refusal` (156
 * bytes, or NULL for a reclaim by deadline) is kept with the coins. A coin
 * the payee passed on or deposited before a reclaim with her refusal opens
 * a case against her (coins[i].case_id, .case_new) and the credit is that
 * case's branch, frozen until she has paid. DC_ERR_COIN_SPENT, nothing to
 * keep, when the payee took a coin first without a refusal shown, it was
 * reclaimed before, or a state before the payee's was consumed otherwise;
 * *fork is set if that other record is the payer's own (her double spend:
 * the caller rolls back and calls dc_ledger_reclaim_fork).
 */
enum dc_err dc_ledger_reclaim(struct dc_store *st, struct dc_ctx *x, uint64_t now, int64_t account,
                              const struct dc_deposit_in *in, size_t n, const uint8_t *refusal,
                              struct dc_deposit_out *out, struct dc_reclaim_fork *fork,
                              char *detail, size_t dcap);

/* Records the payer's double spend a reclaim met (*fork of
 * dc_ledger_reclaim, after its rollback): opens the fork case of the state
 * record `index` of coin `in` consumes, with the reclaim's chain as one
 * branch (or joins the open one), and journals the refused reclaim on it.
 * Nothing is credited; a new case carries no liability and settles at
 * once. */
enum dc_err dc_ledger_reclaim_fork(struct dc_store *st, struct dc_ctx *x, uint64_t now,
                                   int64_t account, const struct dc_deposit_in *in, size_t index,
                                   int64_t *case_id, int *opened);

/*
 * The double spender pays: if `account` is a debtor (the culprit of an
 * unsettled fork case), takes what it can pay now (forfeits of its own
 * credits of the forked coins, then its available balance) towards each of
 * its cases, oldest first, repays whoever carried a decided shortfall, and
 * settles every case whose liability is covered. A no-op for other
 * accounts. Every inflow to an account calls it (transfer, fund, release,
 * deposit). See the recovery section of ledger.c.
 */
enum dc_err dc_ledger_collect(struct dc_store *st, uint64_t now, int64_t account);

/* Recomputes, from the instant each was credited, the release date of every
 * held or frozen credit whose date is provisional or lies past the end of
 * `cal`'s coverage: a date the new calendar covers becomes firm, one it
 * does not stays provisional. *changed: holds rewritten; *provisional:
 * holds still provisional afterwards. Run when a calendar is loaded (by
 * `ducatd calendar load` and by each ducatd picking it up) and at start. */
enum dc_err dc_ledger_recheck_holds(struct dc_store *st, const struct dc_calendar *cal,
                                    uint32_t n_days, size_t *changed, size_t *provisional);

/* One hold whose release date a calendar load changed. */
struct dc_redated {
    int64_t hold, account;
    uint64_t from, to; /* release instants, ms */
    int from_provisional, to_provisional;
    int frozen; /* under a fork case: still frozen, only its date moved */
};

/* `ducatd calendar load`: recomputes, from the instant each was credited,
 * the release date of EVERY held or frozen credit, firm or provisional (a
 * corrected calendar may move a firm date either way). A firm date is never
 * set before `now` (a credit the new calendar says was due is due now, not
 * retroactively); a date the calendar does not cover stays provisional. Only
 * dates change: nothing is released here and a frozen credit stays frozen.
 * Each change is journaled as an account event "hold_redated" by `actor`
 * (who loaded the calendar) naming the hold and both dates. *out (malloc'd,
 * the caller frees; NULL when none) lists the n_out changes; *provisional
 * counts the holds still provisional. Call inside a write transaction. */
enum dc_err dc_ledger_redate_holds(struct dc_store *st, const struct dc_calendar *cal,
                                   uint32_t n_days, uint64_t now, const char *actor,
                                   struct dc_redated **out, size_t *n_out, size_t *provisional);

/* Releases every held (not frozen) credit due at `now` into its account's
 * available balance; `by` names who or what released it ("timer",
 * "admin:<actor>", "cli"), kept on the hold. A debtor's release pays her
 * debt (dc_ledger_collect). */
enum dc_err dc_ledger_release_due(struct dc_store *st, uint64_t now, const char *by,
                                  size_t *released);

/* Operator decision on the shortfall of a case: what the culprit could not
 * pay when an honest receiver's frozen credit fell due. "honour": the loss
 * account carries it; "reject": the later branches' provisional credits are
 * reversed, newest first, only up to the shortfall. Either way the case's
 * frozen credits go back to their release dates, and later recoveries from
 * the culprit repay whoever carried it. DC_ERR_CASE_CLOSED if the case is
 * settled (also when what the culprit can pay now settles it);
 * DC_ERR_CASE_NOT_DUE if there is no undecided shortfall or no honest
 * receiver's credit is due yet. */
enum dc_err dc_ledger_resolve(struct dc_store *st, uint64_t now, int64_t case_id,
                              const char *decision, const char *actor, const char *reason);

/* Proves conservation from the journal; writes a human report. DC_ERR_AUDIT
 * names the first discrepancy class found (all are listed in the report). */
enum dc_err dc_ledger_audit(struct dc_store *st, const struct dc_currency *cur, char *report,
                            size_t cap);

/* Ensures the three system accounts exist (called by init and migrations). */
enum dc_err dc_ledger_bootstrap(struct dc_store *st, uint64_t now);

#endif
