/*
 * common.c - the `ducat` CLI's shared plumbing (see cli.h): messages and
 * exit codes, the passphrase, the wallet's lock and file, amounts, times.
 */
#define _DEFAULT_SOURCE /* flock */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ducat/auth.h"
#include "ducat/calendar.h"

/* ---- Messages ------------------------------------------------------------------ */

int cli_exit_for(enum dc_err e)
{
    /* the registry's class decides (include/ducat/errors.def); a server
     * failure (5xx) is worth retrying too: dc_service_is_transient */
    switch (dc_err_class(e)) {
    case DC_CLASS_OK:
        return CLI_EXIT_OK;
    case DC_CLASS_USAGE:
        return CLI_EXIT_USAGE;
    case DC_CLASS_WALLET:
        return CLI_EXIT_WALLET;
    case DC_CLASS_REFUSED:
    case DC_CLASS_TRANSIENT:
    case DC_CLASS_SYSTEM:
    case DC_CLASS_AUDIT:
        break;
    }
    return dc_service_is_transient(e) ? CLI_EXIT_RETRY : CLI_EXIT_REFUSED;
}

/* Set once by main from --json, before any command runs: errors become one
 * JSON object (docs/CLI.md, "JSON output"), like the results. */
static int json_errors;

void cli_set_json_errors(int on)
{
    json_errors = on;
}

/* The one error line: "ducat: <what failed>" on stderr, or with --json
 * {"error":{"message":...,"exit_code":N[,"code":N,"name":"DC_ERR_..."]}}. */
static void vfail(enum dc_err e, int exit_code, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* one line, whatever the server or a file said */
    for (char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\r') *p = ' ';
    }
    if (json_errors) {
        json_t *o = json_pack("{s:s, s:i}", "message", msg, "exit_code", exit_code);
        if (o && e != DC_OK) {
            json_object_set_new(o, "code", json_integer((json_int_t)e));
            json_object_set_new(o, "name", json_string(dc_err_name(e)));
        }
        json_t *w = o ? json_pack("{s:o}", "error", o) : NULL;
        char *s = w ? json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(w);
        if (s) {
            fprintf(stderr, "%s\n", s);
            free(s);
            return;
        }
    }
    fprintf(stderr, "ducat: %s\n", msg);
}

enum dc_err cli_last_err;

int cli_fail(const struct cli *x, enum dc_err e, const char *fmt, ...)
{
    (void)x;
    cli_last_err = e;
    va_list ap;
    va_start(ap, fmt);
    vfail(e, cli_exit_for(e), fmt, ap);
    va_end(ap);
    return cli_exit_for(e);
}

int cli_fail_code(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(DC_OK, code, fmt, ap);
    va_end(ap);
    return code;
}

void cli_note(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "note: %s\n", msg); /* not an error: no "ducat:" prefix */
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    if (strcmp(argv[*i], name) != 0) return 0;
    if (!value) return 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "ducat: option '%s' needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

void cli_hex(char *out, const uint8_t *in, size_t n)
{
    dc_hex_encode(out, in, n);
}

/* ---- Passphrase ------------------------------------------------------------------ */

#define PASS_MAX 1024

static int read_fd_line(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (buf[n] == '\n') break;
        n++;
    }
    if (n && buf[n - 1] == '\r') n--;
    buf[n] = '\0';
    *len = n;
    return n + 1 < cap;
}

static int prompt(const char *what, char *buf, size_t cap, size_t *len)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (fd < 0) return -1;
    struct termios old, quiet;
    int have_tty = tcgetattr(fd, &old) == 0;
    if (have_tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, what, strlen(what)) < 0) { /* the prompt is best effort */
    }
    int ok = read_fd_line(fd, buf, cap, len);
    if (have_tty) tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
    }
    close(fd);
    return ok ? 0 : -1;
}

int cli_read_pass(struct cli *x, int confirm)
{
    if (x->pass) return 0;
    x->pass = sodium_malloc(PASS_MAX);
    if (!x->pass) return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    size_t n = 0;
    const char *env = getenv("DUCAT_PASSPHRASE");
    if (x->pass_fd >= 0) {
        if (!read_fd_line(x->pass_fd, x->pass, PASS_MAX, &n)) {
            return cli_fail_code(CLI_EXIT_USAGE, "passphrase from fd %d is longer than %d bytes",
                                 x->pass_fd, PASS_MAX - 1);
        }
    } else if (env) {
        n = strlen(env);
        if (n >= PASS_MAX) {
            return cli_fail_code(CLI_EXIT_USAGE, "DUCAT_PASSPHRASE is longer than %d bytes",
                                 PASS_MAX - 1);
        }
        memcpy(x->pass, env, n + 1);
    } else {
        if (prompt("Wallet passphrase: ", x->pass, PASS_MAX, &n) != 0) {
            return cli_fail_code(CLI_EXIT_USAGE,
                                 "no passphrase: no terminal to ask on; set DUCAT_PASSPHRASE or "
                                 "use --passphrase-fd N");
        }
        if (confirm) {
            char *again = sodium_malloc(PASS_MAX);
            size_t m = 0;
            int ok = again && prompt("Repeat passphrase: ", again, PASS_MAX, &m) == 0 && m == n &&
                     sodium_memcmp(again, x->pass, n) == 0;
            sodium_free(again);
            if (!ok) return cli_fail_code(CLI_EXIT_USAGE, "the passphrases do not match");
        }
    }
    if (n == 0) return cli_fail_code(CLI_EXIT_USAGE, "the passphrase is empty");
    x->pass_len = n;
    return 0;
}

/* ---- Wallet file and lock ----------------------------------------------------------- */

void cli_resolve_path(struct cli *x)
{
    if (x->wallet_path) return;
    const char *env = getenv("DUCAT_WALLET");
    if (env && *env) {
        x->wallet_path = env;
        return;
    }
    const char *home = getenv("HOME");
    snprintf(x->path_buf, sizeof x->path_buf, "%s/.ducat/wallet", home && *home ? home : ".");
    x->wallet_path = x->path_buf;
}

/* How long cli_lock waits for another process: $DUCAT_LOCK_WAIT_MS or
 * 10 s. -1 (after a message) if the variable does not parse. */
#define LOCK_WAIT_DEFAULT_MS 10000L
#define LOCK_WAIT_MAX_MS 3600000L
static long lock_wait_ms(void)
{
    const char *v = getenv("DUCAT_LOCK_WAIT_MS");
    if (!v) return LOCK_WAIT_DEFAULT_MS;
    char *end;
    errno = 0;
    long ms = strtol(v, &end, 10);
    if (errno || end == v || *end || ms < 0 || ms > LOCK_WAIT_MAX_MS) {
        fprintf(stderr, "ducat: invalid DUCAT_LOCK_WAIT_MS '%s' (milliseconds, 0..%ld)\n", v,
                LOCK_WAIT_MAX_MS);
        return -1;
    }
    return ms;
}

static uint64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int cli_lock(struct cli *x)
{
    long wait = lock_wait_ms();
    if (wait < 0) return CLI_EXIT_USAGE;
    char lp[1100];
    snprintf(lp, sizeof lp, "%s.lock", x->wallet_path);
    x->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (x->lock_fd < 0) {
        return cli_fail_code(CLI_EXIT_WALLET, "cannot create the lock file '%s': %s", lp,
                             strerror(errno));
    }
    /* One writer per wallet: two processes saving one file would lose the
     * changes of one of them (a signed payment, received coins). A command
     * that finds the wallet busy waits a little (a payment in progress
     * usually ends soon), then gives up having read nothing. */
    uint64_t deadline = mono_now_ms() + (uint64_t)wait;
    for (;;) {
        if (flock(x->lock_fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            return cli_fail_code(CLI_EXIT_WALLET, "cannot lock '%s': %s", lp, strerror(errno));
        }
        uint64_t now = mono_now_ms();
        if (now >= deadline) {
            return cli_fail_code(CLI_EXIT_WALLET,
                                 "wallet '%s' is in use by another ducat process (lock '%s' still "
                                 "held after %ld ms); nothing was done - try again when it ends",
                                 x->wallet_path, lp, wait);
        }
        uint64_t step = deadline - now < 100 ? deadline - now : 100;
        struct timespec ts = {0, (long)step * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static const char *wallet_why(enum dc_err e)
{
    switch (e) {
    case DC_ERR_WALLET_PASSPHRASE:
        return "wrong passphrase";
    case DC_ERR_WALLET_CORRUPT:
        return "the file is damaged (bytes changed); restore a backup";
    case DC_ERR_WALLET_TRUNCATED:
        return "the file is cut short; restore a backup";
    case DC_ERR_WALLET_NOT_WALLET:
        return "not a Ducat wallet file";
    case DC_ERR_WALLET_VERSION:
        return "written by another version of Ducat";
    default:
        return dc_err_str(e);
    }
}

enum dc_err cli_save_cb(void *ctx, struct dc_wallet *w)
{
    struct cli *x = ctx;
    /* Test hooks at the library's crash-safety points: "service-save:before:N"
     * and "service-save:after:N" for its N-th save in this process (1: the
     * first), so a test can kill -9 the process between any two of them. */
    static unsigned n_saves;
    char point[48];
    n_saves++;
    snprintf(point, sizeof point, "service-save:before:%u", n_saves);
    cli_pause_point(point);
    enum dc_err e = dc_wallet_commit(w, x->wallet_path);
    snprintf(point, sizeof point, "service-save:after:%u", n_saves);
    if (e == DC_OK) cli_pause_point(point);
    return e;
}

int cli_save(struct cli *x)
{
    enum dc_err e = dc_wallet_commit(x->w, x->wallet_path);
    if (e != DC_OK) {
        return cli_fail_code(CLI_EXIT_WALLET, "cannot save the wallet '%s': %s", x->wallet_path,
                             dc_err_str(e));
    }
    return 0;
}

int cli_open(struct cli *x, unsigned needs)
{
    cli_resolve_path(x);
    struct stat st;
    if (stat(x->wallet_path, &st) != 0) {
        return cli_fail_code(CLI_EXIT_WALLET, "no wallet at '%s' (create one with: ducat init)",
                             x->wallet_path);
    }
    int rc = cli_lock(x);
    if (rc) return rc;
    rc = cli_read_pass(x, 0);
    if (rc) return rc;
    enum dc_err e = dc_wallet_load(&x->w, x->wallet_path, x->pass, x->pass_len, DC_WALLET_KEEP_KEY);
    if (e != DC_OK) {
        return cli_fail_code(CLI_EXIT_WALLET, "cannot open wallet '%s': %s", x->wallet_path,
                             wallet_why(e));
    }
    x->has_cfg = dc_service_config(x->w, &x->cfg) == DC_OK;
    if ((needs & CLI_CONFIG) && !x->has_cfg) {
        return cli_fail_code(CLI_EXIT_REFUSED,
                             "this wallet has not synced with its server yet (run: ducat sync)");
    }
    if (needs & CLI_NET) {
        const char *url = x->server ? x->server : dc_wallet_server_url(x->w);
        if (!url || !*url) {
            return cli_fail_code(CLI_EXIT_USAGE, "this wallet has no server (use --server URL)");
        }
        e = dc_client_new(&x->c, url);
        if (e != DC_OK) return cli_fail_code(CLI_EXIT_USAGE, "invalid server URL '%s'", url);
        const char *t = getenv("DUCAT_TIMEOUT_MS");
        if (t && atol(t) > 0) dc_client_set_timeout(x->c, atol(t));
    }
    dc_service_init(&x->svc, x->w, x->c, cli_save_cb, x);
    return 0;
}

void cli_close(struct cli *x)
{
    dc_client_free(x->c);
    x->c = NULL;
    dc_wallet_free(x->w); /* wipes the key and the kept file key */
    x->w = NULL;
    if (x->pass) sodium_free(x->pass); /* sodium_free wipes */
    x->pass = NULL;
    if (x->lock_fd >= 0) close(x->lock_fd);
    x->lock_fd = -1;
}

/* ---- Amounts and times ------------------------------------------------------------- */

int cli_amount(struct cli *x, const char *text, int64_t *out)
{
    struct dc_amount a;
    enum dc_err e = dc_amount_parse(&a, &x->cfg.currency, text, strlen(text), 0);
    if (e == DC_OK && a.minor == 0) e = DC_ERR_AMOUNT_ZERO;
    if (e != DC_OK) {
        return cli_fail_code(CLI_EXIT_USAGE, "invalid amount '%s': %s (e.g. 12.50 %s)", text,
                             dc_err_str(e), x->cfg.currency.code);
    }
    *out = a.minor;
    return 0;
}

const char *cli_fmt(const struct cli *x, char buf[static 48], int64_t minor)
{
    char num[DC_AMOUNT_STR_MAX];
    struct dc_amount a = {minor, x->cfg.currency.numeric};
    if (!x->has_cfg || dc_amount_format(num, sizeof num, &x->cfg.currency, a) != DC_OK) {
        snprintf(buf, 48, "%lld (minor units)", (long long)minor);
    } else {
        snprintf(buf, 48, "%s %s", num, x->cfg.currency.code);
    }
    return buf;
}

const char *cli_time(char buf[static 40], uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms == 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, 40, "-");
    } else {
        strftime(buf, 40, "%Y-%m-%d %H:%M UTC", &tm);
    }
    return buf;
}

const char *cli_local_time(const struct cli *x, char buf[static 40], uint64_t ms)
{
    /* the deployment's time zone, stated: the rule ducatd and the console follow */
    int32_t off = x->has_cfg ? x->cfg.utc_offset_min : 0;
    if (ms == 0 || dc_time_format(buf, 40, ms, off) != DC_OK) return cli_time(buf, ms);
    return buf;
}

uint64_t cli_now(void)
{
#ifdef DC_DEV_CLOCK
    /* Tests and development builds only (not `make deb`, DEV_CLOCK=0): the
     * wallet's business time from a file of ms since the epoch, the same
     * file ducatd's `[dev] clock_file` reads, so one test drives both
     * clocks past a deadline. Unset, unreadable or 0: the wall clock. */
    const char *path = getenv("DUCAT_CLOCK_FILE");
    if (path && *path) {
        FILE *f = fopen(path, "r");
        unsigned long long v = 0;
        if (f) {
            if (fscanf(f, "%llu", &v) != 1) v = 0;
            fclose(f);
        }
        if (v) return (uint64_t)v;
    }
#endif
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- Input / output ----------------------------------------------------------------- */

int cli_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_fail_code(CLI_EXIT_USAGE, "cannot read '%s': %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 >= cap) {
            if (cap > max) break;
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            free(b);
            if (fd) close(fd);
            return cli_fail_code(CLI_EXIT_USAGE, "cannot read '%s': %s", path, strerror(err));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (fd) close(fd);
    if (!b) return cli_fail_code(CLI_EXIT_REFUSED, "out of memory reading '%s'", path);
    if (n > max) {
        free(b);
        return cli_fail_code(CLI_EXIT_REFUSED, "'%s' is larger than %zu bytes", path, max);
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}

void cli_emit(json_t *j)
{
    if (!j) {
        fprintf(stderr, "ducat: out of memory\n");
        return;
    }
    json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS);
    fputc('\n', stdout);
    json_decref(j);
}

void cli_print_refresh_bound(const struct cli *x, const struct dc_service_refresh *r)
{
    if (r->replaced >= r->deposited) return;
    char a1[48], a2[48];
    printf("  fewer fresh coins than deposited: the deposit is held, so they come from the "
           "available balance (%s), within the room under the offline limit (%s)\n",
           cli_fmt(x, a1, r->available),
           r->limit_room == INT64_MAX ? "no limit" : cli_fmt(x, a2, r->limit_room));
}

int cli_op_pending_fail(struct cli *x, const char *what)
{
    struct dc_service_op op;
    char a[48], cmd[400] = "", amt[48] = "";
    if (dc_service_op_pending(x->w, &op) != DC_OK || op.cmd[0] == '\0') {
        return cli_fail(x, DC_ERR_WALLET_OP_PENDING, "%s: not started: %s", what,
                        x->svc.detail[0] ? x->svc.detail : dc_err_str(DC_ERR_WALLET_OP_PENDING));
    }
    /* the amount as the user typed it: no currency code */
    cli_fmt(x, a, op.amount);
    snprintf(amt, sizeof amt, "%s", a);
    char *sp = strchr(amt, ' ');
    if (sp) *sp = '\0';
    if (strcmp(op.cmd, "pay") == 0) {
        size_t n =
            (size_t)snprintf(cmd, sizeof cmd, "ducat pay %llu %s", (unsigned long long)op.to, amt);
        if (op.memo[0] && n < sizeof cmd) {
            snprintf(cmd + n, sizeof cmd - n, " --memo '%s'", op.memo);
        }
    } else if (strcmp(op.cmd, "withdraw") == 0) {
        snprintf(cmd, sizeof cmd, "ducat withdraw %s", amt);
    } else if (strcmp(op.cmd, "deposit") == 0) {
        size_t n = (size_t)snprintf(cmd, sizeof cmd, "ducat deposit");
        for (size_t i = 0; i < op.n_coins && i < DC_SERVICE_OP_COINS_MAX && n < sizeof cmd; i++) {
            n += (size_t)snprintf(cmd + n, sizeof cmd - n, " --coin %zu", op.coins[i]);
        }
    } else {
        snprintf(cmd, sizeof cmd, "ducat %s", op.cmd);
    }
    return cli_fail(x, DC_ERR_WALLET_OP_PENDING,
                    "%s: not started: %s in this wallet; run `%s` again to finish it (it "
                    "completes the saved request and starts nothing new), or `ducat sync`",
                    what, x->svc.detail[0] ? x->svc.detail : "an operation is pending", cmd);
}

int cli_net_fail(struct cli *x, enum dc_err e, const char *what)
{
    if (e == DC_ERR_WALLET_OP_PENDING) return cli_op_pending_fail(x, what);
    if (dc_service_is_transient(e)) {
        return cli_fail(x, e,
                        "%s: server unreachable or busy (%s); nothing was lost - the "
                        "request is saved in the wallet: run the same command again to "
                        "finish it (it starts nothing new)",
                        what, x->svc.detail[0] ? x->svc.detail : dc_err_str(e));
    }
    if (x->svc.detail[0] && strcmp(x->svc.detail, dc_err_str(e)) != 0) {
        return cli_fail(x, e, "%s refused: %s (%s)", what, dc_err_str(e), x->svc.detail);
    }
    return cli_fail(x, e, "%s refused: %s", what, dc_err_str(e));
}

int cli_refresh_refused(const struct cli *x, const struct dc_service_refresh *r)
{
    if (r->n_refused == 0) return CLI_EXIT_OK;
    char a[48];
    enum dc_err why = r->refused_why != DC_OK ? r->refused_why : DC_ERR_COIN_SPENT;
    return cli_fail(x, why,
                    "refresh: %zu coin(s) worth %s refused by the server for good (%s) and "
                    "dropped from this wallet; every other coin was credited",
                    r->n_refused, cli_fmt(x, a, r->refused), dc_err_str(why));
}

void cli_print_line(const char *s)
{
    fputs(s, stdout);
    fputc('\n', stdout);
}

/* ---- Test hooks ---------------------------------------------------------------------- */

void cli_pause_point(const char *point)
{
    const char *want = getenv("DUCAT_TEST_PAUSE_AT");
    if (!want || strcmp(want, point) != 0) return;
    fflush(stdout);
    fprintf(stderr, "PAUSED %s\n", point);
    fflush(stderr);
    /* Stay here, in the exact state of this boundary, until killed. */
    for (;;) pause();
}
