/*
 * _http_client.h - the HTTP clients' native side (HttpAgent, HttpClient,
 * HttpSyncClient): each response is assembled from the library's parser
 * events on the worker thread, without the GIL, and handed to Python once,
 * whole; requests sent and not yet answered are remembered in order, so
 * that pipelined responses are matched to their requests.
 *
 * Per component (hps_ctx.family): the lock that keeps the order of
 * requests on the wire the order of the queue below, and the settings.
 *
 * Per connection (hps_conn.family, freed with the record after on_close):
 *   - the response being parsed, touched only by the connection's worker
 *     callbacks, which the library serialises;
 *   - the requests sent and not yet answered (method and target, oldest
 *     first), under ctx->lock: request() runs on any thread.
 *
 * Why requests are not sent with the library's SendRequest (unless cookies
 * are on, which only it adds): it writes a second Content-Length or Host
 * for a header not spelled exactly "Content-Length" or "Host", and it
 * decides whether a response has a body (HEAD) from the method of the
 * *last* request sent, which is wrong as soon as requests are pipelined
 * (measured: GET then HEAD sent together lost the GET's body, HEAD then GET
 * parsed the GET's head as the HEAD's body).  Heads are built by hpsocket
 * and sent raw; the body of a response to HEAD, and of 1xx, 204 and 304
 * (http_parser 2.8.0 reads a 204's Content-Length body), is skipped here.
 */
#ifndef HPSOCKET_HTTP_CLIENT_H
#define HPSOCKET_HTTP_CLIENT_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sys/syscall.h>
#include <unistd.h>

#include "_ctx.h"
#include "_send.h"
#include "_ws.h"

/* ------------------------------------------------------------------ */
/* Per component                                                          */

typedef struct hps_httpc_cfg {
    pthread_mutex_t send_lock;    /* queue a request and send it, atomically */
    unsigned long long max_body;  /* largest response body, bytes */
    int use_cookies;              /* requests go through the library's SendRequest */
    int stopping;                 /* stop() was asked for (until the next start) */
    unsigned long long ws_max_message;   /* WebSocket clients: largest message received */
} hps_httpc_cfg;

static inline hps_httpc_cfg *hps_httpc_cfg_new(void)
{
    hps_httpc_cfg *cfg = (hps_httpc_cfg *)calloc(1, sizeof(hps_httpc_cfg));
    if (cfg != NULL)
        pthread_mutex_init(&cfg->send_lock, NULL);
    return cfg;
}

/* Around queueing a request and sending it: the order of the queue is then
 * the order on the wire, whichever threads send. */
static inline void hps_httpc_lock_sends(hps_ctx *ctx)
{
    pthread_mutex_lock(&((hps_httpc_cfg *)ctx->family)->send_lock);
}

static inline void hps_httpc_unlock_sends(hps_ctx *ctx)
{
    pthread_mutex_unlock(&((hps_httpc_cfg *)ctx->family)->send_lock);
}

static void hps_httpc_cfg_free(void *p)
{
    hps_httpc_cfg *cfg = (hps_httpc_cfg *)p;
    if (cfg == NULL)
        return;
    pthread_mutex_destroy(&cfg->send_lock);
    free(cfg);
}

/* ------------------------------------------------------------------ */
/* Per connection                                                         */

/* A request sent and not answered yet: "method\0target\0". */
typedef struct hps_httpc_req {
    struct hps_httpc_req *next;
    int head;                 /* HEAD: its response has no body */
    size_t len;
    char text[];
} hps_httpc_req;

typedef struct hps_httpc_conn {
    /* The response being parsed: "reason\0", then "name\0value\0" per
     * header field in wire order, then the same per trailer field. */
    hps_buf head;
    int nheaders;
    int ntrailers;
    hps_buf body;
    int status;
    unsigned int version;     /* MAKEWORD(major, minor) */
    int in_message;           /* between MessageBegin and MessageComplete */
    int in_trailers;          /* after the last chunk */
    int error;                /* errno for on_close: EMSGSIZE, EBADMSG, ENOMEM; 0 */
    int failed;               /* a handler raised: the close is not a parse error */
    int closing;              /* disconnect() was asked for */
    /* Requests sent and not answered, oldest first; under ctx->lock. */
    hps_httpc_req *first;
    hps_httpc_req *last;
    /* WebSocket: a handshake was sent (its 101 is checked in Python), then
     * the connection's WebSocket state; ws_closing (under ctx->lock): our
     * Close went, no frame may follow it. */
    int ws_pending;
    hps_ws *ws;
    int ws_closing;
} hps_httpc_conn;

static inline void hps_httpc_reset(hps_httpc_conn *st)
{
    hps_buf_consume(&st->head, hps_buf_len(&st->head));
    hps_buf_consume(&st->body, hps_buf_len(&st->body));
    st->nheaders = 0;
    st->ntrailers = 0;
    st->status = 0;
    st->version = 0;
    st->in_message = 0;
    st->in_trailers = 0;
}

static void hps_httpc_conn_free(void *p)
{
    hps_httpc_conn *st = (hps_httpc_conn *)p;
    hps_httpc_req *q;
    if (st == NULL)
        return;
    while ((q = st->first) != NULL) {
        st->first = q->next;
        free(q);
    }
    hps_buf_free(&st->head);
    hps_buf_free(&st->body);
    hps_ws_free(st->ws);
    free(st);
}

/* The connection's state, with ctx->lock held; made on first use when
 * create.  NULL if the connection is gone (or out of memory). */
static inline hps_httpc_conn *hps_httpc_state_locked(hps_ctx *ctx, HP_CONNID id, int create)
{
    int known;
    hps_conn *rec = hps_conn_get(ctx, id, create, &known);
    hps_httpc_conn *st = rec != NULL ? (hps_httpc_conn *)rec->family : NULL;
    if (rec != NULL && st == NULL && create) {
        st = (hps_httpc_conn *)calloc(1, sizeof(hps_httpc_conn));
        rec->family = st;
    }
    return st;
}

/* For the worker callbacks of the connection: the record cannot go while
 * the library runs one of them, so the pointer stays valid until it
 * returns. */
static inline hps_httpc_conn *hps_httpc_state(hps_ctx *ctx, HP_CONNID id)
{
    hps_httpc_conn *st;
    hps_lock(ctx);
    st = hps_httpc_state_locked(ctx, id, 1);
    hps_unlock(ctx);
    return st;
}

/* ------------------------------------------------------------------ */
/* The queue of requests not answered yet                                 */

/* Queue a request about to be sent; NULL if the connection is gone (or
 * out of memory).  The caller holds cfg->send_lock until it is sent. */
static inline hps_httpc_req *hps_httpc_push(hps_ctx *ctx, HP_CONNID id, const char *method, size_t ml,
                                            const char *target, size_t tl)
{
    hps_httpc_conn *st;
    hps_httpc_req *q = (hps_httpc_req *)malloc(sizeof(hps_httpc_req) + ml + tl + 2);
    if (q == NULL)
        return NULL;
    q->next = NULL;
    q->head = ml == 4 && memcmp(method, "HEAD", 4) == 0;
    q->len = ml + tl + 2;
    memcpy(q->text, method, ml);
    q->text[ml] = '\0';
    memcpy(q->text + ml + 1, target, tl);
    q->text[ml + 1 + tl] = '\0';
    hps_lock(ctx);
    st = hps_httpc_state_locked(ctx, id, 1);
    if (st == NULL) {
        hps_unlock(ctx);
        free(q);
        return NULL;
    }
    if (st->last != NULL)
        st->last->next = q;
    else
        st->first = q;
    st->last = q;
    hps_unlock(ctx);
    return q;
}

/* Take back a request whose send failed (if the connection still has it:
 * the pointer is only compared, the entry may have been freed with a
 * connection that closed meanwhile). */
static inline void hps_httpc_unpush(hps_ctx *ctx, HP_CONNID id, hps_httpc_req *q)
{
    hps_httpc_conn *st;
    hps_httpc_req *p, *prev = NULL;
    hps_lock(ctx);
    st = hps_httpc_state_locked(ctx, id, 0);
    if (st != NULL) {
        for (p = st->first; p != NULL; prev = p, p = p->next) {
            if (p == q) {
                if (prev != NULL)
                    prev->next = p->next;
                else
                    st->first = p->next;
                if (st->last == p)
                    st->last = prev;
                free(p);
                break;
            }
        }
    }
    hps_unlock(ctx);
}

/* The oldest request not answered, taken off the queue (the caller frees
 * it), or NULL: a response nobody asked for. */
static inline hps_httpc_req *hps_httpc_pop(hps_ctx *ctx, hps_httpc_conn *st)
{
    hps_httpc_req *q;
    hps_lock(ctx);
    q = st->first;
    if (q != NULL) {
        st->first = q->next;
        if (st->first == NULL)
            st->last = NULL;
    }
    hps_unlock(ctx);
    return q;
}

/* Whether the oldest request not answered is a HEAD. */
static inline int hps_httpc_head_first(hps_ctx *ctx, hps_httpc_conn *st)
{
    int head;
    hps_lock(ctx);
    head = st->first != NULL && st->first->head;
    hps_unlock(ctx);
    return head;
}

/* The errno on_close reports instead of the library's: why hpsocket closed
 * the connection (an oversize body, a parse error), or ECONNRESET when the
 * server closed it with a response cut short or requests not answered; 0
 * if none applies.  Called in OnClose, before the record goes. */
static inline int hps_httpc_close_error(hps_ctx *ctx, HP_CONNID id)
{
    int why = 0, stopping = __atomic_load_n(&((hps_httpc_cfg *)ctx->family)->stopping, __ATOMIC_ACQUIRE);
    hps_httpc_conn *st;
    hps_lock(ctx);
    st = hps_httpc_state_locked(ctx, id, 0);
    if (st != NULL) {
        if (st->error)
            why = st->error;
        else if (!st->closing && !stopping && (st->in_message || st->first != NULL))
            why = ECONNRESET;
    }
    hps_unlock(ctx);
    return why;
}

/* stop() was asked for: the connections it closes are not resets.  (A
 * client's own state is already "stopping" when its server closes.) */
static void hps_httpc_family_stop(hps_ctx *ctx)
{
    if (ctx->family != NULL)
        __atomic_store_n(&((hps_httpc_cfg *)ctx->family)->stopping, 1, __ATOMIC_RELEASE);
}

/* disconnect() was asked for: unanswered requests are then not a reset. */
static inline void hps_httpc_mark_closing(hps_ctx *ctx, HP_CONNID id)
{
    hps_httpc_conn *st;
    int gate = hps_gate_enter(ctx);   /* any thread */
    if (!gate)
        return;
    hps_lock(ctx);
    st = hps_httpc_state_locked(ctx, id, 0);
    if (st != NULL)
        st->closing = 1;
    hps_unlock(ctx);
    hps_gate_leave(ctx, gate);
}

/* ------------------------------------------------------------------ */
/* Assembling a response (worker thread, no GIL)                          */

static inline int hps_httpc_append_str(hps_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > (size_t)INT_MAX - 1 || hps_buf_append(b, (const unsigned char *)s, (int)n) < 0)
        return -1;
    return hps_buf_append(b, (const unsigned char *)"", 1) < 0 ? -1 : 0;
}

static inline void hps_httpc_begin(hps_httpc_conn *st)
{
    hps_httpc_reset(st);
    st->in_message = 1;
}

/* 0, or -1 (out of memory: the connection closes). */
static inline int hps_httpc_status_line(hps_httpc_conn *st, int status, const char *reason)
{
    st->status = status;
    if (hps_httpc_append_str(&st->head, reason != NULL ? reason : "") < 0) {
        st->error = ENOMEM;
        return -1;
    }
    return 0;
}

/* A header field line, or a trailer field after the last chunk. */
static inline int hps_httpc_header(hps_httpc_conn *st, const char *name, const char *value)
{
    if (hps_httpc_append_str(&st->head, name) < 0 || hps_httpc_append_str(&st->head, value) < 0) {
        st->error = ENOMEM;
        return -1;
    }
    if (st->in_trailers)
        st->ntrailers++;
    else
        st->nheaders++;
    return 0;
}

/* End of the head: 1 to skip the body (a response to HEAD; 1xx, 204 and
 * 304 have none whatever they declare), 0 to read it, -1 if the declared
 * length is over the limit (the connection closes with EMSGSIZE).
 * content_length is ULLONG_MAX when none was declared. */
static inline int hps_httpc_headers_done(hps_ctx *ctx, hps_httpc_conn *st, const hps_httpc_cfg *cfg,
                                         unsigned int version, unsigned long long content_length)
{
    st->version = version;
    if ((st->status >= 100 && st->status < 200) || st->status == 204 || st->status == 304)
        return 1;
    if (hps_httpc_head_first(ctx, st))
        return 1;
    if (content_length != ULLONG_MAX && content_length > cfg->max_body) {
        st->error = EMSGSIZE;
        return -1;
    }
    return 0;
}

/* A piece of the body: 0, or -1 if it is over the limit (EMSGSIZE). */
static inline int hps_httpc_body(hps_httpc_conn *st, const hps_httpc_cfg *cfg,
                                 const unsigned char *data, int len)
{
    if ((unsigned long long)hps_buf_len(&st->body) + (unsigned long long)len > cfg->max_body
        || hps_buf_append(&st->body, data, len) < 0) {
        st->error = EMSGSIZE;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* HttpSyncClient: the response of the request in progress                */

/*
 * The sync client's listener events run on the library's worker thread
 * while the caller waits in OpenUrl (without the GIL); the caller reads
 * what they gathered once OpenUrl returns.  The lock orders the two.
 */
typedef struct hps_httpc_sync {
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* a final response arrived, or a close */
    hps_httpc_conn resp;      /* head only: the library keeps the body */
    int complete;             /* a final response (not 1xx, but 101) arrived */
    int keep_alive;
    int closed;               /* the connection closed during the request */
    int close_error;          /* its errno (ECONNREFUSED...) */
    unsigned long long close_ms;
    int parse_error;          /* http_parser's error number, or 0 */
    char parse_desc[128];
} hps_httpc_sync;

static inline unsigned long long hps_httpc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull;
}

static inline hps_httpc_sync *hps_httpc_sync_new(void)
{
    hps_httpc_sync *s = (hps_httpc_sync *)calloc(1, sizeof(hps_httpc_sync));
    if (s != NULL) {
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
    }
    return s;
}

static void hps_httpc_sync_free(void *p)
{
    hps_httpc_sync *s = (hps_httpc_sync *)p;
    if (s == NULL)
        return;
    hps_buf_free(&s->resp.head);
    hps_buf_free(&s->resp.body);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Before each request (the caller's thread). */
static inline void hps_httpc_sync_clear(hps_httpc_sync *s)
{
    pthread_mutex_lock(&s->lock);
    hps_httpc_reset(&s->resp);
    s->resp.error = 0;
    s->complete = 0;
    s->keep_alive = 0;
    s->closed = 0;
    s->close_error = 0;
    s->close_ms = 0;
    s->parse_error = 0;
    s->parse_desc[0] = '\0';
    pthread_mutex_unlock(&s->lock);
}

static inline void hps_httpc_sync_closed(hps_httpc_sync *s, int error)
{
    pthread_mutex_lock(&s->lock);
    if (!s->closed) {
        s->closed = 1;
        s->close_error = error;
        s->close_ms = hps_httpc_now_ms();
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* A connection was made: closes before it (the previous connection's, when
 * the host changes) are not this request's. */
static inline void hps_httpc_sync_connected(hps_httpc_sync *s)
{
    pthread_mutex_lock(&s->lock);
    s->closed = 0;
    s->close_error = 0;
    s->close_ms = 0;
    pthread_mutex_unlock(&s->lock);
}

static inline void hps_httpc_sync_parse_error(hps_httpc_sync *s, int code, const char *desc)
{
    pthread_mutex_lock(&s->lock);
    s->parse_error = code ? code : -1;
    snprintf(s->parse_desc, sizeof(s->parse_desc), "%s", desc != NULL ? desc : "");
    pthread_mutex_unlock(&s->lock);
}

/* The end of a message (worker thread): a final response completes the
 * request; an interim one (100 Continue, 103) does not. */
static inline void hps_httpc_sync_complete(hps_httpc_sync *s, int keep_alive)
{
    pthread_mutex_lock(&s->lock);
    if (s->resp.status >= 200 || s->resp.status == 101) {
        s->complete = 1;
        s->keep_alive = keep_alive;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
}

/*
 * OpenUrl returns at the end of the first message, an interim 1xx one
 * included (measured: it returned with the 100 of "100 Continue"), while
 * the library goes on parsing the final response into the same body
 * buffer.  Wait for that one (up to timeout_ms, 0: no limit) or a close:
 * 1 if it arrived.
 */
static inline int hps_httpc_sync_wait_final(hps_httpc_sync *s, unsigned int timeout_ms)
{
    struct timespec until;
    int done;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms ? timeout_ms / 1000 : 86400;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->complete && !s->closed)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &until) != 0)
            break;
    done = s->complete;
    pthread_mutex_unlock(&s->lock);
    return done;
}

static inline void hps_httpc_sync_lock(hps_httpc_sync *s) { pthread_mutex_lock(&s->lock); }
static inline void hps_httpc_sync_unlock(hps_httpc_sync *s) { pthread_mutex_unlock(&s->lock); }

/* ------------------------------------------------------------------ */
/* WebSocket on the clients: frames masked with fresh random keys, on a
 * copy (the library's own client send masks the caller's buffer in place) */

/* Random bytes for mask keys: the kernel's CSPRNG, drawn 256 bytes at a
 * time per thread. */
static __thread unsigned char hps_wsc_pool[256];
static __thread size_t hps_wsc_pool_left = 0;

static inline void hps_wsc_key(unsigned char key[4])
{
    if (hps_wsc_pool_left < 4) {
        long n = syscall(SYS_getrandom, hps_wsc_pool, sizeof(hps_wsc_pool), 0);
        if (n != (long)sizeof(hps_wsc_pool)) {
            /* No getrandom (very old kernels): /dev/urandom. */
            FILE *f = fopen("/dev/urandom", "rb");
            if (f == NULL || fread(hps_wsc_pool, 1, sizeof(hps_wsc_pool), f) != sizeof(hps_wsc_pool)) {
                unsigned long long t = (unsigned long long)time(NULL) ^ (unsigned long long)(uintptr_t)&n;
                memcpy(hps_wsc_pool, &t, sizeof(t) < sizeof(hps_wsc_pool) ? sizeof(t) : sizeof(hps_wsc_pool));
            }
            if (f != NULL)
                fclose(f);
        }
        hps_wsc_pool_left = sizeof(hps_wsc_pool);
    }
    hps_wsc_pool_left -= 4;
    memcpy(key, hps_wsc_pool + hps_wsc_pool_left, 4);
}

/* The connection's WebSocket, or NULL (worker callbacks only). */
static inline hps_ws *hps_wsc_of(hps_ctx *ctx, HP_CONNID id)
{
    hps_httpc_conn *st;
    hps_ws *ws = NULL;
    hps_lock(ctx);
    st = hps_httpc_state_locked(ctx, id, 0);
    if (st != NULL)
        ws = st->ws;
    hps_unlock(ctx);
    return ws;
}

/* A handshake is about to be sent on the connection: its answer is checked
 * as one (0, or -1 if the connection is gone). */
static inline int hps_wsc_expect(hps_ctx *ctx, HP_CONNID id)
{
    hps_httpc_conn *st;
    int gate = hps_gate_enter(ctx);   /* any thread */
    if (!gate)
        return -1;
    hps_lock(ctx);
    st = hps_httpc_state_locked(ctx, id, 1);
    if (st != NULL)
        st->ws_pending = 1;
    hps_unlock(ctx);
    hps_gate_leave(ctx, gate);
    return st != NULL ? 0 : -1;
}

/* The 101 was accepted (worker): the connection is a WebSocket. */
static inline int hps_wsc_attach(hps_ctx *ctx, hps_httpc_conn *st, unsigned long long max_message)
{
    hps_ws *ws = hps_ws_new(0, 0, max_message);
    if (ws == NULL)
        return -1;
    hps_lock(ctx);
    st->ws = ws;
    st->ws_pending = 0;
    hps_unlock(ctx);
    return 0;
}

/* One frame from a client (any thread): masked on a copy, sent whole
 * through the library's queue under the send lock (frames of several
 * threads never interleave, and none follows our Close).  1 if queued, 0 if
 * the connection is not an open WebSocket. */
static inline int hps_wsc_send(hps_ctx *ctx, void *sender, HP_CONNID id, int opcode,
                               const unsigned char *p, size_t n)
{
    unsigned char key[4], *frame;
    size_t head;
    hps_httpc_conn *st;
    WSABUF b;
    int ok = 0;
    if (n > 0xFFFFFFFFu - HPS_WS_HEAD_MAX)
        return 0;
    frame = (unsigned char *)malloc(HPS_WS_HEAD_MAX + n);
    if (frame == NULL)
        return 0;
    hps_wsc_key(key);
    head = hps_ws_head(frame, opcode, n, key);
    hps_ws_mask(frame + head, p, n, key, 0);
    hps_httpc_lock_sends(ctx);
    hps_lock(ctx);
    st = hps_httpc_state_locked(ctx, id, 0);
    if (st != NULL && st->ws != NULL && !st->ws_closing) {
        ok = 1;
        if (opcode == HPS_WS_CLOSE)
            st->ws_closing = 1;
    }
    hps_unlock(ctx);
    if (ok) {
        b.buf = frame;
        b.len = (unsigned int)(head + n);
        ok = ctx->ops->send_packets(sender, id, &b, 1) ? 1 : 0;
    }
    hps_httpc_unlock_sends(ctx);
    free(frame);
    return ok;
}

static inline int hps_wsc_send_close(hps_ctx *ctx, void *sender, HP_CONNID id, int code,
                                     const unsigned char *reason, size_t reason_len)
{
    unsigned char payload[125];
    size_t n = hps_ws_close_payload(payload, code, reason, reason_len);
    return hps_wsc_send(ctx, sender, id, HPS_WS_CLOSE, payload, n);
}

#endif /* HPSOCKET_HTTP_CLIENT_H */
