/*
 * cmd_offline.c - offline payments: over files or stdio with text armor
 * (request, pay REQUEST, accept, confirm; QR codes are armor too) and over
 * TCP (receive, send), standing in for NFC or Bluetooth. No server is
 * involved.
 *
 * Every step of the payment - the slots in the wallet, the offline limit,
 * signing, saving before anything leaves, resuming an open request - is the
 * offline layer's (include/ducat/offline.h: dc_offline_payee_* and
 * dc_offline_payer_*). These commands are its hosts: they move bytes (a
 * file, stdout, a socket) and word the outcome. Killing either side at any
 * message boundary and running the same commands again completes the one
 * payment, never a second one (the layer's crash rule).
 *
 * TCP transport: the session engine's frames back to back; after the
 * payer has checked the receipt and saved, it sends one byte 0x06 (ACK)
 * so the payee knows the exchange is complete on both sides.
 */
#define _DEFAULT_SOURCE /* getaddrinfo and friends */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/offline.h"
#include "cli/qr.h"
#include "ducat/armor.h"
#include "ducat/auth.h"
#include "ducat/coin.h"
#include "ducat/offline.h"
#include "ducat/proto.h"

#define ACK_BYTE 0x06

/* ---- Small helpers ------------------------------------------------------------------ */

/* Reads an armored object of `kind` from path into a malloc'd buffer. */
static int read_armor(struct cli *x, const char *path, enum dc_armor_kind kind, uint8_t **out,
                      size_t *len)
{
    char *text;
    size_t tl;
    int rc = cli_read_file(path, 256 * 1024, &text, &tl);
    if (rc) return rc;
    rc = qr_join(text, &tl); /* QR parts, as a scanner read them, in any order */
    if (rc) {
        free(text);
        return rc;
    }
    size_t need = 0;
    enum dc_err e = dc_armor_decode(NULL, 0, &need, kind, text, tl);
    uint8_t *b = NULL;
    if (e == DC_ERR_BUFFER_TOO_SMALL) {
        b = malloc(need);
        e = b ? dc_armor_decode(b, need, len, kind, text, tl) : DC_ERR_NO_MEMORY;
    }
    if (e != DC_OK) {
        /* quote the start of the input, printable only */
        char q[41];
        size_t k = 0;
        for (size_t i = 0; i < tl && k < 40; i++) {
            unsigned char ch = (unsigned char)text[i];
            if (ch >= 0x20 && ch < 0x7f) q[k++] = (char)ch;
        }
        q[k] = '\0';
        free(b);
        free(text);
        return cli_fail(x, e, "'%s' is not a valid %s: %s: '%s%s'", path, dc_armor_kind_name(kind),
                        dc_err_str(e), q, tl > 40 ? "..." : "");
    }
    free(text);
    *out = b;
    return 0;
}

static int print_armor(struct cli *x, enum dc_armor_kind kind, const uint8_t *b, size_t len)
{
    size_t need = dc_armor_encoded_len(kind, len) + 1, n;
    char *t = malloc(need);
    enum dc_err e = t ? dc_armor_encode(t, need, &n, kind, b, len) : DC_ERR_NO_MEMORY;
    if (e != DC_OK) {
        free(t);
        return cli_fail(x, e, "cannot armor the %s: %s", dc_armor_kind_name(kind), dc_err_str(e));
    }
    cli_print_line(t);
    int rc = x->qr || x->qr_png ? qr_emit(t, x->qr, x->qr_png) : 0;
    free(t);
    return rc;
}

/* Writes a line to the "what was verified" report: stderr when stdout
 * carries armor, stdout otherwise; nothing with --json. */
static FILE *report_to;
__attribute__((format(printf, 2, 3))) static void report(const struct cli *x, const char *fmt, ...)
{
    if (x->json) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(report_to ? report_to : stdout, fmt, ap);
    va_end(ap);
    fputc('\n', report_to ? report_to : stdout);
}

/* ---- The offline layer's host (include/ducat/offline.h) ------------------------------ */

/*
 * Every step of a payment - check, sign, save, then send; receive, verify,
 * save, then answer - is the offline layer's (dc_offline_payee_* and
 * dc_offline_payer_*); what stays here is how the CLI words the outcome.
 */

/* The layer's crash points as the CLI's test pause points: "<prefix>:<point>". */
static void pause_at(void *ctx, const char *point)
{
    char p[64];
    snprintf(p, sizeof p, "%s:%s", (const char *)ctx, point);
    cli_pause_point(p);
}

void offline_host(struct cli *x, struct dc_offline *o, unsigned transport, const char *prefix)
{
    memset(o, 0, sizeof *o);
    o->w = x->w;
    o->save = cli_save_cb;
    o->save_ctx = x;
    o->point = pause_at;
    o->point_ctx = (void *)(uintptr_t)prefix;
    o->transport = transport;
}

/* The offline layer said no: one line that says why and what to do. `what`
 * names the step ("payment refused", "cannot pay" ...). */
static int offline_fail(struct cli *x, const struct dc_offline *o, enum dc_err e, const char *what)
{
    const struct dc_offline_note *n = &o->note;
    char a1[48], a2[48];
    if (n->saving) {
        return cli_fail_code(CLI_EXIT_WALLET, "cannot save the wallet '%s': %s", x->wallet_path,
                             dc_err_str(e));
    }
    switch (e) {
    case DC_ERR_WALLET_NOT_SYNCED:
        return cli_fail(x, e, "cannot verify offline: %s (run: ducat sync)", dc_err_str(e));
    case DC_ERR_WALLET_NOT_REGISTERED:
        return cli_fail_code(CLI_EXIT_REFUSED,
                             "this wallet has no device certificate (run: ducat register, ducat "
                             "sync)");
    case DC_ERR_CERT_EXPIRED:
        if (!n->cert_expires_at) break;
        return cli_fail_code(CLI_EXIT_REFUSED,
                             "this device's certificate expired at %s: payers would refuse it "
                             "(run: ducat sync)",
                             cli_time(a1, n->cert_expires_at));
    case DC_ERR_LIMIT_EXCEEDED:
        if (!n->max) break;
        return cli_fail(x, e, "the payee asks %s, more than --max %s",
                        cli_fmt(x, a1, n->request.amount), cli_fmt(x, a2, n->max));
    case DC_ERR_PAYMENT_TOO_LARGE: {
        char bytes[64] = "";
        if (n->payment_bytes) {
            snprintf(bytes, sizeof bytes, " (these coins would take %zu)", n->payment_bytes);
        }
        return cli_fail(x, e,
                        "%s %s: one offline payment carries at most %d coins and %d bytes%s; "
                        "nothing was signed - ask for less per payment, or refresh coins online "
                        "(ducat refresh) for fewer, shorter ones",
                        what, cli_fmt(x, a1, n->request.amount), DC_PAYMENT_COINS_MAX,
                        DC_PAYMENT_MAX_BYTES, bytes);
    }
    default:
        break;
    }
    return cli_fail(x, e, "%s: %s", what, dc_err_str(e));
}

/* ---- Payee --------------------------------------------------------------------------- */

/* A new payee session for amount: the request signed, recorded and saved. */
int payee_new(struct cli *x, struct dc_offline *o, int64_t amount, struct dc_session *s,
              uint64_t *created)
{
    enum dc_err e =
        dc_offline_payee_begin(o, s, amount, x->cfg.currency.numeric, 0, cli_now(), created);
    if (e == DC_ERR_OFFLINE_LIMIT && !o->note.saving) {
        char a1[48], a2[48], a3[48];
        return cli_fail(x, e,
                        "receiving %s would bring this wallet to %s, over its offline limit %s "
                        "(deposit some coins first)",
                        cli_fmt(x, a1, amount), cli_fmt(x, a2, o->note.after),
                        cli_fmt(x, a3, o->note.limit));
    }
    return e == DC_OK ? 0 : offline_fail(x, o, e, "cannot make the request");
}

/* Prints what the payee verified. */
static void report_verified(struct cli *x, const struct dc_payment_result *res, size_t n_revoked)
{
    char a[48], serial[2 * DC_SERIAL_BYTES + 1];
    report(x, "verified payment: %zu coin(s), %s in total", res->n_coins,
           cli_fmt(x, a, res->total));
    for (size_t i = 0; i < res->n_coins; i++) {
        const struct dc_payment_coin_result *c = &res->coins[i];
        cli_hex(serial, c->serial, DC_SERIAL_BYTES);
        report(x, "  coin %.16s  %s  %zu record(s) after issue", serial, cli_fmt(x, a, c->value),
               c->records);
    }
    report(x,
           "  checked: issuer signature and key validity, every record signed by the coin's "
           "owner of the time, split sums, hop limits, expiry, certificates, %zu revoked "
           "device(s), this request's nonce, no double spend in this wallet's seen-set "
           "(%zu signature(s) verified)",
           n_revoked, res->sigs_checked);
}

/* The words of a refusal by dc_offline_payee_step or _take. */
static int payee_refused(struct cli *x, const struct dc_offline *o, enum dc_err e)
{
    const struct dc_offline_note *n = &o->note;
    char a1[48], a2[48], a3[48];
    if (e == DC_ERR_OFFLINE_LIMIT && !n->saving) {
        /* the layer kept the request open: the payer's coins are signed to us */
        return cli_fail(x, e,
                        "payment refused: receiving %s would bring this wallet to %s, over its "
                        "offline limit %s; nothing was kept and the request stays open - deposit "
                        "some coins, then %s",
                        cli_fmt(x, a1, n->res.total), cli_fmt(x, a2, n->after),
                        cli_fmt(x, a3, n->limit),
                        o->transport == DC_OFFLINE_ARMOR ? "accept the same payment again"
                        : o->transport == DC_OFFLINE_NFC
                            ? "run the same tap command again (the card sends the same payment)"
                            : "run the same receive command again (the payer sends the same "
                              "payment)");
    }
    if (e == DC_ERR_PAY_WRONG_REQUEST && o->transport == DC_OFFLINE_ARMOR) {
        return cli_fail(x, e, "payment refused: it answers no open request of this wallet");
    }
    if (e == DC_ERR_FRAME_CONFLICT) {
        return cli_fail(x, e,
                        "payment refused: this request was already paid with another payment");
    }
    if (!n->saving && n->res.coin != DC_PAYMENT_WHOLE) {
        return cli_fail(x, e, "payment refused: coin %zu, record %zu: %s", n->res.coin,
                        n->res.record, dc_err_str(e));
    }
    return offline_fail(x, o, e, "payment refused");
}

/* On NEED_VERIFY (or NEED_PERSIST after a restart): the layer verifies,
 * keeps the coins and the session in one save, then lets the receipt go.
 * 0 or an exit code (the payment refused). */
int payee_serve(struct cli *x, struct dc_offline *o, struct dc_session *s, uint64_t created)
{
    int verify = (dc_session_want(s) & DC_SESSION_NEED_VERIFY) != 0;
    enum dc_err e = dc_offline_payee_step(o, s, created, cli_now());
    if (e != DC_OK) return payee_refused(x, o, e);
    if (verify) report_verified(x, &o->note.res, o->note.n_revoked);
    return 0;
}

/* ---- Payer --------------------------------------------------------------------------- */

/* Reports a checked request (note.request). */
static void report_request(struct cli *x, const struct dc_offline *o)
{
    const struct dc_request *r = &o->note.request;
    char a[48], tm[40], alias[2 * DC_ALIAS_BYTES + 1];
    cli_hex(alias, r->payee.alias, DC_ALIAS_BYTES);
    report(x, "payment request: %s to device alias %s", cli_fmt(x, a, r->amount), alias);
    report(x,
           "  checked: request signed by the payee's device key; its certificate signed by "
           "issuer key %u, valid until %s, not among %zu revoked device(s)",
           (unsigned)r->payee.key_id, cli_time(tm, r->payee.expires_at), o->note.n_revoked);
}

/* Says why a payment could not be made (coins the payee would refuse are
 * never offered: says where they went). */
static int pay_failed(struct cli *x, const struct dc_offline *o, enum dc_err e)
{
    if (o->note.saving || e == DC_ERR_PAYMENT_TOO_LARGE || e == DC_ERR_LIMIT_EXCEEDED) {
        return offline_fail(x, o, e, "cannot pay");
    }
    struct dc_wallet_balance bal;
    int64_t sp = 0, refuse = 0;
    uint64_t now = cli_now();
    if (dc_wallet_balance(x->w, now, DC_SERVICE_REFRESH_MARGIN_MS, &bal) == DC_OK) {
        sp = bal.spendable;
        refuse = bal.refresh;
    }
    char a[48], a2[48], a3[48];
    int64_t amount = o->note.request.amount;
    if (refuse > 0) {
        return cli_fail(x, e,
                        "cannot pay %s: %s (spendable offline: %s; %s more in coins a payee "
                        "would refuse - revoked device in their history, a known double spend, "
                        "near expiry or their hop limit - to be deposited: run `ducat sync` or "
                        "`ducat refresh` when online)",
                        cli_fmt(x, a, amount), dc_err_str(e), cli_fmt(x, a2, sp),
                        cli_fmt(x, a3, refuse));
    }
    return cli_fail(x, e, "cannot pay %s: %s (spendable offline: %s)", cli_fmt(x, a, amount),
                    dc_err_str(e), cli_fmt(x, a2, sp));
}

/* What the payer did, once the payment is saved. */
static void report_paid(struct cli *x, const struct dc_offline *o)
{
    if (o->note.again) {
        report(x, "this request was paid before: sending the same payment again");
    } else {
        report(x, "signed the coin(s) over to the payee%s",
               o->note.has_split ? " (one coin split, the change stays here)" : "");
    }
}

/* Checks a request under the wallet's trust (and --max) and reports it. */
int payer_check_request(struct cli *x, struct dc_offline *o, const uint8_t *req, size_t len,
                        int64_t max)
{
    enum dc_err e = dc_offline_payer_check(o, req, len, max, cli_now());
    if (e == DC_OK) {
        report_request(x, o);
        return 0;
    }
    if (e == DC_ERR_LIMIT_EXCEEDED || e == DC_ERR_WALLET_NOT_SYNCED) {
        return offline_fail(x, o, e, "payment request refused");
    }
    if (dc_request_decode(&(struct dc_request){0}, req, len) != DC_OK) {
        return cli_fail(x, e, "the payment request is malformed: %s", dc_err_str(e));
    }
    return offline_fail(x, o, e, "payment request refused");
}

/* Builds (or finds again) the payment for a checked request, records it
 * and saves: after this, the signed payment may leave. *pay malloc'd. */
int payer_pay(struct cli *x, struct dc_offline *o, const uint8_t *req, size_t rlen, uint8_t **pay,
              size_t *plen)
{
    uint8_t *b = malloc(DC_PAYMENT_MAX_BYTES);
    if (!b) return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    enum dc_err e = dc_offline_payer_pay(o, b, DC_PAYMENT_MAX_BYTES, plen, req, rlen, cli_now());
    if (e != DC_OK) {
        free(b);
        return pay_failed(x, o, e);
    }
    report_paid(x, o);
    *pay = b;
    return 0;
}

/* The payer's turn in a session (NEED_COINS): check, pay, save, hand over. */
static int payer_serve(struct cli *x, struct dc_offline *o, struct dc_session *s, int64_t max)
{
    size_t rl;
    const uint8_t *req = dc_session_request(s, &rl);
    int rc = payer_check_request(x, o, req, rl, max);
    if (rc) return rc;
    cli_pause_point("send:request-received");
    enum dc_err e = dc_offline_payer_step(o, s, max, cli_now());
    if (e != DC_OK) return pay_failed(x, o, e);
    report_paid(x, o);
    return 0;
}

/* Checks a receipt against the payment it names and closes that payment. */
int payer_confirm(struct cli *x, struct dc_offline *o, const uint8_t *rcpt, size_t len)
{
    enum dc_err e = dc_offline_payer_confirm(o, rcpt, len, cli_now());
    if (e == DC_ERR_RECEIPT_MISMATCH && o->note.request.amount == 0) {
        return cli_fail(x, e, "this receipt names no payment made from this wallet");
    }
    if (e != DC_OK && dc_receipt_decode(&(struct dc_receipt){0}, rcpt, len) != DC_OK) {
        return cli_fail(x, e, "the receipt is malformed: %s", dc_err_str(e));
    }
    if (e != DC_OK) return offline_fail(x, o, e, "receipt refused");
    const struct dc_request *r = &o->note.request;
    char a[48], alias[2 * DC_ALIAS_BYTES + 1];
    cli_hex(alias, r->payee.alias, DC_ALIAS_BYTES);
    report(x,
           "receipt verified: signed by the payee's device key (alias %s), names this "
           "request and this exact payment; %s paid%s",
           alias, cli_fmt(x, a, r->amount), o->note.again ? " (already confirmed before)" : "");
    return 0;
}

/* ---- Armor commands -------------------------------------------------------------------- */

int cmd_request(struct cli *x, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        return cli_fail_code(CLI_EXIT_USAGE, "request: give one AMOUNT (see: ducat help request)");
    }
    int rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    int64_t amount;
    rc = cli_amount(x, argv[0], &amount);
    if (rc) return rc;
    struct dc_session *s = malloc(sizeof *s);
    if (!s) return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    struct dc_offline o;
    uint64_t created;
    offline_host(x, &o, DC_OFFLINE_ARMOR, "request");
    rc = payee_new(x, &o, amount, s, &created);
    if (rc == 0) {
        size_t len;
        const uint8_t *req = dc_session_request(s, &len);
        rc = print_armor(x, DC_ARMOR_REQUEST, req, len);
        char a[48];
        if (rc == 0 && !x->json) {
            fprintf(stderr,
                    "request for %s; give it to the payer, then: ducat accept "
                    "PAYMENT\n",
                    cli_fmt(x, a, amount));
        }
    }
    free(s);
    return rc;
}

int cmd_pay_offline(struct cli *x, int argc, char **argv)
{
    const char *file = NULL, *max_s = NULL;
    for (int i = 0; i < argc; i++) {
        int r;
        if ((r = cli_opt(argc, argv, &i, "--max", &max_s)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
        } else if (!file && (argv[i][0] != '-' || argv[i][1] == '\0')) {
            file = argv[i];
        } else {
            return cli_fail_code(CLI_EXIT_USAGE, "pay: unexpected argument '%s'", argv[i]);
        }
    }
    if (!file) return cli_fail_code(CLI_EXIT_USAGE, "pay: give REQUEST_FILE (or - for stdin)");
    int rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    int64_t max = 0;
    if (max_s && (rc = cli_amount(x, max_s, &max)) != 0) return rc;
    report_to = stderr; /* stdout carries the payment */
    uint8_t *req;
    size_t len;
    rc = read_armor(x, file, DC_ARMOR_REQUEST, &req, &len);
    if (rc) return rc;
    struct dc_offline o;
    offline_host(x, &o, DC_OFFLINE_ARMOR, "pay");
    rc = payer_check_request(x, &o, req, len, max);
    uint8_t *pay = NULL;
    size_t plen = 0;
    if (rc == 0) rc = payer_pay(x, &o, req, len, &pay, &plen);
    if (rc == 0) rc = print_armor(x, DC_ARMOR_PAYMENT, pay, plen);
    free(pay);
    free(req);
    return rc;
}

/* The commands that take one FILE (or - for stdin): checks the arguments
 * (usage: the message if they are wrong), opens the wallet, and reads the
 * file's armor of `kind` into a malloc'd buffer. */
static int open_with_armor_arg(struct cli *x, int argc, char **argv, const char *usage,
                               enum dc_armor_kind kind, uint8_t **out, size_t *len)
{
    if (argc != 1 || (argv[0][0] == '-' && argv[0][1] != '\0')) {
        return cli_fail_code(CLI_EXIT_USAGE, "%s", usage);
    }
    int rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    return read_armor(x, argv[0], kind, out, len);
}

int cmd_accept(struct cli *x, int argc, char **argv)
{
    report_to = stderr; /* stdout carries the receipt */
    uint8_t *pay;
    size_t plen;
    int rc = open_with_armor_arg(x, argc, argv, "accept: give PAYMENT_FILE (or - for stdin)",
                                 DC_ARMOR_PAYMENT, &pay, &plen);
    if (rc) return rc;
    struct dc_session *s = malloc(sizeof *s);
    if (!s) {
        free(pay);
        return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    }
    struct dc_offline o;
    offline_host(x, &o, DC_OFFLINE_ARMOR, "accept");
    enum dc_err e = dc_offline_payee_take(&o, s, pay, plen, cli_now());
    free(pay);
    if (e != DC_OK) {
        rc = payee_refused(x, &o, e);
        if (o.note.refused != DC_OK) {
            /* refused for good: the signed refusal lets the payer take the
             * coins back at once, and binds this wallet never to deposit
             * them (remembered and saved first); stdout only, stderr keeps
             * its one line (the reason) */
            uint8_t f[DC_REFUSAL_BYTES];
            if (dc_offline_payee_refuse(&o, s, o.note.refused, cli_now(), f) == DC_OK) {
                int prc = print_armor(x, DC_ARMOR_REFUSAL, f, sizeof f);
                (void)prc; /* the refusal's exit code stands */
            }
        }
    } else {
        size_t rl;
        const uint8_t *rcpt = dc_session_receipt(s, &rl);
        if (o.note.again && !x->json) {
            fprintf(stderr, "this payment was accepted before; its receipt again:\n");
        } else if (!o.note.again) {
            report_verified(x, &o.note.res, o.note.n_revoked);
        }
        rc = print_armor(x, DC_ARMOR_RECEIPT, rcpt, rl);
    }
    free(s);
    return rc;
}

int payer_refused(struct cli *x, struct dc_offline *o, const uint8_t *b, size_t len)
{
    enum dc_err e = dc_offline_payer_refusal(o, b, len, cli_now());
    if (e == DC_ERR_REFUSAL_MISMATCH && o->note.request.amount == 0) {
        return cli_fail(x, e, "this refusal names no payment made from this wallet");
    }
    if (e != DC_OK && o->note.saving) return offline_fail(x, o, e, "refusal not kept");
    if (e != DC_OK) return cli_fail(x, e, "refusal not accepted: %s", dc_err_str(e));
    char a[48];
    report(x,
           "the payee refused this payment (%s): refusal verified and kept; run `ducat "
           "reclaim` (or `ducat sync`) online to take the %s back",
           dc_err_str(o->note.refused), cli_fmt(x, a, o->note.request.amount));
    return 0;
}

int cmd_confirm(struct cli *x, int argc, char **argv)
{
    uint8_t *b;
    size_t len;
    if (x->qr || x->qr_png) {
        /* refused rather than ignored: the user wants a code to show, and
         * the one to show is the payee's */
        return cli_fail_code(CLI_EXIT_USAGE, "confirm prints no armor to show as a QR code; the "
                                             "receipt's code comes from the payee's `ducat "
                                             "accept --qr`");
    }
    if (argc != 1 || (argv[0][0] == '-' && argv[0][1] != '\0')) {
        return cli_fail_code(CLI_EXIT_USAGE,
                             "confirm: give RECEIPT_FILE or REFUSAL_FILE (or - for stdin)");
    }
    int rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    /* a refusal reads as its own armor kind; anything else as a receipt */
    char *text = NULL;
    size_t tl = 0;
    int refusal = 0;
    if (strcmp(argv[0], "-") != 0 && cli_read_file(argv[0], 256 * 1024, &text, &tl) == 0) {
        refusal = tl > 14 && strstr(text, "ducat:refusal:") != NULL;
        free(text);
    }
    rc = read_armor(x, argv[0], refusal ? DC_ARMOR_REFUSAL : DC_ARMOR_RECEIPT, &b, &len);
    if (rc) return rc;
    struct dc_offline o;
    offline_host(x, &o, DC_OFFLINE_ARMOR, "confirm");
    rc = refusal ? payer_refused(x, &o, b, len) : payer_confirm(x, &o, b, len);
    free(b);
    return rc;
}

/* ---- TCP ------------------------------------------------------------------------------- */

static int split_addr(const char *addr, char host[static 256], char port[static 16])
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || strlen(colon + 1) == 0 || strlen(colon + 1) > 5 ||
        (size_t)(colon - addr) >= 256) {
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1] */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    snprintf(port, 16, "%s", colon + 1);
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
    }
    return 0;
}

uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until fd is readable (or writable) or the deadline: 1, 0 timeout, -1 error. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline) return 0;
        struct pollfd p = {fd, ev, 0};
        int r = poll(&p, 1, (int)(deadline - now > 1000 ? 1000 : deadline - now));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r > 0) return 1;
    }
}

/* Link outcomes of one connection. */
#define LINK_DONE 0
#define LINK_LOST 1 /* the peer went away or the link broke: resumable */

static int write_all(int fd, const uint8_t *b, size_t n, uint64_t deadline)
{
    while (n) {
        if (wait_fd(fd, POLLOUT, deadline) != 1) return -1;
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads up to n bytes: >0 bytes read, 0 EOF, -1 error or timeout. */
static ssize_t read_some(int fd, uint8_t *b, size_t n, uint64_t deadline)
{
    for (;;) {
        int w = wait_fd(fd, POLLIN, deadline);
        if (w != 1) return -1;
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        return r < 0 ? -1 : r;
    }
}

/* Sends everything the session wants to send. 0 or -1 (link lost). */
static int flush_session(int fd, struct dc_session *s, uint64_t deadline)
{
    for (;;) {
        size_t n;
        const uint8_t *b = dc_session_send_buf(s, &n);
        if (!b || n == 0) return 0;
        if (write_all(fd, b, n, deadline) != 0) return -1;
        dc_session_send_ack(s, n);
    }
}

/* Feeds the session from the socket until it wants something else. */
static int fill_session(int fd, struct dc_session *s, uint64_t deadline)
{
    size_t n;
    uint8_t *b = dc_session_recv_buf(s, &n);
    if (!b || n == 0) return 0;
    ssize_t r = read_some(fd, b, n, deadline);
    if (r <= 0) return -1;
    dc_session_recv_ack(s, (size_t)r);
    return 0;
}

/*
 * The REFUSAL over TCP: one frame (docs/PROTOCOL.md, "Framing") of tag 43,
 * index 0, count 1, in place of the RECEIPT's frames. The session engine
 * has no state for it, so the hosts move it around the engine: the payee
 * sends it after a refusal for good, the payer looks for its tag where the
 * receipt would start.
 */
#define REFUSAL_FRAME_BYTES (DC_FRAME_HEADER_BYTES + DC_REFUSAL_BYTES)
_Static_assert(DC_REFUSAL_BYTES <= DC_FRAME_PAYLOAD_MAX, "a refusal fits one frame");

static void send_refusal(struct cli *x, struct dc_offline *o, int fd, const struct dc_session *s,
                         enum dc_err why, uint64_t deadline)
{
    uint8_t fr[REFUSAL_FRAME_BYTES] = {DC_REFUSAL_TAG, 0, 0, 1, 0, DC_REFUSAL_BYTES};
    if (dc_offline_payee_refuse(o, s, why, cli_now(), fr + DC_FRAME_HEADER_BYTES) != DC_OK) {
        return;
    }
    if (write_all(fd, fr, sizeof fr, deadline) == 0) {
        report(x, "sent the payer a signed refusal of this payment: it takes the coins back "
                  "online; this wallet can never deposit them");
    }
}

/* The payer, waiting for the receipt: 1 if the payee sent its refusal
 * (out holds it), 0 if what comes is not a refusal (left unread), -1 if
 * the link broke, -2 if the frame is malformed. */
static int recv_refusal(int fd, uint64_t deadline, uint8_t out[static DC_REFUSAL_BYTES])
{
    if (wait_fd(fd, POLLIN, deadline) != 1) return -1;
    uint8_t t;
    ssize_t r = recv(fd, &t, 1, MSG_PEEK);
    if (r != 1) return -1;
    if (t != DC_REFUSAL_TAG) return 0;
    uint8_t fr[REFUSAL_FRAME_BYTES];
    size_t got = 0;
    while (got < sizeof fr) {
        ssize_t k = read_some(fd, fr + got, sizeof fr - got, deadline);
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    if (fr[1] != 0 || fr[2] != 0 || fr[3] != 1 || fr[4] != 0 || fr[5] != DC_REFUSAL_BYTES) {
        return -2;
    }
    memcpy(out, fr + DC_FRAME_HEADER_BYTES, DC_REFUSAL_BYTES);
    return 1;
}

/* One connection of the payee. LINK_DONE, LINK_LOST, or -exit code. */
static int payee_link(struct cli *x, struct dc_offline *o, int fd, struct dc_session *s,
                      uint64_t created, uint64_t deadline, int *request_sent_reported)
{
    dc_session_reconnect(s, 0);
    for (;;) {
        unsigned w = dc_session_want(s);
        if (w & DC_SESSION_FAILED) {
            enum dc_err e = dc_session_error(s);
            return -cli_fail(x, e, "payment refused: %s", dc_err_str(e));
        }
        if (w & (DC_SESSION_NEED_VERIFY | DC_SESSION_NEED_PERSIST)) {
            if (w & DC_SESSION_NEED_VERIFY) cli_pause_point("receive:payment-received");
            int rc = payee_serve(x, o, s, created);
            if (rc && o->note.refused != DC_OK) {
                send_refusal(x, o, fd, s, o->note.refused, deadline);
            }
            if (rc) return -rc;
            continue;
        }
        if (w & DC_SESSION_SEND) {
            if (flush_session(fd, s, deadline) != 0) return LINK_LOST;
            if (!dc_session_payment(s, &(size_t){0}) && !*request_sent_reported) {
                *request_sent_reported = 1;
                cli_pause_point("receive:request-sent");
            }
            continue;
        }
        if (w & DC_SESSION_DONE) {
            cli_pause_point("receive:receipt-sent");
            /* the payer's ACK: it checked the receipt and saved */
            uint8_t ack;
            ssize_t r = read_some(fd, &ack, 1, deadline);
            if (r == 1 && ack == ACK_BYTE) return LINK_DONE;
            return LINK_LOST;
        }
        if (w & DC_SESSION_RECV) {
            if (fill_session(fd, s, deadline) != 0) return LINK_LOST;
            continue;
        }
        return -cli_fail(x, DC_ERR_SESSION_STATE, "the session stalled (want %#x)", w);
    }
}

/* HOST:PORT resolved for a TCP socket; passive: an address to listen on.
 * The caller frees *ai with freeaddrinfo. */
static int resolve(const char *addr, int passive, struct addrinfo **ai)
{
    char host[256], port[16];
    if (split_addr(addr, host, port) != 0) {
        return cli_fail_code(CLI_EXIT_USAGE, "invalid address '%s' (HOST:PORT)", addr);
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    *ai = NULL;
    int g = getaddrinfo(host, port, &hints, ai);
    if (g != 0)
        return cli_fail_code(CLI_EXIT_USAGE, "cannot resolve '%s': %s", addr, gai_strerror(g));
    return 0;
}

/* Listens on addr; bound (cap bytes) gets the address actually bound, so
 * "127.0.0.1:0" is reported with the port the system chose. */
static int listen_on(const char *addr, const char *port_file, int *out, char *bound, size_t cap)
{
    struct addrinfo *ai;
    int rc = resolve(addr, 1, &ai);
    if (rc) return rc;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 4) != 0) {
        int err = errno;
        freeaddrinfo(ai);
        if (fd >= 0) close(fd);
        return cli_fail_code(CLI_EXIT_REFUSED, "cannot listen on '%s': %s", addr, strerror(err));
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int p = 0;
    char host[INET6_ADDRSTRLEN] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        } else {
            p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        }
    }
    snprintf(bound, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, p);
    if (port_file) {
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", p) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
            close(fd);
            return cli_fail_code(CLI_EXIT_REFUSED, "cannot write the port file '%s'", port_file);
        }
    }
    *out = fd;
    return 0;
}

int cmd_receive(struct cli *x, int argc, char **argv)
{
    struct cli_xopts op;
    int rc =
        cli_xopts_parse(&op, "receive", XO_LISTEN | XO_AMOUNT | XO_PORT_FILE | XO_TIMEOUT | XO_NEW,
                        XO_LISTEN | XO_AMOUNT, 300, argc, argv);
    if (rc) return rc;
    rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    int64_t amount;
    rc = cli_xopts_amounts(x, &op, &amount, NULL);
    if (rc) return rc;
    struct dc_session *s = malloc(sizeof *s);
    if (!s) return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
    struct dc_offline o;
    offline_host(x, &o, DC_OFFLINE_TCP, "receive");
    uint64_t created = 0;
    char a[48];
    if (!op.fresh && dc_offline_payee_resume(&o, s, amount, cli_now(), &created) == DC_OK) {
        report(x, "resuming the open request for %s", cli_fmt(x, a, amount));
    } else {
        rc = payee_new(x, &o, amount, s, &created);
        if (rc) {
            free(s);
            return rc;
        }
        report(x, "requesting %s (request signed and saved)", cli_fmt(x, a, amount));
    }
    int lfd = -1;
    char bound[INET6_ADDRSTRLEN + 16];
    rc = listen_on(op.addr, op.port_file, &lfd, bound, sizeof bound);
    if (rc) {
        free(s);
        return rc;
    }
    report(x, "waiting for the payer on %s", bound);
    fflush(stdout);
    uint64_t deadline = mono_ms() + (uint64_t)op.timeout * 1000u;
    int reported = 0, outcome = LINK_LOST;
    while (outcome == LINK_LOST) {
        if (wait_fd(lfd, POLLIN, deadline) != 1) break;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        outcome = payee_link(x, &o, fd, s, created, deadline, &reported);
        close(fd);
        if (outcome == LINK_LOST && !x->json) {
            report(x, "the link dropped; waiting for the payer to connect again");
            fflush(stdout);
        }
    }
    close(lfd);
    if (outcome < 0) {
        /* refused: the layer forgot the request, or kept it open (limit) */
        free(s);
        return -outcome;
    }
    int accepted = dc_session_receipt(s, &(size_t){0}) != NULL;
    if (outcome == LINK_DONE) {
        enum dc_err e = dc_offline_payee_finish(&o, s, created);
        rc = e == DC_OK ? 0 : offline_fail(x, &o, e, "cannot close the request");
        if (!x->json) {
            printf("received %s: coins verified and kept; the payer confirmed the receipt\n",
                   cli_fmt(x, a, amount));
        } else {
            cli_emit(json_pack("{s:s, s:I, s:b}", "status", "received", "amount",
                               (json_int_t)amount, "confirmed", 1));
        }
        free(s);
        return rc;
    }
    free(s);
    if (accepted) {
        /* the money is here; only the payer's confirmation is missing */
        if (x->json) {
            cli_emit(json_pack("{s:s, s:I, s:b}", "status", "received", "amount",
                               (json_int_t)amount, "confirmed", 0));
        } else {
            printf("received %s: coins verified and kept; the payer did not confirm the receipt "
                   "(if it retries, run the same command again)\n",
                   cli_fmt(x, a, amount));
        }
        return CLI_EXIT_OK;
    }
    return cli_fail_code(CLI_EXIT_RETRY,
                         "no payment within %ld s; the request stays open - run the same command "
                         "again to resume it",
                         op.timeout);
}

int connect_to(const char *addr, uint64_t deadline, int *out)
{
    struct addrinfo *ai;
    int rc = resolve(addr, 0, &ai);
    if (rc) return rc;
    int err = 0;
    for (;;) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            freeaddrinfo(ai);
            *out = fd;
            return 0;
        }
        err = errno;
        if (fd >= 0) close(fd);
        if (mono_ms() >= deadline) break;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    freeaddrinfo(ai);
    return cli_fail_code(CLI_EXIT_RETRY, "cannot connect to '%s': %s", addr, strerror(err));
}

/* Reads one whole message (its frames) off the socket, keeping the raw
 * bytes so they can be handed to a session afterwards. */
static int read_message(int fd, struct dc_reasm *ra, uint8_t *raw, size_t cap, size_t *raw_len,
                        uint64_t deadline)
{
    dc_reasm_init(ra);
    *raw_len = 0;
    for (;;) {
        if (*raw_len + DC_FRAME_MAX > cap) return DC_ERR_MSG_TOO_LARGE;
        uint8_t *f = raw + *raw_len;
        size_t got = 0;
        while (got < DC_FRAME_HEADER_BYTES) {
            ssize_t r = read_some(fd, f + got, DC_FRAME_HEADER_BYTES - got, deadline);
            if (r <= 0) return DC_ERR_IO;
            got += (size_t)r;
        }
        size_t flen = DC_FRAME_HEADER_BYTES + f[5];
        while (got < flen) {
            ssize_t r = read_some(fd, f + got, flen - got, deadline);
            if (r <= 0) return DC_ERR_IO;
            got += (size_t)r;
        }
        int ev;
        enum dc_err e = dc_reasm_push(ra, &ev, f, flen);
        if (e != DC_OK) return e;
        *raw_len += flen;
        if (ev == DC_RX_COMPLETE) return DC_OK;
    }
}

int cmd_send(struct cli *x, int argc, char **argv)
{
    struct cli_xopts op;
    int rc = cli_xopts_parse(&op, "send", XO_TO | XO_MAX | XO_TIMEOUT, XO_TO, 30, argc, argv);
    if (rc) return rc;
    rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    int64_t max = 0;
    rc = cli_xopts_amounts(x, &op, NULL, &max);
    if (rc) return rc;
    uint64_t deadline = mono_ms() + (uint64_t)op.timeout * 1000u;
    int fd = -1;
    rc = connect_to(op.addr, deadline, &fd);
    if (rc) return rc;
    struct dc_offline o;
    offline_host(x, &o, DC_OFFLINE_TCP, "send");
    struct dc_reasm *ra = malloc(sizeof *ra);
    struct dc_session *s = malloc(sizeof *s);
    uint8_t *raw = malloc(4096);
    size_t raw_len = 0;
    enum dc_err e = (ra && s && raw) ? DC_OK : DC_ERR_NO_MEMORY;
    if (e == DC_OK) e = read_message(fd, ra, raw, 4096, &raw_len, deadline);
    if (e != DC_OK) {
        rc = e == DC_ERR_IO
                 ? cli_fail_code(CLI_EXIT_RETRY, "the payee closed the link before its request "
                                                 "arrived; run the same command again")
                 : cli_fail(x, e, "the payee sent garbage: %s", dc_err_str(e));
        goto out;
    }
    if (ra->tag == DC_MSG_RECEIPT) {
        /* a payee resuming an exchange we paid already: its receipt again */
        rc = payer_confirm(x, &o, ra->msg, ra->len);
        if (rc == 0) {
            uint8_t ack = ACK_BYTE;
            (void)write_all(fd, &ack, 1, deadline);
            if (!x->json) printf("payment complete\n");
        }
        goto out;
    }
    if (ra->tag != DC_MSG_REQUEST) {
        rc = cli_fail(x, DC_ERR_MSG_UNEXPECTED, "the payee did not start with a request");
        goto out;
    }
    e = dc_session_payer_start(s, 0);
    if (e == DC_OK && dc_session_push(s, raw, raw_len) != raw_len) e = dc_session_error(s);
    if (e == DC_OK && !(dc_session_want(s) & DC_SESSION_NEED_COINS)) e = dc_session_error(s);
    if (e != DC_OK) {
        rc = cli_fail(x, e, "payment request refused: %s", dc_err_str(e));
        goto out;
    }
    rc = payer_serve(x, &o, s, max);
    if (rc) goto out;
    int64_t paid = o.note.request.amount;
    for (;;) {
        unsigned w = dc_session_want(s);
        if (w & DC_SESSION_FAILED) {
            e = dc_session_error(s);
            rc = cli_fail(x, e, "receipt refused: %s", dc_err_str(e));
            goto out;
        }
        if (w & DC_SESSION_SEND) {
            if (flush_session(fd, s, deadline) != 0) break;
            if (!(dc_session_want(s) & DC_SESSION_SEND)) cli_pause_point("send:payment-sent");
            continue;
        }
        if (w & DC_SESSION_DONE) {
            size_t len;
            const uint8_t *rcpt = dc_session_receipt(s, &len);
            cli_pause_point("send:receipt-received");
            rc = payer_confirm(x, &o, rcpt, len);
            if (rc == 0) {
                uint8_t ack = ACK_BYTE;
                (void)write_all(fd, &ack, 1, deadline);
                char a[48];
                if (x->json) {
                    cli_emit(json_pack("{s:s, s:I}", "status", "paid", "amount", (json_int_t)paid));
                } else {
                    printf("paid %s offline; the payee's receipt is verified\n",
                           cli_fmt(x, a, paid));
                }
            }
            goto out;
        }
        if (w & DC_SESSION_RECV) {
            uint8_t f[DC_REFUSAL_BYTES];
            int got = recv_refusal(fd, deadline, f);
            if (got == -1) break;
            if (got == -2) {
                rc = cli_fail(x, DC_ERR_DECODE_VALUE, "the payee sent a malformed refusal");
                goto out;
            }
            if (got == 1) {
                rc = payer_refused(x, &o, f, sizeof f);
                if (rc == 0) {
                    enum dc_err why = o.note.refused;
                    rc = cli_fail(x, why, "the payee refused the payment: %s", dc_err_str(why));
                }
                goto out;
            }
            if (fill_session(fd, s, deadline) != 0) break;
            continue;
        }
        rc = cli_fail(x, DC_ERR_SESSION_STATE, "the session stalled (want %#x)", w);
        goto out;
    }
    rc = cli_fail_code(CLI_EXIT_RETRY,
                       "the link to the payee broke before its receipt arrived; the payment is "
                       "saved and pending - run the same command again to complete it");
out:
    close(fd);
    free(raw);
    free(s);
    free(ra);
    return rc;
}
