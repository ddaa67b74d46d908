/*
 * test_api_fraudsim.c - a fraud simulation against a real ducatd.
 *
 * NW wallets (device keys registered as accounts, funded, withdrawing
 * coins) pay each other offline at random: whole coins and split parts,
 * and received coins are spent on, so chains run over several hops. The
 * first NCHEAT wallets cheat: before some payments they keep a copy of the
 * coin (a wallet backup), and later restore it and spend the same state
 * again, either to another wallet or by depositing the copy themselves.
 * Cheater 0 takes all her money out in coins and nobody pays her, so her
 * forks can leave a debt the operator honours (a shortfall).
 * Every coin left in a wallet is then deposited, in random order, while the
 * development clock moves on a few hours at a time (holds are released at
 * each step); some debtors get a late cash-in; then the clock moves 60
 * days on, every shortfall that is due is honoured or rejected (at random)
 * and the holds released; last, some debtors get money again, which repays
 * whoever carried their shortfall (reversed receivers first).
 *
 * Asserts: every fork opens exactly one case, on the forked state, naming
 * the cheater who forked it; no case names anyone else; when a case
 * opens, no credit already made from the forked state had been released;
 * every culprit's net gain <= what she still owes (and she owes only when
 * nothing of hers is left to take, so gain <= 0 wherever she could pay);
 * every honest wallet ends with exactly funded + received - paid, less the
 * reversed credits its culprit has not yet repaid, and receivers carry no
 * more than their culprit still owes; audit OK.
 *
 * Net gain of a wallet: the value it signed over to others offline (goods
 * it got) plus what its account holds at the end, minus what was funded
 * and what it received offline. An honest wallet's gain is 0.
 *
 * The seed is printed; DUCAT_SIM_SEED=<n> replays a run.
 */
#include "test.h"
/* harness.h hooks into test.h: it comes second */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS 86400000ull
#define NW 24       /* wallets */
#define NCHEAT 6    /* wallets 0..NCHEAT-1 cheat */
#define NPAY 300    /* offline payments */
#define MAXC 1400   /* coin slots */
#define MAX_HOPS 10 /* records a coin may carry before it is only deposited */
#define MAXFORK 64

static struct srv S;
static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64: a reproducible stream from the printed seed */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned rn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

struct wallet {
    struct dev d;
    char name[32];
    long long funded, received, paid;
};

enum slot_kind { SLOT_FREE, SLOT_LIVE, SLOT_BACKUP, SLOT_SELF };

struct slot {
    struct coin c;
    int kind;
    int owner;
    int backup_of; /* SLOT_BACKUP: the slot it copies (-1 otherwise) */
    int fork;      /* fork index this restored copy made, -1 otherwise */
};

struct fork {
    uint8_t state[DC_HASH_BYTES];
    int culprit;
    long long value;
    long long case_id; /* 0 until seen */
};

struct deposit_rec {
    int owner;
    long long hold;
    size_t nstates;
    uint8_t (*states)[DC_HASH_BYTES];
};

static struct wallet W[NW];
static struct slot *C;
static struct fork F[MAXFORK];
static int nfork;
static struct deposit_rec *D;
static int ndep;

/* ---- helpers ---------------------------------------------------------------- */

/* GET path as the admin on S (the harness's admin_get_on). */
#define admin_get(path) admin_get_on(&S, (path))

static long long release_all(void)
{
    long long total = 0, n;
    do {
        n = admin_release(&S);
        total += n;
    } while (n > 0);
    return total;
}

static long long total_of(const struct dev *d)
{
    json_t *j = NULL;
    if (api(&S, d, "GET", "/v1/balance", NULL, &j) != 200) FAIL_AT("balance");
    long long t = json_int(j, "available") + json_int(j, "held");
    json_decref(j);
    return t;
}

static int coin_records(const struct coin *c)
{
    struct dc_coin dc;
    if (dc_coin_decode(&dc, c->b, c->len) != DC_OK) FAIL_AT("coin does not decode");
    return (int)dc.n;
}

static void coin_state_now(const struct coin *c, uint8_t out[DC_HASH_BYTES])
{
    struct dc_coin dc;
    if (dc_coin_decode(&dc, c->b, c->len) != DC_OK) FAIL_AT("coin does not decode");
    dc_coin_state(out, &dc, dc.n);
}

static void hex(char *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static int new_slot(void)
{
    for (int i = 0; i < MAXC; i++) {
        if (C[i].kind == SLOT_FREE) {
            C[i].backup_of = -1;
            C[i].fork = -1;
            return i;
        }
    }
    FAIL_AT("out of coin slots");
}

/* A random LIVE slot (spendable, below the hop cap), -1 if none. */
static int pick_live(void)
{
    int cand[MAXC], n = 0;
    for (int i = 0; i < MAXC; i++) {
        if (C[i].kind == SLOT_LIVE && coin_records(&C[i].c) < MAX_HOPS - 2) cand[n++] = i;
    }
    return n ? cand[rn((unsigned)n)] : -1;
}

/* Offline payment from slot i's owner to wallet `to`: the whole coin, or
 * (sometimes, if may_split) one part of a split, the other parts staying
 * with the payer. Returns the slot now held by `to`. */
static int pay_from(int i, int to, int may_split)
{
    int from = C[i].owner;
    int64_t v = coin_value(&C[i].c);
    if (v >= 3 && rn(10) < 3 && may_split) {
        size_t n = 2 + rn(2);
        int64_t vals[3], left = v;
        for (size_t k = 0; k + 1 < n; k++) {
            vals[k] = 1 + (int64_t)(rnd() % (uint64_t)(left - (int64_t)(n - 1 - k)));
            left -= vals[k];
        }
        vals[n - 1] = left;
        static struct coin parts[3];
        coin_split(&C[i].c, &W[from].d, vals, n, parts);
        C[i].c = parts[0];
        for (size_t k = 1; k < n; k++) {
            int s = new_slot();
            C[s].c = parts[k];
            C[s].kind = SLOT_LIVE;
            C[s].owner = from;
        }
        v = vals[0];
    }
    coin_transfer(&C[i].c, &W[from].d, &W[to].d);
    C[i].owner = to;
    W[from].paid += v;
    W[to].received += v;
    return i;
}

static int other_than(int w)
{
    int to;
    /* nobody pays wallet 0, the cheater who ends broke */
    do to = 1 + (int)rn(NW - 1);
    while (to == w);
    return to;
}

/* The cheater restores backup slot b: its copy is spent to another wallet
 * or kept to deposit herself. */
static void restore(int b)
{
    int w = C[b].owner;
    ASSERT(nfork < MAXFORK);
    struct fork *f = &F[nfork];
    coin_state_now(&C[b].c, f->state);
    f->culprit = w;
    f->value = coin_value(&C[b].c);
    f->case_id = 0;
    C[b].fork = nfork++;
    C[b].backup_of = -1;
    if (rn(2)) {
        C[b].kind = SLOT_LIVE;
        /* Whole, never split: a split is deterministic (Ed25519), so the
         * copy split with the original's values would repeat its record and
         * the fork would move below it, onto a part (a real double spend the
         * server catches, at a state this model does not track), and the
         * copies of the other parts would be the very same coins. */
        (void)pay_from(b, other_than(w), 0);
    } else {
        C[b].kind = SLOT_SELF; /* she deposits her copy herself */
    }
}

/* Deposits slot i by its owner, advancing nothing; checks a new case. */
static void deposit_slot(int i)
{
    struct wallet *o = &W[C[i].owner];
    struct deposit_rec *r = &D[ndep++];
    struct dc_coin dc;
    ASSERT(dc_coin_decode(&dc, C[i].c.b, C[i].c.len) == DC_OK);
    r->owner = C[i].owner;
    r->nstates = dc.n + 1;
    r->states = malloc(r->nstates * DC_HASH_BYTES);
    ASSERT(r->states != NULL);
    for (size_t k = 0; k <= dc.n; k++) dc_coin_state(r->states[k], &dc, k);
    coin_deposit(&C[i].c, &o->d, o->d.account);
    json_t *j = NULL;
    int st = deposit(&S, &o->d, &C[i].c, 1, NULL, &j);
    if (st != 201) {
        char *b = j ? json_dumps(j, 0) : NULL;
        printf("# deposit by %s answered %d: %s\n", o->name, st, b ? b : "");
        free(b);
        json_decref(j);
        FAIL_AT("deposit refused");
    }
    json_t *co = json_array_get(json_get(j, "coins"), 0);
    json_t *cv = json_object_get(co, "case");
    long long case_id = json_is_integer(cv) ? (long long)json_integer_value(cv) : 0;
    r->hold = json_int(co, "hold");
    json_decref(j);
    C[i].kind = SLOT_FREE;
    if (case_id == 0) return;
    for (int k = 0; k < nfork; k++) {
        if (F[k].case_id == case_id) return; /* a later branch of a known case */
    }
    /* a new case: it must be one of our forks, on its state, naming its cheater */
    char path[64];
    snprintf(path, sizeof path, "/v1/admin/cases/%lld", case_id);
    json_t *cj = admin_get(path);
    const char *state = json_str(cj, "state");
    int match = -1;
    for (int k = 0; k < nfork; k++) {
        char h[2 * DC_HASH_BYTES + 1];
        hex(h, F[k].state, DC_HASH_BYTES);
        if (strcmp(h, state) == 0) match = k;
    }
    if (match < 0) {
        printf("# case %lld on state %s culprit account %lld: no fork made there\n", case_id, state,
               json_int(cj, "culprit_account"));
        json_decref(cj);
        FAIL_AT("case without a fork");
    }
    if (F[match].case_id != 0) {
        json_decref(cj);
        FAIL_AT("fork %d opened case %lld and case %lld", match, F[match].case_id, case_id);
    }
    F[match].case_id = case_id;
    long long culprit = json_int(cj, "culprit_account");
    char pk[2 * DC_PUBKEY_BYTES + 1];
    snprintf(pk, sizeof pk, "%s", json_str(cj, "culprit"));
    json_decref(cj);
    if (culprit != W[F[match].culprit].d.account || strcmp(pk, W[F[match].culprit].d.pk_hex)) {
        FAIL_AT("case %lld names account %lld, the fork was %s's (account %lld)", case_id, culprit,
                W[F[match].culprit].name, W[F[match].culprit].d.account);
    }
    /* nothing made from the forked state was released before this case */
    for (int k = 0; k < ndep; k++) {
        int desc = 0;
        for (size_t s = 0; s < D[k].nstates; s++) {
            if (memcmp(D[k].states[s], F[match].state, DC_HASH_BYTES) == 0) desc = 1;
        }
        if (!desc) continue;
        json_t *b = NULL;
        ASSERT_EQ(api(&S, &W[D[k].owner].d, "GET", "/v1/balance", NULL, &b), 200);
        json_t *hs = json_get(b, "holds");
        for (size_t h = 0; h < json_array_size(hs); h++) {
            json_t *e = json_array_get(hs, h);
            if (json_int(e, "id") == D[k].hold && strcmp(json_str(e, "status"), "released") == 0) {
                json_decref(b);
                FAIL_AT("hold %lld of the forked state released before case %lld", D[k].hold,
                        case_id);
            }
        }
        json_decref(b);
    }
}

/* ---- the simulation ----------------------------------------------------------- */

static void simulate(unsigned long long seed)
{
    printf("# fraud simulation seed %llu (replay: DUCAT_SIM_SEED=%llu)\n", seed, seed);
    fflush(stdout);
    rng_state = seed;

    C = calloc(MAXC, sizeof *C);
    D = calloc(MAXC, sizeof *D);
    ASSERT(C != NULL && D != NULL);
    nfork = ndep = 0;
    memset(W, 0, sizeof W);

    srv_init(&S, "--auto-verify");
    srv_dev_clock(&S);
    uint64_t t0 = h_now_ms();
    srv_clock_set(&S, t0);
    srv_start(&S);

    /* wallets: registered, funded, synced, withdrawing 2..4 coins */
    for (int w = 0; w < NW; w++) {
        snprintf(W[w].name, sizeof W[w].name, "%s %02d", w < NCHEAT ? "Cheater" : "Honest", w);
        long long amount = 20000 + (long long)rn(60000);
        dev_setup(&S, &W[w].d, W[w].name, amount);
        W[w].funded = amount;
        dev_sync(&S, &W[w].d);
    }
    for (int w = 0; w < NW; w++) {
        long long left = W[w].funded;
        int ncoins = 2 + (int)rn(3);
        /* cheaters keep some of their account (what a case can take) or not */
        long long keep = w > 0 && w < NCHEAT ? (long long)rn(3) * W[w].funded / 8 : 0;
        for (int k = 0; k < ncoins && left - keep > 1000; k++) {
            /* wallet 0 takes all her money out in coins: nothing left to recover */
            long long v = w == 0 ? left : 500 + (long long)rn((unsigned)((left - keep) / 2));
            static struct coin got[24]; /* the server picks denominations */
            size_t n = 0;
            json_t *j = NULL;
            int st = withdraw(&S, &W[w].d, v, got, 24, &n, &j);
            json_decref(j);
            if (st != 201 || n == 0) FAIL_AT("withdraw %lld by %s: %d", v, W[w].name, st);
            for (size_t q = 0; q < n; q++) {
                int s = new_slot();
                C[s].c = got[q];
                C[s].kind = SLOT_LIVE;
                C[s].owner = w;
            }
            left -= v;
        }
    }

    /* offline payments; cheaters back up some coins first and restore later */
    int forks_wanted = NCHEAT * 4 + (int)rn(2 * NCHEAT);
    int backups = 0;
    for (int p = 0; p < NPAY; p++) {
        int i = pick_live();
        if (i < 0) break;
        int from = C[i].owner;
        if (from < NCHEAT && backups < forks_wanted && rn(10) < 7) {
            int b = new_slot();
            C[b].c = C[i].c;
            C[b].kind = SLOT_BACKUP;
            C[b].owner = from;
            C[b].backup_of = i;
            backups++;
        }
        (void)pay_from(i, other_than(from), 1);
        /* restore a backup now and then (its original is spent by now) */
        if (rn(10) < 2) {
            for (int b = 0; b < MAXC; b++) {
                if (C[b].kind == SLOT_BACKUP) {
                    restore(b);
                    break;
                }
            }
        }
    }
    for (int b = 0; b < MAXC; b++) {
        if (C[b].kind == SLOT_BACKUP) restore(b);
    }
    ASSERT(nfork >= NCHEAT);

    /* deposits in random order, business time moving a few hours at a time */
    int order[MAXC], nd = 0;
    for (int i = 0; i < MAXC; i++) {
        if (C[i].kind == SLOT_LIVE || C[i].kind == SLOT_SELF) order[nd++] = i;
    }
    for (int i = nd - 1; i > 0; i--) {
        int k = (int)rn((unsigned)i + 1), t = order[i];
        order[i] = order[k];
        order[k] = t;
    }
    uint64_t now = t0;
    long long released_early = 0;
    for (int k = 0; k < nd; k++) {
        if (k % 20 == 19) {
            now += (uint64_t)rn(8) * 3600000ull; /* stays well inside the coins' lifetime */
            srv_clock_set(&S, now);
            released_early += release_all();
        }
        deposit_slot(order[k]);
    }
    for (int k = 0; k < nfork; k++) {
        if (F[k].case_id == 0) {
            FAIL_AT("fork %d by %s (value %lld) opened no case", k, W[F[k].culprit].name,
                    F[k].value);
        }
    }
    /* no case names anyone but the fork's cheater, and there is one per fork */
    json_t *cl = admin_get("/v1/admin/cases");
    json_t *cases = json_get(cl, "cases");
    ASSERT_EQ((long long)json_array_size(cases), (long long)nfork);
    for (size_t k = 0; k < json_array_size(cases); k++) {
        long long acct = json_int(json_array_get(cases, k), "culprit_account");
        int cheater = 0;
        for (int w = 0; w < NCHEAT; w++) cheater |= W[w].d.account == acct;
        if (!cheater) FAIL_AT("a case names account %lld, an honest wallet", acct);
    }
    json_decref(cl);

    /* a late cash-in for some culprits: it pays their debts first */
    long long late = 0;
    for (int w = 1; w < NCHEAT; w++) {
        if (rn(2)) continue;
        long long a = 100 + (long long)rn(8000);
        ASSERT_EQ(fund(&S, W[w].d.account, a), 201);
        W[w].funded += a;
        late += a;
    }

    /* every hold due: each shortfall still open is honoured or rejected at
     * random, everything released */
    srv_clock_set(&S, now + 60 * DAY_MS);
    long long released = release_all();
    int honoured = 0, rejected = 0;
    cl = admin_get("/v1/admin/cases");
    cases = json_get(cl, "cases");
    for (size_t k = 0; k < json_array_size(cases); k++) {
        json_t *c = json_array_get(cases, k);
        if (strcmp(json_str(c, "status"), "open") != 0 || json_str(c, "decision")[0]) continue;
        const char *dec = rn(2) ? "honour" : "reject";
        char path[96];
        snprintf(path, sizeof path, "/v1/admin/cases/%lld/resolve", json_int(c, "case"));
        json_t *j = NULL;
        int st = adminf(&S, S.token, "POST", path, &j,
                        "{\"decision\":\"%s\",\"reason\":\"fraud simulation\"}", dec);
        json_decref(j);
        if (st != 200) FAIL_AT("%s case %lld: %d", dec, json_int(c, "case"), st);
        if (dec[0] == 'h')
            honoured++;
        else
            rejected++;
    }
    json_decref(cl);
    released += release_all();

    /* money reaching a debtor after the decision repays whoever carried her
     * shortfall: the reversed receivers first, then the loss account */
    long long after = 0;
    for (int w = 0; w < NCHEAT; w++) {
        if (rn(2)) continue;
        long long a = 100 + (long long)rn(6000);
        ASSERT_EQ(fund(&S, W[w].d.account, a), 201);
        W[w].funded += a;
        after += a;
    }
    released += release_all();

    /* the money: culprits gain nothing they could pay; honest wallets whole
     * but for reversed credits the culprit could not yet repay */
    long long debt[NCHEAT] = {0}, liability = 0, recovered = 0, unrepaid_all = 0;
    long long unrepaid[NW] = {0};
    int settled = 0;
    cl = admin_get("/v1/admin/cases");
    cases = json_get(cl, "cases");
    for (size_t k = 0; k < json_array_size(cases); k++) {
        json_t *c = json_array_get(cases, k);
        long long culprit = json_int(c, "culprit_account"), case_debt = json_int(c, "debt");
        for (int w = 0; w < NCHEAT; w++) {
            if (W[w].d.account == culprit) debt[w] += case_debt;
        }
        liability += json_int(c, "liability");
        recovered += json_int(c, "recovered");
        settled += strcmp(json_str(c, "phase"), "settled") == 0;
        char path[64];
        snprintf(path, sizeof path, "/v1/admin/cases/%lld", json_int(c, "case"));
        json_t *cj = admin_get(path);
        json_t *hs = json_get(cj, "holds");
        long long case_unrepaid = 0;
        for (size_t h = 0; h < json_array_size(hs); h++) {
            json_t *e = json_array_get(hs, h);
            long long acct = json_int(e, "account");
            long long u = json_int(e, "taken") - json_int(e, "repaid");
            if (acct == culprit || u == 0) continue;
            for (int w = 0; w < NW; w++) {
                if (W[w].d.account == acct) unrepaid[w] += u;
            }
            case_unrepaid += u;
        }
        json_decref(cj);
        /* a receiver is out of pocket only while the culprit still owes */
        if (case_unrepaid > case_debt) {
            FAIL_AT("case %lld: receivers carry %lld, the culprit owes only %lld",
                    json_int(c, "case"), case_unrepaid, case_debt);
        }
        unrepaid_all += case_unrepaid;
    }
    json_decref(cl);
    long long gain_total = 0;
    for (int w = 0; w < NW; w++) {
        long long t = total_of(&W[w].d);
        long long gain = W[w].paid + t - W[w].funded - W[w].received;
        if (w < NCHEAT) {
            printf("# %s: funded %lld received %lld paid %lld left %lld owes %lld gain %lld\n",
                   W[w].name, W[w].funded, W[w].received, W[w].paid, t, debt[w], gain);
            if (gain > debt[w]) FAIL_AT("%s gains %lld, owes %lld", W[w].name, gain, debt[w]);
            if (debt[w] > 0 && t != 0) {
                FAIL_AT("%s owes %lld with %lld left in her account", W[w].name, debt[w], t);
            }
            gain_total += gain;
        } else if (gain != -unrepaid[w]) {
            FAIL_AT("honest %s: funded %lld received %lld paid %lld reversed unrepaid %lld but "
                    "has %lld",
                    W[w].name, W[w].funded, W[w].received, W[w].paid, unrepaid[w], t);
        }
    }
    json_t *a = admin_get("/v1/admin/audit");
    if (!json_is_true(json_get(a, "ok"))) {
        printf("# %s", json_str(a, "report"));
        json_decref(a);
        FAIL_AT("audit failed");
    }
    json_decref(a);
    printf("# %d wallets (%d cheat), %d offline payments' coins, %d deposits, %d forks = %d "
           "cases: %d settled by recovery, %d honoured, %d rejected; liability %lld, recovered "
           "%lld, cash-in %lld before and %lld after the decisions, culprits' gain %lld (= what "
           "they still owe), reversed credits not yet repaid %lld; holds released %lld (%lld "
           "before the clock jump)\n",
           NW, NCHEAT, NPAY, ndep, nfork, nfork, settled, honoured, rejected, liability, recovered,
           late, after, gain_total, unrepaid_all, released + released_early, released_early);

    for (int k = 0; k < ndep; k++) free(D[k].states);
    free(C);
    free(D);
    srv_cleanup(&S);
}

static void test_fraud_simulation(void)
{
    unsigned long long seed;
    const char *env = getenv("DUCAT_SIM_SEED");
    if (env && *env) {
        seed = strtoull(env, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((unsigned long long)ts.tv_sec * 1000003ull) ^ (unsigned long long)ts.tv_nsec ^
               ((unsigned long long)getpid() << 16);
        seed %= 1000000000000ull;
    }
    simulate(seed);
}

/* Seed 236: a culprit's partly forfeited credit of a settled case lies on the
 * chain of a later fork by someone else. ducatd used to move the hold into
 * the new case, whose repayments then gave the culprit her forfeit back
 * (receivers carried 952 of a 557 debt; the audit saw the loss account off). */
static void test_fraud_simulation_hold_in_two_cases(void)
{
    simulate(236);
}

TESTS(T(test_fraud_simulation), T(test_fraud_simulation_hold_in_two_cases))
