/*
 * ledger.c - the business rules of ducatd (see ledger.h).
 *
 * Accounts: the settlement account (1) is the operator's window to the
 * outside world (fund/payout), the float (2) holds the value of coins in
 * circulation, the loss account (3) carries provisional credits of
 * double-spent branches and booked fraud losses; users start at 1001.
 * Because every movement is a posting between two of these, the sum of all
 * balances is always zero, which is the conservation law the audit proves:
 *   Σ users (available + held) + float + losses = funded − paid out.
 *
 * Deposits and forks. For each deposited coin the states it consumes are
 * claimed in the consumed-state index (serial, state) -> successor:
 *   - new state: recorded;
 *   - same successor: shared history (a split sibling) or a re-deposit;
 *   - different successor: a double spend. The case for (serial, state) is
 *     opened (or joined), the evidence is built from the stored chain and
 *     this one, the culprit's device is blocked and revoked, and every held
 *     credit descending from the state is frozen. This coin's credit comes
 *     provisionally from the loss account (the float already paid for the
 *     first branch) and is frozen with the case.
 *   - a state that is already the subject of a case freezes the credit too.
 * With auto_resolve, a case whose culprit's available balance covers the
 * provisional credits is settled at once: the culprit pays the loss account
 * and the frozen credits go back to their normal release date.
 */
#include "server/ledger/ledger.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/amount.h"
#include "ducat/auth.h"
#include "ducat/invariant.h"
#include "ducat/refusal.h"

static void set_detail(char *d, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void set_detail(char *d, size_t cap, const char *fmt, ...)
{
    if (!d || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, cap, fmt, ap);
    va_end(ap);
}

/* Money in a message for people: "67.50 CNY"; without a currency (tools
 * that drive the ledger directly) "6750 minor units". */
#define MONEY_MAX (DC_AMOUNT_STR_MAX + 16)
static const char *money(char out[static MONEY_MAX], const struct dc_currency *cur, long long v)
{
    char num[DC_AMOUNT_STR_MAX];
    struct dc_amount a = {v, cur ? cur->numeric : 0};
    if (cur && dc_amount_format(num, sizeof num, cur, a) == DC_OK) {
        snprintf(out, MONEY_MAX, "%s %s", num, cur->code);
    } else {
        snprintf(out, MONEY_MAX, "%lld minor units", v);
    }
    return out;
}

/* An operator named one of the ledger's own accounts where a user's is meant. */
static enum dc_err system_account(char *detail, size_t dcap, int64_t id)
{
    set_detail(detail, dcap, "account %lld is the %s account, a system account, not a user's",
               (long long)id,
               id == DC_ACCT_ID_SETTLEMENT ? "settlement"
               : id == DC_ACCT_ID_FLOAT    ? "offline float"
               : id == DC_ACCT_ID_LOSS     ? "fraud-loss"
                                           : "system");
    return DC_ERR_NO_ACCOUNT;
}

static enum dc_err posting(struct dc_store *st, uint64_t now, int64_t debit, int dbucket,
                           int64_t credit, int cbucket, int64_t amount, const char *kind,
                           const char *ref, int64_t *id)
{
    struct dc_posting p;
    memset(&p, 0, sizeof p);
    p.time = now;
    p.debit = debit;
    p.debit_bucket = dbucket;
    p.credit = credit;
    p.credit_bucket = cbucket;
    p.amount = amount;
    snprintf(p.kind, sizeof p.kind, "%s", kind);
    snprintf(p.ref, sizeof p.ref, "%s", ref);
    enum dc_err e = st->ops->post(st, &p);
    if (e == DC_OK && id) *id = p.id;
    return e;
}

enum dc_err dc_ledger_bootstrap(struct dc_store *st, uint64_t now)
{
    static const struct {
        int64_t id;
        int kind;
        const char *name;
    } sys[] = {{DC_ACCT_ID_SETTLEMENT, DC_ACCT_SETTLEMENT, "settlement"},
               {DC_ACCT_ID_FLOAT, DC_ACCT_FLOAT, "offline float"},
               {DC_ACCT_ID_LOSS, DC_ACCT_LOSS, "fraud losses"}};
    for (size_t i = 0; i < 3; i++) {
        struct dc_account a;
        enum dc_err e = st->ops->account_get(st, &a, DC_BY_ID, sys[i].id, NULL);
        if (e == DC_OK) continue;
        if (e != DC_ERR_NO_ACCOUNT) return e;
        memset(&a, 0, sizeof a);
        a.id = sys[i].id;
        a.kind = sys[i].kind;
        a.status = DC_ACCT_VERIFIED;
        snprintf(a.name, sizeof a.name, "%s", sys[i].name);
        a.created_at = now;
        e = st->ops->account_insert(st, &a);
        if (e != DC_OK) return e;
    }
    return DC_OK;
}

/* ---- Accounts --------------------------------------------------------- */

void dc_ledger_devcert(uint8_t out[DC_DEVCERT_BYTES], struct dc_devcert *cert,
                       const struct dc_ctx *x, const struct dc_account *a, uint64_t now)
{
    const struct dc_signer *sg = x->signer; /* one key for the whole certificate */
    memset(cert, 0, sizeof *cert);
    cert->key_id = sg->key_id;
    memcpy(cert->pub, a->device_pub, DC_PUBKEY_BYTES);
    memcpy(cert->alias, a->alias, DC_ALIAS_BYTES);
    cert->expires_at = now + (uint64_t)x->cfg.cert_lifetime_days * DC_DAY_MS;
    cert->offline_limit = a->offline_limit;
    dc_devcert_sign(out, cert, sg->sk);
}

enum dc_err dc_ledger_register(struct dc_store *st, const struct dc_ctx *x, uint64_t now,
                               struct dc_account *io, const uint8_t alias_rnd[DC_ALIAS_BYTES],
                               int *created)
{
    struct dc_account old;
    *created = 0;
    enum dc_err e = st->ops->account_get(st, &old, DC_BY_DEVICE, 0, io->device_pub);
    if (e == DC_OK) {
        if (strcmp(old.name, io->name) != 0 || strcmp(old.national_id, io->national_id) != 0 ||
            strcmp(old.phone, io->phone) != 0) {
            return DC_ERR_ALREADY_REGISTERED;
        }
        *io = old;
        return DC_OK;
    }
    if (e != DC_ERR_NO_ACCOUNT) return e;
    io->id = 0;
    io->kind = DC_ACCT_USER;
    io->status = x->cfg.auto_verify ? DC_ACCT_VERIFIED : DC_ACCT_UNVERIFIED;
    io->offline_blocked = 0;
    io->offline_limit = x->cfg.default_offline_limit;
    io->available = io->held = 0;
    io->created_at = now;
    memcpy(io->alias, alias_rnd, DC_ALIAS_BYTES);
    /* the store numbers user accounts from DC_ACCT_ID_FIRST_USER */
    e = st->ops->account_insert(st, io);
    if (e == DC_OK) *created = 1;
    return e;
}

int dc_event_text_valid(const char *s, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    if (n >= cap) return 0;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k; /* continuation bytes */
        if (c < 0x80) {
            k = 0;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
        } else {
            return 0;
        }
        if (i + k >= n && k > 0) return 0;
        unsigned cp = k == 0 ? c : c & (0x3fu >> k);
        for (size_t m = 1; m <= k; m++) {
            if ((p[i + m] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (p[i + m] & 0x3fu);
        }
        /* no overlong form, no surrogate, nothing above U+10FFFF */
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
        i += k + 1;
    }
    return 1;
}

const char *dc_account_status_name(const struct dc_account *a)
{
    if (a->frozen) return "frozen";
    return a->status == DC_ACCT_VERIFIED ? "verified" : "unverified";
}

enum dc_err dc_ledger_account_action(struct dc_store *st, uint64_t now, int64_t account,
                                     enum dc_acct_action act, const char *actor, const char *reason,
                                     int *changed, char *detail, size_t dcap)
{
    static const char *const names[] = {"verify", "freeze", "unfreeze"};
    *changed = 0;
    if (act != DC_ACCT_DO_VERIFY && (!reason || !*reason)) {
        set_detail(detail, dcap, "%s needs a reason (it is recorded with who and when)",
                   names[act]);
        return DC_ERR_FIELD;
    }
    if (!actor || !*actor) {
        set_detail(detail, dcap, "actor must not be empty");
        return DC_ERR_FIELD;
    }
    /* what the event keeps and shows: longer text would be cut, maybe in
     * the middle of a character, and the event could not be shown */
    struct dc_event ev;
    if (!dc_event_text_valid(actor, sizeof ev.actor)) {
        set_detail(detail, dcap, "actor must be UTF-8 of at most %zu bytes", sizeof ev.actor - 1);
        return DC_ERR_FIELD;
    }
    if (reason && !dc_event_text_valid(reason, sizeof ev.reason)) {
        set_detail(detail, dcap, "reason must be UTF-8 of at most %zu bytes", sizeof ev.reason - 1);
        return DC_ERR_FIELD;
    }
    struct dc_account a;
    enum dc_err e = st->ops->account_get(st, &a, DC_BY_ID, account, NULL);
    if (e != DC_OK) return e;
    if (a.kind != DC_ACCT_USER) return system_account(detail, dcap, account);
    switch (act) {
    case DC_ACCT_DO_VERIFY:
        if (a.status == DC_ACCT_VERIFIED) return DC_OK;
        a.status = DC_ACCT_VERIFIED; /* a frozen account stays frozen */
        break;
    case DC_ACCT_DO_FREEZE:
        if (a.frozen) return DC_OK;
        a.frozen = 1;
        break;
    case DC_ACCT_DO_UNFREEZE:
        if (!a.frozen) return DC_OK;
        a.frozen = 0; /* an unverified account stays unverified */
        break;
    }
    e = st->ops->account_update(st, &a);
    if (e == DC_OK) e = st->ops->account_event(st, account, now, actor, names[act], reason);
    if (e == DC_OK) *changed = 1;
    return e;
}

/* A user account that may pay: exists, is a user, is not frozen. */
static enum dc_err payer(struct dc_store *st, int64_t id, struct dc_account *a)
{
    enum dc_err e = st->ops->account_get(st, a, DC_BY_ID, id, NULL);
    if (e != DC_OK) return e;
    if (a->kind != DC_ACCT_USER) return DC_ERR_NO_ACCOUNT;
    if (a->frozen) return DC_ERR_ACCOUNT_FROZEN;
    if (a->debtor) return DC_ERR_ACCOUNT_DEBTOR; /* the double spender pays first */
    return DC_OK;
}

/* ---- Online money ----------------------------------------------------- */

int dc_memo_valid(const char *memo)
{
    if (!memo) return 1;
    size_t n = strlen(memo);
    if (n > DC_MEMO_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)memo[i];
        if (c < 0x20 || c == 0x7f) return 0;
        /* C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F): a terminal
         * may act on them (U+009B is CSI) when a history shows the memo */
        if (c == 0xc2 && i + 1 < n && (unsigned char)memo[i + 1] <= 0x9f) return 0;
    }
    return 1;
}

enum dc_err dc_ledger_transfer(struct dc_store *st, const struct dc_currency *cur, uint64_t now,
                               int64_t from, const int64_t *to, const int64_t *amount,
                               const char *const *memo, size_t n, int64_t *ids, int64_t *available,
                               char *detail, size_t dcap)
{
    char m1[MONEY_MAX], m2[MONEY_MAX];
    struct dc_account a, b;
    /* the payer and the first payees in one read where reads cost a round
     * trip each (PostgreSQL); the answers below stay the reads' own, and
     * a failed read (a lost connection) fails the transfer as theirs would */
    int64_t known[16];
    size_t nk = 0;
    known[nk++] = from;
    for (size_t i = 0; i < n && nk < sizeof known / sizeof known[0]; i++) known[nk++] = to[i];
    enum dc_err e = dc_store_accounts_prefetch(st, known, nk);
    if (e == DC_OK) e = payer(st, from, &a);
    if (e != DC_OK) return e;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (amount[i] <= 0) {
            set_detail(detail, dcap, "transfers[%zu].amount must be positive", i);
            return DC_ERR_AMOUNT_ZERO;
        }
        if (dc_i64_add(&total, total, amount[i]) != DC_OK) return DC_ERR_AMOUNT_OVERFLOW;
        if (to[i] == from) {
            set_detail(detail, dcap,
                       n == 1 ? "you cannot pay your own account (%lld)"
                              : "you cannot pay your own account (%lld, transfers[%zu])",
                       (long long)from, i);
            return DC_ERR_SELF_TRANSFER;
        }
        if (memo && !dc_memo_valid(memo[i])) {
            set_detail(detail, dcap,
                       "transfers[%zu].memo: at most %d bytes and no control characters", i,
                       DC_MEMO_MAX);
            return DC_ERR_FIELD;
        }
    }
    /* one check for the whole batch: it is all or nothing */
    if (total > a.available) {
        set_detail(detail, dcap, "needs %s, available %s", money(m1, cur, total),
                   money(m2, cur, a.available));
        return DC_ERR_INSUFFICIENT_FUNDS;
    }
    int any_debtor = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && to[i] == to[i - 1]) continue; /* checked just before */
        e = st->ops->account_get(st, &b, DC_BY_ID, to[i], NULL);
        if (e == DC_OK) any_debtor |= b.debtor;
        if (e == DC_OK && (b.kind != DC_ACCT_USER)) e = DC_ERR_NO_ACCOUNT;
        if (e == DC_OK && b.frozen) e = DC_ERR_ACCOUNT_FROZEN;
        if (e != DC_OK) {
            set_detail(detail, dcap, "recipient %lld", (long long)to[i]);
            return e;
        }
    }
    /* one journal row per transfer; in a batch the payer's balance moves once */
    struct dc_posting one = {0}, *p = n == 1 ? &one : calloc(n, sizeof *p);
    if (!p) return DC_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        p[i].time = now;
        p[i].debit = from;
        p[i].debit_bucket = DC_BUCKET_AVAILABLE;
        p[i].credit = to[i];
        p[i].credit_bucket = DC_BUCKET_AVAILABLE;
        p[i].amount = amount[i];
        snprintf(p[i].kind, sizeof p[i].kind, "transfer");
        snprintf(p[i].ref, sizeof p[i].ref, "to:%lld", (long long)to[i]);
        if (memo && memo[i]) snprintf(p[i].memo, sizeof p[i].memo, "%s", memo[i]);
    }
    e = n == 1 ? st->ops->post(st, p) : dc_store_post_many(st, p, n);
    for (size_t i = 0; e == DC_OK && i < n; i++) ids[i] = p[i].id;
    if (p != &one) free(p);
    /* what a double spender receives pays her debt first */
    for (size_t i = 0; e == DC_OK && any_debtor && i < n; i++) {
        if (i == 0 || to[i] != to[i - 1]) e = dc_ledger_collect(st, now, to[i]);
    }
    if (e != DC_OK) return e;
    *available = a.available - total;
    DC_INVARIANT(*available >= 0, "a transfer leaves the payer's available balance >= 0");
    return DC_OK;
}

enum dc_err dc_ledger_fund(struct dc_store *st, const struct dc_currency *cur, uint64_t now,
                           int64_t account, int64_t amount, int payout, int64_t *id, char *detail,
                           size_t dcap)
{
    struct dc_account a;
    if (amount <= 0) return DC_ERR_AMOUNT_ZERO;
    enum dc_err e = st->ops->account_get(st, &a, DC_BY_ID, account, NULL);
    if (e != DC_OK) return e;
    if (a.kind != DC_ACCT_USER) return system_account(detail, dcap, account);
    if (a.frozen) {
        /* no money moves from or to a frozen account, cash in or out included */
        set_detail(detail, dcap, "account %lld is frozen: unfreeze it first", (long long)account);
        return DC_ERR_ACCOUNT_FROZEN;
    }
    if (payout && a.debtor) {
        set_detail(detail, dcap, "account %lld owes a fork case: no payout until it is settled",
                   (long long)account);
        return DC_ERR_ACCOUNT_DEBTOR;
    }
    if (payout) {
        if (amount > a.available) {
            char m1[MONEY_MAX], m2[MONEY_MAX];
            set_detail(detail, dcap, "payout %s exceeds available %s", money(m1, cur, amount),
                       money(m2, cur, a.available));
            return DC_ERR_INSUFFICIENT_FUNDS;
        }
        return posting(st, now, account, DC_BUCKET_AVAILABLE, DC_ACCT_ID_SETTLEMENT,
                       DC_BUCKET_AVAILABLE, amount, "payout", "", id);
    }
    int64_t check;
    if (dc_i64_add(&check, a.available, amount) != DC_OK) return DC_ERR_AMOUNT_OVERFLOW;
    e = posting(st, now, DC_ACCT_ID_SETTLEMENT, DC_BUCKET_AVAILABLE, account, DC_BUCKET_AVAILABLE,
                amount, "fund", "", id);
    if (e == DC_OK && a.debtor) e = dc_ledger_collect(st, now, account);
    return e;
}

/* ---- Withdrawal ------------------------------------------------------- */

enum dc_err dc_ledger_withdraw(struct dc_store *st, const struct dc_ctx *x, uint64_t now,
                               int64_t account, int64_t amount, const uint8_t *rnd, size_t rnd_len,
                               struct dc_withdrawal *out, char *detail, size_t dcap)
{
    struct dc_account a;
    memset(out, 0, sizeof *out);
    enum dc_err e = payer(st, account, &a);
    if (e != DC_OK) return e;
    if (a.status != DC_ACCT_VERIFIED) return DC_ERR_ACCOUNT_UNVERIFIED;
    if (a.offline_blocked) return DC_ERR_OFFLINE_BLOCKED;
    if (amount <= 0) return DC_ERR_AMOUNT_ZERO;
    /* never hand out coins the current signing key may not sign now; one
     * key for the whole withdrawal even if a rotation swaps it meanwhile */
    const struct dc_signer *sg = x->signer;
    if (x->signer_stale) {
        set_detail(detail, dcap,
                   "signing key %u was revoked or replaced and the current one is not loaded "
                   "(see the log)",
                   sg->key_id);
        return DC_ERR_KEY_REVOKED;
    }
    if (now < sg->cert.valid_from || now >= sg->cert.sign_until) {
        set_detail(detail, dcap, "signing key %u is outside its signing window: rotate keys",
                   sg->key_id);
        return DC_ERR_KEY_EXPIRED;
    }
    if (amount > a.available) {
        char m1[MONEY_MAX], m2[MONEY_MAX];
        set_detail(detail, dcap, "needs %s, available %s", money(m1, &x->cfg.currency, amount),
                   money(m2, &x->cfg.currency, a.available));
        return DC_ERR_INSUFFICIENT_FUNDS;
    }
    int64_t outstanding, after;
    e = st->ops->coin_outstanding(st, account, &outstanding);
    if (e != DC_OK) return e;
    if (dc_i64_add(&after, outstanding, amount) != DC_OK || after > a.offline_limit) {
        set_detail(detail, dcap, "offline limit %lld, already withdrawn %lld",
                   (long long)a.offline_limit, (long long)outstanding);
        return DC_ERR_OFFLINE_LIMIT;
    }
    size_t cap = x->cfg.max_coins_per_withdrawal, n = 0;
    int64_t *values = calloc(cap, sizeof *values);
    if (!values) return DC_ERR_NO_MEMORY;
    e = dc_denoms_decompose(values, cap, &n, &x->cfg.denoms, amount);
    if (e == DC_ERR_BUFFER_TOO_SMALL) {
        set_detail(detail, dcap, "would need %zu coins, at most %zu per withdrawal", n, cap);
        e = DC_ERR_LIMIT_EXCEEDED;
    } else if (e == DC_ERR_DENOM_UNREACHABLE) {
        set_detail(detail, dcap, "amount is not a multiple of the smallest coin");
    }
    if (e == DC_OK && rnd_len < n * DC_SERIAL_RANDOM_BYTES) e = DC_ERR_INTERNAL;
    if (e == DC_OK) {
        out->coins = calloc(n, sizeof *out->coins);
        if (!out->coins) e = DC_ERR_NO_MEMORY;
    }
    if (e == DC_OK) {
        e = posting(st, now, account, DC_BUCKET_AVAILABLE, DC_ACCT_ID_FLOAT, DC_BUCKET_AVAILABLE,
                    amount, "withdraw", "", &out->id);
    }
    struct dc_devcert cert;
    if (e == DC_OK) dc_ledger_devcert(out->devcert, &cert, x, &a, now);
    int64_t issued = 0;
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        struct dc_genesis g;
        memset(&g, 0, sizeof g);
        g.key_id = sg->key_id;
        dc_serial_make(g.serial, now, rnd + i * DC_SERIAL_RANDOM_BYTES);
        g.currency = x->cfg.currency.numeric;
        g.value = values[i];
        g.issued_at = now;
        g.expires_at = now + (uint64_t)x->cfg.coin_lifetime_days * DC_DAY_MS;
        g.hop_limit = (uint8_t)x->cfg.max_hops;
        g.owner = cert;
        size_t len;
        e = dc_coin_issue(out->coins[i], sizeof out->coins[i], &len, &g, sg->sk);
        if (e != DC_OK) break;
        struct dc_coin_rec rec;
        memset(&rec, 0, sizeof rec);
        memcpy(rec.serial, g.serial, DC_SERIAL_BYTES);
        rec.value = g.value;
        rec.account = account;
        rec.withdrawal = out->id;
        rec.expires_at = g.expires_at;
        e = st->ops->coin_insert(st, &rec);
        if (e == DC_OK) e = dc_i64_add(&issued, issued, g.value);
    }
    free(values);
    /* the coins are the float's liability: exactly what was debited */
    DC_INVARIANT(e != DC_OK || issued == amount, "coins issued add up to the amount debited");
    if (e != DC_OK) {
        free(out->coins);
        out->coins = NULL;
        return e;
    }
    out->n = n;
    return DC_OK;
}

/* ---- Deposit ---------------------------------------------------------- */

/* Finds, among the stored deposited chains of a serial, one that consumed
 * `state` (k records before it) with a successor other than `succ`. */
struct find_other {
    const uint8_t *state;
    const uint8_t *succ;
    uint8_t *chain; /* OUT: malloc'd copy */
    size_t len;
    struct dc_coin *scratch;
};

static int find_other_cb(void *ctx, const struct dc_dcoin *d)
{
    struct find_other *f = ctx;
    if (dc_coin_decode(f->scratch, d->chain, d->chain_len) != DC_OK) return 0;
    uint8_t s[DC_HASH_BYTES], x[DC_HASH_BYTES];
    for (size_t k = 0; k < f->scratch->n; k++) {
        dc_coin_state(s, f->scratch, k);
        if (memcmp(s, f->state, DC_HASH_BYTES) != 0) continue;
        dc_coin_successor(x, f->scratch, k);
        if (memcmp(x, f->succ, DC_HASH_BYTES) == 0) return 0;
        f->chain = malloc(d->chain_len);
        if (!f->chain) return 1;
        memcpy(f->chain, d->chain, d->chain_len);
        f->len = d->chain_len;
        return 1;
    }
    return 0;
}

/* Freezes every hold whose deposited chain passes through `state`. */
struct freeze_ctx {
    struct dc_store *st;
    const uint8_t *state;
    int64_t case_id;
    struct dc_coin *scratch;
    enum dc_err err;
};

static int freeze_cb(void *ctx, const struct dc_dcoin *d)
{
    struct freeze_ctx *f = ctx;
    if (dc_coin_decode(f->scratch, d->chain, d->chain_len) != DC_OK) return 0;
    uint8_t s[DC_HASH_BYTES];
    for (size_t k = 0; k < f->scratch->n; k++) {
        dc_coin_state(s, f->scratch, k);
        if (memcmp(s, f->state, DC_HASH_BYTES) != 0) continue;
        struct dc_hold h;
        f->err = f->st->ops->hold_get(f->st, &h, d->hold);
        if (f->err != DC_OK) return 1;
        /* A hold keeps the first case that claimed it, settled or not: what
         * was forfeited from it or reversed belongs to that case's money
         * (its audit, its repayments). Reassigning it would let the new
         * case "repay" a culprit's forfeit to her. */
        if (h.case_id == 0 && (h.status == DC_HOLD_HELD || h.status == DC_HOLD_FROZEN)) {
            h.status = DC_HOLD_FROZEN;
            h.case_id = f->case_id;
            f->err = f->st->ops->hold_put(f->st, &h);
            if (f->err != DC_OK) return 1;
        }
        /* a released credit is past freezing: the exposure bound in the
         * configuration makes this impossible for branches within lifetime */
        return 0;
    }
    return 0;
}

/* ---- The double spender pays ------------------------------------------
 *
 * A case's liability (c->exposure) is the value credited provisionally from
 * the loss account to the branches beyond the backed one. It is recovered
 * from the culprit's account into the loss account, in this order:
 *   1. her own credits of the forked coin (holds of the case on her
 *      account), provisional ones first: forfeited ("forfeit"), never
 *      released to her;
 *   2. her available balance ("recover");
 *   3. her other held credits when they release, and
 *   4. every later inflow (transfers to her, fund, releases, deposits): her
 *      account is a debtor (accounts.debtor) and sends nothing until every
 *      case against her is settled; each inflow calls dc_ledger_collect.
 * Held credits outside the case are taken when they release, not before:
 * a hold is whole, forfeited in part or whole (the culprit's, of this
 * case: only what the case still needs) or reversed (a receiver's, by a
 * reject), which keeps every hold's story one line long and lets the audit
 * check each case's money to the unit.
 * The case settles (status resolved) the moment recovered == exposure: its
 * frozen credits go back to their normal release dates. An operator decides
 * only a shortfall still uncovered when an honest receiver's hold is due
 * (dc_ledger_resolve); recoveries after that repay whoever carried it.
 */

struct hold_list {
    struct dc_hold *h;
    size_t n, cap;
    enum dc_err err;
};

static int hold_list_cb(void *ctx, const struct dc_hold *h)
{
    struct hold_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct dc_hold *p = realloc(l->h, cap * sizeof *p);
        if (!p) {
            l->err = DC_ERR_NO_MEMORY;
            return 1;
        }
        l->h = p;
        l->cap = cap;
    }
    l->h[l->n++] = *h;
    return 0;
}

/* The holds of a case, in id order (collected: the listing must finish
 * before we write). The caller frees l->h. */
static enum dc_err case_holds(struct dc_store *st, int64_t case_id, struct hold_list *l)
{
    memset(l, 0, sizeof *l);
    enum dc_err e = st->ops->holds_list(st, DC_HOLDS_OF_CASE, case_id, hold_list_cb, l);
    return e != DC_OK ? e : l->err;
}

static void case_ref(char ref[48], int64_t case_id)
{
    snprintf(ref, 48, "c:%lld", (long long)case_id);
}

/* Moves `amount` (<= what the hold still holds) out of a hold into the loss
 * account; a hold left empty is REVERSED. */
static enum dc_err take_from_hold(struct dc_store *st, uint64_t now, struct dc_hold *h,
                                  int64_t amount, const char *kind, int64_t case_id)
{
    char ref[48];
    case_ref(ref, case_id);
    enum dc_err e = posting(st, now, h->account, DC_BUCKET_HELD, DC_ACCT_ID_LOSS,
                            DC_BUCKET_AVAILABLE, amount, kind, ref, NULL);
    if (e != DC_OK) return e;
    h->taken += amount; /* <= amount of the hold: no overflow */
    if (dc_hold_left(h) == 0) h->status = DC_HOLD_REVERSED;
    return st->ops->hold_put(st, h);
}

/* Recoveries after a decision repay whoever carried the shortfall: the
 * reversed receivers, newest reversal first, then the loss account (which
 * the recovery itself already credited). */
static enum dc_err repay(struct dc_store *st, uint64_t now, struct dc_case *c, int64_t got)
{
    int64_t left = c->carried - c->repaid;
    if (got < left) left = got;
    if (left <= 0) return DC_OK;
    c->repaid += left;
    struct hold_list l;
    enum dc_err e = case_holds(st, c->id, &l);
    char ref[48];
    case_ref(ref, c->id);
    for (size_t i = l.n; e == DC_OK && left > 0 && i-- > 0;) {
        struct dc_hold *h = &l.h[i];
        if (h->account == c->culprit_account || h->taken <= h->repaid) continue;
        int64_t r = h->taken - h->repaid;
        if (r > left) r = left;
        e = posting(st, now, DC_ACCT_ID_LOSS, DC_BUCKET_AVAILABLE, h->account, DC_BUCKET_AVAILABLE,
                    r, "repay", ref, NULL);
        h->repaid += r;
        left -= r;
        if (e == DC_OK) e = st->ops->hold_put(st, h);
    }
    free(l.h);
    return e;
}

/* Every frozen hold of the case back to its normal release date. */
static enum dc_err unfreeze_case(struct dc_store *st, int64_t case_id)
{
    struct hold_list l;
    enum dc_err e = case_holds(st, case_id, &l);
    for (size_t i = 0; e == DC_OK && i < l.n; i++) {
        if (l.h[i].status != DC_HOLD_FROZEN) continue;
        l.h[i].status = DC_HOLD_HELD;
        e = st->ops->hold_put(st, &l.h[i]);
    }
    free(l.h);
    return e;
}

static int count_case_cb(void *ctx, const struct dc_case *c)
{
    (void)c;
    (*(size_t *)ctx)++;
    return 0;
}

/* The liability is covered: the case is settled, its credits keep their
 * dates, and the culprit sends again once no other case is unsettled. */
static enum dc_err settle(struct dc_store *st, uint64_t now, struct dc_case *c)
{
    char why[256];
    snprintf(why, sizeof why, "recovered %lld of %lld from account %lld", (long long)c->recovered,
             (long long)c->exposure, (long long)c->culprit_account);
    c->status = DC_CASE_RESOLVED;
    if (!c->decision[0]) {
        snprintf(c->decision, sizeof c->decision, "auto");
        snprintf(c->actor, sizeof c->actor, "policy");
        snprintf(c->reason, sizeof c->reason, "%s", why);
        c->resolved_at = now;
    }
    enum dc_err e = st->ops->case_put(st, c);
    if (e == DC_OK) e = st->ops->case_event(st, c->id, now, "policy", "settle", why);
    if (e == DC_OK) e = unfreeze_case(st, c->id);
    if (e != DC_OK || c->culprit_account == 0) return e;
    size_t open = 0;
    e = st->ops->cases_of_culprit(st, c->culprit_account, count_case_cb, &open);
    if (e != DC_OK || open > 0) return e;
    struct dc_account a;
    e = st->ops->account_get(st, &a, DC_BY_ID, c->culprit_account, NULL);
    if (e != DC_OK || !a.debtor) return e;
    a.debtor = 0;
    e = st->ops->account_update(st, &a);
    if (e == DC_OK) {
        e = st->ops->account_event(st, a.id, now, "policy", "settled",
                                   "every fork case against the account is settled");
    }
    return e;
}

/* Takes what the culprit can pay now towards an unsettled case (steps 1 and
 * 2 above) and settles it when covered. Writes the case. */
static enum dc_err recover_case(struct dc_store *st, uint64_t now, struct dc_case *c)
{
    if (c->status != DC_CASE_OPEN) return DC_OK;
    int64_t need = c->exposure - c->recovered, got = 0;
    enum dc_err e = DC_OK;
    if (need > 0 && c->culprit_account != 0) {
        /* 1. her own credits of the forked coin, provisional ones first */
        struct hold_list l;
        e = case_holds(st, c->id, &l);
        for (int pass = 1; pass >= 0; pass--) {
            for (size_t i = 0; e == DC_OK && need > 0 && i < l.n; i++) {
                struct dc_hold *h = &l.h[i];
                if (h->account != c->culprit_account || h->provisional != pass) continue;
                if (h->status != DC_HOLD_HELD && h->status != DC_HOLD_FROZEN) continue;
                int64_t take = dc_hold_left(h) < need ? dc_hold_left(h) : need;
                if (take <= 0) continue;
                e = take_from_hold(st, now, h, take, "forfeit", c->id);
                need -= take;
                got += take;
            }
        }
        free(l.h);
        /* 2. her available balance */
        struct dc_account a;
        memset(&a, 0, sizeof a); /* read only when need > 0 */
        if (e == DC_OK && need > 0) {
            e = st->ops->account_get(st, &a, DC_BY_ID, c->culprit_account, NULL);
        }
        if (e == DC_OK && need > 0 && a.available > 0) {
            int64_t take = a.available < need ? a.available : need;
            char ref[48];
            case_ref(ref, c->id);
            e = posting(st, now, a.id, DC_BUCKET_AVAILABLE, DC_ACCT_ID_LOSS, DC_BUCKET_AVAILABLE,
                        take, "recover", ref, NULL);
            need -= take;
            got += take;
        }
    }
    if (e != DC_OK) return e;
    c->recovered += got; /* got <= exposure - recovered */
    if (got > 0) {
        char why[128];
        snprintf(why, sizeof why, "recovered %lld, %lld of %lld in all", (long long)got,
                 (long long)c->recovered, (long long)c->exposure);
        e = st->ops->case_event(st, c->id, now, "policy", "recover", why);
        if (e == DC_OK) e = repay(st, now, c, got);
    }
    if (e != DC_OK) return e;
    if (c->recovered >= c->exposure) return settle(st, now, c);
    return got > 0 ? st->ops->case_put(st, c) : DC_OK;
}

/* A reopened case makes its culprit a debtor again. */
static enum dc_err mark_debtor(struct dc_store *st, uint64_t now, int64_t account)
{
    struct dc_account a;
    if (account == 0) return DC_OK;
    enum dc_err e = st->ops->account_get(st, &a, DC_BY_ID, account, NULL);
    if (e != DC_OK || a.debtor) return e;
    a.debtor = 1;
    e = st->ops->account_update(st, &a);
    if (e == DC_OK)
        e = st->ops->account_event(st, account, now, "system", "debtor", "case reopened");
    return e;
}

static int collect_ids_cb(void *ctx, const struct dc_case *c)
{
    struct hold_list *l = ctx; /* reuses the growable list for ids */
    struct dc_hold h;
    memset(&h, 0, sizeof h);
    h.id = c->id;
    return hold_list_cb(l, &h);
}

enum dc_err dc_ledger_collect(struct dc_store *st, uint64_t now, int64_t account)
{
    struct dc_account a;
    enum dc_err e = st->ops->account_get(st, &a, DC_BY_ID, account, NULL);
    if (e != DC_OK || !a.debtor) return e;
    struct hold_list ids;
    memset(&ids, 0, sizeof ids);
    e = st->ops->cases_of_culprit(st, account, collect_ids_cb, &ids);
    if (e == DC_OK) e = ids.err;
    /* oldest case first: each takes what it can before the next */
    for (size_t i = 0; e == DC_OK && i < ids.n; i++) {
        struct dc_case c;
        memset(&c, 0, sizeof c);
        e = st->ops->case_get(st, &c, ids.h[i].id, NULL, NULL);
        if (e == DC_OK) e = recover_case(st, now, &c);
        dc_case_clear(&c);
    }
    free(ids.h);
    return e;
}

struct deposit_job {
    struct dc_store *st;
    struct dc_ctx *x;
    uint64_t now;
    struct dc_coin *coin, *other, *scratch;
};

/* *case_id = the case opened on `state` of the coin `serial`; left as it
 * is when there is none. */
static enum dc_err case_at(struct dc_store *st, const uint8_t *serial, const uint8_t *state,
                           int64_t *case_id)
{
    struct dc_case c;
    enum dc_err e = st->ops->case_get(st, &c, 0, serial, state);
    if (e == DC_OK) {
        *case_id = c.id;
        dc_case_clear(&c);
        return DC_OK;
    }
    return e == DC_ERR_NO_CASE ? DC_OK : e;
}

/* Opens a case on the evidence ev (ev_len bytes; freed here, whatever
 * happens): verified with the master key as any auditor would, its culprit
 * named, her account blocked offline and a debtor, her device revoked, and
 * every credit already granted that descends from the case's state frozen.
 * `why` is the opening event's reason. */
static enum dc_err case_from_evidence(struct deposit_job *j, uint8_t *ev, size_t ev_len,
                                      const char *why, int64_t *case_id)
{
    struct dc_store *st = j->st;
    struct dc_case c;
    memset(&c, 0, sizeof c);
    struct dc_evidence_info info;
    enum dc_err e = dc_evidence_verify(&info, j->x->master_pub, ev, ev_len);
    if (e == DC_OK) {
        memcpy(c.serial, info.serial, DC_SERIAL_BYTES);
        memcpy(c.state, info.state, DC_HASH_BYTES);
        memcpy(c.culprit, info.culprit, DC_PUBKEY_BYTES);
        c.value = info.value;
        c.evidence = ev;
        c.evidence_len = ev_len;
        c.created_at = j->now;
        struct dc_account culprit;
        if (st->ops->account_get(st, &culprit, DC_BY_ALIAS, 0, info.alias) == DC_OK) {
            c.culprit_account = culprit.id;
            culprit.offline_blocked = 1;
            culprit.debtor = 1; /* she sends nothing until her cases are settled */
            e = st->ops->account_update(st, &culprit);
        }
    }
    if (e == DC_OK) e = st->ops->case_put(st, &c);
    if (e == DC_OK) e = st->ops->revoke_put(st, c.culprit, c.id, j->now);
    if (e == DC_OK) e = st->ops->case_event(st, c.id, j->now, "system", "open", why);
    if (e == DC_OK) {
        /* freeze every credit already granted that descends from the state */
        struct freeze_ctx fz = {st, c.state, c.id, j->other, DC_OK};
        e = st->ops->dcoins_by_serial(st, c.serial, freeze_cb, &fz);
        if (e == DC_OK) e = fz.err;
    }
    free(ev);
    if (e == DC_OK) *case_id = c.id;
    return e;
}

/* Opens or joins the case for a forked state; returns its id. */
static enum dc_err open_case(struct deposit_job *j, const uint8_t *bytes, size_t len,
                             const uint8_t *state, const uint8_t *succ, int64_t *case_id,
                             int *opened)
{
    struct dc_store *st = j->st;
    *opened = 0;
    int64_t found = 0;
    enum dc_err e = case_at(st, j->coin->genesis.serial, state, &found);
    if (e != DC_OK || found) {
        *case_id = found;
        return e;
    }
    struct find_other f = {state, succ, NULL, 0, j->scratch};
    e = st->ops->dcoins_by_serial(st, j->coin->genesis.serial, find_other_cb, &f);
    if (e != DC_OK) return e;
    if (!f.chain) return DC_ERR_INTERNAL; /* the index and the chains disagree */
    uint8_t *ev = malloc(DC_EVIDENCE_MAX_BYTES);
    size_t ev_len = 0;
    e = ev ? dc_coin_decode(j->other, f.chain, f.len) : DC_ERR_NO_MEMORY;
    struct dc_coin *mine = j->scratch;
    if (e == DC_OK) e = dc_coin_decode(mine, bytes, len);
    if (e == DC_OK) {
        pthread_rwlock_rdlock(&j->x->trust_lock);
        e = dc_evidence_build(ev, DC_EVIDENCE_MAX_BYTES, &ev_len, &j->x->trust, mine, j->other);
        pthread_rwlock_unlock(&j->x->trust_lock);
    }
    free(f.chain);
    if (e != DC_OK) {
        free(ev);
        return e;
    }
    e = case_from_evidence(j, ev, ev_len, "fork detected", case_id);
    if (e == DC_OK) *opened = 1;
    return e;
}

/* ---- Refused payments passed on ----------------------------------------
 *
 * A payee who signed a REFUSAL of a payment and then consumed one of its
 * coins' states S by a record of her own signed two things that cannot both
 * stand. The case is opened on S with her as the culprit, whichever came
 * first at the server: the payer's reclaim (the index holds the reclaim
 * marker for S and reclaim_refusals the refusal and the payment) or the
 * payee's onward record (deposited by its next holder). The credit that
 * arrives second is the case's branch: provisional from the loss account,
 * recovered from the payee, as any double spend's.
 */

/* n:u8 (len:u16 coin)[n]: the payment's coins as the refusal evidence and
 * reclaim_refusals keep them. *out malloc'd. */
static enum dc_err pack_coins(uint8_t **out, size_t *out_len, const struct dc_deposit_in *in,
                              size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += 2 + in[i].len; /* n <= 16, len <= body cap */
    uint8_t *p = malloc(len);
    if (!p) return DC_ERR_NO_MEMORY;
    size_t at = 0;
    p[at++] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        p[at++] = (uint8_t)(in[i].len & 0xff);
        p[at++] = (uint8_t)(in[i].len >> 8);
        memcpy(p + at, in[i].bytes, in[i].len);
        at += in[i].len;
    }
    *out = p;
    *out_len = len;
    return DC_OK;
}

/* The coins of a packed payment as pointers into it. DC_ERR_STORE if it
 * does not parse (a damaged row). */
static enum dc_err unpack_coins(const uint8_t *p, size_t len, const uint8_t *coin[static 255],
                                size_t coin_len[static 255], size_t *n)
{
    if (len < 1 || p[0] == 0) return DC_ERR_STORE;
    *n = p[0];
    size_t at = 1;
    for (size_t i = 0; i < *n; i++) {
        if (len - at < 2) return DC_ERR_STORE;
        coin_len[i] = (size_t)(p[at] | (unsigned)p[at + 1] << 8);
        at += 2;
        if (coin_len[i] == 0 || len - at < coin_len[i]) return DC_ERR_STORE;
        coin[i] = p + at;
        at += coin_len[i];
    }
    return at == len ? DC_OK : DC_ERR_STORE;
}

/* Opens (or joins) the case against the payee on the refused state of
 * coin[idx] of a refused payment: `refused` is coin[idx] decoded, `succ`
 * the payee's record consuming its final state. */
static enum dc_err refusal_case(struct deposit_job *j, const uint8_t *refusal,
                                const uint8_t *const *coin, const size_t *coin_len, size_t n,
                                size_t idx, const struct dc_coin *refused,
                                const struct dc_record *succ, int64_t *case_id, int *opened)
{
    *opened = 0;
    uint8_t state[DC_HASH_BYTES];
    dc_coin_state(state, refused, refused->n);
    int64_t found = 0;
    enum dc_err e = case_at(j->st, refused->genesis.serial, state, &found);
    if (e != DC_OK || found) {
        *case_id = found;
        return e;
    }
    size_t need = 0;
    pthread_rwlock_rdlock(&j->x->trust_lock);
    e = dc_refusal_evidence_build(NULL, 0, &need, &j->x->trust, refusal, coin, coin_len, n, idx,
                                  refused, succ);
    uint8_t *ev = e == DC_ERR_BUFFER_TOO_SMALL ? malloc(need) : NULL;
    size_t ev_len = 0;
    e = ev ? dc_refusal_evidence_build(ev, need, &ev_len, &j->x->trust, refusal, coin, coin_len, n,
                                       idx, refused, succ)
           : (e == DC_ERR_BUFFER_TOO_SMALL ? DC_ERR_NO_MEMORY : e);
    pthread_rwlock_unlock(&j->x->trust_lock);
    if (e != DC_OK) {
        free(ev);
        return e;
    }
    e = case_from_evidence(j, ev, ev_len, "refused payment passed on by its payee", case_id);
    if (e == DC_OK) *opened = 1;
    return e;
}

/* Finds the reclaim whose chain ends in `state` (the marker's) and its
 * deposit number. */
struct find_reclaim {
    const uint8_t *state;
    int64_t deposit;
    struct dc_coin *scratch;
};

static int find_reclaim_cb(void *ctx, const struct dc_dcoin *d)
{
    struct find_reclaim *f = ctx;
    if (dc_coin_decode(f->scratch, d->chain, d->chain_len) != DC_OK) return 0;
    const struct dc_coin *c = f->scratch;
    if (c->n == 0 || c->rec[c->n - 1].type != DC_TYPE_TRANSFER) return 0;
    uint8_t s[DC_HASH_BYTES];
    dc_coin_state(s, c, c->n);
    if (memcmp(s, f->state, DC_HASH_BYTES) != 0) return 0;
    f->deposit = d->deposit;
    return 1;
}

/* The state `state` (record k of j->coin consumes it) was reclaimed by its
 * payer. If she showed the payee's refusal, the payee's record k is a
 * refused payment passed on: opens or joins the case against the payee.
 * *case_id 0: the reclaim was by deadline (no refusal kept), nobody to
 * accuse. */
static enum dc_err refused_passed_on(struct deposit_job *j, const uint8_t *state, size_t k,
                                     int64_t *case_id, int *opened)
{
    struct dc_store *st = j->st;
    *case_id = 0;
    *opened = 0;
    struct find_reclaim f = {state, 0, j->other};
    enum dc_err e = st->ops->dcoins_by_serial(st, j->coin->genesis.serial, find_reclaim_cb, &f);
    if (e != DC_OK || f.deposit == 0) return e;
    uint8_t refusal[DC_REFUSAL_BYTES];
    uint8_t *packed = NULL;
    size_t plen = 0;
    e = st->ops->refusal_get(st, f.deposit, refusal, &packed, &plen);
    if (e == DC_ERR_NOT_FOUND) return DC_OK;
    const uint8_t *coin[255];
    size_t coin_len[255], n = 0, idx = 0;
    if (e == DC_OK) e = unpack_coins(packed, plen, coin, coin_len, &n);
    /* the refused coin of the payment: the one that ends in `state` */
    int hit = 0;
    for (size_t i = 0; e == DC_OK && !hit && i < n; i++) {
        if (dc_coin_decode(j->other, coin[i], coin_len[i]) != DC_OK) continue;
        uint8_t s[DC_HASH_BYTES];
        dc_coin_state(s, j->other, j->other->n);
        if (memcmp(s, state, DC_HASH_BYTES) == 0) {
            hit = 1;
            idx = i;
        }
    }
    if (e == DC_OK && !hit) e = DC_ERR_INTERNAL; /* the kept payment lacks its own coin */
    if (e == DC_OK) {
        e = refusal_case(j, refusal, coin, coin_len, n, idx, j->other, &j->coin->rec[k], case_id,
                         opened);
    }
    free(packed);
    return e;
}

/* 1 if `had`, the successor the index holds for `state`, is the marker of
 * a reclaim (dc_ledger_reclaim) rather than a record. */
static int reclaimed(const uint8_t state[static DC_HASH_BYTES],
                     const uint8_t had[static DC_HASH_BYTES])
{
    uint8_t m[DC_HASH_BYTES];
    dc_reclaim_marker(m, state);
    return memcmp(m, had, DC_HASH_BYTES) == 0;
}

/* Tells the store every state the deposit's coins are about to claim
 * (dc_store_deposit_prefetch), so that a store whose statements are round
 * trips looks them up at once. A coin that does not decode is left out:
 * the loop below refuses it with its own error. */
static enum dc_err prefetch_claims(struct dc_store *st, struct dc_coin *coin,
                                   const struct dc_deposit_in *in, size_t n)
{
    if (!st->ops->deposit_prefetch) return DC_OK;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (dc_coin_decode(coin, in[i].bytes, in[i].len) == DC_OK) total += coin->n;
    }
    struct dc_claim_key *k = total ? malloc(total * sizeof *k) : NULL;
    if (!k) return total ? DC_ERR_NO_MEMORY : DC_OK;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (dc_coin_decode(coin, in[i].bytes, in[i].len) != DC_OK) continue;
        uint8_t state[DC_HASH_BYTES];
        dc_state_genesis(state, coin->genesis_bytes);
        for (size_t r = 0; r < coin->n && m < total; r++, m++) {
            memcpy(k[m].serial, coin->genesis.serial, DC_SERIAL_BYTES);
            memcpy(k[m].state, state, DC_HASH_BYTES);
            dc_state_next(state, state, &coin->rec[r]);
        }
    }
    enum dc_err e = dc_store_deposit_prefetch(st, k, m);
    free(k);
    return e;
}

/* ---- Deposits: the steps of dc_ledger_deposit ------------------------- */

/* The release date of a hold made now: hold_working_days later by the
 * calendar loaded now (a reload may replace x->cal meanwhile: copied under
 * its lock, server.h). A window reaching a day the calendar does not cover
 * gets a guessed, provisional date, kept until a calendar covering it is
 * loaded. */
static enum dc_err hold_release_date(struct dc_ctx *x, uint64_t now, uint64_t *release_at,
                                     int *release_provisional)
{
    struct dc_calendar cal;
    pthread_rwlock_rdlock(&x->cal_lock);
    cal = x->cal;
    pthread_rwlock_unlock(&x->cal_lock);
    return dc_calendar_release(release_at, release_provisional, &cal, now,
                               x->cfg.hold_working_days);
}

/* Step 1 of every credited coin of a deposit or a reclaim, before any of its
 * states is claimed (the index points at the deposited chain): its hold
 * (HELD until release_at) numbered into the request's deposit, and the row
 * of the deposited chain. A deposit is numbered by its first hold, known
 * only once that hold is written: *deposit_id is 0 for the request's first
 * coin and set here. OUT: *h, *dc (dc->chain borrows in->bytes). */
static enum dc_err hold_and_chain(struct dc_store *st, uint64_t now, int64_t account,
                                  const struct dc_deposit_in *in,
                                  const uint8_t serial[static DC_SERIAL_BYTES], uint64_t release_at,
                                  int release_provisional, int64_t *deposit_id, struct dc_hold *h,
                                  struct dc_dcoin *dc)
{
    memset(h, 0, sizeof *h);
    h->account = account;
    h->amount = in->amount;
    h->release_at = release_at;
    h->release_provisional = release_provisional;
    h->status = DC_HOLD_HELD;
    h->created_at = now;
    h->deposit = *deposit_id;
    enum dc_err e = st->ops->hold_put(st, h);
    if (e == DC_OK && *deposit_id == 0) {
        *deposit_id = h->id;
        h->deposit = h->id;
        e = st->ops->hold_put(st, h);
    }
    if (e != DC_OK) return e;
    memset(dc, 0, sizeof *dc);
    dc->deposit = *deposit_id;
    dc->account = account;
    memcpy(dc->serial, serial, DC_SERIAL_BYTES);
    dc->chain = in->bytes;
    dc->chain_len = in->len;
    dc->amount = in->amount;
    dc->hold = h->id;
    dc->flagged = in->flagged;
    return st->ops->dcoin_insert(st, dc);
}

/* The coin of coins[i] must end in a deposit record naming the depositor. */
static enum dc_err check_deposit_record(const struct dc_coin *coin, int64_t account, size_t i,
                                        char *detail, size_t dcap)
{
    if (coin->n == 0 || coin->rec[coin->n - 1].type != DC_TYPE_DEPOSIT) {
        set_detail(detail, dcap, "coins[%zu] does not end in a deposit record", i);
        return DC_ERR_CHAIN_ORDER;
    }
    uint64_t named = coin->rec[coin->n - 1].u.deposit.account;
    if ((int64_t)named != account) {
        set_detail(detail, dcap, "coins[%zu] deposit record names account %llu", i,
                   (unsigned long long)named);
        return DC_ERR_DEPOSIT_ACCOUNT;
    }
    return DC_OK;
}

/* What claiming the states of one deposited coin found. */
struct claims {
    int64_t case_id;  /* the case the credit belongs to (the deepest fork's), 0: none */
    int forked;       /* a state it consumes was consumed otherwise: a double-spent branch */
    int case_new;     /* the credited case was opened by this coin */
    size_t forks_new; /* cases this coin opened */
    /* cases this coin opened: one that does not get its credit has no
     * liability and settles at once (recover_case) */
    int64_t opened[16];
    size_t n_opened;
};

/* The credit of a coin met a fork (or a refused payment passed on) at a
 * state under case cid: the deepest such state owns the credit (of the
 * branches there, its culprit signed the one that overspent), and the
 * credit is a double-spent branch's. */
static void note_case(struct claims *cl, int64_t cid, int opened)
{
    cl->case_id = cid;
    cl->case_new = opened;
    cl->forked = 1;
    cl->forks_new += (size_t)opened;
    if (opened && cl->n_opened < sizeof cl->opened / sizeof cl->opened[0]) {
        cl->opened[cl->n_opened++] = cid;
    }
}

/* Two deposit records of one state: the owner deposited the same coin
 * twice (a lost response, a retry with a new record). The issuer is the
 * receiver both times, so no one was deceived: refuse, do not accuse.
 * *twice = 1 if the other successor of `state` is a deposit record too. */
static enum dc_err deposited_twice(struct deposit_job *j, const uint8_t *state, const uint8_t *succ,
                                   int *twice)
{
    struct find_other f = {state, succ, NULL, 0, j->scratch};
    *twice = 0;
    enum dc_err e = j->st->ops->dcoins_by_serial(j->st, j->coin->genesis.serial, find_other_cb, &f);
    if (e == DC_OK && f.chain && dc_coin_decode(j->other, f.chain, f.len) == DC_OK) {
        for (size_t q = 0; q < j->other->n; q++) {
            uint8_t s2[DC_HASH_BYTES];
            dc_coin_state(s2, j->other, q);
            if (memcmp(s2, state, DC_HASH_BYTES) == 0) {
                *twice = j->other->rec[q].type == DC_TYPE_DEPOSIT;
            }
        }
    }
    free(f.chain);
    return e;
}

/* `state` of coins[i] was consumed by another successor than `succ`: a
 * double spend, unless it is the same coin deposited twice (last: succ is
 * the coin's deposit record). Opens or joins the case of the state. */
static enum dc_err fork_at(struct deposit_job *j, size_t i, const struct dc_deposit_in *in,
                           const uint8_t *state, const uint8_t *succ, int last, struct claims *cl,
                           char *detail, size_t dcap)
{
    enum dc_err e;
    if (last) {
        int twice;
        e = deposited_twice(j, state, succ, &twice);
        if (e != DC_OK) return e;
        if (twice) {
            set_detail(detail, dcap, "coins[%zu] was already deposited", i);
            return DC_ERR_COIN_SPENT;
        }
    }
    int opened;
    int64_t cid;
    e = open_case(j, in->bytes, in->len, state, succ, &cid, &opened);
    if (e != DC_OK) return e;
    note_case(cl, cid, opened);
    return DC_OK;
}

/* Claims every state coins[i] consumes, in chain order, for its deposited
 * chain dcoin_id (atomic check-and-insert in the index). A state already
 * consumed by the same deposit record is the coin deposited again; by the
 * reclaim marker, a coin its payer took back (nobody's double spend, so no
 * case); by another successor, a fork (fork_at). On shared or new history
 * a state already under a case hands that case to the credit. */
static enum dc_err claim_states(struct deposit_job *j, size_t i, const struct dc_deposit_in *in,
                                int64_t dcoin_id, struct claims *cl, char *detail, size_t dcap)
{
    struct dc_store *st = j->st;
    const struct dc_coin *coin = j->coin;
    memset(cl, 0, sizeof *cl);
    uint8_t state[DC_HASH_BYTES], succ[DC_HASH_BYTES], had[DC_HASH_BYTES];
    dc_state_genesis(state, coin->genesis_bytes);
    for (size_t k = 0; k < coin->n; k++) {
        int inserted, last = k + 1 == coin->n;
        dc_coin_successor(succ, coin, k);
        enum dc_err e =
            st->ops->state_claim(st, coin->genesis.serial, state, succ, dcoin_id, &inserted, had);
        if (e != DC_OK) return e;
        int same = memcmp(had, succ, DC_HASH_BYTES) == 0;
        if (!inserted && same && last) {
            set_detail(detail, dcap, "coins[%zu] was already deposited", i);
            return DC_ERR_COIN_SPENT;
        }
        if (!inserted && !same && reclaimed(state, had)) {
            /* The payee depositing a coin she refused is refused: the issuer
             * is its receiver, nobody was deceived. Passed on to someone
             * else after a refusal the payer showed, it is a case. */
            int64_t cid = 0;
            int opened = 0;
            if (!(last && coin->rec[k].type == DC_TYPE_DEPOSIT)) {
                e = refused_passed_on(j, state, k, &cid, &opened);
                if (e != DC_OK) return e;
            }
            if (!cid) {
                set_detail(detail, dcap, "coins[%zu] record %zu: reclaimed by its payer", i, k);
                return DC_ERR_COIN_RECLAIMED;
            }
            note_case(cl, cid, opened);
            dc_state_next(state, state, &coin->rec[k]);
            continue;
        }
        if (!inserted && !same) {
            e = fork_at(j, i, in, state, succ, last, cl, detail, dcap);
        } else if (!cl->case_id) {
            e = case_at(st, coin->genesis.serial, state, &cl->case_id);
        }
        if (e != DC_OK) return e;
        dc_state_next(state, state, &coin->rec[k]);
    }
    return DC_OK;
}

/* Credits coins[i] to the account's held balance, the posting's ref naming
 * its hold: from the float for a first branch (the coin's deposited total
 * may not pass its issued value), provisionally from the loss account for
 * a double-spent one. kind: "deposit" or "reclaim". */
static enum dc_err credit_held(struct dc_store *st, uint64_t now, int64_t account,
                               const uint8_t *serial, const struct dc_deposit_in *in, int forked,
                               int64_t hold_id, const char *kind, size_t i, char *detail,
                               size_t dcap)
{
    char ref[48];
    snprintf(ref, sizeof ref, "h:%lld", (long long)hold_id);
    if (forked) {
        return posting(st, now, DC_ACCT_ID_LOSS, DC_BUCKET_AVAILABLE, account, DC_BUCKET_HELD,
                       in->amount, kind, ref, NULL);
    }
    enum dc_err e = st->ops->coin_add_deposited(st, serial, in->amount);
    if (e == DC_ERR_STORE_CONSTRAINT || e == DC_ERR_NOT_FOUND) {
        set_detail(detail, dcap, "coins[%zu]: issued value exceeded or unknown serial", i);
        e = DC_ERR_COIN_VALUE;
    }
    if (e == DC_OK) {
        e = posting(st, now, DC_ACCT_ID_FLOAT, DC_BUCKET_AVAILABLE, account, DC_BUCKET_HELD,
                    in->amount, kind, ref, NULL);
    }
    return e;
}

/* A credit under a case: its hold is frozen with the case. A double-spent
 * branch adds its amount to the case's liability (a settled case reopens
 * and its culprit is a debtor again) and recovery runs at once; a
 * descendant of a settled or decided case goes back to its normal
 * schedule. */
static enum dc_err hold_under_case(struct dc_store *st, uint64_t now, struct dc_hold *h,
                                   int64_t case_id, int forked, int64_t amount)
{
    h->status = case_id ? DC_HOLD_FROZEN : DC_HOLD_HELD;
    h->case_id = case_id;
    enum dc_err e = st->ops->hold_put(st, h);
    struct dc_case c;
    if (e == DC_OK) e = st->ops->case_get(st, &c, case_id, NULL, NULL);
    if (e != DC_OK) return e;
    if (forked) {
        e = dc_i64_add(&c.exposure, c.exposure, amount);
        if (e == DC_OK && c.status == DC_CASE_RESOLVED) {
            c.status = DC_CASE_OPEN; /* a new branch reopens it */
            e = st->ops->case_event(st, c.id, now, "system", "reopen", "another branch deposited");
            if (e == DC_OK) e = mark_debtor(st, now, c.culprit_account);
        }
        if (e == DC_OK) e = st->ops->case_put(st, &c);
        if (e == DC_OK) e = recover_case(st, now, &c);
    } else if (c.status == DC_CASE_RESOLVED || c.decision[0]) {
        h->status = DC_HOLD_HELD;
        e = st->ops->hold_put(st, h);
    }
    dc_case_clear(&c);
    return e;
}

/* The cases coins[i] opened besides the one its credit went to carry no
 * liability of it: recovery settles them at once. */
static enum dc_err settle_uncredited(struct dc_store *st, uint64_t now, const struct claims *cl)
{
    enum dc_err e = DC_OK;
    for (size_t q = 0; e == DC_OK && q < cl->n_opened; q++) {
        if (cl->opened[q] == cl->case_id) continue;
        struct dc_case oc;
        memset(&oc, 0, sizeof oc);
        e = st->ops->case_get(st, &oc, cl->opened[q], NULL, NULL);
        if (e == DC_OK) e = recover_case(st, now, &oc);
        dc_case_clear(&oc);
    }
    return e;
}

/* One coin of a deposit, every step in order: the hold and the chain row,
 * the claims on its states (forks open cases), the credit, the case
 * bookkeeping, and a debtor's debt collected from the new credit. */
static enum dc_err deposit_coin(struct deposit_job *j, const struct dc_account *a, size_t i,
                                const struct dc_deposit_in *in, uint64_t release_at,
                                int release_provisional, struct dc_deposit_out *out, char *detail,
                                size_t dcap)
{
    struct dc_store *st = j->st;
    struct dc_deposit_coin_out *o = &out->coins[i];
    memset(o, 0, sizeof *o);
    enum dc_err e = dc_coin_decode(j->coin, in->bytes, in->len);
    if (e == DC_OK) e = check_deposit_record(j->coin, a->id, i, detail, dcap);
    if (e != DC_OK) return e;
    const uint8_t *serial = j->coin->genesis.serial;
    memcpy(o->serial, serial, DC_SERIAL_BYTES);
    o->amount = in->amount;
    o->flagged = in->flagged;
    o->release_at = release_at;
    o->release_provisional = release_provisional;

    struct dc_hold h;
    struct dc_dcoin dc;
    struct claims cl;
    e = hold_and_chain(st, j->now, a->id, in, serial, release_at, release_provisional,
                       &out->deposit_id, &h, &dc);
    if (e == DC_OK) e = claim_states(j, i, in, dc.id, &cl, detail, dcap);
    if (e != DC_OK) return e;
    out->forks_new += cl.forks_new;
    e = credit_held(st, j->now, a->id, serial, in, cl.forked, h.id, "deposit", i, detail, dcap);
    if (e != DC_OK) return e;
    h.provisional = cl.forked;
    if (dc_i64_add(&out->credited, out->credited, in->amount) != DC_OK) {
        return DC_ERR_AMOUNT_OVERFLOW;
    }
    if (cl.case_id || h.provisional) {
        e = hold_under_case(st, j->now, &h, cl.case_id, cl.forked, in->amount);
    }
    if (e == DC_OK) e = settle_uncredited(st, j->now, &cl);
    /* a debtor's new credit pays her debt (her own forfeits are above) */
    if (e == DC_OK && (cl.case_id || a->debtor)) e = dc_ledger_collect(st, j->now, a->id);
    if (e == DC_OK) e = st->ops->hold_get(st, &h, h.id);
    if (e != DC_OK) return e;
    o->hold = h.id;
    o->status = h.status;
    o->case_id = cl.case_id;
    o->case_new = cl.case_new;
    return DC_OK;
}

enum dc_err dc_ledger_deposit(struct dc_store *st, struct dc_ctx *x, uint64_t now, int64_t account,
                              const struct dc_deposit_in *in, size_t n, struct dc_deposit_out *out,
                              char *detail, size_t dcap)
{
    struct dc_account a;
    enum dc_err e = st->ops->account_get(st, &a, DC_BY_ID, account, NULL);
    if (e != DC_OK) return e;
    if (a.kind != DC_ACCT_USER) return DC_ERR_NO_ACCOUNT;
    /* A frozen account may still deposit: the credit only lands in its
     * frozen box, and refusing would leave value stranded in the float. */
    uint64_t release_at;
    int release_provisional;
    e = hold_release_date(x, now, &release_at, &release_provisional);
    if (e != DC_OK) return e;

    struct deposit_job j = {st, x, now, NULL, NULL, NULL};
    j.coin = malloc(sizeof *j.coin);
    j.other = malloc(sizeof *j.other);
    j.scratch = malloc(sizeof *j.scratch);
    if (!j.coin || !j.other || !j.scratch) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK) e = prefetch_claims(st, j.coin, in, n);

    out->credited = 0;
    out->forks_new = 0;
    out->deposit_id = 0;
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        e = deposit_coin(&j, &a, i, &in[i], release_at, release_provisional, out, detail, dcap);
    }
    free(j.coin);
    free(j.other);
    free(j.scratch);
    if (e == DC_OK) out->n = n;
    return e;
}

/* ---- Reclaims --------------------------------------------------------- */

/* The device that signed record k of c: the owner of the state it consumes. */
static const uint8_t *signer_of(const struct dc_coin *c, size_t k)
{
    for (size_t q = k; q-- > 0;) {
        if (c->rec[q].type == DC_TYPE_TRANSFER) return c->rec[q].u.transfer.to.pub;
    }
    return c->genesis.owner.pub;
}

/*
 * A reclaim is a deposit by the payer of coins she signed over to a payee
 * who refused them (or never took them before their deadline). The chain
 * ends in her TRANSFER; every state it consumes is claimed as a deposit
 * would claim it, and the state the TRANSFER created (the payee's) is
 * claimed with the reclaim marker, so the payee can never deposit it
 * (dc_ledger_deposit answers DC_ERR_COIN_RECLAIMED, no case), and a next
 * holder's deposit of it opens a case against the payee when the payer
 * showed the payee's refusal (kept in reclaim_refusals). The credit is
 * held like a deposit's.
 *
 * A state already consumed otherwise:
 *  - the payee's state, by a record of hers: taken first. With a refusal
 *    that is a refused payment passed on: a case against the payee, and
 *    the payer's credit is that case's branch (provisional, frozen until
 *    the payee has paid). Without one, DC_ERR_COIN_SPENT (the payee won).
 *  - a state the payer owned, by another record of hers: her own double
 *    spend. DC_ERR_COIN_SPENT with *fork naming it; the caller rolls back
 *    and records the case (dc_ledger_reclaim_fork).
 *  - an earlier owner's state: DC_ERR_COIN_SPENT, for the deposit of that
 *    other branch to judge.
 */
struct reclaim_job {
    struct deposit_job j;
    const struct dc_account *a;
    const struct dc_deposit_in *in;
    size_t n;
    const uint8_t *refusal;
    uint64_t release_at;
    int release_provisional;
};

static enum dc_err refused_taken(struct reclaim_job *r, size_t i, const uint8_t *state,
                                 int64_t *case_id, int *opened, char *detail, size_t dcap);

/*
 * A reclaim with the payee's refusal of coins[i], whose payee's state
 * `state` her own record consumed first, leaves no marker at `state`: the
 * index keeps her record there, for the next holder's chain. So that the
 * payer takes the coin back once, the reclaim is recorded under a derived
 * key of the same serial, (serial, marker(state)) -> marker(marker(state));
 * no record's state is a marker (another hash domain), so the key is only
 * ever claimed here. An index claim, not a scan: two reclaims of the same
 * coin, on two instances at once, meet at the primary key and the second
 * waits for the first, then is refused (DC_ERR_COIN_SPENT).
 */
static enum dc_err claim_reclaimed_over(struct dc_store *st, const uint8_t *serial,
                                        const uint8_t *state, int64_t dcoin_id, size_t i,
                                        char *detail, size_t dcap)
{
    uint8_t key[DC_HASH_BYTES], succ[DC_HASH_BYTES], had[DC_HASH_BYTES];
    dc_reclaim_marker(key, state);
    dc_reclaim_marker(succ, key);
    int inserted = 0;
    enum dc_err e = st->ops->state_claim(st, serial, key, succ, dcoin_id, &inserted, had);
    if (e != DC_OK) return e;
    if (!inserted) {
        set_detail(detail, dcap,
                   "coins[%zu] was already reclaimed (under a case against its payee)", i);
        return DC_ERR_COIN_SPENT;
    }
    return DC_OK;
}

/* Claims the states of coins[i] (j->coin, decoded) for dcoin_id; on the
 * payee's state already consumed by her record, opens the refusal case
 * (*case_id, *opened). */
static enum dc_err reclaim_claims(struct reclaim_job *r, size_t i, int64_t dcoin_id,
                                  int64_t *case_id, int *opened, struct dc_reclaim_fork *fork,
                                  char *detail, size_t dcap)
{
    struct dc_store *st = r->j.st;
    const struct dc_coin *coin = r->j.coin;
    uint8_t state[DC_HASH_BYTES], succ[DC_HASH_BYTES], had[DC_HASH_BYTES];
    *case_id = 0;
    *opened = 0;
    dc_state_genesis(state, coin->genesis_bytes);
    for (size_t k = 0; k <= coin->n; k++) {
        int inserted;
        if (k < coin->n) {
            dc_coin_successor(succ, coin, k);
        } else {
            dc_reclaim_marker(succ, state); /* the payee's state: taken back */
        }
        enum dc_err e =
            st->ops->state_claim(st, coin->genesis.serial, state, succ, dcoin_id, &inserted, had);
        if (e != DC_OK) return e;
        if (!inserted && k == coin->n && memcmp(had, succ, DC_HASH_BYTES) == 0) {
            set_detail(detail, dcap, "coins[%zu] was already reclaimed", i);
            return DC_ERR_COIN_SPENT;
        }
        if (!inserted && memcmp(had, succ, DC_HASH_BYTES) != 0) {
            if (k == coin->n && r->refusal) {
                e = claim_reclaimed_over(st, coin->genesis.serial, state, dcoin_id, i, detail,
                                         dcap);
                if (e != DC_OK) return e;
                return refused_taken(r, i, state, case_id, opened, detail, dcap);
            }
            if (k == coin->n) {
                set_detail(detail, dcap, "coins[%zu]: the payee deposited it or paid it on first",
                           i);
                return DC_ERR_COIN_SPENT;
            }
            if (!reclaimed(state, had) &&
                memcmp(signer_of(coin, k), r->a->device_pub, DC_PUBKEY_BYTES) == 0) {
                fork->set = 1;
                fork->coin = i;
                fork->index = k;
                set_detail(detail, dcap,
                           "coins[%zu] record %zu: this device spent that state otherwise "
                           "before (a double spend)",
                           i, k);
            } else {
                set_detail(detail, dcap,
                           "coins[%zu] record %zu: that state was already spent otherwise", i, k);
            }
            return DC_ERR_COIN_SPENT;
        }
        if (k < coin->n) dc_state_next(state, state, &coin->rec[k]);
    }
    return DC_OK;
}

/* The payee's state of coins[i] (j->coin) was consumed by her own record
 * before the payer came with the refusal: finds that record in the
 * deposited chains and opens the refusal case. */
static enum dc_err refused_taken(struct reclaim_job *r, size_t i, const uint8_t *state,
                                 int64_t *case_id, int *opened, char *detail, size_t dcap)
{
    struct deposit_job *j = &r->j;
    uint8_t marker[DC_HASH_BYTES];
    dc_reclaim_marker(marker, state);
    struct find_other f = {state, marker, NULL, 0, j->scratch};
    enum dc_err e = j->st->ops->dcoins_by_serial(j->st, j->coin->genesis.serial, find_other_cb, &f);
    if (e != DC_OK) return e;
    if (!f.chain) return DC_ERR_INTERNAL; /* the index and the chains disagree */
    e = dc_coin_decode(j->other, f.chain, f.len);
    size_t k = j->coin->n; /* the other chain shares the history up to `state` */
    if (e == DC_OK && j->other->n <= k) e = DC_ERR_INTERNAL;
    const uint8_t *coin[DC_RECLAIM_COINS_MAX];
    size_t coin_len[DC_RECLAIM_COINS_MAX];
    for (size_t q = 0; q < r->n && q < DC_RECLAIM_COINS_MAX; q++) {
        coin[q] = r->in[q].bytes;
        coin_len[q] = r->in[q].len;
    }
    if (e == DC_OK && r->n > DC_RECLAIM_COINS_MAX) e = DC_ERR_LIMIT_EXCEEDED;
    /* refusal_case reads j->other's record only to build the evidence */
    struct dc_record succ;
    if (e == DC_OK) succ = j->other->rec[k];
    if (e == DC_OK) {
        e = refusal_case(j, r->refusal, coin, coin_len, r->n, i, j->coin, &succ, case_id, opened);
    }
    free(f.chain);
    if (e == DC_OK && !*case_id) e = DC_ERR_INTERNAL;
    (void)detail;
    (void)dcap;
    return e;
}
/* One coin of a reclaim: checks, hold and chain, claims, credit. */
static enum dc_err reclaim_coin(struct reclaim_job *r, size_t i, struct dc_deposit_out *out,
                                struct dc_reclaim_fork *fork, char *detail, size_t dcap)
{
    struct deposit_job *j = &r->j;
    const struct dc_deposit_in *in = &r->in[i];
    struct dc_deposit_coin_out *o = &out->coins[i];
    memset(o, 0, sizeof *o);
    enum dc_err e = dc_coin_decode(j->coin, in->bytes, in->len);
    if (e != DC_OK) return e;
    const struct dc_coin *coin = j->coin;
    if (coin->n == 0 || coin->rec[coin->n - 1].type != DC_TYPE_TRANSFER) {
        set_detail(detail, dcap, "coins[%zu] does not end in the payer's transfer", i);
        return DC_ERR_CHAIN_ORDER;
    }
    if (memcmp(signer_of(coin, coin->n - 1), r->a->device_pub, DC_PUBKEY_BYTES) != 0) {
        set_detail(detail, dcap, "coins[%zu]: its last transfer is not by this device", i);
        return DC_ERR_NOT_OWNER;
    }
    memcpy(o->serial, coin->genesis.serial, DC_SERIAL_BYTES);
    o->amount = in->amount;
    o->flagged = in->flagged;
    o->release_at = r->release_at;
    o->release_provisional = r->release_provisional;

    struct dc_hold h;
    struct dc_dcoin dc;
    int64_t case_id = 0;
    int opened = 0;
    e = hold_and_chain(j->st, j->now, r->a->id, in, coin->genesis.serial, r->release_at,
                       r->release_provisional, &out->deposit_id, &h, &dc);
    if (e == DC_OK) e = reclaim_claims(r, i, dc.id, &case_id, &opened, fork, detail, dcap);
    if (e != DC_OK) return e;
    /* the payee took a refused coin: the payer's credit is the case's
     * branch, provisional until the payee has paid */
    int forked = case_id != 0;
    /* else a state under a case freezes this credit like a deposit's */
    uint8_t state[DC_HASH_BYTES];
    dc_state_genesis(state, coin->genesis_bytes);
    for (size_t k = 0; e == DC_OK && k < coin->n && !case_id; k++) {
        e = case_at(j->st, coin->genesis.serial, state, &case_id);
        dc_state_next(state, state, &coin->rec[k]);
    }
    if (e == DC_OK) {
        e = credit_held(j->st, j->now, r->a->id, coin->genesis.serial, in, forked, h.id, "reclaim",
                        i, detail, dcap);
    }
    if (e == DC_OK && dc_i64_add(&out->credited, out->credited, in->amount) != DC_OK) {
        e = DC_ERR_AMOUNT_OVERFLOW;
    }
    if (e != DC_OK) return e;
    out->forks_new += (size_t)opened;
    h.provisional = forked;
    if (case_id) e = hold_under_case(j->st, j->now, &h, case_id, forked, in->amount);
    if (e == DC_OK) e = j->st->ops->hold_get(j->st, &h, h.id);
    if (e != DC_OK) return e;
    o->hold = h.id;
    o->status = h.status;
    o->case_id = case_id;
    o->case_new = opened;
    return DC_OK;
}

enum dc_err dc_ledger_reclaim(struct dc_store *st, struct dc_ctx *x, uint64_t now, int64_t account,
                              const struct dc_deposit_in *in, size_t n, const uint8_t *refusal,
                              struct dc_deposit_out *out, struct dc_reclaim_fork *fork,
                              char *detail, size_t dcap)
{
    memset(fork, 0, sizeof *fork);
    if (n == 0 || n > DC_RECLAIM_COINS_MAX) return DC_ERR_INVALID_ARGUMENT;
    struct dc_account a;
    enum dc_err e = st->ops->account_get(st, &a, DC_BY_ID, account, NULL);
    if (e != DC_OK) return e;
    if (a.kind != DC_ACCT_USER) return DC_ERR_NO_ACCOUNT;
    struct reclaim_job r = {{st, x, now, NULL, NULL, NULL}, &a, in, n, refusal, 0, 0};
    /* the same date rule as a deposit's, under the calendar lock (a reload
     * may swap the calendar) and provisional beyond its coverage */
    e = hold_release_date(x, now, &r.release_at, &r.release_provisional);
    if (e != DC_OK) return e;
    r.j.coin = malloc(sizeof *r.j.coin);
    r.j.other = malloc(sizeof *r.j.other);
    r.j.scratch = malloc(sizeof *r.j.scratch);
    if (!r.j.coin || !r.j.other || !r.j.scratch) e = DC_ERR_NO_MEMORY;

    out->credited = 0;
    out->forks_new = 0;
    out->deposit_id = 0;
    for (size_t i = 0; e == DC_OK && i < n; i++) e = reclaim_coin(&r, i, out, fork, detail, dcap);
    /* the refusal is kept: a next holder's deposit of a coin the payee
     * passed on after it is a case against her (refused_passed_on) */
    if (e == DC_OK && refusal) {
        uint8_t *packed = NULL;
        size_t plen = 0;
        e = pack_coins(&packed, &plen, in, n);
        if (e == DC_OK) e = st->ops->refusal_put(st, out->deposit_id, refusal, packed, plen);
        free(packed);
    }
    if (e == DC_OK && a.debtor) e = dc_ledger_collect(st, now, account);
    free(r.j.coin);
    free(r.j.other);
    free(r.j.scratch);
    if (e == DC_OK) out->n = n;
    return e;
}

enum dc_err dc_ledger_reclaim_fork(struct dc_store *st, struct dc_ctx *x, uint64_t now,
                                   int64_t account, const struct dc_deposit_in *in, size_t index,
                                   int64_t *case_id, int *opened)
{
    *case_id = 0;
    *opened = 0;
    struct deposit_job j = {st, x, now, NULL, NULL, NULL};
    j.coin = malloc(sizeof *j.coin);
    j.other = malloc(sizeof *j.other);
    j.scratch = malloc(sizeof *j.scratch);
    enum dc_err e = j.coin && j.other && j.scratch ? DC_OK : DC_ERR_NO_MEMORY;
    if (e == DC_OK) e = dc_coin_decode(j.coin, in->bytes, in->len);
    if (e == DC_OK && index >= j.coin->n) e = DC_ERR_INVALID_ARGUMENT;
    uint8_t state[DC_HASH_BYTES], succ[DC_HASH_BYTES];
    if (e == DC_OK) {
        dc_coin_state(state, j.coin, index);
        dc_coin_successor(succ, j.coin, index);
        e = open_case(&j, in->bytes, in->len, state, succ, case_id, opened);
    }
    struct dc_case c;
    memset(&c, 0, sizeof c);
    if (e == DC_OK) e = st->ops->case_get(st, &c, *case_id, NULL, NULL);
    /* nothing was credited to this branch: a new case carries no liability
     * and settles at once (the other branch's credit is backed), as a
     * deposit's uncredited case does */
    if (e == DC_OK && *opened) e = recover_case(st, now, &c);
    if (e == DC_OK) {
        char why[160];
        snprintf(why, sizeof why,
                 "account %lld reclaimed a branch of this fork: refused, nothing credited",
                 (long long)account);
        e = st->ops->case_event(st, *case_id, now, "system", "reclaim", why);
    }
    dc_case_clear(&c);
    free(j.coin);
    free(j.other);
    free(j.scratch);
    return e;
}

/* ---- Holds and cases -------------------------------------------------- */

enum dc_err dc_ledger_release_due(struct dc_store *st, uint64_t now, const char *by,
                                  size_t *released)
{
    struct hold_list r = {0};
    *released = 0;
    /* collect first: the listing statement must finish before we write */
    enum dc_err e = st->ops->holds_list(st, DC_HOLDS_DUE, (int64_t)now, hold_list_cb, &r);
    if (e == DC_OK) e = r.err;
    for (size_t i = 0; e == DC_OK && i < r.n; i++) {
        struct dc_hold h = r.h[i];
        if (h.release_provisional) continue; /* defensive: the store's query excludes them */
        char ref[48];
        snprintf(ref, sizeof ref, "h:%lld", (long long)h.id);
        if (dc_hold_left(&h) > 0) {
            e = posting(st, now, h.account, DC_BUCKET_HELD, h.account, DC_BUCKET_AVAILABLE,
                        dc_hold_left(&h), "release", ref, NULL);
        }
        if (e == DC_OK) {
            h.status = DC_HOLD_RELEASED;
            snprintf(h.released_by, sizeof h.released_by, "%s", by);
            e = st->ops->hold_put(st, &h);
        }
        if (e == DC_OK) (*released)++;
        /* a debtor's released credit pays her debt (step 3 of recovery) */
        if (e == DC_OK) e = dc_ledger_collect(st, now, h.account);
    }
    free(r.h);
    return e;
}

enum dc_err dc_ledger_recheck_holds(struct dc_store *st, const struct dc_calendar *cal,
                                    uint32_t n_days, size_t *changed, size_t *provisional)
{
    *changed = 0;
    *provisional = 0;
    /* holds whose release instant lies past the coverage's end could only
     * have a firm date if they were made before dates were marked (schema
     * 6): they are looked at too */
    uint64_t end = cal->cover_to >= DC_CALENDAR_DAY_MAX
                       ? (uint64_t)INT64_MAX
                       : dc_calendar_day_start_ms(cal, cal->cover_to + 1);
    struct hold_list r = {0}; /* collected as by the release */
    enum dc_err e = st->ops->holds_list(st, DC_HOLDS_RECHECK, (int64_t)end, hold_list_cb, &r);
    if (e == DC_OK) e = r.err;
    for (size_t i = 0; e == DC_OK && i < r.n; i++) {
        struct dc_hold *h = &r.h[i];
        uint64_t at;
        int prov;
        /* from the instant it was credited, as at deposit; a date past the
         * calendar's range stays a provisional "never" */
        if (dc_calendar_release(&at, &prov, cal, h->created_at, n_days) != DC_OK) {
            at = (uint64_t)INT64_MAX; /* the store keeps instants as int64 */
            prov = 1;
        }
        if (prov) (*provisional)++;
        if (at == h->release_at && prov == h->release_provisional) continue;
        h->release_at = at;
        h->release_provisional = prov;
        e = st->ops->hold_put(st, h);
        if (e == DC_OK) (*changed)++;
    }
    free(r.h);
    return e;
}

/* "2026-12-22 00:00 (UTC+08:00) firm" into out (cap >= 48). */
static void redate_str(char *out, size_t cap, const struct dc_calendar *cal, uint64_t at, int prov)
{
    char t[DC_TIME_STR_MAX];
    if (dc_time_format(t, sizeof t, at, cal->utc_offset_min) != DC_OK) snprintf(t, sizeof t, "?");
    snprintf(out, cap, "%s %s", t, prov ? "provisional" : "firm");
}

enum dc_err dc_ledger_redate_holds(struct dc_store *st, const struct dc_calendar *cal,
                                   uint32_t n_days, uint64_t now, const char *actor,
                                   struct dc_redated **out, size_t *n_out, size_t *provisional)
{
    *out = NULL;
    *n_out = 0;
    *provisional = 0;
    /* every hold still held or frozen (release_at > -1 is all of them) */
    struct hold_list r = {0};
    enum dc_err e = st->ops->holds_list(st, DC_HOLDS_RECHECK, -1, hold_list_cb, &r);
    if (e == DC_OK) e = r.err;
    struct dc_redated *ch = NULL;
    size_t n = 0;
    if (e == DC_OK && r.n) {
        ch = calloc(r.n, sizeof *ch);
        if (!ch) e = DC_ERR_NO_MEMORY;
    }
    for (size_t i = 0; e == DC_OK && i < r.n; i++) {
        struct dc_hold *h = &r.h[i];
        uint64_t at;
        int prov;
        if (dc_calendar_release(&at, &prov, cal, h->created_at, n_days) != DC_OK) {
            at = (uint64_t)INT64_MAX; /* as dc_ledger_recheck_holds: a provisional "never" */
            prov = 1;
        }
        /* a corrected calendar may bring a date forward, but not into the
         * past: the credit becomes due now, never retroactively */
        if (!prov && at < now) at = now;
        if (prov) (*provisional)++;
        if (at == h->release_at && prov == h->release_provisional) continue;
        if (!prov && !h->release_provisional && h->release_at <= now && at == now) {
            continue; /* already due and not yet released: stays due */
        }
        struct dc_redated *c = &ch[n];
        c->hold = h->id;
        c->account = h->account;
        c->from = h->release_at;
        c->from_provisional = h->release_provisional;
        c->to = at;
        c->to_provisional = prov;
        c->frozen = h->status == DC_HOLD_FROZEN;
        /* only the date changes: a frozen credit stays frozen under its case */
        h->release_at = at;
        h->release_provisional = prov;
        e = st->ops->hold_put(st, h);
        char a[48], b[48], why[200];
        redate_str(a, sizeof a, cal, c->from, c->from_provisional);
        redate_str(b, sizeof b, cal, c->to, c->to_provisional);
        snprintf(why, sizeof why, "hold %lld: release %s -> %s (calendar load)", (long long)h->id,
                 a, b);
        if (e == DC_OK) e = st->ops->account_event(st, h->account, now, actor, "hold_redated", why);
        if (e == DC_OK) n++;
    }
    free(r.h);
    if (e != DC_OK) {
        free(ch);
        return e;
    }
    *out = ch;
    *n_out = n;
    return DC_OK;
}

/* What a decision has to cover now: the debt not yet carried by anyone. */
static int64_t undecided(const struct dc_case *c)
{
    return (c->exposure - c->recovered) - (c->carried - c->repaid);
}

enum dc_err dc_ledger_resolve(struct dc_store *st, uint64_t now, int64_t case_id,
                              const char *decision, const char *actor, const char *reason)
{
    int reject = strcmp(decision, "reject") == 0;
    if (!reject && strcmp(decision, "honour") != 0) return DC_ERR_FIELD;
    struct dc_event ev; /* actor and reason fit the case and its event */
    if (!dc_event_text_valid(actor, sizeof ev.actor) ||
        !dc_event_text_valid(reason ? reason : "", sizeof ev.reason)) {
        return DC_ERR_FIELD;
    }
    struct dc_case c;
    memset(&c, 0, sizeof c);
    enum dc_err e = st->ops->case_get(st, &c, case_id, NULL, NULL);
    if (e != DC_OK) return e;
    /* whatever the culprit can pay now comes first */
    e = recover_case(st, now, &c);
    if (e == DC_OK && c.status != DC_CASE_OPEN) e = DC_ERR_CASE_CLOSED;
    int64_t shortfall = undecided(&c);
    if (e == DC_OK && shortfall <= 0) e = DC_ERR_CASE_NOT_DUE;
    struct hold_list l;
    memset(&l, 0, sizeof l);
    if (e == DC_OK) e = case_holds(st, case_id, &l);
    /* a decision is due once an honest receiver's frozen credit is */
    int due = 0;
    for (size_t i = 0; e == DC_OK && i < l.n; i++) {
        const struct dc_hold *h = &l.h[i];
        if (h->status == DC_HOLD_FROZEN && h->account != c.culprit_account &&
            h->release_at <= now && !h->release_provisional) {
            due = 1;
        }
    }
    if (e == DC_OK && !due) e = DC_ERR_CASE_NOT_DUE;
    int64_t left = shortfall;
    /* reject: the later branches' credits, newest first, only up to the shortfall */
    for (size_t i = l.n; e == DC_OK && reject && left > 0 && i-- > 0;) {
        struct dc_hold *h = &l.h[i];
        if (h->status != DC_HOLD_FROZEN || !h->provisional || h->account == c.culprit_account) {
            continue;
        }
        int64_t take = dc_hold_left(h) < left ? dc_hold_left(h) : left;
        if (take <= 0) continue;
        e = take_from_hold(st, now, h, take, "reverse", case_id);
        left -= take;
    }
    /* honour (and what a reject could not reverse): the loss account
     * carries it; every frozen credit goes back to its release date */
    for (size_t i = 0; e == DC_OK && i < l.n; i++) {
        if (l.h[i].status != DC_HOLD_FROZEN) continue;
        l.h[i].status = DC_HOLD_HELD;
        e = st->ops->hold_put(st, &l.h[i]);
    }
    free(l.h);
    if (e == DC_OK) {
        c.carried += shortfall; /* carried - repaid <= exposure - recovered */
        snprintf(c.decision, sizeof c.decision, "%s", reject ? "reject" : "honour");
        snprintf(c.actor, sizeof c.actor, "%s", actor);
        snprintf(c.reason, sizeof c.reason, "%s", reason ? reason : "");
        c.resolved_at = now;
        e = st->ops->case_put(st, &c);
    }
    /* the operator's words as given; the shortfall is the case's `carried` */
    if (e == DC_OK) e = st->ops->case_event(st, case_id, now, actor, decision, reason);
    dc_case_clear(&c);
    return e;
}

/* ---- Audit ------------------------------------------------------------ */

/* Sums of many int64 balances cannot overflow 128 bits. */
__extension__ typedef __int128 i128;

struct audit {
    struct dc_store *st;
    char *out;
    size_t cap, len;
    int bad;
    const struct dc_currency *cur; /* money in the report (NULL: minor units) */
    i128 users, float_bal, loss, settlement, all;
    int64_t float_acct;
    enum dc_err err;
    /* per-account hold sums */
};

static void say(struct audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct audit *a, const char *fmt, ...)
{
    if (a->len >= a->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(a->out + a->len, a->cap - a->len, fmt, ap);
    va_end(ap);
    if (n > 0) a->len += (size_t)n;
    if (a->len > a->cap) a->len = a->cap;
}

struct hold_total {
    int64_t sum;
    int overflow;
};

static int hold_total_cb(void *ctx, const struct dc_hold *h)
{
    struct hold_total *t = ctx;
    /* what the hold still holds: a forfeit may take part of a culprit's
     * credit (recover_case takes only what the case still needs) */
    if (dc_i64_add(&t->sum, t->sum, dc_hold_left(h)) != DC_OK) t->overflow = 1;
    return 0;
}

static int audit_row(void *ctx, const struct dc_audit_row *r)
{
    struct audit *a = ctx;
    if (r->corrupt[0]) {
        /* reported as what it is; its sums are left out (they mean nothing) */
        say(a, "CORRUPTED account %lld: %s\n", (long long)r->account, r->corrupt);
        a->bad = 1;
        return 0;
    }
    struct dc_account acc;
    enum dc_err e = a->st->ops->account_get(a->st, &acc, DC_BY_ID, r->account, NULL);
    if (e != DC_OK) {
        a->err = e;
        return 1;
    }
    if (acc.available != r->journal_available || acc.held != r->journal_held) {
        char m1[MONEY_MAX], m2[MONEY_MAX], m3[MONEY_MAX], m4[MONEY_MAX];
        say(a, "DISCREPANCY account %lld: balance available %s held %s, journal says %s/%s\n",
            (long long)acc.id, money(m1, a->cur, acc.available), money(m2, a->cur, acc.held),
            money(m3, a->cur, r->journal_available), money(m4, a->cur, r->journal_held));
        a->bad = 1;
    }
    a->all += (i128)acc.available + acc.held;
    switch (acc.kind) {
    case DC_ACCT_USER: {
        a->users += (i128)acc.available + acc.held;
        if (acc.available < 0 || acc.held < 0) {
            say(a, "DISCREPANCY account %lld is negative\n", (long long)acc.id);
            a->bad = 1;
        }
        break;
    }
    case DC_ACCT_FLOAT:
        a->float_bal += (i128)acc.available + acc.held;
        break;
    case DC_ACCT_LOSS:
        a->loss += (i128)acc.available + acc.held;
        break;
    case DC_ACCT_SETTLEMENT:
        a->settlement += (i128)acc.available + acc.held;
        break;
    default:
        break;
    }
    return 0;
}

/* Held balances must equal the open holds, per user account. */
static int audit_holds_cb(void *ctx, const struct dc_account *acc)
{
    struct audit *a = ctx;
    if (acc->kind != DC_ACCT_USER) return 0;
    struct hold_total t = {0, 0};
    enum dc_err e = a->st->ops->holds_list(a->st, DC_HOLDS_OF_ACCOUNT, acc->id, hold_total_cb, &t);
    if (e != DC_OK) {
        a->err = e;
        return 1;
    }
    if (t.overflow || t.sum != acc->held) {
        char m1[MONEY_MAX], m2[MONEY_MAX];
        say(a, "DISCREPANCY account %lld: held %s but open holds sum to %s\n", (long long)acc->id,
            money(m1, a->cur, acc->held), money(m2, a->cur, t.sum));
        a->bad = 1;
    }
    return 0;
}

static int orphan_cb(void *ctx, const uint8_t *serial, size_t len)
{
    struct audit *a = ctx;
    char hex[2 * DC_SERIAL_BYTES + 1] = "";
    if (len == DC_SERIAL_BYTES) dc_hex_encode(hex, serial, DC_SERIAL_BYTES);
    say(a, "DISCREPANCY consumed state of serial %s belongs to no coin this issuer made\n", hex);
    a->bad = 1;
    return 0;
}

/* Every case's money to the unit: the loss account holds exactly what the
 * cases put there (recovered - liability, plus reversals not yet repaid),
 * and each culprit's debt is what her cases have not recovered. */
struct audit_cases {
    struct audit *a;
    i128 loss;  /* what the loss account should hold */
    i128 debts; /* owed by culprits */
    i128 carried;
};

static int audit_case_cb(void *ctx, const struct dc_case *c)
{
    struct audit_cases *ac = ctx;
    struct audit *a = ac->a;
    if (c->recovered < 0 || c->recovered > c->exposure || c->repaid < 0 || c->repaid > c->carried ||
        c->carried - c->repaid > c->exposure - c->recovered) {
        say(a, "DISCREPANCY case %lld: liability %lld, recovered %lld, carried %lld, repaid %lld\n",
            (long long)c->id, (long long)c->exposure, (long long)c->recovered,
            (long long)c->carried, (long long)c->repaid);
        a->bad = 1;
    }
    if (c->status != DC_CASE_OPEN && c->recovered != c->exposure) {
        say(a, "DISCREPANCY case %lld is settled with %lld of %lld recovered\n", (long long)c->id,
            (long long)c->recovered, (long long)c->exposure);
        a->bad = 1;
    }
    ac->loss += (i128)c->recovered - c->exposure;
    ac->debts += (i128)c->exposure - c->recovered;
    ac->carried += (i128)c->carried - c->repaid;
    struct hold_list l;
    enum dc_err e = case_holds(a->st, c->id, &l);
    if (e != DC_OK) {
        a->err = e;
        free(l.h);
        return 1;
    }
    i128 forfeited = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (l.h[i].account == c->culprit_account) {
            forfeited += l.h[i].taken;
        } else {
            ac->loss += (i128)l.h[i].taken - l.h[i].repaid; /* reversed, not yet repaid */
        }
    }
    free(l.h);
    if (forfeited > c->recovered) {
        say(a, "DISCREPANCY case %lld: forfeited %lld but recovered only %lld\n", (long long)c->id,
            (long long)forfeited, (long long)c->recovered);
        a->bad = 1;
    }
    return 0;
}

static long long clamp(i128 v)
{
    return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : (long long)v;
}

enum dc_err dc_ledger_audit(struct dc_store *st, const struct dc_currency *cur, char *report,
                            size_t cap)
{
    struct audit a;
    char m1[MONEY_MAX], m2[MONEY_MAX];
    memset(&a, 0, sizeof a);
    a.st = st;
    a.cur = cur;
    a.out = report;
    a.cap = cap;
    if (cap) report[0] = '\0';
    enum dc_err e = st->ops->audit_sums(st, audit_row, &a);
    if (e == DC_OK) e = a.err;
    if (e == DC_OK) e = st->ops->account_list(st, -1, audit_holds_cb, &a);
    if (e == DC_OK) e = a.err;
    int64_t outstanding = 0;
    if (e == DC_OK) e = st->ops->coin_outstanding(st, 0, &outstanding);
    if (e == DC_OK) e = st->ops->state_unknown_serials(st, orphan_cb, &a);
    struct audit_cases ac = {&a, 0, 0, 0};
    if (e == DC_OK) e = st->ops->case_list(st, -1, audit_case_cb, &ac);
    if (e == DC_OK) e = a.err;
    if (e != DC_OK) return e;

    /* settlement = -(funded - paid out); losses <= 0 are booked fraud losses */
    i128 net_funded = -a.settlement;
    say(&a, "users (available + held): %s\n", money(m1, cur, clamp(a.users)));
    say(&a, "offline float:            %s\n", money(m1, cur, clamp(a.float_bal)));
    say(&a, "fraud losses account:     %s\n", money(m1, cur, clamp(a.loss)));
    say(&a, "funded - paid out:        %s\n", money(m1, cur, clamp(net_funded)));
    say(&a, "coins outstanding:        %s\n", money(m1, cur, outstanding));
    say(&a, "owed by double spenders:  %s\n", money(m1, cur, clamp(ac.debts)));
    say(&a, "of which carried by others: %s\n", money(m1, cur, clamp(ac.carried)));
    if (a.loss != ac.loss) {
        say(&a, "DISCREPANCY the fraud losses account is %s, its cases account for %s\n",
            money(m1, cur, clamp(a.loss)), money(m2, cur, clamp(ac.loss)));
        a.bad = 1;
    }
    if (a.all != 0) {
        say(&a, "DISCREPANCY the journal does not balance: all accounts sum to %s\n",
            money(m1, cur, clamp(a.all)));
        a.bad = 1;
    }
    if (a.users + a.float_bal + a.loss != net_funded) {
        say(&a, "DISCREPANCY users + float + losses = %s, but funded - paid out = %s\n",
            money(m1, cur, clamp(a.users + a.float_bal + a.loss)),
            money(m2, cur, clamp(net_funded)));
        a.bad = 1;
    }
    if (a.float_bal != outstanding) {
        say(&a, "DISCREPANCY the float is %s but coins outstanding are worth %s\n",
            money(m1, cur, clamp(a.float_bal)), money(m2, cur, outstanding));
        a.bad = 1;
    }
    say(&a, a.bad ? "audit: FAILED\n" : "audit: OK\n");
    return a.bad ? DC_ERR_AUDIT : DC_OK;
}
