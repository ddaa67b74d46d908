/*
 * err.c - projections of the error registry (include/ducat/errors.def).
 *
 * The registry is an X-macro so the enum, the names, the HTTP statuses, the
 * classes and the messages can never disagree; docs/ERRORS.md is generated from the same
 * table by `ducat-errors` (tools/ducat-errors.c) and checked fresh by make check.
 */
#include "ducat/err.h"

#include <stddef.h>

struct row {
    enum dc_err code;
    int http;
    enum dc_err_class cls;
    const char *name;
    const char *msg;
};

static const struct row rows[] = {
#define X(name, code, http, cls, msg) {name, http, DC_CLASS_##cls, #name, msg},
#include "ducat/errors.def"
#undef X
};

static const struct row *find(enum dc_err e)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].code == e) return &rows[i];
    }
    return NULL;
}

const char *dc_err_name(enum dc_err e)
{
    const struct row *r = find(e);
    return r ? r->name : "DC_ERR_UNKNOWN";
}

const char *dc_err_str(enum dc_err e)
{
    const struct row *r = find(e);
    return r ? r->msg : "unknown error";
}

int dc_err_http_status(enum dc_err e)
{
    const struct row *r = find(e);
    return r ? r->http : 500;
}

enum dc_err_class dc_err_class(enum dc_err e)
{
    const struct row *r = find(e);
    return r ? r->cls : DC_CLASS_REFUSED;
}

const char *dc_err_class_name(enum dc_err_class c)
{
    static const char *const names[] = {"OK",     "REFUSED", "USAGE", "TRANSIENT",
                                        "SYSTEM", "WALLET",  "AUDIT"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "UNKNOWN";
}

int dc_err_from_code(enum dc_err *out, int code)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if ((int)rows[i].code == code) {
            *out = rows[i].code;
            return 1;
        }
    }
    return 0;
}

unsigned dc_err_count(void)
{
    return (unsigned)(sizeof rows / sizeof rows[0]);
}

enum dc_err dc_err_at(unsigned i)
{
    return i < dc_err_count() ? rows[i].code : DC_ERR_INTERNAL;
}
