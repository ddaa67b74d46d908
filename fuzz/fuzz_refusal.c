/*
 * fuzz_refusal.c - the REFUSAL decoder (include/ducat/refusal.h).
 * Properties: exact length, one encoding per value (re-encoding gives the
 * input back), a failed decode leaves a zeroed struct, and a decoded
 * refusal checked against any key never crashes.
 */
#include <stdlib.h>
#include <string.h>

#include "ducat/refusal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dc_refusal r;
    uint8_t again[DC_REFUSAL_BYTES];
    if (dc_refusal_decode(&r, data, size) == DC_OK) {
        if (size != DC_REFUSAL_BYTES) abort();
        dc_refusal_encode(again, &r);
        if (memcmp(again, data, size) != 0) abort();
        /* the signature over its own first 32 bytes as a key: must answer, not crash */
        enum dc_err e = dc_refusal_check(&r, data);
        if (e != DC_OK && e != DC_ERR_BAD_SIGNATURE) abort();
    } else {
        static const uint8_t zero[sizeof r] = {0};
        if (memcmp(&r, zero, sizeof r) != 0) abort();
    }
    return 0;
}
