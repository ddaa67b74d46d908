/*
 * test_cli_output.c - what people read, from real `ducat` and `ducatd`
 * processes against a real server: every message that names money says it
 * in major units with the currency (and never leaks the minor-unit number),
 * times are dates in the deployment's time zone with its offset, `--json`
 * failures are JSON of the documented shape, the fixed messages (paying
 * yourself, a system account, a resolve without a reason, the port of
 * `receive --listen HOST:0`), `--help` on every command and `-V`.
 */
#define _DEFAULT_SOURCE
#include "test.h"

#include "harness.h"

#include "cli_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct srv S;

#define ASSERT_LACKS(out, needle)                                                                  \
    do {                                                                                           \
        if (contains((out), (needle))) FAIL_AT("output has \"%s\":\n%s", (needle), (out));         \
    } while (0)

static void setup(struct wal *alice, struct wal *bob)
{
    char out[8192];
    srv_cleanup(&S);
    srv_init(&S, NULL);
    srv_start(&S);
    wallet_new(&S, alice, "alice", "Alice Zhang");
    wallet_new(&S, bob, "bob", "Bob Li");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts verify %lld", alice->account), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts verify %lld", bob->account), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 67.50", alice->account), 0);
    ASSERT_HAS(out, "funded 67.50 CNY to account");
}

static void test_money_in_major_units(void)
{
    char out[16384];
    struct wal alice, bob;
    setup(&alice, &bob);

    /* the example: needs 10000.00, has 67.50 */
    ASSERT_EQ(D(out, &alice, "pay %lld 10000", bob.account), 1);
    ASSERT_HAS(out, "needs 10000.00 CNY, available 67.50 CNY");
    ASSERT_LACKS(out, "1000000");
    ASSERT_LACKS(out, "6750");

    /* operator commands: lists, payout, audit */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts list"), 0);
    ASSERT_HAS(out, "67.50 CNY");
    ASSERT_LACKS(out, "6750");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "payout %lld 100", alice.account), 1);
    ASSERT_HAS(out, "payout 100.00 CNY exceeds available 67.50 CNY");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "payout %lld 7.50", alice.account), 0);
    ASSERT_HAS(out, "paid out 7.50 CNY from account");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "audit"), 0);
    ASSERT_HAS(out, "users (available + held): 60.00 CNY");
    ASSERT_HAS(out, "funded - paid out:        60.00 CNY");
    ASSERT_LACKS(out, "6000");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases list"), 0);
    ASSERT_HAS(out, "exposure");

    /* keys: dates in the deployment's zone (the shipped calendar: UTC+08:00) */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "keys list"), 0);
    ASSERT_HAS(out, "signs until 20");
    ASSERT_HAS(out, "(UTC+08:00), verifies until 20");
    ASSERT_LACKS(out, "sign_until=");
    audit_ok(&S);
    srv_cleanup(&S);
}

static void test_fixed_messages(void)
{
    char out[16384];
    struct wal alice, bob;
    setup(&alice, &bob);

    ASSERT_EQ(D(out, &alice, "pay %lld 1.00", alice.account), 1);
    ASSERT_HAS(out, "you cannot pay your own account");
    ASSERT_LACKS(out, "transfers[0]");

    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "accounts verify 1"), 1);
    ASSERT_HAS(out, "account 1 is the settlement account, a system account");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund 2 1.00"), 1);
    ASSERT_HAS(out, "account 2 is the offline float account");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases resolve 1 reject"), 2);
    ASSERT_HAS(out, "--reason TEXT is required");
    ASSERT_LACKS(out, "got decision");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases resolve 1 maybe --reason x"), 2);
    ASSERT_HAS(out, "decision 'maybe': expected honour or reject");

    /* receive --listen HOST:0 reports the port it got */
    char log[256], pf[256], want[64];
    snprintf(log, sizeof log, "%s/recv.log", S.dir);
    snprintf(pf, sizeof pf, "%s/recv.port", S.dir);
    pid_t p = spawn(&bob, log, NULL,
                    "receive --listen 127.0.0.1:0 --amount 1.00 --port-file %s "
                    "--timeout 2",
                    pf);
    int port = port_of(pf);
    ASSERT(port > 0);
    snprintf(want, sizeof want, "waiting for the payer on 127.0.0.1:%d", port);
    wait_for(log, want, 10000);
    wait_exit(p, 10000);
    ASSERT(slurp(log, out, sizeof out) > 0);
    ASSERT_LACKS(out, "127.0.0.1:0\n");
    ASSERT_LACKS(out, "ducat: request"); /* progress lines carry no error prefix */
    srv_cleanup(&S);
}

static void test_json_errors(void)
{
    char out[16384];
    struct wal alice, bob;
    setup(&alice, &bob);
    ASSERT_EQ(D(out, &alice, "--json pay %lld 10000", bob.account), 1);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!j) FAIL_AT("--json error is not JSON: %s", out);
    json_t *e = json_object_get(j, "error");
    ASSERT(json_is_object(e));
    ASSERT_STR(json_str(e, "name"), "DC_ERR_INSUFFICIENT_FUNDS");
    ASSERT_EQ(json_int(e, "code"), 1110);
    ASSERT_EQ(json_int(e, "exit_code"), 1);
    ASSERT(strstr(json_str(e, "message"), "available 67.50 CNY") != NULL);
    json_decref(j);

    /* a usage error has no registry code, still JSON */
    ASSERT_EQ(D(out, &alice, "--json pay"), 2);
    j = json_loads(out, 0, &je);
    if (!j) FAIL_AT("--json usage error is not JSON: %s", out);
    ASSERT_EQ(json_int(json_object_get(j, "error"), "exit_code"), 2);
    json_decref(j);
    srv_cleanup(&S);
}

static void test_help_and_version(void)
{
    char out[16384];
    srv_cleanup(&S);
    srv_init(&S, NULL);
    ASSERT_EQ(sh(out, sizeof out, "%s -V", h_ducatd()), 0);
    ASSERT_HAS(out, "ducatd 0.1.0");
    ASSERT_EQ(sh(out, sizeof out, "%s -V", ducat_bin), 0);
    ASSERT_HAS(out, "ducat 0.1.0");
    static const char *const dcmds[] = {"init",   "serve", "keys",  "accounts", "fund",
                                        "payout", "cases", "holds", "audit"};
    for (size_t i = 0; i < sizeof dcmds / sizeof dcmds[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: ducatd [-c CONFIG] %s", dcmds[i]);
        ASSERT_EQ(sh(out, sizeof out, "%s %s --help", h_ducatd(), dcmds[i]), 0);
        ASSERT_HAS(out, want);
    }
    ASSERT_EQ(sh(out, sizeof out, "%s help config", h_ducatd()), 0);
    ASSERT_HAS(out, "default_offline_limit = 2000.00");
    /* every ducat command listed in --help answers --help */
    ASSERT_EQ(sh(out, sizeof out, "%s --help", ducat_bin), 0);
    char list[16384];
    snprintf(list, sizeof list, "%s", out);
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[32];
        if (strncmp(line, "  ", 2) != 0 || line[2] == '-' ||
            sscanf(line + 2, "%31[a-z]", name) != 1 || strcmp(name, "help") == 0) {
            continue;
        }
        char want[64];
        snprintf(want, sizeof want, "usage: ducat %s", name);
        int rc = sh(out, sizeof out, "%s %s --help", ducat_bin, name);
        if (rc != 0) FAIL_AT("ducat %s --help exited %d: %s", name, rc, out);
        ASSERT_HAS(out, want);
        n++;
    }
    ASSERT(n >= 15);
    srv_cleanup(&S);
}

static void test_setup(void)
{
    cli_init("1101011992", "+86136");
}

TESTS(T(test_setup), T(test_money_in_major_units), T(test_fixed_messages), T(test_json_errors),
      T(test_help_and_version))
