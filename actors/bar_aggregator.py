"""The bar aggregator: trades in, closed bars out on ``bars:<instrument>``.

It runs the builders of :mod:`engine.bars` per instrument, so its bars are exactly those of
``troupe trades-to-ohlcv`` on the same trades. Configured with bar specs (``"1m"``,
``"5m from 1m"``, ``"100t"``, ``"5000v"``: :mod:`engine.bars.spec`) per instrument, or under
``"*"`` for every instrument not named; a named instrument gets only its own list.

Scenario -> outcome:

* a ``TradeTick`` (sent to the actor, or on a topic in ``topics``): every builder of its
  instrument takes it; each bar that closes is published on ``bars:<instrument>`` and kept
  as the instrument's ``last_bars`` entry;
* a ``TickBatch``: its trades in order, exactly as if sent one by one (a batch is handled
  whole, so no timer firing falls between its ticks);
* a ``QuoteTick``, alone or in a batch: ignored. Bars are built from trades only: a quote is
  no trade and has no traded volume (mid-price bars would be another series);
* the first trade of a later interval: the open time bar is published at once;
* an instrument goes quiet: its open time bar is closed by the timer once the clock passes
  ``end + close_delay_ns``;
* ``empty="flat"``, a quiet interval: a flat bar at the last close, at
  ``end + close_delay_ns``; for every interval, nights and weekends included, unless a
  session origin says otherwise;
* a trade older than its instrument's open interval: late, counted (:meth:`late_ticks`),
  dropped (or folded: ``late="fold"``, :mod:`engine.bars.time_bars`);
* ``"5m from 1m"``: each ``1m`` bar is published, then folded into the ``5m`` bar, which
  is published as soon as the ``1m`` bar ending its interval is;
* tick and volume bars close on activity only, never on the timer;
* the actor stops (shutdown, restart): time bars whose interval has ended by then are
  published at once, without waiting for the delay (at shutdown the feeds have stopped
  first); a bar whose interval is still running is not published as if it were complete;
* a restart: bars start afresh; the bar open at the crash is lost, the next may be partial.

Ticks are taken as the feed validated them (:mod:`engine.tick_validation`).

One periodic timer serves every instrument: each time an interval starts, its builder goes
on a heap keyed by ``end + close_delay_ns``; each firing (every ``check_every_ns``, phased to
land ``close_delay_ns`` after whole multiples of it) pops the due builders and closes their
intervals. At equal due times source bars close first, so a ``5m`` bar built from ``1m``
bars sees its last ``1m`` bar before the timer closes it. Entries of bars that trades closed
first are popped later as harmless no-ops; the heap holds about one entry per open bar.

The actor reads no clock but ``ctx.now_ns`` (a bar's ``ts_init``; the timer's watermark).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

import msgspec

from engine.actor import Actor, handles
from engine.bars import (
    EMPTY_POLICIES,
    LATE_POLICIES,
    BarsFromBars,
    BarSink,
    BarSpec,
    EmptyPolicy,
    LatePolicy,
    Origin,
    TickBarBuilder,
    TickBars,
    TimeBarBuilder,
    TimeBars,
    VolumeBarBuilder,
    parse_bar_specs,
)
from engine.context import Context, check_delay, check_interval
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick

NAME = "bar_aggregator"
ALL_INSTRUMENTS = "*"
SECOND_NS = 1_000_000_000
DEFAULT_CLOSE_DELAY_NS = 500_000_000
"""Grace after an interval's end for its last trades to arrive before the timer closes it."""

TradeBarBuilder = TimeBarBuilder | TickBarBuilder | VolumeBarBuilder
Taker = Callable[[int, float, float], None]
"""What takes one instrument's trades: ``(ts_ns, price, size)`` for all its builders."""


def bars_topic(instrument: str) -> str:
    """``bars:<instrument>``: where the closed bars of one instrument are published."""
    return f"bars:{instrument}"


class _CloseDueBars(msgspec.Struct, frozen=True):
    """The aggregator's own timer message."""


class BarAggregator(Actor):
    """Builds and publishes bars for many instruments; one timer for all of them.

    ``bars``: instrument (or ``"*"``) -> bar specs. ``close_delay_ns``: how long after an
    interval's end (ns, >= 0) a quiet instrument's bar is closed. ``check_every_ns``: the
    timer's period (> 0; a bar closes at most this late after ``end + close_delay_ns``).
    ``origin``: the alignment of time bars (ns since the epoch, or a callable giving the
    session origin of a timestamp: :mod:`engine.bars.alignment`); ``origins`` overrides it per
    instrument. ``empty`` and ``late``: the policies of :class:`engine.bars.TimeBarBuilder`.
    ``topics``: topics to subscribe to for ticks (``ticks:<instrument>``), besides the ticks
    sent to the actor.

    Raises ``ValueError`` (naming the instrument and the value) for a bad configuration.
    """

    def __init__(
        self,
        bars: Mapping[str, Sequence[str | BarSpec]],
        *,
        close_delay_ns: int = DEFAULT_CLOSE_DELAY_NS,
        check_every_ns: int = SECOND_NS,
        origin: Origin = 0,
        origins: Mapping[str, Origin] | None = None,
        empty: EmptyPolicy = "skip",
        late: LatePolicy = "drop",
        topics: Sequence[str] = (),
    ) -> None:
        self.close_delay_ns = check_delay(close_delay_ns, "close_delay_ns")
        self.check_every_ns = check_interval(check_every_ns)
        if empty not in EMPTY_POLICIES:
            raise ValueError(f"bar aggregator: empty={empty!r} is not one of {EMPTY_POLICIES}")
        if late not in LATE_POLICIES:
            raise ValueError(f"bar aggregator: late={late!r} is not one of {LATE_POLICIES}")
        self.specs: dict[str, list[BarSpec]] = {}
        for instrument, items in bars.items():
            try:
                self.specs[instrument] = parse_bar_specs(items)
            except ValueError as error:
                raise ValueError(f"bar aggregator: bars[{instrument!r}]: {error}") from None
        self.origin = origin
        self.origins = dict(origins or {})
        self.empty: EmptyPolicy = empty
        self.late: LatePolicy = late
        self.topics = tuple(topics)

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self._takers: dict[str, Taker] = {}
        self._time_builders: dict[str, list[TimeBarBuilder]] = {}
        self._due: list[tuple[int, int, int, TimeBarBuilder]] = []
        self._seq = 0
        self.last_bars: dict[str, Bar] = {}
        """Instrument -> the last bar published for it (any interval)."""
        for topic in self.topics:
            ctx.subscribe(topic)
        first = (self.close_delay_ns - ctx.now_ns()) % self.check_every_ns or self.check_every_ns
        ctx.schedule_periodic(self.check_every_ns, _CloseDueBars(), first_delay_ns=first)

    @handles(TradeTick)
    def on_trade(self, tick: TradeTick) -> None:
        take = self._takers.get(tick.instrument)
        if take is None:
            take = self._add_instrument(tick.instrument)
        take(tick.ts_event, tick.price, tick.size)

    @handles(TickBatch)
    def on_batch(self, batch: TickBatch) -> None:
        takers = self._takers
        for tick in batch.ticks:
            if not isinstance(tick, TradeTick):
                continue
            take = takers.get(tick.instrument)
            if take is None:
                take = self._add_instrument(tick.instrument)
            take(tick.ts_event, tick.price, tick.size)

    @handles(QuoteTick)
    def on_quote(self, _quote: QuoteTick) -> None:
        """Quotes make no bars (see the module docstring); taken so as not to dead-letter."""

    @handles(_CloseDueBars)
    def on_close_due(self, _message: _CloseDueBars) -> None:
        now = self.ctx.now_ns()
        watermark = now - self.close_delay_ns
        due = self._due
        while due and due[0][0] <= now:
            heapq.heappop(due)[3].close_until(watermark)

    def on_stop(self) -> None:
        now = self.ctx.now_ns()
        # Heap order: at equal times, sources before the bars built from them.
        for entry in sorted(self._due):
            entry[3].close_until(now)
        self._due.clear()

    # Introspection.

    def last_bar(self, instrument: str) -> Bar | None:
        """The last bar published for ``instrument``, of any interval; ``None`` before one."""
        return self.last_bars.get(instrument)

    def late_ticks(self, instrument: str) -> int:
        """Trades of ``instrument`` that arrived after their interval was closed."""
        return sum(b.late_ticks for b in self._time_builders.get(instrument, ()))

    def pending_closes(self) -> int:
        """Entries on the timer's heap (about one per open time bar)."""
        return len(self._due)

    # Building the builders of an instrument, on its first trade.

    def _add_instrument(self, instrument: str) -> Taker:
        specs = self.specs.get(instrument)
        if specs is None:
            specs = self.specs.get(ALL_INSTRUMENTS, [])
        origin = self.origins.get(instrument, self.origin)
        dependents: dict[str, list[TimeBarBuilder]] = {spec.label: [] for spec in specs}
        sources = {s.label: s.source for s in specs if isinstance(s, BarsFromBars)}
        feeds: list[TradeBarBuilder] = []
        time_builders: list[TimeBarBuilder] = []
        clock = self.ctx.now_ns
        for spec in specs:
            emit = self._emitter(instrument, dependents[spec.label])
            if isinstance(spec, TimeBars | BarsFromBars):
                builder = TimeBarBuilder(
                    instrument,
                    spec.interval,
                    emit,
                    origin=origin,
                    empty=self.empty,
                    late=self.late,
                    on_due=self._watcher(_depth(spec.label, sources)),
                    clock=clock,
                )
                time_builders.append(builder)
                if isinstance(spec, BarsFromBars):
                    dependents[spec.source].append(builder)
                else:
                    feeds.append(builder)
            elif isinstance(spec, TickBars):
                feeds.append(TickBarBuilder(instrument, spec.trades, emit, clock=clock))
            else:
                feeds.append(VolumeBarBuilder(instrument, spec.volume, emit, clock=clock))
        self._time_builders[instrument] = time_builders
        take = self._takers[instrument] = _taker(feeds)
        return take

    def _emitter(self, instrument: str, dependents: list[TimeBarBuilder]) -> BarSink:
        topic = bars_topic(instrument)
        publish = self.ctx.publish
        last_bars = self.last_bars

        def emit(bar: Bar) -> None:
            last_bars[instrument] = bar
            publish(topic, bar)
            for dependent in dependents:
                dependent.update_bar(bar)

        return emit

    def _watcher(self, depth: int) -> Callable[[TimeBarBuilder, int], None]:
        delay = self.close_delay_ns
        due = self._due

        def watch(builder: TimeBarBuilder, end_ns: int) -> None:
            self._seq += 1
            heapq.heappush(due, (end_ns + delay, depth, self._seq, builder))

        return watch


def _taker(builders: Sequence[TradeBarBuilder]) -> Taker:
    """One call per trade for all of an instrument's builders: with the usual single builder,
    its own ``update``, so a trade costs one call and no loop."""
    if len(builders) == 1:
        return builders[0].update
    updates = tuple(builder.update for builder in builders)

    def take(ts_ns: int, price: float, size: float) -> None:
        for update in updates:
            update(ts_ns, price, size)

    return take


def _depth(label: str, sources: Mapping[str, str]) -> int:
    """How many bars-from-bars steps ``label`` is from trades (``5m from 1m``: 1)."""
    depth = 0
    while label in sources:
        label = sources[label]
        depth += 1
    return depth
