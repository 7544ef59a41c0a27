"""The old binding's ``HPSocket.pyhpsocket`` (imported as ``HPSocket``): the
enumerations, the high-level wrappers, and the TCP functions of the raw API,
all taking the compat component's int handle (``Sender``, ``self.Server``...)
first.  Socket arguments (``SYS_SSO_*``) are plain ints (the fd); the old
LP_c_uint pointers are accepted too.

Not provided: the ctypes listener machinery (``Create_*``, ``Destroy_*``,
``HP_Set_FN_*``, ``HP_FN_*``), HTTP, UDP and SSL.
"""

import base64
import ctypes
import gzip
import ipaddress
import socket as _socket
import struct
import threading  # noqa: F401  (the old module exported it)
import urllib.parse
import zlib

import hpsocket

from . import _base
from ._base import core_of, to_buffer, host_arg

# -- enumerations (plain classes of ints, as in HPTypeDef) -------------------------


class EnServiceState:
    SS_STARTING = 0
    SS_STARTED = 1
    SS_STOPPING = 2
    SS_STOPPED = 3


class EnSocketOperation:
    SO_UNKNOWN = 0
    SO_ACCEPT = 1
    SO_CONNECT = 2
    SO_SEND = 3
    SO_RECEIVE = 4
    SO_CLOSE = 5


class EnHandleResult:
    HR_OK = 0
    HR_IGNORE = 1
    HR_ERROR = 2


class EnFetchResult:
    FR_OK = 0
    FR_LENGTH_TOO_LONG = 1
    FR_DATA_NOT_FOUND = 2


class EnSendPolicy:
    SP_PACK = 0
    SP_SAFE = 1
    SP_DIRECT = 2


class EnSocketError:
    SE_OK = 0
    SE_ILLEGAL_STATE = 1
    SE_INVALID_PARAM = 2
    SE_SOCKET_CREATE = 3
    SE_SOCKET_BIND = 4
    SE_SOCKET_PREPARE = 5
    SE_SOCKET_LISTEN = 6
    SE_CP_CREATE = 7
    SE_WORKER_THREAD_CREATE = 8
    SE_DETECT_THREAD_CREATE = 9
    SE_SOCKE_ATTACH_TO_CP = 10
    SE_CONNECT_SERVER = 11
    SE_NETWORK = 12
    SE_DATA_PROC = 13
    SE_DATA_SEND = 14
    SE_SSL_ENV_NOT_READY = 101


class EnCastMode:
    CM_MULTICAST = 0
    CM_BROADCAST = 1


class EnIPAddrType:
    IPT_ALL = 0
    IPT_IPV4 = 1
    IPT_IPV6 = 2


En_HP_ServiceState = En_HP_SocketOperation = En_HP_HandleResult = ctypes.c_int
En_HP_FetchResult = En_HP_SendPolicy = En_HP_SocketError = ctypes.c_int
En_HP_CastMode = En_HP_IPAddrType = ctypes.c_int

HP_VERSION_MAJOR, HP_VERSION_MINOR, HP_VERSION_REVISE, HP_VERSION_BUILD = 5, 2, 1, 2

LP_c_byte = ctypes.POINTER(ctypes.c_byte)


def ValToLP_c_byte(Val, Coding="GBK"):
    """(LP_c_byte, length) of str/bytes/char array/LP_c_byte data."""
    data = bytes(to_buffer(Val, Coding))
    buf = ctypes.create_string_buffer(data, len(data))
    return (ctypes.cast(buf, LP_c_byte), len(data))


# -- helpers -------------------------------------------------------------------


def _ok(fn, *args):
    """Call fn; bool result, False on an hpsocket or argument error."""
    try:
        return bool(fn(*args))
    except (hpsocket.HPSocketError, ValueError):
        return False


def _done(core, fn, *args):
    """Call core's fn (start, connect: returns a value or raises); the value
    (True for None), or False/None on failure.  The error code is kept for
    GetLastError: the core refuses some calls (a second start) before the
    library sees them."""
    try:
        result = fn(*args)
    except hpsocket.HPSocketError as exc:
        core._compat_error = int(exc.code) if isinstance(exc.code, int) else None
        return None if fn.__name__ == "connect" else False
    except ValueError:
        core._compat_error = EnSocketError.SE_INVALID_PARAM
        return None if fn.__name__ == "connect" else False
    core._compat_error = None
    return True if result is None else result


def _or_none(fn, *args):
    try:
        return fn(*args)
    except (hpsocket.HPSocketError, ValueError):
        return None


def _send(core, conn_id, data):
    buf = to_buffer(data)
    try:
        if conn_id is None:
            return bool(core.send(buf))
        return bool(core.send(conn_id, buf))
    except (hpsocket.HPSocketError, ValueError):
        return False


def _opt_buffer(data):
    return None if data is None else to_buffer(data)


# -- start / stop ------------------------------------------------------------


def HP_Server_Start(Server, BindAddress, Port):
    core = core_of(Server)
    return _done(core, core.start, host_arg(BindAddress), Port)


def HP_Agent_Start(Agent, BindAddress, AsyncConnect):
    core = core_of(Agent)
    return _done(core, core.start, host_arg(BindAddress) if BindAddress else None, bool(AsyncConnect))


def HP_Client_Start(Client, BindAddress, Port, AsyncConnect):
    """``BindAddress`` is the server's address (the old name is kept)."""
    core = core_of(Client)
    return _done(core, core.start, host_arg(BindAddress), Port, bool(AsyncConnect))


def HP_Client_StartWithBindAddress(Client, RemoteAddress, Port, AsyncConnect, BindAddress):
    core = core_of(Client)
    return _done(core, core.start, host_arg(RemoteAddress), Port, bool(AsyncConnect),
                 host_arg(BindAddress) if BindAddress else None)


def _stop(handle):
    core = core_of(handle)
    if core.state == hpsocket.ServiceState.STOPPED:
        core.stop()          # a client that stopped by itself: release it
        return False
    core.stop()
    return True


def HP_Server_Stop(Server):
    """Stop the server (True), or False if it was not started.  Called from
    an event handler it returns at once and the stop completes in the
    background (0.9.3 deadlocked)."""
    return _stop(Server)


def HP_Agent_Stop(Agent):
    return _stop(Agent)


def HP_Client_Stop(Client):
    return _stop(Client)


def _has_started(handle):
    return core_of(handle).state in (hpsocket.ServiceState.STARTED, hpsocket.ServiceState.STARTING)


HP_Server_HasStarted = HP_Agent_HasStarted = HP_Client_HasStarted = _has_started


def _get_state(handle):
    return int(core_of(handle).state)


HP_Server_GetState = HP_Agent_GetState = HP_Client_GetState = _get_state


def _get_last_error(handle):
    core = core_of(handle)
    err = core._compat_error
    return int(core.last_error) if err is None else err


HP_Server_GetLastError = HP_Agent_GetLastError = HP_Client_GetLastError = _get_last_error


def _get_last_error_desc(handle=None):
    if handle is None:
        raise TypeError("GetLastErrorDesc needs the component handle (Sender / self.Server ...)")
    core = core_of(handle)
    if core._compat_error is not None:
        return HP_GetSocketErrorDesc(core._compat_error)
    return core.last_error_description


def HP_Server_GetLastErrorDesc(Server=None):
    return _get_last_error_desc(Server)


def HP_Agent_GetLastErrorDesc(Agent=None):
    return _get_last_error_desc(Agent)


def HP_Client_GetLastErrorDesc(Client=None):
    return _get_last_error_desc(Client)


def HP_GetSocketErrorDesc(ErrorCode):
    return hpsocket.socket_error_description(int(ErrorCode))


def HP_GetHPSocketVersion():
    a, b, c, d = hpsocket.native_version
    return (a << 24) | (b << 16) | (c << 8) | d


def SYS_GetLastError():
    return ctypes.get_errno()


# -- connections -----------------------------------------------------------------


def HP_Agent_Connect(Agent, Host, Port):
    """The new ConnID, or None if the connection failed."""
    core = core_of(Agent)
    return _done(core, core.connect, host_arg(Host), Port)


def HP_Agent_ConnectWithExtra(Agent, Host, Port, Data):
    conn_id = HP_Agent_Connect(Agent, Host, Port)
    if conn_id is not None:
        HP_Agent_SetConnectionExtra(Agent, conn_id, Data)
    return conn_id


def HP_Server_Disconnect(Server, ConnID, bForce=True):
    return _ok(core_of(Server).disconnect, ConnID, bForce)


def HP_Agent_Disconnect(Agent, ConnID, bForce=True):
    return _ok(core_of(Agent).disconnect, ConnID, bForce)


def _count(handle):
    return core_of(handle).connection_count


HP_Server_GetConnectionCount = HP_Agent_GetConnectionCount = _count


def HP_Server_GetAllConnectionIDs(Server):
    """The list of the live connections' IDs."""
    return _or_none(lambda: core_of(Server).connection_ids)


def HP_Agent_GetAllConnectionIDs(Agent):
    return _or_none(lambda: core_of(Agent).connection_ids)


def HP_Client_GetConnectionID(Client):
    return core_of(Client).connection_id


# -- sending -------------------------------------------------------------------


def HP_Server_Send(Server, ConnID, Buffer):
    return _send(core_of(Server), ConnID, Buffer)


def HP_Agent_Send(Agent, ConnID, Buffer):
    return _send(core_of(Agent), ConnID, Buffer)


def HP_Client_Send(Client, Buffer):
    return _send(core_of(Client), None, Buffer)


def HP_Server_SendPart(Server, ConnID, Buffer, Offset):
    """Send Buffer[Offset:]."""
    return _send(core_of(Server), ConnID, bytes(to_buffer(Buffer))[Offset:])


def HP_Agent_SendPart(Agent, ConnID, Buffer, Offset):
    return _send(core_of(Agent), ConnID, bytes(to_buffer(Buffer))[Offset:])


def HP_Client_SendPart(Client, Buffer, Offset):
    return _send(core_of(Client), None, bytes(to_buffer(Buffer))[Offset:])


def _send_packets(core, conn_id, bufs):
    if not isinstance(bufs, (list, tuple)):
        bufs = [bufs]
    bufs = [to_buffer(b) for b in bufs]
    try:
        if conn_id is None:
            return bool(core.send_packets(bufs))
        return bool(core.send_packets(conn_id, bufs))
    except (hpsocket.HPSocketError, ValueError):
        return False


def HP_Server_SendPackets(Server, ConnID, Bufs):
    return _send_packets(core_of(Server), ConnID, Bufs)


def HP_Agent_SendPackets(Agent, ConnID, Bufs):
    return _send_packets(core_of(Agent), ConnID, Bufs)


def HP_Client_SendPackets(Client, Bufs):
    return _send_packets(core_of(Client), None, Bufs)


def _send_file(core, conn_id, FileName, Head, Tail):
    args = (FileName, _opt_buffer(Head), _opt_buffer(Tail))
    try:
        if conn_id is None:
            return bool(core.send_file(*args))
        return bool(core.send_file(conn_id, *args))
    except (hpsocket.HPSocketError, ValueError, OSError):
        return False


def HP_TcpServer_SendSmallFile(Server, ConnID, FileName, Head=None, Tail=None):
    return _send_file(core_of(Server), ConnID, FileName, Head, Tail)


def HP_TcpAgent_SendSmallFile(Agent, ConnID, FileName, Head=None, Tail=None):
    return _send_file(core_of(Agent), ConnID, FileName, Head, Tail)


def HP_TcpClient_SendSmallFile(Client, FileName, Head=None, Tail=None):
    return _send_file(core_of(Client), None, FileName, Head, Tail)


# -- pull ----------------------------------------------------------------------


def HP_TcpPullServer_Fetch(Server, ConnID, Length):
    """Length bytes, or None if fewer are buffered (or the connection is gone)."""
    return _or_none(core_of(Server).fetch, ConnID, Length)


def HP_TcpPullServer_Peek(Server, ConnID, Length):
    return _or_none(core_of(Server).peek, ConnID, Length)


def HP_TcpPullAgent_Fetch(Agent, ConnID, Length):
    return _or_none(core_of(Agent).fetch, ConnID, Length)


def HP_TcpPullAgent_Peek(Agent, ConnID, Length):
    return _or_none(core_of(Agent).peek, ConnID, Length)


def HP_TcpPullClient_Fetch(Client, Length):
    return _or_none(core_of(Client).fetch, Length)


def HP_TcpPullClient_Peek(Client, Length):
    return _or_none(core_of(Client).peek, Length)


# -- addresses -------------------------------------------------------------------


def HP_Server_GetRemoteAddress(Sender, ConnID):
    """(ip, port), or None for an unknown connection."""
    return _or_none(core_of(Sender).remote_address, ConnID)


def HP_Server_GetLocalAddress(Sender, ConnID):
    return _or_none(core_of(Sender).local_address, ConnID)


HP_Agent_GetRemoteAddress = HP_Server_GetRemoteAddress
HP_Agent_GetLocalAddress = HP_Server_GetLocalAddress


def HP_Agent_GetRemoteHost(Sender, ConnID):
    """(host, port) as given to Connect when the compat agent made the
    connection, else the remote address."""
    pool = getattr(core_of(Sender)._compat, "ConnIDPool", None) or {}
    if ConnID in pool:
        return tuple(pool[ConnID])
    return HP_Server_GetRemoteAddress(Sender, ConnID)


def HP_Server_GetListenAddress(Server):
    return _or_none(lambda: core_of(Server).listen_address)


def HP_Client_GetLocalAddress(Client):
    return _or_none(core_of(Client).local_address)


def HP_Client_GetRemoteHost(Client):
    """(host, port) given to Start, while connected."""
    core = core_of(Client)
    addr = _or_none(core.remote_address)
    if addr is None:
        return None
    target = getattr(core._compat, "target", None)
    return tuple(target) if target and target[0] else addr


# -- connection state ------------------------------------------------------------


def HP_Server_GetPendingDataLength(Server, ConnID):
    return _or_none(core_of(Server).pending_data_length, ConnID)


HP_Agent_GetPendingDataLength = HP_Server_GetPendingDataLength


def HP_Client_GetPendingDataLength(Client):
    return _or_none(core_of(Client).pending_data_length)


def HP_Server_IsPauseReceive(Server, ConnID):
    return _or_none(core_of(Server).is_receive_paused, ConnID)


HP_Agent_IsPauseReceive = HP_Server_IsPauseReceive


def HP_Client_IsPauseReceive(Client):
    return _or_none(core_of(Client).is_receive_paused)


def HP_Server_PauseReceive(Server, ConnID, bPause=True):
    return _ok(core_of(Server).pause_receive, ConnID, bool(bPause))


HP_Agent_PauseReceive = HP_Server_PauseReceive


def HP_Client_PauseReceive(Client, bPause=True):
    return _ok(core_of(Client).pause_receive, bool(bPause))


def _not_available(name):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"{name} is not available in hpsocket.compat (the hpsocket core does not expose it)")
    fn.__name__ = name
    return fn


for _name in ("HP_Server_GetConnectPeriod", "HP_Agent_GetConnectPeriod", "HP_Server_GetSilencePeriod",
              "HP_Agent_GetSilencePeriod", "HP_Server_DisconnectLongConnections",
              "HP_Agent_DisconnectLongConnections", "HP_Server_DisconnectSilenceConnections",
              "HP_Agent_DisconnectSilenceConnections"):
    globals()[_name] = _not_available(_name)
del _name


def _is_secure(handle):
    core_of(handle)
    return False


HP_Server_IsSecure = HP_Agent_IsSecure = HP_Client_IsSecure = _is_secure


# -- extras --------------------------------------------------------------------


def HP_Server_SetConnectionExtra(Sender, ConnID, Data):
    """Attach any Python object to the connection (released when it closes)."""
    try:
        core_of(Sender).set_extra(ConnID, Data)
        return True
    except (hpsocket.HPSocketError, ValueError):
        return False


HP_Agent_SetConnectionExtra = HP_Server_SetConnectionExtra


def HP_Server_GetConnectionExtra(Server, ConnID, type=None):
    """The object attached to the connection, or None (``type`` is ignored)."""
    return _or_none(core_of(Server).get_extra, ConnID)


HP_Agent_GetConnectionExtra = HP_Server_GetConnectionExtra


def HP_Client_SetExtra(Sender, Data):
    """Attach any Python object to the client (kept for its lifetime)."""
    core_of(Sender)._compat_extra = Data
    return True


def HP_Client_GetExtra(Client, type=None):
    return core_of(Client)._compat_extra


# -- tunables (applied at the next Start) ------------------------------------------


def _getter(attr):
    def get(handle):
        return getattr(core_of(handle), attr)
    get.__name__ = f"get_{attr}"
    return get


def _setter(attr, convert=int):
    def set_(handle, value):
        try:
            setattr(core_of(handle), attr, convert(value))
        except hpsocket.HPSocketError:
            pass   # only while stopped; the old setters were silently late
    set_.__name__ = f"set_{attr}"
    return set_


_TUNABLES = {
    # old name suffix: (core attribute, prefixes, convert)
    "WorkerThreadCount": ("worker_threads", ("HP_Server_", "HP_Agent_"), int),
    "MaxConnectionCount": ("max_connections", ("HP_Server_", "HP_Agent_"), int),
    "FreeSocketObjPool": ("free_socket_pool", ("HP_Server_", "HP_Agent_"), int),
    "FreeSocketObjHold": ("free_socket_hold", ("HP_Server_", "HP_Agent_"), int),
    "FreeSocketObjLockTime": ("free_socket_lock_time", ("HP_Server_", "HP_Agent_"), int),
    "FreeBufferObjPool": ("free_buffer_pool", ("HP_Server_", "HP_Agent_"), int),
    "FreeBufferObjHold": ("free_buffer_hold", ("HP_Server_", "HP_Agent_"), int),
    "FreeBufferPoolSize": ("free_buffer_pool", ("HP_Client_",), int),
    "FreeBufferPoolHold": ("free_buffer_hold", ("HP_Client_",), int),
    "SocketBufferSize": ("socket_buffer_size", ("HP_TcpServer_", "HP_TcpAgent_", "HP_TcpClient_"), int),
    "KeepAliveTime": ("keep_alive_time", ("HP_TcpServer_", "HP_TcpAgent_", "HP_TcpClient_"), int),
    "KeepAliveInterval": ("keep_alive_interval", ("HP_TcpServer_", "HP_TcpAgent_", "HP_TcpClient_"), int),
    "AcceptSocketCount": ("accept_socket_count", ("HP_TcpServer_",), int),
    "SocketListenQueue": ("listen_queue", ("HP_TcpServer_",), int),
    "MaxPackSize": ("max_pack_size", ("HP_TcpPackServer_", "HP_TcpPackAgent_", "HP_TcpPackClient_"), int),
    "PackHeaderFlag": ("pack_header_flag", ("HP_TcpPackServer_", "HP_TcpPackAgent_", "HP_TcpPackClient_"), int),
}

for _suffix, (_attr, _prefixes, _conv) in _TUNABLES.items():
    for _prefix in _prefixes:
        globals()[f"{_prefix}Get{_suffix}"] = _getter(_attr)
        globals()[f"{_prefix}Set{_suffix}"] = _setter(_attr, _conv)
for _prefix in ("HP_Server_", "HP_Agent_"):
    globals()[f"{_prefix}IsMarkSilence"] = _getter("mark_silence")
    globals()[f"{_prefix}SetMarkSilence"] = _setter("mark_silence", bool)
HP_TcpAgent_IsReuseAddress = _getter("reuse_address")
HP_TcpAgent_SetReuseAddress = _setter("reuse_address", bool)
del _suffix, _attr, _prefixes, _conv, _prefix


def _set_send_policy(handle, enSendPolicy):
    """Recorded only: the send policy has no effect in HP-Socket for Linux."""
    core_of(handle)._compat_policy = int(enSendPolicy)


def _get_send_policy(handle):
    return core_of(handle)._compat_policy


HP_Server_SetSendPolicy = HP_Agent_SetSendPolicy = _set_send_policy
HP_Server_GetSendPolicy = HP_Agent_GetSendPolicy = _get_send_policy


# -- SYS_* helpers (pure Python) ---------------------------------------------------


def _src(Src):
    return bytes(to_buffer(Src))


def SYS_Base64Encode(Src):
    return base64.b64encode(_src(Src))


def SYS_Base64Decode(Src):
    return base64.b64decode(_src(Src))


def SYS_GuessBase64EncodeBound(SrcLen):
    return (SrcLen + 2) // 3 * 4


def SYS_GuessBase64DecodeBound(Src):
    return len(_src(Src)) * 3 // 4


def SYS_UrlEncode(Src):
    return urllib.parse.quote_plus(_src(Src), safe="").encode("ascii")


def SYS_UrlDecode(Src):
    return urllib.parse.unquote_to_bytes(_src(Src).replace(b"+", b" "))


def SYS_GuessUrlEncodeBound(Src):
    return len(_src(Src)) * 3


def SYS_GuessUrlDecodeBound(Src):
    return len(_src(Src))


def SYS_Compress(Src):
    return zlib.compress(_src(Src))


def SYS_CompressEx(Src, Level, Method, WindowBits, MemLevel, Strategy):
    c = zlib.compressobj(Level, Method, WindowBits, MemLevel, Strategy)
    return c.compress(_src(Src)) + c.flush()


def SYS_Uncompress(Src):
    return zlib.decompress(_src(Src))


def SYS_UncompressEx(Src, WindowBits, UncompressBoundTimes=3):
    return zlib.decompress(_src(Src), WindowBits)


def SYS_GZipCompress(Src):
    return gzip.compress(_src(Src))


def SYS_GZipUncompress(Src):
    return gzip.decompress(_src(Src))


def SYS_GZipGuessUncompressBound(Src):
    data = _src(Src)
    return struct.unpack("<I", data[-4:])[0] if len(data) >= 18 else 0


def SYS_GuessCompressBound(SrcLen, bGZip=False):
    return SrcLen + (SrcLen >> 12) + (SrcLen >> 14) + (SrcLen >> 25) + 13 + (18 if bGZip else 0)


def SYS_GbkToUnicode(Src):
    return _src(Src).decode("GBK")


def SYS_UnicodeToGbk(WSrc):
    return (WSrc.decode("utf-8") if isinstance(WSrc, bytes) else WSrc).encode("GBK")


def SYS_Utf8ToUnicode(Src):
    return (Src.encode("utf-8") if isinstance(Src, str) else bytes(Src)).decode("utf-8")


def SYS_UnicodeToUtf8(WSrc):
    return (WSrc.decode("utf-8") if isinstance(WSrc, bytes) else WSrc).encode("utf-8")


def SYS_GbkToUtf8(Src):
    return _src(Src).decode("GBK").encode("utf-8")


def SYS_Utf8ToGbk(Src):
    data = Src.encode("utf-8") if isinstance(Src, str) else bytes(Src)
    return data.decode("utf-8").encode("GBK")


def _addr_type(address):
    try:
        return EnIPAddrType.IPT_IPV4 if ipaddress.ip_address(address).version == 4 else EnIPAddrType.IPT_IPV6
    except ValueError:
        return 0


def SYS_IsIPAddress(Address):
    """EnIPAddrType of the address, or False."""
    return _addr_type(host_arg(Address)) or False


def SYS_GetIPAddress(Host):
    """(ip, EnIPAddrType) of a host name, or None."""
    try:
        ip = _socket.getaddrinfo(host_arg(Host), None, _socket.AF_UNSPEC, _socket.SOCK_STREAM)[0][4][0]
    except (OSError, UnicodeError):
        return None
    return (ip, _addr_type(ip))


def SYS_EnumHostIPAddresses(Host, En_HP_IPAddrType=EnIPAddrType.IPT_ALL):
    """[(EnIPAddrType, ip), ...] or None."""
    family = {EnIPAddrType.IPT_IPV4: _socket.AF_INET, EnIPAddrType.IPT_IPV6: _socket.AF_INET6}.get(
        En_HP_IPAddrType, _socket.AF_UNSPEC)
    try:
        infos = _socket.getaddrinfo(host_arg(Host), None, family, _socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    seen, out = set(), []
    for info in infos:
        ip = info[4][0]
        if ip not in seen:
            seen.add(ip)
            out.append((_addr_type(ip), ip))
    return out


def SYS_HToN64(value):
    return struct.unpack("=Q", struct.pack(">Q", value))[0]


def SYS_NToH64(value):
    return struct.unpack(">Q", struct.pack("=Q", value))[0]


def _fd(sock):
    """A socket argument: an int fd, or the old binding's LP_c_uint pointer
    whose address is the fd."""
    if isinstance(sock, int):
        return sock
    if hasattr(sock, "fileno"):
        return sock.fileno()
    return ctypes.cast(sock, ctypes.c_void_p).value or 0


def _with_socket(sock, fn):
    s = _socket.socket(fileno=_fd(sock))
    try:
        return fn(s)
    finally:
        s.detach()


def _sso(level, name, value):
    def apply(s):
        s.setsockopt(level, name, value)
        return 0
    return apply


def _sso_call(sock, level, name, value):
    try:
        return _with_socket(sock, _sso(level, name, value))
    except OSError:
        return -1


def SYS_SSO_NoDelay(sock, bNoDelay):
    return _sso_call(sock, _socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1 if bNoDelay else 0)


def SYS_SSO_ReuseAddress(sock, bReuse):
    return _sso_call(sock, _socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1 if bReuse else 0)


def SYS_SSO_RecvBuffSize(sock, size):
    return _sso_call(sock, _socket.SOL_SOCKET, _socket.SO_RCVBUF, int(size))


def SYS_SSO_SendBuffSize(sock, size):
    return _sso_call(sock, _socket.SOL_SOCKET, _socket.SO_SNDBUF, int(size))


def SYS_SSO_Linger(sock, l_onoff, l_linger):
    return _sso_call(sock, _socket.SOL_SOCKET, _socket.SO_LINGER, struct.pack("ii", int(l_onoff), int(l_linger)))


def SYS_SSO_DontLinger(sock, bDont):
    return SYS_SSO_Linger(sock, 0 if bDont else 1, 0)


def SYS_SetSocketOption(socket, level, name, val, len=None):
    if isinstance(val, bool):
        val = int(val)
    elif isinstance(val, float):
        val = struct.pack("f", val)
    elif isinstance(val, str):
        val = val.encode("GBK")
    elif not isinstance(val, (int, bytes)):
        raise TypeError("Only int/bytes/str/bool/float Support.")
    return _sso_call(socket, level, name, val)


def SYS_GetSocketOption(socket, level, name, type=int, len=4):
    n = len.value if isinstance(len, ctypes.c_int) else int(len)
    raw = _with_socket(socket, lambda s: s.getsockopt(level, name, n))
    if type is int:
        return struct.unpack("i", raw[:4].ljust(4, b"\0"))[0]
    if type is bool:
        return raw[:1] != b"\0"
    if type is float:
        return struct.unpack("f", raw[:4].ljust(4, b"\0"))[0]
    if type is str:
        return raw.decode("GBK")
    if type is bytes:
        return raw
    raise TypeError("Only int/bytes/str/bool/float Support.")


def SYS_GetSocketLocalAddress(socket):
    try:
        return _with_socket(socket, lambda s: tuple(s.getsockname()[:2]))
    except OSError:
        return None


def SYS_GetSocketRemoteAddress(socket):
    try:
        return _with_socket(socket, lambda s: tuple(s.getpeername()[:2]))
    except OSError:
        return None


__all__ = [n for n in dict(globals()) if not n.startswith("_") and n not in (
    "base64", "gzip", "ipaddress", "struct", "urllib", "zlib", "hpsocket", "core_of",
    "to_buffer", "host_arg")]
