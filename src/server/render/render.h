/*
 * render.h - JSON renderings of the ledger's objects (accounts, cases,
 * events, holds, history), shared by the HTTP handlers and the operator
 * commands: ducatd's answers and `ducatd accounts show` print the same
 * objects the same way. Nothing here knows a request or a response; the
 * functions that read take an open store and read it in one snapshot where
 * they say so.
 *
 * Every json_t returned is new (caller owns it, json_decref); NULL means
 * out of memory.
 */
#ifndef DUCAT_SERVER_RENDER_H
#define DUCAT_SERVER_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ducat/coin.h"
#include "store/store.h"

/* A JSON string of the lowercase hex of p[0..n). */
json_t *dc_json_hex(const uint8_t *p, size_t n);

/* "transfer", "split", "deposit" (or "unknown") for a record type byte. */
const char *dc_json_record_type(uint8_t type);

/* "held", "frozen", "released" or "reversed" for a hold status. */
const char *dc_hold_status_name(int status);

/* How a hold is shown: one view an answer, each field rendered the same
 * way wherever it appears.
 *   HOLDER (GET /v1/balance): {"id", "amount" (what it still holds),
 *     "release_at", "status", "taken", "release_provisional", "case"}
 *   ACCOUNT (GET /v1/admin/accounts/{id}/holds, a case coin's deposits):
 *     {"hold", "account", "amount", "left", "status", "provisional",
 *     "release_at", "deposit", "taken", "created_at", "released_by", "case"}
 *   CASE (GET /v1/admin/cases/{id}): {"hold", "account", "amount", "status",
 *     "provisional", "release_at", "release_provisional", "taken", "repaid",
 *     "released_by", "deposit"}
 *   PAGE (GET /v1/admin/holds): {"hold", "account", "amount", "status",
 *     "provisional", "release_at", "release_provisional", "case" (0: none),
 *     "deposit", "created_at", "released_by"}
 * "case" is null when the hold has none, but for PAGE (0). */
enum dc_hold_view {
    DC_HOLD_VIEW_HOLDER,
    DC_HOLD_VIEW_ACCOUNT,
    DC_HOLD_VIEW_CASE,
    DC_HOLD_VIEW_PAGE
};

json_t *dc_json_hold(const struct dc_hold *h, enum dc_hold_view view);

/* One coin of a deposit's or a reclaim's answer: {"serial", "amount",
 * "hold", "release_at", "release_provisional", "status", "flagged" (only
 * with_flagged: deposits), "case" (null: none)}. */
struct dc_deposit_coin_out; /* server/ledger/ledger.h */
json_t *dc_json_deposit_coin(const struct dc_deposit_coin_out *c, int with_flagged);

/* An account; with_private adds the real-name data and device (users only). */
json_t *dc_json_account(const struct dc_account *a, int with_private);

/* A fork case; with_evidence adds the evidence package (hex and armor). */
json_t *dc_json_case(const struct dc_case *c, int with_evidence);

/* Every deposited credit of the case's coin that passed through the forked
 * state, in deposit order: {"branch": "A"|"B" (the evidence's successor it
 * descends from; null for neither), "deposit", "hold", "account",
 * "amount", "status", "release_at", "release_provisional", "taken",
 * "case", "released_by"}. The evidence is verified with the master key
 * first (its error if it does not). *out: a new JSON array. */
enum dc_err dc_json_case_deposits(json_t **out, struct dc_store *st, const struct dc_case *c,
                                  const uint8_t master_pub[static DC_PUBKEY_BYTES]);

json_t *dc_json_event(const struct dc_event *ev);

/* The events of an account or a case, oldest first, as a new JSON array. */
enum dc_err dc_json_events(struct dc_store *st, enum dc_event_of of, int64_t subject, json_t **out);

/* A user account with private data and its events, read in one snapshot. */
enum dc_err dc_json_account_full(struct dc_store *st, int64_t id, json_t **out);

/* An account's journal, newest first, as GET /v1/history shows it:
 * {"entries": [...], "next_before": id or null}, at most limit entries with
 * an id below before (0: the newest). OUT: *out (caller owns). */
enum dc_err dc_json_history(struct dc_store *st, int64_t account, int64_t before, int64_t limit,
                            json_t **out);

/* An error body as every answer carries it: {"code", "name", "hint"} from
 * the registry, plus "detail" when detail is not empty. A new compact JSON
 * string (caller frees), NULL when out of memory. */
char *dc_error_text(enum dc_err e, const char *detail);

#endif
