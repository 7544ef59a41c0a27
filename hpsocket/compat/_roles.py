"""Role mixins (Server, Agent, Client) of the compat classes, and the pull
model's head/body parsing."""

import hpsocket

from . import _base
from . import helper
from . import pyhpsocket as HPSocket
from ._base import EventDescription, HR_OK, HR_ERROR


class _ServerRole:
    Server = None

    def Send(self, Sender, ConnID, Data):
        return HPSocket.HP_Server_Send(Server=Sender, ConnID=ConnID, Buffer=Data)

    def Start(self, host, port):
        self.target = (host, port)
        return HPSocket.HP_Server_Start(self.Server, host, port)

    @EventDescription
    def OnPrepareListen(self, Sender, SocketHandler):
        return HR_OK

    @EventDescription
    def OnAccept(self, Sender, ConnID, Client):
        return HR_OK

    @EventDescription
    def OnShutdown(self, Sender):
        return HR_OK


class _ClientRole:
    Client = None
    SEQ = 0

    def Send(self, Sender, Data):
        return HPSocket.HP_Client_Send(Client=Sender, Buffer=Data)

    def Start(self, host, port):
        self.target = (host, port)
        return HPSocket.HP_Client_Start(self.Client, host, port, False)

    @EventDescription
    def OnPrepareConnect(self, Sender, ConnID, Socket):
        return HR_OK

    @EventDescription
    def OnConnect(self, Sender, ConnID):
        return HR_OK


class _AgentRole:
    Agent = None
    SEQ = 0
    LatestConnID = 0

    def __init__(self):
        # Per instance (0.9.3 shared one class-level dict between all agents).
        self.ConnIDPool = {}
        super().__init__()

    def Send(self, Sender, ConnID, Data):
        return HPSocket.HP_Agent_Send(Sender, ConnID, Data)

    def _prepare_start(self):
        HPSocket.HP_TcpAgent_SetReuseAddress(self.Agent, True)
        self.ConnIDPool.clear()
        self.LatestConnID = 0

    def Start(self, BindAddress):
        self._prepare_start()
        return HPSocket.HP_Agent_Start(self.Agent, BindAddress, False)

    def Connect(self, host, port):
        """Connect synchronously; the ConnID, or None if it failed."""
        conn_id = HPSocket.HP_Agent_Connect(self.Agent, host, port)
        self.LatestConnID = conn_id
        if conn_id is not None:
            self.ConnIDPool[conn_id] = (host, port)
            # A connection that closed meanwhile is not kept (OnClose removes
            # the entries of connections closing later).
            if conn_id not in self._core.connection_ids:
                self.ConnIDPool.pop(conn_id, None)
        return conn_id

    def DisConnect(self, ConnID):
        HPSocket.HP_Agent_Disconnect(self.Agent, ConnID, True)
        self.ConnIDPool.pop(ConnID, None)

    def Stop(self):
        if not HPSocket.HP_Agent_Stop(self.Agent):
            raise Exception('Cannot stop agent!')

    @EventDescription
    def OnPrepareConnect(self, Sender, ConnID, Socket):
        return HR_OK

    @EventDescription
    def OnConnect(self, Sender, ConnID):
        return HR_OK

    @EventDescription
    def OnShutdown(self, Sender):
        return HR_OK


# -- pull model: alternate 8-byte headers and bodies -------------------------------

_raw_cache = {}


def pull_parse(obj, Sender, ConnID, Length, info, fetch):
    """Take as many whole headers/bodies as ``Length`` buffered bytes allow,
    calling OnReceiveHead / OnReceiveBody for each; ``info`` (a
    helper.TPkgInfo) keeps the state between calls."""
    cls = type(obj)
    want_raw = _raw_cache.get(cls)
    if want_raw is None:
        want_raw = _raw_cache[cls] = _base.wants_raw(cls)
    buffered = Length
    while buffered >= info.length:
        needed = info.length
        chunk = fetch(needed)
        if chunk is None:
            break
        buffered -= needed
        if info.is_header:
            seq, body_len = helper.UnpackTPkgHeader(chunk)
            if body_len < 0:
                return HR_ERROR       # corrupt stream: close the connection
            _base.call(obj.OnReceiveHead, Sender=Sender, ConnID=ConnID, Seq=seq,
                       Length=body_len, raw=chunk)
            info.length = body_len
        else:
            if want_raw:
                _base.call(obj.OnReceiveBody, Sender=Sender, ConnID=ConnID, Body=chunk, raw=chunk)
            else:
                _base.call(obj.OnReceiveBody, Sender=Sender, ConnID=ConnID, Body=chunk)
            info.length = helper.TPkgHeaderSize
        info.is_header = not info.is_header
    return HR_OK


def _fetcher(core, conn_id=None):
    def fetch(n):
        try:
            return core.fetch(n) if conn_id is None else core.fetch(conn_id, n)
        except hpsocket.HPSocketError:
            return None
    return fetch


class _PullServerReceive:
    @EventDescription
    def OnReceive(self, Sender, ConnID, Length):
        core = _base.core_of(Sender)
        info = core.get_extra(ConnID)
        if info is None:
            # 0.9.3 fetched nothing unless OnAccept had stored a TPkgInfo
            # with HP_Server_SetConnectionExtra; compat creates it.
            info = helper.TPkgInfo(True, helper.TPkgHeaderSize)
            try:
                core.set_extra(ConnID, info)
            except hpsocket.HPSocketError:
                return HR_OK
        return pull_parse(self, Sender, ConnID, Length, info, _fetcher(core, ConnID))


class _PullAgentReceive:
    class pkgClass:
        def __init__(self):
            self.is_header = True
            self.length = helper.TPkgHeaderSize

    def __init__(self):
        self.pkgInfo = {}
        super().__init__()

    def Start(self, BindAddress):
        self.pkgInfo.clear()
        return super().Start(BindAddress)

    @EventDescription
    def OnReceive(self, Sender, ConnID, Length):
        info = self.pkgInfo.get(ConnID)
        if info is None:
            info = self.pkgInfo.setdefault(ConnID, self.pkgClass())
        return pull_parse(self, Sender, ConnID, Length, info, _fetcher(_base.core_of(Sender), ConnID))


class _PullClientReceive:
    def __init__(self):
        self.pkgInfo = helper.TPkgInfo()
        super().__init__()

    def Start(self, host, port):
        self.pkgInfo.Reset()
        return super().Start(host, port)

    @EventDescription
    def OnReceive(self, Sender, ConnID, Length):
        return pull_parse(self, Sender, ConnID, Length, self.pkgInfo, _fetcher(_base.core_of(Sender)))
