/*
 * config.h - ducatd's configuration: an INI file, every key documented with
 * its default in docs/OPERATIONS.md. Parsing validates everything up front
 * (currency, denominations, limits, the exposure bound) and names the bad
 * line and value, so a server never starts on a configuration it would
 * misread.
 */
#ifndef DUCAT_SERVER_CONFIG_H
#define DUCAT_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ducat/amount.h"
#include "ducat/err.h"

#define DC_PATH_MAX 1024

struct dc_config {
    char dir[DC_PATH_MAX];        /* directory of the config file: relative paths start here */
    char store[DC_PATH_MAX];      /* [ducat] store */
    unsigned store_timeout_ms;    /* [ducat] store_timeout_ms: PostgreSQL answer wait (0: none) */
    struct dc_currency currency;  /* [ducat] currency, currency_numeric, currency_exponent */
    struct dc_denoms denoms;      /* [ducat] denominations */
    char listen[128];             /* [server] listen */
    unsigned threads;             /* [server] threads */
    size_t max_body;              /* [server] max_body_bytes */
    unsigned io_threads;          /* [server] io_threads: epoll loops serving sockets */
    unsigned max_connections;     /* [server] max_connections: open sockets in all */
    unsigned per_ip_connections;  /* [server] per_ip_connections: from one address (0: any) */
    unsigned idle_timeout_s;      /* [server] idle_timeout_s: a socket silent this long closes */
    unsigned header_timeout_s;    /* [server] header_timeout_s: a request's headers, in all */
    unsigned body_timeout_s;      /* [server] body_timeout_s: a request's body, in all */
    unsigned trust_reload_s;      /* [server] trust_reload_s: keys/revocations re-read */
    int log_level;                /* [server] log_level: 0 error, 1 warn, 2 info, 3 debug */
    unsigned release_interval_s;  /* [server] release_interval_s */
    int log_json;                 /* [server] log_json: JSON lines instead of text */
    char log_file[DC_PATH_MAX];   /* [server] log_file: "" = stderr; reopened on SIGHUP */
    int console;                  /* [server] console: serve /admin (web/) */
    char master_key[DC_PATH_MAX]; /* [keys] master_key ("" = kept offline) */
    char signing_key_dir[DC_PATH_MAX]; /* [keys] signing_key_dir */
    int64_t default_offline_limit;     /* [limits] default_offline_limit (minor units) */
    unsigned max_hops;                 /* [limits] max_hops */
    unsigned max_split_parts;          /* [limits] max_split_parts */
    unsigned coin_lifetime_days;       /* [limits] coin_lifetime_days */
    unsigned deposit_grace_days;       /* [limits] deposit_grace_days */
    unsigned cert_lifetime_days;       /* [limits] cert_lifetime_days */
    unsigned max_coins_per_withdrawal; /* [limits] */
    unsigned max_batch_transfers;      /* [limits] */
    unsigned clock_skew_s;             /* [limits] clock_skew_s: request time window */
    unsigned hold_working_days;        /* [hold] working_days */
    char calendar[DC_PATH_MAX];        /* [hold] calendar */
    int auto_verify;                   /* [policy] auto_verify */
    int auto_resolve;                  /* [policy] auto_resolve */
    char admin_token_hash[65];         /* [admin] token_hash: hex BLAKE2b-256 of the token */
    char metrics_token_hash[65];       /* [metrics] token_hash: "" = /metrics is public */
    unsigned gc_max_batch;             /* [group_commit] max_batch */
    unsigned gc_max_wait_us;           /* [group_commit] max_wait_us */
    char clock_file[DC_PATH_MAX];      /* [dev] clock_file: tests only */
};

/* Defaults for every key (what docs/OPERATIONS.md lists). */
void dc_config_defaults(struct dc_config *c);

/* Parses text (from file `path`, for messages and relative paths). On error,
 * err holds one line: "ducat.conf:12: [limits] max_hops: '99': must be 1..64". */
enum dc_err dc_config_parse(struct dc_config *c, const char *path, const char *text, size_t len,
                            char *err, size_t errcap);
enum dc_err dc_config_load(struct dc_config *c, const char *path, char *err, size_t errcap);

/* Resolves a configured path against c->dir into out. */
void dc_config_path(const struct dc_config *c, const char *p, char *out, size_t cap);

/* Cross-checks (exposure bound, limits); called by parse. */
enum dc_err dc_config_check(const struct dc_config *c, char *err, size_t errcap);

/* Prints every section and key with its default and meaning: the one source of
 * `ducatd help config` and of the ducat.conf(5) man page. */
void dc_config_help(FILE *f);

#endif
