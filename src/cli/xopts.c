/*
 * xopts.c - the options of the transport commands (receive, send, tap,
 * card) as one declared table: each command names the options it takes and
 * its default timeout, and every option is spelled, checked and worded the
 * same way in all of them.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/offline.h"

/* One row per option: the flag a command lists to accept it, whether a
 * value follows, and where it goes in struct cli_xopts. */
static const struct xopt {
    const char *name;
    unsigned flag;
    int has_value;
    size_t off; /* const char * field, or int field without a value */
} XOPTS[] = {
    {"--listen", XO_LISTEN, 1, offsetof(struct cli_xopts, addr)},
    {"--to", XO_TO, 1, offsetof(struct cli_xopts, addr)},
    {"--vpcd", XO_VPCD, 1, offsetof(struct cli_xopts, addr)},
    {"--amount", XO_AMOUNT, 1, offsetof(struct cli_xopts, amount_s)},
    {"--max", XO_MAX, 1, offsetof(struct cli_xopts, max_s)},
    {"--timeout", XO_TIMEOUT, 1, offsetof(struct cli_xopts, timeout_s)},
    {"--port-file", XO_PORT_FILE, 1, offsetof(struct cli_xopts, port_file)},
    {"--reader", XO_READER, 1, offsetof(struct cli_xopts, reader)},
    {"--segment", XO_SEGMENT, 1, offsetof(struct cli_xopts, segment_s)},
    {"--new", XO_NEW, 0, offsetof(struct cli_xopts, fresh)},
    {"--extended", XO_EXTENDED, 0, offsetof(struct cli_xopts, extended)},
    {"--yes", XO_YES, 0, offsetof(struct cli_xopts, yes)},
};

int cli_xopts_parse(struct cli_xopts *o, const char *cmd, unsigned takes, unsigned needs,
                    long default_timeout, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->timeout = default_timeout;
    for (int i = 0; i < argc; i++) {
        const struct xopt *hit = NULL;
        for (size_t k = 0; k < sizeof XOPTS / sizeof XOPTS[0]; k++) {
            if ((takes & XOPTS[k].flag) && strcmp(argv[i], XOPTS[k].name) == 0) hit = &XOPTS[k];
        }
        if (!hit) {
            return cli_fail_code(CLI_EXIT_USAGE, "%s: unexpected argument '%s'", cmd, argv[i]);
        }
        char *field = (char *)o + hit->off;
        if (!hit->has_value) {
            *(int *)(void *)field = 1;
        } else if (cli_opt(argc, argv, &i, hit->name, (const char **)(void *)field) < 0) {
            return CLI_EXIT_USAGE;
        }
        o->seen |= hit->flag;
    }
    for (size_t k = 0; k < sizeof XOPTS / sizeof XOPTS[0]; k++) {
        if ((needs & XOPTS[k].flag) && !(o->seen & XOPTS[k].flag)) {
            return cli_fail_code(CLI_EXIT_USAGE, "%s: %s is required (see: ducat help %s)", cmd,
                                 XOPTS[k].name, cmd);
        }
    }
    if (o->timeout_s) {
        char *end;
        long t = strtol(o->timeout_s, &end, 10);
        if (*end || end == o->timeout_s || t < 1 || t > 86400) {
            return cli_fail_code(CLI_EXIT_USAGE, "invalid --timeout '%s' (seconds, 1..86400)",
                                 o->timeout_s);
        }
        o->timeout = t;
    }
    if (o->segment_s) {
        char *end;
        long v = strtol(o->segment_s, &end, 10);
        if (*end || end == o->segment_s || v < 16 || v > 255 || o->extended) {
            return cli_fail_code(CLI_EXIT_USAGE,
                                 "invalid --segment '%s' (bytes per short APDU, 16..255; not "
                                 "with --extended)",
                                 o->segment_s);
        }
        o->segment = (unsigned)v;
    }
    return 0;
}

int cli_xopts_amounts(struct cli *x, const struct cli_xopts *o, int64_t *amount, int64_t *max)
{
    int rc = 0;
    if (amount) *amount = 0;
    if (max) *max = 0;
    if (amount && o->amount_s) rc = cli_amount(x, o->amount_s, amount);
    if (rc == 0 && max && o->max_s) rc = cli_amount(x, o->max_s, max);
    return rc;
}
