/*
 * cmd_account.c - the wallet and its account: init, info, register, sync,
 * balance, history, and online pay (to an account).
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "ducat/coin.h"

/* Unknown options and missing arguments: one message, usage exit. */
static int usage_err(const char *cmd, const char *what)
{
    return cli_fail_code(CLI_EXIT_USAGE, "%s: %s (see: ducat help %s)", cmd, what, cmd);
}

static int unknown(const char *cmd, const char *arg)
{
    char m[300];
    snprintf(m, sizeof m, "unexpected argument '%s'", arg);
    return usage_err(cmd, m);
}

static int net_fail(struct cli *x, enum dc_err e, const char *what)
{
    return cli_net_fail(x, e, what);
}

/* ---- init ------------------------------------------------------------------------ */

int cmd_init(struct cli *x, int argc, char **argv)
{
    const char *kdf_name = "interactive";
    for (int i = 0; i < argc; i++) {
        int r;
        if ((r = cli_opt(argc, argv, &i, "--kdf", &kdf_name)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
        } else {
            return unknown("init", argv[i]);
        }
    }
    struct dc_wallet_kdf kdf = {0, 0};
    if (strcmp(kdf_name, "min") == 0) {
        kdf.opslimit = crypto_pwhash_OPSLIMIT_MIN;
        kdf.memlimit = crypto_pwhash_MEMLIMIT_MIN;
    } else if (strcmp(kdf_name, "moderate") == 0) {
        kdf.opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
        kdf.memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
    } else if (strcmp(kdf_name, "interactive") != 0) {
        return cli_fail_code(CLI_EXIT_USAGE, "invalid --kdf '%s' (interactive, moderate or min)",
                             kdf_name);
    }
    if (!x->server) return usage_err("init", "--server URL is required");
    if (strncmp(x->server, "http://", 7) != 0 && strncmp(x->server, "https://", 8) != 0) {
        return cli_fail_code(CLI_EXIT_USAGE, "invalid server URL '%s' (http://HOST:PORT)",
                             x->server);
    }
    cli_resolve_path(x);
    /* the default directory is private to the user */
    if (x->wallet_path == x->path_buf) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", x->path_buf);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                return cli_fail_code(CLI_EXIT_WALLET, "cannot create '%s': %s", dir,
                                     strerror(errno));
            }
        }
    }
    int rc = cli_lock(x);
    if (rc) return rc;
    struct stat st;
    if (stat(x->wallet_path, &st) == 0) {
        return cli_fail_code(CLI_EXIT_WALLET,
                             "a wallet already exists at '%s' (refusing to overwrite it)",
                             x->wallet_path);
    }
    rc = cli_read_pass(x, 1);
    if (rc) return rc;
    uint8_t seed[DC_SEED_BYTES];
    randombytes_buf(seed, sizeof seed);
    enum dc_err e = dc_wallet_create(&x->w, seed);
    sodium_memzero(seed, sizeof seed);
    if (e == DC_OK) e = dc_wallet_set_server(x->w, x->server, 0);
    if (e == DC_OK) e = dc_wallet_save(x->w, x->wallet_path, x->pass, x->pass_len, &kdf, 0);
    if (e != DC_OK) {
        return cli_fail_code(CLI_EXIT_WALLET, "cannot create the wallet '%s': %s", x->wallet_path,
                             dc_err_str(e));
    }
    uint8_t pub[DC_PUBKEY_BYTES];
    char hex[2 * DC_PUBKEY_BYTES + 1];
    dc_wallet_device_pub(x->w, pub);
    cli_hex(hex, pub, sizeof pub);
    if (x->json) {
        cli_emit(json_pack("{s:s, s:s, s:s}", "wallet", x->wallet_path, "server", x->server,
                           "device_pub", hex));
    } else {
        printf("created wallet %s\n  device key %s\n  server %s\n"
               "next: ducat register --name NAME --national-id ID --phone PHONE\n",
               x->wallet_path, hex, x->server);
    }
    return CLI_EXIT_OK;
}

/* ---- info ------------------------------------------------------------------------ */

int cmd_info(struct cli *x, int argc, char **argv)
{
    if (argc) return unknown("info", argv[0]);
    int rc = cli_open(x, CLI_WALLET);
    if (rc) return rc;
    uint8_t pub[DC_PUBKEY_BYTES], cert[DC_DEVCERT_BYTES];
    char hex[2 * DC_PUBKEY_BYTES + 1], alias[2 * DC_ALIAS_BYTES + 1] = "-", t1[40], t2[40], a1[48];
    dc_wallet_device_pub(x->w, pub);
    cli_hex(hex, pub, sizeof pub);
    struct dc_devcert dc;
    memset(&dc, 0, sizeof dc);
    int has_cert = dc_wallet_devcert(x->w, cert) == DC_OK &&
                   dc_devcert_decode(&dc, cert, sizeof cert) == DC_OK;
    if (has_cert) cli_hex(alias, dc.alias, DC_ALIAS_BYTES);
    struct dc_wallet_params p;
    memset(&p, 0, sizeof p);
    int synced = dc_wallet_params(x->w, &p) == DC_OK;
    size_t n_rev = 0;
    (void)dc_wallet_revoked(x->w, &n_rev);
    json_t *pending = json_array();
    for (size_t i = 0; i < dc_wallet_request_count(x->w); i++) {
        const char *kind;
        uint8_t id[DC_WALLET_REQUEST_ID_BYTES];
        if (dc_wallet_request_at(x->w, i, &kind, id, NULL, NULL, NULL) == DC_OK &&
            (strcmp(kind, "withdraw") == 0 || strcmp(kind, "deposit") == 0 ||
             strcmp(kind, "transfer") == 0)) {
            json_array_append_new(pending, json_string(kind));
        }
    }
    struct dc_service_op op;
    if (dc_service_op_pending(x->w, &op) != DC_OK) op.cmd[0] = '\0';
    if (x->json) {
        cli_emit(json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:b, s:I, s:o, s:s?}",
                           "wallet", x->wallet_path, "server", dc_wallet_server_url(x->w),
                           "account", (json_int_t)dc_wallet_account(x->w), "device_pub", hex,
                           "alias", alias, "cert_expires_at", (json_int_t)dc.expires_at,
                           "offline_limit", (json_int_t)dc.offline_limit, "synced_at",
                           (json_int_t)p.synced_at, "synced", synced, "revoked_devices",
                           (json_int_t)n_rev, "pending", pending, "operation",
                           op.cmd[0] ? op.cmd : NULL));
        return CLI_EXIT_OK;
    }
    printf("wallet      %s\nserver      %s\n", x->wallet_path, dc_wallet_server_url(x->w));
    if (dc_wallet_account(x->w)) {
        printf("account     %llu\n", (unsigned long long)dc_wallet_account(x->w));
    } else {
        printf("account     (not registered)\n");
    }
    printf("device key  %s\nalias       %s\n", hex, alias);
    if (has_cert) {
        printf("certificate expires %s, offline limit %s\n", cli_time(t1, dc.expires_at),
               cli_fmt(x, a1, dc.offline_limit));
    }
    printf("last sync   %s (%zu revoked devices known)\n",
           synced ? cli_time(t2, p.synced_at) : "never", n_rev);
    for (size_t i = 0; i < json_array_size(pending); i++) {
        printf("pending     %s request (sent again by the next online command)\n",
               json_string_value(json_array_get(pending, i)));
    }
    json_decref(pending);
    if (op.cmd[0]) {
        printf("pending     %s operation (run the same `ducat %s` again, or `ducat sync`, to "
               "finish it; other money-moving commands wait for it)\n",
               op.cmd, op.cmd);
    }
    return CLI_EXIT_OK;
}

/* ---- register and sync -------------------------------------------------------------- */

/* resume, sync, refresh; prints unless print == 0 */
static int do_sync(struct cli *x, int print)
{
    struct dc_service_resumed rs;
    uint64_t now = cli_now();
    enum dc_err e = dc_service_resume(&x->svc, now, &rs);
    if (e != DC_OK) return net_fail(x, e, "finishing a pending request");
    struct dc_service_sync_result r;
    e = dc_service_sync(&x->svc, now, NULL, &r);
    if (e != DC_OK) return net_fail(x, e, "sync");
    x->has_cfg = dc_service_config(x->w, &x->cfg) == DC_OK;
    struct dc_service_refresh rf;
    memset(&rf, 0, sizeof rf);
    if (r.has_cert && strcmp(r.status, "verified") == 0) {
        e = dc_service_refresh(&x->svc, now, DC_SERVICE_REFRESH_MARGIN_MS, &rf);
        if (e != DC_OK) return net_fail(x, e, "refresh");
    }
    int rrc = CLI_EXIT_OK;
    if (r.has_cert && strcmp(r.status, "verified") == 0 && print) {
        /* refused payments come back at once, unacknowledged ones after their deadline */
        rrc = cli_reclaim_at_sync(x, now);
    }
    if (rs.n_refused) {
        /* the finished deposit's refusals, said as the deposit itself says them */
        rf.n_refused += rs.n_refused;
        if (dc_i64_add(&rf.refused, rf.refused, rs.refused) != DC_OK) rf.refused = INT64_MAX;
        if (rf.refused_why == DC_OK) rf.refused_why = rs.refused_why;
    }
    char t[40], a1[48], a2[48], a3[48];
    if (!print) return CLI_EXIT_OK;
    if (x->json) {
        cli_emit(json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:I, s:I, s:I, s:I, s:I}",
                           "account", (json_int_t)r.account, "status", r.status, "cert_expires_at",
                           (json_int_t)r.cert_expires_at, "offline_limit",
                           (json_int_t)r.offline_limit, "signing_keys", (json_int_t)r.n_keys,
                           "revoked_devices", (json_int_t)r.n_revoked, "offline_blocked",
                           r.offline_blocked, "revoked_self", r.revoked_self, "refreshed_coins",
                           (json_int_t)rf.n_deposited, "refreshed", (json_int_t)rf.deposited,
                           "replaced", (json_int_t)rf.replaced, "resumed",
                           (json_int_t)(rs.transfers + rs.withdrawals + rs.deposits),
                           "refused_coins", (json_int_t)rf.n_refused));
        int frc = cli_refresh_refused(x, &rf);
        return frc ? frc : rrc;
    }
    if (rs.transfers + rs.withdrawals + rs.deposits) {
        printf("finished %zu pending request(s) left by an interrupted command\n",
               rs.transfers + rs.withdrawals + rs.deposits);
    }
    if (r.offline_blocked) {
        printf("synced keys (%zu signing keys, %zu revoked devices); OFFLINE USE BLOCKED for this "
               "device after a double-spend case: no new certificate or coins\n",
               r.n_keys, r.n_revoked);
        return CLI_EXIT_OK;
    }
    if (!r.has_cert) {
        printf("synced keys (%zu signing keys, %zu revoked devices); not registered yet\n",
               r.n_keys, r.n_revoked);
        return CLI_EXIT_OK;
    }
    printf("synced: account %llu (%s), certificate valid until %s, offline limit %s\n",
           (unsigned long long)r.account, r.status, cli_time(t, r.cert_expires_at),
           cli_fmt(x, a1, r.offline_limit));
    printf("        %zu signing key(s), %zu revoked device(s)\n", r.n_keys, r.n_revoked);
    if (rf.n_deposited) {
        printf("refreshed %zu coin(s) near expiry or hop limit: %s deposited (held), %s "
               "withdrawn as fresh coins\n",
               rf.n_deposited, cli_fmt(x, a2, rf.deposited), cli_fmt(x, a3, rf.replaced));
        cli_print_refresh_bound(x, &rf);
    }
    int frc = cli_refresh_refused(x, &rf);
    return frc ? frc : rrc;
}

int cmd_register(struct cli *x, int argc, char **argv)
{
    struct dc_service_identity id = {NULL, NULL, NULL};
    for (int i = 0; i < argc; i++) {
        int r;
        if ((r = cli_opt(argc, argv, &i, "--name", &id.name)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--national-id", &id.national_id)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--phone", &id.phone)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
        } else {
            return unknown("register", argv[i]);
        }
    }
    if (!id.name || !id.national_id || !id.phone) {
        return usage_err("register", "--name, --national-id and --phone are required");
    }
    if (!*id.name || !*id.national_id || !*id.phone) {
        return usage_err("register", "--name, --national-id and --phone must not be empty");
    }
    int rc = cli_open(x, CLI_WALLET | CLI_NET);
    if (rc) return rc;
    struct dc_service_account a;
    enum dc_err e = dc_service_register(&x->svc, &id, &a);
    if (e != DC_OK) return net_fail(x, e, "registration");
    char alias[2 * DC_ALIAS_BYTES + 1];
    cli_hex(alias, a.alias, DC_ALIAS_BYTES);
    if (!x->json) {
        printf("registered %s: account %llu (%s), device alias %s\n", id.name,
               (unsigned long long)a.account, a.status, alias);
        if (strcmp(a.status, "unverified") == 0) {
            printf("the operator must verify the account before it can withdraw coins\n");
        }
    }
    if (x->json) { /* one JSON object: the registration; sync quietly */
        rc = do_sync(x, 0);
        if (rc == CLI_EXIT_OK) {
            cli_emit(json_pack("{s:I, s:s, s:s}", "account", (json_int_t)a.account, "status",
                               a.status, "alias", alias));
        }
        return rc;
    }
    return do_sync(x, 1);
}

int cmd_sync(struct cli *x, int argc, char **argv)
{
    if (argc) return unknown("sync", argv[0]);
    int rc = cli_open(x, CLI_WALLET | CLI_NET);
    if (rc) return rc;
    return do_sync(x, 1);
}

/* ---- balance and history ------------------------------------------------------------ */

int cmd_balance(struct cli *x, int argc, char **argv)
{
    int offline = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--offline") == 0)
            offline = 1;
        else
            return unknown("balance", argv[i]);
    }
    int rc = cli_open(x, CLI_WALLET | CLI_CONFIG | (offline ? 0 : CLI_NET));
    if (rc) return rc;
    uint64_t now = cli_now();
    struct dc_wallet_balance wb;
    enum dc_err e = dc_wallet_balance(x->w, now, DC_SERVICE_REFRESH_MARGIN_MS, &wb);
    if (e != DC_OK) return cli_fail(x, e, "cannot sum the wallet's coins: %s", dc_err_str(e));
    struct dc_service_balance *b = calloc(1, sizeof *b);
    if (!b) return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    if (!offline) {
        e = dc_service_resume(&x->svc, now, NULL);
        if (e == DC_OK) e = dc_service_balance(&x->svc, b);
        if (e != DC_OK) {
            free(b);
            return net_fail(x, e, "balance");
        }
    }
    char a1[48], a2[48], a3[48], a4[48], t[40];
    if (x->json) {
        json_t *holds = json_array();
        for (size_t i = 0; i < b->n_holds; i++) {
            const struct dc_service_hold *h = &b->holds[i];
            json_array_append_new(holds,
                                  json_pack("{s:I, s:I, s:I, s:b, s:s, s:I}", "id",
                                            (json_int_t)h->id, "amount", (json_int_t)h->amount,
                                            "release_at", (json_int_t)h->release_at,
                                            "release_provisional", h->release_provisional, "status",
                                            h->status, "case", (json_int_t)h->case_id));
        }
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "currency", x->cfg.currency.code,
                              "offline_coins", (json_int_t)wb.held, "offline_spendable",
                              (json_int_t)wb.spendable, "offline_refresh", (json_int_t)wb.refresh,
                              "offline_pending_out", (json_int_t)wb.pending_out, "offline_count",
                              (json_int_t)wb.n_held);
        if (!offline && o) {
            json_object_set_new(o, "available", json_integer(b->available));
            json_object_set_new(o, "held", json_integer(b->held));
            json_object_set_new(o, "offline_outstanding", json_integer(b->offline_outstanding));
            json_object_set_new(o, "status", json_string(b->status));
            json_object_set_new(o, "holds", holds);
        } else {
            json_decref(holds);
        }
        cli_emit(o);
        free(b);
        return CLI_EXIT_OK;
    }
    if (!offline) {
        printf("available   %s\n", cli_fmt(x, a1, b->available));
        printf("held        %s (deposits in the frozen box)\n", cli_fmt(x, a1, b->held));
        for (size_t i = 0; i < b->n_holds; i++) {
            const struct dc_service_hold *h = &b->holds[i];
            if (strcmp(h->status, "held") != 0 && strcmp(h->status, "frozen") != 0) continue;
            printf("  %-10s %s, released %s", h->status, cli_fmt(x, a2, h->amount),
                   cli_local_time(x, t, h->release_at));
            if (h->release_provisional) printf(" at the earliest (provisional: see below)");
            if (h->case_id) printf(", under double-spend case %lld", (long long)h->case_id);
            printf("\n");
            if (h->release_provisional) {
                printf("             the server's working-day calendar does not cover this hold "
                       "yet; the date is fixed once it does\n");
            }
        }
    }
    printf("offline     %s in %zu coin(s) in this wallet", cli_fmt(x, a3, wb.held), wb.n_held);
    if (wb.n_refresh) printf(", %s to refresh", cli_fmt(x, a4, wb.refresh));
    printf("\n");
    if (wb.n_pending_out) {
        printf("pending out %s signed away, awaiting the payee's receipt or the server\n",
               cli_fmt(x, a4, wb.pending_out));
    }
    free(b);
    return CLI_EXIT_OK;
}

int cmd_history(struct cli *x, int argc, char **argv)
{
    int offline = 0;
    long limit = 20, before = 0;
    for (int i = 0; i < argc; i++) {
        const char *v;
        int r;
        if (strcmp(argv[i], "--offline") == 0) {
            offline = 1;
        } else if ((r = cli_opt(argc, argv, &i, "--limit", &v)) != 0 ||
                   (r = cli_opt(argc, argv, &i, "--before", &v)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            char *end;
            long n = strtol(v, &end, 10);
            int is_limit = strcmp(argv[i - 1], "--limit") == 0;
            if (*end || end == v || n < 1 || (is_limit && n > 500)) {
                return cli_fail_code(CLI_EXIT_USAGE, "invalid %s '%s'", argv[i - 1], v);
            }
            if (is_limit)
                limit = n;
            else
                before = n;
        } else {
            return unknown("history", argv[i]);
        }
    }
    int rc = cli_open(x, CLI_WALLET | CLI_CONFIG | (offline ? 0 : CLI_NET));
    if (rc) return rc;
    json_t *j = NULL;
    if (!offline) {
        enum dc_err e = dc_service_history(&x->svc, (int)limit, before, &j);
        if (e != DC_OK) return net_fail(x, e, "history");
    }
    json_t *off = json_array();
    size_t n = dc_wallet_history_count(x->w);
    for (size_t i = 0; i < n; i++) {
        struct dc_wallet_history h;
        char alias[2 * DC_ALIAS_BYTES + 1];
        if (dc_wallet_history_at(x->w, i, &h) != DC_OK) continue;
        cli_hex(alias, h.alias, DC_ALIAS_BYTES);
        json_array_append_new(off,
                              json_pack("{s:I, s:s, s:I, s:s}", "time", (json_int_t)h.time,
                                        "direction", h.direction == DC_WALLET_IN ? "in" : "out",
                                        "amount", (json_int_t)h.amount, "alias", alias));
    }
    if (x->json) {
        json_t *o = json_pack("{s:o}", "offline", off);
        if (j && o) json_object_set_new(o, "entries", json_incref(json_object_get(j, "entries")));
        json_decref(j);
        cli_emit(o);
        return CLI_EXIT_OK;
    }
    char t[40], a[48];
    if (j) {
        const json_t *es = json_object_get(j, "entries");
        printf("account entries (newest first):\n");
        if (json_array_size(es) == 0) printf("  (none)\n");
        for (size_t i = 0; i < json_array_size(es); i++) {
            const json_t *e = json_array_get(es, i);
            const char *kind = json_string_value(json_object_get(e, "kind"));
            const char *bucket = json_string_value(json_object_get(e, "bucket"));
            const char *memo = json_string_value(json_object_get(e, "memo"));
            /* a forfeit, recovery, reversal or repayment names its fork case */
            const char *ref = json_string_value(json_object_get(e, "ref"));
            int is_case = ref && strncmp(ref, "c:", 2) == 0;
            printf("  #%-5lld %s  %-10s %14s  %-9s counterparty %lld%s%s%s%s%s",
                   (long long)json_integer_value(json_object_get(e, "id")),
                   cli_time(t, (uint64_t)json_integer_value(json_object_get(e, "time"))),
                   kind ? kind : "?",
                   cli_fmt(x, a, (int64_t)json_integer_value(json_object_get(e, "amount"))),
                   bucket ? bucket : "?",
                   (long long)json_integer_value(json_object_get(e, "counterparty")),
                   memo && *memo ? "  \"" : "", memo && *memo ? memo : "",
                   memo && *memo ? "\"" : "", is_case ? "  case " : "", is_case ? ref + 2 : "");
            /* a deposit still in the frozen box: when it is released, and
             * whether that date is a guess (the server's calendar does not
             * cover the whole window yet), as `balance` says */
            const char *hs = json_string_value(json_object_get(e, "hold_status"));
            if (hs && (strcmp(hs, "held") == 0 || strcmp(hs, "frozen") == 0)) {
                printf("  %s, released %s%s", hs,
                       cli_local_time(
                           x, t, (uint64_t)json_integer_value(json_object_get(e, "release_at"))),
                       json_is_true(json_object_get(e, "release_provisional"))
                           ? " at the earliest (provisional: the calendar does not cover it yet)"
                           : "");
            } else if (hs) {
                printf("  %s", hs);
            }
            printf("\n");
        }
        json_decref(j);
    }
    printf("offline payments (oldest first):\n");
    if (json_array_size(off) == 0) printf("  (none)\n");
    for (size_t i = 0; i < json_array_size(off); i++) {
        const json_t *e = json_array_get(off, i);
        printf("  %s  %-3s %14s  %s alias %s\n",
               cli_time(t, (uint64_t)json_integer_value(json_object_get(e, "time"))),
               json_string_value(json_object_get(e, "direction")),
               cli_fmt(x, a, (int64_t)json_integer_value(json_object_get(e, "amount"))),
               strcmp(json_string_value(json_object_get(e, "direction")), "in") == 0 ? "from"
                                                                                     : "to",
               json_string_value(json_object_get(e, "alias")));
    }
    json_decref(off);
    return CLI_EXIT_OK;
}

/* ---- pay (online) ---------------------------------------------------------------- */

int cmd_pay(struct cli *x, int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *memo = NULL;
    int npos = 0, offline_opts = 0;
    for (int i = 0; i < argc; i++) {
        int r;
        if ((r = cli_opt(argc, argv, &i, "--memo", &memo)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--max") == 0) {
            offline_opts = 1;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return unknown("pay", argv[i]);
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            return unknown("pay", argv[i]);
        }
    }
    if (npos == 1 || offline_opts) return cmd_pay_offline(x, argc, argv);
    if (npos != 2)
        return usage_err("pay", "give ACCOUNT AMOUNT (online) or REQUEST_FILE (offline)");
    char *end;
    unsigned long long to = strtoull(pos[0], &end, 10);
    if (*end || end == pos[0] || to == 0 || pos[0][0] == '-' || to > INT64_MAX) {
        return cli_fail_code(CLI_EXIT_USAGE, "invalid account '%s' (a positive account number)",
                             pos[0]);
    }
    int rc = cli_open(x, CLI_WALLET | CLI_NET | CLI_CONFIG);
    if (rc) return rc;
    int64_t amount;
    rc = cli_amount(x, pos[1], &amount);
    if (rc) return rc;
    struct dc_service_transfer t;
    enum dc_err e = dc_service_pay(&x->svc, (uint64_t)to, amount, memo, cli_now(), &t);
    if (e != DC_OK) return net_fail(x, e, "payment");
    char a1[48], a2[48];
    if (x->json) {
        cli_emit(json_pack("{s:I, s:I, s:I, s:I, s:b}", "transfer_id", (json_int_t)t.transfer_id,
                           "to", (json_int_t)t.to, "amount", (json_int_t)t.amount, "available",
                           (json_int_t)t.available, "resumed", t.resumed));
    } else {
        if (t.resumed) printf("finished the payment started earlier (no new payment was made)\n");
        printf("paid %s to account %llu (transfer %lld); available now %s\n",
               cli_fmt(x, a1, t.amount), (unsigned long long)t.to, (long long)t.transfer_id,
               cli_fmt(x, a2, t.available));
    }
    return CLI_EXIT_OK;
}
