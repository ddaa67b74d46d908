/*
 * select.c - coin selection for an offline payment (pure: no I/O, no clock;
 * it allocates one scratch array).
 *
 * Goal: pay an amount adding the fewest records to the coins handed over,
 * since every record costs the payee verification time, costs bytes on an
 * NFC tap, and uses up one of the coin's hops. Paying a coin whole adds one
 * TRANSFER; splitting adds a SPLIT and a TRANSFER. So, with m the fewest
 * coins whose values reach the amount:
 *   one exact coin                      1 record
 *   k coins summing exactly             k records
 *   m coins, the last split for change  m + 1 records (m = 1: one split coin)
 * and the cheapest wins, exact combinations winning ties (no change coin
 * and no split record). Within a plan, fresh coins with short chains are
 * preferred: candidates are ordered by value (descending), then hops used
 * (ascending), then expiry (later first), then wallet index.
 *
 * Workload: a wallet holds tens to a few hundred coins; the exact search is
 * a depth-first subset-sum over distinct values with pruning by bounds, cut
 * off after SEARCH_BUDGET nodes (then the split plan, always available when
 * the funds suffice, is used). Equal values are tried once per depth, which
 * keeps a wallet of many identical denominations cheap.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/amount.h"
#include "ducat/proto.h"
#include "ducat/wallet.h"

_Static_assert(DC_WALLET_PLAN_MAX == DC_PAYMENT_COINS_MAX, "a plan fits one payment message");

#define SEARCH_BUDGET 200000u

struct cand {
    int64_t value;
    uint64_t expires_at;
    size_t idx; /* index in the caller's array */
    unsigned hops;
};

/* Value descending, hops ascending, expiry descending, index ascending. */
static int cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    if (a->value != b->value) return a->value > b->value ? -1 : 1;
    if (a->hops != b->hops) return a->hops < b->hops ? -1 : 1;
    if (a->expires_at != b->expires_at) return a->expires_at > b->expires_at ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Saturating sum of c[from .. from+r): big enough to compare with an amount. */
static int64_t sum_sat(const struct cand *c, size_t from, size_t r)
{
    int64_t s = 0;
    for (size_t i = from; i < from + r; i++) {
        if (dc_i64_add(&s, s, c[i].value) != DC_OK) return INT64_MAX;
    }
    return s;
}

/* ---- Exact combination: bounded depth-first search --------------------- */

struct search {
    const struct cand *c;
    size_t n;
    size_t k;      /* coins to choose */
    size_t budget; /* nodes left */
    size_t pick[DC_WALLET_PLAN_MAX];
    size_t best[DC_WALLET_PLAN_MAX];
    unsigned best_hops;
    int found;
};

static void consider(struct search *s)
{
    unsigned hops = 0;
    for (size_t i = 0; i < s->k; i++) hops += s->c[s->pick[i]].hops;
    if (s->found && hops >= s->best_hops) return; /* keep the first of equals */
    memcpy(s->best, s->pick, s->k * sizeof s->pick[0]);
    s->best_hops = hops;
    s->found = 1;
}

static void dfs(struct search *s, size_t start, size_t depth, int64_t remaining)
{
    if (s->budget == 0) return;
    s->budget--;
    size_t r = s->k - depth;
    if (r == 0) {
        if (remaining == 0) consider(s);
        return;
    }
    /* the r smallest coins left already overshoot: nothing below fits */
    if (s->n - start < r || sum_sat(s->c, s->n - r, r) > remaining) return;
    for (size_t i = start; i + r <= s->n && s->budget > 0; i++) {
        int64_t v = s->c[i].value;
        if (i > start && v == s->c[i - 1].value) continue; /* same value, same subtree */
        if (v > remaining) continue;
        if (sum_sat(s->c, i, r) < remaining) break; /* the r largest from here fall short */
        s->pick[depth] = i;
        dfs(s, i + 1, depth + 1, remaining - v);
    }
}

/* ---- Selection ---------------------------------------------------------- */

static int eligible(const struct dc_wallet_coin_info *c, const struct dc_wallet_select_opts *o)
{
    return c->status == DC_WALLET_HELD && c->is_ours && c->value > 0 &&
           (o->currency == 0 || c->currency == o->currency) && c->value % o->base_unit == 0 &&
           !dc_wallet_needs_refresh(c, o->now, o->margin_ms);
}

enum dc_err dc_wallet_select_coins(struct dc_wallet_plan *plan,
                                   const struct dc_wallet_coin_info *coins, size_t n,
                                   int64_t amount, const struct dc_wallet_select_opts *opts)
{
    if (!plan || !opts || (n && !coins)) return DC_ERR_INVALID_ARGUMENT;
    memset(plan, 0, sizeof *plan);
    if (amount <= 0) return DC_ERR_AMOUNT_ZERO;
    if (opts->base_unit <= 0) return DC_ERR_INVALID_ARGUMENT;
    if (amount % opts->base_unit != 0) return DC_ERR_DENOM_UNREACHABLE;

    struct cand *c = malloc((n ? n : 1) * sizeof *c);
    if (!c) return DC_ERR_NO_MEMORY;
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!eligible(&coins[i], opts)) continue;
        c[nc].value = coins[i].value;
        c[nc].expires_at = coins[i].expires_at;
        c[nc].idx = i;
        c[nc].hops = coins[i].hops_used;
        nc++;
    }
    qsort(c, nc, sizeof *c, cand_cmp);
    enum dc_err err = DC_OK;
    plan->amount = amount;

    /* (a) one coin of exactly the amount: the first in order is the freshest */
    for (size_t i = 0; i < nc; i++) {
        if (c[i].value == amount) {
            plan->kind = DC_PLAN_EXACT_ONE;
            plan->n = 1;
            plan->coin[0] = c[i].idx;
            plan->records = 1;
            goto out;
        }
    }

    /* m = the fewest coins reaching the amount (the largest ones) */
    size_t m = 0;
    int64_t prefix = 0;
    while (m < nc && prefix < amount) {
        if (dc_i64_add(&prefix, prefix, c[m].value) != DC_OK) prefix = INT64_MAX;
        m++;
    }
    if (prefix < amount) {
        err = DC_ERR_INSUFFICIENT_FUNDS;
        goto out;
    }
    if (m > DC_WALLET_PLAN_MAX) {
        err = DC_ERR_LIMIT_EXCEEDED; /* no plan of <= 16 coins reaches it */
        goto out;
    }
    int top_exact = prefix == amount; /* the m largest sum exactly */
    size_t split_records = m + 1;

    /* (b) the fewest coins summing exactly, if no costlier than splitting */
    size_t kmax = top_exact ? m : split_records;
    if (kmax > nc) kmax = nc;
    struct search s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.n = nc;
    s.budget = SEARCH_BUDGET;
    /* fewer than m coins cannot reach the amount */
    for (size_t k = m < 2 ? 2 : m; k <= kmax && !s.found && s.budget > 0; k++) {
        s.k = k;
        dfs(&s, 0, 0, amount);
    }
    if (s.found || top_exact) {
        size_t k = s.found ? s.k : m;
        plan->kind = DC_PLAN_EXACT_MANY;
        plan->n = k;
        for (size_t i = 0; i < k; i++) plan->coin[i] = c[s.found ? s.best[i] : i].idx;
        plan->records = k;
        goto out;
    }

    /* (c)/(d) the m-1 largest whole, and the smallest coin covering the rest */
    int64_t whole = sum_sat(c, 0, m - 1); /* < amount, exact: it did not saturate */
    int64_t need = amount - whole;
    size_t j = m - 1;
    for (size_t i = m - 1; i < nc && c[i].value > need; i++) {
        if (c[i].value < c[j].value) j = i; /* the first of a value run has the fewest hops */
    }
    plan->kind = m == 1 ? DC_PLAN_SPLIT_ONE : DC_PLAN_MANY_SPLIT;
    plan->n = m;
    for (size_t i = 0; i + 1 < m; i++) plan->coin[i] = c[i].idx;
    plan->coin[m - 1] = c[j].idx;
    plan->has_split = 1;
    plan->split_values[0] = need;
    plan->split_values[1] = c[j].value - need;
    plan->records = split_records;
out:
    free(c);
    if (err != DC_OK) memset(plan, 0, sizeof *plan);
    return err;
}

enum dc_err dc_wallet_select(struct dc_wallet_plan *plan, const struct dc_wallet *w, int64_t amount,
                             uint64_t now, uint64_t margin_ms)
{
    struct dc_wallet_params p;
    if (!plan || !w) return DC_ERR_INVALID_ARGUMENT;
    memset(plan, 0, sizeof *plan);
    enum dc_err err = dc_wallet_params(w, &p);
    if (err != DC_OK) return err;
    size_t n = dc_wallet_coin_count(w);
    struct dc_wallet_coin_info *info = malloc((n ? n : 1) * sizeof *info);
    if (!info) return DC_ERR_NO_MEMORY;
    for (size_t i = 0; i < n && err == DC_OK; i++) {
        err = dc_wallet_coin_info(w, i, &info[i]);
        /* A coin the payee would refuse is not offered: paying with it
         * would strand the whole payment, its clean coins included. */
        if (err == DC_OK && info[i].status == DC_WALLET_HELD &&
            dc_wallet_coin_doubtful(w, i, now, margin_ms) != DC_OK) {
            info[i].status = DC_WALLET_SPENT; /* this copy only: not a candidate */
        }
    }
    struct dc_wallet_select_opts o = {now, margin_ms, p.base_unit, p.currency};
    if (err == DC_OK) err = dc_wallet_select_coins(plan, info, n, amount, &o);
    free(info);
    return err;
}
