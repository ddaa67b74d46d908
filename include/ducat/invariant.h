/*
 * ducat/invariant.h - DC_INVARIANT: a check of an internal money invariant
 * that stays on in release builds (NDEBUG does not remove it).
 *
 * For what cannot happen unless our own code is wrong: coins issued that do
 * not add up to the amount debited, a balance computed negative after the
 * funds check. Never for input (a request, a file, a peer's message, a
 * server's answer): those get an error from the registry. A failed invariant
 * prints one line and aborts the process: in ducatd that is before the
 * writer commits, so the batch rolls back and nothing half-done is kept;
 * a money bug stops the server instead of being written to the journal.
 *
 * Header-only and not for the core (it returns errors, it does no I/O;
 * tests/layers.py keeps this header out of src/core).
 */
#ifndef DUCAT_INVARIANT_H
#define DUCAT_INVARIANT_H

#include <stdio.h>
#include <stdlib.h>

#define DC_INVARIANT(cond, what)                                                                   \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "ducat: internal invariant failed at %s:%d: %s (%s)\n", __FILE__,      \
                    __LINE__, what, #cond);                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
