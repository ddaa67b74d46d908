/*
 * h_admin.c - the operator's API under /v1/admin (Bearer token): accounts,
 * cash-in/out, fork cases and their resolution, hold release, audit.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/armor.h"
#include "server/http/http.h"
#include "server/ledger/jobs.h"
#include "server/ledger/ledger.h"
#include "server/ledger/writer.h"
#include "server/obs/gauges.h"
#include "server/obs/metrics.h"
#include "server/operators.h"

#define ADMIN_NAMESPACE (-1) /* idempotency keys of admin requests */

/* A page of the accounts list: ids > after, at most limit, one more
 * seen tells there is a next page. */
struct accounts_page {
    json_t *arr;
    int64_t after, limit, last;
    int more;
};

static int add_account(void *ctx, const struct dc_account *a)
{
    struct accounts_page *p = ctx;
    if (a->id <= p->after) return 0;
    if ((int64_t)json_array_size(p->arr) == p->limit) {
        p->more = 1;
        return 1;
    }
    json_t *j = dc_json_account(a, 0);
    /* the console shows who an account is wherever it appears */
    if (j && a->kind == DC_ACCT_USER) {
        json_object_set_new(j, "name", json_string(a->name));
        json_object_set_new(j, "alias", dc_json_hex(a->alias, DC_ALIAS_BYTES));
    }
    json_array_append_new(p->arr, j);
    p->last = a->id;
    return 0;
}

enum dc_err dc_h_admin_accounts(struct dc_req *rq, struct dc_resp *rs)
{
    if (rq->query(rq->conn, "q")) return dc_admin_search(rq, rs, 0);
    const char *sv = rq->query(rq->conn, "status");
    int status = -1;
    if (sv) {
        status = strcmp(sv, "unverified") == 0 ? DC_ACCT_UNVERIFIED
                 : strcmp(sv, "verified") == 0 ? DC_ACCT_VERIFIED
                 : strcmp(sv, "frozen") == 0   ? DC_ACCT_FROZEN
                                               : -2;
        if (status == -2) {
            snprintf(rq->detail, sizeof rq->detail,
                     "status must be unverified, verified or frozen");
            return DC_ERR_FIELD;
        }
    }
    struct accounts_page p = {json_array(), 0, 0, 0, 0};
    /* without limit: every account, as before paging existed */
    enum dc_err e = dc_query_int(rq, "after", 0, INT64_MAX, 0, &p.after);
    if (e == DC_OK) e = dc_query_int(rq, "limit", 1, 1000, INT64_MAX, &p.limit);
    if (e == DC_OK && !p.arr) e = DC_ERR_NO_MEMORY;
    struct dc_store *st;
    if (e == DC_OK) e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) {
        json_decref(p.arr);
        return e;
    }
    /* the store lists in id order; the page stops the listing early. With
     * a limit the store starts after `after` and reads one row past the
     * page (to know whether another follows), never the accounts before */
    e = p.limit == INT64_MAX
            ? st->ops->account_list(st, status, add_account, &p)
            : st->ops->account_page(st, status, p.after, (int)p.limit + 1, add_account, &p);
    dc_pool_put(rq->x, st);
    rs->json = json_pack("{s:o, s:o}", "accounts", p.arr, "next",
                         p.more ? json_integer((json_int_t)p.last) : json_null());
    return e;
}

enum dc_err dc_h_admin_account(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    e = dc_json_account_full(st, rq->path_id, &rs->json);
    dc_pool_put(rq->x, st);
    return e;
}

/*
 * Who an admin action is recorded as: the signed-in operator, always. A
 * request may repeat that name in "actor" (older scripts sent one) but not
 * claim another: 400 naming both. This holds for the bootstrap token too,
 * recorded as "admin": free text would let one shared token write any name
 * into the journal, and every action must name who really did it. actor
 * holds what the body had ("" if nothing) and gets the name to record.
 */
static enum dc_err actor_of(struct dc_req *rq, char *actor, size_t cap)
{
    if (actor[0] && strcmp(actor, rq->operator_name) != 0) {
        snprintf(rq->detail, sizeof rq->detail,
                 "actor '%s' is not the signed-in operator '%s' (leave actor out: the "
                 "signed-in operator is recorded)",
                 actor, rq->operator_name);
        return DC_ERR_FIELD;
    }
    snprintf(actor, cap, "%s", rq->operator_name);
    return DC_OK;
}

struct action_job {
    int64_t id;
    uint64_t now;
    enum dc_acct_action act;
    int changed;
    char actor[64], reason[256], detail[256];
};

static enum dc_err action_run(struct dc_store *st, void *ctx)
{
    struct action_job *j = ctx;
    return dc_ledger_account_action(st, j->now, j->id, j->act, j->actor, j->reason, &j->changed,
                                    j->detail, sizeof j->detail);
}

/* verify, freeze, unfreeze: {"reason": "...", "actor": "..."}; the answer
 * is the account with its events. */
static enum dc_err account_action(struct dc_req *rq, struct dc_resp *rs, enum dc_acct_action act)
{
    struct action_job j;
    memset(&j, 0, sizeof j);
    const struct dc_jspec spec[] = {
        {"reason", DC_J_STR, j.reason, sizeof j.reason, act == DC_ACCT_DO_VERIFY},
        {"actor", DC_J_STR, j.actor, sizeof j.actor, 1},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e == DC_OK) e = actor_of(rq, j.actor, sizeof j.actor);
    if (e != DC_OK) return e;
    j.id = rq->path_id;
    j.now = rq->now;
    j.act = act;
    e = dc_writer_run(rq->x->writer, action_run, &j);
    if (e != DC_OK) {
        if (j.detail[0]) snprintf(rq->detail, sizeof rq->detail, "%s", j.detail);
        return e;
    }
    static const char *const events[] = {
        [DC_ACCT_DO_VERIFY] = "account_verified",
        [DC_ACCT_DO_FREEZE] = "account_frozen",
        [DC_ACCT_DO_UNFREEZE] = "account_unfrozen",
    };
    if (j.changed) {
        dc_metrics_add(rq->x->metrics, DC_M_ACCOUNT_ACTIONS, 1);
        DC_LOG_EVENT(DC_LOG_INFO, events[act], DC_KV_N("account", j.id), DC_KV_S("actor", j.actor),
                     DC_KV_S("via", "api"));
    }
    return dc_h_admin_account(rq, rs);
}

enum dc_err dc_h_admin_verify(struct dc_req *rq, struct dc_resp *rs)
{
    return account_action(rq, rs, DC_ACCT_DO_VERIFY);
}

enum dc_err dc_h_admin_freeze(struct dc_req *rq, struct dc_resp *rs)
{
    return account_action(rq, rs, DC_ACCT_DO_FREEZE);
}

enum dc_err dc_h_admin_unfreeze(struct dc_req *rq, struct dc_resp *rs)
{
    return account_action(rq, rs, DC_ACCT_DO_UNFREEZE);
}

struct fund_args {
    int64_t account, amount;
    int payout;
    int64_t posting; /* set when the posting was made (not on a replay) */
};

static enum dc_err fund_fn(struct dc_store *st, struct dc_req *rq, void *arg, struct dc_resp *out)
{
    struct fund_args *f = arg;
    int64_t id;
    enum dc_err e = dc_ledger_fund(st, &rq->x->cfg.currency, rq->now, f->account, f->amount,
                                   f->payout, &id, rq->detail, sizeof rq->detail);
    if (e != DC_OK) return e;
    struct dc_account a;
    e = st->ops->account_get(st, &a, DC_BY_ID, f->account, NULL);
    if (e != DC_OK) return e;
    f->posting = id;
    out->status = 201;
    out->json = json_pack("{s:I, s:I, s:I, s:I}", "posting", (json_int_t)id, "account",
                          (json_int_t)f->account, "amount", (json_int_t)f->amount, "available",
                          (json_int_t)a.available);
    return out->json ? DC_OK : DC_ERR_NO_MEMORY;
}

static enum dc_err fund(struct dc_req *rq, struct dc_resp *rs, int payout)
{
    char request_id[65];
    struct fund_args f = {0, 0, payout, 0};
    const struct dc_jspec spec[] = {
        {"request_id", DC_J_REQID, request_id, sizeof request_id, 0},
        {"account", DC_J_POS_I64, &f.account, 0, 0},
        {"amount", DC_J_POS_I64, &f.amount, 0, 0},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e != DC_OK) return e;
    e = dc_idempotent(rq, ADMIN_NAMESPACE, request_id, fund_fn, &f, rs);
    if (e == DC_OK && f.posting) {
        char m[DC_MONEY_MAX];
        dc_metrics_add(rq->x->metrics, payout ? DC_M_PAYOUTS : DC_M_FUNDS, 1);
        DC_LOG_EVENT(DC_LOG_INFO, payout ? "payout" : "fund", DC_KV_N("posting", f.posting),
                     DC_KV_N("account", f.account),
                     DC_KV_S("amount", dc_money(m, sizeof m, &rq->x->cfg.currency, f.amount)),
                     DC_KV_S("via", "api"));
    }
    return e;
}

enum dc_err dc_h_admin_fund(struct dc_req *rq, struct dc_resp *rs)
{
    return fund(rq, rs, 0);
}

enum dc_err dc_h_admin_payout(struct dc_req *rq, struct dc_resp *rs)
{
    return fund(rq, rs, 1);
}

static int add_case(void *ctx, const struct dc_case *c)
{
    json_array_append_new(ctx, dc_json_case(c, 0));
    return 0;
}

enum dc_err dc_h_admin_cases(struct dc_req *rq, struct dc_resp *rs)
{
    if (rq->query(rq->conn, "q") || rq->query(rq->conn, "account")) {
        return dc_admin_search(rq, rs, 1);
    }
    const char *sv = rq->query(rq->conn, "status");
    int status = !sv                           ? -1
                 : strcmp(sv, "open") == 0     ? DC_CASE_OPEN
                 : strcmp(sv, "resolved") == 0 ? DC_CASE_RESOLVED
                                               : -2;
    if (status == -2) {
        snprintf(rq->detail, sizeof rq->detail, "status must be open or resolved");
        return DC_ERR_FIELD;
    }
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    json_t *arr = json_array();
    e = st->ops->case_list(st, status, add_case, arr);
    dc_pool_put(rq->x, st);
    rs->json = json_pack("{s:o}", "cases", arr);
    return e;
}

static int add_case_hold(void *ctx, const struct dc_hold *h)
{
    json_array_append_new(ctx, dc_json_hold(h, DC_HOLD_VIEW_CASE));
    return 0;
}

enum dc_err dc_h_admin_case(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    struct dc_case c;
    memset(&c, 0, sizeof c); /* cleared on every path below */
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    e = st->ops->case_get(st, &c, rq->path_id, NULL, NULL);
    json_t *holds = json_array(), *deps = NULL;
    if (e == DC_OK) e = st->ops->holds_list(st, DC_HOLDS_OF_CASE, c.id, add_case_hold, holds);
    if (e == DC_OK) e = dc_json_case_deposits(&deps, st, &c, rq->x->master_pub);
    dc_pool_put(rq->x, st);
    if (e != DC_OK) {
        dc_case_clear(&c);
        json_decref(holds);
        return e;
    }
    rs->json = dc_json_case(&c, 1);
    dc_case_clear(&c);
    if (!rs->json) {
        json_decref(holds);
        json_decref(deps);
        return DC_ERR_NO_MEMORY;
    }
    json_object_set_new(rs->json, "holds", holds);
    json_object_set_new(rs->json, "deposits", deps);
    return DC_OK;
}

struct resolve_job {
    int64_t id;
    uint64_t now;
    char decision[16], actor[64], reason[256];
};

static enum dc_err resolve_run(struct dc_store *st, void *ctx)
{
    struct resolve_job *j = ctx;
    return dc_ledger_resolve(st, j->now, j->id, j->decision, j->actor, j->reason);
}

enum dc_err dc_h_admin_resolve(struct dc_req *rq, struct dc_resp *rs)
{
    struct resolve_job j;
    memset(&j, 0, sizeof j);
    const struct dc_jspec spec[] = {
        {"decision", DC_J_STR, j.decision, sizeof j.decision, 0},
        {"reason", DC_J_STR, j.reason, sizeof j.reason, 0},
        {"actor", DC_J_STR, j.actor, sizeof j.actor, 1},
        DC_JSPEC_END,
    };
    enum dc_err e = dc_jspec_parse(rq, spec);
    if (e == DC_OK) e = actor_of(rq, j.actor, sizeof j.actor);
    if (e != DC_OK) return e;
    if (strcmp(j.decision, "honour") != 0 && strcmp(j.decision, "reject") != 0) {
        snprintf(rq->detail, sizeof rq->detail, "decision must be 'honour' or 'reject'");
        return DC_ERR_FIELD;
    }
    j.id = rq->path_id;
    j.now = rq->now;
    e = dc_writer_run(rq->x->writer, resolve_run, &j);
    if (e != DC_OK) return e;
    dc_metrics_add(rq->x->metrics, DC_M_CASES_DECIDED, 1);
    DC_LOG_EVENT(DC_LOG_INFO, "case_settled", DC_KV_N("case", j.id),
                 DC_KV_S("decision", j.decision), DC_KV_S("actor", j.actor), DC_KV_S("via", "api"));
    return dc_h_admin_case(rq, rs);
}

enum dc_err dc_h_admin_release(struct dc_req *rq, struct dc_resp *rs)
{
    /* the operator's name: the holds say who released them */
    struct dc_release_arg r = {rq->now, 0, rq->operator_name};
    enum dc_err e = dc_writer_run(rq->x->writer, dc_release_job, &r);
    if (e != DC_OK) return e;
    dc_metrics_add(rq->x->metrics, DC_M_HOLDS_RELEASED, r.released);
    DC_LOG_EVENT(DC_LOG_INFO, "release_run", DC_KV_N("released", r.released),
                 DC_KV_S("actor", rq->operator_name), DC_KV_S("via", "api"));
    rs->json = json_pack("{s:I}", "released", (json_int_t)r.released);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

struct audit_job {
    int ok;
    uint64_t now;
};

static enum dc_err audit_record_run(struct dc_store *st, void *ctx)
{
    const struct audit_job *a = ctx;
    return dc_audit_record(st, a->ok, a->now);
}

enum dc_err dc_h_admin_audit(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    static const size_t cap = 1 << 16;
    char *report = malloc(cap);
    if (!report) {
        dc_pool_put(rq->x, st);
        return DC_ERR_NO_MEMORY;
    }
    e = st->ops->begin(st, 0);
    enum dc_err a = e == DC_OK ? dc_ledger_audit(st, &rq->x->cfg.currency, report, cap) : e;
    st->ops->rollback(st);
    dc_pool_put(rq->x, st);
    if (a != DC_OK && a != DC_ERR_AUDIT) {
        free(report);
        return a;
    }
    struct audit_job aj = {a == DC_OK, rq->now};
    if (dc_writer_run(rq->x->writer, audit_record_run, &aj) != DC_OK) {
        dc_log(DC_LOG_WARN, "audit: cannot record the outcome for /metrics");
    }
    DC_LOG_EVENT(a == DC_OK ? DC_LOG_INFO : DC_LOG_ERROR, "audit", DC_KV_N("ok", a == DC_OK),
                 DC_KV_S("via", "api"));
    rs->json = json_pack("{s:b, s:s}", "ok", a == DC_OK, "report", report);
    free(report);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}
