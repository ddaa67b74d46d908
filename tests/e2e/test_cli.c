/*
 * test_cli.c - end-to-end tests of the `ducat` CLI against a real ducatd:
 * real wallet files, real `ducat` processes (online commands, offline armor
 * and TCP payments), kill -9 of the payer or the payee at every message
 * boundary of a TCP payment, the payee's refusals of bad coins, and bad
 * input (passphrase, damaged wallet files, garbage armor).
 *
 * The ducat binary is $DUCAT, else "ducat" next to $DUCATD (build/ducatd).
 * Wallets use --kdf min so each process start costs milliseconds.
 */
#define _DEFAULT_SOURCE
#include "test.h"

#include "harness.h"

#include "cli_harness.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ducat/armor.h"
#include "ducat/auth.h"
#include "ducat/proto.h"
#include "ducat/service.h"
#include "ducat/wallet.h"

static struct srv S;

static void start(struct srv *s, const char *init_args)
{
    srv_cleanup(s);
    srv_init(s, init_args);
    srv_start(s);
}

/* ---- The story ----------------------------------------------------------------------- */

static void test_story_online_offline_fork(void)
{
    char out[65536], dir[128];
    struct wal alice, bob, carol, dave;
    start(&S, NULL); /* accounts start unverified */
    snprintf(dir, sizeof dir, "%s", S.dir);
    wallet_new(&S, &alice, "alice", "Alice Zhang");
    wallet_new(&S, &bob, "bob", "Bob Li");
    wallet_new(&S, &carol, "carol", "Carol Wang");
    wallet_new(&S, &dave, "dave", "Dave Chen");

    /* unverified: no coins */
    ASSERT_EQ(D(out, &alice, "withdraw 10"), 1);
    ASSERT_HAS(out, "not verified");
    const struct wal *all[] = {&alice, &bob, &carol, &dave};
    for (size_t i = 0; i < 4; i++) {
        ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts verify %lld", all[i]->account), 0);
        ASSERT_EQ(D(out, all[i], "sync"), 0);
        ASSERT_HAS(out, "(verified)");
    }
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 1000.00", alice.account), 0);
    ASSERT_EQ(online_field(&alice, "available"), 100000);

    /* online payment */
    ASSERT_EQ(D(out, &alice, "pay %lld 50.00 --memo lunch", bob.account), 0);
    ASSERT_EQ(online_field(&bob, "available"), 5000);
    ASSERT_EQ(online_field(&alice, "available"), 95000);
    ASSERT_EQ(D(out, &bob, "history"), 0); /* the memo reaches the payee */
    ASSERT_HAS(out, "\"lunch\"");

    /* withdraw: the online balance drops by X */
    ASSERT_EQ(D(out, &alice, "withdraw 100"), 0);
    ASSERT_EQ(online_field(&alice, "available"), 85000);
    ASSERT_EQ(online_field(&alice, "offline_outstanding"), 10000);
    ASSERT_EQ(offline_field(&alice, "offline_coins"), 10000);
    char backup[200];
    snprintf(backup, sizeof backup, "%s/alice-backup.w", dir);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", alice.path, backup), 0);

    /* offline over TCP with a split: 100 = 30 + 70 */
    char port_file[200], log[200];
    snprintf(port_file, sizeof port_file, "%s/bob.port", dir);
    snprintf(log, sizeof log, "%s/bob.log", dir);
    pid_t rx = spawn(&bob, log, NULL, "receive --listen 127.0.0.1:0 --port-file %s --amount 30",
                     port_file);
    wait_for(log, "waiting for the payer", 10000);
    char port[16];
    ASSERT(slurp(port_file, port, sizeof port) > 0);
    ASSERT_EQ(D(out, &alice, "send --to 127.0.0.1:%d", atoi(port)), 0);
    ASSERT_HAS(out, "receipt verified");
    ASSERT_EQ(wait_exit(rx, 10000), 0);
    slurp(log, out, sizeof out);
    ASSERT_HAS(out, "verified payment: 1 coin(s), 30.00 CNY");
    ASSERT_EQ(offline_field(&alice, "offline_coins"), 7000);
    ASSERT_EQ(offline_field(&alice, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(&bob, "offline_coins"), 3000);

    /* second hop with armor, delivered twice */
    ASSERT_EQ(D(out, &carol, "request 30 > %s/req 2>/dev/null", dir), 0);
    ASSERT_EQ(D(out, &bob, "pay %s/req > %s/pay", dir, dir), 0);
    ASSERT_EQ(D(out, &carol, "accept %s/pay > %s/rcpt", dir, dir), 0);
    ASSERT_EQ(D(out, &carol, "accept %s/pay > %s/rcpt2", dir, dir), 0);
    ASSERT_EQ(sh(out, sizeof out, "cmp %s/rcpt %s/rcpt2", dir, dir), 0);
    ASSERT_EQ(offline_field(&carol, "offline_coins"), 3000);
    ASSERT_EQ(D(out, &bob, "confirm %s/rcpt", dir), 0);
    ASSERT_EQ(offline_field(&bob, "offline_pending_out"), 0);

    /* deposit: held with a release date */
    ASSERT_EQ(D(out, &carol, "deposit"), 0);
    ASSERT_HAS(out, "held until");
    json_t *j = djson(&carol, "balance");
    ASSERT_EQ(json_int(j, "held"), 3000);
    ASSERT_EQ(json_int(j, "available"), 0);
    json_t *h0 = json_array_get(json_get(j, "holds"), 0);
    ASSERT(h0 != NULL);
    ASSERT(json_int(h0, "release_at") > (long long)h_now_ms() + 14LL * 86400000LL);
    json_decref(j);

    /* the double spend from a restored backup */
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", backup, alice.path), 0);
    ASSERT_EQ(offline_field(&alice, "offline_coins"), 10000);
    /* Bob knows the coin's history: refused on the spot */
    ASSERT_EQ(D(out, &bob, "request 40 > %s/req2 2>/dev/null", dir), 0);
    ASSERT_EQ(D(out, &alice, "pay %s/req2 > %s/pay2", dir, dir), 0);
    ASSERT_EQ(D(out, &bob, "accept %s/pay2", dir), 1);
    ASSERT_HAS(out, "double spend");
    ASSERT_EQ(offline_field(&bob, "offline_coins"), 0);
    /* Dave cannot tell offline */
    ASSERT_EQ(D(out, &dave, "request 60 > %s/req3 2>/dev/null", dir), 0);
    ASSERT_EQ(D(out, &alice, "pay %s/req3 > %s/pay3", dir, dir), 0);
    ASSERT_EQ(D(out, &dave, "accept %s/pay3 > /dev/null", dir), 0);
    ASSERT_EQ(D(out, &dave, "deposit"), 0);
    ASSERT_HAS(out, "double-spend case");

    /* the case names Alice; she is charged; honest credits stay */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases show 1"), 0);
    j = json_loads(out, 0, NULL);
    ASSERT(j != NULL);
    ASSERT_EQ(json_int(j, "culprit_account"), alice.account);
    json_decref(j);
    ASSERT_EQ(online_field(&alice, "available"), 85000 - 6000);
    ASSERT_EQ(online_field(&carol, "held"), 3000);
    ASSERT_EQ(online_field(&dave, "held"), 6000);
    ASSERT_EQ(D(out, &alice, "sync"), 0);
    ASSERT_HAS(out, "BLOCKED");
    /* Bob's wallet learns the revocation at sync, and refuses Alice's device */
    ASSERT_EQ(D(out, &bob, "sync"), 0);
    ASSERT_HAS(out, "1 revoked device");
    audit_ok(&S);
    srv_cleanup(&S);
}

/* make demo's script itself, against the binaries under test */
static void test_demo_script(void)
{
    char out[1 << 16];
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", h_ducatd());
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int rc = sh(out, sizeof out, "BUILD=%s DUCAT=%s scripts/demo.sh", dir, ducat_bin);
    if (rc != 0)
        FAIL_AT("demo exited %d:\n%s", rc, out + (strlen(out) > 3000 ? strlen(out) - 3000 : 0));
    ASSERT_HAS(out, "every step behaved as described");
}

/* ---- kill -9 at every message boundary of a TCP payment ---------------------------------- */

struct boundary {
    const char *point;
    int payee; /* the payee is killed (else the payer) */
};

static const struct boundary boundaries[] = {
    {"receive:request-persisted", 1}, {"receive:request-sent", 1}, {"send:request-received", 0},
    {"send:payment-persisted", 0},    {"send:payment-sent", 0},    {"receive:payment-received", 1},
    {"receive:coins-persisted", 1},   {"receive:receipt-sent", 1}, {"send:receipt-received", 0},
};

static void start_receive(const struct wal *payee, const char *dir, int round, const char *pause,
                          pid_t *pid, char *log, char *port_file)
{
    sprintf(log, "%s/rx-%d-%s.log", dir, round, pause ? "p" : "n");
    sprintf(port_file, "%s/rx-%d.port", dir, round);
    unlink(port_file);
    *pid = spawn(payee, log, pause, "receive --listen 127.0.0.1:0 --port-file %s --amount 1",
                 port_file);
}

static void test_kill9_every_boundary(void)
{
    char out[16384], dir[128], log[256], plog[256], pf[256];
    struct wal payer, payee;
    start(&S, "--auto-verify");
    snprintf(dir, sizeof dir, "%s", S.dir);
    wallet_new(&S, &payer, "payer", "Paula Payer");
    wallet_new(&S, &payee, "payee", "Pete Payee");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", payer.account), 0);
    ASSERT_EQ(D(out, &payer, "withdraw 100"), 0);
    size_t nb = sizeof boundaries / sizeof boundaries[0];
    for (size_t i = 0; i < nb; i++) {
        const struct boundary *b = &boundaries[i];
        int round = (int)i;
        pid_t rx, tx;
        printf("# boundary %s: kill -9 the %s\n", b->point, b->payee ? "payee" : "payer");
        start_receive(&payee, dir, round, b->payee ? b->point : NULL, &rx, log, pf);
        sprintf(plog, "%s/tx-%d.log", dir, round);
        if (strcmp(b->point, "receive:request-persisted") == 0) {
            wait_for(log, "PAUSED", 10000);
            kill9(rx);
            start_receive(&payee, dir, round, NULL, &rx, log, pf);
            ASSERT_EQ(D(out, &payer, "send --to 127.0.0.1:%d", port_of(pf)), 0);
        } else if (b->payee) {
            tx = spawn(&payer, plog, NULL, "send --to 127.0.0.1:%d", port_of(pf));
            wait_for(log, "PAUSED", 10000);
            kill9(rx);
            int rc = wait_exit(tx, 20000);
            /* interrupted (4), or done if the receipt had already left (0) */
            if (rc != 4 && rc != 0) {
                slurp(plog, out, sizeof out);
                FAIL_AT("payer exited %d after the payee died at %s:\n%s", rc, b->point, out);
            }
            start_receive(&payee, dir, round, NULL, &rx, log, pf);
            rc = D(out, &payer, "send --to 127.0.0.1:%d", port_of(pf));
            if (rc != 0) FAIL_AT("retried payer exited %d at %s:\n%s", rc, b->point, out);
        } else {
            tx = spawn(&payer, plog, b->point, "send --to 127.0.0.1:%d", port_of(pf));
            wait_for(plog, "PAUSED", 10000);
            kill9(tx);
            ASSERT_EQ(D(out, &payer, "send --to 127.0.0.1:%d", port_of(pf)), 0);
        }
        int rc = wait_exit(rx, 20000);
        if (rc != 0) {
            slurp(log, out, sizeof out);
            FAIL_AT("payee exited %d at %s:\n%s", rc, b->point, out);
        }
        /* exactly one payment of 1.00 per round, nothing left pending */
        ASSERT_EQ(offline_field(&payee, "offline_coins"), (long long)(i + 1) * 100);
        ASSERT_EQ(offline_field(&payer, "offline_pending_out"), 0);
        ASSERT_EQ(offline_field(&payer, "offline_coins"), 10000 - (long long)(i + 1) * 100);
    }
    /* everything back to the server: no value lost, no one accused */
    ASSERT_EQ(D(out, &payer, "deposit"), 0);
    ASSERT_EQ(D(out, &payee, "deposit"), 0);
    ASSERT_EQ(online_field(&payer, "held") + online_field(&payee, "held"), 10000);
    ASSERT_EQ(online_field(&payee, "held"), (long long)nb * 100);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases list"), 0);
    ASSERT(strchr(out, '\n') == NULL || strchr(strchr(out, '\n') + 1, '\n') == NULL ||
           strchr(out, '\n')[1] == '\0');
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- Bad input -------------------------------------------------------------------------- */

static void test_bad_wallet_and_input(void)
{
    char out[16384], dir[128], p[256], before[8192], after[8192];
    struct wal w;
    start(&S, "--auto-verify");
    snprintf(dir, sizeof dir, "%s", S.dir);
    wallet_new(&S, &w, "w", "Wendy Wu");
    long n = slurp(w.path, before, sizeof before);
    ASSERT(n > 0);

    /* wrong passphrase: exit 3, one line, nothing changed */
    ASSERT_EQ(sh(out, sizeof out, "DUCAT_PASSPHRASE=wrong %s --wallet %s balance --offline",
                 ducat_bin, w.path),
              3);
    ASSERT_HAS(out, "wrong passphrase");
    ASSERT_EQ(strchr(out, '\n') - out + 1, (long)strlen(out));
    ASSERT_EQ(slurp(w.path, after, sizeof after), n);
    ASSERT_MEM(before, after, (size_t)n);
    /* the passphrase from a file descriptor */
    ASSERT_EQ(sh(out, sizeof out,
                 "echo \"$DUCAT_PASSPHRASE\" | env -u DUCAT_PASSPHRASE %s "
                 "--wallet %s --passphrase-fd 0 balance --offline",
                 ducat_bin, w.path),
              0);
    ASSERT_EQ(sh(out, sizeof out,
                 "echo nope | env -u DUCAT_PASSPHRASE %s --wallet %s "
                 "--passphrase-fd 0 balance --offline",
                 ducat_bin, w.path),
              3);

    /* truncated and corrupted copies */
    snprintf(p, sizeof p, "%s/cut.w", dir);
    write_file(p, before, (size_t)n / 2);
    ASSERT_EQ(sh(out, sizeof out, "%s --wallet %s balance --offline", ducat_bin, p), 3);
    ASSERT_HAS(out, "cut short");
    ASSERT_HAS(out, p);
    snprintf(p, sizeof p, "%s/bad.w", dir);
    before[n - 10] ^= 0x01;
    write_file(p, before, (size_t)n);
    before[n - 10] ^= 0x01;
    ASSERT_EQ(sh(out, sizeof out, "%s --wallet %s balance --offline", ducat_bin, p), 3);
    ASSERT_HAS(out, "damaged");
    snprintf(p, sizeof p, "%s/none.w", dir);
    ASSERT_EQ(sh(out, sizeof out, "%s --wallet %s coins", ducat_bin, p), 3);
    ASSERT_HAS(out, "no wallet at");
    write_file(p, "hello", 5);
    ASSERT_EQ(sh(out, sizeof out, "%s --wallet %s coins", ducat_bin, p), 3);
    ASSERT_HAS(out, "not a Ducat wallet");

    /* garbage armor: a clear message quoting it, exit 1, nothing changed */
    snprintf(p, sizeof p, "%s/garbage", dir);
    write_file(p, "ducat:payment:1:AAAA:00000000\n", 30);
    ASSERT_EQ(D(out, &w, "accept %s", p), 1);
    ASSERT_HAS(out, "checksum");
    ASSERT_HAS(out, "'ducat:payment:1:AAAA:00000000'");
    write_file(p, "hello world", 11);
    ASSERT_EQ(D(out, &w, "pay %s", p), 1);
    ASSERT_HAS(out, "not a valid request");
    ASSERT_HAS(out, "hello world");
    ASSERT_EQ(D(out, &w, "confirm %s", p), 1);
    ASSERT_HAS(out, "not a valid receipt");
    /* a request armor given where a payment is expected */
    ASSERT_EQ(D(out, &w, "request 1 > %s/req 2>/dev/null", dir), 0);
    ASSERT_EQ(D(out, &w, "accept %s/req", dir), 1);
    ASSERT_HAS(out, "wrong kind");

    /* amounts and usage */
    ASSERT_EQ(D(out, &w, "withdraw 1.234"), 2);
    ASSERT_HAS(out, "'1.234'");
    ASSERT_HAS(out, "more decimals");
    ASSERT_EQ(D(out, &w, "withdraw abc"), 2);
    ASSERT_HAS(out, "'abc'");
    ASSERT_EQ(D(out, &w, "pay 0 1.00"), 2);
    ASSERT_HAS(out, "invalid account '0'");
    ASSERT_EQ(D(out, &w, "frobnicate"), 2);
    ASSERT_HAS(out, "unknown command 'frobnicate'");
    ASSERT_EQ(D(out, &w, "withdraw 999999"), 1);
    ASSERT_HAS(out, "insufficient funds");
    ASSERT_EQ(D(out, &w, "help receive"), 0);
    ASSERT_HAS(out, "--listen HOST:PORT");
    /* the state after all that: unchanged */
    ASSERT_EQ(offline_field(&w, "offline_coins"), 0);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- The payee refuses bad coins --------------------------------------------------------- */

/* payee requests amount; the payment built by `make` must be refused with `why`. */
static void expect_refused(const struct wal *payee, const char *dir, const char *amount,
                           void (*make)(struct coin *, size_t *, const struct dc_request *, void *),
                           void *ctx, const char *why)
{
    char out[16384], tag[128];
    static struct coin coins[4];
    struct hand_request h;
    snprintf(tag, sizeof tag, "%s", why);
    for (char *q = tag; *q; q++)
        if (*q == ' ') *q = '_';
    hand_request(&h, payee, dir, tag, amount);
    size_t n = 0;
    make(coins, &n, &h.r, ctx);
    write_payment(h.pay_path, h.req, h.len, coins, n);
    long long before = offline_field(payee, "offline_coins");
    /* stdout carries the signed refusal (kept in a file), stderr one line */
    int rc = D(out, payee, "accept %s 2>&1 > %s.ans", h.pay_path, h.pay_path);
    if (rc != 1 || !contains(out, why)) {
        FAIL_AT("expected a refusal naming \"%s\", got exit %d: %s", why, rc, out);
    }
    ASSERT_EQ(strchr(out, '\n') - out + 1, (long)strlen(out)); /* one line */
    ASSERT_EQ(offline_field(payee, "offline_coins"), before);
}

struct bad_ctx {
    struct dev *payer;
    struct coin *pool; /* fresh coins of 1.00 owned by payer */
    size_t next;
    struct coin old; /* a coin already paid to the payee (replay) */
};

static void mk_forged(struct coin *c, size_t *n, const struct dc_request *r, void *v)
{
    struct bad_ctx *b = v;
    c[0] = b->pool[b->next++];
    c[0].b[3 + 200] ^= 0x40; /* a byte of the genesis signature */
    transfer_to_request(&c[0], b->payer, r);
    *n = 1;
}

static void mk_altered(struct coin *c, size_t *n, const struct dc_request *r, void *v)
{
    struct bad_ctx *b = v;
    c[0] = b->pool[b->next++];
    transfer_to_request(&c[0], b->payer, r);
    /* the transfer record's nonce is bound to the signature: change a byte of
     * the genesis value instead (the amount printed on the note) */
    struct dc_coin *dc = malloc(sizeof *dc);
    ASSERT(dc != NULL);
    ASSERT_OK(dc_coin_decode(dc, c[0].b, c[0].len));
    size_t off = (size_t)(dc->genesis_bytes - c[0].b);
    free(dc);
    /* value follows type, version, key_id, serial, currency */
    c[0].b[off + 2 + 4 + DC_SERIAL_BYTES + 4] ^= 0x02;
    *n = 1;
}

static void mk_replayed(struct coin *c, size_t *n, const struct dc_request *r, void *v)
{
    struct bad_ctx *b = v;
    (void)r;
    c[0] = b->old; /* transferred to this payee with an OLD request's nonce */
    *n = 1;
}

static void mk_expired(struct coin *c, size_t *n, const struct dc_request *r, void *v)
{
    struct coin *old = v;
    c[0] = *old;
    (void)r;
    *n = 1;
}

static void test_payee_refuses_bad_coins(void)
{
    char out[16384], dir[128];
    static struct coin pool[8], stale[1];
    struct wal payee;
    struct dev payer, culprit, x1, x2;
    start(&S, "--auto-verify");
    snprintf(dir, sizeof dir, "%s", S.dir);
    /* business time from a file, so a coin can be issued in the past */
    srv_dev_clock(&S);
    /* a signing key valid from 12 days ago, so a coin can be issued then */
    uint64_t past = h_now_ms() - 12ULL * 86400000ULL;
    srv_clock_set(&S, past);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "keys rotate"), 0);
    srv_clock_real(&S);
    srv_restart(&S);
    wallet_new(&S, &payee, "payee", "Pat Payee");
    dev_setup(&S, &payer, "Rick Payer", 10000);
    size_t n;
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(withdraw(&S, &payer, 100, &pool[i], 1, &n, NULL), 201);
    }
    struct bad_ctx b = {&payer, pool, 0, {{0}, 0}};

    expect_refused(&payee, dir, "1", mk_forged, &b, "not signed by the issuer");
    expect_refused(&payee, dir, "1", mk_altered, &b, "not signed by the issuer");

    /* a good payment first; then its coin replayed against a new request */
    {
        struct hand_request h;
        hand_request(&h, &payee, dir, "good", "1");
        b.old = pool[b.next++];
        transfer_to_request(&b.old, &payer, &h.r);
        write_payment(h.pay_path, h.req, h.len, &b.old, 1);
        ASSERT_EQ(D(out, &payee, "accept %s > /dev/null", h.pay_path), 0);
        ASSERT_EQ(offline_field(&payee, "offline_coins"), 100);
    }
    expect_refused(&payee, dir, "1", mk_replayed, &b, "nonce");

    /* over the offline limit: the payee refuses to ask for it at all */
    ASSERT_EQ(D(out, &payee, "request 1999.50"), 1);
    ASSERT_HAS(out, "offline limit");

    /* expired: a coin issued 12 days ago (lifetime 10 days) */
    {
        srv_clock_set(&S, past);
        ASSERT_EQ(withdraw(&S, &payer, 100, &stale[0], 1, &n, NULL), 201);
        srv_clock_real(&S);
        struct hand_request h;
        hand_request(&h, &payee, dir, "exp", "1");
        transfer_to_request(&stale[0], &payer, &h.r);
        write_payment(h.pay_path, h.req, h.len, stale, 1);
        ASSERT_EQ(D(out, &payee, "accept %s", h.pay_path), 1);
        ASSERT_HAS(out, "expired");
        (void)mk_expired;
    }

    /* revoked: the culprit of a fork is on the revocation list after sync */
    dev_setup(&S, &culprit, "Mallory Ma", 10000);
    dev_setup(&S, &x1, "Xavier One", 0);
    dev_setup(&S, &x2, "Xena Two", 0);
    static struct coin cc[2], spare[1];
    ASSERT_EQ(withdraw(&S, &culprit, 100, &cc[0], 1, &n, NULL), 201);
    ASSERT_EQ(withdraw(&S, &culprit, 100, &spare[0], 1, &n, NULL), 201);
    cc[1] = cc[0];
    dev_sync(&S, &x1);
    dev_sync(&S, &x2);
    coin_transfer(&cc[0], &culprit, &x1);
    coin_transfer(&cc[1], &culprit, &x2);
    coin_deposit(&cc[0], &x1, x1.account);
    coin_deposit(&cc[1], &x2, x2.account);
    json_t *j = NULL;
    ASSERT_EQ(deposit(&S, &x1, &cc[0], 1, NULL, &j), 201);
    json_decref(j);
    ASSERT_EQ(deposit(&S, &x2, &cc[1], 1, NULL, &j), 201);
    json_decref(j);
    ASSERT_EQ(D(out, &payee, "sync"), 0);
    ASSERT_HAS(out, "1 revoked device");
    {
        struct hand_request h;
        hand_request(&h, &payee, dir, "rev", "1");
        transfer_to_request(&spare[0], &culprit, &h.r);
        write_payment(h.pay_path, h.req, h.len, spare, 1);
        ASSERT_EQ(D(out, &payee, "accept %s", h.pay_path), 1);
        ASSERT_HAS(out, "revocation list");
    }
    ASSERT_EQ(offline_field(&payee, "offline_coins"), 100);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- The library: a lost answer is recovered with the same request id ------------------- */

struct snap {
    const char *path;
    int calls, snap_at;
    char copy[256];
};

/* Saves like the CLI, and copies the file at the snap_at-th save: the state
 * a crash right after that save leaves. */
static enum dc_err snap_save(void *ctx, struct dc_wallet *w)
{
    struct snap *s = ctx;
    enum dc_err e = dc_wallet_commit(w, s->path);
    if (e == DC_OK && ++s->calls == s->snap_at) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "cp %s %s", s->path, s->copy);
        if (system(cmd) != 0) return DC_ERR_IO;
    }
    return e;
}

static void test_library_lost_answers(void)
{
    char out[4096], url[64];
    struct wal w;
    start(&S, "--auto-verify");
    wallet_new(&S, &w, "lib", "Libby Li");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", w.account), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", S.port);
    const char *pass = getenv("DUCAT_PASSPHRASE");
    struct snap sn = {w.path, 0, 1, ""};
    snprintf(sn.copy, sizeof sn.copy, "%s/crash.w", S.dir);

    /* withdraw: the request is saved (1st save), sent, answered; then we
     * pretend the process died right after the first save */
    struct dc_wallet *wa;
    ASSERT_OK(dc_wallet_load(&wa, w.path, pass, strlen(pass), DC_WALLET_KEEP_KEY));
    struct dc_client *c;
    ASSERT_OK(dc_client_new(&c, url));
    struct dc_service svc;
    dc_service_init(&svc, wa, c, snap_save, &sn);
    struct dc_service_withdrawal wd;
    ASSERT_OK(dc_service_withdraw(&svc, 2500, h_now_ms(), &wd));
    ASSERT_EQ(wd.amount, 2500);
    dc_wallet_free(wa);
    ASSERT_EQ(online_field(&w, "available"), 7500);

    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", sn.copy, w.path), 0);
    ASSERT_EQ(offline_field(&w, "offline_coins"), 0); /* the crash lost the answer */
    ASSERT_OK(dc_wallet_load(&wa, w.path, pass, strlen(pass), DC_WALLET_KEEP_KEY));
    sn.calls = 0;
    sn.snap_at = 1;
    dc_service_init(&svc, wa, c, snap_save, &sn);
    struct dc_service_resumed rs;
    ASSERT_OK(dc_service_resume(&svc, h_now_ms(), &rs));
    ASSERT_EQ(rs.withdrawals, 1);
    ASSERT_EQ(rs.withdrawn, 2500);
    dc_wallet_free(wa);
    ASSERT_EQ(offline_field(&w, "offline_coins"), 2500); /* the same coins, once */
    ASSERT_EQ(online_field(&w, "available"), 7500);

    /* transfer: the same with an online payment to another account */
    struct wal o;
    wallet_new(&S, &o, "other", "Otto Other");
    ASSERT_OK(dc_wallet_load(&wa, w.path, pass, strlen(pass), DC_WALLET_KEEP_KEY));
    sn.calls = 0;
    sn.snap_at = 1;
    dc_service_init(&svc, wa, c, snap_save, &sn);
    struct dc_service_transfer t;
    ASSERT_OK(dc_service_pay(&svc, (uint64_t)o.account, 1000, "rent", h_now_ms(), &t));
    dc_wallet_free(wa);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", sn.copy, w.path), 0);
    int rc = D(out, &w, "sync"); /* the CLI finishes the pending transfer */
    if (rc != 0) FAIL_AT("sync exited %d: %s", rc, out);
    ASSERT_HAS(out, "finished 1 pending request");
    ASSERT_EQ(online_field(&o, "available"), 1000);
    ASSERT_EQ(online_field(&w, "available"), 6500);

    /* deposit: the coins signed for deposit, the request saved, the answer lost */
    ASSERT_OK(dc_wallet_load(&wa, w.path, pass, strlen(pass), DC_WALLET_KEEP_KEY));
    sn.calls = 0;
    sn.snap_at = 1;
    dc_service_init(&svc, wa, c, snap_save, &sn);
    struct dc_service_deposit *d = calloc(1, sizeof *d);
    ASSERT(d != NULL);
    ASSERT_OK(dc_service_deposit(&svc, NULL, 0, h_now_ms(), d));
    ASSERT_EQ(d->credited, 2500);
    dc_wallet_free(wa);
    ASSERT_EQ(sh(out, sizeof out, "cp %s %s", sn.copy, w.path), 0);
    ASSERT_EQ(offline_field(&w, "offline_pending_out"), 2500);
    ASSERT_EQ(D(out, &w, "balance"), 0); /* resumes: credited once */
    ASSERT_EQ(online_field(&w, "held"), 2500);
    ASSERT_EQ(offline_field(&w, "offline_pending_out"), 0);
    ASSERT_EQ(offline_field(&w, "offline_coins"), 0);
    free(d);

    /* the server down: the request stays pending, nothing is lost */
    ASSERT_OK(dc_wallet_load(&wa, w.path, pass, strlen(pass), DC_WALLET_KEEP_KEY));
    dc_service_init(&svc, wa, c, snap_save, &sn);
    srv_kill9(&S);
    enum dc_err e = dc_service_withdraw(&svc, 500, h_now_ms(), &wd);
    ASSERT(dc_service_is_transient(e));
    dc_wallet_free(wa);
    ASSERT_EQ(D(out, &w, "info"), 0);
    ASSERT_HAS(out, "pending     withdraw");
    srv_start(&S); /* on a new port: --server overrides the wallet's URL */
    rc = D(out, &w, "--server http://127.0.0.1:%d sync", S.port);
    if (rc != 0) FAIL_AT("sync exited %d: %s", rc, out);
    ASSERT_EQ(offline_field(&w, "offline_coins"), 500);
    ASSERT_EQ(D(out, &w, "--server http://127.0.0.1:%d balance", S.port), 0);
    ASSERT_HAS(out, "available   60.00 CNY");
    dc_client_free(c);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* The ducat binary and the ID prefixes, set before any case runs, so each
 * case can also run alone or in another order (DUCAT_TEST_ONLY/REVERSE). */
__attribute__((constructor)) static void init(void)
{
    cli_init("1101011990", "+86138");
}

static void test_setup(void)
{
    char out[256];
    ASSERT_EQ(sh(out, sizeof out, "%s --version", ducat_bin), 0);
    ASSERT_HAS(out, "ducat");
}

TESTS(T(test_setup), T(test_bad_wallet_and_input), T(test_story_online_offline_fork),
      T(test_kill9_every_boundary), T(test_payee_refuses_bad_coins), T(test_library_lost_answers),
      T(test_demo_script))
