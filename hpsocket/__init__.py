"""hpsocket: the HP-Socket networking library for Python, through Cython.

Subclass one of the nine TCP classes, override the on_* events you need, and
start it::

    import hpsocket

    class Echo(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            self.send(conn_id, data)

    with Echo() as srv:
        srv.start("127.0.0.1", 0)
        srv.serve_forever()
"""

from ._enums import CastMode, FetchResult, HandleResult, ServiceState, SocketError, SocketOperation
from ._cpus import cpu_quota, usable_cpus
from ._errors import HPSocketError
from ._version import __version__

try:
    from ._core import (
        Agent,
        Client,
        BodyStream,
        Component,
        Headers,
        HttpAgent,
        HttpClient,
        HttpServer,
        HttpSyncClient,
        HttpTimeoutError,
        Request,
        Response,
        ResponseWriter,
        Server,
        TcpAgent,
        TcpClient,
        TcpPackAgent,
        TcpPackClient,
        TcpPackServer,
        TcpPullAgent,
        TcpPullClient,
        TcpPullServer,
        TcpServer,
        UdpCast,
        UdpClient,
        UdpServer,
        WebSocketAgent,
        WebSocketClient,
        native_version as _native_version,
        socket_error_description,
    )
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"hpsocket: the extension module or libhpsocket4c could not be loaded ({exc}). "
        "Reinstall hpsocket, or see the README's build variables."
    ) from exc

#: HP-Socket's version, e.g. (5, 2, 2, 1).
native_version = _native_version()

# The declarations in includes/hpsocket4c.pxd describe HP-Socket 5.2 for Linux
# (one-byte BOOL, this set of functions).  Another ABI would corrupt memory.
if native_version[:2] != (5, 2):
    raise ImportError(
        "hpsocket was built for HP-Socket 5.2.x, but the loaded libhpsocket4c is "
        + ".".join(map(str, native_version))
    )

__all__ = [
    "Agent",
    "BodyStream",
    "CastMode",
    "Client",
    "Component",
    "FetchResult",
    "HPSocketError",
    "HandleResult",
    "Headers",
    "HttpAgent",
    "HttpClient",
    "HttpServer",
    "HttpSyncClient",
    "HttpTimeoutError",
    "Request",
    "Response",
    "ResponseWriter",
    "Server",
    "ServiceState",
    "SocketError",
    "SocketOperation",
    "TcpAgent",
    "TcpClient",
    "TcpPackAgent",
    "TcpPackClient",
    "TcpPackServer",
    "TcpPullAgent",
    "TcpPullClient",
    "TcpPullServer",
    "TcpServer",
    "UdpCast",
    "UdpClient",
    "UdpServer",
    "WebSocketAgent",
    "WebSocketClient",
    "__version__",
    "cpu_quota",
    "native_version",
    "socket_error_description",
    "usable_cpus",
]
