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
    DC_M_COUNT
};

struct dc_metrics;

struct dc_metrics *dc_metrics_new(void);
void dc_metrics_free(struct dc_metrics *m);
/* A route's name for labels (static strings from the route table). */
void dc_metrics_set_route_name(struct dc_metrics *m, size_t route, const char *name);
void dc_metrics_request(struct dc_metrics *m, size_t route, int status, uint64_t micros);
void dc_metrics_add(struct dc_metrics *m, enum dc_counter c, uint64_t n);
void dc_metrics_commit(struct dc_metrics *m, size_t batch);
/* Renders everything; returns a malloc'd NUL-terminated string. */
char *dc_metrics_render(struct dc_metrics *m);

#endif
