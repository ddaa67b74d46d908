/*
 * test_api_coins.c - coins against a real ducatd: withdrawal (fewest coins,
 * retries, balance and offline limits), deposit (held credit, wrong account,
 * missing deposit record, forged and malformed coins, idempotency), double
 * deposit, split siblings, the deposit-then-spend fork (cases, evidence,
 * culprit blocking, auto and manual resolution, frozen holds), hold release
 * across the working-day calendar, and expired coins within and past the
 * deposit grace.
 *
 * Business time is driven through the instance's [dev] clock_file (DIR/clock
 * holds ms since the epoch; no file = the wall clock). Request signatures
 * keep using the wall clock. Note that the server's own hold-release timer
 * runs on business time too: within ~100 ms of moving the clock forward it
 * may release what is due on its own, so the tests check the resulting
 * balances and holds, not only the count an explicit release reports.
 *
 * Every scenario ends with audit_ok (conservation, from the journal).
 */
#include "test.h"
/* harness.h needs test.h first */
#include "harness.h"

#include <pthread.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "ducat/armor.h"
#include "ducat/auth.h"

#define DAY_MS 86400000ull
#define NCOINS 64

static struct srv S;

/* ---- Instance and clock ---------------------------------------------------- */

#define clock_set(s, ms) srv_clock_set((s), (ms))

/* init --auto-verify, the clock file wired in (but absent: wall clock). */
static void setup_server(struct srv *s)
{
    if (s == &S) srv_cleanup(&S); /* what a failed test left running */
    srv_init(s, "--auto-verify");
    srv_dev_clock(s);
}

static void start_server(struct srv *s)
{
    setup_server(s);
    srv_start(s);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- JSON and API helpers -------------------------------------------------- */

static json_t *balance(const struct srv *s, const struct dev *d)
{
    json_t *j = NULL;
    int st = api(s, d, "GET", "/v1/balance", NULL, &j);
    if (st != 200) FAIL_AT("GET /v1/balance answered %d", st);
    return j;
}

#define bal_of(s, d) balance_of((s), (d))

/* The hold with this id in a balance answer, or NULL. */
static json_t *hold_in(const json_t *bal, long long id)
{
    json_t *holds = json_object_get(bal, "holds");
    for (size_t i = 0; i < json_array_size(holds); i++) {
        json_t *h = json_array_get(holds, i);
        if (json_integer_value(json_object_get(h, "id")) == id) return h;
    }
    return NULL;
}

/* GET path as the admin on s (the harness's admin_get_on). */
#define admin_get(s, path) admin_get_on((s), (path))

static size_t cases_count(const struct srv *s, const char *query)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases%s", query);
    json_t *j = admin_get(s, path);
    size_t n = json_array_size(json_get(j, "cases"));
    json_decref(j);
    return n;
}

static long long release_holds(const struct srv *s)
{
    return admin_release(s);
}

static size_t withdraw_ok(const struct srv *s, struct dev *d, long long amount, struct coin *coins,
                          size_t cap)
{
    size_t n = 0;
    json_t *j = NULL;
    int st = withdraw(s, d, amount, coins, cap, &n, &j);
    if (st != 201) {
        char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
        printf("# withdraw %lld: %s\n", amount, dump ? dump : "(no body)");
        free(dump);
        json_decref(j);
        FAIL_AT("withdraw %lld answered %d", amount, st);
    }
    json_decref(j);
    return n;
}

/* Deposits and checks 201; returns the answer (caller decrefs). */
static json_t *deposit_ok(const struct srv *s, const struct dev *d, const struct coin *coins,
                          size_t n)
{
    json_t *j = NULL;
    int st = deposit(s, d, coins, n, NULL, &j);
    if (st != 201) {
        char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
        printf("# deposit: %s\n", dump ? dump : "(no body)");
        free(dump);
        json_decref(j);
        FAIL_AT("deposit answered %d", st);
    }
    return j;
}

static json_t *coin_out(const json_t *dep, size_t i)
{
    json_t *c = json_array_get(json_get(dep, "coins"), i);
    if (!c) FAIL_AT("deposit answer has no coins[%zu]", i);
    return c;
}

static struct dc_coin parsed_coin; /* ~20 KB: off the stack */

static const struct dc_genesis *genesis_of(const struct coin *c)
{
    ASSERT_OK(dc_coin_decode(&parsed_coin, c->b, c->len));
    return &parsed_coin.genesis;
}

static void serial_hex(char out[2 * DC_SERIAL_BYTES + 1], const struct coin *c)
{
    dc_hex_encode(out, genesis_of(c)->serial, DC_SERIAL_BYTES);
}

static int cmp_desc(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void master_pub(const struct srv *s, uint8_t out[DC_PUBKEY_BYTES])
{
    json_t *k = NULL;
    ASSERT_EQ(api(s, NULL, "GET", "/v1/keys", NULL, &k), 200);
    const char *hex = json_str(k, "master_pub");
    ASSERT_OK(dc_hex_decode(out, DC_PUBKEY_BYTES, hex, strlen(hex)));
    json_decref(k);
}

static int keys_revoked(const struct srv *s, const char *pk_hex)
{
    json_t *k = NULL;
    ASSERT_EQ(api(s, NULL, "GET", "/v1/keys", NULL, &k), 200);
    json_t *r = json_get(k, "revoked_devices");
    int found = 0;
    for (size_t i = 0; i < json_array_size(r); i++) {
        const char *v = json_string_value(json_array_get(r, i));
        if (v && strcmp(v, pk_hex) == 0) found = 1;
    }
    json_decref(k);
    return found;
}

static void expect_hold(const struct dev *d, long long id, const char *status, long long case_id);

/* ---- 1. Withdrawal ----------------------------------------------------------- */

static void test_withdraw_fewest_coins(void)
{
    static struct coin coins[NCOINS];
    struct dev alice;
    start_server(&S);
    uint64_t t0 = h_now_ms() / 1000 * 1000; /* business time pinned to a whole second */
    clock_set(&S, t0);
    dev_setup(&S, &alice, "Alice Zhang", 10000);
    struct balance b0 = bal_of(&S, &alice);
    ASSERT_EQ(b0.available, 10000);
    ASSERT_EQ(b0.outstanding, 0);

    size_t n = withdraw_ok(&S, &alice, 1234, coins, NCOINS);
    /* greedy over 1-2-5: 1000 + 200 + 20 + 10 + 2 + 2 */
    static const long long want[] = {1000, 200, 20, 10, 2, 2};
    ASSERT_EQ(n, 6);
    long long got[6], sum = 0;
    char serials[6][2 * DC_SERIAL_BYTES + 1];
    for (size_t i = 0; i < n; i++) {
        const struct dc_genesis *g = genesis_of(&coins[i]);
        got[i] = g->value;
        sum += g->value;
        ASSERT_EQ(parsed_coin.n, 0); /* fresh: genesis only */
        ASSERT_EQ(g->currency, 156);
        ASSERT_EQ(g->issued_at, t0);
        ASSERT_EQ(g->expires_at, t0 + 10 * DAY_MS);
        ASSERT_MEM(g->owner.pub, alice.pk, DC_PUBKEY_BYTES);
        dc_hex_encode(serials[i], g->serial, DC_SERIAL_BYTES);
        for (size_t k = 0; k < i; k++) ASSERT(strcmp(serials[k], serials[i]) != 0);
    }
    /* issued to a fresh certificate of Alice's device: 7 days, her limit */
    struct dc_devcert cert;
    ASSERT(alice.has_devcert);
    ASSERT_OK(dc_devcert_decode(&cert, alice.devcert, DC_DEVCERT_BYTES));
    ASSERT_MEM(cert.pub, alice.pk, DC_PUBKEY_BYTES);
    ASSERT_EQ(cert.expires_at, t0 + 7 * DAY_MS);
    ASSERT_EQ(cert.offline_limit, 200000);
    for (size_t i = 0; i < n; i++) {
        const struct dc_genesis *g = genesis_of(&coins[i]);
        ASSERT_MEM(g->owner.pub, cert.pub, DC_PUBKEY_BYTES);
        ASSERT_MEM(g->owner.alias, cert.alias, DC_ALIAS_BYTES);
        ASSERT_MEM(g->owner.sig, cert.sig, DC_SIG_BYTES);
    }
    qsort(got, 6, sizeof got[0], cmp_desc);
    for (size_t i = 0; i < 6; i++) ASSERT_EQ(got[i], want[i]);
    ASSERT_EQ(sum, 1234);

    struct balance b1 = bal_of(&S, &alice);
    ASSERT_EQ(b1.available, 10000 - 1234);
    ASSERT_EQ(b1.held, 0);
    ASSERT_EQ(b1.outstanding, 1234);

    /* a second withdrawal: outstanding keeps adding up */
    n = withdraw_ok(&S, &alice, 50, coins, NCOINS);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(coin_value(&coins[0]), 50);
    struct balance b2 = bal_of(&S, &alice);
    ASSERT_EQ(b2.available, 10000 - 1234 - 50);
    ASSERT_EQ(b2.outstanding, 1234 + 50);

    /* zero and negative amounts are refused and write nothing */
    json_t *j = NULL;
    char rid[40];
    new_request_id(rid);
    int st = apif(&S, &alice, "POST", "/v1/withdrawals", &j, "{\"request_id\":\"%s\",\"amount\":0}",
                  rid);
    ASSERT(st == 400);
    json_decref(j);
    new_request_id(rid);
    st = apif(&S, &alice, "POST", "/v1/withdrawals", &j, "{\"request_id\":\"%s\",\"amount\":-5}",
              rid);
    ASSERT(st == 400);
    json_decref(j);
    ASSERT_EQ(bal_of(&S, &alice).available, 10000 - 1234 - 50);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_withdraw_retry_same_coins(void)
{
    struct dev alice;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 10000);
    const char *body = "{\"request_id\":\"coins-retry-1\",\"amount\":1234}";
    json_t *a = NULL, *b = NULL;
    ASSERT_EQ(api(&S, &alice, "POST", "/v1/withdrawals", body, &a), 201);
    ASSERT_EQ(bal_of(&S, &alice).available, 10000 - 1234);
    ASSERT_EQ(api(&S, &alice, "POST", "/v1/withdrawals", body, &b), 201);

    json_t *ca = json_get(a, "coins"), *cb = json_get(b, "coins");
    ASSERT_EQ(json_array_size(ca), 6);
    ASSERT_EQ(json_array_size(cb), json_array_size(ca));
    for (size_t i = 0; i < json_array_size(ca); i++) {
        ASSERT_STR(json_string_value(json_array_get(cb, i)),
                   json_string_value(json_array_get(ca, i)));
    }
    ASSERT_EQ(json_int(b, "withdrawal_id"), json_int(a, "withdrawal_id"));
    ASSERT_STR(json_str(b, "devcert"), json_str(a, "devcert"));
    ASSERT_EQ(json_int(b, "amount"), 1234);
    char *da = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
    char *db = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT(da && db);
    int same = strcmp(da, db) == 0;
    char *da_keep = da;
    free(db);
    ASSERT(same);
    json_decref(a);
    json_decref(b);

    /* debited once */
    struct balance bl = bal_of(&S, &alice);
    ASSERT_EQ(bl.available, 10000 - 1234);
    ASSERT_EQ(bl.outstanding, 1234);

    /* the same id with another body is a conflict, and writes nothing */
    json_t *j = NULL;
    int st = api(&S, &alice, "POST", "/v1/withdrawals",
                 "{\"request_id\":\"coins-retry-1\",\"amount\":1000}", &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    json_decref(j);
    bl = bal_of(&S, &alice);
    ASSERT_EQ(bl.available, 10000 - 1234);
    ASSERT_EQ(bl.outstanding, 1234);

    /* a lost response retried later, after the money is gone elsewhere and
     * the server restarted: still the same answer, still one debit */
    struct dev bob;
    dev_setup(&S, &bob, "Bob Li", 0);
    char rid[40];
    new_request_id(rid);
    st = apif(&S, &alice, "POST", "/v1/transfers", &j,
              "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%d}", rid, bob.account, 10000 - 1234);
    ASSERT_EQ(st, 201);
    json_decref(j);
    srv_restart(&S);
    ASSERT_EQ(api(&S, &alice, "POST", "/v1/withdrawals", body, &b), 201);
    db = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(b);
    ASSERT(db != NULL);
    same = strcmp(da_keep, db) == 0;
    free(db);
    free(da_keep);
    ASSERT(same);
    bl = bal_of(&S, &alice);
    ASSERT_EQ(bl.available, 0);
    ASSERT_EQ(bl.outstanding, 1234);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_withdraw_insufficient_funds(void)
{
    static struct coin coins[NCOINS];
    struct dev alice;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    size_t n = 0;
    json_t *j = NULL;
    int st = withdraw(&S, &alice, 1001, coins, NCOINS, &n, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    json_decref(j);
    struct balance b = bal_of(&S, &alice);
    ASSERT_EQ(b.available, 1000);
    ASSERT_EQ(b.outstanding, 0);
    /* exactly the balance is fine */
    n = withdraw_ok(&S, &alice, 1000, coins, NCOINS);
    ASSERT_EQ(n, 1);
    b = bal_of(&S, &alice);
    ASSERT_EQ(b.available, 0);
    ASSERT_EQ(b.outstanding, 1000);
    st = withdraw(&S, &alice, 1, coins, NCOINS, &n, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_withdraw_offline_limit(void)
{
    static struct coin coins[NCOINS], all[NCOINS];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 500000);
    dev_setup(&S, &bob, "Bob Li", 0);
    json_t *j = NULL;
    size_t n = 0;
    /* more than the limit in one go, with funds to spare */
    int st = withdraw(&S, &alice, 200001, coins, NCOINS, &n, &j);
    ASSERT_API_ERR(st, j, 400, "DC_ERR_OFFLINE_LIMIT");
    json_decref(j);

    size_t n1 = withdraw_ok(&S, &alice, 1234, all, NCOINS);
    /* outstanding coins count: 1234 + 198767 > 200000 */
    st = withdraw(&S, &alice, 200000 - 1234 + 1, coins, NCOINS, &n, &j);
    ASSERT_API_ERR(st, j, 400, "DC_ERR_OFFLINE_LIMIT");
    json_decref(j);
    struct balance b = bal_of(&S, &alice);
    ASSERT_EQ(b.available, 500000 - 1234);
    ASSERT_EQ(b.outstanding, 1234);
    /* up to the limit exactly */
    n = withdraw_ok(&S, &alice, 200000 - 1234, coins, NCOINS);
    ASSERT(n > 0);
    b = bal_of(&S, &alice);
    ASSERT_EQ(b.outstanding, 200000);
    ASSERT_EQ(b.available, 500000 - 200000);
    st = withdraw(&S, &alice, 1, coins, NCOINS, &n, &j);
    ASSERT_API_ERR(st, j, 400, "DC_ERR_OFFLINE_LIMIT");
    json_decref(j);

    /* coins that come back through a deposit free the limit again */
    dev_sync(&S, &bob);
    for (size_t i = 0; i < n1; i++) {
        coin_transfer(&all[i], &alice, &bob);
        coin_deposit(&all[i], &bob, bob.account);
    }
    json_t *d = deposit_ok(&S, &bob, all, n1);
    ASSERT_EQ(json_int(d, "credited"), 1234);
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 200000 - 1234);
    n = withdraw_ok(&S, &alice, 1234, coins, NCOINS);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 200000);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_withdraw_unverified(void)
{
    static struct coin coins[NCOINS];
    struct dev carol;
    /* this one needs an instance without --auto-verify */
    srv_cleanup(&S);
    srv_init(&S, NULL);
    srv_start(&S);
    dev_new(&carol);
    register_dev(&S, &carol, "Carol Wang");
    ASSERT_EQ(fund(&S, carol.account, 5000), 201);
    size_t n = 0;
    json_t *j = NULL;
    int st = withdraw(&S, &carol, 1000, coins, NCOINS, &n, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_ACCOUNT_UNVERIFIED");
    json_decref(j);
    struct balance b = bal_of(&S, &carol);
    ASSERT_EQ(b.available, 5000);
    ASSERT_EQ(b.outstanding, 0);
    ASSERT_EQ(verify_account(&S, carol.account), 200);
    n = withdraw_ok(&S, &carol, 1000, coins, NCOINS);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(bal_of(&S, &carol).available, 4000);
    /* a frozen account cannot withdraw either */
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/freeze", carol.account);
    ASSERT_EQ(admin(&S, S.token, "POST", path, "{\"reason\":\"kyc\"}", NULL), 200);
    st = withdraw(&S, &carol, 1000, coins, NCOINS, &n, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_ACCOUNT_FROZEN");
    json_decref(j);
    ASSERT_EQ(bal_of(&S, &carol).available, 4000);
    ASSERT_EQ(bal_of(&S, &carol).outstanding, 1000);
    audit_ok(&S);
    srv_cleanup(&S);
}

/*
 * A server must never hand out coins it will itself refuse: a withdrawal at
 * a business time outside the current signing key's window [valid_from,
 * sign_until) (PROTOCOL.md: "The key may sign coins ... while valid_from <=
 * t < sign_until") must not debit the account for dead coins. Either the
 * withdrawal is refused and nothing is debited, or the coins it returns are
 * accepted at deposit.
 */
static void test_withdraw_outside_key_window(void)
{
    static struct coin coins[NCOINS];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    /* 366 days on: the init key's sign_until (init + 365 days) has passed */
    clock_set(&S, h_now_ms() + 366 * DAY_MS);
    dev_sync(&S, &bob);
    size_t n = 0;
    json_t *j = NULL;
    int st = withdraw(&S, &alice, 1000, coins, NCOINS, &n, &j);
    json_decref(j);
    if (st == 201) {
        ASSERT_EQ(n, 1);
        coin_transfer(&coins[0], &alice, &bob);
        coin_deposit(&coins[0], &bob, bob.account);
        st = deposit(&S, &bob, coins, 1, NULL, &j);
        if (st != 201) {
            char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
            printf("# withdrawal at sign_until + 1 day answered 201 (Alice debited 1000), but "
                   "depositing its coin answers %d %s\n",
                   st, dump ? dump : "");
            free(dump);
        }
        json_decref(j);
        ASSERT_EQ(st, 201);
    } else {
        ASSERT_EQ(bal_of(&S, &alice).available, 5000);
    }
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 2. Deposit --------------------------------------------------------------- */

static void test_deposit_held_credit(void)
{
    static struct coin coins[NCOINS];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    size_t n = withdraw_ok(&S, &alice, 1234, coins, NCOINS);
    ASSERT_EQ(n, 6);
    dev_sync(&S, &bob);
    for (size_t i = 0; i < n; i++) {
        coin_transfer(&coins[i], &alice, &bob);
        coin_deposit(&coins[i], &bob, bob.account);
    }
    uint64_t before = h_now_ms();
    json_t *d = deposit_ok(&S, &bob, coins, n);
    ASSERT_EQ(json_int(d, "credited"), 1234);
    ASSERT(json_int(d, "deposit_id") > 0);
    json_t *cs = json_get(d, "coins");
    ASSERT_EQ(json_array_size(cs), n);
    long long release_at = json_int(coin_out(d, 0), "release_at");
    /* 15 working days: at least three weeks away */
    ASSERT(release_at > (long long)(before + 20 * DAY_MS));
    long long sum = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *c = coin_out(d, i);
        char ser[2 * DC_SERIAL_BYTES + 1];
        serial_hex(ser, &coins[i]);
        ASSERT_STR(json_str(c, "serial"), ser);
        ASSERT_EQ(json_int(c, "amount"), coin_value(&coins[i]));
        ASSERT_STR(json_str(c, "status"), "held");
        ASSERT(json_is_false(json_get(c, "flagged")));
        ASSERT(json_is_null(json_get(c, "case")));
        ASSERT_EQ(json_int(c, "release_at"), release_at);
        ASSERT(json_int(c, "hold") > 0);
        sum += json_int(c, "amount");
    }
    ASSERT_EQ(sum, 1234);
    /* every hold of the request names the deposit (the operator's frozen box) */
    json_t *hl = NULL;
    ASSERT_EQ(admin(&S, S.token, "GET", "/v1/admin/holds?status=held", NULL, &hl), 200);
    ASSERT_EQ(json_array_size(json_get(hl, "holds")), n);
    for (size_t i = 0; i < n; i++) {
        json_t *h = json_array_get(json_get(hl, "holds"), i);
        ASSERT_EQ(json_int(h, "deposit"), json_int(d, "deposit_id"));
        ASSERT_EQ(json_int(h, "account"), bob.account);
    }
    json_decref(hl);

    /* the receipt: signed by the issuer's signing key over "DUCATRCP"..., and
     * names every serial */
    const char *rhex = json_str(d, "receipt");
    size_t rlen = strlen(rhex) / 2;
    ASSERT(rlen > 8 + DC_SIG_BYTES);
    uint8_t *r = malloc(rlen);
    ASSERT(r != NULL);
    ASSERT_OK(dc_hex_decode(r, rlen, rhex, strlen(rhex)));
    ASSERT_MEM(r, "DUCATRCP", 8);
    json_t *k = NULL;
    ASSERT_EQ(api(&S, NULL, "GET", "/v1/keys", NULL, &k), 200);
    json_t *sk = json_get(k, "signing_keys");
    int verified = 0;
    for (size_t i = 0; i < json_array_size(sk); i++) {
        uint8_t pub[DC_PUBKEY_BYTES];
        const char *ph = json_str(json_array_get(sk, i), "pub");
        ASSERT_OK(dc_hex_decode(pub, sizeof pub, ph, strlen(ph)));
        if (crypto_sign_ed25519_verify_detached(r + rlen - DC_SIG_BYTES, r, rlen - DC_SIG_BYTES,
                                                pub) == 0) {
            verified = 1;
        }
    }
    json_decref(k);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *ser = genesis_of(&coins[i])->serial;
        int found = 0;
        for (size_t o = 0; o + DC_SERIAL_BYTES <= rlen - DC_SIG_BYTES; o++) {
            if (memcmp(r + o, ser, DC_SERIAL_BYTES) == 0) found = 1;
        }
        ASSERT(found);
    }
    free(r);
    ASSERT(verified);

    /* held, not available */
    json_t *b = balance(&S, &bob);
    ASSERT_EQ(json_int(b, "available"), 0);
    ASSERT_EQ(json_int(b, "held"), 1234);
    ASSERT_EQ(json_array_size(json_get(b, "holds")), n);
    for (size_t i = 0; i < n; i++) {
        json_t *c = coin_out(d, i);
        json_t *h = hold_in(b, json_int(c, "hold"));
        ASSERT(h != NULL);
        ASSERT_EQ(json_int(h, "amount"), json_int(c, "amount"));
        ASSERT_EQ(json_int(h, "release_at"), release_at);
        ASSERT_STR(json_str(h, "status"), "held");
        ASSERT(json_is_null(json_get(h, "case")));
    }
    json_decref(b);
    json_decref(d);

    /* Bob cannot spend held money online */
    json_t *j = NULL;
    char rid[40];
    new_request_id(rid);
    int st = apif(&S, &bob, "POST", "/v1/transfers", &j,
                  "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":1}", rid, alice.account);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_INSUFFICIENT_FUNDS");
    json_decref(j);

    /* the coins are back: Alice has nothing outstanding */
    struct balance a = bal_of(&S, &alice);
    ASSERT_EQ(a.available, 5000 - 1234);
    ASSERT_EQ(a.outstanding, 0);
    ASSERT_EQ(cases_count(&S, ""), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_deposit_wrong_account(void)
{
    static struct coin c[1], pre[1];
    struct dev alice, bob, carol;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, c, 1), 1);
    dev_sync(&S, &bob);
    coin_transfer(&c[0], &alice, &bob);
    pre[0] = c[0];
    coin_deposit(&c[0], &bob, carol.account);
    json_t *j = NULL;
    int st = deposit(&S, &bob, c, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_DEPOSIT_ACCOUNT");
    json_decref(j);
    struct balance b = bal_of(&S, &bob);
    ASSERT_EQ(b.held, 0);
    ASSERT_EQ(b.available, 0);
    ASSERT_EQ(b.nholds, 0);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 1000);
    audit_ok(&S);

    /* the refused request wrote nothing: Bob deposits the same state to
     * himself, no double spend is seen */
    coin_deposit(&pre[0], &bob, bob.account);
    json_t *d = deposit_ok(&S, &bob, pre, 1);
    ASSERT_EQ(json_int(d, "credited"), 1000);
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "held");
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &bob).held, 1000);
    ASSERT_EQ(cases_count(&S, ""), 0);
    ASSERT(!keys_revoked(&S, bob.pk_hex));
    ASSERT(!keys_revoked(&S, alice.pk_hex));
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_deposit_without_deposit_record(void)
{
    static struct coin c[2];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1500, c, 2), 2);
    dev_sync(&S, &bob);
    coin_transfer(&c[0], &alice, &bob);
    json_t *j = NULL;
    /* transferred to Bob, no deposit record */
    int st = deposit(&S, &bob, c, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_CHAIN_ORDER");
    json_decref(j);
    /* a bare genesis (Alice's own coin, no records at all) */
    st = deposit(&S, &alice, &c[1], 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_CHAIN_ORDER");
    json_decref(j);
    /* one good coin and one without a deposit record: all or nothing */
    static struct coin mix[2];
    mix[0] = c[0];
    coin_deposit(&mix[0], &bob, bob.account);
    mix[1] = c[0]; /* still without its deposit record */
    st = deposit(&S, &bob, mix, 2, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_CHAIN_ORDER");
    json_decref(j);
    struct balance b = bal_of(&S, &bob);
    ASSERT_EQ(b.held, 0);
    ASSERT_EQ(b.nholds, 0);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 1500);
    /* and the good one alone still goes in */
    json_t *d = deposit_ok(&S, &bob, mix, 1);
    ASSERT_EQ(json_int(d, "credited"), coin_value(&c[0]));
    json_decref(d);
    ASSERT_EQ(cases_count(&S, ""), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Offsets into a coin: header 3, genesis 241 (value at 3+2+4+16+4, its
 * signature the genesis' last 64 bytes), then the records. */
#define OFF_VALUE 29
#define OFF_GENESIS_SIG (3 + DC_GENESIS_BYTES - DC_SIG_BYTES)
#define OFF_TRANSFER_SIG (3 + DC_GENESIS_BYTES + DC_TRANSFER_BYTES - DC_SIG_BYTES)

static void expect_refused(const struct dev *bob, const struct coin *c, int http, const char *name)
{
    json_t *j = NULL;
    int st = deposit(&S, bob, c, 1, NULL, &j);
    ASSERT_API_ERR(st, j, http, name);
    json_decref(j);
    struct balance b = bal_of(&S, bob);
    ASSERT_EQ(b.held, 0);
    ASSERT_EQ(b.available, 0);
    ASSERT_EQ(b.nholds, 0);
}

static void test_deposit_forged_or_altered(void)
{
    static struct coin c[1], bad[1], pre[1];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, c, 1), 1);
    dev_sync(&S, &bob);
    coin_transfer(&c[0], &alice, &bob);
    pre[0] = c[0];
    coin_deposit(&c[0], &bob, bob.account);
    ASSERT_EQ(c[0].len, 3 + DC_GENESIS_BYTES + DC_TRANSFER_BYTES + DC_DEPOSIT_BYTES);

    /* the value raised by one unit (1000 -> 1001): the issuer did not sign that */
    bad[0] = c[0];
    ASSERT_EQ(bad[0].b[OFF_VALUE], 1000 & 0xff);
    bad[0].b[OFF_VALUE] ^= 0x01;
    ASSERT_EQ(coin_value(&bad[0]), 1001);
    expect_refused(&bob, bad, 403, "DC_ERR_COIN_FORGED");
    /* the value multiplied (1000 -> 1000 + 65536) */
    bad[0] = c[0];
    bad[0].b[OFF_VALUE + 2] ^= 0x01;
    expect_refused(&bob, bad, 403, "DC_ERR_COIN_FORGED");
    /* the issuer's signature */
    bad[0] = c[0];
    bad[0].b[OFF_GENESIS_SIG + 5] ^= 0x40;
    expect_refused(&bob, bad, 403, "DC_ERR_COIN_FORGED");
    /* Alice's transfer signature */
    bad[0] = c[0];
    bad[0].b[OFF_TRANSFER_SIG + 7] ^= 0x01;
    expect_refused(&bob, bad, 403, "DC_ERR_NOT_OWNER");
    /* Bob's deposit signature (the last byte of the coin) */
    bad[0] = c[0];
    bad[0].b[bad[0].len - 1] ^= 0x01;
    expect_refused(&bob, bad, 403, "DC_ERR_NOT_OWNER");
    /* a deposit record signed by a non-owner: Eve appends her own deposit
     * to Bob's coin */
    {
        static struct coin mallory[1];
        struct dev eve;
        dev_setup(&S, &eve, "Eve Chen", 0);
        mallory[0] = pre[0]; /* Bob's state, before his deposit record */
        /* Eve signs a deposit of Bob's coin to herself, by hand (the core
         * refuses to sign for a non-owner): 13 01 account time sig over
         * "DUCATSIG" || body || state */
        uint8_t state[DC_HASH_BYTES], msg[8 + 18 + DC_HASH_BYTES];
        ASSERT_OK(dc_coin_decode(&parsed_coin, mallory[0].b, mallory[0].len));
        dc_coin_state(state, &parsed_coin, parsed_coin.n);
        uint8_t *rec = mallory[0].b + mallory[0].len;
        uint64_t acct = (uint64_t)eve.account, tm = h_now_ms();
        rec[0] = DC_TYPE_DEPOSIT;
        rec[1] = 1;
        for (size_t i = 0; i < 8; i++) {
            rec[2 + i] = (uint8_t)(acct >> (8 * i));
            rec[10 + i] = (uint8_t)(tm >> (8 * i));
        }
        memcpy(msg, "DUCATSIG", 8);
        memcpy(msg + 8, rec, 18);
        memcpy(msg + 26, state, DC_HASH_BYTES);
        crypto_sign_ed25519_detached(rec + 18, NULL, msg, sizeof msg, eve.sk);
        mallory[0].len += DC_DEPOSIT_BYTES;
        mallory[0].b[2]++; /* one more element */
        ASSERT_OK(dc_coin_decode(&parsed_coin, mallory[0].b, mallory[0].len));
        json_t *j = NULL;
        int st = deposit(&S, &eve, mallory, 1, NULL, &j);
        ASSERT_API_ERR(st, j, 403, "DC_ERR_NOT_OWNER");
        json_decref(j);
        ASSERT_EQ(bal_of(&S, &eve).held, 0);
    }
    /* a coin from another issuer (a key this server never certified) */
    {
        static struct coin other[1];
        struct srv s2;
        struct dev zed;
        memset(&s2, 0, sizeof s2);
        start_server(&s2);
        dev_setup(&s2, &zed, "Zed Other", 5000);
        ASSERT_EQ(withdraw_ok(&s2, &zed, 1000, other, 1), 1);
        srv_cleanup(&s2);
        coin_transfer(&other[0], &zed, &bob);
        coin_deposit(&other[0], &bob, bob.account);
        json_t *j = NULL;
        int st = deposit(&S, &bob, other, 1, NULL, &j);
        /* both instances number their first key 1, so the key is known here
         * and the genesis does not verify under it: forged, not unknown */
        ASSERT_API_ERR(st, j, 403, "DC_ERR_COIN_FORGED");
        json_decref(j);
    }
    struct balance b = bal_of(&S, &bob);
    ASSERT_EQ(b.held, 0);
    ASSERT_EQ(b.nholds, 0);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 1000);
    audit_ok(&S);

    /* none of the refusals consumed anything: the genuine coin goes in */
    json_t *d = deposit_ok(&S, &bob, c, 1);
    ASSERT_EQ(json_int(d, "credited"), 1000);
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &bob).held, 1000);
    ASSERT_EQ(cases_count(&S, ""), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_deposit_malformed(void)
{
    static struct coin c[1];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, c, 1), 1);
    dev_sync(&S, &bob);
    coin_transfer(&c[0], &alice, &bob);
    coin_deposit(&c[0], &bob, bob.account);
    char *hex = coin_hex(&c[0]);
    size_t hl = strlen(hex);

    struct {
        const char *what;
        char *body;
        const char *name; /* expected error name (all 400) */
    } cases[10];
    size_t nc = 0;
#define BODY(w, nm, ...)                                                                           \
    do {                                                                                           \
        char *b_ = NULL;                                                                           \
        size_t l_ = 0;                                                                             \
        FILE *f_ = open_memstream(&b_, &l_);                                                       \
        ASSERT(f_ != NULL);                                                                        \
        fprintf(f_, __VA_ARGS__);                                                                  \
        fclose(f_);                                                                                \
        cases[nc].what = (w);                                                                      \
        cases[nc].body = b_;                                                                       \
        cases[nc].name = (nm);                                                                     \
        nc++;                                                                                      \
    } while (0)
    BODY("not hex", "DC_ERR_FIELD", "{\"request_id\":\"m1\",\"coins\":[\"zz%s\"]}", hex + 2);
    BODY("odd length", "DC_ERR_FIELD", "{\"request_id\":\"m2\",\"coins\":[\"%s0\"]}", hex);
    BODY("empty string", "DC_ERR_FIELD", "{\"request_id\":\"m3\",\"coins\":[\"\"]}");
    BODY("not a string", "DC_ERR_FIELD", "{\"request_id\":\"m4\",\"coins\":[12]}");
    BODY("no coins", "DC_ERR_FIELD", "{\"request_id\":\"m5\",\"coins\":[]}");
    BODY("truncated", "DC_ERR_DECODE_TRUNCATED", "{\"request_id\":\"m6\",\"coins\":[\"%.*s\"]}",
         (int)(hl - 20), hex);
    BODY("trailing byte", "DC_ERR_DECODE_TRAILING", "{\"request_id\":\"m7\",\"coins\":[\"%s00\"]}",
         hex);
    BODY("header only", "DC_ERR_DECODE_TRUNCATED",
         "{\"request_id\":\"m8\",\"coins\":[\"200101\"]}");
    BODY("not a coin", "DC_ERR_DECODE_TYPE", "{\"request_id\":\"m9\",\"coins\":[\"21%s\"]}",
         hex + 2);
    BODY("not JSON", "DC_ERR_JSON", "{\"request_id\":\"m10\",\"coins\":[\"%s\"", hex);
#undef BODY
    int bad = 0;
    for (size_t i = 0; i < nc; i++) {
        json_t *j = NULL;
        int st = api(&S, &bob, "POST", "/v1/deposits", cases[i].body, &j);
        const char *got = json_is_object(j) ? json_string_value(json_object_get(j, "name")) : NULL;
        if (st != 400 || !got || strcmp(got, cases[i].name) != 0) {
            printf("# %s: expected 400 %s, got %d %s\n", cases[i].what, cases[i].name, st,
                   got ? got : "(no name)");
            bad++;
        }
        json_decref(j);
        free(cases[i].body);
        cases[i].body = NULL;
    }
    if (bad) FAIL_AT("%d malformed deposits answered otherwise (see above)", bad);
    struct balance b = bal_of(&S, &bob);
    ASSERT_EQ(b.held, 0);
    ASSERT_EQ(b.nholds, 0);
    /* the genuine coin still goes in */
    json_t *d = deposit_ok(&S, &bob, c, 1);
    ASSERT_EQ(json_int(d, "credited"), 1000);
    json_decref(d);
    free(hex);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_deposit_idempotent_retry(void)
{
    static struct coin c[2];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1500, c, 2), 2);
    dev_sync(&S, &bob);
    for (size_t i = 0; i < 2; i++) {
        coin_transfer(&c[i], &alice, &bob);
        coin_deposit(&c[i], &bob, bob.account);
    }
    struct api_req r1 = {0}, r2 = {0};
    struct api_resp a1, a2;
    char *h0 = coin_hex(&c[0]), *h1 = coin_hex(&c[1]);
    size_t blen = strlen(h0) + strlen(h1) + 128;
    char *body = malloc(blen);
    ASSERT(body != NULL);
    snprintf(body, blen, "{\"request_id\":\"dep-retry-1\",\"coins\":[\"%s\",\"%s\"]}", h0, h1);
    r1.method = r2.method = "POST";
    r1.path = r2.path = "/v1/deposits";
    r1.body = r2.body = body;
    r1.dev = r2.dev = &bob;
    ASSERT_EQ(api_raw(&S, &r1, &a1), 201);
    ASSERT_EQ(bal_of(&S, &bob).held, 1500);
    ASSERT_EQ(api_raw(&S, &r2, &a2), 201);
    /* the very same answer: ids, holds, receipt */
    ASSERT_EQ(a2.len, a1.len);
    ASSERT(strcmp(a1.body, a2.body) == 0);
    ASSERT_EQ(json_int(a1.json, "credited"), 1500);
    char *first = strdup(a1.body);
    size_t first_len = a1.len;
    ASSERT(first != NULL);
    api_resp_free(&a1);
    api_resp_free(&a2);
    /* and once more after a restart */
    srv_restart(&S);
    struct api_req r3 = {0};
    struct api_resp a3;
    r3.method = "POST";
    r3.path = "/v1/deposits";
    r3.body = body;
    r3.dev = &bob;
    ASSERT_EQ(api_raw(&S, &r3, &a3), 201);
    int same3 = a3.len == first_len && strcmp(a3.body, first) == 0;
    api_resp_free(&a3);
    free(first);
    ASSERT(same3);
    /* credited once */
    struct balance b = bal_of(&S, &bob);
    ASSERT_EQ(b.held, 1500);
    ASSERT_EQ(b.nholds, 2);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 0);

    /* the same id with another body: a conflict */
    snprintf(body, blen, "{\"request_id\":\"dep-retry-1\",\"coins\":[\"%s\"]}", h0);
    json_t *j = NULL;
    int st = api(&S, &bob, "POST", "/v1/deposits", body, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_IDEMPOTENCY_CONFLICT");
    json_decref(j);
    free(body);
    free(h0);
    free(h1);
    ASSERT_EQ(bal_of(&S, &bob).held, 1500);
    ASSERT_EQ(cases_count(&S, ""), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* A request that fails part-way writes nothing: a fresh coin listed before
 * an already deposited one is not consumed; a double-spent branch listed
 * before a coin naming another account opens no case, blocks no one. */
static void test_deposit_failure_rolls_back(void)
{
    static struct coin c[3], copy[1], mix[2];
    struct dev alice, bob, carol;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 3000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    for (size_t i = 0; i < 3; i++) ASSERT_EQ(withdraw_ok(&S, &alice, 1000, &c[i], 1), 1);
    copy[0] = c[0];
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    coin_transfer(&c[0], &alice, &bob);
    coin_deposit(&c[0], &bob, bob.account);
    json_t *d = deposit_ok(&S, &bob, c, 1);
    long long bob_hold = json_int(coin_out(d, 0), "hold");
    json_decref(d);

    /* [fresh coin, already deposited coin] */
    coin_transfer(&c[1], &alice, &bob);
    coin_deposit(&c[1], &bob, bob.account);
    mix[0] = c[1];
    mix[1] = c[0];
    json_t *j = NULL;
    int st = deposit(&S, &bob, mix, 2, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    ASSERT_EQ(bal_of(&S, &bob).held, 1000);
    ASSERT_EQ(bal_of(&S, &bob).nholds, 1);

    /* [double-spent branch, coin whose deposit record names Bob] by Carol */
    coin_transfer(&copy[0], &alice, &carol);
    coin_deposit(&copy[0], &carol, carol.account);
    coin_transfer(&c[2], &alice, &carol);
    static struct coin pre2[1];
    pre2[0] = c[2];
    coin_deposit(&c[2], &carol, bob.account);
    mix[0] = copy[0];
    mix[1] = c[2];
    st = deposit(&S, &carol, mix, 2, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_DEPOSIT_ACCOUNT");
    json_decref(j);
    ASSERT_EQ(cases_count(&S, ""), 0);
    ASSERT(!keys_revoked(&S, alice.pk_hex));
    dev_sync(&S, &alice); /* not blocked */
    expect_hold(&bob, bob_hold, "held", 0);
    struct balance cb = bal_of(&S, &carol);
    ASSERT_EQ(cb.held, 0);
    ASSERT_EQ(cb.nholds, 0);
    audit_ok(&S);

    /* the fresh coin goes in alone, not seen as spent */
    d = deposit_ok(&S, &bob, &c[1], 1);
    ASSERT_EQ(json_int(d, "credited"), 1000);
    json_decref(d);
    /* Carol's good coin, deposited to herself */
    coin_deposit(&pre2[0], &carol, carol.account);
    d = deposit_ok(&S, &carol, pre2, 1);
    ASSERT(json_is_null(json_get(coin_out(d, 0), "case")));
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 3. Double deposit ----------------------------------------------------------- */

static void test_double_deposit(void)
{
    static struct coin c[2], pre[1], again[1], twice[2];
    struct dev alice, bob, carol;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1500, c, 2), 2);
    dev_sync(&S, &bob);
    coin_transfer(&c[0], &alice, &bob);
    pre[0] = c[0];
    coin_deposit(&c[0], &bob, bob.account);
    json_t *d = deposit_ok(&S, &bob, c, 1);
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &bob).held, 1000);

    /* the same bytes under a new request id */
    json_t *j = NULL;
    int st = deposit(&S, &bob, c, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    /* the same state with a second, different deposit record (a retry that
     * re-signed): still the same coin deposited twice, no one deceived */
    again[0] = pre[0];
    ASSERT_OK(dc_coin_deposit(again[0].b, sizeof again[0].b, &again[0].len, bob.sk,
                              (uint64_t)bob.account, h_now_ms() + 12345));
    ASSERT(memcmp(again[0].b, c[0].b, again[0].len) != 0);
    st = deposit(&S, &bob, again, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    /* the same coin twice in one request, with a fresh coin */
    dev_sync(&S, &carol);
    coin_transfer(&c[1], &alice, &carol);
    coin_deposit(&c[1], &carol, carol.account);
    twice[0] = c[1];
    twice[1] = c[1];
    st = deposit(&S, &carol, twice, 2, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    ASSERT_EQ(bal_of(&S, &carol).held, 0);
    ASSERT_EQ(bal_of(&S, &carol).nholds, 0);

    /* nothing credited, no case, nobody blocked */
    struct balance b = bal_of(&S, &bob);
    ASSERT_EQ(b.held, 1000);
    ASSERT_EQ(b.available, 0);
    ASSERT_EQ(b.nholds, 1);
    ASSERT_EQ(cases_count(&S, ""), 0);
    ASSERT(!keys_revoked(&S, bob.pk_hex));
    ASSERT(!keys_revoked(&S, alice.pk_hex));
    dev_sync(&S, &bob);
    dev_sync(&S, &alice);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 500);
    audit_ok(&S);
    /* the single copy of the second coin still goes in */
    d = deposit_ok(&S, &carol, twice, 1);
    ASSERT_EQ(json_int(d, "credited"), 500);
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 4. Split siblings ------------------------------------------------------------ */

static void test_split_siblings_two_depositors(void)
{
    static struct coin c[1], parts[2];
    struct dev alice, bob, carol;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, c, 1), 1);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 1000);
    const int64_t vals[2] = {600, 400};
    coin_split(&c[0], &alice, vals, 2, parts);
    ASSERT_EQ(coin_value(&parts[0]), 600);
    ASSERT_EQ(coin_value(&parts[1]), 400);
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    coin_transfer(&parts[0], &alice, &bob);
    coin_transfer(&parts[1], &alice, &carol);
    coin_deposit(&parts[0], &bob, bob.account);
    coin_deposit(&parts[1], &carol, carol.account);

    json_t *d = deposit_ok(&S, &bob, &parts[0], 1);
    ASSERT_EQ(json_int(d, "credited"), 600);
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "held");
    ASSERT(json_is_null(json_get(coin_out(d, 0), "case")));
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 400);
    audit_ok(&S);

    d = deposit_ok(&S, &carol, &parts[1], 1);
    ASSERT_EQ(json_int(d, "credited"), 400);
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "held");
    ASSERT(json_is_null(json_get(coin_out(d, 0), "case")));
    json_decref(d);

    struct balance b = bal_of(&S, &bob), cb = bal_of(&S, &carol), a = bal_of(&S, &alice);
    ASSERT_EQ(b.held, 600);
    ASSERT_EQ(cb.held, 400);
    ASSERT_EQ(a.outstanding, 0);
    ASSERT_EQ(a.available, 4000);
    ASSERT_EQ(cases_count(&S, ""), 0);
    ASSERT(!keys_revoked(&S, alice.pk_hex));
    dev_sync(&S, &alice); /* not blocked */
    /* the float for the coin is back to 0: the audit checks float == outstanding */
    json_t *au = admin_get(&S, "/v1/admin/audit");
    ASSERT(json_is_true(json_get(au, "ok")));
    ASSERT(strstr(json_str(au, "report"), "offline float:            0.00 CNY\n") != NULL);
    json_decref(au);

    /* and a sibling cannot come back a second time */
    json_t *j = NULL;
    int st = deposit(&S, &carol, &parts[1], 1, NULL, &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_COIN_SPENT");
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 5. Deposit-then-spend fork ---------------------------------------------------- */

struct fork {
    struct dev alice, bob, carol;
    struct coin x[1], copy[1];
    long long bob_hold, carol_hold, case_id;
    char serial[2 * DC_SERIAL_BYTES + 1];
};

static struct fork F;

/*
 * Alice (funded with `funds`) withdraws a 1000 coin, keeps a copy, pays it to Bob and the same
 * state to Carol; Bob deposits, then Carol. Checks everything common to the
 * auto and manual paths: 201s, the case and its evidence, the culprit,
 * Alice's block and revocation. Returns Carol's deposit answer.
 */
static json_t *fork_setup(long long funds)
{
    memset(&F, 0, sizeof F);
    start_server(&S);
    dev_setup(&S, &F.alice, "Alice Zhang", funds);
    dev_setup(&S, &F.bob, "Bob Li", 0);
    dev_setup(&S, &F.carol, "Carol Wang", 0);
    ASSERT_EQ(withdraw_ok(&S, &F.alice, 1000, F.x, 1), 1);
    serial_hex(F.serial, &F.x[0]);
    F.copy[0] = F.x[0]; /* the backup Alice keeps */

    dev_sync(&S, &F.bob);
    dev_sync(&S, &F.carol);
    coin_transfer(&F.x[0], &F.alice, &F.bob);
    coin_deposit(&F.x[0], &F.bob, F.bob.account);
    json_t *d = deposit_ok(&S, &F.bob, F.x, 1);
    ASSERT_EQ(json_int(d, "credited"), 1000);
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "held");
    F.bob_hold = json_int(coin_out(d, 0), "hold");
    json_decref(d);
    ASSERT_EQ(cases_count(&S, ""), 0);
    audit_ok(&S);

    /* what Alice has left at detection */
    ASSERT_EQ(bal_of(&S, &F.alice).available, funds - 1000);

    /* the double spend: the same state, paid to Carol */
    coin_transfer(&F.copy[0], &F.alice, &F.carol);
    coin_deposit(&F.copy[0], &F.carol, F.carol.account);
    d = deposit_ok(&S, &F.carol, F.copy, 1);
    ASSERT_EQ(json_int(d, "credited"), 1000);
    json_t *co = coin_out(d, 0);
    ASSERT_EQ(json_int(co, "amount"), 1000);
    ASSERT_STR(json_str(co, "serial"), F.serial);
    F.case_id = json_int(co, "case");
    ASSERT(F.case_id > 0);
    F.carol_hold = json_int(co, "hold");

    /* the case: listed, with evidence that proves Alice signed both */
    json_t *all = admin_get(&S, "/v1/admin/cases");
    json_t *arr = json_get(all, "cases");
    ASSERT_EQ(json_array_size(arr), 1);
    ASSERT_EQ(json_int(json_array_get(arr, 0), "case"), F.case_id);
    json_decref(all);

    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", F.case_id);
    json_t *c = admin_get(&S, path);
    ASSERT_EQ(json_int(c, "case"), F.case_id);
    ASSERT_STR(json_str(c, "serial"), F.serial);
    ASSERT_STR(json_str(c, "culprit"), F.alice.pk_hex);
    ASSERT_EQ(json_int(c, "culprit_account"), F.alice.account);
    ASSERT_EQ(json_int(c, "value"), 1000);
    const char *evhex = json_str(c, "evidence");
    size_t evlen = strlen(evhex) / 2;
    ASSERT(evlen > 3 && evlen <= DC_EVIDENCE_MAX_BYTES);
    uint8_t *ev = malloc(evlen);
    ASSERT(ev != NULL);
    ASSERT_OK(dc_hex_decode(ev, evlen, evhex, strlen(evhex)));
    uint8_t mpub[DC_PUBKEY_BYTES];
    master_pub(&S, mpub);
    struct dc_evidence_info info;
    enum dc_err ee = dc_evidence_verify(&info, mpub, ev, evlen);
    if (ee == DC_OK) {
        /* a tampered copy must not verify (the check means something) */
        ev[evlen - 1] ^= 0x01;
        struct dc_evidence_info junk;
        enum dc_err e2 = dc_evidence_verify(&junk, mpub, ev, evlen);
        ev[evlen - 1] ^= 0x01;
        if (e2 == DC_OK) ee = DC_ERR_INTERNAL;
    }
    free(ev);
    ASSERT_OK(ee);
    ASSERT_MEM(info.culprit, F.alice.pk, DC_PUBKEY_BYTES);
    ASSERT_MEM(info.serial, genesis_of(&F.copy[0])->serial, DC_SERIAL_BYTES);
    ASSERT_EQ(info.value, 1000);
    ASSERT_EQ(info.fork_index, 0);
    ASSERT_EQ(info.type_a, DC_TYPE_TRANSFER);
    ASSERT_EQ(info.type_b, DC_TYPE_TRANSFER);
    char alias[2 * DC_ALIAS_BYTES + 1];
    dc_hex_encode(alias, info.alias, DC_ALIAS_BYTES);
    const char *armor = json_str(c, "evidence_armor");
    ASSERT(strncmp(armor, "ducat:evidence:1:", 17) == 0);
    {
        /* the armor carries the same bytes */
        uint8_t *ab = malloc(DC_EVIDENCE_MAX_BYTES), *hb = malloc(evlen);
        size_t alen = 0;
        ASSERT(ab && hb);
        ASSERT_OK(dc_hex_decode(hb, evlen, evhex, strlen(evhex)));
        enum dc_err ae = dc_armor_decode(ab, DC_EVIDENCE_MAX_BYTES, &alen, DC_ARMOR_EVIDENCE, armor,
                                         strlen(armor));
        int same = ae == DC_OK && alen == evlen && memcmp(ab, hb, evlen) == 0;
        free(ab);
        free(hb);
        ASSERT_OK(ae);
        ASSERT(same);
    }
    /* the case's holds: Bob's (first branch) and Carol's (provisional) */
    json_t *hs = json_get(c, "holds");
    ASSERT_EQ(json_array_size(hs), 2);
    /* exactly these two, each once (not one of them twice) */
    ASSERT(json_int(json_array_get(hs, 0), "hold") != json_int(json_array_get(hs, 1), "hold"));
    for (size_t i = 0; i < 2; i++) {
        json_t *h = json_array_get(hs, i);
        long long id = json_int(h, "hold");
        ASSERT(id == F.bob_hold || id == F.carol_hold);
        ASSERT_EQ(json_int(h, "amount"), 1000);
        if (id == F.bob_hold) {
            ASSERT_EQ(json_int(h, "account"), F.bob.account);
            ASSERT(json_is_false(json_get(h, "provisional")));
        } else {
            ASSERT_EQ(json_int(h, "account"), F.carol.account);
            ASSERT(json_is_true(json_get(h, "provisional")));
        }
    }
    json_decref(c);

    /* the alias in the proof is Alice's account's */
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld", F.alice.account);
    json_t *acc = admin_get(&S, path);
    ASSERT_STR(json_str(acc, "alias"), alias);
    ASSERT(json_is_true(json_get(acc, "offline_blocked")));
    json_decref(acc);

    /* Alice is blocked offline and on the revocation list */
    json_t *j = NULL;
    int st = api(&S, &F.alice, "POST", "/v1/sync", "{}", &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_OFFLINE_BLOCKED");
    json_decref(j);
    static struct coin w[NCOINS];
    size_t n = 0;
    st = withdraw(&S, &F.alice, 1, w, NCOINS, &n, &j);
    /* with 2000 she has paid (settled, still blocked offline); with less she
     * is a debtor and sends nothing at all */
    ASSERT_API_ERR(st, j, 403, funds >= 2000 ? "DC_ERR_OFFLINE_BLOCKED" : "DC_ERR_ACCOUNT_DEBTOR");
    json_decref(j);
    ASSERT(keys_revoked(&S, F.alice.pk_hex));
    ASSERT(!keys_revoked(&S, F.bob.pk_hex));
    ASSERT(!keys_revoked(&S, F.carol.pk_hex));
    /* the honest receivers are not */
    dev_sync(&S, &F.bob);
    dev_sync(&S, &F.carol);
    return d;
}

static json_t *hold_of(const struct dev *d, long long id, json_t **bal_out)
{
    json_t *b = balance(&S, d);
    json_t *h = hold_in(b, id);
    if (!h) {
        json_decref(b);
        FAIL_AT("hold %lld is not in the balance of account %lld", id, d->account);
    }
    *bal_out = b;
    return h;
}

static void expect_hold(const struct dev *d, long long id, const char *status, long long case_id)
{
    json_t *b = NULL;
    json_t *h = hold_of(d, id, &b);
    const char *s = json_str(h, "status");
    json_t *cv = json_get(h, "case");
    long long c = json_is_null(cv) ? 0 : json_int(h, "case");
    int ok = strcmp(s, status) == 0 && c == case_id;
    if (!ok) {
        printf("# account %lld hold %lld: status %s case %lld, expected %s case %lld\n", d->account,
               id, s, c, status, case_id);
    }
    json_decref(b);
    ASSERT(ok);
}

static void test_fork_auto_resolved(void)
{
    /* Alice keeps 4000 available: enough to cover the 1000 at detection */
    json_t *d = fork_setup(5000);
    json_t *co = coin_out(d, 0);
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", F.case_id);
    json_t *c = admin_get(&S, path);
    ASSERT_STR(json_str(c, "status"), "resolved");
    ASSERT_STR(json_str(c, "phase"), "settled");
    ASSERT_STR(json_str(c, "decision"), "auto");
    ASSERT_EQ(json_int(c, "liability"), 1000);
    ASSERT_EQ(json_int(c, "recovered"), 1000);
    ASSERT_EQ(json_int(c, "debt"), 0);
    ASSERT(json_int(c, "resolved_at") > 0);
    json_decref(c);
    ASSERT_EQ(cases_count(&S, "?status=open"), 0);
    ASSERT_EQ(cases_count(&S, "?status=resolved"), 1);

    /* Alice paid for it */
    struct balance a = bal_of(&S, &F.alice);
    ASSERT_EQ(a.available, 5000 - 1000 - 1000);
    /* both receivers keep their credit, held on the normal schedule */
    expect_hold(&F.bob, F.bob_hold, "held", F.case_id);
    expect_hold(&F.carol, F.carol_hold, "held", F.case_id);
    /* the answer Carol got says the same as her balance */
    ASSERT_STR(json_str(co, "status"), "held");
    json_decref(d);
    struct balance b = bal_of(&S, &F.bob), cb = bal_of(&S, &F.carol);
    ASSERT_EQ(b.held, 1000);
    ASSERT_EQ(cb.held, 1000);
    ASSERT_EQ(b.available, 0);
    ASSERT_EQ(cb.available, 0);
    audit_ok(&S);

    /* an operator cannot resolve it again */
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", F.case_id);
    int st = admin(&S, S.token, "POST", path, "{\"decision\":\"reject\",\"reason\":\"late\"}", &j);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_CASE_CLOSED");
    json_decref(j);

    /* still blocked after settlement */
    st = api(&S, &F.alice, "POST", "/v1/sync", "{}", &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_OFFLINE_BLOCKED");
    json_decref(j);

    /* both are released on schedule */
    clock_set(&S, h_now_ms() + 60 * DAY_MS);
    long long r = release_holds(&S);
    ASSERT(r >= 0 && r <= 2);
    b = bal_of(&S, &F.bob);
    cb = bal_of(&S, &F.carol);
    ASSERT_EQ(b.available, 1000);
    ASSERT_EQ(b.held, 0);
    ASSERT_EQ(cb.available, 1000);
    ASSERT_EQ(cb.held, 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Alice's available equals the value exactly: that covers it. */
static void test_fork_auto_resolved_exact_cover(void)
{
    json_t *d = fork_setup(2000);
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "held");
    json_decref(d);
    ASSERT_EQ(cases_count(&S, "?status=open"), 0);
    ASSERT_EQ(bal_of(&S, &F.alice).available, 0);
    expect_hold(&F.bob, F.bob_hold, "held", F.case_id);
    expect_hold(&F.carol, F.carol_hold, "held", F.case_id);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Alice spends everything first: auto-resolution cannot cover the loss. */
static json_t *fork_open(void)
{
    json_t *d = fork_setup(1000);
    json_t *co = coin_out(d, 0);
    ASSERT_STR(json_str(co, "status"), "frozen");
    ASSERT_EQ(json_int(co, "case"), F.case_id);

    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", F.case_id);
    json_t *c = admin_get(&S, path);
    ASSERT_STR(json_str(c, "status"), "open");
    ASSERT_STR(json_str(c, "phase"), "recovering");
    ASSERT_EQ(json_int(c, "exposure"), 1000);
    ASSERT_EQ(json_int(c, "recovered"), 0);
    ASSERT_EQ(json_int(c, "debt"), 1000);
    json_decref(c);
    /* a decision before an honest credit is due: refused, nothing changes */
    json_t *nd = NULL;
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", F.case_id);
    int nst = admin(&S, S.token, "POST", path, "{\"decision\":\"honour\",\"reason\":\"x\"}", &nd);
    ASSERT_API_ERR(nst, nd, 409, "DC_ERR_CASE_NOT_DUE");
    json_decref(nd);
    ASSERT_EQ(cases_count(&S, "?status=open"), 1);
    ASSERT_EQ(cases_count(&S, "?status=resolved"), 0);
    ASSERT_EQ(bal_of(&S, &F.alice).available, 0);

    /* both credits frozen with the case */
    expect_hold(&F.bob, F.bob_hold, "frozen", F.case_id);
    expect_hold(&F.carol, F.carol_hold, "frozen", F.case_id);
    ASSERT_EQ(bal_of(&S, &F.bob).held, 1000);
    ASSERT_EQ(bal_of(&S, &F.carol).held, 1000);
    audit_ok(&S);

    /* frozen holds are not released, not even long after their date, by
     * the admin endpoint, the CLI or the server's own timer */
    clock_set(&S, h_now_ms() + 400 * DAY_MS);
    sleep_ms(300);
    ASSERT_EQ(release_holds(&S), 0);
    char out[1024];
    int rc = srv_cmd(&S, out, sizeof out, "holds release");
    if (rc != 0) FAIL_AT("ducatd holds release exited %d: %s", rc, out);
    ASSERT(strstr(out, "released 0 holds") != NULL);
    expect_hold(&F.bob, F.bob_hold, "frozen", F.case_id);
    expect_hold(&F.carol, F.carol_hold, "frozen", F.case_id);
    struct balance b = bal_of(&S, &F.bob), cb = bal_of(&S, &F.carol);
    ASSERT_EQ(b.available, 0);
    ASSERT_EQ(b.held, 1000);
    ASSERT_EQ(cb.available, 0);
    ASSERT_EQ(cb.held, 1000);
    srv_clock_real(&S);
    audit_ok(&S);
    return d;
}

static void resolve_twice_closed(const char *decision)
{
    char path[96];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", F.case_id);
    int st = adminf(&S, S.token, "POST", path, &j, "{\"decision\":\"%s\",\"reason\":\"again\"}",
                    decision);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_CASE_CLOSED");
    json_decref(j);
}

static void resolve_not_due(const char *decision)
{
    char path[96];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", F.case_id);
    int st = adminf(&S, S.token, "POST", path, &j, "{\"decision\":\"%s\",\"reason\":\"again\"}",
                    decision);
    ASSERT_API_ERR(st, j, 409, "DC_ERR_CASE_NOT_DUE");
    json_decref(j);
}

static json_t *case_get_json(long long id)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", id);
    return admin_get(&S, path);
}

static int transfer_to(const struct dev *from, long long to, long long amount, json_t **j)
{
    char rid[40];
    new_request_id(rid);
    return apif(&S, from, "POST", "/v1/transfers", j,
                "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%lld}", rid, to, amount);
}

/* A debtor sends nothing: transfer, withdrawal and payout are refused. */
static void debtor_refused(struct dev *d)
{
    json_t *j = NULL;
    int st = transfer_to(d, F.bob.account, 1, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_ACCOUNT_DEBTOR");
    json_decref(j);
    static struct coin w[NCOINS];
    size_t n = 0;
    st = withdraw(&S, d, 1, w, NCOINS, &n, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_ACCOUNT_DEBTOR");
    json_decref(j);
    char rid[40];
    new_request_id(rid);
    st = adminf(&S, S.token, "POST", "/v1/admin/payout", &j,
                "{\"request_id\":\"%s\",\"account\":%lld,\"amount\":1}", rid, d->account);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_ACCOUNT_DEBTOR");
    json_decref(j);
}

static void test_fork_open_reject(void)
{
    json_t *d = fork_open();
    json_decref(d);
    char path[96];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", F.case_id);
    /* unknown cases */
    int st = admin(&S, S.token, "GET", "/v1/admin/cases/999999", NULL, &j);
    ASSERT_API_ERR(st, j, 404, "DC_ERR_NO_CASE");
    json_decref(j);
    st = admin(&S, S.token, "POST", "/v1/admin/cases/999999/resolve",
               "{\"decision\":\"reject\",\"reason\":\"x\"}", &j);
    ASSERT_API_ERR(st, j, 404, "DC_ERR_NO_CASE");
    json_decref(j);
    /* a decision that is neither: refused, nothing changes */
    st = admin(&S, S.token, "POST", path, "{\"decision\":\"maybe\",\"reason\":\"x\"}", &j);
    ASSERT_API_ERR(st, j, 400, "DC_ERR_FIELD");
    json_decref(j);
    /* no token: refused */
    st = admin(&S, NULL, "POST", path, "{\"decision\":\"reject\",\"reason\":\"x\"}", &j);
    ASSERT_API_ERR(st, j, 401, "DC_ERR_ADMIN_AUTH");
    json_decref(j);
    expect_hold(&F.carol, F.carol_hold, "frozen", F.case_id);

    clock_set(&S, h_now_ms() + 60 * DAY_MS); /* the honest credits are due */
    st = admin(&S, S.token, "POST", path,
               "{\"decision\":\"reject\",\"reason\":\"second branch is the double spend\"}", &j);
    ASSERT_EQ(st, 200);
    /* decided, not settled: Alice still owes the 1000 */
    ASSERT_STR(json_str(j, "status"), "open");
    ASSERT_STR(json_str(j, "phase"), "decided");
    ASSERT_STR(json_str(j, "decision"), "reject");
    ASSERT_STR(json_str(j, "actor"), "admin"); /* the bootstrap token's operator */
    ASSERT_EQ(json_int(j, "carried"), 1000);
    ASSERT_EQ(json_int(j, "debt"), 1000);
    json_decref(j);

    /* Carol's provisional credit is reversed, Bob's is back on schedule */
    struct balance cb = bal_of(&S, &F.carol);
    ASSERT_EQ(cb.held, 0);
    ASSERT_EQ(cb.available, 0);
    ASSERT_EQ(cb.nholds, 0);
    expect_hold(&F.bob, F.bob_hold, "held", F.case_id);
    ASSERT_EQ(bal_of(&S, &F.bob).held, 1000);
    ASSERT_EQ(cases_count(&S, "?status=open"), 1);
    audit_ok(&S);

    /* nothing left to decide */
    resolve_not_due("honour");
    resolve_not_due("reject");
    audit_ok(&S);

    /* Bob's credit is released on its date; Carol has nothing yet */
    (void)release_holds(&S);
    struct balance b = bal_of(&S, &F.bob);
    ASSERT_EQ(b.available, 1000);
    ASSERT_EQ(b.held, 0);
    cb = bal_of(&S, &F.carol);
    ASSERT_EQ(cb.available, 0);
    ASSERT_EQ(cb.held, 0);
    audit_ok(&S);

    /* Alice, a debtor, sends nothing; what she receives repays Carol */
    debtor_refused(&F.alice);
    ASSERT_EQ(fund(&S, F.alice.account, 400), 201);
    ASSERT_EQ(bal_of(&S, &F.alice).available, 0);
    ASSERT_EQ(bal_of(&S, &F.carol).available, 400);
    debtor_refused(&F.alice);
    ASSERT_EQ(fund(&S, F.alice.account, 900), 201);
    ASSERT_EQ(bal_of(&S, &F.alice).available, 300);
    ASSERT_EQ(bal_of(&S, &F.carol).available, 1000);
    json_t *c = case_get_json(F.case_id);
    ASSERT_STR(json_str(c, "phase"), "settled");
    ASSERT_EQ(json_int(c, "recovered"), 1000);
    ASSERT_EQ(json_int(c, "repaid"), 1000);
    json_decref(c);
    resolve_twice_closed("honour");
    /* settled: she sends again */
    json_t *tj = NULL;
    ASSERT_EQ(transfer_to(&F.alice, F.bob.account, 300, &tj), 201);
    json_decref(tj);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_fork_open_honour(void)
{
    json_t *d = fork_open();
    json_decref(d);
    char path[96];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", F.case_id);
    clock_set(&S, h_now_ms() + 60 * DAY_MS); /* the honest credits are due */
    int st =
        admin(&S, S.token, "POST", path,
              "{\"decision\":\"honour\",\"reason\":\"both receivers acted in good faith\"}", &j);
    ASSERT_EQ(st, 200);
    ASSERT_STR(json_str(j, "status"), "open");
    ASSERT_STR(json_str(j, "phase"), "decided");
    ASSERT_STR(json_str(j, "decision"), "honour");
    ASSERT_EQ(json_int(j, "carried"), 1000);
    json_decref(j);

    /* both credits stand, back on their normal schedule */
    expect_hold(&F.bob, F.bob_hold, "held", F.case_id);
    expect_hold(&F.carol, F.carol_hold, "held", F.case_id);
    ASSERT_EQ(bal_of(&S, &F.bob).held, 1000);
    ASSERT_EQ(bal_of(&S, &F.carol).held, 1000);
    /* the operator carries the loss: the audit shows it and still balances */
    json_t *au = admin_get(&S, "/v1/admin/audit");
    ASSERT(json_is_true(json_get(au, "ok")));
    ASSERT(strstr(json_str(au, "report"), "fraud losses account:     -10.00 CNY\n") != NULL);
    json_decref(au);
    audit_ok(&S);

    resolve_not_due("reject");
    resolve_not_due("honour");

    (void)release_holds(&S);
    struct balance b = bal_of(&S, &F.bob), cb = bal_of(&S, &F.carol);
    ASSERT_EQ(b.available, 1000);
    ASSERT_EQ(b.held, 0);
    ASSERT_EQ(cb.available, 1000);
    ASSERT_EQ(cb.held, 0);
    audit_ok(&S);

    /* Alice's later inflow repays the loss account, then she sends again */
    debtor_refused(&F.alice);
    ASSERT_EQ(fund(&S, F.alice.account, 1000), 201);
    ASSERT_EQ(bal_of(&S, &F.alice).available, 0);
    au = admin_get(&S, "/v1/admin/audit");
    ASSERT(strstr(json_str(au, "report"), "fraud losses account:     0.00 CNY\n") != NULL);
    json_decref(au);
    json_t *c = case_get_json(F.case_id);
    ASSERT_STR(json_str(c, "phase"), "settled");
    ASSERT_EQ(json_int(c, "repaid"), 1000);
    json_decref(c);
    resolve_twice_closed("reject");
    ASSERT_EQ(fund(&S, F.alice.account, 5), 201);
    ASSERT_EQ(bal_of(&S, &F.alice).available, 5);
    json_t *tj = NULL;
    ASSERT_EQ(transfer_to(&F.alice, F.bob.account, 5, &tj), 201);
    json_decref(tj);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* A later descendant deposit of a state under an open case joins it frozen:
 * Alice pays Bob X, Bob pays Dave; Alice pays the same X to Carol; Carol
 * deposits first, then Dave. */
static void test_fork_descendant_frozen(void)
{
    static struct coin x[1], copy[1];
    struct dev alice, bob, carol, dave;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    dev_setup(&S, &dave, "Dave Liu", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, x, 1), 1);
    copy[0] = x[0];
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    dev_sync(&S, &dave);
    coin_transfer(&x[0], &alice, &bob);
    coin_transfer(&x[0], &bob, &dave);
    coin_deposit(&x[0], &dave, dave.account);
    coin_transfer(&copy[0], &alice, &carol);
    coin_deposit(&copy[0], &carol, carol.account);
    json_t *d = deposit_ok(&S, &carol, copy, 1);
    ASSERT(json_is_null(json_get(coin_out(d, 0), "case")));
    long long carol_hold = json_int(coin_out(d, 0), "hold");
    json_decref(d);
    d = deposit_ok(&S, &dave, x, 1);
    long long case_id = json_int(coin_out(d, 0), "case");
    long long dave_hold = json_int(coin_out(d, 0), "hold");
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "frozen");
    json_decref(d);
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
    json_t *c = admin_get(&S, path);
    /* Alice signed both transfers of the genesis state; Bob is innocent */
    ASSERT_STR(json_str(c, "culprit"), alice.pk_hex);
    ASSERT_EQ(json_int(c, "culprit_account"), alice.account);
    ASSERT_STR(json_str(c, "status"), "open");
    json_decref(c);
    expect_hold(&carol, carol_hold, "frozen", case_id);
    expect_hold(&dave, dave_hold, "frozen", case_id);
    ASSERT(keys_revoked(&S, alice.pk_hex));
    ASSERT(!keys_revoked(&S, bob.pk_hex));
    dev_sync(&S, &bob);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Bob, not Alice, double-spends: the fork is at Bob's state (one hop in) and
 * Bob is the culprit; Alice is not touched. */
static void test_fork_second_hop_culprit(void)
{
    static struct coin x[1], copy[1];
    struct dev alice, bob, dave, erin;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &dave, "Dave Liu", 0);
    dev_setup(&S, &erin, "Erin Zhou", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, x, 1), 1);
    dev_sync(&S, &bob);
    dev_sync(&S, &dave);
    dev_sync(&S, &erin);
    coin_transfer(&x[0], &alice, &bob);
    copy[0] = x[0];
    coin_transfer(&x[0], &bob, &dave);
    coin_transfer(&copy[0], &bob, &erin);
    coin_deposit(&x[0], &dave, dave.account);
    coin_deposit(&copy[0], &erin, erin.account);
    json_t *d = deposit_ok(&S, &dave, x, 1);
    long long dave_hold = json_int(coin_out(d, 0), "hold");
    json_decref(d);
    d = deposit_ok(&S, &erin, copy, 1);
    long long case_id = json_int(coin_out(d, 0), "case");
    long long erin_hold = json_int(coin_out(d, 0), "hold");
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "frozen"); /* Bob has nothing */
    json_decref(d);

    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
    json_t *c = admin_get(&S, path);
    ASSERT_STR(json_str(c, "culprit"), bob.pk_hex);
    ASSERT_EQ(json_int(c, "culprit_account"), bob.account);
    const char *evhex = json_str(c, "evidence");
    size_t evlen = strlen(evhex) / 2;
    uint8_t *ev = malloc(evlen);
    ASSERT(ev != NULL);
    ASSERT_OK(dc_hex_decode(ev, evlen, evhex, strlen(evhex)));
    uint8_t mpub[DC_PUBKEY_BYTES];
    master_pub(&S, mpub);
    struct dc_evidence_info info;
    enum dc_err ee = dc_evidence_verify(&info, mpub, ev, evlen);
    free(ev);
    json_decref(c);
    ASSERT_OK(ee);
    ASSERT_MEM(info.culprit, bob.pk, DC_PUBKEY_BYTES);
    ASSERT_EQ(info.fork_index, 1);

    expect_hold(&dave, dave_hold, "frozen", case_id);
    expect_hold(&erin, erin_hold, "frozen", case_id);
    ASSERT(keys_revoked(&S, bob.pk_hex));
    ASSERT(!keys_revoked(&S, alice.pk_hex));
    dev_sync(&S, &alice); /* Alice is not blocked */
    json_t *j = NULL;
    int st = api(&S, &bob, "POST", "/v1/sync", "{}", &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_OFFLINE_BLOCKED");
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Alice splits 1000 = 600 + 400, pays the 600 part to Bob, and pays the
 * unsplit 1000 (her backup) to Carol. Bob deposits, Carol deposits (fork at
 * the genesis state), then Dave deposits the 400 sibling he got from Alice:
 * it descends from the forked state, so it joins the case frozen. */
static void test_fork_split_sibling_joins_case(void)
{
    static struct coin x[1], copy[1], parts[2];
    struct dev alice, bob, carol, dave;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    dev_setup(&S, &dave, "Dave Liu", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, x, 1), 1);
    copy[0] = x[0];
    const int64_t vals[2] = {600, 400};
    coin_split(&x[0], &alice, vals, 2, parts);
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    dev_sync(&S, &dave);
    coin_transfer(&parts[0], &alice, &bob);
    coin_transfer(&parts[1], &alice, &dave);
    coin_transfer(&copy[0], &alice, &carol);
    coin_deposit(&parts[0], &bob, bob.account);
    coin_deposit(&parts[1], &dave, dave.account);
    coin_deposit(&copy[0], &carol, carol.account);

    json_t *d = deposit_ok(&S, &bob, &parts[0], 1);
    long long bob_hold = json_int(coin_out(d, 0), "hold");
    json_decref(d);
    d = deposit_ok(&S, &carol, copy, 1);
    long long case_id = json_int(coin_out(d, 0), "case");
    long long carol_hold = json_int(coin_out(d, 0), "hold");
    ASSERT(case_id > 0);
    json_decref(d);
    d = deposit_ok(&S, &dave, &parts[1], 1);
    ASSERT_EQ(json_int(d, "credited"), 400);
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "frozen");
    ASSERT_EQ(json_int(coin_out(d, 0), "case"), case_id);
    long long dave_hold = json_int(coin_out(d, 0), "hold");
    json_decref(d);

    expect_hold(&bob, bob_hold, "frozen", case_id);
    expect_hold(&carol, carol_hold, "frozen", case_id);
    expect_hold(&dave, dave_hold, "frozen", case_id);
    ASSERT_EQ(cases_count(&S, ""), 1);
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
    json_t *c = admin_get(&S, path);
    ASSERT_EQ(json_array_size(json_get(c, "holds")), 3);
    ASSERT_EQ(json_int(c, "value"), 1000);
    ASSERT_EQ(json_int(c, "exposure"), 1000); /* only Carol's credit is provisional */
    json_decref(c);
    audit_ok(&S);

    /* reject: Carol's credit goes back, the split branch is honoured */
    clock_set(&S, h_now_ms() + 60 * DAY_MS);
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", case_id);
    int st = admin(&S, S.token, "POST", path, "{\"decision\":\"reject\",\"reason\":\"r\"}", &j);
    ASSERT_EQ(st, 200);
    json_decref(j);
    ASSERT_EQ(bal_of(&S, &carol).held, 0);
    /* Bob's and Dave's credits are honoured: held again, or already
     * released, since their dates are past on this clock and the server's
     * release timer may run at any moment (the case's holds list keeps
     * every status) */
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
    c = admin_get(&S, path);
    json_t *hs = json_get(c, "holds");
    size_t seen = 0;
    for (size_t i = 0; i < json_array_size(hs); i++) {
        json_t *h = json_array_get(hs, i);
        long long id = json_int(h, "hold");
        const char *hst = json_str(h, "status");
        if (id == bob_hold || id == dave_hold) {
            if (strcmp(hst, "held") != 0 && strcmp(hst, "released") != 0) {
                FAIL_AT("hold %lld is %s after reject, expected held or released", id, hst);
            }
            seen++;
        } else if (id == carol_hold) {
            ASSERT_STR(hst, "reversed");
            seen++;
        }
    }
    ASSERT_EQ(seen, 3);
    json_decref(c);
    struct balance bb = bal_of(&S, &bob), db = bal_of(&S, &dave);
    ASSERT_EQ(bb.held + bb.available, 600);
    ASSERT_EQ(db.held + db.available, 400);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* A third branch of an auto-settled state reopens the case, and with the
 * culprit's balance covering it, settles it again. */
static void test_fork_third_branch(void)
{
    static struct coin x[1], c2[1], c3[1];
    struct dev alice, bob, carol, dave;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    dev_setup(&S, &dave, "Dave Liu", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, x, 1), 1);
    c2[0] = x[0];
    c3[0] = x[0];
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    dev_sync(&S, &dave);
    coin_transfer(&x[0], &alice, &bob);
    coin_transfer(&c2[0], &alice, &carol);
    coin_transfer(&c3[0], &alice, &dave);
    coin_deposit(&x[0], &bob, bob.account);
    coin_deposit(&c2[0], &carol, carol.account);
    coin_deposit(&c3[0], &dave, dave.account);
    json_decref(deposit_ok(&S, &bob, x, 1));
    json_t *d = deposit_ok(&S, &carol, c2, 1);
    long long case_id = json_int(coin_out(d, 0), "case");
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &alice).available, 3000);
    d = deposit_ok(&S, &dave, c3, 1);
    ASSERT_EQ(json_int(coin_out(d, 0), "case"), case_id);
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "held");
    json_decref(d);
    ASSERT_EQ(cases_count(&S, ""), 1);
    ASSERT_EQ(cases_count(&S, "?status=open"), 0);
    ASSERT_EQ(bal_of(&S, &alice).available, 2000);
    ASSERT_EQ(bal_of(&S, &bob).held, 1000);
    ASSERT_EQ(bal_of(&S, &carol).held, 1000);
    ASSERT_EQ(bal_of(&S, &dave).held, 1000);
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
    json_t *c = admin_get(&S, path);
    ASSERT_STR(json_str(c, "status"), "resolved");
    ASSERT_EQ(json_int(c, "liability"), 2000);
    ASSERT_EQ(json_int(c, "recovered"), 2000);
    ASSERT_EQ(json_array_size(json_get(c, "holds")), 3);
    json_decref(c);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Deposit-then-spend by the culprit herself: Alice pays X to Bob offline,
 * then deposits her backup of X online. Bob's later deposit finds the fork. */
static void test_fork_culprit_deposits_own_copy(void)
{
    static struct coin x[1], copy[1];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, x, 1), 1);
    copy[0] = x[0];
    dev_sync(&S, &bob);
    coin_transfer(&x[0], &alice, &bob);
    coin_deposit(&x[0], &bob, bob.account);
    coin_deposit(&copy[0], &alice, alice.account);
    json_t *d = deposit_ok(&S, &alice, copy, 1);
    long long alice_hold = json_int(coin_out(d, 0), "hold");
    ASSERT(json_is_null(json_get(coin_out(d, 0), "case")));
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &alice).held, 1000);
    d = deposit_ok(&S, &bob, x, 1);
    long long case_id = json_int(coin_out(d, 0), "case");
    long long bob_hold = json_int(coin_out(d, 0), "hold");
    ASSERT(case_id > 0);
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
    json_t *c = admin_get(&S, path);
    ASSERT_STR(json_str(c, "culprit"), alice.pk_hex);
    ASSERT_EQ(json_int(c, "culprit_account"), alice.account);
    /* her own credit of the forked coin is forfeited: that covers Bob */
    ASSERT_STR(json_str(c, "status"), "resolved");
    ASSERT_EQ(json_int(c, "recovered"), 1000);
    json_decref(c);
    ASSERT_STR(json_str(coin_out(d, 0), "status"), "held");
    json_decref(d);
    ASSERT_EQ(bal_of(&S, &alice).held, 0);
    ASSERT_EQ(bal_of(&S, &alice).available, 0);
    (void)alice_hold;
    expect_hold(&bob, bob_hold, "held", case_id);
    ASSERT(keys_revoked(&S, alice.pk_hex));
    audit_ok(&S);
    /* Bob gets his 1000 on its date; Alice's net gain is -1000 + 1000 = 0 */
    clock_set(&S, h_now_ms() + 60 * DAY_MS);
    (void)release_holds(&S);
    ASSERT_EQ(bal_of(&S, &bob).available, 1000);
    ASSERT_EQ(bal_of(&S, &alice).available + bal_of(&S, &alice).held, 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- Concurrency ----------------------------------------------------------------- */

#define NTHREADS 8

struct race {
    pthread_barrier_t *bar;
    const struct dev *dev;
    const struct coin *coin;
    long long amount; /* withdraw when > 0 */
    int status;
    char name[64];
};

static void *race_fn(void *arg)
{
    struct race *r = arg;
    json_t *j = NULL;
    pthread_barrier_wait(r->bar);
    if (r->amount > 0) {
        char rid[40];
        new_request_id(rid);
        r->status = apif(&S, r->dev, "POST", "/v1/withdrawals", &j,
                         "{\"request_id\":\"%s\",\"amount\":%lld}", rid, r->amount);
    } else {
        r->status = deposit(&S, r->dev, r->coin, 1, NULL, &j);
    }
    const char *n = json_is_object(j) ? json_string_value(json_object_get(j, "name")) : NULL;
    snprintf(r->name, sizeof r->name, "%s", n ? n : "");
    json_decref(j);
    return NULL;
}

static void run_race(struct race *r, size_t n)
{
    pthread_barrier_t bar;
    pthread_t t[NTHREADS];
    ASSERT(n <= NTHREADS);
    ASSERT(pthread_barrier_init(&bar, NULL, (unsigned)n) == 0);
    for (size_t i = 0; i < n; i++) {
        r[i].bar = &bar;
        ASSERT(pthread_create(&t[i], NULL, race_fn, &r[i]) == 0);
    }
    for (size_t i = 0; i < n; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
}

static void test_concurrent_same_coin_deposits(void)
{
    static struct coin c[1];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, c, 1), 1);
    dev_sync(&S, &bob);
    coin_transfer(&c[0], &alice, &bob);
    coin_deposit(&c[0], &bob, bob.account);
    struct race r[NTHREADS];
    memset(r, 0, sizeof r);
    for (size_t i = 0; i < NTHREADS; i++) {
        r[i].dev = &bob;
        r[i].coin = c;
    }
    run_race(r, NTHREADS);
    int ok = 0, spent = 0;
    for (size_t i = 0; i < NTHREADS; i++) {
        if (r[i].status == 201) ok++;
        if (r[i].status == 409 && strcmp(r[i].name, "DC_ERR_COIN_SPENT") == 0) spent++;
    }
    ASSERT_EQ(ok, 1);
    ASSERT_EQ(spent, NTHREADS - 1);
    struct balance b = bal_of(&S, &bob);
    ASSERT_EQ(b.held, 1000);
    ASSERT_EQ(b.nholds, 1);
    ASSERT_EQ(cases_count(&S, ""), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_concurrent_double_spend_deposits(void)
{
    static struct coin x[1], copy[1];
    struct dev alice, bob, carol;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, x, 1), 1);
    copy[0] = x[0];
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    coin_transfer(&x[0], &alice, &bob);
    coin_transfer(&copy[0], &alice, &carol);
    coin_deposit(&x[0], &bob, bob.account);
    coin_deposit(&copy[0], &carol, carol.account);
    struct race r[2];
    memset(r, 0, sizeof r);
    r[0].dev = &bob;
    r[0].coin = x;
    r[1].dev = &carol;
    r[1].coin = copy;
    run_race(r, 2);
    ASSERT_EQ(r[0].status, 201);
    ASSERT_EQ(r[1].status, 201);
    ASSERT_EQ(cases_count(&S, ""), 1);
    ASSERT_EQ(cases_count(&S, "?status=open"), 1);
    json_t *b = balance(&S, &bob), *cb = balance(&S, &carol);
    ASSERT_EQ(json_int(b, "held"), 1000);
    ASSERT_EQ(json_int(cb, "held"), 1000);
    ASSERT_STR(json_str(json_array_get(json_get(b, "holds"), 0), "status"), "frozen");
    ASSERT_STR(json_str(json_array_get(json_get(cb, "holds"), 0), "status"), "frozen");
    json_decref(b);
    json_decref(cb);
    ASSERT(keys_revoked(&S, alice.pk_hex));
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_concurrent_withdrawals_offline_limit(void)
{
    struct dev alice;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 1000000);
    struct race r[NTHREADS];
    memset(r, 0, sizeof r);
    for (size_t i = 0; i < NTHREADS; i++) {
        r[i].dev = &alice;
        r[i].amount = 30000; /* 6 fit under 200000, 8 do not */
    }
    run_race(r, NTHREADS);
    int ok = 0, limit = 0;
    for (size_t i = 0; i < NTHREADS; i++) {
        if (r[i].status == 201) ok++;
        if (r[i].status == 400 && strcmp(r[i].name, "DC_ERR_OFFLINE_LIMIT") == 0) limit++;
    }
    ASSERT_EQ(ok, 6);
    ASSERT_EQ(limit, NTHREADS - 6);
    struct balance b = bal_of(&S, &alice);
    ASSERT_EQ(b.outstanding, 180000);
    ASSERT_EQ(b.available, 1000000 - 180000);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Group commit: failing deposits in the same batch as good ones do not take
 * the good ones down (nor leak their own writes). */
static void test_concurrent_mixed_deposits(void)
{
    static struct coin c[NTHREADS];
    struct dev alice, bob;
    start_server(&S);
    dev_setup(&S, &alice, "Alice Zhang", 100000);
    dev_setup(&S, &bob, "Bob Li", 0);
    for (size_t i = 0; i < NTHREADS; i++) ASSERT_EQ(withdraw_ok(&S, &alice, 100, &c[i], 1), 1);
    dev_sync(&S, &bob);
    for (size_t i = 0; i < NTHREADS; i++) {
        coin_transfer(&c[i], &alice, &bob);
        /* odd ones name another account: refused inside the write job */
        coin_deposit(&c[i], &bob, i % 2 ? alice.account : bob.account);
    }
    struct race r[NTHREADS];
    memset(r, 0, sizeof r);
    for (size_t i = 0; i < NTHREADS; i++) {
        r[i].dev = &bob;
        r[i].coin = &c[i];
    }
    run_race(r, NTHREADS);
    for (size_t i = 0; i < NTHREADS; i++) {
        if (i % 2) {
            ASSERT_EQ(r[i].status, 403);
            ASSERT_STR(r[i].name, "DC_ERR_DEPOSIT_ACCOUNT");
        } else {
            ASSERT_EQ(r[i].status, 201);
        }
    }
    struct balance b = bal_of(&S, &bob);
    ASSERT_EQ(b.held, 100 * NTHREADS / 2);
    ASSERT_EQ(b.nholds, NTHREADS / 2);
    ASSERT_EQ(bal_of(&S, &alice).outstanding, 100 * NTHREADS / 2);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 6. Hold release across the holiday calendar ------------------------------------ */

static void test_hold_release_calendar(void)
{
    static struct coin c[1];
    struct dev alice, bob;
    /* 2026-09-28T02:00:00Z = 10:00 local (+08:00), a Monday. 15 working days
     * (no 10-01..10-07 National Day, 10-10 a make-up Saturday) end on Friday
     * 10-23: release at local midnight 10-24 = 2026-10-23T16:00:00Z. */
    const uint64_t t0 = 1790560800000ull;
    const uint64_t release = 1792771200000ull;
    struct dev carol_g;
    setup_server(&S);
    clock_set(&S, t0);
    /* a signing key whose window covers the business date (the one `init`
     * made starts at the wall clock) */
    char out[1024];
    int rc = srv_cmd(&S, out, sizeof out, "keys rotate");
    if (rc != 0) FAIL_AT("ducatd keys rotate exited %d: %s", rc, out);
    srv_start(&S);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    ASSERT_EQ(withdraw_ok(&S, &alice, 1000, c, 1), 1);
    ASSERT_EQ(genesis_of(&c[0])->issued_at, t0);
    dev_sync(&S, &bob);
    coin_transfer(&c[0], &alice, &bob);
    coin_deposit(&c[0], &bob, bob.account);
    json_t *d = deposit_ok(&S, &bob, c, 1);
    json_t *co = coin_out(d, 0);
    ASSERT_EQ(json_int(co, "release_at"), release);
    ASSERT_STR(json_str(co, "status"), "held");
    long long hold = json_int(co, "hold");
    json_decref(d);
    json_t *b = NULL;
    json_t *h = hold_of(&bob, hold, &b);
    ASSERT_EQ(json_int(h, "release_at"), release);
    json_decref(b);
    audit_ok(&S);

    /* the deposit date is the LOCAL date (+08:00), whatever kind of day */
    {
        static struct coin cc[3];
        struct dev carol;
        dev_setup(&S, &carol, "Carol Wang", 0);
        dev_sync(&S, &carol);
        clock_set(&S, t0);
        for (size_t i = 0; i < 3; i++) ASSERT_EQ(withdraw_ok(&S, &alice, 200, &cc[i], 1), 1);
        static const struct {
            uint64_t at, release;
        } when[3] = {
            /* 2026-09-28T15:59:59.999Z = 23:59:59.999 local on Monday 09-28 */
            {1790611199999ull, 1792771200000ull},
            /* 2026-09-28T16:00:00Z = 00:00 local on Tuesday 09-29: the 15th
             * working day is Monday 10-26, release 2026-10-26T16:00:00Z */
            {1790611200000ull, 1793030400000ull},
            /* 2026-10-01T02:00:00Z, a holiday: counting starts after it, the
             * 15th working day is Tuesday 10-27, release 2026-10-27T16:00:00Z */
            {1790820000000ull, 1793116800000ull},
        };
        for (size_t i = 0; i < 3; i++) {
            coin_transfer(&cc[i], &alice, &carol);
            coin_deposit(&cc[i], &carol, carol.account);
            clock_set(&S, when[i].at);
            json_t *dd = deposit_ok(&S, &carol, &cc[i], 1);
            long long got_release = json_int(coin_out(dd, 0), "release_at");
            json_decref(dd);
            if (got_release != (long long)when[i].release) {
                printf("# deposit at %llu: release_at %lld, expected %llu\n",
                       (unsigned long long)when[i].at, got_release,
                       (unsigned long long)when[i].release);
            }
            ASSERT_EQ(got_release, when[i].release);
        }
        ASSERT_EQ(bal_of(&S, &carol).held, 600);
        carol_g = carol;
    }
    audit_ok(&S);

    /* one second before: nothing, even after the server's own timer ran */
    clock_set(&S, release - 1000);
    sleep_ms(300);
    ASSERT_EQ(release_holds(&S), 0);
    struct balance bb = bal_of(&S, &bob);
    ASSERT_EQ(bb.held, 1000);
    ASSERT_EQ(bb.available, 0);
    /* the last millisecond before */
    clock_set(&S, release - 1);
    ASSERT_EQ(release_holds(&S), 0);
    rc = srv_cmd(&S, out, sizeof out, "holds release");
    if (rc != 0) FAIL_AT("ducatd holds release exited %d: %s", rc, out);
    ASSERT(strstr(out, "released 0 holds") != NULL);
    bb = bal_of(&S, &bob);
    ASSERT_EQ(bb.held, 1000);
    ASSERT_EQ(bb.available, 0);
    expect_hold(&bob, hold, "held", 0);

    /* at release_at: held -> available (by this call or the timer just before it) */
    clock_set(&S, release);
    long long r = release_holds(&S);
    ASSERT(r >= 0 && r <= 2); /* Bob's and Carol's first */
    bb = bal_of(&S, &bob);
    ASSERT_EQ(bb.held, 0);
    ASSERT_EQ(bb.available, 1000);
    ASSERT_EQ(bb.nholds, 0);
    ASSERT_EQ(release_holds(&S), 0); /* once only */
    ASSERT_EQ(bal_of(&S, &bob).available, 1000);
    struct balance cb = bal_of(&S, &carol_g);
    ASSERT_EQ(cb.held, 400);
    ASSERT_EQ(cb.available, 200);
    /* Carol's others on their own dates */
    clock_set(&S, 1793030400000ull - 1);
    ASSERT_EQ(release_holds(&S), 0);
    ASSERT_EQ(bal_of(&S, &carol_g).held, 400);
    clock_set(&S, 1793030400000ull);
    (void)release_holds(&S);
    cb = bal_of(&S, &carol_g);
    ASSERT_EQ(cb.held, 200);
    ASSERT_EQ(cb.available, 400);
    clock_set(&S, 1793116800000ull - 1);
    ASSERT_EQ(release_holds(&S), 0);
    ASSERT_EQ(bal_of(&S, &carol_g).held, 200);
    clock_set(&S, 1793116800000ull);
    (void)release_holds(&S);
    cb = bal_of(&S, &carol_g);
    ASSERT_EQ(cb.held, 0);
    ASSERT_EQ(cb.available, 600);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 7. Expired coins -------------------------------------------------------------- */

static void test_expired_coin_grace(void)
{
    static struct coin c[8], one[1];
    struct dev alice, bob;
    start_server(&S);
    const uint64_t t0 = h_now_ms() / 1000 * 1000;
    clock_set(&S, t0);
    dev_setup(&S, &alice, "Alice Zhang", 5000);
    dev_setup(&S, &bob, "Bob Li", 0);
    /* five coins of 100 */
    for (size_t i = 0; i < 5; i++) ASSERT_EQ(withdraw_ok(&S, &alice, 100, &c[i], 1), 1);
    const uint64_t exp = t0 + 10 * DAY_MS, grace_end = exp + 3 * DAY_MS;
    dev_sync(&S, &bob);
    for (size_t i = 0; i < 5; i++) {
        ASSERT_EQ(genesis_of(&c[i])->expires_at, exp);
        coin_transfer(&c[i], &alice, &bob);
        coin_deposit(&c[i], &bob, bob.account);
    }

    struct {
        uint64_t at;
        int ok, flagged;
    } steps[] = {
        {exp - 1, 1, 0},       /* the last moment of its life */
        {exp, 1, 1},           /* expired, within the grace */
        {exp + DAY_MS, 1, 1},  /* a day into the grace */
        {grace_end - 1, 1, 1}, /* the last moment of the grace */
        {grace_end, 0, 0},     /* past the grace */
    };
    long long credited = 0;
    for (size_t i = 0; i < 5; i++) {
        clock_set(&S, steps[i].at);
        one[0] = c[i];
        json_t *j = NULL;
        int st = deposit(&S, &bob, one, 1, NULL, &j);
        if (steps[i].ok) {
            if (st != 201) {
                char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
                printf("# step %zu (expiry %+lld ms): %s\n", i,
                       (long long)steps[i].at - (long long)exp, dump ? dump : "");
                free(dump);
            }
            ASSERT_EQ(st, 201);
            json_t *co = coin_out(j, 0);
            ASSERT_EQ(json_int(co, "amount"), 100);
            if (steps[i].flagged) {
                ASSERT(json_is_true(json_get(co, "flagged")));
            } else {
                ASSERT(json_is_false(json_get(co, "flagged")));
            }
            ASSERT_STR(json_str(co, "status"), "held");
            credited += 100;
        } else {
            ASSERT_API_ERR(st, j, 403, "DC_ERR_COIN_EXPIRED");
        }
        json_decref(j);
        struct balance b = bal_of(&S, &bob);
        ASSERT_EQ(b.held, credited);
        ASSERT_EQ(b.available, 0);
    }
    /* a coin past the grace is refused for good, not only once */
    clock_set(&S, grace_end + 30 * DAY_MS);
    one[0] = c[4];
    json_t *j = NULL;
    int st = deposit(&S, &bob, one, 1, NULL, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_COIN_EXPIRED");
    json_decref(j);
    /* but a deposit that was settled before expiry, whose answer was lost,
     * gets its stored answer on a retry long after: never a refusal */
    clock_set(&S, exp - DAY_MS);
    static struct coin late[1];
    ASSERT_EQ(withdraw_ok(&S, &alice, 100, &late[0], 1), 1);
    coin_transfer(&late[0], &alice, &bob);
    coin_deposit(&late[0], &bob, bob.account);
    st = deposit(&S, &bob, late, 1, "retry-after-expiry", &j);
    ASSERT_EQ(st, 201);
    long long dep_id = json_int(j, "deposit_id");
    json_decref(j);
    credited += 100;
    clock_set(&S, grace_end + 60 * DAY_MS);
    st = deposit(&S, &bob, late, 1, "retry-after-expiry", &j);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(json_int(j, "deposit_id"), dep_id);
    json_decref(j);
    ASSERT_EQ(bal_of(&S, &bob).held + bal_of(&S, &bob).available, credited);
    ASSERT_EQ(cases_count(&S, ""), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

TESTS(T(test_withdraw_fewest_coins), T(test_withdraw_retry_same_coins),
      T(test_withdraw_insufficient_funds), T(test_withdraw_offline_limit),
      T(test_withdraw_unverified), T(test_withdraw_outside_key_window), T(test_deposit_held_credit),
      T(test_deposit_wrong_account), T(test_deposit_without_deposit_record),
      T(test_deposit_forged_or_altered), T(test_deposit_malformed),
      T(test_deposit_idempotent_retry), T(test_deposit_failure_rolls_back), T(test_double_deposit),
      T(test_split_siblings_two_depositors), T(test_fork_auto_resolved),
      T(test_fork_auto_resolved_exact_cover), T(test_fork_open_reject), T(test_fork_open_honour),
      T(test_fork_descendant_frozen), T(test_fork_second_hop_culprit),
      T(test_fork_split_sibling_joins_case), T(test_fork_third_branch),
      T(test_fork_culprit_deposits_own_copy), T(test_concurrent_same_coin_deposits),
      T(test_concurrent_double_spend_deposits), T(test_concurrent_withdrawals_offline_limit),
      T(test_concurrent_mixed_deposits), T(test_hold_release_calendar), T(test_expired_coin_grace))
