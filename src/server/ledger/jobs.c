/*
 * jobs.c - ledger jobs shared by the HTTP layer, the timers and the
 * operator commands (jobs.h).
 */
#include "server/ledger/jobs.h"
#include "server/ledger/ledger.h"

enum dc_err dc_release_job(struct dc_store *st, void *ctx)
{
    struct dc_release_arg *r = ctx;
    return dc_ledger_release_due(st, r->now, r->by, &r->released);
}
