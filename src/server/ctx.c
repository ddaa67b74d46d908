/*
 * ctx.c - building the ducatd instance context: configuration, calendar,
 * keys, trust, the store (migrated), the read-connection pool; the clock.
 */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "ducat/auth.h"
#include "server/keyfile.h"
#include "server/ledger/ledger.h"
#include "server/ledger/writer.h"
#include "server/obs/metrics.h"
#include "server/server.h"

const char *dc_money(char *out, size_t cap, const struct dc_currency *cur, int64_t minor)
{
    char num[DC_AMOUNT_STR_MAX];
    struct dc_amount a = {minor, cur->numeric};
    if (dc_amount_format(num, sizeof num, cur, a) != DC_OK ||
        (size_t)snprintf(out, cap, "%s %s", num, cur->code) >= cap) {
        snprintf(out, cap, "?");
    }
    return out;
}

const char *dc_local_time(char *out, size_t cap, const struct dc_calendar *cal, uint64_t ms)
{
    if (ms == 0 || dc_time_format(out, cap, ms, cal->utc_offset_min) != DC_OK) {
        snprintf(out, cap, "-");
    }
    return out;
}

uint64_t dc_now(const struct dc_ctx *x)
{
    if (x->cfg.clock_file[0]) {
        /* tests drive time through a file holding ms since the epoch */
        char path[DC_PATH_MAX * 2];
        dc_config_path(&x->cfg, x->cfg.clock_file, path, sizeof path);
        FILE *f = fopen(path, "r");
        unsigned long long v = 0;
        if (f) {
            if (fscanf(f, "%llu", &v) != 1) v = 0;
            fclose(f);
        }
        if (v) return v;
    }
    return dc_wall_now();
}

uint64_t dc_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum dc_err dc_pool_get(struct dc_ctx *x, struct dc_store **out)
{
    pthread_mutex_lock(&x->pool_lock);
    if (x->pool_n) {
        *out = x->pool[--x->pool_n];
        pthread_mutex_unlock(&x->pool_lock);
        return DC_OK;
    }
    pthread_mutex_unlock(&x->pool_lock);
    char err[256];
    enum dc_err e = dc_store_open(out, x->store_url, err, sizeof err);
    if (e != DC_OK) dc_log(DC_LOG_ERROR, "%s", err);
    /* the database answered at start: one that cannot be reached now is
     * restarting or failing over, and the client retries (503), not a 500 */
    if (e == DC_ERR_STORE) e = DC_ERR_STORE_RETRY;
    if (e == DC_OK) dc_store_set_timeout(*out, x->cfg.store_timeout_ms);
    return e;
}

void dc_pool_put(struct dc_ctx *x, struct dc_store *s)
{
    pthread_mutex_lock(&x->pool_lock);
    if (x->pool_n < sizeof x->pool / sizeof x->pool[0]) {
        x->pool[x->pool_n++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&x->pool_lock);
    if (s) s->ops->close(s);
}

struct trust_build {
    struct dc_trust *t;
    enum dc_err err;
};

static int add_trust_key(void *ctx, const struct dc_key_rec *k)
{
    struct trust_build *b = ctx;
    struct dc_keycert c;
    if (dc_keycert_decode(&c, k->keycert, DC_KEYCERT_BYTES) != DC_OK) {
        b->err = DC_ERR_CONFIG;
        return 1;
    }
    /* retired (revoked for rotation): what it signed stays valid; it signs
     * nothing new because it is no longer the current key (dc_ctx_refresh) */
    enum dc_err e = dc_trust_add_key(b->t, &c, k->retired ? 0 : k->revoked_at);
    if (e != DC_OK) {
        b->err = e;
        return 1;
    }
    return 0;
}

enum dc_err dc_ctx_reload_trust(struct dc_ctx *x, struct dc_store *st)
{
    struct dc_trust t;
    dc_trust_init(&t, x->master_pub, x->cfg.currency.numeric, 0);
    /* the server at deposit: no device revocation (fork detection handles
     * culprits), no signer freshness (certificates may expire while coins
     * wait), a grace period for expired coins */
    t.flags = 0;
    t.expiry_grace_ms = (uint64_t)x->cfg.deposit_grace_days * DC_DAY_MS;
    t.max_hops = (uint8_t)x->cfg.max_hops;
    t.max_split_parts = (uint8_t)x->cfg.max_split_parts;
    t.base_unit = x->cfg.denoms.v[0];
    t.clock_skew_ms = (uint64_t)x->cfg.clock_skew_s * 1000u;
    struct trust_build b = {&t, DC_OK};
    enum dc_err e = st->ops->key_list(st, add_trust_key, &b);
    if (e == DC_OK) e = b.err;
    if (e != DC_OK) return e;
    pthread_rwlock_wrlock(&x->trust_lock);
    x->trust = t;
    pthread_rwlock_unlock(&x->trust_lock);
    return DC_OK;
}

/* Loads signing key `id`: its certificate from the trust context, its seed
 * from keys/signing-<id>.key. *out is a new signer (signer_free). */
static enum dc_err load_signer(struct dc_signer **out, struct dc_ctx *x, uint32_t id, char *err,
                               size_t cap)
{
    *out = NULL;
    const struct dc_trust_key *k = dc_trust_find_key(&x->trust, id);
    if (!k) {
        snprintf(err, cap, "signing key %u has no certificate in the database", id);
        return DC_ERR_CONFIG;
    }
    struct dc_signer *sg = calloc(1, sizeof *sg);
    if (!sg) return DC_ERR_NO_MEMORY;
    sg->key_id = id;
    sg->cert = k->cert;
    char dir[DC_PATH_MAX * 2], path[DC_PATH_MAX * 3];
    dc_config_path(&x->cfg, x->cfg.signing_key_dir, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/signing-%u.key", dir, id);
    uint8_t *seed = sodium_malloc(32);
    sg->sk = sodium_malloc(DC_SECKEY_BYTES);
    enum dc_err e = seed && sg->sk ? DC_OK : DC_ERR_NO_MEMORY;
    if (e == DC_OK) e = dc_keyfile_read(seed, path, getenv("DUCATD_KEY_PASSPHRASE"), err, cap);
    if (e == DC_OK) {
        uint8_t pk[DC_PUBKEY_BYTES];
        dc_keypair_from_seed(pk, sg->sk, seed);
        if (memcmp(pk, k->cert.pub, DC_PUBKEY_BYTES) != 0) {
            snprintf(err, cap, "key file '%s' does not match signing key %u's certificate", path,
                     id);
            e = DC_ERR_CONFIG;
        }
    }
    if (seed) sodium_free(seed); /* wipes */
    if (e != DC_OK) {
        if (sg->sk) sodium_free(sg->sk);
        free(sg);
        return e;
    }
    sodium_mprotect_readonly(sg->sk);
    *out = sg;
    return DC_OK;
}

enum dc_err dc_ctx_refresh(struct dc_ctx *x, size_t *n_keys)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(x, &st);
    if (e != DC_OK) return e;
    e = dc_ctx_reload_trust(x, st);
    char v[32] = "";
    if (e == DC_OK) e = st->ops->meta_get(st, "current_key", v, sizeof v);
    dc_pool_put(x, st);
    if (e != DC_OK) return e;
    /* only this thread writes x->trust and x->signer: no lock to read them */
    struct dc_signer *old = x->signer;
    uint32_t current = (uint32_t)strtoul(v, NULL, 10);
    if (n_keys) *n_keys = x->trust.n_keys;
    char err[512] = "";
    int loaded = 0;
    if (current != old->key_id) {
        /* keys rotate: sign with the new key from now on, no restart.
         * The old signer stays allocated: a withdrawal that read it a
         * moment ago finishes with it (its key is still valid: revoking
         * the current key is refused, so it was rotated first). */
        struct dc_signer *sg;
        if (load_signer(&sg, x, current, err, sizeof err) == DC_OK) {
            sg->prev = old;
            atomic_store(&x->signer, sg);
            loaded = 1;
            dc_log(DC_LOG_INFO, "signing key %u is current now (was %u)", current, old->key_id);
        }
    }
    struct dc_signer *cur = x->signer;
    const struct dc_trust_key *k = dc_trust_find_key(&x->trust, cur->key_id);
    int revoked = !k || k->revoked_at != 0;
    int stale = revoked || cur->key_id != current;
    if (stale && !x->signer_stale) {
        dc_log(DC_LOG_ERROR, "signing key %u was %s: no more withdrawals here, /v1/ready fails%s%s",
               cur->key_id, revoked ? "revoked" : "replaced",
               err[0] ? "; cannot load the new one: " : "", err);
    }
    if (loaded && x->signer_stale && !stale) dc_log(DC_LOG_INFO, "withdrawals resume");
    x->signer_stale = stale;
    return DC_OK;
}

void dc_ctx_calendar(struct dc_ctx *x, struct dc_calendar *out)
{
    pthread_rwlock_rdlock(&x->cal_lock);
    *out = x->cal;
    pthread_rwlock_unlock(&x->cal_lock);
}

enum dc_err dc_calendar_text_parse(struct dc_calendar *out, const char *text, size_t len, char *err,
                                   size_t cap)
{
    /* it is kept as text in the store: PostgreSQL takes no NUL and no
     * invalid UTF-8 there, and a limit keeps every copy of it small */
    if (len > DC_CALENDAR_TEXT_MAX) {
        snprintf(err, cap, "larger than %d bytes", DC_CALENDAR_TEXT_MAX);
        return DC_ERR_CALENDAR_SYNTAX;
    }
    size_t line = 1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0') {
            snprintf(err, cap, "line %zu: a NUL byte", line);
            return DC_ERR_CALENDAR_SYNTAX;
        }
        if (text[i] == '\n') line++;
    }
    char *z = malloc(len + 1);
    if (!z) return DC_ERR_NO_MEMORY;
    memcpy(z, text, len);
    z[len] = '\0';
    int utf8 = dc_event_text_valid(z, len + 1);
    free(z);
    if (!utf8) {
        snprintf(err, cap, "not UTF-8 text");
        return DC_ERR_CALENDAR_SYNTAX;
    }
    enum dc_err e = dc_calendar_parse(out, &line, text, len);
    if (e != DC_OK) snprintf(err, cap, "line %zu: %s", line, dc_err_str(e));
    return e;
}

enum dc_err dc_ctx_reload_calendar(struct dc_ctx *x, struct dc_store *st, int *changed, char *err,
                                   size_t cap)
{
    *changed = 0;
    char v[32];
    enum dc_err e = st->ops->meta_get(st, "calendar_loaded_at", v, sizeof v);
    if (e == DC_ERR_NOT_FOUND) return DC_OK; /* never loaded: the file stays */
    if (e != DC_OK) return e;
    uint64_t at = strtoull(v, NULL, 10);
    if (at == x->cal_loaded_at) return DC_OK;
    char *text = malloc(DC_CALENDAR_TEXT_MAX + 2);
    if (!text) return DC_ERR_NO_MEMORY;
    e = st->ops->meta_get(st, "calendar", text, DC_CALENDAR_TEXT_MAX + 2);
    struct dc_calendar *cal = malloc(sizeof *cal);
    if (e == DC_OK && !cal) e = DC_ERR_NO_MEMORY;
    char why[160] = "";
    if (e == DC_OK) e = dc_calendar_text_parse(cal, text, strlen(text), why, sizeof why);
    free(text);
    if (e == DC_OK && cal->utc_offset_min != x->cal.utc_offset_min) {
        snprintf(why, sizeof why, "its utc-offset differs from the one in force");
        e = DC_ERR_CALENDAR_SYNTAX;
    }
    if (e != DC_OK) {
        if (why[0]) {
            snprintf(err, cap, "the calendar in the store (loaded at %llu) is refused: %s",
                     (unsigned long long)at, why);
            e = DC_ERR_CONFIG;
        }
        free(cal);
        return e;
    }
    pthread_rwlock_wrlock(&x->cal_lock);
    x->cal = *cal;
    x->cal_loaded_at = at;
    pthread_rwlock_unlock(&x->cal_lock);
    free(cal);
    *changed = 1;
    return DC_OK;
}

struct recheck_job {
    const struct dc_calendar *cal;
    uint32_t n_days;
    size_t changed, provisional; /* OUT */
};

static enum dc_err recheck_job(struct dc_store *st, void *arg)
{
    struct recheck_job *j = arg;
    return dc_ledger_recheck_holds(st, j->cal, j->n_days, &j->changed, &j->provisional);
}

void dc_ctx_calendar_check(struct dc_ctx *x, const char *why)
{
    struct dc_calendar *cal = malloc(sizeof *cal);
    if (!cal) {
        dc_log(DC_LOG_ERROR, "calendar (%s): out of memory", why);
        return;
    }
    dc_ctx_calendar(x, cal);
    struct recheck_job j = {cal, x->cfg.hold_working_days, 0, 0};
    enum dc_err e = dc_writer_run(x->writer, recheck_job, &j);
    char from[16] = "?", to[16] = "?";
    if (dc_date_format(from, sizeof from, cal->cover_from) != DC_OK) snprintf(from, 16, "?");
    if (dc_date_format(to, sizeof to, cal->cover_to) != DC_OK) snprintf(to, 16, "?");
    int32_t left = dc_calendar_days_left(cal, dc_calendar_local_day(cal, dc_now(x)));
    free(cal);
    if (e != DC_OK) {
        dc_log(DC_LOG_ERROR, "calendar (%s): re-dating provisional holds: %s", why, dc_err_str(e));
        return;
    }
    dc_log(DC_LOG_INFO,
           "calendar (%s): covers %s..%s, %d days left; %zu holds re-dated, %zu provisional", why,
           from, to, (int)left, j.changed, j.provisional);
    if (left < DC_CALENDAR_WARN_DAYS) {
        /* a deposit whose working-day window passes the end gets a
         * provisional date and waits for the next calendar */
        dc_log(DC_LOG_WARN,
               "calendar coverage ends %s (%d days left): deposits whose %u-working-day window "
               "passes it get provisional release dates; load the next year's calendar "
               "(ducatd calendar load FILE)",
               to, (int)left, x->cfg.hold_working_days);
    }
}

/* Frees a signer and every one it replaced (their keys are wiped). */
static void signer_free(struct dc_signer *sg)
{
    while (sg) {
        struct dc_signer *prev = sg->prev;
        if (sg->sk) sodium_free(sg->sk);
        free(sg);
        sg = prev;
    }
}

/* 2^16 digests (2 MiB): the certificates of ~30k active devices plus the
 * prefixes of recent splits. Emptied when 3/4 full (the core stops adding
 * there); a miss only costs a signature check. */
#define DC_VCACHE_SLOTS (1u << 16)

static void vcache_lock(void *arg)
{
    pthread_mutex_lock(arg);
}

static void vcache_unlock(void *arg)
{
    pthread_mutex_unlock(arg);
}

struct dc_verify_cache *dc_vcache(struct dc_ctx *x)
{
    struct dc_verify_cache *c = &x->vcache;
    if (!c->slots) return NULL;
    pthread_mutex_lock(&x->vcache_lock);
    if (c->n * 4 >= c->cap * 3) {
        memset(c->slots, 0, c->cap * DC_HASH_BYTES);
        c->n = 0;
    }
    pthread_mutex_unlock(&x->vcache_lock);
    return c;
}

enum dc_err dc_ctx_open(struct dc_ctx *x, const char *config_path, char *err, size_t cap)
{
    memset(x, 0, sizeof *x);
    pthread_rwlock_init(&x->trust_lock, NULL);
    pthread_rwlock_init(&x->cal_lock, NULL);
    pthread_mutex_init(&x->pool_lock, NULL);
    pthread_mutex_init(&x->vcache_lock, NULL);
    enum dc_err e = dc_config_load(&x->cfg, config_path, err, cap);
    if (e != DC_OK) return e;
    dc_log_set_level(x->cfg.log_level);
    dc_log_set_json(x->cfg.log_json);

    char path[DC_PATH_MAX * 2];
    dc_config_path(&x->cfg, x->cfg.calendar, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "cannot open calendar '%s': %s", path, strerror(errno));
        return DC_ERR_CONFIG;
    }
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    size_t line = 0;
    e = dc_calendar_parse(&x->cal, &line, text, n);
    if (e != DC_OK) {
        snprintf(err, cap, "calendar '%s' line %zu: %s", path, line, dc_err_str(e));
        return DC_ERR_CONFIG;
    }

    if (x->cfg.metrics_token_hash[0]) {
        if (dc_hex_decode(x->metrics_hash, 32, x->cfg.metrics_token_hash, 64) != DC_OK) {
            return DC_ERR_CONFIG;
        }
        x->has_metrics_token = 1;
    }
    if (x->cfg.admin_token_hash[0]) {
        if (dc_hex_decode(x->admin_hash, 32, x->cfg.admin_token_hash, 64) != DC_OK) {
            return DC_ERR_CONFIG;
        }
        x->has_admin = 1;
    }

    dc_config_path(&x->cfg, x->cfg.store, x->store_url, sizeof x->store_url);
    struct dc_store *st;
    e = dc_store_open(&st, x->store_url, err, cap);
    if (e != DC_OK) return e;
    int version;
    e = st->ops->migrate(st, &version);
    if (e != DC_OK) {
        snprintf(err, cap, "%s", st->ops->errmsg(st));
        st->ops->close(st);
        return e;
    }
    char hex[80];
    e = st->ops->meta_get(st, "master_pub", hex, sizeof hex);
    if (e != DC_OK || dc_hex_decode(x->master_pub, 32, hex, strlen(hex)) != DC_OK) {
        snprintf(err, cap, "the database has no issuer master key: was it made by 'ducatd init'?");
        st->ops->close(st);
        return DC_ERR_CONFIG;
    }
    /* a calendar loaded into the store replaces the file; refusing to
     * start on a bad one beats counting working days by the wrong one */
    int cal_changed;
    e = dc_ctx_reload_calendar(x, st, &cal_changed, err, cap);
    if (e == DC_OK) e = dc_ctx_reload_trust(x, st);
    if (e == DC_OK) {
        char v[128];
        if (st->ops->meta_get(st, "current_key", v, sizeof v) != DC_OK) {
            snprintf(err, cap, "no current signing key in the database (run 'ducatd keys rotate')");
            e = DC_ERR_CONFIG;
        } else {
            struct dc_signer *sg;
            e = load_signer(&sg, x, (uint32_t)strtoul(v, NULL, 10), err, cap);
            if (e == DC_OK) x->signer = sg;
        }
    }
    if (e != DC_OK) {
        if (!err[0]) snprintf(err, cap, "cannot load keys: %s", dc_err_str(e));
        st->ops->close(st);
        return e;
    }
    x->metrics = dc_metrics_new();
    x->vcache.slots = calloc(DC_VCACHE_SLOTS, DC_HASH_BYTES);
    if (!x->metrics || !x->vcache.slots) {
        st->ops->close(st);
        return DC_ERR_NO_MEMORY;
    }
    x->vcache.cap = DC_VCACHE_SLOTS;
    x->vcache.lock = vcache_lock;
    x->vcache.unlock = vcache_unlock;
    x->vcache.lock_arg = &x->vcache_lock;
    /* the first connection becomes the pool's; the writer opens its own */
    dc_pool_put(x, st);
    return DC_OK;
}

void dc_ctx_close(struct dc_ctx *x)
{
    if (x->writer) dc_writer_stop(x->writer);
    x->writer = NULL;
    for (size_t i = 0; i < x->pool_n; i++) x->pool[i]->ops->close(x->pool[i]);
    x->pool_n = 0;
    dc_metrics_free(x->metrics);
    x->metrics = NULL;
    free(x->vcache.slots);
    x->vcache.slots = NULL;
    x->vcache.cap = 0;
    signer_free(x->signer);
    x->signer = NULL;
}
