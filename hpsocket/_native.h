/*
 * _native.h - the parts of the trampolines that must run without the GIL:
 *
 *   - a table from component handle (the "sender" every callback receives)
 *     to that component's context, readable from any worker thread without a
 *     lock (HP-Socket's callbacks carry no user-data pointer);
 *   - one persistent Python thread state per native worker thread, so that
 *     entering Python from a callback only takes the GIL instead of creating
 *     and destroying a thread state each time;
 *   - the process-wide "exiting" flag that keeps callbacks out of Python once
 *     the interpreter is shutting down;
 *   - per-connection records (a Python extra object, the socket, the pull
 *     model's receive buffer), with their lock.
 */
#ifndef HPSOCKET_NATIVE_H
#define HPSOCKET_NATIVE_H

#include <Python.h>
#include <pthread.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include "hpsocket4c.h"

/* ------------------------------------------------------------------ */
/* Interpreter state                                                    */

static volatile int hps_exiting_flag = 0;

static inline int hps_is_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* True once callbacks must not enter Python any more. */
static inline int hps_exiting(void)
{
    return __atomic_load_n(&hps_exiting_flag, __ATOMIC_ACQUIRE) || hps_is_finalizing();
}

static inline void hps_set_exiting(void)
{
    __atomic_store_n(&hps_exiting_flag, 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ */
/* Debug counters (always compiled; read by the test fixtures).         */

static long hps_counter_live_native = 0;     /* components created - destroyed */
static long hps_counter_in_flight = 0;       /* callbacks inside Python now */
static long hps_counter_gil_free_skips = 0;  /* events answered without the GIL */
static long hps_counter_conn_records = 0;    /* per-connection records alive */
static long hps_counter_pinned_states = 0;   /* worker thread states alive */
static long hps_counter_direct_writes = 0;   /* debug: sends written directly */
static long hps_counter_direct_partial = 0;  /* debug: ... of which the rest queued */
static long hps_counter_direct_waits = 0;    /* debug: sends that waited for one */

static inline void hps_count(long *c, long d)
{
    __atomic_add_fetch(c, d, __ATOMIC_RELAXED);
}

static inline long hps_read(long *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#ifdef HPSOCKET_DEBUG
#define HPS_DEBUG_COUNT(c, d) hps_count(&(c), (d))
#else
#define HPS_DEBUG_COUNT(c, d) ((void)0)
#endif

/* ------------------------------------------------------------------ */
/* Per-component context                                                */

typedef struct hps_conn {
    PyObject *extra;   /* strong reference, or NULL */
    int fd;            /* the connection's socket, or -1 if not known */
    int direct;        /* HPS_DIRECT_*: may its own callbacks write to fd? */
    int close_error;   /* pack model: why hpsocket closed it (an errno), or 0 */
    /* Pull model: received bytes not fetched yet are buf[head:tail]; pack
     * model: the start of a packet still incomplete. */
    unsigned char *buf;
    size_t head, tail, cap;
} hps_conn;

typedef struct hps_ctx {
    void *sender;              /* component handle: the table key */
    PyObject *owner;           /* borrowed; kept alive by the running state */
    unsigned int mask;         /* events the Python class handles */
    int no_delay;              /* set TCP_NODELAY on every connection */
    int direct_ok;             /* direct writes suit this component (hps_send) */
    int role;                  /* 0 server, 1 agent, 2 client */
    int model;                 /* 0 push, 1 pull, 2 pack */
    unsigned int pack_flag;    /* pack model: header flag, 0 = not checked */
    unsigned int pack_max;     /* pack model: largest body */
    int stop_requested;
    pthread_mutex_t lock;      /* guards connection records */
    hps_conn *client_conn;     /* a client's only connection record */
    int client_closed;         /* a client's connection closed (until restart) */
    int listen_fd;             /* a server's listening socket, or -1 */
    long live_conns;           /* server: accepted and not yet closed */
    long max_conns;            /* server: the user's max_connections */
    long refused;              /* server: connections refused over max_conns */
    /* The connection-extra slot of servers and agents (NULL for clients). */
    BOOL (*get_conn_extra)(void *, HP_CONNID, PVOID *);
    BOOL (*set_conn_extra)(void *, HP_CONNID, PVOID);
} hps_ctx;

static inline hps_ctx *hps_ctx_new(void)
{
    hps_ctx *ctx = (hps_ctx *)PyMem_RawCalloc(1, sizeof(hps_ctx));
    if (ctx != NULL)
        pthread_mutex_init(&ctx->lock, NULL);
    return ctx;
}

static inline void hps_ctx_free(hps_ctx *ctx)
{
    if (ctx == NULL)
        return;
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

static inline void hps_conn_free(hps_conn *c)
{
    if (c == NULL)
        return;
    hps_count(&hps_counter_conn_records, -1);
    free(c->buf);
    free(c);
}

/*
 * The pull model's receive buffer.  HP-Socket's own pull components append
 * to a connection's buffer on a worker thread and fetch from it on the
 * caller's thread without any lock between the two (in 5.2.2 neither
 * TBuffer::Cat nor Fetch/Peek lock it), so fetching from any thread but the
 * connection's own callback corrupts the stream.  hpsocket's pull classes
 * therefore run over the push components and keep the bytes here, under the
 * context's lock.
 *
 * Append returns the bytes now buffered, or -1 if that cannot be done (out
 * of memory, or more than INT_MAX bytes would be buffered).
 */
static inline long hps_conn_append(hps_conn *c, const unsigned char *p, int n)
{
    size_t live = c->tail - c->head;
    if (n <= 0)
        return (long)live;
    if (live + (size_t)n > (size_t)INT_MAX)
        return -1;
    if (c->cap - c->tail < (size_t)n) {
        /* Either way at least half the buffer is free afterwards, so the
         * copying costs O(1) per byte appended. */
        if (live + (size_t)n <= c->cap / 2) {
            memmove(c->buf, c->buf + c->head, live);
        } else {
            size_t cap = c->cap ? c->cap : 4096;
            unsigned char *nb;
            while (cap < 2 * (live + (size_t)n))
                cap *= 2;
            nb = (unsigned char *)malloc(cap);
            if (nb == NULL)
                return -1;
            if (live)
                memcpy(nb, c->buf + c->head, live);
            free(c->buf);
            c->buf = nb;
            c->cap = cap;
        }
        c->head = 0;
        c->tail = live;
    }
    memcpy(c->buf + c->tail, p, (size_t)n);
    c->tail += (size_t)n;
    return (long)(c->tail - c->head);
}

/* Drop n buffered bytes (n <= what is buffered). */
static inline void hps_conn_consume(hps_conn *c, size_t n)
{
    c->head += n;
    if (c->head == c->tail) {
        c->head = c->tail = 0;
        if (c->cap > 65536) {   /* a burst is over: give its memory back */
            free(c->buf);
            c->buf = NULL;
            c->cap = 0;
        }
    }
}

/* Copy n buffered bytes out (and drop them unless peek): 1, or 0 if fewer
 * than n are buffered. */
static inline int hps_conn_take(hps_conn *c, unsigned char *out, int n, int peek)
{
    if (n < 0 || c->tail - c->head < (size_t)n)
        return 0;
    memcpy(out, c->buf + c->head, (size_t)n);
    if (!peek)
        hps_conn_consume(c, (size_t)n);
    return 1;
}

/*
 * What a closed connection's extra slot holds until the library forgets the
 * connection: a set_extra racing with the close then finds the connection
 * gone instead of attaching a record nobody would free.  (The library
 * resets the slot when it reuses the socket object for a new connection.)
 */
#define HPS_CLOSED ((PVOID)&hps_counter_conn_records)

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
    if (ctx->get_conn_extra == NULL) {
        if (ctx->client_closed) {
            *known = 0;
            return NULL;
        }
        rec = ctx->client_conn;
        if (rec == NULL && create)
            rec = ctx->client_conn = hps_conn_new();
        return rec;
    }
    if (!ctx->get_conn_extra(ctx->sender, id, &p) || p == HPS_CLOSED) {
        *known = 0;
        return NULL;
    }
    rec = (hps_conn *)p;
    if (rec == NULL && create) {
        rec = hps_conn_new();
        if (rec != NULL && !ctx->set_conn_extra(ctx->sender, id, rec)) {
            hps_conn_free(rec);
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
    if (ctx->get_conn_extra == NULL) {
        rec = ctx->client_conn;
        ctx->client_conn = NULL;
        ctx->client_closed = 1;
    } else if (ctx->get_conn_extra(ctx->sender, id, &p)) {
        if (p != HPS_CLOSED)
            rec = (hps_conn *)p;
        ctx->set_conn_extra(ctx->sender, id, HPS_CLOSED);
    }
    hps_unlock(ctx);
    return rec;
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

/* ------------------------------------------------------------------ */
/* One Python thread state per native worker thread                     */
/*
 * PyGILState_Ensure() on a thread without a thread state creates one, and
 * the matching Release destroys it again: an allocation, a free and list
 * manipulation on every callback.  The first time a worker enters Python we
 * call Ensure and never Release, so the state stays for the thread's life
 * and later "with gil" blocks only take the GIL.  A pthread key destructor
 * deletes the state when the worker thread exits (HP-Socket joins its
 * workers in Stop), unless the interpreter is already finalizing.
 */
static pthread_key_t hps_tstate_key;
static int hps_pin_enabled = 1;
static __thread int hps_tls_thread_kind = 0;   /* 0 unknown, 1 Python's own, 2 pinned */
static __thread int hps_tls_callback_depth = 0;
static void hps_tstate_destructor(void *p)
{
    PyThreadState *ts = (PyThreadState *)p;
    if (ts == NULL)
        return;
    if (hps_exiting())
        return; /* never touch the interpreter once it is finalizing */
    /* glibc may already have cleared Python's own thread-state key (keys are
     * cleared in index order as a thread exits), so PyGILState_Release cannot
     * be used here: delete the state directly. */
    PyEval_RestoreThread(ts);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent(); /* also releases the GIL */
    hps_count(&hps_counter_pinned_states, -1);
}

static inline int hps_threadstate_init(void)
{
    return pthread_key_create(&hps_tstate_key, hps_tstate_destructor);
}

/* Call without the GIL, right before "with gil". */
static inline void hps_pin_thread_state(void)
{
    PyGILState_STATE st;
    PyThreadState *ts;
    if (hps_tls_thread_kind != 0 || !hps_pin_enabled)
        return;
    if (PyGILState_GetThisThreadState() != NULL) {
        hps_tls_thread_kind = 1;
        return;
    }
    st = PyGILState_Ensure();
    (void)st;
    ts = PyEval_SaveThread();
    pthread_setspecific(hps_tstate_key, ts);
    hps_tls_thread_kind = 2;
    hps_count(&hps_counter_pinned_states, 1);
}

static inline void hps_enter_callback(void)
{
    hps_tls_callback_depth++;
    HPS_DEBUG_COUNT(hps_counter_in_flight, 1);
}

static inline void hps_leave_callback(void)
{
    hps_tls_callback_depth--;
    HPS_DEBUG_COUNT(hps_counter_in_flight, -1);
}

static inline int hps_in_callback(void)
{
    return hps_tls_callback_depth > 0;
}

/* ------------------------------------------------------------------ */
/* Sockets                                                              */

static inline void hps_set_nodelay(UINT_PTR fd)
{
    int one = 1;
    setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * Before a server stops: take its listening socket out of the library's
 * epoll set.  HP-Socket 5.2.2's Stop shuts down and closes the listening
 * socket while it is still registered; a worker woken for it then calls
 * accept() on the closed descriptor, gets EBADF, and the library calls
 * exit(70), ending the whole process (reproducible by stopping a server
 * during a burst of incoming connections).  Once the socket is out of the
 * set no worker is woken for it; one already woken finds the socket still
 * open and gets a connection or EAGAIN, so we give such a worker a moment
 * before the library closes it.  The epoll descriptor is found through
 * /proc/self/fdinfo (the library does not expose it).
 */
static inline int hps_quiesce_listener(int listen_fd)
{
    DIR *dir;
    struct dirent *de;
    char path[64], line[256];
    int found = 0;
    if (listen_fd < 0)
        return 0;
    dir = opendir("/proc/self/fdinfo");
    if (dir == NULL)
        return 0;
    while (!found && (de = readdir(dir)) != NULL) {
        FILE *f;
        int fd = atoi(de->d_name);
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == listen_fd)
            continue;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof(line), f) != NULL) {
            int tfd;
            if (sscanf(line, "tfd: %d", &tfd) == 1 && tfd == listen_fd) {
                if (epoll_ctl(fd, EPOLL_CTL_DEL, listen_fd, NULL) == 0)
                    found = 1;
                break;
            }
        }
        fclose(f);
    }
    closedir(dir);
    if (found)
        usleep(20000);
    return found;
}

/*
 * Remember a new connection's socket (OnAccept, OnPrepareConnect), for
 * hps_disconnect.  Creates the connection's record.
 */
static inline void hps_conn_set_fd(hps_ctx *ctx, HP_CONNID id, UINT_PTR fd)
{
    int known;
    hps_conn *rec;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 1, &known);
    if (rec != NULL)
        rec->fd = (int)fd;
    hps_unlock(ctx);
}

/*
 * Disconnect by shutting the socket down: 1 done, 0 unknown connection, -1
 * the socket is not known (use the library's Disconnect).
 *
 * HP-Socket 5.2.2's Disconnect closes the socket on another worker; for a
 * connection still inside HandleAccept (on_accept running) that worker
 * closes it before the accepting one adds it to epoll, which then fails and
 * the library calls exit(70).  A shutdown leaves the descriptor open: the
 * library sees the hang-up through epoll and closes the connection the usual
 * way, with OnClose.  The record is only detached in OnClose, which the
 * library calls before it closes the descriptor, so holding ctx->lock with
 * the record attached guarantees the descriptor is still this connection's.
 */
static inline int hps_disconnect(hps_ctx *ctx, HP_CONNID id, int force)
{
    int known, rc;
    hps_conn *rec;
    hps_lock(ctx);
    rec = hps_conn_get(ctx, id, 0, &known);
    if (rec != NULL && rec->fd >= 0) {
        shutdown(rec->fd, force ? SHUT_RDWR : SHUT_WR);
        rc = 1;
    } else {
        rc = known ? -1 : 0;
    }
    hps_unlock(ctx);
    return rc;
}

#include "_direct_send.h"
#include "_pack.h"

#endif /* HPSOCKET_NATIVE_H */
