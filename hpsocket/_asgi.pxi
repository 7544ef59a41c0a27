# hpsocket.asgi's native side: an HttpServer's whole requests go to one
# asyncio event loop instead of a worker's handler or hpsocket's request
# threads.  The workers queue them as they do for request threads (no GIL);
# the loop watches an eventfd written once per batch (hps_http_job_push),
# takes everything queued in one call, and answers through the same
# in-order response path as any other thread.  hpsocket/asgi.py is the rest.

cdef extern from "<sys/eventfd.h>" nogil:
    int eventfd(unsigned int initval, int flags)
    enum:
        EFD_NONBLOCK
        EFD_CLOEXEC

from posix.unistd cimport close as _close_fd


def _asgi_attach(HttpServer server not None):
    """Queue server's requests for an event loop (while it is stopped): the
    eventfd for the loop to watch."""
    cdef hps_http_cfg* cfg = server._cfg()
    cdef int fd
    server._require_stopped("an event loop")
    if cfg.threads > 0:
        raise ValueError("a server with request threads cannot feed an event loop")
    if cfg.wake_fd < 0:
        fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
        if fd < 0:
            raise OSError(errno, "could not create an eventfd")
        cfg.wake_fd = fd
    return cfg.wake_fd


def _asgi_detach(HttpServer server not None):
    """Back to on_request (while stopped); the eventfd is closed."""
    cdef hps_http_cfg* cfg = server._cfg()
    server._require_stopped("an event loop")
    if cfg.wake_fd >= 0:
        hps_http_jobs_drop(cfg)
        _close_fd(cfg.wake_fd)
        cfg.wake_fd = -1


# Kinds of the events _asgi_take gives besides requests, as
# (kind, conn_id, payload, code) tuples.
ASGI_CLOSED = HPS_JOB_CLOSED            # payload None
ASGI_UPGRADE = HPS_JOB_UPGRADE          # payload: the Request (receive paused)
ASGI_WS_MESSAGE = HPS_JOB_WS_MESSAGE    # payload: str or bytes; code: its size in bytes
ASGI_WS_CLOSE = HPS_JOB_WS_CLOSE        # payload: the reason (str); code: the close code
ASGI_BODY = HPS_JOB_BODY                # more of a streamed body can be read (_asgi_body_read)


def _asgi_take(HttpServer server not None):
    """Everything queued, in arrival order: Request objects, and the other
    events as (kind, conn_id, payload, code) tuples (ASGI_*)."""
    cdef hps_http_cfg* cfg = server._cfg()
    cdef hps_http_job* job
    cdef list out = []
    cdef const char* data
    if cfg.wake_fd < 0:
        return out
    hps_http_wake_ack(cfg)
    while True:
        job = hps_http_job_trypop(cfg)
        if job == NULL:
            return out
        try:
            data = <const char*>job.data
            if job.kind == HPS_JOB_REQUEST or job.kind == HPS_JOB_UPGRADE:
                req = _make_request(server, job.id, data, job.nheaders, job.data + job.head_len,
                                    job.body_len, job.version, job.seq, job.keep_alive)
                if job.pipe != NULL:
                    _attach_stream(req, job.pipe, cfg.body_ms)
                    job.pipe = NULL
                out.append(req if job.kind == HPS_JOB_REQUEST else (ASGI_UPGRADE, job.id, req, 0))
            elif job.kind == HPS_JOB_WS_MESSAGE:
                # Text was checked as UTF-8 on the worker.
                out.append((ASGI_WS_MESSAGE, job.id,
                            PyUnicode_DecodeUTF8(data, job.body_len, NULL) if job.code == HPS_WS_TEXT
                            else PyBytes_FromStringAndSize(data, job.body_len), job.body_len))
            elif job.kind == HPS_JOB_BODY:
                out.append((ASGI_BODY, job.id, None, 0))
            elif job.kind == HPS_JOB_WS_CLOSE:
                out.append((ASGI_WS_CLOSE, job.id, PyUnicode_DecodeUTF8(data, job.body_len, "replace"),
                            job.code))
            else:
                out.append((ASGI_CLOSED, job.id, None, 0))
        finally:
            if job.pipe != NULL:
                hps_http_pipe_release(job.pipe)
            free(job)


def _asgi_body_read(Request req not None, size_t most=65536):
    """The next piece of req's streamed body, without waiting: bytes, b""
    at its end, or None if nothing is there yet (an ASGI_BODY event for
    req's connection follows when there is).  ConnectionError if the body
    will not be complete (the client went away, or it broke a limit)."""
    cdef BodyStream stream = req.body_stream
    cdef HttpServer server = req._server
    cdef long have
    cdef bytes out
    if stream is None or stream._done:
        return b""
    have = hps_http_pipe_poll(stream._pipe, server._cfg())
    if have == 0:
        return None
    if have == -2:
        stream._done = True
        return b""
    if have < 0:
        stream._done = True
        raise ConnectionError("the request body will not be complete")
    if <size_t>have > most:
        have = <long>most
    out = PyBytes_FromStringAndSize(NULL, have)
    hps_http_pipe_read(stream._pipe, <unsigned char*>PyBytes_AS_STRING(out), <size_t>have, 0)
    return out


def _asgi_ws_taken(HttpServer server not None, conn_id, size_t n):
    """The app took a message of n bytes: reading resumes once little waits."""
    cdef HP_CONNID cid = conn_id
    cdef int gate = hps_gate_enter(server._ctx)
    if gate:
        hps_ws_loop_taken(server._ctx, server._handle, cid, n)
    hps_gate_leave(server._ctx, gate)


def _asgi_ws_refusal(Request req not None):
    """(status, headers) if req is not a valid WebSocket opening handshake,
    else None."""
    return _ws_refusal(req)


def _asgi_ws_accept(HttpServer server not None, Request req not None, protocol, headers):
    """Accept the upgrade request req (checked by _asgi_ws_refusal): the
    101, then frames are read.  False if the connection is gone."""
    cdef bytes head
    cdef WSABUF buf
    cdef HP_CONNID cid = req.conn_id
    cdef unsigned long long seq = req._seq
    cdef int rc = 0, gate
    cdef unsigned long long max_message = server._cfg().ws_max_message
    if req._responded:
        raise RuntimeError(f"{req!r} was already answered")
    if protocol is not None and protocol not in _ws_tokens(req, "Sec-WebSocket-Protocol"):
        raise ValueError(f"the subprotocol {protocol!r} was not offered by the client")
    head = _ws_101(server, req, protocol, headers)
    req._responded = True
    buf.buf = <unsigned char*>PyBytes_AS_STRING(head)
    buf.len = <unsigned int>PyBytes_GET_SIZE(head)
    with nogil:
        gate = hps_gate_enter(server._ctx)
        if gate and hps_ws_attach_loop(server._ctx, server._handle, cid, seq, max_message) == 0:
            rc = hps_http_submit(server._ctx, server._handle, cid, seq, &buf, 1, 0)
            if rc > 0:
                HP_Server_PauseReceive(server._handle, cid, 0)
        hps_gate_leave(server._ctx, gate)
    return rc > 0


def _asgi_headers(Request req not None):
    """ASGI's headers of req: [(lowercased name, value)] as bytes."""
    cdef const char* p
    cdef char* q
    cdef Py_ssize_t n, j
    cdef int i
    cdef bytes name
    cdef list out = []
    if req._raw_headers is None:
        return [((<str>k).lower().encode("latin-1"), (<str>v).encode("latin-1"))
                for k, v in req._headers._items]
    p = PyBytes_AS_STRING(req._raw_headers)
    for i in range(req._nheaders):
        n = <Py_ssize_t>strlen(p)
        name = PyBytes_FromStringAndSize(NULL, n)
        q = PyBytes_AS_STRING(name)
        for j in range(n):
            q[j] = p[j] + 32 if 65 <= p[j] <= 90 else p[j]
        p += n + 1
        n = <Py_ssize_t>strlen(p)
        out.append((name, PyBytes_FromStringAndSize(p, n)))
        p += n + 1
    return out


def _asgi_start_response(HttpServer server not None, Request req not None, status, headers):
    """start_response for the event loop: its writes never wait (the loop
    paces a long body by pending_data_length instead)."""
    return _start_response(server, req, status, headers, True)
