"""Running one strategy on one instrument: the bars it keeps, its indicators, its warm-up, its
signals and its saved state.

A :class:`StrategyRunner` is what the strategy host actor (:mod:`actors.strategy_host`) calls
for each (strategy, instrument); it is also the :class:`~engine.strategy.StrategyContext` the
strategy's hooks receive. It touches the world only through the callables it was given
(``emit``, ``clock``, ``schedule``, ``log``), so the same runner serves a live day and a
backtest.

Lifecycle, as the host drives it::

    runner = StrategyRunner(strategy, strategy_id=..., instrument=..., interval=..., ...)
    runner.warm_up(history)        # oldest first; window and indicators only, no hooks
    runner.restore(saved)          # after a restart: state, position, bar count
    runner.start()                 # strategy.on_start
    runner.on_bar(bar) ...         # each closed bar of the instrument and interval
    saved = runner.snapshot()      # after each hook, to survive the next restart
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import numpy as np
import structlog

from engine.bars.interval import DAY_NS, parse_interval
from engine.indicators import BarWindow, IndicatorSet
from engine.messages.market import Bar, QuoteTick, TradeTick
from engine.messages.trading import OrderFilled, OrderSide, Signal
from engine.signal_prices import SignalPrices
from engine.strategy import Strategy
from engine.strategy_snapshot import SNAPSHOT_VERSION, RunnerSnapshot, decode_snapshot

_FILLS_REMEMBERED = 256
"""Trade ids kept to recognise a fill delivered twice (a replay after a restart)."""


def utc_day(ts_ns: int) -> int:
    """The default session key: the UTC date of ``ts_ns`` as days since the epoch."""
    return ts_ns // DAY_NS


class StrategyRunner:
    """Runs ``strategy`` on the bars of ``instrument`` at ``interval``.

    ``emit`` receives each signal; ``clock`` is the engine's clock (ns, UTC); ``schedule(delay_ns,
    key)`` asks the host for an :meth:`on_timer` call; ``tick_size`` (quote currency per unit)
    rounds signal prices to the nearest tick; ``session_of(ts_event)`` gives a bar's session
    key (default :func:`utc_day`; a host that knows the market calendar passes the exchange
    date).

    Raises ``ValueError`` for a tick size that is not > 0 or a negative ``min_bars()``, and
    what the strategy's ``indicators()`` raises.
    """

    def __init__(
        self,
        strategy: Strategy[Any],
        *,
        strategy_id: str,
        instrument: str,
        interval: str,
        emit: Callable[[Signal], None],
        clock: Callable[[], int],
        schedule: Callable[[int, str], None],
        log: structlog.typing.FilteringBoundLogger,
        tick_size: float | None = None,
        session_of: Callable[[int], int] = utc_day,
    ) -> None:
        self.strategy = strategy
        self.strategy_id = strategy_id
        self.instrument = instrument
        self.interval = interval
        self._emit = emit
        self._clock = clock
        self._schedule = schedule
        self._log = log.bind(strategy=strategy_id, instrument=instrument, interval=interval)
        self._session_of = session_of
        self._prices = SignalPrices(tick_size)
        try:
            self._interval_ns: int | None = parse_interval(interval).ns
        except ValueError:
            # Tick and volume bars ("100t") have no fixed length: a signal then stays valid
            # for the length of the bar that caused it.
            self._interval_ns = None

        specs = strategy.indicators()
        extra = strategy.min_bars()
        if extra < 0:
            raise ValueError(f"strategy {strategy_id}: min_bars() is {extra}; it must be >= 0")
        needed = IndicatorSet(specs)
        self.warmup_bars: int = needed.warmup + extra
        """Bars needed before signals: the indicators' warm-up plus ``min_bars()``."""
        self.capacity: int = max(needed.required_capacity, self.warmup_bars, 2)
        """Bars kept (at least 2, so that every value has its previous one)."""
        self._indicators = IndicatorSet(specs, capacity=self.capacity)
        self._window = BarWindow(self.capacity)

        self._position = 0
        self._bar_count = 0
        self._last_bar_ns: int | None = None
        self._replayed_until_ns: int | None = None
        self._decision_ns: int | None = None
        self._bar_length_ns: int | None = None
        self._signal_ns: int | None = None
        self._signal_seq = 0
        self._fills: list[str] = []
        self._snapped: tuple[Any, ...] | None = None
        """What the last snapshot held (state, position, bar count, signal time and seq)."""
        params = msgspec.to_builtins(strategy.params)
        assert isinstance(params, dict)
        self._params_builtins: dict[str, Any] = params
        """The parameters as plain values (frozen: converted once, not per snapshot)."""
        self._accepted_ns: list[int] | None = []
        """``ts_event`` of every bar taken before :meth:`start` (for :meth:`restore`'s count);
        ``None`` once started, so it does not grow through the day."""
        self.ignored: Counter[str] = Counter()
        """Inputs not taken, by reason: ``other_instrument``, ``other_interval``,
        ``out_of_order`` (older than or equal to the newest bar: a replay), ``other_strategy``
        and ``duplicate`` (fills)."""
        self.held_back = 0
        """Signals asked for while not warm, and so not emitted."""

    # -- what the host calls ------------------------------------------------------------------

    @property
    def warm(self) -> bool:
        """True once :attr:`warmup_bars` bars have gone through the window."""
        return self._window.appended >= self.warmup_bars

    def warm_up(self, bars: Sequence[Bar]) -> None:
        """Feed history, oldest first, to the window and the indicators; no hook is called
        and no signal made. Bars of another instrument or interval, or not newer than the
        previous one, are ignored and counted."""
        accepted = [bar for bar in bars if self._accept(bar, replay_guard=False)]
        # Values of bars that leave the window before anyone can read them need not be
        # computed; indicators that carry state still see every bar.
        skip_until = len(accepted) - self.capacity
        for i, bar in enumerate(accepted):
            self._append(bar, skip_stateless=i < skip_until)

    def start(self) -> None:
        """Call the strategy's ``on_start`` (after warm-up and restore)."""
        self._accepted_ns = None
        self._log.info(
            "strategy starting", warm=self.warm, bars=self._bar_count, warmup=self.warmup_bars
        )
        self.strategy.on_start(self)

    def on_bar(self, bar: Bar) -> None:
        """Append ``bar``, update the indicators and call the strategy's ``on_bar``; signals
        are held back while not warm. An exception from the strategy propagates."""
        if not self._accept(bar, replay_guard=True):
            return
        self._append(bar, skip_stateless=False)
        self._decision_ns = bar.ts_close
        try:
            self.strategy.on_bar(self, bar)
        finally:
            self._decision_ns = None

    def on_tick(self, tick: TradeTick | QuoteTick) -> None:
        """Pass a tick of the instrument to a strategy that wants ticks."""
        if tick.instrument != self.instrument:
            self.ignored["other_instrument"] += 1
            return
        if self.strategy.wants_ticks:
            self.strategy.on_tick(self, tick)

    def on_fill(self, fill: OrderFilled) -> None:
        """Count a fill of this strategy into :attr:`position` (BUY adds ``last_qty``, SELL
        subtracts it), then call the strategy's ``on_fill``. A fill seen before (same
        ``trade_id``) is ignored."""
        if fill.instrument != self.instrument or fill.strategy != self.strategy_id:
            self.ignored["other_strategy"] += 1
            return
        if fill.trade_id in self._fills:
            self.ignored["duplicate"] += 1
            return
        self._fills.append(fill.trade_id)
        del self._fills[:-_FILLS_REMEMBERED]
        self._position += fill.last_qty if fill.side is OrderSide.BUY else -fill.last_qty
        self.strategy.on_fill(self, fill)

    def on_timer(self, key: str) -> None:
        """A timer the strategy set with :meth:`schedule` fired."""
        self.strategy.on_timer(self, key)

    def session_open(self, ts_ns: int) -> None:
        """The instrument's session opened at ``ts_ns``."""
        self.strategy.on_session_open(self, ts_ns)

    def session_close(self, ts_ns: int) -> None:
        """The instrument's session closed at ``ts_ns``."""
        self.strategy.on_session_close(self, ts_ns)

    def kept_bars(self) -> list[Bar]:
        """The bars in the window, oldest first, to warm up a reloaded strategy. A bar's
        ``ts_init`` is not kept: it comes back as its ``ts_close``."""
        return [
            Bar(
                ts_event=int(ts_event),
                ts_init=int(ts_close),
                instrument=self.instrument,
                interval=self.interval,
                ts_close=int(ts_close),
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=volume,
                trade_count=int(trades),
                vwap=vwap,
            )
            for open_, high, low, close, volume, vwap, trades, ts_event, ts_close, _ in (
                self._window.rows()
            )
        ]

    def snapshot(self) -> bytes:
        """The strategy's ``state``, the position, the bar count and what keeps a replay from
        counting twice, as msgpack. Raises ``TypeError`` if ``state`` holds a value that is not
        JSON-like."""
        try:
            state = msgspec.to_builtins(self.strategy.state)
        except TypeError as error:
            raise TypeError(
                f"strategy {self.strategy_id}: state must hold only numbers, strings, booleans, "
                f"None, lists and dicts: {error}"
            ) from None
        self._snapped = (state, self._position, self._bar_count, self._signal_ns, self._signal_seq)
        snapshot = RunnerSnapshot(
            strategy=self.strategy.name,
            strategy_id=self.strategy_id,
            instrument=self.instrument,
            interval=self.interval,
            params=self._params(),
            state=state,
            position=self._position,
            bar_count=self._bar_count,
            last_bar_ns=self._newest_ns(replay_guard=True),
            signal_ns=self._signal_ns,
            signal_seq=self._signal_seq,
            fills=list(self._fills),
        )
        return snapshot.encode()

    def changed_since_snapshot(self) -> bool:
        """Whether a new :meth:`snapshot` would hold anything the last one did not (the
        strategy's ``state``, the position, the bar count, the signal sequence). Cheap: lets a
        host skip the snapshot after ticks that changed nothing."""
        snapped = self._snapped
        if snapped is None:
            return True
        now = (self._position, self._bar_count, self._signal_ns, self._signal_seq)
        return snapped[1:] != now or self.strategy.state != snapped[0]

    def restore(self, snapshot: bytes) -> None:
        """Take back what :meth:`snapshot` saved. Call after :meth:`warm_up` and before
        :meth:`start`: the bar count becomes the snapshot's plus the warmed bars newer than its
        last bar (after start, only those still in the window are known), and a later bar at
        or before that last bar is ignored as a replay.

        Raises ``ValueError`` for bytes that are not a snapshot, or one of another strategy,
        strategy id, instrument, interval or parameters (naming what differs).
        """
        saved = decode_snapshot(
            snapshot,
            expected={
                "version": SNAPSHOT_VERSION,
                "strategy": self.strategy.name,
                "strategy_id": self.strategy_id,
                "instrument": self.instrument,
                "interval": self.interval,
                "params": self._params(),
            },
            owner=self.strategy_id,
        )
        self.strategy.state = saved.state
        self._position = saved.position
        newer = 0
        if saved.last_bar_ns is not None:
            if self._accepted_ns is not None:
                newer = len(self._accepted_ns) - bisect.bisect_right(
                    self._accepted_ns, saved.last_bar_ns
                )
            else:
                newer = int(np.count_nonzero(self._window.view("ts_event") > saved.last_bar_ns))
        self._bar_count = saved.bar_count + newer
        self._replayed_until_ns = saved.last_bar_ns
        self._signal_ns = saved.signal_ns
        self._signal_seq = saved.signal_seq
        self._fills = list(saved.fills)

    def carry_over(self, old: StrategyRunner) -> None:
        """Take over from ``old``, the runner this one replaces (a reload with new
        parameters), after ``warm_up(old.kept_bars())`` and before :meth:`start`: the
        position, the fills seen, the bar count, the replay mark and the signal sequence, and
        the strategy's ``state`` when it is the same strategy (another strategy starts with an
        empty one).

        Raises ``ValueError`` if ``old`` runs another instrument or interval.
        """
        if (old.instrument, old.interval) != (self.instrument, self.interval):
            raise ValueError(
                f"strategy {self.strategy_id}: cannot carry over from {old.instrument} "
                f"{old.interval} to {self.instrument} {self.interval}"
            )
        if old.strategy.name == self.strategy.name:
            # A copy through plain values: the two strategies must not share mutable state.
            self.strategy.state = msgspec.convert(
                msgspec.to_builtins(old.strategy.state), dict[str, Any]
            )
        self._position = old._position
        self._fills = list(old._fills)
        self._bar_count = old._bar_count
        self._replayed_until_ns = old._newest_ns(replay_guard=True)
        self._signal_ns, self._signal_seq = old._signal_ns, old._signal_seq

    # -- StrategyContext ----------------------------------------------------------------------

    @property
    def log(self) -> structlog.typing.FilteringBoundLogger:
        return self._log

    def now_ns(self) -> int:
        return self._clock()

    @property
    def position(self) -> int:
        return self._position

    @property
    def bar_count(self) -> int:
        return self._bar_count

    @property
    def session(self) -> int:
        if self._window.size:
            return int(self._window.latest("session"))
        return self._session_of(self._clock())

    def value(self, name: str, ago: int = 0) -> float:
        return self._indicators.value(name, ago)

    def values(self, name: str) -> np.ndarray:
        return self._indicators.values(name)

    def series(self, field: str) -> np.ndarray:
        return self._window.view(field)

    def signal(
        self,
        side: OrderSide,
        strength: float,
        *,
        entry: float | None = None,
        stop: float | None = None,
        target: float | None = None,
        valid_for_ns: int | None = None,
        features: Mapping[str, float] | None = None,
        reason: str = "",
    ) -> Signal | None:
        """Emit a signal (see :meth:`engine.strategy.StrategyContext.signal`).

        ``ts_event`` is the decision time: the bar's ``ts_close`` inside ``on_bar``, the clock
        elsewhere. Prices are rounded to the nearest tick (half to even) when the tick size is
        known, else taken as the float's shortest repr; features that are not finite are
        left out (JSON has no NaN). Raises ``ValueError`` for a side that is not an
        ``OrderSide``, a strength or price that is not a finite number, or ``valid_for_ns <= 0``
        (checked while not warm too, so a bug shows during warm-up).
        """
        if not isinstance(side, OrderSide):
            raise ValueError(f"strategy {self.strategy_id}: side {side!r} is not an OrderSide")
        strength = float(strength)
        if not math.isfinite(strength):
            raise ValueError(f"strategy {self.strategy_id}: strength {strength} is not finite")
        try:
            prices = [
                self._prices.price(value, what)
                for what, value in (("entry", entry), ("stop", stop), ("target", target))
            ]
        except ValueError as error:
            raise ValueError(f"strategy {self.strategy_id}: {error}") from None
        if valid_for_ns is not None and valid_for_ns <= 0:
            raise ValueError(
                f"strategy {self.strategy_id}: valid_for_ns {valid_for_ns} must be > 0"
            )
        decided_ns = self._decision_ns if self._decision_ns is not None else self._clock()
        if not self.warm:
            self.held_back += 1
            self._log.debug(
                "signal held back during warm-up",
                side=side.value,
                bars=self._window.appended,
                warmup=self.warmup_bars,
            )
            return None
        if valid_for_ns is None:
            valid_for_ns = self._interval_ns or self._bar_length_ns
        if decided_ns == self._signal_ns:
            self._signal_seq += 1
        else:
            self._signal_ns, self._signal_seq = decided_ns, 0
        signal = Signal(
            ts_event=decided_ns,
            ts_init=self._clock(),
            strategy=self.strategy_id,
            instrument=self.instrument,
            side=side,
            strength=min(1.0, max(0.0, strength)),
            entry=prices[0],
            stop=prices[1],
            target=prices[2],
            valid_until_ns=None if valid_for_ns is None else decided_ns + valid_for_ns,
            features={
                str(name): float(value)
                for name, value in (features or {}).items()
                if math.isfinite(value)
            },
            reason=reason,
            exit_only=side is OrderSide.SELL
            and bool(getattr(self.strategy.params, "long_only", False)),
            correlation_id=f"{self.strategy_id}:{self.instrument}:{decided_ns}:{self._signal_seq}",
        )
        self._emit(signal)
        return signal

    def schedule(self, delay_ns: int, key: str) -> None:
        if delay_ns < 0:
            raise ValueError(f"strategy {self.strategy_id}: timer delay {delay_ns} ns is negative")
        self._schedule(delay_ns, key)

    # -- inside -------------------------------------------------------------------------------

    def _accept(self, bar: Bar, *, replay_guard: bool) -> bool:
        if bar.instrument != self.instrument:
            self.ignored["other_instrument"] += 1
            return False
        if bar.interval != self.interval:
            self.ignored["other_interval"] += 1
            return False
        newest = self._newest_ns(replay_guard=replay_guard)
        if newest is not None and bar.ts_event <= newest:
            self.ignored["out_of_order"] += 1
            return False
        # Accepting here (not at append) makes warm_up's filtering see its own earlier bars.
        self._last_bar_ns = bar.ts_event
        return True

    def _newest_ns(self, *, replay_guard: bool) -> int | None:
        # The newest bar seen, and with the replay guard the newest bar the snapshot had seen:
        # warm-up history may overlap the snapshot, bars after a restart may not.
        known = [self._last_bar_ns, self._replayed_until_ns if replay_guard else None]
        return max((ts for ts in known if ts is not None), default=None)

    def _append(self, bar: Bar, *, skip_stateless: bool) -> None:
        self._window.append(bar, self._session_of(bar.ts_event))
        self._indicators.update(self._window, skip_stateless=skip_stateless)
        self._bar_count += 1
        if self._accepted_ns is not None:
            self._accepted_ns.append(bar.ts_event)
        self._bar_length_ns = bar.ts_close - bar.ts_event

    def _params(self) -> dict[str, Any]:
        return self._params_builtins
