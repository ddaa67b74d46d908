/*
 * client.c - signed HTTP calls to ducatd (see ducat/client.h).
 */
#include "ducat/client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ducat/auth.h"
#include "ducat/coin.h"

struct dc_client {
    CURL *curl;
    char base[512];
    const uint8_t *sk;
    long timeout_ms;
    int64_t offset_ms;    /* server clock - ours, learnt from a refused request */
    uint64_t server_time; /* X-Ducat-Time of the last answer, 0 if none */
};

struct body {
    char *p;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > (16u << 20)) return 0; /* refuse absurd answers */
    char *q = realloc(b->p, b->len + n + 1);
    if (!q) return 0;
    memcpy(q + b->len, ptr, n);
    b->p = q;
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* Picks X-Ducat-Time out of the answer's headers. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct dc_client *c = ud;
    size_t n = size * nmemb;
    static const char name[] = "x-ducat-time:";
    if (n > sizeof name && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        char tmp[32];
        size_t l = n - (sizeof name - 1);
        if (l >= sizeof tmp) l = sizeof tmp - 1;
        memcpy(tmp, ptr + sizeof name - 1, l);
        tmp[l] = '\0';
        c->server_time = strtoull(tmp, NULL, 10);
    }
    return n;
}

/* libcurl's global set-up is not thread-safe and must run once before any
 * handle exists: a host app may create clients on several threads at once,
 * so pthread_once, not a plain flag. Its result is kept for every caller. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum dc_err dc_client_new(struct dc_client **out, const char *base_url)
{
    *out = NULL;
    if (pthread_once(&curl_once, curl_init) != 0 || curl_init_rc != CURLE_OK) {
        return DC_ERR_NO_MEMORY;
    }
    size_t n = strlen(base_url);
    if (n == 0 || n >= 500) return DC_ERR_INVALID_ARGUMENT;
    struct dc_client *c = calloc(1, sizeof *c);
    if (!c) return DC_ERR_NO_MEMORY;
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return DC_ERR_NO_MEMORY;
    }
    memcpy(c->base, base_url, n + 1);
    while (n && c->base[n - 1] == '/') c->base[--n] = '\0';
    c->timeout_ms = 30000;
    *out = c;
    return DC_OK;
}

void dc_client_free(struct dc_client *c)
{
    if (!c) return;
    curl_easy_cleanup(c->curl);
    free(c);
}

void dc_client_set_key(struct dc_client *c, const uint8_t *sk)
{
    c->sk = sk;
}

void dc_client_set_clock_offset(struct dc_client *c, int64_t ms)
{
    c->offset_ms = ms;
}

int64_t dc_client_clock_offset(const struct dc_client *c)
{
    return c->offset_ms;
}

void dc_client_set_timeout(struct dc_client *c, long ms)
{
    c->timeout_ms = ms;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static enum dc_err call_once(struct dc_client *c, int signed_, const char *method, const char *path,
                             const char *body, int *status, json_t **out, char *detail, size_t dcap)
{
    char url[2600];
    struct curl_slist *h = NULL;
    struct body resp = {NULL, 0};
    const char *b = body ? body : "";
    *status = 0;
    if (out) *out = NULL;
    if (detail && dcap) detail[0] = '\0';
    snprintf(url, sizeof url, "%s%s", c->base, path);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (signed_) {
        if (!c->sk) return DC_ERR_INVALID_ARGUMENT;
        uint8_t nonce[DC_NONCE_BYTES], sig[DC_SIG_BYTES];
        uint64_t t = (uint64_t)((int64_t)wall_ms() + c->offset_ms);
        randombytes_buf(nonce, sizeof nonce);
        enum dc_err e =
            dc_auth_sign(sig, c->sk, method, path, (const uint8_t *)b, strlen(b), t, nonce);
        if (e != DC_OK) {
            curl_slist_free_all(h);
            return e;
        }
        char line[256], hex[2 * DC_SIG_BYTES + 1];
        dc_hex_encode(hex, c->sk + 32, DC_PUBKEY_BYTES);
        snprintf(line, sizeof line, "X-Ducat-Key: %s", hex);
        h = curl_slist_append(h, line);
        snprintf(line, sizeof line, "X-Ducat-Time: %llu", (unsigned long long)t);
        h = curl_slist_append(h, line);
        dc_hex_encode(hex, nonce, DC_NONCE_BYTES);
        snprintf(line, sizeof line, "X-Ducat-Nonce: %s", hex);
        h = curl_slist_append(h, line);
        dc_hex_encode(hex, sig, DC_SIG_BYTES);
        snprintf(line, sizeof line, "X-Ducat-Signature: %s", hex);
        h = curl_slist_append(h, line);
    }
    CURL *k = c->curl;
    curl_easy_reset(k);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, c);
    c->server_time = 0;
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, b);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE, (long)strlen(b));
    }
    CURLcode rc = curl_easy_perform(k);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        if (detail) snprintf(detail, dcap, "%s: %s", c->base, curl_easy_strerror(rc));
        free(resp.p);
        return DC_ERR_IO;
    }
    long code = 0;
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &code);
    *status = (int)code;
    json_t *j = resp.p ? json_loads(resp.p, 0, NULL) : NULL;
    free(resp.p);
    enum dc_err e = DC_OK;
    if (code < 200 || code > 299) {
        json_t *jc = json_object_get(j, "code");
        const char *d = json_string_value(json_object_get(j, "detail"));
        if (!json_is_integer(jc) || !dc_err_from_code(&e, (int)json_integer_value(jc))) {
            e = DC_ERR_INTERNAL;
        }
        if (detail && d) snprintf(detail, dcap, "%s", d);
    }
    if (out) {
        *out = j;
    } else {
        json_decref(j);
    }
    return e;
}

/*
 * A signed request refused as stale was not acted on, so it is safe to sign
 * it again: once, with our clock corrected by the server's (a wrong device
 * clock, or a request signed just before the server restarted).
 */
enum dc_err dc_client_call(struct dc_client *c, int signed_, const char *method, const char *path,
                           const char *body, int *status, json_t **out, char *detail, size_t dcap)
{
    enum dc_err e = call_once(c, signed_, method, path, body, status, out, detail, dcap);
    if (e != DC_ERR_AUTH_STALE || !signed_ || c->server_time == 0) return e;
    int64_t off = (int64_t)c->server_time - (int64_t)wall_ms();
    c->offset_ms = off;
    if (out) {
        json_decref(*out);
        *out = NULL;
    }
    return call_once(c, signed_, method, path, body, status, out, detail, dcap);
}
