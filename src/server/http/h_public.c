/*
 * h_public.c - unauthenticated endpoints and registration:
 * GET /v1/health, GET /v1/keys, GET /metrics, POST /v1/register.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"
#include "server/ledger/ledger.h"
#include "server/ledger/writer.h"
#include "server/obs/gauges.h"
#include "server/obs/metrics.h"

enum dc_err dc_h_health(struct dc_req *rq, struct dc_resp *rs)
{
    (void)rq;
    rs->json = json_pack("{s:s}", "status", "ok");
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* Readiness (liveness is /v1/health): the store answers, a hold made now
 * gets a release date from the calendar, and the signing key this process
 * loaded is still current. 503 DC_ERR_NOT_READY names what fails, so a
 * load balancer sends money requests elsewhere. */
enum dc_err dc_h_ready(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_ctx *x = rq->x;
    struct dc_store *st;
    char v[32];
    enum dc_err e = dc_pool_get(x, &st);
    if (e == DC_OK) {
        e = st->ops->meta_get(st, "current_key", v, sizeof v);
        dc_pool_put(x, st);
    }
    if (e != DC_OK) {
        snprintf(rq->detail, sizeof rq->detail, "store: %s", dc_err_str(e));
        return DC_ERR_NOT_READY;
    }
    uint64_t release = 0;
    struct dc_calendar *cal = malloc(sizeof *cal);
    if (!cal) return DC_ERR_NO_MEMORY;
    dc_ctx_calendar(x, cal); /* a reload may replace it meanwhile */
    e = dc_calendar_release_ms(&release, cal, rq->now, x->cfg.hold_working_days);
    free(cal);
    if (e != DC_OK) {
        snprintf(rq->detail, sizeof rq->detail, "calendar: no release date for a hold made now");
        return DC_ERR_NOT_READY;
    }
    if (x->signer_stale) {
        snprintf(rq->detail, sizeof rq->detail,
                 "signing key %u revoked or replaced, and the current one not loaded",
                 x->signer->key_id);
        return DC_ERR_NOT_READY;
    }
    rs->json =
        json_pack("{s:s, s:I}", "status", "ready", "hold_release_example", (json_int_t)release);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* With [metrics] token_hash set, /metrics wants `Authorization: Bearer
 * TOKEN` (Prometheus: authorization.credentials): its gauges show money
 * totals. The hashes are compared in constant time. */
static int metrics_allowed(struct dc_req *rq)
{
    if (!rq->x->has_metrics_token) return 1;
    const char *v = rq->header(rq->conn, "Authorization");
    if (!v || strncmp(v, "Bearer ", 7) != 0) return 0;
    uint8_t h[32];
    crypto_generichash(h, sizeof h, (const uint8_t *)v + 7, strlen(v + 7), NULL, 0);
    int ok = sodium_memcmp(h, rq->x->metrics_hash, sizeof h) == 0;
    sodium_memzero(h, sizeof h);
    return ok;
}

enum dc_err dc_h_metrics(struct dc_req *rq, struct dc_resp *rs)
{
    if (!metrics_allowed(rq)) {
        snprintf(rq->detail, sizeof rq->detail,
                 "/metrics wants the bearer token of [metrics] token_hash");
        return DC_ERR_ADMIN_AUTH;
    }
    struct dc_gauges g;
    uint64_t shared[DC_M_COUNT];
    struct dc_store *st;
    memset(&g, 0, sizeof g);
    memset(shared, 0, sizeof shared);
    if (dc_pool_get(rq->x, &st) == DC_OK) {
        enum dc_err e = dc_gauges_read(&g, shared, rq->x, st);
        g.nonces = dc_nonces_count(rq->x->nonces);
        if (e != DC_OK) dc_log(DC_LOG_WARN, "metrics: cannot read the gauges: %s", dc_err_str(e));
        dc_pool_put(rq->x, st);
    }
    struct dc_process_info p = {
        DC_VERSION, strncmp(rq->x->store_url, "sqlite:", 7) == 0 ? "sqlite" : "postgresql",
        rq->x->cfg.currency.code, rq->x->started_ms};
    rs->text = dc_metrics_render(rq->x->metrics, shared, &g, &p);
    rs->content_type = "text/plain; version=0.0.4";
    return rs->text ? DC_OK : DC_ERR_NO_MEMORY;
}

static const char *const weekday_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static json_t *dates(const int32_t *d, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        char s[16];
        if (dc_date_format(s, sizeof s, d[i]) == DC_OK) json_array_append_new(a, json_string(s));
    }
    return a;
}

static int add_revoked(void *ctx, const uint8_t *blob, size_t len)
{
    json_array_append_new(ctx, dc_json_hex(blob, len));
    return 0;
}

struct keys_ctx {
    json_t *arr;
};

static int add_key(void *ctx, const struct dc_key_rec *k)
{
    struct keys_ctx *kc = ctx;
    struct dc_keycert c;
    if (dc_keycert_decode(&c, k->keycert, DC_KEYCERT_BYTES) != DC_OK) return 0;
    /* a retired key (revoked for rotation) is not revoked for verifiers:
     * wallets keep accepting the coins it signed; retired_at says when it
     * stopped signing */
    json_t *o =
        json_pack("{s:I, s:o, s:I, s:I, s:I, s:o, s:I, s:I}", "key_id", (json_int_t)c.key_id, "pub",
                  dc_json_hex(c.pub, DC_PUBKEY_BYTES), "valid_from", (json_int_t)c.valid_from,
                  "sign_until", (json_int_t)c.sign_until, "verify_until",
                  (json_int_t)c.verify_until, "keycert", dc_json_hex(k->keycert, DC_KEYCERT_BYTES),
                  "revoked_at", (json_int_t)(k->retired ? 0 : k->revoked_at), "retired_at",
                  (json_int_t)(k->retired ? k->revoked_at : 0));
    json_array_append_new(kc->arr, o);
    return 0;
}

enum dc_err dc_h_keys(struct dc_req *rq, struct dc_resp *rs)
{
    const struct dc_config *c = &rq->x->cfg;
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    json_t *keys = json_array(), *revoked = json_array(), *denoms = json_array();
    struct keys_ctx kc = {keys};
    e = st->ops->key_list(st, add_key, &kc);
    if (e == DC_OK) e = st->ops->revoked_list(st, add_revoked, revoked);
    dc_pool_put(rq->x, st);
    for (size_t i = 0; i < c->denoms.n; i++) {
        json_array_append_new(denoms, json_integer(c->denoms.v[i]));
    }
    struct dc_calendar *cal = malloc(sizeof *cal);
    if (!cal) {
        json_decref(keys);
        json_decref(revoked);
        json_decref(denoms);
        return DC_ERR_NO_MEMORY;
    }
    dc_ctx_calendar(rq->x, cal); /* a reload may replace it meanwhile */
    json_t *weekend = json_array();
    for (int d = 0; d < 7; d++) {
        if (cal->weekend_mask & (1u << d)) {
            json_array_append_new(weekend, json_string(weekday_names[d]));
        }
    }
    rs->json = json_pack(
        "{s:o, s:{s:s, s:i, s:i}, s:o, s:o, s:{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:i, s:{s:i, s:o, s:o, s:o}}, s:o}",
        "master_pub", dc_json_hex(rq->x->master_pub, DC_PUBKEY_BYTES), "currency", "code",
        c->currency.code, "numeric", (int)c->currency.numeric, "exponent",
        (int)c->currency.exponent, "signing_keys", keys, "denominations", denoms, "limits",
        "max_hops", (int)c->max_hops, "max_split_parts", (int)c->max_split_parts,
        "coin_lifetime_ms", (json_int_t)((uint64_t)c->coin_lifetime_days * DC_DAY_MS),
        "cert_lifetime_ms", (json_int_t)((uint64_t)c->cert_lifetime_days * DC_DAY_MS),
        "deposit_grace_ms", (json_int_t)((uint64_t)c->deposit_grace_days * DC_DAY_MS),
        "default_offline_limit", (json_int_t)c->default_offline_limit, "max_body_bytes",
        (json_int_t)c->max_body, "max_deposit_coins", (json_int_t)DC_DEPOSIT_COINS_MAX, "hold",
        "working_days", (int)c->hold_working_days, "calendar", "utc_offset_min",
        (int)cal->utc_offset_min, "weekend", weekend, "holidays",
        dates(cal->holidays, cal->n_holidays), "workdays", dates(cal->workdays, cal->n_workdays),
        "revoked_devices", revoked);
    free(cal);
    rs->cache_control = "public, max-age=60";
    if (e != DC_OK) return e;
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* ---- Registration ------------------------------------------------------ */

struct reg_job {
    struct dc_ctx *x;
    uint64_t now;
    struct dc_account acct;
    uint8_t alias[DC_ALIAS_BYTES];
    int created;
};

static enum dc_err reg_run(struct dc_store *st, void *ctx)
{
    struct reg_job *j = ctx;
    return dc_ledger_register(st, j->x, j->now, &j->acct, j->alias, &j->created);
}

/* Text fields: printable UTF-8, no control characters. */
static int printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) return 0;
    }
    return *s != '\0';
}

enum dc_err dc_h_register(struct dc_req *rq, struct dc_resp *rs)
{
    struct reg_job j;
    memset(&j, 0, sizeof j);
    uint8_t pub[DC_PUBKEY_BYTES];
    const struct dc_jspec spec[] = {
        {"name", DC_J_STR, j.acct.name, sizeof j.acct.name, 0},
        {"national_id", DC_J_STR, j.acct.national_id, sizeof j.acct.national_id, 0},
        {"phone", DC_J_STR, j.acct.phone, sizeof j.acct.phone, 0},
        {"device_pub", DC_J_HEX, pub, DC_PUBKEY_BYTES, 0},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e != DC_OK) return e;
    if (!printable(j.acct.name) || !printable(j.acct.national_id) || !printable(j.acct.phone)) {
        snprintf(rq->detail, sizeof rq->detail,
                 "name, national_id and phone must be non-empty "
                 "text without control characters");
        return DC_ERR_FIELD;
    }
    if (memcmp(pub, rq->device, DC_PUBKEY_BYTES) != 0) {
        snprintf(rq->detail, sizeof rq->detail, "device_pub must be the signing key");
        return DC_ERR_AUTH_SIGNATURE;
    }
    memcpy(j.acct.device_pub, pub, DC_PUBKEY_BYTES);
    j.x = rq->x;
    j.now = rq->now;
    randombytes_buf(j.alias, sizeof j.alias);
    e = dc_writer_run(rq->x->writer, reg_run, &j);
    if (e == DC_ERR_STORE_CONSTRAINT) e = DC_ERR_ALREADY_REGISTERED;
    if (e != DC_OK) return e;
    rs->status = j.created ? 201 : 200;
    /* ids only: the real-name data stays in the database */
    if (j.created) {
        DC_LOG_EVENT(DC_LOG_INFO, "registration", DC_KV_N("account", j.acct.id),
                     DC_KV_S("status", dc_account_status_name(&j.acct)));
    }
    rs->json = json_pack("{s:I, s:o, s:s}", "account", (json_int_t)j.acct.id, "alias",
                         dc_json_hex(j.acct.alias, DC_ALIAS_BYTES), "status",
                         dc_account_status_name(&j.acct));
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}
