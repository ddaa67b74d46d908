/*
 * ctl.h - the control file both fault shims read (vfs_fault.c for SQLite,
 * pq_fault.c for PostgreSQL), header-only since each shim is one shared
 * object of its own.
 *
 * The test writes one line "KIND N" to the file named by $DC_FAULT_CTL
 * (renaming a new file over it, so every arming is a new inode); the shim
 * calls fault_ctl_refresh before each operation it counts and restarts its
 * count whenever the file changed. When it injects a fault it appends
 * "KIND N" to $DC_FAULT_CTL.fired (fault_ctl_fired), so the test can tell a
 * request that reached the N-th operation from one that did not.
 */
#ifndef DUCAT_TEST_FAULT_CTL_H
#define DUCAT_TEST_FAULT_CTL_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fault_ctl {
    struct stat seen; /* the file as last read */
    char kind[16];    /* "" when disarmed (no file, "none", or unreadable) */
    long target;      /* N: the operation to fail, counted from 1 */
};

/* Re-reads path if it changed since the last call: returns 1 then (the
 * caller restarts its count), 0 if unchanged. */
static inline int fault_ctl_refresh(struct fault_ctl *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int had = c->kind[0] != '\0';
        memset(c, 0, sizeof *c);
        return had;
    }
    if (st.st_ino == c->seen.st_ino && st.st_size == c->seen.st_size &&
        st.st_mtim.tv_sec == c->seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == c->seen.st_mtim.tv_nsec) {
        return 0;
    }
    c->seen = st;
    c->kind[0] = '\0';
    c->target = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    char k[16] = "";
    long n = 0;
    if (fscanf(f, "%15s %ld", k, &n) == 2 && n > 0 && strcmp(k, "none") != 0) {
        memcpy(c->kind, k, sizeof c->kind);
        c->target = n;
    }
    fclose(f);
    return 1;
}

/* Appends "KIND N" to path.fired (best effort: the test then sees none). */
static inline void fault_ctl_fired(const char *path, const char *kind, long n)
{
    char fired[4096];
    snprintf(fired, sizeof fired, "%s.fired", path);
    int fd = open(fired, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) return;
    char line[64];
    int len = snprintf(line, sizeof line, "%s %ld\n", kind, n);
    if (write(fd, line, (size_t)len) < 0) { /* nothing more to do */
    }
    close(fd);
}

#endif
