"""Who may call the API: the bearer token, the per-client rate limit, and CORS.

* Every endpoint needs ``Authorization: Bearer <token>`` except :data:`PUBLIC_PATHS`:
  ``health`` (probes carry no secrets), ``openapi.json`` (the contract is no secret, and
  tools fetch it before they know a token) and the WebSocket, which checks ``?token=`` itself
  when ``web.ws_requires_token`` is on. Tokens are compared in constant time.
* Mutating endpoints are rate limited per client address by token buckets: manual orders
  and cancels (``POST orders``, ``DELETE orders/{id}``) by one refilled
  at ``web.orders_per_minute``; the control commands (pause, resume, halt, flatten,
  strategies/reload) by another, at ``web.mutations_per_minute``. Neither spends the other.
* CORS is closed (no header at all) unless the request's ``Origin`` is listed in
  ``web.cors_origins``; then preflights are answered and answers carry the allow headers.
"""

from __future__ import annotations

import hmac
import math
import os
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from engine.config.secrets import Secret
from web.errors import ApiError

API_PREFIX = "/api/v1"
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health", f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/ws"})
MUTATING_METHODS = frozenset({hdrs.METH_POST, hdrs.METH_PUT, hdrs.METH_PATCH, hdrs.METH_DELETE})
ORDERS_PATH = f"{API_PREFIX}/orders"
"""``POST orders`` and ``DELETE orders/{id}``: limited by ``web.orders_per_minute``."""

CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"
CORS_MAX_AGE_S = 600

# -- the token ----------------------------------------------------------------------------------


class TokenFileError(ValueError):
    """The token file cannot be used (too open, empty, unreadable); the message says why and
    how to fix it."""


def resolve_api_token(secrets_token: Secret | None, token_path: Path) -> tuple[Secret, bool]:
    """The API token and whether it was generated just now (the caller prints it once).

    The token from the environment or the secrets file wins. Otherwise the token is read from
    ``token_path``; if there is no such file a new one (``secrets.token_urlsafe(32)``) is
    written there, created with mode 0600 and its parent directories as needed.

    Raises :class:`TokenFileError` (a ``ValueError``) if the file is readable or writable by
    group or others, or is empty, and ``OSError`` if it cannot be read or created.
    """
    if secrets_token is not None:
        return secrets_token, False
    try:
        return _read_token_file(token_path), False
    except FileNotFoundError:
        pass
    token_path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        # O_EXCL: never overwrite a token another process wrote since we looked.
        fd = os.open(token_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return _read_token_file(token_path), False
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    return Secret(token), True


def _read_token_file(path: Path) -> Secret:
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise TokenFileError(f"{path}: the API token file is not a regular file")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenFileError(
            f"{path}: the API token file must be readable by its owner only, got mode "
            f"{stat.S_IMODE(mode):04o}; run: chmod 600 {path}"
        )
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise TokenFileError(
            f"{path}: the API token file is empty; delete it to have a new token generated"
        )
    return Secret(token)


def token_matches(presented: str, token: Secret) -> bool:
    """Constant-time comparison; any string may be presented (bytes are compared, so a
    non-ASCII guess cannot raise)."""
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), token.reveal().encode("utf-8", "surrogatepass")
    )


def unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        message,
        headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="troupe"'},
    )


def bearer_middleware(token: Secret) -> Middleware:
    """Refuse, with 401 and ``WWW-Authenticate``, a request to a non-public endpoint that
    does not carry the token. Unknown paths and methods pass through to their 404/405."""

    @web.middleware
    async def bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or request.match_info.http_exception is not None:
            return await handler(request)
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        scheme, _, presented = header.partition(" ")
        if not header:
            raise unauthorized("this endpoint needs the header Authorization: Bearer <token>")
        if scheme.lower() != "bearer" or not presented.strip():
            raise unauthorized("the Authorization header must read: Bearer <token>")
        if not token_matches(presented.strip(), token):
            raise unauthorized("the bearer token is not the API token")
        return await handler(request)

    return bearer


# -- the rate limit -----------------------------------------------------------------------------


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests in a burst, refilled evenly.

    ``clock`` is in seconds and must not go back (``time.monotonic`` by default). Memory is
    bounded: once ``max_clients`` buckets exist, the ones that have refilled are forgotten.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, got {per_minute}")
        self.capacity = float(per_minute)
        self.rate_per_s = per_minute / 60.0
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str) -> float:
        """Spend one request for ``client``: 0.0 if allowed, else the seconds until the next
        request would be."""
        now = self._clock()
        tokens, at = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate_per_s)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate_per_s
        if client not in self._buckets and len(self._buckets) >= self._max_clients:
            self._forget_refilled(now)
        self._buckets[client] = (tokens - 1.0, now)
        return 0.0

    def _forget_refilled(self, now: float) -> None:
        full = [
            client
            for client, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate_per_s >= self.capacity
        ]
        for client in full:
            del self._buckets[client]


def rate_limit_middleware(commands: RateLimiter, orders: RateLimiter) -> Middleware:
    """429 with ``Retry-After`` (whole seconds) once a client's bucket is empty: ``orders``
    for manual orders and cancels, ``commands`` for every other mutating endpoint."""

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in MUTATING_METHODS and request.match_info.http_exception is None:
            path = request.path
            is_order = path == ORDERS_PATH or path.startswith(f"{ORDERS_PATH}/")
            limiter = orders if is_order else commands
            wait_s = limiter.take(request.remote or "unknown")
            if wait_s > 0:
                retry_after = max(1, math.ceil(wait_s))
                what, setting = (
                    ("orders", "web.orders_per_minute")
                    if is_order
                    else ("commands", "web.mutations_per_minute")
                )
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many {what} from this client; retry in {retry_after} s",
                    {
                        "limit_per_minute": int(limiter.capacity),
                        "setting": setting,
                        "retry_after_s": retry_after,
                    },
                    headers={hdrs.RETRY_AFTER: str(retry_after)},
                )
        return await handler(request)

    return rate_limit


# -- CORS ---------------------------------------------------------------------------------------


def cors_middleware(origins: frozenset[str]) -> Middleware:
    """Answer preflights and add the allow headers for listed origins; do nothing for the
    rest (the browser then refuses the cross-origin read, which is the point)."""

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None or origin not in origins:
            return await handler(request)
        allow = {
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: CORS_METHODS,
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: CORS_HEADERS,
            hdrs.VARY: hdrs.ORIGIN,
        }
        if (
            request.method == hdrs.METH_OPTIONS
            and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
        ):
            allow[hdrs.ACCESS_CONTROL_MAX_AGE] = str(CORS_MAX_AGE_S)
            return web.Response(status=204, headers=allow)
        response = await handler(request)
        if not response.prepared:  # a WebSocket has sent its headers long before it returns
            response.headers.update(allow)
        return response

    return cors


def origin_allowed(request: web.Request, origins: frozenset[str]) -> bool:
    """For the WebSocket, which browsers open cross-origin without CORS: no ``Origin``
    (not a browser), the server's own origin, or a listed one."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or origin in origins:
        return True
    return origin == f"{request.scheme}://{request.host}"
