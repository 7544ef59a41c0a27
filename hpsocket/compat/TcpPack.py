"""Pack model classes of the old binding: ``HP_TcpPackServer``,
``HP_TcpPackAgent``, ``HP_TcpPackClient``.  ``Start`` takes the header flag
and, optionally, the maximum body size (default: HP-Socket's 0x40000; the
old binding used 0xFFF).  OnReceive is called with ``Sender=, ConnID=,
Data=`` (one body); OnSend positionally with what went out (headers
included)."""

from . import _base
from . import helper  # noqa: F401
from . import pyhpsocket as HPSocket
from ._base import HR_OK
from ._roles import _AgentRole, _ClientRole, _ServerRole

__all__ = ["HP_TcpPack", "HP_TcpPackServer", "HP_TcpPackAgent", "HP_TcpPackClient"]

DEFAULT_MAX_PACK_SIZE = 0x40000


class HP_TcpPack(_base._Model):
    _model = _base.PACK
    EnHandleResult = HPSocket.EnHandleResult
    EventDescription = _base.EventDescription

    def _set_pack_options(self, head_flag, size):
        core = self._core
        core.max_pack_size = DEFAULT_MAX_PACK_SIZE if size is None else size
        core.pack_header_flag = head_flag

    @EventDescription
    def OnHandShake(self, Sender, ConnID):
        return HR_OK

    @EventDescription
    def OnSend(self, Sender, ConnID, Data):
        return HR_OK

    @EventDescription
    def OnReceive(self, Sender, ConnID, Data):
        return HR_OK

    @EventDescription
    def OnClose(self, Sender, ConnID, Operation, ErrorCode):
        return HR_OK


def _start_with_options(obj, head_flag, size):
    """Apply the pack options; False (as the library's Start did) for values
    out of range or while started."""
    try:
        obj._set_pack_options(head_flag, size)
    except (ValueError, TypeError, OSError):
        return False
    return True


@_base.register_defaults
class HP_TcpPackServer(_ServerRole, HP_TcpPack):
    _role = _base.ROLE_SERVER
    _handle_attr = "Server"

    def Start(self, host, port, head_flag, size=None):
        self.target = (host, port)
        if not _start_with_options(self, head_flag, size):
            return False
        return HPSocket.HP_Server_Start(self.Server, host, port)


@_base.register_defaults
class HP_TcpPackAgent(_AgentRole, HP_TcpPack):
    _role = _base.ROLE_AGENT
    _handle_attr = "Agent"

    def Start(self, BindAddress, head_flag, size=None):
        if not _start_with_options(self, head_flag, size):
            return False
        self._prepare_start()
        return HPSocket.HP_Agent_Start(self.Agent, BindAddress, False)


@_base.register_defaults
class HP_TcpPackClient(_ClientRole, HP_TcpPack):
    _role = _base.ROLE_CLIENT
    _handle_attr = "Client"

    def Start(self, host, port, head_flag, size=None):
        self.target = (host, port)
        if not _start_with_options(self, head_flag, size):
            return False
        return HPSocket.HP_Client_Start(self.Client, host, port, False)
