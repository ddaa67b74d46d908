/*
 * http.h - the HTTP side of ducatd: requests, responses, the route table
 * and the helpers handlers share.
 *
 * A handler is thin: parse the JSON body (jspec), validate with the core,
 * run one store transaction through the writer (or read from a pooled
 * connection), render. It returns DC_OK with rs filled, or an error with an
 * optional rq->detail; http.c renders every error the same way:
 * {"code", "name", "hint", "detail"} with the registry's HTTP status.
 */
#ifndef DUCAT_SERVER_HTTP_H
#define DUCAT_SERVER_HTTP_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http/serve.h"
#include "server/operators.h"
#include "server/render/render.h"
#include "server/server.h"

/* Route flags. */
#define DC_R_PUBLIC 0x0u
#define DC_R_DEVICE 0x1u      /* signed by a registered device */
#define DC_R_SELF_SIGNED 0x2u /* signed by the key in the body (registration) */
#define DC_R_ADMIN 0x4u       /* Authorization: Bearer <an operator's credential> */
#define DC_R_CONSOLE 0x8u     /* the admin console's files: unknown when [server] console = no */
#define DC_R_INLINE 0x10u     /* never blocks (no store, no writer): answered on the io thread */
#define DC_R_WRITER                                                                                \
    0x20u /* the handler parses, then runs one store job: the io thread                            \
           * authenticates, the writer thread runs the handler (http.c) */

/* How a handler's answer is left to the writer (dc_idempotent_then): the
 * HTTP layer's, given to request.c through rq->deferral on a worker. */
struct dc_deferral {
    int *deferred; /* set before the job is queued: the worker must not answer */
    /* on the writer thread: render the answer (or e), send it, free rq */
    void (*finish)(struct dc_deferral *d, enum dc_err e);
};

struct dc_req {
    struct dc_ctx *x;
    const char *method;
    const char *path;   /* without the query */
    const char *target; /* path?query exactly as sent (what signatures cover) */
    const uint8_t *body;
    size_t body_len;
    json_t *json; /* parsed body (POST), borrowed */
    uint64_t now;
    int64_t path_id;                 /* the {id} of the route, if any */
    uint8_t device[DC_PUBKEY_BYTES]; /* authenticated device key */
    struct dc_account account;       /* its account (DC_R_DEVICE): only .id is sure to be
                                        set (from a cache); read the rest from the store */
    char operator_name[33];          /* the signed-in operator (DC_R_ADMIN): "admin" for the
                                      * bootstrap token, else a name of operators.h */
    enum dc_role operator_role;      /* and their role */
    uint64_t operator_expires;       /* and when their credential expires (0 = never) */
    char detail[256];                /* why a request failed, for the error body */
    const char *(*header)(void *conn, const char *name);
    const char *(*query)(void *conn, const char *name);
    void *conn;
    struct dc_deferral *deferral; /* set where the answer may be left to the writer */
    /* Counters to add once the answer is final (dc_req_count): a handler
     * running on the writer runs again when its batch is retried, and a
     * commit may still fail after it returned. */
    struct {
        int counter; /* enum dc_counter */
        uint64_t n;
    } counts[2];
    size_t n_counts;
    /* the answer is a stored one (a replay), not this attempt's work: set by
     * replay_into, cleared with n_counts when the writer runs a handler again */
    int replayed;
};

struct dc_resp {
    int status;   /* 200 unless set */
    json_t *json; /* owned: freed after sending */
    char *text;   /* alternative raw body (owned), e.g. /metrics */
    const char *content_type;
    const char *cache_control;
    const char *const *headers; /* extra header name/value pairs, NULL-terminated (static) */
};

typedef enum dc_err (*dc_handler)(struct dc_req *rq, struct dc_resp *rs);

struct dc_route {
    const char *method;
    const char *path; /* may contain one "{id}" segment */
    dc_handler fn;
    unsigned flags;
    size_t max_body;  /* 0 = server default */
    const char *name; /* metrics label */
    /* DC_R_ADMIN: the least role that may call the route (operators.h);
     * the dispatcher answers DC_ERR_ADMIN_ROLE (403) to a weaker one. An
     * admin row that names none (DC_ROLE_NONE) is for admins only: a
     * forgotten column fails closed. */
    enum dc_role role;
};

extern const struct dc_route dc_routes[];
extern const size_t dc_routes_n;

/* ---- Helpers for handlers ---------------------------------------------- */

/* JSON body spec (Taler's spec arrays): a table of fields to read. */
enum dc_jtype { DC_J_I64, DC_J_POS_I64, DC_J_STR, DC_J_HEX, DC_J_ARRAY, DC_J_REQID };
struct dc_jspec {
    const char *name;
    enum dc_jtype type;
    void *dest; /* int64_t*, char* (cap), uint8_t* (cap bytes), json_t** */
    size_t cap; /* string capacity incl. NUL / hex byte count / max array length */
    int optional;
};
#define DC_JSPEC_END                                                                               \
    {                                                                                              \
        NULL, DC_J_I64, NULL, 0, 0                                                                 \
    }
enum dc_err dc_jspec_parse(struct dc_req *rq, const struct dc_jspec *spec);

/* Runs a money-moving operation idempotently: `fn` executes in the writer
 * inside the caller's savepoint and fills *out (status + json); the answer
 * is stored under (account, request_id) and replayed on a retry. */
typedef enum dc_err (*dc_idem_fn)(struct dc_store *st, struct dc_req *rq, void *arg,
                                  struct dc_resp *out);
/* Adds n to counter (enum dc_counter) when rq's answer is final and a
 * success; the dispatcher applies it (http.c finish). */
void dc_req_count(struct dc_req *rq, int counter, uint64_t n);

enum dc_err dc_idempotent(struct dc_req *rq, int64_t account, const char *request_id, dc_idem_fn fn,
                          void *arg, struct dc_resp *rs);
/* Answers a retry from the idempotency store before any other work
 * (*answered = 1), so checks that depend on time or trust (a coin expired
 * since, a device revoked since) cannot turn a settled request into an
 * error on retry. *answered = 0: not stored yet; dc_idempotent decides
 * atomically later. DC_ERR_IDEMPOTENCY_CONFLICT if the id was used for
 * another route or body. */
/*
 * dc_idempotent, then then(rq, rs, its result, arg), whose result is the
 * handler's. On a worker it does not wait: the job goes to the writer and
 * then() runs on the writer thread once the batch is durable (so it must
 * not block long), after which the answer is rendered and sent; the worker
 * is free at once, which saves two thread wake-ups per request. The
 * handler must return this function's result straight away and touch
 * neither rq, rs nor arg after it: then() owns arg (frees it) either way.
 */
typedef enum dc_err (*dc_idem_then)(struct dc_req *rq, struct dc_resp *rs, enum dc_err e,
                                    void *arg);
enum dc_err dc_idempotent_then(struct dc_req *rq, int64_t account, const char *request_id,
                               dc_idem_fn fn, void *arg, struct dc_resp *rs, dc_idem_then then);
enum dc_err dc_idempotent_replay(struct dc_req *rq, int64_t account, const char *request_id,
                                 struct dc_resp *rs, int *answered);

/* A query parameter as a whole number in [min, max] (digits only: no sign,
 * blank or percent-encoded space; no overflow); absent: *out = dflt.
 * DC_ERR_FIELD with rq->detail naming the parameter and its range. */
enum dc_err dc_query_int(struct dc_req *rq, const char *name, int64_t min, int64_t max,
                         int64_t dflt, int64_t *out);

/* coins[i] of a request's "coins" array (DC_J_ARRAY): a hex string of one
 * encoded coin, decoded into a new buffer (*out, caller frees; NULL on
 * error) of *len bytes and then into *coin. Errors name the element in
 * rq->detail: DC_ERR_FIELD for an element that is not a non-empty, even,
 * hex string of at most DC_COIN_MAX_BYTES bytes; the decoder's error for
 * bytes that are no coin. Shared by deposits and reclaims. */
enum dc_err dc_req_coin(struct dc_req *rq, const json_t *coins, size_t i, uint8_t **out,
                        size_t *len, struct dc_coin *coin);

/* Handlers (one file per family). */
enum dc_err dc_h_health(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_ready(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_keys(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_metrics(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_register(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_sync(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_balance(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_history(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_transfer(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_transfer_batch(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_withdraw(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_deposit(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_reclaim(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_accounts(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_account(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_verify(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_freeze(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_unfreeze(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_fund(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_payout(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_cases(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_case(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_resolve(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_release(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_audit(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_holds(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_case_evidence(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_case_events(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_whoami(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_operators(struct dc_req *, struct dc_resp *);
/* GET /v1/admin/accounts?q= (cases 0) and /v1/admin/cases?q= (cases 1):
 * the server-side search of h_investigate.c. */
enum dc_err dc_admin_search(struct dc_req *rq, struct dc_resp *rs, int cases);
enum dc_err dc_h_admin_summary(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_account_holds(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_account_history(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_admin_case_coin(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_console_page(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_console_script(struct dc_req *, struct dc_resp *);
enum dc_err dc_h_console_style(struct dc_req *, struct dc_resp *);

#endif
