/*
 * load.h - the client load of the tests that run several ducatd on one
 * PostgreSQL database: test_api_multi (three instances, one of them killed
 * mid-load) and test_api_failover (two instances, the database primary
 * killed mid-load). LOAD_USERS client threads, one a user, send transfers,
 * withdrawals and deposits; every request has a request id and is sent
 * again with the same id and body, at the next live instance, on a 503 or
 * a lost connection, as a client behind a load balancer would. Each answer
 * is booked once, so at the end every account must hold exactly what the
 * answers said (load_check_books): no value lost, none duplicated.
 *
 * The client threads report through W.error (the first error; the test
 * thread fails on it), never through the harness's assertions, which
 * return to the test's thread.
 */
#ifndef DUCAT_TEST_LOAD_H
#define DUCAT_TEST_LOAD_H

#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"

#define LOAD_USERS 6
#define LOAD_FUNDS 6000 /* each user's, funded by load_users */
#define LOAD_INST_MAX 3

struct load {
    struct srv inst[LOAD_INST_MAX]; /* copies, so a kill -9 by the test thread races nothing */
    int n_inst;
    atomic_int dead[LOAD_INST_MAX]; /* instance killed: clients stop choosing it */
    struct dev users[LOAD_USERS];
    long long max_amount; /* a transfer moves 1..max_amount */
    long retry_ms;        /* a request is sent again for this long at most */
    pthread_mutex_t mu;
    long long avail[LOAD_USERS], held[LOAD_USERS]; /* what the answers said, booked once */
    long long ok_transfers, refused, withdrawals, deposits, retries, ok_503;
    char error[512];              /* first client error */
    char replay[LOAD_USERS][256]; /* a transfer body per user answered 201 before the mark */
    atomic_llong killed_at;       /* the test's mark (mono ms of a kill), 0 before */
    atomic_llong first_ok_after;  /* mono ms of the first 2xx write sent after the mark */
    atomic_int stop;              /* clients finish their request and end */
    pthread_barrier_t go;
};

extern struct load W;

/* One client thread's state: its user and the coins it withdrew and has
 * not deposited yet (coins[0..ncoins), room for cap). */
struct load_client {
    int u;
    unsigned seed;
    struct coin *coins;
    size_t ncoins, cap;
};

long long load_ms(void); /* CLOCK_MONOTONIC in ms */
void load_sleep_ms(long ms);
H_PRINTF(1, 2) void load_error(const char *fmt, ...);

/* Clears W, sets the instances (n of them) and the load's parameters, and
 * registers and funds the users (user u at instance u % n). */
void load_init(struct srv *const *inst, int n, long long max_amount, long retry_ms);

/* POSTs body to path as d, starting at instance `start`, until an answer
 * that is not 503 and not a lost connection; each retry goes to the next
 * live instance with the same body. The status, 0 if none came within
 * W.retry_ms; *out the answer's JSON (caller json_decrefs). */
int load_post(int start, const struct dev *d, const char *path, const char *body, json_t **out);

/* A transfer of a random amount to another user; a withdrawal of 100 whose
 * coins join c->coins (as far as cap allows); the deposit of c->coins[k].
 * Each booked from its answer; an insufficient-funds refusal is counted,
 * any other failure is W.error. start: the instance to try first. */
void load_transfer(struct load_client *c, int start);
void load_withdraw(struct load_client *c, int start);
void load_deposit(struct load_client *c, size_t k, int start);

/* Every user's balance at s is what the answers said, never below zero. */
void load_check_books(const struct srv *s);

#endif
