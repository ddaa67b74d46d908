/*
 * test_api_basic.c - the HTTP contract of ducatd (docs/API.md) against a
 * real server: public endpoints, registration, request authentication,
 * the admin API, transfers and batches (validation, idempotency, all or
 * nothing), concurrent conflicting spends, malformed input, history paging
 * and graceful shutdown. Every case starts its own instance (begin) and
 * ends with `ducatd audit` (finish).
 */
#include "test.h"
/* harness.h needs test.h first */
#include "harness.h"

#include <pthread.h>
#include <pwd.h>
#include <sodium.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "ducat/auth.h"
#include "ducat/coin.h"

static struct srv S;

/* ---- Helpers -------------------------------------------------------------- */

static uint64_t started_ms; /* the server was serving at this time */

static void begin(const char *init_args)
{
    srv_cleanup(&S); /* a case that failed half-way leaves its instance behind */
    srv_init(&S, init_args);
    srv_start(&S);
    started_ms = h_now_ms();
}

static void finish(void)
{
    audit_ok(&S);
    srv_cleanup(&S);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Compact JSON for failure messages (leaks on failure: test code). */
static const char *jdump(const json_t *j)
{
    static __thread char buf[1024];
    if (j == NULL) return "(no JSON body)";
    size_t n = json_dumpb(j, buf, sizeof buf - 1, JSON_COMPACT);
    if (n > sizeof buf - 1) n = sizeof buf - 1;
    buf[n] = '\0';
    return buf;
}

/* Fails unless j is a registry error body for status st:
 * {"code": int, "name": str, "hint": str[, "detail": str]}, the code known,
 * name and hint its registry name and message, st its HTTP status. */
static void err_shape(const char *file, int line, const char *what, int st, const json_t *j)
{
    json_t *c = json_is_object(j) ? json_object_get(j, "code") : NULL;
    json_t *n = json_is_object(j) ? json_object_get(j, "name") : NULL;
    json_t *h = json_is_object(j) ? json_object_get(j, "hint") : NULL;
    json_t *d = json_is_object(j) ? json_object_get(j, "detail") : NULL;
    if (!json_is_integer(c) || !json_is_string(n) || !json_is_string(h) ||
        json_string_length(h) == 0 || (d != NULL && !json_is_string(d))) {
        h_fail(file, line, "%s: error body lacks code/name/hint: %d %s", what, st, jdump(j));
    }
    enum dc_err e;
    if (!dc_err_from_code(&e, (int)json_integer_value(c))) {
        h_fail(file, line, "%s: unregistered error code in %s", what, jdump(j));
    }
    if (strcmp(dc_err_name(e), json_string_value(n)) != 0 ||
        strcmp(dc_err_str(e), json_string_value(h)) != 0 || dc_err_http_status(e) != st) {
        h_fail(file, line, "%s: code, name, hint and status %d disagree with the registry: %s",
               what, st, jdump(j));
    }
}

/* Fails unless status == http, the error's name is one of names (NULL-
 * terminated) and the body has the registry shape. */
static void err_in(const char *file, int line, const char *what, int st, const json_t *j, int http,
                   const char *const *names)
{
    json_t *n = json_is_object(j) ? json_object_get(j, "name") : NULL;
    const char *got = json_is_string(n) ? json_string_value(n) : NULL;
    int ok = st == http && got != NULL;
    if (ok) {
        ok = 0;
        for (size_t i = 0; names[i]; i++) {
            if (strcmp(names[i], got) == 0) ok = 1;
        }
    }
    if (!ok) {
        h_fail(file, line, "%s: expected %d %s%s, got %d %s", what, http, names[0],
               names[1] ? " (or another listed name)" : "", st, jdump(j));
    }
    err_shape(file, line, what, st, j);
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define CHECK_ERR(what, st, j, http, ...)                                                          \
    err_in(__FILE__, __LINE__, (what), (st), (j), (http), NAMES(__VA_ARGS__))

/* A request (signed by d unless NULL) that must fail with http and one of
 * the names; the request's description is the method, path and body. */
static void req_err(const char *file, int line, const struct dev *d, const char *method,
                    const char *path, const char *body, int http, const char *const *names)
{
    char what[600];
    snprintf(what, sizeof what, "%s %s %.400s", method, path, body ? body : "");
    json_t *j = NULL;
    int st = api(&S, d, method, path, body, &j);
    err_in(file, line, what, st, j, http, names);
    json_decref(j);
}
#define REQ_ERR(d, method, path, body, http, ...)                                                  \
    req_err(__FILE__, __LINE__, (d), (method), (path), (body), (http), NAMES(__VA_ARGS__))

static void admin_err(const char *file, int line, const char *method, const char *path,
                      const char *body, int http, const char *const *names)
{
    char what[600];
    snprintf(what, sizeof what, "admin %s %s %.400s", method, path, body ? body : "");
    json_t *j = NULL;
    int st = admin(&S, S.token, method, path, body, &j);
    err_in(file, line, what, st, j, http, names);
    json_decref(j);
}
#define ADMIN_ERR(method, path, body, http, ...)                                                   \
    admin_err(__FILE__, __LINE__, (method), (path), (body), (http), NAMES(__VA_ARGS__))

static void health_ok(const char *file, int line)
{
    json_t *j = NULL;
    int st = api(&S, NULL, "GET", "/v1/health", NULL, &j);
    if (st != 200 || !json_is_object(j) || !json_is_string(json_object_get(j, "status")) ||
        strcmp(json_string_value(json_object_get(j, "status")), "ok") != 0) {
        h_fail(file, line, "GET /v1/health answered %d %s (%s)", st, jdump(j), api_last_error());
    }
    json_decref(j);
}
#define HEALTH_OK() health_ok(__FILE__, __LINE__)

#define BAL(d) balance_available(&S, (d))

static void transfer_body(char *out, size_t cap, const char *rid, long long to, long long amount)
{
    snprintf(out, cap, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%lld}", rid, to, amount);
}

/* POST /v1/transfers from d with a fresh request id. */
static int xfer(const struct dev *d, long long to, long long amount, json_t **out)
{
    char rid[40], body[256];
    new_request_id(rid);
    transfer_body(body, sizeof body, rid, to, amount);
    return api(&S, d, "POST", "/v1/transfers", body, out);
}

static void xfer_ok(const char *file, int line, const struct dev *d, long long to, long long amount)
{
    json_t *j = NULL;
    int st = xfer(d, to, amount, &j);
    if (st != 201) {
        h_fail(file, line, "transfer %lld -> %lld of %lld answered %d %s", d->account, to, amount,
               st, jdump(j));
    }
    json_decref(j);
}
#define XFER_OK(d, to, amount) xfer_ok(__FILE__, __LINE__, (d), (to), (amount))

/* A registration body (malloc'd). */
static char *reg_body(const char *name, const char *nid, const char *phone, const char *pub)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "national_id", nid, "phone", phone,
                          "device_pub", pub);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL) abort();
    return s;
}

/* The account ids (user accounts) in GET /v1/admin/accounts[?query]; fails
 * unless 200. Also checks that every listed account has status `want`
 * (NULL: any). Returns the count, ids into out (cap). */
static size_t admin_list(const char *file, int line, const char *query, const char *want,
                         long long *out, size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/admin/accounts%s", query);
    json_t *j = NULL;
    int st = admin(&S, S.token, "GET", path, NULL, &j);
    json_t *arr = json_is_object(j) ? json_object_get(j, "accounts") : NULL;
    if (st != 200 || !json_is_array(arr)) {
        h_fail(file, line, "GET %s answered %d %s", path, st, jdump(j));
    }
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *a = json_array_get(arr, i);
        json_t *id = json_object_get(a, "account"), *sv = json_object_get(a, "status");
        if (!json_is_integer(id) || !json_is_string(sv)) {
            h_fail(file, line, "GET %s: entry %zu lacks account/status: %s", path, i, jdump(a));
        }
        if (want && strcmp(json_string_value(sv), want) != 0) {
            h_fail(file, line, "GET %s lists an account with status %s: %s", path,
                   json_string_value(sv), jdump(a));
        }
        if (n < cap) out[n] = (long long)json_integer_value(id);
        n++;
    }
    json_decref(j);
    return n;
}

static int contains(const long long *v, size_t n, long long x)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == x) return 1;
    }
    return 0;
}

/* GET /v1/admin/accounts/{id}: the JSON (caller frees); fails unless 200. */
static json_t *admin_show(const char *file, int line, long long id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld", id);
    json_t *j = NULL;
    int st = admin(&S, S.token, "GET", path, NULL, &j);
    if (st != 200 || !json_is_object(j))
        h_fail(file, line, "GET %s answered %d %s", path, st, jdump(j));
    return j;
}

static const char *status_of(long long id)
{
    static char buf[32];
    json_t *j = admin_show(__FILE__, __LINE__, id);
    snprintf(buf, sizeof buf, "%s", json_str(j, "status"));
    json_decref(j);
    return buf;
}

/* ---- 1. Public ------------------------------------------------------------- */

static void test_health(void)
{
    begin("--auto-verify");
    struct api_req q = {.method = "GET", .path = "/v1/health"};
    struct api_resp r;
    ASSERT_EQ(api_raw(&S, &q, &r), 200);
    ASSERT(json_is_object(r.json));
    ASSERT_STR(json_str(r.json, "status"), "ok");
    char ct[128];
    ASSERT(api_resp_header(&r, "Content-Type", ct, sizeof ct));
    ASSERT(strncmp(ct, "application/json", 16) == 0);
    api_resp_free(&r);
    /* public: a signature is not needed, but a signed request is fine too */
    struct dev d;
    dev_new(&d);
    ASSERT_EQ(api(&S, &d, "GET", "/v1/health", NULL, NULL), 200);
    finish();
}

static void test_keys(void)
{
    begin("--auto-verify");
    struct api_req q = {.method = "GET", .path = "/v1/keys"};
    struct api_resp r;
    ASSERT_EQ(api_raw(&S, &q, &r), 200);
    json_t *k = r.json;
    ASSERT(json_is_object(k));

    char cc[128];
    ASSERT(api_resp_header(&r, "Cache-Control", cc, sizeof cc));
    ASSERT(strstr(cc, "public") != NULL);
    ASSERT_STR(cc, "public, max-age=60");

    uint8_t master[DC_PUBKEY_BYTES];
    const char *mh = json_str(k, "master_pub");
    ASSERT_EQ(strlen(mh), 2 * DC_PUBKEY_BYTES);
    ASSERT_OK(dc_hex_decode(master, sizeof master, mh, strlen(mh)));

    json_t *cur = json_get(k, "currency");
    ASSERT_STR(json_str(cur, "code"), "CNY");
    ASSERT_EQ(json_int(cur, "numeric"), 156);
    ASSERT_EQ(json_int(cur, "exponent"), 2);

    json_t *keys = json_get(k, "signing_keys");
    ASSERT(json_is_array(keys));
    ASSERT_EQ(json_array_size(keys), 1);
    json_t *sk = json_array_get(keys, 0);
    const char *kh = json_str(sk, "keycert");
    ASSERT_EQ(strlen(kh), 2 * DC_KEYCERT_BYTES);
    uint8_t kb[DC_KEYCERT_BYTES];
    ASSERT_OK(dc_hex_decode(kb, sizeof kb, kh, strlen(kh)));
    struct dc_keycert kc;
    ASSERT_OK(dc_keycert_decode(&kc, kb, sizeof kb));
    ASSERT_OK(dc_keycert_check(&kc, master));
    /* the check is meaningful: another master or a changed field fails */
    uint8_t other[DC_PUBKEY_BYTES], other_sk[DC_SECKEY_BYTES];
    crypto_sign_ed25519_keypair(other, other_sk);
    ASSERT(dc_keycert_check(&kc, other) != DC_OK);
    struct dc_keycert bent = kc;
    bent.sign_until += 1;
    ASSERT(dc_keycert_check(&bent, master) != DC_OK);
    /* the JSON fields are the certificate's */
    ASSERT_EQ(json_int(sk, "key_id"), kc.key_id);
    char pubhex[2 * DC_PUBKEY_BYTES + 1];
    dc_hex_encode(pubhex, kc.pub, sizeof kc.pub);
    ASSERT_STR(json_str(sk, "pub"), pubhex);
    ASSERT(strcmp(pubhex, mh) != 0); /* coins are not signed by the master key */
    ASSERT_EQ(json_int(sk, "valid_from"), (long long)kc.valid_from);
    ASSERT_EQ(json_int(sk, "sign_until"), (long long)kc.sign_until);
    ASSERT_EQ(json_int(sk, "verify_until"), (long long)kc.verify_until);
    ASSERT_EQ(json_int(sk, "revoked_at"), 0);
    uint64_t now = h_now_ms();
    ASSERT(kc.valid_from <= now);
    ASSERT(now < kc.sign_until);
    ASSERT(kc.sign_until <= kc.verify_until);

    json_t *den = json_get(k, "denominations");
    ASSERT(json_is_array(den));
    ASSERT(json_array_size(den) >= 1);
    long long prev = 0;
    for (size_t i = 0; i < json_array_size(den); i++) {
        json_t *v = json_array_get(den, i);
        ASSERT(json_is_integer(v));
        ASSERT(json_integer_value(v) > prev); /* positive, strictly ascending */
        prev = (long long)json_integer_value(v);
    }

    json_t *hold = json_get(k, "hold");
    ASSERT_EQ(json_int(hold, "working_days"), 15);
    json_t *cal = json_get(hold, "calendar");
    ASSERT(json_is_integer(json_get(cal, "utc_offset_min")));
    ASSERT(json_is_array(json_get(cal, "weekend")));
    json_t *lim = json_get(k, "limits");
    ASSERT(json_int(lim, "max_hops") > 0);
    ASSERT(json_int(lim, "default_offline_limit") >= 0);
    json_t *rev = json_get(k, "revoked_devices");
    ASSERT(json_is_array(rev));
    ASSERT_EQ(json_array_size(rev), 0);
    api_resp_free(&r);
    finish();
}

/* 1 if every line is `# HELP`, `# TYPE` or `name[{labels}] value`. */
static int prometheus_text(const char *text, char *bad, size_t cap)
{
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        int ok = 1;
        if (line[0] == '#') {
            ok = strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0;
        } else if (line[0] != '\0') {
            const char *q = line;
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_')) ok = 0;
            while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                   (*q >= '0' && *q <= '9') || *q == '_' || *q == ':')
                q++;
            if (*q == '{') {
                q = strchr(q, '}');
                if (!q)
                    ok = 0;
                else
                    q++;
            }
            if (ok && *q != ' ') ok = 0;
            if (ok) {
                char *end;
                strtod(q + 1, &end);
                if (end == q + 1 || *end != '\0') ok = 0;
            }
        }
        if (!ok) {
            snprintf(bad, cap, "%s", line);
            return 0;
        }
        p = eol ? eol + 1 : p + len;
    }
    return 1;
}

static void test_metrics(void)
{
    begin("--auto-verify");
    struct dev a, b;
    dev_setup(&S, &a, "Metrics Alice", 1000);
    dev_setup(&S, &b, "Metrics Bob", 0);
    XFER_OK(&a, b.account, 10);
    /* the same request twice: one transfer, one replay (counted once each,
     * after the answer is final) */
    char rid[40], body[256];
    new_request_id(rid);
    transfer_body(body, sizeof body, rid, b.account, 5);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body, NULL), 201);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body, NULL), 201);
    HEALTH_OK();
    HEALTH_OK();
    ASSERT_EQ(api(&S, NULL, "GET", "/v1/keys", NULL, NULL), 200);
    ASSERT_EQ(api(&S, NULL, "GET", "/v1/nope", NULL, NULL), 404);

    struct api_req q = {.method = "GET", .path = "/metrics"};
    struct api_resp r;
    ASSERT_EQ(api_raw(&S, &q, &r), 200);
    char ct[128];
    ASSERT(api_resp_header(&r, "Content-Type", ct, sizeof ct));
    ASSERT(strncmp(ct, "text/plain", 10) == 0);
    ASSERT(r.json == NULL);
    char bad[512];
    if (!prometheus_text(r.body, bad, sizeof bad)) FAIL_AT("not Prometheus text: '%s'", bad);
    ASSERT(strstr(r.body, "ducat_commits_total") != NULL);
    ASSERT(strstr(r.body, "ducat_http_requests_total") != NULL);
    ASSERT(strstr(r.body, "# TYPE ducat_http_requests_total counter") != NULL);
    /* 2 registrations + 2 fundings + 1 transfer were committed */
    ASSERT(metric_in(r.body, "ducat_commits_total") >= 1);
    ASSERT(metric_in(r.body, "ducat_transfers_total") == 2);
    ASSERT(metric_in(r.body, "ducat_idempotent_replays_total") == 1);
    ASSERT(metric_in(r.body, "ducat_http_requests_total{route=\"health\",code=\"2xx\"}") >= 2);
    ASSERT(metric_in(r.body, "ducat_http_requests_total{route=\"transfer\",code=\"2xx\"}") >= 1);
    api_resp_free(&r);
    finish();
}

/* Deposits are counted once each, when the answer is final: the same
 * request sent again is one replay, not a second deposit. (A deposit whose
 * first run was in a writer batch that failed is counted once too: the
 * deposit rounds of test_api_fault, which has the storage fault shims.) */
static void test_metrics_deposit(void)
{
    begin("--auto-verify");
    struct dev a;
    dev_setup(&S, &a, "Deposit Counter", 1000);
    struct coin c[8];
    size_t nc = 0;
    ASSERT_EQ(withdraw(&S, &a, 300, c, 8, &nc, NULL), 201);
    ASSERT(nc >= 2); /* 200 + 100: two coins in one deposit */
    for (size_t i = 0; i < nc; i++) coin_deposit(&c[i], &a, a.account);
    ASSERT_EQ(srv_metric(&S, "ducat_deposits_total"), 0);
    char rid[40];
    new_request_id(rid);
    json_t *j1 = NULL, *j2 = NULL;
    ASSERT_EQ(deposit(&S, &a, c, nc, rid, &j1), 201);
    ASSERT_EQ(deposit(&S, &a, c, nc, rid, &j2), 201);
    ASSERT_EQ(json_int(j1, "deposit_id"), json_int(j2, "deposit_id"));
    json_decref(j1);
    json_decref(j2);
    ASSERT_EQ(srv_metric(&S, "ducat_deposits_total"), 1);
    ASSERT_EQ(srv_metric(&S, "ducat_coins_deposited_total"), (long long)nc);
    ASSERT_EQ(srv_metric(&S, "ducat_idempotent_replays_total"), 1);
    ASSERT_EQ(srv_metric(&S, "ducat_forks_total"), 0);
    finish();
}

/* ---- 2. Registration --------------------------------------------------------- */

static void test_register_idempotent(void)
{
    begin(NULL);
    struct dev a, b;
    dev_new(&a);
    dev_new(&b);
    char nid[19], phone[16];
    make_identity(nid, phone);
    char *body = reg_body("Alice Zhang", nid, phone, a.pk_hex);
    json_t *j = NULL;
    ASSERT_EQ(api(&S, &a, "POST", "/v1/register", body, &j), 201);
    long long acct = json_int(j, "account");
    ASSERT(acct >= 1001);
    char alias[64];
    snprintf(alias, sizeof alias, "%s", json_str(j, "alias"));
    ASSERT_EQ(strlen(alias), 2 * DC_ALIAS_BYTES);
    ASSERT_STR(json_str(j, "status"), "unverified");
    json_decref(j);

    /* the same device and data again: 200, the same answer */
    ASSERT_EQ(api(&S, &a, "POST", "/v1/register", body, &j), 200);
    ASSERT_EQ(json_int(j, "account"), acct);
    ASSERT_STR(json_str(j, "alias"), alias);
    ASSERT_STR(json_str(j, "status"), "unverified");
    json_decref(j);
    free(body);

    /* the same device with other data: 409, nothing changes */
    char nid2[19], phone2[16];
    make_identity(nid2, phone2);
    char *other[3] = {reg_body("Alice Wang", nid, phone, a.pk_hex),
                      reg_body("Alice Zhang", nid2, phone, a.pk_hex),
                      reg_body("Alice Zhang", nid, phone2, a.pk_hex)};
    for (int i = 0; i < 3; i++) {
        REQ_ERR(&a, "POST", "/v1/register", other[i], 409, "DC_ERR_ALREADY_REGISTERED");
        free(other[i]);
    }
    j = admin_show(__FILE__, __LINE__, acct);
    ASSERT_STR(json_str(j, "name"), "Alice Zhang");
    ASSERT_STR(json_str(j, "national_id"), nid);
    ASSERT_STR(json_str(j, "phone"), phone);
    ASSERT_STR(json_str(j, "device_pub"), a.pk_hex);
    ASSERT_STR(json_str(j, "alias"), alias);
    json_decref(j);

    /* another device: another account and alias */
    body = reg_body("Bob Li", nid2, phone2, b.pk_hex);
    ASSERT_EQ(api(&S, &b, "POST", "/v1/register", body, &j), 201);
    free(body);
    ASSERT(json_int(j, "account") != acct);
    ASSERT(strcmp(json_str(j, "alias"), alias) != 0);
    json_decref(j);
    finish();
}

static void test_register_key_mismatch(void)
{
    begin(NULL);
    struct dev a, b;
    dev_new(&a);
    dev_new(&b);
    char nid[19], phone[16];
    make_identity(nid, phone);
    /* signed by a, registering b's key; and the other way round */
    char *body = reg_body("Mallory", nid, phone, b.pk_hex);
    json_t *j = NULL;
    int st = api(&S, &a, "POST", "/v1/register", body, &j);
    ASSERT_EQ(st, 401);
    ASSERT(strncmp(json_str(j, "name"), "DC_ERR_AUTH_", 12) == 0);
    err_shape(__FILE__, __LINE__, "register with another key", st, j);
    json_decref(j);
    free(body);
    body = reg_body("Mallory", nid, phone, a.pk_hex);
    st = api(&S, &b, "POST", "/v1/register", body, &j);
    ASSERT_EQ(st, 401);
    ASSERT(strncmp(json_str(j, "name"), "DC_ERR_AUTH_", 12) == 0);
    json_decref(j);
    free(body);
    long long ids[16];
    ASSERT_EQ(admin_list(__FILE__, __LINE__, "?status=unverified", "unverified", ids, 16), 0);
    /* neither key was registered: both register now as new accounts */
    ASSERT_EQ(api(&S, &b, "GET", "/v1/balance", NULL, &j), 401);
    json_decref(j);
    body = reg_body("Bob", nid, phone, b.pk_hex);
    ASSERT_EQ(api(&S, &b, "POST", "/v1/register", body, NULL), 201);
    free(body);
    char nid2[19], phone2[16];
    make_identity(nid2, phone2);
    body = reg_body("Alice", nid2, phone2, a.pk_hex);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/register", body, NULL), 201);
    free(body);
    finish();
}

static void test_register_bad_fields(void)
{
    begin(NULL);
    struct dev a;
    dev_new(&a);
    char nid[19], phone[16];
    make_identity(nid, phone);
    char raw[40][512];
    size_t n = 0;
    /* missing fields */
    snprintf(raw[n++], 512, "{\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"%s\"}", nid,
             phone, a.pk_hex);
    snprintf(raw[n++], 512, "{\"name\":\"A\",\"phone\":\"%s\",\"device_pub\":\"%s\"}", phone,
             a.pk_hex);
    snprintf(raw[n++], 512, "{\"name\":\"A\",\"national_id\":\"%s\",\"device_pub\":\"%s\"}", nid,
             a.pk_hex);
    snprintf(raw[n++], 512, "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":\"%s\"}", nid, phone);
    snprintf(raw[n++], 512, "{}");
    /* non-string fields */
    snprintf(raw[n++], 512,
             "{\"name\":123,\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"%s\"}", nid,
             phone, a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":null,\"phone\":\"%s\",\"device_pub\":\"%s\"}", phone,
             a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":[\"x\"],\"device_pub\":\"%s\"}", nid,
             a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":{},\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"%s\"}", nid,
             phone, a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":true,\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"%s\"}", nid,
             phone, a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":110101199003070011,\"phone\":\"%s\",\"device_pub\":"
             "\"%s\"}",
             phone, a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":5}", nid,
             phone);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"zz\"}", nid,
             phone);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"%.62s\"}",
             nid, phone, a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"%s00\"}",
             nid, phone, a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":null}", nid,
             phone);
    /* control characters, NUL, empty text (JSON escapes, jansson decodes them) */
    static const char *const bad_names[] = {"Al\\nice", "Al\\tice", "\\u0001A", "A\\u001f",
                                            "A\\u007f", "",         "A\\r"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        snprintf(raw[n++], 512,
                 "{\"name\":\"%s\",\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"%s\"}",
                 bad_names[i], nid, phone, a.pk_hex);
    }
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"%s\\n\",\"phone\":\"%s\",\"device_pub\":\"%s\"}",
             nid, phone, a.pk_hex);
    snprintf(
        raw[n++], 512,
        "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":\"+86\\u0007138\",\"device_pub\":\"%s\"}",
        nid, a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"\",\"phone\":\"%s\",\"device_pub\":\"%s\"}", phone,
             a.pk_hex);
    snprintf(raw[n++], 512,
             "{\"name\":\"A\",\"national_id\":\"%s\",\"phone\":\"\",\"device_pub\":\"%s\"}", nid,
             a.pk_hex);
    for (size_t i = 0; i < n; i++) {
        REQ_ERR(&a, "POST", "/v1/register", raw[i], 400, "DC_ERR_FIELD");
    }
    /* a NUL inside a string: refused as JSON or as a field */
    snprintf(
        raw[0], 512,
        "{\"name\":\"A\\u0000B\",\"national_id\":\"%s\",\"phone\":\"%s\",\"device_pub\":\"%s\"}",
        nid, phone, a.pk_hex);
    REQ_ERR(&a, "POST", "/v1/register", raw[0], 400, "DC_ERR_FIELD", "DC_ERR_JSON");
    /* nothing was written: no user account exists, and a registers now */
    long long ids[16];
    ASSERT_EQ(admin_list(__FILE__, __LINE__, "?status=unverified", NULL, ids, 16), 0);
    char *body = reg_body("Alice \xe5\xbc\xa0", nid, phone, a.pk_hex); /* UTF-8 is fine */
    json_t *j = NULL;
    ASSERT_EQ(api(&S, &a, "POST", "/v1/register", body, &j), 201);
    free(body);
    long long acct = json_int(j, "account");
    json_decref(j);
    j = admin_show(__FILE__, __LINE__, acct);
    ASSERT_STR(json_str(j, "name"), "Alice \xe5\xbc\xa0");
    json_decref(j);
    HEALTH_OK();
    finish();
}

static void test_unverified_account(void)
{
    begin(NULL);
    struct dev a, b;
    dev_new(&a);
    dev_new(&b);
    register_dev(&S, &a, "Unverified Alice");
    register_dev(&S, &b, "Unverified Bob");
    ASSERT_STR(status_of(a.account), "unverified");
    ASSERT_STR(status_of(b.account), "unverified");
    long long ids[16];
    size_t n = admin_list(__FILE__, __LINE__, "?status=unverified", "unverified", ids, 16);
    ASSERT_EQ(n, 2);
    ASSERT(contains(ids, n, a.account) && contains(ids, n, b.account));
    ASSERT_EQ(fund(&S, a.account, 5000), 201);
    ASSERT_EQ(BAL(&a), 5000);

    /* no withdrawal before verification */
    static struct coin coins[32];
    size_t nc = 0;
    json_t *j = NULL;
    int st = withdraw(&S, &a, 1000, coins, 32, &nc, &j);
    CHECK_ERR("withdraw unverified", st, j, 403, "DC_ERR_ACCOUNT_UNVERIFIED");
    json_decref(j);
    ASSERT_EQ(nc, 0);
    ASSERT_EQ(BAL(&a), 5000);

    /* but online payments both ways */
    XFER_OK(&a, b.account, 700);
    XFER_OK(&b, a.account, 200);
    ASSERT_EQ(BAL(&a), 4500);
    ASSERT_EQ(BAL(&b), 500);
    ASSERT_STR(status_of(a.account), "unverified");

    /* freezing and unfreezing an unverified account leaves it unverified */
    char fpath[96];
    snprintf(fpath, sizeof fpath, "/v1/admin/accounts/%lld/freeze", b.account);
    ASSERT_EQ(admin(&S, S.token, "POST", fpath, "{\"reason\":\"check\"}", &j), 200);
    ASSERT_STR(json_str(j, "status"), "frozen");
    ASSERT(json_is_false(json_get(j, "verified")));
    json_decref(j);
    n = admin_list(__FILE__, __LINE__, "?status=unverified", "unverified", ids, 16);
    ASSERT(n == 1 && !contains(ids, n, b.account)); /* listed as frozen only */
    n = admin_list(__FILE__, __LINE__, "?status=frozen", "frozen", ids, 16);
    ASSERT(n == 1 && contains(ids, n, b.account));
    snprintf(fpath, sizeof fpath, "/v1/admin/accounts/%lld/unfreeze", b.account);
    ASSERT_EQ(admin(&S, S.token, "POST", fpath, "{\"reason\":\"ok\"}", &j), 200);
    ASSERT_STR(json_str(j, "status"), "unverified");
    json_decref(j);

    /* the operator verifies a */
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/verify", a.account);
    ASSERT_EQ(admin(&S, S.token, "POST", path, "{}", &j), 200);
    ASSERT_STR(json_str(j, "status"), "verified");
    ASSERT_EQ(json_int(j, "account"), a.account);
    json_decref(j);
    ASSERT_STR(status_of(a.account), "verified");
    n = admin_list(__FILE__, __LINE__, "?status=unverified", "unverified", ids, 16);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(ids[0], b.account);
    n = admin_list(__FILE__, __LINE__, "?status=verified", "verified", ids, 16);
    ASSERT(contains(ids, n, a.account) && !contains(ids, n, b.account));

    st = withdraw(&S, &a, 1000, coins, 32, &nc, &j);
    ASSERT_EQ(st, 201);
    json_decref(j);
    long long sum = 0;
    for (size_t i = 0; i < nc; i++) sum += coin_value(&coins[i]);
    ASSERT_EQ(sum, 1000);
    ASSERT_EQ(BAL(&a), 3500);
    /* b is still refused */
    st = withdraw(&S, &b, 100, coins, 32, &nc, &j);
    CHECK_ERR("withdraw unverified b", st, j, 403, "DC_ERR_ACCOUNT_UNVERIFIED");
    json_decref(j);
    ASSERT_EQ(BAL(&b), 500);
    finish();
}

/* ---- 3. Authentication ------------------------------------------------------ */

static struct dev A, B;
static long long EA, EB;

/* Balances as expected and the server still serving. */
static void settled(const char *file, int line, const char *what)
{
    long long a = BAL(&A), b = BAL(&B);
    if (a != EA || b != EB) {
        h_fail(file, line, "after %s: balances %lld/%lld, expected %lld/%lld", what, a, b, EA, EB);
    }
    health_ok(file, line);
}

static void auth_err(const char *file, int line, const char *what, struct api_req *q, int http,
                     const char *const *names)
{
    char desc[300];
    snprintf(desc, sizeof desc, "%s %s [%s]", q->method, q->path, what);
    struct api_resp r;
    int st = api_raw(&S, q, &r);
    err_in(file, line, desc, st, r.json, http, names);
    api_resp_free(&r);
    settled(file, line, desc);
}
#define AUTH_ERR(what, q, http, ...)                                                               \
    auth_err(__FILE__, __LINE__, (what), (q), (http), NAMES(__VA_ARGS__))

/* The request must succeed; a POST moved 100 from A to B. */
static void auth_ok(const char *file, int line, const char *what, struct api_req *q)
{
    struct api_resp r;
    int st = api_raw(&S, q, &r);
    int want = strcmp(q->method, "POST") == 0 ? 201 : 200;
    if (st != want) {
        h_fail(file, line, "%s %s [%s]: expected %d, got %d %s", q->method, q->path, what, want, st,
               r.body);
    }
    api_resp_free(&r);
    if (want == 201) {
        EA -= 100;
        EB += 100;
    }
    settled(file, line, what);
}
#define AUTH_OK(what, q) auth_ok(__FILE__, __LINE__, (what), (q))

static const char *fresh_body(char *buf, size_t cap, int with_body)
{
    if (!with_body) return NULL;
    char rid[40];
    new_request_id(rid);
    transfer_body(buf, cap, rid, B.account, 100);
    return buf;
}

static struct api_req mkreq(const char *method, const char *path, const char *body,
                            const struct dev *d)
{
    struct api_req q;
    memset(&q, 0, sizeof q);
    q.method = method;
    q.path = path;
    q.body = body;
    q.dev = d;
    return q;
}

static void auth_suite(const char *method, const char *path, int with_body)
{
    char body[256], body2[300], sig[2 * DC_SIG_BYTES + 1], sig2[2 * DC_SIG_BYTES + 1];
    uint8_t nonce[DC_NONCE_BYTES];
    const char *bp;
    struct api_req q;
    size_t blen;

    /* no authentication at all */
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, NULL);
    AUTH_ERR("no headers", &q, 401, "DC_ERR_AUTH_MISSING");

    /* each header left out */
    for (int k = 0; k < 4; k++) {
        bp = fresh_body(body, sizeof body, with_body);
        q = mkreq(method, path, bp, &A);
        const char *what = k == 0   ? "no X-Ducat-Key"
                           : k == 1 ? "no X-Ducat-Time"
                           : k == 2 ? "no X-Ducat-Nonce"
                                    : "no X-Ducat-Signature";
        if (k == 0) q.key = HDR_OMIT;
        if (k == 1) q.time = HDR_OMIT;
        if (k == 2) q.nonce_hex = HDR_OMIT;
        if (k == 3) q.sig = HDR_OMIT;
        AUTH_ERR(what, &q, 401, "DC_ERR_AUTH_MISSING");
    }

    /* malformed values */
    char key_nonhex[65], key_short[63], key_long[67], sig_short[127], sig_long[131],
        sig_nonhex[129], nonce_nonhex[33];
    memset(key_nonhex, 'z', 64);
    key_nonhex[64] = '\0';
    snprintf(key_short, sizeof key_short, "%.62s", A.pk_hex);
    snprintf(key_long, sizeof key_long, "%s00", A.pk_hex);
    memset(sig_short, 'a', 126);
    sig_short[126] = '\0';
    memset(sig_long, 'a', 130);
    sig_long[130] = '\0';
    memset(sig_nonhex, 'a', 128);
    sig_nonhex[127] = 'x';
    sig_nonhex[128] = '\0';
    memset(nonce_nonhex, '0', 32);
    nonce_nonhex[5] = 'g';
    nonce_nonhex[32] = '\0';
    const struct {
        int field;
        const char *value;
        const char *what;
    } bad[] = {
        {0, key_nonhex, "key not hex"},
        {0, key_short, "key 31 bytes"},
        {0, key_long, "key 33 bytes"},
        {1, "abc", "time not a number"},
        {1, "-1", "time negative"},
        {1, "12a", "time with trailing garbage"},
        {1, "+1700000000000", "time with a sign"},
        {1, "1.5e12", "time not an integer"},
        {2, "xyz", "nonce short, not hex"},
        {2, "000102030405060708090a0b0c0d0e", "nonce 15 bytes"},
        {2, "000102030405060708090a0b0c0d0e0f10", "nonce 17 bytes"},
        {2, nonce_nonhex, "nonce not hex"},
        {3, sig_short, "signature 63 bytes"},
        {3, sig_long, "signature 65 bytes"},
        {3, sig_nonhex, "signature not hex"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bp = fresh_body(body, sizeof body, with_body);
        q = mkreq(method, path, bp, &A);
        if (bad[i].field == 0) q.key = bad[i].value;
        if (bad[i].field == 1) q.time = bad[i].value;
        if (bad[i].field == 2) q.nonce_hex = bad[i].value;
        if (bad[i].field == 3) q.sig = bad[i].value;
        AUTH_ERR(bad[i].what, &q, 401, "DC_ERR_AUTH_MISSING");
    }
    /* a time that does not fit 64 bits is not a time of the window */
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &A);
    q.time = "99999999999999999999999";
    AUTH_ERR("time overflows", &q, 401, "DC_ERR_AUTH_MISSING", "DC_ERR_AUTH_STALE");

    /* wrong signatures */
    char zero_sig[129];
    memset(zero_sig, '0', 128);
    zero_sig[128] = '\0';
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &A);
    q.sig = zero_sig;
    AUTH_ERR("all-zero signature", &q, 401, "DC_ERR_AUTH_SIGNATURE");

    uint64_t t = h_now_ms();
    randombytes_buf(nonce, sizeof nonce);
    bp = fresh_body(body, sizeof body, with_body);
    blen = bp ? strlen(bp) : 0;
    dev_sign_hex(sig, &A, method, path, bp, blen, t, nonce);
    sig[10] = sig[10] == '0' ? '1' : '0';
    q = mkreq(method, path, bp, &A);
    q.time_ms = t;
    q.nonce = nonce;
    q.sig = sig;
    AUTH_ERR("one signature digit changed", &q, 401, "DC_ERR_AUTH_SIGNATURE");

    randombytes_buf(nonce, sizeof nonce);
    bp = fresh_body(body, sizeof body, with_body);
    blen = bp ? strlen(bp) : 0;
    dev_sign_hex(sig, &B, method, path, bp, blen, t, nonce);
    q = mkreq(method, path, bp, &A); /* key header: A; signature: B's */
    q.time_ms = t;
    q.nonce = nonce;
    q.sig = sig;
    AUTH_ERR("signed by another registered key", &q, 401, "DC_ERR_AUTH_SIGNATURE");

    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &A); /* signed by A, claims to be B */
    q.key = B.pk_hex;
    AUTH_ERR("key header of another device", &q, 401, "DC_ERR_AUTH_SIGNATURE");

    /* the body changed after signing */
    {
        const char *signed_body, *sent_body;
        if (with_body) {
            signed_body = fresh_body(body, sizeof body, 1);
            snprintf(body2, sizeof body2, "%s", body);
            char *amt = strstr(body2, "\"amount\":100");
            ASSERT(amt != NULL);
            amt[10] = '9'; /* 100 -> 900 */
            sent_body = body2;
        } else {
            signed_body = NULL;
            sent_body = "{}";
        }
        randombytes_buf(nonce, sizeof nonce);
        dev_sign_hex(sig, &A, method, path, signed_body, signed_body ? strlen(signed_body) : 0, t,
                     nonce);
        q = mkreq(method, path, sent_body, &A);
        q.time_ms = t;
        q.nonce = nonce;
        q.sig = sig;
        AUTH_ERR("body altered after signing", &q, 401, "DC_ERR_AUTH_SIGNATURE");
        if (with_body) {
            snprintf(body2, sizeof body2, "%s ", signed_body ? signed_body : "");
            randombytes_buf(nonce, sizeof nonce);
            dev_sign_hex(sig, &A, method, path, signed_body, strlen(signed_body), t, nonce);
            q = mkreq(method, path, body2, &A);
            q.time_ms = t;
            q.nonce = nonce;
            q.sig = sig;
            AUTH_ERR("blank appended after signing", &q, 401, "DC_ERR_AUTH_SIGNATURE");
        }
    }

    /* the target or method changed after signing */
    {
        char p_q1[128], p_q2[128];
        snprintf(p_q1, sizeof p_q1, "%s?x=1", path);
        snprintf(p_q2, sizeof p_q2, "%s?x=2", path);
        const char *other_path = with_body ? "/v1/transfers/batch" : "/v1/history";
        const char *other_method = with_body ? "PUT" : "POST";
        const struct {
            const char *sm, *sp, *xp, *what;
        } alt[] = {
            {method, p_q1, path, "query dropped after signing"},
            {method, path, p_q1, "query added after signing"},
            {method, p_q1, p_q2, "query changed after signing"},
            {method, other_path, path, "signed for another path"},
            {other_method, path, path, "signed for another method"},
        };
        for (size_t i = 0; i < sizeof alt / sizeof alt[0]; i++) {
            bp = fresh_body(body, sizeof body, with_body);
            blen = bp ? strlen(bp) : 0;
            randombytes_buf(nonce, sizeof nonce);
            dev_sign_hex(sig, &A, alt[i].sm, alt[i].sp, bp, blen, t, nonce);
            q = mkreq(method, alt[i].xp, bp, &A);
            q.time_ms = t;
            q.nonce = nonce;
            q.sig = sig;
            AUTH_ERR(alt[i].what, &q, 401, "DC_ERR_AUTH_SIGNATURE");
        }
    }

    /* stale or future time, correctly signed */
    const struct {
        long long delta;
        const char *what;
    } stale[] = {
        {-600000, "10 minutes old"},
        {600000, "10 minutes ahead"},
        {-310000, "310 s old"},
        {310000, "310 s ahead"},
    };
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
        bp = fresh_body(body, sizeof body, with_body);
        q = mkreq(method, path, bp, &A);
        q.time_ms = (uint64_t)((long long)h_now_ms() + stale[i].delta);
        AUTH_ERR(stale[i].what, &q, 401, "DC_ERR_AUTH_STALE");
    }
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &A);
    q.time_ms = h_now_ms() / 1000; /* seconds, not ms */
    AUTH_ERR("time in seconds", &q, 401, "DC_ERR_AUTH_STALE");
    /* inside the window (4 minutes either way) is fine, as long as the
     * request was signed after this server started: before that, the
     * previous process may have seen its nonce */
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &A);
    q.time_ms = h_now_ms() - 240000;
    AUTH_ERR("4 minutes old, before the server started", &q, 401, "DC_ERR_AUTH_STALE");
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &A);
    q.time_ms = started_ms; /* a little old, after the start */
    ASSERT(h_now_ms() - q.time_ms < 240000);
    AUTH_OK("old, signed after the server started", &q);
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &A);
    q.time_ms = h_now_ms() + 240000;
    AUTH_OK("4 minutes ahead", &q);

    /* replay */
    uint8_t rnonce[DC_NONCE_BYTES];
    randombytes_buf(rnonce, sizeof rnonce);
    bp = fresh_body(body, sizeof body, with_body);
    struct api_req first = mkreq(method, path, bp, &A);
    first.nonce = rnonce;
    AUTH_OK("the original", &first);
    q = mkreq(method, path, bp, NULL);
    q.key = first.sent_key;
    q.time = first.sent_time;
    q.nonce_hex = first.sent_nonce;
    q.sig = first.sent_sig;
    AUTH_ERR("exact replay", &q, 401, "DC_ERR_AUTH_REPLAY");
    AUTH_ERR("exact replay, again", &q, 401, "DC_ERR_AUTH_REPLAY");
    bp = fresh_body(body, sizeof body, with_body); /* new body, new time, same nonce */
    q = mkreq(method, path, bp, &A);
    q.nonce = rnonce;
    q.time_ms = h_now_ms() + 1;
    AUTH_ERR("nonce reused in a new request", &q, 401, "DC_ERR_AUTH_REPLAY");
    if (!with_body) { /* nonces are per key: B may use the same one */
        q = mkreq(method, path, NULL, &B);
        q.nonce = rnonce;
        AUTH_OK("another key, same nonce", &q);
    }

    /* a valid signature by an unregistered key */
    struct dev c;
    dev_new(&c);
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &c);
    AUTH_ERR("unregistered key", &q, 401, "DC_ERR_AUTH_UNKNOWN");

    /* a rejected request does not use up its nonce */
    randombytes_buf(rnonce, sizeof rnonce);
    bp = fresh_body(body, sizeof body, with_body);
    q = mkreq(method, path, bp, &A);
    q.nonce = rnonce;
    q.sig = zero_sig;
    AUTH_ERR("bad signature with nonce N", &q, 401, "DC_ERR_AUTH_SIGNATURE");
    q = mkreq(method, path, bp, &A);
    q.nonce = rnonce;
    q.time_ms = h_now_ms() - 600000;
    AUTH_ERR("stale with nonce N", &q, 401, "DC_ERR_AUTH_STALE");
    q = mkreq(method, path, bp, &A);
    q.nonce = rnonce;
    AUTH_OK("valid with nonce N", &q);
    (void)sig2;
}

static void test_auth_balance(void)
{
    begin("--auto-verify");
    dev_setup(&S, &A, "Auth Alice", 10000);
    dev_setup(&S, &B, "Auth Bob", 0);
    EA = 10000;
    EB = 0;
    auth_suite("GET", "/v1/balance", 0);
    finish();
}

static void test_auth_transfer(void)
{
    begin("--auto-verify");
    dev_setup(&S, &A, "Auth Alice", 10000);
    dev_setup(&S, &B, "Auth Bob", 0);
    EA = 10000;
    EB = 0;
    auth_suite("POST", "/v1/transfers", 1);
    /* exactly the accepted requests moved money: 4 successes */
    ASSERT_EQ(EA, 10000 - 400);
    ASSERT_EQ(BAL(&A), 9600);
    ASSERT_EQ(BAL(&B), 400);
    finish();
}

/* The nonce cache must survive a restart: the window has not passed. */
/* Not listed in TESTS: documents a known gap (nonces are kept in memory, so
 * a replay right after a restart is accepted). See the issue 3 closing note. */
static void test_auth_replay_after_restart(void)
{
    begin("--auto-verify");
    struct dev a, b;
    dev_setup(&S, &a, "Replay Alice", 10000);
    dev_setup(&S, &b, "Replay Bob", 0);
    char rid[40], body[256];
    new_request_id(rid);
    transfer_body(body, sizeof body, rid, b.account, 100);
    struct api_req t1 = mkreq("POST", "/v1/transfers", body, &a);
    struct api_resp r;
    ASSERT_EQ(api_raw(&S, &t1, &r), 201);
    api_resp_free(&r);
    struct api_req g1 = mkreq("GET", "/v1/balance", NULL, &a);
    ASSERT_EQ(api_raw(&S, &g1, &r), 200);
    api_resp_free(&r);
    srv_restart(&S);
    /* the money moved once whatever happens to the replays */
    struct api_req t2 = mkreq("POST", "/v1/transfers", body, NULL);
    t2.key = t1.sent_key;
    t2.time = t1.sent_time;
    t2.nonce_hex = t1.sent_nonce;
    t2.sig = t1.sent_sig;
    int st = api_raw(&S, &t2, &r);
    ASSERT_EQ(BAL(&a), 9900);
    ASSERT_EQ(BAL(&b), 100);
    CHECK_ERR("POST /v1/transfers replayed after a restart", st, r.json, 401, "DC_ERR_AUTH_STALE");
    api_resp_free(&r);
    struct api_req g2 = mkreq("GET", "/v1/balance", NULL, NULL);
    g2.key = g1.sent_key;
    g2.time = g1.sent_time;
    g2.nonce_hex = g1.sent_nonce;
    g2.sig = g1.sent_sig;
    st = api_raw(&S, &g2, &r);
    CHECK_ERR("GET /v1/balance replayed after a restart", st, r.json, 401, "DC_ERR_AUTH_STALE");
    api_resp_free(&r);
    /* the same requests signed afresh pass, and the money still moved once */
    struct api_req g3 = mkreq("GET", "/v1/balance", NULL, &a);
    ASSERT_EQ(api_raw(&S, &g3, &r), 200);
    api_resp_free(&r);
    struct api_req t3 = mkreq("POST", "/v1/transfers", body, &a);
    ASSERT_EQ(api_raw(&S, &t3, &r), 201); /* the stored answer of the first one */
    api_resp_free(&r);
    ASSERT_EQ(BAL(&a), 9900);
    ASSERT_EQ(BAL(&b), 100);
    finish();
}

/* ---- 4. Admin ------------------------------------------------------------------ */

static void test_admin_auth(void)
{
    begin("--auto-verify");
    struct srv other;
    memset(&other, 0, sizeof other);
    srv_init(&other, NULL); /* only for its token */
    ASSERT(strcmp(other.token, S.token) != 0);
    struct dev a, b;
    dev_setup(&S, &a, "Admin Alice", 5000);
    dev_setup(&S, &b, "Admin Bob", 0);

    char p_show[96], p_verify[96], p_freeze[96], fundb[256], payb[256];
    snprintf(p_show, sizeof p_show, "/v1/admin/accounts/%lld", a.account);
    snprintf(p_verify, sizeof p_verify, "/v1/admin/accounts/%lld/verify", b.account);
    snprintf(p_freeze, sizeof p_freeze, "/v1/admin/accounts/%lld/freeze", a.account);
    snprintf(fundb, sizeof fundb, "{\"request_id\":\"adm-f\",\"account\":%lld,\"amount\":1}",
             a.account);
    snprintf(payb, sizeof payb, "{\"request_id\":\"adm-p\",\"account\":%lld,\"amount\":1}",
             a.account);
    const struct {
        const char *method, *path, *body;
    } routes[] = {
        {"GET", "/v1/admin/accounts", NULL},
        {"GET", "/v1/admin/accounts?status=verified", NULL},
        {"GET", p_show, NULL},
        {"POST", p_verify, "{}"},
        {"POST", p_freeze, "{\"reason\":\"test\"}"},
        {"POST", "/v1/admin/fund", fundb},
        {"POST", "/v1/admin/payout", payb},
        {"GET", "/v1/admin/cases", NULL},
        {"GET", "/v1/admin/cases?status=open", NULL},
        {"GET", "/v1/admin/cases/1", NULL},
        {"POST", "/v1/admin/cases/1/resolve", "{\"decision\":\"reject\",\"reason\":\"x\"}"},
        {"POST", "/v1/admin/holds/release", "{}"},
        {"GET", "/v1/admin/audit", NULL},
    };
    char wrong[300], longer[300], shorter[300], basic[400], bare[400], lower[400];
    snprintf(wrong, sizeof wrong, "%s", S.token);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    snprintf(longer, sizeof longer, "%sx", S.token);
    snprintf(shorter, sizeof shorter, "%.*s", (int)strlen(S.token) - 1, S.token);
    snprintf(basic, sizeof basic, "Authorization: Basic %s", S.token);
    snprintf(bare, sizeof bare, "Authorization: %s", S.token);
    snprintf(lower, sizeof lower, "X-Admin-Token: %s", S.token);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        for (int k = 0; k < 9; k++) {
            struct api_req q = mkreq(routes[i].method, routes[i].path, routes[i].body, NULL);
            const char *what = "";
            switch (k) {
            case 0:
                what = "no token";
                break;
            case 1:
                what = "wrong token";
                q.bearer = wrong;
                break;
            case 2:
                what = "'Bearer ' only";
                q.bearer = "";
                break;
            case 3:
                what = "token of another instance";
                q.bearer = other.token;
                break;
            case 4:
                what = "token plus a character";
                q.bearer = longer;
                break;
            case 5:
                what = "token minus its last character";
                q.bearer = shorter;
                break;
            case 6:
                what = "Basic scheme";
                q.headers[0] = basic;
                break;
            case 7:
                what = "token without scheme";
                q.headers[0] = bare;
                break;
            case 8:
                what = "device-signed";
                q.dev = &a;
                q.headers[0] = lower;
                break;
            }
            char desc[300];
            snprintf(desc, sizeof desc, "%s %s [%s]", routes[i].method, routes[i].path, what);
            struct api_resp r;
            int st = api_raw(&S, &q, &r);
            err_in(__FILE__, __LINE__, desc, st, r.json, 401, NAMES("DC_ERR_ADMIN_AUTH"));
            api_resp_free(&r);
        }
    }
    /* nothing happened: no freeze, no fund/payout, b untouched */
    ASSERT_EQ(BAL(&a), 5000);
    ASSERT_EQ(BAL(&b), 0);
    ASSERT_STR(status_of(a.account), "verified");
    XFER_OK(&a, b.account, 1);
    /* and the real token works on the same routes */
    json_t *j = NULL;
    ASSERT_EQ(admin(&S, S.token, "GET", "/v1/admin/audit", NULL, &j), 200);
    ASSERT(json_is_true(json_get(j, "ok")));
    json_decref(j);
    ASSERT_EQ(admin(&S, S.token, "POST", "/v1/admin/fund", fundb, NULL), 201);
    ASSERT_EQ(BAL(&a), 5000);
    srv_cleanup(&other);
    finish();
}

static void test_admin_ops(void)
{
    begin(NULL);
    struct dev a, b, c;
    dev_new(&a);
    dev_new(&b);
    dev_new(&c);
    char nid[19], phone[16];
    make_identity(nid, phone);
    char *body = reg_body("Operator Alice", nid, phone, a.pk_hex);
    json_t *j = NULL;
    ASSERT_EQ(api(&S, &a, "POST", "/v1/register", body, &j), 201);
    free(body);
    a.account = json_int(j, "account");
    char alias[64];
    snprintf(alias, sizeof alias, "%s", json_str(j, "alias"));
    json_decref(j);
    register_dev(&S, &b, "Operator Bob");
    register_dev(&S, &c, "Operator Carol");

    /* list, filters */
    long long ids[64];
    size_t n = admin_list(__FILE__, __LINE__, "", NULL, ids, 64);
    ASSERT(contains(ids, n, a.account) && contains(ids, n, b.account) &&
           contains(ids, n, c.account));
    n = admin_list(__FILE__, __LINE__, "?status=unverified", "unverified", ids, 64);
    ASSERT_EQ(n, 3);
    n = admin_list(__FILE__, __LINE__, "?status=frozen", "frozen", ids, 64);
    ASSERT_EQ(n, 0);
    ADMIN_ERR("GET", "/v1/admin/accounts?status=bogus", NULL, 400, "DC_ERR_FIELD");
    ADMIN_ERR("GET", "/v1/admin/accounts?status=VERIFIED", NULL, 400, "DC_ERR_FIELD");

    /* show: private data */
    j = admin_show(__FILE__, __LINE__, a.account);
    ASSERT_EQ(json_int(j, "account"), a.account);
    ASSERT_STR(json_str(j, "name"), "Operator Alice");
    ASSERT_STR(json_str(j, "national_id"), nid);
    ASSERT_STR(json_str(j, "phone"), phone);
    ASSERT_STR(json_str(j, "device_pub"), a.pk_hex);
    ASSERT_STR(json_str(j, "alias"), alias);
    ASSERT_STR(json_str(j, "status"), "unverified");
    ASSERT_EQ(json_int(j, "available"), 0);
    ASSERT_EQ(json_int(j, "held"), 0);
    json_decref(j);
    ADMIN_ERR("GET", "/v1/admin/accounts/999999", NULL, 404, "DC_ERR_NO_ACCOUNT");

    /* verify */
    char path[128];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/verify", a.account);
    ASSERT_EQ(admin(&S, S.token, "POST", path, "{}", &j), 200);
    ASSERT_STR(json_str(j, "status"), "verified");
    json_decref(j);
    ASSERT_STR(status_of(a.account), "verified");
    ASSERT_STR(status_of(b.account), "unverified");
    n = admin_list(__FILE__, __LINE__, "?status=verified", "verified", ids, 64);
    ASSERT(contains(ids, n, a.account) && !contains(ids, n, b.account));
    n = admin_list(__FILE__, __LINE__, "?status=unverified", "unverified", ids, 64);
    ASSERT_EQ(n, 2);
    ASSERT(!contains(ids, n, a.account));
    ADMIN_ERR("POST", "/v1/admin/accounts/999999/verify", "{}", 404, "DC_ERR_NO_ACCOUNT");
    ASSERT_EQ(verify_account(&S, b.account), 200);
    ASSERT_EQ(verify_account(&S, c.account), 200);

    /* fund */
    char fb[256];
    snprintf(fb, sizeof fb, "{\"request_id\":\"fund-1\",\"account\":%lld,\"amount\":10000}",
             a.account);
    struct api_req q = mkreq("POST", "/v1/admin/fund", fb, NULL);
    q.bearer = S.token;
    struct api_resp r1, r2;
    ASSERT_EQ(api_raw(&S, &q, &r1), 201);
    ASSERT_EQ(json_int(r1.json, "account"), a.account);
    ASSERT_EQ(json_int(r1.json, "amount"), 10000);
    ASSERT_EQ(json_int(r1.json, "available"), 10000);
    ASSERT_EQ(api_raw(&S, &q, &r2), 201); /* a retry: same answer, funded once */
    ASSERT_STR(r2.body, r1.body);
    api_resp_free(&r1);
    api_resp_free(&r2);
    ASSERT_EQ(BAL(&a), 10000);
    /* the same id and body on another route is a conflict, never the other
     * route's answer: a fund's id reused for a payout pays nothing out */
    ADMIN_ERR("POST", "/v1/admin/payout", fb, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    ASSERT_EQ(BAL(&a), 10000);
    snprintf(fb, sizeof fb, "{\"request_id\":\"fund-1\",\"account\":%lld,\"amount\":10001}",
             a.account);
    ADMIN_ERR("POST", "/v1/admin/fund", fb, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    ADMIN_ERR("POST", "/v1/admin/fund",
              "{\"request_id\":\"fund-2\",\"account\":999999,\"amount\":5}", 404,
              "DC_ERR_NO_ACCOUNT");
    ADMIN_ERR("POST", "/v1/admin/fund", "{\"request_id\":\"fund-3\",\"account\":1,\"amount\":5}",
              404, "DC_ERR_NO_ACCOUNT");
    const char *badf[] = {"{\"request_id\":\"fund-4\",\"account\":%lld,\"amount\":0}",
                          "{\"request_id\":\"fund-4\",\"account\":%lld,\"amount\":-5}",
                          "{\"request_id\":\"fund-4\",\"account\":%lld,\"amount\":1.5}",
                          "{\"request_id\":\"fund-4\",\"account\":%lld,\"amount\":\"5\"}",
                          "{\"account\":%lld,\"amount\":5}",
                          "{\"request_id\":\"fund 4\",\"account\":%lld,\"amount\":5}"};
    for (size_t i = 0; i < sizeof badf / sizeof badf[0]; i++) {
        char bb[256];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(bb, sizeof bb, badf[i], a.account);
#pragma GCC diagnostic pop
        ADMIN_ERR("POST", "/v1/admin/fund", bb, 400, "DC_ERR_FIELD");
    }
    ADMIN_ERR("POST", "/v1/admin/fund",
              "{\"request_id\":\"fund-5\",\"account\":\"x\",\"amount\":5}", 400, "DC_ERR_FIELD");
    ASSERT_EQ(BAL(&a), 10000);

    /* payout */
    snprintf(fb, sizeof fb, "{\"request_id\":\"pay-1\",\"account\":%lld,\"amount\":3000}",
             a.account);
    ASSERT_EQ(admin(&S, S.token, "POST", "/v1/admin/payout", fb, &j), 201);
    ASSERT_EQ(json_int(j, "available"), 7000);
    json_decref(j);
    ASSERT_EQ(BAL(&a), 7000);
    snprintf(fb, sizeof fb, "{\"request_id\":\"pay-2\",\"account\":%lld,\"amount\":7001}",
             a.account);
    ADMIN_ERR("POST", "/v1/admin/payout", fb, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    ASSERT_EQ(BAL(&a), 7000);
    snprintf(fb, sizeof fb, "{\"request_id\":\"pay-3\",\"account\":%lld,\"amount\":1}", b.account);
    ADMIN_ERR("POST", "/v1/admin/payout", fb, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    ADMIN_ERR("POST", "/v1/admin/payout",
              "{\"request_id\":\"pay-4\",\"account\":999999,\"amount\":1}", 404,
              "DC_ERR_NO_ACCOUNT");
    snprintf(fb, sizeof fb, "{\"request_id\":\"pay-5\",\"account\":%lld,\"amount\":0}", a.account);
    ADMIN_ERR("POST", "/v1/admin/payout", fb, 400, "DC_ERR_FIELD");
    ASSERT_EQ(BAL(&a), 7000);

    /* freeze */
    ASSERT_EQ(fund(&S, b.account, 2000), 201);
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/freeze", b.account);
    ASSERT_EQ(admin(&S, S.token, "POST", path, "{\"reason\":\"aml review\"}", &j), 200);
    ASSERT_STR(json_str(j, "status"), "frozen");
    json_decref(j);
    ASSERT_STR(status_of(b.account), "frozen");
    n = admin_list(__FILE__, __LINE__, "?status=frozen", "frozen", ids, 64);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(ids[0], b.account);
    ADMIN_ERR("POST", "/v1/admin/accounts/999999/freeze", "{\"reason\":\"x\"}", 404,
              "DC_ERR_NO_ACCOUNT");

    j = NULL;
    int st = xfer(&b, a.account, 100, &j);
    CHECK_ERR("frozen account pays", st, j, 403, "DC_ERR_ACCOUNT_FROZEN");
    json_decref(j);
    /* no cash in or out either; nothing moves */
    snprintf(fb, sizeof fb, "{\"request_id\":\"fz-1\",\"account\":%lld,\"amount\":5}", b.account);
    ADMIN_ERR("POST", "/v1/admin/fund", fb, 403, "DC_ERR_ACCOUNT_FROZEN");
    snprintf(fb, sizeof fb, "{\"request_id\":\"fz-2\",\"account\":%lld,\"amount\":5}", b.account);
    ADMIN_ERR("POST", "/v1/admin/payout", fb, 403, "DC_ERR_ACCOUNT_FROZEN");
    ASSERT_EQ(BAL(&b), 2000);
    st = xfer(&a, b.account, 100, &j);
    CHECK_ERR("pay a frozen account", st, j, 403, "DC_ERR_ACCOUNT_FROZEN");
    json_decref(j);
    char bb[256];
    snprintf(bb, sizeof bb,
             "{\"request_id\":\"fb-1\",\"transfers\":[{\"to\":%lld,\"amount\":10},{\"to\":%lld,"
             "\"amount\":10}]}",
             c.account, b.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", bb, 403, "DC_ERR_ACCOUNT_FROZEN");
    snprintf(bb, sizeof bb, "{\"request_id\":\"fb-2\",\"transfers\":[{\"to\":%lld,\"amount\":10}]}",
             c.account);
    REQ_ERR(&b, "POST", "/v1/transfers/batch", bb, 403, "DC_ERR_ACCOUNT_FROZEN");
    static struct coin coins[32];
    size_t nc;
    st = withdraw(&S, &b, 100, coins, 32, &nc, &j);
    CHECK_ERR("frozen account withdraws", st, j, 403, "DC_ERR_ACCOUNT_FROZEN");
    json_decref(j);
    ASSERT_EQ(BAL(&a), 7000);
    ASSERT_EQ(BAL(&b), 2000);
    ASSERT_EQ(BAL(&c), 0);
    XFER_OK(&a, c.account, 100); /* others are unaffected */
    ASSERT_EQ(BAL(&c), 100);

    /* Verifying a frozen account keeps it frozen; unfreezing needs a reason;
     * every change is an event with who, when and why; a repeat records
     * nothing. */
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/verify", b.account);
    ASSERT_EQ(admin(&S, S.token, "POST", path, "{}", &j), 200);
    ASSERT_STR(json_str(j, "status"), "frozen");
    ASSERT(json_is_true(json_get(j, "frozen")) && json_is_true(json_get(j, "verified")));
    json_decref(j);
    st = xfer(&b, a.account, 100, &j);
    CHECK_ERR("verify does not unfreeze", st, j, 403, "DC_ERR_ACCOUNT_FROZEN");
    json_decref(j);
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/unfreeze", b.account);
    ADMIN_ERR("POST", path, "{}", 400, "DC_ERR_FIELD");
    ADMIN_ERR("POST", path, "{\"reason\":\"\"}", 400, "DC_ERR_FIELD");
    ASSERT_STR(status_of(b.account), "frozen");
    /* the bootstrap token may not write another name into the journal:
     * refused, nothing recorded; naming itself is fine */
    ASSERT_EQ(
        admin(&S, S.token, "POST", path, "{\"reason\":\"review closed\",\"actor\":\"jane\"}", &j),
        400);
    ASSERT_STR(json_str(j, "name"), "DC_ERR_FIELD");
    ASSERT(strstr(json_str(j, "detail"), "'jane'") && strstr(json_str(j, "detail"), "'admin'"));
    json_decref(j);
    ASSERT_STR(status_of(b.account), "frozen");
    ASSERT_EQ(
        admin(&S, S.token, "POST", path, "{\"reason\":\"review closed\",\"actor\":\"admin\"}", &j),
        200);
    ASSERT_STR(json_str(j, "status"), "verified");
    ASSERT(json_is_false(json_get(j, "frozen")));
    json_t *ev = json_get(j, "events");
    ASSERT(json_is_array(ev));
    ASSERT_EQ(json_array_size(ev), 3); /* verify (earlier), freeze, unfreeze; not the re-verify */
    ASSERT_STR(json_str(json_array_get(ev, 0), "action"), "verify");
    ASSERT_STR(json_str(json_array_get(ev, 1), "action"), "freeze");
    ASSERT_STR(json_str(json_array_get(ev, 1), "reason"), "aml review");
    ASSERT_STR(json_str(json_array_get(ev, 1), "actor"), "admin");
    ASSERT_STR(json_str(json_array_get(ev, 2), "action"), "unfreeze");
    ASSERT_STR(json_str(json_array_get(ev, 2), "reason"), "review closed");
    ASSERT_STR(json_str(json_array_get(ev, 2), "actor"), "admin");
    ASSERT(json_int(json_array_get(ev, 2), "time") >= json_int(json_array_get(ev, 1), "time"));
    json_decref(j);
    ASSERT_EQ(admin(&S, S.token, "POST", path, "{\"reason\":\"again\"}", &j), 200);
    ASSERT_EQ(json_array_size(json_get(j, "events")), 3);
    json_decref(j);
    ASSERT_EQ(admin_list(__FILE__, __LINE__, "?status=frozen", "frozen", ids, 64), 0);
    XFER_OK(&b, c.account, 100); /* b pays again */
    ASSERT_EQ(BAL(&b), 1900);
    ADMIN_ERR("POST", "/v1/admin/accounts/999999/unfreeze", "{\"reason\":\"x\"}", 404,
              "DC_ERR_NO_ACCOUNT");

    /* the same through the operator's command line, on the live database */
    char out[8192];
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts freeze %lld", b.account), 2);
    ASSERT(strstr(out, "--reason") != NULL);
    ASSERT_STR(status_of(b.account), "verified");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts freeze %lld --reason chargeback --actor bob",
                      b.account),
              0);
    ASSERT_STR(status_of(b.account), "frozen");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts verify %lld", b.account), 0);
    ASSERT_STR(status_of(b.account), "frozen");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts list --status frozen"), 0);
    ASSERT(strstr(out, "frozen") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts show %lld", b.account), 0);
    ASSERT(strstr(out, "chargeback") != NULL && strstr(out, " (bob)\"") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts unfreeze %lld --reason refunded", b.account),
              0);
    ASSERT_STR(status_of(b.account), "verified");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts unfreeze %lld --reason twice", b.account), 0);
    ASSERT(strstr(out, "already") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts freeze %lld --bogus x", b.account), 2);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts freeze 999999 --reason x"), 1);
    /* The command line takes any length and any bytes: an event keeps at
     * most 255 bytes of reason and 63 of actor, and a cut in the middle of
     * a character (150 x U+00E9 is 300 bytes) or bytes that are not UTF-8
     * made an event JSON could not show: refused, nothing recorded. */
    char longer[512] = "";
    for (int i = 0; i < 150; i++) strcat(longer, "\xc3\xa9");
    ASSERT(srv_cmd(&S, out, sizeof out, "accounts freeze %lld --reason %s", b.account, longer) > 0);
    ASSERT(strstr(out, "reason must be UTF-8 of at most 255 bytes") != NULL);
    ASSERT(srv_cmd(&S, out, sizeof out, "accounts freeze %lld --reason a\xff", b.account) > 0);
    ASSERT(strstr(out, "reason must be UTF-8") != NULL);
    ASSERT(srv_cmd(&S, out, sizeof out, "accounts freeze %lld --reason x --actor %0*d", b.account,
                   64, 0) > 0);
    ASSERT(strstr(out, "--actor") && strstr(out, "63 bytes"));
    ASSERT_STR(status_of(b.account), "verified");
    j = admin_show(__FILE__, __LINE__, b.account);
    ASSERT_EQ(json_array_size(json_get(j, "events")), 5);
    /* the command line records the Unix user who ran it; --actor is a
     * label beside it, never a name in its place */
    char unix_bob[96], unix_me[80];
    struct passwd *pw = getpwuid(geteuid());
    ASSERT(pw != NULL);
    snprintf(unix_me, sizeof unix_me, "unix:%s", pw->pw_name);
    snprintf(unix_bob, sizeof unix_bob, "unix:%s (bob)", pw->pw_name);
    ASSERT_STR(json_str(json_array_get(json_get(j, "events"), 3), "actor"), unix_bob);
    ASSERT_STR(json_str(json_array_get(json_get(j, "events"), 4), "actor"), unix_me);
    json_decref(j);
    ADMIN_ERR("POST", "/v1/admin/accounts/1/freeze", "{\"reason\":\"x\"}", 404,
              "DC_ERR_NO_ACCOUNT"); /* a system account */

    /* audit */
    ASSERT_EQ(admin(&S, S.token, "GET", "/v1/admin/audit", NULL, &j), 200);
    ASSERT(json_is_true(json_get(j, "ok")));
    ASSERT(strlen(json_str(j, "report")) > 0);
    json_decref(j);
    finish();
}

/* ---- 5. Transfers -------------------------------------------------------------- */

static void test_transfer_rules(void)
{
    begin("--auto-verify");
    struct dev a, b, c;
    dev_setup(&S, &a, "Pay Alice", 10000);
    dev_setup(&S, &b, "Pay Bob", 0);
    dev_setup(&S, &c, "Pay Carol", 0);

    json_t *j = NULL;
    char rid[40], body[512];
    new_request_id(rid);
    snprintf(body, sizeof body,
             "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":2500,\"memo\":\"lunch\"}", rid,
             b.account);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body, &j), 201);
    ASSERT(json_int(j, "transfer_id") > 0);
    ASSERT_EQ(json_int(j, "from"), a.account);
    ASSERT_EQ(json_int(j, "to"), b.account);
    ASSERT_EQ(json_int(j, "amount"), 2500);
    ASSERT_EQ(json_int(j, "available"), 7500);
    long long t1 = json_int(j, "transfer_id");
    json_decref(j);
    ASSERT_EQ(BAL(&a), 7500);
    ASSERT_EQ(BAL(&b), 2500);
    ASSERT_EQ(xfer(&b, a.account, 500, &j), 201);
    ASSERT_EQ(json_int(j, "available"), 2000);
    ASSERT(json_int(j, "transfer_id") != t1);
    json_decref(j);
    ASSERT_EQ(BAL(&a), 8000);
    ASSERT_EQ(BAL(&b), 2000);

#define UNCHANGED()                                                                                \
    do {                                                                                           \
        ASSERT_EQ(BAL(&a), 8000);                                                                  \
        ASSERT_EQ(BAL(&b), 2000);                                                                  \
        ASSERT_EQ(BAL(&c), 0);                                                                     \
    } while (0)

    /* insufficient funds */
    int st = xfer(&a, b.account, 8001, &j);
    CHECK_ERR("amount above available", st, j, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    json_decref(j);
    st = xfer(&c, b.account, 1, &j);
    CHECK_ERR("empty account pays 1", st, j, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    json_decref(j);
    st = xfer(&a, b.account, INT64_MAX, &j);
    CHECK_ERR("INT64_MAX", st, j, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    json_decref(j);
    UNCHANGED();

    /* recipients */
    const long long nobody[] = {999999, 1, 2, 3, 1000};
    for (size_t i = 0; i < sizeof nobody / sizeof nobody[0]; i++) {
        st = xfer(&a, nobody[i], 10, &j);
        char what[64];
        snprintf(what, sizeof what, "to account %lld", nobody[i]);
        CHECK_ERR(what, st, j, 404, "DC_ERR_NO_ACCOUNT");
        json_decref(j);
    }
    st = xfer(&a, a.account, 10, &j);
    CHECK_ERR("to self", st, j, 400, "DC_ERR_SELF_TRANSFER");
    json_decref(j);
    UNCHANGED();

    /* amounts */
    const char *amounts[] = {
        "0",     "-1", "-9223372036854775808", "1.5", "100.0", "1e2", "\"100\"", "null", "true",
        "[100]", "{}"};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        new_request_id(rid);
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%s}", rid,
                 b.account, amounts[i]);
        REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_FIELD", "DC_ERR_AMOUNT_ZERO",
                "DC_ERR_AMOUNT_NEGATIVE");
    }
    const char *huge[] = {"9223372036854775808", "99999999999999999999", "-99999999999999999999",
                          "1e400"};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        new_request_id(rid);
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%s}", rid,
                 b.account, huge[i]);
        REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_JSON", "DC_ERR_FIELD",
                "DC_ERR_AMOUNT_OVERFLOW");
    }
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld}", rid, b.account);
    REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_FIELD");
    UNCHANGED();

    /* "to" */
    const char *tos[] = {"0", "-5", "\"1002\"", "1002.0", "null", "[1002]"};
    for (size_t i = 0; i < sizeof tos / sizeof tos[0]; i++) {
        new_request_id(rid);
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%s,\"amount\":10}", rid, tos[i]);
        REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_FIELD");
    }
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"amount\":10}", rid);
    REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_FIELD");
    UNCHANGED();

    /* request_id */
    char long_id[70];
    memset(long_id, 'r', 65);
    long_id[65] = '\0';
    const char *rids[] = {"",        "a b",         "a/b",   "a+b",    "a%20b",
                          "\\u00e4", "caf\xc3\xa9", "a\\nb", "a\\\"b", long_id};
    for (size_t i = 0; i < sizeof rids / sizeof rids[0]; i++) {
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":10}", rids[i],
                 b.account);
        REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_FIELD");
    }
    snprintf(body, sizeof body, "{\"request_id\":\"x\\u0000y\",\"to\":%lld,\"amount\":10}",
             b.account);
    REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_FIELD", "DC_ERR_JSON");
    const char *rid_types[] = {"5", "null", "[\"r\"]", "true"};
    for (size_t i = 0; i < sizeof rid_types / sizeof rid_types[0]; i++) {
        snprintf(body, sizeof body, "{\"request_id\":%s,\"to\":%lld,\"amount\":10}", rid_types[i],
                 b.account);
        REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_FIELD");
    }
    snprintf(body, sizeof body, "{\"to\":%lld,\"amount\":10}", b.account);
    REQ_ERR(&a, "POST", "/v1/transfers", body, 400, "DC_ERR_FIELD");
    UNCHANGED();
    /* 64 characters of the whole alphabet are fine, and so is 1 */
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":10}",
             "AZaz09._:-AZaz09._:-AZaz09._:-AZaz09._:-AZaz09._:-AZaz09._:-abcd", c.account);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body, NULL), 201);
    snprintf(body, sizeof body, "{\"request_id\":\"x\",\"to\":%lld,\"amount\":10}", c.account);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body, NULL), 201);
    ASSERT_EQ(BAL(&a), 7980);
    ASSERT_EQ(BAL(&c), 20);
    /* the whole balance may go */
    XFER_OK(&a, c.account, 7980);
    ASSERT_EQ(BAL(&a), 0);
    st = xfer(&a, c.account, 1, &j);
    CHECK_ERR("pay from 0", st, j, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    json_decref(j);
    ASSERT_EQ(BAL(&c), 8000);
#undef UNCHANGED
    finish();
}

static void test_transfer_idempotency(void)
{
    begin("--auto-verify");
    struct dev a, b, c;
    dev_setup(&S, &a, "Idem Alice", 10000);
    dev_setup(&S, &b, "Idem Bob", 1000);
    dev_setup(&S, &c, "Idem Carol", 0);
    char body[256], body2[256];
    transfer_body(body, sizeof body, "idem-1", b.account, 300);
    struct api_req q = mkreq("POST", "/v1/transfers", body, &a);
    struct api_resp r1, r2, r3;
    ASSERT_EQ(api_raw(&S, &q, &r1), 201);
    ASSERT_EQ(api_raw(&S, &q, &r2), 201); /* new nonce, same request id and body */
    ASSERT_EQ(api_raw(&S, &q, &r3), 201);
    ASSERT_STR(r2.body, r1.body);
    ASSERT_STR(r3.body, r1.body);
    long long tid = json_int(r1.json, "transfer_id");
    ASSERT_EQ(json_int(r2.json, "available"), 9700);
    api_resp_free(&r2);
    api_resp_free(&r3);
    ASSERT_EQ(BAL(&a), 9700);
    ASSERT_EQ(BAL(&b), 1300);

    /* the same id with a different body */
    transfer_body(body2, sizeof body2, "idem-1", b.account, 301);
    REQ_ERR(&a, "POST", "/v1/transfers", body2, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    transfer_body(body2, sizeof body2, "idem-1", c.account, 300);
    REQ_ERR(&a, "POST", "/v1/transfers", body2, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    snprintf(body2, sizeof body2,
             "{\"request_id\":\"idem-1\",\"to\":%lld,\"amount\":300,\"memo\":\"x\"}", b.account);
    REQ_ERR(&a, "POST", "/v1/transfers", body2, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    snprintf(body2, sizeof body2,
             "{\"request_id\":\"idem-1\",\"transfers\":[{\"to\":%lld,\"amount\":300}]}", b.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body2, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    /* the transfer's exact body sent to another route is not its replay */
    transfer_body(body2, sizeof body2, "idem-1", b.account, 300);
    REQ_ERR(&a, "POST", "/v1/withdrawals", body2, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    ASSERT_EQ(BAL(&a), 9700);
    ASSERT_EQ(BAL(&b), 1300);
    /* the original still replays */
    ASSERT_EQ(api_raw(&S, &q, &r2), 201);
    ASSERT_STR(r2.body, r1.body);
    api_resp_free(&r2);

    /* request ids are per account: b's "idem-1" is its own */
    transfer_body(body2, sizeof body2, "idem-1", a.account, 100);
    json_t *j = NULL;
    ASSERT_EQ(api(&S, &b, "POST", "/v1/transfers", body2, &j), 201);
    ASSERT(json_int(j, "transfer_id") != tid);
    ASSERT_EQ(json_int(j, "from"), b.account);
    json_decref(j);
    ASSERT_EQ(BAL(&a), 9800);
    ASSERT_EQ(BAL(&b), 1200);
    api_resp_free(&r1);

    /* a refused request moves nothing, and its refusal is the id's final
     * answer (issue 12: else a captured refusal could be replayed, at
     * another instance, once the account can pay); a new id runs */
    transfer_body(body2, sizeof body2, "idem-2", c.account, 50000);
    REQ_ERR(&a, "POST", "/v1/transfers", body2, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    ASSERT_EQ(fund(&S, a.account, 50000), 201);
    REQ_ERR(&a, "POST", "/v1/transfers", body2, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    ASSERT_EQ(BAL(&a), 59800);
    ASSERT_EQ(BAL(&c), 0);
    transfer_body(body2, sizeof body2, "idem-2b", c.account, 50000);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body2, &j), 201);
    ASSERT_EQ(json_int(j, "amount"), 50000);
    json_decref(j);
    ASSERT_EQ(BAL(&a), 9800);
    ASSERT_EQ(BAL(&c), 50000);
    transfer_body(body2, sizeof body2, "idem-3", 999999, 5);
    REQ_ERR(&a, "POST", "/v1/transfers", body2, 404, "DC_ERR_NO_ACCOUNT");
    transfer_body(body2, sizeof body2, "idem-3", c.account, 5); /* a new body for the same id */
    REQ_ERR(&a, "POST", "/v1/transfers", body2, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    transfer_body(body2, sizeof body2, "idem-3b", c.account, 5);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body2, NULL), 201);
    ASSERT_EQ(BAL(&a), 9795);
    finish();
}

static void test_batch(void)
{
    begin("--auto-verify");
    struct dev a, b, c, d;
    dev_setup(&S, &a, "Batch Alice", 10000);
    dev_setup(&S, &b, "Batch Bob", 0);
    dev_setup(&S, &c, "Batch Carol", 0);
    dev_setup(&S, &d, "Batch Dan", 0);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"request_id\":\"b1\",\"transfers\":[{\"to\":%lld,\"amount\":100},{\"to\":%lld,"
             "\"amount\":200},{\"to\":%lld,\"amount\":300}]}",
             b.account, c.account, d.account);
    struct api_req q = mkreq("POST", "/v1/transfers/batch", body, &a);
    struct api_resp r1, r2;
    ASSERT_EQ(api_raw(&S, &q, &r1), 201);
    ASSERT_EQ(json_int(r1.json, "count"), 3);
    ASSERT_EQ(json_int(r1.json, "total"), 600);
    ASSERT_EQ(json_int(r1.json, "available"), 9400);
    json_t *ids = json_get(r1.json, "transfer_ids");
    ASSERT(json_is_array(ids));
    ASSERT_EQ(json_array_size(ids), 3);
    for (size_t i = 0; i < 3; i++) {
        ASSERT(json_is_integer(json_array_get(ids, i)));
        for (size_t k = 0; k < i; k++) {
            ASSERT(json_integer_value(json_array_get(ids, i)) !=
                   json_integer_value(json_array_get(ids, k)));
        }
    }
    ASSERT_EQ(api_raw(&S, &q, &r2), 201);
    ASSERT_STR(r2.body, r1.body);
    api_resp_free(&r1);
    api_resp_free(&r2);
#define BALS(ea, eb, ec, ed)                                                                       \
    do {                                                                                           \
        ASSERT_EQ(BAL(&a), (ea));                                                                  \
        ASSERT_EQ(BAL(&b), (eb));                                                                  \
        ASSERT_EQ(BAL(&c), (ec));                                                                  \
        ASSERT_EQ(BAL(&d), (ed));                                                                  \
    } while (0)
    BALS(9400, 100, 200, 300);

    /* all or nothing */
    snprintf(body, sizeof body,
             "{\"request_id\":\"b2\",\"transfers\":[{\"to\":%lld,\"amount\":1},{\"to\":999999,"
             "\"amount\":1},{\"to\":%lld,\"amount\":1}]}",
             b.account, c.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 404, "DC_ERR_NO_ACCOUNT");
    snprintf(body, sizeof body,
             "{\"request_id\":\"b3\",\"transfers\":[{\"to\":%lld,\"amount\":1},{\"to\":%lld,"
             "\"amount\":1},{\"to\":3,\"amount\":1}]}",
             b.account, c.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 404, "DC_ERR_NO_ACCOUNT");
    snprintf(body, sizeof body,
             "{\"request_id\":\"b4\",\"transfers\":[{\"to\":%lld,\"amount\":5000},{\"to\":%lld,"
             "\"amount\":4401}]}",
             b.account, c.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    snprintf(body, sizeof body,
             "{\"request_id\":\"b5\",\"transfers\":[{\"to\":%lld,\"amount\":1},{\"to\":%lld,"
             "\"amount\":1}]}",
             b.account, a.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 400, "DC_ERR_SELF_TRANSFER");
    snprintf(body, sizeof body,
             "{\"request_id\":\"b6\",\"transfers\":[{\"to\":%lld,\"amount\":9223372036854775807},{"
             "\"to\":%lld,\"amount\":1}]}",
             b.account, c.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 400, "DC_ERR_AMOUNT_OVERFLOW", "DC_ERR_FIELD");
    BALS(9400, 100, 200, 300);

    /* malformed items */
    const char *items[] = {"[]",
                           "{}",
                           "5",
                           "null",
                           "[5]",
                           "[{\"to\":%lld}]",
                           "[{\"amount\":1}]",
                           "[{\"to\":%lld,\"amount\":0}]",
                           "[{\"to\":%lld,\"amount\":-1}]",
                           "[{\"to\":%lld,\"amount\":1.5}]",
                           "[{\"to\":%lld,\"amount\":\"1\"}]",
                           "[{\"to\":%lld,\"amount\":1},[1]]"};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        char arr[256];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(arr, sizeof arr, items[i], b.account);
#pragma GCC diagnostic pop
        snprintf(body, sizeof body, "{\"request_id\":\"b7-%zu\",\"transfers\":%s}", i, arr);
        REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 400, "DC_ERR_FIELD");
    }
    snprintf(body, sizeof body, "{\"transfers\":[{\"to\":%lld,\"amount\":1}]}", b.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 400, "DC_ERR_FIELD");
    snprintf(body, sizeof body,
             "{\"request_id\":\"b 8\",\"transfers\":[{\"to\":%lld,\"amount\":1}]}", b.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 400, "DC_ERR_FIELD");
    BALS(9400, 100, 200, 300);

    /* the limit: 1000 items are fine, 1001 are not */
    size_t cap = 64 + 1001 * 40;
    char *big = malloc(cap);
    ASSERT(big != NULL);
    for (int round = 0; round < 2; round++) {
        size_t items_n = round == 0 ? 1001 : 1000;
        size_t len =
            (size_t)snprintf(big, cap, "{\"request_id\":\"big-%zu\",\"transfers\":[", items_n);
        for (size_t i = 0; i < items_n; i++) {
            len += (size_t)snprintf(big + len, cap - len, "%s{\"to\":%lld,\"amount\":1}",
                                    i ? "," : "", b.account);
        }
        snprintf(big + len, cap - len, "]}");
        json_t *j = NULL;
        int st = api(&S, &a, "POST", "/v1/transfers/batch", big, &j);
        if (round == 0) {
            CHECK_ERR("1001 transfers", st, j, 400, "DC_ERR_FIELD");
            json_decref(j);
            BALS(9400, 100, 200, 300);
        } else {
            ASSERT_EQ(st, 201);
            ASSERT_EQ(json_int(j, "count"), 1000);
            ASSERT_EQ(json_int(j, "total"), 1000);
            ASSERT_EQ(json_int(j, "available"), 8400);
            ASSERT_EQ(json_array_size(json_get(j, "transfer_ids")), 1000);
            json_decref(j);
            BALS(8400, 1100, 200, 300);
        }
    }
    free(big);
#undef BALS
    finish();
}

/* ---- 6. Concurrency -------------------------------------------------------------- */

#define RACERS 20

struct racer {
    struct srv s;
    const struct dev *from;
    long long to;
    int round, idx;
    pthread_barrier_t *bar;
    int status;
    long long available;
    char name[64];
};

static void *racer_run(void *p)
{
    struct racer *r = p;
    char body[256], rid[64];
    snprintf(rid, sizeof rid, "race-%d-%d", r->round, r->idx);
    transfer_body(body, sizeof body, rid, r->to, 100);
    pthread_barrier_wait(r->bar);
    json_t *j = NULL;
    r->status = api(&r->s, r->from, "POST", "/v1/transfers", body, &j);
    json_t *v = json_is_object(j) ? json_object_get(j, "available") : NULL;
    r->available = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    v = json_is_object(j) ? json_object_get(j, "name") : NULL;
    snprintf(r->name, sizeof r->name, "%s", json_is_string(v) ? json_string_value(v) : "");
    json_decref(j);
    return NULL;
}

static void test_concurrent_spend(void)
{
    begin("--auto-verify");
    struct dev a, b;
    dev_setup(&S, &a, "Race Alice", 0);
    dev_setup(&S, &b, "Race Bob", 0);
    static struct racer rs[RACERS];
    for (int round = 0; round < 3; round++) {
        ASSERT_EQ(fund(&S, a.account, 1000), 201);
        ASSERT_EQ(BAL(&a), 1000);
        pthread_barrier_t bar;
        ASSERT_EQ(pthread_barrier_init(&bar, NULL, RACERS), 0);
        pthread_t th[RACERS];
        for (int i = 0; i < RACERS; i++) {
            memset(&rs[i], 0, sizeof rs[i]);
            rs[i].s = S;
            rs[i].from = &a;
            rs[i].to = b.account;
            rs[i].round = round;
            rs[i].idx = i;
            rs[i].bar = &bar;
            ASSERT_EQ(pthread_create(&th[i], NULL, racer_run, &rs[i]), 0);
        }
        for (int i = 0; i < RACERS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&bar);
        int ok = 0, refused = 0, seen[10] = {0};
        for (int i = 0; i < RACERS; i++) {
            if (rs[i].status == 201) {
                ok++;
                long long v = rs[i].available;
                if (v < 0 || v > 900 || v % 100 != 0)
                    FAIL_AT("round %d: 201 with available %lld", round, v);
                seen[v / 100]++;
            } else if (rs[i].status == 409 &&
                       strcmp(rs[i].name, "DC_ERR_INSUFFICIENT_FUNDS") == 0) {
                refused++;
            } else {
                FAIL_AT("round %d racer %d: %d %s", round, i, rs[i].status, rs[i].name);
            }
        }
        ASSERT_EQ(ok, 10);
        ASSERT_EQ(refused, RACERS - 10);
        for (int k = 0; k < 10; k++) {
            if (seen[k] != 1)
                FAIL_AT("round %d: available %d reported %d times", round, k * 100, seen[k]);
        }
        ASSERT_EQ(BAL(&a), 0);
        ASSERT_EQ(BAL(&b), 1000LL * (round + 1));
        audit_ok(&S);
    }
    /* a's history: 30 debits of 100, 3 credits of 1000 */
    json_t *j = NULL;
    ASSERT_EQ(api(&S, &a, "GET", "/v1/history?limit=100", NULL, &j), 200);
    json_t *e = json_get(j, "entries");
    ASSERT_EQ(json_array_size(e), 33);
    int debits = 0;
    for (size_t i = 0; i < json_array_size(e); i++) {
        if (json_int(json_array_get(e, i), "amount") == -100) debits++;
    }
    ASSERT_EQ(debits, 30);
    json_decref(j);
    finish();
}

/* ---- 7. Malformed input ------------------------------------------------------------ */

/* A signed POST with an exact byte body (may contain anything). */
static void raw_post_err(const char *file, int line, const struct dev *d, const char *path,
                         const char *body, size_t len, const char *what, int http,
                         const char *const *names)
{
    struct api_req q = mkreq("POST", path, body, d);
    q.body_len = len;
    struct api_resp r;
    int st = api_raw(&S, &q, &r);
    char desc[300];
    snprintf(desc, sizeof desc, "POST %s [%s]", path, what);
    err_in(file, line, desc, st, r.json, http, names);
    api_resp_free(&r);
}
#define RAW_POST_ERR(d, path, body, len, what, http, ...)                                          \
    raw_post_err(__FILE__, __LINE__, (d), (path), (body), (len), (what), (http), NAMES(__VA_ARGS__))

/* A transfer body padded with blanks to exactly len bytes (malloc'd). */
static char *padded_transfer(const char *rid, long long to, size_t len)
{
    char head[256];
    transfer_body(head, sizeof head, rid, to, 1);
    size_t hl = strlen(head);
    char *b = malloc(len + 1);
    if (b == NULL || len < hl) abort();
    memcpy(b, head, hl - 1); /* without the closing brace */
    memset(b + hl - 1, ' ', len - hl);
    b[len - 1] = '}';
    b[len] = '\0';
    return b;
}

static void test_malformed(void)
{
    begin("--auto-verify");
    struct dev a, b;
    dev_setup(&S, &a, "Malformed Alice", 5000);
    dev_setup(&S, &b, "Malformed Bob", 0);
    char body[256];

    /* not JSON, not an object, duplicate keys */
    const struct {
        const char *body, *what;
    } bad[] = {
        {"{", "truncated"},
        {"", "empty"},
        {"[]", "array"},
        {"[{\"request_id\":\"m\",\"to\":1002,\"amount\":1}]", "array of an object"},
        {"null", "null"},
        {"\"string\"", "string"},
        {"42", "number"},
        {"{'request_id':'m'}", "single quotes"},
        {"{\"request_id\":\"m\",}", "trailing comma"},
        {"{\"request_id\":\"m\"} {}", "two values"},
        {"{\"request_id\":\"m\",\"to\":1002,\"amount\":1} x", "trailing garbage"},
        {"{\"request_id\":\"m-dup\",\"to\":1002,\"amount\":1,\"amount\":2}", "duplicate key"},
        {"{\"request_id\":\"m-dup2\",\"request_id\":\"m-dup3\",\"to\":1002,\"amount\":1}",
         "duplicate request_id"},
        {"{\"request_id\":\"m\xff\xfe\",\"to\":1002,\"amount\":1}", "invalid UTF-8"},
        {"{\"request_id\":\"m\",\"to\":1002,\"amount\":NaN}", "NaN"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RAW_POST_ERR(&a, "/v1/transfers", bad[i].body, strlen(bad[i].body), bad[i].what, 400,
                     "DC_ERR_JSON");
    }
    /* a duplicate key naming the real recipient must not pick either value */
    snprintf(body, sizeof body, "{\"request_id\":\"m-dup4\",\"to\":%lld,\"to\":%lld,\"amount\":1}",
             b.account, b.account);
    RAW_POST_ERR(&a, "/v1/transfers", body, strlen(body), "duplicate to", 400, "DC_ERR_JSON");
    RAW_POST_ERR(&a, "/v1/transfers", "{\"request_id\":\"m\0\"}", 18, "NUL byte in the body", 400,
                 "DC_ERR_JSON");
    char deep[4001];
    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    deep[4000] = '\0';
    RAW_POST_ERR(&a, "/v1/transfers", deep, 4000, "2000 nested arrays", 400, "DC_ERR_JSON");
    RAW_POST_ERR(&a, "/v1/sync", "[]", 2, "sync with an array", 400, "DC_ERR_JSON");
    RAW_POST_ERR(&a, "/v1/withdrawals", "{", 1, "withdrawal truncated", 400, "DC_ERR_JSON");
    ASSERT_EQ(BAL(&a), 5000);
    ASSERT_EQ(BAL(&b), 0);

    /* body limits: 4 KB on /v1/transfers */
    char *p = padded_transfer("lim-ok", b.account, 4096);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", p, NULL), 201);
    free(p);
    ASSERT_EQ(BAL(&b), 1);
    p = padded_transfer("lim-4097", b.account, 4097);
    RAW_POST_ERR(&a, "/v1/transfers", p, 4097, "4097 bytes", 413, "DC_ERR_BODY_TOO_LARGE");
    free(p);
    p = padded_transfer("lim-10k", b.account, 10 * 1024);
    RAW_POST_ERR(&a, "/v1/transfers", p, 10 * 1024, "10 KB", 413, "DC_ERR_BODY_TOO_LARGE");
    free(p);
    p = padded_transfer("lim-2m", b.account, 2 * 1024 * 1024);
    RAW_POST_ERR(&a, "/v1/transfers", p, 2 * 1024 * 1024, "2 MB", 413, "DC_ERR_BODY_TOO_LARGE");
    RAW_POST_ERR(NULL, "/v1/transfers", p, 2 * 1024 * 1024, "2 MB unsigned", 413,
                 "DC_ERR_BODY_TOO_LARGE", "DC_ERR_AUTH_MISSING");
    free(p);
    p = padded_transfer("lim-batch", b.account, 300 * 1024);
    RAW_POST_ERR(&a, "/v1/transfers/batch", p, 300 * 1024, "300 KB batch", 413,
                 "DC_ERR_BODY_TOO_LARGE");
    free(p);
    {
        struct dev n;
        dev_new(&n);
        char nid[19], phone[16];
        make_identity(nid, phone);
        char *rb = reg_body("Long", nid, phone, n.pk_hex);
        size_t rl = strlen(rb), big = 5 * 1024;
        char *pad = malloc(big + 1);
        ASSERT(pad != NULL);
        memcpy(pad, rb, rl - 1);
        memset(pad + rl - 1, ' ', big - rl);
        pad[big - 1] = '}';
        pad[big] = '\0';
        RAW_POST_ERR(&n, "/v1/register", pad, big, "5 KB registration", 413,
                     "DC_ERR_BODY_TOO_LARGE");
        free(pad);
        free(rb);
        ASSERT_EQ(api(&S, &n, "GET", "/v1/balance", NULL, NULL), 401); /* not registered */
        char fb[8 * 1024];
        int fl = snprintf(fb, sizeof fb,
                          "{\"request_id\":\"big-fund\",\"account\":%lld,\"amount\":1", a.account);
        memset(fb + fl, ' ', sizeof fb - (size_t)fl - 2);
        fb[sizeof fb - 2] = '}';
        fb[sizeof fb - 1] = '\0';
        struct api_req q = mkreq("POST", "/v1/admin/fund", fb, NULL);
        q.bearer = S.token;
        struct api_resp r;
        int st = api_raw(&S, &q, &r);
        CHECK_ERR("8 KB admin fund", st, r.json, 413, "DC_ERR_BODY_TOO_LARGE");
        api_resp_free(&r);
    }
    ASSERT_EQ(BAL(&a), 4999);
    ASSERT_EQ(BAL(&b), 1);
    HEALTH_OK();

    /* unknown routes */
    const struct {
        const char *method, *path;
    } unknown[] = {
        {"GET", "/v1/nope"},
        {"GET", "/"},
        {"GET", "/v1"},
        {"GET", "/v1/"},
        {"GET", "/v2/health"},
        {"GET", "/V1/HEALTH"},
        {"GET", "/v1/health/"},
        {"GET", "/v1/healthz"},
        {"POST", "/v1/transfer"},
        {"POST", "/v1/transfers/"},
        {"POST", "/v1/transfers/batch/1"},
        {"GET", "/v1/admin"},
        {"GET", "/v1/admin/nope"},
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        REQ_ERR(NULL, unknown[i].method, unknown[i].path, NULL, 404, "DC_ERR_NOT_FOUND");
        REQ_ERR(&a, unknown[i].method, unknown[i].path, NULL, 404, "DC_ERR_NOT_FOUND");
    }
    /* wrong methods */
    const struct {
        const char *method, *path;
    } wrong[] = {
        {"GET", "/v1/transfers"},
        {"GET", "/v1/transfers/batch"},
        {"GET", "/v1/register"},
        {"GET", "/v1/withdrawals"},
        {"GET", "/v1/deposits"},
        {"GET", "/v1/sync"},
        {"POST", "/v1/health"},
        {"POST", "/v1/keys"},
        {"POST", "/metrics"},
        {"POST", "/v1/balance"},
        {"DELETE", "/v1/balance"},
        {"PUT", "/v1/transfers"},
        {"PUT", "/v1/admin/fund"},
        {"GET", "/v1/admin/fund"},
        {"DELETE", "/v1/admin/accounts/1001"},
        {"GET", "/v1/admin/accounts/1001/verify"},
        {"POST", "/v1/admin/audit"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        REQ_ERR(NULL, wrong[i].method, wrong[i].path, NULL, 405, "DC_ERR_METHOD");
    }
    /* a 405 names the methods that would do */
    const struct {
        const char *method, *path, *allow;
    } allow[] = {
        {"GET", "/v1/transfers", "Allow: POST\r\n"},
        {"POST", "/v1/balance", "Allow: GET\r\n"},
        {"DELETE", "/v1/admin/accounts/1001", "Allow: GET\r\n"},
    };
    for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++) {
        struct api_req q = mkreq(allow[i].method, allow[i].path, NULL, NULL);
        struct api_resp r;
        ASSERT_EQ(api_raw(&S, &q, &r), 405);
        if (!strstr(r.headers, allow[i].allow)) {
            FAIL_AT("%s %s: no '%.*s' in %s", allow[i].method, allow[i].path,
                    (int)strlen(allow[i].allow) - 2, allow[i].allow, r.headers);
        }
        api_resp_free(&r);
    }
    /* {id} is a positive integer */
    const struct {
        const char *method, *path, *body;
    } ids[] = {
        {"GET", "/v1/admin/accounts/abc", NULL},
        {"GET", "/v1/admin/accounts/0", NULL},
        {"GET", "/v1/admin/accounts/-1", NULL},
        {"GET", "/v1/admin/accounts/1x", NULL},
        {"GET", "/v1/admin/accounts/1.5", NULL},
        {"GET", "/v1/admin/accounts/+5", NULL},
        {"GET", "/v1/admin/accounts/", NULL},
        {"POST", "/v1/admin/accounts/abc/verify", "{}"},
        {"POST", "/v1/admin/accounts//verify", "{}"},
        {"POST", "/v1/admin/accounts/x/freeze", "{\"reason\":\"r\"}"},
        {"GET", "/v1/admin/cases/abc", NULL},
        {"GET", "/v1/admin/cases/0", NULL},
        {"POST", "/v1/admin/cases/x/resolve", "{\"decision\":\"reject\",\"reason\":\"r\"}"},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        ADMIN_ERR(ids[i].method, ids[i].path, ids[i].body, 404, "DC_ERR_NOT_FOUND");
    }
    ADMIN_ERR("GET", "/v1/admin/cases/999999", NULL, 404, "DC_ERR_NO_CASE");

    /* still serving, still correct */
    HEALTH_OK();
    XFER_OK(&a, b.account, 99);
    ASSERT_EQ(BAL(&a), 4900);
    ASSERT_EQ(BAL(&b), 100);
    ASSERT_EQ(api(&S, NULL, "GET", "/v1/keys", NULL, NULL), 200);
    finish();
}

/* ---- 8. History ---------------------------------------------------------------------- */

struct entry {
    long long id, time, amount, counterparty;
    char kind[32], bucket[16], memo[160];
};

/* GET /v1/history?query as d: entries into e (cap), next_before (0 if null). */
static size_t history(const char *file, int line, const struct dev *d, const char *query,
                      struct entry *e, size_t cap, long long *next_before)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/history%s", query);
    json_t *j = NULL;
    int st = api(&S, d, "GET", path, NULL, &j);
    json_t *arr = json_is_object(j) ? json_object_get(j, "entries") : NULL;
    json_t *nb = json_is_object(j) ? json_object_get(j, "next_before") : NULL;
    if (st != 200 || !json_is_array(arr) ||
        !(nb == NULL || json_is_null(nb) || json_is_integer(nb))) {
        h_fail(file, line, "GET %s answered %d %s", path, st, jdump(j));
    }
    if (nb == NULL) h_fail(file, line, "GET %s: no next_before in %s", path, jdump(j));
    *next_before = json_is_integer(nb) ? (long long)json_integer_value(nb) : 0;
    size_t n = json_array_size(arr);
    if (n > cap) h_fail(file, line, "GET %s: %zu entries", path, n);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(arr, i);
        e[i].id = h_json_int(file, line, x, "id");
        e[i].time = h_json_int(file, line, x, "time");
        e[i].amount = h_json_int(file, line, x, "amount");
        e[i].counterparty = h_json_int(file, line, x, "counterparty");
        snprintf(e[i].kind, sizeof e[i].kind, "%s", h_json_str(file, line, x, "kind"));
        snprintf(e[i].bucket, sizeof e[i].bucket, "%s", h_json_str(file, line, x, "bucket"));
        (void)h_json_str(file, line, x, "ref");
        snprintf(e[i].memo, sizeof e[i].memo, "%s", h_json_str(file, line, x, "memo"));
    }
    json_decref(j);
    return n;
}
#define HISTORY(d, query, e, cap, nb) history(__FILE__, __LINE__, (d), (query), (e), (cap), (nb))

/* A transfer's memo is kept with it and shown to both parties; a bad one is
 * refused and moves nothing. */
/* A transfer of 1 to `to` with memo (a JSON value), alone or as a batch's
 * only item, is refused with 400 DC_ERR_FIELD. */
static void memo_refused(const char *file, int line, const struct dev *a, long long to,
                         const char *memo, int batch)
{
    char body[512], rid[40];
    new_request_id(rid);
    snprintf(body, sizeof body,
             batch
                 ? "{\"request_id\":\"%s\",\"transfers\":[{\"to\":%lld,\"amount\":1,\"memo\":%s}]}"
                 : "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":1,\"memo\":%s}",
             rid, to, memo);
    req_err(file, line, a, "POST", batch ? "/v1/transfers/batch" : "/v1/transfers", body, 400,
            NAMES("DC_ERR_FIELD"));
}
#define MEMO_REFUSED(a, to, memo, batch)                                                           \
    memo_refused(__FILE__, __LINE__, (a), (to), (memo), (batch))

static void test_memo(void)
{
    begin("--auto-verify");
    struct dev a, c;
    dev_setup(&S, &a, "Memo Alice", 10000);
    dev_setup(&S, &c, "Memo Carol", 0);
    long long nb;
    /* memos: kept with the transfer, shown to both parties; a bad one
     * is refused and moves nothing */
    struct entry m[8];
    char body[512], rid[40];
    new_request_id(rid);
    snprintf(body, sizeof body,
             "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":7,\"memo\":\"rent \u00e9t\u00e9\"}",
             rid, c.account);
    json_t *j = NULL;
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body, &j), 201);
    json_decref(j);
    ASSERT_EQ(HISTORY(&a, "?limit=1", m, 8, &nb), 1);
    ASSERT_STR(m[0].memo, "rent \xc3\xa9t\xc3\xa9");
    ASSERT_EQ(HISTORY(&c, "?limit=1", m, 8, &nb), 1);
    ASSERT_STR(m[0].memo, "rent \xc3\xa9t\xc3\xa9");
    ASSERT_EQ(m[0].amount, 7);
    MEMO_REFUSED(&a, c.account, "\"a\\nb\"", 0);
    /* C1 controls too: U+009B is CSI to a terminal showing the payee's
     * history (ducat history prints the memo as it is) */
    MEMO_REFUSED(&a, c.account, "\"x\\u009b2J\"", 0);
    char long_memo[140];
    snprintf(long_memo, sizeof long_memo, "\"%0129d\"", 0); /* 129 bytes */
    MEMO_REFUSED(&a, c.account, long_memo, 0);
    new_request_id(rid);
    snprintf(body, sizeof body,
             "{\"request_id\":\"%s\",\"transfers\":[{\"to\":%lld,\"amount\":1,\"memo\":\"one\"},"
             "{\"to\":%lld,\"amount\":2}]}",
             rid, c.account, c.account);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers/batch", body, &j), 201);
    json_decref(j);
    ASSERT_EQ(HISTORY(&c, "?limit=2", m, 8, &nb), 2);
    ASSERT(m[0].amount == 2 && strcmp(m[0].memo, "") == 0);
    ASSERT(m[1].amount == 1 && strcmp(m[1].memo, "one") == 0);
    MEMO_REFUSED(&a, c.account, "5", 1);
    MEMO_REFUSED(&a, c.account, "\"\\t\"", 1);
    new_request_id(rid);
    snprintf(body, sizeof body,
             "{\"request_id\":\"%s\",\"transfers\":[{\"to\":%lld,\"amount\":1,\"memo\":\"ok\"},"
             "{\"to\":%lld,\"amount\":1,\"memo\":\"\\u0085\"}]}",
             rid, c.account, c.account);
    REQ_ERR(&a, "POST", "/v1/transfers/batch", body, 400, "DC_ERR_FIELD");
    /* U+00A0 (C2 A0) is no control character */
    new_request_id(rid);
    snprintf(body, sizeof body,
             "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":1,\"memo\":\"a\\u00a0b\"}", rid,
             c.account);
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body, &j), 201);
    json_decref(j);
    ASSERT_EQ(BAL(&a), 10000 - 11);
    ASSERT_EQ(BAL(&c), 11);
    ASSERT_EQ(HISTORY(&c, "", m, 8, &nb), 4);
    ASSERT_STR(m[0].memo, "a\xc2\xa0"
                          "b");
    finish();
}

static void test_history(void)
{
    begin("--auto-verify");
    struct dev a, b, c;
    dev_setup(&S, &a, "History Alice", 10000);
    dev_setup(&S, &b, "History Bob", 0);
    dev_setup(&S, &c, "History Carol", 0);
    XFER_OK(&a, b.account, 100);
    XFER_OK(&a, b.account, 200);
    XFER_OK(&a, b.account, 300);
    XFER_OK(&b, a.account, 50);
    ASSERT_EQ(fund(&S, c.account, 777), 201); /* someone else's: not in a's history */

    struct entry e[64], pg[64];
    long long nb;
    size_t n = HISTORY(&a, "", e, 64, &nb);
    ASSERT_EQ(n, 5);
    ASSERT_EQ(nb, 0);
    const long long want_a[5] = {50, -300, -200, -100, 10000};
    long long sum = 0;
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(e[i].amount, want_a[i]);
        ASSERT_STR(e[i].bucket, "available");
        if (i > 0) {
            ASSERT(e[i].id < e[i - 1].id); /* newest first */
            ASSERT(e[i].time <= e[i - 1].time);
        }
        ASSERT_STR(e[i].kind, i < 4 ? "transfer" : "fund");
        if (i < 4) ASSERT_EQ(e[i].counterparty, b.account);
        sum += e[i].amount;
    }
    ASSERT_EQ(sum, BAL(&a));
    struct entry eb[8];
    n = HISTORY(&b, "", eb, 8, &nb);
    ASSERT_EQ(n, 4);
    const long long want_b[4] = {-50, 300, 200, 100};
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(eb[i].amount, want_b[i]);
        ASSERT_EQ(eb[i].counterparty, a.account);
        ASSERT_EQ(eb[i].id, e[i].id); /* the same postings, seen from the other side */
    }
    n = HISTORY(&c, "", eb, 8, &nb);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(eb[0].amount, 777);
    struct dev z;
    dev_setup(&S, &z, "History Zoe", 0);
    n = HISTORY(&z, "", eb, 8, &nb);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(nb, 0);

    /* paging: 2 + 2 + 1 */
    n = HISTORY(&a, "?limit=2", pg, 64, &nb);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(pg[0].id, e[0].id);
    ASSERT_EQ(pg[1].id, e[1].id);
    ASSERT_EQ(nb, e[1].id);
    char q[96];
    snprintf(q, sizeof q, "?limit=2&before=%lld", nb);
    n = HISTORY(&a, q, pg, 64, &nb);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(pg[0].id, e[2].id);
    ASSERT_EQ(pg[1].id, e[3].id);
    ASSERT_EQ(nb, e[3].id);
    snprintf(q, sizeof q, "?before=%lld&limit=2", nb);
    n = HISTORY(&a, q, pg, 64, &nb);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(pg[0].id, e[4].id);
    ASSERT_EQ(pg[0].amount, 10000);
    ASSERT_EQ(nb, 0);
    /* before an id: strictly older entries */
    snprintf(q, sizeof q, "?before=%lld", e[0].id);
    n = HISTORY(&a, q, pg, 64, &nb);
    ASSERT_EQ(n, 4);
    ASSERT_EQ(pg[0].id, e[1].id);
    snprintf(q, sizeof q, "?before=%lld", e[4].id);
    n = HISTORY(&a, q, pg, 64, &nb);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(nb, 0);
    n = HISTORY(&a, "?limit=1", pg, 64, &nb);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(pg[0].id, e[0].id);
    ASSERT_EQ(nb, e[0].id);

    /* bad parameters */
    const char *badq[] = {
        "?limit=0",  "?limit=1000", "?limit=-1",  "?limit=abc", "?limit=1.5",
        "?limit=2x", "?before=0",   "?before=-3", "?before=x",  "?limit=99999999999999999999"};
    for (size_t i = 0; i < sizeof badq / sizeof badq[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/history%s", badq[i]);
        REQ_ERR(&a, "GET", path, NULL, 400, "DC_ERR_FIELD");
    }
    finish();
}

/* ---- 9. Shutdown --------------------------------------------------------------------- */

static void test_restart_keeps_state(void)
{
    begin("--auto-verify");
    struct dev a, b;
    dev_setup(&S, &a, "Restart Alice", 10000);
    dev_setup(&S, &b, "Restart Bob", 0);
    char body[256];
    transfer_body(body, sizeof body, "before-restart", b.account, 1234);
    struct api_req q = mkreq("POST", "/v1/transfers", body, &a);
    struct api_resp r1, r2;
    ASSERT_EQ(api_raw(&S, &q, &r1), 201);
    XFER_OK(&b, a.account, 34);
    struct entry e1[16], e2[16];
    long long nb;
    size_t n1 = HISTORY(&a, "", e1, 16, &nb);

    ASSERT_EQ(srv_stop(&S), 0);
    ASSERT_EQ(api(&S, NULL, "GET", "/v1/health", NULL, NULL), 0); /* gone */
    srv_start(&S);
    ASSERT_EQ(BAL(&a), 8800);
    ASSERT_EQ(BAL(&b), 1200);
    size_t n2 = HISTORY(&a, "", e2, 16, &nb);
    ASSERT_EQ(n2, n1);
    for (size_t i = 0; i < n1; i++) {
        ASSERT_EQ(e2[i].id, e1[i].id);
        ASSERT_EQ(e2[i].amount, e1[i].amount);
    }
    /* idempotency survives: the retry answers the stored response */
    ASSERT_EQ(api_raw(&S, &q, &r2), 201);
    ASSERT_STR(r2.body, r1.body);
    api_resp_free(&r1);
    api_resp_free(&r2);
    ASSERT_EQ(BAL(&a), 8800);
    /* registration survives, and the server works */
    ASSERT_STR(status_of(a.account), "verified");
    XFER_OK(&a, b.account, 800);
    ASSERT_EQ(BAL(&a), 8000);
    audit_ok(&S);
    srv_restart(&S); /* fails unless the stop exits 0 */
    ASSERT_EQ(BAL(&a), 8000);
    ASSERT_EQ(BAL(&b), 2000);
    finish();
}

#define FLIGHTS 8
#define FLIGHT_MAX 3000

struct flight {
    struct srv s;
    const struct dev *from;
    long long to;
    int idx, n;
    int status[FLIGHT_MAX];
    char *resp[FLIGHT_MAX];
    atomic_int *answered;
};

static void flight_body(char *out, size_t cap, int idx, int i, long long to)
{
    char rid[48];
    snprintf(rid, sizeof rid, "gs-%d-%d", idx, i);
    transfer_body(out, cap, rid, to, 1);
}

static void *flight_run(void *p)
{
    struct flight *f = p;
    for (int i = 0; i < FLIGHT_MAX; i++) {
        char body[256];
        flight_body(body, sizeof body, f->idx, i, f->to);
        struct api_req q = mkreq("POST", "/v1/transfers", body, f->from);
        struct api_resp r;
        int st = api_raw(&f->s, &q, &r);
        f->status[i] = st;
        f->resp[i] = st == 201 ? strdup(r.body) : NULL;
        api_resp_free(&r);
        f->n = i + 1;
        if (st != 201) break;
        atomic_fetch_add(f->answered, 1);
    }
    return NULL;
}

static void test_shutdown_in_flight(void)
{
    begin("--auto-verify");
    struct dev a, b;
    dev_setup(&S, &a, "Flight Alice", 1000000);
    dev_setup(&S, &b, "Flight Bob", 0);
    static struct flight fl[FLIGHTS];
    atomic_int answered = 0;
    pthread_t th[FLIGHTS];
    for (int i = 0; i < FLIGHTS; i++) {
        memset(&fl[i], 0, sizeof fl[i]);
        fl[i].s = S;
        fl[i].from = &a;
        fl[i].to = b.account;
        fl[i].idx = i;
        fl[i].answered = &answered;
        ASSERT_EQ(pthread_create(&th[i], NULL, flight_run, &fl[i]), 0);
    }
    for (int w = 0; w < 1000 && atomic_load(&answered) < 100; w++) sleep_ms(10);
    int rc = srv_stop(&S); /* SIGTERM with requests in flight */
    for (int i = 0; i < FLIGHTS; i++) pthread_join(th[i], NULL);
    ASSERT_EQ(rc, 0);
    srv_start(&S);
    long long acked = 0;
    for (int t = 0; t < FLIGHTS; t++) {
        for (int i = 0; i < fl[t].n; i++) acked += fl[t].status[i] == 201;
    }
    long long committed = BAL(&b); /* before any retry */

    /* every answered transfer is durable; every unanswered one either is
     * (the retry answers the stored response) or runs now: exactly once */
    long long total = 0;
    for (int t = 0; t < FLIGHTS; t++) {
        for (int i = 0; i < fl[t].n; i++) {
            int st0 = fl[t].status[i];
            if (st0 != 201 && st0 != 0 && st0 != 503) {
                FAIL_AT("flight %d request %d answered %d during shutdown", t, i, st0);
            }
            char body[256];
            flight_body(body, sizeof body, t, i, b.account);
            struct api_req q = mkreq("POST", "/v1/transfers", body, &a);
            struct api_resp r;
            int st = api_raw(&S, &q, &r);
            if (st != 201) FAIL_AT("retry of gs-%d-%d answered %d %s", t, i, st, r.body);
            if (fl[t].resp[i] && strcmp(fl[t].resp[i], r.body) != 0) {
                FAIL_AT("gs-%d-%d answered %s before the restart, %s after", t, i, fl[t].resp[i],
                        r.body);
            }
            api_resp_free(&r);
            free(fl[t].resp[i]);
            fl[t].resp[i] = NULL;
            total++;
        }
    }
    int unanswered = 0;
    for (int t = 0; t < FLIGHTS; t++) unanswered += fl[t].n > 0 && fl[t].status[fl[t].n - 1] != 201;
    printf("# shutdown in flight: %lld transfers, %d unanswered at SIGTERM\n", total, unanswered);
    ASSERT(total >= 100);
    ASSERT_EQ(BAL(&b), total);
    ASSERT_EQ(BAL(&a), 1000000 - total);
    /* "stop accepting, let in-flight requests finish" (cmd_serve.c): a
     * request the server committed must have been answered, not reset */
    if (committed != acked) {
        FAIL_AT("%lld transfers were committed during shutdown but never answered "
                "(%lld answered 201, %lld committed, %d connections got no response)",
                committed - acked, acked, committed, unanswered);
    }
    finish();
}

TESTS(T(test_health), T(test_keys), T(test_metrics), T(test_metrics_deposit),
      T(test_register_idempotent), T(test_auth_replay_after_restart), T(test_register_key_mismatch),
      T(test_register_bad_fields), T(test_unverified_account), T(test_auth_balance),
      T(test_auth_transfer), T(test_admin_auth), T(test_admin_ops), T(test_transfer_rules),
      T(test_transfer_idempotency), T(test_batch), T(test_concurrent_spend), T(test_malformed),
      T(test_history), T(test_memo), T(test_restart_keeps_state), T(test_shutdown_in_flight))
