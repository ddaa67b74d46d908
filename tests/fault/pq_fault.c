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
 * answer is lost with the server (the uncertain commit). "full N" makes
 * the N-th statement fail on the server as a full disk makes it fail:
 * in its place the shim sends a statement that raises SQLSTATE 53100
 * (disk_full) there, so the store reads a real error result in the same
 * place of its round trip (a pipeline's items after it are skipped by the
 * server as after any failure). It fires once; pipeline syncs and ROLLBACK
 * (which write nothing) are not counted. The real
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

/* What the wrapper does with the call step counted. */
enum { PASS, HOLD_AFTER, FULL };

/* The statement the server answers disk_full to, in place of the N-th. */
#define FULL_SQL                                                                                   \
    "DO $$BEGIN RAISE EXCEPTION 'could not extend file: No space left on device "                  \
    "(tests/fault/pq_fault.c)' USING ERRCODE = '53100'; END$$"

/* Counts one statement call on conn (text: its command text, NULL for a
 * prepared statement, "" for a pipeline sync); at the N-th, cuts the
 * connection ("drop") or holds before the call ("hold"). Returns HOLD_AFTER
 * if the caller must hold after the call ("holdafter": the statement, or
 * the commit, reached the server, whose answer is lost when it is killed),
 * FULL if it must send FULL_SQL instead ("full"); OUT: *gen, the control
 * file's generation to wait past. */
static int step(PGconn *conn, const char *text, long *gen)
{
    const char *path = getenv("DC_FAULT_CTL");
    if (!path || !*path || !conn) return PASS;
    pthread_mutex_lock(&lock);
    refresh_locked(path);
    int hold = strcmp(ctl.kind, "hold") == 0, after = strcmp(ctl.kind, "holdafter") == 0;
    int full = strcmp(ctl.kind, "full") == 0;
    /* a full disk fails statements, not syncs, and never a rollback */
    int counts = !full || !text || (text[0] && strncmp(text, "ROLLBACK", 8) != 0);
    int cut =
        (hold || after || full || strcmp(ctl.kind, "drop") == 0) && counts && ++count == ctl.target;
    long n = ctl.target;
    *gen = generation;
    pthread_mutex_unlock(&lock);
    if (!cut) return PASS;
    if (after) return HOLD_AFTER;
    if (full) {
        fault_ctl_fired(path, "full", n);
        return FULL;
    }
    if (hold) {
        hold_until_released(path, "hold", n, *gen);
        return PASS;
    }
    int fd = PQsocket(conn);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    fault_ctl_fired(path, "drop", n);
    return PASS;
}

/* After the real call: holds if step asked for it. */
static void after(int hold, long gen)
{
    if (hold != HOLD_AFTER) return;
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
    int h = step(conn, query, &g);
    __typeof__(&PQexec) real;
    REAL(PQexec, real);
    PGresult *r = real(conn, h == FULL ? FULL_SQL : query);
    after(h, g);
    return r;
}

PGresult *PQexecPrepared(PGconn *conn, const char *stmt, int n, const char *const *values,
                         const int *lengths, const int *formats, int result_format)
{
    long g = 0;
    int h = step(conn, NULL, &g);
    if (h == FULL) {
        __typeof__(&PQexec) exec;
        REAL(PQexec, exec);
        return exec(conn, FULL_SQL);
    }
    __typeof__(&PQexecPrepared) real;
    REAL(PQexecPrepared, real);
    PGresult *r = real(conn, stmt, n, values, lengths, formats, result_format);
    after(h, g);
    return r;
}

PGresult *PQprepare(PGconn *conn, const char *stmt, const char *query, int n, const Oid *types)
{
    long g = 0;
    int h = step(conn, NULL, &g);
    if (h == FULL) {
        __typeof__(&PQexec) exec;
        REAL(PQexec, exec);
        return exec(conn, FULL_SQL);
    }
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
    int h = step(conn, command, &g);
    __typeof__(&PQsendQueryParams) real;
    REAL(PQsendQueryParams, real);
    if (h == FULL) return real(conn, FULL_SQL, 0, NULL, NULL, NULL, NULL, result_format);
    int r = real(conn, command, n, types, values, lengths, formats, result_format);
    after(h, g);
    return r;
}

int PQsendQueryPrepared(PGconn *conn, const char *stmt, int n, const char *const *values,
                        const int *lengths, const int *formats, int result_format)
{
    long g = 0;
    int h = step(conn, NULL, &g);
    if (h == FULL) {
        __typeof__(&PQsendQueryParams) send;
        REAL(PQsendQueryParams, send);
        return send(conn, FULL_SQL, 0, NULL, NULL, NULL, NULL, result_format);
    }
    __typeof__(&PQsendQueryPrepared) real;
    REAL(PQsendQueryPrepared, real);
    int r = real(conn, stmt, n, values, lengths, formats, result_format);
    after(h, g);
    return r;
}

int PQpipelineSync(PGconn *conn)
{
    long g = 0;
    int h = step(conn, "", &g);
    __typeof__(&PQpipelineSync) real;
    REAL(PQpipelineSync, real);
    int r = real(conn);
    after(h, g);
    return r;
}
