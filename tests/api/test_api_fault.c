/*
 * test_api_fault.c - storage faults in the middle of money-moving requests.
 * On SQLite a real ducatd is loaded with tests/fault/vfs_fault.c
 * (LD_PRELOAD), which fails the N-th write, fsync or read of the database
 * and WAL files after the test arms it, or makes the disk "full" from the
 * N-th write on. On PostgreSQL (tests/pg/test_api_fault.pg) it is loaded
 * with tests/fault/pq_fault.c, which cuts the database connection at the
 * N-th statement (or pipeline sync) the server sends.
 *
 * For a transfer, a withdrawal and a deposit in turn, and each kind of
 * fault, N runs 1, 2, ... until the request no longer reaches the N-th
 * operation (the fault did not fire). For every N:
 *   - the faulted request gets a success or a clear error: a JSON body
 *     naming a registered error (no hang, no empty 500), or no answer at all
 *     only if ducatd stopped by itself (then it must have exited, not hung,
 *     and it is restarted);
 *   - the server keeps serving: /v1/health answers 200;
 *   - the same request sent again, with the same request id, succeeds (the
 *     retried success), and the money moved exactly once: the payer's
 *     balance is what one transfer, withdrawal or deposit leaves;
 *   - `ducatd audit` passes (conservation, journal = balances).
 * Each test builds its own server and accounts: no order dependence.
 */
#include "test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define N_MAX 400  /* a request that does this many I/O calls is itself a finding */
#define AMOUNT 100 /* minor units moved by each request */
#define FUNDS 10000000

static char ctl[160], fired[180], preload[4096];
static char last_err[64]; /* "STATUS NAME" of the last error answer */

static void set_ctl(const char *kind, long n)
{
    /* a new file each time (rename), so the shim sees a new inode */
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.tmp", ctl);
    FILE *f = fopen(tmp, "w");
    if (!f) FAIL_AT("cannot write %s", tmp);
    fprintf(f, "%s %ld\n", kind, n);
    fclose(f);
    if (rename(tmp, ctl) != 0) FAIL_AT("cannot rename %s", tmp);
}

static int has_fired(void)
{
    struct stat st;
    int yes = stat(fired, &st) == 0 && st.st_size > 0;
    unlink(fired);
    return yes;
}

/* Starts s with the shim loaded (the shim reads DC_FAULT_CTL at start). */
static void start_faulty(struct srv *s)
{
    setenv("LD_PRELOAD", preload, 1);
    setenv("DC_FAULT_CTL", ctl, 1);
    /* an ASan ducatd wants its runtime first; the shim has no ASan */
    setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
    srv_start(s);
    unsetenv("LD_PRELOAD");
    unsetenv("DC_FAULT_CTL");
    unsetenv("ASAN_OPTIONS");
}

static int on_pg(void);

static void setup(struct srv *s)
{
    const char *shim = on_pg() ? "libpqfault.so" : "libvfsfault.so";
    const char *b = getenv("BUILD");
    char cwd[2048];
    if (!b || !*b) b = "build";
    if (b[0] == '/') {
        snprintf(preload, sizeof preload, "%s/tests/%s", b, shim);
    } else {
        if (!getcwd(cwd, sizeof cwd)) FAIL_AT("getcwd failed");
        snprintf(preload, sizeof preload, "%s/%s/tests/%s", cwd, b, shim);
    }
    if (access(preload, R_OK) != 0) FAIL_AT("no %s: make all builds it", preload);
    srv_init(s, "--auto-verify");
    snprintf(ctl, sizeof ctl, "%s/fault.ctl", s->dir);
    snprintf(fired, sizeof fired, "%s.fired", ctl);
    set_ctl("none", 0);
    start_faulty(s);
}

/* After a fault: the server still serves, or it stopped by itself (then it
 * is restarted). Returns 1 if it had stopped. */
static int serving_or_restart(struct srv *s)
{
    json_t *j = NULL;
    int st = api(s, NULL, "GET", "/v1/health", NULL, &j);
    json_decref(j);
    if (st == 200) return 0;
    /* not answering: it must have exited (not hung) within a few seconds */
    for (int i = 0; i < 100; i++) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            printf("# ducatd stopped (%s %d) after a storage fault; restarted\n",
                   WIFEXITED(status) ? "exit" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            ASSERT(WIFEXITED(status)); /* stopped cleanly: exited, not crashed */
            s->pid = 0;
            set_ctl("none", 0);
            start_faulty(s);
            return 1;
        }
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    FAIL_AT("ducatd neither answers /v1/health (status %d) nor exits after a fault", st);
    return 0;
}

/* The faulted answer: a success, or an error body naming a registered
 * error, or no answer (the server stopped: checked by the caller). */
static void clear_answer(int st, const json_t *j, const char *what, const char *kind, long n)
{
    if (st >= 200 && st < 300) return;
    if (st <= 0) return;
    const json_t *name = j ? json_object_get(j, "name") : NULL;
    const json_t *code = j ? json_object_get(j, "code") : NULL;
    if (!json_is_string(name) || !json_is_integer(code)) {
        FAIL_AT("%s with %s fault %ld: status %d without an error body", what, kind, n, st);
    }
    enum dc_err e;
    if (!dc_err_from_code(&e, (int)json_integer_value(code))) {
        FAIL_AT("%s with %s fault %ld: unregistered code %lld", what, kind, n,
                (long long)json_integer_value(code));
    }
    snprintf(last_err, sizeof last_err, "%d %s", st, json_string_value(name));
    if (st < 500) {
        FAIL_AT("%s with %s fault %ld: a storage fault answered %d %s (a refusal, not a "
                "failure)",
                what, kind, n, st, json_string_value(name));
    }
}

struct tally {
    long runs, errors, stops;
    char seen[160]; /* the distinct "STATUS NAME" answers, for the report */
};

/* Counts one faulted answer; remembers its error if new. */
static void count(struct tally *t, int st)
{
    if (st >= 200 && st < 300) return;
    t->errors++;
    if (st > 0 && !strstr(t->seen, last_err) &&
        strlen(t->seen) + strlen(last_err) + 3 < sizeof t->seen) {
        if (t->seen[0]) strcat(t->seen, ", ");
        strcat(t->seen, last_err);
    }
}

static void report(const char *what, const char *kind, const struct tally *t)
{
    printf("# %s, %s faults: %ld injected, %ld clear errors (%s), %ld server stops, all "
           "retried to success, audit clean\n",
           what, kind, t->runs, t->errors, t->seen[0] ? t->seen : "none", t->stops);
}

/* ---- The three operations ------------------------------------------------ */

/* The state of one run: a server, a payer funded with FUNDS, a payee, what
 * has left the payer so far, and the request of the current round. */
static struct run {
    struct srv s;
    struct dev a, b;
    long long out;
    char rid[40], body[160];
    struct coin coin[8];
} R;

/* One money-moving request: begin() prepares the round's request with no
 * fault armed, send() sends it (the same request each time in a round),
 * after() checks the state once the retried request has succeeded (first:
 * the faulted request's answer if it succeeded, else NULL). */
struct op {
    const char *what;
    void (*begin)(void);
    int (*send)(json_t **out);
    void (*after)(const json_t *first, const json_t *retried);
};

static void transfer_begin(void)
{
    new_request_id(R.rid);
    snprintf(R.body, sizeof R.body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%d}", R.rid,
             (long long)R.b.account, AMOUNT);
}

static int transfer_send(json_t **out)
{
    return api(&R.s, &R.a, "POST", "/v1/transfers", R.body, out);
}

static void transfer_after(const json_t *first, const json_t *retried)
{
    (void)first;
    (void)retried;
    R.out += AMOUNT; /* once, however many times it was sent */
    ASSERT_EQ(balance_available(&R.s, &R.a), FUNDS - R.out);
    ASSERT_EQ(balance_available(&R.s, &R.b), R.out);
}

static void withdraw_begin(void)
{
    new_request_id(R.rid);
    snprintf(R.body, sizeof R.body, "{\"request_id\":\"%s\",\"amount\":%d}", R.rid, AMOUNT);
}

static int withdraw_send(json_t **out)
{
    return api(&R.s, &R.a, "POST", "/v1/withdrawals", R.body, out);
}

static void withdraw_after(const json_t *first, const json_t *retried)
{
    /* a retried withdrawal returns the same coins, never a second set */
    const json_t *c2 = json_get(retried, "coins");
    const json_t *c1 = first ? json_object_get(first, "coins") : NULL;
    if (c1) {
        ASSERT_EQ(json_array_size(c1), json_array_size(c2));
        for (size_t i = 0; i < json_array_size(c1); i++) {
            ASSERT_STR(json_string_value(json_array_get(c1, i)),
                       json_string_value(json_array_get(c2, i)));
        }
    }
    R.out += AMOUNT;
    ASSERT_EQ(balance_available(&R.s, &R.a), FUNDS - R.out);
}

/* A fresh coin of AMOUNT (withdrawn with no fault armed), deposited back by
 * its owner. */
static void deposit_begin(void)
{
    size_t nc = 0;
    ASSERT_EQ(withdraw(&R.s, &R.a, AMOUNT, R.coin, 8, &nc, NULL), 201);
    ASSERT_EQ(nc, 1);
    R.out += AMOUNT;
    coin_deposit(&R.coin[0], &R.a, R.a.account);
    new_request_id(R.rid);
}

static int deposit_send(json_t **out)
{
    return deposit(&R.s, &R.a, R.coin, 1, R.rid, out);
}

static void deposit_after(const json_t *first, const json_t *retried)
{
    (void)first;
    /* credited once, held: the available balance is what the withdrawals
     * left; the held credit is checked by the audit */
    ASSERT_EQ(json_int(retried, "credited"), AMOUNT);
    ASSERT_EQ(balance_available(&R.s, &R.a), FUNDS - R.out);
}

static const struct op TRANSFER = {"transfer", transfer_begin, transfer_send, transfer_after};
static const struct op WITHDRAW = {"withdrawal", withdraw_begin, withdraw_send, withdraw_after};
static const struct op DEPOSIT = {"deposit", deposit_begin, deposit_send, deposit_after};

/* The loop of the file header: fault N = 1, 2, ... of `kind` during `op`
 * until the fault no longer fires. */
static void run_under(const struct op *op, const char *kind)
{
    memset(&R, 0, sizeof R);
    setup(&R.s);
    dev_setup(&R.s, &R.a, "Alice Fault", FUNDS);
    dev_setup(&R.s, &R.b, "Bob Fault", 0);
    struct tally t = {0, 0, 0, ""};
    for (long n = 1; n <= N_MAX; n++) {
        op->begin();
        has_fired();
        set_ctl(kind, n);
        json_t *j1 = NULL, *j2 = NULL;
        int st = op->send(&j1);
        set_ctl("none", 0);
        int hit = has_fired();
        clear_answer(st, j1, op->what, kind, n);
        count(&t, st);
        if (serving_or_restart(&R.s)) t.stops++;
        int st2 = op->send(&j2);
        if (st2 < 200 || st2 >= 300) {
            FAIL_AT("%s retried after %s fault %ld: status %d", op->what, kind, n, st2);
        }
        op->after(st >= 200 && st < 300 ? j1 : NULL, j2);
        json_decref(j1);
        json_decref(j2);
        audit_ok(&R.s);
        if (!hit) break;
        t.runs++;
    }
    ASSERT(t.runs > 0);     /* the shim did reach the store */
    ASSERT(t.runs < N_MAX); /* and the operation ends */
    report(op->what, kind, &t);
    srv_cleanup(&R.s);
}

/* The kinds of fault of the backend the suite runs on: SQLite's VFS
 * (tests/fault/vfs_fault.c) or PostgreSQL's connection (pq_fault.c). */
static int on_pg(void)
{
    const char *st = getenv("DUCAT_TEST_STORE");
    return st && strcmp(st, "postgresql") == 0;
}

static const char *const sqlite_kinds[] = {"write", "sync", "read", "full", NULL};
static const char *const pg_kinds[] = {"drop", NULL};

static void each_kind(const struct op *op)
{
    for (const char *const *k = on_pg() ? pg_kinds : sqlite_kinds; *k; k++) run_under(op, *k);
}

static void test_transfer(void)
{
    each_kind(&TRANSFER);
}

static void test_withdraw(void)
{
    each_kind(&WITHDRAW);
}

static void test_deposit(void)
{
    each_kind(&DEPOSIT);
}

TESTS(T(test_transfer), T(test_withdraw), T(test_deposit))
