/*
 * test_store.c - the store contract: one suite every backend must pass.
 *
 * Runs against SQLite (a fresh file) always, and against PostgreSQL when
 * DC_PG_DSN names a server (make check starts a throwaway cluster for it).
 * Each case opens a fresh database, migrates it and checks one aggregate of
 * the interface: what it stores, what it refuses, and that a rolled-back
 * savepoint leaves nothing behind.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef DC_HAVE_PG
#include <libpq-fe.h>
#endif

#include "ducat/refusal.h"
#include "schema_pg.h"     /* generated: the migrations, to build old databases */
#include "schema_sqlite.h" /* generated */
#include "store/store.h"
#include "test.h"

static struct dc_store *S;
static char url[512];
/* DC_STORE_BACKEND=postgresql runs the same cases against DC_PG_DSN */
static int backend = -1; /* 0 sqlite, 1 postgresql */

/* A fresh PostgreSQL database for each case: an empty public schema. */
static void pg_empty(const char *dsn)
{
#ifdef DC_HAVE_PG
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        char m[256];
        snprintf(m, sizeof m, "%s", PQerrorMessage(c));
        PQfinish(c);
        FAIL_AT("connect: %s", m);
    }
    PGresult *r = PQexec(c, "SET client_min_messages = warning; "
                            "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok) FAIL_AT("cannot empty the test database");
#else
    (void)dsn;
    FAIL_AT("built without the PostgreSQL backend (libpq missing)");
#endif
}

static char path[128]; /* the SQLite file of the current case */

/* An empty database for the next case: url names it. */
static void fresh_empty(void)
{
    if (backend < 0) {
        const char *b = getenv("DC_STORE_BACKEND");
        backend = b && strcmp(b, "postgresql") == 0 ? 1 : 0;
    }
    if (S) S->ops->close(S);
    S = NULL;
    if (backend == 0 && path[0]) {
        char p2[160];
        unlink(path); /* the previous case's file */
        snprintf(p2, sizeof p2, "%s-wal", path);
        unlink(p2);
        snprintf(p2, sizeof p2, "%s-shm", path);
        unlink(p2);
    }
    if (backend == 0) {
        static int n;
        snprintf(path, sizeof path, "/tmp/ducat-store-test-%d-%d.db", (int)getpid(), n++);
        unlink(path);
        snprintf(url, sizeof url, "sqlite:%s", path);
    } else {
        const char *dsn = getenv("DC_PG_DSN");
        if (!dsn || !*dsn) FAIL_AT("DC_STORE_BACKEND=postgresql needs DC_PG_DSN");
        snprintf(url, sizeof url, "%s", dsn);
        pg_empty(dsn);
    }
}

/* One integer the query yields on the current case's SQLite file, read
 * outside the store; -1 if it yields none. */
static int sqlite_scalar(const char *query)
{
    sqlite3 *db;
    sqlite3_stmt *q = NULL;
    int v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, query, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        v = sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* The page size of the current case's SQLite file. */
static int sqlite_page_size(void)
{
    return sqlite_scalar("PRAGMA page_size");
}

static void fresh(void)
{
    char err[256];
    fresh_empty();
    enum dc_err e = dc_store_open(&S, url, err, sizeof err);
    if (e != DC_OK) FAIL_AT("open %s: %s", url, err);
    int v;
    ASSERT_OK(S->ops->migrate(S, &v));
    ASSERT(v >= 1);
    /* a new SQLite database gets 512-byte pages: fewer bytes per commit */
    if (backend == 0) ASSERT_EQ(sqlite_page_size(), 512);
}

static void user(struct dc_account *a, int64_t id, uint8_t tag)
{
    memset(a, 0, sizeof *a);
    a->id = id;
    a->kind = DC_ACCT_USER;
    snprintf(a->name, sizeof a->name, "user %lld", (long long)id);
    memset(a->device_pub, tag, DC_PUBKEY_BYTES);
    memset(a->alias, tag, DC_ALIAS_BYTES);
    a->offline_limit = 1000;
    a->created_at = 5;
}

static void sys_accounts(void)
{
    struct dc_account a;
    memset(&a, 0, sizeof a);
    a.kind = DC_ACCT_SETTLEMENT;
    a.id = DC_ACCT_ID_SETTLEMENT;
    ASSERT_OK(S->ops->account_insert(S, &a));
}

/* ids[0] counts, the ids follow (up to 3) */
static int ids_cb(void *ctx, const struct dc_account *a)
{
    int64_t *ids = ctx;
    if (ids[0] < 3) ids[1 + ids[0]] = a->id;
    ids[0]++;
    return 0;
}

static int count_cb(void *ctx, const struct dc_account *a)
{
    (void)a;
    (*(int *)ctx)++;
    return 0;
}

static void test_accounts(void)
{
    struct dc_account a, b, got;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    sys_accounts();
    user(&a, 1001, 1);
    ASSERT_OK(S->ops->account_insert(S, &a));
    user(&b, 0, 2); /* id assigned by the store */
    ASSERT_OK(S->ops->account_insert(S, &b));
    ASSERT(b.id > 1001);
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_ID, 1001, NULL));
    ASSERT_STR(got.name, "user 1001");
    ASSERT_MEM(got.device_pub, a.device_pub, DC_PUBKEY_BYTES);
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_DEVICE, 0, b.device_pub));
    ASSERT_EQ(got.id, b.id);
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_ALIAS, 0, a.alias));
    ASSERT_EQ(got.id, 1001);
    ASSERT_ERR(S->ops->account_get(S, &got, DC_BY_ID, 999999, NULL), DC_ERR_NO_ACCOUNT);
    /* a device belongs to one account */
    struct dc_account dup;
    user(&dup, 0, 1);
    /* a failed op inside a transaction is undone by its savepoint (store.h) */
    ASSERT_OK(S->ops->savepoint(S));
    ASSERT_ERR(S->ops->account_insert(S, &dup), DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(S->ops->rollback_to(S));
    got.status = DC_ACCT_VERIFIED;
    got.offline_blocked = 1;
    got.offline_limit = 7;
    ASSERT_OK(S->ops->account_update(S, &got));
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_ID, 1001, NULL));
    ASSERT_EQ(got.status, DC_ACCT_VERIFIED);
    ASSERT_EQ(got.offline_blocked, 1);
    ASSERT_EQ(got.offline_limit, 7);
    int n = 0;
    ASSERT_OK(S->ops->account_list(S, -1, count_cb, &n));
    ASSERT_EQ(n, 3);
    n = 0;
    ASSERT_OK(S->ops->account_list(S, DC_ACCT_VERIFIED, count_cb, &n));
    ASSERT_EQ(n, 1);
    /* frozen is a flag beside the status: listed by DC_ACCT_FROZEN and by
     * its status */
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_ID, b.id, NULL));
    ASSERT_EQ(got.frozen, 0);
    got.frozen = 1;
    ASSERT_OK(S->ops->account_update(S, &got));
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_ID, b.id, NULL));
    ASSERT_EQ(got.frozen, 1);
    ASSERT_EQ(got.status, DC_ACCT_UNVERIFIED);
    int64_t ids[4] = {0};
    ASSERT_OK(S->ops->account_list(S, DC_ACCT_FROZEN, ids_cb, ids));
    ASSERT(ids[0] == 1 && ids[1] == b.id);
    memset(ids, 0, sizeof ids);
    ASSERT_OK(S->ops->account_list(S, DC_ACCT_UNVERIFIED, ids_cb, ids));
    ASSERT_EQ(ids[0], 0); /* b is listed as frozen only */
    ASSERT_OK(S->ops->commit(S));
}

static int event_cb(void *ctx, const struct dc_event *ev)
{
    struct dc_event *out = ctx;
    size_t i = (size_t)out[0].id++; /* out[0].id counts, events from out[1] */
    if (i < 3) out[1 + i] = *ev;
    return 0;
}

/* Runs SQL on the current case's database outside the store. */
static void raw_sql(const char *sql)
{
    if (backend == 0) {
        sqlite3 *db;
        char *msg = NULL;
        int rc = sqlite3_open(path, &db);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        char m[256];
        snprintf(m, sizeof m, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        if (rc != SQLITE_OK) FAIL_AT("sqlite: %s", m);
        return;
    }
#ifdef DC_HAVE_PG
    PGconn *c = PQconnectdb(getenv("DC_PG_DSN"));
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    char m[256];
    snprintf(m, sizeof m, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok) FAIL_AT("postgresql: %s", m);
#endif
}

/* A database of schema version 1, where a frozen account was status 2 and
 * unfreezing verified it, migrates to frozen and verified; others keep
 * their status and are not frozen. */
static void test_migration_2(void)
{
    fresh_empty();
    raw_sql(backend == 0 ? schema_sqlite[0] : schema_pg[0]);
    raw_sql("INSERT INTO meta(key, value) VALUES ('schema_version', '1');"
            "INSERT INTO accounts(id, kind, status, created_at) VALUES (1001, 0, 2, 1);"
            "INSERT INTO accounts(id, kind, status, created_at) VALUES (1002, 0, 0, 1);"
            "INSERT INTO accounts(id, kind, status, created_at) VALUES (1003, 0, 1, 1);"
            "INSERT INTO holds(id, account, amount, release_at, status, deposit, created_at) "
            "VALUES (7, 1003, 5, 9, 0, 0, 1), (8, 1003, 6, 9, 0, 0, 1)");
    /* version 1 left holds.deposit 0; the deposit's coins name it */
    raw_sql(backend == 0
                ? "INSERT INTO deposit_coins(deposit, account, serial, chain, amount, hold) "
                  "VALUES (7, 1003, X'00', X'00', 5, 7), (7, 1003, X'01', X'01', 6, 8)"
                : "INSERT INTO deposit_coins(deposit, account, serial, chain, amount, hold) "
                  "VALUES (7, 1003, '\\x00', '\\x00', 5, 7), (7, 1003, '\\x01', '\\x01', 6, 8)");
    char err[256];
    enum dc_err e = dc_store_open(&S, url, err, sizeof err);
    if (e != DC_OK) FAIL_AT("open %s: %s", url, err);
    int v = 0;
    ASSERT_OK(S->ops->migrate(S, &v));
    ASSERT(v >= 2);
    /* an existing SQLite database keeps the page size it was made with */
    if (backend == 0) ASSERT_EQ(sqlite_page_size(), 4096);
    struct dc_account a;
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1001, NULL));
    ASSERT(a.frozen == 1 && a.status == DC_ACCT_VERIFIED);
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1002, NULL));
    ASSERT(a.frozen == 0 && a.status == DC_ACCT_UNVERIFIED);
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1003, NULL));
    ASSERT(a.frozen == 0 && a.status == DC_ACCT_VERIFIED);
    struct dc_hold h;
    ASSERT_OK(S->ops->hold_get(S, &h, 7));
    ASSERT_EQ(h.deposit, 7);
    ASSERT_OK(S->ops->hold_get(S, &h, 8));
    ASSERT_EQ(h.deposit, 7);
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->account_event(S, 1001, 1, "op", "unfreeze", "migrated"));
    ASSERT_OK(S->ops->commit(S));
    /* version 8 (0009): an old database gets the table of reclaim refusals */
    uint8_t rf[DC_REFUSAL_BYTES];
    memset(rf, 0x43, sizeof rf);
    const uint8_t coins[4] = {1, 1, 0, 0xaa};
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->refusal_put(S, 7, rf, coins, sizeof coins));
    ASSERT_OK(S->ops->commit(S));
}

/* The refusal a reclaim showed: kept once per reclaim, read back byte for
 * byte, absent for a reclaim that showed none. */
static void test_refusals(void)
{
    fresh();
    uint8_t rf[DC_REFUSAL_BYTES], got[DC_REFUSAL_BYTES];
    for (size_t i = 0; i < sizeof rf; i++) rf[i] = (uint8_t)i;
    static uint8_t coins[3 + 300];
    coins[0] = 1;
    coins[1] = 300 & 0xff;
    coins[2] = 300 >> 8;
    for (size_t i = 3; i < sizeof coins; i++) coins[i] = (uint8_t)(i * 7);
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->refusal_put(S, 42, rf, coins, sizeof coins));
    ASSERT_OK(S->ops->commit(S));
    uint8_t *back = NULL;
    size_t len = 0;
    ASSERT_OK(S->ops->refusal_get(S, 42, got, &back, &len));
    ASSERT_MEM(got, rf, DC_REFUSAL_BYTES);
    ASSERT_EQ(len, sizeof coins);
    ASSERT_MEM(back, coins, sizeof coins);
    free(back);
    ASSERT_ERR(S->ops->refusal_get(S, 43, got, &back, &len), DC_ERR_NOT_FOUND);
    ASSERT(back == NULL && len == 0);
    /* a second refusal for one reclaim is refused by the table */
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT(S->ops->refusal_put(S, 42, rf, coins, sizeof coins) != DC_OK);
    ASSERT_OK(S->ops->rollback(S));
    ASSERT_OK(S->ops->refusal_get(S, 42, got, &back, &len));
    ASSERT_EQ(len, sizeof coins);
    free(back);
}

/* A BYTEA or BLOB literal of DC_HASH_BYTES bytes `byte`. */
static const char *hash_lit(int byte)
{
    static char lit[2][80];
    char *p = lit[byte & 1];
    int n = sprintf(p, backend == 0 ? "X'" : "'\\x");
    for (int i = 0; i < DC_HASH_BYTES; i++) n += sprintf(p + n, "%02x", byte);
    sprintf(p + n, "'");
    return p;
}

/* Migration 0010 (the last one): a database one version older, with stored
 * answers, migrates; every answer comes back byte for byte with its hash and
 * status, the key stays unique, and on SQLite the answers are in a rowid
 * table whose rows never spill onto overflow pages (issue 12: each spilled
 * row cost a page write of its own), and the journal indexes key on the
 * account alone. The step runs again harmlessly. */
static void test_migration_10(void)
{
    const char *const *mig = backend == 0 ? schema_sqlite : schema_pg;
    int known = 0;
    while (mig[known]) known++;
    fresh_empty();
    /* the page size the store gives a new SQLite file, set before the first
     * table (on 4 KiB pages nothing of this size overflows) */
    if (backend == 0) raw_sql("PRAGMA page_size = 512; CREATE TABLE pin(x); DROP TABLE pin");
    for (int i = 0; i < known - 1; i++) raw_sql(mig[i]);
    if (backend == 0) ASSERT_EQ(sqlite_page_size(), 512);
    char sql[1024];
    /* an answer with every kind of character a JSON answer may carry */
    static const char answer[] = "{\"transfer_id\":9840,\"memo\":\"caf\xc3\xa9 \\\"x\\\" \\\\ "
                                 "\\u0001\",\"available\":99999996}";
    snprintf(sql, sizeof sql,
             "INSERT INTO meta(key, value) VALUES ('schema_version', '%d');"
             "INSERT INTO requests(account, request_id, body_hash, status, response, created_at) "
             "VALUES (1005, 's4-155', %s, 201, '%s', 77), (1001, 'a-1', %s, 409, '{}', 78)",
             known - 1, hash_lit(7), answer, hash_lit(8));
    raw_sql(sql);
    char err[256];
    enum dc_err e = dc_store_open(&S, url, err, sizeof err);
    if (e != DC_OK) FAIL_AT("open %s: %s", url, err);
    int v = 0;
    ASSERT_OK(S->ops->migrate(S, &v));
    ASSERT_EQ(v, known);
    for (int round = 0; round < 2; round++) {
        struct dc_request_rec got;
        memset(&got, 0, sizeof got);
        got.account = 1005;
        snprintf(got.request_id, sizeof got.request_id, "s4-155");
        ASSERT_OK(S->ops->request_get(S, &got));
        ASSERT_EQ(got.status, 201);
        ASSERT_EQ(got.created_at, 77);
        ASSERT_STR(got.response, answer);
        uint8_t h7[DC_HASH_BYTES];
        memset(h7, 7, sizeof h7);
        ASSERT_MEM(got.body_hash, h7, DC_HASH_BYTES);
        free(got.response);
        got.account = 1001;
        snprintf(got.request_id, sizeof got.request_id, "a-1");
        ASSERT_OK(S->ops->request_get(S, &got));
        ASSERT_EQ(got.status, 409);
        ASSERT_STR(got.response, "{}");
        free(got.response);
        /* the key is still unique */
        struct dc_request_rec r = got;
        ASSERT_ERR(S->ops->request_put(S, &r, "{}"), DC_ERR_STORE_CONSTRAINT);
        if (round == 0) raw_sql(mig[known - 1]); /* the step again */
    }
    if (backend != 0) return;
    /* the journal's account indexes key on the account alone (the rowid
     * ends every entry anyway) */
    ASSERT_EQ(sqlite_scalar("SELECT (SELECT count(*) FROM pragma_index_info('journal_debit')) + "
                            "(SELECT count(*) FROM pragma_index_info('journal_credit'))"),
              2);
    /* 200 transfer-sized answers on 512-byte pages: no overflow page */
    ASSERT_OK(S->ops->begin(S, 1));
    for (int i = 0; i < 200; i++) {
        struct dc_request_rec r;
        memset(&r, 0, sizeof r);
        r.account = 1001 + i % 64;
        snprintf(r.request_id, sizeof r.request_id, "s%d-%d", i % 64, i);
        memset(r.body_hash, i & 0xff, sizeof r.body_hash);
        r.status = 201;
        r.created_at = (uint64_t)(100 + i);
        ASSERT_OK(S->ops->request_put(S, &r, answer));
    }
    ASSERT_OK(S->ops->commit(S));
    ASSERT_EQ(sqlite_scalar("SELECT count(*) FROM dbstat WHERE name = 'requests' "
                            "AND pagetype = 'overflow'"),
              0);
}

/* Account and case events: appended with who, when and why; listed per
 * subject, oldest first. */
static void test_events(void)
{
    struct dc_account a, b;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    sys_accounts();
    user(&a, 1001, 1);
    ASSERT_OK(S->ops->account_insert(S, &a));
    user(&b, 1002, 2);
    ASSERT_OK(S->ops->account_insert(S, &b));
    ASSERT_OK(S->ops->account_event(S, 1001, 10, "jane", "freeze", "aml review"));
    ASSERT_OK(S->ops->account_event(S, 1002, 11, "operator", "verify", ""));
    ASSERT_OK(S->ops->account_event(S, 1001, 12, "admin", "unfreeze", "cleared"));
    ASSERT_OK(S->ops->commit(S));
    struct dc_event ev[4];
    memset(ev, 0, sizeof ev);
    ASSERT_OK(S->ops->events_list(S, DC_EVENTS_ACCOUNT, 1001, event_cb, ev));
    ASSERT_EQ(ev[0].id, 2);
    ASSERT_EQ(ev[1].subject, 1001);
    ASSERT_EQ(ev[1].time, 10);
    ASSERT_STR(ev[1].actor, "jane");
    ASSERT_STR(ev[1].action, "freeze");
    ASSERT_STR(ev[1].reason, "aml review");
    ASSERT_STR(ev[2].action, "unfreeze");
    ASSERT(ev[2].id > ev[1].id);
    memset(ev, 0, sizeof ev);
    ASSERT_OK(S->ops->events_list(S, DC_EVENTS_ACCOUNT, 1003, event_cb, ev));
    ASSERT_EQ(ev[0].id, 0);
    /* an event for an account that does not exist is refused */
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->savepoint(S));
    ASSERT_ERR(S->ops->account_event(S, 424242, 13, "x", "freeze", "r"), DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(S->ops->rollback_to(S));
    ASSERT_OK(S->ops->commit(S));
    /* a rolled-back event leaves nothing */
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->account_event(S, 1002, 14, "x", "freeze", "r"));
    ASSERT_OK(S->ops->rollback(S));
    memset(ev, 0, sizeof ev);
    ASSERT_OK(S->ops->events_list(S, DC_EVENTS_ACCOUNT, 1002, event_cb, ev));
    ASSERT_EQ(ev[0].id, 1);
    ASSERT_STR(ev[1].action, "verify");
}

static int sum_cb(void *ctx, const struct dc_posting *p)
{
    int64_t *s = ctx;
    s[0] += p->amount;
    s[1]++;
    s[2] = p->id;
    return 0;
}

static int audit_cb(void *ctx, const struct dc_audit_row *r)
{
    if (r->account == 1001) *(int64_t *)ctx = r->journal_available;
    return 0;
}

static void post(int64_t d, int db, int64_t c, int cb, int64_t amount, enum dc_err want)
{
    struct dc_posting p;
    memset(&p, 0, sizeof p);
    p.time = 9;
    p.debit = d;
    p.debit_bucket = db;
    p.credit = c;
    p.credit_bucket = cb;
    p.amount = amount;
    snprintf(p.kind, sizeof p.kind, "test");
    ASSERT_ERR(S->ops->post(S, &p), want);
}

static void test_postings(void)
{
    struct dc_account a, b;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    sys_accounts();
    user(&a, 1001, 1);
    user(&b, 1002, 2);
    ASSERT_OK(S->ops->account_insert(S, &a));
    ASSERT_OK(S->ops->account_insert(S, &b));
    post(DC_ACCT_ID_SETTLEMENT, 0, 1001, 0, 500, DC_OK);
    post(1001, 0, 1002, 1, 200, DC_OK);
    post(1002, 1, 1002, 0, 50, DC_OK);
    ASSERT_OK(S->ops->commit(S));
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1001, NULL));
    ASSERT_OK(S->ops->account_get(S, &b, DC_BY_ID, 1002, NULL));
    ASSERT_EQ(a.available, 300);
    ASSERT_EQ(b.held, 150);
    ASSERT_EQ(b.available, 50);
    /* a user can never go negative, even if business code forgot to check */
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->savepoint(S));
    post(1001, 0, 1002, 0, 301, DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(S->ops->rollback_to(S));
    post(1001, 0, 1002, 0, 0, DC_ERR_INVALID_ARGUMENT);
    ASSERT_OK(S->ops->commit(S));
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1001, NULL));
    ASSERT_EQ(a.available, 300);
    /* the system settlement account may go negative: it is money brought in */
    int64_t s[3] = {0, 0, 0};
    ASSERT_OK(S->ops->journal_list(S, 1002, 0, 10, sum_cb, s));
    ASSERT_EQ(s[1], 2);
    ASSERT_EQ(s[0], 250);
    int64_t first = s[2];
    memset(s, 0, sizeof s);
    ASSERT_OK(S->ops->journal_list(S, 1002, first, 10, sum_cb, s));
    ASSERT_EQ(s[1], 0); /* nothing older than the oldest */
    int64_t j = -1;
    ASSERT_OK(S->ops->audit_sums(S, audit_cb, &j));
    ASSERT_EQ(j, 300);
}

/* One transfer job as the writer runs it (savepoint, request lookup, the
 * ledger's prefetch hint and both account reads, the posting, the stored
 * answer, release) in a write transaction of its own. */
static void transfer_tx(const char *request_id, int64_t from, int64_t to, int64_t amount)
{
    struct dc_account a, b;
    struct dc_request_rec r;
    memset(&r, 0, sizeof r);
    r.account = from;
    snprintf(r.request_id, sizeof r.request_id, "%s", request_id);
    r.will_put = 1;
    r.status = 201;
    int64_t ids[2] = {from, to};
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->savepoint(S));
    ASSERT_ERR(S->ops->request_get(S, &r), DC_ERR_NOT_FOUND);
    ASSERT_OK(dc_store_accounts_prefetch(S, ids, 2));
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, from, NULL));
    ASSERT_OK(S->ops->account_get(S, &b, DC_BY_ID, to, NULL));
    post(from, 0, to, 0, amount, DC_OK);
    ASSERT_OK(S->ops->request_put(S, &r, "{\"transfer_id\":1}"));
    ASSERT_OK(S->ops->release(S));
    ASSERT_OK(S->ops->commit(S));
}

/* What one durable transfer costs in waits for the database server
 * (dc_store_round_trips): none on SQLite; on PostgreSQL exactly one once
 * the write connection knows both accounts (BEGIN, the rows and COMMIT in
 * one pipeline), two when it knows neither (both read in one, then the
 * commit). The prefetch hint changes no answer. */
static void test_round_trips(void)
{
    struct dc_account a;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    sys_accounts();
    for (int64_t id = 1001; id <= 1006; id++) {
        user(&a, id, (uint8_t)id);
        ASSERT_OK(S->ops->account_insert(S, &a));
        post(DC_ACCT_ID_SETTLEMENT, 0, id, 0, 500, DC_OK);
    }
    ASSERT_OK(S->ops->commit(S));
    /* the first two prepare statements (once per connection) */
    transfer_tx("rt-0", 1001, 1002, 10);
    transfer_tx("rt-1", 1001, 1002, 10);
    uint64_t before = dc_store_round_trips(S);
    transfer_tx("rt-2", 1001, 1002, 10);
    ASSERT_EQ(dc_store_round_trips(S) - before, backend == 1 ? 1 : 0);
    before = dc_store_round_trips(S);
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "rt-x%d", i);
        transfer_tx(id, 1001, 1002, 1);
    }
    ASSERT_EQ(dc_store_round_trips(S) - before, backend == 1 ? 10 : 0);
    /* accounts not read since they were written: one read for both */
    transfer_tx("rt-3", 1003, 1004, 5); /* prepares the prefetch */
    before = dc_store_round_trips(S);
    transfer_tx("rt-4", 1005, 1006, 7);
    ASSERT_EQ(dc_store_round_trips(S) - before, backend == 1 ? 2 : 0);
    /* a hint naming no account: the read still says so */
    int64_t ids[2] = {1003, 999999};
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(dc_store_accounts_prefetch(S, ids, 2));
    ASSERT_ERR(S->ops->account_get(S, &a, DC_BY_ID, 999999, NULL), DC_ERR_NO_ACCOUNT);
    ASSERT_OK(S->ops->commit(S));
    int64_t want[6] = {500 - 40, 540, 495, 505, 493, 507};
    for (int64_t id = 1001; id <= 1006; id++) {
        ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, id, NULL));
        ASSERT_EQ(a.available, want[id - 1001]);
    }
}

static void mkpost(struct dc_posting *p, int64_t debit, int64_t credit, int64_t amount)
{
    memset(p, 0, sizeof *p);
    p->time = 9;
    p->debit = debit;
    p->credit = credit;
    p->amount = amount;
    snprintf(p->kind, sizeof p->kind, "transfer");
    snprintf(p->ref, sizeof p->ref, "to:%lld", (long long)credit);
}

static void test_post_many(void)
{
    /* n postings at once: one journal row each, balances as after n posts */
    struct dc_account a, b, c;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    sys_accounts();
    user(&a, 1001, 1);
    user(&b, 1002, 2);
    user(&c, 1003, 3);
    ASSERT_OK(S->ops->account_insert(S, &a));
    ASSERT_OK(S->ops->account_insert(S, &b));
    ASSERT_OK(S->ops->account_insert(S, &c));
    post(DC_ACCT_ID_SETTLEMENT, 0, 1001, 0, 1000, DC_OK);
    struct dc_posting p[5];
    mkpost(&p[0], 1001, 1002, 100);
    mkpost(&p[1], 1001, 1003, 200);
    mkpost(&p[2], 1001, 1002, 300);
    mkpost(&p[3], 1002, 1003, 50); /* 1002 pays on from what it got */
    mkpost(&p[4], 1001, 1003, 400);
    ASSERT_OK(dc_store_post_many(S, p, 5));
    ASSERT_OK(S->ops->commit(S));
    for (int i = 1; i < 5; i++) ASSERT(p[i].id > p[i - 1].id); /* rows in order */
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1001, NULL));
    ASSERT_OK(S->ops->account_get(S, &b, DC_BY_ID, 1002, NULL));
    ASSERT_OK(S->ops->account_get(S, &c, DC_BY_ID, 1003, NULL));
    ASSERT_EQ(a.available, 0);
    ASSERT_EQ(b.available, 350);
    ASSERT_EQ(c.available, 650);
    int64_t s[3] = {0, 0, 0};
    ASSERT_OK(S->ops->journal_list(S, 1003, 0, 10, sum_cb, s));
    ASSERT_EQ(s[1], 3);
    ASSERT_EQ(s[0], 650);
    /* a batch that would overdraw fails as a whole inside its savepoint */
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->savepoint(S));
    mkpost(&p[0], 1002, 1001, 300);
    mkpost(&p[1], 1002, 1003, 100);
    ASSERT_ERR(dc_store_post_many(S, p, 2), DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(S->ops->rollback_to(S));
    mkpost(&p[0], 1002, 1001, 0);
    ASSERT_ERR(dc_store_post_many(S, p, 1), DC_ERR_INVALID_ARGUMENT);
    ASSERT_OK(S->ops->commit(S));
    ASSERT_OK(S->ops->account_get(S, &b, DC_BY_ID, 1002, NULL));
    ASSERT_EQ(b.available, 350);
    int64_t j = -1;
    ASSERT_OK(S->ops->audit_sums(S, audit_cb, &j));
    ASSERT_EQ(j, 0); /* 1001's journal: +1000 -100 -200 -300 -400 */
}

static void test_savepoints(void)
{
    struct dc_account a;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    sys_accounts();
    ASSERT_OK(S->ops->savepoint(S));
    user(&a, 1001, 1);
    ASSERT_OK(S->ops->account_insert(S, &a));
    ASSERT_OK(S->ops->rollback_to(S));
    ASSERT_OK(S->ops->savepoint(S));
    user(&a, 1002, 2);
    ASSERT_OK(S->ops->account_insert(S, &a));
    ASSERT_OK(S->ops->release(S));
    ASSERT_OK(S->ops->commit(S));
    ASSERT_ERR(S->ops->account_get(S, &a, DC_BY_ID, 1001, NULL), DC_ERR_NO_ACCOUNT);
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1002, NULL));
    /* a whole transaction rolled back */
    ASSERT_OK(S->ops->begin(S, 1));
    user(&a, 1003, 3);
    ASSERT_OK(S->ops->account_insert(S, &a));
    ASSERT_OK(S->ops->rollback(S));
    ASSERT_ERR(S->ops->account_get(S, &a, DC_BY_ID, 1003, NULL), DC_ERR_NO_ACCOUNT);
    /* migrating again is a no-op */
    int v;
    ASSERT_OK(S->ops->migrate(S, &v));
    char val[64];
    ASSERT_OK(S->ops->meta_put(S, "k", "v1"));
    ASSERT_OK(S->ops->meta_put(S, "k", "v2"));
    ASSERT_OK(S->ops->meta_get(S, "k", val, sizeof val));
    ASSERT_STR(val, "v2");
    ASSERT_ERR(S->ops->meta_get(S, "nope", val, sizeof val), DC_ERR_NOT_FOUND);
}

static void test_requests(void)
{
    struct dc_request_rec r, got;
    fresh();
    memset(&r, 0, sizeof r);
    r.account = 1001;
    snprintf(r.request_id, sizeof r.request_id, "req-1");
    memset(r.body_hash, 7, sizeof r.body_hash);
    r.status = 201;
    r.created_at = 3;
    got = r;
    ASSERT_ERR(S->ops->request_get(S, &got), DC_ERR_NOT_FOUND);
    ASSERT_OK(S->ops->request_put(S, &r, "{\"x\":1}"));
    ASSERT_ERR(S->ops->request_put(S, &r, "{}"), DC_ERR_STORE_CONSTRAINT);
    memset(got.body_hash, 0, sizeof got.body_hash);
    ASSERT_OK(S->ops->request_get(S, &got));
    ASSERT_EQ(got.status, 201);
    ASSERT_STR(got.response, "{\"x\":1}");
    ASSERT_MEM(got.body_hash, r.body_hash, DC_HASH_BYTES);
    free(got.response);
    /* ids are per account */
    r.account = 1002;
    ASSERT_OK(S->ops->request_put(S, &r, "{}"));
}

static void test_coins_and_states(void)
{
    struct dc_account a;
    struct dc_coin_rec c, got;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    user(&a, 1001, 1);
    ASSERT_OK(S->ops->account_insert(S, &a));
    memset(&c, 0, sizeof c);
    memset(c.serial, 0x11, DC_SERIAL_BYTES);
    c.value = 500;
    c.account = 1001;
    c.withdrawal = 1;
    c.expires_at = 99;
    ASSERT_OK(S->ops->coin_insert(S, &c));
    ASSERT_OK(S->ops->savepoint(S));
    ASSERT_ERR(S->ops->coin_insert(S, &c), DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(S->ops->rollback_to(S));
    ASSERT_OK(S->ops->coin_add_deposited(S, c.serial, 300));
    ASSERT_OK(S->ops->savepoint(S));
    ASSERT_ERR(S->ops->coin_add_deposited(S, c.serial, 201), DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(S->ops->rollback_to(S));
    memset(&got, 0, sizeof got);
    memcpy(got.serial, c.serial, DC_SERIAL_BYTES);
    ASSERT_OK(S->ops->coin_get(S, &got));
    ASSERT_EQ(got.deposited, 300);
    ASSERT_EQ(got.value, 500);
    int64_t out;
    ASSERT_OK(S->ops->coin_outstanding(S, 1001, &out));
    ASSERT_EQ(out, 200);
    ASSERT_OK(S->ops->coin_outstanding(S, 0, &out));
    ASSERT_EQ(out, 200);
    uint8_t serial2[DC_SERIAL_BYTES];
    memset(serial2, 0x22, sizeof serial2);
    ASSERT_ERR(S->ops->coin_add_deposited(S, serial2, 1), DC_ERR_NOT_FOUND);

    uint8_t st[DC_HASH_BYTES], s1[DC_HASH_BYTES], s2[DC_HASH_BYTES], had[DC_HASH_BYTES];
    memset(st, 1, sizeof st);
    memset(s1, 2, sizeof s1);
    memset(s2, 3, sizeof s2);
    int inserted;
    ASSERT_OK(S->ops->state_claim(S, c.serial, st, s1, 1, &inserted, had));
    ASSERT_EQ(inserted, 1);
    ASSERT_OK(S->ops->state_claim(S, c.serial, st, s2, 2, &inserted, had));
    ASSERT_EQ(inserted, 0);
    ASSERT_MEM(had, s1, DC_HASH_BYTES); /* the first successor stays */
    ASSERT_OK(S->ops->state_claim(S, serial2, st, s2, 3, &inserted, had));
    ASSERT_EQ(inserted, 1); /* same state bytes, another coin: another key */
    ASSERT_OK(S->ops->commit(S));
}

static int orphan_cb(void *ctx, const uint8_t *b, size_t n)
{
    (void)b;
    if (n == DC_SERIAL_BYTES) (*(int *)ctx)++;
    return 0;
}

static int dcoin_cb(void *ctx, const struct dc_dcoin *d)
{
    int *n = ctx;
    if (d->chain_len == 3 && memcmp(d->chain, "abc", 3) == 0) (*n)++;
    return 0;
}

static int hold_cb(void *ctx, const struct dc_hold *h)
{
    (void)h;
    (*(int *)ctx)++;
    return 0;
}

/*
 * A deposit's store calls after dc_store_deposit_prefetch (PostgreSQL
 * answers them from one lookup and defers the rows to the commit): every
 * op answers what it answers without the hint, a job's rows go with its
 * rollback_to, and what commits is in the database afterwards.
 */
static void test_prefetched_deposit(void)
{
    struct dc_account a, fl;
    struct dc_coin_rec c, got;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    memset(&fl, 0, sizeof fl);
    fl.kind = DC_ACCT_FLOAT;
    fl.id = DC_ACCT_ID_FLOAT;
    ASSERT_OK(S->ops->account_insert(S, &fl));
    user(&a, 1001, 1);
    ASSERT_OK(S->ops->account_insert(S, &a));
    memset(&c, 0, sizeof c);
    memset(c.serial, 0x31, DC_SERIAL_BYTES);
    c.value = 500;
    c.account = 1001;
    c.withdrawal = 1;
    c.expires_at = 99;
    ASSERT_OK(S->ops->coin_insert(S, &c));
    uint8_t old[DC_HASH_BYTES], olds[DC_HASH_BYTES];
    memset(old, 9, sizeof old);
    memset(olds, 8, sizeof olds);
    int inserted;
    uint8_t had[DC_HASH_BYTES];
    ASSERT_OK(S->ops->state_claim(S, c.serial, old, olds, 1, &inserted, had));
    ASSERT_OK(S->ops->commit(S));

    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1001, NULL));
    struct dc_claim_key k[3];
    uint8_t unknown[DC_SERIAL_BYTES];
    memset(unknown, 0x32, sizeof unknown);
    for (int i = 0; i < 3; i++) {
        memcpy(k[i].serial, i == 2 ? unknown : c.serial, DC_SERIAL_BYTES);
        memset(k[i].state, i == 0 ? 9 : 10 + i, DC_HASH_BYTES);
    }
    ASSERT_OK(dc_store_deposit_prefetch(S, k, 3));
    /* a job that fails: its rows go with it */
    ASSERT_OK(S->ops->savepoint(S));
    struct dc_hold h;
    memset(&h, 0, sizeof h);
    h.account = 1001;
    h.amount = 300;
    h.release_at = 50;
    h.created_at = 5;
    ASSERT_OK(S->ops->hold_put(S, &h));
    int64_t rolled_hold = h.id;
    ASSERT(rolled_hold > 0);
    ASSERT_OK(S->ops->state_claim(S, c.serial, k[1].state, olds, 7, &inserted, had));
    ASSERT_EQ(inserted, 1);
    ASSERT_OK(S->ops->rollback_to(S));
    ASSERT_ERR(S->ops->hold_get(S, &h, rolled_hold), DC_ERR_NOT_FOUND);

    /* the job that commits */
    ASSERT_OK(S->ops->savepoint(S));
    memset(&h, 0, sizeof h);
    h.account = 1001;
    h.amount = 300;
    h.release_at = 50;
    h.created_at = 5;
    ASSERT_OK(S->ops->hold_put(S, &h));
    h.deposit = h.id;
    ASSERT_OK(S->ops->hold_put(S, &h));
    struct dc_hold hg;
    ASSERT_OK(S->ops->hold_get(S, &hg, h.id));
    ASSERT_EQ(hg.deposit, h.id);
    struct dc_dcoin d;
    memset(&d, 0, sizeof d);
    d.deposit = h.id;
    d.account = 1001;
    memcpy(d.serial, c.serial, DC_SERIAL_BYTES);
    d.chain = (const uint8_t *)"abc";
    d.chain_len = 3;
    d.amount = 300;
    d.hold = h.id;
    ASSERT_OK(S->ops->dcoin_insert(S, &d));
    ASSERT(d.id > 0);
    /* consumed before this transaction: its stored successor */
    uint8_t s1[DC_HASH_BYTES], s2[DC_HASH_BYTES];
    memset(s1, 0x41, sizeof s1);
    memset(s2, 0x42, sizeof s2);
    ASSERT_OK(S->ops->state_claim(S, c.serial, k[0].state, s1, d.id, &inserted, had));
    ASSERT_EQ(inserted, 0);
    ASSERT_MEM(had, olds, DC_HASH_BYTES);
    /* new (again: the rolled-back job's claim is gone), then claimed twice */
    ASSERT_OK(S->ops->state_claim(S, c.serial, k[1].state, s1, d.id, &inserted, had));
    ASSERT_EQ(inserted, 1);
    ASSERT_OK(S->ops->state_claim(S, c.serial, k[1].state, s2, d.id, &inserted, had));
    ASSERT_EQ(inserted, 0);
    ASSERT_MEM(had, s1, DC_HASH_BYTES);
    struct dc_case cs;
    ASSERT_ERR(S->ops->case_get(S, &cs, 0, c.serial, k[1].state), DC_ERR_NO_CASE);
    ASSERT_ERR(S->ops->coin_add_deposited(S, unknown, 1), DC_ERR_NOT_FOUND);
    ASSERT_OK(S->ops->coin_add_deposited(S, c.serial, 300));
    ASSERT_OK(S->ops->savepoint(S));
    ASSERT_ERR(S->ops->coin_add_deposited(S, c.serial, 201), DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(S->ops->rollback_to(S));
    struct dc_posting p;
    memset(&p, 0, sizeof p);
    p.time = 5;
    p.debit = DC_ACCT_ID_FLOAT;
    p.credit = 1001;
    p.credit_bucket = DC_BUCKET_HELD;
    p.amount = 300;
    snprintf(p.kind, sizeof p.kind, "deposit");
    ASSERT_OK(S->ops->post(S, &p));
    ASSERT_OK(S->ops->release(S));
    ASSERT_OK(S->ops->commit(S));

    /* what committed is in the database */
    ASSERT_OK(S->ops->begin(S, 0));
    ASSERT_OK(S->ops->hold_get(S, &hg, h.id));
    ASSERT_EQ(hg.amount, 300);
    ASSERT_EQ(hg.deposit, h.id);
    int n = 0;
    ASSERT_OK(S->ops->dcoins_by_serial(S, c.serial, dcoin_cb, &n));
    ASSERT_EQ(n, 1);
    memset(&got, 0, sizeof got);
    memcpy(got.serial, c.serial, DC_SERIAL_BYTES);
    ASSERT_OK(S->ops->coin_get(S, &got));
    ASSERT_EQ(got.deposited, 300);
    ASSERT_OK(S->ops->account_get(S, &a, DC_BY_ID, 1001, NULL));
    ASSERT_EQ(a.held, 300);
    ASSERT_OK(S->ops->commit(S));
    ASSERT_OK(S->ops->begin(S, 1));
    ASSERT_OK(S->ops->state_claim(S, c.serial, k[1].state, s2, d.id, &inserted, had));
    ASSERT_EQ(inserted, 0);
    ASSERT_MEM(had, s1, DC_HASH_BYTES);
    ASSERT_OK(S->ops->rollback(S));
}

static void test_deposits_and_holds(void)
{
    struct dc_account a;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    user(&a, 1001, 1);
    ASSERT_OK(S->ops->account_insert(S, &a));
    struct dc_hold h;
    memset(&h, 0, sizeof h);
    h.account = 1001;
    h.amount = 70;
    h.release_at = 1000;
    h.deposit = 1;
    ASSERT_OK(S->ops->hold_put(S, &h));
    ASSERT(h.id > 0);
    struct dc_hold h2 = h;
    h2.id = 0;
    h2.release_at = 3000;
    ASSERT_OK(S->ops->hold_put(S, &h2));
    int n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_DUE, 2000, hold_cb, &n));
    ASSERT_EQ(n, 1);
    h2.status = DC_HOLD_FROZEN;
    h2.case_id = 9;
    h2.provisional = 1;
    ASSERT_OK(S->ops->hold_put(S, &h2));
    n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_DUE, 5000, hold_cb, &n));
    ASSERT_EQ(n, 1); /* frozen holds are never due */
    n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_OF_CASE, 9, hold_cb, &n));
    ASSERT_EQ(n, 1);
    n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_OF_ACCOUNT, 1001, hold_cb, &n));
    ASSERT_EQ(n, 2);
    n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_OF_DEPOSIT, 1, hold_cb, &n));
    ASSERT_EQ(n, 2);
    struct dc_hold got;
    ASSERT_OK(S->ops->hold_get(S, &got, h2.id));
    ASSERT_EQ(got.status, DC_HOLD_FROZEN);
    ASSERT_EQ(got.provisional, 1);
    ASSERT_ERR(S->ops->hold_get(S, &got, 424242), DC_ERR_NOT_FOUND);

    struct dc_dcoin d;
    memset(&d, 0, sizeof d);
    d.deposit = 1;
    d.account = 1001;
    memset(d.serial, 0x33, DC_SERIAL_BYTES);
    d.chain = (const uint8_t *)"abc";
    d.chain_len = 3;
    d.amount = 70;
    d.hold = h.id;
    ASSERT_OK(S->ops->dcoin_insert(S, &d));
    ASSERT(d.id > 0);
    n = 0;
    ASSERT_OK(S->ops->dcoins_by_serial(S, d.serial, dcoin_cb, &n));
    ASSERT_EQ(n, 1);
    /* a consumed state of a serial the issuer never made is reported */
    uint8_t st[DC_HASH_BYTES];
    int inserted;
    memset(st, 5, sizeof st);
    ASSERT_OK(S->ops->state_claim(S, d.serial, st, st, d.id, &inserted, st));
    n = 0;
    ASSERT_OK(S->ops->state_unknown_serials(S, orphan_cb, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(S->ops->commit(S));
}

static int case_cb(void *ctx, const struct dc_case *c)
{
    (void)c;
    (*(int *)ctx)++;
    return 0;
}

static int blob_cb(void *ctx, const uint8_t *b, size_t n)
{
    uint8_t *first = ctx;
    if (n == DC_PUBKEY_BYTES && first[0] == 0) memcpy(first, b, n);
    return 0;
}

static int key_cb(void *ctx, const struct dc_key_rec *k)
{
    *(uint64_t *)ctx = k->revoked_at;
    return 0;
}

static void test_cases_revocations_keys(void)
{
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    struct dc_case c, got;
    memset(&c, 0, sizeof c);
    memset(c.serial, 1, DC_SERIAL_BYTES);
    memset(c.state, 2, DC_HASH_BYTES);
    memset(c.culprit, 3, DC_PUBKEY_BYTES);
    c.value = 700;
    c.exposure = 700;
    uint8_t ev[8] = {'e', 'v', 'i', 'd', 'e', 'n', 'c', 'e'};
    c.evidence = ev;
    c.evidence_len = 8;
    c.created_at = 4;
    ASSERT_OK(S->ops->case_put(S, &c));
    ASSERT(c.id > 0);
    struct dc_case dup = c;
    dup.id = 0;
    ASSERT_OK(S->ops->savepoint(S));
    ASSERT_ERR(S->ops->case_put(S, &dup), DC_ERR_STORE_CONSTRAINT); /* one case per fork */
    ASSERT_OK(S->ops->rollback_to(S));
    ASSERT_OK(S->ops->case_get(S, &got, 0, c.serial, c.state));
    ASSERT_EQ(got.id, c.id);
    ASSERT_EQ(got.evidence_len, 8);
    ASSERT_MEM(got.evidence, "evidence", 8);
    dc_case_clear(&got);
    c.status = DC_CASE_RESOLVED;
    c.exposure = 0;
    snprintf(c.decision, sizeof c.decision, "honour");
    snprintf(c.actor, sizeof c.actor, "op");
    ASSERT_OK(S->ops->case_put(S, &c));
    ASSERT_OK(S->ops->case_get(S, &got, c.id, NULL, NULL));
    ASSERT_EQ(got.status, DC_CASE_RESOLVED);
    ASSERT_STR(got.decision, "honour");
    dc_case_clear(&got);
    ASSERT_ERR(S->ops->case_get(S, &got, 999, NULL, NULL), DC_ERR_NO_CASE);
    int n = 0;
    ASSERT_OK(S->ops->case_list(S, DC_CASE_OPEN, case_cb, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(S->ops->case_list(S, -1, case_cb, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(S->ops->case_event(S, c.id, 5, "op", "honour", "because"));

    uint8_t dev[DC_PUBKEY_BYTES], first[DC_PUBKEY_BYTES] = {0};
    memset(dev, 9, sizeof dev);
    ASSERT_OK(S->ops->revoke_put(S, dev, c.id, 5));
    ASSERT_OK(S->ops->revoke_put(S, dev, c.id, 6)); /* idempotent */
    ASSERT_OK(S->ops->revoked_list(S, blob_cb, first));
    ASSERT_MEM(first, dev, DC_PUBKEY_BYTES);

    struct dc_key_rec k;
    memset(&k, 0, sizeof k);
    k.key_id = 1;
    memset(k.keycert, 4, DC_KEYCERT_BYTES);
    ASSERT_OK(S->ops->key_put(S, &k));
    k.revoked_at = 77;
    ASSERT_OK(S->ops->key_put(S, &k)); /* update in place */
    uint64_t rev = 0;
    ASSERT_OK(S->ops->key_list(S, key_cb, &rev));
    ASSERT_EQ(rev, 77);
    ASSERT_OK(S->ops->commit(S));
}

/* Collects hold ids (up to 16) for the paging contract. */
struct hold_ids {
    int64_t id[16];
    int n;
};

static int hold_id_cb(void *ctx, const struct dc_hold *h)
{
    struct hold_ids *ids = ctx;
    if (ids->n < 16) ids->id[ids->n++] = h->id;
    return 0;
}

/* holds_page: the frozen box by status, in id order, after a cursor, at
 * most `limit` rows; -1 is every status. */
static void test_holds_page(void)
{
    struct dc_account a;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    user(&a, 1001, 1);
    ASSERT_OK(S->ops->account_insert(S, &a));
    static const int status[] = {DC_HOLD_HELD,     DC_HOLD_FROZEN, DC_HOLD_HELD,
                                 DC_HOLD_RELEASED, DC_HOLD_HELD,   DC_HOLD_REVERSED};
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        struct dc_hold h;
        memset(&h, 0, sizeof h);
        h.account = 1001;
        h.amount = 10 + i;
        h.release_at = 1000;
        h.status = status[i];
        h.case_id = status[i] == DC_HOLD_FROZEN ? 4 : 0;
        h.deposit = 1;
        ASSERT_OK(S->ops->hold_put(S, &h));
        ids[i] = h.id;
    }
    ASSERT_OK(S->ops->commit(S));

    struct hold_ids got = {{0}, 0};
    ASSERT_OK(S->ops->holds_page(S, DC_HOLD_HELD, 0, 2, hold_id_cb, &got));
    ASSERT_EQ(got.n, 2);
    ASSERT_EQ(got.id[0], ids[0]);
    ASSERT_EQ(got.id[1], ids[2]);
    got.n = 0; /* the next page starts after the last id seen */
    ASSERT_OK(S->ops->holds_page(S, DC_HOLD_HELD, ids[2], 2, hold_id_cb, &got));
    ASSERT_EQ(got.n, 1);
    ASSERT_EQ(got.id[0], ids[4]);
    got.n = 0;
    ASSERT_OK(S->ops->holds_page(S, DC_HOLD_HELD, ids[4], 2, hold_id_cb, &got));
    ASSERT_EQ(got.n, 0);
    got.n = 0;
    ASSERT_OK(S->ops->holds_page(S, DC_HOLD_FROZEN, 0, 10, hold_id_cb, &got));
    ASSERT_EQ(got.n, 1);
    ASSERT_EQ(got.id[0], ids[1]);
    struct dc_hold h;
    ASSERT_OK(S->ops->hold_get(S, &h, got.id[0]));
    ASSERT_EQ(h.case_id, 4);
    got.n = 0;
    ASSERT_OK(S->ops->holds_page(S, DC_HOLD_REVERSED, 0, 10, hold_id_cb, &got));
    ASSERT_EQ(got.n, 1);
    ASSERT_EQ(got.id[0], ids[5]);
    got.n = 0;
    ASSERT_OK(S->ops->holds_page(S, -1, ids[1], 3, hold_id_cb, &got));
    ASSERT_EQ(got.n, 3);
    ASSERT_EQ(got.id[0], ids[2]);
    ASSERT_EQ(got.id[2], ids[4]);
    got.n = 0;
    ASSERT_OK(S->ops->holds_page(S, -1, 0, 100, hold_id_cb, &got));
    ASSERT_EQ(got.n, 6);
}

/* Migration 3: a debtor account, what a case took out of a hold and who
 * released it, a case's recovered/carried/repaid, and the unsettled cases
 * of one culprit. */
static void test_recovery(void)
{
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    struct dc_account a, b, got;
    user(&a, 1001, 1);
    user(&b, 1002, 2);
    ASSERT_OK(S->ops->account_insert(S, &a));
    ASSERT_OK(S->ops->account_insert(S, &b));
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_ID, 1001, NULL));
    ASSERT_EQ(got.debtor, 0);
    got.debtor = 1;
    ASSERT_OK(S->ops->account_update(S, &got));
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_ID, 1001, NULL));
    ASSERT_EQ(got.debtor, 1);
    ASSERT_OK(S->ops->account_get(S, &got, DC_BY_ID, 1002, NULL));
    ASSERT_EQ(got.debtor, 0);

    struct dc_hold h, hg;
    memset(&h, 0, sizeof h);
    h.account = 1001;
    h.amount = 500;
    h.release_at = 10;
    h.deposit = 1;
    h.taken = 120;
    h.repaid = 20;
    snprintf(h.released_by, sizeof h.released_by, "admin:ops1");
    ASSERT_OK(S->ops->hold_put(S, &h));
    ASSERT_OK(S->ops->hold_get(S, &hg, h.id));
    ASSERT_EQ(hg.taken, 120);
    ASSERT_EQ(hg.repaid, 20);
    ASSERT_STR(hg.released_by, "admin:ops1");
    ASSERT_EQ(dc_hold_left(&hg), 380);
    hg.taken = 500;
    hg.status = DC_HOLD_REVERSED;
    ASSERT_OK(S->ops->hold_put(S, &hg));
    ASSERT_OK(S->ops->hold_get(S, &hg, h.id));
    ASSERT_EQ(dc_hold_left(&hg), 0);

    uint8_t ev[2] = {1, 2};
    struct dc_case c[3], cg;
    for (int i = 0; i < 3; i++) {
        memset(&c[i], 0, sizeof c[i]);
        memset(c[i].serial, i + 1, DC_SERIAL_BYTES);
        memset(c[i].state, 7, DC_HASH_BYTES);
        c[i].culprit_account = i < 2 ? 1001 : 1002;
        c[i].value = c[i].exposure = 300;
        c[i].recovered = 100;
        c[i].carried = 200;
        c[i].repaid = 50;
        c[i].evidence = ev;
        c[i].evidence_len = 2;
        ASSERT_OK(S->ops->case_put(S, &c[i]));
    }
    memset(&cg, 0, sizeof cg);
    ASSERT_OK(S->ops->case_get(S, &cg, c[0].id, NULL, NULL));
    ASSERT_EQ(cg.recovered, 100);
    ASSERT_EQ(cg.carried, 200);
    ASSERT_EQ(cg.repaid, 50);
    dc_case_clear(&cg);
    c[0].recovered = 300;
    c[0].repaid = 200;
    ASSERT_OK(S->ops->case_put(S, &c[0]));
    ASSERT_OK(S->ops->case_get(S, &cg, c[0].id, NULL, NULL));
    ASSERT_EQ(cg.recovered, 300);
    ASSERT_EQ(cg.repaid, 200);
    dc_case_clear(&cg);
    int n = 0;
    ASSERT_OK(S->ops->cases_of_culprit(S, 1001, case_cb, &n));
    ASSERT_EQ(n, 2);
    c[0].status = DC_CASE_RESOLVED; /* settled cases are not listed */
    ASSERT_OK(S->ops->case_put(S, &c[0]));
    n = 0;
    ASSERT_OK(S->ops->cases_of_culprit(S, 1001, case_cb, &n));
    ASSERT_EQ(n, 1);
    n = 0;
    ASSERT_OK(S->ops->cases_of_culprit(S, 1002, case_cb, &n));
    ASSERT_EQ(n, 1);
    n = 0;
    ASSERT_OK(S->ops->cases_of_culprit(S, 1003, case_cb, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(S->ops->commit(S));
}

/* A provisional release date (schema 6) round-trips, is never due, and the
 * calendar's selectors find exactly the holds a new calendar must look at. */
static void test_release_provisional(void)
{
    struct dc_account a;
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    user(&a, 1001, 1);
    ASSERT_OK(S->ops->account_insert(S, &a));
    struct dc_hold h[4];
    const uint64_t at[4] = {1000, 1000, 9000, 1000};
    const int prov[4] = {1, 0, 0, 1},
              status[4] = {DC_HOLD_HELD, DC_HOLD_HELD, DC_HOLD_FROZEN, DC_HOLD_RELEASED};
    for (int i = 0; i < 4; i++) {
        memset(&h[i], 0, sizeof h[i]);
        h[i].account = 1001;
        h[i].amount = 10;
        h[i].deposit = 1;
        h[i].release_at = at[i];
        h[i].release_provisional = prov[i];
        h[i].status = status[i];
        ASSERT_OK(S->ops->hold_put(S, &h[i]));
    }
    struct dc_hold got;
    ASSERT_OK(S->ops->hold_get(S, &got, h[0].id));
    ASSERT_EQ(got.release_provisional, 1);
    ASSERT_EQ(got.provisional, 0); /* the other flag: credited from the loss account */
    int n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_DUE, 5000, hold_cb, &n));
    ASSERT_EQ(n, 1); /* h[1] only: h[0]'s date is a guess */
    n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_PROVISIONAL, 0, hold_cb, &n));
    ASSERT_EQ(n, 1); /* h[3] is released: not open */
    n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_RECHECK, 5000, hold_cb, &n));
    ASSERT_EQ(n, 2); /* h[0] provisional, h[2] past the coverage's end */
    h[0].release_provisional = 0;
    ASSERT_OK(S->ops->hold_put(S, &h[0]));
    n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_DUE, 5000, hold_cb, &n));
    ASSERT_EQ(n, 2);
    n = 0;
    ASSERT_OK(S->ops->holds_list(S, DC_HOLDS_PROVISIONAL, 0, hold_cb, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(S->ops->commit(S));
}

struct case_ids {
    int64_t id[4];
    int n;
};

static int case_id_cb(void *ctx, const struct dc_case *c)
{
    struct case_ids *g = ctx;
    if (g->n < 4) g->id[g->n] = c->id;
    g->n++;
    return 0;
}

/* A hex prefix as the byte range the server makes of it (h_investigate.c):
 * [lo, hi) with hi the prefix plus one. */
static void hex_range(struct dc_search *q, const uint8_t *lo, size_t n)
{
    memcpy(q->lo, lo, n);
    memcpy(q->hi, lo, n);
    q->lo_len = q->hi_len = n;
    q->hi[n - 1]++;
}

/* Search (account_search, case_search) and totals: every criterion alone
 * and paged; sums per status against a sum done here. On SQLite the plans
 * of the three statements read indexes only: no "SCAN accounts", "SCAN
 * holds" or "SCAN cases" (a full table pass). */
static void test_search_and_totals(void)
{
    fresh();
    ASSERT_OK(S->ops->begin(S, 1));
    static const char *const names[] = {"Carol Li", "carl Wu", "Dave Carlsen", "CAROLINE Ma",
                                        "Zoë Carol"};
    for (int i = 0; i < 5; i++) {
        struct dc_account a;
        user(&a, 1001 + i, (uint8_t)(0x10 * (i + 1)));
        snprintf(a.name, sizeof a.name, "%s", names[i]);
        a.alias[0] = (uint8_t)(0xa0 + i); /* aliases a0.., a1.., ... */
        ASSERT_OK(S->ops->account_insert(S, &a));
    }
    int64_t want_held = 0, want_frozen = 0;
    for (int i = 0; i < 40; i++) {
        struct dc_hold h;
        memset(&h, 0, sizeof h);
        h.account = 1001 + i % 5;
        h.amount = 1000 + 7 * i;
        h.release_at = 1000;
        h.status = i % 4 == 0 ? DC_HOLD_FROZEN : i % 4 == 1 ? DC_HOLD_RELEASED : DC_HOLD_HELD;
        h.deposit = 1;
        if (h.status == DC_HOLD_HELD) want_held += h.amount;
        if (h.status == DC_HOLD_FROZEN) want_frozen += h.amount;
        ASSERT_OK(S->ops->hold_put(S, &h));
    }
    int64_t case_ids[3];
    for (int i = 0; i < 3; i++) {
        struct dc_case c;
        memset(&c, 0, sizeof c);
        memset(c.serial, 0x50 + i, DC_SERIAL_BYTES);
        c.serial[1] = 0x0f;
        memset(c.state, 2, DC_HASH_BYTES);
        memset(c.culprit, 3, DC_PUBKEY_BYTES);
        c.value = c.exposure = 100 * (i + 1);
        c.status = i == 2 ? DC_CASE_RESOLVED : DC_CASE_OPEN;
        c.culprit_account = i == 0 ? 1004 : 0;
        uint8_t ev[1] = {'e'};
        c.evidence = ev;
        c.evidence_len = 1;
        ASSERT_OK(S->ops->case_put(S, &c));
        case_ids[i] = c.id;
    }
    ASSERT_OK(S->ops->commit(S));

    struct dc_totals t;
    ASSERT_OK(S->ops->totals(S, &t));
    ASSERT_EQ(t.held, want_held);
    ASSERT_EQ(t.held_n, 20);
    ASSERT_EQ(t.frozen, want_frozen);
    ASSERT_EQ(t.frozen_n, 10);
    ASSERT_EQ(t.cases_open, 2);
    ASSERT_EQ(t.exposure, 300);

    /* a name prefix, any case of A-Z; not a word inside the name */
    int64_t ids[4] = {0};
    struct dc_search q;
    memset(&q, 0, sizeof q);
    q.name = "CAR";
    q.limit = 10;
    ASSERT_OK(S->ops->account_search(S, &q, ids_cb, ids));
    ASSERT_EQ(ids[0], 3);
    ASSERT_EQ(ids[1], 1001);
    ASSERT_EQ(ids[2], 1002);
    ASSERT_EQ(ids[3], 1004);
    memset(ids, 0, sizeof ids); /* paged: after the first, one at a time */
    q.after = 1001;
    q.limit = 1;
    ASSERT_OK(S->ops->account_search(S, &q, ids_cb, ids));
    ASSERT_EQ(ids[0], 1);
    ASSERT_EQ(ids[1], 1002);
    memset(ids, 0, sizeof ids);
    q.name = "carol";
    q.after = 0;
    q.limit = 10;
    ASSERT_OK(S->ops->account_search(S, &q, ids_cb, ids));
    ASSERT_EQ(ids[0], 2); /* Carol Li, CAROLINE Ma; not Zoë Carol */
    /* by id; by alias prefix; by device key prefix (both ranges) */
    memset(&q, 0, sizeof q);
    memset(ids, 0, sizeof ids);
    q.id = 1003;
    q.limit = 10;
    ASSERT_OK(S->ops->account_search(S, &q, ids_cb, ids));
    ASSERT_EQ(ids[0], 1);
    ASSERT_EQ(ids[1], 1003);
    memset(ids, 0, sizeof ids);
    hex_range(&q, (const uint8_t[]){0xa4}, 1);
    q.id = 0;
    ASSERT_OK(S->ops->account_search(S, &q, ids_cb, ids));
    ASSERT_EQ(ids[0], 1);
    ASSERT_EQ(ids[1], 1005);
    memset(ids, 0, sizeof ids);
    hex_range(&q, (const uint8_t[]){0x30, 0x30}, 2); /* device keys of 0x30 bytes */
    ASSERT_OK(S->ops->account_search(S, &q, ids_cb, ids));
    ASSERT_EQ(ids[0], 1);
    ASSERT_EQ(ids[1], 1003);
    memset(ids, 0, sizeof ids);
    hex_range(&q, (const uint8_t[]){0x77}, 1); /* nothing */
    q.name = "nobody";
    ASSERT_OK(S->ops->account_search(S, &q, ids_cb, ids));
    ASSERT_EQ(ids[0], 0);

    /* the accounts list page by page (account_page), any status or one */
    memset(ids, 0, sizeof ids);
    ASSERT_OK(S->ops->account_page(S, -1, 1002, 2, ids_cb, ids));
    ASSERT_EQ(ids[0], 2);
    ASSERT_EQ(ids[1], 1003);
    ASSERT_EQ(ids[2], 1004);
    memset(ids, 0, sizeof ids);
    ASSERT_OK(S->ops->account_page(S, DC_ACCT_UNVERIFIED, 1003, 10, ids_cb, ids));
    ASSERT_EQ(ids[0], 2);
    ASSERT_EQ(ids[1], 1004);
    ASSERT_EQ(ids[2], 1005);
    memset(ids, 0, sizeof ids);
    ASSERT_OK(S->ops->account_page(S, DC_ACCT_FROZEN, 0, 10, ids_cb, ids));
    ASSERT_EQ(ids[0], 0);

    /* cases: by id, by serial prefix (the open and the resolved alike) */
    struct case_ids got = {{0}, 0};
    memset(&q, 0, sizeof q);
    q.id = case_ids[1];
    q.limit = 10;
    ASSERT_OK(S->ops->case_search(S, &q, case_id_cb, &got));
    ASSERT_EQ(got.n, 1);
    ASSERT_EQ(got.id[0], case_ids[1]);
    memset(&got, 0, sizeof got);
    q.id = 0;
    hex_range(&q, (const uint8_t[]){0x52, 0x0f}, 2);
    ASSERT_OK(S->ops->case_search(S, &q, case_id_cb, &got));
    ASSERT_EQ(got.n, 1);
    ASSERT_EQ(got.id[0], case_ids[2]);
    /* an account's cases: as culprit (1004), as a receiver whose credit a
     * case froze (1005) */
    ASSERT_OK(S->ops->begin(S, 1));
    struct dc_hold fh;
    memset(&fh, 0, sizeof fh);
    fh.account = 1005;
    fh.amount = 5;
    fh.release_at = 1000;
    fh.status = DC_HOLD_FROZEN;
    fh.case_id = case_ids[1];
    fh.deposit = 1;
    ASSERT_OK(S->ops->hold_put(S, &fh));
    ASSERT_OK(S->ops->commit(S));
    memset(&q, 0, sizeof q);
    q.limit = 10;
    for (int64_t acct = 1004; acct <= 1005; acct++) {
        memset(&got, 0, sizeof got);
        q.account = acct;
        ASSERT_OK(S->ops->case_search(S, &q, case_id_cb, &got));
        ASSERT_EQ(got.n, 1);
        ASSERT_EQ(got.id[0], case_ids[acct - 1004]);
    }

    if (backend == 0) {
        static const char *const plans[] = {
            "EXPLAIN QUERY PLAN SELECT id FROM accounts WHERE id > 0 AND id IN ("
            "SELECT id FROM accounts WHERE id = 5 UNION SELECT id FROM accounts WHERE "
            "lower(name) >= lower('ca') AND lower(name) < lower('ca') || char(1114111) "
            "UNION SELECT id FROM accounts WHERE alias >= x'a0' AND alias < x'a1' "
            "UNION SELECT id FROM accounts WHERE device_pub >= x'a0' AND device_pub < x'a1') "
            "ORDER BY id LIMIT 5",
            "EXPLAIN QUERY PLAN SELECT id FROM cases WHERE id > 0 AND id IN ("
            "SELECT id FROM cases WHERE id = 1 UNION SELECT id FROM cases WHERE "
            "serial >= x'52' AND serial < x'53') ORDER BY id LIMIT 5",
            "EXPLAIN QUERY PLAN SELECT (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE "
            "status = 0), (SELECT COALESCE(SUM(exposure), 0) FROM cases WHERE status = 0)",
        };
        sqlite3 *db;
        ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
        for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
            sqlite3_stmt *st;
            ASSERT(sqlite3_prepare_v2(db, plans[i], -1, &st, NULL) == SQLITE_OK);
            while (sqlite3_step(st) == SQLITE_ROW) {
                const char *d = (const char *)sqlite3_column_text(st, 3);
                if (strncmp(d, "SCAN ", 5) == 0 && !strstr(d, "INDEX") && !strstr(d, "CONSTANT")) {
                    FAIL_AT("plan %zu reads a whole table: %s", i, d);
                }
            }
            sqlite3_finalize(st);
        }
        sqlite3_close(db);
    }
}

TESTS(T(test_search_and_totals), T(test_accounts), T(test_events), T(test_migration_2),
      T(test_migration_10), T(test_postings), T(test_post_many), T(test_savepoints),
      T(test_requests), T(test_coins_and_states), T(test_deposits_and_holds), T(test_holds_page),
      T(test_cases_revocations_keys), T(test_recovery), T(test_release_provisional),
      T(test_prefetched_deposit), T(test_refusals), T(test_round_trips))
