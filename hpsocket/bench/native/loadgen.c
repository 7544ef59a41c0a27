/*
 * loadgen.c - echo load generator for the hpsocket benchmark.
 *
 *   loadgen --host H --port P [--connections N] [--size BYTES]
 *           [--duration S] [--pipeline K] [--mode raw|pack] [--pack-flag F]
 *           [--warmup S] [--connect-timeout S] [--json]
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
 * After --warmup seconds the counters are reset and the run is measured for
 * --duration seconds.  One JSON object goes to stdout (a readable summary
 * also goes to stderr unless --json is given):
 *
 *   messages, messages_per_s, mb_per_s (echoed bytes received, headers
 *   included, in 10^6 bytes per second), p50_us, p99_us, p999_us (null
 *   when nothing was measured), errors (= mismatches + io_errors +
 *   connect_errors), connections, size, pipeline, duration_s (measured),
 *   plus mode, bytes, mismatches, io_errors, connect_errors, warmup_s and
 *   connect_s (time taken to establish the connections).
 *
 * Errors are counted over the whole run, warm-up included.  Exit status:
 * 0 if every connection was established and ran without an error; 1 if any
 * error was counted (a mismatch, a reset or early close, a failed connect)
 * or no message at all completed in the window; 2 on bad usage or when no
 * connection could be made.
 * Connects are bounded by --connect-timeout, the traffic phase by the
 * clock, the closing drain (echoes still in flight are read and checked
 * after a half-close) by one second, and a watchdog alarm ends the process
 * if all of that fails.
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

/* ------------------------------------------------------------------ */
/* Settings and counters                                                */

static struct {
    const char *host;
    const char *port;
    long connections;
    long size;
    long pipeline;
    int pack;                           /* 0 = raw, 1 = pack */
    long pack_flag;
    double duration;
    double warmup;
    double connect_timeout;
    int json_only;
} opt = {
    .host = "127.0.0.1", .port = NULL, .connections = 1, .size = 64,
    .pipeline = 1, .pack = 0, .pack_flag = 0, .duration = 5.0,
    .warmup = 1.0, .connect_timeout = 5.0, .json_only = 0,
};

static size_t hdr_len;                  /* 4 in pack mode, else 0 */
static size_t msg_len;                  /* hdr_len + size: bytes on the wire */
static uint8_t pack_hdr[4];             /* the (constant) frame header */

static struct {
    uint64_t messages;                  /* completed inside the window */
    uint64_t bytes;                     /* received inside the window */
    uint64_t mismatches;
    uint64_t io_errors;                 /* resets, early closes, socket errors */
    uint64_t connect_errors;            /* refused, failed or timed-out connects */
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

        for (int i = 0; i < 8; i++)
            dst[i] = (uint8_t)(w >> (8 * i));
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
/* Connections                                                          */

enum conn_state { C_CONNECTING, C_OPEN, C_DEAD };

typedef struct {
    int fd;
    uint32_t idx;
    enum conn_state state;
    int want_out;           /* EPOLLOUT is in the interest set */

    /* sending: message tx_seq - 1 is being queued while tx_off < msg_len */
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
} conn_t;

static conn_t *conns;
static size_t out_cap;
static int epfd;
static long open_conns;
static uint8_t *recv_buf, *expect_buf;

/* Measurement window: messages completing in [win_start, win_end). */
static uint64_t win_start, win_end;

static void conn_close(conn_t *c)
{
    if (c->state != C_DEAD) {
        if (c->state == C_OPEN)
            open_conns--;
        close(c->fd);           /* also leaves the epoll set */
        c->fd = -1;
        c->state = C_DEAD;
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

/* Queues message bytes while the buffer has room and fewer than
 * `pipeline` messages are in flight. */
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

        if (c->tx_off == msg_len) {
            if (c->tx_seq - c->rx_seq >= (uint64_t)opt.pipeline)
                break;
            c->stamp[c->tx_seq % (uint64_t)opt.pipeline] = now;
            prng_seed(&c->tx_gen, c->idx, c->tx_seq);
            c->tx_seq++;
            c->tx_off = 0;
        }
        n = msg_len - c->tx_off;
        if (n > space)
            n = space;
        c->out_tail += n;
        while (n > 0 && c->tx_off < hdr_len) {
            *dst++ = pack_hdr[c->tx_off++];
            n--;
        }
        prng_fill(&c->tx_gen, dst, n);
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

static void report_mismatch(conn_t *c, size_t off, unsigned got, unsigned want)
{
    stats.mismatches++;
    log_error("connection %u: message %" PRIu64 " byte %zu: got 0x%02x, expected 0x%02x%s",
              c->idx, c->rx_seq, off, got, want,
              off < hdr_len ? " (pack header)" : "");
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

        if (c->rx_seq >= c->tx_seq) {
            stats.mismatches++;
            log_error("connection %u: %zu byte(s) arrived beyond everything sent", c->idx, n);
            conn_close(c);
            return -1;
        }
        if (c->rx_off == 0)
            prng_seed(&c->rx_gen, c->idx, c->rx_seq);

        while (n > 0 && c->rx_off < hdr_len) {
            if (*data != pack_hdr[c->rx_off]) {
                report_mismatch(c, c->rx_off, *data, pack_hdr[c->rx_off]);
                return -1;
            }
            data++;
            n--;
            c->rx_off++;
        }

        k = msg_len - c->rx_off;
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

        if (c->rx_off == msg_len) {
            if (measuring) {
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

/* Set once the window is over: no more sends, and the server closing (or
 * resetting) a connection is the expected end rather than an error. */
static int draining;

static void on_readable(conn_t *c)
{
    ssize_t n;

    for (;;) {
        n = recv(c->fd, recv_buf, RECV_CHUNK, 0);
        if (n >= 0 || errno != EINTR)
            break;
    }
    if (n > 0) {
        if (consume(c, recv_buf, (size_t)n, now_ns()) == 0 && !draining)
            pump(c);
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
/* Connecting                                                           */

static int wait_ms(uint64_t now, uint64_t deadline)
{
    uint64_t ms;

    if (now >= deadline)
        return 0;
    ms = (deadline - now + 999999) / 1000000;
    return ms > 1000 ? 1000 : (int)ms;
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
            c->state = C_OPEN;
            open_conns++;
            c->want_out = 0;
            if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
                conn_io_error(c, "epoll_ctl", errno);
        }
    }

    for (long i = 0; i < opt.connections; i++) {
        if (conns[i].state == C_CONNECTING) {
            stats.connect_errors++;
            log_error("connection %ld: connect timed out after %.1f s", i, opt.connect_timeout);
            close(conns[i].fd);
            conns[i].state = C_DEAD;
        }
    }
    return open_conns;
}

/* ------------------------------------------------------------------ */
/* Traffic                                                              */

static void run(double warmup, double duration)
{
    struct epoll_event evs[MAX_EVENTS];
    uint64_t start = now_ns();

    win_start = start + (uint64_t)(warmup * 1e9);
    win_end = win_start + (uint64_t)(duration * 1e9);

    for (long i = 0; i < opt.connections; i++) {
        if (conns[i].state == C_OPEN)
            pump(&conns[i]);
    }

    while (open_conns > 0) {
        uint64_t now = now_ns();
        int n;

        if (now >= win_end)
            break;
        n = epoll_wait(epfd, evs, MAX_EVENTS, wait_ms(now, win_end));
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
}

/*
 * Ends the run gracefully: half-closes every connection and keeps reading
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
        }
    }
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: loadgen --port P [--host H] [--connections N] [--size BYTES]\n"
        "               [--duration S] [--pipeline K] [--mode raw|pack]\n"
        "               [--pack-flag F] [--warmup S] [--connect-timeout S] [--json]\n"
        "  --host H             server address (default 127.0.0.1)\n"
        "  --connections N      connections (default 1)\n"
        "  --size BYTES         message body size (default 64; pack: at most 4194303,\n"
        "                       and the server's max pack size, 262144 by default)\n"
        "  --duration S         measured seconds (default 5)\n"
        "  --pipeline K         messages in flight per connection (default 1)\n"
        "  --mode raw|pack      plain bytes, or HP-Socket Pack frames (default raw)\n"
        "  --pack-flag F        pack header flag, 0..1023 (default 0)\n"
        "  --warmup S           unmeasured seconds first (default 1)\n"
        "  --connect-timeout S  bound on establishing the connections (default 5)\n"
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
        { "warmup",          required_argument, NULL, 'w' },
        { "connect-timeout", required_argument, NULL, 't' },
        { "json",            no_argument,       NULL, 'j' },
        { "help",            no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int o;

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
        case 'j': opt.json_only = 1; break;
        case 'm':
            if (strcmp(optarg, "raw") == 0) {
                opt.pack = 0;
            } else if (strcmp(optarg, "pack") == 0) {
                opt.pack = 1;
            } else {
                fprintf(stderr, "loadgen: --mode: expected raw or pack, got '%s'\n", optarg);
                exit(2);
            }
            break;
        case 'h': usage(stdout); exit(0);
        default:  usage(stderr); exit(2);
        }
    }
    if (optind != argc || opt.port == NULL) {
        usage(stderr);
        exit(2);
    }
    if (opt.pack && opt.size > (long)PACK_MAX_BODY) {
        fprintf(stderr, "loadgen: --size: a pack body holds at most %u bytes\n", PACK_MAX_BODY);
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
    uint64_t errors = stats.mismatches + stats.io_errors + stats.connect_errors;
    double per_s = measured_s > 0 ? (double)stats.messages / measured_s : 0.0;
    double mb_s = measured_s > 0 ? (double)stats.bytes / 1e6 / measured_s : 0.0;
    double p50 = hist_quantile(0.50), p99 = hist_quantile(0.99), p999 = hist_quantile(0.999);

    printf("{\"messages\": %" PRIu64 ", \"messages_per_s\": %.1f, \"mb_per_s\": %.3f, ",
           stats.messages, per_s, mb_s);
    print_us("p50_us", p50, ", ");
    print_us("p99_us", p99, ", ");
    print_us("p999_us", p999, ", ");
    printf("\"errors\": %" PRIu64 ", \"connections\": %ld, \"size\": %ld, \"pipeline\": %ld, "
           "\"duration_s\": %.3f, \"mode\": \"%s\", \"bytes\": %" PRIu64 ", "
           "\"mismatches\": %" PRIu64 ", \"io_errors\": %" PRIu64 ", "
           "\"connect_errors\": %" PRIu64 ", \"warmup_s\": %.3f, \"connect_s\": %.3f}\n",
           errors, opt.connections, opt.size, opt.pipeline, measured_s,
           opt.pack ? "pack" : "raw", stats.bytes, stats.mismatches, stats.io_errors,
           stats.connect_errors, opt.warmup, connect_s);
    fflush(stdout);

    if (!opt.json_only) {
        fprintf(stderr,
                "loadgen: %ld conn x %ld in flight x %ld B (%s): %" PRIu64 " msgs in %.2f s = "
                "%.0f msg/s, %.2f MB/s; ",
                opt.connections, opt.pipeline, opt.size, opt.pack ? "pack" : "raw",
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

    hdr_len = opt.pack ? 4 : 0;
    msg_len = hdr_len + (size_t)opt.size;
    if (opt.pack) {
        uint32_t h = ((uint32_t)opt.pack_flag << 22) | (uint32_t)opt.size;

        for (int i = 0; i < 4; i++)
            pack_hdr[i] = (uint8_t)(h >> (8 * i));
    }
    out_cap = msg_len * (size_t)opt.pipeline;
    if (out_cap > OUT_CAP_MAX || out_cap / (size_t)opt.pipeline != msg_len)
        out_cap = OUT_CAP_MAX;

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
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || recv_buf == NULL || expect_buf == NULL || epfd < 0) {
        fprintf(stderr, "loadgen: out of memory or descriptors\n");
        return 2;
    }
    for (long i = 0; i < opt.connections; i++) {
        conn_t *c = &conns[i];

        c->idx = (uint32_t)i;
        c->fd = -1;
        c->tx_off = msg_len;            /* no message under way */
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
        return 2;
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

    if (stats.mismatches + stats.io_errors + stats.connect_errors > 0)
        return 1;
    if (stats.messages == 0) {
        /* A server that accepts but never echoes must not pass for one. */
        fprintf(stderr, "loadgen: no message was echoed in the measured window\n");
        return 1;
    }
    return 0;
}
