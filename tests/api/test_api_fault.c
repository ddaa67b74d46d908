/*
 * test_api_fault.c - storage faults in the middle of money-moving requests.
 * On SQLite a real ducatd is loaded with tests/fault/vfs_fault.c
 * (LD_PRELOAD), which fails the N-th write, fsync or read of the database
 * and WAL files after the test arms it, or makes the disk "full" from the
 * N-th write on. On PostgreSQL (tests/pg/test_api_fault.pg) it is loaded
 * with tests/fault/pq_fault.c, which cuts the database connection at the
 * N-th statement (or pipeline sync) the server sends ("drop"), or ("kill")
 * holds ducatd at that statement while the test SIGKILLs the PostgreSQL
 * server itself (the postmaster and its backends) and starts it again, so
 * the statement meets a server that died at that step ("killafter": the
 * same once the statement, or the commit, reached the server, so its answer
 * is lost with the server: the uncertain commit), or ("full") makes the N-th
 * statement fail on the server with SQLSTATE 53100, disk_full. Every
 * lost-connection outcome must answer 503 DC_ERR_STORE_RETRY, every disk
 * full 507 DC_ERR_STORE_FULL. The kill runs on a
 * throwaway cluster of its own (initdb'd with tests/with-pg.sh's binaries),
 * so the other suites sharing with-pg.sh's cluster never see it die.
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
 * test_disk_full fills a real file system (a small tmpfs the test mounts,
 * so it needs root) under the store on either backend: the request that
 * meets the full disk must answer 507 DC_ERR_STORE_FULL, write nothing and
 * be counted in ducat_store_full_total; the same request id succeeds once
 * space is freed.
 * Each test builds its own server and accounts: no order dependence.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
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

/* ---- A PostgreSQL cluster of our own, to kill ---------------------------- */

static char own_dir[64];    /* the throwaway cluster's directory; "" if none */
static char *shared_pg_dir; /* with-pg.sh's DC_PG_DIR, restored afterwards */
static long pg_crashes;     /* kills of the server so far, for the report */

static void nap_10ms(void)
{
    nanosleep(&(struct timespec){0, 10000000}, NULL);
}

/* Runs a shell command built from fmt, as the 'postgres' user when root
 * (initdb and postgres refuse root); its exit status. */
H_PRINTF(1, 2) static int pg_sh(const char *fmt, ...)
{
    char cmd[1024], line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (geteuid() == 0) {
        snprintf(line, sizeof line, "runuser -u postgres -- sh -c '%s'", cmd);
    } else {
        snprintf(line, sizeof line, "sh -c '%s'", cmd);
    }
    return system(line);
}

static void own_pg_start(void)
{
    const char *bin = getenv("DC_PG_BIN");
    if (pg_sh("%s/pg_ctl -D %s/data -l %s/server.log -w -t 60 start >/dev/null", bin, own_dir,
              own_dir) != 0) {
        FAIL_AT("the killed PostgreSQL server did not start again (see %s/server.log)", own_dir);
    }
}

/* The pids whose parent is ppid (the postmaster's backends). */
static size_t children_of(pid_t ppid, pid_t *out, size_t cap)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < cap;) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *p = strrchr(buf, ')'); /* the command name may hold anything */
        char state;
        int parent;
        if (p && sscanf(p + 1, " %c %d", &state, &parent) == 2 && parent == (int)ppid) {
            out[n++] = (pid_t)atoi(e->d_name);
        }
    }
    closedir(d);
    return n;
}

/* 1 once pid has exited (gone, or a zombie nobody reaps yet). */
static int dead(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char *p = strrchr(buf, ')');
    return p && (p[2] == 'Z' || p[2] == 'X');
}

/* A crash of the database server: SIGKILL to the postmaster and every
 * backend at once (no shutdown, no checkpoint), then a restart, which runs
 * crash recovery from the WAL. */
static void own_pg_kill_restart(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", own_dir);
    FILE *f = fopen(path, "r");
    int pm = 0;
    if (!f || fscanf(f, "%d", &pm) != 1 || pm <= 1) FAIL_AT("no postmaster pid in %s", path);
    fclose(f);
    pid_t kids[128];
    size_t n = children_of((pid_t)pm, kids, 128);
    kill((pid_t)pm, SIGKILL);
    for (size_t i = 0; i < n; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < 500 && !dead((pid_t)pm); i++) nap_10ms();
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 500 && !dead(kids[i]); k++) nap_10ms();
    }
    if (!dead((pid_t)pm)) FAIL_AT("the postmaster %d survived SIGKILL", pm);
    /* an unreaped zombie keeps its pid alive for kill(pid, 0): the lock
     * files of a postmaster known dead are removed as an operator would */
    unlink(path);
    char sock[128];
    snprintf(sock, sizeof sock, "%s/.s.PGSQL.5432.lock", own_dir);
    unlink(sock);
    own_pg_start();
    f = fopen(path, "r");
    int again = 0;
    if (!f || fscanf(f, "%d", &again) != 1 || again == pm) {
        FAIL_AT("no new postmaster after the kill of %d", pm);
    }
    fclose(f);
    pg_crashes++;
}

static void small_fs_drop(void);

static void own_pg_stop(void)
{
    if (!own_dir[0]) return;
    pg_sh("%s/pg_ctl -D %s/data -m immediate -w -t 30 stop >/dev/null 2>&1", getenv("DC_PG_BIN"),
          own_dir);
    small_fs_drop(); /* test_disk_full's tablespace, if mounted in own_dir */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", own_dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", own_dir);
    own_dir[0] = '\0';
    if (shared_pg_dir) {
        setenv("DC_PG_DIR", shared_pg_dir, 1);
        free(shared_pg_dir);
        shared_pg_dir = NULL;
    }
}

/* initdb + start a cluster in a new directory, listening on a unix socket
 * there only, and point the harness at it (DC_PG_DIR) until own_pg_stop. */
static void own_pg_setup(void)
{
    own_pg_stop(); /* one a failed test left running */
    const char *bin = getenv("DC_PG_BIN"), *shared = getenv("DC_PG_DIR");
    if (!bin || !shared) FAIL_AT("DC_PG_BIN/DC_PG_DIR not set: run under tests/with-pg.sh");
    snprintf(own_dir, sizeof own_dir, "/tmp/ducat-pgkill-XXXXXX");
    if (!mkdtemp(own_dir)) FAIL_AT("mkdtemp: %s", own_dir);
    atexit(own_pg_stop);
    if (geteuid() == 0) {
        const struct passwd *pw = getpwnam("postgres");
        if (!pw || chown(own_dir, pw->pw_uid, pw->pw_gid) != 0) {
            FAIL_AT("running as root but cannot hand %s to a 'postgres' user", own_dir);
        }
    }
    if (pg_sh("%s/initdb -D %s/data -U ducat --auth=trust -E UTF8 --no-sync >%s/initdb.log 2>&1",
              bin, own_dir, own_dir) != 0) {
        FAIL_AT("initdb failed (see %s/initdb.log)", own_dir);
    }
    char conf[128];
    snprintf(conf, sizeof conf, "%s/data/postgresql.conf", own_dir);
    FILE *f = fopen(conf, "a");
    if (!f) FAIL_AT("cannot append to %s", conf);
    /* fsync off: the test kills processes, not the machine, so what a
     * killed server wrote is in the kernel's page cache and crash recovery
     * sees it exactly as with fsync; without the flushes each of the ~120
     * restarts (recovery ends with a checkpoint) takes a fraction of the
     * time. Commits still wait for their WAL write (synchronous_commit). */
    fprintf(f,
            "listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\n"
            "synchronous_commit = on\nmax_connections = 100\ndeadlock_timeout = 100ms\n",
            own_dir);
    fclose(f);
    own_pg_start();
    shared_pg_dir = strdup(shared);
    setenv("DC_PG_DIR", own_dir, 1);
}

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
    long reruns;    /* rounds whose request the writer ran again in a new transaction */
    long long full; /* answers 507 DC_ERR_STORE_FULL since the last (re)start */
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
    printf("# %s, %s faults: %ld injected, %ld clear errors (%s), %ld server stops, %ld run again "
           "by the writer, all retried to success, audit clean\n",
           what, kind, t->runs, t->errors, t->seen[0] ? t->seen : "none", t->stops, t->reruns);
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
    /* its /metrics counter, one a request that ran; NULL: not checked */
    const char *counter;
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

static const struct op TRANSFER = {"transfer", transfer_begin, transfer_send, transfer_after,
                                   "ducat_transfers_total"};
/* Withdrawals are not counted exactly yet: on PostgreSQL, drop fault 1, a
 * withdrawal is counted twice (its handler runs on a worker and counts
 * when withdraw_fn ran in any attempt of its job, also one the writer re-ran
 * only to find the stored answer). */
static const struct op WITHDRAW = {"withdrawal", withdraw_begin, withdraw_send, withdraw_after,
                                   NULL};
static const struct op DEPOSIT = {"deposit", deposit_begin, deposit_send, deposit_after,
                                  "ducat_deposits_total"};

/* The request of a round, sent from its own thread while the main one
 * waits for the shim to hold ducatd at the N-th statement. */
struct sender {
    const struct op *op;
    json_t *answer;
    int status;
    atomic_int done;
};

static void *send_thread(void *arg)
{
    struct sender *snd = arg;
    snd->status = snd->op->send(&snd->answer);
    atomic_store(&snd->done, 1);
    return NULL;
}

/* Sends op's request with ducatd held at its N-th statement (hold is
 * "hold": before the statement reaches the server, or "holdafter": after
 * it did, its answer not yet read); once held, kills the PostgreSQL
 * server and starts it again, then lets ducatd go on. Returns the request's
 * status (its answer in *out). */
static int send_killing_pg(const struct op *op, const char *hold, long n, json_t **out)
{
    struct sender snd = {.op = op, .answer = NULL, .status = 0};
    atomic_init(&snd.done, 0);
    pthread_t th;
    set_ctl(hold, n);
    if (pthread_create(&th, NULL, send_thread, &snd) != 0) FAIL_AT("pthread_create failed");
    struct stat st;
    int held = 0;
    for (int i = 0; i < 3000 && !atomic_load(&snd.done); i++) { /* 30 s */
        if (stat(fired, &st) == 0 && st.st_size > 0) {
            held = 1;
            break;
        }
        nap_10ms();
    }
    if (held) own_pg_kill_restart();
    set_ctl("none", 0); /* releases the held statement */
    pthread_join(th, NULL);
    *out = snd.answer;
    return snd.status;
}

static int on_pg(void);

/* The loop of the file header: fault N = 1, 2, ... of `kind` during `op`
 * until the fault no longer fires. */
static void run_under(const struct op *op, const char *kind)
{
    memset(&R, 0, sizeof R);
    int kill_pg = strcmp(kind, "kill") == 0 || strcmp(kind, "killafter") == 0;
    pg_crashes = 0;
    if (kill_pg) own_pg_setup();
    setup(&R.s);
    dev_setup(&R.s, &R.a, "Alice Fault", FUNDS);
    dev_setup(&R.s, &R.b, "Bob Fault", 0);
    struct tally t = {0, 0, 0, 0, 0, ""};
    for (long n = 1; n <= N_MAX; n++) {
        op->begin();
        has_fired();
        long long ran0 = op->counter ? srv_metric(&R.s, op->counter) : 0;
        long long replays0 = srv_metric(&R.s, "ducat_idempotent_replays_total");
        long long retries0 = srv_metric(&R.s, "ducat_store_retries_total");
        json_t *j1 = NULL, *j2 = NULL;
        int st;
        if (kill_pg) {
            st = send_killing_pg(op, strcmp(kind, "kill") == 0 ? "hold" : "holdafter", n, &j1);
        } else {
            set_ctl(kind, n);
            st = op->send(&j1);
            set_ctl("none", 0);
        }
        int hit = has_fired();
        clear_answer(st, j1, op->what, kind, n);
        count(&t, st);
        if (strcmp(kind, "full") == 0 && st > 0 && (st < 200 || st >= 300)) {
            /* a full disk is told apart from other storage failures, so an
             * operator can alert on it: its own error and its own counter */
            if (st != 507 || strcmp(last_err, "507 DC_ERR_STORE_FULL") != 0) {
                FAIL_AT("%s with the disk full from write %ld: answered %s, not 507 "
                        "DC_ERR_STORE_FULL",
                        op->what, n, last_err);
            }
            t.full++;
            ASSERT_EQ(srv_metric(&R.s, "ducat_store_full_total"), t.full);
        }
        if (on_pg() && strcmp(kind, "full") != 0 && st > 0 && (st < 200 || st >= 300) &&
            strcmp(last_err, "503 DC_ERR_STORE_RETRY") != 0) {
            /* a lost connection, or a server that died, has one answer: try
             * again (the same request id finds its own outcome) */
            FAIL_AT("%s with %s fault %ld: answered %s, not 503 DC_ERR_STORE_RETRY", op->what, kind,
                    n, last_err);
        }
        int first_ok = st >= 200 && st < 300;
        if (serving_or_restart(&R.s)) {
            t.stops++;
            t.full = 0; /* a new process counts from 0 */
            ran0 = replays0 = retries0 = 0;
            first_ok = 0; /* its counts went with the old process */
        }
        int st2 = op->send(&j2);
        if (st2 < 200 || st2 >= 300) {
            FAIL_AT("%s retried after %s fault %ld: status %d", op->what, kind, n, st2);
        }
        /* Counted once, when its answer was final: never for a run in a
         * transaction that failed (the writer runs a batch that lost its
         * connection again; a client sends a request again after an
         * error). The request sent twice ran once and was replayed once;
         * or its first try failed and the second ran it; or the first
         * committed although it answered an error, and the second is a
         * replay of it. */
        long long ran = op->counter ? srv_metric(&R.s, op->counter) - ran0 : 1;
        long long replays = srv_metric(&R.s, "ducat_idempotent_replays_total") - replays0;
        if (op->counter && (first_ok ? ran != 1 || replays != 1 : ran + replays != 1)) {
            FAIL_AT("%s with %s fault %ld (answered %d, then %d): %s counted %lld, replays %lld",
                    op->what, kind, n, st, st2, op->counter, ran, replays);
        }
        if (hit && op->counter && ran == 1 &&
            srv_metric(&R.s, "ducat_store_retries_total") > retries0) {
            t.reruns++;
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
    if (op->counter)
        printf("# %s, %s faults: %s counted once a request\n", op->what, kind, op->counter);
    if (kill_pg) {
        printf("# %s: the PostgreSQL server was killed and restarted %ld times\n", op->what,
               pg_crashes);
        ASSERT_EQ(pg_crashes, t.runs);
        pg_crashes = 0;
    }
    srv_cleanup(&R.s);
    if (kill_pg) own_pg_stop();
}

/* The kinds of fault of the backend the suite runs on: SQLite's VFS
 * (tests/fault/vfs_fault.c) or PostgreSQL's connection (pq_fault.c). */
static int on_pg(void)
{
    const char *st = getenv("DUCAT_TEST_STORE");
    return st && strcmp(st, "postgresql") == 0;
}

static const char *const sqlite_kinds[] = {"write", "sync", "read", "full", NULL};
static const char *const pg_kinds[] = {"drop", "kill", "killafter", "full", NULL};

static void each_kind(const struct op *op)
{
    /* DUCAT_FAULT_KIND=K runs only kind K (a developer's filter, like
     * DUCAT_TEST_ONLY; make check never sets it) */
    const char *only = getenv("DUCAT_FAULT_KIND");
    for (const char *const *k = on_pg() ? pg_kinds : sqlite_kinds; *k; k++) {
        if (!only || strcmp(only, *k) == 0) run_under(op, *k);
    }
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

/* ---- A real full disk ---------------------------------------------------- */

static char small_fs[96]; /* a mounted 4 MiB tmpfs, "" if none */

static void small_fs_drop(void)
{
    if (!small_fs[0]) return;
    /* detached at once even if a server still holds it (at exit after a
     * failure): the kernel frees it when the last file on it is closed */
    if (umount2(small_fs, MNT_DETACH) != 0) {
        printf("# could not unmount %s: %s\n", small_fs, strerror(errno));
    }
    rmdir(small_fs);
    small_fs[0] = '\0';
}

/* Mounts a 4 MiB tmpfs at under/small (a file system that really fills:
 * ENOSPC from the kernel, not from a shim). Needs root (CAP_SYS_ADMIN): a
 * test run without it fails here, by name, rather than pass untested. */
static void small_fs_mount(const char *under)
{
    snprintf(small_fs, sizeof small_fs, "%s/small", under);
    if (mkdir(small_fs, 0755) != 0) FAIL_AT("mkdir %s: %s", small_fs, strerror(errno));
    if (mount("ducat-full", small_fs, "tmpfs", 0, "size=4m,mode=0755") != 0) {
        int err = errno;
        rmdir(small_fs);
        small_fs[0] = '\0';
        FAIL_AT("the disk-full test mounts a small tmpfs and needs root: mount: %s", strerror(err));
    }
    atexit(small_fs_drop);
}

/* Fills the small file system to the last byte with one file (OUT: path). */
static void fill(char *path, size_t cap)
{
    snprintf(path, cap, "%s/filler", small_fs);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) FAIL_AT("open %s: %s", path, strerror(errno));
    static char block[4096];
    while (write(fd, block, sizeof block) > 0) {
    }
    while (write(fd, block, 1) > 0) { /* the last bytes of a partial page */
    }
    close(fd);
}

/* The store on a file system that fills up for real: on SQLite the
 * database file lives on the small tmpfs; on PostgreSQL (a cluster of our
 * own) every table and index of ducatd's database does (a tablespace there,
 * the default one), while the WAL stays on a disk with room, as an operator
 * would lay it out. Transfers run until the disk is full; the one that
 * meets it must answer 507 DC_ERR_STORE_FULL, move nothing, be counted in
 * ducat_store_full_total, and leave ducatd serving; once space is freed
 * the same request id moves the money once and the audit passes. */
static void test_disk_full(void)
{
    char extra[256];
    memset(&R, 0, sizeof R);
    if (on_pg()) {
        own_pg_setup();
        small_fs_mount(own_dir);
        const struct passwd *pw = getpwnam("postgres");
        if (geteuid() == 0 && (!pw || chown(small_fs, pw->pw_uid, pw->pw_gid) != 0)) {
            FAIL_AT("cannot hand %s to the 'postgres' user", small_fs);
        }
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "'%s/psql' -q -X -v ON_ERROR_STOP=1 -h '%s' -U ducat -d postgres "
                 "-c \"CREATE TABLESPACE small LOCATION '%s'\" "
                 "-c \"ALTER SYSTEM SET default_tablespace = 'small'\" "
                 "-c \"SELECT pg_reload_conf()\" >/dev/null",
                 getenv("DC_PG_BIN"), own_dir, small_fs);
        if (system(cmd) != 0) FAIL_AT("could not put a tablespace on %s", small_fs);
        extra[0] = '\0';
    } else {
        char dir[] = "/tmp/ducat-full-XXXXXX";
        if (!mkdtemp(dir)) FAIL_AT("mkdtemp failed");
        small_fs_mount(dir);
        snprintf(extra, sizeof extra, "--store sqlite:%s/ducat.db", small_fs);
    }
    srv_init(&R.s, extra[0] ? extra : NULL);
    srv_start(&R.s);
    dev_setup(&R.s, &R.a, "Alice Full", FUNDS);
    dev_setup(&R.s, &R.b, "Bob Full", 0);
    char filler[160];
    fill(filler, sizeof filler);

    json_t *j = NULL;
    int st = 0;
    long moved = 0;
    for (int i = 0; i < 5000; i++) {
        transfer_begin();
        st = transfer_send(&j);
        if (st != 201 && st != 200) break;
        json_decref(j);
        j = NULL;
        moved++;
    }
    /* the answer names the problem; nothing of the request was written */
    if (st != 507) FAIL_AT("the transfer that met a full disk answered %d", st);
    ASSERT_STR(json_str(j, "name"), "DC_ERR_STORE_FULL");
    json_decref(j);
    j = NULL;
    printf("# disk full after %ld transfers: 507 DC_ERR_STORE_FULL\n", moved);
    ASSERT_EQ(srv_metric(&R.s, "ducat_store_full_total"), 1);
    ASSERT_EQ(api(&R.s, NULL, "GET", "/v1/health", NULL, NULL), 200);
    ASSERT_EQ(balance_available(&R.s, &R.a), FUNDS - moved * AMOUNT);
    ASSERT_EQ(balance_available(&R.s, &R.b), moved * AMOUNT);

    /* the operator frees space; the client retries with the same id */
    unlink(filler);
    st = transfer_send(&j);
    if (st != 201 && st != 200) FAIL_AT("the retry after space was freed answered %d", st);
    json_decref(j);
    R.out = (moved + 1) * AMOUNT;
    ASSERT_EQ(balance_available(&R.s, &R.a), FUNDS - R.out);
    ASSERT_EQ(balance_available(&R.s, &R.b), R.out);
    audit_ok(&R.s);
    srv_cleanup(&R.s);
    if (on_pg()) own_pg_stop(); /* stops the server, then unmounts */
    char parent[96];
    snprintf(parent, sizeof parent, "%s", small_fs);
    small_fs_drop();
    if (!on_pg()) {
        char *slash = strrchr(parent, '/');
        if (slash) *slash = '\0';
        rmdir(parent);
    }
}

TESTS(T(test_transfer), T(test_withdraw), T(test_deposit), T(test_disk_full))
