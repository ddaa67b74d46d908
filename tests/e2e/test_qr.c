/*
 * test_qr.c - offline payments through QR codes: real `ducat` processes
 * write their armor as PNG files (--qr-png), zbarimg (zbar-tools) reads
 * them, and what it read is what the other side gets: request, payment and
 * receipt. The payment becomes a numbered sequence, scanned out of order
 * (and one part twice); the payment completes and the server's audit
 * balances. Also: a part missing, parts of two messages, a part
 * altered, and the terminal rendering.
 */
#define _DEFAULT_SOURCE
#include "test.h"

#include "harness.h"

#include "cli_harness.h"

#include <stdlib.h>
#include <unistd.h>

static struct srv S;

/* zbarimg --raw over the files, in the order given, into out; its exit code. */
static int scan(char *out, size_t cap, const char *files)
{
    return sh(out, cap, "zbarimg --raw -q %s 2>/dev/null", files); /* stderr: dbus noise */
}

static void test_qr_payment_out_of_order(void)
{
    char out[65536], d[200], files[4096];
    struct wal payer, payee;
    srv_cleanup(&S);
    srv_init(&S, "--auto-verify");
    srv_start(&S);
    snprintf(d, sizeof d, "%s", S.dir);
    wallet_new(&S, &payer, "payer", "Paula Payer");
    wallet_new(&S, &payee, "payee", "Pete Payee");
    ASSERT_EQ(srv_cmd(&S, out, sizeof out, "fund %lld 100.00", payer.account), 0);
    ASSERT_EQ(D(out, &payer, "withdraw 10"), 0);

    /* request: one code */
    ASSERT_EQ(D(out, &payee, "--qr-png %s/req request 3 > %s/req.txt 2>/dev/null", d, d), 0);
    ASSERT_EQ(access(strcat(strcpy(files, d), "/req.png"), R_OK), 0);
    ASSERT_EQ(scan(out, sizeof out, files), 0);
    ASSERT(strncmp(out, "ducat:request:1:", 16) == 0);
    write_file(strcat(strcpy(files, d), "/req.scan"), out, strlen(out));

    /* payment: a numbered sequence (a 489-byte payment is 3 parts) */
    ASSERT_EQ(D(out, &payer, "--qr-png %s/pay pay %s/req.scan > %s/pay.txt 2>/dev/null", d, d, d),
              0);
    ASSERT_EQ(sh(out, sizeof out, "ls %s | grep -c '^pay-.*-of-.*\\.png$'", d), 0);
    int parts = atoi(out);
    ASSERT(parts >= 2);
    printf("# the payment took %d QR codes\n", parts);
    /* scanned last part first, and the first twice */
    files[0] = '\0';
    for (int i = parts; i >= 1; i--) {
        size_t l = strlen(files);
        snprintf(files + l, sizeof files - l, "%s/pay-%d-of-%d.png ", d, i, parts);
    }
    size_t l = strlen(files);
    snprintf(files + l, sizeof files - l, "%s/pay-1-of-%d.png", d, parts);
    ASSERT_EQ(scan(out, sizeof out, files), 0);
    ASSERT(strncmp(out, "ducat-qr:", 9) == 0);
    char scanned[256];
    snprintf(scanned, sizeof scanned, "%s/pay.scan", d);
    write_file(scanned, out, strlen(out));

    /* a part missing, then parts of two messages: refused, nothing kept */
    char partial[256];
    snprintf(partial, sizeof partial, "%s/pay.partial", d);
    ASSERT_EQ(sh(out, sizeof out, "grep -v '^ducat-qr:2/' %s > %s", scanned, partial), 0);
    ASSERT_EQ(D(out, &payee, "accept %s", partial), 1);
    ASSERT_HAS(out, "QR part 2 of");
    ASSERT_HAS(out, "is missing");
    ASSERT_EQ(sh(out, sizeof out,
                 "sed 's/^\\(ducat-qr:2\\/[0-9]*:\\)[0-9a-f]\\{8\\}/\\100000000/' %s "
                 "> %s",
                 scanned, partial),
              0);
    ASSERT_EQ(D(out, &payee, "accept %s", partial), 1);
    ASSERT_HAS(out, "belongs to another message");
    /* a chunk altered: the armor's checksum over the joined text refuses it */
    ASSERT_EQ(sh(out, sizeof out,
                 "sed '/^ducat-qr:1\\//s/\\(.\\)$/\\1/; /^ducat-qr:1\\//y/ABCD/BCDA/' "
                 "%s > %s",
                 scanned, partial),
              0);
    ASSERT_EQ(D(out, &payee, "accept %s", partial), 1);
    ASSERT_EQ(offline_field(&payee, "offline_coins"), 0);

    /* the whole sequence, out of order: accepted; the receipt as a code too */
    ASSERT_EQ(D(out, &payee, "--qr-png %s/rcpt accept %s > %s/rcpt.txt 2>/dev/null", d, scanned, d),
              0);
    ASSERT_EQ(offline_field(&payee, "offline_coins"), 300);
    ASSERT_EQ(sh(out, sizeof out, "cd %s && ls rcpt*.png", d), 0);
    char rfiles[1024] = "";
    for (char *w = strtok(out, "\n"); w; w = strtok(NULL, "\n")) {
        size_t k = strlen(rfiles);
        snprintf(rfiles + k, sizeof rfiles - k, "%s/%s ", d, w);
    }
    ASSERT_EQ(scan(out, sizeof out, rfiles), 0);
    snprintf(scanned, sizeof scanned, "%s/rcpt.scan", d);
    write_file(scanned, out, strlen(out));
    /* confirm shows nothing: --qr there is refused, not silently ignored,
     * and the refusal changes nothing in the wallet */
    ASSERT_EQ(D(out, &payer, "--qr confirm %s", scanned), 2);
    ASSERT_HAS(out, "accept --qr");
    ASSERT(offline_field(&payer, "offline_pending_out") > 0);
    ASSERT_EQ(D(out, &payer, "confirm %s", scanned), 0);
    ASSERT_HAS(out, "receipt verified");
    ASSERT_EQ(offline_field(&payer, "offline_pending_out"), 0);

    /* the terminal rendering: half blocks on stderr, the armor on stdout */
    ASSERT_EQ(D(out, &payee, "--qr request 1 2>&1 >/dev/null"), 0);
    ASSERT_HAS(out, "\xe2\x96\x80");

    ASSERT_EQ(D(out, &payee, "deposit"), 0);
    ASSERT_EQ(online_field(&payee, "held"), 300);
    audit_ok(&S);
    srv_cleanup(&S);
}

/* The ducat binary and the ID prefixes, set before any case runs, so each
 * case can also run alone or in another order (DUCAT_TEST_ONLY/REVERSE). */
__attribute__((constructor)) static void init(void)
{
    cli_init("1101011987", "+86136");
}

static void test_init(void)
{
    char out[256];
    if (sh(out, sizeof out, "command -v zbarimg") != 0) {
        FAIL_AT("zbarimg is missing (scripts/deps.sh installs zbar-tools)");
    }
}

TESTS(T(test_init), T(test_qr_payment_out_of_order))
