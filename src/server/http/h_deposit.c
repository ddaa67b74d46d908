/*
 * h_deposit.c - POST /v1/deposits: verify every coin (on a worker, so both
 * cores verify in parallel), then record the deposit in one group-commit
 * job: the atomic check-and-insert of every consumed state, the holds in
 * the frozen box, and fork cases (ledger.c). The worker does not wait for
 * the commit (dc_idempotent_then): deposit_then finishes on the writer.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/auth.h"
#include "ducat/codec.h"
#include "ducat/crypto.h"
#include "server/http/http.h"
#include "server/ledger/ledger.h"
#include "server/obs/metrics.h"

/* A case this deposit opened, as the log needs it after the commit. Read
 * inside the job's transaction: the tail runs on the writer thread, which
 * must not wait for a database connection of its own. */
struct case_note {
    int64_t id, culprit, value;
    int settled;
    char decision[16], actor[64];
};

struct deposit_args {
    struct dc_deposit_in *in;
    size_t n;
    struct dc_deposit_coin_out *outc;
    struct case_note *cases; /* n slots; the first ncases used */
    size_t ncases, forks;
    int64_t deposit_id, credited; /* set when deposit_fn ran (not on a replay) */
};

/* What a deposit request holds until its answer: freed by deposit_then. */
struct deposit_req {
    struct deposit_args d;
    uint8_t **bufs; /* the decoded coins, d.in[i].bytes point into them */
    struct dc_coin *coin;
    struct dc_trust *t;
    size_t sigs;  /* record signatures this request verified itself */
    int replayed; /* answered from the stored answer before its job */
};

static const uint8_t receipt_ctx[8] = {'D', 'U', 'C', 'A', 'T', 'R', 'C', 'P'};

/* The receipt: the issuer's signing key vouches for what was credited. */
static json_t *receipt(const struct dc_ctx *x, const struct dc_deposit_out *o, int64_t account,
                       uint64_t now)
{
    const struct dc_signer *sg = x->signer; /* the key named is the key that signs */
    size_t len = 8 + 4 + 8 + 8 + 8 + 8 + 2 + o->n * DC_SERIAL_BYTES;
    uint8_t *b = malloc(len + DC_SIG_BYTES);
    if (!b) return NULL;
    struct dc_writer w;
    dc_writer_init(&w, b, len);
    dc_write_bytes(&w, receipt_ctx, 8);
    dc_write_u32(&w, sg->key_id);
    dc_write_u64(&w, (uint64_t)o->deposit_id);
    dc_write_u64(&w, (uint64_t)account);
    dc_write_i64(&w, o->credited);
    dc_write_u64(&w, now);
    dc_write_u8(&w, (uint8_t)(o->n & 0xff));
    dc_write_u8(&w, (uint8_t)(o->n >> 8));
    for (size_t i = 0; i < o->n; i++) dc_write_bytes(&w, o->coins[i].serial, DC_SERIAL_BYTES);
    /* cannot fail: the message starts with its own label, receipt_ctx */
    if (dc_sign_message(b + len, b, len, sg->sk) != DC_OK) {
        free(b);
        return NULL;
    }
    json_t *j = dc_json_hex(b, len + DC_SIG_BYTES);
    free(b);
    return j;
}

static enum dc_err deposit_fn(struct dc_store *st, struct dc_req *rq, void *arg,
                              struct dc_resp *out)
{
    struct deposit_args *d = &((struct deposit_req *)arg)->d;
    struct dc_deposit_out o;
    memset(&o, 0, sizeof o);
    o.coins = d->outc;
    enum dc_err e = dc_ledger_deposit(st, rq->x, rq->now, rq->account.id, d->in, d->n, &o,
                                      rq->detail, sizeof rq->detail);
    if (e != DC_OK) return e;
    d->forks = o.forks_new;
    d->ncases = 0; /* a retried batch runs this again from the start */
    for (size_t i = 0; i < o.n && d->ncases < d->n; i++) {
        struct dc_case c;
        if (!o.coins[i].case_new) continue;
        e = st->ops->case_get(st, &c, o.coins[i].case_id, NULL, NULL);
        if (e != DC_OK) return e;
        struct case_note *cn = &d->cases[d->ncases++];
        cn->id = c.id;
        cn->culprit = c.culprit_account;
        cn->value = c.value;
        cn->settled = c.status == DC_CASE_RESOLVED;
        memcpy(cn->decision, c.decision, sizeof cn->decision);
        memcpy(cn->actor, c.actor, sizeof cn->actor);
        dc_case_clear(&c);
    }
    d->deposit_id = o.deposit_id;
    d->credited = o.credited;
    json_t *coins = json_array();
    for (size_t i = 0; i < o.n; i++) {
        json_array_append_new(coins, dc_json_deposit_coin(&o.coins[i], 1));
    }
    out->status = 201;
    out->json = json_pack("{s:I, s:I, s:o, s:o}", "deposit_id", (json_int_t)o.deposit_id,
                          "credited", (json_int_t)o.credited, "coins", coins, "receipt",
                          receipt(rq->x, &o, rq->account.id, rq->now));
    return out->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* After the commit: the deposit, and each case it opened with its culprit
 * (settled at once when the policy recovered the loss). */
static void log_deposit(struct dc_req *rq, const struct deposit_args *d)
{
    char m[DC_MONEY_MAX];
    const struct dc_currency *cur = &rq->x->cfg.currency;
    DC_LOG_EVENT(DC_LOG_INFO, "deposit", DC_KV_N("deposit", d->deposit_id),
                 DC_KV_N("account", rq->account.id), DC_KV_N("coins", d->n),
                 DC_KV_S("credited", dc_money(m, sizeof m, cur, d->credited)),
                 DC_KV_N("forks_new", d->forks));
    for (size_t i = 0; i < d->ncases; i++) {
        const struct case_note *c = &d->cases[i];
        DC_LOG_EVENT(DC_LOG_WARN, "case_opened", DC_KV_N("case", c->id),
                     DC_KV_N("deposit", d->deposit_id), DC_KV_N("depositor", rq->account.id),
                     DC_KV_N("culprit", c->culprit),
                     DC_KV_S("value", dc_money(m, sizeof m, cur, c->value)));
        if (c->settled) {
            DC_LOG_EVENT(DC_LOG_INFO, "case_settled", DC_KV_N("case", c->id),
                         DC_KV_S("decision", c->decision), DC_KV_S("actor", c->actor));
        }
    }
}

/* The handler's tail, after its job (dc_idempotent_then: on the writer
 * thread once the batch is durable, or here when nothing was deferred). */
static enum dc_err deposit_then(struct dc_req *rq, struct dc_resp *rs, enum dc_err e, void *arg)
{
    (void)rs;
    struct deposit_req *q = arg;
    struct deposit_args *d = &q->d;
    /* deposit_id is set only when deposit_fn ran: a replay, answered from
     * the stored answer (before the job, or inside it: rq->replayed, also
     * after an attempt the writer discarded), counts nothing */
    if (e == DC_OK && !q->replayed && !rq->replayed && d->deposit_id) {
        dc_metrics_add(rq->x->metrics, DC_M_DEPOSITS, 1);
        dc_metrics_add(rq->x->metrics, DC_M_COINS_DEPOSITED, d->n);
        if (d->forks) dc_metrics_add(rq->x->metrics, DC_M_FORKS, d->forks);
        log_deposit(rq, d);
    }
    for (size_t i = 0; q->bufs && i < d->n; i++) free(q->bufs[i]);
    free(q->bufs);
    free(q->coin);
    free(q->t);
    dc_metrics_add(rq->x->metrics, DC_M_SIGS_VERIFIED, q->sigs);
    free(d->in);
    free(d->outc);
    free(d->cases);
    free(q);
    return e;
}

enum dc_err dc_h_deposit(struct dc_req *rq, struct dc_resp *rs)
{
    char request_id[65];
    json_t *coins = NULL;
    const struct dc_jspec spec[] = {
        {"request_id", DC_J_REQID, request_id, sizeof request_id, 0},
        {"coins", DC_J_ARRAY, &coins, DC_DEPOSIT_COINS_MAX, 0},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e != DC_OK) return e;
    size_t n = json_array_size(coins);
    struct deposit_req *q = calloc(1, sizeof *q);
    if (!q) return DC_ERR_NO_MEMORY;
    struct deposit_args *d = &q->d;
    d->in = calloc(n, sizeof *d->in);
    d->n = n;
    d->outc = calloc(n, sizeof *d->outc);
    d->cases = calloc(n, sizeof *d->cases);
    q->bufs = calloc(n, sizeof *q->bufs);
    struct dc_coin *coin = q->coin = malloc(sizeof *coin);
    if (!d->in || !d->outc || !d->cases || !q->bufs || !coin) e = DC_ERR_NO_MEMORY;

    /* a trust snapshot at this request's time */
    struct dc_trust *t = q->t = malloc(sizeof *t);
    if (!t) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK) {
        pthread_rwlock_rdlock(&rq->x->trust_lock);
        *t = rq->x->trust;
        pthread_rwlock_unlock(&rq->x->trust_lock);
        t->now = rq->now;
    }
    /* split siblings share their history and a device's certificate is in
     * all its coins: what any deposit verified is not verified again */
    struct dc_verify_cache *cache = dc_vcache(rq->x);
    uint8_t **bufs = q->bufs;
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        size_t len;
        e = dc_req_coin(rq, coins, i, &bufs[i], &len, coin);
        if (e != DC_OK) break;
        struct dc_verify_result res;
        struct dc_verify_opts o = {NULL, NULL, 1};
        e = dc_coin_verify(&res, t, coin, &o, cache);
        q->sigs += res.sigs_checked;
        if (e == DC_OK && (coin->n == 0 || coin->rec[coin->n - 1].type != DC_TYPE_DEPOSIT)) {
            res.index = coin->n;
            e = DC_ERR_CHAIN_ORDER;
        }
        if (e != DC_OK) {
            snprintf(rq->detail, sizeof rq->detail, "coins[%zu] record %zu: %s", i, res.index,
                     dc_err_str(e));
            break;
        }
        d->in[i].bytes = bufs[i];
        d->in[i].len = len;
        d->in[i].amount = res.value;
        d->in[i].flagged = res.expired_in_grace;
    }
    if (e != DC_OK) {
        /* A request id already answered keeps its answer even if its coins
         * no longer verify (a key revoked since, a coin expired since): the
         * stored answer is looked up here, only on this path. A request
         * whose coins verify finds it in its job (idem_run), which spares
         * every deposit a read transaction before it (~10% of its CPU). */
        int answered = 0;
        enum dc_err r = dc_idempotent_replay(rq, rq->account.id, request_id, rs, &answered);
        if (answered) {
            e = DC_OK;
            q->replayed = 1;
        } else if (r != DC_OK) {
            /* a conflict names the request id; a store error, nothing */
            if (r != DC_ERR_IDEMPOTENCY_CONFLICT) rq->detail[0] = '\0';
            e = r;
        }
        return deposit_then(rq, rs, e, q);
    }
    /* q belongs to deposit_then from here on, which may run on the writer */
    return dc_idempotent_then(rq, rq->account.id, request_id, deposit_fn, q, rs, deposit_then);
}
