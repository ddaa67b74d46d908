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

/* The payee went silent and deposited; the payer's reclaim (with or without
 * a refusal) loses cleanly: no case, nothing moves. */
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
    pay_refuse(&p, &bob); /* a payee who refused and then deposited anyway */
    static struct coin dep[4];
    for (size_t i = 0; i < p.n; i++) {
        dep[i] = p.c[i];
        coin_deposit(&dep[i], &bob, bob.account);
    }
    json_t *j = NULL;
    int st = deposit(&S, &bob, dep, 1, NULL, &j); /* the first coin only */
    ASSERT_EQ(st, 201);
    json_decref(j);

    st = reclaim(&alice, &p, 0, p.n, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    srv_clock_set(&S, t0 + 14 * DAY_MS);
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
        struct bg b = {&alice, &p[k], rid, 0};
        pthread_t th;
        ASSERT(pthread_create(&th, NULL, bg_reclaim, &b) == 0);
        nap_us(delays_us[k]);
        srv_kill9(&S);
        ASSERT(pthread_join(th, NULL) == 0);
        if (b.status == 201) answered_before++;
        srv_start(&S);
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

TESTS(T(test_reclaim_with_refusal), T(test_reclaim_refused_cases), T(test_reclaim_after_deadline),
      T(test_reclaim_loses_to_payee_deposit), T(test_reclaim_server_kill9))
