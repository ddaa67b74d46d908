/*
 * h_reclaim.c - POST /v1/reclaims: the payer takes back coins she signed
 * over to a payee in an offline payment the payee refused (its signed
 * REFUSAL, include/ducat/refusal.h) or never took before the coins' deposit
 * deadline (expiry + deposit grace) passed. docs/PROTOCOL.md, "Refused and
 * unacknowledged payments", gives the rules; docs/API.md the body.
 *
 * Verification runs in this request's thread like a deposit's; the ledger
 * (dc_ledger_reclaim) claims the states in one group-commit job, so a
 * payee's deposit and the payer's reclaim of one coin are serialised by the
 * consumed-state index: whoever comes first wins and the other is refused
 * with no case and nothing moved.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/auth.h"
#include "ducat/codec.h"
#include "ducat/refusal.h"
#include "server/http/http.h"
#include "server/ledger/ledger.h"
#include "server/obs/metrics.h"

#define RECLAIM_COINS_MAX DC_RECLAIM_COINS_MAX

struct reclaim_args {
    struct dc_deposit_in *in;
    size_t n;
    struct dc_deposit_coin_out *outc;
    int64_t reclaim_id, credited;
    int refused;            /* the payee's refusal was presented */
    const uint8_t *refusal; /* its bytes, or NULL */
    int64_t case_id;        /* OUT: a case this reclaim opened or joined (log line) */
    int case_new;
    size_t forks_new; /* OUT: cases it opened (metrics) */
};

/* The payer's own double spend: what she signed first stands, so the
 * reclaim is refused (COIN_SPENT) and nothing is credited, but the
 * refusal is not rolled back whole as other refusals are: the case it
 * opens (or the event on the open one) is committed with the answer, a
 * 409 kept as this request id's answer like any final refusal. */
static enum dc_err reclaim_refuse_fork(struct dc_store *st, struct dc_req *rq,
                                       struct reclaim_args *d, const struct dc_reclaim_fork *f,
                                       struct dc_resp *out)
{
    char detail[sizeof rq->detail];
    memcpy(detail, rq->detail, sizeof detail);
    enum dc_err e = st->ops->rollback_to(st);
    if (e == DC_OK) e = st->ops->savepoint(st);
    if (e == DC_OK) {
        e = dc_ledger_reclaim_fork(st, rq->x, rq->now, rq->account.id, &d->in[f->coin], f->index,
                                   &d->case_id, &d->case_new);
    }
    if (e != DC_OK) return e;
    char *text = dc_error_text(DC_ERR_COIN_SPENT, detail);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!j) return DC_ERR_NO_MEMORY;
    d->forks_new = (size_t)d->case_new;
    json_object_set_new(j, "case", json_integer((json_int_t)d->case_id));
    out->status = dc_err_http_status(DC_ERR_COIN_SPENT);
    out->json = j;
    return DC_OK;
}

static enum dc_err reclaim_fn(struct dc_store *st, struct dc_req *rq, void *arg,
                              struct dc_resp *out)
{
    struct reclaim_args *d = arg;
    struct dc_deposit_out o;
    memset(&o, 0, sizeof o);
    o.coins = d->outc;
    struct dc_reclaim_fork fork;
    d->case_id = 0;
    d->case_new = 0;
    d->forks_new = 0; /* the writer may run this job again after a retried batch */
    enum dc_err e = dc_ledger_reclaim(st, rq->x, rq->now, rq->account.id, d->in, d->n, d->refusal,
                                      &o, &fork, rq->detail, sizeof rq->detail);
    if (e == DC_ERR_COIN_SPENT && fork.set) return reclaim_refuse_fork(st, rq, d, &fork, out);
    if (e != DC_OK) return e;
    d->reclaim_id = o.deposit_id;
    d->credited = o.credited;
    d->forks_new = o.forks_new;
    json_t *coins = json_array();
    for (size_t i = 0; i < o.n; i++) {
        const struct dc_deposit_coin_out *c = &o.coins[i];
        json_array_append_new(coins, dc_json_deposit_coin(c, 0));
        if (c->case_id && !d->case_id) {
            d->case_id = c->case_id;
            d->case_new = c->case_new;
        }
    }
    out->status = 201;
    out->json = json_pack("{s:I, s:I, s:s, s:o}", "reclaim_id", (json_int_t)o.deposit_id,
                          "credited", (json_int_t)o.credited, "basis",
                          d->refused ? "refusal" : "deadline", "coins", coins);
    return out->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* The refusal is the payee's (the `to` of every coin's last TRANSFER), for
 * this request (its nonce in every TRANSFER) and this exact payment (the
 * coins in this order under request_hash). */
static enum dc_err check_refusal(struct dc_req *rq, const struct dc_refusal *r,
                                 const uint8_t request_hash[static DC_HASH_BYTES],
                                 struct dc_coin *const *coin, const uint8_t *const *bytes,
                                 const size_t *len, size_t n)
{
    if (memcmp(r->request_hash, request_hash, DC_HASH_BYTES) != 0) {
        snprintf(rq->detail, sizeof rq->detail, "refusal names another request");
        return DC_ERR_REFUSAL_MISMATCH;
    }
    const struct dc_record *t0 = &coin[0]->rec[coin[0]->n - 1];
    for (size_t i = 0; i < n; i++) {
        const struct dc_record *t = &coin[i]->rec[coin[i]->n - 1];
        if (memcmp(t->u.transfer.to.pub, t0->u.transfer.to.pub, DC_PUBKEY_BYTES) != 0 ||
            memcmp(t->u.transfer.nonce, r->nonce, DC_NONCE_BYTES) != 0) {
            snprintf(rq->detail, sizeof rq->detail,
                     "coins[%zu]: its transfer names another payee or request than the refusal", i);
            return DC_ERR_REFUSAL_MISMATCH;
        }
    }
    uint8_t ph[DC_HASH_BYTES];
    enum dc_err e = dc_refusal_payment_hash(ph, request_hash, bytes, len, n);
    if (e != DC_OK) return e;
    if (memcmp(ph, r->payment_hash, DC_HASH_BYTES) != 0) {
        snprintf(rq->detail, sizeof rq->detail,
                 "refusal names another payment (send every coin of it, in its order)");
        return DC_ERR_REFUSAL_MISMATCH;
    }
    if (dc_refusal_check(r, t0->u.transfer.to.pub) != DC_OK) {
        snprintf(rq->detail, sizeof rq->detail, "refusal is not signed by the payee");
        return DC_ERR_BAD_SIGNATURE;
    }
    return DC_OK;
}

enum dc_err dc_h_reclaim(struct dc_req *rq, struct dc_resp *rs)
{
    char request_id[65];
    json_t *coins = NULL;
    uint8_t refusal[DC_REFUSAL_BYTES] = {0};
    uint8_t request_hash[DC_HASH_BYTES] = {0};
    const struct dc_jspec spec[] = {
        {"request_id", DC_J_REQID, request_id, sizeof request_id, 0},
        {"coins", DC_J_ARRAY, &coins, RECLAIM_COINS_MAX, 0},
        {"refusal", DC_J_HEX, refusal, sizeof refusal, 1},
        {"request_hash", DC_J_HEX, request_hash, sizeof request_hash, 1},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e != DC_OK) return e;
    int has_refusal = refusal[0] != 0; /* a refusal starts with its tag, 43 */
    struct dc_refusal r;
    if (has_refusal && (e = dc_refusal_decode(&r, refusal, sizeof refusal)) != DC_OK) {
        snprintf(rq->detail, sizeof rq->detail, "refusal: %s", dc_err_str(e));
        return DC_ERR_FIELD;
    }
    int answered;
    e = dc_idempotent_replay(rq, rq->account.id, request_id, rs, &answered);
    if (e != DC_OK || answered) return e;

    size_t n = json_array_size(coins);
    struct reclaim_args d = {.in = calloc(n, sizeof *d.in),
                             .n = n,
                             .outc = calloc(n, sizeof *d.outc),
                             .refused = has_refusal,
                             .refusal = has_refusal ? refusal : NULL};
    uint8_t *bufs[RECLAIM_COINS_MAX] = {0};
    size_t lens[RECLAIM_COINS_MAX] = {0};
    struct dc_coin *coin[RECLAIM_COINS_MAX] = {0};
    struct dc_trust *t = malloc(sizeof *t);
    if (!d.in || !d.outc || !t) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK) {
        pthread_rwlock_rdlock(&rq->x->trust_lock);
        *t = rq->x->trust;
        pthread_rwlock_unlock(&rq->x->trust_lock);
    }
    struct dc_verify_cache *cache = dc_vcache(rq->x);
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        coin[i] = malloc(sizeof *coin[i]);
        if (!coin[i]) {
            e = DC_ERR_NO_MEMORY;
            break;
        }
        e = dc_req_coin(rq, coins, i, &bufs[i], &lens[i], coin[i]);
        if (e != DC_OK) break;
        if (coin[i]->n == 0 || coin[i]->rec[coin[i]->n - 1].type != DC_TYPE_TRANSFER) {
            snprintf(rq->detail, sizeof rq->detail,
                     "coins[%zu] record %zu: a reclaimed coin ends in the payer's transfer", i,
                     coin[i]->n);
            e = DC_ERR_CHAIN_ORDER;
            break;
        }
        /* The deadline (expiry + deposit grace): from then on nobody can
         * deposit the coin (h_deposit refuses it COIN_EXPIRED), so it is the
         * payer's without a refusal. A coin past its expiry is verified as
         * of its last valid instant: its signatures do not age. */
        uint64_t deadline = coin[i]->genesis.expires_at + t->expiry_grace_ms;
        if (!has_refusal && rq->now < deadline) {
            snprintf(rq->detail, sizeof rq->detail,
                     "coins[%zu]: its payee may deposit it until %llu (ms since the epoch); "
                     "send the payee's refusal or reclaim it from then on",
                     i, (unsigned long long)deadline);
            e = DC_ERR_RECLAIM_TOO_EARLY;
            break;
        }
        uint64_t last_valid = coin[i]->genesis.expires_at - 1;
        t->now = rq->now < last_valid ? rq->now : last_valid;
        struct dc_verify_result res;
        struct dc_verify_opts o = {NULL, NULL, 0};
        e = dc_coin_verify(&res, t, coin[i], &o, cache);
        if (e != DC_OK) {
            snprintf(rq->detail, sizeof rq->detail, "coins[%zu] record %zu: %s", i, res.index,
                     dc_err_str(e));
            break;
        }
        d.in[i].bytes = bufs[i];
        d.in[i].len = lens[i];
        d.in[i].amount = res.value;
        d.in[i].flagged = res.expired_in_grace;
    }
    if (e == DC_OK && has_refusal) {
        e = check_refusal(rq, &r, request_hash, coin, (const uint8_t *const *)bufs, lens, n);
    }
    if (e == DC_OK) e = dc_idempotent(rq, rq->account.id, request_id, reclaim_fn, &d, rs);
    if (e == DC_OK && d.reclaim_id) {
        char m[DC_MONEY_MAX];
        DC_LOG_EVENT(DC_LOG_INFO, "reclaim", DC_KV_N("reclaim", d.reclaim_id),
                     DC_KV_N("account", rq->account.id), DC_KV_N("coins", n),
                     DC_KV_S("credited", dc_money(m, sizeof m, &rq->x->cfg.currency, d.credited)),
                     DC_KV_S("basis", has_refusal ? "refusal" : "deadline"));
    }
    /* counted once the answer is final, and not for a replay whose
     * discarded attempt had run reclaim_fn (dc_idempotent) */
    if (e == DC_OK && d.forks_new && !rq->replayed) dc_req_count(rq, DC_M_FORKS, d.forks_new);
    if (e == DC_OK && d.case_id) {
        /* a refused payment its payee passed on, or the payer's own double
         * spend: the case the operator will look at */
        DC_LOG_EVENT(DC_LOG_WARN, d.case_new ? "case_opened" : "case_joined",
                     DC_KV_N("case", d.case_id), DC_KV_N("account", rq->account.id),
                     DC_KV_S("by", d.reclaim_id ? "reclaim (refused payment passed on)"
                                                : "reclaim (the payer's double spend)"));
    }
    for (size_t i = 0; i < n && i < RECLAIM_COINS_MAX; i++) {
        free(bufs[i]);
        free(coin[i]);
    }
    free(t);
    free(d.in);
    free(d.outc);
    return e;
}
