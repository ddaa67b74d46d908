/*
 * operators.c - the named operators' registry (operators.h): one meta row,
 * a line per operator, parsed strictly; a malformed registry is an error,
 * never an empty one that would lock everybody out silently or let a
 * half-parsed line through.
 */
#include "server/operators.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_KEY "operators"
/* a line is at most name, 64 hex, 20 digits, a role, 20 digits, 4 spaces, '\n' */
#define LINE_MAX_BYTES (DC_OPERATOR_NAME_MAX + 1 + 64 + 1 + 20 + 1 + 8 + 1 + 20 + 1)

static const char *const role_names[] = {"", "viewer", "operator", "admin"};

const char *dc_role_name(enum dc_role r)
{
    return r >= DC_ROLE_NONE && r <= DC_ROLE_ADMIN ? role_names[r] : "";
}

enum dc_role dc_role_parse(const char *name)
{
    for (int r = DC_ROLE_VIEWER; r <= DC_ROLE_ADMIN; r++) {
        if (strcmp(name, role_names[r]) == 0) return (enum dc_role)r;
    }
    return DC_ROLE_NONE;
}
#define TEXT_CAP (DC_OPERATORS_MAX * LINE_MAX_BYTES + 1)

int dc_operator_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > DC_OPERATOR_NAME_MAX || name[0] < 'a' || name[0] > 'z') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

static enum dc_err parse(const char *text, struct dc_operator *out, size_t *n)
{
    *n = 0;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (*n == DC_OPERATORS_MAX || len >= LINE_MAX_BYTES) return DC_ERR_STORE;
        char line[LINE_MAX_BYTES], name[DC_OPERATOR_NAME_MAX + 1], hex[65], role[9];
        unsigned long long created, expires = 0;
        memcpy(line, p, len);
        line[len] = '\0';
        int used = 0, used5 = 0;
        if (sscanf(line, "%32s %64s %llu%n %8s %llu%n", name, hex, &created, &used, role, &expires,
                   &used5) == 5 &&
            (size_t)used5 == len) {
            used = used5;
        } else {
            snprintf(role, sizeof role, "operator"); /* a line from before roles */
            expires = 0;
        }
        if ((size_t)used != len || !dc_operator_name_ok(name) || strlen(hex) != 64 ||
            dc_role_parse(role) == DC_ROLE_NONE) {
            return DC_ERR_STORE;
        }
        struct dc_operator *o = &out[*n];
        o->role = dc_role_parse(role);
        o->expires_at = expires;
        size_t bin_len;
        if (sodium_hex2bin(o->hash, sizeof o->hash, hex, 64, NULL, &bin_len, NULL) != 0 ||
            bin_len != sizeof o->hash) {
            return DC_ERR_STORE;
        }
        snprintf(o->name, sizeof o->name, "%s", name);
        o->created_at = created;
        (*n)++;
        p += len + (end ? 1 : 0);
    }
    return DC_OK;
}

enum dc_err dc_operators_load(struct dc_store *st, struct dc_operator out[DC_OPERATORS_MAX],
                              size_t *n)
{
    *n = 0;
    char *text = malloc(TEXT_CAP);
    if (!text) return DC_ERR_NO_MEMORY;
    enum dc_err e = st->ops->meta_get(st, META_KEY, text, TEXT_CAP);
    if (e == DC_ERR_NOT_FOUND) {
        e = DC_OK; /* no operator yet: only the bootstrap token */
    } else if (e == DC_OK) {
        e = parse(text, out, n);
    }
    free(text);
    return e;
}

enum dc_err dc_operators_find(struct dc_store *st, const uint8_t hash[32], uint64_t now,
                              struct dc_operator *op)
{
    struct dc_operator *ops = malloc(DC_OPERATORS_MAX * sizeof *ops);
    if (!ops) return DC_ERR_NO_MEMORY;
    size_t n;
    enum dc_err e = dc_operators_load(st, ops, &n);
    size_t found = n; /* index of the match; every entry is compared */
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        if (sodium_memcmp(ops[i].hash, hash, 32) == 0) found = i;
    }
    if (e == DC_OK && found == n) e = DC_ERR_NOT_FOUND;
    if (e == DC_OK) {
        *op = ops[found];
        sodium_memzero(op->hash, sizeof op->hash);
        /* an expired credential is refused, and named as expired, so that
         * its holder knows to ask for a new one rather than retype it */
        if (op->expires_at && op->expires_at <= now) e = DC_ERR_ADMIN_EXPIRED;
    }
    sodium_memzero(ops, DC_OPERATORS_MAX * sizeof *ops);
    free(ops);
    return e;
}

static enum dc_err store(struct dc_store *st, const struct dc_operator *ops, size_t n)
{
    char *text = malloc(TEXT_CAP);
    if (!text) return DC_ERR_NO_MEMORY;
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        sodium_bin2hex(hex, sizeof hex, ops[i].hash, sizeof ops[i].hash);
        int w = snprintf(text + len, TEXT_CAP - len, "%s%s %s %llu %s %llu", i ? "\n" : "",
                         ops[i].name, hex, (unsigned long long)ops[i].created_at,
                         dc_role_name(ops[i].role), (unsigned long long)ops[i].expires_at);
        if (w < 0 || (size_t)w >= TEXT_CAP - len) {
            free(text);
            return DC_ERR_NO_MEMORY;
        }
        len += (size_t)w;
    }
    enum dc_err e = st->ops->meta_put(st, META_KEY, text);
    free(text);
    return e;
}

enum dc_err dc_operators_add(struct dc_store *st, const struct dc_operator *op, char *detail,
                             size_t cap)
{
    const char *name = op->name;
    if (op->role == DC_ROLE_NONE || !dc_role_name(op->role)[0]) {
        snprintf(detail, cap, "operator '%s': a role is required (viewer, operator or admin)",
                 name);
        return DC_ERR_FIELD;
    }
    if (op->expires_at && op->expires_at <= op->created_at) {
        snprintf(detail, cap, "operator '%s': the expiry must be in the future", name);
        return DC_ERR_FIELD;
    }
    if (!dc_operator_name_ok(name)) {
        snprintf(detail, cap,
                 "operator name '%s': 1 to %d of a-z 0-9 . _ -, starting with a letter", name,
                 DC_OPERATOR_NAME_MAX);
        return DC_ERR_FIELD;
    }
    if (strcmp(name, DC_OPERATOR_BOOTSTRAP) == 0 || strcmp(name, "system") == 0) {
        snprintf(detail, cap, "operator name '%s' is reserved", name);
        return DC_ERR_FIELD;
    }
    struct dc_operator *ops = malloc((DC_OPERATORS_MAX + 1) * sizeof *ops);
    if (!ops) return DC_ERR_NO_MEMORY;
    size_t n;
    enum dc_err e = dc_operators_load(st, ops, &n);
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        if (strcmp(ops[i].name, name) == 0) {
            snprintf(detail, cap, "operator '%s' exists (remove it first to renew)", name);
            e = DC_ERR_FIELD;
        }
    }
    if (e == DC_OK && n == DC_OPERATORS_MAX) {
        snprintf(detail, cap, "already %d operators", DC_OPERATORS_MAX);
        e = DC_ERR_FIELD;
    }
    if (e == DC_OK) {
        ops[n] = *op;
        e = store(st, ops, n + 1);
    }
    sodium_memzero(ops, (DC_OPERATORS_MAX + 1) * sizeof *ops);
    free(ops);
    return e;
}

enum dc_err dc_operators_remove(struct dc_store *st, const char *name)
{
    struct dc_operator *ops = malloc(DC_OPERATORS_MAX * sizeof *ops);
    if (!ops) return DC_ERR_NO_MEMORY;
    size_t n, k = 0;
    enum dc_err e = dc_operators_load(st, ops, &n);
    for (size_t i = 0; e == DC_OK && i < n; i++) {
        if (strcmp(ops[i].name, name) != 0) ops[k++] = ops[i];
    }
    if (e == DC_OK) e = k == n ? DC_ERR_NOT_FOUND : store(st, ops, k);
    sodium_memzero(ops, DC_OPERATORS_MAX * sizeof *ops);
    free(ops);
    return e;
}
