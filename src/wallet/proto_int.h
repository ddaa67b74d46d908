/*
 * proto_int.h - what proto.c shares with session.c (not installed): frame
 * building and the per-message-type reassembly step both the standalone
 * reassembler (struct dc_reasm) and the session engine use.
 */
#ifndef DUCAT_WALLET_PROTO_INT_H
#define DUCAT_WALLET_PROTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ducat/proto.h"

/* Checks the 6-byte header of a frame: known tag (DC_ERR_DECODE_TYPE),
 * 1 <= len <= 249, count >= 1, index < count (DC_ERR_DECODE_VALUE). */
enum dc_err dc_frame_header_check(const uint8_t h[static DC_FRAME_HEADER_BYTES]);

/* Builds frame `index` of msg with payloads of at most payload_max bytes
 * into out (DC_FRAME_MAX bytes); the caller has checked the arguments. */
size_t dc_frame_build(uint8_t out[static DC_FRAME_MAX], const uint8_t *msg, size_t msg_len,
                      size_t payload_max, size_t index);

/*
 * Applies one whole frame (header included) to the reassembly of one
 * message type. The message lives in slot[0..cap); *slot_len is 0 while the
 * message is incomplete (store mode) and its length once complete (compare
 * mode). *event (OUT) is DC_RX_NONE, DC_RX_COMPLETE or DC_RX_REPEAT. Nothing
 * changes when a frame is refused. Bounds are enforced even on a context
 * read back from disk: every write and compare stays inside slot[0..cap).
 */
enum dc_err dc_rx_frame(struct dc_rx *rx, int *event, uint8_t *slot, size_t cap, uint32_t *slot_len,
                        const uint8_t *frame, size_t len);

/* 16-bit little-endian helpers (the core's codec has 32/64). */
static inline uint16_t dc_load16_le(const uint8_t *q)
{
    return (uint16_t)(q[0] | q[1] << 8);
}

static inline void dc_store16_le(uint8_t *q, uint16_t v)
{
    q[0] = (uint8_t)v;
    q[1] = (uint8_t)(v >> 8);
}

#endif
