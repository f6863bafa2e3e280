"""The error envelope ``{"error": {"code", "message", "details"}}`` and the middleware that
makes every failure wear it.

A client's mistake is an :class:`ApiError` with a 4xx status, raised where it is found.
aiohttp's own HTTP errors (404 unknown path, 405 wrong method, 413 body too large) are
rewrapped. Anything else that escapes a handler is a bug: it is logged with its traceback
and answered 500 ``internal_error`` without details, so nothing internal leaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

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
