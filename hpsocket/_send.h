/*
 * _send.h - every send of data: gathered and written straight to the socket
 * when it comes from the connection's own callback, else the library's queue.
 *
 * HP-Socket's Send only queues the data: the library then wakes a worker
 * through an eventfd, the worker re-arms epoll and writes.  For a reply sent
 * from a connection's own callback that is five system calls where one
 * would do (measured with 16 connections of 64 B: 7.84 system calls per
 * echoed message through the queue, 4.16 with direct writes).  So the
 * sends made inside one of the connection's own callbacks are gathered and
 * written to the socket in one sendmsg when the callback returns (or at once
 * when they pass HPS_OUT_MAX bytes), if nothing is queued for the connection.
 * Like the library's queue, which it writes only after the callback, the
 * data leaves once the callback is done; gathering also keeps the replies to
 * many packets of one chunk in one write.
 *
 * Why this is safe with HP-Socket 5.2.2:
 *   - The library processes all I/O of a socket (reads, the writes of its
 *     queue, closing) under the socket's I/O lock, which the worker holds for
 *     the whole callback (OnBeforeProcessIo/OnAfterProcessIo; a client's
 *     single worker does everything itself).  So while the callback runs the
 *     library writes nothing to that socket and does not close it: the
 *     descriptor stays the connection's, and the record stays attached.
 *   - With nothing queued (GetPendingDataLength 0) a direct write keeps the
 *     order of the connection's bytes.  Whatever sendmsg() leaves over goes to
 *     the library's queue at once, behind the bytes just written.
 *   - Other threads may send to the connection at the same time; the library
 *     queues their data, and if such data entered the queue between a direct
 *     write that came up short and the queueing of its rest, the two messages
 *     would interleave.  So every send from any other thread first switches
 *     the connection to the queue for good (HPS_DIRECT_OFF), waiting for a
 *     direct write in progress (HPS_DIRECT_BUSY, one sendmsg long) to finish;
 *     that takes no lock any callback could be waiting for.
 *   - Only for families with HPS_CAP_DIRECT_WRITE, not when on_send is
 *     handled (it reports what the library wrote), and not for components
 *     made with direct_writes=False: ctx->direct_ok.
 */
#ifndef HPSOCKET_SEND_H
#define HPSOCKET_SEND_H

#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "_ctx.h"
#include "_thread.h"

/* HPS_DIRECT_IDLE, _BUSY, _OFF: hps_conn.direct's states, in _ctx.h. */

#define HPS_DIRECT_MAX_IOV 16
#define HPS_OUT_MAX 65536   /* bytes gathered before they are written at once */

/* A send from outside the connection's callbacks: from now on only the
 * library's queue (see above).  Nothing to do where no direct write is
 * ever made. */
static inline void hps_direct_forbid(hps_ctx *ctx, HP_CONNID id)
{
    if (!ctx->direct_ok)
        return;
    for (;;) {
        int known, state = HPS_DIRECT_IDLE;
        hps_conn *rec;
        hps_lock(ctx);
        rec = hps_conn_get(ctx, id, 0, &known);
        if (rec == NULL
            || __atomic_compare_exchange_n(&rec->direct, &state, HPS_DIRECT_OFF, 0,
                                           __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
            || state == HPS_DIRECT_OFF) {
            hps_unlock(ctx);
            return;
        }
        hps_unlock(ctx);
        HPS_DEBUG_COUNT(hps_counter_direct_waits, 1);
        sched_yield();   /* a direct write is in progress: one send() long */
    }
}

/*
 * Write bufs[0:count] straight to the socket if the caller runs the
 * connection's callback and nothing is queued.  Returns -1 if it did not
 * (the caller queues with the library), 2 if the socket took all of it,
 * else the library's result for the rest it queued.  Called without the
 * GIL.
 */
static inline int hps_direct_write(hps_ctx *ctx, void *sender, HP_CONNID id,
                                   WSABUF *bufs, int count)
{
    struct iovec iov[HPS_DIRECT_MAX_IOV];
    struct msghdr msg;
    int known, fd = -1, queued = 1, i, state = HPS_DIRECT_IDLE, rc = 2;
    ssize_t w;
    hps_conn *rec;
    if (count > HPS_DIRECT_MAX_IOV)
        return -1;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    if (rec != NULL && rec->fd >= 0
        && __atomic_compare_exchange_n(&rec->direct, &state, HPS_DIRECT_BUSY, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        fd = rec->fd;
    hps_unlock(ctx);
    if (fd < 0)
        return -1;
    /* The record stays attached until the callback returns (see above). */
    if (!ctx->ops->get_pending(sender, id, &queued) || queued != 0) {
        __atomic_store_n(&rec->direct, HPS_DIRECT_IDLE, __ATOMIC_RELEASE);
        return -1;
    }
    for (i = 0; i < count; i++) {
        iov[i].iov_base = bufs[i].buf;
        iov[i].iov_len = bufs[i].len;
    }
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)count;
    do {
        /* No SIGPIPE for a peer that is gone, whatever the process's
         * disposition of it; never block. */
        w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        /* EAGAIN: all of it to the queue.  A broken connection: the library's
         * Send then fails or its write does, and it closes the connection as
         * it always would. */
        w = 0;
    }
    for (i = 0; i < count && (size_t)w >= bufs[i].len; i++)
        w -= (ssize_t)bufs[i].len;
    HPS_DEBUG_COUNT(hps_counter_direct_writes, 1);
    if (i < count) {
        HPS_DEBUG_COUNT(hps_counter_direct_partial, 1);
        bufs[i].buf += w;
        bufs[i].len -= (unsigned int)w;
        rc = ctx->ops->send_packets(sender, id, bufs + i, count - i) ? 1 : 0;
    }
    __atomic_store_n(&rec->direct, HPS_DIRECT_IDLE, __ATOMIC_RELEASE);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Gathering the sends of one callback                                  */

typedef struct hps_out {
    hps_ctx *ctx;           /* where the gathered bytes go */
    void *sender;
    HP_CONNID id;
    size_t len;             /* bytes in buf */
} hps_out;

static __thread hps_out hps_tls_out = {NULL, NULL, 0, 0};
static __thread unsigned char *hps_tls_out_buf = NULL;   /* HPS_OUT_MAX bytes */
static pthread_key_t hps_out_key;   /* frees a thread's buffer when it exits */

static void hps_out_free(void *p)
{
    free(p);
}

static inline int hps_send_init(void)
{
    return pthread_key_create(&hps_out_key, hps_out_free);
}

/* Write (or queue) what the callback gathered: 1, or 0 if the library
 * refused the rest. */
static inline int hps_out_flush(void)
{
    hps_out *o = &hps_tls_out;
    WSABUF b;
    int rc;
    if (o->len == 0)
        return 1;
    b.buf = hps_tls_out_buf;
    b.len = (unsigned int)o->len;
    o->len = 0;
    rc = hps_direct_write(o->ctx, o->sender, o->id, &b, 1);
    if (rc < 0)
        rc = o->ctx->ops->send_packets(o->sender, o->id, &b, 1) ? 1 : 0;
    return rc;
}

/* Gather bufs for the end of the callback: 1, or 0 if they do not fit. */
static inline int hps_out_add(hps_ctx *ctx, void *sender, HP_CONNID id,
                              WSABUF *bufs, int count)
{
    hps_out *o = &hps_tls_out;
    size_t total = 0;
    int i;
    for (i = 0; i < count; i++)
        total += bufs[i].len;
    if (o->len > 0 && (o->ctx != ctx || o->sender != sender || o->id != id))
        hps_out_flush();   /* another connection's: cannot happen in a callback, but cheap */
    if (o->len + total > HPS_OUT_MAX)
        return 0;
    if (hps_tls_out_buf == NULL) {
        hps_tls_out_buf = (unsigned char *)malloc(HPS_OUT_MAX);
        if (hps_tls_out_buf == NULL)
            return 0;
        pthread_setspecific(hps_out_key, hps_tls_out_buf);
    }
    for (i = 0; i < count; i++) {
        memcpy(hps_tls_out_buf + o->len, bufs[i].buf, bufs[i].len);
        o->len += bufs[i].len;
    }
    o->ctx = ctx;
    o->sender = sender;
    o->id = id;
    return 1;
}

/* Before anything that must not overtake what the callback gathered for
 * this connection (a send through the library's queue, a disconnect). */
static inline void hps_out_flush_for(hps_ctx *ctx, void *sender, HP_CONNID id)
{
    if (hps_tls_out.len > 0 && hps_is_owner(sender, ctx->role, id))
        hps_out_flush();
}

/*
 * Every send of data goes through here (with one buffer or many): gathered
 * or written directly if it can, otherwise the library's queue.  Called
 * without the GIL.
 */
static inline BOOL hps_send(hps_ctx *ctx, void *sender, HP_CONNID id,
                            WSABUF *bufs, int count)
{
    if (!hps_is_owner(sender, ctx->role, id)) {
        hps_direct_forbid(ctx, id);
    } else if (ctx->direct_ok) {
        int rc;
        if (hps_out_add(ctx, sender, id, bufs, count))
            return 1;
        /* Too much to gather: what was gathered, then this, now. */
        if (!hps_out_flush())
            return 0;
        rc = hps_direct_write(ctx, sender, id, bufs, count);
        if (rc >= 0)
            return (BOOL)rc;
    }
    hps_out_flush_for(ctx, sender, id);
    return ctx->ops->send_packets(sender, id, bufs, count);
}

#endif /* HPSOCKET_SEND_H */
