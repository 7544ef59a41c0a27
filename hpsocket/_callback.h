/*
 * _callback.h - the brackets around every call from a trampoline into
 * Python (events.pxi, tcp.pxi):
 *
 *   hps_conn_call_begin / hps_conn_call_end   a connection's I/O event
 *       (accept, connect, handshake, send, receive): the thread runs that
 *       connection's callback, so the handler's sends are gathered, and
 *       hps_conn_call_end writes them to the socket (_send.h).
 *   hps_call_begin / hps_call_end             any other event (prepare,
 *       refused, close, shutdown): counted as a callback, sends queued.
 */
#ifndef HPSOCKET_CALLBACK_H
#define HPSOCKET_CALLBACK_H

#include "_send.h"
#include "_thread.h"

static inline hps_owner hps_conn_call_begin(void *sender, HP_CONNID id)
{
    hps_out_flush();   /* an outer callback's gathered sends leave first */
    return hps_thread_enter(sender, id);
}

/* Writes what the handler sent, then restores the outer callback's state. */
static inline void hps_conn_call_end(hps_owner saved)
{
    hps_out_flush();
    hps_thread_leave(saved);
}

/* Returns what hps_call_end restores. */
static inline void *hps_call_begin(void *sender)
{
    void *saved = hps_tls_owner.component;
    hps_tls_owner.component = sender;
    hps_tls_callback_depth++;
    HPS_DEBUG_COUNT(hps_counter_in_flight, 1);
    return saved;
}

static inline void hps_call_end(void *saved)
{
    hps_tls_owner.component = saved;
    hps_tls_callback_depth--;
    HPS_DEBUG_COUNT(hps_counter_in_flight, -1);
}

#endif /* HPSOCKET_CALLBACK_H */
