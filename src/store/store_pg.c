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
 * transaction; a read that finds its connection dead before anything of its
 * transaction reached the server (outside a transaction, or the first
 * statement of one, which carries the BEGIN) is retried once transparently.
 * A commit whose connection dies has an unknown outcome: it is reported as
 * a retry, and the writer's retry is safe because every money-moving job is
 * idempotent by request id.
 *
 * Round trips and statements (docs/DEPLOY.md has the profile): BEGIN,
 * SAVEPOINT and RELEASE travel in pipeline mode in front of the next
 * statement, and inside a write transaction postings and stored answers
 * are deferred to set-based statements sent with the COMMIT when the
 * store can decide their outcome itself ("Deferred writes" below). The
 * write connection answers account reads from the rows it last saw
 * committed, proven current before COMMIT ("The account cache"), and a
 * request id the writer's idempotent job looks up (will_put, store.h) is
 * decided by its primary key at commit instead of a lookup. A transfer in
 * a batch thus costs no round trip of its own. Sessions plan prepared
 * statements once (plan_cache_mode = force_generic_plan): every statement
 * here is a key lookup or a set over arrays, and re-planning each
 * execution cost more than executing it.
 *
 * Wire format: statements are prepared once per connection with explicit
 * parameter types; parameters and results travel in binary (no hex for
 * blobs, no decimal parsing of integers). Every integer column is BIGINT and
 * every aggregate is cast to BIGINT, so an integer result is always 8 bytes.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ducat/amount.h"
#include "ducat/refusal.h"
#include "schema_pg.h" /* generated: schema_pg[] */
#include "store/store.h"

/* Type oids of the parameters we send (pg_type.h is a server header). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define OID_BYTEA_ARRAY 1001
#define OID_TEXT_ARRAY 1009
#define OID_INT8_ARRAY 1016

/* Taken by migrate so that several instances starting at once migrate once. */
#define MIGRATE_LOCK 0x6475636174LL /* "ducat" */

enum stmt_id {
    S_META_GET,
    S_META_PUT,
    S_ACCT_INSERT,
    S_ACCT_INSERT_AUTO,
    S_ACCT_BUMP,
    S_ACCT_BY_ID,
    S_ACCT_BY_DEVICE,
    S_ACCT_BY_ALIAS,
    S_ACCT_BY_IDS,
    S_ACCT_UPDATE,
    S_ACCT_LIST,
    S_ACCT_LIST_ALL,
    S_POST,
    S_JOURNAL_LIST,
    S_AUDIT,
    S_REQ_GET,
    S_REQ_PUT,
    S_COIN_INSERT,
    S_COIN_GET,
    S_COIN_DEP,
    S_COIN_OUT,
    S_COIN_OUT_ALL,
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
    S_ACCT_SEARCH,
    S_CASE_SEARCH,
    S_TOTALS,
    S_ACCT_PAGE,
    S_ACCT_PAGE_ALL,
    S_CASE_LIST_CULPRIT,
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
    S_JOURNAL_IDS,
    S_FLUSH_JOURNAL,
    S_FLUSH_BALANCES,
    S_FLUSH_REQUESTS,
    S_CACHE_CHECK,
    S_IDS,
    S_DEP_PREFETCH,
    S_FLUSH_HOLDS,
    S_FLUSH_DCOINS,
    S_FLUSH_CLAIMS,
    S_FLUSH_CDEPS,
    S_FLUSH_TX,
    S_COUNT
};

#define ACCT_COLS                                                                                  \
    "id, kind, status, offline_blocked, name, national_id, phone, device_pub, alias, "             \
    "offline_limit, available, held, created_at"
/* frozen: from migration 2, never inserted as 1; xmin: the row version, for
 * the account cache ("The account cache" below); debtor: from migration 3 */
#define ACCT_SEL ACCT_COLS ", frozen, xmin::text::bigint, debtor"
#define HOLD_COLS                                                                                  \
    "id, account, amount, release_at, status, case_id, deposit, created_at, provisional, "         \
    "taken, repaid, released_by, release_provisional"
#define CASE_COLS                                                                                  \
    "id, serial, state, culprit, culprit_account, value, exposure, evidence, status, "             \
    "decision, actor, reason, created_at, resolved_at, recovered, carried, repaid"
#define DCOIN_COLS "id, deposit, account, serial, chain, amount, hold, flagged"

/* The text S_CACHE_CHECK fails with: classify() knows it by this. */
#define CACHE_STALE "ducat: cached account rows changed"

/* One statement: its text and its parameter types, one letter each
 * (i = int8, b = bytea, t = text; I, B, T: arrays of them). */
struct stmt {
    const char *sql;
    const char *types;
};

static const struct stmt stmts[S_COUNT] = {
    [S_META_GET] = {"SELECT value FROM meta WHERE key = $1", "t"},
    [S_META_PUT] = {"INSERT INTO meta(key, value) VALUES ($1, $2) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    "tt"},
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
                     "OR ($1 = last_value AND NOT is_called)",
                     "i"},
    [S_ACCT_BY_ID] = {"SELECT " ACCT_SEL " FROM accounts WHERE id = $1", "i"},
    [S_ACCT_BY_DEVICE] = {"SELECT " ACCT_SEL " FROM accounts WHERE device_pub = $1", "b"},
    [S_ACCT_BY_ALIAS] = {"SELECT " ACCT_SEL " FROM accounts WHERE alias = $1", "b"},
    /* accounts_prefetch: a transfer's accounts the cache does not have */
    [S_ACCT_BY_IDS] = {"SELECT " ACCT_SEL " FROM accounts WHERE id = ANY($1)", "I"},
    [S_ACCT_UPDATE] = {"UPDATE accounts SET status = $2, offline_blocked = $3, "
                       "offline_limit = $4, frozen = $5, debtor = $6 WHERE id = $1",
                       "iiiiii"},
    [S_ACCT_LIST] = {"SELECT " ACCT_SEL " FROM accounts WHERE kind = 0 "
                     "AND (CASE WHEN $1 = 2 THEN frozen = 1 ELSE frozen = 0 AND status = $1 END) "
                     "ORDER BY id",
                     "i"},
    [S_ACCT_LIST_ALL] = {"SELECT " ACCT_SEL " FROM accounts ORDER BY id", ""},
    [S_ACCT_PAGE] = {"SELECT " ACCT_SEL " FROM accounts WHERE kind = 0 AND id > $2 "
                     "AND (CASE WHEN $1 = 2 THEN frozen = 1 ELSE frozen = 0 AND status = $1 END) "
                     "ORDER BY id LIMIT $3",
                     "iii"},
    [S_ACCT_PAGE_ALL] = {"SELECT " ACCT_SEL " FROM accounts WHERE id > $1 ORDER BY id LIMIT $2",
                         "ii"},
    /* The posting and both balance moves in one round trip. One UPDATE
     * covers both accounts so that a move between the buckets of one
     * account (a release) touches its row once; rows are locked in index
     * order, which keeps two crossing transfers from deadlocking. */
    [S_POST] = {"WITH j AS (INSERT INTO journal(time, debit, debit_bucket, credit, "
                "credit_bucket, amount, kind, ref, memo) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "RETURNING id), "
                "u AS (UPDATE accounts SET "
                "available = available + (CASE WHEN id = $4 AND $5 = 0 THEN $6 ELSE 0 END) "
                "- (CASE WHEN id = $2 AND $3 = 0 THEN $6 ELSE 0 END), "
                "held = held + (CASE WHEN id = $4 AND $5 = 1 THEN $6 ELSE 0 END) "
                "- (CASE WHEN id = $2 AND $3 = 1 THEN $6 ELSE 0 END) "
                "WHERE id IN ($2, $4) RETURNING id) "
                "SELECT (SELECT id FROM j), (SELECT count(*) FROM u)",
                "iiiiiittt"},
    [S_JOURNAL_LIST] = {"SELECT id, time, debit, debit_bucket, credit, credit_bucket, amount, "
                        "kind, ref, memo FROM journal WHERE (debit = $1 OR credit = $1) "
                        "AND id < $2 "
                        "ORDER BY id DESC LIMIT $3",
                        "iii"},
    /* the difference taken in numeric, then cast: a settlement balance of
     * exactly INT64_MIN has debits summing to 2^63, outside bigint */
    [S_AUDIT] = {"SELECT a.id, "
                 "(COALESCE((SELECT SUM(amount) FROM journal WHERE credit = a.id AND "
                 "credit_bucket = 0), 0) - COALESCE((SELECT SUM(amount) FROM journal "
                 "WHERE debit = a.id AND debit_bucket = 0), 0))::bigint, "
                 "(COALESCE((SELECT SUM(amount) FROM journal WHERE credit = a.id AND "
                 "credit_bucket = 1), 0) - COALESCE((SELECT SUM(amount) FROM journal "
                 "WHERE debit = a.id AND debit_bucket = 1), 0))::bigint "
                 "FROM accounts a ORDER BY a.id",
                 ""},
    [S_REQ_GET] = {"SELECT body_hash, status, response, created_at FROM requests "
                   "WHERE account = $1 AND request_id = $2",
                   "it"},
    [S_REQ_PUT] = {"INSERT INTO requests(account, request_id, body_hash, status, response, "
                   "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                   "itbiti"},
    [S_COIN_INSERT] = {"INSERT INTO coins(serial, value, account, withdrawal, expires_at, "
                       "deposited) VALUES ($1, $2, $3, $4, $5, $6)",
                       "biiiii"},
    [S_COIN_GET] = {"SELECT value, account, withdrawal, expires_at, deposited FROM coins "
                    "WHERE serial = $1",
                    "b"},
    [S_COIN_DEP] = {"UPDATE coins SET deposited = deposited + $2 WHERE serial = $1", "bi"},
    /* two statements, not "account = $1 OR $1 = 0": the per-account sum is
     * on the withdrawal path and must be an index range (see below) */
    [S_COIN_OUT] = {"SELECT COALESCE(SUM(value - deposited), 0)::bigint FROM coins "
                    "WHERE account = $1",
                    "i"},
    [S_COIN_OUT_ALL] = {"SELECT COALESCE(SUM(value - deposited), 0)::bigint FROM coins", ""},
    [S_STATE_GET] = {"SELECT successor FROM consumed WHERE serial = $1 AND state = $2", "bb"},
    /* the claim: race-free across instances by the primary key */
    [S_STATE_PUT] = {"INSERT INTO consumed(serial, state, successor, dcoin) "
                     "VALUES ($1, $2, $3, $4) ON CONFLICT (serial, state) DO NOTHING",
                     "bbbi"},
    [S_STATE_ORPHANS] = {"SELECT DISTINCT c.serial FROM consumed c WHERE NOT EXISTS "
                         "(SELECT 1 FROM coins k WHERE k.serial = c.serial) ORDER BY 1",
                         ""},
    [S_DCOIN_INSERT] = {"INSERT INTO deposit_coins(deposit, account, serial, chain, amount, "
                        "hold, flagged) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                        "iibbiii"},
    [S_DCOIN_BY_SERIAL] = {"SELECT " DCOIN_COLS " FROM deposit_coins WHERE serial = $1 "
                           "ORDER BY id",
                           "b"},
    [S_HOLD_INSERT] = {"INSERT INTO holds(account, amount, release_at, status, case_id, "
                       "deposit, created_at, provisional, taken, repaid, released_by, "
                       "release_provisional) VALUES "
                       "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                       "iiiiiiiiiiti"},
    [S_HOLD_UPDATE] = {"UPDATE holds SET account = $2, amount = $3, release_at = $4, "
                       "status = $5, case_id = $6, deposit = $7, created_at = $8, "
                       "provisional = $9, taken = $10, repaid = $11, released_by = $12, "
                       "release_provisional = $13 WHERE id = $1",
                       "iiiiiiiiiiiti"},
    [S_HOLD_GET] = {"SELECT " HOLD_COLS " FROM holds WHERE id = $1", "i"},
    [S_HOLDS_ACCT] = {"SELECT " HOLD_COLS " FROM holds WHERE account = $1 AND status IN (0, 1) "
                      "ORDER BY id",
                      "i"},
    [S_HOLDS_DUE] = {"SELECT " HOLD_COLS " FROM holds WHERE status = 0 AND release_at <= $1 "
                     "AND release_provisional = 0 ORDER BY release_at, id",
                     "i"},
    [S_HOLDS_RECHECK] = {"SELECT " HOLD_COLS " FROM holds WHERE status IN (0, 1) AND "
                         "(release_provisional = 1 OR release_at > $1) ORDER BY id",
                         "i"},
    /* $1 unused: every holds_list statement takes its one argument */
    [S_HOLDS_PROV] = {"SELECT " HOLD_COLS " FROM holds WHERE release_provisional = 1 AND "
                      "status IN (0, 1) AND $1::bigint = $1::bigint ORDER BY id",
                      "i"},
    [S_HOLDS_CASE] = {"SELECT " HOLD_COLS " FROM holds WHERE case_id = $1 AND case_id <> 0 "
                      "ORDER BY id",
                      "i"},
    [S_HOLDS_DEPOSIT] = {"SELECT " HOLD_COLS " FROM holds WHERE deposit = $1 ORDER BY id", "i"},
    [S_HOLDS_PAGE] = {"SELECT " HOLD_COLS " FROM holds WHERE status = $1 AND id > $2 ORDER BY id "
                      "LIMIT $3",
                      "iii"},
    [S_HOLDS_PAGE_ALL] = {"SELECT " HOLD_COLS " FROM holds WHERE id > $1 ORDER BY id LIMIT $2",
                          "ii"},
    [S_CASE_INSERT] = {"INSERT INTO cases(serial, state, culprit, culprit_account, value, "
                       "exposure, evidence, status, decision, actor, reason, created_at, "
                       "resolved_at, recovered, carried, repaid) VALUES ($1, $2, $3, $4, $5, $6, "
                       "$7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
                       "bbbiiibitttiiiii"},
    [S_CASE_UPDATE] = {"UPDATE cases SET culprit_account = $2, value = $3, exposure = $4, "
                       "status = $5, decision = $6, actor = $7, reason = $8, resolved_at = $9, "
                       "recovered = $10, carried = $11, repaid = $12 WHERE id = $1",
                       "iiiiitttiiii"},
    [S_CASE_BY_ID] = {"SELECT " CASE_COLS " FROM cases WHERE id = $1", "i"},
    [S_CASE_BY_STATE] = {"SELECT " CASE_COLS " FROM cases WHERE serial = $1 AND state = $2", "bb"},
    [S_CASE_LIST] = {"SELECT " CASE_COLS " FROM cases WHERE status = $1 ORDER BY id", "i"},
    [S_CASE_LIST_ALL] = {"SELECT " CASE_COLS " FROM cases ORDER BY id", ""},
    /* each criterion a range on its own index (0008_search_totals.sql); an
     * absent one is bound as NULL and matches nothing. Names compare in
     * byte order (COLLATE "C"), chr(1114111) the greatest character. */
    [S_ACCT_SEARCH] = {"SELECT " ACCT_SEL " FROM accounts WHERE id > $5 AND id IN ("
                       "SELECT id FROM accounts WHERE id = $1 "
                       "UNION SELECT id FROM accounts WHERE lower(name) COLLATE \"C\" >= "
                       "lower($2) COLLATE \"C\" AND lower(name) COLLATE \"C\" < "
                       "(lower($2) || chr(1114111)) COLLATE \"C\" "
                       "UNION SELECT id FROM accounts WHERE alias >= $3 AND alias < $4 "
                       "UNION SELECT id FROM accounts WHERE device_pub >= $3 AND device_pub < $4) "
                       "ORDER BY id LIMIT $6",
                       "itbbii"},
    [S_CASE_SEARCH] = {"SELECT " CASE_COLS " FROM cases WHERE id > $4 AND id IN ("
                       "SELECT id FROM cases WHERE id = $1 "
                       "UNION SELECT id FROM cases WHERE serial >= $2 AND serial < $3 "
                       "UNION SELECT id FROM cases WHERE culprit_account = $6 "
                       "UNION SELECT case_id FROM holds WHERE account = $6 AND case_id <> 0) "
                       "ORDER BY id LIMIT $5",
                       "ibbiii"},
    [S_TOTALS] = {"SELECT (SELECT COUNT(*) FROM holds WHERE status = 0), "
                  "(SELECT COALESCE(SUM(amount), 0)::bigint FROM holds WHERE status = 0), "
                  "(SELECT COUNT(*) FROM holds WHERE status = 1), "
                  "(SELECT COALESCE(SUM(amount), 0)::bigint FROM holds WHERE status = 1), "
                  "(SELECT COUNT(*) FROM cases WHERE status = 0), "
                  "(SELECT COALESCE(SUM(exposure), 0)::bigint FROM cases WHERE status = 0)",
                  ""},
    [S_CASE_LIST_CULPRIT] = {"SELECT " CASE_COLS " FROM cases WHERE culprit_account = $1 "
                             "AND status = 0 ORDER BY id",
                             "i"},
    [S_ACCT_EVENT] = {"INSERT INTO account_events(account, time, actor, action, reason) "
                      "VALUES ($1, $2, $3, $4, $5)",
                      "iittt"},
    [S_EVENTS_ACCT] = {"SELECT id, account, time, actor, action, reason FROM account_events "
                       "WHERE account = $1 ORDER BY id",
                       "i"},
    [S_EVENTS_CASE] = {"SELECT id, case_id, time, actor, action, reason FROM case_events "
                       "WHERE case_id = $1 ORDER BY id",
                       "i"},
    [S_CASE_EVENT] = {"INSERT INTO case_events(case_id, time, actor, action, reason) "
                      "VALUES ($1, $2, $3, $4, $5)",
                      "iittt"},
    [S_REVOKE_PUT] = {"INSERT INTO revoked(device, case_id, time) VALUES ($1, $2, $3) "
                      "ON CONFLICT (device) DO NOTHING",
                      "bii"},
    [S_REVOKED_LIST] = {"SELECT device FROM revoked ORDER BY device", ""},
    [S_REFUSAL_PUT] = {"INSERT INTO reclaim_refusals(deposit, refusal, coins) VALUES ($1, $2, $3)",
                       "ibb"},
    [S_REFUSAL_GET] = {"SELECT refusal, coins FROM reclaim_refusals WHERE deposit = $1", "i"},
    [S_KEY_PUT] = {"INSERT INTO signing_keys(key_id, keycert, revoked_at, retired) "
                   "VALUES ($1, $2, $3, $4) "
                   "ON CONFLICT (key_id) DO UPDATE SET keycert = excluded.keycert, "
                   "revoked_at = excluded.revoked_at, retired = excluded.retired",
                   "ibii"},
    [S_KEY_LIST] = {"SELECT key_id, keycert, revoked_at, retired FROM signing_keys "
                    "ORDER BY key_id",
                    ""},
    /* Deferred writes (see "Deferred writes" below): journal ids reserved
     * ahead, then every deferred row of a transaction in three set-based
     * statements over arrays, sent in the round trip of the COMMIT.
     * The sequence is resolved once per statement: OFFSET 0 keeps the
     * planner from pulling the lookup into the per-row nextval call (8 us
     * an id instead of about 1 us; the server time of a batch's ids was a
     * tenth of its transfers'). */
    [S_JOURNAL_IDS] = {"SELECT nextval(q.seq) FROM (SELECT pg_get_serial_sequence('journal', "
                       "'id')::regclass AS seq OFFSET 0) AS q, generate_series(1, $1)",
                       "i"},
    [S_FLUSH_JOURNAL] = {"INSERT INTO journal(id, time, debit, debit_bucket, credit, "
                         "credit_bucket, amount, kind, ref, memo) "
                         "SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                         "IIIIIIITTT"},
    /* one row per account with its net moves; the join is by primary key
     * (enable_seqscan = off), so SERIALIZABLE locks rows, not the table */
    [S_FLUSH_BALANCES] = {"UPDATE accounts a SET available = a.available + d.av, "
                          "held = a.held + d.hd FROM unnest($1, $2, $3) AS d(id, av, hd) "
                          "WHERE a.id = d.id "
                          "RETURNING a.id, a.available, a.held, a.xmin::text::bigint",
                          "III"},
    [S_FLUSH_REQUESTS] = {"INSERT INTO requests(account, request_id, body_hash, status, "
                          "response, created_at) SELECT * FROM unnest($1, $2, $3, $4, $5, $6)",
                          "ITBITI"},
    /* The account cache's check: every cached row this transaction used is
     * still the version it was cached at, or the statement fails (a text
     * that is no number, cast to one: an assertion without a procedure),
     * so the pipeline's COMMIT never runs on stale reads. */
    [S_CACHE_CHECK] = {"SELECT CAST(CASE WHEN count(*) = $5 THEN '0' ELSE '" CACHE_STALE "' END "
                       "AS bigint) FROM unnest($1, $2, $3, $4) AS v(id, x, av, hd) "
                       "JOIN accounts a ON a.id = v.id WHERE a.xmin::text::bigint = v.x "
                       "AND a.available = v.av AND a.held = v.hd",
                       "IIIIi"},
    /* Deposits (see "Deposits in one round trip"): ids reserved ahead from
     * a table's sequence, the lookup of every state a deposit claims (its
     * successor if consumed, whether a case is open on it) and of its
     * coins, and the deferred rows in four set-based statements. */
    [S_IDS] = {"SELECT nextval(q.seq) FROM (SELECT pg_get_serial_sequence($1, 'id')::regclass "
               "AS seq OFFSET 0) AS q, generate_series(1, $2)",
               "ti"},
    [S_DEP_PREFETCH] = {"SELECT 0::bigint, k.serial, k.state, c.successor, "
                        "(c.serial IS NOT NULL)::int::bigint, "
                        "(EXISTS (SELECT 1 FROM cases x WHERE x.serial = k.serial "
                        "AND x.state = k.state))::int::bigint, 0::bigint "
                        "FROM unnest($1, $2) AS k(serial, state) "
                        "LEFT JOIN consumed c ON c.serial = k.serial AND c.state = k.state "
                        "UNION ALL "
                        "SELECT 1::bigint, k.serial, NULL::bytea, NULL::bytea, "
                        "(c.serial IS NOT NULL)::int::bigint, COALESCE(c.value, 0)::bigint, "
                        "COALESCE(c.deposited, 0)::bigint "
                        "FROM (SELECT DISTINCT u.serial FROM unnest($1) AS u(serial)) AS k "
                        "LEFT JOIN coins c ON c.serial = k.serial",
                        "BB"},
    [S_FLUSH_HOLDS] = {"INSERT INTO holds(id, account, amount, release_at, status, case_id, "
                       "deposit, created_at, provisional, taken, repaid, release_provisional, "
                       "released_by) SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                       "$10, $11, $12, $13)",
                       "IIIIIIIIIIIIT"},
    [S_FLUSH_DCOINS] = {"INSERT INTO deposit_coins(id, deposit, account, serial, chain, amount, "
                        "hold, flagged) SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8)",
                        "IIIBBIII"},
    /* no ON CONFLICT: a state claimed by someone else meanwhile fails the
     * transaction (a serialization failure, or 23505: run again, looking) */
    [S_FLUSH_CLAIMS] = {"INSERT INTO consumed(serial, state, successor, dcoin) "
                        "SELECT * FROM unnest($1, $2, $3, $4)",
                        "BBBI"},
    /* one row per serial (netted): the CHECK deposited <= value stays the
     * database's last word */
    [S_FLUSH_CDEPS] = {"UPDATE coins c SET deposited = c.deposited + d.amount "
                       "FROM unnest($1, $2) AS d(serial, amount) WHERE c.serial = d.serial",
                       "BI"},
    /* A commit's check, journal rows, balances and answers as one statement
     * ("One statement at commit" below): S_CACHE_CHECK's $1-$5, then
     * S_FLUSH_JOURNAL's, S_FLUSH_BALANCES' and S_FLUSH_REQUESTS' arrays.
     * Every CTE sees the statement's snapshot, so the check reads the rows
     * as they were before the update, as it did when it ran first. The
     * update moves nothing unless the check passed (a stale cached balance
     * must fail as a race, not as the CHECK constraint on a balance it
     * would have made negative); k has one row, so the final SELECT always
     * evaluates the check and fails the statement when it did not pass. */
    [S_FLUSH_TX] = {"WITH k AS (SELECT count(*) AS n FROM unnest($1, $2, $3, $4) "
                    "AS v(id, x, av, hd) JOIN accounts a ON a.id = v.id "
                    "WHERE a.xmin::text::bigint = v.x AND a.available = v.av AND a.held = v.hd), "
                    "j AS (INSERT INTO journal(id, time, debit, debit_bucket, credit, "
                    "credit_bucket, amount, kind, ref, memo) "
                    "SELECT * FROM unnest($6, $7, $8, $9, $10, $11, $12, $13, $14, $15)), "
                    "r AS (INSERT INTO requests(account, request_id, body_hash, status, "
                    "response, created_at) SELECT * FROM unnest($19, $20, $21, $22, $23, $24)), "
                    "b AS (UPDATE accounts a SET available = a.available + d.av, "
                    "held = a.held + d.hd FROM unnest($16, $17, $18) AS d(id, av, hd), k "
                    "WHERE a.id = d.id AND k.n = $5 "
                    "RETURNING a.id, a.available, a.held, a.xmin::text::bigint AS x) "
                    "SELECT b.id, b.available, b.held, b.x, "
                    "CAST(CASE WHEN k.n = $5 THEN '0' ELSE '" CACHE_STALE "' END AS bigint) "
                    "FROM k LEFT JOIN b ON true",
                    "IIIIiIIIIIIITTTIIIITBITI"},
};

#define MAX_PARAMS 24

/* A posting whose row and balance moves wait for the next flush. */
struct pend_post {
    int64_t id, time, debit, credit, amount, debit_bucket, credit_bucket;
    char kind[16], ref[48], memo[DC_MEMO_MAX + 1];
};

/* A stored answer waiting for the next flush. */
struct pend_req {
    int64_t account, status, created_at;
    char request_id[65];
    uint8_t body_hash[DC_HASH_BYTES];
    char *response; /* malloc'd copy */
};

/* An account's kind and balances as the database has them in this
 * transaction's snapshot (without the pending moves). */
struct acct_seen {
    int64_t id, kind, available, held;
};

/* A request id this transaction looked up and did not find. */
struct req_miss {
    int64_t account;
    char request_id[65];
    int unverified; /* a will_put miss answered without looking */
    int put;        /* its answer is pending */
};

/* One account as this connection last saw it committed (the account
 * cache), with the row version (xmin) it was read or written at. */
struct cache_ent {
    int valid;
    int64_t xmin;
    struct dc_account a;
};

/* A cached row a write transaction used: S_CACHE_CHECK proves it current
 * before anything of the transaction commits. Also, with the same fields,
 * a row version learnt in the transaction (a read, a balance flush): it
 * enters the cache once the transaction commits. */
struct row_ver {
    int64_t id, xmin, available, held;
    struct dc_account a; /* reads only */
    int is_read;
};

/* Deferred deposit rows (see "Deposits in one round trip"). */
struct pend_dcoin {
    struct dc_dcoin c; /* c.chain: points at own */
    uint8_t *own;      /* malloc'd copy of the chain */
};

struct pend_claim {
    uint8_t serial[DC_SERIAL_BYTES], state[DC_HASH_BYTES], succ[DC_HASH_BYTES];
    int64_t dcoin;
};

struct pend_cdep {
    uint8_t serial[DC_SERIAL_BYTES];
    int64_t amount;
};

/* What the deposit prefetch learnt of a state (kind 0) or a coin (kind 1)
 * in this transaction's snapshot, without its pending rows. */
struct pf_ent {
    int kind;
    uint8_t serial[DC_SERIAL_BYTES], state[DC_HASH_BYTES], succ[DC_HASH_BYTES];
    int found;    /* state consumed (succ) / coin issued */
    int has_case; /* state: a case is open on it */
    int64_t value, deposited;
};

/* How many pending rows of each kind: one end of a range. */
struct pend_n {
    size_t posts, reqs, holds, dcoins, claims, cdeps;
};

#define CACHE_SLOTS 8192 /* direct-mapped by account id: about 3 MB */
#define VERIFY_TXS 3     /* write transactions that look request ids up after a false miss */

/* Ids reserved per round trip (journal, holds, deposit_coins): more than a
 * writer batch of 100 uses, so a full batch reserves each once. Ids a
 * lost connection had reserved are never used: gaps, as any sequence has. */
#define ID_BLOCK 128

struct pg_store {
    struct dc_store base;            /* first: the interface */
    PGconn *conn;                    /* NULL after a timeout dropped it (see "Timeouts") */
    char *url;                       /* to connect again */
    unsigned timeout_ms;             /* longest wait for an answer (0: none) */
    long long quiet_until;           /* after a timeout: begin refuses until then (monotonic ms) */
    unsigned char prepared[S_COUNT]; /* per connection: cleared on reconnect */
    int in_tx;                       /* between begin and commit/rollback */
    int doomed;                      /* a retryable failure hit this transaction */
    /* A resource failure (disk full, out of memory) that broke this
     * transaction: what its later statements and rollback_to answer in
     * place of a bare DC_ERR_STORE, so the client learns the cause (507,
     * not 500) whichever statement of the job reports it. DC_OK: none. */
    enum dc_err broke;
    /* Round trips saved (see "Transactions"): BEGIN, SAVEPOINT and RELEASE
     * wait to travel in front of the next statement. */
    int write_tx;       /* in_tx is a SERIALIZABLE write transaction */
    int begun;          /* its BEGIN was sent */
    int in_job;         /* between savepoint and release/rollback_to */
    int sp_sent;        /* the job's SAVEPOINT was sent */
    int release_queued; /* the previous job's RELEASE waits for the next round trip */
    /* Deferred writes of the open write transaction (see "Deferred writes"). */
    struct pend_post *posts;
    size_t n_posts, cap_posts, mark_posts; /* mark: count at the job's savepoint */
    struct pend_req *reqs;
    size_t n_reqs, cap_reqs, mark_reqs;
    struct acct_seen *seen;
    size_t n_seen, cap_seen;
    struct req_miss *miss;
    size_t n_miss, cap_miss, mark_miss;
    /* The account cache (see "The account cache") and what the open write
     * transaction did with it. */
    struct cache_ent *cache; /* CACHE_SLOTS entries, allocated at first use */
    struct row_ver *used;    /* cached rows used and not yet checked */
    size_t n_used, cap_used;
    struct row_ver *learnt; /* row versions to cache at commit */
    size_t n_learnt, cap_learnt, mark_learnt;
    int64_t *nocache; /* rows this transaction wrote: not from the cache */
    size_t n_nocache, cap_nocache;
    int64_t *dropped; /* rows to drop from the cache at commit */
    size_t n_dropped, cap_dropped;
    int verify_reqs; /* > 0: will_put misses are looked up (VERIFY_TXS) */
    /* Deposits (see "Deposits in one round trip"): deferred rows with the
     * count at the job's savepoint, what the prefetch learnt, and ids. */
    struct dc_hold *holds;
    size_t n_holds, cap_holds, mark_holds;
    struct pend_dcoin *dcoins;
    size_t n_dcoins, cap_dcoins, mark_dcoins;
    struct pend_claim *claims;
    size_t n_claims, cap_claims, mark_claims;
    struct pend_cdep *cdeps;
    size_t n_cdeps, cap_cdeps, mark_cdeps;
    struct pf_ent *pf;
    size_t n_pf, cap_pf;
    int pf_cases_stale; /* a case was inserted since: ask the database */
    int verify_deps;    /* > 0: deposit rows are written at once (VERIFY_TXS) */
    int64_t hold_ids[ID_BLOCK], dcoin_ids[ID_BLOCK];
    size_t hold_ids_pos, hold_ids_n, dcoin_ids_pos, dcoin_ids_n;
    int tx_forget;         /* out of memory for the lists: forget the cache at commit */
    int64_t ids[ID_BLOCK]; /* reserved journal ids, used from ids_pos */
    size_t ids_pos, ids_n;
    uint64_t round_trips; /* waits for the server's answer (dc_store_round_trips) */
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

static void cache_drop(struct pg_store *s);
static void forget_ids(struct pg_store *s);
static void touched(struct pg_store *s, int64_t id, int drop);
static void learn(struct pg_store *s, const struct row_ver *v);

/* Maps a failed result (or none) to the registry; remembers the message. */
static enum dc_err classify(struct pg_store *s, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    set_msg(s, "");
    if (PQstatus(s->conn) != CONNECTION_OK) {
        s->doomed = s->in_tx;
        cache_drop(s);
        return DC_ERR_STORE_RETRY;
    }
    if (!state) return DC_ERR_STORE;
    if (strcmp(state, "22P02") == 0 && strstr(PQresultErrorMessage(r), CACHE_STALE)) {
        /* another connection changed a cached row: run again from the
         * database (a serialization failure by other means) */
        cache_drop(s);
        s->doomed = s->in_tx;
        return DC_ERR_STORE_RETRY;
    }
    /* 40001 serialization failure, 40P01 deadlock: the transaction lost a
     * race with another one and must run again from its start */
    if (strncmp(state, "40", 2) == 0 || strncmp(state, "08", 2) == 0 ||
        strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
        strcmp(state, "55P03") == 0 || strcmp(state, "53300") == 0) {
        s->doomed = s->in_tx;
        return DC_ERR_STORE_RETRY;
    }
    if (strcmp(state, "25P02") == 0) {
        if (s->doomed) return DC_ERR_STORE_RETRY;
        return s->broke != DC_OK ? s->broke : DC_ERR_STORE;
    }
    if (strncmp(state, "23", 2) == 0) return DC_ERR_STORE_CONSTRAINT;
    if (strcmp(state, "22003") == 0) return DC_ERR_AMOUNT_OVERFLOW;
    if (strcmp(state, "53200") == 0) {
        if (s->in_tx) s->broke = DC_ERR_NO_MEMORY;
        return DC_ERR_NO_MEMORY;
    }
    /* disk_full: its own error, so an operator can alert on it */
    if (strcmp(state, "53100") == 0) {
        if (s->in_tx) s->broke = DC_ERR_STORE_FULL;
        return DC_ERR_STORE_FULL;
    }
    if (strcmp(state, "3F000") == 0 || strcmp(state, "42P01") == 0) return DC_ERR_STORE_SCHEMA;
    return DC_ERR_STORE;
}

/* Session settings, applied on every (re)connection (plan_cache_mode: see
 * the file header). enable_seqscan = off:
 * under SERIALIZABLE a sequential scan takes a predicate lock on the whole
 * table and turns every concurrent write to it into a conflict; our
 * write-path queries all have an index, but on small tables the planner
 * would still scan (PostgreSQL docs, "Serializable Isolation Level"). */
static enum dc_err cmd(struct pg_store *s, const char *text);

static enum dc_err session_setup(struct pg_store *s)
{
    return cmd(s, "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan");
}

/* A new connection by the store's URL, with our defaults (the URL wins:
 * expand_dbname). NULL only when out of memory. */
static PGconn *connect_url(const char *url)
{
    const char *const keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *const vals[] = {"ducatd", "10", url, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* ---- Timeouts ----------------------------------------------------------------
 *
 * With a timeout set (dc_store_set_timeout: ducatd's [ducat]
 * store_timeout_ms), no wait for the server's answer lasts longer: a hung
 * primary, or a commit waiting for a synchronous standby that is not there
 * (a promoted standby that kept synchronous_standby_names), would
 * otherwise hold the writer and every request behind it forever. The
 * connection is then dropped (the only way to stop waiting; the server
 * rolls back what it did not commit, and a commit it did make is found by
 * the retry through its request ids) and the op answers DC_ERR_STORE_RETRY
 * (HTTP 503, the client retries with the same request id). For one more
 * timeout's length begin answers DC_ERR_STORE_RETRY at once, so that the
 * writer's retries do not each wait again; then a new connection is tried.
 * PostgreSQL's own statement_timeout cannot do this: a commit's wait for
 * the standby ignores it (cancelled, the commit is reported as done). */
static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until libpq can hand over the next result without blocking, or
 * deadline (monotonic ms) passes: 0 then. Without a timeout, 1 at once. */
static int await_result(struct pg_store *s, long long deadline)
{
    if (!s->timeout_ms) return 1;
    while (PQisBusy(s->conn)) {
        long long left = deadline - mono_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN};
        int rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc == 0) return 0;
        if (rc < 0 && errno == EINTR) continue;
        /* an error or a broken connection: PQgetResult reports it */
        if (rc < 0 || !PQconsumeInput(s->conn)) return 1;
    }
    return 1;
}

/* No answer in time: the connection goes (see above). */
static enum dc_err timed_out(struct pg_store *s)
{
    snprintf(s->errmsg, sizeof s->errmsg,
             "postgresql: no answer within %u ms (a hung server, or a commit waiting for a "
             "synchronous standby): connection dropped",
             s->timeout_ms);
    PQfinish(s->conn);
    s->conn = NULL;
    memset(s->prepared, 0, sizeof s->prepared);
    s->doomed = s->in_tx;
    s->quiet_until = mono_ms() + s->timeout_ms;
    cache_drop(s);
    forget_ids(s);
    return DC_ERR_STORE_RETRY;
}

/* Forgets the deferred state of a transaction (on commit, rollback, or a
 * reconnect). The reserved ids stay: sequence values are never given out
 * twice by one server, whatever happens to the transaction (but see
 * forget_ids). */
static void tx_reset(struct pg_store *s)
{
    for (size_t i = 0; i < s->n_reqs; i++) free(s->reqs[i].response);
    for (size_t i = 0; i < s->n_dcoins; i++) free(s->dcoins[i].own);
    s->n_holds = s->mark_holds = s->n_dcoins = s->mark_dcoins = 0;
    s->n_claims = s->mark_claims = s->n_cdeps = s->mark_cdeps = 0;
    s->n_pf = 0;
    s->pf_cases_stale = 0;
    s->n_posts = s->mark_posts = 0;
    s->n_reqs = s->mark_reqs = 0;
    s->n_seen = s->n_miss = s->mark_miss = 0;
    s->n_used = s->n_learnt = s->mark_learnt = s->n_nocache = s->n_dropped = 0;
    s->in_tx = s->write_tx = s->begun = 0;
    s->broke = DC_OK;
    s->in_job = s->sp_sent = s->release_queued = 0;
    s->doomed = 0;
}

/* Drops the ids reserved ahead (journal, holds, deposit_coins) when the
 * connection is lost. A sequence's advance reaches a standby only with
 * the WAL flushed by a later commit: after a failover the new primary may
 * give out again values this connection reserved on the old one in a
 * transaction that never committed (the failover test saw duplicate
 * journal ids). Fresh blocks come from whichever server we reach next. */
static void forget_ids(struct pg_store *s)
{
    s->ids_pos = s->ids_n = 0;
    s->hold_ids_pos = s->hold_ids_n = 0;
    s->dcoin_ids_pos = s->dcoin_ids_n = 0;
}

/* Re-establishes a broken connection. Only when nothing of the current
 * transaction reached the server (see ensure_conn). */
static enum dc_err reconnect(struct pg_store *s)
{
    cache_drop(s);
    forget_ids(s);
    if (s->conn) {
        PQreset(s->conn);
    } else {
        s->conn = connect_url(s->url);
    }
    memset(s->prepared, 0, sizeof s->prepared);
    s->begun = s->sp_sent = s->release_queued = 0;
    s->doomed = 0;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        set_msg(s, "reconnect: ");
        return DC_ERR_STORE_RETRY;
    }
    return session_setup(s);
}

/* A transaction whose BEGIN has not been sent yet has nothing on the
 * server, so its connection may be replaced. */
static enum dc_err ensure_conn(struct pg_store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK) return DC_OK;
    if (s->in_tx && s->begun) {
        s->doomed = 1;
        snprintf(s->errmsg, sizeof s->errmsg, "postgresql: connection lost in a transaction");
        return DC_ERR_STORE_RETRY;
    }
    return reconnect(s);
}

static void stmt_name(char *out, size_t cap, enum stmt_id id)
{
    snprintf(out, cap, "d%d", (int)id);
}

/* Prepares statement id on this connection once. */
static enum dc_err prepare(struct pg_store *s, enum stmt_id id)
{
    if (s->prepared[id]) return DC_OK;
    Oid types[MAX_PARAMS];
    int n = (int)strlen(stmts[id].types);
    for (int i = 0; i < n; i++) {
        char t = stmts[id].types[i];
        types[i] = t == 'i'   ? OID_INT8
                   : t == 'b' ? OID_BYTEA
                   : t == 't' ? OID_TEXT
                   : t == 'I' ? OID_INT8_ARRAY
                   : t == 'B' ? OID_BYTEA_ARRAY
                              : OID_TEXT_ARRAY;
    }
    char name[16];
    stmt_name(name, sizeof name, id);
    enum dc_err e = DC_OK;
    s->round_trips++;
    if (!s->timeout_ms) {
        PGresult *r = PQprepare(s->conn, name, stmts[id].sql, n, types);
        e = PQresultStatus(r) == PGRES_COMMAND_OK ? DC_OK : classify(s, r);
        PQclear(r);
    } else if (!PQsendPrepare(s->conn, name, stmts[id].sql, n, types)) {
        e = classify(s, NULL);
    } else {
        long long deadline = mono_ms() + s->timeout_ms;
        for (PGresult *r;;) {
            if (!await_result(s, deadline)) return timed_out(s);
            if (!(r = PQgetResult(s->conn))) break;
            if (PQresultStatus(r) != PGRES_COMMAND_OK && e == DC_OK) e = classify(s, r);
            PQclear(r);
        }
    }
    if (e == DC_OK) s->prepared[id] = 1;
    return e;
}

/* Whether a statement changes rows (and so needs its job's savepoint). */
static int is_write(enum stmt_id id)
{
    return strncmp(stmts[id].sql, "SELECT", 6) != 0 || id == S_ACCT_BUMP;
}

/* ---- Pipelines: several statements, one round trip ---------------------- */

/* One statement of a pipeline: a command text without parameters (BEGIN,
 * SAVEPOINT, ...) or a prepared statement with its arguments. */
struct item {
    const char *text;
    enum stmt_id id;
    const struct args *a;
};

#define MAX_ITEMS 24

/*
 * Sends the items in pipeline mode behind one sync and reads every
 * result: one round trip. Returns the last item's result (caller
 * PQclears) when every item succeeded, else NULL with *err from the first
 * failure (the server skips the rest up to the sync). *done: how many
 * leading items succeeded. Every prepared item must have been prepared.
 */
static PGresult *pipeline(struct pg_store *s, const struct item *it, int n, int *done,
                          enum dc_err *err)
{
    PGconn *c = s->conn;
    *err = DC_OK;
    *done = 0;
    if (!PQenterPipelineMode(c)) {
        *err = classify(s, NULL);
        return NULL;
    }
    int sent = 0;
    for (; sent < n; sent++) {
        int ok;
        if (it[sent].text) {
            ok = PQsendQueryParams(c, it[sent].text, 0, NULL, NULL, NULL, NULL, 1);
        } else {
            char name[16];
            stmt_name(name, sizeof name, it[sent].id);
            const struct args *a = it[sent].a;
            ok = PQsendQueryPrepared(c, name, a ? a->n : 0, a ? a->val : NULL, a ? a->len : NULL,
                                     a ? a->fmt : NULL, 1);
        }
        if (!ok) break;
    }
    if (sent < n) *err = classify(s, NULL);
    if (sent == 0) {
        PQexitPipelineMode(c);
        return NULL;
    }
    /* what was sent must still be answered: the sync makes the server do so
     * (or the connection is gone, and the reads below say so) */
    s->round_trips++;
    if (!PQpipelineSync(c) && *err == DC_OK) *err = classify(s, NULL);
    PGresult *last = NULL;
    int idx = 0;
    long long deadline = s->timeout_ms ? mono_ms() + s->timeout_ms : 0;
    /* each item yields its result(s) then NULL; the sync yields one
     * PGRES_PIPELINE_SYNC; a dead connection yields NULLs */
    for (int guard = 0; guard < 4 * n + 8; guard++) {
        if (!await_result(s, deadline)) {
            PQclear(last);
            *err = timed_out(s); /* c is gone */
            return NULL;
        }
        PGresult *r = PQgetResult(c);
        if (!r) {
            if (PQstatus(c) != CONNECTION_OK) {
                if (*err == DC_OK) *err = classify(s, NULL);
                break;
            }
            idx++;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (st == PGRES_TUPLES_OK && idx < n && !it[idx].text &&
            (it[idx].id == S_FLUSH_BALANCES || it[idx].id == S_FLUSH_TX)) {
            /* the flushed balances and row versions, for the account cache
             * (S_FLUSH_TX: one row with NULLs when no balance moved) */
            for (int i = 0; i < PQntuples(r); i++) {
                if (PQgetisnull(r, i, 0)) continue;
                struct row_ver v = {.id = c_i64(r, i, 0),
                                    .available = c_i64(r, i, 1),
                                    .held = c_i64(r, i, 2),
                                    .xmin = c_i64(r, i, 3)};
                touched(s, v.id, 0);
                learn(s, &v);
            }
        }
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            if (*err == DC_OK) *done = idx + 1;
            if (idx == n - 1 && *err == DC_OK) {
                PQclear(last);
                last = r;
                continue;
            }
        } else if (st != PGRES_PIPELINE_ABORTED && *err == DC_OK) {
            *err = classify(s, r);
            const char *table = PQresultErrorField(r, PG_DIAG_TABLE_NAME);
            if (*err == DC_ERR_STORE_CONSTRAINT && idx < n && !it[idx].text &&
                (it[idx].id == S_FLUSH_REQUESTS ||
                 (it[idx].id == S_FLUSH_TX && table && strcmp(table, "requests") == 0))) {
                /* a request id answered NOT_FOUND without looking (will_put)
                 * did exist: the transaction runs again and looks */
                s->verify_reqs = VERIFY_TXS;
                s->doomed = s->in_tx;
                *err = DC_ERR_STORE_RETRY;
            }
            if (*err == DC_ERR_STORE_CONSTRAINT && idx < n && !it[idx].text &&
                (it[idx].id == S_FLUSH_HOLDS || it[idx].id == S_FLUSH_DCOINS ||
                 it[idx].id == S_FLUSH_CLAIMS || it[idx].id == S_FLUSH_CDEPS)) {
                /* a deferred deposit row the snapshot said would fit did
                 * not (another instance got there first): the transaction
                 * runs again, writing each row at once */
                s->verify_deps = VERIFY_TXS;
                s->doomed = s->in_tx;
                *err = DC_ERR_STORE_RETRY;
            }
        }
        PQclear(r);
    }
    PQexitPipelineMode(c);
    if (*err != DC_OK) {
        PQclear(last);
        return NULL;
    }
    if (!last) *err = classify(s, NULL);
    return last;
}

/* ---- Deferred writes ------------------------------------------------------
 *
 * Most of a write transaction's rows need no answer from the server before
 * it commits: the journal row and balance moves of a posting (its id comes
 * from a block of sequence values reserved ahead) and a stored answer. On
 * PostgreSQL each statement costs a round trip and per-statement work that
 * dwarfs a row's, so inside a write transaction post and request_put keep
 * such rows in memory and a flush sends them all at once: three set-based
 * statements (journal rows, one net balance move per account, answers)
 * pipelined with the COMMIT, or with the first statement that needs them
 * on the server. Reads in the same transaction see them: account_get adds
 * the pending moves, request_get finds the pending answers.
 *
 * A write is deferred only when the store can give the answer the database
 * would give, so that an op fails exactly when it would have failed:
 *   post        both accounts were read (or inserted) in this transaction,
 *               so their kind and balances in its snapshot are known; a
 *               user account that would go negative fails with
 *               DC_ERR_STORE_CONSTRAINT, a balance that would overflow with
 *               DC_ERR_AMOUNT_OVERFLOW, before anything is written. Under
 *               SERIALIZABLE the snapshot's balance is the one the flush
 *               updates: a concurrent change makes the flush fail with a
 *               serialization failure (DC_ERR_STORE_RETRY).
 *   request_put the same request id was looked up in this transaction and
 *               not found, and is not pending: the primary key cannot fail
 *               (a concurrent insert of the same id is again a
 *               serialization failure).
 * Otherwise the op runs at once, after flushing what it might depend on.
 *
 * Savepoints. A job's pending rows are dropped by rollback_to without a
 * round trip. A job whose SAVEPOINT is sent (it writes something at once)
 * first flushes the rows of the jobs before it, so that a ROLLBACK TO can
 * never undo a companion's rows; its own pending rows follow the SAVEPOINT.
 */

static struct acct_seen *seen_find(struct pg_store *s, int64_t id)
{
    for (size_t i = 0; i < s->n_seen; i++) {
        if (s->seen[i].id == id) return &s->seen[i];
    }
    return NULL;
}

/* Grows an array of elements of size sz to hold one more; 0 on OOM. */
static int grow(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap) return 1;
    size_t c = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, c * sz);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

/* ---- The account cache ----------------------------------------------------
 *
 * A transfer reads its payer and its recipient before it posts; on
 * PostgreSQL each read is a round trip plus the server's work, and in a
 * batch of 100 transfers those 200 reads cost more than everything else.
 * The write connection therefore keeps the accounts it last saw committed,
 * each with its row version (xmin, which changes with every update of the
 * row, by any connection). account_get by id inside a write transaction
 * answers from that copy, and the transaction proves it right before it
 * commits: S_CACHE_CHECK, sent first in the COMMIT's pipeline (or in front
 * of the first statement that writes a row at once), fails unless every
 * cached row the transaction used still has the version and balances it
 * was cached with. A stale copy thus aborts the transaction before COMMIT,
 * as a serialization failure would (DC_ERR_STORE_RETRY, cache dropped),
 * and the re-run reads the database. Under SERIALIZABLE the check is a
 * read of those rows in the transaction, so a committed transaction read
 * exactly what it would have read without the cache.
 *
 * The cache learns only committed rows: rows read in the transaction and
 * the balances the flush returns (with their new xmin) enter it once the
 * COMMIT succeeded; rows the transaction wrote at once are dropped from it;
 * any failed or uncertain commit and every reconnection drop all of it.
 */
static void cache_drop(struct pg_store *s)
{
    if (s->cache) memset(s->cache, 0, CACHE_SLOTS * sizeof *s->cache);
}

static struct cache_ent *cache_slot(struct pg_store *s, int64_t id)
{
    return &s->cache[(uint64_t)id % CACHE_SLOTS];
}

static int id_in(const int64_t *v, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == id) return 1;
    }
    return 0;
}

static void id_add(struct pg_store *s, int64_t **v, size_t *n, size_t *cap, int64_t id)
{
    if (id_in(*v, *n, id)) return;
    if (!grow((void **)v, cap, *n, sizeof **v)) {
        s->tx_forget = 1; /* and the cache is not used again in this transaction */
        return;
    }
    (*v)[(*n)++] = id;
}

/* The transaction wrote row id: later reads go to the database; drop:
 * the cache forgets it at commit (its new version is not known). */
static void touched(struct pg_store *s, int64_t id, int drop)
{
    if (!s->in_tx || !s->write_tx) return;
    id_add(s, &s->nocache, &s->n_nocache, &s->cap_nocache, id);
    if (drop) id_add(s, &s->dropped, &s->n_dropped, &s->cap_dropped, id);
}

/* A version of a row the transaction saw (a read, or a flush's result). */
static void learn(struct pg_store *s, const struct row_ver *v)
{
    if (!s->in_tx || !s->write_tx) return;
    if (!grow((void **)&s->learnt, &s->cap_learnt, s->n_learnt, sizeof *s->learnt)) {
        s->tx_forget = 1;
        return;
    }
    s->learnt[s->n_learnt++] = *v;
}

/* The cached copy of account id this write transaction may use, or NULL. */
static const struct cache_ent *cache_find(struct pg_store *s, int64_t id)
{
    if (!s->cache || !s->in_tx || !s->write_tx || s->doomed || s->tx_forget) return NULL;
    const struct cache_ent *c = cache_slot(s, id);
    if (!c->valid || c->a.id != id || id_in(s->nocache, s->n_nocache, id)) return NULL;
    return c;
}

/* Records that the transaction relies on c (checked before it commits). */
static int cache_use(struct pg_store *s, const struct cache_ent *c)
{
    for (size_t i = 0; i < s->n_used; i++) {
        if (s->used[i].id == c->a.id) return 1;
    }
    if (!grow((void **)&s->used, &s->cap_used, s->n_used, sizeof *s->used)) return 0;
    s->used[s->n_used++] = (struct row_ver){
        .id = c->a.id, .xmin = c->xmin, .available = c->a.available, .held = c->a.held};
    return 1;
}

/* After a successful COMMIT: what the transaction learnt enters the cache. */
static void cache_commit(struct pg_store *s)
{
    if (s->tx_forget) {
        cache_drop(s);
        return;
    }
    if (!s->cache && s->n_learnt) s->cache = calloc(CACHE_SLOTS, sizeof *s->cache);
    if (!s->cache) return;
    for (size_t i = 0; i < s->n_learnt; i++) {
        const struct row_ver *v = &s->learnt[i];
        struct cache_ent *c = cache_slot(s, v->id);
        if (v->is_read) {
            c->valid = 1;
            c->a = v->a;
        } else if (!c->valid || c->a.id != v->id) {
            continue; /* a balance without the rest of the row */
        }
        c->xmin = v->xmin;
        c->a.available = v->available;
        c->a.held = v->held;
    }
    for (size_t i = 0; i < s->n_dropped; i++) {
        struct cache_ent *c = cache_slot(s, s->dropped[i]);
        if (c->a.id == s->dropped[i]) c->valid = 0;
    }
}

/* Records an account row read (or written) in this write transaction. */
static void seen_put(struct pg_store *s, int64_t id, int64_t kind, int64_t available, int64_t held)
{
    if (!s->in_tx || !s->write_tx) return;
    struct acct_seen *a = seen_find(s, id);
    if (!a) {
        if (!grow((void **)&s->seen, &s->cap_seen, s->n_seen, sizeof *s->seen)) return;
        a = &s->seen[s->n_seen++];
    }
    *a = (struct acct_seen){id, kind, available, held};
}

/* Net pending moves of one account, on top of what the database has. */
static void pending_moves(const struct pg_store *s, int64_t id, int64_t *avail, int64_t *held,
                          int *overflow)
{
    for (size_t i = 0; i < s->n_posts; i++) {
        const struct pend_post *p = &s->posts[i];
        if (p->debit == id) {
            int64_t *b = p->debit_bucket ? held : avail;
            if (dc_i64_sub(b, *b, p->amount) != DC_OK) *overflow = 1;
        }
        if (p->credit == id) {
            int64_t *b = p->credit_bucket ? held : avail;
            if (dc_i64_add(b, *b, p->amount) != DC_OK) *overflow = 1;
        }
    }
}

/* The database now holds posts [0, n): the seen balances move with them. */
static void seen_apply(struct pg_store *s, const struct pend_post *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct acct_seen *d = seen_find(s, p[i].debit), *c = seen_find(s, p[i].credit);
        if (d) *(p[i].debit_bucket ? &d->held : &d->available) -= p[i].amount;
        if (c) *(p[i].credit_bucket ? &c->held : &c->available) += p[i].amount;
    }
}

/* A binary PostgreSQL array parameter under construction. */
struct abuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
};

static void ab_put(struct abuf *b, const void *d, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n) c *= 2;
        unsigned char *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void ab_u32(struct abuf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    ab_put(b, x, 4);
}

/* Array header: one dimension of n elements, no NULLs, lower bound 1. */
static void ab_start(struct abuf *b, uint32_t elem_oid, size_t n)
{
    ab_u32(b, 1);
    ab_u32(b, 0);
    ab_u32(b, elem_oid);
    ab_u32(b, (uint32_t)n);
    ab_u32(b, 1);
}

static void ab_i64(struct abuf *b, int64_t v)
{
    ab_u32(b, 8);
    ab_u32(b, (uint32_t)((uint64_t)v >> 32));
    ab_u32(b, (uint32_t)(uint64_t)v);
}

static void ab_bytes(struct abuf *b, const void *p, size_t n)
{
    ab_u32(b, (uint32_t)n);
    ab_put(b, p, n);
}

/* The arrays and arguments of the (at most seven) statements that write
 * one range of pending rows. */
struct flush_part {
    struct abuf j[10], b[3], r[6], h[13], d[8], c[4], k[2];
    struct args aj, ab, ar, ah, ad, ac, ak;
};

static void part_free(struct flush_part *f)
{
    for (int i = 0; i < 10; i++) free(f->j[i].p);
    for (int i = 0; i < 3; i++) free(f->b[i].p);
    for (int i = 0; i < 6; i++) free(f->r[i].p);
    for (int i = 0; i < 13; i++) free(f->h[i].p);
    for (int i = 0; i < 8; i++) free(f->d[i].p);
    for (int i = 0; i < 4; i++) free(f->c[i].p);
    for (int i = 0; i < 2; i++) free(f->k[i].p);
}

static enum dc_err args_arrays(struct args *a, struct abuf *arr, int n);

/* Appends the statements that write the pending deposit rows in
 * [from, to): holds, deposited chains, claims, then the coins' deposited
 * sums netted per serial. */
static enum dc_err flush_deposit_rows(struct pg_store *s, struct flush_part *f,
                                      const struct pend_n *from, const struct pend_n *to,
                                      struct item *add, int *k)
{
    enum dc_err e = DC_OK;
    if (to->holds > from->holds) {
        size_t nh = to->holds - from->holds;
        for (int j = 0; j < 13; j++) ab_start(&f->h[j], j < 12 ? OID_INT8 : OID_TEXT, nh);
        for (size_t i = from->holds; i < to->holds; i++) {
            const struct dc_hold *h = &s->holds[i];
            int64_t v[12] = {h->id,          h->account, h->amount,  (int64_t)h->release_at,
                             h->status,      h->case_id, h->deposit, (int64_t)h->created_at,
                             h->provisional, h->taken,   h->repaid,  h->release_provisional};
            for (int j = 0; j < 12; j++) ab_i64(&f->h[j], v[j]);
            ab_bytes(&f->h[12], h->released_by, strlen(h->released_by));
        }
        e = args_arrays(&f->ah, f->h, 13);
        add[(*k)++] = (struct item){NULL, S_FLUSH_HOLDS, &f->ah};
    }
    if (e == DC_OK && to->dcoins > from->dcoins) {
        size_t nd = to->dcoins - from->dcoins;
        for (int j = 0; j < 8; j++) {
            ab_start(&f->d[j], j == 3 || j == 4 ? OID_BYTEA : OID_INT8, nd);
        }
        for (size_t i = from->dcoins; i < to->dcoins; i++) {
            const struct dc_dcoin *c = &s->dcoins[i].c;
            ab_i64(&f->d[0], c->id);
            ab_i64(&f->d[1], c->deposit);
            ab_i64(&f->d[2], c->account);
            ab_bytes(&f->d[3], c->serial, DC_SERIAL_BYTES);
            ab_bytes(&f->d[4], c->chain, c->chain_len);
            ab_i64(&f->d[5], c->amount);
            ab_i64(&f->d[6], c->hold);
            ab_i64(&f->d[7], c->flagged);
        }
        e = args_arrays(&f->ad, f->d, 8);
        add[(*k)++] = (struct item){NULL, S_FLUSH_DCOINS, &f->ad};
    }
    if (e == DC_OK && to->claims > from->claims) {
        size_t nc = to->claims - from->claims;
        for (int j = 0; j < 4; j++) ab_start(&f->c[j], j < 3 ? OID_BYTEA : OID_INT8, nc);
        for (size_t i = from->claims; i < to->claims; i++) {
            const struct pend_claim *c = &s->claims[i];
            ab_bytes(&f->c[0], c->serial, DC_SERIAL_BYTES);
            ab_bytes(&f->c[1], c->state, DC_HASH_BYTES);
            ab_bytes(&f->c[2], c->succ, DC_HASH_BYTES);
            ab_i64(&f->c[3], c->dcoin);
        }
        e = args_arrays(&f->ac, f->c, 4);
        add[(*k)++] = (struct item){NULL, S_FLUSH_CLAIMS, &f->ac};
    }
    if (e == DC_OK && to->cdeps > from->cdeps) {
        /* one row per serial: UPDATE ... FROM applies one source row per target */
        size_t nk = to->cdeps - from->cdeps, m = 0;
        struct pend_cdep *net = calloc(nk, sizeof *net);
        if (!net) return DC_ERR_NO_MEMORY;
        for (size_t i = from->cdeps; i < to->cdeps && e == DC_OK; i++) {
            const struct pend_cdep *c = &s->cdeps[i];
            size_t j = 0;
            while (j < m && memcmp(net[j].serial, c->serial, DC_SERIAL_BYTES) != 0) j++;
            if (j == m) net[m++] = (struct pend_cdep){.amount = 0};
            memcpy(net[j].serial, c->serial, DC_SERIAL_BYTES);
            if (dc_i64_add(&net[j].amount, net[j].amount, c->amount) != DC_OK) {
                e = DC_ERR_AMOUNT_OVERFLOW; /* refused when deferred: unreachable */
            }
        }
        for (int j = 0; j < 2; j++) ab_start(&f->k[j], j ? OID_INT8 : OID_BYTEA, m);
        for (size_t j = 0; j < m; j++) {
            ab_bytes(&f->k[0], net[j].serial, DC_SERIAL_BYTES);
            ab_i64(&f->k[1], net[j].amount);
        }
        free(net);
        if (e == DC_OK) e = args_arrays(&f->ak, f->k, 2);
        add[(*k)++] = (struct item){NULL, S_FLUSH_CDEPS, &f->ak};
    }
    return e;
}

/* Points args at finished arrays; DC_ERR_NO_MEMORY if one could not grow. */
static enum dc_err args_arrays(struct args *a, struct abuf *arr, int n)
{
    *a = (struct args){0};
    for (int i = 0; i < n; i++) {
        if (arr[i].oom) return DC_ERR_NO_MEMORY;
        a->val[a->n] = (const char *)arr[i].p;
        a->len[a->n] = (int)arr[i].len;
        a->fmt[a->n] = 1;
        a->n++;
    }
    return DC_OK;
}

/* Adds one account's move to the net moves m[0..*nm), found by id. */
static int net_add(struct acct_seen *m, size_t *nm, int64_t id, int bucket, int64_t amount)
{
    size_t j = 0;
    while (j < *nm && m[j].id != id) j++;
    if (j == *nm) m[(*nm)++] = (struct acct_seen){id, 0, 0, 0};
    int64_t *v = bucket ? &m[j].held : &m[j].available;
    return dc_i64_add(v, *v, amount) != DC_OK;
}

/*
 * Appends to it[] (at *n) the statements that write the pending rows in
 * [from, to): deposit rows, posts, answers, building their arrays in f.
 * Balance moves are netted per account (checked for overflow) and sent in
 * ascending account order. On error nothing is appended.
 */
static enum dc_err flush_part(struct pg_store *s, struct flush_part *f, const struct pend_n *from,
                              const struct pend_n *to, struct item *it, int *n)
{
    memset(f, 0, sizeof *f);
    int k = 0;
    struct item add[7];
    size_t p0 = from->posts, p1 = to->posts, r0 = from->reqs, r1 = to->reqs;
    enum dc_err e = flush_deposit_rows(s, f, from, to, add, &k);
    if (e != DC_OK) return e;
    if (p1 > p0) {
        size_t np = p1 - p0;
        for (int j = 0; j < 10; j++) ab_start(&f->j[j], j < 7 ? OID_INT8 : OID_TEXT, np);
        struct acct_seen *m = calloc(2 * np, sizeof *m);
        if (!m) return DC_ERR_NO_MEMORY;
        size_t nm = 0;
        int overflow = 0;
        for (size_t i = p0; i < p1; i++) {
            const struct pend_post *p = &s->posts[i];
            ab_i64(&f->j[0], p->id);
            ab_i64(&f->j[1], p->time);
            ab_i64(&f->j[2], p->debit);
            ab_i64(&f->j[3], p->debit_bucket);
            ab_i64(&f->j[4], p->credit);
            ab_i64(&f->j[5], p->credit_bucket);
            ab_i64(&f->j[6], p->amount);
            ab_bytes(&f->j[7], p->kind, strlen(p->kind));
            ab_bytes(&f->j[8], p->ref, strlen(p->ref));
            ab_bytes(&f->j[9], p->memo, strlen(p->memo));
            overflow |= net_add(m, &nm, p->debit, (int)p->debit_bucket, -p->amount);
            overflow |= net_add(m, &nm, p->credit, (int)p->credit_bucket, p->amount);
        }
        for (size_t i = 1; i < nm; i++) { /* insertion sort: a batch is small */
            struct acct_seen x = m[i];
            size_t j = i;
            for (; j > 0 && m[j - 1].id > x.id; j--) m[j] = m[j - 1];
            m[j] = x;
        }
        for (int j = 0; j < 3; j++) ab_start(&f->b[j], OID_INT8, nm);
        for (size_t i = 0; i < nm; i++) {
            ab_i64(&f->b[0], m[i].id);
            ab_i64(&f->b[1], m[i].available);
            ab_i64(&f->b[2], m[i].held);
        }
        free(m);
        if (overflow) {
            /* only reachable with balances near 2^63: a commit that fails
             * here fails alone after the writer splits its batch */
            snprintf(s->errmsg, sizeof s->errmsg, "postgresql: net balance move overflows");
            e = DC_ERR_AMOUNT_OVERFLOW;
        }
        if (e == DC_OK) e = args_arrays(&f->aj, f->j, 10);
        if (e == DC_OK) e = args_arrays(&f->ab, f->b, 3);
        add[k++] = (struct item){NULL, S_FLUSH_JOURNAL, &f->aj};
        add[k++] = (struct item){NULL, S_FLUSH_BALANCES, &f->ab};
    }
    if (e == DC_OK && r1 > r0) {
        size_t nr = r1 - r0;
        static const uint32_t oid[6] = {OID_INT8, OID_TEXT, OID_BYTEA,
                                        OID_INT8, OID_TEXT, OID_INT8};
        for (int j = 0; j < 6; j++) ab_start(&f->r[j], oid[j], nr);
        for (size_t i = r0; i < r1; i++) {
            const struct pend_req *q = &s->reqs[i];
            ab_i64(&f->r[0], q->account);
            ab_bytes(&f->r[1], q->request_id, strlen(q->request_id));
            ab_bytes(&f->r[2], q->body_hash, DC_HASH_BYTES);
            ab_i64(&f->r[3], q->status);
            ab_bytes(&f->r[4], q->response, strlen(q->response));
            ab_i64(&f->r[5], q->created_at);
        }
        e = args_arrays(&f->ar, f->r, 6);
        add[k++] = (struct item){NULL, S_FLUSH_REQUESTS, &f->ar};
    }
    if (e != DC_OK) return e;
    for (int i = 0; i < k; i++) {
        e = prepare(s, add[i].id);
        if (e != DC_OK) return e;
    }
    for (int i = 0; i < k; i++) it[(*n)++] = add[i];
    return DC_OK;
}

static struct pf_ent *pf_find(struct pg_store *s, int kind, const uint8_t *serial,
                              const uint8_t *state);

/* Removes the first k of n elements of size sz, moving the mark with them. */
static void drop_front(void *arr, size_t *n, size_t *mark, size_t k, size_t sz)
{
    if (k == 0) return; /* arr may be NULL: nothing of that kind was ever pending */
    memmove(arr, (char *)arr + k * sz, (*n - k) * sz);
    *n -= k;
    *mark = *mark > k ? *mark - k : 0;
}

/* Drops the pending rows [0, k), once they were written; what the
 * prefetch knows follows the database. */
static void pending_drop_front(struct pg_store *s, const struct pend_n *k)
{
    for (size_t i = 0; i < k->claims; i++) {
        struct pf_ent *f = pf_find(s, 0, s->claims[i].serial, s->claims[i].state);
        if (f) {
            f->found = 1;
            memcpy(f->succ, s->claims[i].succ, DC_HASH_BYTES);
        }
    }
    for (size_t i = 0; i < k->cdeps; i++) {
        struct pf_ent *f = pf_find(s, 1, s->cdeps[i].serial, NULL);
        if (f) f->deposited += s->cdeps[i].amount; /* checked when deferred */
    }
    for (size_t i = 0; i < k->dcoins; i++) free(s->dcoins[i].own);
    drop_front(s->holds, &s->n_holds, &s->mark_holds, k->holds, sizeof *s->holds);
    drop_front(s->dcoins, &s->n_dcoins, &s->mark_dcoins, k->dcoins, sizeof *s->dcoins);
    drop_front(s->claims, &s->n_claims, &s->mark_claims, k->claims, sizeof *s->claims);
    drop_front(s->cdeps, &s->n_cdeps, &s->mark_cdeps, k->cdeps, sizeof *s->cdeps);
    seen_apply(s, s->posts, k->posts);
    drop_front(s->posts, &s->n_posts, &s->mark_posts, k->posts, sizeof *s->posts);
    for (size_t i = 0; i < k->reqs; i++) free(s->reqs[i].response);
    drop_front(s->reqs, &s->n_reqs, &s->mark_reqs, k->reqs, sizeof *s->reqs);
}

/* What prefix() put in front of a statement. */
struct pfx {
    struct abuf chk[4]; /* S_CACHE_CHECK's arrays */
    struct args achk;
    int chk_end; /* index after the check (0: none) */
    struct flush_part part[2];
    int end[2];          /* index after each flush part's last item (0: none) */
    struct pend_n up[2]; /* pending rows written once part i ran: [0, up[i]) */
};

/* The pending rows now, and at the open job's savepoint. */
static struct pend_n pend_count(const struct pg_store *s)
{
    return (struct pend_n){s->n_posts, s->n_reqs, s->n_holds, s->n_dcoins, s->n_claims, s->n_cdeps};
}

static struct pend_n pend_mark(const struct pg_store *s)
{
    return (struct pend_n){s->mark_posts,  s->mark_reqs,   s->mark_holds,
                           s->mark_dcoins, s->mark_claims, s->mark_cdeps};
}

/* Whether b has rows beyond a. */
static int pend_more(const struct pend_n *b, const struct pend_n *a)
{
    return b->posts > a->posts || b->reqs > a->reqs || b->holds > a->holds ||
           b->dcoins > a->dcoins || b->claims > a->claims || b->cdeps > a->cdeps;
}

/* Deposit rows are pending: a statement that may read or write their
 * tables (holds, deposit_coins, consumed, coins) sends them first, so that
 * nothing reads around them; these do not. */
static int dep_pending(const struct pg_store *s)
{
    return s->n_holds || s->n_dcoins || s->n_claims || s->n_cdeps;
}

static int dep_reads(enum stmt_id id)
{
    switch (id) {
    case S_META_GET:
    case S_ACCT_BY_ID:
    case S_ACCT_BY_IDS: /* accounts only, as S_ACCT_BY_ID */
    case S_ACCT_BY_DEVICE:
    case S_ACCT_BY_ALIAS:
    case S_REQ_GET:
    case S_CASE_BY_ID:
    case S_CASE_BY_STATE:
    case S_JOURNAL_IDS:
    case S_IDS:
    case S_DEP_PREFETCH:
        return 0;
    default:
        return 1;
    }
}

static void pfx_free(struct pfx *x)
{
    for (int i = 0; i < 4; i++) free(x->chk[i].p);
    part_free(&x->part[0]);
    part_free(&x->part[1]);
}

/*
 * What must travel in front of the next statement: the lazy BEGIN, the
 * previous job's RELEASE, and, when the statement writes inside a job
 * whose SAVEPOINT was not sent yet, the companions' pending rows (flushed
 * before the SAVEPOINT, see above) and the SAVEPOINT. With flush_all, also
 * every pending row (after the SAVEPOINT when there is one). Caller frees
 * the parts (part_free) in every case.
 */
static enum dc_err prefix(struct pg_store *s, struct item *it, int *n, int writes, int flush_all,
                          struct pfx *x)
{
    enum dc_err e = DC_OK;
    memset(x, 0, sizeof *x);
    if (s->in_tx && !s->begun) {
        it[(*n)++] = (struct item){s->write_tx ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                                               : "BEGIN ISOLATION LEVEL REPEATABLE READ, "
                                                 "READ ONLY",
                                   S_COUNT, NULL};
    }
    if (s->release_queued) it[(*n)++] = (struct item){"RELEASE SAVEPOINT job", S_COUNT, NULL};
    if ((writes || flush_all) && s->n_used) {
        /* the cached rows relied on, proven current before anything is
         * written (a write could change their version) */
        for (int j = 0; j < 4; j++) ab_start(&x->chk[j], OID_INT8, s->n_used);
        for (size_t i = 0; i < s->n_used; i++) {
            ab_i64(&x->chk[0], s->used[i].id);
            ab_i64(&x->chk[1], s->used[i].xmin);
            ab_i64(&x->chk[2], s->used[i].available);
            ab_i64(&x->chk[3], s->used[i].held);
        }
        e = args_arrays(&x->achk, x->chk, 4);
        if (e == DC_OK) a_i64(&x->achk, (int64_t)s->n_used);
        if (e == DC_OK) e = prepare(s, S_CACHE_CHECK);
        if (e != DC_OK) return e;
        it[(*n)++] = (struct item){NULL, S_CACHE_CHECK, &x->achk};
        x->chk_end = *n;
    }
    struct pend_n zero = {0}, all = pend_count(s), from = zero;
    if ((writes || (flush_all && pend_more(&all, &zero))) && s->in_job && !s->sp_sent) {
        struct pend_n mark = pend_mark(s);
        e = flush_part(s, &x->part[0], &zero, &mark, it, n);
        if (e != DC_OK) return e;
        x->end[0] = *n;
        x->up[0] = mark;
        from = mark;
        it[(*n)++] = (struct item){"SAVEPOINT job", S_COUNT, NULL};
    }
    if (flush_all && pend_more(&all, &from)) {
        e = flush_part(s, &x->part[1], &from, &all, it, n);
        if (e != DC_OK) return e;
        x->end[1] = *n;
        x->up[1] = all;
    }
    return DC_OK;
}

/* After a pipeline whose first done items succeeded: records what reached
 * the server (and so is no longer pending). */
static void prefix_done(struct pg_store *s, const struct item *it, int done, const struct pfx *x)
{
    if (x->chk_end && done >= x->chk_end) s->n_used = 0; /* checked: read in the transaction */
    for (int i = 0; i < done; i++) {
        if (!it[i].text) continue;
        if (strncmp(it[i].text, "BEGIN", 5) == 0) s->begun = 1;
        if (strcmp(it[i].text, "RELEASE SAVEPOINT job") == 0) s->release_queued = 0;
        if (strcmp(it[i].text, "SAVEPOINT job") == 0) s->sp_sent = 1;
    }
    struct pend_n up = {0}, zero = {0};
    for (int p = 0; p < 2; p++) {
        if (x->end[p] && done >= x->end[p]) up = x->up[p];
    }
    if (pend_more(&up, &zero)) pending_drop_front(s, &up);
}

/*
 * Runs statement id with a's parameters, behind whatever prefix() says
 * must go first, in one round trip; returns the result (caller PQclears)
 * or NULL with *err set. A read whose connection turned out broken before
 * anything of its transaction reached the server (outside a transaction,
 * or the first statement of one) is retried once on a new connection:
 * a pooled connection whose server process was terminated is replaced
 * without the caller noticing.
 */
static PGresult *q_flush(struct pg_store *s, enum stmt_id id, const struct args *a, int flush_all,
                         enum dc_err *err)
{
    int writes = is_write(id);
    if (dep_pending(s) && dep_reads(id)) flush_all = 1;
    for (int attempt = 0;; attempt++) {
        *err = ensure_conn(s);
        if (*err != DC_OK) return NULL;
        int fresh = !s->in_tx || !s->begun;
        *err = prepare(s, id);
        PGresult *r = NULL;
        if (*err == DC_OK) {
            struct item it[MAX_ITEMS];
            struct pfx x;
            int n = 0, done = 0;
            *err = prefix(s, it, &n, writes, flush_all, &x);
            if (*err == DC_OK) {
                it[n++] = (struct item){NULL, id, a};
                if (n == 1 && !s->timeout_ms) {
                    s->round_trips++;
                    char name[16];
                    stmt_name(name, sizeof name, id);
                    r = PQexecPrepared(s->conn, name, a ? a->n : 0, a ? a->val : NULL,
                                       a ? a->len : NULL, a ? a->fmt : NULL, 1);
                    ExecStatusType st = PQresultStatus(r);
                    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
                        *err = classify(s, r);
                        PQclear(r);
                        r = NULL;
                    }
                } else {
                    r = pipeline(s, it, n, &done, err);
                    prefix_done(s, it, done, &x);
                }
            }
            pfx_free(&x);
        }
        if (r) return r;
        if (*err == DC_ERR_STORE_RETRY && fresh && !writes && attempt == 0 &&
            PQstatus(s->conn) != CONNECTION_OK) {
            s->begun = 0; /* nothing reached the server: start again */
            s->doomed = 0;
            continue;
        }
        return NULL;
    }
}

static PGresult *q(struct pg_store *s, enum stmt_id id, const struct args *a, enum dc_err *err)
{
    return q_flush(s, id, a, 0, err);
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
    s->round_trips++;
    if (!s->timeout_ms) {
        PGresult *r = PQexec(s->conn, text);
        enum dc_err e = PQresultStatus(r) == PGRES_COMMAND_OK ? DC_OK : classify(s, r);
        PQclear(r);
        return e;
    }
    if (!PQsendQuery(s->conn, text)) return classify(s, NULL);
    long long deadline = mono_ms() + s->timeout_ms;
    enum dc_err e = DC_OK;
    for (PGresult *r;;) {
        if (!await_result(s, deadline)) return timed_out(s);
        if (!(r = PQgetResult(s->conn))) break;
        if (PQresultStatus(r) != PGRES_COMMAND_OK && e == DC_OK) e = classify(s, r);
        PQclear(r);
    }
    return e;
}

static uint64_t p_round_trips(struct dc_store *base)
{
    return P(base)->round_trips;
}

static void p_set_timeout(struct dc_store *base, unsigned ms)
{
    P(base)->timeout_ms = ms;
}

/* ---- Connection and schema -------------------------------------------- */

static enum dc_err p_close(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (!s) return DC_OK;
    tx_reset(s);
    PQfinish(s->conn);
    free(s->posts);
    free(s->reqs);
    free(s->seen);
    free(s->miss);
    free(s->cache);
    free(s->used);
    free(s->learnt);
    free(s->nocache);
    free(s->dropped);
    free(s->holds);
    free(s->dcoins);
    free(s->claims);
    free(s->cdeps);
    free(s->pf);
    if (s->url) {
        memset(s->url, 0, strlen(s->url)); /* it may hold a password */
        free(s->url);
    }
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
    s->in_tx = s->begun = 1;
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
                 "DO UPDATE SET value = excluded.value",
                 have + 1);
        if (e == DC_OK) e = cmd(s, bump);
    }
    if (e == DC_OK) e = cmd(s, "COMMIT");
    if (e != DC_OK) {
        char keep[sizeof s->errmsg];
        memcpy(keep, s->errmsg, sizeof keep);
        if (PQstatus(s->conn) == CONNECTION_OK) cmd(s, "ROLLBACK");
        memcpy(s->errmsg, keep, sizeof keep);
    }
    s->in_tx = s->begun = 0;
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

/*
 * Transactions cost no round trip of their own: BEGIN travels in front of
 * the transaction's first statement and COMMIT behind its last deferred
 * rows (so a transfer in a transaction of its own takes its reads and one
 * round trip for writes and commit). SAVEPOINT is sent only when the job
 * writes something at once (a job that only reads and defers needs none:
 * rollback_to drops its pending rows), and RELEASE travels in front of the
 * next statement.
 */
static enum dc_err p_begin(struct dc_store *base, int write)
{
    struct pg_store *s = P(base);
    tx_reset(s); /* a new transaction may reconnect */
    if (s->quiet_until && mono_ms() < s->quiet_until) {
        snprintf(s->errmsg, sizeof s->errmsg,
                 "postgresql: the server did not answer within %u ms: not asked again yet",
                 s->timeout_ms);
        return DC_ERR_STORE_RETRY;
    }
    s->quiet_until = 0;
    enum dc_err e = ensure_conn(s);
    if (e != DC_OK) return e;
    if (PQtransactionStatus(s->conn) != PQTRANS_IDLE) cmd(s, "ROLLBACK");
    /* see the file header for the isolation levels */
    s->in_tx = 1;
    s->write_tx = write != 0;
    s->tx_forget = 0;
    if (s->write_tx && s->verify_reqs > 0) s->verify_reqs--;
    if (s->write_tx && s->verify_deps > 0) s->verify_deps--;
    return DC_OK;
}

static enum dc_err p_rollback(struct dc_store *base)
{
    struct pg_store *s = P(base);
    enum dc_err e = DC_OK;
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
        e = cmd(s, "ROLLBACK");
    }
    tx_reset(s);
    /* a lost connection has nothing left to roll back: the server aborted */
    return e == DC_ERR_STORE_RETRY ? DC_OK : e;
}

/* ---- One statement at commit ---------------------------------------------
 *
 * A commit that carries only transfer-shaped rows (no deposit rows) would
 * send the account cache's check, the journal rows, the balance moves and
 * the answers as up to four statements in its pipeline. fuse() folds them
 * into S_FLUSH_TX, one statement with the same rows and the same check:
 * three executor start-ups and protocol exchanges fewer, which was most of
 * the server time a single transfer's commit spent beyond the raw commit's
 * (docs/DEPLOY.md). A part with no rows travels as empty arrays.
 */
struct fused {
    unsigned char empty[3][20]; /* empty int8, text and bytea arrays */
    struct args a;
};

static const enum stmt_id fuse_parts[4] = {S_CACHE_CHECK, S_FLUSH_JOURNAL, S_FLUSH_BALANCES,
                                           S_FLUSH_REQUESTS};

/* Appends one empty array per parameter of statement id to f->a. */
static void fuse_empty(struct fused *f, enum stmt_id id)
{
    for (const char *t = stmts[id].types; *t; t++) {
        if (*t == 'i') {
            a_i64(&f->a, 0); /* the check's row count: none expected */
            continue;
        }
        int k = *t == 'I' ? 0 : *t == 'T' ? 1 : 2;
        f->a.val[f->a.n] = (const char *)f->empty[k];
        f->a.len[f->a.n] = 20;
        f->a.fmt[f->a.n] = 1;
        f->a.n++;
    }
}

/* Replaces the parts of fuse_parts in it[0..*n) by one S_FLUSH_TX item at
 * the first one's place, when nothing else is prepared there (deposit rows
 * keep their own statements) and at least two parts are present. f must
 * outlive the pipeline. */
static enum dc_err fuse(struct pg_store *s, struct item *it, int *n, struct fused *f)
{
    int at[4] = {-1, -1, -1, -1}, found = 0, first = -1;
    for (int i = 0; i < *n; i++) {
        if (it[i].text) continue;
        int k = 0;
        while (k < 4 && fuse_parts[k] != it[i].id) k++;
        if (k == 4) return DC_OK; /* a deposit row statement: left as it is */
        at[k] = i;
        found++;
        if (first < 0) first = i;
    }
    if (found < 2) return DC_OK;
    enum dc_err e = prepare(s, S_FLUSH_TX);
    if (e != DC_OK) return e;
    memset(f, 0, sizeof *f);
    static const uint32_t oid[3] = {OID_INT8, OID_TEXT, OID_BYTEA};
    for (int k = 0; k < 3; k++) {
        struct abuf b = {f->empty[k], 0, sizeof f->empty[k], 0};
        ab_start(&b, oid[k], 0); /* 20 bytes: fits, no realloc */
    }
    for (int k = 0; k < 4; k++) {
        if (at[k] < 0) {
            fuse_empty(f, fuse_parts[k]);
            continue;
        }
        const struct args *a = it[at[k]].a;
        for (int i = 0; i < a->n; i++) {
            f->a.val[f->a.n] = a->val[i];
            f->a.len[f->a.n] = a->len[i];
            f->a.fmt[f->a.n] = a->fmt[i];
            f->a.n++;
        }
    }
    int m = 0;
    for (int i = 0; i < *n; i++) {
        if (i == first) {
            it[m++] = (struct item){NULL, S_FLUSH_TX, &f->a};
        } else if (it[i].text) {
            it[m++] = it[i];
        }
    }
    *n = m;
    return DC_OK;
}

static enum dc_err p_commit(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (s->doomed) {
        p_rollback(base);
        return DC_ERR_STORE_RETRY;
    }
    if (!s->in_tx || (!s->begun && !s->n_posts && !s->n_reqs && !s->n_used && !dep_pending(s))) {
        tx_reset(s); /* nothing reached the server, nothing read from the cache */
        return DC_OK;
    }
    enum dc_err e = ensure_conn(s);
    struct item it[MAX_ITEMS];
    struct pfx x;
    int n = 0, done = 0;
    s->release_queued = 0; /* COMMIT releases every savepoint */
    struct fused f;
    memset(&x, 0, sizeof x); /* pfx_free below, even if prefix never ran */
    if (e == DC_OK) e = prefix(s, it, &n, 0, 1, &x);
    if (e == DC_OK) e = fuse(s, it, &n, &f);
    PGresult *r = NULL;
    if (e == DC_OK) {
        it[n++] = (struct item){"COMMIT", S_COUNT, NULL};
        r = pipeline(s, it, n, &done, &e);
    }
    pfx_free(&x);
    if (r && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        /* COMMIT of a failed transaction answers ROLLBACK, not an error */
        snprintf(s->errmsg, sizeof s->errmsg,
                 "postgresql: commit rolled back a failed "
                 "transaction");
        e = DC_ERR_STORE;
    }
    PQclear(r);
    if (e != DC_OK && PQstatus(s->conn) == CONNECTION_OK &&
        PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
        char keep[sizeof s->errmsg];
        memcpy(keep, s->errmsg, sizeof keep);
        cmd(s, "ROLLBACK");
        memcpy(s->errmsg, keep, sizeof keep);
    }
    if (e == DC_OK) {
        cache_commit(s);
    } else {
        cache_drop(s); /* the outcome may be unknown */
    }
    tx_reset(s);
    return e;
}

static enum dc_err p_savepoint(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (s->doomed) return DC_ERR_STORE_RETRY;
    if (!s->in_tx) {
        snprintf(s->errmsg, sizeof s->errmsg, "postgresql: savepoint outside a transaction");
        return DC_ERR_STORE;
    }
    s->in_job = 1;
    s->sp_sent = 0;
    s->mark_posts = s->n_posts;
    s->mark_reqs = s->n_reqs;
    s->mark_miss = s->n_miss;
    s->mark_learnt = s->n_learnt;
    s->mark_holds = s->n_holds;
    s->mark_dcoins = s->n_dcoins;
    s->mark_claims = s->n_claims;
    s->mark_cdeps = s->n_cdeps;
    return DC_OK;
}

static enum dc_err p_release(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (s->doomed) return DC_ERR_STORE_RETRY;
    if (s->sp_sent) s->release_queued = 1;
    s->in_job = s->sp_sent = 0;
    return DC_OK;
}

static enum dc_err p_rollback_to(struct dc_store *base)
{
    struct pg_store *s = P(base);
    if (s->doomed) return DC_ERR_STORE_RETRY;
    /* the job's pending rows go; what it read may have been its own */
    for (size_t i = s->mark_reqs; i < s->n_reqs; i++) free(s->reqs[i].response);
    s->n_posts = s->mark_posts;
    s->n_reqs = s->mark_reqs;
    s->n_seen = 0;
    for (size_t i = s->mark_dcoins; i < s->n_dcoins; i++) free(s->dcoins[i].own);
    s->n_holds = s->mark_holds;
    s->n_dcoins = s->mark_dcoins;
    s->n_claims = s->mark_claims;
    s->n_cdeps = s->mark_cdeps;
    int sent = s->sp_sent;
    /* rows the job wrote may be undone now: the prefetch no longer says
     * what the database holds */
    if (sent) s->n_pf = 0;
    s->in_job = s->sp_sent = 0;
    enum dc_err e = DC_OK;
    if (sent) {
        /* what the job learnt of rows may be undone now: forgotten */
        for (size_t i = s->mark_learnt; i < s->n_learnt; i++) {
            id_add(s, &s->dropped, &s->n_dropped, &s->cap_dropped, s->learnt[i].id);
        }
        s->n_learnt = s->mark_learnt;
        /* two commands, one round trip */
        e = cmd(s, "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job");
    } else if (PQstatus(s->conn) == CONNECTION_OK &&
               PQtransactionStatus(s->conn) == PQTRANS_INERROR) {
        /* a statement failed before the job needed a savepoint (a read):
         * nothing can undo that short of the whole transaction */
        snprintf(s->errmsg, sizeof s->errmsg, "postgresql: a failed read broke the transaction");
        s->doomed = 1;
        return s->broke != DC_OK ? s->broke : DC_ERR_STORE;
    }
    /* A job that failed after a request id was answered NOT_FOUND without
     * looking (will_put): its error stands only if the id is really new,
     * else the client would get an error in place of its stored answer. */
    for (size_t i = s->mark_miss; e == DC_OK && i < s->n_miss; i++) {
        if (!s->miss[i].unverified) continue;
        struct args a = {0};
        a_i64(&a, s->miss[i].account);
        a_text(&a, s->miss[i].request_id);
        PGresult *r = q(s, S_REQ_GET, &a, &e);
        if (!r) break;
        s->miss[i].unverified = 0;
        if (PQntuples(r) > 0) {
            snprintf(s->errmsg, sizeof s->errmsg,
                     "postgresql: request id '%s' exists: the transaction runs again",
                     s->miss[i].request_id);
            s->verify_reqs = VERIFY_TXS;
            s->doomed = 1;
            e = DC_ERR_STORE_RETRY;
        }
        PQclear(r);
    }
    s->n_miss = s->mark_miss; /* the job's misses go with it */
    return e;
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
    seen_put(s, a->id, a->kind, a->available, a->held);
    touched(s, a->id, 1);
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
    a->frozen = c_int(r, i, 13);
    a->debtor = c_int(r, i, 15);
}

static enum dc_err account_get(struct dc_store *base, struct dc_account *out, enum dc_acct_by by,
                               int64_t id, const uint8_t *key)
{
    struct pg_store *s = P(base);
    enum dc_err e = DC_OK;
    const struct cache_ent *c = by == DC_BY_ID ? cache_find(s, id) : NULL;
    if (c && cache_use(s, c)) {
        /* no round trip: proven current before the transaction commits */
        *out = c->a;
        seen_put(s, out->id, out->kind, out->available, out->held);
        int overflow = 0;
        pending_moves(s, out->id, &out->available, &out->held, &overflow);
        return overflow ? DC_ERR_AMOUNT_OVERFLOW : DC_OK;
    }
    struct args a = {0};
    if (by == DC_BY_ID) {
        a_i64(&a, id);
    } else {
        a_blob(&a, key, by == DC_BY_DEVICE ? DC_PUBKEY_BYTES : DC_ALIAS_BYTES);
    }
    PGresult *r = q(s,
                    by == DC_BY_ID       ? S_ACCT_BY_ID
                    : by == DC_BY_DEVICE ? S_ACCT_BY_DEVICE
                                         : S_ACCT_BY_ALIAS,
                    &a, &e);
    if (!r) return e;
    if (PQntuples(r) == 1) {
        read_account(r, 0, out);
        struct row_ver v = {.id = out->id,
                            .xmin = c_i64(r, 0, 14),
                            .available = out->available,
                            .held = out->held,
                            .a = *out,
                            .is_read = 1};
        learn(s, &v);
    } else {
        e = DC_ERR_NO_ACCOUNT;
    }
    PQclear(r);
    if (e == DC_OK && s->in_tx && s->write_tx) {
        /* the snapshot's balances, then this transaction's pending moves */
        seen_put(s, out->id, out->kind, out->available, out->held);
        int overflow = 0;
        pending_moves(s, out->id, &out->available, &out->held, &overflow);
        if (overflow) e = DC_ERR_AMOUNT_OVERFLOW; /* refused when deferred */
    }
    return e;
}

/*
 * Reads in one round trip the accounts of ids that account_get could not
 * answer from the account cache, and puts them there: the rows this
 * transaction's snapshot has, with their version, so account_get then
 * answers them as it answers any cached row, and the check before COMMIT
 * proves them current ("The account cache"). Rows this transaction wrote
 * at once are left to account_get (their version is not committed). With
 * fewer than two to read the hint does nothing: account_get's own read is
 * the same one round trip.
 */
static enum dc_err accounts_prefetch(struct dc_store *base, const int64_t *ids, size_t n)
{
    struct pg_store *s = P(base);
    if (!s->in_tx || !s->write_tx || s->doomed || s->tx_forget) return DC_OK;
    if (!s->cache) s->cache = calloc(CACHE_SLOTS, sizeof *s->cache);
    if (!s->cache) return DC_OK; /* a hint: account_get reads them itself */
    int64_t want[16];
    size_t m = 0;
    for (size_t i = 0; i < n && m < sizeof want / sizeof want[0]; i++) {
        if (cache_find(s, ids[i]) || id_in(s->nocache, s->n_nocache, ids[i]) ||
            id_in(want, m, ids[i])) {
            continue;
        }
        want[m++] = ids[i];
    }
    if (m < 2) return DC_OK;
    struct abuf arr = {0};
    ab_start(&arr, OID_INT8, m);
    for (size_t i = 0; i < m; i++) ab_i64(&arr, want[i]);
    struct args a;
    enum dc_err e = args_arrays(&a, &arr, 1);
    PGresult *r = e == DC_OK ? q(s, S_ACCT_BY_IDS, &a, &e) : NULL;
    free(arr.p);
    if (!r) return e;
    for (int i = 0; i < PQntuples(r); i++) {
        struct dc_account acc;
        read_account(r, i, &acc);
        struct cache_ent *c = cache_slot(s, acc.id);
        c->valid = 1;
        c->a = acc;
        c->xmin = c_i64(r, i, 14);
    }
    PQclear(r);
    return DC_OK;
}

static enum dc_err account_update(struct dc_store *base, const struct dc_account *acc)
{
    struct args a = {0};
    a_i64(&a, acc->id);
    a_i64(&a, acc->status);
    a_i64(&a, acc->offline_blocked);
    a_i64(&a, acc->offline_limit);
    a_i64(&a, acc->frozen ? 1 : 0);
    a_i64(&a, acc->debtor ? 1 : 0);
    long n = 0;
    enum dc_err e = run(P(base), S_ACCT_UPDATE, &a, &n);
    if (e == DC_OK && n != 1) e = DC_ERR_NO_ACCOUNT;
    touched(P(base), acc->id, 1);
    return e;
}

/* Listings of accounts (balances) and of the journal read what deferred
 * writes change: the pending rows go first, in the same round trip. */
static int reads_pending(enum stmt_id id)
{
    return id == S_ACCT_LIST || id == S_ACCT_LIST_ALL || id == S_JOURNAL_LIST || id == S_AUDIT ||
           id == S_ACCT_SEARCH || id == S_TOTALS || id == S_ACCT_PAGE || id == S_ACCT_PAGE_ALL ||
           id == S_CASE_SEARCH;
}

/* Runs a listing and calls readfn + cb for each row until cb says stop.
 * The whole result is in memory, so a callback may use the store. */
#define FOR_ROWS(s, id, a, decl, readfn, cb, ctx)                                                  \
    do {                                                                                           \
        enum dc_err e_;                                                                            \
        PGresult *r = q_flush((s), (id), (a), reads_pending(id), &e_);                             \
        if (!r) return e_;                                                                         \
        int n_ = PQntuples(r);                                                                     \
        for (int i = 0; i < n_; i++) {                                                             \
            decl;                                                                                  \
            readfn;                                                                                \
            if (cb(ctx, &row_)) break;                                                             \
        }                                                                                          \
        PQclear(r);                                                                                \
        return DC_OK;                                                                              \
    } while (0)

static enum dc_err account_list(struct dc_store *base, int status, dc_account_cb cb, void *ctx)
{
    struct args a = {0};
    if (status >= 0) a_i64(&a, status);
    FOR_ROWS(P(base), status < 0 ? S_ACCT_LIST_ALL : S_ACCT_LIST, &a, struct dc_account row_,
             read_account(r, i, &row_), cb, ctx);
}

static enum dc_err account_page(struct dc_store *base, int status, int64_t after, int limit,
                                dc_account_cb cb, void *ctx)
{
    struct args a = {0};
    if (status >= 0) a_i64(&a, status);
    a_i64(&a, after);
    a_i64(&a, limit);
    FOR_ROWS(P(base), status < 0 ? S_ACCT_PAGE_ALL : S_ACCT_PAGE, &a, struct dc_account row_,
             read_account(r, i, &row_), cb, ctx);
}

/* ---- Journal ---------------------------------------------------------- */

/* The next reserved journal id, reserving a block when none is left. */
static enum dc_err next_journal_id(struct pg_store *s, int64_t *id)
{
    if (s->ids_pos == s->ids_n) {
        struct args a = {0};
        a_i64(&a, ID_BLOCK);
        enum dc_err e;
        PGresult *r = q(s, S_JOURNAL_IDS, &a, &e);
        if (!r) return e;
        int n = PQntuples(r);
        for (int i = 0; i < n && i < ID_BLOCK; i++) s->ids[i] = c_i64(r, i, 0);
        PQclear(r);
        s->ids_pos = 0;
        s->ids_n = n > 0 && n <= ID_BLOCK ? (size_t)n : 0;
        if (!s->ids_n) return DC_ERR_STORE;
    }
    *id = s->ids[s->ids_pos++];
    return DC_OK;
}

/*
 * Defers the posting when both accounts were seen in this write
 * transaction (see "Deferred writes"): the checks the database would make
 * (a user account never negative, no overflow) are made here on the
 * snapshot's balances plus the pending moves. 1 = deferred (or refused,
 * *err set); 0 = run it at once.
 */
static int post_deferred(struct pg_store *s, struct dc_posting *p, enum dc_err *err)
{
    if (!s->in_tx || !s->write_tx || s->doomed) return 0;
    const struct acct_seen *d = seen_find(s, p->debit), *c = seen_find(s, p->credit);
    if (!d || !c) return 0;
    if (!grow((void **)&s->posts, &s->cap_posts, s->n_posts, sizeof *s->posts)) {
        *err = DC_ERR_NO_MEMORY;
        return 1;
    }
    int64_t bal[2][2] = {{d->available, d->held}, {c->available, c->held}};
    int overflow = 0;
    pending_moves(s, d->id, &bal[0][0], &bal[0][1], &overflow);
    pending_moves(s, c->id, &bal[1][0], &bal[1][1], &overflow);
    if (d == c) memcpy(bal[1], bal[0], sizeof bal[1]);
    int64_t *from = &bal[0][p->debit_bucket ? 1 : 0];
    if (dc_i64_sub(from, *from, p->amount) != DC_OK) overflow = 1;
    if (d == c) memcpy(bal[1], bal[0], sizeof bal[1]);
    int64_t *to = &bal[1][p->credit_bucket ? 1 : 0];
    if (dc_i64_add(to, *to, p->amount) != DC_OK) overflow = 1;
    if (d == c) memcpy(bal[0], bal[1], sizeof bal[0]);
    if (overflow) {
        snprintf(s->errmsg, sizeof s->errmsg, "postgresql: posting overflows a balance");
        *err = DC_ERR_AMOUNT_OVERFLOW;
        return 1;
    }
    for (int k = 0; k < 2; k++) {
        const struct acct_seen *acct = k ? c : d;
        if (acct->kind == DC_ACCT_USER && (bal[k][0] < 0 || bal[k][1] < 0)) {
            snprintf(s->errmsg, sizeof s->errmsg,
                     "postgresql: posting would make user account %lld negative",
                     (long long)acct->id);
            *err = DC_ERR_STORE_CONSTRAINT; /* what the CHECK would say */
            return 1;
        }
    }
    int64_t id = 0;
    *err = next_journal_id(s, &id);
    if (*err != DC_OK) return 1;
    struct pend_post *q = &s->posts[s->n_posts++];
    *q = (struct pend_post){.id = id,
                            .time = (int64_t)p->time,
                            .debit = p->debit,
                            .credit = p->credit,
                            .amount = p->amount,
                            .debit_bucket = p->debit_bucket,
                            .credit_bucket = p->credit_bucket};
    snprintf(q->kind, sizeof q->kind, "%s", p->kind);
    snprintf(q->ref, sizeof q->ref, "%s", p->ref);
    snprintf(q->memo, sizeof q->memo, "%s", p->memo);
    p->id = id;
    return 1;
}

static enum dc_err post(struct dc_store *base, struct dc_posting *p)
{
    struct pg_store *s = P(base);
    if (p->amount <= 0) return DC_ERR_INVALID_ARGUMENT;
    enum dc_err e;
    if (post_deferred(s, p, &e)) return e;
    struct args a = {0};
    a_u64(&a, p->time);
    a_i64(&a, p->debit);
    a_i64(&a, p->debit_bucket);
    a_i64(&a, p->credit);
    a_i64(&a, p->credit_bucket);
    a_i64(&a, p->amount);
    a_text(&a, p->kind);
    a_text(&a, p->ref);
    a_text(&a, p->memo);
    /* at once: the pending rows first, so that the CHECK sees them */
    PGresult *r = q_flush(s, S_POST, &a, 1, &e);
    touched(s, p->debit, 1);
    touched(s, p->credit, 1);
    if (!r) return e;
    p->id = c_i64(r, 0, 0);
    int64_t moved = c_i64(r, 0, 1);
    PQclear(r);
    if (moved != (p->debit == p->credit ? 1 : 2)) return DC_ERR_NO_ACCOUNT;
    struct pend_post done = {.debit = p->debit,
                             .credit = p->credit,
                             .amount = p->amount,
                             .debit_bucket = p->debit_bucket,
                             .credit_bucket = p->credit_bucket};
    seen_apply(s, &done, 1);
    return DC_OK;
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
    c_text(r, i, 9, p->memo, sizeof p->memo);
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
    FOR_ROWS(P(base), S_AUDIT, NULL, struct dc_audit_row row_ = {0},
             (row_.account = c_i64(r, i, 0), row_.journal_available = c_i64(r, i, 1),
              row_.journal_held = c_i64(r, i, 2)),
             cb, ctx);
}

/* ---- Idempotency ------------------------------------------------------ */

static struct pend_req *req_pending(struct pg_store *s, int64_t account, const char *rid)
{
    for (size_t i = 0; i < s->n_reqs; i++) {
        if (s->reqs[i].account == account && strcmp(s->reqs[i].request_id, rid) == 0) {
            return &s->reqs[i];
        }
    }
    return NULL;
}

/* A looked-up id whose answer is not pending yet, or SIZE_MAX. */
static size_t req_missed(struct pg_store *s, int64_t account, const char *rid)
{
    for (size_t i = 0; i < s->n_miss; i++) {
        if (!s->miss[i].put && s->miss[i].account == account &&
            strcmp(s->miss[i].request_id, rid) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

static enum dc_err request_get(struct dc_store *base, struct dc_request_rec *io)
{
    struct pg_store *s = P(base);
    io->response = NULL;
    const struct pend_req *pr = s->in_tx ? req_pending(s, io->account, io->request_id) : NULL;
    if (pr) {
        memcpy(io->body_hash, pr->body_hash, DC_HASH_BYTES);
        io->status = (int)pr->status;
        io->created_at = (uint64_t)pr->created_at;
        io->response = strdup(pr->response);
        return io->response ? DC_OK : DC_ERR_NO_MEMORY;
    }
    if (io->will_put && s->in_tx && s->write_tx && !s->doomed && s->verify_reqs == 0) {
        /* answered without a round trip: the answer's insert at commit
         * decides (see will_put in store.h) */
        if (req_missed(s, io->account, io->request_id) == SIZE_MAX) {
            if (!grow((void **)&s->miss, &s->cap_miss, s->n_miss, sizeof *s->miss)) {
                return DC_ERR_NO_MEMORY;
            }
            struct req_miss *m = &s->miss[s->n_miss++];
            *m = (struct req_miss){.account = io->account, .unverified = 1};
            snprintf(m->request_id, sizeof m->request_id, "%s", io->request_id);
        }
        return DC_ERR_NOT_FOUND;
    }
    struct args a = {0};
    a_i64(&a, io->account);
    a_text(&a, io->request_id);
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
        /* remembered: a request_put of this id may then be deferred */
        if (s->in_tx && s->write_tx && req_missed(s, io->account, io->request_id) == SIZE_MAX &&
            grow((void **)&s->miss, &s->cap_miss, s->n_miss, sizeof *s->miss)) {
            struct req_miss *m = &s->miss[s->n_miss++];
            *m = (struct req_miss){.account = io->account};
            snprintf(m->request_id, sizeof m->request_id, "%s", io->request_id);
        }
    }
    PQclear(r);
    return e;
}

static enum dc_err request_put(struct dc_store *base, const struct dc_request_rec *rec,
                               const char *response)
{
    struct pg_store *s = P(base);
    if (s->in_tx && req_pending(s, rec->account, rec->request_id)) {
        snprintf(s->errmsg, sizeof s->errmsg, "postgresql: request id stored twice");
        return DC_ERR_STORE_CONSTRAINT; /* what the primary key would say */
    }
    size_t m = s->in_tx && s->write_tx && !s->doomed ? req_missed(s, rec->account, rec->request_id)
                                                     : SIZE_MAX;
    if (m != SIZE_MAX && grow((void **)&s->reqs, &s->cap_reqs, s->n_reqs, sizeof *s->reqs)) {
        char *copy = strdup(response ? response : "");
        if (!copy) return DC_ERR_NO_MEMORY;
        struct pend_req *q = &s->reqs[s->n_reqs++];
        q->account = rec->account;
        q->status = rec->status;
        q->created_at = (int64_t)rec->created_at;
        snprintf(q->request_id, sizeof q->request_id, "%s", rec->request_id);
        memcpy(q->body_hash, rec->body_hash, DC_HASH_BYTES);
        q->response = copy;
        s->miss[m].put = 1;
        return DC_OK;
    }
    struct args a = {0};
    a_i64(&a, rec->account);
    a_text(&a, rec->request_id);
    a_blob(&a, rec->body_hash, DC_HASH_BYTES);
    a_i64(&a, rec->status);
    a_text(&a, response);
    a_u64(&a, rec->created_at);
    return run(s, S_REQ_PUT, &a, NULL);
}

/* ---- Deposits in one round trip -------------------------------------------
 *
 * A deposited coin of h records costs, statement by statement, a hold, its
 * deposited chain, h state claims (each an insert, and a read when the
 * state was consumed), h case lookups, the coin's deposited sum and the
 * posting: 2h + 4 round trips. The ledger names every state a deposit will
 * claim first (deposit_prefetch), and one statement reads them all in this
 * transaction's snapshot: each state's successor if consumed and whether a
 * case is open on it, each coin's value and deposited sum. Then, as with
 * postings ("Deferred writes"), the ops answer from that and defer the
 * rows to set-based statements sent with the COMMIT (or in front of any
 * other statement, so nothing reads around them):
 *   hold_put    an insert gets an id from a block reserved ahead; an update
 *               of a pending hold changes it in memory (checked against
 *               the table's CHECKs first); hold_get finds it there.
 *   dcoin_insert the same, with its chain copied.
 *   state_claim a state pending in this transaction answers its pending
 *               successor; a state the prefetch found consumed, its
 *               successor; one it found free is claimed in memory.
 *   case_get    by state: "no case" when the prefetch found none and no
 *               case was inserted since.
 *   coin_add_deposited  DC_ERR_NOT_FOUND for a serial the prefetch did not
 *               find; DC_ERR_STORE_CONSTRAINT when the sum would pass the
 *               coin's value (the CHECK's answer); else deferred.
 * Under SERIALIZABLE another instance that claims the same state or adds
 * to the same coin meanwhile makes the flush fail (a serialization failure,
 * or a constraint the store turns into one): the transaction runs again
 * and, for VERIFY_TXS transactions, writes each row at once. A job's
 * pending rows go with rollback_to; once a job's savepoint is rolled back
 * the prefetch is forgotten (what it knew may have been undone).
 */

static struct pf_ent *pf_find(struct pg_store *s, int kind, const uint8_t *serial,
                              const uint8_t *state)
{
    for (size_t i = 0; i < s->n_pf; i++) {
        struct pf_ent *f = &s->pf[i];
        if (f->kind == kind && memcmp(f->serial, serial, DC_SERIAL_BYTES) == 0 &&
            (kind || memcmp(f->state, state, DC_HASH_BYTES) == 0)) {
            return f;
        }
    }
    return NULL;
}

/* Whether deposit rows may be deferred in this transaction now. */
static int dep_defer(const struct pg_store *s)
{
    return s->in_tx && s->write_tx && !s->doomed && s->n_pf && !s->verify_deps;
}

/* The next id of table's sequence from the block in ids[pos, n). */
static enum dc_err next_id(struct pg_store *s, const char *table, int64_t *ids, size_t *pos,
                           size_t *n, int64_t *id)
{
    if (*pos == *n) {
        struct args a = {0};
        a_text(&a, table);
        a_i64(&a, ID_BLOCK);
        enum dc_err e;
        PGresult *r = q(s, S_IDS, &a, &e);
        if (!r) return e;
        int rows = PQntuples(r);
        for (int i = 0; i < rows && i < ID_BLOCK; i++) ids[i] = c_i64(r, i, 0);
        PQclear(r);
        *pos = 0;
        *n = rows > 0 && rows <= ID_BLOCK ? (size_t)rows : 0;
        if (!*n) return DC_ERR_STORE;
    }
    *id = ids[(*pos)++];
    return DC_OK;
}

static enum dc_err deposit_prefetch(struct dc_store *base, const struct dc_claim_key *k, size_t n)
{
    struct pg_store *s = P(base);
    if (!s->in_tx || !s->write_tx || s->doomed || s->verify_deps || n == 0) return DC_OK;
    /* the posting's debit side: read (from the account cache, mostly) so
     * that the deposit's posting can be deferred too */
    struct dc_account fl;
    enum dc_err e = s->base.ops->account_get(base, &fl, DC_BY_ID, DC_ACCT_ID_FLOAT, NULL);
    if (e != DC_OK) return e;
    struct abuf arr[2] = {{0}};
    ab_start(&arr[0], OID_BYTEA, n);
    ab_start(&arr[1], OID_BYTEA, n);
    for (size_t i = 0; i < n; i++) {
        ab_bytes(&arr[0], k[i].serial, DC_SERIAL_BYTES);
        ab_bytes(&arr[1], k[i].state, DC_HASH_BYTES);
    }
    struct args a;
    e = args_arrays(&a, arr, 2);
    PGresult *r = e == DC_OK ? q(s, S_DEP_PREFETCH, &a, &e) : NULL;
    free(arr[0].p);
    free(arr[1].p);
    if (!r) return e;
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        struct pf_ent f = {.kind = (int)c_i64(r, i, 0)};
        c_blob(r, i, 1, f.serial, DC_SERIAL_BYTES);
        f.found = (int)c_i64(r, i, 4);
        if (f.kind == 0) {
            c_blob(r, i, 2, f.state, DC_HASH_BYTES);
            c_blob(r, i, 3, f.succ, DC_HASH_BYTES);
            f.has_case = (int)c_i64(r, i, 5);
        } else {
            f.value = c_i64(r, i, 5);
            f.deposited = c_i64(r, i, 6);
        }
        struct pf_ent *old = pf_find(s, f.kind, f.serial, f.state);
        if (old) continue; /* learnt before (and kept current since) */
        if (!grow((void **)&s->pf, &s->cap_pf, s->n_pf, sizeof *s->pf)) {
            e = DC_ERR_NO_MEMORY;
            break;
        }
        s->pf[s->n_pf++] = f;
    }
    PQclear(r);
    return e;
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
    struct pg_store *s = P(base);
    struct pf_ent *f = dep_defer(s) ? pf_find(s, 1, serial, NULL) : NULL;
    if (f) {
        if (!f->found) return DC_ERR_NOT_FOUND;
        int64_t sum = f->deposited;
        int bad = 0;
        for (size_t i = 0; i < s->n_cdeps; i++) {
            if (memcmp(s->cdeps[i].serial, serial, DC_SERIAL_BYTES) == 0) {
                bad |= dc_i64_add(&sum, sum, s->cdeps[i].amount) != DC_OK;
            }
        }
        bad |= dc_i64_add(&sum, sum, amount) != DC_OK;
        if (bad || sum < 0 || sum > f->value) {
            snprintf(s->errmsg, sizeof s->errmsg,
                     "postgresql: a coin's deposited sum would pass its value");
            return DC_ERR_STORE_CONSTRAINT; /* what the CHECK would say */
        }
        if (!grow((void **)&s->cdeps, &s->cap_cdeps, s->n_cdeps, sizeof *s->cdeps)) {
            return DC_ERR_NO_MEMORY;
        }
        struct pend_cdep *c = &s->cdeps[s->n_cdeps++];
        memcpy(c->serial, serial, DC_SERIAL_BYTES);
        c->amount = amount;
        return DC_OK;
    }
    /* at once: what the prefetch knew of the coin is out of date */
    struct pf_ent *old = pf_find(s, 1, serial, NULL);
    if (old) *old = s->pf[--s->n_pf];
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
    if (dep_defer(s)) {
        for (size_t i = 0; i < s->n_claims; i++) {
            const struct pend_claim *c = &s->claims[i];
            if (memcmp(c->serial, serial, DC_SERIAL_BYTES) == 0 &&
                memcmp(c->state, state, DC_HASH_BYTES) == 0) {
                *inserted = 0;
                memcpy(existing, c->succ, DC_HASH_BYTES);
                return DC_OK;
            }
        }
        const struct pf_ent *f = pf_find(s, 0, serial, state);
        if (f && f->found) {
            *inserted = 0;
            memcpy(existing, f->succ, DC_HASH_BYTES);
            return DC_OK;
        }
        if (f) {
            if (!grow((void **)&s->claims, &s->cap_claims, s->n_claims, sizeof *s->claims)) {
                return DC_ERR_NO_MEMORY;
            }
            struct pend_claim *c = &s->claims[s->n_claims++];
            memcpy(c->serial, serial, DC_SERIAL_BYTES);
            memcpy(c->state, state, DC_HASH_BYTES);
            memcpy(c->succ, successor, DC_HASH_BYTES);
            c->dcoin = dcoin;
            *inserted = 1;
            memcpy(existing, successor, DC_HASH_BYTES);
            return DC_OK;
        }
    }
    /* at once: what the prefetch knew of the state is out of date */
    struct pf_ent *old = pf_find(s, 0, serial, state);
    if (old) *old = s->pf[--s->n_pf];
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
    struct pg_store *s = P(base);
    if (dep_defer(s) && c->amount > 0 && seen_find(s, c->account)) {
        /* the account was read in this transaction: its key holds */
        if (!grow((void **)&s->dcoins, &s->cap_dcoins, s->n_dcoins, sizeof *s->dcoins)) {
            return DC_ERR_NO_MEMORY;
        }
        uint8_t *chain = malloc(c->chain_len ? c->chain_len : 1);
        if (!chain) return DC_ERR_NO_MEMORY;
        int64_t id;
        enum dc_err e =
            next_id(s, "deposit_coins", s->dcoin_ids, &s->dcoin_ids_pos, &s->dcoin_ids_n, &id);
        if (e != DC_OK) {
            free(chain);
            return e;
        }
        if (c->chain_len) memcpy(chain, c->chain, c->chain_len);
        c->id = id;
        struct pend_dcoin *d = &s->dcoins[s->n_dcoins++];
        d->c = *c;
        d->c.chain = chain;
        d->own = chain;
        return DC_OK;
    }
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
    h->taken = c_i64(r, i, 9);
    h->repaid = c_i64(r, i, 10);
    c_text(r, i, 11, h->released_by, sizeof h->released_by);
    h->release_provisional = c_int(r, i, 12);
}

/* The pending hold with this id, or NULL. */
static struct dc_hold *hold_pending(struct pg_store *s, int64_t id)
{
    for (size_t i = 0; id && i < s->n_holds; i++) {
        if (s->holds[i].id == id) return &s->holds[i];
    }
    return NULL;
}

/* The holds table's CHECKs, for a row kept in memory. */
static int hold_fits(const struct dc_hold *h)
{
    return h->amount > 0 && h->status >= 0 && h->status <= 3 &&
           (h->provisional == 0 || h->provisional == 1) && h->taken >= 0 && h->repaid >= 0;
}

static enum dc_err hold_put(struct dc_store *base, struct dc_hold *h)
{
    struct pg_store *s = P(base);
    struct dc_hold *pend = hold_pending(s, h->id);
    if (pend && hold_fits(h) && seen_find(s, h->account)) {
        *pend = *h;
        return DC_OK;
    }
    if (pend) {
        /* not kept in memory: the pending rows go first, then the update */
    } else if (!h->id && dep_defer(s) && hold_fits(h) && seen_find(s, h->account)) {
        if (!grow((void **)&s->holds, &s->cap_holds, s->n_holds, sizeof *s->holds)) {
            return DC_ERR_NO_MEMORY;
        }
        enum dc_err e = next_id(s, "holds", s->hold_ids, &s->hold_ids_pos, &s->hold_ids_n, &h->id);
        if (e != DC_OK) return e;
        s->holds[s->n_holds++] = *h;
        return DC_OK;
    }
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
    a_i64(&a, h->taken);
    a_i64(&a, h->repaid);
    a_text(&a, h->released_by);
    a_i64(&a, h->release_provisional);
    enum dc_err e;
    PGresult *r = q(P(base), h->id ? S_HOLD_UPDATE : S_HOLD_INSERT, &a, &e);
    if (!r) return e;
    if (!h->id) h->id = c_i64(r, 0, 0);
    PQclear(r);
    return DC_OK;
}

static enum dc_err hold_get(struct dc_store *base, struct dc_hold *out, int64_t id)
{
    const struct dc_hold *pend = hold_pending(P(base), id);
    if (pend) {
        *out = *pend;
        return DC_OK;
    }
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
    enum stmt_id id = by == DC_HOLDS_OF_ACCOUNT    ? S_HOLDS_ACCT
                      : by == DC_HOLDS_DUE         ? S_HOLDS_DUE
                      : by == DC_HOLDS_RECHECK     ? S_HOLDS_RECHECK
                      : by == DC_HOLDS_PROVISIONAL ? S_HOLDS_PROV
                      : by == DC_HOLDS_OF_CASE     ? S_HOLDS_CASE
                                                   : S_HOLDS_DEPOSIT;
    struct args a = {0};
    a_i64(&a, arg);
    FOR_ROWS(P(base), id, &a, struct dc_hold row_, read_hold(r, i, &row_), cb, ctx);
}

static enum dc_err holds_page(struct dc_store *base, int status, int64_t after, int limit,
                              dc_hold_cb cb, void *ctx)
{
    struct args a = {0};
    if (status >= 0) a_i64(&a, status);
    a_i64(&a, after);
    a_i64(&a, limit);
    FOR_ROWS(P(base), status < 0 ? S_HOLDS_PAGE_ALL : S_HOLDS_PAGE, &a, struct dc_hold row_,
             read_hold(r, i, &row_), cb, ctx);
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
        a_i64(&a, c->recovered);
        a_i64(&a, c->carried);
        a_i64(&a, c->repaid);
        P(base)->pf_cases_stale = 1; /* the prefetch's "no case" may be wrong now */
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
    a_i64(&a, c->recovered);
    a_i64(&a, c->carried);
    a_i64(&a, c->repaid);
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
    c->recovered = c_i64(r, i, 14);
    c->carried = c_i64(r, i, 15);
    c->repaid = c_i64(r, i, 16);
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
    struct pg_store *s = P(base);
    if (!id && !s->pf_cases_stale && dep_defer(s)) {
        const struct pf_ent *f = pf_find(s, 0, serial, state);
        if (f && !f->has_case) return DC_ERR_NO_CASE;
    }
    enum dc_err e;
    PGresult *r = q(s, id ? S_CASE_BY_ID : S_CASE_BY_STATE, &a, &e);
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

static void a_null(struct args *a)
{
    a->val[a->n] = NULL;
    a->len[a->n] = 0;
    a->fmt[a->n] = 1;
    a->n++;
}

/* id (or NULL), then for accounts the name (or NULL), then lo and hi (or NULLs) */
static void search_args(struct args *a, const struct dc_search *q, int with_name)
{
    if (q->id) a_i64(a, q->id);
    if (!q->id) a_null(a);
    if (with_name && q->name) a_text(a, q->name);
    if (with_name && !q->name) a_null(a);
    if (q->lo_len) {
        a_blob(a, q->lo, q->lo_len);
        a_blob(a, q->hi, q->hi_len);
    } else {
        a_null(a);
        a_null(a);
    }
    a_i64(a, q->after);
    a_i64(a, q->limit);
}

static enum dc_err account_search(struct dc_store *base, const struct dc_search *q,
                                  dc_account_cb cb, void *ctx)
{
    struct args a = {0};
    search_args(&a, q, 1);
    FOR_ROWS(P(base), S_ACCT_SEARCH, &a, struct dc_account row_, read_account(r, i, &row_), cb,
             ctx);
}

static enum dc_err case_search(struct dc_store *base, const struct dc_search *q, dc_case_cb cb,
                               void *ctx)
{
    struct args a = {0};
    search_args(&a, q, 0);
    if (q->account) a_i64(&a, q->account);
    if (!q->account) a_null(&a);
    FOR_ROWS(P(base), S_CASE_SEARCH, &a, struct dc_case row_, read_case(r, i, &row_, 0), cb, ctx);
}

static int read_totals(struct dc_totals *out, const PGresult *r)
{
    out->held_n = c_i64(r, 0, 0);
    out->held = c_i64(r, 0, 1);
    out->frozen_n = c_i64(r, 0, 2);
    out->frozen = c_i64(r, 0, 3);
    out->cases_open = c_i64(r, 0, 4);
    out->exposure = c_i64(r, 0, 5);
    return 1; /* one row: stop */
}

static enum dc_err totals(struct dc_store *base, struct dc_totals *out)
{
    struct args a = {0};
    memset(out, 0, sizeof *out);
    enum dc_err e_;
    PGresult *r = q_flush(P(base), S_TOTALS, &a, reads_pending(S_TOTALS), &e_);
    if (!r) return e_;
    enum dc_err e = PQntuples(r) == 1 && read_totals(out, r) ? DC_OK : DC_ERR_STORE;
    PQclear(r);
    return e;
}

static enum dc_err cases_of_culprit(struct dc_store *base, int64_t account, dc_case_cb cb,
                                    void *ctx)
{
    struct args a = {0};
    a_i64(&a, account);
    FOR_ROWS(P(base), S_CASE_LIST_CULPRIT, &a, struct dc_case row_, read_case(r, i, &row_, 0), cb,
             ctx);
}

static enum dc_err event_add(struct dc_store *base, enum stmt_id id, int64_t subject, uint64_t time,
                             const char *actor, const char *action, const char *reason)
{
    struct args a = {0};
    a_i64(&a, subject);
    a_u64(&a, time);
    a_text(&a, actor);
    a_text(&a, action);
    a_text(&a, reason ? reason : "");
    return run(P(base), id, &a, NULL);
}

static enum dc_err case_event(struct dc_store *base, int64_t case_id, uint64_t time,
                              const char *actor, const char *action, const char *reason)
{
    return event_add(base, S_CASE_EVENT, case_id, time, actor, action, reason);
}

static enum dc_err account_event(struct dc_store *base, int64_t account, uint64_t time,
                                 const char *actor, const char *action, const char *reason)
{
    return event_add(base, S_ACCT_EVENT, account, time, actor, action, reason);
}

static void read_event(const PGresult *r, int i, struct dc_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->id = c_i64(r, i, 0);
    ev->subject = c_i64(r, i, 1);
    ev->time = (uint64_t)c_i64(r, i, 2);
    c_text(r, i, 3, ev->actor, sizeof ev->actor);
    c_text(r, i, 4, ev->action, sizeof ev->action);
    c_text(r, i, 5, ev->reason, sizeof ev->reason);
}

static enum dc_err events_list(struct dc_store *base, enum dc_event_of of, int64_t subject,
                               dc_event_cb cb, void *ctx)
{
    struct args a = {0};
    a_i64(&a, subject);
    FOR_ROWS(P(base), of == DC_EVENTS_CASE ? S_EVENTS_CASE : S_EVENTS_ACCT, &a,
             struct dc_event row_, read_event(r, i, &row_), cb, ctx);
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

static enum dc_err refusal_put(struct dc_store *base, int64_t deposit, const uint8_t *refusal,
                               const uint8_t *coins, size_t coins_len)
{
    struct args a = {0};
    a_i64(&a, deposit);
    a_blob(&a, refusal, DC_REFUSAL_BYTES);
    a_blob(&a, coins, coins_len);
    return run(P(base), S_REFUSAL_PUT, &a, NULL);
}

static enum dc_err refusal_get(struct dc_store *base, int64_t deposit, uint8_t *refusal,
                               uint8_t **coins, size_t *coins_len)
{
    struct args a = {0};
    *coins = NULL;
    *coins_len = 0;
    a_i64(&a, deposit);
    enum dc_err e;
    PGresult *r = q(P(base), S_REFUSAL_GET, &a, &e);
    if (!r) return e;
    if (PQntuples(r) != 1) {
        e = DC_ERR_NOT_FOUND;
    } else if (PQgetlength(r, 0, 0) != DC_REFUSAL_BYTES) {
        e = DC_ERR_STORE;
    } else {
        memcpy(refusal, PQgetvalue(r, 0, 0), DC_REFUSAL_BYTES);
        *coins = c_dup(r, 0, 1, coins_len);
        if (!*coins) e = DC_ERR_NO_MEMORY;
    }
    PQclear(r);
    return e;
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
    a_i64(&a, k->retired ? 1 : 0);
    return run(P(base), S_KEY_PUT, &a, NULL);
}

static enum dc_err key_list(struct dc_store *base, dc_key_cb cb, void *ctx)
{
    FOR_ROWS(P(base), S_KEY_LIST, NULL, struct dc_key_rec row_,
             (row_.key_id = (uint32_t)c_i64(r, i, 0),
              c_blob(r, i, 1, row_.keycert, DC_KEYCERT_BYTES),
              row_.revoked_at = (uint64_t)c_i64(r, i, 2), row_.retired = (int)c_i64(r, i, 3)),
             cb, ctx);
}

static const struct dc_store_ops pg_ops = {
    .name = "postgresql",
    .close = p_close,
    .migrate = p_migrate,
    .errmsg = p_errmsg,
    .set_timeout = p_set_timeout,
    .round_trips = p_round_trips,
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
    .deposit_prefetch = deposit_prefetch,
    .accounts_prefetch = accounts_prefetch,
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

enum dc_err dc_store_pg_open(struct dc_store **out, const char *url, char *errbuf, size_t errcap)
{
    *out = NULL;
    struct pg_store *s = calloc(1, sizeof *s);
    if (!s) return DC_ERR_NO_MEMORY;
    s->base.ops = &pg_ops;
    s->url = strdup(url);
    if (!s->url) {
        free(s);
        return DC_ERR_NO_MEMORY;
    }
    s->conn = connect_url(url);
    char shown[512];
    dc_store_redact(shown, sizeof shown, url);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        const char *m = s->conn ? PQerrorMessage(s->conn) : "out of memory";
        snprintf(errbuf, errcap, "cannot connect to PostgreSQL '%s': %s", shown, m);
        one_line(errbuf);
        PQfinish(s->conn);
        s->conn = NULL;
        p_close(&s->base);
        return DC_ERR_STORE;
    }
    enum dc_err e = session_setup(s);
    if (e != DC_OK) {
        snprintf(errbuf, errcap, "cannot configure PostgreSQL session '%s': %s", shown, s->errmsg);
        p_close(&s->base);
        return e;
    }
    *out = &s->base;
    return DC_OK;
}
