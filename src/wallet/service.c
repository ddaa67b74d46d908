/*
 * service.c - the wallet's online operations (see ducat/service.h).
 *
 * Every money-moving call is: persist a pending request (id + exact body),
 * save, send, apply the answer, forget the request, save. The answer is
 * applied by one function per kind, whether it came at the first try or at
 * a resume after a crash, so both paths are the same code.
 */
#include "ducat/service.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/auth.h"
#include "ducat/offline.h"

#define KIND_WITHDRAW "withdraw"
#define KIND_DEPOSIT "deposit"
#define KIND_TRANSFER "transfer"
#define KIND_CONFIG "cfg:currency"
#define KIND_OP "op"
#define KIND_RECLAIM "reclaim"

void dc_service_init(struct dc_service *s, struct dc_wallet *w, struct dc_client *c,
                     dc_service_save_fn save, void *save_ctx)
{
    memset(s, 0, sizeof *s);
    s->w = w;
    s->c = c;
    s->save = save;
    s->save_ctx = save_ctx;
    if (c) dc_client_set_key(c, dc_wallet_device_sk(w));
}

/* *sum += v for the totals a call reports (credited, withdrawn), which the
 * server supplied: checked by the one money helper, and past INT64_MAX kept
 * at INT64_MAX (the money itself is in the server's ledger; only the
 * report could be wrong, and a wrapped negative total would mislead). */
static void report_add(int64_t *sum, int64_t v)
{
    if (dc_i64_add(sum, *sum, v) != DC_OK) *sum = INT64_MAX;
}

int dc_service_is_transient(enum dc_err e)
{
    /* TRANSIENT by the registry, or any failure of the server or of the
     * way to it (a 5xx status: I/O, internal, storage): the request may
     * not have been done, and the stored request id makes a retry safe */
    return dc_err_class(e) == DC_CLASS_TRANSIENT || dc_err_http_status(e) >= 500;
}

__attribute__((format(printf, 2, 3))) static void set_detail(struct dc_service *s, const char *fmt,
                                                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->detail, sizeof s->detail, fmt, ap);
    va_end(ap);
}

static enum dc_err save(struct dc_service *s)
{
    enum dc_err e = s->save ? s->save(s->save_ctx, s->w) : DC_OK;
    if (e != DC_OK) set_detail(s, "%s", "cannot save the wallet");
    return e;
}

/* One HTTP call; on failure s->detail says why (server detail, else the
 * registry's message). */
static enum dc_err call(struct dc_service *s, int signed_, const char *method, const char *path,
                        const char *body, json_t **out)
{
    int status;
    char d[sizeof s->detail];
    *out = NULL;
    if (!s->c) {
        set_detail(s, "%s", "no server client");
        return DC_ERR_INVALID_ARGUMENT;
    }
    enum dc_err e = dc_client_call(s->c, signed_, method, path, body, &status, out, d, sizeof d);
    if (e != DC_OK) {
        if (d[0]) {
            set_detail(s, "%s", d);
        } else {
            set_detail(s, "%s", dc_err_str(e));
        }
        json_decref(*out);
        *out = NULL;
    }
    return e;
}

/* A hex field of exactly n bytes. */
static int json_hex(const json_t *o, const char *key, uint8_t *out, size_t n)
{
    const char *h = json_string_value(json_object_get(o, key));
    return h && dc_hex_decode(out, n, h, strlen(h)) == DC_OK;
}

static int64_t json_i64(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void json_strcpy(char *out, size_t cap, const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(out, cap, "%s", v ? v : "");
}

/* ---- Stored configuration ------------------------------------------------ */

enum dc_err dc_service_config(const struct dc_wallet *w, struct dc_service_config *out)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *body;
    size_t len;
    memset(out, 0, sizeof *out);
    enum dc_err e = dc_wallet_request_get(w, KIND_CONFIG, id, &body, &len, NULL);
    if (e != DC_OK) return DC_ERR_NOT_FOUND;
    json_t *j = json_loadb((const char *)body, len, 0, NULL);
    if (!j) return DC_ERR_DECODE_VALUE;
    const char *code = json_string_value(json_object_get(j, "code"));
    e = dc_currency_init(&out->currency, code ? code : "", (uint32_t)json_i64(j, "numeric"),
                         (unsigned)json_i64(j, "exponent"));
    out->hold_working_days = (uint32_t)json_i64(j, "hold_working_days");
    out->utc_offset_min = (int32_t)json_i64(j, "utc_offset_min");
    out->coin_lifetime_ms = (uint64_t)json_i64(j, "coin_lifetime_ms");
    out->deposit_grace_ms = (uint64_t)json_i64(j, "deposit_grace_ms");
    out->max_body_bytes = (size_t)json_i64(j, "max_body_bytes");
    out->max_deposit_coins = (size_t)json_i64(j, "max_deposit_coins");
    json_decref(j);
    uint8_t cert[DC_DEVCERT_BYTES];
    struct dc_devcert dc;
    if (e == DC_OK && dc_wallet_devcert(w, cert) == DC_OK &&
        dc_devcert_decode(&dc, cert, sizeof cert) == DC_OK) {
        out->offline_limit = dc.offline_limit;
    }
    return e;
}

static enum dc_err put_config(struct dc_wallet *w, const json_t *keys, uint64_t now)
{
    const json_t *cur = json_object_get(keys, "currency");
    const json_t *lim = json_object_get(keys, "limits");
    const json_t *hold = json_object_get(keys, "hold");
    json_t *c = json_pack(
        "{s:O?, s:I, s:I, s:I, s:I, s:I, s:I}", "code", json_object_get(cur, "code"), "numeric",
        (json_int_t)json_i64(cur, "numeric"), "exponent", (json_int_t)json_i64(cur, "exponent"),
        "hold_working_days", (json_int_t)json_i64(hold, "working_days"), "coin_lifetime_ms",
        (json_int_t)json_i64(lim, "coin_lifetime_ms"), "deposit_grace_ms",
        (json_int_t)json_i64(lim, "deposit_grace_ms"), "utc_offset_min",
        (json_int_t)json_i64(json_object_get(hold, "calendar"), "utc_offset_min"));
    /* What one request may carry (absent from servers before they were
     * published: the wallet then keeps to its own defaults). */
    if (c && json_i64(lim, "max_body_bytes") > 0) {
        json_object_set_new(c, "max_body_bytes", json_integer(json_i64(lim, "max_body_bytes")));
    }
    if (c && json_i64(lim, "max_deposit_coins") > 0) {
        json_object_set_new(c, "max_deposit_coins",
                            json_integer(json_i64(lim, "max_deposit_coins")));
    }
    char *txt = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(c);
    if (!txt) return DC_ERR_NO_MEMORY;
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES] = {0};
    enum dc_err e = dc_wallet_request_done(w, KIND_CONFIG);
    (void)e; /* absent the first time */
    e = dc_wallet_request_put(w, KIND_CONFIG, id, (const uint8_t *)txt, strlen(txt), now);
    free(txt);
    return e;
}

/* ---- Registration and sync ------------------------------------------------ */

enum dc_err dc_service_register(struct dc_service *s, const struct dc_service_identity *id,
                                struct dc_service_account *out)
{
    memset(out, 0, sizeof *out);
    s->detail[0] = '\0';
    uint8_t pub[DC_PUBKEY_BYTES];
    char pub_hex[2 * DC_PUBKEY_BYTES + 1];
    dc_wallet_device_pub(s->w, pub);
    dc_hex_encode(pub_hex, pub, sizeof pub);
    json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "name", id->name, "national_id",
                            id->national_id, "phone", id->phone, "device_pub", pub_hex);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) return DC_ERR_NO_MEMORY;
    json_t *j;
    enum dc_err e = call(s, 1, "POST", "/v1/register", body, &j);
    free(body);
    if (e != DC_OK) return e;
    out->account = (uint64_t)json_i64(j, "account");
    json_strcpy(out->status, sizeof out->status, j, "status");
    int alias_ok = json_hex(j, "alias", out->alias, DC_ALIAS_BYTES);
    json_decref(j);
    if (out->account == 0 || !alias_ok) {
        set_detail(s, "%s", "the server's answer has no account");
        return DC_ERR_DECODE_VALUE;
    }
    e = dc_wallet_set_server(s->w, dc_wallet_server_url(s->w), out->account);
    if (e != DC_OK) return e;
    return save(s);
}

/* Applies GET /v1/keys to the wallet's trust material. */
static enum dc_err apply_keys(struct dc_service *s, const json_t *j, uint64_t now,
                              const uint8_t *pin, struct dc_service_sync_result *out)
{
    struct dc_wallet_params p, old;
    memset(&p, 0, sizeof p);
    if (!json_hex(j, "master_pub", p.master_pub, DC_PUBKEY_BYTES)) {
        set_detail(s, "%s", "keys: master_pub missing or not 64 hex digits");
        return DC_ERR_DECODE_VALUE;
    }
    /* Trust on first use, then pinned: a server that changes its master key
     * would otherwise make the wallet accept coins from anyone. */
    const uint8_t *want = NULL;
    if (dc_wallet_params(s->w, &old) == DC_OK)
        want = old.master_pub;
    else if (pin)
        want = pin;
    if (want && sodium_memcmp(want, p.master_pub, DC_PUBKEY_BYTES) != 0) {
        set_detail(s, "%s", "the server's master key is not the one this wallet trusts");
        return DC_ERR_BAD_KEY;
    }
    const json_t *cur = json_object_get(j, "currency"), *lim = json_object_get(j, "limits");
    const json_t *denoms = json_object_get(j, "denominations");
    p.currency = (uint32_t)json_i64(cur, "numeric");
    if (json_is_integer(json_array_get(denoms, 0))) {
        p.base_unit = (int64_t)json_integer_value(json_array_get(denoms, 0));
    }
    int64_t hops = json_i64(lim, "max_hops"), parts = json_i64(lim, "max_split_parts");
    if (hops < 1 || hops > DC_HOP_LIMIT_MAX || parts < 2 || parts > DC_SPLIT_PARTS_MAX ||
        p.base_unit <= 0) {
        set_detail(s, "%s", "keys: limits or denominations out of range");
        return DC_ERR_DECODE_VALUE;
    }
    p.max_hops = (uint8_t)hops;
    p.max_split_parts = (uint8_t)parts;
    p.coin_lifetime_ms = (uint64_t)json_i64(lim, "coin_lifetime_ms");
    p.synced_at = now;

    const json_t *keys = json_object_get(j, "signing_keys");
    const json_t *rev = json_object_get(j, "revoked_devices");
    size_t nk = json_array_size(keys), nr = json_array_size(rev);
    if (nk == 0 || nk > DC_TRUST_KEYS_MAX || nr > DC_WALLET_REVOKED_MAX) {
        set_detail(s, "%s", "keys: no signing key, or too many keys or revoked devices");
        return DC_ERR_LIMIT_EXCEEDED;
    }
    uint8_t *kc = malloc(nk * DC_KEYCERT_BYTES);
    uint64_t *rat = malloc(nk * sizeof *rat);
    uint8_t(*rv)[DC_PUBKEY_BYTES] = malloc((nr ? nr : 1) * DC_PUBKEY_BYTES);
    enum dc_err e = (kc && rat && rv) ? DC_OK : DC_ERR_NO_MEMORY;
    for (size_t i = 0; e == DC_OK && i < nk; i++) {
        const json_t *k = json_array_get(keys, i);
        if (!json_hex(k, "keycert", kc + i * DC_KEYCERT_BYTES, DC_KEYCERT_BYTES)) {
            set_detail(s, "%s", "keys: a signing key certificate is not valid hex");
            e = DC_ERR_DECODE_VALUE;
        }
        rat[i] = (uint64_t)json_i64(k, "revoked_at");
    }
    uint8_t me[DC_PUBKEY_BYTES];
    dc_wallet_device_pub(s->w, me);
    for (size_t i = 0; e == DC_OK && i < nr; i++) {
        const char *h = json_string_value(json_array_get(rev, i));
        if (!h || dc_hex_decode(rv[i], DC_PUBKEY_BYTES, h, strlen(h)) != DC_OK) {
            set_detail(s, "%s", "keys: a revoked device key is not valid hex");
            e = DC_ERR_DECODE_VALUE;
        } else if (memcmp(rv[i], me, DC_PUBKEY_BYTES) == 0) {
            out->revoked_self = 1;
        }
    }
    if (e == DC_OK) {
        e = dc_wallet_set_trust(s->w, &p, kc, nk, rat, (const uint8_t(*)[DC_PUBKEY_BYTES])rv, nr);
        if (e != DC_OK) set_detail(s, "keys: %s", dc_err_str(e));
    }
    if (e == DC_OK) e = put_config(s->w, j, now);
    out->n_keys = nk;
    out->n_revoked = nr;
    free(kc);
    free(rat);
    free(rv);
    return e;
}

enum dc_err dc_service_sync(struct dc_service *s, uint64_t now, const uint8_t *pin,
                            struct dc_service_sync_result *out)
{
    memset(out, 0, sizeof *out);
    s->detail[0] = '\0';
    json_t *j;
    enum dc_err e = call(s, 0, "GET", "/v1/keys", NULL, &j);
    if (e != DC_OK) return e;
    e = apply_keys(s, j, now, pin, out);
    json_decref(j);
    if (e != DC_OK) return e;
    e = save(s);
    if (e != DC_OK) return e;
    if (dc_wallet_account(s->w) == 0) return DC_OK; /* not registered: keys only */

    e = call(s, 1, "POST", "/v1/sync", "{}", &j);
    if (e == DC_ERR_OFFLINE_BLOCKED) {
        out->offline_blocked = 1;
        return DC_OK;
    }
    if (e != DC_OK) return e;
    uint8_t cert[DC_DEVCERT_BYTES];
    out->account = (uint64_t)json_i64(j, "account");
    json_strcpy(out->status, sizeof out->status, j, "status");
    out->cert_expires_at = (uint64_t)json_i64(j, "expires_at");
    out->offline_limit = json_i64(j, "offline_limit");
    if (!json_hex(j, "devcert", cert, sizeof cert)) {
        set_detail(s, "%s", "sync: devcert missing or not hex");
        e = DC_ERR_DECODE_VALUE;
    }
    json_decref(j);
    if (e == DC_OK) e = dc_wallet_set_devcert(s->w, cert);
    if (e != DC_OK) return e;
    out->has_cert = 1;
    return save(s);
}

/* ---- Reading ---------------------------------------------------------------- */

enum dc_err dc_service_balance(struct dc_service *s, struct dc_service_balance *out)
{
    memset(out, 0, sizeof *out);
    s->detail[0] = '\0';
    json_t *j;
    enum dc_err e = call(s, 1, "GET", "/v1/balance", NULL, &j);
    if (e != DC_OK) return e;
    out->available = json_i64(j, "available");
    out->held = json_i64(j, "held");
    out->offline_outstanding = json_i64(j, "offline_outstanding");
    json_strcpy(out->status, sizeof out->status, j, "status");
    const json_t *holds = json_object_get(j, "holds");
    size_t n = json_array_size(holds);
    size_t first = n > DC_SERVICE_HOLDS_MAX ? n - DC_SERVICE_HOLDS_MAX : 0;
    for (size_t i = first; i < n; i++) {
        const json_t *h = json_array_get(holds, i);
        struct dc_service_hold *o = &out->holds[out->n_holds++];
        o->id = json_i64(h, "id");
        o->amount = json_i64(h, "amount");
        o->release_at = (uint64_t)json_i64(h, "release_at");
        json_strcpy(o->status, sizeof o->status, h, "status");
        o->case_id = json_i64(h, "case");
        o->release_provisional = json_is_true(json_object_get(h, "release_provisional"));
    }
    json_decref(j);
    return DC_OK;
}

enum dc_err dc_service_history(struct dc_service *s, int limit, int64_t before, json_t **out)
{
    char path[96];
    s->detail[0] = '\0';
    if (before > 0) {
        snprintf(path, sizeof path, "/v1/history?limit=%d&before=%lld", limit, (long long)before);
    } else {
        snprintf(path, sizeof path, "/v1/history?limit=%d", limit);
    }
    return call(s, 1, "GET", path, NULL, out);
}

/* ---- Operations: exactly once per command ----------------------------------- */

/*
 * An operation is what one command asks for: a payment, a withdrawal, a
 * deposit (possibly several requests), a refresh (deposits, then a
 * withdrawal). Its arguments are stored in the wallet under KIND_OP, in the
 * same save as its first request, and forgotten in the same save as its
 * last answer. While it is stored, the same call with the same arguments
 * finishes it and starts nothing new (a retry after exit 4 or a kill), and
 * any other money-moving call is refused with DC_ERR_WALLET_OP_PENDING and
 * a description of what is pending. A plain resume (sync, balance) finishes
 * it too. Body: {"args": {"cmd": ..., ...}, "credited": N, "phase": P}.
 */

static json_t *op_load(const struct dc_wallet *w)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *b;
    size_t len;
    if (dc_wallet_request_get(w, KIND_OP, id, &b, &len, NULL) != DC_OK) return NULL;
    json_t *j = json_loadb((const char *)b, len, 0, NULL);
    if (j && !json_is_object(json_object_get(j, "args"))) {
        json_decref(j);
        j = json_pack("{s:{s:s}}", "args", "cmd", "unknown");
    }
    return j;
}

/* Replaces the stored operation (in memory; the caller saves). */
static enum dc_err op_store(struct dc_service *s, const json_t *op, uint64_t now)
{
    char *txt = json_dumps(op, JSON_COMPACT | JSON_SORT_KEYS);
    if (!txt) return DC_ERR_NO_MEMORY;
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES] = {0};
    enum dc_err e = dc_wallet_request_done(s->w, KIND_OP);
    (void)e; /* absent when the operation starts */
    e = dc_wallet_request_put(s->w, KIND_OP, id, (const uint8_t *)txt, strlen(txt), now);
    free(txt);
    if (e != DC_OK) set_detail(s, "%s", "cannot record the operation in the wallet");
    return e;
}

static void op_forget(struct dc_service *s)
{
    enum dc_err e = dc_wallet_request_done(s->w, KIND_OP);
    (void)e; /* already gone: nothing to forget */
}

static const char *op_cmd(const json_t *op)
{
    const char *c = json_string_value(json_object_get(json_object_get(op, "args"), "cmd"));
    return c ? c : "";
}

enum dc_err dc_service_op_pending(const struct dc_wallet *w, struct dc_service_op *out)
{
    memset(out, 0, sizeof *out);
    json_t *op = op_load(w);
    if (!op) return DC_OK;
    const json_t *a = json_object_get(op, "args");
    snprintf(out->cmd, sizeof out->cmd, "%s", op_cmd(op));
    out->to = (uint64_t)json_i64(a, "to");
    out->amount = json_i64(a, "amount");
    json_strcpy(out->memo, sizeof out->memo, a, "memo");
    const json_t *coins = json_object_get(a, "coins");
    out->n_coins = json_array_size(coins);
    for (size_t i = 0; i < out->n_coins && i < DC_SERVICE_OP_COINS_MAX; i++) {
        out->coins[i] = (size_t)json_integer_value(json_array_get(coins, i));
    }
    out->credited = json_i64(op, "credited");
    json_decref(op);
    return DC_OK;
}

static void describe_op(struct dc_service *s, const json_t *op)
{
    const json_t *a = json_object_get(op, "args");
    const char *cmd = op_cmd(op);
    char num[DC_AMOUNT_STR_MAX] = "", amt[DC_AMOUNT_STR_MAX + 16];
    struct dc_service_config cfg;
    if (dc_service_config(s->w, &cfg) == DC_OK &&
        dc_amount_format(num, sizeof num, &cfg.currency,
                         (struct dc_amount){json_i64(a, "amount"), cfg.currency.numeric}) ==
            DC_OK) {
        snprintf(amt, sizeof amt, "%s %s", num, cfg.currency.code);
    } else {
        snprintf(amt, sizeof amt, "%lld (minor units)", (long long)json_i64(a, "amount"));
    }
    if (strcmp(cmd, "pay") == 0) {
        set_detail(s, "a payment of %s to account %lld is pending", amt,
                   (long long)json_i64(a, "to"));
    } else if (strcmp(cmd, "withdraw") == 0) {
        set_detail(s, "a withdrawal of %s is pending", amt);
    } else if (strcmp(cmd, "deposit") == 0) {
        set_detail(s, "%s", "a deposit is pending");
    } else if (strcmp(cmd, "refresh") == 0) {
        set_detail(s, "%s", "a refresh is pending");
    } else {
        set_detail(s, "an operation '%s' is pending", cmd);
    }
}

/* ---- Pending requests ------------------------------------------------------- */

static void new_id(uint8_t id[static DC_WALLET_REQUEST_ID_BYTES],
                   char hex[static 2 * DC_WALLET_REQUEST_ID_BYTES + 1])
{
    randombytes_buf(id, DC_WALLET_REQUEST_ID_BYTES);
    dc_hex_encode(hex, id, DC_WALLET_REQUEST_ID_BYTES);
}

/* Persists body under kind with id (and op, when not NULL, as the stored
 * operation), then saves: the crash-safety point. */
static enum dc_err persist_op(struct dc_service *s, const char *kind,
                              const uint8_t id[static DC_WALLET_REQUEST_ID_BYTES], json_t *body,
                              const json_t *op, uint64_t now)
{
    char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!txt) return DC_ERR_NO_MEMORY;
    enum dc_err e = dc_wallet_request_put(s->w, kind, id, (const uint8_t *)txt, strlen(txt), now);
    free(txt);
    if (e != DC_OK) {
        set_detail(s, "cannot record the %s request in the wallet", kind);
        return e;
    }
    if (op) {
        e = op_store(s, op, now);
        if (e != DC_OK) {
            enum dc_err e2 = dc_wallet_request_done(s->w, kind);
            (void)e2; /* just put */
            return e;
        }
    }
    return save(s);
}

static enum dc_err persist(struct dc_service *s, const char *kind,
                           const uint8_t id[static DC_WALLET_REQUEST_ID_BYTES], json_t *body,
                           uint64_t now)
{
    return persist_op(s, kind, id, body, NULL, now);
}

static const char *path_of(const char *kind)
{
    if (strcmp(kind, KIND_WITHDRAW) == 0) return "/v1/withdrawals";
    if (strcmp(kind, KIND_DEPOSIT) == 0) return "/v1/deposits";
    if (strcmp(kind, KIND_RECLAIM) == 0) return "/v1/reclaims";
    return "/v1/transfers";
}

/* Sends the pending request of `kind` (its stored id and body). *ans gets
 * the answer on DC_OK. *body_out (may be NULL) the parsed stored body. */
static enum dc_err send_pending(struct dc_service *s, const char *kind, json_t **ans,
                                json_t **body_out)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *body;
    size_t len;
    *ans = NULL;
    if (body_out) *body_out = NULL;
    enum dc_err e = dc_wallet_request_get(s->w, kind, id, &body, &len, NULL);
    if (e != DC_OK) return e;
    char *txt = malloc(len + 1);
    if (!txt) return DC_ERR_NO_MEMORY;
    memcpy(txt, body, len);
    txt[len] = '\0';
    if (body_out) *body_out = json_loads(txt, 0, NULL);
    e = call(s, 1, "POST", path_of(kind), txt, ans);
    free(txt);
    return e;
}

/*
 * The request is settled (answered for good): forget it and save. A
 * transfer or a withdrawal is the last request of its operation (pay,
 * withdraw, refresh), so the operation is forgotten in the same save: a
 * crash can leave neither a finished operation that a retry would run
 * again nor an operation with no request.
 */
static enum dc_err settle(struct dc_service *s, const char *kind)
{
    enum dc_err e = dc_wallet_request_done(s->w, kind);
    if (e != DC_OK) return e;
    if (strcmp(kind, KIND_DEPOSIT) != 0) op_forget(s);
    return save(s);
}

/* Keeps s->detail across a settle. */
static enum dc_err settle_keep(struct dc_service *s, const char *kind)
{
    char keep[sizeof s->detail];
    memcpy(keep, s->detail, sizeof keep);
    enum dc_err se = settle(s, kind);
    memcpy(s->detail, keep, sizeof keep);
    return se;
}

static int has_request(const struct dc_wallet *w, const char *kind)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *b;
    size_t len;
    return dc_wallet_request_get(w, kind, id, &b, &len, NULL) == DC_OK;
}

/* ---- Transfers ---------------------------------------------------------------- */

static enum dc_err finish_transfer(struct dc_service *s, struct dc_service_transfer *out)
{
    json_t *ans;
    enum dc_err e = send_pending(s, KIND_TRANSFER, &ans, NULL);
    if (e != DC_OK && dc_service_is_transient(e)) return e;
    if (e == DC_OK && out) {
        out->transfer_id = json_i64(ans, "transfer_id");
        out->amount = json_i64(ans, "amount");
        out->available = json_i64(ans, "available");
        out->to = (uint64_t)json_i64(ans, "to");
    }
    json_decref(ans);
    enum dc_err se = settle_keep(s, KIND_TRANSFER);
    return e != DC_OK ? e : se;
}

/* Forward declarations: an operation of any kind can be finished from
 * any entry point (its own retry, or a resume). */
static enum dc_err finish_op(struct dc_service *s, const json_t *op, uint64_t now,
                             struct dc_service_resumed *r, void *result);

/*
 * The entry of every money-moving call with arguments args (borrowed).
 * *op_out = NULL: nothing pending, start the operation. *op_out set: the
 * same operation is pending, finish it (caller json_decrefs). Another
 * operation pending: DC_ERR_WALLET_OP_PENDING, s->detail says which.
 * Requests of a wallet written before operations were stored (no KIND_OP)
 * are resumed first, as they always were.
 */
static enum dc_err op_begin(struct dc_service *s, const json_t *args, uint64_t now, json_t **op_out)
{
    *op_out = NULL;
    json_t *op = op_load(s->w);
    if (!op) {
        if (has_request(s->w, KIND_TRANSFER) || has_request(s->w, KIND_WITHDRAW) ||
            has_request(s->w, KIND_DEPOSIT)) {
            return dc_service_resume(s, now, NULL);
        }
        return DC_OK;
    }
    if (json_equal(json_object_get(op, "args"), args)) {
        *op_out = op;
        return DC_OK;
    }
    describe_op(s, op);
    json_decref(op);
    return DC_ERR_WALLET_OP_PENDING;
}

/*
 * op_begin for a public call, which ends here (returns 1, *e its result)
 * when another operation is pending or the same one was finished (then
 * *resumed = 1 and result, the call's own result struct, is filled). Takes
 * args when it returns 1.
 */
static int op_enter(struct dc_service *s, json_t *args, uint64_t now, int *resumed, void *result,
                    enum dc_err *e)
{
    json_t *op;
    *e = op_begin(s, args, now, &op);
    if (*e == DC_OK && !op) return 0;
    json_decref(args);
    if (*e != DC_OK) return 1;
    *resumed = 1;
    *e = finish_op(s, op, now, NULL, result);
    json_decref(op);
    return 1;
}

enum dc_err dc_service_pay(struct dc_service *s, uint64_t to, int64_t amount, const char *memo,
                           uint64_t now, struct dc_service_transfer *out)
{
    memset(out, 0, sizeof *out);
    s->detail[0] = '\0';
    if (amount <= 0) return DC_ERR_AMOUNT_ZERO;
    json_t *args = json_pack("{s:s, s:I, s:I}", "cmd", "pay", "to", (json_int_t)to, "amount",
                             (json_int_t)amount);
    if (args && memo && *memo) json_object_set_new(args, "memo", json_string(memo));
    if (!args) return DC_ERR_NO_MEMORY;
    json_t *op;
    enum dc_err e;
    if (op_enter(s, args, now, &out->resumed, out, &e)) return e;
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    char hex[2 * DC_WALLET_REQUEST_ID_BYTES + 1];
    new_id(id, hex);
    json_t *b = json_pack("{s:s, s:I, s:I}", "request_id", hex, "to", (json_int_t)to, "amount",
                          (json_int_t)amount);
    if (b && memo && *memo) json_object_set_new(b, "memo", json_string(memo));
    op = json_pack("{s:o}", "args", args);
    e = b && op ? persist_op(s, KIND_TRANSFER, id, b, op, now) : DC_ERR_NO_MEMORY;
    json_decref(b);
    json_decref(op);
    if (e != DC_OK) return e;
    return finish_transfer(s, out);
}

/* ---- Withdrawals -------------------------------------------------------------- */

static enum dc_err finish_withdraw(struct dc_service *s, uint64_t now,
                                   struct dc_service_withdrawal *out)
{
    json_t *ans;
    enum dc_err e = send_pending(s, KIND_WITHDRAW, &ans, NULL);
    if (e != DC_OK) {
        json_decref(ans);
        if (dc_service_is_transient(e)) return e;
        enum dc_err se = settle_keep(s, KIND_WITHDRAW);
        return se != DC_OK ? se : e;
    }
    const json_t *coins = json_object_get(ans, "coins");
    size_t n = json_array_size(coins);
    uint8_t cert[DC_DEVCERT_BYTES];
    uint8_t **bufs = calloc(n ? n : 1, sizeof *bufs);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    e = (bufs && lens) ? DC_OK : DC_ERR_NO_MEMORY;
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        const char *h = json_string_value(json_array_get(coins, i));
        size_t hl = h ? strlen(h) : 0;
        if (!h || hl == 0 || hl % 2 || hl / 2 > DC_COIN_MAX_BYTES) {
            e = DC_ERR_DECODE_VALUE;
            break;
        }
        bufs[i] = malloc(hl / 2);
        lens[i] = hl / 2;
        if (!bufs[i])
            e = DC_ERR_NO_MEMORY;
        else if (dc_hex_decode(bufs[i], hl / 2, h, hl) != DC_OK)
            e = DC_ERR_DECODE_VALUE;
    }
    if (e == DC_OK && json_hex(ans, "devcert", cert, sizeof cert)) {
        e = dc_wallet_set_devcert(s->w, cert);
    }
    size_t added = 0;
    if (e == DC_OK) {
        e = dc_wallet_accept_coins(s->w, (const uint8_t *const *)bufs, lens, n, now, &added);
    }
    if (e != DC_OK) {
        set_detail(s, "the server's coins do not fit this wallet: %s", dc_err_str(e));
    } else if (out) {
        out->withdrawal_id = json_i64(ans, "withdrawal_id");
        out->amount = json_i64(ans, "amount");
        out->n_coins = n;
    }
    for (size_t i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    free(lens);
    json_decref(ans);
    /* Coins that do not fit stay claimable: the request stays pending and
     * a later resume re-fetches the same coins. */
    if (e != DC_OK) return e;
    return settle(s, KIND_WITHDRAW);
}

/* Puts a withdrawal of amount (with op as the stored operation) and sends it. */
static enum dc_err withdraw_start(struct dc_service *s, int64_t amount, const json_t *op,
                                  uint64_t now, struct dc_service_withdrawal *out)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    char hex[2 * DC_WALLET_REQUEST_ID_BYTES + 1];
    new_id(id, hex);
    json_t *b = json_pack("{s:s, s:I}", "request_id", hex, "amount", (json_int_t)amount);
    enum dc_err e = b ? persist_op(s, KIND_WITHDRAW, id, b, op, now) : DC_ERR_NO_MEMORY;
    json_decref(b);
    if (e != DC_OK) return e;
    return finish_withdraw(s, now, out);
}

enum dc_err dc_service_withdraw(struct dc_service *s, int64_t amount, uint64_t now,
                                struct dc_service_withdrawal *out)
{
    memset(out, 0, sizeof *out);
    s->detail[0] = '\0';
    if (amount <= 0) return DC_ERR_AMOUNT_ZERO;
    json_t *args = json_pack("{s:s, s:I}", "cmd", "withdraw", "amount", (json_int_t)amount);
    if (!args) return DC_ERR_NO_MEMORY;
    json_t *op;
    enum dc_err e;
    if (op_enter(s, args, now, &out->resumed, out, &e)) return e;
    op = json_pack("{s:o}", "args", args);
    e = op ? withdraw_start(s, amount, op, now, out) : DC_ERR_NO_MEMORY;
    json_decref(op);
    return e;
}

/* ---- Deposits ------------------------------------------------------------------- */

/* The wallet index of the PENDING_OUT coin whose bytes are exactly these. */
static int find_pending(const struct dc_wallet *w, const uint8_t *b, size_t len, size_t *idx)
{
    for (size_t i = 0; i < dc_wallet_coin_count(w); i++) {
        struct dc_wallet_coin_info ci;
        const uint8_t *cb;
        size_t cl;
        if (dc_wallet_coin_info(w, i, &ci) != DC_OK || ci.status != DC_WALLET_PENDING_OUT) continue;
        if (dc_wallet_coin_bytes(w, i, &cb, &cl) == DC_OK && cl == len && memcmp(cb, b, len) == 0) {
            *idx = i;
            return 1;
        }
    }
    return 0;
}

/* Marks the coin given as hex (from a stored deposit body) SPENT. */
static void confirm_hex(struct dc_wallet *w, const char *hex)
{
    size_t hl = hex ? strlen(hex) : 0;
    if (hl == 0 || hl % 2 || hl / 2 > DC_COIN_MAX_BYTES) return;
    uint8_t *b = malloc(hl / 2);
    size_t idx;
    if (b && dc_hex_decode(b, hl / 2, hex, hl) == DC_OK && find_pending(w, b, hl / 2, &idx)) {
        enum dc_err e = dc_wallet_confirm_deposit(w, idx);
        (void)e; /* idempotent; NOT_FOUND cannot happen for a found index */
    }
    free(b);
}

static void report_coin(struct dc_service_deposit *out, const json_t *c)
{
    if (!out || out->n >= sizeof out->coin / sizeof out->coin[0]) return;
    struct dc_service_deposit_coin *o = &out->coin[out->n++];
    memset(o, 0, sizeof *o);
    json_hex(c, "serial", o->serial, DC_SERIAL_BYTES);
    o->amount = json_i64(c, "amount");
    o->release_at = (uint64_t)json_i64(c, "release_at");
    json_strcpy(o->status, sizeof o->status, c, "status");
    o->case_id = json_i64(c, "case");
    o->flagged = json_is_true(json_object_get(c, "flagged"));
    o->release_provisional = json_is_true(json_object_get(c, "release_provisional"));
    if (o->case_id) out->n_frozen++;
}

/* A coin the wallet could not deposit: reported with its reason. status
 * "refused" (the server refused it for good; it left the wallet) or "kept"
 * (the wallet could not sign or send it; it is still in the wallet). */
static void report_failed(struct dc_service_deposit *out, const uint8_t *b, size_t len,
                          const char *status, enum dc_err why)
{
    if (!out) return;
    if (strcmp(status, "refused") == 0)
        out->n_refused++;
    else
        out->n_kept++;
    if (out->n >= sizeof out->coin / sizeof out->coin[0]) return;
    struct dc_service_deposit_coin *o = &out->coin[out->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->status, sizeof o->status, "%s", status);
    o->err = why;
    struct dc_coin *c = malloc(sizeof *c);
    if (c && b && dc_coin_decode(c, b, len) == DC_OK) {
        memcpy(o->serial, c->genesis.serial, DC_SERIAL_BYTES);
        o->amount = dc_coin_value(c);
    }
    free(c);
}

static void report_refused_hex(struct dc_service_deposit *out, const char *h, enum dc_err why)
{
    size_t hl = h ? strlen(h) : 0;
    uint8_t *b = hl && hl % 2 == 0 ? malloc(hl / 2) : NULL;
    if (b && dc_hex_decode(b, hl / 2, h, hl) != DC_OK) {
        free(b);
        b = NULL;
    }
    report_failed(out, b, b ? hl / 2 : 0, "refused", why);
    free(b);
}

/* A coin-level refusal: the coin is worthless to the server for good. */
static int coin_refusal(enum dc_err e)
{
    return (int)e >= 1200 && (int)e < 1500;
}

/* Adds what a deposit credited to a refresh operation's tally (in memory;
 * the settle that follows saves it with the answer). */
static void op_add_credited(struct dc_service *s, int64_t credited)
{
    json_t *op = op_load(s->w);
    if (!op) return;
    int64_t sum;
    if (dc_i64_add(&sum, json_i64(op, "credited"), credited) != DC_OK) sum = INT64_MAX;
    json_object_set_new(op, "credited", json_integer((json_int_t)sum));
    enum dc_err e = op_store(s, op, 0);
    (void)e; /* only the report of a resumed refresh depends on it */
    json_decref(op);
}

/*
 * Sends the pending deposit and applies the answer. A definitive refusal
 * forgets the request; *refused_body (may be NULL) then receives its body
 * so the caller can retry coin by coin.
 */
static enum dc_err finish_deposit(struct dc_service *s, struct dc_service_deposit *out,
                                  json_t **refused_body)
{
    json_t *ans, *body;
    if (refused_body) *refused_body = NULL;
    enum dc_err e = send_pending(s, KIND_DEPOSIT, &ans, &body);
    const json_t *sent = json_object_get(body, "coins");
    if (e != DC_OK && dc_service_is_transient(e)) {
        json_decref(body);
        return e;
    }
    int refused_one = 0;
    if (e == DC_OK) {
        for (size_t i = 0; i < json_array_size(sent); i++) {
            confirm_hex(s->w, json_string_value(json_array_get(sent, i)));
        }
        const json_t *coins = json_object_get(ans, "coins");
        for (size_t i = 0; i < json_array_size(coins); i++) {
            report_coin(out, json_array_get(coins, i));
        }
        if (out) report_add(&out->credited, json_i64(ans, "credited"));
        op_add_credited(s, json_i64(ans, "credited"));
        json_decref(body);
    } else if (json_array_size(sent) == 1 && coin_refusal(e)) {
        /* This one coin is refused for good (already deposited, expired past
         * the grace period, signed by a revoked key...): it leaves the wallet. */
        const char *h = json_string_value(json_array_get(sent, 0));
        confirm_hex(s->w, h);
        report_refused_hex(out, h, e);
        refused_one = 1;
        json_decref(body);
    } else if (refused_body) {
        *refused_body = body;
    } else {
        json_decref(body);
    }
    json_decref(ans);
    enum dc_err se = settle_keep(s, KIND_DEPOSIT);
    if (se != DC_OK) {
        /* not saved: stop here, the next call finds the request again */
        if (refused_body) {
            json_decref(*refused_body);
            *refused_body = NULL;
        }
        return se;
    }
    /* a single coin refused for good is reported, not an error of the call */
    return refused_one ? DC_OK : e;
}

/* Puts a deposit of these coin hexes and sends it. */
static enum dc_err deposit_once(struct dc_service *s, json_t *hexes, uint64_t now,
                                struct dc_service_deposit *out, json_t **refused_body)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    char hex[2 * DC_WALLET_REQUEST_ID_BYTES + 1];
    new_id(id, hex);
    json_t *b = json_pack("{s:s, s:O}", "request_id", hex, "coins", hexes);
    enum dc_err e = b ? persist(s, KIND_DEPOSIT, id, b, now) : DC_ERR_NO_MEMORY;
    json_decref(b);
    if (e != DC_OK) return e;
    return finish_deposit(s, out, refused_body);
}

/* 1 if coin i is PENDING_OUT with a DEPOSIT record (signed for the server). */
static int pending_deposit(const struct dc_wallet *w, size_t i, struct dc_coin *c)
{
    struct dc_wallet_coin_info ci;
    const uint8_t *b;
    size_t len;
    if (dc_wallet_coin_info(w, i, &ci) != DC_OK || ci.status != DC_WALLET_PENDING_OUT) return 0;
    if (dc_wallet_coin_bytes(w, i, &b, &len) != DC_OK || dc_coin_decode(c, b, len) != DC_OK)
        return 0;
    return c->n > 0 && c->rec[c->n - 1].type == DC_TYPE_DEPOSIT;
}

/* What one deposit request may carry, as the server published it at the
 * last sync (GET /v1/keys "limits"), within what one wallet slot holds. */
static void deposit_limits(const struct dc_wallet *w, size_t *max_body, size_t *max_coins)
{
    struct dc_service_config cfg;
    *max_body = DC_WALLET_REQUEST_BODY_MAX;
    *max_coins = DC_SERVICE_DEPOSIT_COINS_DEFAULT;
    if (dc_service_config(w, &cfg) == DC_OK) {
        if (cfg.max_body_bytes > 0 && cfg.max_body_bytes < *max_body) {
            *max_body = cfg.max_body_bytes;
        }
        if (cfg.max_deposit_coins > 0) *max_coins = cfg.max_deposit_coins;
    }
}

/* Request overhead besides the coins: {"request_id":"<32 hex>","coins":[]} */
#define DEPOSIT_BODY_OVERHEAD 64

/*
 * Deposits every coin signed for deposit (PENDING_OUT with a DEPOSIT
 * record), in requests that fit the server's limits, after finishing a
 * request left pending. A request the server refuses for good is retried
 * coin by coin, so that only the coins at fault are refused. Stops at the
 * first transient failure (everything left stays signed and is finished by
 * the next call) or at a refusal that is not about a coin (the account is
 * frozen, ...), which it returns.
 */
static enum dc_err deposit_run(struct dc_service *s, uint64_t now, struct dc_service_deposit *out)
{
    enum dc_err e = DC_OK;
    if (has_request(s->w, KIND_DEPOSIT)) {
        json_t *refused = NULL;
        e = finish_deposit(s, out, &refused);
        json_decref(refused); /* its coins are still signed: the loop retries them */
        if (e != DC_OK && (dc_service_is_transient(e) || !refused)) return e;
    }
    size_t max_body, max_coins;
    deposit_limits(s->w, &max_body, &max_coins);
    size_t n = dc_wallet_coin_count(s->w);
    unsigned char *tried = calloc(n ? n : 1, 1);
    struct dc_coin *c = malloc(sizeof *c);
    if (!tried || !c) {
        free(tried);
        free(c);
        return DC_ERR_NO_MEMORY;
    }
    e = DC_OK;
    for (;;) {
        json_t *hexes = json_array();
        size_t body = DEPOSIT_BODY_OVERHEAD, k = 0;
        for (size_t i = 0; hexes && i < n && k < max_coins; i++) {
            if (tried[i] || !pending_deposit(s->w, i, c)) continue;
            const uint8_t *b;
            size_t len;
            if (dc_wallet_coin_bytes(s->w, i, &b, &len) != DC_OK) continue;
            size_t need = 2 * len + 3; /* quotes and a comma */
            if (DEPOSIT_BODY_OVERHEAD + need > max_body) {
                /* A coin that cannot fit any request the server takes: say
                 * so and keep it (a server with a larger limit takes it). */
                tried[i] = 1;
                report_failed(out, b, len, "kept", DC_ERR_BODY_TOO_LARGE);
                continue;
            }
            if (body + need > max_body) continue;
            char *h = malloc(2 * len + 1);
            if (!h) break;
            dc_hex_encode(h, b, len);
            json_array_append_new(hexes, json_string(h));
            free(h);
            body += need;
            tried[i] = 1;
            k++;
        }
        if (!hexes) {
            e = DC_ERR_NO_MEMORY;
            break;
        }
        if (k == 0) {
            json_decref(hexes);
            break;
        }
        json_t *refused = NULL;
        e = deposit_once(s, hexes, now, out, k > 1 ? &refused : NULL);
        json_decref(hexes);
        if (e == DC_OK) continue;
        if (!refused) break; /* transient, or not about a coin */
        /* The batch was refused for good: one coin at a time. */
        const json_t *coins = json_object_get(refused, "coins");
        for (size_t i = 0; i < json_array_size(coins); i++) {
            json_t *one = json_array();
            json_array_append(one, json_array_get(coins, i));
            e = one ? deposit_once(s, one, now, out, NULL) : DC_ERR_NO_MEMORY;
            json_decref(one);
            if (e != DC_OK) break;
        }
        json_decref(refused);
        if (e != DC_OK) break;
    }
    free(tried);
    free(c);
    return e;
}

/*
 * Signs a DEPOSIT record on each chosen coin (idx[0..n), or every HELD
 * coin of ours when idx is NULL). A coin that cannot be signed is reported
 * ("kept", with the reason) and the others go on; only running out of
 * memory stops. The signed coins are PENDING_OUT from here on.
 */
static enum dc_err sign_for_deposit(struct dc_service *s, const size_t *idx, size_t n, uint64_t now,
                                    struct dc_service_deposit *out, size_t *signed_n)
{
    uint64_t account = dc_wallet_account(s->w);
    size_t total = dc_wallet_coin_count(s->w), count = idx ? n : total;
    struct dc_coin *c = malloc(sizeof *c);
    if (!c) return DC_ERR_NO_MEMORY;
    enum dc_err e = DC_OK;
    *signed_n = 0;
    for (size_t k = 0; k < count; k++) {
        size_t i = idx ? idx[k] : k;
        struct dc_wallet_coin_info ci;
        if (dc_wallet_coin_info(s->w, i, &ci) != DC_OK) {
            snprintf(s->detail, sizeof s->detail, "no coin number %zu in this wallet", i);
            e = DC_ERR_NOT_FOUND;
            break;
        }
        int held = ci.status == DC_WALLET_HELD && ci.is_ours;
        if (!held && !pending_deposit(s->w, i, c)) {
            if (!idx) continue;
            snprintf(s->detail, sizeof s->detail, "coin %zu is not held by this wallet", i);
            e = DC_ERR_COIN_SPENT;
            break;
        }
        const uint8_t *b;
        size_t len;
        enum dc_err e1 = dc_wallet_prepare_deposit(s->w, i, account, now, &b, &len);
        if (e1 == DC_ERR_NO_MEMORY) {
            e = e1;
            break;
        }
        if (e1 != DC_OK) {
            const uint8_t *cb = NULL;
            size_t cl = 0;
            if (dc_wallet_coin_bytes(s->w, i, &cb, &cl) != DC_OK) cb = NULL;
            report_failed(out, cb, cl, "kept", e1);
            continue;
        }
        (*signed_n)++;
    }
    free(c);
    return e;
}

enum dc_err dc_service_deposit(struct dc_service *s, const size_t *idx, size_t n, uint64_t now,
                               struct dc_service_deposit *out)
{
    memset(out, 0, sizeof *out);
    s->detail[0] = '\0';
    if (dc_wallet_account(s->w) == 0) {
        set_detail(s, "%s", "this wallet is not registered");
        return DC_ERR_NO_ACCOUNT;
    }
    json_t *args = json_pack("{s:s}", "cmd", "deposit");
    if (args && idx) {
        json_t *arr = json_array();
        for (size_t k = 0; arr && k < n; k++)
            json_array_append_new(arr, json_integer((json_int_t)idx[k]));
        json_object_set_new(args, "coins", arr);
    }
    if (!args) return DC_ERR_NO_MEMORY;
    json_t *op;
    enum dc_err e;
    if (op_enter(s, args, now, &out->resumed, out, &e)) return e;
    /* Sign every deposit record first, then store the operation with them
     * in one save: from then on a retry deposits exactly these coins. */
    size_t signed_n = 0;
    e = sign_for_deposit(s, idx, n, now, out, &signed_n);
    size_t pending = 0;
    struct dc_coin *c = malloc(sizeof *c);
    for (size_t i = 0; c && e == DC_OK && i < dc_wallet_coin_count(s->w); i++) {
        pending += (size_t)pending_deposit(s->w, i, c);
    }
    free(c);
    if (e == DC_OK && pending == 0) {
        json_decref(args);
        if (out->n_kept) {
            set_detail(s, "%s", "no coin could be signed for deposit");
            return out->coin[0].err;
        }
        set_detail(s, "%s", "no coins to deposit");
        return DC_ERR_NOT_FOUND;
    }
    op = e == DC_OK ? json_pack("{s:o}", "args", args) : (json_decref(args), NULL);
    if (e == DC_OK && !op) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK) e = op_store(s, op, now);
    if (e == DC_OK) e = save(s);
    if (e == DC_OK) {
        e = finish_op(s, op, now, NULL, out);
    }
    json_decref(op);
    return e;
}

/* ---- Refresh -------------------------------------------------------------------- */

/*
 * The withdrawal half of a refresh: replace within the available balance
 * (the deposit went to the held balance, so it does not fund this) and
 * within the offline limit: the server counts the coins this account
 * withdrew and nobody deposited yet against the limit of its certificate.
 * Coins received from others are not counted there, so depositing them
 * frees no room; ask only for what fits instead of being refused, rounded
 * down to the smallest coin.
 */
static enum dc_err refresh_withdraw(struct dc_service *s, json_t *op, uint64_t now,
                                    struct dc_service_refresh *out)
{
    struct dc_service_balance *bal = calloc(1, sizeof *bal);
    if (!bal) return DC_ERR_NO_MEMORY;
    enum dc_err e = dc_service_balance(s, bal);
    int64_t available = bal->available, outstanding = bal->offline_outstanding;
    free(bal);
    if (e != DC_OK) return e;
    struct dc_service_config cfg;
    struct dc_wallet_params p;
    int64_t room = INT64_MAX, unit = 1;
    if (dc_service_config(s->w, &cfg) == DC_OK && cfg.offline_limit > 0) {
        room = outstanding >= cfg.offline_limit ? 0 : cfg.offline_limit - outstanding;
    }
    if (dc_wallet_params(s->w, &p) == DC_OK && p.base_unit > 0) unit = p.base_unit;
    out->available = available;
    out->limit_room = room;
    int64_t want = out->deposited;
    if (available < want) want = available;
    if (room < want) want = room;
    want -= want % unit;
    if (want <= 0) {
        op_forget(s);
        return save(s);
    }
    json_object_set_new(op, "phase", json_string("withdraw"));
    struct dc_service_withdrawal wd;
    memset(&wd, 0, sizeof wd);
    e = withdraw_start(s, want, op, now, &wd);
    if (e == DC_OK) out->replaced = wd.amount;
    /* The limit or the balance moved under us (another device of the
     * account, a stale certificate): the refresh itself is done; the next
     * one replaces what fits then. */
    if (e == DC_ERR_OFFLINE_LIMIT || e == DC_ERR_INSUFFICIENT_FUNDS) e = DC_OK;
    return e;
}

static void refresh_report(struct dc_service_refresh *out, const struct dc_service_deposit *d)
{
    out->n_deposited = d->n - d->n_refused - d->n_kept;
    out->n_refused = d->n_refused;
    for (size_t i = 0; i < d->n; i++) {
        if (!d->coin[i].err || strcmp(d->coin[i].status, "refused") != 0) continue;
        if (out->refused_why == DC_OK) out->refused_why = d->coin[i].err;
        if (dc_i64_add(&out->refused, out->refused, d->coin[i].amount) != DC_OK) {
            out->refused = INT64_MAX; /* only reported */
        }
    }
}

/* Finishes a refresh operation: its deposits, then its withdrawal. */
static enum dc_err refresh_finish(struct dc_service *s, json_t *op, uint64_t now,
                                  struct dc_service_refresh *out)
{
    const char *phase = json_string_value(json_object_get(op, "phase"));
    if (phase && strcmp(phase, "withdraw") == 0) {
        out->deposited = json_i64(op, "credited");
        if (!has_request(s->w, KIND_WITHDRAW)) {
            op_forget(s);
            return save(s);
        }
        struct dc_service_withdrawal wd;
        memset(&wd, 0, sizeof wd);
        enum dc_err e = finish_withdraw(s, now, &wd);
        if (e == DC_OK) out->replaced = wd.amount;
        if (e == DC_ERR_OFFLINE_LIMIT || e == DC_ERR_INSUFFICIENT_FUNDS) e = DC_OK;
        return e;
    }
    struct dc_service_deposit *d = calloc(1, sizeof *d);
    if (!d) return DC_ERR_NO_MEMORY;
    enum dc_err e = deposit_run(s, now, d);
    refresh_report(out, d);
    free(d);
    if (e != DC_OK) {
        if (!dc_service_is_transient(e)) { /* as for a deposit (finish_op) */
            op_forget(s);
            enum dc_err se = save(s);
            (void)se; /* the refusal is what the caller needs to hear */
        }
        return e;
    }
    /* the tally survives a crash between the deposits and the withdrawal */
    json_t *cur = op_load(s->w);
    out->deposited = cur ? json_i64(cur, "credited") : 0;
    if (!cur || out->deposited == 0) {
        json_decref(cur);
        op_forget(s);
        return save(s);
    }
    e = refresh_withdraw(s, cur, now, out);
    json_decref(cur);
    return e;
}

enum dc_err dc_service_refresh(struct dc_service *s, uint64_t now, uint64_t margin_ms,
                               struct dc_service_refresh *out)
{
    memset(out, 0, sizeof *out);
    s->detail[0] = '\0';
    json_t *args = json_pack("{s:s}", "cmd", "refresh");
    if (!args) return DC_ERR_NO_MEMORY;
    json_t *op;
    enum dc_err e;
    if (op_enter(s, args, now, &out->resumed, out, &e)) return e;
    size_t n = dc_wallet_coin_count(s->w), k = 0;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    struct dc_coin *c = malloc(sizeof *c);
    if (!idx || !c) {
        free(idx);
        free(c);
        json_decref(args);
        return DC_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        struct dc_wallet_coin_info ci;
        if (dc_wallet_coin_info(s->w, i, &ci) != DC_OK) continue;
        /* A coin signed for deposit with no request left for it can be
         * neither spent nor kept: finish its deposit here, so that a sync
         * completes what a crash interrupted. */
        if ((ci.status == DC_WALLET_HELD && ci.is_ours &&
             (dc_wallet_needs_refresh(&ci, now, margin_ms) ||
              dc_wallet_coin_doubtful(s->w, i, now, margin_ms) != DC_OK)) ||
            pending_deposit(s->w, i, c)) {
            idx[k++] = i;
        }
    }
    free(c);
    if (k == 0) {
        free(idx);
        json_decref(args);
        return DC_OK;
    }
    struct dc_service_deposit *d = calloc(1, sizeof *d);
    size_t signed_n = 0;
    e = d ? sign_for_deposit(s, idx, k, now, d, &signed_n) : DC_ERR_NO_MEMORY;
    free(idx);
    if (d) refresh_report(out, d);
    free(d);
    op = json_pack("{s:o, s:s, s:I}", "args", args, "phase", "deposit", "credited", (json_int_t)0);
    if (e == DC_OK && !op) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK && signed_n == 0) {
        json_decref(op);
        return DC_OK;
    }
    if (e == DC_OK) e = op_store(s, op, now);
    if (e == DC_OK) e = save(s);
    if (e == DC_OK) {
        struct dc_service_refresh more;
        memset(&more, 0, sizeof more);
        e = refresh_finish(s, op, now, &more);
        size_t kept = out->n_kept;
        *out = more;
        out->n_kept = kept;
    }
    json_decref(op);
    return e;
}

/* ---- Resume --------------------------------------------------------------------- */

/* Finishes the stored operation op. result (may be NULL) is the kind's own
 * result struct; r (may be NULL) counts what was finished. */
static enum dc_err finish_op(struct dc_service *s, const json_t *op_in, uint64_t now,
                             struct dc_service_resumed *r, void *result)
{
    const char *cmd = op_cmd(op_in);
    json_t *op = json_deep_copy(op_in);
    if (!op) return DC_ERR_NO_MEMORY;
    enum dc_err e = DC_OK;
    if (strcmp(cmd, "pay") == 0) {
        struct dc_service_transfer t = {0}, *tp = result ? result : &t;
        if (has_request(s->w, KIND_TRANSFER)) {
            e = finish_transfer(s, tp);
            if (e == DC_OK && r) r->transfers++;
        } else {
            op_forget(s);
            e = save(s);
        }
    } else if (strcmp(cmd, "withdraw") == 0) {
        struct dc_service_withdrawal wd = {0}, *wp = result ? result : &wd;
        if (has_request(s->w, KIND_WITHDRAW)) {
            e = finish_withdraw(s, now, wp);
            if (e == DC_OK && r) {
                r->withdrawals++;
                report_add(&r->withdrawn, wp->amount);
            }
        } else {
            op_forget(s);
            e = save(s);
        }
    } else if (strcmp(cmd, "deposit") == 0) {
        struct dc_service_deposit *d = result ? result : calloc(1, sizeof *d);
        e = d ? deposit_run(s, now, d) : DC_ERR_NO_MEMORY;
        /* Done, or refused for good for a reason that is not a coin's (the
         * account is frozen...): the operation ends; coins still signed
         * for deposit are taken by the next deposit or refresh. */
        if (e == DC_OK || !dc_service_is_transient(e)) {
            op_forget(s);
            enum dc_err se = save(s);
            if (e == DC_OK) e = se;
        }
        if (d && r) {
            r->deposits++;
            report_add(&r->credited, d->credited);
            for (size_t i = 0; i < d->n; i++) {
                if (!d->coin[i].err || strcmp(d->coin[i].status, "refused") != 0) continue;
                r->n_refused++;
                if (r->refused_why == DC_OK) r->refused_why = d->coin[i].err;
                if (dc_i64_add(&r->refused, r->refused, d->coin[i].amount) != DC_OK) {
                    r->refused = INT64_MAX; /* only reported */
                }
            }
        }
        if (!result) free(d);
    } else if (strcmp(cmd, "refresh") == 0) {
        struct dc_service_refresh rf = {0}, *rp = result ? result : &rf;
        e = refresh_finish(s, op, now, rp);
        if (r) {
            r->deposits += rp->n_deposited ? 1 : 0;
            report_add(&r->credited, rp->deposited);
            report_add(&r->withdrawn, rp->replaced);
            r->n_refused += rp->n_refused;
            if (dc_i64_add(&r->refused, r->refused, rp->refused) != DC_OK) {
                r->refused = INT64_MAX; /* only reported */
            }
            if (r->refused_why == DC_OK) r->refused_why = rp->refused_why;
        }
    } else {
        /* written by a newer version: leave it to that version */
        describe_op(s, op);
        e = DC_ERR_WALLET_OP_PENDING;
    }
    json_decref(op);
    return e;
}

enum dc_err dc_service_resume(struct dc_service *s, uint64_t now, struct dc_service_resumed *out)
{
    struct dc_service_resumed r;
    memset(&r, 0, sizeof r);
    enum dc_err e = DC_OK, first = DC_OK;
    json_t *op = op_load(s->w);
    if (op) {
        first = finish_op(s, op, now, &r, NULL);
        json_decref(op);
        if (out) *out = r;
        return first;
    }
    /* Requests of a wallet written before operations were stored. */
    if (has_request(s->w, KIND_TRANSFER)) {
        struct dc_service_transfer t;
        memset(&t, 0, sizeof t);
        e = finish_transfer(s, &t);
        if (e == DC_OK) r.transfers++;
        if (first == DC_OK) first = e;
    }
    if (has_request(s->w, KIND_WITHDRAW)) {
        struct dc_service_withdrawal wd;
        memset(&wd, 0, sizeof wd);
        e = finish_withdraw(s, now, &wd);
        if (e == DC_OK) {
            r.withdrawals++;
            report_add(&r.withdrawn, wd.amount);
        }
        if (first == DC_OK) first = e;
    }
    if (has_request(s->w, KIND_DEPOSIT)) {
        struct dc_service_deposit *d = calloc(1, sizeof *d);
        e = d ? finish_deposit(s, d, NULL) : DC_ERR_NO_MEMORY;
        if (e == DC_OK) {
            r.deposits++;
            report_add(&r.credited, d->credited);
        }
        free(d);
        if (first == DC_OK) first = e;
    }
    if (out) *out = r;
    return first;
}

/* ---- Reclaims -------------------------------------------------------------------- */

/* The payment of `request` leaves the wallet for good (reclaimed, or taken
 * by the payee): its coins SPENT, its copy settled, the request forgotten,
 * all in one save. */
static enum dc_err reclaim_settle(struct dc_service *s, const uint8_t *req, size_t rlen,
                                  uint64_t now)
{
    struct dc_request r;
    enum dc_err e = dc_request_decode(&r, req, rlen);
    if (e == DC_OK) {
        e = dc_wallet_confirm_payment(s->w, r.payee.pub, r.nonce);
        if (e == DC_ERR_NOT_FOUND) e = DC_OK; /* settled before */
    }
    if (e == DC_OK) e = dc_offline_py_settle(s->w, req, rlen, now);
    if (e == DC_OK) e = dc_wallet_request_done(s->w, KIND_RECLAIM);
    if (e == DC_OK) e = save(s);
    return e;
}

/* Sends the pending reclaim (stored body: the server's fields plus
 * "request", the hex of the offline request it reclaims) and applies the
 * answer. */
static enum dc_err reclaim_finish(struct dc_service *s, uint64_t now,
                                  struct dc_service_reclaim *out)
{
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    const uint8_t *body;
    size_t len;
    enum dc_err e = dc_wallet_request_get(s->w, KIND_RECLAIM, id, &body, &len, NULL);
    if (e != DC_OK) return e;
    json_t *b = json_loadb((const char *)body, len, 0, NULL);
    const char *rh = b ? json_string_value(json_object_get(b, "request")) : NULL;
    uint8_t req[DC_REQUEST_BYTES];
    size_t rlen = rh ? strlen(rh) / 2 : 0;
    if (!rh || rlen == 0 || rlen > sizeof req ||
        dc_hex_decode(req, rlen, rh, strlen(rh)) != DC_OK) {
        json_decref(b);
        set_detail(s, "the pending reclaim in the wallet is damaged");
        return DC_ERR_WALLET_CORRUPT;
    }
    json_object_del(b, "request"); /* ours, not the server's */
    char *txt = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    if (!txt) return DC_ERR_NO_MEMORY;
    json_t *ans = NULL;
    e = call(s, 1, "POST", "/v1/reclaims", txt, &ans);
    free(txt);
    if (e != DC_OK && dc_service_is_transient(e)) return e;
    int64_t credited = e == DC_OK ? json_i64(ans, "credited") : 0;
    /* coins credited under a case against the payee (she took them after
     * refusing them): reclaimed, but frozen until she has paid */
    int64_t frozen = 0, case_id = 0;
    json_t *cs = e == DC_OK ? json_object_get(ans, "coins") : NULL;
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *c = json_array_get(cs, i);
        int64_t cid = json_i64(c, "case");
        if (cid <= 0) continue;
        case_id = cid;
        report_add(&frozen, json_i64(c, "amount"));
    }
    json_decref(ans);
    struct dc_request r;
    int64_t amount = dc_request_decode(&r, req, rlen) == DC_OK ? r.amount : 0;
    if (e == DC_OK || e == DC_ERR_COIN_SPENT) {
        enum dc_err se = reclaim_settle(s, req, rlen, now);
        if (e == DC_OK) {
            out->n_reclaimed++;
            report_add(&out->reclaimed, credited);
            if (case_id) {
                out->n_under_case++;
                report_add(&out->under_case, frozen);
                out->case_id = case_id;
            }
        } else {
            out->n_taken++;
            report_add(&out->taken, amount);
        }
        return se;
    }
    /* refused for another reason: the coins stay pending out, the request
     * is forgotten. Too early after all (the server's clock is behind
     * ours) is waiting, not a failure: the next call tries again. */
    if (e == DC_ERR_RECLAIM_TOO_EARLY) {
        out->n_waiting++;
        report_add(&out->waiting, amount);
    } else {
        out->n_failed++;
        if (out->failed_why == DC_OK) out->failed_why = e;
    }
    char keep[sizeof s->detail];
    memcpy(keep, s->detail, sizeof keep);
    enum dc_err de = dc_wallet_request_done(s->w, KIND_RECLAIM);
    if (de == DC_OK) de = save(s);
    memcpy(s->detail, keep, sizeof keep);
    return de;
}

/* Builds and persists the reclaim of the payment of request (or reports
 * it waiting). *made = 1 when a request was stored. */
static enum dc_err reclaim_prepare(struct dc_service *s, const uint8_t *req, size_t rlen,
                                   int refused, uint64_t now, uint64_t grace_ms,
                                   struct dc_service_reclaim *out, int *made)
{
    struct dc_request r;
    struct dc_wallet_outgoing o;
    *made = 0;
    enum dc_err e = dc_request_decode(&r, req, rlen);
    if (e != DC_OK) return e;
    if (dc_wallet_find_payment(s->w, &o, r.payee.pub, r.nonce) != DC_OK) return DC_OK;
    uint64_t deadline = 0;
    struct dc_coin *c = malloc(sizeof *c);
    if (!c) return DC_ERR_NO_MEMORY;
    for (size_t i = 0; i < o.n; i++) {
        if (dc_coin_decode(c, o.coin[i], o.coin_len[i]) != DC_OK) continue;
        uint64_t d = c->genesis.expires_at + grace_ms;
        if (d > deadline) deadline = d;
    }
    free(c);
    if (!refused && now < deadline) {
        out->n_waiting++;
        report_add(&out->waiting, o.amount);
        if (out->next_at == 0 || deadline < out->next_at) out->next_at = deadline;
        return DC_OK;
    }
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    char hex[2 * DC_WALLET_REQUEST_ID_BYTES + 1];
    new_id(id, hex);
    json_t *coins = json_array();
    for (size_t i = 0; coins && i < o.n; i++) {
        char *h = malloc(2 * o.coin_len[i] + 1);
        if (!h) break;
        dc_hex_encode(h, o.coin[i], o.coin_len[i]);
        json_array_append_new(coins, json_string(h));
        free(h);
    }
    char reqhex[2 * DC_REQUEST_BYTES + 1];
    dc_hex_encode(reqhex, req, rlen);
    json_t *b =
        coins ? json_pack("{s:s, s:o, s:s}", "request_id", hex, "coins", coins, "request", reqhex)
              : NULL;
    if (!b) return DC_ERR_NO_MEMORY;
    if (refused) {
        uint8_t h[DC_HASH_BYTES], f[DC_REFUSAL_BYTES];
        char fh[2 * DC_REFUSAL_BYTES + 1], hh[2 * DC_HASH_BYTES + 1];
        dc_request_hash(h, req, rlen);
        e = dc_offline_py_refusal(s->w, h, f);
        if (e != DC_OK) {
            json_decref(b);
            return e;
        }
        dc_hex_encode(fh, f, sizeof f);
        dc_hex_encode(hh, h, sizeof h);
        json_object_set_new(b, "refusal", json_string(fh));
        json_object_set_new(b, "request_hash", json_string(hh));
    }
    e = persist(s, KIND_RECLAIM, id, b, now); /* saved before it leaves */
    json_decref(b);
    if (e == DC_OK) *made = 1;
    return e;
}

enum dc_err dc_service_reclaim(struct dc_service *s, uint64_t now, struct dc_service_reclaim *out)
{
    memset(out, 0, sizeof *out);
    s->detail[0] = '\0';
    struct dc_service_config cfg;
    enum dc_err e = dc_service_config(s->w, &cfg);
    if (e != DC_OK) {
        set_detail(s, "sync with the server first");
        return DC_ERR_WALLET_NOT_SYNCED;
    }
    /* a reclaim sent before a crash or a lost answer: the same request again */
    if (has_request(s->w, KIND_RECLAIM)) {
        e = reclaim_finish(s, now, out);
        if (e != DC_OK) return e;
    }
    for (size_t i = 0; i < dc_wallet_request_count(s->w);) {
        uint8_t req[DC_REQUEST_BYTES];
        size_t rlen;
        int refused = 0, made = 0;
        if (dc_offline_py_at(s->w, i, req, &rlen, &refused) != DC_OK) {
            i++;
            continue;
        }
        e = reclaim_prepare(s, req, rlen, refused, now, cfg.deposit_grace_ms, out, &made);
        if (e == DC_OK && made) e = reclaim_finish(s, now, out);
        if (e != DC_OK) return e;
        /* settling rewrote slot i: look at it again only if it is still open */
        i++;
    }
    return DC_OK;
}
