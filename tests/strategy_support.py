"""Running a strategy in a test: bars from a list of prices, a manual clock, collected signals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from engine.bars.interval import MINUTE_NS
from engine.messages.market import Bar
from engine.messages.trading import Signal
from engine.strategy import Strategy
from engine.strategy_runner import StrategyRunner

INSTRUMENT = "NSE:TEST"
START_NS = int(datetime(2024, 1, 2, 3, 45, tzinfo=UTC).timestamp()) * 1_000_000_000
"""09:15 IST on 2024-01-02: the first bar's start (1215 one-minute bars stay on that UTC day)."""


def make_bar(
    i: int,
    close: float,
    *,
    open_: float | None = None,
    high: float | None = None,
    low: float | None = None,
    volume: float = 1000.0,
    vwap: float | None = None,
    start_ns: int = START_NS,
    instrument: str = INSTRUMENT,
    interval: str = "1m",
) -> Bar:
    """Bar number ``i`` of a 1-minute series starting at ``start_ns``."""
    open_ = close if open_ is None else open_
    ts_event = start_ns + i * MINUTE_NS
    return Bar(
        ts_event=ts_event,
        ts_init=ts_event + MINUTE_NS,
        instrument=instrument,
        interval=interval,
        ts_close=ts_event + MINUTE_NS,
        open=open_,
        high=max(open_, close) if high is None else high,
        low=min(open_, close) if low is None else low,
        close=close,
        volume=volume,
        trade_count=1 if volume > 0 else 0,
        vwap=close if vwap is None else vwap,
    )


def bars_from_closes(closes: Sequence[float], **options: Any) -> list[Bar]:
    return [make_bar(i, close, **options) for i, close in enumerate(closes)]


class Harness:
    """A runner for ``strategy`` with a manual clock that follows the bars, collecting what it
    emits and the timers it asks for."""

    def __init__(
        self,
        strategy: Strategy[Any],
        *,
        strategy_id: str = "s1",
        interval: str = "1m",
        tick_size: float | None = None,
    ) -> None:
        self.signals: list[Signal] = []
        self.timers: list[tuple[int, str]] = []
        self.now_ns = START_NS
        self.runner = StrategyRunner(
            strategy,
            strategy_id=strategy_id,
            instrument=INSTRUMENT,
            interval=interval,
            emit=self.signals.append,
            clock=lambda: self.now_ns,
            schedule=lambda delay, key: self.timers.append((delay, key)),
            log=structlog.get_logger(),
            tick_size=tick_size,
        )

    def feed(self, bars: Sequence[Bar]) -> None:
        """Each bar through ``on_bar``, the clock at the bar's close plus a millisecond."""
        for bar in bars:
            self.now_ns = bar.ts_close + 1_000_000
            self.runner.on_bar(bar)

    def signalled(self) -> list[tuple[int, str]]:
        """``(bar index, side)`` of each signal, the index counted from ``START_NS``."""
        return [((s.ts_event - START_NS) // MINUTE_NS - 1, s.side.value) for s in self.signals]
