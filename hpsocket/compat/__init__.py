"""Compatibility layer for programs written for HPSocket4Python (PyPI HPSocket 0.9.3).

Change only the imports::

    from hpsocket.compat import TcpPush, TcpPull, TcpPack, helper
    import hpsocket.compat.pyhpsocket as HPSocket

The classes (``TcpPush.HP_TcpPushServer`` ...), their ``On*`` events with the
old argument names, ``EventDescription``, and the ``pyhpsocket`` functions
taking the component's int handle run on hpsocket's Cython core.  See the
README's migration section for what differs.
"""

__all__ = ["TcpPush", "TcpPull", "TcpPack", "helper", "pyhpsocket"]


def __getattr__(name):
    # ``import hpsocket.compat as HPSocket; HPSocket.TcpPush`` works as
    # ``from hpsocket.compat import TcpPush`` does.
    if name in __all__:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
