/*
 * cli_harness.h - what the end-to-end CLI tests (tests/e2e/test_cli*.c)
 * share: running `ducat` processes in the foreground and the background,
 * wallets made through the CLI, its JSON output, small files, and offline
 * payments built with the core API for the payee to judge.
 *
 * Include "test.h", then "harness.h", then this. Helpers that fail print
 * `FAIL cli_harness.c:line: what` and end the test case through h_fail
 * (harness.h), like FAIL_AT in the test file itself.
 *
 * The ducat binary is $DUCAT, else "ducat" next to $DUCATD (cli_init).
 */
#ifndef DUCAT_TEST_CLI_HARNESS_H
#define DUCAT_TEST_CLI_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "ducat/proto.h"

/* The ducat binary (set by cli_init). */
extern char ducat_bin[1024];

/* Finds ducat and sets the environment every CLI test expects: a fixed
 * DUCAT_PASSPHRASE, no DUCAT_WALLET and no DUCAT_TEST_PAUSE_AT. Registrations
 * use national ids id_prefix (10 digits) + 8 and phones phone_prefix + 8
 * digits, so each test program registers people of its own. */
void cli_init(const char *id_prefix, const char *phone_prefix);

void sleep_ms(long ms);

/* Runs /bin/sh -c CMD (stdout+stderr into out, NUL-terminated, cut at cap;
 * out may be NULL); returns the exit code, 128+signal if killed. */
__attribute__((format(printf, 3, 4))) int sh(char *out, size_t cap, const char *fmt, ...);

/* A wallet of a test: DIR/NAME.w of the server's directory. */
struct wal {
    char path[160];
    long long account;
};

/* `ducat --wallet W ARGS` into out (an array); its exit code. */
#define D(out, w, ...) dcmd((out), sizeof(out), (w), __VA_ARGS__)
__attribute__((format(printf, 4, 5))) int dcmd(char *out, size_t cap, const struct wal *w,
                                               const char *fmt, ...);

/* Creates, registers and (register does) syncs a wallet DIR/NAME.w for the
 * person `who` on server s; fills w->account. */
void wallet_new(const struct srv *s, struct wal *w, const char *name, const char *who);

/* `ducat --json ARGS` parsed (fails unless exit 0 and JSON); the caller
 * frees it with json_decref. */
__attribute__((format(printf, 2, 3))) json_t *djson(const struct wal *w, const char *fmt, ...);

/* One integer field of `ducat --json balance --offline` / `balance`. */
long long offline_field(const struct wal *w, const char *key);
long long online_field(const struct wal *w, const char *key);

int contains(const char *hay, const char *needle);

#define ASSERT_HAS(out, needle)                                                                    \
    do {                                                                                           \
        if (!contains((out), (needle))) FAIL_AT("output lacks \"%s\":\n%s", (needle), (out));      \
    } while (0)

/* Reads a small file into buf (NUL-terminated); returns its length or -1. */
long slurp(const char *path, char *buf, size_t cap);
void write_file(const char *path, const void *b, size_t n);

/* ---- Background processes ---------------------------------------------------------------- */

/* `exec ducat --wallet W ARGS > log 2>&1` in the background; pause_at sets
 * DUCAT_TEST_PAUSE_AT (NULL: unset). The child inherits the environment. */
__attribute__((format(printf, 4, 5))) pid_t spawn(const struct wal *w, const char *log,
                                                  const char *pause_at, const char *fmt, ...);
/* Waits for pid to exit (up to ms): its exit code, 128+sig, or -1 on timeout. */
int wait_exit(pid_t pid, long ms);
void kill9(pid_t pid);
/* Waits until file contains needle (up to ms); fails with its content otherwise. */
void wait_for(const char *path, const char *needle, long ms);
/* The port `ducat receive --port-file` wrote (waits up to 10 s). */
int port_of(const char *port_file);

/* ---- Payments built with the core API ------------------------------------------------------ */

/* Reads the request armor at path into bytes and decodes it. */
void load_request(const char *path, uint8_t *req, size_t *len, struct dc_request *r);
/* Appends a TRANSFER of c (owned by from) to the request's payee with its nonce. */
void transfer_to_request(struct coin *c, const struct dev *from, const struct dc_request *r);
/* Writes the armored payment of these n coins for the request bytes to path. */
void write_payment(const char *path, const uint8_t *req, size_t rlen, const struct coin *coins,
                   size_t n);

/* A request of the payee for a payment built by hand: `ducat request AMOUNT`
 * into DIR/req-TAG (fails unless exit 0), read back; pay_path is
 * DIR/pay-TAG, where the payment goes. */
struct hand_request {
    uint8_t req[DC_REQUEST_BYTES];
    size_t len;
    struct dc_request r;
    char pay_path[256];
};
void hand_request(struct hand_request *h, const struct wal *payee, const char *dir, const char *tag,
                  const char *amount);

#endif
