/*
 * writer.c - single writer thread with group commit (see writer.h).
 *
 * The queue is a singly linked list of jobs living on their submitters'
 * stacks (no allocation per request). Batching is natural: while one commit
 * is being fsynced, new jobs pile up and all go into the next transaction;
 * max_wait_us optionally waits a little longer for company when the queue
 * is short, trading latency for larger batches.
 */
#include "server/writer.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "server/metrics.h"
#include "server/server.h"

struct job {
    dc_job_fn fn;
    void *ctx;
    enum dc_err result;
    int done;
    struct job *next;
};

struct dc_writer {
    struct dc_store *st;
    unsigned max_batch, max_wait_us;
    struct dc_metrics *m;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t has_work; /* writer waits for jobs */
    pthread_cond_t done;     /* submitters wait for their batch */
    struct job *head, *tail;
    int stopping;
};

static void run_batch(struct dc_writer *w, struct job *batch, size_t n)
{
    struct dc_store *st = w->st;
    enum dc_err e = DC_OK;
    for (int attempt = 0; attempt < 50; attempt++) {
        e = st->ops->begin(st, 1);
        if (e != DC_ERR_STORE_BUSY) break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (e != DC_OK) {
        dc_log(DC_LOG_ERROR, "writer: begin failed: %s", st->ops->errmsg(st));
        for (struct job *j = batch; j; j = j->next) j->result = e;
        return;
    }
    for (struct job *j = batch; j; j = j->next) {
        e = st->ops->savepoint(st);
        if (e == DC_OK) {
            j->result = j->fn(st, j->ctx);
            e = j->result == DC_OK ? st->ops->release(st) : st->ops->rollback_to(st);
        } else {
            j->result = e;
        }
        if (e != DC_OK) break; /* the transaction itself is broken */
    }
    if (e == DC_OK) e = st->ops->commit(st);
    if (e != DC_OK) {
        dc_log(DC_LOG_ERROR, "writer: batch of %zu failed: %s", n, st->ops->errmsg(st));
        st->ops->rollback(st);
        for (struct job *j = batch; j; j = j->next) j->result = e;
    }
    if (w->m) dc_metrics_commit(w->m, n);
}

static void *writer_main(void *arg)
{
    struct dc_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping) pthread_cond_wait(&w->has_work, &w->lock);
        if (!w->head && w->stopping) break;
        if (w->max_wait_us && !w->stopping) {
            /* a short wait for company when only a few jobs are queued */
            size_t queued = 0;
            for (struct job *j = w->head; j; j = j->next) queued++;
            if (queued < w->max_batch / 4 + 1) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += (long)w->max_wait_us * 1000;
                if (until.tv_nsec >= 1000000000L) {
                    until.tv_sec += until.tv_nsec / 1000000000L;
                    until.tv_nsec %= 1000000000L;
                }
                pthread_cond_timedwait(&w->has_work, &w->lock, &until);
            }
        }
        /* take up to max_batch jobs */
        struct job *batch = w->head, *last = w->head;
        size_t n = 1;
        while (last->next && n < w->max_batch) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (!w->head) w->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&w->lock);
        run_batch(w, batch, n);
        pthread_mutex_lock(&w->lock);
        for (struct job *j = batch; j;) {
            struct job *next = j->next; /* j may vanish once done is seen */
            j->done = 1;
            j = next;
        }
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

enum dc_err dc_writer_start(struct dc_writer **out, struct dc_store *st, unsigned max_batch,
                            unsigned max_wait_us, struct dc_metrics *m)
{
    struct dc_writer *w = calloc(1, sizeof *w);
    *out = NULL;
    if (!w) return DC_ERR_NO_MEMORY;
    w->st = st;
    w->max_batch = max_batch ? max_batch : 1;
    w->max_wait_us = max_wait_us;
    w->m = m;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->has_work, NULL);
    pthread_cond_init(&w->done, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        free(w);
        return DC_ERR_INTERNAL;
    }
    *out = w;
    return DC_OK;
}

enum dc_err dc_writer_run(struct dc_writer *w, dc_job_fn fn, void *ctx)
{
    struct job j = {fn, ctx, DC_OK, 0, NULL};
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return DC_ERR_SHUTTING_DOWN;
    }
    if (w->tail) {
        w->tail->next = &j;
    } else {
        w->head = &j;
    }
    w->tail = &j;
    pthread_cond_signal(&w->has_work);
    while (!j.done) pthread_cond_wait(&w->done, &w->lock);
    pthread_mutex_unlock(&w->lock);
    return j.result;
}

void dc_writer_stop(struct dc_writer *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->has_work);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->st->ops->close(w->st);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->has_work);
    pthread_cond_destroy(&w->done);
    free(w);
}
