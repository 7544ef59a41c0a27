# The nine classes: a role (Server, Agent, Client) with a receive model.
# Push hands each chunk to on_receive(conn_id, data); Pull reports how much is
# buffered, on_receive(conn_id, length), and the handler fetches what it
# needs; Pack frames every message with a 4-byte header and hands whole
# bodies to on_receive(conn_id, data).

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


cdef Py_ssize_t _check_length(object n) except -1:
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"length must be an int, not {type(n).__name__}")
    if n < 0:
        raise ValueError(f"length must be >= 0, not {n}")
    if n > INT_MAX:
        raise ValueError(f"length too large: {n}")
    return n


cdef class TcpServer(Server):
    """Push-model TCP server: ``on_receive(conn_id, data: bytes)``."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_SERVER)


cdef class TcpPullServer(Server):
    """Pull-model TCP server: ``on_receive(conn_id, length)`` reports the bytes
    buffered; take them with fetch/peek/fetch_into (any thread)."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PULL_SERVER)

    def fetch(self, conn_id, n):
        """Remove and return n bytes; None if fewer are buffered."""
        return self._fetch(_conn_arg(conn_id), _check_length(n), False)

    def peek(self, conn_id, n):
        """Like fetch, without removing them."""
        return self._fetch(_conn_arg(conn_id), _check_length(n), True)

    def fetch_into(self, conn_id, buffer):
        """Fill a writable buffer completely; False (nothing taken) if fewer
        bytes are buffered."""
        return bool(self._fetch_into(_conn_arg(conn_id), buffer, False))


cdef class TcpPackServer(Server):
    """Pack-model TCP server: whole packets, ``on_receive(conn_id, body)``."""

    _OPTIONS = Server._OPTIONS | _PACK_OPTIONS

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PACK_SERVER)

    pack_header_flag = property(_pack_flag_get, _pack_flag_set, None, _pack_header_flag_doc)
    max_pack_size = property(_pack_size_get, _pack_size_set, None, _max_pack_size_doc)


cdef class TcpAgent(Agent):
    """Push-model TCP agent."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_AGENT)


cdef class TcpPullAgent(Agent):
    """Pull-model TCP agent."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PULL_AGENT)

    def fetch(self, conn_id, n):
        return self._fetch(_conn_arg(conn_id), _check_length(n), False)

    def peek(self, conn_id, n):
        return self._fetch(_conn_arg(conn_id), _check_length(n), True)

    def fetch_into(self, conn_id, buffer):
        return bool(self._fetch_into(_conn_arg(conn_id), buffer, False))


cdef class TcpPackAgent(Agent):
    """Pack-model TCP agent."""

    _OPTIONS = Agent._OPTIONS | _PACK_OPTIONS

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PACK_AGENT)

    pack_header_flag = property(_pack_flag_get, _pack_flag_set, None, _pack_header_flag_doc)
    max_pack_size = property(_pack_size_get, _pack_size_set, None, _max_pack_size_doc)


cdef class TcpClient(Client):
    """Push-model TCP client."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_CLIENT)


cdef class TcpPullClient(Client):
    """Pull-model TCP client."""

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PULL_CLIENT)

    def fetch(self, n):
        return self._fetch(0, _check_length(n), False)

    def peek(self, n):
        return self._fetch(0, _check_length(n), True)

    def fetch_into(self, buffer):
        return bool(self._fetch_into(0, buffer, False))


cdef class TcpPackClient(Client):
    """Pack-model TCP client."""

    _OPTIONS = Client._OPTIONS | _PACK_OPTIONS

    def __cinit__(self, *args, **kwargs):
        self._setup(&OPS_TCP_PACK_CLIENT)

    pack_header_flag = property(_pack_flag_get, _pack_flag_set, None, _pack_header_flag_doc)
    max_pack_size = property(_pack_size_get, _pack_size_set, None, _max_pack_size_doc)
