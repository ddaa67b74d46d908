/*
 * server.h - what every part of ducatd shares: the instance context (config,
 * keys, calendar, trust, store pool, writer, metrics); the logger (log.h).
 *
 * One struct dc_ctx exists per process, built by the command that needs it
 * (a static in cmd_serve.c for `serve`, in cmd_ops.c for the operator
 * commands) and handed to handlers borrowed. The other process-wide state:
 * the log level (log.c, atomic), the stop flag a signal sets (cmd_serve.c,
 * sig_atomic_t), the HTTP server's own state (http.c, one per process), and
 * large scratch buffers kept static to spare the stack (config.c, ctx.c,
 * cmd_ops.c), each used by one thread at a time.
 */
#ifndef DUCAT_SERVER_H
#define DUCAT_SERVER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ducat/amount.h"
#include "ducat/calendar.h"
#include "ducat/coin.h"
#include "server/config.h"
#include "server/obs/log.h"
#include "store/store.h"

struct dc_writer;
struct dc_metrics;
struct dc_nonces;

/* The issuer's current signing key; sk lives in sodium_malloc'd memory.
 * Never changed once published in dc_ctx.signer: a rotation publishes a
 * new one and keeps the old (prev) until dc_ctx_close, so a worker that
 * read the pointer may go on using it. */
struct dc_signer {
    uint32_t key_id;
    struct dc_keycert cert;
    uint8_t *sk;            /* DC_SECKEY_BYTES, guarded, wiped on free */
    struct dc_signer *prev; /* the one it replaced, freed at close */
};

struct dc_ctx {
    struct dc_config cfg;
    /* The working-day calendar: the one `ducatd calendar load` put in the
     * store (shared by every instance of a database), else the [hold]
     * calendar file. Replaced while serving (dc_ctx_reload_calendar) under
     * cal_lock; whoever needs more than utc_offset_min (which a reload never
     * changes) reads a copy (dc_ctx_calendar). */
    pthread_rwlock_t cal_lock;
    struct dc_calendar cal;
    uint64_t cal_loaded_at; /* meta calendar_loaded_at of the store's calendar; 0: the file */
    /* the current signing key: swapped by dc_ctx_refresh when another
     * became current (keys rotate), read once per use by the workers */
    struct dc_signer *_Atomic signer;
    uint8_t master_pub[DC_PUBKEY_BYTES];
    /* Trust context for verifying deposits, rebuilt when keys change. */
    pthread_rwlock_t trust_lock;
    struct dc_trust trust;
    /* Read connections, one per thread at a time. */
    pthread_mutex_t pool_lock;
    struct dc_store *pool[256];
    size_t pool_n;
    char store_url[DC_PATH_MAX];
    struct dc_writer *writer;
    struct dc_metrics *metrics;
    struct dc_nonces *nonces;
    /* Signatures already verified at deposit (chain prefixes, device
     * certificates), shared by all request threads: a coin's history or a
     * device's certificate is verified once, whoever deposits it. */
    pthread_mutex_t vcache_lock;
    struct dc_verify_cache vcache;
    uint8_t admin_hash[32];
    int has_admin;
    uint8_t metrics_hash[32]; /* [metrics] token_hash, when has_metrics_token */
    int has_metrics_token;
    uint64_t started_ms; /* wall clock when serving began: older signed requests are refused */
    /* shutdown began: close connections after answering. Set by the serve
     * loop, read by every connection thread: an atomic, not a volatile
     * (volatile orders nothing between threads). */
    atomic_int stopping;
    /* Set (by the trust reload) when the signing key this process loaded
     * was revoked, or another became current and could not be loaded: it
     * issues no more coins (withdrawals 403 DC_ERR_KEY_REVOKED) and
     * /v1/ready fails until a reload or a restart loads the current key.
     * Written by the reload, read by workers. */
    atomic_int signer_stale;
    volatile sig_atomic_t *reload_req; /* set by SIGHUP: reload keys and revocations now */
};

/* The shared verification cache, emptied first when it is full. */
struct dc_verify_cache *dc_vcache(struct dc_ctx *x);

/* Entries in the replay-protection nonce table (GET /metrics). */
size_t dc_nonces_count(struct dc_nonces *n);

/* Business time in ms (issue, expiry, holds, cases): the real clock, or the
 * [dev] clock_file for tests. Request freshness always uses the wall clock. */
uint64_t dc_now(const struct dc_ctx *x);
uint64_t dc_wall_now(void);

/* Borrow / return a read connection (opened lazily). */
enum dc_err dc_pool_get(struct dc_ctx *x, struct dc_store **out);
void dc_pool_put(struct dc_ctx *x, struct dc_store *s);

/* Loads keys, calendar and trust; opens and migrates the store. */
enum dc_err dc_ctx_open(struct dc_ctx *x, const char *config_path, char *err, size_t cap);
void dc_ctx_close(struct dc_ctx *x);
/* Rebuilds the trust context from the signing keys in the store. */
enum dc_err dc_ctx_reload_trust(struct dc_ctx *x, struct dc_store *st);
/* Live trust: re-reads signing keys and revocations (all instances of a
 * database see a `keys rotate` / `keys revoke` this way). When another key
 * became current it loads it (certificate from the store, seed from the
 * key directory) and swaps it in; the loaded signer is marked stale if it
 * was revoked or its successor cannot be loaded. *n_keys (may be NULL):
 * keys now trusted. Called every [server] trust_reload_s and on SIGHUP. */
enum dc_err dc_ctx_refresh(struct dc_ctx *x, size_t *n_keys);

/* Largest calendar text `ducatd calendar load` accepts (it is kept in the
 * store's meta table). */
#define DC_CALENDAR_TEXT_MAX (64 * 1024)

/* A copy of the calendar in force, taken under cal_lock. */
void dc_ctx_calendar(struct dc_ctx *x, struct dc_calendar *out);
/* Parses a calendar text for loading: a clear message in err (with the line)
 * on failure. DC_ERR_CALENDAR_SYNTAX for text that is not UTF-8 or is over
 * DC_CALENDAR_TEXT_MAX; parser errors as dc_calendar_parse. */
enum dc_err dc_calendar_text_parse(struct dc_calendar *out, const char *text, size_t len, char *err,
                                   size_t cap);
/* Picks up a calendar loaded into the store since the last look (meta
 * "calendar", "calendar_loaded_at"): *changed = 1 if it replaced the one in
 * force. A stored calendar that does not parse or changes the utc-offset is
 * refused (DC_ERR_CONFIG, err says why) and the one in force stays. */
enum dc_err dc_ctx_reload_calendar(struct dc_ctx *x, struct dc_store *st, int *changed, char *err,
                                   size_t cap);

/* Fewer days of calendar coverage left than this: ducatd warns (at start
 * and whenever it picks up a calendar); /metrics has the figure
 * (ducat_calendar_coverage_days) for an alert. */
#define DC_CALENDAR_WARN_DAYS 60
/* Checks the calendar in force against the holds (through the writer, which
 * must run): re-dates provisional ones it now covers, logs its coverage and
 * warns when little is left. why: "start", "reload". */
void dc_ctx_calendar_check(struct dc_ctx *x, const char *why);

/* Most coins one POST /v1/deposits may carry; published in GET /v1/keys
 * ("limits") so wallets split larger deposits. */
#define DC_DEPOSIT_COINS_MAX 1000

/* Money for people: "30.00 CNY" (major units and the deployment's currency).
 * Returns out; out is "?" if cap is too small (DC_MONEY_MAX always suffices). */
#define DC_MONEY_MAX (DC_AMOUNT_STR_MAX + 8)
const char *dc_money(char *out, size_t cap, const struct dc_currency *cur, int64_t minor);

/* A time for people in the deployment's time zone (dc_time_format with the
 * calendar's utc-offset); "-" for 0 or out of range. Returns out. */
const char *dc_local_time(char *out, size_t cap, const struct dc_calendar *cal, uint64_t ms);

#endif
