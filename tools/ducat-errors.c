/*
 * ducat-errors - prints docs/ERRORS.md from the error registry
 * (include/ducat/errors.def); tests/errors_doc.sh checks the committed file
 * is fresh, as Redis checks its generated commands.def.
 */
#include <stdio.h>

#include "ducat/err.h"

int main(void)
{
    printf(
        "# Ducat error registry\n\n"
        "Generated from `include/ducat/errors.def` by `tools/ducat-errors.c`; do not edit.\n"
        "Every layer returns these codes; the server answers with the HTTP status shown and\n"
        "a JSON body `{\"code\": N, \"name\": \"...\", \"hint\": \"...\"}`. Codes are stable.\n\n"
        "| code | name | HTTP | message |\n"
        "|---:|---|---:|---|\n");
    for (unsigned i = 0; i < dc_err_count(); i++) {
        enum dc_err e = dc_err_at(i);
        printf("| %d | `%s` | %d | %s |\n", (int)e, dc_err_name(e), dc_err_http_status(e),
               dc_err_str(e));
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
