/*
 * test_api_reclaim.c - POST /v1/reclaims against a real ducatd: a payer
 * takes back coins she signed over to a payee who refused them (with the
 * payee's signed REFUSAL, at once) or never took them (after the coins'
 * deposit deadline, without one); a payee that signed a refusal cannot
 * deposit the coins (DC_ERR_COIN_RECLAIMED, no case); a payee that deposited
 * first wins and the reclaim is refused cleanly (no case, nothing moves);
 * forged, mismatched and early reclaims are refused with nothing written;
 * the request is idempotent by request id, also across kill -9 of the
 * server at any moment of the request.
 *
 * Every scenario ends with the audit and with each honest party's value
 * (available + held) equal to what it was paid. Business time is the
 * instance's [dev] clock_file, as in test_api_coins.
 */
#include "test.h"
/* harness.h needs test.h first */
#include "harness.h"

#include <pthread.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "ducat/auth.h"
#include "ducat/proto.h"
#include "ducat/refusal.h"

#define DAY_MS 86400000ull

static struct srv S;

static void start_with(int shipped_calendar)
{
    srv_cleanup(&S); /* what a failed test left running */
    if (shipped_calendar)
        srv_init_shipped_calendar(&S, "--auto-verify");
    else
        srv_init(&S, "--auto-verify");
    srv_dev_clock(&S);
    srv_start(&S);
}

static void start(void)
{
    start_with(0);
}

#define bal_of(d) balance_of(&S, (d))

static long long value_of(const struct dev *d)
{
    struct balance b = bal_of(d);
    return b.available + b.held;
}

static size_t cases_count(void)
{
    json_t *j = NULL;
    int st = admin(&S, S.token, "GET", "/v1/admin/cases", NULL, &j);
    if (st != 200) FAIL_AT("GET /v1/admin/cases answered %d", st);
    size_t n = json_array_size(json_get(j, "cases"));
    json_decref(j);
    return n;
}

static size_t withdraw_ok(struct dev *d, long long amount, struct coin *coins, size_t cap)
{
    size_t n = 0;
    json_t *j = NULL;
    int st = withdraw(&S, d, amount, coins, cap, &n, &j);
    json_decref(j);
    if (st != 201) FAIL_AT("withdraw %lld answered %d", amount, st);
    return n;
}

/* An offline payment as the payer's wallet makes it: every coin
 * transferred to the payee with the request's nonce. */
struct pay {
    uint8_t request_hash[DC_HASH_BYTES];
    uint8_t nonce[DC_NONCE_BYTES];
    struct coin c[4];
    size_t n;
    uint8_t refusal[DC_REFUSAL_BYTES];
};

static void pay_make(struct pay *p, const struct dev *payer, const struct dev *payee)
{
    randombytes_buf(p->request_hash, sizeof p->request_hash);
    randombytes_buf(p->nonce, sizeof p->nonce);
    for (size_t i = 0; i < p->n; i++) {
        ASSERT_OK(dc_coin_transfer(p->c[i].b, sizeof p->c[i].b, &p->c[i].len, payer->sk,
                                   payee->devcert, p->nonce));
    }
}

/* The payee's refusal of the whole payment, the payment hashed as the
 * wallet library encodes it (independently of dc_refusal_payment_hash). */
static void pay_refuse(struct pay *p, const struct dev *signer)
{
    struct dc_payment m;
    memset(&m, 0, sizeof m);
    memcpy(m.request_hash, p->request_hash, DC_HASH_BYTES);
    m.n = p->n;
    for (size_t i = 0; i < p->n; i++) {
        m.coin[i] = p->c[i].b;
        m.coin_len[i] = p->c[i].len;
    }
    static uint8_t buf[DC_PAYMENT_MAX_BYTES];
    size_t len = 0;
    ASSERT_OK(dc_payment_encode(buf, sizeof buf, &len, &m));
    struct dc_refusal r;
    memset(&r, 0, sizeof r);
    memcpy(r.request_hash, p->request_hash, DC_HASH_BYTES);
    dc_payment_hash(r.payment_hash, buf, len);
    memcpy(r.nonce, p->nonce, DC_NONCE_BYTES);
    r.reason = (uint16_t)DC_ERR_CERT_REVOKED;
    r.time = h_now_ms();
    dc_refusal_sign(p->refusal, &r, signer->sk);
    /* the server's way of hashing the payment gives the same bytes */
    const uint8_t *cv[4];
    size_t cl[4];
    for (size_t i = 0; i < p->n; i++) {
        cv[i] = p->c[i].b;
        cl[i] = p->c[i].len;
    }
    uint8_t again[DC_HASH_BYTES];
    ASSERT_OK(dc_refusal_payment_hash(again, p->request_hash, cv, cl, p->n));
    ASSERT_MEM(again, r.payment_hash, DC_HASH_BYTES);
}

/* POST /v1/reclaims with coins[from..from+n) of p, with or without its
 * refusal. Returns the status; *out the answer (caller decrefs). */
static int reclaim(const struct dev *d, const struct pay *p, size_t from, size_t n,
                   int with_refusal, const char *request_id, json_t **out)
{
    char rid[40];
    if (!request_id) {
        new_request_id(rid);
        request_id = rid;
    }
    json_t *arr = json_array();
    for (size_t i = from; i < from + n; i++) {
        char *h = coin_hex(&p->c[i]);
        json_array_append_new(arr, json_string(h));
        free(h);
    }
    json_t *req = json_pack("{s:s, s:o}", "request_id", request_id, "coins", arr);
    ASSERT(req != NULL);
    if (with_refusal) {
        char rh[2 * DC_REFUSAL_BYTES + 1], qh[2 * DC_HASH_BYTES + 1];
        dc_hex_encode(rh, p->refusal, DC_REFUSAL_BYTES);
        dc_hex_encode(qh, p->request_hash, DC_HASH_BYTES);
        json_object_set_new(req, "refusal", json_string(rh));
        json_object_set_new(req, "request_hash", json_string(qh));
    }
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    ASSERT(body != NULL);
    int st = api(&S, d, "POST", "/v1/reclaims", body, out);
    free(body);
    return st;
}

static void dump_if(int st, int want, json_t *j)
{
    if (st == want) return;
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    printf("# answered %d: %s\n", st, s ? s : "(no body)");
    free(s);
}

/* ---- Tests ---------------------------------------------------------------- */

/* A refused payment comes back at once with the refusal; the payee that
 * signed it cannot deposit the coins; no case; audit clean. */
static void test_reclaim_with_refusal(void)
{
    static struct pay p;
    struct dev alice, bob;
    start();
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_sync(&S, &bob);
    p.n = withdraw_ok(&alice, 300, p.c, 4);
    ASSERT_EQ(p.n, 2); /* 200 + 100 */
    ASSERT_EQ(value_of(&alice), 700);
    pay_make(&p, &alice, &bob);
    pay_refuse(&p, &bob);

    json_t *j = NULL;
    int st = reclaim(&alice, &p, 0, p.n, 1, "rc-1", &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(json_int(j, "credited"), 300);
    ASSERT_STR(json_str(j, "basis"), "refusal");
    long long id = json_int(j, "reclaim_id");
    ASSERT_EQ(json_array_size(json_get(j, "coins")), 2);
    ASSERT_STR(json_str(json_array_get(json_get(j, "coins"), 0), "status"), "held");
    /* the test calendar covers the window: a firm date */
    ASSERT(json_is_false(
        json_object_get(json_array_get(json_get(j, "coins"), 0), "release_provisional")));
    json_decref(j);
    struct balance b = bal_of(&alice);
    ASSERT_EQ(b.available, 700);
    ASSERT_EQ(b.held, 300);

    /* the same request again: the same answer, nothing more */
    st = reclaim(&alice, &p, 0, p.n, 1, "rc-1", &j);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(json_int(j, "reclaim_id"), id);
    json_decref(j);
    /* a new request for the same coins: refused, nothing moves */
    st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    ASSERT_EQ(value_of(&alice), 1000);

    /* Bob signed the refusal; now he tries to deposit one coin after all */
    static struct coin one[1];
    one[0] = p.c[0];
    coin_deposit(&one[0], &bob, bob.account);
    st = deposit(&S, &bob, one, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_RECLAIMED");
    json_decref(j);
    ASSERT_EQ(cases_count(), 0);
    ASSERT_EQ(value_of(&bob), 0);
    ASSERT_EQ(value_of(&alice), 1000);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Refusals that do not fit the payment, by the wrong signer, by another
 * account, a coin that does not end in the payer's transfer, and no refusal
 * before the deadline: each refused with its name, nothing written. */
static void test_reclaim_refused_cases(void)
{
    static struct pay p, q;
    struct dev alice, bob, carol;
    start();
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    dev_sync(&S, &bob);
    p.n = withdraw_ok(&alice, 300, p.c, 4);
    pay_make(&p, &alice, &bob);
    json_t *j = NULL;

    /* no refusal, long before the deadline */
    int st = reclaim(&alice, &p, 0, p.n, 0, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_RECLAIM_TOO_EARLY");
    json_decref(j);
    /* a "refusal" signed by the payer herself */
    pay_refuse(&p, &alice);
    st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_BAD_SIGNATURE");
    json_decref(j);
    /* the payee's refusal, but for part of the payment only */
    pay_refuse(&p, &bob);
    st = reclaim(&alice, &p, 0, 1, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_REFUSAL_MISMATCH");
    json_decref(j);
    /* a refusal of another request (other nonce) */
    q = p;
    randombytes_buf(q.nonce, sizeof q.nonce);
    pay_refuse(&q, &bob);
    memcpy(q.c, p.c, sizeof q.c);
    st = reclaim(&alice, &q, 0, q.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_REFUSAL_MISMATCH");
    json_decref(j);
    /* a refusal naming another request hash */
    q = p;
    q.request_hash[0] ^= 1;
    st = reclaim(&alice, &q, 0, q.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_REFUSAL_MISMATCH");
    json_decref(j);
    /* a tampered refusal */
    q = p;
    q.refusal[DC_REFUSAL_BYTES - 1] ^= 1;
    st = reclaim(&alice, &q, 0, q.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_BAD_SIGNATURE");
    json_decref(j);
    /* somebody else reclaiming Alice's payment */
    st = reclaim(&carol, &p, 0, p.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_NOT_OWNER");
    json_decref(j);
    /* a coin that ends in a deposit record */
    q = p;
    coin_deposit(&q.c[0], &bob, bob.account);
    st = reclaim(&alice, &q, 0, 1, 0, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_CHAIN_ORDER");
    json_decref(j);
    /* malformed refusal */
    st = apif(&S, &alice, "POST", "/v1/reclaims", &j,
              "{\"request_id\":\"m1\",\"coins\":[\"%s\"],\"refusal\":\"4301\"}", "00");
    ASSERT_API_ERR(st, j, 400, "DC_ERR_FIELD");
    json_decref(j);

    ASSERT_EQ(value_of(&alice), 700);
    ASSERT_EQ(cases_count(), 0);
    /* and the real one still works afterwards */
    st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201);
    json_decref(j);
    ASSERT_EQ(value_of(&alice), 1000);
    ASSERT_EQ(cases_count(), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* No refusal: the payer gets the coins back once nobody can deposit them.
 * Under the shipped calendar, whose last day is 2026-12-31: the reclaim
 * happens 13 days after a real date that is past 2026-12-03, so its
 * 15-working-day window always reaches beyond the calendar and its release
 * date must be provisional, like a deposit's (it once was firm). */
static void test_reclaim_after_deadline(void)
{
    static struct pay p;
    struct dev alice, bob;
    start_with(1);
    const uint64_t t0 = h_now_ms() / 1000 * 1000;
    srv_clock_set(&S, t0);
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_sync(&S, &bob);
    p.n = withdraw_ok(&alice, 500, p.c, 4);
    ASSERT_EQ(p.n, 1);
    pay_make(&p, &alice, &bob);
    /* default coin lifetime 10 days, grace 3 */
    const uint64_t grace_end = t0 + 13 * DAY_MS;
    json_t *j = NULL;
    srv_clock_set(&S, grace_end - 1); /* the payee could still deposit it */
    int st = reclaim(&alice, &p, 0, 1, 0, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_RECLAIM_TOO_EARLY");
    json_decref(j);
    srv_clock_set(&S, grace_end);
    st = reclaim(&alice, &p, 0, 1, 0, "late-1", &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(json_int(j, "credited"), 500);
    ASSERT_STR(json_str(j, "basis"), "deadline");
    json_t *c0 = json_array_get(json_get(j, "coins"), 0);
    ASSERT(json_is_true(json_object_get(c0, "release_provisional")));
    json_decref(j);
    ASSERT_EQ(value_of(&alice), 1000);
    /* the same coins under a new request id: refused, nothing moves */
    st = reclaim(&alice, &p, 0, 1, 0, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    ASSERT_EQ(value_of(&alice), 1000);
    /* the payee's late deposit: refused (expired, and reclaimed), no case */
    static struct coin one[1];
    one[0] = p.c[0];
    coin_deposit(&one[0], &bob, bob.account);
    st = deposit(&S, &bob, one, 1, NULL, &j);
    ASSERT(st == 403 || st == 409);
    json_decref(j);
    ASSERT_EQ(value_of(&bob), 0);
    ASSERT_EQ(cases_count(), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* The payee went silent and deposited; the payer's reclaim after the
 * deadline loses cleanly: no case, nothing moves. (A payee who had signed a
 * refusal and deposited anyway is test_refused_then_deposited_by_payee.) */
static void test_reclaim_loses_to_payee_deposit(void)
{
    static struct pay p;
    struct dev alice, bob;
    start();
    const uint64_t t0 = h_now_ms() / 1000 * 1000;
    srv_clock_set(&S, t0);
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_sync(&S, &bob);
    p.n = withdraw_ok(&alice, 300, p.c, 4);
    pay_make(&p, &alice, &bob);
    static struct coin dep[4];
    for (size_t i = 0; i < p.n; i++) {
        dep[i] = p.c[i];
        coin_deposit(&dep[i], &bob, bob.account);
    }
    json_t *j = NULL;
    int st = deposit(&S, &bob, dep, 1, NULL, &j); /* the first coin only */
    ASSERT_EQ(st, 201);
    json_decref(j);

    srv_clock_set(&S, t0 + 14 * DAY_MS);
    st = reclaim(&alice, &p, 0, p.n, 0, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    st = reclaim(&alice, &p, 0, 1, 0, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    ASSERT_EQ(value_of(&alice), 700);
    ASSERT_EQ(value_of(&bob), 200);
    ASSERT_EQ(cases_count(), 0);
    /* the coin the payee never deposited is still the payer's to reclaim */
    st = reclaim(&alice, &p, 1, 1, 0, NULL, &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(json_int(j, "credited"), 100);
    json_decref(j);
    ASSERT_EQ(value_of(&alice), 800);
    ASSERT_EQ(cases_count(), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

struct bg {
    const struct dev *d;
    const struct pay *p;
    const char *rid;
    int status;
};

static void *bg_reclaim(void *arg)
{
    struct bg *b = arg;
    json_t *j = NULL;
    b->status = reclaim(b->d, b->p, 0, b->p->n, 1, b->rid, &j);
    json_decref(j);
    return NULL;
}

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Sends the reclaim of p (with its refusal) in the background, kills the
 * server delay_us later, restarts it. Returns what the first send got (0:
 * no answer). */
static int reclaim_killed(const struct dev *d, const struct pay *p, const char *rid, long delay_us)
{
    struct bg b = {d, p, rid, 0};
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, bg_reclaim, &b) == 0);
    nap_us(delay_us);
    srv_kill9(&S);
    ASSERT(pthread_join(th, NULL) == 0);
    srv_start(&S);
    return b.status;
}

/* kill -9 of the server at moments spread over a reclaim; the client sends
 * the same request again after the restart: credited exactly once. */
static void test_reclaim_server_kill9(void)
{
    static struct pay p[8];
    struct dev alice, bob;
    start();
    dev_setup(&S, &alice, "Alice Zhang", 8000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_sync(&S, &bob);
    long long expect = 8000;
    for (size_t k = 0; k < 8; k++) {
        p[k].n = withdraw_ok(&alice, 500, p[k].c, 4);
        pay_make(&p[k], &alice, &bob);
        pay_refuse(&p[k], &bob);
        expect -= 500;
    }
    ASSERT_EQ(value_of(&alice), expect);
    static const long delays_us[8] = {0, 200, 500, 1000, 2000, 4000, 8000, 20000};
    size_t answered_before = 0;
    for (size_t k = 0; k < 8; k++) {
        char rid[40];
        snprintf(rid, sizeof rid, "kill-%zu", k);
        if (reclaim_killed(&alice, &p[k], rid, delays_us[k]) == 201) answered_before++;
        json_t *j = NULL;
        int st = reclaim(&alice, &p[k], 0, p[k].n, 1, rid, &j);
        dump_if(st, 201, j);
        ASSERT_EQ(st, 201);
        ASSERT_EQ(json_int(j, "credited"), 500);
        json_decref(j);
        expect += 500;
        ASSERT_EQ(value_of(&alice), expect);
        audit_ok(&S);
    }
    printf("# %zu of 8 reclaims were answered before the kill\n", answered_before);
    ASSERT_EQ(value_of(&alice), 8000);
    ASSERT_EQ(cases_count(), 0);
    srv_cleanup(&S);
}

/* ---- A payee who refused, then passed the coins on ------------------------ */

static void master_pub(uint8_t out[DC_PUBKEY_BYTES])
{
    json_t *k = NULL;
    ASSERT_EQ(api(&S, NULL, "GET", "/v1/keys", NULL, &k), 200);
    const char *hex = json_str(k, "master_pub");
    ASSERT_OK(dc_hex_decode(out, DC_PUBKEY_BYTES, hex, strlen(hex)));
    json_decref(k);
}

/* The one case there is: its culprit must be `culprit`, its evidence must
 * verify with the master key alone as the given kind (and a tampered copy
 * must not). Returns the case id; *status its status ("open"/"resolved"). */
static long long the_case(const struct dev *culprit, uint8_t kind, char status[static 16])
{
    json_t *all = admin_get_on(&S, "/v1/admin/cases");
    json_t *arr = json_get(all, "cases");
    ASSERT_EQ(json_array_size(arr), 1);
    long long id = json_int(json_array_get(arr, 0), "case");
    json_decref(all);
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", id);
    json_t *c = admin_get_on(&S, path);
    ASSERT_STR(json_str(c, "culprit"), culprit->pk_hex);
    ASSERT_EQ(json_int(c, "culprit_account"), culprit->account);
    snprintf(status, 16, "%s", json_str(c, "status"));
    const char *evhex = json_str(c, "evidence");
    size_t evlen = strlen(evhex) / 2;
    uint8_t *ev = malloc(evlen);
    ASSERT(ev != NULL);
    ASSERT_OK(dc_hex_decode(ev, evlen, evhex, strlen(evhex)));
    json_decref(c);
    uint8_t mpub[DC_PUBKEY_BYTES];
    master_pub(mpub);
    struct dc_evidence_info info, junk;
    enum dc_err e = dc_evidence_verify(&info, mpub, ev, evlen);
    /* every byte matters: a flipped bit anywhere is refused */
    size_t flipped_ok = 0;
    for (size_t at = 0; e == DC_OK && at < evlen; at += 7) {
        ev[at] ^= 0x10;
        if (dc_evidence_verify(&junk, mpub, ev, evlen) == DC_OK) flipped_ok++;
        ev[at] ^= 0x10;
    }
    free(ev);
    ASSERT_OK(e);
    ASSERT_EQ(flipped_ok, 0);
    ASSERT_EQ(info.kind, kind);
    ASSERT_MEM(info.culprit, culprit->pk, DC_PUBKEY_BYTES);
    /* the console's evidence view reads it too */
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/evidence", id);
    json_t *v = admin_get_on(&S, path);
    ASSERT(json_is_true(json_object_get(v, "verified")));
    ASSERT_STR(json_str(v, "culprit"), culprit->pk_hex);
    if (kind == DC_TYPE_REFUSAL_EVIDENCE) {
        json_t *a = json_array_get(json_get(v, "successors"), 0);
        ASSERT_STR(json_str(a, "type"), "refusal");
    }
    json_decref(v);
    return id;
}

/* ducat_forks_total of GET /metrics: the cases this instance opened. */
static long long forks_total(void)
{
    struct api_req q = {.method = "GET", .path = "/metrics"};
    struct api_resp r;
    ASSERT_EQ(api_raw(&S, &q, &r), 200);
    const char *p = strstr(r.body, "\nducat_forks_total ");
    long long v = p ? strtoll(p + strlen("\nducat_forks_total "), NULL, 10) : -1;
    api_resp_free(&r);
    return v;
}

/* The status of the hold of coin 0 of a deposit or reclaim answer. */
static void coin0_status(const json_t *j, char out[static 16])
{
    snprintf(out, 16, "%s", json_str(json_array_get(json_get(j, "coins"), 0), "status"));
}

/* Alice pays Bob 300 (coins of 200 and 100); Bob, who has bob_funds,
 * refuses. */
static void refused_payment(struct pay *p, struct dev *alice, struct dev *bob, struct dev *carol,
                            long long bob_funds)
{
    start();
    dev_setup(&S, alice, "Alice Zhang", 1000);
    dev_setup(&S, bob, "Bob Li", 0);
    dev_setup(&S, carol, "Carol Wang", 0);
    /* what the case recovers from */
    if (bob_funds) ASSERT_EQ(fund(&S, bob->account, bob_funds), 201);
    dev_sync(&S, bob);
    dev_sync(&S, carol);
    p->n = withdraw_ok(alice, 300, p->c, 4);
    ASSERT_EQ(p->n, 2);
    pay_make(p, alice, bob);
    pay_refuse(p, bob);
}

/* (1a) Alice reclaims with Bob's refusal; then Bob pays coin 0 on to Carol,
 * who deposits it: a case against Bob (his refusal + his transfer), Carol's
 * credit is its branch, recovered from Bob; Alice untouched. */
static void test_refused_passed_on_after_reclaim(void)
{
    static struct pay p;
    static struct coin on[1];
    struct dev alice, bob, carol;
    refused_payment(&p, &alice, &bob, &carol, 500);
    json_t *j = NULL;
    int st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201);
    /* no case yet (null, or absent on older servers) */
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(json_get(j, "coins"), 0), "case")),
              0);
    json_decref(j);
    ASSERT_EQ(value_of(&alice), 1000);

    on[0] = p.c[0];
    coin_transfer(&on[0], &bob, &carol);
    coin_deposit(&on[0], &carol, carol.account);
    st = deposit(&S, &carol, on, 1, NULL, &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201); /* on main: 409 COIN_RECLAIMED, no case, Carol unpaid */
    ASSERT_EQ(json_int(j, "credited"), 200);
    json_decref(j);
    char status[16];
    the_case(&bob, DC_TYPE_REFUSAL_EVIDENCE, status);
    /* Bob had 500: the case recovered 200 from him at once and settled */
    ASSERT_STR(status, "resolved");
    ASSERT_EQ(value_of(&bob), 300);
    ASSERT_EQ(value_of(&carol), 200);
    ASSERT_EQ(value_of(&alice), 1000);
    struct balance cb = bal_of(&carol);
    ASSERT_EQ(cb.held, 200); /* back on its normal schedule */

    /* Bob's own deposit of the other refused coin stays refused, no case */
    static struct coin own[1];
    own[0] = p.c[1];
    coin_deposit(&own[0], &bob, bob.account);
    st = deposit(&S, &bob, own, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_RECLAIMED");
    json_decref(j);
    ASSERT_EQ(cases_count(), 1);
    ASSERT_EQ(value_of(&bob), 300);

    /* Alice again under a new request id, Carol again: refused, no move */
    st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    st = deposit(&S, &carol, on, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    ASSERT_EQ(cases_count(), 1);
    ASSERT_EQ(value_of(&alice), 1000);
    ASSERT_EQ(value_of(&bob), 300);
    ASSERT_EQ(value_of(&carol), 200);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* (1a) with a payee who has nothing when the case opens: Carol's credit
 * stays frozen under the open case, Bob is a debtor; the next money Bob
 * receives pays the case, which settles, and Carol's credit is back on its
 * schedule. */
static void test_refused_passed_on_culprit_pays_later(void)
{
    static struct pay p;
    static struct coin on[1];
    struct dev alice, bob, carol;
    refused_payment(&p, &alice, &bob, &carol, 0);
    json_t *j = NULL;
    int st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    ASSERT_EQ(st, 201);
    json_decref(j);
    on[0] = p.c[0];
    coin_transfer(&on[0], &bob, &carol);
    coin_deposit(&on[0], &carol, carol.account);
    st = deposit(&S, &carol, on, 1, NULL, &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201);
    char s0[16];
    coin0_status(j, s0);
    json_decref(j);
    ASSERT_STR(s0, "frozen");
    char status[16];
    long long cid = the_case(&bob, DC_TYPE_REFUSAL_EVIDENCE, status);
    ASSERT_STR(status, "open");
    ASSERT_EQ(value_of(&carol), 200); /* whole, but held under the case */
    ASSERT_EQ(value_of(&bob), 0);
    audit_ok(&S);
    /* Bob is paid 500 from outside: the case takes its 200 first */
    ASSERT_EQ(fund(&S, bob.account, 500), 201);
    the_case(&bob, DC_TYPE_REFUSAL_EVIDENCE, status);
    ASSERT_STR(status, "resolved");
    ASSERT_EQ(value_of(&bob), 300);
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", cid);
    json_t *c = admin_get_on(&S, path);
    ASSERT_EQ(json_int(c, "recovered"), 200);
    json_decref(c);
    struct balance cb = bal_of(&carol);
    ASSERT_EQ(cb.held, 200);
    ASSERT_EQ(value_of(&alice), 1000);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* (1b) Bob pays coin 0 on to Carol, who deposits it first; then Alice
 * reclaims with Bob's refusal: credited, under a case against Bob. */
static void test_refused_passed_on_before_reclaim(void)
{
    static struct pay p;
    static struct coin on[1];
    struct dev alice, bob, carol;
    refused_payment(&p, &alice, &bob, &carol, 500);
    on[0] = p.c[0];
    coin_transfer(&on[0], &bob, &carol);
    coin_deposit(&on[0], &carol, carol.account);
    json_t *j = NULL;
    int st = deposit(&S, &carol, on, 1, NULL, &j);
    ASSERT_EQ(st, 201);
    json_decref(j);
    ASSERT_EQ(cases_count(), 0);

    st = reclaim(&alice, &p, 0, p.n, 1, "rc-b", &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201); /* on main: 409 COIN_SPENT, and Alice's wallet counts it paid */
    ASSERT_EQ(json_int(j, "credited"), 300);
    long long case0 = json_int(json_array_get(json_get(j, "coins"), 0), "case");
    ASSERT(case0 > 0);
    ASSERT(json_is_null(json_object_get(json_array_get(json_get(j, "coins"), 1), "case")));
    json_decref(j);
    char status[16];
    ASSERT_EQ(the_case(&bob, DC_TYPE_REFUSAL_EVIDENCE, status), case0);
    ASSERT_STR(status, "resolved");
    ASSERT_EQ(value_of(&alice), 1000);
    ASSERT_EQ(value_of(&carol), 200);
    ASSERT_EQ(value_of(&bob), 300);
    /* the same request again: the same answer, nothing more */
    st = reclaim(&alice, &p, 0, p.n, 1, "rc-b", &j);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(json_int(json_array_get(json_get(j, "coins"), 0), "case"), case0);
    json_decref(j);
    ASSERT_EQ(cases_count(), 1);
    ASSERT_EQ(forks_total(), 1); /* the replay opened nothing */
    ASSERT_EQ(value_of(&alice), 1000);
    ASSERT_EQ(value_of(&bob), 300);
    /* the same payment under new request ids: refused every time, nothing
     * more credited (709624f credited 200 again each time, from the loss
     * account, and recovered it from Bob) */
    for (int k = 0; k < 3; k++) {
        st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
        dump_if(st, 409, j);
        ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
        json_decref(j);
    }
    /* Carol's deposit again, Bob's own deposit of the coin Alice took back */
    st = deposit(&S, &carol, on, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    static struct coin own[1];
    own[0] = p.c[1];
    coin_deposit(&own[0], &bob, bob.account);
    st = deposit(&S, &bob, own, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_RECLAIMED");
    json_decref(j);
    ASSERT_EQ(cases_count(), 1);
    ASSERT_EQ(forks_total(), 1);
    ASSERT_EQ(value_of(&alice), 1000);
    ASSERT_EQ(value_of(&carol), 200);
    ASSERT_EQ(value_of(&bob), 300);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* (1b) with one-coin payments, where no other coin of the payment carries
 * the reclaim marker: p is passed on to Carol, q deposited by Bob himself,
 * both before Alice reclaims. Each reclaim is credited once; the same
 * payment again under new request ids is refused (on 709624f each one was
 * credited again from the loss account and recovered from Bob). */
static void test_refused_taken_reclaimed_once(void)
{
    static struct pay p, q;
    static struct coin on[1], dep[1];
    struct dev alice, bob, carol;
    start();
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    ASSERT_EQ(fund(&S, bob.account, 1000), 201);
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    struct pay *pays[2] = {&p, &q};
    for (size_t k = 0; k < 2; k++) {
        pays[k]->n = withdraw_ok(&alice, 100, pays[k]->c, 4);
        ASSERT_EQ(pays[k]->n, 1);
        pay_make(pays[k], &alice, &bob);
        pay_refuse(pays[k], &bob);
    }
    ASSERT_EQ(value_of(&alice), 800);

    on[0] = p.c[0];
    coin_transfer(&on[0], &bob, &carol);
    coin_deposit(&on[0], &carol, carol.account);
    json_t *j = NULL;
    ASSERT_EQ(deposit(&S, &carol, on, 1, NULL, &j), 201);
    json_decref(j);
    dep[0] = q.c[0];
    coin_deposit(&dep[0], &bob, bob.account);
    ASSERT_EQ(deposit(&S, &bob, dep, 1, NULL, &j), 201);
    json_decref(j);
    ASSERT_EQ(value_of(&bob), 1100);

    for (size_t k = 0; k < 2; k++) {
        int st = reclaim(&alice, pays[k], 0, 1, 1, NULL, &j);
        dump_if(st, 201, j);
        ASSERT_EQ(st, 201);
        ASSERT_EQ(json_int(j, "credited"), 100);
        json_decref(j);
        for (int r = 0; r < 3; r++) {
            st = reclaim(&alice, pays[k], 0, 1, 1, NULL, &j);
            dump_if(st, 409, j);
            ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
            json_decref(j);
        }
        ASSERT_EQ(value_of(&alice), 900 + 100 * (long long)k);
        audit_ok(&S);
    }
    /* and the deposits again */
    int st = deposit(&S, &carol, on, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    st = deposit(&S, &bob, dep, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    ASSERT_EQ(cases_count(), 2);
    ASSERT_EQ(forks_total(), 2);
    ASSERT_EQ(value_of(&alice), 1000);
    ASSERT_EQ(value_of(&carol), 100);
    /* Bob: 1000 + his own 100 deposit, less 100 for each case */
    ASSERT_EQ(value_of(&bob), 900);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* (1b) with the payee's own deposit, and a payee with no money: Bob refused
 * and deposited coin 0 himself, then spent everything. Alice's reclaim
 * opens the case; her credit stays frozen until Bob pays, Bob's own credit
 * of the coin is forfeited to it. */
static void test_refused_then_deposited_by_payee(void)
{
    static struct pay p;
    static struct coin dep[1];
    struct dev alice, bob, carol;
    refused_payment(&p, &alice, &bob, &carol, 500);
    dep[0] = p.c[0];
    coin_deposit(&dep[0], &bob, bob.account);
    json_t *j = NULL;
    int st = deposit(&S, &bob, dep, 1, NULL, &j);
    ASSERT_EQ(st, 201);
    json_decref(j);
    /* Bob moves his available 500 away to Carol */
    st = apif(&S, &bob, "POST", "/v1/transfers", &j,
              "{\"request_id\":\"t1\",\"to\":%lld,\"amount\":500}", carol.account);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201);
    json_decref(j);

    st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    dump_if(st, 201, j);
    ASSERT_EQ(st, 201); /* on main: 409 COIN_SPENT */
    ASSERT_EQ(json_int(j, "credited"), 300);
    char s0[16];
    coin0_status(j, s0);
    json_decref(j);
    /* Bob's held 200 of the coin is forfeited to the case: covered */
    char status[16];
    the_case(&bob, DC_TYPE_REFUSAL_EVIDENCE, status);
    ASSERT_STR(status, "resolved");
    ASSERT_STR(s0, "held");
    ASSERT_EQ(value_of(&bob), 0);
    ASSERT_EQ(value_of(&alice), 1000);
    ASSERT_EQ(value_of(&carol), 500);
    /* again under a new request id; Bob's deposit again: nothing moves */
    st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    st = deposit(&S, &bob, dep, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    ASSERT_EQ(cases_count(), 1);
    ASSERT_EQ(value_of(&bob), 0);
    ASSERT_EQ(value_of(&alice), 1000);
    ASSERT_EQ(value_of(&carol), 500);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* (2) Alice double-spent: she paid coin X to Dave, who deposited it, and
 * the same state to Bob, who refused. Her reclaim is refused (COIN_SPENT),
 * nothing credited, and the attempt is a case against her. */
static void test_payer_double_spent_then_reclaims(void)
{
    static struct pay p;
    static struct coin other[1];
    struct dev alice, bob, dave;
    start();
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &dave, "Dave Chen", 0);
    dev_sync(&S, &bob);
    dev_sync(&S, &dave);
    p.n = withdraw_ok(&alice, 200, p.c, 4);
    ASSERT_EQ(p.n, 1);
    other[0] = p.c[0];
    coin_transfer(&other[0], &alice, &dave);
    coin_deposit(&other[0], &dave, dave.account);
    json_t *j = NULL;
    int st = deposit(&S, &dave, other, 1, NULL, &j);
    ASSERT_EQ(st, 201);
    json_decref(j);
    pay_make(&p, &alice, &bob);
    pay_refuse(&p, &bob);

    st = reclaim(&alice, &p, 0, 1, 1, "rc-2", &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    long long cid = json_int(j, "case"); /* on main: no case */
    json_decref(j);
    ASSERT(cid > 0);
    char status[16];
    ASSERT_EQ(the_case(&alice, DC_TYPE_EVIDENCE, status), cid);
    /* nothing was credited to the reclaim: no liability, settled */
    ASSERT_STR(status, "resolved");
    ASSERT_EQ(value_of(&alice), 800);
    struct balance db = bal_of(&dave);
    ASSERT_EQ(db.held, 200); /* Dave's credit is back on its schedule */
    /* the same request again: the same refusal and case, nothing more */
    st = reclaim(&alice, &p, 0, 1, 1, "rc-2", &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    ASSERT_EQ(json_int(j, "case"), cid);
    json_decref(j);
    /* a new request: joins the same case */
    st = reclaim(&alice, &p, 0, 1, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    ASSERT_EQ(json_int(j, "case"), cid);
    json_decref(j);
    ASSERT_EQ(cases_count(), 1);
    ASSERT_EQ(forks_total(), 1); /* opened once, joined after */
    ASSERT_EQ(value_of(&alice), 800);
    ASSERT_EQ(value_of(&dave), 200);
    ASSERT_EQ(value_of(&bob), 0);
    /* her device is revoked */
    json_t *k = NULL;
    ASSERT_EQ(api(&S, NULL, "GET", "/v1/keys", NULL, &k), 200);
    json_t *r = json_get(k, "revoked_devices");
    int found = 0;
    for (size_t i = 0; i < json_array_size(r); i++) {
        const char *h = json_string_value(json_array_get(r, i));
        if (h && strcmp(h, alice.pk_hex) == 0) found = 1;
    }
    json_decref(k);
    ASSERT(found);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* kill -9 of the server at moments spread over a reclaim that opens a case
 * against a payee who passed the refused coin on (1b); the client sends the
 * same request again after the restart: one case per payment, the payer
 * credited once, the payee debited once, audit clean after each. */
static void test_refused_passed_on_reclaim_kill9(void)
{
    static struct pay p[4];
    static struct coin on[1];
    struct dev alice, bob, carol;
    start();
    dev_setup(&S, &alice, "Alice Zhang", 2000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    ASSERT_EQ(fund(&S, bob.account, 2000), 201);
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    static const long delays_us[4] = {0, 1000, 4000, 15000};
    for (size_t k = 0; k < 4; k++) {
        p[k].n = withdraw_ok(&alice, 300, p[k].c, 4);
        pay_make(&p[k], &alice, &bob);
        pay_refuse(&p[k], &bob);
        on[0] = p[k].c[0];
        coin_transfer(&on[0], &bob, &carol);
        coin_deposit(&on[0], &carol, carol.account);
        json_t *j = NULL;
        ASSERT_EQ(deposit(&S, &carol, on, 1, NULL, &j), 201);
        json_decref(j);
        char rid[40];
        snprintf(rid, sizeof rid, "kill-b-%zu", k);
        reclaim_killed(&alice, &p[k], rid, delays_us[k]);
        int st = reclaim(&alice, &p[k], 0, p[k].n, 1, rid, &j);
        dump_if(st, 201, j);
        ASSERT_EQ(st, 201);
        ASSERT_EQ(json_int(j, "credited"), 300);
        ASSERT(json_int(json_array_get(json_get(j, "coins"), 0), "case") > 0);
        json_decref(j);
        ASSERT_EQ(cases_count(), k + 1);
        ASSERT_EQ(value_of(&alice), 2000);
        ASSERT_EQ(value_of(&carol), 200 * (long long)(k + 1));
        ASSERT_EQ(value_of(&bob), 2000 - 200 * (long long)(k + 1));
        audit_ok(&S);
    }
    srv_cleanup(&S);
}

TESTS(T(test_reclaim_with_refusal), T(test_reclaim_refused_cases), T(test_reclaim_after_deadline),
      T(test_reclaim_loses_to_payee_deposit), T(test_reclaim_server_kill9),
      T(test_refused_passed_on_after_reclaim), T(test_refused_passed_on_before_reclaim),
      T(test_refused_then_deposited_by_payee), T(test_payer_double_spent_then_reclaims),
      T(test_refused_passed_on_culprit_pays_later), T(test_refused_passed_on_reclaim_kill9),
      T(test_refused_taken_reclaimed_once))
