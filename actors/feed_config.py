"""How a feed judges its input and its connection, and what it needs from its runtime."""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Protocol

from engine.backoff import Backoff
from engine.data_client import Scheduler
from engine.price_board import PriceBoard

SECOND = 1_000_000_000

RECONNECT_BACKOFF = Backoff(
    initial_s=1.0, multiplier=2.0, max_s=60.0, jitter=0.2, reset_after_s=60.0
)
"""A broker connection's default: 1 s, 2 s, 4 s ... capped at 60 s, up to 20% shorter;
reset after a minute connected."""


class FeedRuntime(Scheduler, Protocol):
    """What a feed needs from its runtime besides its context: the clock and callbacks for
    its client, and a ``send`` any thread may call. Both runtimes qualify."""

    def send(self, target: str, message: Any) -> None: ...


def no_price_band(_instrument: str) -> tuple[float, float] | None:
    """No band: any positive price passes."""
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeedConfig:
    """A feed's settings, with their defaults. Times in ns. Raises ``ValueError`` naming each
    value out of range."""

    downstream: str | None = None
    """The actor sent every good tick (the bar aggregator's name); ``None``: topics only."""
    price_board: PriceBoard | None = None
    """Where the last good trade price of each instrument is written (risk reads it)."""
    stale_factor: float = 5.0
    """Silent for more than this many expected intervals, market open, means stale."""
    expected_interval_ns: int = 5 * SECOND
    """The expected interval between ticks when the client cannot say."""
    watchdog_interval_ns: int = SECOND
    """How often staleness is checked and price bands are refreshed."""
    reconnect: Backoff = RECONNECT_BACKOFF
    """Waits between connection attempts (see :mod:`engine.reconnect`)."""
    connect_timeout_ns: int = 15 * SECOND
    """A connect the client neither confirms nor fails within this counts as failed."""
    max_future_skew_ns: int = 2 * SECOND
    """How far past the feed's clock a tick's ``ts_event`` may be."""
    duplicate_window: int = 512
    """Trade ids remembered per instrument to drop repeats. Repeats come from a broker
    resending its latest trades after a reconnect, so the recent ids suffice; memory is up to
    twice this many ids per instrument (about 77 MB for 1000 instruments at 512)."""
    band_refresh_ns: int = 60 * SECOND
    """How often price bands are read again (they move at most a few times a day)."""
    log_interval_ns: int = 60 * SECOND
    """At most one log line per reject reason per interval (the rest are counted)."""
    health_interval_ns: int = 60 * SECOND
    """How often a ``FeedHealthReport`` is published."""
    rng: random.Random | None = None
    """Draws the reconnect jitter; pass ``random.Random(seed)`` in a backtest. ``None``: a
    generator seeded with the client's name (deterministic, and different per broker)."""

    def __post_init__(self) -> None:
        positive = (
            "expected_interval_ns",
            "watchdog_interval_ns",
            "connect_timeout_ns",
            "health_interval_ns",
            "stale_factor",
        )
        problems = [
            f"{name} must be > 0, got {getattr(self, name)!r}"
            for name in positive
            if not getattr(self, name) > 0
        ]
        problems += [
            f"{name} must be >= 0, got {getattr(self, name)!r}"
            for name in (
                "max_future_skew_ns",
                "duplicate_window",
                "log_interval_ns",
                "band_refresh_ns",
            )
            if not getattr(self, name) >= 0
        ]
        if problems:
            raise ValueError("feed config: " + "; ".join(problems))
