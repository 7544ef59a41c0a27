/*
 * _http.h - the HTTP server family's native side: each request is assembled
 * from the library's parser events on the worker thread, without the GIL,
 * checked against what HP-Socket 5.2.2's parser (http_parser 2.8.0) lets
 * through, and handed to Python once, whole; responses leave in request
 * order whichever thread makes them; idle and slow connections are closed by
 * a sweeper thread.
 *
 * Per connection (hps_conn.family, freed with the record after on_close):
 *   - the request being parsed, touched only by the connection's worker
 *     callbacks, which the library serialises (the socket's I/O lock);
 *   - the response order (next_seq, send_seq, parked), under ctx->lock.
 *
 * Why responses are not sent with the library's SendResponse: it writes a
 * second Content-Length when the application's header is not spelled
 * exactly "Content-Length", a Content-Length on 1xx and 204, and bodies on
 * HEAD (../shared facts, measured); heads are built here and sent raw.
 * Why error answers are written by hpsocket: the library sends nothing on a
 * parse error and closes; an answer written before the callback returns
 * reaches the client.
 */
#ifndef HPSOCKET_HTTP_H
#define HPSOCKET_HTTP_H

#include <strings.h>
#include <time.h>

#include "_ctx.h"
#include "_send.h"
#include "_tcp.h"
#include "_ws.h"

/* ------------------------------------------------------------------ */
/* Per-server settings and the sweeper                                   */

typedef struct hps_http_cfg {
    size_t max_header;        /* request line + header fields, bytes */
    size_t max_target;        /* request target, bytes */
    unsigned long long max_body;
    unsigned long long stream_over;   /* bodies larger (or chunked) are streamed; 0: never */
    unsigned int keep_alive_ms;   /* idle keep-alive connection */
    unsigned int header_ms;       /* first byte of a request to its end of headers */
    unsigned int body_ms;         /* longest pause inside a request body */
    /* WebSocket connections (_ws.h) */
    unsigned long long ws_max_message;
    unsigned int ws_ping_ms;      /* a ping after this long without a frame; 0: never */
    unsigned int ws_pong_ms;      /* then the pong's deadline, else the connection is dropped */
    unsigned int ws_close_ms;     /* our Close's wait for the peer's */
    unsigned int ws_idle_ms;      /* no message for this long: Close 1001; 0: never */
    /* Requests for hpsocket's request threads (threads > 0), in arrival
     * order; the worker never takes the GIL for them. */
    int threads;
    pthread_mutex_t job_lock;
    pthread_cond_t job_cond;
    struct hps_http_job *job_head, *job_tail;
    int jobs_closed;
    int queued;               /* jobs in the queue */
    int awake;                /* request threads not waiting for a job */
    /* Or, for an event loop (hpsocket.asgi): an eventfd written when a job
     * is queued and no wake-up is pending, and that flag (under job_lock). */
    int wake_fd;
    int wake_armed;
    pthread_t sweeper;
    int sweeper_running;
    int sweeper_stop;
    pthread_mutex_t sweep_lock;
    pthread_cond_t sweep_cond;
} hps_http_cfg;

/* ------------------------------------------------------------------ */
/* Per connection                                                        */

typedef struct hps_http_parked {
    struct hps_http_parked *next;
    unsigned long long seq;
    int flags;                /* HPS_HTTP_* */
    size_t len;
    unsigned char data[];
} hps_http_parked;

/* A whole request handed to hpsocket's request threads (threads > 0):
 * head ("method\0target\0" then name\0value\0 pairs) and body, copied. */
/* What a job carries: requests for request threads or an event loop; the
 * rest only for an event loop (hpsocket.asgi). */
enum {
    HPS_JOB_REQUEST = 0,      /* a whole request */
    HPS_JOB_CLOSED,           /* the connection closed, after its requests */
    HPS_JOB_UPGRADE,          /* a WebSocket upgrade request, receive paused */
    HPS_JOB_WS_MESSAGE,       /* a whole message: code is its opcode */
    HPS_JOB_WS_CLOSE,         /* the WebSocket ended: code, reason as the body */
    HPS_JOB_BODY              /* more of a streamed body, or its end, can be read */
};

typedef struct hps_http_job {
    struct hps_http_job *next;
    int kind;                 /* HPS_JOB_* */
    int code;
    HP_CONNID id;
    unsigned long long seq;
    int keep_alive;
    unsigned int version;
    int nheaders;
    struct hps_http_pipe *pipe;   /* a streamed body (the job holds a reference), or NULL */
    size_t head_len, body_len;
    unsigned char data[];     /* head_len bytes of head, then the body */
} hps_http_job;

/*
 * A request body streamed to the handler (HttpServer.stream_body_over):
 * the worker appends what arrives, a request thread reads it.  Shared by the
 * connection's state and the Python BodyStream, freed by the last of them.
 * The worker stops reading the socket while more than HPS_PIPE_HIGH bytes
 * wait, and the reader lets it go on below HPS_PIPE_LOW.
 */
#define HPS_PIPE_HIGH (1u << 20)
#define HPS_PIPE_LOW (256u << 10)

typedef struct hps_http_pipe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    hps_buf buf;
    int refs;
    int eof;                  /* the whole body arrived */
    int error;                /* the body will not be complete: 413, a close, a parse error */
    int discard;              /* nobody reads any more: drop what arrives */
    int paused;               /* the worker paused reading the connection */
    struct hps_http_cfg *notify;  /* an event loop waits for more: queue it an HPS_JOB_BODY */
    void *sender;
    HP_CONNID id;
} hps_http_pipe;

static inline int hps_http_job_event(struct hps_http_cfg *cfg, int kind, HP_CONNID id, int code,
                                     const unsigned char *data, size_t n);

/* Tell the event loop waiting on p, if one is (p->lock held; the job is
 * queued once it is released: *cfg). */
static inline void hps_http_pipe_notice(hps_http_pipe *p, struct hps_http_cfg **cfg)
{
    *cfg = p->notify;
    p->notify = NULL;
}

static inline hps_http_pipe *hps_http_pipe_new(void *sender, HP_CONNID id)
{
    hps_http_pipe *p = (hps_http_pipe *)calloc(1, sizeof(hps_http_pipe));
    if (p != NULL) {
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        p->refs = 2;          /* the connection's state and the reader */
        p->sender = sender;
        p->id = id;
    }
    return p;
}

static inline void hps_http_pipe_release(hps_http_pipe *p)
{
    int last;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (last) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        hps_buf_free(&p->buf);
        free(p);
    }
}

/* The writer's end (worker): more bytes, the end, or a failure. */
/* Pausing and resuming the connection happen under p->lock, so that a
 * resume cannot overtake the pause it answers. */
static inline void hps_http_pipe_write(hps_http_pipe *p, const unsigned char *data, int len)
{
    struct hps_http_cfg *cfg = NULL;
    pthread_mutex_lock(&p->lock);
    if (!p->discard && !p->error) {
        if (hps_buf_append(&p->buf, data, len) < 0) {
            p->error = 1;
        } else if (hps_buf_len(&p->buf) > HPS_PIPE_HIGH && !p->paused) {
            p->paused = 1;
            HP_Server_PauseReceive(p->sender, p->id, 1);
        }
        pthread_cond_broadcast(&p->cond);
        hps_http_pipe_notice(p, &cfg);
    }
    pthread_mutex_unlock(&p->lock);
    if (cfg != NULL)
        hps_http_job_event(cfg, HPS_JOB_BODY, p->id, 0, NULL, 0);
}

static inline void hps_http_pipe_end(hps_http_pipe *p, int error)
{
    struct hps_http_cfg *cfg = NULL;
    pthread_mutex_lock(&p->lock);
    if (error)
        p->error = 1;
    else
        p->eof = 1;
    pthread_cond_broadcast(&p->cond);
    hps_http_pipe_notice(p, &cfg);
    pthread_mutex_unlock(&p->lock);
    if (cfg != NULL)
        hps_http_job_event(cfg, HPS_JOB_BODY, p->id, 0, NULL, 0);
}

/*
 * An event loop's reader: the bytes waiting (> 0), or -1 if the body will
 * not be complete, -2 at its end; 0 if none yet: then cfg's queue gets an
 * HPS_JOB_BODY at the next bytes or the end.
 */
static inline long hps_http_pipe_poll(hps_http_pipe *p, struct hps_http_cfg *cfg)
{
    long r;
    size_t have;
    pthread_mutex_lock(&p->lock);
    have = hps_buf_len(&p->buf);
    if (have > 0)
        r = have > (size_t)INT_MAX ? INT_MAX : (long)have;
    else if (p->error)
        r = -1;
    else if (p->eof)
        r = -2;
    else {
        p->notify = cfg;
        r = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* The reader lets the worker read again (any thread, p->lock held). */
static inline void hps_http_pipe_resume(hps_http_pipe *p)
{
    hps_ctx *ctx = hps_lookup(p->sender);
    int gate = ctx != NULL ? hps_gate_enter(ctx) : 0;
    p->paused = 0;
    if (gate)
        HP_Server_PauseReceive(p->sender, p->id, 0);
    if (ctx != NULL)
        hps_gate_leave(ctx, gate);
}

/*
 * The reader's end: up to n bytes into out.  Returns the count, 0 at the
 * end of the body, -1 if it will not come whole, -2 after timeout_ms
 * without any.
 */
static inline long hps_http_pipe_read(hps_http_pipe *p, unsigned char *out, size_t n, int timeout_ms)
{
    struct timespec until;
    long got = -2;
    size_t have;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (hps_buf_len(&p->buf) == 0 && !p->eof && !p->error)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) != 0)
            break;
    have = hps_buf_len(&p->buf);
    if (have > 0) {
        if (n > have)
            n = have;
        if (n > (size_t)INT_MAX)
            n = (size_t)INT_MAX;
        hps_buf_take(&p->buf, out, (int)n, 0);
        got = (long)n;
        if (p->paused && hps_buf_len(&p->buf) < HPS_PIPE_LOW)
            hps_http_pipe_resume(p);
    } else if (p->error) {
        got = -1;
    } else if (p->eof) {
        got = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

/* The reader is done before the end (its response was sent, or it is
 * gone): the rest of the body is dropped as it arrives. */
static inline void hps_http_pipe_discard(hps_http_pipe *p)
{
    pthread_mutex_lock(&p->lock);
    p->discard = 1;
    hps_buf_free(&p->buf);
    if (p->paused)
        hps_http_pipe_resume(p);
    pthread_mutex_unlock(&p->lock);
}

typedef struct hps_http_conn {
    /* The request being parsed: "method\0target\0" then "name\0value\0"
     * per header field, in wire order. */
    hps_buf head;
    int nheaders;
    hps_buf body;
    size_t header_bytes;
    int error;                /* status to answer instead, 0 if none */
    int in_message;           /* between MessageBegin and MessageComplete */
    int headers_done;
    int in_trailers;
    int hosts;
    int has_cl;
    unsigned long long cl;
    int has_te;
    unsigned long long body_bytes;
    int expect_continue;
    unsigned int version;     /* MAKEWORD(major, minor) */
    int dead;                 /* a closing answer is due: ignore the rest */
    hps_http_pipe *pipe;      /* the body being streamed to a handler, or NULL */
    int batched;              /* this request came in the same read as the
                                 previous one: its answer joins the library's
                                 queue, written with the others at once */
    unsigned long long begin_ms, last_rx_ms;
    /* Response order, under ctx->lock. */
    unsigned long long next_seq;  /* number of the next request */
    unsigned long long send_seq;  /* number of the response to write next */
    int sending;              /* a thread is writing responses in order */
    int refs;                 /* the record's, and one per thread in hps_http_submit */
    int continue_owed;        /* a 100 Continue waits for the answers owed before it */
    int out_paused;           /* not read while the client reads its answers too slowly */
    int closed_by_us;         /* the closing response went out */
    int close_when_drained;   /* the sweeper half-closes once it is written */
    hps_http_parked *parked;
    unsigned long long idle_since_ms;
    /* After an accepted WebSocket upgrade: its state (worker callbacks
     * only), and whether our Close frame went (under ctx->lock; no frame
     * may follow it). */
    hps_ws *ws;
    int ws_closing;
    /* Messages queued for an event loop and not yet taken by the app
     * (bytes, plus HPS_LOOP_WS_COST each), and whether that paused
     * receiving; under ctx->lock. */
    size_t loop_queued;
    int loop_paused;
} hps_http_conn;

static inline unsigned long long hps_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull;
}

/* Drop a reference to a connection's state; the last one frees it. */
static inline void hps_http_conn_unref(hps_http_conn *st)
{
    hps_http_parked *q;
    if (__atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    while ((q = st->parked) != NULL) {
        st->parked = q->next;
        free(q);
    }
    hps_buf_free(&st->head);
    hps_buf_free(&st->body);
    hps_ws_free(st->ws);
    free(st);
}

/* The connection's record goes (after OnClose).  A thread may still be
 * writing its answers (hps_http_submit holds a reference meanwhile). */
static void hps_http_conn_free(void *p)
{
    hps_http_conn *st = (hps_http_conn *)p;
    if (st == NULL)
        return;
    if (st->pipe != NULL) {
        hps_http_pipe_end(st->pipe, 1);   /* the connection closed mid-body */
        hps_http_pipe_release(st->pipe);
        st->pipe = NULL;
    }
    hps_http_conn_unref(st);
}

/* The connection's HTTP state (created on first use), or NULL if the
 * connection is gone.  Worker callbacks only: the record cannot go while
 * the library runs one of the connection's callbacks. */
static inline hps_http_conn *hps_http_state(hps_ctx *ctx, HP_CONNID id)
{
    int known;
    hps_conn *rec;
    hps_http_conn *st;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 1, &known);
    st = rec != NULL ? (hps_http_conn *)rec->family : NULL;
    if (rec != NULL && st == NULL) {
        st = (hps_http_conn *)calloc(1, sizeof(hps_http_conn));
        if (st != NULL) {
            st->refs = 1;
            st->idle_since_ms = hps_now_ms();
            rec->family = st;
        }
    }
    hps_unlock(ctx);
    return st;
}

/* ------------------------------------------------------------------ */
/* Assembling and checking a request (worker thread, no GIL)             */

/*
 * Pipelined requests that arrive in one read are answered with one write,
 * as HP-Socket's own queue does, instead of one write per answer: a request
 * whose first byte is parsed within a few microseconds of the previous
 * request of the same connection ending, on the same worker thread, came in
 * the same read; its answer goes to the library's queue, which the worker
 * writes (all of them together) once the read is processed.  A request
 * that came alone (a round trip at least after the previous answer) keeps
 * the direct write.  Misjudging costs only speed, never order: the direct
 * write of the earlier answer has finished before a later one is queued.
 */
static __thread void *hps_http_last_sender = NULL;
static __thread HP_CONNID hps_http_last_id = 0;
static __thread unsigned long long hps_http_last_ns = 0;

#define HPS_HTTP_BATCH_NS 5000ull

static inline unsigned long long hps_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* At the end of a request's handling (worker thread). */
static inline void hps_http_mark_end(void *sender, HP_CONNID id)
{
    hps_http_last_sender = sender;
    hps_http_last_id = id;
    hps_http_last_ns = hps_now_ns();
}

/* At a request's first byte (worker thread). */
static inline int hps_http_follows(void *sender, HP_CONNID id)
{
    return sender == hps_http_last_sender && id == hps_http_last_id
           && hps_now_ns() - hps_http_last_ns < HPS_HTTP_BATCH_NS;
}

/* Forget the request just handled (buffers are kept for the next one). */
static inline void hps_http_reset(hps_http_conn *st)
{
    hps_buf_consume(&st->head, hps_buf_len(&st->head));
    hps_buf_consume(&st->body, hps_buf_len(&st->body));
    st->nheaders = 0;
    st->header_bytes = 0;
    st->error = 0;
    st->in_message = 0;
    st->headers_done = 0;
    st->in_trailers = 0;
    st->hosts = 0;
    st->has_cl = 0;
    st->cl = 0;
    st->has_te = 0;
    st->body_bytes = 0;
    st->expect_continue = 0;
    st->continue_owed = 0;
}

static inline void hps_http_fail(hps_http_conn *st, int status)
{
    if (st->error == 0)
        st->error = status;
}

static inline int hps_http_append_str(hps_buf *b, const char *s, size_t n)
{
    if (n > (size_t)INT_MAX - 1 || hps_buf_append(b, (const unsigned char *)s, (int)n) < 0)
        return -1;
    return hps_buf_append(b, (const unsigned char *)"", 1) < 0 ? -1 : 0;
}

static inline void hps_http_begin(hps_http_conn *st)
{
    hps_http_reset(st);
    st->in_message = 1;
    st->begin_ms = st->last_rx_ms = hps_now_ms();
}

static inline void hps_http_request_line(hps_http_conn *st, const hps_http_cfg *cfg,
                                         const char *method, const char *target)
{
    size_t m = strlen(method), t = strlen(target);
    st->header_bytes = m + t + 12;
    if (t > cfg->max_target) {
        hps_http_fail(st, 414);
        return;
    }
    if (hps_http_append_str(&st->head, method, m) < 0 || hps_http_append_str(&st->head, target, t) < 0)
        hps_http_fail(st, 500);
}

static inline int hps_http_is_digits(const char *v)
{
    if (*v == '\0')
        return 0;
    for (; *v; v++)
        if (*v < '0' || *v > '9')
            return 0;
    return 1;
}

/* One header field line (or trailer field), in wire order. */
static inline void hps_http_header(hps_http_conn *st, const hps_http_cfg *cfg,
                                   const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    char trimmed[32];
    if (st->in_trailers)
        return;   /* trailers are not headers (the library merges them): dropped */
    st->header_bytes += n + v + 4;
    /* Trailing whitespace is not part of a field value (RFC 9110 5.5); the
     * parser has dropped the leading one. */
    while (v > 0 && (value[v - 1] == ' ' || value[v - 1] == '\t'))
        v--;
    if (st->header_bytes > cfg->max_header) {
        hps_http_fail(st, 431);
        return;
    }
    /* The parser passes an obs-fold continuation line as a field of its own
     * whose value starts with the folding whitespace. */
    if (*value == ' ' || *value == '\t') {
        hps_http_fail(st, 400);
        return;
    }
    /* The values checked below are short: compared as a trimmed copy. */
    if (v < sizeof(trimmed)) {
        memcpy(trimmed, value, v);
        trimmed[v] = '\0';
    } else {
        trimmed[0] = 'x';   /* too long to be any of them */
        trimmed[1] = '\0';
    }
    /* A tab in a header that frames the message: http_parser 2.8.0 reads
     * "chunked\t" as no Transfer-Encoding and "close\t" as no close, while
     * the value trimmed says otherwise; refused rather than read two ways. */
    if (((n == 17 && strcasecmp(name, "transfer-encoding") == 0)
         || (n == 10 && strcasecmp(name, "connection") == 0)
         || (n == 14 && strcasecmp(name, "content-length") == 0))
        && memchr(value, '\t', strlen(value)) != NULL) {
        hps_http_fail(st, 400);
        return;
    }
    if (n == 4 && strcasecmp(name, "host") == 0) {
        if (++st->hosts > 1)
            hps_http_fail(st, 400);
    } else if (n == 14 && strcasecmp(name, "content-length") == 0) {
        /* Only digits: 2.8.0 reads "1 2" as 12. */
        unsigned long long cl = 0;
        const char *p;
        if (v > 18 || !hps_http_is_digits(trimmed)) {
            hps_http_fail(st, 400);
            return;
        }
        for (p = trimmed; *p; p++)
            cl = cl * 10 + (unsigned long long)(*p - '0');
        if (st->has_cl && cl != st->cl)
            hps_http_fail(st, 400);
        st->has_cl = 1;
        st->cl = cl;
    } else if (n == 17 && strcasecmp(name, "transfer-encoding") == 0) {
        /* Exactly one "chunked": 2.8.0 takes "gzip, chunked" as no body and
         * parses the chunks as the next request. */
        if (st->has_te++ || strcasecmp(trimmed, "chunked") != 0)
            hps_http_fail(st, strcasecmp(trimmed, "chunked") == 0 || st->has_te > 1 ? 400 : 501);
    } else if (n == 6 && strcasecmp(name, "expect") == 0) {
        if (strcasecmp(trimmed, "100-continue") == 0)
            st->expect_continue = 1;
        else
            hps_http_fail(st, 417);
    }
    if (hps_http_append_str(&st->head, name, n) < 0 || hps_http_append_str(&st->head, value, v) < 0)
        hps_http_fail(st, 500);
    else
        st->nheaders++;
}

/* End of the header block: version is MAKEWORD(major, minor). */
static inline void hps_http_headers_done(hps_http_conn *st, const hps_http_cfg *cfg,
                                         unsigned int version)
{
    unsigned int major = version & 0xFF, minor = (version >> 8) & 0xFF;
    st->headers_done = 1;
    st->version = version;
    if (st->error)
        return;
    if (major != 1)
        hps_http_fail(st, 505);
    else if (minor >= 1 && st->hosts == 0)
        hps_http_fail(st, 400);
    else if (st->has_cl && st->has_te)
        hps_http_fail(st, 400);
    else if (st->has_cl && st->cl > cfg->max_body)
        hps_http_fail(st, 413);
}

/* A piece of the body: 0, or the status to answer with. */
static inline void hps_http_body(hps_http_conn *st, const hps_http_cfg *cfg,
                                 const unsigned char *data, int len)
{
    st->last_rx_ms = hps_now_ms();
    if (st->error || st->dead)
        return;
    st->body_bytes += (unsigned long long)len;
    if (st->body_bytes > cfg->max_body) {
        hps_http_fail(st, 413);
        return;
    }
    if (st->pipe != NULL)
        hps_http_pipe_write(st->pipe, data, len);
    else if (hps_buf_append(&st->body, data, len) < 0)
        hps_http_fail(st, 413);
}

/* http_parser's error numbers (2.8.0) to the status answered. */
static inline int hps_http_parse_error_status(int code)
{
    switch (code) {
    case 12: return 431;   /* HPE_HEADER_OVERFLOW: the library's 80 KiB */
    case 16: return 501;   /* HPE_INVALID_METHOD */
    default: return 400;
    }
}

/* ------------------------------------------------------------------ */
/* Response heads                                                         */

static const char *hps_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return NULL;
    }
}

/* "Date: <IMF-fixdate>\r\n", made once a second (29 + 8 bytes). */
static pthread_mutex_t hps_date_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t hps_date_time = 0;
static char hps_date_line[64];

static inline size_t hps_http_date(char out[64])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    size_t n;
    pthread_mutex_lock(&hps_date_lock);
    if (now != hps_date_time) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(hps_date_line, sizeof(hps_date_line),
                 "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[tm.tm_wday], tm.tm_mday,
                 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        hps_date_time = now;
    }
    n = strlen(hps_date_line);
    memcpy(out, hps_date_line, n + 1);
    pthread_mutex_unlock(&hps_date_lock);
    return n;
}

/* A header name is a token (RFC 9110 5.6.2). */
static inline int hps_http_token(const unsigned char *p, size_t n)
{
    size_t i;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '\0' || strchr("!#$%&'*+-.^_`|~", c) == NULL)
            return 0;
    }
    return 1;
}

/* A header value has no CR, LF or NUL (the rest is the sender's business). */
static inline int hps_http_value_ok(const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
            return 0;
    return 1;
}

/* The canned answer hpsocket sends for a request it refuses. */
static inline size_t hps_http_error_response(int status, char *out, size_t cap)
{
    const char *reason = hps_http_reason(status);
    char date[64];
    size_t n;
    if (reason == NULL)
        reason = "Error";
    hps_http_date(date);
    n = (size_t)snprintf(out, cap,
                         "HTTP/1.1 %d %s\r\n%sServer: hpsocket\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                         status, reason, date, strlen(reason) + 1, reason);
    return n < cap ? n : cap;
}

/* ------------------------------------------------------------------ */
/* Responses in request order (any thread, no GIL)                       */

/*
 * Write a connection's response bytes from any thread.  The connection's
 * own callback gathers them (_send.h).  Any other thread writes them to the
 * socket itself when the library has nothing queued for it, instead of
 * queueing them (an eventfd wake-up, epoll re-arming and a write on the
 * worker): safe because
 *   - hps_http_submit lets one thread at a time write a connection's
 *     responses, and HTTP sends nothing else but interim answers that wait
 *     until no response is owed;
 *   - rec->direct is BUSY during the write, and a closing connection's
 *     record, once detached (no new write starts), waits for it to go IDLE
 *     before OnClose returns and the library closes the socket: the
 *     descriptor is still this connection's (hps_conn_detach, _ctx.h).
 *     ctx->lock is not held across the system call: the worker needs it
 *     for every parser event.
 * The rest of a short write goes to the library's queue, behind it.
 */
static inline int hps_http_write(hps_ctx *ctx, void *sender, HP_CONNID id, WSABUF *bufs, int count,
                                 int batched)
{
    struct iovec iov[HPS_DIRECT_MAX_IOV];
    struct msghdr msg;
    int known, i, fd, pending = 1, state = HPS_DIRECT_IDLE, rc;
    ssize_t w;
    hps_conn *rec;
    if (hps_is_owner(sender, ctx->role, id)) {
        if (!batched)
            return hps_send(ctx, sender, id, bufs, count);
        hps_out_flush_for(ctx, sender, id);
        return ctx->ops->send_packets(sender, id, bufs, count);
    }
    if (!ctx->direct_ok || count > HPS_DIRECT_MAX_IOV)
        return hps_send(ctx, sender, id, bufs, count);
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    if (rec == NULL || rec->fd < 0
        || !__atomic_compare_exchange_n(&rec->direct, &state, HPS_DIRECT_BUSY, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        hps_unlock(ctx);
        return ctx->ops->send_packets(sender, id, bufs, count);
    }
    fd = rec->fd;
    hps_unlock(ctx);
    if (!ctx->ops->get_pending(sender, id, &pending) || pending != 0) {
        rc = ctx->ops->send_packets(sender, id, bufs, count);
    } else {
        for (i = 0; i < count; i++) {
            iov[i].iov_base = bufs[i].buf;
            iov[i].iov_len = bufs[i].len;
        }
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)count;
        do {
            w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (w < 0 && errno == EINTR);
        if (w < 0)
            w = 0;   /* EAGAIN, or a broken connection the library will see */
        for (i = 0; i < count && (size_t)w >= bufs[i].len; i++)
            w -= (ssize_t)bufs[i].len;
        rc = 1;
        HPS_DEBUG_COUNT(hps_counter_direct_writes, 1);
        if (i < count) {
            HPS_DEBUG_COUNT(hps_counter_direct_partial, 1);
            bufs[i].buf += w;
            bufs[i].len -= (unsigned int)w;
            rc = ctx->ops->send_packets(sender, id, bufs + i, count - i) ? 1 : 0;
        }
    }
    __atomic_store_n(&rec->direct, HPS_DIRECT_IDLE, __ATOMIC_RELEASE);
    return rc;
}

static inline int hps_http_send_raw(hps_ctx *ctx, void *sender, HP_CONNID id,
                                    const unsigned char *p, size_t n)
{
    WSABUF b;
    b.buf = (unsigned char *)p;
    b.len = (unsigned int)n;
    return n == 0 ? 1 : hps_http_write(ctx, sender, id, &b, 1, 0);
}

/* Whether the library's send queue of a connection is empty. */
static inline int hps_http_drained(hps_ctx *ctx, void *sender, HP_CONNID id)
{
    int pending = 1;
    return ctx->ops->get_pending(sender, id, &pending) && pending == 0;
}

/*
 * After the closing response: half-close once everything is written (the
 * client reads the end, closes, and the library closes too).  A response
 * that went through the library's queue is usually written within a
 * millisecond; the sweeper half-closes the rare one that takes longer.
 * (HP-Socket's Release waits seconds: its cleaner thread's period.)
 */
static inline void hps_http_close(hps_ctx *ctx, void *sender, HP_CONNID id, hps_http_conn *st)
{
    int i;
    hps_out_flush_for(ctx, sender, id);
    for (i = 0; i < 50; i++) {
        if (hps_http_drained(ctx, sender, id)) {
            hps_disconnect(ctx, id, 0);
            return;
        }
        if (hps_is_owner(sender, ctx->role, id))
            break;   /* a worker in the connection's callback: it writes the queue later */
        usleep(200);
    }
    hps_lock(ctx);
    st->close_when_drained = 1;
    hps_unlock(ctx);
}

/*
 * Back-pressure: a client that sends requests but does not read the answers
 * would make the library queue them without bound.  Once more than
 * HPS_HTTP_OUT_HIGH bytes wait for it, the connection is not read (no more
 * requests) until the sweeper sees them below HPS_HTTP_OUT_LOW.
 */
#define HPS_HTTP_OUT_HIGH (4u << 20)
#define HPS_HTTP_OUT_LOW (1u << 20)

static const char hps_http_continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* After this thread wrote answers: pause a connection whose client does not
 * read, and send a 100 Continue that waited for the answers owed before it. */
static inline void hps_http_after_answers(hps_ctx *ctx, void *sender, HP_CONNID id, hps_http_conn *st)
{
    int pending = 0, pause = 0, cont = 0;
    if (ctx->ops->get_pending(sender, id, &pending) && pending > (int)HPS_HTTP_OUT_HIGH)
        pause = 1;
    hps_lock(ctx);
    if (pause && !st->out_paused)
        st->out_paused = 1;
    else
        pause = 0;
    if (st->continue_owed && !st->sending && st->send_seq == st->next_seq && st->parked == NULL
        && !st->closed_by_us) {
        st->continue_owed = 0;
        st->sending = 1;
        cont = 1;
    }
    hps_unlock(ctx);
    if (pause)
        HP_Server_PauseReceive(sender, id, 1);
    if (cont) {
        hps_http_send_raw(ctx, sender, id, (const unsigned char *)hps_http_continue_line,
                          sizeof(hps_http_continue_line) - 1);
        hps_lock(ctx);
        st->sending = 0;
        hps_unlock(ctx);
    }
}

/* Flags of a piece of a response (hps_http_submit). */
#define HPS_HTTP_END 1     /* the last piece of this response */
#define HPS_HTTP_CLOSE 2   /* with END: the connection ends after it */
#define HPS_HTTP_WS_FRAME 4   /* a WebSocket frame: refused after our Close */
#define HPS_HTTP_WS_CLOSE 8   /* our Close frame: the last frame */
/* The sequence number of a WebSocket connection's frames: they are pieces
 * of the upgrade's answer (the 101), which never ends until the close. */
#define HPS_HTTP_WS_SEQ (~0ull)

/*
 * Send a piece of response number seq of a connection (bufs, count), in
 * request order: now if every earlier response has left, else a copy is
 * parked until they have (pieces of one response keep their order; one
 * thread at a time writes a response's pieces).  Returns 1 if sent or
 * parked, 0 if the connection is gone (or out of memory), -1 if that
 * response has ended already.
 *
 * Invariant: while no thread is sending, no piece of response send_seq is
 * parked, so the response in progress writes its pieces straight away.
 */
static inline int hps_http_submit(hps_ctx *ctx, void *sender, HP_CONNID id,
                                  unsigned long long seq, WSABUF *bufs, int count, int flags)
{
    int known, i, do_close = 0;
    hps_conn *rec;
    hps_http_conn *st;
    hps_http_parked *q, **pp;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    st = rec != NULL ? (hps_http_conn *)rec->family : NULL;
    if (st == NULL || st->closed_by_us) {
        hps_unlock(ctx);
        return 0;
    }
    if (seq == HPS_HTTP_WS_SEQ) {
        if (st->ws == NULL || (st->ws_closing && (flags & (HPS_HTTP_WS_FRAME | HPS_HTTP_WS_CLOSE)))) {
            hps_unlock(ctx);
            return 0;
        }
        if (flags & HPS_HTTP_WS_CLOSE) {
            st->ws_closing = 1;
            __atomic_store_n(&st->ws->close_sent_ms, hps_now_ms(), __ATOMIC_RELAXED);
        }
        seq = st->ws->seq;
    }
    if (seq < st->send_seq) {
        hps_unlock(ctx);
        return -1;
    }
    /* A connection that reads no more requests ends with its last answer. */
    if ((flags & HPS_HTTP_END) && st->dead && seq + 1 == st->next_seq)
        flags |= HPS_HTTP_CLOSE;
    if (seq != st->send_seq || st->sending) {
        size_t total = 0;
        for (i = 0; i < count; i++)
            total += bufs[i].len;
        /* After every parked piece of this response and earlier ones. */
        for (pp = &st->parked; *pp != NULL && (*pp)->seq <= seq; pp = &(*pp)->next)
            ;
        q = (hps_http_parked *)malloc(sizeof(hps_http_parked) + total);
        if (q == NULL) {
            hps_unlock(ctx);
            return 0;
        }
        q->seq = seq;
        q->flags = flags;
        q->len = 0;
        for (i = 0; i < count; i++) {
            memcpy(q->data + q->len, bufs[i].buf, bufs[i].len);
            q->len += bufs[i].len;
        }
        q->next = *pp;
        *pp = q;
        hps_unlock(ctx);
        return 1;
    }
    st->sending = 1;
    /* The connection may close while this thread writes (OnClose on a
     * worker detaches and frees the record): the state stays until this
     * reference goes. */
    __atomic_add_fetch(&st->refs, 1, __ATOMIC_ACQ_REL);
    hps_unlock(ctx);
    /* This thread writes pieces in order until the next one is missing. */
    for (i = 0; i < count; i++) {
        if (bufs[i].len > 0) {
            hps_http_write(ctx, sender, id, bufs, count, st->ws != NULL ? st->ws->batched : st->batched);
            break;
        }
    }
    q = NULL;
    for (;;) {
        hps_lock(ctx);
        if (q != NULL)
            free(q);
        if (flags & HPS_HTTP_END) {
            st->send_seq++;
            st->idle_since_ms = hps_now_ms();
            if (flags & HPS_HTTP_CLOSE) {
                st->closed_by_us = 1;
                st->sending = 0;
                do_close = 1;
                hps_unlock(ctx);
                break;
            }
        }
        q = st->parked;
        if (q == NULL || q->seq != st->send_seq) {
            st->sending = 0;
            hps_unlock(ctx);
            break;
        }
        st->parked = q->next;
        flags = q->flags;
        hps_unlock(ctx);
        hps_http_send_raw(ctx, sender, id, q->data, q->len);
    }
    if (do_close) {
        hps_http_close(ctx, sender, id, st);
    } else {
        hps_http_after_answers(ctx, sender, id, st);
    }
    hps_http_conn_unref(st);
    return 1;
}

/* Whether the answer to request seq will be the connection's last (it
 * reads no more requests): its head then says Connection: close. */
static inline int hps_http_last_answer(hps_ctx *ctx, HP_CONNID id, unsigned long long seq)
{
    int known, last = 0, gate = hps_gate_enter(ctx);   /* any thread */
    hps_conn *rec;
    hps_http_conn *st;
    if (!gate)
        return 1;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    st = rec != NULL ? (hps_http_conn *)rec->family : NULL;
    if (st != NULL)
        last = __atomic_load_n(&st->dead, __ATOMIC_ACQUIRE) && seq + 1 == st->next_seq;
    hps_unlock(ctx);
    hps_gate_leave(ctx, gate);
    return last;
}

/* hpsocket's own answer to a refused request, in order; the connection
 * closes after it and nothing it sends later is read. */
static inline void hps_http_refuse(hps_ctx *ctx, void *sender, HP_CONNID id,
                                   hps_http_conn *st, int status)
{
    char buf[512];
    WSABUF b;
    unsigned long long seq;
    if (st->dead)
        return;
    st->dead = 1;
    HP_Server_PauseReceive(sender, id, 1);
    hps_lock(ctx);
    seq = st->next_seq++;
    hps_unlock(ctx);
    b.buf = (unsigned char *)buf;
    b.len = (unsigned int)hps_http_error_response(status, buf, sizeof(buf));
    hps_http_submit(ctx, sender, id, seq, &b, 1, HPS_HTTP_END | HPS_HTTP_CLOSE);
}

/* "100 Continue" for a request that waits for it, if no earlier response is
 * still owed (an interim answer must not overtake them). */
static inline void hps_http_continue(hps_ctx *ctx, void *sender, HP_CONNID id, hps_http_conn *st)
{
    int now;
    hps_lock(ctx);
    now = st->send_seq == st->next_seq && !st->sending && st->parked == NULL;
    if (!now)
        st->continue_owed = 1;   /* sent by the thread that writes the last owed answer */
    hps_unlock(ctx);
    if (now)
        hps_http_send_raw(ctx, sender, id, (const unsigned char *)hps_http_continue_line,
                          sizeof(hps_http_continue_line) - 1);
}


/* ------------------------------------------------------------------ */
/* WebSocket frames from the server (unmasked): pieces of the 101's answer,
 * so that they follow it, and each other, in order from any thread       */

static inline int hps_ws_send(hps_ctx *ctx, void *sender, HP_CONNID id, int opcode,
                              const unsigned char *p, size_t n, int flags)
{
    unsigned char head[HPS_WS_HEAD_MAX];
    WSABUF b[2];
    b[0].buf = head;
    b[0].len = (unsigned int)hps_ws_head(head, opcode, n, NULL);
    b[1].buf = (unsigned char *)p;
    b[1].len = (unsigned int)n;
    return hps_http_submit(ctx, sender, id, HPS_HTTP_WS_SEQ, b, n ? 2 : 1,
                           flags | (opcode == HPS_WS_CLOSE ? HPS_HTTP_WS_CLOSE : HPS_HTTP_WS_FRAME)) == 1;
}

/* Our Close frame (code 0: without a code); with end, the connection
 * closes once it is written (the peer's Close came first). */
static inline int hps_ws_send_close(hps_ctx *ctx, void *sender, HP_CONNID id, int code,
                                    const unsigned char *reason, size_t reason_len, int end)
{
    unsigned char payload[125];
    size_t n = hps_ws_close_payload(payload, code, reason, reason_len);
    return hps_ws_send(ctx, sender, id, HPS_WS_CLOSE, payload, n,
                       end ? HPS_HTTP_END | HPS_HTTP_CLOSE : 0);
}

/* The close handshake is over (the peer answered our Close): the
 * connection closes once what is queued is written. */
static inline void hps_ws_finish(hps_ctx *ctx, void *sender, HP_CONNID id)
{
    WSABUF b;
    b.buf = (unsigned char *)"";
    b.len = 0;
    hps_http_submit(ctx, sender, id, HPS_HTTP_WS_SEQ, &b, 1, HPS_HTTP_END | HPS_HTTP_CLOSE);
}

/* A connection's WebSocket state, or NULL (worker callbacks only: the
 * record cannot go while the library runs one of the connection's). */
static inline hps_ws *hps_ws_of(hps_ctx *ctx, HP_CONNID id)
{
    int known;
    hps_conn *rec;
    hps_http_conn *st;
    hps_ws *ws = NULL;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    st = rec != NULL ? (hps_http_conn *)rec->family : NULL;
    if (st != NULL)
        ws = st->ws;
    hps_unlock(ctx);
    return ws;
}

/* A frame arrived (worker): the peer is alive. */
static inline void hps_ws_seen(hps_ws *ws)
{
    __atomic_store_n(&ws->last_rx_ms, hps_now_ms(), __ATOMIC_RELAXED);
}

/* A whole data message arrived (worker): the connection is not idle. */
static inline void hps_ws_message_seen(hps_ws *ws)
{
    __atomic_store_n(&ws->last_msg_ms, hps_now_ms(), __ATOMIC_RELAXED);
}

/* A pong arrived (worker): the keep-alive ping is answered. */
static inline void hps_ws_ponged(hps_ws *ws)
{
    __atomic_store_n(&ws->ping_sent_ms, 0ull, __ATOMIC_RELAXED);
}

/* A server's WebSocket state for the upgrade request seq, just opened. */
static inline hps_ws *hps_ws_fresh(unsigned long long seq, unsigned long long max_message)
{
    hps_ws *ws = hps_ws_new(1, seq, max_message);
    if (ws != NULL) {
        hps_ws_seen(ws);
        hps_ws_message_seen(ws);
    }
    return ws;
}

/* Make an accepted upgrade's connection a WebSocket (worker, before the
 * 101 is submitted): 0, or -1 out of memory. */
static inline int hps_ws_attach(hps_ctx *ctx, hps_http_conn *st, unsigned long long seq,
                                unsigned long long max_message)
{
    hps_ws *ws = hps_ws_fresh(seq, max_message);
    if (ws == NULL)
        return -1;
    hps_lock(ctx);
    st->ws = ws;
    st->batched = 0;
    hps_unlock(ctx);
    return 0;
}

/* One message framed once, sent to each of n connections: how many took it. */
static inline int hps_ws_broadcast(hps_ctx *ctx, void *sender, const HP_CONNID *ids, int n,
                                   int opcode, const unsigned char *p, size_t len)
{
    unsigned char head[HPS_WS_HEAD_MAX];
    WSABUF b[2];
    int i, sent = 0;
    unsigned int head_len = (unsigned int)hps_ws_head(head, opcode, len, NULL);
    for (i = 0; i < n; i++) {
        /* hps_http_submit may advance a buffer after a short write. */
        b[0].buf = head;
        b[0].len = head_len;
        b[1].buf = (unsigned char *)p;
        b[1].len = (unsigned int)len;
        if (hps_http_submit(ctx, sender, ids[i], HPS_HTTP_WS_SEQ, b, len ? 2 : 1,
                            HPS_HTTP_WS_FRAME) == 1)
            sent++;
    }
    return sent;
}


/* ------------------------------------------------------------------ */
/* The request queue of hpsocket's request threads                        */

/* Copy the request just parsed into a job (NULL if out of memory). */
static inline hps_http_job *hps_http_job_make(hps_http_conn *st, HP_CONNID id,
                                              unsigned long long seq, int keep_alive)
{
    size_t h = hps_buf_len(&st->head), b = hps_buf_len(&st->body);
    hps_http_job *job = (hps_http_job *)malloc(sizeof(hps_http_job) + h + b);
    if (job == NULL)
        return NULL;
    job->next = NULL;
    job->kind = HPS_JOB_REQUEST;
    job->code = 0;
    job->id = id;
    job->seq = seq;
    job->keep_alive = keep_alive;
    job->version = st->version;
    job->nheaders = st->nheaders;
    job->pipe = NULL;
    job->head_len = h;
    job->body_len = b;
    if (h)
        memcpy(job->data, st->head.buf + st->head.head, h);
    if (b)
        memcpy(job->data + h, st->body.buf + st->body.head, b);
    return job;
}

/* Queue a job: 1, or 0 if the queue is closed (the job is freed). */
static inline int hps_http_job_push(hps_http_cfg *cfg, hps_http_job *job)
{
    pthread_mutex_lock(&cfg->job_lock);
    if (cfg->jobs_closed) {
        pthread_mutex_unlock(&cfg->job_lock);
        if (job->pipe != NULL)
            hps_http_pipe_release(job->pipe);
        free(job);
        return 0;
    }
    if (cfg->job_tail != NULL)
        cfg->job_tail->next = job;
    else
        cfg->job_head = job;
    cfg->job_tail = job;
    if (cfg->wake_fd >= 0) {
        /* An event loop drains the whole queue per wake-up: one eventfd
         * write per batch, none while a wake-up is pending. */
        int wake = !cfg->wake_armed;
        cfg->wake_armed = 1;
        cfg->queued++;
        pthread_mutex_unlock(&cfg->job_lock);
        if (wake) {
            uint64_t one = 1;
            ssize_t rc = write(cfg->wake_fd, &one, sizeof(one));
            (void)rc;     /* EAGAIN: the counter is full, so the loop is woken anyway */
        }
        return 1;
    }
    /* A thread is woken only when the requests waiting outnumber the
     * threads awake: an awake thread takes the next job itself, and every
     * extra thread woken for a handler that holds the GIL only waits for it. */
    if (++cfg->queued > cfg->awake)
        pthread_cond_signal(&cfg->job_cond);
    pthread_mutex_unlock(&cfg->job_lock);
    return 1;
}

/* The event loop took the wake-up (before it drains the queue): the next
 * job queued writes the eventfd again. */
static inline void hps_http_wake_ack(hps_http_cfg *cfg)
{
    uint64_t n;
    /* The read first: a write it could swallow after the flag is cleared
     * would leave the flag set with no wake-up to come. */
    ssize_t rc = read(cfg->wake_fd, &n, sizeof(n));
    (void)rc;
    pthread_mutex_lock(&cfg->job_lock);
    cfg->wake_armed = 0;
    pthread_mutex_unlock(&cfg->job_lock);
}

/* A job that is not a request: kind, code and n bytes of data (copied). */
static inline int hps_http_job_event(hps_http_cfg *cfg, int kind, HP_CONNID id, int code,
                                     const unsigned char *data, size_t n)
{
    hps_http_job *job = (hps_http_job *)calloc(1, sizeof(hps_http_job) + n);
    if (job == NULL)
        return 0;
    job->kind = kind;
    job->code = code;
    job->id = id;
    job->body_len = n;
    if (n)
        memcpy(job->data, data, n);
    return hps_http_job_push(cfg, job);
}

/* A connection whose requests went to an event loop closed: a job that
 * says so (nheaders -1), queued after them.  Nothing for a connection that
 * never had a request, or when no event loop reads the queue. */
static inline void hps_http_job_closed(hps_ctx *ctx, HP_CONNID id)
{
    hps_http_cfg *cfg = (hps_http_cfg *)ctx->family;
    hps_conn *rec;
    hps_http_conn *st;
    hps_http_job *job;
    int known, had;
    if (cfg == NULL || cfg->wake_fd < 0)
        return;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    st = rec != NULL ? (hps_http_conn *)rec->family : NULL;
    had = st != NULL && st->next_seq > 0;
    hps_unlock(ctx);
    if (had)
        hps_http_job_event(cfg, HPS_JOB_CLOSED, id, 0, NULL, 0);
}

/*
 * WebSocket messages for an event loop: a connection stops being read while
 * more than HPS_LOOP_WS_HIGH waits for the app, and goes on below
 * HPS_LOOP_WS_LOW.  Each message counts HPS_LOOP_WS_COST more than its
 * bytes, so that a flood of empty ones is bounded too.
 */
#define HPS_LOOP_WS_HIGH (1u << 20)
#define HPS_LOOP_WS_LOW (256u << 10)
#define HPS_LOOP_WS_COST 64u

/* The connection's HTTP state, for a thread that is not one of its
 * callbacks: only while ctx->lock is held. */
static inline hps_http_conn *hps_http_state_locked(hps_ctx *ctx, HP_CONNID id)
{
    int known;
    hps_conn *rec = hps_conn_get(ctx, id, 0, &known);
    return rec != NULL ? (hps_http_conn *)rec->family : NULL;
}

/* Worker: a whole message to the event loop (0 if out of memory). */
static inline int hps_ws_to_loop(hps_ctx *ctx, void *sender, HP_CONNID id, int opcode,
                                 const unsigned char *p, size_t n)
{
    hps_http_conn *st;
    if (!hps_http_job_event((hps_http_cfg *)ctx->family, HPS_JOB_WS_MESSAGE, id, opcode, p, n))
        return 0;
    hps_lock(ctx);
    st = hps_http_state_locked(ctx, id);
    if (st != NULL) {
        st->loop_queued += n + HPS_LOOP_WS_COST;
        if (st->loop_queued > HPS_LOOP_WS_HIGH && !st->loop_paused) {
            st->loop_paused = 1;
            HP_Server_PauseReceive(sender, id, 1);
        }
    }
    hps_unlock(ctx);
    return 1;
}

/* Event loop: the app took a message of n bytes. */
static inline void hps_ws_loop_taken(hps_ctx *ctx, void *sender, HP_CONNID id, size_t n)
{
    hps_http_conn *st;
    hps_lock(ctx);
    st = hps_http_state_locked(ctx, id);
    if (st != NULL) {
        n += HPS_LOOP_WS_COST;
        st->loop_queued = st->loop_queued > n ? st->loop_queued - n : 0;
        if (st->loop_paused && st->loop_queued <= HPS_LOOP_WS_LOW) {
            st->loop_paused = 0;
            HP_Server_PauseReceive(sender, id, 0);
        }
    }
    hps_unlock(ctx);
}

/* Event loop: the app accepted a WebSocket whose upgrade request is id's
 * request seq: its state, then reading again (receive was paused when the
 * request was queued).  0, or -1 if the connection is gone or out of memory. */
static inline int hps_ws_attach_loop(hps_ctx *ctx, void *sender, HP_CONNID id,
                                     unsigned long long seq, unsigned long long max_message)
{
    hps_http_conn *st;
    hps_ws *ws = hps_ws_fresh(seq, max_message);
    if (ws == NULL)
        return -1;
    hps_lock(ctx);
    st = hps_http_state_locked(ctx, id);
    if (st == NULL || st->ws != NULL || st->dead) {
        hps_unlock(ctx);
        hps_ws_free(ws);
        return -1;
    }
    st->ws = ws;
    st->batched = 0;
    hps_unlock(ctx);
    return 0;
}


/* The next job, waiting up to timeout_ms; NULL on timeout or once closed. */
static inline hps_http_job *hps_http_job_pop(hps_http_cfg *cfg, int timeout_ms)
{
    hps_http_job *job;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&cfg->job_lock);
    while (cfg->job_head == NULL && !cfg->jobs_closed)
        if (pthread_cond_timedwait(&cfg->job_cond, &cfg->job_lock, &until) != 0)
            break;
    job = cfg->jobs_closed ? NULL : cfg->job_head;
    if (job != NULL) {
        cfg->job_head = job->next;
        if (cfg->job_head == NULL)
            cfg->job_tail = NULL;
        cfg->queued--;
    }
    pthread_mutex_unlock(&cfg->job_lock);
    return job;
}

/* The next job if one is waiting, else NULL at once (never blocks for
 * long: the worker holds job_lock only to link a job). */
static inline hps_http_job *hps_http_job_trypop(hps_http_cfg *cfg)
{
    hps_http_job *job;
    if (__atomic_load_n(&cfg->job_head, __ATOMIC_ACQUIRE) == NULL)
        return NULL;
    pthread_mutex_lock(&cfg->job_lock);
    job = cfg->jobs_closed ? NULL : cfg->job_head;
    if (job != NULL) {
        cfg->job_head = job->next;
        if (cfg->job_head == NULL)
            cfg->job_tail = NULL;
        cfg->queued--;
    }
    pthread_mutex_unlock(&cfg->job_lock);
    return job;
}

/* Wait up to timeout_ms until a job is queued (not taking it: a request
 * thread takes jobs only once it holds the GIL, so that no job waits in a
 * thread for the GIL) or the queue is closed. */
static inline void hps_http_job_wait(hps_http_cfg *cfg, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&cfg->job_lock);
    if (cfg->job_head == NULL && !cfg->jobs_closed) {
        cfg->awake--;
        pthread_cond_timedwait(&cfg->job_cond, &cfg->job_lock, &until);
        cfg->awake++;
    }
    pthread_mutex_unlock(&cfg->job_lock);
}

/* A request thread starts (awake) or ends. */
static inline void hps_http_thread_count(hps_http_cfg *cfg, int delta)
{
    pthread_mutex_lock(&cfg->job_lock);
    cfg->awake += delta;
    pthread_mutex_unlock(&cfg->job_lock);
}

static inline void hps_http_jobs_open(hps_http_cfg *cfg)
{
    pthread_mutex_lock(&cfg->job_lock);
    cfg->jobs_closed = 0;
    pthread_mutex_unlock(&cfg->job_lock);
}

/* Wake every request thread for good (until reopened). */
static inline void hps_http_jobs_close(hps_http_cfg *cfg)
{
    pthread_mutex_lock(&cfg->job_lock);
    cfg->jobs_closed = 1;
    pthread_cond_broadcast(&cfg->job_cond);
    pthread_mutex_unlock(&cfg->job_lock);
}

/* Free the jobs nobody took (their connections are gone). */
static void hps_http_jobs_drop(hps_http_cfg *cfg)
{
    hps_http_job *job;
    pthread_mutex_lock(&cfg->job_lock);
    while ((job = cfg->job_head) != NULL) {
        cfg->job_head = job->next;
        if (job->pipe != NULL)
            hps_http_pipe_release(job->pipe);
        free(job);
    }
    cfg->job_tail = NULL;
    cfg->queued = 0;
    pthread_mutex_unlock(&cfg->job_lock);
}

/* ------------------------------------------------------------------ */
/* The sweeper: keep-alive, header and body timeouts                      */

#define HPS_SWEEP_NONE 0
#define HPS_SWEEP_IDLE 1       /* idle keep-alive connection: closed without a word */
#define HPS_SWEEP_SLOW 2       /* a request too slow to arrive: 408 in order, then closed */
#define HPS_SWEEP_DRAIN 3      /* a closing answer still queued */
#define HPS_SWEEP_RESUME 4     /* its client reads its answers again */
#define HPS_SWEEP_WS_PING 5    /* a quiet WebSocket: is its peer still there? */
#define HPS_SWEEP_WS_DROP 6    /* no pong, or no answer to our Close, in time */
#define HPS_SWEEP_WS_IDLE 7    /* no message for ws_idle_ms: our Close, 1001 */

/* Milliseconds from t to now; 0 if t is later (a worker stamped it after
 * the sweeper read the clock: unsigned, the difference would be huge). */
static inline unsigned long long hps_since(unsigned long long now, unsigned long long t)
{
    return now > t ? now - t : 0;
}

static void hps_http_sweep_one(hps_ctx *ctx, hps_http_cfg *cfg, HP_CONNID id, unsigned long long now)
{
    int known, verdict = HPS_SWEEP_NONE, pending = 0;
    unsigned long long seq = 0, idle = now;
    hps_conn *rec;
    hps_http_conn *st;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    st = rec != NULL ? (hps_http_conn *)rec->family : NULL;
    if (rec != NULL && st == NULL) {
        /* Connected, no request yet: idle from now. */
        st = (hps_http_conn *)calloc(1, sizeof(hps_http_conn));
        if (st != NULL) {
            st->refs = 1;
            st->idle_since_ms = now;
            rec->family = st;
        }
        st = NULL;
    } else if (st != NULL && st->close_when_drained) {
        verdict = HPS_SWEEP_DRAIN;
        idle = st->idle_since_ms;
    } else if (st != NULL && st->ws != NULL && !st->closed_by_us && !st->out_paused) {
        hps_ws *ws = st->ws;
        unsigned long long close_sent = __atomic_load_n(&ws->close_sent_ms, __ATOMIC_RELAXED);
        unsigned long long ping_sent = __atomic_load_n(&ws->ping_sent_ms, __ATOMIC_RELAXED);
        if (st->ws_closing) {
            if (close_sent && hps_since(now, close_sent) > cfg->ws_close_ms)
                verdict = HPS_SWEEP_WS_DROP;
        } else if (cfg->ws_idle_ms
                   && hps_since(now, __atomic_load_n(&ws->last_msg_ms, __ATOMIC_RELAXED)) > cfg->ws_idle_ms) {
            verdict = HPS_SWEEP_WS_IDLE;
        } else if (cfg->ws_ping_ms) {
            if (ping_sent) {
                if (hps_since(now, ping_sent) > cfg->ws_pong_ms)
                    verdict = HPS_SWEEP_WS_DROP;
            } else if (hps_since(now, __atomic_load_n(&ws->last_rx_ms, __ATOMIC_RELAXED)) > cfg->ws_ping_ms) {
                verdict = HPS_SWEEP_WS_PING;
                __atomic_store_n(&ws->ping_sent_ms, now, __ATOMIC_RELAXED);
            }
        }
    } else if (st != NULL && !st->closed_by_us) {
        int owed = st->send_seq != st->next_seq || st->sending || st->parked != NULL;
        if (st->out_paused) {
            verdict = HPS_SWEEP_RESUME;
        } else if (st->in_message && !__atomic_load_n(&st->dead, __ATOMIC_ACQUIRE)) {
            if ((!st->headers_done && hps_since(now, st->begin_ms) > cfg->header_ms)
                || (st->headers_done && hps_since(now, st->last_rx_ms) > cfg->body_ms)) {
                /* Its 408 takes the next number, after the answers owed. */
                verdict = HPS_SWEEP_SLOW;
                __atomic_store_n(&st->dead, 1, __ATOMIC_RELEASE);
                seq = st->next_seq++;
                __atomic_add_fetch(&st->refs, 1, __ATOMIC_ACQ_REL);
            }
        } else if (!owed && !st->in_message && hps_since(now, st->idle_since_ms) > cfg->keep_alive_ms) {
            verdict = HPS_SWEEP_IDLE;
            st->closed_by_us = 1;
        }
    }
    hps_unlock(ctx);
    switch (verdict) {
    case HPS_SWEEP_SLOW: {
        char buf[512];
        WSABUF b;
        HP_Server_PauseReceive(ctx->sender, id, 1);   /* nothing after it is read */
        b.buf = (unsigned char *)buf;
        b.len = (unsigned int)hps_http_error_response(408, buf, sizeof(buf));
        hps_http_submit(ctx, ctx->sender, id, seq, &b, 1, HPS_HTTP_END | HPS_HTTP_CLOSE);
        hps_http_conn_unref(st);
        break;
    }
    case HPS_SWEEP_IDLE:
    case HPS_SWEEP_WS_DROP:
        hps_disconnect(ctx, id, 1);
        break;
    case HPS_SWEEP_WS_PING:
        hps_ws_send(ctx, ctx->sender, id, HPS_WS_PING, NULL, 0, 0);
        break;
    case HPS_SWEEP_WS_IDLE:
        hps_ws_send_close(ctx, ctx->sender, id, HPS_WS_GOING_AWAY, (const unsigned char *)"idle timeout", 12, 0);
        break;
    case HPS_SWEEP_DRAIN:
        /* Half-close once written, or close if the client reads nothing. */
        if (hps_http_drained(ctx, ctx->sender, id))
            hps_disconnect(ctx, id, 0);
        else if (hps_since(now, idle) > cfg->keep_alive_ms + cfg->body_ms)
            hps_disconnect(ctx, id, 1);
        break;
    case HPS_SWEEP_RESUME:
        if (ctx->ops->get_pending(ctx->sender, id, &pending) && pending < (int)HPS_HTTP_OUT_LOW) {
            hps_lock(ctx);
            rec = hps_conn_get(ctx, id, 0, &known);
            st = rec != NULL ? (hps_http_conn *)rec->family : NULL;
            if (st != NULL && st->out_paused && !__atomic_load_n(&st->dead, __ATOMIC_ACQUIRE)) {
                st->out_paused = 0;
                HP_Server_PauseReceive(ctx->sender, id, 0);
            }
            hps_unlock(ctx);
        }
        break;
    }
}

static void *hps_http_sweeper(void *arg)
{
    hps_ctx *ctx = (hps_ctx *)arg;
    hps_http_cfg *cfg = (hps_http_cfg *)ctx->family;
    HP_CONNID *ids = NULL;
    DWORD cap = 0;
    for (;;) {
        struct timespec until;
        unsigned long long now;
        DWORD n, i;
        int stop;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&cfg->sweep_lock);
        if (!cfg->sweeper_stop)
            pthread_cond_timedwait(&cfg->sweep_cond, &cfg->sweep_lock, &until);
        stop = cfg->sweeper_stop;
        pthread_mutex_unlock(&cfg->sweep_lock);
        if (stop)
            break;
        /* Room for every connection, with some to spare for new ones. */
        n = HP_Server_GetConnectionCount(ctx->sender) + 256;
        if (n > cap) {
            HP_CONNID *more = (HP_CONNID *)realloc(ids, sizeof(HP_CONNID) * n);
            if (more == NULL)
                continue;
            ids = more;
            cap = n;
        }
        n = cap;
        if (!HP_Server_GetAllConnectionIDs(ctx->sender, ids, &n))
            continue;   /* more arrived meanwhile: the next round has room */
        now = hps_now_ms();
        for (i = 0; i < n; i++)
            hps_http_sweep_one(ctx, cfg, ids[i], now);
    }
    free(ids);
    return NULL;
}

static inline hps_http_cfg *hps_http_cfg_new(void)
{
    hps_http_cfg *cfg = (hps_http_cfg *)calloc(1, sizeof(hps_http_cfg));
    if (cfg != NULL) {
        pthread_mutex_init(&cfg->sweep_lock, NULL);
        pthread_cond_init(&cfg->sweep_cond, NULL);
        pthread_mutex_init(&cfg->job_lock, NULL);
        pthread_cond_init(&cfg->job_cond, NULL);
        cfg->wake_fd = -1;
    }
    return cfg;
}

static inline int hps_http_sweeper_start(hps_ctx *ctx)
{
    hps_http_cfg *cfg = (hps_http_cfg *)ctx->family;
    if (cfg == NULL || cfg->sweeper_running)
        return 0;
    cfg->sweeper_stop = 0;
    if (pthread_create(&cfg->sweeper, NULL, hps_http_sweeper, ctx) != 0)
        return -1;
    cfg->sweeper_running = 1;
    return 0;
}

static inline void hps_http_sweeper_stop(hps_ctx *ctx)
{
    hps_http_cfg *cfg = (hps_http_cfg *)ctx->family;
    if (cfg == NULL || !cfg->sweeper_running)
        return;
    pthread_mutex_lock(&cfg->sweep_lock);
    cfg->sweeper_stop = 1;
    pthread_cond_signal(&cfg->sweep_cond);
    pthread_mutex_unlock(&cfg->sweep_lock);
    pthread_join(cfg->sweeper, NULL);
    cfg->sweeper_running = 0;
}

static void hps_http_cfg_free(void *p)
{
    hps_http_cfg *cfg = (hps_http_cfg *)p;
    if (cfg == NULL)
        return;
    hps_http_jobs_drop(cfg);
    pthread_mutex_destroy(&cfg->sweep_lock);
    pthread_cond_destroy(&cfg->sweep_cond);
    pthread_mutex_destroy(&cfg->job_lock);
    pthread_cond_destroy(&cfg->job_cond);
    free(cfg);
}

#endif /* HPSOCKET_HTTP_H */
