/*
 * store_sqlite.c - the SQLite backend of the store interface (store.h).
 *
 * The embedded default: one file, WAL journal, synchronous=FULL (a commit
 * is on disk when COMMIT returns), foreign keys on, a busy timeout so the
 * operator CLI and the server can share the file. Statements are prepared
 * once per connection and cached by id. Throughput comes from the server's
 * group commit (many requests per transaction), not from weaker durability.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/amount.h"
#include "ducat/refusal.h"
#include "schema_sqlite.h" /* generated: schema_sqlite[] */
#include "store/store.h"

enum stmt_id {
    S_META_GET,
    S_META_PUT,
    S_ACCT_INSERT,
    S_ACCT_BY_ID,
    S_ACCT_BY_DEVICE,
    S_ACCT_BY_ALIAS,
    S_ACCT_UPDATE,
    S_ACCT_LIST,
    S_ACCT_LIST_ALL,
    S_POST,
    S_BAL_AVAIL,
    S_BAL_HELD,
    S_JOURNAL_LIST,
    S_AUDIT,
    S_REQ_GET,
    S_REQ_PUT,
    S_COIN_INSERT,
    S_COIN_GET,
    S_COIN_DEP,
    S_COIN_OUT,
    S_STATE_GET,
    S_STATE_PUT,
    S_STATE_ORPHANS,
    S_DCOIN_INSERT,
    S_DCOIN_BY_SERIAL,
    S_HOLD_INSERT,
    S_HOLD_UPDATE,
    S_HOLD_GET,
    S_HOLDS_ACCT,
    S_HOLDS_DUE,
    S_HOLDS_RECHECK,
    S_HOLDS_PROV,
    S_HOLDS_CASE,
    S_HOLDS_DEPOSIT,
    S_HOLDS_PAGE,
    S_HOLDS_PAGE_ALL,
    S_CASE_INSERT,
    S_CASE_UPDATE,
    S_CASE_BY_ID,
    S_CASE_BY_STATE,
    S_CASE_LIST,
    S_CASE_LIST_ALL,
    S_CASE_LIST_CULPRIT,
    S_ACCT_SEARCH,
    S_CASE_SEARCH,
    S_TOTALS,
    S_ACCT_PAGE,
    S_ACCT_PAGE_ALL,
    S_CASE_EVENT,
    S_ACCT_EVENT,
    S_EVENTS_ACCT,
    S_EVENTS_CASE,
    S_REVOKE_PUT,
    S_REVOKED_LIST,
    S_REFUSAL_PUT,
    S_REFUSAL_GET,
    S_KEY_PUT,
    S_KEY_LIST,
    S_TX_BEGIN_WRITE,
    S_TX_BEGIN_READ,
    S_TX_COMMIT,
    S_TX_ROLLBACK,
    S_TX_SAVEPOINT,
    S_TX_RELEASE,
    S_TX_ROLLBACK_TO,
    S_COUNT
};

#define ACCT_COLS                                                                                  \
    "id, kind, status, offline_blocked, name, national_id, phone, device_pub, alias, "             \
    "offline_limit, available, held, created_at"
/* frozen: from migration 2, debtor: from 3; never inserted as 1 */
#define ACCT_SEL ACCT_COLS ", frozen, debtor"
#define HOLD_COLS                                                                                  \
    "id, account, amount, release_at, status, case_id, deposit, created_at, provisional, "         \
    "taken, repaid, released_by, release_provisional"
#define CASE_COLS                                                                                  \
    "id, serial, state, culprit, culprit_account, value, exposure, evidence, status, "             \
    "decision, actor, reason, created_at, resolved_at, recovered, carried, repaid"
#define DCOIN_COLS "id, deposit, account, serial, chain, amount, hold, flagged"

#define AUDIT_SUMS(side, bucket)                                                                   \
    "COALESCE((SELECT SUM(amount >> 32) FROM journal WHERE " side " = a.id AND " side              \
    "_bucket = " bucket "), 0), COALESCE((SELECT SUM(amount & 4294967295) FROM journal "           \
    "WHERE " side " = a.id AND " side "_bucket = " bucket "), 0)"

static const char *const sql[S_COUNT] = {
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_META_PUT] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [S_ACCT_INSERT] = "INSERT INTO accounts(" ACCT_COLS ") VALUES "
                      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [S_ACCT_BY_ID] = "SELECT " ACCT_SEL " FROM accounts WHERE id = ?1",
    [S_ACCT_BY_DEVICE] = "SELECT " ACCT_SEL " FROM accounts WHERE device_pub = ?1",
    [S_ACCT_BY_ALIAS] = "SELECT " ACCT_SEL " FROM accounts WHERE alias = ?1",
    [S_ACCT_UPDATE] = "UPDATE accounts SET status = ?2, offline_blocked = ?3, offline_limit = ?4, "
                      "frozen = ?5, debtor = ?6 WHERE id = ?1",
    [S_ACCT_LIST] = "SELECT " ACCT_SEL " FROM accounts WHERE kind = 0 "
                    "AND (CASE WHEN ?1 = 2 THEN frozen = 1 ELSE frozen = 0 AND status = ?1 END) "
                    "ORDER BY id",
    [S_ACCT_LIST_ALL] = "SELECT " ACCT_SEL " FROM accounts ORDER BY id",
    [S_ACCT_PAGE] = "SELECT " ACCT_SEL " FROM accounts WHERE kind = 0 AND id > ?2 "
                    "AND (CASE WHEN ?1 = 2 THEN frozen = 1 ELSE frozen = 0 AND status = ?1 END) "
                    "ORDER BY id LIMIT ?3",
    [S_ACCT_PAGE_ALL] = "SELECT " ACCT_SEL " FROM accounts WHERE id > ?2 ORDER BY id LIMIT ?3",
    [S_POST] = "INSERT INTO journal(time, debit, debit_bucket, credit, credit_bucket, amount, "
               "kind, ref, memo) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* SQLite turns an int64 overflow into a REAL: the WHERE refuses the
     * update instead (no row changed: move() tells overflow from absence) */
    [S_BAL_AVAIL] = "UPDATE accounts SET available = available + ?2 WHERE id = ?1 AND "
                    "CASE WHEN ?2 >= 0 THEN available <= 9223372036854775807 - ?2 "
                    "ELSE available >= -9223372036854775807 - 1 - ?2 END",
    [S_BAL_HELD] = "UPDATE accounts SET held = held + ?2 WHERE id = ?1 AND "
                   "CASE WHEN ?2 >= 0 THEN held <= 9223372036854775807 - ?2 "
                   "ELSE held >= -9223372036854775807 - 1 - ?2 END",
    [S_JOURNAL_LIST] = "SELECT id, time, debit, debit_bucket, credit, credit_bucket, amount, kind, "
                       "ref, memo FROM journal WHERE (debit = ?1 OR credit = ?1) AND id < ?2 "
                       "ORDER BY id DESC LIMIT ?3",
    /* Each sum in two halves (high and low 32 bits), exact for 2^31 rows:
     * SQLite's SUM fails on int64 overflow, and a balance may be exactly
     * INT64_MIN (settlement) while its debits add up to 2^63. */
    [S_AUDIT] =
        "SELECT a.id, " AUDIT_SUMS("credit", "0") ", " AUDIT_SUMS("debit", "0") ", " AUDIT_SUMS(
            "credit", "1") ", " AUDIT_SUMS("debit",
                                           "1") ","
                                                /* a balance written by hand (or before migration 5)
                                                   as a REAL or text */
                                                " typeof(a.available) = 'integer' AND "
                                                "typeof(a.held) = 'integer',"
                                                " typeof(a.available) || ' ' || CAST(a.available "
                                                "AS TEXT) || ', held ' ||"
                                                " typeof(a.held) || ' ' || CAST(a.held AS TEXT)"
                                                " FROM accounts a ORDER BY a.id",
    [S_REQ_GET] = "SELECT body_hash, status, response, created_at FROM requests "
                  "WHERE account = ?1 AND request_id = ?2",
    [S_REQ_PUT] = "INSERT INTO requests(account, request_id, body_hash, status, response, "
                  "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_COIN_INSERT] =
        "INSERT INTO coins(serial, value, account, withdrawal, expires_at, deposited) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_COIN_GET] = "SELECT value, account, withdrawal, expires_at, deposited FROM coins "
                   "WHERE serial = ?1",
    [S_COIN_DEP] = "UPDATE coins SET deposited = deposited + ?2 WHERE serial = ?1",
    [S_COIN_OUT] =
        "SELECT COALESCE(SUM(value - deposited), 0) FROM coins WHERE account = ?1 OR ?1 = 0",
    [S_STATE_GET] = "SELECT successor FROM consumed WHERE serial = ?1 AND state = ?2",
    [S_STATE_PUT] = "INSERT INTO consumed(serial, state, successor, dcoin) VALUES (?1, ?2, ?3, ?4)",
    [S_STATE_ORPHANS] = "SELECT DISTINCT c.serial FROM consumed c WHERE NOT EXISTS "
                        "(SELECT 1 FROM coins k WHERE k.serial = c.serial)",
    [S_DCOIN_INSERT] = "INSERT INTO deposit_coins(deposit, account, serial, chain, amount, hold, "
                       "flagged) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_DCOIN_BY_SERIAL] = "SELECT " DCOIN_COLS " FROM deposit_coins WHERE serial = ?1 ORDER BY id",
    [S_HOLD_INSERT] = "INSERT INTO holds(account, amount, release_at, status, case_id, deposit, "
                      "created_at, provisional, taken, repaid, released_by, release_provisional) "
                      "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [S_HOLD_UPDATE] = "UPDATE holds SET account = ?2, amount = ?3, release_at = ?4, status = ?5, "
                      "case_id = ?6, deposit = ?7, created_at = ?8, provisional = ?9, "
                      "taken = ?10, repaid = ?11, released_by = ?12, release_provisional = ?13 "
                      "WHERE id = ?1",
    [S_HOLD_GET] = "SELECT " HOLD_COLS " FROM holds WHERE id = ?1",
    [S_HOLDS_ACCT] = "SELECT " HOLD_COLS " FROM holds WHERE account = ?1 AND status IN (0, 1) "
                     "ORDER BY id",
    [S_HOLDS_DUE] = "SELECT " HOLD_COLS " FROM holds WHERE status = 0 AND release_at <= ?1 "
                    "AND release_provisional = 0 ORDER BY release_at, id",
    [S_HOLDS_RECHECK] = "SELECT " HOLD_COLS " FROM holds WHERE status IN (0, 1) AND "
                        "(release_provisional = 1 OR release_at > ?1) ORDER BY id",
    [S_HOLDS_PROV] = "SELECT " HOLD_COLS " FROM holds WHERE release_provisional = 1 AND "
                     "status IN (0, 1) AND ?1 = ?1 ORDER BY id",
    [S_HOLDS_CASE] = "SELECT " HOLD_COLS " FROM holds WHERE case_id = ?1 ORDER BY id",
    [S_HOLDS_DEPOSIT] = "SELECT " HOLD_COLS " FROM holds WHERE deposit = ?1 ORDER BY id",
    [S_HOLDS_PAGE] = "SELECT " HOLD_COLS " FROM holds WHERE status = ?1 AND id > ?2 ORDER BY id "
                     "LIMIT ?3",
    [S_HOLDS_PAGE_ALL] = "SELECT " HOLD_COLS " FROM holds WHERE id > ?2 ORDER BY id LIMIT ?3",
    [S_CASE_INSERT] =
        "INSERT INTO cases(serial, state, culprit, culprit_account, value, exposure, "
        "evidence, status, decision, actor, reason, created_at, resolved_at, recovered, "
        "carried, repaid) VALUES "
        "(?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    [S_CASE_UPDATE] = "UPDATE cases SET culprit_account = ?5, value = ?6, exposure = ?7, "
                      "status = ?9, decision = ?10, actor = ?11, reason = ?12, resolved_at = ?14, "
                      "recovered = ?15, carried = ?16, repaid = ?17 WHERE id = ?1",
    [S_CASE_BY_ID] = "SELECT " CASE_COLS " FROM cases WHERE id = ?1",
    [S_CASE_BY_STATE] = "SELECT " CASE_COLS " FROM cases WHERE serial = ?1 AND state = ?2",
    [S_CASE_LIST] = "SELECT " CASE_COLS " FROM cases WHERE status = ?1 ORDER BY id",
    [S_CASE_LIST_ALL] = "SELECT " CASE_COLS " FROM cases ORDER BY id",
    /* each criterion a range on its own index (0008_search_totals.sql);
     * an absent one is bound as NULL and matches nothing */
    [S_ACCT_SEARCH] = "SELECT " ACCT_SEL " FROM accounts WHERE id > ?5 AND id IN ("
                      "SELECT id FROM accounts WHERE id = ?1 "
                      "UNION SELECT id FROM accounts WHERE lower(name) >= lower(?2) "
                      "AND lower(name) < lower(?2) || char(1114111) "
                      "UNION SELECT id FROM accounts WHERE alias >= ?3 AND alias < ?4 "
                      "UNION SELECT id FROM accounts WHERE device_pub >= ?3 AND device_pub < ?4) "
                      "ORDER BY id LIMIT ?6",
    [S_CASE_SEARCH] = "SELECT " CASE_COLS " FROM cases WHERE id > ?4 AND id IN ("
                      "SELECT id FROM cases WHERE id = ?1 "
                      "UNION SELECT id FROM cases WHERE serial >= ?2 AND serial < ?3 "
                      "UNION SELECT id FROM cases WHERE culprit_account = ?6 "
                      "UNION SELECT case_id FROM holds WHERE account = ?6 AND case_id <> 0) "
                      "ORDER BY id LIMIT ?5",
    [S_TOTALS] = "SELECT (SELECT COUNT(*) FROM holds WHERE status = 0), "
                 "(SELECT COALESCE(SUM(amount), 0) FROM holds WHERE status = 0), "
                 "(SELECT COUNT(*) FROM holds WHERE status = 1), "
                 "(SELECT COALESCE(SUM(amount), 0) FROM holds WHERE status = 1), "
                 "(SELECT COUNT(*) FROM cases WHERE status = 0), "
                 "(SELECT COALESCE(SUM(exposure), 0) FROM cases WHERE status = 0)",
    [S_CASE_LIST_CULPRIT] = "SELECT " CASE_COLS " FROM cases WHERE culprit_account = ?1 "
                            "AND status = 0 ORDER BY id",
    [S_ACCT_EVENT] = "INSERT INTO account_events(account, time, actor, action, reason) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_EVENTS_ACCT] = "SELECT id, account, time, actor, action, reason FROM account_events "
                      "WHERE account = ?1 ORDER BY id",
    [S_EVENTS_CASE] = "SELECT id, case_id, time, actor, action, reason FROM case_events "
                      "WHERE case_id = ?1 ORDER BY id",
    [S_CASE_EVENT] = "INSERT INTO case_events(case_id, time, actor, action, reason) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_REVOKE_PUT] = "INSERT OR IGNORE INTO revoked(device, case_id, time) VALUES (?1, ?2, ?3)",
    [S_REVOKED_LIST] = "SELECT device FROM revoked ORDER BY device",
    [S_REFUSAL_PUT] = "INSERT INTO reclaim_refusals(deposit, refusal, coins) VALUES (?1, ?2, ?3)",
    [S_REFUSAL_GET] = "SELECT refusal, coins FROM reclaim_refusals WHERE deposit = ?1",
    [S_KEY_PUT] = "INSERT INTO signing_keys(key_id, keycert, revoked_at, retired) "
                  "VALUES (?1, ?2, ?3, ?4) "
                  "ON CONFLICT(key_id) DO UPDATE SET keycert = excluded.keycert, "
                  "revoked_at = excluded.revoked_at, retired = excluded.retired",
    [S_KEY_LIST] = "SELECT key_id, keycert, revoked_at, retired FROM signing_keys ORDER BY key_id",
    /* Transaction control, prepared once like the rest: the writer opens
     * and releases a savepoint around every request of a batch, and
     * sqlite3_exec would parse and compile each one anew (issue 12). */
    [S_TX_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_TX_BEGIN_READ] = "BEGIN",
    [S_TX_COMMIT] = "COMMIT",
    [S_TX_ROLLBACK] = "ROLLBACK",
    [S_TX_SAVEPOINT] = "SAVEPOINT job",
    [S_TX_RELEASE] = "RELEASE job",
    [S_TX_ROLLBACK_TO] = "ROLLBACK TO job",
};

struct sqlite_store {
    struct dc_store base; /* first: the interface */
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    char errmsg[256];
};

static struct sqlite_store *S(struct dc_store *s)
{
    return (struct sqlite_store *)(void *)s;
}

/* Maps a SQLite result to the registry and remembers the message. A full
 * disk has its own error, so an operator can alert on it (and free space)
 * rather than read it as a generic storage failure. */
static enum dc_err fail(struct sqlite_store *s, int rc)
{
    snprintf(s->errmsg, sizeof s->errmsg, "sqlite: %s", sqlite3_errmsg(s->db));
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return DC_ERR_STORE_BUSY;
    case SQLITE_CONSTRAINT:
        return DC_ERR_STORE_CONSTRAINT;
    case SQLITE_NOMEM:
        return DC_ERR_NO_MEMORY;
    case SQLITE_FULL:
        return DC_ERR_STORE_FULL;
    default:
        return DC_ERR_STORE;
    }
}

/* The cached, reset statement for id, or NULL (then s->errmsg says why). */
static sqlite3_stmt *st(struct sqlite_store *s, enum stmt_id id)
{
    if (!s->stmt[id]) {
        if (sqlite3_prepare_v3(s->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL) !=
            SQLITE_OK) {
            snprintf(s->errmsg, sizeof s->errmsg, "sqlite prepare: %s", sqlite3_errmsg(s->db));
            return NULL;
        }
    }
    sqlite3_reset(s->stmt[id]);
    sqlite3_clear_bindings(s->stmt[id]);
    return s->stmt[id];
}

/* Runs a statement that returns no rows. */
static enum dc_err run(struct sqlite_store *s, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    enum dc_err e = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? DC_OK : fail(s, rc);
    sqlite3_reset(q);
    return e;
}

static enum dc_err exec(struct sqlite_store *s, const char *text)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, text, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(s->errmsg, sizeof s->errmsg, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        if ((rc & 0xff) == SQLITE_FULL) return DC_ERR_STORE_FULL; /* COMMIT on a full disk */
        return (rc & 0xff) == SQLITE_BUSY ? DC_ERR_STORE_BUSY : DC_ERR_STORE;
    }
    return DC_OK;
}

static void bind_blob(sqlite3_stmt *q, int i, const void *p, size_t n)
{
    sqlite3_bind_blob(q, i, p, (int)n, SQLITE_TRANSIENT);
}

static void bind_u64(sqlite3_stmt *q, int i, uint64_t v)
{
    sqlite3_bind_int64(q, i, (sqlite3_int64)v);
}

static void col_blob(sqlite3_stmt *q, int i, uint8_t *out, size_t n)
{
    const void *p = sqlite3_column_blob(q, i);
    if (p && (size_t)sqlite3_column_bytes(q, i) == n) {
        memcpy(out, p, n);
    } else {
        memset(out, 0, n);
    }
}

static void col_text(sqlite3_stmt *q, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static uint8_t *col_dup(sqlite3_stmt *q, int i, size_t *len)
{
    size_t n = (size_t)sqlite3_column_bytes(q, i);
    const void *p = sqlite3_column_blob(q, i);
    uint8_t *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    *len = d ? n : 0;
    return d;
}

/* ---- Connection and schema -------------------------------------------- */

static enum dc_err s_close(struct dc_store *base)
{
    struct sqlite_store *s = S(base);
    if (!s) return DC_OK;
    for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(s->stmt[i]);
    int rc = sqlite3_close(s->db);
    free(s);
    return rc == SQLITE_OK ? DC_OK : DC_ERR_STORE;
}

static const char *s_errmsg(struct dc_store *base)
{
    return S(base)->errmsg;
}

static enum dc_err meta_get(struct dc_store *base, const char *key, char *out, size_t cap);

/* WAL bytes between automatic checkpoints (see dc_store_sqlite_open). */
#define WAL_CHECKPOINT (32 * 1024 * 1024)

/* Sets the automatic checkpoint to WAL_CHECKPOINT bytes of WAL in frames of
 * this database's page size (512 bytes for a new one, an older file's own). */
static enum dc_err wal_checkpoint_every(struct sqlite_store *s)
{
    sqlite3_stmt *q = NULL;
    int page = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        page = sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    if (page < 512) page = 512;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA wal_autocheckpoint=%d", WAL_CHECKPOINT / page);
    return exec(s, pragma);
}

static enum dc_err s_migrate(struct dc_store *base, int *version)
{
    struct sqlite_store *s = S(base);
    int have = 0, known = 0;
    while (schema_sqlite[known]) known++;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) have = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
    }
    if (have > known) {
        snprintf(s->errmsg, sizeof s->errmsg,
                 "database schema version %d is newer than this ducatd (%d)", have, known);
        return DC_ERR_STORE_SCHEMA;
    }
    for (int v = have; v < known; v++) {
        char bump[96];
        enum dc_err e = exec(s, "BEGIN IMMEDIATE");
        if (e == DC_OK) e = exec(s, schema_sqlite[v]);
        snprintf(bump, sizeof bump,
                 "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '%d')", v + 1);
        if (e == DC_OK) e = exec(s, bump);
        if (e == DC_OK) e = exec(s, "COMMIT");
        if (e != DC_OK) {
            char keep[256];
            memcpy(keep, s->errmsg, sizeof keep);
            exec(s, "ROLLBACK");
            memcpy(s->errmsg, keep, sizeof keep);
            return e;
        }
    }
    *version = known;
    return DC_OK;
}

/* ---- Transactions ----------------------------------------------------- */

/* Runs the cached transaction statement id; its errors map as exec()'s do
 * (a busy database, a full disk, anything else a store error). */
static enum dc_err tx(struct sqlite_store *s, enum stmt_id id)
{
    sqlite3_stmt *q = st(s, id);
    if (!q) return DC_ERR_STORE;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        sqlite3_reset(q);
        return DC_OK;
    }
    snprintf(s->errmsg, sizeof s->errmsg, "sqlite: %s", sqlite3_errmsg(s->db));
    sqlite3_reset(q);
    if ((rc & 0xff) == SQLITE_FULL) return DC_ERR_STORE_FULL; /* COMMIT on a full disk */
    return (rc & 0xff) == SQLITE_BUSY ? DC_ERR_STORE_BUSY : DC_ERR_STORE;
}

static enum dc_err s_begin(struct dc_store *base, int write)
{
    return tx(S(base), write ? S_TX_BEGIN_WRITE : S_TX_BEGIN_READ);
}

static enum dc_err s_commit(struct dc_store *base)
{
    return tx(S(base), S_TX_COMMIT);
}

static enum dc_err s_rollback(struct dc_store *base)
{
    struct sqlite_store *s = S(base);
    if (sqlite3_get_autocommit(s->db)) return DC_OK;
    return tx(s, S_TX_ROLLBACK);
}

static enum dc_err s_savepoint(struct dc_store *base)
{
    return tx(S(base), S_TX_SAVEPOINT);
}

static enum dc_err s_release(struct dc_store *base)
{
    return tx(S(base), S_TX_RELEASE);
}

static enum dc_err s_rollback_to(struct dc_store *base)
{
    enum dc_err e = tx(S(base), S_TX_ROLLBACK_TO);
    enum dc_err r = tx(S(base), S_TX_RELEASE);
    return e != DC_OK ? e : r;
}

/* ---- Settings --------------------------------------------------------- */

static enum dc_err meta_get(struct dc_store *base, const char *key, char *out, size_t cap)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_META_GET);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    enum dc_err e = DC_OK;
    if (rc == SQLITE_ROW) {
        col_text(q, 0, out, cap);
    } else if (rc == SQLITE_DONE) {
        e = DC_ERR_NOT_FOUND;
    } else {
        e = fail(s, rc);
    }
    sqlite3_reset(q);
    return e;
}

static enum dc_err meta_put(struct dc_store *base, const char *key, const char *value)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_META_PUT);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_TRANSIENT);
    return run(s, q);
}

/* ---- Accounts --------------------------------------------------------- */

static int is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static enum dc_err account_insert(struct dc_store *base, struct dc_account *a)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_ACCT_INSERT);
    if (!q) return DC_ERR_STORE;
    if (a->id) sqlite3_bind_int64(q, 1, a->id);
    sqlite3_bind_int(q, 2, a->kind);
    sqlite3_bind_int(q, 3, a->status);
    sqlite3_bind_int(q, 4, a->offline_blocked);
    sqlite3_bind_text(q, 5, a->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 6, a->national_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 7, a->phone, -1, SQLITE_TRANSIENT);
    if (!is_zero(a->device_pub, DC_PUBKEY_BYTES)) bind_blob(q, 8, a->device_pub, DC_PUBKEY_BYTES);
    if (!is_zero(a->alias, DC_ALIAS_BYTES)) bind_blob(q, 9, a->alias, DC_ALIAS_BYTES);
    sqlite3_bind_int64(q, 10, a->offline_limit);
    sqlite3_bind_int64(q, 11, a->available);
    sqlite3_bind_int64(q, 12, a->held);
    bind_u64(q, 13, a->created_at);
    enum dc_err e = run(s, q);
    if (e == DC_OK) a->id = sqlite3_last_insert_rowid(s->db);
    return e;
}

static void read_account(sqlite3_stmt *q, struct dc_account *a)
{
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(q, 0);
    a->kind = sqlite3_column_int(q, 1);
    a->status = sqlite3_column_int(q, 2);
    a->offline_blocked = sqlite3_column_int(q, 3);
    col_text(q, 4, a->name, sizeof a->name);
    col_text(q, 5, a->national_id, sizeof a->national_id);
    col_text(q, 6, a->phone, sizeof a->phone);
    col_blob(q, 7, a->device_pub, DC_PUBKEY_BYTES);
    col_blob(q, 8, a->alias, DC_ALIAS_BYTES);
    a->offline_limit = sqlite3_column_int64(q, 9);
    a->available = sqlite3_column_int64(q, 10);
    a->held = sqlite3_column_int64(q, 11);
    a->created_at = (uint64_t)sqlite3_column_int64(q, 12);
    a->frozen = sqlite3_column_int(q, 13);
    a->debtor = sqlite3_column_int(q, 14);
}

/* Runs a one-row query; DC_ERR_NOT_FOUND when there is no row. */
static enum dc_err one_row(struct sqlite_store *s, sqlite3_stmt *q, int *has)
{
    int rc = sqlite3_step(q);
    *has = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return DC_OK;
    return fail(s, rc);
}

static enum dc_err account_get(struct dc_store *base, struct dc_account *out, enum dc_acct_by by,
                               int64_t id, const uint8_t *key)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, by == DC_BY_ID       ? S_ACCT_BY_ID
                            : by == DC_BY_DEVICE ? S_ACCT_BY_DEVICE
                                                 : S_ACCT_BY_ALIAS);
    if (!q) return DC_ERR_STORE;
    if (by == DC_BY_ID) {
        sqlite3_bind_int64(q, 1, id);
    } else {
        bind_blob(q, 1, key, by == DC_BY_DEVICE ? DC_PUBKEY_BYTES : DC_ALIAS_BYTES);
    }
    int has;
    enum dc_err e = one_row(s, q, &has);
    if (e == DC_OK && has) read_account(q, out);
    if (e == DC_OK && !has) e = DC_ERR_NO_ACCOUNT;
    sqlite3_reset(q);
    return e;
}

static enum dc_err account_update(struct dc_store *base, const struct dc_account *a)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_ACCT_UPDATE);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, a->id);
    sqlite3_bind_int(q, 2, a->status);
    sqlite3_bind_int(q, 3, a->offline_blocked);
    sqlite3_bind_int64(q, 4, a->offline_limit);
    sqlite3_bind_int(q, 5, a->frozen ? 1 : 0);
    sqlite3_bind_int(q, 6, a->debtor ? 1 : 0);
    enum dc_err e = run(s, q);
    if (e == DC_OK && sqlite3_changes(s->db) != 1) e = DC_ERR_NO_ACCOUNT;
    return e;
}

/* Steps through rows, calling read+cb for each. */
#define FOR_ROWS(s, q, decl, readfn, cb, ctx)                                                      \
    do {                                                                                           \
        int rc_;                                                                                   \
        enum dc_err e_ = DC_OK;                                                                    \
        while ((rc_ = sqlite3_step(q)) == SQLITE_ROW) {                                            \
            decl;                                                                                  \
            readfn;                                                                                \
            if (cb(ctx, &row_)) break;                                                             \
        }                                                                                          \
        if (rc_ != SQLITE_ROW && rc_ != SQLITE_DONE) e_ = fail(s, rc_);                            \
        sqlite3_reset(q);                                                                          \
        return e_;                                                                                 \
    } while (0)

static enum dc_err account_list(struct dc_store *base, int status, dc_account_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, status < 0 ? S_ACCT_LIST_ALL : S_ACCT_LIST);
    if (!q) return DC_ERR_STORE;
    if (status >= 0) sqlite3_bind_int(q, 1, status);
    FOR_ROWS(s, q, struct dc_account row_, read_account(q, &row_), cb, ctx);
}

static enum dc_err account_page(struct dc_store *base, int status, int64_t after, int limit,
                                dc_account_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, status < 0 ? S_ACCT_PAGE_ALL : S_ACCT_PAGE);
    if (!q) return DC_ERR_STORE;
    if (status >= 0) sqlite3_bind_int(q, 1, status);
    sqlite3_bind_int64(q, 2, after);
    sqlite3_bind_int(q, 3, limit);
    FOR_ROWS(s, q, struct dc_account row_, read_account(q, &row_), cb, ctx);
}

/* ---- Journal ---------------------------------------------------------- */

static enum dc_err move(struct sqlite_store *s, int64_t account, int bucket, int64_t delta)
{
    sqlite3_stmt *q = st(s, bucket == DC_BUCKET_HELD ? S_BAL_HELD : S_BAL_AVAIL);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, account);
    sqlite3_bind_int64(q, 2, delta);
    enum dc_err e = run(s, q);
    if (e == DC_OK && sqlite3_changes(s->db) != 1) {
        /* refused by the overflow guard, or no such account */
        sqlite3_stmt *x = NULL;
        int has = 0;
        if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM accounts WHERE id = ?1", -1, &x, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_int64(x, 1, account);
            has = sqlite3_step(x) == SQLITE_ROW;
        }
        sqlite3_finalize(x);
        e = has ? DC_ERR_AMOUNT_OVERFLOW : DC_ERR_NO_ACCOUNT;
        if (has) {
            snprintf(s->errmsg, sizeof s->errmsg, "account %lld: %s balance %s %lld leaves int64",
                     (long long)account, bucket == DC_BUCKET_HELD ? "held" : "available",
                     delta < 0 ? "-" : "+", delta < 0 ? -(long long)delta : (long long)delta);
        }
    }
    return e;
}

static enum dc_err post(struct dc_store *base, struct dc_posting *p)
{
    struct sqlite_store *s = S(base);
    if (p->amount <= 0) return DC_ERR_INVALID_ARGUMENT;
    sqlite3_stmt *q = st(s, S_POST);
    if (!q) return DC_ERR_STORE;
    bind_u64(q, 1, p->time);
    sqlite3_bind_int64(q, 2, p->debit);
    sqlite3_bind_int(q, 3, p->debit_bucket);
    sqlite3_bind_int64(q, 4, p->credit);
    sqlite3_bind_int(q, 5, p->credit_bucket);
    sqlite3_bind_int64(q, 6, p->amount);
    sqlite3_bind_text(q, 7, p->kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 8, p->ref, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 9, p->memo, -1, SQLITE_TRANSIENT);
    enum dc_err e = run(s, q);
    if (e != DC_OK) return e;
    p->id = sqlite3_last_insert_rowid(s->db);
    e = move(s, p->debit, p->debit_bucket, -p->amount);
    if (e == DC_OK) e = move(s, p->credit, p->credit_bucket, p->amount);
    return e;
}

/* Net balance change of one (account, bucket) within a post_many: an
 * open-addressing table (cap a power of two >= 4n, so probes stay short),
 * plus the order of first appearance for deterministic updates. */
struct net {
    int64_t account; /* 0 = empty slot (account ids start at 1) */
    int bucket;
    int64_t delta;
};

struct nets {
    struct net *slot;
    size_t cap;
    size_t *order; /* slot indexes in order of first appearance */
    size_t n;
};

static enum dc_err net_add(struct nets *t, int64_t account, int bucket, int64_t delta)
{
    uint64_t h = ((uint64_t)account * 2u + (uint64_t)bucket) * 0x9E3779B97F4A7C15ull;
    for (size_t i = (size_t)(h >> 32) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        struct net *x = &t->slot[i];
        if (x->account == 0) {
            x->account = account;
            x->bucket = bucket;
            x->delta = delta;
            t->order[t->n++] = i;
            return DC_OK;
        }
        if (x->account == account && x->bucket == bucket) {
            return dc_i64_add(&x->delta, x->delta, delta);
        }
    }
}

static enum dc_err post_many(struct dc_store *base, struct dc_posting *p, size_t n)
{
    struct sqlite_store *s = S(base);
    if (n == 0) return DC_OK;
    if (n > (SIZE_MAX / sizeof(struct net)) / 8) return DC_ERR_LIMIT_EXCEEDED;
    struct nets t = {NULL, 1, NULL, 0};
    while (t.cap < 4 * n) t.cap <<= 1; /* 2n keys at most: load <= 1/2 */
    t.slot = calloc(t.cap, sizeof *t.slot);
    t.order = malloc(2 * n * sizeof *t.order);
    enum dc_err e = t.slot && t.order ? DC_OK : DC_ERR_NO_MEMORY;
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        if (p[i].amount <= 0 || p[i].debit <= 0 || p[i].credit <= 0) {
            e = DC_ERR_INVALID_ARGUMENT;
            break;
        }
        sqlite3_stmt *q = st(s, S_POST);
        if (!q) {
            e = DC_ERR_STORE;
            break;
        }
        bind_u64(q, 1, p[i].time);
        sqlite3_bind_int64(q, 2, p[i].debit);
        sqlite3_bind_int(q, 3, p[i].debit_bucket);
        sqlite3_bind_int64(q, 4, p[i].credit);
        sqlite3_bind_int(q, 5, p[i].credit_bucket);
        sqlite3_bind_int64(q, 6, p[i].amount);
        sqlite3_bind_text(q, 7, p[i].kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 8, p[i].ref, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 9, p[i].memo, -1, SQLITE_TRANSIENT);
        e = run(s, q);
        if (e != DC_OK) break;
        p[i].id = sqlite3_last_insert_rowid(s->db);
        e = net_add(&t, p[i].debit, p[i].debit_bucket, -p[i].amount);
        if (e == DC_OK) e = net_add(&t, p[i].credit, p[i].credit_bucket, p[i].amount);
    }
    /* debits first: a CHECK (balance >= 0) failing names the payer */
    for (size_t k = 0; e == DC_OK && k < t.n; k++) {
        const struct net *x = &t.slot[t.order[k]];
        if (x->delta < 0) e = move(s, x->account, x->bucket, x->delta);
    }
    for (size_t k = 0; e == DC_OK && k < t.n; k++) {
        const struct net *x = &t.slot[t.order[k]];
        if (x->delta > 0) e = move(s, x->account, x->bucket, x->delta);
    }
    free(t.slot);
    free(t.order);
    return e;
}

static void read_posting(sqlite3_stmt *q, struct dc_posting *p)
{
    memset(p, 0, sizeof *p);
    p->id = sqlite3_column_int64(q, 0);
    p->time = (uint64_t)sqlite3_column_int64(q, 1);
    p->debit = sqlite3_column_int64(q, 2);
    p->debit_bucket = sqlite3_column_int(q, 3);
    p->credit = sqlite3_column_int64(q, 4);
    p->credit_bucket = sqlite3_column_int(q, 5);
    p->amount = sqlite3_column_int64(q, 6);
    col_text(q, 7, p->kind, sizeof p->kind);
    col_text(q, 8, p->ref, sizeof p->ref);
    col_text(q, 9, p->memo, sizeof p->memo);
}

static enum dc_err journal_list(struct dc_store *base, int64_t account, int64_t before, int limit,
                                dc_posting_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_JOURNAL_LIST);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, account);
    sqlite3_bind_int64(q, 2, before > 0 ? before : INT64_MAX);
    sqlite3_bind_int(q, 3, limit);
    FOR_ROWS(s, q, struct dc_posting row_, read_posting(q, &row_), cb, ctx);
}

__extension__ typedef __int128 i128;

/* Columns 1..8 of S_AUDIT: (high, low) halves of credits and debits of the
 * available bucket, then of the held one. */
static int64_t half_sum(sqlite3_stmt *q, int col, int *out_of_range)
{
    i128 v =
        (i128)sqlite3_column_int64(q, col) * 4294967296 + sqlite3_column_int64(q, col + 1) -
        ((i128)sqlite3_column_int64(q, col + 2) * 4294967296 + sqlite3_column_int64(q, col + 3));
    if (v > INT64_MAX || v < INT64_MIN) {
        *out_of_range = 1;
        return 0;
    }
    return (int64_t)v;
}

static void read_audit_row(sqlite3_stmt *q, struct dc_audit_row *r)
{
    int bad = 0;
    r->account = sqlite3_column_int64(q, 0);
    r->journal_available = half_sum(q, 1, &bad);
    r->journal_held = half_sum(q, 5, &bad);
    if (!sqlite3_column_int(q, 9)) {
        snprintf(r->corrupt, sizeof r->corrupt, "available %s", sqlite3_column_text(q, 10));
    } else if (bad) {
        snprintf(r->corrupt, sizeof r->corrupt, "its journal entries sum outside int64");
    }
}

static enum dc_err audit_sums(struct dc_store *base, dc_audit_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_AUDIT);
    if (!q) return DC_ERR_STORE;
    FOR_ROWS(s, q, struct dc_audit_row row_ = {0}, read_audit_row(q, &row_), cb, ctx);
}

/* ---- Idempotency ------------------------------------------------------ */

static enum dc_err request_get(struct dc_store *base, struct dc_request_rec *io)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_REQ_GET);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, io->account);
    sqlite3_bind_text(q, 2, io->request_id, -1, SQLITE_TRANSIENT);
    int has;
    enum dc_err e = one_row(s, q, &has);
    io->response = NULL;
    if (e == DC_OK && has) {
        col_blob(q, 0, io->body_hash, DC_HASH_BYTES);
        io->status = sqlite3_column_int(q, 1);
        const unsigned char *t = sqlite3_column_text(q, 2);
        io->response = strdup(t ? (const char *)t : "");
        io->created_at = (uint64_t)sqlite3_column_int64(q, 3);
        if (!io->response) e = DC_ERR_NO_MEMORY;
    } else if (e == DC_OK) {
        e = DC_ERR_NOT_FOUND;
    }
    sqlite3_reset(q);
    return e;
}

static enum dc_err request_put(struct dc_store *base, const struct dc_request_rec *r,
                               const char *response)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_REQ_PUT);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, r->account);
    sqlite3_bind_text(q, 2, r->request_id, -1, SQLITE_TRANSIENT);
    bind_blob(q, 3, r->body_hash, DC_HASH_BYTES);
    sqlite3_bind_int(q, 4, r->status);
    sqlite3_bind_text(q, 5, response, -1, SQLITE_TRANSIENT);
    bind_u64(q, 6, r->created_at);
    return run(s, q);
}

/* ---- Coins and consumed states ------------------------------------------ */

static enum dc_err coin_insert(struct dc_store *base, const struct dc_coin_rec *c)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_COIN_INSERT);
    if (!q) return DC_ERR_STORE;
    bind_blob(q, 1, c->serial, DC_SERIAL_BYTES);
    sqlite3_bind_int64(q, 2, c->value);
    sqlite3_bind_int64(q, 3, c->account);
    sqlite3_bind_int64(q, 4, c->withdrawal);
    bind_u64(q, 5, c->expires_at);
    sqlite3_bind_int64(q, 6, c->deposited);
    return run(s, q);
}

static enum dc_err coin_get(struct dc_store *base, struct dc_coin_rec *io)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_COIN_GET);
    if (!q) return DC_ERR_STORE;
    bind_blob(q, 1, io->serial, DC_SERIAL_BYTES);
    int has;
    enum dc_err e = one_row(s, q, &has);
    if (e == DC_OK && has) {
        io->value = sqlite3_column_int64(q, 0);
        io->account = sqlite3_column_int64(q, 1);
        io->withdrawal = sqlite3_column_int64(q, 2);
        io->expires_at = (uint64_t)sqlite3_column_int64(q, 3);
        io->deposited = sqlite3_column_int64(q, 4);
    } else if (e == DC_OK) {
        e = DC_ERR_NOT_FOUND;
    }
    sqlite3_reset(q);
    return e;
}

static enum dc_err coin_add_deposited(struct dc_store *base, const uint8_t *serial, int64_t amount)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_COIN_DEP);
    if (!q) return DC_ERR_STORE;
    bind_blob(q, 1, serial, DC_SERIAL_BYTES);
    sqlite3_bind_int64(q, 2, amount);
    enum dc_err e = run(s, q);
    if (e == DC_OK && sqlite3_changes(s->db) != 1) e = DC_ERR_NOT_FOUND;
    return e;
}

static enum dc_err coin_outstanding(struct dc_store *base, int64_t account, int64_t *total)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_COIN_OUT);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, account);
    int has;
    enum dc_err e = one_row(s, q, &has);
    *total = has ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return e;
}

static enum dc_err state_claim(struct dc_store *base, const uint8_t *serial, const uint8_t *state,
                               const uint8_t *successor, int64_t dcoin, int *inserted,
                               uint8_t existing[DC_HASH_BYTES])
{
    struct sqlite_store *s = S(base);
    /* Single writer: look, then insert, inside the caller's transaction. */
    sqlite3_stmt *q = st(s, S_STATE_GET);
    if (!q) return DC_ERR_STORE;
    bind_blob(q, 1, serial, DC_SERIAL_BYTES);
    bind_blob(q, 2, state, DC_HASH_BYTES);
    int has;
    enum dc_err e = one_row(s, q, &has);
    if (e == DC_OK && has) col_blob(q, 0, existing, DC_HASH_BYTES);
    sqlite3_reset(q);
    if (e != DC_OK) return e;
    if (has) {
        *inserted = 0;
        return DC_OK;
    }
    q = st(s, S_STATE_PUT);
    if (!q) return DC_ERR_STORE;
    bind_blob(q, 1, serial, DC_SERIAL_BYTES);
    bind_blob(q, 2, state, DC_HASH_BYTES);
    bind_blob(q, 3, successor, DC_HASH_BYTES);
    sqlite3_bind_int64(q, 4, dcoin);
    e = run(s, q);
    if (e == DC_OK) {
        *inserted = 1;
        memcpy(existing, successor, DC_HASH_BYTES);
    }
    return e;
}

static enum dc_err state_unknown_serials(struct dc_store *base, dc_blob_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_STATE_ORPHANS);
    if (!q) return DC_ERR_STORE;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (cb(ctx, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0))) break;
    }
    enum dc_err e = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DC_OK : fail(s, rc);
    sqlite3_reset(q);
    return e;
}

/* ---- Deposits and holds ------------------------------------------------ */

static enum dc_err dcoin_insert(struct dc_store *base, struct dc_dcoin *c)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_DCOIN_INSERT);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, c->deposit);
    sqlite3_bind_int64(q, 2, c->account);
    bind_blob(q, 3, c->serial, DC_SERIAL_BYTES);
    bind_blob(q, 4, c->chain, c->chain_len);
    sqlite3_bind_int64(q, 5, c->amount);
    sqlite3_bind_int64(q, 6, c->hold);
    sqlite3_bind_int(q, 7, c->flagged);
    enum dc_err e = run(s, q);
    if (e == DC_OK) c->id = sqlite3_last_insert_rowid(s->db);
    return e;
}

static enum dc_err dcoins_by_serial(struct dc_store *base, const uint8_t *serial, dc_dcoin_cb cb,
                                    void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_DCOIN_BY_SERIAL);
    if (!q) return DC_ERR_STORE;
    bind_blob(q, 1, serial, DC_SERIAL_BYTES);
    int rc;
    enum dc_err e = DC_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct dc_dcoin c;
        memset(&c, 0, sizeof c);
        c.id = sqlite3_column_int64(q, 0);
        c.deposit = sqlite3_column_int64(q, 1);
        c.account = sqlite3_column_int64(q, 2);
        col_blob(q, 3, c.serial, DC_SERIAL_BYTES);
        /* the chain is only valid during the callback */
        c.chain = sqlite3_column_blob(q, 4);
        c.chain_len = (size_t)sqlite3_column_bytes(q, 4);
        c.amount = sqlite3_column_int64(q, 5);
        c.hold = sqlite3_column_int64(q, 6);
        c.flagged = sqlite3_column_int(q, 7);
        if (cb(ctx, &c)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) e = fail(s, rc);
    sqlite3_reset(q);
    return e;
}

static void read_hold(sqlite3_stmt *q, struct dc_hold *h)
{
    h->id = sqlite3_column_int64(q, 0);
    h->account = sqlite3_column_int64(q, 1);
    h->amount = sqlite3_column_int64(q, 2);
    h->release_at = (uint64_t)sqlite3_column_int64(q, 3);
    h->status = sqlite3_column_int(q, 4);
    h->case_id = sqlite3_column_int64(q, 5);
    h->deposit = sqlite3_column_int64(q, 6);
    h->created_at = (uint64_t)sqlite3_column_int64(q, 7);
    h->provisional = sqlite3_column_int(q, 8);
    h->taken = sqlite3_column_int64(q, 9);
    h->repaid = sqlite3_column_int64(q, 10);
    col_text(q, 11, h->released_by, sizeof h->released_by);
    h->release_provisional = sqlite3_column_int(q, 12);
}

static enum dc_err hold_put(struct dc_store *base, struct dc_hold *h)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, h->id ? S_HOLD_UPDATE : S_HOLD_INSERT);
    if (!q) return DC_ERR_STORE;
    if (h->id) sqlite3_bind_int64(q, 1, h->id);
    sqlite3_bind_int64(q, 2, h->account);
    sqlite3_bind_int64(q, 3, h->amount);
    bind_u64(q, 4, h->release_at);
    sqlite3_bind_int(q, 5, h->status);
    sqlite3_bind_int64(q, 6, h->case_id);
    sqlite3_bind_int64(q, 7, h->deposit);
    bind_u64(q, 8, h->created_at);
    sqlite3_bind_int(q, 9, h->provisional);
    sqlite3_bind_int64(q, 10, h->taken);
    sqlite3_bind_int64(q, 11, h->repaid);
    sqlite3_bind_text(q, 12, h->released_by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 13, h->release_provisional);
    enum dc_err e = run(s, q);
    if (e == DC_OK && !h->id) h->id = sqlite3_last_insert_rowid(s->db);
    return e;
}

static enum dc_err hold_get(struct dc_store *base, struct dc_hold *out, int64_t id)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_HOLD_GET);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, id);
    int has;
    enum dc_err e = one_row(s, q, &has);
    if (e == DC_OK && has) read_hold(q, out);
    if (e == DC_OK && !has) e = DC_ERR_NOT_FOUND;
    sqlite3_reset(q);
    return e;
}

static enum dc_err holds_list(struct dc_store *base, enum dc_holds_by by, int64_t arg,
                              dc_hold_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    enum stmt_id id = by == DC_HOLDS_OF_ACCOUNT    ? S_HOLDS_ACCT
                      : by == DC_HOLDS_DUE         ? S_HOLDS_DUE
                      : by == DC_HOLDS_RECHECK     ? S_HOLDS_RECHECK
                      : by == DC_HOLDS_PROVISIONAL ? S_HOLDS_PROV
                      : by == DC_HOLDS_OF_CASE     ? S_HOLDS_CASE
                                                   : S_HOLDS_DEPOSIT;
    sqlite3_stmt *q = st(s, id);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, arg);
    FOR_ROWS(s, q, struct dc_hold row_, read_hold(q, &row_), cb, ctx);
}

static enum dc_err holds_page(struct dc_store *base, int status, int64_t after, int limit,
                              dc_hold_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, status < 0 ? S_HOLDS_PAGE_ALL : S_HOLDS_PAGE);
    if (!q) return DC_ERR_STORE;
    if (status >= 0) sqlite3_bind_int(q, 1, status);
    sqlite3_bind_int64(q, 2, after);
    sqlite3_bind_int(q, 3, limit);
    FOR_ROWS(s, q, struct dc_hold row_, read_hold(q, &row_), cb, ctx);
}

/* ---- Cases, revocation, keys ------------------------------------------ */

static enum dc_err case_put(struct dc_store *base, struct dc_case *c)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, c->id ? S_CASE_UPDATE : S_CASE_INSERT);
    if (!q) return DC_ERR_STORE;
    if (c->id) sqlite3_bind_int64(q, 1, c->id);
    if (!c->id) {
        bind_blob(q, 2, c->serial, DC_SERIAL_BYTES);
        bind_blob(q, 3, c->state, DC_HASH_BYTES);
        bind_blob(q, 4, c->culprit, DC_PUBKEY_BYTES);
        bind_blob(q, 8, c->evidence, c->evidence_len);
        bind_u64(q, 13, c->created_at);
    }
    sqlite3_bind_int64(q, 5, c->culprit_account);
    sqlite3_bind_int64(q, 6, c->value);
    sqlite3_bind_int64(q, 7, c->exposure);
    sqlite3_bind_int(q, 9, c->status);
    sqlite3_bind_text(q, 10, c->decision, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 11, c->actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 12, c->reason, -1, SQLITE_TRANSIENT);
    bind_u64(q, 14, c->resolved_at);
    sqlite3_bind_int64(q, 15, c->recovered);
    sqlite3_bind_int64(q, 16, c->carried);
    sqlite3_bind_int64(q, 17, c->repaid);
    enum dc_err e = run(s, q);
    if (e == DC_OK && !c->id) c->id = sqlite3_last_insert_rowid(s->db);
    return e;
}

static void read_case(sqlite3_stmt *q, struct dc_case *c, int with_evidence)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(q, 0);
    col_blob(q, 1, c->serial, DC_SERIAL_BYTES);
    col_blob(q, 2, c->state, DC_HASH_BYTES);
    col_blob(q, 3, c->culprit, DC_PUBKEY_BYTES);
    c->culprit_account = sqlite3_column_int64(q, 4);
    c->value = sqlite3_column_int64(q, 5);
    c->exposure = sqlite3_column_int64(q, 6);
    if (with_evidence) c->evidence = col_dup(q, 7, &c->evidence_len);
    c->status = sqlite3_column_int(q, 8);
    col_text(q, 9, c->decision, sizeof c->decision);
    col_text(q, 10, c->actor, sizeof c->actor);
    col_text(q, 11, c->reason, sizeof c->reason);
    c->created_at = (uint64_t)sqlite3_column_int64(q, 12);
    c->resolved_at = (uint64_t)sqlite3_column_int64(q, 13);
    c->recovered = sqlite3_column_int64(q, 14);
    c->carried = sqlite3_column_int64(q, 15);
    c->repaid = sqlite3_column_int64(q, 16);
}

static enum dc_err case_get(struct dc_store *base, struct dc_case *out, int64_t id,
                            const uint8_t *serial, const uint8_t *state)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, id ? S_CASE_BY_ID : S_CASE_BY_STATE);
    if (!q) return DC_ERR_STORE;
    if (id) {
        sqlite3_bind_int64(q, 1, id);
    } else {
        bind_blob(q, 1, serial, DC_SERIAL_BYTES);
        bind_blob(q, 2, state, DC_HASH_BYTES);
    }
    int has;
    enum dc_err e = one_row(s, q, &has);
    if (e == DC_OK && has) read_case(q, out, 1);
    if (e == DC_OK && !has) e = DC_ERR_NO_CASE;
    sqlite3_reset(q);
    return e;
}

static enum dc_err case_list(struct dc_store *base, int status, dc_case_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, status < 0 ? S_CASE_LIST_ALL : S_CASE_LIST);
    if (!q) return DC_ERR_STORE;
    if (status >= 0) sqlite3_bind_int(q, 1, status);
    FOR_ROWS(s, q, struct dc_case row_, read_case(q, &row_, 0), cb, ctx);
}

static void bind_search(sqlite3_stmt *q, const struct dc_search *r, int lo_at)
{
    if (r->lo_len) {
        bind_blob(q, lo_at, r->lo, r->lo_len);
        bind_blob(q, lo_at + 1, r->hi, r->hi_len);
    }
}

static enum dc_err account_search(struct dc_store *base, const struct dc_search *r,
                                  dc_account_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_ACCT_SEARCH);
    if (!q) return DC_ERR_STORE;
    sqlite3_clear_bindings(q); /* absent criteria stay NULL */
    if (r->id) sqlite3_bind_int64(q, 1, r->id);
    if (r->name) sqlite3_bind_text(q, 2, r->name, -1, SQLITE_TRANSIENT);
    bind_search(q, r, 3);
    sqlite3_bind_int64(q, 5, r->after);
    sqlite3_bind_int(q, 6, r->limit);
    FOR_ROWS(s, q, struct dc_account row_, read_account(q, &row_), cb, ctx);
}

static enum dc_err case_search(struct dc_store *base, const struct dc_search *r, dc_case_cb cb,
                               void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_CASE_SEARCH);
    if (!q) return DC_ERR_STORE;
    sqlite3_clear_bindings(q);
    if (r->id) sqlite3_bind_int64(q, 1, r->id);
    bind_search(q, r, 2);
    sqlite3_bind_int64(q, 4, r->after);
    sqlite3_bind_int(q, 5, r->limit);
    if (r->account) sqlite3_bind_int64(q, 6, r->account);
    FOR_ROWS(s, q, struct dc_case row_, read_case(q, &row_, 0), cb, ctx);
}

static enum dc_err totals(struct dc_store *base, struct dc_totals *out)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_TOTALS);
    if (!q) return DC_ERR_STORE;
    int has;
    enum dc_err e = one_row(s, q, &has); /* SUM fails on integer overflow */
    if (e == DC_OK && has) {
        out->held_n = sqlite3_column_int64(q, 0);
        out->held = sqlite3_column_int64(q, 1);
        out->frozen_n = sqlite3_column_int64(q, 2);
        out->frozen = sqlite3_column_int64(q, 3);
        out->cases_open = sqlite3_column_int64(q, 4);
        out->exposure = sqlite3_column_int64(q, 5);
    }
    if (e == DC_OK && !has) e = DC_ERR_STORE;
    sqlite3_reset(q);
    return e;
}

static enum dc_err cases_of_culprit(struct dc_store *base, int64_t account, dc_case_cb cb,
                                    void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_CASE_LIST_CULPRIT);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, account);
    FOR_ROWS(s, q, struct dc_case row_, read_case(q, &row_, 0), cb, ctx);
}

static enum dc_err event_add(struct sqlite_store *s, enum stmt_id id, int64_t subject,
                             uint64_t time, const char *actor, const char *action,
                             const char *reason)
{
    sqlite3_stmt *q = st(s, id);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, subject);
    bind_u64(q, 2, time);
    sqlite3_bind_text(q, 3, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 5, reason ? reason : "", -1, SQLITE_TRANSIENT);
    return run(s, q);
}

static enum dc_err case_event(struct dc_store *base, int64_t case_id, uint64_t time,
                              const char *actor, const char *action, const char *reason)
{
    return event_add(S(base), S_CASE_EVENT, case_id, time, actor, action, reason);
}

static enum dc_err account_event(struct dc_store *base, int64_t account, uint64_t time,
                                 const char *actor, const char *action, const char *reason)
{
    return event_add(S(base), S_ACCT_EVENT, account, time, actor, action, reason);
}

static void read_event(sqlite3_stmt *q, struct dc_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->id = sqlite3_column_int64(q, 0);
    ev->subject = sqlite3_column_int64(q, 1);
    ev->time = (uint64_t)sqlite3_column_int64(q, 2);
    col_text(q, 3, ev->actor, sizeof ev->actor);
    col_text(q, 4, ev->action, sizeof ev->action);
    col_text(q, 5, ev->reason, sizeof ev->reason);
}

static enum dc_err events_list(struct dc_store *base, enum dc_event_of of, int64_t subject,
                               dc_event_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, of == DC_EVENTS_CASE ? S_EVENTS_CASE : S_EVENTS_ACCT);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, subject);
    FOR_ROWS(s, q, struct dc_event row_, read_event(q, &row_), cb, ctx);
}

static enum dc_err revoke_put(struct dc_store *base, const uint8_t *device, int64_t case_id,
                              uint64_t time)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_REVOKE_PUT);
    if (!q) return DC_ERR_STORE;
    bind_blob(q, 1, device, DC_PUBKEY_BYTES);
    sqlite3_bind_int64(q, 2, case_id);
    bind_u64(q, 3, time);
    return run(s, q);
}

static enum dc_err refusal_put(struct dc_store *base, int64_t deposit, const uint8_t *refusal,
                               const uint8_t *coins, size_t coins_len)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_REFUSAL_PUT);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, deposit);
    bind_blob(q, 2, refusal, DC_REFUSAL_BYTES);
    bind_blob(q, 3, coins, coins_len);
    return run(s, q);
}

static enum dc_err refusal_get(struct dc_store *base, int64_t deposit, uint8_t *refusal,
                               uint8_t **coins, size_t *coins_len)
{
    struct sqlite_store *s = S(base);
    *coins = NULL;
    *coins_len = 0;
    sqlite3_stmt *q = st(s, S_REFUSAL_GET);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, deposit);
    int has;
    enum dc_err e = one_row(s, q, &has);
    if (e == DC_OK && !has) e = DC_ERR_NOT_FOUND;
    if (e == DC_OK && (size_t)sqlite3_column_bytes(q, 0) != DC_REFUSAL_BYTES) e = DC_ERR_STORE;
    if (e == DC_OK) {
        col_blob(q, 0, refusal, DC_REFUSAL_BYTES);
        *coins = col_dup(q, 1, coins_len);
        if (!*coins) e = DC_ERR_NO_MEMORY;
    }
    sqlite3_reset(q);
    return e;
}

static enum dc_err revoked_list(struct dc_store *base, dc_blob_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_REVOKED_LIST);
    if (!q) return DC_ERR_STORE;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (cb(ctx, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0))) break;
    }
    enum dc_err e = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DC_OK : fail(s, rc);
    sqlite3_reset(q);
    return e;
}

static enum dc_err key_put(struct dc_store *base, const struct dc_key_rec *k)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_KEY_PUT);
    if (!q) return DC_ERR_STORE;
    sqlite3_bind_int64(q, 1, k->key_id);
    bind_blob(q, 2, k->keycert, DC_KEYCERT_BYTES);
    bind_u64(q, 3, k->revoked_at);
    sqlite3_bind_int(q, 4, k->retired ? 1 : 0);
    return run(s, q);
}

static enum dc_err key_list(struct dc_store *base, dc_key_cb cb, void *ctx)
{
    struct sqlite_store *s = S(base);
    sqlite3_stmt *q = st(s, S_KEY_LIST);
    if (!q) return DC_ERR_STORE;
    FOR_ROWS(s, q, struct dc_key_rec row_,
             (row_.key_id = (uint32_t)sqlite3_column_int64(q, 0),
              col_blob(q, 1, row_.keycert, DC_KEYCERT_BYTES),
              row_.revoked_at = (uint64_t)sqlite3_column_int64(q, 2),
              row_.retired = sqlite3_column_int(q, 3)),
             cb, ctx);
}

static const struct dc_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = s_close,
    .migrate = s_migrate,
    .errmsg = s_errmsg,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .savepoint = s_savepoint,
    .release = s_release,
    .rollback_to = s_rollback_to,
    .meta_get = meta_get,
    .meta_put = meta_put,
    .account_insert = account_insert,
    .account_get = account_get,
    .account_update = account_update,
    .account_list = account_list,
    .post = post,
    .post_many = post_many,
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
    .holds_page = holds_page,
    .case_put = case_put,
    .case_get = case_get,
    .case_list = case_list,
    .case_search = case_search,
    .totals = totals,
    .account_search = account_search,
    .account_page = account_page,
    .cases_of_culprit = cases_of_culprit,
    .case_event = case_event,
    .account_event = account_event,
    .events_list = events_list,
    .revoke_put = revoke_put,
    .refusal_put = refusal_put,
    .refusal_get = refusal_get,
    .revoked_list = revoked_list,
    .key_put = key_put,
    .key_list = key_list,
};

enum dc_err dc_store_sqlite_open(struct dc_store **out, const char *path, char *errbuf,
                                 size_t errcap)
{
    *out = NULL;
    struct sqlite_store *s = calloc(1, sizeof *s);
    if (!s) return DC_ERR_NO_MEMORY;
    s->base.ops = &sqlite_ops;
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errcap, "cannot open SQLite database '%s': %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite3_close(s->db);
        free(s);
        return DC_ERR_STORE;
    }
    sqlite3_busy_timeout(s->db, 10000);
    sqlite3_extended_result_codes(s->db, 1);
    /* Bytes written per commit (issue 12; `make bench-server` prints them
     * per transfer and per coin). A commit appends every page it changed
     * to the WAL, and a transfer changes a few scattered leaf pages (the
     * payer's row, its journal index entries, its stored answer): with
     * 4 KiB pages each costs 4 KiB for ~100 bytes of news, so new
     * databases get SQLite's smallest pages, 512 bytes (set before the
     * first table exists; an existing database keeps its size). Rows that
     * do not fit (coin chains, evidence) spill to overflow pages, which
     * costs what a larger page would have. The checkpoint then copies the
     * pages back into the database file; doing it once per WAL_CHECKPOINT
     * bytes of WAL (32 MiB: 65536 frames at 512 bytes) instead of SQLite's
     * 1000 frames copies a hot page once for many commits (and the kernel
     * counts each 4 KiB page of the file it dirties, however little of it
     * changed). Durability is unchanged: every commit's WAL frames are still
     * fsynced before it returns (synchronous=FULL); a crash replays at most
     * that much WAL on the next open. Measured: 13.3 KB written per transfer
     * with both defaults, 11.8 KB with the later checkpoint alone, 10.3 KB
     * with 1 KiB pages alone, 6.4 KB with both; 512-byte pages against
     * 1 KiB in the same run: 4.4 against 6.3 KB per transfer, 12.2 against
     * 18.5 KB per 1-hop deposited coin; after migration 0010, 8 MiB against
     * 32 MiB of WAL, three runs each interleaved: 3.7-3.8 against 3.3-3.4 KB
     * per transfer. */
    enum dc_err e = exec(s, "PRAGMA page_size=512");
    if (e == DC_OK) e = wal_checkpoint_every(s);
    if (e == DC_OK) e = exec(s, "PRAGMA journal_mode=WAL");
    if (e == DC_OK) e = exec(s, "PRAGMA synchronous=FULL");
    if (e == DC_OK) e = exec(s, "PRAGMA foreign_keys=ON");
    if (e != DC_OK) {
        snprintf(errbuf, errcap, "cannot configure SQLite database '%s': %s", path, s->errmsg);
        s_close(&s->base);
        return e;
    }
    *out = &s->base;
    return DC_OK;
}
