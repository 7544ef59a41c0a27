"""Push model classes of the old binding: ``HP_TcpPushServer``,
``HP_TcpPushAgent``, ``HP_TcpPushClient``.  OnReceive and OnSend are called
with the keywords ``Sender=, ConnID=, Data=, Length=``."""

from . import _base
from . import helper  # noqa: F401  (the old module imported it too)
from . import pyhpsocket as HPSocket
from ._base import HR_OK
from ._roles import _AgentRole, _ClientRole, _ServerRole

__all__ = ["HP_TcpPush", "HP_TcpPushServer", "HP_TcpPushAgent", "HP_TcpPushClient"]


class HP_TcpPush(_base._Model):
    _model = _base.PUSH
    EnHandleResult = HPSocket.EnHandleResult
    EventDescription = _base.EventDescription

    @EventDescription
    def OnHandShake(self, Sender, ConnID):
        return HR_OK

    @EventDescription
    def OnSend(self, Sender, ConnID, Data, Length):
        return HR_OK

    @EventDescription
    def OnReceive(self, Sender, ConnID, Data, Length):
        return HR_OK

    @EventDescription
    def OnClose(self, Sender, ConnID, Operation, ErrorCode):
        return HR_OK


@_base.register_defaults
class HP_TcpPushServer(_ServerRole, HP_TcpPush):
    _role = _base.ROLE_SERVER
    _handle_attr = "Server"


@_base.register_defaults
class HP_TcpPushAgent(_AgentRole, HP_TcpPush):
    _role = _base.ROLE_AGENT
    _handle_attr = "Agent"


@_base.register_defaults
class HP_TcpPushClient(_ClientRole, HP_TcpPush):
    _role = _base.ROLE_CLIENT
    _handle_attr = "Client"
