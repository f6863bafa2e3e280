"""What the control API and the live view say on the wire: msgspec types, one per document.

These types are the contract: handlers encode them, the OpenAPI document is generated from
them (:mod:`web.openapi`), and tests decode responses with them. Times are ISO 8601 in UTC
for people and integer ns since the epoch for programs; money would be decimal strings.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.messages.runtime import TradingState
from web.ports import EngineHandle

API_VERSION = "v1"
MAX_REASON_LENGTH = 500

# -- errors -------------------------------------------------------------------------------------


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    code: Annotated[
        str, Meta(description="Stable, machine-readable: bad_request, unauthorized, ...")
    ]
    message: Annotated[str, Meta(description="One line a person can act on.")]
    details: Annotated[
        dict[str, Any], Meta(description="What exactly was wrong (field, value, limit).")
    ] = msgspec.field(default_factory=dict)


class ErrorEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """Every error answer, whatever the status."""

    error: ErrorBody


# -- requests -----------------------------------------------------------------------------------


class CommandRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The optional body of ``POST pause``, ``resume`` and ``halt``."""

    reason: Annotated[
        str,
        Meta(
            max_length=MAX_REASON_LENGTH,
            description="Why, in the operator's words; logged and published with the change.",
        ),
    ] = ""


class ReloadRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The optional body of ``POST strategies/reload``."""

    strategies: Annotated[
        list[dict[str, Any]] | None,
        Meta(
            description="The new [[strategies]] list (each {use, id, instruments, interval, "
            "params}); absent: the configuration files are read again."
        ),
    ] = None


# -- responses ----------------------------------------------------------------------------------


class FeedHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One market data feed, as its events describe it."""

    fresh: Annotated[bool, Meta(description="Connected and not silent as a whole.")]
    connected: bool
    stalled_instruments: Annotated[
        list[str], Meta(description="Instruments silent while their market is open.")
    ]
    last_message_at: Annotated[
        str | None, Meta(description="Time of the feed's last event, ISO 8601 UTC.")
    ]
    age_s: Annotated[float | None, Meta(description="Seconds since that event.")]


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    """Liveness and readiness. Served with 200 when ``ready``, else 503, same body."""

    live: Annotated[bool, Meta(description="The process answers (always true here).")]
    ready: Annotated[bool, Meta(description="Every actor is up and the engine loop beat recently.")]
    problems: Annotated[list[str], Meta(description="Why not ready; empty when ready.")]
    actors_up: bool
    actors_down: Annotated[
        dict[str, str], Meta(description="Actors restarting or retired: name -> state.")
    ]
    trading_state: TradingState
    last_heartbeat_at: Annotated[
        str | None, Meta(description="Time of the last engine heartbeat, ISO 8601 UTC.")
    ]
    last_heartbeat_ns: Annotated[int | None, Meta(description="The same, ns since the epoch.")]
    heartbeat_age_s: Annotated[float | None, Meta(description="Seconds since that heartbeat.")]
    feeds: Annotated[dict[str, FeedHealth], Meta(description="Market data feeds by name.")]


class VersionReport(msgspec.Struct, frozen=True, kw_only=True):
    version: Annotated[str, Meta(description="The troupe package version.")]
    api: Annotated[str, Meta(description="The API version in the paths (/api/v1).")]


class StateReport(msgspec.Struct, frozen=True, kw_only=True):
    """The engine at a glance; also the answer to pause, resume and halt."""

    mode: Literal["paper", "live", "backtest"]
    trading_state: TradingState
    runtime: Annotated[str, Meta(description="threaded or simulated.")]
    accepting: Annotated[bool, Meta(description="False once shutdown has begun.")]
    started_at: Annotated[str, Meta(description="Start time, ISO 8601 UTC.")]
    started_at_ns: Annotated[int, Meta(description="Start time, ns since the epoch.")]
    uptime_s: Annotated[float, Meta(description="Seconds since start (monotonic).")]


# -- the WebSocket protocol ---------------------------------------------------------------------


class Subscribe(msgspec.Struct, frozen=True, tag="subscribe", tag_field="op", kw_only=True):
    topics: Annotated[list[Annotated[str, Meta(max_length=200)]], Meta(max_length=100)]


class Unsubscribe(msgspec.Struct, frozen=True, tag="unsubscribe", tag_field="op", kw_only=True):
    topics: Annotated[list[Annotated[str, Meta(max_length=200)]], Meta(max_length=100)]


class Ping(msgspec.Struct, frozen=True, tag="ping", tag_field="op", kw_only=True):
    pass


ClientOp = Subscribe | Unsubscribe | Ping
"""What a WebSocket client may send."""


class SnapshotFrame(msgspec.Struct, frozen=True, tag="snapshot", tag_field="op", kw_only=True):
    """The topic as it stands; the next update on it carries ``seq + 1``."""

    topic: str
    seq: int
    data: Any


class UpdateFrame(msgspec.Struct, frozen=True, tag="update", tag_field="op", kw_only=True):
    """One message on the topic; ``seq`` rises by exactly 1 per message on that topic."""

    topic: str
    seq: int
    data: Any


class PongFrame(msgspec.Struct, frozen=True, tag="pong", tag_field="op"):
    pass


class ErrorFrame(msgspec.Struct, frozen=True, tag="error", tag_field="op", kw_only=True):
    error: ErrorBody


# -- building reports ---------------------------------------------------------------------------


def iso_utc(ns: int) -> str:
    """``ns`` since the epoch as ISO 8601 UTC with microseconds."""
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)
    return moment.isoformat().replace("+00:00", "Z")


def state_report(engine: EngineHandle, trading_state: TradingState | None = None) -> StateReport:
    """``GET state``: ``trading_state`` overrides the runtime's (a command's own answer)."""
    return StateReport(
        mode=engine.config.mode,
        trading_state=engine.runtime.trading_state if trading_state is None else trading_state,
        runtime=engine.runtime.kind,
        accepting=engine.accepting,
        started_at=iso_utc(engine.started_at_ns),
        started_at_ns=engine.started_at_ns,
        uptime_s=round(max(0.0, time.monotonic() - engine.started_monotonic_s), 3),
    )


class StrategyView(msgspec.Struct, frozen=True, kw_only=True):
    """One running strategy host."""

    name: str
    """The host's actor name, ``strategy.<id>.<instrument>``."""
    strategy_id: str
    strategy: str
    instrument: str
    interval: str
    params: dict[str, Any]


class StrategiesReport(msgspec.Struct, frozen=True, kw_only=True):
    strategies: list[StrategyView]


class ReloadReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a reload changed, by host name."""

    reloaded: list[str]
    """New parameters, applied by each host before its next bar."""
    replaced: list[str]
    """Another strategy or interval: removed and started afresh."""
    added: list[str]
    removed: list[str]
    unchanged: list[str]
