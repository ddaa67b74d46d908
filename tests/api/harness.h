/*
 * harness.h - a small library for API tests: runs ducatd instances, signs
 * and sends requests, and wraps the core coin API for deposit tests.
 *
 * Usage. A test file includes "test.h" FIRST, then "harness.h" (harness.h
 * hooks its failures into test.h's longjmp, see "Failures" below):
 *
 *     static void test_transfer(void)
 *     {
 *         struct srv s;
 *         struct dev a, b;
 *         srv_init(&s, "--auto-verify");
 *         srv_start(&s);
 *         dev_setup(&s, &a, "Alice", 5000);
 *         dev_setup(&s, &b, "Bob", 0);
 *         json_t *j;
 *         int st = apif(&s, &a, "POST", "/v1/transfers", &j,
 *                       "{\"request_id\":\"r1\",\"to\":%lld,\"amount\":500}", b.account);
 *         ASSERT_EQ(st, 201);
 *         ASSERT_EQ(json_int(j, "available"), 4500);
 *         json_decref(j);
 *         audit_ok(&s);
 *         srv_cleanup(&s);
 *     }
 *
 * The ducatd binary is $DUCATD, else "build/ducatd" (tests run from the
 * repository root). Every instance lives in a fresh /tmp/ducat-test-XXXXXX,
 * removed by srv_cleanup unless DUCAT_KEEP_TEST_DIRS is set.
 *
 * Failures. Helpers that "fail" print `FAIL file:line: what` (the caller's
 * file and line) and then, on the thread that runs the tests, longjmp out of
 * the test case like FAIL_AT; on any other thread they kill every server
 * and abort(), since a longjmp across threads is undefined. Helpers that
 * return an HTTP status never fail on a status: the test decides.
 *
 * Leftovers. Every started server is SIGKILLed at exit, on SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT and SIGABRT, and (Linux) when the thread that started it
 * dies (PR_SET_PDEATHSIG), so a crashed or failed test leaves no daemon.
 * Start servers from the test thread. Instance directories a failed test
 * did not clean up are removed at exit (kept with DUCAT_KEEP_TEST_DIRS).
 *
 * THREAD SAFETY: api*, admin*, register_dev, fund, balance_available,
 * withdraw, deposit, dev_sync, dev_*, coin_* and json_* may be called from
 * several threads at once (one CURL handle per thread, freed when the thread
 * exits). srv_* calls on one struct srv must not race each other.
 */
#ifndef DUCAT_TEST_HARNESS_H
#define DUCAT_TEST_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ducat/coin.h"

#if !defined(DUCAT_TEST_H) && !defined(DUCAT_HARNESS_IMPL)
#error "include test.h before harness.h"
#endif

#define H_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- Failures ----------------------------------------------------------- */

/* Prints `FAIL file:line: <message>` and ends the test case (see the header
 * comment); never returns. */
__attribute__((noreturn))
H_PRINTF(3, 4) void h_fail(const char *file, int line, const char *fmt, ...);
/* Installs what h_fail calls on the calling (test) thread after printing;
 * the hook must not return. harness.h installs one for test.h itself. */
void h_set_fail_hook(void (*hook)(void));

/* ---- Server instances ----------------------------------------------------- */

struct srv {
    char dir[64];    /* instance directory /tmp/ducat-test-XXXXXX, "" before srv_init */
    char conf[96];   /* dir/ducat.conf */
    char token[256]; /* admin bearer token from dir/admin.token */
    pid_t pid;       /* the running `ducatd serve`, 0 if none */
    int port;        /* its port, 0 if none */
    char pgdb[40];   /* PostgreSQL database made for it ("" on SQLite); dropped by cleanup */
    char name[16];   /* a clone's name: its files are DIR/port-NAME, DIR/server-NAME.log */
    int is_clone;    /* shares another srv's directory and database (srv_clone) */
};

/* The ducatd binary: $DUCATD or "build/ducatd". */
const char *h_ducatd(void);

/* Fresh temp dir + `ducatd init DIR <extra_init_args>` (split on blanks,
 * '...' and "..." quote; NULL = none), then reads admin.token. Fails with
 * init's output if it exits non-zero.
 *
 * The instance gets the TEST calendar tests/api/calendar-test.txt (compiled
 * in) as DIR/calendar.txt, not the shipped one: the shipped calendar covers
 * 2025-2026 only, so from mid-December 2026 a deposit at the wall-clock date
 * has a provisional release date and is never released, and every test
 * expecting a release would rot. The test calendar is the shipped one plus
 * weekends-only years to 2040. srv_init_shipped_calendar keeps the shipped
 * calendar (tests of the provisional path). */
#define srv_init(s, extra) h_srv_init(__FILE__, __LINE__, (s), (extra), 0)
#define srv_init_shipped_calendar(s, extra) h_srv_init(__FILE__, __LINE__, (s), (extra), 1)
/* The test calendar's text (NUL-terminated): what srv_init installs. */
const char *h_test_calendar(void);
/* srv_init on PostgreSQL: a fresh database in the cluster of
 * tests/with-pg.sh (DC_PG_DIR, DC_PG_BIN), passed to init as --store. Fails
 * if the cluster is not there. srv_init does the same by itself when
 * DUCAT_TEST_STORE=postgresql (tests/api_pg.sh runs suites that way). */
#define srv_init_pg(s, extra) h_srv_init_pg(__FILE__, __LINE__, (s), (extra))
/* Another `ducatd serve` on src's instance: same directory, keys,
 * configuration and database, its own port and log (name tells them
 * apart). Several instances on one PostgreSQL database. Clean clones up
 * (srv_cleanup) before src: only src's cleanup removes the directory and
 * database. */
void srv_clone(struct srv *dst, const struct srv *src, const char *name);
/* Starts `ducatd serve -c CONF --listen 127.0.0.1:0 --port-file DIR/port`
 * (output appended to DIR/server.log) and waits up to 10 s for the port file
 * and a 200 from GET /v1/health; fails with the log's tail otherwise. */
#define srv_start(s) h_srv_start(__FILE__, __LINE__, (s))
/* srv_stop if running (fails unless it exits 0), then srv_start. */
#define srv_restart(s) h_srv_restart(__FILE__, __LINE__, (s))
/* SIGKILL the server and reap it (a crash); no-op if not running. */
void srv_kill9(struct srv *s);
/* SIGTERM, wait up to 10 s; returns the exit code, 128 + signal if killed by
 * a signal, -1 if it had to be SIGKILLed after the timeout (or was not
 * running). */
int srv_stop(struct srv *s);
/* Stops the server if running, removes the dir unless DUCAT_KEEP_TEST_DIRS
 * is set (then prints `# kept DIR`). Safe on a zeroed or cleaned srv. */
void srv_cleanup(struct srv *s);

/* Runs `ducatd -c CONF <args>` (args printf-formatted, then split like
 * srv_init's), waits (60 s max, then SIGKILL) and returns the exit code
 * (128 + signal if signalled, 127 if the binary cannot be run, with the
 * reason in out). stdout+stderr go to out (NUL-terminated, truncated to
 * cap - 1); out may be NULL. */
H_PRINTF(4, 5) int srv_cmd(const struct srv *s, char *out, size_t cap, const char *fmt, ...);
/* Appends text to s's ducat.conf (after srv_init, before srv_start; a
 * section named again is read like the first); fails on I/O. */
#define srv_conf_append(s, text) h_srv_conf_append(__FILE__, __LINE__, (s), (text))
void h_srv_conf_append(const char *file, int line, const struct srv *s, const char *text);
/* Wires `[dev] clock_file = clock` into s's config: its business time is
 * then DIR/clock (srv_clock_set), the wall clock while that file is absent.
 * After srv_init, before srv_start. */
#define srv_dev_clock(s) srv_conf_append((s), "\n[dev]\nclock_file = clock\n")
/* Sets the business time of an instance whose config names
 * `[dev] clock_file = clock` (DIR/clock, written atomically); fails on I/O. */
#define srv_clock_set(s, ms) h_srv_clock_set(__FILE__, __LINE__, (s), (ms))
void h_srv_clock_set(const char *file, int line, const struct srv *s, uint64_t ms);
/* Removes DIR/clock: the instance's business time is the wall clock again. */
#define srv_clock_real(s) h_srv_clock_real(__FILE__, __LINE__, (s))
void h_srv_clock_real(const char *file, int line, const struct srv *s);
/* `ducatd -c CONF audit`: the exit code, its output in out. */
int srv_audit(const struct srv *s, char *out, size_t cap);

/* Fails unless `ducatd audit` exits 0, printing its output. */
#define audit_ok(s)                                                                                \
    do {                                                                                           \
        char audit_out_[8192];                                                                     \
        int audit_rc_ = srv_audit((s), audit_out_, sizeof audit_out_);                             \
        if (audit_rc_ != 0) FAIL_AT("ducatd audit exited %d:\n%s", audit_rc_, audit_out_);         \
    } while (0)

/* ---- Devices ---------------------------------------------------------------- */

struct dev {
    uint8_t pk[DC_PUBKEY_BYTES];
    uint8_t sk[DC_SECKEY_BYTES];
    char pk_hex[2 * DC_PUBKEY_BYTES + 1];
    long long account;                 /* 0 until registered */
    uint8_t devcert[DC_DEVCERT_BYTES]; /* from the last sync / withdrawal */
    int has_devcert;
};

/* A zeroed device with a fresh random key pair. */
void dev_new(struct dev *d);

/* The X-Ducat-Signature value (128 hex + NUL) for a request, as
 * include/ducat/auth.h defines it; body may be NULL (empty). Fails on a
 * target too long or containing a newline. */
#define dev_sign_hex(sig, d, method, path, body, len, time_ms, nonce)                              \
    h_dev_sign_hex(__FILE__, __LINE__, (sig), (d), (method), (path), (body), (len), (time_ms),     \
                   (nonce))

/* ---- HTTP --------------------------------------------------------------- */

/* Milliseconds since the epoch (the clock a request is signed with). */
uint64_t h_now_ms(void);

/* Marks a header override in struct api_req: leave the header out. */
extern const char h_omit[];
#define HDR_OMIT h_omit

/* A request for api_raw. Zero-initialise, fill what you need. */
struct api_req {
    const char *method;    /* "GET", "POST", ... */
    const char *path;      /* with query; sent and signed verbatim (no dot squashing) */
    const char *body;      /* NULL: none (signed as empty) */
    size_t body_len;       /* 0: strlen(body) */
    const struct dev *dev; /* signs as this device; NULL: unsigned */
    uint64_t time_ms;      /* 0: now */
    const uint8_t *nonce;  /* 16 bytes; NULL: fresh random */
    /* Header overrides (signed requests): NULL = computed, HDR_OMIT = not
     * sent, else sent verbatim (the signature is still computed over the
     * real time and nonce unless sig is overridden too). */
    const char *key, *time, *nonce_hex, *sig;
    const char *bearer;     /* Authorization: Bearer <bearer>; NULL: none */
    const char *headers[8]; /* extra "Name: value" lines, NULL-terminated */
    /* OUT: the X-Ducat-* values computed for this call (replay them with
     * key/time/nonce_hex/sig on a second call). */
    char sent_key[2 * DC_PUBKEY_BYTES + 1];
    char sent_time[24];
    char sent_nonce[2 * DC_NONCE_BYTES + 1];
    char sent_sig[2 * DC_SIG_BYTES + 1];
};

struct api_resp {
    int status;    /* HTTP status; 0: no response (see api_last_error) */
    json_t *json;  /* parsed body if it is a JSON object/array, else NULL */
    char *body;    /* raw body, NUL-terminated ("" if none) */
    size_t len;    /* bytes of body */
    char *headers; /* raw response header lines, NUL-terminated */
};

/* The request headers api_raw sends for r: Expect:, Content-Type, the
 * X-Ducat-* headers (signed now, or as overridden; r->sent_* filled),
 * Authorization and r->headers. For a load generator that signs requests
 * ahead and drives its own libcurl handles; free with curl_slist_free_all.
 * Aborts on OOM. */
struct curl_slist;
struct curl_slist *api_headers(struct api_req *r);

/* Sends r to s and fills *resp (free with api_resp_free). Returns the
 * status (0 if the connection failed: refused, reset, 30 s timeout). */
int api_raw(const struct srv *s, struct api_req *r, struct api_resp *resp);
void api_resp_free(struct api_resp *resp);
/* Value of response header `name` (case-insensitive) into out; 1 if found. */
int api_resp_header(const struct api_resp *resp, const char *name, char *out, size_t cap);
/* The calling thread's last transport error ("" if none). */
const char *api_last_error(void);

/* A request signed by d (unsigned if d is NULL). Returns the status; *out
 * gets the parsed JSON (NULL if not JSON) and the caller json_decref()s it;
 * out may be NULL. */
int api(const struct srv *s, const struct dev *d, const char *method, const char *path,
        const char *body, json_t **out);
/* api with a printf-formatted body. */
H_PRINTF(6, 7)
int apif(const struct srv *s, const struct dev *d, const char *method, const char *path,
         json_t **out, const char *fmt, ...);
/* An admin request with `Authorization: Bearer token` (token NULL: no
 * header; pass s->token for the real one). */
int admin(const struct srv *s, const char *token, const char *method, const char *path,
          const char *body, json_t **out);
H_PRINTF(6, 7)
int adminf(const struct srv *s, const char *token, const char *method, const char *path,
           json_t **out, const char *fmt, ...);

/* A request id unique in this process: "h-<pid>-<n>" (out: 40 bytes). */
void new_request_id(char out[static 40]);

/* Fails unless status == http and the JSON error's "name" == name. */
#define ASSERT_API_ERR(status, j, http, name)                                                      \
    h_expect_err(__FILE__, __LINE__, (status), (j), (http), (name))
void h_expect_err(const char *file, int line, int status, const json_t *j, int http,
                  const char *name);

/* ---- JSON --------------------------------------------------------------- */

/* Member `key` of object o as an integer / string / any value; fails
 * (printing o) if o is NULL, the key is missing or of another type. The
 * string and value are borrowed from o. */
#define json_int(o, key) h_json_int(__FILE__, __LINE__, (o), (key))
#define json_str(o, key) h_json_str(__FILE__, __LINE__, (o), (key))
#define json_get(o, key) h_json_get(__FILE__, __LINE__, (o), (key))

/* ---- Admin reads --------------------------------------------------------- */

/* GET path as the admin (s->token); returns the answer's JSON (caller
 * json_decrefs). Fails (naming the caller's line) unless it answers 200. */
#define admin_get_on(s, path) h_admin_get(__FILE__, __LINE__, (s), (path))
/* POST /v1/admin/holds/release as the admin: the number of holds released.
 * Fails unless it answers 200. */
#define admin_release(s) h_admin_release(__FILE__, __LINE__, (s))

/* The value of the sample `name` or `name{labels}` (give the labels) in the
 * text body of GET /metrics; -1 if it has none. */
long long metric_in(const char *text, const char *sample);
/* GET /metrics (unauthenticated): the value of sample there, -1 if absent.
 * Fails unless /metrics answers 200. */
#define srv_metric(s, sample) h_srv_metric(__FILE__, __LINE__, (s), (sample))

/* ---- Accounts ------------------------------------------------------------ */

/* A checksum-valid 18-digit resident id and a phone number, unique in this
 * process (and very likely across processes). */
void make_identity(char id[static 19], char phone[static 16]);

/* POST /v1/register signed by d with a made-up (checksum-valid, unique)
 * national id and phone; sets and returns d->account. Fails unless 200/201. */
#define register_dev(s, d, name) h_register_dev(__FILE__, __LINE__, (s), (d), (name))
/* Admin POST /v1/admin/accounts/{id}/verify; returns the status. */
int verify_account(const struct srv *s, long long account);
/* Admin POST /v1/admin/fund with a unique request_id; returns the status. */
int fund(const struct srv *s, long long account, long long amount);
/* dev_new + register_dev + verify (unless --auto-verify did) + fund (when
 * amount > 0); fails on any non-2xx. */
#define dev_setup(s, d, name, amount) h_dev_setup(__FILE__, __LINE__, (s), (d), (name), (amount))
/* GET /v1/balance signed by d: "available". Fails unless 200. */
#define balance_available(s, d) h_balance_available(__FILE__, __LINE__, (s), (d))
/* GET /v1/balance signed by d: the figures the tests compare. Fails unless
 * 200. */
struct balance {
    long long available, held;
    long long outstanding; /* "offline_outstanding" */
    size_t nholds;         /* entries of "holds" */
};
#define balance_of(s, d) h_balance_of(__FILE__, __LINE__, (s), (d))

/* ---- Coins ---------------------------------------------------------------- */

/* One coin's encoding (a copyable value; about 14 KB). */
struct coin {
    uint8_t b[DC_COIN_MAX_BYTES];
    size_t len;
};

/* POST /v1/sync signed by d: stores the "devcert" in d. Fails unless 200. */
#define dev_sync(s, d) h_dev_sync(__FILE__, __LINE__, (s), (d))

/* POST /v1/withdrawals {request_id (fresh), amount}: on 201 decodes up to
 * cap coins into coins (*n their count; fails if more) and stores the
 * response's devcert in d. Returns the status; *out as in api (may be NULL). */
#define withdraw(s, d, amount, coins, cap, n, out)                                                 \
    h_withdraw(__FILE__, __LINE__, (s), (d), (amount), (coins), (cap), (n), (out))

/* POST /v1/deposits {request_id, coins: [hex...]} signed by d; request_id
 * NULL = fresh. Returns the status; *out as in api. */
int deposit(const struct srv *s, const struct dev *d, const struct coin *coins, size_t n,
            const char *request_id, json_t **out);

/* Hex of a coin / into a coin: malloc'd string (free() it) / fails on bad hex. */
char *coin_hex(const struct coin *c);
#define coin_from_hex(c, hex) h_coin_from_hex(__FILE__, __LINE__, (c), (hex))
/* The value of the coin's current state; fails if it does not decode. */
#define coin_value(c) h_coin_value(__FILE__, __LINE__, (c))

/* Record appenders over the core API (include/ducat/coin.h); each fails
 * with the dc_err name unless the core accepts. `from`/`owner` must own
 * the coin's current state. */
/* TRANSFER to `to`'s devcert (dev_sync it first) with a random nonce. */
#define coin_transfer(c, from, to) h_coin_transfer(__FILE__, __LINE__, (c), (from), (to))
/* SPLIT into n values (summing to the coin's value); parts[i] (n coins)
 * continues with part i. c is left unchanged unless it is parts[0]. */
#define coin_split(c, owner, values, n, parts)                                                     \
    h_coin_split(__FILE__, __LINE__, (c), (owner), (values), (n), (parts))
/* DEPOSIT naming account (time = now). */
#define coin_deposit(c, owner, account) h_coin_deposit(__FILE__, __LINE__, (c), (owner), (account))

/* ---- Implementation entry points (call the macros above) ----------------- */

void h_srv_init(const char *file, int line, struct srv *s, const char *extra_init_args,
                int shipped_calendar);
void h_srv_init_pg(const char *file, int line, struct srv *s, const char *extra_init_args);
void h_srv_start(const char *file, int line, struct srv *s);
void h_srv_restart(const char *file, int line, struct srv *s);
void h_dev_sign_hex(const char *file, int line, char sig[static 2 * DC_SIG_BYTES + 1],
                    const struct dev *d, const char *method, const char *path, const char *body,
                    size_t body_len, uint64_t time_ms, const uint8_t nonce[static DC_NONCE_BYTES]);
long long h_json_int(const char *file, int line, const json_t *o, const char *key);
json_t *h_admin_get(const char *file, int line, const struct srv *s, const char *path);
long long h_admin_release(const char *file, int line, const struct srv *s);
long long h_srv_metric(const char *file, int line, const struct srv *s, const char *sample);
const char *h_json_str(const char *file, int line, const json_t *o, const char *key);
json_t *h_json_get(const char *file, int line, const json_t *o, const char *key);
long long h_register_dev(const char *file, int line, const struct srv *s, struct dev *d,
                         const char *name);
void h_dev_setup(const char *file, int line, const struct srv *s, struct dev *d, const char *name,
                 long long amount);
long long h_balance_available(const char *file, int line, const struct srv *s, const struct dev *d);
struct balance h_balance_of(const char *file, int line, const struct srv *s, const struct dev *d);
void h_dev_sync(const char *file, int line, const struct srv *s, struct dev *d);
int h_withdraw(const char *file, int line, const struct srv *s, struct dev *d, long long amount,
               struct coin *coins, size_t cap, size_t *n, json_t **out);
void h_coin_from_hex(const char *file, int line, struct coin *c, const char *hex);
int64_t h_coin_value(const char *file, int line, const struct coin *c);
void h_coin_transfer(const char *file, int line, struct coin *c, const struct dev *from,
                     const struct dev *to);
void h_coin_split(const char *file, int line, const struct coin *c, const struct dev *owner,
                  const int64_t *values, size_t n, struct coin *parts);
void h_coin_deposit(const char *file, int line, struct coin *c, const struct dev *owner,
                    long long account);

/* ---- Wiring into test.h --------------------------------------------------- */

#ifdef DUCAT_TEST_H
static void h_test_fail_hook_(void)
{
    longjmp(test_jmp, 1);
}

__attribute__((constructor)) static void h_test_install_hook_(void)
{
    h_set_fail_hook(h_test_fail_hook_);
}
#endif

#endif
