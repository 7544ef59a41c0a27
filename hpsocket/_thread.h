/*
 * _thread.h - the native worker threads' side of entering Python:
 *
 *   - one persistent Python thread state per worker thread;
 *   - the callback depth (a callback can run inside another: stop() called
 *     in a handler fires OnClose there) and the connection whose callback
 *     this thread is running, which decides whether a send may be written
 *     directly (_send.h).
 *
 * The brackets a trampoline puts around its Python call are in _callback.h.
 */
#ifndef HPSOCKET_THREAD_H
#define HPSOCKET_THREAD_H

#include <pthread.h>

#include "_base.h"

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
/* Debug builds can turn pinning off, to measure what it saves. */
static int hps_pin_enabled = 1;
enum { HPS_THREAD_UNKNOWN = 0, HPS_THREAD_PYTHON = 1, HPS_THREAD_PINNED = 2 };
static __thread int hps_tls_thread_kind = HPS_THREAD_UNKNOWN;
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

static inline int hps_thread_init(void)
{
    return pthread_key_create(&hps_tstate_key, hps_tstate_destructor);
}

/* 0, or -1 in a release build, where pinning is always on. */
static inline int hps_set_pinning(int enabled)
{
#ifdef HPSOCKET_DEBUG
    hps_pin_enabled = enabled;
    return 0;
#else
    (void)enabled;
    return -1;
#endif
}

/* Call without the GIL, right before "with gil". */
static inline void hps_pin_thread_state(void)
{
    PyGILState_STATE st;
    PyThreadState *ts;
    if (hps_tls_thread_kind != HPS_THREAD_UNKNOWN || !hps_pin_enabled)
        return;
    if (PyGILState_GetThisThreadState() != NULL) {
        hps_tls_thread_kind = HPS_THREAD_PYTHON;
        return;
    }
    st = PyGILState_Ensure();
    (void)st;
    ts = PyEval_SaveThread();
    pthread_setspecific(hps_tstate_key, ts);
    hps_tls_thread_kind = HPS_THREAD_PINNED;
    hps_count(&hps_counter_pinned_states, 1);
}

static inline int hps_in_callback(void)
{
    return hps_tls_callback_depth > 0;
}

/* ------------------------------------------------------------------ */
/* The connection whose callback this thread runs                       */

typedef struct hps_owner {
    void *sender;      /* NULL: none */
    HP_CONNID conn;
    void *component;   /* whose callback this thread runs, any event or thread */
} hps_owner;

static __thread hps_owner hps_tls_owner = {NULL, 0, NULL};

/* Is this thread inside one of sender's callbacks (the gate, _ctx.h)? */
static inline int hps_in_callback_of(void *sender)
{
    return hps_tls_owner.component == sender;
}

static inline int hps_is_owner(void *sender, int role, HP_CONNID id)
{
    return hps_tls_owner.sender == sender
           && (role == HPS_ROLE_CLIENT || hps_tls_owner.conn == id);
}

/* Entering a callback of connection id; returns what to restore. */
static inline hps_owner hps_thread_enter(void *sender, HP_CONNID id)
{
    hps_owner saved = hps_tls_owner;
    hps_tls_callback_depth++;
    HPS_DEBUG_COUNT(hps_counter_in_flight, 1);
    hps_tls_owner.component = sender;
    /* Only the library's worker threads hold a socket's I/O lock during its
     * callbacks; a Python thread may run one too (on_connect of a
     * synchronous connect), and its sends then take the library's queue. */
    if (hps_tls_thread_kind != HPS_THREAD_PYTHON) {
        hps_tls_owner.sender = sender;
        hps_tls_owner.conn = id;
    } else {
        hps_tls_owner.sender = NULL;
    }
    return saved;
}

static inline void hps_thread_leave(hps_owner saved)
{
    hps_tls_owner = saved;
    hps_tls_callback_depth--;
    HPS_DEBUG_COUNT(hps_counter_in_flight, -1);
}

#endif /* HPSOCKET_THREAD_H */
