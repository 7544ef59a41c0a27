"""What the command lines of hpsocket.wsgi and hpsocket.asgi share."""

import argparse
import importlib
import os
import sys


def load_app(spec, default_attr=None):
    """The object named by "module:attribute" (attribute may be dotted),
    imported with the current directory on sys.path."""
    module, _, attr = spec.partition(":")
    attr = attr or default_attr
    if not module or not attr:
        raise SystemExit(f"expected module:attribute, not {spec!r}")
    sys.path.insert(0, os.getcwd())
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def server_parser(kind):
    """The arguments every server command takes (kind: "WSGI" or "ASGI")."""
    parser = argparse.ArgumentParser(prog=f"python -m hpsocket.{kind.lower()}",
                                     description=f"Serve a {kind} application with hpsocket.")
    parser.add_argument("app", help=f"module:attribute of the {kind} application")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-body-size", type=int, default=None)
    parser.add_argument("--keep-alive-timeout", type=float, default=None)
    return parser


def http_options(args):
    """HttpServer options given on the command line."""
    options = {}
    if args.max_body_size is not None:
        options["max_body_size"] = args.max_body_size
    if args.keep_alive_timeout is not None:
        options["keep_alive_timeout"] = args.keep_alive_timeout
    return options
