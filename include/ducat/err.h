/*
 * ducat/err.h - the one error enum of Ducat and its registry projections.
 *
 * Every fallible function in every layer returns an `enum dc_err`; DC_OK (0)
 * is success. Each error has a stable numeric code (the enum value), a
 * symbolic name, an HTTP status and a one-line message, all defined once in
 * include/ducat/errors.def, with its class (what a caller should do about it).
 * THREAD SAFETY: all functions here are pure.
 */
#ifndef DUCAT_ERR_H
#define DUCAT_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DC_MUST_CHECK __attribute__((warn_unused_result))
#else
#define DC_MUST_CHECK
#endif

enum dc_err {
#define X(name, code, http, cls, msg) name = code,
#include "ducat/errors.def"
#undef X
};

/* What a caller should do about an error: the CLASS column of errors.def.
 * ducatd's and ducat's exit codes and the wallet service's retry decision
 * are projections of it (docs/ERRORS.md, docs/CLI.md, docs/OPERATIONS.md). */
enum dc_err_class {
    DC_CLASS_OK,        /* success */
    DC_CLASS_REFUSED,   /* a rule said no: retrying the same request gets the same answer */
    DC_CLASS_USAGE,     /* bad command line */
    DC_CLASS_TRANSIENT, /* nothing was done; the same request may succeed later */
    DC_CLASS_SYSTEM,    /* configuration, storage or I/O of this machine failed */
    DC_CLASS_WALLET,    /* the wallet file: not one, damaged, newer, wrong passphrase */
    DC_CLASS_AUDIT,     /* the audit found a discrepancy */
};

/* The symbolic name ("DC_ERR_BAD_SIGNATURE"); "DC_ERR_UNKNOWN" if not registered. */
const char *dc_err_name(enum dc_err e);
/* The one-line human message; a generic text if not registered. */
const char *dc_err_str(enum dc_err e);
/* The HTTP status the server answers with for this error (500 if not registered). */
int dc_err_http_status(enum dc_err e);
/* The error's class (DC_CLASS_REFUSED if not registered: an unknown code
 * from a newer server is a refusal this program cannot interpret). */
enum dc_err_class dc_err_class(enum dc_err e);
/* The class's name as in errors.def ("TRANSIENT"). */
const char *dc_err_class_name(enum dc_err_class c);
/* Looks an error up by its numeric code; returns 0 and leaves *out alone if unknown. */
int dc_err_from_code(enum dc_err *out, int code);
/* Number of registry rows and the i-th row's code, for docs and tests. */
unsigned dc_err_count(void);
enum dc_err dc_err_at(unsigned i);

#ifdef __cplusplus
}
#endif
#endif
