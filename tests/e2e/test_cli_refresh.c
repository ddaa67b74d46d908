/*
 * test_cli_refresh.c - end-to-end tests of the wallet's online upkeep and
 * its limits through real `ducat` processes against a real ducatd:
 *
 *   - refresh of coins near expiry (issued "in the past" with the server's
 *     [dev] clock_file) by `ducat refresh` and by `ducat sync`, bounded by
 *     the available balance and by the room under the offline limit;
 *   - refresh of coins near their hop limit (a server with max_hops = 4,
 *     coins passed along between three wallets), and a coin past its hop
 *     limit (built with the core API) refused by `ducat accept`;
 *   - a deposit batch the server refuses because one coin was deposited
 *     already from a copy of the wallet: the other coins are credited one
 *     by one, the refused one is reported and leaves the wallet; and the
 *     same interrupted between the refusal and the retry, finished by sync;
 *   - a payment that would push the payee over its offline limit when it
 *     arrives (armor and TCP): refused, nothing kept, the request stays
 *     open, and the same payment goes through once the payee deposited;
 *   - a second `ducat` process on a wallet in use: a clear one-line error
 *     after DUCAT_LOCK_WAIT_MS, nothing changed; a waiting one proceeds when
 *     the holder dies.
 *
 * Every scenario ends with exact balances on both sides and `ducatd audit`.
 * The ducat binary is $DUCAT, else "ducat" next to $DUCATD. Wallets use
 * --kdf min so each process start costs milliseconds.
 */
#define _DEFAULT_SOURCE
#include "test.h"

#include "harness.h"

#include "cli_harness.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ducat/armor.h"
#include "ducat/crypto.h"
#include "ducat/proto.h"
#include "ducat/service.h"
#include "ducat/wallet.h"

#define DAY_MS 86400000ULL

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sum and count of the coins listed by `ducat coins --all` with a status. */
static long long coins_sum(const struct wal *w, const char *status, long long *count)
{
    json_t *j = djson(w, "coins --all");
    const json_t *a = json_get(j, "coins");
    long long sum = 0, n = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *c = json_array_get(a, i);
        if (strcmp(json_str(c, "status"), status) == 0) {
            sum += json_int(c, "value");
            n++;
        }
    }
    json_decref(j);
    if (count) *count = n;
    return sum;
}

/* One line of output exactly. */
#define ASSERT_ONE_LINE(out) ASSERT_EQ(strchr((out), '\n') - (out) + 1, (long)strlen(out))

/* ---- The server ---------------------------------------------------------------------- */

static struct srv S;

/* Replaces the line `key = ...` of the server's configuration. */
static void conf_set(const struct srv *s, const char *key, const char *value)
{
    char out[1024];
    int rc = sh(out, sizeof out, "grep -q '^%s = ' %s && sed -i 's/^%s = .*/%s = %s/' %s", key,
                s->conf, key, key, value, s->conf);
    if (rc != 0) FAIL_AT("cannot set %s in %s: %s", key, s->conf, out);
}

/* The business clock (the server reads [dev] clock_file at each request). */
#define clock_set(s, ms) srv_clock_set((s), (ms))
#define clock_real(s) srv_clock_real(s)

/* ---- Payments built with the core API -------------------------------------------------- */

/* A TRANSFER record of c (owned by `from`) to cert with nonce, built and
 * signed here because dc_coin_transfer refuses to pass the hop limit. */
static void transfer_by_hand(struct coin *c, const struct dev *from,
                             const uint8_t cert[static DC_DEVCERT_BYTES],
                             const uint8_t nonce[static DC_NONCE_BYTES])
{
    static struct dc_coin dc;
    uint8_t state[DC_HASH_BYTES], body[DC_TRANSFER_BYTES - DC_SIG_BYTES];
    ASSERT_OK(dc_coin_decode(&dc, c->b, c->len));
    dc_coin_state(state, &dc, dc.n);
    body[0] = DC_TYPE_TRANSFER;
    body[1] = 1; /* wire version */
    memcpy(body + 2, cert, DC_DEVCERT_BYTES);
    memcpy(body + 2 + DC_DEVCERT_BYTES, nonce, DC_NONCE_BYTES);
    ASSERT(c->len + DC_TRANSFER_BYTES <= sizeof c->b);
    memcpy(c->b + c->len, body, sizeof body);
    dc_sign(c->b + c->len + sizeof body, body, sizeof body, state, from->sk);
    c->len += DC_TRANSFER_BYTES;
    c->b[2]++; /* record count */
}

/* payee: `ducat request AMOUNT` into DIR/req-TAG, c paid to it into DIR/pay-TAG. */
static void pay_with_coin(const struct wal *payee, const char *dir, const char *tag,
                          const char *amount, struct coin *c, const struct dev *from, int by_hand,
                          char pay_path[static 256])
{
    struct hand_request h;
    hand_request(&h, payee, dir, tag, amount);
    snprintf(pay_path, 256, "%s", h.pay_path);
    if (by_hand) {
        uint8_t cert[DC_DEVCERT_BYTES];
        dc_devcert_encode(cert, &h.r.payee);
        transfer_by_hand(c, from, cert, h.r.nonce);
    } else {
        transfer_to_request(c, from, &h.r);
    }
    write_payment(h.pay_path, h.req, h.len, c, 1);
}

/* An offline payment of AMOUNT from payer to payee by armor, confirmed. */
static void pay_armor(const struct wal *payer, const struct wal *payee, const char *dir,
                      const char *tag, const char *amount)
{
    char out[16384];
    int rc = D(out, payee, "request %s > %s/rq-%s 2>/dev/null", amount, dir, tag);
    if (rc != 0) FAIL_AT("request exited %d", rc);
    rc = D(out, payer, "pay %s/rq-%s > %s/py-%s", dir, tag, dir, tag);
    if (rc != 0) FAIL_AT("pay exited %d: %s", rc, out);
    rc = D(out, payee, "accept %s/py-%s > %s/rc-%s", dir, tag, dir, tag);
    if (rc != 0) FAIL_AT("accept exited %d: %s", rc, out);
    rc = D(out, payer, "confirm %s/rc-%s", dir, tag);
    if (rc != 0) FAIL_AT("confirm exited %d: %s", rc, out);
}

/* Fails unless no double-spend case was opened. */
static void no_cases(const struct srv *s)
{
    json_t *j = NULL;
    int st = admin(s, s->token, "GET", "/v1/admin/cases", NULL, &j);
    ASSERT_EQ(st, 200);
    if (json_array_size(json_get(j, "cases")) != 0) FAIL_AT("unexpected double-spend case(s)");
    json_decref(j);
}

/* ---- 1. Refresh of coins near expiry ---------------------------------------------------- */

static void test_refresh_near_expiry(void)
{
    char out[16384], dir[128];
    struct wal alice, bob, carol;
    struct dev dan;
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    snprintf(dir, sizeof dir, "%s", S.dir);
    /* coins live 10 days; certificates 30, so only the coin's expiry is
     * near; a small offline limit so the refresh meets it */
    conf_set(&S, "cert_lifetime_days", "30");
    conf_set(&S, "default_offline_limit", "100.00");
    srv_dev_clock(&S);
    /* 9.5 days ago: coins issued then expire within the wallet's one-day
     * refresh margin; the signing key must be valid from then */
    uint64_t past = h_now_ms() - 9 * DAY_MS - DAY_MS / 2;
    clock_set(&S, past);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "keys rotate"), 0);
    clock_real(&S);
    srv_start(&S);

    /* Alice: coins of her own, bounded by the available balance */
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 125.00", alice.account), 0);
    clock_set(&S, past);
    int rc = D(out, &alice, "withdraw 60");
    clock_real(&S);
    if (rc != 0) FAIL_AT("withdraw in the past exited %d: %s", rc, out);
    ASSERT_EQ(D(out, &alice, "withdraw 40"), 0);
    long long n;
    ASSERT_EQ(coins_sum(&alice, "refresh", &n), 6000);
    ASSERT_EQ(n, 2); /* 50 + 10 */
    ASSERT_EQ(coins_sum(&alice, "held", &n), 4000);
    ASSERT_EQ(n, 2); /* 20 + 20 */
    ASSERT_EQ(offline_field(&alice, "offline_refresh"), 6000);
    ASSERT_EQ(offline_field(&alice, "offline_spendable"), 4000);
    json_t *before = djson(&alice, "coins");

    rc = D(out, &alice, "refresh");
    if (rc != 0) FAIL_AT("refresh exited %d: %s", rc, out);
    ASSERT_HAS(out, "refreshed 2 coin(s): 60.00 CNY deposited (held), 25.00 CNY withdrawn as "
                    "fresh coins");
    ASSERT_HAS(out, "available balance (25.00 CNY)");
    ASSERT_HAS(out, "offline limit (60.00 CNY)");
    json_t *j = djson(&alice, "balance");
    ASSERT_EQ(json_int(j, "available"), 0);
    ASSERT_EQ(json_int(j, "held"), 6000);
    ASSERT_EQ(json_int(j, "offline_outstanding"), 6500);
    ASSERT_EQ(json_int(j, "offline_coins"), 6500);
    ASSERT_EQ(json_int(j, "offline_refresh"), 0);
    ASSERT_EQ(json_int(j, "offline_pending_out"), 0);
    json_decref(j);
    /* exactly the two coins near expiry left (spent); the fresh ones live 10 days */
    j = djson(&alice, "coins --all");
    const json_t *a = json_get(j, "coins");
    const json_t *b = json_get(before, "coins");
    size_t spent = 0, fresh = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *c = json_array_get(a, i);
        const char *st = json_str(c, "status");
        int was_refresh = 0, was_listed = 0;
        for (size_t k = 0; k < json_array_size(b); k++) {
            const json_t *o = json_array_get(b, k);
            if (strcmp(json_str(o, "serial"), json_str(c, "serial")) == 0) {
                was_listed = 1;
                was_refresh = strcmp(json_str(o, "status"), "refresh") == 0;
            }
        }
        if (was_refresh) {
            ASSERT_STR(st, "spent");
            spent++;
        } else {
            ASSERT_STR(st, "held");
            if (!was_listed) {
                fresh++;
                ASSERT(json_int(c, "expires_at") > (long long)(h_now_ms() + 9 * DAY_MS));
                ASSERT_EQ(json_int(c, "hops"), 0);
            }
        }
    }
    ASSERT_EQ(spent, 2);
    ASSERT_EQ(fresh, 2); /* 25 = 20 + 5 */
    json_decref(j);
    json_decref(before);
    ASSERT_EQ(D(out, &alice, "refresh"), 0);
    ASSERT_HAS(out, "no coin needs refreshing");
    ASSERT_EQ(online_field(&alice, "held"), 6000);

    /* Bob: a coin near expiry received from someone else; `ducat sync`
     * refreshes it, bounded by the room under his offline limit (the
     * server counts what HE withdrew; depositing Dan's coin frees none) */
    wallet_new(&S, &bob, "bob", "Bob Li");
    wallet_new(&S, &carol, "carol", "Carol Wang");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 200.00", bob.account), 0);
    ASSERT_EQ(D(out, &bob, "withdraw 80"), 0);
    pay_armor(&bob, &carol, dir, "bc", "30");
    ASSERT_EQ(offline_field(&bob, "offline_coins"), 5000);
    dev_setup(&S, &dan, "Dan Zhou", 10000);
    static struct coin dc[2];
    size_t nc;
    clock_set(&S, past);
    int st = withdraw(&S, &dan, 5000, dc, 2, &nc, NULL);
    clock_real(&S);
    ASSERT_EQ(st, 201);
    ASSERT_EQ(nc, 1);
    char pay[256];
    pay_with_coin(&bob, dir, "dan", "50", &dc[0], &dan, 0, pay);
    rc = D(out, &bob, "accept %s > /dev/null", pay);
    if (rc != 0) FAIL_AT("accept of Dan's coin exited %d: %s", rc, out);
    ASSERT_EQ(offline_field(&bob, "offline_coins"), 10000);
    ASSERT_EQ(offline_field(&bob, "offline_refresh"), 5000);
    rc = D(out, &bob, "sync");
    if (rc != 0) FAIL_AT("sync exited %d: %s", rc, out);
    ASSERT_HAS(out, "refreshed 1 coin(s) near expiry or hop limit: 50.00 CNY deposited (held), "
                    "20.00 CNY withdrawn as fresh coins");
    ASSERT_HAS(out, "offline limit (20.00 CNY)");
    j = djson(&bob, "balance");
    ASSERT_EQ(json_int(j, "available"), 10000); /* 200 - 80 - 20 */
    ASSERT_EQ(json_int(j, "held"), 5000);
    ASSERT_EQ(json_int(j, "offline_outstanding"), 10000); /* at the limit */
    ASSERT_EQ(json_int(j, "offline_coins"), 7000);        /* 50 kept + 20 fresh */
    ASSERT_EQ(json_int(j, "offline_refresh"), 0);
    json_decref(j);
    ASSERT_EQ(coins_sum(&bob, "spent", &n), 5000 + 3000);
    /* Dan's coin is back: his account has no coin outstanding */
    json_t *db = NULL;
    ASSERT_EQ(api(&S, &dan, "GET", "/v1/balance", NULL, &db), 200);
    ASSERT_EQ(json_int(db, "offline_outstanding"), 0);
    ASSERT_EQ(json_int(db, "available"), 5000);
    json_decref(db);
    /* a second sync finds nothing to do */
    ASSERT_EQ(D(out, &bob, "sync"), 0);
    ASSERT(!contains(out, "refreshed"));
    ASSERT_EQ(online_field(&bob, "held"), 5000);
    no_cases(&S);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 1b and 5. Hop limits ------------------------------------------------------------------ */

static void test_refresh_hop_limit_and_refusal(void)
{
    char out[16384], dir[128];
    struct wal alice, bob, carol, pat;
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    conf_set(&S, "max_hops", "4");
    srv_start(&S);
    snprintf(dir, sizeof dir, "%s", S.dir);
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    wallet_new(&S, &bob, "bob", "Bob Li");
    wallet_new(&S, &carol, "carol", "Carol Wang");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", alice.account), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 10.00", carol.account), 0);
    ASSERT_EQ(D(out, &alice, "withdraw 10"), 0); /* one coin of 10.00 */

    /* Alice -> Bob 3.00: split + transfer (2 hops); Bob -> Carol: 3 hops */
    pay_armor(&alice, &bob, dir, "ab", "3");
    pay_armor(&bob, &carol, dir, "bc", "3");
    json_t *j = djson(&carol, "coins");
    const json_t *c0 = json_array_get(json_get(j, "coins"), 0);
    ASSERT_EQ(json_array_size(json_get(j, "coins")), 1);
    ASSERT_EQ(json_int(c0, "value"), 300);
    ASSERT_EQ(json_int(c0, "hops"), 3);
    ASSERT_EQ(json_int(c0, "hop_limit"), 4);
    ASSERT_STR(json_str(c0, "status"), "refresh");
    json_decref(j);
    /* Alice's change (1 hop) is not touched by her refresh */
    ASSERT_EQ(D(out, &alice, "refresh"), 0);
    ASSERT_HAS(out, "no coin needs refreshing");
    ASSERT_EQ(offline_field(&alice, "offline_coins"), 700);
    /* Carol cannot pass it on offline: one hop left is kept for the deposit path */
    ASSERT_EQ(D(out, &alice, "request 3 > %s/rq-ca 2>/dev/null", dir), 0);
    ASSERT_EQ(D(out, &carol, "pay %s/rq-ca", dir), 1);
    ASSERT_HAS(out, "spendable offline: 0.00 CNY");
    ASSERT_EQ(offline_field(&carol, "offline_pending_out"), 0);

    int rc = D(out, &carol, "refresh");
    if (rc != 0) FAIL_AT("refresh exited %d: %s", rc, out);
    ASSERT_HAS(out, "refreshed 1 coin(s): 3.00 CNY deposited (held), 3.00 CNY withdrawn as fresh "
                    "coins");
    ASSERT(!contains(out, "fewer fresh coins"));
    j = djson(&carol, "balance");
    ASSERT_EQ(json_int(j, "available"), 700);
    ASSERT_EQ(json_int(j, "held"), 300);
    ASSERT_EQ(json_int(j, "offline_outstanding"), 300);
    ASSERT_EQ(json_int(j, "offline_coins"), 300);
    ASSERT_EQ(json_int(j, "offline_refresh"), 0);
    json_decref(j);
    j = djson(&carol, "coins");
    const json_t *a = json_get(j, "coins");
    ASSERT_EQ(json_array_size(a), 2); /* 2.00 + 1.00, fresh */
    for (size_t i = 0; i < json_array_size(a); i++) {
        ASSERT_EQ(json_int(json_array_get(a, i), "hops"), 0);
        ASSERT_STR(json_str(json_array_get(a, i), "status"), "held");
    }
    json_decref(j);
    ASSERT_EQ(coins_sum(&carol, "spent", NULL), 300);

    /* 5: a coin past its hop limit, passed along by two devices with the
     * core API (4 hops) and a fifth transfer signed by hand */
    wallet_new(&S, &pat, "pat", "Pat Payee");
    struct dev x, y;
    dev_setup(&S, &x, "Xavier One", 1000);
    dev_setup(&S, &y, "Yvonne Two", 0);
    dev_sync(&S, &y);
    static struct coin c[1];
    size_t nc;
    ASSERT_EQ(withdraw(&S, &x, 100, c, 1, &nc, NULL), 201);
    coin_transfer(&c[0], &x, &y);
    coin_transfer(&c[0], &y, &x);
    coin_transfer(&c[0], &x, &y);
    coin_transfer(&c[0], &y, &x);
    static struct coin other[1];
    other[0] = c[0];
    char pay[256];
    pay_with_coin(&pat, dir, "hop", "1", &c[0], &x, 1, pay);
    rc = D(out, &pat, "accept %s 2>&1 > %s.ans", pay, pay); /* stdout: the signed refusal */
    if (rc != 1) FAIL_AT("accept of a 5-hop coin exited %d: %s", rc, out);
    ASSERT_HAS(out, "payment refused: coin 0, record 5: coin hop limit exceeded");
    ASSERT_ONE_LINE(out);
    ASSERT_EQ(offline_field(&pat, "offline_coins"), 0);
    /* the refusal is final (the wallet remembers the refused coins, so its
     * file changes; test_cli_reclaim covers that memory): the same payment
     * again is refused again, and nothing was taken */
    rc = D(out, &pat, "accept %s 2>&1 > %s.ans2", pay, pay);
    if (rc != 1) FAIL_AT("second accept of the refused payment exited %d: %s", rc, out);
    ASSERT_HAS(out, "payment refused: coin 0, record 5: coin hop limit exceeded");
    ASSERT_EQ(offline_field(&pat, "offline_coins"), 0);
    /* the server agrees: a fifth hop to Yvonne, deposited by her, is refused */
    uint8_t nonce[DC_NONCE_BYTES];
    randombytes_buf(nonce, sizeof nonce);
    transfer_by_hand(&other[0], &x, y.devcert, nonce);
    coin_deposit(&other[0], &y, y.account);
    json_t *dj = NULL;
    int st = deposit(&S, &y, &other[0], 1, NULL, &dj);
    ASSERT_API_ERR(st, dj, 403, "DC_ERR_HOP_LIMIT");
    json_decref(dj);
    no_cases(&S);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 2. A refused deposit batch, coin by coin ------------------------------------------------ */

static void test_deposit_batch_fallback(void)
{
    char out[16384], copy[150];
    struct wal alice, twin;
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_start(&S);
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", alice.account), 0);
    ASSERT_EQ(D(out, &alice, "withdraw 8"), 0); /* 5 + 2 + 1 */
    /* a copy of the wallet (a second device restored from a backup) deposits
     * the 2.00 coin first */
    snprintf(copy, sizeof copy, "%s/alice-copy.w", S.dir);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", alice.path, copy), 0);
    twin = alice;
    snprintf(twin.path, sizeof twin.path, "%s", copy);
    json_t *j = djson(&alice, "coins");
    long long idx = -1;
    char serial2[80] = "";
    for (size_t i = 0; i < json_array_size(json_get(j, "coins")); i++) {
        const json_t *c = json_array_get(json_get(j, "coins"), i);
        if (json_int(c, "value") == 200) {
            idx = json_int(c, "index");
            snprintf(serial2, sizeof serial2, "%.12s", json_str(c, "serial"));
        }
    }
    json_decref(j);
    ASSERT(idx >= 0);
    ASSERT_EQ(D(out, &twin, "deposit --coin %lld", idx), 0);
    ASSERT_EQ(online_field(&alice, "held"), 200);

    /* the original deposits all three: the batch is refused for the one
     * coin, the other two go through one by one */
    int rc = D(out, &alice, "deposit");
    if (rc != 1) FAIL_AT("deposit exited %d: %s", rc, out);
    ASSERT_HAS(out, "ducat: deposit: 1 coin(s) worth 2.00 CNY refused by the server for good "
                    "(coin state already consumed) and dropped from this wallet; every other "
                    "coin was credited\n");
    char want[200];
    snprintf(want, sizeof want, "coin %s  2.00 CNY REFUSED: coin state already consumed", serial2);
    ASSERT_HAS(out, want);
    ASSERT_HAS(out, "5.00 CNY held until");
    ASSERT_HAS(out, "1.00 CNY held until");
    ASSERT_HAS(out, "deposited: 6.00 CNY credited to your held balance");
    j = djson(&alice, "balance");
    ASSERT_EQ(json_int(j, "available"), 9200);
    ASSERT_EQ(json_int(j, "held"), 800); /* 2 (copy) + 5 + 1: nothing lost, nothing twice */
    ASSERT_EQ(json_int(j, "offline_outstanding"), 0);
    ASSERT_EQ(json_int(j, "offline_coins"), 0);
    ASSERT_EQ(json_int(j, "offline_pending_out"), 0);
    json_decref(j);
    long long n;
    ASSERT_EQ(coins_sum(&alice, "spent", &n), 800);
    ASSERT_EQ(n, 3);
    ASSERT_EQ(D(out, &alice, "info"), 0);
    ASSERT(!contains(out, "pending"));
    ASSERT_EQ(D(out, &alice, "deposit"), 1);
    ASSERT_HAS(out, "no coins to deposit");

    /* the same with --json: the refusal named per coin */
    ASSERT_EQ(D(out, &alice, "withdraw 3"), 0); /* 2 + 1 */
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", alice.path, copy), 0);
    ASSERT_EQ(D(out, &twin, "deposit"), 0);
    rc = sh(out, sizeof out, "%s --wallet %s --json deposit 2>/dev/null", ducat_bin, alice.path);
    ASSERT_EQ(rc, 1);
    j = json_loads(out, 0, NULL);
    if (!j) FAIL_AT("deposit --json: not JSON: %s", out);
    ASSERT_EQ(json_int(j, "credited"), 0);
    ASSERT_EQ(json_int(j, "refused"), 2);
    const json_t *cs = json_get(j, "coins");
    ASSERT_EQ(json_array_size(cs), 2);
    for (size_t i = 0; i < 2; i++) {
        ASSERT_STR(json_str(json_array_get(cs, i), "status"), "refused");
        ASSERT_STR(json_str(json_array_get(cs, i), "error"), "DC_ERR_COIN_SPENT");
    }
    json_decref(j);
    j = djson(&alice, "balance");
    ASSERT_EQ(json_int(j, "held"), 1100);
    ASSERT_EQ(json_int(j, "available"), 8900);
    ASSERT_EQ(json_int(j, "offline_coins"), 0);
    ASSERT_EQ(json_int(j, "offline_pending_out"), 0);
    json_decref(j);
    no_cases(&S);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* Saves like the CLI up to save number `die_at`, then fails every save
 * without writing: the file keeps what a process killed there left. */
struct dying_save {
    const char *path;
    int calls, die_at;
};

static enum dc_err dying_save(void *ctx, struct dc_wallet *w)
{
    struct dying_save *d = ctx;
    if (++d->calls >= d->die_at) return DC_ERR_IO;
    return dc_wallet_commit(w, d->path);
}

/* 2b: killed between the refused batch and the coin-by-coin retry (the
 * coins are signed for deposit, no request is left, the deposit operation
 * is stored): `ducat sync` finishes that deposit, credits the good one and
 * reports the refused one, and starts nothing else. */
static void test_deposit_fallback_interrupted(void)
{
    char out[16384], copy[150], url[64];
    struct wal alice, twin;
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_start(&S);
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", alice.account), 0);
    ASSERT_EQ(D(out, &alice, "withdraw 3"), 0); /* 2 + 1 */
    snprintf(copy, sizeof copy, "%s/alice-copy.w", S.dir);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", alice.path, copy), 0);
    twin = alice;
    snprintf(twin.path, sizeof twin.path, "%s", copy);
    json_t *j = djson(&alice, "coins");
    long long idx = -1;
    for (size_t i = 0; i < json_array_size(json_get(j, "coins")); i++) {
        const json_t *c = json_array_get(json_get(j, "coins"), i);
        if (json_int(c, "value") == 100) idx = json_int(c, "index");
    }
    json_decref(j);
    ASSERT(idx >= 0);
    ASSERT_EQ(D(out, &twin, "deposit --coin %lld", idx), 0);

    /* saves: 1 the operation with the coins signed for deposit, 2 the batch
     * request, 3 the batch forgotten after the refusal, 4 the first coin's
     * own request: the process dies there */
    const char *pass = getenv("DUCAT_PASSPHRASE");
    struct dc_wallet *w;
    ASSERT_OK(dc_wallet_load(&w, alice.path, pass, strlen(pass), DC_WALLET_KEEP_KEY));
    struct dc_client *c;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", S.port);
    ASSERT_OK(dc_client_new(&c, url));
    struct dying_save ds = {alice.path, 0, 4};
    struct dc_service svc;
    dc_service_init(&svc, w, c, dying_save, &ds);
    struct dc_service_deposit *d = calloc(1, sizeof *d);
    ASSERT(d != NULL);
    ASSERT_ERR(dc_service_deposit(&svc, NULL, 0, h_now_ms(), d), DC_ERR_IO);
    ASSERT_EQ(ds.calls, 4);
    free(d);
    dc_wallet_free(w);
    dc_client_free(c);
    ASSERT_EQ(offline_field(&alice, "offline_pending_out"), 300);
    ASSERT_EQ(offline_field(&alice, "offline_coins"), 0);
    ASSERT_EQ(D(out, &alice, "info"), 0);
    ASSERT(!contains(out, "deposit request"));
    ASSERT_HAS(out, "pending     deposit operation");

    int rc = D(out, &alice, "sync");
    if (rc != 1) FAIL_AT("sync exited %d: %s", rc, out);
    ASSERT_HAS(out, "finished 1 pending request(s) left by an interrupted command");
    ASSERT_HAS(out, "ducat: refresh: 1 coin(s) worth 1.00 CNY refused by the server for good "
                    "(coin state already consumed) and dropped from this wallet");
    j = djson(&alice, "balance");
    ASSERT_EQ(json_int(j, "held"), 300);       /* 1 (copy) + 2: each once */
    ASSERT_EQ(json_int(j, "available"), 9700); /* 100 - 3 */
    ASSERT_EQ(json_int(j, "offline_outstanding"), 0);
    ASSERT_EQ(json_int(j, "offline_coins"), 0);
    ASSERT_EQ(json_int(j, "offline_pending_out"), 0);
    json_decref(j);
    ASSERT_EQ(coins_sum(&alice, "spent", NULL), 300);
    /* nothing left to finish */
    ASSERT_EQ(D(out, &alice, "refresh"), 0);
    ASSERT_HAS(out, "no coin needs refreshing");
    no_cases(&S);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 3. Over the payee's offline limit when the payment arrives -------------------------------
 */

static void test_payee_over_limit_at_accept(void)
{
    char out[16384], dir[128], before[16384], after[16384];
    struct wal pat, ann, ben;
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    conf_set(&S, "default_offline_limit", "50.00");
    srv_start(&S);
    snprintf(dir, sizeof dir, "%s", S.dir);
    wallet_new(&S, &pat, "pat", "Pat Payee");
    wallet_new(&S, &ann, "ann", "Ann Payer");
    wallet_new(&S, &ben, "ben", "Ben Payer");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", ann.account), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", ben.account), 0);
    ASSERT_EQ(D(out, &ann, "withdraw 50"), 0);
    ASSERT_EQ(D(out, &ben, "withdraw 30"), 0);

    /* two open requests of 30.00, each within the limit of 50.00 */
    ASSERT_EQ(D(out, &pat, "request 30 > %s/rqa 2>/dev/null", dir), 0);
    ASSERT_EQ(D(out, &pat, "request 30 > %s/rqb 2>/dev/null", dir), 0);
    ASSERT_EQ(D(out, &ann, "pay %s/rqa > %s/pya", dir, dir), 0);
    ASSERT_EQ(D(out, &pat, "accept %s/pya > %s/rca", dir, dir), 0);
    ASSERT_EQ(D(out, &ann, "confirm %s/rca", dir), 0);
    ASSERT_EQ(D(out, &ben, "pay %s/rqb > %s/pyb", dir, dir), 0);
    ASSERT_EQ(offline_field(&ben, "offline_pending_out"), 3000);

    /* the second payment would bring Pat to 60.00: refused, nothing kept */
    long fl = slurp(pat.path, before, sizeof before);
    ASSERT(fl > 0);
    int rc = D(out, &pat, "accept %s/pyb", dir);
    if (rc != 1) FAIL_AT("accept over the limit exited %d: %s", rc, out);
    ASSERT_HAS(out, "payment refused: receiving 30.00 CNY would bring this wallet to 60.00 CNY, "
                    "over its offline limit 50.00 CNY; nothing was kept and the request stays "
                    "open");
    ASSERT_ONE_LINE(out);
    ASSERT_EQ(slurp(pat.path, after, sizeof after), fl);
    ASSERT_MEM(before, after, (size_t)fl);
    ASSERT_EQ(offline_field(&pat, "offline_coins"), 3000);
    /* Ben's coins are signed to Pat's device: pending, spendable nowhere
     * else, not lost */
    ASSERT_EQ(offline_field(&ben, "offline_pending_out"), 3000);
    ASSERT_EQ(offline_field(&ben, "offline_coins"), 0);
    /* Pat makes room; the very same payment then goes through */
    ASSERT_EQ(D(out, &pat, "deposit"), 0);
    rc = D(out, &pat, "accept %s/pyb > %s/rcb", dir, dir);
    if (rc != 0) FAIL_AT("accept after the deposit exited %d: %s", rc, out);
    ASSERT_EQ(D(out, &ben, "confirm %s/rcb", dir), 0);
    ASSERT_EQ(offline_field(&ben, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(&pat, "offline_coins"), 3000);

    /* over TCP: a request left open by a killed `receive`, the wallet
     * filled meanwhile; the resumed receive refuses and keeps the request */
    char log[256], pf[256], slog[256];
    snprintf(log, sizeof log, "%s/rx1.log", dir);
    snprintf(pf, sizeof pf, "%s/rx.port", dir);
    pid_t rx = spawn(&pat, log, "receive:request-persisted",
                     "receive --listen 127.0.0.1:0 --port-file %s --amount 20", pf);
    wait_for(log, "PAUSED", 10000);
    kill9(rx);
    pay_armor(&ann, &pat, dir, "fill", "20"); /* Pat holds 50.00 now */
    ASSERT_EQ(offline_field(&pat, "offline_coins"), 5000);
    ASSERT_EQ(D(out, &ben, "withdraw 20"), 0);
    unlink(pf);
    snprintf(log, sizeof log, "%s/rx2.log", dir);
    rx = spawn(&pat, log, NULL, "receive --listen 127.0.0.1:0 --port-file %s --amount 20", pf);
    snprintf(slog, sizeof slog, "%s/tx1.log", dir);
    pid_t tx = spawn(&ben, slog, NULL, "send --to 127.0.0.1:%d", port_of(pf));
    ASSERT_EQ(wait_exit(rx, 20000), 1);
    slurp(log, out, sizeof out);
    ASSERT_HAS(out, "resuming the open request for 20.00 CNY");
    ASSERT_HAS(out, "over its offline limit 50.00 CNY; nothing was kept and the request stays "
                    "open - deposit some coins, then run the same receive command again");
    ASSERT_EQ(wait_exit(tx, 20000), 4); /* interrupted: the payment is saved and pending */
    ASSERT_EQ(offline_field(&ben, "offline_pending_out"), 2000);
    ASSERT_EQ(offline_field(&pat, "offline_coins"), 5000);
    ASSERT_EQ(D(out, &pat, "deposit"), 0);
    unlink(pf);
    snprintf(log, sizeof log, "%s/rx3.log", dir);
    rx = spawn(&pat, log, NULL, "receive --listen 127.0.0.1:0 --port-file %s --amount 20", pf);
    rc = D(out, &ben, "send --to 127.0.0.1:%d", port_of(pf));
    if (rc != 0) FAIL_AT("send again exited %d: %s", rc, out);
    ASSERT_HAS(out, "sending the same payment again");
    ASSERT_EQ(wait_exit(rx, 20000), 0);
    slurp(log, out, sizeof out);
    ASSERT_HAS(out, "resuming the open request for 20.00 CNY");

    /* everything accounted for: Pat deposited 30 + 50 and holds 20 */
    ASSERT_EQ(offline_field(&pat, "offline_coins"), 2000);
    ASSERT_EQ(offline_field(&ben, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(&ben, "offline_coins"), 0);
    ASSERT_EQ(offline_field(&ann, "offline_coins"), 0);
    ASSERT_EQ(online_field(&pat, "held"), 8000);
    ASSERT_EQ(D(out, &pat, "deposit"), 0);
    ASSERT_EQ(online_field(&pat, "held"), 10000);
    ASSERT_EQ(online_field(&ann, "available") + online_field(&ben, "available"), 10000);
    no_cases(&S);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- 4. Another ducat process holds the wallet ------------------------------------------------
 */

static void test_wallet_lock_contention(void)
{
    char out[16384], dir[128], log[256], pf[256], wlog[256], before[16384], after[16384];
    struct wal w;
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_start(&S);
    snprintf(dir, sizeof dir, "%s", S.dir);
    wallet_new(&S, &w, "w", "Wendy Wu");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 10.00", w.account), 0);
    long fl = slurp(w.path, before, sizeof before);
    ASSERT(fl > 0);

    /* a payee waiting for its payer holds the wallet's lock */
    snprintf(log, sizeof log, "%s/rx.log", dir);
    snprintf(pf, sizeof pf, "%s/rx.port", dir);
    pid_t rx = spawn(&w, log, NULL, "receive --listen 127.0.0.1:0 --port-file %s --amount 1", pf);
    wait_for(log, "waiting for the payer", 10000);
    fl = slurp(w.path, before, sizeof before); /* with its open request */
    ASSERT(fl > 0);

    uint64_t t0 = mono_ms();
    int rc =
        sh(out, sizeof out, "DUCAT_LOCK_WAIT_MS=300 %s --wallet %s withdraw 1", ducat_bin, w.path);
    uint64_t took = mono_ms() - t0;
    if (rc != 3) FAIL_AT("withdraw on a busy wallet exited %d: %s", rc, out);
    ASSERT_HAS(out, "is in use by another ducat process");
    ASSERT_HAS(out, "held after 300 ms");
    ASSERT_HAS(out, "nothing was done");
    ASSERT_ONE_LINE(out);
    ASSERT(took < 9000); /* gave up after its own wait, not the 10 s default */
    ASSERT_EQ(sh(out, sizeof out, "DUCAT_LOCK_WAIT_MS=0 %s --wallet %s balance --offline",
                 ducat_bin, w.path),
              3);
    ASSERT_HAS(out, "is in use by another ducat process");
    ASSERT_EQ(
        sh(out, sizeof out, "DUCAT_LOCK_WAIT_MS=soon %s --wallet %s coins", ducat_bin, w.path), 2);
    ASSERT_HAS(out, "invalid DUCAT_LOCK_WAIT_MS 'soon'");
    ASSERT_ONE_LINE(out);
    ASSERT_EQ(slurp(w.path, after, sizeof after), fl);
    ASSERT_MEM(before, after, (size_t)fl);

    /* one that may wait long enough proceeds once the holder is gone, even
     * killed: the kernel drops the lock with the process */
    snprintf(wlog, sizeof wlog, "%s/wd.log", dir);
    setenv("DUCAT_LOCK_WAIT_MS", "60000", 1);
    pid_t wd = spawn(&w, wlog, NULL, "withdraw 1");
    unsetenv("DUCAT_LOCK_WAIT_MS");
    sleep_ms(300);
    ASSERT_EQ(wait_exit(wd, 0), -1); /* still waiting */
    kill9(rx);
    rc = wait_exit(wd, 30000);
    if (rc != 0) {
        slurp(wlog, out, sizeof out);
        FAIL_AT("the waiting withdraw exited %d: %s", rc, out);
    }
    /* nothing happened twice, nothing was lost */
    json_t *j = djson(&w, "balance");
    ASSERT_EQ(json_int(j, "available"), 900);
    ASSERT_EQ(json_int(j, "offline_outstanding"), 100);
    ASSERT_EQ(json_int(j, "offline_coins"), 100);
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* The ducat binary and the ID prefixes, set before any case runs, so each
 * case can also run alone or in another order (DUCAT_TEST_ONLY/REVERSE). */
__attribute__((constructor)) static void init(void)
{
    cli_init("1101011991", "+86137");
    unsetenv("DUCAT_LOCK_WAIT_MS");
}

static void test_setup(void)
{
    char out[256];
    ASSERT_EQ(sh(out, sizeof out, "%s --version", ducat_bin), 0);
    ASSERT_HAS(out, "ducat");
}

TESTS(T(test_setup), T(test_refresh_near_expiry), T(test_refresh_hop_limit_and_refusal),
      T(test_deposit_batch_fallback), T(test_deposit_fallback_interrupted),
      T(test_payee_over_limit_at_accept), T(test_wallet_lock_contention))
