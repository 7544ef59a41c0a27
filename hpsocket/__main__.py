"""Command line: ``python -m hpsocket demo|bench [--http|--ws]``."""

import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m hpsocket {demo,bench} [options]\n\n"
              "  demo   echo server driven by an agent: what happened and the messages/s\n"
              "  bench  echo benchmark: hpsocket against native C, the ctypes binding, asyncio, uvloop\n"
              "  bench --http  HTTP benchmark (wrk): hpsocket against native C, uvicorn, granian, aiohttp\n"
              "  bench --ws    WebSocket benchmark: hpsocket against websockets, aiohttp, uvicorn")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        from hpsocket.demo import main as run
    elif cmd == "bench" and "--http" in rest and "--ws" in rest:
        print("bench: --http and --ws are two benchmarks; choose one", file=sys.stderr)
        return 2
    elif cmd == "bench" and "--ws" in rest:
        from hpsocket.bench.ws import main as run
        rest = [a for a in rest if a != "--ws"]
    elif cmd == "bench" and "--http" in rest:
        from hpsocket.bench.http import main as run
        rest = [a for a in rest if a != "--http"]
    elif cmd == "bench":
        from hpsocket.bench.cli import main as run
    else:
        print(f"unknown command {cmd!r}; try demo or bench", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
