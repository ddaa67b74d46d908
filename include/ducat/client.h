/*
 * ducat/client.h - the wallet's HTTP client for ducatd (libcurl + jansson).
 *
 * Every account request is signed with the device key (ducat/auth.h). The
 * client does no retries by itself: money-moving calls carry a request id
 * the caller persisted before calling, and retrying with the same id and
 * body is always safe (the server answers from its idempotency store).
 * THREAD SAFETY: one client per thread.
 */
#ifndef DUCAT_CLIENT_H
#define DUCAT_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dc_client;

/* base_url like "http://127.0.0.1:8080" (no trailing slash needed). */
DC_MUST_CHECK enum dc_err dc_client_new(struct dc_client **out, const char *base_url);
void dc_client_free(struct dc_client *c);
/* The device secret key used to sign (borrowed: must outlive the calls). */
void dc_client_set_key(struct dc_client *c, const uint8_t *sk);
/* Milliseconds added to this device's clock when signing (default 0). A
 * signed call refused as stale (DC_ERR_AUTH_STALE) sets it from the
 * server's X-Ducat-Time and is signed again once, automatically: a stale
 * request is never acted on, so this is always safe. */
void dc_client_set_clock_offset(struct dc_client *c, int64_t ms);
int64_t dc_client_clock_offset(const struct dc_client *c);
/* Timeout per request, ms (default 30000). */
void dc_client_set_timeout(struct dc_client *c, long ms);

/*
 * One request. signed_ != 0 signs it with the device key. On any HTTP
 * answer, *status is set and *out gets the parsed JSON (caller decrefs).
 * Returns DC_OK for 2xx; the registry error named by the server's JSON for
 * 4xx/5xx (detail gets the server's detail); DC_ERR_IO when no answer came
 * (detail says why: refused, timeout, ...).
 */
DC_MUST_CHECK enum dc_err dc_client_call(struct dc_client *c, int signed_, const char *method,
                                         const char *path, const char *body, int *status,
                                         json_t **out, char *detail, size_t dcap);

#ifdef __cplusplus
}
#endif
#endif
