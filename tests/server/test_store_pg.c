/*
 * test_store_pg.c - what only the PostgreSQL backend has to get right, on
 * a real server (tests/with-pg.sh): two connections racing (serialization
 * failures surface as DC_ERR_STORE_RETRY and doom the transaction), lost
 * connections (re-established, never a silent partial commit), several
 * instances migrating one empty database at once, store URLs shown
 * without passwords, reads that survive a cut connection, and the deferred
 * writes of a batch (store_pg.c: rows kept until the commit's round trip,
 * a failing job leaving no trace while its companions' rows commit). The behaviour both backends
 * share is the contract suite, test_store.c, which runs on both.
 *
 * Without DC_PG_DSN every case fails saying so: never a silent skip.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef DC_HAVE_PG
#include <libpq-fe.h>
#endif

#include "store/store.h"
#include "test.h"

static const char *dsn(void)
{
    const char *d = getenv("DC_PG_DSN");
    if (!d || !*d) FAIL_AT("DC_PG_DSN is not set: run under tests/with-pg.sh (make check does)");
    return d;
}

#ifdef DC_HAVE_PG
/* Runs SQL on a side connection (not a ducatd one); fails on error. */
static void sql(const char *text)
{
    PGconn *c = PQconnectdb(dsn());
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        FAIL_AT("side connection failed");
    }
    PGresult *r = PQexec(c, text);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok) FAIL_AT("side SQL failed: %s", text);
}

static void empty_db(void)
{
    sql("SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; "
        "CREATE SCHEMA public");
}

/* Cuts every ducatd connection, as a server restart or a network cut would. */
static void cut_connections(void)
{
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'ducatd' AND pid <> pg_backend_pid()");
}
#endif

static struct dc_store *open_migrated(void)
{
    struct dc_store *s = NULL;
    char err[256];
    if (dc_store_open(&s, dsn(), err, sizeof err) != DC_OK) FAIL_AT("open: %s", err);
    int v;
    ASSERT_OK(s->ops->migrate(s, &v));
    return s;
}

static void two_users(struct dc_store *s)
{
    ASSERT_OK(s->ops->begin(s, 1));
    for (int64_t id = 1001; id <= 1002; id++) {
        struct dc_account a;
        memset(&a, 0, sizeof a);
        a.id = id;
        a.kind = DC_ACCT_USER;
        memset(a.device_pub, (int)id, DC_PUBKEY_BYTES);
        memset(a.alias, (int)id, DC_ALIAS_BYTES);
        ASSERT_OK(s->ops->account_insert(s, &a));
    }
    ASSERT_OK(s->ops->commit(s));
}

static void test_serialization_failure_is_retry(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    struct dc_store *h1 = open_migrated(), *h2 = open_migrated();
    two_users(h1);
    struct dc_account a, b;
    /* write skew: each reads one row and writes the other */
    ASSERT_OK(h1->ops->begin(h1, 1));
    ASSERT_OK(h2->ops->begin(h2, 1));
    ASSERT_OK(h1->ops->account_get(h1, &a, DC_BY_ID, 1001, NULL));
    ASSERT_OK(h2->ops->account_get(h2, &b, DC_BY_ID, 1002, NULL));
    a.id = 1002;
    a.status = DC_ACCT_VERIFIED;
    b.id = 1001;
    b.status = DC_ACCT_FROZEN;
    ASSERT_OK(h1->ops->account_update(h1, &a));
    ASSERT_OK(h2->ops->account_update(h2, &b));
    ASSERT_OK(h1->ops->commit(h1));
    ASSERT_ERR(h2->ops->commit(h2), DC_ERR_STORE_RETRY); /* SERIALIZABLE caught it */
    ASSERT_OK(h2->ops->rollback(h2));
    /* a conflict found by a statement dooms the whole transaction */
    ASSERT_OK(h2->ops->begin(h2, 1));
    ASSERT_OK(h2->ops->account_get(h2, &b, DC_BY_ID, 1001, NULL)); /* snapshot taken */
    ASSERT_OK(h1->ops->begin(h1, 1));
    ASSERT_OK(h1->ops->account_update(h1, &b));
    ASSERT_OK(h1->ops->commit(h1));
    ASSERT_OK(h2->ops->savepoint(h2));
    ASSERT_ERR(h2->ops->account_update(h2, &b), DC_ERR_STORE_RETRY);
    ASSERT_ERR(h2->ops->rollback_to(h2), DC_ERR_STORE_RETRY);
    ASSERT_ERR(h2->ops->release(h2), DC_ERR_STORE_RETRY);
    ASSERT_ERR(h2->ops->commit(h2), DC_ERR_STORE_RETRY);
    ASSERT_OK(h2->ops->rollback(h2));
    /* and the retry from the start succeeds */
    ASSERT_OK(h2->ops->begin(h2, 1));
    ASSERT_OK(h2->ops->account_get(h2, &b, DC_BY_ID, 1001, NULL));
    ASSERT_OK(h2->ops->account_update(h2, &b));
    ASSERT_OK(h2->ops->commit(h2));
    h1->ops->close(h1);
    h2->ops->close(h2);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

/*
 * Two instances deposit the same coin state at once. The first claims it
 * from its prefetch without a round trip (deferred to its commit); the
 * second claims it at once and commits first. The first commit must fail
 * as a retry, and the re-run must see the winner's successor: a deferred
 * claim never overrides the consumed-state index.
 */
static void test_deferred_claim_loses_race(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    struct dc_store *h1 = open_migrated(), *h2 = open_migrated();
    two_users(h1);
    ASSERT_OK(h1->ops->begin(h1, 1));
    struct dc_account fl;
    memset(&fl, 0, sizeof fl);
    fl.id = DC_ACCT_ID_FLOAT;
    fl.kind = DC_ACCT_FLOAT;
    ASSERT_OK(h1->ops->account_insert(h1, &fl));
    ASSERT_OK(h1->ops->commit(h1));
    struct dc_claim_key k;
    memset(k.serial, 0x51, sizeof k.serial);
    memset(k.state, 0x52, sizeof k.state);
    uint8_t s1[DC_HASH_BYTES], s2[DC_HASH_BYTES], had[DC_HASH_BYTES];
    memset(s1, 0x61, sizeof s1);
    memset(s2, 0x62, sizeof s2);
    int inserted;
    struct dc_account a;
    ASSERT_OK(h1->ops->begin(h1, 1));
    ASSERT_OK(h1->ops->account_get(h1, &a, DC_BY_ID, 1001, NULL));
    ASSERT_OK(dc_store_deposit_prefetch(h1, &k, 1));
    ASSERT_OK(h1->ops->state_claim(h1, k.serial, k.state, s1, 1, &inserted, had));
    ASSERT_EQ(inserted, 1); /* decided from the prefetch, not yet written */
    ASSERT_OK(h2->ops->begin(h2, 1));
    ASSERT_OK(h2->ops->state_claim(h2, k.serial, k.state, s2, 2, &inserted, had));
    ASSERT_EQ(inserted, 1);
    ASSERT_OK(h2->ops->commit(h2));
    ASSERT_ERR(h1->ops->commit(h1), DC_ERR_STORE_RETRY);
    ASSERT_OK(h1->ops->rollback(h1));
    /* the re-run claims at once and finds the winner */
    ASSERT_OK(h1->ops->begin(h1, 1));
    ASSERT_OK(h1->ops->account_get(h1, &a, DC_BY_ID, 1001, NULL));
    ASSERT_OK(dc_store_deposit_prefetch(h1, &k, 1));
    ASSERT_OK(h1->ops->state_claim(h1, k.serial, k.state, s1, 1, &inserted, had));
    ASSERT_EQ(inserted, 0);
    ASSERT_MEM(had, s2, DC_HASH_BYTES);
    ASSERT_OK(h1->ops->commit(h1));
    h1->ops->close(h1);
    h2->ops->close(h2);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

static void test_lost_connection(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    struct dc_store *h = open_migrated();
    two_users(h);
    struct dc_account a;
    /* outside a transaction a read reconnects by itself */
    cut_connections();
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1001, NULL));
    /* inside one, the transaction is lost: retry, never a partial commit */
    ASSERT_OK(h->ops->begin(h, 1));
    a.status = DC_ACCT_FROZEN;
    ASSERT_OK(h->ops->account_update(h, &a));
    cut_connections();
    ASSERT_ERR(h->ops->account_get(h, &a, DC_BY_ID, 1002, NULL), DC_ERR_STORE_RETRY);
    ASSERT_ERR(h->ops->commit(h), DC_ERR_STORE_RETRY);
    ASSERT_OK(h->ops->rollback(h));
    ASSERT_OK(h->ops->begin(h, 1)); /* reconnects */
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1001, NULL));
    ASSERT_EQ(a.status, DC_ACCT_UNVERIFIED); /* the cut transaction left nothing */
    ASSERT_OK(h->ops->commit(h));
    h->ops->close(h);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

static void test_read_retries_on_cut_connection(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    struct dc_store *h = open_migrated();
    two_users(h);
    struct dc_account a;
    /* a pooled connection whose server process was terminated while idle:
     * the first statement of a read transaction runs again on a new one */
    cut_connections();
    ASSERT_OK(h->ops->begin(h, 0));
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1001, NULL));
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1002, NULL));
    ASSERT_OK(h->ops->rollback(h));
    /* the same for a write transaction that has sent nothing yet */
    cut_connections();
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1001, NULL));
    a.status = DC_ACCT_VERIFIED;
    ASSERT_OK(h->ops->account_update(h, &a));
    ASSERT_OK(h->ops->commit(h));
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1001, NULL));
    ASSERT_EQ(a.status, DC_ACCT_VERIFIED);
    /* cut in the middle of a read transaction: the snapshot is gone, the
     * store says retry (ducatd runs the GET again, http.c) */
    ASSERT_OK(h->ops->begin(h, 0));
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1001, NULL));
    cut_connections();
    ASSERT_ERR(h->ops->account_get(h, &a, DC_BY_ID, 1002, NULL), DC_ERR_STORE_RETRY);
    ASSERT_OK(h->ops->rollback(h));
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1002, NULL));
    h->ops->close(h);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

#ifdef DC_HAVE_PG
static void move(struct dc_store *s, int64_t from, int64_t to, int64_t amount, enum dc_err want)
{
    struct dc_account a;
    ASSERT_OK(s->ops->account_get(s, &a, DC_BY_ID, from, NULL));
    ASSERT_OK(s->ops->account_get(s, &a, DC_BY_ID, to, NULL));
    struct dc_posting p;
    memset(&p, 0, sizeof p);
    p.time = 5;
    p.debit = from;
    p.credit = to;
    p.amount = amount;
    snprintf(p.kind, sizeof p.kind, "transfer");
    ASSERT_ERR(s->ops->post(s, &p), want);
}

static int64_t avail(struct dc_store *s, int64_t id)
{
    struct dc_account a;
    ASSERT_OK(s->ops->account_get(s, &a, DC_BY_ID, id, NULL));
    return a.available;
}

static int count_rows(void *ctx, const struct dc_posting *p)
{
    (void)p;
    (*(int *)ctx)++;
    return 0;
}
#endif

static void test_deferred_writes_of_a_batch(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    struct dc_store *h = open_migrated();
    ASSERT_OK(h->ops->begin(h, 1));
    for (int64_t id = 1001; id <= 1003; id++) {
        struct dc_account a;
        memset(&a, 0, sizeof a);
        a.id = id;
        a.kind = DC_ACCT_USER;
        a.available = id == 1001 ? 1000 : 0;
        memset(a.device_pub, (int)id, DC_PUBKEY_BYTES);
        memset(a.alias, (int)id, DC_ALIAS_BYTES);
        ASSERT_OK(h->ops->account_insert(h, &a));
    }
    ASSERT_OK(h->ops->commit(h));
    struct dc_request_rec r, got;
    memset(&r, 0, sizeof r);
    r.account = 1001;
    snprintf(r.request_id, sizeof r.request_id, "rq-1");
    memset(r.body_hash, 3, sizeof r.body_hash);
    r.status = 201;

    ASSERT_OK(h->ops->begin(h, 1));
    /* job 1: reads, a posting and an answer, all kept for the commit */
    ASSERT_OK(h->ops->savepoint(h));
    got = r;
    ASSERT_ERR(h->ops->request_get(h, &got), DC_ERR_NOT_FOUND);
    move(h, 1001, 1002, 300, DC_OK);
    ASSERT_OK(h->ops->request_put(h, &r, "{\"job\":1}"));
    ASSERT_OK(h->ops->release(h));
    /* later reads of the transaction see job 1's pending rows */
    ASSERT_EQ(avail(h, 1001), 700);
    ASSERT_EQ(avail(h, 1002), 300);
    got = r;
    ASSERT_OK(h->ops->request_get(h, &got));
    ASSERT_STR(got.response, "{\"job\":1}");
    free(got.response);
    ASSERT_ERR(h->ops->request_put(h, &r, "{}"), DC_ERR_STORE_CONSTRAINT);
    /* job 2: an overdraft is refused before anything is written */
    ASSERT_OK(h->ops->savepoint(h));
    move(h, 1002, 1003, 301, DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(h->ops->rollback_to(h));
    /* job 3: a pending posting, then a write at once (which sends job 1's
     * rows, then job 3's savepoint), then it fails: only job 3 goes */
    ASSERT_OK(h->ops->savepoint(h));
    move(h, 1002, 1003, 100, DC_OK);
    struct dc_account a;
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1003, NULL));
    a.status = DC_ACCT_FROZEN;
    ASSERT_OK(h->ops->account_update(h, &a));
    int n = 0; /* a journal read sends the pending rows first */
    ASSERT_OK(h->ops->journal_list(h, 1003, 0, 10, count_rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_OK(h->ops->rollback_to(h));
    ASSERT_EQ(avail(h, 1002), 300);
    ASSERT_EQ(avail(h, 1003), 0);
    /* job 4: moves on from job 1's money */
    ASSERT_OK(h->ops->savepoint(h));
    move(h, 1002, 1003, 50, DC_OK);
    ASSERT_OK(h->ops->release(h));
    ASSERT_OK(h->ops->commit(h));

    ASSERT_EQ(avail(h, 1001), 700);
    ASSERT_EQ(avail(h, 1002), 250);
    ASSERT_EQ(avail(h, 1003), 50);
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1003, NULL));
    ASSERT_EQ(a.status, DC_ACCT_UNVERIFIED); /* job 3's write is gone */
    n = 0;
    ASSERT_OK(h->ops->journal_list(h, 1002, 0, 10, count_rows, &n));
    ASSERT_EQ(n, 2);
    got = r;
    ASSERT_OK(h->ops->request_get(h, &got));
    ASSERT_STR(got.response, "{\"job\":1}");
    free(got.response);
    /* a transaction rolled back leaves none of its pending rows */
    ASSERT_OK(h->ops->begin(h, 1));
    move(h, 1001, 1002, 1, DC_OK);
    ASSERT_OK(h->ops->rollback(h));
    ASSERT_EQ(avail(h, 1001), 700);
    h->ops->close(h);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

/* The account cache (store_pg.c): a write transaction answers account reads
 * from the rows the connection last saw committed, and proves them current
 * before it commits. Another connection's change makes the commit a retry
 * (nothing written), and the re-run reads the new row. */
static void test_account_cache_is_checked(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    struct dc_store *h = open_migrated();
    two_users(h);
    sql("UPDATE accounts SET available = 1000 WHERE id = 1001");
    ASSERT_OK(h->ops->begin(h, 1)); /* reads both rows: they enter the cache */
    move(h, 1001, 1002, 100, DC_OK);
    ASSERT_OK(h->ops->commit(h));
    /* from the cache, and right */
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_EQ(avail(h, 1001), 900);
    move(h, 1001, 1002, 100, DC_OK);
    ASSERT_OK(h->ops->commit(h));
    /* another instance (or an operator) empties the payer: the cached 800
     * would let an overdraft through the store's own check, so the commit
     * must fail as a race and write nothing */
    sql("UPDATE accounts SET available = 50 WHERE id = 1001");
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_EQ(avail(h, 1001), 800); /* stale, not yet known to be */
    move(h, 1001, 1002, 700, DC_OK);
    ASSERT_ERR(h->ops->commit(h), DC_ERR_STORE_RETRY);
    /* the re-run reads the database: the overdraft is refused */
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_EQ(avail(h, 1001), 50);
    move(h, 1001, 1002, 700, DC_ERR_STORE_CONSTRAINT);
    ASSERT_OK(h->ops->rollback(h));
    /* a read-only use is checked too: a frozen flag set elsewhere */
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_EQ(avail(h, 1002), 200); /* cached again (the failure dropped the cache) */
    ASSERT_OK(h->ops->commit(h));
    sql("UPDATE accounts SET frozen = 1 WHERE id = 1002");
    ASSERT_OK(h->ops->begin(h, 1));
    struct dc_account a;
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1002, NULL));
    ASSERT_EQ(a.frozen, 0); /* stale */
    ASSERT_ERR(h->ops->commit(h), DC_ERR_STORE_RETRY);
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_OK(h->ops->account_get(h, &a, DC_BY_ID, 1002, NULL));
    ASSERT_EQ(a.frozen, 1);
    ASSERT_OK(h->ops->commit(h));
    ASSERT_EQ(avail(h, 1001), 50);
    ASSERT_EQ(avail(h, 1002), 200);
    h->ops->close(h);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

/* will_put (store.h): a request id is answered NOT_FOUND without a round
 * trip; when it did exist the commit fails as a race and writes nothing, and
 * the re-run looks it up and finds the stored answer. A job that fails after
 * such a miss is checked at once, so no error replaces a stored answer. */
static void test_request_miss_without_lookup(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    struct dc_store *h = open_migrated();
    two_users(h);
    sql("UPDATE accounts SET available = 1000 WHERE id = 1001");
    struct dc_request_rec r, got;
    memset(&r, 0, sizeof r);
    r.account = 1001;
    snprintf(r.request_id, sizeof r.request_id, "once");
    r.status = 201;
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_OK(h->ops->savepoint(h));
    got = r;
    got.will_put = 1;
    ASSERT_ERR(h->ops->request_get(h, &got), DC_ERR_NOT_FOUND);
    move(h, 1001, 1002, 100, DC_OK);
    ASSERT_OK(h->ops->request_put(h, &r, "{\"first\":1}"));
    ASSERT_OK(h->ops->release(h));
    ASSERT_OK(h->ops->commit(h));

    /* the same id again, as a retried request: the miss is not believed */
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_OK(h->ops->savepoint(h));
    got = r;
    got.will_put = 1;
    ASSERT_ERR(h->ops->request_get(h, &got), DC_ERR_NOT_FOUND);
    move(h, 1001, 1002, 100, DC_OK);
    ASSERT_OK(h->ops->request_put(h, &r, "{\"second\":1}"));
    ASSERT_OK(h->ops->release(h));
    ASSERT_ERR(h->ops->commit(h), DC_ERR_STORE_RETRY);
    ASSERT_EQ(avail(h, 1001), 900); /* the second run wrote nothing */
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_OK(h->ops->savepoint(h));
    got = r;
    got.will_put = 1;
    ASSERT_OK(h->ops->request_get(h, &got)); /* the re-run looks */
    ASSERT_STR(got.response, "{\"first\":1}");
    free(got.response);
    ASSERT_OK(h->ops->release(h));
    ASSERT_OK(h->ops->commit(h));

    /* a job that fails after a blind miss: its failure is checked */
    for (int i = 0; i < 4; i++) { /* past the transactions that look */
        ASSERT_OK(h->ops->begin(h, 1));
        ASSERT_OK(h->ops->commit(h));
    }
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_OK(h->ops->savepoint(h));
    got = r;
    got.will_put = 1;
    ASSERT_ERR(h->ops->request_get(h, &got), DC_ERR_NOT_FOUND);
    move(h, 1001, 1002, 5000, DC_ERR_STORE_CONSTRAINT); /* as an overdraft would */
    ASSERT_ERR(h->ops->rollback_to(h), DC_ERR_STORE_RETRY);
    ASSERT_OK(h->ops->rollback(h));
    /* while a new id's failure stands */
    ASSERT_OK(h->ops->begin(h, 1));
    ASSERT_OK(h->ops->savepoint(h));
    got = r;
    snprintf(got.request_id, sizeof got.request_id, "new");
    got.will_put = 1;
    ASSERT_ERR(h->ops->request_get(h, &got), DC_ERR_NOT_FOUND);
    ASSERT_OK(h->ops->rollback_to(h));
    ASSERT_OK(h->ops->commit(h));
    ASSERT_EQ(avail(h, 1001), 900);
    h->ops->close(h);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

/* One statement at commit (store_pg.c, S_FLUSH_TX): a commit whose parts
 * are a cached read and a stored answer but no posting sends empty journal
 * and balance arrays; the answer is stored, and a stale cached row still
 * fails the commit as a race with nothing written. */
static void test_commit_answer_without_posting(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    struct dc_store *h = open_migrated();
    two_users(h);
    sql("UPDATE accounts SET available = 1000 WHERE id = 1001");
    ASSERT_OK(h->ops->begin(h, 1)); /* a write transaction's read: cached from here on */
    ASSERT_EQ(avail(h, 1001), 1000);
    ASSERT_OK(h->ops->commit(h));
    struct dc_request_rec r, got;
    memset(&r, 0, sizeof r);
    r.account = 1001;
    r.status = 409;
    for (int stale = 0; stale <= 1; stale++) {
        snprintf(r.request_id, sizeof r.request_id, "refused-%d", stale);
        if (stale) sql("UPDATE accounts SET available = 999 WHERE id = 1001");
        ASSERT_OK(h->ops->begin(h, 1));
        ASSERT_OK(h->ops->savepoint(h));
        got = r;
        got.will_put = 1;
        ASSERT_ERR(h->ops->request_get(h, &got), DC_ERR_NOT_FOUND);
        ASSERT_EQ(avail(h, 1001), 1000); /* the cached row (stale in the second round) */
        ASSERT_OK(h->ops->request_put(h, &r, "{\"refused\":1}"));
        ASSERT_OK(h->ops->release(h));
        if (stale) {
            ASSERT_ERR(h->ops->commit(h), DC_ERR_STORE_RETRY);
        } else {
            ASSERT_OK(h->ops->commit(h));
        }
        ASSERT_OK(h->ops->begin(h, 0));
        got = r;
        enum dc_err e = h->ops->request_get(h, &got);
        ASSERT_OK(h->ops->commit(h));
        if (stale) {
            ASSERT_ERR(e, DC_ERR_NOT_FOUND); /* nothing written */
        } else {
            ASSERT_OK(e);
            ASSERT_STR(got.response, "{\"refused\":1}");
            ASSERT_EQ(got.status, 409);
            free(got.response);
        }
    }
    ASSERT_EQ(avail(h, 1001), 999);
    h->ops->close(h);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

struct mig {
    const char *dsn;
    enum dc_err e;
    int version;
};

static void *migrate_main(void *arg)
{
    struct mig *m = arg;
    struct dc_store *s = NULL;
    char err[256];
    m->e = dc_store_open(&s, m->dsn, err, sizeof err);
    if (m->e == DC_OK) m->e = s->ops->migrate(s, &m->version);
    if (s) s->ops->close(s);
    return NULL;
}

static void test_instances_migrate_at_once(void)
{
#ifdef DC_HAVE_PG
    empty_db();
    enum { N = 4 };
    struct mig m[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        m[i] = (struct mig){dsn(), DC_ERR_INTERNAL, 0};
        ASSERT(pthread_create(&t[i], NULL, migrate_main, &m[i]) == 0);
    }
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        ASSERT_OK(m[i].e);
        ASSERT_EQ(m[i].version, m[0].version);
    }
    ASSERT(m[0].version >= 1);
#else
    FAIL_AT("built without the PostgreSQL backend");
#endif
}

static void test_bad_url_is_one_clear_line(void)
{
    struct dc_store *s = NULL;
    char err[512] = "";
    (void)dsn();
    enum dc_err e = dc_store_open(&s, "postgresql://bob:s3cret@127.0.0.1:1/nodb?connect_timeout=2",
                                  err, sizeof err);
    ASSERT(e != DC_OK);
    ASSERT(s == NULL);
    ASSERT(strstr(err, "s3cret") == NULL);
    ASSERT(strstr(err, "postgresql://bob:***@127.0.0.1:1/nodb") != NULL);
    ASSERT(strchr(err, '\n') == NULL);
}

static void test_redact(void)
{
    char out[256];
    dc_store_redact(out, sizeof out, "postgresql://u:pw@h:5432/db");
    ASSERT_STR(out, "postgresql://u:***@h:5432/db");
    dc_store_redact(out, sizeof out, "postgres://u@h/db?password=pw&sslmode=require");
    ASSERT_STR(out, "postgres://u@h/db?password=***&sslmode=require");
    dc_store_redact(out, sizeof out, "postgresql://h/db");
    ASSERT_STR(out, "postgresql://h/db");
    dc_store_redact(out, sizeof out, "sqlite:/var/lib/ducat/ducat.db");
    ASSERT_STR(out, "sqlite:/var/lib/ducat/ducat.db");
    dc_store_redact(out, sizeof out, "postgresql://u:p@ss@h/db"); /* '@' in a password */
    ASSERT_STR(out, "postgresql://u:***@h/db");
    char tiny[8];
    dc_store_redact(tiny, sizeof tiny, "postgresql://u:pw@h/db");
    ASSERT(strlen(tiny) < sizeof tiny);
    ASSERT(strstr(tiny, "pw") == NULL);
}

TESTS(T(test_serialization_failure_is_retry), T(test_deferred_claim_loses_race),
      T(test_lost_connection), T(test_read_retries_on_cut_connection),
      T(test_deferred_writes_of_a_batch), T(test_account_cache_is_checked),
      T(test_request_miss_without_lookup), T(test_commit_answer_without_posting),
      T(test_instances_migrate_at_once), T(test_bad_url_is_one_clear_line), T(test_redact))
