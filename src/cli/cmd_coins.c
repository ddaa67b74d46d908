/*
 * cmd_coins.c - coins between the account and the wallet: withdraw,
 * deposit, refresh, and the coin listing.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ducat/coin.h"

static int net_fail(struct cli *x, enum dc_err e, const char *what)
{
    return cli_net_fail(x, e, what);
}

int cmd_withdraw(struct cli *x, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        return cli_fail_code(CLI_EXIT_USAGE,
                             "withdraw: give one AMOUNT (see: ducat help withdraw)");
    }
    int rc = cli_open(x, CLI_WALLET | CLI_NET | CLI_CONFIG);
    if (rc) return rc;
    int64_t amount;
    rc = cli_amount(x, argv[0], &amount);
    if (rc) return rc;
    struct dc_service_withdrawal wd;
    enum dc_err e = dc_service_withdraw(&x->svc, amount, cli_now(), &wd);
    if (e != DC_OK) return net_fail(x, e, "withdrawal");
    char a[48];
    if (x->json) {
        cli_emit(json_pack("{s:I, s:I, s:I, s:b}", "withdrawal_id", (json_int_t)wd.withdrawal_id,
                           "amount", (json_int_t)wd.amount, "coins", (json_int_t)wd.n_coins,
                           "resumed", wd.resumed));
    } else {
        if (wd.resumed) {
            printf("finished the withdrawal started earlier (no new withdrawal was made)\n");
        }
        printf("withdrew %s into %zu coin(s) in this wallet (withdrawal %lld)\n",
               cli_fmt(x, a, wd.amount), wd.n_coins, (long long)wd.withdrawal_id);
    }
    return CLI_EXIT_OK;
}

int cmd_deposit(struct cli *x, int argc, char **argv)
{
    size_t *idx = calloc((size_t)argc + 1, sizeof *idx), n = 0;
    if (!idx) return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < argc; i++) {
        const char *v;
        int r = cli_opt(argc, argv, &i, "--coin", &v);
        if (r < 0) {
            free(idx);
            return CLI_EXIT_USAGE;
        }
        char *end;
        long k = r ? strtol(v, &end, 10) : 0;
        if (!r || *end || end == v || k < 0) {
            free(idx);
            return cli_fail_code(CLI_EXIT_USAGE,
                                 "deposit: invalid argument '%s' (--coin N, N as "
                                 "listed by ducat coins)",
                                 r ? v : argv[i]);
        }
        idx[n++] = (size_t)k;
    }
    int rc = cli_open(x, CLI_WALLET | CLI_NET | CLI_CONFIG);
    if (rc) {
        free(idx);
        return rc;
    }
    struct dc_service_deposit *d = calloc(1, sizeof *d);
    if (!d) {
        free(idx);
        return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    }
    enum dc_err e = dc_service_deposit(&x->svc, n ? idx : NULL, n, cli_now(), d);
    free(idx);
    if ((e == DC_ERR_NOT_FOUND && d->n == 0) || e == DC_ERR_WALLET_OP_PENDING) {
        free(d);
        if (e == DC_ERR_WALLET_OP_PENDING) return net_fail(x, e, "deposit");
        return cli_fail(x, e, "deposit: %s", x->svc.detail);
    }
    char a[48], t[40], serial[2 * DC_SERIAL_BYTES + 1];
    if (x->json) {
        json_t *coins = json_array();
        for (size_t i = 0; i < d->n; i++) {
            const struct dc_service_deposit_coin *c = &d->coin[i];
            cli_hex(serial, c->serial, DC_SERIAL_BYTES);
            json_t *o = json_pack("{s:s, s:I, s:I, s:b, s:s, s:I, s:b}", "serial", serial, "amount",
                                  (json_int_t)c->amount, "release_at", (json_int_t)c->release_at,
                                  "release_provisional", c->release_provisional, "status",
                                  c->status, "case", (json_int_t)c->case_id, "flagged", c->flagged);
            if (o && c->err) json_object_set_new(o, "error", json_string(dc_err_name(c->err)));
            json_array_append_new(coins, o);
        }
        cli_emit(json_pack("{s:I, s:o, s:I, s:I, s:I, s:b}", "credited", (json_int_t)d->credited,
                           "coins", coins, "refused", (json_int_t)d->n_refused, "frozen",
                           (json_int_t)d->n_frozen, "kept", (json_int_t)d->n_kept, "resumed",
                           d->resumed));
    } else {
        if (d->resumed) printf("finished the deposit started earlier (no new deposit was made)\n");
        for (size_t i = 0; i < d->n; i++) {
            const struct dc_service_deposit_coin *c = &d->coin[i];
            cli_hex(serial, c->serial, DC_SERIAL_BYTES);
            if (c->err && strcmp(c->status, "kept") == 0) {
                printf("  coin %.12s  %s NOT DEPOSITED (still in this wallet): %s\n", serial,
                       cli_fmt(x, a, c->amount), dc_err_str(c->err));
            } else if (c->err) {
                printf("  coin %.12s  %s REFUSED: %s\n", serial, cli_fmt(x, a, c->amount),
                       dc_err_str(c->err));
            } else if (c->case_id) {
                printf("  coin %.12s  %s credited under double-spend case %lld (%s), released "
                       "%s at the earliest\n",
                       serial, cli_fmt(x, a, c->amount), (long long)c->case_id, c->status,
                       cli_local_time(x, t, c->release_at));
            } else {
                printf("  coin %.12s  %s held until %s%s%s\n", serial, cli_fmt(x, a, c->amount),
                       cli_local_time(x, t, c->release_at),
                       c->release_provisional ? " at the earliest (provisional: the server's "
                                                "calendar does not cover the whole hold yet)"
                                              : "",
                       c->flagged ? " (expired, within grace)" : "");
            }
        }
        printf("deposited: %s credited to your held balance\n", cli_fmt(x, a, d->credited));
    }
    /* A refused coin is value this wallet no longer has: say so on stderr
     * and exit non-zero, so a script notices, after the report of what
     * was credited. */
    size_t n_refused = d->n_refused, n_kept = d->n_kept;
    int64_t refused_sum = 0;
    enum dc_err why = DC_OK;
    for (size_t i = 0; i < d->n; i++) {
        if (!d->coin[i].err || strcmp(d->coin[i].status, "refused") != 0) continue;
        if (why == DC_OK) why = d->coin[i].err;
        if (dc_i64_add(&refused_sum, refused_sum, d->coin[i].amount) != DC_OK) refused_sum = 0;
    }
    free(d);
    if (e != DC_OK) return net_fail(x, e, "deposit");
    if (n_refused) {
        return cli_fail(x, why == DC_OK ? DC_ERR_COIN_SPENT : why,
                        "deposit: %zu coin(s) worth %s refused by the server for good (%s) and "
                        "dropped from this wallet; every other coin was credited",
                        n_refused, cli_fmt(x, a, refused_sum),
                        dc_err_str(why == DC_OK ? DC_ERR_COIN_SPENT : why));
    }
    if (n_kept) {
        return cli_fail(x, DC_ERR_INVALID_ARGUMENT,
                        "deposit: %zu coin(s) could not be deposited and stay in this wallet "
                        "(reasons above); every other coin was credited",
                        n_kept);
    }
    return CLI_EXIT_OK;
}

int cmd_refresh(struct cli *x, int argc, char **argv)
{
    if (argc) return cli_fail_code(CLI_EXIT_USAGE, "refresh: unexpected argument '%s'", argv[0]);
    int rc = cli_open(x, CLI_WALLET | CLI_NET | CLI_CONFIG);
    if (rc) return rc;
    struct dc_service_refresh r;
    enum dc_err e = dc_service_refresh(&x->svc, cli_now(), DC_SERVICE_REFRESH_MARGIN_MS, &r);
    if (e != DC_OK) return net_fail(x, e, "refresh");
    char a1[48], a2[48];
    if (x->json) {
        cli_emit(json_pack("{s:I, s:I, s:I, s:I}", "coins", (json_int_t)r.n_deposited, "deposited",
                           (json_int_t)r.deposited, "replaced", (json_int_t)r.replaced, "refused",
                           (json_int_t)r.n_refused));
    } else if (r.n_deposited == 0 && r.n_refused == 0) {
        printf("no coin needs refreshing\n");
    } else {
        printf("refreshed %zu coin(s): %s deposited (held), %s withdrawn as fresh coins\n",
               r.n_deposited, cli_fmt(x, a1, r.deposited), cli_fmt(x, a2, r.replaced));
        cli_print_refresh_bound(x, &r);
    }
    return cli_refresh_refused(x, &r);
}

static const char *status_name(const struct dc_wallet_coin_info *c, int refresh)
{
    if (c->status == DC_WALLET_PENDING_OUT) return "pending";
    if (c->status == DC_WALLET_SPENT) return "spent";
    return refresh ? "refresh" : "held";
}

int cmd_coins(struct cli *x, int argc, char **argv)
{
    int all = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else
            return cli_fail_code(CLI_EXIT_USAGE, "coins: unexpected argument '%s'", argv[i]);
    }
    int rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    uint64_t now = cli_now();
    json_t *arr = json_array();
    size_t n = dc_wallet_coin_count(x->w), shown = 0;
    char a[48], t[40], serial[2 * DC_SERIAL_BYTES + 1];
    if (!x->json) printf("  #  %14s  hops   expires               status   serial\n", "value");
    for (size_t i = 0; i < n; i++) {
        struct dc_wallet_coin_info c;
        if (dc_wallet_coin_info(x->w, i, &c) != DC_OK) continue;
        if (!all && c.status == DC_WALLET_SPENT) continue;
        int refresh = c.status == DC_WALLET_HELD &&
                      dc_wallet_needs_refresh(&c, now, DC_SERVICE_REFRESH_MARGIN_MS);
        cli_hex(serial, c.serial, DC_SERIAL_BYTES);
        shown++;
        if (x->json) {
            json_array_append_new(
                arr, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "index", (json_int_t)i,
                               "value", (json_int_t)c.value, "hops", (json_int_t)c.hops_used,
                               "hop_limit", (json_int_t)c.hop_limit, "issued_at",
                               (json_int_t)c.issued_at, "expires_at", (json_int_t)c.expires_at,
                               "status", status_name(&c, refresh), "serial", serial));
        } else {
            printf("%3zu  %14s  %2u/%-2u  %s  %-8s %.16s\n", i, cli_fmt(x, a, c.value),
                   (unsigned)c.hops_used, (unsigned)c.hop_limit, cli_time(t, c.expires_at),
                   status_name(&c, refresh), serial);
        }
    }
    if (x->json) {
        cli_emit(json_pack("{s:o}", "coins", arr));
    } else {
        json_decref(arr);
        if (shown == 0) printf("  (no coins)\n");
    }
    return CLI_EXIT_OK;
}
