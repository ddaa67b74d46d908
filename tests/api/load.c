/*
 * load.c - the client load shared by test_api_multi and test_api_failover
 * (see load.h).
 */
#define DUCAT_HARNESS_IMPL /* uses the harness without test.h: fails through h_fail */
#include "load.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct load W;

long long load_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void load_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void load_error(const char *fmt, ...)
{
    pthread_mutex_lock(&W.mu);
    if (!W.error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(W.error, sizeof W.error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&W.mu);
}

void load_init(struct srv *const *inst, int n, long long max_amount, long retry_ms)
{
    memset(&W, 0, sizeof W);
    pthread_mutex_init(&W.mu, NULL);
    if (n <= 0 || n > LOAD_INST_MAX) h_fail(__FILE__, __LINE__, "%d instances", n);
    W.n_inst = n;
    W.max_amount = max_amount;
    W.retry_ms = retry_ms;
    for (int u = 0; u < LOAD_USERS; u++) {
        char name[32];
        snprintf(name, sizeof name, "User %d", u);
        dev_setup(inst[u % n], &W.users[u], name, LOAD_FUNDS);
        W.avail[u] = LOAD_FUNDS;
    }
    for (int i = 0; i < n; i++) W.inst[i] = *inst[i];
}

int load_post(int start, const struct dev *d, const char *path, const char *body, json_t **out)
{
    *out = NULL;
    long long t0 = load_ms();
    for (int k = 0; load_ms() - t0 < W.retry_ms; k++) {
        int i = (start + k) % W.n_inst;
        if (atomic_load(&W.dead[i])) continue;
        long long sent = load_ms();
        int st = api(&W.inst[i], d, "POST", path, body, out);
        if (st != 0 && st != 503) {
            long long ka = atomic_load(&W.killed_at);
            if (st / 100 == 2 && ka != 0 && sent > ka) {
                long long none = 0;
                atomic_compare_exchange_strong(&W.first_ok_after, &none, load_ms());
            }
            return st;
        }
        json_decref(*out);
        *out = NULL;
        pthread_mutex_lock(&W.mu);
        W.retries++;
        if (st == 503) W.ok_503++;
        pthread_mutex_unlock(&W.mu);
        load_sleep_ms(20);
    }
    return 0;
}

/* The error's name and hint for a failure message ("" if none). */
static const char *err_text(const json_t *j, char *out, size_t cap)
{
    const char *n = j ? json_string_value(json_object_get(j, "name")) : NULL;
    const char *h = j ? json_string_value(json_object_get(j, "hint")) : NULL;
    snprintf(out, cap, "%s %s", n ? n : "", h ? h : "");
    return out;
}

static int is_insufficient(const json_t *j)
{
    const char *n = j ? json_string_value(json_object_get(j, "name")) : NULL;
    return n && strcmp(n, "DC_ERR_INSUFFICIENT_FUNDS") == 0;
}

void load_transfer(struct load_client *c, int start)
{
    int to = (c->u + 1 + (int)(rand_r(&c->seed) % (LOAD_USERS - 1))) % LOAD_USERS;
    long long amount = 1 + (long long)rand_r(&c->seed) % W.max_amount;
    char rid[40], body[256];
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%lld}", rid,
             W.users[to].account, amount);
    json_t *j;
    int st = load_post(start, &W.users[c->u], "/v1/transfers", body, &j);
    pthread_mutex_lock(&W.mu);
    if (st == 201) {
        W.avail[c->u] -= amount;
        W.avail[to] += amount;
        W.ok_transfers++;
        if (atomic_load(&W.killed_at) == 0) memcpy(W.replay[c->u], body, sizeof body);
    } else if (st == 409 && is_insufficient(j)) {
        W.refused++;
    } else if (!W.error[0]) {
        char t[256];
        snprintf(W.error, sizeof W.error, "transfer %s: status %d %s", rid, st,
                 err_text(j, t, sizeof t));
    }
    pthread_mutex_unlock(&W.mu);
    json_decref(j);
}

void load_withdraw(struct load_client *c, int start)
{
    char rid[40], body[128];
    new_request_id(rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"amount\":100}", rid);
    json_t *j;
    int st = load_post(start, &W.users[c->u], "/v1/withdrawals", body, &j);
    if (st == 201) {
        json_t *arr = json_object_get(j, "coins");
        for (size_t k = 0; k < json_array_size(arr) && c->ncoins < c->cap; k++) {
            coin_from_hex(&c->coins[c->ncoins], json_string_value(json_array_get(arr, k)));
            c->ncoins++;
        }
        pthread_mutex_lock(&W.mu);
        W.avail[c->u] -= 100;
        W.withdrawals++;
        pthread_mutex_unlock(&W.mu);
    } else if (!(st == 409 && is_insufficient(j))) {
        char t[256];
        load_error("withdrawal %s: status %d %s", rid, st, err_text(j, t, sizeof t));
    }
    json_decref(j);
}

void load_deposit(struct load_client *c, size_t k, int start)
{
    coin_deposit(&c->coins[k], &W.users[c->u], W.users[c->u].account);
    char rid[40];
    new_request_id(rid);
    char *hex = coin_hex(&c->coins[k]);
    size_t cap = hex ? strlen(hex) + 128 : 0;
    char *body = hex ? malloc(cap) : NULL;
    if (!body) {
        free(hex);
        load_error("deposit %s: out of memory", rid);
        return;
    }
    snprintf(body, cap, "{\"request_id\":\"%s\",\"coins\":[\"%s\"]}", rid, hex);
    free(hex);
    json_t *j;
    int st = load_post(start, &W.users[c->u], "/v1/deposits", body, &j);
    free(body);
    json_t *credited = j ? json_object_get(j, "credited") : NULL;
    if (st == 201 && json_is_integer(credited)) {
        pthread_mutex_lock(&W.mu);
        W.held[c->u] += json_integer_value(credited);
        W.deposits++;
        pthread_mutex_unlock(&W.mu);
    } else {
        char t[256];
        load_error("deposit %s: status %d %s", rid, st, err_text(j, t, sizeof t));
    }
    json_decref(j);
}

void load_check_books(const struct srv *s)
{
    for (int u = 0; u < LOAD_USERS; u++) {
        json_t *j;
        int st = api(s, &W.users[u], "GET", "/v1/balance", NULL, &j);
        if (st != 200) h_fail(__FILE__, __LINE__, "user %d: balance answered %d", u, st);
        long long av = json_int(j, "available"), held = json_int(j, "held");
        json_decref(j);
        if (av < 0 || held < 0 || av != W.avail[u] || held != W.held[u]) {
            h_fail(__FILE__, __LINE__,
                   "user %d: available %lld held %lld, the answers say %lld and %lld", u, av, held,
                   W.avail[u], W.held[u]);
        }
    }
}
