"""``GET /api/v1/ws``: the live view's WebSocket.

Client to server, JSON text frames::

    {"op": "subscribe", "topics": ["fills", "bars:NSE:RELIANCE"]}
    {"op": "unsubscribe", "topics": ["fills"]}
    {"op": "ping"}

Server to client: ``{"op": "snapshot", "topic", "seq", "data"}`` once per subscribed topic,
then ``{"op": "update", "topic", "seq", "data"}`` per message (``seq`` rises by exactly 1 per
topic), ``{"op": "pong"}``, and ``{"op": "error", "error": {"code", "message", "details"}}``
for a message the server cannot use; a bad message never closes the connection (only a frame
over :data:`MAX_CLIENT_MESSAGE_BYTES` or invalid UTF-8 does, as the WebSocket protocol wants).
The server pings every ``web.ws_heartbeat_s`` and closes a client that does not answer.

Snapshots: ``actors`` is the ``GET actors`` report, ``state`` the ``GET state`` report; any
other topic is a list of its recent messages (the latest per instrument and kind for market
data, the last 100 otherwise). Subscribing is idempotent: a topic the client already has gets
no second snapshot and nothing else (to resync one topic, unsubscribe and subscribe again).
Close codes: 1001 when the server shuts down; 4000 with
"too slow: resubscribe to resync" when the client's queue overflows (:mod:`web.live`).

No token is needed unless ``web.ws_requires_token`` (then ``?token=...``). A browser page may
open the socket only from the server's own origin or one of ``web.cors_origins``: browsers do
not apply CORS to WebSockets, so without this check any site could read the live view.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from web.auth import origin_allowed, token_matches, unauthorized
from web.errors import ApiError
from web.live import LiveClient, LiveView
from web.models import ClientOp, ErrorBody, ErrorFrame, Ping, PongFrame, Subscribe, Unsubscribe
from web.ports import EngineHandle
from web.topics import allowed_topics_text, is_live_topic

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024

_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(ClientOp)
_encode = msgspec.json.encode


def websocket_handler(engine: EngineHandle, live: LiveView) -> Any:
    """The aiohttp handler of ``/api/v1/ws`` for this engine and live view."""
    config = engine.config.web
    origins = frozenset(config.cors_origins)

    async def handle(request: web.Request) -> web.StreamResponse:
        if config.ws_requires_token and not token_matches(
            request.query.get("token", ""), engine.api_token
        ):
            raise unauthorized("the live view needs ?token=<API token>")
        if not origin_allowed(request, origins):
            raise ApiError(
                403,
                "forbidden",
                "this origin may not open the live view; add it to web.cors_origins",
                {"origin": request.headers.get("Origin", "")},
            )
        ws: web.WebSocketResponse = web.WebSocketResponse(
            heartbeat=config.ws_heartbeat_s,
            max_msg_size=MAX_CLIENT_MESSAGE_BYTES,
            # One encoded frame is shared by every client; compressing would redo the work
            # per client on the loop.
            compress=False,
        )
        await ws.prepare(request)
        client = live.attach(ws, request.transport)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    _handle_text(live, client, message.data)
                elif message.type is WSMsgType.BINARY:
                    _reply_error(live, client, "bad_message", "send JSON in text frames", {})
                # ERROR and CLOSE end the iteration; PING and PONG are answered by aiohttp.
        finally:
            await live.detach(client)
        return ws

    return handle


def _handle_text(live: LiveView, client: LiveClient, text: str) -> None:
    try:
        op = _decoder.decode(text)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        _reply_error(
            live,
            client,
            "bad_message",
            "expected a JSON object with op: subscribe, unsubscribe or ping",
            {"reason": str(exc)},
        )
        return
    if isinstance(op, Ping):
        live.reply(client, _encode(PongFrame()))
        return
    assert isinstance(op, Subscribe | Unsubscribe)
    unknown = [topic for topic in op.topics if not is_live_topic(topic)]
    if unknown:
        _reply_error(
            live,
            client,
            "unknown_topic",
            f"no such topic: {', '.join(unknown)}; allowed: {allowed_topics_text()}",
            {"topics": unknown},
        )
        return
    if isinstance(op, Subscribe):
        live.subscribe(client, op.topics)
    else:
        live.unsubscribe(client, op.topics)


def _reply_error(
    live: LiveView, client: LiveClient, code: str, message: str, details: dict[str, Any]
) -> None:
    frame = ErrorFrame(error=ErrorBody(code=code, message=message, details=details))
    live.reply(client, _encode(frame))
