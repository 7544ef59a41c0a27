# C callbacks registered with HP-Socket.  One function per event serves every
# role and model (the sender handles are all "void *").  Each looks up the
# component's context without the GIL and returns HR_IGNORE at once, still
# without the GIL, when the Python class does not handle the event, when the
# component is gone or when the interpreter is exiting; otherwise it takes the
# GIL once and calls one dispatcher method of the component.

# (bit, method name per role) for the override check and on_error's argument.
_EVENTS = (
    (EV_PREPARE, ("on_prepare_listen", "on_prepare_connect", "on_prepare_connect")),
    (EV_ACCEPT, ("on_accept", None, None)),
    (EV_CONNECT, (None, "on_connect", "on_connect")),
    (EV_HANDSHAKE, ("on_handshake", "on_handshake", "on_handshake")),
    (EV_SEND, ("on_send", "on_send", "on_send")),
    (EV_RECEIVE, ("on_receive", "on_receive", "on_receive")),
    (EV_CLOSE, ("on_close", "on_close", "on_close")),
    (EV_SHUTDOWN, ("on_shutdown", "on_shutdown", None)),
    (EV_REFUSED, ("on_refused", None, None)),
)


cdef inline hps_ctx* _handled(void* sender, unsigned int event) noexcept nogil:
    """The context if this event must go to Python, else NULL."""
    cdef hps_ctx* ctx = hps_lookup(sender)
    if ctx == NULL or ctx.owner == NULL or (ctx.mask & event) == 0 or hps_exiting():
        HPS_DEBUG_COUNT(hps_counter_gil_free_skips, 1)
        return NULL
    hps_pin_thread_state()
    return ctx


cdef void _release_conn(hps_ctx* ctx, HP_CONNID conn_id) noexcept nogil:
    """Detach a closing connection's record; drop its Python extra."""
    cdef hps_conn* rec = hps_conn_detach(ctx, conn_id)
    if rec == NULL:
        return
    if rec.extra != NULL and not hps_exiting():
        hps_pin_thread_state()
        with gil:
            Py_XDECREF(rec.extra)
    # Once the interpreter is exiting the extra object is left alone.
    rec.extra = NULL
    hps_conn_free(ctx, rec)


cdef int _pack_close_error(hps_ctx* ctx, HP_CONNID conn_id, int error) noexcept nogil:
    """The errno of a connection the pack framing closed (EBADMSG,
    EMSGSIZE) rather than the library's ECANCELED for any HR_ERROR."""
    cdef int known
    cdef hps_conn* rec
    hps_lock(ctx)
    rec = hps_conn_get(ctx, conn_id, 0, &known)
    if rec != NULL and rec.close_error != 0:
        error = rec.close_error
    hps_unlock(ctx)
    return error


# -- the trampolines ---------------------------------------------------------

cdef En_HP_HandleResult _on_prepare_listen(void* sender, UINT_PTR fd) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc
    if ctx != NULL:
        ctx.listen_fd = <int>fd     # for hps_quiesce_listener at stop
    ctx = _handled(sender, EV_PREPARE)
    if ctx == NULL:
        return HR_IGNORE
    hps_call_begin()
    with gil:
        rc = (<Component><object>ctx.owner)._ev_prepare(0, fd)
    hps_call_end()
    return rc


cdef En_HP_HandleResult _on_prepare_connect(void* sender, HP_CONNID conn_id, UINT_PTR fd) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc
    if ctx != NULL:
        if ctx.no_delay:
            hps_set_nodelay(fd)
        hps_conn_set_fd(ctx, conn_id, fd)   # agent and client (see hps_send)
    ctx = _handled(sender, EV_PREPARE)
    if ctx == NULL:
        return HR_IGNORE
    hps_call_begin()
    with gil:
        rc = (<Component><object>ctx.owner)._ev_prepare(conn_id, fd)
    hps_call_end()
    return rc


cdef En_HP_HandleResult _on_accept(void* sender, HP_CONNID conn_id, UINT_PTR fd) noexcept nogil:
    cdef hps_owner saved
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef hps_ctx* handled
    cdef En_HP_HandleResult rc = HR_IGNORE
    if ctx == NULL:
        return HR_IGNORE
    # max_connections is enforced here rather than by the library, which
    # drops the connections over its limit without telling anyone (its own
    # limit is set a little higher; see Server.max_connections).
    if __atomic_add_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED) > ctx.max_conns:
        __atomic_sub_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED)
        __atomic_add_fetch(&ctx.refused, 1, __ATOMIC_RELAXED)
        handled = _handled(sender, EV_REFUSED)
        if handled != NULL:
            hps_call_begin()
            with gil:
                (<Component><object>ctx.owner)._ev_refused(conn_id)
            hps_call_end()
        return HR_ERROR
    if ctx.no_delay:
        hps_set_nodelay(fd)
    hps_conn_set_fd(ctx, conn_id, fd)
    handled = _handled(sender, EV_ACCEPT)
    if handled != NULL:
        saved = hps_conn_call_begin(sender, conn_id)
        with gil:
            rc = (<Component><object>ctx.owner)._ev_accept(conn_id, fd)
        hps_conn_call_end(saved)
    if rc == HR_ERROR:
        # The library drops the connection without OnClose: release here
        # whatever on_accept attached to it.
        __atomic_sub_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED)
        _release_conn(ctx, conn_id)
    return rc


cdef En_HP_HandleResult _on_connect(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_owner saved
    cdef hps_ctx* ctx = _handled(sender, EV_CONNECT)
    cdef En_HP_HandleResult rc
    if ctx == NULL:
        return HR_IGNORE
    saved = hps_conn_call_begin(sender, conn_id)
    with gil:
        rc = (<Component><object>ctx.owner)._ev_connect(conn_id)
    hps_conn_call_end(saved)
    return rc


cdef En_HP_HandleResult _on_handshake(void* sender, HP_CONNID conn_id) noexcept nogil:
    cdef hps_owner saved
    cdef hps_ctx* ctx = _handled(sender, EV_HANDSHAKE)
    cdef En_HP_HandleResult rc
    if ctx == NULL:
        return HR_IGNORE
    saved = hps_conn_call_begin(sender, conn_id)
    with gil:
        rc = (<Component><object>ctx.owner)._ev_handshake(conn_id)
    hps_conn_call_end(saved)
    return rc


cdef En_HP_HandleResult _on_send(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    cdef hps_owner saved
    cdef hps_ctx* ctx = _handled(sender, EV_SEND)
    cdef En_HP_HandleResult rc
    if ctx == NULL:
        return HR_IGNORE
    saved = hps_conn_call_begin(sender, conn_id)
    with gil:
        rc = (<Component><object>ctx.owner)._ev_send(conn_id, data, length)
    hps_conn_call_end(saved)
    return rc


cdef En_HP_HandleResult _on_receive(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    cdef hps_owner saved
    cdef hps_ctx* ctx = _handled(sender, EV_RECEIVE)
    cdef En_HP_HandleResult rc
    if ctx == NULL:
        return HR_IGNORE
    saved = hps_conn_call_begin(sender, conn_id)
    with gil:
        rc = (<Component><object>ctx.owner)._ev_receive(conn_id, data, length)
    hps_conn_call_end(saved)
    return rc


cdef En_HP_HandleResult _on_pull_receive(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    """The pull model's OnReceive (over a push component): keep the bytes in
    the connection's buffer (see hps_buf_append), then report how many
    are buffered."""
    cdef hps_owner saved
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc
    cdef hps_conn* rec
    cdef int known
    cdef long total = -1
    if ctx == NULL:
        return HR_IGNORE
    hps_lock(ctx)
    rec = hps_conn_get(ctx, conn_id, 1, &known)
    if rec != NULL:
        total = hps_buf_append(&rec.inbuf, <const unsigned char*>data, length)
    hps_unlock(ctx)
    if total < 0:
        return HR_ERROR     # out of memory, or over 2 GiB unfetched
    ctx = _handled(sender, EV_RECEIVE)
    if ctx == NULL:
        return HR_IGNORE
    saved = hps_conn_call_begin(sender, conn_id)
    with gil:
        rc = (<Component><object>ctx.owner)._ev_pull_receive(conn_id, <int>total)
    hps_conn_call_end(saved)
    return rc


cdef En_HP_HandleResult _on_pack_receive(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil:
    """The pack model's OnReceive (over a push component): split the stream
    into packets (_frame.h) and hand their bodies to on_receive, taking the
    GIL once for all the packets of a chunk.  The start of an incomplete
    packet waits in the connection's buffer, which only this callback of
    the connection touches."""
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef hps_conn* rec
    cdef hps_owner saved
    cdef int known, err = 0
    cdef const unsigned char* src
    cdef const unsigned char* body
    cdef uint32_t body_len
    cdef size_t n, pos = 0
    cdef bint buffered
    cdef En_HP_HandleResult rc = HR_IGNORE
    if ctx == NULL:
        return HR_IGNORE
    hps_lock(ctx)
    rec = hps_conn_get(ctx, conn_id, 1, &known)
    hps_unlock(ctx)
    if rec == NULL:
        return HR_ERROR     # out of memory
    buffered = hps_buf_len(&rec.inbuf) > 0
    if buffered:
        if hps_buf_append(&rec.inbuf, <const unsigned char*>data, length) < 0:
            return HR_ERROR
        src = rec.inbuf.buf + rec.inbuf.head
        n = hps_buf_len(&rec.inbuf)
    else:
        src = <const unsigned char*>data
        n = <size_t>length
    if _handled(sender, EV_RECEIVE) != NULL:
        saved = hps_conn_call_begin(sender, conn_id)
        with gil:
            rc = (<Component><object>ctx.owner)._ev_pack_receive(conn_id, src, n, &pos, &err)
        hps_conn_call_end(saved)
    else:
        while True:
            err = hps_pack_next(src, n, &pos, ctx.pack_flag, ctx.pack_max, &body, &body_len)
            if err <= 0:
                break
    if err < 0:
        rec.close_error = -err     # reported by _on_close
        return HR_ERROR
    if rc == HR_ERROR:
        return HR_ERROR
    if buffered:
        hps_buf_consume(&rec.inbuf, pos)
    elif pos < n and hps_buf_append(&rec.inbuf, src + pos, <int>(n - pos)) < 0:
        return HR_ERROR
    return rc


cdef En_HP_HandleResult _on_close(void* sender, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc = HR_IGNORE
    if ctx == NULL:
        return HR_IGNORE
    if ctx.model == MODEL_PACK and op == SO_RECEIVE:
        error = _pack_close_error(ctx, conn_id, error)
    if _handled(sender, EV_CLOSE) != NULL:
        hps_call_begin()
        with gil:
            rc = (<Component><object>ctx.owner)._ev_close(conn_id, op, error)
        hps_call_end()
    # After on_close, so that get_extra and fetch still work inside it.
    _release_conn(ctx, conn_id)
    if ctx.role == ROLE_SERVER:
        __atomic_sub_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED)
    return rc


cdef En_HP_HandleResult _on_shutdown(void* sender) noexcept nogil:
    cdef hps_ctx* ctx = _handled(sender, EV_SHUTDOWN)
    cdef En_HP_HandleResult rc
    if ctx == NULL:
        return HR_IGNORE
    hps_call_begin()
    with gil:
        rc = (<Component><object>ctx.owner)._ev_shutdown()
    hps_call_end()
    return rc


# -- registration ------------------------------------------------------------
# Only what is needed is registered: an unregistered event costs the library
# nothing at all.  Accept/prepare-connect stay for TCP_NODELAY, receive for the
# pull model's buffer and the pack model's framing, close for releasing connection records, prepare-
# listen to learn the listening socket (see hps_quiesce_listener).

cdef void _register(void* listener, int role, int model, unsigned int mask, bint no_delay) noexcept nogil:
    if role == ROLE_SERVER:
        HP_Set_FN_Server_OnPrepareListen(listener, _on_prepare_listen)
        HP_Set_FN_Server_OnAccept(listener, _on_accept)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_Server_OnHandShake(listener, _on_handshake)
        if mask & EV_SEND:
            HP_Set_FN_Server_OnSend(listener, _on_send)
        if model == MODEL_PULL:
            HP_Set_FN_Server_OnReceive(listener, _on_pull_receive)
        elif model == MODEL_PACK:
            HP_Set_FN_Server_OnReceive(listener, _on_pack_receive)
        elif mask & EV_RECEIVE:
            HP_Set_FN_Server_OnReceive(listener, _on_receive)
        HP_Set_FN_Server_OnClose(listener, _on_close)
        if mask & EV_SHUTDOWN:
            HP_Set_FN_Server_OnShutdown(listener, _on_shutdown)
    elif role == ROLE_AGENT:
        HP_Set_FN_Agent_OnPrepareConnect(listener, _on_prepare_connect)
        if mask & EV_CONNECT:
            HP_Set_FN_Agent_OnConnect(listener, _on_connect)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_Agent_OnHandShake(listener, _on_handshake)
        if mask & EV_SEND:
            HP_Set_FN_Agent_OnSend(listener, _on_send)
        if model == MODEL_PULL:
            HP_Set_FN_Agent_OnReceive(listener, _on_pull_receive)
        elif model == MODEL_PACK:
            HP_Set_FN_Agent_OnReceive(listener, _on_pack_receive)
        elif mask & EV_RECEIVE:
            HP_Set_FN_Agent_OnReceive(listener, _on_receive)
        HP_Set_FN_Agent_OnClose(listener, _on_close)
        if mask & EV_SHUTDOWN:
            HP_Set_FN_Agent_OnShutdown(listener, _on_shutdown)
    else:
        if (mask & EV_PREPARE) or no_delay:
            HP_Set_FN_Client_OnPrepareConnect(listener, _on_prepare_connect)
        if mask & EV_CONNECT:
            HP_Set_FN_Client_OnConnect(listener, _on_connect)
        if mask & EV_HANDSHAKE:
            HP_Set_FN_Client_OnHandShake(listener, _on_handshake)
        if mask & EV_SEND:
            HP_Set_FN_Client_OnSend(listener, _on_send)
        if model == MODEL_PULL:
            HP_Set_FN_Client_OnReceive(listener, _on_pull_receive)
        elif model == MODEL_PACK:
            HP_Set_FN_Client_OnReceive(listener, _on_pack_receive)
        elif mask & EV_RECEIVE:
            HP_Set_FN_Client_OnReceive(listener, _on_receive)
        HP_Set_FN_Client_OnClose(listener, _on_close)
