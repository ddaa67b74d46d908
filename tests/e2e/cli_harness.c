/*
 * cli_harness.c - the helpers the end-to-end CLI tests share (see
 * cli_harness.h). Failures go through h_fail, which ends the calling test
 * case like FAIL_AT.
 */
#define _DEFAULT_SOURCE
#define DUCAT_HARNESS_IMPL
#include "harness.h"

#include "cli_harness.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ducat/armor.h"
#include "ducat/err.h"

#define CLI_FAIL(...) h_fail(__FILE__, __LINE__, __VA_ARGS__)
#define CLI_OK(expr)                                                                               \
    do {                                                                                           \
        enum dc_err e_ = (expr);                                                                   \
        if (e_ != DC_OK) CLI_FAIL("%s returned %s", #expr, dc_err_name(e_));                       \
    } while (0)

char ducat_bin[1024];
static int id_counter;
static char id_prefix_[16] = "1101011990", phone_prefix_[16] = "+86138";

void cli_init(const char *id_prefix, const char *phone_prefix)
{
    snprintf(id_prefix_, sizeof id_prefix_, "%s", id_prefix);
    snprintf(phone_prefix_, sizeof phone_prefix_, "%s", phone_prefix);
    const char *e = getenv("DUCAT");
    if (e && *e) {
        snprintf(ducat_bin, sizeof ducat_bin, "%s", e);
    } else {
        char d[900];
        snprintf(d, sizeof d, "%s", h_ducatd());
        char *slash = strrchr(d, '/');
        if (slash) {
            *slash = '\0';
            snprintf(ducat_bin, sizeof ducat_bin, "%s/ducat", d);
        } else {
            snprintf(ducat_bin, sizeof ducat_bin, "ducat");
        }
    }
    setenv("DUCAT_PASSPHRASE", "test passphrase", 1);
    unsetenv("DUCAT_WALLET");
    unsetenv("DUCAT_TEST_PAUSE_AT");
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int sh(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8300];
    snprintf(full, sizeof full, "{ %s ; } 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) CLI_FAIL("popen: %s", strerror(errno));
    size_t n = 0, k;
    char tmp[4096];
    while ((k = fread(tmp, 1, sizeof tmp, p)) > 0) {
        if (out && n + 1 < cap) {
            size_t c = k < cap - 1 - n ? k : cap - 1 - n;
            memcpy(out + n, tmp, c);
            n += c;
        }
    }
    if (out && cap) out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int dcmd(char *out, size_t cap, const struct wal *w, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return sh(out, cap, "%s --wallet %s %s", ducat_bin, w->path, args);
}

void wallet_new(const struct srv *s, struct wal *w, const char *name, const char *who)
{
    char out[4096];
    snprintf(w->path, sizeof w->path, "%s/%s.w", s->dir, name);
    int rc = sh(out, sizeof out, "%s --wallet %s --server http://127.0.0.1:%d init --kdf min",
                ducat_bin, w->path, s->port);
    if (rc != 0) CLI_FAIL("ducat init exited %d: %s", rc, out);
    int k = ++id_counter;
    rc = D(out, w, "register --name '%s' --national-id %s%04d%04d --phone %s%08d", who, id_prefix_,
           (int)(getpid() % 10000), k, phone_prefix_, k);
    if (rc != 0) CLI_FAIL("ducat register exited %d: %s", rc, out);
    rc = D(out, w, "--json info");
    if (rc != 0) CLI_FAIL("ducat info exited %d: %s", rc, out);
    json_t *j = json_loads(out, 0, NULL);
    if (!j) CLI_FAIL("ducat info: not JSON: %s", out);
    w->account = json_int(j, "account");
    json_decref(j);
}

json_t *djson(const struct wal *w, const char *fmt, ...)
{
    char args[2048];
    static char out[1 << 17];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int rc = sh(out, sizeof out, "%s --wallet %s --json %s 2>/dev/null", ducat_bin, w->path, args);
    if (rc != 0) CLI_FAIL("ducat %s exited %d: %s", args, rc, out);
    json_t *j = json_loads(out, 0, NULL);
    if (!j) CLI_FAIL("ducat %s: not JSON: %s", args, out);
    return j;
}

long long offline_field(const struct wal *w, const char *key)
{
    json_t *j = djson(w, "balance --offline");
    long long v = json_int(j, key);
    json_decref(j);
    return v;
}

long long online_field(const struct wal *w, const char *key)
{
    json_t *j = djson(w, "balance");
    long long v = json_int(j, key);
    json_decref(j);
    return v;
}

int contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

long slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

void write_file(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) CLI_FAIL("open %s: %s", path, strerror(errno));
    if (fwrite(b, 1, n, f) != n) CLI_FAIL("write %s: %s", path, strerror(errno));
    if (fclose(f) != 0) CLI_FAIL("close %s: %s", path, strerror(errno));
}

/* ---- Background processes ---------------------------------------------------------------- */

pid_t spawn(const struct wal *w, const char *log, const char *pause_at, const char *fmt, ...)
{
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "exec %s --wallet %s %s > %s 2>&1", ducat_bin, w->path, args, log);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) CLI_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        if (pause_at)
            setenv("DUCAT_TEST_PAUSE_AT", pause_at, 1);
        else
            unsetenv("DUCAT_TEST_PAUSE_AT");
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid, long ms)
{
    for (long t = 0; t <= ms; t += 20) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(20);
    }
    return -1;
}

void kill9(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
}

void wait_for(const char *path, const char *needle, long ms)
{
    static char buf[16384];
    for (long t = 0; t <= ms; t += 20) {
        if (slurp(path, buf, sizeof buf) >= 0 && contains(buf, needle)) return;
        sleep_ms(20);
    }
    buf[0] = '\0';
    slurp(path, buf, sizeof buf);
    CLI_FAIL("'%s' never showed \"%s\":\n%s", path, needle, buf);
}

int port_of(const char *port_file)
{
    char p[16];
    for (int t = 0; t < 500; t++) {
        if (slurp(port_file, p, sizeof p) > 0 && atoi(p) > 0) return atoi(p);
        sleep_ms(20);
    }
    CLI_FAIL("no port file %s", port_file);
}

/* ---- Payments built with the core API ------------------------------------------------------ */

void load_request(const char *path, uint8_t *req, size_t *len, struct dc_request *r)
{
    char text[4096];
    long n = slurp(path, text, sizeof text);
    if (n <= 0) CLI_FAIL("no request armor in %s", path);
    while (n > 0 && text[n - 1] == '\n') text[--n] = '\0';
    CLI_OK(dc_armor_decode(req, DC_REQUEST_BYTES, len, DC_ARMOR_REQUEST, text, (size_t)n));
    CLI_OK(dc_request_decode(r, req, *len));
}

void transfer_to_request(struct coin *c, const struct dev *from, const struct dc_request *r)
{
    uint8_t cert[DC_DEVCERT_BYTES];
    dc_devcert_encode(cert, &r->payee);
    CLI_OK(dc_coin_transfer(c->b, sizeof c->b, &c->len, from->sk, cert, r->nonce));
}

void write_payment(const char *path, const uint8_t *req, size_t rlen, const struct coin *coins,
                   size_t n)
{
    struct dc_payment p;
    memset(&p, 0, sizeof p);
    dc_request_hash(p.request_hash, req, rlen);
    p.n = n;
    for (size_t i = 0; i < n && i < DC_PAYMENT_COINS_MAX; i++) {
        p.coin[i] = coins[i].b;
        p.coin_len[i] = coins[i].len;
    }
    static uint8_t buf[DC_PAYMENT_MAX_BYTES];
    static char text[40000];
    size_t len, tl;
    CLI_OK(dc_payment_encode(buf, sizeof buf, &len, &p));
    CLI_OK(dc_armor_encode(text, sizeof text, &tl, DC_ARMOR_PAYMENT, buf, len));
    text[tl++] = '\n';
    write_file(path, text, tl);
}

void hand_request(struct hand_request *h, const struct wal *payee, const char *dir, const char *tag,
                  const char *amount)
{
    char out[4096], rq[256];
    snprintf(rq, sizeof rq, "%s/req-%s", dir, tag);
    snprintf(h->pay_path, sizeof h->pay_path, "%s/pay-%s", dir, tag);
    int rc = D(out, payee, "request %s > %s 2>/dev/null", amount, rq);
    if (rc != 0) CLI_FAIL("ducat request %s exited %d", amount, rc);
    load_request(rq, h->req, &h->len, &h->r);
}
