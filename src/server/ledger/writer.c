/*
 * writer.c - single writer thread with group commit (see writer.h).
 *
 * The queue is a singly linked list of jobs living in their submitters'
 * memory (no allocation per request): on the stack of a thread blocked in
 * dc_writer_run, or in a request's state for dc_writer_submit, whose done
 * callback then finishes the request on this thread. Batching is natural: while one commit
 * is being fsynced, new jobs pile up and all go into the next transaction;
 * max_wait_us optionally waits a little longer for company when the queue
 * is short, trading latency for larger batches.
 *
 * Retries. On PostgreSQL a batch can lose a race with another instance's
 * transaction (serialization failure, deadlock) or its connection; the
 * store then answers DC_ERR_STORE_RETRY and the whole transaction is gone,
 * so the writer rolls back and runs the WHOLE batch again, every job's fn
 * from the start (a job acts only through the store, so a re-run is a
 * clean re-run; a commit whose outcome is unknown is safe to re-run because
 * money-moving jobs are idempotent by request id and find their own stored
 * answer). Retries are bounded with exponential backoff and jitter; after
 * SPLIT_AFTER failed attempts a batch is split into one-job transactions so
 * that one hot conflict cannot starve its companions; a job that still
 * cannot commit after MAX_ATTEMPTS gets DC_ERR_STORE_RETRY (HTTP 503, the
 * client retries with the same request id). The store reconnects a lost
 * connection at the next begin.
 *
 * A batch that fails for another reason than a race is split at once:
 * normally a failing job rolls back to its savepoint alone, but a store
 * may report a job's failure only at commit (the PostgreSQL store defers
 * rows to the commit's round trip, store_pg.c), and then the one-job
 * transactions find the job that caused it while its companions commit.
 */
#include "server/ledger/writer.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "server/obs/log.h"
#include "server/obs/metrics.h"

/* A queued job is the public struct dc_writer_job (writer.h): an
 * asynchronous submitter's, or this one on dc_writer_run's stack, whose
 * done callback posts its semaphore. */
struct sync_job {
    struct dc_writer_job j;
    /* Posted once the result is set. Its own, so a commit wakes only its
     * batch's submitters, and posted outside the queue lock, so each of
     * them returns at once instead of queueing for that lock behind the
     * others (and behind the writer waking them). */
    sem_t done;
};

struct dc_writer {
    struct dc_store *st;
    unsigned max_batch, max_wait_us;
    struct dc_metrics *m;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t has_work; /* writer waits for jobs */
    struct dc_writer_job *head, *tail;
    int stopping;
    uint64_t rng; /* backoff jitter (xorshift), writer thread only */
    /* the job whose fn runs now (writer thread only): a dc_writer_run
     * called from inside it runs inline, and its result is the job's */
    struct dc_writer_job *current;
};

#define MAX_ATTEMPTS 12 /* per batch, and again per job after a split */
#define SPLIT_AFTER 3   /* failed whole-batch attempts before splitting */
#define BACKOFF_MIN_US 500u
#define BACKOFF_MAX_US 200000u

static int is_transient(enum dc_err e)
{
    return e == DC_ERR_STORE_RETRY || e == DC_ERR_STORE_BUSY;
}

/* Sleeps about us microseconds, randomised to [us/2, us) so that two
 * instances that collided do not collide again in lockstep. */
static void backoff(struct dc_writer *w, unsigned us)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    unsigned half = us / 2 ? us / 2 : 1;
    unsigned long ns = 1000ul * (half + (unsigned)(w->rng % half));
    struct timespec ts = {(time_t)(ns / 1000000000ul), (long)(ns % 1000000000ul)};
    nanosleep(&ts, NULL);
}

/*
 * One attempt: the batch in one transaction, each job in a savepoint. DC_OK
 * when committed (each job's result is set), else the error that broke the
 * transaction, and then nothing of the batch was written.
 */
static enum dc_err try_batch(struct dc_writer *w, struct dc_writer_job *batch)
{
    struct dc_store *st = w->st;
    enum dc_err e = DC_OK;
    for (int attempt = 0; attempt < 50; attempt++) {
        e = st->ops->begin(st, 1);
        if (e != DC_ERR_STORE_BUSY) break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (e != DC_OK) return e;
    for (struct dc_writer_job *j = batch; j; j = j->next) {
        e = st->ops->savepoint(st);
        if (e != DC_OK) break;
        w->current = j;
        j->has_inner = 0;
        j->result = j->fn(st, j->ctx);
        w->current = NULL;
        /* a job that ran its store work through a nested dc_writer_run
         * (a handler run on this thread, http.c) is judged by that work,
         * as the same work submitted from another thread would be: a
         * refusal it stored is kept, whatever the handler made of it */
        if (j->has_inner) j->result = j->inner;
        e = j->result == DC_OK ? st->ops->release(st) : st->ops->rollback_to(st);
        /* a job that lost a race fails the transaction, not just itself */
        if (e == DC_OK && is_transient(j->result)) e = j->result;
        if (e != DC_OK) break; /* the transaction itself is broken */
    }
    if (e == DC_OK) e = st->ops->commit(st);
    if (e != DC_OK) st->ops->rollback(st);
    return e;
}

static void run_batch(struct dc_writer *w, struct dc_writer_job *batch, size_t n)
{
    struct dc_store *st = w->st;
    enum dc_err e = DC_OK;
    unsigned wait_us = BACKOFF_MIN_US;
    for (int attempt = 1;; attempt++) {
        e = try_batch(w, batch);
        /* counted: contention between instances shows here first */
        if (is_transient(e) && w->m) dc_metrics_add(w->m, DC_M_STORE_RETRIES, 1);
        if (e == DC_OK || attempt >= MAX_ATTEMPTS) break;
        /* a batch broken by something other than a race (a deferred write
         * refused at commit, a failed statement outside any savepoint) is
         * split at once: the job that caused it then fails alone */
        if (!is_transient(e) && n == 1) break;
        dc_log(DC_LOG_DEBUG, "writer: batch of %zu, attempt %d: %s: retrying", n, attempt,
               st->ops->errmsg(st));
        if ((attempt == SPLIT_AFTER || !is_transient(e)) && n > 1) {
            /* one transaction per job from now on, each with its own retries */
            for (struct dc_writer_job *j = batch; j;) {
                struct dc_writer_job *next = j->next;
                j->next = NULL;
                run_batch(w, j, 1);
                j->next = next; /* writer_main walks the list afterwards */
                j = next;
            }
            return;
        }
        backoff(w, wait_us);
        wait_us = wait_us * 2 < BACKOFF_MAX_US ? wait_us * 2 : BACKOFF_MAX_US;
    }
    if (e != DC_OK) {
        dc_log(DC_LOG_ERROR, "writer: batch of %zu failed: %s", n, st->ops->errmsg(st));
        for (struct dc_writer_job *j = batch; j; j = j->next) j->result = e;
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
            for (struct dc_writer_job *j = w->head; j; j = j->next) queued++;
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
        struct dc_writer_job *batch = w->head, *last = w->head;
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
        for (struct dc_writer_job *j = batch; j;) {
            struct dc_writer_job *next = j->next; /* j vanishes once its submitter wakes */
            j->next = NULL;
            j->done(j);
            j = next;
        }
        pthread_mutex_lock(&w->lock);
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
    w->rng = (uint64_t)(uintptr_t)w ^ (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ull;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->has_work, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        free(w);
        return DC_ERR_INTERNAL;
    }
    *out = w;
    return DC_OK;
}

static int enqueue(struct dc_writer *w, struct dc_writer_job *j)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return 0;
    }
    j->next = NULL;
    if (w->tail) {
        w->tail->next = j;
    } else {
        w->head = j;
    }
    w->tail = j;
    /* no system call when the writer is busy committing (no waiter): the
     * jobs queued meanwhile are taken together after its commit */
    pthread_cond_signal(&w->has_work);
    pthread_mutex_unlock(&w->lock);
    return 1;
}

enum dc_err dc_writer_submit(struct dc_writer *w, struct dc_writer_job *j)
{
    j->result = DC_OK;
    return enqueue(w, j) ? DC_OK : DC_ERR_SHUTTING_DOWN;
}

static void post_sync(struct dc_writer_job *j)
{
    sem_post(&((struct sync_job *)j)->done);
}

enum dc_err dc_writer_run(struct dc_writer *w, dc_job_fn fn, void *ctx)
{
    if (pthread_equal(pthread_self(), w->thread)) {
        /* on the writer itself, inside a job (a handler the io thread
         * submitted whole): already in the batch's transaction and the
         * job's savepoint, so fn runs now; it must not wait for a commit
         * that only this thread can make */
        enum dc_err e = fn(w->st, ctx);
        if (w->current) {
            w->current->inner = e;
            w->current->has_inner = 1;
        }
        return e;
    }
    struct sync_job sj = {.j = {.fn = fn, .ctx = ctx, .done = post_sync}};
    if (sem_init(&sj.done, 0, 0) != 0) return DC_ERR_INTERNAL;
    /* sj lives on this stack while queued: we wait below until the writer
     * has posted sj.done, and the writer unlinks it before posting */
    if (!enqueue(w, &sj.j)) {
        sem_destroy(&sj.done);
        return DC_ERR_SHUTTING_DOWN;
    }
    /* sem_post/sem_wait order the writer's writes to sj before our reads;
     * POSIX lets a semaphore be destroyed once no one waits on it. Only a
     * signal (EINTR) makes sem_wait fail here: sj must outlive the post. */
    while (sem_wait(&sj.done) != 0) {
    }
    sem_destroy(&sj.done);
    return sj.j.result;
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
    free(w);
}
