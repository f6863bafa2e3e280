"""Tick validation: what makes a trade or a quote unfit to pass on, and why.

A feed distrusts its input. A tick is dropped for the first reason that applies, in this
order (the tables :data:`TRADE_CHECKS` and :data:`QUOTE_CHECKS`):

============================  ==============================================================
reason                        the tick
============================  ==============================================================
``not_a_tick``                is neither a ``TradeTick`` nor a ``QuoteTick``
``unsubscribed``              is for an instrument the feed does not (or no longer) subscribe
``non_finite``                has a NaN or infinite price, size, bid, ask or quote size
``non_positive_price``        has a price, bid or ask ``<= 0``
``negative_size``             has a size (or quote size) ``< 0``
``crossed_quote``             is a quote whose bid is above its ask (a locked quote passes)
``in_future``                 has ``ts_event`` beyond the feed's clock plus the allowed skew
``duplicate``                 repeats a venue ``trade_id`` seen recently for the instrument
                              and is no newer than the last good trade (a repeat carries
                              its original's stamp; a later trade reusing an id is a new
                              trade: venues that number trades afresh each session)
``out_of_order``              is older than the last good tick of its kind and instrument
``outside_band``              has a price (bid or ask) outside the instrument's price band
``malformed``                 made a check raise (a field of the wrong type)
============================  ==============================================================

Trades and quotes are ordered separately: venues stamp them on separate streams, so a quote a
little older than the last trade is not out of order. Equal timestamps pass (several prints in
one nanosecond are normal). Only the checks are pure functions; :class:`TickTape` holds what
they need to remember per instrument (last times, recent trade ids, the band).

A good tick costs one compound comparison; only a failing tick walks the table to name its
reason, so the common path stays a few comparisons.
"""

from __future__ import annotations

import enum
import math
import sys
from collections.abc import Callable, Container
from typing import Any, NamedTuple

from engine.messages.market import QuoteTick, TradeTick

_SMALLEST_PRICE = sys.float_info.min  # the lowest price above zero the fast path lets through
_LARGEST = sys.float_info.max  # below infinity: the fast path's upper bound refuses inf too
# Quote sizes are ints: bounding them by an int keeps the comparison int-to-int (a mixed one
# is several times slower) and still refuses inf. A larger size names no reason: malformed.
_LARGEST_QUOTE_SIZE = 2**63 - 1
NO_TICK_YET = -(2**63)
"""The ``last_ns`` of a kind of tick not seen yet: any timestamp is in order after it."""


class RejectReason(enum.Enum):
    """Why a tick was dropped (the table in the module docstring)."""

    NOT_A_TICK = "not_a_tick"
    UNSUBSCRIBED = "unsubscribed"
    NON_FINITE = "non_finite"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_SIZE = "negative_size"
    CROSSED_QUOTE = "crossed_quote"
    IN_FUTURE = "in_future"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    OUTSIDE_BAND = "outside_band"
    MALFORMED = "malformed"


class Limits(NamedTuple):
    """What a tick is judged against. Times in ns since the epoch, UTC; prices in quote
    currency per unit."""

    last_ns: int
    """The oldest acceptable ``ts_event``: that of the last good tick of the same kind."""
    latest_ns: int
    """The newest acceptable ``ts_event``: the feed's clock plus the allowed skew."""
    low: float
    """The lowest acceptable price (the band's floor, at least the smallest positive float)."""
    high: float
    """The highest acceptable price (the band's ceiling, at most the largest finite float)."""
    seen: Container[str]
    """Trade ids seen recently for the instrument."""


def _finite(*values: float) -> bool:
    return all(math.isfinite(value) for value in values)


Check = Callable[[Any, Limits], bool]

TRADE_CHECKS: tuple[tuple[RejectReason, Check], ...] = (
    (RejectReason.NON_FINITE, lambda t, _: not _finite(t.price, t.size)),
    (RejectReason.NON_POSITIVE_PRICE, lambda t, _: t.price <= 0),
    (RejectReason.NEGATIVE_SIZE, lambda t, _: t.size < 0),
    (RejectReason.IN_FUTURE, lambda t, lim: t.ts_event > lim.latest_ns),
    (
        RejectReason.DUPLICATE,
        lambda t, lim: (
            t.trade_id is not None and t.ts_event <= lim.last_ns and t.trade_id in lim.seen
        ),
    ),
    (RejectReason.OUT_OF_ORDER, lambda t, lim: t.ts_event < lim.last_ns),
    (RejectReason.OUTSIDE_BAND, lambda t, lim: not lim.low <= t.price <= lim.high),
)
"""A trade's reasons to be dropped, in the order they are named: ``(reason, applies)``."""

QUOTE_CHECKS: tuple[tuple[RejectReason, Check], ...] = (
    (RejectReason.NON_FINITE, lambda q, _: not _finite(q.bid, q.ask, q.bid_size, q.ask_size)),
    (RejectReason.NON_POSITIVE_PRICE, lambda q, _: q.bid <= 0 or q.ask <= 0),
    (RejectReason.NEGATIVE_SIZE, lambda q, _: q.bid_size < 0 or q.ask_size < 0),
    (RejectReason.CROSSED_QUOTE, lambda q, _: q.bid > q.ask),
    (RejectReason.IN_FUTURE, lambda q, lim: q.ts_event > lim.latest_ns),
    (RejectReason.OUT_OF_ORDER, lambda q, lim: q.ts_event < lim.last_ns),
    (RejectReason.OUTSIDE_BAND, lambda q, lim: q.bid < lim.low or q.ask > lim.high),
)
"""A quote's reasons to be dropped, in the order they are named: ``(reason, applies)``."""


def _first_reason(
    checks: tuple[tuple[RejectReason, Check], ...], tick: Any, limits: Limits
) -> RejectReason:
    for reason, applies in checks:
        if applies(tick, limits):
            return reason
    # The fast path refused what no check names: a value no comparison can place (a NaN
    # timestamp, say). Not a tick the engine can use.
    return RejectReason.MALFORMED


def trade_problem(
    tick: TradeTick,
    last_ns: int,
    latest_ns: int,
    low: float,
    high: float,
    *,
    seen: Container[str],
) -> RejectReason | None:
    """Why ``tick`` must be dropped, or ``None`` if it may pass (see :class:`Limits` for the
    arguments). Pure. Raises ``TypeError`` (or another error) only for a field of the wrong
    type: the caller counts that as ``malformed``."""
    trade_id = tick.trade_id
    if (
        low <= tick.price <= high
        and 0.0 <= tick.size <= _LARGEST
        and last_ns <= tick.ts_event <= latest_ns
        and (trade_id is None or tick.ts_event > last_ns or trade_id not in seen)
    ):
        return None
    return _first_reason(TRADE_CHECKS, tick, Limits(last_ns, latest_ns, low, high, seen))


def quote_problem(
    tick: QuoteTick, last_ns: int, latest_ns: int, low: float, high: float
) -> RejectReason | None:
    """Why ``tick`` must be dropped, or ``None`` if it may pass. Pure; raises like
    :func:`trade_problem`."""
    if (
        low <= tick.bid <= tick.ask <= high
        and 0 <= tick.bid_size <= _LARGEST_QUOTE_SIZE
        and 0 <= tick.ask_size <= _LARGEST_QUOTE_SIZE
        and last_ns <= tick.ts_event <= latest_ns
    ):
        return None
    return _first_reason(QUOTE_CHECKS, tick, Limits(last_ns, latest_ns, low, high, ()))


class TickTape:
    """What a feed remembers of one instrument to judge its next tick: the last good trade
    and quote times, recent trade ids, the price band.

    At least the last ``duplicate_window`` trade ids are remembered (at most twice as many:
    ids are kept in two generations, so forgetting costs nothing per tick). Owned by one
    actor; not thread-safe.

    A trade newer than the last good one cannot be a repeat, so the common tick only appends
    its id to a list; the ids are looked up (through a set built when first needed and kept
    while trades share a stamp) only for a trade stamped no later than the last, which is
    rare with fine stamps and cheap with coarse ones.
    """

    __slots__ = (
        "_lookup",
        "_lookup_of",
        "_older",
        "_recent",
        "_turns",
        "_window",
        "high",
        "instrument",
        "last_quote_ns",
        "last_trade_ns",
        "low",
    )

    def __init__(
        self,
        instrument: str,
        *,
        duplicate_window: int = 4096,
        band: tuple[float, float] | None = None,
    ) -> None:
        if duplicate_window < 0:
            raise ValueError(f"duplicate_window must be >= 0 trade ids, got {duplicate_window}")
        self.instrument = instrument
        self.last_trade_ns = NO_TICK_YET
        self.last_quote_ns = NO_TICK_YET
        self._window = duplicate_window
        self._recent: list[str] = []
        self._older: list[str] = []
        self._turns = 0
        """How many times ``_recent`` has turned into ``_older``."""
        self._lookup: set[str] = set()
        self._lookup_of = (0, 0)
        """What ``_lookup`` holds, as ``(turns, n)``: ``_older`` and the first ``n`` ids of
        ``_recent`` after that many turns. Stale once ``_recent`` grows or turns over."""
        self.low = _SMALLEST_PRICE
        self.high = _LARGEST
        self.set_band(band)

    def set_band(self, band: tuple[float, float] | None) -> None:
        """Accept prices within ``[low, high]`` from now on (``None``: any positive price).

        Raises ``ValueError`` naming the band when it is not two finite numbers with
        ``low <= high``; the tape then keeps its previous band.
        """
        if band is None:
            self.low, self.high = _SMALLEST_PRICE, _LARGEST
            return
        low, high = band
        if not (_finite(low, high) and low <= high):
            raise ValueError(
                f"price band of {self.instrument} must be two finite prices with low <= high, "
                f"got {band!r}"
            )
        self.low, self.high = max(low, _SMALLEST_PRICE), min(high, _LARGEST)

    @property
    def last_event_ns(self) -> int | None:
        """``ts_event`` of the newest good tick of either kind; ``None`` before the first."""
        newest = max(self.last_trade_ns, self.last_quote_ns)
        return None if newest == NO_TICK_YET else newest

    def __contains__(self, trade_id: object) -> bool:
        """Whether ``trade_id`` is among the trade ids remembered."""
        recent = self._recent
        if self._lookup_of != (self._turns, len(recent)):
            self._lookup = {*self._older, *recent}
            self._lookup_of = (self._turns, len(recent))
        return trade_id in self._lookup

    def _remember(self, trade_id: str) -> None:
        """Keep the id of a good trade judged on the slow path; the lookup set, if it is up
        to date, stays so (trades sharing a stamp look up every id)."""
        recent = self._recent
        fresh = self._lookup_of == (self._turns, len(recent))
        recent.append(trade_id)
        if len(recent) >= self._window:
            self._turn()
        elif fresh:
            self._lookup.add(trade_id)
            self._lookup_of = (self._turns, len(recent))

    def _turn(self) -> None:
        # The recent ids become the older generation; the oldest are forgotten.
        self._older, self._recent = self._recent, []
        self._turns += 1

    def admit(self, tick: Any, latest_ns: int) -> RejectReason | None:
        """Judge ``tick`` (``None``: it passes, and is remembered). ``latest_ns`` is the
        newest acceptable ``ts_event``. May raise for a malformed tick; the tape is then
        unchanged.

        This is :func:`trade_problem` and :func:`quote_problem` with their common case
        inlined: it runs once per tick.
        """
        kind = type(tick)
        if kind is TradeTick:
            ts = tick.ts_event
            if (
                self.low <= tick.price <= self.high
                and 0.0 <= tick.size <= _LARGEST
                and self.last_trade_ns < ts <= latest_ns
            ):
                # Newer than every good trade before it: a repeat of none of them.
                self.last_trade_ns = ts
                trade_id = tick.trade_id
                if trade_id is not None and self._window:
                    recent = self._recent
                    recent.append(trade_id)
                    if len(recent) >= self._window:
                        self._turn()
                return None
            return self._admit_trade(tick, latest_ns)
        if kind is QuoteTick:
            ts = tick.ts_event
            if (
                self.low <= tick.bid <= tick.ask <= self.high
                and 0 <= tick.bid_size <= _LARGEST_QUOTE_SIZE
                and 0 <= tick.ask_size <= _LARGEST_QUOTE_SIZE
                and self.last_quote_ns <= ts <= latest_ns
            ):
                self.last_quote_ns = ts
                return None
            return quote_problem(tick, self.last_quote_ns, latest_ns, self.low, self.high)
        return self._admit_other(tick, latest_ns)

    def _admit_trade(self, tick: TradeTick, latest_ns: int) -> RejectReason | None:
        # The general path: a trade sharing the last one's stamp, a bad one, or a subclass.
        reason = trade_problem(tick, self.last_trade_ns, latest_ns, self.low, self.high, seen=self)
        if reason is None:
            self.last_trade_ns = tick.ts_event
            if tick.trade_id is not None and self._window:
                self._remember(tick.trade_id)
        return reason

    def _admit_other(self, tick: Any, latest_ns: int) -> RejectReason | None:
        # Subclasses of the tick types (rare): the same judgement without the inlining.
        if isinstance(tick, TradeTick):
            return self._admit_trade(tick, latest_ns)
        if isinstance(tick, QuoteTick):
            reason = quote_problem(tick, self.last_quote_ns, latest_ns, self.low, self.high)
            if reason is None:
                self.last_quote_ns = tick.ts_event
            return reason
        return RejectReason.NOT_A_TICK
