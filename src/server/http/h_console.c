/*
 * h_console.c - the operator's admin console and the admin reads it needs
 * beyond h_admin.c.
 *
 * GET /admin, /admin/console.js, /admin/console.css serve one static page,
 * its script and its style, compiled in from web/ (scripts/embed.sh makes
 * gen/console.h): no file is read at run time. The page holds no data; the
 * script asks for the admin token, keeps it in sessionStorage and calls the
 * admin API with it, so the static routes are public and every data call is
 * authenticated as any other. The routes carry DC_R_CONSOLE: with
 * [server] console = no they do not exist (404).
 *
 * Every console response carries a strict Content-Security-Policy (only
 * same-origin script, style and fetch; no inline code; no framing) and
 * nosniff / no-referrer, so a page that shows attacker-influenced text
 * (names, reasons) cannot be turned into script.
 *
 * GET /v1/admin/holds lists the frozen box page by page (keyset paging on
 * the hold id); GET /v1/admin/cases/{id}/evidence verifies a case's
 * evidence with the master public key and returns the two signed
 * successors it proves; GET /v1/admin/cases/{id}/events is the case's
 * journal (who did what, when, why).
 */
#include <stdlib.h>
#include <string.h>

#include "console.h" /* generated: console_files[] = {html, js, css} */
#include "ducat/coin.h"
#include "server/http/http.h"

/* ---- Static files ------------------------------------------------------ */

static const char *const console_headers[] = {
    "Content-Security-Policy",
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options",
    "nosniff",
    "Referrer-Policy",
    "no-referrer",
    "X-Frame-Options",
    "DENY",
    NULL,
};

static enum dc_err serve_file(struct dc_resp *rs, size_t i, const char *type)
{
    rs->text = strdup(console_files[i]);
    rs->content_type = type;
    rs->cache_control = "no-cache"; /* revalidate: a new ducatd may ship a new page */
    rs->headers = console_headers;
    return rs->text ? DC_OK : DC_ERR_NO_MEMORY;
}

enum dc_err dc_h_console_page(struct dc_req *rq, struct dc_resp *rs)
{
    (void)rq;
    return serve_file(rs, 0, "text/html; charset=utf-8");
}

enum dc_err dc_h_console_script(struct dc_req *rq, struct dc_resp *rs)
{
    (void)rq;
    return serve_file(rs, 1, "text/javascript; charset=utf-8");
}

enum dc_err dc_h_console_style(struct dc_req *rq, struct dc_resp *rs)
{
    (void)rq;
    return serve_file(rs, 2, "text/css; charset=utf-8");
}

/* ---- GET /v1/admin/holds ----------------------------------------------- */

#define HOLDS_LIMIT_DEFAULT 100
#define HOLDS_LIMIT_MAX 500

struct holds_page {
    json_t *arr;
    int64_t last;
    int64_t limit;
    int more; /* a row beyond the limit exists */
};

static int add_hold(void *ctx, const struct dc_hold *h)
{
    struct holds_page *p = ctx;
    if ((int64_t)json_array_size(p->arr) == p->limit) {
        p->more = 1;
        return 1;
    }
    p->last = h->id;
    json_array_append_new(p->arr, dc_json_hold(h, DC_HOLD_VIEW_PAGE));
    return 0;
}

enum dc_err dc_h_admin_holds(struct dc_req *rq, struct dc_resp *rs)
{
    const char *sv = rq->query(rq->conn, "status");
    int status = -1;
    if (sv) {
        static const int all[] = {DC_HOLD_HELD, DC_HOLD_FROZEN, DC_HOLD_RELEASED, DC_HOLD_REVERSED};
        status = -2;
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            if (strcmp(sv, dc_hold_status_name(all[i])) == 0) status = all[i];
        }
        if (status == -2) {
            snprintf(rq->detail, sizeof rq->detail,
                     "status must be held, frozen, released or reversed");
            return DC_ERR_FIELD;
        }
    }
    int64_t after, limit;
    enum dc_err e = dc_query_int(rq, "after", 0, INT64_MAX, 0, &after);
    if (e == DC_OK) {
        e = dc_query_int(rq, "limit", 1, HOLDS_LIMIT_MAX, HOLDS_LIMIT_DEFAULT, &limit);
    }
    if (e != DC_OK) return e;
    struct dc_store *st;
    e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    struct holds_page p = {json_array(), after, limit, 0};
    /* one row more than asked tells whether there is a next page */
    if (p.arr) e = st->ops->holds_page(st, status, after, (int)limit + 1, add_hold, &p);
    dc_pool_put(rq->x, st);
    if (!p.arr) return DC_ERR_NO_MEMORY;
    if (e != DC_OK) {
        json_decref(p.arr);
        return e;
    }
    /* the currency lets a client show the amounts (the console does) */
    const struct dc_currency *cur = &rq->x->cfg.currency;
    rs->json = json_pack("{s:o, s:o, s:{s:s, s:i}}", "holds", p.arr, "next",
                         p.more ? json_integer((json_int_t)p.last) : json_null(), "currency",
                         "code", cur->code, "exponent", (int)cur->exponent);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* ---- GET /v1/admin/cases/{id}/evidence --------------------------------- */

enum dc_err dc_h_admin_case_evidence(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    struct dc_case c;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    e = st->ops->case_get(st, &c, rq->path_id, NULL, NULL);
    dc_pool_put(rq->x, st);
    if (e != DC_OK) return e;
    struct dc_evidence_info info;
    e = dc_evidence_verify(&info, rq->x->master_pub, c.evidence, c.evidence_len);
    if (e != DC_OK) {
        snprintf(rq->detail, sizeof rq->detail, "case %lld: stored evidence: %s", (long long)c.id,
                 dc_err_name(e));
        dc_case_clear(&c);
        return DC_ERR_EVIDENCE_INVALID;
    }
    const uint8_t types[2] = {info.type_a, info.type_b};
    json_t *succ = json_array();
    for (int i = 0; succ && i < 2; i++) {
        json_array_append_new(
            succ, json_pack("{s:s, s:I, s:o}", "type", dc_json_record_type(types[i]), "bytes",
                            (json_int_t)info.succ_len[i], "record",
                            dc_json_hex(c.evidence + info.succ_off[i], info.succ_len[i])));
    }
    rs->json =
        json_pack("{s:I, s:b, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:o}", "case", (json_int_t)c.id,
                  "verified", 1, "kind", info.kind == DC_TYPE_REFUSAL_EVIDENCE ? "refusal" : "fork",
                  "culprit", dc_json_hex(info.culprit, DC_PUBKEY_BYTES), "alias",
                  dc_json_hex(info.alias, DC_ALIAS_BYTES), "serial",
                  dc_json_hex(info.serial, DC_SERIAL_BYTES), "state",
                  dc_json_hex(info.state, DC_HASH_BYTES), "value", (json_int_t)info.value,
                  "fork_index", (json_int_t)info.fork_index, "successors", succ);
    dc_case_clear(&c);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* ---- GET /v1/admin/cases/{id}/events ----------------------------------- */

enum dc_err dc_h_admin_case_events(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    struct dc_case c;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    json_t *events = NULL;
    /* one read transaction: the case exists and its events, one snapshot */
    e = st->ops->begin(st, 0);
    if (e == DC_OK) e = st->ops->case_get(st, &c, rq->path_id, NULL, NULL);
    if (e == DC_OK) {
        dc_case_clear(&c);
        e = dc_json_events(st, DC_EVENTS_CASE, rq->path_id, &events);
    }
    st->ops->rollback(st);
    dc_pool_put(rq->x, st);
    if (e != DC_OK) return e;
    rs->json = json_pack("{s:I, s:o}", "case", (json_int_t)rq->path_id, "events", events);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}
