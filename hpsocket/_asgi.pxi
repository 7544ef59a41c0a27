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


def _asgi_take(HttpServer server not None):
    """Everything queued, in arrival order: Request objects, and the ids
    (int) of connections that closed after their requests."""
    cdef hps_http_cfg* cfg = server._cfg()
    cdef hps_http_job* job
    cdef list out = []
    if cfg.wake_fd < 0:
        return out
    hps_http_wake_ack(cfg)
    while True:
        job = hps_http_job_trypop(cfg)
        if job == NULL:
            return out
        try:
            if job.nheaders < 0:
                out.append(job.id)
            else:
                out.append(_make_request(server, job.id, <const char*>job.data, job.nheaders,
                                         job.data + job.head_len, job.body_len, job.version,
                                         job.seq, job.keep_alive))
        finally:
            free(job)


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
