/*
 * test_api_cases.c - the double spender pays, against a real ducatd.
 *
 * Each scenario double-spends a coin offline (a wallet backup restored and
 * spent again), deposits the branches in some order and then follows the
 * money: where the culprit's liability is recovered from (her own credits
 * of the forked coin, her available balance, her held credits when they
 * release, later inflows), when the case settles by itself, what an
 * operator decides for a shortfall once an honest credit is due, and how
 * later recoveries repay whoever carried it. After each: audit OK, and the
 * culprit's net gain from the fork <= 0 whenever her account held enough.
 *
 * Net gain: what the culprit obtained offline (the goods she was paid for,
 * i.e. the value of every branch she signed) minus what left her account
 * (withdrawn and recovered). With one coin of V paid twice, she gained 2V
 * of goods; she must have lost 2V of money.
 *
 * Business time is the instance's [dev] clock_file (as in test_api_coins).
 */
#include "test.h"
/* harness.h after test.h (it uses test.h's macros) */
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DAY_MS 86400000ull

static struct srv S;

/* ---- helpers ---------------------------------------------------------------- */

/* A fresh instance; with_clock wires [dev] clock_file (absent: wall clock). */
static void start(int with_clock)
{
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    if (with_clock) srv_dev_clock(&S);
    srv_start(&S);
}

/* GET path as the admin on S (the harness's admin_get_on). */
#define admin_get(path) admin_get_on(&S, (path))

static json_t *case_json(long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", id);
    return admin_get(path);
}

#define bal(d) balance_of(&S, (d))

static long long total(const struct dev *d)
{
    struct balance b = bal(d);
    return b.available + b.held;
}

static void audit_api_ok(void)
{
    json_t *a = admin_get("/v1/admin/audit");
    if (!json_is_true(json_get(a, "ok"))) {
        printf("# %s", json_str(a, "report"));
        json_decref(a);
        FAIL_AT("audit failed");
    }
    json_decref(a);
}

static long long release(void)
{
    return admin_release(&S);
}

static void withdraw_one(struct dev *d, long long amount, struct coin *c)
{
    size_t n = 0;
    json_t *j = NULL;
    int st = withdraw(&S, d, amount, c, 1, &n, &j);
    json_decref(j);
    if (st != 201 || n != 1) FAIL_AT("withdraw %lld: %d, %zu coins", amount, st, n);
}

/* Deposits one coin (its deposit record added for `d`); returns the case
 * (0 = none) and the hold id. */
static long long dep(struct dev *d, struct coin *c, long long *hold)
{
    coin_deposit(c, d, d->account);
    json_t *j = NULL;
    int st = deposit(&S, d, c, 1, NULL, &j);
    if (st != 201) {
        json_decref(j);
        FAIL_AT("deposit answered %d", st);
    }
    json_t *co = json_array_get(json_get(j, "coins"), 0);
    json_t *cv = json_object_get(co, "case");
    long long case_id = json_is_integer(cv) ? (long long)json_integer_value(cv) : 0;
    if (hold) *hold = json_int(co, "hold");
    json_decref(j);
    return case_id;
}

static int transfer(const struct dev *from, long long to, long long amount)
{
    char rid[40];
    new_request_id(rid);
    json_t *j = NULL;
    int st = apif(&S, from, "POST", "/v1/transfers", &j,
                  "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%lld}", rid, to, amount);
    json_decref(j);
    return st;
}

static int resolve(long long case_id, const char *decision)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", case_id);
    json_t *j = NULL;
    int st = adminf(&S, S.token, "POST", path, &j, "{\"decision\":\"%s\",\"reason\":\"test\"}",
                    decision);
    json_decref(j);
    return st;
}

static void expect_case(long long id, const char *phase, long long liability, long long recovered)
{
    json_t *c = case_json(id);
    int ok = strcmp(json_str(c, "phase"), phase) == 0 && json_int(c, "liability") == liability &&
             json_int(c, "recovered") == recovered && json_int(c, "debt") == liability - recovered;
    if (!ok) {
        printf("# case %lld: phase %s liability %lld recovered %lld; expected %s %lld %lld\n", id,
               json_str(c, "phase"), json_int(c, "liability"), json_int(c, "recovered"), phase,
               liability, recovered);
    }
    json_decref(c);
    ASSERT(ok);
}

static int is_debtor(const struct dev *d)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld", d->account);
    json_t *a = admin_get(path);
    int r = json_is_true(json_get(a, "debtor"));
    json_decref(a);
    return r;
}

/* The payee side of one offline payment of the whole coin. */
static void pay(struct coin *c, const struct dev *from, struct dev *to)
{
    coin_transfer(c, from, to);
}

/* One of a scenario's people: registered under name, funded with funds
 * (0: nothing), synced when it receives offline (a device certificate). */
struct person {
    struct dev *d;
    const char *name;
    long long funds;
    int receives;
};

/* Sets up the people of p (ended by a NULL d) in their order, so their
 * account ids follow it, then syncs those that receive, in the same order. */
static void people(const struct person *p)
{
    for (const struct person *q = p; q->d; q++) dev_setup(&S, q->d, q->name, q->funds);
    for (const struct person *q = p; q->d; q++) {
        if (q->receives) dev_sync(&S, q->d);
    }
}

/* The culprit withdraws one coin of amount and pays it, whole, twice: the
 * coin in *a to to_a, its backup copy in *b to to_b (neither deposited). */
static void double_spend(struct dev *culprit, long long amount, struct coin *a, struct dev *to_a,
                         struct coin *b, struct dev *to_b)
{
    withdraw_one(culprit, amount, a);
    *b = *a;
    pay(a, culprit, to_a);
    pay(b, culprit, to_b);
}

/* Business time 60 days on (every hold of the scenario due), and the
 * release run. */
static void release_in_60_days(void)
{
    srv_clock_set(&S, h_now_ms() + 60 * DAY_MS);
    (void)release();
}

/* ---- scenarios ---------------------------------------------------------------- */

/* Bob deposits first, then the culprit deposits her own copy: her
 * provisional credit is forfeited and covers nothing more than itself. */
static void test_own_copy_second(void)
{
    static struct coin x[1], copy[1];
    struct dev alice, bob;
    start(1);
    people((struct person[]){{&alice, "Alice Zhang", 1000, 0}, {&bob, "Bob Li", 0, 1}, {0}});
    withdraw_one(&alice, 1000, x);
    copy[0] = x[0];
    pay(&x[0], &alice, &bob);
    ASSERT_EQ(dep(&bob, x, NULL), 0);
    long long case_id = dep(&alice, copy, NULL);
    ASSERT(case_id > 0);
    expect_case(case_id, "settled", 1000, 1000);
    ASSERT_EQ(total(&alice), 0); /* goods from Bob (1000) for 1000 withdrawn: gain 0 */
    /* her history names the case of the forfeit */
    json_t *hj = NULL;
    ASSERT_EQ(api(&S, &alice, "GET", "/v1/history", NULL, &hj), 200);
    json_t *es = json_get(hj, "entries");
    char want[32];
    snprintf(want, sizeof want, "c:%lld", case_id);
    int named = 0;
    for (size_t i = 0; i < json_array_size(es); i++) {
        json_t *e = json_array_get(es, i);
        if (strcmp(json_str(e, "kind"), "forfeit") == 0 && strcmp(json_str(e, "ref"), want) == 0 &&
            json_int(e, "amount") == -1000) {
            named = 1;
        }
    }
    json_decref(hj);
    ASSERT(named);
    ASSERT_EQ(bal(&bob).held, 1000);
    ASSERT(!is_debtor(&alice));
    audit_api_ok();
    release_in_60_days();
    ASSERT_EQ(bal(&bob).available, 1000);
    ASSERT_EQ(total(&alice), 0);
    audit_api_ok();
    srv_cleanup(&S);
}

/* The culprit deposits her coin first, whole, then splits her backup copy
 * and pays a part of it to Bob: the liability (Bob's 300) is forfeited
 * from her own 1000 credit, which keeps 700. The audit must count what a
 * hold still holds, not its original amount (it reported a false
 * discrepancy for such a partly forfeited credit). */
static void test_own_copy_first_partly_forfeited(void)
{
    static struct coin x[1], copy[1], parts[2];
    struct dev alice, bob;
    start(1);
    people((struct person[]){{&alice, "Alice Zhang", 1000, 0}, {&bob, "Bob Li", 0, 1}, {0}});
    withdraw_one(&alice, 1000, x);
    copy[0] = x[0];
    long long own_hold = 0;
    ASSERT_EQ(dep(&alice, x, &own_hold), 0);
    const int64_t values[2] = {300, 700};
    coin_split(&copy[0], &alice, values, 2, parts);
    pay(&parts[0], &alice, &bob);
    long long case_id = dep(&bob, &parts[0], NULL);
    ASSERT(case_id > 0);
    expect_case(case_id, "settled", 300, 300);
    json_t *h = NULL;
    ASSERT_EQ(api(&S, &alice, "GET", "/v1/balance", NULL, &h), 200);
    json_t *hs = json_get(h, "holds");
    int seen = 0;
    for (size_t i = 0; i < json_array_size(hs); i++) {
        json_t *o = json_array_get(hs, i);
        if (json_int(o, "id") != own_hold) continue;
        seen = 1;
        ASSERT_EQ(json_int(o, "amount"), 700); /* what it still holds */
        ASSERT_EQ(json_int(o, "taken"), 300);
        ASSERT_STR(json_str(o, "status"), "held");
    }
    json_decref(h);
    ASSERT(seen);
    ASSERT_EQ(total(&alice), 700); /* goods 300 for 1000 withdrawn, 700 back: gain 0 */
    audit_api_ok();
    audit_ok(&S);
    release_in_60_days();
    ASSERT_EQ(bal(&alice).available, 700);
    ASSERT_EQ(bal(&bob).available, 300);
    audit_api_ok();
    srv_cleanup(&S);
}

/* The culprit has 0 available but a held credit: the case waits, the
 * honest credits stay frozen, and her credit pays when it releases. */
static void test_money_held(void)
{
    static struct coin x[1], copy[1], y[1];
    struct dev alice, bob, carol, dave;
    start(1);
    uint64_t t0 = h_now_ms();
    srv_clock_set(&S, t0);
    people((struct person[]){{&alice, "Alice Zhang", 1000, 1},
                             {&bob, "Bob Li", 0, 1},
                             {&carol, "Carol Wang", 0, 1},
                             {&dave, "Dave Liu", 500, 0},
                             {0}});
    /* Dave pays Alice 500 offline; she deposits it: held */
    withdraw_one(&dave, 500, y);
    pay(&y[0], &dave, &alice);
    ASSERT_EQ(dep(&alice, y, NULL), 0);
    ASSERT_EQ(bal(&alice).held, 500);
    /* a day later Alice double-spends her 1000 */
    srv_clock_set(&S, t0 + DAY_MS);
    double_spend(&alice, 1000, x, &bob, copy, &carol);
    long long bob_hold, carol_hold;
    ASSERT_EQ(dep(&bob, x, &bob_hold), 0);
    long long case_id = dep(&carol, copy, &carol_hold);
    ASSERT(case_id > 0);
    expect_case(case_id, "recovering", 1000, 0);
    ASSERT(is_debtor(&alice));
    ASSERT_EQ(transfer(&alice, bob.account, 1), 403); /* she sends nothing */
    /* no decision before an honest credit is due */
    ASSERT_EQ(resolve(case_id, "honour"), 409);
    audit_api_ok();
    /* her 500 releases first (deposited a day earlier): taken at release */
    srv_clock_set(&S, t0 + 22 * DAY_MS);
    (void)release();
    expect_case(case_id, "recovering", 1000, 500);
    ASSERT_EQ(total(&alice), 0);
    ASSERT_EQ(bal(&carol).held, 1000);
    ASSERT_EQ(bal(&carol).available, 0);
    /* the rest arrives as cash-in: it pays the debt first */
    ASSERT_EQ(fund(&S, alice.account, 700), 201);
    expect_case(case_id, "settled", 1000, 1000);
    ASSERT_EQ(bal(&alice).available, 200);
    ASSERT(!is_debtor(&alice));
    srv_clock_set(&S, t0 + 60 * DAY_MS);
    (void)release();
    ASSERT_EQ(bal(&bob).available, 1000);
    ASSERT_EQ(bal(&carol).available, 1000);
    /* Alice: goods 2000 and 500 from Dave; money in 1000 + 700 + 500, left
     * 200: gain = 2000 + 500 - (1000 + 700 + 500 - 200) - 500 = 0 */
    ASSERT_EQ(total(&alice), 200);
    audit_api_ok();
    srv_cleanup(&S);
}

/* What another user transfers to a debtor pays her debt first. */
static void test_money_arrives_by_transfer(void)
{
    static struct coin x[1], copy[1];
    struct dev alice, bob, carol, erin;
    start(1);
    people((struct person[]){{&alice, "Alice Zhang", 1000, 0},
                             {&bob, "Bob Li", 0, 1},
                             {&carol, "Carol Wang", 0, 1},
                             {&erin, "Erin Zhou", 5000, 0},
                             {0}});
    double_spend(&alice, 1000, x, &bob, copy, &carol);
    ASSERT_EQ(dep(&bob, x, NULL), 0);
    long long case_id = dep(&carol, copy, NULL);
    expect_case(case_id, "recovering", 1000, 0);
    ASSERT_EQ(transfer(&erin, alice.account, 600), 201);
    expect_case(case_id, "recovering", 1000, 600);
    ASSERT_EQ(bal(&alice).available, 0);
    ASSERT_EQ(transfer(&erin, alice.account, 900), 201);
    expect_case(case_id, "settled", 1000, 1000);
    ASSERT_EQ(bal(&alice).available, 500);
    ASSERT_EQ(transfer(&alice, erin.account, 500), 201); /* settled: she sends again */
    audit_api_ok();
    srv_cleanup(&S);
}

/* The money never arrives: honour once Carol's credit is due; the loss
 * account carries 1000 and the audit shows the debt. */
static void test_money_never_arrives(void)
{
    static struct coin x[1], copy[1];
    struct dev alice, bob, carol;
    start(1);
    people((struct person[]){{&alice, "Alice Zhang", 1000, 0},
                             {&bob, "Bob Li", 0, 1},
                             {&carol, "Carol Wang", 0, 1},
                             {0}});
    double_spend(&alice, 1000, x, &bob, copy, &carol);
    ASSERT_EQ(dep(&bob, x, NULL), 0);
    long long case_id = dep(&carol, copy, NULL);
    srv_clock_set(&S, h_now_ms() + 60 * DAY_MS);
    ASSERT_EQ(resolve(case_id, "honour"), 200);
    ASSERT_EQ(resolve(case_id, "reject"), 409); /* nothing left to decide */
    (void)release();
    ASSERT_EQ(bal(&bob).available, 1000);
    ASSERT_EQ(bal(&carol).available, 1000);
    expect_case(case_id, "decided", 1000, 0);
    ASSERT(is_debtor(&alice));
    json_t *a = admin_get("/v1/admin/audit");
    const char *rep = json_str(a, "report");
    ASSERT(strstr(rep, "owed by double spenders:  10.00 CNY\n") != NULL);
    ASSERT(strstr(rep, "fraud losses account:     -10.00 CNY\n") != NULL);
    json_decref(a);
    audit_api_ok();
    srv_cleanup(&S);
}

/* Two forks by one culprit: the older case is paid first. */
static void test_two_forks(void)
{
    static struct coin x[1], xc[1], y[1], yc[1];
    struct dev alice, bob, carol;
    start(1);
    people((struct person[]){{&alice, "Alice Zhang", 3500, 0},
                             {&bob, "Bob Li", 0, 1},
                             {&carol, "Carol Wang", 0, 1},
                             {0}});
    withdraw_one(&alice, 1000, x);
    withdraw_one(&alice, 1000, y);
    xc[0] = x[0];
    yc[0] = y[0];
    pay(&x[0], &alice, &bob);
    pay(&xc[0], &alice, &carol);
    pay(&y[0], &alice, &carol);
    pay(&yc[0], &alice, &bob);
    ASSERT_EQ(dep(&bob, x, NULL), 0);
    ASSERT_EQ(dep(&carol, y, NULL), 0);
    long long c1 = dep(&carol, xc, NULL);
    long long c2 = dep(&bob, yc, NULL);
    ASSERT(c1 > 0 && c2 > 0 && c1 != c2);
    expect_case(c1, "settled", 1000, 1000);
    expect_case(c2, "recovering", 1000, 500);
    ASSERT(is_debtor(&alice));
    ASSERT_EQ(fund(&S, alice.account, 500), 201);
    expect_case(c2, "settled", 1000, 1000);
    ASSERT(!is_debtor(&alice));
    /* goods 4000; money in 4000, left 0: gain 0 */
    ASSERT_EQ(total(&alice), 0);
    ASSERT_EQ(bal(&bob).held, 2000);
    ASSERT_EQ(bal(&carol).held, 2000);
    audit_api_ok();
    srv_cleanup(&S);
}

/* A fork of a coin that came from another culprit's fork: Alice pays X to
 * Bob and to Carol; Carol pays her X to Dave and to Erin. Two cases, two
 * culprits, each pays her own. */
static void test_fork_of_forked_coin(void)
{
    static struct coin x[1], xc[1], xcc[1];
    struct dev alice, bob, carol, dave, erin;
    start(1);
    people((struct person[]){{&alice, "Alice Zhang", 2000, 0},
                             {&bob, "Bob Li", 0, 1},
                             {&carol, "Carol Wang", 1000, 1},
                             {&dave, "Dave Liu", 0, 1},
                             {&erin, "Erin Zhou", 0, 1},
                             {0}});
    double_spend(&alice, 1000, x, &bob, xc, &carol);
    xcc[0] = xc[0];
    pay(&xc[0], &carol, &dave);
    pay(&xcc[0], &carol, &erin);
    ASSERT_EQ(dep(&bob, x, NULL), 0);
    long long c1 = dep(&dave, xc, NULL);
    long long c2 = dep(&erin, xcc, NULL);
    ASSERT(c1 > 0 && c2 > 0 && c1 != c2);
    json_t *j1 = case_json(c1), *j2 = case_json(c2);
    ASSERT_EQ(json_int(j1, "culprit_account"), alice.account);
    ASSERT_EQ(json_int(j2, "culprit_account"), carol.account);
    json_decref(j1);
    json_decref(j2);
    expect_case(c1, "settled", 1000, 1000);
    expect_case(c2, "settled", 1000, 1000);
    ASSERT_EQ(total(&alice), 0); /* goods 2000, money 2000 */
    ASSERT_EQ(total(&carol), 0); /* goods 2000 - 1000 given to Alice, money 1000 */
    release_in_60_days();
    ASSERT_EQ(bal(&bob).available, 1000);
    ASSERT_EQ(bal(&dave).available, 1000);
    ASSERT_EQ(bal(&erin).available, 1000);
    audit_api_ok();
    srv_cleanup(&S);
}

/* A culprit who is herself the honest victim of another case: her frozen
 * credit there is not taken for her own case until it is released. */
static void test_culprit_is_victim(void)
{
    static struct coin x[1], xc[1], y[1], yc[1];
    struct dev alice, bob, carol, dave;
    start(1);
    people((struct person[]){{&alice, "Alice Zhang", 1000, 0},
                             {&bob, "Bob Li", 0, 1},
                             {&carol, "Carol Wang", 500, 1},
                             {&dave, "Dave Liu", 0, 1},
                             {0}});
    /* case 1: Alice pays X to Bob and Carol; Carol's credit is provisional */
    double_spend(&alice, 1000, x, &bob, xc, &carol);
    ASSERT_EQ(dep(&bob, x, NULL), 0);
    long long carol_hold;
    long long c1 = dep(&carol, xc, &carol_hold);
    expect_case(c1, "recovering", 1000, 0);
    /* case 2: Carol pays her Y (500) to Dave and to Bob */
    double_spend(&carol, 500, y, &dave, yc, &bob);
    ASSERT_EQ(dep(&dave, y, NULL), 0);
    long long c2 = dep(&bob, yc, NULL);
    expect_case(c2, "recovering", 500, 0); /* her 1000 is frozen in case 1 */
    ASSERT_EQ(bal(&carol).held, 1000);
    /* Alice's money arrives: case 1 settles, Carol's credit is held again,
     * and when it releases it pays case 2 */
    ASSERT_EQ(fund(&S, alice.account, 1000), 201);
    expect_case(c1, "settled", 1000, 1000);
    expect_case(c2, "recovering", 500, 0);
    release_in_60_days();
    expect_case(c2, "settled", 500, 500);
    (void)release(); /* Dave's credit, unfrozen by the settlement */
    ASSERT_EQ(bal(&carol).available, 500);
    ASSERT_EQ(bal(&dave).available, 500);
    ASSERT_EQ(bal(&bob).available, 1500);
    audit_api_ok();
    srv_cleanup(&S);
}

/* Reject reverses only the shortfall, newest branch first; the culprit's
 * later money repays the reversed receiver. */
static void test_reject_up_to_shortfall(void)
{
    static struct coin x[1], xc[1], xd[1];
    struct dev alice, bob, carol, dave;
    start(1);
    people((struct person[]){{&alice, "Alice Zhang", 1000, 0},
                             {&bob, "Bob Li", 0, 1},
                             {&carol, "Carol Wang", 0, 1},
                             {&dave, "Dave Liu", 0, 1},
                             {0}});
    withdraw_one(&alice, 1000, x);
    xc[0] = x[0];
    xd[0] = x[0];
    pay(&x[0], &alice, &bob);
    pay(&xc[0], &alice, &carol);
    pay(&xd[0], &alice, &dave);
    ASSERT_EQ(dep(&bob, x, NULL), 0);
    long long c = dep(&carol, xc, NULL);
    ASSERT_EQ(dep(&dave, xd, NULL), c);
    ASSERT_EQ(fund(&S, alice.account, 1300), 201);
    expect_case(c, "recovering", 2000, 1300);
    srv_clock_set(&S, h_now_ms() + 60 * DAY_MS);
    ASSERT_EQ(resolve(c, "reject"), 200);
    /* shortfall 700 out of Dave's (newest) credit; Carol keeps hers */
    (void)release();
    ASSERT_EQ(bal(&dave).available, 300);
    ASSERT_EQ(bal(&carol).available, 1000);
    ASSERT_EQ(bal(&bob).available, 1000);
    json_t *cj = case_json(c);
    ASSERT_EQ(json_int(cj, "carried"), 700);
    json_decref(cj);
    audit_api_ok();
    ASSERT_EQ(fund(&S, alice.account, 500), 201);
    ASSERT_EQ(bal(&dave).available, 800);
    ASSERT_EQ(fund(&S, alice.account, 500), 201);
    ASSERT_EQ(bal(&dave).available, 1000);
    expect_case(c, "settled", 2000, 2000);
    ASSERT_EQ(bal(&alice).available, 300);
    audit_api_ok();
    srv_cleanup(&S);
}

/* holds release --now in the future: only with the development clock; a
 * release names who released it. */
static void test_release_future_needs_dev_clock(void)
{
    static struct coin y[1];
    struct dev alice, bob;
    start(0);
    people((struct person[]){{&alice, "Alice Zhang", 100, 0}, {&bob, "Bob Li", 0, 1}, {0}});
    withdraw_one(&alice, 100, y);
    pay(&y[0], &alice, &bob);
    long long hold;
    ASSERT_EQ(dep(&bob, y, &hold), 0);
    ASSERT(srv_stop(&S) == 0);
    char out[1024];
    int rc = srv_cmd(&S, out, sizeof out, "holds release --now 2099-01-01");
    ASSERT(rc != 0);
    ASSERT(strstr(out, "development clock") != NULL);
    srv_start(&S); /* nothing was released */
    ASSERT_EQ(bal(&bob).held, 100);
    ASSERT_EQ(bal(&bob).available, 0);
    srv_cleanup(&S);
}

TESTS(T(test_own_copy_second), T(test_own_copy_first_partly_forfeited), T(test_money_held),
      T(test_money_arrives_by_transfer), T(test_money_never_arrives), T(test_two_forks),
      T(test_fork_of_forked_coin), T(test_culprit_is_victim), T(test_reject_up_to_shortfall),
      T(test_release_future_needs_dev_clock))
