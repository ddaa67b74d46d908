/*
 * test_api_smoke.c - one pass through the money paths against a real
 * ducatd: register, verify, fund, transfer, withdraw, pay offline, deposit,
 * audit. The thorough suites are test_api_*.c; this one fails first and
 * loudest when something basic breaks.
 */
#include "test.h"
/* harness.h needs test.h first */
#include "harness.h"

static struct srv S;

static void test_money_paths(void)
{
    struct dev alice, bob;
    srv_init(&S, NULL);
    srv_start(&S);
    dev_setup(&S, &alice, "Alice Zhang", 100000);
    dev_setup(&S, &bob, "Bob Li", 0);
    ASSERT_EQ(balance_available(&S, &alice), 100000);
    json_t *j = NULL;
    char rid[40];
    new_request_id(rid);
    int st = apif(&S, &alice, "POST", "/v1/transfers", &j,
                  "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":2500}", rid, bob.account);
    ASSERT_EQ(st, 201);
    json_decref(j);
    ASSERT_EQ(balance_available(&S, &bob), 2500);
    audit_ok(&S);

    static struct coin coins[16];
    size_t n = 0;
    st = withdraw(&S, &alice, 1000, coins, 16, &n, NULL);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(coin_value(&coins[0]), 1000);
    ASSERT_EQ(balance_available(&S, &alice), 100000 - 2500 - 1000);
    audit_ok(&S);

    dev_sync(&S, &bob);
    coin_transfer(&coins[0], &alice, &bob);
    coin_deposit(&coins[0], &bob, bob.account);
    st = deposit(&S, &bob, coins, 1, NULL, &j);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(json_int(j, "credited"), 1000);
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

TESTS(T(test_money_paths))
