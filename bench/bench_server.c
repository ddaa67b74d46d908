/*
 * bench_server.c - `make bench-server`: ducatd throughput on loopback, each
 * figure next to the physical limit it is bounded by, measured in the same
 * run (machines are shared and noisy: ratios, not absolute numbers, are the
 * point; nothing here is gated).
 *
 *   (a) the raw fdatasync rate of the disk that holds the instance: overwrite
 *       a 4 KiB block + fdatasync, in a loop;
 *   (b) durable single transfers/s with BENCH_CLIENTS concurrent clients, each
 *       with its own device, POST /v1/transfers with unique request ids; the
 *       ratio to (a) shows group commit (goal >= 2.5), and the mean commit
 *       batch comes from GET /metrics (delta over the window);
 *   (c) transfers/s through POST /v1/transfers/batch, 1000 per request, from
 *       a few clients (goal >= 50k/s);
 *   (d) deposits/s of 1-hop and 5-hop coins (prepared beforehand: withdrawn,
 *       transferred offline 1 or 5 times, DEPOSIT record; only the deposit
 *       requests are timed), as signatures verified per second against the
 *       raw Ed25519 verify rate on both cores (goal >= 0.8); one coin per
 *       request, plus an extra row with 16 coins per request that shows the
 *       per-request share of the cost.
 * Each timed phase also prints the CPU time per operation of ducatd (from
 * /proc) and of this process, and the bytes ducatd wrote per operation
 * (/proc/PID/io), to tell CPU-, writer- and disk-bound figures apart.
 *
 * Requests go through tests/api/harness.c (one keep-alive libcurl handle per
 * thread). The instance is `ducatd init --auto-verify` with one change: the
 * default offline limit is raised so that one device can hold the coins of
 * (d). Set DUCAT_KEEP_TEST_DIRS=1 to keep the instance (server.log), and
 * BENCH_PHASES to a subset of "abcd" to run only those phases (profiling).
 */
#include "test.h"

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "ducat/auth.h"

#define BENCH_CLIENTS 64 /* (b); BENCH_SINGLE_CLIENTS=N overrides (<= MAX_CLIENTS) */
#define MAX_CLIENTS 256
#define SINGLE_SECONDS 5.0
#define BATCH_CLIENTS 4 /* (c) */
#define BATCH_SIZE 1000
#define BATCH_SECONDS 5.0
#define DEPOSIT_CLIENTS 16 /* (d); BENCH_DEPOSIT_CLIENTS=N overrides (<= MAX_DEP_CLIENTS) */
#define MAX_DEP_CLIENTS 64
#define COINS_1HOP 6000
#define COINS_5HOP 3000
#define COINS_MULTI 8000 /* 1-hop, MULTI_PER_REQ coins per deposit request */
#define MULTI_PER_REQ 16
#define FSYNC_SECONDS 2.0
#define VERIFY_SECONDS 2.0
#define COIN_VALUE 50000 /* the largest denomination: 256 coins per withdrawal */
#define COINS_PER_WITHDRAWAL 256

static struct srv S;

/*--- Utilities ------------------------------------------------------------------------*/

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    return p;
}

/* Replaces the value of `key = ...` in the instance config (first match). */
static void conf_set(const char *key, const char *value)
{
    FILE *f = fopen(S.conf, "r");
    if (f == NULL) h_fail(__FILE__, __LINE__, "open %s", S.conf);
    static char in[1 << 16], out[1 << 16];
    size_t n = fread(in, 1, sizeof in - 1, f);
    fclose(f);
    in[n] = '\0';
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s = ", key);
    char *p = strstr(in, pat);
    if (p == NULL) h_fail(__FILE__, __LINE__, "no '%s' in %s", key, S.conf);
    char *eol = strchr(p + 1, '\n');
    snprintf(out, sizeof out, "%.*s\n%s = %s%s", (int)(p - in), in, key, value, eol ? eol : "\n");
    f = fopen(S.conf, "w");
    if (f == NULL || fputs(out, f) < 0 || fclose(f) != 0) {
        h_fail(__FILE__, __LINE__, "rewrite %s", S.conf);
    }
}

/* Errors seen by worker threads: counted, the first one kept. */
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long n_errors;
static char first_error[512];

static void note_error(const char *what, int status, const char *body)
{
    pthread_mutex_lock(&err_mu);
    if (n_errors++ == 0) {
        snprintf(first_error, sizeof first_error, "%s: %d %.300s%s", what, status, body ? body : "",
                 status == 0 ? api_last_error() : "");
    }
    pthread_mutex_unlock(&err_mu);
}

static void reset_errors(void)
{
    n_errors = 0;
    first_error[0] = '\0';
}

static void print_errors(const char *phase)
{
    if (n_errors)
        printf("   !! %s: %lu failed requests; first: %s\n", phase, n_errors, first_error);
}

/* A signed POST; returns the status (body of a failure noted). */
static int post(const struct dev *d, const char *path, const char *body, const char *what, int want)
{
    struct api_req r;
    memset(&r, 0, sizeof r);
    r.method = "POST";
    r.path = path;
    r.body = body;
    r.dev = d;
    struct api_resp resp;
    int st = api_raw(&S, &r, &resp);
    if (st != want) note_error(what, st, resp.body);
    api_resp_free(&resp);
    return st;
}

/* ducat_commit_batch_size_sum and _count from GET /metrics. */
static int commit_stats(double *sum, double *count)
{
    struct api_req r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.path = "/metrics";
    struct api_resp resp;
    int st = api_raw(&S, &r, &resp);
    int ok = 0;
    if (st == 200) {
        const char *a = strstr(resp.body, "\nducat_commit_batch_size_sum ");
        const char *b = strstr(resp.body, "\nducat_commit_batch_size_count ");
        if (a && b && sscanf(a, " ducat_commit_batch_size_sum %lf", sum) == 1 &&
            sscanf(b, " ducat_commit_batch_size_count %lf", count) == 1) {
            ok = 1;
        }
    }
    api_resp_free(&resp);
    return ok;
}

/* One counter from GET /metrics (-1 if absent). */
static double metric(const char *name)
{
    struct api_req r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.path = "/metrics";
    struct api_resp resp;
    double v = -1;
    if (api_raw(&S, &r, &resp) == 200) {
        char key[128];
        snprintf(key, sizeof key, "\n%s ", name);
        const char *a = strstr(resp.body, key);
        if (a && sscanf(a + strlen(key), "%lf", &v) != 1) v = -1;
    }
    api_resp_free(&resp);
    return v;
}

/* CPU seconds used by the server (from /proc) and by this process over a
 * window, to tell a CPU-bound figure from a disk- or lock-bound one. */
struct cpu {
    double srv, cli, wall, wbytes;
};

/* Bytes the server process has caused to be written to storage. */
static double proc_write_bytes(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *f = fopen(path, "r");
    double v = 0;
    if (f == NULL) return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long n;
        if (sscanf(line, "write_bytes: %llu", &n) == 1) v = (double)n;
    }
    fclose(f);
    return v;
}

static double proc_cpu_s(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    unsigned long long ut = 0, st = 0;
    /* after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        return 0;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cpu_begin(struct cpu *c)
{
    c->srv = proc_cpu_s(S.pid);
    c->cli = self_cpu_s();
    c->wall = now_s();
    c->wbytes = proc_write_bytes(S.pid);
}

static void cpu_end(struct cpu *c)
{
    c->wbytes = proc_write_bytes(S.pid) - c->wbytes;
    c->srv = proc_cpu_s(S.pid) - c->srv;
    c->cli = self_cpu_s() - c->cli;
    c->wall = now_s() - c->wall;
}

static void cpu_print(const struct cpu *c, double n, const char *per)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0 || c->wall <= 0) return;
    printf("    per %s: CPU ducatd %.0f us + bench clients %.0f us (ducatd %.2f cores, clients "
           "%.2f of %ld); ducatd wrote %.1f KB (%.0f MB/s)\n",
           per, c->srv / n * 1e6, c->cli / n * 1e6, c->srv / c->wall, c->cli / c->wall, cores,
           c->wbytes / n / 1024, c->wbytes / c->wall / 1e6);
}

/*--- Results table ----------------------------------------------------------------------*/

struct row {
    char name[64], value[48], goal[24], status[12];
};
static struct row rows[16];
static int n_rows;

static void add_row(const char *name, const char *value, const char *goal, int has_goal, int met)
{
    struct row *r = &rows[n_rows++];
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->value, sizeof r->value, "%s", value);
    snprintf(r->goal, sizeof r->goal, "%s", goal);
    snprintf(r->status, sizeof r->status, "%s", !has_goal ? "" : met ? "MET" : "NOT MET");
}

/*--- (a) fdatasync -------------------------------------------------------------------------*/

static double fdatasync_rate(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/fdatasync-bench.tmp", S.dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) h_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    static uint8_t block[4096];
    randombytes_buf(block, sizeof block);
    if (pwrite(fd, block, sizeof block, 0) != (ssize_t)sizeof block || fsync(fd) != 0) {
        h_fail(__FILE__, __LINE__, "write %s: %s", path, strerror(errno));
    }
    unsigned long n = 0;
    double t0 = now_s(), t;
    do {
        block[n % sizeof block]++;
        if (pwrite(fd, block, sizeof block, 0) != (ssize_t)sizeof block || fdatasync(fd) != 0) {
            h_fail(__FILE__, __LINE__, "overwrite %s: %s", path, strerror(errno));
        }
        n++;
    } while ((t = now_s() - t0) < FSYNC_SECONDS);
    close(fd);
    unlink(path);
    return (double)n / t;
}

/*--- (b) single transfers, (c) batches ----------------------------------------------------*/

static int n_single = BENCH_CLIENTS, n_dep = DEPOSIT_CLIENTS;
static struct dev payers[MAX_CLIENTS];
static atomic_int go, stop;

struct worker {
    int idx;
    pthread_t th;
    unsigned long ok;
};

static void wait_go(void)
{
    while (!atomic_load(&go)) sleep_s(0.0005);
}

static void *single_main(void *arg)
{
    struct worker *w = arg;
    const struct dev *d = &payers[w->idx];
    long long to = payers[(w->idx + 1) % n_single].account;
    char body[192];
    unsigned long n = 0;
    /* warm-up: the connection */
    snprintf(body, sizeof body, "{\"request_id\":\"s%d-w\",\"to\":%lld,\"amount\":1}", w->idx, to);
    post(d, "/v1/transfers", body, "transfer (warm-up)", 201);
    wait_go();
    while (!atomic_load(&stop)) {
        snprintf(body, sizeof body, "{\"request_id\":\"s%d-%lu\",\"to\":%lld,\"amount\":1}", w->idx,
                 ++n, to);
        if (post(d, "/v1/transfers", body, "POST /v1/transfers", 201) == 201) w->ok++;
    }
    return NULL;
}

static struct dev batchers[BATCH_CLIENTS];

static void *batch_main(void *arg)
{
    struct worker *w = arg;
    const struct dev *d = &batchers[w->idx];
    /* the transfers array, once: 1 unit to each payer in turn */
    size_t cap = (size_t)BATCH_SIZE * 48 + 64;
    char *arr = xmalloc(cap), *body = xmalloc(cap + 128);
    size_t len = 0;
    arr[len++] = '[';
    for (int i = 0; i < BATCH_SIZE; i++) {
        len += (size_t)snprintf(arr + len, cap - len, "%s{\"to\":%lld,\"amount\":1}", i ? "," : "",
                                payers[(i + w->idx) % n_single].account);
    }
    snprintf(arr + len, cap - len, "]");
    unsigned long n = 0;
    snprintf(body, cap + 128, "{\"request_id\":\"b%d-w\",\"transfers\":%s}", w->idx, arr);
    post(d, "/v1/transfers/batch", body, "batch (warm-up)", 201);
    wait_go();
    while (!atomic_load(&stop)) {
        snprintf(body, cap + 128, "{\"request_id\":\"b%d-%lu\",\"transfers\":%s}", w->idx, ++n,
                 arr);
        if (post(d, "/v1/transfers/batch", body, "POST /v1/transfers/batch", 201) == 201) {
            w->ok += BATCH_SIZE;
        }
    }
    free(arr);
    free(body);
    return NULL;
}

/* Runs n workers of fn for `seconds` after their warm-up; returns the
 * successes per second. */
static double run_timed(void *(*fn)(void *), int n, double seconds, struct cpu *cpu)
{
    static struct worker ws[MAX_CLIENTS];
    atomic_store(&go, 0);
    atomic_store(&stop, 0);
    for (int i = 0; i < n; i++) {
        ws[i].idx = i;
        ws[i].ok = 0;
        if (pthread_create(&ws[i].th, NULL, fn, &ws[i]) != 0) abort();
    }
    sleep_s(0.5); /* warm-ups */
    double t0 = now_s();
    cpu_begin(cpu);
    atomic_store(&go, 1);
    sleep_s(seconds);
    atomic_store(&stop, 1);
    unsigned long ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].th, NULL);
        ok += ws[i].ok;
    }
    cpu_end(cpu);
    return (double)ok / (now_s() - t0);
}

/*--- (d) deposits ------------------------------------------------------------------------*/

static struct dev withdrawer, hops[4], depositors[MAX_DEP_CLIENTS];

struct cc {
    uint8_t *b;
    size_t len;
};

struct dep_worker {
    int idx;
    pthread_t th;
    int nhops;
    int per_req;      /* coins per deposit request */
    struct cc *coins; /* coin i goes to worker i % n_dep */
    size_t n_coins;
    char **bodies;
    int *body_coins;
    size_t n_bodies;
    unsigned long ok;
    const char *prep_error;
};

static struct dep_worker dws[MAX_DEP_CLIENTS];

/* Offline part, in the worker: the hops, the DEPOSIT record, the bodies
 * (per_req coins each). */
static void *prep_main(void *arg)
{
    struct dep_worker *w = arg;
    uint8_t *buf = xmalloc(DC_COIN_MAX_BYTES);
    const struct dev *dep = &depositors[w->idx];
    size_t nb = (w->n_coins + (size_t)w->per_req - 1) / (size_t)w->per_req;
    w->bodies = xmalloc((nb + 1) * sizeof *w->bodies);
    w->body_coins = xmalloc((nb + 1) * sizeof *w->body_coins);
    w->n_bodies = 0;
    char *body = NULL;
    size_t blen = 0, bcap = 0;
    int in_body = 0;
    for (size_t i = 0; i < w->n_coins; i++) {
        memcpy(buf, w->coins[i].b, w->coins[i].len);
        size_t len = w->coins[i].len;
        const struct dev *owner = &withdrawer;
        for (int h = 0; h < w->nhops; h++) {
            const struct dev *to = h == w->nhops - 1 ? dep : &hops[h];
            uint8_t nonce[DC_NONCE_BYTES];
            randombytes_buf(nonce, sizeof nonce);
            if (dc_coin_transfer(buf, DC_COIN_MAX_BYTES, &len, owner->sk, to->devcert, nonce) !=
                DC_OK) {
                w->prep_error = "dc_coin_transfer failed";
                goto out;
            }
            owner = to;
        }
        if (dc_coin_deposit(buf, DC_COIN_MAX_BYTES, &len, dep->sk, (uint64_t)dep->account,
                            h_now_ms()) != DC_OK) {
            w->prep_error = "dc_coin_deposit failed";
            goto out;
        }
        if (in_body == 0) {
            bcap = (size_t)w->per_req * (2 * len + 8) + 128;
            body = xmalloc(bcap);
            blen = (size_t)snprintf(body, bcap, "{\"request_id\":\"d%d-%d-%d-%zu\",\"coins\":[",
                                    w->nhops, w->per_req, w->idx, w->n_bodies);
        }
        if (blen + 2 * len + 8 > bcap) {
            bcap = 2 * bcap + 2 * len + 8;
            char *nbuf = realloc(body, bcap);
            if (nbuf == NULL) abort();
            body = nbuf;
        }
        if (in_body) body[blen++] = ',';
        body[blen++] = '"';
        dc_hex_encode(body + blen, buf, len);
        blen += 2 * len;
        body[blen++] = '"';
        in_body++;
        if (in_body == w->per_req || i + 1 == w->n_coins) {
            snprintf(body + blen, bcap - blen, "]}");
            w->body_coins[w->n_bodies] = in_body;
            w->bodies[w->n_bodies++] = body;
            body = NULL;
            in_body = 0;
        }
    }
out:
    free(body);
    free(buf);
    return NULL;
}

static void *deposit_main(void *arg)
{
    struct dep_worker *w = arg;
    const struct dev *d = &depositors[w->idx];
    /* warm-up: the connection (a signed read) */
    json_t *j = NULL;
    api(&S, d, "GET", "/v1/balance", NULL, &j);
    json_decref(j);
    wait_go();
    for (size_t i = 0; i < w->n_bodies; i++) {
        if (post(d, "/v1/deposits", w->bodies[i], "POST /v1/deposits", 201) == 201) {
            w->ok += (unsigned long)w->body_coins[i];
        }
    }
    return NULL;
}

/* Withdraws n coins of COIN_VALUE for the withdrawer and deals them out to
 * the deposit workers (compact copies). */
static void withdraw_coins(size_t n)
{
    static struct coin batch[COINS_PER_WITHDRAWAL];
    for (int k = 0; k < n_dep; k++) {
        dws[k].coins = xmalloc((n / (size_t)n_dep + 1) * sizeof *dws[k].coins);
        dws[k].n_coins = 0;
    }
    size_t got = 0;
    while (got < n) {
        size_t want = n - got < COINS_PER_WITHDRAWAL ? n - got : COINS_PER_WITHDRAWAL;
        size_t m = 0;
        json_t *j = NULL;
        int st = withdraw(&S, &withdrawer, (long long)want * COIN_VALUE, batch,
                          COINS_PER_WITHDRAWAL, &m, &j);
        if (st != 201 || m != want) {
            char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            h_fail(__FILE__, __LINE__, "withdrawal of %zu coins: %d (%zu coins) %s", want, st, m,
                   s ? s : "");
        }
        json_decref(j);
        for (size_t i = 0; i < m; i++, got++) {
            struct dep_worker *w = &dws[got % (size_t)n_dep];
            struct cc *c = &w->coins[w->n_coins++];
            c->len = batch[i].len;
            c->b = xmalloc(c->len);
            memcpy(c->b, batch[i].b, c->len);
        }
    }
}

/* Signatures one deposit of such a coin verifies: dc_coin_verify on a copy
 * under the trust of /v1/keys; the formula 2 + 2 * hops + 1 if that fails. */
static size_t sigs_per_coin(int nhops, const char **how)
{
    size_t formula = 2 + 2 * (size_t)nhops + 1;
    *how = "formula 2 + 2*hops + 1";
    const char *hexc = dws[0].n_bodies ? strstr(dws[0].bodies[0], "\"coins\":[\"") : NULL;
    if (hexc == NULL) return formula;
    hexc += strlen("\"coins\":[\"");
    size_t hl = strcspn(hexc, "\"");
    json_t *keys = NULL;
    if (api(&S, NULL, "GET", "/v1/keys", NULL, &keys) != 200) {
        json_decref(keys);
        return formula;
    }
    size_t result = formula;
    static struct dc_coin coin;
    static struct dc_trust trust;
    uint8_t *buf = xmalloc(hl / 2 + 1), master[DC_PUBKEY_BYTES];
    const char *mh = json_string_value(json_object_get(keys, "master_pub"));
    json_t *cur = json_object_get(keys, "currency"), *sk = json_object_get(keys, "signing_keys");
    if (mh == NULL || dc_hex_decode(master, sizeof master, mh, strlen(mh)) != DC_OK ||
        !json_is_array(sk) || dc_hex_decode(buf, hl / 2, hexc, hl) != DC_OK ||
        dc_coin_decode(&coin, buf, hl / 2) != DC_OK) {
        goto out;
    }
    dc_trust_init(&trust, master, (uint32_t)json_integer_value(json_object_get(cur, "numeric")),
                  h_now_ms());
    trust.max_hops = 16;
    trust.flags = 0;
    for (size_t i = 0; i < json_array_size(sk); i++) {
        json_t *k = json_array_get(sk, i);
        const char *ch = json_string_value(json_object_get(k, "keycert"));
        uint8_t cb[DC_KEYCERT_BYTES];
        struct dc_keycert kc;
        if (ch == NULL || dc_hex_decode(cb, sizeof cb, ch, strlen(ch)) != DC_OK ||
            dc_keycert_decode(&kc, cb, sizeof cb) != DC_OK ||
            dc_trust_add_key(&trust, &kc,
                             (uint64_t)json_integer_value(json_object_get(k, "revoked_at"))) !=
                DC_OK) {
            goto out;
        }
    }
    struct dc_verify_result res;
    struct dc_verify_opts opts = {NULL, NULL, 1};
    enum dc_err e = dc_coin_verify(&res, &trust, &coin, &opts, NULL);
    if (e == DC_OK) {
        result = res.sigs_checked;
        *how = result == formula ? "dc_coin_verify; = 2 + 2*hops + 1" : "dc_coin_verify";
    }
out:
    free(buf);
    json_decref(keys);
    return result;
}

/* Raw Ed25519 verify on both cores. */
static atomic_ulong verified;

static void *verify_main(void *arg)
{
    (void)arg;
    static _Thread_local uint8_t msg[64][200], sig[64][64], pk[32], skey[64];
    crypto_sign_keypair(pk, skey);
    for (int i = 0; i < 64; i++) {
        randombytes_buf(msg[i], sizeof msg[i]);
        crypto_sign_detached(sig[i], NULL, msg[i], sizeof msg[i], skey);
    }
    wait_go();
    unsigned long n = 0;
    while (!atomic_load(&stop)) {
        for (int i = 0; i < 64; i++) {
            if (crypto_sign_verify_detached(sig[i], msg[i], sizeof msg[i], pk) != 0) abort();
        }
        n += 64;
    }
    atomic_fetch_add(&verified, n);
    return NULL;
}

static double raw_verify_rate(void)
{
    pthread_t th[2];
    atomic_store(&go, 0);
    atomic_store(&stop, 0);
    atomic_store(&verified, 0);
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&th[i], NULL, verify_main, NULL) != 0) abort();
    }
    sleep_s(0.1);
    double t0 = now_s();
    atomic_store(&go, 1);
    sleep_s(VERIFY_SECONDS);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    return (double)atomic_load(&verified) / (now_s() - t0);
}

/* Prepares n coins of nhops hops, then times their deposits. Returns
 * deposits/s; *sigs gets the signatures per deposit. */
static double deposit_phase(int nhops, int per_req, size_t n, size_t *sigs)
{
    double t0 = now_s();
    withdraw_coins(n);
    for (int k = 0; k < n_dep; k++) {
        dws[k].idx = k;
        dws[k].nhops = nhops;
        dws[k].per_req = per_req;
        dws[k].ok = 0;
        dws[k].prep_error = NULL;
        if (pthread_create(&dws[k].th, NULL, prep_main, &dws[k]) != 0) abort();
    }
    size_t total = 0, requests = 0;
    for (int k = 0; k < n_dep; k++) {
        pthread_join(dws[k].th, NULL);
        if (dws[k].prep_error) h_fail(__FILE__, __LINE__, "preparing coins: %s", dws[k].prep_error);
        total += dws[k].n_coins;
        requests += dws[k].n_bodies;
    }
    const char *how = "";
    *sigs = sigs_per_coin(nhops, &how);
    printf("   prepared %zu %d-hop coins (%zu requests) in %.1f s; %zu signatures verified per "
           "coin (%s)\n",
           total, nhops, requests, now_s() - t0, *sigs, how);

    atomic_store(&go, 0);
    atomic_store(&stop, 0);
    for (int k = 0; k < n_dep; k++) {
        if (pthread_create(&dws[k].th, NULL, deposit_main, &dws[k]) != 0) abort();
    }
    sleep_s(0.3);
    double sum0 = 0, cnt0 = 0, sum1 = 0, cnt1 = 0;
    int have = commit_stats(&sum0, &cnt0);
    double v0 = metric("ducat_coin_signatures_verified_total");
    double t1 = now_s();
    struct cpu cpu;
    cpu_begin(&cpu);
    atomic_store(&go, 1);
    unsigned long ok = 0;
    for (int k = 0; k < n_dep; k++) {
        pthread_join(dws[k].th, NULL);
        ok += dws[k].ok;
    }
    double secs = now_s() - t1;
    cpu_end(&cpu);
    have = have && commit_stats(&sum1, &cnt1);
    printf("   %lu coins deposited in %.2f s by %d clients, %d per request: %.0f coins/s; mean "
           "commit batch %.1f requests\n",
           ok, secs, n_dep, per_req, (double)ok / secs,
           have && cnt1 > cnt0 ? (sum1 - sum0) / (cnt1 - cnt0) : 0);
    cpu_print(&cpu, (double)ok, "coin");
    double v1 = metric("ducat_coin_signatures_verified_total");
    if (v0 >= 0 && v1 >= v0 && ok) {
        printf("    ducatd verified %.2f of the %zu signatures per coin itself; the others it had "
               "verified before (shared device certificates, split prefixes)\n",
               (v1 - v0) / (double)ok, *sigs);
    }
    for (int k = 0; k < n_dep; k++) {
        for (size_t i = 0; i < dws[k].n_coins; i++) free(dws[k].coins[i].b);
        for (size_t i = 0; i < dws[k].n_bodies; i++) free(dws[k].bodies[i]);
        free(dws[k].coins);
        free(dws[k].bodies);
        free(dws[k].body_coins);
        dws[k].coins = NULL;
        dws[k].bodies = NULL;
        dws[k].body_coins = NULL;
        dws[k].n_coins = dws[k].n_bodies = 0;
    }
    return (double)ok / secs;
}

/*--- main ------------------------------------------------------------------------------*/

static const char *phases = "abcd";

static int phase(char c)
{
    return strchr(phases, c) != NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    (void)test_dir;
    if (setjmp(test_jmp) != 0) {
        printf("bench-server: aborted (see FAIL above)\n");
        srv_cleanup(&S);
        return 1;
    }
    const char *env = getenv("BENCH_PHASES");
    if (env != NULL && *env != '\0') phases = env;
    env = getenv("BENCH_SINGLE_CLIENTS");
    if (env != NULL && atoi(env) > 1) n_single = atoi(env) < MAX_CLIENTS ? atoi(env) : MAX_CLIENTS;
    env = getenv("BENCH_DEPOSIT_CLIENTS");
    if (env != NULL && atoi(env) > 0)
        n_dep = atoi(env) < MAX_DEP_CLIENTS ? atoi(env) : MAX_DEP_CLIENTS;
    char buf[96], v[64];
    printf("bench-server: ducatd %s on loopback, libsodium %s, %ld cores online\n", h_ducatd(),
           sodium_version_string(), sysconf(_SC_NPROCESSORS_ONLN));

    srv_init(&S, "--auto-verify");
    conf_set("default_offline_limit", "100000000.00");
    srv_start(&S);
    printf("   instance %s, server pid %d\n", S.dir, (int)S.pid);

    double fsync_rate = 0;
    if (phase('a')) {
        fsync_rate = fdatasync_rate();
        printf("(a) fdatasync (4 KiB overwrite, %s): %.0f /s\n", S.dir, fsync_rate);
        snprintf(v, sizeof v, "%.0f /s", fsync_rate);
        add_row("(a) fdatasync, 4 KiB overwrite", v, "-", 0, 0);
    }

    /* payers: the clients of (b), the payees of (c) */
    if (phase('b') || phase('c')) {
        for (int i = 0; i < n_single; i++) {
            snprintf(buf, sizeof buf, "Payer %d", i);
            dev_setup(&S, &payers[i], buf, 100000000);
        }
    }
    double sum0 = 0, cnt0 = 0, sum1 = 0, cnt1 = 0;
    unsigned long errors[4] = {0};
    if (phase('b')) {
        int have = commit_stats(&sum0, &cnt0);
        reset_errors();
        double t0 = now_s();
        struct cpu cpu;
        double single = run_timed(single_main, n_single, SINGLE_SECONDS, &cpu);
        double secs = now_s() - t0;
        have = have && commit_stats(&sum1, &cnt1);
        double mean_batch = have && cnt1 > cnt0 ? (sum1 - sum0) / (cnt1 - cnt0) : 0;
        printf("(b) single transfers, %d clients: %.0f /s; %.0f commits/s, mean batch %.1f\n",
               n_single, single, have ? (cnt1 - cnt0) / secs : 0, mean_batch);
        cpu_print(&cpu, single * cpu.wall, "transfer");
        print_errors("(b)");
        errors[1] = n_errors;
        snprintf(v, sizeof v, "%.0f /s", single);
        snprintf(buf, sizeof buf, "(b) single transfers, %d clients", n_single);
        add_row(buf, v, "-", 0, 0);
        if (fsync_rate > 0) {
            double ratio = single / fsync_rate;
            snprintf(v, sizeof v, "%.2f", ratio);
            add_row("    transfers/s / fdatasync/s", v, ">= 2.5", 1, ratio >= 2.5);
        }
        snprintf(v, sizeof v, "%.1f", mean_batch);
        add_row("    mean commit batch (/metrics)", v, "-", 0, 0);
    }

    if (phase('c')) {
        for (int i = 0; i < BATCH_CLIENTS; i++) {
            snprintf(buf, sizeof buf, "Batcher %d", i);
            dev_setup(&S, &batchers[i], buf, 1000000000);
        }
        reset_errors();
        commit_stats(&sum0, &cnt0);
        struct cpu cpu;
        double batched = run_timed(batch_main, BATCH_CLIENTS, BATCH_SECONDS, &cpu);
        int have = commit_stats(&sum1, &cnt1);
        printf("(c) batch transfers, %d clients x %d per request: %.0f transfers/s (%.1f "
               "requests/s, mean commit batch %.1f requests)\n",
               BATCH_CLIENTS, BATCH_SIZE, batched, batched / BATCH_SIZE,
               have && cnt1 > cnt0 ? (sum1 - sum0) / (cnt1 - cnt0) : 0);
        cpu_print(&cpu, batched * cpu.wall, "transfer");
        print_errors("(c)");
        errors[2] = n_errors;
        snprintf(v, sizeof v, "%.0f /s", batched);
        snprintf(buf, sizeof buf, "(c) batch transfers (%d/req, %d clients)", BATCH_SIZE,
                 BATCH_CLIENTS);
        add_row(buf, v, ">= 50000 /s", 1, batched >= 50000);
    }

    if (phase('d')) {
        dev_setup(&S, &withdrawer, "Withdrawer",
                  (long long)(COINS_1HOP + COINS_5HOP + COINS_MULTI) * COIN_VALUE);
        dev_sync(&S, &withdrawer);
        for (int i = 0; i < 4; i++) {
            snprintf(buf, sizeof buf, "Hop %d", i);
            dev_setup(&S, &hops[i], buf, 0);
            dev_sync(&S, &hops[i]);
        }
        for (int i = 0; i < n_dep; i++) {
            snprintf(buf, sizeof buf, "Depositor %d", i);
            dev_setup(&S, &depositors[i], buf, 0);
            dev_sync(&S, &depositors[i]);
        }
        double raw = raw_verify_rate();
        printf("(d) raw Ed25519 verify, 2 threads: %.0f /s\n", raw);
        reset_errors();
        const int hop_n[3] = {1, 5, 1}, per_req[3] = {1, 1, MULTI_PER_REQ};
        const size_t coins_n[3] = {COINS_1HOP, COINS_5HOP, COINS_MULTI};
        double dep[3];
        size_t sigs[3];
        for (int k = 0; k < 3; k++)
            dep[k] = deposit_phase(hop_n[k], per_req[k], coins_n[k], &sigs[k]);
        double raw2 = raw_verify_rate(); /* again: the machine may have changed under us */
        double raw_avg = (raw + raw2) / 2;
        printf("    raw Ed25519 verify again: %.0f /s (mean %.0f)\n", raw2, raw_avg);
        print_errors("(d)");
        errors[3] = n_errors;
        snprintf(v, sizeof v, "%.0f sig/s", raw_avg);
        add_row("(d) raw Ed25519 verify, 2 threads", v, "-", 0, 0);
        for (int k = 0; k < 3; k++) {
            double r = dep[k] * (double)sigs[k] / raw_avg;
            snprintf(v, sizeof v, "%.0f coins/s", dep[k]);
            snprintf(buf, sizeof buf, "    %d-hop deposits, %d coin%s/request", hop_n[k],
                     per_req[k], per_req[k] > 1 ? "s" : "");
            add_row(buf, v, "-", 0, 0);
            snprintf(v, sizeof v, "%.0f sig/s = %.2f", dep[k] * (double)sigs[k], r);
            snprintf(buf, sizeof buf, "      x %zu sigs, / raw verify", sigs[k]);
            add_row(buf, v, per_req[k] > 1 ? "(extra)" : ">= 0.8", per_req[k] == 1, r >= 0.8);
        }
    }

    char audit_out[4096];
    int audit_rc = srv_audit(&S, audit_out, sizeof audit_out);
    int stop_rc = srv_stop(&S);

    printf("\n%-42s %-24s %-12s %s\n", "figure", "value", "goal", "status");
    for (int i = 0; i < n_rows; i++) {
        printf("%-42s %-24s %-12s %s\n", rows[i].name, rows[i].value, rows[i].goal, rows[i].status);
    }
    printf("\nfailed requests: (b) %lu, (c) %lu, (d) %lu; ducatd audit after the run: %s; "
           "exit on SIGTERM: %d\n",
           errors[1], errors[2], errors[3], audit_rc == 0 ? "OK" : "FAILED", stop_rc);
    if (audit_rc != 0) printf("%s\n", audit_out);
    srv_cleanup(&S);
    return 0;
}
