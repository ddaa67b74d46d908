/*
 * cmd_reclaim.c - `ducat pending` and `ducat reclaim`: the offline payments
 * this wallet signed over that are neither confirmed by the payee's receipt
 * nor reclaimed, and taking them back online (dc_service_reclaim: at once
 * with the payee's signed refusal, else once the coins' deposit deadline
 * has passed). `ducat sync` reclaims too (cli_reclaim_at_sync).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ducat/offline.h"

/* Prints what a reclaim did; the exit code (0, or the refusal's). */
static int report_reclaim(struct cli *x, const struct dc_service_reclaim *r, int quiet_if_none)
{
    char a[48], t[40];
    if (r->n_reclaimed) {
        printf("reclaimed %zu refused or unacknowledged offline payment(s): %s credited (held)\n",
               r->n_reclaimed, cli_fmt(x, a, r->reclaimed));
    }
    if (r->n_under_case) {
        printf("%zu of them (%s) the payee had passed on or deposited after refusing: "
               "reclaimed under case %lld against the payee, held until the case is settled\n",
               r->n_under_case, cli_fmt(x, a, r->under_case), (long long)r->case_id);
    }
    if (r->n_taken) {
        printf("%zu offline payment(s) of %s were deposited by their payee first: paid, not "
               "reclaimed\n",
               r->n_taken, cli_fmt(x, a, r->taken));
    }
    if (r->n_waiting) {
        printf("%zu offline payment(s) of %s await the payee's receipt or refusal; without one "
               "they can be reclaimed from %s\n",
               r->n_waiting, cli_fmt(x, a, r->waiting), cli_time(t, r->next_at));
    }
    if (r->n_failed) {
        return cli_fail(x, r->failed_why, "reclaim refused for %zu payment(s): %s", r->n_failed,
                        dc_err_str(r->failed_why));
    }
    if (!quiet_if_none && !r->n_reclaimed && !r->n_taken && !r->n_waiting) {
        printf("no pending-out offline payment\n");
    }
    return CLI_EXIT_OK;
}

int cli_reclaim_at_sync(struct cli *x, uint64_t now)
{
    struct dc_service_reclaim r;
    enum dc_err e = dc_service_reclaim(&x->svc, now, &r);
    if (e != DC_OK) return cli_net_fail(x, e, "reclaim");
    if (x->json) return CLI_EXIT_OK;
    /* sync says only what moved or is stuck, not what waits */
    r.n_waiting = 0;
    return report_reclaim(x, &r, 1);
}

int cmd_reclaim(struct cli *x, int argc, char **argv)
{
    if (argc) return cli_fail_code(CLI_EXIT_USAGE, "reclaim: unexpected argument '%s'", argv[0]);
    int rc = cli_open(x, CLI_WALLET | CLI_NET | CLI_CONFIG);
    if (rc) return rc;
    struct dc_service_reclaim r;
    enum dc_err e = dc_service_reclaim(&x->svc, cli_now(), &r);
    if (e != DC_OK) return cli_net_fail(x, e, "reclaim");
    if (x->json) {
        cli_emit(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                           "reclaimed_payments", (json_int_t)r.n_reclaimed, "reclaimed",
                           (json_int_t)r.reclaimed, "under_case_payments",
                           (json_int_t)r.n_under_case, "under_case", (json_int_t)r.under_case,
                           "case", (json_int_t)r.case_id, "taken_payments", (json_int_t)r.n_taken,
                           "taken", (json_int_t)r.taken, "waiting_payments",
                           (json_int_t)r.n_waiting, "waiting", (json_int_t)r.waiting, "next_at",
                           (json_int_t)r.next_at, "failed_payments", (json_int_t)r.n_failed));
        return r.n_failed
                   ? cli_fail(x, r.failed_why, "reclaim refused: %s", dc_err_str(r.failed_why))
                   : CLI_EXIT_OK;
    }
    return report_reclaim(x, &r, 0);
}

int cmd_pending(struct cli *x, int argc, char **argv)
{
    if (argc) return cli_fail_code(CLI_EXIT_USAGE, "pending: unexpected argument '%s'", argv[0]);
    int rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    json_t *arr = json_array();
    if (!arr) return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < dc_wallet_request_count(x->w); i++) {
        uint8_t req[DC_REQUEST_BYTES];
        size_t rlen;
        int refused = 0;
        struct dc_request r;
        struct dc_wallet_outgoing o;
        if (dc_offline_py_at(x->w, i, req, &rlen, &refused) != DC_OK ||
            dc_request_decode(&r, req, rlen) != DC_OK ||
            dc_wallet_find_payment(x->w, &o, r.payee.pub, r.nonce) != DC_OK) {
            continue;
        }
        /* the latest deadline of its coins: from then on no payee can deposit them */
        uint64_t deadline = 0;
        struct dc_coin *c = malloc(sizeof *c);
        for (size_t k = 0; c && k < o.n; k++) {
            if (dc_coin_decode(c, o.coin[k], o.coin_len[k]) != DC_OK) continue;
            uint64_t d = c->genesis.expires_at + (x->has_cfg ? x->cfg.deposit_grace_ms : 0);
            if (d > deadline) deadline = d;
        }
        free(c);
        char alias[2 * DC_ALIAS_BYTES + 1], a[48], t[40];
        cli_hex(alias, r.payee.alias, DC_ALIAS_BYTES);
        n++;
        if (x->json) {
            json_array_append_new(arr, json_pack("{s:I, s:s, s:I, s:s, s:I}", "amount",
                                                 (json_int_t)o.amount, "payee_alias", alias,
                                                 "coins", (json_int_t)o.n, "state",
                                                 refused ? "refused" : "unacknowledged",
                                                 "reclaim_from", (json_int_t)deadline));
        } else {
            printf("pending out %s to device alias %s (%zu coin(s)): %s\n", cli_fmt(x, a, o.amount),
                   alias, o.n,
                   refused ? "REFUSED by the payee: `ducat reclaim` takes it back now"
                           : "no receipt or refusal yet");
            if (!refused)
                printf("    reclaimable without a refusal from %s\n", cli_time(t, deadline));
        }
    }
    if (x->json) {
        cli_emit(json_pack("{s:o}", "pending", arr));
        return CLI_EXIT_OK;
    }
    json_decref(arr);
    if (n == 0) printf("no pending-out offline payment\n");
    return CLI_EXIT_OK;
}
