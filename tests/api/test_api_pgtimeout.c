/*
 * test_api_pgtimeout.c - a PostgreSQL commit that never returns becomes a
 * clear 503 (docs/DEPLOY.md, "While no primary answers").
 *
 * A primary whose synchronous standby is gone (or a standby promoted with
 * synchronous_standby_names still set) accepts a COMMIT and then waits for
 * a standby acknowledgement that never comes; PostgreSQL's own
 * statement_timeout does not end that wait. ducatd's [ducat]
 * store_timeout_ms must: the request is answered 503 DC_ERR_STORE_RETRY
 * within seconds, reads keep being served, and once the primary commits
 * again the same request (same request id) succeeds exactly once, without
 * a restart of ducatd.
 *
 * Runs on the tests/with-pg.sh cluster (tests/pg/test_api_pgtimeout.pg).
 * Only this test's database is made to wait: the cluster's
 * synchronous_commit is set to local and this database's to on, so a
 * setting left behind by a failure cannot hang another test's database.
 */
#include <time.h>
#include <unistd.h>

#include "test.h"
/* test.h before harness.h (harness.h hooks into it) */
#include "harness.h"

#ifndef TIMEOUT_MS
#define TIMEOUT_MS 1000
#endif

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs SQL statements (each a -c) on the with-pg.sh cluster as its superuser. */
static void psql(const char *db, const char *sql1, const char *sql2)
{
    const char *bin = getenv("DC_PG_BIN"), *dir = getenv("DC_PG_DIR");
    if (!bin || !dir) FAIL_AT("DC_PG_BIN/DC_PG_DIR unset: run under tests/with-pg.sh");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/psql' -X -q -h '%s' -U ducat -d %s -c \"%s\"%s%s%s >/dev/null",
             bin, dir, db, sql1, sql2 ? " -c \"" : "", sql2 ? sql2 : "", sql2 ? "\"" : "");
    if (system(cmd) != 0) FAIL_AT("psql failed: %s", cmd);
}

/* Reloads the configuration and gives the backends a moment to read it. */
static void reload(void)
{
    psql("postgres", "SELECT pg_reload_conf()", NULL);
    sleep_ms(500);
}

static void test_commit_waiting_for_standby(void)
{
    struct srv S;
    struct dev a, b;
    srv_init_pg(&S, "--auto-verify");
    FILE *f = fopen(S.conf, "a");
    ASSERT(f != NULL);
    fprintf(f, "\n[ducat]\nstore_timeout_ms = %d\n", TIMEOUT_MS);
    ASSERT(fclose(f) == 0);
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s SET synchronous_commit = on", S.pgdb);
    psql("postgres", "ALTER SYSTEM SET synchronous_commit = local", sql);
    reload();
    srv_start(&S);
    dev_setup(&S, &a, "Alice", 5000);
    dev_setup(&S, &b, "Bob", 0);

    /* no standby will ever acknowledge: every commit of this database waits */
    psql("postgres", "ALTER SYSTEM SET synchronous_standby_names = 'nobody'", NULL);
    reload();
    char rid[40], body[256];
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":700}", rid,
             b.account);
    json_t *j = NULL;
    long long t0 = mono_ms();
    int st = api(&S, &a, "POST", "/v1/transfers", body, &j);
    long long took = mono_ms() - t0;
    printf("# a commit waiting for a standby: answered %d after %lld ms (timeout %d ms)\n", st,
           took, TIMEOUT_MS);
    /* before the fix the request hangs until the client gives up (status 0) */
    ASSERT_API_ERR(st, j, 503, "DC_ERR_STORE_RETRY");
    json_decref(j);
    ASSERT(took < 15000);
    /* reads are served meanwhile, and the waiting commit is not visible */
    ASSERT_EQ(balance_available(&S, &a), 5000);

    /* the primary commits again (a standby came back, or the operator
     * cleared synchronous_standby_names): the client's retry succeeds */
    psql("postgres", "ALTER SYSTEM RESET synchronous_standby_names", NULL);
    reload();
    st = 0;
    for (long long t1 = mono_ms(); mono_ms() - t1 < 30000;) {
        j = NULL;
        st = api(&S, &a, "POST", "/v1/transfers", body, &j);
        json_decref(j);
        if (st != 503 && st != 0) break;
        sleep_ms(200);
    }
    ASSERT_EQ(st, 201);
    /* exactly once: the commit that waited and the retry are one transfer */
    ASSERT_EQ(balance_available(&S, &a), 4300);
    ASSERT_EQ(balance_available(&S, &b), 700);
    j = NULL;
    ASSERT_EQ(api(&S, &a, "POST", "/v1/transfers", body, &j), 201);
    json_decref(j);
    ASSERT_EQ(balance_available(&S, &a), 4300);
    audit_ok(&S);
    psql("postgres", "ALTER SYSTEM RESET synchronous_commit", NULL);
    reload();
    srv_cleanup(&S);
}

TESTS(T(test_commit_waiting_for_standby))
