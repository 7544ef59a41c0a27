"""Real ASGI applications for the ASGI server's tests: a Starlette app and a
FastAPI app, written as their documentation shows, nothing hpsocket-specific.
Served by hpsocket.asgi and by uvicorn alike (tests/test_asgi.py)."""

import asyncio
import contextlib
import os
import tempfile
import threading

from fastapi import BackgroundTasks, FastAPI, WebSocket as FastAPIWebSocket, WebSocketDisconnect
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute

# A file for FileResponse: 256 KiB of a known pattern.
FILE_DATA = bytes(range(256)) * 1024
_fd, FILE_PATH = tempfile.mkstemp(prefix="hpsocket-asgi-", suffix=".bin")
with os.fdopen(_fd, "wb") as _f:
    _f.write(FILE_DATA)

# What background tasks did, for the tests to see (threading: they check
# from another thread than the server's loop).
background_done = threading.Event()
background_log = []
entered = threading.Event()     # a slow handler has begun


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello from lifespan"}


async def homepage(request):
    return PlainTextResponse("Hello, World!")


async def user(request):
    return JSONResponse({"user": request.path_params["name"],
                         "q": request.query_params.get("q"),
                         "greeting": request.state.greeting})


async def echo(request):
    body = await request.body()
    return Response(body, media_type=request.headers.get("content-type", "application/octet-stream"))


async def stream(request):
    n = int(request.query_params.get("n", "5"))

    async def pieces():
        for i in range(n):
            yield f"piece {i}\n".encode()
            await asyncio.sleep(0)
    return StreamingResponse(pieces(), media_type="text/plain")


async def big_stream(request):
    """8 MiB streamed in 64 KiB pieces (flow control: a slow client)."""
    piece = b"x" * 65536

    async def pieces():
        for _ in range(128):
            yield piece
    return StreamingResponse(pieces(), media_type="application/octet-stream")


async def file(request):
    return FileResponse(FILE_PATH, media_type="application/octet-stream")


async def boom(request):
    raise RuntimeError("boom")


async def wait_disconnect(request):
    """Answers only once the client has gone (then nobody reads it)."""
    entered.set()
    for _ in range(1000):
        if await request.is_disconnected():
            background_log.append("disconnected")
            background_done.set()
            return PlainTextResponse("gone")
        await asyncio.sleep(0.01)
    return PlainTextResponse("still here")


async def slow(request):
    entered.set()
    await asyncio.sleep(float(request.query_params.get("s", "0.5")))
    return PlainTextResponse("slow done")


# What the WebSocket endpoints saw of the client's close: (code, reason).
ws_closes = []
ws_closed = threading.Event()


async def ws_echo(websocket):
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=offered[0] if offered else None)
    while True:
        msg = await websocket.receive()
        if msg["type"] == "websocket.disconnect":
            ws_closes.append((msg.get("code"), msg.get("reason", "")))
            ws_closed.set()
            return
        if msg.get("text") is not None:
            await websocket.send_text(msg["text"])
        else:
            await websocket.send_bytes(msg["bytes"])


async def ws_deny(websocket):
    await websocket.close(code=1008)


async def ws_denial_response(websocket):
    await websocket.send_denial_response(PlainTextResponse("members only", status_code=401))


async def ws_goodbye(websocket):
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close(code=4000, reason="bye")


starlette_app = Starlette(lifespan=lifespan, routes=[
    WebSocketRoute("/ws", ws_echo),
    WebSocketRoute("/ws-deny", ws_deny),
    WebSocketRoute("/ws-denial", ws_denial_response),
    WebSocketRoute("/ws-goodbye", ws_goodbye),
    Route("/", homepage),
    Route("/users/{name}", user),
    Route("/echo", echo, methods=["POST", "PUT"]),
    Route("/stream", stream),
    Route("/big", big_stream),
    Route("/file", file),
    Route("/boom", boom),
    Route("/wait-disconnect", wait_disconnect),
    Route("/slow", slow),
])


# -- FastAPI ------------------------------------------------------------------------

class Item(BaseModel):
    name: str
    price: float
    tags: list = []


@contextlib.asynccontextmanager
async def fastapi_lifespan(app):
    app.state.items = {}
    yield {"started": True}


fastapi_app = FastAPI(lifespan=fastapi_lifespan)


@fastapi_app.get("/items/{item_id}")
async def read_item(item_id: int, q: str = None):
    return {"item_id": item_id, "q": q}


@fastapi_app.post("/items/")
async def create_item(item: Item, request: Request):
    request.app.state.items[item.name] = item
    return {"name": item.name, "price_with_tax": round(item.price * 1.2, 2), "tags": item.tags,
            "started": request.state.started}


def _remember(what):
    background_log.append(what)
    background_done.set()


@fastapi_app.post("/notify/{who}")
async def notify(who: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(_remember, f"notified {who}")
    return {"queued": who}


@fastapi_app.get("/plaintext")
async def plaintext():
    return Response(b"Hello, World!", media_type="text/plain")


@fastapi_app.get("/json")
async def json_endpoint():
    return {"message": "Hello, World!"}


@fastapi_app.websocket("/ws/{room}")
async def room(websocket: FastAPIWebSocket, room: str):
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"room": room, "echo": data})
    except WebSocketDisconnect as exc:
        ws_closes.append((exc.code, exc.reason or ""))
        ws_closed.set()
