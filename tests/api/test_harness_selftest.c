/*
 * test_harness_selftest.c - proves tests/api/harness.c works without ducatd:
 * keys and request signing (checked with dc_auth_check), the coin helpers
 * over the core, and process control and HTTP against a fake ducatd, which
 * is this very binary re-executed with HARNESS_FAKE_DUCATD=1 in its
 * environment (see fake_main: a constructor that runs before main).
 */
#include "test.h"

#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ducat/auth.h"
#include "ducat/calendar.h"

#include "calendar_default.h" /* generated: the shipped calendar, calendar_default[] */

#define FAKE_TOKEN "fake-admin-token"

/*--- The fake ducatd ------------------------------------------------------------*/

static volatile sig_atomic_t fake_stop;

static void fake_on_term(int sig)
{
    (void)sig;
    fake_stop = 1;
}

static void fake_reply(int fd, int status, json_t *j)
{
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: "
                      "%zu\r\nConnection: close\r\nX-Fake: yes\r\n\r\n",
                      status, strlen(body));
    if (write(fd, head, (size_t)hl) < 0 || write(fd, body, strlen(body)) < 0) {
        /* the client went away: nothing to do */
    }
    free(body);
}

static json_t *fake_err(const char *name)
{
    return json_pack("{s:s}", "name", name);
}

/* Value of header `name` in the header block hb (lines "Name: value\r\n"). */
static const char *fake_header(const char *hb, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = strstr(hb, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *l = p + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            l += n + 1;
            while (*l == ' ') l++;
            size_t vl = strcspn(l, "\r");
            snprintf(out, cap, "%.*s", (int)vl, l);
            return out;
        }
    }
    return NULL;
}

/* One request per connection: health, admin (bearer check) and an echo
 * that checks X-Ducat-* headers as the real server must. */
static void fake_handle(int fd, char seen[][33], size_t *n_seen)
{
    static char req[65536];
    size_t len = 0;
    char *end = NULL;
    while (end == NULL && len < sizeof req - 1) {
        ssize_t n = read(fd, req + len, sizeof req - 1 - len);
        if (n <= 0) return;
        len += (size_t)n;
        req[len] = '\0';
        end = strstr(req, "\r\n\r\n");
    }
    if (end == NULL) return;
    *end = '\0';
    char method[16], path[2048], v[256];
    if (sscanf(req, "%15s %2047s", method, path) != 2) return;
    size_t clen = fake_header(req, "Content-Length", v, sizeof v) ? strtoul(v, NULL, 10) : 0;
    char *body = end + 4;
    size_t have = len - (size_t)(body - req);
    while (have < clen && (size_t)(body - req) + clen < sizeof req) {
        ssize_t n = read(fd, body + have, clen - have);
        if (n <= 0) return;
        have += (size_t)n;
    }
    body[clen] = '\0';

    if (strcmp(path, "/v1/health") == 0) {
        fake_reply(fd, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    if (strncmp(path, "/v1/admin/", 10) == 0) {
        const char *a = fake_header(req, "Authorization", v, sizeof v);
        if (a == NULL || strcmp(a, "Bearer " FAKE_TOKEN) != 0) {
            fake_reply(fd, 401, fake_err("DC_ERR_ADMIN_AUTH"));
        } else {
            fake_reply(fd, 200, json_pack("{s:b}", "admin", 1));
        }
        return;
    }
    char key[80], tm[40], nonce[48], sig[160];
    uint8_t pk[DC_PUBKEY_BYTES], nb[DC_NONCE_BYTES], sb[DC_SIG_BYTES];
    if (!fake_header(req, "X-Ducat-Key", key, sizeof key) ||
        !fake_header(req, "X-Ducat-Time", tm, sizeof tm) ||
        !fake_header(req, "X-Ducat-Nonce", nonce, sizeof nonce) ||
        !fake_header(req, "X-Ducat-Signature", sig, sizeof sig) ||
        dc_hex_decode(pk, sizeof pk, key, strlen(key)) != DC_OK ||
        dc_hex_decode(nb, sizeof nb, nonce, strlen(nonce)) != DC_OK ||
        dc_hex_decode(sb, sizeof sb, sig, strlen(sig)) != DC_OK) {
        fake_reply(fd, 401, fake_err("DC_ERR_AUTH_MISSING"));
        return;
    }
    if (dc_auth_check(sb, pk, method, path, (const uint8_t *)body, clen, strtoull(tm, NULL, 10),
                      nb) != DC_OK) {
        fake_reply(fd, 401, fake_err("DC_ERR_AUTH_SIGNATURE"));
        return;
    }
    for (size_t i = 0; i < *n_seen; i++) {
        if (strcmp(seen[i], nonce) == 0) {
            fake_reply(fd, 401, fake_err("DC_ERR_AUTH_REPLAY"));
            return;
        }
    }
    if (*n_seen < 4096) memcpy(seen[(*n_seen)++], nonce, 33); /* 32 hex + NUL, decoded above */
    fake_reply(fd, 200,
               json_pack("{s:s, s:s, s:s, s:I}", "method", method, "path", path, "body", body,
                         "body_len", (json_int_t)clen));
}

static int fake_serve(const char *port_file)
{
    static char seen[4096][33];
    size_t n_seen = 0;
    signal(SIGTERM, fake_on_term);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        perror("fake ducatd: listen");
        return 1;
    }
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return 1;
    fprintf(f, "%d\n", ntohs(a.sin_port));
    fclose(f);
    rename(tmp, port_file);
    printf("fake ducatd listening on %d\n", ntohs(a.sin_port));
    fflush(stdout);
    while (!fake_stop) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(fd, NULL, NULL);
        if (c < 0) continue;
        fake_handle(c, seen, &n_seen);
        close(c);
    }
    close(fd);
    printf("fake ducatd: SIGTERM, bye\n");
    return 0;
}

/* init DIR ARGS... | serve -c CONF --listen A --port-file P | -c CONF CMD... */
static int fake_ducatd(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "init") == 0) {
        char path[256];
        snprintf(path, sizeof path, "%s/ducat.conf", argv[2]);
        FILE *f = fopen(path, "w");
        if (f == NULL) return 1;
        fprintf(f, "[fake]\nargs =");
        for (int i = 3; i < argc; i++) fprintf(f, " <%s>", argv[i]);
        fprintf(f, "\n");
        fclose(f);
        snprintf(path, sizeof path, "%s/admin.token", argv[2]);
        f = fopen(path, "w");
        if (f == NULL) return 1;
        fprintf(f, "%s\n", FAKE_TOKEN);
        fclose(f);
        chmod(path, 0600);
        printf("admin token: %s\n", FAKE_TOKEN);
        return 0;
    }
    if (argc == 8 && strcmp(argv[1], "serve") == 0 && strcmp(argv[2], "-c") == 0 &&
        strcmp(argv[4], "--listen") == 0 && strcmp(argv[5], "127.0.0.1:0") == 0 &&
        strcmp(argv[6], "--port-file") == 0) {
        return fake_serve(argv[7]);
    }
    if (argc >= 4 && strcmp(argv[1], "-c") == 0) {
        if (strcmp(argv[3], "audit") == 0) {
            printf("fake audit: consistent\n");
            return 0;
        }
        if (strcmp(argv[3], "echo") == 0) {
            for (int i = 4; i < argc; i++) printf("[%s]", argv[i]);
            fflush(stdout);
            fprintf(stderr, "(stderr)");
            return 0;
        }
        if (strcmp(argv[3], "exit") == 0 && argc == 5) return atoi(argv[4]);
    }
    fprintf(stderr, "fake ducatd: bad usage\n");
    return 2;
}

/* glibc passes (argc, argv, envp) to ELF constructors. */
__attribute__((constructor)) static void fake_main(int argc, char **argv, char **envp)
{
    (void)envp;
    if (getenv("HARNESS_FAKE_DUCATD") == NULL) return;
    if (sodium_init() < 0) _exit(1);
    exit(fake_ducatd(argc, argv));
}

static void use_fake(void)
{
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ASSERT(n > 0);
    self[n] = '\0';
    setenv("DUCATD", self, 1);
    setenv("HARNESS_FAKE_DUCATD", "1", 1);
}

/*--- Tests ----------------------------------------------------------------------*/

static void test_dev_new(void)
{
    struct dev a, b;
    char hex[65];
    dev_new(&a);
    dev_new(&b);
    ASSERT(memcmp(a.pk, b.pk, sizeof a.pk) != 0);
    ASSERT_MEM(a.sk + 32, a.pk, 32); /* libsodium layout: seed || public key */
    dc_hex_encode(hex, a.pk, sizeof a.pk);
    ASSERT_STR(a.pk_hex, hex);
    ASSERT_EQ(a.account, 0);
    ASSERT_EQ(a.has_devcert, 0);
}

static void test_signing(void)
{
    struct dev a, b;
    uint8_t nonce[DC_NONCE_BYTES], sig[DC_SIG_BYTES];
    char hex[129];
    const char *body = "{\"amount\":5}";
    dev_new(&a);
    dev_new(&b);
    randombytes_buf(nonce, sizeof nonce);
    uint64_t t = h_now_ms();
    dev_sign_hex(hex, &a, "POST", "/v1/transfers?x=1", body, strlen(body), t, nonce);
    ASSERT_EQ(strlen(hex), 128);
    ASSERT_OK(dc_hex_decode(sig, sizeof sig, hex, 128));
    ASSERT_OK(dc_auth_check(sig, a.pk, "POST", "/v1/transfers?x=1", (const uint8_t *)body,
                            strlen(body), t, nonce));
    ASSERT_ERR(dc_auth_check(sig, b.pk, "POST", "/v1/transfers?x=1", (const uint8_t *)body,
                             strlen(body), t, nonce),
               DC_ERR_BAD_SIGNATURE);
    ASSERT_ERR(dc_auth_check(sig, a.pk, "POST", "/v1/transfers?x=2", (const uint8_t *)body,
                             strlen(body), t, nonce),
               DC_ERR_BAD_SIGNATURE);
    ASSERT_ERR(dc_auth_check(sig, a.pk, "POST", "/v1/transfers?x=1", (const uint8_t *)body,
                             strlen(body), t + 1, nonce),
               DC_ERR_BAD_SIGNATURE);
    /* An empty body signs like NULL. */
    dev_sign_hex(hex, &a, "GET", "/v1/balance", NULL, 0, t, nonce);
    ASSERT_OK(dc_hex_decode(sig, sizeof sig, hex, 128));
    ASSERT_OK(dc_auth_check(sig, a.pk, "GET", "/v1/balance", (const uint8_t *)"", 0, t, nonce));
}

static void test_request_ids_and_json(void)
{
    char a[40], b[40];
    new_request_id(a);
    new_request_id(b);
    ASSERT(strcmp(a, b) != 0);
    ASSERT(strlen(a) >= 1 && strlen(a) <= 64);
    ASSERT_EQ(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"),
              strlen(a));
    json_t *j = json_loads("{\"n\": 1001, \"s\": \"x\", \"o\": {}}", 0, NULL);
    ASSERT(j != NULL);
    ASSERT_EQ(json_int(j, "n"), 1001);
    ASSERT_STR(json_str(j, "s"), "x");
    ASSERT(json_is_object(json_get(j, "o")));
    json_decref(j);
    j = json_loads("{\"code\": 2008, \"name\": \"DC_ERR_AUTH_REPLAY\"}", 0, NULL);
    ASSERT_API_ERR(401, j, 401, "DC_ERR_AUTH_REPLAY");
    json_decref(j);
}

/* A real coin chain built locally with the harness's coin helpers. */
static void test_coin_helpers(void)
{
    struct dev a, b;
    uint8_t mpk[32], msk[64], kpk[32], ksk[64], rnd[DC_SERIAL_RANDOM_BYTES];
    uint64_t now = h_now_ms();
    dev_new(&a);
    dev_new(&b);
    crypto_sign_ed25519_keypair(mpk, msk);
    crypto_sign_ed25519_keypair(kpk, ksk);
    struct dc_keycert kc = {.key_id = 1,
                            .valid_from = now - 3600000,
                            .sign_until = now + 3600000,
                            .verify_until = now + 86400000};
    memcpy(kc.pub, kpk, 32);
    uint8_t kcb[DC_KEYCERT_BYTES];
    dc_keycert_sign(kcb, &kc, msk);
    struct dev *devs[2] = {&a, &b};
    struct dc_devcert dc[2];
    for (int i = 0; i < 2; i++) {
        memset(&dc[i], 0, sizeof dc[i]);
        dc[i].key_id = 1;
        memcpy(dc[i].pub, devs[i]->pk, 32);
        dc[i].expires_at = now + 86400000;
        dc[i].offline_limit = 100000;
        dc_devcert_sign(devs[i]->devcert, &dc[i], ksk);
        devs[i]->has_devcert = 1;
    }
    struct dc_genesis g = {.key_id = 1,
                           .currency = 156,
                           .value = 1000,
                           .issued_at = now - 1000,
                           .expires_at = now + 86400000,
                           .hop_limit = 16,
                           .owner = dc[0]};
    randombytes_buf(rnd, sizeof rnd);
    dc_serial_make(g.serial, g.issued_at, rnd);
    static struct coin c, c2, parts[3];
    ASSERT_OK(dc_coin_issue(c.b, sizeof c.b, &c.len, &g, ksk));
    ASSERT_EQ(coin_value(&c), 1000);

    coin_transfer(&c, &a, &b);
    int64_t v[3] = {500, 300, 200};
    coin_split(&c, &b, v, 3, parts);
    ASSERT_EQ(coin_value(&parts[0]), 500);
    ASSERT_EQ(coin_value(&parts[1]), 300);
    ASSERT_EQ(coin_value(&parts[2]), 200);
    coin_deposit(&parts[1], &b, 1002);

    char *hex = coin_hex(&parts[1]);
    ASSERT_EQ(strlen(hex), 2 * parts[1].len);
    coin_from_hex(&c2, hex);
    free(hex);
    ASSERT_EQ(c2.len, parts[1].len);
    ASSERT_MEM(c2.b, parts[1].b, c2.len);

    static struct dc_trust t;
    static struct dc_coin parsed;
    struct dc_verify_result res;
    struct dc_verify_opts o = {.allow_deposit = 1};
    dc_trust_init(&t, mpk, 156, h_now_ms());
    ASSERT_OK(dc_trust_add_key(&t, &kc, 0));
    ASSERT_OK(dc_coin_decode(&parsed, c2.b, c2.len));
    ASSERT_OK(dc_coin_verify(&res, &t, &parsed, &o, NULL));
    ASSERT_EQ(res.value, 300);
    ASSERT_EQ(parsed.rec[parsed.n - 1].type, DC_TYPE_DEPOSIT);
    ASSERT_EQ(parsed.rec[parsed.n - 1].u.deposit.account, 1002);
}

static void test_missing_binary(void)
{
    struct srv s;
    char out[512];
    memset(&s, 0, sizeof s);
    snprintf(s.conf, sizeof s.conf, "/nonexistent/ducat.conf");
    setenv("DUCATD", "/nonexistent/ducatd", 1);
    int rc = srv_cmd(&s, out, sizeof out, "audit");
    unsetenv("DUCATD");
    ASSERT_EQ(rc, 127);
    ASSERT(strstr(out, "cannot run '/nonexistent/ducatd'") != NULL);
    ASSERT(strstr(out, "No such file") != NULL);
    ASSERT_STR(h_ducatd(), "build/ducatd");
}

static void test_fake_lifecycle(void)
{
    struct srv s;
    char out[1024], conf[256];
    json_t *j;
    use_fake();
    srv_init(&s, "--auto-verify 'two words'");
    ASSERT_STR(s.token, FAKE_TOKEN);
    FILE *f = fopen(s.conf, "r");
    ASSERT(f != NULL);
    size_t n = fread(conf, 1, sizeof conf - 1, f);
    fclose(f);
    conf[n] = '\0';
    ASSERT(strstr(conf, "args = <--auto-verify> <two words>") != NULL);

    srv_start(&s);
    ASSERT(s.pid > 0 && s.port > 0);
    ASSERT_EQ(api(&s, NULL, "GET", "/v1/health", NULL, &j), 200);
    ASSERT_STR(json_str(j, "status"), "ok");
    json_decref(j);

    /* Signed requests verify on the server side, body and query included. */
    struct dev d;
    dev_new(&d);
    ASSERT_EQ(apif(&s, &d, "POST", "/v1/echo?q=1", &j, "{\"n\":%d}", 7), 200);
    ASSERT_STR(json_str(j, "path"), "/v1/echo?q=1");
    ASSERT_STR(json_str(j, "body"), "{\"n\":7}");
    json_decref(j);
    ASSERT_EQ(api(&s, &d, "GET", "/v1/balance", NULL, &j), 200);
    ASSERT_EQ(json_int(j, "body_len"), 0);
    json_decref(j);
    ASSERT_EQ(api(&s, &d, "POST", "/v1/sync", NULL, NULL), 200);

    /* Replay the exact headers of a request, then tamper with them. */
    struct api_req r = {.method = "POST", .path = "/v1/x", .body = "{}", .dev = &d};
    struct api_resp resp;
    ASSERT_EQ(api_raw(&s, &r, &resp), 200);
    char v[64];
    ASSERT(api_resp_header(&resp, "x-fake", v, sizeof v));
    ASSERT_STR(v, "yes");
    ASSERT(!api_resp_header(&resp, "X-Missing", v, sizeof v));
    api_resp_free(&resp);
    struct api_req again = {.method = "POST",
                            .path = "/v1/x",
                            .body = "{}",
                            .key = r.sent_key,
                            .time = r.sent_time,
                            .nonce_hex = r.sent_nonce,
                            .sig = r.sent_sig};
    api_raw(&s, &again, &resp);
    ASSERT_API_ERR(resp.status, resp.json, 401, "DC_ERR_AUTH_REPLAY");
    api_resp_free(&resp);
    struct api_req bad = {
        .method = "POST", .path = "/v1/x", .body = "{}", .dev = &d, .sig = r.sent_sig};
    api_raw(&s, &bad, &resp);
    ASSERT_API_ERR(resp.status, resp.json, 401, "DC_ERR_AUTH_SIGNATURE");
    api_resp_free(&resp);
    struct api_req omit = {.method = "GET", .path = "/v1/x", .dev = &d, .key = HDR_OMIT};
    api_raw(&s, &omit, &resp);
    ASSERT_API_ERR(resp.status, resp.json, 401, "DC_ERR_AUTH_MISSING");
    ASSERT(strstr(resp.body, "DC_ERR_AUTH_MISSING") != NULL);
    api_resp_free(&resp);

    /* Admin bearer. */
    ASSERT_EQ(admin(&s, s.token, "GET", "/v1/admin/accounts", NULL, NULL), 200);
    ASSERT_EQ(admin(&s, NULL, "GET", "/v1/admin/accounts", NULL, &j), 401);
    ASSERT_API_ERR(401, j, 401, "DC_ERR_ADMIN_AUTH");
    json_decref(j);
    ASSERT_EQ(adminf(&s, "wrong", "POST", "/v1/admin/fund", NULL, "{\"amount\":%d}", 1), 401);

    /* Operator commands: quoting, stderr capture, exit codes. */
    ASSERT_EQ(srv_cmd(&s, out, sizeof out, "echo a 'b c' \"%s\"", "d e"), 0);
    ASSERT_STR(out, "[a][b c][d e](stderr)");
    ASSERT_EQ(srv_cmd(&s, NULL, 0, "exit %d", 3), 3);
    audit_ok(&s);

    /* Restart, crash, start again, graceful stop. */
    srv_restart(&s);
    ASSERT_EQ(api(&s, NULL, "GET", "/v1/health", NULL, NULL), 200);
    srv_kill9(&s);
    ASSERT_EQ(s.pid, 0);
    ASSERT_EQ(api(&s, NULL, "GET", "/v1/health", NULL, NULL), 0);
    ASSERT(api_last_error()[0] != '\0');
    srv_start(&s);
    ASSERT_EQ(api(&s, NULL, "GET", "/v1/health", NULL, NULL), 200);
    ASSERT_EQ(srv_stop(&s), 0);
    ASSERT_EQ(srv_stop(&s), -1);

    char dir[sizeof s.dir], log[128];
    snprintf(dir, sizeof dir, "%s", s.dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    ASSERT(access(log, R_OK) == 0);
    srv_start(&s);
    srv_cleanup(&s); /* stops the running server and removes the dir */
    if (getenv("DUCAT_KEEP_TEST_DIRS") == NULL) ASSERT(access(dir, F_OK) != 0);
    ASSERT_EQ(s.pid, 0);
}

struct worker {
    const struct srv *s;
    int ok;
};

static void *worker_run(void *p)
{
    struct worker *w = p;
    struct dev d;
    dev_new(&d);
    for (int i = 0; i < 25; i++) {
        if (apif(w->s, &d, "POST", "/v1/echo", NULL, "{\"i\":%d}", i) == 200) w->ok++;
    }
    return NULL;
}

static void test_fake_threads(void)
{
    struct srv s;
    struct worker w[4];
    pthread_t th[4];
    use_fake();
    srv_init(&s, NULL);
    srv_start(&s);
    for (int i = 0; i < 4; i++) {
        w[i].s = &s;
        w[i].ok = 0;
        ASSERT_EQ(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ(w[i].ok, 25);
    }
    srv_cleanup(&s);
}

/*--- The test calendar ----------------------------------------------------------*/

static void parse_lines(struct dc_calendar *cal, const char *const *lines)
{
    static char text[1 << 16];
    text[0] = '\0';
    for (size_t i = 0; lines[i]; i++) {
        ASSERT(strlen(text) + strlen(lines[i]) < sizeof text);
        strcat(text, lines[i]);
    }
    size_t line = 0;
    ASSERT_EQ(dc_calendar_parse(cal, &line, text, strlen(text)), DC_OK);
}

static int32_t day(const char *date)
{
    int32_t d;
    ASSERT_EQ(dc_date_parse(&d, date, strlen(date)), DC_OK);
    return d;
}

/* tests/api/calendar-test.txt is the shipped calendar day for day where that
 * one speaks, weekends only after it up to 2040, and is what srv_init gives
 * an instance (srv_init_shipped_calendar leaves the shipped one). */
static void test_test_calendar(void)
{
    static struct dc_calendar ship, test;
    parse_lines(&ship, calendar_default);
    const char *const one[] = {h_test_calendar(), NULL};
    parse_lines(&test, one);
    ASSERT_EQ(test.utc_offset_min, ship.utc_offset_min);
    ASSERT_EQ(test.cover_from, ship.cover_from);
    ASSERT_EQ(test.cover_to, day("2040-12-31"));
    int differ = 0;
    for (int32_t d = ship.cover_from; d <= ship.cover_to; d++) {
        if (dc_calendar_is_working_day(&test, d) != dc_calendar_is_working_day(&ship, d)) {
            char date[16];
            ASSERT_EQ(dc_date_format(date, sizeof date, d), DC_OK);
            printf("# the test calendar differs from the shipped one on %s\n", date);
            differ++;
        }
    }
    ASSERT_EQ(differ, 0);
    for (int32_t d = ship.cover_to + 1; d <= test.cover_to; d++) {
        ASSERT_EQ(dc_calendar_is_working_day(&test, d), dc_date_weekday(d) < 5);
    }
    /* a deposit at the end of 2040 still gets a firm date */
    uint64_t at;
    int prov = -1;
    uint64_t t = dc_calendar_day_start_ms(&test, day("2040-12-01"));
    ASSERT_EQ(dc_calendar_release(&at, &prov, &test, t, 15), DC_OK);
    ASSERT_EQ(prov, 0);

    /* what srv_init installs, and what srv_init_shipped_calendar keeps */
    struct srv s;
    char path[160];
    static char got[1 << 16];
    use_fake();
    for (int shipped = 0; shipped <= 1; shipped++) {
        if (shipped) {
            srv_init_shipped_calendar(&s, NULL);
        } else {
            srv_init(&s, NULL);
        }
        snprintf(path, sizeof path, "%s/calendar.txt", s.dir);
        FILE *f = fopen(path, "r");
        size_t n = 0;
        if (f != NULL) {
            n = fread(got, 1, sizeof got - 1, f);
            fclose(f);
        }
        got[n] = '\0';
        if (shipped) {
            ASSERT(f == NULL || strcmp(got, h_test_calendar()) != 0);
        } else {
            ASSERT(f != NULL);
            ASSERT_STR(got, h_test_calendar());
        }
        srv_cleanup(&s);
    }
}

TESTS(T(test_dev_new), T(test_signing), T(test_request_ids_and_json), T(test_coin_helpers),
      T(test_missing_binary), T(test_fake_lifecycle), T(test_fake_threads), T(test_test_calendar))
