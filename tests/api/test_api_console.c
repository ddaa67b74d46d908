/*
 * test_api_console.c - the admin console against a real ducatd: the page,
 * script and style are served without a token, with their content types
 * and the security headers (CSP, nosniff, no-referrer, no framing); every
 * API path the script calls is an admin route of routes.c and refuses a
 * request without the token; [server] console = no makes /admin unknown
 * (404); GET /v1/admin/holds (status filter, keyset paging, errors) and
 * GET /v1/admin/cases/{id}/evidence on a real fork case; and a real
 * browser (headless chromium, installed by scripts/deps.sh) rendering the
 * console on that case: the case listed, the culprit account named, the
 * frozen credits shown, the token taken from the URL fragment.
 *
 * Runs from the repository root (reads web/console.js and
 * src/server/routes.c). $CHROMIUM overrides the browser binary.
 */
#include "test.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct srv S;

/* ---- Helpers -------------------------------------------------------------- */

/* Everything f yields until EOF, NUL-terminated (caller frees); *n its
 * length (may be NULL). */
static char *read_all(FILE *f, size_t *n_out)
{
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    ASSERT(buf != NULL);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            char *p = realloc(buf, cap);
            ASSERT(p != NULL);
            buf = p;
        }
    }
    buf[n] = '\0';
    if (n_out) *n_out = n;
    return buf;
}

/* The whole file, NUL-terminated (caller frees); fails if unreadable. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) FAIL_AT("cannot read %s (run from the repository root)", path);
    char *buf = read_all(f, NULL);
    fclose(f);
    return buf;
}

static void conf_append(const struct srv *s, const char *text)
{
    FILE *f = fopen(s->conf, "a");
    ASSERT(f != NULL);
    ASSERT(fputs(text, f) >= 0);
    ASSERT(fclose(f) == 0);
}

/* GET path without any credential; fills *r (caller frees). */
static int get_plain(const char *path, struct api_resp *r)
{
    struct api_req q;
    memset(&q, 0, sizeof q);
    q.method = "GET";
    q.path = path;
    return api_raw(&S, &q, r);
}

/* POST path {} without any credential; fills *r (caller frees). */
static int post_plain(const char *path, struct api_resp *r)
{
    struct api_req q;
    memset(&q, 0, sizeof q);
    q.method = "POST";
    q.path = path;
    q.body = "{}";
    return api_raw(&S, &q, r);
}

static void expect_header(const struct api_resp *r, const char *name, const char *want)
{
    char got[512];
    if (!api_resp_header(r, name, got, sizeof got)) FAIL_AT("no %s header", name);
    if (strcmp(got, want) != 0) FAIL_AT("%s: '%s', expected '%s'", name, got, want);
}

/* The security headers every console file carries. */
static void expect_console_headers(const struct api_resp *r)
{
    char csp[512];
    if (!api_resp_header(r, "Content-Security-Policy", csp, sizeof csp)) {
        FAIL_AT("no Content-Security-Policy header");
    }
    static const char *const need[] = {"default-src 'self'", "script-src 'self'",
                                       "frame-ancestors 'none'", "object-src 'none'",
                                       "base-uri 'none'"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (!strstr(csp, need[i])) FAIL_AT("CSP '%s' lacks %s", csp, need[i]);
    }
    if (strstr(csp, "unsafe-inline") || strstr(csp, "unsafe-eval") || strstr(csp, "http")) {
        FAIL_AT("CSP '%s' allows inline code or another origin", csp);
    }
    expect_header(r, "X-Content-Type-Options", "nosniff");
    expect_header(r, "Referrer-Policy", "no-referrer");
}

static json_t *admin_get(const char *path)
{
    json_t *j = NULL;
    int st = admin(&S, S.token, "GET", path, NULL, &j);
    if (st != 200) FAIL_AT("GET %s answered %d", path, st);
    return j;
}

/* ---- The console's files ---------------------------------------------------- */

static void test_files_served_with_security_headers(void)
{
    srv_cleanup(&S);
    srv_init(&S, NULL);
    srv_start(&S);
    static const struct {
        const char *path, *type, *file;
    } files[] = {
        {"/admin", "text/html; charset=utf-8", "web/console.html"},
        {"/admin/console.js", "text/javascript; charset=utf-8", "web/console.js"},
        {"/admin/console.css", "text/css; charset=utf-8", "web/console.css"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct api_resp r;
        int st = get_plain(files[i].path, &r); /* no token: the files reveal nothing */
        if (st != 200) FAIL_AT("GET %s without a token answered %d", files[i].path, st);
        expect_header(&r, "Content-Type", files[i].type);
        expect_console_headers(&r);
        /* the embedded copy is the file in web/, byte for byte */
        char *want = slurp(files[i].file);
        int same = strlen(want) == r.len && memcmp(want, r.body, r.len) == 0;
        free(want);
        if (!same) FAIL_AT("GET %s differs from %s", files[i].path, files[i].file);
        api_resp_free(&r);
    }

    /* the page: no inline script or style, nothing from another origin */
    char *html = slurp("web/console.html");
    for (const char *p = html; (p = strstr(p, "<script")) != NULL; p++) {
        if (strncmp(p, "<script src=\"/admin/console.js\"", 31) != 0) {
            free(html);
            FAIL_AT("console.html has a <script> that is not /admin/console.js");
        }
    }
    int bad = strstr(html, "style=") || strstr(html, "<style") || strstr(html, "http:") ||
              strstr(html, "https:") ||
              strstr(html, "on"
                           "click=");
    free(html);
    if (bad) FAIL_AT("console.html has inline style, an event attribute or a remote URL");
    char *js = slurp("web/console.js");
    bad = strstr(js, "innerHTML") || strstr(js, "eval(") || strstr(js, "http:") ||
          strstr(js, "https:") || strstr(js, "localStorage");
    free(js);
    if (bad) FAIL_AT("console.js uses innerHTML, eval, localStorage or a remote URL");

    /* only GET; other paths under /admin are unknown */
    struct api_resp r;
    ASSERT_EQ(post_plain("/admin", &r), 405);
    expect_header(&r, "Allow", "GET");
    api_resp_free(&r);
    ASSERT_EQ(get_plain("/admin/other.js", &r), 404);
    api_resp_free(&r);
    /* the JSON API keeps its own headers */
    ASSERT_EQ(get_plain("/v1/health", &r), 200);
    char tmp[256];
    ASSERT(!api_resp_header(&r, "Content-Security-Policy", tmp, sizeof tmp));
    api_resp_free(&r);
    srv_cleanup(&S);
}

/* "METHOD PATH FLAGS" rows of routes.c. */
struct route_row {
    char method[8], path[96];
    int admin;
};

static size_t read_routes(struct route_row *rows, size_t cap)
{
    char *src = slurp("src/server/routes.c");
    size_t n = 0;
    for (char *line = strtok(src, "\n"); line && n < cap; line = strtok(NULL, "\n")) {
        char m[8], p[96];
        /* {"GET", "/v1/admin/holds", dc_h_admin_holds, DC_R_ADMIN, 0, "admin_holds"}, */
        if (sscanf(line, " {\"%7[A-Z]\", \"%95[^\"]\"", m, p) != 2) continue;
        snprintf(rows[n].method, sizeof rows[n].method, "%s", m);
        snprintf(rows[n].path, sizeof rows[n].path, "%s", p);
        rows[n].admin = strstr(line, "DC_R_ADMIN") != NULL;
        n++;
    }
    free(src);
    return n;
}

/* Every API path in console.js ('/v1/...' or `/v1/...${x}...`, up to a
 * '?' or the closing quote, ${...} read as {id}) into paths[]. */
static size_t script_paths(char paths[][96], size_t cap)
{
    char *js = slurp("web/console.js");
    size_t n = 0;
    for (const char *p = js; (p = strstr(p, "/v1/")) != NULL; p++) {
        char q = p[-1];
        if (q != '\'' && q != '`' && q != '"') continue;
        char path[96];
        size_t k = 0;
        const char *c = p;
        while (*c && *c != q && *c != '?' && k + 5 < sizeof path) {
            if (c[0] == '$' && c[1] == '{') {
                const char *end = strchr(c, '}');
                if (!end) break;
                memcpy(path + k, "{id}", 4);
                k += 4;
                c = end + 1;
            } else {
                path[k++] = *c++;
            }
        }
        path[k] = '\0';
        size_t i;
        for (i = 0; i < n && strcmp(paths[i], path) != 0; i++) {
        }
        if (i == n && n < cap) snprintf(paths[n++], 96, "%s", path);
    }
    free(js);
    return n;
}

static void test_script_calls_only_admin_routes(void)
{
    struct route_row rows[64];
    size_t nr = read_routes(rows, 64);
    ASSERT(nr >= 20);
    char paths[32][96];
    size_t np = script_paths(paths, 32);
    /* cases, a case, its events, its evidence, resolve, holds, accounts,
     * verify, freeze, unfreeze, audit: the grep found them all, it is not
     * vacuous */
    if (np < 11) FAIL_AT("found only %zu API paths in console.js", np);
    srv_cleanup(&S);
    srv_init(&S, NULL);
    srv_start(&S);
    for (size_t i = 0; i < np; i++) {
        int found = 0;
        for (size_t k = 0; k < nr; k++) {
            if (strcmp(rows[k].path, paths[i]) != 0) continue;
            found = 1;
            if (!rows[k].admin) FAIL_AT("console.js calls %s, not an admin route", paths[i]);
            /* without the token: refused */
            char concrete[96];
            const char *id = strstr(paths[i], "{id}");
            size_t pre = id ? (size_t)(id - paths[i]) : strlen(paths[i]);
            ASSERT(pre + 2 + (id ? strlen(id + 4) : 0) <= sizeof concrete);
            memcpy(concrete, paths[i], pre);
            concrete[pre] = '\0';
            if (id) {
                strcat(concrete, "1");
                strcat(concrete, id + 4);
            }
            json_t *j = NULL;
            int st = admin(&S, NULL, rows[k].method, concrete,
                           strcmp(rows[k].method, "POST") == 0 ? "{}" : NULL, &j);
            if (st != 401)
                FAIL_AT("%s %s without a token answered %d", rows[k].method, concrete, st);
            ASSERT_API_ERR(st, j, 401, "DC_ERR_ADMIN_AUTH");
            json_decref(j);
        }
        if (!found) FAIL_AT("console.js calls %s, which routes.c does not serve", paths[i]);
    }
    srv_cleanup(&S);
}

static void test_console_off(void)
{
    srv_cleanup(&S);
    srv_init(&S, NULL);
    conf_append(&S, "\n[server]\nconsole = no\n");
    srv_start(&S);
    static const char *const paths[] = {"/admin", "/admin/console.js", "/admin/console.css"};
    for (size_t i = 0; i < 3; i++) {
        struct api_resp r;
        int st = get_plain(paths[i], &r);
        if (st != 404) FAIL_AT("console = no: GET %s answered %d", paths[i], st);
        ASSERT_API_ERR(st, r.json, 404, "DC_ERR_NOT_FOUND");
        api_resp_free(&r);
    }
    /* like any unknown path: no 405 for another method either */
    struct api_resp r;
    ASSERT_EQ(post_plain("/admin", &r), 404);
    api_resp_free(&r);
    /* the admin API itself stays */
    json_t *j = admin_get("/v1/admin/holds");
    json_decref(j);
    srv_cleanup(&S);
}

/* ---- A fork case: the holds endpoint, the evidence, the browser ------------- */

struct fork {
    struct dev alice, bob, carol, dave;
    long long case_id;
    long long frozen[2]; /* Bob's and Carol's holds */
};

static struct fork F;

/*
 * Alice (1000 funded) withdraws a 1000 coin, pays it to Bob and the same
 * state again to Carol; both deposit: a case opens (Alice has nothing left
 * to cover it) and both credits are frozen. Dave deposits a coin of his own
 * (two held credits, not frozen).
 */
static void fork_case(void)
{
    memset(&F, 0, sizeof F);
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    /* business time from DIR/clock: a decision needs an honest credit due */
    FILE *cf = fopen(S.conf, "a");
    ASSERT(cf != NULL);
    ASSERT(fputs("\n[dev]\nclock_file = clock\n", cf) >= 0);
    ASSERT(fclose(cf) == 0);
    srv_start(&S);
    dev_setup(&S, &F.alice, "Alice Zhang", 1000);
    dev_setup(&S, &F.bob, "Bob Li", 0);
    dev_setup(&S, &F.carol, "Carol Wang", 0);
    dev_setup(&S, &F.dave, "Dave Chen", 300);
    struct coin x[1], copy[1], d[4];
    size_t n = 0;
    json_t *j = NULL;
    ASSERT_EQ(withdraw(&S, &F.alice, 1000, x, 1, &n, &j), 201);
    json_decref(j);
    ASSERT_EQ(n, 1);
    copy[0] = x[0];
    dev_sync(&S, &F.bob);
    dev_sync(&S, &F.carol);
    coin_transfer(&x[0], &F.alice, &F.bob);
    coin_deposit(&x[0], &F.bob, F.bob.account);
    ASSERT_EQ(deposit(&S, &F.bob, x, 1, NULL, &j), 201);
    json_decref(j);
    coin_transfer(&copy[0], &F.alice, &F.carol);
    coin_deposit(&copy[0], &F.carol, F.carol.account);
    ASSERT_EQ(deposit(&S, &F.carol, copy, 1, NULL, &j), 201);
    json_t *co = json_array_get(json_get(j, "coins"), 0);
    F.case_id = json_int(co, "case");
    ASSERT(F.case_id > 0);
    json_decref(j);

    /* Dave: 300 as two coins (200 + 100), deposited by himself */
    ASSERT_EQ(withdraw(&S, &F.dave, 300, d, 4, &n, &j), 201);
    json_decref(j);
    ASSERT_EQ(n, 2);
    for (size_t i = 0; i < n; i++) coin_deposit(&d[i], &F.dave, F.dave.account);
    ASSERT_EQ(deposit(&S, &F.dave, d, n, NULL, &j), 201);
    json_decref(j);

    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", F.case_id);
    json_t *c = admin_get(path);
    ASSERT_STR(json_str(c, "status"), "open");
    ASSERT_EQ(json_int(c, "culprit_account"), F.alice.account);
    json_t *holds = json_get(c, "holds");
    ASSERT_EQ(json_array_size(holds), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *h = json_array_get(holds, i);
        ASSERT_STR(json_str(h, "status"), "frozen");
        F.frozen[i] = json_int(h, "hold");
    }
    json_decref(c);
}

/* Moves business time 60 days on (the honest credits are due, Alice has
 * not paid), then POST /v1/admin/cases/{id}/resolve; fails unless 200 and
 * the case is decided (Alice still owes). */
static void resolve(long long id, const char *decision, const char *actor, const char *reason)
{
    char path[96];
    json_t *j = NULL;
    snprintf(path, sizeof path, "%s/clock", S.dir);
    FILE *ck = fopen(path, "w");
    ASSERT(ck != NULL);
    ASSERT(fprintf(ck, "%llu\n", (unsigned long long)(h_now_ms() + 60ull * 86400000ull)) > 0);
    ASSERT(fclose(ck) == 0);
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", id);
    int st =
        adminf(&S, S.token, "POST", path, &j,
               "{\"decision\":\"%s\",\"actor\":\"%s\",\"reason\":\"%s\"}", decision, actor, reason);
    if (st != 200) FAIL_AT("POST %s answered %d", path, st);
    ASSERT_STR(json_str(j, "phase"), "decided");
    json_decref(j);
}

/* GET path with the token, expecting a 400 DC_ERR_FIELD naming `what`. */
static void expect_field_error(const char *path, const char *what)
{
    json_t *j = NULL;
    int st = admin(&S, S.token, "GET", path, NULL, &j);
    ASSERT_API_ERR(st, j, 400, "DC_ERR_FIELD");
    if (!strstr(json_str(j, "detail"), what)) {
        FAIL_AT("GET %s: detail '%s' does not name %s", path, json_str(j, "detail"), what);
    }
    json_decref(j);
}

static void test_holds_endpoint(void)
{
    fork_case();
    /* the frozen box: the case's two credits, with their case and date */
    json_t *j = admin_get("/v1/admin/holds?status=frozen");
    json_t *holds = json_get(j, "holds");
    ASSERT_EQ(json_array_size(holds), 2);
    ASSERT(json_is_null(json_get(j, "next")));
    ASSERT_STR(json_str(json_get(j, "currency"), "code"), "CNY");
    ASSERT_EQ(json_int(json_get(j, "currency"), "exponent"), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *h = json_array_get(holds, i);
        ASSERT_EQ(json_int(h, "hold"), F.frozen[i]);
        ASSERT_STR(json_str(h, "status"), "frozen");
        ASSERT_EQ(json_int(h, "case"), F.case_id);
        ASSERT_EQ(json_int(h, "amount"), 1000);
        ASSERT(json_int(h, "release_at") > json_int(h, "created_at"));
    }
    ASSERT_EQ(json_int(json_array_get(holds, 0), "account"), F.bob.account);
    ASSERT_EQ(json_int(json_array_get(holds, 1), "account"), F.carol.account);
    json_decref(j);

    /* held: Dave's, no case */
    j = admin_get("/v1/admin/holds?status=held");
    holds = json_get(j, "holds");
    ASSERT(json_array_size(holds) >= 1);
    long long held_total = 0;
    for (size_t i = 0; i < json_array_size(holds); i++) {
        json_t *h = json_array_get(holds, i);
        ASSERT_STR(json_str(h, "status"), "held");
        ASSERT_EQ(json_int(h, "account"), F.dave.account);
        ASSERT_EQ(json_int(h, "case"), 0);
        held_total += json_int(h, "amount");
    }
    ASSERT_EQ(held_total, 300);
    size_t n_held = json_array_size(holds);
    json_decref(j);
    j = admin_get("/v1/admin/holds?status=released");
    ASSERT_EQ(json_array_size(json_get(j, "holds")), 0);
    json_decref(j);

    /* every hold, one per page: ids ascending, `next` until the end */
    long long after = 0, last = 0;
    size_t seen = 0;
    for (int guard = 0; guard < 20; guard++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/admin/holds?limit=1&after=%lld", after);
        j = admin_get(path);
        holds = json_get(j, "holds");
        json_t *next = json_get(j, "next");
        if (json_array_size(holds) == 0) {
            ASSERT(json_is_null(next));
            json_decref(j);
            break;
        }
        ASSERT_EQ(json_array_size(holds), 1);
        long long id = json_int(json_array_get(holds, 0), "hold");
        ASSERT(id > last);
        last = id;
        seen++;
        if (json_is_null(next)) {
            json_decref(j);
            break;
        }
        ASSERT_EQ(json_integer_value(next), id);
        after = id;
        json_decref(j);
    }
    ASSERT_EQ(seen, 2 + n_held);
    j = admin_get("/v1/admin/holds?limit=2");
    ASSERT_EQ(json_array_size(json_get(j, "holds")), 2);
    ASSERT_EQ(json_integer_value(json_get(j, "next")),
              json_int(json_array_get(json_get(j, "holds"), 1), "hold"));
    json_decref(j);

    /* errors: no token, a wrong token, bad status, bad paging */
    j = NULL;
    int st = admin(&S, NULL, "GET", "/v1/admin/holds", NULL, &j);
    ASSERT_API_ERR(st, j, 401, "DC_ERR_ADMIN_AUTH");
    json_decref(j);
    st = admin(&S, "not-the-token", "GET", "/v1/admin/holds?status=frozen", NULL, &j);
    ASSERT_API_ERR(st, j, 401, "DC_ERR_ADMIN_AUTH");
    json_decref(j);
    expect_field_error("/v1/admin/holds?status=bogus", "status");
    expect_field_error("/v1/admin/holds?status=", "status");
    expect_field_error("/v1/admin/holds?limit=0", "limit");
    expect_field_error("/v1/admin/holds?limit=501", "limit");
    expect_field_error("/v1/admin/holds?limit=1x", "limit");
    expect_field_error("/v1/admin/holds?after=-1", "after");
    expect_field_error("/v1/admin/holds?after=99999999999999999999", "after");
    st = admin(&S, S.token, "POST", "/v1/admin/holds", "{}", &j);
    ASSERT_API_ERR(st, j, 405, "DC_ERR_METHOD");
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_case_evidence_and_events(void)
{
    fork_case();
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", F.case_id);
    json_t *c = admin_get(path);
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/evidence", F.case_id);
    json_t *e = admin_get(path);
    ASSERT_EQ(json_int(e, "case"), F.case_id);
    ASSERT(json_is_true(json_get(e, "verified")));
    ASSERT_STR(json_str(e, "culprit"), F.alice.pk_hex);
    ASSERT_STR(json_str(e, "serial"), json_str(c, "serial"));
    ASSERT_STR(json_str(e, "state"), json_str(c, "state"));
    ASSERT_EQ(json_int(e, "value"), 1000);
    json_t *succ = json_get(e, "successors");
    ASSERT_EQ(json_array_size(succ), 2);
    const char *ev = json_str(c, "evidence");
    const char *rec[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(succ, i);
        ASSERT_STR(json_str(s, "type"), "transfer");
        rec[i] = json_str(s, "record");
        ASSERT_EQ((long long)strlen(rec[i]), 2 * json_int(s, "bytes"));
        /* both are the evidence's last records, in its byte order */
        if (!strstr(ev, rec[i])) FAIL_AT("successor %zu is not part of the evidence", i);
    }
    ASSERT(strcmp(rec[0], rec[1]) < 0);
    size_t lev = strlen(ev), l1 = strlen(rec[1]);
    ASSERT(strcmp(ev + lev - l1, rec[1]) == 0);
    json_decref(e);
    json_decref(c);

    json_t *j = NULL;
    int st = admin(&S, S.token, "GET", "/v1/admin/cases/999/evidence", NULL, &j);
    ASSERT_API_ERR(st, j, 404, "DC_ERR_NO_CASE");
    json_decref(j);
    st = admin(&S, NULL, "GET", path, NULL, &j);
    ASSERT_API_ERR(st, j, 401, "DC_ERR_ADMIN_AUTH");
    json_decref(j);

    /* the journal: opened by the system, then the operator's decision */
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/events", F.case_id);
    j = admin_get(path);
    ASSERT_EQ(json_int(j, "case"), F.case_id);
    json_t *evs = json_get(j, "events");
    ASSERT_EQ(json_array_size(evs), 1);
    ASSERT_STR(json_str(json_array_get(evs, 0), "actor"), "system");
    ASSERT_STR(json_str(json_array_get(evs, 0), "action"), "open");
    ASSERT_STR(json_str(json_array_get(evs, 0), "reason"), "fork detected");
    json_decref(j);
    /* the command line refuses a reason the case and its event cannot keep
     * (255 bytes; 150 x U+00E9 would be cut inside a character and the
     * case could no longer be shown as JSON) or that is not UTF-8 */
    char out[4096], longer[512] = "";
    for (int i = 0; i < 150; i++) strcat(longer, "\xc3\xa9");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases resolve %lld honour --reason %s", F.case_id,
                      longer), 2);
    ASSERT(strstr(out, "--reason of at most 255") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases resolve %lld honour --reason a\xff",
                      F.case_id), 2);
    j = admin_get(path);
    ASSERT_EQ(json_array_size(json_get(j, "events")), 1); /* nothing recorded */
    json_decref(j);
    resolve(F.case_id, "reject", "ops-lee", "Carol was paid from a restored backup");
    j = admin_get(path);
    evs = json_get(j, "events");
    ASSERT_EQ(json_array_size(evs), 2);
    json_t *last = json_array_get(evs, 1);
    ASSERT_STR(json_str(last, "actor"), "ops-lee");
    ASSERT_STR(json_str(last, "action"), "reject");
    ASSERT_STR(json_str(last, "reason"), "Carol was paid from a restored backup");
    ASSERT(json_int(last, "time") >= json_int(json_array_get(evs, 0), "time"));
    ASSERT(json_int(last, "id") > json_int(json_array_get(evs, 0), "id"));
    json_decref(j);
    st = admin(&S, S.token, "GET", "/v1/admin/cases/999/events", NULL, &j);
    ASSERT_API_ERR(st, j, 404, "DC_ERR_NO_CASE");
    json_decref(j);
    st = admin(&S, NULL, "GET", path, NULL, &j);
    ASSERT_API_ERR(st, j, 401, "DC_ERR_ADMIN_AUTH");
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- The browser -------------------------------------------------------------- */

/* Loads http://127.0.0.1:PORT/admin#FRAGMENT in headless chromium and
 * returns the DOM it rendered (malloc'd); *log gets chromium's log, where
 * the page's console messages appear (malloc'd; NULL: not wanted). Fails
 * if chromium is missing or prints nothing. */
static char *browse(const char *fragment, char **log)
{
    const char *bin = getenv("CHROMIUM");
    if (!bin || !*bin) bin = "chromium";
    char profile[] = "/tmp/ducat-console-chromium-XXXXXX";
    ASSERT(mkdtemp(profile) != NULL);
    char cmd[2048];
    snprintf(
        cmd, sizeof cmd,
        "timeout 90 %s --headless --no-sandbox --disable-gpu --no-first-run "
        "--user-data-dir=%s --enable-logging=stderr --v=0 --dump-dom --virtual-time-budget=10000 "
        "'http://127.0.0.1:%d/admin%s%s' 2>%s/stderr",
        bin, profile, S.port, fragment[0] ? "#" : "", fragment, profile);
    FILE *p = popen(cmd, "r");
    ASSERT(p != NULL);
    size_t n;
    char *dom = read_all(p, &n);
    int rc = pclose(p);
    if (log) {
        char path[96];
        snprintf(path, sizeof path, "%s/stderr", profile);
        *log = slurp(path);
    }
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", profile);
    if (system(rm) != 0) printf("# could not remove %s\n", profile);
    if (n == 0 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        free(dom);
        FAIL_AT("%s exited %d with no DOM (scripts/deps.sh installs chromium)", bin,
                WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    }
    return dom;
}

static void expect_in(const char *dom, const char *what, const char *why)
{
    if (!strstr(dom, what)) {
        printf("# DOM:\n%s\n", dom);
        FAIL_AT("%s: '%s' not in the rendered page", why, what);
    }
}

static void test_browser_renders_case(void)
{
    fork_case();
    char frag[512], want[256];

    /* no token: the sign-in form, no data */
    char *dom = browse("", NULL);
    expect_in(dom, "<section id=\"login\">", "sign-in form shown");
    ASSERT(!strstr(dom, "data-case="));
    free(dom);

    /* the token in the fragment: the open cases, the culprit account */
    snprintf(frag, sizeof frag, "token=%s", S.token);
    dom = browse(frag, NULL);
    snprintf(want, sizeof want, "<tr data-case=\"%lld\">", F.case_id);
    expect_in(dom, want, "the case is listed");
    snprintf(want, sizeof want, "culprit-account\">%lld<", F.alice.account);
    expect_in(dom, want, "the culprit account is named");
    expect_in(dom, "10.00 CNY", "the case's value in major units");
    ASSERT(!strstr(dom, S.token)); /* the page never shows the token */
    free(dom);

    /* a view name that is no view of the console, even one every object
     * inherits (constructor), shows the cases */
    snprintf(frag, sizeof frag, "view=constructor&token=%s", S.token);
    dom = browse(frag, NULL);
    snprintf(want, sizeof want, "<tr data-case=\"%lld\">", F.case_id);
    expect_in(dom, want, "an unknown view shows the cases");
    free(dom);

    /* the case: evidence, both successors, the frozen credits */
    snprintf(frag, sizeof frag, "view=case&id=%lld&token=%s", F.case_id, S.token);
    char *log;
    dom = browse(frag, &log);
    /* the page took the token out of the address (and so the history) */
    snprintf(want, sizeof want, "ducat console at http://127.0.0.1:%d/admin#view=case&id=%lld\"",
             S.port, F.case_id);
    int in_log = strstr(log, want) != NULL, token_in_log = strstr(log, S.token) != NULL;
    if (!in_log || token_in_log) printf("# chromium log:\n%s\n", log);
    free(log);
    if (!in_log) FAIL_AT("the page did not log its address without the token");
    if (token_in_log) FAIL_AT("the token is still in the address");
    snprintf(want, sizeof want, "culprit-account\">%lld<", F.alice.account);
    expect_in(dom, want, "the case names the culprit account");
    expect_in(dom, F.alice.pk_hex, "the culprit device");
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "<tr data-hold=\"%lld\" data-status=\"frozen\">", F.frozen[i]);
        expect_in(dom, want, "the frozen credit is shown");
    }
    const char *s1 = strstr(dom, "<tr class=\"successor\">");
    ASSERT(s1 && strstr(s1 + 1, "<tr class=\"successor\">"));
    expect_in(dom, "ducat:evidence:1:", "the evidence armor");
    expect_in(dom, "fork detected", "the case's journal");
    expect_in(dom, "Resolve case", "the resolve form of an open case");
    free(dom);

    /* the frozen box */
    snprintf(frag, sizeof frag, "view=holds&status=frozen&token=%s", S.token);
    dom = browse(frag, NULL);
    snprintf(want, sizeof want, "<tr data-hold=\"%lld\" data-status=\"frozen\">", F.frozen[1]);
    expect_in(dom, want, "the frozen box lists the credit");
    snprintf(want, sizeof want, "case %lld", F.case_id);
    expect_in(dom, want, "the frozen box names the case");
    free(dom);

    /* resolved (over the API): the decision, who took it and why */
    resolve(F.case_id, "honour", "ops-wang", "both receivers acted in good faith");
    /* Alice's cash-in repays the loss account: the case is settled; the
     * credits, due since the decision, are released */
    ASSERT_EQ(fund(&S, F.alice.account, 1000), 201);
    ASSERT_EQ(admin(&S, S.token, "POST", "/v1/admin/holds/release", "{}", NULL), 200);
    snprintf(frag, sizeof frag, "view=case&id=%lld&token=%s", F.case_id, S.token);
    dom = browse(frag, NULL);
    expect_in(dom, "Case ", "the case view");
    expect_in(dom, "ops-wang", "the resolving actor");
    expect_in(dom, "both receivers acted in good faith", "the reason");
    expect_in(dom, "<td>honour</td>", "the decision");
    ASSERT(!strstr(dom, "Resolve case")); /* no form on a resolved case */
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "<tr data-hold=\"%lld\" data-status=\"released\">",
                 F.frozen[i]);
        expect_in(dom, want, "the credits are no longer frozen");
    }
    free(dom);

    /* a wrong token: the API's error, by name, and the sign-in form */
    dom = browse("token=wrong-token", NULL);
    expect_in(dom, "DC_ERR_ADMIN_AUTH", "the refusal is shown by its code name");
    expect_in(dom, "<section id=\"login\">", "back to the sign-in form");
    free(dom);
    audit_ok(&S);
    srv_cleanup(&S);
}

TESTS(T(test_files_served_with_security_headers), T(test_script_calls_only_admin_routes),
      T(test_console_off), T(test_holds_endpoint), T(test_case_evidence_and_events),
      T(test_browser_renders_case))
