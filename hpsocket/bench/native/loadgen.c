/*
 * loadgen.c - echo load generator for the hpsocket benchmark.
 *
 *   loadgen --host H --port P [--connections N] [--size BYTES]
 *           [--duration S] [--pipeline K] [--mode raw|pack|ws|ws-broadcast]
 *           [--pack-flag F] [--path /P] [--warmup S] [--connect-timeout S]
 *           [--marks] [--json]
 *
 * Opens N TCP connections to an echo server and keeps K messages of SIZE
 * bytes in flight on each (K = 1 is ping-pong), from one thread with epoll.
 * Every message's bytes are a pseudo-random stream seeded by (connection,
 * message number), so every echoed byte is checked against what was sent.
 * A message counts once all of its echoed bytes have arrived; its latency
 * runs from when its first byte was queued for sending to when its last
 * echoed byte was read.
 *
 * In pack mode each message is framed as HP-Socket's Pack model frames it:
 * a 4-byte header, a little-endian uint32 whose top 10 bits are the flag and
 * low 22 bits the body length, then the body.  The server echoes the body
 * and its library frames it again, so header and body are both checked.
 *
 * In ws mode every connection is a WebSocket (RFC 6455).  It first sends
 * the opening handshake (GET --path, default /ws, with a Sec-WebSocket-Key
 * of its own) and checks the answer: status 101, Upgrade: websocket,
 * Connection: Upgrade, the Sec-WebSocket-Accept the key calls for, and no
 * extension (none is offered).  A message is then one binary frame as a
 * client must send it: FIN and opcode 2, the length in 1, 3 or 9 bytes with
 * the mask bit set, a 4-byte masking key (fixed, non-zero) and the masked
 * body.  The echo must come back as one unmasked binary frame: its head is
 * known in advance and checked byte for byte like the pack header, then the
 * body.  The handshake counts in connect_s; a wrong answer is a
 * handshake error.  At the end each connection finishes the message it is
 * sending, sends a Close (1000) and reads on until the server closes; a
 * Close from the server before that is an error, as is any other frame.
 *
 * ws-broadcast mode measures one message sent to many: N connections to
 * --path (default /broadcast), where the server sends every message it
 * receives to every connection on that path.  Before a connection counts as
 * established the server must send it the text message "ready" (it is then
 * registered as a receiver, however the server schedules its work).
 * Connection 0 sends; every connection, the sender included, receives; K
 * broadcasts are in flight at most.  The body of broadcast n is the stream
 * seeded by (0, n), so a receiver that misses, repeats or reorders one fails
 * on its first byte.  A broadcast counts once every receiver has it: its
 * latency runs from its send to the last receiver's read; deliveries count
 * each receiver's copy.
 *
 * After --warmup seconds the counters are reset and the run is measured for
 * --duration seconds.  With --marks the lines "MARK start" and "MARK end"
 * go to stdout as the measured window opens and closes, so that a driver
 * can sample the server's CPU time over exactly that window.  One JSON
 * object goes to stdout last (a readable summary also goes to stderr
 * unless --json is given):
 *
 *   messages, messages_per_s, mb_per_s (echoed bytes received, headers
 *   included, in 10^6 bytes per second), p50_us, p99_us, p999_us (null
 *   when nothing was measured), errors (= mismatches + io_errors +
 *   connect_errors + handshake_errors), connections, size, pipeline,
 *   duration_s (measured), plus mode, bytes, mismatches, io_errors,
 *   connect_errors, handshake_errors, warmup_s and connect_s (time taken to
 *   establish the connections); in ws-broadcast mode also receivers,
 *   deliveries and deliveries_per_s (messages there are broadcasts).
 *
 * Errors are counted over the whole run, warm-up included.  Exit status:
 * 0 if every connection was established and ran without an error; 1 if any
 * error was counted (a mismatch, a reset or early close, a failed connect
 * or handshake) or no message at all completed in the window; 2 on bad
 * usage or when no connection could be made.
 * Connects (and handshakes) are bounded by --connect-timeout, the traffic
 * phase by the clock, the closing drain (echoes still in flight are read
 * and checked after a half-close, or a Close in ws modes) by one second,
 * and a watchdog alarm ends the process if all of that fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PACK_MAX_BODY 0x3FFFFFu         /* 22 bits of body length */
#define PACK_MAX_FLAG 0x3FFu            /* 10 bits of flag */
#define RECV_CHUNK    (256 * 1024)      /* bytes per recv() */
#define OUT_CAP_MAX   (64 * 1024)       /* per-connection send buffer, at most */
#define MAX_EVENTS    256
#define MAX_ERROR_LOG 10                /* error lines printed to stderr */
#define DRAIN_LIMIT_S 1.0               /* bound on the graceful close */
#define WS_REQ_MAX    2048              /* the opening handshake's request, at most */
#define WS_ANSWER_MAX 4096              /* the server's answer to it, at most */
#define WS_PATH_MAX   1024

enum mode { M_RAW, M_PACK, M_WS, M_WS_BROADCAST };
static const char *const mode_names[] = { "raw", "pack", "ws", "ws-broadcast" };

/* ------------------------------------------------------------------ */
/* Settings and counters                                                */

static struct {
    const char *host;
    const char *port;
    long connections;
    long size;
    long pipeline;
    enum mode mode;
    long pack_flag;
    const char *path;                   /* ws modes; NULL: the mode's default */
    double duration;
    double warmup;
    double connect_timeout;
    int marks;
    int json_only;
} opt = {
    .host = "127.0.0.1", .port = NULL, .connections = 1, .size = 64,
    .pipeline = 1, .mode = M_RAW, .pack_flag = 0, .path = NULL, .duration = 5.0,
    .warmup = 1.0, .connect_timeout = 5.0, .marks = 0, .json_only = 0,
};

static int ws;                          /* a WebSocket mode */
static int broadcast;                   /* ws-broadcast */

/*
 * What goes before each message's body on the wire, and what must come
 * back before its echo: nothing in raw mode, the same pack header both
 * ways in pack mode, a client frame head (masking key included) out and a
 * server frame head back in ws modes.  All are the same for every message.
 */
static size_t tx_hdr_len, rx_hdr_len;
static size_t tx_len, rx_len;           /* header + size: a message's bytes each way */
static uint8_t tx_hdr[14], rx_hdr[10];

/* A real key, so that a server that forgets to unmask echoes garbage. */
static const uint8_t ws_mask[4] = { 0x37, 0xFA, 0x21, 0x3D };

/* XORs n bytes of a body, starting at its byte `at`, with the masking key:
 * 8 bytes at a time (the key repeated, turned to start at `at`). */
static void ws_apply_mask(uint8_t *p, size_t n, size_t at)
{
    uint8_t key8[8];
    uint64_t key, v;
    size_t i = 0;

    for (int k = 0; k < 8; k++)
        key8[k] = ws_mask[(at + (size_t)k) & 3];
    memcpy(&key, key8, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        v ^= key;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++)
        p[i] ^= ws_mask[(at + i) & 3];
}

/* Our Close: FIN + opcode 8, masked, 2 bytes of body: 1000, masked. */
static const uint8_t ws_close_frame[8] = {
    0x88, 0x82, 0x37, 0xFA, 0x21, 0x3D, 0x03 ^ 0x37, 0xE8 ^ 0xFA,
};

/* What a ws-broadcast server sends each connection once it is registered. */
static const uint8_t ws_ready_frame[7] = { 0x81, 0x05, 'r', 'e', 'a', 'd', 'y' };

#define WS_OP_CLOSE_HEAD 0x88           /* FIN + Close: the first byte of a Close */

static struct {
    uint64_t messages;                  /* completed inside the window */
    uint64_t bytes;                     /* received inside the window */
    uint64_t deliveries;                /* ws-broadcast: copies received inside the window */
    uint64_t mismatches;
    uint64_t io_errors;                 /* resets, early closes, socket errors */
    uint64_t connect_errors;            /* refused, failed or timed-out connects */
    uint64_t handshake_errors;          /* ws: wrong or missing answers to the handshake */
} stats;

static unsigned error_lines;
static double connect_s;                /* time taken to establish the connections */

static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_error(const char *fmt, ...)
{
    va_list ap;

    if (error_lines++ >= MAX_ERROR_LOG) {
        if (error_lines == MAX_ERROR_LOG + 1)
            fprintf(stderr, "loadgen: (further errors not shown)\n");
        return;
    }
    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Payload: xorshift64* bytes, seeded per (connection, message)         */

typedef struct {
    uint64_t s;         /* generator state, never 0 */
    uint64_t word;      /* remaining bytes of the last output, low byte next */
    unsigned left;      /* how many bytes of `word` are still unused */
} prng_t;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15u;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
    return x ^ (x >> 31);
}

static void prng_seed(prng_t *g, uint32_t conn, uint64_t seq)
{
    g->s = splitmix64(((uint64_t)conn << 40) ^ seq);
    if (g->s == 0)
        g->s = 0x2545F4914F6CDD1Du;
    g->left = 0;
    g->word = 0;
}

static inline uint64_t prng_next(prng_t *g)
{
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return g->s * 0x2545F4914F6CDD1Du;
}

/*
 * Writes the next n bytes of the stream.  Each 64-bit output is emitted low
 * byte first whatever the host's byte order, so the stream does not depend
 * on how it is cut into calls (sender and checker cut it differently).
 */
static void prng_fill(prng_t *g, uint8_t *dst, size_t n)
{
    while (n > 0 && g->left > 0) {
        *dst++ = (uint8_t)g->word;
        g->word >>= 8;
        g->left--;
        n--;
    }
    while (n >= 8) {
        uint64_t w = prng_next(g);

        /* One 8-byte store where that is the same byte order: three times
         * the speed of the byte loop, which 16 KiB messages notice. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(dst, &w, 8);
#else
        for (int i = 0; i < 8; i++)
            dst[i] = (uint8_t)(w >> (8 * i));
#endif
        dst += 8;
        n -= 8;
    }
    if (n > 0) {
        g->word = prng_next(g);
        g->left = 8;
        while (n > 0) {
            *dst++ = (uint8_t)g->word;
            g->word >>= 8;
            g->left--;
            n--;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear, 128 sub-buckets per power of two      */
/* (under 0.8% relative error), values in nanoseconds.                  */

#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

static uint64_t hist[HIST_BUCKETS];

static unsigned hist_index(uint64_t v)
{
    unsigned e;

    if (v < HIST_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);     /* e >= HIST_SUB_BITS */
    return (e - HIST_SUB_BITS + 1) * HIST_SUB
         + (unsigned)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

/* Midpoint of a bucket's value range. */
static double hist_value(unsigned idx)
{
    unsigned e, shift;
    uint64_t low;

    if (idx < HIST_SUB)
        return (double)idx;
    e = idx / HIST_SUB + HIST_SUB_BITS - 1;
    shift = e - HIST_SUB_BITS;
    low = (uint64_t)(idx % HIST_SUB + HIST_SUB) << shift;
    return (double)low + (double)(((uint64_t)1 << shift) - 1) / 2.0;
}

/* The value at quantile q (0 < q <= 1), or -1 when the histogram is empty. */
static double hist_quantile(double q)
{
    uint64_t total = 0, rank, seen = 0;

    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        total += hist[i];
    if (total == 0)
        return -1.0;
    rank = (uint64_t)(q * (double)total);
    if ((double)rank < q * (double)total)
        rank++;                         /* ceil */
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return hist_value(HIST_BUCKETS - 1);
}

/* ------------------------------------------------------------------ */
/* WebSocket handshake: SHA-1 (FIPS 180-4) and base64 (RFC 4648), for  */
/* Sec-WebSocket-Accept = base64(SHA-1(key + GUID)), RFC 6455 4.2.2.   */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1(const uint8_t *msg, size_t len, uint8_t digest[20])
{
    uint32_t h[5] = { 0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u };
    uint64_t bits = (uint64_t)len * 8;
    /* The message, 0x80, zeros, then the bit length (big-endian) in the
     * last 8 bytes of a whole number of 64-byte blocks. */
    size_t total = ((len + 8) / 64 + 1) * 64;

    for (size_t off = 0; off < total; off += 64) {
        uint8_t block[64];
        uint32_t w[80], a, b, c, d, e;

        for (size_t i = 0; i < 64; i++) {
            size_t p = off + i;

            block[i] = p < len ? msg[p] : p == len ? 0x80 : 0;
        }
        if (off + 64 == total) {
            for (int i = 0; i < 8; i++)
                block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
        }
        for (int t = 0; t < 16; t++)
            w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16
                 | (uint32_t)block[4 * t + 2] << 8 | (uint32_t)block[4 * t + 3];
        for (int t = 16; t < 80; t++)
            w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
        a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
        for (int t = 0; t < 80; t++) {
            uint32_t f, k, tmp;

            if (t < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999u;
            } else if (t < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1u;
            } else if (t < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDCu;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6u;
            }
            tmp = rol32(a, 5) + f + e + k + w[t];
            e = d;
            d = c;
            c = rol32(b, 30);
            b = a;
            a = tmp;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    for (int i = 0; i < 5; i++) {
        digest[4 * i] = (uint8_t)(h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)h[i];
    }
}

/* Writes base64 of src (with padding) and a NUL: 4 * ceil(n / 3) + 1 bytes. */
static void base64(const uint8_t *src, size_t n, char *dst)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)src[i + 1] << 8;
        if (i + 2 < n)
            v |= src[i + 2];
        *dst++ = abc[v >> 18];
        *dst++ = abc[(v >> 12) & 63];
        *dst++ = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        *dst++ = i + 2 < n ? abc[v & 63] : '=';
    }
    *dst = '\0';
}

/* The Sec-WebSocket-Accept that answers a Sec-WebSocket-Key (29 bytes). */
static void ws_accept(const char *key, char accept[29])
{
    uint8_t buf[64 + sizeof ws_guid], digest[20];
    size_t n = strlen(key);

    memcpy(buf, key, n);
    memcpy(buf + n, ws_guid, sizeof ws_guid - 1);
    sha1(buf, n + sizeof ws_guid - 1, digest);
    base64(digest, sizeof digest, accept);
}

/* Connection i's Sec-WebSocket-Key: 16 bytes of its own, base64 (25 bytes). */
static void ws_key(uint32_t conn, char key[25])
{
    uint8_t raw[16];
    uint64_t a = splitmix64(0x5753u ^ ((uint64_t)conn << 1)), b = splitmix64(a);

    for (int i = 0; i < 8; i++) {
        raw[i] = (uint8_t)(a >> (8 * i));
        raw[8 + i] = (uint8_t)(b >> (8 * i));
    }
    base64(raw, sizeof raw, key);
}

/* A frame head as sent for a body of n bytes: FIN + opcode 2, then the
 * length in 1, 3 or 9 bytes, then (masked) the key.  Returns its length. */
static size_t ws_head(uint8_t *dst, uint64_t n, int masked)
{
    size_t len = 2;

    dst[0] = 0x82;
    if (n < 126) {
        dst[1] = (uint8_t)n;
    } else if (n <= 0xFFFF) {
        dst[1] = 126;
        dst[2] = (uint8_t)(n >> 8);
        dst[3] = (uint8_t)n;
        len = 4;
    } else {
        dst[1] = 127;
        for (int i = 0; i < 8; i++)
            dst[2 + i] = (uint8_t)(n >> (56 - 8 * i));
        len = 10;
    }
    if (masked) {
        dst[1] |= 0x80;
        memcpy(dst + len, ws_mask, 4);
        len += 4;
    }
    return len;
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */

enum conn_state { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD };

typedef struct {
    int fd;
    uint32_t idx;
    enum conn_state state;
    int want_out;           /* EPOLLOUT is in the interest set */

    /* sending: message tx_seq - 1 is being queued while tx_off < tx_len */
    uint64_t tx_seq;        /* messages started so far */
    size_t tx_off;
    prng_t tx_gen;
    uint8_t *out;           /* queued bytes are out[out_head, out_tail) */
    size_t out_head, out_tail;

    /* receiving: message rx_seq is being checked, rx_off bytes so far */
    uint64_t rx_seq;
    size_t rx_off;
    prng_t rx_gen;

    uint64_t *stamp;        /* send time of message seq at [seq % pipeline] */

    /* ws modes */
    char *answer;           /* the handshake's answer so far (C_HANDSHAKE only) */
    size_t answer_len;
    int answer_ok;          /* its head has been checked */
    int close_queued;       /* our Close is queued: nothing follows it */
    int peer_closing;       /* the server's Close arrived while draining */
} conn_t;

static conn_t *conns;
static size_t out_cap;
static int epfd;
static long open_conns;
static uint8_t *recv_buf, *expect_buf;

/* Measurement window: messages completing in [win_start, win_end). */
static uint64_t win_start, win_end;

/* Set once the window is over: no more messages are started, and the
 * server closing (or resetting) a connection is the expected end rather
 * than an error. */
static int draining;

/*
 * ws-broadcast: broadcast seq is in flight at [seq % pipeline] of these
 * until every receiver has it.  Each receiver reads broadcasts in order, so
 * they complete in order, and bc_done is also the next one to complete.
 */
static uint64_t *bc_stamp;      /* when it was queued */
static long *bc_left;           /* receivers still waiting for it */
static uint64_t bc_done;        /* broadcasts every receiver has */

/* Messages sent (or being sent) that c is to receive. */
static uint64_t sent_to(const conn_t *c)
{
    return broadcast ? conns[0].tx_seq : c->tx_seq;
}

/* The connection whose stream seeds the bytes c receives and sends. */
static uint32_t seed_of(const conn_t *c)
{
    return broadcast ? 0 : c->idx;
}

static void bc_delivered(uint64_t seq, uint64_t now)
{
    if (--bc_left[seq % (uint64_t)opt.pipeline] > 0)
        return;
    if (now >= win_start && now < win_end) {
        uint64_t sent = bc_stamp[seq % (uint64_t)opt.pipeline];

        stats.messages++;
        hist[hist_index(now > sent ? now - sent : 0)]++;
    }
    bc_done++;
}

/* A receiver is gone: the broadcasts it still waited for wait no more,
 * so that the others' can complete (the run has failed anyway). */
static void bc_forget(const conn_t *c)
{
    uint64_t now = now_ns();

    for (uint64_t seq = c->rx_seq; seq < conns[0].tx_seq; seq++)
        bc_delivered(seq, now);
}

static void conn_close(conn_t *c)
{
    if (c->state != C_DEAD) {
        if (c->state == C_OPEN) {
            open_conns--;
            if (broadcast)
                bc_forget(c);
        }
        close(c->fd);           /* also leaves the epoll set */
        c->fd = -1;
        c->state = C_DEAD;
        free(c->answer);
        c->answer = NULL;
    }
}

static void conn_io_error(conn_t *c, const char *what, int err)
{
    stats.io_errors++;
    if (err)
        log_error("connection %u: %s: %s", c->idx, what, strerror(err));
    else
        log_error("connection %u: %s", c->idx, what);
    conn_close(c);
}

static int socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return errno;
    return err;
}

static void set_out_interest(conn_t *c, int want)
{
    struct epoll_event ev;

    if (c->want_out == want)
        return;
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
    ev.data.u32 = c->idx;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        conn_io_error(c, "epoll_ctl", errno);
        return;
    }
    c->want_out = want;
}

/* Whether c may start another message now. */
static int may_start(const conn_t *c)
{
    if (broadcast)
        return c->idx == 0 && c->tx_seq - bc_done < (uint64_t)opt.pipeline;
    return c->tx_seq - c->rx_seq < (uint64_t)opt.pipeline;
}

/* Queues message bytes while the buffer has room and fewer than
 * `pipeline` messages are in flight.  While draining (ws modes only) the
 * message under way is finished and our Close follows it. */
static void fill_out(conn_t *c, uint64_t now)
{
    if (c->out_head == c->out_tail) {
        c->out_head = c->out_tail = 0;
    } else if (c->out_head > 0) {
        memmove(c->out, c->out + c->out_head, c->out_tail - c->out_head);
        c->out_tail -= c->out_head;
        c->out_head = 0;
    }

    while (c->out_tail < out_cap) {
        size_t n, space = out_cap - c->out_tail;
        uint8_t *dst = c->out + c->out_tail;

        if (c->tx_off == tx_len) {
            if (draining) {
                if (!c->close_queued && space >= sizeof ws_close_frame) {
                    memcpy(dst, ws_close_frame, sizeof ws_close_frame);
                    c->out_tail += sizeof ws_close_frame;
                    c->close_queued = 1;
                }
                break;
            }
            if (!may_start(c))
                break;
            if (broadcast) {
                bc_stamp[c->tx_seq % (uint64_t)opt.pipeline] = now;
                bc_left[c->tx_seq % (uint64_t)opt.pipeline] = open_conns;
            } else {
                c->stamp[c->tx_seq % (uint64_t)opt.pipeline] = now;
            }
            prng_seed(&c->tx_gen, seed_of(c), c->tx_seq);
            c->tx_seq++;
            c->tx_off = 0;
        }
        n = tx_len - c->tx_off;
        if (n > space)
            n = space;
        c->out_tail += n;
        while (n > 0 && c->tx_off < tx_hdr_len) {
            *dst++ = tx_hdr[c->tx_off++];
            n--;
        }
        prng_fill(&c->tx_gen, dst, n);
        if (ws && n > 0)
            ws_apply_mask(dst, n, c->tx_off - tx_hdr_len);
        c->tx_off += n;
    }
}

/* Writes queued bytes until done or the socket is full. 0 = ok, -1 = dead. */
static int flush_out(conn_t *c)
{
    while (c->out_head < c->out_tail) {
        ssize_t n = send(c->fd, c->out + c->out_head, c->out_tail - c->out_head,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->out_head += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            conn_io_error(c, "send", n < 0 ? errno : 0);
            return -1;
        }
    }
    set_out_interest(c, c->out_head < c->out_tail);
    return c->state == C_DEAD ? -1 : 0;
}

/* Sends as much as the pipeline allows and the socket takes. */
static void pump(conn_t *c)
{
    for (;;) {
        fill_out(c, now_ns());
        if (c->out_head == c->out_tail)
            return;                     /* nothing more may be sent yet */
        if (flush_out(c) < 0 || c->out_head < c->out_tail)
            return;                     /* dead, or socket full: wait for EPOLLOUT */
    }
}

/* What a wrong byte of a ws frame head most likely means. */
static const char *ws_head_hint(size_t off, unsigned got)
{
    if (off == 0 && (got & 0x0F) == 1)
        return " (frame head: a text frame, binary was sent)";
    if (off == 0 && !(got & 0x80))
        return " (frame head: not a final frame, the message is fragmented)";
    if (off == 1 && (got & 0x80))
        return " (frame head: masked, a server must not mask)";
    return " (frame head)";
}

static void report_mismatch(conn_t *c, size_t off, unsigned got, unsigned want)
{
    stats.mismatches++;
    log_error("connection %u: message %" PRIu64 " byte %zu: got 0x%02x, expected 0x%02x%s",
              c->idx, c->rx_seq, off, got, want,
              off >= rx_hdr_len ? "" : ws ? ws_head_hint(off, got) : " (pack header)");
    conn_close(c);
}

/* Checks received bytes against the expected stream and completes
 * messages.  Returns -1 (connection closed) on a mismatch. */
static int consume(conn_t *c, const uint8_t *data, size_t n, uint64_t now)
{
    int measuring = now >= win_start && now < win_end;

    if (measuring)
        stats.bytes += n;

    while (n > 0) {
        size_t k;

        if (c->peer_closing)
            return 0;           /* the rest of the server's Close */
        if (ws && c->rx_off == 0 && *data == WS_OP_CLOSE_HEAD) {
            /* While draining, the server's answer to our Close; it may
             * come before echoes of messages it had not read yet. */
            if (draining) {
                c->peer_closing = 1;
                return 0;
            }
            stats.io_errors++;
            if (n >= 4 && (data[1] & 0x7F) >= 2)
                log_error("connection %u: the server sent a Close frame (code %u)", c->idx,
                          (unsigned)data[2] << 8 | data[3]);
            else
                log_error("connection %u: the server sent a Close frame", c->idx);
            conn_close(c);
            return -1;
        }
        if (c->rx_seq >= sent_to(c)) {
            stats.mismatches++;
            log_error("connection %u: %zu byte(s) arrived beyond everything sent", c->idx, n);
            conn_close(c);
            return -1;
        }
        if (c->rx_off == 0)
            prng_seed(&c->rx_gen, seed_of(c), c->rx_seq);

        while (n > 0 && c->rx_off < rx_hdr_len) {
            if (*data != rx_hdr[c->rx_off]) {
                report_mismatch(c, c->rx_off, *data, rx_hdr[c->rx_off]);
                return -1;
            }
            data++;
            n--;
            c->rx_off++;
        }

        k = rx_len - c->rx_off;
        if (k > n)
            k = n;
        if (k > 0) {
            prng_fill(&c->rx_gen, expect_buf, k);
            if (memcmp(expect_buf, data, k) != 0) {
                size_t i = 0;

                while (expect_buf[i] == data[i])
                    i++;
                report_mismatch(c, c->rx_off + i, data[i], expect_buf[i]);
                return -1;
            }
            data += k;
            n -= k;
            c->rx_off += k;
        }

        if (c->rx_off == rx_len) {
            if (broadcast) {
                if (measuring)
                    stats.deliveries++;
                bc_delivered(c->rx_seq, now);
            } else if (measuring) {
                uint64_t sent = c->stamp[c->rx_seq % (uint64_t)opt.pipeline];

                stats.messages++;
                hist[hist_index(now > sent ? now - sent : 0)]++;
            }
            c->rx_seq++;
            c->rx_off = 0;
        }
    }
    return 0;
}

static void on_readable(conn_t *c)
{
    ssize_t n;

    for (;;) {
        n = recv(c->fd, recv_buf, RECV_CHUNK, 0);
        if (n >= 0 || errno != EINTR)
            break;
    }
    if (n > 0) {
        if (consume(c, recv_buf, (size_t)n, now_ns()) == 0 && !draining) {
            /* A broadcast completing lets the sender send the next. */
            if (!broadcast)
                pump(c);
            else if (conns[0].state == C_OPEN)
                pump(&conns[0]);
        }
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        /* spurious wake-up */
    } else if (draining) {
        conn_close(c);
    } else if (n == 0) {
        conn_io_error(c, "server closed the connection", 0);
    } else {
        conn_io_error(c, "recv", errno);
    }
}

/* ------------------------------------------------------------------ */
/* Connecting (and, in ws modes, the opening handshake)                 */

static int wait_ms(uint64_t now, uint64_t deadline)
{
    uint64_t ms;

    if (now >= deadline)
        return 0;
    ms = (deadline - now + 999999) / 1000000;
    return ms > 1000 ? 1000 : (int)ms;
}

static void handshake_error(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void handshake_error(conn_t *c, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    stats.handshake_errors++;
    log_error("connection %u: handshake: %s", c->idx, what);
    conn_close(c);
}

/* Queues and sends the opening handshake's request. */
static void ws_start(conn_t *c)
{
    char key[25];
    int n;

    ws_key(c->idx, key);
    n = snprintf((char *)c->out, out_cap,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s%s%s:%s\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "\r\n",
                 opt.path, strchr(opt.host, ':') ? "[" : "", opt.host,
                 strchr(opt.host, ':') ? "]" : "", opt.port, key);
    c->answer = malloc(WS_ANSWER_MAX);
    if (n < 0 || (size_t)n >= out_cap || c->answer == NULL) {
        handshake_error(c, "cannot build the request");
        return;
    }
    c->state = C_HANDSHAKE;
    c->out_head = 0;
    c->out_tail = (size_t)n;
    flush_out(c);
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    return s;
}

/* Whether the comma-separated list holds token (any case). */
static int has_token(char *list, const char *token)
{
    char *save = NULL;

    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcasecmp(trim(t), token) == 0)
            return 1;
    }
    return 0;
}

/* Checks the head of the answer (len bytes, without its blank line).
 * 0 if it accepts the handshake; else -1, c closed. */
static int ws_check_answer(conn_t *c, size_t len)
{
    char head[WS_ANSWER_MAX + 1], key[25], want[29];
    char *save = NULL, *line;
    int upgrade = 0, connection = 0, accept = 0;

    memcpy(head, c->answer, len);
    head[len] = '\0';
    ws_key(c->idx, key);
    ws_accept(key, want);

    line = strtok_r(head, "\r\n", &save);
    if (line == NULL || strncmp(line, "HTTP/1.1 101", 12) != 0
            || (line[12] != ' ' && line[12] != '\0')) {
        handshake_error(c, "status line '%.100s', expected HTTP/1.1 101", line ? line : "");
        return -1;
    }
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        char *colon = strchr(line, ':'), *value;

        if (colon == NULL) {
            handshake_error(c, "malformed header line '%.100s'", line);
            return -1;
        }
        *colon = '\0';
        value = trim(colon + 1);
        if (strcasecmp(line, "Upgrade") == 0) {
            if (strcasecmp(value, "websocket") != 0) {
                handshake_error(c, "Upgrade: %.100s, expected websocket", value);
                return -1;
            }
            upgrade = 1;
        } else if (strcasecmp(line, "Connection") == 0) {
            connection |= has_token(value, "upgrade");
        } else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0) {
            if (strcmp(value, want) != 0) {
                handshake_error(c, "Sec-WebSocket-Accept: %.100s, expected %s for the key %s",
                                value, want, key);
                return -1;
            }
            accept = 1;
        } else if (strcasecmp(line, "Sec-WebSocket-Extensions") == 0
                   || strcasecmp(line, "Sec-WebSocket-Protocol") == 0) {
            handshake_error(c, "%s: %.100s, but none was offered", line, value);
            return -1;
        }
    }
    if (!upgrade || !connection || !accept) {
        handshake_error(c, "no %s in the 101", !upgrade ? "Upgrade: websocket"
                        : !connection ? "Connection: Upgrade" : "Sec-WebSocket-Accept");
        return -1;
    }
    return 0;
}

/* Reads the answer to the handshake; once it is all there and right (and,
 * in ws-broadcast mode, the "ready" message after it), c is open. */
static void ws_on_answer(conn_t *c)
{
    uint8_t *end, *buf;
    size_t at, rest;
    ssize_t n;

    do {
        n = recv(c->fd, c->answer + c->answer_len, WS_ANSWER_MAX - c->answer_len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        handshake_error(c, "recv: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        handshake_error(c, "the server closed the connection after %zu byte(s) of answer",
                        c->answer_len);
        return;
    }
    c->answer_len += (size_t)n;
    end = memmem(c->answer, c->answer_len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (c->answer_len == WS_ANSWER_MAX)
            handshake_error(c, "no end to the answer's head in %d bytes", WS_ANSWER_MAX);
        return;
    }
    if (!c->answer_ok) {
        if (ws_check_answer(c, (size_t)(end - (uint8_t *)c->answer)) < 0)
            return;
        c->answer_ok = 1;
    }
    at = (size_t)(end - (uint8_t *)c->answer) + 4;
    rest = c->answer_len - at;
    if (broadcast) {
        size_t k = rest < sizeof ws_ready_frame ? rest : sizeof ws_ready_frame;

        if (memcmp(c->answer + at, ws_ready_frame, k) != 0) {
            handshake_error(c, "expected the text message \"ready\" after the 101");
            return;
        }
        if (k < sizeof ws_ready_frame) {
            if (c->answer_len == WS_ANSWER_MAX)
                handshake_error(c, "answer longer than %d bytes", WS_ANSWER_MAX);
            return;             /* the rest of it is to come */
        }
        at += k;
        rest -= k;
    }
    c->state = C_OPEN;
    open_conns++;
    buf = (uint8_t *)c->answer;
    c->answer = NULL;
    if (rest > 0)               /* nothing was sent yet: any byte is an error */
        consume(c, buf + at, rest, now_ns());
    free(buf);
}

/* Opens every connection; returns how many are established. */
static long connect_all(const struct addrinfo *ai)
{
    struct epoll_event evs[MAX_EVENTS];
    long pending = 0;
    uint64_t deadline = now_ns() + (uint64_t)(opt.connect_timeout * 1e9);

    for (long i = 0; i < opt.connections; i++) {
        conn_t *c = &conns[i];
        struct epoll_event ev;
        int one = 1;

        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            stats.connect_errors++;
            log_error("connection %ld: socket: %s", i, strerror(errno));
            c->state = C_DEAD;
            continue;
        }
        /* Otherwise Nagle holds back small writes while a previous
         * message is unacknowledged (pipelining, partial writes). */
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

        c->state = C_CONNECTING;
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            stats.connect_errors++;
            log_error("connection %ld: connect: %s", i, strerror(errno));
            close(c->fd);
            c->state = C_DEAD;
            continue;
        }
        ev.events = EPOLLOUT;
        ev.data.u32 = c->idx;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            stats.connect_errors++;
            log_error("connection %ld: epoll_ctl: %s", i, strerror(errno));
            close(c->fd);
            c->state = C_DEAD;
            continue;
        }
        pending++;
    }

    while (pending > 0) {
        uint64_t now = now_ns();
        int n;

        if (now >= deadline)
            break;
        n = epoll_wait(epfd, evs, MAX_EVENTS, wait_ms(now, deadline));
        if (n < 0 && errno != EINTR) {
            perror("loadgen: epoll_wait");
            break;
        }
        for (int j = 0; j < n; j++) {
            conn_t *c = &conns[evs[j].data.u32];
            struct epoll_event ev;
            int err;

            if (c->state == C_HANDSHAKE) {
                if (evs[j].events & EPOLLOUT)
                    flush_out(c);
                if (c->state == C_HANDSHAKE && (evs[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                    ws_on_answer(c);
                if (c->state != C_HANDSHAKE)
                    pending--;
                continue;
            }
            if (c->state != C_CONNECTING)
                continue;
            pending--;
            err = socket_error(c->fd);
            if (err != 0) {
                stats.connect_errors++;
                log_error("connection %u: connect: %s", c->idx, strerror(err));
                close(c->fd);
                c->state = C_DEAD;
                continue;
            }
            /* Connected: from now on wait for echoes (and for room to
             * send only while a write is pending). */
            ev.events = EPOLLIN;
            ev.data.u32 = c->idx;
            c->want_out = 0;
            if (ws) {
                /* Established once the handshake is through. */
                if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
                    conn_io_error(c, "epoll_ctl", errno);
                    continue;
                }
                ws_start(c);
                if (c->state == C_HANDSHAKE)
                    pending++;
                continue;
            }
            c->state = C_OPEN;
            open_conns++;
            if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
                conn_io_error(c, "epoll_ctl", errno);
        }
    }

    for (long i = 0; i < opt.connections; i++) {
        conn_t *c = &conns[i];

        if (c->state == C_CONNECTING) {
            stats.connect_errors++;
            log_error("connection %ld: connect timed out after %.1f s", i, opt.connect_timeout);
            close(c->fd);
            c->state = C_DEAD;
        } else if (c->state == C_HANDSHAKE) {
            handshake_error(c, "no complete answer%s within %.1f s (%zu byte(s) received)",
                            broadcast ? " and \"ready\" message" : "", opt.connect_timeout,
                            c->answer_len);
        }
    }
    return open_conns;
}

/* ------------------------------------------------------------------ */
/* Traffic                                                              */

static void mark(const char *what)
{
    printf("MARK %s\n", what);
    fflush(stdout);
}

static void run(double warmup, double duration)
{
    struct epoll_event evs[MAX_EVENTS];
    uint64_t start = now_ns();
    int opened = 0;                     /* "MARK start" printed */

    win_start = start + (uint64_t)(warmup * 1e9);
    win_end = win_start + (uint64_t)(duration * 1e9);

    for (long i = 0; i < opt.connections; i++) {
        if (conns[i].state == C_OPEN)
            pump(&conns[i]);
    }

    while (open_conns > 0) {
        uint64_t now = now_ns();
        int n;

        if (opt.marks && !opened && now >= win_start) {
            mark("start");
            opened = 1;
        }
        if (now >= win_end)
            break;
        /* With --marks, wake up for the window's start too. */
        n = epoll_wait(epfd, evs, MAX_EVENTS,
                       wait_ms(now, opt.marks && !opened ? win_start : win_end));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("loadgen: epoll_wait");
            break;
        }
        for (int j = 0; j < n; j++) {
            conn_t *c = &conns[evs[j].data.u32];
            uint32_t ev = evs[j].events;

            if (c->state != C_OPEN)
                continue;
            if (ev & EPOLLIN)
                on_readable(c);
            if (c->state == C_OPEN && (ev & EPOLLOUT))
                pump(c);
            /* Errors and hang-ups with nothing left to read. */
            if (c->state == C_OPEN && (ev & (EPOLLERR | EPOLLHUP)) && !(ev & EPOLLIN))
                conn_io_error(c, "socket error", socket_error(c->fd));
        }
    }
    if (opt.marks) {
        /* Every connection died first: the driver still gets both marks. */
        if (!opened)
            mark("start");
        mark("end");
    }
}

/*
 * Ends the run gracefully: half-closes every connection (in ws modes:
 * finishes the message under way and sends a Close) and keeps reading
 * (and checking) the echoes still in flight until the server closes its
 * side, for at most `limit` seconds.  Closing with echoes unread would
 * make the kernel reset the connection, which servers report as an error.
 */
static void drain(double limit)
{
    struct epoll_event evs[MAX_EVENTS];
    uint64_t deadline = now_ns() + (uint64_t)(limit * 1e9);

    draining = 1;
    for (long i = 0; i < opt.connections; i++) {
        conn_t *c = &conns[i];

        if (c->state != C_OPEN)
            continue;
        if (ws) {
            pump(c);
            continue;
        }
        set_out_interest(c, 0);
        if (c->state == C_OPEN && shutdown(c->fd, SHUT_WR) != 0)
            conn_close(c);
    }

    while (open_conns > 0) {
        uint64_t now = now_ns();
        int n;

        if (now >= deadline)
            break;
        n = epoll_wait(epfd, evs, MAX_EVENTS, wait_ms(now, deadline));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int j = 0; j < n; j++) {
            conn_t *c = &conns[evs[j].data.u32];

            if (c->state == C_OPEN)
                on_readable(c);
            if (ws && c->state == C_OPEN && (evs[j].events & EPOLLOUT))
                pump(c);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: loadgen --port P [--host H] [--connections N] [--size BYTES]\n"
        "               [--duration S] [--pipeline K] [--mode raw|pack|ws|ws-broadcast]\n"
        "               [--pack-flag F] [--path /P] [--warmup S] [--connect-timeout S]\n"
        "               [--marks] [--json]\n"
        "  --host H             server address (default 127.0.0.1)\n"
        "  --connections N      connections (default 1)\n"
        "  --size BYTES         message body size (default 64; pack: at most 4194303,\n"
        "                       and the server's max pack size, 262144 by default)\n"
        "  --duration S         measured seconds (default 5)\n"
        "  --pipeline K         messages in flight per connection (default 1;\n"
        "                       ws-broadcast: broadcasts in flight)\n"
        "  --mode M             raw: plain bytes; pack: HP-Socket Pack frames;\n"
        "                       ws: WebSocket binary messages, echoed;\n"
        "                       ws-broadcast: connection 0's messages to every\n"
        "                       connection (default raw)\n"
        "  --pack-flag F        pack header flag, 0..1023 (default 0)\n"
        "  --path /P            ws modes: the request target (default /ws, or\n"
        "                       /broadcast in ws-broadcast mode)\n"
        "  --warmup S           unmeasured seconds first (default 1)\n"
        "  --connect-timeout S  bound on establishing the connections (default 5)\n"
        "  --marks              print 'MARK start' and 'MARK end' as the measured\n"
        "                       window opens and closes\n"
        "  --json               print only the JSON result (on stdout)\n");
}

static long parse_long(const char *name, const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "loadgen: %s: expected an integer in [%ld, %ld], got '%s'\n",
                name, lo, hi, s);
        exit(2);
    }
    return v;
}

static double parse_seconds(const char *name, const char *s, double lo, double hi)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "loadgen: %s: expected seconds in [%g, %g], got '%s'\n",
                name, lo, hi, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host",            required_argument, NULL, 'H' },
        { "port",            required_argument, NULL, 'p' },
        { "connections",     required_argument, NULL, 'c' },
        { "size",            required_argument, NULL, 's' },
        { "duration",        required_argument, NULL, 'd' },
        { "pipeline",        required_argument, NULL, 'k' },
        { "mode",            required_argument, NULL, 'm' },
        { "pack-flag",       required_argument, NULL, 'f' },
        { "path",            required_argument, NULL, 'P' },
        { "warmup",          required_argument, NULL, 'w' },
        { "connect-timeout", required_argument, NULL, 't' },
        { "marks",           no_argument,       NULL, 'M' },
        { "json",            no_argument,       NULL, 'j' },
        { "help",            no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int o, m;

    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 'H': opt.host = optarg; break;
        case 'p': parse_long("--port", optarg, 1, 65535); opt.port = optarg; break;
        case 'c': opt.connections = parse_long("--connections", optarg, 1, 100000); break;
        case 's': opt.size = parse_long("--size", optarg, 1, 1L << 30); break;
        case 'd': opt.duration = parse_seconds("--duration", optarg, 0.001, 86400); break;
        case 'k': opt.pipeline = parse_long("--pipeline", optarg, 1, 65536); break;
        case 'f': opt.pack_flag = parse_long("--pack-flag", optarg, 0, PACK_MAX_FLAG); break;
        case 'w': opt.warmup = parse_seconds("--warmup", optarg, 0, 3600); break;
        case 't': opt.connect_timeout = parse_seconds("--connect-timeout", optarg, 0.001, 3600); break;
        case 'M': opt.marks = 1; break;
        case 'j': opt.json_only = 1; break;
        case 'P':
            /* A request target: printable, no spaces, at most WS_PATH_MAX. */
            if (optarg[0] != '/' || strlen(optarg) > WS_PATH_MAX) {
                fprintf(stderr, "loadgen: --path: expected /... of at most %d bytes\n",
                        WS_PATH_MAX);
                exit(2);
            }
            for (const char *p = optarg; *p; p++) {
                if (*p <= ' ' || *p == 0x7F) {
                    fprintf(stderr, "loadgen: --path: no spaces or control characters\n");
                    exit(2);
                }
            }
            opt.path = optarg;
            break;
        case 'm':
            for (m = 0; m < (int)(sizeof mode_names / sizeof *mode_names); m++) {
                if (strcmp(optarg, mode_names[m]) == 0)
                    break;
            }
            if (m == (int)(sizeof mode_names / sizeof *mode_names)) {
                fprintf(stderr, "loadgen: --mode: expected raw, pack, ws or ws-broadcast, "
                        "got '%s'\n", optarg);
                exit(2);
            }
            opt.mode = (enum mode)m;
            break;
        case 'h': usage(stdout); exit(0);
        default:  usage(stderr); exit(2);
        }
    }
    if (optind != argc || opt.port == NULL) {
        usage(stderr);
        exit(2);
    }
    if (opt.mode == M_PACK && opt.size > (long)PACK_MAX_BODY) {
        fprintf(stderr, "loadgen: --size: a pack body holds at most %u bytes\n", PACK_MAX_BODY);
        exit(2);
    }
    if (opt.path != NULL && opt.mode != M_WS && opt.mode != M_WS_BROADCAST) {
        fprintf(stderr, "loadgen: --path applies to the ws modes only\n");
        exit(2);
    }
    if (strlen(opt.host) > 255) {
        fprintf(stderr, "loadgen: --host: at most 255 bytes\n");
        exit(2);
    }
}

/* ------------------------------------------------------------------ */
/* Output                                                               */

static void print_us(const char *key, double ns, const char *sep)
{
    if (ns < 0)
        printf("\"%s\": null%s", key, sep);
    else
        printf("\"%s\": %.1f%s", key, ns / 1000.0, sep);
}

static void report(double measured_s)
{
    uint64_t errors = stats.mismatches + stats.io_errors + stats.connect_errors
                    + stats.handshake_errors;
    double per_s = measured_s > 0 ? (double)stats.messages / measured_s : 0.0;
    double mb_s = measured_s > 0 ? (double)stats.bytes / 1e6 / measured_s : 0.0;
    double deliveries_s = measured_s > 0 ? (double)stats.deliveries / measured_s : 0.0;
    double p50 = hist_quantile(0.50), p99 = hist_quantile(0.99), p999 = hist_quantile(0.999);

    printf("{\"messages\": %" PRIu64 ", \"messages_per_s\": %.1f, \"mb_per_s\": %.3f, ",
           stats.messages, per_s, mb_s);
    print_us("p50_us", p50, ", ");
    print_us("p99_us", p99, ", ");
    print_us("p999_us", p999, ", ");
    printf("\"errors\": %" PRIu64 ", \"connections\": %ld, \"size\": %ld, \"pipeline\": %ld, "
           "\"duration_s\": %.3f, \"mode\": \"%s\", \"bytes\": %" PRIu64 ", "
           "\"mismatches\": %" PRIu64 ", \"io_errors\": %" PRIu64 ", "
           "\"connect_errors\": %" PRIu64 ", \"handshake_errors\": %" PRIu64 ", "
           "\"warmup_s\": %.3f, \"connect_s\": %.3f",
           errors, opt.connections, opt.size, opt.pipeline, measured_s,
           mode_names[opt.mode], stats.bytes, stats.mismatches, stats.io_errors,
           stats.connect_errors, stats.handshake_errors, opt.warmup, connect_s);
    if (broadcast)
        printf(", \"receivers\": %ld, \"deliveries\": %" PRIu64 ", \"deliveries_per_s\": %.1f",
               opt.connections, stats.deliveries, deliveries_s);
    printf("}\n");
    fflush(stdout);

    if (!opt.json_only) {
        if (broadcast)
            fprintf(stderr,
                    "loadgen: 1 sender to %ld receivers x %ld in flight x %ld B (%s): "
                    "%" PRIu64 " broadcasts in %.2f s = %.0f/s, %.0f deliveries/s; ",
                    opt.connections, opt.pipeline, opt.size, mode_names[opt.mode],
                    stats.messages, measured_s, per_s, deliveries_s);
        else
            fprintf(stderr,
                    "loadgen: %ld conn x %ld in flight x %ld B (%s): %" PRIu64 " msgs in "
                    "%.2f s = %.0f msg/s, %.2f MB/s; ",
                    opt.connections, opt.pipeline, opt.size, mode_names[opt.mode],
                    stats.messages, measured_s, per_s, mb_s);
        if (p50 >= 0)
            fprintf(stderr, "latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us; ",
                    p50 / 1000.0, p99 / 1000.0, p999 / 1000.0);
        fprintf(stderr, "%" PRIu64 " error(s)\n", errors);
    }
}

/* ------------------------------------------------------------------ */

static void on_watchdog(int sig)
{
    static const char msg[] = "loadgen: watchdog: the run overstayed its time bound\n";

    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    _exit(3);
}

/* Makes room for one descriptor per connection, if the hard limit allows. */
static void raise_fd_limit(long need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= (rlim_t)need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)need
                ? (rlim_t)need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* The frame heads of every message, each way. */
static void set_headers(void)
{
    if (opt.mode == M_PACK) {
        uint32_t h = ((uint32_t)opt.pack_flag << 22) | (uint32_t)opt.size;

        for (int i = 0; i < 4; i++)
            tx_hdr[i] = rx_hdr[i] = (uint8_t)(h >> (8 * i));
        tx_hdr_len = rx_hdr_len = 4;
    } else if (ws) {
        tx_hdr_len = ws_head(tx_hdr, (uint64_t)opt.size, 1);
        rx_hdr_len = ws_head(rx_hdr, (uint64_t)opt.size, 0);
    } else {
        tx_hdr_len = rx_hdr_len = 0;
    }
    tx_len = tx_hdr_len + (size_t)opt.size;
    rx_len = rx_hdr_len + (size_t)opt.size;
}

int main(int argc, char **argv)
{
    struct addrinfo hints, *ai = NULL;
    uint64_t t0, t1;
    double measured;
    long established;
    int rc;

    parse_args(argc, argv);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_watchdog);
    alarm((unsigned)(opt.connect_timeout + opt.warmup + opt.duration) + 30);

    ws = opt.mode == M_WS || opt.mode == M_WS_BROADCAST;
    broadcast = opt.mode == M_WS_BROADCAST;
    if (ws && opt.path == NULL)
        opt.path = broadcast ? "/broadcast" : "/ws";
    if (ws) {
        /* RFC 6455 1.3's example: a wrong SHA-1 must not pass for a wrong server. */
        char accept[29];

        ws_accept("dGhlIHNhbXBsZSBub25jZQ==", accept);
        if (strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0) {
            fprintf(stderr, "loadgen: internal error: SHA-1 self-test failed (%s)\n", accept);
            return 2;
        }
    }
    set_headers();
    out_cap = tx_len * (size_t)opt.pipeline;
    if (out_cap > OUT_CAP_MAX || out_cap / (size_t)opt.pipeline != tx_len)
        out_cap = OUT_CAP_MAX;
    if (ws && out_cap < WS_REQ_MAX)
        out_cap = WS_REQ_MAX;           /* the handshake's request goes through it too */

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(opt.host, opt.port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "loadgen: %s:%s: %s\n", opt.host, opt.port, gai_strerror(rc));
        return 2;
    }

    raise_fd_limit(opt.connections + 16);
    conns = calloc((size_t)opt.connections, sizeof *conns);
    recv_buf = malloc(RECV_CHUNK);
    expect_buf = malloc(RECV_CHUNK);
    bc_stamp = calloc((size_t)opt.pipeline, sizeof *bc_stamp);
    bc_left = calloc((size_t)opt.pipeline, sizeof *bc_left);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || recv_buf == NULL || expect_buf == NULL || bc_stamp == NULL
            || bc_left == NULL || epfd < 0) {
        fprintf(stderr, "loadgen: out of memory or descriptors\n");
        return 2;
    }
    for (long i = 0; i < opt.connections; i++) {
        conn_t *c = &conns[i];

        c->idx = (uint32_t)i;
        c->fd = -1;
        c->tx_off = tx_len;             /* no message under way */
        c->out = malloc(out_cap);
        c->stamp = calloc((size_t)opt.pipeline, sizeof *c->stamp);
        if (c->out == NULL || c->stamp == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            return 2;
        }
    }

    t0 = now_ns();
    established = connect_all(ai);
    connect_s = (double)(now_ns() - t0) / 1e9;
    if (established == 0) {
        fprintf(stderr, "loadgen: no connection to %s:%s could be established\n",
                opt.host, opt.port);
        report(0.0);
        /* Connected, but the server answered the handshake wrong: its error. */
        return stats.handshake_errors > 0 ? 1 : 2;
    }
    freeaddrinfo(ai);

    run(opt.warmup, opt.duration);

    /* The window actually measured: it ends early if every connection died. */
    t1 = now_ns();
    t0 = win_start;
    if (t1 > win_end)
        t1 = win_end;
    measured = t1 > t0 ? (double)(t1 - t0) / 1e9 : 0.0;

    drain(DRAIN_LIMIT_S);
    report(measured);

    for (long i = 0; i < opt.connections; i++)
        conn_close(&conns[i]);
    close(epfd);

    if (stats.mismatches + stats.io_errors + stats.connect_errors + stats.handshake_errors > 0)
        return 1;
    if (stats.messages == 0) {
        /* A server that accepts but never echoes must not pass for one. */
        fprintf(stderr, "loadgen: no message was echoed in the measured window\n");
        return 1;
    }
    return 0;
}
