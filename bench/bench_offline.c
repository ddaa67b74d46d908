/*
 * bench_offline.c - `make bench-offline`: what an offline payment costs the
 * payee and the radio, in one run.
 *
 * For coins of 1, 5 and 10 hops (the last hop being this payment), a real
 * payer wallet and a real payee wallet run the real session engines against
 * each other over 255-byte frames in memory: REQUEST, PAYMENT, RECEIPT,
 * every frame pulled from one engine and pushed into the other.
 *
 *   payee CPU time to accept = dc_wallet_trust (builds the verification
 *   context, checks the signing key's certificate) + dc_session_payee_verify
 *   (every record, every certificate, the seen-set, the receipt signature)
 *   + dc_wallet_accept_coins + the wallet serialised and sealed with the
 *   kept file key (XChaCha20-Poly1305, as dc_wallet_commit does) + the
 *   session context copied out: everything before the receipt may go,
 *   EXCEPT the disk write and fsync (~270 us per fdatasync on this machine
 *   kind, docs/PERF.md: a device-dependent constant we do not control).
 *
 *   raw crypto = the very same Ed25519 operations replayed directly on
 *   libsodium: every crypto_sign_ed25519_verify_detached (and the receipt's
 *   crypto_sign_ed25519_detached) the payee made during one accept is
 *   recorded (the link wraps both symbols, -Wl,--wrap) and replayed with
 *   crypto_sign_verify_detached / crypto_sign_detached.
 *
 * ratio = ours / raw, goal <= 1.25. Raw and ours alternate in rounds so a
 * noisy neighbour hits both alike; time is this process's CPU time; each
 * round's ratio uses that round's raw time, the median round is shown.
 *
 * Bytes on the wire: every frame in both directions (6-byte frame headers
 * included), per message and in total; goal for 10 hops <= 4 KB (one NFC
 * tap budget: ~500 ms at 106 kbit/s carries ~6.6 KB, minus APDU overhead).
 *
 * Tap to pay: the same payment as APDUs between the reader engine and the
 * card responder (include/ducat/apdu.h), short (chaining, GET RESPONSE) and
 * extended: APDUs (= round trips), bytes, ISO-DEP blocks, the CPU of both
 * hosts, and a modelled tap time at 106 and 424 kbit/s; goal: a 10-hop tap
 * within 500 ms at 106 kbit/s (the EMV contactless budget).
 *
 * Finally the wallet file: seal and open at the default (interactive)
 * Argon2id cost, and a commit with the kept key (no Argon2; wall time, as
 * it includes write, fsync, rename and the directory fsync).
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ducat/apdu.h"
#include "ducat/offline.h"
#include "ducat/proto.h"
#include "ducat/wallet.h"
#include "wallet_fixture.h"

#define ROUNDS 7
#define PER_ROUND 40
#define NOW (T0 + DAY)
#define PAYEE_COINS 20 /* coins the payee already holds: a lived-in wallet */

static struct world W;

/* ---- Recording the payee's signature operations ----------------------- */

#define REC_MAX 128
#define REC_MSG_MAX 512

struct rec_verify {
    uint8_t sig[64], pk[32], msg[REC_MSG_MAX];
    size_t len;
};
struct rec_sign {
    uint8_t msg[REC_MSG_MAX];
    size_t len;
};

static int recording, want_record; /* recording: inside the payee's accept */
static struct rec_verify rv[REC_MAX];
static struct rec_sign rs[REC_MAX];
static size_t n_rv, n_rs;

int __real_crypto_sign_ed25519_verify_detached(const unsigned char *sig, const unsigned char *m,
                                               unsigned long long mlen, const unsigned char *pk);
int __wrap_crypto_sign_ed25519_verify_detached(const unsigned char *sig, const unsigned char *m,
                                               unsigned long long mlen, const unsigned char *pk);
int __real_crypto_sign_ed25519_detached(unsigned char *sig, unsigned long long *siglen_p,
                                        const unsigned char *m, unsigned long long mlen,
                                        const unsigned char *sk);
int __wrap_crypto_sign_ed25519_detached(unsigned char *sig, unsigned long long *siglen_p,
                                        const unsigned char *m, unsigned long long mlen,
                                        const unsigned char *sk);

int __wrap_crypto_sign_ed25519_verify_detached(const unsigned char *sig, const unsigned char *m,
                                               unsigned long long mlen, const unsigned char *pk)
{
    if (recording) {
        if (n_rv == REC_MAX || mlen > REC_MSG_MAX) abort();
        struct rec_verify *r = &rv[n_rv++];
        memcpy(r->sig, sig, 64);
        memcpy(r->pk, pk, 32);
        memcpy(r->msg, m, (size_t)mlen);
        r->len = (size_t)mlen;
    }
    return __real_crypto_sign_ed25519_verify_detached(sig, m, mlen, pk);
}

int __wrap_crypto_sign_ed25519_detached(unsigned char *sig, unsigned long long *siglen_p,
                                        const unsigned char *m, unsigned long long mlen,
                                        const unsigned char *sk)
{
    if (recording) {
        if (n_rs == REC_MAX || mlen > REC_MSG_MAX) abort();
        /* only the payee signs while recording: its key is W.bob.sk */
        if (memcmp(sk, W.bob.sk, DC_SECKEY_BYTES) != 0) abort();
        memcpy(rs[n_rs].msg, m, (size_t)mlen);
        rs[n_rs++].len = (size_t)mlen;
    }
    return __real_crypto_sign_ed25519_detached(sig, siglen_p, m, mlen, sk);
}

/* ---- Helpers ---------------------------------------------------------- */

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(enum dc_err e, const char *what)
{
    if (e != DC_OK) {
        fprintf(stderr, "bench-offline: %s: %s\n", what, dc_err_str(e));
        exit(1);
    }
}

static double median(const double *v, int n)
{
    double t[64];
    memcpy(t, v, (size_t)n * sizeof *t);
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    }
    return t[n / 2];
}

static struct dc_wallet *wallet_of(const struct party *p, uint8_t tag)
{
    struct dc_wallet *w;
    check(wallet_of_party(&w, &W, p, tag), "wallet of a fixture party");
    return w;
}

/* The wallet's plaintext, so each run starts from the same state. */
static uint8_t *plain_of(const struct dc_wallet *w, size_t *len)
{
    size_t n = 0;
    if (dc_wallet_encode_plain(w, NULL, 0, &n) != DC_ERR_BUFFER_TOO_SMALL) abort();
    uint8_t *p = sodium_malloc(n);
    if (!p) abort();
    check(dc_wallet_encode_plain(w, p, n, len), "encode plain");
    return p;
}

/* ---- The scenario ----------------------------------------------------- */

#define AMOUNT 500

struct scenario {
    int hops; /* records after genesis once paid */
    uint8_t *payer_plain, *payee_plain;
    size_t payer_len, payee_len;
};

struct wire {
    size_t frames[3], bytes[3]; /* per message type: request, payment, receipt */
    size_t msg_len[3];
};

/* A coin of AMOUNT that reaches Alice after hops-1 transfers between Carol
 * and Alice, then the payer wallet holding it. */
static void scenario_init(struct scenario *sc, int hops)
{
    static uint8_t coin[DC_COIN_MAX_BYTES];
    sc->hops = hops;
    int prior = hops - 1;
    const struct party *owner = prior % 2 ? &W.carol : &W.alice;
    size_t len = issue(&W, coin, sizeof coin, AMOUNT, owner, (uint8_t)(0x10 + hops), 16);
    for (int h = 0; h < prior; h++) {
        const struct party *to = owner == &W.alice ? &W.carol : &W.alice;
        uint8_t nonce[DC_NONCE_BYTES];
        nonce_of(nonce, (uint8_t)(0x60 + h));
        check(dc_coin_transfer(coin, sizeof coin, &len, owner->sk, to->cert_bytes, nonce),
              "transfer");
        owner = to;
    }
    if (owner != &W.alice) abort();
    struct dc_wallet *payer = wallet_of(&W.alice, 0xA1);
    const uint8_t *c = coin;
    size_t added;
    check(dc_wallet_accept_coins(payer, &c, &len, 1, NOW, &added), "payer accept");
    sc->payer_plain = plain_of(payer, &sc->payer_len);
    dc_wallet_free(payer);

    struct dc_wallet *payee = wallet_of(&W.bob, 0xB0);
    for (int i = 0; i < PAYEE_COINS; i++) {
        static uint8_t b[DC_COIN_MAX_BYTES];
        size_t bl = issue(&W, b, sizeof b, 100, &W.bob, (uint8_t)(0x80 + i), 16);
        const uint8_t *bp = b;
        check(dc_wallet_accept_coins(payee, &bp, &bl, 1, NOW, &added), "payee accept");
    }
    sc->payee_plain = plain_of(payee, &sc->payee_len);
    dc_wallet_free(payee);
}

/* The payer host: the offline layer checks the request (dc_offline_payer_check:
 * decode, trust, signature), then selects, splits, signs and encodes the
 * payment (dc_offline_pay; the bench saves no wallet file). */
static size_t payer_build(struct dc_wallet *w, const uint8_t *rq, size_t rlen, uint8_t *buf)
{
    static struct dc_offline o;
    size_t n;
    o.w = w;
    check(dc_offline_payer_check(&o, rq, rlen, 0, NOW), "payer: request check");
    check(dc_offline_pay(w, buf, DC_PAYMENT_MAX_BYTES, &n, NULL, NULL, rq, rlen, NOW, DAY),
          "payer: pay");
    return n;
}

/* The payer host on NEED_COINS: build the payment and hand it over. */
static void payer_pay(struct dc_session *s, struct dc_wallet *w)
{
    static uint8_t buf[DC_PAYMENT_MAX_BYTES];
    size_t rlen;
    const uint8_t *rq = dc_session_request(s, &rlen);
    check(dc_session_payer_pay(s, buf, payer_build(w, rq, rlen, buf)), "payer: pay");
}

static uint8_t persist_buf[1 << 20];
static struct dc_session persist_session;
static const uint8_t file_key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES] = {7};

/* What the payee host makes durable before the receipt leaves: the wallet,
 * sealed with the kept key, and the session context. Into memory only. */
static void persist_to_buffer(const struct dc_wallet *w, const struct dc_session *s)
{
    static uint8_t plain[1 << 20];
    size_t n;
    check(dc_wallet_encode_plain(w, plain, sizeof plain, &n), "payee: encode");
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {1};
    unsigned long long cl;
    crypto_aead_xchacha20poly1305_ietf_encrypt(persist_buf, &cl, plain, n, NULL, 0, NULL, nonce,
                                               file_key);
    sodium_memzero(plain, n); /* holds the device seed */
    memcpy(&persist_session, s, sizeof *s);
}

/* The payee's request of every exchange. */
static void bench_request(struct dc_request *r)
{
    memset(r, 0, sizeof *r);
    r->amount = AMOUNT;
    r->currency = CNY;
    r->payee = W.bob.cert;
    nonce_of(r->nonce, 0x55);
    r->time = NOW;
}

/* One whole exchange; returns the payee's CPU seconds to accept. */
static double exchange(const struct scenario *sc, struct wire *wire)
{
    static struct dc_session pe, pr;
    struct dc_wallet *payer, *payee;
    check(dc_wallet_decode_plain(&payer, sc->payer_plain, sc->payer_len), "payer wallet");
    check(dc_wallet_decode_plain(&payee, sc->payee_plain, sc->payee_len), "payee wallet");

    struct dc_request r;
    bench_request(&r);
    check(dc_session_payee_start(&pe, &r, dc_wallet_device_sk(payee), DC_FRAME_MAX), "payee start");
    check(dc_session_payer_start(&pr, DC_FRAME_MAX), "payer start");
    if (wire) memset(wire, 0, sizeof *wire);

    double accept = 0;
    for (int steps = 0;; steps++) {
        if (steps > 10000) abort();
        unsigned we = dc_session_want(&pe), wr = dc_session_want(&pr);
        if ((we | wr) & DC_SESSION_FAILED) {
            fprintf(stderr, "bench-offline: session failed: payee %s, payer %s\n",
                    dc_err_str(dc_session_error(&pe)), dc_err_str(dc_session_error(&pr)));
            exit(1);
        }
        if ((we & DC_SESSION_DONE) && (wr & DC_SESSION_DONE) && !((we | wr) & DC_SESSION_SEND)) {
            break;
        }
        if (wr & DC_SESSION_NEED_COINS) {
            payer_pay(&pr, payer);
            continue;
        }
        if (wr & DC_SESSION_NEED_PERSIST) { /* the payer's write is not timed here */
            persist_to_buffer(payer, &pr);
            check(dc_session_persisted(&pr), "payer persisted");
            continue;
        }
        if (we & DC_SESSION_NEED_VERIFY) {
            recording = want_record;
            double t0 = cpu_s();
            struct dc_trust t;
            check(dc_wallet_trust(payee, &t, NOW), "payee trust");
            struct dc_payment_check chk = {&t, dc_wallet_seen_check, payee, NULL};
            struct dc_payment_result res;
            check(dc_session_payee_verify(&pe, &res, &chk, dc_wallet_device_sk(payee), NOW),
                  "payee verify");
            const uint8_t *coins[DC_PAYMENT_COINS_MAX];
            size_t lens[DC_PAYMENT_COINS_MAX], plen, added;
            struct dc_payment p;
            const uint8_t *pay = dc_session_payment(&pe, &plen);
            check(dc_payment_decode(&p, NULL, pay, plen), "payee decode");
            for (size_t i = 0; i < p.n; i++) {
                coins[i] = p.coin[i];
                lens[i] = p.coin_len[i];
            }
            check(dc_wallet_accept_coins(payee, coins, lens, p.n, NOW, &added), "payee accept");
            if (added != p.n) abort();
            persist_to_buffer(payee, &pe);
            check(dc_session_persisted(&pe), "payee persisted");
            accept += cpu_s() - t0;
            recording = 0;
            continue;
        }
        /* move one frame each way */
        struct dc_session *from[2] = {&pe, &pr}, *to[2] = {&pr, &pe};
        int moved = 0;
        for (int d = 0; d < 2; d++) {
            size_t n;
            const uint8_t *f = dc_session_send_buf(from[d], &n);
            if (!f || n == 0) continue;
            uint8_t frame[DC_FRAME_MAX];
            memcpy(frame, f, n);
            dc_session_send_ack(from[d], n);
            if (wire) {
                int k = frame[0] - DC_MSG_REQUEST;
                wire->frames[k]++;
                wire->bytes[k] += n;
            }
            if (dc_session_push(to[d], frame, n) != n) abort();
            moved = 1;
        }
        if (!moved) abort(); /* nobody can move: a bug */
    }
    if (wire) {
        dc_session_request(&pe, &wire->msg_len[0]);
        dc_session_payment(&pe, &wire->msg_len[1]);
        dc_session_receipt(&pe, &wire->msg_len[2]);
    }
    dc_wallet_free(payer);
    dc_wallet_free(payee);
    return accept;
}

/* Replays the recorded operations once; returns CPU seconds. */
static double raw_once(double *verify_s)
{
    static uint8_t sig[64];
    double t0 = cpu_s();
    for (size_t i = 0; i < n_rv; i++) {
        if (crypto_sign_verify_detached(rv[i].sig, rv[i].msg, rv[i].len, rv[i].pk) != 0) abort();
    }
    double t1 = cpu_s();
    for (size_t i = 0; i < n_rs; i++) {
        crypto_sign_detached(sig, NULL, rs[i].msg, rs[i].len, W.bob.sk);
    }
    double t2 = cpu_s();
    *verify_s = t1 - t0;
    return t2 - t0;
}

/* ---- Wallet file ------------------------------------------------------ */

static void bench_wallet_file(const struct scenario *sc)
{
    struct dc_wallet *w;
    check(dc_wallet_decode_plain(&w, sc->payee_plain, sc->payee_len), "payee wallet");
    size_t cap = dc_wallet_sealed_size(w), n;
    uint8_t *buf = malloc(cap);
    if (!buf) abort();
    static const char pass[] = "correct horse battery staple";
    double seal[3], open[3], commit[5];
    for (int i = 0; i < 3; i++) {
        double t0 = cpu_s();
        check(dc_wallet_seal(w, buf, cap, &n, pass, sizeof pass - 1, NULL, 0), "seal");
        seal[i] = cpu_s() - t0;
        struct dc_wallet *back;
        t0 = cpu_s();
        check(dc_wallet_open(&back, buf, n, pass, sizeof pass - 1, 0), "open");
        open[i] = cpu_s() - t0;
        dc_wallet_free(back);
    }
    char dir[] = "/tmp/ducat-bench-XXXXXX", path[64];
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/w", dir);
    check(dc_wallet_save(w, path, pass, sizeof pass - 1, NULL, DC_WALLET_KEEP_KEY), "save");
    for (int i = 0; i < 5; i++) {
        double t0 = wall_s();
        check(dc_wallet_commit(w, path), "commit");
        commit[i] = wall_s() - t0;
    }
    unlink(path);
    rmdir(dir);
    printf("\nwallet file (payee wallet, %zu bytes sealed; Argon2id interactive: ops %llu, "
           "mem %zu MiB):\n",
           n, (unsigned long long)crypto_pwhash_OPSLIMIT_INTERACTIVE,
           (size_t)crypto_pwhash_MEMLIMIT_INTERACTIVE >> 20);
    printf("  seal (KDF + AEAD)        %8.1f ms CPU   (median of 3)\n", median(seal, 3) * 1e3);
    printf("  open (KDF + AEAD + decode) %6.1f ms CPU   (median of 3)\n", median(open, 3) * 1e3);
    printf("  commit, kept key         %8.2f ms wall  (median of 5; write + fsync + rename + "
           "dir fsync, in /tmp)\n",
           median(commit, 5) * 1e3);
    free(buf);
    dc_wallet_free(w);
}

/* ---- Tap to pay: the same payment as APDUs (include/ducat/apdu.h) ------ */

struct tap_fig {
    size_t apdus, bytes, blocks; /* APDUs, their bytes both ways, ISO-DEP blocks */
    double card_s, terminal_s;   /* CPU: payer answering PAY, payee verifying */
};

/* ISO-DEP (ISO 14443-4) framing of one APDU each way: blocks of at most
 * 256 bytes with 4 bytes of prologue/CRC each (FSD = FSC = 256). */
static size_t blocks_of(size_t n)
{
    return (n + 4 + 255) / 256;
}

/* One tap: reader engine and card responder with the real wallets; the
 * terminal's host verifies and keeps the coins as for any transport. */
static void tap_once(const struct scenario *sc, unsigned seg, struct tap_fig *f)
{
    static struct dc_session pe;
    static struct dc_tap tap;
    static struct dc_card card;
    static uint8_t rsp[DC_APDU_RSP_MAX], pay[DC_PAYMENT_MAX_BYTES];
    struct dc_wallet *payer, *payee;
    check(dc_wallet_decode_plain(&payer, sc->payer_plain, sc->payer_len), "payer wallet");
    check(dc_wallet_decode_plain(&payee, sc->payee_plain, sc->payee_len), "payee wallet");
    struct dc_request r;
    bench_request(&r);
    check(dc_session_payee_start(&pe, &r, dc_wallet_device_sk(payee), 0), "payee start");
    dc_card_init(&card);
    dc_tap_start(&tap, &pe, seg);
    memset(f, 0, sizeof *f);
    for (int steps = 0; steps < 100; steps++) {
        unsigned w = dc_tap_want(&tap, &pe);
        if (w & DC_TAP_DONE) break;
        if (w & DC_TAP_FAILED) {
            fprintf(stderr, "bench-offline: tap failed: %s\n", dc_err_str(dc_tap_error(&tap)));
            exit(1);
        }
        if (w & DC_TAP_HOST) {
            double t0 = cpu_s();
            struct dc_trust t;
            check(dc_wallet_trust(payee, &t, NOW), "payee trust");
            struct dc_payment_check chk = {&t, dc_wallet_seen_check, payee, NULL};
            check(dc_session_payee_verify(&pe, NULL, &chk, dc_wallet_device_sk(payee), NOW),
                  "payee verify");
            size_t plen;
            const uint8_t *pm = dc_session_payment(&pe, &plen);
            struct dc_payment p;
            size_t added;
            check(dc_payment_decode(&p, NULL, pm, plen), "payee decode");
            check(dc_wallet_accept_coins(payee, p.coin, p.coin_len, p.n, NOW, &added), "keep");
            persist_to_buffer(payee, &pe);
            check(dc_session_persisted(&pe), "payee persisted");
            f->terminal_s += cpu_s() - t0;
            dc_tap_resume(&tap, &pe);
            continue;
        }
        size_t cl, rl;
        unsigned ev;
        const uint8_t *cmd = dc_tap_command(&tap, &cl);
        check(dc_card_apdu(&card, cmd, cl, rsp, sizeof rsp, &rl, &ev), "card");
        if (ev == DC_CARD_PAY) {
            double t0 = cpu_s();
            size_t ml;
            const uint8_t *m = dc_card_message(&card, &ml);
            size_t n = payer_build(payer, m, ml, pay);
            check(dc_card_answer(&card, pay, n, rsp, sizeof rsp, &rl), "card answer");
            f->card_s += cpu_s() - t0;
        } else if (ev == DC_CARD_CONFIRM) {
            check(dc_card_answer(&card, NULL, 0, rsp, sizeof rsp, &rl), "card confirm");
        }
        f->apdus++;
        f->bytes += cl + rl;
        f->blocks += blocks_of(cl) + blocks_of(rl);
        dc_tap_response(&tap, &pe, rsp, rl);
    }
    if (!(dc_tap_want(&tap, &pe) & DC_TAP_DONE)) abort();
    dc_wallet_free(payer);
    dc_wallet_free(payee);
}

/* Modelled time of a tap at `kbps`: 9 bits a byte on air (ISO 14443-A
 * parity), 4 bytes of ISO-DEP framing per block, 1 ms turnaround per block
 * exchange (frame delay, reader and card processing of the block), plus
 * the measured CPU of both hosts on this machine. No fsync (see above). */
static double tap_ms(const struct tap_fig *f, double kbps)
{
    double air = (double)(f->bytes + 4 * f->blocks) * 9.0 / (kbps * 1000.0);
    return (air + (double)f->blocks / 2.0 * 1e-3 + f->card_s + f->terminal_s) * 1e3;
}

static double bench_tap(const struct scenario *sc, const int *hops)
{
    double worst10 = 0;
    printf("\ntap to pay (SELECT, PAY, GET RESPONSE..., CONFIRM; reader engine and card\n"
           "responder with the same wallets; medians of %d taps):\n",
           ROUNDS);
    printf("%5s %9s %6s %7s %7s %10s %10s %9s %9s\n", "hops", "mode", "bytes", "trips", "blocks",
           "card us", "term us", "106 kb/s", "424 kb/s");
    for (int k = 0; k < 3; k++) {
        for (int ext = 0; ext < 2; ext++) {
            struct tap_fig f;
            double card[ROUNDS], term[ROUNDS];
            for (int r = 0; r < ROUNDS; r++) {
                tap_once(&sc[k], ext ? DC_APDU_EXTENDED : 0, &f);
                card[r] = f.card_s;
                term[r] = f.terminal_s;
            }
            f.card_s = median(card, ROUNDS);
            f.terminal_s = median(term, ROUNDS);
            double t106 = tap_ms(&f, 106), t424 = tap_ms(&f, 424);
            if (hops[k] == 10 && t106 > worst10) worst10 = t106;
            printf("%5d %9s %6zu %7zu %7zu %10.0f %10.0f %6.0f ms %6.0f ms\n", hops[k],
                   ext ? "ext" : "short", f.bytes, f.apdus, f.blocks, f.card_s * 1e6,
                   f.terminal_s * 1e6, t106, t424);
        }
    }
    printf("(trips = APDU round trips; blocks = ISO-DEP blocks both ways, 256 bytes at most;\n"
           "model: 9 bits/byte on air, 4 bytes framing per block, 1 ms per block exchange,\n"
           "plus the measured CPU of card and terminal on this machine, no fsync)\n");
    return worst10;
}

int main(void)
{
    static const int hops[3] = {1, 5, 10};
    static struct scenario sc[3];
    world_init(&W);
    for (int k = 0; k < 3; k++) scenario_init(&sc[k], hops[k]);

    /* wire figures, and a check that every exchange completes */
    struct wire wire[3];
    for (int k = 0; k < 3; k++) (void)exchange(&sc[k], &wire[k]);

    printf("bench-offline: payer and payee session engines with real wallets, 255-byte frames\n");
    printf("in memory; payee accept vs the same Ed25519 operations on libsodium %s;\n",
           sodium_version_string());
    printf("median of %d rounds x %d exchanges, CPU time, one core\n\n", ROUNDS, PER_ROUND);

    printf("%5s %6s %6s %10s %10s %10s %8s %9s %9s\n", "hops", "verify", "sign", "raw us",
           "accept us", "(verify)", "ratio", "vs verify", "wire B");
    double worst = 0;
    size_t wire10 = 0;
    for (int k = 0; k < 3; k++) {
        /* record one accept's signature operations */
        n_rv = n_rs = 0;
        want_record = 1;
        (void)exchange(&sc[k], NULL);
        want_record = 0;
        double ours_r[ROUNDS], raw_r[ROUNDS], rawv_r[ROUNDS], ratio_r[ROUNDS], ratio_v[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            double raw = 0, rawv = 0, ours = 0;
            for (int i = 0; i < PER_ROUND; i++) {
                double v;
                raw += raw_once(&v);
                rawv += v;
                ours += exchange(&sc[k], NULL);
            }
            ours_r[r] = ours / PER_ROUND;
            raw_r[r] = raw / PER_ROUND;
            rawv_r[r] = rawv / PER_ROUND;
            ratio_r[r] = ours / raw;
            ratio_v[r] = ours / rawv;
        }
        double ratio = median(ratio_r, ROUNDS);
        if (ratio > worst) worst = ratio;
        size_t total = wire[k].bytes[0] + wire[k].bytes[1] + wire[k].bytes[2];
        if (hops[k] == 10) wire10 = total;
        printf("%5d %6zu %6zu %10.1f %10.1f %10.1f %8.3f %9.3f %9zu\n", hops[k], n_rv, n_rs,
               median(raw_r, ROUNDS) * 1e6, median(ours_r, ROUNDS) * 1e6,
               median(rawv_r, ROUNDS) * 1e6, ratio, median(ratio_v, ROUNDS), total);
    }
    printf("\n(raw us = the recorded verifies + the receipt signature; (verify) = the verifies\n"
           "alone; ratio = accept / raw; vs verify = accept / verifies alone. accept excludes\n"
           "the disk write and fsync of the wallet and session, ~0.3 ms per fsync here.)\n");

    printf("\nbytes on the wire per message (message bytes, frames, bytes with frame headers):\n");
    printf("%5s %18s %18s %18s %8s %7s\n", "hops", "REQUEST", "PAYMENT", "RECEIPT", "total",
           "frames");
    for (int k = 0; k < 3; k++) {
        char cell[3][32];
        for (int m = 0; m < 3; m++) {
            snprintf(cell[m], sizeof cell[m], "%zu/%zuf/%zu", wire[k].msg_len[m], wire[k].frames[m],
                     wire[k].bytes[m]);
        }
        printf("%5d %18s %18s %18s %8zu %7zu\n", hops[k], cell[0], cell[1], cell[2],
               wire[k].bytes[0] + wire[k].bytes[1] + wire[k].bytes[2],
               wire[k].frames[0] + wire[k].frames[1] + wire[k].frames[2]);
    }
    printf("(directions: REQUEST and RECEIPT payee -> payer, PAYMENT payer -> payee)\n");

    double tap10 = bench_tap(sc, hops);
    bench_wallet_file(&sc[0]);

    printf("\npayee accept / raw crypto, worst of 1/5/10 hops: %.3f   goal <= 1.25  %s\n", worst,
           worst <= 1.25 ? "MET" : "NOT MET");
    printf("10-hop payment on the wire: %zu bytes   goal <= 4096  %s\n", wire10,
           wire10 <= 4096 ? "MET" : "NOT MET");
    printf("10-hop tap at 106 kbit/s (modelled, short and extended APDUs, worst): %.0f ms   "
           "goal <= 500  %s\n",
           tap10, tap10 <= 500 ? "MET" : "NOT MET");
    for (int k = 0; k < 3; k++) {
        sodium_free(sc[k].payer_plain);
        sodium_free(sc[k].payee_plain);
    }
    return 0;
}
