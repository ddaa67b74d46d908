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

#include "ctl.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fault_ctl ctl;
static long count;

/* Counts one statement call on conn; cuts the connection at the N-th. */
static void step(PGconn *conn)
{
    const char *path = getenv("DC_FAULT_CTL");
    if (!path || !*path || !conn) return;
    pthread_mutex_lock(&lock);
    if (fault_ctl_refresh(&ctl, path)) count = 0;
    int cut = strcmp(ctl.kind, "drop") == 0 && ++count == ctl.target;
    long n = ctl.target;
    pthread_mutex_unlock(&lock);
    if (!cut) return;
    int fd = PQsocket(conn);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    fault_ctl_fired(path, "drop", n);
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
