# Receive models and framing, in one place: the pull model's buffer (fetch,
# peek, fetch_into from any thread), the pack model's framing of received
# bytes (_frame.h) and of sends (a header before every body), and the pack
# settings.  Both models run over the library's push components: its pull
# buffers are not safe to fetch from other threads (hps_buf_append in _buf.h,
# kept under the context's lock, is), and hpsocket frames packs itself so
# that a reply can be written directly (_send.h) and all the packs of one
# read reach Python under one acquisition of the GIL.

# Sends release the GIL around the native call: HP-Socket's Send takes the
# connection's send lock, and a worker can hold that lock while it calls back
# into Python (a failed write closes the connection and fires OnClose from
# inside HandleSend), so holding the GIL here deadlocks (tests/stress: send
# from a thread while the peer resets).  hps_send (_send.h) writes
# replies from the connection's own callbacks straight to the socket.
#
# bufs[0] is left empty for the pack model's header (_frame.h): the rest,
# bufs[1:count], is what to send, at most total bytes together.
cdef inline BOOL _send_framed(Component self, HP_CONNID conn_id, WSABUF* bufs, int count,
                              size_t total) noexcept:
    cdef BOOL ok = 0
    cdef hps_ctx* ctx = self._ctx
    cdef void* handle = self._handle
    cdef uint32_t header
    cdef int gate
    if ctx.model == MODEL_PACK:
        header = hps_pack_header(ctx.pack_flag, <uint32_t>total)
        bufs[0].buf = <unsigned char*>&header
        bufs[0].len = 4
    else:
        bufs += 1
        count -= 1
    with nogil:
        gate = hps_gate_enter(ctx)
        if gate:
            ok = hps_send(ctx, handle, conn_id, bufs, count)
        hps_gate_leave(ctx, gate)
    return ok


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
        rc = _ev_pull_receive(<Component><object>ctx.owner, conn_id, <int>total)
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
            rc = _ev_pack_receive(<Component><object>ctx.owner, conn_id, src, n, &pos, &err)
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


cdef En_HP_HandleResult _ev_pack_receive(Component self, HP_CONNID conn_id, const unsigned char* data,
                                         size_t n, size_t* pos, int* err) noexcept:
    """Every whole packet of data[*pos:n] to on_receive, moving *pos past
    each; *err gets hps_pack_next's result where it stops (a negative
    errno for a bad header)."""
    cdef const unsigned char* body
    cdef uint32_t length
    cdef En_HP_HandleResult rc = HR_OK
    cdef object r
    while True:
        err[0] = hps_pack_next(data, n, pos, self._ctx.pack_flag, self._ctx.pack_max, &body, &length)
        if err[0] <= 0:
            return rc
        try:
            r = _fn(self, EVI_RECEIVE)(self, conn_id, PyBytes_FromStringAndSize(<const char*>body, length))
            rc = HR_OK if r is None else _result(r)
        except BaseException as exc:
            rc = self._failed(EVI_RECEIVE, conn_id, exc)
        if rc == HR_ERROR:
            return rc


cdef En_HP_HandleResult _ev_pull_receive(Component self, HP_CONNID conn_id, int length) noexcept:
    cdef object r
    try:
        r = _fn(self, EVI_RECEIVE)(self, conn_id, length)
        if r is None:
            return HR_OK
        return _result(r)
    except BaseException as exc:
        return self._failed(EVI_RECEIVE, conn_id, exc)


cdef int _pack_check(Component self, Py_ssize_t length) except -1:
    if length <= 0:
        raise ValueError("a pack must have a body of at least one byte")
    if length > self._ctx.pack_max:
        raise ValueError(f"a pack body of {length} bytes exceeds max_pack_size ({self._ctx.pack_max})")
    return 0


cdef object _pull_fetch(Component self, HP_CONNID conn_id, Py_ssize_t n, bint peek):
    cdef bytes out
    cdef En_HP_FetchResult rc
    if n < 0:
        raise ValueError(f"length must be >= 0, not {n}")
    if n > INT_MAX:
        raise ValueError(f"length too large: {n}")
    if n == 0:
        return b""
    out = PyBytes_FromStringAndSize(NULL, n)
    rc = _pull_fetch_raw(self, conn_id, <BYTE*>PyBytes_AS_STRING(out), <int>n, peek)
    if rc == FR_OK:
        return out
    if rc == FR_LENGTH_TOO_LONG:
        return None
    raise _not_connected(conn_id)


cdef int _pull_fetch_into(Component self, HP_CONNID conn_id, object buffer, bint peek) except -1:
    cdef Py_buffer view
    cdef En_HP_FetchResult rc
    _get_buffer(buffer, &view, PyBUF_WRITABLE)
    try:
        if view.len > INT_MAX:
            raise ValueError("buffer too large")
        if view.len == 0:
            return 1
        rc = _pull_fetch_raw(self, conn_id, <BYTE*>view.buf, <int>view.len, peek)
    finally:
        PyBuffer_Release(&view)
    if rc == FR_OK:
        return 1
    if rc == FR_LENGTH_TOO_LONG:
        return 0
    raise _not_connected(conn_id)


cdef En_HP_FetchResult _pull_fetch_raw(Component self, HP_CONNID conn_id, BYTE* buf, int n, bint peek) noexcept:
    """Fetch or peek from the connection's receive buffer (hpsocket's
    own: see hps_buf_append), under the context's lock, which no holder
    keeps while waiting for the GIL, so the GIL stays held."""
    cdef hps_conn* rec
    cdef int known = 0
    cdef En_HP_FetchResult rc = FR_DATA_NOT_FOUND
    cdef int gate = hps_gate_enter(self._ctx)
    if not gate:
        return rc
    hps_lock(self._ctx)
    rec = hps_conn_get(self._ctx, conn_id, 0, &known)
    if known and (self._ops.role != ROLE_CLIENT or self._ops.get_state(self._handle) == SS_STARTED):
        if rec != NULL and hps_buf_take(&rec.inbuf, <unsigned char*>buf, n, peek):
            rc = FR_OK
        else:
            rc = FR_LENGTH_TOO_LONG   # fewer than n bytes buffered
    hps_unlock(self._ctx)
    hps_gate_leave(self._ctx, gate)
    return rc


def _pack_flag_get(Component self):
    return self._ctx.pack_flag


def _pack_flag_set(Component self, value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"pack_header_flag must be an int, not {type(value).__name__}")
    if not 0 <= value <= HPS_PACK_MAX_FLAG:
        raise ValueError(f"pack_header_flag must be in 0..0x3FF (10 bits), not {value:#x}")
    self._require_stopped("pack_header_flag")
    self._ctx.pack_flag = <unsigned int>value


def _pack_size_get(Component self):
    return self._ctx.pack_max


def _pack_size_set(Component self, value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"max_pack_size must be an int, not {type(value).__name__}")
    if not 1 <= value <= HPS_PACK_MAX_SIZE:
        raise ValueError(f"max_pack_size must be in 1..0x3FFFFF (4194303), not {value}")
    self._require_stopped("max_pack_size")
    self._ctx.pack_max = <unsigned int>value


_PACK_OPTIONS = frozenset({"max_pack_size", "pack_header_flag"})
_pack_header_flag_doc = ("Pack header flag, 0..0x3FF (10 bits): packets whose header carries another "
                         "flag close the connection (EBADMSG).  0: not checked.")
_max_pack_size_doc = ("Largest pack body, 1..0x3FFFFF bytes (default 0x40000 = 256 KiB).  A peer "
                      "announcing more is disconnected (EMSGSIZE); sending more raises ValueError.")
