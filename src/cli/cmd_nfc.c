/*
 * cmd_nfc.c - tap to pay over ISO 7816-4 APDUs (include/ducat/apdu.h).
 *
 *   ducat tap   the payee's terminal: a PC/SC reader (pcsc-lite) waits for
 *               a card, runs SELECT / PAY / GET RESPONSE / CONFIRM and
 *               reports. The payee session is kept in the wallet exactly as
 *               `ducat receive` keeps it (slot "rx:<hash>", transport NFC):
 *               saved before the request leaves and again with the accepted
 *               coins before the receipt leaves, so a tap that drops is
 *               simply repeated, and a restarted `ducat tap` for the same
 *               amount resumes the open request.
 *   ducat card  the payer's phone as a virtual card: the card responder
 *               hosted here and connected to the virtual reader of
 *               vsmartcard-vpcd (TCP; every message is a 2-byte big-endian
 *               length, then either one control byte - 00 power off, 01 on,
 *               02 reset, 04 ATR wanted - or a command APDU, answered by a
 *               response APDU). A phone app does the same in its HCE service.
 *
 * Both ends are hosts of the offline layer (include/ducat/offline.h, through
 * cli/offline.h), as the TCP and armor commands are: the payer's wallet saves
 * the signed payment before PAY is answered and the confirmed receipt before
 * CONFIRM is; the terminal saves the coins before the receipt leaves. Here
 * only the APDUs move.
 */
#define _DEFAULT_SOURCE /* getaddrinfo */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <winscard.h>

#include "cli/cli.h"
#include "cli/offline.h"
#include "ducat/apdu.h"
#include "ducat/offline.h"

/* ---- The payee's terminal (PC/SC) ---------------------------------------------------- */

struct pcsc {
    SCARDCONTEXT ctx;
    char reader[256];
};

/* The reader whose name starts with `want` (NULL: the first one). */
static int pick_reader(struct pcsc *p, const char *want)
{
    DWORD n = 0;
    LONG r = SCardListReaders(p->ctx, NULL, NULL, &n);
    if (r != SCARD_S_SUCCESS || n == 0) {
        return cli_fail_code(CLI_EXIT_RETRY, "no smart card reader: %s", pcsc_stringify_error(r));
    }
    char *names = malloc(n);
    if (!names) return cli_fail(NULL, DC_ERR_NO_MEMORY, "out of memory");
    r = SCardListReaders(p->ctx, NULL, names, &n);
    int rc = CLI_EXIT_RETRY;
    if (r == SCARD_S_SUCCESS) {
        for (const char *q = names; *q; q += strlen(q) + 1) {
            if (!want || strncmp(q, want, strlen(want)) == 0) {
                snprintf(p->reader, sizeof p->reader, "%s", q);
                rc = 0;
                break;
            }
        }
    }
    if (rc) {
        char list[512] = "";
        for (const char *q = r == SCARD_S_SUCCESS ? names : ""; *q; q += strlen(q) + 1) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s'%s'", l ? ", " : "", q);
        }
        free(names);
        return cli_fail_code(CLI_EXIT_USAGE, "no reader named '%s' (readers: %s)", want ? want : "",
                             list);
    }
    free(names);
    return 0;
}

/* Waits until a card is present in the reader: 1, 0 at the deadline, -1 on error. */
static int wait_card(struct pcsc *p, uint64_t deadline)
{
    SCARD_READERSTATE st;
    memset(&st, 0, sizeof st);
    st.szReader = p->reader;
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline) return 0;
        DWORD slice = (DWORD)(deadline - now > 1000 ? 1000 : deadline - now);
        LONG r = SCardGetStatusChange(p->ctx, slice, &st, 1);
        if (r != SCARD_S_SUCCESS && r != SCARD_E_TIMEOUT) return -1;
        int present = (st.dwEventState & SCARD_STATE_PRESENT) != 0;
        if (present) return 1;
        st.dwCurrentState = st.dwEventState;
    }
}

/* A line on stderr (stdout carries the outcome), unless --json. */
static void report_nfc(struct cli *x, const char *fmt, ...)
{
    if (x->json) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("ducat: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* One tap: the card in the field from SELECT to CONFIRM (or REFUSE). 0 done, 1 the card
 * left (tap again), or -exit code. */
static int tap_once(struct cli *x, struct dc_offline *o, struct pcsc *p, struct dc_session *s,
                    struct dc_tap *t, unsigned seg, uint64_t created)
{
    SCARDHANDLE card;
    DWORD proto;
    LONG r = SCardConnect(p->ctx, p->reader, SCARD_SHARE_EXCLUSIVE,
                          SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &proto);
    if (r != SCARD_S_SUCCESS) return 1;
    const SCARD_IO_REQUEST *pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    static uint8_t rsp[MAX_BUFFER_SIZE_EXTENDED];
    dc_session_reconnect(s, 0);
    dc_tap_start(t, s, seg);
    int out = 1, refusing = 0;
    for (;;) {
        unsigned w = dc_tap_want(t, s);
        if (w & DC_TAP_DONE) {
            out = 0;
            break;
        }
        if (w & DC_TAP_FAILED) {
            enum dc_err e = dc_tap_error(t);
            unsigned sw = dc_tap_sw(t);
            if (refusing) {
                /* the payment was refused (said by payee_serve); whether the
                 * card took the signed refusal decides what the payer can do */
                if (dc_tap_refused(t)) {
                    report_nfc(x, "sent the payer's card a signed refusal of this payment: it "
                                  "takes the coins back online; this wallet can never take them");
                } else {
                    report_nfc(x,
                               "the card did not take the signed refusal (it answered %04X); "
                               "the payer reclaims the coins after their deadline",
                               sw);
                }
                out = -refusing;
            } else if (dc_session_want(s) & DC_SESSION_FAILED) {
                out = -cli_fail(x, e, "payment refused: %s", dc_err_str(e));
            } else if (sw == DC_SW_REFUSED) {
                out = -cli_fail(x, e, "the payer's wallet refused: %s", dc_err_str(e));
            } else {
                out = -cli_fail(x, e, "the card answered %04X: %s", sw, dc_err_str(e));
            }
            break;
        }
        if (w & DC_TAP_HOST) {
            int rc = payee_serve(x, o, s, created);
            if (rc && o->note.refused != DC_OK) {
                /* refused for good: the signed refusal goes to the card in
                 * place of the receipt (REFUSE), remembered and saved first */
                uint8_t f[DC_REFUSAL_BYTES];
                enum dc_err e = dc_offline_payee_refuse(o, s, o->note.refused, cli_now(), f);
                if (e == DC_OK) e = dc_tap_refuse(t, s, f, sizeof f);
                if (e == DC_OK) {
                    refusing = rc;
                    continue;
                }
            }
            if (rc) {
                out = -rc;
                break;
            }
            dc_tap_resume(t, s);
            continue;
        }
        size_t cl;
        const uint8_t *cmd = dc_tap_command(t, &cl);
        DWORD rl = sizeof rsp;
        r = SCardTransmit(card, pci, cmd, (DWORD)cl, NULL, rsp, &rl);
        /* the card left the field (the virtual reader answers nothing when
         * the card's process is gone) */
        if (r != SCARD_S_SUCCESS || rl < 2) {
            /* refused already: the card left before taking the refusal */
            if (refusing) out = -refusing;
            break;
        }
        dc_tap_response(t, s, rsp, rl);
    }
    SCardDisconnect(card, SCARD_LEAVE_CARD);
    return out;
}

int cmd_tap(struct cli *x, int argc, char **argv)
{
    struct cli_xopts op;
    int rc = cli_xopts_parse(&op, "tap",
                             XO_AMOUNT | XO_READER | XO_SEGMENT | XO_EXTENDED | XO_TIMEOUT | XO_NEW,
                             XO_AMOUNT, 300, argc, argv);
    if (rc) return rc;
    unsigned seg = op.extended ? DC_APDU_EXTENDED : op.segment;
    rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    int64_t amount;
    rc = cli_xopts_amounts(x, &op, &amount, NULL);
    if (rc) return rc;
    struct pcsc p;
    memset(&p, 0, sizeof p);
    LONG r = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &p.ctx);
    if (r != SCARD_S_SUCCESS) {
        return cli_fail_code(CLI_EXIT_RETRY, "cannot reach the PC/SC service (pcscd): %s",
                             pcsc_stringify_error(r));
    }
    struct dc_session *s = malloc(sizeof *s);
    struct dc_tap *t = malloc(sizeof *t);
    struct dc_offline o;
    uint64_t created = cli_now();
    char a[48];
    if (!s || !t) {
        rc = cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    rc = pick_reader(&p, op.reader);
    if (rc) goto out;
    offline_host(x, &o, DC_OFFLINE_NFC, "tap");
    if (!op.fresh && dc_offline_payee_resume(&o, s, amount, cli_now(), &created) == DC_OK) {
        if (!x->json) printf("resuming the open request for %s\n", cli_fmt(x, a, amount));
    } else {
        rc = payee_new(x, &o, amount, s, &created);
        if (rc) goto out;
        if (!x->json) printf("requesting %s (request signed and saved)\n", cli_fmt(x, a, amount));
    }
    if (!x->json) printf("waiting for a card on '%s'\n", p.reader);
    fflush(stdout);
    uint64_t deadline = mono_ms() + (uint64_t)op.timeout * 1000u;
    int outcome = 1, taps = 0;
    while (outcome == 1) {
        int w = wait_card(&p, deadline);
        if (w != 1) break;
        taps++;
        outcome = tap_once(x, &o, &p, s, t, seg, created);
        if (outcome == 1) {
            if (!x->json) printf("the card left the field; tap again\n");
            fflush(stdout);
            /* no waiting for "absent": a new card (a new card process on
             * the virtual reader) may replace the old one between two polls
             * of pcscd; a card that is still gone fails its SELECT again */
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (outcome < 0) {
        /* refused: the layer forgot the request, or kept it open (limit) */
        rc = -outcome;
        goto out;
    }
    if (outcome == 0) {
        enum dc_err e = dc_offline_payee_finish(&o, s, created);
        rc = e == DC_OK ? 0 : cli_fail(x, e, "cannot close the request: %s", dc_err_str(e));
        if (x->json) {
            cli_emit(json_pack("{s:s, s:I, s:i, s:i, s:i}", "status", "received", "amount",
                               (json_int_t)amount, "taps", taps, "apdus", (int)t->apdus, "bytes",
                               (int)(t->bytes_in + t->bytes_out)));
        } else {
            printf("received %s: coins verified and kept; the payer's card confirmed the receipt "
                   "(%u APDUs, %u bytes in the last tap)\n",
                   cli_fmt(x, a, amount), t->apdus, t->bytes_in + t->bytes_out);
        }
        goto out;
    }
    if (dc_session_receipt(s, &(size_t){0})) {
        if (!x->json) {
            printf("received %s: coins verified and kept; the card did not confirm the receipt "
                   "(run the same command and tap again to let it)\n",
                   cli_fmt(x, a, amount));
        }
        rc = CLI_EXIT_OK;
        goto out;
    }
    rc = cli_fail_code(CLI_EXIT_RETRY,
                       "no payment within %ld s; the request stays open - run the same command "
                       "again to resume it",
                       op.timeout);
out:
    free(s);
    free(t);
    SCardReleaseContext(p.ctx);
    return rc;
}

/* ---- The payer's virtual card (vsmartcard-vpcd) -------------------------------------- */

#define VPCD_OFF 0x00
#define VPCD_ON 0x01
#define VPCD_RESET 0x02
#define VPCD_ATR 0x04

/* T=1 card, no historical bytes: TS 3B, T0 80, TD1 80, TD2 01, TCK 01. */
static const uint8_t ATR[] = {0x3B, 0x80, 0x80, 0x01, 0x01};

static int read_full(int fd, uint8_t *b, size_t n, uint64_t deadline)
{
    while (n) {
        uint64_t now = mono_ms();
        if (now >= deadline) return -1;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, (int)(deadline - now > 1000 ? 1000 : deadline - now));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int send_msg(int fd, const uint8_t *b, size_t n)
{
    uint8_t h[2] = {(uint8_t)(n >> 8), (uint8_t)n};
    if (send(fd, h, 2, MSG_NOSIGNAL) != 2) return -1;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Asks the person holding the card, on the terminal, whether to pay the
 * request note->request (what a phone app's confirmation screen does): 1
 * yes, 0 no (or no answer). */
static int ask_to_pay(struct cli *x, const struct dc_offline_note *n)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) return 0;
    char a[48], alias[2 * DC_ALIAS_BYTES + 1], line[16] = "";
    cli_hex(alias, n->request.payee.alias, DC_ALIAS_BYTES);
    fprintf(tty, "pay %s to device alias %.16s? [y/N] ", cli_fmt(x, a, n->request.amount), alias);
    fflush(tty);
    int yes = fgets(line, sizeof line, tty) && (line[0] == 'y' || line[0] == 'Y');
    fclose(tty);
    return yes;
}

/* The host's turn on DC_CARD_PAY: the offline layer checks, builds and
 * saves; then the answer. Without --yes or --max a new payment is asked
 * for first (a payment made before, resumed by a new tap, is not). */
static enum dc_err card_pay(struct cli *x, struct dc_offline *o, struct dc_card *c,
                            const struct cli_xopts *op, int64_t max, uint8_t *rsp, size_t *rl,
                            int64_t *amount, int *refused)
{
    size_t len;
    const uint8_t *req = dc_card_message(c, &len);
    uint8_t *pay = NULL;
    size_t plen = 0;
    cli_last_err = DC_OK;
    int rc = payer_check_request(x, o, req, len, max);
    struct dc_wallet_outgoing before;
    if (rc == 0 && !op->yes && !max &&
        dc_wallet_find_payment(x->w, &before, o->note.request.payee.pub, o->note.request.nonce) !=
            DC_OK &&
        !ask_to_pay(x, &o->note)) {
        rc = cli_fail(x, DC_ERR_PAYMENT_DECLINED, "not paid: %s",
                      dc_err_str(DC_ERR_PAYMENT_DECLINED));
    }
    if (rc == 0) rc = payer_pay(x, o, req, len, &pay, &plen);
    if (rc) {
        enum dc_err why = cli_last_err != DC_OK ? cli_last_err : DC_ERR_INTERNAL;
        *refused = rc;
        return dc_card_refuse(c, why, rsp, DC_APDU_RSP_MAX, rl);
    }
    *amount = o->note.request.amount;
    enum dc_err e = dc_card_answer(c, pay, plen, rsp, DC_APDU_RSP_MAX, rl);
    free(pay);
    return e;
}

int cmd_card(struct cli *x, int argc, char **argv)
{
    struct cli_xopts op;
    int rc = cli_xopts_parse(&op, "card", XO_VPCD | XO_MAX | XO_YES | XO_TIMEOUT, XO_VPCD, 60, argc,
                             argv);
    if (rc) return rc;
    int tty = op.yes || op.max_s ? -1 : open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty >= 0) close(tty);
    if (!op.yes && !op.max_s && tty < 0) {
        /* nobody to ask: no controlling terminal */
        return cli_fail_code(CLI_EXIT_USAGE,
                             "card: give --max AMOUNT (pay requests up to it) or --yes (pay any "
                             "request), or run it on a terminal to be asked for each payment");
    }
    rc = cli_open(x, CLI_WALLET | CLI_CONFIG);
    if (rc) return rc;
    int64_t max = 0, amount = 0;
    rc = cli_xopts_amounts(x, &op, NULL, &max);
    if (rc) return rc;
    uint64_t deadline = mono_ms() + (uint64_t)op.timeout * 1000u;
    int fd = -1;
    rc = connect_to(op.addr, deadline, &fd);
    if (rc) return rc;
    struct dc_offline o;
    offline_host(x, &o, DC_OFFLINE_NFC, "card");
    struct dc_card *c = malloc(sizeof *c);
    uint8_t *cmd = malloc(DC_APDU_CMD_MAX), *rsp = malloc(DC_APDU_RSP_MAX);
    if (!c || !cmd || !rsp) {
        rc = cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    dc_card_init(c);
    if (!x->json) printf("card in the field of '%s'\n", op.addr);
    fflush(stdout);
    unsigned n_apdu = 0;
    rc = CLI_EXIT_RETRY;
    for (;;) {
        uint8_t h[2];
        if (read_full(fd, h, 2, deadline) != 0) break;
        size_t len = (size_t)h[0] << 8 | h[1];
        if (len == 0 || read_full(fd, cmd, len, deadline) != 0) break;
        if (len == 1) {
            if (cmd[0] == VPCD_ATR) {
                if (send_msg(fd, ATR, sizeof ATR) != 0) break;
            } else if (cmd[0] == VPCD_OFF || cmd[0] == VPCD_ON || cmd[0] == VPCD_RESET) {
                dc_card_init(c); /* a new field: nothing pending */
            }
            continue;
        }
        char point[48];
        n_apdu++;
        snprintf(point, sizeof point, "card:apdu-%u", n_apdu);
        cli_pause_point(point);
        size_t rl;
        unsigned ev;
        enum dc_err e = dc_card_apdu(c, cmd, len, rsp, DC_APDU_RSP_MAX, &rl, &ev);
        int confirmed = 0, refused = 0, took_refusal = 0;
        if (e == DC_OK && ev == DC_CARD_PAY) {
            e = card_pay(x, &o, c, &op, max, rsp, &rl, &amount, &refused);
        }
        if (e == DC_OK && ev == DC_CARD_CONFIRM) {
            size_t ml;
            const uint8_t *m = dc_card_message(c, &ml);
            cli_last_err = DC_OK;
            if (payer_confirm(x, &o, m, ml) == 0) {
                confirmed = 1;
                e = dc_card_answer(c, NULL, 0, rsp, DC_APDU_RSP_MAX, &rl);
            } else {
                e = dc_card_refuse(c, cli_last_err != DC_OK ? cli_last_err : DC_ERR_INTERNAL, rsp,
                                   DC_APDU_RSP_MAX, &rl);
            }
        }
        if (e == DC_OK && ev == DC_CARD_REFUSAL) {
            /* the terminal refused the payment for good: its signed refusal,
             * checked against the saved payment and kept, lets this wallet
             * reclaim the coins online at once */
            size_t ml;
            const uint8_t *m = dc_card_message(c, &ml);
            cli_last_err = DC_OK;
            /* test hooks: kill -9 before the refusal is kept, and after
             * (saved) before the terminal hears 90 00 */
            cli_pause_point("card:refusal");
            took_refusal = payer_refused(x, &o, m, ml);
            if (took_refusal == 0) cli_pause_point("card:refusal-kept");
            if (took_refusal == 0) {
                took_refusal = -1;
                e = dc_card_answer(c, NULL, 0, rsp, DC_APDU_RSP_MAX, &rl);
            } else {
                e = dc_card_refuse(c, cli_last_err != DC_OK ? cli_last_err : DC_ERR_INTERNAL, rsp,
                                   DC_APDU_RSP_MAX, &rl);
            }
        }
        if (e != DC_OK) {
            rc = cli_fail(x, e, "card: %s", dc_err_str(e));
            goto out;
        }
        snprintf(point, sizeof point, "card:apdu-%u-answered", n_apdu);
        cli_pause_point(point);
        if (send_msg(fd, rsp, rl) != 0) break;
        if (refused) {
            /* the terminal was told why (62 00); nothing was signed */
            rc = refused;
            goto out;
        }
        if (took_refusal < 0) {
            enum dc_err why = o.note.refused;
            rc = cli_fail(x, why, "the payee refused the payment: %s", dc_err_str(why));
            goto out;
        }
        if (took_refusal > 0) {
            /* a refusal this wallet could not take: the payment stays pending */
            rc = took_refusal;
            goto out;
        }
        if (confirmed) {
            char a[48];
            if (x->json) {
                cli_emit(json_pack("{s:s, s:I}", "status", "paid", "amount", (json_int_t)amount));
            } else if (amount) {
                printf("paid %s by tap; the payee's receipt is verified\n", cli_fmt(x, a, amount));
            } else {
                printf("payment confirmed by tap; the payee's receipt is verified\n");
            }
            rc = CLI_EXIT_OK;
            goto out;
        }
    }
    rc = cli_fail_code(CLI_EXIT_RETRY,
                       "the reader went away before the payment was confirmed; a payment signed "
                       "here is saved and pending - tap again to complete it");
out:
    close(fd);
    free(c);
    free(cmd);
    free(rsp);
    return rc;
}
