"""Differential tests: valid requests parsed by HttpServer and by h11.

The same bytes go to the server (on a raw socket, in one write or in random
pieces) and to an h11 server-side connection; the method, target, header
fields (names compared case-insensitively, in order, repeats kept) and body
on_request received must equal what h11 parsed, request by request,
pipelined sequences included.  Chunk extensions and trailers are framing:
h11 reports trailers apart from the headers, and HttpServer drops them, so
the headers compared are h11's request headers alone.

A seeded random generator makes a few hundred more such sequences (methods,
targets with percent-escapes and queries, header names and values from the
RFC 9110 grammar, Content-Length and chunked bodies with extensions and
trailers), each pipelined on one connection and split at random points.
"""

import random

import h11
import pytest

from http_support import RawConn, RecordingServer, chunked, serving


def h11_parse(data):
    """The requests h11 reads from data: a list of dicts like
    RecordingServer's records (method, target, headers, body, trailers)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")   # the client is done: an incomplete message is an error
    out = []
    current = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            raise AssertionError("h11 wants more data")
        if event is h11.PAUSED:
            conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
            conn.send(h11.EndOfMessage())
            conn.start_next_cycle()
            continue
        if isinstance(event, h11.ConnectionClosed):
            return out
        if isinstance(event, h11.Request):
            current = {
                "method": event.method.decode("latin-1"),
                "target": event.target.decode("latin-1"),
                "version": event.http_version.decode(),
                "headers": [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()],
                "body": b"",
            }
        elif isinstance(event, h11.Data):
            current["body"] += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            current["trailers"] = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers.raw_items()]
            out.append(current)
            current = None


def fold(headers):
    """Names lowercased; Transfer-Encoding's value too (h11 lowercases it)."""
    return [(n.lower(), v.lower() if n.lower() == "transfer-encoding" else v) for n, v in headers]


def compare(server_seen, reference):
    assert len(server_seen) == len(reference), (server_seen, reference)
    for got, ref in zip(server_seen, reference):
        assert got["method"] == ref["method"]
        assert got["target"] == ref["target"]
        assert got["version"] == ref["version"]
        assert fold(got["headers"]) == fold(ref["headers"])
        assert got["body"] == ref["body"]


def exchange(port, data, methods, pieces=None):
    """Send data (in the given pieces) on one connection and read one
    response per request."""
    with RawConn(port, timeout=10) as conn:
        if pieces:
            for piece in pieces:
                conn.send(piece)
            conn.methods.extend(methods)
        else:
            conn.send(data, methods)
        responses = conn.read_responses(len(methods), timeout=10)
        assert [r.status for r in responses] == [200] * len(methods), responses
        assert conn.buf == b""


def run_differential(srv, port, data, pieces=None):
    reference = h11_parse(data)
    with srv.cond:
        srv.seen.clear()
    exchange(port, data, [r["method"] for r in reference], pieces)
    compare(srv.wait_seen(len(reference)), reference)
    return reference


def req(method, target, headers, body=b"", te=None):
    lines = [f"{method} {target} HTTP/1.1"] + [f"{n}: {v}" for n, v in headers]
    head = "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"
    return head + body


CASES = {
    "get": req("GET", "/", [("Host", "a")]),
    "header-case-and-repeats": req("GET", "/x", [("host", "a"), ("X-Rep", "1"), ("ACCEPT", "*/*"),
                                                ("x-rep", "2"), ("X-REP", "3")]),
    "values-with-inner-spaces-and-tabs": req("GET", "/", [("Host", "a"), ("User-Agent", "a b\tc  d"),
                                                          ("X-Empty", ""), ("X-Obs-Text", "caf\xe9\xff")]),
    "leading-whitespace-in-values": req("GET", "/", [("Host", "  a"), ("X", "\t\tb")]),
    "tchar-names": req("GET", "/", [("Host", "a"), ("!#$%&'*+-.^_`|~09azAZ", "v")]),
    "query-and-escapes": req("GET", "/p%20q/%E2%82%AC?a=1&a=2&b=%26&c#frag", [("Host", "a")]),
    "absolute-form": req("GET", "http://example.com:8080/x?y=1", [("Host", "example.com:8080")]),
    "asterisk-options": req("OPTIONS", "*", [("Host", "a")]),
    "post-content-length": req("POST", "/p", [("Host", "a"), ("Content-Length", "11")], b"hello world"),
    "post-binary-body": req("PUT", "/b", [("Host", "a"), ("Content-Length", "256")], bytes(range(256))),
    "zero-length-body": req("POST", "/z", [("Host", "a"), ("Content-Length", "0")]),
    "chunked": req("POST", "/c", [("Host", "a"), ("Transfer-Encoding", "chunked")],
                   chunked(b"hello chunked world", [5, 1, 7])),
    "chunked-extensions-and-trailers": req("POST", "/c", [("Host", "a"), ("Transfer-Encoding", "chunked")],
                                           b"5;a=b\r\nhello\r\n6;x;y=\"q s\"\r\n world\r\n0;last\r\n"
                                           b"X-Trailer: t\r\nX-Other: o\r\n\r\n"),
    "chunked-uppercase-hex-and-zero-padding": req("POST", "/c", [("Host", "a"), ("Transfer-Encoding", "chunked")],
                                                  b"0000A\r\n0123456789\r\n00\r\n\r\n"),
    "chunked-big": req("POST", "/c", [("Host", "a"), ("Transfer-Encoding", "chunked")],
                       chunked(bytes(range(256)) * 400, [1, 4095, 4096, 70000])),
    "pipelined-mixed": (req("GET", "/1", [("Host", "a")])
                        + req("POST", "/2", [("Host", "a"), ("Content-Length", "3")], b"abc")
                        + req("POST", "/3", [("Host", "a"), ("Transfer-Encoding", "chunked")], chunked(b"xyz" * 10, [4]))
                        + req("HEAD", "/4", [("Host", "a")])
                        + req("DELETE", "/5", [("Host", "a"), ("Content-Length", "1")], b"!")),
    "pipelined-body-looks-like-a-request": (
        req("POST", "/1", [("Host", "a"), ("Content-Length", "37")], b"GET /not-a-request HTTP/1.1\r\nHost: a\r\n\r\n"[:37])
        + req("GET", "/2", [("Host", "a")])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_as_h11(name):
    data = CASES[name]
    with serving(RecordingServer) as (srv, port):
        run_differential(srv, port, data)
        # And with every byte on its own.
        run_differential(srv, port, data, [data[i:i + 1] for i in range(len(data))] if len(data) < 3000 else None)


def test_trailing_whitespace_in_values_same_as_h11():
    """Trailing OWS is not part of a field value (RFC 9110 5.5)."""
    with serving(RecordingServer) as (srv, port):
        run_differential(srv, port, req("GET", "/", [("Host", "a "), ("X", "b\t")]))


# -- a seeded random generator of valid requests ------------------------------------------

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VCHAR = "".join(chr(c) for c in range(0x21, 0x7f))
OBS_TEXT = "".join(chr(c) for c in range(0x80, 0x100))
PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@"
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
RESERVED = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te", "trailer"}


def random_token(rng, alphabet=TCHAR, lo=1, hi=12):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def random_value(rng):
    """A field value: visible characters and obs-text, inner SP/HTAB, no
    leading or trailing whitespace (which h11 strips)."""
    n = rng.choice([0, 1, 3, 10, 40])
    if n == 0:
        return ""
    chars = [rng.choice(VCHAR + OBS_TEXT[:4]) if rng.random() < 0.9 else rng.choice(" \t") for _ in range(n)]
    chars[0] = rng.choice(VCHAR)
    chars[-1] = rng.choice(VCHAR)
    return "".join(chars)


def random_target(rng):
    if rng.random() < 0.05:
        return "http://example.com/" + random_token(rng, PCHAR, 0, 8)
    segs = []
    for _ in range(rng.randint(0, 4)):
        seg = "".join(rng.choice(PCHAR) if rng.random() < 0.85 else "%%%02X" % rng.randrange(256)
                      for _ in range(rng.randint(0, 8)))
        segs.append(seg)
    target = "/" + "/".join(segs)
    if rng.random() < 0.4:
        target += "?" + "&".join(f"{random_token(rng, PCHAR.replace('&', '').replace('=', ''), 1, 5)}="
                                 f"{random_token(rng, PCHAR, 0, 5)}" for _ in range(rng.randint(1, 3)))
    return target


def random_chunked(rng, body):
    out = bytearray()
    pos = 0
    while pos < len(body):
        size = min(len(body) - pos, rng.choice([1, 2, 7, 100, 1000, 5000]))
        ext = "" if rng.random() < 0.7 else ";" + random_token(rng) + ("=" + random_token(rng) if rng.random() < 0.5 else "")
        size_text = ("%x" if rng.random() < 0.5 else "%X") % size
        out += size_text.encode() + ext.encode() + b"\r\n" + body[pos:pos + size] + b"\r\n"
        pos += size
    out += b"0\r\n"
    for _ in range(rng.choice([0, 0, 1, 2])):
        out += f"X-T-{random_token(rng, 'abc', 1, 3)}: {random_value(rng)}\r\n".encode("latin-1")
    return bytes(out + b"\r\n")


def random_request(rng):
    method = rng.choice(METHODS)
    headers = [("Host" if rng.random() < 0.5 else rng.choice(["host", "HOST", "hOsT"]),
                rng.choice(["a", "example.com", "example.com:8080", "[::1]:80", ""]))]
    for _ in range(rng.choice([0, 1, 2, 5, 20])):
        name = random_token(rng)
        if name.lower() in RESERVED:
            continue
        headers.append((name, random_value(rng)))
    rng.shuffle(headers)
    kind = rng.choice(["none", "none", "cl", "chunked"])
    size = rng.choice([0, 1, 10, 100, 4096, 20000])
    body = rng.randbytes(size)
    if kind == "cl":
        headers.insert(rng.randrange(len(headers) + 1), ("Content-Length" if rng.random() < 0.7 else "content-length",
                                                         str(size)))
        raw_body = body
    elif kind == "chunked":
        headers.insert(rng.randrange(len(headers) + 1), ("Transfer-Encoding", rng.choice(["chunked", "Chunked"])))
        raw_body = random_chunked(rng, body)
    else:
        raw_body = b""
    return req(method, random_target(rng), headers, raw_body)


def random_pieces(rng, data):
    if rng.random() < 0.5:
        return None
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 8))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_valid_requests_same_as_h11(seed):
    rng = random.Random(seed)
    total = 0
    with serving(RecordingServer, max_header_size=1 << 16) as (srv, port):
        for _ in range(50):
            data = b"".join(random_request(rng) for _ in range(rng.randint(1, 4)))
            reference = run_differential(srv, port, data, random_pieces(rng, data))
            total += len(reference)
    assert total > 50
