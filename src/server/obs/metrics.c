/*
 * metrics.c - Prometheus text exposition (see metrics.h).
 */
#include "server/obs/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    {"ducat_funds_total", "Operator cash-ins to accounts (API and ducatd fund)"},
    {"ducat_payouts_total", "Operator cash-outs from accounts (API and ducatd payout)"},
    {"ducat_cases_decided_total", "Cases resolved by an operator's decision (API and CLI)"},
    {"ducat_account_actions_total", "Accounts verified, frozen or unfrozen (API and CLI)"},
    {"ducat_key_changes_total", "Signing keys rotated, imported or revoked (ducatd keys)"},
    {"ducat_store_full_total", "Requests refused because the database's disk was full"},
    {"ducat_store_retries_total",
     "Writer transactions lost to another instance's conflicting transaction or a lost "
     "connection, and re-run"},
};

const char *dc_metrics_counter_name(enum dc_counter c)
{
    return (unsigned)c < DC_M_COUNT ? counter_names[c][0] : "";
}

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

/* Prints ms since the epoch as seconds with three decimals (no floats). */
static void put_seconds(struct buf *b, const char *name, uint64_t ms)
{
    put(b, "%s %llu.%03llu\n", name, (unsigned long long)(ms / 1000),
        (unsigned long long)(ms % 1000));
}

static void put_gauge(struct buf *b, const char *name, const char *help, const char *labels,
                      long long v)
{
    put(b, "# HELP %s %s\n# TYPE %s gauge\n%s%s %lld\n", name, help, name, name, labels, v);
}

/* /proc/self facts: resident memory, open descriptors, CPU time. */
static void put_process(struct buf *b, const struct dc_process_info *p)
{
    put(b,
        "# HELP ducat_build_info Version and store backend of this ducatd\n"
        "# TYPE ducat_build_info gauge\n"
        "ducat_build_info{version=\"%s\",store=\"%s\",currency=\"%s\"} 1\n",
        p->version, p->store, p->currency);
    put(b, "# HELP process_start_time_seconds Start time of the process since the epoch\n"
           "# TYPE process_start_time_seconds gauge\n");
    put_seconds(b, "process_start_time_seconds", p->start_ms);
    FILE *f = fopen("/proc/self/stat", "r");
    unsigned long long ut = 0, stime = 0, rss = 0;
    if (f) {
        /* fields 14, 15 (utime, stime in ticks) and 24 (rss in pages); the
         * command name (field 2) may hold spaces, so skip past its ')' */
        char line[1024];
        char *r = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
        if (!r || sscanf(r + 2,
                         "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
                         "%*d %*d %*d %*d %*u %*u %llu",
                         &ut, &stime, &rss) != 3) {
            ut = stime = rss = 0;
        }
        fclose(f);
    }
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (tick > 0) {
        unsigned long long t = ut + stime, hz = (unsigned long long)tick;
        put(b,
            "# HELP process_cpu_seconds_total User and system CPU time\n"
            "# TYPE process_cpu_seconds_total counter\n"
            "process_cpu_seconds_total %llu.%02llu\n",
            t / hz, (t % hz) * 100 / hz);
    }
    if (page > 0) {
        put_gauge(b, "process_resident_memory_bytes", "Resident memory", "",
                  (long long)(rss * (unsigned long long)page));
    }
    long long fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *e; (e = readdir(d));) fds += e->d_name[0] != '.';
        closedir(d);
        put_gauge(b, "process_open_fds", "Open file descriptors", "", fds - 1 /* ours */);
    }
}

static void put_gauges(struct buf *b, const struct dc_gauges *g, const char *cur)
{
    char l[48];
    snprintf(l, sizeof l, "{currency=\"%s\"}", cur);
    put_gauge(b, "ducat_cases_open", "Double-spend cases not yet resolved", "", g->cases_open);
    put_gauge(b, "ducat_cases_exposure_minor_units",
              "Open cases: value credited provisionally and not yet recovered", l, g->exposure);
    put_gauge(b, "ducat_frozen_minor_units", "Held credits frozen by cases", l, g->frozen);
    put_gauge(b, "ducat_held_minor_units", "All held credits in the frozen box (frozen included)",
              l, g->held);
    put_gauge(b, "ducat_offline_float_minor_units", "Balance of the offline float account", l,
              g->float_out);
    put_gauge(b, "ducat_calendar_coverage_days",
              "Days the working-day calendar covers after today (0: past its end)", "",
              g->calendar_days_left);
    put_gauge(b, "ducat_holds_release_provisional",
              "Open holds whose release date waits for a calendar covering it", "",
              g->holds_provisional);
    put_gauge(b, "ducat_nonce_table_entries", "Entries in the replay-protection nonce table", "",
              (long long)g->nonces);
    put(b, "# HELP ducat_signing_key_sign_until_seconds The current signing key stops signing\n"
           "# TYPE ducat_signing_key_sign_until_seconds gauge\n");
    put_seconds(b, "ducat_signing_key_sign_until_seconds", g->key_sign_until_ms);
    put(b, "# HELP ducat_signing_key_verify_until_seconds What the current key signed stops "
           "verifying\n# TYPE ducat_signing_key_verify_until_seconds gauge\n");
    put_seconds(b, "ducat_signing_key_verify_until_seconds", g->key_verify_until_ms);
    if (g->has_audit) {
        put_gauge(b, "ducat_audit_last_ok", "1 if the last audit proved conservation", "",
                  g->audit_ok);
        put(b, "# HELP ducat_audit_last_run_timestamp_seconds When the last audit ran\n"
               "# TYPE ducat_audit_last_run_timestamp_seconds gauge\n");
        put_seconds(b, "ducat_audit_last_run_timestamp_seconds", g->audit_at_ms);
    }
}

char *dc_metrics_render(struct dc_metrics *m, const uint64_t *shared, const struct dc_gauges *g,
                        const struct dc_process_info *p)
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
                put(&b, "ducat_http_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n", r->name, c,
                    (unsigned long long)r->by_class[c]);
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
            (unsigned long long)(m->counters[c] + (shared ? shared[c] : 0)));
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
    put(&b,
        "# HELP ducat_commits_total Durable commits\n# TYPE ducat_commits_total counter\n"
        "ducat_commits_total %llu\n",
        (unsigned long long)m->commits);
    pthread_mutex_unlock(&m->lock);
    if (g && g->ok) put_gauges(&b, g, p ? p->currency : "");
    if (p) put_process(&b, p);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
