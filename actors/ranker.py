"""The ranker: each scan cycle, the live signals scored against each other, the best N picked.

Scenario → outcome:

=========================================  ===================================================
scenario                                   outcome
=========================================  ===================================================
a ``Signal`` (published on ``signals`` or  kept as the live signal of its (strategy,
sent directly)                             instrument), replacing an older one; one older
                                           than the live one (by ``ts_event``), or not newer
                                           than the last one picked for that key, is ignored
``cycle="bar"``: the first bar of a new    a cycle ``settle_ns`` later, so the signals the
close (``ts_close`` later than any seen)   strategies make from that close's bars arrive
                                           first; more bars with that close join it. With
                                           ``settle_ns=0`` (backtests): no timer; the
                                           instant's first signal asks for a cycle once the
                                           instant has settled (``ctx.schedule_settled``),
                                           every host having had its bar, without moving
                                           the clock
... a bar of a later close arrives while   the pending cycle runs at once (for the earlier
a cycle is pending                         close) and the new close waits its own
                                           ``settle_ns``: one cycle per close, whatever the
                                           timing
... a bar of a close already cycled        its close is kept for returns; no cycle
``cycle="timer"``                          a cycle every ``cycle_ns``; bars only feed returns
``cycle="signal"``                         a cycle as each signal arrives (tick-driven
                                           strategies: no wait); bars only feed returns
a cycle                                    signals past ``valid_until_ns`` are dropped; the
                                           rest are scored (:mod:`actors.ranking`) and the
                                           picked ones become ``TradeIntent``\\ s (sent to
                                           ``risk`` if named, published on ``intents``), best
                                           first; the whole ranking is published on
                                           ``rankings`` as ``SignalsRanked`` and handed to
                                           ``store``
a picked signal                            consumed: not ranked again unless a newer signal
                                           replaces it
a cycle with no live signal                nothing published, unless the previous ranking
                                           had candidates or signals just expired (so the
                                           live view sees the ranking empty)
``PositionChanged`` (on ``positions``)     the instrument counts as held while any strategy's
                                           (or the account's) quantity in it is not 0
``ReconfigureRanker``                      the new scoring applies from the next cycle;
                                           answered (and published on ``rankings``) with
                                           ``RankerReconfigured``. A bad config never gets
                                           here: it is refused with ``ValueError`` where it
                                           is made or decoded, and nothing changes
``store`` raises                           logged and counted (``failed_stores``); the cycle's
                                           intents and ranking still go out
a restart                                  live signals, positions, returns and the scoring
                                           start afresh from the constructor's arguments (the
                                           journal will rebuild them, in its own issue)
=========================================  ===================================================

Returns (for the correlation penalty) are bar-to-bar simple returns of each instrument's
closes, the last ``returns_window`` kept, keyed by bar close. With ``interval`` set, only bars
of that interval count, for cycles and returns alike; without it, every bar counts, and a bar of
another interval than the instrument's previous one starts its returns afresh (mixing 1m and 5m
closes would make meaningless returns: set ``interval`` when several are published).

Deterministic under the simulated runtime: cycles run on the runtime's timers, signals are
ranked in (instrument, strategy) order and ties broken the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import msgspec

from actors.ranking import DEFAULT_MIN_CORRELATION_RETURNS, MarketView, rank_signals
from engine.actor import Actor, handles
from engine.context import Context, Timer
from engine.messages.base import MarketData
from engine.messages.market import Bar
from engine.messages.ranking import (
    TOPIC_INTENTS,
    TOPIC_POSITIONS,
    TOPIC_RANKINGS,
    TOPIC_SIGNALS,
    RankedSignal,
    RankerReconfigured,
    ReconfigureRanker,
    ScoringConfig,
    SignalsRanked,
)
from engine.messages.trading import PositionChanged, Signal, TradeIntent

NAME = "ranker"
BARS_TOPICS = "bars:*"
CYCLES = ("bar", "timer", "signal")
DEFAULT_SETTLE_NS = 200_000_000
DEFAULT_RETURNS_WINDOW = 30

StoreRanking = Callable[[SignalsRanked], object]
"""Takes a cycle's ranking, hands it to the store and returns at once (never waits on it)."""

_Key = tuple[str, str]
"""(strategy, instrument)"""

# The fields a TradeIntent takes from its signal unchanged.
_IDEA_FIELDS = tuple(f for f in Signal.__struct_fields__ if f not in ("ts_event", "ts_init"))


class ScanDue(msgspec.Struct, frozen=True):
    """The ranker's own timer message: run a cycle (for ``bar_close``, in bar mode)."""

    bar_close: int | None = None


class _Returns:
    """One instrument's recent closes as returns keyed by bar close, oldest first."""

    __slots__ = ("close", "interval", "returns", "ts_close")

    def __init__(self, bar: Bar) -> None:
        self.returns: dict[int, float] = {}
        self.restart(bar)

    def restart(self, bar: Bar) -> None:
        self.interval = bar.interval
        self.ts_close = bar.ts_close
        self.close = bar.close
        self.returns.clear()

    def add(self, bar: Bar, window: int) -> None:
        if bar.interval != self.interval:
            self.restart(bar)
            return
        if bar.ts_close <= self.ts_close:
            return  # a duplicate or a late bar: its return is already counted or unknowable
        if self.close > 0:
            self.returns[bar.ts_close] = bar.close / self.close - 1.0
            if len(self.returns) > window:
                del self.returns[next(iter(self.returns))]
        self.ts_close, self.close = bar.ts_close, bar.close


class Ranker(Actor):
    """Ranks the live signals each scan cycle and sends the best as ``TradeIntent``\\ s.

    ``scoring`` weighs features and penalties and sets ``top_n`` / ``min_score``. ``cycle`` is
    ``"bar"`` (a cycle ``settle_ns`` after the first bar of each new close), ``"timer"``
    (every ``cycle_ns``) or ``"signal"`` (a cycle on each signal). ``interval`` limits the
    bars that count to one interval.
    ``returns_window`` returns are kept per instrument; two instruments need
    ``min_correlation_returns`` common ones before their correlation counts. Intents go to the
    actor named ``risk`` (if given) and on ``intents``; each ranking to ``store`` (if given).

    Raises ``ValueError`` naming the bad value for: a ``scoring`` that is not a
    :class:`ScoringConfig`, an unknown ``cycle``, a ``cycle_ns`` missing, not > 0 or given for
    ``"bar"``, a negative ``settle_ns``, ``returns_window`` < 2, ``min_correlation_returns``
    outside ``[2, returns_window]``, an empty ``risk``.
    """

    def __init__(
        self,
        scoring: ScoringConfig,
        *,
        cycle: str = "bar",
        cycle_ns: int | None = None,
        settle_ns: int = DEFAULT_SETTLE_NS,
        interval: str | None = None,
        returns_window: int = DEFAULT_RETURNS_WINDOW,
        min_correlation_returns: int = DEFAULT_MIN_CORRELATION_RETURNS,
        risk: str | None = None,
        store: StoreRanking | None = None,
    ) -> None:
        _check_arguments(
            scoring=scoring,
            cycle=cycle,
            cycle_ns=cycle_ns,
            settle_ns=settle_ns,
            returns_window=returns_window,
            min_correlation_returns=min_correlation_returns,
            risk=risk,
        )
        self.scoring = scoring
        self.cycle = cycle
        self.cycle_ns = cycle_ns
        self.settle_ns = settle_ns
        self.interval = interval
        self.returns_window = returns_window
        self.min_correlation_returns = min_correlation_returns
        self.risk = risk
        self.store = store
        self.live: dict[_Key, Signal] = {}
        self.consumed: dict[_Key, int] = {}  # ts_event of the last signal picked, per key
        self.positions: dict[tuple[str, str | None], int] = {}  # non-zero quantities only
        self.closes: dict[str, _Returns] = {}
        self.last_close: int | None = None  # the latest bar close a cycle ran or waits for
        self.pending: Timer | None = None
        self.had_candidates = False
        self.cycles = 0
        self.failed_stores = 0

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        for topic in (TOPIC_SIGNALS, TOPIC_POSITIONS, BARS_TOPICS):
            ctx.subscribe(topic)
        if self.cycle_ns is not None:
            ctx.schedule_periodic(self.cycle_ns, ScanDue())

    # -- inputs ---------------------------------------------------------------------------------

    @handles(Signal)
    def on_signal(self, signal: Signal) -> None:
        key = (signal.strategy, signal.instrument)
        live = self.live.get(key)
        if live is not None and signal.ts_event < live.ts_event:
            return  # arrived late: the live one is newer
        consumed = self.consumed.get(key)
        if consumed is not None and signal.ts_event <= consumed:
            # (times before 1970 are negative: no default stands in for "none yet")
            return  # the one picked already, or older: acting on it again would trade twice
        self.live[key] = signal
        if self.cycle == "signal":  # tick-driven strategies: no wait for a bar or a timer
            self.run_cycle(None)
        elif self.cycle == "bar" and not self.settle_ns and self.pending is None:
            # Settled cycles (backtests): one once the instant has settled, and only for an
            # instant that brought a signal (a bar without one needs no cycle).
            close = self.last_close if self.last_close is not None else signal.ts_event
            self.last_close = close
            self.pending = self.ctx.schedule_settled(ScanDue(close))

    @handles(PositionChanged)
    def on_position(self, change: PositionChanged) -> None:
        key = (change.instrument, change.strategy)
        if change.quantity:
            self.positions[key] = change.quantity
        else:
            self.positions.pop(key, None)

    @handles(Bar)
    def on_bar(self, bar: Bar) -> None:
        if self.interval is not None and bar.interval != self.interval:
            return
        if math.isfinite(bar.close):
            closes = self.closes.get(bar.instrument)
            if closes is None:
                self.closes[bar.instrument] = _Returns(bar)
            else:
                closes.add(bar, self.returns_window)
        if self.cycle != "bar" or (self.last_close is not None and bar.ts_close <= self.last_close):
            return
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
            self.run_cycle(self.last_close)
        self.last_close = bar.ts_close
        if self.settle_ns:  # settled cycles start from their instant's first signal instead
            self.pending = self.ctx.schedule_once(self.settle_ns, ScanDue(bar.ts_close))

    @handles(MarketData)
    def on_other_market_data(self, _data: MarketData) -> None:
        """Ticks published on a bar topic: not ours, and not an error either."""

    @handles(ScanDue)
    def on_scan_due(self, due: ScanDue) -> None:
        if due.bar_close is None:
            self.run_cycle(None)
        elif self.pending is not None and due.bar_close == self.last_close:
            self.pending = None
            self.run_cycle(due.bar_close)

    @handles(ReconfigureRanker)
    def on_reconfigure(self, command: ReconfigureRanker) -> RankerReconfigured:
        # The command checked its config when it was made or decoded; nothing left to refuse.
        previous, self.scoring = self.scoring, command.scoring
        now = self.ctx.now_ns()
        event = RankerReconfigured(
            ts_event=now,
            ts_init=now,
            scoring=command.scoring,
            previous=previous,
            reason=command.reason,
        )
        self.ctx.log.info(
            "ranker reconfigured",
            scoring=msgspec.to_builtins(command.scoring),
            reason=command.reason,
        )
        self.ctx.publish(TOPIC_RANKINGS, event)
        return event

    # -- the cycle ------------------------------------------------------------------------------

    def run_cycle(self, bar_close: int | None) -> None:
        """Rank the live signals now and send out the picks, as the module says."""
        now = self.ctx.now_ns()
        expired = [
            key
            for key, signal in self.live.items()
            if signal.valid_until_ns is not None and signal.valid_until_ns < now
        ]
        for key in expired:
            del self.live[key]
        if not self.live and not expired and not self.had_candidates:
            return
        signals = [self.live[key] for key in sorted(self.live, key=lambda k: (k[1], k[0]))]
        rows = rank_signals(signals, self.scoring, self._market())
        self.had_candidates = bool(rows)
        self.cycles += 1
        intents = [self._intent(row, now) for row in rows if row.picked]
        for intent in intents:
            if self.risk is not None:
                self.ctx.send(self.risk, intent)
            self.ctx.publish(TOPIC_INTENTS, intent)
        ranking = SignalsRanked(
            ts_event=now,
            ts_init=now,
            bar_close=bar_close,
            candidates=rows,
            expired=len(expired),
            scoring=self.scoring,
        )
        self.ctx.publish(TOPIC_RANKINGS, ranking)
        if intents:
            self.ctx.log.info(
                "signals ranked",
                candidates=len(rows),
                picked=[f"{i.strategy}/{i.instrument} {i.score:.3f}" for i in intents],
            )
        self._store(ranking)

    def _intent(self, row: RankedSignal, now: int) -> TradeIntent:
        key = (row.strategy, row.instrument)
        signal = self.live.pop(key)
        self.consumed[key] = signal.ts_event
        return TradeIntent(
            **{f: getattr(signal, f) for f in _IDEA_FIELDS},
            ts_event=now,
            ts_init=now,
            score=row.score,
            contributions=row.contributions,
        )

    def _market(self) -> MarketView:
        return MarketView(
            held=frozenset(instrument for instrument, _ in self.positions),
            returns={i: closes.returns for i, closes in self.closes.items()},
            last_close={i: closes.close for i, closes in self.closes.items()},
            min_correlation_returns=self.min_correlation_returns,
        )

    def _store(self, ranking: SignalsRanked) -> None:
        if self.store is None:
            return
        try:
            self.store(ranking)
        except Exception as exc:
            self.failed_stores += 1
            self.ctx.log.error(
                "ranking not handed to the store",
                ts_event=ranking.ts_event,
                candidates=len(ranking.candidates),
                failed_stores=self.failed_stores,
                error=f"{type(exc).__name__}: {exc}",
            )


def _check_arguments(
    *,
    scoring: object,
    cycle: str,
    cycle_ns: int | None,
    settle_ns: int,
    returns_window: int,
    min_correlation_returns: int,
    risk: str | None,
) -> None:
    if not isinstance(scoring, ScoringConfig):
        raise ValueError(f"scoring must be a ScoringConfig, got {scoring!r}")
    if cycle not in CYCLES:
        raise ValueError(f"cycle must be one of {', '.join(map(repr, CYCLES))}, got {cycle!r}")
    if cycle == "timer" and not _is_int_at_least(cycle_ns, 1):
        raise ValueError(f"cycle 'timer' needs cycle_ns, an int of ns >= 1, got {cycle_ns!r}")
    if cycle != "timer" and cycle_ns is not None:
        raise ValueError(f"cycle_ns is for cycle 'timer'; cycle {cycle!r} got {cycle_ns!r}")
    if not _is_int_at_least(settle_ns, 0):
        raise ValueError(f"settle_ns must be an int of ns >= 0, got {settle_ns!r}")
    if not _is_int_at_least(returns_window, 2):
        raise ValueError(f"returns_window must be an int >= 2, got {returns_window!r}")
    if not _is_int_at_least(min_correlation_returns, 2) or min_correlation_returns > returns_window:
        raise ValueError(
            f"min_correlation_returns must be an int in [2, returns_window={returns_window}], "
            f"got {min_correlation_returns!r}"
        )
    if risk is not None and (not isinstance(risk, str) or not risk):
        raise ValueError(f"risk must name an actor (a non-empty str) or be None, got {risk!r}")


def _is_int_at_least(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low
