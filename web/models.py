"""What the control API and the live view say on the wire: msgspec types, one per document.

These types are the contract: handlers encode them, the OpenAPI document is generated from
them (:mod:`web.openapi`), and tests decode responses with them. Times are ISO 8601 in UTC
for people and integer ns since the epoch for programs; money would be decimal strings.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.journal.trades import RoundTrip
from engine.journal.views import JournaledOrder
from engine.ledger.equity_curve import EquityPoint
from engine.ledger.views import PositionView
from engine.messages.account import AccountChanged
from engine.messages.ranking import SignalsRanked
from engine.messages.risk import RiskDenied
from engine.messages.runtime import TradingState
from engine.messages.trading import (
    OrderFilled,
    OrderSide,
    OrderType,
    Signal,
    SubmitOrder,
    TimeInForce,
    TradeIntent,
)
from engine.orders.describe import RouterCounts
from engine.orders.order import OrderView
from engine.risk.limits import RiskLimits
from engine.risk.messages import RiskUsage
from web.ports import EngineHandle

API_VERSION = "v1"
MAX_REASON_LENGTH = 500

# Bounds of the trading endpoints' inputs, shared by the handlers and the OpenAPI document.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
"""``?limit=``: rows answered at most, newest first."""
MAX_CURVE_TAIL = 10_000
"""``GET positions?curve=``: equity points at most (the ledger keeps this many by default)."""
MAX_NS = 2**63 - 1
"""``?since=``: ns since the epoch, UTC, as a signed 64-bit integer."""
MAX_NAME_LENGTH = 64
"""An instrument id, a strategy name."""
MAX_ORDER_ID_LENGTH = 200
MAX_ORDER_QUANTITY = 1_000_000_000
MAX_PRICE = Decimal("1e12")
MAX_PRICE_PLACES = 8
"""Digits after the point a price may have (the tick size then decides where it lands)."""
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:._&-]*$"
"""An instrument id (``NSE:M&M``, ``NSE:BAJAJ-AUTO``) or a strategy name."""
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:._-]*$"

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


class ManualOrderRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST orders``: an order by hand, checked by risk like any other.

    Prices are decimal strings (``"1520.05"``) in the instrument's currency per unit, finite,
    above 0 and below 10^12, with at most 8 decimal places; risk rounds them to the tick
    (a buy limit down, a sell limit up)."""

    instrument: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_NAME_LENGTH,
            pattern=NAME_PATTERN,
            description="The engine's instrument id, NSE:INFY.",
        ),
    ]
    side: OrderSide
    quantity: Annotated[
        int,
        Meta(gt=0, le=MAX_ORDER_QUANTITY, description="Units; a multiple of the lot size."),
    ]
    order_type: OrderType = OrderType.MARKET
    price: Annotated[
        Decimal | None, Meta(description="The limit price: LIMIT and STOP_LIMIT only.")
    ] = None
    trigger_price: Annotated[
        Decimal | None, Meta(description="The trigger: STOP_MARKET and STOP_LIMIT only.")
    ] = None
    time_in_force: TimeInForce = TimeInForce.DAY
    strategy: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_NAME_LENGTH,
            pattern=NAME_PATTERN,
            description="Whose order it is, in the journal and the ledger.",
        ),
    ] = "manual"
    client_order_id: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=MAX_ORDER_ID_LENGTH,
                pattern=ORDER_ID_PATTERN,
                description="Your id for the order, which makes the request safe to repeat: "
                "the same id gets the first answer again, never a second order. Absent: "
                "<strategy>:<instrument>:<ns>:<n> is made.",
            ),
        ]
        | None
    ) = None


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


class JournalHealthView(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the journal can write (the writer's health, read as the request is served)."""

    ok: Annotated[bool, Meta(description="It writes: no fault, no record waiting too long.")]
    reason: Annotated[str, Meta(description="Why it cannot write; empty when ok.")]
    unwritten: Annotated[int, Meta(description="Records appended and not yet committed.")]
    since: Annotated[
        str,
        Meta(
            description="When the present condition began (ISO 8601 UTC): the stall's "
            "start, or when it last wrote again."
        ),
    ]
    since_ns: Annotated[int, Meta(description="The same, ns since the epoch.")]


class HealthReport(msgspec.Struct, frozen=True, kw_only=True):
    """Liveness and readiness. Served with 200 when ``ready``, else 503, same body."""

    live: Annotated[bool, Meta(description="The process answers (always true here).")]
    ready: Annotated[
        bool,
        Meta(
            description="Every actor is up, the engine loop beat recently, the journal writes "
            "and the books were reconciled with the broker."
        ),
    ]
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
    journal: Annotated[
        JournalHealthView | None,
        Meta(
            description="The journal; null where the engine runs no trading core. Not ready "
            "while it cannot write."
        ),
    ] = None
    reconciled_at: Annotated[
        str | None,
        Meta(
            description="When the books were first compared with the broker's (ISO 8601 "
            "UTC); null before that, and the engine is not ready until then."
        ),
    ] = None


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


# -- the trading core ---------------------------------------------------------------------------


class PositionsReport(msgspec.Struct, frozen=True, kw_only=True):
    """``GET positions``: the ledger's positions and account. Money is a decimal string in the
    account's currency, rounded to its minor unit."""

    at: Annotated[str, Meta(description="When the ledger answered, ISO 8601 UTC.")]
    ts: Annotated[int, Meta(description="The same, ns since the epoch.")]
    account: AccountChanged
    positions: Annotated[
        list[PositionView],
        Meta(description="The account's positions, open or traded today, by instrument."),
    ]
    strategy_positions: Annotated[
        list[PositionView],
        Meta(description="The positions attributed to each strategy, when the ledger keeps them."),
    ]
    equity_curve: Annotated[
        list[EquityPoint], Meta(description="The latest equity points, oldest first.")
    ]
    fills: Annotated[int, Meta(description="Fills netted since the ledger started.")]


class OrderBlotter(msgspec.Struct, frozen=True, kw_only=True):
    """``GET orders``: the router's orders as they stand, and the journal's record."""

    orders: Annotated[
        list[OrderView],
        Meta(description="The router's orders, newest first (this process's only)."),
    ]
    recent: Annotated[
        list[JournaledOrder],
        Meta(description="The journal's orders, newest first, from every run."),
    ]
    counts: RouterCounts


class TradesReport(msgspec.Struct, frozen=True, kw_only=True):
    """``GET trades``: round trips from the journal's fills, newest first, open ones too."""

    trades: list[RoundTrip]


class FillsReport(msgspec.Struct, frozen=True, kw_only=True):
    """``GET fills``: the journal's fills, newest first."""

    fills: list[OrderFilled]


class SignalsReport(msgspec.Struct, frozen=True, kw_only=True):
    """``GET signals``: the strategies' signals from the journal, newest first."""

    signals: list[Signal | TradeIntent]


class RankingsReport(msgspec.Struct, frozen=True, kw_only=True):
    """``GET rankings``: the ranker's scan cycles from the journal, newest first."""

    rankings: list[SignalsRanked]


class RiskStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``GET risk``: the risk supervisor's limits, how much of them is used, the trading
    state it acts on and its recent denials."""

    at: Annotated[str, Meta(description="When the supervisor answered, ISO 8601 UTC.")]
    ts: Annotated[int, Meta(description="The same, ns since the epoch.")]
    trading_state: TradingState
    limits: RiskLimits
    usage: RiskUsage
    recent_denials: Annotated[
        list[RiskDenied], Meta(description="The latest denials, oldest first.")
    ]


class FlattenReport(msgspec.Struct, frozen=True, kw_only=True):
    """``POST flatten``: what the kill switch did. The fills follow on ``orders``."""

    command_id: Annotated[str, Meta(description="The command as the journal recorded it.")]
    reason: str
    closing_orders: Annotated[
        list[SubmitOrder],
        Meta(description="The market orders sent to close the positions."),
    ]
    halted: Annotated[bool, Meta(description="Trading was halted (state HALTED).")]
    trading_state: TradingState


class OrderPlaced(msgspec.Struct, frozen=True, kw_only=True):
    """``POST orders``: risk approved the order and sent it to the router. Its events
    (submitted, accepted, filled) follow on ``orders`` and in ``GET orders``."""

    command_id: Annotated[str, Meta(description="The command as the journal recorded it.")]
    order: Annotated[SubmitOrder, Meta(description="The order as sent, its prices on the tick.")]


class CancelRequested(msgspec.Struct, frozen=True, kw_only=True):
    """``DELETE orders/{client_order_id}``: the cancel is on its way; ``OrderCanceled``
    follows on ``orders`` (a fill may still beat it)."""

    command_id: Annotated[str, Meta(description="The command as the journal recorded it.")]
    order: Annotated[OrderView, Meta(description="The order as it stood when asked.")]
