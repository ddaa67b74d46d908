/*
 * cmd.h - ducatd's subcommands: a table drives dispatch and usage
 * (wireguard-tools' wg.c). Each family lives in its own cmd_*.c file.
 *
 * Exit codes (docs/OPERATIONS.md), from the error's class in the registry:
 * 0 success, 1 the operation was refused or failed (the message says why),
 * 2 usage error, 3 configuration or storage error, or a transient one (the
 * store busy: run it again), 4 the audit found a discrepancy.
 */
#ifndef DUCAT_SERVER_CMD_H
#define DUCAT_SERVER_CMD_H

#include "ducat/err.h"

#define DC_EXIT_OK 0
#define DC_EXIT_REFUSED 1
#define DC_EXIT_USAGE 2
#define DC_EXIT_CONFIG 3
#define DC_EXIT_AUDIT 4

struct dc_cmd_env {
    const char *config; /* -c CONFIG */
};

int dc_cmd_init(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_serve(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_keys(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_accounts(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_fund(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_payout(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_cases(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_holds(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_calendar(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_audit(const struct dc_cmd_env *env, int argc, char **argv);
int dc_cmd_operators(const struct dc_cmd_env *env, int argc, char **argv);

/* One line on stderr: "ducatd: <what>" */
void dc_cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit code for an error: a projection of its class (dc_err_class). */
int dc_cmd_exit_for(enum dc_err e);

#endif
