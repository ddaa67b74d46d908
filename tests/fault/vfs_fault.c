/*
 * vfs_fault.c - storage fault injection for ducatd on SQLite: a shared
 * object loaded with LD_PRELOAD that registers, before main, a VFS wrapping
 * the default one as the new default (SQLite's test/malloc_common.tcl idea,
 * with SQLite's own VFS interface instead of a patched build).
 *
 * It fails one chosen operation of the database and WAL files, counted from
 * the moment the test arms it: a control file (path in $DC_FAULT_CTL) holds
 * one line "KIND N": the N-th xWrite (KIND write: SQLITE_IOERR_WRITE), xSync
 * (sync: SQLITE_IOERR_FSYNC) or xRead (read: SQLITE_IOERR_READ) after the
 * file last changed fails once; "full N" makes the N-th write and every later
 * one fail with SQLITE_FULL (a disk that stays full) until the file changes;
 * "none 0" (or no file) passes everything through. When it injects, it
 * appends "KIND N" to $DC_FAULT_CTL.fired, so the test knows whether the
 * operation it drove reached the N-th call at all.
 *
 * The control file is checked (one stat) at every call, under a mutex:
 * ducatd's connection threads and its writer share the counters. A test
 * helper, never part of ducatd: tests/api/test_api_fault.c uses it.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

enum kind { K_NONE, K_WRITE, K_SYNC, K_READ, K_FULL };

static sqlite3_vfs *real;
static sqlite3_vfs fault_vfs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *ctl_path;
static struct fault_ctl ctl;
static enum kind armed;
static long count;

struct ffile {
    sqlite3_file base;
    int counted;        /* main database or WAL: its operations count */
    sqlite3_file *real; /* follows this struct, real->szOsFile bytes */
};

/* 1 if this call of kind k must fail. */
static int should_fail(const struct ffile *f, enum kind k)
{
    if (!f->counted || !ctl_path) return 0;
    static const char *const names[] = {"none", "write", "sync", "read", "full"};
    pthread_mutex_lock(&lock);
    if (fault_ctl_refresh(&ctl, ctl_path)) {
        count = 0;
        armed = K_NONE;
        for (int i = K_WRITE; i <= K_FULL; i++) {
            if (strcmp(ctl.kind, names[i]) == 0) armed = (enum kind)i;
        }
    }
    int fail = 0;
    enum kind want = armed == K_FULL ? K_WRITE : armed;
    if (armed != K_NONE && want == k) {
        count++;
        fail = armed == K_FULL ? count >= ctl.target : count == ctl.target;
        if (fail && count == ctl.target) fault_ctl_fired(ctl_path, names[armed], ctl.target);
    }
    pthread_mutex_unlock(&lock);
    return fail;
}

static int f_close(sqlite3_file *p)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
}

static int f_read(sqlite3_file *p, void *buf, int n, sqlite3_int64 off)
{
    struct ffile *f = (struct ffile *)p;
    if (should_fail(f, K_READ)) return SQLITE_IOERR_READ;
    return f->real->pMethods->xRead(f->real, buf, n, off);
}

static int f_write(sqlite3_file *p, const void *buf, int n, sqlite3_int64 off)
{
    struct ffile *f = (struct ffile *)p;
    if (should_fail(f, K_WRITE)) return armed == K_FULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    return f->real->pMethods->xWrite(f->real, buf, n, off);
}

static int f_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xTruncate(f->real, size);
}

static int f_sync(sqlite3_file *p, int flags)
{
    struct ffile *f = (struct ffile *)p;
    if (should_fail(f, K_SYNC)) return SQLITE_IOERR_FSYNC;
    return f->real->pMethods->xSync(f->real, flags);
}

static int f_size(sqlite3_file *p, sqlite3_int64 *size)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int f_lock(sqlite3_file *p, int l)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xLock(f->real, l);
}

static int f_unlock(sqlite3_file *p, int l)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xUnlock(f->real, l);
}

static int f_reserved(sqlite3_file *p, int *out)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int f_fcntl(sqlite3_file *p, int op, void *arg)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int f_sector(sqlite3_file *p)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xSectorSize(f->real);
}

static int f_devchar(sqlite3_file *p)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int f_shm_map(sqlite3_file *p, int pg, int sz, int extend, void volatile **out)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xShmMap(f->real, pg, sz, extend, out);
}

static int f_shm_lock(sqlite3_file *p, int off, int n, int flags)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xShmLock(f->real, off, n, flags);
}

static void f_shm_barrier(sqlite3_file *p)
{
    struct ffile *f = (struct ffile *)p;
    f->real->pMethods->xShmBarrier(f->real);
}

static int f_shm_unmap(sqlite3_file *p, int del)
{
    struct ffile *f = (struct ffile *)p;
    return f->real->pMethods->xShmUnmap(f->real, del);
}

/* Memory-mapped reads would bypass xRead: refuse them (SQLite then reads). */
static int f_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **out)
{
    (void)p;
    (void)off;
    (void)n;
    *out = NULL;
    return SQLITE_OK;
}

static int f_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr)
{
    (void)p;
    (void)off;
    (void)ptr;
    return SQLITE_OK;
}

static const sqlite3_io_methods methods = {
    3,          f_close,       f_read,      f_write, f_truncate, f_sync,    f_size,
    f_lock,     f_unlock,      f_reserved,  f_fcntl, f_sector,   f_devchar, f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out_flags)
{
    (void)vfs;
    struct ffile *f = (struct ffile *)p;
    f->real = (sqlite3_file *)(f + 1);
    f->counted = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0;
    int rc = real->xOpen(real, name, f->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set: mirror the real file */
    p->pMethods = f->real->pMethods ? &methods : NULL;
    return rc;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void)v;
    return real->xDelete(real, name, sync);
}

static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return real->xAccess(real, name, flags, out);
}

static int v_full(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return real->xFullPathname(real, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return real->xDlOpen(real, name);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    real->xDlError(real, n, out);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return real->xDlSym(real, h, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    real->xDlClose(real, h);
}

static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real->xRandomness(real, n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return real->xSleep(real, us);
}

static int v_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return real->xCurrentTime(real, out);
}

static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return real->xGetLastError ? real->xGetLastError(real, n, out) : 0;
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return real->xCurrentTimeInt64(real, out);
}

__attribute__((constructor)) static void fault_init(void)
{
    ctl_path = getenv("DC_FAULT_CTL");
    if (!ctl_path || !*ctl_path) return;
    real = sqlite3_vfs_find(NULL);
    if (!real) return;
    fault_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct ffile) + real->szOsFile,
        .mxPathname = real->mxPathname,
        .zName = "ducat-fault",
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_random,
        .xSleep = v_sleep,
        .xCurrentTime = v_time,
        .xGetLastError = v_lasterr,
        .xCurrentTimeInt64 = v_time64,
    };
    sqlite3_vfs_register(&fault_vfs, 1);
}
