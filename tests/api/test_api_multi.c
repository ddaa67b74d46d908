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

#define NI 3 /* instances */
#define NU 6 /* users, one client thread each */
#define FUNDS 6000

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

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- Shared client state ----------------------------------------------- */

struct world {
    struct srv inst[NI]; /* copies, so a kill -9 by the test thread races nothing */
    atomic_int dead[NI]; /* instance killed: clients stop choosing it */
    struct dev users[NU];
    pthread_mutex_t mu;
    long long avail[NU], held[NU]; /* what the answers said, booked once each */
    long long ok_transfers, refused, withdrawals, deposits, retries;
    char error[512]; /* first client error; the test thread fails on it */
    int ops;         /* requests per client */
    pthread_barrier_t go;
};

static struct world W;

H_PRINTF(1, 2) static void world_error(const char *fmt, ...)
{
    pthread_mutex_lock(&W.mu);
    if (!W.error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(W.error, sizeof W.error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&W.mu);
}

/*
 * POSTs body to path as d, starting at instance `start`, until an answer
 * that is not 503 and not a lost connection; each retry goes to the next
 * live instance with the same body (same request id). Returns the status,
 * 0 if no instance answered within ~20 s.
 */
static int post_retry(int start, const struct dev *d, const char *path, const char *body,
                      json_t **out)
{
    *out = NULL;
    for (int k = 0; k < 1000; k++) {
        int i = (start + k) % NI;
        if (atomic_load(&W.dead[i])) continue;
        int st = api(&W.inst[i], d, "POST", path, body, out);
        if (st != 0 && st != 503) return st;
        json_decref(*out);
        *out = NULL;
        pthread_mutex_lock(&W.mu);
        W.retries++;
        pthread_mutex_unlock(&W.mu);
        sleep_ms(20);
    }
    return 0;
}

struct client {
    int u;
    unsigned seed;
    struct coin *coins; /* withdrawn, to deposit at the end */
    size_t ncoins, cap;
};

static void do_transfer(struct client *c, int op)
{
    int to = (c->u + 1 + (int)(rand_r(&c->seed) % (NU - 1))) % NU;
    long long amount = 1 + (long long)(rand_r(&c->seed) % 2000);
    char rid[40], body[256];
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%lld}", rid,
             W.users[to].account, amount);
    json_t *j;
    int st = post_retry(c->u + op, &W.users[c->u], "/v1/transfers", body, &j);
    pthread_mutex_lock(&W.mu);
    if (st == 201) {
        W.avail[c->u] -= amount;
        W.avail[to] += amount;
        W.ok_transfers++;
    } else if (st == 409 && j &&
               strcmp(json_string_value(json_object_get(j, "name")), "DC_ERR_INSUFFICIENT_FUNDS") ==
                   0) {
        W.refused++;
    } else if (!W.error[0]) {
        snprintf(W.error, sizeof W.error, "transfer %s: status %d", rid, st);
    }
    pthread_mutex_unlock(&W.mu);
    json_decref(j);
}

static void do_withdraw(struct client *c, int op)
{
    char rid[40], body[128];
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"amount\":100}", rid);
    json_t *j;
    int st = post_retry(c->u + op, &W.users[c->u], "/v1/withdrawals", body, &j);
    if (st == 201) {
        json_t *arr = json_object_get(j, "coins");
        for (size_t k = 0; k < json_array_size(arr) && c->ncoins < c->cap; k++) {
            coin_from_hex(&c->coins[c->ncoins], json_string_value(json_array_get(arr, k)));
            c->ncoins++;
        }
        pthread_mutex_lock(&W.mu);
        W.avail[c->u] -= 100;
        W.withdrawals++;
        pthread_mutex_unlock(&W.mu);
    } else if (!(st == 409 && j &&
                 strcmp(json_string_value(json_object_get(j, "name")),
                        "DC_ERR_INSUFFICIENT_FUNDS") == 0)) {
        world_error("withdrawal %s: status %d", rid, st);
    }
    json_decref(j);
}

static void do_deposits(struct client *c)
{
    for (size_t k = 0; k < c->ncoins; k++) {
        coin_deposit(&c->coins[k], &W.users[c->u], W.users[c->u].account);
        char rid[40];
        new_request_id(rid);
        char *hex = coin_hex(&c->coins[k]);
        size_t blen = strlen(hex) + 128;
        char *body = malloc(blen);
        if (!body) abort();
        snprintf(body, blen, "{\"request_id\":\"%s\",\"coins\":[\"%s\"]}", rid, hex);
        free(hex);
        json_t *j;
        int st = post_retry(c->u + (int)k, &W.users[c->u], "/v1/deposits", body, &j);
        free(body);
        if (st == 201) {
            pthread_mutex_lock(&W.mu);
            W.held[c->u] += json_integer_value(json_object_get(j, "credited"));
            W.deposits++;
            pthread_mutex_unlock(&W.mu);
        } else {
            world_error("deposit %s: status %d", rid, st);
        }
        json_decref(j);
    }
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    pthread_barrier_wait(&W.go);
    for (int op = 0; op < W.ops; op++) {
        if (op % 6 == 5) {
            do_withdraw(c, op);
        } else {
            do_transfer(c, op);
        }
    }
    do_deposits(c);
    return NULL;
}

/* Sets up NU funded users over the three instances and runs the clients;
 * with kill_after_ms > 0 the test thread kill -9s instance B meanwhile. */
static void run_load(int ops, long kill_after_ms)
{
    memset(&W, 0, sizeof W);
    pthread_mutex_init(&W.mu, NULL);
    W.ops = ops;
    struct srv *all[NI] = {&A, &B, &C};
    for (int u = 0; u < NU; u++) {
        char name[32];
        snprintf(name, sizeof name, "User %d", u);
        dev_setup(all[u % NI], &W.users[u], name, FUNDS);
        W.avail[u] = FUNDS;
    }
    for (int i = 0; i < NI; i++) W.inst[i] = *all[i];
    pthread_barrier_init(&W.go, NULL, NU + 1);
    pthread_t th[NU];
    static struct client cl[NU];
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
        sleep_ms(kill_after_ms);
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

/* Every account holds exactly what the answers said, never below zero. */
static void check_books(const struct srv *s)
{
    for (int u = 0; u < NU; u++) {
        json_t *j;
        int st = api(s, &W.users[u], "GET", "/v1/balance", NULL, &j);
        ASSERT_EQ(st, 200);
        long long av = json_int(j, "available"), held = json_int(j, "held");
        json_decref(j);
        ASSERT(av >= 0 && held >= 0);
        if (av != W.avail[u] || held != W.held[u]) {
            FAIL_AT("user %d: available %lld held %lld, the answers say %lld and %lld", u, av, held,
                    W.avail[u], W.held[u]);
        }
    }
}

static void test_concurrent_money_three_instances(void)
{
    need_pg();
    start_three("--auto-verify");
    run_load(36, 0);
    check_books(&A);
    check_books(&C); /* every instance sees the same books */
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
        sleep_ms(20);
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
    check_books(&A);
    check_books(&C);
    audit_ok(&C);
    /* B comes back on the same database and agrees */
    srv_start(&B);
    check_books(&B);
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
