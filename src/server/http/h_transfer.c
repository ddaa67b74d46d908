/*
 * h_transfer.c - online payments: POST /v1/transfers and
 * POST /v1/transfers/batch (many transfers under one signed request, all or
 * nothing). Idempotent by request_id.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/invariant.h"
#include "server/http/http.h"
#include "server/ledger/ledger.h"
#include "server/obs/metrics.h"

struct transfer_args {
    size_t n;
    int64_t *to, *amount, *ids;
    const char **memo; /* n entries, NULL where none */
    int batch;
    int ran; /* the ledger moved the money (not a replay of a stored answer) */
};

static enum dc_err transfer_fn(struct dc_store *st, struct dc_req *rq, void *arg,
                               struct dc_resp *out)
{
    struct transfer_args *t = arg;
    int64_t available;
    enum dc_err e =
        dc_ledger_transfer(st, &rq->x->cfg.currency, rq->now, rq->account.id, t->to, t->amount,
                           t->memo, t->n, t->ids, &available, rq->detail, sizeof rq->detail);
    if (e != DC_OK) return e;
    t->ran = 1;
    out->status = 201;
    if (!t->batch) {
        out->json =
            json_pack("{s:I, s:I, s:I, s:I, s:I}", "transfer_id", (json_int_t)t->ids[0], "from",
                      (json_int_t)rq->account.id, "to", (json_int_t)t->to[0], "amount",
                      (json_int_t)t->amount[0], "available", (json_int_t)available);
    } else {
        json_t *ids = json_array();
        int64_t total = 0;
        for (size_t i = 0; i < t->n; i++) {
            json_array_append_new(ids, json_integer(t->ids[i]));
            enum dc_err se = dc_i64_add(&total, total, t->amount[i]);
            DC_INVARIANT(se == DC_OK, "a batch total fits int64 (the ledger refused it otherwise)");
        }
        out->json =
            json_pack("{s:o, s:I, s:I, s:I}", "transfer_ids", ids, "count", (json_int_t)t->n,
                      "total", (json_int_t)total, "available", (json_int_t)available);
    }
    return out->json ? DC_OK : DC_ERR_NO_MEMORY;
}

enum dc_err dc_h_transfer(struct dc_req *rq, struct dc_resp *rs)
{
    char request_id[65], memo[DC_MEMO_MAX + 1] = "";
    int64_t to, amount, id = 0;
    const struct dc_jspec spec[] = {
        {"request_id", DC_J_REQID, request_id, sizeof request_id, 0},
        {"to", DC_J_POS_I64, &to, 0, 0},
        {"amount", DC_J_POS_I64, &amount, 0, 0},
        {"memo", DC_J_STR, memo, sizeof memo, 1},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e != DC_OK) return e;
    const char *memos[1] = {memo[0] ? memo : NULL};
    struct transfer_args t = {1, &to, &amount, &id, memos, 0, 0};
    e = dc_idempotent(rq, rq->account.id, request_id, transfer_fn, &t, rs);
    if (e == DC_OK && t.ran && !rq->replayed) dc_req_count(rq, DC_M_TRANSFERS, 1);
    return e;
}

enum dc_err dc_h_transfer_batch(struct dc_req *rq, struct dc_resp *rs)
{
    char request_id[65];
    json_t *items = NULL;
    const struct dc_jspec spec[] = {
        {"request_id", DC_J_REQID, request_id, sizeof request_id, 0},
        {"transfers", DC_J_ARRAY, &items, rq->x->cfg.max_batch_transfers, 0},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e != DC_OK) return e;
    size_t n = json_array_size(items);
    struct transfer_args t = {
        n, calloc(n, 8), calloc(n, 8), calloc(n, 8), calloc(n, sizeof(char *)), 1, 0};
    if (!t.to || !t.amount || !t.ids || !t.memo) e = DC_ERR_NO_MEMORY;
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        json_t *it = json_array_get(items, i), *jt = json_object_get(it, "to"),
               *ja = json_object_get(it, "amount"), *jm = json_object_get(it, "memo");
        if (!json_is_object(it) || !json_is_integer(jt) || !json_is_integer(ja) ||
            json_integer_value(jt) <= 0 || json_integer_value(ja) <= 0) {
            snprintf(rq->detail, sizeof rq->detail,
                     "transfers[%zu] needs positive integers 'to' and 'amount'", i);
            e = DC_ERR_FIELD;
            break;
        }
        if (jm &&
            (!json_is_string(jm) || json_string_length(jm) != strlen(json_string_value(jm)))) {
            snprintf(rq->detail, sizeof rq->detail, "transfers[%zu].memo must be a string", i);
            e = DC_ERR_FIELD;
            break;
        }
        t.to[i] = (int64_t)json_integer_value(jt);
        t.amount[i] = (int64_t)json_integer_value(ja);
        t.memo[i] = jm && *json_string_value(jm) ? json_string_value(jm) : NULL;
    }
    if (e == DC_OK) e = dc_idempotent(rq, rq->account.id, request_id, transfer_fn, &t, rs);
    if (e == DC_OK && t.ran && !rq->replayed) dc_req_count(rq, DC_M_TRANSFERS, n);
    free(t.to);
    free(t.amount);
    free(t.ids);
    free(t.memo);
    return e;
}
