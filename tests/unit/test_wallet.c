/*
 * test_wallet.c - the wallet: state, canonical serialization, the encrypted
 * file (round trip, wrong passphrase, every single-byte corruption,
 * truncations, garbage, leftovers and kill -9 during saves), coin
 * selection, payments (split, change, idempotent re-preparation,
 * confirmation), receiving and the seen-set.
 *
 * Argon2id runs with crypto_pwhash_*_MIN limits so the corruption loops
 * stay fast; one test checks the default (interactive) cost is what a file
 * saved without limits records.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ducat/offline.h"
#include "ducat/proto.h"
#include "ducat/wallet.h"
#include "test.h"
#include "wallet_fixture.h"

#define NOW (T0 + DAY)
#define PASS "correct horse battery staple"
#define PASS_LEN (sizeof PASS - 1)

static struct world W;
static const struct dc_wallet_kdf FAST = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
static char dir[64];

/* ---- Helpers ---------------------------------------------------------- */

static void cleanup(void);

/* The world and the scratch directory, made before the first case runs
 * (whichever it is: no case may rely on another having run) and removed at
 * exit. */
__attribute__((constructor)) static void setup(void)
{
    static int done;
    if (done) return;
    world_init(&W);
    snprintf(dir, sizeof dir, "/tmp/ducat-wallet-XXXXXX");
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
    done = 1;
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(1 << 20);
    if (!buf) abort();
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void write_all(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A wallet for a fixture party (same seed tag), with trust and devcert. */
static struct dc_wallet *wallet_of(const struct party *p, uint8_t tag)
{
    struct dc_wallet *w;
    if (wallet_of_party(&w, &W, p, tag) != DC_OK) abort();
    return w;
}

/* Issues a coin to the party and hands it to the wallet. */
static void give(struct dc_wallet *w, const struct party *p, int64_t value, uint8_t tag,
                 uint8_t hop_limit)
{
    uint8_t buf[DC_COIN_MAX_BYTES];
    size_t len = issue(&W, buf, sizeof buf, value, p, tag, hop_limit);
    const uint8_t *c = buf;
    size_t added = 0;
    if (dc_wallet_accept_coins(w, &c, &len, 1, NOW, &added) != DC_OK || added != 1) abort();
}

static size_t plain_of(const struct dc_wallet *w, uint8_t **out)
{
    size_t n = 0;
    if (dc_wallet_encode_plain(w, NULL, 0, &n) != DC_ERR_BUFFER_TOO_SMALL) abort();
    *out = malloc(n);
    size_t m = 0;
    if (!*out || dc_wallet_encode_plain(w, *out, n, &m) != DC_OK || m != n) abort();
    return n;
}

static int same_wallet(const struct dc_wallet *a, const struct dc_wallet *b)
{
    uint8_t *pa, *pb;
    size_t na = plain_of(a, &pa), nb = plain_of(b, &pb);
    int same = na == nb && memcmp(pa, pb, na) == 0;
    sodium_memzero(pa, na);
    sodium_memzero(pb, nb);
    free(pa);
    free(pb);
    return same;
}

static int verify_to(const uint8_t *coin, size_t len, const struct party *to,
                     const uint8_t nonce[DC_NONCE_BYTES], int64_t *value)
{
    struct dc_coin c;
    struct dc_verify_result res;
    struct dc_verify_opts o = {to->pk, nonce, 0};
    if (dc_coin_decode(&c, coin, len) != DC_OK) return 0;
    if (dc_coin_verify(&res, &W.trust, &c, &o, NULL) != DC_OK) return 0;
    *value = res.value;
    return 1;
}

/* A wallet exercising every field of the state. */
static struct dc_wallet *full_wallet(void)
{
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1);
    struct dc_wallet_params prm;
    uint8_t revoked[3][DC_PUBKEY_BYTES];
    uint64_t rev_at = T0 + 5 * DAY;
    memset(revoked[0], 0x77, DC_PUBKEY_BYTES);
    memset(revoked[1], 0x11, DC_PUBKEY_BYTES);
    memset(revoked[2], 0x77, DC_PUBKEY_BYTES); /* duplicate: de-duplicated */
    wallet_params_of(&prm, &W);
    if (dc_wallet_set_trust(w, &prm, W.keycert_bytes, 1, &rev_at, (const uint8_t(*)[32])revoked,
                            3) != DC_OK) {
        abort();
    }
    if (dc_wallet_set_server(w, "https://ducat.example/api", 4242) != DC_OK) abort();
    give(w, &W.alice, 100, 1, 16);
    give(w, &W.alice, 50, 2, 16);
    give(w, &W.alice, 20, 3, 16);
    give(w, &W.alice, 10, 4, 16);
    give(w, &W.alice, 7, 5, 16);
    struct dc_wallet_plan plan;
    struct dc_wallet_outgoing out;
    uint8_t nonce[DC_NONCE_BYTES];
    /* a pending payment (20 + 10) and a confirmed one (50 split: 12 + change) */
    if (dc_wallet_select(&plan, w, 30, NOW, DAY) != DC_OK) abort();
    nonce_of(nonce, 0x51);
    if (dc_wallet_prepare_payment(w, &out, &plan, W.bob.cert_bytes, nonce, NOW) != DC_OK) abort();
    if (dc_wallet_select(&plan, w, 12, NOW, DAY) != DC_OK || !plan.has_split) abort();
    nonce_of(nonce, 0x52);
    if (dc_wallet_prepare_payment(w, &out, &plan, W.carol.cert_bytes, nonce, NOW) != DC_OK) abort();
    if (dc_wallet_confirm_payment(w, W.carol.pk, nonce) != DC_OK) abort();
    /* a pending deposit of the 7 */
    for (size_t i = 0; i < dc_wallet_coin_count(w); i++) {
        struct dc_wallet_coin_info ci;
        if (dc_wallet_coin_info(w, i, &ci) != DC_OK) abort();
        if (ci.value == 7 && ci.status == DC_WALLET_HELD) {
            const uint8_t *b;
            size_t n;
            if (dc_wallet_prepare_deposit(w, i, 4242, NOW, &b, &n) != DC_OK) abort();
            break;
        }
    }
    uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
    memset(id, 0x01, sizeof id);
    if (dc_wallet_request_put(w, "withdraw", id, (const uint8_t *)"{\"amount\":500}", 14, NOW) !=
        DC_OK) {
        abort();
    }
    memset(id, 0x02, sizeof id);
    if (dc_wallet_request_put(w, "deposit", id, NULL, 0, NOW + 1) != DC_OK) abort();
    return w;
}

/* ---- Life cycle and fields -------------------------------------------- */

static void test_create_and_identity(void)
{
    setup();
    uint8_t seed[DC_SEED_BYTES], pub[DC_PUBKEY_BYTES], cert[DC_DEVCERT_BYTES];
    struct dc_wallet *w;
    struct dc_wallet_params prm;
    seed_of(seed, 0xA1);
    ASSERT_OK(dc_wallet_create(&w, seed));
    dc_wallet_device_pub(w, pub);
    ASSERT_MEM(pub, W.alice.pk, DC_PUBKEY_BYTES);
    ASSERT_MEM(dc_wallet_device_sk(w), W.alice.sk, DC_SECKEY_BYTES);
    ASSERT_ERR(dc_wallet_devcert(w, cert), DC_ERR_WALLET_NOT_REGISTERED);
    ASSERT_ERR(dc_wallet_params(w, &prm), DC_ERR_WALLET_NOT_SYNCED);
    ASSERT_STR(dc_wallet_server_url(w), "");
    ASSERT_ERR(dc_wallet_set_devcert(w, W.bob.cert_bytes), DC_ERR_CERT_INVALID);
    ASSERT_OK(dc_wallet_set_devcert(w, W.alice.cert_bytes));
    ASSERT_OK(dc_wallet_devcert(w, cert));
    ASSERT_MEM(cert, W.alice.cert_bytes, DC_DEVCERT_BYTES);
    ASSERT_OK(dc_wallet_set_server(w, "http://127.0.0.1:8080", 7));
    ASSERT_STR(dc_wallet_server_url(w), "http://127.0.0.1:8080");
    ASSERT_EQ(dc_wallet_account(w), 7);
    ASSERT_ERR(dc_wallet_set_server(w, "http://bad url", 7), DC_ERR_INVALID_ARGUMENT);
    ASSERT_STR(dc_wallet_server_url(w), "http://127.0.0.1:8080");
    struct dc_trust t;
    ASSERT_ERR(dc_wallet_trust(w, &t, NOW), DC_ERR_WALLET_NOT_SYNCED);
    dc_wallet_free(w);
    dc_wallet_free(NULL);
}

static void test_trust_material(void)
{
    setup();
    uint8_t seed[DC_SEED_BYTES];
    struct dc_wallet *w;
    struct dc_wallet_params prm, got;
    seed_of(seed, 0xA1);
    ASSERT_OK(dc_wallet_create(&w, seed));
    wallet_params_of(&prm, &W);
    /* a keycert not signed by the pinned master is refused */
    struct dc_wallet_params other = prm;
    memset(other.master_pub, 0x42, DC_PUBKEY_BYTES);
    ASSERT(dc_wallet_set_trust(w, &other, W.keycert_bytes, 1, NULL, NULL, 0) != DC_OK);
    ASSERT_ERR(dc_wallet_params(w, &got), DC_ERR_WALLET_NOT_SYNCED);
    /* bad ranges */
    other = prm;
    other.base_unit = 0;
    ASSERT_ERR(dc_wallet_set_trust(w, &other, NULL, 0, NULL, NULL, 0), DC_ERR_INVALID_ARGUMENT);
    other = prm;
    other.max_split_parts = 9;
    ASSERT_ERR(dc_wallet_set_trust(w, &other, NULL, 0, NULL, NULL, 0), DC_ERR_INVALID_ARGUMENT);
    /* the same key twice */
    uint8_t two[2 * DC_KEYCERT_BYTES];
    memcpy(two, W.keycert_bytes, DC_KEYCERT_BYTES);
    memcpy(two + DC_KEYCERT_BYTES, W.keycert_bytes, DC_KEYCERT_BYTES);
    ASSERT_ERR(dc_wallet_set_trust(w, &prm, two, 2, NULL, NULL, 0), DC_ERR_INVALID_ARGUMENT);
    /* revocation list sorted and de-duplicated */
    uint8_t rev[4][DC_PUBKEY_BYTES];
    memset(rev[0], 0x90, 32);
    memset(rev[1], 0x10, 32);
    memcpy(rev[2], W.carol.pk, 32);
    memset(rev[3], 0x90, 32);
    ASSERT_OK(dc_wallet_set_trust(w, &prm, W.keycert_bytes, 1, NULL, (const uint8_t(*)[32])rev, 4));
    size_t n;
    const uint8_t(*list)[DC_PUBKEY_BYTES] = dc_wallet_revoked(w, &n);
    ASSERT_EQ(n, 3);
    ASSERT(memcmp(list[0], list[1], 32) < 0 && memcmp(list[1], list[2], 32) < 0);
    ASSERT_OK(dc_wallet_params(w, &got));
    ASSERT_MEM(&got, &prm, sizeof prm);
    ASSERT_EQ(dc_wallet_keycert_count(w), 1);
    uint8_t kc[DC_KEYCERT_BYTES];
    uint64_t at = 1;
    ASSERT_OK(dc_wallet_keycert_at(w, 0, kc, &at));
    ASSERT_MEM(kc, W.keycert_bytes, DC_KEYCERT_BYTES);
    ASSERT_EQ(at, 0);
    /* the trust context verifies coins, and carries the revocation list */
    struct dc_trust t;
    ASSERT_OK(dc_wallet_trust(w, &t, NOW));
    ASSERT_EQ(t.n_revoked_devices, 3);
    ASSERT_EQ(t.currency, CNY);
    uint8_t coin[DC_COIN_MAX_BYTES];
    size_t len = issue(&W, coin, sizeof coin, 40, &W.carol, 9, 8);
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, 3);
    ASSERT_OK(dc_coin_transfer(coin, sizeof coin, &len, W.carol.sk, W.alice.cert_bytes, nonce));
    struct dc_coin c;
    struct dc_verify_result res;
    ASSERT_OK(dc_coin_decode(&c, coin, len));
    ASSERT_ERR(dc_coin_verify(&res, &t, &c, NULL, NULL), DC_ERR_CERT_REVOKED); /* carol revoked */
    ASSERT_OK(dc_wallet_set_trust(w, &prm, W.keycert_bytes, 1, NULL, NULL, 0));
    ASSERT_OK(dc_wallet_trust(w, &t, NOW));
    ASSERT_OK(dc_coin_verify(&res, &t, &c, NULL, NULL));
    dc_wallet_free(w);
}

static void test_requests(void)
{
    setup();
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1);
    uint8_t id[16], got[16];
    const uint8_t *body;
    size_t len;
    uint64_t at;
    const char *kind;
    memset(id, 0x33, 16);
    ASSERT_ERR(dc_wallet_request_get(w, "withdraw", got, &body, &len, &at), DC_ERR_NOT_FOUND);
    ASSERT_OK(dc_wallet_request_put(w, "withdraw", id, (const uint8_t *)"abc", 3, 77));
    ASSERT_ERR(dc_wallet_request_put(w, "withdraw", id, (const uint8_t *)"xyz", 3, 78),
               DC_ERR_IDEMPOTENCY_CONFLICT);
    ASSERT_OK(dc_wallet_request_put(w, "deposit", id, NULL, 0, 79));
    ASSERT_OK(dc_wallet_request_put(w, "sync", id, (const uint8_t *)"s", 1, 80));
    ASSERT_ERR(dc_wallet_request_put(w, "", id, NULL, 0, 1), DC_ERR_INVALID_ARGUMENT);
    ASSERT_ERR(dc_wallet_request_put(w, "two words", id, NULL, 0, 1), DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(dc_wallet_request_count(w), 3);
    ASSERT_OK(dc_wallet_request_at(w, 0, &kind, got, &body, &len, &at));
    ASSERT_STR(kind, "deposit");
    ASSERT_OK(dc_wallet_request_at(w, 2, &kind, got, &body, &len, &at));
    ASSERT_STR(kind, "withdraw");
    ASSERT_OK(dc_wallet_request_get(w, "withdraw", got, &body, &len, &at));
    ASSERT_MEM(got, id, 16);
    ASSERT_EQ(len, 3);
    ASSERT_MEM(body, "abc", 3);
    ASSERT_EQ(at, 77);
    ASSERT_OK(dc_wallet_request_done(w, "withdraw"));
    ASSERT_ERR(dc_wallet_request_done(w, "withdraw"), DC_ERR_NOT_FOUND);
    ASSERT_EQ(dc_wallet_request_count(w), 2);
    uint8_t big[DC_WALLET_REQUEST_BODY_MAX + 1];
    memset(big, 'x', sizeof big);
    ASSERT_ERR(dc_wallet_request_put(w, "big", id, big, sizeof big, 1), DC_ERR_LIMIT_EXCEEDED);
    char name[16];
    for (int i = (int)dc_wallet_request_count(w); i < DC_WALLET_REQUESTS_MAX; i++) {
        snprintf(name, sizeof name, "k%03d", i);
        ASSERT_OK(dc_wallet_request_put(w, name, id, NULL, 0, 1));
    }
    ASSERT_ERR(dc_wallet_request_put(w, "one-more", id, NULL, 0, 1), DC_ERR_LIMIT_EXCEEDED);
    dc_wallet_free(w);
}

static void test_history_ring(void)
{
    setup();
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1);
    struct dc_wallet_history h = {0, 0, DC_WALLET_IN, {0}}, got;
    h.amount = 0;
    ASSERT_ERR(dc_wallet_history_add(w, &h), DC_ERR_INVALID_ARGUMENT);
    h.amount = 5;
    h.direction = 3;
    ASSERT_ERR(dc_wallet_history_add(w, &h), DC_ERR_INVALID_ARGUMENT);
    h.direction = DC_WALLET_OUT;
    for (uint64_t i = 0; i < DC_WALLET_HISTORY_MAX + 44; i++) {
        h.time = T0 + i;
        h.amount = (int64_t)i + 1;
        ASSERT_OK(dc_wallet_history_add(w, &h));
    }
    ASSERT_EQ(dc_wallet_history_count(w), DC_WALLET_HISTORY_MAX);
    ASSERT_OK(dc_wallet_history_at(w, 0, &got));
    ASSERT_EQ(got.amount, 45); /* the 44 oldest were dropped */
    ASSERT_OK(dc_wallet_history_at(w, DC_WALLET_HISTORY_MAX - 1, &got));
    ASSERT_EQ(got.amount, DC_WALLET_HISTORY_MAX + 44);
    ASSERT_ERR(dc_wallet_history_at(w, DC_WALLET_HISTORY_MAX, &got), DC_ERR_NOT_FOUND);
    /* the ring survives the file */
    uint8_t *p;
    size_t n = plain_of(w, &p);
    struct dc_wallet *back;
    ASSERT_OK(dc_wallet_decode_plain(&back, p, n));
    ASSERT(same_wallet(w, back));
    free(p);
    dc_wallet_free(back);
    dc_wallet_free(w);
}

/* ---- Serialization and the file --------------------------------------- */

static void test_plain_round_trip_all_fields(void)
{
    setup();
    struct dc_wallet *w = full_wallet();
    uint8_t *p, *q;
    size_t n = plain_of(w, &p);
    struct dc_wallet *back;
    ASSERT_OK(dc_wallet_decode_plain(&back, p, n));
    size_t m = plain_of(back, &q);
    ASSERT_EQ(m, n);
    ASSERT_MEM(p, q, n); /* one encoding per wallet */
    /* field by field */
    ASSERT_MEM(dc_wallet_device_sk(back), W.alice.sk, DC_SECKEY_BYTES);
    ASSERT_STR(dc_wallet_server_url(back), "https://ducat.example/api");
    ASSERT_EQ(dc_wallet_account(back), 4242);
    uint8_t cert[DC_DEVCERT_BYTES];
    ASSERT_OK(dc_wallet_devcert(back, cert));
    ASSERT_MEM(cert, W.alice.cert_bytes, DC_DEVCERT_BYTES);
    struct dc_wallet_params a, b;
    ASSERT_OK(dc_wallet_params(w, &a));
    ASSERT_OK(dc_wallet_params(back, &b));
    ASSERT_MEM(&a, &b, sizeof a);
    uint64_t at;
    uint8_t kc[DC_KEYCERT_BYTES];
    ASSERT_OK(dc_wallet_keycert_at(back, 0, kc, &at));
    ASSERT_EQ(at, T0 + 5 * DAY);
    size_t nr;
    (void)dc_wallet_revoked(back, &nr);
    ASSERT_EQ(nr, 2);
    ASSERT_EQ(dc_wallet_coin_count(back), dc_wallet_coin_count(w));
    int statuses[4] = {0};
    for (size_t i = 0; i < dc_wallet_coin_count(w); i++) {
        struct dc_wallet_coin_info x, y;
        const uint8_t *bx, *by;
        size_t lx, ly;
        ASSERT_OK(dc_wallet_coin_info(w, i, &x));
        ASSERT_OK(dc_wallet_coin_info(back, i, &y));
        ASSERT_MEM(&x, &y, sizeof x);
        ASSERT_OK(dc_wallet_coin_bytes(w, i, &bx, &lx));
        ASSERT_OK(dc_wallet_coin_bytes(back, i, &by, &ly));
        ASSERT_EQ(lx, ly);
        ASSERT_MEM(bx, by, lx);
        statuses[x.status]++;
    }
    ASSERT(statuses[DC_WALLET_HELD] >= 2);
    ASSERT(statuses[DC_WALLET_PENDING_OUT] >= 2); /* a payment and a deposit */
    ASSERT(statuses[DC_WALLET_SPENT] >= 1);
    ASSERT(dc_wallet_seen_count(back) > 0);
    ASSERT_EQ(dc_wallet_seen_count(back), dc_wallet_seen_count(w));
    ASSERT_EQ(dc_wallet_request_count(back), 2);
    uint8_t id[16];
    const uint8_t *body;
    size_t len;
    ASSERT_OK(dc_wallet_request_get(back, "withdraw", id, &body, &len, &at));
    ASSERT_EQ(len, 14);
    ASSERT_MEM(body, "{\"amount\":500}", 14);
    ASSERT_EQ(dc_wallet_history_count(back), 2);
    struct dc_wallet_history h;
    ASSERT_OK(dc_wallet_history_at(back, 0, &h));
    ASSERT_EQ(h.amount, 30);
    ASSERT_EQ(h.direction, DC_WALLET_OUT);
    ASSERT_MEM(h.alias, W.bob.cert.alias, DC_ALIAS_BYTES);
    /* the pending payment is found again, byte for byte */
    struct dc_wallet_outgoing o1, o2;
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, 0x51);
    ASSERT_OK(dc_wallet_find_payment(w, &o1, W.bob.pk, nonce));
    ASSERT_OK(dc_wallet_find_payment(back, &o2, W.bob.pk, nonce));
    ASSERT_EQ(o1.n, o2.n);
    ASSERT_EQ(o2.amount, 30);
    ASSERT_EQ(o1.coin_len[0], o2.coin_len[0]);
    ASSERT_MEM(o1.coin[0], o2.coin[0], o1.coin_len[0]);
    sodium_memzero(p, n);
    sodium_memzero(q, m);
    free(p);
    free(q);
    dc_wallet_free(back);
    dc_wallet_free(w);
}

static void test_plain_decoder_strict(void)
{
    setup();
    struct dc_wallet *w = full_wallet(), *back;
    uint8_t *p;
    size_t n = plain_of(w, &p);
    /* every proper prefix is refused */
    for (size_t cut = 0; cut < n; cut++) {
        back = (struct dc_wallet *)1;
        enum dc_err e = dc_wallet_decode_plain(&back, p, cut);
        if (e == DC_OK) FAIL_AT("prefix of %zu bytes accepted", cut);
        ASSERT(back == NULL);
    }
    /* a trailing byte */
    uint8_t *q = malloc(n + 1);
    ASSERT(q);
    memcpy(q, p, n);
    q[n] = 0;
    ASSERT_ERR(dc_wallet_decode_plain(&back, q, n + 1), DC_ERR_DECODE_TRAILING);
    /* version */
    q[0] = 2;
    ASSERT_ERR(dc_wallet_decode_plain(&back, q, n), DC_ERR_DECODE_VERSION);
    q[0] = p[0];
    /* the public key must be the seed's */
    q[1 + 32] ^= 1;
    ASSERT_ERR(dc_wallet_decode_plain(&back, q, n), DC_ERR_DECODE_VALUE);
    q[1 + 32] ^= 1;
    /* a flag byte that is neither 0 nor 1 (has_devcert follows the url) */
    size_t url_len = strlen("https://ducat.example/api");
    size_t flag = 1 + 32 + 32 + 8 + 2 + url_len;
    ASSERT_EQ(q[flag], 1);
    q[flag] = 2;
    ASSERT_ERR(dc_wallet_decode_plain(&back, q, n), DC_ERR_DECODE_VALUE);
    q[flag] = 1;
    /* every single-byte flip decodes to an error or to a wallet that re-encodes
     * to exactly the flipped bytes (canonical: no two encodings of one wallet) */
    for (size_t i = 0; i < n; i++) {
        q[i] ^= 0x40;
        if (dc_wallet_decode_plain(&back, q, n) == DC_OK) {
            uint8_t *r;
            size_t m = plain_of(back, &r);
            if (m != n || memcmp(r, q, n) != 0) FAIL_AT("byte %zu: not canonical", i);
            free(r);
            dc_wallet_free(back);
        }
        q[i] ^= 0x40;
    }
    ASSERT_OK(dc_wallet_decode_plain(&back, q, n));
    dc_wallet_free(back);
    ASSERT_ERR(dc_wallet_decode_plain(&back, NULL, 0), DC_ERR_DECODE_TRUNCATED);
    sodium_memzero(p, n);
    sodium_memzero(q, n);
    free(p);
    free(q);
    dc_wallet_free(w);
}

static void test_file_round_trip(void)
{
    setup();
    char path[128];
    path_of(path, sizeof path, "full.wallet");
    struct dc_wallet *w = full_wallet(), *back;
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0));
    ASSERT(exists(path));
    struct stat st;
    ASSERT(stat(path, &st) == 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    back = (struct dc_wallet *)1;
    ASSERT_OK(dc_wallet_load(&back, path, PASS, PASS_LEN, 0));
    ASSERT(same_wallet(w, back));
    dc_wallet_free(back);
    /* the header records what was used */
    size_t len;
    uint8_t *f = read_all(path, &len);
    ASSERT(f);
    ASSERT_EQ(len, dc_wallet_sealed_size(w));
    ASSERT_MEM(f, "DUCATWLT", 8);
    ASSERT_EQ(f[8], DC_WALLET_FILE_VERSION);
    ASSERT_EQ(f[10], crypto_pwhash_OPSLIMIT_MIN);
    /* the seed is nowhere in the file */
    for (size_t i = 0; i + 32 <= len; i++) ASSERT(memcmp(f + i, W.alice.sk, 32) != 0);
    /* two saves of one wallet differ (fresh salt and nonce) */
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0));
    size_t len2;
    uint8_t *f2 = read_all(path, &len2);
    ASSERT(f2 && len2 == len && memcmp(f, f2, len) != 0);
    free(f);
    free(f2);
    /* in-memory seal/open, buffer too small reports the size */
    size_t need = 0;
    uint8_t small[8];
    ASSERT_ERR(dc_wallet_seal(w, small, sizeof small, &need, PASS, PASS_LEN, &FAST, 0),
               DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(need, dc_wallet_sealed_size(w));
    /* out-of-range costs are refused */
    struct dc_wallet_kdf bad = {crypto_pwhash_OPSLIMIT_MIN, 1024};
    ASSERT_ERR(dc_wallet_save(w, path, PASS, PASS_LEN, &bad, 0), DC_ERR_INVALID_ARGUMENT);
    dc_wallet_free(w);
}

static void test_default_cost_is_interactive(void)
{
    setup();
    uint8_t seed[DC_SEED_BYTES];
    struct dc_wallet *w, *back;
    seed_of(seed, 0x5E);
    ASSERT_OK(dc_wallet_create(&w, seed));
    size_t n = dc_wallet_sealed_size(w), got;
    uint8_t *buf = malloc(n);
    ASSERT(buf);
    ASSERT_OK(dc_wallet_seal(w, buf, n, &got, "pw", 2, NULL, 0));
    ASSERT_EQ(got, n);
    ASSERT_EQ(dc_load64_le(buf + 10), crypto_pwhash_OPSLIMIT_INTERACTIVE);
    ASSERT_EQ(dc_load64_le(buf + 18), crypto_pwhash_MEMLIMIT_INTERACTIVE);
    ASSERT_OK(dc_wallet_open(&back, buf, n, "pw", 2, 0));
    ASSERT(same_wallet(w, back));
    dc_wallet_free(back);
    free(buf);
    dc_wallet_free(w);
}

static void test_wrong_passphrase(void)
{
    setup();
    char path[128];
    path_of(path, sizeof path, "pw.wallet");
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1), *back;
    give(w, &W.alice, 25, 40, 8);
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0));
    size_t len, len2;
    uint8_t *before = read_all(path, &len);
    back = (struct dc_wallet *)1;
    ASSERT_ERR(dc_wallet_load(&back, path, "wrong", 5, 0), DC_ERR_WALLET_PASSPHRASE);
    ASSERT(back == NULL);
    ASSERT_ERR(dc_wallet_load(&back, path, PASS, PASS_LEN - 1, 0), DC_ERR_WALLET_PASSPHRASE);
    ASSERT_ERR(dc_wallet_load(&back, path, "", 0, 0), DC_ERR_WALLET_PASSPHRASE);
    uint8_t *after = read_all(path, &len2);
    ASSERT(before && after && len == len2 && memcmp(before, after, len) == 0);
    ASSERT_OK(dc_wallet_load(&back, path, PASS, PASS_LEN, 0));
    ASSERT(same_wallet(w, back));
    dc_wallet_free(back);
    ASSERT_ERR(dc_wallet_load(&back, "/nonexistent/dir/x.wallet", PASS, PASS_LEN, 0), DC_ERR_IO);
    ASSERT(back == NULL);
    free(before);
    free(after);
    dc_wallet_free(w);
}

/* Which error a change of byte i gives: a damaged file is never reported
 * as a wrong passphrase (header_sum guards the salt and costs). */
static int allowed(size_t i, enum dc_err e)
{
    if (i < 8) return e == DC_ERR_WALLET_NOT_WALLET;
    if (i == 8) return e == DC_ERR_WALLET_VERSION;
    return e == DC_ERR_WALLET_CORRUPT; /* header fields, key check, sum, body, tag */
}

static void test_every_byte_corruption(void)
{
    setup();
    char path[128];
    path_of(path, sizeof path, "small.wallet");
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1), *back;
    give(w, &W.alice, 7, 41, 8);
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0));
    size_t len, len2;
    uint8_t *orig = read_all(path, &len);
    ASSERT(orig);
    uint8_t *bad = malloc(len);
    ASSERT(bad);
    size_t refused = 0;
    for (size_t i = 0; i < len; i++) {
        static const uint8_t flips[] = {0x01, 0x80};
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(bad, orig, len);
            bad[i] ^= flips[f];
            write_all(path, bad, len);
            back = (struct dc_wallet *)1;
            enum dc_err e = dc_wallet_load(&back, path, PASS, PASS_LEN, 0);
            if (!allowed(i, e)) FAIL_AT("byte %zu ^ %02x: %s", i, flips[f], dc_err_name(e));
            ASSERT(back == NULL);
            uint8_t *now = read_all(path, &len2);
            ASSERT(now && len2 == len && memcmp(now, bad, len) == 0); /* untouched */
            free(now);
            refused++;
        }
    }
    ASSERT_EQ(refused, 2 * len);
    write_all(path, orig, len);
    ASSERT_OK(dc_wallet_load(&back, path, PASS, PASS_LEN, 0));
    ASSERT(same_wallet(w, back));
    dc_wallet_free(back);
    free(orig);
    free(bad);
    dc_wallet_free(w);
}

static void test_truncation_and_garbage(void)
{
    setup();
    char path[128];
    path_of(path, sizeof path, "trunc.wallet");
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1), *back;
    give(w, &W.alice, 9, 42, 8);
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0));
    size_t len, len2;
    uint8_t *orig = read_all(path, &len);
    ASSERT(orig);
    size_t cuts[] = {0,  1,   7,   8,   9,       25,       73,       74,
                     89, 105, 106, 107, len / 2, len - 17, len - 16, len - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_all(path, orig, cuts[k]);
        back = (struct dc_wallet *)1;
        enum dc_err e = dc_wallet_load(&back, path, PASS, PASS_LEN, 0);
        if (e != DC_ERR_WALLET_TRUNCATED) FAIL_AT("cut at %zu: %s", cuts[k], dc_err_name(e));
        ASSERT(back == NULL);
        uint8_t *now = read_all(path, &len2);
        ASSERT(now && len2 == cuts[k] && memcmp(now, orig, len2) == 0);
        free(now);
    }
    /* one byte too many */
    uint8_t *longer = malloc(len + 1);
    ASSERT(longer);
    memcpy(longer, orig, len);
    longer[len] = 0;
    write_all(path, longer, len + 1);
    ASSERT_ERR(dc_wallet_load(&back, path, PASS, PASS_LEN, 0), DC_ERR_WALLET_CORRUPT);
    /* garbage, and garbage behind a good magic */
    uint8_t junk[600];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 131 + 7);
    write_all(path, junk, sizeof junk);
    ASSERT_ERR(dc_wallet_load(&back, path, PASS, PASS_LEN, 0), DC_ERR_WALLET_NOT_WALLET);
    memcpy(junk, "DUCATWLT", 8);
    write_all(path, junk, sizeof junk);
    ASSERT(dc_wallet_load(&back, path, PASS, PASS_LEN, 0) != DC_OK);
    memcpy(junk, orig, DC_WALLET_HEADER_BYTES); /* a good header, a wrong body */
    dc_store64_le(junk + 66, sizeof junk - DC_WALLET_HEADER_BYTES);
    crypto_generichash(junk + 90, 16, junk, 90, NULL, 0); /* header_sum made to match */
    write_all(path, junk, sizeof junk);
    ASSERT_ERR(dc_wallet_load(&back, path, PASS, PASS_LEN, 0), DC_ERR_WALLET_CORRUPT);
    size_t jl;
    uint8_t *now = read_all(path, &jl);
    ASSERT(now && jl == sizeof junk && memcmp(now, junk, jl) == 0);
    free(now);
    /* a directory is not a wallet file */
    ASSERT_ERR(dc_wallet_load(&back, dir, PASS, PASS_LEN, 0), DC_ERR_IO);
    ASSERT(back == NULL);
    free(longer);
    free(orig);
    dc_wallet_free(w);
}

static void test_atomic_write_leftover_tmp(void)
{
    setup();
    char path[128], tmp[160];
    path_of(path, sizeof path, "atomic.wallet");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1), *back;
    ASSERT_OK(dc_wallet_set_server(w, "http://old", 1));
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0));
    ASSERT(!exists(tmp));
    /* a crash left a half-written .tmp: load ignores it */
    write_all(tmp, (const uint8_t *)"DUCATWLT half", 13);
    ASSERT_OK(dc_wallet_load(&back, path, PASS, PASS_LEN, 0));
    ASSERT_STR(dc_wallet_server_url(back), "http://old");
    dc_wallet_free(back);
    /* the next save replaces it */
    ASSERT_OK(dc_wallet_set_server(w, "http://new", 2));
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0));
    ASSERT(!exists(tmp));
    ASSERT_OK(dc_wallet_load(&back, path, PASS, PASS_LEN, 0));
    ASSERT_STR(dc_wallet_server_url(back), "http://new");
    dc_wallet_free(back);
    /* a save that cannot write leaves the old file as it was */
    size_t len, len2;
    uint8_t *before = read_all(path, &len);
    ASSERT(mkdir(tmp, 0700) == 0); /* the scratch name is taken by a directory */
    ASSERT_ERR(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0), DC_ERR_IO);
    ASSERT(rmdir(tmp) == 0);
    uint8_t *after = read_all(path, &len2);
    ASSERT(before && after && len == len2 && memcmp(before, after, len) == 0);
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/missing/x.wallet", dir);
    ASSERT_ERR(dc_wallet_save(w, nodir, PASS, PASS_LEN, &FAST, 0), DC_ERR_IO);
    free(before);
    free(after);
    dc_wallet_free(w);
}

/* kill -9 a process that saves two versions in turn, at random moments:
 * the file always opens as one of the two. */
static void test_kill_during_save(void)
{
    setup();
    char path[128];
    path_of(path, sizeof path, "crash.wallet");
    struct dc_wallet *a = wallet_of(&W.alice, 0xA1), *b = wallet_of(&W.alice, 0xA1);
    ASSERT_OK(dc_wallet_set_server(a, "http://version-a", 1));
    ASSERT_OK(dc_wallet_set_server(b, "http://version-b", 2));
    give(b, &W.alice, 64, 43, 8);
    ASSERT_OK(dc_wallet_save(a, path, PASS, PASS_LEN, &FAST, 0));
    int seen_b = 0;
    for (int round = 0; round < 12; round++) {
        fflush(stdout);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            for (unsigned i = 0;; i++) {
                if (dc_wallet_save(i % 2 ? a : b, path, PASS, PASS_LEN, &FAST, 0) != DC_OK) {
                    _exit(3);
                }
            }
        }
        struct timespec ts = {0, (long)(1 + round * 7 % 23) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        ASSERT(waitpid(pid, &status, 0) == pid);
        ASSERT(WIFSIGNALED(status));
        struct dc_wallet *back;
        ASSERT_OK(dc_wallet_load(&back, path, PASS, PASS_LEN, 0));
        int is_a = same_wallet(back, a), is_b = same_wallet(back, b);
        ASSERT(is_a || is_b);
        seen_b |= is_b;
        dc_wallet_free(back);
    }
    (void)seen_b; /* usually 1; timing decides */
    dc_wallet_free(a);
    dc_wallet_free(b);
}

static void test_commit_with_kept_key(void)
{
    setup();
    char path[128];
    path_of(path, sizeof path, "commit.wallet");
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1), *back;
    ASSERT_ERR(dc_wallet_commit(w, path), DC_ERR_INVALID_ARGUMENT);
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, DC_WALLET_KEEP_KEY));
    give(w, &W.alice, 11, 44, 8);
    ASSERT_OK(dc_wallet_commit(w, path));
    ASSERT_OK(dc_wallet_load(&back, path, PASS, PASS_LEN, DC_WALLET_KEEP_KEY));
    ASSERT(same_wallet(w, back));
    /* the loaded wallet commits too, and the passphrase still opens it */
    give(back, &W.alice, 12, 45, 8);
    ASSERT_OK(dc_wallet_commit(back, path));
    struct dc_wallet *again;
    ASSERT_OK(dc_wallet_load(&again, path, PASS, PASS_LEN, 0));
    ASSERT(same_wallet(back, again));
    ASSERT_ERR(dc_wallet_commit(again, path), DC_ERR_INVALID_ARGUMENT);
    dc_wallet_forget_key(back);
    ASSERT_ERR(dc_wallet_commit(back, path), DC_ERR_INVALID_ARGUMENT);
    dc_wallet_free(again);
    dc_wallet_free(back);
    dc_wallet_free(w);
}

/* ---- Coin selection (pure) -------------------------------------------- */

#define FRESH (T0 + 60 * DAY)

static struct dc_wallet_coin_info C(int64_t value, uint8_t hops, uint8_t limit, uint64_t expires) {
    struct dc_wallet_coin_info c;
    memset(&c, 0, sizeof c);
    c.value = value;
    c.currency = CNY;
    c.status = DC_WALLET_HELD;
    c.is_ours = 1;
    c.hops_used = hops;
    c.hop_limit = limit;
    c.issued_at = T0;
    c.expires_at = expires;
    c.owner_expires_at = FRESH;
    return c;
}

static const struct dc_wallet_select_opts OPTS = {NOW, DAY, 1, CNY};

static void test_select_exact_coin(void)
{
    struct dc_wallet_coin_info c[] = {C(10, 0, 8, FRESH), C(5, 3, 8, FRESH), C(2, 0, 8, FRESH),
                                      C(5, 1, 8, FRESH), C(5, 1, 8, FRESH + DAY)};
    struct dc_wallet_plan p;
    ASSERT_OK(dc_wallet_select_coins(&p, c, 5, 5, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_EXACT_ONE);
    ASSERT_EQ(p.n, 1);
    ASSERT_EQ(p.coin[0], 4); /* fewest hops, then the later expiry */
    ASSERT_EQ(p.has_split, 0);
    ASSERT_EQ(p.records, 1);
}

static void test_select_exact_combination(void)
{
    struct dc_wallet_plan p;
    struct dc_wallet_coin_info a[] = {C(5, 0, 8, FRESH), C(2, 0, 8, FRESH), C(1, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, a, 3, 3, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_EXACT_MANY);
    ASSERT_EQ(p.n, 2);
    ASSERT_EQ(p.coin[0], 1);
    ASSERT_EQ(p.coin[1], 2);
    ASSERT_EQ(p.records, 2);
    /* no coin reaches alone: the fewest coins that sum exactly */
    struct dc_wallet_coin_info b[] = {C(4, 0, 8, FRESH), C(4, 0, 8, FRESH), C(3, 0, 8, FRESH),
                                      C(3, 0, 8, FRESH), C(3, 0, 8, FRESH), C(1, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, b, 6, 9, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_EXACT_MANY);
    ASSERT_EQ(p.n, 3); /* 4+4+1 or 3+3+3, not 4+3+1+1 */
    int64_t sum = 0;
    for (size_t i = 0; i < p.n; i++) sum += b[p.coin[i]].value;
    ASSERT_EQ(sum, 9);
    /* of equal values the coins with shorter chains are chosen */
    struct dc_wallet_coin_info d[] = {C(3, 4, 8, FRESH), C(3, 0, 8, FRESH), C(3, 5, 8, FRESH),
                                      C(3, 1, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, d, 4, 6, &OPTS));
    ASSERT_EQ(p.n, 2);
    ASSERT((p.coin[0] == 1 && p.coin[1] == 3) || (p.coin[0] == 3 && p.coin[1] == 1));
    /* the whole purse, exactly */
    struct dc_wallet_coin_info e[] = {C(5, 0, 8, FRESH), C(5, 0, 8, FRESH), C(5, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, e, 3, 15, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_EXACT_MANY);
    ASSERT_EQ(p.n, 3);
}

static void test_select_split(void)
{
    struct dc_wallet_plan p;
    struct dc_wallet_coin_info a[] = {C(50, 0, 8, FRESH), C(20, 3, 8, FRESH), C(20, 0, 8, FRESH),
                                      C(5, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, a, 4, 15, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_SPLIT_ONE);
    ASSERT_EQ(p.n, 1);
    ASSERT_EQ(p.coin[0], 2); /* the smallest coin above, with fewer hops */
    ASSERT_EQ(p.has_split, 1);
    ASSERT_EQ(p.split_values[0], 15);
    ASSERT_EQ(p.split_values[1], 5);
    ASSERT_EQ(p.records, 2);
    /* an exact combination of 3 coins adds more records than one split */
    struct dc_wallet_coin_info b[] = {C(10, 0, 8, FRESH), C(5, 0, 8, FRESH), C(2, 0, 8, FRESH),
                                      C(1, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, b, 4, 8, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_SPLIT_ONE);
    ASSERT_EQ(p.coin[0], 0);
    ASSERT_EQ(p.split_values[0], 8);
    ASSERT_EQ(p.split_values[1], 2);
    /* base unit: parts stay multiples of it */
    struct dc_wallet_select_opts o = OPTS;
    o.base_unit = 10;
    struct dc_wallet_coin_info c[] = {C(100, 0, 8, FRESH), C(15, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, c, 2, 30, &o));
    ASSERT_EQ(p.coin[0], 0); /* 15 is not a multiple of 10: never offered */
    ASSERT_EQ(p.split_values[0] % 10, 0);
    ASSERT_EQ(p.split_values[1], 70);
    ASSERT_ERR(dc_wallet_select_coins(&p, c, 2, 35, &o), DC_ERR_DENOM_UNREACHABLE);
    /* int64 extremes */
    struct dc_wallet_coin_info big[] = {C(INT64_MAX, 0, 8, FRESH), C(INT64_MAX, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, big, 2, INT64_MAX - 1, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_SPLIT_ONE);
    ASSERT_EQ(p.split_values[1], 1);
    ASSERT_OK(dc_wallet_select_coins(&p, big, 2, INT64_MAX, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_EXACT_ONE);
}

static void test_select_combination_and_split(void)
{
    struct dc_wallet_plan p;
    struct dc_wallet_coin_info a[] = {C(5, 0, 8, FRESH), C(3, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, a, 2, 7, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_MANY_SPLIT);
    ASSERT_EQ(p.n, 2);
    ASSERT_EQ(p.coin[0], 0);
    ASSERT_EQ(p.coin[1], 1);
    ASSERT_EQ(p.has_split, 1);
    ASSERT_EQ(p.split_values[0], 2);
    ASSERT_EQ(p.split_values[1], 1);
    ASSERT_EQ(p.records, 3);
    /* 8 + 4 would be exact (2 records < 3): with no 8, the split coin is the smallest that covers
     * what the whole coins leave */
    struct dc_wallet_coin_info b[] = {C(10, 0, 8, FRESH), C(9, 0, 8, FRESH), C(4, 0, 8, FRESH),
                                      C(1, 0, 8, FRESH)};
    ASSERT_OK(dc_wallet_select_coins(&p, b, 4, 12, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_MANY_SPLIT);
    ASSERT_EQ(p.n, 2);
    ASSERT_EQ(p.coin[0], 0);
    ASSERT_EQ(p.coin[1], 2); /* 10 whole + 4 split into 2 + 2 */
    ASSERT_EQ(p.split_values[0], 2);
    ASSERT_EQ(p.split_values[1], 2);
}

static void test_select_refusals(void)
{
    struct dc_wallet_plan p;
    struct dc_wallet_coin_info a[] = {C(5, 0, 8, FRESH), C(3, 0, 8, FRESH)};
    ASSERT_ERR(dc_wallet_select_coins(&p, a, 2, 9, &OPTS), DC_ERR_INSUFFICIENT_FUNDS);
    ASSERT_EQ(p.n, 0);
    ASSERT_ERR(dc_wallet_select_coins(&p, a, 2, 0, &OPTS), DC_ERR_AMOUNT_ZERO);
    ASSERT_ERR(dc_wallet_select_coins(&p, a, 2, -5, &OPTS), DC_ERR_AMOUNT_ZERO);
    ASSERT_ERR(dc_wallet_select_coins(&p, NULL, 0, 1, &OPTS), DC_ERR_INSUFFICIENT_FUNDS);
    struct dc_wallet_select_opts o = OPTS;
    o.base_unit = 0;
    ASSERT_ERR(dc_wallet_select_coins(&p, a, 2, 1, &o), DC_ERR_INVALID_ARGUMENT);
    /* more than one payment's worth of coins */
    struct dc_wallet_coin_info ones[20];
    for (size_t i = 0; i < 20; i++) ones[i] = C(1, 0, 8, FRESH);
    ASSERT_ERR(dc_wallet_select_coins(&p, ones, 20, 17, &OPTS), DC_ERR_LIMIT_EXCEEDED);
    ASSERT_OK(dc_wallet_select_coins(&p, ones, 20, 16, &OPTS));
    ASSERT_EQ(p.n, 16);
    /* coins not HELD, not ours, of another currency are never offered */
    struct dc_wallet_coin_info b[] = {C(5, 0, 8, FRESH), C(5, 0, 8, FRESH), C(5, 0, 8, FRESH)};
    b[0].status = DC_WALLET_PENDING_OUT;
    b[1].is_ours = 0;
    b[2].currency = 978;
    ASSERT_ERR(dc_wallet_select_coins(&p, b, 3, 5, &OPTS), DC_ERR_INSUFFICIENT_FUNDS);
}

static void test_select_skips_refresh(void)
{
    struct dc_wallet_plan p;
    /* expiring within the margin: deposit instead */
    struct dc_wallet_coin_info a[] = {C(10, 0, 8, NOW + DAY / 2), C(20, 0, 8, FRESH)};
    ASSERT(dc_wallet_needs_refresh(&a[0], NOW, DAY));
    ASSERT(!dc_wallet_needs_refresh(&a[0], NOW, DAY / 4));
    ASSERT(!dc_wallet_needs_refresh(&a[1], NOW, DAY));
    ASSERT_OK(dc_wallet_select_coins(&p, a, 2, 10, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_SPLIT_ONE);
    ASSERT_EQ(p.coin[0], 1);
    ASSERT_ERR(dc_wallet_select_coins(&p, a, 1, 10, &OPTS), DC_ERR_INSUFFICIENT_FUNDS);
    /* hop room: a split and a transfer must fit */
    struct dc_wallet_coin_info h[] = {C(10, 3, 4, FRESH), C(10, 2, 4, FRESH), C(10, 4, 4, FRESH)};
    ASSERT(dc_wallet_needs_refresh(&h[0], NOW, DAY));
    ASSERT(!dc_wallet_needs_refresh(&h[1], NOW, DAY));
    ASSERT(dc_wallet_needs_refresh(&h[2], NOW, DAY));
    ASSERT_OK(dc_wallet_select_coins(&p, h, 3, 10, &OPTS));
    ASSERT_EQ(p.coin[0], 1);
    /* the owner certificate inside the coin expires soon: the payee would
     * refuse our signature (SIGNER_FRESH), so the coin is deposited instead */
    struct dc_wallet_coin_info oc[] = {C(10, 0, 8, FRESH), C(20, 0, 8, FRESH)};
    oc[0].owner_expires_at = NOW + DAY / 2;
    ASSERT(dc_wallet_needs_refresh(&oc[0], NOW, DAY));
    ASSERT_OK(dc_wallet_select_coins(&p, oc, 2, 10, &OPTS));
    ASSERT_EQ(p.coin[0], 1);
    struct dc_wallet_coin_info z = C(10, 0, 0, FRESH);
    ASSERT(dc_wallet_needs_refresh(&z, NOW, DAY));
    ASSERT(dc_wallet_needs_refresh(&a[1], NOW, UINT64_MAX)); /* no overflow */
}

static void test_select_bounded_search(void)
{
    /* 400 coins with no exact combination of few coins: the search stops at
     * its budget and the split plan is taken, quickly */
    static struct dc_wallet_coin_info c[400];
    for (size_t i = 0; i < 400; i++) c[i] = C((int64_t)(1000 + 2 * i), (uint8_t)(i % 3), 8, FRESH);
    struct dc_wallet_plan p;
    clock_t t = clock();
    ASSERT_OK(dc_wallet_select_coins(&p, c, 400, 5001, &OPTS)); /* odd: no even sum equals it */
    ASSERT(clock() - t < 5 * CLOCKS_PER_SEC);
    ASSERT_EQ(p.has_split, 1);
    int64_t sum = 0;
    for (size_t i = 0; i + 1 < p.n; i++) sum += c[p.coin[i]].value;
    ASSERT_EQ(sum + p.split_values[0], 5001);
    ASSERT_EQ(p.split_values[0] + p.split_values[1], c[p.coin[p.n - 1]].value);
    /* many equal coins: equal values are tried once per depth */
    for (size_t i = 0; i < 400; i++) c[i] = C(7, 0, 8, FRESH);
    ASSERT_OK(dc_wallet_select_coins(&p, c, 400, 35, &OPTS));
    ASSERT_EQ(p.kind, DC_PLAN_EXACT_MANY);
    ASSERT_EQ(p.n, 5);
}

/* ---- Paying and receiving --------------------------------------------- */

static void test_prepare_split_keeps_change(void)
{
    setup();
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1);
    give(w, &W.alice, 100, 50, 16);
    struct dc_wallet_plan plan;
    struct dc_wallet_outgoing out;
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, 0x61);
    ASSERT_OK(dc_wallet_select(&plan, w, 30, NOW, DAY));
    ASSERT_EQ(plan.kind, DC_PLAN_SPLIT_ONE);
    ASSERT_OK(dc_wallet_prepare_payment(w, &out, &plan, W.bob.cert_bytes, nonce, NOW));
    ASSERT_EQ(out.n, 1);
    ASSERT_EQ(out.amount, 30);
    int64_t v;
    ASSERT(verify_to(out.coin[0], out.coin_len[0], &W.bob, nonce, &v));
    ASSERT_EQ(v, 30);
    /* the wallet: the paid part pending, the change held */
    ASSERT_EQ(dc_wallet_coin_count(w), 2);
    struct dc_wallet_coin_info paid, change;
    ASSERT_OK(dc_wallet_coin_info(w, 0, &paid));
    ASSERT_OK(dc_wallet_coin_info(w, 1, &change));
    ASSERT_EQ(paid.status, DC_WALLET_PENDING_OUT);
    ASSERT_EQ(paid.value, 30);
    ASSERT_EQ(paid.hops_used, 2);
    ASSERT_EQ(paid.is_ours, 0);
    ASSERT_EQ(change.status, DC_WALLET_HELD);
    ASSERT_EQ(change.value, 70);
    ASSERT_EQ(change.hops_used, 1);
    ASSERT_EQ(change.is_ours, 1);
    ASSERT_MEM(change.serial, paid.serial, DC_SERIAL_BYTES);
    const uint8_t *cb;
    size_t cl;
    ASSERT_OK(dc_wallet_coin_bytes(w, 1, &cb, &cl));
    struct dc_trust t;
    ASSERT_OK(dc_wallet_trust(w, &t, NOW));
    struct dc_coin c;
    struct dc_verify_result res;
    struct dc_verify_opts o = {W.alice.pk, NULL, 0};
    ASSERT_OK(dc_coin_decode(&c, cb, cl));
    ASSERT_OK(dc_coin_verify(&res, &t, &c, &o, NULL));
    ASSERT_EQ(res.value, 70);
    struct dc_wallet_balance b;
    ASSERT_OK(dc_wallet_balance(w, NOW, DAY, &b));
    ASSERT_EQ(b.held, 70);
    ASSERT_EQ(b.spendable, 70);
    ASSERT_EQ(b.pending_out, 30);
    ASSERT_EQ(b.n_pending_out, 1);
    struct dc_wallet_history h;
    ASSERT_EQ(dc_wallet_history_count(w), 1);
    ASSERT_OK(dc_wallet_history_at(w, 0, &h));
    ASSERT_EQ(h.direction, DC_WALLET_OUT);
    ASSERT_EQ(h.amount, 30);
    ASSERT_EQ(h.time, NOW);
    ASSERT_MEM(h.alias, W.bob.cert.alias, DC_ALIAS_BYTES);
    /* the change pays on: a second payment from it */
    uint8_t nonce2[DC_NONCE_BYTES];
    nonce_of(nonce2, 0x62);
    ASSERT_OK(dc_wallet_select(&plan, w, 70, NOW, DAY));
    ASSERT_EQ(plan.kind, DC_PLAN_EXACT_ONE);
    ASSERT_EQ(plan.coin[0], 1);
    ASSERT_OK(dc_wallet_prepare_payment(w, &out, &plan, W.carol.cert_bytes, nonce2, NOW));
    ASSERT(verify_to(out.coin[0], out.coin_len[0], &W.carol, nonce2, &v));
    ASSERT_EQ(v, 70);
    ASSERT_ERR(dc_wallet_select(&plan, w, 1, NOW, DAY), DC_ERR_INSUFFICIENT_FUNDS);
    dc_wallet_free(w);
}

static void test_prepare_twice_same_bytes(void)
{
    setup();
    char path[128];
    path_of(path, sizeof path, "idem.wallet");
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1), *back;
    give(w, &W.alice, 50, 51, 16);
    give(w, &W.alice, 20, 52, 16);
    struct dc_wallet_plan plan, plan2;
    struct dc_wallet_outgoing o1, o2;
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, 0x71);
    ASSERT_OK(dc_wallet_select(&plan, w, 60, NOW, DAY));
    ASSERT_EQ(plan.kind, DC_PLAN_MANY_SPLIT);
    ASSERT_OK(dc_wallet_prepare_payment(w, &o1, &plan, W.bob.cert_bytes, nonce, NOW));
    ASSERT_EQ(o1.n, 2);
    uint8_t copy[2][DC_COIN_MAX_BYTES];
    size_t lens[2];
    for (size_t i = 0; i < 2; i++) {
        memcpy(copy[i], o1.coin[i], o1.coin_len[i]);
        lens[i] = o1.coin_len[i];
    }
    size_t coins = dc_wallet_coin_count(w), seen = dc_wallet_seen_count(w);
    /* the same request again, even with a fresh (different) plan */
    ASSERT_OK(dc_wallet_select(&plan2, w, 10, NOW, DAY));
    plan2.amount = 60;
    ASSERT_OK(dc_wallet_prepare_payment(w, &o2, &plan2, W.bob.cert_bytes, nonce, NOW + 5));
    ASSERT_EQ(o2.n, 2);
    for (size_t i = 0; i < 2; i++) {
        ASSERT_EQ(o2.coin_len[i], lens[i]);
        ASSERT_MEM(o2.coin[i], copy[i], lens[i]);
    }
    ASSERT_EQ(dc_wallet_coin_count(w), coins);
    ASSERT_EQ(dc_wallet_seen_count(w), seen);
    ASSERT_EQ(dc_wallet_history_count(w), 1);
    /* the same nonce for another amount is a conflict, not a new payment */
    plan2.amount = 10;
    ASSERT_ERR(dc_wallet_prepare_payment(w, &o2, &plan2, W.bob.cert_bytes, nonce, NOW),
               DC_ERR_IDEMPOTENCY_CONFLICT);
    /* across a save and a load (a crash before sending) */
    ASSERT_OK(dc_wallet_save(w, path, PASS, PASS_LEN, &FAST, 0));
    ASSERT_OK(dc_wallet_load(&back, path, PASS, PASS_LEN, 0));
    ASSERT_OK(dc_wallet_prepare_payment(back, &o2, &plan, W.bob.cert_bytes, nonce, NOW + 9));
    for (size_t i = 0; i < 2; i++) {
        ASSERT_EQ(o2.coin_len[i], lens[i]);
        ASSERT_MEM(o2.coin[i], copy[i], lens[i]);
    }
    /* confirmation marks them spent; a retry still answers the same bytes */
    ASSERT_ERR(dc_wallet_confirm_payment(back, W.carol.pk, nonce), DC_ERR_NOT_FOUND);
    ASSERT_OK(dc_wallet_confirm_payment(back, W.bob.pk, nonce));
    ASSERT_OK(dc_wallet_confirm_payment(back, W.bob.pk, nonce));
    struct dc_wallet_balance b;
    ASSERT_OK(dc_wallet_balance(back, NOW, DAY, &b));
    ASSERT_EQ(b.pending_out, 0);
    ASSERT_EQ(b.held, 10);
    ASSERT_OK(dc_wallet_prepare_payment(back, &o2, &plan, W.bob.cert_bytes, nonce, NOW));
    ASSERT_MEM(o2.coin[0], copy[0], lens[0]);
    dc_wallet_free(back);
    dc_wallet_free(w);
}

static void test_prepare_refusals_change_nothing(void)
{
    setup();
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1);
    give(w, &W.alice, 40, 53, 16);
    give(w, &W.alice, 30, 54, 1); /* one hop: cannot split and transfer */
    uint8_t *before;
    size_t nb = plain_of(w, &before);
    struct dc_wallet_plan plan;
    struct dc_wallet_outgoing out;
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, 0x81);
    /* paying oneself */
    ASSERT_OK(dc_wallet_select(&plan, w, 40, NOW, DAY));
    ASSERT_ERR(dc_wallet_prepare_payment(w, &out, &plan, W.alice.cert_bytes, nonce, NOW),
               DC_ERR_SELF_TRANSFER);
    /* inconsistent plans */
    struct dc_wallet_plan bad = plan;
    bad.coin[0] = 7;
    ASSERT_ERR(dc_wallet_prepare_payment(w, &out, &bad, W.bob.cert_bytes, nonce, NOW),
               DC_ERR_INVALID_ARGUMENT);
    bad = plan;
    bad.amount = 39;
    ASSERT_ERR(dc_wallet_prepare_payment(w, &out, &bad, W.bob.cert_bytes, nonce, NOW),
               DC_ERR_INVALID_ARGUMENT);
    bad = plan;
    bad.n = 2;
    bad.coin[1] = bad.coin[0];
    ASSERT_ERR(dc_wallet_prepare_payment(w, &out, &bad, W.bob.cert_bytes, nonce, NOW),
               DC_ERR_INVALID_ARGUMENT);
    bad = plan;
    bad.amount = 25;
    bad.has_split = 1;
    bad.split_values[0] = 25;
    bad.split_values[1] = 14; /* does not add up to 40 */
    ASSERT_ERR(dc_wallet_prepare_payment(w, &out, &bad, W.bob.cert_bytes, nonce, NOW),
               DC_ERR_INVALID_ARGUMENT);
    /* a plan forcing a split of the one-hop coin: the core refuses, nothing changes */
    bad.coin[0] = 1;
    bad.amount = 10;
    bad.split_values[0] = 10;
    bad.split_values[1] = 20;
    ASSERT_ERR(dc_wallet_prepare_payment(w, &out, &bad, W.bob.cert_bytes, nonce, NOW),
               DC_ERR_HOP_LIMIT);
    uint8_t bad_cert[DC_DEVCERT_BYTES];
    memcpy(bad_cert, W.bob.cert_bytes, sizeof bad_cert);
    bad_cert[0] = 0x77;
    ASSERT(dc_wallet_prepare_payment(w, &out, &plan, bad_cert, nonce, NOW) != DC_OK);
    uint8_t *after;
    size_t na = plain_of(w, &after);
    ASSERT(na == nb && memcmp(before, after, na) == 0);
    /* once paid, the coin cannot be planned again */
    ASSERT_OK(dc_wallet_prepare_payment(w, &out, &plan, W.bob.cert_bytes, nonce, NOW));
    nonce_of(nonce, 0x82);
    ASSERT_ERR(dc_wallet_prepare_payment(w, &out, &plan, W.carol.cert_bytes, nonce, NOW),
               DC_ERR_COIN_SPENT);
    free(before);
    free(after);
    dc_wallet_free(w);
}

static void test_deposit_and_prune(void)
{
    setup();
    struct dc_wallet *w = wallet_of(&W.alice, 0xA1);
    give(w, &W.alice, 40, 55, 16);
    /* alice's certificate inside the coin expires at T0+30d: near it, the
     * coin is listed for deposit, not spending */
    struct dc_wallet_balance bal;
    ASSERT_OK(dc_wallet_balance(w, NOW, DAY, &bal));
    ASSERT_EQ(bal.spendable, 40);
    ASSERT_OK(dc_wallet_balance(w, T0 + 29 * DAY + DAY / 2, DAY, &bal));
    ASSERT_EQ(bal.spendable, 0);
    ASSERT_EQ(bal.refresh, 40);
    ASSERT_EQ(bal.n_refresh, 1);
    const uint8_t *b1, *b2;
    size_t l1, l2;
    ASSERT_ERR(dc_wallet_prepare_deposit(w, 3, 9, NOW, &b1, &l1), DC_ERR_NOT_FOUND);
    ASSERT_ERR(dc_wallet_confirm_deposit(w, 0), DC_ERR_INVALID_ARGUMENT);
    ASSERT_OK(dc_wallet_prepare_deposit(w, 0, 9, NOW, &b1, &l1));
    uint8_t copy[DC_COIN_MAX_BYTES];
    memcpy(copy, b1, l1);
    ASSERT_OK(dc_wallet_prepare_deposit(w, 0, 9, NOW + 100, &b2, &l2)); /* a retry */
    ASSERT_EQ(l2, l1);
    ASSERT_MEM(b2, copy, l1);
    struct dc_coin c;
    struct dc_verify_result res;
    struct dc_verify_opts o = {NULL, NULL, 1};
    ASSERT_OK(dc_coin_decode(&c, b2, l2));
    ASSERT_OK(dc_coin_verify(&res, &W.trust, &c, &o, NULL));
    ASSERT_EQ(c.rec[c.n - 1].u.deposit.account, 9);
    struct dc_wallet_plan plan;
    ASSERT_ERR(dc_wallet_select(&plan, w, 40, NOW, DAY), DC_ERR_INSUFFICIENT_FUNDS);
    ASSERT_OK(dc_wallet_confirm_deposit(w, 0));
    struct dc_wallet_coin_info ci;
    ASSERT_OK(dc_wallet_coin_info(w, 0, &ci));
    ASSERT_EQ(ci.status, DC_WALLET_SPENT);
    ASSERT(dc_wallet_seen_count(w) == 1);
    ASSERT_EQ(dc_wallet_prune(w, T0 + 60 * DAY), 0); /* expires at T0+60d: not before */
    ASSERT_EQ(dc_wallet_prune(w, T0 + 61 * DAY), 2); /* the coin and its seen entry */
    ASSERT_EQ(dc_wallet_coin_count(w), 0);
    ASSERT_EQ(dc_wallet_seen_count(w), 0);
    dc_wallet_free(w);
}

static void test_accept_and_seen_conflict(void)
{
    setup();
    struct dc_wallet *alice = wallet_of(&W.alice, 0xA1), *bob = wallet_of(&W.bob, 0xB0);
    uint8_t orig[DC_COIN_MAX_BYTES];
    size_t orig_len = issue(&W, orig, sizeof orig, 10, &W.alice, 60, 16);
    const uint8_t *cp = orig;
    ASSERT_OK(dc_wallet_accept_coins(alice, &cp, &orig_len, 1, NOW, NULL));
    /* alice pays bob */
    struct dc_wallet_plan plan;
    struct dc_wallet_outgoing out;
    uint8_t nonce[DC_NONCE_BYTES];
    nonce_of(nonce, 0x91);
    ASSERT_OK(dc_wallet_select(&plan, alice, 10, NOW, DAY));
    ASSERT_OK(dc_wallet_prepare_payment(alice, &out, &plan, W.bob.cert_bytes, nonce, NOW));
    /* bob verifies against his seen-set (the proto engine's callback) and accepts */
    struct dc_trust t;
    ASSERT_OK(dc_wallet_trust(bob, &t, NOW));
    size_t added = 9;
    ASSERT_ERR(dc_wallet_accept_coins(alice, out.coin, out.coin_len, out.n, NOW, &added),
               DC_ERR_WRONG_RECEIVER);
    ASSERT_EQ(added, 0);
    ASSERT_OK(dc_wallet_accept_coins(bob, out.coin, out.coin_len, out.n, NOW + 1, &added));
    ASSERT_EQ(added, 1);
    ASSERT_OK(dc_wallet_accept_coins(bob, out.coin, out.coin_len, out.n, NOW + 2, &added));
    ASSERT_EQ(added, 0); /* a retried payment is not counted twice */
    struct dc_wallet_balance b;
    ASSERT_OK(dc_wallet_balance(bob, NOW, DAY, &b));
    ASSERT_EQ(b.held, 10);
    ASSERT_EQ(dc_wallet_history_count(bob), 1);
    struct dc_wallet_history h;
    ASSERT_OK(dc_wallet_history_at(bob, 0, &h));
    ASSERT_EQ(h.direction, DC_WALLET_IN);
    ASSERT_EQ(h.amount, 10);
    ASSERT_MEM(h.alias, W.alice.cert.alias, DC_ALIAS_BYTES);

    /* alice (dishonest, with a copy of her old wallet) double-spends the same
     * state to carol: bob's seen-set names the fork */
    uint8_t fork[DC_COIN_MAX_BYTES];
    memcpy(fork, orig, orig_len);
    size_t fork_len = orig_len;
    uint8_t nonce2[DC_NONCE_BYTES];
    nonce_of(nonce2, 0x92);
    ASSERT_OK(
        dc_coin_transfer(fork, sizeof fork, &fork_len, W.alice.sk, W.carol.cert_bytes, nonce2));
    struct dc_coin fc, good;
    ASSERT_OK(dc_coin_decode(&fc, fork, fork_len));
    ASSERT_OK(dc_coin_decode(&good, out.coin[0], out.coin_len[0]));
    uint8_t s0[DC_HASH_BYTES], succ_fork[DC_HASH_BYTES], succ_good[DC_HASH_BYTES];
    dc_coin_state(s0, &fc, 0);
    dc_coin_successor(succ_fork, &fc, 0);
    dc_coin_successor(succ_good, &good, 0);
    ASSERT_EQ(dc_wallet_seen_conflict(bob, fc.genesis.serial, s0, succ_fork), 1);
    ASSERT_EQ(dc_wallet_seen_conflict(bob, fc.genesis.serial, s0, succ_good), 0);
    ASSERT_EQ(dc_wallet_seen_check(bob, fc.genesis.serial, s0, succ_fork), DC_ERR_FORK_DETECTED);
    ASSERT_EQ(dc_wallet_seen_check(bob, fc.genesis.serial, s0, succ_good), DC_OK);
    uint8_t other[DC_HASH_BYTES];
    memset(other, 0x5A, sizeof other);
    ASSERT_EQ(dc_wallet_seen_conflict(bob, fc.genesis.serial, other, succ_fork), 0); /* unknown */
    /* alice's own wallet knows what she signed, too */
    ASSERT_EQ(dc_wallet_seen_conflict(alice, fc.genesis.serial, s0, succ_fork), 1);
    /* the same fork sent to bob himself is refused whole, nothing added */
    memcpy(fork, orig, orig_len);
    fork_len = orig_len;
    ASSERT_OK(dc_coin_transfer(fork, sizeof fork, &fork_len, W.alice.sk, W.bob.cert_bytes, nonce2));
    uint8_t fresh[DC_COIN_MAX_BYTES];
    size_t fresh_len = issue(&W, fresh, sizeof fresh, 5, &W.bob, 61, 16);
    const uint8_t *two[2] = {fresh, fork};
    size_t two_len[2] = {fresh_len, fork_len};
    size_t coins = dc_wallet_coin_count(bob), seen = dc_wallet_seen_count(bob);
    ASSERT_ERR(dc_wallet_accept_coins(bob, two, two_len, 2, NOW, &added), DC_ERR_FORK_DETECTED);
    ASSERT_EQ(dc_wallet_coin_count(bob), coins);
    ASSERT_EQ(dc_wallet_seen_count(bob), seen);
    /* a coin ending in a deposit is not something one holds */
    const uint8_t *dep;
    size_t dep_len;
    ASSERT_OK(dc_wallet_accept_coins(bob, two, two_len, 1, NOW, &added));
    ASSERT_OK(
        dc_wallet_prepare_deposit(bob, dc_wallet_coin_count(bob) - 1, 3, NOW, &dep, &dep_len));
    ASSERT_ERR(dc_wallet_accept_coins(alice, &dep, &dep_len, 1, NOW, &added), DC_ERR_CHAIN_ORDER);
    dc_wallet_free(alice);
    dc_wallet_free(bob);
}

/* A request of Bob's for amount, its nonce made of tag. */
static void bob_request(struct dc_request *rq, int64_t amount, uint8_t tag)
{
    memset(rq, 0, sizeof *rq);
    rq->amount = amount;
    rq->currency = CNY;
    rq->payee = W.bob.cert;
    nonce_of(rq->nonce, tag);
    rq->time = NOW;
}

/* The wallet plugged into the offline protocol: bob's request, alice's
 * selection and payment, bob's verification with the wallet's seen-set and
 * trust, acceptance, receipt, confirmation. */
static void test_protocol_round(void)
{
    setup();
    struct dc_wallet *alice = wallet_of(&W.alice, 0xA1), *bob = wallet_of(&W.bob, 0xB0);
    give(alice, &W.alice, 50, 70, 16);
    give(alice, &W.alice, 20, 71, 16);
    struct dc_request rq;
    uint8_t req[DC_REQUEST_BYTES];
    bob_request(&rq, 65, 0xA7);
    ASSERT_OK(dc_request_sign(req, &rq, dc_wallet_device_sk(bob)));
    /* payer */
    struct dc_trust ta;
    ASSERT_OK(dc_wallet_trust(alice, &ta, NOW));
    ASSERT_OK(dc_request_verify(&rq, &ta));
    /* the payer's side through the offline layer (offline.h) */
    static uint8_t msg[DC_PAYMENT_MAX_BYTES], again_msg[DC_PAYMENT_MAX_BYTES];
    size_t msg_len, again_len;
    int again = -1, split = -1;
    ASSERT_ERR(dc_offline_pay(alice, msg, sizeof msg, &msg_len, &again, &split, req, sizeof req,
                              NOW, 400 * DAY),
               DC_ERR_INSUFFICIENT_FUNDS); /* no coin lives that long: nothing changed */
    ASSERT_OK(dc_offline_pay(alice, msg, sizeof msg, &msg_len, &again, &split, req, sizeof req, NOW,
                             DAY));
    ASSERT_EQ(again, 0);
    ASSERT_EQ(split, 1);
    ASSERT_OK(dc_offline_pay(alice, again_msg, sizeof again_msg, &again_len, &again, NULL, req,
                             sizeof req, NOW, DAY));
    ASSERT_EQ(again, 1); /* the same request: the same bytes */
    ASSERT_EQ(again_len, msg_len);
    ASSERT_MEM(again_msg, msg, msg_len);
    struct dc_payment pay;
    ASSERT_OK(dc_payment_decode(&pay, NULL, msg, msg_len));
    /* payee */
    struct dc_trust tb;
    ASSERT_OK(dc_wallet_trust(bob, &tb, NOW));
    struct dc_payment_check chk = {&tb, dc_wallet_seen_check, bob, NULL};
    struct dc_payment_result res;
    ASSERT_OK(dc_payment_verify(&res, &chk, req, sizeof req, msg, msg_len));
    ASSERT_EQ(res.total, 65);
    ASSERT_OK(dc_wallet_accept_coins(bob, pay.coin, pay.coin_len, pay.n, NOW, NULL));
    ASSERT_OK(dc_payment_verify(&res, &chk, req, sizeof req, msg, msg_len)); /* a retry is fine */
    struct dc_wallet_balance bb, ba;
    ASSERT_OK(dc_wallet_balance(bob, NOW, DAY, &bb));
    ASSERT_EQ(bb.held, 65);
    /* receipt, confirmation */
    struct dc_receipt rc;
    uint8_t rcpt[DC_RECEIPT_BYTES];
    memcpy(rc.request_hash, pay.request_hash, DC_HASH_BYTES);
    dc_payment_hash(rc.payment_hash, msg, msg_len - 1); /* names another payment */
    rc.time = NOW;
    dc_receipt_sign(rcpt, &rc, dc_wallet_device_sk(bob));
    ASSERT_ERR(dc_offline_confirm(alice, req, sizeof req, rcpt, sizeof rcpt),
               DC_ERR_RECEIPT_MISMATCH);
    dc_payment_hash(rc.payment_hash, msg, msg_len);
    dc_receipt_sign(rcpt, &rc, dc_wallet_device_sk(alice)); /* not the payee's signature */
    ASSERT_ERR(dc_offline_confirm(alice, req, sizeof req, rcpt, sizeof rcpt), DC_ERR_BAD_SIGNATURE);
    dc_receipt_sign(rcpt, &rc, dc_wallet_device_sk(bob));
    uint8_t other_req[DC_REQUEST_BYTES];
    memcpy(other_req, req, sizeof req);
    other_req[DC_REQUEST_BYTES - 1] ^= 1; /* another request (its signature byte) */
    ASSERT_ERR(dc_offline_confirm(alice, other_req, sizeof other_req, rcpt, sizeof rcpt),
               DC_ERR_RECEIPT_MISMATCH);
    ASSERT_OK(dc_wallet_balance(alice, NOW, DAY, &ba));
    ASSERT_EQ(ba.pending_out, 65); /* nothing confirmed by the bad receipts */
    ASSERT_OK(dc_offline_confirm(alice, req, sizeof req, rcpt, sizeof rcpt));
    ASSERT_OK(dc_offline_confirm(alice, req, sizeof req, rcpt, sizeof rcpt)); /* idempotent */
    ASSERT_OK(dc_wallet_balance(alice, NOW, DAY, &ba));
    ASSERT_EQ(ba.held, 5);
    ASSERT_EQ(ba.pending_out, 0);
    /* bob pays carol 60 out of what he received */
    uint8_t nonce[DC_NONCE_BYTES];
    struct dc_wallet_plan plan;
    struct dc_wallet_outgoing out;
    nonce_of(nonce, 0xA8);
    ASSERT_OK(dc_wallet_select(&plan, bob, 60, NOW, DAY));
    ASSERT_OK(dc_wallet_prepare_payment(bob, &out, &plan, W.carol.cert_bytes, nonce, NOW));
    int64_t total = 0, v;
    for (size_t i = 0; i < out.n; i++) {
        ASSERT(verify_to(out.coin[i], out.coin_len[i], &W.carol, nonce, &v));
        total += v;
    }
    ASSERT_EQ(total, 60);
    dc_wallet_free(alice);
    dc_wallet_free(bob);
}

/* The payer's side of a refusal (offline.h): checked against the request
 * and the exact payment, kept with the payer's copy, listed as pending. */
static void test_offline_refused(void)
{
    setup();
    struct dc_wallet *alice = wallet_of(&W.alice, 0xA1), *bob = wallet_of(&W.bob, 0xB0);
    give(alice, &W.alice, 50, 70, 16);
    give(alice, &W.alice, 20, 71, 16);
    struct dc_request rq;
    uint8_t req[DC_REQUEST_BYTES];
    bob_request(&rq, 65, 0xA7);
    ASSERT_OK(dc_request_sign(req, &rq, dc_wallet_device_sk(bob)));
    static uint8_t msg[DC_PAYMENT_MAX_BYTES];
    size_t msg_len;
    ASSERT_OK(
        dc_offline_pay(alice, msg, sizeof msg, &msg_len, NULL, NULL, req, sizeof req, NOW, DAY));
    ASSERT_OK(dc_offline_py_save(alice, req, sizeof req, 0, NOW));
    struct dc_payment pay;
    ASSERT_OK(dc_payment_decode(&pay, NULL, msg, msg_len));
    /* the server's way of hashing the payment from its coins agrees */
    uint8_t ph[DC_HASH_BYTES], ph2[DC_HASH_BYTES];
    dc_payment_hash(ph, msg, msg_len);
    ASSERT_OK(dc_refusal_payment_hash(ph2, pay.request_hash, pay.coin, pay.coin_len, pay.n));
    ASSERT_MEM(ph, ph2, DC_HASH_BYTES);

    struct dc_refusal f;
    uint8_t ref[DC_REFUSAL_BYTES];
    memset(&f, 0, sizeof f);
    memcpy(f.request_hash, pay.request_hash, DC_HASH_BYTES);
    memcpy(f.payment_hash, ph, DC_HASH_BYTES);
    memcpy(f.nonce, rq.nonce, DC_NONCE_BYTES);
    f.reason = (uint16_t)DC_ERR_CERT_REVOKED;
    f.time = NOW;
    /* not the payee's signature */
    dc_refusal_sign(ref, &f, dc_wallet_device_sk(alice));
    ASSERT_ERR(dc_offline_refused(alice, req, sizeof req, ref, sizeof ref, NOW),
               DC_ERR_BAD_SIGNATURE);
    /* another payment, another nonce */
    f.payment_hash[0] ^= 1;
    dc_refusal_sign(ref, &f, dc_wallet_device_sk(bob));
    ASSERT_ERR(dc_offline_refused(alice, req, sizeof req, ref, sizeof ref, NOW),
               DC_ERR_REFUSAL_MISMATCH);
    f.payment_hash[0] ^= 1;
    f.nonce[0] ^= 1;
    dc_refusal_sign(ref, &f, dc_wallet_device_sk(bob));
    ASSERT_ERR(dc_offline_refused(alice, req, sizeof req, ref, sizeof ref, NOW),
               DC_ERR_REFUSAL_MISMATCH);
    f.nonce[0] ^= 1;
    dc_refusal_sign(ref, &f, dc_wallet_device_sk(bob));
    /* truncated, or a receipt's tag */
    ASSERT(dc_offline_refused(alice, req, sizeof req, ref, sizeof ref - 1, NOW) != DC_OK);
    ref[0] = 0x42;
    ASSERT_ERR(dc_offline_refused(alice, req, sizeof req, ref, sizeof ref, NOW),
               DC_ERR_DECODE_TYPE);
    ref[0] = DC_REFUSAL_TAG;
    uint8_t rh[DC_HASH_BYTES], kept[DC_REFUSAL_BYTES];
    dc_request_hash(rh, req, sizeof req);
    ASSERT_ERR(dc_offline_py_refusal(alice, rh, kept), DC_ERR_NOT_FOUND);
    /* the real one: kept, twice is fine */
    ASSERT_OK(dc_offline_refused(alice, req, sizeof req, ref, sizeof ref, NOW));
    ASSERT_OK(dc_offline_refused(alice, req, sizeof req, ref, sizeof ref, NOW));
    ASSERT_OK(dc_offline_py_refusal(alice, rh, kept));
    ASSERT_MEM(kept, ref, DC_REFUSAL_BYTES);
    uint8_t copy[DC_REQUEST_BYTES];
    size_t cl = 0;
    int confirmed = -1, refused = -1, listed = 0;
    ASSERT_OK(dc_offline_py_load(alice, rh, copy, &cl, &confirmed));
    ASSERT_EQ(cl, sizeof req);
    ASSERT_MEM(copy, req, sizeof req);
    ASSERT_EQ(confirmed, 0);
    for (size_t i = 0; i < dc_wallet_request_count(alice); i++) {
        if (dc_offline_py_at(alice, i, copy, &cl, &refused) == DC_OK) listed++;
    }
    ASSERT_EQ(listed, 1);
    ASSERT_EQ(refused, 1);
    struct dc_wallet_balance ba;
    ASSERT_OK(dc_wallet_balance(alice, NOW, DAY, &ba));
    ASSERT_EQ(ba.pending_out, 65); /* still signed away until reclaimed online */
    /* settled (reclaimed): no longer pending */
    ASSERT_OK(dc_offline_py_settle(alice, req, sizeof req, NOW));
    listed = 0;
    for (size_t i = 0; i < dc_wallet_request_count(alice); i++) {
        if (dc_offline_py_at(alice, i, copy, &cl, &refused) == DC_OK) listed++;
    }
    ASSERT_EQ(listed, 0);
    /* what a payee signs a refusal for */
    ASSERT(dc_offline_refusable(DC_ERR_CERT_REVOKED));
    ASSERT(dc_offline_refusable(DC_ERR_FORK_DETECTED));
    ASSERT(!dc_offline_refusable(DC_ERR_OFFLINE_LIMIT));
    ASSERT(!dc_offline_refusable(DC_ERR_NO_MEMORY));
    ASSERT(!dc_offline_refusable(DC_OK));
    dc_wallet_free(alice);
    dc_wallet_free(bob);
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The payee's side of the offline layer: a session's payment verified,
 * kept once, and the offline limit (bob's certificate: 1,000.00). */
static void test_offline_payee(void)
{
    setup();
    struct dc_wallet *alice = wallet_of(&W.alice, 0xA1), *bob = wallet_of(&W.bob, 0xB0);
    give(alice, &W.alice, 50, 72, 16);
    struct dc_request rq;
    bob_request(&rq, 30, 0xA9);
    static struct dc_session s;
    ASSERT_OK(dc_session_payee_start(&s, &rq, dc_wallet_device_sk(bob), 0));
    size_t rlen;
    const uint8_t *req = dc_session_request(&s, &rlen);
    static uint8_t msg[DC_PAYMENT_MAX_BYTES], fr[DC_FRAME_MAX];
    size_t msg_len, fl;
    ASSERT_OK(dc_offline_pay(alice, msg, sizeof msg, &msg_len, NULL, NULL, req, rlen, NOW, DAY));
    while (dc_session_pull(&s, fr, sizeof fr) > 0) {
    }
    for (size_t i = 0; i < dc_frame_count(msg_len, DC_FRAME_MAX); i++) {
        ASSERT_OK(dc_frame_encode(fr, sizeof fr, &fl, msg, msg_len, DC_FRAME_MAX, i));
        ASSERT_EQ(dc_session_push(&s, fr, fl), fl);
    }
    ASSERT(dc_session_want(&s) & DC_SESSION_NEED_VERIFY);
    int64_t after = 0, limit = 0;
    ASSERT_OK(dc_offline_within_limit(bob, 30, NOW, &after, &limit));
    ASSERT_EQ(after, 30);
    ASSERT_ERR(dc_offline_within_limit(bob, 100001, NOW, &after, &limit), DC_ERR_OFFLINE_LIMIT);
    ASSERT_EQ(after, 100001);
    ASSERT_EQ(limit, 100000);
    ASSERT_ERR(dc_offline_within_limit(bob, INT64_MAX, NOW, &after, NULL), DC_ERR_OFFLINE_LIMIT);
    struct dc_trust t;
    struct dc_payment_result res;
    ASSERT_OK(dc_offline_trust(bob, &t, NOW));
    ASSERT_EQ(t.clock_skew_ms, DC_OFFLINE_CLOCK_SKEW_MS);
    ASSERT_OK(dc_offline_accept(bob, &s, &res, &t, NOW));
    ASSERT_EQ(res.total, 30);
    ASSERT(dc_session_want(&s) & DC_SESSION_NEED_PERSIST);
    struct dc_wallet_balance bb;
    ASSERT_OK(dc_wallet_balance(bob, NOW, DAY, &bb));
    ASSERT_EQ(bb.held, 30);
    /* called again on a finished verification: refused, nothing kept twice */
    ASSERT_ERR(dc_offline_accept(bob, &s, &res, &t, NOW), DC_ERR_SESSION_STATE);
    ASSERT_OK(dc_wallet_balance(bob, NOW, DAY, &bb));
    ASSERT_EQ(bb.held, 30);
    dc_wallet_free(alice);
    dc_wallet_free(bob);
}

/* The bookkeeping slots of the offline layer: payee sessions (save, load,
 * the newest open one per transport and amount within a window, prune,
 * forget) and the payer's copies of paid requests (old confirmed ones
 * dropped). */
static void test_offline_slots(void)
{
    setup();
    struct dc_wallet *bob = wallet_of(&W.bob, 0xB0);
    static struct dc_session s[3], got;
    uint8_t h[3][DC_HASH_BYTES];
    for (int i = 0; i < 3; i++) {
        struct dc_request rq;
        size_t rl;
        bob_request(&rq, i == 2 ? 70 : 40, (uint8_t)(0xB0 + i));
        ASSERT_OK(dc_session_payee_start(&s[i], &rq, dc_wallet_device_sk(bob), 0));
        const uint8_t *req_i = dc_session_request(&s[i], &rl);
        dc_request_hash(h[i], req_i, rl);
        /* requests 0 and 1 for 40 over transport 1, made at NOW and NOW+1s */
        ASSERT_OK(dc_offline_rx_save(bob, &s[i], i == 2 ? 2 : 1, 0, NOW + (uint64_t)i * 1000));
    }
    unsigned tr;
    int done;
    uint64_t at;
    ASSERT_OK(dc_offline_rx_load(bob, h[2], &got, &tr, &done, &at));
    ASSERT_EQ(tr, 2);
    ASSERT_EQ(at, NOW + 2000);
    ASSERT_MEM(&got, &s[2], sizeof got);
    ASSERT_OK(dc_offline_rx_find_open(bob, 40, 1, NOW + 5000, 3600000, &got, &at));
    ASSERT_EQ(at, NOW + 1000); /* the newest */
    ASSERT_MEM(&got, &s[1], sizeof got);
    ASSERT_ERR(dc_offline_rx_find_open(bob, 40, 2, NOW + 5000, 3600000, &got, &at),
               DC_ERR_NOT_FOUND); /* another transport */
    ASSERT_ERR(dc_offline_rx_find_open(bob, 40, 1, NOW + 3600000 + 1001, 3600000, &got, &at),
               DC_ERR_NOT_FOUND);                                /* too old */
    ASSERT_OK(dc_offline_rx_save(bob, &s[1], 1, 1, NOW + 1000)); /* done: not open any more */
    ASSERT_OK(dc_offline_rx_find_open(bob, 40, 1, NOW + 5000, 3600000, &got, &at));
    ASSERT_EQ(at, NOW);
    dc_offline_rx_prune(bob, 2); /* keeps fewer than 2: the newest only */
    ASSERT_ERR(dc_offline_rx_load(bob, h[0], &got, NULL, NULL, NULL), DC_ERR_NOT_FOUND);
    ASSERT_ERR(dc_offline_rx_load(bob, h[1], &got, NULL, NULL, NULL), DC_ERR_NOT_FOUND);
    ASSERT_OK(dc_offline_rx_forget(bob, h[2]));
    ASSERT_ERR(dc_offline_rx_forget(bob, h[2]), DC_ERR_NOT_FOUND);
    /* the payer's copies */
    uint8_t req[DC_REQUEST_BYTES];
    size_t len;
    int confirmed = -1;
    const uint8_t *r0 = dc_session_request(&s[0], &len);
    ASSERT_ERR(dc_offline_py_load(bob, h[0], req, &len, &confirmed), DC_ERR_NOT_FOUND);
    ASSERT_OK(dc_offline_py_save(bob, r0, DC_REQUEST_BYTES, 1, NOW));
    ASSERT_OK(dc_offline_py_load(bob, h[0], req, &len, &confirmed));
    ASSERT_EQ(len, DC_REQUEST_BYTES);
    ASSERT_EQ(confirmed, 1);
    ASSERT_MEM(req, r0, DC_REQUEST_BYTES);
    const uint8_t *r1 = dc_session_request(&s[1], &len);
    ASSERT_OK(dc_offline_py_save(bob, r1, DC_REQUEST_BYTES, 0, NOW + 2 * DAY));
    ASSERT_ERR(dc_offline_py_load(bob, h[0], req, &len, NULL), DC_ERR_NOT_FOUND); /* aged out */
    ASSERT_OK(dc_offline_py_load(bob, h[1], req, &len, &confirmed));
    ASSERT_EQ(confirmed, 0);
    dc_wallet_free(bob);
}

/* ---- The offline layer's host steps, with no transport ------------------ */

/* A host's save: keeps the wallet's plain encoding as it was at the last
 * save (what a crash right after it would leave), counts saves, and can be
 * made to fail. */
struct saver {
    uint8_t *snap;
    size_t len;
    int saves;
    enum dc_err fail; /* returned instead of saving, if set */
    char points[256]; /* the crash points told, space-separated */
};

static enum dc_err saver_save(void *ctx, struct dc_wallet *w)
{
    struct saver *sv = ctx;
    if (sv->fail != DC_OK) return sv->fail;
    size_t need = 0;
    if (dc_wallet_encode_plain(w, NULL, 0, &need) != DC_ERR_BUFFER_TOO_SMALL) abort();
    free(sv->snap);
    sv->snap = malloc(need);
    if (!sv->snap) abort();
    if (dc_wallet_encode_plain(w, sv->snap, need, &sv->len) != DC_OK) abort();
    sv->saves++;
    return DC_OK;
}

static void saver_point(void *ctx, const char *point)
{
    struct saver *sv = ctx;
    size_t l = strlen(sv->points);
    snprintf(sv->points + l, sizeof sv->points - l, "%s ", point);
}

static void host_of(struct dc_offline *o, struct dc_wallet *w, struct saver *sv, unsigned tr)
{
    memset(o, 0, sizeof *o);
    memset(sv, 0, sizeof *sv);
    o->w = w;
    o->save = saver_save;
    o->save_ctx = sv;
    o->point = saver_point;
    o->point_ctx = sv;
    o->transport = tr;
}

/* The wallet as the last save left it (the caller frees it). */
static struct dc_wallet *saved_copy(const struct saver *sv)
{
    struct dc_wallet *w = NULL;
    if (!sv->snap || dc_wallet_decode_plain(&w, sv->snap, sv->len) != DC_OK) abort();
    return w;
}

/* Armor-shaped exchange (whole messages): every step saves before what it
 * returns may leave, and the saved copy holds exactly what left; a step
 * repeated gives the same bytes; the receipt closes the payment once. */
static void test_offline_host_whole_messages(void)
{
    struct dc_wallet *alice = wallet_of(&W.alice, 0xA1), *bob = wallet_of(&W.bob, 0xB0);
    give(alice, &W.alice, 50, 73, 16);
    struct dc_offline pe, pr;
    struct saver se, sr;
    host_of(&pe, bob, &se, DC_OFFLINE_ARMOR);
    host_of(&pr, alice, &sr, DC_OFFLINE_ARMOR);
    static struct dc_session s, s2;
    uint64_t created = 0;

    /* the payee's request: signed, recorded, saved, nothing left to send */
    ASSERT_OK(dc_offline_payee_begin(&pe, &s, 30, CNY, 0, NOW, &created));
    ASSERT_EQ(created, NOW);
    ASSERT_EQ(se.saves, 1);
    ASSERT(strcmp(se.points, "request-persisted ") == 0);
    ASSERT(!(dc_session_want(&s) & DC_SESSION_SEND));
    size_t rlen;
    const uint8_t *req = dc_session_request(&s, &rlen);
    ASSERT_EQ(rlen, DC_REQUEST_BYTES);
    static uint8_t rq[DC_REQUEST_BYTES];
    memcpy(rq, req, rlen);
    /* resumed by the same transport and amount only */
    uint64_t at = 0;
    ASSERT_OK(dc_offline_payee_resume(&pe, &s2, 30, NOW + 1000, &at));
    ASSERT_EQ(at, NOW);
    ASSERT_ERR(dc_offline_payee_resume(&pe, &s2, 31, NOW + 1000, &at), DC_ERR_NOT_FOUND);

    /* the payer: a request over --max is refused, nothing saved */
    ASSERT_ERR(dc_offline_payer_check(&pr, rq, rlen, 29, NOW), DC_ERR_LIMIT_EXCEEDED);
    ASSERT_EQ(pr.note.max, 29);
    ASSERT_EQ(pr.note.request.amount, 30);
    ASSERT_OK(dc_offline_payer_check(&pr, rq, rlen, 30, NOW));
    ASSERT_EQ(sr.saves, 0);
    /* a failing save: the payment does not come out (split 50 = 30 + 20) */
    static uint8_t pay[DC_PAYMENT_MAX_BYTES], pay2[DC_PAYMENT_MAX_BYTES];
    size_t plen = 0, plen2 = 0;
    memset(pay, 0xEE, sizeof pay);
    sr.fail = DC_ERR_IO;
    ASSERT_ERR(dc_offline_payer_pay(&pr, pay, sizeof pay, &plen, rq, rlen, NOW), DC_ERR_IO);
    ASSERT_EQ(pr.note.saving, 1);
    ASSERT_EQ(pr.note.has_split, 1);
    ASSERT_EQ(pay[0], 0xEE);
    sr.fail = DC_OK;
    /* saved, then out: the saved copy holds this very payment */
    ASSERT_OK(dc_offline_payer_pay(&pr, pay, sizeof pay, &plen, rq, rlen, NOW));
    ASSERT_EQ(sr.saves, 1);
    ASSERT(strcmp(sr.points, "payment-persisted ") == 0);
    ASSERT_EQ(pr.note.again, 1); /* signed by the call whose save failed, sent only now */
    struct dc_wallet *copy = saved_copy(&sr);
    struct dc_wallet_outgoing og;
    struct dc_request r;
    ASSERT_OK(dc_request_decode(&r, rq, rlen));
    ASSERT_OK(dc_wallet_find_payment(copy, &og, r.payee.pub, r.nonce));
    ASSERT_OK(dc_offline_payment_encode(pay2, sizeof pay2, &plen2, &og, rq, rlen));
    ASSERT_EQ(plen2, plen);
    ASSERT_MEM(pay2, pay, plen);
    dc_wallet_free(copy);
    /* paid again: the same bytes */
    ASSERT_OK(dc_offline_payer_pay(&pr, pay2, sizeof pay2, &plen2, rq, rlen, NOW));
    ASSERT_EQ(pr.note.again, 1);
    ASSERT_EQ(plen2, plen);
    ASSERT_MEM(pay2, pay, plen);

    /* the payee takes it: coins and session in one save, then the receipt */
    ASSERT_OK(dc_offline_payee_take(&pe, &s, pay, plen, NOW + 10));
    ASSERT_EQ(pe.note.res.total, 30);
    ASSERT(strcmp(se.points, "request-persisted coins-persisted ") == 0);
    size_t rcl, rcl2;
    const uint8_t *rc = dc_session_receipt(&s, &rcl);
    ASSERT(rc != NULL);
    static uint8_t rcpt[DC_RECEIPT_BYTES];
    memcpy(rcpt, rc, rcl);
    copy = saved_copy(&se);
    struct dc_wallet_balance b;
    ASSERT_OK(dc_wallet_balance(copy, NOW, DAY, &b));
    ASSERT_EQ(b.held, 30);
    uint8_t h[DC_HASH_BYTES];
    dc_request_hash(h, rq, rlen);
    ASSERT_OK(dc_offline_rx_load(copy, h, &s2, NULL, NULL, NULL));
    const uint8_t *saved_rc = dc_session_receipt(&s2, &rcl2);
    ASSERT(saved_rc && rcl2 == rcl);
    ASSERT_MEM(saved_rc, rcpt, rcl);
    dc_wallet_free(copy);
    /* the same payment again: the same receipt, nothing kept twice */
    ASSERT_OK(dc_offline_payee_take(&pe, &s2, pay, plen, NOW + 20));
    ASSERT_EQ(pe.note.again, 1);
    ASSERT_MEM(dc_session_receipt(&s2, &rcl2), rcpt, rcl);
    ASSERT_OK(dc_wallet_balance(bob, NOW, DAY, &b));
    ASSERT_EQ(b.held, 30);
    /* another payment for an unknown request: refused */
    pay[3] ^= 1; /* inside the request hash */
    ASSERT_ERR(dc_offline_payee_take(&pe, &s2, pay, plen, NOW), DC_ERR_PAY_WRONG_REQUEST);
    pay[3] ^= 1;

    /* the payer confirms, once and again; a receipt of nothing it paid: refused */
    ASSERT_OK(dc_offline_payer_confirm(&pr, rcpt, rcl, NOW + 30));
    ASSERT_EQ(pr.note.again, 0);
    ASSERT_EQ(pr.note.request.amount, 30);
    ASSERT_OK(dc_offline_payer_confirm(&pr, rcpt, rcl, NOW + 40));
    ASSERT_EQ(pr.note.again, 1);
    copy = saved_copy(&sr);
    ASSERT_OK(dc_wallet_balance(copy, NOW, DAY, &b));
    ASSERT_EQ(b.pending_out, 0);
    dc_wallet_free(copy);
    rcpt[5] ^= 1;
    ASSERT_ERR(dc_offline_payer_confirm(&pr, rcpt, rcl, NOW), DC_ERR_RECEIPT_MISMATCH);
    free(se.snap);
    free(sr.snap);
    dc_wallet_free(alice);
    dc_wallet_free(bob);
}

/* Moves every byte one session wants to send into the other. */
static void pump(struct dc_session *from, struct dc_session *to)
{
    uint8_t b[DC_FRAME_MAX];
    size_t n;
    while ((n = dc_session_pull(from, b, sizeof b)) > 0) {
        if (dc_session_push(to, b, n) != n) abort();
    }
}

/* Session-shaped exchange (TCP, NFC): the host only moves bytes and calls
 * the step functions when the session asks. Then the refusals: over the
 * payee's offline limit (the request stays open), a payment of more coins
 * than one payment carries (refused before signing, wallet unchanged). */
static void test_offline_host_sessions(void)
{
    struct dc_wallet *alice = wallet_of(&W.alice, 0xA1), *bob = wallet_of(&W.bob, 0xB0);
    give(alice, &W.alice, 50, 74, 16);
    struct dc_offline pe, pr;
    struct saver se, sr;
    host_of(&pe, bob, &se, DC_OFFLINE_TCP);
    host_of(&pr, alice, &sr, DC_OFFLINE_TCP);
    static struct dc_session ps, qs;
    uint64_t created;
    ASSERT_OK(dc_offline_payee_begin(&pe, &ps, 20, CNY, 0, NOW, &created));
    ASSERT_OK(dc_session_payer_start(&qs, 0));
    for (int round = 0; round < 20; round++) {
        pump(&ps, &qs);
        ASSERT_OK(dc_offline_payer_step(&pr, &qs, 0, NOW));
        pump(&qs, &ps);
        ASSERT_OK(dc_offline_payee_step(&pe, &ps, created, NOW));
    }
    ASSERT(dc_session_want(&ps) & DC_SESSION_DONE);
    ASSERT(dc_session_want(&qs) & DC_SESSION_DONE);
    size_t rcl;
    const uint8_t *rc = dc_session_receipt(&qs, &rcl);
    ASSERT(rc != NULL);
    ASSERT_OK(dc_offline_payer_confirm(&pr, rc, rcl, NOW));
    ASSERT_OK(dc_offline_payee_finish(&pe, &ps, created));
    int done = 0;
    size_t rl;
    uint8_t h[DC_HASH_BYTES];
    dc_request_hash(h, dc_session_request(&ps, &rl), DC_REQUEST_BYTES);
    ASSERT_OK(dc_offline_rx_load(bob, h, &qs, NULL, &done, NULL));
    ASSERT_EQ(done, 1);
    struct dc_wallet_balance b;
    ASSERT_OK(dc_wallet_balance(bob, NOW, DAY, &b));
    ASSERT_EQ(b.held, 20);
    ASSERT_OK(dc_wallet_balance(alice, NOW, DAY, &b));
    ASSERT_EQ(b.held, 30);
    ASSERT_EQ(b.pending_out, 0);

    /* over bob's offline limit (1,000.00) at request time: nothing saved */
    se.saves = 0;
    ASSERT_ERR(dc_offline_payee_begin(&pe, &ps, 100000, CNY, 0, NOW, &created),
               DC_ERR_OFFLINE_LIMIT);
    ASSERT_EQ(pe.note.after, 100020);
    ASSERT_EQ(pe.note.limit, 100000);
    ASSERT_EQ(se.saves, 0);

    /* 17 coins of 1 for 17: more coins than a payment carries */
    struct dc_wallet *carol = wallet_of(&W.carol, 0xCA);
    for (uint8_t i = 0; i < 17; i++) give(carol, &W.carol, 1, (uint8_t)(80 + i), 16);
    struct dc_offline pc;
    struct saver sc;
    host_of(&pc, carol, &sc, DC_OFFLINE_TCP);
    ASSERT_OK(dc_offline_payee_begin(&pe, &ps, 17, CNY, 0, NOW, &created));
    size_t len;
    const uint8_t *req = dc_session_request(&ps, &len);
    static uint8_t pay[DC_PAYMENT_MAX_BYTES];
    size_t plen;
    ASSERT_OK(dc_offline_payer_check(&pc, req, len, 0, NOW));
    ASSERT_ERR(dc_offline_payer_pay(&pc, pay, sizeof pay, &plen, req, len, NOW),
               DC_ERR_PAYMENT_TOO_LARGE);
    ASSERT_EQ(sc.saves, 0);
    ASSERT_OK(dc_wallet_balance(carol, NOW, DAY, &b));
    ASSERT_EQ(b.pending_out, 0);
    ASSERT_EQ(b.held, 17);
    /* 16 of them fit */
    ASSERT_OK(dc_offline_payee_begin(&pe, &ps, 16, CNY, 0, NOW, &created));
    req = dc_session_request(&ps, &len);
    ASSERT_OK(dc_offline_payer_pay(&pc, pay, sizeof pay, &plen, req, len, NOW));
    free(se.snap);
    free(sr.snap);
    free(sc.snap);
    dc_wallet_free(carol);
    dc_wallet_free(alice);
    dc_wallet_free(bob);
}

TESTS(T(test_offline_payee), T(test_offline_slots), T(test_offline_host_whole_messages),
      T(test_offline_host_sessions), T(test_create_and_identity), T(test_trust_material),
      T(test_requests), T(test_history_ring), T(test_plain_round_trip_all_fields),
      T(test_plain_decoder_strict), T(test_file_round_trip), T(test_default_cost_is_interactive),
      T(test_wrong_passphrase), T(test_every_byte_corruption), T(test_truncation_and_garbage),
      T(test_atomic_write_leftover_tmp), T(test_kill_during_save), T(test_commit_with_kept_key),
      T(test_select_exact_coin), T(test_select_exact_combination), T(test_select_split),
      T(test_select_combination_and_split), T(test_select_refusals), T(test_select_skips_refresh),
      T(test_select_bounded_search), T(test_prepare_split_keeps_change),
      T(test_prepare_twice_same_bytes), T(test_prepare_refusals_change_nothing),
      T(test_deposit_and_prune), T(test_accept_and_seen_conflict), T(test_protocol_round),
      T(test_offline_refused))
