/*
 * operators.h - the named operators of the admin API and console.
 *
 * Each console user signs in with a credential of their own, so the journal
 * and every case decision name who acted. The bootstrap token of `ducatd
 * init` ([admin] token_hash) stays: it signs in as the operator "admin",
 * the first one, who then creates the others with `ducatd operators add`.
 *
 * The registry is one row of the store's meta table ("operators"), one line
 * per operator: "NAME HASH CREATED_MS ROLE EXPIRES_MS", HASH the hex
 * BLAKE2b-256 of the credential, ROLE viewer|operator|admin, EXPIRES_MS 0
 * for a credential that does not expire. A line of the first three fields
 * only (written before roles existed) reads as role "operator" without
 * expiry: what such an operator could do then, short of the admin role's
 * new reads. Credentials are 32 random bytes (high entropy: a fast hash is
 * the right one, as for the bootstrap token), shown once at creation and
 * never stored, logged or printed again. Keeping the registry in meta needs
 * no schema migration; it is read at every admin request (a few hundred
 * bytes), so an operator added or removed from the command line counts at
 * once in a running server, with no reload.
 */
#ifndef DUCAT_SERVER_OPERATORS_H
#define DUCAT_SERVER_OPERATORS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define DC_OPERATOR_NAME_MAX 32       /* bytes of [a-z0-9._-], first a letter */
#define DC_OPERATORS_MAX 64           /* the registry's size bound */
#define DC_OPERATOR_BOOTSTRAP "admin" /* the name of the bootstrap token */

/*
 * What an operator may do, each role including the ones below it. The route
 * table names the least role of every admin route (struct dc_route.role);
 * the dispatcher refuses a weaker one with DC_ERR_ADMIN_ROLE (403). The
 * bootstrap token has DC_ROLE_ADMIN.
 */
enum dc_role {
    DC_ROLE_NONE = 0,     /* public and device routes: no operator involved */
    DC_ROLE_VIEWER = 1,   /* reads: accounts, cases, evidence, holds, audit */
    DC_ROLE_OPERATOR = 2, /* and acts: verify, freeze, fund, payout, resolve, release */
    DC_ROLE_ADMIN = 3,    /* and manages: the operators list */
};

struct dc_operator {
    char name[DC_OPERATOR_NAME_MAX + 1];
    uint8_t hash[32]; /* BLAKE2b-256 of the credential */
    uint64_t created_at;
    enum dc_role role;
    uint64_t expires_at; /* ms since the epoch; 0 = never */
};

/* "viewer", "operator", "admin" ("" for DC_ROLE_NONE). */
const char *dc_role_name(enum dc_role r);

/* The role of that name, or DC_ROLE_NONE. */
enum dc_role dc_role_parse(const char *name);

/* 1 if name is a valid operator name ([a-z][a-z0-9._-]{0,31}); "admin"
 * and "system" are valid names but reserved (the bootstrap token, the
 * server's own actions): dc_operators_add refuses them. */
int dc_operator_name_ok(const char *name);

/* The registry, in creation order: *n (<= DC_OPERATORS_MAX) entries into
 * out. Inside the caller's transaction (or on a pooled connection). */
enum dc_err dc_operators_load(struct dc_store *st, struct dc_operator out[DC_OPERATORS_MAX],
                              size_t *n);

/* Which operator holds the credential with this hash: compares against
 * every entry in constant time (no early exit). OUT: *op (hash wiped).
 * DC_ERR_NOT_FOUND if none; DC_ERR_ADMIN_EXPIRED (op filled) if the
 * credential's expiry is at or before now. */
enum dc_err dc_operators_find(struct dc_store *st, const uint8_t hash[32], uint64_t now,
                              struct dc_operator *op);

/* Adds an operator (inside the caller's write transaction): op's name,
 * hash, created_at, role and expires_at. DC_ERR_FIELD with detail for a
 * bad, reserved or taken name, no role, an expiry not after created_at or
 * a full registry. */
enum dc_err dc_operators_add(struct dc_store *st, const struct dc_operator *op, char *detail,
                             size_t cap);

/* Removes one (inside the caller's write transaction); DC_ERR_NOT_FOUND. */
enum dc_err dc_operators_remove(struct dc_store *st, const char *name);

#endif
