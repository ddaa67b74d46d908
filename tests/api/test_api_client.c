/*
 * test_api_client.c - the wallet's HTTP client (ducat/client.h) against a
 * real ducatd: a device whose clock is off, and a request signed just
 * before the server restarted, are refused as stale, then signed again by
 * the client with the server's clock, exactly once.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "harness.h"

#include "ducat/client.h"

static struct srv S;

static long long available_of(json_t *j)
{
    return (long long)json_integer_value(json_object_get(j, "available"));
}

/* How many GET /v1/balance requests S answered with a status of class
 * cls ("2xx", "4xx"), from its /metrics: how the tests see how many times
 * the client really sent a request, not only how the last one ended. */
static unsigned long long balance_answers(const char *cls)
{
    char key[96];
    snprintf(key, sizeof key, "ducat_http_requests_total{route=\"balance\",code=\"%s\"}", cls);
    long long n = srv_metric(&S, key);
    return n < 0 ? 0 : (unsigned long long)n; /* no sample: none answered */
}

/* A client of the running server S signing as d. */
static struct dc_client *client_of(const struct dev *d)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", S.port);
    struct dc_client *c;
    ASSERT_OK(dc_client_new(&c, url));
    dc_client_set_key(c, d->sk);
    return c;
}

/* A fresh server S with device d (name, holding amount); a client of it. */
static struct dc_client *start_with_client(struct dev *d, const char *name, long long amount)
{
    srv_init(&S, "--auto-verify");
    srv_start(&S);
    dev_setup(&S, d, name, amount);
    return client_of(d);
}

static void test_clock_offset_learnt(void)
{
    struct dev a;
    struct dc_client *c = start_with_client(&a, "Clock Alice", 700);
    int status;
    json_t *j = NULL;
    char detail[256];
    /* a device clock 20 minutes slow (the window is minutes) */
    dc_client_set_clock_offset(c, -20 * 60 * 1000);
    ASSERT_OK(dc_client_call(c, 1, "GET", "/v1/balance", NULL, &status, &j, detail, sizeof detail));
    ASSERT_EQ(status, 200);
    ASSERT_EQ(available_of(j), 700);
    json_decref(j);
    int64_t off = dc_client_clock_offset(c);
    ASSERT(off > -5000 && off < 5000); /* learnt from the server: the same machine */

    /* a clock 20 minutes fast: the same, and a money-moving call runs once */
    dc_client_set_clock_offset(c, 20 * 60 * 1000);
    struct dev b;
    dev_setup(&S, &b, "Clock Bob", 0);
    char body[160], rid[40];
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":250}", rid,
             b.account);
    ASSERT_OK(
        dc_client_call(c, 1, "POST", "/v1/transfers", body, &status, &j, detail, sizeof detail));
    ASSERT_EQ(status, 201);
    json_decref(j);
    ASSERT_EQ(balance_available(&S, &a), 450);
    ASSERT_EQ(balance_available(&S, &b), 250);

    /* with the server's clock known, no retry is needed: a bad signature is
     * refused once and not re-signed (only staleness is retried) */
    dc_client_set_key(c, b.sk);
    ASSERT_OK(dc_client_call(c, 1, "GET", "/v1/balance", NULL, &status, &j, detail, sizeof detail));
    ASSERT_EQ(available_of(j), 250);
    json_decref(j);
    struct dev stranger;
    dev_new(&stranger);
    dc_client_set_key(c, stranger.sk);
    unsigned long long refused = balance_answers("4xx"), served = balance_answers("2xx");
    ASSERT_ERR(dc_client_call(c, 1, "GET", "/v1/balance", NULL, &status, &j, detail, sizeof detail),
               DC_ERR_AUTH_UNKNOWN);
    ASSERT_EQ(status, 401);
    json_decref(j);
    /* sent exactly once: one more refusal on the server, nothing else */
    ASSERT_EQ(balance_answers("4xx"), refused + 1);
    ASSERT_EQ(balance_answers("2xx"), served);
    audit_ok(&S);
    dc_client_free(c);
    srv_cleanup(&S);
}

static void test_signed_before_restart(void)
{
    /* A request signed before the server (re)started is refused as stale,
     * even within the time window: the new process cannot know its nonce. */
    struct dev a;
    struct dc_client *c = start_with_client(&a, "Restart Alice", 900);
    int status;
    json_t *j = NULL;
    char detail[256];
    srv_restart(&S);
    dc_client_free(c);
    c = client_of(&a);
    /* sign 60 s in the past: inside the time window, but before the
     * restart: refused, then re-signed with the server's clock */
    dc_client_set_clock_offset(c, -60000);
    unsigned long long refused = balance_answers("4xx"), served = balance_answers("2xx");
    ASSERT_OK(dc_client_call(c, 1, "GET", "/v1/balance", NULL, &status, &j, detail, sizeof detail));
    ASSERT_EQ(status, 200);
    /* refused once as stale, re-signed once, served once */
    ASSERT_EQ(balance_answers("4xx"), refused + 1);
    ASSERT_EQ(balance_answers("2xx"), served + 1);
    ASSERT_EQ(available_of(j), 900);
    json_decref(j);
    ASSERT(dc_client_clock_offset(c) > -5000); /* it was refused and learnt */
    dc_client_free(c);
    srv_cleanup(&S);
}

TESTS(T(test_clock_offset_learnt), T(test_signed_before_restart))
