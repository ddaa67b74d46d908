/*
 * metrics.c - Prometheus text exposition (see metrics.h).
 */
#include "server/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* latency buckets in microseconds (no floating point anywhere) */
static const uint64_t lat_buckets_us[] = {500,   1000,  2000,   5000,   10000,
                                          25000, 50000, 100000, 250000, 1000000};
#define NLAT (sizeof lat_buckets_us / sizeof lat_buckets_us[0])
static const unsigned batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define NBATCH (sizeof batch_buckets / sizeof batch_buckets[0])

static const char *const counter_names[DC_M_COUNT][2] = {
    {"ducat_transfers_total", "Online transfers settled"},
    {"ducat_withdrawals_total", "Withdrawals to coins"},
    {"ducat_coins_issued_total", "Coins issued"},
    {"ducat_deposits_total", "Deposit requests settled"},
    {"ducat_coins_deposited_total", "Coins deposited"},
    {"ducat_forks_total", "Double-spend cases opened"},
    {"ducat_holds_released_total", "Held credits released"},
    {"ducat_idempotent_replays_total", "Requests answered from the idempotency store"},
    {"ducat_auth_failures_total", "Rejected authentications"},
    {"ducat_coin_signatures_verified_total",
     "Coin signatures verified at deposit (those already verified are skipped)"},
};

struct route_stats {
    const char *name;
    uint64_t by_class[6]; /* 1xx..5xx */
    uint64_t lat[NLAT + 1];
    uint64_t lat_sum_us, lat_count;
};

struct dc_metrics {
    pthread_mutex_t lock;
    struct route_stats routes[DC_METRICS_ROUTES];
    uint64_t counters[DC_M_COUNT];
    uint64_t commits, batch[NBATCH + 1], batch_sum;
};

struct dc_metrics *dc_metrics_new(void)
{
    struct dc_metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->lock, NULL);
    return m;
}

void dc_metrics_free(struct dc_metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void dc_metrics_set_route_name(struct dc_metrics *m, size_t route, const char *name)
{
    if (route < DC_METRICS_ROUTES) m->routes[route].name = name;
}

void dc_metrics_request(struct dc_metrics *m, size_t route, int status, uint64_t micros)
{
    if (route >= DC_METRICS_ROUTES) route = DC_METRICS_ROUTES - 1;
    pthread_mutex_lock(&m->lock);
    struct route_stats *r = &m->routes[route];
    int cls = status / 100;
    r->by_class[cls >= 1 && cls <= 5 ? cls : 0]++;
    size_t b = 0;
    while (b < NLAT && micros > lat_buckets_us[b]) b++;
    r->lat[b]++;
    r->lat_sum_us += micros;
    r->lat_count++;
    pthread_mutex_unlock(&m->lock);
}

void dc_metrics_add(struct dc_metrics *m, enum dc_counter c, uint64_t n)
{
    pthread_mutex_lock(&m->lock);
    m->counters[c] += n;
    pthread_mutex_unlock(&m->lock);
}

void dc_metrics_commit(struct dc_metrics *m, size_t batch)
{
    pthread_mutex_lock(&m->lock);
    m->commits++;
    size_t b = 0;
    while (b < NBATCH && batch > batch_buckets[b]) b++;
    m->batch[b]++;
    m->batch_sum += batch;
    pthread_mutex_unlock(&m->lock);
}

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

char *dc_metrics_render(struct dc_metrics *m)
{
    struct buf b = {malloc(4096), 0, 4096, 0};
    if (!b.p) return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&m->lock);
    put(&b, "# HELP ducat_http_requests_total HTTP requests by route and status class\n"
            "# TYPE ducat_http_requests_total counter\n");
    for (size_t i = 0; i < DC_METRICS_ROUTES; i++) {
        const struct route_stats *r = &m->routes[i];
        if (!r->name) continue;
        for (int c = 1; c <= 5; c++) {
            if (r->by_class[c]) {
                put(&b, "ducat_http_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n", r->name,
                    c, (unsigned long long)r->by_class[c]);
            }
        }
    }
    put(&b, "# HELP ducat_http_request_seconds Request latency by route\n"
            "# TYPE ducat_http_request_seconds histogram\n");
    for (size_t i = 0; i < DC_METRICS_ROUTES; i++) {
        const struct route_stats *r = &m->routes[i];
        if (!r->name || !r->lat_count) continue;
        uint64_t cum = 0;
        for (size_t k = 0; k < NLAT; k++) {
            cum += r->lat[k];
            put(&b, "ducat_http_request_seconds_bucket{route=\"%s\",le=\"%llu.%06llu\"} %llu\n",
                r->name, (unsigned long long)(lat_buckets_us[k] / 1000000),
                (unsigned long long)(lat_buckets_us[k] % 1000000), (unsigned long long)cum);
        }
        put(&b, "ducat_http_request_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", r->name,
            (unsigned long long)r->lat_count);
        put(&b, "ducat_http_request_seconds_sum{route=\"%s\"} %llu.%06llu\n", r->name,
            (unsigned long long)(r->lat_sum_us / 1000000),
            (unsigned long long)(r->lat_sum_us % 1000000));
        put(&b, "ducat_http_request_seconds_count{route=\"%s\"} %llu\n", r->name,
            (unsigned long long)r->lat_count);
    }
    for (int c = 0; c < DC_M_COUNT; c++) {
        put(&b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_names[c][0],
            counter_names[c][1], counter_names[c][0], counter_names[c][0],
            (unsigned long long)m->counters[c]);
    }
    put(&b, "# HELP ducat_commit_batch_size Requests per durable commit (group commit)\n"
            "# TYPE ducat_commit_batch_size histogram\n");
    uint64_t cum = 0;
    for (size_t k = 0; k < NBATCH; k++) {
        cum += m->batch[k];
        put(&b, "ducat_commit_batch_size_bucket{le=\"%u\"} %llu\n", batch_buckets[k],
            (unsigned long long)cum);
    }
    put(&b, "ducat_commit_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)m->commits);
    put(&b, "ducat_commit_batch_size_sum %llu\nducat_commit_batch_size_count %llu\n",
        (unsigned long long)m->batch_sum, (unsigned long long)m->commits);
    put(&b, "# HELP ducat_commits_total Durable commits\n# TYPE ducat_commits_total counter\n"
            "ducat_commits_total %llu\n",
        (unsigned long long)m->commits);
    pthread_mutex_unlock(&m->lock);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
