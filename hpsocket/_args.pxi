# Argument checks and small conversions shared by every family: wrong types
# raise TypeError and bad values ValueError, before any native call.


cdef bytes _host_arg(object host, str what):
    if not isinstance(host, str):
        raise TypeError(f"{what} must be a str, not {type(host).__name__}")
    cdef bytes b = (<str>host).encode("utf-8")
    if b"\0" in b:
        raise ValueError(f"{what} must not contain NUL characters")
    if len(b) == 0:
        raise ValueError(f"{what} must not be empty")
    return b


cdef USHORT _port_arg(object port) except? 0:
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, not {port}")
    return <USHORT>port


cdef HP_CONNID _conn_arg(object conn_id) except? 0:
    if not isinstance(conn_id, int) or isinstance(conn_id, bool):
        raise TypeError(f"conn_id must be an int, not {type(conn_id).__name__}")
    if conn_id < 0 or conn_id > <object>ULONG_MAX:
        raise ValueError(f"conn_id out of range: {conn_id}")
    return <HP_CONNID>conn_id


cdef int _get_buffer(object obj, Py_buffer* view, int flags) except -1:
    """The buffer of a contiguous (and, with PyBUF_WRITABLE, writable)
    bytes-like object; TypeError for anything else, as socket.send does."""
    try:
        PyObject_GetBuffer(obj, view, flags)
    except BufferError as exc:
        raise TypeError(f"a contiguous{' writable' if flags & PyBUF_WRITABLE else ''} "
                        f"bytes-like object is required, not {type(obj).__name__} ({exc})") from None
    return 0


cdef str _cstr(const char* s):
    return s.decode("utf-8", "replace") if s != NULL else ""


cdef object _not_connected(object conn_id):
    return HPSocketError(SE_INVALID_PARAM, f"no such connection: {conn_id}", ENOTCONN)


cdef DWORD _period_arg(object period) except? 0:
    if not isinstance(period, int) or isinstance(period, bool):
        raise TypeError(f"period_ms must be an int, not {type(period).__name__}")
    if not 0 <= period <= 0x7FFFFFFF:
        raise ValueError(f"period_ms must be in 0..2147483647, not {period}")
    return <DWORD>period


cdef Py_ssize_t _check_length(object n) except -1:
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"length must be an int, not {type(n).__name__}")
    if n < 0:
        raise ValueError(f"length must be >= 0, not {n}")
    if n > INT_MAX:
        raise ValueError(f"length too large: {n}")
    return n
