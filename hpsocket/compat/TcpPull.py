"""Pull model classes of the old binding: ``HP_TcpPullServer``,
``HP_TcpPullAgent``, ``HP_TcpPullClient``.  The default ``OnReceive(Sender,
ConnID, Length)`` cuts the stream into the demo protocol's 8-byte headers
(``OnReceiveHead(Sender=, ConnID=, Seq=, Length=, raw=)``) and bodies
(``OnReceiveBody(Sender=, ConnID=, Body=)``, plus ``raw=`` when the
override declares it); override OnReceive to fetch yourself."""

from . import _base
from . import helper  # noqa: F401
from . import pyhpsocket as HPSocket
from ._base import HR_OK
from ._roles import (_AgentRole, _ClientRole, _PullAgentReceive, _PullClientReceive,
                     _PullServerReceive, _ServerRole)

__all__ = ["HP_TcpPull", "HP_TcpPullServer", "HP_TcpPullAgent", "HP_TcpPullClient"]


class HP_TcpPull(_base._Model):
    _model = _base.PULL
    EnHandleResult = HPSocket.EnHandleResult
    EventDescription = _base.EventDescription

    @EventDescription
    def OnHandShake(self, Sender, ConnID):
        return HR_OK

    @EventDescription
    def OnSend(self, Sender, ConnID, Data):
        return HR_OK

    @EventDescription
    def OnClose(self, Sender, ConnID, Operation, ErrorCode):
        return HR_OK

    @EventDescription
    def OnReceiveHead(self, Sender, ConnID, Seq: int, Length: int, raw: bytes):
        """Called by the default OnReceive for each 8-byte header."""
        return HR_OK

    @EventDescription
    def OnReceiveBody(self, Sender, ConnID, Body: bytes):
        """Called by the default OnReceive for each body."""
        return HR_OK


@_base.register_defaults
class HP_TcpPullServer(_PullServerReceive, _ServerRole, HP_TcpPull):
    _role = _base.ROLE_SERVER
    _handle_attr = "Server"


@_base.register_defaults
class HP_TcpPullAgent(_PullAgentReceive, _AgentRole, HP_TcpPull):
    _role = _base.ROLE_AGENT
    _handle_attr = "Agent"


@_base.register_defaults
class HP_TcpPullClient(_PullClientReceive, _ClientRole, HP_TcpPull):
    _role = _base.ROLE_CLIENT
    _handle_attr = "Client"
