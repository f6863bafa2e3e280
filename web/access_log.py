"""The access log: one line per request on ``aiohttp.access``, with secrets taken out.

aiohttp's own access logger writes the request line as sent, query string included, so a
WebSocket opened with ``?token=...`` (``web.ws_requires_token``) put the API token in clear on
the console and in the JSON log file. This one writes the same fields, but the value of every
secret-looking query parameter (``token``, ``access_token``, ``api_key``, ``password``, ... :
the configuration's own rule, :data:`engine.config.load.SECRET_KEY`, and a few names only
URLs use) becomes ``***``, in the request line and in the ``Referer``; other parameters are
kept as sent. A successful ``GET /api/v1/health`` is logged at debug (probes poll it every
few seconds and would drown the console at info); any other request, and a health answer
that is not 2xx, at info.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from engine.config.load import SECRET_KEY
from engine.config.secrets import REDACTED

HEALTH_PATH = "/api/v1/health"

URL_SECRET_KEY = re.compile(
    r"^(?:key|auth|authorization|sig|signature|jwt|session(?:_?id)?)$", re.I
)
"""Query parameter names that carry secrets in URLs but are no configuration keys."""


def is_secret_parameter(name: str) -> bool:
    """Whether the query parameter ``name`` (percent-decoded) may carry a secret."""
    return bool(SECRET_KEY.search(name) or URL_SECRET_KEY.match(name))


def redact_url(url: str) -> str:
    """``url`` (a path or a whole URL) with the value of each secret-looking query parameter
    replaced by ``***``; everything else, the order of parameters included, as it was."""
    base, mark, query = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = query.partition("#")
    parts = []
    for part in query.split("&"):
        name, equals, _value = part.partition("=")
        secret = equals and is_secret_parameter(unquote_plus(name))
        parts.append(f"{name}={REDACTED}" if secret else part)
    return f"{base}?{'&'.join(parts)}{hash_mark}{fragment}"


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp's access logger for the service (``access_log_class``); see the module."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        level = (
            logging.DEBUG
            if request.path == HEALTH_PATH and 200 <= response.status < 300
            else logging.INFO
        )
        if not self.logger.isEnabledFor(level):
            return
        version = request.version
        self.logger.log(
            level,
            '%s "%s %s HTTP/%d.%d" %d %d %.1fms "%s" "%s"',
            request.remote or "-",
            request.method,
            redact_url(request.raw_path),
            version.major,
            version.minor,
            response.status,
            response.body_length,
            time * 1000,
            redact_url(request.headers.get("Referer", "-")),
            request.headers.get("User-Agent", "-"),
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)  # true at debug too
