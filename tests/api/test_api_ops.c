/*
 * test_api_ops.c - what an operator watches, against a real ducatd: the log
 * lines of security- and money-relevant events (registration, verification,
 * fund, a fork case opened, a refused admin login, the case settled by a
 * named operator, a release run) with their ids and never a secret; the
 * /metrics gauges (open cases, exposure, frozen and held totals, float,
 * nonce table, key expiry, last audit), build and process facts, and the
 * counters that include what the `ducatd` operator commands did in their
 * own process (shared through the store); JSON log lines.
 */
#include "test.h"

#include "harness.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct srv S;

/* The server's log so far (DIR/server.log), NUL-terminated; caller frees. */
static char *server_log(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/server.log", S.dir);
    FILE *f = fopen(path, "r");
    ASSERT(f != NULL);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    ASSERT(b != NULL);
    for (size_t r; (r = fread(b + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            ASSERT(nb != NULL);
            b = nb;
        }
    }
    fclose(f);
    b[n] = '\0';
    return b;
}

/* Fails unless some line of the log holds every one of the NULL-ended
 * fragments (so the fields belong to one event line). */
static void expect_line(const char *log, ...)
{
    va_list ap;
    for (const char *line = log; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[2048];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), line);
        int all = 1;
        va_start(ap, log);
        for (const char *f; (f = va_arg(ap, const char *));) all = all && strstr(buf, f);
        va_end(ap);
        if (all) return;
        line = end ? end + 1 : line + len;
    }
    va_start(ap, log);
    char want[512] = "";
    for (const char *f; (f = va_arg(ap, const char *));) {
        strncat(want, f, sizeof want - strlen(want) - 2);
        strcat(want, " ");
    }
    va_end(ap);
    FAIL_AT("no log line holds all of: %s\n--- log ---\n%s", want, log);
}

/* The /metrics exposition; caller frees. */
static char *metrics(void)
{
    struct api_req q;
    struct api_resp r;
    memset(&q, 0, sizeof q);
    q.method = "GET";
    q.path = "/metrics";
    ASSERT_EQ(api_raw(&S, &q, &r), 200);
    char *s = strdup(r.body);
    api_resp_free(&r);
    ASSERT(s != NULL);
    return s;
}

/* The value of the sample named exactly `name` (with its labels, if any);
 * fails if absent. Values are integers or "S.fff" seconds (the integer part). */
static long long sample(const char *text, const char *name)
{
    long long v = metric_in(text, name);
    if (v < 0) FAIL_AT("/metrics has no sample '%s'", name);
    return v;
}

static void test_events_and_gauges(void)
{
    srv_init(&S, NULL); /* accounts start unverified: the operator verifies them */
    /* business time from DIR/clock: a decision needs an honest credit due */
    srv_dev_clock(&S);
    srv_start(&S);
    struct dev alice, bob, carol;
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);

    /* a fork: Alice pays one 1000 coin to Bob and the same state to Carol */
    struct coin x[1], copy[1];
    size_t n = 0;
    json_t *j = NULL;
    ASSERT_EQ(withdraw(&S, &alice, 1000, x, 1, &n, &j), 201);
    json_decref(j);
    ASSERT_EQ(n, 1);
    copy[0] = x[0];
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    coin_transfer(&x[0], &alice, &bob);
    coin_deposit(&x[0], &bob, bob.account);
    ASSERT_EQ(deposit(&S, &bob, x, 1, NULL, &j), 201);
    long long dep_bob = json_int(j, "deposit_id");
    json_decref(j);
    coin_transfer(&copy[0], &alice, &carol);
    coin_deposit(&copy[0], &carol, carol.account);
    ASSERT_EQ(deposit(&S, &carol, copy, 1, NULL, &j), 201);
    long long dep_carol = json_int(j, "deposit_id");
    long long case_id = json_int(json_array_get(json_get(j, "coins"), 0), "case");
    ASSERT(case_id > 0);
    json_decref(j);

    /* a refused admin login, with a token that must never reach the log */
    ASSERT_EQ(admin(&S, "dcadm_not-the-token-QX7", "GET", "/v1/admin/cases", NULL, NULL), 401);

    char *m = metrics();
    ASSERT_EQ(sample(m, "ducat_cases_open"), 1);
    ASSERT_EQ(sample(m, "ducat_frozen_minor_units{currency=\"CNY\"}"), 2000);
    ASSERT_EQ(sample(m, "ducat_held_minor_units{currency=\"CNY\"}"), 2000);
    ASSERT_EQ(sample(m, "ducat_cases_exposure_minor_units{currency=\"CNY\"}"), 1000);
    /* withdrawn 1000, one branch deposited against the float: none outstanding */
    ASSERT_EQ(sample(m, "ducat_offline_float_minor_units{currency=\"CNY\"}"), 0);
    ASSERT(sample(m, "ducat_nonce_table_entries") >= 8); /* every signed request so far */
    ASSERT(sample(m, "ducat_signing_key_sign_until_seconds") > (long long)(h_now_ms() / 1000));
    const char *be = getenv("DUCAT_TEST_STORE");
    char info[128];
    snprintf(info, sizeof info, "ducat_build_info{version=\"0.1.0\",store=\"%s\",currency=\"CNY\"}",
             be && strcmp(be, "postgresql") == 0 ? "postgresql" : "sqlite");
    ASSERT_EQ(sample(m, info), 1);
    ASSERT(sample(m, "process_start_time_seconds") > 1700000000);
    ASSERT(sample(m, "process_resident_memory_bytes") > 0);
    ASSERT(sample(m, "process_open_fds") > 2);
    ASSERT_EQ(sample(m, "ducat_forks_total"), 1);
    ASSERT_EQ(sample(m, "ducat_funds_total"), 1);
    ASSERT_EQ(sample(m, "ducat_account_actions_total"), 3); /* three verifications */
    ASSERT(!strstr(m, "ducat_audit_last_ok"));              /* no audit has run yet */
    free(m);

    /* 60 days on, the receivers' credits are due and Alice (0.00) has not
     * paid: the operator decides (a named actor over the API) */
    char clk[128];
    snprintf(clk, sizeof clk, "%s/clock", S.dir);
    FILE *ck = fopen(clk, "w");
    ASSERT(ck != NULL);
    ASSERT(fprintf(ck, "%llu\n", (unsigned long long)(h_now_ms() + 60ull * 86400000ull)) > 0);
    ASSERT(fclose(ck) == 0);
    /* The server's release timer (every 100 ms, on business time) sees the
     * jump: let it run now, while the credits are still frozen, so that it
     * is not due again (release_interval_s of business time, which stands
     * still) when the command line releases them below. Without this wait
     * the timer sometimes released them first and the CLI found none. */
    struct timespec settle = {0, 500 * 1000 * 1000};
    nanosleep(&settle, NULL);
    json_t *r = NULL;
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", case_id);
    ASSERT_EQ(adminf(&S, S.token, "POST", path, &r,
                     "{\"decision\":\"honour\",\"reason\":\"good faith\"}"),
              200);
    json_decref(r);

    /* operator commands in their own processes: a release and a fund */
    char out[4096];
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "holds release --now %llu",
                      (unsigned long long)(h_now_ms() + 400ull * 86400000ull)),
              0);
    long long released = 0;
    ASSERT(sscanf(out, "released %lld holds", &released) == 1);
    ASSERT_EQ(released, 2); /* Bob's and Carol's credits */
    /* Alice's cash-in repays the loss account and settles the case */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 10.00", alice.account), 0);
    ASSERT(strstr(out, "funded 10.00 CNY to account") != NULL);
    audit_ok(&S);

    m = metrics();
    ASSERT_EQ(sample(m, "ducat_cases_open"), 0);
    ASSERT_EQ(sample(m, "ducat_frozen_minor_units{currency=\"CNY\"}"), 0);
    ASSERT_EQ(sample(m, "ducat_held_minor_units{currency=\"CNY\"}"), 0);
    ASSERT_EQ(sample(m, "ducat_cases_decided_total"), 1);
    ASSERT_EQ(sample(m, "ducat_holds_released_total"), 2); /* done by the CLI */
    ASSERT_EQ(sample(m, "ducat_funds_total"), 2);          /* one API, one CLI */
    ASSERT_EQ(sample(m, "ducat_audit_last_ok"), 1);
    ASSERT(sample(m, "ducat_audit_last_run_timestamp_seconds") > 1700000000);
    free(m);

    char *log = server_log();
    char a[32], b[32], c[32], cs[32], d1[32], d2[32];
    snprintf(a, sizeof a, "account=%lld", alice.account);
    snprintf(b, sizeof b, "account=%lld", bob.account);
    snprintf(c, sizeof c, "account=%lld", carol.account);
    snprintf(cs, sizeof cs, "case=%lld", case_id);
    snprintf(d1, sizeof d1, "deposit=%lld", dep_bob);
    snprintf(d2, sizeof d2, "deposit=%lld", dep_carol);
    expect_line(log, "ducatd info: event=registration", a, "status=unverified", NULL);
    expect_line(log, "event=registration", b, NULL);
    expect_line(log, "event=registration", c, NULL);
    expect_line(log, "event=account_verified", a, "actor=admin", "via=api", NULL);
    expect_line(log, "event=fund", a, "amount=\"10.00 CNY\"", "posting=", NULL);
    expect_line(log, "event=deposit", d1, b, "credited=\"10.00 CNY\"", "forks_new=0", NULL);
    expect_line(log, "event=deposit", d2, c, "forks_new=1", NULL);
    char culprit[32], depositor[32];
    snprintf(culprit, sizeof culprit, "culprit=%lld", alice.account);
    snprintf(depositor, sizeof depositor, "depositor=%lld", carol.account);
    expect_line(log, "ducatd warn: event=case_opened", cs, d2, depositor, culprit,
                "value=\"10.00 CNY\"", NULL);
    expect_line(log, "ducatd warn: event=admin_auth_refused", "path=/v1/admin/cases", NULL);
    expect_line(log, "event=case_settled", cs, "decision=honour", "actor=admin", NULL);
    /* never a secret or real-name data */
    ASSERT(!strstr(log, "not-the-token"));
    ASSERT(!strstr(log, S.token));
    ASSERT(!strstr(log, "Alice Zhang"));
    free(log);
    srv_cleanup(&S);
}

/* [server] log_json = true: every line is one JSON object. */
static void test_json_lines(void)
{
    srv_init(&S, "--auto-verify");
    FILE *f = fopen(S.conf, "a");
    ASSERT(f != NULL);
    fputs("\n[server]\nlog_json = true\n", f);
    ASSERT(fclose(f) == 0);
    srv_start(&S);
    struct dev d;
    dev_setup(&S, &d, "Dora Xu", 505);
    ASSERT_EQ(admin(&S, "bad", "GET", "/v1/admin/accounts", NULL, NULL), 401);
    ASSERT_EQ(srv_stop(&S), 0);
    char *log = server_log();
    int lines = 0, fund_seen = 0, refused_seen = 0, serving_seen = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o || !json_is_object(o)) FAIL_AT("not a JSON object: %s", line);
        ASSERT(json_str(o, "time") && json_str(o, "level"));
        const char *ev = json_string_value(json_object_get(o, "event"));
        const char *msg = json_string_value(json_object_get(o, "msg"));
        ASSERT(ev || msg);
        if (ev && strcmp(ev, "fund") == 0 && json_int(o, "account") == d.account) {
            ASSERT_STR(json_str(o, "amount"), "5.05 CNY");
            fund_seen = 1;
        }
        if (ev && strcmp(ev, "admin_auth_refused") == 0) refused_seen = 1;
        if (msg && strstr(msg, "serving on")) serving_seen = 1;
        json_decref(o);
        lines++;
    }
    ASSERT(lines >= 4);
    ASSERT(fund_seen && refused_seen && serving_seen);
    free(log);
    srv_cleanup(&S);
}

/* GET /metrics with bearer `token` (NULL: none); its status, the body
 * into *body when not NULL (caller frees). */
static int metrics_with(const char *token, char **body)
{
    struct api_req q;
    struct api_resp r;
    memset(&q, 0, sizeof q);
    q.method = "GET";
    q.path = "/metrics";
    q.bearer = token;
    int st = api_raw(&S, &q, &r);
    if (body) {
        *body = strdup(r.body ? r.body : "");
        ASSERT(*body != NULL);
    }
    api_resp_free(&r);
    return st;
}

/* [metrics] token_hash: /metrics (money totals) wants that bearer token;
 * without the key it stays public (the other tests). */
static void test_metrics_token(void)
{
    srv_init(&S, "--auto-verify");
    const char *token = "scrape-secret-7c1f";
    uint8_t h[32];
    char hex[65];
    crypto_generichash(h, sizeof h, (const uint8_t *)token, strlen(token), NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    FILE *f = fopen(S.conf, "a");
    ASSERT(f != NULL);
    ASSERT(fprintf(f, "\n[metrics]\ntoken_hash = %s\n", hex) > 0);
    ASSERT(fclose(f) == 0);
    srv_start(&S);
    char *body;
    ASSERT_EQ(metrics_with(NULL, &body), 401);
    ASSERT(strstr(body, "DC_ERR_ADMIN_AUTH") && !strstr(body, "ducat_"));
    free(body);
    ASSERT_EQ(metrics_with("scrape-secret-7c1e", NULL), 401);
    ASSERT_EQ(metrics_with(S.token, NULL), 401); /* the admin token is another secret */
    ASSERT_EQ(metrics_with(token, &body), 200);
    ASSERT(strstr(body, "ducat_") != NULL);
    free(body);
    /* the health check stays public */
    struct api_req q;
    struct api_resp r;
    memset(&q, 0, sizeof q);
    q.method = "GET";
    q.path = "/v1/health";
    ASSERT_EQ(api_raw(&S, &q, &r), 200);
    api_resp_free(&r);
    ASSERT_EQ(srv_stop(&S), 0);
    char *log = server_log();
    ASSERT(!strstr(log, token));
    free(log);
    srv_cleanup(&S);
}

TESTS(T(test_events_and_gauges), T(test_json_lines), T(test_metrics_token))
