# cython: language_level=3, embedsignature=True
"""hpsocket's extension module: HP-Socket's TCP components as classes whose
on_* methods the library's worker threads call."""

from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF, Py_XINCREF, Py_XDECREF
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from libc.string cimport memset, strlen
from libc.stdint cimport uint32_t
from libc.limits cimport INT_MAX, ULONG_MAX
from libc.errno cimport errno, ENOTCONN
from posix.unistd cimport usleep

from hpsocket.includes.hpsocket4c cimport *
from hpsocket.includes.native cimport *

cdef extern from *:
    long __atomic_add_fetch(long* p, long v, int order) nogil
    long __atomic_sub_fetch(long* p, long v, int order) nogil
    long __atomic_load_n(long* p, int order) nogil
    enum: __ATOMIC_RELAXED

cdef extern from "Python.h":
    enum: Py_TPFLAGS_HEAPTYPE
    void PyErr_Restore(PyObject* type, PyObject* value, PyObject* traceback)
    void PyErr_WriteUnraisable(object obj)

import atexit
import os
import stat
import sys
import threading
import time
import weakref

from hpsocket._enums import HandleResult, SocketOperation, ServiceState, SocketError, FetchResult
from hpsocket._errors import HPSocketError
from hpsocket import _cpus

include "_ops.pxi"
include "_trampolines.pxi"
include "_component.pxi"
include "_roles.pxi"
include "_models.pxi"

_OPERATIONS = tuple(SocketOperation)


cdef object _operation(int op):
    if 0 <= op < len(_OPERATIONS):
        return _OPERATIONS[op]
    return op


# Started components, so that an exiting interpreter can stop them first: a
# component still running during finalization would hang the process.
_live = weakref.WeakSet()


def _stop_all_at_exit():
    for component in list(_live):
        try:
            component.stop()
        except Exception:
            pass
    hps_set_exiting()


atexit.register(_stop_all_at_exit)


def native_version():
    """HP-Socket's version as a tuple, e.g. (5, 2, 2, 1)."""
    cdef DWORD v = HP_GetHPSocketVersion()
    return ((v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF)


def socket_error_description(code):
    """HP-Socket's text for a SocketError code."""
    return _cstr(HP_GetSocketErrorDesc(<En_HP_SocketError><int>code))


def _counters():
    """Native bookkeeping, for tests and the debug build: live native
    components, connection records, pinned worker thread states, and (debug
    build only) callbacks in Python now, events skipped without the GIL and
    direct writes (all of them, partial ones, sends that waited for one)."""
    return {
        "live_native": hps_read(&hps_counter_live_native),
        "conn_records": hps_read(&hps_counter_conn_records),
        "pinned_states": hps_read(&hps_counter_pinned_states),
        "in_flight": hps_read(&hps_counter_in_flight),
        "gil_free_skips": hps_read(&hps_counter_gil_free_skips),
        "direct_writes": hps_read(&hps_counter_direct_writes),
        "direct_partial": hps_read(&hps_counter_direct_partial),
        "direct_waits": hps_read(&hps_counter_direct_waits),
    }


def _set_thread_state_pinning(bint enabled):
    """Benchmarks only: turn the persistent worker thread states off to
    measure what they save."""
    global hps_pin_enabled
    hps_pin_enabled = enabled


if hps_threadstate_init() != 0 or hps_direct_init() != 0:
    raise ImportError("hpsocket: could not create its thread-local keys")
_init_ops()


# -- measurement hooks (benchmarks/, tests) ------------------------------------

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


def _set_direct_send(bint enabled):
    """Measurement switch: whether sends from a connection's own callbacks
    may write straight to its socket (_direct_send.h).  On by default; off,
    every send goes through HP-Socket's queue."""
    global hps_direct_send
    hps_direct_send = enabled


def _native_handle(Component component):
    """The native component pointer, as an int (benchmarks compare ctypes
    calls on it)."""
    return <size_t>component._handle
