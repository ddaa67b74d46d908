/*
 * test_store_pg.c - what only the PostgreSQL backend has to get right, on
 * a real server (tests/with-pg.sh): two connections racing (serialization
 * failures surface as DC_ERR_STORE_RETRY and doom the transaction), lost
 * connections (re-established, never a silent partial commit), several
 * instances migrating one empty database at once, and store URLs shown
 * without passwords. The behaviour both backends share is the contract
 * suite, test_store.c, which runs on both.
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

TESTS(T(test_serialization_failure_is_retry), T(test_lost_connection),
      T(test_instances_migrate_at_once), T(test_bad_url_is_one_clear_line), T(test_redact))
