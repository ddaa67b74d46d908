/*
 * jobs.h - ledger jobs that more than one role runs through the writer
 * (dc_writer_run): the hold release is started by the release timer, by
 * POST /v1/admin/release and by `ducatd holds release`, so it lives with the
 * ledger, not with any one of them.
 */
#ifndef DUCAT_SERVER_JOBS_H
#define DUCAT_SERVER_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ctx of dc_release_job */
struct dc_release_arg {
    uint64_t now;
    size_t released; /* OUT */
    const char *by;  /* who or what releases: kept on every released hold */
};

/* A dc_job_fn: releases every hold due at r->now (dc_ledger_release_due). */
enum dc_err dc_release_job(struct dc_store *st, void *ctx);

#endif
