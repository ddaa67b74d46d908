/*
 * test_registry.c - the error registry's class column and the self-labelled
 * signatures of crypto.c (dc_sign_message), the two pieces the exit codes,
 * the wallet's retry rule and the domain separation of signatures rest on.
 */
#include "test.h"

#include <sodium.h>

#include "ducat/coin.h"
#include "ducat/crypto.h"
#include "ducat/err.h"

/* Every row has a class of the enum; only success is OK. */
static void test_every_row_has_a_class(void)
{
    for (unsigned i = 0; i < dc_err_count(); i++) {
        enum dc_err e = dc_err_at(i);
        enum dc_err_class c = dc_err_class(e);
        ASSERT(c >= DC_CLASS_OK && c <= DC_CLASS_AUDIT);
        ASSERT_EQ(c == DC_CLASS_OK, e == DC_OK);
        ASSERT(strcmp(dc_err_class_name(c), "UNKNOWN") != 0);
    }
    /* a code this build does not know (a newer server's) is a refusal */
    ASSERT_EQ(dc_err_class((enum dc_err)999999), DC_CLASS_REFUSED);
}

/* The classes the exit codes were derived from by number ranges before:
 * the same errors land in the same classes. */
static void test_classes_of_the_old_ranges(void)
{
    ASSERT_EQ(dc_err_class(DC_ERR_USAGE), DC_CLASS_USAGE);
    ASSERT_EQ(dc_err_class(DC_ERR_AUDIT), DC_CLASS_AUDIT);
    ASSERT_EQ(dc_err_class(DC_ERR_CONFIG), DC_CLASS_SYSTEM);
    ASSERT_EQ(dc_err_class(DC_ERR_IO), DC_CLASS_SYSTEM);
    for (int code = 3000; code < 4000; code++) { /* the store: system or transient */
        enum dc_err e;
        if (!dc_err_from_code(&e, code)) continue;
        enum dc_err_class c = dc_err_class(e);
        ASSERT(c == DC_CLASS_SYSTEM || c == DC_CLASS_TRANSIENT);
    }
    for (int code = 4000; code <= 4004; code++) { /* the wallet file */
        enum dc_err e;
        ASSERT(dc_err_from_code(&e, code));
        ASSERT_EQ(dc_err_class(e), DC_CLASS_WALLET);
    }
    ASSERT_EQ(dc_err_class(DC_ERR_STORE_BUSY), DC_CLASS_TRANSIENT);
    ASSERT_EQ(dc_err_class(DC_ERR_STORE_RETRY), DC_CLASS_TRANSIENT);
    ASSERT_EQ(dc_err_class(DC_ERR_INSUFFICIENT_FUNDS), DC_CLASS_REFUSED);
    ASSERT_EQ(dc_err_class(DC_ERR_BAD_SIGNATURE), DC_CLASS_REFUSED);
}

/* A self-labelled message signs and verifies; a message carrying the coin
 * record label, or no label at all, is refused both ways, so no signature
 * made through dc_sign_message can stand for a coin record's. */
static void test_message_signatures_never_cross_into_records(void)
{
    uint8_t seed[DC_SEED_BYTES], pk[DC_PUBKEY_BYTES], sk[DC_SECKEY_BYTES];
    uint8_t sig[DC_SIG_BYTES], zero[DC_SIG_BYTES] = {0};
    memset(seed, 0x42, sizeof seed);
    dc_keypair_from_seed(pk, sk, seed);
    static const uint8_t req[] = "DUCATREQ"
                                 "GET\n/v1/balance\n";
    ASSERT_OK(dc_sign_message(sig, req, sizeof req - 1, sk));
    ASSERT_OK(dc_sign_message_check(sig, req, sizeof req - 1, pk));
    uint8_t bad[sizeof req - 1];
    memcpy(bad, req, sizeof bad);
    bad[sizeof bad - 1] ^= 1;
    ASSERT_ERR(dc_sign_message_check(sig, bad, sizeof bad, pk), DC_ERR_BAD_SIGNATURE);

    static const uint8_t rec[] = "DUCATSIG"
                                 "\x11\x01 a record body";
    ASSERT_ERR(dc_sign_message(sig, rec, sizeof rec - 1, sk), DC_ERR_INVALID_ARGUMENT);
    ASSERT_MEM(sig, zero, DC_SIG_BYTES); /* no half-made signature left behind */
    ASSERT_ERR(dc_sign_message(sig, req, 7, sk), DC_ERR_INVALID_ARGUMENT); /* no label */
    /* a genuine Ed25519 signature over the record label is still refused */
    crypto_sign_ed25519_detached(sig, NULL, rec, sizeof rec - 1, sk);
    ASSERT_ERR(dc_sign_message_check(sig, rec, sizeof rec - 1, pk), DC_ERR_BAD_SIGNATURE);
}

/* The armor and API hashes went through crypto.c: the plain hash is plain
 * BLAKE2b-256 (libsodium's generic hash as the reference), and the
 * unlabelled incremental one matches it. */
static void test_plain_hashes(void)
{
    static const uint8_t msg[] = "ducat-armor then a header then a payload";
    uint8_t a[DC_HASH_BYTES], b[DC_HASH_BYTES], ref[DC_HASH_BYTES];
    crypto_generichash(ref, sizeof ref, msg, sizeof msg - 1, NULL, 0);
    dc_hash_plain(a, msg, sizeof msg - 1);
    ASSERT_MEM(a, ref, DC_HASH_BYTES);
    struct dc_hash h;
    dc_hash_init_plain(&h);
    dc_hash_update(&h, msg, 11);
    dc_hash_update(&h, msg + 11, sizeof msg - 1 - 11);
    dc_hash_final(&h, b);
    ASSERT_MEM(b, ref, DC_HASH_BYTES);
}

TESTS(T(test_every_row_has_a_class), T(test_classes_of_the_old_ranges),
      T(test_message_signatures_never_cross_into_records), T(test_plain_hashes))
