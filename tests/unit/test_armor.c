/*
 * test_armor.c - text armor: round trips, a pinned known answer checked
 * against an independent BLAKE2b computation, whitespace tolerance, and the
 * strictness rules (every typo, wrong kind/version, non-canonical base64,
 * shape errors) with the documented order of checks.
 */
#include <sodium.h>

#include "ducat/armor.h"
#include "test.h"

#define KAT_TEXT "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916"
#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

static const enum dc_armor_kind all_kinds[] = {
    DC_ARMOR_COIN,    DC_ARMOR_REQUEST, DC_ARMOR_PAYMENT, DC_ARMOR_RECEIPT, DC_ARMOR_EVIDENCE,
    DC_ARMOR_KEYCERT, DC_ARMOR_KEYREQ,  DC_ARMOR_DEVCERT, DC_ARMOR_REFUSAL,
};
#define N_KINDS (sizeof all_kinds / sizeof all_kinds[0])

static const char kat[] = KAT_TEXT;

static void init(void)
{
    ASSERT(sodium_init() >= 0);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(i * 37u + seed * 11u + (i >> 8));
}

/* The checksum computed here, independently of armor.c, from the header text. */
static void checksum_hex(char hex[9], const char *kind, const uint8_t *p, size_t len)
{
    char head[64];
    int n = snprintf(head, sizeof head, "ducat:%s:1:", kind);
    ASSERT(n > 0 && (size_t)n < sizeof head);
    uint8_t h[32];
    crypto_generichash_state st;
    ASSERT(crypto_generichash_init(&st, NULL, 0, sizeof h) == 0);
    crypto_generichash_update(&st, (const unsigned char *)"ducat-armor", 11);
    crypto_generichash_update(&st, (const unsigned char *)head, strlen(head));
    crypto_generichash_update(&st, p, len);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(hex, 9, h, 4);
}

/* Decodes s (strlen) as kind into a scratch buffer and returns the result. */
static enum dc_err dec(const char *s, enum dc_armor_kind kind)
{
    uint8_t out[256];
    size_t n = 99;
    enum dc_err e = dc_armor_decode(out, sizeof out, &n, kind, s, strlen(s));
    if (e != DC_OK && e != DC_ERR_BUFFER_TOO_SMALL && n != 0) return DC_ERR_INTERNAL;
    return e;
}

/* Armors p as kind into out (cap bytes), asserting success. */
static size_t arm(char *out, size_t cap, enum dc_armor_kind kind, const uint8_t *p, size_t len)
{
    size_t n = 0;
    ASSERT_OK(dc_armor_encode(out, cap, &n, kind, p, len));
    ASSERT_EQ(n, strlen(out));
    ASSERT_EQ(n, dc_armor_encoded_len(kind, len));
    return n;
}

static void test_kind_names(void)
{
    static const char *const want[] = {"coin",    "request", "payment", "receipt", "evidence",
                                       "keycert", "keyreq",  "devcert", "refusal"};
    for (size_t i = 0; i < N_KINDS; i++) ASSERT_STR(dc_armor_kind_name(all_kinds[i]), want[i]);
    ASSERT(dc_armor_kind_name((enum dc_armor_kind)0) == NULL);
    ASSERT(dc_armor_kind_name((enum dc_armor_kind)(DC_ARMOR_REFUSAL + 1)) == NULL);
    ASSERT(dc_armor_kind_name((enum dc_armor_kind)1000) == NULL);
}

static void test_encoded_len(void)
{
    init();
    /* "ducat:coin:1:" + body + ":" + 8 */
    ASSERT_EQ(dc_armor_encoded_len(DC_ARMOR_COIN, 1), 13 + 2 + 9);
    ASSERT_EQ(dc_armor_encoded_len(DC_ARMOR_COIN, 2), 13 + 3 + 9);
    ASSERT_EQ(dc_armor_encoded_len(DC_ARMOR_COIN, 3), 13 + 4 + 9);
    ASSERT_EQ(dc_armor_encoded_len(DC_ARMOR_EVIDENCE, 16), 17 + 22 + 9);
    ASSERT_EQ(dc_armor_encoded_len(DC_ARMOR_COIN, 0), 0);
    ASSERT_EQ(dc_armor_encoded_len((enum dc_armor_kind)0, 5), 0);
    ASSERT_EQ(dc_armor_encoded_len((enum dc_armor_kind)(DC_ARMOR_REFUSAL + 1), 5), 0);
    ASSERT_EQ(dc_armor_encoded_len(DC_ARMOR_COIN, SIZE_MAX), 0);
    ASSERT_EQ(dc_armor_encoded_len(DC_ARMOR_COIN, SIZE_MAX / 4 * 3), 0);
    /* The largest lengths that fit still leave room for the NUL. */
    size_t big = dc_armor_encoded_len(DC_ARMOR_COIN, SIZE_MAX / 2);
    ASSERT(big > SIZE_MAX / 2 && big < SIZE_MAX);
}

static void test_round_trip_all_kinds(void)
{
    init();
    static uint8_t p[300], q[300];
    static char text[512];
    for (size_t k = 0; k < N_KINDS; k++) {
        for (size_t len = 1; len <= 300; len++) {
            fill(p, len, (unsigned)(len + k));
            size_t n = arm(text, dc_armor_encoded_len(all_kinds[k], len) + 1, all_kinds[k], p, len);
            ASSERT(strncmp(text, "ducat:", 6) == 0);
            size_t got = 0;
            ASSERT_OK(dc_armor_decode(q, len, &got, all_kinds[k], text, n));
            ASSERT_EQ(got, len);
            ASSERT_MEM(p, q, len);
            for (size_t j = 0; j < N_KINDS; j++) {
                if (j != k)
                    ASSERT_ERR(dc_armor_decode(q, len, &got, all_kinds[j], text, n),
                               DC_ERR_ARMOR_KIND);
            }
        }
    }
    /* Every byte value survives. */
    for (size_t i = 0; i < 256; i++) p[i] = (uint8_t)i;
    size_t n = arm(text, sizeof text, DC_ARMOR_COIN, p, 256), got = 0;
    ASSERT_OK(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_COIN, text, n));
    ASSERT_EQ(got, 256);
    ASSERT_MEM(p, q, 256);
}

static void test_round_trip_20k(void)
{
    init();
    enum { LEN = 20 * 1024 };
    static uint8_t p[LEN], q[LEN];
    static char text[LEN * 2];
    fill(p, LEN, 7);
    size_t n = arm(text, sizeof text, DC_ARMOR_EVIDENCE, p, LEN), got = 0;
    ASSERT_EQ(n, strlen("ducat:evidence:1:") + (LEN / 3) * 4 + 3 + 9); /* LEN % 3 == 2 */
    ASSERT_OK(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_EVIDENCE, text, n));
    ASSERT_EQ(got, LEN);
    ASSERT_MEM(p, q, LEN);
    /* Wrapped at 76 columns, as a mail client would. */
    static char wrapped[LEN * 2];
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && i % 76 == 0) wrapped[w++] = '\n';
        wrapped[w++] = text[i];
    }
    memset(q, 0, sizeof q);
    ASSERT_OK(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_EVIDENCE, wrapped, w));
    ASSERT_EQ(got, LEN);
    ASSERT_MEM(p, q, LEN);
}

static void test_known_answer(void)
{
    init();
    uint8_t p[16];
    for (size_t i = 0; i < 16; i++) p[i] = (uint8_t)i;
    char hex[9];
    checksum_hex(hex, "coin", p, sizeof p);
    ASSERT_STR(hex, "66b79916");
    char text[64];
    size_t n = arm(text, sizeof text, DC_ARMOR_COIN, p, sizeof p);
    ASSERT_STR(text, KAT_TEXT);
    ASSERT_EQ(n, strlen(KAT_TEXT));
    /* Decode from an exact-size heap copy with no NUL, so ASan sees any overread. */
    char *copy = malloc(n);
    ASSERT(copy != NULL);
    memcpy(copy, KAT_TEXT, n);
    uint8_t q[16];
    size_t got = 0;
    enum dc_err e = dc_armor_decode(q, sizeof q, &got, DC_ARMOR_COIN, copy, n);
    free(copy);
    ASSERT_OK(e);
    ASSERT_EQ(got, 16);
    ASSERT_MEM(p, q, 16);
    /* Other kinds hash their own word: same payload, different checksum. */
    n = arm(text, sizeof text, DC_ARMOR_RECEIPT, p, sizeof p);
    checksum_hex(hex, "receipt", p, sizeof p);
    ASSERT(n > 8);
    ASSERT_STR(text + n - 8, hex);
    ASSERT(strcmp(hex, "66b79916") != 0);
}

static void test_empty_payload(void)
{
    init();
    char text[64];
    size_t n = 99;
    uint8_t b = 0;
    ASSERT_ERR(dc_armor_encode(text, sizeof text, &n, DC_ARMOR_COIN, &b, 0),
               DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(n, 0);
    ASSERT_STR(text, "");
    /* Even with the right checksum for zero bytes, an empty body is malformed. */
    char hex[9];
    checksum_hex(hex, "coin", NULL, 0);
    snprintf(text, sizeof text, "ducat:coin:1::%s", hex);
    ASSERT_ERR(dec(text, DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
    snprintf(text, sizeof text, "ducat:coin:1: \n :%s", hex);
    ASSERT_ERR(dec(text, DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
}

static void test_whitespace(void)
{
    init();
    static const char *const ok[] = {
        "  ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916  ",
        "\r\n\tducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916\r\n",
        "ducat : coin : 1 : AAECAwQF BgcICQoL DA0ODw : 66b79916",
        "d u c a t:c\to\ri\nn:1:AAECAwQFBgcICQoLDA0ODw:66 b7\n99 16",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b7991\n6\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) ASSERT_OK(dec(ok[i], DC_ARMOR_COIN));

    /* Wrapped at every width with LF, CRLF and indentation. */
    static const char *const breaks[] = {"\n", "\r\n", "\n    ", "\t", " "};
    const size_t n = strlen(KAT_TEXT);
    for (size_t b = 0; b < sizeof breaks / sizeof breaks[0]; b++) {
        for (size_t width = 1; width <= n; width++) {
            char buf[512];
            size_t w = 0, bl = strlen(breaks[b]);
            for (size_t i = 0; i < n; i++) {
                if (i && i % width == 0) {
                    memcpy(buf + w, breaks[b], bl);
                    w += bl;
                }
                buf[w++] = KAT_TEXT[i];
            }
            uint8_t q[16];
            size_t got = 0;
            ASSERT_OK(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_COIN, buf, w));
            ASSERT_EQ(got, 16);
            ASSERT_EQ(q[15], 15);
        }
    }
    /* Only space, tab, CR and LF count as whitespace. */
    ASSERT_ERR(dec("ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916\v", DC_ARMOR_COIN),
               DC_ERR_ARMOR_SYNTAX);
    ASSERT_ERR(dec("\fducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_SYNTAX);
    ASSERT_ERR(dec("ducat:coin:1:AAECAwQFBgcI\x85"
                   "CQoLDA0ODw:66b79916",
                   DC_ARMOR_COIN),
               DC_ERR_ARMOR_SYNTAX);
}

static void test_every_substitution_rejected(void)
{
    init();
    const char *alpha = B64_ALPHABET ":";
    const size_t n = strlen(KAT_TEXT);
    const size_t body = strlen("ducat:coin:1:"); /* first body character */
    size_t tried = 0;
    for (size_t pos = 0; pos < n; pos++) {
        for (const char *a = alpha; *a; a++) {
            if (*a == KAT_TEXT[pos]) continue;
            char buf[64];
            memcpy(buf, KAT_TEXT, n + 1);
            buf[pos] = *a;
            enum dc_err e = dec(buf, DC_ARMOR_COIN);
            if (e == DC_OK) FAIL_AT("'%s' accepted", buf);
            if (pos >= body) {
                if (e != DC_ERR_ARMOR_CHECKSUM && e != DC_ERR_ARMOR_SYNTAX)
                    FAIL_AT("'%s': %s", buf, dc_err_name(e));
            } else if (e != DC_ERR_ARMOR_SYNTAX && e != DC_ERR_ARMOR_KIND &&
                       e != DC_ERR_ARMOR_VERSION) {
                FAIL_AT("'%s': %s", buf, dc_err_name(e));
            }
            tried++;
        }
    }
    ASSERT(tried > 40 * 60);
    /* Adjacent transpositions, the other common typo. */
    for (size_t pos = 0; pos + 1 < n; pos++) {
        if (KAT_TEXT[pos] == KAT_TEXT[pos + 1]) continue;
        char buf[64];
        memcpy(buf, KAT_TEXT, n + 1);
        buf[pos] = KAT_TEXT[pos + 1];
        buf[pos + 1] = KAT_TEXT[pos];
        if (dec(buf, DC_ARMOR_COIN) == DC_OK) FAIL_AT("'%s' accepted", buf);
    }
    /* Deleting or duplicating any one character. */
    for (size_t pos = 0; pos < n; pos++) {
        char buf[64];
        memcpy(buf, KAT_TEXT, pos);
        memcpy(buf + pos, kat + pos + 1, n - pos);
        if (dec(buf, DC_ARMOR_COIN) == DC_OK) FAIL_AT("'%s' accepted", buf);
        memcpy(buf, KAT_TEXT, pos + 1);
        memcpy(buf + pos + 1, kat + pos, n - pos + 1);
        if (dec(buf, DC_ARMOR_COIN) == DC_OK) FAIL_AT("'%s' accepted", buf);
    }
    /* A body typo in a valid-looking armor is reported as a checksum failure. */
    ASSERT_ERR(dec("ducat:coin:1:AAECAwQFBgcICQoLDA0ODx:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_SYNTAX); /* x leaves padding bits set */
    ASSERT_ERR(dec("ducat:coin:1:AAECAwQFBgcICQoLDA0ODg:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_CHECKSUM);
    ASSERT_ERR(dec("ducat:coin:1:BAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_CHECKSUM);
    ASSERT_ERR(dec("ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79917", DC_ARMOR_COIN),
               DC_ERR_ARMOR_CHECKSUM);
}

static void test_wrong_kind(void)
{
    init();
    ASSERT_ERR(dec(KAT_TEXT, DC_ARMOR_REQUEST), DC_ERR_ARMOR_KIND);
    ASSERT_ERR(dec(KAT_TEXT, DC_ARMOR_DEVCERT), DC_ERR_ARMOR_KIND);
    /* Unknown but well-formed words are the wrong kind too. */
    ASSERT_ERR(dec("ducat:voucher:1:AAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_KIND);
    ASSERT_ERR(dec("ducat:coins:1:AAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_KIND);
    ASSERT_ERR(dec("ducat:coi:1:AAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_KIND);
    /* Not a lower-case word: malformed. */
    ASSERT_ERR(dec("ducat:Coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_SYNTAX);
    ASSERT_ERR(dec("ducat:COIN:1:AAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_SYNTAX);
    ASSERT_ERR(dec("ducat:co1n:1:AAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_SYNTAX);
    ASSERT_ERR(dec("ducat:key-cert:1:AAECAwQFBgcICQoLDA0ODw:66b79916", DC_ARMOR_KEYCERT),
               DC_ERR_ARMOR_SYNTAX);
    /* Kind is checked before version and checksum. */
    ASSERT_ERR(dec("ducat:request:7:AAECAwQFBgcICQoLDA0ODw:00000000", DC_ARMOR_COIN),
               DC_ERR_ARMOR_KIND);
    ASSERT_ERR(dec("ducat:request:1:A:00000000", DC_ARMOR_COIN), DC_ERR_ARMOR_KIND);
    /* An unknown expected kind is a caller bug. */
    uint8_t q[16];
    size_t got = 99;
    ASSERT_ERR(
        dc_armor_decode(q, sizeof q, &got, (enum dc_armor_kind)0, KAT_TEXT, strlen(KAT_TEXT)),
        DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(got, 0);
    ASSERT_ERR(dc_armor_decode(q, sizeof q, &got, (enum dc_armor_kind)(DC_ARMOR_REFUSAL + 1),
                               KAT_TEXT, strlen(KAT_TEXT)),
               DC_ERR_INVALID_ARGUMENT);
    char text[64];
    size_t n = 99;
    ASSERT_ERR(
        dc_armor_encode(text, sizeof text, &n, (enum dc_armor_kind)(DC_ARMOR_REFUSAL + 1), q, 4),
        DC_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(n, 0);
    ASSERT_STR(text, "");
}

static void test_wrong_version(void)
{
    init();
    static const char *const bad[] = {"0",  "2",  "9",    "01",
                                      "10", "11", "0001", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "ducat:coin:%s:AAECAwQFBgcICQoLDA0ODw:66b79916", bad[i]);
        ASSERT_ERR(dec(text, DC_ARMOR_COIN), DC_ERR_ARMOR_VERSION);
    }
    static const char *const malformed[] = {"", "v1", "1a", "one", "-1", "+1", "1.0"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "ducat:coin:%s:AAECAwQFBgcICQoLDA0ODw:66b79916", malformed[i]);
        ASSERT_ERR(dec(text, DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
    }
    /* Version is checked before base64 and checksum. */
    ASSERT_ERR(dec("ducat:coin:2:AB:00000000", DC_ARMOR_COIN), DC_ERR_ARMOR_VERSION);
    ASSERT_ERR(dec("ducat:coin:2:A:00000000", DC_ARMOR_COIN), DC_ERR_ARMOR_VERSION);
}

static void test_prefix(void)
{
    init();
    static const char *const bad[] = {
        "DUCAT:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "Ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "ducaT:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "ducats:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "duca:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "xducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        ":coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "dinar:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ASSERT_ERR(dec(bad[i], DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
}

static void test_missing_fields(void)
{
    init();
    static const char *const bad[] = {
        "",
        "   \n",
        "ducat",
        "ducat:",
        "ducat:coin",
        "ducat:coin:1",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:",
        "ducat:coin:1::66b79916",
        "ducat:coin::AAECAwQFBgcICQoLDA0ODw:66b79916",
        "ducat::1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "ducat:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "ducat:coin:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "ducat:coin:1:66b79916",
        "::::",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (dec(bad[i], DC_ARMOR_COIN) != DC_ERR_ARMOR_SYNTAX) FAIL_AT("'%s'", bad[i]);
    }
    uint8_t q[4];
    size_t got = 99;
    ASSERT_ERR(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_COIN, NULL, 0), DC_ERR_ARMOR_SYNTAX);
    ASSERT_EQ(got, 0);
}

static void test_extra_colon_and_garbage(void)
{
    init();
    static const char *const bad[] = {
        "ducat:coin:1:AAECAwQFBgcI:CQoLDA0ODw:66b79916",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916:",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw::66b79916",
        "ducat::coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        ":ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916x",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b799160",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b7991",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66B79916",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b7991g",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:0x66b79916",
        "xducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw==:66b79916",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0OD+:66b79916",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0OD/:66b79916",
        "ducat:coin:1:AAECAwQFBgcI.CQoLDA0ODw:66b79916",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916 ducat",
        "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79916",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (dec(bad[i], DC_ARMOR_COIN) != DC_ERR_ARMOR_SYNTAX) FAIL_AT("'%s'", bad[i]);
    }
    /* An embedded NUL or a non-ASCII byte anywhere; decode uses len, not strlen. */
    const size_t n = strlen(KAT_TEXT);
    for (size_t pos = 0; pos <= n; pos++) {
        static const char odd[] = {'\0', '\x7f', '\x80', '\xc3', '\xff', '\x01', '\x1b'};
        for (size_t j = 0; j < sizeof odd; j++) {
            char buf[64];
            memcpy(buf, KAT_TEXT, pos);
            buf[pos] = odd[j];
            memcpy(buf + pos + 1, kat + pos, n - pos);
            uint8_t q[16];
            size_t got = 99;
            ASSERT_ERR(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_COIN, buf, n + 1),
                       DC_ERR_ARMOR_SYNTAX);
            ASSERT_EQ(got, 0);
        }
    }
    /* Shape and characters are checked before the kind. */
    ASSERT_ERR(dec("ducat:request:1:AAECAwQFBgcI:CQoLDA0ODw:66b79916", DC_ARMOR_COIN),
               DC_ERR_ARMOR_SYNTAX);
    uint8_t q[16];
    size_t got = 0;
    ASSERT_ERR(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_COIN,
                               "ducat:request:1:AAECAwQF\0BgcICQoLDA0ODw:66b79916", n + 4),
               DC_ERR_ARMOR_SYNTAX);
    /* A text cut short by len is not read past len. */
    ASSERT_ERR(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_COIN, KAT_TEXT, n - 1),
               DC_ERR_ARMOR_SYNTAX);
}

static void test_non_canonical_base64(void)
{
    init();
    /* For 1- and 2-byte payloads, every value of the unused low bits but 0 is rejected as
     * malformed, even though a lenient decoder would get the right bytes and checksum. */
    for (size_t len = 1; len <= 5; len++) {
        if (len % 3 == 0) continue;
        uint8_t p[8];
        fill(p, len, (unsigned)len);
        char text[64];
        size_t n = arm(text, sizeof text, DC_ARMOR_PAYMENT, p, len);
        ASSERT_OK(dec(text, DC_ARMOR_PAYMENT));
        char *last = text + n - 10; /* last body character, before ":xxxxxxxx" */
        const char *alpha = B64_ALPHABET;
        size_t v = (size_t)(strchr(alpha, *last) - alpha);
        unsigned pad_bits = len % 3 == 1 ? 4 : 2;
        ASSERT_EQ(v & ((1u << pad_bits) - 1), 0);
        for (size_t low = 1; low < (1u << pad_bits); low++) {
            *last = alpha[v | low];
            ASSERT_ERR(dec(text, DC_ARMOR_PAYMENT), DC_ERR_ARMOR_SYNTAX);
        }
    }
    /* Fixed examples: "AA" = 00, "AB".."AP" carry stray bits; "AAA" = 00 00, "AAB" not. */
    char hex[9], text[64];
    const uint8_t zero[2] = {0, 0};
    checksum_hex(hex, "coin", zero, 1);
    snprintf(text, sizeof text, "ducat:coin:1:AA:%s", hex);
    ASSERT_OK(dec(text, DC_ARMOR_COIN));
    snprintf(text, sizeof text, "ducat:coin:1:AB:%s", hex);
    ASSERT_ERR(dec(text, DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
    snprintf(text, sizeof text, "ducat:coin:1:AP:%s", hex);
    ASSERT_ERR(dec(text, DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
    checksum_hex(hex, "coin", zero, 2);
    snprintf(text, sizeof text, "ducat:coin:1:AAA:%s", hex);
    ASSERT_OK(dec(text, DC_ARMOR_COIN));
    snprintf(text, sizeof text, "ducat:coin:1:AAB:%s", hex);
    ASSERT_ERR(dec(text, DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
    /* Body lengths of 1 mod 4 never encode whole bytes. */
    ASSERT_ERR(dec("ducat:coin:1:A:66b79916", DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
    ASSERT_ERR(dec("ducat:coin:1:AAAAA:66b79916", DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
    /* Non-canonical bits in a long body that spans several internal chunks. */
    uint8_t p[100];
    fill(p, sizeof p, 3);
    char big[256];
    size_t n = arm(big, sizeof big, DC_ARMOR_COIN, p, sizeof p);
    ASSERT_OK(dec(big, DC_ARMOR_COIN));
    const char *alpha = B64_ALPHABET;
    big[n - 10] = alpha[(size_t)(strchr(alpha, big[n - 10]) - alpha) | 1]; /* 100 % 3 == 1 */
    ASSERT_ERR(dec(big, DC_ARMOR_COIN), DC_ERR_ARMOR_SYNTAX);
}

static void test_encode_buffer_too_small(void)
{
    init();
    uint8_t p[16];
    for (size_t i = 0; i < 16; i++) p[i] = (uint8_t)i;
    const size_t need = strlen(KAT_TEXT) + 1;
    char text[64];
    for (size_t cap = 1; cap < need; cap++) {
        size_t n = 0;
        memset(text, 'Z', sizeof text);
        ASSERT_ERR(dc_armor_encode(text, cap, &n, DC_ARMOR_COIN, p, sizeof p),
                   DC_ERR_BUFFER_TOO_SMALL);
        ASSERT_EQ(n, need);
        ASSERT_EQ(text[0], '\0');
        for (size_t i = 1; i < sizeof text; i++) ASSERT_EQ(text[i], 'Z');
    }
    size_t n = 0;
    ASSERT_ERR(dc_armor_encode(NULL, 0, &n, DC_ARMOR_COIN, p, sizeof p), DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(n, need);
    memset(text, 'Z', sizeof text);
    ASSERT_OK(dc_armor_encode(text, need, &n, DC_ARMOR_COIN, p, sizeof p));
    ASSERT_EQ(n, need - 1);
    ASSERT_STR(text, KAT_TEXT);
    ASSERT_EQ(text[need], 'Z');
}

static void test_decode_buffer_too_small(void)
{
    init();
    const size_t len = strlen(KAT_TEXT);
    uint8_t q[32];
    for (size_t cap = 0; cap < 16; cap++) {
        size_t got = 0;
        memset(q, 0xAA, sizeof q);
        ASSERT_ERR(dc_armor_decode(q, cap, &got, DC_ARMOR_COIN, KAT_TEXT, len),
                   DC_ERR_BUFFER_TOO_SMALL);
        ASSERT_EQ(got, 16);
        for (size_t i = 0; i < sizeof q; i++) ASSERT_EQ(q[i], 0xAA);
    }
    size_t got = 0;
    ASSERT_ERR(dc_armor_decode(NULL, 0, &got, DC_ARMOR_COIN, KAT_TEXT, len),
               DC_ERR_BUFFER_TOO_SMALL);
    ASSERT_EQ(got, 16);
    /* Size reporting needs a valid armor: every other check comes first. */
    got = 99;
    ASSERT_ERR(dc_armor_decode(NULL, 0, &got, DC_ARMOR_COIN,
                               "ducat:coin:1:AAECAwQFBgcICQoLDA0ODw:66b79917", len),
               DC_ERR_ARMOR_CHECKSUM);
    ASSERT_EQ(got, 0);
    ASSERT_ERR(dc_armor_decode(q, 4, &got, DC_ARMOR_COIN,
                               "ducat:coin:1:AAECAwQFBgcICQoLDA0ODx:66b79916", len),
               DC_ERR_ARMOR_SYNTAX);
    ASSERT_ERR(dc_armor_decode(q, 4, &got, DC_ARMOR_KEYREQ, KAT_TEXT, len), DC_ERR_ARMOR_KIND);
    memset(q, 0xAA, sizeof q);
    ASSERT_OK(dc_armor_decode(q, 16, &got, DC_ARMOR_COIN, KAT_TEXT, len));
    ASSERT_EQ(got, 16);
    ASSERT_EQ(q[15], 15);
    ASSERT_EQ(q[16], 0xAA);
}

static void test_error_leaves_nothing(void)
{
    init();
    uint8_t p[200], q[200];
    fill(p, sizeof p, 5);
    char text[512];
    size_t n = arm(text, sizeof text, DC_ARMOR_KEYCERT, p, sizeof p);
    text[n - 1] = (char)(text[n - 1] == '0' ? '1' : '0'); /* break the checksum */
    size_t got = 99;
    memset(q, 0, sizeof q);
    ASSERT_ERR(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_KEYCERT, text, n),
               DC_ERR_ARMOR_CHECKSUM);
    ASSERT_EQ(got, 0);
    for (size_t i = 0; i < sizeof q; i++) ASSERT_EQ(q[i], 0);
    /* Bad padding bits in the last of several internal chunks: earlier chunks were
     * already decoded into q, and must be wiped. */
    text[n - 1] = (char)(text[n - 1] == '0' ? '1' : '0'); /* restore */
    const char *alpha = B64_ALPHABET;
    text[n - 10] = alpha[(size_t)(strchr(alpha, text[n - 10]) - alpha) | 1]; /* 200 % 3 == 2 */
    got = 99;
    ASSERT_ERR(dc_armor_decode(q, sizeof q, &got, DC_ARMOR_KEYCERT, text, n), DC_ERR_ARMOR_SYNTAX);
    ASSERT_EQ(got, 0);
    for (size_t i = 0; i < sizeof q; i++) ASSERT_EQ(q[i], 0);
}

TESTS(T(test_kind_names), T(test_encoded_len), T(test_round_trip_all_kinds), T(test_round_trip_20k),
      T(test_known_answer), T(test_empty_payload), T(test_whitespace),
      T(test_every_substitution_rejected), T(test_wrong_kind), T(test_wrong_version),
      T(test_prefix), T(test_missing_fields), T(test_extra_colon_and_garbage),
      T(test_non_canonical_base64), T(test_encode_buffer_too_small),
      T(test_decode_buffer_too_small), T(test_error_leaves_nothing))
