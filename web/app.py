"""The aiohttp application: routes, middlewares in their order, and a helper to serve it.

Middlewares, outermost first:

1. CORS: answers preflights and decorates every answer, errors included, for listed origins;
2. errors: every failure leaves as the envelope (:mod:`web.errors`);
3. bearer token (:mod:`web.auth`);
4. rate limits on mutating endpoints: orders and cancels, and the other commands, apart.

On shutdown (``runner.cleanup()``) the live view's clients are closed with 1001 before the
listener goes, so no handler is left waiting on a socket.
"""

from __future__ import annotations

import msgspec
import structlog
from aiohttp import web

from engine.messages.runtime import TOPIC_STATE, TOPIC_SUPERVISION
from web.access_log import RedactingAccessLogger
from web.api import Api
from web.auth import (
    RateLimiter,
    bearer_middleware,
    cors_middleware,
    rate_limit_middleware,
)
from web.errors import JSON, EnvelopeServer, error_middleware
from web.live import LiveView
from web.models import state_report
from web.openapi import openapi_document
from web.ports import EngineHandle
from web.ws import websocket_handler

log = structlog.get_logger("troupe.web")

MAX_BODY_BYTES = 64 * 1024
"""Bodies are a reason string at most; anything larger is refused with 413."""


def make_app(engine: EngineHandle, live: LiveView) -> web.Application:
    """The control API and live view of ``engine``, wired to ``live``."""
    config = engine.config.web
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[
            cors_middleware(frozenset(config.cors_origins)),
            error_middleware,
            bearer_middleware(engine.api_token),
            rate_limit_middleware(
                RateLimiter(config.mutations_per_minute), RateLimiter(config.orders_per_minute)
            ),
        ],
    )
    live.provide_snapshot(TOPIC_SUPERVISION, engine.runtime.describe)
    live.provide_snapshot(TOPIC_STATE, lambda: state_report(engine))

    document = msgspec.json.encode(openapi_document(engine.version))

    async def openapi(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=document, content_type=JSON)

    app.add_routes(Api(engine).routes())
    app.add_routes(
        [
            web.get("/api/v1/openapi.json", openapi, allow_head=False),
            web.get("/api/v1/ws", websocket_handler(engine, live), allow_head=False),
        ]
    )

    async def close_live_clients(_app: web.Application) -> None:
        await live.close_all()

    app.on_shutdown.append(close_live_clients)
    return app


class _EnvelopeRunner(web.AppRunner):
    """An :class:`~aiohttp.web.AppRunner` whose server answers the requests aiohttp cannot
    parse with the envelope (:class:`~web.errors.EnvelopeProtocol`): no middleware sees them."""

    __slots__ = ()

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return EnvelopeServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )


async def serve(engine: EngineHandle, live: LiveView, host: str, port: int) -> web.AppRunner:
    """Serve :func:`make_app` on ``host:port`` (0: any free port; see ``runner.addresses``).

    Returns the started runner; ``await runner.cleanup()`` closes the live view's clients
    (1001), then the listener. Installs no signal handler: the service owns signals. A
    request aiohttp cannot parse (an over-long URL or header) gets the envelope too.
    Raises ``OSError`` if the address cannot be bound.
    """
    runner = _EnvelopeRunner(
        make_app(engine, live),
        handle_signals=False,
        shutdown_timeout=5.0,
        access_log_class=RedactingAccessLogger,  # no token in the logs; health at debug
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("web API listening", addresses=[str(a) for a in runner.addresses])
    return runner
