/*
 * test_nfc.c - tap to pay with real programs: a real ducatd, two real
 * wallets, `ducat tap` (the payee's terminal) on the PC/SC reader of a real
 * pcscd, and `ducat card` (the payer's phone) on that reader's virtual
 * card slot (vsmartcard-vpcd), so every APDU goes reader -> pcscd -> vpcd
 * -> card and back. Run under tests/with-pcscd.sh (make check does), which
 * provides the private pcscd; without it every case fails.
 *
 * Cases: a full payment of a fresh coin (1 hop) and of a coin that made 9
 * hops before (10 at the payee), short APDUs and extended ones; the card
 * process killed with SIGKILL at every APDU boundary (before it handles a
 * command, and after it handled it but before the answer left) and the tap
 * repeated with a new card process: paid exactly once, nothing lost, no
 * case opened (nobody framed), the server's audit balanced.
 */
#define _DEFAULT_SOURCE
#include "test.h"

#include "harness.h"

#include "cli_harness.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static struct srv S;
static const char *READER = "Virtual PCD 00 00";

static int vpcd_port(void)
{
    const char *p = getenv("DUCAT_VPCD_PORT");
    if (!p || !getenv("PCSCLITE_CSOCK_NAME")) {
        FAIL_AT("no private pcscd: run under tests/with-pcscd.sh (needs pcscd, vsmartcard-vpcd)");
    }
    return atoi(p);
}

static void setup(struct wal *payer, struct wal *payee, const char *amount)
{
    char out[8192];
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_start(&S);
    wallet_new(&S, payer, "payer", "Paula Payer");
    wallet_new(&S, payee, "payee", "Pete Payee");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", payer->account), 0);
    ASSERT_EQ(D(out, payer, "withdraw %s", amount), 0);
}

/* One payment by tap; pause: the card's pause point (NULL: none). Returns
 * when both sides are done. */
static void tap_pay(const struct wal *payer, const struct wal *payee, const char *amount,
                    const char *extra, int port, const char *tag)
{
    char log[256], clog[256], out[16384];
    snprintf(log, sizeof log, "%s/tap-%s.log", S.dir, tag);
    snprintf(clog, sizeof clog, "%s/card-%s.log", S.dir, tag);
    pid_t rx = spawn(payee, log, NULL, "tap --amount %s --reader '%s' --timeout 60 %s", amount,
                     READER, extra);
    wait_for(log, "waiting for a card", 10000);
    pid_t tx = spawn(payer, clog, NULL, "card --vpcd 127.0.0.1:%d --timeout 60", port);
    int rc = wait_exit(tx, 30000);
    if (rc != 0) {
        slurp(clog, out, sizeof out);
        FAIL_AT("card exited %d:\n%s", rc, out);
    }
    rc = wait_exit(rx, 30000);
    slurp(log, out, sizeof out);
    if (rc != 0) FAIL_AT("tap exited %d:\n%s", rc, out);
    ASSERT_HAS(out, "the payer's card confirmed the receipt");
    printf("# %s: %s", tag, strstr(out, "received") ? strstr(out, "received") : out);
}

static void finish(const struct wal *payer, const struct wal *payee, long long paid,
                   long long total)
{
    char out[8192];
    ASSERT_EQ(offline_field(payer, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(payee, "offline_coins"), paid);
    ASSERT_EQ(D(out, payer, "deposit"), 0);
    ASSERT_EQ(D(out, payee, "deposit"), 0);
    ASSERT_EQ(online_field(payee, "held"), paid);
    ASSERT_EQ(online_field(payer, "held") + online_field(payee, "held"), total);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases list"), 0);
    if (contains(out, "open")) FAIL_AT("a case was opened:\n%s", out);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_tap_1_hop(void)
{
    struct wal payer, payee;
    int port = vpcd_port();
    setup(&payer, &payee, "10");
    tap_pay(&payer, &payee, "3", "", port, "short");
    tap_pay(&payer, &payee, "2", "--extended", port, "extended");
    finish(&payer, &payee, 500, 1000);
}

/* A coin that made 9 hops between two wallets (armor), then a 10th by tap. */
static void test_tap_10_hops(void)
{
    char out[16384], req[256], pay[256], rcpt[256];
    struct wal payer, payee, other;
    int port = vpcd_port();
    setup(&payer, &payee, "1");
    wallet_new(&S, &other, "other", "Otto Other");
    snprintf(req, sizeof req, "%s/req", S.dir);
    snprintf(pay, sizeof pay, "%s/pay", S.dir);
    snprintf(rcpt, sizeof rcpt, "%s/rcpt", S.dir);
    for (int hop = 1; hop <= 9; hop++) {
        /* odd hops payer -> other, even hops back; the 9th leaves it at other */
        const struct wal *from = hop % 2 ? &payer : &other, *to = hop % 2 ? &other : &payer;
        ASSERT_EQ(D(out, to, "request 1 > %s 2>/dev/null", req), 0);
        ASSERT_EQ(D(out, from, "pay %s > %s 2>/dev/null", req, pay), 0);
        ASSERT_EQ(D(out, to, "accept %s > %s 2>/dev/null", pay, rcpt), 0);
        ASSERT_EQ(D(out, from, "confirm %s", rcpt), 0);
    }
    ASSERT_EQ(D(out, &other, "coins"), 0);
    ASSERT_HAS(out, "9");
    tap_pay(&other, &payee, "1", "", port, "10-hops");
    ASSERT_EQ(offline_field(&payee, "offline_coins"), 100);
    ASSERT_EQ(D(out, &payee, "coins"), 0);
    printf("# payee's coins after the tap:\n%s", out);
    ASSERT_EQ(offline_field(&other, "offline_pending_out"), 0);
    ASSERT_EQ(D(out, &payee, "deposit"), 0);
    ASSERT_EQ(online_field(&payee, "held"), 100);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* kill -9 of the card at every APDU boundary of a short-APDU tap. */
static void test_card_killed_every_apdu(void)
{
    char out[16384], log[256], clog[256], point[64];
    struct wal payer, payee;
    int port = vpcd_port();
    setup(&payer, &payee, "20");
    /* SELECT, PAY, GET RESPONSE, CONFIRM; each before and after handling */
    int round = 0;
    for (int n = 1; n <= 4; n++) {
        for (int after = 0; after < 2; after++, round++) {
            snprintf(point, sizeof point, "card:apdu-%d%s", n, after ? "-answered" : "");
            printf("# kill -9 the card at %s\n", point);
            snprintf(log, sizeof log, "%s/tap-k%d.log", S.dir, round);
            snprintf(clog, sizeof clog, "%s/card-k%d.log", S.dir, round);
            pid_t rx =
                spawn(&payee, log, NULL, "tap --amount 1 --reader '%s' --timeout 60", READER);
            wait_for(log, "waiting for a card", 10000);
            pid_t tx = spawn(&payer, clog, point, "card --vpcd 127.0.0.1:%d --timeout 60", port);
            wait_for(clog, "PAUSED", 20000);
            kill9(tx);
            /* the tap repeated: a new card process, same wallet */
            snprintf(clog, sizeof clog, "%s/card-k%d-again.log", S.dir, round);
            tx = spawn(&payer, clog, NULL, "card --vpcd 127.0.0.1:%d --timeout 60", port);
            int rc = wait_exit(tx, 30000);
            if (rc != 0) {
                char tl[8192];
                slurp(clog, out, sizeof out);
                slurp(log, tl, sizeof tl);
                kill9(tx);
                kill9(rx);
                FAIL_AT("card exited %d after the kill at %s:\n%s\nterminal:\n%s", rc, point, out,
                        tl);
            }
            rc = wait_exit(rx, 30000);
            if (rc != 0) {
                slurp(log, out, sizeof out);
                FAIL_AT("tap exited %d after the kill at %s:\n%s", rc, point, out);
            }
            /* exactly one payment of 1.00 per round */
            ASSERT_EQ(offline_field(&payee, "offline_coins"), (long long)(round + 1) * 100);
            ASSERT_EQ(offline_field(&payer, "offline_coins"), 2000 - (long long)(round + 1) * 100);
            ASSERT_EQ(offline_field(&payer, "offline_pending_out"), 0);
        }
    }
    finish(&payer, &payee, 800, 2000);
}

static void test_bad_reader(void)
{
    char out[4096];
    struct wal payer, payee;
    (void)vpcd_port();
    setup(&payer, &payee, "1");
    ASSERT_EQ(D(out, &payee, "tap --amount 1 --reader 'No Such Reader' --timeout 1"), 2);
    ASSERT_HAS(out, "no reader named 'No Such Reader'");
    ASSERT_HAS(out, READER);
    ASSERT_EQ(D(out, &payee, "tap --amount 1 --segment 8"), 2);
    ASSERT_HAS(out, "invalid --segment '8'");
    /* nobody taps: the request stays open */
    ASSERT_EQ(D(out, &payee, "tap --amount 1 --reader '%s' --timeout 1", READER), 4);
    ASSERT_HAS(out, "request stays open");
    srv_cleanup(&S);
}

/* The ducat binary and the ID prefixes, set before any case runs, so each
 * case can also run alone or in another order (DUCAT_TEST_ONLY/REVERSE). */
__attribute__((constructor)) static void init(void)
{
    cli_init("1101011988", "+86139");
}

static void test_init(void)
{
    ASSERT(ducat_bin[0] != '\0');
}

TESTS(T(test_init), T(test_tap_1_hop), T(test_tap_10_hops), T(test_card_killed_every_apdu),
      T(test_bad_reader))
