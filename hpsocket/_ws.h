/*
 * WebSocket (RFC 6455) on HP-Socket's HTTP components: what the 5.2.2
 * library leaves to its caller.  It parses frame headers and hands over the
 * payload (OnWSMessageHeader / Body / Complete), and checks nothing else:
 * unmasked client frames, reserved bits, unknown opcodes, long or
 * fragmented control frames, fragments out of order, invalid UTF-8 and
 * frames of any length all reach the application.  Here, per connection and
 * without the GIL: the checks, reassembly of fragmented messages, UTF-8
 * validation as the bytes arrive (so that a bad sequence fails at once, not
 * at the end of a long message), the close handshake's bookkeeping, and the
 * frames hpsocket writes (server frames unmasked, client frames masked on a
 * copy).
 */
#ifndef HPSOCKET_WS_H
#define HPSOCKET_WS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_buf.h"

/* Opcodes. */
#define HPS_WS_CONT 0x0
#define HPS_WS_TEXT 0x1
#define HPS_WS_BINARY 0x2
#define HPS_WS_CLOSE 0x8
#define HPS_WS_PING 0x9
#define HPS_WS_PONG 0xA

/* Close codes hpsocket sends on its own. */
#define HPS_WS_NORMAL 1000
#define HPS_WS_GOING_AWAY 1001
#define HPS_WS_PROTOCOL_ERROR 1002
#define HPS_WS_NO_STATUS 1005      /* never on the wire: a Close without a code */
#define HPS_WS_ABNORMAL 1006       /* never on the wire: the connection ended without a Close */
#define HPS_WS_INVALID_DATA 1007
#define HPS_WS_TOO_BIG 1009
#define HPS_WS_INTERNAL_ERROR 1011

/* ------------------------------------------------------------------ */
/* UTF-8, checked incrementally                                          */

/* What the next bytes must be: `need` continuation bytes, the first of
 * them in [lo, hi] (which excludes overlong forms, surrogates and code
 * points above U+10FFFF, RFC 3629). */
typedef struct hps_utf8 {
    unsigned char need, lo, hi;
} hps_utf8;

static inline void hps_utf8_reset(hps_utf8 *u)
{
    u->need = 0;
    u->lo = 0x80;
    u->hi = 0xBF;
}

/* Feed n bytes; 0 as soon as they cannot be part of valid UTF-8. */
static inline int hps_utf8_feed(hps_utf8 *u, const unsigned char *p, size_t n)
{
    size_t i = 0;
    unsigned int need = u->need, lo = u->lo, hi = u->hi, c;
    while (i < n) {
        if (need == 0) {
            /* ASCII runs eight bytes at a time. */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            if (i >= n)
                break;
            c = p[i++];
            if (c < 0x80)
                continue;
            if (c < 0xC2)
                return 0;          /* a continuation byte, or an overlong 2-byte lead */
            if (c < 0xE0) {
                need = 1; lo = 0x80; hi = 0xBF;
            } else if (c < 0xF0) {
                need = 2;
                lo = c == 0xE0 ? 0xA0 : 0x80;      /* overlong */
                hi = c == 0xED ? 0x9F : 0xBF;      /* surrogates */
            } else if (c < 0xF5) {
                need = 3;
                lo = c == 0xF0 ? 0x90 : 0x80;      /* overlong */
                hi = c == 0xF4 ? 0x8F : 0xBF;      /* above U+10FFFF */
            } else {
                return 0;
            }
        } else {
            c = p[i++];
            if (c < lo || c > hi)
                return 0;
            need--;
            lo = 0x80;
            hi = 0xBF;
        }
    }
    u->need = (unsigned char)need;
    u->lo = (unsigned char)lo;
    u->hi = (unsigned char)hi;
    return 1;
}

/* Whether the bytes fed so far end on a character boundary. */
static inline int hps_utf8_complete(const hps_utf8 *u)
{
    return u->need == 0;
}

static inline int hps_utf8_valid(const unsigned char *p, size_t n)
{
    hps_utf8 u;
    hps_utf8_reset(&u);
    return hps_utf8_feed(&u, p, n) && hps_utf8_complete(&u);
}

/* ------------------------------------------------------------------ */
/* Frames hpsocket writes                                                 */

#define HPS_WS_HEAD_MAX 14

/* A frame's head (FIN set) for a payload of len bytes, masked with key if
 * key is not NULL; returns its length. */
static inline size_t hps_ws_head(unsigned char out[HPS_WS_HEAD_MAX], int opcode,
                                 uint64_t len, const unsigned char *key)
{
    size_t n = 2;
    out[0] = (unsigned char)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (unsigned char)len;
    } else if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        n = 4;
    } else {
        int i;
        out[1] = 127;
        for (i = 0; i < 8; i++)
            out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 10;
    }
    if (key != NULL) {
        out[1] |= 0x80;
        memcpy(out + n, key, 4);
        n += 4;
    }
    return n;
}

/* dst = src masked with key, starting at the key's byte offset % 4. */
static inline void hps_ws_mask(unsigned char *dst, const unsigned char *src, size_t n,
                               const unsigned char key[4], size_t offset)
{
    size_t i = 0;
    uint64_t k8;
    unsigned char rot[8];
    for (i = 0; i < 8; i++)
        rot[i] = key[(offset + i) & 3];
    memcpy(&k8, rot, 8);
    i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k8;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ rot[i & 7];
}

/* A Close frame's payload: the code (big-endian) and reason, at most 125
 * bytes in all (the reason is cut, on a character boundary, to fit). */
static inline size_t hps_ws_close_payload(unsigned char out[125], int code,
                                          const unsigned char *reason, size_t reason_len)
{
    if (code == 0 || code == HPS_WS_NO_STATUS)
        return 0;
    out[0] = (unsigned char)(code >> 8);
    out[1] = (unsigned char)code;
    if (reason_len > 123) {
        reason_len = 123;
        while (reason_len > 0 && (reason[reason_len] & 0xC0) == 0x80)
            reason_len--;
    }
    memcpy(out + 2, reason, reason_len);
    return 2 + reason_len;
}

/* Whether a peer may send this close code (RFC 6455 7.4, IANA registry). */
static inline int hps_ws_code_ok(int code)
{
    if (code >= 3000 && code <= 4999)
        return 1;
    switch (code) {
    case 1000: case 1001: case 1002: case 1003: case 1007: case 1008:
    case 1009: case 1010: case 1011: case 1012: case 1013: case 1014:
        return 1;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ */
/* Receiving: one connection's state                                      */

typedef struct hps_ws {
    unsigned long long seq;   /* the upgrade's request number: frames are pieces of its answer */
    uint64_t max_message;     /* bytes; a larger message fails with 1009 */
    int server;               /* 1: peers' frames must be masked; 0: must not be */
    /* The frame being received. */
    int opcode;
    int fin;
    /* The data message being assembled (opcode 1 or 2; 0 between messages). */
    int msg_opcode;
    hps_buf msg;
    hps_utf8 utf8;
    hps_buf ctl;              /* a control frame's payload */
    int failed;               /* a close code: the connection is failing, the rest is ignored */
    int close_received;
    /* Keep-alive and closing, in milliseconds of hps_now_ms. */
    unsigned long long last_rx_ms, ping_sent_ms, close_sent_ms;
    unsigned long long last_msg_ms;   /* the last whole data message */
    int close_code;           /* of the peer's Close, for on_ws_close */
    int reported;             /* on_ws_close was called */
    int batched;              /* server: this frame came in the same read as the
                                 previous one (hps_http_follows): what answers it
                                 joins the library's queue, one write for all */
} hps_ws;

static inline hps_ws *hps_ws_new(int server, unsigned long long seq, uint64_t max_message)
{
    hps_ws *ws = (hps_ws *)calloc(1, sizeof(hps_ws));
    if (ws == NULL)
        return NULL;
    ws->server = server;
    ws->seq = seq;
    ws->max_message = max_message;
    hps_utf8_reset(&ws->utf8);
    return ws;
}

static inline void hps_ws_free(hps_ws *ws)
{
    if (ws == NULL)
        return;
    hps_buf_free(&ws->msg);
    hps_buf_free(&ws->ctl);
    free(ws);
}

static inline int hps_ws_fail(hps_ws *ws, int code)
{
    if (!ws->failed)
        ws->failed = code;
    return ws->failed;
}

/* A frame's head (OnWSMessageHeader); returns a close code if the frame
 * breaks the protocol, else 0. */
static inline int hps_ws_frame_begin(hps_ws *ws, int fin, int rsv, int opcode,
                                     const unsigned char *mask, uint64_t len)
{
    if (ws->failed)
        return ws->failed;
    if ((mask != NULL) != (ws->server != 0) || rsv != 0)
        return hps_ws_fail(ws, HPS_WS_PROTOCOL_ERROR);
    ws->opcode = opcode;
    ws->fin = fin;
    switch (opcode) {
    case HPS_WS_CONT:
        if (ws->msg_opcode == 0)
            return hps_ws_fail(ws, HPS_WS_PROTOCOL_ERROR);
        break;
    case HPS_WS_TEXT:
    case HPS_WS_BINARY:
        if (ws->msg_opcode != 0)
            return hps_ws_fail(ws, HPS_WS_PROTOCOL_ERROR);
        ws->msg_opcode = opcode;
        hps_utf8_reset(&ws->utf8);
        break;
    case HPS_WS_CLOSE:
    case HPS_WS_PING:
    case HPS_WS_PONG:
        if (!fin || len > 125)
            return hps_ws_fail(ws, HPS_WS_PROTOCOL_ERROR);
        hps_buf_consume(&ws->ctl, hps_buf_len(&ws->ctl));
        return 0;
    default:
        return hps_ws_fail(ws, HPS_WS_PROTOCOL_ERROR);
    }
    if (len > ws->max_message || hps_buf_len(&ws->msg) + len > ws->max_message)
        return hps_ws_fail(ws, HPS_WS_TOO_BIG);
    return 0;
}

/* A piece of the frame's payload (unmasked); returns a close code or 0. */
static inline int hps_ws_frame_data(hps_ws *ws, const unsigned char *p, size_t n)
{
    if (ws->failed)
        return ws->failed;
    if (ws->opcode >= HPS_WS_CLOSE) {
        if (hps_buf_append(&ws->ctl, p, (int)n) < 0)
            return hps_ws_fail(ws, HPS_WS_INTERNAL_ERROR);
        return 0;
    }
    if (ws->msg_opcode == HPS_WS_TEXT && !hps_utf8_feed(&ws->utf8, p, n))
        return hps_ws_fail(ws, HPS_WS_INVALID_DATA);
    if (n > (size_t)INT32_MAX || hps_buf_append(&ws->msg, p, (int)n) < 0)
        return hps_ws_fail(ws, HPS_WS_TOO_BIG);
    return 0;
}

/* What the end of a frame (OnWSMessageComplete) completes. */
#define HPS_WS_NOTHING 0          /* a fragment of a message */
#define HPS_WS_MESSAGE 1          /* a whole data message: msg_opcode, msg */
#define HPS_WS_GOT_PING 2         /* ctl holds its payload */
#define HPS_WS_GOT_PONG 3
#define HPS_WS_GOT_CLOSE 4        /* close_code and the reason in ctl from byte 2 */
#define HPS_WS_FAILED 5           /* failed holds the close code to send */

static inline int hps_ws_frame_end(hps_ws *ws)
{
    if (ws->failed)
        return HPS_WS_FAILED;
    switch (ws->opcode) {
    case HPS_WS_PING:
        return HPS_WS_GOT_PING;
    case HPS_WS_PONG:
        return HPS_WS_GOT_PONG;
    case HPS_WS_CLOSE: {
        size_t n = hps_buf_len(&ws->ctl);
        const unsigned char *p = hps_buf_data(&ws->ctl);
        if (n == 0) {
            ws->close_code = HPS_WS_NO_STATUS;
        } else if (n == 1) {
            hps_ws_fail(ws, HPS_WS_PROTOCOL_ERROR);
            return HPS_WS_FAILED;
        } else {
            ws->close_code = (p[0] << 8) | p[1];
            if (!hps_ws_code_ok(ws->close_code)) {
                hps_ws_fail(ws, HPS_WS_PROTOCOL_ERROR);
                return HPS_WS_FAILED;
            }
            if (!hps_utf8_valid(p + 2, n - 2)) {
                hps_ws_fail(ws, HPS_WS_INVALID_DATA);
                return HPS_WS_FAILED;
            }
        }
        ws->close_received = 1;
        return HPS_WS_GOT_CLOSE;
    }
    default:
        if (!ws->fin)
            return HPS_WS_NOTHING;
        if (ws->msg_opcode == HPS_WS_TEXT && !hps_utf8_complete(&ws->utf8)) {
            hps_ws_fail(ws, HPS_WS_INVALID_DATA);
            return HPS_WS_FAILED;
        }
        return HPS_WS_MESSAGE;
    }
}

/* After a whole message was taken: ready for the next. */
static inline void hps_ws_message_taken(hps_ws *ws)
{
    ws->msg_opcode = 0;
    hps_buf_consume(&ws->msg, hps_buf_len(&ws->msg));
}

#endif /* HPSOCKET_WS_H */
