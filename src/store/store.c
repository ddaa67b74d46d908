/*
 * store.c - opening a store by URL, and helpers shared by the backends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

enum dc_err dc_store_open(struct dc_store **out, const char *url, char *errbuf, size_t errcap)
{
    *out = NULL;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        return dc_store_pg_open(out, url, errbuf, errcap);
    }
    if (strncmp(url, "sqlite:", 7) == 0) url += 7;
    if (*url == '\0') {
        snprintf(errbuf, errcap, "empty store location");
        return DC_ERR_CONFIG;
    }
    return dc_store_sqlite_open(out, url, errbuf, errcap);
}

void dc_case_clear(struct dc_case *c)
{
    if (!c) return;
    free(c->evidence);
    c->evidence = NULL;
    c->evidence_len = 0;
}

#ifndef DC_HAVE_PG
/* Built without libpq: say so instead of failing obscurely. */
enum dc_err dc_store_pg_open(struct dc_store **out, const char *url, char *errbuf, size_t errcap)
{
    (void)url;
    *out = NULL;
    snprintf(errbuf, errcap, "this ducatd was built without the PostgreSQL backend");
    return DC_ERR_CONFIG;
}
#endif
