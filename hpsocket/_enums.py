"""HP-Socket's enumerations, as :class:`enum.IntEnum` (values are the C ones)."""

import enum

__all__ = ["HandleResult", "SocketOperation", "ServiceState", "SocketError", "FetchResult", "CastMode"]


class HandleResult(enum.IntEnum):
    """What an event handler tells the library.  Returning None means OK."""

    OK = 0
    IGNORE = 1
    ERROR = 2  # close this connection (from on_accept: drop it unannounced)


class SocketOperation(enum.IntEnum):
    """The operation during which a connection closed (``on_close``)."""

    UNKNOWN = 0
    ACCEPT = 1
    CONNECT = 2
    SEND = 3
    RECEIVE = 4
    CLOSE = 5


class ServiceState(enum.IntEnum):
    STARTING = 0
    STARTED = 1
    STOPPING = 2
    STOPPED = 3


class SocketError(enum.IntEnum):
    """HP-Socket's own error codes (``HPSocketError.code``)."""

    OK = 0
    ILLEGAL_STATE = 1
    INVALID_PARAM = 2
    SOCKET_CREATE = 3
    SOCKET_BIND = 4
    SOCKET_PREPARE = 5
    SOCKET_LISTEN = 6
    CP_CREATE = 7
    WORKER_THREAD_CREATE = 8
    DETECT_THREAD_CREATE = 9
    SOCKET_ATTACH_TO_CP = 10
    CONNECT_SERVER = 11
    NETWORK = 12
    DATA_PROC = 13
    DATA_SEND = 14
    SSL_ENV_NOT_READY = 101


class FetchResult(enum.IntEnum):
    """Result of the pull model's Fetch and Peek."""

    OK = 0
    LENGTH_TOO_LONG = 1  # fewer bytes buffered than asked for
    DATA_NOT_FOUND = 2  # unknown or closed connection


class CastMode(enum.IntEnum):
    """UdpCast's mode."""
    MULTICAST = 0
    BROADCAST = 1
