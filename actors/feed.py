"""The feed: one per broker adapter; owns its connection and distrusts everything it reads.

Scenario → outcome:

=========================================  ===================================================
scenario                                   outcome
=========================================  ===================================================
start                                      the client connects; once it says so, every
                                           instrument is subscribed and ``FeedConnected`` is
                                           published
ticks arrive (one callback, any thread)    one message in the feed's own mailbox; each tick is
                                           validated (:mod:`engine.tick_validation`); the good
                                           ones go, in arrival order, to the downstream actor
                                           as one ``TickBatch`` and to ``ticks:<instrument>``
                                           as one ``TickBatch`` per instrument (a lone tick
                                           travels as itself)
a bad tick                                 dropped, counted by reason, logged at most once per
                                           reason per ``log_interval_ns`` (with the count held
                                           back); the rest of its batch goes on
bars arrive (``on_bars``, from a source    one message in the feed's own mailbox; each bar is
of history already aggregated: a replay    validated (:mod:`engine.bar_validation`); each good
of candles)                                one is published, in arrival order, on
                                           ``bars:<instrument>``, the topic the bar aggregator
                                           publishes on, so strategies, the web hub and the
                                           candle recorder see replayed bars as live ones.
                                           Bars never go downstream: the aggregator builds
                                           bars from ticks. A bad bar is dropped, counted and
                                           logged like a bad tick
the market is open and an instrument (or   ``FeedStalled`` once; ``FeedResumed`` when ticks
the connection) is silent for more than    (or bars: a bar is activity too) come back. A
``stale_factor`` x its expected interval   silent connection is one alert, not one per
                                           instrument. A closed market raises nothing
the connection drops (or a connect fails   ``FeedDisconnected`` with the wait; reconnect after
or times out)                              the back-off (:mod:`engine.reconnect`)
the first good tick (or bar) of an         ``FeedGapReport``: the last tick or bar before the
instrument after a reconnect               drop, the first after (their ``ts_event``, a bar's
                                           start), the gap
every ``health_interval_ns``; on           ``FeedHealthReport``: counts by reject reason,
``DescribeFeedHealth``                     ticks and bars passed, reconnects
a restart                                  a fresh connection; counts, tick and bar memory
                                           (last times, trade ids) and staleness start afresh
=========================================  ===================================================

Events go on ``feed:<client name>``; ``FeedStalled``, ``FeedResumed`` and ``FeedGapReport``
also on ``alerts``. Client callbacks only ever call the runtime's thread-safe ``send`` to the
feed's own name: the actor's state is touched by the actor alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from actors.feed_config import FeedConfig, FeedRuntime, no_price_band
from actors.feed_connection import FeedConnection
from actors.feed_relay import (
    BarsArrived,
    Connected,
    ConnectTimedOut,
    Disconnected,
    HealthDue,
    Reconnect,
    TicksArrived,
    WatchdogDue,
)
from actors.feed_streams import InstrumentStream
from actors.feed_watchdog import StalenessWatch
from engine.actor import Actor, handles
from engine.bar_validation import BarRejectReason
from engine.context import Context
from engine.data_client import DataClient, Tick
from engine.log_throttle import LogThrottle
from engine.messages.feed import (
    TOPIC_ALERTS,
    DescribeFeedHealth,
    FeedDisconnected,
    FeedGapReport,
    FeedHealthReport,
    SubscribeInstruments,
    UnsubscribeInstruments,
    feed_topic,
)
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.reconnect import ReconnectSchedule
from engine.tick_validation import RejectReason, TickTape

__all__ = ["CONNECTION", "Feed", "FeedConfig", "FeedRuntime", "no_price_band"]

CONNECTION = "*"
"""How the whole connection is named where an instrument would be (``FeedHealthReport``)."""


class Feed(Actor):
    """One broker's market data: connection, subscriptions, validation, watchdog, reconnect.

    ``runtime`` is the runtime the feed runs on (its clock and callbacks go to the client; its
    thread-safe ``send`` carries the client's reports to the feed). ``market_open(instrument,
    ts_ns)`` says whether the instrument's market is open at ``ts_ns``; ``price_band
    (instrument)`` gives the ``(low, high)`` prices allowed now, or ``None``. Both are called
    on the watchdog's beat (and on subscribing), never per tick; if one raises, the feed logs
    it (at a bounded rate) and takes the market as open, or keeps the previous band.
    """

    def __init__(
        self,
        client: DataClient,
        runtime: FeedRuntime,
        instruments: Iterable[str],
        *,
        market_open: Callable[[str, int], bool],
        price_band: Callable[[str], tuple[float, float] | None] = no_price_band,
        config: FeedConfig | None = None,
    ) -> None:
        self.client = client
        self.config = config = config or FeedConfig()
        self.market_open = market_open
        self.price_band = price_band
        self._bands_read_at = 0
        self.initial = list(dict.fromkeys(instruments))
        self.name = client.name
        self.topic = feed_topic(client.name)
        rng = config.rng or random.Random(f"feed:{client.name}")
        schedule = ReconnectSchedule(config.reconnect, rng)
        self.connection = FeedConnection(client, runtime, schedule, config.connect_timeout_ns)

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.connection.begin(ctx)
        config = self.config
        self.streams: dict[str, InstrumentStream] = {}
        self.watch = StalenessWatch(self.name, config.stale_factor)
        self.throttle = LogThrottle(config.log_interval_ns)
        self.rejected = dict.fromkeys(RejectReason, 0)
        self.received = self.passed = 0
        self.bars_rejected = dict.fromkeys(BarRejectReason, 0)
        self.bars_received = self.bars_passed = 0
        self.skew_ns = config.max_future_skew_ns
        self.downstream = config.downstream
        self._add(self.initial)
        ctx.schedule_periodic(config.watchdog_interval_ns, WatchdogDue())
        ctx.schedule_periodic(config.health_interval_ns, HealthDue())
        self._connect()

    def on_stop(self) -> None:
        self.connection.up = False
        self.connection.close()

    # -- the connection ----------------------------------------------------------------------

    def _connect(self) -> None:
        self._lost_with(self.connection.connect())

    @handles(Connected)
    def on_connected(self, event: Connected) -> None:
        connected = self.connection.confirm(event.tag)
        if connected is None:
            return
        if self.streams:
            self._quietly(lambda: self.client.subscribe(sorted(self.streams)), "subscribe")
        self._announce(connected)

    @handles(Disconnected)
    def on_disconnected(self, event: Disconnected) -> None:
        if self.connection.is_current(event.tag):
            was_up = self.connection.up
            self._lost_with(self.connection.lose(event.reason), was_up=was_up)

    @handles(ConnectTimedOut)
    def on_connect_timed_out(self, event: ConnectTimedOut) -> None:
        self._lost_with(self.connection.timed_out(event.tag))

    @handles(Reconnect)
    def on_reconnect(self, event: Reconnect) -> None:
        self._lost_with(self.connection.retry_due(event.tag))

    def _lost_with(self, lost: FeedDisconnected | None, *, was_up: bool = False) -> None:
        if lost is None:
            return
        if was_up:  # each instrument's gap is measured from here
            for stream in self.streams.values():
                stream.mark_drop(lost.ts_event)
        self._announce(lost, alert=True)  # a lost connection is worth an alert too

    # -- subscriptions -----------------------------------------------------------------------

    @handles(SubscribeInstruments)
    def on_subscribe(self, command: SubscribeInstruments) -> list[str]:
        added = self._add(command.instruments)
        if added and self.connection.up:
            self._quietly(lambda: self.client.subscribe(added), "subscribe")
        return sorted(self.streams)

    @handles(UnsubscribeInstruments)
    def on_unsubscribe(self, command: UnsubscribeInstruments) -> list[str]:
        gone = [i for i in dict.fromkeys(command.instruments) if self.streams.pop(i, None)]
        if gone and self.connection.up:
            self._quietly(lambda: self.client.unsubscribe(gone), "unsubscribe")
        return sorted(self.streams)

    def _add(self, instruments: Iterable[str]) -> list[str]:
        now = self.ctx.now_ns()
        added = []
        for instrument in dict.fromkeys(instruments):
            if instrument in self.streams:
                continue
            tape = TickTape(instrument, duplicate_window=self.config.duplicate_window)
            expected = self._expected_interval(instrument)
            stream = InstrumentStream(tape, expected, now, self._is_open(instrument, now))
            self.streams[instrument] = stream
            self.watch.include(stream, now)
            self._refresh_band(stream)
            added.append(instrument)
        return added

    def _expected_interval(self, instrument: str) -> int:
        try:
            expected = self.client.expected_interval_ns(instrument)
        except Exception as exc:
            self._log_throttled("interval", "expected interval unknown", error=_describe(exc))
            expected = None
        return expected if expected and expected > 0 else self.config.expected_interval_ns

    def _refresh_band(self, stream: InstrumentStream) -> None:
        try:
            stream.tape.set_band(self.price_band(stream.instrument))
        except Exception as exc:
            self._log_throttled("band", "price band refused", error=_describe(exc))

    # -- ticks -------------------------------------------------------------------------------

    @handles(TicksArrived)
    def on_ticks(self, arrived: TicksArrived) -> None:
        ticks = arrived.ticks
        if not ticks:
            return  # not a sign of data: it must not keep a silent feed from going stale
        now = self.ctx.now_ns()
        latest = now + self.skew_ns
        stream_of = self.streams.get
        good: list[Tick] = []
        keep = good.append
        touched: list[InstrumentStream] = []
        for tick in ticks:
            try:
                stream = stream_of(tick.instrument)
                if stream is None:
                    self._reject(tick, RejectReason.UNSUBSCRIBED)
                    continue
                reason = stream.admit(tick, latest)
            except Exception as exc:  # one bad tick must not cost the rest of its batch
                self._reject(tick, _malformed(tick), exc)
                continue
            if reason is None:
                keep(tick)
                pending = stream.pending
                if not pending:
                    touched.append(stream)
                pending.append(tick)
            else:
                self._reject(tick, reason)
        self.received += len(ticks)
        resumed = self.watch.arrived(now)
        if resumed is not None:
            self._announce(resumed, alert=True)
        if good:
            self.passed += len(good)
            self._pass_on(good, touched, now)

    def _pass_on(self, good: list[Tick], touched: list[InstrumentStream], now: int) -> None:
        publish = self.ctx.publish
        watched = self.ctx.watched
        board = self.config.price_board
        for stream in touched:
            group, stream.pending = stream.pending, []
            if board is not None:
                for tick in reversed(group):  # the last trade (a quote may follow it)
                    if isinstance(tick, TradeTick):
                        board.update(stream.instrument, tick.price)
                        break
            if stream.stalled:
                self._announce(self.watch.stream_arrived(stream, now), alert=True)
            stream.arrived_ns = now  # what stream_arrived records, inlined: once per batch
            if stream.gap_from is not None and self.connection.up:
                self._report_gap(stream, group[0].ts_event, now)
            if not watched(stream.topic):
                continue  # nobody listens to this instrument's ticks: build no batch for it
            if len(group) == 1:
                publish(stream.topic, group[0])
            else:
                batch = TickBatch(
                    ts_event=group[-1].ts_event,
                    ts_init=now,
                    ticks=group,
                    instrument=stream.instrument,
                )
                publish(stream.topic, batch)
        if self.downstream is not None:
            if len(good) == 1:
                self.ctx.send(self.downstream, good[0])
            else:
                self.ctx.send(
                    self.downstream, TickBatch(ts_event=good[-1].ts_event, ts_init=now, ticks=good)
                )

    def _reject(self, tick: Any, reason: RejectReason, error: Exception | None = None) -> None:
        self.rejected[reason] += 1
        self._log_throttled(
            reason,
            "tick rejected",
            reason=reason.value,
            tick=_brief(tick),
            error=None if error is None else _describe(error),
        )

    # -- bars --------------------------------------------------------------------------------

    @handles(BarsArrived)
    def on_bars(self, arrived: BarsArrived) -> None:
        bars = arrived.bars
        if not bars:
            return  # not a sign of data, as for ticks
        now = self.ctx.now_ns()
        good: list[tuple[InstrumentStream, Bar]] = []
        for bar in bars:
            try:
                stream = self.streams.get(bar.instrument)
                if stream is None:
                    self._reject_bar(bar, BarRejectReason.UNSUBSCRIBED)
                    continue
                reason = stream.admit_bar(bar)
            except Exception as exc:  # one bad bar must not cost the rest of its batch
                self._reject_bar(bar, _malformed_bar(bar), exc)
                continue
            if reason is None:
                good.append((stream, bar))
            else:
                self._reject_bar(bar, reason)
        self.bars_received += len(bars)
        resumed = self.watch.arrived(now)
        if resumed is not None:
            self._announce(resumed, alert=True)
        self.bars_passed += len(good)
        publish = self.ctx.publish
        for stream, bar in good:  # in arrival order, across instruments
            resumed = self.watch.stream_arrived(stream, now)  # a bar is activity
            if resumed is not None:
                self._announce(resumed, alert=True)
            if stream.gap_from is not None and self.connection.up:
                self._report_gap(stream, bar.ts_event, now)
            publish(stream.bars_topic, bar)

    def _reject_bar(
        self, bar: Any, reason: BarRejectReason, error: Exception | None = None
    ) -> None:
        self.bars_rejected[reason] += 1
        self._log_throttled(
            reason,
            "bar rejected",
            reason=reason.value,
            bar=_brief(bar),
            error=None if error is None else _describe(error),
        )

    def _log_throttled(self, key: Any, event: str, **fields: Any) -> None:
        held_back = self.throttle.admit(key, self.ctx.now_ns())
        if held_back is not None:
            self.ctx.log.warning(event, feed=self.name, held_back=held_back, **fields)

    def _report_gap(self, stream: InstrumentStream, after: int, now: int) -> None:
        """``after``: ``ts_event`` of the first good tick or bar since the drop."""
        before, dropped_at = stream.gap_from or (None, now)
        stream.gap_from = None
        report = FeedGapReport(
            ts_event=now,
            ts_init=now,
            feed=self.name,
            instrument=stream.instrument,
            last_before_ns=before,
            first_after_ns=after,
            gap_ns=None if before is None else after - before,
            disconnected_at_ns=dropped_at,
            reconnected_at_ns=self.connection.up_since,
        )
        self._announce(report, alert=True)

    # -- the watchdog ------------------------------------------------------------------------

    @handles(WatchdogDue)
    def on_watchdog(self, _due: WatchdogDue) -> None:
        now = self.ctx.now_ns()
        # Bands may move during the day, but rarely: read them again once a refresh period.
        if now - self._bands_read_at >= self.config.band_refresh_ns:
            self._bands_read_at = now
            for stream in self.streams.values():
                self._refresh_band(stream)
        up_since = self.connection.up_since if self.connection.up else None
        stalls = self.watch.beat(
            self.streams.values(), self.market_open, now, up_since, self._hours_unknown
        )
        for stalled in stalls:
            self.ctx.log.warning(
                "feed stale",
                feed=self.name,
                instrument=stalled.instrument,
                silent_for_ns=stalled.silent_for_ns,
            )
            self._announce(stalled, alert=True)

    def _is_open(self, instrument: str, now: int) -> bool:
        try:
            return bool(self.market_open(instrument, now))
        except Exception as exc:
            self._hours_unknown(exc)
            return True

    def _hours_unknown(self, error: Exception) -> None:
        # A broken calendar must not silence the watchdog: the market is taken as open.
        self._log_throttled("hours", "market hours unknown, taken as open", error=_describe(error))

    # -- health ------------------------------------------------------------------------------

    @handles(HealthDue)
    def on_health_due(self, _due: HealthDue) -> None:
        self.ctx.publish(self.topic, self.health())

    @handles(DescribeFeedHealth)
    def on_describe(self, _ask: DescribeFeedHealth) -> FeedHealthReport:
        return self.health()

    def health(self) -> FeedHealthReport:
        """The feed's figures now (this incarnation's counts)."""
        now = self.ctx.now_ns()
        stalled = sorted(i for i, stream in self.streams.items() if stream.stalled)
        return FeedHealthReport(
            ts_event=now,
            ts_init=now,
            feed=self.name,
            connected=self.connection.up,
            instruments=sorted(self.streams),
            stalled=[CONNECTION, *stalled] if self.watch.connection_stalled else stalled,
            ticks_received=self.received,
            ticks_passed=self.passed,
            rejected={reason.value: count for reason, count in self.rejected.items()},
            reconnects=self.connection.reconnects,
            disconnects=self.connection.disconnects,
            bars_received=self.bars_received,
            bars_passed=self.bars_passed,
            bars_rejected={reason.value: n for reason, n in self.bars_rejected.items()},
        )

    # -- plumbing ----------------------------------------------------------------------------

    def _announce(self, event: Any, *, alert: bool = False) -> None:
        self.ctx.publish(self.topic, event)
        if alert:
            self.ctx.publish(TOPIC_ALERTS, event)

    def _quietly(self, call: Callable[[], object], what: str) -> None:
        """A client call that must not crash the feed: an error is logged, and the client's
        connection reports decide what happens next."""
        try:
            call()
        except Exception as exc:
            self.ctx.log.warning(f"client {what} failed", feed=self.name, error=_describe(exc))


def _malformed(tick: Any) -> RejectReason:
    is_tick = isinstance(tick, TradeTick | QuoteTick)
    return RejectReason.MALFORMED if is_tick else RejectReason.NOT_A_TICK


def _malformed_bar(bar: Any) -> BarRejectReason:
    return BarRejectReason.MALFORMED if isinstance(bar, Bar) else BarRejectReason.NOT_A_BAR


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _brief(tick: Any) -> str:
    try:
        return repr(tick)[:240]
    except Exception:
        return f"<{type(tick).__name__} with a failing repr>"
