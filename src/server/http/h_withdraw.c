/*
 * h_withdraw.c - POST /v1/withdrawals: balance into issuer-signed coins of
 * the configured denominations, for the calling device. A retry with the
 * same request_id returns the very same coins (stored answer), never a
 * second set.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"
#include "server/ledger/ledger.h"
#include "server/obs/metrics.h"

struct withdraw_args {
    int64_t amount;
    uint8_t *rnd;
    size_t rnd_len;
    size_t coins;
};

static enum dc_err withdraw_fn(struct dc_store *st, struct dc_req *rq, void *arg,
                               struct dc_resp *out)
{
    struct withdraw_args *w = arg;
    struct dc_withdrawal wd;
    enum dc_err e = dc_ledger_withdraw(st, rq->x, rq->now, rq->account.id, w->amount, w->rnd,
                                       w->rnd_len, &wd, rq->detail, sizeof rq->detail);
    if (e != DC_OK) return e;
    json_t *coins = json_array();
    for (size_t i = 0; i < wd.n; i++) {
        json_array_append_new(coins, dc_json_hex(wd.coins[i], sizeof wd.coins[i]));
    }
    w->coins = wd.n;
    free(wd.coins);
    out->status = 201;
    out->json = json_pack("{s:I, s:I, s:o, s:o}", "withdrawal_id", (json_int_t)wd.id, "amount",
                          (json_int_t)w->amount, "devcert",
                          dc_json_hex(wd.devcert, sizeof wd.devcert), "coins", coins);
    return out->json ? DC_OK : DC_ERR_NO_MEMORY;
}

enum dc_err dc_h_withdraw(struct dc_req *rq, struct dc_resp *rs)
{
    char request_id[65];
    struct withdraw_args w = {0, NULL, 0, 0};
    const struct dc_jspec spec[] = {
        {"request_id", DC_J_REQID, request_id, sizeof request_id, 0},
        {"amount", DC_J_POS_I64, &w.amount, 0, 0},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e != DC_OK) return e;
    /* randomness for the serials, drawn in one call before the job */
    w.rnd_len = (size_t)rq->x->cfg.max_coins_per_withdrawal * DC_SERIAL_RANDOM_BYTES;
    w.rnd = malloc(w.rnd_len);
    if (!w.rnd) return DC_ERR_NO_MEMORY;
    randombytes_buf(w.rnd, w.rnd_len);
    e = dc_idempotent(rq, rq->account.id, request_id, withdraw_fn, &w, rs);
    free(w.rnd);
    /* w.coins is set by any attempt of the job that ran withdraw_fn, also
     * one the writer discarded before a retry that found another request's
     * stored answer (a resend of the same id): that answer is a replay. An
     * answer this request stored itself (a commit that went through before
     * a retry) is not (dc_idempotent tells the two apart). */
    if (e == DC_OK && w.coins && !rq->replayed) {
        dc_req_count(rq, DC_M_WITHDRAWALS, 1);
        dc_req_count(rq, DC_M_COINS_ISSUED, w.coins);
    }
    return e;
}
