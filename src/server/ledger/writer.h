/*
 * writer.h - the single writer with group commit.
 *
 * Every write of the server goes through one thread that owns the one write
 * connection. Request threads submit a job (a function and its context) and
 * block; the writer takes every job queued (up to max_batch), opens one
 * transaction, runs each job in its own savepoint (a failing job rolls back
 * alone), commits once, and only then wakes the submitters. So N concurrent
 * requests share one durable commit (one fsync), and no response is sent
 * before its data is on disk. If the commit itself fails, every job of the
 * batch gets the error: none of them was written.
 *
 * A transient failure of the whole transaction (DC_ERR_STORE_RETRY: a
 * PostgreSQL serialization failure, deadlock or lost connection; or
 * DC_ERR_STORE_BUSY) re-runs the whole batch, every job's fn from the
 * start, with bounded backoff (writer.c). So a job fn must be re-runnable:
 * it acts only through the store and may be called more than once before
 * its result is final, and it must reset (not accumulate) what it records
 * in its context.
 *
 * A job must not have effects outside the store that a rollback would not
 * undo; it records its results in its context, which the submitter reads
 * after dc_writer_run returns DC_OK.
 */
#ifndef DUCAT_SERVER_WRITER_H
#define DUCAT_SERVER_WRITER_H

#include "store/store.h"

struct dc_writer;
struct dc_metrics;

typedef enum dc_err (*dc_job_fn)(struct dc_store *st, void *ctx);

enum dc_err dc_writer_start(struct dc_writer **out, struct dc_store *st, unsigned max_batch,
                            unsigned max_wait_us, struct dc_metrics *m);
/* Runs fn(st, ctx) in the next group commit; returns fn's error, a commit
 * error, or DC_ERR_SHUTTING_DOWN. Blocks until durable. */
enum dc_err dc_writer_run(struct dc_writer *w, dc_job_fn fn, void *ctx);
/* Finishes queued jobs, stops the thread and closes the store. */
void dc_writer_stop(struct dc_writer *w);

#endif
