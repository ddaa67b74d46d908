/*
 * config.c - the INI configuration of ducatd (see config.h and
 * docs/OPERATIONS.md). Sections and keys come from one table, which drives
 * parsing, defaults and the documentation alike.
 */
#include "server/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/calendar.h"

enum kind { K_STR, K_UINT, K_BOOL, K_AMOUNT, K_DENOMS, K_CURRENCY, K_LOGLEVEL, K_HEX64 };

struct key {
    const char *section, *name;
    enum kind kind;
    size_t off;             /* offset in struct dc_config */
    size_t size;            /* for strings: capacity */
    unsigned min, max;      /* for K_UINT */
    const char *dflt, *doc; /* `ducatd help config` and the ducat.conf(5) man page */
};

#define F(field) offsetof(struct dc_config, field), sizeof(((struct dc_config *)0)->field)

static const struct key keys[] = {
    {"ducat", "store", K_STR, F(store), 0, 0, "sqlite:ducat.db",
     "sqlite:PATH, or a libpq URL postgresql://USER@HOST/DB?sslmode=... (password via ~/.pgpass, "
     "never logged)"},
    {"ducat", "store_timeout_ms", K_UINT, F(store_timeout_ms), 0, 3600000, "10000",
     "PostgreSQL: longest wait in ms for one answer of the database (a statement, a commit "
     "waiting for a synchronous standby); past it the connection is dropped and the request "
     "answered 503 DC_ERR_STORE_RETRY (0: wait forever)"},
    {"ducat", "currency", K_CURRENCY, F(currency), 0, 0, "CNY",
     "ISO 4217 code of the deployment's one currency"},
    {"ducat", "currency_numeric", K_UINT, 0, 0, 1, 999, "156",
     "ISO 4217 numeric code (written into every coin)"},
    {"ducat", "currency_exponent", K_UINT, 0, 0, 0, DC_CURRENCY_EXPONENT_MAX, "2",
     "decimals of the minor unit (0..8)"},
    {"ducat", "denominations", K_DENOMS, F(denoms), 0, 0, "series125 0.01 500",
     "coin values: 'series125 MIN MAX' or a list 0.01,0.02,0.05; must be canonical (greedy = "
     "fewest coins)"},
    {"server", "listen", K_STR, F(listen), 0, 0, "127.0.0.1:8080",
     "IPv4 address and port of the HTTP API"},
    {"server", "threads", K_UINT, F(threads), 1, 1024, "32",
     "workers running handlers (a request waiting for its commit holds one); not a connection "
     "limit (1..1024)"},
    {"server", "max_body_bytes", K_UINT, F(max_body), 1024, 64u << 20, "1048576",
     "largest request body in bytes (routes may set less)"},
    {"server", "io_threads", K_UINT, F(io_threads), 1, 64, "2",
     "event loops (epoll) serving the sockets"},
    {"server", "max_connections", K_UINT, F(max_connections), 16, 1000000, "20000",
     "open sockets in all (RLIMIT_NOFILE is raised to fit)"},
    {"server", "per_ip_connections", K_UINT, F(per_ip_connections), 0, 1000000, "1024",
     "open sockets from one address (0: no limit)"},
    {"server", "idle_timeout_s", K_UINT, F(idle_timeout_s), 1, 3600, "15",
     "a socket silent this long is closed"},
    {"server", "header_timeout_s", K_UINT, F(header_timeout_s), 1, 3600, "20",
     "a request's headers must arrive within this many seconds"},
    {"server", "body_timeout_s", K_UINT, F(body_timeout_s), 1, 3600, "60",
     "a request's body must arrive within this many seconds (else 408)"},
    {"server", "trust_reload_s", K_UINT, F(trust_reload_s), 1, 3600, "10",
     "seconds between re-reads of signing keys, revocations and a loaded calendar (SIGHUP: "
     "at once)"},
    {"server", "log_level", K_LOGLEVEL, F(log_level), 0, 0, "info", "error, warn, info or debug"},
    {"server", "log_json", K_BOOL, F(log_json), 0, 0, "false",
     "true: every log line is a JSON object (time, level, event or msg, the event's ids)"},
    {"server", "log_file", K_STR, F(log_file), 0, 0, "(unset: stderr)",
     "append the log to this file instead of stderr; SIGHUP reopens it (after logrotate "
     "renamed it)"},
    {"server", "release_interval_s", K_UINT, F(release_interval_s), 1, 86400, "60",
     "seconds between runs of the hold release"},
    {"server", "console", K_BOOL, F(console), 0, 0, "yes",
     "serve the admin console at /admin (no: those paths answer 404)"},
    {"keys", "master_key", K_STR, F(master_key), 0, 0, "master.key",
     "issuer master key file; empty once the master key is kept offline"},
    {"keys", "signing_key_dir", K_STR, F(signing_key_dir), 0, 0, "keys",
     "directory of the signing-ID.key files"},
    {"limits", "default_offline_limit", K_AMOUNT, F(default_offline_limit), 0, 0, "2000.00",
     "value a new account may hold in coins (major units)"},
    {"limits", "max_hops", K_UINT, F(max_hops), 1, 64, "16",
     "hop limit written into every coin (1..64)"},
    {"limits", "max_split_parts", K_UINT, F(max_split_parts), 2, 8, "8",
     "parts one split may have (2..8)"},
    {"limits", "coin_lifetime_days", K_UINT, F(coin_lifetime_days), 1, 365, "10",
     "coin expiry after issue (E)"},
    {"limits", "deposit_grace_days", K_UINT, F(deposit_grace_days), 0, 365, "3",
     "expired coins still accepted, flagged (G); E + G must not exceed the hold"},
    {"limits", "cert_lifetime_days", K_UINT, F(cert_lifetime_days), 1, 365, "7",
     "device certificate lifetime (longest time offline without sync)"},
    {"limits", "max_coins_per_withdrawal", K_UINT, F(max_coins_per_withdrawal), 1, 4096, "256",
     "most coins one withdrawal may return"},
    {"limits", "max_batch_transfers", K_UINT, F(max_batch_transfers), 1, 100000, "1000",
     "items in one batch transfer"},
    {"limits", "clock_skew_s", K_UINT, F(clock_skew_s), 1, 3600, "300",
     "accepted difference between a request's time and the server's"},
    {"hold", "working_days", K_UINT, F(hold_working_days), 1, 365, "15",
     "frozen-box period in working days (F)"},
    {"hold", "calendar", K_STR, F(calendar), 0, 0, "calendar.txt",
     "working-day calendar file (weekends, holidays, make-up days, utc-offset); once "
     "'ducatd calendar load' has stored one in the database, that one is used"},
    {"policy", "auto_verify", K_BOOL, F(auto_verify), 0, 0, "false",
     "new accounts start verified (development only)"},
    {"policy", "auto_resolve", K_BOOL, F(auto_resolve), 0, 0, "true",
     "settle a fork case at once when the recovered money covers it"},
    {"admin", "token_hash", K_HEX64, F(admin_token_hash), 0, 0, "(set by init)",
     "BLAKE2b-256 (hex) of the admin bearer token"},
    {"metrics", "token_hash", K_HEX64, F(metrics_token_hash), 0, 0, "(unset: public)",
     "BLAKE2b-256 (hex) of a bearer token /metrics then requires (it shows money totals)"},
    {"group_commit", "max_batch", K_UINT, F(gc_max_batch), 1, 65536, "512",
     "most requests in one durable commit"},
    {"group_commit", "max_wait_us", K_UINT, F(gc_max_wait_us), 0, 100000, "0",
     "extra wait for company before committing (0 = natural batching)"},
    {"dev", "clock_file", K_STR, F(clock_file), 0, 0, "(unset)",
     "tests only: business time read from this file (ms since the epoch)"},
};

void dc_config_defaults(struct dc_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->store, sizeof c->store, "sqlite:ducat.db");
    if (dc_currency_init(&c->currency, "CNY", 156, 2) != DC_OK) abort();
    if (dc_denoms_series125(&c->denoms, 1, 50000) != DC_OK) abort();
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
    c->threads = 32;
    c->max_body = 1u << 20;
    c->io_threads = 2;
    c->max_connections = 20000;
    c->per_ip_connections = 1024;
    c->idle_timeout_s = 15;
    c->header_timeout_s = 20;
    c->body_timeout_s = 60;
    c->trust_reload_s = 10;
    c->log_level = 2;
    c->release_interval_s = 60;
    c->console = 1;
    snprintf(c->master_key, sizeof c->master_key, "master.key");
    snprintf(c->signing_key_dir, sizeof c->signing_key_dir, "keys");
    c->default_offline_limit = 200000;
    c->max_hops = 16;
    c->max_split_parts = 8;
    c->coin_lifetime_days = 10;
    c->deposit_grace_days = 3;
    c->cert_lifetime_days = 7;
    c->max_coins_per_withdrawal = 256;
    c->max_batch_transfers = 1000;
    c->clock_skew_s = 300;
    c->hold_working_days = 15;
    c->store_timeout_ms = 10000;
    snprintf(c->calendar, sizeof c->calendar, "calendar.txt");
    c->auto_verify = 0;
    c->auto_resolve = 1;
    c->gc_max_batch = 512;
    c->gc_max_wait_us = 0;
}

static void say(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

static int parse_uint(const char *v, unsigned long long *out)
{
    if (!*v) return 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
    }
    if (strlen(v) > 1 && v[0] == '0') return 0;
    errno = 0;
    *out = strtoull(v, NULL, 10);
    return errno == 0;
}

/* Currency numeric/exponent arrive as separate keys: collected, then set. */
struct pending {
    char code[8];
    unsigned numeric, exponent;
    char denoms[1024];
    char offline_limit[64];
};

static enum dc_err set_key(struct dc_config *c, struct pending *pd, const struct key *k,
                           const char *v, char *err, size_t cap)
{
    uint8_t *field = (uint8_t *)c + k->off;
    unsigned long long u;
    switch (k->kind) {
    case K_STR:
        if (strlen(v) >= k->size) {
            say(err, cap, "value too long (max %zu bytes)", k->size - 1);
            return DC_ERR_CONFIG;
        }
        memcpy(field, v, strlen(v) + 1);
        return DC_OK;
    case K_UINT:
        if (!parse_uint(v, &u) || u < k->min || u > k->max) {
            say(err, cap, "must be a whole number in %u..%u", k->min, k->max);
            return DC_ERR_CONFIG;
        }
        if (strcmp(k->name, "currency_numeric") == 0) {
            pd->numeric = (unsigned)u;
        } else if (strcmp(k->name, "currency_exponent") == 0) {
            pd->exponent = (unsigned)u;
        } else if (k->size == sizeof(size_t)) {
            *(size_t *)(void *)field = (size_t)u;
        } else {
            *(unsigned *)(void *)field = (unsigned)u;
        }
        return DC_OK;
    case K_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0) {
            *(int *)(void *)field = 1;
        } else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0) {
            *(int *)(void *)field = 0;
        } else {
            say(err, cap, "must be true or false");
            return DC_ERR_CONFIG;
        }
        return DC_OK;
    case K_LOGLEVEL: {
        static const char *const lv[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++) {
            if (strcmp(v, lv[i]) == 0) {
                c->log_level = i;
                return DC_OK;
            }
        }
        say(err, cap, "must be error, warn, info or debug");
        return DC_ERR_CONFIG;
    }
    case K_CURRENCY:
        if (strlen(v) != 3) {
            say(err, cap, "must be a 3-letter ISO 4217 code such as CNY");
            return DC_ERR_CONFIG;
        }
        memcpy(pd->code, v, 4);
        return DC_OK;
    case K_DENOMS:
        if (strlen(v) >= sizeof pd->denoms) {
            say(err, cap, "value too long");
            return DC_ERR_CONFIG;
        }
        memcpy(pd->denoms, v, strlen(v) + 1);
        return DC_OK;
    case K_AMOUNT:
        if (strlen(v) >= sizeof pd->offline_limit) {
            say(err, cap, "value too long");
            return DC_ERR_CONFIG;
        }
        memcpy(pd->offline_limit, v, strlen(v) + 1);
        return DC_OK;
    case K_HEX64:
        if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64) {
            say(err, cap, "must be 64 lower-case hex digits");
            return DC_ERR_CONFIG;
        }
        memcpy(field, v, 65);
        return DC_OK;
    }
    return DC_ERR_INTERNAL;
}

/* Applies the keys that depend on each other (currency first). */
static enum dc_err finish(struct dc_config *c, const struct pending *pd, const char *path,
                          char *err, size_t cap)
{
    struct dc_currency old = c->currency; /* dc_currency_init writes its output first */
    enum dc_err e = dc_currency_init(&c->currency, pd->code[0] ? pd->code : old.code,
                                     pd->numeric ? pd->numeric : old.numeric,
                                     pd->exponent != ~0u ? pd->exponent : old.exponent);
    if (e != DC_OK) {
        say(err, cap, "%s: [ducat] currency: '%s': %s", path, pd->code, dc_err_str(e));
        return DC_ERR_CONFIG;
    }
    if (pd->offline_limit[0]) {
        struct dc_amount a;
        e = dc_amount_parse(&a, &c->currency, pd->offline_limit, strlen(pd->offline_limit), 0);
        if (e != DC_OK) {
            say(err, cap, "%s: [limits] default_offline_limit: '%s': %s", path, pd->offline_limit,
                dc_err_str(e));
            return DC_ERR_CONFIG;
        }
        c->default_offline_limit = a.minor;
    }
    if (pd->denoms[0]) {
        const char *v = pd->denoms;
        if (strncmp(v, "series125 ", 10) == 0) {
            char lo[64], hi[64];
            struct dc_amount a, b;
            if (sscanf(v + 10, "%63s %63s", lo, hi) != 2 ||
                dc_amount_parse(&a, &c->currency, lo, strlen(lo), 0) != DC_OK ||
                dc_amount_parse(&b, &c->currency, hi, strlen(hi), 0) != DC_OK ||
                dc_denoms_series125(&c->denoms, a.minor, b.minor) != DC_OK) {
                say(err, cap,
                    "%s: [ducat] denominations: '%s': expected 'series125 MIN MAX' "
                    "with amounts such as 0.01 and 500",
                    path, v);
                return DC_ERR_CONFIG;
            }
        } else {
            e = dc_denoms_parse(&c->denoms, &c->currency, v, strlen(v));
            if (e != DC_OK) {
                say(err, cap, "%s: [ducat] denominations: '%s': %s", path, v, dc_err_str(e));
                return DC_ERR_CONFIG;
            }
        }
    }
    return dc_config_check(c, err, cap);
}

enum dc_err dc_config_check(const struct dc_config *c, char *err, size_t cap)
{
    /* DESIGN.md section 6, the exposure bound: a coin issued at t0 can have a
     * branch deposited at t0 (released at t0 + F at the earliest) and another
     * at t0 + E + G at the latest. If E + G <= F, every branch of a fork
     * arrives while all credits descending from it are still frozen. F is
     * counted in working days, which are at least as many calendar days, so
     * E + G <= working_days (in days) is sufficient. */
    if (c->coin_lifetime_days + c->deposit_grace_days > c->hold_working_days) {
        say(err, cap,
            "coin_lifetime_days (%u) + deposit_grace_days (%u) exceeds [hold] working_days (%u): "
            "a double spend deposited late could then find the first branch's credit already "
            "released, so the loss could not be frozen; shorten the coin lifetime or grace, "
            "or lengthen the hold",
            c->coin_lifetime_days, c->deposit_grace_days, c->hold_working_days);
        return DC_ERR_CONFIG;
    }
    if (c->cert_lifetime_days > c->coin_lifetime_days * 4 + 30) {
        say(err, cap, "cert_lifetime_days (%u) is implausibly long", c->cert_lifetime_days);
        return DC_ERR_CONFIG;
    }
    if (c->denoms.n == 0) {
        say(err, cap, "no denominations configured");
        return DC_ERR_CONFIG;
    }
    return DC_OK;
}

enum dc_err dc_config_parse(struct dc_config *c, const char *path, const char *text, size_t len,
                            char *err, size_t cap)
{
    struct pending pd;
    memset(&pd, 0, sizeof pd);
    pd.exponent = ~0u;
    char section[32] = "";
    char line[2048];
    size_t lineno = 0, i = 0;
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof c->dir) n = sizeof c->dir - 1;
        memcpy(c->dir, path, n);
        c->dir[n] = '\0';
    } else {
        snprintf(c->dir, sizeof c->dir, ".");
    }
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        lineno++;
        if (j - i >= sizeof line) {
            say(err, cap, "%s:%zu: line too long", path, lineno);
            return DC_ERR_CONFIG;
        }
        memcpy(line, text + i, j - i);
        line[j - i] = '\0';
        i = j + 1;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end || end[1] != '\0' || end - s - 1 <= 0 || (size_t)(end - s) >= sizeof section) {
                say(err, cap, "%s:%zu: malformed section header '%s'", path, lineno, s);
                return DC_ERR_CONFIG;
            }
            *end = '\0';
            snprintf(section, sizeof section, "%s", s + 1);
            int known = 0;
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
                if (strcmp(keys[k].section, section) == 0) known = 1;
            }
            if (!known) {
                say(err, cap, "%s:%zu: unknown section '[%s]'", path, lineno, section);
                return DC_ERR_CONFIG;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            say(err, cap, "%s:%zu: expected 'key = value', got '%s'", path, lineno, s);
            return DC_ERR_CONFIG;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        const struct key *found = NULL;
        for (size_t n = 0; n < sizeof keys / sizeof keys[0]; n++) {
            if (strcmp(keys[n].section, section) == 0 && strcmp(keys[n].name, k) == 0) {
                found = &keys[n];
            }
        }
        if (!found) {
            say(err, cap, "%s:%zu: unknown key '%s' in [%s]", path, lineno, k,
                section[0] ? section : "(no section)");
            return DC_ERR_CONFIG;
        }
        char why[256];
        if (set_key(c, &pd, found, v, why, sizeof why) != DC_OK) {
            say(err, cap, "%s:%zu: [%s] %s: '%s': %s", path, lineno, section, k, v, why);
            return DC_ERR_CONFIG;
        }
    }
    return finish(c, &pd, path, err, cap);
}

enum dc_err dc_config_load(struct dc_config *c, const char *path, char *err, size_t cap)
{
    dc_config_defaults(c);
    FILE *f = fopen(path, "r");
    if (!f) {
        say(err, cap, "cannot open config '%s': %s", path, strerror(errno));
        return DC_ERR_CONFIG;
    }
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f) || !feof(f);
    fclose(f);
    if (bad) {
        say(err, cap, "cannot read config '%s' (larger than 64 KiB?)", path);
        return DC_ERR_CONFIG;
    }
    if (memchr(buf, '\0', n)) {
        say(err, cap, "config '%s' contains a NUL byte", path);
        return DC_ERR_CONFIG;
    }
    return dc_config_parse(c, path, buf, n, err, cap);
}

void dc_config_path(const struct dc_config *c, const char *p, char *out, size_t cap)
{
    if (p[0] == '/' || strncmp(p, "postgres", 8) == 0) {
        snprintf(out, cap, "%s", p);
    } else if (strncmp(p, "sqlite:", 7) == 0) {
        if (p[7] == '/') {
            snprintf(out, cap, "%s", p);
        } else {
            snprintf(out, cap, "sqlite:%s/%s", c->dir, p + 7);
        }
    } else {
        snprintf(out, cap, "%s/%s", c->dir, p);
    }
}

void dc_config_help(FILE *f)
{
    fprintf(f, "usage: ducatd help config\n\n"
               "The configuration file of ducatd: INI format, [section] headers, key = value\n"
               "lines and # comments. Relative paths are relative to the file's directory.\n"
               "An unknown section or key, or an invalid value, stops ducatd with one line\n"
               "naming the file, line, key and value. 'ducatd init' writes every key.\n");
    const char *section = "";
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            fprintf(f, "\n[%s]:\n", section);
        }
        fprintf(f, "  %s = %s\n      %s\n", keys[i].name, keys[i].dflt, keys[i].doc);
    }
}
