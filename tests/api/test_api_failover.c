/*
 * test_api_failover.c - a PostgreSQL primary dies under load and its
 * synchronous standby takes over (docs/DEPLOY.md, "Failover").
 *
 * Run by tests/pg_failover.sh, which starts the primary and the standby and
 * exports DC_PG_HOSTS (both socket directories, for the libpq multi-host
 * DSN with target_session_attrs=read-write), DC_PG_KILL (SIGKILL of the
 * primary's postmaster and backends) and DC_PG_PROMOTE (pg_ctl promote of
 * the standby). Two ducatd share one database through that DSN. Client
 * threads send transfers, withdrawals and deposits to both, each request retried with
 * the same request id and body at the other instance on a 503 or a lost
 * connection, booking each answer once. Mid-load the primary is killed and,
 * a moment later, the standby promoted; ducatd must find it without a
 * restart. Then: every account holds exactly what the 2xx answers said
 * (nothing answered was lost with the primary, nothing retried happened
 * twice), answered requests replayed by id change nothing, the withdrawn
 * coins deposit once and a second deposit of the same state is refused,
 * and `ducatd audit` passes on the new primary.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
/* test.h before harness.h (harness.h hooks into it) */
#include "harness.h"
#include "load.h"

#define NI 2          /* ducatd instances */
#define NU LOAD_USERS /* users, one client thread each */
#define MAXW 100      /* withdrawals per client at most (coins kept to deposit) */

static struct srv A, B;

/* ---- The load (tests/api/load.c) ------------------------------------------ */

/* Until told to stop: transfers, a withdrawal of 100 every sixth request
 * (while there is room for its coins), a deposit of the last coin withdrawn
 * every sixth from the third on (one is kept to deposit after the
 * failover). */
static void *client_main(void *arg)
{
    struct load_client *c = arg;
    pthread_barrier_wait(&W.go);
    for (int op = 0; !atomic_load(&W.stop); op++) {
        if (op % 6 == 5 && c->ncoins < c->cap) {
            load_withdraw(c, c->u + op);
        } else if (op % 6 == 2 && c->ncoins > 1) {
            load_deposit(c, c->ncoins - 1, c->u + op);
            c->ncoins--; /* deposited (or the load failed): not deposited again at the end */
        } else {
            load_transfer(c, c->u + op);
        }
    }
    return NULL;
}

/* SQL on the server in directory dir as the clusters' superuser; the
 * first column of the first row in out ("" if none). */
static void psql_at(const char *dir, const char *db, const char *sql, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/psql' -X -A -t -h '%s' -U ducat -d %s -c \"%s\" 2>&1",
             getenv("DC_PG_BIN"), dir, db, sql);
    FILE *p = popen(cmd, "r");
    ASSERT(p != NULL);
    out[0] = '\0';
    if (!fgets(out, (int)cap, p)) out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

/*
 * The synchronous standby dies: the primary must not acknowledge a commit
 * it cannot replicate. ducatd (store_timeout_ms = 1000) answers 503 within
 * seconds instead of hanging, reads are served, nothing moved; once the
 * standby is back the client's retry (same request id) succeeds exactly
 * once, and the standby has it. Runs first: it leaves the pair as it was.
 */
static void test_standby_killed(void)
{
    if (!getenv("DC_PG_STANDBY_KILL") || !getenv("DC_PG_STANDBY_START")) {
        FAIL_AT("no primary/standby pair: run this test through tests/pg_failover.sh");
    }
    struct srv S;
    struct dev a, b;
    srv_init_pg(&S, "--auto-verify");
    FILE *f = fopen(S.conf, "a");
    ASSERT(f != NULL);
    fputs("\n[ducat]\nstore_timeout_ms = 1000\n", f);
    ASSERT(fclose(f) == 0);
    srv_start(&S);
    dev_setup(&S, &a, "Alice", 5000);
    dev_setup(&S, &b, "Bob", 0);

    ASSERT(system(getenv("DC_PG_STANDBY_KILL")) == 0);
    char rid[40], body[256];
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":700}", rid,
             b.account);
    json_t *j = NULL;
    long long t0 = load_ms();
    int st = api(&S, &a, "POST", "/v1/transfers", body, &j);
    printf("# standby killed: a transfer answered %d after %lld ms\n", st, load_ms() - t0);
    ASSERT_API_ERR(st, j, 503, "DC_ERR_STORE_RETRY");
    json_decref(j);
    ASSERT_EQ(balance_available(&S, &a), 5000);

    ASSERT(system(getenv("DC_PG_STANDBY_START")) == 0);
    long long t1 = load_ms();
    for (st = 0; load_ms() - t1 < 30000;) {
        j = NULL;
        st = api(&S, &a, "POST", "/v1/transfers", body, &j);
        json_decref(j);
        if (st != 503 && st != 0) break;
        load_sleep_ms(200);
    }
    printf("# standby restarted: the retry answered %d after %lld ms\n", st, load_ms() - t1);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(balance_available(&S, &a), 4300);
    ASSERT_EQ(balance_available(&S, &b), 700);
    /* acknowledged means replicated: the standby has it (applied shortly) */
    char sql[128], got[64] = "";
    snprintf(sql, sizeof sql, "SELECT available FROM accounts WHERE id = %lld", b.account);
    for (int k = 0; k < 100 && strcmp(got, "700") != 0; k++) {
        psql_at(getenv("DC_PG_STANDBY_DIR"), S.pgdb, sql, got, sizeof got);
        if (strcmp(got, "700") != 0) load_sleep_ms(100);
    }
    if (strcmp(got, "700") != 0) FAIL_AT("the standby has Bob's balance '%s', not 700", got);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_primary_killed_mid_load(void)
{
    if (!getenv("DC_PG_HOSTS") || !getenv("DC_PG_KILL") || !getenv("DC_PG_PROMOTE")) {
        FAIL_AT("no primary/standby pair: run this test through tests/pg_failover.sh");
    }
    srv_init_pg(&A, "--auto-verify");
    srv_clone(&B, &A, "b");
    srv_start(&A);
    srv_start(&B);
    struct srv *all[NI] = {&A, &B};
    load_init(all, NI, 1500, 60000);
    pthread_barrier_init(&W.go, NULL, NU + 1);
    pthread_t th[NU];
    static struct load_client cl[NU];
    static struct coin coins[NU][MAXW];
    for (int u = 0; u < NU; u++) {
        memset(&cl[u], 0, sizeof cl[u]);
        cl[u].u = u;
        cl[u].seed = (unsigned)(u * 7919 + 17);
        cl[u].coins = coins[u];
        cl[u].cap = MAXW;
        ASSERT(pthread_create(&th[u], NULL, client_main, &cl[u]) == 0);
    }
    pthread_barrier_wait(&W.go);
    load_sleep_ms(1500);
    long long before;
    pthread_mutex_lock(&W.mu);
    before = W.ok_transfers;
    pthread_mutex_unlock(&W.mu);
    ASSERT(system(getenv("DC_PG_KILL")) == 0);
    /* after the kill returned: a request sent before may still commit */
    atomic_store(&W.killed_at, load_ms());
    /* the operator (or a failover manager) notices and promotes */
    load_sleep_ms(1000);
    long long t_promote = load_ms();
    ASSERT(system(getenv("DC_PG_PROMOTE")) == 0);
    long long promoted = load_ms();
    /* from now on the harness's createdb/dropdb talk to the new primary */
    setenv("DC_PG_DIR", getenv("DC_PG_STANDBY_DIR"), 1);
    /* the load goes on until writes have succeeded for a second after the
     * failover (or 30 s, and then the assertion below fails) */
    while (load_ms() - promoted < 30000) {
        long long f = atomic_load(&W.first_ok_after);
        if (f != 0 && load_ms() - f > 1000) break;
        load_sleep_ms(50);
    }
    atomic_store(&W.stop, 1);
    for (int u = 0; u < NU; u++) pthread_join(th[u], NULL);
    pthread_barrier_destroy(&W.go);
    if (W.error[0]) FAIL_AT("%s", W.error);
    long long ka = atomic_load(&W.killed_at), fo = atomic_load(&W.first_ok_after);
    printf("# %lld transfers (%lld before the kill), %lld refused, %lld withdrawals, "
           "%lld deposits, %lld retries (%lld answered 503)\n",
           W.ok_transfers, before, W.refused, W.withdrawals, W.deposits, W.retries, W.ok_503);
    ASSERT(W.deposits > 0);
    ASSERT(before > 0);
    ASSERT(fo > 0); /* something sent after the kill was answered 2xx */
    printf("# failover: SIGKILL to promoted %lld ms (1000 ms of it waiting to promote, "
           "pg_ctl promote %lld ms); SIGKILL to the first 2xx write %lld ms, "
           "%lld ms after promotion\n",
           promoted - ka, promoted - t_promote, fo - ka, fo - promoted);

    /* every answered request is on the new primary, each exactly once */
    load_check_books(&A);
    load_check_books(&B);
    /* replays of answered transfers by their request id change nothing */
    for (int u = 0; u < NU; u++) {
        if (!W.replay[u][0]) continue;
        json_t *j = NULL;
        int st = api(&W.inst[u % NI], &W.users[u], "POST", "/v1/transfers", W.replay[u], &j);
        json_decref(j);
        if (st / 100 != 2) FAIL_AT("replay of user %d's transfer: status %d", u, st);
    }
    load_check_books(&B);

    /* the withdrawn coins deposit once; the same state a second time is refused */
    for (int u = 0; u < NU; u++) {
        struct load_client *c = &cl[u];
        for (size_t k = 0; k < c->ncoins; k++) {
            coin_deposit(&c->coins[k], &W.users[u], W.users[u].account);
            json_t *j = NULL;
            int st = deposit(&W.inst[k % NI], &W.users[u], &c->coins[k], 1, NULL, &j);
            if (st != 201) FAIL_AT("deposit after failover: status %d", st);
            W.held[u] += json_int(j, "credited");
            json_decref(j);
        }
        if (c->ncoins > 0) {
            json_t *j = NULL;
            int st = deposit(&W.inst[1], &W.users[u], &c->coins[0], 1, NULL, &j);
            json_decref(j);
            if (st / 100 == 2) {
                json_t *b = NULL;
                ASSERT_EQ(api(&B, &W.users[u], "GET", "/v1/balance", NULL, &b), 200);
                long long held = json_int(b, "held");
                json_decref(b);
                if (held != W.held[u]) FAIL_AT("a coin state deposited twice credited twice");
            }
        }
    }
    load_check_books(&A);
    audit_ok(&A);
    srv_cleanup(&B);
    srv_cleanup(&A);
}

TESTS(T(test_standby_killed), T(test_primary_killed_mid_load))
