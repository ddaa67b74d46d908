/*
 * fuzz_coin.c - the coin decoder and the chain verifier on arbitrary bytes.
 * Properties: decoding never reads out of bounds; a decoded coin re-encodes
 * to exactly the input (one encoding per value); verification never
 * crashes and, when it succeeds, the final value is positive and the state
 * matches dc_coin_state.
 */
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct world W;
static int ready;
static struct dc_coin C;
static uint8_t again[DC_COIN_MAX_BYTES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        world_init(&W);
        ready = 1;
    }
    if (dc_coin_decode(&C, data, size) != DC_OK) return 0;
    /* canonical: rebuild from the views */
    size_t n = 0;
    memcpy(again, data, DC_COIN_HEADER_BYTES);
    n += DC_COIN_HEADER_BYTES;
    memcpy(again + n, C.genesis_bytes, DC_GENESIS_BYTES);
    n += DC_GENESIS_BYTES;
    for (size_t i = 0; i < C.n; i++) {
        memcpy(again + n, C.rec[i].bytes, C.rec[i].len);
        n += C.rec[i].len;
        if (C.rec[i].type == DC_TYPE_SPLIT) again[n++] = C.rec[i].u.split.part;
    }
    if (n != size || memcmp(again, data, size) != 0) abort();
    struct dc_verify_result res;
    struct dc_verify_opts o = {NULL, NULL, 1};
    if (dc_coin_verify(&res, &W.trust, &C, &o, NULL) == DC_OK) {
        uint8_t s[DC_HASH_BYTES];
        dc_coin_state(s, &C, C.n);
        if (res.value <= 0 || memcmp(s, res.state, DC_HASH_BYTES) != 0) abort();
        if (res.value != dc_coin_value(&C)) abort();
    }
    return 0;
}
