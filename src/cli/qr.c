/*
 * qr.c - armor as QR codes (libqrencode): on the terminal and as PNG files
 * (libpng), split into a numbered sequence when one code would be too dense
 * to scan comfortably, and joined again from the parts in any order.
 *
 * A part is one line of text:
 *
 *     ducat-qr:<i>/<n>:<check>:<chunk>
 *
 * 1 <= i <= n <= 99; <check> is the armor's own 8-hex-digit checksum (its
 * last field), the same in every part, so parts of two different messages
 * never mix; <chunk> is the i-th piece of the armor text, QR_CHUNK
 * characters each but the last. An armor of at most QR_SINGLE characters is
 * shown as one code of the plain armor. Joining takes the parts in any
 * order (a repeated identical part is ignored), requires every index once,
 * one n and one check, concatenates the chunks and requires the result to
 * end with ":<check>"; the armor decoder then checks the checksum over the
 * whole text, so a wrong or altered chunk is refused (ARMOR_CHECKSUM).
 */
#include <png.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#include "cli/qr.h"

#define QR_SINGLE 360 /* one code up to here: version 14 at level M or less */
#define QR_CHUNK 300  /* characters of armor per part */
#define QR_PREFIX "ducat-qr:"
#define QR_MAX_PARTS 99
#define PNG_SCALE 4  /* pixels per module */
#define PNG_MARGIN 4 /* quiet zone, modules */

/* ---- Rendering ----------------------------------------------------------------- */

/* Two rows of modules per line with half blocks, light on dark, a quiet
 * zone of 2 modules: scans from a terminal with a dark background. */
static void to_terminal(FILE *f, const QRcode *q)
{
    int w = q->width, m = 2;
    for (int y = -m; y < w + m; y += 2) {
        for (int x = -m; x < w + m; x++) {
            int top = y >= 0 && y < w && x >= 0 && x < w && (q->data[y * w + x] & 1);
            int bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w && (q->data[(y + 1) * w + x] & 1);
            /* a light module is drawn; a dark one is the terminal's background */
            fputs(!top && !bot ? "\xe2\x96\x88"
                  : !top       ? "\xe2\x96\x80"
                  : !bot       ? "\xe2\x96\x84"
                               : " ",
                  f);
        }
        fputc('\n', f);
    }
}

static int to_png(const char *path, const QRcode *q)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    size_t side = (size_t)(q->width + 2 * PNG_MARGIN) * PNG_SCALE;
    png_bytep row = malloc(side);
    int rc = -1;
    if (!p || !info || !row || setjmp(png_jmpbuf(p))) goto out;
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)side, (png_uint_32)side, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (size_t py = 0; py < side; py++) {
        int y = (int)(py / PNG_SCALE) - PNG_MARGIN;
        for (size_t px = 0; px < side; px++) {
            int x = (int)(px / PNG_SCALE) - PNG_MARGIN;
            int dark =
                y >= 0 && y < q->width && x >= 0 && x < q->width && (q->data[y * q->width + x] & 1);
            row[px] = dark ? 0 : 255;
        }
        png_write_row(p, row);
    }
    png_write_end(p, NULL);
    rc = 0;
out:
    png_destroy_write_struct(&p, &info);
    free(row);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

/* ---- Splitting ----------------------------------------------------------------- */

int qr_emit(const char *armor, int terminal, const char *png_prefix)
{
    size_t len = strlen(armor);
    size_t n = len <= QR_SINGLE ? 1 : (len + QR_CHUNK - 1) / QR_CHUNK;
    const char *check = strrchr(armor, ':');
    if (!check || strlen(check + 1) != 8) {
        return cli_fail_code(CLI_EXIT_REFUSED, "cannot show this armor as QR codes");
    }
    if (n > QR_MAX_PARTS) {
        return cli_fail_code(CLI_EXIT_REFUSED, "this message needs %zu QR codes, more than %d", n,
                             QR_MAX_PARTS);
    }
    char *part = malloc(QR_CHUNK + 64);
    if (!part) return cli_fail_code(CLI_EXIT_REFUSED, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (n == 1) {
            snprintf(part, QR_CHUNK + 64, "%s", armor);
        } else {
            size_t off = i * QR_CHUNK, cl = len - off < QR_CHUNK ? len - off : QR_CHUNK;
            snprintf(part, QR_CHUNK + 64, QR_PREFIX "%zu/%zu:%s:%.*s", i + 1, n, check + 1, (int)cl,
                     armor + off);
        }
        QRcode *q = QRcode_encodeString(part, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
        if (!q) {
            free(part);
            return cli_fail_code(CLI_EXIT_REFUSED, "cannot encode QR code %zu of %zu", i + 1, n);
        }
        if (terminal) {
            if (n > 1) fprintf(stderr, "QR code %zu of %zu:\n", i + 1, n);
            to_terminal(stderr, q);
        }
        if (png_prefix) {
            char path[1100];
            if (n == 1) {
                snprintf(path, sizeof path, "%s.png", png_prefix);
            } else {
                snprintf(path, sizeof path, "%s-%zu-of-%zu.png", png_prefix, i + 1, n);
            }
            if (to_png(path, q) != 0) {
                QRcode_free(q);
                free(part);
                return cli_fail_code(CLI_EXIT_REFUSED, "cannot write the PNG file '%s'", path);
            }
        }
        QRcode_free(q);
    }
    free(part);
    return 0;
}

/* ---- Joining ------------------------------------------------------------------- */

/* Parses "ducat-qr:i/n:check:" at s: the chunk's start, or NULL. */
static const char *parse_part(const char *s, unsigned *i, unsigned *n, char check[static 9])
{
    if (strncmp(s, QR_PREFIX, strlen(QR_PREFIX)) != 0) return NULL;
    s += strlen(QR_PREFIX);
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (end == s || *end != '/') return NULL;
    s = end + 1;
    unsigned long b = strtoul(s, &end, 10);
    if (end == s || *end != ':' || a < 1 || b < 2 || a > b || b > QR_MAX_PARTS) return NULL;
    s = end + 1;
    for (int k = 0; k < 8; k++) {
        char c = s[k];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return NULL;
        check[k] = c;
    }
    check[8] = '\0';
    if (s[8] != ':') return NULL;
    *i = (unsigned)a;
    *n = (unsigned)b;
    return s + 9;
}

int qr_join(char *text, size_t *len)
{
    /* the parts are the whitespace-separated words of the text */
    if (!strstr(text, QR_PREFIX)) return 0;
    const char *chunk[QR_MAX_PARTS + 1] = {0};
    size_t clen[QR_MAX_PARTS + 1] = {0};
    unsigned n = 0;
    char check[9] = "", c[9];
    char *save = NULL;
    char *copy = strdup(text);
    if (!copy) return cli_fail_code(CLI_EXIT_REFUSED, "out of memory");
    for (char *w = strtok_r(copy, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
        unsigned i, wn;
        const char *body = parse_part(w, &i, &wn, c);
        if (!body || !*body) {
            free(copy);
            return cli_fail_code(CLI_EXIT_REFUSED, "not a Ducat QR part: '%.40s'", w);
        }
        if (n && (wn != n || strcmp(c, check) != 0)) {
            free(copy);
            return cli_fail_code(CLI_EXIT_REFUSED,
                                 "QR part %u/%u:%s belongs to another message than %u parts "
                                 "of %s",
                                 i, wn, c, n, check);
        }
        n = wn;
        memcpy(check, c, sizeof check);
        if (chunk[i] && (clen[i] != strlen(body) || memcmp(chunk[i], body, clen[i]) != 0)) {
            free(copy);
            return cli_fail_code(CLI_EXIT_REFUSED, "two different QR parts %u of %u", i, n);
        }
        chunk[i] = body;
        clen[i] = strlen(body);
    }
    size_t total = 0;
    for (unsigned i = 1; i <= n; i++) {
        if (!chunk[i]) {
            free(copy);
            return cli_fail_code(CLI_EXIT_REFUSED, "QR part %u of %u is missing", i, n);
        }
        total += clen[i];
    }
    if (total > *len) { /* the joined text is never longer than the parts */
        free(copy);
        return cli_fail_code(CLI_EXIT_REFUSED, "QR parts too long");
    }
    size_t at = 0;
    for (unsigned i = 1; i <= n; i++) {
        memcpy(text + at, chunk[i], clen[i]);
        at += clen[i];
    }
    text[at] = '\0';
    free(copy);
    if (at < 9 || text[at - 9] != ':' || memcmp(text + at - 8, check, 8) != 0) {
        return cli_fail_code(CLI_EXIT_REFUSED, "the joined QR parts do not end with their check %s",
                             check);
    }
    *len = at;
    return 0;
}
