/*
 * test_api_roles.c - operator roles and expiry against a real ducatd, and
 * who the journal names for an action.
 *
 * Roles: `ducatd operators add NAME --role viewer|operator|admin`. A viewer
 * reads (accounts, cases, holds, audit) and every action route answers it
 * 403 DC_ERR_ADMIN_ROLE naming the role it needs, with nothing written (the
 * account stays as it was, the audit balances); an operator acts and may
 * not list the operators; an admin (and the bootstrap token) may. Every
 * admin route of the route table is tried with a viewer, so a row added
 * later with the wrong role column shows here. Expiry: `--expires 1d`
 * works until business time passes it, then 401 DC_ERR_ADMIN_EXPIRED
 * naming the operator. The command line refuses a missing or unknown role
 * and an expiry in the past. Actors: the bootstrap token cannot write
 * another name into the journal (400), and the command line records
 * unix:USER.
 *
 * Runs from the repository root (reads src/server/http/routes.c).
 */
#include "test.h"
/* harness.h after test.h */
#include "harness.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct srv S;

#define DAY_MS 86400000ull

static void start(void)
{
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_dev_clock(&S);
    srv_clock_set(&S, h_now_ms());
    srv_start(&S);
}

/* `ducatd operators add NAME ARGS`: the credential printed once (malloc'd). */
static char *add_op(const char *name, const char *args)
{
    char out[4096];
    int rc = srv_cmd(&S, out, sizeof out, "operators add %s %s", name, args);
    if (rc != 0) FAIL_AT("operators add %s %s exited %d: %s", name, args, rc, out);
    const char *t = strstr(out, "dcop_");
    ASSERT(t != NULL);
    char *tok = strndup(t, strcspn(t, "\n"));
    ASSERT(tok != NULL);
    return tok;
}

static void expect_role_refused(const char *tok, const char *method, const char *path,
                                const char *body, const char *needs)
{
    json_t *j = NULL;
    int st = admin(&S, tok, method, path, body, &j);
    ASSERT_API_ERR(st, j, 403, "DC_ERR_ADMIN_ROLE");
    const char *d = json_str(j, "detail");
    if (!strstr(d, needs)) FAIL_AT("%s %s: detail '%s' does not name '%s'", method, path, d, needs);
    json_decref(j);
}

/* Every admin route of src/server/http/routes.c, {id} as 1: a viewer may call
 * the GETs (any answer but 401/403) and no POST (403 naming the role). */
static void test_viewer_on_every_admin_route(void)
{
    start();
    char *viewer = add_op("ops-view", "--role viewer");
    FILE *f = fopen("src/server/http/routes.c", "r");
    ASSERT(f != NULL);
    char line[512];
    int gets = 0, posts = 0;
    while (fgets(line, sizeof line, f)) {
        char method[8], path[128];
        const char *p = strstr(line, "{\"");
        if (!p || sscanf(p, "{\"%7[A-Z]\", \"%127[^\"]\"", method, path) != 2) continue;
        if (strncmp(path, "/v1/admin/", 10) != 0) continue;
        char *id = strstr(path, "{id}");
        if (id) memmove(id + 1, id + 4, strlen(id + 4) + 1), id[0] = '1';
        json_t *j = NULL;
        int st = admin(&S, viewer, method, path, strcmp(method, "POST") == 0 ? "{}" : NULL, &j);
        if (strcmp(method, "POST") == 0) {
            ASSERT_API_ERR(st, j, 403, "DC_ERR_ADMIN_ROLE");
            ASSERT(strstr(json_str(j, "detail"), "needs operator") != NULL);
            posts++;
        } else if (strcmp(path, "/v1/admin/operators") == 0) {
            ASSERT_API_ERR(st, j, 403, "DC_ERR_ADMIN_ROLE");
            ASSERT(strstr(json_str(j, "detail"), "needs admin") != NULL);
        } else {
            if (st == 401 || st == 403) FAIL_AT("viewer GET %s answered %d", path, st);
            gets++;
        }
        json_decref(j);
    }
    fclose(f);
    ASSERT(gets >= 10 && posts >= 7);
    free(viewer);
    srv_cleanup(&S);
}

/* A viewer's refused action writes nothing; the operator's goes through
 * and is journaled under their name; only an admin lists the operators. */
static void test_roles_enforced(void)
{
    start();
    struct dev a;
    dev_setup(&S, &a, "Alice Roles", 5000);
    char *viewer = add_op("ops-view", "--role viewer");
    char *oper = add_op("ops-act", "--role operator");
    char *adm = add_op("ops-boss", "--role admin");
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/freeze", a.account);

    expect_role_refused(viewer, "POST", path, "{\"reason\":\"x\"}", "needs operator");
    expect_role_refused(viewer, "POST", "/v1/admin/holds/release", "{}", "needs operator");
    char body[160];
    snprintf(body, sizeof body, "{\"account\":%lld,\"amount\":100,\"request_id\":\"r-view-1\"}",
             a.account);
    expect_role_refused(viewer, "POST", "/v1/admin/fund", body, "needs operator");
    expect_role_refused(viewer, "POST", "/v1/admin/payout", body, "needs operator");
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld", a.account);
    ASSERT_EQ(admin(&S, viewer, "GET", path, NULL, &j), 200);
    ASSERT_STR(json_str(j, "status"), "verified"); /* nothing was written */
    ASSERT_EQ(json_int(j, "available"), 5000);
    json_decref(j);
    ASSERT_EQ(admin(&S, viewer, "GET", "/v1/admin/whoami", NULL, &j), 200);
    ASSERT_STR(json_str(j, "role"), "viewer");
    ASSERT(json_is_null(json_get(j, "expires_at")));
    json_decref(j);

    /* the operator acts, recorded as themself */
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/freeze", a.account);
    ASSERT_EQ(admin(&S, oper, "POST", path, "{\"reason\":\"chargeback\"}", &j), 200);
    json_t *evs = json_get(j, "events");
    ASSERT_STR(json_str(json_array_get(evs, json_array_size(evs) - 1), "actor"), "ops-act");
    json_decref(j);
    expect_role_refused(oper, "GET", "/v1/admin/operators", NULL, "needs admin");

    /* admin and the bootstrap token list the operators, without hashes */
    ASSERT_EQ(admin(&S, adm, "GET", "/v1/admin/operators", NULL, &j), 200);
    json_t *ops = json_get(j, "operators");
    ASSERT_EQ(json_array_size(ops), 4); /* admin (bootstrap) + 3 */
    ASSERT_STR(json_str(json_array_get(ops, 0), "name"), "admin");
    ASSERT_STR(json_str(json_array_get(ops, 1), "role"), "viewer");
    ASSERT_STR(json_str(json_array_get(ops, 2), "role"), "operator");
    ASSERT_STR(json_str(json_array_get(ops, 3), "name"), "ops-boss");
    char *dump = json_dumps(j, 0);
    ASSERT(dump && !strstr(dump, "hash") && !strstr(dump, "dcop_"));
    free(dump);
    json_decref(j);
    ASSERT_EQ(admin(&S, S.token, "GET", "/v1/admin/operators", NULL, &j), 200);
    json_decref(j);

    /* the refusals are logged with the operator's name, never a credential */
    char logp[128];
    snprintf(logp, sizeof logp, "%s/server.log", S.dir);
    FILE *lf = fopen(logp, "r");
    ASSERT(lf != NULL);
    static char log[1 << 20];
    size_t n = fread(log, 1, sizeof log - 1, lf);
    log[n] = '\0';
    fclose(lf);
    ASSERT(strstr(log, "event=admin_role_refused") && strstr(log, "operator=ops-view"));
    ASSERT(!strstr(log, viewer) && !strstr(log, oper));
    free(viewer);
    free(oper);
    free(adm);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* --expires: works until then, refused after (401, named), and listed as
 * expired; the command line refuses bad roles and past dates. */
static void test_expiry(void)
{
    start();
    char out[4096];
    char *tok = add_op("ops-temp", "--role operator --expires 1d");
    json_t *j = NULL;
    ASSERT_EQ(admin(&S, tok, "GET", "/v1/admin/whoami", NULL, &j), 200);
    ASSERT(json_int(j, "expires_at") > (long long)h_now_ms());
    json_decref(j);
    srv_clock_set(&S, h_now_ms() + 2 * DAY_MS);
    int st = admin(&S, tok, "GET", "/v1/admin/whoami", NULL, &j);
    ASSERT_API_ERR(st, j, 401, "DC_ERR_ADMIN_EXPIRED");
    ASSERT(strstr(json_str(j, "detail"), "ops-temp") != NULL);
    json_decref(j);
    ASSERT_EQ(admin(&S, S.token, "GET", "/v1/admin/operators", NULL, &j), 200);
    json_t *o = json_array_get(json_get(j, "operators"), 1);
    ASSERT_STR(json_str(o, "name"), "ops-temp");
    ASSERT(json_is_true(json_get(o, "expired")));
    json_decref(j);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators list"), 0);
    ASSERT(strstr(out, "ops-temp") && strstr(out, "(expired)"));
    free(tok);

    /* a date: accepted in the future, refused in the past */
    char *tok2 = add_op("ops-date", "--role viewer --expires 2099-01-01");
    ASSERT_EQ(admin(&S, tok2, "GET", "/v1/admin/whoami", NULL, &j), 200);
    json_decref(j);
    free(tok2);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out,
                      "operators add ops-old --role viewer --expires "
                      "2020-01-01"),
              2);
    ASSERT(strstr(out, "not in the future") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators add ops-x --role boss"), 2);
    ASSERT(strstr(out, "'boss'") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators add ops-x"), 2);
    ASSERT(strstr(out, "--role is required") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators add ops-x --role viewer --expires soon"), 2);
    ASSERT(strstr(out, "'soon'") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "operators list"), 0);
    ASSERT(!strstr(out, "ops-x") && !strstr(out, "ops-old"));
    srv_cleanup(&S);
}

/* The bootstrap token is recorded as "admin" and cannot claim another
 * name; the command line records the Unix user with --actor as a label. */
static void test_actor_is_real(void)
{
    start();
    struct dev a;
    dev_setup(&S, &a, "Bea Actor", 0);
    char path[96], out[4096];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/freeze", a.account);
    json_t *j = NULL;
    int st = admin(&S, S.token, "POST", path, "{\"reason\":\"x\",\"actor\":\"someone-else\"}", &j);
    ASSERT_API_ERR(st, j, 400, "DC_ERR_FIELD");
    json_decref(j);
    ASSERT_EQ(admin(&S, S.token, "POST", path, "{\"reason\":\"aml\"}", &j), 200);
    json_t *evs = json_get(j, "events");
    ASSERT_EQ(json_array_size(evs), 1);
    ASSERT_STR(json_str(json_array_get(evs, 0), "actor"), "admin");
    json_decref(j);

    ASSERT_EQ(srv_cmd(&S, out, sizeof out,
                      "accounts unfreeze %lld --reason ok --actor \"ticket 42\"", a.account),
              0);
    struct passwd *pw = getpwuid(geteuid());
    ASSERT(pw != NULL);
    char want[128];
    snprintf(want, sizeof want, "unix:%s (ticket 42)", pw->pw_name);
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld", a.account);
    ASSERT_EQ(admin(&S, S.token, "GET", path, NULL, &j), 200);
    evs = json_get(j, "events");
    ASSERT_STR(json_str(json_array_get(evs, 1), "actor"), want);
    json_decref(j);
    audit_ok(&S);
    srv_cleanup(&S);
}

TESTS(T(test_viewer_on_every_admin_route), T(test_roles_enforced), T(test_expiry),
      T(test_actor_is_real))
