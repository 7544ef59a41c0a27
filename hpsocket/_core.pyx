# cython: language_level=3, embedsignature=True
"""hpsocket's extension module: HP-Socket's components as classes whose
on_* methods the library's worker threads call.

The include list below is the map: one file per concern, families last.
hpsocket/README.md follows one message through them."""

from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF, Py_XINCREF, Py_XDECREF
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.unicode cimport PyUnicode_DecodeLatin1, PyUnicode_DecodeUTF8, PyUnicode_AsUTF8AndSize
from libc.string cimport memset, memcpy, strlen, strcmp, strncasecmp
from libc.stdio cimport snprintf
from libc.stdlib cimport free
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
    bint PyUnicode_IS_ASCII(object o)
    void PyErr_Restore(PyObject* type, PyObject* value, PyObject* traceback)
    void PyErr_WriteUnraisable(object obj)

import atexit
import os
import stat
import sys
import threading
import time
import weakref

from hpsocket._enums import HandleResult, SocketOperation, ServiceState, SocketError, FetchResult, CastMode
from hpsocket._errors import HPSocketError
from hpsocket import _cpus

include "_args.pxi"        # argument checks
include "_component.pxi"   # Component: the handle (lifecycle, dispatch, errors)
include "_events.pxi"      # connection events: trampolines and dispatchers
include "_conn.pxi"        # operations on one connection
include "_framing.pxi"     # receive models: pull buffer, pack framing
include "_roles.pxi"       # Server, Agent, Client
include "_tcp.pxi"         # the TCP family
include "_http.pxi"        # the HTTP family
include "_ws.pxi"          # WebSocket on the HTTP server
include "_http_client.pxi" # the HTTP family's clients
include "_ws_client.pxi"   # WebSocket clients, on the HTTP clients
include "_udp.pxi"         # the UDP family: UdpServer, UdpClient, UdpCast
include "_aio.pxi"         # hpsocket.aio: events to asyncio event loops
include "_asgi.pxi"        # hpsocket.asgi: HTTP requests to an asyncio event loop

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


if hps_thread_init() != 0 or hps_send_init() != 0:
    raise ImportError("hpsocket: could not create its thread-local keys")
_init_ops()


include "_testing.pxi"
