/*
 * h_account.c - a device's own account: POST /v1/sync (fresh device
 * certificate), GET /v1/balance, GET /v1/history.
 */
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "server/ledger.h"

const char *dc_hold_status_name(int status)
{
    switch (status) {
    case DC_HOLD_HELD:
        return "held";
    case DC_HOLD_FROZEN:
        return "frozen";
    case DC_HOLD_RELEASED:
        return "released";
    default:
        return "reversed";
    }
}

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
    rs->json = json_pack("{s:o, s:I, s:I, s:s, s:I}", "devcert",
                         dc_json_hex(cert, sizeof cert), "expires_at", (json_int_t)c.expires_at,
                         "offline_limit", (json_int_t)c.offline_limit, "status",
                         dc_account_status_name(a), "account", (json_int_t)a->id);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

static int add_hold(void *ctx, const struct dc_hold *h)
{
    /* amount: what the hold still holds; taken: what a fork case took out
     * of it (forfeited from a culprit, or reversed by a reject) */
    json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:I}", "id", (json_int_t)h->id, "amount",
                          (json_int_t)dc_hold_left(h), "release_at", (json_int_t)h->release_at,
                          "status", dc_hold_status_name(h->status), "taken",
                          (json_int_t)h->taken);
    /* a guessed date: the calendar does not cover the whole window yet */
    if (o) json_object_set_new(o, "release_provisional", json_boolean(h->release_provisional));
    if (o && h->case_id) json_object_set_new(o, "case", json_integer(h->case_id));
    if (o && !h->case_id) json_object_set_new(o, "case", json_null());
    json_array_append_new(ctx, o);
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
    rs->json = json_pack("{s:I, s:I, s:I, s:I, s:o, s:s}", "account", (json_int_t)a.id,
                         "available", (json_int_t)a.available, "held", (json_int_t)a.held,
                         "offline_outstanding", (json_int_t)outstanding, "holds", holds, "status",
                         dc_account_status_name(&a));
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

struct hist {
    int64_t account;
    json_t *arr;
    int64_t last;
};

static int add_entry(void *ctx, const struct dc_posting *p)
{
    struct hist *h = ctx;
    int outgoing = p->debit == h->account;
    int bucket = outgoing ? p->debit_bucket : p->credit_bucket;
    int64_t other = outgoing ? p->credit : p->debit;
    if (p->debit == p->credit) { /* a release moves held -> available */
        outgoing = 0;
        bucket = p->credit_bucket;
    }
    json_array_append_new(
        h->arr, json_pack("{s:I, s:I, s:s, s:I, s:s, s:I, s:s, s:s}", "id", (json_int_t)p->id,
                          "time", (json_int_t)p->time, "kind", p->kind, "amount",
                          (json_int_t)(outgoing ? -p->amount : p->amount), "bucket",
                          bucket == DC_BUCKET_HELD ? "held" : "available", "counterparty",
                          (json_int_t)other, "ref", p->ref, "memo", p->memo));
    h->last = p->id;
    return 0;
}

/* A deposit entry (kind "deposit", ref "h:<hold>") tells when its credit
 * is released and whether that date is still a guess, as the balance's
 * holds do: a user reading her history must not take a provisional date for
 * a promise. Read after journal_list (not from its callback) so no backend
 * nests a query inside a result it is still reading. */
static enum dc_err add_hold_dates(struct dc_store *st, json_t *arr)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *ref = json_string_value(json_object_get(o, "ref"));
        if (!kind || !ref || strcmp(kind, "deposit") != 0 || strncmp(ref, "h:", 2) != 0) continue;
        char *end;
        long long id = strtoll(ref + 2, &end, 10);
        if (*end || id <= 0) continue;
        struct dc_hold hd;
        enum dc_err e = st->ops->hold_get(st, &hd, id);
        if (e == DC_ERR_NOT_FOUND) continue;
        if (e != DC_OK) return e;
        if (json_object_set_new(o, "hold_status", json_string(dc_hold_status_name(hd.status))) ||
            json_object_set_new(o, "release_at", json_integer((json_int_t)hd.release_at)) ||
            json_object_set_new(o, "release_provisional", json_boolean(hd.release_provisional))) {
            return DC_ERR_NO_MEMORY;
        }
    }
    return DC_OK;
}

enum dc_err dc_json_history(struct dc_store *st, int64_t account, int64_t before, int64_t limit,
                            json_t **out)
{
    struct hist h = {account, json_array(), 0};
    *out = NULL;
    if (!h.arr) return DC_ERR_NO_MEMORY;
    enum dc_err e = st->ops->journal_list(st, account, before, (int)limit, add_entry, &h);
    if (e == DC_OK) e = add_hold_dates(st, h.arr);
    if (e != DC_OK) {
        json_decref(h.arr);
        return e;
    }
    size_t n = json_array_size(h.arr);
    *out = json_pack("{s:o, s:o}", "entries", h.arr, "next_before",
                     n == (size_t)limit ? json_integer(h.last) : json_null());
    return *out ? DC_OK : DC_ERR_NO_MEMORY;
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
