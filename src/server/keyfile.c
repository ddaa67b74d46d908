/*
 * keyfile.c - key files at rest (see keyfile.h).
 */
#include "server/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ducat/auth.h"

#define SALT crypto_pwhash_SALTBYTES
#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define CT (32 + crypto_aead_xchacha20poly1305_ietf_ABYTES)

static enum dc_err derive(uint8_t key[32], const char *pass, const uint8_t salt[SALT])
{
    if (crypto_pwhash(key, 32, pass, strlen(pass), salt, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                      crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return DC_ERR_NO_MEMORY;
    }
    return DC_OK;
}

enum dc_err dc_keyfile_write(const char *path, const uint8_t seed[32], const char *passphrase,
                             char *err, size_t cap)
{
    char line[512], tmp[1100];
    char h1[2 * SALT + 1], h2[2 * NONCE + 1], h3[2 * CT + 1];
    if (passphrase && *passphrase) {
        uint8_t salt[SALT], nonce[NONCE], ct[CT], key[32];
        randombytes_buf(salt, sizeof salt);
        randombytes_buf(nonce, sizeof nonce);
        if (derive(key, passphrase, salt) != DC_OK) {
            snprintf(err, cap, "cannot derive the key-file key (out of memory)");
            return DC_ERR_NO_MEMORY;
        }
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, seed, 32, (const uint8_t *)"ducat-key",
                                                   9, NULL, nonce, key);
        sodium_memzero(key, sizeof key);
        dc_hex_encode(h1, salt, sizeof salt);
        dc_hex_encode(h2, nonce, sizeof nonce);
        dc_hex_encode(h3, ct, sizeof ct);
        snprintf(line, sizeof line, "ducat-key 1 sealed %s %s %s\n", h1, h2, h3);
    } else {
        char hs[65];
        dc_hex_encode(hs, seed, 32);
        snprintf(line, sizeof line, "ducat-key 1 plain %s\n", hs);
        sodium_memzero(hs, sizeof hs);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    enum dc_err e = DC_OK;
    if (fd < 0) {
        snprintf(err, cap, "cannot create key file '%s': %s", tmp, strerror(errno));
        e = DC_ERR_IO;
    } else {
        size_t n = strlen(line);
        if (write(fd, line, n) != (ssize_t)n || fsync(fd) != 0) {
            snprintf(err, cap, "cannot write key file '%s': %s", tmp, strerror(errno));
            e = DC_ERR_IO;
        }
        close(fd);
        if (e == DC_OK && rename(tmp, path) != 0) {
            snprintf(err, cap, "cannot install key file '%s': %s", path, strerror(errno));
            e = DC_ERR_IO;
        }
    }
    sodium_memzero(line, sizeof line);
    return e;
}

enum dc_err dc_keyfile_read(uint8_t *seed_out, const char *path, const char *passphrase, char *err,
                            size_t cap)
{
    char buf[512];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "cannot open key file '%s': %s", path, strerror(errno));
        return DC_ERR_IO;
    }
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077)) {
        /* like ssh: a key others can read is not a key we trust to be secret */
        close(fd);
        snprintf(err, cap, "key file '%s' is readable by others (mode %03o): chmod 600 it", path,
                 (unsigned)(sb.st_mode & 0777));
        return DC_ERR_CONFIG;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        snprintf(err, cap, "cannot read key file '%s'", path);
        return DC_ERR_IO;
    }
    buf[n] = '\0';
    char kind[16], a[128], b[128], c[256];
    enum dc_err e = DC_OK;
    int f = sscanf(buf, "ducat-key 1 %15s %127s %127s %255s", kind, a, b, c);
    if (f == 2 && strcmp(kind, "plain") == 0) {
        if (dc_hex_decode(seed_out, 32, a, strlen(a)) != DC_OK) e = DC_ERR_DECODE_VALUE;
    } else if (f == 4 && strcmp(kind, "sealed") == 0) {
        uint8_t salt[SALT], nonce[NONCE], ct[CT], key[32];
        if (!passphrase || !*passphrase) {
            snprintf(err, cap, "key file '%s' is sealed: set DUCATD_KEY_PASSPHRASE", path);
            sodium_memzero(buf, sizeof buf);
            return DC_ERR_CONFIG;
        }
        if (dc_hex_decode(salt, SALT, a, strlen(a)) != DC_OK ||
            dc_hex_decode(nonce, NONCE, b, strlen(b)) != DC_OK ||
            dc_hex_decode(ct, CT, c, strlen(c)) != DC_OK) {
            e = DC_ERR_DECODE_VALUE;
        } else if ((e = derive(key, passphrase, salt)) == DC_OK) {
            if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed_out, NULL, NULL, ct, CT,
                                                           (const uint8_t *)"ducat-key", 9, nonce,
                                                           key) != 0) {
                snprintf(err, cap, "key file '%s': wrong passphrase or tampered file", path);
                e = DC_ERR_BAD_SIGNATURE;
            }
            sodium_memzero(key, sizeof key);
        }
    } else {
        e = DC_ERR_DECODE_VALUE;
    }
    sodium_memzero(buf, sizeof buf);
    sodium_memzero(a, sizeof a);
    if (e == DC_ERR_DECODE_VALUE) snprintf(err, cap, "key file '%s' is malformed", path);
    return e;
}
