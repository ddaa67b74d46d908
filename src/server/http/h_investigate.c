/*
 * h_investigate.c - the admin reads an investigator needs beyond the lists
 * of h_admin.c and h_console.c: who is signed in, the summary of the frozen
 * box, an account's holds and history, and a fork case's coin drawn as a
 * tree (every deposited chain of its serial, merged by state).
 *
 * All are reads on a pooled connection inside one read transaction (one
 * snapshot), thin: query parameters, store reads, JSON. The coin tree is
 * decoded with the core's strict decoder; signatures were verified at
 * deposit, so the tree shows what ducatd accepted, and the case's evidence
 * endpoint shows the proof.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"
#include "server/ledger/ledger.h"
#include "server/obs/gauges.h"
#include "server/operators.h"

/* ---- GET /v1/admin/whoami ---------------------------------------------- */

enum dc_err dc_h_admin_whoami(struct dc_req *rq, struct dc_resp *rs)
{
    const struct dc_currency *cur = &rq->x->cfg.currency;
    /* the deployment's time zone (its calendar's utc-offset): the console
     * writes times the way the CLI does, "2026-12-25 00:00 (UTC+08:00)" */
    pthread_rwlock_rdlock(&rq->x->cal_lock);
    int offset = (int)rq->x->cal.utc_offset_min;
    pthread_rwlock_unlock(&rq->x->cal_lock);
    /* the role tells the console which actions to offer (it hides the
     * others); the server enforces it whatever the page shows */
    rs->json = json_pack(
        "{s:s, s:s, s:o, s:b, s:{s:s, s:i}, s:i}", "operator", rq->operator_name, "role",
        dc_role_name(rq->operator_role), "expires_at",
        rq->operator_expires ? json_integer((json_int_t)rq->operator_expires) : json_null(),
        "bootstrap", strcmp(rq->operator_name, DC_OPERATOR_BOOTSTRAP) == 0, "currency", "code",
        cur->code, "exponent", (int)cur->exponent, "utc_offset_min", offset);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* ---- GET /v1/admin/operators (role admin) ------------------------------- */

/* The registry without the credentials' hashes: name, role, created_at,
 * expires_at (null = never) and expired; the bootstrap token first. */
enum dc_err dc_h_admin_operators(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_operator *ops = malloc(DC_OPERATORS_MAX * sizeof *ops);
    if (!ops) return DC_ERR_NO_MEMORY;
    size_t n = 0;
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e == DC_OK) {
        e = dc_operators_load(st, ops, &n);
        dc_pool_put(rq->x, st);
    }
    json_t *arr = json_array();
    if (e == DC_OK && !arr) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK && rq->x->has_admin) {
        json_array_append_new(arr, json_pack("{s:s, s:s, s:n, s:n, s:b, s:b}", "name",
                                             DC_OPERATOR_BOOTSTRAP, "role", "admin", "created_at",
                                             "expires_at", "expired", 0, "bootstrap", 1));
    }
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        const struct dc_operator *o = &ops[i];
        json_t *exp = o->expires_at ? json_integer((json_int_t)o->expires_at) : json_null();
        if (json_array_append_new(
                arr, json_pack("{s:s, s:s, s:I, s:o, s:b, s:b}", "name", o->name, "role",
                               dc_role_name(o->role), "created_at", (json_int_t)o->created_at,
                               "expires_at", exp, "expired",
                               o->expires_at && o->expires_at <= rq->now, "bootstrap", 0)) != 0) {
            e = DC_ERR_NO_MEMORY;
        }
    }
    sodium_memzero(ops, DC_OPERATORS_MAX * sizeof *ops);
    free(ops);
    if (e == DC_OK) rs->json = json_pack("{s:o}", "operators", arr);
    if (e != DC_OK) json_decref(arr);
    return e == DC_OK && !rs->json ? DC_ERR_NO_MEMORY : e;
}

/* ---- GET /v1/admin/summary --------------------------------------------- */

enum dc_err dc_h_admin_summary(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    struct dc_gauges g;
    uint64_t shared[DC_M_COUNT];
    memset(&g, 0, sizeof g);
    e = dc_gauges_read(&g, shared, rq->x, st);
    dc_pool_put(rq->x, st);
    if (e != DC_OK) return e;
    /* held includes frozen: the frozen box holds both */
    rs->json = json_pack("{s:I, s:I, s:I, s:I, s:I}", "held", (json_int_t)g.held, "frozen",
                         (json_int_t)g.frozen, "cases_open", (json_int_t)g.cases_open, "exposure",
                         (json_int_t)g.exposure, "float", (json_int_t)g.float_out);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* ---- Accounts: names for ids and aliases ------------------------------- */

/* {"account", "name", "status"} of an account, or of an alias no account
 * has ({"account": null}). */
static json_t *who(struct dc_store *st, enum dc_acct_by by, int64_t id, const uint8_t *key)
{
    struct dc_account a;
    if (st->ops->account_get(st, &a, by, id, key) != DC_OK) {
        return json_pack("{s:n, s:s, s:s}", "account", "name", "", "status", "unknown");
    }
    return json_pack("{s:I, s:s, s:s}", "account", (json_int_t)a.id, "name",
                     a.kind == DC_ACCT_USER ? a.name : "(system)", "status",
                     dc_account_status_name(&a));
}

/* ---- GET /v1/admin/accounts/{id}/holds --------------------------------- */

static int add_hold(void *ctx, const struct dc_hold *h)
{
    json_array_append_new(ctx, dc_json_hold(h, DC_HOLD_VIEW_ACCOUNT));
    return 0;
}

enum dc_err dc_h_admin_account_holds(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    struct dc_account a;
    json_t *holds = json_array();
    e = st->ops->begin(st, 0);
    if (e == DC_OK) e = st->ops->account_get(st, &a, DC_BY_ID, rq->path_id, NULL);
    if (e == DC_OK && !holds) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK) e = st->ops->holds_list(st, DC_HOLDS_OF_ACCOUNT, a.id, add_hold, holds);
    st->ops->rollback(st);
    dc_pool_put(rq->x, st);
    if (e != DC_OK) {
        json_decref(holds);
        return e;
    }
    rs->json = json_pack("{s:I, s:o}", "account", (json_int_t)rq->path_id, "holds", holds);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}

/* ---- GET /v1/admin/accounts/{id}/history ------------------------------- */

/* The account's journal as its holder sees it (GET /v1/history), for any
 * account: amounts signed from its side, the counterparty, the bucket. */
enum dc_err dc_h_admin_account_history(struct dc_req *rq, struct dc_resp *rs)
{
    int64_t limit, before;
    enum dc_err e = dc_query_int(rq, "limit", 1, 500, 50, &limit);
    if (e == DC_OK) e = dc_query_int(rq, "before", 1, INT64_MAX, 0, &before);
    if (e != DC_OK) return e;
    struct dc_store *st;
    e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    struct dc_account a;
    e = st->ops->begin(st, 0);
    if (e == DC_OK) e = st->ops->account_get(st, &a, DC_BY_ID, rq->path_id, NULL);
    if (e == DC_OK) e = dc_json_history(st, a.id, before, limit, &rs->json);
    st->ops->rollback(st);
    dc_pool_put(rq->x, st);
    if (e == DC_OK) json_object_set_new(rs->json, "account", json_integer(rq->path_id));
    return e;
}

/* ---- GET /v1/admin/cases/{id}/coin ------------------------------------- */

struct tree {
    struct dc_store *st;
    const struct dc_case *c;
    json_t *nodes, *edges, *deposits;
    json_t *names;                        /* alias hex -> who() (a cache) */
    char forks[8][2 * DC_HASH_BYTES + 1]; /* the states leaving the fork, in order: A, B, ... */
    size_t n_forks;
    enum dc_err e;
};

static char *hex_of(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static json_t *signer(struct tree *t, const uint8_t alias[DC_ALIAS_BYTES])
{
    char ah[2 * DC_ALIAS_BYTES + 1];
    hex_of(ah, alias, DC_ALIAS_BYTES);
    json_t *w = json_object_get(t->names, ah);
    if (!w) {
        w = who(t->st, DC_BY_ALIAS, 0, alias);
        if (!w) return NULL;
        json_object_set_new(t->names, ah, w);
    }
    json_t *o = json_deep_copy(w);
    if (o) json_object_set_new(o, "alias", json_string(ah));
    return o;
}

static void add_node(struct tree *t, const char *sh, int64_t value, const uint8_t *alias,
                     size_t depth, int genesis)
{
    if (json_object_get(t->nodes, sh)) return;
    json_t *o = json_pack("{s:s, s:I, s:I, s:b}", "state", sh, "value", (json_int_t)value, "depth",
                          (json_int_t)depth, "genesis", genesis);
    if (!o) return;
    char fh[2 * DC_HASH_BYTES + 1];
    json_object_set_new(o, "fork",
                        json_boolean(strcmp(hex_of(fh, t->c->state, DC_HASH_BYTES), sh) == 0));
    json_object_set_new(o, "owner", signer(t, alias));
    json_object_set_new(t->nodes, sh, o);
}

/* The branch letter of a state leaving the fork (A, B, ...), "" if the
 * state does not leave the fork. */
static const char *branch_of(struct tree *t, const char *from, const char *to)
{
    static const char *const letters[] = {"A", "B", "C", "D", "E", "F", "G", "H"};
    char fh[2 * DC_HASH_BYTES + 1];
    if (strcmp(hex_of(fh, t->c->state, DC_HASH_BYTES), from) != 0) return "";
    for (size_t i = 0; i < t->n_forks; i++) {
        if (strcmp(t->forks[i], to) == 0) return letters[i];
    }
    if (t->n_forks == 8) return "";
    snprintf(t->forks[t->n_forks], sizeof t->forks[0], "%s", to);
    return letters[t->n_forks++];
}

static json_t *decoded(const struct dc_record *r, struct tree *t)
{
    if (r->type == DC_TYPE_TRANSFER) {
        json_t *o = json_pack("{s:o, s:o}", "to", signer(t, r->u.transfer.to.alias), "nonce",
                              dc_json_hex(r->u.transfer.nonce, DC_NONCE_BYTES));
        if (o)
            json_object_set_new(o, "to_device", dc_json_hex(r->u.transfer.to.pub, DC_PUBKEY_BYTES));
        return o;
    }
    if (r->type == DC_TYPE_SPLIT) {
        json_t *v = json_array();
        for (uint8_t i = 0; v && i < r->u.split.n; i++) {
            json_array_append_new(v, json_integer((json_int_t)r->u.split.values[i]));
        }
        return json_pack("{s:o, s:i}", "values", v, "part", (int)r->u.split.part);
    }
    return json_pack("{s:I, s:I}", "account", (json_int_t)r->u.deposit.account, "time",
                     (json_int_t)r->u.deposit.time);
}

static int add_chain(void *ctx, const struct dc_dcoin *d)
{
    struct tree *t = ctx;
    struct dc_coin coin;
    if (dc_coin_decode(&coin, d->chain, d->chain_len) != DC_OK) {
        t->e = DC_ERR_STORE; /* a stored chain that no longer decodes */
        return 1;
    }
    uint8_t state[DC_HASH_BYTES], next[DC_HASH_BYTES];
    char sh[2 * DC_HASH_BYTES + 1], nh[2 * DC_HASH_BYTES + 1];
    dc_state_genesis(state, coin.genesis_bytes);
    hex_of(sh, state, DC_HASH_BYTES);
    const struct dc_devcert *owner = &coin.genesis.owner;
    int64_t value = coin.genesis.value;
    add_node(t, sh, value, owner->alias, 0, 1);
    const char *branch = "";
    for (size_t k = 0; k < coin.n; k++) {
        const struct dc_record *r = &coin.rec[k];
        dc_state_next(next, state, r);
        hex_of(nh, next, DC_HASH_BYTES);
        const char *b = branch_of(t, sh, nh);
        if (b[0]) branch = b;
        char key[4 * DC_HASH_BYTES + 3];
        snprintf(key, sizeof key, "%s>%s", sh, nh);
        if (!json_object_get(t->edges, key)) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:s}", "from", sh, "to", nh,
                                  "type", dc_json_record_type(r->type), "index", (json_int_t)k + 1,
                                  "signer", signer(t, owner->alias), "decoded", decoded(r, t),
                                  "record", dc_json_hex(r->bytes, r->len), "branch", b);
            if (o) json_object_set_new(t->edges, key, o);
        }
        if (r->type == DC_TYPE_TRANSFER) owner = &r->u.transfer.to;
        if (r->type == DC_TYPE_SPLIT) value = r->u.split.values[r->u.split.part];
        add_node(t, nh, value, owner->alias, k + 1, 0);
        memcpy(state, next, sizeof state);
        memcpy(sh, nh, sizeof sh);
    }
    json_t *dep =
        json_pack("{s:I, s:I, s:o, s:I, s:s, s:s, s:b}", "dcoin", (json_int_t)d->id, "deposit",
                  (json_int_t)d->deposit, "by", who(t->st, DC_BY_ID, d->account, NULL), "amount",
                  (json_int_t)d->amount, "state", sh, "branch", branch, "flagged", d->flagged);
    struct dc_hold h;
    if (dep && d->hold && t->st->ops->hold_get(t->st, &h, d->hold) == DC_OK) {
        json_object_set_new(dep, "hold", dc_json_hold(&h, DC_HOLD_VIEW_ACCOUNT));
    } else if (dep) {
        json_object_set_new(dep, "hold", json_null());
    }
    json_array_append_new(t->deposits, dep);
    return 0;
}

/* The values of a JSON object as an array (new references). */
static json_t *values_of(json_t *obj)
{
    json_t *arr = json_array();
    for (void *it = json_object_iter(obj); arr && it; it = json_object_iter_next(obj, it)) {
        json_array_append(arr, json_object_iter_value(it));
    }
    return arr;
}

enum dc_err dc_h_admin_case_coin(struct dc_req *rq, struct dc_resp *rs)
{
    struct dc_store *st;
    enum dc_err e = dc_pool_get(rq->x, &st);
    if (e != DC_OK) return e;
    struct dc_case c;
    struct tree t;
    memset(&t, 0, sizeof t);
    t.st = st;
    t.c = &c;
    t.nodes = json_object();
    t.edges = json_object();
    t.deposits = json_array();
    t.names = json_object();
    e = st->ops->begin(st, 0);
    if (e == DC_OK) e = st->ops->case_get(st, &c, rq->path_id, NULL, NULL);
    int have_case = e == DC_OK;
    if (e == DC_OK && (!t.nodes || !t.edges || !t.deposits || !t.names)) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK) e = st->ops->dcoins_by_serial(st, c.serial, add_chain, &t);
    if (e == DC_OK) e = t.e;
    json_t *culprit = NULL;
    if (e == DC_OK) culprit = who(st, DC_BY_ID, c.culprit_account, NULL);
    st->ops->rollback(st);
    dc_pool_put(rq->x, st);
    if (e == DC_OK) {
        rs->json =
            json_pack("{s:I, s:o, s:o, s:I, s:o, s:o, s:o, s:o}", "case", (json_int_t)c.id,
                      "serial", dc_json_hex(c.serial, DC_SERIAL_BYTES), "fork_state",
                      dc_json_hex(c.state, DC_HASH_BYTES), "value", (json_int_t)c.value, "culprit",
                      culprit ? culprit : json_null(), "nodes", values_of(t.nodes), "edges",
                      values_of(t.edges), "deposits", json_incref(t.deposits));
        if (!rs->json) e = DC_ERR_NO_MEMORY;
    } else {
        json_decref(culprit);
    }
    if (have_case) dc_case_clear(&c);
    json_decref(t.nodes);
    json_decref(t.edges);
    json_decref(t.deposits);
    json_decref(t.names);
    return e;
}

/* ---- Search: GET /v1/admin/accounts?q= and /v1/admin/cases?q= ---------- */

/* Parses q into s: an id (digits), a name prefix (any text), a hex prefix
 * (2 to 64 hex digits) as the byte range [lo, hi) of every key starting
 * with it. 0, or DC_ERR_FIELD with rq->detail set. */
static enum dc_err search_parse(struct dc_req *rq, const char *q, struct dc_search *s)
{
    memset(s, 0, sizeof *s);
    size_t n = strlen(q);
    if (n == 0 || n > 64 || !dc_event_text_valid(q, 65)) {
        snprintf(rq->detail, sizeof rq->detail, "q must be 1 to 64 bytes of UTF-8");
        return DC_ERR_FIELD;
    }
    s->name = q;
    size_t digits = strspn(q, "0123456789"), hex = strspn(q, "0123456789abcdefABCDEF");
    if (digits == n && n <= 18 && q[0] != '0') s->id = strtoll(q, NULL, 10);
    if (hex == n && n >= 2) {
        for (size_t i = 0; i < n; i++) {
            char c = q[i];
            unsigned v = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
            if (i % 2 == 0) s->lo[i / 2] = (uint8_t)(v << 4);
            if (i % 2 == 1) s->lo[i / 2] |= (uint8_t)v;
        }
        s->lo_len = (n + 1) / 2;
        /* hi: the smallest key above every key with this prefix (the
         * prefix plus one in its last nibble, with carries); a prefix of
         * f's only has none, so hi is 33 bytes of ff, above every key */
        memcpy(s->hi, s->lo, s->lo_len);
        s->hi_len = s->lo_len;
        unsigned add = n % 2 ? 0x10u : 0x01u;
        size_t i = s->lo_len;
        while (i > 0) {
            unsigned v = s->hi[i - 1] + add;
            s->hi[i - 1] = (uint8_t)v;
            if (v <= 0xff) break;
            s->hi_len = --i; /* carried out of this byte: drop it */
            add = 1;
        }
        if (s->hi_len == 0) {
            memset(s->hi, 0xff, sizeof s->hi);
            s->hi_len = sizeof s->hi;
        }
    }
    return DC_OK;
}

/* a hex rendering of n bytes starts with the (lowercased) prefix q */
static int hex_starts(const uint8_t *p, size_t n, const char *q)
{
    char h[2 * DC_PUBKEY_BYTES + 1];
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = digits[p[i] >> 4];
        h[2 * i + 1] = digits[p[i] & 15];
    }
    h[2 * n] = '\0';
    size_t k = strlen(q);
    if (k > 2 * n) return 0;
    for (size_t i = 0; i < k; i++) {
        if ((q[i] | 0x20) != h[i]) return 0;
    }
    return 1;
}

struct search_page {
    const char *q;
    const struct dc_search *s;
    json_t *arr;
    int64_t last;
    int limit, more;
};

static int add_found_account(void *ctx, const struct dc_account *a)
{
    struct search_page *p = ctx;
    if ((int)json_array_size(p->arr) == p->limit) {
        p->more = 1;
        return 1;
    }
    json_t *j = dc_json_account(a, 0), *why = json_array();
    if (!j || !why) {
        json_decref(j);
        json_decref(why);
        return 1;
    }
    if (a->kind == DC_ACCT_USER) {
        json_object_set_new(j, "name", json_string(a->name));
        json_object_set_new(j, "alias", dc_json_hex(a->alias, DC_ALIAS_BYTES));
    }
    /* which criteria matched, for the console to say why a row is there */
    if (p->s->id == a->id) json_array_append_new(why, json_string("id"));
    size_t k = strlen(p->q);
    int name_hit = strlen(a->name) >= k;
    for (size_t i = 0; name_hit && i < k; i++) {
        char x = a->name[i], y = p->q[i];
        if (x >= 'A' && x <= 'Z') x = (char)(x | 0x20);
        if (y >= 'A' && y <= 'Z') y = (char)(y | 0x20);
        if (x != y) name_hit = 0;
    }
    if (name_hit) json_array_append_new(why, json_string("name"));
    if (p->s->lo_len && hex_starts(a->alias, DC_ALIAS_BYTES, p->q)) {
        json_array_append_new(why, json_string("alias"));
    }
    if (p->s->lo_len && hex_starts(a->device_pub, DC_PUBKEY_BYTES, p->q)) {
        json_array_append_new(why, json_string("device"));
    }
    json_object_set_new(j, "matched", why);
    json_array_append_new(p->arr, j);
    p->last = a->id;
    return 0;
}

static int add_found_case(void *ctx, const struct dc_case *c)
{
    struct search_page *p = ctx;
    if ((int)json_array_size(p->arr) == p->limit) {
        p->more = 1;
        return 1;
    }
    json_t *j = dc_json_case(c, 0);
    if (!j) return 1;
    json_object_set_new(j, "matched",
                        json_string(p->s->account       ? "account"
                                    : p->s->id == c->id ? "id"
                                                        : "serial"));
    json_array_append_new(p->arr, j);
    p->last = c->id;
    return 0;
}

/* One page of a search: ?q=TEXT&after=ID&limit=N (1-200, default 50); the
 * store reads one row past the page to know whether another follows. */
enum dc_err dc_admin_search(struct dc_req *rq, struct dc_resp *rs, int cases)
{
    struct dc_search s;
    struct search_page p = {rq->query(rq->conn, "q"), &s, NULL, 0, 0, 0};
    int64_t after = 0, limit = 50, account = 0;
    enum dc_err e = DC_OK;
    if (p.q) {
        e = search_parse(rq, p.q, &s);
    } else {
        /* cases?account=ID: an account's cases, as culprit or receiver */
        memset(&s, 0, sizeof s);
        p.q = "";
        e = dc_query_int(rq, "account", 1, INT64_MAX, 0, &account);
        s.account = account;
    }
    if (e == DC_OK) e = dc_query_int(rq, "after", 0, INT64_MAX, 0, &after);
    if (e == DC_OK) e = dc_query_int(rq, "limit", 1, 200, 50, &limit);
    if (e != DC_OK) return e;
    s.after = after;
    s.limit = (int)limit + 1;
    p.limit = (int)limit;
    p.arr = json_array();
    if (!p.arr) return DC_ERR_NO_MEMORY;
    struct dc_store *st;
    e = dc_pool_get(rq->x, &st);
    if (e == DC_OK) {
        e = cases ? st->ops->case_search(st, &s, add_found_case, &p)
                  : st->ops->account_search(st, &s, add_found_account, &p);
        dc_pool_put(rq->x, st);
    }
    if (e != DC_OK) {
        json_decref(p.arr);
        return e;
    }
    rs->json = json_pack("{s:o, s:o, s:s}", cases ? "cases" : "accounts", p.arr, "next",
                         p.more ? json_integer((json_int_t)p.last) : json_null(), "q", p.q);
    return rs->json ? DC_OK : DC_ERR_NO_MEMORY;
}
