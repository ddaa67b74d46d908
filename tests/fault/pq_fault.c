/*
 * pq_fault.c - connection faults for ducatd on PostgreSQL: a shared object
 * loaded with LD_PRELOAD that wraps the libpq calls store_pg.c sends
 * statements with (PQexec, PQexecPrepared, PQprepare, PQsendQueryParams,
 * PQsendQueryPrepared, PQpipelineSync) and, at the N-th of them after the
 * test arms it, cuts the connection (shutdown of its socket) before passing
 * the call on: the statement, or the commit, meets a dead connection, as
 * when the network or the database server drops it at that step.
 *
 * Armed like vfs_fault.c: $DC_FAULT_CTL holds "drop N" ("none 0" or no
 * file: everything passes); an injection appends "drop N" to
 * $DC_FAULT_CTL.fired. The real functions are found with dlsym(RTLD_NEXT).
 * A test helper, never part of ducatd: tests/api/test_api_fault.c on
 * PostgreSQL (tests/pg/test_api_fault.pg).
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct stat ctl_seen;
static int armed;
static long target, count;

/* Re-reads the control file if it changed; resets the count then. */
static void refresh(const char *ctl)
{
    struct stat st;
    if (stat(ctl, &st) != 0) {
        armed = 0;
        memset(&ctl_seen, 0, sizeof ctl_seen);
        return;
    }
    if (st.st_ino == ctl_seen.st_ino && st.st_size == ctl_seen.st_size &&
        st.st_mtim.tv_sec == ctl_seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == ctl_seen.st_mtim.tv_nsec) {
        return;
    }
    ctl_seen = st;
    armed = 0;
    count = 0;
    FILE *f = fopen(ctl, "r");
    if (!f) return;
    char k[16] = "";
    long n = 0;
    if (fscanf(f, "%15s %ld", k, &n) == 2 && n > 0 && strcmp(k, "drop") == 0) {
        armed = 1;
        target = n;
    }
    fclose(f);
}

/* Counts one statement call on conn; cuts the connection at the N-th. */
static void step(PGconn *conn)
{
    const char *ctl = getenv("DC_FAULT_CTL");
    if (!ctl || !*ctl || !conn) return;
    pthread_mutex_lock(&lock);
    refresh(ctl);
    int cut = armed && ++count == target;
    pthread_mutex_unlock(&lock);
    if (!cut) return;
    int fd = PQsocket(conn);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    char path[4096];
    snprintf(path, sizeof path, "%s.fired", ctl);
    int out = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out >= 0) {
        char line[64];
        int len = snprintf(line, sizeof line, "drop %ld\n", target);
        if (write(out, line, (size_t)len) < 0) { /* best effort */
        }
        close(out);
    }
}

/* The next definition of name (libpq's own) into fp: dlsym returns an
 * object pointer, copied bytewise into a function pointer as POSIX allows. */
#define REAL(name, fp)                                                                             \
    do {                                                                                           \
        void *sym_ = dlsym(RTLD_NEXT, #name);                                                      \
        memcpy(&(fp), &sym_, sizeof(fp));                                                          \
    } while (0)

PGresult *PQexec(PGconn *conn, const char *query)
{
    step(conn);
    __typeof__(&PQexec) real;
    REAL(PQexec, real);
    return real(conn, query);
}

PGresult *PQexecPrepared(PGconn *conn, const char *stmt, int n, const char *const *values,
                         const int *lengths, const int *formats, int result_format)
{
    step(conn);
    __typeof__(&PQexecPrepared) real;
    REAL(PQexecPrepared, real);
    return real(conn, stmt, n, values, lengths, formats, result_format);
}

PGresult *PQprepare(PGconn *conn, const char *stmt, const char *query, int n, const Oid *types)
{
    step(conn);
    __typeof__(&PQprepare) real;
    REAL(PQprepare, real);
    return real(conn, stmt, query, n, types);
}

int PQsendQueryParams(PGconn *conn, const char *command, int n, const Oid *types,
                      const char *const *values, const int *lengths, const int *formats,
                      int result_format)
{
    step(conn);
    __typeof__(&PQsendQueryParams) real;
    REAL(PQsendQueryParams, real);
    return real(conn, command, n, types, values, lengths, formats, result_format);
}

int PQsendQueryPrepared(PGconn *conn, const char *stmt, int n, const char *const *values,
                        const int *lengths, const int *formats, int result_format)
{
    step(conn);
    __typeof__(&PQsendQueryPrepared) real;
    REAL(PQsendQueryPrepared, real);
    return real(conn, stmt, n, values, lengths, formats, result_format);
}

int PQpipelineSync(PGconn *conn)
{
    step(conn);
    __typeof__(&PQpipelineSync) real;
    REAL(PQpipelineSync, real);
    return real(conn);
}
