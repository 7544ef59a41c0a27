"""The exception hpsocket raises when HP-Socket reports a failure."""

from ._enums import SocketError

__all__ = ["HPSocketError"]


class HPSocketError(OSError):
    """A call into HP-Socket failed.

    Attributes:
        code: HP-Socket's :class:`SocketError` code.
        description: HP-Socket's text for the failure.
        errno: the operating system's error number, or None.
    """

    def __init__(self, code, description, errno=None):
        if errno:
            super().__init__(errno, description)
        else:
            super().__init__(description)
        try:
            self.code = SocketError(code)
        except ValueError:
            self.code = code
        self.description = description

    def __reduce__(self):
        return (type(self), (self.code, self.description, self.errno))
