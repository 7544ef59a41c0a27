"""A real browser (headless Chromium) against HttpServer's WebSocket: it
loads a page over HTTP, which connects, echoes a text and a binary message,
checks the answers and closes with 1000.  What the page saw comes back to
the server as a last message.  Skipped where Chromium is not installed
(Debian: apt-get install chromium)."""

import os
import queue
import shutil
import signal
import subprocess
import tempfile

import pytest

import hpsocket
from ws_support import serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")

PAGE = b"""<!doctype html><meta charset="utf-8"><title>ws</title><script>
const ws = new WebSocket("ws://" + location.host + "/echo", ["echo.v1"]);
ws.binaryType = "arraybuffer";
const seen = [];
ws.onopen = () => {
  seen.push("open:" + ws.protocol);
  ws.send("h\\u00e9llo \\ud83c\\udf0d");
  ws.send(new Uint8Array([0, 1, 2, 253, 254, 255]).buffer);
};
ws.onmessage = (e) => {
  if (typeof e.data === "string") {
    seen.push("text:" + (e.data === "h\\u00e9llo \\ud83c\\udf0d"));
  } else {
    const b = new Uint8Array(e.data);
    seen.push("binary:" + (b.length === 6 && b[0] === 0 && b[5] === 255));
  }
  if (seen.length === 3) {
    ws.send("result " + seen.join(" "));
    ws.close(1000, "page done");
  }
};
</script>"""


class Page(hpsocket.HttpServer):
    def __init__(self, **options):
        super().__init__(**options)
        self.events = queue.Queue()

    def on_request(self, request):
        return 200, [("Content-Type", "text/html; charset=utf-8")], PAGE

    def on_websocket(self, request):
        self.events.put(("websocket", request.headers.get("Sec-WebSocket-Protocol")))
        return "echo.v1"

    def on_ws_message(self, conn_id, message):
        if isinstance(message, str) and message.startswith("result "):
            self.events.put(("result", message))
        else:
            self.ws_send(conn_id, message)

    def on_ws_close(self, conn_id, code, reason):
        self.events.put(("close", code, reason))


def test_headless_chromium_echoes_text_and_binary_and_closes():
    profile = tempfile.mkdtemp(prefix="hpsocket-chromium-")
    try:
        with serving(Page) as (srv, port):
            # Its own process group: Chromium's helpers (zygote, renderer,
            # crash handler) outlive a kill of the main process and go on
            # writing into the profile.
            browser = subprocess.Popen(
                [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-extensions",
                 "--no-first-run", "--user-data-dir=" + profile, "--remote-debugging-port=0",
                 f"http://127.0.0.1:{port}/"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, HOME=profile),
                start_new_session=True)
            try:
                assert srv.events.get(timeout=30) == ("websocket", "echo.v1")
                assert srv.events.get(timeout=15) == ("result", "result open:echo.v1 text:true binary:true")
                assert srv.events.get(timeout=15) == ("close", 1000, "page done")
            finally:
                try:
                    os.killpg(browser.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                browser.wait(15)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
