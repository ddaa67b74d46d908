/*
 * fuzz_armor.c - libFuzzer target for the text armor (src/core/armor.c).
 *
 * Properties, each violation ends in abort():
 *  1. The input as text, decoded as every kind: only documented errors; at
 *     most one kind accepts it; an accepted text is canonical up to
 *     whitespace (re-encoding the payload gives the input minus whitespace),
 *     decodes again to the same payload, and reports BUFFER_TOO_SMALL with
 *     the exact size for a buffer one byte short.
 *  2. The input as a payload: encode gives exactly dc_armor_encoded_len()
 *     characters and decodes back to the input, also when line-wrapped, and
 *     never decodes as another kind.
 * Heap buffers of exact size let ASan catch any overrun.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/armor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    CHECK(p != NULL);
    return p;
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Property 1 for one kind; returns 1 if the text was accepted. */
static int check_text(enum dc_armor_kind kind, const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t cap = size, got = 0;
    uint8_t *out = xmalloc(cap);
    enum dc_err e = dc_armor_decode(out, cap, &got, kind, text, size);
    if (e != DC_OK) {
        CHECK(e == DC_ERR_ARMOR_SYNTAX || e == DC_ERR_ARMOR_KIND || e == DC_ERR_ARMOR_VERSION ||
              e == DC_ERR_ARMOR_CHECKSUM);
        CHECK(got == 0);
        free(out);
        return 0;
    }
    CHECK(got > 0 && got <= size);

    /* Canonical: the re-encoding is the input with whitespace removed. */
    size_t tlen = dc_armor_encoded_len(kind, got), n = 0;
    CHECK(tlen > 0);
    char *re = xmalloc(tlen + 1);
    CHECK(dc_armor_encode(re, tlen + 1, &n, kind, out, got) == DC_OK);
    CHECK(n == tlen);
    size_t j = 0;
    for (size_t i = 0; i < size; i++) {
        if (is_space(data[i])) continue;
        CHECK(j < n && (char)data[i] == re[j]);
        j++;
    }
    CHECK(j == n);

    /* Decodes again, to the same bytes, into an exact-size buffer. */
    uint8_t *again = xmalloc(got);
    size_t got2 = 0;
    CHECK(dc_armor_decode(again, got, &got2, kind, re, n) == DC_OK);
    CHECK(got2 == got && memcmp(again, out, got) == 0);

    /* One byte short: BUFFER_TOO_SMALL with the exact size, nothing written. */
    got2 = 0;
    memset(again, 0x5a, got);
    CHECK(dc_armor_decode(again, got - 1, &got2, kind, text, size) == DC_ERR_BUFFER_TOO_SMALL);
    CHECK(got2 == got);
    for (size_t i = 0; i < got; i++) CHECK(again[i] == 0x5a);

    free(again);
    free(re);
    free(out);
    return 1;
}

/* Property 2: data as a payload of `kind`. */
static void check_payload(enum dc_armor_kind kind, const uint8_t *data, size_t size)
{
    size_t n = 0, tlen = dc_armor_encoded_len(kind, size);
    if (size == 0) {
        CHECK(tlen == 0);
        char c = 'x';
        CHECK(dc_armor_encode(&c, 1, &n, kind, data, 0) == DC_ERR_INVALID_ARGUMENT);
        CHECK(n == 0 && c == '\0');
        return;
    }
    CHECK(dc_armor_encode(NULL, 0, &n, kind, data, size) == DC_ERR_BUFFER_TOO_SMALL);
    CHECK(n == tlen + 1);
    char *text = xmalloc(tlen + 1);
    CHECK(dc_armor_encode(text, tlen + 1, &n, kind, data, size) == DC_OK);
    CHECK(n == tlen && strlen(text) == tlen);

    uint8_t *out = xmalloc(size);
    size_t got = 0;
    CHECK(dc_armor_decode(out, size, &got, kind, text, n) == DC_OK);
    CHECK(got == size && memcmp(out, data, size) == 0);

    /* Wrapped every `w` characters with CRLF; w from the data. */
    size_t w = 1 + data[0] % 80, wlen = n + (n / w) * 2;
    char *wrapped = xmalloc(wlen);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && i % w == 0) {
            wrapped[k++] = '\r';
            wrapped[k++] = '\n';
        }
        wrapped[k++] = text[i];
    }
    CHECK(k <= wlen);
    memset(out, 0, size);
    CHECK(dc_armor_decode(out, size, &got, kind, wrapped, k) == DC_OK);
    CHECK(got == size && memcmp(out, data, size) == 0);

    /* Never another kind. */
    enum dc_armor_kind other =
        kind == DC_ARMOR_DEVCERT ? DC_ARMOR_COIN : (enum dc_armor_kind)(kind + 1);
    CHECK(dc_armor_decode(out, size, &got, other, text, n) == DC_ERR_ARMOR_KIND);

    free(wrapped);
    free(out);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        CHECK(sodium_init() >= 0);
        ready = 1;
    }
    int accepted = 0;
    for (int k = DC_ARMOR_COIN; k <= DC_ARMOR_DEVCERT; k++)
        accepted += check_text((enum dc_armor_kind)k, data, size);
    CHECK(accepted <= 1);

    enum dc_armor_kind kind =
        (enum dc_armor_kind)(DC_ARMOR_COIN + (size ? data[size - 1] % DC_ARMOR_DEVCERT : 0));
    check_payload(kind, data, size);
    return 0;
}
