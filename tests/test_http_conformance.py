"""HttpServer against malformed, ambiguous and hostile requests, on raw
sockets.

Each case of the table gives the exact bytes, the exact statuses of the
responses that must come back (interim 100s included), whether the server
then closes the connection, and the targets the handler must have seen, in
order.  A connection that must stay open is checked by a follow-up request
on it, which must be answered (a misframed body would swallow it).  Some
cases are sent a second time one byte per write, for the same verdict.  Smuggling
payloads carry a second request for ``/smuggled``, which the handler must
never see.

The categories follow the known holes of HP-Socket 5.2.2's parser,
http_parser 2.8.0 (Content-Length with Transfer-Encoding, Transfer-Encoding
other than chunked, "1 2" read as 12, obs-fold, missing or repeated Host,
chunk-size garbage, chunk extensions, HTTP/1.2, the 80 KiB header limit) and
the payload families of public request-smuggling and HTTP/1.1 conformance
corpora (llhttp's request tests, Http11Probe, http-garden, smuggler).
"""

from collections import namedtuple

import pytest

from http_support import RawConn, RecordingServer, isolated, serving

Case = namedtuple("Case", "data statuses closes seen options split")

OK = b"POST / HTTP/1.1\r\nHost: a\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


# Cases also sent one byte per write: the verdicts must not depend on how
# the bytes arrive.
SPLIT_IDS = {"valid-post-chunked", "smuggle-cl-te", "smuggle-te-cl", "obs-fold-space", "expect-100-continue",
             "body-then-pipelined-request", "valid-then-refused-then-request"}


def case(id, data, statuses, closes, seen=(), marks=(), **options):
    return pytest.param(Case(data, list(statuses), closes, list(seen), options, id in SPLIT_IDS), id=id, marks=marks)


def xfail(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


def chunked_post(te_lines, body=b"3\r\nabc\r\n0\r\n\r\n", extra=b""):
    return b"POST / HTTP/1.1\r\nHost: a\r\n" + te_lines + extra + b"\r\n" + body


CASES = [
    # -- a baseline -------------------------------------------------------------------
    case("valid-get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", [200], False, ["/"]),
    case("valid-post-cl", OK + b"Content-Length: 3\r\n\r\nabc", [200], False, ["/"]),
    case("valid-post-chunked", chunked_post(b"Transfer-Encoding: chunked\r\n"), [200], False, ["/"]),
    case("leading-empty-line", b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", [200], False, ["/"]),

    # -- Content-Length with Transfer-Encoding ----------------------------------------------
    case("cl-then-te", OK + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", [400], True),
    case("te-then-cl", OK + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", [400], True),
    case("cl-0-with-te", OK + b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", [400], True),
    case("cl-with-bad-te", OK + b"Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         [501], True),

    # -- Transfer-Encoding variants ---------------------------------------------------------
    case("te-chunked-identity", chunked_post(b"Transfer-Encoding: chunked, identity\r\n"), [501], True),
    case("te-identity", chunked_post(b"Transfer-Encoding: identity\r\n", b""), [501], True),
    case("te-gzip-chunked", chunked_post(b"Transfer-Encoding: gzip, chunked\r\n"), [501], True),
    case("te-xchunked", chunked_post(b"Transfer-Encoding: xchunked\r\n"), [501], True),
    case("te-chunked-comma", chunked_post(b"Transfer-Encoding: chunked,\r\n"), [501], True),
    case("te-empty", chunked_post(b"Transfer-Encoding:\r\n"), [501], True),
    case("te-vertical-tab", chunked_post(b"Transfer-Encoding: \x0bchunked\r\n"), [501], True),
    case("te-leading-spaces", chunked_post(b"Transfer-Encoding:   chunked\r\n"), [200], False, ["/"]),
    case("te-leading-tab", chunked_post(b"Transfer-Encoding:\tchunked\r\n"), [200], False, ["/"]),
    case("te-Chunked", chunked_post(b"Transfer-Encoding: Chunked\r\n"), [200], False, ["/"]),
    case("te-two-lines-chunked-identity",
         chunked_post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"), [400], True),
    case("te-two-lines-identity-chunked",
         chunked_post(b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n"), [501], True),
    case("te-two-lines-chunked-twice",
         chunked_post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), [400], True),
    case("te-space-before-colon", chunked_post(b"Transfer-Encoding : chunked\r\n"), [400], True),
    case("te-folded-identity-chunked", chunked_post(b"Transfer-Encoding: identity\r\n chunked\r\n"), [501], True),
    # Trailing OWS is not part of a field value (RFC 9110 5.5).
    case("te-trailing-space", chunked_post(b"Transfer-Encoding: chunked \r\n"), [200], False, ["/"]),
    case("te-trailing-spaces", chunked_post(b"Transfer-Encoding: chunked  \r\n"), [200], False, ["/"]),

    # -- Content-Length variants -------------------------------------------------------------
    case("cl-1-space-2", OK + b"Content-Length: 1 2\r\n\r\n123456789012", [400], True),
    case("cl-plus", OK + b"Content-Length: +3\r\n\r\nabc", [400], True),
    case("cl-minus", OK + b"Content-Length: -1\r\n\r\nabc", [400], True),
    case("cl-hex", OK + b"Content-Length: 0x10\r\n\r\n0123456789abcdef", [400], True),
    case("cl-empty", OK + b"Content-Length:\r\n\r\n", [400], True),
    case("cl-comma-list", OK + b"Content-Length: 3, 3\r\n\r\nabc", [400], True),
    case("cl-20-digits", OK + b"Content-Length: 99999999999999999999\r\n\r\nabc", [400], True),
    # http_parser 2.8.0 rejects a second Content-Length even with the same value.
    case("cl-duplicate-same", OK + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", [400], True),
    case("cl-duplicate-different", OK + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", [400], True),
    case("cl-leading-zeros", OK + b"Content-Length: 003\r\n\r\nabc", [200], False, ["/"]),
    case("cl-leading-tab", OK + b"Content-Length:\t3\r\n\r\nabc", [200], False, ["/"]),
    case("cl-over-max-body", OK + b"Content-Length: 1000000000\r\n\r\nabc", [413], True),
    case("cl-trailing-space", OK + b"Content-Length: 3 \r\n\r\nabc", [200], False, ["/"]),
    # http_parser 2.8.0 refuses a trailing HTAB in Content-Length (RFC 9110 would
    # accept it); refusing is safe.
    case("cl-trailing-tab", OK + b"Content-Length: 3\t\r\n\r\nabc", [400], True),

    # -- Host ------------------------------------------------------------------------------
    case("host-missing-1.1", b"GET / HTTP/1.1\r\n\r\n", [400], True),
    case("host-missing-absolute-form", b"GET http://a/ HTTP/1.1\r\n\r\n", [400], True),
    case("host-duplicate", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", [400], True),
    case("host-duplicate-other-case", b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", [400], True),
    case("host-missing-1.0", b"GET / HTTP/1.0\r\n\r\n", [200], True, ["/"]),
    case("host-empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", [200], False, ["/"]),

    # -- obs-fold and header syntax ------------------------------------------------------
    case("obs-fold-space", b"GET / HTTP/1.1\r\nHost: a\r\nX-F: one\r\n two\r\n\r\n", [400], True),
    case("obs-fold-tab", b"GET / HTTP/1.1\r\nHost: a\r\nX-F: one\r\n\ttwo\r\n\r\n", [400], True),
    case("obs-fold-first-line", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", [400], True),
    case("obs-fold-after-colon", OK + b"Content-Length:\r\n 3\r\n\r\nabc", [400], True,
         marks=xfail("an obs-fold right after the colon ('Content-Length:\\r\\n 3') is not refused: "
                     "http_parser 2.8.0 skips the fold while the value is still empty and reports "
                     "'3' with no leading whitespace, which the binding's fold check (a value "
                     "starting with SP/HTAB) cannot see; the request is read as Content-Length 3, "
                     "the RFC 9112 5.2 'replace with SP' reading, so it is not a smuggling vector")),
    case("space-before-colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", [400], True),
    case("tab-before-colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", [400], True),
    case("nul-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", [400], True),
    case("cr-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", [400], True),
    case("del-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", [400], True),
    case("empty-name", b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", [400], True),
    case("bad-name-char", b"GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n", [400], True),
    case("ctl-in-name", b"GET / HTTP/1.1\r\nHost: a\r\nX\x01Y: 1\r\n\r\n", [400], True),
    case("line-without-colon", b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", [400], True),
    case("bare-cr-line-ends", b"GET / HTTP/1.1\rHost: a\r\r", [400], True),
    case("obs-text-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n", [200], False, ["/"]),
    case("tab-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", [200], False, ["/"]),

    # -- chunked framing ---------------------------------------------------------------------
    case("chunk-size-0x3", chunked_post(b"Transfer-Encoding: chunked\r\n", b"0x3\r\nabc\r\n0\r\n\r\n"), [400], True),
    case("chunk-size-minus", chunked_post(b"Transfer-Encoding: chunked\r\n", b"-1\r\nabc\r\n0\r\n\r\n"), [400], True),
    case("chunk-size-0_2e", chunked_post(b"Transfer-Encoding: chunked\r\n", b"0_2e\r\n\r\n"), [400], True),
    case("chunk-size-leading-space", chunked_post(b"Transfer-Encoding: chunked\r\n", b" 3\r\nabc\r\n0\r\n\r\n"),
         [400], True),
    case("chunk-size-overflow",
         chunked_post(b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), [400], True),
    case("chunk-size-uppercase-hex",
         chunked_post(b"Transfer-Encoding: chunked\r\n", b"A\r\n0123456789\r\n0\r\n\r\n"), [200], False, ["/"]),
    case("chunk-data-too-long", chunked_post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcX\r\n0\r\n\r\n"),
         [400], True),
    case("chunk-data-then-bare-lf", chunked_post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\n0\r\n\r\n"),
         [400], True),
    case("chunk-lines-bare-lf", chunked_post(b"Transfer-Encoding: chunked\r\n", b"3\nabc\n0\n\n"), [400], True),
    case("chunk-ext", chunked_post(b"Transfer-Encoding: chunked\r\n", b"3;foo=bar\r\nabc\r\n0\r\n\r\n"),
         [200], False, ["/"]),
    case("chunk-ext-bws", chunked_post(b"Transfer-Encoding: chunked\r\n", b"3 ;a=b\r\nabc\r\n0\r\n\r\n"),
         [200], False, ["/"]),
    case("chunk-ext-bare-cr", chunked_post(b"Transfer-Encoding: chunked\r\n", b"3;a\rb\r\nabc\r\n0\r\n\r\n"),
         [400], True),
    case("chunk-ext-bare-lf-then-request",
         chunked_post(b"Transfer-Encoding: chunked\r\n", b"3;x\nabc\r\n0\r\n\r\n" + SMUGGLED), [400], True),
    case("chunk-size-garbage-after-space",
         chunked_post(b"Transfer-Encoding: chunked\r\n", b"3 xyz\r\nabc\r\n0\r\n\r\n"), [400], True,
         marks=xfail("chunk size '3 xyz' is accepted as 3: http_parser 2.8.0 reads anything after the "
                     "size and a space as a chunk extension, and the binding sees only the size "
                     "(OnChunkHeader), so it cannot refuse it; RFC 9112 7.1 allows only "
                     "BWS ';' ext after the size")),
    case("trailer-folded", chunked_post(b"Transfer-Encoding: chunked\r\n", b"0\r\nX: a\r\n b\r\n\r\n"),
         [200], False, ["/"]),
    case("trailers-over-library-80k",
         chunked_post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n"
                      + b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 100) for i in range(1000)) + b"\r\n"),
         [431], True),
    case("trailer-content-length",
         chunked_post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\nContent-Length: 50\r\n\r\n"),
         [200], False, ["/"]),

    # -- methods ----------------------------------------------------------------------------
    case("unknown-method", b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", [501], True),
    case("lowercase-method", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", [501], True),
    case("long-method", b"GETTTTTTTTTTTTTTTTTTTTT / HTTP/1.1\r\nHost: a\r\n\r\n", [501], True),
    case("webdav-method", b"PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n", [200], False, ["/"]),
    case("connect-authority-form", b"CONNECT a:80 HTTP/1.1\r\nHost: a:80\r\n\r\n" + SMUGGLED, [200], True,
         ["a:80"]),
    case("garbage-tls-client-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)),
         [400], True,
         marks=xfail("bytes that cannot start a request line (a TLS ClientHello, 0x16) are answered "
                     "501 Not Implemented: every HPE_INVALID_METHOD is mapped to 501, but a request "
                     "line whose method is not even a token is malformed, a 400 (RFC 9112 3)")),
    case("garbage-nul-bytes", b"\x00\x01\x02\x03\r\n\r\n", [400], True,
         marks=xfail("NUL and control bytes in place of a request line are answered 501 Not "
                     "Implemented (HPE_INVALID_METHOD mapped to 501) instead of 400")),

    # -- request targets ------------------------------------------------------------------
    case("absolute-form", b"GET http://a/x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n", [200], False, ["http://a/x?y=1"]),
    case("asterisk-form-options", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", [200], False, ["*"]),
    case("fragment-kept-raw", b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", [200], False, ["/a#frag"]),
    case("double-space-after-method", b"GET  /d HTTP/1.1\r\nHost: a\r\n\r\n", [200], False, ["/d"]),
    case("target-with-space", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", [400], True),
    case("target-with-del", b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", [400], True),
    case("target-without-slash", b"GET a HTTP/1.1\r\nHost: a\r\n\r\n", [400], True),
    case("tabs-in-request-line", b"GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n", [501], True),
    case("target-too-long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", [414], True),
    case("target-at-limit", b"GET /" + b"a" * 8191 + b" HTTP/1.1\r\nHost: a\r\n\r\n", [200], False,
         ["/" + "a" * 8191]),
    case("target-over-own-limit", b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n", [414], True,
         max_target_length=100),

    # -- header block size --------------------------------------------------------------------
    case("header-block-over-limit", b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 70000 + b"\r\n\r\n", [431], True),
    case("header-block-over-library-80k",
         b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * (90 * 1024) + b"\r\n\r\n", [431], True,
         max_header_size=1 << 20),
    case("many-small-headers",
         b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(500)) + b"\r\n",
         [200], False, ["/"]),
    case("too-many-small-headers",
         b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(8000)) + b"\r\n",
         [431], True),
    case("request-line-counts-toward-limit",
         b"GET /" + b"a" * 900 + b" HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 200 + b"\r\n\r\n", [431], True,
         max_header_size=1000),

    # -- versions --------------------------------------------------------------------------
    case("http-1.0", b"GET /ten HTTP/1.0\r\nHost: a\r\n\r\n", [200], True, ["/ten"]),
    case("http-1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", [200], False, ["/"]),
    case("http-2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", [505], True),
    case("http-0.9-explicit", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", [505], True),
    case("http-0.9-style-then-empty-line", b"GET /\r\n\r\n", [505], True),
    case("version-lowercase", b"GET / http/1.1\r\nHost: a\r\n\r\n", [400], True),
    case("version-1.10", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", [400], True),
    case("version-no-minor", b"GET / HTTP/1\r\nHost: a\r\n\r\n", [400], True),
    case("version-trailing-space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", [400], True),

    # -- Expect -----------------------------------------------------------------------------
    case("expect-100-continue", OK + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", [100, 200], False,
         ["/"]),
    case("expect-100-continue-mixed-case", OK + b"Expect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc",
         [100, 200], False, ["/"]),
    case("expect-100-continue-chunked", chunked_post(b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n"),
         [100, 200], False, ["/"]),
    case("expect-100-continue-no-body", b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", [200],
         False, ["/"]),
    case("expect-100-continue-over-limit", OK + b"Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n",
         [413], True),
    case("expect-100-continue-trailing-space", OK + b"Expect: 100-continue \r\nContent-Length: 3\r\n\r\nabc",
         [100, 200], False, ["/"]),
    case("expect-other", OK + b"Expect: foo\r\nContent-Length: 0\r\n\r\n", [417], True),
    case("expect-empty", b"GET / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", [417], True),

    # -- Connection, Upgrade and what follows a closing request ---------------------------
    case("connection-close-then-request", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + SMUGGLED,
         [200], True, ["/"]),
    case("connection-keep-alive-close", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n"
         + SMUGGLED, [200], True, ["/"]),
    case("connection-close-trailing-space", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close \r\n\r\n" + SMUGGLED,
         [200], True, ["/"]),
    # http_parser 2.8.0 takes "close" only before SP, "," or the line end, so
    # "close\t" would be read as keep-alive: a framing header with a tab is refused.
    case("connection-close-trailing-tab", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\t\r\n\r\n" + SMUGGLED,
         [400], True),
    case("http-1.0-then-request", b"GET / HTTP/1.0\r\n\r\n" + SMUGGLED, [200], True, ["/"]),
    case("upgrade-h2c-then-request", b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"
         + SMUGGLED, [200], True, ["/"]),
    case("upgrade-websocket-then-request",
         b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" + SMUGGLED,
         [200], True, ["/"]),
    case("upgrade-post-with-body", OK + b"Upgrade: h2c\r\nConnection: upgrade\r\nContent-Length: 5\r\n\r\nhello"
         + SMUGGLED, [200], True, ["/"]),

    # -- pipelines and smuggling -------------------------------------------------------------
    case("body-then-pipelined-request",
         b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
         [200, 200], False, ["/a", "/b"]),
    case("chunked-then-pipelined-request",
         chunked_post(b"Transfer-Encoding: chunked\r\n") + b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
         [200, 200], False, ["/", "/b"]),
    case("valid-then-refused-then-request",
         b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n\r\n" + SMUGGLED, [200, 400], True, ["/a"]),
    case("smuggle-cl-te",
         OK + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, [400], True),
    case("smuggle-te-cl",
         OK + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
         b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED), [400], True),
    case("smuggle-te-gzip-chunked",
         OK + b"Transfer-Encoding: gzip, chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED),
         [501], True),
    case("smuggle-te-identity-body", OK + b"Transfer-Encoding: identity\r\n\r\n" + SMUGGLED, [501], True),
    case("smuggle-two-te", OK + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
         b"0\r\n\r\n" + SMUGGLED, [400], True),
    case("smuggle-cl-1-space-2", OK + b"Content-Length: 0 38\r\n\r\n" + SMUGGLED, [400], True),
    case("smuggle-cl-duplicate", OK + b"Content-Length: 0\r\nContent-Length: 38\r\n\r\n" + SMUGGLED, [400], True),
    case("smuggle-cl-empty", OK + b"Content-Length:\r\n\r\n" + SMUGGLED, [400], True),
    case("smuggle-obs-fold-te", OK + b"Content-Length: 38\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n"
         + SMUGGLED, [400], True),
    case("smuggle-te-space-before-colon", OK + b"Transfer-Encoding : chunked\r\nContent-Length: 38\r\n\r\n"
         + SMUGGLED, [400], True),
    case("smuggle-refused-head-with-body", b"GET / HTTP/1.1\r\nContent-Length: 38\r\n\r\n" + SMUGGLED, [400], True),
    case("smuggle-413-body", OK + b"Content-Length: 38\r\n\r\n" + SMUGGLED, [413], True, max_body_size=10),
]


def _send_whole(conn, data):
    conn.send(data)


def _send_bytewise(conn, data):
    for i in range(len(data)):
        if not conn.send(data[i:i + 1]):
            break   # already refused and closed


@isolated
def _run_case(c):
    with serving(RecordingServer, **c.options) as (srv, port):
        for send in [_send_whole, _send_bytewise] if c.split else [_send_whole]:
            with srv.cond:
                srv.seen.clear()
            _check_case(c, srv, port, send)
        # The server keeps serving new connections.
        with RawConn(port) as conn:
            assert conn.request("GET", "/next").status == 200


def _check_case(c, srv, port, send):
    with RawConn(port) as conn:
        send(conn, c.data)
        got = []
        for _ in c.statuses:
            r = conn.read_response(interim=True)
            got.append(r.status)
            if r.status >= 400:
                # hpsocket's own answers: a body, its length, and the close.
                assert r.get("Connection") == "close" and int(r.get("Content-Length")) == len(r.body) > 0
        assert got == c.statuses
        if c.closes:
            assert conn.wait_closed(1), "the connection was not closed"
            assert conn.buf == b"", f"more came before the close: {conn.buf[:200]!r}"
            seen = c.seen
        else:
            # Still open, and framed right: a follow-up is answered.
            conn.send(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n", ["GET"])
            r = conn.read_response()
            assert r.status == 200 and b'"/after"' in r.body
            assert conn.buf == b"" and not conn.closed
            seen = c.seen + ["/after"]
    assert srv.targets() == seen
    assert srv.errors == []


@pytest.mark.parametrize("c", CASES)
def test_request(c):
    _run_case(c)


@pytest.mark.parametrize("body", [b"3\r\nabc\r\n0\r\n\r\n", SMUGGLED], ids=["chunked-body", "request-as-body"])
@pytest.mark.parametrize("te", [b"chunked\t", b"chunked \t"], ids=["tab", "space-tab"])
@isolated
def test_transfer_encoding_with_trailing_tab_is_chunked_or_refused(te, body):
    """Either read as chunked (the RFC's reading) or refused and closed;
    never framed as bodiless with the body parsed as the next request."""
    with serving(RecordingServer) as (srv, port):
        with RawConn(port) as conn:
            conn.send(OK + b"Transfer-Encoding: " + te + b"\r\n\r\n" + body, ["POST"])
            r = conn.read_response()
            if r.status == 200:
                assert body != SMUGGLED
                assert srv.seen[0]["body"] == b"abc"
                assert conn.request("GET", "/after").status == 200
            else:
                assert r.status in (400, 501)
                assert conn.wait_closed(5) and conn.buf == b""
        assert "/smuggled" not in srv.targets()
        assert all(s["body"] == b"abc" for s in srv.seen if s["target"] == "/")


def test_bare_lf_line_endings_get_a_sane_answer():
    """http_parser accepts bare LF line ends (RFC 9112 allows it): either
    served, with the connection usable, or refused with 400 and closed."""
    with serving(RecordingServer) as (srv, port):
        with RawConn(port) as conn:
            conn.send(b"GET /lf HTTP/1.1\nHost: a\nX-A: b\n\n", ["GET"])
            r = conn.read_response()
            assert r.status in (200, 400)
            if r.status == 200:
                assert srv.seen[0]["headers"] == [("Host", "a"), ("X-A", "b")]
                assert conn.request("GET", "/again").status == 200
            else:
                assert conn.wait_closed(5)
        assert "/smuggled" not in srv.targets()


def test_http_0_9_request_line_alone_times_out_with_408():
    """'GET /' then CRLF: the parser takes it as HTTP/0.9 and waits for
    headers; header_timeout ends the wait."""
    with serving(RecordingServer, header_timeout=0.3) as (srv, port):
        with RawConn(port) as conn:
            conn.send(b"GET /\r\n")
            r = conn.read_response(timeout=5)
            assert r.status in (400, 408, 505)
            assert conn.wait_closed(5)
        assert srv.targets() == []


@pytest.mark.xfail(strict=True, reason=(
    "a chunk extension ended by a bare LF ('3;x\\nabc\\r\\n0\\r\\n\\r\\n') is not refused: "
    "http_parser 2.8.0 swallows everything up to the next CR as the extension and then reads "
    "'0\\r\\n' as the chunk data, so the request waits for more chunks (answered only by the "
    "body_timeout's 408) instead of a 400 at once; the binding never sees the raw chunk line"))
@isolated
def test_chunk_extension_with_bare_lf_is_refused_at_once():
    with serving(RecordingServer, body_timeout=2.0) as (srv, port):
        with RawConn(port) as conn:
            conn.send(OK + b"Transfer-Encoding: chunked\r\n\r\n3;x\nabc\r\n0\r\n\r\n")
            r = conn.read_response(timeout=0.7)
            assert r.status == 400
        assert srv.targets() == []


def test_nothing_after_a_408_is_handled():
    """Once a slow request got its 408, what the client sends next (the rest
    of that request, another request) must not reach the handler."""
    with serving(RecordingServer, header_timeout=0.5, body_timeout=0.5) as (srv, port):
        conns = [RawConn(port), RawConn(port)]
        try:
            conns[0].send(b"GET /slow-head HTTP/1.1\r\nHost: a\r\n")
            conns[1].send(OK + b"Content-Length: 5\r\n\r\nab")
            for conn, rest in zip(conns, [b"\r\n" + SMUGGLED, b"cde" + SMUGGLED]):
                assert conn.read_response(timeout=5).status == 408
                conn.send(rest)
            for conn in conns:
                assert conn.wait_closed(5)
                assert conn.buf == b""
        finally:
            for conn in conns:
                conn.close()
        assert srv.targets() == []
