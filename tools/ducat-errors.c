/*
 * ducat-errors - prints docs/ERRORS.md from the error registry
 * (include/ducat/errors.def); tests/errors_doc.sh checks the committed file
 * is fresh, as Redis checks its generated commands.def.
 */
#include <stdio.h>

#include "ducat/err.h"

int main(void)
{
    printf("# Ducat error registry\n\n"
           "Generated from `include/ducat/errors.def` by `tools/ducat-errors.c`; do not edit.\n"
           "Every layer returns these codes; the server answers with the HTTP status shown and\n"
           "a JSON body `{\"code\": N, \"name\": \"...\", \"hint\": \"...\"}`. Codes are stable.\n"
           "The class says what to do about an error: REFUSED (a rule said no; the same request\n"
           "gets the same answer), TRANSIENT (nothing was done; retry the same request later),\n"
           "SYSTEM (configuration, storage or I/O of the machine), WALLET (the wallet file),\n"
           "USAGE (command line), AUDIT (a discrepancy). Exit codes derive from it:\n"
           "ducatd exits 1 REFUSED, 2 USAGE, 3 SYSTEM or TRANSIENT, 4 AUDIT (docs/OPERATIONS.md);\n"
           "ducat exits 1 REFUSED, 2 USAGE, 3 WALLET, 4 TRANSIENT or a server failure "
           "(docs/CLI.md).\n\n"
           "| code | name | HTTP | class | message |\n"
           "|---:|---|---:|---|---|\n");
    for (unsigned i = 0; i < dc_err_count(); i++) {
        enum dc_err e = dc_err_at(i);
        printf("| %d | `%s` | %d | %s | %s |\n", (int)e, dc_err_name(e), dc_err_http_status(e),
               dc_err_class_name(dc_err_class(e)), dc_err_str(e));
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
