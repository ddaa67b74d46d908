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
 * $DC_FAULT_CTL.fired. "hold N" instead stops the calling thread at the
 * N-th call, appends "hold N" to the .fired file and waits until the control
 * file changes before passing the call on: meanwhile the test kills the
 * PostgreSQL server (SIGKILL of the postmaster and its backends) and starts
 * it again, so the call meets a connection whose server died at that step.
 * "holdafter N" passes the N-th call on first and holds after it: the
 * statement, or the commit of a pipeline sync, reached the server, and its
 * answer is lost with the server (the uncertain commit). The real
 * functions are found with dlsym(RTLD_NEXT). A test helper, never part of
 * ducatd: tests/api/test_api_fault.c on PostgreSQL
 * (tests/pg/test_api_fault.pg).
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

#include "ctl.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fault_ctl ctl;
static long count;

/* Bumped (under lock) whenever a thread sees the control file change: only
 * the first thread to look after a change sees fault_ctl_refresh return 1,
 * so a held thread waits for this to move, not for its own refresh. */
static long generation;

static void refresh_locked(const char *path)
{
    if (fault_ctl_refresh(&ctl, path)) {
        count = 0;
        generation++;
    }
}

/* Holds the calling thread until the control file changes after
 * generation gen (the test has killed and restarted the server meanwhile). */
static void hold_until_released(const char *path, const char *kind, long n, long gen)
{
    /* the other threads keep the lock free meanwhile (they see the same file) */
    fault_ctl_fired(path, kind, n);
    for (;;) {
        usleep(10000);
        pthread_mutex_lock(&lock);
        refresh_locked(path);
        int changed = generation != gen;
        pthread_mutex_unlock(&lock);
        if (changed) return;
    }
}

/* Counts one statement call on conn; at the N-th, cuts the connection
 * ("drop") or holds before the call ("hold"). Returns 1 if the caller must
 * hold after the call ("holdafter": the statement, or the commit, reached
 * the server, whose answer is lost when it is killed); OUT: *gen, the
 * control file's generation to wait past. */
static int step(PGconn *conn, long *gen)
{
    const char *path = getenv("DC_FAULT_CTL");
    if (!path || !*path || !conn) return 0;
    pthread_mutex_lock(&lock);
    refresh_locked(path);
    int hold = strcmp(ctl.kind, "hold") == 0, after = strcmp(ctl.kind, "holdafter") == 0;
    int cut = (hold || after || strcmp(ctl.kind, "drop") == 0) && ++count == ctl.target;
    long n = ctl.target;
    *gen = generation;
    pthread_mutex_unlock(&lock);
    if (!cut) return 0;
    if (after) return 1;
    if (hold) {
        hold_until_released(path, "hold", n, *gen);
        return 0;
    }
    int fd = PQsocket(conn);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    fault_ctl_fired(path, "drop", n);
    return 0;
}

/* After the real call: holds if step asked for it. */
static void after(int hold, long gen)
{
    if (!hold) return;
    pthread_mutex_lock(&lock);
    long n = ctl.target;
    pthread_mutex_unlock(&lock);
    hold_until_released(getenv("DC_FAULT_CTL"), "holdafter", n, gen);
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
    long g = 0;
    int h = step(conn, &g);
    __typeof__(&PQexec) real;
    REAL(PQexec, real);
    PGresult *r = real(conn, query);
    after(h, g);
    return r;
}

PGresult *PQexecPrepared(PGconn *conn, const char *stmt, int n, const char *const *values,
                         const int *lengths, const int *formats, int result_format)
{
    long g = 0;
    int h = step(conn, &g);
    __typeof__(&PQexecPrepared) real;
    REAL(PQexecPrepared, real);
    PGresult *r = real(conn, stmt, n, values, lengths, formats, result_format);
    after(h, g);
    return r;
}

PGresult *PQprepare(PGconn *conn, const char *stmt, const char *query, int n, const Oid *types)
{
    long g = 0;
    int h = step(conn, &g);
    __typeof__(&PQprepare) real;
    REAL(PQprepare, real);
    PGresult *r = real(conn, stmt, query, n, types);
    after(h, g);
    return r;
}

int PQsendQueryParams(PGconn *conn, const char *command, int n, const Oid *types,
                      const char *const *values, const int *lengths, const int *formats,
                      int result_format)
{
    long g = 0;
    int h = step(conn, &g);
    __typeof__(&PQsendQueryParams) real;
    REAL(PQsendQueryParams, real);
    int r = real(conn, command, n, types, values, lengths, formats, result_format);
    after(h, g);
    return r;
}

int PQsendQueryPrepared(PGconn *conn, const char *stmt, int n, const char *const *values,
                        const int *lengths, const int *formats, int result_format)
{
    long g = 0;
    int h = step(conn, &g);
    __typeof__(&PQsendQueryPrepared) real;
    REAL(PQsendQueryPrepared, real);
    int r = real(conn, stmt, n, values, lengths, formats, result_format);
    after(h, g);
    return r;
}

int PQpipelineSync(PGconn *conn)
{
    long g = 0;
    int h = step(conn, &g);
    __typeof__(&PQpipelineSync) real;
    REAL(PQpipelineSync, real);
    int r = real(conn);
    after(h, g);
    return r;
}
