/*
 * _ctx.h - a component's native context and its connection records.
 *
 *   - hps_ops: the few library functions the C helpers call themselves
 *     (sends, the pending length, the connection-extra slot), and the
 *     capability bits of the component's family;
 *   - hps_ctx: what the trampolines need to find without the GIL;
 *   - hps_conn: one record per connection (a Python extra object, the
 *     socket, a byte buffer, a family's own state), under ctx->lock;
 *   - the table from component handle (the "sender" every callback
 *     receives; HP-Socket's callbacks carry no user-data pointer) to its
 *     context, readable from any worker thread without a lock.
 */
#ifndef HPSOCKET_CTX_H
#define HPSOCKET_CTX_H

#include <pthread.h>
#include <sched.h>

#include "_base.h"
#include "_buf.h"
#include "_thread.h"

/* ------------------------------------------------------------------ */
/* Capabilities of a family                                             */

/* OnAccept/OnPrepareConnect pass the connection's socket: records keep it
 * (TCP; UDP's OnAccept passes an address instead). */
#define HPS_CAP_SOCKET_FD 0x1u
/* Replies from a connection's own callbacks may be written straight to its
 * socket (_send.h); needs HPS_CAP_SOCKET_FD. */
#define HPS_CAP_DIRECT_WRITE 0x2u

typedef struct hps_ops {
    unsigned int caps;
    BOOL (*send_packets)(void *, HP_CONNID, const WSABUF *, int);
    BOOL (*get_pending)(void *, HP_CONNID, int *);
    /* The connection-extra slot of servers and agents; NULL for a client,
     * whose one record lives in the context. */
    BOOL (*get_conn_extra)(void *, HP_CONNID, PVOID *);
    BOOL (*set_conn_extra)(void *, HP_CONNID, PVOID);
    /* Frees hps_conn.family when the record goes (NULL: nothing to free). */
    void (*family_free)(void *);
    /* Frees hps_ctx.family with the context (NULL: nothing to free). */
    void (*ctx_family_free)(void *);
} hps_ops;

/* ------------------------------------------------------------------ */
/* Context and connection records                                       */

/* hps_conn.direct: may a direct write be made to the socket (_send.h)? */
#define HPS_DIRECT_IDLE 0   /* yes */
#define HPS_DIRECT_BUSY 1   /* one is being made (one non-blocking sendmsg long) */
#define HPS_DIRECT_OFF 2    /* no: the library's queue only, for good */

typedef struct hps_conn {
    PyObject *extra;   /* strong reference, or NULL */
    int fd;            /* the connection's socket, or -1 if not known */
    int direct;        /* HPS_DIRECT_* (_send.h): may its callbacks write to fd? */
    int close_error;   /* why hpsocket's framing closed it (an errno), or 0 */
    hps_buf inbuf;     /* pull: bytes not fetched yet; pack: an incomplete pack */
    void *family;      /* a family's own per-connection state, or NULL */
} hps_conn;

typedef struct hps_ctx {
    void *sender;              /* component handle: the table key */
    const hps_ops *ops;
    PyObject *owner;           /* borrowed; kept alive by the running state */
    unsigned int mask;         /* HPS_EV_* the Python class handles */
    int no_delay;              /* set TCP_NODELAY on every connection */
    int direct_ok;             /* direct writes are made (see _send.h) */
    int role;                  /* HPS_ROLE_* */
    int model;                 /* HPS_MODEL_* */
    unsigned int pack_flag;    /* pack model: header flag, 0 = not checked */
    unsigned int pack_max;     /* pack model: largest body */
    int stop_requested;
    pthread_mutex_t lock;      /* guards connection records */
    hps_conn *client_conn;     /* a client's only connection record */
    int client_closed;         /* a client's connection closed (until restart) */
    int listen_fd;             /* a server's listening socket, or -1 */
    int accepting;             /* workers inside OnAccept (see hps_quiesce_listener) */
    long live_conns;           /* server: accepted and not yet closed */
    long max_conns;            /* server: the user's max_connections */
    long refused;              /* server: connections refused over max_conns */
    void *family;              /* a family's own per-component state, or NULL */
    int gate_open;             /* the gate (below) lets callers in */
    int gate_calls;            /* callers inside the gate */
} hps_ctx;

static inline hps_ctx *hps_ctx_new(const hps_ops *ops)
{
    hps_ctx *ctx = (hps_ctx *)PyMem_RawCalloc(1, sizeof(hps_ctx));
    if (ctx != NULL) {
        pthread_mutex_init(&ctx->lock, NULL);
        ctx->ops = ops;
        ctx->listen_fd = -1;
    }
    return ctx;
}

static inline void hps_ctx_free(hps_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->family != NULL && ctx->ops->ctx_family_free != NULL)
        ctx->ops->ctx_family_free(ctx->family);
    pthread_mutex_destroy(&ctx->lock);
    PyMem_RawFree(ctx);
}

static inline void hps_lock(hps_ctx *ctx) { pthread_mutex_lock(&ctx->lock); }
static inline void hps_unlock(hps_ctx *ctx) { pthread_mutex_unlock(&ctx->lock); }

static inline hps_conn *hps_conn_new(void)
{
    hps_conn *c = (hps_conn *)calloc(1, sizeof(hps_conn));
    if (c != NULL) {
        c->fd = -1;
        hps_count(&hps_counter_conn_records, 1);
    }
    return c;
}

/* Frees a record (its Python extra must be released by the caller). */
static inline void hps_conn_free(hps_ctx *ctx, hps_conn *c)
{
    if (c == NULL)
        return;
    hps_count(&hps_counter_conn_records, -1);
    if (c->family != NULL && ctx->ops->family_free != NULL)
        ctx->ops->family_free(c->family);
    hps_buf_free(&c->inbuf);
    free(c);
}

/*
 * What a closed connection's extra slot holds until the library forgets the
 * connection: a set_extra racing with the close then finds the connection
 * gone instead of attaching a record nobody would free.  (The library
 * resets the slot when it reuses the socket object for a new connection.)
 */
static char hps_closed_sentinel;
#define HPS_CLOSED ((PVOID)&hps_closed_sentinel)

/*
 * A connection's record, with ctx->lock held.  Returns NULL and sets *known
 * to 0 when the library does not know the connection; with create, makes the
 * record if there is none yet (NULL with *known 1 if out of memory).
 */
static inline hps_conn *hps_conn_get(hps_ctx *ctx, HP_CONNID id, int create, int *known)
{
    PVOID p = NULL;
    hps_conn *rec;
    *known = 1;
    if (ctx->ops->get_conn_extra == NULL) {
        if (ctx->client_closed) {
            *known = 0;
            return NULL;
        }
        rec = ctx->client_conn;
        if (rec == NULL && create)
            rec = ctx->client_conn = hps_conn_new();
        return rec;
    }
    if (!ctx->ops->get_conn_extra(ctx->sender, id, &p) || p == HPS_CLOSED) {
        *known = 0;
        return NULL;
    }
    rec = (hps_conn *)p;
    if (rec == NULL && create) {
        rec = hps_conn_new();
        if (rec != NULL && !ctx->ops->set_conn_extra(ctx->sender, id, rec)) {
            hps_conn_free(ctx, rec);
            *known = 0;
            return NULL;
        }
    }
    return rec;
}

/* Take a connection's record away from it (it is closing). */
static inline hps_conn *hps_conn_detach(hps_ctx *ctx, HP_CONNID id)
{
    hps_conn *rec = NULL;
    PVOID p = NULL;
    hps_lock(ctx);
    if (ctx->ops->get_conn_extra == NULL) {
        rec = ctx->client_conn;
        ctx->client_conn = NULL;
        ctx->client_closed = 1;
    } else if (ctx->ops->get_conn_extra(ctx->sender, id, &p)) {
        if (p != HPS_CLOSED)
            rec = (hps_conn *)p;
        ctx->ops->set_conn_extra(ctx->sender, id, HPS_CLOSED);
    }
    hps_unlock(ctx);
    /* Detached, no new direct write starts; one in progress on another
     * thread (an HTTP answer, _http.h) must end before the library closes
     * the socket after OnClose, so that it never writes to a reused
     * descriptor. */
    if (rec != NULL)
        while (__atomic_load_n(&rec->direct, __ATOMIC_ACQUIRE) == HPS_DIRECT_BUSY)
            sched_yield();
    return rec;
}

/* ------------------------------------------------------------------ */
/* The gate: callers from outside the component's own callbacks         */
/*
 * HP-Socket's Stop frees the table from connection id to socket object
 * once its workers have ended, and Start allocates it anew, with no lock
 * against other threads: GetConnectionExtra, Send or GetRemoteAddress from
 * a Python thread at that moment read freed memory or a table half made
 * (a SIGSEGV in CTcpServer::FindSocketObj, tests/stress's bad-ids abuse
 * test, restarting a server while threads call it).  So every public
 * method that names connections enters the gate around its library calls:
 * start() and stop() close it and wait for the callers inside before they
 * call the library, start() opens it once the library has started, and a
 * closed gate reads as "not connected".  The component's own handlers pass
 * without counting: the library waits for them before it frees anything.
 */

/* 0: closed, do not call the library; else pass it to hps_gate_leave. */
static inline int hps_gate_enter(hps_ctx *ctx)
{
    if (hps_in_callback_of(ctx->sender))
        return 2;
    __atomic_add_fetch(&ctx->gate_calls, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ctx->gate_open, __ATOMIC_SEQ_CST))
        return 1;
    __atomic_sub_fetch(&ctx->gate_calls, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static inline void hps_gate_leave(hps_ctx *ctx, int entered)
{
    if (entered == 1)
        __atomic_sub_fetch(&ctx->gate_calls, 1, __ATOMIC_SEQ_CST);
}

/* Without the GIL: a caller inside may need it to come out. */
static inline void hps_gate_close(hps_ctx *ctx)
{
    __atomic_store_n(&ctx->gate_open, 0, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&ctx->gate_calls, __ATOMIC_SEQ_CST) > 0)
        sched_yield();
}

static inline void hps_gate_open(hps_ctx *ctx)
{
    __atomic_store_n(&ctx->gate_open, 1, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------------ */
/* Sender -> context table                                              */
/*
 * Open addressing over a fixed array.  Writers (register before Start,
 * unregister after Stop) hold a mutex; readers (callbacks on worker threads)
 * take no lock.  A slot's key only ever goes EMPTY -> key -> TOMBSTONE ->
 * key, never back to EMPTY, so a probe chain is never cut while readers walk
 * it.  A reader only looks up senders that are registered and running.
 */
#define HPS_TABLE_BITS 16
#define HPS_TABLE_SIZE (1u << HPS_TABLE_BITS)
#define HPS_TOMBSTONE ((void *)1)

typedef struct {
    void *key;
    hps_ctx *ctx;
} hps_slot;

static hps_slot hps_table[HPS_TABLE_SIZE];
static pthread_mutex_t hps_table_lock = PTHREAD_MUTEX_INITIALIZER;

static inline unsigned int hps_hash(void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (unsigned int)(x & (HPS_TABLE_SIZE - 1));
}

static inline hps_ctx *hps_lookup(void *sender)
{
    unsigned int i = hps_hash(sender);
    unsigned int n;
    for (n = 0; n < HPS_TABLE_SIZE; n++) {
        hps_slot *s = &hps_table[(i + n) & (HPS_TABLE_SIZE - 1)];
        void *key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        if (key == sender)
            return __atomic_load_n(&s->ctx, __ATOMIC_ACQUIRE);
        if (key == NULL)
            return NULL;
    }
    return NULL;
}

/* 0 on success, -1 when the table is full. */
static inline int hps_register(void *sender, hps_ctx *ctx)
{
    unsigned int i = hps_hash(sender);
    unsigned int n;
    int rc = -1;
    pthread_mutex_lock(&hps_table_lock);
    for (n = 0; n < HPS_TABLE_SIZE; n++) {
        hps_slot *s = &hps_table[(i + n) & (HPS_TABLE_SIZE - 1)];
        if (s->key == NULL || s->key == HPS_TOMBSTONE) {
            __atomic_store_n(&s->ctx, ctx, __ATOMIC_RELEASE);
            __atomic_store_n(&s->key, sender, __ATOMIC_RELEASE);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&hps_table_lock);
    return rc;
}

static inline void hps_unregister(void *sender)
{
    unsigned int i = hps_hash(sender);
    unsigned int n;
    pthread_mutex_lock(&hps_table_lock);
    for (n = 0; n < HPS_TABLE_SIZE; n++) {
        hps_slot *s = &hps_table[(i + n) & (HPS_TABLE_SIZE - 1)];
        if (s->key == sender) {
            __atomic_store_n(&s->key, HPS_TOMBSTONE, __ATOMIC_RELEASE);
            __atomic_store_n(&s->ctx, NULL, __ATOMIC_RELEASE);
            break;
        }
        if (s->key == NULL)
            break;
    }
    pthread_mutex_unlock(&hps_table_lock);
}

#endif /* HPSOCKET_CTX_H */
