/*
 * test_api_calendar.c - the frozen box is right on every date, against a
 * real ducatd (SQLite, and PostgreSQL through tests/pg/test_api_calendar.pg).
 *
 * The shipped calendar covers 2025 and 2026 only. A deposit on 2026-12-15
 * has a 15-working-day window reaching into 2027: its release date is a
 * guess by the weekend rule (2027-01-06, counting 2027-01-01 as a working
 * day), provisional, and no release may take it: not the API, not the
 * timer, not `ducatd holds release --now`. `ducatd calendar load` of a
 * calendar covering 2027 re-dates it; the running server picks the new
 * calendar up on SIGHUP. The 2027 holidays below are TEST DATA (New Year
 * 2027-01-01..03 only), not the official arrangement. A corrected calendar
 * re-dates firm dates too, never before now, never releasing a frozen credit
 * (test_load_redates_firm_dates). This suite uses the shipped calendar
 * (srv_init_shipped_calendar), not the harness's test calendar.
 *
 * Business time is the instance's [dev] clock_file (as in test_api_cases).
 */
#include "test.h"
/* harness.h after test.h (it uses test.h's macros) */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ducat/calendar.h"

static struct srv S;

/* ---- helpers ---------------------------------------------------------------- */

#define clock_set(ms) srv_clock_set(&S, (ms))

static uint64_t noon(const struct dc_calendar *cal, const char *date);
static void shipped(struct dc_calendar *cal, char **text);

/* A fresh instance with the shipped calendar (the provisional path needs it)
 * and [dev] clock_file. With a date, business time is set to its local noon
 * and a signing key valid from then is made current before the server starts:
 * `ducatd init` certified its first key from the wall clock, which may be
 * later than the date (this suite must pass on any real date), and a key
 * signs nothing before its validity. */
static void start(const char *date)
{
    srv_cleanup(&S);
    srv_init_shipped_calendar(&S, "--auto-verify");
    srv_dev_clock(&S);
    if (date == NULL) return;
    struct dc_calendar ship;
    char *text, out[4096];
    shipped(&ship, &text);
    free(text);
    srv_clock_set(&S, noon(&ship, date));
    if (srv_cmd(&S, out, sizeof out, "keys rotate") != 0) FAIL_AT("keys rotate: %s", out);
    srv_start(&S);
}

/* The whole of a file (malloc'd, NUL-terminated). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ASSERT(f != NULL);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strdup(buf);
    ASSERT(p != NULL);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    ASSERT(fputs(text, f) >= 0);
    ASSERT(fclose(f) == 0);
}

/* The instance's shipped calendar (DIR/calendar.txt), parsed. */
static void shipped(struct dc_calendar *cal, char **text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/calendar.txt", S.dir);
    *text = slurp(path);
    size_t line;
    ASSERT_EQ(dc_calendar_parse(cal, &line, *text, strlen(*text)), DC_OK);
}

/* The shipped calendar, edited: `covers` extended to 2027-12-31 when
 * to_2027, the weekend line made `weekend none` when no_weekend, then the
 * TEST DATA lines `extra` appended; written to DIR/NAME, parsed into *cal. */
static void shipped_edit(struct dc_calendar *cal, const char *name, int to_2027, int no_weekend,
                         const char *extra)
{
    struct dc_calendar old;
    char *text;
    shipped(&old, &text);
    if (to_2027) {
        char *cov = strstr(text, "covers 2025-01-01 2026-12-31");
        ASSERT(cov != NULL);
        memcpy(cov, "covers 2025-01-01 2027-12-31", 28);
    }
    if (no_weekend) {
        char *w = strstr(text, "weekend sat sun");
        ASSERT(w != NULL);
        memcpy(w, "weekend none   ", 15);
    }
    size_t n = strlen(text) + strlen(extra) + 64;
    char *all = malloc(n);
    ASSERT(all != NULL);
    snprintf(all, n, "%s\n# TEST DATA, not an official arrangement\n%s", text, extra);
    char path[160];
    snprintf(path, sizeof path, "%s/%s", S.dir, name);
    write_file(path, all);
    size_t line;
    ASSERT_EQ(dc_calendar_parse(cal, &line, all, strlen(all)), DC_OK);
    free(all);
    free(text);
}

/* The shipped calendar extended to 2027 with test holidays (New Year only). */
static void calendar_2027(struct dc_calendar *cal, const char *name)
{
    shipped_edit(cal, name, 1, 0, "holiday 2027-01-01 2027-01-03\n");
}

/* start(date), the shipped calendar in *ship, a calendar to 2027 written to
 * DIR/cal2027.txt (and read into *cal27 when not NULL), and the two users
 * of every scenario: alice funded with 1000, bob with nothing and synced
 * (a device certificate, to receive offline). */
static void start_two(const char *date, struct dc_calendar *ship, struct dc_calendar *cal27,
                      struct dev *alice, struct dev *bob)
{
    char *text;
    start(date);
    shipped(ship, &text);
    free(text);
    if (cal27) calendar_2027(cal27, "cal2027.txt");
    dev_setup(&S, alice, "Alice Zhang", 1000);
    dev_setup(&S, bob, "Bob Li", 0);
    dev_sync(&S, bob);
}

/* The release dates of a credit made at t, 15 working days on: *guess under
 * the shipped calendar (provisional: the window reaches 2027) and *firm
 * under the one covering 2027. */
static void release_dates(uint64_t *guess, uint64_t *firm, const struct dc_calendar *ship,
                          const struct dc_calendar *cal27, uint64_t t)
{
    int prov;
    ASSERT_EQ(dc_calendar_release(guess, &prov, ship, t, 15), DC_OK);
    ASSERT_EQ(prov, 1);
    ASSERT_EQ(dc_calendar_release(firm, &prov, cal27, t, 15), DC_OK);
    ASSERT_EQ(prov, 0);
}

/* Local noon (the calendar's offset) of a date as ms. */
static uint64_t noon(const struct dc_calendar *cal, const char *date)
{
    int32_t d;
    ASSERT_EQ(dc_date_parse(&d, date, strlen(date)), DC_OK);
    return dc_calendar_day_start_ms(cal, d) + 12ull * 3600 * 1000;
}

/* GET path as the admin on S (the harness's admin_get_on). */
#define admin_get(path) admin_get_on(&S, (path))

static long long release(void)
{
    return admin_release(&S);
}

/* One coin of `amount` from a to b, deposited by b; the deposit's coin. */
static json_t *pay_and_deposit(struct dev *a, struct dev *b, long long amount)
{
    static struct coin c[1];
    size_t n = 0;
    json_t *j = NULL;
    int st = withdraw(&S, a, amount, c, 1, &n, &j);
    json_decref(j);
    if (st != 201 || n != 1) FAIL_AT("withdraw %lld: %d", amount, st);
    coin_transfer(&c[0], a, b);
    coin_deposit(&c[0], b, b->account);
    j = NULL;
    st = deposit(&S, b, c, 1, NULL, &j);
    if (st != 201) FAIL_AT("deposit answered %d", st);
    json_t *co = json_incref(json_array_get(json_get(j, "coins"), 0));
    json_decref(j);
    return co;
}

/* The hold `id` as the admin API lists it (GET /v1/admin/holds). */
static json_t *admin_hold(long long id)
{
    json_t *all = admin_get("/v1/admin/holds?limit=100");
    json_t *hs = json_get(all, "holds");
    for (size_t i = 0; i < json_array_size(hs); i++) {
        json_t *h = json_array_get(hs, i);
        if (json_int(h, "hold") == id) {
            json_incref(h);
            json_decref(all);
            return h;
        }
    }
    json_decref(all);
    FAIL_AT("hold %lld not listed", id);
    return NULL;
}

#define bal(d) balance_of(&S, (d))

/* release_provisional of the deposit entry crediting hold `hold` in d's
 * history (GET /v1/history), checked against the admin's view of the same
 * account; fails if there is no such entry. */
static int history_deposit(const struct dev *d, long long hold)
{
    char ref[32], path[96];
    snprintf(ref, sizeof ref, "h:%lld", hold);
    int seen[2] = {-1, -1};
    for (int admin_view = 0; admin_view <= 1; admin_view++) {
        json_t *j = NULL;
        if (admin_view) {
            snprintf(path, sizeof path, "/v1/admin/accounts/%lld/history", d->account);
            j = admin_get(path);
        } else if (api(&S, d, "GET", "/v1/history", NULL, &j) != 200) {
            FAIL_AT("history");
        }
        json_t *es = json_get(j, "entries");
        for (size_t i = 0; i < json_array_size(es); i++) {
            json_t *e = json_array_get(es, i);
            if (strcmp(json_str(e, "kind"), "deposit") != 0 || strcmp(json_str(e, "ref"), ref)) {
                continue;
            }
            ASSERT_STR(json_str(e, "hold_status"), "held");
            json_t *h = admin_hold(hold);
            ASSERT_EQ(json_int(e, "release_at"), json_int(h, "release_at"));
            json_decref(h);
            seen[admin_view] = json_is_true(json_get(e, "release_provisional"));
        }
        json_decref(j);
    }
    if (seen[0] < 0) FAIL_AT("no deposit entry %s in the history", ref);
    ASSERT_EQ(seen[0], seen[1]);
    return seen[0];
}

/* ---- scenarios ---------------------------------------------------------------- */

/* A deposit on 2026-12-15 reaches 2027: provisional, never released on the
 * guessed date, re-dated by `calendar load`, and the server takes the new
 * calendar on SIGHUP for the deposits after it. */
static void test_window_into_uncovered_year(void)
{
    struct dc_calendar ship, cal27;
    struct dev alice, bob;
    start_two("2026-12-15", &ship, &cal27, &alice, &bob);
    uint64_t t = noon(&ship, "2026-12-15");

    uint64_t guess, firm;
    release_dates(&guess, &firm, &ship, &cal27, t);
    ASSERT_EQ(guess, noon(&ship, "2027-01-06") - 12ull * 3600 * 1000); /* weekend rule */
    ASSERT_EQ(firm, noon(&ship, "2027-01-07") - 12ull * 3600 * 1000);  /* 01-01 rests */

    json_t *a = pay_and_deposit(&alice, &bob, 100);
    long long hold_a = json_int(a, "hold");
    ASSERT(json_is_true(json_get(a, "release_provisional")));
    ASSERT_EQ((uint64_t)json_int(a, "release_at"), guess);
    json_decref(a);
    /* the user sees it provisional in the account's holds */
    json_t *b = NULL;
    ASSERT_EQ(api(&S, &bob, "GET", "/v1/balance", NULL, &b), 200);
    json_t *bh = json_array_get(json_get(b, "holds"), 0);
    ASSERT(json_is_true(json_get(bh, "release_provisional")));
    json_decref(b);
    /* and in the account's history, on the deposit entry */
    ASSERT_EQ(history_deposit(&bob, hold_a), 1);
    ASSERT_EQ(srv_metric(&S, "ducat_calendar_coverage_days"), 16); /* 12-15 .. 12-31 */
    ASSERT_EQ(srv_metric(&S, "ducat_holds_release_provisional"), 1);

    /* past the guessed date: nothing releases it */
    clock_set(noon(&ship, "2027-01-06"));
    ASSERT_EQ(release(), 0);
    char out[4096];
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "holds release --now 2027-02-01"), 0);
    ASSERT(strstr(out, "released 0 holds") != NULL);
    ASSERT_EQ(bal(&bob).held, 100);
    ASSERT_EQ(bal(&bob).available, 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar show"), 0);
    ASSERT(strstr(out, "covers:      2025-01-01..2026-12-31, 0 days left") != NULL);
    ASSERT(strstr(out, "provisional: 1 holds") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "holds list --provisional"), 0);
    char line[64];
    snprintf(line, sizeof line, "\n%-8lld %-8lld", hold_a, bob.account);
    if (!strstr(out, line) || !strstr(out, "2027-01-06 00:00 (UTC+08:00) provisional")) {
        FAIL_AT("holds list --provisional:\n%s", out);
    }

    /* the calendar for 2027 is loaded while the server runs */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar load %s/cal2027.txt", S.dir), 0);
    if (!strstr(out, "1 holds re-dated, 0 still provisional")) FAIL_AT("load said: %s", out);
    json_t *h = admin_hold(hold_a);
    ASSERT(json_is_false(json_get(h, "release_provisional")));
    ASSERT_EQ((uint64_t)json_int(h, "release_at"), firm);
    json_decref(h);
    ASSERT_EQ(release(), 0); /* 2027-01-06: not yet, 01-01 rested */
    ASSERT_EQ(history_deposit(&bob, hold_a), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "holds list --status held"), 0);
    if (!strstr(out, "2027-01-07 00:00 (UTC+08:00) firm")) FAIL_AT("holds list:\n%s", out);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "holds list --provisional"), 0);
    ASSERT(strstr(out, "provisional  -") == NULL);

    /* the running server takes it on SIGHUP */
    ASSERT(kill(S.pid, SIGHUP) == 0);
    long long left = -1;
    for (int i = 0; i < 100 && left != 359; i++) {
        left = srv_metric(&S, "ducat_calendar_coverage_days");
        struct timespec ts = {0, 50 * 1000 * 1000};
        if (left != 359) nanosleep(&ts, NULL);
    }
    ASSERT_EQ(left, 359); /* 2027-01-06 .. 2027-12-31 */
    ASSERT_EQ(srv_metric(&S, "ducat_holds_release_provisional"), 0);
    /* the log: a warning at start (the wall clock: at most 28 days were
     * left when this was written, none later), the pick-up on SIGHUP */
    char logf[128];
    snprintf(logf, sizeof logf, "%s/server.log", S.dir);
    /* the server swaps the calendar (the gauge above) before it re-dates
     * and logs: wait for the line */
    char *log = slurp(logf);
    for (int i = 0; i < 100 && !strstr(log, "calendar (SIGHUP): covers"); i++) {
        free(log);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        log = slurp(logf);
    }
    if (!strstr(log, "calendar coverage ends 2026-12-31 (") ||
        !strstr(log, "calendar (SIGHUP): covers 2025-01-01..2027-12-31, 359 days left")) {
        FAIL_AT("server.log lacks the calendar lines:\n%s", log);
    }
    free(log);
    json_t *c = pay_and_deposit(&alice, &bob, 50);
    ASSERT(json_is_false(json_get(c, "release_provisional")));
    uint64_t firm_c;
    int prov;
    ASSERT_EQ(dc_calendar_release(&firm_c, &prov, &cal27, noon(&ship, "2027-01-06"), 15), DC_OK);
    ASSERT_EQ((uint64_t)json_int(c, "release_at"), firm_c);
    json_decref(c);

    /* on its firm date the first credit is released */
    clock_set(firm + 1);
    long long n = release();
    ASSERT(n == 0 || n == 1); /* the release timer (release_interval_s) may come first */
    json_t *ha = admin_hold(hold_a);
    ASSERT(strcmp(json_str(ha, "status"), "released") == 0);
    json_decref(ha);
    ASSERT_EQ(bal(&bob).available, 100);
    ASSERT_EQ(bal(&bob).held, 50);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* A deposit whose start date lies in a year the calendar does not cover
 * (2027-03-01 under the shipped 2025-2026 calendar): provisional from the
 * first day, never released, firm once a calendar covering 2027 is loaded. */
static void test_start_in_uncovered_year(void)
{
    struct dc_calendar ship, cal27;
    struct dev alice, bob;
    start_two("2027-03-01", &ship, &cal27, &alice, &bob);
    uint64_t t = noon(&ship, "2027-03-01");
    uint64_t guess, firm;
    release_dates(&guess, &firm, &ship, &cal27, t);
    json_t *a = pay_and_deposit(&alice, &bob, 100);
    long long hold = json_int(a, "hold");
    ASSERT(json_is_true(json_get(a, "release_provisional")));
    ASSERT_EQ((uint64_t)json_int(a, "release_at"), guess);
    json_decref(a);
    ASSERT_EQ(srv_metric(&S, "ducat_calendar_coverage_days"), 0);

    /* months later, nothing releases it */
    clock_set(noon(&ship, "2027-06-01"));
    ASSERT_EQ(release(), 0);
    char out[4096];
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "holds release --now 2027-06-02"), 0);
    ASSERT(strstr(out, "released 0 holds") != NULL);
    ASSERT_EQ(bal(&bob).held, 100);

    /* a calendar covering 2027: firm (its date is past: due now) and
     * released. The server is stopped meanwhile so that its release timer
     * cannot come first: the release by `ducatd holds release` names the
     * local Unix user who ran it. */
    ASSERT(srv_stop(&S) == 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar load %s/cal2027.txt", S.dir), 0);
    if (!strstr(out, "1 holds re-dated, 0 still provisional")) FAIL_AT("load said: %s", out);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "holds release"), 0);
    if (!strstr(out, "released 1 holds")) FAIL_AT("holds release said: %s", out);
    srv_start(&S);
    json_t *h = admin_hold(hold);
    ASSERT(json_is_false(json_get(h, "release_provisional")));
    ASSERT_EQ((uint64_t)json_int(h, "release_at"), noon(&ship, "2027-06-01")); /* not firm < now */
    ASSERT(firm < noon(&ship, "2027-06-01"));
    ASSERT_STR(json_str(h, "status"), "released");
    const char *by = json_str(h, "released_by");
    if (!by || strncmp(by, "unix:", 5) != 0) FAIL_AT("released_by '%s'", by ? by : "(none)");
    json_decref(h);
    ASSERT_EQ(bal(&bob).available, 100);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* A hold made before a server restart stays provisional across it, and the
 * store's calendar (not the file) is the one a restarted server uses. */
static void test_restart_keeps_loaded_calendar(void)
{
    struct dc_calendar ship, cal27;
    struct dev alice, bob;
    start_two("2026-12-20", &ship, &cal27, &alice, &bob);
    json_t *a = pay_and_deposit(&alice, &bob, 100);
    ASSERT(json_is_true(json_get(a, "release_provisional")));
    long long hold_a = json_int(a, "hold");
    json_decref(a);
    srv_restart(&S);
    json_t *h = admin_hold(hold_a);
    ASSERT(json_is_true(json_get(h, "release_provisional")));
    json_decref(h);
    char out[4096];
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar load %s/cal2027.txt", S.dir), 0);
    srv_restart(&S);
    ASSERT_EQ(srv_metric(&S, "ducat_calendar_coverage_days"), 376); /* 12-20 .. 2027-12-31 */
    json_t *c = pay_and_deposit(&alice, &bob, 50);
    ASSERT(json_is_false(json_get(c, "release_provisional")));
    json_decref(c);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar show"), 0);
    ASSERT(strstr(out, "source:      the store") != NULL);
    ASSERT(strstr(out, "covers:      2025-01-01..2027-12-31") != NULL);
    ASSERT(strstr(out, "provisional: 0 holds") != NULL);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* The account events of d with action "hold_redated" naming hold `id`, by
 * `actor`; their number. */
static int redated_events(const struct dev *d, long long id, const char *actor)
{
    char path[64], want[32];
    snprintf(path, sizeof path, "/v1/admin/accounts/%lld", d->account);
    snprintf(want, sizeof want, "hold %lld: release ", id);
    json_t *a = admin_get(path);
    json_t *evs = json_get(a, "events");
    int n = 0;
    for (size_t i = 0; i < json_array_size(evs); i++) {
        json_t *e = json_array_get(evs, i);
        n += strcmp(json_str(e, "action"), "hold_redated") == 0 &&
             strncmp(json_str(e, "reason"), want, strlen(want)) == 0 &&
             strcmp(json_str(e, "actor"), actor) == 0;
    }
    json_decref(a);
    return n;
}

/* A corrected calendar re-dates FIRM dates of credits not yet released:
 * later when it adds a holiday; earlier when it removes rest days, but
 * never before the moment of the load; a frozen credit gets its new date and
 * stays frozen (the release takes only what is held); each change is an
 * event of the account naming who loaded the calendar. */
static void test_load_redates_firm_dates(void)
{
    struct dc_calendar ship, cal_hol, cal_none;
    struct dev alice, bob, carol, dan;
    start_two("2026-11-02", &ship, NULL, &alice, &bob);
    uint64_t t0 = noon(&ship, "2026-11-02");
    dev_setup(&S, &carol, "Carol Wang", 0);
    dev_setup(&S, &dan, "Dan Zhou", 0);
    dev_sync(&S, &carol);

    /* Bob's honest credit A, firm under the shipped calendar */
    json_t *a = pay_and_deposit(&alice, &bob, 100);
    long long hold_a = json_int(a, "hold");
    ASSERT(json_is_false(json_get(a, "release_provisional")));
    uint64_t a0;
    int prov;
    ASSERT_EQ(dc_calendar_release(&a0, &prov, &ship, t0, 15), DC_OK);
    ASSERT_EQ(prov, 0);
    ASSERT_EQ((uint64_t)json_int(a, "release_at"), a0);
    json_decref(a);

    /* Dan withdraws all he has (500 from Alice) and double-spends it: Bob's
     * copy first, Carol's second; Dan has nothing left, so the case stays
     * open and Carol's credit F is frozen under it */
    char rid[40];
    new_request_id(rid);
    json_t *tj = NULL;
    ASSERT_EQ(apif(&S, &alice, "POST", "/v1/transfers", &tj,
                   "{\"request_id\":\"%s\",\"to\":%lld,\"amount\":500}", rid, dan.account),
              201);
    json_decref(tj);
    static struct coin x[1], copy[1];
    size_t nc = 0;
    json_t *wj = NULL;
    ASSERT_EQ(withdraw(&S, &dan, 500, x, 1, &nc, &wj), 201);
    json_decref(wj);
    ASSERT_EQ(nc, 1);
    copy[0] = x[0];
    coin_transfer(&x[0], &dan, &bob);
    coin_deposit(&x[0], &bob, bob.account);
    ASSERT_EQ(deposit(&S, &bob, x, 1, NULL, NULL), 201);
    coin_transfer(&copy[0], &dan, &carol);
    coin_deposit(&copy[0], &carol, carol.account);
    json_t *dj = NULL;
    ASSERT_EQ(deposit(&S, &carol, copy, 1, NULL, &dj), 201);
    json_t *fc = json_array_get(json_get(dj, "coins"), 0);
    long long hold_f = json_int(fc, "hold");
    ASSERT(json_is_integer(json_get(fc, "case")));
    json_decref(dj);
    json_t *hf = admin_hold(hold_f);
    ASSERT_STR(json_str(hf, "status"), "frozen");
    ASSERT_EQ((uint64_t)json_int(hf, "release_at"), a0);
    json_decref(hf);

    /* 2026-11-20: a corrected calendar adds two rest days inside the window:
     * both firm dates move later, F stays frozen */
    uint64_t t1 = noon(&ship, "2026-11-20");
    clock_set(t1);
    shipped_edit(&cal_hol, "cal-hol.txt", 0, 0, "holiday 2026-11-10 2026-11-11\n");
    uint64_t a1;
    ASSERT_EQ(dc_calendar_release(&a1, &prov, &cal_hol, t0, 15), DC_OK);
    ASSERT(a1 > a0);
    char out[8192];
    ASSERT_EQ(
        srv_cmd(&S, out, sizeof out, "calendar load %s/cal-hol.txt --actor 'Mei Wang'", S.dir), 0);
    char line[128];
    snprintf(line, sizeof line, "  hold %lld (account %lld): ", hold_a, bob.account);
    /* (its log lines go to syslog; the journal is checked below) */
    if (!strstr(out, line) || !strstr(out, "firm -> ")) {
        FAIL_AT("calendar load did not list the re-dating:\n%s", out);
    }
    snprintf(line, sizeof line, "  hold %lld (account %lld, frozen): ", hold_f, carol.account);
    if (!strstr(out, line)) FAIL_AT("the frozen hold is not listed:\n%s", out);
    json_t *h = admin_hold(hold_a);
    ASSERT_EQ((uint64_t)json_int(h, "release_at"), a1);
    ASSERT(json_is_false(json_get(h, "release_provisional")));
    json_decref(h);
    h = admin_hold(hold_f);
    ASSERT_EQ((uint64_t)json_int(h, "release_at"), a1);
    ASSERT_STR(json_str(h, "status"), "frozen");
    json_decref(h);
    ASSERT_EQ(redated_events(&bob, hold_a, "Mei Wang"), 1);
    ASSERT_EQ(redated_events(&carol, hold_f, "Mei Wang"), 1);

    /* a calendar with no weekend would make the credits due on 11-18,
     * before now: they become due now, not retroactively */
    shipped_edit(&cal_none, "cal-none.txt", 0, 1, "");
    uint64_t a2;
    ASSERT_EQ(dc_calendar_release(&a2, &prov, &cal_none, t0, 15), DC_OK);
    ASSERT(a2 < t1);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar load %s/cal-none.txt --actor ops2", S.dir), 0);
    h = admin_hold(hold_a);
    ASSERT_EQ((uint64_t)json_int(h, "release_at"), t1);
    json_decref(h);
    ASSERT_EQ(redated_events(&bob, hold_a, "ops2"), 1);
    /* loading the same calendar again changes nothing */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar load %s/cal-none.txt", S.dir), 0);
    if (!strstr(out, "0 holds re-dated")) FAIL_AT("a second load re-dated:\n%s", out);
    ASSERT_EQ(redated_events(&bob, hold_a, "operator"), 0);

    /* the release takes A (held, due now) and never F (frozen by its case) */
    ASSERT(kill(S.pid, SIGHUP) == 0);
    clock_set(t1 + 1000);
    (void)release(); /* the release timer may come first */
    h = admin_hold(hold_a);
    ASSERT_STR(json_str(h, "status"), "released");
    json_decref(h);
    h = admin_hold(hold_f);
    ASSERT_STR(json_str(h, "status"), "frozen");
    json_decref(h);
    ASSERT_EQ(bal(&carol).available, 0);
    ASSERT_EQ(bal(&carol).held, 500);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* What `calendar load` refuses, each with a message naming the problem and
 * nothing loaded. */
static void test_load_refusals(void)
{
    struct dc_calendar cal27;
    start(NULL);
    calendar_2027(&cal27, "cal2027.txt");
    char path[160], out[4096];
    /* a malformed line, named */
    snprintf(path, sizeof path, "%s/bad.txt", S.dir);
    write_file(path, "covers 2025-01-01 2027-12-31\nutc-offset +08:00\n# ok\n"
                     "holiday 2027-02-30\n");
    int rc = srv_cmd(&S, out, sizeof out, "calendar load %s", path);
    ASSERT(rc != 0);
    if (!strstr(out, "line 4")) FAIL_AT("no line named: %s", out);
    snprintf(path, sizeof path, "%s/bad2.txt", S.dir);
    write_file(path, "covers 2025-01-01 2027-12-31\nfrobnicate\n");
    ASSERT(srv_cmd(&S, out, sizeof out, "calendar load %s", path) != 0);
    if (!strstr(out, "line 2")) FAIL_AT("no line named: %s", out);
    /* a file that is not there */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar load %s/nope.txt", S.dir), 2);
    ASSERT(strstr(out, "cannot open") != NULL);
    /* less coverage than the calendar in force: only with --force */
    snprintf(path, sizeof path, "%s/short.txt", S.dir);
    write_file(path, "covers 2026-01-01 2026-06-30\nutc-offset +08:00\n");
    ASSERT(srv_cmd(&S, out, sizeof out, "calendar load %s", path) != 0);
    ASSERT(strstr(out, "less than the calendar in force") != NULL);
    ASSERT(strstr(out, "--force") != NULL);
    /* another time zone: never */
    snprintf(path, sizeof path, "%s/tz.txt", S.dir);
    write_file(path, "covers 2025-01-01 2027-12-31\nutc-offset +09:00\n");
    ASSERT(srv_cmd(&S, out, sizeof out, "calendar load %s", path) != 0);
    ASSERT(strstr(out, "utc-offset") != NULL);
    /* nothing of it was loaded */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar show"), 0);
    ASSERT(strstr(out, "covers:      2025-01-01..2026-12-31") != NULL);
    ASSERT(strstr(out, "the store") == NULL);
    /* --force loads the shorter one; a longer one then needs no force */
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar load %s/short.txt --force", S.dir), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar show"), 0);
    ASSERT(strstr(out, "covers:      2026-01-01..2026-06-30") != NULL);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar load %s/cal2027.txt", S.dir), 0);
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "calendar show"), 0);
    ASSERT(strstr(out, "covers:      2025-01-01..2027-12-31") != NULL);
    srv_cleanup(&S);
}

TESTS(T(test_window_into_uncovered_year), T(test_start_in_uncovered_year),
      T(test_restart_keeps_loaded_calendar), T(test_load_refusals), T(test_load_redates_firm_dates))
