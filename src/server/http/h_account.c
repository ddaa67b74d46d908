/*
 * h_account.c - a device's own account: POST /v1/sync (fresh device
 * certificate), GET /v1/balance, GET /v1/history.
 */
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"
#include "server/ledger/ledger.h"

enum dc_err dc_h_sync(struct dc_req *rq, struct dc_resp *rs)
{
    /* the account as it is now: authentication only vouches for its id */
    struct dc_account acct;
    const struct dc_account *a = &acct;
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    e = st->ops->account_get(st, &acct, DC_BY_ID, rq->account.id, NULL);
    dc_pool_put(rq->x, st);
    if (e != DC_OK) return e;
    if (a->offline_blocked) return DC_ERR_OFFLINE_BLOCKED;
    if (a->frozen) return DC_ERR_ACCOUNT_FROZEN;
    uint8_t cert[DC_DEVCERT_BYTES];
    struct dc_devcert c;
    dc_ledger_devcert(cert, &c, rq->x, a, rq->now);
    rs->json = json_pack("{s:o, s:I, s:I, s:s, s:I}", "devcert", dc_json_hex(cert, sizeof cert),
                         "expires_at", (json_int_t)c.expires_at, "offline_limit",
                         (json_int_t)c.offline_limit, "status", dc_account_status_name(a),
                         "account", (json_int_t)a->id);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

static int add_hold(void *ctx, const struct dc_hold *h)
{
    json_array_append_new(ctx, dc_json_hold(h, DC_HOLD_VIEW_HOLDER));
    return 0;
}

enum dc_err dc_h_balance(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    struct dc_account a;
    json_t *holds = json_array();
    int64_t outstanding = 0;
    /* one read transaction: balance and holds from the same snapshot */
    e = st->ops->begin(st, 0);
    if (e == DC_OK) e = st->ops->account_get(st, &a, DC_BY_ID, rq->account.id, NULL);
    if (e == DC_OK) e = st->ops->holds_list(st, DC_HOLDS_OF_ACCOUNT, a.id, add_hold, holds);
    if (e == DC_OK) e = st->ops->coin_outstanding(st, a.id, &outstanding);
    st->ops->rollback(st);
    dc_pool_put(rq->x, st);
    if (e != DC_OK) {
        json_decref(holds);
        return e;
    }
    rs->json =
        json_pack("{s:I, s:I, s:I, s:I, s:o, s:s}", "account", (json_int_t)a.id, "available",
                  (json_int_t)a.available, "held", (json_int_t)a.held, "offline_outstanding",
                  (json_int_t)outstanding, "holds", holds, "status", dc_account_status_name(&a));
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

enum dc_err dc_h_history(struct dc_req *rq, struct dc_resp *rs)
{
    int64_t limit, before;
    enum dc_err qe = dc_query_int(rq, "limit", 1, 500, 50, &limit);
    if (qe == DC_OK) qe = dc_query_int(rq, "before", 1, INT64_MAX, 0, &before);
    if (qe != DC_OK) return qe;
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    /* one read transaction: the entries and their holds from one snapshot */
    e = st->ops->begin(st, 0);
    if (e == DC_OK) e = dc_json_history(st, rq->account.id, before, limit, &rs->json);
    st->ops->rollback(st);
    dc_pool_put(rq->x, st);
    return e;
}
