/*
 * fuzz_cert.c - keycert, devcert and keyreq decoders. Properties: exact
 * length, one encoding per value (re-encoding gives the input back), a
 * failed decode leaves a zeroed struct.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/coin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_keycert k;
    struct dc_devcert d;
    uint8_t again[DC_KEYCERT_BYTES];
    if (dc_keycert_decode(&k, data, size) == DC_OK) {
        if (size != DC_KEYCERT_BYTES) abort();
        dc_keycert_encode(again, &k);
        if (memcmp(again, data, size) != 0) abort();
    }
    if (dc_devcert_decode(&d, data, size) == DC_OK) {
        if (size != DC_DEVCERT_BYTES) abort();
        dc_devcert_encode(again, &d);
        if (memcmp(again, data, size) != 0) abort();
    } else {
        static const uint8_t zero[sizeof d] = {0};
        if (memcmp(&d, zero, sizeof d) != 0) abort();
    }
    if (dc_keyreq_decode_check(&k, data, size) == DC_OK && size != DC_KEYREQ_BYTES) abort();
    return 0;
}
