/*
 * metrics.h - counters and histograms served at GET /metrics in the
 * Prometheus text format. Thread-safe; cheap enough for every request.
 */
#ifndef DUCAT_SERVER_METRICS_H
#define DUCAT_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define DC_METRICS_ROUTES 48

enum dc_counter {
    DC_M_TRANSFERS,       /* transfers settled (batch items count one each) */
    DC_M_WITHDRAWALS,     /* withdrawals */
    DC_M_COINS_ISSUED,    /* coins issued */
    DC_M_DEPOSITS,        /* deposit requests settled */
    DC_M_COINS_DEPOSITED, /* coins deposited */
    DC_M_FORKS,           /* cases opened */
    DC_M_HOLDS_RELEASED,  /* holds released */
    DC_M_IDEMPOTENT_REPLAYS,
    DC_M_AUTH_FAILURES,
    DC_M_SIGS_VERIFIED,   /* coin signatures verified at deposit (cache hits excluded) */
    DC_M_FUNDS,           /* operator cash-ins (API and CLI) */
    DC_M_PAYOUTS,         /* operator cash-outs (API and CLI) */
    DC_M_CASES_DECIDED,   /* cases resolved by an operator's decision (API and CLI) */
    DC_M_ACCOUNT_ACTIONS, /* verify, freeze, unfreeze that changed an account (API and CLI) */
    DC_M_KEY_CHANGES,     /* signing keys rotated, imported or revoked (CLI) */
    DC_M_STORE_FULL,      /* requests refused because the database's disk was full */
    DC_M_STORE_RETRIES,   /* writer transactions lost to a race or a lost connection, re-run */
    DC_M_COUNT
};

/* What GET /metrics reads from the store at each scrape (gauges.c). Money in
 * minor units of the deployment's currency (the metric names say so). */
struct dc_gauges {
    int ok; /* 0: the store could not be read; gauges omitted */
    int64_t cases_open;
    int64_t exposure;  /* open cases: credits paid provisionally, not yet recovered */
    int64_t frozen;    /* holds frozen by cases */
    int64_t held;      /* every held credit (frozen included) */
    int64_t float_out; /* the offline float account: coins outstanding */
    uint32_t key_id;   /* the current signing key */
    uint64_t key_sign_until_ms, key_verify_until_ms;
    int has_audit, audit_ok;
    uint64_t audit_at_ms;
    size_t nonces;              /* entries in the replay-protection table */
    int64_t calendar_days_left; /* whole days the calendar covers after today */
    int64_t holds_provisional;  /* open holds whose release date is provisional */
};

/* Process and build facts for the exposition. */
struct dc_process_info {
    const char *version, *store, *currency;
    uint64_t start_ms;
};

struct dc_metrics;

struct dc_metrics *dc_metrics_new(void);
void dc_metrics_free(struct dc_metrics *m);
/* A route's name for labels (static strings from the route table). */
void dc_metrics_set_route_name(struct dc_metrics *m, size_t route, const char *name);
void dc_metrics_request(struct dc_metrics *m, size_t route, int status, uint64_t micros);
void dc_metrics_add(struct dc_metrics *m, enum dc_counter c, uint64_t n);
void dc_metrics_commit(struct dc_metrics *m, size_t batch);
/* The exposition name of counter c ("ducat_holds_released_total"). */
const char *dc_metrics_counter_name(enum dc_counter c);
/* Renders everything; returns a malloc'd NUL-terminated string. Each counter
 * is this process's count plus shared[c] (the operator commands' share, from
 * the store; NULL: none); g (NULL or !g->ok: omitted) and p add the gauges. */
char *dc_metrics_render(struct dc_metrics *m, const uint64_t *shared, const struct dc_gauges *g,
                        const struct dc_process_info *p);

#endif
