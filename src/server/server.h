/*
 * server.h - what every part of ducatd shares: the instance context (config,
 * keys, calendar, trust, store pool, writer, metrics) and the logger.
 *
 * One struct dc_ctx exists per process, built by main.c; there are no other
 * globals outside main.c and the signal flag. Handlers receive it borrowed.
 */
#ifndef DUCAT_SERVER_H
#define DUCAT_SERVER_H

#include <pthread.h>
#include <stdint.h>

#include "ducat/amount.h"
#include "ducat/calendar.h"
#include "ducat/coin.h"
#include "server/config.h"
#include "store/store.h"

struct dc_writer;
struct dc_metrics;
struct dc_nonces;

/* The issuer's current signing key; sk lives in sodium_malloc'd memory. */
struct dc_signer {
    uint32_t key_id;
    struct dc_keycert cert;
    uint8_t *sk; /* DC_SECKEY_BYTES, guarded, wiped on free */
};

struct dc_ctx {
    struct dc_config cfg;
    struct dc_calendar cal;
    struct dc_signer signer;
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
    uint64_t started_ms;   /* wall clock when serving began: older signed requests are refused */
    volatile int stopping; /* shutdown began: close connections after answering */
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

/* Most coins one POST /v1/deposits may carry; published in GET /v1/keys
 * ("limits") so wallets split larger deposits. */
#define DC_DEPOSIT_COINS_MAX 1000

/* Logging: one line to stderr with time and level; never log secrets.
 * Text lines read "TIME ducatd LEVEL: message"; with dc_log_set_json(1)
 * every line is a JSON object {"time","level","msg"} (docs/OPERATIONS.md). */
void dc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dc_log_set_level(int level);
void dc_log_set_json(int on);
/* Operator commands (a process of their own): event lines go to syslog(3),
 * so the journal holds what the CLI did; their messages stay on stderr. */
void dc_log_set_syslog(int on);

/* Money for people: "30.00 CNY" (major units and the deployment's currency).
 * Returns out; out is "?" if cap is too small (DC_MONEY_MAX always suffices). */
#define DC_MONEY_MAX (DC_AMOUNT_STR_MAX + 8)
const char *dc_money(char *out, size_t cap, const struct dc_currency *cur, int64_t minor);

/* A time for people in the deployment's time zone (dc_time_format with the
 * calendar's utc-offset); "-" for 0 or out of range. Returns out. */
const char *dc_local_time(char *out, size_t cap, const struct dc_calendar *cal, uint64_t ms);

/* One field of an event line: a string (str != NULL) or an integer. */
struct dc_log_kv {
    const char *key;
    const char *str;
    long long num;
};
#define DC_KV_S(k, v) ((struct dc_log_kv){(k), (v), 0})
#define DC_KV_N(k, v) ((struct dc_log_kv){(k), NULL, (long long)(v)})

/* A security- or money-relevant event, one line with its ids:
 *   TIME ducatd info: event=case_opened case=7 culprit=1002 amount="30.00 CNY"
 * or in JSON {"time","level","event","case":7,...}. A string field is quoted
 * (with \" \\ and \xNN escapes) when it holds a space, quote, '=' or control
 * character, so a name can never forge another field. Never pass a secret. */
void dc_log_event(int level, const char *event, const struct dc_log_kv *kv, size_t n);
#define DC_LOG_EVENT(level, event, ...)                                                            \
    dc_log_event((level), (event), (const struct dc_log_kv[]){__VA_ARGS__},                        \
                 sizeof((const struct dc_log_kv[]){__VA_ARGS__}) / sizeof(struct dc_log_kv))
#define DC_LOG_ERROR 0
#define DC_LOG_WARN 1
#define DC_LOG_INFO 2
#define DC_LOG_DEBUG 3

#endif
