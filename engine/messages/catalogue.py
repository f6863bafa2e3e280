"""The message catalogue: every concrete message, its JSON Schema, decoding and naming checks.

This is the one list the web API and WebSocket publish (DESIGN §5). A message class that is not
in :data:`CATALOGUE` cannot be decoded from JSON here and does not appear in the schema.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import Any

import msgspec

from engine.messages.account import AccountChanged
from engine.messages.base import Command, Event, MarketData, Message, Report
from engine.messages.feed import (
    DescribeFeedHealth,
    FeedConnected,
    FeedDisconnected,
    FeedGapReport,
    FeedHealthReport,
    FeedResumed,
    FeedStalled,
    SubscribeInstruments,
    UnsubscribeInstruments,
)
from engine.messages.journal import JournalHealthChanged
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.messages.orders import (
    BracketReduced,
    BracketReleased,
    CancelAllOrders,
    ClosePosition,
    SubmitBracket,
)
from engine.messages.ranking import RankerReconfigured, ReconfigureRanker, SignalsRanked
from engine.messages.reconciliation import ReconciliationReport
from engine.messages.risk import RiskDenied
from engine.messages.runtime import (
    ActorFailed,
    ActorsReport,
    ActorStarted,
    ActorStopped,
    DescribeActors,
    HeartbeatEmitted,
    MessageDeadLettered,
    SupervisorGaveUp,
    TradingStateChanged,
)
from engine.messages.strategy import ReloadStrategy, StrategyReloaded
from engine.messages.trading import (
    CancelOrder,
    FlattenAll,
    HaltTrading,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    OrderSubmitted,
    PauseTrading,
    PositionChanged,
    PositionReport,
    ResumeTrading,
    Signal,
    SubmitOrder,
    TradeIntent,
)

CATALOGUE: tuple[type[Message], ...] = (
    # runtime
    ActorStarted,
    ActorFailed,
    ActorStopped,
    SupervisorGaveUp,
    MessageDeadLettered,
    TradingStateChanged,
    DescribeActors,
    HeartbeatEmitted,
    ActorsReport,
    # market data
    TradeTick,
    QuoteTick,
    TickBatch,
    Bar,
    # market-data feeds
    SubscribeInstruments,
    UnsubscribeInstruments,
    DescribeFeedHealth,
    FeedConnected,
    FeedDisconnected,
    FeedStalled,
    FeedResumed,
    FeedGapReport,
    FeedHealthReport,
    # decisions
    Signal,
    TradeIntent,
    SignalsRanked,
    ReconfigureRanker,
    RankerReconfigured,
    ReloadStrategy,
    StrategyReloaded,
    # risk
    RiskDenied,
    # order commands
    SubmitBracket,
    CancelAllOrders,
    ClosePosition,
    SubmitOrder,
    CancelOrder,
    ModifyOrder,
    FlattenAll,
    PauseTrading,
    ResumeTrading,
    HaltTrading,
    # order events
    OrderSubmitted,
    OrderAccepted,
    OrderRejected,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    BracketReleased,
    BracketReduced,
    PositionChanged,
    AccountChanged,
    # the journal
    JournalHealthChanged,
    # venue reports
    OrderStatusReport,
    PositionReport,
    ReconciliationReport,
)
"""Every concrete message class, grouped by topic. The abstract roots are not listed."""

NAMING_EXCEPTIONS: dict[str, str] = {
    "SupervisorGaveUp": "irregular past tense ('gave up')",
    "Signal": "a trader's noun for a strategy's decision (NautilusTrader's name)",
    "TradeIntent": "a trader's noun for the ranker's pick",
}
"""Messages allowed to break the naming rule, with the reason. :func:`naming_problems` flags an
entry that no longer names a catalogue message or that no longer needs the exception, so the
list cannot go stale."""

_ROOTS: tuple[type[Message], ...] = (Command, Event, Report, MarketData)


@functools.cache
def _decoder() -> msgspec.json.Decoder[Any]:
    # A union of tagged Structs: msgspec reads the "type" field first and picks the class.
    members: tuple[Any, ...] = CATALOGUE
    union: Any = functools.reduce(operator.or_, members)
    return msgspec.json.Decoder(union)


def decode(data: bytes | str) -> Message:
    """Decode one catalogue message from JSON, choosing the class by its ``"type"`` field.

    Raises ``msgspec.ValidationError`` (a ``ValueError``) naming the bad field when the tag is
    unknown, a field is missing or has the wrong type, or the message fails its own checks, and
    ``msgspec.DecodeError`` when ``data`` is not JSON.
    """
    message: Message = _decoder().decode(data)
    return message


def encode(message: Message) -> bytes:
    """Encode a message as JSON with its ``"type"`` tag; ``Decimal`` fields become strings."""
    return msgspec.json.encode(message)


def json_schema() -> dict[str, Any]:
    """One JSON Schema (draft 2020-12) document describing every catalogue message.

    Shape::

        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "title": "troupe messages",
          "oneOf": [{"$ref": "#/$defs/ActorStarted"}, ...],   # one entry per message
          "discriminator": {"propertyName": "type", "mapping": {"ActorStarted": ...}},
          "$defs": {...}                                      # every message and nested type
        }

    ``oneOf`` is exact because each message pins its ``"type"`` property to its own name, so
    no document matches two branches. ``discriminator`` is the OpenAPI hint for code
    generators; JSON Schema validators ignore it. A fresh dict is returned on each call.
    """
    refs, components = msgspec.json.schema_components(CATALOGUE, ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "troupe messages",
        "oneOf": list(refs),
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                cls.__name__: ref["$ref"] for cls, ref in zip(CATALOGUE, refs, strict=True)
            },
        },
        "$defs": components,
    }


def _rule_problem(cls: type[Message]) -> str | None:
    name = cls.__name__
    if issubclass(cls, MarketData):
        return None
    if issubclass(cls, Command):
        if name.endswith("ed"):
            return f"{name} is a Command but reads as past tense (ends in 'ed')"
        if name.endswith("Report"):
            return f"{name} is a Command but is named like a Report"
        return None
    if issubclass(cls, Event):
        if not name.endswith("ed"):
            return f"{name} is an Event but is not past tense (does not end in 'ed')"
        return None
    if issubclass(cls, Report):
        if not name.endswith("Report"):
            return f"{name} is a Report but does not end in 'Report'"
        return None
    return f"{name} derives from none of {', '.join(root.__name__ for root in _ROOTS)}"


def naming_problems(catalogue: Iterable[type[Message]] = CATALOGUE) -> list[str]:
    """Check the catalogue against the naming rule; an empty list means it holds.

    The rule: a Command is imperative (its name neither ends in ``"ed"`` nor in ``"Report"``);
    an Event is past tense (ends in ``"ed"``); a Report ends in ``"Report"``; MarketData is
    exempt. Every message must derive from one of those four roots. Classes named in
    :data:`NAMING_EXCEPTIONS` are excused; an exception that is stale with respect to
    :data:`CATALOGUE` is itself a problem, whatever ``catalogue`` is checked.
    """
    problems: list[str] = []
    for cls in catalogue:
        problem = _rule_problem(cls)
        if problem is not None and cls.__name__ not in NAMING_EXCEPTIONS:
            problems.append(problem)
    by_name = {cls.__name__: cls for cls in CATALOGUE}
    for name in NAMING_EXCEPTIONS:
        if name not in by_name:
            problems.append(f"NAMING_EXCEPTIONS names {name}, which is not in the catalogue")
        elif _rule_problem(by_name[name]) is None:
            problems.append(f"NAMING_EXCEPTIONS names {name}, which follows the rule anyway")
    return problems
