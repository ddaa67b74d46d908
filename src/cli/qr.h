/*
 * qr.h - armor as QR codes on the terminal and in PNG files, split into a
 * numbered sequence when long, and joined again in any order (qr.c has the
 * format; docs/PROTOCOL.md "QR codes").
 */
#ifndef DUCAT_CLI_QR_H
#define DUCAT_CLI_QR_H

#include <stddef.h>

#include "cli/cli.h"

/* Shows the armor text (NUL-terminated) as QR codes: on stderr when
 * terminal, and as PNG files PREFIX.png (one code) or PREFIX-I-of-N.png
 * when png_prefix. 0 or an exit code after saying why. */
int qr_emit(const char *armor, int terminal, const char *png_prefix);
/* If text (of *len bytes, NUL-terminated, modifiable) holds QR parts,
 * replaces it with the armor they join to (*len updated): 0, or an exit
 * code after saying what is wrong (a part missing, parts of two messages).
 * Text without parts is left alone (0). */
int qr_join(char *text, size_t *len);

#endif
