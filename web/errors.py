"""The error envelope ``{"error": {"code", "message", "details"}}`` and the middleware that
makes every failure wear it.

A client's mistake is an :class:`ApiError` with a 4xx status, raised where it is found.
aiohttp's own HTTP errors (404 unknown path, 405 wrong method, 413 body too large) are
rewrapped. Anything else that escapes a handler is a bug: it is logged with its traceback
and answered 500 ``internal_error`` without details, so nothing internal leaks.

A request aiohttp cannot parse (a URL or a header over ``max_line_size`` /
``max_field_size``, too many headers, a malformed request line) is answered by its connection
protocol before any middleware runs; :class:`EnvelopeProtocol` (served by
:class:`EnvelopeServer`, see :func:`web.app.serve`) answers it with the envelope too: 400
``too_long`` or ``bad_request``, and the connection closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.typedefs import Handler
from aiohttp.web_request import BaseRequest

from web.models import ErrorBody, ErrorEnvelope

log = structlog.get_logger("troupe.web")

JSON = "application/json"

# aiohttp's own errors, named the way our clients read codes.
_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}

# Headers of an aiohttp HTTPException worth keeping on the rewrapped answer.
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


class ApiError(Exception):
    """A request the API refuses: raised by handlers and middlewares, answered by
    :func:`error_middleware` with ``status`` and the envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``body`` (a msgspec type or builtins) encoded with msgspec: Decimals as strings, enums
    as their values."""
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type=JSON, headers=headers
    )


def error_response(error: ApiError) -> web.Response:
    envelope = ErrorEnvelope(
        error=ErrorBody(code=error.code, message=error.message, details=error.details)
    )
    return json_response(envelope, error.status, error.headers)


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> ApiError:
    status = exc.status
    details: dict[str, Any] = {"method": request.method, "path": request.path}
    # aiohttp's default text is "<status>: <reason>"; a specific one says more.
    text = " ".join((exc.text or "").split())
    message = exc.reason if not text or text.startswith(str(status)) else text
    if isinstance(exc, web.HTTPMethodNotAllowed):
        details["allowed"] = sorted(exc.allowed_methods)
        message = f"{request.method} is not allowed on {request.path}"
    elif isinstance(exc, web.HTTPNotFound):
        message = f"no such endpoint: {request.path}; see /api/v1/openapi.json"
    elif isinstance(exc, web.HTTPRequestEntityTooLarge):
        details = {"limit_bytes": request.client_max_size}
        message = f"the body is larger than {request.client_max_size} bytes"
    headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
    return ApiError(status, _CODES.get(status, f"http_{status}"), message, details, headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: every error leaves as the envelope."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like are answers, not errors
        return error_response(_from_http_exception(exc, request))
    except Exception:
        log.exception("unhandled error in a request", method=request.method, path=request.path)
        return error_response(
            ApiError(500, "internal_error", "the server failed; this is a bug, see its log")
        )


class EnvelopeProtocol(web.RequestHandler):
    """aiohttp's connection protocol, answering what it refuses before routing with the
    envelope instead of aiohttp's text/plain: 400 ``too_long`` (a URL or a header over the
    limit, in ``details.limit_bytes``) or ``bad_request`` (anything else that is not valid
    HTTP), then the connection is closed, as aiohttp does. The offending line is neither
    echoed nor logged: it may carry a token."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # As aiohttp: part of an answer went out, no error answer can follow it.
            raise ConnectionError("an answer was partly sent; cannot send an error after it")
        if status >= 500:
            log.error("the HTTP server failed a request", status=status, exc_info=exc)
            error = ApiError(
                status, "internal_error", "the server failed; this is a bug, see its log"
            )
        elif isinstance(exc, LineTooLong):
            limit = exc.args[1] if len(exc.args) > 1 else "the limit"
            error = ApiError(
                status,
                "too_long",
                f"the URL or a header is longer than the server takes ({limit} bytes)",
                {"limit_bytes": limit},
            )
        else:
            reason = " ".join((message or "not valid HTTP").split())[:200]
            error = ApiError(status, _CODES.get(status, f"http_{status}"), reason)
        if status < 500:
            log.info("malformed request refused", remote=request.remote, code=error.code)
        response = error_response(error)
        response.force_close()
        return response


class EnvelopeServer(web.Server):
    """aiohttp's low-level server, its connections served by :class:`EnvelopeProtocol`."""

    def __call__(self) -> web.RequestHandler:
        return EnvelopeProtocol(self, loop=self._loop, **self._kwargs)
