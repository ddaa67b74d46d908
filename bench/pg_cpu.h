/*
 * pg_cpu.h - CPU seconds of one PostgreSQL cluster, for the benchmarks that
 * set a figure against the database's share of the work (bench_server's
 * phase (s), bench_store). Header-only: the benchmarks are single files.
 */
#ifndef DC_BENCH_PG_CPU_H
#define DC_BENCH_PG_CPU_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether child pid of the postmaster serves a client over the unix
 * socket (its title: "postgres: USER DB [local] ..."), not a background
 * process (checkpointer, WAL writer, autovacuum...). */
static inline int bench_pg_is_client(const char *pid)
{
    char path[64], title[256];
    snprintf(path, sizeof path, "/proc/%.32s/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(title, 1, sizeof title - 1, f);
    fclose(f);
    title[n] = '\0';
    return strstr(title, "[local]") != NULL;
}

/* CPU seconds of the cluster whose data directory is DIR/data (tests/
 * with-pg.sh exports DIR as DC_PG_DIR): the postmaster (with its reaped
 * children: a backend that exited is counted there) plus every live child
 * (backends, WAL writer, checkpointer...); with clients_only, only the live
 * backends that serve clients (a committing backend flushes its own WAL,
 * so this is the work of the statements and commits without the
 * background's, which at low rates dwarfs it). Only that cluster: others
 * on the machine have other postmasters. 0 if dir is NULL or unreadable. */
static inline double bench_pg_cpu_s(const char *dir, int clients_only)
{
    if (dir == NULL) return 0;
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", dir);
    FILE *f = fopen(path, "r");
    int pm = 0;
    if (f == NULL) return 0;
    if (fscanf(f, "%d", &pm) != 1) pm = 0;
    fclose(f);
    double ticks = 0;
    DIR *d = opendir("/proc");
    if (d == NULL || pm <= 0) {
        if (d) closedir(d);
        return 0;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%.32s/stat", e->d_name);
        f = fopen(path, "r");
        if (f == NULL) continue; /* exited meanwhile: its CPU is in the postmaster's cutime */
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
        const char *p = strrchr(line, ')');
        int ppid = 0;
        unsigned long long ut, st, cut, cst;
        /* after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
         * cmajflt utime stime cutime cstime */
        if (p == NULL ||
            sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &ppid,
                   &ut, &st, &cut, &cst) != 5) {
            continue;
        }
        if (atoi(e->d_name) == pm) {
            if (!clients_only) ticks += (double)(ut + st + cut + cst);
        } else if (ppid == pm && (!clients_only || bench_pg_is_client(e->d_name))) {
            ticks += (double)(ut + st);
        }
    }
    closedir(d);
    return ticks / (double)sysconf(_SC_CLK_TCK);
}

#endif
