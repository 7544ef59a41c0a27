"""Build of hpsocket's extension module.

libhpsocket4c comes from the PyPI wheel HPSocket==0.9.3 (a build
requirement, see pyproject.toml; downloaded with pip when it is not
installed); it is copied into the package and the extension finds it next to
itself through an $ORIGIN rpath.

Build variables (environment):
  HPSOCKET_LIB_DIR      directory holding your own libhpsocket4c.so (5.2.x):
                        link against it (rpath to that directory) instead
  HPSOCKET_INCLUDE_DIR  directory holding hpsocket4c.h (default:
                        third_party/HP-Socket/include)
  HPSOCKET_DEBUG=1      debug build: Cython line tracing, asserts, -O0 -g,
                        and the debug counters of callbacks in flight
  HPSOCKET_SANITIZE=address
                        build with AddressSanitizer (run Python with
                        LD_PRELOAD=$(cc -print-file-name=libasan.so))
"""

import glob
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join(HERE, "hpsocket")
LIB_NAME = "libhpsocket4c.so"
WHEEL_REQ = "HPSocket==0.9.3"
ARCH_FILES = {"x86_64": "libhpsocket4c_amd64_64.so", "amd64": "libhpsocket4c_amd64_64.so",
              "aarch64": "libhpsocket4c_aarch64_64.so", "arm64": "libhpsocket4c_aarch64_64.so"}

DEBUG = os.environ.get("HPSOCKET_DEBUG", "") not in ("", "0")
SANITIZE = os.environ.get("HPSOCKET_SANITIZE", "")
LIB_DIR = os.environ.get("HPSOCKET_LIB_DIR")
INCLUDE_DIR = os.environ.get("HPSOCKET_INCLUDE_DIR") or os.path.join(HERE, "third_party", "HP-Socket", "include")


def _library_from_wheel():
    """Path of the HPSocket wheel's libhpsocket4c for this machine."""
    machine = platform.machine().lower()
    name = ARCH_FILES.get(machine)
    if name is None:
        sys.exit(f"hpsocket: no libhpsocket4c for {machine} in {WHEEL_REQ}; set HPSOCKET_LIB_DIR")
    spec = importlib.util.find_spec("HPSocket")  # finds it without importing it
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            path = os.path.join(loc, name)
            if os.path.exists(path):
                return path
    # Not installed (e.g. --no-build-isolation): fetch the wheel.
    tmp = tempfile.mkdtemp(prefix="hpsocket-wheel-")
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps",
                           "--only-binary=:all:", "-d", tmp, WHEEL_REQ])
    wheel = glob.glob(os.path.join(tmp, "HPSocket-*.whl"))[0]
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(f"HPSocket/{name}", tmp)
    return os.path.join(tmp, "HPSocket", name)


def _stage_library():
    """Copy the library and the header into the package directory."""
    if LIB_DIR:
        return
    src = _library_from_wheel()
    dst = os.path.join(PKG, LIB_NAME)
    if not os.path.exists(dst) or os.path.getsize(dst) != os.path.getsize(src):
        shutil.copyfile(src, dst)
    os.makedirs(os.path.join(PKG, "include"), exist_ok=True)
    shutil.copyfile(os.path.join(INCLUDE_DIR, "hpsocket4c.h"), os.path.join(PKG, "include", "hpsocket4c.h"))


# The build's flavour.  Generated C and object files of one flavour must never
# be reused by another (a release build once compiled the debug build's C,
# with line tracing, and dispatched events 3.5x slower), so each flavour
# cythonizes into its own directory and a change of flavour rebuilds.
MODE = ",".join(["debug" if DEBUG else "release"] + ([f"sanitize={SANITIZE}"] if SANITIZE else []))
MODE_STAMP = os.path.join(HERE, "build", "hpsocket-mode")


class BuildExt(build_ext):
    def run(self):
        _stage_library()
        try:
            with open(MODE_STAMP) as f:
                last = f.read()
        except OSError:
            last = None
        if last != MODE:
            self.force = True
        super().run()
        os.makedirs(os.path.dirname(MODE_STAMP), exist_ok=True)
        with open(MODE_STAMP, "w") as f:
            f.write(MODE)
        if not LIB_DIR and not self.inplace:
            # The library travels with the extension in wheels and installs.
            out = os.path.join(self.build_lib, "hpsocket")
            os.makedirs(os.path.join(out, "include"), exist_ok=True)
            shutil.copyfile(os.path.join(PKG, LIB_NAME), os.path.join(out, LIB_NAME))
            shutil.copyfile(os.path.join(PKG, "include", "hpsocket4c.h"),
                            os.path.join(out, "include", "hpsocket4c.h"))


def extensions():
    from Cython.Build import cythonize

    macros = []
    cflags = ["-Wno-unused-function"]
    directives = {"language_level": "3", "embedsignature": True}
    if DEBUG:
        macros += [("HPSOCKET_DEBUG", "1"), ("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]
        cflags += ["-O0", "-g"]
        directives.update(linetrace=True, boundscheck=True)
    else:
        directives.update(boundscheck=False, wraparound=False)
    ldflags = []
    if SANITIZE:
        cflags += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-g"]
        ldflags += [f"-fsanitize={SANITIZE}"]
    lib_dir = LIB_DIR or PKG
    ext = Extension(
        "hpsocket._core",
        ["hpsocket/_core.pyx"],
        include_dirs=[INCLUDE_DIR, PKG],
        library_dirs=[lib_dir],
        libraries=["hpsocket4c"] if LIB_DIR else [],
        extra_link_args=ldflags + ([] if LIB_DIR else [f"-l:{LIB_NAME}"])
        + [f"-Wl,-rpath,{lib_dir}" if LIB_DIR else "-Wl,-rpath,$ORIGIN"],
        define_macros=macros,
        extra_compile_args=cflags,
        depends=glob.glob("hpsocket/_*.h") + glob.glob("hpsocket/*.pxi") + glob.glob("hpsocket/includes/*.pxd"),
    )
    return cythonize([ext], compiler_directives=directives, include_path=[HERE],
                     annotate=DEBUG, build_dir=os.path.join("build", "cython-" + MODE.replace("=", "-").replace(",", "-")))


_stage_library()
setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
