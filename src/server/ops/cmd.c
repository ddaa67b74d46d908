/*
 * cmd.c - what every ducatd subcommand shares: the one-line message on
 * stderr and the exit code of an error. Apart from main.c (the table) so
 * that the commands and the table do not depend on each other.
 */
#include "server/ops/cmd.h"

#include <stdarg.h>
#include <stdio.h>

void dc_cmd_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ducatd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int dc_cmd_exit_for(enum dc_err e)
{
    /* the registry's class decides (include/ducat/errors.def) */
    switch (dc_err_class(e)) {
    case DC_CLASS_OK:
        return DC_EXIT_OK;
    case DC_CLASS_USAGE:
        return DC_EXIT_USAGE;
    case DC_CLASS_AUDIT:
        return DC_EXIT_AUDIT;
    case DC_CLASS_SYSTEM:
    case DC_CLASS_TRANSIENT:
        return DC_EXIT_CONFIG;
    case DC_CLASS_REFUSED:
    case DC_CLASS_WALLET:
        break;
    }
    return DC_EXIT_REFUSED;
}
