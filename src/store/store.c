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

void dc_store_redact(char *out, size_t cap, const char *url)
{
    if (!cap) return;
    snprintf(out, cap, "%s", url);
    /* userinfo password: scheme://user:PASSWORD@host */
    char *scheme = strstr(out, "://");
    if (scheme) {
        char *auth = scheme + 3;
        size_t span = strcspn(auth, "/?#");
        char *at = NULL; /* the last '@': an unencoded one may sit in a password */
        for (size_t i = 0; i < span; i++) {
            if (auth[i] == '@') at = auth + i;
        }
        char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            char rest[1024];
            snprintf(rest, sizeof rest, "%s", at);
            snprintf(colon + 1, cap - (size_t)(colon + 1 - out), "***%s", rest);
        }
    }
    /* key=value forms: ...?password=PASSWORD&... or "password=PASSWORD host=..." */
    for (char *p = out; (p = strstr(p, "password=")) != NULL;) {
        p += 9;
        size_t len = strcspn(p, "& ");
        char rest[1024];
        snprintf(rest, sizeof rest, "%s", p + len);
        snprintf(p, cap - (size_t)(p - out), "***%s", rest);
        p += 3;
    }
}

enum dc_err dc_store_post_many(struct dc_store *s, struct dc_posting *p, size_t n)
{
    if (s->ops->post_many) return s->ops->post_many(s, p, n);
    for (size_t i = 0; i < n; i++) {
        enum dc_err e = s->ops->post(s, &p[i]);
        if (e != DC_OK) return e;
    }
    return DC_OK;
}

void dc_store_set_timeout(struct dc_store *s, unsigned ms)
{
    if (s->ops->set_timeout) s->ops->set_timeout(s, ms);
}

uint64_t dc_store_round_trips(struct dc_store *s)
{
    return s->ops->round_trips ? s->ops->round_trips(s) : 0;
}

enum dc_err dc_store_accounts_prefetch(struct dc_store *s, const int64_t *ids, size_t n)
{
    return s->ops->accounts_prefetch && n ? s->ops->accounts_prefetch(s, ids, n) : DC_OK;
}

enum dc_err dc_store_deposit_prefetch(struct dc_store *s, const struct dc_claim_key *k, size_t n)
{
    return s->ops->deposit_prefetch && n ? s->ops->deposit_prefetch(s, k, n) : DC_OK;
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
