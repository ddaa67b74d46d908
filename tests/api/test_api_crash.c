/*
 * test_api_crash.c - crash consistency of ducatd under load.
 *
 * NCLIENT client threads, one funded device each, stream money-moving
 * requests: single transfers, small batch transfers, withdrawals, and
 * deposits of coins received offline (withdraw, TRANSFER record to another
 * device's certificate, DEPOSIT record, POST /v1/deposits signed by the
 * receiver). Every request is recorded (request id and body) BEFORE it is
 * sent. Meanwhile the test thread SIGKILLs the server at a random moment
 * ROUNDS times and restarts it; every client retries its in-flight request
 * with the SAME request id and body until it gets a definitive answer (2xx
 * or 4xx; no response and 5xx are retried).
 *
 * Afterwards (the server is SIGKILLed once more at rest and restarted):
 *   - every 2xx answer is replayed with the same id and body and must come
 *     back identical (the same transfer id, the same coins hex, the same
 *     deposit receipt); a changed body must be 409 IDEMPOTENCY_CONFLICT;
 *   - each device's available + held equals what the client-side ledger,
 *     built from definitive answers only, predicts, and its
 *     offline_outstanding equals the value of its coins not yet deposited;
 *   - the admin audit is ok, users + coins outstanding == total funded, the
 *     float equals the outstanding coins, no fraud losses;
 *   - `ducatd audit` exits 0 after a clean stop;
 *   - the coins table (read-only, via the system libsqlite3) holds exactly
 *     the coins the clients were given: one row per distinct serial, the
 *     same count and value per withdrawal id as the 201 answers carried.
 *
 * Randomness: the seed is printed first; DUCAT_CRASH_SEED=N reuses it (the
 * choices of every client and the kill delays are reproduced; the thread
 * interleaving is up to the scheduler).
 */
#include "test.h"

#include "harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "ducat/auth.h"

#define NCLIENT 8
#define ROUNDS 5 /* DUCAT_CRASH_ROUNDS=N overrides (at most ROUNDS_MAX) */
#define ROUNDS_MAX 100
#define FUND 1000000LL          /* minor units per device */
#define MIN_PROGRESS 300        /* definitive answers between two kills */
#define ANSWER_TIMEOUT_MS 45000 /* a request without a definitive answer fails */
#define POOL_MAX 24             /* coins a client keeps for later offline payments */

/*--- Shared state ---------------------------------------------------------------*/

static struct srv S;
static struct dev D[NCLIENT];
static atomic_int cur_port;   /* 0 while the server is down */
static atomic_int stop_flag;  /* clients finish their current op and leave */
static atomic_int abort_flag; /* clients leave at once */
static atomic_int any_failed;
static atomic_ulong n_definitive;      /* definitive answers received */
static atomic_llong expected[NCLIENT]; /* client-side ledger: available + held */
static uint64_t seed;
static atomic_int epoch;                        /* kills so far */
static atomic_ullong kill_wall[ROUNDS_MAX + 2]; /* wall ms of kill k (k >= 1) */

static pthread_mutex_t note_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long n5xx;
static char first5xx[512];

enum op_kind { OP_TRANSFER, OP_BATCH, OP_WITHDRAW, OP_DEPOSIT, OP_KINDS };
static const char *const op_names[OP_KINDS] = {"transfer", "batch", "withdrawal", "deposit"};
static const char *const op_paths[OP_KINDS] = {"/v1/transfers", "/v1/transfers/batch",
                                               "/v1/withdrawals", "/v1/deposits"};

/* One request as recorded before its first send. */
struct op {
    enum op_kind kind;
    int signer; /* index of the signing device */
    char rid[48];
    char *body;
    int status;        /* definitive status, 0 while none */
    json_t *answer;    /* the definitive 2xx answer (kept for the replay check) */
    unsigned attempts; /* sends */
    unsigned lost;     /* sends that got no response */
    int lost_epoch;    /* server epoch of the first lost send */
};

struct ccoin {
    uint8_t *b;
    size_t len;
    int64_t value;
};

struct wd_rec {
    long long id;
    long long amount;
    long long ncoins;
};

struct client {
    int idx;
    uint64_t rng;
    pthread_t th;
    struct op *ops;
    size_t n_ops, cap_ops;
    unsigned long seq;
    /* coins withdrawn by this device and kept for an offline payment */
    struct ccoin pool[POOL_MAX];
    size_t n_pool;
    uint8_t *scratch; /* DC_COIN_MAX_BYTES */
    struct dc_coin *parsed;
    /* what the definitive answers say */
    long long outstanding;     /* value of this device's coins not deposited */
    long long withdrawn_total; /* value of all coins issued to this device */
    long long coins_issued, coins_deposited;
    uint8_t (*serials)[DC_SERIAL_BYTES];
    size_t n_serials, cap_serials;
    struct wd_rec *wds;
    size_t n_wds, cap_wds;
    long long *tids;
    size_t n_tids, cap_tids;
    /* statistics */
    unsigned long ok[OP_KINDS], refused[OP_KINDS], retried[OP_KINDS], lost, dup_checks;
    /* answers lost in a crash for requests the dead server had committed
     * (told by the business time inside the answer) */
    unsigned long saved[OP_KINDS];
    int failed;
    char err[1024];
};

static struct client C[NCLIENT];

/*--- Small utilities ---------------------------------------------------------------*/

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static long long rng_range(uint64_t *s, long long lo, long long hi)
{
    return lo + (long long)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) abort();
    return q;
}

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? 2 * (cap) : 64;                                                        \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr));                                        \
        }                                                                                          \
    } while (0)

/* Compact JSON of j, truncated, into out. */
static const char *jdump(const json_t *j, char *out, size_t cap)
{
    if (j == NULL) {
        snprintf(out, cap, "(no JSON body)");
        return out;
    }
    char *s = json_dumps(j, JSON_COMPACT);
    snprintf(out, cap, "%s", s ? s : "(unprintable)");
    free(s);
    return out;
}

static int is_err(const json_t *j, const char *name)
{
    const json_t *n = json_is_object(j) ? json_object_get(j, "name") : NULL;
    return json_is_string(n) && strcmp(json_string_value(n), name) == 0;
}

static long long jint(const json_t *o, const char *key, int *ok)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!json_is_integer(v)) {
        *ok = 0;
        return 0;
    }
    return (long long)json_integer_value(v);
}

H_PRINTF(2, 3) static void client_fail(struct client *c, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof c->err, fmt, ap);
        va_end(ap);
    }
    c->failed = 1;
    atomic_store(&any_failed, 1);
}

/* Counts o as "committed by the server that was then SIGKILLed before it
 * answered" when the business time in its answer predates the kill that
 * followed its first lost send. */
static void note_saved(struct client *c, const struct op *o, uint64_t answer_time)
{
    if (o->lost == 0) return;
    uint64_t k = atomic_load(&kill_wall[o->lost_epoch + 1]);
    if (k != 0 && answer_time != 0 && answer_time < k) c->saved[o->kind]++;
}

/*--- Requests ---------------------------------------------------------------------*/

static struct op *op_new(struct client *c, enum op_kind kind, int signer, char *body_owned,
                         const char *rid)
{
    GROW(c->ops, c->n_ops, c->cap_ops);
    struct op *o = &c->ops[c->n_ops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->signer = signer;
    snprintf(o->rid, sizeof o->rid, "%s", rid);
    o->body = body_owned;
    return o;
}

static void next_rid(struct client *c, char out[48])
{
    snprintf(out, 48, "crash-c%d-%lu", c->idx, ++c->seq);
}

/* Sends o (same id, same body) until a definitive answer: returns its status
 * and *out its JSON (the caller owns it), or -1 if the client must stop. */
static int send_definitive(struct client *c, struct op *o, json_t **out)
{
    *out = NULL;
    uint64_t t0 = mono_ms();
    int last = -1;
    char last_err[256] = "";
    for (;;) {
        if (atomic_load(&abort_flag)) return -1;
        if (mono_ms() - t0 > ANSWER_TIMEOUT_MS) {
            client_fail(c, "%s %s: no definitive answer in %d ms after %u attempts (last %d %s)",
                        op_names[o->kind], o->rid, ANSWER_TIMEOUT_MS, o->attempts, last, last_err);
            return -1;
        }
        int port = atomic_load(&cur_port);
        if (port == 0) {
            nap_ms(2);
            continue;
        }
        struct srv local;
        memset(&local, 0, sizeof local);
        local.port = port;
        struct api_req r;
        memset(&r, 0, sizeof r);
        r.method = "POST";
        r.path = op_paths[o->kind];
        r.body = o->body;
        r.dev = &D[o->signer];
        struct api_resp resp;
        int ep = atomic_load(&epoch);
        int st = api_raw(&local, &r, &resp);
        o->attempts++;
        last = st;
        if (st >= 200 && st < 500) {
            *out = resp.json;
            resp.json = NULL;
            api_resp_free(&resp);
            o->status = st;
            atomic_fetch_add(&n_definitive, 1);
            return st;
        }
        if (st == 0) {
            if (o->lost == 0) o->lost_epoch = ep;
            o->lost++;
            c->lost++;
            snprintf(last_err, sizeof last_err, "%s", api_last_error());
        } else {
            snprintf(last_err, sizeof last_err, "%.200s", resp.body);
            pthread_mutex_lock(&note_mu);
            if (n5xx++ == 0) {
                snprintf(first5xx, sizeof first5xx, "%s %s -> %d %.300s", op_names[o->kind], o->rid,
                         st, resp.body);
            }
            pthread_mutex_unlock(&note_mu);
        }
        api_resp_free(&resp);
        nap_ms(1 + (long)(rng_next(&c->rng) % 4));
    }
}

/* Sometimes resend a request that already got its 2xx right away: the same
 * answer must come back. */
static void maybe_duplicate(struct client *c, struct op *o)
{
    if (o->status < 200 || o->status > 299 || rng_next(&c->rng) % 16 != 0) return;
    struct op tmp = *o;
    json_t *j = NULL;
    int st = send_definitive(c, &tmp, &j);
    if (st < 0) return;
    c->dup_checks++;
    if (st != o->status || !json_equal(j, o->answer)) {
        char a[600], b[600];
        client_fail(c, "%s %s resent: got %d %s, first answer %d %s", op_names[o->kind], o->rid, st,
                    jdump(j, a, sizeof a), o->status, jdump(o->answer, b, sizeof b));
    }
    json_decref(j);
}

static int pick_other(struct client *c)
{
    int j = (int)rng_range(&c->rng, 0, NCLIENT - 2);
    return j >= c->idx ? j + 1 : j;
}

static void finish(struct client *c, struct op *o, json_t *j, int ok)
{
    if (o->lost) c->retried[o->kind]++;
    if (ok) {
        c->ok[o->kind]++;
        o->answer = j;
        maybe_duplicate(c, o);
    } else {
        c->refused[o->kind]++;
        json_decref(j);
    }
}

/*--- Operations ---------------------------------------------------------------------*/

static void do_transfer(struct client *c)
{
    int to = pick_other(c);
    long long amount = rng_range(&c->rng, 1, 2000);
    if (rng_next(&c->rng) % 25 == 0) amount = 10 * FUND; /* refused: 409 */
    char rid[48], body[256];
    next_rid(c, rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%lld}", rid,
             D[to].account, amount);
    struct op *o = op_new(c, OP_TRANSFER, c->idx, strdup(body), rid);
    json_t *j = NULL;
    int st = send_definitive(c, o, &j);
    if (st < 0) return;
    char d[600];
    if (st == 201) {
        int ok = 1;
        long long tid = jint(j, "transfer_id", &ok);
        if (!ok || jint(j, "from", &ok) != D[c->idx].account ||
            jint(j, "to", &ok) != D[to].account || jint(j, "amount", &ok) != amount || !ok) {
            client_fail(c, "transfer %s: 201 with %s", rid, jdump(j, d, sizeof d));
            json_decref(j);
            return;
        }
        atomic_fetch_sub(&expected[c->idx], amount);
        atomic_fetch_add(&expected[to], amount);
        GROW(c->tids, c->n_tids, c->cap_tids);
        c->tids[c->n_tids++] = tid;
        finish(c, o, j, 1);
    } else if (st == 409 && is_err(j, "DC_ERR_INSUFFICIENT_FUNDS")) {
        finish(c, o, j, 0);
    } else {
        client_fail(c, "transfer %s (attempt %u): unexpected %d %s", rid, o->attempts, st,
                    jdump(j, d, sizeof d));
        json_decref(j);
    }
}

static void do_batch(struct client *c)
{
    int n = (int)rng_range(&c->rng, 2, 8);
    int to[8];
    long long amount[8], total = 0;
    char rid[48];
    next_rid(c, rid);
    char *body = malloc(256 + 64 * 8);
    if (body == NULL) abort();
    int len = snprintf(body, 256, "{\"request_id\":\"%s\",\"transfers\":[", rid);
    for (int i = 0; i < n; i++) {
        to[i] = pick_other(c);
        amount[i] = rng_range(&c->rng, 1, 500);
        total += amount[i];
        len += snprintf(body + len, 64, "%s{\"to\":%lld,\"amount\":%lld}", i ? "," : "",
                        D[to[i]].account, amount[i]);
    }
    snprintf(body + len, 8, "]}");
    struct op *o = op_new(c, OP_BATCH, c->idx, body, rid);
    json_t *j = NULL;
    int st = send_definitive(c, o, &j);
    if (st < 0) return;
    char d[600];
    if (st == 201) {
        int ok = 1;
        json_t *ids = json_object_get(j, "transfer_ids");
        if (jint(j, "count", &ok) != n || jint(j, "total", &ok) != total || !ok ||
            !json_is_array(ids) || json_array_size(ids) != (size_t)n) {
            client_fail(c, "batch %s: 201 with %s", rid, jdump(j, d, sizeof d));
            json_decref(j);
            return;
        }
        for (int i = 0; i < n; i++) {
            atomic_fetch_sub(&expected[c->idx], amount[i]);
            atomic_fetch_add(&expected[to[i]], amount[i]);
            GROW(c->tids, c->n_tids, c->cap_tids);
            c->tids[c->n_tids++] = (long long)json_integer_value(json_array_get(ids, (size_t)i));
        }
        finish(c, o, j, 1);
    } else if (st == 409 && is_err(j, "DC_ERR_INSUFFICIENT_FUNDS")) {
        finish(c, o, j, 0);
    } else {
        client_fail(c, "batch %s (attempt %u): unexpected %d %s", rid, o->attempts, st,
                    jdump(j, d, sizeof d));
        json_decref(j);
    }
}

/* Withdraws a random amount; the coins go to out (up to cap; the rest stay
 * outstanding for good). Returns how many were put in out, -1 on failure. */
static int do_withdraw(struct client *c, struct ccoin *out, size_t cap)
{
    long long amount = rng_range(&c->rng, 1, 3000);
    if (rng_next(&c->rng) % 25 == 0) amount = 300000; /* over the offline limit: 400 */
    char rid[48], body[128];
    next_rid(c, rid);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"amount\":%lld}", rid, amount);
    struct op *o = op_new(c, OP_WITHDRAW, c->idx, strdup(body), rid);
    json_t *j = NULL;
    int st = send_definitive(c, o, &j);
    if (st < 0) return -1;
    char d[600];
    if (st != 201) {
        if ((st == 409 && is_err(j, "DC_ERR_INSUFFICIENT_FUNDS")) ||
            (st == 400 && is_err(j, "DC_ERR_OFFLINE_LIMIT"))) {
            finish(c, o, j, 0);
            return 0;
        }
        client_fail(c, "withdrawal %s (attempt %u): unexpected %d %s", rid, o->attempts, st,
                    jdump(j, d, sizeof d));
        json_decref(j);
        return -1;
    }
    int ok = 1;
    long long wid = jint(j, "withdrawal_id", &ok);
    json_t *coins = json_object_get(j, "coins");
    if (!ok || jint(j, "amount", &ok) != amount || !ok || !json_is_array(coins) ||
        json_array_size(coins) == 0) {
        client_fail(c, "withdrawal %s: 201 with %s", rid, jdump(j, d, sizeof d));
        json_decref(j);
        return -1;
    }
    int64_t sum = 0;
    int put = 0;
    for (size_t i = 0; i < json_array_size(coins); i++) {
        const char *hex = json_string_value(json_array_get(coins, i));
        size_t hl = hex ? strlen(hex) : 0;
        if (hl == 0 || hl % 2 || hl / 2 > DC_COIN_MAX_BYTES ||
            dc_hex_decode(c->scratch, hl / 2, hex, hl) != DC_OK ||
            dc_coin_decode(c->parsed, c->scratch, hl / 2) != DC_OK) {
            client_fail(c, "withdrawal %s: coin %zu does not decode", rid, i);
            json_decref(j);
            return -1;
        }
        int64_t v = dc_coin_value(c->parsed);
        sum += v;
        GROW(c->serials, c->n_serials, c->cap_serials);
        memcpy(c->serials[c->n_serials++], c->parsed->genesis.serial, DC_SERIAL_BYTES);
        if ((size_t)put < cap) {
            out[put].len = hl / 2;
            out[put].b = malloc(hl / 2);
            if (out[put].b == NULL) abort();
            memcpy(out[put].b, c->scratch, hl / 2);
            out[put].value = v;
            put++;
        }
    }
    if (sum != amount) {
        client_fail(c, "withdrawal %s: coins worth %lld for an amount of %lld", rid, (long long)sum,
                    amount);
        json_decref(j);
        return -1;
    }
    GROW(c->wds, c->n_wds, c->cap_wds);
    c->wds[c->n_wds++] = (struct wd_rec){wid, amount, (long long)json_array_size(coins)};
    note_saved(c, o, c->parsed->genesis.issued_at); /* the last coin's issue time */
    c->coins_issued += (long long)json_array_size(coins);
    c->outstanding += amount;
    c->withdrawn_total += amount;
    atomic_fetch_sub(&expected[c->idx], amount);
    finish(c, o, j, 1);
    return put;
}

/* Withdraws and keeps the coins for a later offline payment. */
static void do_withdraw_only(struct client *c)
{
    int n = do_withdraw(c, c->pool + c->n_pool, POOL_MAX - c->n_pool);
    if (n > 0) c->n_pool += (size_t)n;
}

/* Pays coins offline to another device, which deposits them: a fresh
 * withdrawal plus up to three coins from the pool. */
static void do_offline(struct client *c)
{
    struct ccoin coins[POOL_MAX + 3];
    int n = do_withdraw(c, coins, POOL_MAX);
    if (n < 0) return;
    int extra = (int)rng_range(&c->rng, 0, 3);
    while (extra-- > 0 && c->n_pool > 0) coins[n++] = c->pool[--c->n_pool];
    if (n == 0) return;
    int to = pick_other(c);
    const struct dev *from = &D[c->idx], *rcv = &D[to];
    json_t *arr = json_array();
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        memcpy(c->scratch, coins[i].b, coins[i].len);
        size_t len = coins[i].len;
        uint8_t nonce[DC_NONCE_BYTES];
        for (size_t k = 0; k < sizeof nonce; k++) nonce[k] = (uint8_t)rng_next(&c->rng);
        enum dc_err e =
            dc_coin_transfer(c->scratch, DC_COIN_MAX_BYTES, &len, from->sk, rcv->devcert, nonce);
        if (e == DC_OK) {
            e = dc_coin_deposit(c->scratch, DC_COIN_MAX_BYTES, &len, rcv->sk,
                                (uint64_t)rcv->account, h_now_ms());
        }
        if (e != DC_OK) {
            client_fail(c, "offline payment: %s", dc_err_name(e));
            json_decref(arr);
            return;
        }
        char *hex = malloc(2 * len + 1);
        if (hex == NULL) abort();
        dc_hex_encode(hex, c->scratch, len);
        json_array_append_new(arr, json_string(hex));
        free(hex);
        sum += coins[i].value;
        free(coins[i].b);
    }
    char rid[48];
    next_rid(c, rid);
    json_t *req = json_pack("{s:s, s:o}", "request_id", rid, "coins", arr);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body == NULL) abort();
    struct op *o = op_new(c, OP_DEPOSIT, to, body, rid);
    json_t *j = NULL;
    int st = send_definitive(c, o, &j);
    if (st < 0) return;
    char d[600];
    int ok = 1;
    json_t *cs = json_object_get(j, "coins");
    if (st != 201 || jint(j, "credited", &ok) != sum || !ok || !json_is_array(cs) ||
        json_array_size(cs) != (size_t)n) {
        client_fail(c, "deposit %s of %d coins worth %lld (attempt %u): %d %s", rid, n,
                    (long long)sum, o->attempts, st, jdump(j, d, sizeof d));
        json_decref(j);
        return;
    }
    for (size_t i = 0; i < json_array_size(cs); i++) {
        const json_t *k = json_array_get(cs, i);
        const char *status = json_string_value(json_object_get(k, "status"));
        if (status == NULL || strcmp(status, "held") != 0 ||
            !json_is_null(json_object_get(k, "case")) ||
            json_is_true(json_object_get(k, "flagged"))) {
            client_fail(c, "deposit %s: coin %zu answered %s", rid, i, jdump(k, d, sizeof d));
            json_decref(j);
            return;
        }
    }
    /* the receipt's time: "DUCATRCP" key_id deposit_id account credited TIME ... */
    const char *rh = json_string_value(json_object_get(j, "receipt"));
    uint8_t rb[44];
    if (rh != NULL && strlen(rh) >= 88 && dc_hex_decode(rb, sizeof rb, rh, 88) == DC_OK) {
        uint64_t t = 0;
        for (int b = 7; b >= 0; b--) t = t << 8 | rb[36 + b];
        note_saved(c, o, t);
    }
    atomic_fetch_add(&expected[to], sum);
    c->outstanding -= sum;
    c->coins_deposited += n;
    finish(c, o, j, 1);
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    while (!atomic_load(&stop_flag) && !atomic_load(&abort_flag) && !c->failed) {
        int r = (int)(rng_next(&c->rng) % 100);
        if (r < 50) {
            do_transfer(c);
        } else if (r < 60) {
            do_batch(c);
        } else if (r < 72) {
            do_withdraw_only(c);
        } else {
            do_offline(c);
        }
    }
    return NULL;
}

/* Replays every request that got a 2xx: the same answer must come back. */
static void *replay_main(void *arg)
{
    struct client *c = arg;
    char a[600], b[600];
    struct op *first_transfer = NULL;
    for (size_t i = 0; i < c->n_ops && !c->failed; i++) {
        struct op *o = &c->ops[i];
        if (o->answer == NULL) continue;
        if (o->kind == OP_TRANSFER && first_transfer == NULL) first_transfer = o;
        struct op tmp = *o;
        tmp.attempts = tmp.lost = 0;
        json_t *j = NULL;
        int st = send_definitive(c, &tmp, &j);
        if (st < 0) return NULL;
        if (st != o->status || !json_equal(j, o->answer)) {
            client_fail(c,
                        "replay of %s %s (first answer after %u attempts, %u lost): got %d %s, "
                        "first answer %d %s",
                        op_names[o->kind], o->rid, o->attempts, o->lost, st, jdump(j, a, sizeof a),
                        o->status, jdump(o->answer, b, sizeof b));
        }
        json_decref(j);
    }
    if (first_transfer != NULL && !c->failed) {
        /* the same id with another body */
        struct op tmp = *first_transfer;
        char body[256];
        snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":%d}", tmp.rid,
                 D[(c->idx + 1) % NCLIENT].account, 999999);
        tmp.body = body;
        json_t *j = NULL;
        int st = send_definitive(c, &tmp, &j);
        if (st >= 0 && (st != 409 || !is_err(j, "DC_ERR_IDEMPOTENCY_CONFLICT"))) {
            client_fail(c, "transfer %s with another body: %d %s (want 409 IDEMPOTENCY_CONFLICT)",
                        tmp.rid, st, jdump(j, a, sizeof a));
        }
        json_decref(j);
    }
    return NULL;
}

/*--- The test thread ------------------------------------------------------------------*/

static jmp_buf crash_jmp;
static int threads_running;

static void crash_fail_hook(void)
{
    longjmp(crash_jmp, 1);
}

static void run_threads(void *(*fn)(void *))
{
    for (int i = 0; i < NCLIENT; i++) {
        if (pthread_create(&C[i].th, NULL, fn, &C[i]) != 0) abort();
    }
    threads_running = 1;
}

static void join_threads(void)
{
    if (!threads_running) return;
    for (int i = 0; i < NCLIENT; i++) pthread_join(C[i].th, NULL);
    threads_running = 0;
}

static void report_client_failures(void)
{
    for (int i = 0; i < NCLIENT; i++) {
        if (C[i].failed) printf("# client %d: %s\n", i, C[i].err);
    }
}

/* Waits until `more` further definitive answers arrived (or a failure, or
 * max_ms). */
static void wait_progress(unsigned long more, uint64_t max_ms)
{
    unsigned long target = atomic_load(&n_definitive) + more;
    uint64_t t0 = mono_ms();
    while (atomic_load(&n_definitive) < target && !atomic_load(&any_failed) &&
           mono_ms() - t0 < max_ms) {
        nap_ms(5);
    }
}

static void set_down(void)
{
    atomic_store(&cur_port, 0);
}

static void set_up(void)
{
    atomic_store(&cur_port, S.port);
}

/* Parses "label: N" out of the audit report. */
/* The audit report names money in major units ("-10.00 CNY"): back to minor
 * units, the fraction's digits being the currency's exponent. */
static long long report_value(const char *report, const char *label, int *ok)
{
    const char *p = strstr(report, label);
    long long whole = 0, v;
    char frac[16] = "", cur[8] = "";
    int neg = 0;
    if (p == NULL) {
        *ok = 0;
        return 0;
    }
    p += strlen(label);
    while (*p == ' ') p++;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (sscanf(p, "%lld.%15[0-9] %7[A-Z]", &whole, frac, cur) != 3) {
        *ok = 0;
        return 0;
    }
    v = whole;
    for (const char *f = frac; *f; f++) v = v * 10 + (*f - '0');
    return neg ? -v : v;
}

/*--- Reading the coins table (system libsqlite3, read-only, server stopped) ------------*/

typedef int (*sq_open_fn)(const char *, void **, int, const char *);
typedef int (*sq_prepare_fn)(void *, const char *, int, void **, const char **);
typedef int (*sq_step_fn)(void *);
typedef long long (*sq_col_fn)(void *, int);
typedef int (*sq_fin_fn)(void *);
typedef int (*sq_close_fn)(void *);
typedef const char *(*sq_errmsg_fn)(void *);

struct sq {
    void *lib, *db;
    sq_open_fn open;
    sq_prepare_fn prepare;
    sq_step_fn step;
    sq_col_fn col;
    sq_fin_fn fin;
    sq_close_fn close;
    sq_errmsg_fn errmsg;
};

static int sq_sym(void *lib, const char *name, void *fnp, size_t size)
{
    void *p = dlsym(lib, name);
    if (p == NULL) return 0;
    memcpy(fnp, &p, size);
    return 1;
}

/* 1 if opened; 0 (with a note) if the library is not there. */
static int sq_open(struct sq *q, const char *path)
{
    memset(q, 0, sizeof *q);
    q->lib = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);
    if (q->lib == NULL) {
        printf("# coins table check skipped: %s\n", dlerror());
        return 0;
    }
    if (!sq_sym(q->lib, "sqlite3_open_v2", &q->open, sizeof q->open) ||
        !sq_sym(q->lib, "sqlite3_prepare_v2", &q->prepare, sizeof q->prepare) ||
        !sq_sym(q->lib, "sqlite3_step", &q->step, sizeof q->step) ||
        !sq_sym(q->lib, "sqlite3_column_int64", &q->col, sizeof q->col) ||
        !sq_sym(q->lib, "sqlite3_finalize", &q->fin, sizeof q->fin) ||
        !sq_sym(q->lib, "sqlite3_close", &q->close, sizeof q->close) ||
        !sq_sym(q->lib, "sqlite3_errmsg", &q->errmsg, sizeof q->errmsg)) {
        printf("# coins table check skipped: libsqlite3 lacks a symbol\n");
        dlclose(q->lib);
        return 0;
    }
    if (q->open(path, &q->db, 1 /* SQLITE_OPEN_READONLY */, NULL) != 0) {
        printf("# coins table check skipped: cannot open %s\n", path);
        q->close(q->db);
        dlclose(q->lib);
        return 0;
    }
    return 1;
}

static void sq_done(struct sq *q)
{
    q->close(q->db);
    dlclose(q->lib);
}

static int cmp_serial(const void *a, const void *b)
{
    return memcmp(a, b, DC_SERIAL_BYTES);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int cmp_wd(const void *a, const void *b)
{
    return cmp_ll(&((const struct wd_rec *)a)->id, &((const struct wd_rec *)b)->id);
}

static void check_coins_table(long long issued, long long deposited, long long outstanding,
                              long long withdrawn_value)
{
    /* the clients' own view first: serials, transfer ids, withdrawal ids unique */
    size_t ns = 0, nt = 0, nw = 0;
    for (int i = 0; i < NCLIENT; i++) {
        ns += C[i].n_serials;
        nt += C[i].n_tids;
        nw += C[i].n_wds;
    }
    uint8_t(*ser)[DC_SERIAL_BYTES] = malloc((ns + 1) * DC_SERIAL_BYTES);
    long long *tids = malloc((nt + 1) * sizeof *tids);
    struct wd_rec *wds = malloc((nw + 1) * sizeof *wds);
    ASSERT(ser != NULL && tids != NULL && wds != NULL);
    size_t ks = 0, kt = 0, kw = 0;
    for (int i = 0; i < NCLIENT; i++) {
        memcpy(ser + ks, C[i].serials, C[i].n_serials * DC_SERIAL_BYTES);
        ks += C[i].n_serials;
        memcpy(tids + kt, C[i].tids, C[i].n_tids * sizeof *tids);
        kt += C[i].n_tids;
        memcpy(wds + kw, C[i].wds, C[i].n_wds * sizeof *wds);
        kw += C[i].n_wds;
    }
    qsort(ser, ns, DC_SERIAL_BYTES, cmp_serial);
    qsort(tids, nt, sizeof *tids, cmp_ll);
    qsort(wds, nw, sizeof *wds, cmp_wd);
    size_t dup_s = 0, dup_t = 0, dup_w = 0;
    for (size_t i = 1; i < ns; i++) dup_s += memcmp(ser[i - 1], ser[i], DC_SERIAL_BYTES) == 0;
    for (size_t i = 1; i < nt; i++) dup_t += tids[i - 1] == tids[i];
    for (size_t i = 1; i < nw; i++) dup_w += wds[i - 1].id == wds[i].id;
    free(ser);
    free(tids);
    if (dup_s || dup_t || dup_w) {
        free(wds);
        FAIL_AT("duplicate ids in 2xx answers: %zu coin serials, %zu transfer ids, %zu "
                "withdrawal ids",
                dup_s, dup_t, dup_w);
    }
    ASSERT_EQ((long long)ns, issued);

    char path[128];
    snprintf(path, sizeof path, "%s/ducat.db", S.dir);
    struct sq q;
    if (!sq_open(&q, path)) {
        free(wds);
        return;
    }
    void *stmt = NULL;
    long long v[6] = {0};
    int rc = q.prepare(q.db,
                       "SELECT count(*), count(DISTINCT serial), COALESCE(SUM(value), 0), "
                       "COALESCE(SUM(value - deposited), 0), count(DISTINCT withdrawal), "
                       "(SELECT count(*) FROM deposit_coins) FROM coins",
                       -1, &stmt, NULL);
    if (rc == 0 && q.step(stmt) == 100 /* SQLITE_ROW */) {
        for (int i = 0; i < 6; i++) v[i] = q.col(stmt, i);
    } else {
        rc = -1;
    }
    q.fin(stmt);
    if (rc != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", q.errmsg(q.db));
        sq_done(&q);
        free(wds);
        FAIL_AT("coins table query failed: %s", msg);
    }
    printf("# coins table: %lld coins (%lld distinct serials) from %lld withdrawals, worth %lld, "
           "%lld outstanding; %lld deposited coins\n",
           v[0], v[1], v[4], v[2], v[3], v[5]);
    int bad = v[0] != issued || v[1] != issued || v[2] != withdrawn_value || v[3] != outstanding ||
              v[4] != (long long)nw || v[5] != deposited;
    /* per withdrawal: the coins the 201 answer carried, no more */
    size_t k = 0, mismatches = 0;
    char first[256] = "";
    rc = q.prepare(q.db,
                   "SELECT withdrawal, count(*), SUM(value) FROM coins GROUP BY withdrawal "
                   "ORDER BY withdrawal",
                   -1, &stmt, NULL);
    while (rc == 0 && q.step(stmt) == 100) {
        long long id = q.col(stmt, 0), n = q.col(stmt, 1), val = q.col(stmt, 2);
        if (k >= nw || wds[k].id != id || wds[k].ncoins != n || wds[k].amount != val) {
            if (mismatches++ == 0) {
                snprintf(first, sizeof first,
                         "withdrawal %lld holds %lld coins worth %lld; the client saw %s%lld "
                         "coins worth %lld",
                         id, n, val, k < nw && wds[k].id == id ? "" : "(another id) ",
                         k < nw ? wds[k].ncoins : 0, k < nw ? wds[k].amount : 0);
            }
            while (k < nw && wds[k].id < id) k++;
            if (k < nw && wds[k].id == id) k++;
            continue;
        }
        k++;
    }
    q.fin(stmt);
    sq_done(&q);
    free(wds);
    if (bad) {
        FAIL_AT("coins table: %lld coins, %lld serials, worth %lld, %lld outstanding, %lld "
                "withdrawals, %lld deposited coins; the clients saw %lld coins worth %lld, %lld "
                "outstanding, %zu withdrawals, %lld deposited coins",
                v[0], v[1], v[2], v[3], v[4], v[5], issued, withdrawn_value, outstanding, nw,
                deposited);
    }
    if (mismatches)
        FAIL_AT("%zu withdrawals differ from their 201 answers; first: %s", mismatches, first);
}

static void test_crash_under_load(void)
{
    const char *env = getenv("DUCAT_CRASH_SEED");
    if (env != NULL && *env != '\0') {
        seed = strtoull(env, NULL, 10);
    } else {
        seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
        seed %= 1000000000ull;
    }
    printf("# seed %llu (rerun with DUCAT_CRASH_SEED=%llu)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    uint64_t rng = seed;
    uint64_t t_start = mono_ms();
    int rounds = ROUNDS;
    env = getenv("DUCAT_CRASH_ROUNDS");
    if (env != NULL && atoi(env) > 0) rounds = atoi(env) < ROUNDS_MAX ? atoi(env) : ROUNDS_MAX;

    srv_init(&S, "--auto-verify");
    srv_start(&S);
    for (int i = 0; i < NCLIENT; i++) {
        char name[32];
        snprintf(name, sizeof name, "Crash Client %d", i);
        dev_setup(&S, &D[i], name, FUND);
        dev_sync(&S, &D[i]);
        atomic_store(&expected[i], FUND);
        memset(&C[i], 0, sizeof C[i]);
        C[i].idx = i;
        C[i].rng = seed * 1000003u + (uint64_t)i * 7919u + 1u;
        C[i].scratch = malloc(DC_COIN_MAX_BYTES);
        C[i].parsed = malloc(sizeof *C[i].parsed);
        ASSERT(C[i].scratch != NULL && C[i].parsed != NULL);
    }
    set_up();

    /* A failing harness call (srv_start after a crash) must not leave the
     * clients running: catch it, stop them, then fail the case. */
    h_set_fail_hook(crash_fail_hook);
    if (setjmp(crash_jmp) != 0) {
        atomic_store(&abort_flag, 1);
        join_threads();
        h_set_fail_hook(h_test_fail_hook_);
        report_client_failures();
        FAIL_AT("the server failed during the crash rounds (see above)");
    }

    run_threads(client_main);
    for (int round = 1; round <= rounds && !atomic_load(&any_failed); round++) {
        wait_progress(MIN_PROGRESS, 15000);
        long delay = (long)rng_range(&rng, 0, 1200);
        nap_ms(delay);
        unsigned long before = atomic_load(&n_definitive);
        atomic_store(&kill_wall[round], h_now_ms());
        atomic_fetch_add(&epoch, 1);
        set_down();
        srv_kill9(&S);
        long down = (long)rng_range(&rng, 0, 200);
        nap_ms(down);
        uint64_t t0 = mono_ms();
        srv_start(&S);
        set_up();
        printf("# round %d: SIGKILL %ld ms after progress, %lu answers so far; down %ld ms, "
               "restart %llu ms\n",
               round, delay, before, down, (unsigned long long)(mono_ms() - t0));
    }
    wait_progress(MIN_PROGRESS, 15000);
    atomic_store(&stop_flag, 1);
    join_threads();
    h_set_fail_hook(h_test_fail_hook_);
    if (atomic_load(&any_failed)) {
        report_client_failures();
        FAIL_AT("a client saw a wrong answer (see above)");
    }

    /* totals */
    unsigned long ok[OP_KINDS] = {0}, refused[OP_KINDS] = {0}, retried[OP_KINDS] = {0};
    unsigned long saved[OP_KINDS] = {0};
    unsigned long lost = 0, dups = 0;
    long long issued = 0, deposited = 0, outstanding = 0, withdrawn = 0;
    size_t nops = 0;
    for (int i = 0; i < NCLIENT; i++) {
        for (int k = 0; k < OP_KINDS; k++) {
            ok[k] += C[i].ok[k];
            refused[k] += C[i].refused[k];
            retried[k] += C[i].retried[k];
            saved[k] += C[i].saved[k];
        }
        lost += C[i].lost;
        dups += C[i].dup_checks;
        issued += C[i].coins_issued;
        deposited += C[i].coins_deposited;
        outstanding += C[i].outstanding;
        withdrawn += C[i].withdrawn_total;
        nops += C[i].n_ops;
    }
    printf("# %zu requests in %d kill rounds (%llu ms); %lu sends got no response and were "
           "retried; %lu 5xx answers%s%s\n",
           nops, rounds, (unsigned long long)(mono_ms() - t_start), lost, n5xx,
           n5xx ? ", first: " : "", first5xx);
    for (int k = 0; k < OP_KINDS; k++) {
        printf("#   %-10s %6lu ok, %5lu refused (4xx), %4lu needed a retry after a lost answer",
               op_names[k], ok[k], refused[k], retried[k]);
        if (k == OP_WITHDRAW || k == OP_DEPOSIT) {
            printf(" (%lu of them committed before the SIGKILL: the retry got the stored answer)",
                   saved[k]);
        }
        printf("\n");
    }
    printf("#   %lu immediate duplicates answered identically; coins: %lld issued, %lld "
           "deposited\n",
           dups, issued, deposited);

    /* one more crash, at rest */
    set_down();
    srv_kill9(&S);
    srv_start(&S);
    set_up();

    /* every 2xx again: the same answer, and nothing moves */
    run_threads(replay_main);
    join_threads();
    if (atomic_load(&any_failed)) {
        report_client_failures();
        FAIL_AT("a replayed request got another answer (see above)");
    }

    /* balances: exactly what the definitive answers say */
    long long users = 0;
    int mismatches = 0;
    for (int i = 0; i < NCLIENT; i++) {
        json_t *j = NULL;
        int st = api(&S, &D[i], "GET", "/v1/balance", NULL, &j);
        ASSERT_EQ(st, 200);
        long long have = json_int(j, "available") + json_int(j, "held");
        long long out = json_int(j, "offline_outstanding");
        json_decref(j);
        users += have;
        long long want = atomic_load(&expected[i]);
        if (have != want || out != C[i].outstanding) {
            printf("# device %d (account %lld): available+held %lld, expected %lld (diff %lld); "
                   "offline_outstanding %lld, expected %lld\n",
                   i, D[i].account, have, want, have - want, out, C[i].outstanding);
            mismatches++;
        }
    }
    ASSERT_EQ(mismatches, 0);

    /* conservation, from the admin audit report */
    json_t *j = NULL;
    ASSERT_EQ(admin(&S, S.token, "GET", "/v1/admin/audit", NULL, &j), 200);
    const char *report = json_str(j, "report");
    int ok_parse = 1;
    long long r_users = report_value(report, "users (available + held):", &ok_parse);
    long long r_float = report_value(report, "offline float:", &ok_parse);
    long long r_loss = report_value(report, "fraud losses account:", &ok_parse);
    long long r_funded = report_value(report, "funded - paid out:", &ok_parse);
    long long r_out = report_value(report, "coins outstanding:", &ok_parse);
    int audit_flag = json_is_true(json_get(j, "ok"));
    if (!ok_parse || !audit_flag) printf("%s", report);
    json_decref(j);
    ASSERT(ok_parse);
    ASSERT(audit_flag);
    const long long total = NCLIENT * FUND;
    printf("# audit: users %lld + coins outstanding %lld = %lld, funded %lld; float %lld, "
           "losses %lld\n",
           r_users, r_out, r_users + r_out, r_funded, r_float, r_loss);
    ASSERT_EQ(r_funded, total);
    ASSERT_EQ(r_users, users);
    ASSERT_EQ(r_out, outstanding);
    ASSERT_EQ(r_float, outstanding);
    ASSERT_EQ(r_loss, 0);
    ASSERT_EQ(users + outstanding, total);

    ASSERT_EQ(srv_stop(&S), 0);
    audit_ok(&S);
    check_coins_table(issued, deposited, outstanding, withdrawn);
    srv_cleanup(&S);
    for (int i = 0; i < NCLIENT; i++) {
        for (size_t k = 0; k < C[i].n_ops; k++) {
            free(C[i].ops[k].body);
            json_decref(C[i].ops[k].answer);
        }
        for (size_t k = 0; k < C[i].n_pool; k++) free(C[i].pool[k].b);
        free(C[i].ops);
        free(C[i].serials);
        free(C[i].wds);
        free(C[i].tids);
        free(C[i].scratch);
        free(C[i].parsed);
    }
}

TESTS(T(test_crash_under_load))
