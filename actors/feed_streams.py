"""What a feed keeps per subscribed instrument, beside the tick and bar tapes: arrivals,
staleness, the gap left by a dropped connection, the good ticks of the batch being handled."""

from __future__ import annotations

from typing import Any

from actors.bar_aggregator import bars_topic
from engine.bar_validation import BarRejectReason, BarTape
from engine.data_client import Tick
from engine.messages.feed import ticks_topic
from engine.tick_validation import TickTape


class InstrumentStream:
    """One instrument's ticks and bars as its feed sees them. Times are the feed's clock, ns.

    ``admit`` is the tape's (:meth:`TickTape.admit`), bound once: it is called per tick.
    Bars (:meth:`admit_bar`) are judged against the same price band as ticks.
    """

    __slots__ = (
        "admit",
        "arrived_ns",
        "bar_tape",
        "bars_topic",
        "expected_ns",
        "gap_from",
        "instrument",
        "pending",
        "stalled",
        "tape",
        "topic",
        "was_open",
        "watch_from",
    )

    def __init__(self, tape: TickTape, expected_ns: int, now_ns: int, is_open: bool) -> None:
        self.tape = tape
        self.instrument = tape.instrument
        self.topic = ticks_topic(tape.instrument)
        self.admit = tape.admit
        self.bar_tape = BarTape(tape.instrument)
        self.bars_topic = bars_topic(tape.instrument)
        """Where good bars go: the bar aggregator's topic, so replayed bars look live."""
        self.expected_ns = expected_ns
        """How often ticks normally arrive while the market is open, ns."""
        self.pending: list[Tick] = []
        """Good ticks of the batch being handled, until they are passed on."""
        self.arrived_ns: int | None = None
        """When the last good tick arrived; ``None`` before the first."""
        self.watch_from = now_ns
        """Silence counts from here at the earliest: subscription or market open."""
        self.was_open = is_open
        """Whether the market was open at the watchdog's last beat (:mod:`feed_watchdog`)."""
        self.stalled = False
        self.gap_from: tuple[int | None, int] | None = None
        """After a drop, until the first good tick or bar: (``ts_event`` of the last good
        tick or bar before it or ``None``, when the connection dropped)."""

    def admit_bar(self, bar: Any) -> BarRejectReason | None:
        """Judge ``bar`` (:meth:`BarTape.admit`) against the instrument's price band."""
        return self.bar_tape.admit(bar, self.tape.low, self.tape.high)

    def quiet_since(self) -> int:
        """Since when the instrument has been silent, for the watchdog."""
        arrived = self.arrived_ns
        return self.watch_from if arrived is None else max(arrived, self.watch_from)

    def mark_drop(self, now_ns: int) -> None:
        """The connection dropped at ``now_ns``; keeps the first drop of a series until the
        gap is reported."""
        if self.gap_from is None:
            seen = (self.tape.last_event_ns, self.bar_tape.last_event_ns)
            last = [ts for ts in seen if ts is not None]
            self.gap_from = (max(last) if last else None, now_ns)
