/*
 * bench_core.c - `make bench-core`: the raw Ed25519 verify rate against our
 * chain-verification rate for 1, 5, 10 and 20 hops, in one run, and the
 * ratio per signature (goal >= 0.95: parsing, hashing and the rules must
 * cost under 5 %), plus bytes per hop including the receiver's certificate
 * (goal <= 256 B). Raw and ours alternate in short rounds so that noise from
 * a shared machine hits both alike. Time is this process's CPU time, so a
 * busy neighbour on the other core does not count against either side; each
 * round's ratio uses that round's raw rate, and the median round is shown.
 */
#include <stdio.h>
#include <time.h>

#include "world.h"

#define ROUNDS 7
#define ROUND_SEC 0.4

static struct world W;
static uint8_t coins[4][DC_COIN_MAX_BYTES];
static size_t coin_len[4];
static const int hops[4] = {1, 5, 10, 20};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Raw: verify 64 distinct 200-byte messages in a loop, like our records. */
static double raw_rate(void)
{
    static uint8_t msg[64][200], sig[64][64];
    static int ready;
    if (!ready) {
        for (int i = 0; i < 64; i++) {
            memset(msg[i], i, sizeof msg[i]);
            crypto_sign_detached(sig[i], NULL, msg[i], sizeof msg[i], W.alice.sk);
        }
        ready = 1;
    }
    size_t n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 64; i++) {
            if (crypto_sign_verify_detached(sig[i], msg[i], sizeof msg[i], W.alice.pk) != 0) {
                abort();
            }
        }
        n += 64;
    } while ((t = now_s() - t0) < ROUND_SEC);
    return (double)n / t;
}

/* Ours: decode + full verify of the coin, no cache. Returns signatures/s. */
static double chain_rate(int k, double *coins_per_s, size_t *sigs)
{
    static struct dc_coin c;
    struct dc_verify_result res;
    size_t n = 0;
    double t0 = now_s(), t;
    do {
        if (dc_coin_decode(&c, coins[k], coin_len[k]) != DC_OK) abort();
        if (dc_coin_verify(&res, &W.trust, &c, NULL, NULL) != DC_OK) abort();
        n++;
    } while ((t = now_s() - t0) < ROUND_SEC);
    *sigs = res.sigs_checked;
    *coins_per_s = (double)n / t;
    return (double)n * (double)res.sigs_checked / t;
}

static double median(const double *v)
{
    double t[ROUNDS];
    memcpy(t, v, sizeof t);
    for (int i = 1; i < ROUNDS; i++) {
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    }
    return t[ROUNDS / 2];
}

int main(void)
{
    world_init(&W);
    const struct party *p[3] = {&W.alice, &W.bob, &W.carol};
    size_t base_len = 0, len20 = 0;
    for (int k = 0; k < 4; k++) {
        size_t len = issue(&W, coins[k], DC_COIN_MAX_BYTES, 1000, &W.alice, (uint8_t)k, 32);
        base_len = len;
        for (int h = 0; h < hops[k]; h++) {
            uint8_t nonce[DC_NONCE_BYTES];
            nonce_of(nonce, (uint8_t)h);
            if (dc_coin_transfer(coins[k], DC_COIN_MAX_BYTES, &len, p[h % 3]->sk,
                                 p[(h + 1) % 3]->cert_bytes, nonce) != DC_OK) {
                abort();
            }
        }
        coin_len[k] = len;
        if (hops[k] == 20) len20 = len;
    }

    double raw_r[ROUNDS], sig_r[4][ROUNDS], coin_r[4][ROUNDS], ratio_r[4][ROUNDS];
    size_t sigs[4] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        raw_r[r] = raw_rate();
        for (int k = 0; k < 4; k++) {
            sig_r[k][r] = chain_rate(k, &coin_r[k][r], &sigs[k]);
            ratio_r[k][r] = sig_r[k][r] / raw_r[r];
        }
    }

    printf("bench-core: median of %d rounds of %.1f s CPU time, one core\n\n", ROUNDS, ROUND_SEC);
    printf("raw Ed25519 verify (libsodium %s): %.0f sig/s\n\n", sodium_version_string(),
           median(raw_r));
    printf("%5s %9s %6s %11s %12s %8s\n", "hops", "bytes", "sigs", "coins/s", "sig/s", "ratio");
    double worst = 1e9;
    for (int k = 0; k < 4; k++) {
        double ratio = median(ratio_r[k]);
        if (ratio < worst) worst = ratio;
        printf("%5d %9zu %6zu %11.0f %12.0f %8.3f\n", hops[k], coin_len[k], sigs[k],
               median(coin_r[k]), median(sig_r[k]), ratio);
    }
    double per_hop = (double)(len20 - base_len) / 20.0;
    printf("\nratio per signature (chain / raw), worst case: %.3f   goal >= 0.95  %s\n", worst,
           worst >= 0.95 ? "MET" : "NOT MET");
    printf("bytes per hop (transfer record incl. receiver certificate): %.0f   goal <= 256  %s"
           "  (stretch <= 200: %s)\n",
           per_hop, per_hop <= 256 ? "MET" : "NOT MET", per_hop <= 200 ? "met" : "not met");
    printf("genesis coin: %zu bytes; a split adds %u + 1 bytes for two parts\n", base_len,
           DC_SPLIT_BYTES(2));
    return 0;
}
