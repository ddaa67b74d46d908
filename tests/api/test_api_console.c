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
 * src/server/http/routes.c). $CHROMIUM overrides the browser binary.
 */
#include "test.h"
/* harness.h needs test.h first */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ducat/calendar.h"

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

/* GET path as the admin on S (the harness's admin_get_on). */
#define admin_get(path) admin_get_on(&S, (path))

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
    /* the SVG namespace is a name, not a place: blanked before the check */
    for (char *ns; (ns = strstr(js, "http://www.w3.org/2000/svg")) != NULL;) memset(ns, '_', 7);
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
    char *src = slurp("src/server/http/routes.c");
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
    srv_conf_append(&S, "\n[server]\nconsole = no\n");
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
    srv_dev_clock(&S); /* a decision needs an honest credit due */
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
static char *operator_add(const char *name);

/* ... as the named operator actor (role operator, created afresh): the
 * bootstrap token can no longer write another name into the journal. */
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
    char out[4096];
    (void)srv_cmd(&S, out, sizeof out, "operators remove %s", actor); /* absent is fine */
    char *tok = operator_add(actor);
    int st = adminf(&S, tok, "POST", path, &j, "{\"decision\":\"%s\",\"reason\":\"%s\"}", decision,
                    reason);
    free(tok);
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
    ASSERT_EQ(
        srv_cmd(&S, out, sizeof out, "cases resolve %lld honour --reason %s", F.case_id, longer),
        2);
    ASSERT(strstr(out, "--reason of at most 255") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases resolve %lld honour --reason a\xff", F.case_id),
              2);
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

/* The row of hold `id` in a rendered holds view (malloc'd), or NULL. */
static char *hold_row(const char *dom, long long id)
{
    char want[96];
    snprintf(want, sizeof want, "<tr data-hold=\"%lld\" ", id);
    const char *p = strstr(dom, want);
    if (!p) return NULL;
    const char *end = strstr(p, "</tr>");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char *row = malloc(n + 1);
    ASSERT(row != NULL);
    memcpy(row, p, n);
    row[n] = '\0';
    return row;
}

/* A credit whose release date is provisional (deposited 2026-12-15 under the
 * shipped calendar, which ends 2026-12-31) is shown as provisional in the
 * console's frozen box, and as a plain date once a calendar covering its
 * window is loaded. */
static void test_browser_shows_provisional(void)
{
    srv_cleanup(&S);
    srv_init_shipped_calendar(&S, "--auto-verify");
    srv_dev_clock(&S);
    char path[160], out[4096];
    snprintf(path, sizeof path, "%s/calendar.txt", S.dir);
    char *text = slurp(path);
    struct dc_calendar ship;
    size_t line;
    ASSERT_EQ(dc_calendar_parse(&ship, &line, text, strlen(text)), DC_OK);
    int32_t day;
    ASSERT_EQ(dc_date_parse(&day, "2026-12-15", 10), DC_OK);
    srv_clock_set(&S, dc_calendar_day_start_ms(&ship, day) + 12ull * 3600 * 1000);
    /* init certified its key from the wall clock, maybe after 2026-12-15 */
    if (srv_cmd(&S, out, sizeof out, "keys rotate") != 0) FAIL_AT("keys rotate: %s", out);
    srv_start(&S);
    struct dev alice, bob;
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_sync(&S, &bob);
    struct coin c[1];
    size_t n = 0;
    json_t *j = NULL;
    ASSERT_EQ(withdraw(&S, &alice, 100, c, 1, &n, &j), 201);
    json_decref(j);
    coin_transfer(&c[0], &alice, &bob);
    coin_deposit(&c[0], &bob, bob.account);
    ASSERT_EQ(deposit(&S, &bob, c, 1, NULL, &j), 201);
    json_t *co = json_array_get(json_get(j, "coins"), 0);
    long long hold = json_int(co, "hold");
    ASSERT(json_is_true(json_get(co, "release_provisional")));
    json_decref(j);

    char frag[512];
    snprintf(frag, sizeof frag, "view=holds&status=held&token=%s", S.token);
    char *dom = browse(frag, NULL);
    char *row = hold_row(dom, hold);
    if (!row || !strstr(row, "(provisional: calendar not loaded that far)")) {
        printf("# DOM:\n%s\n", dom);
        FAIL_AT("hold %lld is not shown provisional", hold);
    }
    free(row);
    free(dom);

    /* a calendar covering 2027 (TEST DATA holidays) makes the date firm */
    char *cov = strstr(text, "covers 2025-01-01 2026-12-31");
    ASSERT(cov != NULL);
    memcpy(cov, "covers 2025-01-01 2027-12-31", 28);
    snprintf(path, sizeof path, "%s/cal2027.txt", S.dir);
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    ASSERT(fputs(text, f) >= 0);
    ASSERT(fputs("\n# TEST DATA, not the official 2027 arrangement\n"
                 "holiday 2027-01-01 2027-01-03\n",
                 f) >= 0);
    ASSERT(fclose(f) == 0);
    free(text);
    if (srv_cmd(&S, out, sizeof out, "calendar load %s", path) != 0) FAIL_AT("load: %s", out);
    dom = browse(frag, NULL);
    row = hold_row(dom, hold);
    /* the deployment's time, as the CLI writes it (it once wrote UTC) */
    if (!row || strstr(row, "provisional:") || !strstr(row, "2027-01-07 00:00 (UTC+08:00)")) {
        printf("# DOM:\n%s\n", dom);
        FAIL_AT("hold %lld should show a firm date", hold);
    }
    free(row);
    free(dom);
    audit_ok(&S);
    srv_cleanup(&S);
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
    snprintf(want, sizeof want, "data-account=\"%lld\"", F.alice.account);
    expect_in(dom, want, "the culprit account is linked");
    expect_in(dom, "Alice Zhang", "the culprit is named");
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
    snprintf(want, sizeof want, "data-account=\"%lld\"", F.alice.account);
    expect_in(dom, want, "the case links the culprit account");
    expect_in(dom, "Alice Zhang", "the case names the culprit");
    expect_in(dom, "id=\"coin-drawing\"", "the coin's history is drawn");
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

/* ---- Driving the browser: the DevTools protocol over a pipe ------------------- */

/*
 * Chromium with --remote-debugging-pipe reads DevTools protocol commands on
 * its fd 3 and writes answers and events on its fd 4, each a JSON text
 * ended by a NUL byte. That is enough to click, type and take screenshots
 * with no driver library: one page (a target with a flat session), commands
 * answered in order, events skipped.
 */
struct cdp {
    pid_t pid;
    int wfd, rfd;
    int next_id;
    char session[128];
    char profile[64];
    char *buf;
    size_t len, cap;
};

static struct cdp B;

static void cdp_send(const char *method, json_t *params, int with_session)
{
    json_t *m = json_pack("{s:i, s:s, s:o}", "id", ++B.next_id, "method", method, "params",
                          params ? params : json_object());
    ASSERT(m != NULL);
    if (with_session) json_object_set_new(m, "sessionId", json_string(B.session));
    char *text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    ASSERT(text != NULL);
    size_t n = strlen(text) + 1; /* the NUL ends the message */
    for (size_t off = 0; off < n;) {
        ssize_t w = write(B.wfd, text + off, n - off);
        if (w <= 0) FAIL_AT("cannot write to chromium: %s", strerror(errno));
        off += (size_t)w;
    }
    free(text);
}

/* The next message from chromium (parsed; caller frees). Fails after 30 s. */
static json_t *cdp_read(void)
{
    time_t until = time(NULL) + 30;
    for (;;) {
        char *nul = B.len ? memchr(B.buf, '\0', B.len) : NULL;
        if (nul) {
            size_t n = (size_t)(nul - B.buf);
            json_error_t je;
            json_t *j = json_loadb(B.buf, n, 0, &je);
            memmove(B.buf, nul + 1, B.len - n - 1);
            B.len -= n + 1;
            if (!j) FAIL_AT("chromium sent no JSON: %s", je.text);
            return j;
        }
        if (B.len + 65536 > B.cap) {
            B.cap = (B.cap ? B.cap * 2 : 1 << 20) + 65536;
            B.buf = realloc(B.buf, B.cap);
            ASSERT(B.buf != NULL);
        }
        ssize_t r = read(B.rfd, B.buf + B.len, B.cap - B.len);
        if (r <= 0) FAIL_AT("chromium closed its pipe (scripts/deps.sh installs chromium)");
        B.len += (size_t)r;
        if (time(NULL) > until) FAIL_AT("chromium did not answer in 30 s");
    }
}

/* Sends a command and returns its "result" (caller frees); fails on an error. */
static json_t *cdp_call(const char *method, json_t *params, int with_session)
{
    cdp_send(method, params, with_session);
    for (;;) {
        json_t *m = cdp_read();
        json_t *id = json_object_get(m, "id");
        if (!id || json_integer_value(id) != B.next_id) {
            json_decref(m); /* an event, or the answer to nothing we wait for */
            continue;
        }
        json_t *err = json_object_get(m, "error");
        if (err) {
            char *t = json_dumps(err, JSON_COMPACT);
            FAIL_AT("%s: %s", method, t ? t : "error");
        }
        json_t *res = json_incref(json_object_get(m, "result"));
        json_decref(m);
        return res;
    }
}

/* Starts chromium with one blank page of width x height CSS pixels. */
static void browser_start(int width, int height)
{
    memset(&B, 0, sizeof B);
    snprintf(B.profile, sizeof B.profile, "/tmp/ducat-console-cdp-XXXXXX");
    ASSERT(mkdtemp(B.profile) != NULL);
    int to[2], from[2];
    ASSERT(pipe(to) == 0 && pipe(from) == 0);
    const char *bin = getenv("CHROMIUM");
    if (!bin || !*bin) bin = "chromium";
    B.pid = fork();
    ASSERT(B.pid >= 0);
    if (B.pid == 0) {
        /* above 4 first, so that dup2 onto 3 and 4 cannot close either end */
        int r = fcntl(to[0], F_DUPFD, 10), w = fcntl(from[1], F_DUPFD, 10);
        if (r < 0 || w < 0 || dup2(r, 3) < 0 || dup2(w, 4) < 0) _exit(127);
        char dir[96], log[128];
        snprintf(dir, sizeof dir, "--user-data-dir=%s", B.profile);
        snprintf(log, sizeof log, "%s/stderr", B.profile);
        int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (lf >= 0) {
            dup2(lf, 2);
            dup2(lf, 1);
        }
        for (int fd = 5; fd < 64; fd++) close(fd);
        execlp(bin, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--hide-scrollbars", "--remote-debugging-pipe", dir, "about:blank", (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    B.wfd = to[1];
    B.rfd = from[0];
    json_t *r = cdp_call("Target.createTarget", json_pack("{s:s}", "url", "about:blank"), 0);
    const char *target = json_string_value(json_object_get(r, "targetId"));
    ASSERT(target != NULL);
    json_t *a = cdp_call("Target.attachToTarget",
                         json_pack("{s:s, s:b}", "targetId", target, "flatten", 1), 0);
    snprintf(B.session, sizeof B.session, "%s", json_string_value(json_object_get(a, "sessionId")));
    json_decref(a);
    json_decref(r);
    ASSERT(B.session[0]);
    json_decref(cdp_call("Emulation.setDeviceMetricsOverride",
                         json_pack("{s:i, s:i, s:i, s:b}", "width", width, "height", height,
                                   "deviceScaleFactor", 1, "mobile", 0),
                         1));
}

static void browser_stop(void)
{
    if (B.pid <= 0) return;
    close(B.wfd); /* chromium exits when its pipe closes */
    close(B.rfd);
    int st;
    for (int i = 0; i < 50 && waitpid(B.pid, &st, WNOHANG) == 0; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (waitpid(B.pid, &st, WNOHANG) == 0) {
        kill(B.pid, SIGKILL);
        waitpid(B.pid, &st, 0);
    }
    B.pid = 0;
    free(B.buf);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", B.profile);
    if (system(rm) != 0) printf("# could not remove %s\n", B.profile);
}

/* Evaluates a JavaScript expression in the page; its value (caller frees). */
static json_t *js(const char *expr)
{
    json_t *r = cdp_call(
        "Runtime.evaluate",
        json_pack("{s:s, s:b, s:b}", "expression", expr, "returnByValue", 1, "awaitPromise", 1), 1);
    if (json_object_get(r, "exceptionDetails")) {
        char *t = json_dumps(json_object_get(r, "exceptionDetails"), JSON_COMPACT);
        FAIL_AT("page: %s threw %s", expr, t ? t : "");
    }
    json_t *v = json_incref(json_object_get(json_object_get(r, "result"), "value"));
    json_decref(r);
    return v ? v : json_null();
}

static long long js_int(const char *expr)
{
    json_t *v = js(expr);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v)
                  : json_is_real(v)  ? (long long)json_real_value(v)
                                     : -1;
    json_decref(v);
    return n;
}

/* The page's text for expr (a string expression; "" if not a string; malloc'd). */
static char *js_str(const char *expr)
{
    json_t *v = js(expr);
    char *s = strdup(json_is_string(v) ? json_string_value(v) : "");
    json_decref(v);
    ASSERT(s != NULL);
    return s;
}

/* Waits (up to 15 s) until expr is true in the page (an exception while the
 * page is still loading counts as false); fails naming why. */
static void wait_for(const char *expr, const char *why)
{
    char *guarded = malloc(strlen(expr) + 64);
    ASSERT(guarded != NULL);
    sprintf(guarded, "(() => { try { return %s; } catch (e) { return false; } })()", expr);
    for (int i = 0; i < 150; i++) {
        json_t *v = js(guarded);
        int ok = json_is_true(v);
        json_decref(v);
        if (ok) {
            free(guarded);
            return;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char *err = js_str("document.getElementById('error').textContent");
    char *body = js_str("document.body.innerText.slice(0, 3000)");
    printf("# page error box: %s\n# page text:\n%s\n", err, body);
    free(err);
    free(body);
    FAIL_AT("%s: '%s' never held", why, expr);
}

static void browser_go(const char *url)
{
    json_decref(cdp_call("Page.navigate", json_pack("{s:s}", "url", url), 1));
}

/*
 * A screenshot of the page (clip_expr NULL) or of the element clip_expr
 * selects, written to DIR/name.png. Checks that it is a PNG (signature and
 * an IHDR chunk) of exactly the expected width and height in pixels (the
 * viewport, or the element's box) and more than 2 KB (a blank image of
 * that size compresses far smaller). OUT: *w, *h.
 */
static void screenshot(const char *name, const char *clip_expr, long long want_w, long long want_h)
{
    json_t *params = json_pack("{s:s}", "format", "png");
    if (clip_expr) {
        char expr[512];
        snprintf(expr, sizeof expr,
                 "(() => { const r = %s.getBoundingClientRect(); return [r.x + scrollX, "
                 "r.y + scrollY, r.width, r.height]; })()",
                 clip_expr);
        json_t *box = js(expr);
        ASSERT(json_array_size(box) == 4);
        json_object_set_new(params, "clip",
                            json_pack("{s:O, s:O, s:O, s:O, s:i}", "x", json_array_get(box, 0), "y",
                                      json_array_get(box, 1), "width", json_array_get(box, 2),
                                      "height", json_array_get(box, 3), "scale", 1));
        json_object_set_new(params, "captureBeyondViewport", json_true());
        json_decref(box);
    }
    json_t *r = cdp_call("Page.captureScreenshot", params, 1);
    const char *b64 = json_string_value(json_object_get(r, "data"));
    ASSERT(b64 != NULL);
    size_t cap = strlen(b64), n = 0;
    uint8_t *png = malloc(cap);
    ASSERT(png != NULL);
    ASSERT(sodium_base642bin(png, cap, b64, strlen(b64), NULL, &n, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0);
    json_decref(r);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 33 || memcmp(png, sig, 8) != 0 || memcmp(png + 12, "IHDR", 4) != 0) {
        FAIL_AT("%s: not a PNG (%zu bytes)", name, n);
    }
    long long w = (long long)png[16] << 24 | png[17] << 16 | png[18] << 8 | png[19];
    long long h = (long long)png[20] << 24 | png[21] << 16 | png[22] << 8 | png[23];
    if (w != want_w || h != want_h) {
        FAIL_AT("%s: %lldx%lld pixels, expected %lldx%lld", name, w, h, want_w, want_h);
    }
    if (n < 2048) FAIL_AT("%s: only %zu bytes: a blank image?", name, n);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.png", S.dir, name);
    FILE *f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT(fwrite(png, 1, n, f) == n);
    ASSERT(fclose(f) == 0);
    printf("# %s: %lldx%lld PNG, %zu bytes (%s)\n", name, w, h, n, path);
    free(png);
}

/*
 * The investigator's reads over the API, on the simple fork (Alice pays one
 * state to Bob and to Carol): the coin tree (genesis = forked state, two
 * lettered branches signed by Alice's account, each ending in the deposit
 * and the frozen hold it produced), an account's holds and history with
 * paging, the accounts list with names and paging, the summary's totals;
 * unknown ids are 404 and bad parameters 400.
 */
static void test_investigation_reads(void)
{
    fork_case();
    char path[128];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/coin", F.case_id);
    json_t *t = admin_get(path);
    ASSERT_EQ(json_array_size(json_get(t, "nodes")), 5);
    ASSERT_EQ(json_array_size(json_get(t, "edges")), 4);
    json_t *deps = json_get(t, "deposits");
    ASSERT_EQ(json_array_size(deps), 2);
    ASSERT_EQ(json_int(json_get(t, "culprit"), "account"), F.alice.account);
    size_t forks = 0, lettered = 0;
    json_t *v;
    size_t i;
    json_array_foreach(json_get(t, "nodes"), i, v)
    {
        if (json_is_true(json_object_get(v, "fork"))) {
            forks++;
            ASSERT(json_is_true(json_object_get(v, "genesis")));
            ASSERT_STR(json_str(v, "state"), json_str(t, "fork_state"));
        }
    }
    ASSERT_EQ(forks, 1);
    json_array_foreach(json_get(t, "edges"), i, v)
    {
        const char *b = json_str(v, "branch");
        if (!b[0]) continue;
        lettered++;
        ASSERT_STR(json_str(v, "type"), "transfer");
        ASSERT_EQ(json_int(json_get(v, "signer"), "account"), F.alice.account);
        ASSERT_STR(json_str(json_get(v, "signer"), "name"), "Alice Zhang");
        long long to = json_int(json_get(json_get(v, "decoded"), "to"), "account");
        ASSERT(to == F.bob.account || to == F.carol.account);
    }
    ASSERT_EQ(lettered, 2);
    int seen[2] = {0, 0};
    json_array_foreach(deps, i, v)
    {
        json_t *h = json_get(v, "hold");
        ASSERT_STR(json_str(h, "status"), "frozen");
        for (int k = 0; k < 2; k++) seen[k] |= json_int(h, "hold") == F.frozen[k];
        ASSERT(strcmp(json_str(v, "branch"), "A") == 0 || strcmp(json_str(v, "branch"), "B") == 0);
    }
    ASSERT(seen[0] && seen[1]);
    json_decref(t);

    json_t *j = NULL;
    int st = admin(&S, S.token, "GET", "/v1/admin/cases/999/coin", NULL, &j);
    ASSERT_API_ERR(st, j, 404, "DC_ERR_NO_CASE");
    json_decref(j);
    st = admin(&S, S.token, "GET", "/v1/admin/accounts/99999/holds", NULL, &j);
    ASSERT_API_ERR(st, j, 404, "DC_ERR_NO_ACCOUNT");
    json_decref(j);
    st = admin(&S, S.token, "GET", "/v1/admin/accounts/99999/history", NULL, &j);
    ASSERT_API_ERR(st, j, 404, "DC_ERR_NO_ACCOUNT");
    json_decref(j);
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/history?limit=0", F.dave.account);
    expect_field_error(path, "limit");

    /* Bob's frozen credit; Dave's history page by page (fund, withdraw,
     * and a held credit per deposited coin: four postings) */
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/holds", F.bob.account);
    j = admin_get(path);
    ASSERT_EQ(json_array_size(json_get(j, "holds")), 1);
    ASSERT_EQ(json_int(json_array_get(json_get(j, "holds"), 0), "case"), F.case_id);
    json_decref(j);
    long long before = 0, total = 0;
    for (int page = 0; page < 10; page++) {
        if (before) {
            snprintf(path, sizeof path, "/v1/admin/accounts/%lld/history?limit=1&before=%lld",
                     F.dave.account, before);
        } else {
            snprintf(path, sizeof path, "/v1/admin/accounts/%lld/history?limit=1", F.dave.account);
        }
        j = admin_get(path);
        total += (long long)json_array_size(json_get(j, "entries"));
        json_t *nb = json_object_get(j, "next_before");
        before = json_is_integer(nb) ? (long long)json_integer_value(nb) : 0;
        json_decref(j);
        if (!before) break;
    }
    ASSERT_EQ(total, 4);

    /* the accounts list: names, paging */
    j = admin_get("/v1/admin/accounts?limit=2");
    ASSERT_EQ(json_array_size(json_get(j, "accounts")), 2);
    long long next = json_int(j, "next");
    json_decref(j);
    snprintf(path, sizeof path, "/v1/admin/accounts?limit=1000&after=%lld", next);
    j = admin_get(path);
    json_t *first = json_array_get(json_get(j, "accounts"), 0);
    ASSERT(json_int(first, "account") > next);
    int named = 0;
    json_array_foreach(json_get(j, "accounts"), i, v)
    {
        if (json_int(v, "account") == F.carol.account) {
            ASSERT_STR(json_str(v, "name"), "Carol Wang");
            named = 1;
        }
    }
    ASSERT(named);
    ASSERT(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    expect_field_error("/v1/admin/accounts?limit=0", "limit");

    /* the frozen box's totals: Bob's and Carol's credits frozen, Dave's held */
    j = admin_get("/v1/admin/summary");
    ASSERT_EQ(json_int(j, "frozen"), 2000);
    ASSERT_EQ(json_int(j, "held"), 2300);
    ASSERT_EQ(json_int(j, "cases_open"), 1);
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* ---- The investigator's path, in a real browser --------------------------- */

/* Moves business time 60 days on: the honest credits are due, so a
 * decision on the shortfall is possible. */
static void clock_60_days(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/clock", S.dir);
    FILE *ck = fopen(path, "w");
    ASSERT(ck != NULL);
    ASSERT(fprintf(ck, "%llu\n", (unsigned long long)(h_now_ms() + 60ull * 86400000ull)) > 0);
    ASSERT(fclose(ck) == 0);
}

/* `ducatd operators add NAME --role operator`: the credential it prints
 * once (malloc'd). */
static char *operator_add(const char *name)
{
    char out[4096];
    int rc = srv_cmd(&S, out, sizeof out, "operators add %s --role operator", name);
    if (rc != 0) FAIL_AT("operators add %s exited %d: %s", name, rc, out);
    const char *t = strstr(out, "dcop_");
    ASSERT(t != NULL);
    size_t n = strcspn(t, "\n");
    ASSERT(n > 40);
    char *tok = strndup(t, n);
    ASSERT(tok != NULL);
    return tok;
}

/*
 * Named operators: a credential of one's own, hashed in the store and never
 * shown again; actions are recorded under that name and a named operator
 * cannot claim another's; a removed operator is refused at once by the
 * running server; reserved and malformed names are refused.
 */
static void test_named_operators(void)
{
    fork_case();
    char *lee = operator_add("ops-lee");
    char out[4096];
    /* the registry keeps no credential: list and the database never show it */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators list"), 0);
    ASSERT(strstr(out, "ops-lee") && strstr(out, "admin"));
    ASSERT(!strstr(out, lee) && !strstr(out, "dcop_"));
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators add ops-lee --role viewer"), 1); /* taken */
    ASSERT(strstr(out, "exists") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators add admin --role admin"), 1); /* reserved */
    ASSERT(strstr(out, "reserved") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators add Bad!Name --role viewer"), 1);
    ASSERT(strstr(out, "operator name") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators frob"), 2);

    json_t *j = NULL;
    ASSERT_EQ(admin(&S, lee, "GET", "/v1/admin/whoami", NULL, &j), 200);
    ASSERT_STR(json_str(j, "operator"), "ops-lee");
    json_decref(j);
    ASSERT_EQ(admin(&S, S.token, "GET", "/v1/admin/whoami", NULL, &j), 200);
    ASSERT_STR(json_str(j, "operator"), "admin");
    json_decref(j);
    /* a named operator cannot act as someone else */
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/freeze", F.dave.account);
    int st = admin(&S, lee, "POST", path, "{\"reason\":\"x\",\"actor\":\"ops-wang\"}", &j);
    ASSERT_API_ERR(st, j, 400, "DC_ERR_FIELD");
    ASSERT(strstr(json_str(j, "detail"), "ops-lee") != NULL);
    json_decref(j);
    /* ... and is recorded under their own name */
    ASSERT_EQ(admin(&S, lee, "POST", path, "{\"reason\":\"card reported stolen\"}", &j), 200);
    json_t *evs = json_get(j, "events");
    json_t *last = json_array_get(evs, json_array_size(evs) - 1);
    ASSERT_STR(json_str(last, "actor"), "ops-lee");
    ASSERT_STR(json_str(last, "action"), "freeze");
    json_decref(j);
    /* removed: refused at once, by the server that is running */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators remove ops-lee"), 0);
    st = admin(&S, lee, "GET", "/v1/admin/whoami", NULL, &j);
    ASSERT_API_ERR(st, j, 401, "DC_ERR_ADMIN_AUTH");
    json_decref(j);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators remove ops-lee"), 1);
    /* the server never logged the credential */
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/ducatd.log", S.dir);
    if (access(logpath, R_OK) == 0) {
        char *log = slurp(logpath);
        ASSERT(!strstr(log, lee + 5));
        free(log);
    }
    free(lee);
    audit_ok(&S);
    srv_cleanup(&S);
}

/*
 * A richer fork for the drawing: Alice withdraws 1000 and splits it into
 * 600 + 400; she pays the 600 part to Bob, who pays it on to Dave (a second
 * hop) and Dave deposits it; she pays the same 600 part again to Carol,
 * who deposits it: a fork at the 600 state. Alice deposits the 400 part
 * herself (a chain that ends before the fork).
 */
static void split_fork_case(void)
{
    memset(&F, 0, sizeof F);
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_dev_clock(&S);
    srv_start(&S);
    dev_setup(&S, &F.alice, "Alice Zhang", 1000);
    dev_setup(&S, &F.bob, "Bob Li", 0);
    dev_setup(&S, &F.carol, "Carol Wang", 0);
    dev_setup(&S, &F.dave, "Dave Chen", 0);
    struct coin x[1], parts[2], copy;
    size_t n = 0;
    json_t *j = NULL;
    ASSERT_EQ(withdraw(&S, &F.alice, 1000, x, 1, &n, &j), 201);
    json_decref(j);
    ASSERT_EQ(n, 1);
    const int64_t values[2] = {600, 400};
    coin_split(&x[0], &F.alice, values, 2, parts);
    copy = parts[0];
    dev_sync(&S, &F.bob);
    dev_sync(&S, &F.carol);
    dev_sync(&S, &F.dave);
    coin_transfer(&parts[0], &F.alice, &F.bob);
    coin_transfer(&parts[0], &F.bob, &F.dave);
    coin_deposit(&parts[0], &F.dave, F.dave.account);
    ASSERT_EQ(deposit(&S, &F.dave, &parts[0], 1, NULL, &j), 201);
    json_decref(j);
    coin_deposit(&parts[1], &F.alice, F.alice.account);
    ASSERT_EQ(deposit(&S, &F.alice, &parts[1], 1, NULL, &j), 201);
    json_decref(j);
    coin_transfer(&copy, &F.alice, &F.carol);
    coin_deposit(&copy, &F.carol, F.carol.account);
    ASSERT_EQ(deposit(&S, &F.carol, &copy, 1, NULL, &j), 201);
    F.case_id = json_int(json_array_get(json_get(j, "coins"), 0), "case");
    ASSERT(F.case_id > 0);
    json_decref(j);
}

/*
 * The investigator's path end to end in headless chromium, driven over the
 * DevTools protocol as a person would: sign in with a named operator's
 * credential; the open case is listed with the culprit's name; open it: the
 * coin's history is drawn (checked in the SVG: genesis, split, two hops,
 * the forked state, two lettered branches, three deposits with their
 * holds), every record decoded beside its hex and signed by a named
 * account; follow the culprit to her account page (name, verification,
 * balances, the case, events, history); back on the case, type the reason
 * into the resolve form and submit; the journal then shows the operator's
 * name, as do the case and the API. Screenshots of the case page, of the
 * drawing alone and of the account page are checked to be PNGs of the
 * viewport's or the drawing's exact size and not blank, and kept in the
 * test's directory.
 */
static void test_investigator_path(void)
{
    split_fork_case();
    char *wang = operator_add("ops-wang");
    char expr[1024], url[1024];
    const int VW = 1400, VH = 1800;
    browser_start(VW, VH);

    /* sign in through the form, as the operator would */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/admin", S.port);
    browser_go(url);
    wait_for("!document.getElementById('login').hidden", "the sign-in form");
    snprintf(expr, sizeof expr,
             "document.getElementById('token').value = '%s';"
             "document.getElementById('login-form').requestSubmit(); true",
             wang);
    json_decref(js(expr));
    snprintf(expr, sizeof expr, "!!document.querySelector('tr[data-case=\"%lld\"]')", F.case_id);
    wait_for(expr, "the open case is listed");
    char *who = js_str("document.getElementById('whoami').textContent");
    ASSERT_STR(who, "Signed in as ops-wang (operator)");
    free(who);
    ASSERT(!strstr(url, wang));
    snprintf(expr, sizeof expr,
             "document.querySelector('tr[data-case=\"%lld\"] td.culprit-account').textContent",
             F.case_id);
    char *culprit = js_str(expr);
    if (!strstr(culprit, "Alice Zhang") || !strstr(culprit, "verified")) {
        FAIL_AT("culprit cell '%s' lacks the name or the status", culprit);
    }
    free(culprit);

    /* open the case: the drawing */
    snprintf(expr, sizeof expr,
             "[...document.querySelectorAll('tr[data-case=\"%lld\"] button')]"
             ".find((b) => b.textContent.startsWith('Open case')).click(); true",
             F.case_id);
    json_decref(js(expr));
    wait_for("!!document.getElementById('coin-drawing')", "the coin's history is drawn");
    /* genesis 1000, the split's 600 (forked) and 400 parts, Bob's and Dave's
     * hops, Carol's, and three deposit ends: 9 states; 8 edges (the split
     * record leads to both parts) */
    ASSERT_EQ(js_int("document.querySelectorAll('#coin-drawing g.node').length"), 9);
    ASSERT_EQ(js_int("document.querySelectorAll('#coin-drawing path.edge').length"), 8);
    ASSERT_EQ(js_int("document.querySelectorAll('#coin-drawing g.node.fork').length"), 1);
    ASSERT_EQ(js_int("document.querySelectorAll('#coin-drawing g.node.deposit').length"), 3);
    ASSERT_EQ(js_int("document.querySelectorAll('#coin-drawing path.edge.branch').length"), 2);
    char *fork = js_str("document.querySelector('#coin-drawing g.node.fork').textContent");
    if (!strstr(fork, "FORKED STATE") || !strstr(fork, "6.00 CNY") ||
        !strstr(fork, "Alice Zhang")) {
        FAIL_AT("the forked state's box says '%s'", fork);
    }
    free(fork);
    char *svgtext = js_str("document.getElementById('coin-drawing').textContent");
    static const char *const need[] = {"genesis",  "10.00 CNY", "split",
                                       "Bob Li",   "Dave Chen", "Carol Wang",
                                       "branch A", "branch B",  "4.00 CNY"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (!strstr(svgtext, need[i])) FAIL_AT("the drawing lacks '%s': %s", need[i], svgtext);
    }
    free(svgtext);
    /* the records decoded beside the hex, each signed by a named account */
    ASSERT_EQ(js_int("document.querySelectorAll('tr.record').length"), 8);
    ASSERT_EQ(js_int("document.querySelectorAll('tr.record[data-type=\"split\"]').length"), 2);
    ASSERT_EQ(js_int("document.querySelectorAll('tr.record[data-branch]').length"), 2);
    char *split = js_str("document.querySelector('tr.record[data-type=\"split\"]').innerText");
    if (!strstr(split, "6.00 CNY + 4.00 CNY") || !strstr(split, "Alice Zhang")) {
        FAIL_AT("the split record reads '%s'", split);
    }
    free(split);
    ASSERT_EQ(js_int("[...document.querySelectorAll('tr.record')].filter((r) => "
                     "r.querySelector('button.who') && r.querySelector('code.hex')).length"),
              8);
    /* what each branch produced: Dave's and Carol's frozen credits */
    ASSERT_EQ(js_int("document.querySelectorAll('tr.branch-deposit').length"), 3);
    char *branches = js_str("[...document.querySelectorAll('tr.branch-deposit')]"
                            ".map((r) => r.innerText).join(' | ')");
    if (!strstr(branches, "Dave Chen") || !strstr(branches, "Carol Wang") ||
        !strstr(branches, "frozen") || !strstr(branches, "(before the fork)")) {
        FAIL_AT("the branches' deposits read '%s'", branches);
    }
    free(branches);
    /* the money: what the case owes and what it recovered, as the API says */
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", F.case_id);
    json_t *c = admin_get(path);
    char money[64];
    snprintf(money, sizeof money, "%lld.%02lld CNY", json_int(c, "liability") / 100,
             json_int(c, "liability") % 100);
    char *liab = js_str("document.querySelector('td.liability').textContent");
    ASSERT_STR(liab, money);
    free(liab);
    ASSERT(json_int(c, "liability") > 0);
    json_decref(c);
    screenshot("case", NULL, VW, VH);
    long long dw = js_int("Math.round(document.getElementById('coin-drawing')"
                          ".getBoundingClientRect().width)");
    long long dh = js_int("Math.round(document.getElementById('coin-drawing')"
                          ".getBoundingClientRect().height)");
    ASSERT(dw > 600 && dh > 200);
    screenshot("drawing", "document.getElementById('coin-drawing')", dw, dh);

    /* follow the culprit to her account */
    json_decref(js("document.querySelector('td.culprit-account button.who').click(); true"));
    snprintf(expr, sizeof expr, "!!document.querySelector('h2[data-account=\"%lld\"]')",
             F.alice.account);
    wait_for(expr, "the culprit's account page");
    char *page = js_str("document.getElementById('view').innerText");
    static const char *const acct_need[] = {
        "Alice Zhang",   "verified", "Credits in the frozen box", "Cases",
        "culprit",       "Events",   "History (journal)",         "withdraw",
        "Freeze account"};
    for (size_t i = 0; i < sizeof acct_need / sizeof acct_need[0]; i++) {
        if (!strstr(page, acct_need[i])) FAIL_AT("the account page lacks '%s'", acct_need[i]);
    }
    free(page);
    snprintf(expr, sizeof expr, "!!document.querySelector('#view tr[data-case=\"%lld\"]')",
             F.case_id);
    wait_for(expr, "the account page lists the case");
    ASSERT(js_int("document.querySelectorAll('tr.posting').length") >= 2);
    screenshot("account", NULL, VW, VH);

    /* back to the case; the honest credits fall due; resolve in the form */
    clock_60_days();
    snprintf(expr, sizeof expr,
             "[...document.querySelectorAll('#view tr[data-case=\"%lld\"] button')]"
             ".find((b) => b.textContent.startsWith('Open case')).click(); true",
             F.case_id);
    json_decref(js(expr));
    wait_for("!!document.getElementById('resolve')", "the resolve form");
    ASSERT_EQ(js_int("document.querySelectorAll('#resolve input[name=actor]').length"), 0);
    json_decref(js("document.getElementById('decision').value = 'honour';"
                   "document.getElementById('resolve-reason').value = "
                   "'Dave and Carol were paid in good faith';"
                   "document.getElementById('resolve').requestSubmit(); true"));
    wait_for("document.getElementById('notice').textContent.includes('resolved')",
             "the decision is confirmed");
    wait_for("!document.getElementById('resolve') && !!document.querySelector('td.actor') && "
             "document.querySelector('td.actor').textContent === 'ops-wang'",
             "the case shows who decided");
    char *journal = js_str("[...document.querySelectorAll('tr.event')].map((r) => "
                           "r.innerText).join(' | ')");
    if (!strstr(journal, "ops-wang") ||
        !strstr(journal, "Dave and Carol were paid in good faith")) {
        FAIL_AT("the journal reads '%s'", journal);
    }
    free(journal);
    screenshot("resolved", NULL, VW, VH);

    /* search: by a part of a name (any case), by the coin serial's first
     * digits, by an alias the API gives */
    json_decref(js("document.getElementById('search').value = 'carol';"
                   "document.getElementById('search-form').requestSubmit(); true"));
    snprintf(expr, sizeof expr, "!!document.querySelector('tr.result[data-account=\"%lld\"]')",
             F.carol.account);
    wait_for(expr, "the search finds Carol by name");
    ASSERT_EQ(js_int("document.querySelectorAll('tr.result').length"), 1);
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", F.case_id);
    c = admin_get(path);
    char serial8[9];
    snprintf(serial8, sizeof serial8, "%s", json_str(c, "serial"));
    json_decref(c);
    snprintf(expr, sizeof expr,
             "document.getElementById('search').value = '%s';"
             "document.getElementById('search-form').requestSubmit(); true",
             serial8);
    json_decref(js(expr));
    snprintf(expr, sizeof expr, "!!document.querySelector('tr.result[data-case=\"%lld\"]')",
             F.case_id);
    wait_for(expr, "the search finds the case by the coin's serial");
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld", F.dave.account);
    json_t *dv = admin_get(path);
    snprintf(expr, sizeof expr,
             "document.getElementById('search').value = '%s';"
             "document.getElementById('search-form').requestSubmit(); true",
             json_str(dv, "alias"));
    json_decref(dv);
    json_decref(js(expr));
    snprintf(expr, sizeof expr, "!!document.querySelector('tr.result[data-account=\"%lld\"]')",
             F.dave.account);
    wait_for(expr, "the search finds Dave by his device alias");

    /* a viewer (role viewer) sees the account but is offered no action:
     * no freeze or verify form, a note instead (the server refuses them
     * anyway: test_api_roles) */
    char vout[4096];
    ASSERT_EQ(srv_cmd(&S, vout, sizeof vout, "operators add ops-look --role viewer"), 0);
    char *look = strndup(strstr(vout, "dcop_"), strcspn(strstr(vout, "dcop_"), "\n"));
    ASSERT(look != NULL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/admin?as=viewer#token=%s&view=account&id=%lld",
             S.port, look, F.carol.account);
    browser_go(url);
    wait_for("document.getElementById('whoami').textContent === "
             "'Signed in as ops-look (viewer)'",
             "the viewer is signed in");
    wait_for("!!document.querySelector('p.read-only')", "the read-only note on the account");
    ASSERT_EQ(js_int("document.querySelectorAll('form.action').length"), 0);
    free(look);
    browser_stop();

    /* the API agrees: the decision and its journal entry name the operator */
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", F.case_id);
    c = admin_get(path);
    ASSERT_STR(json_str(c, "actor"), "ops-wang");
    ASSERT_STR(json_str(c, "decision"), "honour");
    json_decref(c);
    snprintf(path, sizeof path, "/v1/admin/cases/%lld/events", F.case_id);
    json_t *ev = admin_get(path);
    json_t *evs = json_get(ev, "events");
    json_t *last = json_array_get(evs, json_array_size(evs) - 1);
    ASSERT_STR(json_str(last, "actor"), "ops-wang");
    ASSERT_STR(json_str(last, "reason"), "Dave and Carol were paid in good faith");
    json_decref(ev);
    free(wang);
    audit_ok(&S);
    srv_cleanup(&S);
}

TESTS(T(test_files_served_with_security_headers), T(test_script_calls_only_admin_routes),
      T(test_console_off), T(test_holds_endpoint), T(test_case_evidence_and_events),
      T(test_browser_renders_case), T(test_browser_shows_provisional), T(test_named_operators),
      T(test_investigation_reads), T(test_investigator_path))
