/*
 * cmd_serve.c - `ducatd serve`: open the instance, start the group-commit
 * writer, serve HTTP until SIGTERM or SIGINT, then shut down gracefully:
 * stop accepting, let in-flight requests finish, drain the writer, close
 * the database.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/serve.h"
#include "server/ledger/writer.h"
#include "server/ops/cmd.h"

/* The flags a signal handler may write: sig_atomic_t, volatile. The
 * serve loop polls them (http.c) and then sets the context's atomic
 * `stopping` that the connection threads read. */
static volatile sig_atomic_t stop_flag, hup_flag;

static void on_signal(int sig)
{
    if (sig == SIGHUP) {
        hup_flag = 1; /* the serving loop reopens the log, reloads keys and revocations */
    } else {
        stop_flag = 1;
    }
}

int dc_cmd_serve(const struct dc_cmd_env *env, int argc, char **argv)
{
    const char *listen = NULL, *port_file = NULL, *level = NULL, *format = NULL;
    const char *config = env->config;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            level = argv[++i];
        } else if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc) {
            format = argv[++i];
            if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
                dc_cmd_fail("serve: --log-format '%s': expected text or json", format);
                return DC_EXIT_USAGE;
            }
        } else {
            dc_cmd_fail("serve: unexpected argument '%s'", argv[i]);
            return DC_EXIT_USAGE;
        }
    }
    static struct dc_ctx x;
    char err[512] = "";
    enum dc_err e = dc_ctx_open(&x, config, err, sizeof err);
    if (e != DC_OK) {
        dc_cmd_fail("%s", err[0] ? err : dc_err_str(e));
        return DC_EXIT_CONFIG;
    }
    if (x.cfg.log_file[0]) {
        /* here, not in dc_ctx_open: an operator command keeps its messages
         * on the terminal; only the server's own log goes to the file */
        char path[DC_PATH_MAX * 2];
        dc_config_path(&x.cfg, x.cfg.log_file, path, sizeof path);
        if (dc_log_open_file(path, err, sizeof err) != DC_OK) {
            dc_cmd_fail("serve: %s", err);
            dc_ctx_close(&x);
            return DC_EXIT_CONFIG;
        }
    }
    if (format) dc_log_set_json(strcmp(format, "json") == 0);
    if (level) {
        static const char *const lv[] = {"error", "warn", "info", "debug"};
        int found = -1;
        for (int i = 0; i < 4; i++) {
            if (strcmp(level, lv[i]) == 0) found = i;
        }
        if (found < 0) {
            dc_cmd_fail("serve: --log-level '%s': expected error, warn, info or debug", level);
            dc_ctx_close(&x);
            return DC_EXIT_USAGE;
        }
        dc_log_set_level(found);
    }
    struct dc_store *wst;
    e = dc_store_open(&wst, x.store_url, err, sizeof err);
    if (e == DC_OK) {
        dc_store_set_timeout(wst, x.cfg.store_timeout_ms);
        e = dc_writer_start(&x.writer, wst, x.cfg.gc_max_batch, x.cfg.gc_max_wait_us, x.metrics);
    }
    if (e != DC_OK) {
        dc_cmd_fail("serve: %s", err[0] ? err : dc_err_str(e));
        dc_ctx_close(&x);
        return DC_EXIT_CONFIG;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    x.reload_req = &hup_flag;
    signal(SIGPIPE, SIG_IGN);
    x.started_ms = dc_wall_now();
    dc_ctx_calendar_check(&x, "start");
    e = dc_http_serve(&x, listen ? listen : x.cfg.listen, port_file, &stop_flag);
    dc_ctx_close(&x);
    if (e == DC_OK) dc_log(DC_LOG_INFO, "stopped cleanly");
    return e == DC_OK ? DC_EXIT_OK : DC_EXIT_CONFIG;
}
