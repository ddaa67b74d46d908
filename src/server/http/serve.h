/*
 * serve.h - what the rest of ducatd may call of the HTTP layer: start it.
 * `ducatd serve` (ops/cmd_serve.c) is the one caller; everything else in
 * http/ is for the handlers (http.h), and no other role includes it.
 */
#ifndef DUCAT_SERVER_SERVE_H
#define DUCAT_SERVER_SERVE_H

#include <signal.h>

#include "server/server.h"

/* Serves until *stop becomes non-zero (a signal handler sets it: hence
 * sig_atomic_t, the one type a handler may write); then drains and returns. */
enum dc_err dc_http_serve(struct dc_ctx *x, const char *listen, const char *port_file,
                          volatile sig_atomic_t *stop);

#endif
