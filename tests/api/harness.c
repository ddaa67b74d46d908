/*
 * harness.c - ducatd instances, signed HTTP requests and coin helpers for
 * API tests (see harness.h for the contract).
 *
 * Processes: children are fork/exec'd directly (no shell) and reaped by pid;
 * every server pid sits in a small signal-readable table so the atexit and
 * signal handlers can SIGKILL it. HTTP: libcurl easy handles, one per
 * thread, kept in a pthread key whose destructor frees it; connections are
 * reused within a thread. Everything here may allocate and abort on OOM:
 * this is test code.
 */
#define DUCAT_HARNESS_IMPL
#include "harness.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "calendar_test.h" /* generated from tests/api/calendar-test.txt: calendar_test[] */
#include "ducat/auth.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
#define CMD_TIMEOUT_MS 60000
#define POLL_MS 20
#define HTTP_TIMEOUT_MS 30000L
#define ARGS_MAX 64
#define LIVE_MAX 256
#define TAIL_BYTES 3000

const char h_omit[] = "(omit)";

/*--- Global state -----------------------------------------------------------*/

struct tls {
    CURL *curl;
    char err[CURL_ERROR_SIZE];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t tls_key;
static void (*fail_hook)(void);
static pthread_t fail_thread;
static atomic_ulong request_counter;
static atomic_ulong identity_counter;
static unsigned long identity_base;

/* Server pids and instance dirs still alive. The pid table is read by the
 * signal handler, hence volatile slots and no locking on that side. */
static volatile pid_t live_pids[LIVE_MAX];
static char live_dirs[LIVE_MAX][sizeof((struct srv *)0)->dir];
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

static void rm_rf(const char *path);

static void kill_all_servers(void)
{
    for (size_t i = 0; i < LIVE_MAX; i++) {
        pid_t p = live_pids[i];
        if (p > 0) kill(p, SIGKILL);
    }
}

static void on_fatal_signal(int sig)
{
    kill_all_servers();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void tls_free(void *p)
{
    struct tls *t = p;
    if (t == NULL) return;
    curl_easy_cleanup(t->curl);
    free(t);
}

static void at_exit(void)
{
    for (size_t i = 0; i < LIVE_MAX; i++) {
        pid_t p = live_pids[i];
        if (p <= 0) continue;
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        live_pids[i] = 0;
    }
    int keep = getenv("DUCAT_KEEP_TEST_DIRS") != NULL;
    pthread_mutex_lock(&live_mu);
    for (size_t i = 0; i < LIVE_MAX; i++) {
        if (live_dirs[i][0] == '\0') continue;
        if (keep) {
            printf("# kept %s\n", live_dirs[i]);
        } else {
            rm_rf(live_dirs[i]);
        }
        live_dirs[i][0] = '\0';
    }
    pthread_mutex_unlock(&live_mu);
    tls_free(pthread_getspecific(tls_key));
    pthread_setspecific(tls_key, NULL);
    curl_global_cleanup();
}

static void global_init(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT};
    if (sodium_init() < 0) abort();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) abort();
    if (pthread_key_create(&tls_key, tls_free) != 0) abort();
    identity_base = randombytes_uniform(10000000);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        /* Leave handlers a test installed and signals ignored (nohup) alone. */
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    atexit(at_exit);
}

static void ensure_init(void)
{
    pthread_once(&init_once, global_init);
}

static void live_pid_add(pid_t p)
{
    pthread_mutex_lock(&live_mu);
    for (size_t i = 0; i < LIVE_MAX; i++) {
        if (live_pids[i] == 0) {
            live_pids[i] = p;
            break;
        }
    }
    pthread_mutex_unlock(&live_mu);
}

static void live_pid_remove(pid_t p)
{
    pthread_mutex_lock(&live_mu);
    for (size_t i = 0; i < LIVE_MAX; i++) {
        if (live_pids[i] == p) live_pids[i] = 0;
    }
    pthread_mutex_unlock(&live_mu);
}

static void live_dir_set(const char *dir, int add)
{
    pthread_mutex_lock(&live_mu);
    for (size_t i = 0; i < LIVE_MAX; i++) {
        if (add ? live_dirs[i][0] == '\0' : strcmp(live_dirs[i], dir) == 0) {
            if (add) {
                snprintf(live_dirs[i], sizeof live_dirs[i], "%s", dir);
            } else {
                live_dirs[i][0] = '\0';
            }
            break;
        }
    }
    pthread_mutex_unlock(&live_mu);
}

/*--- Failures -----------------------------------------------------------------*/

void h_set_fail_hook(void (*hook)(void))
{
    fail_hook = hook;
    fail_thread = pthread_self();
}

void h_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    flockfile(stdout);
    printf("FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    funlockfile(stdout);
    if (fail_hook != NULL && pthread_equal(pthread_self(), fail_thread)) fail_hook();
    kill_all_servers();
    abort();
}

/*--- Small utilities ----------------------------------------------------------*/

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) abort();
    return p;
}

H_PRINTF(1, 0) static char *xvasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    if (fmt == NULL) abort(); /* quiets a gcc 12 -O1 -fsanitize=undefined false positive */
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) abort();
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

H_PRINTF(1, 2) static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Splits s (copied into buf) on blanks into argv[*argc...]; '...' and "..."
 * group (no escapes). Returns 0, or -1 if there are too many words or the
 * line does not fit buf. */
static int split_args(char *buf, size_t cap, const char *s, char **argv, int *argc, int max)
{
    if (s == NULL) return 0;
    if (strlen(s) >= cap) return -1;
    char *w = buf;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (*p == '\0') return 0;
        if (*argc >= max) return -1;
        argv[(*argc)++] = w;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p != '\0' && *p != q) *w++ = *p++;
                if (*p == q) p++;
            } else {
                *w++ = *p++;
            }
        }
        *w++ = '\0';
    }
}

/* Removes a directory tree (no symlink following). Best effort. */
static void rm_tree_at(int dfd, const char *name)
{
    if (unlinkat(dfd, name, 0) == 0) return;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        rm_tree_at(dirfd(d), e->d_name);
    }
    closedir(d);
    unlinkat(dfd, name, AT_REMOVEDIR);
}

static void rm_rf(const char *path)
{
    rm_tree_at(AT_FDCWD, path);
}

/* The last TAIL_BYTES of a file, from a line boundary, each line prefixed
 * with "  | ", into out (TAIL_CAP bytes). */
#define TAIL_CAP (5 * TAIL_BYTES + 16)
static const char *file_tail(const char *path, char out[static TAIL_CAP])
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return "  | (no log)";
    char raw[TAIL_BYTES + 1];
    long start = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > TAIL_BYTES) start = size - TAIL_BYTES;
    }
    fseek(f, start, SEEK_SET);
    size_t n = fread(raw, 1, TAIL_BYTES, f);
    fclose(f);
    raw[n] = '\0';
    const char *p = raw;
    if (start > 0 && strchr(p, '\n') != NULL) p = strchr(p, '\n') + 1;
    if (*p == '\0') return "  | (empty log)";
    char *w = out;
    int bol = 1;
    for (; *p != '\0'; p++) {
        if (bol) {
            memcpy(w, "  | ", 4);
            w += 4;
        }
        bol = *p == '\n';
        if (!bol || p[1] != '\0') *w++ = *p;
    }
    *w = '\0';
    return out;
}

static int decode_status(int st)
{
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

/*--- Running ducatd commands ------------------------------------------------------*/

const char *h_ducatd(void)
{
    const char *p = getenv("DUCATD");
    return p != NULL && *p != '\0' ? p : "build/ducatd";
}

/* Child side of fork: only async-signal-safe calls until exec. */
static void child_prepare(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

/* Runs argv[0] with argv, output into out, waiting at most timeout_ms.
 * Returns the exit code as srv_cmd documents. */
static int run_capture(char *const argv[], char *out, size_t cap, long timeout_ms)
{
    char sink[1];
    if (out == NULL || cap == 0) {
        out = sink;
        cap = sizeof sink;
    }
    out[0] = '\0';
    int opipe[2], epipe[2];
    if (pipe(opipe) != 0) return -1;
    if (pipe(epipe) != 0) {
        close(opipe[0]);
        close(opipe[1]);
        return -1;
    }
    fcntl(opipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(epipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(epipe[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out, cap, "fork: %s", strerror(errno));
        close(opipe[0]);
        close(opipe[1]);
        close(epipe[0]);
        close(epipe[1]);
        return -1;
    }
    if (pid == 0) {
        child_prepare();
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(opipe[1], 1);
        dup2(opipe[1], 2);
        execv(argv[0], argv);
        int e = errno;
        ssize_t wr = write(epipe[1], &e, sizeof e);
        (void)wr;
        _exit(127);
    }
    close(opipe[1]);
    close(epipe[1]);

    size_t used = 0;
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    int timed_out = 0;
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline) {
            timed_out = 1;
            break;
        }
        struct pollfd pfd = {opipe[0], POLLIN, 0};
        int pr = poll(&pfd, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        char chunk[4096];
        ssize_t n = read(opipe[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t take = (size_t)n;
        if (take > cap - 1 - used) take = cap - 1 - used;
        memcpy(out + used, chunk, take);
        used += take;
        out[used] = '\0';
    }
    close(opipe[0]);
    if (timed_out) kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    int exec_errno = 0;
    ssize_t got = read(epipe[0], &exec_errno, sizeof exec_errno);
    close(epipe[0]);
    if (got == (ssize_t)sizeof exec_errno) {
        snprintf(out, cap, "cannot run '%s': %s (set DUCATD or build it: make build/ducatd)",
                 argv[0], strerror(exec_errno));
        return 127;
    }
    if (timed_out) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "\n[killed after %ld ms]", timeout_ms);
    }
    return decode_status(st);
}

/* Builds argv = {ducatd, pre..., words of args} and runs it. */
static int run_ducatd(const char *const *pre, size_t npre, const char *args, char *out, size_t cap)
{
    char *argv[ARGS_MAX + 1];
    int argc = 0;
    argv[argc++] = (char *)(uintptr_t)h_ducatd();
    for (size_t i = 0; i < npre; i++) argv[argc++] = (char *)(uintptr_t)pre[i];
    size_t blen = args ? strlen(args) + 1 : 1;
    char *buf = xmalloc(blen);
    if (split_args(buf, blen, args, argv, &argc, ARGS_MAX) != 0) {
        free(buf);
        if (out != NULL && cap > 0) snprintf(out, cap, "too many arguments: %s", args);
        return -1;
    }
    argv[argc] = NULL;
    int rc = run_capture(argv, out, cap, CMD_TIMEOUT_MS);
    free(buf);
    return rc;
}

int srv_cmd(const struct srv *s, char *out, size_t cap, const char *fmt, ...)
{
    ensure_init();
    va_list ap;
    va_start(ap, fmt);
    char *args = xvasprintf(fmt, ap);
    va_end(ap);
    const char *pre[] = {"-c", s->conf};
    int rc = run_ducatd(pre, 2, args, out, cap);
    free(args);
    return rc;
}

void h_srv_conf_append(const char *file, int line, const struct srv *s, const char *text)
{
    FILE *f = fopen(s->conf, "a");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) h_fail(file, line, "cannot append to %s: %s", s->conf, strerror(errno));
}

void h_srv_clock_set(const char *file, int line, const struct srv *s, uint64_t ms)
{
    char path[sizeof s->dir + 16], tmp[sizeof s->dir + 24];
    snprintf(path, sizeof path, "%s/clock", s->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%llu\n", (unsigned long long)ms) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) h_fail(file, line, "cannot write the dev clock %s", path);
}

void h_srv_clock_real(const char *file, int line, const struct srv *s)
{
    char path[sizeof s->dir + 16];
    snprintf(path, sizeof path, "%s/clock", s->dir);
    if (unlink(path) != 0 && errno != ENOENT) {
        h_fail(file, line, "cannot remove the dev clock %s: %s", path, strerror(errno));
    }
}

int srv_audit(const struct srv *s, char *out, size_t cap)
{
    return srv_cmd(s, out, cap, "audit");
}

/*--- Server lifecycle -----------------------------------------------------------*/

/* Runs a PostgreSQL client program of the with-pg.sh cluster on database
 * db (createdb, dropdb); its exit code, output in out. */
static int pg_tool(const char *tool, const char *db, int force, char *out, size_t cap)
{
    const char *bin = getenv("DC_PG_BIN"), *dir = getenv("DC_PG_DIR");
    if (bin == NULL || dir == NULL) {
        snprintf(out, cap, "DC_PG_BIN/DC_PG_DIR not set: run under tests/with-pg.sh");
        return -1;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", bin, tool);
    const char *args[] = {path, "-h", dir, "-U", "ducat", force ? "--force" : db, force ? db : NULL,
                          NULL};
    char *argv[8];
    for (size_t i = 0; i < 8; i++) argv[i] = (char *)(uintptr_t)args[i];
    return run_capture(argv, out, cap, CMD_TIMEOUT_MS);
}

static void init_common(const char *file, int line, struct srv *s, const char *extra_init_args,
                        int pg, int shipped_calendar);

void h_srv_init(const char *file, int line, struct srv *s, const char *extra_init_args,
                int shipped_calendar)
{
    const char *st = getenv("DUCAT_TEST_STORE");
    init_common(file, line, s, extra_init_args, st != NULL && strcmp(st, "postgresql") == 0,
                shipped_calendar);
}

void h_srv_init_pg(const char *file, int line, struct srv *s, const char *extra_init_args)
{
    init_common(file, line, s, extra_init_args, 1, 0);
}

const char *h_test_calendar(void)
{
    static char *text; /* built once, kept for the process */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    if (text == NULL) {
        size_t n = 1;
        for (size_t i = 0; calendar_test[i]; i++) n += strlen(calendar_test[i]);
        text = malloc(n);
        if (text == NULL) abort();
        text[0] = '\0';
        for (size_t i = 0; calendar_test[i]; i++) strcat(text, calendar_test[i]);
    }
    pthread_mutex_unlock(&mu);
    return text;
}

/* Replaces DIR/calendar.txt (the shipped calendar `ducatd init` wrote) with
 * the test calendar; see srv_init in harness.h for why. */
static void install_test_calendar(const char *file, int line, const struct srv *s)
{
    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/calendar.txt", s->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL && fputs(h_test_calendar(), f) >= 0;
    if (f != NULL && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        h_fail(file, line, "cannot write the test calendar %s: %s", path, strerror(errno));
    }
}

void srv_clone(struct srv *dst, const struct srv *src, const char *name)
{
    memset(dst, 0, sizeof *dst);
    memcpy(dst->dir, src->dir, sizeof dst->dir);
    memcpy(dst->conf, src->conf, sizeof dst->conf);
    memcpy(dst->token, src->token, sizeof dst->token);
    memcpy(dst->pgdb, src->pgdb, sizeof dst->pgdb);
    snprintf(dst->name, sizeof dst->name, "%s", name);
    dst->is_clone = 1;
}

static void init_common(const char *file, int line, struct srv *s, const char *extra_init_args,
                        int pg, int shipped_calendar)
{
    ensure_init();
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/ducat-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        h_fail(file, line, "mkdtemp %s: %s", s->dir, strerror(errno));
    }
    live_dir_set(s->dir, 1);
    snprintf(s->conf, sizeof s->conf, "%s/ducat.conf", s->dir);

    char out[8192];
    char *args = xasprintf("%s", extra_init_args ? extra_init_args : "");
    if (pg) {
        static atomic_ulong db_counter;
        snprintf(s->pgdb, sizeof s->pgdb, "t_%d_%lu", (int)getpid(),
                 (unsigned long)atomic_fetch_add(&db_counter, 1));
        if (pg_tool("createdb", s->pgdb, 0, out, sizeof out) != 0) {
            free(args);
            s->pgdb[0] = '\0';
            h_fail(file, line, "createdb for a PostgreSQL test instance: %s", out);
        }
        /* DC_PG_HOSTS (tests/pg_failover.sh): a primary and its standby, as
         * a libpq multi-host list; ducatd must find whichever is writable */
        const char *hosts = getenv("DC_PG_HOSTS");
        char *more = hosts ? xasprintf("%s --store postgresql://ducat@/%s?host=%s"
                                       "&target_session_attrs=read-write",
                                       args, s->pgdb, hosts)
                           : xasprintf("%s --store postgresql://ducat@/%s?host=%s", args, s->pgdb,
                                       getenv("DC_PG_DIR"));
        free(args);
        args = more;
    }
    const char *pre[] = {"init", s->dir};
    int rc = run_ducatd(pre, 2, args, out, sizeof out);
    free(args);
    if (rc != 0) {
        h_fail(file, line, "%s init %s %s exited %d:\n%s", h_ducatd(), s->dir,
               extra_init_args ? extra_init_args : "", rc, out);
    }
    if (access(s->conf, R_OK) != 0) {
        h_fail(file, line, "%s init did not create %s", h_ducatd(), s->conf);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/admin.token", s->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) h_fail(file, line, "%s init did not create %s", h_ducatd(), path);
    char *got = fgets(s->token, sizeof s->token, f);
    fclose(f);
    size_t n = got ? strlen(s->token) : 0;
    while (n > 0 && (s->token[n - 1] == '\n' || s->token[n - 1] == '\r' || s->token[n - 1] == ' '))
        s->token[--n] = '\0';
    if (n == 0) h_fail(file, line, "%s is empty", path);
    if (!shipped_calendar) install_test_calendar(file, line, s);
}

static int http_do(const struct srv *s, struct api_req *r, struct api_resp *resp, long timeout_ms);

/* 1 if the port file holds a port and /v1/health answers 200. */
static int server_ready(struct srv *s, const char *port_file)
{
    FILE *f = fopen(port_file, "r");
    if (f == NULL) return 0;
    int port = 0;
    int ok = fscanf(f, "%d", &port) == 1;
    fclose(f);
    if (!ok || port <= 0 || port > 65535) return 0;
    s->port = port;
    struct api_req r = {.method = "GET", .path = "/v1/health"};
    struct api_resp resp;
    int st = http_do(s, &r, &resp, 1000);
    api_resp_free(&resp);
    if (st == 200) return 1;
    s->port = 0;
    return 0;
}

void h_srv_start(const char *file, int line, struct srv *s)
{
    ensure_init();
    if (s->pid != 0) h_fail(file, line, "srv_start: server already running (pid %d)", (int)s->pid);
    char port_file[128], log[128];
    snprintf(port_file, sizeof port_file, "%s/port%s%s", s->dir, s->name[0] ? "-" : "", s->name);
    snprintf(log, sizeof log, "%s/server%s%s.log", s->dir, s->name[0] ? "-" : "", s->name);
    unlink(port_file); /* never read a previous run's port */
    const char *bin = h_ducatd();
    if (access(bin, X_OK) != 0) {
        h_fail(file, line, "cannot run '%s': %s (set DUCATD or build it: make build/ducatd)", bin,
               strerror(errno));
    }
    const char *argv[] = {bin,           "serve",       "-c",      s->conf, "--listen",
                          "127.0.0.1:0", "--port-file", port_file, NULL};
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) h_fail(file, line, "open %s: %s", log, strerror(errno));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    static const char exec_msg[] = "ducat-test: exec of the server failed\n";
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) h_fail(file, line, "fork: %s", strerror(errno));
    if (pid == 0) {
        child_prepare();
#ifdef __linux__
        /* Dies with the thread that started it, even if that is SIGKILLed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
#endif
        if (devnull >= 0) dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        ssize_t wr = write(2, exec_msg, sizeof exec_msg - 1);
        (void)wr;
        _exit(127);
    }
    (void)parent;
    close(logfd);
    if (devnull >= 0) close(devnull);
    s->pid = pid;
    live_pid_add(pid);

    char tail[TAIL_CAP];
    uint64_t deadline = mono_ms() + START_TIMEOUT_MS;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            live_pid_remove(pid);
            s->pid = 0;
            s->port = 0;
            h_fail(file, line, "ducatd serve exited with status %d before it was ready; %s:\n%s",
                   decode_status(st), log, file_tail(log, tail));
        }
        if (server_ready(s, port_file)) return;
        if (mono_ms() >= deadline) break;
        sleep_ms(POLL_MS);
    }
    srv_kill9(s);
    h_fail(file, line,
           "ducatd serve not ready after %d ms (no port in %s or GET /v1/health not 200); "
           "%s:\n%s",
           START_TIMEOUT_MS, port_file, log, file_tail(log, tail));
}

void srv_kill9(struct srv *s)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    live_pid_remove(s->pid);
    s->pid = 0;
    s->port = 0;
}

int srv_stop(struct srv *s)
{
    if (s->pid <= 0) return -1;
    pid_t pid = s->pid;
    int rc = -1, st;
    kill(pid, SIGTERM);
    uint64_t deadline = mono_ms() + STOP_TIMEOUT_MS;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            rc = decode_status(st);
            break;
        }
        if (w < 0 && errno != EINTR) break;
        if (mono_ms() >= deadline) {
            printf("ducat-test: ducatd (pid %d) still running %d ms after SIGTERM: killed\n",
                   (int)pid, STOP_TIMEOUT_MS);
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        sleep_ms(POLL_MS);
    }
    live_pid_remove(pid);
    s->pid = 0;
    s->port = 0;
    return rc;
}

void h_srv_restart(const char *file, int line, struct srv *s)
{
    if (s->pid != 0) {
        int rc = srv_stop(s);
        if (rc != 0) {
            char log[128], tail[TAIL_CAP];
            snprintf(log, sizeof log, "%s/server.log", s->dir);
            h_fail(file, line, "ducatd exited %d on SIGTERM (expected 0); %s:\n%s", rc, log,
                   file_tail(log, tail));
        }
    }
    h_srv_start(file, line, s);
}

void srv_cleanup(struct srv *s)
{
    if (s->pid != 0) srv_stop(s);
    if (s->is_clone) {
        memset(s, 0, sizeof *s);
        return;
    }
    if (s->pgdb[0] != '\0' && getenv("DUCAT_KEEP_TEST_DIRS") == NULL) {
        char out[1024];
        if (pg_tool("dropdb", s->pgdb, 1, out, sizeof out) != 0) {
            printf("ducat-test: dropdb %s: %s\n", s->pgdb, out);
        }
    }
    if (s->dir[0] != '\0') {
        if (getenv("DUCAT_KEEP_TEST_DIRS") != NULL) {
            printf("# kept %s\n", s->dir);
        } else {
            rm_rf(s->dir);
        }
        live_dir_set(s->dir, 0);
    }
    memset(s, 0, sizeof *s);
}

/*--- HTTP -------------------------------------------------------------------------*/

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
    buf_add(userdata, data, size * nmemb);
    return size * nmemb;
}

static struct tls *tls_get(void)
{
    ensure_init();
    struct tls *t = pthread_getspecific(tls_key);
    if (t != NULL) return t;
    t = calloc(1, sizeof *t);
    if (t == NULL) abort();
    t->curl = curl_easy_init();
    if (t->curl == NULL) abort();
    pthread_setspecific(tls_key, t);
    return t;
}

const char *api_last_error(void)
{
    return tls_get()->err;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *computed,
                                     const char *override)
{
    const char *v = override != NULL ? override : computed;
    if (v == NULL || v == h_omit) return h;
    char line[1024];
    snprintf(line, sizeof line, "%s: %s", name, v);
    struct curl_slist *n = curl_slist_append(h, line);
    if (n == NULL) abort();
    return n;
}

static int has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < 8 && headers[i] != NULL; i++) {
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':') return 1;
    }
    return 0;
}

struct curl_slist *api_headers(struct api_req *r)
{
    const char *body = r->body;
    size_t body_len = body == NULL ? 0 : r->body_len ? r->body_len : strlen(body);

    /* Signature headers. */
    r->sent_key[0] = r->sent_time[0] = r->sent_nonce[0] = r->sent_sig[0] = '\0';
    if (r->dev != NULL) {
        uint64_t tm = r->time_ms ? r->time_ms : h_now_ms();
        uint8_t nonce[DC_NONCE_BYTES], sig[DC_SIG_BYTES];
        if (r->nonce != NULL) {
            memcpy(nonce, r->nonce, sizeof nonce);
        } else {
            randombytes_buf(nonce, sizeof nonce);
        }
        memcpy(r->sent_key, r->dev->pk_hex, sizeof r->sent_key);
        snprintf(r->sent_time, sizeof r->sent_time, "%llu", (unsigned long long)tm);
        dc_hex_encode(r->sent_nonce, nonce, sizeof nonce);
        /* A target the signer refuses (too long, newline) is still sent,
         * with an all-zero signature, so such requests can be tested. */
        if (dc_auth_sign(sig, r->dev->sk, r->method, r->path, (const uint8_t *)body, body_len, tm,
                         nonce) != DC_OK) {
            memset(sig, 0, sizeof sig);
        }
        dc_hex_encode(r->sent_sig, sig, sizeof sig);
    }
    int dev = r->dev != NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (h == NULL) abort();
    if (!has_header(r->headers, "Content-Type")) {
        /* "Content-Type:" alone stops curl adding a form type to an empty POST. */
        h = curl_slist_append(h, body != NULL ? "Content-Type: application/json" : "Content-Type:");
        if (h == NULL) abort();
    }
    h = add_header(h, "X-Ducat-Key", dev ? r->sent_key : NULL, r->key);
    h = add_header(h, "X-Ducat-Time", dev ? r->sent_time : NULL, r->time);
    h = add_header(h, "X-Ducat-Nonce", dev ? r->sent_nonce : NULL, r->nonce_hex);
    h = add_header(h, "X-Ducat-Signature", dev ? r->sent_sig : NULL, r->sig);
    if (r->bearer != NULL) {
        char line[512];
        snprintf(line, sizeof line, "Authorization: Bearer %s", r->bearer);
        h = curl_slist_append(h, line);
        if (h == NULL) abort();
    }
    for (size_t i = 0; i < 8 && r->headers[i] != NULL; i++) {
        h = curl_slist_append(h, r->headers[i]);
        if (h == NULL) abort();
    }
    return h;
}

static int http_do(const struct srv *s, struct api_req *r, struct api_resp *resp, long timeout_ms)
{
    struct tls *t = tls_get();
    CURL *c = t->curl;
    memset(resp, 0, sizeof *resp);
    t->err[0] = '\0';
    const char *body = r->body;
    size_t body_len = body == NULL ? 0 : r->body_len ? r->body_len : strlen(body);
    struct curl_slist *h = api_headers(r);

    char url[DC_AUTH_TARGET_MAX + 64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, r->path);
    struct buf rb = {0}, hb = {0};
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->err);
    if (body != NULL || (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)) {
        /* POST-like: an empty body is sent as Content-Length: 0. */
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }

    CURLcode cc = s->port > 0 ? curl_easy_perform(c) : CURLE_COULDNT_CONNECT;
    if (s->port <= 0) snprintf(t->err, sizeof t->err, "server not running (port 0)");
    long code = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    } else if (t->err[0] == '\0') {
        snprintf(t->err, sizeof t->err, "%s", curl_easy_strerror(cc));
    }
    /* The handle keeps pointers into h and url; drop them before freeing. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(h);

    buf_add(&rb, "", 0);
    buf_add(&hb, "", 0);
    resp->status = (int)code;
    resp->body = rb.p;
    resp->len = rb.len;
    resp->headers = hb.p;
    resp->json = rb.len > 0 ? json_loadb(rb.p, rb.len, 0, NULL) : NULL;
    return resp->status;
}

int api_raw(const struct srv *s, struct api_req *r, struct api_resp *resp)
{
    return http_do(s, r, resp, HTTP_TIMEOUT_MS);
}

void api_resp_free(struct api_resp *resp)
{
    json_decref(resp->json);
    free(resp->body);
    free(resp->headers);
    memset(resp, 0, sizeof *resp);
}

int api_resp_header(const struct api_resp *resp, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = resp->headers; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = ll - (size_t)(v - p);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) vl--;
            if (cap > 0) snprintf(out, cap, "%.*s", (int)vl, v);
            return 1;
        }
        p = eol ? eol + 1 : p + ll;
    }
    return 0;
}

static int simple(const struct srv *s, struct api_req *r, json_t **out)
{
    struct api_resp resp;
    int st = http_do(s, r, &resp, HTTP_TIMEOUT_MS);
    if (out != NULL) {
        *out = resp.json;
        resp.json = NULL;
    }
    api_resp_free(&resp);
    return st;
}

int api(const struct srv *s, const struct dev *d, const char *method, const char *path,
        const char *body, json_t **out)
{
    struct api_req r = {.method = method, .path = path, .body = body, .dev = d};
    return simple(s, &r, out);
}

int apif(const struct srv *s, const struct dev *d, const char *method, const char *path,
         json_t **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = xvasprintf(fmt, ap);
    va_end(ap);
    int st = api(s, d, method, path, body, out);
    free(body);
    return st;
}

int admin(const struct srv *s, const char *token, const char *method, const char *path,
          const char *body, json_t **out)
{
    struct api_req r = {.method = method, .path = path, .body = body, .bearer = token};
    return simple(s, &r, out);
}

int adminf(const struct srv *s, const char *token, const char *method, const char *path,
           json_t **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = xvasprintf(fmt, ap);
    va_end(ap);
    int st = admin(s, token, method, path, body, out);
    free(body);
    return st;
}

void new_request_id(char out[static 40])
{
    unsigned long n = atomic_fetch_add(&request_counter, 1) + 1;
    snprintf(out, 40, "h-%ld-%lu", (long)getpid(), n);
}

/*--- JSON -------------------------------------------------------------------------*/

/* Compact dump of j into out (truncated), for failure messages. */
static const char *dump(const json_t *j, char *out, size_t cap)
{
    if (j == NULL) {
        snprintf(out, cap, "(no JSON body)");
        return out;
    }
    size_t n = json_dumpb(j, out, cap - 1, JSON_COMPACT);
    if (n >= cap - 1) {
        n = cap - 4;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

json_t *h_json_get(const char *file, int line, const json_t *o, const char *key)
{
    char d[1024];
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (v == NULL) h_fail(file, line, "no \"%s\" in %s", key, dump(o, d, sizeof d));
    return v;
}

json_t *h_admin_get(const char *file, int line, const struct srv *s, const char *path)
{
    json_t *j = NULL;
    int st = admin(s, s->token, "GET", path, NULL, &j);
    if (st != 200) {
        json_decref(j);
        h_fail(file, line, "GET %s answered %d", path, st);
    }
    return j;
}

long long h_admin_release(const char *file, int line, const struct srv *s)
{
    json_t *j = NULL;
    int st = admin(s, s->token, "POST", "/v1/admin/holds/release", "{}", &j);
    if (st != 200) {
        json_decref(j);
        h_fail(file, line, "POST /v1/admin/holds/release answered %d", st);
    }
    long long n = h_json_int(file, line, j, "released");
    json_decref(j);
    return n;
}

long long metric_in(const char *text, const char *sample)
{
    size_t n = strlen(sample);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, sample, n) == 0 && p[n] == ' ') return strtoll(p + n + 1, NULL, 10);
        p = strchr(p, '\n');
        if (p) p++;
    }
    return -1;
}

long long h_srv_metric(const char *file, int line, const struct srv *s, const char *sample)
{
    struct api_req q = {.method = "GET", .path = "/metrics"};
    struct api_resp r;
    int st = api_raw(s, &q, &r);
    long long v = st == 200 ? metric_in(r.body, sample) : -1;
    api_resp_free(&r);
    if (st != 200) h_fail(file, line, "GET /metrics answered %d", st);
    return v;
}

long long h_json_int(const char *file, int line, const json_t *o, const char *key)
{
    char d[1024];
    json_t *v = h_json_get(file, line, o, key);
    if (!json_is_integer(v)) {
        h_fail(file, line, "\"%s\" is not an integer in %s", key, dump(o, d, sizeof d));
    }
    return (long long)json_integer_value(v);
}

const char *h_json_str(const char *file, int line, const json_t *o, const char *key)
{
    char d[1024];
    json_t *v = h_json_get(file, line, o, key);
    if (!json_is_string(v)) {
        h_fail(file, line, "\"%s\" is not a string in %s", key, dump(o, d, sizeof d));
    }
    return json_string_value(v);
}

void h_expect_err(const char *file, int line, int status, const json_t *j, int http,
                  const char *name)
{
    char d[1024];
    json_t *n = json_is_object(j) ? json_object_get(j, "name") : NULL;
    const char *got = json_is_string(n) ? json_string_value(n) : NULL;
    if (status != http || got == NULL || strcmp(got, name) != 0) {
        h_fail(file, line, "expected %d %s, got %d %s", http, name, status, dump(j, d, sizeof d));
    }
}

/*--- Devices and accounts -----------------------------------------------------------*/

void dev_new(struct dev *d)
{
    ensure_init();
    memset(d, 0, sizeof *d);
    crypto_sign_ed25519_keypair(d->pk, d->sk);
    dc_hex_encode(d->pk_hex, d->pk, sizeof d->pk);
}

void h_dev_sign_hex(const char *file, int line, char sig[static 2 * DC_SIG_BYTES + 1],
                    const struct dev *d, const char *method, const char *path, const char *body,
                    size_t body_len, uint64_t time_ms, const uint8_t nonce[static DC_NONCE_BYTES])
{
    uint8_t raw[DC_SIG_BYTES];
    enum dc_err e = dc_auth_sign(raw, d->sk, method, path, (const uint8_t *)body,
                                 body == NULL ? 0 : body_len, time_ms, nonce);
    if (e != DC_OK) h_fail(file, line, "dc_auth_sign: %s", dc_err_name(e));
    dc_hex_encode(sig, raw, sizeof raw);
}

void make_identity(char id[static 19], char phone[static 16])
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    unsigned long k = identity_base + atomic_fetch_add(&identity_counter, 1);
    unsigned long date = k / 1000;
    snprintf(id, 19, "110101%04lu%02lu%02lu%03lu", 1950 + date % 50, 1 + (date / 50) % 12,
             1 + (date / 600) % 28, k % 1000);
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (id[i] - '0') * w[i];
    id[17] = "10X98765432"[sum % 11];
    id[18] = '\0';
    snprintf(phone, 16, "+86139%08lu", k % 100000000);
}

/* Registers d; returns the account and copies the response's "status". */
static long long do_register(const char *file, int line, const struct srv *s, struct dev *d,
                             const char *name, char *status, size_t status_cap)
{
    char id[19], phone[16], dd[1024];
    make_identity(id, phone);
    json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "national_id", id, "phone", phone,
                            "device_pub", d->pk_hex);
    if (req == NULL) abort();
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (body == NULL) abort();
    json_t *j = NULL;
    int st = api(s, d, "POST", "/v1/register", body, &j);
    free(body);
    if (st != 201 && st != 200) {
        dump(j, dd, sizeof dd);
        json_decref(j);
        h_fail(file, line, "POST /v1/register answered %d %s", st, dd);
    }
    json_t *acc = json_is_object(j) ? json_object_get(j, "account") : NULL;
    json_t *stv = json_is_object(j) ? json_object_get(j, "status") : NULL;
    if (!json_is_integer(acc)) {
        dump(j, dd, sizeof dd);
        json_decref(j);
        h_fail(file, line, "POST /v1/register: no integer \"account\" in %s", dd);
    }
    d->account = (long long)json_integer_value(acc);
    snprintf(status, status_cap, "%s", json_is_string(stv) ? json_string_value(stv) : "");
    json_decref(j);
    return d->account;
}

long long h_register_dev(const char *file, int line, const struct srv *s, struct dev *d,
                         const char *name)
{
    char status[32];
    return do_register(file, line, s, d, name, status, sizeof status);
}

int verify_account(const struct srv *s, long long account)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld/verify", account);
    return admin(s, s->token, "POST", path, "{}", NULL);
}

int fund(const struct srv *s, long long account, long long amount)
{
    char rid[40];
    new_request_id(rid);
    return adminf(s, s->token, "POST", "/v1/admin/fund", NULL,
                  "{\"request_id\":\"%s\",\"account\":%lld,\"amount\":%lld}", rid, account, amount);
}

void h_dev_setup(const char *file, int line, const struct srv *s, struct dev *d, const char *name,
                 long long amount)
{
    char status[32];
    dev_new(d);
    do_register(file, line, s, d, name, status, sizeof status);
    if (strcmp(status, "verified") != 0) {
        int st = verify_account(s, d->account);
        if (st < 200 || st > 299) {
            h_fail(file, line, "verifying account %lld answered %d", d->account, st);
        }
    }
    if (amount > 0) {
        int st = fund(s, d->account, amount);
        if (st < 200 || st > 299) {
            h_fail(file, line, "funding account %lld with %lld answered %d", d->account, amount,
                   st);
        }
    }
}

struct balance h_balance_of(const char *file, int line, const struct srv *s, const struct dev *d)
{
    json_t *j = NULL;
    int st = api(s, d, "GET", "/v1/balance", NULL, &j);
    if (st != 200) {
        char dd[1024];
        dump(j, dd, sizeof dd);
        json_decref(j);
        h_fail(file, line, "GET /v1/balance answered %d %s", st, dd);
    }
    struct balance b = {h_json_int(file, line, j, "available"), h_json_int(file, line, j, "held"),
                        h_json_int(file, line, j, "offline_outstanding"),
                        json_array_size(h_json_get(file, line, j, "holds"))};
    json_decref(j);
    return b;
}

long long h_balance_available(const char *file, int line, const struct srv *s, const struct dev *d)
{
    char dd[1024];
    json_t *j = NULL;
    int st = api(s, d, "GET", "/v1/balance", NULL, &j);
    if (st != 200) {
        dump(j, dd, sizeof dd);
        json_decref(j);
        h_fail(file, line, "GET /v1/balance answered %d %s", st, dd);
    }
    json_t *v = json_object_get(j, "available");
    if (!json_is_integer(v)) {
        dump(j, dd, sizeof dd);
        json_decref(j);
        h_fail(file, line, "GET /v1/balance: no integer \"available\" in %s", dd);
    }
    long long a = (long long)json_integer_value(v);
    json_decref(j);
    return a;
}

/*--- Coins ----------------------------------------------------------------------------*/

/* Decodes a devcert hex into d (checking it certifies d's key). Returns NULL
 * or a static reason. */
static const char *store_devcert(struct dev *d, const json_t *hexv)
{
    if (!json_is_string(hexv)) return "no string \"devcert\"";
    const char *hex = json_string_value(hexv);
    uint8_t b[DC_DEVCERT_BYTES];
    struct dc_devcert c;
    if (dc_hex_decode(b, sizeof b, hex, strlen(hex)) != DC_OK)
        return "\"devcert\" is not 126 bytes of hex";
    if (dc_devcert_decode(&c, b, sizeof b) != DC_OK) return "\"devcert\" does not decode";
    if (memcmp(c.pub, d->pk, sizeof d->pk) != 0) return "\"devcert\" certifies another key";
    memcpy(d->devcert, b, sizeof b);
    d->has_devcert = 1;
    return NULL;
}

void h_dev_sync(const char *file, int line, const struct srv *s, struct dev *d)
{
    char dd[1024];
    json_t *j = NULL;
    int st = api(s, d, "POST", "/v1/sync", "{}", &j);
    const char *why = st == 200 ? store_devcert(d, json_object_get(j, "devcert")) : NULL;
    if (st != 200 || why != NULL) {
        dump(j, dd, sizeof dd);
        json_decref(j);
        h_fail(file, line, "POST /v1/sync answered %d%s%s %s", st, why ? ": " : "", why ? why : "",
               dd);
    }
    json_decref(j);
}

int h_withdraw(const char *file, int line, const struct srv *s, struct dev *d, long long amount,
               struct coin *coins, size_t cap, size_t *n, json_t **out)
{
    char rid[40], dd[1024];
    json_t *j = NULL;
    new_request_id(rid);
    *n = 0;
    int st = apif(s, d, "POST", "/v1/withdrawals", &j, "{\"request_id\":\"%s\",\"amount\":%lld}",
                  rid, amount);
    if (st == 201) {
        const char *why = store_devcert(d, json_object_get(j, "devcert"));
        json_t *arr = json_object_get(j, "coins");
        if (why == NULL && !json_is_array(arr)) why = "no array \"coins\"";
        if (why == NULL && json_array_size(arr) > cap) why = "more coins than the caller's cap";
        for (size_t i = 0; why == NULL && i < json_array_size(arr); i++) {
            const char *hex = json_string_value(json_array_get(arr, i));
            size_t hl = hex ? strlen(hex) : 0;
            if (hex == NULL || hl % 2 != 0 || hl / 2 > DC_COIN_MAX_BYTES ||
                dc_hex_decode(coins[i].b, hl / 2, hex, hl) != DC_OK) {
                why = "a coin is not hex of at most DC_COIN_MAX_BYTES";
                break;
            }
            coins[i].len = hl / 2;
            *n = i + 1;
        }
        if (why != NULL) {
            dump(j, dd, sizeof dd);
            json_decref(j);
            h_fail(file, line, "POST /v1/withdrawals: %s in %s", why, dd);
        }
    }
    if (out != NULL) {
        *out = j;
    } else {
        json_decref(j);
    }
    return st;
}

char *coin_hex(const struct coin *c)
{
    char *h = xmalloc(2 * c->len + 1);
    dc_hex_encode(h, c->b, c->len);
    return h;
}

int deposit(const struct srv *s, const struct dev *d, const struct coin *coins, size_t n,
            const char *request_id, json_t **out)
{
    char rid[40];
    if (request_id == NULL) {
        new_request_id(rid);
        request_id = rid;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char *h = coin_hex(&coins[i]);
        json_array_append_new(arr, json_string(h));
        free(h);
    }
    json_t *req = json_pack("{s:s, s:o}", "request_id", request_id, "coins", arr);
    if (req == NULL) abort();
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (body == NULL) abort();
    int st = api(s, d, "POST", "/v1/deposits", body, out);
    free(body);
    return st;
}

void h_coin_from_hex(const char *file, int line, struct coin *c, const char *hex)
{
    size_t hl = strlen(hex);
    if (hl % 2 != 0 || hl / 2 > DC_COIN_MAX_BYTES) {
        h_fail(file, line, "coin hex of %zu digits (odd or over DC_COIN_MAX_BYTES)", hl);
    }
    if (dc_hex_decode(c->b, hl / 2, hex, hl) != DC_OK) h_fail(file, line, "coin is not hex");
    c->len = hl / 2;
}

int64_t h_coin_value(const char *file, int line, const struct coin *c)
{
    static _Thread_local struct dc_coin parsed; /* about 20 KB: off the stack */
    enum dc_err e = dc_coin_decode(&parsed, c->b, c->len);
    if (e != DC_OK) h_fail(file, line, "dc_coin_decode: %s", dc_err_name(e));
    return dc_coin_value(&parsed);
}

void h_coin_transfer(const char *file, int line, struct coin *c, const struct dev *from,
                     const struct dev *to)
{
    ensure_init();
    if (!to->has_devcert)
        h_fail(file, line, "coin_transfer: the receiver has no devcert (dev_sync it)");
    uint8_t nonce[DC_NONCE_BYTES];
    randombytes_buf(nonce, sizeof nonce);
    enum dc_err e = dc_coin_transfer(c->b, sizeof c->b, &c->len, from->sk, to->devcert, nonce);
    if (e != DC_OK) h_fail(file, line, "dc_coin_transfer: %s", dc_err_name(e));
}

void h_coin_split(const char *file, int line, const struct coin *c, const struct dev *owner,
                  const int64_t *values, size_t n, struct coin *parts)
{
    ensure_init();
    if (n == 0) h_fail(file, line, "coin_split: no parts");
    if (&parts[0] != c) parts[0] = *c;
    enum dc_err e =
        dc_coin_split(parts[0].b, sizeof parts[0].b, &parts[0].len, owner->sk, values, n);
    if (e != DC_OK) h_fail(file, line, "dc_coin_split: %s", dc_err_name(e));
    for (size_t i = 1; i < n; i++) {
        parts[i] = parts[0];
        e = dc_coin_select_part(parts[i].b, parts[i].len, (uint8_t)i);
        if (e != DC_OK) h_fail(file, line, "dc_coin_select_part(%zu): %s", i, dc_err_name(e));
    }
}

void h_coin_deposit(const char *file, int line, struct coin *c, const struct dev *owner,
                    long long account)
{
    ensure_init();
    if (account <= 0) h_fail(file, line, "coin_deposit: account %lld", account);
    enum dc_err e =
        dc_coin_deposit(c->b, sizeof c->b, &c->len, owner->sk, (uint64_t)account, h_now_ms());
    if (e != DC_OK) h_fail(file, line, "dc_coin_deposit: %s", dc_err_name(e));
}
