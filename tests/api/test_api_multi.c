/*
 * test_api_multi.c - several ducatd processes on one PostgreSQL database,
 * serving the same accounts at once (docs/DEPLOY.md, "Several instances").
 *
 * Three instances share one instance directory (keys, configuration) and one
 * database, each on its own port. Client threads spread transfers,
 * withdrawals and deposits over them; every request has a request id and
 * is retried with the same id and body, at the next instance, on a 503 or a
 * lost connection, as a client behind a load balancer would. Each thread
 * books the outcome of each request once, so at the end every account's
 * available and held balance must equal exactly what the answers said: no
 * lost, no duplicated value. `ducatd audit` proves conservation from the
 * journal. Then: one coin double-spent and deposited at two instances at the
 * same moment (the fork must be detected exactly once), and kill -9 of one
 * instance in the middle of the load (the others keep serving; the requests
 * it had in flight complete exactly once when retried elsewhere). And
 * reads that survive every database connection being cut (a PostgreSQL
 * restart or failover): a GET still answers 200.
 *
 * Needs the PostgreSQL cluster of tests/with-pg.sh (make check runs every
 * test under it). Without it each case fails with a message saying so: a
 * skipped scale-out test must never count as passed.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
/* harness.h needs test.h first */
#include "harness.h"
#include "load.h"

#define NI 3          /* instances */
#define NU LOAD_USERS /* users, one client thread each */

static struct srv A, B, C;

static void need_pg(void)
{
    if (!getenv("DC_PG_DIR") || !getenv("DC_PG_BIN")) {
        FAIL_AT("no PostgreSQL cluster: DC_PG_DIR/DC_PG_BIN unset; run this test under "
                "tests/with-pg.sh (make check does)");
    }
}

static void start_three(const char *init_args)
{
    srv_init_pg(&A, init_args);
    srv_clone(&B, &A, "b");
    srv_clone(&C, &A, "c");
    srv_start(&A);
    srv_start(&B);
    srv_start(&C);
}

static void stop_three(void)
{
    srv_cleanup(&C);
    srv_cleanup(&B);
    srv_cleanup(&A);
}

/* ---- The load (tests/api/load.c) ------------------------------------------ */

static int ops_per_client; /* requests per client */

/* ops_per_client transfers and withdrawals, then the coins deposited. */
static void *client_main(void *arg)
{
    struct load_client *c = arg;
    pthread_barrier_wait(&W.go);
    for (int op = 0; op < ops_per_client; op++) {
        if (op % 6 == 5) {
            load_withdraw(c, c->u + op);
        } else {
            load_transfer(c, c->u + op);
        }
    }
    for (size_t k = 0; k < c->ncoins; k++) load_deposit(c, k, c->u + (int)k);
    return NULL;
}

/* Sets up NU funded users over the three instances and runs the clients;
 * with kill_after_ms > 0 the test thread kill -9s instance B meanwhile. */
static void run_load(int ops, long kill_after_ms)
{
    struct srv *all[NI] = {&A, &B, &C};
    load_init(all, NI, 2000, 20000);
    ops_per_client = ops;
    pthread_barrier_init(&W.go, NULL, NU + 1);
    pthread_t th[NU];
    static struct load_client cl[NU];
    for (int u = 0; u < NU; u++) {
        cl[u].u = u;
        cl[u].seed = (unsigned)(u * 7919 + 17);
        cl[u].cap = (size_t)ops;
        cl[u].ncoins = 0;
        cl[u].coins = calloc(cl[u].cap, sizeof *cl[u].coins);
        ASSERT(cl[u].coins != NULL);
        ASSERT(pthread_create(&th[u], NULL, client_main, &cl[u]) == 0);
    }
    pthread_barrier_wait(&W.go);
    if (kill_after_ms > 0) {
        load_sleep_ms(kill_after_ms);
        atomic_store(&W.dead[1], 1);
        srv_kill9(&B); /* mid-load: requests in flight at B are cut off */
    }
    for (int u = 0; u < NU; u++) pthread_join(th[u], NULL);
    for (int u = 0; u < NU; u++) free(cl[u].coins);
    pthread_barrier_destroy(&W.go);
    if (W.error[0]) FAIL_AT("%s", W.error);
    printf("# %lld transfers, %lld refused (insufficient funds), %lld withdrawals, "
           "%lld deposits, %lld retries\n",
           W.ok_transfers, W.refused, W.withdrawals, W.deposits, W.retries);
    ASSERT(W.ok_transfers > 0);
    ASSERT(W.withdrawals > 0);
}

static void test_concurrent_money_three_instances(void)
{
    need_pg();
    start_three("--auto-verify");
    run_load(36, 0);
    load_check_books(&A);
    load_check_books(&C); /* every instance sees the same books */
    audit_ok(&A);
    stop_three();
}

/* ---- Double spend at two instances at once ------------------------------- */

struct dep_arg {
    const struct srv *s;
    const struct dev *d;
    const struct coin *coin;
    pthread_barrier_t *go;
    int status;
    long long case_id; /* 0 = none in the answer */
    char rid[40];
};

static void *deposit_main(void *arg)
{
    struct dep_arg *a = arg;
    pthread_barrier_wait(a->go);
    json_t *j = NULL;
    for (int k = 0; k < 500; k++) {
        a->status = deposit(a->s, a->d, a->coin, 1, a->rid, &j);
        if (a->status != 503 && a->status != 0) break;
        json_decref(j);
        j = NULL;
        load_sleep_ms(20);
    }
    json_t *co = json_array_get(json_object_get(j, "coins"), 0);
    json_t *cs = json_object_get(co, "case");
    a->case_id = json_is_integer(cs) ? (long long)json_integer_value(cs) : 0;
    json_decref(j);
    return NULL;
}

static int count_cases(const struct srv *s)
{
    json_t *j;
    int st = admin(s, s->token, "GET", "/v1/admin/cases", NULL, &j);
    ASSERT_EQ(st, 200);
    int n = (int)json_array_size(json_object_get(j, "cases"));
    json_decref(j);
    return n;
}

static void test_double_spend_at_two_instances(void)
{
    need_pg();
    start_three("--auto-verify");
    struct dev alice, bob, carol;
    dev_setup(&A, &alice, "Alice Zhang", 50000);
    dev_setup(&B, &bob, "Bob Li", 0);
    dev_setup(&C, &carol, "Carol Wang", 0);
    dev_sync(&A, &bob);
    dev_sync(&B, &carol);
    enum { K = 4 };
    static struct coin x[K], copy[K];
    for (int k = 0; k < K; k++) {
        size_t n = 0;
        ASSERT_EQ(withdraw(&C, &alice, 1000, &x[k], 1, &n, NULL), 201);
        ASSERT_EQ(n, 1);
        copy[k] = x[k];
        /* one state, two successors: the double spend */
        coin_transfer(&x[k], &alice, &bob);
        coin_deposit(&x[k], &bob, bob.account);
        coin_transfer(&copy[k], &alice, &carol);
        coin_deposit(&copy[k], &carol, carol.account);
    }
    for (int k = 0; k < K; k++) {
        /* both branches deposited at the same moment, at two instances */
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        struct dep_arg a = {&A, &bob, &x[k], &go, 0, 0, ""},
                       b = {&B, &carol, &copy[k], &go, 0, 0, ""};
        new_request_id(a.rid);
        new_request_id(b.rid);
        pthread_t ta, tb;
        ASSERT(pthread_create(&ta, NULL, deposit_main, &a) == 0);
        ASSERT(pthread_create(&tb, NULL, deposit_main, &b) == 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&go);
        ASSERT_EQ(a.status, 201);
        ASSERT_EQ(b.status, 201);
        /* the later branch is the fork; the earlier one saw no case yet */
        ASSERT((a.case_id != 0) + (b.case_id != 0) == 1);
        ASSERT_EQ(count_cases(&C), k + 1); /* detected exactly once */
        /* retried requests answer the same, and detect nothing new */
        struct dep_arg a2 = a, b2 = b;
        pthread_barrier_t go2;
        pthread_barrier_init(&go2, NULL, 1);
        a2.s = &C;
        a2.go = b2.go = &go2;
        b2.s = &A;
        deposit_main(&a2);
        deposit_main(&b2);
        pthread_barrier_destroy(&go2);
        ASSERT_EQ(a2.status, 201);
        ASSERT_EQ(a2.case_id, a.case_id);
        ASSERT_EQ(b2.case_id, b.case_id);
        ASSERT_EQ(count_cases(&A), k + 1);
    }
    /* every credit from the forked states is frozen, nothing was released */
    json_t *j;
    ASSERT_EQ(api(&C, &bob, "GET", "/v1/balance", NULL, &j), 200);
    ASSERT_EQ(json_int(j, "held"), K * 1000);
    json_decref(j);
    ASSERT_EQ(api(&C, &carol, "GET", "/v1/balance", NULL, &j), 200);
    ASSERT_EQ(json_int(j, "held"), K * 1000);
    json_decref(j);
    audit_ok(&B);
    stop_three();
}

/* ---- kill -9 of one instance under load ---------------------------------- */

static void test_kill9_one_instance_mid_load(void)
{
    need_pg();
    start_three("--auto-verify");
    run_load(48, 700);
    /* B is gone; A and C served everything, each request exactly once */
    load_check_books(&A);
    load_check_books(&C);
    audit_ok(&C);
    /* B comes back on the same database and agrees */
    srv_start(&B);
    load_check_books(&B);
    audit_ok(&B);
    stop_three();
}

/* Terminates every ducatd connection to the cluster from a side psql, as a
 * PostgreSQL restart or a failover would. */
static void cut_pg_connections(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s/psql' -q -X -h '%s' -U ducat -d ducat -c \"SELECT pg_terminate_backend(pid) "
             "FROM pg_stat_activity WHERE application_name = 'ducatd'\" >/dev/null",
             getenv("DC_PG_BIN"), getenv("DC_PG_DIR"));
    ASSERT(system(cmd) == 0);
}

static void test_reads_survive_cut_connections(void)
{
    need_pg();
    start_three("--auto-verify");
    struct dev alice, bob;
    dev_setup(&A, &alice, "Alice Zhang", 5000);
    dev_setup(&A, &bob, "Bob Li", 0);
    char path[64];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld", (long long)alice.account);
    for (int round = 0; round < 3; round++) {
        const struct srv *s = round == 0 ? &A : round == 1 ? &B : &C;
        cut_pg_connections();
        json_t *j = NULL;
        ASSERT_EQ(api(s, &alice, "GET", "/v1/balance", NULL, &j), 200);
        ASSERT_EQ(json_int(j, "available"), 5000 - round);
        json_decref(j);
        cut_pg_connections();
        ASSERT_EQ(api(s, &alice, "GET", "/v1/history", NULL, NULL), 200);
        cut_pg_connections();
        ASSERT_EQ(admin(s, s->token, "GET", path, NULL, NULL), 200);
        cut_pg_connections();
        ASSERT_EQ(api(s, NULL, "GET", "/v1/keys", NULL, NULL), 200);
        /* and a write after the cut commits (the writer's connection too) */
        cut_pg_connections();
        char rid[40];
        new_request_id(rid);
        ASSERT_EQ(apif(s, &alice, "POST", "/v1/transfers", NULL,
                       "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":1}", rid,
                       (long long)bob.account),
                  201);
    }
    stop_three();
}

TESTS(T(test_concurrent_money_three_instances), T(test_double_spend_at_two_instances),
      T(test_kill9_one_instance_mid_load), T(test_reads_survive_cut_connections))
