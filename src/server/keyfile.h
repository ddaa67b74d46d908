/*
 * keyfile.h - the issuer's secret keys at rest.
 *
 * A key file holds one Ed25519 seed, mode 0600, in one line:
 *   ducat-key 1 plain <seed hex>
 *   ducat-key 1 sealed <salt hex> <nonce hex> <ciphertext hex>
 * "sealed" files are encrypted with XChaCha20-Poly1305 under a key derived
 * by Argon2id from the passphrase in DUCATD_KEY_PASSPHRASE (set it before
 * `ducatd init` and for every start); a tampered file is refused. Seeds are
 * read into guarded memory (sodium_malloc) and wiped after use.
 */
#ifndef DUCAT_SERVER_KEYFILE_H
#define DUCAT_SERVER_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/err.h"

/* Writes seed[32] to path (0600, atomically). Seals it if passphrase != NULL. */
enum dc_err dc_keyfile_write(const char *path, const uint8_t seed[32], const char *passphrase,
                             char *err, size_t cap);
/* Reads a seed into seed_out (32 bytes, caller-owned guarded memory). */
enum dc_err dc_keyfile_read(uint8_t *seed_out, const char *path, const char *passphrase, char *err,
                            size_t cap);

#endif
