"""Bar validation: what makes an already aggregated bar unfit to pass on, and why.

A source of history (a replay of a CSV file or of the candle store) hands its feed whole bars
(:class:`~engine.messages.market.Bar`). The feed distrusts them as it distrusts ticks
(:mod:`engine.tick_validation`): a bar is dropped for the first reason that applies, in this
order (the table :data:`BAR_CHECKS`, after the type and the subscription):

============================  ==============================================================
reason                        the bar
============================  ==============================================================
``not_a_bar``                 is not a ``Bar``
``unsubscribed``              is for an instrument the feed does not (or no longer) subscribe
``malformed``                 has a ``ts_event`` or ``ts_close`` that is not an ``int``, or
                              made a check raise (a field of the wrong type)
``non_finite``                has a NaN or infinite open, high, low, close, volume or vwap
``non_positive_price``        has an open, high, low or close ``<= 0``
``negative_volume``           has a volume or a trade count ``< 0``
``inconsistent_range``        has a high below its open, close or low, or a low above its
                              open or close
``empty_span``                does not close after it starts (``ts_close <= ts_event``)
``duplicate``                 starts when the last good bar of its instrument and interval did
``out_of_order``              starts before the last good bar of its instrument and interval
``outside_band``              has a low or a high outside the instrument's price band
============================  ==============================================================

Bars of one instrument are ordered per interval: a ``5m`` bar that starts before the last
``1m`` bar is in order. Only the checks are pure functions; :class:`BarTape` remembers, per
instrument, the start of its last good bar of each interval.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from engine.messages.market import Bar

NO_BAR_YET = -(2**63)
"""The last start of an interval not seen yet: any start is in order after it."""


class BarRejectReason(enum.Enum):
    """Why a bar was dropped (the table in the module docstring)."""

    NOT_A_BAR = "not_a_bar"
    UNSUBSCRIBED = "unsubscribed"
    MALFORMED = "malformed"
    NON_FINITE = "non_finite"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_VOLUME = "negative_volume"
    INCONSISTENT_RANGE = "inconsistent_range"
    EMPTY_SPAN = "empty_span"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    OUTSIDE_BAND = "outside_band"


class BarLimits(NamedTuple):
    """What a bar is judged against. Times in ns since the epoch, UTC; prices in quote
    currency per unit."""

    last_start_ns: int
    """``ts_event`` of the last good bar of the same instrument and interval
    (:data:`NO_BAR_YET` before the first)."""
    low: float
    """The lowest acceptable price (the band's floor)."""
    high: float
    """The highest acceptable price (the band's ceiling)."""


def _finite(*values: float) -> bool:
    return all(math.isfinite(value) for value in values)


def _times_are_ints(bar: Any) -> bool:
    return type(bar.ts_event) is int and type(bar.ts_close) is int


BarCheck = Callable[[Any, BarLimits], bool]

BAR_CHECKS: tuple[tuple[BarRejectReason, BarCheck], ...] = (
    (BarRejectReason.MALFORMED, lambda b, _: not _times_are_ints(b)),
    (
        BarRejectReason.NON_FINITE,
        lambda b, _: not _finite(b.open, b.high, b.low, b.close, b.volume, b.vwap),
    ),
    (BarRejectReason.NON_POSITIVE_PRICE, lambda b, _: min(b.open, b.high, b.low, b.close) <= 0),
    (BarRejectReason.NEGATIVE_VOLUME, lambda b, _: b.volume < 0 or b.trade_count < 0),
    (
        BarRejectReason.INCONSISTENT_RANGE,
        lambda b, _: b.high < max(b.open, b.close, b.low) or b.low > min(b.open, b.close),
    ),
    (BarRejectReason.EMPTY_SPAN, lambda b, _: b.ts_close <= b.ts_event),
    (BarRejectReason.DUPLICATE, lambda b, lim: b.ts_event == lim.last_start_ns),
    (BarRejectReason.OUT_OF_ORDER, lambda b, lim: b.ts_event < lim.last_start_ns),
    (BarRejectReason.OUTSIDE_BAND, lambda b, lim: b.low < lim.low or b.high > lim.high),
)
"""A bar's reasons to be dropped, in the order they are named: ``(reason, applies)``."""


def bar_problem(bar: Bar, last_start_ns: int, low: float, high: float) -> BarRejectReason | None:
    """Why ``bar`` must be dropped, or ``None`` if it may pass (see :class:`BarLimits` for the
    arguments). Pure. Raises ``TypeError`` (or another error) only for a field of the wrong
    type: the caller counts that as ``malformed``."""
    # The common good bar in one expression (a backtest judges every bar of its files); it
    # implies that no check of the table applies, and anything else goes through the table.
    o, h, lo, c, v, w = bar.open, bar.high, bar.low, bar.close, bar.volume, bar.vwap
    start, close = bar.ts_event, bar.ts_close
    total = o + h + lo + c + v + w  # inf or nan if any is (or if they overflow: the table)
    if (
        type(start) is int
        and type(close) is int
        and last_start_ns < start < close
        and 0 < lo <= o <= h
        and lo <= c <= h
        and low <= lo
        and h <= high
        and v >= 0
        and bar.trade_count >= 0
        and total - total == 0
    ):
        return None
    return table_problem(bar, last_start_ns, low, high)


def table_problem(bar: Bar, last_start_ns: int, low: float, high: float) -> BarRejectReason | None:
    """:func:`bar_problem` by the table alone, check by check (the reference)."""
    limits = BarLimits(last_start_ns, low, high)
    for reason, applies in BAR_CHECKS:
        if applies(bar, limits):
            return reason
    return None


class BarTape:
    """What a feed remembers of one instrument to judge its next bar: the start of the last
    good bar of each interval. The price band is the caller's (the feed keeps one band per
    instrument, for ticks and bars alike). Owned by one actor; not thread-safe."""

    __slots__ = ("_last_start", "instrument", "last_event_ns")

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self._last_start: dict[str, int] = {}
        self.last_event_ns: int | None = None
        """``ts_event`` (start) of the newest good bar of any interval; ``None`` before the
        first."""

    def admit(self, bar: Any, low: float, high: float) -> BarRejectReason | None:
        """Judge ``bar`` against the band ``[low, high]`` (``None``: it passes, and is
        remembered). May raise for a malformed bar; the tape is then unchanged."""
        if not isinstance(bar, Bar):
            return BarRejectReason.NOT_A_BAR
        interval = bar.interval
        reason = bar_problem(bar, self._last_start.get(interval, NO_BAR_YET), low, high)
        if reason is None:
            start = bar.ts_event
            self._last_start[interval] = start
            if self.last_event_ns is None or start > self.last_event_ns:
                self.last_event_ns = start
        return reason
