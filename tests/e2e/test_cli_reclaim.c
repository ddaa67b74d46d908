/*
 * test_cli_reclaim.c - refused and unacknowledged offline payments come
 * back, with real `ducat` processes and a real ducatd:
 *   - a payee refuses a payment (a coin with a revoked device in its
 *     history, the revocation known to the payee but not yet to the payer):
 *     `ducat accept` prints the signed refusal, the payer's `ducat confirm`
 *     keeps it, `ducat pending` shows it, `ducat reclaim` takes the coins
 *     back at once (held), no case against anybody;
 *   - the same with `ducat reclaim` killed (SIGKILL) before and after each
 *     of its saves: run again, credited exactly once;
 *   - (also: `ducat refresh` with the server killed mid-way, at a request
 *     in flight and after each of its saves: exactly once);
 *   - a payee that never answers: nothing moves before the coins' deposit
 *     deadline; after it (the server's dev clock file, which `ducat` also
 *     reads through DUCAT_CLOCK_FILE) `ducat reclaim` gets them back; a
 *     payee that deposited first wins and the payer's reclaim loses
 *     cleanly (no case, nothing moves);
 *   - a payee that refused (its clock behind) remembers it: the same
 *     payment later is refused locally, nothing to deposit; killed (SIGKILL)
 *     right after saving the refusal, before it left, and run again: it
 *     refuses from memory and signs, the payer reclaims.
 * After each: the audit passes and every honest wallet's value is what it
 * was paid.
 */
#define _DEFAULT_SOURCE
#include "test.h"
/* harness.h needs test.h first */
#include "harness.h"

#include "cli_harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ducat/offline.h"
#include "ducat/service.h"
#include "ducat/wallet.h"

#define DAY_MS 86400000ull

static struct srv S;

static void fresh_server(int dev_clock)
{
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    if (dev_clock) srv_dev_clock(&S);
    srv_start(&S);
}

/* request by payee, pay by payer, accept by payee (its stdout, a receipt
 * or a refusal, into DIR/TAG-ans); the accept's exit code, 100 + the
 * pay's if the payer refused. */
static int pay_by_armor(const struct wal *payer, const struct wal *payee, const char *tag,
                        const char *amount, char *out, size_t cap)
{
    int rc = dcmd(out, cap, payee, "request %s > %s/%s-req 2>/dev/null", amount, S.dir, tag);
    if (rc != 0) FAIL_AT("request exited %d", rc);
    rc = dcmd(out, cap, payer, "pay %s/%s-req > %s/%s-pay", S.dir, tag, S.dir, tag);
    if (rc != 0) return 100 + rc;
    return dcmd(out, cap, payee, "accept %s/%s-pay > %s/%s-ans", S.dir, tag, S.dir, tag);
}

static long long value_of(const struct wal *w)
{
    json_t *j = djson(w, "balance");
    long long v = json_int(j, "available") + json_int(j, "held");
    json_decref(j);
    return v + offline_field(w, "offline_coins") + offline_field(w, "offline_pending_out");
}

static size_t n_cases(void)
{
    json_t *j = NULL;
    int st = admin(&S, S.token, "GET", "/v1/admin/cases", NULL, &j);
    if (st != 200) FAIL_AT("GET /v1/admin/cases answered %d", st);
    size_t n = json_array_size(json_get(j, "cases"));
    json_decref(j);
    return n;
}

/*
 * Mallory pays Bob `n` coins of 1.00 offline (clean coins), then double
 * spends another coin (to Dave and Erin): their deposits open a case and
 * revoke her device. Carol syncs and learns it; Bob does not (he is
 * offline): to him the coins are fine, to Carol they are refused.
 */
static void setup_revoked_coins(struct wal *mallory, struct wal *bob, struct wal *carol, int n)
{
    char out[16384], backup[200];
    struct wal dave, erin;
    wallet_new(&S, mallory, "mallory", "Mallory Wu");
    wallet_new(&S, bob, "bob", "Bob Li");
    wallet_new(&S, carol, "carol", "Carol Chen");
    wallet_new(&S, &dave, "dave", "Dave Sun");
    wallet_new(&S, &erin, "erin", "Erin Zhao");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", mallory->account), 0);
    for (int i = 0; i < n; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "x%d", i);
        ASSERT_EQ(D(out, mallory, "withdraw 1.00"), 0);
        ASSERT_EQ(pay_by_armor(mallory, bob, tag, "1.00", out, sizeof out), 0);
        ASSERT_EQ(D(out, mallory, "confirm %s/%s-ans", S.dir, tag), 0);
    }
    ASSERT_EQ(D(out, mallory, "withdraw 5.00"), 0); /* Y */
    snprintf(backup, sizeof backup, "%s/mallory-backup.w", S.dir);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", mallory->path, backup), 0);
    ASSERT_EQ(pay_by_armor(mallory, &dave, "y1", "5.00", out, sizeof out), 0);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", backup, mallory->path), 0);
    ASSERT_EQ(pay_by_armor(mallory, &erin, "y2", "5.00", out, sizeof out), 0);
    ASSERT_EQ(D(out, &dave, "deposit"), 0);
    ASSERT_EQ(D(out, &erin, "deposit"), 0);
    ASSERT_HAS(out, "double-spend case");
    ASSERT_EQ(D(out, carol, "sync"), 0);
    ASSERT_HAS(out, "1 revoked device(s)");
    ASSERT_EQ(offline_field(bob, "offline_coins"), 100 * n);
}

/* Bob pays Carol 1.00 with a coin from Mallory; Carol refuses and signs
 * the refusal; Bob keeps it. */
static void refused_payment(const struct wal *bob, const struct wal *carol, const char *tag)
{
    char out[16384];
    int rc = pay_by_armor(bob, carol, tag, "1.00", out, sizeof out);
    if (rc == 0 || rc >= 100) FAIL_AT("Carol's accept gave %d (want a refusal): %s", rc, out);
    ASSERT_HAS(out, "payment refused");
    char ans[4096];
    char path[200];
    snprintf(path, sizeof path, "%s/%s-ans", S.dir, tag);
    ASSERT(slurp(path, ans, sizeof ans) > 0);
    ASSERT_HAS(ans, "ducat:refusal:1:");
    ASSERT_EQ(offline_field(carol, "offline_coins"), 0);
    ASSERT_EQ(D(out, bob, "confirm %s", path), 0);
    ASSERT_HAS(out, "the payee refused this payment");
    /* the same refusal again: still fine, nothing new */
    ASSERT_EQ(D(out, bob, "confirm %s", path), 0);
}

static void test_refused_payment_reclaimed(void)
{
    char out[16384];
    struct wal mallory, bob, carol;
    fresh_server(0);
    setup_revoked_coins(&mallory, &bob, &carol, 1);
    ASSERT_EQ(value_of(&bob), 100);
    ASSERT_EQ(D(out, &bob, "pending"), 0);
    ASSERT_HAS(out, "no pending-out offline payment");

    refused_payment(&bob, &carol, "r1");
    ASSERT_EQ(offline_field(&bob, "offline_pending_out"), 100);
    ASSERT_EQ(D(out, &bob, "pending"), 0);
    ASSERT_HAS(out, "pending out 1.00 CNY");
    ASSERT_HAS(out, "REFUSED by the payee");

    ASSERT_EQ(D(out, &bob, "reclaim"), 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 1.00 CNY credited");
    json_t *j = djson(&bob, "balance");
    ASSERT_EQ(json_int(j, "held"), 100);
    json_decref(j);
    ASSERT_EQ(offline_field(&bob, "offline_pending_out"), 0);
    ASSERT_EQ(value_of(&bob), 100);
    ASSERT_EQ(D(out, &bob, "reclaim"), 0);
    ASSERT_HAS(out, "no pending-out offline payment");
    ASSERT_EQ(D(out, &bob, "pending"), 0);
    ASSERT_HAS(out, "no pending-out offline payment");
    ASSERT_EQ(value_of(&carol), 0);
    ASSERT_EQ(n_cases(), 1); /* Mallory's, none for the reclaim */
    audit_ok(&S);
}

/* Polls a log file (up to ms) for text; fails the test otherwise. */
static void wait_log(const char *log, const char *text, long ms)
{
    char l[16384];
    for (long t = 0; t < ms; t += 50) {
        if (slurp(log, l, sizeof l) > 0 && contains(l, text)) return;
        sleep_ms(50);
    }
    FAIL_AT("%s never said \"%s\"", log, text);
}

/* The same refusal over TCP: `ducat receive` sends it in place of the
 * receipt, `ducat send` keeps it; then `ducat sync` reclaims. */
static void test_refused_over_tcp(void)
{
    char out[16384], log[200], pf[200], port[16];
    struct wal mallory, bob, carol;
    fresh_server(0);
    setup_revoked_coins(&mallory, &bob, &carol, 1);
    snprintf(log, sizeof log, "%s/carol-rx.log", S.dir);
    snprintf(pf, sizeof pf, "%s/carol.port", S.dir);
    pid_t rx =
        spawn(&carol, log, NULL, "receive --listen 127.0.0.1:0 --port-file %s --amount 1", pf);
    wait_log(log, "waiting for the payer", 10000);
    ASSERT(slurp(pf, port, sizeof port) > 0);
    int rc = D(out, &bob, "send --to 127.0.0.1:%d", atoi(port));
    if (rc == 0) FAIL_AT("send to a refusing payee exited 0: %s", out);
    ASSERT_HAS(out, "the payee refused this payment");
    ASSERT_HAS(out, "the payee refused the payment: device is on the revocation list");
    ASSERT(wait_exit(rx, 10000) != 0);
    slurp(log, out, sizeof out);
    ASSERT_HAS(out, "sent the payer a signed refusal");
    ASSERT_EQ(offline_field(&carol, "offline_coins"), 0);
    ASSERT_EQ(D(out, &bob, "pending"), 0);
    ASSERT_HAS(out, "REFUSED by the payee");
    ASSERT_EQ(D(out, &bob, "sync"), 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 1.00 CNY");
    ASSERT_EQ(offline_field(&bob, "offline_pending_out"), 0);
    ASSERT_EQ(value_of(&bob), 100);
    ASSERT_EQ(n_cases(), 1);
    audit_ok(&S);
}

/* `ducat reclaim` killed before and after each of its two saves (the
 * request stored; the answer applied), then run again: exactly once. */
static void test_reclaim_kill9_every_save(void)
{
    static const char *const points[] = {"service-save:before:1", "service-save:after:1",
                                         "service-save:before:2", "service-save:after:2"};
    const int n = (int)(sizeof points / sizeof points[0]);
    char out[16384], log[200];
    struct wal mallory, bob, carol;
    fresh_server(0);
    setup_revoked_coins(&mallory, &bob, &carol, n);
    long long held = 0;
    for (int k = 0; k < n; k++) {
        char tag[16];
        snprintf(tag, sizeof tag, "k%d", k);
        refused_payment(&bob, &carol, tag);
        snprintf(log, sizeof log, "%s/reclaim-%d.log", S.dir, k);
        pid_t pid = spawn(&bob, log, points[k], "reclaim");
        int paused = 0;
        for (int i = 0; i < 200 && !paused; i++) {
            char l[4096];
            if (slurp(log, l, sizeof l) > 0 && contains(l, "PAUSED"))
                paused = 1;
            else
                sleep_ms(50);
        }
        if (!paused) FAIL_AT("reclaim never reached %s", points[k]);
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        ASSERT_EQ(wait_exit(pid, 10000), 128 + SIGKILL);
        ASSERT_EQ(D(out, &bob, "reclaim"), 0);
        held += 100;
        json_t *j = djson(&bob, "balance");
        if (json_int(j, "held") != held) {
            FAIL_AT("after a kill at %s: held %lld, want %lld\n%s", points[k],
                    (long long)json_int(j, "held"), held, out);
        }
        json_decref(j);
        ASSERT_EQ(offline_field(&bob, "offline_pending_out"), 0);
        ASSERT_EQ(value_of(&bob), 100 * n);
        audit_ok(&S);
    }
    ASSERT_EQ(n_cases(), 1);
}

/* The wallets' business clock (DUCAT_CLOCK_FILE, docs/CLI.md) for the
 * `ducat` processes this test starts next: ms since the epoch in DIR/NAME,
 * or (ms = 0) the wall clock again. NAME "clock" is the server's own dev
 * clock file, so both sides share one time. */
static void wallet_clock(const char *name, uint64_t ms)
{
    char path[sizeof S.dir + 32];
    if (ms == 0) {
        unsetenv("DUCAT_CLOCK_FILE");
        return;
    }
    snprintf(path, sizeof path, "%s/%s", S.dir, name);
    if (strcmp(name, "clock") == 0) {
        srv_clock_set(&S, ms);
    } else {
        char v[32];
        int n = snprintf(v, sizeof v, "%llu\n", (unsigned long long)ms);
        write_file(path, v, (size_t)n);
    }
    ASSERT_EQ(setenv("DUCAT_CLOCK_FILE", path, 1), 0);
}

/*
 * Alice pays Bob three times offline and never hears back: Bob accepts the
 * first two (and deposits them, silently), never even looks at the third.
 * Before the deadline nothing is sent; after it the third comes back to
 * Alice and the first two are found taken by Bob: no case, nothing moved
 * for them, Alice's value is what she kept. All through `ducat reclaim`,
 * the wallet's clock and the server's moved together by one clock file.
 */
static void test_unacknowledged_after_deadline(void)
{
    char out[16384];
    struct wal alice, bob;
    fresh_server(1);
    const uint64_t t0 = h_now_ms();
    srv_clock_set(&S, t0);
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    wallet_new(&S, &bob, "bob", "Bob Li");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 50.00", alice.account), 0);
    ASSERT_EQ(D(out, &alice, "withdraw 20.00"), 0);
    ASSERT_EQ(pay_by_armor(&alice, &bob, "u1", "5.00", out, sizeof out), 0);
    ASSERT_EQ(pay_by_armor(&alice, &bob, "u2", "3.00", out, sizeof out), 0);
    ASSERT_EQ(D(out, &bob, "request 2.00 > %s/u3-req 2>/dev/null", S.dir), 0);
    ASSERT_EQ(D(out, &alice, "pay %s/u3-req > %s/u3-pay", S.dir, S.dir), 0);
    ASSERT_EQ(offline_field(&alice, "offline_pending_out"), 1000);
    ASSERT_EQ(D(out, &alice, "pending"), 0);
    ASSERT_HAS(out, "pending out 5.00 CNY");
    ASSERT_HAS(out, "pending out 2.00 CNY");
    ASSERT_HAS(out, "no receipt or refusal yet");
    ASSERT_HAS(out, "reclaimable without a refusal from");
    ASSERT_EQ(D(out, &alice, "reclaim"), 0);
    ASSERT_HAS(out, "3 offline payment(s) of 10.00 CNY await the payee's receipt or refusal");
    ASSERT_EQ(offline_field(&alice, "offline_pending_out"), 1000);
    /* a day before the deadline, on both clocks: still waiting */
    wallet_clock("clock", t0 + 12 * DAY_MS);
    ASSERT_EQ(D(out, &alice, "reclaim"), 0);
    ASSERT_HAS(out, "3 offline payment(s) of 10.00 CNY await the payee's receipt or refusal");
    /* a wallet whose clock runs ahead of the server's: the server says too
     * early, the payments still wait, nothing moved, nothing failed */
    wallet_clock("alice-clock", t0 + 14 * DAY_MS);
    ASSERT_EQ(D(out, &alice, "reclaim"), 0);
    ASSERT_HAS(out, "3 offline payment(s) of 10.00 CNY await the payee's receipt or refusal");
    ASSERT_EQ(offline_field(&alice, "offline_pending_out"), 1000);
    wallet_clock("clock", 0);
    srv_clock_set(&S, t0);
    ASSERT_EQ(D(out, &bob, "deposit"), 0); /* the silent payee deposits u1 and u2 */

    /* after every coin's deadline: `ducat reclaim` as the user runs it */
    wallet_clock("clock", t0 + 40 * DAY_MS);
    ASSERT_EQ(D(out, &alice, "reclaim"), 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 2.00 CNY credited");
    ASSERT_HAS(out, "2 offline payment(s) of 8.00 CNY were deposited by their payee first");
    ASSERT_EQ(offline_field(&alice, "offline_pending_out"), 0);
    ASSERT_EQ(value_of(&alice), 5000 - 800);
    ASSERT_EQ(value_of(&bob), 800);
    /* again: nothing more */
    ASSERT_EQ(D(out, &alice, "reclaim"), 0);
    ASSERT_HAS(out, "no pending-out offline payment");
    wallet_clock("clock", 0);
    ASSERT_EQ(value_of(&alice), 5000 - 800);
    ASSERT_EQ(n_cases(), 0);
    audit_ok(&S);
}

/* A fresh server; Bob (funded 10.00) withdraws `amount` and pays it to
 * Carol's request by armor: DIR/TAG-req, DIR/TAG-pay, nothing accepted. */
static void bob_pays_carol(struct wal *bob, struct wal *carol, const char *amount, const char *tag)
{
    char out[16384];
    fresh_server(0);
    wallet_new(&S, bob, "bob", "Bob Li");
    wallet_new(&S, carol, "carol", "Carol Chen");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 10.00", bob->account), 0);
    ASSERT_EQ(D(out, bob, "withdraw %s", amount), 0);
    ASSERT_EQ(D(out, carol, "request %s > %s/%s-req 2>/dev/null", amount, S.dir, tag), 0);
    ASSERT_EQ(D(out, bob, "pay %s/%s-req > %s/%s-pay", S.dir, tag, S.dir, tag), 0);
}

/*
 * The payee remembers that it refused. Carol's wallet clock runs two days
 * behind, so Bob's freshly withdrawn coin looks not yet valid to her: she
 * refuses and signs the refusal; Bob keeps it and reclaims at once. With
 * her clock right again, the same payment (her request is still open: an
 * armor file may come from anyone) is refused locally, naming the refusal,
 * where without the remembered refusal she would take coins the server
 * refuses (reclaimed). Nothing to deposit, no case, audit clean.
 */
static void test_payee_remembers_refusal(void)
{
    char out[16384], path[200], ans[4096];
    struct wal bob, carol;
    bob_pays_carol(&bob, &carol, "1.00", "m");
    wallet_clock("carol-clock", h_now_ms() - 2 * DAY_MS);
    int rc = D(out, &carol, "accept %s/m-pay > %s/m-ans", S.dir, S.dir);
    wallet_clock("carol-clock", 0);
    if (rc == 0) FAIL_AT("Carol's accept with her clock behind took the payment: %s", out);
    ASSERT_HAS(out, "payment refused");
    snprintf(path, sizeof path, "%s/m-ans", S.dir);
    ASSERT(slurp(path, ans, sizeof ans) > 0);
    ASSERT_HAS(ans, "ducat:refusal:1:");
    ASSERT_EQ(D(out, &bob, "confirm %s", path), 0);
    ASSERT_EQ(D(out, &bob, "reclaim"), 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 1.00 CNY credited");
    /* kill -9 cannot undo it: the mark was saved before the refusal left;
     * a new process, with the right clock, refuses the same payment */
    rc = D(out, &carol, "accept %s/m-pay", S.dir);
    if (rc == 0) FAIL_AT("Carol took coins she had refused (and Bob reclaimed): %s", out);
    ASSERT_HAS(out, "this wallet signed a refusal of these coins before");
    ASSERT_EQ(offline_field(&carol, "offline_coins"), 0);
    ASSERT_EQ(D(out, &carol, "deposit"), 1);
    ASSERT_HAS(out, "no coins to deposit");
    ASSERT_EQ(value_of(&carol), 0);
    ASSERT_EQ(value_of(&bob), 1000);
    ASSERT_EQ(n_cases(), 0);
    audit_ok(&S);
}

/*
 * A tampered payee: Carol refuses Bob's payment (her clock behind) and
 * signs the refusal, then restores a wallet backup made before it (which
 * forgot the refusal), takes the same payment with her clock right and
 * deposits it. Bob's `ducat reclaim` with her refusal is not "paid, not
 * reclaimed" (on main it was): the server opens a case against Carol and
 * credits Bob under it; her deposit's credit pays for it. Bob whole, Carol
 * gains nothing, audit clean.
 */
static void test_tampered_payee_reclaim_under_case(void)
{
    char out[16384], path[200], backup[200];
    struct wal bob, carol;
    bob_pays_carol(&bob, &carol, "1.00", "tp");
    snprintf(backup, sizeof backup, "%s/carol-backup.w", S.dir);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", carol.path, backup), 0);
    wallet_clock("carol-clock", h_now_ms() - 2 * DAY_MS);
    int rc = D(out, &carol, "accept %s/tp-pay > %s/tp-ans", S.dir, S.dir);
    wallet_clock("carol-clock", 0);
    if (rc == 0) FAIL_AT("Carol's accept with her clock behind took the payment: %s", out);
    ASSERT_HAS(out, "payment refused");
    snprintf(path, sizeof path, "%s/tp-ans", S.dir);
    ASSERT_EQ(D(out, &bob, "confirm %s", path), 0);
    ASSERT_HAS(out, "the payee refused this payment");
    /* Carol's tampering: the backup, the same payment taken, deposited */
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", backup, carol.path), 0);
    ASSERT_EQ(D(out, &carol, "accept %s/tp-pay > %s/tp-ans2", S.dir, S.dir), 0);
    ASSERT_EQ(offline_field(&carol, "offline_coins"), 100);
    ASSERT_EQ(D(out, &carol, "deposit"), 0);
    ASSERT_EQ(value_of(&carol), 100);

    ASSERT_EQ(D(out, &bob, "reclaim"), 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 1.00 CNY credited");
    ASSERT_HAS(out, "1 of them (1.00 CNY) the payee had passed on or deposited after refusing: "
                    "reclaimed under case");
    if (contains(out, "paid, not reclaimed")) FAIL_AT("counted as paid: %s", out);
    ASSERT_EQ(offline_field(&bob, "offline_pending_out"), 0);
    ASSERT_EQ(n_cases(), 1);
    /* Carol's credit of the coin was forfeited to the case: settled */
    ASSERT_EQ(value_of(&carol), 0);
    ASSERT_EQ(value_of(&bob), 1000);
    json_t *j = djson(&bob, "balance");
    ASSERT_EQ(json_int(j, "held"), 100);
    json_decref(j);
    audit_ok(&S);
}

/*
 * kill -9 of the refusing payee right after its wallet saved the refusal
 * (the coins remembered as refused), before the refusal left: the payer
 * has nothing. Run again, the payee refuses the same payment at once
 * (PAY_REFUSED_BEFORE, remembered across the crash) and signs a refusal of
 * it; the payer keeps that one and reclaims. Nobody framed, nothing lost.
 */
static void test_payee_refusal_kill9(void)
{
    char out[16384], log[200], path[200], ans[4096];
    struct wal bob, carol;
    bob_pays_carol(&bob, &carol, "2.00", "k");
    snprintf(log, sizeof log, "%s/carol-accept.log", S.dir);
    wallet_clock("carol-clock", h_now_ms() - 2 * DAY_MS);
    pid_t pid = spawn(&carol, log, "accept:refusal-persisted", "accept %s/k-pay", S.dir);
    wallet_clock("carol-clock", 0);
    wait_log(log, "PAUSED", 10000);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(wait_exit(pid, 10000), 128 + SIGKILL);
    slurp(log, out, sizeof out);
    if (contains(out, "ducat:refusal:")) FAIL_AT("the refusal left before the kill:\n%s", out);
    /* again, clock right: refused from memory, and signed */
    int rc = D(out, &carol, "accept %s/k-pay > %s/k-ans", S.dir, S.dir);
    if (rc == 0) FAIL_AT("Carol took coins she had refused: %s", out);
    ASSERT_HAS(out, "this wallet signed a refusal of these coins before");
    snprintf(path, sizeof path, "%s/k-ans", S.dir);
    ASSERT(slurp(path, ans, sizeof ans) > 0);
    ASSERT_HAS(ans, "ducat:refusal:1:");
    ASSERT_EQ(D(out, &bob, "confirm %s", path), 0);
    ASSERT_HAS(out, "the payee refused this payment");
    ASSERT_EQ(D(out, &bob, "reclaim"), 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 2.00 CNY credited");
    ASSERT_EQ(value_of(&bob), 1000);
    ASSERT_EQ(value_of(&carol), 0);
    ASSERT_EQ(n_cases(), 0);
    audit_ok(&S);
}

/* ---- Refresh, the server killed mid-way --------------------------------------------------- */

static void conf_set(const char *key, const char *value)
{
    char out[1024];
    int rc = sh(out, sizeof out, "grep -q '^%s = ' %s && sed -i 's/^%s = .*/%s = %s/' %s", key,
                S.conf, key, key, value, S.conf);
    if (rc != 0) FAIL_AT("cannot set %s in %s: %s", key, S.conf, out);
}

/* Alice holds 50.00 of coins issued 9.5 days ago (10-day coins): `ducat
 * refresh` deposits them and withdraws fresh ones. */
static void refresh_setup(struct wal *alice)
{
    char out[16384];
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    conf_set("cert_lifetime_days", "30");
    srv_dev_clock(&S);
    uint64_t past = h_now_ms() - 9 * DAY_MS - DAY_MS / 2;
    srv_clock_set(&S, past);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "keys rotate"), 0);
    srv_clock_real(&S);
    srv_start(&S);
    wallet_new(&S, alice, "alice", "Alice Zhang");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", alice->account), 0);
    srv_clock_set(&S, past);
    int rc = D(out, alice, "withdraw 50.00");
    srv_clock_real(&S);
    if (rc != 0) FAIL_AT("withdraw in the past exited %d: %s", rc, out);
    ASSERT_EQ(offline_field(alice, "offline_refresh"), 5000);
}

/* After the interrupted refresh and its re-run: deposited once, withdrawn
 * once, nothing lost. */
static void refresh_exactly_once(const struct wal *alice, const char *how)
{
    char out[16384];
    /* the restarted server listens on another port: --server names it */
    json_t *j = djson(alice, "--server http://127.0.0.1:%d balance", S.port);
    long long av = json_int(j, "available"), held = json_int(j, "held");
    long long coins = json_int(j, "offline_coins"), outst = json_int(j, "offline_outstanding");
    long long rf = json_int(j, "offline_refresh"), po = json_int(j, "offline_pending_out");
    json_decref(j);
    if (held != 5000 || av + held + coins != 10000 || rf != 0 || po != 0 || outst != coins) {
        FAIL_AT("%s: available %lld held %lld coins %lld outstanding %lld refresh %lld "
                "pending %lld",
                how, av, held, coins, outst, rf, po);
    }
    ASSERT_EQ(D(out, alice, "--server http://127.0.0.1:%d refresh", S.port), 0);
    ASSERT_HAS(out, "no coin needs refreshing");
    audit_ok(&S);
}

/* The server stopped while the refresh's request is in flight (the client
 * gives up: exit 4), then runs it with nobody listening and is killed -9;
 * restarted, the same command finishes the refresh exactly once. */
static void test_refresh_server_killed_mid_request(void)
{
    char out[16384];
    struct wal alice;
    refresh_setup(&alice);
    ASSERT_EQ(kill(S.pid, SIGSTOP), 0);
    setenv("DUCAT_TIMEOUT_MS", "1500", 1);
    int rc = D(out, &alice, "refresh");
    unsetenv("DUCAT_TIMEOUT_MS");
    ASSERT_EQ(kill(S.pid, SIGCONT), 0);
    if (rc != 4) FAIL_AT("refresh with the server stopped exited %d: %s", rc, out);
    sleep_ms(300); /* the server runs the request nobody waits for */
    srv_kill9(&S);
    srv_start(&S);
    rc = D(out, &alice, "--server http://127.0.0.1:%d refresh", S.port);
    if (rc != 0) FAIL_AT("refresh after the restart exited %d: %s", rc, out);
    refresh_exactly_once(&alice, "server stopped, killed");
}

/* The client paused after each save of the refresh (its requests stored,
 * answers applied), the server killed -9 meanwhile, the client killed;
 * restarted, the same command finishes the refresh exactly once. */
static void test_refresh_server_killed_at_every_save(void)
{
    for (unsigned k = 1; k <= 4; k++) {
        char out[16384], log[200], point[48];
        struct wal alice;
        refresh_setup(&alice);
        snprintf(log, sizeof log, "%s/refresh-%u.log", S.dir, k);
        snprintf(point, sizeof point, "service-save:after:%u", k);
        pid_t pid = spawn(&alice, log, point, "refresh");
        int paused = 0;
        for (int i = 0; i < 200 && !paused; i++) {
            char l[4096];
            if (slurp(log, l, sizeof l) > 0 && contains(l, "PAUSED"))
                paused = 1;
            else
                sleep_ms(50);
        }
        if (!paused) FAIL_AT("refresh never reached %s", point);
        srv_kill9(&S);
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        ASSERT_EQ(wait_exit(pid, 10000), 128 + SIGKILL);
        srv_start(&S);
        int rc = D(out, &alice, "--server http://127.0.0.1:%d refresh", S.port);
        if (rc != 0) FAIL_AT("refresh after a kill at %s exited %d: %s", point, rc, out);
        refresh_exactly_once(&alice, point);
        printf("# killed at %s: finished exactly once\n", point);
    }
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

__attribute__((constructor)) static void init(void)
{
    cli_init("1101011993", "+86139");
    unsetenv("DUCAT_TIMEOUT_MS");
}

TESTS(T(test_setup), T(test_refused_payment_reclaimed), T(test_refused_over_tcp),
      T(test_reclaim_kill9_every_save), T(test_unacknowledged_after_deadline),
      T(test_payee_remembers_refusal), T(test_tampered_payee_reclaim_under_case),
      T(test_payee_refusal_kill9), T(test_refresh_server_killed_mid_request),
      T(test_refresh_server_killed_at_every_save), T(test_teardown))
