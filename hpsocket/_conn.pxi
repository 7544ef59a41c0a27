# The operations on one connection, shared by every role and family (a
# client's connection id is ignored by its ops adapters): sends, the file
# send, addresses, the pending length, pausing, and the Python extra object.
# Module-level functions on Component, as uvloop keeps __tcp_bind beside its
# class: the role classes' public methods check their arguments and call them.


cdef int _send_size_ok(Component self, Py_ssize_t n) except -1:
    """1 if n bytes may go out in one send, 0 if there is nothing to send
    (an empty push/pull send); raises for an empty or oversize pack body
    and for over 2 GiB."""
    if self._ops.model == MODEL_PACK:
        _pack_check(self, n)
    elif self._ops.model == MODEL_DATAGRAM:
        _datagram_check(self, n)
    elif n == 0:
        return 0
    if n > INT_MAX:
        raise ValueError("data too large for one send (over 2 GiB)")
    return 1


cdef int _conn_send(Component self, HP_CONNID conn_id, object data) except -1:
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef BOOL ok
    cdef WSABUF bufs[2]
    if type(data) is bytes:    # the common case, without the buffer protocol
        n = PyBytes_GET_SIZE(data)
        if not _send_size_ok(self, n):
            return 1
        bufs[1].buf = <unsigned char*>PyBytes_AS_STRING(data)
        bufs[1].len = <unsigned int>n
        return _send_framed(self, conn_id, bufs, 2, n)
    _get_buffer(data, &view, PyBUF_SIMPLE)
    try:
        if not _send_size_ok(self, view.len):
            return 1
        bufs[1].buf = <unsigned char*>view.buf
        bufs[1].len = <unsigned int>view.len
        ok = _send_framed(self, conn_id, bufs, 2, view.len)
    finally:
        PyBuffer_Release(&view)
    return ok


cdef int _conn_send_packets(Component self, HP_CONNID conn_id, object buffers) except -1:
    cdef list items = list(buffers)
    cdef Py_ssize_t count = len(items), i, got = 0, total = 0
    cdef Py_buffer* views
    cdef WSABUF* bufs
    cdef BOOL ok = 0
    if count == 0:
        raise ValueError("send_packets needs at least one buffer")
    if count >= INT_MAX:
        raise ValueError("too many buffers")
    views = <Py_buffer*>PyMem_Malloc(count * sizeof(Py_buffer))
    bufs = <WSABUF*>PyMem_Malloc((count + 1) * sizeof(WSABUF))   # see _send_framed
    try:
        if views == NULL or bufs == NULL:
            raise MemoryError()
        for i in range(count):
            _get_buffer(items[i], &views[i], PyBUF_SIMPLE)
            got += 1
            if views[i].len > 0xFFFFFFFF:
                raise ValueError("buffer too large")
            bufs[i + 1].len = <unsigned int>views[i].len
            bufs[i + 1].buf = <unsigned char*>views[i].buf
            total += views[i].len
        if not _send_size_ok(self, total):
            return 1
        ok = _send_framed(self, conn_id, bufs, <int>count + 1, total)
    finally:
        for i in range(got):
            PyBuffer_Release(&views[i])
        PyMem_Free(views)
        PyMem_Free(bufs)
    return ok


cdef int _conn_send_file(Component self, HP_CONNID conn_id, object path, object head, object tail) except -1:
    cdef uint32_t header
    cdef bytes fname = os.fsencode(path)
    cdef Py_buffer hv, tv
    cdef WSABUF hb, tb
    cdef WSABUF* hp = NULL
    cdef WSABUF* tp = NULL
    cdef bint have_h = False, have_t = False
    cdef BOOL ok = 0
    cdef const char* c_fname
    cdef Py_ssize_t total
    cdef int gate
    if b"\0" in fname:
        raise ValueError("path must not contain NUL characters")
    st = os.stat(fname)    # FileNotFoundError and friends, clearly
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path!r} is not a regular file")
    if st.st_size == 0:
        raise ValueError(f"{path!r} is empty")
    try:
        if head is not None:
            _get_buffer(head, &hv, PyBUF_SIMPLE)
            have_h = True
        if tail is not None:
            _get_buffer(tail, &tv, PyBUF_SIMPLE)
            have_t = True
        if self._ops.model == MODEL_PACK:
            # One packet: its header goes in front of the head.
            total = st.st_size + (hv.len if have_h else 0) + (tv.len if have_t else 0)
            _pack_check(self, total)
            header = hps_pack_header(self._ctx.pack_flag, <uint32_t>total)
            head = (PyBytes_FromStringAndSize(<const char*>&header, 4)
                    + ((<char*>hv.buf)[:hv.len] if have_h else b""))
            if have_h:
                PyBuffer_Release(&hv)
            _get_buffer(head, &hv, PyBUF_SIMPLE)
            have_h = True
        if have_h:
            hb.len = <unsigned int>hv.len
            hb.buf = <unsigned char*>hv.buf
            hp = &hb
        if have_t:
            tb.len = <unsigned int>tv.len
            tb.buf = <unsigned char*>tv.buf
            tp = &tb
        c_fname = fname
        with nogil:
            gate = hps_gate_enter(self._ctx)
            if gate:
                if not hps_is_owner(self._handle, self._ctx.role, conn_id):
                    hps_direct_forbid(self._ctx, conn_id)   # see _send.h
                hps_out_flush_for(self._ctx, self._handle, conn_id)
                ok = self._ops.send_small_file(self._handle, conn_id, c_fname, hp, tp)
            hps_gate_leave(self._ctx, gate)
    finally:
        if have_h:
            PyBuffer_Release(&hv)
        if have_t:
            PyBuffer_Release(&tv)
    return ok


cdef object _conn_address(Component self, HP_CONNID conn_id, bint remote):
    cdef char buf[80]
    cdef int n = sizeof(buf)
    cdef USHORT port = 0
    cdef BOOL ok = 0
    cdef int gate = hps_gate_enter(self._ctx)
    if gate and remote:
        ok = self._ops.get_remote_address(self._handle, conn_id, buf, &n, &port)
    elif gate:
        ok = self._ops.get_local_address(self._handle, conn_id, buf, &n, &port)
    hps_gate_leave(self._ctx, gate)
    if not ok:
        raise _not_connected(conn_id)
    buf[sizeof(buf) - 1] = 0
    return (buf[:strlen(buf)].decode("utf-8", "replace"), port)


cdef object _conn_pending(Component self, HP_CONNID conn_id):
    cdef int n = 0
    cdef BOOL ok = 0
    cdef int gate = hps_gate_enter(self._ctx)
    if gate:
        ok = self._ops.native.get_pending(self._handle, conn_id, &n)
    hps_gate_leave(self._ctx, gate)
    if not ok:
        raise _not_connected(conn_id)
    return n


cdef int _conn_pause(Component self, HP_CONNID conn_id, bint paused) except -1:
    cdef BOOL ok = 0
    cdef int gate
    with nogil:
        gate = hps_gate_enter(self._ctx)
        if gate:
            ok = self._ops.pause_receive(self._handle, conn_id, paused)
        hps_gate_leave(self._ctx, gate)
    return ok


cdef int _conn_set_extra(Component self, HP_CONNID conn_id, object obj) except -1:
    cdef hps_conn* rec
    cdef PyObject* old = NULL
    cdef PyObject* new = NULL if obj is None else <PyObject*>obj
    cdef int known = 0
    cdef En_HP_ServiceState state = self._ops.get_state(self._handle)
    cdef int gate
    # STARTING too: connections accepted while start() runs are live.
    if state != SS_STARTED and state != SS_STARTING:
        raise _not_connected(conn_id)
    gate = hps_gate_enter(self._ctx)
    if not gate:
        raise _not_connected(conn_id)
    Py_XINCREF(new)
    hps_lock(self._ctx)
    rec = hps_conn_get(self._ctx, conn_id, new != NULL, &known)
    if rec != NULL:
        old = rec.extra
        rec.extra = new
    hps_unlock(self._ctx)
    hps_gate_leave(self._ctx, gate)
    Py_XDECREF(old)
    if rec == NULL and new != NULL:
        Py_XDECREF(new)
        if not known:
            raise _not_connected(conn_id)
        raise MemoryError()
    if not known:
        raise _not_connected(conn_id)
    return 0


cdef object _conn_get_extra(Component self, HP_CONNID conn_id, object default):
    cdef hps_conn* rec
    cdef object result = default
    cdef int known = 0
    cdef int gate = hps_gate_enter(self._ctx)
    if not gate:
        return result
    hps_lock(self._ctx)
    rec = hps_conn_get(self._ctx, conn_id, 0, &known)
    if rec != NULL and rec.extra != NULL:
        result = <object>rec.extra
    hps_unlock(self._ctx)
    hps_gate_leave(self._ctx, gate)
    return result
