/*
 * request.c - what handlers use to read a request and to run it once: the
 * query-integer and JSON-spec parsers (parsing as data: a handler lists its
 * fields, this file checks them and names the bad one) and idempotent
 * execution by client request id (a repeat replays the stored answer).
 *
 * Kept apart from http.c (the libmicrohttpd adapter and dispatch) so the
 * handlers depend on this file and http.c on the route table, and no file
 * depends back on the dispatcher: the route table is the one place that
 * names the handlers.
 */
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/auth.h"
#include "server/http/http.h"
#include "server/ledger/writer.h"
#include "server/obs/metrics.h"

enum dc_err dc_query_int(struct dc_req *rq, const char *name, int64_t min, int64_t max,
                         int64_t dflt, int64_t *out)
{
    const char *v = rq->query(rq->conn, name);
    *out = dflt;
    if (!v) return DC_OK;
    int64_t n = 0;
    int ok = *v != '\0';
    for (const char *p = v; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9' && n <= (max - (*p - '0')) / 10;
        if (ok) n = n * 10 + (*p - '0');
    }
    if (!ok || n < min) {
        snprintf(rq->detail, sizeof rq->detail, "%s must be a whole number in %lld..%lld", name,
                 (long long)min, (long long)max);
        return DC_ERR_FIELD;
    }
    *out = n;
    return DC_OK;
}

/* ---- JSON specs -------------------------------------------------------- */

static int valid_request_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

enum dc_err dc_jspec_parse(struct dc_req *rq, const struct dc_jspec *spec)
{
    for (const struct dc_jspec *f = spec; f->name; f++) {
        json_t *v = json_object_get(rq->json, f->name);
        if (!v) {
            if (f->optional) continue;
            snprintf(rq->detail, sizeof rq->detail, "missing field '%s'", f->name);
            return DC_ERR_FIELD;
        }
        const char *why = NULL;
        switch (f->type) {
        case DC_J_I64:
        case DC_J_POS_I64:
            if (!json_is_integer(v)) {
                why = "must be an integer (minor units)";
            } else if (f->type == DC_J_POS_I64 && json_integer_value(v) <= 0) {
                why = "must be positive";
            } else {
                *(int64_t *)f->dest = (int64_t)json_integer_value(v);
            }
            break;
        case DC_J_STR:
        case DC_J_REQID: {
            const char *s = json_string_value(v);
            if (!s) {
                why = "must be a string";
            } else if (strlen(s) >= f->cap || json_string_length(v) != strlen(s)) {
                why = "too long or contains NUL";
            } else if (f->type == DC_J_REQID && !valid_request_id(s)) {
                why = "must be 1-64 characters of A-Z a-z 0-9 . _ : -";
            } else {
                memcpy(f->dest, s, strlen(s) + 1);
            }
            break;
        }
        case DC_J_HEX: {
            const char *s = json_string_value(v);
            if (!s || dc_hex_decode(f->dest, f->cap, s, strlen(s)) != DC_OK) why = "bad hex";
            break;
        }
        case DC_J_ARRAY:
            if (!json_is_array(v)) {
                why = "must be an array";
            } else if (json_array_size(v) == 0 || json_array_size(v) > f->cap) {
                why = "must have 1 to the allowed number of items";
            } else {
                *(json_t **)f->dest = v;
            }
            break;
        }
        if (why) {
            snprintf(rq->detail, sizeof rq->detail, "field '%s' %s", f->name, why);
            return DC_ERR_FIELD;
        }
    }
    return DC_OK;
}

/* ---- Idempotent execution ---------------------------------------------- */

struct idem_job {
    struct dc_req *rq;
    int64_t account;
    const char *request_id;
    dc_idem_fn fn;
    void *arg;
    struct dc_resp *rs;
    char *replayed; /* stored answer, when this is a retry */
    int replay_status;
    enum dc_err refused; /* fn's refusal, stored as the answer (DC_OK: none) */
    /* The answer text an attempt of this request stored. The writer may run
     * the job again after a batch whose commit went through (a connection
     * lost after COMMIT): the stored answer it then finds is this request's
     * own work, not a replay of another request's, when it is these bytes
     * (every answer carries fresh ids or serials). */
    char *own;
    int own_hit; /* the stored answer found is own */
};

/* A refusal that is the request's final answer: the request itself (its
 * body, the account's state) is refused, a 4xx of the registry. Storage,
 * capacity and shutdown errors are not: a retry may well succeed. */
static int is_final_refusal(enum dc_err e)
{
    int status = dc_err_http_status(e);
    return status >= 400 && status < 500 && !(e >= 3000 && e < 4000);
}

/* What an idempotency record binds a request id to: the route and the
 * exact body. The same id on another route (a fund's id reused for a
 * payout, a transfer's body sent to /v1/withdrawals) is a conflict, never
 * a replay of the other route's answer. */
static void idem_hash(const struct dc_req *rq, uint8_t h[DC_HASH_BYTES])
{
    crypto_generichash_state g;
    static const char label[] = "ducat/idempotency/v2";
    crypto_generichash_init(&g, NULL, 0, DC_HASH_BYTES);
    crypto_generichash_update(&g, (const uint8_t *)label, sizeof label);
    crypto_generichash_update(&g, (const uint8_t *)rq->method, strlen(rq->method) + 1);
    crypto_generichash_update(&g, (const uint8_t *)rq->path, strlen(rq->path) + 1);
    crypto_generichash_update(&g, rq->body, rq->body_len);
    crypto_generichash_final(&g, h, DC_HASH_BYTES);
}

void dc_req_count(struct dc_req *rq, int counter, uint64_t n)
{
    if (rq->n_counts < sizeof rq->counts / sizeof rq->counts[0]) {
        rq->counts[rq->n_counts].counter = counter;
        rq->counts[rq->n_counts].n = n;
        rq->n_counts++;
    } else {
        dc_metrics_add(rq->x->metrics, (enum dc_counter)counter, n); /* no room: count now */
    }
}

static void answer_stored(struct dc_resp *rs, char *stored, int status)
{
    json_decref(rs->json);
    rs->json = NULL;
    rs->text = stored;
    rs->content_type = "application/json";
    rs->status = status;
}

static void replay_into(struct dc_req *rq, struct dc_resp *rs, char *stored, int status)
{
    answer_stored(rs, stored, status);
    rq->replayed = 1;
    dc_req_count(rq, DC_M_IDEMPOTENT_REPLAYS, 1);
}

/* Keeps a copy of the answer text this attempt stored (idem_job.own). */
static enum dc_err keep_own(struct idem_job *j, const char *text)
{
    free(j->own);
    j->own = strdup(text);
    return j->own ? DC_OK : DC_ERR_NO_MEMORY;
}

enum dc_err dc_idempotent_replay(struct dc_req *rq, int64_t account, const char *request_id,
                                 struct dc_resp *rs, int *answered)
{
    *answered = 0;
    struct dc_request_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.account = account;
    snprintf(rec.request_id, sizeof rec.request_id, "%s", request_id);
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    e = st->ops->request_get(st, &rec);
    dc_pool_put(rq->x, st);
    if (e == DC_ERR_NOT_FOUND) return DC_OK;
    if (e != DC_OK) return e;
    uint8_t h[DC_HASH_BYTES];
    idem_hash(rq, h);
    if (memcmp(rec.body_hash, h, sizeof h) != 0) {
        free(rec.response);
        snprintf(rq->detail, sizeof rq->detail, "request_id '%s'", request_id);
        return DC_ERR_IDEMPOTENCY_CONFLICT;
    }
    replay_into(rq, rs, rec.response, rec.status);
    *answered = 1;
    return DC_OK;
}

static enum dc_err idem_run(struct dc_store *st, void *ctx)
{
    struct idem_job *j = ctx;
    /* the writer may run this job again after a retried batch */
    free(j->replayed);
    j->replayed = NULL;
    j->refused = DC_OK;
    json_decref(j->rs->json);
    j->rs->json = NULL;
    free(j->rs->text);
    j->rs->text = NULL;
    struct dc_request_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.account = j->account;
    snprintf(rec.request_id, sizeof rec.request_id, "%s", j->request_id);
    uint8_t h[DC_HASH_BYTES];
    idem_hash(j->rq, h);
    rec.will_put = 1; /* a miss runs fn and stores its answer below */
    enum dc_err e = st->ops->request_get(st, &rec);
    if (e == DC_OK) {
        int same = memcmp(rec.body_hash, h, sizeof h) == 0;
        if (!same) {
            free(rec.response);
            snprintf(j->rq->detail, sizeof j->rq->detail, "request_id '%s'", j->request_id);
            return DC_ERR_IDEMPOTENCY_CONFLICT;
        }
        j->replayed = rec.response;
        j->replay_status = rec.status;
        j->own_hit = j->own && strcmp(rec.response, j->own) == 0;
        return DC_OK;
    }
    if (e != DC_ERR_NOT_FOUND) return e;
    e = j->fn(st, j->rq, j->arg, j->rs);
    char *text;
    if (e != DC_OK && is_final_refusal(e)) {
        /* The refusal is this request id's answer, kept like a success:
         * the same signed request replayed later, to this instance or any
         * other on the database (their nonce tables are their own), gets
         * it again instead of running once the account can pay. What fn
         * wrote is undone; the job's savepoint is opened anew for the
         * record (rollback_to releases it; the writer releases this one). */
        enum dc_err r = st->ops->rollback_to(st);
        if (r == DC_OK) r = st->ops->savepoint(st);
        if (r != DC_OK) return r;
        json_decref(j->rs->json);
        j->rs->json = NULL;
        text = dc_error_text(e, j->rq->detail);
        if (!text) return DC_ERR_NO_MEMORY;
        memcpy(rec.body_hash, h, sizeof h);
        rec.status = dc_err_http_status(e);
        rec.created_at = j->rq->now;
        r = st->ops->request_put(st, &rec, text);
        if (r == DC_OK) r = keep_own(j, text);
        free(text);
        if (r != DC_OK) return r;
        j->refused = e;
        return DC_OK;
    }
    if (e != DC_OK) return e;
    text = j->rs->json ? json_dumps(j->rs->json, JSON_COMPACT) : strdup("{}");
    if (!text) return DC_ERR_NO_MEMORY;
    memcpy(rec.body_hash, h, sizeof h);
    rec.status = j->rs->status;
    rec.created_at = j->rq->now;
    e = st->ops->request_put(st, &rec, text);
    if (e == DC_OK) e = keep_own(j, text);
    /* the answer is the stored text itself: serialised once, and a
     * replay is byte for byte what the first answer was */
    json_decref(j->rs->json);
    j->rs->json = NULL;
    j->rs->text = text;
    j->rs->content_type = "application/json";
    return e;
}

/* What the request answers once its idem_run job is done with result e. */
static enum dc_err idem_result(struct idem_job *j, enum dc_err e)
{
    free(j->own);
    j->own = NULL;
    if (e == DC_OK) e = j->refused; /* rendered from rq->detail: the stored text */
    if (e != DC_OK) {
        free(j->replayed);
        j->replayed = NULL;
        return e;
    }
    if (j->replayed && j->own_hit) {
        /* this request's own answer, stored by an attempt whose commit went
         * through: sent as it was stored, counted as the request's work */
        answer_stored(j->rs, j->replayed, j->replay_status);
    } else if (j->replayed) {
        replay_into(j->rq, j->rs, j->replayed, j->replay_status);
    }
    return DC_OK;
}

enum dc_err dc_idempotent(struct dc_req *rq, int64_t account, const char *request_id, dc_idem_fn fn,
                          void *arg, struct dc_resp *rs)
{
    struct idem_job j = {rq, account, request_id, fn, arg, rs, NULL, 0, DC_OK, NULL, 0};
    return idem_result(&j, dc_writer_run(rq->x->writer, idem_run, &j));
}

/* A deferred dc_idempotent_then: the job, its request id, what runs after. */
struct idem_defer {
    struct idem_job j;
    char request_id[65];
    dc_idem_then then;
    struct dc_writer_job wj;
};

/* On the writer thread, once the batch is durable: the handler's tail, then
 * the HTTP layer renders the answer and resumes the connection. */
static void idem_defer_done(struct dc_writer_job *wj)
{
    struct idem_defer *d = (struct idem_defer *)((char *)wj - offsetof(struct idem_defer, wj));
    struct dc_req *rq = d->j.rq;
    struct dc_deferral *df = rq->deferral;
    enum dc_err e = d->then(rq, d->j.rs, idem_result(&d->j, wj->result), d->j.arg);
    free(d);
    df->finish(df, e); /* rq and rs are gone after this */
}

enum dc_err dc_idempotent_then(struct dc_req *rq, int64_t account, const char *request_id,
                               dc_idem_fn fn, void *arg, struct dc_resp *rs, dc_idem_then then)
{
    struct dc_deferral *df = rq->deferral;
    if (df) {
        struct idem_defer *d = malloc(sizeof *d);
        if (d) {
            snprintf(d->request_id, sizeof d->request_id, "%s", request_id);
            d->j =
                (struct idem_job){rq, account, d->request_id, fn, arg, rs, NULL, 0, DC_OK, NULL, 0};
            d->then = then;
            d->wj = (struct dc_writer_job){.fn = idem_run, .ctx = &d->j, .done = idem_defer_done};
            /* set first: once submitted, the writer may finish rq at any time */
            *df->deferred = 1;
            if (dc_writer_submit(rq->x->writer, &d->wj) == DC_OK) return DC_OK;
            *df->deferred = 0;
            free(d);
        }
    }
    return then(rq, rs, dc_idempotent(rq, account, request_id, fn, arg, rs), arg);
}

/* ---- Coins in a request body ------------------------------------------ */

enum dc_err dc_req_coin(struct dc_req *rq, const json_t *coins, size_t i, uint8_t **out,
                        size_t *len, struct dc_coin *coin)
{
    *out = NULL;
    *len = 0;
    const char *hex = json_string_value(json_array_get(coins, i));
    size_t hl = hex ? strlen(hex) : 0;
    if (!hex || hl % 2 || hl / 2 > DC_COIN_MAX_BYTES || hl == 0) {
        snprintf(rq->detail, sizeof rq->detail, "coins[%zu] must be a hex-encoded coin", i);
        return DC_ERR_FIELD;
    }
    uint8_t *b = malloc(hl / 2);
    if (!b) return DC_ERR_NO_MEMORY;
    if (dc_hex_decode(b, hl / 2, hex, hl) != DC_OK) {
        free(b);
        snprintf(rq->detail, sizeof rq->detail, "coins[%zu] is not valid hex", i);
        return DC_ERR_FIELD;
    }
    enum dc_err e = dc_coin_decode(coin, b, hl / 2);
    if (e != DC_OK) {
        free(b);
        snprintf(rq->detail, sizeof rq->detail, "coins[%zu]: %s", i, dc_err_str(e));
        return e;
    }
    *out = b;
    *len = hl / 2;
    return DC_OK;
}
