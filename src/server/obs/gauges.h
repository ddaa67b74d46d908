/*
 * gauges.h - the store-backed part of GET /metrics (gauges.c): gauges read
 * at each scrape and the counters that the operator's commands share with
 * the server through the store's meta table.
 */
#ifndef DUCAT_SERVER_GAUGES_H
#define DUCAT_SERVER_GAUGES_H

#include "server/obs/metrics.h"
#include "server/server.h"
#include "store/store.h"

/* Adds n to counter c as stored in the database, inside the caller's write
 * transaction (so it counts exactly the work that commits with it). For
 * work done outside the server process: the server adds these to its own. */
enum dc_err dc_shared_counter_add(struct dc_store *st, enum dc_counter c, uint64_t n);

/* Reads the gauges and the shared counters in one read transaction on st
 * (a pooled connection). OUT: g, shared[DC_M_COUNT] (zeros on failure).
 * g->nonces is the caller's (the nonce table lives with the HTTP layer). */
enum dc_err dc_gauges_read(struct dc_gauges *g, uint64_t shared[DC_M_COUNT], struct dc_ctx *x,
                           struct dc_store *st);

/* Records an audit's outcome (ducat_audit_last_ok, ducat_audit_last_run_timestamp_seconds),
 * inside the caller's write transaction. */
/* Open (held or frozen) holds whose release date is provisional. */
enum dc_err dc_holds_provisional_count(struct dc_store *st, int64_t *out);

enum dc_err dc_audit_record(struct dc_store *st, int ok, uint64_t now);

#endif
