"""The port between a market-data source and its feed actor (DESIGN §2).

A :class:`DataClient` is a broker's market-data connection, the synthetic market or a replay.
The feed actor that owns it calls ``connect`` / ``subscribe`` / ``disconnect``; the client
reports back through :class:`FeedEvents`, from whatever thread its I/O runs on (the feed turns
each report into a message in its own mailbox, so the actor's state is only touched by the
actor). Most clients report ticks only; a source of history that is already aggregated (a
replay of candles) reports real bars through :meth:`FeedEvents.on_bars`.

A client never reads the wall clock or sleeps: it asks the :class:`Scheduler` it was given for
the time and for callbacks. Under the simulated runtime the scheduler is the simulated clock,
so a synthetic or replayed market runs as fast as the machine allows and gives the same ticks
every time; under the threaded runtime callbacks come from the timer thread at wall-clock
times. A live broker adapter with its own socket thread reports from that thread.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Protocol

from engine.messages.market import Bar, QuoteTick, TradeTick

Tick = TradeTick | QuoteTick


class Scheduler(Protocol):
    """Time and callbacks, from the runtime (both runtimes implement it)."""

    def now_ns(self) -> int:
        """Nanoseconds since the epoch, UTC (simulated or wall clock)."""
        ...

    def call_at(self, due_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the clock reaches ``due_ns``. ``fn`` must be quick and must not
        block: it runs on the simulated loop or on the threaded runtime's timer thread."""
        ...


class FeedEvents(Protocol):
    """What a client reports to its feed. Callable from any thread.

    Every feed takes both ticks and bars; a client calls what its source has.
    """

    def on_connected(self) -> None: ...

    def on_ticks(self, ticks: Sequence[Tick]) -> None:
        """Ticks as they arrived, oldest first; several at once under load. ``ts_event`` is
        the venue's stamp, never the time of receipt: a trade sent twice (a resend after a
        reconnect) carries the same stamp and trade id both times, which is how the feed
        knows it for a repeat (:mod:`engine.tick_validation`)."""
        ...

    def on_bars(self, bars: Sequence[Bar]) -> None:
        """Bars the source already aggregated (historical candles: a replay of a CSV file or
        of the candle store), oldest first by close, each once its ``ts_close`` is reached;
        several at once under load. Optional for a client: one that only has ticks never
        calls it. The feed validates the bars and publishes them as the bar aggregator
        publishes the bars it builds from ticks (``bars:<instrument>``)."""
        ...

    def on_disconnected(self, reason: str) -> None:
        """The connection is gone; the feed decides when to reconnect."""
        ...


class DataClient(abc.ABC):
    """One source of market data. Subclasses live in ``adapters/``."""

    name: str
    """Short name for logs and events (``"sim"``, ``"replay"``, ``"zerodha"``)."""

    @abc.abstractmethod
    def connect(self, events: FeedEvents, scheduler: Scheduler) -> None:
        """Start delivering to ``events``; returns at once. ``on_connected`` (or
        ``on_disconnected``) follows."""

    @abc.abstractmethod
    def subscribe(self, instruments: Sequence[str]) -> None:
        """Deliver ticks for these instruments too (idempotent)."""

    @abc.abstractmethod
    def unsubscribe(self, instruments: Sequence[str]) -> None:
        """Stop delivering ticks for these instruments (idempotent)."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Stop delivering; no event follows. Idempotent."""

    def expected_interval_ns(self, instrument: str) -> int | None:
        """How often ticks normally arrive for ``instrument`` while its market is open, for
        the staleness watchdog; ``None`` if the client cannot say (the feed's config then
        decides)."""
        return None
