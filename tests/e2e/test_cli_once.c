/*
 * test_cli_once.c - "an honest wallet never loses money", end to end with
 * real `ducat` processes against a real ducatd:
 *
 *   - exactly once: for pay, withdraw and deposit, the server is stopped
 *     (SIGSTOP) while the request is in flight, the command gives up
 *     (exit 4), the server then runs the request and its answer is lost;
 *     re-running the same command finishes the saved request and starts
 *     nothing new (the old wallet ran it a second time); a different
 *     money-moving command meanwhile is told what is pending and how to
 *     finish it, and does nothing. The same with the server killed (kill
 *     -9) and restarted while the request waits;
 *   - deposits of any size: 200 coins with 9 hops each (about 900 KB of
 *     hex, far over one wallet request slot and one server body), all
 *     credited by one `ducat deposit`.
 *
 * Every scenario ends with exact balances on the server and in the
 * wallets, and `ducatd audit`.
 */
#define _DEFAULT_SOURCE
#include "test.h"

#include "harness.h"

#include "cli_harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ducat/coin.h"
#include "ducat/service.h"
#include "ducat/wallet.h"

static struct srv S;

/* One integer of `ducatd accounts show ID` (the server's view, which does
 * not go through the wallet and so finishes nothing pending in it). */
static long long acct_field(long long account, const char *key)
{
    static char out[65536];
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts show %lld", account), 0);
    json_t *j = json_loads(out, 0, NULL);
    if (!j) FAIL_AT("accounts show is not JSON: %s", out);
    const json_t *v = json_object_get(j, key);
    if (!v) v = json_object_get(json_object_get(j, "account"), key);
    if (!json_is_integer(v)) FAIL_AT("accounts show has no integer '%s': %s", key, out);
    long long r = (long long)json_integer_value(v);
    json_decref(j);
    return r;
}

/* Waits (up to 5 s) until the server's account field equals want. */
static void wait_field(long long account, const char *key, long long want)
{
    for (int i = 0; i < 100; i++) {
        if (acct_field(account, key) == want) return;
        sleep_ms(50);
    }
    FAIL_AT("account %lld: %s is %lld, never %lld", account, key, acct_field(account, key), want);
}

static void fresh_server(void)
{
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_start(&S);
}

/*
 * Runs `ducat ARGS` for w with the server stopped: the request reaches the
 * server's socket, the command gives up after 1.5 s (exit 4, the request
 * saved in the wallet), then the server resumes and runs it with nobody
 * listening for the answer.
 */
static void lost_answer(const struct wal *w, const char *args)
{
    char out[16384];
    ASSERT_EQ(kill(S.pid, SIGSTOP), 0);
    setenv("DUCAT_TIMEOUT_MS", "1500", 1);
    int rc = D(out, w, "%s", args);
    unsetenv("DUCAT_TIMEOUT_MS");
    ASSERT_EQ(kill(S.pid, SIGCONT), 0);
    if (rc != 4) FAIL_AT("`ducat %s` with the server stopped exited %d: %s", args, rc, out);
    ASSERT_HAS(out, "run the same command again to finish it (it starts nothing new)");
}

/* ---- Exactly once ------------------------------------------------------------------------- */

static void test_pay_retry_once(void)
{
    char out[16384], cmd[128];
    struct wal alice, bob;
    fresh_server();
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    wallet_new(&S, &bob, "bob", "Bob Li");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", alice.account), 0);

    snprintf(cmd, sizeof cmd, "pay %lld 5.00 --memo 'rent'", bob.account);
    lost_answer(&alice, cmd);
    wait_field(bob.account, "available", 500); /* the server ran it, the answer is lost */

    /* a different command is not started, and says how to finish */
    int rc = D(out, &alice, "withdraw 1.00");
    if (rc != 1) FAIL_AT("withdraw while a payment is pending exited %d: %s", rc, out);
    char want[256];
    snprintf(want, sizeof want,
             "ducat: withdrawal: not started: a payment of 5.00 CNY to account %lld is pending "
             "in this wallet; run `ducat pay %lld 5.00 --memo 'rent'` again to finish it",
             bob.account, bob.account);
    ASSERT_HAS(out, want);
    rc = D(out, &alice, "pay %lld 6.00", bob.account); /* same command, other amount */
    if (rc != 1) FAIL_AT("another payment while one is pending exited %d: %s", rc, out);
    ASSERT_HAS(out, "not started: a payment of 5.00 CNY");
    ASSERT_EQ(D(out, &alice, "info"), 0);
    ASSERT_HAS(out, "pending     pay operation");
    ASSERT_EQ(acct_field(alice.account, "available"), 9500);

    /* the same command finishes it: one transfer, not two */
    rc = D(out, &alice, "%s", cmd);
    if (rc != 0) FAIL_AT("the retried payment exited %d: %s", rc, out);
    ASSERT_HAS(out, "finished the payment started earlier (no new payment was made)");
    ASSERT_EQ(acct_field(alice.account, "available"), 9500);
    ASSERT_EQ(acct_field(bob.account, "available"), 500);
    json_t *h = djson(&bob, "history");
    size_t n = json_array_size(json_object_get(h, "entries"));
    json_decref(h);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(D(out, &alice, "info"), 0);
    ASSERT(!contains(out, "operation"));
    /* and now a new payment is a new payment */
    ASSERT_EQ(D(out, &alice, "%s", cmd), 0);
    ASSERT_EQ(acct_field(bob.account, "available"), 1000);

    /* killed and restarted while the request waits: the retry runs it once */
    ASSERT_EQ(kill(S.pid, SIGSTOP), 0);
    setenv("DUCAT_TIMEOUT_MS", "1500", 1);
    rc = D(out, &alice, "pay %lld 2.00", bob.account);
    unsetenv("DUCAT_TIMEOUT_MS");
    ASSERT_EQ(rc, 4);
    srv_kill9(&S);
    srv_start(&S);
    ASSERT_EQ(acct_field(bob.account, "available"), 1000);
    /* the restarted server listens on a new port: a one-off --server */
    rc = D(out, &alice, "--server http://127.0.0.1:%d pay %lld 2.00", S.port, bob.account);
    if (rc != 0) FAIL_AT("the retried payment exited %d: %s", rc, out);
    ASSERT_HAS(out, "finished the payment started earlier");
    ASSERT_EQ(acct_field(bob.account, "available"), 1200);
    ASSERT_EQ(acct_field(alice.account, "available"), 8800);
    audit_ok(&S);
}

static void test_withdraw_retry_once(void)
{
    char out[16384];
    struct wal alice;
    fresh_server();
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", alice.account), 0);

    lost_answer(&alice, "withdraw 10.00");
    wait_field(alice.account, "available", 9000);
    int rc = D(out, &alice, "deposit");
    if (rc != 1) FAIL_AT("deposit while a withdrawal is pending exited %d: %s", rc, out);
    ASSERT_HAS(out, "ducat: deposit: not started: a withdrawal of 10.00 CNY is pending in this "
                    "wallet; run `ducat withdraw 10.00` again to finish it");
    rc = D(out, &alice, "withdraw 10.00");
    if (rc != 0) FAIL_AT("the retried withdrawal exited %d: %s", rc, out);
    ASSERT_HAS(out, "finished the withdrawal started earlier (no new withdrawal was made)");
    ASSERT_EQ(acct_field(alice.account, "available"), 9000);
    ASSERT_EQ(offline_field(&alice, "offline_coins"), 1000);
    audit_ok(&S);
}

static void test_deposit_retry_once(void)
{
    char out[16384];
    struct wal alice;
    fresh_server();
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", alice.account), 0);
    ASSERT_EQ(D(out, &alice, "withdraw 8.00"), 0); /* 5 + 2 + 1 */

    lost_answer(&alice, "deposit");
    wait_field(alice.account, "held", 800);
    int rc = D(out, &alice, "pay %lld 1.00", alice.account + 1000);
    if (rc != 1) FAIL_AT("pay while a deposit is pending exited %d: %s", rc, out);
    ASSERT_HAS(out, "not started: a deposit is pending in this wallet; run `ducat deposit` again "
                    "to finish it");
    rc = D(out, &alice, "deposit");
    if (rc != 0) FAIL_AT("the retried deposit exited %d: %s", rc, out);
    ASSERT_HAS(out, "finished the deposit started earlier (no new deposit was made)");
    ASSERT_HAS(out, "deposited: 8.00 CNY credited to your held balance");
    ASSERT_EQ(acct_field(alice.account, "held"), 800);
    ASSERT_EQ(acct_field(alice.account, "available"), 9200);
    ASSERT_EQ(offline_field(&alice, "offline_coins"), 0);
    ASSERT_EQ(offline_field(&alice, "offline_pending_out"), 0);
    audit_ok(&S);
}

/* ---- Deposits of any size ----------------------------------------------------------------- */

#define BIG_N 200
#define BIG_HOPS 8 /* between two devices, then one more to the wallet: 9 */

static void test_deposit_of_any_size(void)
{
    char url[64];
    static char out[1 << 20];
    static struct coin coins[BIG_N];
    struct wal alice;
    struct dev d1, d2, me;
    fresh_server();
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    dev_setup(&S, &d1, "Dev One", 1000);
    dev_setup(&S, &d2, "Dev Two", 0);
    dev_sync(&S, &d2);
    for (size_t i = 0; i < BIG_N; i++) {
        size_t n = 0;
        ASSERT_EQ(withdraw(&S, &d1, 1, &coins[i], 1, &n, NULL), 201);
        ASSERT_EQ(n, 1);
    }
    /* the wallet's own device, as the last receiver */
    const char *pass = getenv("DUCAT_PASSPHRASE");
    struct dc_wallet *w;
    ASSERT_OK(dc_wallet_load(&w, alice.path, pass, strlen(pass), DC_WALLET_KEEP_KEY));
    memset(&me, 0, sizeof me);
    ASSERT_OK(dc_wallet_devcert(w, me.devcert));
    me.has_devcert = 1;
    const uint8_t *bufs[BIG_N];
    size_t lens[BIG_N], total = 0;
    for (size_t i = 0; i < BIG_N; i++) {
        for (int h = 0; h < BIG_HOPS; h++) {
            if (h % 2 == 0)
                coin_transfer(&coins[i], &d1, &d2);
            else
                coin_transfer(&coins[i], &d2, &d1);
        }
        coin_transfer(&coins[i], &d1, &me);
        bufs[i] = coins[i].b;
        lens[i] = coins[i].len;
        total += 2 * coins[i].len;
    }
    ASSERT(total > 8 * DC_WALLET_REQUEST_BODY_MAX); /* many requests' worth */
    size_t added = 0;
    ASSERT_OK(dc_wallet_accept_coins(w, bufs, lens, BIG_N, h_now_ms(), &added));
    ASSERT_EQ(added, BIG_N);
    ASSERT_OK(dc_wallet_commit(w, alice.path));
    dc_wallet_free(w);
    (void)url;

    ASSERT_EQ(offline_field(&alice, "offline_coins"), BIG_N);
    int rc = D(out, &alice, "deposit");
    if (rc != 0) FAIL_AT("deposit of %d coins exited %d: %.2000s", BIG_N, rc, out);
    ASSERT_HAS(out, "deposited: 2.00 CNY credited to your held balance");
    ASSERT_EQ(acct_field(alice.account, "held"), BIG_N);
    ASSERT_EQ(offline_field(&alice, "offline_coins"), 0);
    ASSERT_EQ(offline_field(&alice, "offline_pending_out"), 0);
    audit_ok(&S);
}

/* ---- Never pay with what the payee will refuse -------------------------------------------- */

/* payer pays payee AMOUNT by armor in dir/TAG-*; the payee's accept exit code. */
static int pay_by_armor(const struct wal *payer, const struct wal *payee, const char *dir,
                        const char *tag, const char *amount, char *out, size_t cap)
{
    int rc = dcmd(out, cap, payee, "request %s > %s/%s-req 2>/dev/null", amount, dir, tag);
    if (rc != 0) FAIL_AT("request exited %d", rc);
    rc = dcmd(out, cap, payer, "pay %s/%s-req > %s/%s-pay", dir, tag, dir, tag);
    if (rc != 0) return 100 + rc; /* the payer refused */
    rc = dcmd(out, cap, payee, "accept %s/%s-pay > %s/%s-rcpt", dir, tag, dir, tag);
    if (rc == 0) {
        int rc2 = dcmd(out, cap, payer, "confirm %s/%s-rcpt", dir, tag);
        if (rc2 != 0) FAIL_AT("confirm exited %d: %s", rc2, out);
    }
    return rc;
}

/*
 * Mallory pays Bob a clean coin X, then double-spends another coin Y from
 * a backup (to Dave and Erin); their deposits open a case and put her
 * device on the revocation list. Bob syncs: X is now a coin every payee
 * refuses. Bob's wallet neither pays with X alone nor mixes it with his own
 * clean coin (the old wallet signed both over and the payee refused them:
 * stranded); `ducat sync` deposits X instead and Bob keeps every cent.
 */
static void test_never_pay_with_doubtful_coins(void)
{
    char out[16384], backup[200];
    const char *dir = S.dir;
    struct wal mallory, bob, carol, dave, erin;
    fresh_server();
    dir = S.dir;
    wallet_new(&S, &mallory, "mallory", "Mallory Wu");
    wallet_new(&S, &bob, "bob", "Bob Li");
    wallet_new(&S, &carol, "carol", "Carol Chen");
    wallet_new(&S, &dave, "dave", "Dave Sun");
    wallet_new(&S, &erin, "erin", "Erin Zhao");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", mallory.account), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 10.00", bob.account), 0);
    ASSERT_EQ(D(out, &mallory, "withdraw 5.00"), 0); /* X */
    ASSERT_EQ(D(out, &mallory, "withdraw 5.00"), 0); /* Y */
    ASSERT_EQ(pay_by_armor(&mallory, &bob, dir, "x", "5.00", out, sizeof out), 0);
    snprintf(backup, sizeof backup, "%s/mallory-backup.w", dir);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", mallory.path, backup), 0);
    ASSERT_EQ(pay_by_armor(&mallory, &dave, dir, "y1", "5.00", out, sizeof out), 0);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", backup, mallory.path), 0);
    ASSERT_EQ(pay_by_armor(&mallory, &erin, dir, "y2", "5.00", out, sizeof out), 0);
    ASSERT_EQ(D(out, &dave, "deposit"), 0);
    ASSERT_EQ(D(out, &erin, "deposit"), 0);
    ASSERT_HAS(out, "double-spend case");

    ASSERT_EQ(D(out, &bob, "withdraw 2.00"), 0); /* Bob's own clean coin */
    /* Bob's wallet learns the revocation list but deposits nothing yet (a
     * host that only syncs keys, e.g. a phone app on a metered link) */
    {
        const char *pass = getenv("DUCAT_PASSPHRASE");
        char url[64];
        struct dc_wallet *w;
        struct dc_client *c;
        struct dc_service svc;
        struct dc_service_sync_result r;
        ASSERT_OK(dc_wallet_load(&w, bob.path, pass, strlen(pass), DC_WALLET_KEEP_KEY));
        snprintf(url, sizeof url, "http://127.0.0.1:%d", S.port);
        ASSERT_OK(dc_client_new(&c, url));
        dc_service_init(&svc, w, c, NULL, NULL);
        ASSERT_OK(dc_service_sync(&svc, h_now_ms(), NULL, &r));
        ASSERT_EQ(r.n_revoked, 1);
        ASSERT_OK(dc_wallet_commit(w, bob.path));
        dc_wallet_free(w);
        dc_client_free(c);
    }
    ASSERT_EQ(offline_field(&bob, "offline_coins"), 700);
    ASSERT_EQ(offline_field(&bob, "offline_spendable"), 200);

    /* X alone, and X mixed with the clean coin: refused by the payer */
    int rc = pay_by_armor(&bob, &carol, dir, "a", "5.00", out, sizeof out);
    if (rc != 101) FAIL_AT("paying 5.00 with a doubtful coin gave %d: %s", rc, out);
    ASSERT_HAS(out, "cannot pay 5.00 CNY: insufficient funds");
    ASSERT_HAS(out, "5.00 CNY more in coins a payee would refuse");
    rc = pay_by_armor(&bob, &carol, dir, "b", "7.00", out, sizeof out);
    if (rc != 101) FAIL_AT("paying 7.00 = doubtful + clean gave %d: %s", rc, out);
    ASSERT_EQ(offline_field(&bob, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(&bob, "offline_coins"), 700);
    ASSERT_EQ(offline_field(&carol, "offline_coins"), 0);

    /* the clean coin alone still pays */
    ASSERT_EQ(pay_by_armor(&bob, &carol, dir, "c", "2.00", out, sizeof out), 0);
    ASSERT_EQ(offline_field(&carol, "offline_coins"), 200);

    /* online: sync deposits the doubtful coin (credited to Bob, no case
     * against him) and withdraws fresh coins in its place */
    ASSERT_EQ(D(out, &bob, "sync"), 0);
    ASSERT_HAS(out, "refreshed 1 coin(s)");
    ASSERT_EQ(offline_field(&bob, "offline_coins"), 500);
    ASSERT_EQ(offline_field(&bob, "offline_spendable"), 500);
    ASSERT_EQ(offline_field(&bob, "offline_pending_out"), 0);
    json_t *j = djson(&bob, "balance");
    /* paid 10.00 (fund) + 5.00 (X) - 2.00 (to Carol) = 3.00 available
     * + 5.00 held + 5.00 in fresh coins */
    ASSERT_EQ(json_int(j, "available"), 300);
    ASSERT_EQ(json_int(j, "held"), 500);
    json_decref(j);
    /* one case, Mallory's; none against Bob */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases show 1"), 0);
    j = json_loads(out, 0, NULL);
    ASSERT(j != NULL);
    ASSERT_EQ(json_int(j, "culprit_account"), mallory.account);
    json_decref(j);
    ASSERT(srv_cmd(&S, out, sizeof out, "cases show 2") != 0);
    audit_ok(&S);
}

/* The ducat binary and the ID prefixes, set before any case runs, so each
 * case can also run alone or in another order (DUCAT_TEST_ONLY/REVERSE). */
__attribute__((constructor)) static void init(void)
{
    cli_init("1101011992", "+86138");
    unsetenv("DUCAT_TIMEOUT_MS");
}

static void test_setup(void)
{
    char out[256];
    ASSERT_EQ(sh(out, sizeof out, "%s --version", ducat_bin), 0);
    ASSERT_HAS(out, "ducat");
}

static void test_teardown(void)
{
    srv_cleanup(&S);
}

TESTS(T(test_setup), T(test_pay_retry_once), T(test_withdraw_retry_once),
      T(test_deposit_retry_once), T(test_deposit_of_any_size),
      T(test_never_pay_with_doubtful_coins), T(test_teardown))
