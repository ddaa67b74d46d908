/*
 * test_api_search.c - the server-side admin search against a real ducatd:
 * GET /v1/admin/accounts?q= finds an account by number, by the start of
 * its name in any case of A-Z, by alias prefix and by device key prefix,
 * says which criterion matched, and pages with after/next; a viewer may
 * search; bad q, limit and after are refused with 400 naming the
 * parameter. GET /v1/admin/cases?q= answers in the same shape (its
 * matching by number and coin serial runs in the store contract suite
 * and in the console's browser test on a real fork case).
 */
#include "test.h"
/* harness.h after test.h */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static struct srv S;

/* GET /v1/admin/<what>?q=<q> as who; fails unless 200. */
static json_t *search(const char *who, const char *what, const char *q)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/admin/%s?q=%s", what, q);
    json_t *j = NULL;
    int st = admin(&S, who, "GET", path, NULL, &j);
    if (st != 200) FAIL_AT("GET %s answered %d", path, st);
    return j;
}

/* the account ids of a result, in order, as "1001,1003" */
static void ids_of(json_t *j, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *arr = json_get(j, "accounts");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%lld", i ? "," : "",
                 json_int(json_array_get(arr, i), "account"));
    }
}

static void test_account_search(void)
{
    srv_init(&S, "--auto-verify");
    srv_start(&S);
    struct dev a, b, c, d;
    dev_setup(&S, &a, "Carol Li", 0);
    dev_setup(&S, &b, "Carl Wu", 0);
    dev_setup(&S, &c, "Dave Carlsen", 0);
    dev_setup(&S, &d, "caroline ma", 0);
    char ids[128], want[128], q[80];

    json_t *j = search(S.token, "accounts", "CAR");
    ids_of(j, ids, sizeof ids);
    snprintf(want, sizeof want, "%lld,%lld,%lld", a.account, b.account, d.account);
    ASSERT_STR(ids, want); /* a name's start, any case; not "Dave Carlsen" */
    json_t *m = json_get(json_array_get(json_get(j, "accounts"), 0), "matched");
    ASSERT_EQ(json_array_size(m), 1);
    ASSERT_STR(json_string_value(json_array_get(m, 0)), "name");
    ASSERT(json_is_null(json_get(j, "next")));
    json_decref(j);

    /* one a page: next is the after of the following page */
    j = search(S.token, "accounts", "car&limit=1");
    ids_of(j, ids, sizeof ids);
    snprintf(want, sizeof want, "%lld", a.account);
    ASSERT_STR(ids, want);
    long long next = json_int(j, "next");
    json_decref(j);
    snprintf(q, sizeof q, "car&limit=2&after=%lld", next);
    j = search(S.token, "accounts", q);
    ids_of(j, ids, sizeof ids);
    snprintf(want, sizeof want, "%lld,%lld", b.account, d.account);
    ASSERT_STR(ids, want);
    ASSERT(json_is_null(json_get(j, "next")));
    json_decref(j);

    /* by number */
    snprintf(q, sizeof q, "%lld", c.account);
    j = search(S.token, "accounts", q);
    ids_of(j, ids, sizeof ids);
    ASSERT_STR(ids, q);
    ASSERT_STR(json_string_value(json_array_get(
                   json_get(json_array_get(json_get(j, "accounts"), 0), "matched"), 0)),
               "id");
    /* by alias prefix (the alias as the API shows it) */
    char alias[32];
    snprintf(alias, sizeof alias, "%s",
             json_str(json_array_get(json_get(j, "accounts"), 0), "alias"));
    json_decref(j);
    alias[6] = '\0';
    j = search(S.token, "accounts", alias);
    json_t *arr = json_get(j, "accounts");
    int found = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *x = json_array_get(arr, i);
        if (json_int(x, "account") == c.account) {
            found = 1;
            char *why = json_dumps(json_get(x, "matched"), 0);
            ASSERT(why && strstr(why, "alias") != NULL);
            free(why);
        }
    }
    ASSERT(found);
    json_decref(j);
    /* by device key prefix, in capitals */
    char key[16];
    snprintf(key, sizeof key, "%.10s", d.pk_hex);
    for (char *p = key; *p; p++) {
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    }
    j = search(S.token, "accounts", key);
    ids_of(j, ids, sizeof ids);
    snprintf(want, sizeof want, "%lld", d.account);
    ASSERT(strstr(ids, want) != NULL);
    json_decref(j);
    j = search(S.token, "accounts", "nobody");
    ASSERT_EQ(json_array_size(json_get(j, "accounts")), 0);
    json_decref(j);
    j = search(S.token, "cases", "ffff");
    ASSERT_EQ(json_array_size(json_get(j, "cases")), 0);
    ASSERT(json_is_null(json_get(j, "next")));
    json_decref(j);

    /* a viewer may search */
    char out[4096];
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators add ops-look --role viewer"), 0);
    char *look = strndup(strstr(out, "dcop_"), strcspn(strstr(out, "dcop_"), "\n"));
    j = search(look, "accounts", "carl");
    ASSERT_EQ(json_array_size(json_get(j, "accounts")), 1);
    json_decref(j);
    free(look);

    /* refusals name the parameter */
    static const char *const bad[] = {"/v1/admin/accounts?q=",
                                      "/v1/admin/accounts?q=a&limit=0",
                                      "/v1/admin/accounts?q=a&limit=201",
                                      "/v1/admin/accounts?q=a&after=-1",
                                      "/v1/admin/cases?q=",
                                      "/v1/admin/accounts?q=0123456789012345678901234567890123456"
                                      "7890123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = admin(&S, S.token, "GET", bad[i], NULL, &j);
        ASSERT_API_ERR(st, j, 400, "DC_ERR_FIELD");
        const char *det = json_str(j, "detail");
        if (!strstr(det, "q ") && !strstr(det, "limit") && !strstr(det, "after")) {
            FAIL_AT("%s: detail '%s' names no parameter", bad[i], det);
        }
        json_decref(j);
    }
    audit_ok(&S);
    srv_cleanup(&S);
}

TESTS(T(test_account_search))
