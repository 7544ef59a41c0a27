"""hpsocket/_core.pxd lets Cython code cimport the classes: compile a small
extension that subclasses TcpServer as a cdef class and echo through it."""

import importlib.util
import os
import socket
import sysconfig

import pytest

import hpsocket

from support import roundtrip

cython_build = pytest.importorskip("Cython.Build")
setuptools = pytest.importorskip("setuptools")

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(os.path.abspath(hpsocket.__file__))


@pytest.fixture(scope="module")
def cython_ext(tmp_path_factory):
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    out = tmp_path_factory.mktemp("cython_ext")
    src = out / "cython_ext.pyx"
    src.write_text(open(os.path.join(HERE, "cython_ext.pyx")).read())
    ext = Extension("cython_ext", [str(src)],
                    include_dirs=[PKG, os.path.join(PKG, "include")])
    exts = cython_build.cythonize([ext], include_path=[os.path.dirname(PKG)], quiet=True,
                                  build_dir=str(out))
    dist = Distribution({"ext_modules": exts})
    cmd = build_ext(dist)
    cmd.build_lib = str(out)
    cmd.build_temp = str(out / "tmp")
    cmd.ensure_finalized()
    cmd.run()
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    spec = importlib.util.spec_from_file_location("cython_ext", str(out / ("cython_ext" + suffix)))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cdef_subclass_echoes(cython_ext):
    srv = cython_ext.CountingServer()
    assert isinstance(srv, hpsocket.TcpServer)
    with srv:
        srv.start("127.0.0.1", 0)
        with socket.create_connection(srv.listen_address, timeout=10) as s:
            got = roundtrip(s, b"cimported")
        assert got == b"cimported"
        assert srv.received == 9


def test_cimported_type_is_the_same(cython_ext):
    assert cython_ext.is_pull_client(hpsocket.TcpPullClient())
    assert not cython_ext.is_pull_client(hpsocket.TcpClient())
