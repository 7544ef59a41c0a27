# The one door for tests and benchmarks: the build flavour, the native
# counters, and measurement hooks.  Nothing here is on a hot path; the
# switches that would be (thread-state pinning) only work in a debug build.

#: True in a debug build (HPSOCKET_DEBUG=1), whose hot paths count what
#: _counters() reports as debug-only; tests assert on those only then.
DEBUG = bool(HPS_DEBUG)


def _counters():
    """Native bookkeeping: live native components, connection records,
    pinned worker thread states; and, counted in a debug build only (0
    otherwise): callbacks inside Python now, events skipped without the GIL,
    direct writes (all, partial ones, other threads' sends that waited)."""
    cdef long values[32]
    cdef int n = hps_counters_read(values, 32)
    cdef int i
    return {hps_counter_names[i].decode(): values[i] for i in range(n)}


def _set_thread_state_pinning(bint enabled):
    """Debug builds only: turn the persistent worker thread states off, to
    measure what they save (RuntimeError in a release build)."""
    if hps_set_pinning(enabled) != 0:
        raise RuntimeError("thread-state pinning can only be switched in a debug build "
                           "(HPSOCKET_DEBUG=1)")


cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    int pthread_create(pthread_t* thread, void* attr, void* (*start)(void*) noexcept nogil, void* arg)
    int pthread_join(pthread_t thread, void** retval)

ctypedef En_HP_HandleResult (*_receive_fn)(void* sender, HP_CONNID conn_id, const BYTE* data, int length) noexcept nogil

ctypedef struct _DispatchJob:
    _receive_fn fn
    void* sender
    const BYTE* data
    int length
    Py_ssize_t n


cdef void _dispatch_loop(_DispatchJob* job) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(job.n):
        job.fn(job.sender, 1, job.data, job.length)


cdef void* _dispatch_thread(void* arg) noexcept nogil:
    _dispatch_loop(<_DispatchJob*>arg)
    return NULL


def _bench_dispatch(Component component, Py_ssize_t n, Py_ssize_t size=64,
                    callback_address=None, bint native_thread=False):
    """Call the receive trampoline n times without the GIL, as a worker
    thread does, with a size-byte buffer; returns the seconds taken.
    native_thread: from a new native thread that has no Python thread state,
    like HP-Socket's workers.  callback_address: call that C function pointer
    (a ctypes callback, say) instead, for comparison."""
    cdef _DispatchJob job
    cdef pthread_t tid
    cdef bytes buf = b"x" * size
    job.fn = _on_receive
    job.sender = component._handle
    job.data = <const BYTE*>PyBytes_AS_STRING(buf)
    job.length = <int>size
    job.n = n
    if callback_address is not None:
        job.fn = <_receive_fn><size_t>callback_address
    t0 = time.perf_counter()
    with nogil:
        if native_thread:
            if pthread_create(&tid, NULL, _dispatch_thread, &job) == 0:
                pthread_join(tid, NULL)
        else:
            _dispatch_loop(&job)
    return time.perf_counter() - t0


def _native_handle(Component component):
    """The native component pointer, as an int (benchmarks compare ctypes
    calls on it)."""
    return <size_t>component._handle


def _aio_push(_Inbox inbox, int n, int size, int per_conn):
    """Benchmarks: push n DATA events of size bytes into inbox as a worker
    thread would (without the GIL), per_conn consecutive ones per
    connection id, for no component (the inbox's _sink gets them)."""
    cdef unsigned char buf[65536]
    cdef int i
    if not 0 < size <= 65536 or per_conn < 1:
        raise ValueError("size must be 1..65536 and per_conn >= 1")
    memset(buf, 120, size)
    with nogil:
        for i in range(n):
            hps_aio_push(inbox._in, HPS_AIO_DATA, 0, <HP_CONNID>(i // per_conn + 1), buf, size, 0, 0)
