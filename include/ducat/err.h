/*
 * ducat/err.h - the one error enum of Ducat and its registry projections.
 *
 * Every fallible function in every layer returns an `enum dc_err`; DC_OK (0)
 * is success. Each error has a stable numeric code (the enum value), a
 * symbolic name, an HTTP status and a one-line message, all defined once in
 * src/core/errors.def. THREAD SAFETY: all functions here are pure.
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
#define X(name, code, http, msg) name = code,
#include "ducat/errors.def"
#undef X
};

/* The symbolic name ("DC_ERR_BAD_SIGNATURE"); "DC_ERR_UNKNOWN" if not registered. */
const char *dc_err_name(enum dc_err e);
/* The one-line human message; a generic text if not registered. */
const char *dc_err_str(enum dc_err e);
/* The HTTP status the server answers with for this error (500 if not registered). */
int dc_err_http_status(enum dc_err e);
/* Looks an error up by its numeric code; returns 0 and leaves *out alone if unknown. */
int dc_err_from_code(enum dc_err *out, int code);
/* Number of registry rows and the i-th row's code, for docs and tests. */
unsigned dc_err_count(void);
enum dc_err dc_err_at(unsigned i);

#ifdef __cplusplus
}
#endif
#endif
