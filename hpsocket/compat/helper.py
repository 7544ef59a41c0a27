"""The old binding's ``HPSocket.helper``: the demo packet layout (an 8-byte
header ``seq, body_len`` then a body ``name[30], age, desc``) and the pull
model's per-connection state."""

import ctypes
import struct

__all__ = ["TPkgHeader", "TPkgBody", "TPkgInfo", "CBuffer", "TPkgHeaderSize",
           "UnpackTPkgHeader", "GeneratePkgBuffer", "GeneratePkg"]


class TPkgHeader(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint), ("body_len", ctypes.c_int)]

    def sizeof():
        return ctypes.sizeof(TPkgHeader)


class TPkgBody(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 30), ("age", ctypes.c_short)]

    def sizeof():
        return ctypes.sizeof(TPkgBody)


TPkgHeaderSize = 8


class TPkgInfo(ctypes.Structure):
    """Pull state: is the next item a header, and how many bytes it needs."""

    _fields_ = [("is_header", ctypes.c_bool), ("length", ctypes.c_int)]

    def __init__(self, header: bool = True, len: int = TPkgHeaderSize, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_header = header
        self.length = len

    def Reset(self):
        self.is_header = True
        self.length = TPkgHeaderSize

    def sizeof():
        return ctypes.sizeof(TPkgInfo)


class CBuffer:
    """A ctypes char buffer: CBuffer(size) (filled with spaces) or CBuffer(bytes)."""

    Buffer = None
    buffer = None

    def __init__(self, init_info):
        if isinstance(init_info, int):
            self.Buffer = ctypes.create_string_buffer(b" " * init_info, init_info)
        elif isinstance(init_info, bytes):
            self.Buffer = ctypes.create_string_buffer(init_info, len(init_info))
        else:
            raise TypeError("CBuffer takes an int size or bytes")
        self.buffer = ctypes.cast(self.Buffer, ctypes.POINTER(ctypes.c_byte))

    def Contents(self):
        return self.Buffer

    def Ptr(self):
        return self.buffer

    def Size(self):
        return len(self.Buffer) - 1

    def ToOtherPtr(self, contents_type):
        return ctypes.cast(self.buffer, ctypes.POINTER(contents_type))

    def __getitem__(self, index):
        return self.Buffer[index]

    def __len__(self):
        return self.Size()


def UnpackTPkgHeader(Buffer):
    """(seq, body_len) of an 8-byte header."""
    return struct.unpack("ii", Buffer)


def GeneratePkgBuffer(seq, name, age, desc):
    """Header + body of a demo packet.  As in the old binding, ``desc``'s
    length is counted in characters."""
    n = len(desc)
    return struct.pack(f"ii30sh{n}s", seq, 32 + n, name.encode("GBK"), age, desc.encode("GBK"))


def GeneratePkg(buffer):
    """(name, age, desc) of a demo packet body (name keeps its NUL padding)."""
    name, age, desc = struct.unpack(f"30sh{len(buffer) - 32}s", buffer)
    return (name.decode("GBK"), age, desc.decode("GBK"))
