"""What the web surface needs from the running engine, in one object.

The service (``troupe run``) builds an :class:`EngineHandle` and hands it to the web app. The
web never blocks its loop on an actor: it reads thread-safe snapshots (``runtime.describe()``,
``runtime.trading_state``) and sends commands with ``runtime.ask_future``, awaited through
``asyncio.wrap_future`` (which resolves the asyncio future with ``call_soon_threadsafe``).
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from engine.config.schema import TroupeConfig
from engine.config.secrets import Secret
from engine.instruments import Instrument
from engine.journal.reader import JournalReader
from engine.journal.writer import JournalWriter
from engine.messages.feed import (
    FeedConnected,
    FeedDisconnected,
    FeedHealthReport,
    FeedResumed,
    FeedStalled,
    feed_topic,
)
from engine.messages.reconciliation import TOPIC_RECONCILIATION, ReconciliationReport
from engine.messages.runtime import TOPIC_ENGINE, HeartbeatEmitted
from engine.runtime import Runtime

T = TypeVar("T")


@dataclass
class FeedStatus:
    """A feed as its events describe it. Written by a listener on the feed's thread, read by
    the web loop: plain fields, each write a whole value."""

    connected: bool = False
    connection_stalled: bool = False
    stalled: frozenset[str] = frozenset()
    last_event_ns: int | None = None

    def follow(self, _topic: str, message: Any) -> None:
        if isinstance(message, FeedConnected):
            self.connected, self.connection_stalled = True, False
        elif isinstance(message, FeedDisconnected):
            self.connected = False
        elif isinstance(message, FeedStalled):
            if message.instrument is None:
                self.connection_stalled = True
            else:
                self.stalled = self.stalled | {message.instrument}
        elif isinstance(message, FeedResumed):
            if message.instrument is None:
                self.connection_stalled = False
            else:
                self.stalled = self.stalled - {message.instrument}
        elif isinstance(message, FeedHealthReport):
            self.connected = message.connected
            self.stalled = frozenset(message.stalled)
        else:
            return
        self.last_event_ns = message.ts_event


class StrategyControl(Protocol):
    """The running strategies (the service's strategy desk). Both methods may block: the web
    calls them off its loop."""

    def plans(self) -> list[dict[str, Any]]:
        """Each running host: name, strategy_id, strategy, instrument, interval, params."""
        ...

    def reload(self, entries: Sequence[Any] | None = None) -> dict[str, list[str]]:
        """Make the running set match ``entries`` (``None``: the configuration files again);
        raises ``engine.config.load.ConfigError`` with every problem, having changed
        nothing."""
        ...


@dataclass(frozen=True)
class TradingPorts:
    """The trading core as the web reaches it: the journal, and the actors it asks.

    Reads run the :class:`~engine.journal.reader.JournalReader`'s coroutines on the store's
    own loop (:meth:`read`); commands are recorded through the ``writer`` before they are
    acted on (DESIGN §7, :mod:`engine.journal.commands`). Neither blocks the web loop: both
    hand back a ``concurrent.futures.Future`` to await with ``asyncio.wrap_future``.
    """

    reader: JournalReader
    writer: JournalWriter
    risk: str = "risk"
    """Answers DescribeRisk, FlattenAll and manual SubmitOrders."""
    router: str = "router"
    """Answers DescribeOrders and CancelOrder."""
    ledger: str = "ledger"
    """Answers DescribeLedger."""
    instruments: Mapping[str, Instrument] | None = None
    """The instrument master by id (what risk trades): a manual order for any other is
    refused by the API, 400 ``unknown_instrument``, before it is recorded. ``None``: not
    checked here, risk refuses it (422)."""

    def read(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run one of :attr:`reader`'s coroutines on the store's loop; never blocks. Raises
        :class:`~engine.store.database.StoreClosedError` once the store is closed."""
        return self.reader.database.submit(coro)


@dataclass
class EngineHandle:
    runtime: Runtime
    config: TroupeConfig
    api_token: Secret
    version: str
    started_at_ns: int
    """Wall clock at start, ns since the epoch, UTC."""
    started_monotonic_s: float
    """``time.monotonic()`` at start, for the uptime."""
    redacted_config: dict[str, Any] = field(default_factory=dict)
    """The effective configuration as ``GET config`` shows it: no secret in it."""
    control_actor: str = "trading"
    """Handles PauseTrading / ResumeTrading / HaltTrading and answers the new TradingState."""
    accepting: bool = True
    """False once shutdown has begun: mutating endpoints answer 503."""
    last_heartbeat_ns: int | None = None
    """Engine time of the last HeartbeatEmitted seen on the "engine" topic; readiness wants
    it recent. Kept current by a listener this handle registers on its runtime."""

    feeds: dict[str, FeedStatus] = field(default_factory=dict)
    """Market data feeds followed with :meth:`follow_feed`, by name."""
    strategies: StrategyControl | None = None
    """The strategy desk; ``None`` where the engine runs no strategies."""
    trading: TradingPorts | None = None
    """The trading core (journal, ledger, router, risk); ``None`` where the engine runs none:
    the trading endpoints then answer 503 ``no_trading_core``."""

    strategies_started: bool = True
    """False while the strategy hosts wait for the first reconciliation (the service starts
    them then); readiness waits for them."""
    reconciled_at_ns: int | None = None
    """Engine time of the first ``ReconciliationReport`` (the books compared with the
    broker's after the start); readiness waits for it where the engine trades."""

    def __post_init__(self) -> None:
        self.runtime.add_listener(TOPIC_ENGINE, self._on_engine_event)
        self.runtime.add_listener(TOPIC_RECONCILIATION, self._on_reconciliation)

    def _on_reconciliation(self, _topic: str, message: Any) -> None:
        if isinstance(message, ReconciliationReport) and self.reconciled_at_ns is None:
            self.reconciled_at_ns = message.ts_event

    def follow_feed(self, name: str) -> None:
        """Keep :attr:`feeds` ``[name]`` current from the feed's events (topic ``feed:<name>``):
        health then reports it, and a disconnected or silent feed makes the engine not ready."""
        status = self.feeds.setdefault(name, FeedStatus())
        self.runtime.add_listener(feed_topic(name), status.follow)

    def _on_engine_event(self, _topic: str, message: Any) -> None:
        if isinstance(message, HeartbeatEmitted):
            self.last_heartbeat_ns = message.ts_event
