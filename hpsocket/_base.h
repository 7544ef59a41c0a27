/*
 * _base.h - what the other helper headers build on: the process-wide "exiting"
 * flag, the bookkeeping counters, and the role, model and event numbers
 * (one source for C and, through includes/native.pxd, for Cython).
 *
 * Headers of this directory form a DAG; each includes what it uses:
 *
 *   _buf.h   _base.h
 *        \   /     \
 *        _ctx.h    _thread.h
 *        /    \    /
 *    _tcp.h   _send.h
 *               |
 *           _callback.h          _frame.h (alone)
 */
#ifndef HPSOCKET_BASE_H
#define HPSOCKET_BASE_H

#include <Python.h>
#include <stdint.h>

#include "hpsocket4c.h"

/* ------------------------------------------------------------------ */
/* Roles, receive models, events                                        */

enum { HPS_ROLE_SERVER = 0, HPS_ROLE_AGENT = 1, HPS_ROLE_CLIENT = 2 };
/* DATAGRAM: UDP, each receive and each send one whole datagram. */
enum { HPS_MODEL_PUSH = 0, HPS_MODEL_PULL = 1, HPS_MODEL_PACK = 2, HPS_MODEL_DATAGRAM = 3 };

/* Events, numbered across families (HTTP, WebSocket and UDP add theirs
 * after HPS_EVI_REFUSED); bit HPS_EV_x = 1 << HPS_EVI_x of hps_ctx.mask says
 * the Python class handles it. */
enum {
    HPS_EVI_PREPARE, HPS_EVI_ACCEPT, HPS_EVI_CONNECT, HPS_EVI_HANDSHAKE, HPS_EVI_SEND,
    HPS_EVI_RECEIVE, HPS_EVI_CLOSE, HPS_EVI_SHUTDOWN, HPS_EVI_REFUSED,
    HPS_EVI_REQUEST,   /* HTTP server: one whole request */
    HPS_EVI_RESPONSE,  /* HTTP agent/client: one whole response */
    HPS_EVI_PARSE_ERROR,   /* HTTP: the peer sent what is not HTTP */
    /* HTTP server: the library's parser events, for classes that want them */
    HPS_EVI_MESSAGE_BEGIN, HPS_EVI_REQUEST_LINE, HPS_EVI_HEADER, HPS_EVI_HEADERS_COMPLETE,
    HPS_EVI_BODY, HPS_EVI_CHUNK_HEADER, HPS_EVI_CHUNK_COMPLETE, HPS_EVI_MESSAGE_COMPLETE,
    HPS_EVI_UPGRADE,
    /* WebSocket on the HTTP server */
    HPS_EVI_WEBSOCKET,   /* an upgrade request: accept it or not */
    HPS_EVI_WS_OPEN, HPS_EVI_WS_MESSAGE, HPS_EVI_WS_CLOSE,
    HPS_EV_COUNT
};
enum {
    HPS_EV_PREPARE = 1 << HPS_EVI_PREPARE,
    HPS_EV_ACCEPT = 1 << HPS_EVI_ACCEPT,
    HPS_EV_CONNECT = 1 << HPS_EVI_CONNECT,
    HPS_EV_HANDSHAKE = 1 << HPS_EVI_HANDSHAKE,
    HPS_EV_SEND = 1 << HPS_EVI_SEND,
    HPS_EV_RECEIVE = 1 << HPS_EVI_RECEIVE,
    HPS_EV_CLOSE = 1 << HPS_EVI_CLOSE,
    HPS_EV_SHUTDOWN = 1 << HPS_EVI_SHUTDOWN,
    HPS_EV_REFUSED = 1 << HPS_EVI_REFUSED,
    HPS_EV_REQUEST = 1 << HPS_EVI_REQUEST,
    HPS_EV_RESPONSE = 1 << HPS_EVI_RESPONSE,
    HPS_EV_PARSE_ERROR = 1 << HPS_EVI_PARSE_ERROR,
    HPS_EV_WEBSOCKET = 1 << HPS_EVI_WEBSOCKET,
    HPS_EV_WS_OPEN = 1 << HPS_EVI_WS_OPEN,
    HPS_EV_WS_MESSAGE = 1 << HPS_EVI_WS_MESSAGE,
    HPS_EV_WS_CLOSE = 1 << HPS_EVI_WS_CLOSE,
    HPS_EV_PARSER = (1 << HPS_EVI_MESSAGE_BEGIN) | (1 << HPS_EVI_REQUEST_LINE) | (1 << HPS_EVI_HEADER)
                    | (1 << HPS_EVI_HEADERS_COMPLETE) | (1 << HPS_EVI_BODY) | (1 << HPS_EVI_CHUNK_HEADER)
                    | (1 << HPS_EVI_CHUNK_COMPLETE) | (1 << HPS_EVI_MESSAGE_COMPLETE) | (1 << HPS_EVI_UPGRADE)
                    | (1 << HPS_EVI_PARSE_ERROR)
};

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
/* Counters, read by hpsocket._core._counters() and the test fixtures.  */
/*
 * HPS_COUNTERS count in every build; HPS_DEBUG_COUNTERS only in a debug
 * build (HPSOCKET_DEBUG), where they sit on the hot paths, and read 0
 * otherwise.  hpsocket._core.DEBUG tells which build this is.
 */
#define HPS_COUNTERS(X)                                                     \
    X(live_native)      /* native components created - destroyed */         \
    X(conn_records)     /* per-connection records alive */                  \
    X(pinned_states)    /* worker thread states alive */
#define HPS_DEBUG_COUNTERS(X)                                               \
    X(in_flight)        /* callbacks inside Python now */                   \
    X(gil_free_skips)   /* events answered without the GIL */               \
    X(direct_writes)    /* sends written straight to the socket */          \
    X(direct_partial)   /* ... of which the rest was queued */              \
    X(direct_waits)     /* other threads' sends that waited for one */

#define HPS_COUNTER_DECLARE(name) static long hps_counter_##name = 0;
HPS_COUNTERS(HPS_COUNTER_DECLARE)
HPS_DEBUG_COUNTERS(HPS_COUNTER_DECLARE)
#undef HPS_COUNTER_DECLARE

#define HPS_COUNTER_NAME(name) #name,
static const char *const hps_counter_names[] = {
    HPS_COUNTERS(HPS_COUNTER_NAME) HPS_DEBUG_COUNTERS(HPS_COUNTER_NAME) NULL
};
#undef HPS_COUNTER_NAME

static inline void hps_count(long *c, long d)
{
    __atomic_add_fetch(c, d, __ATOMIC_RELAXED);
}

static inline long hps_read(long *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* The counters' values, in hps_counter_names order; returns how many. */
static inline int hps_counters_read(long *out, int max)
{
    int n = 0;
#define HPS_COUNTER_READ(name) if (n < max) out[n++] = hps_read(&hps_counter_##name);
    HPS_COUNTERS(HPS_COUNTER_READ)
    HPS_DEBUG_COUNTERS(HPS_COUNTER_READ)
#undef HPS_COUNTER_READ
    return n;
}

#ifdef HPSOCKET_DEBUG
#define HPS_DEBUG 1
#define HPS_DEBUG_COUNT(c, d) hps_count(&(c), (d))
#else
#define HPS_DEBUG 0
#define HPS_DEBUG_COUNT(c, d) ((void)0)
#endif

#endif /* HPSOCKET_BASE_H */
