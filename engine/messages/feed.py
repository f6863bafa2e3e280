"""What a market-data feed says about its connection and the ticks it lets through.

A feed actor owns one broker's market-data connection (``actors/feed.py``). It publishes these
on ``feed:<client name>`` (:func:`feed_topic`); the ones a trader must notice (a feed gone
stale, back again, or with a hole after a reconnect) also on :data:`TOPIC_ALERTS`. Good ticks
go on ``ticks:<instrument>`` (:func:`ticks_topic`); good bars a source delivered already
aggregated (a replay of candles) on ``bars:<instrument>``, where the bar aggregator publishes.

Bad ticks and bars are not announced one by one: a feed counts them by
:class:`~engine.tick_validation.RejectReason` and
:class:`~engine.bar_validation.BarRejectReason` and says so in its periodic
:class:`FeedHealthReport` (and the answer to :class:`DescribeFeedHealth`).

All times are ``int`` ns since the epoch, UTC; ``ts_event`` of a feed event is when the feed
noticed (its runtime clock).
"""

from __future__ import annotations

import msgspec

from engine.messages.base import Command, Event, Report

TOPIC_ALERTS = "alerts"
"""Where stale feeds, resumptions and gaps are also published, for the alerts actor."""


def feed_topic(feed: str) -> str:
    """``feed:<feed>``: the topic of one feed's connection events and health reports."""
    return f"feed:{feed}"


def ticks_topic(instrument: str) -> str:
    """``ticks:<instrument>``: the validated ticks of one instrument."""
    return f"ticks:{instrument}"


# -- commands ----------------------------------------------------------------------------------


class SubscribeInstruments(Command, frozen=True, kw_only=True):
    """Add instruments to a feed's subscriptions (idempotent). Answered with the feed's
    instruments after the change, sorted."""

    instruments: list[str]


class UnsubscribeInstruments(Command, frozen=True, kw_only=True):
    """Drop instruments from a feed's subscriptions (idempotent); ticks for them that are
    still in flight are rejected as ``unsubscribed``. Answered like
    :class:`SubscribeInstruments`."""

    instruments: list[str]


class DescribeFeedHealth(Command, frozen=True, kw_only=True):
    """Ask a feed for its :class:`FeedHealthReport` now."""


# -- events ------------------------------------------------------------------------------------


class FeedConnected(Event, frozen=True, kw_only=True):
    """The client reported its connection up; the feed has (re)subscribed its instruments."""

    feed: str
    reconnects: int
    """Successful reconnections since the feed started (0 for the first connection)."""


class FeedDisconnected(Event, frozen=True, kw_only=True):
    """The connection went down (or could not be made); the feed will try again."""

    feed: str
    reason: str
    attempt: int
    """Consecutive failures so far, this one included (1 after a stable connection)."""
    retry_in_ns: int
    """How long the feed waits before connecting again (back-off with jitter), ns."""


class FeedStalled(Event, frozen=True, kw_only=True):
    """Nothing arrived for ``silent_for_ns`` while the market was open: more than the feed's
    staleness factor times ``expected_interval_ns``. Published once per silence.

    ``instrument`` is ``None`` when the whole connection went quiet (instrument-level alerts
    are then held back: one alert, not one per instrument).
    """

    feed: str
    instrument: str | None
    last_tick_ns: int | None
    """When the last tick arrived (feed clock), ``None`` if none ever did."""
    silent_for_ns: int
    expected_interval_ns: int
    """How often ticks normally arrive (the client's figure or the feed's default), ns."""


class FeedResumed(Event, frozen=True, kw_only=True):
    """Ticks arrived again after a :class:`FeedStalled` for the same ``instrument``
    (``None``: the connection)."""

    feed: str
    instrument: str | None
    silent_for_ns: int
    """From the last tick before the silence to the one that ended it, ns (feed clock)."""


# -- reports -----------------------------------------------------------------------------------


class FeedGapReport(Report, frozen=True, kw_only=True):
    """After a reconnect, the hole in one instrument's ticks, once its first tick arrived.

    ``last_before_ns`` and ``first_after_ns`` are exchange times (``ts_event``) of the last
    good tick before the drop and the first good one after; ``gap_ns`` is their difference,
    ``None`` when no tick had arrived before the drop.
    """

    feed: str
    instrument: str
    last_before_ns: int | None
    first_after_ns: int
    gap_ns: int | None
    disconnected_at_ns: int
    reconnected_at_ns: int


class FeedHealthReport(Report, frozen=True, kw_only=True):
    """A feed's figures since it (this incarnation) started: published periodically on
    ``feed:<name>`` and the answer to :class:`DescribeFeedHealth`."""

    feed: str
    connected: bool
    instruments: list[str]
    """Subscribed instruments, sorted."""
    stalled: list[str]
    """Instruments currently stale, sorted; ``"*"`` stands for the whole connection."""
    ticks_received: int
    ticks_passed: int
    rejected: dict[str, int]
    """Ticks dropped, by reject reason (every reason listed, in a fixed order)."""
    reconnects: int
    disconnects: int
    bars_received: int = 0
    """Bars the client delivered already aggregated (a replay of candles)."""
    bars_passed: int = 0
    bars_rejected: dict[str, int] = msgspec.field(default_factory=dict)
    """Bars dropped, by reject reason (every reason listed, in a fixed order)."""
