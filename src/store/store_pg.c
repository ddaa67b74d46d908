/*
 * store_pg.c - the PostgreSQL backend of the store interface (store.h), over
 * libpq. Production and scale-out: several ducatd processes share one
 * database, each with its own group-commit writer and read pool.
 *
 * Concurrency between instances. Write transactions run at SERIALIZABLE:
 * the business rules live in C (ledger.c) as read-check-write sequences
 * written for one writer (read a balance, compare, post; read a hold, check
 * its status, release it; look up a request id, else execute and store the
 * answer). SERIALIZABLE makes every such sequence behave as if the
 * transactions of all instances ran one after another, without a lock
 * protocol that every future rule would have to remember; PostgreSQL aborts
 * one side of any conflict with SQLSTATE 40001 (or 40P01 for a deadlock),
 * and the writer re-runs the whole batch (writer.c). Read transactions run
 * at REPEATABLE READ READ ONLY: one consistent snapshot, never aborted.
 * docs/DEPLOY.md explains the choice against SELECT ... FOR UPDATE.
 *
 * Failure mapping. Serialization failures, deadlocks, lost connections and
 * server shutdowns are DC_ERR_STORE_RETRY. Once one happened inside a
 * transaction the transaction is "doomed": release, rollback_to and commit
 * answer DC_ERR_STORE_RETRY too, so a job that swallowed the error cannot
 * make the writer commit a partial batch. A connection found broken is
 * re-established at the next begin, or before a statement outside any
 * transaction; a read-only statement outside a transaction that lost its
 * connection is retried once transparently. A commit whose connection dies
 * has an unknown outcome: it is reported as a retry, and the writer's retry
 * is safe because every money-moving job is idempotent by request id.
 *
 * Wire format: statements are prepared once per connection with explicit
 * parameter types; parameters and results travel in binary (no hex for
 * blobs, no decimal parsing of integers). Every integer column is BIGINT and
 * every aggregate is cast to BIGINT, so an integer result is always 8 bytes.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_pg.h" /* generated: schema_pg[] */
#include "store/store.h"

/* Type oids of the parameters we send (pg_type.h is a server header). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

/* Taken by migrate so that several instances starting at once migrate once. */
#define MIGRATE_LOCK 0x6475636174LL /* "ducat" */

enum stmt_id {
    S_META_GET, S_META_PUT,
    S_ACCT_INSERT, S_ACCT_INSERT_AUTO, S_ACCT_BUMP, S_ACCT_BY_ID, S_ACCT_BY_DEVICE,
    S_ACCT_BY_ALIAS, S_ACCT_UPDATE, S_ACCT_LIST, S_ACCT_LIST_ALL,
    S_POST, S_JOURNAL_LIST, S_AUDIT,
    S_REQ_GET, S_REQ_PUT,
    S_COIN_INSERT, S_COIN_GET, S_COIN_DEP, S_COIN_OUT, S_COIN_OUT_ALL,
    S_STATE_GET, S_STATE_PUT, S_STATE_ORPHANS,
    S_DCOIN_INSERT, S_DCOIN_BY_SERIAL,
    S_HOLD_INSERT, S_HOLD_UPDATE, S_HOLD_GET, S_HOLDS_ACCT, S_HOLDS_DUE, S_HOLDS_CASE,
    S_HOLDS_DEPOSIT,
    S_CASE_INSERT, S_CASE_UPDATE, S_CASE_BY_ID, S_CASE_BY_STATE, S_CASE_LIST, S_CASE_LIST_ALL,
    S_CASE_EVENT,
    S_REVOKE_PUT, S_REVOKED_LIST, S_KEY_PUT, S_KEY_LIST,
    S_COUNT
};

#define ACCT_COLS                                                                            \
    "id, kind, status, offline_blocked, name, national_id, phone, device_pub, alias, "       \
    "offline_limit, available, held, created_at"
#define HOLD_COLS \
    "id, account, amount, release_at, status, case_id, deposit, created_at, provisional"
#define CASE_COLS                                                                            \
    "id, serial, state, culprit, culprit_account, value, exposure, evidence, status, "       \
    "decision, actor, reason, created_at, resolved_at"
#define DCOIN_COLS "id, deposit, account, serial, chain, amount, hold, flagged"

/* One statement: its text and its parameter types, one letter each
 * (i = int8, b = bytea, t = text). */
struct stmt {
    const char *sql;
    const char *types;
};

static const struct stmt stmts[S_COUNT] = {
    [S_META_GET] = {"SELECT value FROM meta WHERE key = $1", "t"},
    [S_META_PUT] = {"INSERT INTO meta(key, value) VALUES ($1, $2) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", "tt"},
    [S_ACCT_INSERT] = {"INSERT INTO accounts(" ACCT_COLS ") VALUES "
                       "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                       "iiiitttbbiiii"},
    [S_ACCT_INSERT_AUTO] = {"INSERT INTO accounts(kind, status, offline_blocked, name, "
                            "national_id, phone, device_pub, alias, offline_limit, available, "
                            "held, created_at) VALUES "
                            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                            "iiitttbbiiii"},
    /* an explicit user id moves the sequence past it, as SQLite's AUTOINCREMENT does */
    [S_ACCT_BUMP] = {"SELECT setval(pg_get_serial_sequence('accounts', 'id'), $1) "
                     "FROM accounts_id_seq WHERE $1 > last_value "
                     "OR ($1 = last_value AND NOT is_called)", "i"},
    [S_ACCT_BY_ID] = {"SELECT " ACCT_COLS " FROM accounts WHERE id = $1", "i"},
    [S_ACCT_BY_DEVICE] = {"SELECT " ACCT_COLS " FROM accounts WHERE device_pub = $1", "b"},
    [S_ACCT_BY_ALIAS] = {"SELECT " ACCT_COLS " FROM accounts WHERE alias = $1", "b"},
    [S_ACCT_UPDATE] = {"UPDATE accounts SET status = $2, offline_blocked = $3, "
                       "offline_limit = $4 WHERE id = $1", "iiii"},
    [S_ACCT_LIST] = {"SELECT " ACCT_COLS " FROM accounts WHERE status = $1 AND kind = 0 "
                     "ORDER BY id", "i"},
    [S_ACCT_LIST_ALL] = {"SELECT " ACCT_COLS " FROM accounts ORDER BY id", ""},
    /* The posting and both balance moves in one round trip. One UPDATE
     * covers both accounts so that a move between the buckets of one
     * account (a release) touches its row once; rows are locked in index
     * order, which keeps two crossing transfers from deadlocking. */
    [S_POST] = {"WITH j AS (INSERT INTO journal(time, debit, debit_bucket, credit, "
                "credit_bucket, amount, kind, ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "RETURNING id), "
                "u AS (UPDATE accounts SET "
                "available = available + (CASE WHEN id = $4 AND $5 = 0 THEN $6 ELSE 0 END) "
                "- (CASE WHEN id = $2 AND $3 = 0 THEN $6 ELSE 0 END), "
                "held = held + (CASE WHEN id = $4 AND $5 = 1 THEN $6 ELSE 0 END) "
                "- (CASE WHEN id = $2 AND $3 = 1 THEN $6 ELSE 0 END) "
                "WHERE id IN ($2, $4) RETURNING id) "
                "SELECT (SELECT id FROM j), (SELECT count(*) FROM u)", "iiiiiitt"},
    [S_JOURNAL_LIST] = {"SELECT id, time, debit, debit_bucket, credit, credit_bucket, amount, "
                        "kind, ref FROM journal WHERE (debit = $1 OR credit = $1) AND id < $2 "
                        "ORDER BY id DESC LIMIT $3", "iii"},
    [S_AUDIT] = {"SELECT a.id, "
                 "COALESCE((SELECT SUM(amount) FROM journal WHERE credit = a.id AND "
                 "credit_bucket = 0), 0)::bigint - COALESCE((SELECT SUM(amount) FROM journal "
                 "WHERE debit = a.id AND debit_bucket = 0), 0)::bigint, "
                 "COALESCE((SELECT SUM(amount) FROM journal WHERE credit = a.id AND "
                 "credit_bucket = 1), 0)::bigint - COALESCE((SELECT SUM(amount) FROM journal "
                 "WHERE debit = a.id AND debit_bucket = 1), 0)::bigint "
                 "FROM accounts a ORDER BY a.id", ""},
    [S_REQ_GET] = {"SELECT body_hash, status, response, created_at FROM requests "
                   "WHERE account = $1 AND request_id = $2", "it"},
    [S_REQ_PUT] = {"INSERT INTO requests(account, request_id, body_hash, status, response, "
                   "created_at) VALUES ($1, $2, $3, $4, $5, $6)", "itbiti"},
    [S_COIN_INSERT] = {"INSERT INTO coins(serial, value, account, withdrawal, expires_at, "
                       "deposited) VALUES ($1, $2, $3, $4, $5, $6)", "biiiii"},
    [S_COIN_GET] = {"SELECT value, account, withdrawal, expires_at, deposited FROM coins "
                    "WHERE serial = $1", "b"},
    [S_COIN_DEP] = {"UPDATE coins SET deposited = deposited + $2 WHERE serial = $1", "bi"},
    /* two statements, not "account = $1 OR $1 = 0": the per-account sum is
     * on the withdrawal path and must be an index range (see below) */
    [S_COIN_OUT] = {"SELECT COALESCE(SUM(value - deposited), 0)::bigint FROM coins "
                    "WHERE account = $1", "i"},
    [S_COIN_OUT_ALL] = {"SELECT COALESCE(SUM(value - deposited), 0)::bigint FROM coins", ""},
    [S_STATE_GET] = {"SELECT successor FROM consumed WHERE serial = $1 AND state = $2", "bb"},
    /* the claim: race-free across instances by the primary key */
    [S_STATE_PUT] = {"INSERT INTO consumed(serial, state, successor, dcoin) "
                     "VALUES ($1, $2, $3, $4) ON CONFLICT (serial, state) DO NOTHING", "bbbi"},
    [S_STATE_ORPHANS] = {"SELECT DISTINCT c.serial FROM consumed c WHERE NOT EXISTS "
                         "(SELECT 1 FROM coins k WHERE k.serial = c.serial) ORDER BY 1", ""},
    [S_DCOIN_INSERT] = {"INSERT INTO deposit_coins(deposit, account, serial, chain, amount, "
                        "hold, flagged) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                        "iibbiii"},
    [S_DCOIN_BY_SERIAL] = {"SELECT " DCOIN_COLS " FROM deposit_coins WHERE serial = $1 "
                           "ORDER BY id", "b"},
    [S_HOLD_INSERT] = {"INSERT INTO holds(account, amount, release_at, status, case_id, "
                       "deposit, created_at, provisional) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                       "$8) RETURNING id", "iiiiiiii"},
    [S_HOLD_UPDATE] = {"UPDATE holds SET account = $2, amount = $3, release_at = $4, "
                       "status = $5, case_id = $6, deposit = $7, created_at = $8, "
                       "provisional = $9 WHERE id = $1", "iiiiiiiii"},
    [S_HOLD_GET] = {"SELECT " HOLD_COLS " FROM holds WHERE id = $1", "i"},
    [S_HOLDS_ACCT] = {"SELECT " HOLD_COLS " FROM holds WHERE account = $1 AND status IN (0, 1) "
                      "ORDER BY id", "i"},
    [S_HOLDS_DUE] = {"SELECT " HOLD_COLS " FROM holds WHERE status = 0 AND release_at <= $1 "
                     "ORDER BY release_at, id", "i"},
    [S_HOLDS_CASE] = {"SELECT " HOLD_COLS " FROM holds WHERE case_id = $1 AND case_id <> 0 "
                      "ORDER BY id", "i"},
    [S_HOLDS_DEPOSIT] = {"SELECT " HOLD_COLS " FROM holds WHERE deposit = $1 ORDER BY id", "i"},
    [S_CASE_INSERT] = {"INSERT INTO cases(serial, state, culprit, culprit_account, value, "
                       "exposure, evidence, status, decision, actor, reason, created_at, "
                       "resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                       "$13) RETURNING id", "bbbiiibitttii"},
    [S_CASE_UPDATE] = {"UPDATE cases SET culprit_account = $2, value = $3, exposure = $4, "
                       "status = $5, decision = $6, actor = $7, reason = $8, resolved_at = $9 "
                       "WHERE id = $1", "iiiiittti"},
    [S_CASE_BY_ID] = {"SELECT " CASE_COLS " FROM cases WHERE id = $1", "i"},
    [S_CASE_BY_STATE] = {"SELECT " CASE_COLS " FROM cases WHERE serial = $1 AND state = $2",
                         "bb"},
    [S_CASE_LIST] = {"SELECT " CASE_COLS " FROM cases WHERE status = $1 ORDER BY id", "i"},
    [S_CASE_LIST_ALL] = {"SELECT " CASE_COLS " FROM cases ORDER BY id", ""},
    [S_CASE_EVENT] = {"INSERT INTO case_events(case_id, time, actor, action, reason) "
                      "VALUES ($1, $2, $3, $4, $5)", "iittt"},
    [S_REVOKE_PUT] = {"INSERT INTO revoked(device, case_id, time) VALUES ($1, $2, $3) "
                      "ON CONFLICT (device) DO NOTHING", "bii"},
    [S_REVOKED_LIST] = {"SELECT device FROM revoked ORDER BY device", ""},
    [S_KEY_PUT] = {"INSERT INTO signing_keys(key_id, keycert, revoked_at) VALUES ($1, $2, $3) "
                   "ON CONFLICT (key_id) DO UPDATE SET keycert = excluded.keycert, "
                   "revoked_at = excluded.revoked_at", "ibi"},
    [S_KEY_LIST] = {"SELECT key_id, keycert, revoked_at FROM signing_keys ORDER BY key_id", ""},
};

#define MAX_PARAMS 16

struct pg_store {
    struct dc_store base; /* first: the interface */
    PGconn *conn;
    unsigned char prepared[S_COUNT]; /* per connection: cleared on reconnect */
    int in_tx;                       /* between begin and commit/rollback */
    int doomed;                      /* a retryable failure hit this transaction */
    char errmsg[512];
};

static struct pg_store *P(struct dc_store *s)
{
    return (struct pg_store *)(void *)s;
}

/* Statement parameters, in binary. */
struct args {
    int n;
    const char *val[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    unsigned char num[MAX_PARAMS][8];
};

static void a_i64(struct args *a, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) a->num[a->n][i] = (unsigned char)(u >> (56 - 8 * i));
    a->val[a->n] = (const char *)a->num[a->n];
    a->len[a->n] = 8;
    a->fmt[a->n] = 1;
    a->n++;
}

static void a_u64(struct args *a, uint64_t v)
{
    a_i64(a, (int64_t)v);
}

static void a_blob(struct args *a, const void *p, size_t n)
{
    a->val[a->n] = p ? (const char *)p : "";
    a->len[a->n] = (int)n;
    a->fmt[a->n] = 1;
    a->n++;
}

/* A blob, or SQL NULL when it is all zero (absent device key, alias). */
static void a_blob_or_null(struct args *a, const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    if (acc) {
        a_blob(a, p, n);
    } else {
        a->val[a->n] = NULL;
        a->len[a->n] = 0;
        a->fmt[a->n] = 1;
        a->n++;
    }
}

static void a_text(struct args *a, const char *s)
{
    a->val[a->n] = s ? s : "";
    a->len[a->n] = 0;
    a->fmt[a->n] = 0;
    a->n++;
}

static int64_t c_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return 0;
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    int len = PQgetlength(r, row, col);
    uint64_t u = 0;
    for (int i = 0; i < len && i < 8; i++) u = (u << 8) | p[i];
    if (len == 4) return (int32_t)(uint32_t)u;
    if (len == 2) return (int16_t)(uint16_t)u;
    return (int64_t)u;
}

static int c_int(const PGresult *r, int row, int col)
{
    return (int)c_i64(r, row, col);
}

static void c_blob(const PGresult *r, int row, int col, uint8_t *out, size_t n)
{
    if (!PQgetisnull(r, row, col) && (size_t)PQgetlength(r, row, col) == n) {
        memcpy(out, PQgetvalue(r, row, col), n);
    } else {
        memset(out, 0, n);
    }
}

static void c_text(const PGresult *r, int row, int col, char *out, size_t cap)
{
    /* binary text is the raw bytes; libpq always appends a NUL */
    snprintf(out, cap, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static uint8_t *c_dup(const PGresult *r, int row, int col, size_t *len)
{
    size_t n = (size_t)PQgetlength(r, row, col);
    uint8_t *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, PQgetvalue(r, row, col), n);
    *len = d ? n : 0;
    return d;
}

/* ---- Errors, connection, execution -------------------------------------- */

/* libpq messages span lines ("...failed: refused\n\tIs the server running");
 * ours are one line: line breaks and tabs become single spaces. */
static void one_line(char *m)
{
    char *w = m;
    for (const char *r = m; *r; r++) {
        char c = (*r == '\n' || *r == '\t' || *r == '\r') ? ' ' : *r;
        if (c == ' ' && (w == m || w[-1] == ' ')) continue;
        *w++ = c;
    }
    while (w > m && w[-1] == ' ') w--;
    *w = '\0';
}

static void set_msg(struct pg_store *s, const char *what)
{
    const char *m = PQerrorMessage(s->conn);
    snprintf(s->errmsg, sizeof s->errmsg, "postgresql: %s%s", what, m && *m ? m : "(no message)");
    one_line(s->errmsg);
}

/* Maps a failed result (or none) to the registry; remembers the message. */
static enum dc_err classify(struct pg_store *s, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    set_msg(s, "");
    if (PQstatus(s->conn) != CONNECTION_OK) {
        s->doomed = s->in_tx;
        return DC_ERR_STORE_RETRY;
    }
    if (!state) return DC_ERR_STORE;
    /* 40001 serialization failure, 40P01 deadlock: the transaction lost a
     * race with another one and must run again from its start */
    if (strncmp(state, "40", 2) == 0 || strncmp(state, "08", 2) == 0 ||
        strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
        strcmp(state, "57P03") == 0 || strcmp(state, "55P03") == 0 ||
        strcmp(state, "53300") == 0) {
        s->doomed = s->in_tx;
        return DC_ERR_STORE_RETRY;
    }
    if (strcmp(state, "25P02") == 0) return s->doomed ? DC_ERR_STORE_RETRY : DC_ERR_STORE;
    if (strncmp(state, "23", 2) == 0) return DC_ERR_STORE_CONSTRAINT;
    if (strcmp(state, "22003") == 0) return DC_ERR_AMOUNT_OVERFLOW;
    if (strcmp(state, "53200") == 0) return DC_ERR_NO_MEMORY;
    if (strcmp(state, "3F000") == 0 || strcmp(state, "42P01") == 0) return DC_ERR_STORE_SCHEMA;
    return DC_ERR_STORE;
}

/* Session settings, applied on every (re)connection. enable_seqscan = off:
 * under SERIALIZABLE a sequential scan takes a predicate lock on the whole
 * table and turns every concurrent write to it into a conflict; our
 * write-path queries all have an index, but on small tables the planner
 * would still scan (PostgreSQL docs, "Serializable Isolation Level"). */
static enum dc_err session_setup(struct pg_store *s)
{
    PGresult *r = PQexec(s->conn, "SET enable_seqscan = off");
    enum dc_err e = PQresultStatus(r) == PGRES_COMMAND_OK ? DC_OK : classify(s, r);
    PQclear(r);
    return e;
}

/* Re-establishes a broken connection (outside transactions only). */
static enum dc_err reconnect(struct pg_store *s)
{
    PQreset(s->conn);
    memset(s->prepared, 0, sizeof s->prepared);
    s->in_tx = 0;
    s->doomed = 0;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        set_msg(s, "reconnect: ");
        return DC_ERR_STORE_RETRY;
    }
    return session_setup(s);
}

static enum dc_err ensure_conn(struct pg_store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK) return DC_OK;
    if (s->in_tx) {
        s->doomed = 1;
        snprintf(s->errmsg, sizeof s->errmsg, "postgresql: connection lost in a transaction");
        return DC_ERR_STORE_RETRY;
    }
    return reconnect(s);
}

/*
 * Runs statement id with a's parameters; returns the result (caller
 * PQclears) or NULL with *err set. A read-only statement outside a
 * transaction whose connection broke is retried once on a new connection.
 */
static PGresult *q(struct pg_store *s, enum stmt_id id, const struct args *a, enum dc_err *err)
{
    for (int attempt = 0;; attempt++) {
        *err = ensure_conn(s);
        if (*err != DC_OK) return NULL;
        char name[16];
        snprintf(name, sizeof name, "d%d", (int)id);
        if (!s->prepared[id]) {
            Oid types[MAX_PARAMS];
            int n = (int)strlen(stmts[id].types);
            for (int i = 0; i < n; i++) {
                char t = stmts[id].types[i];
                types[i] = t == 'i' ? OID_INT8 : t == 'b' ? OID_BYTEA : OID_TEXT;
            }
            PGresult *r = PQprepare(s->conn, name, stmts[id].sql, n, types);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                *err = classify(s, r);
                PQclear(r);
                if (*err == DC_ERR_STORE_RETRY && !s->in_tx && attempt == 0) continue;
                return NULL;
            }
            PQclear(r);
            s->prepared[id] = 1;
        }
        PGresult *r = PQexecPrepared(s->conn, name, a ? a->n : 0, a ? a->val : NULL,
                                     a ? a->len : NULL, a ? a->fmt : NULL, 1);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
        *err = classify(s, r);
        PQclear(r);
        int read_only = strncmp(stmts[id].sql, "SELECT", 6) == 0 && id != S_ACCT_BUMP;
        if (*err == DC_ERR_STORE_RETRY && !s->in_tx && read_only && attempt == 0 &&
            PQstatus(s->conn) != CONNECTION_OK) {
            continue;
        }
        return NULL;
    }
}

/* Runs a statement whose rows are not wanted. *changed: rows affected. */
static enum dc_err run(struct pg_store *s, enum stmt_id id, const struct args *a, long *changed)
{
    enum dc_err e;
    PGresult *r = q(s, id, a, &e);
    if (!r) return e;
    if (changed) *changed = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return DC_OK;
}

/* A plain command (transaction control), by the simple protocol. */
static enum dc_err cmd(struct pg_store *s, const char *text)
{
    PGresult *r = PQexec(s->conn, text);
    enum dc_err e = PQresultStatus(r) == PGRES_COMMAND_OK ? DC_OK : classify(s, r);
    PQclear(r);
    return e;
}

/* ---- Connection and schema -------------------------------------------- */

static enum dc_err p_close(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (!s) return DC_OK;
    PQfinish(s->conn);
    free(s);
    return DC_OK;
}

static const char *p_errmsg(struct dc_store *base)
{
    return P(base)->errmsg;
}

/* Applies the next migration if any, in one transaction under the
 * migration lock. *done = 1 when the schema is current. */
static enum dc_err migrate_step(struct pg_store *s, int known, int *done)
{
    *done = 0;
    enum dc_err e = cmd(s, "BEGIN");
    if (e != DC_OK) return e;
    s->in_tx = 1;
    int have = 0;
    char lock[80];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", (long long)MIGRATE_LOCK);
    PGresult *r = PQexec(s->conn, lock);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) e = classify(s, r);
    PQclear(r);
    if (e == DC_OK) {
        r = PQexec(s->conn, "SELECT to_regclass('meta') IS NOT NULL");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            e = classify(s, r);
        } else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
            PQclear(r);
            r = PQexec(s->conn, "SELECT value FROM meta WHERE key = 'schema_version'");
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                e = classify(s, r);
            } else if (PQntuples(r) == 1) {
                have = atoi(PQgetvalue(r, 0, 0));
            }
        }
        PQclear(r);
    }
    if (e == DC_OK && have > known) {
        snprintf(s->errmsg, sizeof s->errmsg,
                 "database schema version %d is newer than this ducatd (%d)", have, known);
        e = DC_ERR_STORE_SCHEMA;
    }
    if (e == DC_OK && have < known) {
        r = PQexec(s->conn, schema_pg[have]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) e = classify(s, r);
        PQclear(r);
        char bump[160];
        snprintf(bump, sizeof bump,
                 "INSERT INTO meta(key, value) VALUES ('schema_version', '%d') ON CONFLICT (key) "
                 "DO UPDATE SET value = excluded.value", have + 1);
        if (e == DC_OK) e = cmd(s, bump);
    }
    if (e == DC_OK) e = cmd(s, "COMMIT");
    if (e != DC_OK) {
        char keep[sizeof s->errmsg];
        memcpy(keep, s->errmsg, sizeof keep);
        if (PQstatus(s->conn) == CONNECTION_OK) cmd(s, "ROLLBACK");
        memcpy(s->errmsg, keep, sizeof keep);
    }
    s->in_tx = 0;
    s->doomed = 0;
    if (e == DC_OK && have >= known) *done = 1;
    return e;
}

static enum dc_err p_migrate(struct dc_store *base, int *version)
{
    struct pg_store *s = P(base);
    int known = 0;
    while (schema_pg[known]) known++;
    enum dc_err e = ensure_conn(s);
    for (int guard = 0; e == DC_OK && guard <= known; guard++) {
        int done;
        e = migrate_step(s, known, &done);
        if (e == DC_OK && done) {
            *version = known;
            return DC_OK;
        }
    }
    return e != DC_OK ? e : DC_ERR_INTERNAL;
}

/* ---- Transactions ----------------------------------------------------- */

static enum dc_err p_begin(struct dc_store *base, int write)
{
    struct pg_store *s = P(base);
    s->in_tx = 0; /* a new transaction may reconnect */
    enum dc_err e = ensure_conn(s);
    if (e != DC_OK) return e;
    if (PQtransactionStatus(s->conn) != PQTRANS_IDLE) cmd(s, "ROLLBACK");
    s->doomed = 0;
    /* see the file header for the isolation levels */
    e = cmd(s, write ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                     : "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    if (e == DC_OK) s->in_tx = 1;
    return e;
}

static enum dc_err p_rollback(struct dc_store *base)
{
    struct pg_store *s = P(base);
    enum dc_err e = DC_OK;
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
        e = cmd(s, "ROLLBACK");
    }
    s->in_tx = 0;
    s->doomed = 0;
    /* a lost connection has nothing left to roll back: the server aborted */
    return e == DC_ERR_STORE_RETRY ? DC_OK : e;
}

static enum dc_err p_commit(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (s->doomed) {
        p_rollback(base);
        return DC_ERR_STORE_RETRY;
    }
    PGresult *r = PQexec(s->conn, "COMMIT");
    enum dc_err e = DC_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        e = classify(s, r);
    } else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        /* COMMIT of a failed transaction answers ROLLBACK, not an error */
        snprintf(s->errmsg, sizeof s->errmsg, "postgresql: commit rolled back a failed "
                                              "transaction");
        e = DC_ERR_STORE;
    }
    PQclear(r);
    s->in_tx = 0;
    s->doomed = 0;
    return e;
}

static enum dc_err p_savepoint(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (s->doomed) return DC_ERR_STORE_RETRY;
    return cmd(s, "SAVEPOINT job");
}

static enum dc_err p_release(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (s->doomed) return DC_ERR_STORE_RETRY;
    return cmd(s, "RELEASE SAVEPOINT job");
}

static enum dc_err p_rollback_to(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (s->doomed) return DC_ERR_STORE_RETRY;
    /* two commands, one round trip */
    return cmd(s, "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
}

/* ---- Settings --------------------------------------------------------- */

static enum dc_err meta_get(struct dc_store *base, const char *key, char *out, size_t cap)
{
    struct pg_store *s = P(base);
    struct args a = {0};
    a_text(&a, key);
    enum dc_err e;
    PGresult *r = q(s, S_META_GET, &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) {
        c_text(r, 0, 0, out, cap);
    } else {
        e = DC_ERR_NOT_FOUND;
    }
    PQclear(r);
    return e;
}

static enum dc_err meta_put(struct dc_store *base, const char *key, const char *value)
{
    struct args a = {0};
    a_text(&a, key);
    a_text(&a, value);
    return run(P(base), S_META_PUT, &a, NULL);
}

/* ---- Accounts --------------------------------------------------------- */

static enum dc_err account_insert(struct dc_store *base, struct dc_account *a)
{
    struct pg_store *s = P(base);
    struct args x = {0};
    if (a->id) a_i64(&x, a->id);
    a_i64(&x, a->kind);
    a_i64(&x, a->status);
    a_i64(&x, a->offline_blocked);
    a_text(&x, a->name);
    a_text(&x, a->national_id);
    a_text(&x, a->phone);
    a_blob_or_null(&x, a->device_pub, DC_PUBKEY_BYTES);
    a_blob_or_null(&x, a->alias, DC_ALIAS_BYTES);
    a_i64(&x, a->offline_limit);
    a_i64(&x, a->available);
    a_i64(&x, a->held);
    a_u64(&x, a->created_at);
    enum dc_err e;
    PGresult *r = q(s, a->id ? S_ACCT_INSERT : S_ACCT_INSERT_AUTO, &x, &e);
    if (!r) return e;
    int64_t explicit_id = a->id;
    a->id = c_i64(r, 0, 0);
    PQclear(r);
    if (explicit_id >= DC_ACCT_ID_FIRST_USER) {
        struct args b = {0};
        a_i64(&b, explicit_id);
        e = run(s, S_ACCT_BUMP, &b, NULL);
    }
    return e;
}

static void read_account(const PGresult *r, int i, struct dc_account *a)
{
    memset(a, 0, sizeof *a);
    a->id = c_i64(r, i, 0);
    a->kind = c_int(r, i, 1);
    a->status = c_int(r, i, 2);
    a->offline_blocked = c_int(r, i, 3);
    c_text(r, i, 4, a->name, sizeof a->name);
    c_text(r, i, 5, a->national_id, sizeof a->national_id);
    c_text(r, i, 6, a->phone, sizeof a->phone);
    c_blob(r, i, 7, a->device_pub, DC_PUBKEY_BYTES);
    c_blob(r, i, 8, a->alias, DC_ALIAS_BYTES);
    a->offline_limit = c_i64(r, i, 9);
    a->available = c_i64(r, i, 10);
    a->held = c_i64(r, i, 11);
    a->created_at = (uint64_t)c_i64(r, i, 12);
}

static enum dc_err account_get(struct dc_store *base, struct dc_account *out, enum dc_acct_by by,
                               int64_t id, const uint8_t *key)
{
    struct pg_store *s = P(base);
    struct args a = {0};
    if (by == DC_BY_ID) {
        a_i64(&a, id);
    } else {
        a_blob(&a, key, by == DC_BY_DEVICE ? DC_PUBKEY_BYTES : DC_ALIAS_BYTES);
    }
    enum dc_err e;
    PGresult *r = q(s, by == DC_BY_ID       ? S_ACCT_BY_ID
                       : by == DC_BY_DEVICE ? S_ACCT_BY_DEVICE
                                            : S_ACCT_BY_ALIAS,
                    &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) {
        read_account(r, 0, out);
    } else {
        e = DC_ERR_NO_ACCOUNT;
    }
    PQclear(r);
    return e;
}

static enum dc_err account_update(struct dc_store *base, const struct dc_account *acc)
{
    struct args a = {0};
    a_i64(&a, acc->id);
    a_i64(&a, acc->status);
    a_i64(&a, acc->offline_blocked);
    a_i64(&a, acc->offline_limit);
    long n = 0;
    enum dc_err e = run(P(base), S_ACCT_UPDATE, &a, &n);
    if (e == DC_OK && n != 1) e = DC_ERR_NO_ACCOUNT;
    return e;
}

/* Runs a listing and calls readfn + cb for each row until cb says stop.
 * The whole result is in memory, so a callback may use the store. */
#define FOR_ROWS(s, id, a, decl, readfn, cb, ctx)                                             \
    do {                                                                                     \
        enum dc_err e_;                                                                      \
        PGresult *r = q((s), (id), (a), &e_);                                                \
        if (!r) return e_;                                                                   \
        int n_ = PQntuples(r);                                                               \
        for (int i = 0; i < n_; i++) {                                                       \
            decl;                                                                            \
            readfn;                                                                          \
            if (cb(ctx, &row_)) break;                                                       \
        }                                                                                    \
        PQclear(r);                                                                          \
        return DC_OK;                                                                        \
    } while (0)

static enum dc_err account_list(struct dc_store *base, int status, dc_account_cb cb, void *ctx)
{
    struct args a = {0};
    if (status >= 0) a_i64(&a, status);
    FOR_ROWS(P(base), status < 0 ? S_ACCT_LIST_ALL : S_ACCT_LIST, &a, struct dc_account row_,
             read_account(r, i, &row_), cb, ctx);
}

/* ---- Journal ---------------------------------------------------------- */

static enum dc_err post(struct dc_store *base, struct dc_posting *p)
{
    struct pg_store *s = P(base);
    if (p->amount <= 0) return DC_ERR_INVALID_ARGUMENT;
    struct args a = {0};
    a_u64(&a, p->time);
    a_i64(&a, p->debit);
    a_i64(&a, p->debit_bucket);
    a_i64(&a, p->credit);
    a_i64(&a, p->credit_bucket);
    a_i64(&a, p->amount);
    a_text(&a, p->kind);
    a_text(&a, p->ref);
    enum dc_err e;
    PGresult *r = q(s, S_POST, &a, &e);
    if (!r) return e;
    p->id = c_i64(r, 0, 0);
    int64_t moved = c_i64(r, 0, 1);
    PQclear(r);
    return moved == (p->debit == p->credit ? 1 : 2) ? DC_OK : DC_ERR_NO_ACCOUNT;
}

static void read_posting(const PGresult *r, int i, struct dc_posting *p)
{
    memset(p, 0, sizeof *p);
    p->id = c_i64(r, i, 0);
    p->time = (uint64_t)c_i64(r, i, 1);
    p->debit = c_i64(r, i, 2);
    p->debit_bucket = c_int(r, i, 3);
    p->credit = c_i64(r, i, 4);
    p->credit_bucket = c_int(r, i, 5);
    p->amount = c_i64(r, i, 6);
    c_text(r, i, 7, p->kind, sizeof p->kind);
    c_text(r, i, 8, p->ref, sizeof p->ref);
}

static enum dc_err journal_list(struct dc_store *base, int64_t account, int64_t before, int limit,
                                dc_posting_cb cb, void *ctx)
{
    struct args a = {0};
    a_i64(&a, account);
    a_i64(&a, before > 0 ? before : INT64_MAX);
    a_i64(&a, limit);
    FOR_ROWS(P(base), S_JOURNAL_LIST, &a, struct dc_posting row_, read_posting(r, i, &row_), cb,
             ctx);
}

static enum dc_err audit_sums(struct dc_store *base, dc_audit_cb cb, void *ctx)
{
    FOR_ROWS(P(base), S_AUDIT, NULL, struct dc_audit_row row_,
             (row_.account = c_i64(r, i, 0), row_.journal_available = c_i64(r, i, 1),
              row_.journal_held = c_i64(r, i, 2)),
             cb, ctx);
}

/* ---- Idempotency ------------------------------------------------------ */

static enum dc_err request_get(struct dc_store *base, struct dc_request_rec *io)
{
    struct pg_store *s = P(base);
    struct args a = {0};
    a_i64(&a, io->account);
    a_text(&a, io->request_id);
    io->response = NULL;
    enum dc_err e;
    PGresult *r = q(s, S_REQ_GET, &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) {
        c_blob(r, 0, 0, io->body_hash, DC_HASH_BYTES);
        io->status = c_int(r, 0, 1);
        io->response = strdup(PQgetvalue(r, 0, 2));
        io->created_at = (uint64_t)c_i64(r, 0, 3);
        if (!io->response) e = DC_ERR_NO_MEMORY;
    } else {
        e = DC_ERR_NOT_FOUND;
    }
    PQclear(r);
    return e;
}

static enum dc_err request_put(struct dc_store *base, const struct dc_request_rec *rec,
                               const char *response)
{
    struct args a = {0};
    a_i64(&a, rec->account);
    a_text(&a, rec->request_id);
    a_blob(&a, rec->body_hash, DC_HASH_BYTES);
    a_i64(&a, rec->status);
    a_text(&a, response);
    a_u64(&a, rec->created_at);
    return run(P(base), S_REQ_PUT, &a, NULL);
}

/* ---- Coins and consumed states ------------------------------------------ */

static enum dc_err coin_insert(struct dc_store *base, const struct dc_coin_rec *c)
{
    struct args a = {0};
    a_blob(&a, c->serial, DC_SERIAL_BYTES);
    a_i64(&a, c->value);
    a_i64(&a, c->account);
    a_i64(&a, c->withdrawal);
    a_u64(&a, c->expires_at);
    a_i64(&a, c->deposited);
    return run(P(base), S_COIN_INSERT, &a, NULL);
}

static enum dc_err coin_get(struct dc_store *base, struct dc_coin_rec *io)
{
    struct args a = {0};
    a_blob(&a, io->serial, DC_SERIAL_BYTES);
    enum dc_err e;
    PGresult *r = q(P(base), S_COIN_GET, &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) {
        io->value = c_i64(r, 0, 0);
        io->account = c_i64(r, 0, 1);
        io->withdrawal = c_i64(r, 0, 2);
        io->expires_at = (uint64_t)c_i64(r, 0, 3);
        io->deposited = c_i64(r, 0, 4);
    } else {
        e = DC_ERR_NOT_FOUND;
    }
    PQclear(r);
    return e;
}

static enum dc_err coin_add_deposited(struct dc_store *base, const uint8_t *serial, int64_t amount)
{
    struct args a = {0};
    a_blob(&a, serial, DC_SERIAL_BYTES);
    a_i64(&a, amount);
    long n = 0;
    enum dc_err e = run(P(base), S_COIN_DEP, &a, &n);
    if (e == DC_OK && n != 1) e = DC_ERR_NOT_FOUND;
    return e;
}

static enum dc_err coin_outstanding(struct dc_store *base, int64_t account, int64_t *total)
{
    struct args a = {0};
    if (account) a_i64(&a, account);
    enum dc_err e;
    *total = 0;
    PGresult *r = q(P(base), account ? S_COIN_OUT : S_COIN_OUT_ALL, &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) *total = c_i64(r, 0, 0);
    PQclear(r);
    return DC_OK;
}

/*
 * The claim is INSERT ... ON CONFLICT DO NOTHING, then a read only when
 * nothing was inserted. Across instances the primary key decides: a
 * concurrent claim of the same state waits for the first transaction; if it
 * committed, the second one fails with a serialization error (its snapshot
 * cannot see the winner) and, on retry, reads the winner's successor.
 */
static enum dc_err state_claim(struct dc_store *base, const uint8_t *serial, const uint8_t *state,
                               const uint8_t *successor, int64_t dcoin, int *inserted,
                               uint8_t existing[DC_HASH_BYTES])
{
    struct pg_store *s = P(base);
    struct args a = {0};
    a_blob(&a, serial, DC_SERIAL_BYTES);
    a_blob(&a, state, DC_HASH_BYTES);
    a_blob(&a, successor, DC_HASH_BYTES);
    a_i64(&a, dcoin);
    long n = 0;
    enum dc_err e = run(s, S_STATE_PUT, &a, &n);
    if (e != DC_OK) return e;
    if (n == 1) {
        *inserted = 1;
        memcpy(existing, successor, DC_HASH_BYTES);
        return DC_OK;
    }
    a.n = 2;
    PGresult *r = q(s, S_STATE_GET, &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) {
        c_blob(r, 0, 0, existing, DC_HASH_BYTES);
        *inserted = 0;
    } else {
        /* a conflict on a row we cannot see: only a concurrent writer */
        snprintf(s->errmsg, sizeof s->errmsg, "postgresql: consumed state claimed concurrently");
        s->doomed = s->in_tx;
        e = DC_ERR_STORE_RETRY;
    }
    PQclear(r);
    return e;
}

static enum dc_err state_unknown_serials(struct dc_store *base, dc_blob_cb cb, void *ctx)
{
    enum dc_err e;
    PGresult *r = q(P(base), S_STATE_ORPHANS, NULL, &e);
    if (!r) return e;
    for (int i = 0; i < PQntuples(r); i++) {
        if (cb(ctx, (const uint8_t *)PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0))) break;
    }
    PQclear(r);
    return DC_OK;
}

/* ---- Deposits and holds ------------------------------------------------ */

static enum dc_err dcoin_insert(struct dc_store *base, struct dc_dcoin *c)
{
    struct args a = {0};
    a_i64(&a, c->deposit);
    a_i64(&a, c->account);
    a_blob(&a, c->serial, DC_SERIAL_BYTES);
    a_blob(&a, c->chain, c->chain_len);
    a_i64(&a, c->amount);
    a_i64(&a, c->hold);
    a_i64(&a, c->flagged);
    enum dc_err e;
    PGresult *r = q(P(base), S_DCOIN_INSERT, &a, &e);
    if (!r) return e;
    c->id = c_i64(r, 0, 0);
    PQclear(r);
    return DC_OK;
}

static void read_dcoin(const PGresult *r, int i, struct dc_dcoin *c)
{
    memset(c, 0, sizeof *c);
    c->id = c_i64(r, i, 0);
    c->deposit = c_i64(r, i, 1);
    c->account = c_i64(r, i, 2);
    c_blob(r, i, 3, c->serial, DC_SERIAL_BYTES);
    /* the chain is only valid during the callback */
    c->chain = (const uint8_t *)PQgetvalue(r, i, 4);
    c->chain_len = (size_t)PQgetlength(r, i, 4);
    c->amount = c_i64(r, i, 5);
    c->hold = c_i64(r, i, 6);
    c->flagged = c_int(r, i, 7);
}

static enum dc_err dcoins_by_serial(struct dc_store *base, const uint8_t *serial, dc_dcoin_cb cb,
                                    void *ctx)
{
    struct args a = {0};
    a_blob(&a, serial, DC_SERIAL_BYTES);
    FOR_ROWS(P(base), S_DCOIN_BY_SERIAL, &a, struct dc_dcoin row_, read_dcoin(r, i, &row_), cb,
             ctx);
}

static void read_hold(const PGresult *r, int i, struct dc_hold *h)
{
    h->id = c_i64(r, i, 0);
    h->account = c_i64(r, i, 1);
    h->amount = c_i64(r, i, 2);
    h->release_at = (uint64_t)c_i64(r, i, 3);
    h->status = c_int(r, i, 4);
    h->case_id = c_i64(r, i, 5);
    h->deposit = c_i64(r, i, 6);
    h->created_at = (uint64_t)c_i64(r, i, 7);
    h->provisional = c_int(r, i, 8);
}

static enum dc_err hold_put(struct dc_store *base, struct dc_hold *h)
{
    struct args a = {0};
    if (h->id) a_i64(&a, h->id);
    a_i64(&a, h->account);
    a_i64(&a, h->amount);
    a_u64(&a, h->release_at);
    a_i64(&a, h->status);
    a_i64(&a, h->case_id);
    a_i64(&a, h->deposit);
    a_u64(&a, h->created_at);
    a_i64(&a, h->provisional);
    enum dc_err e;
    PGresult *r = q(P(base), h->id ? S_HOLD_UPDATE : S_HOLD_INSERT, &a, &e);
    if (!r) return e;
    if (!h->id) h->id = c_i64(r, 0, 0);
    PQclear(r);
    return DC_OK;
}

static enum dc_err hold_get(struct dc_store *base, struct dc_hold *out, int64_t id)
{
    struct args a = {0};
    a_i64(&a, id);
    enum dc_err e;
    PGresult *r = q(P(base), S_HOLD_GET, &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) {
        read_hold(r, 0, out);
    } else {
        e = DC_ERR_NOT_FOUND;
    }
    PQclear(r);
    return e;
}

static enum dc_err holds_list(struct dc_store *base, enum dc_holds_by by, int64_t arg,
                              dc_hold_cb cb, void *ctx)
{
    enum stmt_id id = by == DC_HOLDS_OF_ACCOUNT ? S_HOLDS_ACCT
                      : by == DC_HOLDS_DUE      ? S_HOLDS_DUE
                      : by == DC_HOLDS_OF_CASE  ? S_HOLDS_CASE
                                                : S_HOLDS_DEPOSIT;
    struct args a = {0};
    a_i64(&a, arg);
    FOR_ROWS(P(base), id, &a, struct dc_hold row_, read_hold(r, i, &row_), cb, ctx);
}

/* ---- Cases, revocation, keys ------------------------------------------ */

static enum dc_err case_put(struct dc_store *base, struct dc_case *c)
{
    struct args a = {0};
    enum dc_err e;
    if (!c->id) {
        a_blob(&a, c->serial, DC_SERIAL_BYTES);
        a_blob(&a, c->state, DC_HASH_BYTES);
        a_blob(&a, c->culprit, DC_PUBKEY_BYTES);
        a_i64(&a, c->culprit_account);
        a_i64(&a, c->value);
        a_i64(&a, c->exposure);
        a_blob(&a, c->evidence, c->evidence_len);
        a_i64(&a, c->status);
        a_text(&a, c->decision);
        a_text(&a, c->actor);
        a_text(&a, c->reason);
        a_u64(&a, c->created_at);
        a_u64(&a, c->resolved_at);
        PGresult *r = q(P(base), S_CASE_INSERT, &a, &e);
        if (!r) return e;
        c->id = c_i64(r, 0, 0);
        PQclear(r);
        return DC_OK;
    }
    a_i64(&a, c->id);
    a_i64(&a, c->culprit_account);
    a_i64(&a, c->value);
    a_i64(&a, c->exposure);
    a_i64(&a, c->status);
    a_text(&a, c->decision);
    a_text(&a, c->actor);
    a_text(&a, c->reason);
    a_u64(&a, c->resolved_at);
    return run(P(base), S_CASE_UPDATE, &a, NULL);
}

static void read_case(const PGresult *r, int i, struct dc_case *c, int with_evidence)
{
    memset(c, 0, sizeof *c);
    c->id = c_i64(r, i, 0);
    c_blob(r, i, 1, c->serial, DC_SERIAL_BYTES);
    c_blob(r, i, 2, c->state, DC_HASH_BYTES);
    c_blob(r, i, 3, c->culprit, DC_PUBKEY_BYTES);
    c->culprit_account = c_i64(r, i, 4);
    c->value = c_i64(r, i, 5);
    c->exposure = c_i64(r, i, 6);
    if (with_evidence) c->evidence = c_dup(r, i, 7, &c->evidence_len);
    c->status = c_int(r, i, 8);
    c_text(r, i, 9, c->decision, sizeof c->decision);
    c_text(r, i, 10, c->actor, sizeof c->actor);
    c_text(r, i, 11, c->reason, sizeof c->reason);
    c->created_at = (uint64_t)c_i64(r, i, 12);
    c->resolved_at = (uint64_t)c_i64(r, i, 13);
}

static enum dc_err case_get(struct dc_store *base, struct dc_case *out, int64_t id,
                            const uint8_t *serial, const uint8_t *state)
{
    struct args a = {0};
    if (id) {
        a_i64(&a, id);
    } else {
        a_blob(&a, serial, DC_SERIAL_BYTES);
        a_blob(&a, state, DC_HASH_BYTES);
    }
    enum dc_err e;
    PGresult *r = q(P(base), id ? S_CASE_BY_ID : S_CASE_BY_STATE, &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) {
        read_case(r, 0, out, 1);
        if (!out->evidence) e = DC_ERR_NO_MEMORY;
    } else {
        e = DC_ERR_NO_CASE;
    }
    PQclear(r);
    return e;
}

static enum dc_err case_list(struct dc_store *base, int status, dc_case_cb cb, void *ctx)
{
    struct args a = {0};
    if (status >= 0) a_i64(&a, status);
    FOR_ROWS(P(base), status < 0 ? S_CASE_LIST_ALL : S_CASE_LIST, &a, struct dc_case row_,
             read_case(r, i, &row_, 0), cb, ctx);
}

static enum dc_err case_event(struct dc_store *base, int64_t case_id, uint64_t time,
                              const char *actor, const char *action, const char *reason)
{
    struct args a = {0};
    a_i64(&a, case_id);
    a_u64(&a, time);
    a_text(&a, actor);
    a_text(&a, action);
    a_text(&a, reason ? reason : "");
    return run(P(base), S_CASE_EVENT, &a, NULL);
}

static enum dc_err revoke_put(struct dc_store *base, const uint8_t *device, int64_t case_id,
                              uint64_t time)
{
    struct args a = {0};
    a_blob(&a, device, DC_PUBKEY_BYTES);
    a_i64(&a, case_id);
    a_u64(&a, time);
    return run(P(base), S_REVOKE_PUT, &a, NULL);
}

static enum dc_err revoked_list(struct dc_store *base, dc_blob_cb cb, void *ctx)
{
    enum dc_err e;
    PGresult *r = q(P(base), S_REVOKED_LIST, NULL, &e);
    if (!r) return e;
    for (int i = 0; i < PQntuples(r); i++) {
        if (cb(ctx, (const uint8_t *)PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0))) break;
    }
    PQclear(r);
    return DC_OK;
}

static enum dc_err key_put(struct dc_store *base, const struct dc_key_rec *k)
{
    struct args a = {0};
    a_i64(&a, k->key_id);
    a_blob(&a, k->keycert, DC_KEYCERT_BYTES);
    a_u64(&a, k->revoked_at);
    return run(P(base), S_KEY_PUT, &a, NULL);
}

static enum dc_err key_list(struct dc_store *base, dc_key_cb cb, void *ctx)
{
    FOR_ROWS(P(base), S_KEY_LIST, NULL, struct dc_key_rec row_,
             (row_.key_id = (uint32_t)c_i64(r, i, 0),
              c_blob(r, i, 1, row_.keycert, DC_KEYCERT_BYTES),
              row_.revoked_at = (uint64_t)c_i64(r, i, 2)),
             cb, ctx);
}

static const struct dc_store_ops pg_ops = {
    .name = "postgresql",
    .close = p_close,
    .migrate = p_migrate,
    .errmsg = p_errmsg,
    .begin = p_begin,
    .commit = p_commit,
    .rollback = p_rollback,
    .savepoint = p_savepoint,
    .release = p_release,
    .rollback_to = p_rollback_to,
    .meta_get = meta_get,
    .meta_put = meta_put,
    .account_insert = account_insert,
    .account_get = account_get,
    .account_update = account_update,
    .account_list = account_list,
    .post = post,
    .journal_list = journal_list,
    .audit_sums = audit_sums,
    .request_get = request_get,
    .request_put = request_put,
    .coin_insert = coin_insert,
    .coin_get = coin_get,
    .coin_add_deposited = coin_add_deposited,
    .coin_outstanding = coin_outstanding,
    .state_claim = state_claim,
    .state_unknown_serials = state_unknown_serials,
    .dcoin_insert = dcoin_insert,
    .dcoins_by_serial = dcoins_by_serial,
    .hold_put = hold_put,
    .hold_get = hold_get,
    .holds_list = holds_list,
    .case_put = case_put,
    .case_get = case_get,
    .case_list = case_list,
    .case_event = case_event,
    .revoke_put = revoke_put,
    .revoked_list = revoked_list,
    .key_put = key_put,
    .key_list = key_list,
};

enum dc_err dc_store_pg_open(struct dc_store **out, const char *url, char *errbuf, size_t errcap)
{
    *out = NULL;
    struct pg_store *s = calloc(1, sizeof *s);
    if (!s) return DC_ERR_NO_MEMORY;
    s->base.ops = &pg_ops;
    /* our defaults first; whatever the URL says wins (expand_dbname) */
    const char *const keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *const vals[] = {"ducatd", "10", url, NULL};
    s->conn = PQconnectdbParams(keys, vals, 1);
    char shown[512];
    dc_store_redact(shown, sizeof shown, url);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        const char *m = s->conn ? PQerrorMessage(s->conn) : "out of memory";
        snprintf(errbuf, errcap, "cannot connect to PostgreSQL '%s': %s", shown, m);
        one_line(errbuf);
        PQfinish(s->conn);
        free(s);
        return DC_ERR_STORE;
    }
    enum dc_err e = session_setup(s);
    if (e != DC_OK) {
        snprintf(errbuf, errcap, "cannot configure PostgreSQL session '%s': %s", shown,
                 s->errmsg);
        p_close(&s->base);
        return e;
    }
    *out = &s->base;
    return DC_OK;
}
