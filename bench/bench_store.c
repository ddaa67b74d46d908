/*
 * bench_store.c - the store under the server's write patterns, on SQLite and
 * on PostgreSQL in one run, each next to the raw durable-commit rate of its
 * engine (`make bench-store`: tests/with-pg.sh provides a throwaway
 * PostgreSQL cluster with fsync on).
 *
 * For each engine:
 *   raw commit    a bare loop of one-row INSERT + durable COMMIT through the
 *                 engine's own client library: the ceiling for one commit
 *                 per request (fsync bound).
 *   transfer x1   what the writer does for one POST /v1/transfers, one per
 *                 transaction: savepoint, request-id lookup, the ledger's
 *                 transfer (two account reads, the posting with both
 *                 balance moves), the stored answer, release, commit.
 *   transfer x100 the same, 100 per transaction (group commit).
 *                 On PostgreSQL also the client backends' CPU per transfer
 *                 against their CPU per raw commit (/proc, bench/pg_cpu.h):
 *                 the server's work, which fsync's noise does not blur.
 *   deposit x100  the store calls of dc_ledger_deposit for one 3-hop coin:
 *                 the prefetch of its 4 states, hold (inserted, then given
 *                 its deposit id), deposited chain (600 bytes), 4
 *                 consumed-state claims each with its case lookup, the
 *                 coin's deposited sum, the posting, the hold read back;
 *                 the posting; 100 per transaction.
 * Every figure is printed with its ratio to the engine's raw commit rate;
 * machines are shared and noisy, so read ratios, not absolute numbers.
 * On PostgreSQL also the WAL bytes and the round trips (waits for the
 * server, dc_store_round_trips) per transfer and per deposited coin: they
 * do not depend on the machine's load. The single transfers start over
 * 1000 accounts the write connection has not read yet (after a restart).
 */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg_cpu.h"
#include "server/ledger/ledger.h"
#include "store/store.h"

#define USERS 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, why);
    exit(1);
}

static void check(enum dc_err e, struct dc_store *st, const char *what)
{
    if (e != DC_OK) die(what, st ? st->ops->errmsg(st) : dc_err_str(e));
}

/* ---- Raw engine commit loops --------------------------------------------- */

static double raw_sqlite(const char *path, int n)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) die("sqlite open", path);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                 "CREATE TABLE IF NOT EXISTS raw(id INTEGER PRIMARY KEY, v INTEGER)",
                 NULL, NULL, NULL);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(db, "INSERT INTO raw(v) VALUES (?1)", -1, &q, NULL);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_bind_int(q, 1, i);
        if (sqlite3_step(q) != SQLITE_DONE) die("sqlite raw insert", sqlite3_errmsg(db));
        sqlite3_reset(q);
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) die("commit", "sqlite");
    }
    double rate = n / (now_s() - t0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rate;
}

static double raw_pg_cpu_us; /* client backend CPU per commit of the last raw_pg */

static double raw_pg(const char *dsn, int n)
{
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) die("pg connect", PQerrorMessage(c));
    PQclear(PQexec(c, "CREATE TABLE IF NOT EXISTS raw(id BIGINT GENERATED ALWAYS AS IDENTITY "
                      "PRIMARY KEY, v BIGINT)"));
    PQclear(PQprepare(c, "ins", "INSERT INTO raw(v) VALUES ($1)", 0, NULL));
    /* measured while its backend lives: an exited one's CPU is no longer
     * a client backend's (bench/pg_cpu.h) */
    double c0 = bench_pg_cpu_s(getenv("DC_PG_DIR"), 1);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *p[1] = {v};
        PGresult *r = PQexecPrepared(c, "ins", 1, p, NULL, NULL, 0); /* autocommit */
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die("pg raw insert", PQerrorMessage(c));
        PQclear(r);
    }
    double rate = n / (now_s() - t0);
    raw_pg_cpu_us = (bench_pg_cpu_s(getenv("DC_PG_DIR"), 1) - c0) / n * 1e6;
    PQfinish(c);
    return rate;
}

/* ---- The store ----------------------------------------------------------- */

static uint64_t counter;

static void setup(struct dc_store *st)
{
    check(st->ops->begin(st, 1), st, "begin");
    check(dc_ledger_bootstrap(st, 1), st, "bootstrap");
    for (int i = 0; i < USERS; i++) {
        struct dc_account a;
        memset(&a, 0, sizeof a);
        a.kind = DC_ACCT_USER;
        a.status = DC_ACCT_VERIFIED;
        snprintf(a.name, sizeof a.name, "user %d", i);
        for (int k = 0; k < 4; k++) a.device_pub[k] = (uint8_t)(i >> (8 * k));
        a.device_pub[31] = 1;
        for (int k = 0; k < 4; k++) a.alias[k] = (uint8_t)(i >> (8 * k));
        a.alias[7] = 1;
        a.offline_limit = 1000000;
        a.created_at = 1;
        check(st->ops->account_insert(st, &a), st, "account");
        int64_t id;
        check(dc_ledger_fund(st, NULL, 1, a.id, 1000000000, 0, &id, NULL, 0), st, "fund");
    }
    check(st->ops->commit(st), st, "commit");
}

/* One transfer job as the writer runs it for POST /v1/transfers. */
static void transfer_job(struct dc_store *st, unsigned *seed)
{
    int64_t from = DC_ACCT_ID_FIRST_USER + (int64_t)(rand_r(seed) % USERS);
    int64_t to = DC_ACCT_ID_FIRST_USER + (int64_t)(rand_r(seed) % USERS);
    if (to == from) to = from == DC_ACCT_ID_FIRST_USER ? from + 1 : from - 1;
    int64_t amount = 1 + (int64_t)(rand_r(seed) % 100), id, avail;
    struct dc_request_rec rec;
    memset(&rec, 0, sizeof rec);
    rec.account = from;
    /* time-ordered request ids, as clients are advised to use */
    snprintf(rec.request_id, sizeof rec.request_id, "b-%016llx", (unsigned long long)++counter);
    rec.will_put = 1; /* as the writer's idempotent job asks */
    check(st->ops->savepoint(st), st, "savepoint");
    enum dc_err e = st->ops->request_get(st, &rec);
    if (e != DC_ERR_NOT_FOUND) die("request_get", "expected a miss");
    check(dc_ledger_transfer(st, NULL, 2, from, &to, &amount, NULL, 1, &id, &avail, NULL, 0), st,
          "transfer");
    rec.status = 201;
    check(st->ops->request_put(st, &rec, "{\"transfer_id\":1,\"available\":1}"), st, "put");
    check(st->ops->release(st), st, "release");
}

static double transfers(struct dc_store *st, int batches, int per_batch)
{
    unsigned seed = 7;
    double t0 = now_s();
    for (int b = 0; b < batches; b++) {
        check(st->ops->begin(st, 1), st, "begin");
        for (int i = 0; i < per_batch; i++) transfer_job(st, &seed);
        check(st->ops->commit(st), st, "commit");
    }
    return batches * per_batch / (now_s() - t0);
}

/* Issued coins to deposit: inserted before the clock starts. */
static void make_coins(struct dc_store *st, uint64_t first, int n)
{
    check(st->ops->begin(st, 1), st, "begin");
    for (int i = 0; i < n; i++) {
        struct dc_coin_rec c;
        memset(&c, 0, sizeof c);
        uint64_t k = first + (uint64_t)i;
        for (int j = 0; j < 8; j++) c.serial[j] = (uint8_t)(k >> (56 - 8 * j));
        c.value = 1000;
        c.account = DC_ACCT_ID_FIRST_USER;
        c.withdrawal = 1;
        c.expires_at = 1ull << 50;
        check(st->ops->coin_insert(st, &c), st, "coin");
    }
    check(st->ops->commit(st), st, "commit");
}

/* prefetch 0: the same calls without deposit_prefetch (the store answers
 * each one by itself: the path before the prefetch, for comparison). */
static double deposits(struct dc_store *st, uint64_t first, int batches, int per_batch,
                       int prefetch)
{
    static uint8_t chain[600];
    memset(chain, 0xa5, sizeof chain);
    double t0 = now_s();
    uint64_t k = first;
    for (int b = 0; b < batches; b++) {
        check(st->ops->begin(st, 1), st, "begin");
        for (int i = 0; i < per_batch; i++, k++) {
            int64_t acct = DC_ACCT_ID_FIRST_USER + (int64_t)(k % USERS);
            check(st->ops->savepoint(st), st, "savepoint");
            struct dc_account a;
            check(st->ops->account_get(st, &a, DC_BY_ID, acct, NULL), st, "account");
            struct dc_claim_key keys[4];
            for (int s = 0; s < 4; s++) {
                memset(&keys[s], 0, sizeof keys[s]);
                for (int j = 0; j < 8; j++) keys[s].serial[j] = (uint8_t)(k >> (56 - 8 * j));
                memset(keys[s].state, s, sizeof keys[s].state);
            }
            if (prefetch) check(dc_store_deposit_prefetch(st, keys, 4), st, "prefetch");
            struct dc_hold h;
            memset(&h, 0, sizeof h);
            h.account = acct;
            h.amount = 1000;
            h.release_at = 1ull << 50;
            h.created_at = 3;
            check(st->ops->hold_put(st, &h), st, "hold");
            h.deposit = h.id;
            check(st->ops->hold_put(st, &h), st, "hold deposit id");
            struct dc_dcoin d;
            memset(&d, 0, sizeof d);
            d.deposit = h.id;
            d.account = acct;
            for (int j = 0; j < 8; j++) d.serial[j] = (uint8_t)(k >> (56 - 8 * j));
            d.chain = chain;
            d.chain_len = sizeof chain;
            d.amount = 1000;
            d.hold = h.id;
            check(st->ops->dcoin_insert(st, &d), st, "dcoin");
            for (int s = 0; s < 4; s++) {
                uint8_t state[DC_HASH_BYTES], succ[DC_HASH_BYTES], had[DC_HASH_BYTES];
                memset(state, s, sizeof state);
                memset(succ, s + 1, sizeof succ);
                int ins;
                check(st->ops->state_claim(st, d.serial, state, succ, d.id, &ins, had), st,
                      "claim");
                if (!ins) die("claim", "state already consumed");
                struct dc_case c;
                if (st->ops->case_get(st, &c, 0, d.serial, state) != DC_ERR_NO_CASE) {
                    die("case", "a case where none is");
                }
            }
            check(st->ops->coin_add_deposited(st, d.serial, 1000), st, "deposited");
            struct dc_posting p;
            memset(&p, 0, sizeof p);
            p.time = 3;
            p.debit = DC_ACCT_ID_FLOAT;
            p.credit = acct;
            p.credit_bucket = DC_BUCKET_HELD;
            p.amount = 1000;
            snprintf(p.kind, sizeof p.kind, "deposit");
            check(st->ops->post(st, &p), st, "post");
            check(st->ops->hold_get(st, &h, h.id), st, "hold read");
            check(st->ops->release(st), st, "release");
        }
        check(st->ops->commit(st), st, "commit");
    }
    return batches * per_batch / (now_s() - t0);
}

/* ---- Where the PostgreSQL time goes ---------------------------------------
 *
 * The transfer job's statements (savepoint, request lookup, two account
 * reads, the posting with both balance moves, the stored answer, release)
 * sent by hand through libpq on the store's schema, so that one factor
 * changes at a time: isolation (SERIALIZABLE or REPEATABLE READ), round
 * trips (one per statement, or the job's statements pipelined behind one
 * sync: the server's work plus one round trip) and per-job savepoints.
 */

#define PROF_POST                                                                                  \
    "WITH j AS (INSERT INTO journal(time, debit, debit_bucket, credit, credit_bucket, amount, "    \
    "kind, ref) VALUES (2, $1, 0, $2, 0, $3, 'transfer', 'p') RETURNING id), "                     \
    "u AS (UPDATE accounts SET available = available + (CASE WHEN id = $2 THEN $3 ELSE 0 END) "    \
    "- (CASE WHEN id = $1 THEN $3 ELSE 0 END) WHERE id IN ($1, $2) RETURNING id) "                 \
    "SELECT (SELECT id FROM j), (SELECT count(*) FROM u)"

static void pq_ok(PGconn *c, PGresult *r, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_SYNC) {
        die(what, PQerrorMessage(c));
    }
    PQclear(r);
}

/* In pipeline mode: sends a statement (prepared name or utility text). */
static void p_send(PGconn *c, const char *name, const char *sql, int n, const char *const *v)
{
    int ok = name ? PQsendQueryPrepared(c, name, n, v, NULL, NULL, 1)
                  : PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 1);
    if (!ok) die("send", PQerrorMessage(c));
}

/* In pipeline mode: syncs and reads every result up to the sync. */
static void p_sync(PGconn *c)
{
    if (!PQpipelineSync(c)) die("sync", PQerrorMessage(c));
    for (;;) {
        PGresult *r = PQgetResult(c);
        if (!r) continue; /* end of one statement's results */
        int sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        pq_ok(c, r, "pipelined statement");
        if (sync) return;
    }
}

static void x_exec(PGconn *c, int pipe, const char *name, const char *sql, int n,
                   const char *const *v)
{
    if (pipe) {
        p_send(c, name, sql, n, v);
    } else if (name) {
        pq_ok(c, PQexecPrepared(c, name, n, v, NULL, NULL, 1), name);
    } else {
        pq_ok(c, PQexec(c, sql), sql);
    }
}

static double profile_pg(const char *dsn, int batches, int per, int serializable, int pipe,
                         int savepoints)
{
    static unsigned long long prof_counter;
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) die("pg connect", PQerrorMessage(c));
    pq_ok(c, PQexec(c, "SET enable_seqscan = off"), "set");
    pq_ok(c,
          PQprepare(c, "rget",
                    "SELECT body_hash, status, response FROM requests "
                    "WHERE account = $1 AND request_id = $2",
                    0, NULL),
          "prep");
    pq_ok(c,
          PQprepare(c, "acct",
                    "SELECT id, kind, status, available, held FROM accounts "
                    "WHERE id = $1",
                    0, NULL),
          "prep");
    pq_ok(c, PQprepare(c, "post", PROF_POST, 0, NULL), "prep");
    pq_ok(c,
          PQprepare(c, "rput",
                    "INSERT INTO requests(account, request_id, body_hash, status, "
                    "response, created_at) VALUES ($1, $2, '\\x00', 201, '{}', 2)",
                    0, NULL),
          "prep");
    if (pipe && !PQenterPipelineMode(c)) die("pipeline", PQerrorMessage(c));
    const char *begin = serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                                     : "BEGIN ISOLATION LEVEL REPEATABLE READ";
    unsigned seed = 11;
    double t0 = now_s();
    for (int b = 0; b < batches; b++) {
        x_exec(c, pipe, NULL, begin, 0, NULL);
        for (int i = 0; i < per; i++) {
            long from = DC_ACCT_ID_FIRST_USER + (long)(rand_r(&seed) % USERS);
            long to = DC_ACCT_ID_FIRST_USER + (long)(rand_r(&seed) % USERS);
            if (to == from) to = from == DC_ACCT_ID_FIRST_USER ? from + 1 : from - 1;
            char f[24], t[24], amt[24], rid[40];
            snprintf(f, sizeof f, "%ld", from);
            snprintf(t, sizeof t, "%ld", to);
            snprintf(amt, sizeof amt, "%d", 1 + rand_r(&seed) % 100);
            snprintf(rid, sizeof rid, "p-%016llx", ++prof_counter);
            const char *rq[2] = {f, rid}, *pf[1] = {f}, *pt[1] = {t}, *pp[3] = {f, t, amt};
            if (savepoints) x_exec(c, pipe, NULL, "SAVEPOINT job", 0, NULL);
            x_exec(c, pipe, "rget", NULL, 2, rq);
            x_exec(c, pipe, "acct", NULL, 1, pf);
            x_exec(c, pipe, "acct", NULL, 1, pt);
            x_exec(c, pipe, "post", NULL, 3, pp);
            x_exec(c, pipe, "rput", NULL, 2, rq);
            if (savepoints) x_exec(c, pipe, NULL, "RELEASE SAVEPOINT job", 0, NULL);
            if (pipe) p_sync(c);
        }
        x_exec(c, pipe, NULL, "COMMIT", 0, NULL);
        if (pipe) p_sync(c);
    }
    double rate = batches * per / (now_s() - t0);
    PQfinish(c);
    return rate;
}

static void profile(const char *dsn, double raw)
{
    static const struct {
        int per, ser, pipe, sp;
    } runs[] = {
        {1, 1, 0, 1},   {1, 0, 0, 1},   {1, 1, 1, 1},   {1, 1, 0, 0},
        {100, 1, 0, 1}, {100, 0, 0, 1}, {100, 1, 1, 1}, {100, 0, 1, 1},
        {100, 1, 0, 0}, {100, 1, 1, 0}, {100, 0, 1, 0},
    };
    printf("postgresql profile: the transfer job's statements by hand (libpq)\n");
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        int per = runs[i].per, batches = per == 1 ? 1500 : 100;
        double r = profile_pg(dsn, batches, per, runs[i].ser, runs[i].pipe, runs[i].sp);
        printf("  x%-3d %-12s %-22s %-13s %9.0f /s  (%.2fx raw commit)\n", per,
               runs[i].ser ? "SERIALIZABLE" : "REPEATABLE R",
               runs[i].pipe ? "pipelined, 1 RT/job" : "1 round trip/statement",
               runs[i].sp ? "savepoints" : "no savepoints", r, r / raw);
    }
}

/* PostgreSQL's WAL position in bytes (0 for SQLite: c is NULL). */
static double wal_pos(PGconn *c)
{
    if (!c) return 0;
    PGresult *r = PQexec(c, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die("wal position", PQerrorMessage(c));
    double v = strtod(PQgetvalue(r, 0, 0), NULL);
    PQclear(r);
    return v;
}

/* raw(): the engine's raw commit rate, measured before and after its runs:
 * the disk is shared, and a ratio to one measurement taken minutes apart
 * says more about the neighbours than about the store. */
static void engine(const char *label, const char *url, double (*raw)(const char *, int),
                   const char *raw_arg)
{
    struct dc_store *st;
    char err[512];
    PGconn *pg = NULL;
    if (strncmp(url, "postgres", 8) == 0) {
        pg = PQconnectdb(url);
        if (PQstatus(pg) != CONNECTION_OK) die("pg connect", PQerrorMessage(pg));
    }
    if (dc_store_open(&st, url, err, sizeof err) != DC_OK) die("open", err);
    int v;
    check(st->ops->migrate(st, &v), st, "migrate");
    setup(st);
    /* the CPU of the cluster's client backends (0 on SQLite): the
     * server's work per commit, which the disk's fsync rate does not blur
     * as it does the rates */
    const char *pgdir = pg ? getenv("DC_PG_DIR") : NULL;
    double raw0 = raw(raw_arg, 2000), raw_cpu = raw_pg_cpu_us;
    double c1 = bench_pg_cpu_s(pgdir, 1);
    double w0 = wal_pos(pg);
    double rt0 = (double)dc_store_round_trips(st);
    double t1 = transfers(st, 1500, 1);
    double rt1 = (double)dc_store_round_trips(st);
    double w1 = wal_pos(pg);
    double c2 = bench_pg_cpu_s(pgdir, 1);
    double t100 = transfers(st, 100, 100);
    double rt2 = (double)dc_store_round_trips(st);
    double w2 = wal_pos(pg);
    make_coins(st, 1, 10000);
    double d100n = deposits(st, 5001, 50, 100, 0);
    double w3 = wal_pos(pg);
    double rt3 = (double)dc_store_round_trips(st);
    double d100 = deposits(st, 1, 50, 100, 1);
    double rt4 = (double)dc_store_round_trips(st);
    double w4 = wal_pos(pg);
    st->ops->close(st);
    double raw1 = raw(raw_arg, 2000), r = (raw0 + raw1) / 2;
    printf("%-10s raw commit      %9.0f /s  (%.0f before, %.0f after)\n", label, r, raw0, raw1);
    printf("%-10s transfer x1     %9.0f /s  (%.2fx raw commit)", label, t1, t1 / r);
    if (pg) printf("  %.0f WAL bytes/transfer", (w1 - w0) / 1500);
    if (pg) printf("  %.2f round trips/transfer", (rt1 - rt0) / 1500);
    if (pgdir && raw_cpu > 0) {
        double us = (c2 - c1) / 1500 * 1e6;
        printf("\n%-10s  ... backend CPU %5.0f us/transfer against %.0f us/raw commit (%.2fx)",
               label, us, raw_cpu, us / raw_cpu);
    }
    printf("\n%-10s transfer x100   %9.0f /s  (%.1fx raw commit)", label, t100, t100 / r);
    if (pg) printf("  %.0f WAL bytes/transfer", (w2 - w1) / 10000);
    if (pg) printf("  %.3f round trips/transfer", (rt2 - rt1) / 10000);
    printf("\n%-10s deposit x100    %9.0f /s  (%.1fx raw commit; 4 state claims each)", label, d100,
           d100 / r);
    if (pg) printf("  %.0f WAL bytes/deposited coin", (w4 - w3) / 5000);
    if (pg) printf("  %.2f round trips/coin", (rt4 - rt3) / 5000);
    printf("\n%-10s  ... unprefetched %7.0f /s  (%.1fx raw commit: each store call by itself)",
           label, d100n, d100n / r);
    printf("\n");
    PQfinish(pg);
}

int main(void)
{
    const char *dsn = getenv("DC_PG_DSN");
    char path[64], url[96];
    snprintf(path, sizeof path, "/tmp/ducat-bench-store-%d.db", (int)getpid());
    char raw_path[80];
    snprintf(raw_path, sizeof raw_path, "%s.raw", path);
    printf("bench_store: durable commits (SQLite WAL synchronous=FULL; PostgreSQL fsync=on, "
           "synchronous_commit=on), %d accounts\n",
           USERS);
    snprintf(url, sizeof url, "sqlite:%s", path);
    engine("sqlite", url, raw_sqlite, raw_path);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[96];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s%s", raw_path, sfx[i]);
        unlink(p);
    }
    if (!dsn) {
        printf("postgresql: DC_PG_DSN not set (run through make bench-store)\n");
        return 1;
    }
    engine("postgresql", dsn, raw_pg, dsn);
    if (getenv("DC_BENCH_PROFILE")) profile(dsn, raw_pg(dsn, 2000));
    return 0;
}
