/*
 * cmd_ops.c - the operator's subcommands that work on the database
 * directly (the server may be running: SQLite's locks and the busy timeout
 * serialise us with its writer): keys, accounts, fund, payout, cases,
 * holds, audit. Each write is one transaction through the same ledger code
 * the server uses.
 */
#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ducat/armor.h"
#include "ducat/auth.h"
#include "server/keyfile.h"
#include "server/ledger/jobs.h"
#include "server/ledger/ledger.h"
#include "server/obs/gauges.h"
#include "server/operators.h"
#include "server/ops/cmd.h"
#include "server/render/render.h"

enum dc_err dc_init_signing_key(struct dc_store *st, const uint8_t *master_sk, uint32_t key_id,
                                const uint8_t pub[DC_PUBKEY_BYTES], uint64_t now,
                                const struct dc_config *cfg);

static struct dc_ctx X;

static int open_ctx(const struct dc_cmd_env *env)
{
    char err[512] = "";
    enum dc_err e = dc_ctx_open(&X, env->config, err, sizeof err);
    if (e != DC_OK) {
        dc_cmd_fail("%s", err[0] ? err : dc_err_str(e));
        return -1;
    }
    /* this process's event lines go to the system log (the journal), the
     * operator's terminal gets the command's own answer */
    dc_log_set_syslog(1);
    return 0;
}

typedef enum dc_err (*tx_fn)(struct dc_store *st, void *arg);

/* Runs fn in one write transaction on a fresh connection. A transaction
 * that lost a race with a running server (PostgreSQL serialization failure,
 * deadlock, lost connection) is run again from the start, a few times. */
static enum dc_err tx(tx_fn fn, void *arg)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(&X, &st);
    if (e != DC_OK) return e;
    for (int attempt = 0; attempt < 10; attempt++) {
        e = st->ops->begin(st, 1);
        if (e == DC_OK) {
            e = fn(st, arg);
            enum dc_err c = e == DC_OK ? st->ops->commit(st) : st->ops->rollback(st);
            if (e == DC_OK) e = c;
        }
        if (e != DC_ERR_STORE_RETRY) break;
        st->ops->rollback(st);
        struct timespec ts = {0, (long)(5 + 20 * attempt) * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (e >= 3000 && e < 4000) dc_log(DC_LOG_ERROR, "%s", st->ops->errmsg(st));
    dc_pool_put(&X, st);
    return e;
}

static int finish(int rc)
{
    dc_ctx_close(&X);
    return rc;
}

static int parse_id(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v <= 0) return 0;
    *out = v;
    return 1;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2));
    if (s) puts(s);
    free(s);
    json_decref(j);
}

/* ---- accounts ---------------------------------------------------------- */

static int print_account_line(void *ctx, const struct dc_account *a)
{
    (void)ctx;
    char m1[DC_MONEY_MAX], m2[DC_MONEY_MAX];
    printf("%-8lld %-10s %-10s %18s %18s  %s\n", (long long)a->id, dc_account_status_name(a),
           a->offline_blocked ? "blocked" : "-",
           dc_money(m1, sizeof m1, &X.cfg.currency, a->available),
           dc_money(m2, sizeof m2, &X.cfg.currency, a->held),
           a->kind == DC_ACCT_USER ? a->name : "(system)");
    return 0;
}

/*
 * Who a command-line action is recorded as: "unix:USER", the local Unix
 * user running ducatd (getpwuid(geteuid()), so sudo -u ducat records
 * "ducat" and a personal login its own name), with --actor TEXT added as a
 * label in parentheses: "unix:mei (night shift)". The label can say on
 * whose behalf, never replace who: anyone able to run ducatd on the
 * database could otherwise type any name into the journal. OUT: out (cap
 * bytes, at most 63 recorded); 0, or DC_EXIT_USAGE after a message.
 */
static int cli_actor(char *out, size_t cap, const char *cmd, const char *label)
{
    struct passwd *pw = getpwuid(geteuid());
    char user[32];
    if (pw && pw->pw_name && *pw->pw_name) {
        snprintf(user, sizeof user, "%s", pw->pw_name);
    } else {
        snprintf(user, sizeof user, "uid%lu", (unsigned long)geteuid());
    }
    int w = label && *label ? snprintf(out, cap, "unix:%s (%s)", user, label)
                            : snprintf(out, cap, "unix:%s", user);
    struct dc_event ev;
    if (w < 0 || (size_t)w >= cap || !dc_event_text_valid(out, sizeof ev.actor)) {
        dc_cmd_fail("%s: --actor '%s': the label must be UTF-8 and fit, with 'unix:%s ()', in "
                    "%zu bytes",
                    cmd, label ? label : "", user, sizeof ev.actor - 1);
        return DC_EXIT_USAGE;
    }
    return 0;
}

/* [--reason TEXT] [--actor LABEL] in any order; 0, or DC_EXIT_USAGE after
 * a message naming the first argument that is neither. *actor gets the
 * label (NULL without one): cli_actor makes the recorded name. */
static int reason_actor(const char *cmd, int argc, char **argv, const char **reason,
                        const char **actor)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
            *reason = argv[++i];
        } else if (strcmp(argv[i], "--actor") == 0 && i + 1 < argc) {
            *actor = argv[++i];
        } else {
            dc_cmd_fail("%s: unexpected argument '%s' (expected --reason TEXT or --actor LABEL)",
                        cmd, argv[i]);
            return DC_EXIT_USAGE;
        }
    }
    return 0;
}

struct action_arg {
    int64_t id;
    uint64_t now;
    enum dc_acct_action act;
    const char *actor, *reason;
    int changed;
    char detail[256];
};

static enum dc_err action_fn(struct dc_store *st, void *arg)
{
    struct action_arg *s = arg;
    enum dc_err e = dc_ledger_account_action(st, s->now, s->id, s->act, s->actor, s->reason,
                                             &s->changed, s->detail, sizeof s->detail);
    if (e == DC_OK && s->changed) e = dc_shared_counter_add(st, DC_M_ACCOUNT_ACTIONS, 1);
    return e;
}

static int accounts_show(int64_t id)
{
    struct dc_store *st;
    json_t *j = NULL;
    enum dc_err e = dc_pool_get(&X, &st);
    if (e == DC_OK) {
        e = dc_json_account_full(st, id, &j);
        dc_pool_put(&X, st);
    }
    if (e != DC_OK) {
        dc_cmd_fail("accounts show: '%lld': %s", (long long)id, dc_err_str(e));
        return finish(dc_cmd_exit_for(e));
    }
    print_json(j);
    return finish(DC_EXIT_OK);
}

/* accounts verify|freeze|unfreeze ID [--reason TEXT] [--actor NAME] */
static int accounts_action(const struct dc_cmd_env *env, const char *sub, int64_t id, int argc,
                           char **argv)
{
    struct action_arg s = {.id = id, .actor = NULL, .reason = ""};
    char who[64];
    s.act = strcmp(sub, "verify") == 0   ? DC_ACCT_DO_VERIFY
            : strcmp(sub, "freeze") == 0 ? DC_ACCT_DO_FREEZE
                                         : DC_ACCT_DO_UNFREEZE;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "accounts %s", sub);
    if (reason_actor(cmd, argc, argv, &s.reason, &s.actor)) return DC_EXIT_USAGE;
    if (cli_actor(who, sizeof who, cmd, s.actor)) return DC_EXIT_USAGE;
    s.actor = who;
    if (s.act != DC_ACCT_DO_VERIFY && !*s.reason) {
        dc_cmd_fail("accounts %s: expected '%s ID --reason TEXT' (the reason is recorded)", sub,
                    sub);
        return DC_EXIT_USAGE;
    }
    if (open_ctx(env)) return DC_EXIT_CONFIG;
    s.now = dc_now(&X);
    enum dc_err e = tx(action_fn, &s);
    if (e != DC_OK) {
        dc_cmd_fail("accounts %s: '%lld': %s%s%s", sub, (long long)id, dc_err_str(e),
                    s.detail[0] ? ": " : "", s.detail);
        return finish(dc_cmd_exit_for(e));
    }
    static const char *const done[] = {"verified", "frozen", "unfrozen"};
    if (s.changed) {
        char ev[32];
        snprintf(ev, sizeof ev, "account_%s", done[s.act]);
        DC_LOG_EVENT(DC_LOG_INFO, ev, DC_KV_N("account", id), DC_KV_S("actor", s.actor),
                     DC_KV_S("via", "cli"));
    }
    printf("account %lld: %s%s\n", (long long)id, done[s.act],
           s.changed ? "" : " (already; nothing recorded)");
    return finish(DC_EXIT_OK);
}

int dc_cmd_accounts(const struct dc_cmd_env *env, int argc, char **argv)
{
    if (argc < 1) {
        dc_cmd_fail("accounts: expected list, show, verify, freeze or unfreeze");
        return DC_EXIT_USAGE;
    }
    const char *sub = argv[0];
    int64_t id = 0;
    int status = -1;
    int is_action =
        strcmp(sub, "verify") == 0 || strcmp(sub, "freeze") == 0 || strcmp(sub, "unfreeze") == 0;
    if (strcmp(sub, "list") == 0) {
        if (argc == 3 && strcmp(argv[1], "--status") == 0) {
            status = strcmp(argv[2], "unverified") == 0 ? DC_ACCT_UNVERIFIED
                     : strcmp(argv[2], "verified") == 0 ? DC_ACCT_VERIFIED
                     : strcmp(argv[2], "frozen") == 0   ? DC_ACCT_FROZEN
                                                        : -2;
            if (status == -2) {
                dc_cmd_fail("accounts list: --status '%s': expected unverified, verified or "
                            "frozen",
                            argv[2]);
                return DC_EXIT_USAGE;
            }
        } else if (argc != 1) {
            dc_cmd_fail("accounts list: unexpected argument '%s'", argv[1]);
            return DC_EXIT_USAGE;
        }
    } else if (strcmp(sub, "show") != 0 && !is_action) {
        dc_cmd_fail("accounts: unknown subcommand '%s'", sub);
        return DC_EXIT_USAGE;
    } else if (argc < 2 || !parse_id(argv[1], &id) || (!is_action && argc != 2)) {
        dc_cmd_fail("accounts %s: expected an account number, got '%s'", sub,
                    argc > 1 ? argv[1] : "");
        return DC_EXIT_USAGE;
    }
    if (is_action) return accounts_action(env, sub, id, argc - 2, argv + 2);
    if (open_ctx(env)) return DC_EXIT_CONFIG;
    if (strcmp(sub, "show") == 0) return accounts_show(id);
    struct dc_store *st;
    enum dc_err e = dc_pool_get(&X, &st);
    if (e != DC_OK) return finish(DC_EXIT_CONFIG);
    printf("%-8s %-10s %-10s %18s %18s  %s\n", "account", "status", "offline", "available", "held",
           "name");
    e = st->ops->account_list(st, status, print_account_line, NULL);
    dc_pool_put(&X, st);
    return finish(dc_cmd_exit_for(e));
}

/* ---- fund / payout ----------------------------------------------------- */

struct fund_arg {
    int64_t account, amount, posting;
    int payout;
    uint64_t now;
    char detail[256];
};

static enum dc_err fund_fn(struct dc_store *st, void *arg)
{
    struct fund_arg *f = arg;
    enum dc_err e = dc_ledger_fund(st, &X.cfg.currency, f->now, f->account, f->amount, f->payout,
                                   &f->posting, f->detail, sizeof f->detail);
    if (e == DC_OK) e = dc_shared_counter_add(st, f->payout ? DC_M_PAYOUTS : DC_M_FUNDS, 1);
    return e;
}

static int fund_cmd(const struct dc_cmd_env *env, int argc, char **argv, int payout)
{
    const char *name = payout ? "payout" : "fund";
    struct fund_arg f;
    memset(&f, 0, sizeof f);
    f.payout = payout;
    if (argc != 2 || !parse_id(argv[0], &f.account)) {
        dc_cmd_fail("%s: expected ACCOUNT AMOUNT, e.g. '%s 1001 100.00'", name, name);
        return DC_EXIT_USAGE;
    }
    if (open_ctx(env)) return DC_EXIT_CONFIG;
    struct dc_amount a;
    enum dc_err e = dc_amount_parse(&a, &X.cfg.currency, argv[1], strlen(argv[1]), 0);
    if (e == DC_OK && a.minor <= 0) e = DC_ERR_AMOUNT_ZERO;
    if (e != DC_OK) {
        dc_cmd_fail("%s: amount '%s': %s", name, argv[1], dc_err_str(e));
        return finish(DC_EXIT_USAGE);
    }
    f.amount = a.minor;
    f.now = dc_now(&X);
    char who[64]; /* named in the log line: money moved by hand names its mover */
    if (cli_actor(who, sizeof who, name, NULL)) return finish(DC_EXIT_USAGE);
    e = tx(fund_fn, &f);
    if (e != DC_OK) {
        dc_cmd_fail("%s: account '%s': %s%s%s", name, argv[0], dc_err_str(e),
                    f.detail[0] ? ": " : "", f.detail);
        return finish(dc_cmd_exit_for(e));
    }
    char s[DC_MONEY_MAX];
    dc_money(s, sizeof s, &X.cfg.currency, a.minor);
    DC_LOG_EVENT(DC_LOG_INFO, name, DC_KV_N("posting", f.posting), DC_KV_N("account", f.account),
                 DC_KV_S("amount", s), DC_KV_S("actor", who), DC_KV_S("via", "cli"));
    printf("%s %s %s account %lld (posting %lld)\n", payout ? "paid out" : "funded", s,
           payout ? "from" : "to", (long long)f.account, (long long)f.posting);
    return finish(DC_EXIT_OK);
}

int dc_cmd_fund(const struct dc_cmd_env *env, int argc, char **argv)
{
    return fund_cmd(env, argc, argv, 0);
}

int dc_cmd_payout(const struct dc_cmd_env *env, int argc, char **argv)
{
    return fund_cmd(env, argc, argv, 1);
}

/* ---- cases ------------------------------------------------------------- */

static int print_case_line(void *ctx, const struct dc_case *c)
{
    (void)ctx;
    char culprit[65];
    dc_hex_encode(culprit, c->culprit, 8);
    char m1[DC_MONEY_MAX], m2[DC_MONEY_MAX];
    printf("%-6lld %-9s %-8s %16s %16s  %-10lld %s\n", (long long)c->id,
           c->status == DC_CASE_OPEN ? "open" : "resolved", c->decision[0] ? c->decision : "-",
           dc_money(m1, sizeof m1, &X.cfg.currency, c->value),
           dc_money(m2, sizeof m2, &X.cfg.currency, c->exposure), (long long)c->culprit_account,
           culprit);
    return 0;
}

struct resolve_arg {
    int64_t id;
    uint64_t now;
    const char *decision, *actor, *reason;
};

static enum dc_err resolve_fn(struct dc_store *st, void *arg)
{
    struct resolve_arg *r = arg;
    enum dc_err e = dc_ledger_resolve(st, r->now, r->id, r->decision, r->actor, r->reason);
    return e == DC_OK ? dc_shared_counter_add(st, DC_M_CASES_DECIDED, 1) : e;
}

int dc_cmd_cases(const struct dc_cmd_env *env, int argc, char **argv)
{
    if (argc < 1) {
        dc_cmd_fail("cases: expected list, show or resolve");
        return DC_EXIT_USAGE;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0) {
        int status = -1;
        if (argc == 3 && strcmp(argv[1], "--status") == 0) {
            status = strcmp(argv[2], "open") == 0 ? 0 : strcmp(argv[2], "resolved") == 0 ? 1 : -2;
        } else if (argc != 1) {
            status = -2;
        }
        if (status == -2) {
            dc_cmd_fail("cases list: expected [--status open|resolved]");
            return DC_EXIT_USAGE;
        }
        if (open_ctx(env)) return DC_EXIT_CONFIG;
        struct dc_store *st;
        enum dc_err e = dc_pool_get(&X, &st);
        if (e != DC_OK) return finish(DC_EXIT_CONFIG);
        printf("%-6s %-9s %-8s %16s %16s  %-10s %s\n", "case", "status", "decision", "value",
               "exposure", "culprit", "device");
        e = st->ops->case_list(st, status, print_case_line, NULL);
        dc_pool_put(&X, st);
        return finish(dc_cmd_exit_for(e));
    }
    int64_t id;
    if (argc < 2 || !parse_id(argv[1], &id)) {
        dc_cmd_fail("cases %s: expected a case number, got '%s'", sub, argc > 1 ? argv[1] : "");
        return DC_EXIT_USAGE;
    }
    if (strcmp(sub, "show") == 0) {
        if (open_ctx(env)) return DC_EXIT_CONFIG;
        struct dc_store *st;
        struct dc_case c;
        json_t *deps = NULL;
        enum dc_err e = dc_pool_get(&X, &st);
        if (e == DC_OK) {
            e = st->ops->case_get(st, &c, id, NULL, NULL);
            /* which deposits each branch produced, and where their holds are */
            if (e == DC_OK) {
                e = dc_json_case_deposits(&deps, st, &c, X.master_pub);
                if (e != DC_OK) dc_case_clear(&c);
            }
            dc_pool_put(&X, st);
        }
        if (e != DC_OK) {
            dc_cmd_fail("cases show: '%lld': %s", (long long)id, dc_err_str(e));
            return finish(dc_cmd_exit_for(e));
        }
        json_t *j = dc_json_case(&c, 1);
        if (j) json_object_set_new(j, "deposits", deps);
        if (!j) json_decref(deps);
        print_json(j);
        dc_case_clear(&c);
        return finish(DC_EXIT_OK);
    }
    if (strcmp(sub, "resolve") == 0) {
        struct resolve_arg r = {id, 0, argc > 2 ? argv[2] : "", NULL, NULL};
        char who[64];
        if (argc > 3 && reason_actor("cases resolve", argc - 3, argv + 3, &r.reason, &r.actor)) {
            return DC_EXIT_USAGE;
        }
        if (cli_actor(who, sizeof who, "cases resolve", r.actor)) return DC_EXIT_USAGE;
        r.actor = who;
        if (strcmp(r.decision, "honour") != 0 && strcmp(r.decision, "reject") != 0) {
            dc_cmd_fail("cases resolve: decision '%s': expected honour or reject", r.decision);
            return DC_EXIT_USAGE;
        }
        if (!r.reason || !*r.reason) {
            dc_cmd_fail("cases resolve: --reason TEXT is required (the decision is recorded with "
                        "it)");
            return DC_EXIT_USAGE;
        }
        struct dc_event ev; /* the case and its event keep actor and reason */
        if (!dc_event_text_valid(r.actor, sizeof ev.actor) ||
            !dc_event_text_valid(r.reason, sizeof ev.reason)) {
            dc_cmd_fail("cases resolve: expected a --reason of at most %zu bytes of UTF-8",
                        sizeof ev.reason - 1);
            return DC_EXIT_USAGE;
        }
        if (open_ctx(env)) return DC_EXIT_CONFIG;
        r.now = dc_now(&X);
        enum dc_err e = tx(resolve_fn, &r);
        if (e != DC_OK) {
            dc_cmd_fail("cases resolve: '%lld': %s", (long long)id, dc_err_str(e));
            return finish(dc_cmd_exit_for(e));
        }
        DC_LOG_EVENT(DC_LOG_INFO, "case_settled", DC_KV_N("case", id),
                     DC_KV_S("decision", r.decision), DC_KV_S("actor", r.actor),
                     DC_KV_S("via", "cli"));
        printf("case %lld resolved: %s\n", (long long)id, r.decision);
        return finish(DC_EXIT_OK);
    }
    dc_cmd_fail("cases: unknown subcommand '%s'", sub);
    return DC_EXIT_USAGE;
}

/* ---- holds ------------------------------------------------------------- */

static enum dc_err release_fn(struct dc_store *st, void *arg)
{
    struct dc_release_arg *r = arg;
    enum dc_err e = dc_release_job(st, r);
    return e == DC_OK ? dc_shared_counter_add(st, DC_M_HOLDS_RELEASED, r->released) : e;
}

struct hold_lines {
    int64_t last;
    int rows;
};

static int print_hold_line(void *ctx, const struct dc_hold *h)
{
    struct hold_lines *l = ctx;
    l->last = h->id;
    l->rows++;
    char m[DC_MONEY_MAX], t[DC_TIME_STR_MAX];
    char cs[24] = "-";
    if (h->case_id) snprintf(cs, sizeof cs, "%lld", (long long)h->case_id);
    printf("%-8lld %-8lld %16s  %-9s %-28s %-12s %s\n", (long long)h->id, (long long)h->account,
           dc_money(m, sizeof m, &X.cfg.currency, dc_hold_left(h)), dc_hold_status_name(h->status),
           dc_local_time(t, sizeof t, &X.cal, h->release_at),
           h->release_provisional ? "provisional" : "firm", cs);
    return 0;
}

/* holds list [--status S | --provisional]: the frozen box for the operator. */
static int holds_list(int argc, char **argv)
{
    int status = -1, provisional = 0;
    if (argc == 2 && strcmp(argv[0], "--status") == 0) {
        static const int all[] = {DC_HOLD_HELD, DC_HOLD_FROZEN, DC_HOLD_RELEASED, DC_HOLD_REVERSED};
        status = -2;
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            if (strcmp(argv[1], dc_hold_status_name(all[i])) == 0) status = all[i];
        }
    } else if (argc == 1 && strcmp(argv[0], "--provisional") == 0) {
        provisional = 1;
    } else if (argc != 0) {
        status = -2;
    }
    if (status == -2) {
        dc_cmd_fail("holds list: expected [--status held|frozen|released|reversed] or "
                    "[--provisional]");
        return DC_EXIT_USAGE;
    }
    struct dc_store *st;
    enum dc_err e = dc_pool_get(&X, &st);
    if (e != DC_OK) return finish(dc_cmd_exit_for(e));
    printf("%-8s %-8s %16s  %-9s %-28s %-12s %s\n", "hold", "account", "amount", "status",
           "release date", "date", "case");
    struct hold_lines l = {0, 0};
    if (provisional) {
        e = st->ops->holds_list(st, DC_HOLDS_PROVISIONAL, 0, print_hold_line, &l);
    } else {
        enum { PAGE = 1000 };
        do {
            l.rows = 0;
            e = st->ops->holds_page(st, status, l.last, PAGE, print_hold_line, &l);
        } while (e == DC_OK && l.rows == PAGE);
    }
    dc_pool_put(&X, st);
    if (e != DC_OK) dc_cmd_fail("holds list: %s", dc_err_str(e));
    return finish(dc_cmd_exit_for(e));
}

int dc_cmd_holds(const struct dc_cmd_env *env, int argc, char **argv)
{
    const char *at = NULL;
    if (argc >= 1 && strcmp(argv[0], "list") == 0) {
        if (open_ctx(env)) return DC_EXIT_CONFIG;
        return holds_list(argc - 1, argv + 1);
    }
    if (argc < 1 || strcmp(argv[0], "release") != 0) {
        dc_cmd_fail("holds: expected 'release [--now TIME]' or 'list [--status S | "
                    "--provisional]'");
        return DC_EXIT_USAGE;
    }
    if (argc == 3 && strcmp(argv[1], "--now") == 0) {
        at = argv[2];
    } else if (argc != 1) {
        dc_cmd_fail("holds release: unexpected argument '%s'", argv[1]);
        return DC_EXIT_USAGE;
    }
    if (open_ctx(env)) return DC_EXIT_CONFIG;
    /* recorded on every hold it releases: "unix:USER", plus "--now DATE" */
    char who[64], by[128];
    if (cli_actor(who, sizeof who, "holds release", NULL)) return finish(DC_EXIT_USAGE);
    struct dc_release_arg r = {dc_now(&X), 0, who};
    if (at) {
        int32_t day;
        char *end;
        unsigned long long ms = strtoull(at, &end, 10);
        if (dc_date_parse(&day, at, strlen(at)) == DC_OK) {
            r.now = dc_calendar_day_start_ms(&X.cal, day);
        } else if (*at && !*end && ms > 0) {
            r.now = ms;
        } else {
            dc_cmd_fail("holds release: --now '%s': expected YYYY-MM-DD (local midnight) or ms "
                        "since the epoch",
                        at);
            return finish(DC_EXIT_USAGE);
        }
    }
    if (at && r.now > dc_now(&X) && !X.cfg.clock_file[0]) {
        /* releasing early would hand out money the frozen box still owes a
         * fork case: a future clock is for test instances only */
        dc_cmd_fail("holds release: --now '%s' is in the future: %s ([dev] clock_file)", at,
                    dc_err_str(DC_ERR_DEV_CLOCK));
        return finish(DC_EXIT_USAGE);
    }
    if (at) {
        struct dc_hold h; /* the store keeps released_by[64] */
        int w = snprintf(by, sizeof by, "%s --now %s", who, at);
        if (w < 0 || (size_t)w >= sizeof h.released_by) {
            dc_cmd_fail("holds release: --now '%s': too long to record", at);
            return finish(DC_EXIT_USAGE);
        }
        r.by = by;
    }
    enum dc_err e = tx(release_fn, &r);
    if (e != DC_OK) {
        dc_cmd_fail("holds release: %s", dc_err_str(e));
        return finish(dc_cmd_exit_for(e));
    }
    DC_LOG_EVENT(DC_LOG_INFO, "release_run", DC_KV_N("released", r.released),
                 DC_KV_S("actor", r.by), DC_KV_S("via", "cli"));
    printf("released %zu holds\n", r.released);
    return finish(DC_EXIT_OK);
}

/* ---- calendar ---------------------------------------------------------- */

static void print_coverage(const struct dc_calendar *cal, const char *label)
{
    char from[16] = "?", to[16] = "?";
    if (dc_date_format(from, sizeof from, cal->cover_from) != DC_OK) snprintf(from, 16, "?");
    if (dc_date_format(to, sizeof to, cal->cover_to) != DC_OK) snprintf(to, 16, "?");
    int32_t today = dc_calendar_local_day(cal, dc_now(&X));
    printf("%s%s..%s, %d days left\n", label, from, to, (int)dc_calendar_days_left(cal, today));
}

struct cal_load {
    const char *text;
    const struct dc_calendar *cal;
    uint64_t now;
    const char *actor;           /* who loaded it: --actor, journaled with each re-dating */
    size_t changed, provisional; /* OUT */
    struct dc_redated *redated;  /* OUT: the changed holds (malloc'd) */
};

static enum dc_err cal_load_fn(struct dc_store *st, void *arg)
{
    struct cal_load *l = arg;
    char v[32];
    /* loaded_at names the version: every instance compares it with its own
     * (dc_ctx_reload_calendar); one per load even within a millisecond */
    uint64_t at = l->now;
    if (st->ops->meta_get(st, "calendar_loaded_at", v, sizeof v) == DC_OK &&
        strtoull(v, NULL, 10) >= at) {
        at = strtoull(v, NULL, 10) + 1;
    }
    snprintf(v, sizeof v, "%llu", (unsigned long long)at);
    enum dc_err e = st->ops->meta_put(st, "calendar", l->text);
    if (e == DC_OK) e = st->ops->meta_put(st, "calendar_loaded_at", v);
    /* a corrected calendar re-dates firm dates too, not only provisional
     * ones (dc_ledger_redate_holds); a retried transaction starts afresh */
    free(l->redated);
    l->redated = NULL;
    if (e == DC_OK) {
        e = dc_ledger_redate_holds(st, l->cal, X.cfg.hold_working_days, l->now, l->actor,
                                   &l->redated, &l->changed, &l->provisional);
    }
    return e;
}

static int calendar_show(void)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(&X, &st);
    int64_t prov = 0;
    if (e == DC_OK) {
        e = dc_holds_provisional_count(st, &prov);
        dc_pool_put(&X, st);
    }
    if (e != DC_OK) {
        dc_cmd_fail("calendar show: %s", dc_err_str(e));
        return finish(dc_cmd_exit_for(e));
    }
    char path[DC_PATH_MAX * 2], when[DC_TIME_STR_MAX];
    dc_config_path(&X.cfg, X.cfg.calendar, path, sizeof path);
    if (X.cal_loaded_at) {
        printf("source:      the store (ducatd calendar load, %s)\n",
               dc_local_time(when, sizeof when, &X.cal, X.cal_loaded_at));
    } else {
        printf("source:      %s\n", path);
    }
    print_coverage(&X.cal, "covers:      ");
    printf("holidays:    %zu, make-up working days: %zu\n", X.cal.n_holidays, X.cal.n_workdays);
    printf("provisional: %lld holds wait for a calendar covering their window\n", (long long)prov);
    return finish(DC_EXIT_OK);
}

int dc_cmd_calendar(const struct dc_cmd_env *env, int argc, char **argv)
{
    int force = 0;
    const char *file = NULL;
    if (argc == 1 && strcmp(argv[0], "show") == 0) {
        if (open_ctx(env)) return DC_EXIT_CONFIG;
        return calendar_show();
    }
    if (argc < 2 || strcmp(argv[0], "load") != 0) {
        dc_cmd_fail("calendar: expected 'show' or 'load FILE [--force] [--actor NAME]'");
        return DC_EXIT_USAGE;
    }
    file = argv[1];
    const char *actor = "operator";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--actor") == 0 && i + 1 < argc) {
            actor = argv[++i];
        } else {
            dc_cmd_fail("calendar load: unexpected argument '%s' (expected --force or --actor "
                        "NAME)",
                        argv[i]);
            return DC_EXIT_USAGE;
        }
    }
    struct dc_event ev_cap; /* the actor is kept with every account event it causes */
    if (!dc_event_text_valid(actor, sizeof ev_cap.actor) || !*actor) {
        dc_cmd_fail("calendar load: --actor must be non-empty UTF-8 of at most %zu bytes",
                    sizeof ev_cap.actor - 1);
        return DC_EXIT_USAGE;
    }
    FILE *f = fopen(file, "rb");
    if (!f) {
        dc_cmd_fail("calendar load: cannot open '%s': %s", file, strerror(errno));
        return DC_EXIT_USAGE;
    }
    char *text = malloc(DC_CALENDAR_TEXT_MAX + 2);
    struct dc_calendar *cal = malloc(sizeof *cal);
    size_t n = text ? fread(text, 1, DC_CALENDAR_TEXT_MAX + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    int rc = DC_EXIT_OK;
    char why[192] = "";
    enum dc_err e = !text || !cal ? DC_ERR_NO_MEMORY : DC_OK;
    if (e == DC_OK && rerr) {
        dc_cmd_fail("calendar load: cannot read '%s'", file);
        rc = DC_EXIT_USAGE;
    }
    if (e == DC_OK && !rc) {
        text[n] = '\0';
        e = dc_calendar_text_parse(cal, text, n, why, sizeof why);
        if (e != DC_OK) {
            dc_cmd_fail("calendar load: '%s' %s (nothing loaded)", file, why[0] ? why : "");
            rc = dc_cmd_exit_for(e);
        }
    }
    if (!rc && e == DC_OK && open_ctx(env)) rc = DC_EXIT_CONFIG;
    if (!rc && e == DC_OK && cal->utc_offset_min != X.cal.utc_offset_min) {
        dc_cmd_fail("calendar load: '%s' has utc-offset %+d min, the calendar in force %+d: every "
                    "stored date is local to the deployment's offset, which a load cannot change",
                    file, (int)cal->utc_offset_min, (int)X.cal.utc_offset_min);
        rc = finish(DC_EXIT_REFUSED);
    }
    if (!rc && e == DC_OK && !force &&
        (cal->cover_from > X.cal.cover_from || cal->cover_to < X.cal.cover_to)) {
        /* a shorter calendar would turn firm dates' successors provisional
         * or drop a year whose holidays are already promised */
        char a[16] = "?", b[16] = "?", c[16] = "?", d[16] = "?";
        if (dc_date_format(a, 16, cal->cover_from) || dc_date_format(b, 16, cal->cover_to) ||
            dc_date_format(c, 16, X.cal.cover_from) || dc_date_format(d, 16, X.cal.cover_to)) {
            snprintf(a, 16, "?");
        }
        dc_cmd_fail("calendar load: '%s' covers %s..%s, less than the calendar in force "
                    "(%s..%s); nothing loaded (--force to load it anyway)",
                    file, a, b, c, d);
        rc = finish(DC_EXIT_REFUSED);
    }
    if (!rc && e == DC_OK) {
        struct cal_load l = {text, cal, dc_now(&X), actor, 0, 0, NULL};
        e = tx(cal_load_fn, &l);
        if (e != DC_OK) {
            dc_cmd_fail("calendar load: %s", dc_err_str(e));
            rc = finish(dc_cmd_exit_for(e));
        } else {
            DC_LOG_EVENT(DC_LOG_INFO, "calendar_loaded", DC_KV_S("file", file),
                         DC_KV_S("actor", actor), DC_KV_N("redated", l.changed),
                         DC_KV_N("provisional", l.provisional));
            print_coverage(cal, "calendar loaded: covers ");
            for (size_t i = 0; i < l.changed; i++) {
                const struct dc_redated *r = &l.redated[i];
                char a[DC_TIME_STR_MAX], b[DC_TIME_STR_MAX];
                dc_local_time(a, sizeof a, cal, r->from);
                dc_local_time(b, sizeof b, cal, r->to);
                DC_LOG_EVENT(DC_LOG_INFO, "hold_redated", DC_KV_N("hold", r->hold),
                             DC_KV_N("account", r->account), DC_KV_S("from", a), DC_KV_S("to", b),
                             DC_KV_N("provisional", r->to_provisional), DC_KV_S("actor", actor));
                if (i < 20) {
                    printf("  hold %lld (account %lld%s): %s %s -> %s %s\n", (long long)r->hold,
                           (long long)r->account, r->frozen ? ", frozen" : "", a,
                           r->from_provisional ? "provisional" : "firm", b,
                           r->to_provisional ? "provisional" : "firm");
                } else if (i == 20) {
                    printf("  ... and %zu more (each is an event of its account)\n",
                           l.changed - 20);
                }
            }
            printf("%zu holds re-dated, %zu still provisional; running ducatd instances pick it "
                   "up on SIGHUP or within trust_reload_s\n",
                   l.changed, l.provisional);
            rc = finish(DC_EXIT_OK);
        }
        free(l.redated);
    }
    if (e == DC_ERR_NO_MEMORY && !rc) {
        dc_cmd_fail("calendar load: out of memory");
        rc = DC_EXIT_CONFIG;
    }
    free(text);
    free(cal);
    return rc;
}

/* ---- audit ------------------------------------------------------------- */

struct audit_rec {
    int ok;
    uint64_t now;
};

static enum dc_err audit_record_fn(struct dc_store *st, void *arg)
{
    const struct audit_rec *a = arg;
    return dc_audit_record(st, a->ok, a->now);
}

int dc_cmd_audit(const struct dc_cmd_env *env, int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        dc_cmd_fail("audit: takes no arguments");
        return DC_EXIT_USAGE;
    }
    if (open_ctx(env)) return DC_EXIT_CONFIG;
    struct dc_store *st;
    enum dc_err e = dc_pool_get(&X, &st);
    if (e != DC_OK) return finish(DC_EXIT_CONFIG);
    static char report[1 << 16];
    /* one snapshot; a lost connection is retried on a new one */
    for (int attempt = 0; attempt < 5; attempt++) {
        report[0] = '\0';
        e = st->ops->begin(st, 0);
        if (e == DC_OK) e = dc_ledger_audit(st, &X.cfg.currency, report, sizeof report);
        st->ops->rollback(st);
        if (e != DC_ERR_STORE_RETRY) break;
    }
    dc_pool_put(&X, st);
    if (e == DC_OK || e == DC_ERR_AUDIT) {
        struct audit_rec ar = {e == DC_OK, dc_now(&X)};
        if (tx(audit_record_fn, &ar) != DC_OK) dc_cmd_fail("audit: cannot record the outcome");
        DC_LOG_EVENT(e == DC_OK ? DC_LOG_INFO : DC_LOG_ERROR, "audit", DC_KV_N("ok", e == DC_OK),
                     DC_KV_S("via", "cli"));
    }
    fputs(report, stdout);
    if (e != DC_OK && e != DC_ERR_AUDIT) dc_cmd_fail("audit: %s", dc_err_str(e));
    return finish(dc_cmd_exit_for(e));
}

/* ---- keys -------------------------------------------------------------- */

struct key_list_ctx {
    uint32_t current, max_id;
};

static int print_key(void *ctx, const struct dc_key_rec *k)
{
    struct key_list_ctx *kl = ctx;
    struct dc_keycert c;
    if (dc_keycert_decode(&c, k->keycert, DC_KEYCERT_BYTES) != DC_OK) return 0;
    char pub[65];
    dc_hex_encode(pub, c.pub, 32);
    if (k->key_id > kl->max_id) kl->max_id = k->key_id;
    char su[32], vu[32], rv[48] = "";
    dc_local_time(su, sizeof su, &X.cal, c.sign_until);
    dc_local_time(vu, sizeof vu, &X.cal, c.verify_until);
    if (k->revoked_at) {
        char t[32];
        snprintf(rv, sizeof rv, "  %s %s", k->retired ? "RETIRED" : "REVOKED",
                 dc_local_time(t, sizeof t, &X.cal, k->revoked_at));
    }
    printf("%-4u %s %s  signs until %s, verifies until %s%s\n", k->key_id,
           k->key_id == kl->current ? "*" : " ", pub, su, vu, rv);
    return 0;
}

static int quiet_key(void *ctx, const struct dc_key_rec *k)
{
    struct key_list_ctx *kl = ctx;
    if (k->key_id > kl->max_id) kl->max_id = k->key_id;
    return 0;
}

struct rotate_arg {
    uint32_t id;
    uint8_t pub[32];
    const uint8_t *msk;
    uint64_t now;
    int make_current;
    const struct dc_keycert *cert; /* import: a certificate made elsewhere */
    uint64_t revoke_at;
    int retired; /* keys revoke --rotation */
};

static enum dc_err rotate_fn(struct dc_store *st, void *arg)
{
    struct rotate_arg *r = arg;
    enum dc_err e = DC_OK;
    if (r->cert) {
        struct dc_key_rec k;
        memset(&k, 0, sizeof k);
        k.key_id = r->cert->key_id;
        dc_keycert_encode(k.keycert, r->cert);
        e = st->ops->key_put(st, &k);
    } else if (r->msk) {
        e = dc_init_signing_key(st, r->msk, r->id, r->pub, r->now, &X.cfg);
    }
    if (e == DC_OK && r->make_current) {
        char v[16];
        snprintf(v, sizeof v, "%u", r->id);
        e = st->ops->meta_put(st, "current_key", v);
    }
    return e == DC_OK ? dc_shared_counter_add(st, DC_M_KEY_CHANGES, 1) : e;
}

static enum dc_err revoke_fn(struct dc_store *st, void *arg)
{
    struct rotate_arg *r = arg;
    struct key_find {
        uint32_t id;
        struct dc_key_rec rec;
        int found;
    };
    struct dc_key_rec k;
    memset(&k, 0, sizeof k);
    /* find the stored certificate */
    const struct dc_trust_key *tk = dc_trust_find_key(&X.trust, r->id);
    if (!tk) return DC_ERR_UNKNOWN_KEY;
    k.key_id = r->id;
    dc_keycert_encode(k.keycert, &tk->cert);
    k.revoked_at = r->revoke_at;
    k.retired = r->retired;
    enum dc_err e = st->ops->key_put(st, &k);
    return e == DC_OK ? dc_shared_counter_add(st, DC_M_KEY_CHANGES, 1) : e;
}

static char *read_stdin(size_t *len)
{
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int keys_sign_offline(int argc, char **argv)
{
    /* runs on the offline machine: needs no config, only the master key */
    const char *mfile = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--master") == 0 && i + 1 < argc) mfile = argv[++i];
    }
    if (!mfile) {
        dc_cmd_fail("keys sign: expected --master FILE (the request comes on stdin)");
        return DC_EXIT_USAGE;
    }
    size_t len;
    char *text = read_stdin(&len);
    uint8_t req[DC_KEYREQ_BYTES];
    size_t got;
    enum dc_err e = dc_armor_decode(req, sizeof req, &got, DC_ARMOR_KEYREQ, text, len);
    struct dc_keycert c;
    if (e == DC_OK) e = dc_keyreq_decode_check(&c, req, got);
    if (e != DC_OK) {
        dc_cmd_fail("keys sign: the request on stdin: %s", dc_err_str(e));
        return DC_EXIT_REFUSED;
    }
    char err[4096];
    uint8_t *seed = sodium_malloc(32), *sk = sodium_malloc(64), pk[32];
    if (!seed || !sk) return DC_EXIT_CONFIG;
    e = dc_keyfile_read(seed, mfile, getenv("DUCATD_KEY_PASSPHRASE"), err, sizeof err);
    if (e != DC_OK) {
        dc_cmd_fail("keys sign: %s", err);
        sodium_free(seed);
        sodium_free(sk);
        return DC_EXIT_CONFIG;
    }
    dc_keypair_from_seed(pk, sk, seed);
    uint8_t cert[DC_KEYCERT_BYTES];
    dc_keycert_sign(cert, &c, sk);
    sodium_free(seed);
    sodium_free(sk);
    char out[512];
    if (dc_armor_encode(out, sizeof out, &got, DC_ARMOR_KEYCERT, cert, sizeof cert) != DC_OK) {
        return DC_EXIT_CONFIG;
    }
    fprintf(stderr, "ducatd: certified signing key %u\n", c.key_id);
    puts(out);
    return DC_EXIT_OK;
}

int dc_cmd_keys(const struct dc_cmd_env *env, int argc, char **argv)
{
    if (argc < 1) {
        dc_cmd_fail("keys: expected list, rotate, revoke, request, sign or import");
        return DC_EXIT_USAGE;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "sign") == 0) return keys_sign_offline(argc, argv);
    if (open_ctx(env)) return DC_EXIT_CONFIG;
    struct dc_store *st;
    enum dc_err e = dc_pool_get(&X, &st);
    if (e != DC_OK) return finish(DC_EXIT_CONFIG);
    struct key_list_ctx kl = {X.signer->key_id, 0};
    if (strcmp(sub, "list") == 0) {
        e = st->ops->key_list(st, print_key, &kl);
        dc_pool_put(&X, st);
        return finish(dc_cmd_exit_for(e));
    }
    e = st->ops->key_list(st, quiet_key, &kl);
    dc_pool_put(&X, st);
    if (e != DC_OK) return finish(DC_EXIT_CONFIG);
    char err[4096] = "", dir[DC_PATH_MAX * 2], path[DC_PATH_MAX * 3];
    dc_config_path(&X.cfg, X.cfg.signing_key_dir, dir, sizeof dir);
    struct rotate_arg r;
    memset(&r, 0, sizeof r);
    r.now = dc_now(&X);

    if (strcmp(sub, "revoke") == 0) {
        int64_t id;
        int rotation = argc == 3 && strcmp(argv[2], "--rotation") == 0;
        if ((argc != 2 && !rotation) || !parse_id(argv[1], &id) || id > UINT32_MAX) {
            dc_cmd_fail("keys revoke: expected a key id and optionally --rotation, got '%s'",
                        argc > 1 ? argv[1] : "");
            return finish(DC_EXIT_USAGE);
        }
        if ((uint32_t)id == X.signer->key_id) {
            dc_cmd_fail("keys revoke: key %lld is the current signing key: rotate first",
                        (long long)id);
            return finish(DC_EXIT_REFUSED);
        }
        r.id = (uint32_t)id;
        r.revoke_at = r.now;
        r.retired = rotation;
        e = tx(revoke_fn, &r);
        if (e != DC_OK) {
            dc_cmd_fail("keys revoke: '%lld': %s", (long long)id, dc_err_str(e));
            return finish(dc_cmd_exit_for(e));
        }
        DC_LOG_EVENT(DC_LOG_WARN, rotation ? "key_retired" : "key_revoked", DC_KV_N("key", r.id),
                     DC_KV_S("via", "cli"));
        if (rotation) {
            printf("retired signing key %u: it signs nothing more; coins it signed stay "
                   "depositable until they expire\n",
                   r.id);
        } else {
            printf("revoked signing key %u: nothing it signed verifies from now on\n", r.id);
        }
        return finish(DC_EXIT_OK);
    }
    if (strcmp(sub, "rotate") == 0 || strcmp(sub, "request") == 0) {
        int offline = strcmp(sub, "request") == 0;
        uint8_t *seed = sodium_malloc(32), *sk = sodium_malloc(64), *msk = sodium_malloc(64);
        if (!seed || !sk || !msk) return finish(DC_EXIT_CONFIG);
        uint8_t mpk[32];
        if (!offline) {
            if (!X.cfg.master_key[0]) {
                dc_cmd_fail("keys rotate: the master key is offline ([keys] master_key is empty): "
                            "use 'keys request', 'keys sign' elsewhere, then 'keys import'");
                return finish(DC_EXIT_REFUSED);
            }
            dc_config_path(&X.cfg, X.cfg.master_key, path, sizeof path);
            e = dc_keyfile_read(seed, path, getenv("DUCATD_KEY_PASSPHRASE"), err, sizeof err);
            if (e == DC_OK) dc_keypair_from_seed(mpk, msk, seed);
            if (e == DC_OK && memcmp(mpk, X.master_pub, 32) != 0) {
                snprintf(err, sizeof err, "'%s' is not this issuer's master key", path);
                e = DC_ERR_CONFIG;
            }
        }
        r.id = kl.max_id + 1;
        if (e == DC_OK) {
            randombytes_buf(seed, 32);
            dc_keypair_from_seed(r.pub, sk, seed);
            snprintf(path, sizeof path, "%s/signing-%u.key", dir, r.id);
            e = dc_keyfile_write(path, seed, getenv("DUCATD_KEY_PASSPHRASE"), err, sizeof err);
        }
        if (e == DC_OK && !offline) {
            r.msk = msk;
            r.make_current = 1;
            e = tx(rotate_fn, &r);
        }
        if (e == DC_OK && offline) {
            struct dc_keycert c;
            memset(&c, 0, sizeof c);
            c.key_id = r.id;
            memcpy(c.pub, r.pub, 32);
            c.valid_from = r.now - 60000;
            c.sign_until = r.now + 365 * DC_DAY_MS;
            c.verify_until =
                c.sign_until +
                (uint64_t)(X.cfg.coin_lifetime_days + X.cfg.deposit_grace_days + 30) * DC_DAY_MS;
            uint8_t req[DC_KEYREQ_BYTES];
            char out[512];
            size_t got;
            dc_keyreq_sign(req, &c, sk);
            if (dc_armor_encode(out, sizeof out, &got, DC_ARMOR_KEYREQ, req, sizeof req) == DC_OK) {
                puts(out);
            }
            fprintf(stderr,
                    "ducatd: key %u created; sign the request above with 'ducatd keys "
                    "sign --master FILE' where the master key lives, then 'ducatd keys "
                    "import' the result here\n",
                    r.id);
        }
        sodium_free(seed);
        sodium_free(sk);
        sodium_free(msk);
        if (e != DC_OK) {
            dc_cmd_fail("keys %s: %s", sub, err[0] ? err : dc_err_str(e));
            return finish(dc_cmd_exit_for(e));
        }
        if (!offline) {
            DC_LOG_EVENT(DC_LOG_INFO, "key_rotated", DC_KV_N("key", r.id), DC_KV_S("via", "cli"));
            printf("signing key %u is now current\n", r.id);
        }
        return finish(DC_EXIT_OK);
    }
    if (strcmp(sub, "import") == 0) {
        size_t len;
        char *text = read_stdin(&len);
        uint8_t raw[DC_KEYCERT_BYTES];
        size_t got;
        struct dc_keycert c;
        e = dc_armor_decode(raw, sizeof raw, &got, DC_ARMOR_KEYCERT, text, len);
        if (e == DC_OK) e = dc_keycert_decode(&c, raw, got);
        if (e == DC_OK) e = dc_keycert_check(&c, X.master_pub);
        if (e != DC_OK) {
            dc_cmd_fail("keys import: the certificate on stdin: %s", dc_err_str(e));
            return finish(DC_EXIT_REFUSED);
        }
        uint8_t *seed = sodium_malloc(32), *sk = sodium_malloc(64), pk[32];
        snprintf(path, sizeof path, "%s/signing-%u.key", dir, c.key_id);
        e = dc_keyfile_read(seed, path, getenv("DUCATD_KEY_PASSPHRASE"), err, sizeof err);
        if (e == DC_OK) {
            dc_keypair_from_seed(pk, sk, seed);
            if (memcmp(pk, c.pub, 32) != 0) {
                snprintf(err, sizeof err, "'%s' does not hold the certified key", path);
                e = DC_ERR_CONFIG;
            }
        }
        sodium_free(seed);
        sodium_free(sk);
        r.id = c.key_id;
        r.cert = &c;
        r.make_current = 1;
        if (e == DC_OK) e = tx(rotate_fn, &r);
        if (e != DC_OK) {
            dc_cmd_fail("keys import: %s", err[0] ? err : dc_err_str(e));
            return finish(dc_cmd_exit_for(e));
        }
        DC_LOG_EVENT(DC_LOG_INFO, "key_imported", DC_KV_N("key", r.id), DC_KV_S("via", "cli"));
        printf("signing key %u imported and now current\n", r.id);
        return finish(DC_EXIT_OK);
    }
    dc_cmd_fail("keys: unknown subcommand '%s'", sub);
    return finish(DC_EXIT_USAGE);
}

/* ---- operators --------------------------------------------------------- */

struct operator_arg {
    struct dc_operator op;
    char detail[160];
};

static enum dc_err operator_add_fn(struct dc_store *st, void *arg)
{
    struct operator_arg *o = arg;
    return dc_operators_add(st, &o->op, o->detail, sizeof o->detail);
}

static enum dc_err operator_remove_fn(struct dc_store *st, void *arg)
{
    return dc_operators_remove(st, ((struct operator_arg *)arg)->op.name);
}

/* add NAME --role ROLE [--expires YYYY-MM-DD|Nd]: fills o->op's name, role
 * and expires_at (local midnight of the date, or N days from now); 0, or
 * DC_EXIT_USAGE after a message quoting the bad argument. */
static int operator_add_args(struct operator_arg *o, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            o->op.role = dc_role_parse(argv[++i]);
            if (o->op.role == DC_ROLE_NONE) {
                dc_cmd_fail("operators add: --role '%s': expected viewer, operator or admin",
                            argv[i]);
                return DC_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            size_t len = strlen(v);
            int32_t day;
            char *end;
            unsigned long days = len > 1 && v[len - 1] == 'd' ? strtoul(v, &end, 10) : 0;
            if (dc_date_parse(&day, v, len) == DC_OK) {
                o->op.expires_at = dc_calendar_day_start_ms(&X.cal, day);
            } else if (days > 0 && days <= 3660 && end == v + len - 1 && v[0] != '-' &&
                       v[0] != '+') {
                o->op.expires_at = o->op.created_at + (uint64_t)days * 86400000u;
            } else {
                dc_cmd_fail("operators add: --expires '%s': expected YYYY-MM-DD (local "
                            "midnight) or a number of days such as 90d",
                            v);
                return DC_EXIT_USAGE;
            }
            if (o->op.expires_at <= o->op.created_at) {
                dc_cmd_fail("operators add: --expires '%s' is not in the future", v);
                return DC_EXIT_USAGE;
            }
        } else {
            dc_cmd_fail("operators add: unexpected argument '%s' (expected --role ROLE or "
                        "--expires DATE)",
                        argv[i]);
            return DC_EXIT_USAGE;
        }
    }
    if (o->op.role == DC_ROLE_NONE) {
        dc_cmd_fail("operators add: --role is required: viewer (reads only), operator (also "
                    "verifies, freezes, funds, pays out, resolves, releases) or admin (also "
                    "lists operators)");
        return DC_EXIT_USAGE;
    }
    return 0;
}

int dc_cmd_operators(const struct dc_cmd_env *env, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "list") == 0 && argc == 1) {
        if (open_ctx(env)) return DC_EXIT_CONFIG;
        struct dc_store *st;
        struct dc_operator ops[DC_OPERATORS_MAX];
        size_t n = 0;
        enum dc_err e = dc_pool_get(&X, &st);
        if (e == DC_OK) {
            e = dc_operators_load(st, ops, &n);
            dc_pool_put(&X, st);
        }
        if (e != DC_OK) {
            dc_cmd_fail("operators list: %s", dc_err_str(e));
            return finish(dc_cmd_exit_for(e));
        }
        printf("%-32s %-9s %-24s %s\n%-32s %-9s %-24s %s\n", "operator", "role", "created",
               "expires", DC_OPERATOR_BOOTSTRAP, "admin",
               X.has_admin ? "(bootstrap token)" : "(no bootstrap token)", "-");
        uint64_t now = dc_now(&X);
        for (size_t i = 0; i < n; i++) {
            char t[64], x[80] = "-";
            dc_local_time(t, sizeof t, &X.cal, ops[i].created_at);
            if (ops[i].expires_at) {
                char d[64];
                dc_local_time(d, sizeof d, &X.cal, ops[i].expires_at);
                snprintf(x, sizeof x, "%s%s", d, ops[i].expires_at <= now ? " (expired)" : "");
            }
            printf("%-32s %-9s %-24s %s\n", ops[i].name, dc_role_name(ops[i].role), t, x);
        }
        sodium_memzero(ops, sizeof ops);
        return finish(DC_EXIT_OK);
    }
    if (!((strcmp(sub, "add") == 0 && argc >= 2) || (strcmp(sub, "remove") == 0 && argc == 2))) {
        dc_cmd_fail("operators: expected list, add NAME --role ROLE [--expires DATE] or remove "
                    "NAME");
        return DC_EXIT_USAGE;
    }
    struct operator_arg o;
    memset(&o, 0, sizeof o);
    snprintf(o.op.name, sizeof o.op.name, "%s", argv[1]);
    if (strlen(argv[1]) >= sizeof o.op.name) o.op.name[0] = '\0'; /* refused as a bad name */
    const char *name = argv[1];
    if (open_ctx(env)) return DC_EXIT_CONFIG;
    o.op.created_at = dc_now(&X);
    if (strcmp(sub, "add") == 0 && operator_add_args(&o, argc, argv)) {
        return finish(DC_EXIT_USAGE);
    }
    if (strcmp(sub, "remove") == 0) {
        enum dc_err e = tx(operator_remove_fn, &o);
        if (e != DC_OK) {
            dc_cmd_fail("operators remove: '%s': %s", name,
                        e == DC_ERR_NOT_FOUND ? "no such operator" : dc_err_str(e));
            return finish(dc_cmd_exit_for(e));
        }
        char who[64];
        if (cli_actor(who, sizeof who, "operators remove", NULL)) who[0] = '\0';
        DC_LOG_EVENT(DC_LOG_INFO, "operator_removed", DC_KV_S("operator", name),
                     DC_KV_S("actor", who), DC_KV_S("via", "cli"));
        printf("operator %s removed: the credential is refused from now on\n", name);
        return finish(DC_EXIT_OK);
    }
    /* the credential: 32 random bytes, shown once, stored as its hash */
    uint8_t raw[32];
    char b64[64], token[80];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(token, sizeof token, "dcop_%s", b64);
    crypto_generichash(o.op.hash, sizeof o.op.hash, (const uint8_t *)token, strlen(token), NULL, 0);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(b64, sizeof b64);
    if (!o.op.name[0]) snprintf(o.detail, sizeof o.detail, "operator name '%s' is too long", name);
    enum dc_err e = o.op.name[0] ? tx(operator_add_fn, &o) : DC_ERR_FIELD;
    if (e != DC_OK) {
        sodium_memzero(token, sizeof token);
        dc_cmd_fail("operators add: %s", o.detail[0] ? o.detail : dc_err_str(e));
        return finish(dc_cmd_exit_for(e));
    }
    char who[64];
    if (cli_actor(who, sizeof who, "operators add", NULL)) who[0] = '\0';
    DC_LOG_EVENT(DC_LOG_INFO, "operator_added", DC_KV_S("operator", name),
                 DC_KV_S("role", dc_role_name(o.op.role)), DC_KV_S("actor", who),
                 DC_KV_S("via", "cli"));
    sodium_memzero(o.op.hash, sizeof o.op.hash);
    /* the one time the credential is shown: on stdout, for the operator to
     * hand over; never logged */
    printf("%s\n", token);
    fprintf(stderr,
            "ducatd: operator %s added; the line above is their console credential, shown "
            "only now\n",
            name);
    sodium_memzero(token, sizeof token);
    return finish(DC_EXIT_OK);
}
