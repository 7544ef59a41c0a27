/*
 * _aio.h - the native side of hpsocket.aio: one inbox per asyncio event
 * loop, filled by HP-Socket's worker threads without the GIL and drained
 * by the loop.
 *
 *   - A worker appends an event (a connection opened, bytes arrived, it
 *     closed, its send queue drained) under the inbox's mutex; received
 *     bytes are copied into the inbox's byte arena, and bytes that follow
 *     bytes of the same connection extend that event, so the loop makes
 *     one data_received of them.
 *   - The loop is woken through an eventfd, written only when the inbox
 *     goes from empty to non-empty (the "armed" flag): one write and one
 *     wake-up per burst, not per event.
 *   - The loop swaps the filled queue for the empty one under the mutex
 *     and dispatches it without holding anything, again until it finds
 *     the inbox empty; only then is the inbox disarmed, so events that
 *     arrive while the loop drains cost no eventfd write and no wake-up.
 *   - Read back-pressure: each connection counts its bytes queued and not
 *     yet handed to the protocol; past read_high the worker pauses reading
 *     the socket, and the loop resumes it once they fall to read_low.
 *   - Write back-pressure: the loop asks to hear when a connection's send
 *     queue is down to some length (drain_at); the library's OnSend checks
 *     it and queues one DRAINED event.
 */
#ifndef HPSOCKET_AIO_H
#define HPSOCKET_AIO_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "_buf.h"
#include "_ctx.h"
#include "_frame.h"
#include "_send.h"

enum {
    HPS_AIO_OPEN = 1,     /* accepted, or an outgoing connection is up */
    HPS_AIO_DATA = 2,     /* bytes: arena[off:off+len] */
    HPS_AIO_CLOSE = 3,    /* closed: op, error */
    HPS_AIO_DRAINED = 4,  /* the send queue went down to what was asked */
    HPS_AIO_STOPPED = 5   /* the component stopped: nothing more from it */
};

typedef struct hps_aio_event {
    int kind;
    int op;
    int error;
    unsigned long long token;   /* which component (see hps_aio_fam) */
    HP_CONNID id;
    size_t off, len;
} hps_aio_event;

typedef struct hps_aio_queue {
    hps_aio_event *ev;
    size_t n, cap;
    hps_buf bytes;
} hps_aio_queue;

typedef struct hps_aio_inbox {
    pthread_mutex_t lock;
    hps_aio_queue q[2];   /* q[fill] takes events; the other is the loop's */
    int fill;
    int efd;
    int armed;            /* a wake-up is pending: no need to write efd */
    int refs;             /* the loop's Python object and each component */
} hps_aio_inbox;

/* A component's side: its inbox and its read limits (ctx->family). */
typedef struct hps_aio_fam {
    hps_aio_inbox *inbox;
    unsigned long long token;
    long read_high, read_low;
    BOOL (*pause)(void *, HP_CONNID, BOOL);   /* the role's PauseReceive */
} hps_aio_fam;

/* A connection's side (hps_conn.family). */
typedef struct hps_aio_conn {
    long queued;          /* bytes queued in the inbox, not yet delivered */
    int native_paused;    /* the worker paused reading for queued bytes */
    int user_paused;      /* the protocol paused reading */
    int drain_at;         /* DRAINED when pending <= this; -1: not asked */
} hps_aio_conn;

static inline hps_aio_inbox *hps_aio_inbox_new(void)
{
    hps_aio_inbox *in = (hps_aio_inbox *)calloc(1, sizeof(hps_aio_inbox));
    if (in == NULL)
        return NULL;
    in->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (in->efd < 0) {
        free(in);
        return NULL;
    }
    pthread_mutex_init(&in->lock, NULL);
    in->refs = 1;
    return in;
}

static inline void hps_aio_inbox_ref(hps_aio_inbox *in)
{
    __atomic_add_fetch(&in->refs, 1, __ATOMIC_ACQ_REL);
}

static inline void hps_aio_inbox_unref(hps_aio_inbox *in)
{
    int i;
    if (in == NULL || __atomic_sub_fetch(&in->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (i = 0; i < 2; i++) {
        free(in->q[i].ev);
        hps_buf_free(&in->q[i].bytes);
    }
    close(in->efd);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

/* Append an event (data: with its bytes); 0, or -1 out of memory.  Wakes
 * the loop if the inbox was empty. */
static inline int hps_aio_push(hps_aio_inbox *in, int kind, unsigned long long token, HP_CONNID id,
                               const unsigned char *data, int len, int op, int error)
{
    hps_aio_queue *q;
    hps_aio_event *e;
    int wake;
    pthread_mutex_lock(&in->lock);
    q = &in->q[in->fill];
    e = q->n > 0 ? &q->ev[q->n - 1] : NULL;
    if (kind == HPS_AIO_DATA && op == 0 && e != NULL && e->kind == HPS_AIO_DATA && e->op == 0
        && e->token == token && e->id == id) {
        /* The arena's tail is that event's end: extend it. */
        if (hps_buf_append(&q->bytes, data, len) < 0) {
            pthread_mutex_unlock(&in->lock);
            return -1;
        }
        e->len += (size_t)len;
    } else {
        if (q->n == q->cap) {
            size_t cap = q->cap ? 2 * q->cap : 256;
            hps_aio_event *ev = (hps_aio_event *)realloc(q->ev, cap * sizeof(hps_aio_event));
            if (ev == NULL) {
                pthread_mutex_unlock(&in->lock);
                return -1;
            }
            q->ev = ev;
            q->cap = cap;
        }
        e = &q->ev[q->n];
        e->kind = kind;
        e->token = token;
        e->id = id;
        e->op = op;
        e->error = error;
        e->off = hps_buf_len(&q->bytes);
        e->len = 0;
        if (kind == HPS_AIO_DATA) {
            if (hps_buf_append(&q->bytes, data, len) < 0) {
                pthread_mutex_unlock(&in->lock);
                return -1;
            }
            e->len = (size_t)len;
        }
        q->n++;
    }
    wake = !in->armed;
    in->armed = 1;
    pthread_mutex_unlock(&in->lock);
    if (wake) {
        uint64_t one = 1;
        ssize_t rc;
        do
            rc = write(in->efd, &one, sizeof(one));
        while (rc < 0 && errno == EINTR);
    }
    return 0;
}

/* The loop's side, woken: consume the eventfd's count. */
static inline void hps_aio_ack(hps_aio_inbox *in)
{
    uint64_t v;
    ssize_t rc;
    do
        rc = read(in->efd, &v, sizeof(v));
    while (rc < 0 && errno == EINTR);
}

/* Take everything queued (the queue dispatched last time is emptied first);
 * it stays valid until the next call.  The inbox stays armed: workers do
 * not write the eventfd while the loop is draining anyway. */
static inline hps_aio_queue *hps_aio_take(hps_aio_inbox *in)
{
    hps_aio_queue *done, *q;
    pthread_mutex_lock(&in->lock);
    done = &in->q[1 - in->fill];
    done->n = 0;
    if (done->bytes.cap > (4u << 20))   /* a burst is over: give its memory back */
        hps_buf_free(&done->bytes);
    done->bytes.head = done->bytes.tail = 0;
    q = &in->q[in->fill];
    in->fill = 1 - in->fill;
    pthread_mutex_unlock(&in->lock);
    return q;
}

/* Done draining if nothing came meanwhile: then disarm (the next event
 * writes the eventfd) and return 1; else 0, and the loop takes again. */
static inline int hps_aio_idle(hps_aio_inbox *in)
{
    int idle;
    pthread_mutex_lock(&in->lock);
    idle = in->q[in->fill].n == 0;
    if (idle)
        in->armed = 0;
    pthread_mutex_unlock(&in->lock);
    return idle;
}

static inline const unsigned char *hps_aio_bytes(hps_aio_queue *q, hps_aio_event *e)
{
    return q->bytes.buf + q->bytes.head + e->off;
}

/* ------------------------------------------------------------------ */
/* Per connection                                                       */

static inline void hps_aio_conn_free(void *p)
{
    free(p);
}

/* The connection's aio state, with ctx->lock held (NULL: unknown). */
static inline hps_aio_conn *hps_aio_conn_locked(hps_ctx *ctx, HP_CONNID id, int create)
{
    int known;
    hps_conn *rec = hps_conn_get(ctx, id, create, &known);
    if (rec == NULL)
        return NULL;
    if (rec->family == NULL && create) {
        hps_aio_conn *c = (hps_aio_conn *)calloc(1, sizeof(hps_aio_conn));
        if (c == NULL)
            return NULL;
        c->drain_at = -1;
        rec->family = c;
    }
    return (hps_aio_conn *)rec->family;
}

/* Worker: n more bytes of the connection wait in the inbox; past read_high
 * the socket is paused until the loop has delivered them (hps_aio_consumed).
 * 0, or -1 if the connection has no state (unknown, or out of memory). */
static inline int hps_aio_count_queued(hps_ctx *ctx, void *sender, HP_CONNID id, long n)
{
    hps_aio_fam *fam = (hps_aio_fam *)ctx->family;
    hps_aio_conn *c;
    int pause_now = 0;
    hps_lock(ctx);
    c = hps_aio_conn_locked(ctx, id, 1);
    if (c != NULL) {
        c->queued += n;
        if (c->queued > fam->read_high && !c->native_paused) {
            c->native_paused = 1;
            pause_now = 1;
        }
    }
    hps_unlock(ctx);
    if (pause_now)
        fam->pause(sender, id, 1);
    return c != NULL ? 0 : -1;
}

/* Worker, OnReceive: queue the bytes. */
static inline int hps_aio_received(hps_ctx *ctx, void *sender, HP_CONNID id, const unsigned char *data,
                                   int len)
{
    hps_aio_fam *fam = (hps_aio_fam *)ctx->family;
    if (hps_aio_count_queued(ctx, sender, id, len) < 0)
        return -1;
    return hps_aio_push(fam->inbox, HPS_AIO_DATA, fam->token, id, data, len, 0, 0);
}

/* Worker, OnReceive of the pack model: each whole packet's body is one
 * DATA event (op 1: never merged with another); the start of an incomplete
 * packet waits in the connection's record.  0, or a negative errno (a bad
 * header: EBADMSG, EMSGSIZE; ENOMEM). */
static inline int hps_aio_received_pack(hps_ctx *ctx, void *sender, HP_CONNID id, const unsigned char *data,
                                        int len)
{
    hps_aio_fam *fam = (hps_aio_fam *)ctx->family;
    hps_aio_conn *c;
    hps_conn *rec;
    int known, err;
    const unsigned char *src, *body;
    uint32_t body_len;
    size_t n, pos = 0;
    long queued = 0;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 1, &known);
    c = hps_aio_conn_locked(ctx, id, 1);
    hps_unlock(ctx);
    if (rec == NULL || c == NULL)
        return -ENOMEM;
    /* Only this connection's OnReceive touches its buffer. */
    if (hps_buf_len(&rec->inbuf) > 0) {
        if (hps_buf_append(&rec->inbuf, data, len) < 0)
            return -ENOMEM;
        src = hps_buf_data(&rec->inbuf);
        n = hps_buf_len(&rec->inbuf);
    } else {
        src = data;
        n = (size_t)len;
    }
    while ((err = hps_pack_next(src, n, &pos, ctx->pack_flag, ctx->pack_max, &body, &body_len)) > 0) {
        if (hps_aio_push(fam->inbox, HPS_AIO_DATA, fam->token, id, body, (int)body_len, 1, 0) < 0)
            return -ENOMEM;
        queued += (long)body_len;
    }
    if (err < 0) {
        rec->close_error = -err;
        return err;
    }
    if (src == data) {
        if (pos < n && hps_buf_append(&rec->inbuf, src + pos, (int)(n - pos)) < 0)
            return -ENOMEM;
    } else {
        hps_buf_consume(&rec->inbuf, pos);
    }
    if (queued > 0 && hps_aio_count_queued(ctx, sender, id, queued) < 0)
        return -ENOMEM;
    return 0;
}

/* Loop: n bytes of the connection were handed to the protocol; resume
 * reading if the worker paused it and the protocol has not. */
static inline void hps_aio_consumed(hps_ctx *ctx, HP_CONNID id, long n)
{
    hps_aio_fam *fam = (hps_aio_fam *)ctx->family;
    hps_aio_conn *c;
    int resume = 0, gate = hps_gate_enter(ctx);
    if (!gate)
        return;
    hps_lock(ctx);
    c = hps_aio_conn_locked(ctx, id, 0);
    if (c != NULL) {
        c->queued -= n;
        if (c->native_paused && c->queued <= fam->read_low) {
            c->native_paused = 0;
            resume = !c->user_paused;
        }
    }
    hps_unlock(ctx);
    if (resume)
        fam->pause(ctx->sender, id, 0);
    hps_gate_leave(ctx, gate);
}

/* Loop: the protocol pauses or resumes reading.  The socket is read again
 * only when neither the protocol nor the queued bytes hold it. */
static inline int hps_aio_set_paused(hps_ctx *ctx, HP_CONNID id, int paused)
{
    hps_aio_fam *fam = (hps_aio_fam *)ctx->family;
    hps_aio_conn *c;
    int call = -1, gate = hps_gate_enter(ctx);
    if (!gate)
        return 0;
    hps_lock(ctx);
    c = hps_aio_conn_locked(ctx, id, 1);
    if (c != NULL) {
        c->user_paused = paused;
        if (paused)
            call = 1;
        else if (!c->native_paused)
            call = 0;
    }
    hps_unlock(ctx);
    if (call >= 0)
        fam->pause(ctx->sender, id, (BOOL)call);
    hps_gate_leave(ctx, gate);
    return c != NULL;
}

/* Loop: tell me (DRAINED) once at most `at` bytes wait to be sent.
 * Returns 1 if that is already so (nothing asked), 0 if asked, -1 if the
 * connection is gone. */
static inline int hps_aio_want_drain(hps_ctx *ctx, HP_CONNID id, int at)
{
    hps_aio_conn *c;
    int pending = 0, rc = -1, gate = hps_gate_enter(ctx);
    if (!gate)
        return -1;
    hps_lock(ctx);
    c = hps_aio_conn_locked(ctx, id, 1);
    if (c != NULL)
        __atomic_store_n(&c->drain_at, at, __ATOMIC_SEQ_CST);
    hps_unlock(ctx);
    if (c != NULL) {
        /* Asked first, then looked: an OnSend in between finds the request. */
        if (!ctx->ops->get_pending(ctx->sender, id, &pending)) {
            rc = -1;
        } else if (pending <= at) {
            hps_lock(ctx);
            c = hps_aio_conn_locked(ctx, id, 0);
            /* Taken back, unless OnSend already took it (then DRAINED comes). */
            rc = c != NULL && __atomic_exchange_n(&c->drain_at, -1, __ATOMIC_SEQ_CST) >= 0 ? 1 : 0;
            hps_unlock(ctx);
        } else {
            rc = 0;
        }
    }
    hps_gate_leave(ctx, gate);
    return rc;
}

/* Worker, OnSend: a DRAINED event if one was asked for and is due. */
static inline void hps_aio_sent(hps_ctx *ctx, void *sender, HP_CONNID id)
{
    hps_aio_fam *fam = (hps_aio_fam *)ctx->family;
    hps_aio_conn *c;
    int at, pending = 0, fire = 0;
    hps_lock(ctx);
    c = hps_aio_conn_locked(ctx, id, 0);
    at = c != NULL ? __atomic_load_n(&c->drain_at, __ATOMIC_SEQ_CST) : -1;
    if (at >= 0 && ctx->ops->get_pending(sender, id, &pending) && pending <= at)
        fire = __atomic_exchange_n(&c->drain_at, -1, __ATOMIC_SEQ_CST) >= 0;
    hps_unlock(ctx);
    if (fire)
        hps_aio_push(fam->inbox, HPS_AIO_DRAINED, fam->token, id, NULL, 0, 0, 0);
}

static inline hps_aio_fam *hps_aio_fam_new(hps_aio_inbox *in, unsigned long long token,
                                           BOOL (*pause)(void *, HP_CONNID, BOOL))
{
    hps_aio_fam *fam = (hps_aio_fam *)calloc(1, sizeof(hps_aio_fam));
    if (fam == NULL)
        return NULL;
    hps_aio_inbox_ref(in);
    fam->inbox = in;
    fam->token = token;
    fam->pause = pause;
    fam->read_high = 256 << 10;
    fam->read_low = 64 << 10;
    return fam;
}

/*
 * Loop: send bufs[0:count] on the connection.  Only the loop's thread sends
 * on an aio connection, so while the library's queue for it is empty the
 * bytes can go straight to the socket (hps_direct_write: no command to a
 * worker, no epoll round, no OnSend); what the socket does not take, and
 * everything while something is queued, goes through the library's queue.
 * Returns 2 if all of it was written, 1 if (some) was queued, 0 if the
 * connection is gone.
 */
static inline int hps_aio_send(hps_ctx *ctx, void *sender, HP_CONNID id, WSABUF *bufs, int count)
{
    int rc = hps_direct_write(ctx, sender, id, bufs, count);
    if (rc < 0)
        return ctx->ops->send_packets(sender, id, bufs, count) ? 1 : 0;
    return rc;
}

static inline void hps_aio_fam_free(void *p)
{
    hps_aio_fam *fam = (hps_aio_fam *)p;
    if (fam != NULL)
        hps_aio_inbox_unref(fam->inbox);
    free(fam);
}

#endif /* HPSOCKET_AIO_H */
