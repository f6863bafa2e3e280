"""Correlation ids in logs: from a signal onward, every log line about it carries its id.

Messages that carry a ``correlation_id`` (signals, intents, orders and their events) have it
bound into structlog's context variables while their handler runs, so whatever the handler
logs, through ``ctx.log`` or any other structlog logger, says which trade it is about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from structlog.contextvars import bind_contextvars, reset_contextvars

_CORRELATED: dict[type, bool] = {}


def carries_correlation(kind: type) -> bool:
    """Whether messages of ``kind`` have a ``correlation_id`` field (cached per type)."""
    try:
        return _CORRELATED[kind]
    except KeyError:
        fields: tuple[str, ...] = getattr(kind, "__struct_fields__", ())
        found = _CORRELATED[kind] = "correlation_id" in fields
        return found


def call_correlated(handler: Callable[[Any], Any], message: Any) -> Any:
    """Run ``handler(message)`` with the message's correlation id bound for logging."""
    correlation_id = message.correlation_id
    if not correlation_id:
        return handler(message)
    tokens = bind_contextvars(correlation_id=correlation_id)
    try:
        return handler(message)
    finally:
        reset_contextvars(**tokens)
