/*
 * http.c - libmicrohttpd adapter, dispatch through the route table,
 * authentication and error answers (request.c holds what handlers call:
 * JSON specs, query parameters, idempotent execution).
 *
 * Threading: a few io threads (libmicrohttpd's thread pool, each an epoll
 * loop) read and write every socket; a complete request is handed to a
 * fixed pool of workers with its connection suspended, so a handler may
 * block on the group-commit writer or the database while the io threads
 * keep serving everyone else. Slow clients hold sockets (bounded per
 * address and in all), never threads; header and body deadlines close
 * sockets that trickle. Bodies are collected up
 * to the route's limit; a larger body is drained and answered 413 without
 * being parsed. Nothing here logs a secret: never a key, a token, a body.
 */
#include "server/http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ducat/auth.h"
#include "server/http/nonces.h"
#include "server/ledger/jobs.h"
#include "server/ledger/writer.h"
#include "server/obs/metrics.h"
#include "server/operators.h"

/* ---- Connections, sockets and the worker pool -------------------------- */

/* What we know of one socket (MHD_OPTION_NOTIFY_CONNECTION), for the
 * header and body deadlines: libmicrohttpd only has an idle timeout, which
 * a client sending one header line every few seconds never reaches. */
enum sock_phase { PH_HEADERS, PH_BODY, PH_WORK };
struct sock {
    int fd;
    enum sock_phase phase;
    uint64_t since_us;        /* when this phase began */
    int killed;               /* by the deadline sweep: 1 answered 408, 2 shut down */
    struct sock *prev, *next; /* in http->socks */
};

struct http;

struct conn_state {
    struct http *h;
    struct MHD_Connection *conn;
    struct sock *sock;
    char *uri; /* raw request target incl. query (from the URI log callback) */
    uint8_t *body;
    size_t len, cap;
    size_t limit;
    int too_large;
    int started;
    int late;
    int dispatched; /* handed to a worker (connection suspended) */
    uint64_t t0_us;
    const char *method, *url; /* MHD's, valid until the request completes */
    const struct dc_route *rt;
    const char *early_detail; /* a static string: why an early refusal was made */
    int64_t id;
    int path_known;
    size_t index;
    struct MHD_Response *resp; /* the answer a worker made, queued on resume */
    unsigned status;
    struct conn_state *next_job;
};

/* One per dc_http_serve. The workers run handlers (which may block on the
 * writer or on PostgreSQL); the io threads of libmicrohttpd only move
 * bytes, so a slow or idle client holds a socket, never a thread. */
struct http {
    struct dc_ctx *x;
    pthread_mutex_t lock;
    pthread_cond_t cond;            /* a request is queued, or quit */
    pthread_cond_t drained;         /* in_flight reached 0 */
    struct conn_state *head, *tail; /* requests waiting for a worker */
    unsigned in_flight;             /* dispatched and not yet resumed */
    int quit;
    int closed; /* set under lock before MHD_stop_daemon: nothing more is dispatched */
    pthread_t *workers;
    unsigned n_workers;
    pthread_mutex_t socks_lock;
    struct sock *socks;
    size_t n_socks;
    char body_timeout_answer[512]; /* a whole HTTP answer: 408 DC_ERR_REQUEST_TIMEOUT */
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sock_phase(struct http *h, struct sock *k, enum sock_phase ph)
{
    if (!k) return;
    pthread_mutex_lock(&h->socks_lock);
    k->phase = ph;
    k->since_us = mono_us();
    pthread_mutex_unlock(&h->socks_lock);
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    struct http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct sock *k = calloc(1, sizeof *k);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!k || !ci) {
            free(k);
            return; /* untracked: only the idle timeout applies */
        }
        k->fd = ci->connect_fd;
        k->phase = PH_HEADERS;
        k->since_us = mono_us();
        pthread_mutex_lock(&h->socks_lock);
        k->next = h->socks;
        if (h->socks) h->socks->prev = k;
        h->socks = k;
        h->n_socks++;
        pthread_mutex_unlock(&h->socks_lock);
        *socket_context = k;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        struct sock *k = *socket_context;
        pthread_mutex_lock(&h->socks_lock);
        if (k->prev) {
            k->prev->next = k->next;
        } else {
            h->socks = k->next;
        }
        if (k->next) k->next->prev = k->prev;
        h->n_socks--;
        pthread_mutex_unlock(&h->socks_lock);
        free(k);
        *socket_context = NULL;
    }
}

/* Closes the sockets past their deadline: headers not complete within
 * header_timeout_s of the connection opening (or of the previous answer on
 * a kept-alive one), a body not complete within body_timeout_s of its
 * headers. shutdown() only: libmicrohttpd sees the end of the stream and
 * closes and frees the connection itself. Requests being worked on are
 * never touched. Returns the number closed. */
static size_t sweep_deadlines(struct http *h, int idle_now)
{
    /* idle_now (shutting down): a socket waiting for its next request's
     * headers closes at once, a keep-alive client must not hold us 5 s */
    uint64_t hdr = idle_now ? 0 : (uint64_t)h->x->cfg.header_timeout_s * 1000000u;
    uint64_t body = (uint64_t)h->x->cfg.body_timeout_s * 1000000u;
    size_t n = 0;
    pthread_mutex_lock(&h->socks_lock);
    /* read under the lock: another io thread's sock_phase() stamped before
     * we held it must not be later than `now`, or now - since_us wraps
     * around and a request that just began reading is refused 408 (seen
     * once under heavy load in the fraud simulation) */
    uint64_t now = mono_us();
    for (struct sock *k = h->socks; k; k = k->next) {
        if (k->killed == 2 || k->phase == PH_WORK) continue;
        uint64_t limit = k->phase == PH_HEADERS ? hdr : body;
        if (k->since_us >= now || now - k->since_us <= limit) continue;
        if (k->phase == PH_BODY && !k->killed && !idle_now) {
            /* libmicrohttpd only reads this socket while a body comes in
             * (it would send an early answer only after the whole body),
             * so the refusal is written here, whole, and our side closed
             * for writing; reading stops one deadline later, not now, or
             * the client's next bytes would reset the connection and
             * destroy the answer before it is read */
            (void)!send(k->fd, h->body_timeout_answer, strlen(h->body_timeout_answer),
                        MSG_DONTWAIT | MSG_NOSIGNAL);
            shutdown(k->fd, SHUT_WR);
            k->killed = 1;
            k->since_us = now;
        } else {
            shutdown(k->fd, SHUT_RDWR);
            k->killed = 2;
        }
        n++;
    }
    pthread_mutex_unlock(&h->socks_lock);
    return n;
}

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct conn_state *s = calloc(1, sizeof *s);
    if (s) {
        s->h = cls;
        s->conn = c;
        s->uri = strdup(uri ? uri : "");
        s->t0_us = mono_us();
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        s->sock = ci ? ci->socket_context : NULL;
    }
    return s;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct http *h = cls;
    struct conn_state *s = *con_cls;
    if (!s) return;
    /* the next request on this socket has header_timeout_s from now */
    sock_phase(h, s->sock, PH_HEADERS);
    if (s->resp) MHD_destroy_response(s->resp);
    free(s->uri);
    free(s->body);
    free(s);
    *con_cls = NULL;
}

/* libmicrohttpd's own messages, in our log format (MHD_USE_ERROR_LOG). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    dc_log(DC_LOG_DEBUG, "http: %s", msg); /* client misbehaviour: no flood at info */
}

static const char *get_header(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static const char *get_query(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- Rendering --------------------------------------------------------- */

/* A response with our headers; NULL when out of memory. Thread-safe (no
 * daemon involved), so workers build responses the io thread queues. */
static struct MHD_Response *make_resp(const char *body, const char *ctype, const char *cache,
                                      const char *allow, const char *const *headers,
                                      int close_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r) return NULL;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", cache ? cache : "no-store");
    /* lets a client whose clock is off sign its next request right */
    char now[24];
    snprintf(now, sizeof now, "%llu", (unsigned long long)dc_wall_now());
    MHD_add_response_header(r, "X-Ducat-Time", now);
    if (allow) MHD_add_response_header(r, "Allow", allow); /* a 405 says what would do */
    for (size_t i = 0; headers && headers[i]; i += 2) {
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    }
    if (close_after) MHD_add_response_header(r, "Connection", "close");
    return r;
}

/* ---- Authentication ---------------------------------------------------- */

static enum dc_err hex_header(struct dc_req *rq, const char *name, uint8_t *out, size_t n)
{
    const char *v = rq->header(rq->conn, name);
    if (!v || dc_hex_decode(out, n, v, strlen(v)) != DC_OK) {
        snprintf(rq->detail, sizeof rq->detail, "header %s missing or not %zu hex bytes", name, n);
        return DC_ERR_AUTH_MISSING;
    }
    return DC_OK;
}

/* *would_block (may be NULL: then it may block) is set, and nothing done,
 * when the key's account is not in the cache and only a database read can
 * tell: the caller, an io thread, hands the request to a worker instead. */
static enum dc_err auth_device(struct dc_req *rq, int need_account, int *would_block)
{
    uint8_t nonce[DC_NONCE_BYTES], sig[DC_SIG_BYTES];
    enum dc_err e = hex_header(rq, "X-Ducat-Key", rq->device, DC_PUBKEY_BYTES);
    if (e == DC_OK) e = hex_header(rq, "X-Ducat-Nonce", nonce, DC_NONCE_BYTES);
    if (e == DC_OK) e = hex_header(rq, "X-Ducat-Signature", sig, DC_SIG_BYTES);
    if (e != DC_OK) return e;
    if (need_account && would_block) {
        /* before the signature check, so the worker does not check it twice */
        rq->account.id = dc_nonces_device_account(rq->x->nonces, rq->device);
        if (!rq->account.id) {
            *would_block = 1;
            return DC_OK;
        }
    }
    const char *tv = rq->header(rq->conn, "X-Ducat-Time");
    char *end = NULL;
    unsigned long long t = tv ? strtoull(tv, &end, 10) : 0;
    if (!tv || !*tv || *end || tv[0] == '-' || tv[0] == '+') {
        snprintf(rq->detail, sizeof rq->detail, "header X-Ducat-Time missing or not decimal ms");
        return DC_ERR_AUTH_MISSING;
    }
    uint64_t skew = (uint64_t)rq->x->cfg.clock_skew_s * 1000u, wall = dc_wall_now();
    if (t + skew < wall || t > wall + skew) {
        snprintf(rq->detail, sizeof rq->detail, "request time %llu, server time %llu", t,
                 (unsigned long long)wall);
        return DC_ERR_AUTH_STALE;
    }
    /* Seen nonces live in memory: a request signed before this process
     * started may have been seen by the one before it (a replay after a
     * restart). Such requests are refused; the client signs again with a
     * fresh time (dc_client does so by itself, using X-Ducat-Time). */
    if (t < rq->x->started_ms) {
        snprintf(rq->detail, sizeof rq->detail,
                 "request time %llu is before this server started (%llu): sign it again", t,
                 (unsigned long long)rq->x->started_ms);
        return DC_ERR_AUTH_STALE;
    }
    if (dc_auth_check(sig, rq->device, rq->method, rq->target, rq->body, rq->body_len, t, nonce) !=
        DC_OK) {
        return DC_ERR_AUTH_SIGNATURE;
    }
    if (need_account) {
        /* before the nonce: a key with no account keeps no entry in the
         * table (anyone can make keys and sign with them). Only the id is
         * known when it comes from the cache (rq->account's contract in
         * http.h): handlers read what else they need */
        if (!rq->account.id) rq->account.id = dc_nonces_device_account(rq->x->nonces, rq->device);
        if (!rq->account.id) {
            struct dc_store *st;
            e = dc_pool_get(rq->x, &st);
            if (e != DC_OK) return e;
            e = st->ops->account_get(st, &rq->account, DC_BY_DEVICE, 0, rq->device);
            dc_pool_put(rq->x, st);
            if (e != DC_OK) return e == DC_ERR_NO_ACCOUNT ? DC_ERR_AUTH_UNKNOWN : e;
            dc_nonces_device_remember(rq->x->nonces, rq->device, rq->account.id);
        }
    }
    /* only a valid signature may consume a nonce, or anyone could burn them */
    if (!dc_nonce_fresh(rq->x->nonces, rq->device, nonce, wall, t + 2 * skew)) {
        return DC_ERR_AUTH_REPLAY;
    }
    return DC_OK;
}

/* The bootstrap token signs in as "admin" with the admin role; any other
 * credential is looked up in the operators' registry (operators.h), read on
 * a pooled connection so that an operator added or removed by the command
 * line counts at once. Fills rq->operator_name, _role and _expires; an
 * expired credential is DC_ERR_ADMIN_EXPIRED (with the name, for the log).
 * Hashes only are compared, in constant time. */
static enum dc_err auth_admin(struct dc_req *rq)
{
    const char *v = rq->header(rq->conn, "Authorization");
    if (!v || strncmp(v, "Bearer ", 7) != 0 || !v[7]) return DC_ERR_ADMIN_AUTH;
    uint8_t h[32];
    crypto_generichash(h, sizeof h, (const uint8_t *)v + 7, strlen(v + 7), NULL, 0);
    enum dc_err e = DC_ERR_ADMIN_AUTH;
    if (rq->x->has_admin && sodium_memcmp(h, rq->x->admin_hash, sizeof h) == 0) {
        snprintf(rq->operator_name, sizeof rq->operator_name, "%s", DC_OPERATOR_BOOTSTRAP);
        rq->operator_role = DC_ROLE_ADMIN;
        rq->operator_expires = 0;
        e = DC_OK;
    } else {
        struct dc_store *st;
        e = dc_pool_get(rq->x, &st);
        if (e == DC_OK) {
            struct dc_operator op;
            memset(&op, 0, sizeof op);
            e = dc_operators_find(st, h, rq->now, &op);
            dc_pool_put(rq->x, st);
            if (e == DC_OK || e == DC_ERR_ADMIN_EXPIRED) {
                snprintf(rq->operator_name, sizeof rq->operator_name, "%s", op.name);
                rq->operator_role = e == DC_OK ? op.role : DC_ROLE_NONE;
                rq->operator_expires = op.expires_at;
            }
            if (e == DC_ERR_NOT_FOUND) e = DC_ERR_ADMIN_AUTH;
        }
    }
    sodium_memzero(h, sizeof h);
    return e;
}

/* ---- Routing ----------------------------------------------------------- */

/* Matches path against a pattern with at most one {id} (a positive integer). */
static int route_match(const char *pattern, const char *path, int64_t *id)
{
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            char *end;
            if (*path < '1' || *path > '9') return 0;
            long long v = strtoll(path, &end, 10);
            if (v <= 0 || end == path) return 0;
            *id = v;
            path = end;
            pattern += 4;
            continue;
        }
        if (*pattern != *path) return 0;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

/* With console = 0, the console's routes (DC_R_CONSOLE) are not there:
 * their paths answer 404 like any unknown path. */
static const struct dc_route *find_route(const char *method, const char *path, int console,
                                         int64_t *id, int *path_known, size_t *index)
{
    *path_known = 0;
    for (size_t i = 0; i < dc_routes_n; i++) {
        int64_t v = 0;
        if ((dc_routes[i].flags & DC_R_CONSOLE) && !console) continue;
        if (!route_match(dc_routes[i].path, path, &v)) continue;
        *path_known = 1;
        if (strcmp(dc_routes[i].method, method) == 0) {
            *id = v;
            *index = i;
            return &dc_routes[i];
        }
    }
    return NULL;
}

/* The methods the route table has for a path, "GET, POST" (RFC 9110: a
 * 405 answer lists them in Allow). */
static void allow_of(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < dc_routes_n; i++) {
        int64_t v = 0;
        if (!route_match(dc_routes[i].path, path, &v)) continue;
        int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", dc_routes[i].method);
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
}

/* Most query parameters any route reads is 2; a request with hundreds is
 * refused before a handler walks them. */
#define MAX_QUERY_ARGS 16
/* Request line and headers together: a signed request needs ~600 bytes.
 * libmicrohttpd's pool (CONN_MEMORY) must hold more than this, or it
 * answers for us (an HTML 431, or nothing at all for many parameters).
 * The pool is per connection and the library zeroes all of it after every
 * request (MHD_pool_reset), so its size is CPU per request and resident
 * memory per kept-alive socket: 32 KB, not 64 (a 64 KB pool also came
 * from its own mmap per connection, a smaller one from malloc). */
#define MAX_HEADER_BYTES (16u * 1024u)
#define CONN_MEMORY (32u * 1024u)

/* Framing that libmicrohttpd 0.9.75 passes on but RFC 9112 says a server
 * must refuse or may refuse (we do): an HTTP/1.1 request without exactly
 * one Host (section 3.2), Content-Length more than once, or beside
 * Transfer-Encoding, or a Transfer-Encoding other than chunked (6.1-6.3).
 * The library reads the first Content-Length and ignores it beside
 * chunked; a proxy in front that frames the body by another of them would
 * let a client smuggle a second request past it. */
struct framing {
    unsigned host, length, encoding;
    int encoding_not_chunked;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct framing *f = cls;
    if (strcasecmp(key, "Host") == 0) f->host++;
    if (strcasecmp(key, "Content-Length") == 0) f->length++;
    if (strcasecmp(key, "Transfer-Encoding") == 0) {
        f->encoding++;
        if (!value || strcasecmp(value, "chunked") != 0) f->encoding_not_chunked = 1;
    }
    return MHD_YES;
}

/* NULL if the framing headers are sound, else what is wrong (the detail). */
static const char *framing_problem(struct MHD_Connection *conn, const char *version)
{
    struct framing f = {0, 0, 0, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.host > 1) return "more than one Host header";
    if (f.host == 0 && version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0) {
        return "HTTP/1.1 request without a Host header";
    }
    if (f.length > 1) return "more than one Content-Length header";
    if (f.encoding && f.length) return "both Content-Length and Transfer-Encoding";
    if (f.encoding > 1 || f.encoding_not_chunked) {
        return "Transfer-Encoding other than a single 'chunked'";
    }
    return NULL;
}

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)key;
    (void)value;
    (*(unsigned *)cls)++;
    return MHD_YES;
}

/* A request on its way through: what prepare() made of it and what the
 * handler answers. On the stack of the thread that runs it whole, or on the
 * heap while the writer runs its handler (DC_R_WRITER). */
struct work {
    struct dc_req rq;
    struct dc_resp rs;
    json_t *parsed; /* rq.json, owned */
    enum dc_err e;  /* the handler's result */
    struct conn_state *s;
    struct dc_writer_job job;
    /* on a worker: how a handler leaves its answer to the writer */
    struct dc_deferral deferral;
};

/* Checks everything before the handler: early refusals, route, body size,
 * query parameters, authentication, the JSON body. Fills w->rq; returns
 * the refusal or DC_OK. With would_block non-NULL (an io thread) it sets
 * *would_block instead of reading the database (a key not in the cache);
 * nothing is consumed then and the request goes to a worker. */
static enum dc_err prepare(struct conn_state *s, struct work *w, enum dc_err early,
                           int *would_block)
{
    struct dc_ctx *x = s->h->x;
    struct MHD_Connection *conn = s->conn;
    const char *method = s->method, *url = s->url;
    const struct dc_route *rt = s->rt;
    memset(w, 0, sizeof *w);
    w->s = s;
    struct dc_req *rq = &w->rq;
    rq->x = x;
    rq->method = method;
    rq->path = url;
    rq->target = s->uri ? s->uri : url;
    rq->body = s->body ? s->body : (const uint8_t *)"";
    rq->body_len = s->len;
    rq->now = dc_now(x);
    rq->path_id = s->id;
    rq->header = get_header;
    rq->query = get_query;
    rq->conn = conn;
    w->rs.status = 200;

    enum dc_err e = early;
    unsigned n_args = 0;
    if (e != DC_OK) {
        if (e == DC_ERR_HEADERS_TOO_LARGE) {
            snprintf(rq->detail, sizeof rq->detail, "limit %u bytes", MAX_HEADER_BYTES);
        } else if (s->early_detail) {
            snprintf(rq->detail, sizeof rq->detail, "%s", s->early_detail);
        }
    } else if (s->late) {
        e = DC_ERR_SHUTTING_DOWN;
    } else if (!rt) {
        e = s->path_known ? DC_ERR_METHOD : DC_ERR_NOT_FOUND;
        if (!s->path_known) snprintf(rq->detail, sizeof rq->detail, "%s %s", method, url);
    } else if (s->too_large) {
        snprintf(rq->detail, sizeof rq->detail, "limit %zu bytes", s->limit);
        e = DC_ERR_BODY_TOO_LARGE;
    } else if (MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_arg, &n_args),
               n_args > MAX_QUERY_ARGS) {
        snprintf(rq->detail, sizeof rq->detail, "%u query parameters, at most %u", n_args,
                 (unsigned)MAX_QUERY_ARGS);
        e = DC_ERR_FIELD;
    } else if (rt->flags & DC_R_ADMIN) {
        e = auth_admin(rq);
        /* the route table names the least role (struct dc_route.role) */
        enum dc_role need = rt->role != DC_ROLE_NONE ? rt->role : DC_ROLE_ADMIN;
        if (e == DC_OK && rq->operator_role < need) {
            snprintf(rq->detail, sizeof rq->detail, "operator '%s' has the role %s; %s %s needs %s",
                     rq->operator_name, dc_role_name(rq->operator_role), method, rt->path,
                     dc_role_name(need));
            e = DC_ERR_ADMIN_ROLE;
        }
    } else if (rt->flags & (DC_R_DEVICE | DC_R_SELF_SIGNED)) {
        e = auth_device(rq, (rt->flags & DC_R_DEVICE) != 0, would_block);
        if (would_block && *would_block) return DC_OK;
    }
    if (e == DC_ERR_AUTH_MISSING || e == DC_ERR_AUTH_SIGNATURE || e == DC_ERR_AUTH_STALE ||
        e == DC_ERR_AUTH_REPLAY || e == DC_ERR_AUTH_UNKNOWN || e == DC_ERR_ADMIN_AUTH ||
        e == DC_ERR_ADMIN_EXPIRED) {
        dc_metrics_add(x->metrics, DC_M_AUTH_FAILURES, 1);
    }
    if (e == DC_ERR_ADMIN_AUTH) {
        /* the path only: the presented token is never logged */
        DC_LOG_EVENT(DC_LOG_WARN, "admin_auth_refused", DC_KV_S("method", method),
                     DC_KV_S("path", url));
    } else if (e == DC_ERR_ADMIN_EXPIRED || e == DC_ERR_ADMIN_ROLE) {
        if (e == DC_ERR_ADMIN_EXPIRED) {
            snprintf(rq->detail, sizeof rq->detail,
                     "the credential of operator '%s' has expired; ask an admin for a new one",
                     rq->operator_name);
        }
        DC_LOG_EVENT(DC_LOG_WARN,
                     e == DC_ERR_ADMIN_EXPIRED ? "admin_auth_expired" : "admin_role_refused",
                     DC_KV_S("operator", rq->operator_name), DC_KV_S("method", method),
                     DC_KV_S("path", url));
    }
    if (e == DC_OK && strcmp(method, "POST") == 0) {
        json_error_t je;
        w->parsed = json_loadb((const char *)rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);
        if (!w->parsed || !json_is_object(w->parsed)) {
            snprintf(rq->detail, sizeof rq->detail, "%s",
                     w->parsed ? "the body must be a JSON object" : je.text);
            e = DC_ERR_JSON;
        }
        rq->json = w->parsed;
    }
    return e;
}

/* Renders the handler's answer or the error e into s->resp and s->status,
 * counts the request, and releases what w holds. */
static void finish(struct work *w, enum dc_err e, enum dc_err early)
{
    struct conn_state *s = w->s;
    struct dc_ctx *x = s->h->x;
    const char *method = s->method, *url = s->url;
    const struct dc_route *rt = s->rt;
    struct dc_req *rq = &w->rq;
    struct dc_resp *rs = &w->rs;
    json_decref(w->parsed);
    w->parsed = NULL;
    rq->json = NULL;
    char *body = NULL;
    const char *ctype = "application/json";
    int status;
    if (e != DC_OK) {
        json_decref(rs->json);
        free(rs->text);
        rs->json = NULL;
        rs->text = NULL;
        status = dc_err_http_status(e);
        body = dc_error_text(e, rq->detail);
        if (e == DC_ERR_STORE_FULL) {
            /* nothing was written; an operator must free space: count it
             * apart (ducat_store_full_total) so it can be alerted on */
            dc_metrics_add(x->metrics, DC_M_STORE_FULL, 1);
        }
        if (status >= 500) {
            dc_log(DC_LOG_ERROR, "%s %s: %s %s", method, url, dc_err_name(e), rq->detail);
        } else {
            dc_log(DC_LOG_DEBUG, "%s %s: %s %s", method, url, dc_err_name(e), rq->detail);
        }
    } else {
        status = rs->status;
        if (rs->text) {
            body = rs->text;
            rs->text = NULL;
            if (rs->content_type) ctype = rs->content_type;
        } else {
            body = rs->json ? json_dumps(rs->json, JSON_COMPACT) : strdup("{}");
        }
        json_decref(rs->json);
    }
    char allow[64];
    if (e == DC_ERR_METHOD) allow_of(url, allow, sizeof allow);
    s->resp = make_resp(body ? body : "{\"code\":1003}", ctype, rs->cache_control,
                        e == DC_ERR_METHOD ? allow : NULL, e == DC_OK ? rs->headers : NULL,
                        atomic_load(&x->stopping) || early != DC_OK);
    s->status = (unsigned)status;
    free(body);
    dc_metrics_request(x->metrics, rt ? s->index : DC_METRICS_ROUTES - 1, status,
                       mono_us() - s->t0_us);
    for (size_t i = 0; e == DC_OK && i < rq->n_counts; i++) {
        dc_metrics_add(x->metrics, (enum dc_counter)rq->counts[i].counter, rq->counts[i].n);
    }
    rq->n_counts = 0;
}

static void resume(struct conn_state *s);

/* dc_deferral's finish: on the writer thread, after the handler's tail. */
static void deferred_finish(struct dc_deferral *d, enum dc_err e)
{
    struct work *w = (struct work *)((char *)d - offsetof(struct work, deferral));
    struct conn_state *s = w->s;
    finish(w, e, DC_OK);
    free(w);
    resume(s);
}

/* Authenticates, runs the handler and renders: fills s->resp and s->status.
 * Runs on a worker (may block on the writer or a read connection) or, for
 * routes flagged DC_R_INLINE and early refusals, on the io thread. Returns
 * 1 when the handler left its answer to the writer (on_worker only): the
 * writer then renders it and resumes the connection. */
static int process(struct conn_state *s, enum dc_err early, int on_worker)
{
    /* on the heap on a worker, so a handler may leave its answer to the
     * writer (dc_idempotent_then); on the stack when memory is short */
    struct work *hw = on_worker ? malloc(sizeof *hw) : NULL, sw = {0};
    struct work *w = hw ? hw : &sw; /* prepare() clears either */
    int deferred = 0;
    enum dc_err e = prepare(s, w, early, NULL);
    const char *method = s->method;
    const struct dc_route *rt = s->rt;
    struct dc_req *rq = &w->rq;
    struct dc_resp *rs = &w->rs;
    if (hw) {
        hw->deferral = (struct dc_deferral){&deferred, deferred_finish};
        rq->deferral = &hw->deferral;
    }
    if (e == DC_OK) {
        e = rt->fn(rq, rs);
        /* deferred: w belongs to the writer now and may be gone already */
        if (deferred) return 1;
        if (e == DC_ERR_STORE_RETRY && strcmp(method, "GET") == 0) {
            /* The handler's read lost its database connection in the
             * middle (PostgreSQL restarted, its server process was
             * terminated, a failover): a GET changes nothing, so it runs
             * once more, on a fresh connection, instead of answering 503.
             * Only the handler: authentication has passed (its nonce is
             * spent). Writes are retried by the writer. */
            json_decref(rs->json);
            free(rs->text);
            memset(rs, 0, sizeof *rs);
            rs->status = 200;
            rq->detail[0] = '\0';
            e = rt->fn(rq, rs);
        }
    }
    finish(w, e, early);
    free(hw);
    return 0;
}

static enum MHD_Result queue_made(struct conn_state *s)
{
    if (!s->resp) return MHD_NO; /* out of memory: close */
    enum MHD_Result ret = MHD_queue_response(s->conn, s->status, s->resp);
    MHD_destroy_response(s->resp);
    s->resp = NULL;
    return ret;
}

/* Hands a suspended connection back to its io thread with s->resp made. */
static void resume(struct conn_state *s)
{
    struct http *h = s->h;
    pthread_mutex_lock(&h->lock);
    h->in_flight--;
    /* under the lock: the drain at shutdown waits for in_flight == 0
     * before it stops the daemon, and a resumed connection is back in
     * MHD's hands once this returns. Only the drain is woken (its own
     * condition): waking the idle workers here cost ~40 context
     * switches per request with 256 of them. */
    MHD_resume_connection(s->conn);
    if (h->in_flight == 0) pthread_cond_broadcast(&h->drained);
    pthread_mutex_unlock(&h->lock);
}

/* ---- Handlers run on the writer (DC_R_WRITER) -------------------------- */
/*
 * A route whose handler only parses its body and runs one idempotent store
 * job (a transfer) costs four thread hand-offs the worker way: io thread ->
 * worker -> writer -> worker -> io thread, each a futex or eventfd wake-up
 * and a context switch (~35% of ducatd's CPU in perf, kernel time). Here the
 * io thread authenticates and parses, the writer runs the whole handler as
 * its job (the handler's dc_writer_run runs inline, writer.h), renders the
 * answer once the batch is durable and resumes the connection: two
 * hand-offs, and the one to the writer is free while it is busy committing
 * (the job joins the next batch without a wake-up). A key whose account is
 * not cached yet still goes the worker way (its database read must not
 * stall an io thread).
 */
static enum dc_err writer_handler(struct dc_store *st, void *ctx)
{
    (void)st; /* the handler reaches the store through its own dc_writer_run */
    struct work *w = ctx;
    /* a retried batch runs this again: start from a clean answer */
    json_decref(w->rs.json);
    free(w->rs.text);
    memset(&w->rs, 0, sizeof w->rs);
    w->rs.status = 200;
    w->rq.detail[0] = '\0';
    w->rq.n_counts = 0;
    w->rq.replayed = 0;
    w->e = w->s->rt->fn(&w->rq, &w->rs);
    return w->e;
}

static void writer_done(struct dc_writer_job *j)
{
    struct work *w = (struct work *)((char *)j - offsetof(struct work, job));
    struct conn_state *s = w->s;
    /* j->result is the store work's (writer.h): a commit or store error
     * wins over what the handler answered, which was never made durable;
     * a refusal the store work kept leaves j->result DC_OK */
    finish(w, j->result != DC_OK ? j->result : w->e, DC_OK);
    free(w);
    resume(s);
}

enum to_writer_result { TW_WORKER, TW_ANSWERED, TW_QUEUED };

/* On an io thread, for a DC_R_WRITER route. TW_ANSWERED: refused before
 * its handler, s->resp is made; TW_QUEUED: the connection is suspended and
 * the writer has the request; TW_WORKER: nothing was done or consumed (a key
 * whose account only the database knows, or no memory): a worker runs it. */
static enum to_writer_result to_writer(struct http *h, struct conn_state *s)
{
    struct work *w = malloc(sizeof *w);
    if (!w) return TW_WORKER;
    int would_block = 0;
    enum dc_err e = prepare(s, w, DC_OK, &would_block);
    if (would_block) {
        free(w); /* prepare stops before parsing the body: nothing held */
        return TW_WORKER;
    }
    if (e == DC_OK) {
        pthread_mutex_lock(&h->lock);
        if (h->closed) {
            e = DC_ERR_SHUTTING_DOWN; /* as in on_request: no suspension now */
        } else {
            s->dispatched = 1;
            MHD_suspend_connection(s->conn);
            h->in_flight++;
        }
        pthread_mutex_unlock(&h->lock);
    }
    if (e != DC_OK) {
        finish(w, e, DC_OK);
        free(w);
        return TW_ANSWERED;
    }
    w->job.fn = writer_handler;
    w->job.ctx = w;
    w->job.done = writer_done;
    if (dc_writer_submit(h->x->writer, &w->job) != DC_OK) {
        finish(w, DC_ERR_SHUTTING_DOWN, DC_OK);
        free(w);
        resume(s);
    }
    /* from here on s belongs to the writer until it resumes the connection */
    return TW_QUEUED;
}

static void *worker_main(void *arg)
{
    struct http *h = arg;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->head && !h->quit) pthread_cond_wait(&h->cond, &h->lock);
        if (!h->head) break; /* quit and nothing left */
        struct conn_state *s = h->head;
        h->head = s->next_job;
        if (!h->head) h->tail = NULL;
        pthread_mutex_unlock(&h->lock);
        if (!process(s, DC_OK, 1)) resume(s);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct http *h = cls;
    struct dc_ctx *x = h->x;
    struct conn_state *s = *con_cls;
    if (!s) return MHD_NO;
    if (s->resp) return queue_made(s); /* back from a worker, or an early refusal */
    if (!s->started) {
        s->started = 1;
        s->conn = conn;
        s->method = method;
        s->url = url;
        s->index = DC_METRICS_ROUTES - 1;
        s->rt = find_route(method, url, x->cfg.console, &s->id, &s->path_known, &s->index);
        s->late = atomic_load(&x->stopping); /* arrived after shutdown began: refused */
        s->limit = s->rt && s->rt->max_body ? s->rt->max_body : x->cfg.max_body;
        sock_phase(h, s->sock, PH_BODY);
        const union MHD_ConnectionInfo *hs =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        if (hs && hs->header_size > MAX_HEADER_BYTES) {
            process(s, DC_ERR_HEADERS_TOO_LARGE, 0); /* answered now; MHD closes after it */
            return queue_made(s);
        }
        s->early_detail = framing_problem(conn, version);
        if (s->early_detail) {
            /* answered before any body is read, and the connection closed:
             * where this request's body ends is exactly what is unclear */
            process(s, DC_ERR_HTTP_FRAMING, 0);
            return queue_made(s);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!s->too_large && s->len + *upload_size > s->limit) {
            s->too_large = 1;
        }
        if (!s->too_large) {
            if (s->len + *upload_size > s->cap) {
                size_t cap = s->cap ? s->cap : 1024;
                while (cap < s->len + *upload_size) cap *= 2;
                uint8_t *p = realloc(s->body, cap);
                if (!p) return MHD_NO;
                s->body = p;
                s->cap = cap;
            }
            memcpy(s->body + s->len, upload_data, *upload_size);
            s->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (s->dispatched) return MHD_YES; /* spurious call while a worker has it */
    sock_phase(h, s->sock, PH_WORK);
    if (!s->rt || (s->rt->flags & DC_R_INLINE) || s->late || s->too_large) {
        /* nothing here blocks: answered on the io thread, no hand-off */
        process(s, DC_OK, 0);
        return queue_made(s);
    }
    if (s->rt->flags & DC_R_WRITER) {
        enum to_writer_result r = to_writer(h, s);
        if (r == TW_ANSWERED) return queue_made(s);
        if (r == TW_QUEUED) return MHD_YES;
    }
    pthread_mutex_lock(&h->lock);
    if (h->closed) {
        /* the final drain has begun: a connection suspended now would be
         * left suspended for MHD_stop_daemon (which panics on it), so the
         * request is refused here like any that arrived after shutdown */
        pthread_mutex_unlock(&h->lock);
        s->late = 1;
        process(s, DC_OK, 0);
        return queue_made(s);
    }
    s->dispatched = 1;
    MHD_suspend_connection(conn);
    s->next_job = NULL;
    if (h->tail) {
        h->tail->next_job = s;
    } else {
        h->head = s;
    }
    h->tail = s;
    h->in_flight++;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
    return MHD_YES;
}

/* ---- Server loop ------------------------------------------------------- */

static enum dc_err parse_listen(const char *listen, char *host, size_t hcap, uint16_t *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= hcap) return DC_ERR_CONFIG;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || colon[1] == '\0') return DC_ERR_CONFIG;
    *port = (uint16_t)p;
    return DC_OK;
}

static void stop_workers(struct http *h)
{
    pthread_mutex_lock(&h->lock);
    h->quit = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    for (unsigned i = 0; i < h->n_workers; i++) pthread_join(h->workers[i], NULL);
    free(h->workers);
    h->workers = NULL;
    h->n_workers = 0;
}

/* Descriptors besides client sockets: the store (SQLite files, or one
 * PostgreSQL connection per worker plus the writer), logs, the listener. */
#define FD_RESERVE 64u

/* Raises RLIMIT_NOFILE so `want` sockets fit; if the hard limit is lower,
 * returns the connection limit that fits (and says so). */
static unsigned fit_fd_limit(unsigned want, unsigned workers)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)want + workers + FD_RESERVE;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return want;
    if (rl.rlim_cur < need) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    if (rl.rlim_cur >= need) return want;
    rlim_t fit = rl.rlim_cur > workers + FD_RESERVE + 16 ? rl.rlim_cur - workers - FD_RESERVE : 16;
    dc_log(DC_LOG_WARN,
           "open-file limit %llu (hard %llu) is below max_connections %u + %u: serving at most "
           "%llu connections (raise LimitNOFILE / ulimit -n)",
           (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, want,
           workers + FD_RESERVE, (unsigned long long)fit);
    return (unsigned)fit;
}

enum dc_err dc_http_serve(struct dc_ctx *x, const char *listen, const char *port_file,
                          volatile sig_atomic_t *stop)
{
    char host[96];
    uint16_t port;
    if (parse_listen(listen, host, sizeof host, &port) != DC_OK) {
        dc_log(DC_LOG_ERROR, "listen address '%s': expected HOST:PORT such as 127.0.0.1:8080",
               listen);
        return DC_ERR_CONFIG;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        dc_log(DC_LOG_ERROR, "listen address '%s': '%s' is not an IPv4 address", listen, host);
        return DC_ERR_CONFIG;
    }
    unsigned max_conn = fit_fd_limit(x->cfg.max_connections, x->cfg.threads);
    static struct http h; /* one server per process; pointers into it outlive no call */
    memset(&h, 0, sizeof h);
    h.x = x;
    pthread_mutex_init(&h.lock, NULL);
    pthread_cond_init(&h.cond, NULL);
    pthread_cond_init(&h.drained, NULL);
    pthread_mutex_init(&h.socks_lock, NULL);
    char *tb = dc_error_text(DC_ERR_REQUEST_TIMEOUT, "body not complete in time");
    if (tb) {
        snprintf(h.body_timeout_answer, sizeof h.body_timeout_answer,
                 "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nCache-Control: no-store\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 strlen(tb), tb);
        free(tb);
    }
    x->nonces = dc_nonces_new();
    h.workers = calloc(x->cfg.threads, sizeof *h.workers);
    if (!x->nonces || !h.workers) {
        dc_nonces_free(x->nonces);
        x->nonces = NULL;
        free(h.workers);
        return DC_ERR_NO_MEMORY;
    }
    for (; h.n_workers < x->cfg.threads; h.n_workers++) {
        if (pthread_create(&h.workers[h.n_workers], NULL, worker_main, &h) != 0) break;
    }
    for (size_t i = 0; i < dc_routes_n && i < DC_METRICS_ROUTES - 1; i++) {
        dc_metrics_set_route_name(x->metrics, i, dc_routes[i].name);
    }
    dc_metrics_set_route_name(x->metrics, DC_METRICS_ROUTES - 1, "unmatched");
    /* epoll loops in a small fixed pool of io threads: a socket costs a
     * few KB, not a thread; handlers run on the workers (worker_main) with
     * the connection suspended, so a request waiting for its commit holds
     * nobody else up. */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
            MHD_USE_ERROR_LOG,
        port, NULL, NULL, on_request, &h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, uri_logger, &h,
        MHD_OPTION_NOTIFY_COMPLETED, completed, &h, MHD_OPTION_NOTIFY_CONNECTION, notify_conn, &h,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_THREAD_POOL_SIZE,
        x->cfg.io_threads, MHD_OPTION_CONNECTION_LIMIT, max_conn,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, x->cfg.per_ip_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, x->cfg.idle_timeout_s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_END);
    if (!d) {
        dc_log(DC_LOG_ERROR, "cannot listen on %s (address in use or not allowed?)", listen);
        stop_workers(&h);
        dc_nonces_free(x->nonces);
        x->nonces = NULL;
        return DC_ERR_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned actual = info ? info->port : port;
    char shown[DC_PATH_MAX * 2];
    dc_store_redact(shown, sizeof shown, x->cfg.store); /* never log a password */
    dc_log(DC_LOG_INFO, "serving on http://%s:%u (store %s)", host, actual, shown);
    if (port_file && *port_file) {
        char tmp[DC_PATH_MAX + 8];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", actual) < 0 || fclose(f) != 0 || rename(tmp, port_file)) {
            dc_log(DC_LOG_ERROR, "cannot write port file '%s'", port_file);
        }
    }
    uint64_t next_release = 0, next_trust = dc_wall_now() + x->cfg.trust_reload_s * 1000ull;
    while (!*stop) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        size_t swept = sweep_deadlines(&h, 0);
        if (swept)
            dc_log(DC_LOG_DEBUG, "closed %zu sockets past their header/body deadline", swept);
        int hup = x->reload_req && *x->reload_req;
        if (hup || dc_wall_now() >= next_trust) {
            if (hup) {
                *x->reload_req = 0;
                /* first, so the lines below already land in the new file */
                char err[512];
                if (dc_log_reopen(err, sizeof err) != DC_OK) {
                    dc_log(DC_LOG_ERROR, "SIGHUP: %s; logging on to the old file", err);
                }
            }
            size_t n_keys = 0;
            enum dc_err e = dc_ctx_refresh(x, &n_keys);
            if (e != DC_OK) {
                dc_log(DC_LOG_WARN, "reloading signing keys: %s", dc_err_str(e));
            } else if (hup) {
                dc_log(DC_LOG_INFO, "SIGHUP: reloaded %zu signing keys and their revocations",
                       n_keys);
            }
            /* a calendar `ducatd calendar load` put in the store since */
            struct dc_store *cst;
            int changed = 0;
            char cerr[256] = "";
            e = dc_pool_get(x, &cst);
            if (e == DC_OK) {
                e = dc_ctx_reload_calendar(x, cst, &changed, cerr, sizeof cerr);
                dc_pool_put(x, cst);
            }
            if (e != DC_OK) {
                dc_log(DC_LOG_ERROR, "reloading the calendar: %s", cerr[0] ? cerr : dc_err_str(e));
            } else if (changed) {
                dc_ctx_calendar_check(x, hup ? "SIGHUP" : "reload");
            }
            next_trust = dc_wall_now() + x->cfg.trust_reload_s * 1000ull;
        }
        uint64_t now = dc_now(x);
        if (now >= next_release) {
            /* the hold-release timer: due credits become available */
            struct dc_release_arg r = {now, 0, "timer"};
            enum dc_err e = dc_writer_run(x->writer, dc_release_job, &r);
            if (e != DC_OK) dc_log(DC_LOG_WARN, "hold release: %s", dc_err_str(e));
            if (r.released) {
                DC_LOG_EVENT(DC_LOG_INFO, "release_run", DC_KV_N("released", r.released),
                             DC_KV_S("via", "timer"));
                dc_metrics_add(x->metrics, DC_M_HOLDS_RELEASED, r.released);
            }
            next_release = now + (uint64_t)x->cfg.release_interval_s * 1000u;
        }
    }
    dc_log(DC_LOG_INFO, "shutting down: finishing in-flight requests");
    atomic_store(&x->stopping, 1); /* answers close their connections; new requests get 503 */
    MHD_quiesce_daemon(d);
    /* Every dispatched request is answered first: its job is in the
     * writer, which keeps running until we return, so this ends; a
     * suspended connection must not be left for MHD_stop_daemon. */
    pthread_mutex_lock(&h.lock);
    while (h.in_flight) pthread_cond_wait(&h.drained, &h.lock);
    pthread_mutex_unlock(&h.lock);
    /* let answers go out and idle keep-alive sockets close (up to 5 s) */
    for (int i = 0; i < 500; i++) {
        const union MHD_DaemonInfo *ci =
            MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!ci || ci->num_connections == 0) break;
        pthread_mutex_lock(&h.lock);
        while (h.in_flight) pthread_cond_wait(&h.drained, &h.lock);
        pthread_mutex_unlock(&h.lock);
        sweep_deadlines(&h, 1);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* a request that came in meanwhile was refused 503 on the io thread;
     * one already being read is refused too once closed is set */
    pthread_mutex_lock(&h.lock);
    h.closed = 1;
    while (h.in_flight) pthread_cond_wait(&h.drained, &h.lock);
    pthread_mutex_unlock(&h.lock);
    MHD_stop_daemon(d);
    stop_workers(&h);
    dc_nonces_free(x->nonces);
    x->nonces = NULL;
    return DC_OK;
}
