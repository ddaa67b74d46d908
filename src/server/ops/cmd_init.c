/*
 * cmd_init.c - `ducatd init DIR`: a working instance in one command.
 *
 * Creates DIR/ducat.conf (every key, with its default, commented),
 * DIR/master.key (the issuer master key, 0600; move it offline after init,
 * see docs/OPERATIONS.md), DIR/keys/signing-1.key (the first signing key,
 * certified by the master), DIR/ducat.db (SQLite, migrated, with the system
 * accounts), DIR/calendar.txt (the shipped working-day calendar) and
 * DIR/admin.token (the admin bearer token, 0600, never printed; only its
 * hash is in the config). With DUCATD_KEY_PASSPHRASE set, key files are sealed.
 */
#define _DEFAULT_SOURCE /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calendar_default.h" /* generated: calendar_default[] */
#include "ducat/auth.h"
#include "server/config.h"
#include "server/keyfile.h"
#include "server/ledger/ledger.h"
#include "server/ops/cmd.h"
#include "store/store.h"

static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        dc_cmd_fail("cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    if (!ok) dc_cmd_fail("cannot write '%s'", path);
    return ok ? 0 : -1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Certifies a signing key with the master key and records it. */
enum dc_err dc_init_signing_key(struct dc_store *st, const uint8_t *master_sk, uint32_t key_id,
                                const uint8_t pub[DC_PUBKEY_BYTES], uint64_t now,
                                const struct dc_config *cfg);
enum dc_err dc_init_signing_key(struct dc_store *st, const uint8_t *master_sk, uint32_t key_id,
                                const uint8_t pub[DC_PUBKEY_BYTES], uint64_t now,
                                const struct dc_config *cfg)
{
    struct dc_keycert c;
    memset(&c, 0, sizeof c);
    c.key_id = key_id;
    memcpy(c.pub, pub, DC_PUBKEY_BYTES);
    c.valid_from = now - 60000;
    c.sign_until = now + 365 * DC_DAY_MS;
    /* what it signed stays valid through the longest coin's life and grace */
    c.verify_until = c.sign_until +
                     (uint64_t)(cfg->coin_lifetime_days + cfg->deposit_grace_days + 30) * DC_DAY_MS;
    struct dc_key_rec k;
    memset(&k, 0, sizeof k);
    k.key_id = key_id;
    dc_keycert_sign(k.keycert, &c, master_sk);
    return st->ops->key_put(st, &k);
}

/*--- The steps of `ducatd init` ---------------------------------------------*/

/* The command line of `ducatd init`. */
struct init_opts {
    const char *dir;      /* the state directory (created if missing) */
    const char *store;    /* --store URL; NULL: SQLite file DIR/ducat.db */
    const char *listen;   /* --listen ADDR; NULL: the default */
    const char *conf_opt; /* --config FILE; NULL: DIR/ducat.conf */
    int auto_verify;      /* --auto-verify: new accounts start verified */
};

/* Fills o from argv; DC_EXIT_OK, or DC_EXIT_USAGE (already reported). */
static int parse_args(struct init_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--auto-verify") == 0) {
            o->auto_verify = 1;
        } else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
            o->store = argv[++i];
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            o->listen = argv[++i];
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            o->conf_opt = argv[++i];
        } else if (argv[i][0] != '-' && !o->dir) {
            o->dir = argv[i];
        } else {
            dc_cmd_fail("init: unexpected argument '%s'", argv[i]);
            return DC_EXIT_USAGE;
        }
    }
    if (!o->dir) {
        dc_cmd_fail("init: missing DIR (e.g. 'ducatd init ./var')");
        return DC_EXIT_USAGE;
    }
    return DC_EXIT_OK;
}

/* Creates DIR and DIR/keys; names the configuration file (OUT: conf) and
 * the prefix of every path written into it (OUT: pre: "" for paths relative
 * to the file, DIR's absolute path and a slash with --config). Refuses an
 * existing configuration: init never overwrites an instance. Returns an
 * exit code (reported). */
static int make_dirs(const struct init_opts *o, char conf[static DC_PATH_MAX],
                     char pre[static PATH_MAX + 1])
{
    if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
        dc_cmd_fail("init: cannot create '%s': %s", o->dir, strerror(errno));
        return DC_EXIT_CONFIG;
    }
    /* With --config the file lives elsewhere (/etc/ducat), so every path in it
     * names the state directory absolutely (/var/lib/ducat). */
    char abs[PATH_MAX] = "";
    pre[0] = '\0';
    if (o->conf_opt) {
        if (!realpath(o->dir, abs)) {
            dc_cmd_fail("init: cannot resolve '%s': %s", o->dir, strerror(errno));
            return DC_EXIT_CONFIG;
        }
        snprintf(pre, PATH_MAX + 1, "%s/", abs);
        snprintf(conf, DC_PATH_MAX, "%s", o->conf_opt);
    } else {
        snprintf(conf, DC_PATH_MAX, "%s/ducat.conf", o->dir);
    }
    if (access(conf, F_OK) == 0) {
        dc_cmd_fail("init: '%s' already exists: refusing to overwrite an instance", conf);
        return DC_EXIT_REFUSED;
    }
    char path[DC_PATH_MAX];
    snprintf(path, sizeof path, "%s/keys", o->dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        dc_cmd_fail("init: cannot create '%s': %s", path, strerror(errno));
        return DC_EXIT_CONFIG;
    }
    return DC_EXIT_OK;
}

/* A new admin token (OUT: token, shown to the operator once, in a file)
 * and the hex BLAKE2b-256 of it (OUT: hash_hex, the only form the
 * configuration keeps). */
static void new_admin_token(char token[static 80], char hash_hex[static 65])
{
    uint8_t raw[32], h[32];
    char b64[64];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(token, 80, "dcadm_%s", b64);
    crypto_generichash(h, sizeof h, (const uint8_t *)token, strlen(token), NULL, 0);
    dc_hex_encode(hash_hex, h, sizeof h);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(b64, sizeof b64);
}

/* The configuration file's text: every key with its default (OUT: text).
 * Returns DC_EXIT_OK, or DC_EXIT_CONFIG (reported) if it does not fit. */
static int render_config(char *text, size_t cap, const struct init_opts *o, const char *conf,
                         const char *pre, const char *token_hash)
{
    struct dc_config d;
    dc_config_defaults(&d);
    int tn = snprintf(
        text, cap,
        "# ducatd configuration (every key with its default: docs/OPERATIONS.md)\n"
        "# Relative paths are relative to this file's directory.\n\n"
        "[ducat]\n"
        "store = %s%s%s\n"
        "currency = %s\n"
        "currency_numeric = %u\n"
        "currency_exponent = %u\n"
        "# 'series125 MIN MAX' or a comma-separated list such as 0.01,0.02,0.05,0.1\n"
        "denominations = series125 0.01 500\n\n"
        "[server]\n"
        "listen = %s\n"
        "# workers running handlers (sockets: max_connections, default 20000)\n"
        "threads = 256\n"
        "max_body_bytes = %zu\n"
        "log_level = info\n"
        "release_interval_s = %u\n\n"
        "[keys]\n"
        "# leave empty once the master key is kept offline\n"
        "master_key = %smaster.key\n"
        "signing_key_dir = %skeys\n\n"
        "[limits]\n"
        "default_offline_limit = 2000.00\n"
        "max_hops = %u\n"
        "max_split_parts = %u\n"
        "coin_lifetime_days = %u\n"
        "deposit_grace_days = %u\n"
        "cert_lifetime_days = %u\n"
        "max_coins_per_withdrawal = %u\n"
        "max_batch_transfers = %u\n"
        "clock_skew_s = %u\n\n"
        "[hold]\n"
        "working_days = %u\n"
        "calendar = %scalendar.txt\n\n"
        "[policy]\n"
        "auto_verify = %s\n"
        "auto_resolve = true\n\n"
        "[admin]\n"
        "token_hash = %s\n\n"
        "[group_commit]\n"
        "max_batch = %u\n"
        "max_wait_us = %u\n",
        o->store ? o->store : "sqlite:", o->store ? "" : pre, o->store ? "" : "ducat.db",
        d.currency.code, d.currency.numeric, d.currency.exponent, o->listen ? o->listen : d.listen,
        d.max_body, d.release_interval_s, pre, pre, d.max_hops, d.max_split_parts,
        d.coin_lifetime_days, d.deposit_grace_days, d.cert_lifetime_days,
        d.max_coins_per_withdrawal, d.max_batch_transfers, d.clock_skew_s, d.hold_working_days, pre,
        o->auto_verify ? "true" : "false", token_hash, d.gc_max_batch, d.gc_max_wait_us);
    if (tn < 0 || (size_t)tn >= cap) {
        dc_cmd_fail("init: the configuration for '%s' does not fit (paths too long)", conf);
        return DC_EXIT_CONFIG;
    }
    return DC_EXIT_OK;
}

/* DIR/calendar.txt, the shipped working-day calendar, unless one is there
 * (an operator's own calendar is kept). Returns an exit code (reported). */
static int write_calendar(const char *dir)
{
    char path[DC_PATH_MAX];
    snprintf(path, sizeof path, "%s/calendar.txt", dir);
    if (access(path, F_OK) == 0) return DC_EXIT_OK;
    char cal[1 << 14] = "";
    for (size_t i = 0; calendar_default[i]; i++) {
        strncat(cal, calendar_default[i], sizeof cal - strlen(cal) - 1);
    }
    return write_file(path, cal, 0644) == 0 ? DC_EXIT_OK : DC_EXIT_CONFIG;
}

/* The store named by the configuration conf: migrated, with the master
 * public key, the system accounts and signing key 1 (certified by msk), in
 * one transaction. OUT: *version, the schema version. Errors in err. */
static enum dc_err seed_store(const char *conf, const uint8_t mpk[static 32], const uint8_t *msk,
                              const uint8_t spk[static 32], int *version, char *err, size_t cap)
{
    struct dc_config c;
    struct dc_store *st = NULL;
    enum dc_err e = dc_config_load(&c, conf, err, cap);
    char url[DC_PATH_MAX * 2];
    if (e == DC_OK) {
        dc_config_path(&c, c.store, url, sizeof url);
        e = dc_store_open(&st, url, err, cap);
    }
    if (e == DC_OK && (e = st->ops->migrate(st, version)) != DC_OK) {
        snprintf(err, cap, "%s", st->ops->errmsg(st));
    }
    uint64_t now = now_ms();
    if (e == DC_OK) e = st->ops->begin(st, 1);
    if (e == DC_OK) {
        char mhex[65];
        dc_hex_encode(mhex, mpk, 32);
        e = st->ops->meta_put(st, "master_pub", mhex);
        if (e == DC_OK) e = st->ops->meta_put(st, "current_key", "1");
        if (e == DC_OK) e = dc_ledger_bootstrap(st, now);
        if (e == DC_OK) e = dc_init_signing_key(st, msk, 1, spk, now, &c);
        if (e == DC_OK) e = st->ops->commit(st);
        if (e != DC_OK) {
            snprintf(err, cap, "%s", st->ops->errmsg(st));
            st->ops->rollback(st);
        }
    }
    if (st) st->ops->close(st);
    return e;
}

/* The master key (DIR/master.key) and signing key 1 (DIR/keys/signing-1.key),
 * fresh, sealed under DUCATD_KEY_PASSPHRASE if set, then the store seeded
 * with them. The secret keys live in guarded memory, wiped on every path.
 * OUT: *version. Returns an exit code (reported). */
static int make_keys_and_store(const char *dir, const char *conf, int *version)
{
    char path[DC_PATH_MAX], err[512] = "";
    const char *pass = getenv("DUCATD_KEY_PASSPHRASE");
    uint8_t *seeds = sodium_malloc(64), *msk = sodium_malloc(64), *ssk = sodium_malloc(64);
    uint8_t mpk[32], spk[32];
    if (!seeds || !msk || !ssk) return DC_EXIT_CONFIG;
    randombytes_buf(seeds, 64);
    dc_keypair_from_seed(mpk, msk, seeds);
    dc_keypair_from_seed(spk, ssk, seeds + 32);
    snprintf(path, sizeof path, "%s/master.key", dir);
    enum dc_err e = dc_keyfile_write(path, seeds, pass, err, sizeof err);
    snprintf(path, sizeof path, "%s/keys/signing-1.key", dir);
    if (e == DC_OK) e = dc_keyfile_write(path, seeds + 32, pass, err, sizeof err);
    if (e == DC_OK) e = seed_store(conf, mpk, msk, spk, version, err, sizeof err);
    sodium_free(seeds);
    sodium_free(msk);
    sodium_free(ssk);
    if (e != DC_OK) {
        dc_cmd_fail("init: %s", err[0] ? err : dc_err_str(e));
        return DC_EXIT_CONFIG;
    }
    return DC_EXIT_OK;
}

/* DIR/admin.token (0600): the admin token, for the operator to read once. */
static int write_token(const char *dir, const char *token)
{
    char path[DC_PATH_MAX], line[96];
    snprintf(path, sizeof path, "%s/admin.token", dir);
    snprintf(line, sizeof line, "%s\n", token);
    int rc = write_file(path, line, 0600) == 0 ? DC_EXIT_OK : DC_EXIT_CONFIG;
    sodium_memzero(line, sizeof line);
    return rc;
}

/*--- ducatd init ------------------------------------------------------------*/

/* The order matters: nothing is written before the arguments, the
 * directories and the configuration text are known good; the store is
 * seeded after the configuration file exists (it names the store); the
 * admin token file comes last, so an instance with a token file is whole. */
int dc_cmd_init(const struct dc_cmd_env *env, int argc, char **argv)
{
    (void)env;
    struct init_opts o;
    char conf[DC_PATH_MAX], pre[PATH_MAX + 1];
    int rc = parse_args(&o, argc, argv);
    if (rc == DC_EXIT_OK) rc = make_dirs(&o, conf, pre);
    if (rc != DC_EXIT_OK) return rc;

    /* admin token: shown once, stored as a hash */
    char token[80], token_hash[65];
    new_admin_token(token, token_hash);
    /* room for the template and four paths of up to PATH_MAX each */
    static char text[8192 + 4 * (PATH_MAX + 1)];
    int version = 0;
    rc = render_config(text, sizeof text, &o, conf, pre, token_hash);
    if (rc == DC_EXIT_OK) rc = write_calendar(o.dir);
    if (rc == DC_EXIT_OK && write_file(conf, text, 0600) != 0) rc = DC_EXIT_CONFIG;
    if (rc == DC_EXIT_OK) rc = make_keys_and_store(o.dir, conf, &version);
    if (rc == DC_EXIT_OK) rc = write_token(o.dir, token);
    sodium_memzero(token, sizeof token);
    if (rc != DC_EXIT_OK) return rc;
    printf("ducatd: created instance in %s (schema v%d)\n"
           "  config       %s\n"
           "  master key   %s/master.key  (keep it offline: docs/OPERATIONS.md)\n"
           "  signing key  %s/keys/signing-1.key\n"
           "  admin token  %s/admin.token  (mode 0600; never printed or logged)\n"
           "next: ducatd -c %s serve\n",
           o.dir, version, conf, o.dir, o.dir, o.dir, conf);
    return DC_EXIT_OK;
}
