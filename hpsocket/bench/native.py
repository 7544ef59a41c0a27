"""Build the benchmark's native programs: ``loadgen``, ``echo_server`` and
``http_server``.

All three are plain C (sources in ``hpsocket/bench/native/``) compiled with the
system C compiler on first use and cached:

- ``loadgen``: the epoll load generator that drives every echo server in the
  benchmark and checks each echoed byte; in its ws modes it is also the
  WebSocket client of ``python -m hpsocket bench --ws`` (the opening
  handshake, masked binary frames, every echoed frame head checked) and the
  1-to-N broadcast driver (``--mode ws-broadcast``);
- ``echo_server``: an echo server straight over libhpsocket4c, with no Python,
  linked against the ``libhpsocket4c.so`` shipped inside this package;
- ``http_server``: an HTTP server on libhpsocket4c's HttpServer, with no
  Python, linked the same way (the ceiling of ``python -m hpsocket bench
  --http``).

``build()`` returns the paths of the executables::

    from hpsocket.bench import native
    paths = native.build()
    subprocess.run([paths["loadgen"], "--port", "9000", "--json"])

Running ``python -m hpsocket.bench.native [OUTDIR]`` builds them and prints
the paths as JSON.
"""

import hashlib
import os
import shlex
import subprocess
import sys
import tempfile

__all__ = ["BuildError", "build"]

#: Bump when the way the programs are built changes (invalidates the cache).
_RECIPE = "2"

_HERE = os.path.dirname(os.path.abspath(__file__))
_SRC_DIR = os.path.join(_HERE, "native")
# The hpsocket package directory, i.e. os.path.dirname(hpsocket.__file__).
_PKG_DIR = os.path.dirname(_HERE)

_LIB_NAME = "libhpsocket4c.so"
_HEADER = "hpsocket4c.h"
# Present in a header that declares the HTTP family.
_HTTP_MARK = b"Create_HP_HttpServer"
_CFLAGS = ["-O2", "-Wall", "-Wextra", "-std=gnu11"]

# digest -> paths built by this process into a default directory (so the
# temporary-directory fallback is not rebuilt on every call).
_built: "dict[str, dict[str, str]]" = {}


class BuildError(RuntimeError):
    """The native benchmark programs could not be built."""


def _include_dir():
    """The directory holding hpsocket4c.h: the packaged copy, or the
    repository's own when running from a source checkout.  A copy that
    declares the HTTP family (http_server needs it) is preferred: the
    packaged one is refreshed only by a build of the extension and may lag
    behind the repository's."""
    candidates = [
        os.path.join(_PKG_DIR, "include"),
        os.path.join(os.path.dirname(_PKG_DIR), "third_party", "HP-Socket", "include"),
    ]
    found = []
    for d in candidates:
        path = os.path.join(d, _HEADER)
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError:
            continue
        if _HTTP_MARK in text:
            return d
        found.append(d)
    if found:
        return found[0]
    raise BuildError("%s not found (looked in %s)" % (_HEADER, ", ".join(candidates)))


def _compiler(cc):
    if cc is None:
        cc = os.environ.get("CC") or "cc"
    if not isinstance(cc, str):
        return list(cc)
    try:
        return shlex.split(cc)
    except ValueError as exc:
        raise BuildError("cannot parse the compiler command %r: %s" % (cc, exc)) from exc


def _default_outdir(digest):
    """~/.cache/hpsocket/bench-<digest> (honouring XDG_CACHE_HOME), or a
    fresh temporary directory when that is not writable."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "hpsocket", "bench-" + digest)
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK | os.X_OK):
            return path
    except OSError:
        pass
    return tempfile.mkdtemp(prefix="hpsocket-bench-")


def _is_executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _compile(cmd_head, out_path, cmd_tail):
    """Runs the compiler to a temporary file beside out_path, then renames
    it into place, so a concurrent build or an interrupted one never leaves
    a half-written executable under the final name."""
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(out_path) + ".", suffix=".tmp",
                               dir=os.path.dirname(out_path))
    os.close(fd)
    cmd = cmd_head + ["-o", tmp] + cmd_tail
    try:
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True)
        except OSError as exc:
            raise BuildError("cannot run the C compiler %r: %s" % (cmd[0], exc)) from exc
        if proc.returncode != 0:
            raise BuildError("compiling %s failed (exit %d):\n$ %s\n%s" % (
                os.path.basename(out_path), proc.returncode,
                " ".join(shlex.quote(a) for a in cmd), proc.stdout))
        os.chmod(tmp, 0o755)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build(outdir=None, *, cc=None, libdir=None, force=False):
    """Compile ``loadgen`` (every benchmark's load generator, the WebSocket
    one included), ``echo_server`` and ``http_server`` (once; later calls
    reuse them).

    outdir: where the executables go; by default a cache directory keyed by
        a hash of the sources, header, library and compiler command.
    cc: the compiler command (default ``$CC`` or ``cc``).
    libdir: the directory holding ``libhpsocket4c.so`` (default: the
        installed hpsocket package); echo_server and http_server are linked
        against it with an rpath to that directory.
    force: rebuild even when the executables already exist.

    Returns ``{"loadgen": path, "echo_server": path, "http_server": path}``;
    raises BuildError.
    """
    compiler = _compiler(cc)
    libdir = os.path.abspath(libdir or _PKG_DIR)
    lib = os.path.join(libdir, _LIB_NAME)
    if not os.path.isfile(lib):
        raise BuildError("%s not found in %s" % (_LIB_NAME, libdir))
    incdir = _include_dir()
    sources = {name: os.path.join(_SRC_DIR, name + ".c") for name in ("loadgen", "echo_server", "http_server")}

    h = hashlib.sha256()
    for part in [_RECIPE, sys.platform, " ".join(compiler), " ".join(_CFLAGS), libdir]:
        h.update(part.encode() + b"\0")
    for path in [sources["loadgen"], sources["echo_server"], sources["http_server"],
                 os.path.join(incdir, _HEADER), lib]:
        try:
            with open(path, "rb") as f:
                h.update(f.read())
        except OSError as exc:
            raise BuildError("cannot read %s: %s" % (path, exc)) from exc
    digest = h.hexdigest()[:16]

    if outdir is None:
        cached = _built.get(digest)
        if not force and cached and all(_is_executable(p) for p in cached.values()):
            return dict(cached)
        outdir = _default_outdir(digest)
    else:
        outdir = os.path.abspath(outdir)
        os.makedirs(outdir, exist_ok=True)
    paths = {name: os.path.join(outdir, name) for name in sources}

    # A fixed outdir is not keyed by the hash: a stamp records what is in it.
    stamp = os.path.join(outdir, ".build-" + digest)
    if (not force and os.path.isfile(stamp)
            and all(_is_executable(p) for p in paths.values())):
        return paths

    head = compiler + _CFLAGS
    _compile(head, paths["loadgen"], [sources["loadgen"]])
    # -Xlinker passes the rpath as one argument (unlike -Wl,-rpath,DIR, a
    # comma in the directory name would not split it).
    for name in ("echo_server", "http_server"):
        _compile(head + ["-pthread", "-I", incdir], paths[name],
                 [sources[name], "-L", libdir, "-lhpsocket4c",
                  "-Xlinker", "-rpath", "-Xlinker", libdir])

    for old in os.listdir(outdir):
        if old.startswith(".build-") and old != os.path.basename(stamp):
            try:
                os.unlink(os.path.join(outdir, old))
            except OSError:
                pass
    with open(stamp, "w") as f:
        f.write(" ".join(compiler) + "\n")
    _built[digest] = dict(paths)
    return paths


def _main(argv):
    import json

    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python -m hpsocket.bench.native [OUTDIR]", file=sys.stderr)
        return 2
    try:
        paths = build(argv[0] if argv else None)
    except BuildError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    print(json.dumps(paths, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
