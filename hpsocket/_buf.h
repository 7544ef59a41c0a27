/*
 * _buf.h - a growable byte buffer: append at the tail, take or drop at the
 * head.  Holds the pull model's unfetched bytes and the start of a pack
 * that is not complete yet.  Not locked: its owner decides (see _ctx.h).
 */
#ifndef HPSOCKET_BUF_H
#define HPSOCKET_BUF_H

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The live bytes are buf[head:tail]. */
typedef struct hps_buf {
    unsigned char *buf;
    size_t head, tail, cap;
} hps_buf;

static inline size_t hps_buf_len(const hps_buf *b)
{
    return b->tail - b->head;
}

/* The first live byte (valid until the buffer changes). */
static inline const unsigned char *hps_buf_data(const hps_buf *b)
{
    return b->buf != NULL ? b->buf + b->head : (const unsigned char *)"";
}

static inline void hps_buf_free(hps_buf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->head = b->tail = b->cap = 0;
}

/* Append n bytes: the bytes now buffered, or -1 if that cannot be done (out
 * of memory, or more than INT_MAX bytes would be buffered). */
static inline long hps_buf_append(hps_buf *b, const unsigned char *p, int n)
{
    size_t live = b->tail - b->head;
    if (n <= 0)
        return (long)live;
    if (live + (size_t)n > (size_t)INT_MAX)
        return -1;
    if (b->cap - b->tail < (size_t)n) {
        /* Either way at least half the buffer is free afterwards, so the
         * copying costs O(1) per byte appended. */
        if (live + (size_t)n <= b->cap / 2) {
            memmove(b->buf, b->buf + b->head, live);
        } else {
            size_t cap = b->cap ? b->cap : 4096;
            unsigned char *nb;
            while (cap < 2 * (live + (size_t)n))
                cap *= 2;
            nb = (unsigned char *)malloc(cap);
            if (nb == NULL)
                return -1;
            if (live)
                memcpy(nb, b->buf + b->head, live);
            free(b->buf);
            b->buf = nb;
            b->cap = cap;
        }
        b->head = 0;
        b->tail = live;
    }
    memcpy(b->buf + b->tail, p, (size_t)n);
    b->tail += (size_t)n;
    return (long)(b->tail - b->head);
}

/* Drop n buffered bytes (n <= what is buffered). */
static inline void hps_buf_consume(hps_buf *b, size_t n)
{
    b->head += n;
    if (b->head == b->tail) {
        b->head = b->tail = 0;
        if (b->cap > 65536)   /* a burst is over: give its memory back */
            hps_buf_free(b);
    }
}

/* Copy n buffered bytes out (and drop them unless peek): 1, or 0 if fewer
 * than n are buffered. */
static inline int hps_buf_take(hps_buf *b, unsigned char *out, int n, int peek)
{
    if (n < 0 || b->tail - b->head < (size_t)n)
        return 0;
    memcpy(out, b->buf + b->head, (size_t)n);
    if (!peek)
        hps_buf_consume(b, (size_t)n);
    return 1;
}

#endif /* HPSOCKET_BUF_H */
