/*
 * render.c - JSON renderings shared by the HTTP handlers and the operator
 * commands (render.h). Moved out of the handler files so an operator
 * command prints an account or a case without including the HTTP layer.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/armor.h"
#include "ducat/auth.h"
#include "ducat/refusal.h"
#include "server/ledger/ledger.h"
#include "server/render/render.h"

json_t *dc_json_hex(const uint8_t *p, size_t n)
{
    char *h = malloc(2 * n + 1);
    if (!h) return NULL;
    dc_hex_encode(h, p, n);
    json_t *j = json_string(h);
    free(h);
    return j;
}

const char *dc_hold_status_name(int status)
{
    switch (status) {
    case DC_HOLD_HELD:
        return "held";
    case DC_HOLD_FROZEN:
        return "frozen";
    case DC_HOLD_RELEASED:
        return "released";
    default:
        return "reversed";
    }
}

/* The fields of a hold's views (render.h), in no particular order; 0 ends
 * a view. */
enum hold_field {
    HF_END,
    HF_ID,   /* "id" */
    HF_HOLD, /* "hold": the same id */
    HF_ACCOUNT,
    HF_AMOUNT,      /* what was credited */
    HF_AMOUNT_LEFT, /* "amount": what it still holds (the holder's view) */
    HF_LEFT,        /* "left": likewise, beside "amount" */
    HF_STATUS,
    HF_PROVISIONAL,
    HF_RELEASE_AT,
    HF_RELEASE_PROVISIONAL,
    HF_TAKEN,
    HF_REPAID,
    HF_DEPOSIT,
    HF_CREATED_AT,
    HF_RELEASED_BY,
    HF_CASE,    /* "case": null when none */
    HF_CASE_ID, /* "case": 0 when none */
};

static const enum hold_field hold_views[][13] = {
    [DC_HOLD_VIEW_HOLDER] = {HF_ID, HF_AMOUNT_LEFT, HF_RELEASE_AT, HF_STATUS, HF_TAKEN,
                             HF_RELEASE_PROVISIONAL, HF_CASE},
    [DC_HOLD_VIEW_ACCOUNT] = {HF_HOLD, HF_ACCOUNT, HF_AMOUNT, HF_LEFT, HF_STATUS, HF_PROVISIONAL,
                              HF_RELEASE_AT, HF_DEPOSIT, HF_TAKEN, HF_CREATED_AT, HF_RELEASED_BY,
                              HF_CASE},
    [DC_HOLD_VIEW_CASE] = {HF_HOLD, HF_ACCOUNT, HF_AMOUNT, HF_STATUS, HF_PROVISIONAL, HF_RELEASE_AT,
                           HF_RELEASE_PROVISIONAL, HF_TAKEN, HF_REPAID, HF_RELEASED_BY, HF_DEPOSIT},
    [DC_HOLD_VIEW_PAGE] = {HF_HOLD, HF_ACCOUNT, HF_AMOUNT, HF_STATUS, HF_PROVISIONAL, HF_RELEASE_AT,
                           HF_RELEASE_PROVISIONAL, HF_CASE_ID, HF_DEPOSIT, HF_CREATED_AT,
                           HF_RELEASED_BY},
};

/* One field's name and value (new reference; NULL: out of memory). */
static json_t *hold_field(const char **name, const struct dc_hold *h, enum hold_field f)
{
    switch (f) {
    case HF_ID:
        *name = "id";
        return json_integer(h->id);
    case HF_HOLD:
        *name = "hold";
        return json_integer(h->id);
    case HF_ACCOUNT:
        *name = "account";
        return json_integer(h->account);
    case HF_AMOUNT:
        *name = "amount";
        return json_integer(h->amount);
    case HF_AMOUNT_LEFT:
        *name = "amount";
        return json_integer(dc_hold_left(h));
    case HF_LEFT:
        *name = "left";
        return json_integer(dc_hold_left(h));
    case HF_STATUS:
        *name = "status";
        return json_string(dc_hold_status_name(h->status));
    case HF_PROVISIONAL:
        *name = "provisional";
        return json_boolean(h->provisional);
    case HF_RELEASE_AT:
        *name = "release_at";
        return json_integer((json_int_t)h->release_at);
    case HF_RELEASE_PROVISIONAL:
        *name = "release_provisional"; /* a guessed date: the calendar does not cover it yet */
        return json_boolean(h->release_provisional);
    case HF_TAKEN:
        *name = "taken"; /* what a fork case took out (forfeit or reversal) */
        return json_integer(h->taken);
    case HF_REPAID:
        *name = "repaid";
        return json_integer(h->repaid);
    case HF_DEPOSIT:
        *name = "deposit";
        return json_integer(h->deposit);
    case HF_CREATED_AT:
        *name = "created_at";
        return json_integer((json_int_t)h->created_at);
    case HF_RELEASED_BY:
        *name = "released_by";
        return json_string(h->released_by);
    case HF_CASE:
        *name = "case";
        return h->case_id ? json_integer(h->case_id) : json_null();
    case HF_CASE_ID:
        *name = "case";
        return json_integer(h->case_id);
    case HF_END:
        break;
    }
    return NULL;
}

json_t *dc_json_hold(const struct dc_hold *h, enum dc_hold_view view)
{
    json_t *o = json_object();
    const enum hold_field *f = hold_views[view];
    for (size_t i = 0; o && i < sizeof hold_views[0] / sizeof f[0] && f[i] != HF_END; i++) {
        const char *name = NULL;
        json_t *v = hold_field(&name, h, f[i]);
        /* one field missing is no answer: as json_pack, all or nothing */
        if (!v || json_object_set_new(o, name, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

json_t *dc_json_deposit_coin(const struct dc_deposit_coin_out *c, int with_flagged)
{
    json_t *o = json_pack("{s:o, s:I, s:I, s:I, s:b, s:s}", "serial",
                          dc_json_hex(c->serial, DC_SERIAL_BYTES), "amount", (json_int_t)c->amount,
                          "hold", (json_int_t)c->hold, "release_at", (json_int_t)c->release_at,
                          "release_provisional", c->release_provisional, "status",
                          dc_hold_status_name(c->status));
    if (o && with_flagged && json_object_set_new(o, "flagged", json_boolean(c->flagged)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o &&
        json_object_set_new(o, "case", c->case_id ? json_integer(c->case_id) : json_null()) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

const char *dc_json_record_type(uint8_t t)
{
    return t == DC_TYPE_TRANSFER  ? "transfer"
           : t == DC_TYPE_SPLIT   ? "split"
           : t == DC_TYPE_DEPOSIT ? "deposit"
           : t == DC_REFUSAL_TAG  ? "refusal" /* successor A of a refusal evidence */
                                  : "unknown";
}

json_t *dc_json_account(const struct dc_account *a, int with_private)
{
    static const char *const kinds[] = {"user", "settlement", "float", "losses"};
    json_t *j = json_pack(
        "{s:I, s:s, s:s, s:b, s:b, s:b, s:I, s:I, s:I, s:I}", "account", (json_int_t)a->id, "kind",
        kinds[a->kind & 3], "status", dc_account_status_name(a), "verified",
        a->status == DC_ACCT_VERIFIED, "frozen", a->frozen, "offline_blocked", a->offline_blocked,
        "offline_limit", (json_int_t)a->offline_limit, "available", (json_int_t)a->available,
        "held", (json_int_t)a->held, "created_at", (json_int_t)a->created_at);
    /* the culprit of an unsettled fork case: receives, sends nothing */
    if (j) json_object_set_new(j, "debtor", json_boolean(a->debtor));
    if (j && with_private && a->kind == DC_ACCT_USER) {
        json_object_set_new(j, "name", json_string(a->name));
        json_object_set_new(j, "national_id", json_string(a->national_id));
        json_object_set_new(j, "phone", json_string(a->phone));
        json_object_set_new(j, "device_pub", dc_json_hex(a->device_pub, DC_PUBKEY_BYTES));
        json_object_set_new(j, "alias", dc_json_hex(a->alias, DC_ALIAS_BYTES));
    }
    return j;
}

json_t *dc_json_case(const struct dc_case *c, int with_evidence)
{
    json_t *j = json_pack(
        "{s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:I}", "case",
        (json_int_t)c->id, "serial", dc_json_hex(c->serial, DC_SERIAL_BYTES), "state",
        dc_json_hex(c->state, DC_HASH_BYTES), "culprit", dc_json_hex(c->culprit, DC_PUBKEY_BYTES),
        "culprit_account", (json_int_t)c->culprit_account, "value", (json_int_t)c->value,
        "exposure", (json_int_t)c->exposure, "status",
        c->status == DC_CASE_OPEN ? "open" : "resolved", "decision", c->decision, "actor", c->actor,
        "reason", c->reason, "created_at", (json_int_t)c->created_at, "resolved_at",
        (json_int_t)c->resolved_at);
    if (j) {
        /* the liability (exposure), what the culprit paid so far, the debt
         * she still owes, and what a decision left to others */
        json_object_set_new(j, "liability", json_integer((json_int_t)c->exposure));
        json_object_set_new(j, "recovered", json_integer((json_int_t)c->recovered));
        json_object_set_new(j, "debt", json_integer((json_int_t)(c->exposure - c->recovered)));
        json_object_set_new(j, "carried", json_integer((json_int_t)c->carried));
        json_object_set_new(j, "repaid", json_integer((json_int_t)c->repaid));
        const char *phase = c->status != DC_CASE_OPEN ? "settled"
                            : c->decision[0]          ? "decided"
                                                      : "recovering";
        json_object_set_new(j, "phase", json_string(phase));
    }
    if (j && with_evidence && c->evidence) {
        json_object_set_new(j, "evidence", dc_json_hex(c->evidence, c->evidence_len));
        size_t need = dc_armor_encoded_len(DC_ARMOR_EVIDENCE, c->evidence_len) + 1, got;
        char *a = malloc(need);
        if (a && dc_armor_encode(a, need, &got, DC_ARMOR_EVIDENCE, c->evidence, c->evidence_len) ==
                     DC_OK) {
            json_object_set_new(j, "evidence_armor", json_string(a));
        }
        free(a);
    }
    return j;
}

json_t *dc_json_event(const struct dc_event *ev)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s}", "id", (json_int_t)ev->id, "time",
                     (json_int_t)ev->time, "actor", ev->actor, "action", ev->action, "reason",
                     ev->reason);
}

static int add_event(void *ctx, const struct dc_event *ev)
{
    json_array_append_new(ctx, dc_json_event(ev));
    return 0;
}

enum dc_err dc_json_events(struct dc_store *st, enum dc_event_of of, int64_t subject, json_t **out)
{
    *out = json_array();
    if (!*out) return DC_ERR_NO_MEMORY;
    enum dc_err e = st->ops->events_list(st, of, subject, add_event, *out);
    if (e != DC_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return e;
}

enum dc_err dc_json_account_full(struct dc_store *st, int64_t id, json_t **out)
{
    struct dc_account a;
    json_t *events = NULL;
    *out = NULL;
    /* one read transaction: the account and its events from one snapshot */
    enum dc_err e = st->ops->begin(st, 0);
    if (e == DC_OK) e = st->ops->account_get(st, &a, DC_BY_ID, id, NULL);
    if (e == DC_OK) e = dc_json_events(st, DC_EVENTS_ACCOUNT, id, &events);
    st->ops->rollback(st);
    if (e == DC_OK) *out = dc_json_account(&a, 1);
    if (e == DC_OK && !*out) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK)
        json_object_set_new(*out, "events", events);
    else
        json_decref(events);
    return e;
}

struct hist {
    int64_t account;
    json_t *arr;
    int64_t last;
};

static int add_entry(void *ctx, const struct dc_posting *p)
{
    struct hist *h = ctx;
    int outgoing = p->debit == h->account;
    int bucket = outgoing ? p->debit_bucket : p->credit_bucket;
    int64_t other = outgoing ? p->credit : p->debit;
    if (p->debit == p->credit) { /* a release moves held -> available */
        outgoing = 0;
        bucket = p->credit_bucket;
    }
    json_array_append_new(
        h->arr, json_pack("{s:I, s:I, s:s, s:I, s:s, s:I, s:s, s:s}", "id", (json_int_t)p->id,
                          "time", (json_int_t)p->time, "kind", p->kind, "amount",
                          (json_int_t)(outgoing ? -p->amount : p->amount), "bucket",
                          bucket == DC_BUCKET_HELD ? "held" : "available", "counterparty",
                          (json_int_t)other, "ref", p->ref, "memo", p->memo));
    h->last = p->id;
    return 0;
}

/* A deposit entry (kind "deposit", ref "h:<hold>") tells when its credit
 * is released and whether that date is still a guess, as the balance's
 * holds do: a user reading her history must not take a provisional date for
 * a promise. Read after journal_list (not from its callback) so no backend
 * nests a query inside a result it is still reading. */
static enum dc_err add_hold_dates(struct dc_store *st, json_t *arr)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *ref = json_string_value(json_object_get(o, "ref"));
        if (!kind || !ref || strcmp(kind, "deposit") != 0 || strncmp(ref, "h:", 2) != 0) continue;
        char *end;
        long long id = strtoll(ref + 2, &end, 10);
        if (*end || id <= 0) continue;
        struct dc_hold hd;
        enum dc_err e = st->ops->hold_get(st, &hd, id);
        if (e == DC_ERR_NOT_FOUND) continue;
        if (e != DC_OK) return e;
        if (json_object_set_new(o, "hold_status", json_string(dc_hold_status_name(hd.status))) ||
            json_object_set_new(o, "release_at", json_integer((json_int_t)hd.release_at)) ||
            json_object_set_new(o, "release_provisional", json_boolean(hd.release_provisional))) {
            return DC_ERR_NO_MEMORY;
        }
    }
    return DC_OK;
}

enum dc_err dc_json_history(struct dc_store *st, int64_t account, int64_t before, int64_t limit,
                            json_t **out)
{
    struct hist h = {account, json_array(), 0};
    *out = NULL;
    if (!h.arr) return DC_ERR_NO_MEMORY;
    enum dc_err e = st->ops->journal_list(st, account, before, (int)limit, add_entry, &h);
    if (e == DC_OK) e = add_hold_dates(st, h.arr);
    if (e != DC_OK) {
        json_decref(h.arr);
        return e;
    }
    size_t n = json_array_size(h.arr);
    *out = json_pack("{s:o, s:o}", "entries", h.arr, "next_before",
                     n == (size_t)limit ? json_integer(h.last) : json_null());
    return *out ? DC_OK : DC_ERR_NO_MEMORY;
}

/* ---- A case's deposits, by branch ------------------------------------- */

struct branch_ctx {
    struct dc_store *st;
    const struct dc_case *c;
    const uint8_t *ev; /* the case's evidence */
    struct dc_evidence_info *info;
    struct dc_coin *scratch;
    json_t *arr;
    enum dc_err err;
};

/* Same record body (signatures aside: states are named by bodies). */
static int same_record(const struct dc_record *r, const uint8_t *b, size_t len)
{
    return r->len == len && len > DC_SIG_BYTES && memcmp(r->bytes, b, len - DC_SIG_BYTES) == 0;
}

static int add_branch_deposit(void *ctx, const struct dc_dcoin *d)
{
    struct branch_ctx *b = ctx;
    if (dc_coin_decode(b->scratch, d->chain, d->chain_len) != DC_OK) return 0;
    size_t k = b->info->fork_index;
    uint8_t s[DC_HASH_BYTES];
    /* a refused payment passed on: the payer's reclaim ends in the state
     * (branch A, the refusal's side); the payee's record goes on from it */
    int reclaim = b->info->kind == DC_TYPE_REFUSAL_EVIDENCE && b->scratch->n == k;
    if (b->scratch->n < k || (b->scratch->n == k && !reclaim)) return 0;
    dc_coin_state(s, b->scratch, k);
    if (memcmp(s, b->c->state, DC_HASH_BYTES) != 0) return 0; /* another state of the coin */
    const char *branch = reclaim ? "A" : NULL;
    for (int i = 0; !reclaim && i < 2; i++) {
        if (same_record(&b->scratch->rec[k], b->ev + b->info->succ_off[i], b->info->succ_len[i])) {
            branch = i == 0 ? "A" : "B";
        }
    }
    struct dc_hold h;
    b->err = b->st->ops->hold_get(b->st, &h, d->hold);
    if (b->err != DC_OK) return 1;
    json_array_append_new(b->arr,
                          json_pack("{s:s?, s:I, s:I, s:I, s:I, s:s, s:I, s:b, s:I, s:I, s:s}",
                                    "branch", branch, "deposit", (json_int_t)d->deposit, "hold",
                                    (json_int_t)h.id, "account", (json_int_t)d->account, "amount",
                                    (json_int_t)d->amount, "status", dc_hold_status_name(h.status),
                                    "release_at", (json_int_t)h.release_at, "release_provisional",
                                    h.release_provisional, "taken", (json_int_t)h.taken, "case",
                                    (json_int_t)h.case_id, "released_by", h.released_by));
    return 0;
}

enum dc_err dc_json_case_deposits(json_t **out, struct dc_store *st, const struct dc_case *c,
                                  const uint8_t master_pub[static DC_PUBKEY_BYTES])
{
    *out = NULL;
    struct dc_evidence_info info;
    enum dc_err e = dc_evidence_verify(&info, master_pub, c->evidence, c->evidence_len);
    if (e != DC_OK) return e;
    struct branch_ctx b = {st,           c,    c->evidence, &info, malloc(sizeof(struct dc_coin)),
                           json_array(), DC_OK};
    if (!b.scratch || !b.arr) e = DC_ERR_NO_MEMORY;
    if (e == DC_OK) e = st->ops->dcoins_by_serial(st, c->serial, add_branch_deposit, &b);
    if (e == DC_OK) e = b.err;
    free(b.scratch);
    if (e != DC_OK) {
        json_decref(b.arr);
        return e;
    }
    *out = b.arr;
    return DC_OK;
}

char *dc_error_text(enum dc_err e, const char *detail)
{
    json_t *j =
        json_pack("{s:i, s:s, s:s}", "code", (int)e, "name", dc_err_name(e), "hint", dc_err_str(e));
    if (j && detail && detail[0]) json_object_set_new(j, "detail", json_string(detail));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}
