# The connection events every family shares (prepare, accept, connect,
# handshake, send, receive, close, shutdown, refused): the C callbacks the
# library calls on its worker threads, and the dispatchers they call with the
# GIL.  Receive here is the push model's; the pull and pack models' are in
# _framing.pxi.  A family registers these (see _tcp.pxi) and adds its own.
#
# Every trampoline looks up the component's context without the GIL and
# returns HR_IGNORE at once, still without the GIL, when the Python class does
# not handle the event, when the component is gone or when the interpreter is
# exiting; otherwise it enters Python once, between the brackets of
# _callback.h, and calls one dispatcher.  The rules for a family are at the
# top of _component.pxi.


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


cdef inline object _fn(Component self, int index):
    """The class's handler of event index (not None: the event is handled)."""
    return <object>PyTuple_GET_ITEM(self._fns, index)


cdef inline En_HP_HandleResult _result(object r) except *:
    if r is None:
        return HR_OK
    if isinstance(r, int) and 0 <= r <= 2:
        return <En_HP_HandleResult><int>r
    raise TypeError(
        f"event handlers must return None or a hpsocket.HandleResult, not {r!r}")


_OPERATIONS = tuple(SocketOperation)


cdef object _operation(int op):
    if 0 <= op < len(_OPERATIONS):
        return _OPERATIONS[op]
    return op


# -- dispatchers (with the GIL) ----------------------------------------------

cdef En_HP_HandleResult _ev_prepare(Component self, HP_CONNID conn_id, UINT_PTR fd) noexcept:
    try:
        if self._ops.role == ROLE_SERVER:
            return _result(_fn(self, EVI_PREPARE)(self, fd))
        return _result(_fn(self, EVI_PREPARE)(self, conn_id, fd))
    except BaseException as exc:
        return self._failed(EVI_PREPARE, conn_id if self._ops.role != ROLE_SERVER else None, exc)


cdef En_HP_HandleResult _ev_accept(Component self, HP_CONNID conn_id, UINT_PTR fd) noexcept:
    try:
        if self._ops.native.caps & HPS_CAP_SOCKET_FD:
            return _result(_fn(self, EVI_ACCEPT)(self, conn_id, fd))
        # UDP: what the library passes is the peer's sockaddr, not a socket.
        return _result(_fn(self, EVI_ACCEPT)(self, conn_id, _conn_address(self, conn_id, True)))
    except BaseException as exc:
        return self._failed(EVI_ACCEPT, conn_id, exc)


cdef En_HP_HandleResult _ev_connect(Component self, HP_CONNID conn_id) noexcept:
    try:
        return _result(_fn(self, EVI_CONNECT)(self, conn_id))
    except BaseException as exc:
        return self._failed(EVI_CONNECT, conn_id, exc)


cdef En_HP_HandleResult _ev_handshake(Component self, HP_CONNID conn_id) noexcept:
    try:
        return _result(_fn(self, EVI_HANDSHAKE)(self, conn_id))
    except BaseException as exc:
        return self._failed(EVI_HANDSHAKE, conn_id, exc)


cdef En_HP_HandleResult _ev_send(Component self, HP_CONNID conn_id, const BYTE* data, int length) noexcept:
    try:
        return _result(_fn(self, EVI_SEND)(self, conn_id, PyBytes_FromStringAndSize(<const char*>data, length)))
    except BaseException as exc:
        return self._failed(EVI_SEND, conn_id, exc)


cdef En_HP_HandleResult _ev_receive(Component self, HP_CONNID conn_id, const BYTE* data, int length) noexcept:
    cdef object r
    try:
        r = _fn(self, EVI_RECEIVE)(self, conn_id, PyBytes_FromStringAndSize(<const char*>data, length))
        if r is None:
            return HR_OK
        return _result(r)
    except BaseException as exc:
        return self._failed(EVI_RECEIVE, conn_id, exc)


cdef En_HP_HandleResult _ev_close(Component self, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept:
    try:
        return _result(_fn(self, EVI_CLOSE)(self, conn_id, _operation(op), error))
    except BaseException as exc:
        return self._failed(EVI_CLOSE, conn_id, exc)


cdef En_HP_HandleResult _ev_refused(Component self, HP_CONNID conn_id) noexcept:
    try:
        _fn(self, EVI_REFUSED)(self, conn_id)
    except BaseException as exc:
        self._failed(EVI_REFUSED, conn_id, exc)
    return HR_ERROR


cdef En_HP_HandleResult _ev_shutdown(Component self) noexcept:
    try:
        return _result(_fn(self, EVI_SHUTDOWN)(self))
    except BaseException as exc:
        return self._failed(EVI_SHUTDOWN, None, exc)


# -- trampolines (without the GIL) --------------------------------------------

cdef En_HP_HandleResult _on_prepare_listen(void* sender, UINT_PTR fd) noexcept nogil:
    cdef void* saved_component
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc
    if ctx != NULL:
        ctx.listen_fd = <int>fd     # for hps_quiesce_listener at stop
    ctx = _handled(sender, EV_PREPARE)
    if ctx == NULL:
        return HR_IGNORE
    saved_component = hps_call_begin(sender)
    with gil:
        rc = _ev_prepare(<Component><object>ctx.owner, 0, fd)
    hps_call_end(saved_component)
    return rc


cdef En_HP_HandleResult _on_prepare_connect(void* sender, HP_CONNID conn_id, UINT_PTR fd) noexcept nogil:
    cdef void* saved_component
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc
    if ctx != NULL:
        if ctx.no_delay and (ctx.ops.caps & HPS_CAP_SOCKET_FD):
            hps_set_nodelay(fd)
        hps_conn_set_fd(ctx, conn_id, fd)   # agent and client (see hps_send)
    ctx = _handled(sender, EV_PREPARE)
    if ctx == NULL:
        return HR_IGNORE
    saved_component = hps_call_begin(sender)
    with gil:
        rc = _ev_prepare(<Component><object>ctx.owner, conn_id, fd)
    hps_call_end(saved_component)
    return rc


cdef En_HP_HandleResult _on_accept(void* sender, HP_CONNID conn_id, UINT_PTR fd) noexcept nogil:
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc
    if ctx == NULL:
        return HR_IGNORE
    # Counted: stop() waits for the workers inside (see hps_quiesce_listener).
    hps_accept_begin(ctx)
    rc = _accepted(ctx, sender, conn_id, fd)
    hps_accept_end(ctx)
    return rc


cdef En_HP_HandleResult _accepted(hps_ctx* ctx, void* sender, HP_CONNID conn_id, UINT_PTR fd) noexcept nogil:
    cdef void* saved_component
    cdef hps_owner saved
    cdef hps_ctx* handled
    cdef En_HP_HandleResult rc = HR_IGNORE
    # max_connections is enforced here rather than by the library, which
    # drops the connections over its limit without telling anyone (its own
    # limit is set a little higher; see Server.max_connections).
    if __atomic_add_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED) > ctx.max_conns:
        __atomic_sub_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED)
        __atomic_add_fetch(&ctx.refused, 1, __ATOMIC_RELAXED)
        handled = _handled(sender, EV_REFUSED)
        if handled != NULL:
            saved_component = hps_call_begin(sender)
            with gil:
                _ev_refused(<Component><object>ctx.owner, conn_id)
            hps_call_end(saved_component)
        return HR_ERROR
    if ctx.no_delay and (ctx.ops.caps & HPS_CAP_SOCKET_FD):
        hps_set_nodelay(fd)
    hps_conn_set_fd(ctx, conn_id, fd)
    handled = _handled(sender, EV_ACCEPT)
    if handled != NULL:
        saved = hps_conn_call_begin(sender, conn_id)
        with gil:
            rc = _ev_accept(<Component><object>ctx.owner, conn_id, fd)
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
        rc = _ev_connect(<Component><object>ctx.owner, conn_id)
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
        rc = _ev_handshake(<Component><object>ctx.owner, conn_id)
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
        rc = _ev_send(<Component><object>ctx.owner, conn_id, data, length)
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
        rc = _ev_receive(<Component><object>ctx.owner, conn_id, data, length)
    hps_conn_call_end(saved)
    return rc


cdef En_HP_HandleResult _on_close(void* sender, HP_CONNID conn_id, En_HP_SocketOperation op, int error) noexcept nogil:
    cdef void* saved_component
    cdef hps_ctx* ctx = hps_lookup(sender)
    cdef En_HP_HandleResult rc = HR_IGNORE
    if ctx == NULL:
        return HR_IGNORE
    if ctx.model == MODEL_PACK and op == SO_RECEIVE:
        error = _pack_close_error(ctx, conn_id, error)
    if _handled(sender, EV_CLOSE) != NULL:
        saved_component = hps_call_begin(sender)
        with gil:
            rc = _ev_close(<Component><object>ctx.owner, conn_id, op, error)
        hps_call_end(saved_component)
    # After on_close, so that get_extra and fetch still work inside it.
    _release_conn(ctx, conn_id)
    if ctx.role == ROLE_SERVER:
        __atomic_sub_fetch(&ctx.live_conns, 1, __ATOMIC_RELAXED)
    return rc


cdef En_HP_HandleResult _on_shutdown(void* sender) noexcept nogil:
    cdef void* saved_component
    cdef hps_ctx* ctx = _handled(sender, EV_SHUTDOWN)
    cdef En_HP_HandleResult rc
    if ctx == NULL:
        return HR_IGNORE
    saved_component = hps_call_begin(sender)
    with gil:
        rc = _ev_shutdown(<Component><object>ctx.owner)
    hps_call_end(saved_component)
    return rc
