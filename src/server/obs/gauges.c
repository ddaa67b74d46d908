/*
 * gauges.c - what GET /metrics reads from the store at each scrape (open
 * cases and their exposure, frozen and held totals, the offline float, the
 * signing key's expiry, the last audit), and the counters the operator's
 * `ducatd` commands share with the server through the store.
 *
 * Why through the store: `ducatd holds release` or `ducatd fund` run in their
 * own process; a counter kept in that process dies with it. Each such
 * command adds to a row of the meta table ("counter:<metric name>") in the
 * same transaction as its work, and the server adds that row to its own
 * count when it renders the counter, so ducat_holds_released_total counts
 * releases by the timer, the API and the CLI alike.
 *
 * Cost: one pass over the frozen and held holds and the open cases per
 * scrape (a few ms at 100k holds on SQLite); scrape every 15-60 s.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/obs/gauges.h"

#include "ducat/amount.h"

#define COUNTER_PREFIX "counter:"

static enum dc_err counter_get(struct dc_store *st, const char *name, uint64_t *out)
{
    char key[96], v[32];
    snprintf(key, sizeof key, COUNTER_PREFIX "%s", name);
    enum dc_err e = st->ops->meta_get(st, key, v, sizeof v);
    *out = 0;
    if (e == DC_ERR_NOT_FOUND) return DC_OK;
    if (e != DC_OK) return e;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || end == v) return DC_ERR_INTERNAL;
    *out = n;
    return DC_OK;
}

enum dc_err dc_shared_counter_add(struct dc_store *st, enum dc_counter c, uint64_t n)
{
    if (n == 0) return DC_OK;
    const char *name = dc_metrics_counter_name(c);
    uint64_t have;
    enum dc_err e = counter_get(st, name, &have);
    if (e != DC_OK) return e;
    if (have > UINT64_MAX - n) have = 0; /* a counter wraps like any Prometheus counter */
    char key[96], v[32];
    snprintf(key, sizeof key, COUNTER_PREFIX "%s", name);
    snprintf(v, sizeof v, "%" PRIu64, have + n);
    return st->ops->meta_put(st, key, v);
}

struct sum {
    int64_t total;
    int64_t last;
    int rows;
    int overflow;
};

static int add_hold(void *ctx, const struct dc_hold *h)
{
    struct sum *s = ctx;
    s->rows++;
    s->last = h->id;
    if (!s->overflow && dc_i64_add(&s->total, s->total, h->amount) != DC_OK) s->overflow = 1;
    return 0;
}

/* Sum of every hold with this status, page by page. */
static enum dc_err holds_total(struct dc_store *st, int status, int64_t *out)
{
    struct sum s = {0, 0, 0, 0};
    enum { PAGE = 1000 };
    for (;;) {
        s.rows = 0;
        enum dc_err e = st->ops->holds_page(st, status, s.last, PAGE, add_hold, &s);
        if (e != DC_OK) return e;
        if (s.overflow) return DC_ERR_AMOUNT_OVERFLOW;
        if (s.rows < PAGE) break;
    }
    *out = s.total;
    return DC_OK;
}

static int add_case(void *ctx, const struct dc_case *c)
{
    struct dc_gauges *g = ctx;
    g->cases_open++;
    if (dc_i64_add(&g->exposure, g->exposure, c->exposure) != DC_OK) g->exposure = INT64_MAX;
    return 0;
}

static int last_key(void *ctx, const struct dc_key_rec *k)
{
    struct dc_gauges *g = ctx;
    struct dc_keycert c;
    if (k->key_id != g->key_id || dc_keycert_decode(&c, k->keycert, DC_KEYCERT_BYTES) != DC_OK) {
        return 0;
    }
    g->key_sign_until_ms = c.sign_until;
    g->key_verify_until_ms = c.verify_until;
    return 0;
}

static int count_provisional(void *ctx, const struct dc_hold *h)
{
    int64_t *n = ctx;
    if (h->release_provisional) (*n)++;
    return 0;
}

enum dc_err dc_holds_provisional_count(struct dc_store *st, int64_t *out)
{
    *out = 0;
    return st->ops->holds_list(st, DC_HOLDS_PROVISIONAL, 0, count_provisional, out);
}

static uint64_t meta_u64(struct dc_store *st, const char *key, int *found)
{
    char v[32];
    *found = 0;
    if (st->ops->meta_get(st, key, v, sizeof v) != DC_OK) return 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || end == v) return 0;
    *found = 1;
    return n;
}

enum dc_err dc_gauges_read(struct dc_gauges *g, uint64_t shared[DC_M_COUNT], struct dc_ctx *x,
                           struct dc_store *st)
{
    memset(g, 0, sizeof *g);
    memset(shared, 0, DC_M_COUNT * sizeof shared[0]);
    g->key_id = x->signer->key_id;
    enum dc_err e = st->ops->begin(st, 0);
    if (e != DC_OK) return e;
    for (int c = 0; e == DC_OK && c < DC_M_COUNT; c++) {
        e = counter_get(st, dc_metrics_counter_name((enum dc_counter)c), &shared[c]);
    }
    if (e == DC_OK) e = holds_total(st, DC_HOLD_FROZEN, &g->frozen);
    if (e == DC_OK) e = holds_total(st, DC_HOLD_HELD, &g->held);
    /* held credits, frozen ones included */
    if (e == DC_OK) e = dc_i64_add(&g->held, g->held, g->frozen);
    if (e == DC_OK) e = st->ops->case_list(st, DC_CASE_OPEN, add_case, g);
    struct dc_account fl;
    if (e == DC_OK) e = st->ops->account_get(st, &fl, DC_BY_ID, DC_ACCT_ID_FLOAT, NULL);
    if (e == DC_OK) g->float_out = fl.available + fl.held;
    if (e == DC_OK) e = st->ops->key_list(st, last_key, g);
    if (e == DC_OK) e = dc_holds_provisional_count(st, &g->holds_provisional);
    struct dc_calendar *cal = malloc(sizeof *cal);
    if (e == DC_OK && !cal) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK) {
        dc_ctx_calendar(x, cal);
        g->calendar_days_left = dc_calendar_days_left(cal, dc_calendar_local_day(cal, dc_now(x)));
    }
    free(cal);
    if (e == DC_OK) {
        g->audit_ok = (int)meta_u64(st, "audit:last_ok", &g->has_audit);
        g->audit_at_ms = meta_u64(st, "audit:last_at", &g->has_audit);
    }
    st->ops->rollback(st);
    g->ok = e == DC_OK;
    return e;
}

enum dc_err dc_audit_record(struct dc_store *st, int ok, uint64_t now)
{
    char v[32];
    snprintf(v, sizeof v, "%" PRIu64, now);
    enum dc_err e = st->ops->meta_put(st, "audit:last_ok", ok ? "1" : "0");
    return e == DC_OK ? st->ops->meta_put(st, "audit:last_at", v) : e;
}
