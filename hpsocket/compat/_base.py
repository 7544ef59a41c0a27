"""Machinery shared by hpsocket.compat's classes and functions.

Every compat object (``HP_TcpPushServer`` ...) owns one hpsocket core
component, an instance of a subclass of ``hpsocket.TcpServer`` (etc.) made
once per compat class: it defines exactly the core events the compat class
needs, and each forwards to the compat object's ``On*`` method with the old
binding's calling convention.  The compat object is known to the outside by
an ``int`` handle (``self.Server`` / ``self.Client`` / ``self.Agent``, and the
``Sender`` of every event); :func:`core_of` maps it back to the component.
"""

import ctypes
import functools
import inspect
import sys
import threading
import weakref

import hpsocket

HR_OK, HR_IGNORE, HR_ERROR = 0, 1, 2

ROLE_SERVER, ROLE_AGENT, ROLE_CLIENT = "Server", "Agent", "Client"
PUSH, PULL, PACK = "Push", "Pull", "Pack"

_CORE_CLASSES = {
    (ROLE_SERVER, PUSH): hpsocket.TcpServer,
    (ROLE_SERVER, PULL): hpsocket.TcpPullServer,
    (ROLE_SERVER, PACK): hpsocket.TcpPackServer,
    (ROLE_AGENT, PUSH): hpsocket.TcpAgent,
    (ROLE_AGENT, PULL): hpsocket.TcpPullAgent,
    (ROLE_AGENT, PACK): hpsocket.TcpPackAgent,
    (ROLE_CLIENT, PUSH): hpsocket.TcpClient,
    (ROLE_CLIENT, PULL): hpsocket.TcpPullClient,
    (ROLE_CLIENT, PACK): hpsocket.TcpPackClient,
}

# -- handles -------------------------------------------------------------------

_handles = {}          # int handle -> weakref to the core component
_handles_lock = threading.Lock()


def _register(core):
    handle = id(core)

    def forget(_ref, handle=handle):
        with _handles_lock:
            if _handles.get(handle) is ref:
                del _handles[handle]

    ref = weakref.ref(core, forget)
    with _handles_lock:
        _handles[handle] = ref
    return handle


def core_of(handle):
    """The hpsocket component behind a compat handle (``Sender``,
    ``self.Server`` ...).  A compat object is accepted too."""
    if isinstance(handle, _Model):
        return handle._core
    ref = _handles.get(handle) if isinstance(handle, int) else None
    core = ref() if ref is not None else None
    if core is None:
        raise ValueError(f"not a live hpsocket.compat component handle: {handle!r}")
    return core


def compat_of(handle):
    return core_of(handle)._compat


# -- results and errors --------------------------------------------------------

def to_result(value):
    """An event's return value as HR_OK/HR_IGNORE/HR_ERROR: ints 0..2 (and
    ctypes.c_int holding one) are honoured, anything else is HR_OK."""
    if isinstance(value, ctypes.c_int):
        value = value.value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2:
        return int(value)
    return HR_OK


_UnraisableHookArgs = None


def _hook_args_type():
    """sys.unraisablehook only accepts its own UnraisableHookArgs type, which
    is not exposed: capture it once from a real unraisable exception."""
    global _UnraisableHookArgs
    if _UnraisableHookArgs is None:
        captured = []

        class _Probe:
            def __del__(self):
                raise RuntimeError("hpsocket.compat probe")

        saved = sys.unraisablehook
        sys.unraisablehook = lambda args: captured.append(type(args))
        try:
            _Probe()
        finally:
            sys.unraisablehook = saved
        _UnraisableHookArgs = captured[0] if captured else False
    return _UnraisableHookArgs


def report(exc, where):
    """Report an exception raised by a user's handler through
    sys.unraisablehook, as the old ctypes binding did."""
    tp = _hook_args_type()
    msg = "Exception ignored on calling hpsocket.compat event handler"
    try:
        if tp:
            sys.unraisablehook(tp((type(exc), exc, exc.__traceback__, msg, where)))
            return
    except BaseException:
        pass
    import traceback
    print(f"{msg}: {where!r}", file=sys.stderr)
    traceback.print_exception(type(exc), exc, exc.__traceback__)


def call(fn, *args, **kwargs):
    """Call a user's handler: exceptions are reported and count as HR_OK."""
    try:
        return to_result(fn(*args, **kwargs))
    except Exception as exc:
        report(exc, fn)
        return HR_OK


def EventDescription(fn):
    """Decorator of the old binding's event handlers: a handler returning
    nothing (or anything but an EnHandleResult value) returns HR_OK.
    Unlike 0.9.3, an explicit HR_IGNORE / HR_ERROR is honoured."""

    @functools.wraps(fn)
    def arguments(*args, **kwargs):
        return to_result(fn(*args, **kwargs))

    return arguments


# -- data ------------------------------------------------------------------

def to_buffer(data, coding="GBK"):
    """What the old binding accepted as data: str (encoded GBK), bytes,
    ctypes char arrays and LP_c_byte pointers made from one, and (new) any
    bytes-like object."""
    if isinstance(data, str):
        return data.encode(coding)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    if isinstance(data, ctypes._Pointer):
        objs = getattr(data, "_objects", None)
        arrays = [o for o in objs.values() if isinstance(o, ctypes.Array)] if isinstance(objs, dict) else []
        if not arrays:
            raise TypeError("a ctypes pointer whose buffer length is unknown cannot be sent")
        return ctypes.string_at(data, ctypes.sizeof(arrays[0]))
    if isinstance(data, (int, float)) or data is None:
        raise TypeError("Only str/bytes/c_char_Array_*/LP_c_byte (or bytes-like) Support.")
    return memoryview(data)


def host_arg(host):
    if isinstance(host, (bytes, bytearray)):
        return bytes(host).decode("GBK")
    return host


# -- the core side -----------------------------------------------------------

def _pull_cleanup(compat, conn_id):
    info = getattr(compat, "pkgInfo", None)
    if isinstance(info, dict):
        info.pop(conn_id, None)


def _event_functions(role, model):
    """name -> (compat method names it serves, core method)."""
    ev = {}
    if role == ROLE_SERVER:
        def on_prepare_listen(self, listen_fd):
            return call(self._compat.OnPrepareListen, self._compat_handle, listen_fd)

        def on_accept(self, conn_id, client_fd):
            return call(self._compat.OnAccept, self._compat_handle, conn_id, client_fd)

        ev["on_prepare_listen"] = (("OnPrepareListen",), on_prepare_listen)
        ev["on_accept"] = (("OnAccept",), on_accept)
    else:
        def on_prepare_connect(self, conn_id, fd):
            return call(self._compat.OnPrepareConnect, self._compat_handle, conn_id, fd)

        def on_connect(self, conn_id):
            return call(self._compat.OnConnect, self._compat_handle, conn_id)

        ev["on_prepare_connect"] = (("OnPrepareConnect",), on_prepare_connect)
        ev["on_connect"] = (("OnConnect",), on_connect)

    def on_handshake(self, conn_id):
        return call(self._compat.OnHandShake, self._compat_handle, conn_id)

    ev["on_handshake"] = (("OnHandShake",), on_handshake)

    if model == PUSH:
        def on_send(self, conn_id, data):
            return call(self._compat.OnSend, Sender=self._compat_handle, ConnID=conn_id,
                        Data=data, Length=len(data))

        def on_receive(self, conn_id, data):
            return call(self._compat.OnReceive, Sender=self._compat_handle, ConnID=conn_id,
                        Data=data, Length=len(data))
    elif model == PACK:
        def on_send(self, conn_id, data):
            return call(self._compat.OnSend, self._compat_handle, conn_id, data)

        def on_receive(self, conn_id, data):
            return call(self._compat.OnReceive, Sender=self._compat_handle, ConnID=conn_id, Data=data)
    else:
        def on_send(self, conn_id, data):
            return call(self._compat.OnSend, self._compat_handle, conn_id, data)

        def on_receive(self, conn_id, length):
            return call(self._compat.OnReceive, self._compat_handle, conn_id, length)

    ev["on_send"] = (("OnSend",), on_send)
    # Pull: the default OnReceive does the head/body parsing, always needed.
    ev["on_receive"] = (("OnReceive",) if model != PULL else None, on_receive)

    if role == ROLE_AGENT:
        def on_close(self, conn_id, operation, error_code):
            try:
                return call(self._compat.OnClose, self._compat_handle, conn_id, int(operation), error_code)
            finally:
                self._compat.ConnIDPool.pop(conn_id, None)
                _pull_cleanup(self._compat, conn_id)

        ev["on_close"] = (None, on_close)
    else:
        def on_close(self, conn_id, operation, error_code):
            return call(self._compat.OnClose, self._compat_handle, conn_id, int(operation), error_code)

        ev["on_close"] = (("OnClose",), on_close)

    if role != ROLE_CLIENT:
        def on_shutdown(self):
            return call(self._compat.OnShutdown, self._compat_handle)

        ev["on_shutdown"] = (("OnShutdown",), on_shutdown)
    return ev


_core_class_cache = {}
_core_class_lock = threading.Lock()


def core_class(compat_cls):
    """The core subclass serving compat_cls: an event whose compat method is
    the library default (and not otherwise needed) is left out, so the core
    answers it natively without entering Python."""
    with _core_class_lock:
        cls = _core_class_cache.get(compat_cls)
        if cls is not None:
            return cls
        role, model = compat_cls._role, compat_cls._model
        ns = {"__module__": __name__}
        for core_name, (compat_names, fn) in _event_functions(role, model).items():
            if compat_names is None:
                ns[core_name] = fn
                continue
            for name in compat_names:
                user = getattr(compat_cls, name, None)
                default = _defaults.get((name, role, model))
                if user is not None and user is not default:
                    ns[core_name] = fn
        base = _CORE_CLASSES[(role, model)]
        cls = type(f"_Compat{model}{role}_{compat_cls.__name__}", (base,), ns)
        _core_class_cache[compat_cls] = cls
        return cls


_defaults = {}   # (method name, role, model) -> the library's default function


def register_defaults(cls):
    """Record the default event methods of a library class (not a user's)."""
    for name in ("OnPrepareListen", "OnAccept", "OnPrepareConnect", "OnConnect", "OnHandShake",
                 "OnSend", "OnReceive", "OnClose", "OnShutdown"):
        fn = getattr(cls, name, None)
        if fn is not None:
            _defaults[(name, cls._role, cls._model)] = fn
    return cls


class _Model:
    """Common base of HP_TcpPush / HP_TcpPull / HP_TcpPack."""

    _role = None
    _model = None
    _handle_attr = None
    Listener = None
    target = ("", 0)

    def __init__(self):
        core = core_class(type(self))()
        core._compat = self
        core._compat_extra = None
        core._compat_policy = 0
        core._compat_error = None
        handle = _register(core)
        core._compat_handle = handle
        self._core = core
        setattr(self, self._handle_attr, handle)
        # The old binding's listener was a separate native object; here it is
        # part of the component.  An int of its own, never accepted as a handle.
        self.Listener = handle | 1

    def __repr__(self):
        return f"<{type(self).__module__}.{type(self).__name__} {self._core.state.name.lower()}>"


def wants_raw(cls):
    """Whether cls's OnReceiveBody declares a parameter named ``raw`` (the
    pre-0.9.3 calling convention)."""
    fn = getattr(cls, "OnReceiveBody", None)
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("raw")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
