/*
 * armor.c - text armor "ducat:<kind>:1:<base64url>:<checksum>" (see ducat/armor.h).
 *
 * Why: coins, payment requests and certificates travel through files, QR
 * codes and chat windows, which wrap lines, add spaces and invite typos. The
 * armor names what the bytes are (so a receipt is never fed to the coin
 * parser), is versioned, and carries a 32-bit checksum so a typo is reported
 * as a typo before any signature check runs.
 *
 * Decoding never copies the text: one pass validates the characters and
 * finds the four field separators, each field is then examined in place with
 * whitespace skipped, and the body is fed to sodium_base642bin() in small
 * chunks of non-whitespace characters. sodium's own `ignore` parameter is not
 * used: it finds ignorable characters with strchr(), which also matches NUL,
 * and an embedded NUL must be a syntax error here.
 *
 * Canonical base64: libsodium 1.0.18 rejects a final character with nonzero
 * unused bits ("AB", "AAB") and a lone final character ("A"); unit tests pin
 * that, so a libsodium change would be caught rather than silently accepted.
 *
 * Invariants: pure (no I/O, malloc, globals, clock or RNG); never reads
 * text[len] or beyond; `out` holds the payload only after DC_OK.
 */
#include "ducat/armor.h"

#include <sodium.h>
#include <string.h>

#include "ducat/crypto.h"

#define PREFIX "ducat"
#define VERSION "1"
#define DOMAIN "ducat-armor"
#define CHECK_HEX 8              /* checksum characters in the text */
#define CHECK_BYTES 4            /* = CHECK_HEX / 2 */
#define HASH_BYTES DC_HASH_BYTES /* BLAKE2b-256 */
#define CHUNK_CHARS 64           /* base64 characters decoded per sodium call; multiple of 4 */
#define CHUNK_BYTES 48           /* = CHUNK_CHARS / 4 * 3 */
#define HEADER_MAX 32            /* "ducat:" + longest kind + ":1:" fits easily */
#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

_Static_assert(CHUNK_CHARS % 4 == 0, "only the last chunk may have a partial quantum");
_Static_assert(CHUNK_BYTES == CHUNK_CHARS / 4 * 3, "chunk sizes disagree");
_Static_assert(CHECK_HEX == 2 * CHECK_BYTES, "checksum sizes disagree");

/* Indexed by enum dc_armor_kind; DC_ARMOR_REFUSAL is the last kind. */
static const char *const kind_names[] = {
    [DC_ARMOR_COIN] = "coin",         [DC_ARMOR_REQUEST] = "request",
    [DC_ARMOR_PAYMENT] = "payment",   [DC_ARMOR_RECEIPT] = "receipt",
    [DC_ARMOR_EVIDENCE] = "evidence", [DC_ARMOR_KEYCERT] = "keycert",
    [DC_ARMOR_KEYREQ] = "keyreq",     [DC_ARMOR_DEVCERT] = "devcert",
    [DC_ARMOR_REFUSAL] = "refusal",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == DC_ARMOR_REFUSAL + 1,
               "every kind needs a name");

const char *dc_armor_kind_name(enum dc_armor_kind kind)
{
    if (kind < DC_ARMOR_COIN || kind > DC_ARMOR_REFUSAL) return NULL;
    return kind_names[kind];
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

static int is_b64(char c)
{
    return is_lower(c) || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '_';
}

/* Length of the base64url text (no padding) for len bytes; caller checked overflow. */
static size_t b64_len(size_t len)
{
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

/* Writes "ducat:<name>:1:" into h (HEADER_MAX bytes); returns its length. */
static size_t header(char h[HEADER_MAX], const char *name)
{
    static const char pre[] = PREFIX ":", post[] = ":" VERSION ":";
    size_t n = 0, k = strlen(name);
    memcpy(h + n, pre, sizeof pre - 1);
    n += sizeof pre - 1;
    memcpy(h + n, name, k);
    n += k;
    memcpy(h + n, post, sizeof post - 1);
    return n + sizeof post - 1;
}

/* Starts the checksum hash: BLAKE2b-256("ducat-armor" || header || payload...). */
static void hash_start(struct dc_hash *st, const char *h, size_t hn)
{
    dc_hash_init_plain(st);
    dc_hash_update(st, (const uint8_t *)DOMAIN, sizeof DOMAIN - 1);
    dc_hash_update(st, (const uint8_t *)h, hn);
}

size_t dc_armor_encoded_len(enum dc_armor_kind kind, size_t len)
{
    const char *name = dc_armor_kind_name(kind);
    if (!name || len == 0) return 0;
    /* "ducat" ":" kind ":" "1" ":" body ":" checksum; sizeof counts the NUL. */
    size_t fixed =
        (sizeof PREFIX - 1) + 1 + strlen(name) + 1 + (sizeof VERSION - 1) + 1 + 1 + CHECK_HEX;
    /* b64_len(len) <= len / 3 * 4 + 3; keep the total and its NUL within SIZE_MAX. */
    if (len / 3 > (SIZE_MAX - fixed - 4) / 4) return 0;
    return fixed + b64_len(len);
}

enum dc_err dc_armor_encode(char *out, size_t cap, size_t *out_len, enum dc_armor_kind kind,
                            const uint8_t *bin, size_t len)
{
    *out_len = 0;
    if (out && cap > 0) out[0] = '\0';
    const char *name = dc_armor_kind_name(kind);
    if (!name || len == 0 || !bin) return DC_ERR_INVALID_ARGUMENT;
    size_t total = dc_armor_encoded_len(kind, len);
    if (total == 0) return DC_ERR_INVALID_ARGUMENT; /* size_t overflow */
    if (!out || cap <= total) {
        *out_len = total + 1;
        return DC_ERR_BUFFER_TOO_SMALL;
    }

    char h[HEADER_MAX];
    size_t hn = header(h, name), n = hn;
    memcpy(out, h, hn);
    /* Writes the body and a NUL; the space check above makes sodium_misuse() unreachable. */
    sodium_bin2base64(out + n, cap - n, bin, len, VARIANT);
    n += b64_len(len);
    out[n++] = ':';

    uint8_t hash[HASH_BYTES];
    struct dc_hash st;
    hash_start(&st, h, hn);
    dc_hash_update(&st, bin, len);
    dc_hash_final(&st, hash);
    sodium_bin2hex(out + n, cap - n, hash, CHECK_BYTES); /* lower-case, NUL-terminated */
    n += CHECK_HEX;
    *out_len = n;
    return DC_OK;
}

/* A field of the text: raw bytes [b, e), whitespace inside still present. */
struct field {
    size_t b, e;
};

/* Non-whitespace characters of f. */
static size_t field_count(const char *text, struct field f)
{
    size_t n = 0;
    for (size_t i = f.b; i < f.e; i++) n += !is_space(text[i]);
    return n;
}

/* 1 if every non-whitespace character of f satisfies ok() and there are min..max of them. */
static int field_all(const char *text, struct field f, int (*ok)(char), size_t min, size_t max)
{
    size_t n = 0;
    for (size_t i = f.b; i < f.e; i++) {
        if (is_space(text[i])) continue;
        if (!ok(text[i])) return 0;
        n++;
    }
    return n >= min && n <= max;
}

/* 1 if the non-whitespace characters of f spell exactly word. */
static int field_is(const char *text, struct field f, const char *word)
{
    size_t k = 0;
    for (size_t i = f.b; i < f.e; i++) {
        if (is_space(text[i])) continue;
        if (word[k] == '\0' || text[i] != word[k]) return 0;
        k++;
    }
    return word[k] == '\0';
}

/*
 * Decodes the body field, hashing the payload into st and copying it to out
 * when `write` is set (out then has room for all of it). Returns 0 on success,
 * -1 on invalid or non-canonical base64 (after wiping what it wrote).
 */
static int decode_body(uint8_t *out, int write, struct dc_hash *st, const char *text,
                       struct field f)
{
    char chunk[CHUNK_CHARS];
    uint8_t bin[CHUNK_BYTES];
    size_t done = 0, c = 0, i = f.b;
    int bad = 0;
    for (;;) {
        while (i < f.e && c < CHUNK_CHARS) {
            if (!is_space(text[i])) chunk[c++] = text[i];
            i++;
        }
        if (c == 0) break;
        size_t got = 0;
        if (sodium_base642bin(bin, sizeof bin, chunk, c, NULL, &got, NULL, VARIANT) != 0 ||
            got != c / 4 * 3 + (c % 4 ? c % 4 - 1 : 0)) {
            bad = 1;
            break;
        }
        dc_hash_update(st, bin, got);
        if (write) memcpy(out + done, bin, got);
        done += got;
        c = 0;
    }
    sodium_memzero(bin, sizeof bin);
    sodium_memzero(chunk, sizeof chunk);
    if (bad && write) sodium_memzero(out, done);
    return bad ? -1 : 0;
}

enum dc_err dc_armor_decode(uint8_t *out, size_t cap, size_t *out_len, enum dc_armor_kind kind,
                            const char *text, size_t len)
{
    *out_len = 0;
    const char *want = dc_armor_kind_name(kind);
    if (!want) return DC_ERR_INVALID_ARGUMENT;

    /* Shape: printable ASCII or whitespace only, exactly four ':' separators. */
    struct field fld[5];
    size_t nf = 0, start = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (is_space(c)) continue;
        if (c < '!' || c > '~') return DC_ERR_ARMOR_SYNTAX; /* NUL, controls, non-ASCII */
        if (c != ':') continue;
        if (nf == 4) return DC_ERR_ARMOR_SYNTAX;
        fld[nf++] = (struct field){start, i};
        start = i + 1;
    }
    if (nf != 4) return DC_ERR_ARMOR_SYNTAX;
    fld[4] = (struct field){start, len};

    /* Syntax of each field. */
    if (!field_is(text, fld[0], PREFIX)) return DC_ERR_ARMOR_SYNTAX;
    if (!field_all(text, fld[1], is_lower, 1, SIZE_MAX)) return DC_ERR_ARMOR_SYNTAX;
    if (!field_all(text, fld[2], is_digit, 1, SIZE_MAX)) return DC_ERR_ARMOR_SYNTAX;
    if (!field_all(text, fld[3], is_b64, 1, SIZE_MAX)) return DC_ERR_ARMOR_SYNTAX;
    if (!field_all(text, fld[4], is_hex, CHECK_HEX, CHECK_HEX)) return DC_ERR_ARMOR_SYNTAX;

    /* Kind: any well-formed word other than the expected one, known or not. */
    if (!field_is(text, fld[1], want)) return DC_ERR_ARMOR_KIND;
    /* Version: only "1" exists; "2", "01", "10" are versions this code cannot read. */
    if (!field_is(text, fld[2], VERSION)) return DC_ERR_ARMOR_VERSION;

    /* Base64: a lone final character never encodes a whole byte. */
    size_t chars = field_count(text, fld[3]);
    if (chars % 4 == 1) return DC_ERR_ARMOR_SYNTAX;
    size_t need = chars / 4 * 3 + (chars % 4 ? chars % 4 - 1 : 0);
    int write = out != NULL && need <= cap;

    char h[HEADER_MAX];
    size_t hn = header(h, want);
    struct dc_hash st;
    hash_start(&st, h, hn);
    if (decode_body(out, write, &st, text, fld[3]) != 0) return DC_ERR_ARMOR_SYNTAX;

    /* Checksum: compare hex text with hex text (both lower-case, syntax checked above). */
    uint8_t hash[HASH_BYTES];
    dc_hash_final(&st, hash);
    char want_hex[CHECK_HEX + 1], got_hex[CHECK_HEX];
    sodium_bin2hex(want_hex, sizeof want_hex, hash, CHECK_BYTES);
    size_t k = 0;
    for (size_t i = fld[4].b; i < fld[4].e; i++) {
        if (!is_space(text[i])) got_hex[k++] = text[i];
    }
    if (sodium_memcmp(want_hex, got_hex, CHECK_HEX) != 0) {
        if (write) sodium_memzero(out, need);
        return DC_ERR_ARMOR_CHECKSUM;
    }

    *out_len = need;
    return write ? DC_OK : DC_ERR_BUFFER_TOO_SMALL;
}
