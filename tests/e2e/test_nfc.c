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
 * repeated with a new card process, for the 10-hop coin with short AND
 * extended APDUs: paid exactly once, nothing lost, no case opened (nobody
 * framed), the server's audit balanced. The card asks its holder on a
 * terminal (a pseudo-terminal here) unless --max or --yes: yes pays, no is
 * told to the terminal and nothing is signed. A payment over the
 * per-payment byte limit is refused before signing, naming the limits.
 * A terminal that refuses a payment for good sends its signed refusal in
 * the tap (REFUSE), short and extended APDUs; the payer reclaims at once.
 */
#define _DEFAULT_SOURCE
#include "test.h"

#include "harness.h"

#include "cli_harness.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static struct srv S;
static const char *READER = "Virtual PCD 00 00";

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

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

/* Starts `ducat card` for w on a pseudo-terminal (script(1)) that types
 * `answer` and Enter, as a person at the card's confirmation prompt. */
static pid_t spawn_card_tty(const struct wal *w, const char *log, const char *answer, int port)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "echo %s | exec script -qec 'exec %s --wallet %s card --vpcd 127.0.0.1:%d "
             "--timeout 60' /dev/null > %s 2>&1",
             answer, ducat_bin, w->path, port, log);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) FAIL_AT("fork");
    if (pid == 0) {
        unsetenv("DUCAT_TEST_PAUSE_AT");
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* One payment by tap: `ducat tap` with `extra`, `ducat card` with
 * card_args, or on a terminal answering `answer` when that is not NULL.
 * Returns when both sides are done. */
static void tap_pay_card(const struct wal *payer, const struct wal *payee, const char *amount,
                         const char *extra, int port, const char *tag, const char *card_args,
                         const char *answer)
{
    char log[256], clog[256], out[16384];
    snprintf(log, sizeof log, "%s/tap-%s.log", S.dir, tag);
    snprintf(clog, sizeof clog, "%s/card-%s.log", S.dir, tag);
    pid_t rx = spawn(payee, log, NULL, "tap --amount %s --reader '%s' --timeout 60 %s", amount,
                     READER, extra);
    wait_for(log, "waiting for a card", 10000);
    pid_t tx = answer ? spawn_card_tty(payer, clog, answer, port)
                      : spawn(payer, clog, NULL, "card --vpcd 127.0.0.1:%d --timeout 60 %s", port,
                              card_args);
    int rc = wait_exit(tx, 30000);
    if (rc != 0) {
        slurp(clog, out, sizeof out);
        FAIL_AT("card exited %d:\n%s", rc, out);
    }
    if (answer) {
        slurp(clog, out, sizeof out);
        ASSERT_HAS(out, "? [y/N]");
    }
    rc = wait_exit(rx, 30000);
    slurp(log, out, sizeof out);
    if (rc != 0) FAIL_AT("tap exited %d:\n%s", rc, out);
    ASSERT_HAS(out, "the payer's card confirmed the receipt");
    printf("# %s: %s", tag, strstr(out, "received") ? strstr(out, "received") : out);
}

/* One payment by tap, the card paying any request (--yes). */
static void tap_pay(const struct wal *payer, const struct wal *payee, const char *amount,
                    const char *extra, int port, const char *tag)
{
    tap_pay_card(payer, payee, amount, extra, port, tag, "--yes", NULL);
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
    char out[16384], log[256], clog[256];
    setup(&payer, &payee, "10");
    /* the card asks its holder (a terminal): yes */
    tap_pay_card(&payer, &payee, "3", "", port, "short", NULL, "y");
    /* no: the terminal is told the payer declined; nothing signed or kept */
    snprintf(log, sizeof log, "%s/tap-declined.log", S.dir);
    snprintf(clog, sizeof clog, "%s/card-declined.log", S.dir);
    pid_t rx = spawn(&payee, log, NULL, "tap --amount 4 --reader '%s' --timeout 60", READER);
    wait_for(log, "waiting for a card", 10000);
    ASSERT_EQ(wait_exit(spawn_card_tty(&payer, clog, "n", port), 30000), 1);
    slurp(clog, out, sizeof out);
    ASSERT_HAS(out, "not paid: the payer declined to pay this request");
    ASSERT_EQ(wait_exit(rx, 30000), 1);
    slurp(log, out, sizeof out);
    ASSERT_HAS(out, "the payer's wallet refused: the payer declined to pay this request");
    ASSERT_EQ(offline_field(&payer, "offline_coins"), 700);
    ASSERT_EQ(offline_field(&payer, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(&payee, "offline_coins"), 300);
    /* --max: paid up to it without asking, in extended APDUs */
    tap_pay_card(&payer, &payee, "2", "--extended", port, "extended", "--max 2", NULL);
    finish(&payer, &payee, 500, 1000);
}

/* kill -9 of the card (payer's wallet `from`) at every boundary of the n
 * APDUs of a tap of 1.00 to `to`, then the tap repeated with a new card
 * process: exactly one payment of 1.00 per round. from had from_start
 * before the first round, to had to_start; returns the rounds run. */
static int kill_every_apdu(const struct wal *from, const struct wal *to, int n, int port,
                           long long from_start, long long to_start, const char *tag,
                           const char *extra)
{
    char out[16384], log[256], clog[256], point[64];
    int round = 0;
    for (int k = 1; k <= n; k++) {
        for (int after = 0; after < 2; after++, round++) {
            snprintf(point, sizeof point, "card:apdu-%d%s", k, after ? "-answered" : "");
            printf("# %s: kill -9 the card at %s\n", tag, point);
            snprintf(log, sizeof log, "%s/tap-%s-k%d.log", S.dir, tag, round);
            snprintf(clog, sizeof clog, "%s/card-%s-k%d.log", S.dir, tag, round);
            pid_t rx =
                spawn(to, log, NULL, "tap --amount 1 --reader '%s' --timeout 60 %s", READER, extra);
            wait_for(log, "waiting for a card", 10000);
            pid_t tx =
                spawn(from, clog, point, "card --vpcd 127.0.0.1:%d --timeout 60 --yes", port);
            wait_for(clog, "PAUSED", 20000);
            kill9(tx);
            /* the tap repeated: a new card process, same wallet */
            snprintf(clog, sizeof clog, "%s/card-%s-k%d-again.log", S.dir, tag, round);
            tx = spawn(from, clog, NULL, "card --vpcd 127.0.0.1:%d --timeout 60 --yes", port);
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
            slurp(log, out, sizeof out);
            if (rc != 0) FAIL_AT("tap exited %d after the kill at %s:\n%s", rc, point, out);
            ASSERT_HAS(out, "the payer's card confirmed the receipt");
            /* exactly one payment of 1.00 per round */
            ASSERT_EQ(offline_field(to, "offline_coins"), to_start + (long long)(round + 1) * 100);
            ASSERT_EQ(offline_field(from, "offline_coins"),
                      from_start - (long long)(round + 1) * 100);
            ASSERT_EQ(offline_field(from, "offline_pending_out"), 0);
        }
    }
    return round;
}

/* The number of APDUs of the last tap, from the terminal's report. */
static int apdus_of(const char *tap_out)
{
    const char *p = strstr(tap_out, "confirmed the receipt (");
    if (!p) FAIL_AT("no APDU count in:\n%s", tap_out);
    return atoi(p + strlen("confirmed the receipt ("));
}

/* kill -9 of the card at every APDU boundary of a short-APDU tap (1 hop). */
static void test_card_killed_every_apdu(void)
{
    struct wal payer, payee;
    int port = vpcd_port();
    setup(&payer, &payee, "20");
    /* SELECT, PAY, GET RESPONSE, CONFIRM; each before and after handling */
    ASSERT_EQ(kill_every_apdu(&payer, &payee, 4, port, 2000, 0, "1-hop", ""), 8);
    finish(&payer, &payee, 800, 2000);
}

/* Checks that w holds exactly n coins (not spent), each of `value` and `hops`. */
static void coins_are(const struct wal *w, size_t n, long long value, long long hops)
{
    json_t *j = djson(w, "coins");
    json_t *cs = json_object_get(j, "coins");
    ASSERT_EQ((long long)json_array_size(cs), (long long)n);
    for (size_t i = 0; i < json_array_size(cs); i++) {
        json_t *c = json_array_get(cs, i);
        ASSERT_EQ(json_integer_value(json_object_get(c, "hops")), hops);
        if (value) ASSERT_EQ(json_integer_value(json_object_get(c, "value")), value);
    }
    json_decref(j);
}

/*
 * 10 hops. A coin cannot make 10 more hops after a payment, so every round
 * gets a fresh one: coins of 1.00 make 9 hops in batches (armor; a payment
 * holds at most DC_PAYMENT_MAX_BYTES, 7 coins of 9 hops), each batch
 * withdrawn by a wallet A of its own, passed A -> B -> A ... (8 hops) and
 * then to `other` (the 9th), so `other` holds only coins of 9 hops. One
 * tap to the payee (the 10th hop) counts the APDUs n; then the card is
 * killed at each of the 2n boundaries of a tap, each round paying with
 * another such coin.
 */
static void test_tap_10_hops_killed_every_apdu(void)
{
    char out[65536], req[256], pay[256], rcpt[256], name[16];
    struct wal payer, payee, other, wa, wb;
    int port = vpcd_port();
    /* 12 APDUs with short APDUs (SELECT, PAY, 9 GET RESPONSE, CONFIRM):
     * 24 rounds and the full tap; 3 with extended APDUs (SELECT, PAY with
     * the whole payment in one response, CONFIRM): 6 rounds and the full
     * tap */
    const int batch = 7, ncoins = 5 * batch;
    setup(&payer, &payee, "1");
    wallet_new(&S, &other, "other", "Otto Other");
    snprintf(req, sizeof req, "%s/req", S.dir);
    snprintf(pay, sizeof pay, "%s/pay", S.dir);
    snprintf(rcpt, sizeof rcpt, "%s/rcpt", S.dir);
    long t0 = now_ms();
    for (int k = 0; k < ncoins / batch; k++) {
        static const char *who[][2] = {{"Ann A", "Bea B"},
                                       {"Cid C", "Dan D"},
                                       {"Eve E", "Fay F"},
                                       {"Gus G", "Hal H"},
                                       {"Ivy I", "Jon J"}};
        snprintf(name, sizeof name, "a%d", k);
        wallet_new(&S, &wa, name, who[k][0]);
        snprintf(name, sizeof name, "b%d", k);
        wallet_new(&S, &wb, name, who[k][1]);
        ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", wa.account), 0);
        for (int i = 0; i < batch; i++) ASSERT_EQ(D(out, &wa, "withdraw 1"), 0);
        for (int hop = 1; hop <= 9; hop++) {
            const struct wal *from = hop % 2 ? &wa : &wb;
            const struct wal *to = hop == 9 ? &other : hop % 2 ? &wb : &wa;
            ASSERT_EQ(D(out, to, "request %d > %s 2>/dev/null", batch, req), 0);
            if (D(out, from, "pay %s > %s", req, pay) != 0) {
                FAIL_AT("batch %d, hop %d: pay failed:\n%s", k, hop, out);
            }
            ASSERT_EQ(D(out, to, "accept %s > %s 2>/dev/null", pay, rcpt), 0);
            ASSERT_EQ(D(out, from, "confirm %s", rcpt), 0);
        }
    }
    ASSERT_EQ(offline_field(&other, "offline_coins"), ncoins * 100);
    coins_are(&other, (size_t)ncoins, 100, 9);
    printf("# %d coins of 9 hops made in %ld ms\n", ncoins, now_ms() - t0);

    /* 8 of them would take 18,643 bytes: refused before anything is signed,
     * naming the per-payment limits; 7 fit (16,317 bytes) */
    ASSERT_EQ(D(out, &payee, "request 8 > %s 2>/dev/null", req), 0);
    ASSERT_EQ(D(out, &other, "pay %s", req), 1);
    ASSERT_HAS(out, "one offline payment carries at most 16 coins and 16384 bytes");
    ASSERT_HAS(out, "(these coins would take 18643)");
    ASSERT_HAS(out, "nothing was signed");
    ASSERT_EQ(offline_field(&other, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(&other, "offline_coins"), ncoins * 100);

    /* the full tap: the payee holds a coin of 10 hops */
    char log[256], tl[16384];
    tap_pay(&other, &payee, "1", "", port, "10-hops");
    snprintf(log, sizeof log, "%s/tap-10-hops.log", S.dir);
    slurp(log, tl, sizeof tl);
    int n = apdus_of(tl);
    printf("# a tap of a 10-hop coin: %d APDUs\n", n);
    ASSERT(n >= 12); /* 2,361 bytes of payment in 256-byte answers */
    ASSERT(2 * n + 1 + 7 <= ncoins);
    coins_are(&payee, 1, 100, 10);

    t0 = now_ms();
    int rounds = kill_every_apdu(&other, &payee, n, port, (ncoins - 1) * 100, 100, "10-hops", "");
    printf("# %d rounds in %ld ms\n", rounds, now_ms() - t0);
    long long paid = (long long)(rounds + 1) * 100;

    /* the same with extended APDUs: the full tap, then a kill at each of
     * the 2n' boundaries */
    tap_pay(&other, &payee, "1", "--extended", port, "10-hops-extended");
    snprintf(log, sizeof log, "%s/tap-10-hops-extended.log", S.dir);
    slurp(log, tl, sizeof tl);
    int ne = apdus_of(tl);
    printf("# a tap of a 10-hop coin in extended APDUs: %d APDUs\n", ne);
    ASSERT_EQ(ne, 3);
    paid += 100;
    t0 = now_ms();
    int rounds_ext = kill_every_apdu(&other, &payee, ne, port, ncoins * 100 - paid, paid,
                                     "10-hops-extended", "--extended");
    printf("# %d extended rounds in %ld ms\n", rounds_ext, now_ms() - t0);
    ASSERT_EQ(rounds_ext, 6);
    paid += rounds_ext * 100;
    rounds += rounds_ext + 1;
    ASSERT_EQ(offline_field(&other, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(&payee, "offline_coins"), paid);
    /* every coin the payee holds made exactly 10 hops */
    coins_are(&payee, (size_t)rounds + 1, 100, 10);
    ASSERT_EQ(D(out, &other, "deposit"), 0);
    ASSERT_EQ(D(out, &payee, "deposit"), 0);
    ASSERT_EQ(online_field(&payee, "held"), paid);
    ASSERT_EQ(online_field(&payee, "held") + online_field(&other, "held"), ncoins * 100);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases list"), 0);
    if (contains(out, "open")) FAIL_AT("a case was opened:\n%s", out);
    audit_ok(&S);
    srv_cleanup(&S);
}

/*
 * The terminal refuses a tap payment for good and sends its signed refusal
 * in the APDU exchange (REFUSE, in place of CONFIRM), short and extended
 * APDUs: the terminal's wallet clock runs two days behind
 * (DUCAT_CLOCK_FILE), so the payer's freshly withdrawn coins are not yet
 * valid to it. The card keeps the refusal; `ducat reclaim` takes the coins
 * back at once; no case, nothing kept by the terminal, audit clean.
 */
static void tap_refused(const struct wal *payer, const struct wal *payee, const char *extra,
                        int port, const char *tag)
{
    char out[16384], log[256], clog[256], clk[256], v[32];
    snprintf(log, sizeof log, "%s/tap-%s.log", S.dir, tag);
    snprintf(clog, sizeof clog, "%s/card-%s.log", S.dir, tag);
    snprintf(clk, sizeof clk, "%s/payee-clock", S.dir);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    int n = snprintf(v, sizeof v, "%lld\n", (long long)t.tv_sec * 1000 - 2 * 86400000LL);
    write_file(clk, v, (size_t)n);
    ASSERT_EQ(setenv("DUCAT_CLOCK_FILE", clk, 1), 0);
    pid_t rx =
        spawn(payee, log, NULL, "tap --amount 3 --reader '%s' --timeout 60 %s", READER, extra);
    unsetenv("DUCAT_CLOCK_FILE");
    wait_for(log, "waiting for a card", 10000);
    pid_t tx = spawn(payer, clog, NULL, "card --vpcd 127.0.0.1:%d --timeout 60 --yes", port);
    int rc = wait_exit(tx, 30000);
    slurp(clog, out, sizeof out);
    if (rc == 0) FAIL_AT("the card exited 0 on a refused payment:\n%s", out);
    ASSERT_HAS(out, "the payee refused this payment");
    ASSERT_HAS(out, "refusal verified and kept");
    rc = wait_exit(rx, 30000);
    slurp(log, out, sizeof out);
    if (rc == 0) FAIL_AT("tap exited 0 on a refused payment:\n%s", out);
    ASSERT_HAS(out, "payment refused");
    ASSERT_HAS(out, "sent the payer's card a signed refusal of this payment");
    ASSERT_EQ(offline_field(payee, "offline_coins"), 0);
    ASSERT_EQ(offline_field(payer, "offline_pending_out"), 300);
    ASSERT_EQ(D(out, payer, "pending"), 0);
    ASSERT_HAS(out, "REFUSED by the payee");
    ASSERT_EQ(D(out, payer, "reclaim"), 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 3.00 CNY credited");
    ASSERT_EQ(offline_field(payer, "offline_pending_out"), 0);
    printf("# %s: refused by tap and reclaimed at once\n", tag);
}

static void test_tap_refused_reclaimed(void)
{
    char out[8192];
    struct wal payer, payee;
    int port = vpcd_port();
    setup(&payer, &payee, "10");
    tap_refused(&payer, &payee, "", port, "refused-short");
    tap_refused(&payer, &payee, "--extended", port, "refused-extended");
    /* 10.00 withdrawn: 6.00 reclaimed (held), 4.00 still in coins */
    ASSERT_EQ(online_field(&payer, "held"), 600);
    ASSERT_EQ(offline_field(&payer, "offline_coins"), 400);
    ASSERT_EQ(offline_field(&payee, "offline_coins"), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases list"), 0);
    if (contains(out, "open")) FAIL_AT("a case was opened:\n%s", out);
    audit_ok(&S);
    srv_cleanup(&S);
}

/*
 * kill -9 of the card in the middle of REFUSE (the terminal refuses: its
 * wallet clock runs two days behind). (b) after the card's wallet kept the
 * refusal (saved), before it answered: the payer reclaims at once. (a)
 * when REFUSE arrived, before the card's wallet looked at it: the payer
 * never got the refusal, the payment stays pending out, and is reclaimed
 * once the coins' deadline has passed (the server's and the wallet's
 * clocks moved together). Either way no value lost, nothing kept by the
 * terminal, no case, audit clean.
 */
static void refuse_killed(const struct wal *payer, const struct wal *payee, int port,
                          const char *point, const char *tag)
{
    char out[16384], log[256], clog[256], clk[256], v[32];
    snprintf(log, sizeof log, "%s/tap-%s.log", S.dir, tag);
    snprintf(clog, sizeof clog, "%s/card-%s.log", S.dir, tag);
    snprintf(clk, sizeof clk, "%s/payee-clock", S.dir);
    int n = snprintf(v, sizeof v, "%lld\n", (long long)h_now_ms() - 2 * 86400000LL);
    write_file(clk, v, (size_t)n);
    ASSERT_EQ(setenv("DUCAT_CLOCK_FILE", clk, 1), 0);
    pid_t rx = spawn(payee, log, NULL, "tap --amount 3 --reader '%s' --timeout 60", READER);
    unsetenv("DUCAT_CLOCK_FILE");
    wait_for(log, "waiting for a card", 10000);
    pid_t tx = spawn(payer, clog, point, "card --vpcd 127.0.0.1:%d --timeout 60 --yes", port);
    wait_for(clog, "PAUSED", 20000);
    kill9(tx);
    int rc = wait_exit(rx, 30000);
    slurp(log, out, sizeof out);
    if (rc == 0) FAIL_AT("tap exited 0 on a refused payment:\n%s", out);
    ASSERT_HAS(out, "payment refused");
    ASSERT_EQ(offline_field(payee, "offline_coins"), 0);
    ASSERT_EQ(offline_field(payer, "offline_pending_out"), 300);
    printf("# %s: card killed at %s\n", tag, point);
}

static void test_card_killed_mid_refuse(void)
{
    char out[16384];
    struct wal payer, payee;
    int port = vpcd_port();
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_dev_clock(&S);
    srv_start(&S);
    const uint64_t t0 = h_now_ms();
    srv_clock_set(&S, t0);
    wallet_new(&S, &payer, "payer", "Paula Payer");
    wallet_new(&S, &payee, "payee", "Pete Payee");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", payer.account), 0);
    ASSERT_EQ(D(out, &payer, "withdraw 10"), 0);

    /* (b) killed after keeping the refusal: reclaimed at once */
    refuse_killed(&payer, &payee, port, "card:refusal-kept", "refuse-kept");
    ASSERT_EQ(D(out, &payer, "pending"), 0);
    ASSERT_HAS(out, "REFUSED by the payee");
    ASSERT_EQ(D(out, &payer, "reclaim"), 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 3.00 CNY credited");
    ASSERT_EQ(offline_field(&payer, "offline_pending_out"), 0);

    /* (a) killed before looking at it: pending until the deadline */
    refuse_killed(&payer, &payee, port, "card:refusal", "refuse-lost");
    ASSERT_EQ(D(out, &payer, "pending"), 0);
    if (contains(out, "REFUSED by the payee")) FAIL_AT("the refusal was kept:\n%s", out);
    ASSERT_EQ(D(out, &payer, "reclaim"), 0);
    ASSERT_HAS(out, "1 offline payment(s) of 3.00 CNY await the payee's receipt or refusal");
    ASSERT_EQ(offline_field(&payer, "offline_pending_out"), 300);
    /* the terminal never takes the coins it refused */
    ASSERT_EQ(D(out, &payee, "deposit"), 1);
    ASSERT_HAS(out, "no coins to deposit");
    /* after the coins' deadline, on the server's and the wallet's clocks */
    char clock[256];
    snprintf(clock, sizeof clock, "%s/clock", S.dir);
    srv_clock_set(&S, t0 + 40 * 86400000ull);
    ASSERT_EQ(setenv("DUCAT_CLOCK_FILE", clock, 1), 0);
    int rc = D(out, &payer, "reclaim");
    unsetenv("DUCAT_CLOCK_FILE");
    ASSERT_EQ(rc, 0);
    ASSERT_HAS(out, "reclaimed 1 refused or unacknowledged offline payment(s): 3.00 CNY credited");
    srv_clock_set(&S, t0);
    ASSERT_EQ(offline_field(&payer, "offline_pending_out"), 0);
    /* 6.00 reclaimed: held, or released already (the server's release
     * timer may have run while its clock stood 40 days on) */
    ASSERT_EQ(online_field(&payer, "held") + online_field(&payer, "available"), 9600);
    ASSERT_EQ(offline_field(&payer, "offline_coins"), 400);
    ASSERT_EQ(online_field(&payee, "held"), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases list"), 0);
    if (contains(out, "open")) FAIL_AT("a case was opened:\n%s", out);
    audit_ok(&S);
    srv_cleanup(&S);
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
    /* a card with nobody to ask (no terminal) and neither --max nor --yes */
    ASSERT_EQ(sh(out, sizeof out, "setsid -w %s --wallet %s card --vpcd 127.0.0.1:1 </dev/null",
                 ducat_bin, payer.path),
              2);
    ASSERT_HAS(out, "card: give --max AMOUNT (pay requests up to it) or --yes");
    ASSERT_EQ(D(out, &payer, "card --vpcd 127.0.0.1:1 --amount 1 --yes"), 2);
    ASSERT_HAS(out, "card: unexpected argument '--amount'");
    ASSERT_EQ(D(out, &payer, "card --yes"), 2);
    ASSERT_HAS(out, "card: --vpcd is required");
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

TESTS(T(test_init), T(test_tap_1_hop), T(test_tap_refused_reclaimed),
      T(test_card_killed_every_apdu), T(test_tap_10_hops_killed_every_apdu),
      T(test_card_killed_mid_refuse), T(test_bad_reader))
