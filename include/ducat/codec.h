/*
 * codec.h - bounded little-endian reader and writer for the canonical wire
 * encoding. Public: the core's decoders, the wallet's file and offline
 * frames and the server's deposit receipt all use it (one codec, not three).
 *
 * The reader never reads past its length: a short read sets `err` once and
 * every later read yields zeroes, so a decoder can read a whole structure
 * and check `r.err` at the end (one exit path, no half-checked fields). The
 * writer is the mirror image: it never writes past `cap` and remembers that
 * it ran out. No struct is ever cast onto bytes (Monocypher style).
 */
#ifndef DUCAT_CODEC_H
#define DUCAT_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ducat/err.h"

struct dc_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    enum dc_err err; /* first error, DC_OK while all reads fit */
};

struct dc_writer {
    uint8_t *p;
    size_t cap;
    size_t len;
    int overflow; /* set once a write did not fit */
};

static inline void dc_reader_init(struct dc_reader *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->err = DC_OK;
}

/* Returns a pointer to the next n bytes and advances, or NULL on shortage. */
static inline const uint8_t *dc_read_bytes(struct dc_reader *r, size_t n)
{
    if (r->err != DC_OK || n > r->len - r->pos) {
        if (r->err == DC_OK) r->err = DC_ERR_DECODE_TRUNCATED;
        return NULL;
    }
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    return q;
}

static inline void dc_read_copy(struct dc_reader *r, uint8_t *out, size_t n)
{
    const uint8_t *q = dc_read_bytes(r, n);
    if (q) {
        memcpy(out, q, n);
    } else {
        memset(out, 0, n);
    }
}

static inline uint8_t dc_read_u8(struct dc_reader *r)
{
    const uint8_t *q = dc_read_bytes(r, 1);
    return q ? q[0] : 0;
}

static inline uint32_t dc_load32_le(const uint8_t *q)
{
    return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}

static inline uint64_t dc_load64_le(const uint8_t *q)
{
    return (uint64_t)dc_load32_le(q) | (uint64_t)dc_load32_le(q + 4) << 32;
}

static inline void dc_store32_le(uint8_t *q, uint32_t v)
{
    q[0] = (uint8_t)v;
    q[1] = (uint8_t)(v >> 8);
    q[2] = (uint8_t)(v >> 16);
    q[3] = (uint8_t)(v >> 24);
}

static inline void dc_store64_le(uint8_t *q, uint64_t v)
{
    dc_store32_le(q, (uint32_t)v);
    dc_store32_le(q + 4, (uint32_t)(v >> 32));
}

static inline uint32_t dc_read_u32(struct dc_reader *r)
{
    const uint8_t *q = dc_read_bytes(r, 4);
    return q ? dc_load32_le(q) : 0;
}

static inline uint64_t dc_read_u64(struct dc_reader *r)
{
    const uint8_t *q = dc_read_bytes(r, 8);
    return q ? dc_load64_le(q) : 0;
}

/* Two's complement reinterpretation, defined behaviour in both directions. */
static inline int64_t dc_u64_to_i64(uint64_t v)
{
    return v <= (uint64_t)INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

static inline uint64_t dc_i64_to_u64(int64_t v)
{
    return v >= 0 ? (uint64_t)v : ~(uint64_t)(-(v + 1));
}

static inline int64_t dc_read_i64(struct dc_reader *r)
{
    return dc_u64_to_i64(dc_read_u64(r));
}

/* Marks a semantic error (first one wins). */
static inline void dc_reader_fail(struct dc_reader *r, enum dc_err e)
{
    if (r->err == DC_OK) r->err = e;
}

/* DC_OK if everything was read and nothing is left over. */
static inline enum dc_err dc_reader_finish(const struct dc_reader *r)
{
    if (r->err != DC_OK) return r->err;
    return r->pos == r->len ? DC_OK : DC_ERR_DECODE_TRAILING;
}

static inline void dc_writer_init(struct dc_writer *w, uint8_t *p, size_t cap)
{
    w->p = p;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
}

static inline uint8_t *dc_write_reserve(struct dc_writer *w, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        w->len += n; /* keep counting: tells the caller the size needed */
        return NULL;
    }
    uint8_t *q = w->p + w->len;
    w->len += n;
    return q;
}

static inline void dc_write_bytes(struct dc_writer *w, const uint8_t *b, size_t n)
{
    uint8_t *q = dc_write_reserve(w, n);
    if (q && n) memcpy(q, b, n);
}

static inline void dc_write_u8(struct dc_writer *w, uint8_t v)
{
    dc_write_bytes(w, &v, 1);
}

static inline void dc_write_u32(struct dc_writer *w, uint32_t v)
{
    uint8_t *q = dc_write_reserve(w, 4);
    if (q) dc_store32_le(q, v);
}

static inline void dc_write_u64(struct dc_writer *w, uint64_t v)
{
    uint8_t *q = dc_write_reserve(w, 8);
    if (q) dc_store64_le(q, v);
}

static inline void dc_write_i64(struct dc_writer *w, int64_t v)
{
    dc_write_u64(w, dc_i64_to_u64(v));
}

#endif
