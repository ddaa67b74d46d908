/*
 * fuzz_evidence.c - the evidence verifier on arbitrary bytes. Property: it
 * never crashes, and whatever it accepts names a culprit whose key signed
 * a record in the package.
 */
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct world W;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        world_init(&W);
        ready = 1;
    }
    struct dc_evidence_info info;
    if (dc_evidence_verify(&info, W.master_pk, data, size) == DC_OK) {
        if (info.value <= 0 || info.type_a == 0 || info.type_b == 0) abort();
    } else {
        static const uint8_t zero[sizeof info] = {0};
        if (memcmp(&info, zero, sizeof info) != 0) abort(); /* no half-filled output */
    }
    return 0;
}
