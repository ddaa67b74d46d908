/*
 * test_cli_evidence.c - `ducat evidence verify`: a real case's evidence,
 * taken from a real ducatd (a coin double-spent from a restored backup and
 * both copies deposited), checked by the CLI with the master public key
 * alone, and the same evidence tampered with in each part the proof rests
 * on: every variant refused with exit 1, naming what failed.
 */
#include "test.h"
/* harness.h after test.h (it uses test.h's macros) */
#include "harness.h"

#include "cli_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ducat/armor.h"
#include "ducat/auth.h"
#include "ducat/coin.h"
#include "ducat/refusal.h"
#include "fixture.h"

static struct srv S;
static struct dev alice, bob, carol;
static long long case_id;
static char master_hex[2 * DC_PUBKEY_BYTES + 1];
static char ev_hex[2 * DC_EVIDENCE_MAX_BYTES + 1];
static char ev_armor[4 * DC_EVIDENCE_MAX_BYTES];

static void put(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", S.dir, name);
    write_file(path, text, strlen(text));
}

/* `ducat evidence verify FILE --master-key KEY` (no wallet): exit code. */
static int verify(char *out, size_t cap, const char *file, const char *key)
{
    return sh(out, cap, "%s evidence verify %s --master-key %s", ducat_bin, file, key);
}

/* Alice withdraws 1000, pays Bob offline, restores her backup and pays
 * Carol the same coin; both deposit: case 1 with its evidence. */
static void test_setup(void)
{
    cli_init("1101011993", "+86139");
    srv_init(&S, "--auto-verify");
    srv_start(&S);
    dev_setup(&S, &alice, "Alice Zhang", 1000);
    dev_setup(&S, &bob, "Bob Li", 0);
    dev_setup(&S, &carol, "Carol Wang", 0);
    dev_sync(&S, &bob);
    dev_sync(&S, &carol);
    static struct coin x[1], copy[1];
    size_t n = 0;
    json_t *j = NULL;
    ASSERT_EQ(withdraw(&S, &alice, 1000, x, 1, &n, &j), 201);
    json_decref(j);
    copy[0] = x[0];
    coin_transfer(&x[0], &alice, &bob);
    coin_transfer(&copy[0], &alice, &carol);
    coin_deposit(&x[0], &bob, bob.account);
    coin_deposit(&copy[0], &carol, carol.account);
    j = NULL;
    ASSERT_EQ(deposit(&S, &bob, x, 1, NULL, &j), 201);
    json_decref(j);
    j = NULL;
    ASSERT_EQ(deposit(&S, &carol, copy, 1, NULL, &j), 201);
    case_id = json_int(json_array_get(json_get(j, "coins"), 0), "case");
    json_decref(j);
    ASSERT(case_id > 0);
    char path[96];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
    json_t *c = NULL;
    ASSERT_EQ(admin(&S, S.token, "GET", path, NULL, &c), 200);
    snprintf(ev_hex, sizeof ev_hex, "%s", json_str(c, "evidence"));
    snprintf(ev_armor, sizeof ev_armor, "%s", json_str(c, "evidence_armor"));
    char *whole = json_dumps(c, JSON_INDENT(2));
    ASSERT(whole != NULL);
    char file[160];
    put("case.json", whole, file, sizeof file);
    free(whole);
    json_decref(c);
    json_t *k = NULL;
    ASSERT_EQ(api(&S, NULL, "GET", "/v1/keys", NULL, &k), 200);
    snprintf(master_hex, sizeof master_hex, "%s", json_str(k, "master_pub"));
    char *keys = json_dumps(k, 0);
    put("keys.json", keys, file, sizeof file);
    free(keys);
    json_decref(k);
    put("evidence.txt", ev_armor, file, sizeof file);
    put("evidence.hex", ev_hex, file, sizeof file);
    ASSERT_EQ(strlen(master_hex), 64);
}

/* The armor, its hex and the case's JSON all verify and name Alice's
 * device; the key may come as hex, a file, or the saved /v1/keys. */
static void test_verifies_and_names_culprit(void)
{
    char out[8192], file[160], keyf[160];
    snprintf(file, sizeof file, "%s/evidence.txt", S.dir);
    ASSERT_EQ(verify(out, sizeof out, file, master_hex), 0);
    ASSERT_HAS(out, "verified: a double spend");
    char want[200];
    snprintf(want, sizeof want, "culprit device: %s", alice.pk_hex);
    ASSERT_HAS(out, want);
    ASSERT_HAS(out, "successor A:    transfer");
    ASSERT_HAS(out, "successor B:    transfer");
    ASSERT_HAS(out, "value 1000 minor units, 0 records after the genesis");
    snprintf(file, sizeof file, "%s/evidence.hex", S.dir);
    ASSERT_EQ(verify(out, sizeof out, file, master_hex), 0);
    snprintf(file, sizeof file, "%s/case.json", S.dir);
    snprintf(keyf, sizeof keyf, "%s/keys.json", S.dir);
    ASSERT_EQ(verify(out, sizeof out, file, keyf), 0);
    ASSERT_HAS(out, want);
    /* --json: one object */
    ASSERT_EQ(sh(out, sizeof out, "%s --json evidence verify %s --master-key %s", ducat_bin, file,
                 master_hex),
              0);
    json_t *j = json_loads(out, 0, NULL);
    ASSERT(j != NULL);
    ASSERT(json_is_true(json_object_get(j, "verified")));
    ASSERT(strcmp(json_string_value(json_object_get(j, "culprit")), alice.pk_hex) == 0);
    ASSERT_EQ(json_array_size(json_object_get(j, "successors")), 2);
    json_decref(j);
}

/* One hex digit of the evidence changed at byte `at` (from the end if < 0):
 * verify must fail with exit 1 and name `why`. */
static void tampered(long at, const char *why)
{
    char hex[sizeof ev_hex];
    snprintf(hex, sizeof hex, "%s", ev_hex);
    size_t n = strlen(hex) / 2;
    size_t i = at < 0 ? n - (size_t)(-at) : (size_t)at;
    hex[2 * i + 1] = hex[2 * i + 1] == '0' ? '1' : '0';
    char file[160], out[4096];
    put("tampered.hex", hex, file, sizeof file);
    int rc = verify(out, sizeof out, file, master_hex);
    if (rc != 1) FAIL_AT("tampered byte %ld: exit %d, expected 1:\n%s", at, rc, out);
    ASSERT_HAS(out, why);
}

static void test_tampered_refused(void)
{
    /* the last signature: successor B's */
    tampered(-1, "successor B is not signed by the owner of the forked state");
    /* the first key certificate's content (3 bytes of header before it) */
    tampered(3 + 8, "not signed by this master key");
    /* the header: not evidence at all */
    tampered(0, "does not decode");
    /* the armor's checksum catches a changed character */
    char armor[sizeof ev_armor];
    snprintf(armor, sizeof armor, "%s", ev_armor);
    char *body = strrchr(armor, ':');
    ASSERT(body != NULL && body[1] && body[2]);
    body[2] = body[2] == 'A' ? 'B' : 'A';
    char file[160], out[4096];
    put("tampered.txt", armor, file, sizeof file);
    ASSERT_EQ(verify(out, sizeof out, file, master_hex), 1);
    ASSERT_HAS(out, "armor");
    /* another issuer's key: its certificates do not chain to it */
    char other[65];
    snprintf(other, sizeof other, "%s", alice.pk_hex);
    snprintf(file, sizeof file, "%s/evidence.txt", S.dir);
    ASSERT_EQ(verify(out, sizeof out, file, other), 1);
    ASSERT_HAS(out, "not signed by this master key");
    /* usage errors: exit 2 */
    ASSERT_EQ(verify(out, sizeof out, file, "12ab"), 2);
    ASSERT_HAS(out, "--master-key");
    ASSERT_EQ(sh(out, sizeof out, "%s evidence verify %s", ducat_bin, file), 2);
    snprintf(file, sizeof file, "%s/keys.json", S.dir); /* JSON without evidence */
    ASSERT_EQ(verify(out, sizeof out, file, master_hex), 2);
}

/* `ducatd cases show` and the admin API list the deposits of each branch:
 * Bob's (first, backed) and Carol's (the double-spent one), with their holds. */
static void test_cases_show_branches(void)
{
    static char out[1 << 16];
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "cases show %lld", case_id), 0);
    json_t *c = json_loads(out, 0, NULL);
    if (!c) FAIL_AT("cases show printed no JSON:\n%s", out);
    for (int pass = 0; pass < 2; pass++) {
        json_t *deps = json_get(c, "deposits");
        ASSERT_EQ(json_array_size(deps), 2);
        int seen_a = 0, seen_b = 0;
        for (size_t i = 0; i < 2; i++) {
            json_t *d = json_array_get(deps, i);
            const char *br = json_str(d, "branch");
            long long acct = json_int(d, "account");
            ASSERT(acct == bob.account || acct == carol.account);
            ASSERT_EQ(json_int(d, "amount"), 1000);
            ASSERT(json_int(d, "hold") > 0 && json_int(d, "deposit") > 0);
            ASSERT(strcmp(json_str(d, "status"), "held") == 0 ||
                   strcmp(json_str(d, "status"), "frozen") == 0);
            seen_a += strcmp(br, "A") == 0;
            seen_b += strcmp(br, "B") == 0;
        }
        ASSERT(seen_a == 1 && seen_b == 1);
        json_decref(c);
        if (pass == 1) break;
        char path[96];
        snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
        c = NULL;
        ASSERT_EQ(admin(&S, S.token, "GET", path, NULL, &c), 200);
    }
}

/* The wallet CLI says when a release date is provisional: a deposit made on
 * 2026-12-21 (the dev clock) reaches 2027, which the shipped calendar does
 * not cover. */
static void test_cli_shows_provisional(void)
{
    static struct srv T;
    srv_init_shipped_calendar(&T, "--auto-verify");
    srv_dev_clock(&T);
    srv_clock_set(&T, 1797825600000ull); /* 2026-12-21 12:00 UTC+08:00 */
    /* init certified its signing key from the wall clock, maybe later than
     * the dev clock (on a real date after 2026-12-21): one valid from now */
    char out[8192];
    if (srv_cmd(&T, out, sizeof out, "keys rotate") != 0) FAIL_AT("keys rotate: %s", out);
    srv_start(&T);
    struct wal w;
    wallet_new(&T, &w, "dana", "Dana Zhou");
    ASSERT_EQ(fund(&T, w.account, 1000), 201);
    ASSERT_EQ(D(out, &w, "withdraw 5.00"), 0);
    ASSERT_EQ(D(out, &w, "deposit"), 0);
    ASSERT_HAS(out, "provisional");
    ASSERT_EQ(D(out, &w, "balance"), 0);
    ASSERT_HAS(out, "at the earliest (provisional");
    ASSERT_HAS(out, "does not cover this hold yet");
    json_t *j = djson(&w, "--json balance");
    json_t *h = json_array_get(json_object_get(j, "holds"), 0);
    ASSERT(json_is_true(json_object_get(h, "release_provisional")));
    long long release_at = (long long)json_integer_value(json_object_get(h, "release_at"));
    json_decref(j);

    /* history: the deposit entry says its date is provisional, text and JSON */
    ASSERT_EQ(D(out, &w, "history"), 0);
    const char *row = strstr(out, " deposit ");
    if (row == NULL) FAIL_AT("no deposit entry in history:\n%s", out);
    const char *eol = strchr(row, '\n');
    ASSERT(eol != NULL);
    const char *p = strstr(row, "held, released 2027-01-1");
    if (p == NULL || p > eol || !strstr(row, "at the earliest (provisional")) {
        FAIL_AT("the deposit entry does not say provisional:\n%s", out);
    }
    j = djson(&w, "--json history");
    json_t *es = json_object_get(j, "entries");
    int deposits = 0;
    for (size_t i = 0; i < json_array_size(es); i++) {
        json_t *e = json_array_get(es, i);
        if (strcmp(json_string_value(json_object_get(e, "kind")), "deposit") != 0) continue;
        deposits++;
        ASSERT(json_is_true(json_object_get(e, "release_provisional")));
        ASSERT_EQ(json_integer_value(json_object_get(e, "release_at")), release_at);
        ASSERT_STR(json_string_value(json_object_get(e, "hold_status")), "held");
    }
    ASSERT_EQ(deposits, 1);
    json_decref(j);

    /* a calendar covering 2027 fixes the date: history shows it firm */
    char path[160];
    snprintf(path, sizeof path, "%s/cal2027.txt", T.dir);
    if (sh(out, sizeof out,
           "sed 's/^covers 2025-01-01 2026-12-31$/covers 2025-01-01 2027-12-31/' %s/calendar.txt "
           "> %s && printf '# TEST DATA, not the official 2027 arrangement\\n"
           "holiday 2027-01-01 2027-01-03\\n' >> %s",
           T.dir, path, path) != 0) {
        FAIL_AT("cannot write %s: %s", path, out);
    }
    if (srv_cmd(&T, out, sizeof out, "calendar load %s", path) != 0) {
        FAIL_AT("calendar load: %s", out);
    }
    ASSERT_EQ(D(out, &w, "history"), 0);
    row = strstr(out, " deposit ");
    ASSERT(row != NULL);
    eol = strchr(row, '\n');
    p = strstr(row, "held, released 2027-01-1");
    if (p == NULL || p > eol || strstr(out, "provisional") != NULL) {
        FAIL_AT("the deposit entry should show a firm date:\n%s", out);
    }
    srv_cleanup(&T);
}

/* The refusal evidence of a maximal payment (16 coins, a 16,035-byte
 * PAYMENT: 16,495 bytes, more than fork evidence's 15,065) as armor and
 * as hex, made in the deterministic world and checked with its master key:
 * verified, naming Bob (before: "the armor does not decode"). */
static void test_maximal_refusal_evidence(void)
{
    static struct world w;
    static struct max_refusal m;
    static uint8_t ev[DC_REFUSAL_EVIDENCE_MAX_BYTES];
    static char text[4 * DC_REFUSAL_EVIDENCE_MAX_BYTES];
    world_init(&w);
    max_refusal_make(&w, &m);
    size_t len = 0, tlen = 0;
    ASSERT_OK(max_refusal_evidence(&w, &m, ev, sizeof ev, &len));
    ASSERT(len > DC_EVIDENCE_MAX_BYTES);
    char key[2 * DC_PUBKEY_BYTES + 1], bob_hex[2 * DC_PUBKEY_BYTES + 1], want[200];
    dc_hex_encode(key, w.master_pk, DC_PUBKEY_BYTES);
    dc_hex_encode(bob_hex, w.bob.pk, DC_PUBKEY_BYTES);
    snprintf(want, sizeof want, "culprit device: %s", bob_hex);
    char out[8192], file[160];
    ASSERT_OK(dc_armor_encode(text, sizeof text, &tlen, DC_ARMOR_EVIDENCE, ev, len));
    text[tlen] = 0;
    put("max-refusal.txt", text, file, sizeof file);
    int rc = verify(out, sizeof out, file, key);
    if (rc) printf("# %s", out);
    ASSERT_EQ(rc, 0);
    ASSERT_HAS(out, want);
    dc_hex_encode(text, ev, len);
    put("max-refusal.hex", text, file, sizeof file);
    rc = verify(out, sizeof out, file, key);
    if (rc) printf("# %s", out);
    ASSERT_EQ(rc, 0);
    ASSERT_HAS(out, want);
}

static void test_teardown(void)
{
    srv_cleanup(&S);
}

TESTS(T(test_setup), T(test_verifies_and_names_culprit), T(test_tampered_refused),
      T(test_maximal_refusal_evidence), T(test_cases_show_branches), T(test_cli_shows_provisional),
      T(test_teardown))
